//! The one table of exit codes. doctor's 0–3 follow the Nagios plugin convention; every other
//! failure uses a code that collides with none of them.

use std::process;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Every check passed.
    Ok = 0,
    /// At least one warning, nothing worse.
    Warning = 1,
    /// At least one critical finding.
    Critical = 2,
    /// A check could not tell (no permission, not on this host); nothing critical.
    Unknown = 3,
    /// An acting command (`ports free`, `reap`) acted and something did not work out: a step
    /// failed, or the port is still held (or was taken again) afterwards.
    Failed = 4,
    /// `ports free` leaves a holder alone by rule: not Docker's (without --force-foreign),
    /// stuck in the kernel (D), the engine itself, another daemon's, or not seen. The port
    /// stays held.
    Refused = 5,
    /// What a command needs did not answer: the engine (df, gc, …), /proc (ports), or the
    /// engine is on another host (reap) (EX_UNAVAILABLE).
    Unavailable = 69,
    /// Bad input: a flag, a value, a config file, an unknown check id (sysexits' EX_USAGE).
    Usage = 64,
    /// dockhand itself failed (a bug, or output could not be written) (EX_SOFTWARE).
    Internal = 70,
    /// Another mutating run holds the run lock; try again later (EX_TEMPFAIL).
    Locked = 75,
    /// Interrupted by Ctrl-C / SIGTERM (128 + SIGINT).
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<ExitCode> for process::ExitCode {
    fn from(c: ExitCode) -> Self {
        process::ExitCode::from(c as u8)
    }
}

/// Shown at the end of `--help`.
pub const TABLE: &str = "\
Exit codes:
  0    ok: every check passed
  1    warning: at least one warning, nothing worse
  2    critical: at least one critical finding
  3    unknown: a check could not tell (e.g. no permission), nothing critical
  4    failed: ports free / reap acted and a step failed, or the port is still held
  5    refused: ports free leaves a holder alone (not Docker's, stuck in D, …)
  64   usage: a bad flag, value, config file or check id
  69   unavailable: the engine (df) or /proc (ports) did not answer; reap on a remote engine
  70   internal: dockhand failed (a bug, or output could not be written)
  75   locked: another mutating dockhand run holds the lock; try again later
  130  interrupted: Ctrl-C or SIGTERM";

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[ExitCode] = &[
        ExitCode::Ok,
        ExitCode::Warning,
        ExitCode::Critical,
        ExitCode::Unknown,
        ExitCode::Failed,
        ExitCode::Refused,
        ExitCode::Usage,
        ExitCode::Unavailable,
        ExitCode::Internal,
        ExitCode::Locked,
        ExitCode::Interrupted,
    ];

    #[test]
    fn every_code_is_in_the_help_table_and_the_docs() {
        let docs = include_str!("../docs/exit-codes.md");
        for c in ALL {
            let n = c.code();
            assert!(
                TABLE
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{n} "))),
                "{n} missing from the --help table"
            );
            assert!(
                docs.lines().any(|l| l.starts_with(&format!("| {n} |"))),
                "{n} missing from docs/exit-codes.md"
            );
        }
    }
}
