//! Conflicts with stopped containers' published ports: a container that would restart
//! onto a port another process holds now.

use serde::Serialize;

use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{Listener, ProxyArgs};

use super::bindings::{Binding, bindings_of, container_ips};

/// A stopped container's restart policy and fixed-port bindings (`HostConfig.PortBindings`,
/// every protocol), when it has both: its next start — by hand, by the policy, or when the
/// daemon restarts — binds them.
pub fn restart_bindings(c: &ContainerRecord) -> Option<(&str, Vec<Binding>)> {
    let policy = c.host_config.restart_policy.name.as_str();
    if c.state.running
        || c.state.restarting
        || !matches!(policy, "always" | "unless-stopped" | "on-failure")
    {
        return None;
    }
    let out = bindings_of(&c.host_config.port_bindings);
    (!out.is_empty()).then_some((policy, out))
}

/// Whether the processes holding a listener (`owners`: each owner's docker-proxy arguments, or
/// `None` when it is not a docker-proxy) are all this container's own proxy for `b`, left over
/// while it was stopped: not a stranger (ports.leaked-proxy's business).
pub fn held_by_own_proxy(c: &ContainerRecord, b: &Binding, owners: &[Option<&ProxyArgs>]) -> bool {
    let ips = container_ips(c);
    !owners.is_empty()
        && owners.iter().all(|a| {
            a.is_some_and(|a| {
                a.proto == b.proto.as_str()
                    && a.host_port == b.port
                    && ips.contains(a.container_ip.as_str())
            })
        })
}

/// Whether listener `l` (held by `owners`, as in [`held_by_own_proxy`]) blocks binding `b` of
/// stopped container `c`.
pub fn binding_conflict(
    c: &ContainerRecord,
    b: &Binding,
    l: &Listener,
    owners: &[Option<&ProxyArgs>],
) -> bool {
    b.held_by(l) && !held_by_own_proxy(c, b, owners)
}

/// A stopped container with a restart policy whose published port a listener blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict<'r> {
    #[serde(skip)]
    pub container: &'r ContainerRecord,
    pub restart_policy: &'r str,
    pub binding: Binding,
}

/// Every stopped container with a restart policy whose published port `l` blocks — the
/// per-listener question of `dockhand ports`.
pub fn conflicts_of<'r>(
    l: &Listener,
    owners: &[Option<&ProxyArgs>],
    records: &'r [ContainerRecord],
) -> Vec<Conflict<'r>> {
    let mut out = Vec::new();
    for c in records {
        let Some((policy, bindings)) = restart_bindings(c) else {
            continue;
        };
        for b in bindings {
            if binding_conflict(c, &b, l, owners) {
                out.push(Conflict {
                    container: c,
                    restart_policy: policy,
                    binding: b,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::ports::fixtures::*;
    use crate::runtime::net::Proto;

    #[test]
    fn restart_bindings_of_stopped_containers() {
        let b = json!({
            "80/tcp": [ { "HostIp": "127.0.0.1", "HostPort": "8080" }, { "HostIp": "", "HostPort": "" } ],
            "53/udp": [ { "HostIp": "", "HostPort": "53" } ],
            "81/tcp": [ { "HostIp": "", "HostPort": "9000-9010" }, { "HostIp": "", "HostPort": "9090" } ],
            "82/tcp": [ { "HostIp": "not-an-ip", "HostPort": "9091" } ],
            "83/sctp": [ { "HostIp": "", "HostPort": "9092" } ]
        });
        let c = stopped("a", "", "always", b.clone());
        let (policy, got) = restart_bindings(&c).expect("candidate");
        assert_eq!(policy, "always");
        let mut ports: Vec<(Proto, &str, u16)> = got
            .iter()
            .map(|b| (b.proto, b.host_ip.as_str(), b.port))
            .collect();
        ports.sort();
        assert_eq!(
            ports,
            vec![
                (Proto::Tcp, "", 9090),
                (Proto::Tcp, "127.0.0.1", 8080),
                (Proto::Udp, "", 53)
            ]
        );
        let cases = [
            (false, "unless-stopped", b.clone(), true),
            (false, "on-failure", b.clone(), true),
            (true, "always", b.clone(), false),
            (false, "no", b.clone(), false),
            (false, "", b.clone(), false),
            (false, "unless-stopped", json!({}), false),
        ];
        for (run, policy, bindings, want) in cases {
            let mut c = stopped("a", "", policy, bindings);
            c.state.running = run;
            assert_eq!(restart_bindings(&c).is_some(), want, "{run} {policy}");
        }
    }

    #[test]
    fn conflicts_with_a_listener() {
        let c = stopped(
            "db",
            "172.18.0.5",
            "always",
            json!({ "5432/tcp": [ { "HostIp": "127.0.0.1", "HostPort": "5432" } ],
                    "53/udp": [ { "HostIp": "", "HostPort": "53" } ] }),
        );
        let own = proxy("tcp", 5432, "172.18.0.5");
        let other_proxy = proxy("tcp", 5432, "172.18.0.9");
        let tcp = |a: &str, p: u16| listener(Proto::Tcp, a, p, true, 1);
        // (what, listener, owners, conflicts)
        type Case<'a> = (&'a str, Listener, Vec<Option<&'a ProxyArgs>>, bool);
        let cases: Vec<Case> = vec![
            ("same address", tcp("127.0.0.1", 5432), vec![None], true),
            ("wildcard listener", tcp("0.0.0.0", 5432), vec![None], true),
            ("dual-stack wildcard", tcp("::", 5432), vec![None], true),
            (
                "other loopback address",
                tcp("127.0.0.2", 5432),
                vec![None],
                false,
            ),
            ("other port", tcp("127.0.0.1", 5433), vec![None], false),
            (
                "its own leftover proxy",
                tcp("127.0.0.1", 5432),
                vec![Some(&own)],
                false,
            ),
            (
                "another container's proxy",
                tcp("127.0.0.1", 5432),
                vec![Some(&other_proxy)],
                true,
            ),
            (
                "its proxy and a stranger",
                tcp("127.0.0.1", 5432),
                vec![Some(&own), None],
                true,
            ),
            ("owners unseen", tcp("127.0.0.1", 5432), vec![], true),
            (
                "in a container's namespace",
                listener(Proto::Tcp, "127.0.0.1", 5432, false, 9),
                vec![None],
                false,
            ),
            (
                "UDP on a TCP binding's port",
                listener(Proto::Udp, "127.0.0.1", 5432, true, 1),
                vec![None],
                false,
            ),
            (
                "UDP on the UDP binding",
                listener(Proto::Udp, "10.0.0.1", 53, true, 1),
                vec![None],
                true,
            ),
        ];
        for (what, l, owners, want) in cases {
            let got = conflicts_of(&l, &owners, std::slice::from_ref(&c));
            assert_eq!(!got.is_empty(), want, "{what}: {got:?}");
        }
        // A running container is never in conflict, even on its own port.
        let l = tcp("0.0.0.0", 8080);
        assert!(conflicts_of(&l, &[None], &[web()]).is_empty());
    }
}
