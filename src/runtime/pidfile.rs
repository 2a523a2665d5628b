//! THE reader of a pid file (the daemon's, or the containerd it supervises): its text, the pid
//! it names read as dockerd reads it, and what that pid is now — the one function doctor's
//! daemon checks, `reap` and `recover` all call, so "stale" cannot mean one thing to the check
//! and another to the command that removes the file. What to do about it (remove, rewrite,
//! leave) is [`crate::policy::daemon::pidfile_repair`]'s verdict on this evidence.
//!
//! Synchronous (a /proc read of a process in D can block): call through [`super::blocking`].

use std::path::Path;

use super::host::{self, ProcInfo};

/// What the pid file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidfileState {
    /// No file: nothing can block a start.
    Missing,
    /// The file could not be read (the reason).
    Unreadable(String),
    /// The file holds no number: dockerd ignores such a file.
    NoPid,
    /// It names the daemon serving the API.
    Daemon(i32),
    /// It names a pid that no longer exists: harmless until the pid is reused.
    Gone(i32),
    /// It names another running dockerd (or podman).
    OtherEngine(i32),
    /// It names a live process that is not a container engine: the next start fails.
    NotEngine(i32),
}

impl PidfileState {
    /// The pid the file names, when it names one.
    pub fn named_pid(&self) -> Option<i32> {
        match self {
            PidfileState::Daemon(p)
            | PidfileState::Gone(p)
            | PidfileState::OtherEngine(p)
            | PidfileState::NotEngine(p) => Some(*p),
            _ => None,
        }
    }

    /// Stale: it names a pid that is gone or is not a container engine. Only such a file may be
    /// removed or rewritten; one that names any running engine never is.
    pub fn is_stale(&self) -> bool {
        matches!(self, PidfileState::Gone(_) | PidfileState::NotEngine(_))
    }
}

/// The pid a pid file's text names, read as dockerd reads it
/// (`strconv.Atoi(strings.TrimSpace(content))`; anything else, or a pid ≤ 0, is no pid).
pub fn parse_pidfile(text: &str) -> Option<i32> {
    text.trim().parse::<i32>().ok().filter(|p| *p > 0)
}

/// Classifies a pid file's content (`Ok(None)`: no file; `Err`: why it could not be read).
/// `daemon` is the pid serving the API, if one does; `probe(pid)` says whether a pid exists and
/// is a container engine (`None`: gone) — the only I/O, passed in.
pub fn classify_pidfile(
    content: Result<Option<String>, String>,
    daemon: Option<i32>,
    probe: impl FnOnce(i32) -> Option<bool>,
) -> PidfileState {
    let text = match content {
        Ok(None) => return PidfileState::Missing,
        Ok(Some(t)) => t,
        Err(e) => return PidfileState::Unreadable(e),
    };
    let Some(pid) = parse_pidfile(&text) else {
        return PidfileState::NoPid;
    };
    if Some(pid) == daemon {
        return PidfileState::Daemon(pid);
    }
    match probe(pid) {
        None => PidfileState::Gone(pid),
        Some(true) => PidfileState::OtherEngine(pid),
        Some(false) => PidfileState::NotEngine(pid),
    }
}

/// Which program the pid in the file should be for the file to be in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The daemon's own pid file: a container engine (dockerd, or Podman's service) — by
    /// executable and owner, never by name.
    Engine,
    /// `<exec-root>/containerd/containerd.pid`: the containerd dockerd supervises.
    Containerd,
}

impl Owner {
    fn runs(self, pid: i32) -> bool {
        match self {
            Owner::Engine => super::daemon::is_engine_program(pid),
            Owner::Containerd => {
                host::docker_program(pid, None)
                    == Some(crate::runtime::identity::DockerProgram::Containerd)
            }
        }
    }
}

/// A pid file as found: what it names, and the process it names as /proc shows it now.
#[derive(Debug, Clone)]
pub struct PidfileRead {
    pub state: PidfileState,
    /// The process the file names, when it names one that exists (a zombie included).
    pub named: Option<ProcInfo>,
}

/// The file's text: `Ok(None)` when there is no file, `Err` (the reason) when it cannot be read.
pub fn read_text(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The pid the file names ([`parse_pidfile`]); `None` when there is none or no file.
pub fn pid_in(path: &Path) -> Option<i32> {
    read_text(path)
        .ok()
        .flatten()
        .as_deref()
        .and_then(parse_pidfile)
}

/// Reads the pid file at `path` and judges what it names ([`classify_pidfile`]): `daemon` is
/// the pid serving the API, if one does; `owner` the program the file belongs to. A pid that is
/// a zombie (or dead) counts as not the owner: dockerd's start-up check (`kill(pid, 0)`) still
/// sees a zombie and refuses to start, and a zombie serves nothing, so its file is stale.
pub fn judge(path: &Path, daemon: Option<i32>, owner: Owner) -> PidfileRead {
    let mut named = None;
    let state = classify_pidfile(read_text(path), daemon, |pid| {
        let info = host::proc_info(pid)?;
        let live = !matches!(info.state, 'Z' | 'X' | 'x');
        named = Some(info);
        Some(live && owner.runs(pid))
    });
    if named.is_none() {
        named = state.named_pid().and_then(host::proc_info);
    }
    PidfileRead { state, named }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("dockhand-pidfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn pidfile_texts() {
        // (text, the pid dockerd would read)
        let cases = [
            ("1234\n", Some(1234)),
            ("  77  \n", Some(77)),
            ("0", None),
            ("-3", None),
            ("12 34", None),
            ("12abc", None),
            ("", None),
            ("\u{0}\u{0}", None),
            ("99999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_pidfile(text), want, "{text:?}");
        }
    }

    #[test]
    fn files_with_junk_gone_pids_and_strangers() {
        use PidfileState::*;
        let d = tmp("judge");
        let f = d.join("docker.pid");
        let me = std::process::id() as i32;
        // No file; junk; a gone pid; a live process that is no engine (this test).
        assert_eq!(judge(&f, None, Owner::Engine).state, Missing);
        for junk in ["garbage\n", "", "-1", "0x10"] {
            std::fs::write(&f, junk).expect("write");
            let got = judge(&f, None, Owner::Engine);
            assert_eq!(got.state, NoPid, "{junk:?}");
            assert!(got.named.is_none());
        }
        std::fs::write(&f, format!("{}\n", i32::MAX)).expect("write");
        assert_eq!(judge(&f, None, Owner::Engine).state, Gone(i32::MAX));
        std::fs::write(&f, me.to_string()).expect("write");
        for owner in [Owner::Engine, Owner::Containerd] {
            let got = judge(&f, None, owner);
            assert_eq!(got.state, NotEngine(me), "{owner:?}");
            assert_eq!(got.named.map(|i| i.pid), Some(me));
        }
        // Naming the daemon serving the API: the process is read all the same.
        let got = judge(&f, Some(me), Owner::Engine);
        assert_eq!(got.state, Daemon(me));
        assert_eq!(got.named.map(|i| i.pid), Some(me));
        assert_eq!(pid_in(&f), Some(me));
        // A directory where the file should be cannot be read: said, not guessed.
        let dir = d.join("dir.pid");
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert!(matches!(
            judge(&dir, None, Owner::Engine).state,
            Unreadable(_)
        ));
        assert_eq!(pid_in(&dir), None);
        let _ = std::fs::remove_dir_all(d);
    }
}
