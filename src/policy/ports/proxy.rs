//! Whose a docker-proxy is, and whether it leaked: the verdict doctor, `ports` and `reap`
//! share for one proxy at a time.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::policy::addresses::in_subnet;
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::ProxyArgs;

use super::bindings::serving_container;

/// Whose a docker-proxy is, by its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyOwner {
    /// Child of this daemon, serving a running container.
    Serving,
    /// Child of this daemon, but no running container of it publishes that port to that address.
    ContainerGone,
    /// Its parent is not a live dockerd: nothing will ever stop it.
    Orphan,
    /// Child of another live dockerd on this host: that daemon's business.
    OtherDaemon,
}

/// Classifies a proxy by its parent. `parent` is the parent's (verified program name — see
/// `policy::identity`, never its comm — state) if it exists;
/// `serves`: a running container of this daemon publishes what it forwards.
pub fn proxy_owner(
    ppid: i32,
    daemon_pid: i32,
    parent: Option<(&str, char)>,
    serves: bool,
) -> ProxyOwner {
    if ppid == daemon_pid {
        return if serves {
            ProxyOwner::Serving
        } else {
            ProxyOwner::ContainerGone
        };
    }
    match parent {
        Some(("dockerd", state)) if state != 'Z' => ProxyOwner::OtherDaemon,
        _ => ProxyOwner::Orphan,
    }
}

/// One docker-proxy process as seen in the process table.
#[derive(Debug, Clone, Copy)]
pub struct ProxySeen<'a> {
    pub ppid: i32,
    /// The parent's verified program name ("dockerd" only for Docker's own, judged by
    /// `policy::identity`; never its comm) and state, when the parent exists.
    pub parent: Option<(&'a str, char)>,
    pub args: &'a ProxyArgs,
    /// Seconds since it started, when known.
    pub age_s: Option<f64>,
}

/// What a proxy is judged against: this daemon, the host's other daemons, the grace period.
#[derive(Debug, Clone, Copy)]
pub struct ProxyScope<'a> {
    pub daemon_pid: i32,
    /// Live (not zombie) dockerd processes on the host, this one included.
    pub live_dockerds: usize,
    /// Subnets of this daemon's networks (`172.18.0.0/16`). Only consulted for an orphan when
    /// several daemons run ([`ProxyScope::orphans_need_subnets`]); empty when unknown.
    pub subnets: &'a [String],
    /// A proxy of this daemon younger than this may belong to a container still starting.
    pub grace_s: f64,
}

impl ProxyScope<'_> {
    /// With several daemons on the host, an orphan proxy is this daemon's only when it forwards
    /// into one of its networks: the caller needs [`ProxyScope::subnets`] then (and only then).
    pub fn orphans_need_subnets(&self) -> bool {
        self.live_dockerds > 1
    }
}

/// Why a docker-proxy is leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Leak {
    /// A child of this daemon, but no running container publishes its port to its address.
    ContainerGone,
    /// Its parent is not a live dockerd: nothing will ever stop it.
    Orphan,
}

/// The verdict on one docker-proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ProxyVerdict {
    /// Forwards for a running container of this daemon (its id).
    Serving { container: String },
    /// A child of this daemon serving no running container yet, younger than the grace period:
    /// dockerd starts the proxy before it marks the container running. `age_s` is `None` when
    /// its age could not be read: then it is not known to be old enough, and is treated alike.
    Starting { age_s: Option<f64> },
    /// A child of another live dockerd on this host: not this daemon's.
    OtherDaemon,
    /// Holds its host port for no one: `ports free` and `reap` stop it.
    Leaked { why: Leak },
    /// An orphan, with several daemons on the host, that forwards into none of this daemon's
    /// networks: probably another daemon's; reported, never acted on.
    Unattributed,
}

impl ProxyVerdict {
    /// Why it is leaked, when it is.
    pub fn leak(&self) -> Option<Leak> {
        match self {
            ProxyVerdict::Leaked { why } => Some(*why),
            _ => None,
        }
    }
}

/// Judges one docker-proxy against this daemon's containers' records (only its running
/// containers matter; pass none when this daemon has no proxy child — orphans do not need them).
pub fn judge_proxy(
    p: &ProxySeen<'_>,
    records: &[ContainerRecord],
    scope: &ProxyScope<'_>,
) -> ProxyVerdict {
    let serving = if p.ppid == scope.daemon_pid {
        serving_container(records, p.args)
    } else {
        None
    };
    match proxy_owner(p.ppid, scope.daemon_pid, p.parent, serving.is_some()) {
        ProxyOwner::Serving => ProxyVerdict::Serving {
            container: serving.map(|c| c.id.clone()).unwrap_or_default(),
        },
        ProxyOwner::OtherDaemon => ProxyVerdict::OtherDaemon,
        // Leaked only on a known age past the grace: an unreadable age is no evidence that
        // the container is not starting right now.
        ProxyOwner::ContainerGone => match p.age_s {
            Some(age_s) if age_s >= scope.grace_s => ProxyVerdict::Leaked {
                why: Leak::ContainerGone,
            },
            age_s => ProxyVerdict::Starting { age_s },
        },
        ProxyOwner::Orphan => {
            let ours = !scope.orphans_need_subnets()
                || p.args
                    .container_ip
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| scope.subnets.iter().any(|cidr| in_subnet(ip, cidr)));
            if ours {
                ProxyVerdict::Leaked { why: Leak::Orphan }
            } else {
                ProxyVerdict::Unattributed
            }
        }
    }
}

/// [`judge_proxy`] when the facts allow it: a child of this daemon is judged only against its
/// containers' records, so without them (`None`: the engine did not list) it is not judged at
/// all — `None`, never "no container serves it". Orphans need no records. `ports` and `reap`
/// both judge through this, so a gap is read alike everywhere.
pub fn judge_proxy_if_known(
    p: &ProxySeen<'_>,
    records: Option<&[ContainerRecord]>,
    scope: &ProxyScope<'_>,
) -> Option<ProxyVerdict> {
    if p.ppid == scope.daemon_pid && records.is_none() {
        return None;
    }
    Some(judge_proxy(p, records.unwrap_or(&[]), scope))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::policy::ports::fixtures::*;

    #[test]
    fn proxy_owners() {
        use ProxyOwner::*;
        let cases = [
            (100, 100, Some(("dockerd", 'S')), true, Serving),
            (100, 100, Some(("dockerd", 'S')), false, ContainerGone),
            (1, 100, Some(("systemd", 'S')), false, Orphan),
            (200, 100, Some(("dockerd", 'S')), false, OtherDaemon),
            (200, 100, Some(("dockerd", 'Z')), false, Orphan),
            (300, 100, None, false, Orphan),
            (400, 100, Some(("cargo-test", 'S')), false, Orphan),
        ];
        for (ppid, daemon, parent, serves, want) in cases {
            assert_eq!(
                proxy_owner(ppid, daemon, parent, serves),
                want,
                "{ppid} {parent:?}"
            );
        }
    }

    // Long: one table of cases read top to bottom; split, its fixtures would scatter.
    #[test]
    fn proxy_verdicts() {
        let records = [web()];
        let subnets = ["172.31.255.0/24".to_string()];
        let serving = proxy("tcp", 8080, "172.17.0.2");
        let gone = proxy("tcp", 9000, "172.17.0.9");
        let into_ours = proxy("tcp", 9001, "172.31.255.254");
        // (what, proxy, ppid, parent, age, live dockerds, want)
        type Case<'a> = (
            &'a str,
            &'a ProxyArgs,
            i32,
            Option<(&'a str, char)>,
            Option<f64>,
            usize,
            ProxyVerdict,
        );
        let d = Some(("dockerd", 'S'));
        let cases: Vec<Case> = vec![
            (
                "serving",
                &serving,
                100,
                d,
                Some(500.0),
                1,
                ProxyVerdict::Serving {
                    container: "web".into(),
                },
            ),
            (
                "young, container still starting",
                &gone,
                100,
                d,
                Some(3.0),
                1,
                ProxyVerdict::Starting { age_s: Some(3.0) },
            ),
            (
                "old, container gone",
                &gone,
                100,
                d,
                Some(31.0),
                1,
                ProxyVerdict::Leaked {
                    why: Leak::ContainerGone,
                },
            ),
            (
                // No evidence that it is past the grace: left alone like a young one.
                "age unknown, container gone",
                &gone,
                100,
                d,
                None,
                1,
                ProxyVerdict::Starting { age_s: None },
            ),
            (
                "serving, but a child of another daemon",
                &serving,
                200,
                d,
                Some(500.0),
                2,
                ProxyVerdict::OtherDaemon,
            ),
            (
                "orphan, the only daemon",
                &gone,
                1,
                Some(("systemd", 'S')),
                Some(5.0),
                1,
                ProxyVerdict::Leaked { why: Leak::Orphan },
            ),
            (
                "orphan into our subnet, several daemons",
                &into_ours,
                1,
                None,
                None,
                2,
                ProxyVerdict::Leaked { why: Leak::Orphan },
            ),
            (
                "orphan elsewhere, several daemons",
                &gone,
                1,
                None,
                None,
                2,
                ProxyVerdict::Unattributed,
            ),
            (
                "orphan of a zombie dockerd",
                &gone,
                200,
                Some(("dockerd", 'Z')),
                None,
                1,
                ProxyVerdict::Leaked { why: Leak::Orphan },
            ),
        ];
        for (what, args, ppid, parent, age_s, live, want) in cases {
            let scope = ProxyScope {
                daemon_pid: 100,
                live_dockerds: live,
                subnets: &subnets,
                grace_s: 30.0,
            };
            let p = ProxySeen {
                ppid,
                parent,
                args,
                age_s,
            };
            assert_eq!(judge_proxy(&p, &records, &scope), want, "{what}");
        }
        // An orphan that would serve a running container is still an orphan: nothing stops it.
        let scope = ProxyScope {
            daemon_pid: 100,
            live_dockerds: 1,
            subnets: &[],
            grace_s: 30.0,
        };
        let p = ProxySeen {
            ppid: 1,
            parent: None,
            args: &serving,
            age_s: None,
        };
        assert_eq!(judge_proxy(&p, &records, &scope).leak(), Some(Leak::Orphan));
    }
}
