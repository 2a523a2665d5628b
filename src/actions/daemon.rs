//! Stopping and starting the daemon, through its service manager or by hand.
//!
//! Kept deliberately small: `recover` decides when (stack dump first, live-restore, the start
//! limit) and verifies the result by pinging the engine; these only do the one thing, bounded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::plan::{DaemonStart, DaemonStop, Outcome};
use super::process::{self, ProcEnd, ProcLimits, SignalEvent};

/// How long a started daemon must stay up before the start counts as done.
pub const SETTLE: Duration = Duration::from_secs(1);

/// What a bounded command did.
#[derive(Debug)]
pub struct Ran {
    pub status: Option<i32>,
    pub stderr: String,
    pub timed_out: bool,
}

impl Ran {
    fn ok(&self) -> bool {
        self.status == Some(0)
    }

    /// The command's own complaint, first line, for the outcome.
    fn why(&self) -> String {
        if self.timed_out {
            return "it did not finish in time and was killed".into();
        }
        let line = self
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        match self.status {
            Some(c) if line.is_empty() => format!("it exited with status {c}"),
            Some(c) => format!(
                "it exited with status {c}: {}",
                crate::util::sanitize(line.trim())
            ),
            None => "it was killed by a signal".into(),
        }
    }
}

/// Runs `argv` with stdin and stdout closed, killing it when it overruns `deadline`.
/// Synchronous: call it through `runtime::blocking`.
pub fn run_bounded(argv: &[&str], deadline: Duration) -> std::io::Result<Ran> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err {
            use std::io::Read;
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let end = Instant::now() + deadline;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= end {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Ran {
        status: status.code(),
        stderr: reader.join().unwrap_or_default(),
        timed_out,
    })
}

async fn systemctl(args: Vec<String>, deadline: Duration) -> Result<Ran, String> {
    let shown = format!("systemctl {}", args.join(" "));
    let r = crate::runtime::blocking(deadline + Duration::from_secs(2), move || {
        let mut argv: Vec<&str> = vec!["systemctl"];
        argv.extend(args.iter().map(String::as_str));
        run_bounded(&argv, deadline)
    })
    .await;
    match r {
        Some(Ok(ran)) => Ok(ran),
        Some(Err(e)) => Err(format!("cannot run `{shown}`: {e}")),
        None => Err(format!("`{shown}` did not finish in time")),
    }
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
/// active. No service manager: the TERM → grace → KILL escalation on the daemon's process.
pub async fn stop(
    how: &DaemonStop,
    grace: Duration,
    limits: ProcLimits,
    on_signal: &mut (dyn FnMut(SignalEvent) + Send),
) -> (Outcome, Value) {
    match how {
        DaemonStop::Process { target } => {
            let end = process::terminate(target, grace, limits, on_signal).await;
            (proc_outcome(end), Value::Null)
        }
        DaemonStop::Systemd { unit } => {
            let deadline = grace + Duration::from_secs(30);
            let ran = match systemctl(vec!["stop".into(), unit.clone()], deadline).await {
                Ok(r) => r,
                Err(error) => return (Outcome::Failed { error }, Value::Null),
            };
            if !ran.ok() {
                return (
                    Outcome::Failed {
                        error: format!("systemctl stop {unit}: {}", ran.why()),
                    },
                    Value::Null,
                );
            }
            let active = systemctl(
                vec!["is-active".into(), unit.clone()],
                Duration::from_secs(10),
            )
            .await;
            // is-active exits 0 only when the unit is active (or activating again: socket
            // activation, Restart=always).
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
    }
}

/// Starts the daemon. systemd: `systemctl reset-failed` (a restart loop may have hit the start
/// limit), then `systemctl start`. No service manager: the command line, in its own process
/// group (a Ctrl-C in dockhand's terminal does not reach it), detached; done if it is still
/// running after [`SETTLE`].
pub async fn start(how: &DaemonStart, deadline: Duration) -> (Outcome, Value) {
    match how {
        DaemonStart::Systemd { unit } => {
            // Its failure (nothing to reset) is not ours.
            let _ = systemctl(
                vec!["reset-failed".into(), unit.clone()],
                Duration::from_secs(10),
            )
            .await;
            match systemctl(vec!["start".into(), unit.clone()], deadline).await {
                Ok(r) if r.ok() => (Outcome::Done { bytes: None }, Value::Null),
                Ok(r) => (
                    Outcome::Failed {
                        error: format!("systemctl start {unit}: {}", r.why()),
                    },
                    Value::Null,
                ),
                Err(error) => (Outcome::Failed { error }, Value::Null),
            }
        }
        DaemonStart::Command { argv, log } => start_command(argv, log.as_deref()).await,
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
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p);
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
    fn bounded_commands_report_status_and_overruns() {
        let r = run_bounded(
            &["sh", "-c", "echo oops >&2; exit 3"],
            Duration::from_secs(5),
        )
        .expect("runs");
        assert_eq!(r.status, Some(3));
        assert_eq!(r.why(), "it exited with status 3: oops");
        let t = Instant::now();
        let r = run_bounded(&["sleep", "30"], Duration::from_millis(200)).expect("runs");
        assert!(r.timed_out);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_start_command_that_exits_at_once_fails_and_one_that_stays_is_done() {
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
        let pid = seen["pid"].as_i64().expect("pid") as i32;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
