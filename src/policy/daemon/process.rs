//! The daemon's process: its state, threads stuck in the kernel, file descriptors against the
//! limit. doctor's `daemon.process` words these; `recover` decides from [`stuckness`] and
//! [`main_state`] whether a restart can work at all (a thread in D cannot be killed).
//!
//! dockerd is a Go program: a goroutine blocked in a system call holds the OS thread it ran on,
//! which may be any of the daemon's threads. So a daemon wedged on a hung filesystem shows it in
//! one of its threads (`/proc/<pid>/task/<tid>`), while the process's own state (the main
//! thread's, what `ps` shows) usually says "sleeping". And a thread waiting on a FUSE server sleeps *interruptibly* (S, in
//! `request_wait_answer`) until a signal reaches it, and only then uninterruptibly (D) — so
//! both count, when they last: a thread is stuck when it stays in one such wait, without once
//! being scheduled, across the whole sampling window.

use crate::policy::disk::{Level, level};
use crate::runtime::host::TaskState;

/// Kernel functions a thread sleeps in while a filesystem *server* (FUSE, NFS, SMB, 9p, Ceph)
/// owes it an answer. Prefixes; matched against `/proc/<pid>/task/<tid>/wchan`.
const FS_WAITS: &[&str] = &[
    "request_wait_answer",
    "fuse_",
    "rpc_wait_bit_killable",
    "__rpc_",
    "nfs_",
    "nfs4_",
    "wait_for_response",
    "cifs_",
    "smb2_",
    "p9_client_rpc",
    "ceph_",
];

/// Where a FUSE *server* waits for work: a thread there is idle, not stuck.
const FS_SERVER_IDLE: &[&str] = &["fuse_dev_do_read", "fuse_dev_read"];

/// The wait channel is a wait on a filesystem server.
pub fn is_filesystem_wait(wchan: &str) -> bool {
    !FS_SERVER_IDLE.contains(&wchan) && FS_WAITS.iter().any(|p| wchan.starts_with(p))
}

/// How a thread is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StuckKind {
    /// In uninterruptible sleep (D): no signal but SIGKILL (if even that) gets it out.
    Uninterruptible,
    /// Asleep (S) waiting on a filesystem server that does not answer.
    FilesystemWait,
}

/// The kind of wait a thread is in now, if it is one that may be stuck.
pub fn wait_kind(t: &TaskState) -> Option<StuckKind> {
    match t.state {
        'D' => Some(StuckKind::Uninterruptible),
        'S' if t.wchan.as_deref().is_some_and(is_filesystem_wait) => {
            Some(StuckKind::FilesystemWait)
        }
        _ => None,
    }
}

/// A thread that stayed in one wait across the whole window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StuckThread {
    pub tid: i32,
    /// The main thread (tid = pid): the one `/proc/<pid>/stat` (and `ps`) speaks for.
    pub main: bool,
    pub kind: StuckKind,
    /// The state letter in the last sample (`D` or `S`).
    pub state: char,
    pub wchan: Option<String>,
    /// How many samples saw it there.
    pub samples: u32,
}

/// The threads of process `pid` stuck across `samples` (taken one after another, each a
/// reading of the threads looked at; a later sample may cover only the earlier candidates).
/// A thread counts when every one of at least `min_samples` samples shows it in a stuck-kind
/// wait of the same kind, and — where the kernel's context-switch count is known — it was not
/// scheduled once in between (a busy thread doing many short disk reads can be in D at every
/// sample, yet is not stuck).
pub fn stuck_threads(pid: i32, samples: &[Vec<TaskState>], min_samples: u32) -> Vec<StuckThread> {
    let need = min_samples.max(1) as usize;
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    if samples.len() < need {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t0 in first {
        let Some(kind) = wait_kind(t0) else {
            continue;
        };
        let seen: Vec<&TaskState> = samples
            .iter()
            .filter_map(|s| s.iter().find(|t| t.tid == t0.tid))
            .collect();
        if seen.len() != samples.len() || seen.iter().any(|t| wait_kind(t) != Some(kind)) {
            continue;
        }
        let last = seen[seen.len() - 1];
        if let (Some(a), Some(b)) = (t0.switches, last.switches)
            && a != b
        {
            continue;
        }
        out.push(StuckThread {
            tid: t0.tid,
            main: t0.tid == pid,
            kind,
            state: last.state,
            wchan: last.wchan.clone(),
            samples: seen.len() as u32,
        });
    }
    // The main thread first, then by tid: the order the finding names them in.
    out.sort_by_key(|t| (!t.main, t.tid));
    out
}

/// What stuck threads mean for the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stuckness {
    /// No thread is stuck.
    None,
    /// Threads are stuck while the API still answers: the daemon works, but whatever those
    /// threads serve (a volume, a container, `docker system df`) hangs — and more threads will
    /// follow, one for each call that touches the same thing.
    Partial,
    /// Threads are stuck and the API does not answer: the daemon cannot work, and a thread in D
    /// cannot be killed — a restart may not even finish.
    Fatal,
}

/// Which thread is stuck does not decide it: Go runs any goroutine on any of its threads, the
/// main one included (a blocked `stat` lands on whichever thread ran it), so "the main thread
/// is stuck" says nothing more about a Go daemon than "a thread is". Whether the API still
/// answers does.
pub fn stuckness(stuck: &[StuckThread], api_answers: bool) -> Stuckness {
    if stuck.is_empty() {
        Stuckness::None
    } else if api_answers {
        Stuckness::Partial
    } else {
        Stuckness::Fatal
    }
}

/// The process's own state letter, as far as it decides the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainState {
    /// Running or sleeping (a D main thread is judged by [`stuck_threads`], over a window).
    Alive,
    /// `T`/`t`: stopped by SIGSTOP or held by a debugger; cannot answer; `kill -CONT` resumes.
    Stopped,
    /// `Z`/`X`: exited, not reaped.
    Dead,
}

pub fn main_state(state: char) -> MainState {
    match state {
        'T' | 't' => MainState::Stopped,
        'Z' | 'X' | 'x' => MainState::Dead,
        _ => MainState::Alive,
    }
}

/// Open file descriptors against the soft limit: the share in percent, and its level.
pub fn fd_pressure(
    fds: Option<usize>,
    limit: Option<u64>,
    warn_percent: f64,
    critical_percent: f64,
) -> Option<(f64, Level)> {
    let (n, l) = (fds?, limit?);
    if l == 0 {
        return None;
    }
    let pct = n as f64 * 100.0 / l as f64;
    Some((pct, level(pct, warn_percent, critical_percent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tid: i32, state: char, wchan: &str, switches: Option<u64>) -> TaskState {
        TaskState {
            tid,
            state,
            wchan: (!wchan.is_empty()).then(|| wchan.to_string()),
            switches,
        }
    }

    #[test]
    fn filesystem_waits() {
        for w in [
            "request_wait_answer",
            "fuse_wait_on_folio_writeback",
            "rpc_wait_bit_killable",
            "nfs_wait_bit_killable",
            "wait_for_response",
            "p9_client_rpc",
        ] {
            assert!(is_filesystem_wait(w), "{w}");
        }
        for w in [
            "futex_wait_queue",
            "futex_do_wait",
            "do_epoll_wait",
            "do_wait",
            "pipe_read",
            "fuse_dev_do_read",
            "",
        ] {
            assert!(!is_filesystem_wait(w), "{w}");
        }
    }

    #[test]
    fn cases() {
        let pid = 100;
        let fuse = "request_wait_answer";
        // (samples, min_samples) → stuck tids with their kind
        type Case = (Vec<Vec<TaskState>>, u32, Vec<(i32, StuckKind)>);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            // An idle Go daemon: futex and epoll waits.
            (vec![vec![t(100, 'S', "futex_do_wait", Some(5)), t(101, 'S', "do_epoll_wait", Some(9))]; 5], 5, vec![]),
            // A worker thread in a FUSE wait that never returns, never scheduled: stuck (S).
            (vec![vec![t(100, 'S', "futex_do_wait", Some(5)), t(103, 'S', fuse, Some(110))]; 5], 5,
             vec![(103, StuckKind::FilesystemWait)]),
            // The same after a signal reached it: killable sleep, shown as D.
            (vec![vec![t(103, 'D', fuse, Some(111))]; 5], 5, vec![(103, StuckKind::Uninterruptible)]),
            // The main thread in D for the whole window.
            (vec![vec![t(100, 'D', "io_schedule", Some(7)), t(101, 'S', "futex_do_wait", Some(1))]; 5], 5,
             vec![(100, StuckKind::Uninterruptible)]),
            // In D at every sample but scheduled in between: busy with short reads, not stuck.
            (vec![vec![t(103, 'D', "io_schedule", Some(1))], vec![t(103, 'D', "io_schedule", Some(2))],
                  vec![t(103, 'D', "io_schedule", Some(3))]], 3, vec![]),
            // Without context-switch counts, D in every sample is enough.
            (vec![vec![t(103, 'D', "io_schedule", None)]; 3], 3, vec![(103, StuckKind::Uninterruptible)]),
            // Left the wait during the window.
            (vec![vec![t(103, 'D', fuse, Some(4))], vec![t(103, 'D', fuse, Some(4))], vec![t(103, 'S', "futex_do_wait", Some(5))]], 3, vec![]),
            // A single D is an ordinary disk wait.
            (vec![vec![t(103, 'D', "io_schedule", Some(4))]], 5, vec![]),
            // The thread exited during the window.
            (vec![vec![t(103, 'D', fuse, Some(4))], vec![]], 2, vec![]),
            // S outside a filesystem wait never counts, however long.
            (vec![vec![t(103, 'S', "pipe_read", Some(4))]; 5], 5, vec![]),
            // Later samples may cover only the earlier candidates.
            (vec![vec![t(100, 'S', "futex_do_wait", Some(5)), t(104, 'D', fuse, Some(2)), t(103, 'S', fuse, Some(3))],
                  vec![t(103, 'S', fuse, Some(3)), t(104, 'D', fuse, Some(2))],
                  vec![t(103, 'S', fuse, Some(3)), t(104, 'D', fuse, Some(2))]], 3,
             vec![(103, StuckKind::FilesystemWait), (104, StuckKind::Uninterruptible)]),
        ];
        for (samples, min, want) in cases {
            let got: Vec<(i32, StuckKind)> = stuck_threads(pid, &samples, min)
                .iter()
                .map(|s| (s.tid, s.kind))
                .collect();
            assert_eq!(got, want, "{samples:?}");
        }
        let main = stuck_threads(pid, &vec![vec![t(100, 'D', "x", None)]; 2], 2);
        assert!(main[0].main && main[0].samples == 2 && main[0].wchan.as_deref() == Some("x"));
    }

    #[test]
    fn what_stuck_threads_mean() {
        let s = |tid: i32| StuckThread {
            tid,
            main: tid == 100,
            kind: StuckKind::Uninterruptible,
            state: 'D',
            wchan: None,
            samples: 5,
        };
        #[rustfmt::skip]
        let cases: &[(Vec<StuckThread>, bool, Stuckness)] = &[
            (vec![], true, Stuckness::None),
            (vec![], false, Stuckness::None),
            (vec![s(103)], true, Stuckness::Partial),
            (vec![s(103), s(104)], true, Stuckness::Partial),
            (vec![s(103)], false, Stuckness::Fatal),
            // The main thread is one thread among others in a Go daemon.
            (vec![s(100)], true, Stuckness::Partial),
            (vec![s(100), s(103)], true, Stuckness::Partial),
            (vec![s(100)], false, Stuckness::Fatal),
        ];
        for (stuck, api, want) in cases {
            assert_eq!(stuckness(stuck, *api), *want, "{stuck:?} {api}");
        }
    }

    #[test]
    fn states_and_fds() {
        for (c, want) in [
            ('S', MainState::Alive),
            ('R', MainState::Alive),
            ('D', MainState::Alive),
            ('T', MainState::Stopped),
            ('t', MainState::Stopped),
            ('Z', MainState::Dead),
            ('X', MainState::Dead),
        ] {
            assert_eq!(main_state(c), want, "{c}");
        }
        type Case = (Option<usize>, Option<u64>, Option<(f64, Level)>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (Some(100), Some(1000), Some((10.0, Level::Ok))),
            (Some(800), Some(1000), Some((80.0, Level::Warning))),
            (Some(950), Some(1000), Some((95.0, Level::Critical))),
            (Some(1000), Some(1000), Some((100.0, Level::Critical))),
            (None, Some(1000), None),
            (Some(10), None, None),
            (Some(10), Some(0), None),
        ];
        for (fds, limit, want) in cases {
            assert_eq!(
                fd_pressure(*fds, *limit, 80.0, 95.0),
                *want,
                "{fds:?}/{limit:?}"
            );
        }
    }
}
