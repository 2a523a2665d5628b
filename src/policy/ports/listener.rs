//! Owners of a listening socket and a listener's problems, worst first: what `ports`
//! shows for each listener and the status it ends with.

use serde::{Deserialize, Serialize};

use super::conflicts::Conflict;
use super::proxy::{Leak, ProxyVerdict};
use super::stuck::{Stuck, listener_stuck};

/// What kind of process owns a listening socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OwnerKind {
    /// A docker-proxy, judged by [`judge_proxy`]; `verdict` is `None` when it could not be
    /// judged (a child of this daemon while the engine did not list its containers).
    Proxy { verdict: Option<ProxyVerdict> },
    /// The engine itself: dockerd, containerd, podman.
    Engine,
    /// A process under the shim of this daemon's container `id`: the container's own.
    Container { id: String },
    /// Anything else: not Docker's.
    Other,
}

impl OwnerKind {
    /// The reason a docker-proxy owner is leaked, when it is.
    pub fn leak(&self) -> Option<Leak> {
        match self {
            OwnerKind::Proxy { verdict: Some(v) } => v.leak(),
            _ => None,
        }
    }
}

/// What is wrong with a listener, as `dockhand ports` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// No owner can accept: every one is stopped, stuck in D, traced, or under a zombie parent.
    Stuck { why: Stuck },
    /// An owner is a leaked docker-proxy.
    LeakedProxy { why: Leak },
    /// It blocks a published port of stopped container `container` (its id), which has a
    /// restart policy: its next start fails.
    Conflict {
        container: String,
        name: String,
        restart_policy: String,
    },
}

impl Problem {
    /// `stuck`, `leaked-proxy`, `conflict`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Problem::Stuck { .. } => "stuck",
            Problem::LeakedProxy { .. } => "leaked-proxy",
            Problem::Conflict { .. } => "conflict",
        }
    }
}

/// A listener's problems, worst first: stuck (as [`listener_stuck`] judges its owners'
/// verdicts `stuck`), then a leaked docker-proxy among its owners (`kinds`), then the stopped
/// containers whose published port it blocks ([`conflicts_of`]). Empty: it is fine.
pub fn listener_problems(
    stuck: &[Option<Stuck>],
    kinds: &[OwnerKind],
    conflicts: &[Conflict<'_>],
) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(why) = listener_stuck(stuck) {
        out.push(Problem::Stuck { why });
    }
    if let Some(why) = kinds.iter().find_map(OwnerKind::leak) {
        out.push(Problem::LeakedProxy { why });
    }
    for c in conflicts {
        let p = Problem::Conflict {
            container: c.container.id.clone(),
            name: c.container.name().to_string(),
            restart_policy: c.restart_policy.to_string(),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A listener's status: fine, or its worst problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenerStatus {
    Ok,
    Stuck,
    LeakedProxy,
    Conflict,
}

/// The status of a listener with these problems (worst first, as [`listener_problems`] orders
/// them).
pub fn listener_status(problems: &[Problem]) -> ListenerStatus {
    match problems.first() {
        None => ListenerStatus::Ok,
        Some(Problem::Stuck { .. }) => ListenerStatus::Stuck,
        Some(Problem::LeakedProxy { .. }) => ListenerStatus::LeakedProxy,
        Some(Problem::Conflict { .. }) => ListenerStatus::Conflict,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::ports::conflicts_of;
    use crate::policy::ports::fixtures::*;
    use crate::runtime::net::Proto;

    #[test]
    fn a_listeners_problems_worst_first() {
        use Stuck::*;
        let c = stopped(
            "db",
            "172.18.0.5",
            "always",
            json!({ "5432/tcp": [ { "HostIp": "", "HostPort": "5432" } ] }),
        );
        let l = listener(Proto::Tcp, "0.0.0.0", 5432, true, 1);
        let conflicts = conflicts_of(&l, &[None], std::slice::from_ref(&c));
        let leaked = OwnerKind::Proxy {
            verdict: Some(ProxyVerdict::Leaked { why: Leak::Orphan }),
        };
        let unjudged = OwnerKind::Proxy { verdict: None };
        // (what, owners' stuck verdicts, owners' kinds, conflicts?, problems)
        type Case<'a> = (
            &'a str,
            Vec<Option<Stuck>>,
            Vec<OwnerKind>,
            bool,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("fine", vec![None], vec![OwnerKind::Other], false, vec![]),
            ("no owners seen", vec![], vec![], false, vec![]),
            (
                "stopped",
                vec![Some(Stopped)],
                vec![OwnerKind::Other],
                false,
                vec!["stuck"],
            ),
            (
                "one worker still runs",
                vec![Some(Stopped), None],
                vec![OwnerKind::Other, OwnerKind::Other],
                false,
                vec![],
            ),
            (
                "leaked proxy",
                vec![None],
                vec![leaked.clone()],
                false,
                vec!["leaked-proxy"],
            ),
            (
                "a stopped leaked proxy that blocks a stopped container",
                vec![Some(Stopped)],
                vec![leaked],
                true,
                vec!["stuck", "leaked-proxy", "conflict"],
            ),
            (
                "a proxy not judged",
                vec![None],
                vec![unjudged],
                false,
                vec![],
            ),
            (
                "conflict",
                vec![None],
                vec![OwnerKind::Other],
                true,
                vec!["conflict"],
            ),
        ];
        for (what, stuck, kinds, conflict, want) in cases {
            let cs: &[Conflict] = if conflict { &conflicts } else { &[] };
            let got: Vec<&str> = listener_problems(&stuck, &kinds, cs)
                .iter()
                .map(Problem::as_str)
                .collect();
            assert_eq!(got, want, "{what}");
        }
        let p = listener_problems(&[None], &[OwnerKind::Other], &conflicts);
        assert_eq!(
            p,
            vec![Problem::Conflict {
                container: "db".into(),
                name: String::new(),
                restart_policy: "always".into()
            }]
        );
    }
}
