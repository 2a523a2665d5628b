//! The daemon's pid file, judged the way dockerd judges it at start: a pid that exists blocks the
//! start ("pid file found, ensure docker is not running", moby#46988), whatever process it is.
//! doctor's `daemon.pidfile` and `daemon.process` word these verdicts; `reap` acts on
//! [`pidfile_repair`] (remove or rewrite a stale file only while its pid is gone or is not
//! dockerd), and `recover` on the same before it starts the daemon again. What the file names
//! ([`PidfileState`]) is evidence, read by [`crate::runtime::pidfile::judge`] for every command.

pub use crate::runtime::pidfile::{PidfileState, classify_pidfile, parse_pidfile};

/// What to do about a pid file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidfileRepair {
    /// Nothing (it is right, harmless, or names a running engine — never touched).
    Leave,
    /// Remove it: no daemon runs, and the pid it names is gone or is not dockerd.
    Remove,
    /// Write the running daemon's pid into it: it names a pid that is gone or is not dockerd.
    Rewrite { pid: i32 },
}

/// The repair of a stale pid file; `daemon` is the pid serving the API, if one does.
pub fn pidfile_repair(state: &PidfileState, daemon: Option<i32>) -> PidfileRepair {
    if !state.is_stale() {
        return PidfileRepair::Leave;
    }
    match daemon {
        Some(pid) => PidfileRepair::Rewrite { pid },
        None => PidfileRepair::Remove,
    }
}

/// Whether the pid file agrees with the process serving the API (`daemon.process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidfileAgreement {
    Agrees,
    /// It names another pid.
    NamesOther(i32),
    /// dockerd writes its pid file at start; this one was removed since.
    Missing,
}

/// `named`: the pid the file names (if it names one); `exists`: whether the file exists;
/// `found_by_socket`: the daemon was found through its socket (not through this very file);
/// `is_dockerd`: the process is dockerd (podman writes no pid file there).
pub fn pidfile_agreement(
    named: Option<i32>,
    daemon: i32,
    exists: bool,
    found_by_socket: bool,
    is_dockerd: bool,
) -> PidfileAgreement {
    match named {
        Some(p) if p != daemon => PidfileAgreement::NamesOther(p),
        None if !exists && found_by_socket && is_dockerd => PidfileAgreement::Missing,
        _ => PidfileAgreement::Agrees,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        use PidfileState::*;
        // pid 10: the daemon; 20: sleep; 30: another dockerd; 40: gone.
        let probe = |p: i32| match p {
            20 => Some(false),
            10 | 30 => Some(true),
            _ => None,
        };
        // (content, the daemon's pid) → state, repair
        type Case = (
            Result<Option<&'static str>, &'static str>,
            Option<i32>,
            PidfileState,
            PidfileRepair,
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (Ok(None), Some(10), Missing, PidfileRepair::Leave),
            (Err("denied"), Some(10), Unreadable("denied".into()), PidfileRepair::Leave),
            (Ok(Some("10\n")), Some(10), Daemon(10), PidfileRepair::Leave),
            (Ok(Some("20")), Some(10), NotEngine(20), PidfileRepair::Rewrite { pid: 10 }),
            (Ok(Some("30")), Some(10), OtherEngine(30), PidfileRepair::Leave),
            (Ok(Some("40")), Some(10), Gone(40), PidfileRepair::Rewrite { pid: 10 }),
            (Ok(Some("40")), None, Gone(40), PidfileRepair::Remove),
            (Ok(Some("20")), None, NotEngine(20), PidfileRepair::Remove),
            // A stopped daemon's file naming another running dockerd is never touched.
            (Ok(Some("30")), None, OtherEngine(30), PidfileRepair::Leave),
            (Ok(Some(" 40 \n")), None, Gone(40), PidfileRepair::Remove),
            (Ok(Some("garbage")), Some(10), NoPid, PidfileRepair::Leave),
            (Ok(Some("")), Some(10), NoPid, PidfileRepair::Leave),
            (Ok(Some("-5")), Some(10), NoPid, PidfileRepair::Leave),
            (Ok(Some("0")), None, NoPid, PidfileRepair::Leave),
        ];
        for (content, daemon, want, repair) in cases {
            let content = content
                .map(|o| o.map(str::to_string))
                .map_err(str::to_string);
            let got = classify_pidfile(content.clone(), *daemon, probe);
            assert_eq!(&got, want, "{content:?} daemon {daemon:?}");
            assert_eq!(pidfile_repair(&got, *daemon), *repair, "{got:?}");
        }
    }

    #[test]
    fn agreement_with_the_daemon() {
        use PidfileAgreement::*;
        #[rustfmt::skip]
        let cases: &[(Option<i32>, bool, bool, bool, PidfileAgreement)] = &[
            // (named, exists, found by socket, is dockerd)
            (Some(10), true, true, true, Agrees),
            (Some(11), true, true, true, NamesOther(11)),
            (None, false, true, true, Missing),
            // Found through the pid file itself, or not dockerd: a missing file says nothing.
            (None, false, false, true, Agrees),
            (None, false, true, false, Agrees),
            // A file without a number exists: dockerd ignores it.
            (None, true, true, true, Agrees),
        ];
        for (named, exists, socket, dockerd, want) in cases {
            assert_eq!(
                pidfile_agreement(*named, 10, *exists, *socket, *dockerd),
                *want,
                "{named:?} {exists} {socket} {dockerd}"
            );
        }
    }
}
