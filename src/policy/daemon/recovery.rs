//! Whether the daemon needs recovering, how long its stop may take, and what must be running
//! again afterwards. `recover` acts on these; `pull` asks [`need`] when a pull stalls. The
//! inputs are doctor's own verdicts ([`Health`] from the tiers, [`MainState`], [`Stuckness`]), so
//! doctor and recover never disagree on whether the daemon is hung.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::flags::{bool_flag, flag_values};
use super::process::{MainState, Stuckness};
use super::responsive::{Health, TierName};

/// What recovering the daemon takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "need", rename_all = "kebab-case")]
pub enum Need {
    /// It serves (healthy or merely slow): nothing to recover.
    NotNeeded { why: String },
    /// Its process runs but does not serve: stop it, clean up, start it again.
    Restart { why: String },
    /// No process serves the socket: clean up and start it.
    Start { why: String },
    /// Nothing can be said from here (no permission on the socket).
    Unknown { why: String },
}

impl Need {
    pub fn name(&self) -> &'static str {
        match self {
            Need::NotNeeded { .. } => "not-needed",
            Need::Restart { .. } => "restart",
            Need::Start { .. } => "start",
            Need::Unknown { .. } => "unknown",
        }
    }

    pub fn why(&self) -> &str {
        match self {
            Need::NotNeeded { why }
            | Need::Restart { why }
            | Need::Start { why }
            | Need::Unknown { why } => why,
        }
    }
}

/// The daemon's process as the diagnosis saw it: its pid and /proc state letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSeen {
    pub pid: i32,
    pub state: char,
}

/// Decides from the health tiers, the process (`None`: no process serves the socket) and the
/// threads stuck in the kernel.
pub fn need(health: &Health, process: Option<ProcessSeen>, stuck: Stuckness) -> Need {
    if *health == Health::Permission {
        return Need::Unknown {
            why: "this user may not open the daemon's socket; run as root".into(),
        };
    }
    let Some(p) = process else {
        return match health {
            Health::Down => Need::Start {
                why: "no daemon process serves the socket".into(),
            },
            _ => Need::NotNeeded {
                why: format!(
                    "the engine is {} but no process on this host holds its socket: nothing here to restart",
                    health.name()
                ),
            },
        };
    };
    match super::process::main_state(p.state) {
        MainState::Stopped => {
            return Need::Restart {
                why: format!(
                    "dockerd pid {} is stopped (state {}): SIGSTOP or a debugger holds it",
                    p.pid, p.state
                ),
            };
        }
        MainState::Dead => {
            return Need::Restart {
                why: format!(
                    "dockerd pid {} is a zombie: it exited and was not reaped",
                    p.pid
                ),
            };
        }
        MainState::Alive => {}
    }
    if stuck == Stuckness::Fatal {
        return Need::Restart {
            why: format!(
                "dockerd pid {} does not answer and threads of it are stuck in the kernel",
                p.pid
            ),
        };
    }
    match health {
        Health::Frozen { waited } => Need::Restart {
            why: format!(
                "frozen: dockerd pid {} accepts connections but did not answer the ping within {}",
                p.pid,
                crate::util::human_duration(*waited)
            ),
        },
        Health::Wedged { list, info, waited } => Need::Restart {
            why: format!(
                "wedged: dockerd pid {} answers the ping but not {} within {}",
                p.pid,
                match (list, info) {
                    (true, true) => "the container list nor /info",
                    (true, false) => "the container list",
                    _ => "/info",
                },
                crate::util::human_duration(*waited)
            ),
        },
        Health::Error {
            tier: tier @ (TierName::Ping | TierName::List),
        } => Need::Restart {
            why: format!(
                "dockerd pid {} answers {} with errors",
                p.pid,
                if *tier == TierName::Ping {
                    "the ping"
                } else {
                    "the container list"
                }
            ),
        },
        Health::Down => Need::Restart {
            why: format!(
                "dockerd pid {} runs but its socket refuses connections",
                p.pid
            ),
        },
        Health::Error { .. } | Health::Healthy | Health::Slow { .. } => Need::NotNeeded {
            why: format!("the daemon is {}", health.name()),
        },
        Health::Permission => Need::Unknown {
            why: "this user may not open the daemon's socket; run as root".into(),
        },
    }
}

/// dockerd's default `shutdown-timeout`: how long it lets each container stop.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The daemon's `shutdown-timeout`: `--shutdown-timeout` on its command line, else
/// daemon.json's `shutdown-timeout`, else 15 s.
pub fn shutdown_timeout(json: Option<&Value>, cmdline: &[String]) -> Duration {
    flag_values(cmdline, "shutdown-timeout", None)
        .pop()
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| json?.get("shutdown-timeout")?.as_u64())
        .map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_secs)
}

/// live-restore as the daemon was configured (for when `/info` cannot be asked): `--live-restore`
/// on its command line, else daemon.json's `live-restore`; `None` when neither says.
pub fn live_restore_configured(json: Option<&Value>, cmdline: &[String]) -> Option<bool> {
    bool_flag(cmdline, "live-restore").or_else(|| json?.get("live-restore")?.as_bool())
}

/// How long the daemon is given to stop after the first SIGTERM: it stops every running
/// container first (each up to `shutdown_timeout`) unless live-restore leaves them running, so
/// `shutdown_timeout × running + margin`, or just the margin with live-restore on. `live_restore`
/// unknown counts as off: the longer wait is the safe one.
pub fn stop_grace(
    shutdown_timeout: Duration,
    running: usize,
    live_restore: Option<bool>,
    margin: Duration,
) -> Duration {
    if live_restore == Some(true) {
        return margin;
    }
    shutdown_timeout.saturating_mul(running as u32) + margin
}

/// The wait after the second SIGTERM: dockerd gives up its clean-up on repeated signals, so
/// this is short.
pub fn again_wait(grace: Duration) -> Duration {
    grace.min(Duration::from_secs(5))
}

/// A container as seen before or after the restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSeen {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// `HostConfig.RestartPolicy.Name`: "", "no", "always", "unless-stopped", "on-failure".
    pub restart_policy: String,
    /// The container's main process, while it runs.
    pub pid: Option<i64>,
}

/// A container that must run after the restart, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub id: String,
    pub name: String,
    /// "live-restore" (it kept running across the restart) or the restart policy that brings
    /// it back ("always", "unless-stopped").
    pub because: String,
}

/// The containers that must be running once the daemon is back: with live-restore, every one
/// that ran before; without, those whose restart policy starts them with the daemon
/// (`always`, `unless-stopped`; `on-failure` does not restart a container the daemon stopped).
pub fn expected_running(before: &[ContainerSeen], live_restore: bool) -> Vec<Expected> {
    before
        .iter()
        .filter(|c| c.running)
        .filter_map(|c| {
            let because = if live_restore {
                "live-restore".to_string()
            } else if matches!(c.restart_policy.as_str(), "always" | "unless-stopped") {
                c.restart_policy.clone()
            } else {
                return None;
            };
            Some(Expected {
                id: c.id.clone(),
                name: c.name.clone(),
                because,
            })
        })
        .collect()
}

/// The expected containers not running after the restart.
pub fn missing<'e>(expected: &'e [Expected], after: &[ContainerSeen]) -> Vec<&'e Expected> {
    let running: HashSet<&str> = after
        .iter()
        .filter(|c| c.running)
        .map(|c| c.id.as_str())
        .collect();
    expected
        .iter()
        .filter(|e| !running.contains(e.id.as_str()))
        .collect()
}

/// The containers that ran before and were stopped by the restart (live-restore off).
pub fn will_stop(before: &[ContainerSeen], live_restore: Option<bool>) -> Vec<&ContainerSeen> {
    if live_restore == Some(true) {
        return Vec::new();
    }
    before.iter().filter(|c| c.running).collect()
}

/// Whether the daemon's old process is gone after a stop, as far as /proc can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// No process at its pid, a zombie, or a process with another start time there.
    Gone,
    /// The same process (pid and start time) is still there.
    Alive,
    /// A live process is at its pid, but the old one's start time was never captured (0): it
    /// may be the old daemon or a newcomer on a reused pid. Never read as "gone".
    Unknown,
}

/// Judges the pid after a stop: `target_ticks` is the old process's start time as captured at
/// the diagnosis (0: the capture failed), `seen` the (start time, state letter) of the process
/// at that pid now (`None`: no process there).
pub fn presence(target_ticks: u64, seen: Option<(u64, char)>) -> Presence {
    match seen {
        None => Presence::Gone,
        // Dead, whoever it was: a zombie serves no socket and holds no lock.
        Some((_, 'Z' | 'X' | 'x')) => Presence::Gone,
        Some(_) if target_ticks == 0 => Presence::Unknown,
        Some((ticks, _)) if ticks == target_ticks => Presence::Alive,
        Some(_) => Presence::Gone,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn need_table() {
        let p = |state| Some(ProcessSeen { pid: 42, state });
        let frozen = Health::Frozen { waited: ms(3000) };
        let wedged = Health::Wedged {
            list: true,
            info: false,
            waited: ms(3000),
        };
        #[rustfmt::skip]
        let cases: Vec<(Health, Option<ProcessSeen>, Stuckness, &str, &str)> = vec![
            (Health::Healthy, p('S'), Stuckness::None, "not-needed", "healthy"),
            (Health::Slow { tiers: vec![TierName::List] }, p('S'), Stuckness::None, "not-needed", "slow"),
            // Threads stuck while the API answers: a restart would not finish; not recover's.
            (Health::Healthy, p('S'), Stuckness::Partial, "not-needed", "healthy"),
            (frozen.clone(), p('S'), Stuckness::None, "restart", "did not answer the ping within 3 s"),
            (frozen.clone(), p('T'), Stuckness::None, "restart", "stopped (state T)"),
            (frozen.clone(), p('t'), Stuckness::None, "restart", "a debugger"),
            (frozen, p('S'), Stuckness::Fatal, "restart", "stuck in the kernel"),
            (wedged, p('S'), Stuckness::None, "restart", "not the container list within 3 s"),
            (Health::Error { tier: TierName::List }, p('S'), Stuckness::None, "restart", "list"),
            (Health::Error { tier: TierName::Info }, p('S'), Stuckness::None, "not-needed", "error"),
            (Health::Down, None, Stuckness::None, "start", "no daemon process"),
            (Health::Down, p('S'), Stuckness::None, "restart", "refuses connections"),
            (Health::Down, p('Z'), Stuckness::None, "restart", "zombie"),
            (Health::Healthy, None, Stuckness::None, "not-needed", "no process on this host"),
            (Health::Permission, p('S'), Stuckness::None, "unknown", "run as root"),
        ];
        for (health, proc, stuck, want, says) in cases {
            let got = need(&health, proc, stuck);
            assert_eq!(got.name(), want, "{health:?} {proc:?} {stuck:?}: {got:?}");
            assert!(got.why().contains(says), "{got:?} should say {says:?}");
        }
    }

    #[test]
    fn grace_follows_live_restore_and_running_containers() {
        let s = Duration::from_secs;
        let margin = s(10);
        assert_eq!(stop_grace(s(15), 20, Some(true), margin), s(10));
        assert_eq!(stop_grace(s(15), 20, Some(false), margin), s(310));
        assert_eq!(stop_grace(s(15), 2, None, margin), s(40));
        assert_eq!(stop_grace(s(15), 0, Some(false), margin), s(10));
        assert_eq!(again_wait(s(40)), s(5));
        assert_eq!(again_wait(s(2)), s(2));
    }

    #[test]
    fn settings_from_flags_then_daemon_json() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let j = json!({"shutdown-timeout": 30, "live-restore": true});
        assert_eq!(
            shutdown_timeout(Some(&j), &args("dockerd")),
            Duration::from_secs(30)
        );
        assert_eq!(
            shutdown_timeout(Some(&j), &args("dockerd --shutdown-timeout=5")),
            Duration::from_secs(5)
        );
        assert_eq!(
            shutdown_timeout(None, &args("dockerd")),
            DEFAULT_SHUTDOWN_TIMEOUT
        );
        assert_eq!(
            live_restore_configured(Some(&j), &args("dockerd")),
            Some(true)
        );
        assert_eq!(
            live_restore_configured(Some(&j), &args("dockerd --live-restore=false")),
            Some(false)
        );
        assert_eq!(
            live_restore_configured(Some(&json!({})), &args("dockerd")),
            None
        );
    }

    #[test]
    fn what_must_run_afterwards() {
        let c = |id: &str, running: bool, policy: &str| ContainerSeen {
            id: id.into(),
            name: format!("/{id}"),
            running,
            restart_policy: policy.into(),
            pid: None,
        };
        let before = vec![
            c("a", true, "always"),
            c("b", true, "unless-stopped"),
            c("c", true, "on-failure"),
            c("d", true, "no"),
            c("e", false, "always"),
        ];
        let ids = |v: &[Expected]| v.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&expected_running(&before, false)), ["a", "b"]);
        assert_eq!(ids(&expected_running(&before, true)), ["a", "b", "c", "d"]);
        let exp = expected_running(&before, true);
        let after = vec![
            c("a", true, "always"),
            c("b", false, "unless-stopped"),
            c("d", true, "no"),
        ];
        let gone: Vec<&str> = missing(&exp, &after)
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(gone, ["b", "c"]);
        assert_eq!(will_stop(&before, Some(true)).len(), 0);
        assert_eq!(will_stop(&before, None).len(), 4);
    }

    #[test]
    fn a_failed_capture_never_reads_as_gone() {
        use Presence::*;
        // (captured start time, what is at the pid now, want)
        let cases = [
            (500, None, Gone),
            (500, Some((500, 'S')), Alive),
            (500, Some((500, 'D')), Alive),
            (500, Some((500, 'Z')), Gone),
            (500, Some((900, 'S')), Gone),
            // The capture failed (0): nothing there, or a zombie, is still gone ...
            (0, None, Gone),
            (0, Some((900, 'Z')), Gone),
            // ... but a live process may be the old daemon itself: not known, never "gone".
            (0, Some((500, 'S')), Unknown),
            (0, Some((900, 'R')), Unknown),
        ];
        for (ticks, seen, want) in cases {
            assert_eq!(presence(ticks, seen), want, "{ticks} {seen:?}");
        }
    }
}
