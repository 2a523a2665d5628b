//! Verdicts of the host area (see [`crate::policy`]): the kernel's view of the host — OOM kills,
//! hung tasks, pressure, swap and the clock — judged on plain numbers. doctor's `host.*` checks
//! read the kernel (`runtime::kernel`) and word these.

pub use super::disk::Level;
use crate::runtime::kernel::{Psi, PsiLine};

/// Stalls in percent of wall time over which a resource is under pressure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureLimits {
    /// `some` (at least one task waiting) at or above this is a warning.
    pub some_warn: f64,
    /// `full` (every non-idle task waiting) at or above this is a warning …
    pub full_warn: f64,
    /// … and at or above this, critical.
    pub full_critical: f64,
    /// The cpu's `some` at or above this is a warning; at 100 (the default) the cpu is not
    /// judged: a host busy with work (a build server, batch jobs) waits for CPU by design, and
    /// it is memory and I/O stalls that make a daemon hang or the OOM killer strike.
    pub cpu_some_warn: f64,
}

/// A stall share that held: the smaller of the last minute's and the last five minutes'
/// averages. A short spike (an image pull, a build) lifts avg60 but not avg300, and pressure
/// that has just ended lowers avg60 first, so neither alone raises a finding.
pub fn sustained(l: &PsiLine) -> f64 {
    l.avg60.min(l.avg300)
}

/// A resource's pressure, judged. The cpu's `full` line is left out: host-wide it is always
/// zero (or absent) and says nothing; its `some` line only against `cpu_some_warn` below 100.
pub fn pressure_level(resource: &str, psi: &Psi, lim: &PressureLimits) -> Level {
    let some = psi.some.as_ref().map_or(0.0, sustained);
    if resource == "cpu" {
        return if lim.cpu_some_warn < 100.0 && some >= lim.cpu_some_warn {
            Level::Warning
        } else {
            Level::Ok
        };
    }
    let full = psi.full.as_ref().map_or(0.0, sustained);
    if full >= lim.full_critical {
        Level::Critical
    } else if full >= lim.full_warn || some >= lim.some_warn {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// Swap, judged: how much of it is in use and how fast pages come back in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwapLimits {
    /// Share of swap in use (percent) at or above which it is a warning.
    pub used_warn_pct: f64,
    /// Share in use at or above which, with little memory available, it is critical.
    pub used_critical_pct: f64,
    /// Available memory (percent of total) at or below which a full swap is critical.
    pub available_critical_pct: f64,
    /// Pages swapped in per second at or above which the host is thrashing (a warning).
    pub swapin_warn_per_s: f64,
}

/// Why swap matters, when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapReason {
    /// Most of the swap is used.
    Full,
    /// Pages come back in fast: the working set does not fit in memory.
    Thrashing,
}

/// Swap in use is not a finding by itself: the kernel swaps out pages nobody touches and a
/// healthy host keeps a little swap used for weeks. It matters when most of it is used, or
/// when pages are swapped back in fast (`swapin_per_s`, when it was sampled).
pub fn swap_level(
    used: u64,
    total: u64,
    available_pct: f64,
    swapin_per_s: Option<f64>,
    lim: &SwapLimits,
) -> (Level, Vec<SwapReason>) {
    let mut reasons = Vec::new();
    let mut level = Level::Ok;
    if total > 0 && used > 0 {
        let pct = used as f64 * 100.0 / total as f64;
        if pct >= lim.used_warn_pct {
            reasons.push(SwapReason::Full);
            level = Level::Warning;
            if pct >= lim.used_critical_pct && available_pct <= lim.available_critical_pct {
                level = Level::Critical;
            }
        }
    }
    if swapin_per_s.is_some_and(|r| r >= lim.swapin_warn_per_s) {
        reasons.push(SwapReason::Thrashing);
        level = level.max(Level::Warning);
    }
    (level, reasons)
}

/// How far the wall clock moved against the clock no one can set, for a process started
/// `boot_age_s` ago (by CLOCK_BOOTTIME) that its engine says started `wall_age_s` ago (by the
/// wall clock at its start and now): positive when the wall clock jumped forward since.
pub fn clock_jump(wall_age_s: f64, boot_age_s: f64) -> f64 {
    wall_age_s - boot_age_s
}

/// The largest jump, by size, of several measures (one per running container): a jump moves
/// every container started before it by the same amount.
pub fn largest_jump(jumps: &[f64]) -> Option<f64> {
    jumps
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
}

/// The engine's clock against ours: `engine` read between `before` and `after` (seconds since
/// the epoch). The offset is what is left outside that window — zero when the engine's time
/// falls inside it, since the answer could have been written at any moment of it.
pub fn engine_offset(engine: f64, before: f64, after: f64) -> f64 {
    if engine < before {
        engine - before
    } else if engine > after {
        engine - after
    } else {
        0.0
    }
}

/// A clock judged: a jump since a container started, or an engine whose clock differs, of at
/// least `max_s` either way is a warning. (An unsynchronized NTP state alone is not: many VMs
/// and containers show it while their clock is right; it is said, not judged.)
pub fn clock_level(jump_s: Option<f64>, engine_offset_s: Option<f64>, max_s: f64) -> Level {
    let off = |x: Option<f64>| x.is_some_and(|v| v.abs() >= max_s);
    if off(jump_s) || off(engine_offset_s) {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// A task the kernel's hung-task detector reported: `INFO: task NAME:PID blocked for more than
/// N seconds.`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HungTask {
    pub task: String,
    pub pid: i32,
    pub blocked_s: u64,
}

/// The hung task a kernel log message reports, if it is one. The task's name may hold ':'
/// (`kworker/0:1`): the pid follows the last one.
pub fn hung_task(message: &str) -> Option<HungTask> {
    let rest = &message[message.find("task ")? + 5..];
    let (who, after) = rest.split_once(" blocked for more than ")?;
    let (task, pid) = who.rsplit_once(':')?;
    let blocked_s = after.split_whitespace().next()?.parse().ok()?;
    Some(HungTask {
        task: task.to_string(),
        pid: pid.parse().ok()?,
        blocked_s,
    })
}

/// A kernel log record logged `usec` after boot is within the last `window_s` at `boot_s`
/// (seconds since boot now).
pub fn within_window(usec: u64, boot_s: f64, window_s: f64) -> bool {
    boot_s - usec as f64 / 1e6 <= window_s
}

/// A container's last exit was an OOM kill within the window (`finished_at` and `now` in
/// seconds since the epoch). A container the engine marks OOMKilled keeps the mark until it
/// starts again; one that exited 137 because it was stopped or killed is not marked at all.
pub fn oom_killed_recently(
    oom_killed: bool,
    finished_at: Option<f64>,
    now: f64,
    window_s: f64,
) -> bool {
    oom_killed && finished_at.is_some_and(|f| now - f <= window_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernel::parse_psi;

    const PRESSURE: PressureLimits = PressureLimits {
        some_warn: 20.0,
        full_warn: 10.0,
        full_critical: 40.0,
        cpu_some_warn: 50.0,
    };

    #[test]
    fn pressure_is_judged_on_what_held() {
        // (resource, the file, level)
        let cases = [
            (
                "memory",
                "some avg10=0.00 avg60=1.33 avg300=0.80 total=1\nfull avg10=0.00 avg60=0.88 avg300=0.53 total=1",
                Level::Ok,
            ),
            // A spike: avg60 high, avg300 low.
            (
                "io",
                "some avg10=90.00 avg60=60.00 avg300=12.00 total=1\nfull avg10=80.00 avg60=50.00 avg300=5.00 total=1",
                Level::Ok,
            ),
            (
                "io",
                "some avg10=30.00 avg60=25.00 avg300=21.00 total=1\nfull avg10=1 avg60=1 avg300=1 total=1",
                Level::Warning,
            ),
            (
                "memory",
                "some avg10=60 avg60=55 avg300=50 total=1\nfull avg10=45 avg60=42 avg300=41 total=1",
                Level::Critical,
            ),
            (
                "memory",
                "some avg10=0 avg60=11 avg300=11 total=1\nfull avg10=0 avg60=10 avg300=10 total=1",
                Level::Warning,
            ),
            // cpu's full line says nothing host-wide.
            (
                "cpu",
                "some avg10=5 avg60=5 avg300=5 total=1\nfull avg10=90 avg60=90 avg300=90 total=1",
                Level::Ok,
            ),
            // The cpu against its own threshold (50 here), below it and at it.
            ("cpu", "some avg10=5 avg60=25 avg300=20 total=1", Level::Ok),
            (
                "cpu",
                "some avg10=5 avg60=65 avg300=55 total=1",
                Level::Warning,
            ),
            ("memory", "", Level::Ok),
        ];
        for (r, text, want) in cases {
            assert_eq!(
                pressure_level(r, &parse_psi(text), &PRESSURE),
                want,
                "{r}: {text}"
            );
        }
        // At 100 the cpu is not judged at all, even fully stalled.
        let off = PressureLimits {
            cpu_some_warn: 100.0,
            ..PRESSURE
        };
        let busy = parse_psi("some avg10=100 avg60=100 avg300=100 total=1");
        assert_eq!(pressure_level("cpu", &busy, &off), Level::Ok);
        assert_eq!(pressure_level("cpu", &busy, &PRESSURE), Level::Warning);
    }

    const SWAP: SwapLimits = SwapLimits {
        used_warn_pct: 50.0,
        used_critical_pct: 90.0,
        available_critical_pct: 10.0,
        swapin_warn_per_s: 100.0,
    };

    #[test]
    fn a_little_swap_is_not_a_finding() {
        use SwapReason::*;
        const G: u64 = 1 << 30;
        // (used, total, available %, swap-in/s, level, reasons)
        let cases = [
            (0, 0, 50.0, None, Level::Ok, vec![]),
            (0, 4 * G, 50.0, Some(0.0), Level::Ok, vec![]),
            (G / 10, 4 * G, 50.0, Some(1.0), Level::Ok, vec![]),
            (3 * G, 4 * G, 50.0, None, Level::Warning, vec![Full]),
            (39 * G / 10, 4 * G, 50.0, None, Level::Warning, vec![Full]),
            (39 * G / 10, 4 * G, 5.0, None, Level::Critical, vec![Full]),
            (
                G / 10,
                4 * G,
                50.0,
                Some(500.0),
                Level::Warning,
                vec![Thrashing],
            ),
            (
                39 * G / 10,
                4 * G,
                5.0,
                Some(500.0),
                Level::Critical,
                vec![Full, Thrashing],
            ),
        ];
        for (used, total, avail, rate, level, reasons) in cases {
            assert_eq!(
                swap_level(used, total, avail, rate, &SWAP),
                (level, reasons),
                "{used}/{total} avail {avail}% rate {rate:?}"
            );
        }
    }

    #[test]
    fn clock_offsets() {
        // Started 100 s ago by the boot clock; the wall clock says 100.4 s: no jump worth
        // a word. It says 3700 s: the clock went an hour forward.
        assert!((clock_jump(100.4, 100.0) - 0.4).abs() < 1e-9);
        assert_eq!(clock_jump(3700.0, 100.0), 3600.0);
        assert_eq!(largest_jump(&[0.2, -7200.0, 3600.0]), Some(-7200.0));
        assert_eq!(largest_jump(&[]), None);
        // The engine's time inside the window of the request is no offset at all.
        assert_eq!(engine_offset(10.5, 10.0, 11.0), 0.0);
        assert_eq!(engine_offset(70.0, 10.0, 11.0), 59.0);
        assert_eq!(engine_offset(5.0, 10.0, 11.0), -5.0);
        // (jump, engine offset, level) at 30 s.
        let cases = [
            (None, None, Level::Ok),
            (Some(0.5), Some(0.0), Level::Ok),
            (Some(-29.9), None, Level::Ok),
            (Some(-30.0), None, Level::Warning),
            (Some(3600.0), None, Level::Warning),
            (None, Some(45.0), Level::Warning),
        ];
        for (j, o, want) in cases {
            assert_eq!(clock_level(j, o, 30.0), want, "{j:?} {o:?}");
        }
    }

    #[test]
    fn hung_tasks_in_kernel_messages() {
        let cases = [
            (
                "INFO: task dockerd:812 blocked for more than 120 seconds.",
                Some(("dockerd", 812, 120)),
            ),
            (
                "INFO: task kworker/0:1:42 blocked for more than 245 seconds.",
                Some(("kworker/0:1", 42, 245)),
            ),
            (
                "task jbd2/sda1-8:300 blocked for more than 122 seconds.",
                Some(("jbd2/sda1-8", 300, 122)),
            ),
            (
                "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
                None,
            ),
            (
                "INFO: task dockerd:x blocked for more than 120 seconds.",
                None,
            ),
            ("Out of memory: Killed process 77 (sh)", None),
        ];
        for (m, want) in cases {
            let got = hung_task(m);
            assert_eq!(
                got.as_ref().map(|h| (h.task.as_str(), h.pid, h.blocked_s)),
                want,
                "{m}"
            );
        }
        assert!(within_window(3_600_000_000, 3700.0, 3600.0));
        assert!(!within_window(50_000_000, 3700.0, 3600.0));
    }

    #[test]
    fn only_an_oom_kill_within_the_window_counts() {
        let now = 100_000.0;
        assert!(oom_killed_recently(true, Some(now - 60.0), now, 86_400.0));
        // Exited 137 because it was stopped: not marked.
        assert!(!oom_killed_recently(false, Some(now - 60.0), now, 86_400.0));
        assert!(!oom_killed_recently(true, Some(0.0), now, 86_400.0));
        assert!(!oom_killed_recently(true, None, now, 86_400.0));
    }
}
