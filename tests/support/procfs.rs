//! Just enough /proc reading for the harness: process stat, trees, cmdlines, mounts — and the
//! clean-up that uses them (kill what a test daemon left, reap our orphans, unmount).

use std::collections::{BTreeSet, HashSet};
use std::ffi::{CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// One line of `/proc/<pid>/stat`, the fields we use.
#[derive(Debug, Clone)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub starttime: u64,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: it runs from the first '(' to the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    Some(Stat {
        pid,
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        starttime: rest.get(19)?.parse().ok()?,
    })
}

/// The process exists and has not exited (a zombie or a dead task does not count).
pub fn is_alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

pub fn all_stats() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// `/proc/<pid>/cmdline` with NULs turned into spaces; None when unreadable or empty (zombies).
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    let text: String = String::from_utf8_lossy(&raw)
        .chars()
        .map(|c| if c == '\0' { ' ' } else { c })
        .collect();
    Some(text.trim_end().to_owned())
}

/// `roots` and every live descendant of them.
pub fn with_descendants(stats: &[Stat], roots: &HashSet<i32>) -> HashSet<i32> {
    let mut found: HashSet<i32> = roots.clone();
    loop {
        let before = found.len();
        for s in stats {
            if found.contains(&s.ppid) {
                found.insert(s.pid);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Daemon-side programs (comm, cut at 15 bytes) whose command line names their daemon's dir.
const DAEMON_COMMS: &[&str] = &[
    "dockerd",
    "containerd",
    "containerd-shim",
    "containerd-shi",
    "docker-proxy",
    "runc",
    // A test Podman (support/podman.rs): the service, `podman container cleanup`, conmon.
    "podman",
    "conmon",
];

/// Live processes that belong to a test daemon rooted at `dir`: the given roots, daemon-side
/// programs whose command line names the directory (dockerd, its containerd, the shims), and all
/// their descendants (container processes). A docker CLI or dockhand pointed at the daemon's socket
/// is not one of them.
pub fn processes_of(dir: &Path, roots: &[i32]) -> Vec<Stat> {
    let stats = all_stats();
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let mut seeds: HashSet<i32> = roots.iter().copied().collect();
    for s in &stats {
        if DAEMON_COMMS.contains(&s.comm.as_str())
            && cmdline(s.pid).is_some_and(|c| c.contains(&needle))
        {
            seeds.insert(s.pid);
        }
    }
    let all = with_descendants(&stats, &seeds);
    stats
        .into_iter()
        .filter(|s| s.pid != me && all.contains(&s.pid) && !matches!(s.state, 'Z' | 'X' | 'x'))
        .collect()
}

/// SIGKILL every live process of the daemon at `dir` (see [`processes_of`]), wait until they are
/// gone (at most `patience`), and reap the ones that became our children.
pub fn kill_processes_of(dir: &Path, roots: &[i32], patience: Duration) {
    let deadline = Instant::now() + patience;
    let mut killed: HashSet<i32> = HashSet::new();
    loop {
        let victims = processes_of(dir, roots);
        if victims.is_empty() {
            break;
        }
        for v in &victims {
            let _ = kill(Pid::from_raw(v.pid), Signal::SIGCONT);
            let _ = kill(Pid::from_raw(v.pid), Signal::SIGKILL);
            killed.insert(v.pid);
        }
        reap(&killed);
        if Instant::now() >= deadline {
            let list: Vec<String> = victims
                .iter()
                .map(|v| format!("{} ({}, state {})", v.pid, v.comm, v.state))
                .collect();
            eprintln!(
                "dockhand tests: processes of {} survived SIGKILL: {}",
                dir.display(),
                list.join(", ")
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Children of killed shims come to us (we are a subreaper) a moment later.
    std::thread::sleep(Duration::from_millis(50));
    reap(&killed);
    reap_orphans();
}

/// Reap those of `pids` that are zombie children of ours. They are daemon-side processes, never a
/// std `Child` some test waits for.
fn reap(pids: &HashSet<i32>) {
    let me = std::process::id() as i32;
    for &pid in pids {
        if stat(pid).is_some_and(|s| s.ppid == me && s.state == 'Z') {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Names of the daemon-side processes that get re-parented to us (we are a child subreaper while
/// test daemons run) and that no std `Child` handle of ours waits for. Reaping only these never
/// steals the exit status of a command a test is waiting on. comm is cut at 15 bytes.
const ORPHAN_COMMS: &[&str] = &[
    "containerd",
    "containerd-shim",
    "containerd-shi",
    "runc",
    "runc:[2:INIT]",
    "docker-proxy",
    "docker-init",
    "conmon",
];

/// Reap zombie children of ours that a daemon left behind (PID 1 here reaps nothing).
pub fn reap_orphans() {
    let me = std::process::id() as i32;
    for s in all_stats() {
        if s.ppid == me && s.state == 'Z' && ORPHAN_COMMS.contains(&s.comm.as_str()) {
            let _ = waitpid(Pid::from_raw(s.pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Mount points at or under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: BTreeSet<(usize, PathBuf)> = BTreeSet::new();
    for line in text.lines() {
        let Some(field) = line.split(' ').nth(4) else {
            continue;
        };
        let path = PathBuf::from(unescape_mountinfo(field));
        if path.starts_with(dir) {
            found.insert((path.components().count(), path));
        }
    }
    found.into_iter().rev().map(|(_, p)| p).collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(octal) = bytes.get(i + 1..i + 4)
            && let Ok(octal) = std::str::from_utf8(octal)
            && let Ok(v) = u8::from_str_radix(octal, 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

unsafe extern "C" {
    fn umount2(target: *const c_char, flags: c_int) -> c_int;
}
const MNT_DETACH: c_int = 2;

/// Lazily unmount everything at or under `dir`, deepest first, until nothing is left (mounts can
/// be stacked). Returns what could not be unmounted.
pub fn unmount_all_under(dir: &Path) -> Vec<PathBuf> {
    for _ in 0..10 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return mounts;
        }
        for m in &mounts {
            let Ok(c) = CString::new(m.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
            unsafe {
                umount2(c.as_ptr(), MNT_DETACH);
            }
        }
    }
    mounts_under(dir)
}
