//! A FUSE mount a test can freeze: Debian's bindfs mirroring a directory, run in the foreground
//! as a child of the test, so that SIGSTOP to *that* pid (never a name) makes a filesystem
//! server that stops answering — what a hung NFS, sshfs or other FUSE volume looks like. Every
//! `stat`, `open` or `readdir` below the mount then waits in the kernel (`request_wait_answer`)
//! until the server is resumed.
//!
//! ```ignore
//! let fs = BindFs::start(src.path(), &data_root.join("volumes/v/_data"));
//! fs.freeze();   // from now on, anything touching the mount hangs
//! …
//! fs.thaw();     // or just drop it
//! ```
//!
//! Drop cleans up whatever happened, also when the test panics: SIGCONT, `fusermount -u` (else
//! a lazy unmount), then SIGTERM — SIGKILL after 5 s — and reap. bindfs is spawned tied to
//! the test process (PR_SET_PDEATHSIG=SIGKILL): if the tests die, it dies, the mount turns into
//! "transport endpoint is not connected", and the next run's sweep unmounts it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{daemon::spawn_tied, procfs, run};

/// How long bindfs may take to mount.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// A bindfs mount of `src` at `mountpoint`. See the module docs.
pub struct BindFs {
    child: Mutex<Option<Child>>,
    pid: i32,
    mountpoint: PathBuf,
}

impl BindFs {
    /// Mounts `src` at `mountpoint` (which must exist) with bindfs in the foreground, and waits
    /// until the kernel shows the mount. Panics, after cleaning up, when it does not come up.
    pub fn start(src: &Path, mountpoint: &Path) -> BindFs {
        let mut cmd = Command::new("bindfs");
        cmd.arg("-f")
            .arg(src)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = spawn_tied(cmd, Signal::SIGKILL).unwrap_or_else(|e| {
            panic!("cannot run bindfs (install bindfs, see scripts/setup-test-host): {e}")
        });
        let fs = BindFs {
            pid: child.id() as i32,
            child: Mutex::new(Some(child)),
            mountpoint: mountpoint.to_path_buf(),
        };
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        while !fs.mounted() {
            let exited = fs.with_child(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                let mut err = String::new();
                // Taken out, so that drop neither signals nor waits for a reaped pid.
                if let Some(mut c) = fs.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = c.kill();
                    let _ = c.wait();
                    if let Some(mut e) = c.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                }
                panic!(
                    "bindfs {} {} did not mount within {MOUNT_TIMEOUT:?} (exit: {exited:?}): {err}",
                    src.display(),
                    mountpoint.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        fs
    }

    /// The bindfs process: the filesystem's server.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Whether the kernel shows a FUSE mount at the mount point (read from mountinfo, which
    /// never touches the filesystem itself).
    pub fn mounted(&self) -> bool {
        let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        text.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let fstype = f
                .iter()
                .position(|x| *x == "-")
                .and_then(|i| f.get(i + 1))
                .copied()
                .unwrap_or_default();
            f.get(4).is_some_and(|m| Path::new(m) == self.mountpoint) && fstype.starts_with("fuse")
        })
    }

    /// SIGSTOP the server: from now on every access below the mount waits. Returns once the
    /// kernel shows it stopped.
    pub fn freeze(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGSTOP);
        let deadline = Instant::now() + Duration::from_secs(5);
        while procfs::stat(self.pid).is_some_and(|s| s.state != 'T') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGCONT the server: waiting accesses get their answers.
    pub fn thaw(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGCONT);
    }

    fn with_child<T>(&self, f: impl FnOnce(&mut Child) -> Option<T>) -> Option<T> {
        self.child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(f)
    }
}

impl Drop for BindFs {
    fn drop(&mut self) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        // Only our own, unreaped child is ever signalled.
        if child.is_some() {
            self.thaw();
        }
        if self.mounted() {
            let mut umount = Command::new("fusermount");
            umount.arg("-u").arg(&self.mountpoint);
            let r = run(umount, Duration::from_secs(10));
            if !r.success() || self.mounted() {
                // Busy (a process still has something open below it): detach it lazily.
                let left = procfs::unmount_all_under(&self.mountpoint);
                if !left.is_empty() {
                    eprintln!("dockhand tests: could not unmount {left:?}");
                }
            }
        }
        let Some(mut child) = child else {
            return;
        };
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
