//! /proc and the kernel: processes, which process owns a socket, filesystem usage.
//!
//! Everything here is synchronous and may block on a process in `D` state (reading its
//! cmdline takes its mm lock); callers run it through [`super::blocking`] under a deadline.
//! Processes vanish mid-scan: ENOENT/ESRCH mean "gone", never an error.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procfs::process::{FDTarget, Process};

/// What /proc says about one process.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    /// One letter: R running, S sleeping, D uninterruptible, T stopped, t traced, Z zombie, …
    pub state: char,
    /// The kernel function a sleeping process waits in (`/proc/<pid>/wchan`), when readable.
    pub wchan: Option<String>,
    pub threads: i64,
    /// Open file descriptors; `None` when not permitted to look.
    pub fds: Option<usize>,
    /// The soft `RLIMIT_NOFILE`.
    pub fd_limit: Option<u64>,
    pub rss_bytes: u64,
    /// Start time as seconds since the epoch.
    pub started_at: Option<u64>,
    /// Start time in clock ticks since boot: with the pid, identifies the process across pid reuse.
    pub start_ticks: u64,
    pub cmdline: Vec<String>,
    pub exe: Option<PathBuf>,
    /// The cgroup path of the process (v2 unified path, or v1's systemd/pids hierarchy).
    pub cgroup: Option<String>,
}

/// Reads one process. `None` if it is gone.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let p = Process::new(pid).ok()?;
    let stat = p.stat().ok()?;
    let boot = procfs::boot_time_secs().ok();
    let tps = procfs::ticks_per_second().max(1);
    let fd_limit = p
        .limits()
        .ok()
        .and_then(|l| match l.max_open_files.soft_limit {
            procfs::process::LimitValue::Value(v) => Some(v),
            procfs::process::LimitValue::Unlimited => None,
        });
    Some(ProcInfo {
        pid,
        ppid: stat.ppid,
        comm: stat.comm.clone(),
        state: stat.state,
        wchan: p.wchan().ok().filter(|w| !w.is_empty() && w != "0"),
        threads: stat.num_threads,
        fds: p.fd_count().ok(),
        fd_limit,
        rss_bytes: stat.rss * procfs::page_size(),
        started_at: boot.map(|b| b + stat.starttime / tps),
        start_ticks: stat.starttime,
        cmdline: p.cmdline().unwrap_or_default(),
        exe: p.exe().ok(),
        cgroup: cgroup_of(pid),
    })
}

/// One thread of a process, as far as telling a stuck one from a busy one goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskState {
    pub tid: i32,
    /// One letter, as for a process: S sleeping, D uninterruptible, …
    pub state: char,
    /// The kernel function it waits in (`wchan`), when readable and asleep.
    pub wchan: Option<String>,
    /// Context switches so far (voluntary + not): unchanged across a window means the thread
    /// was not scheduled once in it. `None` when unreadable.
    pub switches: Option<u64>,
}

/// The threads of `pid` (`only`: just these tids; else all): `/proc/<pid>/task/<tid>/stat`,
/// `wchan` and `status`. `None` when the process is gone. A thread that exits mid-read is
/// left out. A thread's stat and wchan never wait on the thread itself, so these reads do not
/// block where the thread does — callers still run them under a deadline.
pub fn tasks(pid: i32, only: Option<&[i32]>) -> Option<Vec<TaskState>> {
    let dir = PathBuf::from(format!("/proc/{pid}/task"));
    let tids: Vec<i32> = match only {
        Some(t) => t.to_vec(),
        None => std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect(),
    };
    Some(tids.into_iter().filter_map(|tid| task(&dir, tid)).collect())
}

fn task(dir: &Path, tid: i32) -> Option<TaskState> {
    let base = dir.join(tid.to_string());
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // comm may hold spaces and parentheses: the state follows the last ')'.
    let state = stat
        .get(stat.rfind(')')? + 1..)?
        .trim_start()
        .chars()
        .next()?;
    let wchan = std::fs::read_to_string(base.join("wchan"))
        .ok()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty() && w != "0");
    let switches = std::fs::read_to_string(base.join("status"))
        .ok()
        .and_then(|st| {
            let count = |key: &str| {
                st.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            Some(count("voluntary_ctxt_switches:")? + count("nonvoluntary_ctxt_switches:")?)
        });
    Some(TaskState {
        tid,
        state,
        wchan,
        switches,
    })
}

/// The cgroup a process is in, preferring the unified (v2) line, else v1's `name=systemd`.
fn cgroup_of(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut v1 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
        if id == "0" && ctrl.is_empty() {
            return Some(path.to_string());
        }
        if ctrl == "name=systemd" || (v1.is_none() && ctrl.contains("pids")) {
            v1 = Some(path.to_string());
        }
    }
    v1
}

/// One row of the process table: enough to find Docker's processes, their parents and zombies.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcRow {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    pub state: char,
    pub cmdline: Vec<String>,
    /// Start time in clock ticks since boot: with the pid, identifies the process.
    pub start_ticks: u64,
    pub uid: Option<u32>,
}

/// Every process, read once. Processes that vanish mid-scan are skipped.
pub fn process_table() -> Vec<ProcRow> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let p = Process::new(pid).ok()?;
            let stat = p.stat().ok()?;
            Some(ProcRow {
                pid,
                ppid: stat.ppid,
                comm: stat.comm,
                state: stat.state,
                cmdline: p.cmdline().unwrap_or_default(),
                start_ticks: stat.starttime,
                uid: p.uid().ok(),
            })
        })
        .collect()
}

/// The comm name of a process, cheaply.
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// All pids in /proc.
pub fn pids() -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .collect()
}

/// Who holds a listening unix socket, and how well we could see.
#[derive(Debug, Clone, Default)]
pub struct SocketOwners {
    /// The pids that hold the listening socket, best candidate (not pid 1) first.
    pub pids: Vec<i32>,
    /// Processes whose fds we were not allowed to read (not root): the owner may be among them.
    pub unreadable: usize,
    /// The socket's inode was found in /proc/net/unix (something listens on it).
    pub listening: bool,
}

/// Finds the processes holding the listening unix socket at `path`: the socket's inode from
/// /proc/net/unix (matched by device and inode of the path, so /var/run vs /run symlinks agree),
/// then `socket:[inode]` among /proc/*/fd. Processes named like an engine are searched first.
pub fn unix_socket_owners(path: &Path) -> SocketOwners {
    let mut out = SocketOwners::default();
    let Ok(meta) = std::fs::metadata(path) else {
        return out;
    };
    let want = (meta.dev(), meta.ino());
    let Ok(entries) = procfs::net::unix() else {
        return out;
    };
    let inodes: HashSet<u64> = entries
        .iter()
        .filter(|e| e.state != procfs::net::UnixState::CONNECTED)
        .filter_map(|e| {
            let p = e.path.as_ref()?;
            let m = std::fs::metadata(p).ok()?;
            ((m.dev(), m.ino()) == want).then_some(e.inode)
        })
        .collect();
    if inodes.is_empty() {
        return out;
    }
    out.listening = true;
    let all = pids();
    let engine_like = |pid: &i32| {
        comm(*pid)
            .is_some_and(|c| matches!(c.as_str(), "dockerd" | "podman" | "docker" | "containerd"))
    };
    let (first, rest): (Vec<i32>, Vec<i32>) = all.into_iter().partition(engine_like);
    for (i, group) in [first, rest].into_iter().enumerate() {
        for pid in group {
            match holds_socket(pid, &inodes) {
                Some(true) => out.pids.push(pid),
                Some(false) => {}
                None => out.unreadable += 1,
            }
        }
        // The engine-named processes are enough when one of them holds it (pid 1 may too,
        // under socket activation, but the daemon is the one we want).
        if i == 0 && !out.pids.is_empty() {
            break;
        }
    }
    out.pids.sort_by_key(|p| (*p == 1, *p));
    out
}

/// `Some(true)` if the process has one of `inodes` open, `None` if its fds are unreadable.
fn holds_socket(pid: i32, inodes: &HashSet<u64>) -> Option<bool> {
    let p = Process::new(pid).ok()?;
    let fds = match p.fd() {
        Ok(f) => f,
        Err(procfs::ProcError::PermissionDenied(_)) => return None,
        Err(_) => return Some(false),
    };
    Some(
        fds.flatten()
            .any(|fd| matches!(fd.target, FDTarget::Socket(ino) if inodes.contains(&ino))),
    )
}

/// Space and inode use of the filesystem holding `path`, as `df` computes it: used over
/// used + available to unprivileged users (the root reserve does not count as free).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FsUsage {
    pub path: PathBuf,
    pub mount_point: Option<PathBuf>,
    pub fs_type: Option<String>,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
    pub used_percent: f64,
    pub inodes_total: u64,
    pub inodes_used: u64,
    pub inodes_used_percent: f64,
}

pub fn fs_usage(path: &Path) -> std::io::Result<FsUsage> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let frsize = st.fragment_size().max(1);
    let blocks = st.blocks();
    let bfree = st.blocks_free();
    let bavail = st.blocks_available();
    let used = blocks.saturating_sub(bfree);
    let denom = used + bavail;
    let pct = |n: u64, d: u64| {
        if d == 0 {
            0.0
        } else {
            (n as f64 * 10_000.0 / d as f64).ceil() / 100.0
        }
    };
    let files = st.files();
    let ifree = st.files_free();
    let iused = files.saturating_sub(ifree);
    let (mount_point, fs_type) = mount_of(path).unzip();
    Ok(FsUsage {
        path: path.to_path_buf(),
        mount_point,
        fs_type,
        total_bytes: blocks * frsize,
        used_bytes: used * frsize,
        free_bytes: bavail * frsize,
        used_percent: pct(used, denom),
        inodes_total: files,
        inodes_used: iused,
        inodes_used_percent: pct(iused, files),
    })
}

/// The mount point and filesystem type holding `path`: the longest mount point that prefixes
/// its canonical form.
pub fn mount_of(path: &Path) -> Option<(PathBuf, String)> {
    let canon = std::fs::canonicalize(path).ok()?;
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(PathBuf, String)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mp) = fields.get(4) else { continue };
        let mp = PathBuf::from(unescape_mount(mp));
        let fstype = fields
            .iter()
            .position(|f| *f == "-")
            .and_then(|i| fields.get(i + 1))
            .map(|s| s.to_string())
            .unwrap_or_default();
        if canon.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|(b, _)| mp.as_os_str().len() >= b.as_os_str().len())
        {
            best = Some((mp, fstype));
        }
    }
    best
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = proc_info(std::process::id() as i32).expect("self");
        assert!(matches!(me.state, 'R' | 'S'));
        assert!(me.threads >= 1);
        assert!(me.rss_bytes > 0);
        assert!(me.fds.is_some_and(|n| n > 0));
        assert!(me.started_at.is_some_and(|s| s <= now_secs()));
    }

    #[test]
    fn reads_our_own_threads() {
        let me = std::process::id() as i32;
        let all = tasks(me, None).expect("self");
        let main = all.iter().find(|t| t.tid == me).expect("the main thread");
        assert!(matches!(main.state, 'R' | 'S'));
        assert!(main.switches.is_some());
        let one = tasks(me, Some(&[me])).expect("self");
        assert_eq!(one.len(), 1);
        assert!(tasks(i32::MAX, None).is_none());
        // A tid that is not there is left out, not an error.
        assert!(tasks(me, Some(&[i32::MAX])).expect("self").is_empty());
    }

    #[test]
    fn a_gone_pid_is_none() {
        assert!(proc_info(i32::MAX).is_none());
    }

    #[test]
    fn finds_the_owner_of_a_listening_socket() {
        let d = std::env::temp_dir().join(format!("dockhand-host-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        let sock = d.join("l.sock");
        let _ = std::fs::remove_file(&sock);
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let owners = unix_socket_owners(&sock);
        assert!(owners.listening);
        assert_eq!(owners.pids, vec![std::process::id() as i32]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn usage_of_the_root_filesystem() {
        let u = fs_usage(Path::new("/")).expect("statvfs");
        assert!(u.total_bytes > 0);
        assert!((0.0..=100.0).contains(&u.used_percent));
        assert!(u.mount_point.is_some());
    }
}
