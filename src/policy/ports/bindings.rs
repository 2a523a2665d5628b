//! Published ports: one binding per fixed host port, the container's addresses, and
//! which running container a docker-proxy serves.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::Serialize;

use crate::policy::addresses::bind_conflicts;
use crate::runtime::inventory::{ContainerRecord, PortBinding, SmallMap};
use crate::runtime::net::{Listener, Proto, ProxyArgs};

/// One published port with a fixed host port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Binding {
    pub proto: Proto,
    /// The host IP as written (empty: every address).
    pub host_ip: String,
    /// The host IP parsed; `None` for every address.
    pub ip: Option<IpAddr>,
    pub port: u16,
}

impl Binding {
    /// Whether `l` holds this binding's port: a listener of the same protocol and port in the
    /// host's namespace whose address overlaps (the same, or a wildcard on either side).
    pub fn held_by(&self, l: &Listener) -> bool {
        l.host_ns
            && l.proto == self.proto
            && l.port == self.port
            && bind_conflicts(self.ip, l.address)
    }
}

/// The fixed-port bindings of one `{"80/tcp": [{HostIp, HostPort}]}` map. An empty or ranged
/// host port is chosen at start (it cannot be known); a protocol other than TCP/UDP (sctp) or a
/// host IP that does not parse is skipped.
pub(super) fn bindings_of(map: &SmallMap<Option<Vec<PortBinding>>>) -> Vec<Binding> {
    let mut out = Vec::new();
    for (key, bindings) in map {
        let Some(proto) = Proto::parse(key.split_once('/').map_or("tcp", |(_, p)| p)) else {
            continue;
        };
        for b in bindings.iter().flatten() {
            let Ok(port) = b.host_port.parse::<u16>() else {
                continue;
            };
            let ip = if b.host_ip.is_empty() {
                None
            } else {
                match b.host_ip.parse::<IpAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => continue,
                }
            };
            out.push(Binding {
                proto,
                host_ip: b.host_ip.clone(),
                ip,
                port,
            });
        }
    }
    out
}

/// The host ports a container publishes: the live mapping (`NetworkSettings.Ports`) and what it
/// asked for (`HostConfig.PortBindings`), without repeats.
pub fn published(c: &ContainerRecord) -> Vec<Binding> {
    let mut out = bindings_of(&c.network_settings.ports);
    for b in bindings_of(&c.host_config.port_bindings) {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// The IP addresses a container's record gives it, on every network.
pub fn container_ips(c: &ContainerRecord) -> HashSet<&str> {
    c.ips().collect()
}

// ---------------------------------------------------------------------------------------------
// docker-proxy
// ---------------------------------------------------------------------------------------------

/// Whether a running container publishes what a docker-proxy forwards: the same protocol and
/// host port, towards one of the container's addresses.
pub fn proxy_serves(c: &ContainerRecord, p: &ProxyArgs) -> bool {
    c.state.running
        && container_ips(c).contains(p.container_ip.as_str())
        && published(c)
            .iter()
            .any(|b| b.proto.as_str() == p.proto && b.port == p.host_port)
}

/// The running container a docker-proxy forwards to, if one does.
pub fn serving_container<'r>(
    records: &'r [ContainerRecord],
    p: &ProxyArgs,
) -> Option<&'r ContainerRecord> {
    records.iter().find(|c| proxy_serves(c, p))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::ports::fixtures::*;

    #[test]
    fn a_proxy_serves_a_running_container_with_its_ip_port_and_protocol() {
        let c = web();
        let cases = [
            (proxy("tcp", 8080, "172.17.0.2"), true),
            (proxy("tcp", 8081, "172.17.0.2"), false),
            (proxy("tcp", 8080, "172.17.0.3"), false),
            (proxy("udp", 8080, "172.17.0.2"), false),
            (proxy("udp", 5353, "172.17.0.2"), true),
        ];
        for (p, want) in cases {
            assert_eq!(proxy_serves(&c, &p), want, "{p:?}");
        }
        let mut gone = web();
        gone.state.running = false;
        assert!(!proxy_serves(&gone, &proxy("tcp", 8080, "172.17.0.2")));
    }

    #[test]
    fn published_merges_the_live_mapping_and_the_request() {
        let c = rec(json!({
            "NetworkSettings": { "Ports": { "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": "8080" } ] } },
            "HostConfig": { "PortBindings": {
                "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": "8080" } ],
                "81/tcp": [ { "HostIp": "", "HostPort": "8081" } ]
            } }
        }));
        let got: Vec<(u16, Option<IpAddr>)> =
            published(&c).iter().map(|b| (b.port, b.ip)).collect();
        assert_eq!(got, vec![(8080, Some([0, 0, 0, 0].into())), (8081, None)]);
    }
}
