//! The stop stage: check that the daemon at the socket is still the one the diagnosis judged,
//! stop it (service manager, else the escalation on its process), and wait until it is gone —
//! the same process, by pid and start time. Anything that says the process is no longer the one
//! judged ends the run before the clean-up or a start.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::diagnose::DaemonSeen;
use super::document::Verdict;
use super::plan::{self, Stage};
use super::stages::{Halt, Recovery};
use crate::actions::{Action, DaemonStop, Outcome, Step, StepReport};
use crate::policy::daemon::recovery::{Presence, presence};
use crate::runtime::blocking;
use crate::runtime::daemon::Located;

/// The pid and start time of a process (`0`: not read).
type Pinned = (i32, u64);

impl Recovery<'_> {
    /// The daemon may have been restarted since the diagnosis (by its service manager, an
    /// admin, a watchdog): then a new process serves the socket and every judgment made for the
    /// old one — stop it, clean its files, start another — would hit the newcomer. Looks who
    /// serves the socket now and ends the run when it is not the process diagnosed.
    pub(super) async fn still_the_daemon_diagnosed(&mut self) -> Halt {
        let ep = self.ctx.settings.endpoint.clone();
        let serving =
            blocking(
                self.ctx.settings.timeout * 2,
                move || match crate::runtime::daemon::locate(&ep) {
                    Located::Found(d) => {
                        let pid = d.info.pid;
                        let ticks =
                            crate::actions::process::observe(pid).map_or(0, |o| o.start_ticks);
                        Some((pid, ticks))
                    }
                    _ => None,
                },
            )
            .await
            // Not known in time: the stop's own pinning (pid + start time) still guards the old one.
            .flatten();
        let old = self
            .diag
            .process
            .as_ref()
            .map(|p| (p.pid, p.target.as_ref().map_or(0, |t| t.id.start_ticks)));
        match replaced(old, serving) {
            Some(why) => self.halt(Verdict::Failed, why),
            None => ControlFlow::Continue(()),
        }
    }

    /// Stops the old daemon and waits until it is gone; a process that cannot be killed, one
    /// that is no longer the daemon, or one still there ends the run.
    pub(super) async fn stop(&mut self, p: &DaemonSeen) -> Halt {
        let (diag, grace) = (self.diag, self.knobs.grace);
        let how = plan::stopper(diag, grace);
        let manager = how
            .as_ref()
            .is_some_and(|h| !matches!(h, DaemonStop::Process { .. }));
        let stop = how.map(|how| {
            Step::new(
                Action::StopDaemon { how, grace },
                format!("{} ({})", diag.need.why(), diag.health.name()),
            )
        });
        let r = self.apply(Stage::Stop, stop.into_iter().collect()).await;
        let mut failure = first_failure(&r);
        self.unless_unkillable_or_changed(p.pid, &failure, &r)?;
        let ticks = p.target.as_ref().map_or(0, |t| t.id.start_ticks);
        let first_wait = Duration::from_secs(if manager { 2 } else { 10 });
        let mut gone = wait_gone(p.pid, ticks, first_wait).await;
        let shutdown = self.actor.shutdown().is_triggered();
        if gone == Presence::Alive
            && manager
            && !shutdown
            && let Some(how) = plan::process_stop(diag, grace)
        {
            // The service manager's stop left the process: the escalation on the process.
            let step = Step::new(
                Action::StopDaemon { how, grace },
                "the service manager's stop did not end the process",
            );
            let r = self.apply(Stage::Stop, vec![step]).await;
            failure = r
                .iter()
                .find(|s| s.outcome.is_failure())
                .and_then(|s| s.outcome.detail().map(str::to_string));
            self.unless_unkillable_or_changed(p.pid, &failure, &r)?;
            gone = wait_gone(p.pid, ticks, Duration::from_secs(10)).await;
        }
        self.judge_gone(p.pid, gone, failure)
    }

    fn unless_unkillable_or_changed(
        &mut self,
        pid: i32,
        failure: &Option<String>,
        r: &[StepReport],
    ) -> Halt {
        if let Some(e) = failure
            && crate::actions::process::is_unkillable(e)
        {
            return self.halt(
                Verdict::RebootNeeded,
                format!("dockerd pid {pid}: {e}; nothing else was touched"),
            );
        }
        if let Some(why) = r.iter().find_map(|s| stop_halts(&s.outcome)) {
            return self.halt(Verdict::Failed, halted(pid, why));
        }
        ControlFlow::Continue(())
    }

    fn judge_gone(&mut self, pid: i32, gone: Presence, failure: Option<String>) -> Halt {
        match gone {
            Presence::Gone => ControlFlow::Continue(()),
            Presence::Unknown => self.halt(
                Verdict::Failed,
                format!(
                    "whether dockerd pid {pid} ended is not known: its start time was not read at the diagnosis, and a live process holds that pid now (the old daemon, or a newcomer); nothing was cleaned or started — check `ps -p {pid}`, then run dockhand recover again"
                ),
            ),
            Presence::Alive if self.actor.shutdown().is_triggered() => {
                self.unless_interrupted("while stopping the daemon")
            }
            Presence::Alive => self.halt(
                Verdict::Failed,
                format!(
                    "dockerd pid {pid} is still running after the stop{}; nothing was cleaned or started",
                    failure.map(|f| format!(" ({f})")).unwrap_or_default()
                ),
            ),
        }
    }
}

/// The first failure of a stop: what failed, was refused, or found another process.
fn first_failure(r: &[StepReport]) -> Option<String> {
    r.iter().find_map(|s| match &s.outcome {
        Outcome::Failed { error } => Some(error.clone()),
        Outcome::Refused { why } | Outcome::Changed { why } => Some(why.clone()),
        _ => None,
    })
}

/// Why the run must end because another daemon serves the socket than the one diagnosed
/// (`old`, pid and start time), as `serving` (pid and start time, `None`: no daemon identified
/// there) shows; `None` when it may go on.
fn replaced(old: Option<Pinned>, serving: Option<Pinned>) -> Option<String> {
    let (pid, ticks) = serving?;
    let rest = "nothing was stopped, cleaned or started; run dockhand recover again to judge the daemon that runs now";
    match old {
        None => Some(format!(
            "a daemon came up since the diagnosis (dockerd pid {pid} serves the socket now); {rest}"
        )),
        Some((old_pid, _)) if old_pid != pid => Some(format!(
            "the daemon was restarted since the diagnosis: dockerd pid {pid} serves the socket now, not pid {old_pid}; {rest}"
        )),
        // The same pid with another start time: the pid was reused by the new daemon.
        Some((_, old_ticks)) if old_ticks != 0 && ticks != 0 && old_ticks != ticks => {
            Some(format!(
                "the daemon was restarted since the diagnosis: pid {pid} is a new dockerd (started at tick {ticks}, the diagnosis saw tick {old_ticks}); {rest}"
            ))
        }
        Some(_) => None,
    }
}

/// Waits up to `within` for the old daemon (`pid`, started at `start_ticks`; 0 when that was
/// never captured) to be gone, as [`presence`] judges it; the last judgment otherwise.
pub(super) async fn wait_gone(pid: i32, start_ticks: u64, within: Duration) -> Presence {
    let deadline = Instant::now() + within;
    loop {
        let now = blocking(Duration::from_secs(3), move || {
            crate::actions::process::observe(pid).map(|o| (o.start_ticks, o.state))
        })
        .await
        // A read of its /proc that hangs: a process is there, stuck in the kernel.
        .map_or(Presence::Alive, |seen| presence(start_ticks, seen));
        if now == Presence::Gone || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reason a stop step's outcome ends the recovery there: "changed" means the process the
/// stop was for is no longer the one it found (another daemon at the socket now, a pid reused),
/// so nothing judged for the old one — another kill, the clean-up, a start — may follow.
fn stop_halts(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Changed { why } => Some(why),
        _ => None,
    }
}

/// The sentence that ends a recovery halted by [`stop_halts`].
fn halted(pid: i32, why: &str) -> String {
    format!(
        "dockerd pid {pid} was not stopped: {why}; another daemon may be serving the socket now, so nothing else was stopped, cleaned or started (run dockhand recover again to judge what runs now)"
    )
}

/// The containerd a dockerd supervised dies with it (a parent-death signal) but may take a
/// moment: waits up to `within` for the process its pid file names to be gone (or a zombie), so
/// the clean-up judges that file on what is, not on a process about to exit. One that stays is
/// left alone: the next dockerd adopts it.
pub(super) async fn settle_containerd(pidfile: &std::path::Path, within: Duration) {
    let p = pidfile.to_path_buf();
    let Some(Some(pid)) = blocking(Duration::from_secs(2), move || {
        crate::runtime::pidfile::pid_in(&p)
    })
    .await
    else {
        return;
    };
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let alive = blocking(Duration::from_secs(2), move || {
            crate::actions::process::observe(pid).is_some_and(|o| {
                !matches!(o.state, 'Z' | 'X' | 'x')
                    && crate::runtime::host::docker_program(pid, None)
                        == Some(crate::policy::identity::DockerProgram::Containerd)
            })
        })
        .await
        .unwrap_or(false);
        if !alive {
            return;
        }
        // Only an orphan is on its way out; one with a live dockerd parent is that daemon's.
        let orphan = blocking(Duration::from_secs(2), move || {
            crate::actions::process::observe(pid)
                .and_then(|o| crate::actions::process::observe(o.ppid))
                .is_none_or(|parent| {
                    matches!(parent.state, 'Z' | 'X' | 'x')
                        || crate::runtime::host::docker_program(parent.pid, None)
                            != Some(crate::policy::identity::DockerProgram::Dockerd)
                })
        })
        .await
        .unwrap_or(false);
        if !orphan {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The integration tests' seam for "the daemon was restarted between the diagnosis and the
/// stop" (debug builds only; a release build has no such pause): with
/// `DOCKHAND_TEST_PAUSE_BEFORE_STOP=DIR`, the run creates `DIR/paused` right before it judges
/// who serves the socket, and waits (at most 60 s) until `DIR/resume` exists.
#[cfg(debug_assertions)]
pub(super) async fn pause_before_stop() {
    let Some(dir) = std::env::var_os("DOCKHAND_TEST_PAUSE_BEFORE_STOP") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    if std::fs::write(dir.join("paused"), b"").is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("resume").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(not(debug_assertions))]
pub(super) async fn pause_before_stop() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_that_found_another_process_ends_the_recovery() {
        let changed = Outcome::Changed {
            why: "pid 42 is another process now (started later)".into(),
        };
        assert_eq!(
            stop_halts(&changed),
            Some("pid 42 is another process now (started later)")
        );
        let sentence = halted(42, stop_halts(&changed).unwrap_or_default());
        assert!(
            sentence.contains("nothing else was stopped, cleaned or started"),
            "{sentence}"
        );
        // Every other outcome goes on to judge whether the process is gone.
        for o in [
            Outcome::Done { bytes: None },
            Outcome::AlreadyGone,
            Outcome::Failed {
                error: "systemctl stop docker: exit 1".into(),
            },
            Outcome::Refused {
                why: "outside the scope".into(),
            },
            Outcome::NotStarted,
        ] {
            assert_eq!(stop_halts(&o), None, "{o:?}");
        }
    }

    #[test]
    fn another_daemon_at_the_socket_than_the_one_diagnosed_ends_the_recovery() {
        // The one diagnosed still serves (its start time read or not): go on.
        assert_eq!(replaced(Some((10, 500)), Some((10, 500))), None);
        assert_eq!(replaced(Some((10, 0)), Some((10, 500))), None);
        // Nobody identified at the socket: the old one died or hangs; the stop judges it.
        assert_eq!(replaced(Some((10, 500)), None), None);
        assert_eq!(replaced(None, None), None);
        // A new pid, a reused pid, a daemon where none was.
        let new_pid = replaced(Some((10, 500)), Some((11, 900))).unwrap_or_default();
        assert!(
            new_pid.contains("restarted since the diagnosis")
                && new_pid.contains("pid 11 serves the socket now, not pid 10")
                && new_pid.contains("nothing was stopped, cleaned or started"),
            "{new_pid}"
        );
        let reused = replaced(Some((10, 500)), Some((10, 900))).unwrap_or_default();
        assert!(reused.contains("pid 10 is a new dockerd"), "{reused}");
        let came_up = replaced(None, Some((12, 1))).unwrap_or_default();
        assert!(came_up.contains("a daemon came up"), "{came_up}");
    }

    #[tokio::test]
    async fn waiting_for_a_process_whose_start_time_was_not_captured_never_says_gone() {
        let me = std::process::id() as i32;
        let ticks = crate::actions::process::observe(me)
            .map(|o| o.start_ticks)
            .unwrap_or_default();
        assert!(ticks > 0, "this test's own start time");
        let within = Duration::from_millis(150);
        // A failed capture (0) with a live process at the pid: not known, after the wait.
        assert_eq!(wait_gone(me, 0, within).await, Presence::Unknown);
        assert_eq!(wait_gone(me, ticks, within).await, Presence::Alive);
        // Another start time at the pid: the old process is gone.
        assert_eq!(wait_gone(me, ticks + 1, within).await, Presence::Gone);
    }
}
