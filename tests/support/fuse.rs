//! A FUSE mount the test can freeze: Debian's bindfs mirroring a directory, in the foreground so
//! the test holds its pid. `freeze()` sends SIGSTOP to that pid (never by name): every `stat`,
//! `readdir` and `open` under the mount then blocks in the kernel, as under an NFS or FUSE server
//! that went away. The guard thaws, detaches and kills it on drop, also when an assertion failed;
//! if the whole test process dies, bindfs dies with it (PR_SET_PDEATHSIG) and the mount point
//! answers ENOTCONN rather than hanging.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::daemon::spawn_tied;

pub struct BindMount {
    child: Child,
    mountpoint: PathBuf,
}

impl BindMount {
    /// Mounts `src` at `mountpoint` (created if missing) and waits until the mount is there.
    pub fn start(src: &Path, mountpoint: &Path) -> BindMount {
        std::fs::create_dir_all(mountpoint)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", mountpoint.display()));
        let mut cmd = Command::new("bindfs");
        cmd.arg("-f")
            .arg(src)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied(cmd, Signal::SIGKILL).unwrap_or_else(|e| {
            panic!("cannot start bindfs (scripts/setup-test-host installs it): {e}")
        });
        let m = BindMount {
            child,
            mountpoint: mountpoint.to_path_buf(),
        };
        let t = Instant::now();
        while !m.mounted() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "bindfs did not mount {} within 10 s",
                mountpoint.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn mounted(&self) -> bool {
        let want = self.mountpoint.to_string_lossy().replace(' ', "\\040");
        std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|t| {
            t.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str()) && l.contains("fuse"))
        })
    }

    /// The filesystem stops answering.
    pub fn freeze(&self) {
        kill(Pid::from_raw(self.pid()), Signal::SIGSTOP).expect("SIGSTOP bindfs");
    }

    pub fn thaw(&self) {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGCONT);
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        self.thaw();
        // Lazily: a process still blocked in it must not keep the mount (or this drop) stuck.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
