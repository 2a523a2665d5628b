//! Records, proxies and listeners the ports verdicts are tested on.

use serde_json::{Value, json};

use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{Listener, Proto, ProxyArgs};

pub(super) fn proxy(proto: &str, port: u16, ip: &str) -> ProxyArgs {
    ProxyArgs {
        proto: proto.into(),
        host_ip: "0.0.0.0".into(),
        host_port: port,
        container_ip: ip.into(),
        container_port: 80,
    }
}

pub(super) fn rec(v: Value) -> ContainerRecord {
    serde_json::from_value(v).expect("a record")
}

/// A running container `id` at `ip`, publishing `ports` (`"8080/tcp"`-keyed live mapping).
pub(super) fn running(id: &str, ip: &str, ports: Value) -> ContainerRecord {
    rec(json!({
        "Id": id,
        "State": { "Running": true, "Pid": 4242 },
        "NetworkSettings": { "Networks": { "bridge": { "IPAddress": ip } }, "Ports": ports },
        "HostConfig": { "PortBindings": {} }
    }))
}

pub(super) fn stopped(id: &str, ip: &str, policy: &str, bindings: Value) -> ContainerRecord {
    rec(json!({
        "Id": id,
        "State": { "Running": false, "Restarting": false },
        "NetworkSettings": { "Networks": { "n": { "IPAddress": ip } } },
        "HostConfig": { "RestartPolicy": { "Name": policy }, "PortBindings": bindings }
    }))
}

pub(super) fn listener(proto: Proto, addr: &str, port: u16, host_ns: bool, netns: u64) -> Listener {
    Listener {
        proto,
        address: addr.parse().expect("ip"),
        port,
        inode: 1,
        netns,
        host_ns,
        uid: 0,
        user: None,
        pids: vec![7],
    }
}

pub(super) fn web() -> ContainerRecord {
    running(
        "web",
        "172.17.0.2",
        json!({ "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": "8080" } ],
                "53/udp": [ { "HostIp": "", "HostPort": "5353" } ] }),
    )
}
