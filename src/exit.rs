//! The one table of exit codes. doctor's 0–3 follow the Nagios plugin convention; every other
//! outcome uses a code that collides with none of them. Acting commands (gc, …) end 0 when they
//! did everything they planned (or printed a plan), and 10–12 otherwise.

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
    /// An acting command (`gc`, `reap`, `ports free`) acted and something did not work out: a
    /// step failed (the engine refused it or did not answer), or the port is still held (or was
    /// taken again) afterwards. Steps skipped by a safety rule are not failures.
    Failed = 4,
    /// `ports free` leaves a holder alone by rule: not Docker's (without --force-foreign),
    /// stuck in the kernel (D), the engine itself, another daemon's, or not seen. The port
    /// stays held.
    Refused = 5,
    /// `reap`: something could not be judged (the engine did not answer, /proc or the data root
    /// not read in time) and was left alone; the dry run too.
    Partial = 11,
    /// What a command needs did not answer: the engine (df, gc, …), /proc (ports), or the
    /// engine is on another host (reap) (EX_UNAVAILABLE).
    Unavailable = 69,
    /// Bad input: a flag, a value, a config file, an unknown check id, a saved plan refused
    /// (sysexits' EX_USAGE).
    Usage = 64,
    /// dockhand itself failed (a bug, or output could not be written) (EX_SOFTWARE).
    Internal = 70,
    /// Another mutating run holds the run lock; try again later (EX_TEMPFAIL).
    Locked = 75,
    /// The state dir cannot be trusted as root: a symbolic link, not root's, or writable by
    /// others; nothing was done (EX_NOPERM).
    Untrusted = 77,
    // 80–89: recover and pull (a range of their own, so other commands' codes never collide).
    /// recover: the daemon serves; nothing was done (pass --force to restart it anyway).
    RecoverNotNeeded = 80,
    /// recover: a step or the verification failed; the sentence says which.
    RecoverFailed = 81,
    /// recover: refused before acting (live-restore off without --allow-container-stop, no way
    /// to start the daemon, a remote engine, no permission); nothing was done.
    RecoverRefused = 82,
    /// recover: the daemon is in D state and SIGKILL did not end it; a reboot is needed.
    RebootNeeded = 83,
    /// pull: the image or tag does not exist, or the registry denies it.
    PullNotFound = 85,
    /// pull: the download stalled (no bytes for --stall-after), and the retries stalled too.
    PullStalled = 86,
    /// pull: the daemon is hung (frozen, wedged): it cannot pull until recovered.
    DaemonHung = 87,
    /// pull: the pull failed otherwise (registry unreachable, unauthorized, disk full).
    PullFailed = 88,
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
  0    ok: every check passed; an acting command failed at nothing (gc: nothing to do and
       objects skipped as in use, changed or protected are ok too), or printed its plan
  1    warning: at least one warning, nothing worse
  2    critical: at least one critical finding
  3    unknown: a check could not tell (e.g. no permission), nothing critical
  4    failed: gc / reap / ports free acted and a step failed, or the port is still held
  5    refused: ports free leaves a holder alone (not Docker's, stuck in D, …)
  11   partial: reap left alone what it could not judge (the engine silent, /proc slow)
  64   usage: a bad flag, value, config file or check id, or a saved plan refused
  69   unavailable: the engine (df, gc) or /proc (ports) did not answer; reap on a remote engine
  70   internal: dockhand failed (a bug, or output could not be written)
  75   locked: another mutating dockhand run holds the lock; try again later
  77   untrusted: the state dir is a symlink, not root's, or writable by others; nothing ran
  80   recover: not needed, the daemon serves (--force restarts it anyway)
  81   recover: failed; the sentence says which step
  82   recover: refused before acting (live-restore off, no start command, …)
  83   recover: the daemon cannot be killed (D state); a reboot is needed
  85   pull: not found (no such image or tag, or access denied)
  86   pull: stalled (no bytes for --stall-after, retries stalled too)
  87   pull: the daemon is hung (run dockhand recover, or pull --recover)
  88   pull: failed otherwise (registry unreachable, unauthorized, …)
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
        ExitCode::Partial,
        ExitCode::Usage,
        ExitCode::Unavailable,
        ExitCode::Internal,
        ExitCode::Locked,
        ExitCode::Untrusted,
        ExitCode::RecoverNotNeeded,
        ExitCode::RecoverFailed,
        ExitCode::RecoverRefused,
        ExitCode::RebootNeeded,
        ExitCode::PullNotFound,
        ExitCode::PullStalled,
        ExitCode::DaemonHung,
        ExitCode::PullFailed,
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

    /// The other way round: a code retired here (gc's former 10 and 12) must not linger in the
    /// help or the docs, where a script writer would still branch on it.
    #[test]
    fn the_help_table_and_the_docs_list_no_other_code() {
        let known: Vec<i32> = ALL.iter().map(|c| c.code()).collect();
        let docs = include_str!("../docs/exit-codes.md");
        let in_docs = docs
            .lines()
            .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse::<i32>().ok());
        let in_help = TABLE
            .lines()
            .filter_map(|l| l.trim_start().split(' ').next()?.parse::<i32>().ok());
        for n in in_docs.chain(in_help) {
            assert!(known.contains(&n), "{n} is listed but no ExitCode has it");
        }
    }
}
