//! Checks of the host area — the kernel's view of the machine, where node-problem-detector
//! looks: containers the OOM killer killed ([`oom_kills`]), tasks hung in the kernel
//! ([`hung_tasks`]), pressure stalls ([`pressure`]), swap ([`swap`]) and the clock
//! ([`clock`]). See docs/checks/host.md; the verdicts are in [`crate::policy::host`], the reads
//! in [`crate::runtime::kernel`].
//!
//! Except for the OOM kills (this daemon's containers), these are about the whole host, not
//! one daemon: a host running several daemons shows the same figures to each.

pub mod clock;
pub mod hung_tasks;
pub mod oom_kills;
pub mod pressure;
pub mod swap;

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Probe, probe};

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("host.oom-kills", oom_kills::check),
        probe!("host.hung-tasks", hung_tasks::check),
        probe!("host.pressure", pressure::check),
        probe!("host.swap", swap::check),
        probe!("host.clock", clock::check),
    ]
}

/// How many objects evidence lists before it only counts.
const CAP: usize = 20;

/// Seconds since the epoch, by the wall clock.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "1.5 h", "24 h", "30 min" for a window given in hours.
fn window_words(hours: f64) -> String {
    if hours < 1.0 {
        format!("{:.0} min", hours * 60.0)
    } else if hours.fract() == 0.0 {
        format!("{hours:.0} h")
    } else {
        format!("{hours:.1} h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_in_words() {
        assert_eq!(window_words(24.0), "24 h");
        assert_eq!(window_words(1.5), "1.5 h");
        assert_eq!(window_words(0.5), "30 min");
    }
}
