//! What `ports free` does about each holder of a port (act, or refuse and why), and what
//! the port looks like after acting.

use serde::{Deserialize, Serialize};

use crate::policy::processes::{ContainerLife, Listed, container_life};

use super::listener::OwnerKind;
use super::proxy::{Leak, ProxyVerdict};

/// Why `ports free` leaves a holder alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Not Docker's: only with `--force-foreign`.
    Foreign,
    /// In uninterruptible sleep (D, seen in every sample): no signal reaches it until its call
    /// into the kernel returns; if that never happens, only a reboot frees the port.
    Uninterruptible,
    /// The engine itself (dockerd, containerd) on a port no container publishes: its API, or
    /// its own business. `dockhand recover` restarts it.
    Engine,
    /// A docker-proxy of another live daemon on this host.
    OtherDaemon,
    /// A docker-proxy of a container still starting (younger than the grace period).
    Starting,
    /// An orphan docker-proxy forwarding into none of this daemon's networks while other
    /// daemons run: probably another daemon's. Stopped only with `--force-foreign`.
    Unattributed,
    /// A docker-proxy of this daemon, or a process under a container's shim, that could not be
    /// judged: the engine did not list its containers (silent, timed out, stopped), so the
    /// container it serves may be running.
    Unjudged,
    /// No owner could be seen: its fds are not readable by this user, or no process holds the
    /// socket (a kernel socket, one being torn down). Decided for a listener, not an owner.
    Unseen,
}

impl Refusal {
    /// `--force-foreign` would allow it.
    pub fn forcible(self) -> bool {
        matches!(self, Refusal::Foreign | Refusal::Unattributed)
    }
}

/// What `dockhand ports free` does about one process holding the port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum FreeVerdict {
    /// A leaked docker-proxy: terminate it.
    KillProxy { why: Leak },
    /// It serves a running container (its id): stop that container; its proxy goes with it.
    StopContainer { container: String },
    /// A process left under the shim of a container that no longer runs: terminate it.
    KillLeftover { container: String },
    /// Not Docker's, and the user allowed it (`--force-foreign`): terminate it.
    KillForeign,
    /// Left alone, and why.
    Refused { why: Refusal },
}

/// Decides what `ports free` does about one holder: its kind, whether it is stuck in D (seen in
/// every sample), the running container the listener belongs to (by [`listener_container`],
/// only when that container runs), what Docker's list says of the owner's container (an owner
/// under a shim; `None`: the engine did not list), and whether the user allowed foreign
/// processes.
///
/// D comes first: no signal, and no container stop, reaches a process stuck in the kernel. A
/// process under a shim is ended as a leftover only when [`container_life`] — the judgment
/// `reap` uses for zombie parents — says its container ended; a gap leaves it alone.
pub fn free_verdict(
    kind: &OwnerKind,
    uninterruptible: bool,
    belongs_running: Option<&str>,
    owner_listed: Option<Listed>,
    force_foreign: bool,
) -> FreeVerdict {
    use FreeVerdict::{KillForeign, KillLeftover, KillProxy, Refused, StopContainer};
    let refused = |why: Refusal| {
        if force_foreign && why.forcible() {
            KillForeign
        } else {
            Refused { why }
        }
    };
    if uninterruptible {
        return Refused {
            why: Refusal::Uninterruptible,
        };
    }
    match kind {
        OwnerKind::Proxy { verdict: None } => refused(Refusal::Unjudged),
        OwnerKind::Proxy { verdict: Some(v) } => match v {
            ProxyVerdict::Leaked { why } => KillProxy { why: *why },
            ProxyVerdict::Serving { container } => StopContainer {
                container: container.clone(),
            },
            ProxyVerdict::Starting { .. } => refused(Refusal::Starting),
            ProxyVerdict::OtherDaemon => refused(Refusal::OtherDaemon),
            ProxyVerdict::Unattributed => refused(Refusal::Unattributed),
        },
        OwnerKind::Engine => match belongs_running {
            Some(c) => StopContainer {
                container: c.to_string(),
            },
            None => refused(Refusal::Engine),
        },
        OwnerKind::Container { id } => {
            if belongs_running == Some(id.as_str()) {
                return StopContainer {
                    container: id.clone(),
                };
            }
            match container_life(owner_listed) {
                ContainerLife::Alive => StopContainer {
                    container: id.clone(),
                },
                ContainerLife::Ended { .. } => KillLeftover {
                    container: id.clone(),
                },
                // Not forcible: --force-foreign is for processes that are not Docker's.
                ContainerLife::Unknown => Refused {
                    why: Refusal::Unjudged,
                },
            }
        }
        OwnerKind::Other => refused(Refusal::Foreign),
    }
}

/// The port after `ports free` acted, from who held it before and who holds it now (each a
/// pid and its start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterFree {
    /// Nothing listens on it any more.
    Free,
    /// Some of the processes that held it still do.
    StillHeld,
    /// Only processes that did not hold it before do: something took it again at once (a
    /// supervisor restarting the service, a container restarting).
    TakenAgain,
}

/// Judges the port after acting: `before` the holders the plan saw, `now` the holders now.
pub fn after_free(before: &[(i32, u64)], now: &[(i32, u64)]) -> AfterFree {
    if now.is_empty() {
        AfterFree::Free
    } else if now.iter().any(|h| before.contains(h)) {
        AfterFree::StillHeld
    } else {
        AfterFree::TakenAgain
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    // Long: one table of cases read top to bottom; split, its fixtures would scatter.
    #[test]
    fn what_ports_free_does_about_each_holder() {
        use FreeVerdict::*;
        let proxy = |v: ProxyVerdict| OwnerKind::Proxy { verdict: Some(v) };
        let web = || "web".to_string();
        // (what, kind, in D, running container it belongs to, what Docker's list says of the
        // owner's container (None: the engine did not list), --force-foreign, want)
        type Case<'a> = (
            &'a str,
            OwnerKind,
            bool,
            Option<&'a str>,
            Option<Listed>,
            bool,
            FreeVerdict,
        );
        let refused = |why| Refused { why };
        let cases: Vec<Case> = vec![
            (
                "leaked proxy",
                proxy(ProxyVerdict::Leaked { why: Leak::Orphan }),
                false,
                None,
                None,
                false,
                KillProxy { why: Leak::Orphan },
            ),
            (
                "leaked proxy stuck in D",
                proxy(ProxyVerdict::Leaked { why: Leak::Orphan }),
                true,
                None,
                None,
                true,
                refused(Refusal::Uninterruptible),
            ),
            (
                "a running container's proxy",
                proxy(ProxyVerdict::Serving { container: web() }),
                false,
                Some("web"),
                None,
                false,
                StopContainer { container: web() },
            ),
            (
                "a starting container's proxy",
                proxy(ProxyVerdict::Starting { age_s: Some(2.0) }),
                false,
                None,
                None,
                true,
                refused(Refusal::Starting),
            ),
            (
                "another daemon's proxy, even forced",
                proxy(ProxyVerdict::OtherDaemon),
                false,
                None,
                None,
                true,
                refused(Refusal::OtherDaemon),
            ),
            (
                "an unattributed orphan",
                proxy(ProxyVerdict::Unattributed),
                false,
                None,
                None,
                false,
                refused(Refusal::Unattributed),
            ),
            (
                "an unattributed orphan, forced",
                proxy(ProxyVerdict::Unattributed),
                false,
                None,
                None,
                true,
                KillForeign,
            ),
            (
                "a proxy not judged",
                OwnerKind::Proxy { verdict: None },
                false,
                None,
                None,
                true,
                refused(Refusal::Unjudged),
            ),
            (
                "dockerd on a published port",
                OwnerKind::Engine,
                false,
                Some("web"),
                None,
                false,
                StopContainer { container: web() },
            ),
            (
                "dockerd on its own port, even forced",
                OwnerKind::Engine,
                false,
                None,
                None,
                true,
                refused(Refusal::Engine),
            ),
            (
                "a running container's process (host network)",
                OwnerKind::Container { id: web() },
                false,
                Some("web"),
                None,
                false,
                StopContainer { container: web() },
            ),
            (
                "a process left under a dead container's shim",
                OwnerKind::Container { id: web() },
                false,
                None,
                Some(Listed::NotRunning),
                false,
                KillLeftover { container: web() },
            ),
            (
                "a process under the shim of a container Docker no longer lists",
                OwnerKind::Container { id: web() },
                false,
                None,
                Some(Listed::Absent),
                false,
                KillLeftover { container: web() },
            ),
            (
                // The engine answered, listing it running (or paused), but the listener was
                // not tied to it: its container is stopped, never its process killed.
                "a process of a container listed alive",
                OwnerKind::Container { id: web() },
                false,
                None,
                Some(Listed::Running),
                false,
                StopContainer { container: web() },
            ),
            (
                // The engine did not list: a hung daemon's running container. Unknown never
                // acts, not even with --force-foreign.
                "a process under a shim while the engine is silent, forced",
                OwnerKind::Container { id: web() },
                false,
                None,
                None,
                true,
                refused(Refusal::Unjudged),
            ),
            (
                "foreign",
                OwnerKind::Other,
                false,
                None,
                None,
                false,
                refused(Refusal::Foreign),
            ),
            (
                "foreign, forced",
                OwnerKind::Other,
                false,
                None,
                None,
                true,
                KillForeign,
            ),
            (
                "foreign in D, forced",
                OwnerKind::Other,
                true,
                None,
                None,
                true,
                refused(Refusal::Uninterruptible),
            ),
        ];
        for (what, kind, d, belongs, listed, force, want) in cases {
            assert_eq!(
                free_verdict(&kind, d, belongs, listed, force),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn the_port_after_acting() {
        let before = [(10, 5), (11, 6)];
        let cases: &[(&[(i32, u64)], AfterFree)] = &[
            (&[], AfterFree::Free),
            (&[(10, 5)], AfterFree::StillHeld),
            (&[(11, 6), (99, 1)], AfterFree::StillHeld),
            (&[(99, 1)], AfterFree::TakenAgain),
            // The same pid, another process: it was reused by a newcomer.
            (&[(10, 7)], AfterFree::TakenAgain),
        ];
        for (now, want) in cases {
            assert_eq!(after_free(&before, now), *want, "{now:?}");
        }
    }
}
