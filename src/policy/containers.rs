//! Verdicts of the containers area (see [`crate::policy`]): which containers are stopped and for
//! how long, which are litter, which loop, which are unhealthy, which exited at once although
//! they were meant to keep running, whose command starts with docker's own options, whose
//! process is gone.
//!
//! Every function judges the typed record as the run gathered it
//! ([`ContainerRecord`], from the daemon's own files or the engine) — no copy per check, which on
//! a host with ten thousand containers is what keeps a doctor run small. Times are seconds since
//! the epoch; `now` is passed in.

use std::time::Duration;

use crate::runtime::executable::Program;
use crate::runtime::inventory::{ContainerRecord, RecordHealth};

mod generated_names;
mod run_options;
mod servers;

pub use generated_names::is_generated_name;
pub use run_options::{Misplaced, misplaced};
pub use servers::{Foreground, Server, daemonizing_server, program_to_identify};

// ---------------------------------------------------------------------------------------------
// Stopped containers: containers.exited, containers.littering, and gc
// ---------------------------------------------------------------------------------------------

/// Not running and not about to run — exited, created (never started) or dead: what
/// `docker container prune` would remove. `removing` is on its way out already; `restarting`
/// will run again.
pub fn stopped(c: &ContainerRecord) -> bool {
    matches!(c.state_word(), "exited" | "created" | "dead")
}

/// Stuck in `dead`: a removal that failed half-way (a busy mount, moby#27381). The engine keeps
/// it until removed again; `dockhand reap` removes it (without force: a 409 leaves it).
/// `removing` is a removal under way and is never touched.
pub fn stuck_dead(c: &ContainerRecord) -> bool {
    c.state_word() == "dead"
}

/// When a stopped container stopped: its `FinishedAt`, or its creation when it never ran (or
/// the engine kept no finish time, as for some dead ones). `None` for a container that is not
/// stopped, or has no time at all.
pub fn stopped_since(c: &ContainerRecord) -> Option<f64> {
    match c.state_word() {
        "created" => c.created,
        "exited" | "dead" => c.state.finished_at.or(c.created),
        _ => None,
    }
}

/// A stopped container's age against the grace period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grace {
    /// Stopped less than the grace period ago: kept, whatever else holds.
    Within { age_s: f64 },
    /// Stopped at least the grace period ago.
    Past { age_s: f64 },
}

impl Grace {
    pub fn age_s(self) -> f64 {
        match self {
            Grace::Within { age_s } | Grace::Past { age_s } => age_s,
        }
    }

    pub fn past(self) -> bool {
        matches!(self, Grace::Past { .. })
    }
}

/// How long a stopped container has been stopped (see [`stopped_since`]), judged against
/// `grace_s`; `None` when it is not stopped. A stop time in the future (clocks disagree) is an
/// age of 0; so is no time at all, which only a grace of 0 lets past.
pub fn stopped_grace(c: &ContainerRecord, grace_s: f64, now: f64) -> Option<Grace> {
    if !stopped(c) {
        return None;
    }
    let age_s = stopped_since(c).map_or(0.0, |t| (now - t).max(0.0));
    Some(if age_s >= grace_s.max(0.0) {
        Grace::Past { age_s }
    } else {
        Grace::Within { age_s }
    })
}

/// The age of a container stopped at least `grace_s` ago; `None` for one that is not stopped or
/// is younger.
pub fn stopped_past_grace(c: &ContainerRecord, grace_s: f64, now: f64) -> Option<f64> {
    stopped_grace(c, grace_s, now)
        .filter(|g| g.past())
        .map(Grace::age_s)
}

/// Left behind by `docker run` without `--rm` and without `--name`: stopped, not auto-removed,
/// with a name Docker generated.
pub fn is_litter(c: &ContainerRecord) -> bool {
    stopped(c) && !c.host_config.auto_remove && is_generated_name(c.name())
}

/// A count threshold from the config as a whole count: fractions round down; a value that is
/// not a number, or below zero, is 0 (any at all is too many); infinity is as many as there can
/// be.
pub fn count_threshold(v: f64) -> usize {
    if v.is_nan() || v <= 0.0 {
        0
    } else if v >= usize::MAX as f64 {
        usize::MAX
    } else {
        v.floor() as usize
    }
}

/// More than a count threshold allows (see [`count_threshold`]).
pub fn over_count(n: usize, warn_count: f64) -> bool {
    n > count_threshold(warn_count)
}

// ---------------------------------------------------------------------------------------------
// containers.restart-loop
// ---------------------------------------------------------------------------------------------

/// A `die` event from the engine's buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Die {
    pub id: String,
    pub name: String,
    /// Seconds since the epoch.
    pub time: f64,
    pub exit_code: Option<i64>,
}

/// When a container counts as looping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopThresholds {
    /// Restarts by its policy (`RestartCount`) at or above which it loops.
    pub restart_count: f64,
    /// Deaths of its name in the window at or above which it loops.
    pub dies: f64,
}

/// Why a container counts as looping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopReason {
    /// The daemon is waiting out the back-off before the next restart.
    RestartingNow,
    /// Restarted this many times by its policy since it was last started by hand.
    Restarted(u64),
    /// Its name died this many times in the window.
    Died(usize),
}

/// Why a container loops (empty: it does not). `restarting` is `State.Restarting`; a zero
/// threshold does not make every container a loop — at least one restart or death is needed.
pub fn loop_reasons(
    restarting: bool,
    restart_count: u64,
    dies: usize,
    th: LoopThresholds,
) -> Vec<LoopReason> {
    let mut why = Vec::new();
    if restarting && restart_count >= 1 {
        why.push(LoopReason::RestartingNow);
    }
    if restart_count > 0 && restart_count as f64 >= th.restart_count {
        why.push(LoopReason::Restarted(restart_count));
    }
    if dies > 0 && dies as f64 >= th.dies {
        why.push(LoopReason::Died(dies));
    }
    why
}

/// [`loop_reasons`] for a container's record and its name's deaths in the window.
pub fn container_loops(c: &ContainerRecord, dies: usize, th: LoopThresholds) -> Vec<LoopReason> {
    loop_reasons(c.state_word() == "restarting", c.restart_count, dies, th)
}

/// How far back the engine's event buffer reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The buffer was full: older events were dropped, the counts are lower bounds for less
    /// than the window.
    pub full: bool,
    /// Seconds back from now the counts cover.
    pub covers_s: u64,
}

/// The reach of `total` events returned for a `window_s` window, the oldest at `oldest`, from
/// a buffer that keeps `kept` events of every kind.
pub fn event_reach(
    total: usize,
    oldest: Option<f64>,
    now: f64,
    window_s: u64,
    kept: usize,
) -> Reach {
    let full = total >= kept;
    let covers_s = if full {
        oldest
            .map_or(0, |o| (now - o).max(0.0) as u64)
            .min(window_s)
    } else {
        window_s
    };
    Reach { full, covers_s }
}

// ---------------------------------------------------------------------------------------------
// containers.unhealthy
// ---------------------------------------------------------------------------------------------

/// Running (or paused) — its process is there, whatever it does.
pub fn running(c: &ContainerRecord) -> bool {
    matches!(c.state_word(), "running" | "paused")
}

/// The health of a running container whose check says unhealthy; `None` otherwise ("starting"
/// is not unhealthy).
pub fn unhealthy(c: &ContainerRecord) -> Option<&RecordHealth> {
    if !running(c) {
        return None;
    }
    c.state
        .health
        .as_deref()
        .filter(|h| h.status == "unhealthy")
}

/// How long a health check has been failing, as far as the kept results tell: from the start of
/// the oldest failure in the unbroken run of failures at the end of the log. With a streak
/// longer than the log, the streak times the interval is the better estimate; the earlier of
/// the two wins.
pub fn failing_since(h: &RecordHealth, interval: Option<Duration>, now: f64) -> Option<f64> {
    let run: Vec<_> = h
        .log
        .iter()
        .rev()
        .take_while(|p| p.exit_code != 0)
        .collect();
    let from_log = run.last().and_then(|p| p.start.or(p.end));
    let from_streak = interval
        .filter(|_| h.failing_streak as usize > run.len())
        .map(|i| now - i.as_secs_f64() * h.failing_streak as f64);
    match (from_log, from_streak) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

// ---------------------------------------------------------------------------------------------
// containers.exits-immediately
// ---------------------------------------------------------------------------------------------

/// The last run of a container that is not running now: exited with 0 within `max_run_s`
/// seconds of starting. Returns how long it ran.
pub fn quick_clean_exit(c: &ContainerRecord, max_run_s: f64) -> Option<f64> {
    if !matches!(c.state_word(), "exited" | "restarting") || c.state.exit_code != 0 {
        return None;
    }
    let (start, end) = (c.state.started_at?, c.state.finished_at?);
    // The finish can read a few ms before the start (two clocks); a finish long before the start
    // means the times are from different runs.
    if end < start - 1.0 {
        return None;
    }
    let ran = (end - start).max(0.0);
    (ran <= max_run_s).then_some(ran)
}

/// What says a container was meant to keep running. A detached job that finished has none of
/// these, however often it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// A known server run without its foreground option: it went to the background.
    Server(Server),
    /// Its restart policy starts it again after a clean exit (`always`, `unless-stopped`);
    /// `on-failure` does not restart after 0, and says nothing.
    RestartPolicy { policy: String, restarts: u64 },
    /// It publishes these ports on the host (`-p`).
    Published(Vec<String>),
    /// Its image or `--expose` declares these ports (those not also published).
    Exposed(Vec<String>),
}

impl Intent {
    /// How strongly it says so, 0 the strongest: a server that went to the background says what
    /// happened and what to change; ports an image exposes say least.
    pub fn rank(&self) -> u8 {
        match self {
            Intent::Server(_) => 0,
            Intent::RestartPolicy { .. } => 1,
            Intent::Published(_) => 2,
            Intent::Exposed(_) => 3,
        }
    }
}

/// A container that exited with 0 right after starting although it was meant to keep running.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickExit {
    /// How long its last run lasted, in seconds.
    pub ran_s: f64,
    /// Why it was meant to keep running, strongest first; never empty.
    pub intent: Vec<Intent>,
}

impl QuickExit {
    /// Its strongest reason's [`Intent::rank`]: findings list the most telling first.
    pub fn rank(&self) -> u8 {
        self.intent.first().map_or(u8::MAX, Intent::rank)
    }

    /// The known server behind it, if its program is one.
    pub fn server(&self) -> Option<Server> {
        self.intent.iter().find_map(|i| match i {
            Intent::Server(s) => Some(*s),
            _ => None,
        })
    }
}

/// Why `c` was meant to keep running (empty: nothing says so). `exe`: what its program's
/// executable is ([`servers::program_to_identify`]), [`Program::Unknown`] when not looked up.
pub fn intent(c: &ContainerRecord, exe: Program) -> Vec<Intent> {
    let mut why = Vec::new();
    if let Some(s) = daemonizing_server(&c.config.image, &c.command(), exe) {
        why.push(Intent::Server(s));
    }
    let policy = c.host_config.restart_policy.name.as_str();
    if matches!(policy, "always" | "unless-stopped") {
        why.push(Intent::RestartPolicy {
            policy: policy.to_string(),
            restarts: c.restart_count,
        });
    }
    let published: Vec<String> = c.host_config.port_bindings.keys().cloned().collect();
    let exposed: Vec<String> = c
        .config
        .exposed_ports
        .iter()
        .filter(|p| !published.contains(p))
        .cloned()
        .collect();
    if !published.is_empty() {
        why.push(Intent::Published(published));
    }
    if !exposed.is_empty() {
        why.push(Intent::Exposed(exposed));
    }
    why
}

/// `containers.exits-immediately`'s verdict: the last run ended with 0 within `max_run_s` of
/// its start ([`quick_clean_exit`]), and something says it was meant to keep running
/// ([`intent`]).
pub fn exits_immediately(c: &ContainerRecord, max_run_s: f64, exe: Program) -> Option<QuickExit> {
    let ran_s = quick_clean_exit(c, max_run_s)?;
    let intent = intent(c, exe);
    (!intent.is_empty()).then_some(QuickExit { ran_s, intent })
}

// ---------------------------------------------------------------------------------------------
// containers.ghost
// ---------------------------------------------------------------------------------------------

/// What /proc says about a container's main process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidSeen {
    Alive,
    Gone,
    /// Dead but not reaped: its parent (the shim) does not collect it, so the exit never
    /// reaches the daemon.
    Zombie,
}

/// The process's state letter as /proc gives it (`None`: no such process).
pub fn pid_seen(state: Option<char>) -> PidSeen {
    match state {
        None => PidSeen::Gone,
        Some('Z' | 'X') => PidSeen::Zombie,
        Some(_) => PidSeen::Alive,
    }
}

/// The pid of a container the engine calls running, to look for in /proc; `None` when it has no
/// process to look for.
pub fn main_pid(c: &ContainerRecord) -> Option<i32> {
    (running(c) && c.state.pid > 0)
        .then(|| i32::try_from(c.state.pid).ok())
        .flatten()
}

// ---------------------------------------------------------------------------------------------
// containers.logs
// ---------------------------------------------------------------------------------------------

/// A container log's size against the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogSize {
    Small,
    /// At or above the warning size.
    Big,
    /// At or above the critical size.
    Huge,
}

/// How big a log of `bytes` is, against sizes in bytes. An empty log is never big.
pub fn log_size(bytes: u64, warn_bytes: f64, critical_bytes: f64) -> LogSize {
    let b = bytes as f64;
    if bytes == 0 || b < warn_bytes {
        LogSize::Small
    } else if b >= critical_bytes {
        LogSize::Huge
    } else {
        LogSize::Big
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::inventory::{HealthRun, PortBinding};

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A record in `state`, created at 100, started at `start`, finished at `end`.
    fn rec(state: &str, start: Option<f64>, end: Option<f64>) -> ContainerRecord {
        let mut c = ContainerRecord {
            id: "id".into(),
            raw_name: "/x".into(),
            created: Some(100.0),
            ..ContainerRecord::default()
        };
        c.config.image = "busybox".into();
        c.state.status = state.into();
        c.state.started_at = start;
        c.state.finished_at = end;
        c
    }

    #[test]
    fn stopped_containers_and_their_age() {
        // (state, started, finished, created, grace, now) → verdict
        type Case = (
            &'static str,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            f64,
            f64,
            Option<Grace>,
        );
        let cases: &[Case] = &[
            // Age from FinishedAt.
            (
                "exited",
                Some(200.0),
                Some(300.0),
                Some(100.0),
                50.0,
                400.0,
                Some(Grace::Past { age_s: 100.0 }),
            ),
            (
                "exited",
                Some(200.0),
                Some(300.0),
                Some(100.0),
                150.0,
                400.0,
                Some(Grace::Within { age_s: 100.0 }),
            ),
            // Exactly the grace period is past it.
            (
                "exited",
                Some(200.0),
                Some(300.0),
                Some(100.0),
                100.0,
                400.0,
                Some(Grace::Past { age_s: 100.0 }),
            ),
            // Never started: from Created, whatever FinishedAt says.
            (
                "created",
                None,
                None,
                Some(100.0),
                250.0,
                400.0,
                Some(Grace::Past { age_s: 300.0 }),
            ),
            // Dead, with and without a finish time.
            (
                "dead",
                Some(200.0),
                Some(350.0),
                Some(100.0),
                10.0,
                400.0,
                Some(Grace::Past { age_s: 50.0 }),
            ),
            (
                "dead",
                Some(200.0),
                None,
                Some(100.0),
                10.0,
                400.0,
                Some(Grace::Past { age_s: 300.0 }),
            ),
            // A finish in the future (clocks disagree) is age 0.
            (
                "exited",
                Some(200.0),
                Some(500.0),
                Some(100.0),
                1.0,
                400.0,
                Some(Grace::Within { age_s: 0.0 }),
            ),
            // No time at all: only a grace of 0 lets it past.
            (
                "exited",
                Some(200.0),
                None,
                None,
                1.0,
                400.0,
                Some(Grace::Within { age_s: 0.0 }),
            ),
            (
                "exited",
                Some(200.0),
                None,
                None,
                0.0,
                400.0,
                Some(Grace::Past { age_s: 0.0 }),
            ),
            // A negative grace is 0.
            (
                "exited",
                Some(200.0),
                Some(400.0),
                Some(100.0),
                -5.0,
                400.0,
                Some(Grace::Past { age_s: 0.0 }),
            ),
            // Not stopped.
            ("running", Some(200.0), None, Some(100.0), 0.0, 400.0, None),
            (
                "restarting",
                Some(200.0),
                Some(300.0),
                Some(100.0),
                0.0,
                400.0,
                None,
            ),
            ("paused", Some(200.0), None, Some(100.0), 0.0, 400.0, None),
            (
                "removing",
                Some(200.0),
                Some(300.0),
                Some(100.0),
                0.0,
                400.0,
                None,
            ),
        ];
        for (state, start, end, created, grace, now, want) in cases {
            let mut c = rec(state, *start, *end);
            c.created = *created;
            assert_eq!(stopped(&c), want.is_some(), "{state}");
            assert_eq!(
                stopped_grace(&c, *grace, *now),
                *want,
                "{state} {start:?} {end:?}"
            );
            let past = want.filter(|g| g.past()).map(Grace::age_s);
            assert_eq!(stopped_past_grace(&c, *grace, *now), past, "{state}");
        }
    }

    #[test]
    fn judges_a_daemon_record_as_parsed() {
        // The daemon's own config.v2.json shape: no Status, times as text, a health log.
        let rec: ContainerRecord = serde_json::from_value(serde_json::json!({
            "ID": "abc", "Name": "/web", "Created": "2026-11-28T06:00:16Z",
            "RestartCount": 3, "Path": "sh", "Args": ["-c", "sleep 100 &"],
            "Config": {"Image": "busybox", "Cmd": ["sh", "-c", "sleep 100 &"], "Entrypoint": null,
                       "AttachStdout": false, "Healthcheck": {"Test": ["CMD", "false"], "Interval": 1_000_000_000u64}},
            "HostConfig": {"AutoRemove": false, "RestartPolicy": {"Name": "always"}},
            "State": {"Running": true, "Restarting": true, "Pid": 0, "ExitCode": 0,
                      "StartedAt": "2026-11-28T06:00:21.875Z", "FinishedAt": "2026-11-28T06:00:22Z",
                      "Health": {"Status": "unhealthy", "FailingStreak": 2, "Log": [
                          {"Start": "2026-11-28T06:00:19Z", "End": "2026-11-28T06:00:19.1Z", "ExitCode": 1, "Output": "no"}]}}
        }))
        .expect("a record");
        let th = LoopThresholds {
            restart_count: 10.0,
            dies: 10.0,
        };
        assert!(!stopped(&rec));
        assert_eq!(container_loops(&rec, 0, th), [LoopReason::RestartingNow]);
        // Restarting is not running: no health verdict, no pid to look for.
        assert!(unhealthy(&rec).is_none());
        assert_eq!(main_pid(&rec), None);
        let q = exits_immediately(&rec, 1.0, Program::Unknown)
            .expect("a quick exit under restart policy always");
        assert_eq!(q.ran_s, 0.125);
        assert_eq!(
            q.intent,
            [Intent::RestartPolicy {
                policy: "always".into(),
                restarts: 3
            }]
        );
        let h = rec.state.health.as_ref().expect("health");
        let since = failing_since(h, rec.health_interval(), 1_795_845_630.0);
        assert_eq!(since, Some(1_795_845_619.0));
    }

    #[test]
    fn stopped_from_the_daemons_own_flags() {
        // The daemon's config.v2.json has no Status: the state is derived from its flags.
        let mut c = rec("", Some(200.0), Some(300.0));
        assert!(stopped(&c), "exited");
        c.state.running = true;
        assert!(!stopped(&c), "running");
        c.state.running = false;
        c.state.dead = true;
        assert!(stopped(&c), "dead");
        assert_eq!(stopped_since(&c), Some(300.0));
        let never = rec("", None, None);
        assert!(stopped(&never), "created");
        assert_eq!(stopped_since(&never), Some(100.0));
    }

    #[test]
    fn only_dead_containers_are_stuck_dead() {
        // (Status from the engine, or "" with the daemon's flags: dead, removal in progress)
        let cases = [
            ("dead", false, false, true),
            ("exited", false, false, false),
            ("removing", false, false, false),
            ("running", false, false, false),
            ("", true, false, true),
            ("", true, true, false),
            ("", false, false, false),
        ];
        for (status, dead, removing, want) in cases {
            let mut c = rec(status, Some(200.0), Some(300.0));
            c.state.dead = dead;
            c.state.removal_in_progress = removing;
            assert_eq!(stuck_dead(&c), want, "{status:?} {dead} {removing}");
        }
    }

    #[test]
    fn litter_is_stopped_generated_and_not_auto_removed() {
        // (name, state, auto_remove) → litter
        let cases = [
            ("eloquent_mcclintock", "exited", false, true),
            ("eloquent_mcclintock", "created", false, true),
            ("eloquent_mcclintock", "dead", false, true),
            ("eloquent_mcclintock", "running", false, false),
            ("eloquent_mcclintock", "exited", true, false),
            ("web", "exited", false, false),
        ];
        for (name, state, auto_remove, want) in cases {
            let mut c = rec(state, Some(1.0), Some(2.0));
            c.raw_name = format!("/{name}");
            c.host_config.auto_remove = auto_remove;
            assert_eq!(is_litter(&c), want, "{name} {state} {auto_remove}");
        }
    }

    #[test]
    fn counts_over_thresholds() {
        let cases = [
            (0, 0.0, false),
            (1, 0.0, true),
            (50, 50.0, false),
            (51, 50.0, true),
            (2, 1.5, true),
            (1, 1.5, false),
            (1, -3.0, true),
            (0, f64::NAN, false),
            (1, f64::NAN, true),
            (1_000_000, f64::INFINITY, false),
        ];
        for (n, th, want) in cases {
            assert_eq!(over_count(n, th), want, "{n} > {th}");
        }
        assert_eq!(count_threshold(2.9), 2);
        assert_eq!(count_threshold(f64::NEG_INFINITY), 0);
        assert_eq!(count_threshold(f64::INFINITY), usize::MAX);
    }

    #[test]
    fn loop_reasons_follow_thresholds() {
        let th = |r, d| LoopThresholds {
            restart_count: r,
            dies: d,
        };
        use LoopReason::*;
        // (restarting, restart count, dies, thresholds) → reasons
        let cases: &[(bool, u64, usize, LoopThresholds, &[LoopReason])] = &[
            (false, 0, 0, th(10.0, 10.0), &[]),
            // Restarting before its first restart: the first back-off, not a loop yet.
            (true, 0, 0, th(10.0, 10.0), &[]),
            (true, 1, 0, th(10.0, 10.0), &[RestartingNow]),
            (false, 10, 0, th(10.0, 10.0), &[Restarted(10)]),
            (false, 9, 9, th(10.0, 10.0), &[]),
            (false, 0, 12, th(10.0, 10.0), &[Died(12)]),
            (
                true,
                12,
                12,
                th(10.0, 10.0),
                &[RestartingNow, Restarted(12), Died(12)],
            ),
            // A zero threshold does not make every container a loop.
            (false, 0, 0, th(0.0, 0.0), &[]),
            (false, 1, 1, th(0.0, 0.0), &[Restarted(1), Died(1)]),
        ];
        for (restarting, count, dies, th, want) in cases {
            assert_eq!(
                loop_reasons(*restarting, *count, *dies, *th),
                *want,
                "{restarting} {count} {dies} {th:?}"
            );
        }
        let mut c = rec("", Some(1.0), Some(2.0));
        c.state.running = true;
        c.state.restarting = true;
        c.restart_count = 3;
        assert_eq!(
            container_loops(&c, 0, th(10.0, 10.0)),
            [RestartingNow],
            "from the daemon's flags"
        );
    }

    #[test]
    fn the_event_buffer_reach() {
        // (total, oldest, now, window, kept) → reach
        let cases = [
            (10, Some(50.0), 100.0, 3600, 256, (false, 3600)),
            (256, Some(10.0), 100.0, 3600, 256, (true, 90)),
            (300, Some(10.0), 100.0, 3600, 256, (true, 90)),
            (256, None, 100.0, 3600, 256, (true, 0)),
            // An oldest event older than the window (the engine answers for `since`).
            (256, Some(0.0), 10_000.0, 3600, 256, (true, 3600)),
            (256, Some(200.0), 100.0, 3600, 256, (true, 0)),
        ];
        for (total, oldest, now, window, kept, (full, covers_s)) in cases {
            assert_eq!(
                event_reach(total, oldest, now, window, kept),
                Reach { full, covers_s },
                "{total} {oldest:?}"
            );
        }
    }

    fn health(streak: u64, runs: &[(f64, i64)]) -> RecordHealth {
        RecordHealth {
            status: "unhealthy".into(),
            failing_streak: streak,
            log: runs
                .iter()
                .map(|(start, code)| HealthRun {
                    start: Some(*start),
                    end: Some(start + 0.1),
                    exit_code: *code,
                    output: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn failing_since_uses_the_log_then_the_streak() {
        let s = |n| Some(Duration::from_secs(n));
        // (health, interval, now) → failing since
        let cases = [
            (
                health(2, &[(100.0, 0), (110.0, 1), (120.0, 1)]),
                s(10),
                130.0,
                Some(110.0),
            ),
            // 50 failures, 10 s apart: it has failed for about 500 s, longer than the log shows.
            (
                health(50, &[(110.0, 1), (120.0, 1)]),
                s(10),
                130.0,
                Some(-370.0),
            ),
            (
                health(50, &[(110.0, 1), (120.0, 1)]),
                None,
                130.0,
                Some(110.0),
            ),
            (health(0, &[]), None, 130.0, None),
            (health(3, &[]), s(10), 130.0, Some(100.0)),
            // The last run passed: no unbroken run of failures.
            (health(0, &[(100.0, 1), (110.0, 0)]), s(10), 130.0, None),
        ];
        for (h, interval, now, want) in cases {
            assert_eq!(failing_since(&h, interval, now), want, "{h:?}");
        }
    }

    #[test]
    fn unhealthy_only_while_running() {
        // (state, health status) → unhealthy
        let cases = [
            ("running", Some("unhealthy"), true),
            ("paused", Some("unhealthy"), true),
            ("running", Some("starting"), false),
            ("running", Some("healthy"), false),
            ("running", None, false),
            ("exited", Some("unhealthy"), false),
        ];
        for (state, status, want) in cases {
            let mut c = rec(state, Some(1.0), None);
            c.state.health = status.map(|s| {
                Box::new(RecordHealth {
                    status: s.into(),
                    ..health(1, &[])
                })
            });
            assert_eq!(unhealthy(&c).is_some(), want, "{state} {status:?}");
        }
    }

    #[test]
    fn quick_exits() {
        // (state, exit code, started, finished, max run) → ran for. Binary fractions, so the
        // subtraction is exact.
        let t = Some(1000.0);
        let cases = [
            ("exited", 0, t, Some(1000.25), 1.0, Some(0.25)),
            ("restarting", 0, t, Some(1000.0625), 1.0, Some(0.0625)),
            // The finish a hair before the start (two clocks): ran for no time at all.
            ("exited", 0, t, Some(999.9375), 1.0, Some(0.0)),
            ("exited", 0, t, Some(1005.0), 1.0, None),
            ("exited", 1, t, Some(1000.25), 1.0, None),
            ("running", 0, t, Some(1000.25), 1.0, None),
            // Times from different runs.
            ("exited", 0, t, Some(900.0), 1.0, None),
            ("exited", 0, t, Some(1001.5), 2.5, Some(1.5)),
            ("exited", 0, t, Some(1001.0), 1.0, Some(1.0)),
            ("created", 0, None, None, 1.0, None),
            ("exited", 0, t, None, 1.0, None),
        ];
        for (state, code, start, end, max, want) in cases {
            let mut c = rec(state, start, end);
            c.state.exit_code = code;
            assert_eq!(quick_clean_exit(&c, max), want, "{state} {code} {end:?}");
        }
    }

    /// An exited container of `image` running `cmd` that ran for 0.25 s and exited 0.
    fn quick(image: &str, cmd: &[&str]) -> ContainerRecord {
        let mut c = rec("exited", Some(1000.0), Some(1000.25));
        c.config.image = image.into();
        c.config.cmd = strs(cmd);
        c
    }

    #[test]
    fn exits_immediately_needs_a_sign_it_was_meant_to_keep_running() {
        let httpd = Server {
            program: "busybox httpd",
            foreground: Foreground::Add("-f"),
        };
        let bind = |port: &str| {
            (
                port.to_string(),
                Some(vec![PortBinding {
                    host_ip: String::new(),
                    host_port: "8080".into(),
                }]),
            )
        };
        let always = |restarts| Intent::RestartPolicy {
            policy: "always".into(),
            restarts,
        };
        // (command, restart policy, restart count, published, exposed) → intent
        type Case = (
            &'static [&'static str],
            &'static str,
            u64,
            &'static [&'static str],
            &'static [&'static str],
            Vec<Intent>,
        );
        let cases: Vec<Case> = vec![
            // One-shot jobs that finished: nothing says they should have kept running.
            (&["true"], "", 0, &[], &[], vec![]),
            (&["sh", "-c", "echo done"], "no", 0, &[], &[], vec![]),
            (&["sh", "-c", "sleep 100 &"], "", 0, &[], &[], vec![]),
            // on-failure never restarts after 0: its earlier restarts were failures.
            (&["true"], "on-failure", 3, &[], &[], vec![]),
            // A server in the foreground that exited 0 at once: not a daemonizing one.
            (&["httpd", "-f", "-p", "8080"], "", 0, &[], &[], vec![]),
            // The server went to the background.
            (
                &["httpd", "-p", "8080"],
                "",
                0,
                &[],
                &[],
                vec![Intent::Server(httpd)],
            ),
            // A restart policy that restarts after 0.
            (&["true"], "always", 0, &[], &[], vec![always(0)]),
            (
                &["true"],
                "unless-stopped",
                4,
                &[],
                &[],
                vec![Intent::RestartPolicy {
                    policy: "unless-stopped".into(),
                    restarts: 4,
                }],
            ),
            // Ports: published ones, and exposed ones not also published.
            (
                &["true"],
                "",
                0,
                &["8080/tcp"],
                &["8080/tcp"],
                vec![Intent::Published(strs(&["8080/tcp"]))],
            ),
            (
                &["true"],
                "",
                0,
                &[],
                &["80/tcp"],
                vec![Intent::Exposed(strs(&["80/tcp"]))],
            ),
            (
                &["httpd", "-p", "8080"],
                "always",
                2,
                &["8080/tcp"],
                &["8080/tcp", "9090/tcp"],
                vec![
                    Intent::Server(httpd),
                    always(2),
                    Intent::Published(strs(&["8080/tcp"])),
                    Intent::Exposed(strs(&["9090/tcp"])),
                ],
            ),
        ];
        for (cmd, policy, restarts, published, exposed, want) in cases {
            let mut c = quick("busybox", cmd);
            c.host_config.restart_policy.name = policy.into();
            c.restart_count = restarts;
            c.host_config.port_bindings = published.iter().map(|p| bind(p)).collect();
            c.config.exposed_ports = strs(exposed);
            assert_eq!(
                intent(&c, Program::Unknown),
                want,
                "{cmd:?} {policy} {published:?} {exposed:?}"
            );
            let got = exits_immediately(&c, 1.0, Program::Unknown);
            if want.is_empty() {
                assert_eq!(got, None, "{cmd:?}");
            } else {
                assert_eq!(
                    got,
                    Some(QuickExit {
                        ran_s: 0.25,
                        intent: want.clone()
                    }),
                    "{cmd:?}"
                );
            }
        }
        // However many one-shot jobs of one image finished, each is judged alone: none counts.
        let jobs: Vec<ContainerRecord> = (0..50).map(|_| quick("busybox", &["true"])).collect();
        assert!(
            jobs.iter()
                .all(|c| exits_immediately(c, 1.0, Program::Unknown).is_none())
        );
        // Intent alone is not enough: a server that ran for a minute, or failed, is another story.
        let mut long = quick("busybox", &["httpd", "-p", "8080"]);
        long.state.finished_at = Some(1060.0);
        assert_eq!(exits_immediately(&long, 1.0, Program::Unknown), None);
        let mut failed = quick("busybox", &["httpd", "-p", "8080"]);
        failed.state.exit_code = 1;
        assert_eq!(exits_immediately(&failed, 1.0, Program::Unknown), None);
        let with = exits_immediately(
            &quick("busybox", &["httpd", "-p", "1"]),
            1.0,
            Program::Unknown,
        );
        assert_eq!(with.as_ref().and_then(QuickExit::server), Some(httpd));
        assert_eq!(with.map(|q| q.rank()), Some(0));
        // Intents come strongest first, so a verdict's rank is its first one's.
        let mut ranked = quick("busybox", &["true"]);
        ranked.config.exposed_ports = strs(&["80/tcp"]);
        ranked.host_config.restart_policy.name = "always".into();
        let q = exits_immediately(&ranked, 1.0, Program::Unknown).expect("found");
        assert_eq!(q.rank(), 1);
        assert!(q.intent.windows(2).all(|w| w[0].rank() < w[1].rank()));
    }

    #[test]
    fn pids_to_look_for() {
        // (state, pid) → pid to look for
        let cases = [
            ("running", 42, Some(42)),
            ("paused", 42, Some(42)),
            ("running", 0, None),
            ("exited", 42, None),
            ("running", i64::MAX, None),
        ];
        for (state, pid, want) in cases {
            let mut c = rec(state, Some(1.0), None);
            c.state.pid = pid;
            assert_eq!(main_pid(&c), want, "{state} {pid}");
        }
        assert_eq!(pid_seen(None), PidSeen::Gone);
        assert_eq!(pid_seen(Some('Z')), PidSeen::Zombie);
        assert_eq!(pid_seen(Some('X')), PidSeen::Zombie);
        assert_eq!(pid_seen(Some('S')), PidSeen::Alive);
        assert_eq!(pid_seen(Some('T')), PidSeen::Alive);
        assert_eq!(pid_seen(Some('D')), PidSeen::Alive);
    }

    #[test]
    fn log_sizes() {
        const MIB: f64 = 1024.0 * 1024.0;
        let cases = [
            (0, 0.0, 0.0, LogSize::Small),
            (1, 0.0, 10.0, LogSize::Big),
            (99 << 20, 100.0 * MIB, 1024.0 * MIB, LogSize::Small),
            (100 << 20, 100.0 * MIB, 1024.0 * MIB, LogSize::Big),
            (1 << 30, 100.0 * MIB, 1024.0 * MIB, LogSize::Huge),
            (5, 1.0, 2.0, LogSize::Huge),
        ];
        for (bytes, warn, crit, want) in cases {
            assert_eq!(log_size(bytes, warn, crit), want, "{bytes}");
        }
    }
}
