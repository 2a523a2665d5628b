//! The attacker of the adversary suite: an unprivileged local user (`nobody`/`nogroup`, through
//! `setpriv`), with a scratch directory of its own it may write to. Everything it starts is
//! killed when the guard is dropped, also when an assertion fails.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::TempDir;
use super::leaks::Kid;

/// The unprivileged user's uid and gid.
pub const NOBODY_UID: u32 = 65534;
pub const NOGROUP_GID: u32 = 65534;

/// `setpriv` arguments that drop to nobody:nogroup with no supplementary groups and no caps.
pub fn setpriv_args() -> Vec<String> {
    vec![
        "--reuid=65534".into(),
        "--regid=65534".into(),
        "--clear-groups".into(),
        "--inh-caps=-all".into(),
        "--bounding-set=-all".into(),
        // Credentials change clears the parent-death signal: set it again after the switch.
        "--pdeathsig=SIGKILL".into(),
        "--".into(),
    ]
}

/// A command that runs `program args…` as nobody.
pub fn as_nobody(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("setpriv");
    c.args(setpriv_args()).arg(program);
    c
}

/// Run a shell snippet as nobody and wait for it (bounded by the caller's snippet).
pub fn sh_as_nobody(script: &str) -> Output {
    as_nobody("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run setpriv: {e}"))
}

/// The attacker's home: a directory under a test dir, owned by nobody, mode 0755, so root's
/// tests can read what the attacker planted and the attacker can plant there.
#[derive(Debug)]
pub struct Lair {
    _dir: TempDir,
    path: PathBuf,
}

impl Lair {
    pub fn new() -> Lair {
        let dir = TempDir::new();
        // The test dir is 0700 root: let nobody through to its own subdir.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let path = dir.join("att");
        std::fs::create_dir(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(NOBODY_UID), Some(NOGROUP_GID)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Lair { _dir: dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// Start `program args…` as nobody in the lair; killed on drop of the returned guard.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Kid {
        let mut c = as_nobody(program);
        c.args(args).current_dir(&self.path);
        Kid(
            super::daemon::spawn_tied(c, nix::sys::signal::Signal::SIGKILL)
                .unwrap_or_else(|e| panic!("cannot start {program} as nobody: {e}")),
        )
    }
}

impl Default for Lair {
    fn default() -> Self {
        Lair::new()
    }
}

/// What a file looked like, to assert that an attack left it alone: bytes, mode, owner, inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub ino: u64,
}

impl Snapshot {
    pub fn of(path: &Path) -> Snapshot {
        let meta = std::fs::symlink_metadata(path)
            .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()));
        Snapshot {
            bytes: std::fs::read(path).unwrap_or_default(),
            mode: meta.mode(),
            uid: meta.uid(),
            ino: meta.ino(),
        }
    }
}
