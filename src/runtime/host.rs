//! /proc and the kernel: processes, which process owns a socket, filesystem usage.
//!
//! Everything here is synchronous and may block on a process in `D` state (reading its
//! cmdline takes its mm lock); callers run it through [`super::blocking`] under a deadline.
//! Processes vanish mid-scan: ENOENT/ESRCH mean "gone", never an error.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use procfs::process::Process;

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
    let stat = super::proc::stat(pid)?;
    let p = Process::new(pid).ok()?;
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
        comm: stat.comm,
        state: stat.state,
        wchan: super::proc::wchan(pid, None),
        threads: stat.threads,
        fds: p.fd_count().ok(),
        fd_limit,
        rss_bytes: stat.rss_pages * procfs::page_size(),
        started_at: boot.map(|b| b + stat.start_ticks / tps),
        start_ticks: stat.start_ticks,
        cmdline: p.cmdline().unwrap_or_default(),
        exe: p.exe().ok(),
        cgroup: cgroup_of(pid),
    })
}

pub use super::proc::{TaskState, tasks};

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
    /// Who it is, as the kernel says: what [`ProcRow::program`] judges. Read only for a process
    /// whose executable is named like one of Docker's or Podman's programs (no other is one).
    pub identity: Option<crate::runtime::identity::Identity>,
}

impl ProcRow {
    /// Which of Docker's programs this process is, if it is one (see [`docker_program`]).
    pub fn program(
        &self,
        daemon_uid: Option<u32>,
    ) -> Option<crate::runtime::identity::DockerProgram> {
        crate::runtime::identity::docker_program(self.identity.as_ref()?, daemon_uid).ok()
    }

    /// The program's name when it is one of Docker's, else "": for policies that match on the
    /// name of a process's program (a parent that is a live dockerd).
    pub fn docker_name(&self, daemon_uid: Option<u32>) -> &'static str {
        self.program(daemon_uid).map_or("", |p| p.name())
    }
}

/// Every process, read once. Processes that vanish mid-scan are skipped.
pub fn process_table() -> Vec<ProcRow> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = super::proc::stat(pid)?;
            let p = Process::new(pid).ok()?;
            Some(ProcRow {
                pid,
                ppid: stat.ppid,
                comm: stat.comm,
                state: stat.state,
                cmdline: p.cmdline().unwrap_or_default(),
                start_ticks: stat.start_ticks,
                uid: p.uid().ok(),
                identity: engine_identity(pid),
            })
        })
        .collect()
}

/// A process's state as a judge of "can it accept" needs it, read fresh: state letter, wchan,
/// parent, start time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcState {
    pub state: char,
    pub wchan: Option<String>,
    pub ppid: i32,
    pub start_ticks: u64,
}

/// Reads `/proc/<pid>/stat` and `wchan` (neither takes the process's memory lock, so a process
/// in D does not block them). `None` when it is gone.
pub fn proc_state(pid: i32) -> Option<ProcState> {
    let st = super::proc::stat(pid)?;
    Some(ProcState {
        state: st.state,
        wchan: super::proc::wchan(pid, None),
        ppid: st.ppid,
        start_ticks: st.start_ticks,
    })
}

/// A check's clock, read once per check: now, and the boot time that turns a process's start
/// time (clock ticks since boot) into an age.
#[derive(Debug, Clone, Copy)]
pub struct ProcClock {
    /// Seconds since the epoch.
    pub now: f64,
    boot_s: Option<f64>,
    ticks_per_s: u64,
}

impl ProcClock {
    /// Reads the clock, and the boot time from /proc/stat under `deadline`.
    pub async fn read(deadline: Duration) -> ProcClock {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let boot_s = super::blocking(deadline, || procfs::boot_time_secs().ok())
            .await
            .flatten()
            .map(|b| b as f64);
        ProcClock {
            now,
            boot_s,
            ticks_per_s: procfs::ticks_per_second(),
        }
    }

    /// Seconds a process started `start_ticks` after boot has run; `None` without a boot time.
    pub fn age_s(&self, start_ticks: u64) -> Option<f64> {
        Some(age_s(start_ticks, self.boot_s?, self.ticks_per_s, self.now))
    }
}

/// Seconds a process has run at `now` (seconds since the epoch), from its start time in clock
/// ticks since boot (`/proc/<pid>/stat` field 22), the boot time and the clock's ticks per
/// second. Never negative. Plain arithmetic on what /proc said, so it lives with the reading.
pub fn age_s(start_ticks: u64, boot_s: f64, ticks_per_s: u64, now: f64) -> f64 {
    let started = boot_s + start_ticks as f64 / ticks_per_s.max(1) as f64;
    (now - started).max(0.0)
}

/// The comm name of a process, cheaply.
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Whether two unix socket paths name the same socket, allowing for symlinked directories
/// (`/var/run` → `/run`). Touches the filesystem: call it through [`super::blocking`].
pub fn same_socket(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let canon = |p: &Path| {
        let dir = p.parent().and_then(|d| std::fs::canonicalize(d).ok())?;
        Some(dir.join(p.file_name()?))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
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

/// User names by uid, from /etc/passwd (the host's, when dockhand runs on the host). Empty when
/// the file cannot be read: names are a courtesy, uids stay the truth. Users known only to NSS
/// (LDAP, sssd) have no entry here.
pub fn user_names() -> HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .map(|t| parse_passwd(&t))
        .unwrap_or_default()
}

/// `name:x:uid:gid:gecos:home:shell` lines → uid → name. The first entry of a uid wins (as
/// getpwuid(3) answers); comments, blank and malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let (false, Ok(uid)) = (name.is_empty(), uid.parse::<u32>()) {
            out.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    out
}

/// Who holds a listening unix socket, and how well we could see.
#[derive(Debug, Clone, Default)]
pub struct SocketOwners {
    /// The pids that hold the listening socket, best candidate (not pid 1) first.
    pub pids: Vec<i32>,
    /// Processes whose fds we were not allowed to read (not root): the owner may be among them.
    pub unreadable: usize,
    /// Something listens on the socket file itself.
    pub listening: bool,
    /// The path is a symbolic link: it is nobody's socket, and is not followed.
    pub symlink: bool,
    /// The socket file's owner (read without following a symlink).
    pub file_uid: Option<u32>,
}

/// Finds the processes holding the listening unix socket at `path`, without ever resolving a
/// socket's path again: the path is `lstat`ed (a symlink is refused), the kernel's socket
/// diagnostics name the listening socket whose bound file has that very device and inode, and
/// the holders are the processes with that socket's inode among `/proc/*/fd`. A socket bound
/// elsewhere whose path was later replaced by a symlink to this one is not this socket.
pub fn unix_socket_owners(path: &Path) -> SocketOwners {
    let mut out = SocketOwners::default();
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return out;
    };
    if meta.file_type().is_symlink() {
        out.symlink = true;
        return out;
    }
    out.file_uid = Some(meta.uid());
    let want = (
        nix::sys::stat::major(meta.dev()) as u32,
        nix::sys::stat::minor(meta.dev()) as u32,
        meta.ino(),
    );
    let inodes: HashSet<u64> = match super::sockdiag::unix_listeners() {
        Ok(all) => all
            .into_iter()
            .filter(|s| s.vfs == Some(want))
            .map(|s| s.inode)
            .collect(),
        // No unix diag in this kernel: /proc/net/unix names each socket by the path it was
        // bound to; only that exact path counts (never resolved again: a symlink planted at
        // another socket's path would make it look like this one).
        Err(_) => procfs::net::unix()
            .map(|entries| {
                entries
                    .into_iter()
                    .filter(|e| e.state != procfs::net::UnixState::CONNECTED)
                    .filter(|e| e.path.as_deref() == Some(path))
                    .map(|e| e.inode)
                    .collect()
            })
            .unwrap_or_default(),
    };
    if inodes.is_empty() {
        return out;
    }
    out.listening = true;
    // Search order only (the holder is proved by the socket's inode, and judged by what it
    // runs, not by its name): processes calling themselves an engine are searched first, so
    // the usual case stops early.
    let until = Instant::now() + super::proc::SEARCH_BOUND;
    let all = pids();
    let engine_like = |pid: &i32| {
        comm(*pid)
            .is_some_and(|c| matches!(c.as_str(), "dockerd" | "podman" | "docker" | "containerd"))
    };
    let (first, rest): (Vec<i32>, Vec<i32>) = all.into_iter().partition(engine_like);
    for (i, group) in [first, rest].into_iter().enumerate() {
        for pid in group {
            match holds_socket(pid, &inodes, until) {
                Some(true) => out.pids.push(pid),
                Some(false) => {}
                None => out.unreadable += 1,
            }
        }
        if i == 0 && out.pids.iter().any(|p| *p != 1) {
            break;
        }
    }
    out.pids.sort_by_key(|p| (*p == 1, *p));
    out
}

/// What the kernel says about who `pid` is: its uids and the executable it runs (see
/// [`crate::runtime::identity`]). `None` when it is gone.
pub fn identity(pid: i32) -> Option<crate::runtime::identity::Identity> {
    identity_of(pid, std::fs::read_link(format!("/proc/{pid}/exe")).ok())
}

/// [`identity`], read only for a process whose executable's base name is one of Docker's or
/// Podman's programs — no other can pass [`crate::runtime::identity::docker_program`] — so the
/// process table costs one `readlink` more per process, not four reads.
fn engine_identity(pid: i32) -> Option<crate::runtime::identity::Identity> {
    use crate::runtime::identity::{exe_name, program_by_name};
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let name = exe_name(&link);
    let wanted = program_by_name(&name).is_some()
        || matches!(
            name.as_str(),
            "podman" | "conmon" | "rootlessport" | "aardvark-dns"
        );
    if !wanted {
        return None;
    }
    identity_of(pid, Some(link))
}

fn identity_of(pid: i32, link: Option<PathBuf>) -> Option<crate::runtime::identity::Identity> {
    use crate::runtime::identity::{ExeFacts, Identity};
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .map(|v| {
            v.split_whitespace()
                .filter_map(|u| u.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let exe = (|| {
        let link = link?;
        // The inode the process runs, through the kernel's own link (no path lookup).
        let file = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
        let shown = link.to_string_lossy();
        let path = PathBuf::from(shown.strip_suffix(" (deleted)").unwrap_or(&shown));
        // The directory as the process itself sees it: through its own root, so a daemon in
        // another mount namespace (dockhand in a container with the host's pids) is judged by
        // its own directory, not by whatever lies at that path here. The kernel's path has no
        // symlinks in it; our own view is the fallback when the process's root is not readable.
        let dir = path
            .parent()
            .and_then(|d| {
                let rel = d.strip_prefix("/").unwrap_or(d);
                std::fs::metadata(Path::new(&format!("/proc/{pid}/root")).join(rel))
                    .or_else(|_| std::fs::metadata(d))
                    .ok()
            })
            .map(|m| (m.uid(), m.mode()));
        Some(ExeFacts {
            path,
            uid: file.uid(),
            mode: file.mode(),
            dir,
        })
    })();
    Some(Identity { uids, exe })
}

/// THE answer to "is `pid` one of Docker's own programs" for every command: judged by
/// [`crate::runtime::identity::docker_program`] on what the kernel says (never the name a process
/// gives itself). `daemon_uid`: the verified daemon's user, when it is rootless.
pub fn docker_program(
    pid: i32,
    daemon_uid: Option<u32>,
) -> Option<crate::runtime::identity::DockerProgram> {
    crate::runtime::identity::docker_program(&identity(pid)?, daemon_uid).ok()
}

/// `Some(true)` if the process has one of `inodes` open, `None` if its fds are unreadable.
fn holds_socket(pid: i32, inodes: &HashSet<u64>, until: Instant) -> Option<bool> {
    match super::proc::fds(pid, until) {
        Ok(f) if f.cut_short => None,
        Ok(f) => Some(
            f.fds
                .iter()
                .filter_map(super::proc::Fd::socket_inode)
                .any(|ino| inodes.contains(&ino)),
        ),
        Err(super::proc::FdError::Unreadable) => None,
        Err(super::proc::FdError::Gone) => Some(false),
    }
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

/// This process's mount table (`/proc/self/mountinfo`), as text. `None` when unreadable.
pub fn mountinfo() -> Option<String> {
    std::fs::read_to_string(MOUNTINFO).ok()
}

/// Where the mount table is read, for a sentence that names it.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The mount point and filesystem type holding `path`: the longest mount point that prefixes
/// its canonical form.
pub fn mount_of(path: &Path) -> Option<(PathBuf, String)> {
    let canon = std::fs::canonicalize(path).ok()?;
    let text = mountinfo()?;
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

/// One mount from /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// The mount source (`server:/export`, `bindfs`, `overlay`, a device).
    pub source: String,
}

/// The mounts at or below `dir` (as given, and as canonicalised), from /proc/self/mountinfo.
/// Reads only the mount table: nothing under `dir` is touched.
pub fn mounts_under(dir: &Path) -> Vec<MountEntry> {
    let Some(text) = mountinfo() else {
        return Vec::new();
    };
    parse_mounts_under(&text, dir)
}

/// The pure part of [`mounts_under`].
pub fn parse_mounts_under(mountinfo: &str, dir: &Path) -> Vec<MountEntry> {
    let mut out: Vec<MountEntry> = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mp) = fields.get(4) else { continue };
        let mp = PathBuf::from(unescape_mount(mp));
        if !mp.starts_with(dir) {
            continue;
        }
        let dash = fields.iter().position(|f| *f == "-");
        let at = |k: usize| {
            dash.and_then(|i| fields.get(i + k))
                .map(|s| unescape_mount(s))
                .unwrap_or_default()
        };
        let entry = MountEntry {
            mount_point: mp,
            fs_type: at(1),
            source: at(2),
        };
        // A mount point mounted over twice is one place to ask.
        if !out.iter().any(|e| e.mount_point == entry.mount_point) {
            out.push(entry);
        }
    }
    out
}

/// Asks every path's filesystem for its usage (`statfs`), `threads` at a time, each in a
/// detached thread: a filesystem that does not answer within `stall` (a hung NFS or FUSE
/// server) is given up on — its thread abandoned, a replacement started for the rest. Returns,
/// per path, how long it took to answer, or `None` when it did not answer in time (or was never
/// asked because the others ran out the time; `deadline` bounds the whole call).
pub fn statfs_each(
    paths: &[PathBuf],
    stall: Duration,
    deadline: std::time::Instant,
    threads: usize,
) -> Vec<Option<Duration>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::Instant;
    let n = paths.len();
    let mut out = vec![None; n];
    if n == 0 {
        return out;
    }
    let paths = Arc::new(paths.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<(usize, Duration)>();
    // Per worker: the item it is asking about and since when.
    type Slot = Arc<Mutex<Option<(usize, Instant)>>>;
    let spawn = |slots: &mut Vec<Slot>| {
        let slot: Slot = Arc::new(Mutex::new(None));
        slots.push(Arc::clone(&slot));
        let (paths, next, tx) = (Arc::clone(&paths), Arc::clone(&next), tx.clone());
        let _ = std::thread::Builder::new()
            .name("dockhand-statfs".into())
            .spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = paths.get(i) else { break };
                    let t = Instant::now();
                    if let Ok(mut s) = slot.lock() {
                        *s = Some((i, t));
                    }
                    let _ = nix::sys::statvfs::statvfs(p.as_path());
                    if let Ok(mut s) = slot.lock() {
                        *s = None;
                    }
                    if tx.send((i, t.elapsed())).is_err() {
                        break;
                    }
                }
            });
    };
    let mut slots: Vec<Slot> = Vec::new();
    for _ in 0..threads.clamp(1, 16).min(n) {
        spawn(&mut slots);
    }
    let mut settled = vec![false; n];
    let mut left = n;
    while left > 0 && Instant::now() < deadline {
        if let Ok((i, took)) = rx.recv_timeout(Duration::from_millis(20)) {
            if !settled[i] {
                settled[i] = true;
                left -= 1;
                out[i] = Some(took);
            }
            continue;
        }
        let mut stuck = Vec::new();
        for (k, slot) in slots.iter().enumerate() {
            if let Some((i, since)) = slot.lock().ok().and_then(|s| *s)
                && since.elapsed() >= stall
                && !settled[i]
            {
                settled[i] = true;
                left -= 1;
                stuck.push(k);
            }
        }
        // A stuck worker is abandoned (its slot dropped from the watch); another takes over.
        for k in stuck.into_iter().rev() {
            slots.remove(k);
            if next.load(Ordering::Relaxed) < n {
                spawn(&mut slots);
            }
        }
    }
    out
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
        // A symlink to it names no socket: it is not followed.
        let link = d.join("link.sock");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&sock, &link).expect("symlink");
        let owners = unix_socket_owners(&link);
        assert!(owners.symlink && !owners.listening && owners.pids.is_empty());
        // A socket bound at another path, whose path is then replaced by a symlink to this
        // one: its bound file is not this socket's file, so it is not among the holders.
        let other = d.join("other.sock");
        let _ = std::fs::remove_file(&other);
        let o = std::os::unix::net::UnixListener::bind(&other).expect("bind");
        std::fs::remove_file(&other).expect("unlink");
        std::os::unix::fs::symlink(&sock, &other).expect("symlink");
        let me = std::process::id() as i32;
        assert_eq!(unix_socket_owners(&sock).pids, vec![me]);
        let o_ino = std::fs::metadata(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            o.as_raw_fd()
        }))
        .expect("fd")
        .ino();
        let by_diag = crate::runtime::sockdiag::unix_listeners().expect("dump");
        let meta = std::fs::symlink_metadata(&sock).expect("lstat");
        let file = (
            nix::sys::stat::major(meta.dev()) as u32,
            nix::sys::stat::minor(meta.dev()) as u32,
            meta.ino(),
        );
        assert!(
            by_diag
                .iter()
                .any(|l| l.inode == o_ino && l.vfs != Some(file)),
            "the other socket keeps its own file identity"
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn mounts_under_a_directory() {
        let info = "\
22 1 8:1 / / rw - ext4 /dev/vda rw
90 22 0:50 / /var/lib/docker/volumes/pg/_data rw,nosuid - fuse.bindfs /srv/pg rw
91 22 0:51 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw,lowerdir=x
92 22 0:52 / /var/lib/docker-old/x rw - tmpfs tmpfs rw
93 22 0:53 / /var/lib/docker/volumes/with\\040space/_data rw - nfs4 srv:/e rw
";
        let m = parse_mounts_under(info, Path::new("/var/lib/docker"));
        let points: Vec<String> = m
            .iter()
            .map(|e| e.mount_point.display().to_string())
            .collect();
        assert_eq!(
            points,
            vec![
                "/var/lib/docker/volumes/pg/_data",
                "/var/lib/docker/overlay2/abc/merged",
                "/var/lib/docker/volumes/with space/_data",
            ]
        );
        assert_eq!(m[0].fs_type, "fuse.bindfs");
        assert_eq!(m[0].source, "/srv/pg");
        assert_eq!(m[2].source, "srv:/e");
    }

    #[test]
    fn statfs_of_answering_filesystems() {
        let far = std::time::Instant::now() + Duration::from_secs(10);
        let stall = Duration::from_secs(5);
        // More paths than threads: every one is still asked, and answers, within the stall.
        let paths = [
            PathBuf::from("/"),
            PathBuf::from("/proc"),
            std::env::temp_dir(),
        ];
        let got = statfs_each(&paths, stall, far, 2);
        // One answer per path, in order: `.all()` alone would pass on an empty list.
        assert_eq!(got.len(), paths.len(), "{got:?}");
        for (p, t) in paths.iter().zip(&got) {
            let t = t.unwrap_or_else(|| panic!("{} did not answer: {got:?}", p.display()));
            assert!(t <= stall, "{} answered after {t:?}", p.display());
        }
        // Nothing to ask: nothing answered, and no thread started to wait for.
        assert!(statfs_each(&[], stall, far, 2).is_empty());
    }

    #[test]
    fn passwd_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# a comment\n\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\ntoor:x:0:0::/:/bin/sh\nbroken:x\n:x:7:7::/:/bin/sh\nbad:x:notanumber:1::/:/bin/sh\n+:::::: \n";
        let got = parse_passwd(text);
        let cases: &[(u32, Option<&str>)] = &[
            (0, Some("root")),
            (65534, Some("nobody")),
            (7, None),
            (1, None),
        ];
        for (uid, want) in cases {
            assert_eq!(got.get(uid).map(String::as_str), *want, "uid {uid}");
        }
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn usage_of_the_root_filesystem() {
        let u = fs_usage(Path::new("/")).expect("statvfs");
        assert!(u.total_bytes > 0);
        assert!((0.0..=100.0).contains(&u.used_percent));
        assert!(u.mount_point.is_some());
    }

    #[test]
    fn ages_from_start_ticks() {
        // (start ticks, boot, ticks/s, now, age)
        let cases = [
            (0, 1000.0, 100, 1000.0, 0.0),
            (500, 1000.0, 100, 1010.0, 5.0),
            (500, 1000.0, 100, 1001.0, 0.0),
            (500, 1000.0, 0, 2000.0, 500.0),
        ];
        for (ticks, boot, tps, now, want) in cases {
            assert_eq!(
                age_s(ticks, boot, tps, now),
                want,
                "{ticks} {boot} {tps} {now}"
            );
        }
    }
}
