//! Stopping and starting the daemon, through its service manager or by hand.
//!
//! Kept deliberately small: `recover` decides when (stack dump first, live-restore, the start
//! limit) and verifies the result by pinging the engine; these only do the one thing, bounded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use nix::sys::signal::Signal;

use super::plan::{DaemonStart, DaemonStop, Manager, Outcome, service_argv};
use super::process::{self, ProcEnd, ProcLimits, SignalEvent};

/// How long a started daemon must stay up before the start counts as done.
pub const SETTLE: Duration = Duration::from_millis(200);

pub use crate::runtime::command::{Ran, run_bounded};

/// Runs a service manager's command, bounded.
async fn manager(argv: Vec<String>, deadline: Duration) -> Result<Ran, String> {
    crate::runtime::command::run(argv, None, deadline).await
}

pub fn proc_outcome(end: ProcEnd) -> Outcome {
    match end {
        ProcEnd::Done => Outcome::Done { bytes: None },
        ProcEnd::Gone => Outcome::AlreadyGone,
        ProcEnd::Refused(why) => Outcome::Refused { why },
        ProcEnd::Changed(why) => Outcome::Changed { why },
        ProcEnd::Failed(error) => Outcome::Failed { error },
    }
}

/// Stops the daemon. systemd: `systemctl stop` bounded by the grace plus a margin (systemd
/// itself escalates to SIGKILL after the unit's TimeoutStopSec), then the unit must not be
/// active. OpenRC and sysvinit: their `stop`, bounded the same way (the caller checks the
/// process is gone: a Debian init script's stop can "succeed" while dockerd lives on). No
/// service manager: TERM → grace → TERM → again → KILL on the daemon's own process.
pub async fn stop(
    how: &DaemonStop,
    grace: Duration,
    limits: ProcLimits,
    on_signal: &mut (dyn FnMut(SignalEvent) + Send),
) -> (Outcome, Value) {
    let argv = match how {
        DaemonStop::Process { target, again } => {
            let mut schedule = vec![(Signal::SIGTERM, grace)];
            if !again.is_zero() {
                schedule.push((Signal::SIGTERM, *again));
            }
            let end = process::escalate(target, &schedule, limits, on_signal).await;
            return (proc_outcome(end), Value::Null);
        }
        other => other.argv().unwrap_or_default(),
    };
    let shown = argv.join(" ");
    let ran = match manager(argv, grace + Duration::from_secs(30)).await {
        Ok(r) => r,
        Err(error) => return (Outcome::Failed { error }, Value::Null),
    };
    if !ran.ok() {
        return (
            Outcome::Failed {
                error: format!("{shown}: {}", ran.why()),
            },
            Value::Null,
        );
    }
    let DaemonStop::Systemd { unit } = how else {
        return (Outcome::Done { bytes: None }, Value::Null);
    };
    let active = manager(
        vec!["systemctl".into(), "is-active".into(), unit.clone()],
        Duration::from_secs(10),
    )
    .await;
    // is-active exits 0 only when the unit is active (or activating again: socket activation,
    // Restart=always).
    match active {
        Ok(r) if r.ok() => (
            Outcome::Failed {
                error: format!(
                    "{unit} is active again after the stop (socket activation or Restart=always)"
                ),
            },
            json!({ "active": true }),
        ),
        _ => (Outcome::Done { bytes: None }, json!({ "active": false })),
    }
}

/// Starts the daemon through its service manager, or (none) by running the command line in its
/// own process group (a Ctrl-C in dockhand's terminal does not reach it), detached; done if it
/// is still running after [`SETTLE`] or exited 0 by then (a launcher that daemonized it), failed
/// if it exited non-zero. OpenRC: a service marked "crashed" is zapped first.
pub async fn start(how: &DaemonStart, deadline: Duration) -> (Outcome, Value) {
    if let DaemonStart::Command { argv, log } = how {
        return start_command(argv, log.as_deref()).await;
    }
    let mut seen = Value::Null;
    if let DaemonStart::Openrc { service } = how {
        let status = manager(
            service_argv(Manager::Openrc(service), "status"),
            Duration::from_secs(10),
        )
        .await;
        if let Ok(r) = status
            && openrc_crashed(&r.stdout, &r.stderr)
        {
            let zap = manager(
                service_argv(Manager::Openrc(service), "zap"),
                Duration::from_secs(10),
            )
            .await;
            seen = json!({ "zapped": zap.is_ok_and(|r| r.ok()) });
        }
    }
    let argv = how.argv();
    let shown = argv.join(" ");
    match manager(argv, deadline).await {
        Ok(r) if r.ok() => (Outcome::Done { bytes: None }, seen),
        Ok(r) => (
            Outcome::Failed {
                error: format!("{shown}: {}", r.why()),
            },
            seen,
        ),
        Err(error) => (Outcome::Failed { error }, seen),
    }
}

/// `rc-service docker status` of a service whose process died under OpenRC: "status: crashed".
pub fn openrc_crashed(stdout: &str, stderr: &str) -> bool {
    stdout
        .lines()
        .chain(stderr.lines())
        .any(|l| l.contains("status:") && l.contains("crashed"))
}

/// `systemctl reset-failed UNIT`.
pub async fn reset_failed(unit: &str) -> (Outcome, Value) {
    let argv = service_argv(Manager::Systemd(unit), "reset-failed");
    let shown = argv.join(" ");
    match manager(argv, Duration::from_secs(10)).await {
        Ok(r) if r.ok() => (Outcome::Done { bytes: None }, Value::Null),
        Ok(r) => (
            Outcome::Failed {
                error: format!("{shown}: {}", r.why()),
            },
            Value::Null,
        ),
        Err(error) => (Outcome::Failed { error }, Value::Null),
    }
}

async fn start_command(argv: &[String], log: Option<&Path>) -> (Outcome, Value) {
    use std::os::unix::process::CommandExt;
    let Some((prog, args)) = argv.split_first() else {
        return (
            Outcome::Failed {
                error: "the start command is empty".into(),
            },
            Value::Null,
        );
    };
    let (out, err) = match log {
        Some(p) => {
            // The daemon's log (root's, in the state dir by default): 0600, and a symlink a
            // user planted at its path is never followed.
            let f = crate::runtime::files::open_append_private(p);
            match f.and_then(|f| Ok((f.try_clone()?, f))) {
                Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
                Err(e) => {
                    return (
                        Outcome::Failed {
                            error: format!("cannot open the log {}: {e}", p.display()),
                        },
                        Value::Null,
                    );
                }
            }
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let mut child = match Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return (
                Outcome::Failed {
                    error: format!("cannot run {}: {e}", crate::util::sanitize(prog)),
                },
                Value::Null,
            );
        }
    };
    let pid = child.id();
    tokio::time::sleep(SETTLE).await;
    match child.try_wait() {
        // An init-style launcher (`service docker start`, a wrapper that daemonizes dockerd)
        // starts the daemon and returns 0: that is a start, and only the verification that
        // follows (the socket answers, the daemon is identified) can tell whether it worked.
        Ok(Some(status)) if status.success() => (
            Outcome::Done { bytes: None },
            json!({ "pid": pid, "launcher_exited": status.code() }),
        ),
        Ok(Some(status)) => (
            Outcome::Failed {
                error: format!(
                    "{} exited at once ({status}){}",
                    crate::util::sanitize(prog),
                    log.map(|p| format!("; see {}", p.display()))
                        .unwrap_or_default()
                ),
            },
            json!({ "pid": pid }),
        ),
        _ => {
            // Someone must reap it if it exits while we still run; after we exit, init does.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            (Outcome::Done { bytes: None }, json!({ "pid": pid }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openrc_status_says_crashed() {
        assert!(openrc_crashed(" * status: crashed\n", ""));
        assert!(!openrc_crashed(" * status: started\n", ""));
        assert!(!openrc_crashed("", " * status: stopped"));
    }

    #[tokio::test]
    async fn a_start_command_that_exits_non_zero_fails_and_one_that_stays_or_exits_0_is_done() {
        let (o, _) = start(
            &DaemonStart::Command {
                argv: vec!["false".into()],
                log: None,
            },
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(o, Outcome::Failed { ref error } if error.contains("exited at once")),
            "{o:?}"
        );
        let (o, seen) = start(
            &DaemonStart::Command {
                argv: vec!["sleep".into(), "30".into()],
                log: None,
            },
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(o, Outcome::Done { bytes: None });
        assert_eq!(seen["launcher_exited"], serde_json::Value::Null, "{seen}");
        let pid = seen["pid"].as_i64().expect("pid") as i32;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        // A launcher that returns 0 at once: a start; the caller's verification judges it.
        let (o, seen) = start(
            &DaemonStart::Command {
                argv: vec!["true".into()],
                log: None,
            },
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(o, Outcome::Done { bytes: None });
        assert_eq!(seen["launcher_exited"], 0, "{seen}");
    }
}
