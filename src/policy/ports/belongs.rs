//! Which container a listener belongs to, and by what evidence (its network namespace,
//! its proxy, or a published port).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{Listener, ProxyArgs};

use super::bindings::{published, serving_container};

/// How a listener was tied to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BelongsBy {
    /// Its owner is a docker-proxy forwarding to the container.
    Proxy,
    /// It lives in the container's network namespace.
    Namespace,
    /// Its owner runs under the container's shim: a container on the host's network
    /// (`--network host`) listens in the host's namespace, with no published port.
    Process,
    /// It is in the host's namespace on a port a running container publishes (the daemon holds
    /// published ports itself when the userland proxy is off, on newer engines).
    Published,
}

/// The container a listener belongs to, if any: by its owner's docker-proxy arguments
/// (`owner_proxy`), else by network namespace (`netns`: a running container's id → the inode of
/// its namespace, read from its `State.Pid`), else by its owner's place under a container's shim
/// (`owner_tree`: that container's id), else by a running container's published port.
pub fn listener_container<'r>(
    l: &Listener,
    owner_proxy: Option<&ProxyArgs>,
    owner_tree: Option<&str>,
    records: &'r [ContainerRecord],
    netns: &HashMap<&str, u64>,
) -> Option<(&'r ContainerRecord, BelongsBy)> {
    if let Some(c) = owner_proxy.and_then(|p| serving_container(records, p)) {
        return Some((c, BelongsBy::Proxy));
    }
    if !l.host_ns
        && let Some(c) = records
            .iter()
            .find(|c| c.state.running && l.netns != 0 && netns.get(c.id.as_str()) == Some(&l.netns))
    {
        return Some((c, BelongsBy::Namespace));
    }
    if let Some(id) = owner_tree
        && let Some(c) = records.iter().find(|c| c.id == id)
    {
        return Some((c, BelongsBy::Process));
    }
    if !l.host_ns {
        return None;
    }
    records
        .iter()
        .filter(|c| c.state.running)
        .find(|c| published(c).iter().any(|b| b.held_by(l)))
        .map(|c| (c, BelongsBy::Published))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::ports::fixtures::*;
    use crate::runtime::net::Proto;

    #[test]
    fn which_container_a_listener_belongs_to() {
        let records = [
            web(),
            running("ns-only", "172.17.0.3", json!({})),
            stopped(
                "old",
                "172.17.0.2",
                "always",
                json!({ "80/tcp": [ { "HostIp": "", "HostPort": "8080" } ] }),
            ),
        ];
        let netns: HashMap<&str, u64> = [("web", 11), ("ns-only", 12)].into();
        let serving = proxy("tcp", 8080, "172.17.0.2");
        let leaked = proxy("tcp", 9999, "172.17.0.77");
        // (what, listener, owner's proxy args, owner's container by process tree, want)
        type Case<'a> = (
            &'a str,
            Listener,
            Option<&'a ProxyArgs>,
            Option<&'a str>,
            Option<(&'a str, BelongsBy)>,
        );
        let cases: Vec<Case> = vec![
            (
                "its proxy",
                listener(Proto::Tcp, "0.0.0.0", 8080, true, 1),
                Some(&serving),
                None,
                Some(("web", BelongsBy::Proxy)),
            ),
            (
                "a leaked proxy belongs to no one",
                listener(Proto::Tcp, "0.0.0.0", 9999, true, 1),
                Some(&leaked),
                None,
                None,
            ),
            (
                "inside its namespace",
                listener(Proto::Tcp, "0.0.0.0", 80, false, 12),
                None,
                None,
                Some(("ns-only", BelongsBy::Namespace)),
            ),
            (
                "an unknown namespace",
                listener(Proto::Tcp, "0.0.0.0", 80, false, 99),
                None,
                None,
                None,
            ),
            (
                "an unknown namespace, owned under a shim",
                listener(Proto::Tcp, "0.0.0.0", 80, false, 99),
                None,
                Some("old"),
                Some(("old", BelongsBy::Process)),
            ),
            (
                "on the host's network, under its shim",
                listener(Proto::Tcp, "0.0.0.0", 7000, true, 1),
                None,
                Some("ns-only"),
                Some(("ns-only", BelongsBy::Process)),
            ),
            (
                "under the shim of a container Docker does not list",
                listener(Proto::Tcp, "0.0.0.0", 7001, true, 1),
                None,
                Some("gone"),
                None,
            ),
            (
                "held by the daemon on a published port",
                listener(Proto::Udp, "::", 5353, true, 1),
                None,
                None,
                Some(("web", BelongsBy::Published)),
            ),
            (
                "a host port nothing publishes",
                listener(Proto::Tcp, "0.0.0.0", 22, true, 1),
                None,
                None,
                None,
            ),
        ];
        for (what, l, p, tree, want) in cases {
            let got = listener_container(&l, p, tree, &records, &netns)
                .map(|(c, by)| (c.id.as_str(), by));
            assert_eq!(got, want, "{what}");
        }
    }
}
