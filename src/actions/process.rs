//! Processes: identity across pid reuse, the protection rules, and signals through a pidfd.
//!
//! A pid alone names nothing for long: it is reused as soon as its process is reaped. A target is
//! therefore a [`ProcId`] — the pid and its start time in clock ticks since boot — plus the
//! executable seen at plan time. Signalling opens a pidfd first and only then re-reads /proc: the
//! pidfd pins the process that existed at that instant, so if the re-read still matches the plan,
//! the signal reaches the planned process and no other, even if it exits and its pid is reused
//! in between (the signal then fails with ESRCH instead of hitting the newcomer).
//!
//! The decisions ([`judge`]) are pure functions of plain data, tested by tables; the reads and
//! the syscalls are below them.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

/// A process across pid reuse: the pid and its start time (clock ticks since boot, field 22 of
/// `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: i32,
    pub start_ticks: u64,
}

/// Which processes a target may be. Data in the plan, so a saved plan carries the policy that
/// chose it and a reader of the journal sees why a process was allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Scope {
    /// A descendant of this process (the daemon, containerd): a container's process, a shim.
    DescendantOf(ProcId),
    /// One of Docker's own programs — dockerd, containerd, a containerd shim, docker-proxy, runc,
    /// docker-init — judged by the executable the kernel runs and who runs it
    /// ([`crate::policy::identity::docker_program`]: a root-owned file no one else may write,
    /// run as root), never by its name. Covers what outlived its parent (a leaked docker-proxy,
    /// an orphan shim, both re-parented to init) and the daemon itself.
    DockerProgram,
    /// Any process: only when the user explicitly widened the policy.
    Any,
}

/// A process to act on, as seen at plan time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcTarget {
    pub id: ProcId,
    /// `/proc/<pid>/exe` at plan time (without a " (deleted)" suffix); `None` if unreadable.
    pub exe: Option<PathBuf>,
    pub comm: String,
    pub scope: Scope,
}

impl ProcTarget {
    /// The target as /proc shows `pid` now, or `None` if it is gone. For planners and tests.
    pub fn capture(pid: i32, scope: Scope) -> Option<ProcTarget> {
        let o = observe(pid)?;
        Some(ProcTarget {
            id: ProcId {
                pid,
                start_ticks: o.start_ticks,
            },
            exe: o.exe,
            comm: o.comm,
            scope,
        })
    }

    /// "pid 812 (dockerd)".
    pub fn label(&self) -> String {
        format!(
            "pid {} ({})",
            self.id.pid,
            crate::util::sanitize(&self.comm)
        )
    }
}

/// The kernel marks its own threads with this bit in the `flags` field of /proc/<pid>/stat.
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// What /proc says about a process right now: plain data for [`judge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub pid: i32,
    pub ppid: i32,
    pub start_ticks: u64,
    pub flags: u64,
    /// One letter, as in /proc/<pid>/stat: R, S, D, T, t, Z, X, I …
    pub state: char,
    pub comm: String,
    pub exe: Option<PathBuf>,
    /// Who it is, as the kernel says (uids, the executable's owner and mode), for
    /// [`Scope::DockerProgram`]; `None` when unreadable.
    pub identity: Option<crate::policy::identity::Identity>,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/exe` through the runtime's readers. `None` when the
/// process is gone. Neither read takes the process's memory lock, so a process in D state does
/// not block it.
pub fn observe(pid: i32) -> Option<Observed> {
    let st = crate::runtime::proc::stat(pid)?;
    Some(Observed {
        pid,
        ppid: st.ppid,
        start_ticks: st.start_ticks,
        flags: u64::from(st.flags),
        state: st.state,
        comm: st.comm,
        exe: crate::runtime::proc::exe_link(pid).map(|p| strip_deleted(&p)),
        identity: crate::runtime::host::identity(pid),
    })
}

/// An executable replaced on disk (a package upgrade) reads as "/usr/bin/dockerd (deleted)":
/// still the same program for our purpose.
fn strip_deleted(p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s))
}

/// The kernel function a sleeping process waits in, for the "cannot be killed" sentence.
pub fn wchan(pid: i32) -> Option<String> {
    crate::runtime::proc::wchan(pid, None)
}

/// The chain of parents of `pid` up to init, nearest first, each with its start time.
pub fn ancestors(pid: i32) -> Vec<ProcId> {
    let mut out = Vec::new();
    let mut cur = pid;
    // A bound, not a limit seen in practice: pid trees are shallow, and a cycle is impossible
    // but a vanished parent mid-walk is not.
    for _ in 0..128 {
        let Some(o) = observe(cur) else { break };
        if o.ppid <= 0 {
            break;
        }
        let Some(parent) = observe(o.ppid) else { break };
        out.push(ProcId {
            pid: parent.pid,
            start_ticks: parent.start_ticks,
        });
        if parent.pid == 1 {
            break;
        }
        cur = parent.pid;
    }
    out
}

/// What may happen to a target, decided just before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// The process exited (or is a zombie waiting to be reaped): nothing to do.
    Gone,
    /// A protection rule forbids it.
    Refused(String),
    /// The pid now names another process, or the process is not what the plan saw.
    Changed(String),
}

/// The protection and identity rules, on plain data. `live` is what /proc shows now (`None`:
/// gone), `ancestors` its parent chain (nearest first), `me` dockhand's own pid.
///
/// Order matters: the absolute protections (init, kernel threads, ourselves) come first, so no
/// plan can reach them whatever its scope; then identity (a reused pid is "changed", not
/// "refused": nothing is wrong with the newcomer, it is simply not the target); then scope.
pub fn judge(
    target: &ProcTarget,
    live: Option<&Observed>,
    ancestors: &[ProcId],
    me: i32,
) -> Verdict {
    let pid = target.id.pid;
    if pid == 1 {
        return Verdict::Refused("pid 1 (init) is never signalled".into());
    }
    if pid <= 0 {
        return Verdict::Refused(format!("pid {pid} names a process group, not a process"));
    }
    if pid == me {
        return Verdict::Refused(format!("pid {pid} is dockhand itself"));
    }
    let Some(live) = live else {
        return Verdict::Gone;
    };
    if pid == 2 || live.ppid == 2 || live.flags & PF_KTHREAD != 0 {
        return Verdict::Refused(format!(
            "pid {pid} ({}) is a kernel thread",
            crate::util::sanitize(&live.comm)
        ));
    }
    if live.start_ticks != target.id.start_ticks {
        return Verdict::Changed(format!(
            "pid {pid} is now another process ({}, started at tick {}; the plan saw {} started at tick {})",
            crate::util::sanitize(&live.comm),
            live.start_ticks,
            crate::util::sanitize(&target.comm),
            target.id.start_ticks
        ));
    }
    if matches!(live.state, 'Z' | 'X' | 'x') {
        return Verdict::Gone;
    }
    match (&target.exe, &live.exe) {
        (Some(want), Some(now)) if want != now => {
            return Verdict::Changed(format!(
                "pid {pid} now runs {} (the plan saw {})",
                now.display(),
                want.display()
            ));
        }
        // The executable could not be read at plan time: the name must at least agree.
        (None, _) if live.comm != target.comm => {
            return Verdict::Changed(format!(
                "pid {pid} is now named {} (the plan saw {})",
                crate::util::sanitize(&live.comm),
                crate::util::sanitize(&target.comm)
            ));
        }
        _ => {}
    }
    match &target.scope {
        Scope::Any => Verdict::Proceed,
        Scope::DescendantOf(anc) => {
            if ancestors.contains(anc) {
                Verdict::Proceed
            } else {
                Verdict::Refused(format!(
                    "pid {pid} ({}) is outside the allowed process tree: not a descendant of pid {} (started at tick {})",
                    crate::util::sanitize(&live.comm),
                    anc.pid,
                    anc.start_ticks
                ))
            }
        }
        Scope::DockerProgram => {
            // Root's programs only: a rootless daemon's are never acted on through a plan.
            let judged = live.identity.as_ref().map_or_else(
                || Err("its identity could not be read".to_string()),
                |id| crate::policy::identity::docker_program(id, None),
            );
            match judged {
                Ok(_) => Verdict::Proceed,
                Err(why) => Verdict::Refused(format!(
                    "pid {pid} ({}) is not one of Docker's programs: {why}",
                    crate::util::sanitize(&live.comm)
                )),
            }
        }
    }
}

/// A pidfd: a handle on one process that a reused pid cannot redirect.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// `pidfd_open(2)`. ESRCH: the process is gone.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: nix 0.30 has no pidfd_open(2) wrapper (std's pidfd is for children it
        // spawned only), so the raw syscall: integer arguments, and on success the kernel
        // returns a new fd that nothing else owns, which OwnedFd takes over at once.
        unsafe {
            let fd = nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(PidFd(OwnedFd::from_raw_fd(fd as RawFd)))
        }
    }

    /// `pidfd_send_signal(2)`. ESRCH: the process has exited since the pidfd was opened.
    pub fn send(&self, sig: Signal) -> io::Result<()> {
        // SAFETY: nix 0.30 has no pidfd_send_signal(2) wrapper, and kill(2) by pid is what a
        // pidfd exists to avoid (a reused pid). The fd is ours and open; a null siginfo means
        // "as kill(2) would send it".
        let r = unsafe {
            nix::libc::syscall(
                nix::libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig as nix::libc::c_int,
                std::ptr::null::<nix::libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until the process exits (its pidfd becomes readable), at most `within`. Returns
    /// whether it exited.
    pub async fn wait_exit(&self, within: Duration) -> bool {
        // SAFETY: tokio has no safe way to register an fd (its safe constructors are deprecated
        // as unsound), and std/nix offer no async readiness. The fd is owned by `self`, which
        // outlives this registration (dropped at the end of this function), and `Raw` always
        // returns that same fd.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                Raw(self.0.as_raw_fd()),
                tokio::io::Interest::READABLE,
            )
        };
        let Ok(afd) = registered else {
            // No reactor to register with: fall back to polling /proc.
            return poll_exit(self.0.as_fd(), within).await;
        };
        matches!(
            tokio::time::timeout(within, afd.readable()).await,
            Ok(Ok(_))
        )
    }
}

/// Borrowed for registration only: AsyncFd deregisters on drop but never closes it.
struct Raw(RawFd);

impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

async fn poll_exit(fd: BorrowedFd<'_>, within: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = Instant::now() + within;
    loop {
        // Zero timeout: never blocks the runtime's thread.
        let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
        if poll(&mut p, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One signal sent, for the journal: the state before, and after (after the wait, for the
/// escalation's steps). States are /proc's letters, or "gone" once the process exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalEvent {
    pub pid: i32,
    pub signal: String,
    pub state_before: String,
    pub state_after: String,
    /// How long it was given to exit after this signal (0 for a signal sent without waiting).
    pub waited_ms: u64,
}

/// How a process action ended, before it becomes a step outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEnd {
    /// Signalled (and, for terminate, gone).
    Done,
    Gone,
    Refused(String),
    Changed(String),
    Failed(String),
}

/// The limits of one process action: how long to wait for a /proc read, how long after KILL.
#[derive(Debug, Clone, Copy)]
pub struct ProcLimits {
    /// Deadline for each /proc read (a read of a process in D state can block).
    pub read: Duration,
    /// How long to wait for the exit after SIGKILL before calling the process unkillable.
    pub after_kill: Duration,
}

impl Default for ProcLimits {
    fn default() -> Self {
        ProcLimits {
            read: Duration::from_secs(3),
            after_kill: Duration::from_secs(5),
        }
    }
}

fn state_str(o: Option<&Observed>) -> String {
    match o {
        Some(o) if !matches!(o.state, 'Z' | 'X' | 'x') => o.state.to_string(),
        _ => "gone".to_string(),
    }
}

/// Opens the pidfd, then re-reads /proc and judges. On `Ok`, the pidfd is pinned to the planned
/// process and `Observed` is what it looks like now.
async fn pin(target: &ProcTarget, limits: ProcLimits) -> Result<(PidFd, Observed), ProcEnd> {
    let pid = target.id.pid;
    // The absolute protections need no /proc read and must hold even for a pid that is gone.
    if let Verdict::Refused(why) = judge(target, None, &[], std::process::id() as i32) {
        return Err(ProcEnd::Refused(why));
    }
    let fd = match PidFd::open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => return Err(ProcEnd::Gone),
        Err(e) => {
            return Err(ProcEnd::Failed(format!(
                "cannot open a pidfd for pid {pid}: {e}"
            )));
        }
    };
    let read = crate::runtime::blocking(limits.read, move || (observe(pid), ancestors(pid))).await;
    let Some((live, anc)) = read else {
        return Err(ProcEnd::Failed(format!(
            "reading /proc/{pid} took longer than {}; nothing signalled",
            crate::util::human_duration(limits.read)
        )));
    };
    match judge(target, live.as_ref(), &anc, std::process::id() as i32) {
        Verdict::Proceed => {}
        Verdict::Gone => return Err(ProcEnd::Gone),
        Verdict::Refused(why) => return Err(ProcEnd::Refused(why)),
        Verdict::Changed(why) => return Err(ProcEnd::Changed(why)),
    }
    match live {
        Some(o) => Ok((fd, o)),
        None => Err(ProcEnd::Gone),
    }
}

async fn observe_now(pid: i32, limits: ProcLimits) -> Option<Observed> {
    crate::runtime::blocking(limits.read, move || observe(pid))
        .await
        .flatten()
}

fn send(fd: &PidFd, pid: i32, sig: Signal) -> Result<bool, ProcEnd> {
    match fd.send(sig) {
        Ok(()) => Ok(true),
        // It exited after the pidfd was opened: the pidfd kept the signal from anyone else.
        Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => Ok(false),
        Err(e) => Err(ProcEnd::Failed(format!(
            "cannot send {} to pid {pid}: {e}",
            sig.as_str()
        ))),
    }
}

/// Sends one signal to the target, after re-verifying it through a pidfd.
pub async fn signal(
    target: &ProcTarget,
    sig: Signal,
    limits: ProcLimits,
    on_signal: &mut (dyn FnMut(SignalEvent) + Send),
) -> ProcEnd {
    let pid = target.id.pid;
    let (fd, before) = match pin(target, limits).await {
        Ok(p) => p,
        Err(end) => return end,
    };
    match send(&fd, pid, sig) {
        Ok(true) => {}
        Ok(false) => return ProcEnd::Gone,
        Err(end) => return end,
    }
    let after = observe_now(pid, limits)
        .await
        .filter(|o| o.start_ticks == target.id.start_ticks);
    on_signal(SignalEvent {
        pid,
        signal: sig.as_str().to_string(),
        state_before: before.state.to_string(),
        state_after: state_str(after.as_ref()),
        waited_ms: 0,
    });
    ProcEnd::Done
}

/// SIGTERM, wait up to `grace` for the exit, then SIGKILL and wait up to `limits.after_kill`.
/// A stopped process (state T) also gets SIGCONT after SIGTERM, so a handler can run. A process
/// stuck in D state that survives SIGKILL is reported as needing a reboot: nothing else frees it.
pub async fn terminate(
    target: &ProcTarget,
    grace: Duration,
    limits: ProcLimits,
    on_signal: &mut (dyn FnMut(SignalEvent) + Send),
) -> ProcEnd {
    escalate(target, &[(Signal::SIGTERM, grace)], limits, on_signal).await
}

/// Sends each `(signal, wait)` of `schedule` in turn, waiting up to `wait` for the exit after
/// each, then SIGKILL and `limits.after_kill` — the escalation behind [`terminate`] and the
/// daemon's stop (TERM → grace → TERM → again → KILL). A stopped process (state T) gets
/// SIGCONT after the first signal, so its handler can run. A process in D state that survives
/// SIGKILL ends it with "cannot be killed: uninterruptible in <wchan>; a reboot is needed".
pub async fn escalate(
    target: &ProcTarget,
    schedule: &[(Signal, Duration)],
    limits: ProcLimits,
    on_signal: &mut (dyn FnMut(SignalEvent) + Send),
) -> ProcEnd {
    let pid = target.id.pid;
    let (fd, before) = match pin(target, limits).await {
        Ok(p) => p,
        Err(end) => return end,
    };
    let mut state_before = before.state.to_string();
    let steps = schedule
        .iter()
        .copied()
        .chain(std::iter::once((Signal::SIGKILL, limits.after_kill)));
    for (i, (sig, wait)) in steps.enumerate() {
        match send(&fd, pid, sig) {
            Ok(true) => {}
            Ok(false) => return ProcEnd::Done,
            Err(end) => return end,
        }
        if i == 0 && sig != Signal::SIGKILL && before.state == 'T' {
            // A stopped process handles nothing until it is continued.
            match send(&fd, pid, Signal::SIGCONT) {
                Ok(true) => on_signal(SignalEvent {
                    pid,
                    signal: Signal::SIGCONT.as_str().to_string(),
                    state_before: "T".into(),
                    state_after: state_str(observe_now(pid, limits).await.as_ref()),
                    waited_ms: 0,
                }),
                Ok(false) => {}
                Err(end) => return end,
            }
        }
        let started = Instant::now();
        let exited = fd.wait_exit(wait).await;
        let now = if exited {
            None
        } else {
            observe_now(pid, limits).await
        };
        on_signal(SignalEvent {
            pid,
            signal: sig.as_str().to_string(),
            state_before: state_before.clone(),
            state_after: state_str(now.as_ref()),
            waited_ms: started.elapsed().as_millis() as u64,
        });
        if exited {
            return ProcEnd::Done;
        }
        state_before = state_str(now.as_ref());
    }
    let now = observe_now(pid, limits).await;
    match now.as_ref().map(|o| o.state) {
        None | Some('Z' | 'X' | 'x') => ProcEnd::Done,
        Some('D') => ProcEnd::Failed(unkillable(pid)),
        Some(s) => ProcEnd::Failed(format!(
            "pid {pid} is still alive (state {s}) {} after SIGKILL",
            crate::util::human_duration(limits.after_kill)
        )),
    }
}

/// The sentence for a process SIGKILL did not end.
pub fn unkillable(pid: i32) -> String {
    format!(
        "cannot be killed: uninterruptible in {}; a reboot is needed",
        wchan(pid).unwrap_or_else(|| "the kernel".to_string())
    )
}

/// Whether an outcome's sentence is [`unkillable`]'s.
pub fn is_unkillable(error: &str) -> bool {
    error.starts_with("cannot be killed: uninterruptible")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pid: i32, ticks: u64, scope: Scope) -> ProcTarget {
        ProcTarget {
            id: ProcId {
                pid,
                start_ticks: ticks,
            },
            exe: Some(PathBuf::from("/usr/bin/sleep")),
            comm: "sleep".into(),
            scope,
        }
    }

    fn live(pid: i32, ticks: u64) -> Observed {
        Observed {
            pid,
            ppid: 500,
            start_ticks: ticks,
            flags: 0x0040_0000,
            state: 'S',
            comm: "sleep".into(),
            exe: Some(PathBuf::from("/usr/bin/sleep")),
            identity: Some(ident(0, "/usr/bin/sleep", 0)),
        }
    }

    fn ident(uid: u32, exe: &str, exe_uid: u32) -> crate::policy::identity::Identity {
        crate::policy::identity::Identity {
            uids: vec![uid; 4],
            exe: Some(crate::policy::identity::ExeFacts {
                path: PathBuf::from(exe),
                uid: exe_uid,
                mode: 0o100755,
                dir: Some((exe_uid, 0o40755)),
            }),
        }
    }

    const DAEMON: ProcId = ProcId {
        pid: 500,
        start_ticks: 77,
    };

    #[test]
    fn protection_and_identity_table() {
        let me = 4242;
        let chain = [
            DAEMON,
            ProcId {
                pid: 1,
                start_ticks: 1,
            },
        ];
        let kthread = Observed {
            flags: PF_KTHREAD,
            ppid: 2,
            exe: None,
            comm: "kworker/0:1".into(),
            ..live(30, 5)
        };
        let proxy = Observed {
            comm: "docker-proxy".into(),
            exe: Some(PathBuf::from("/usr/sbin/docker-proxy")),
            identity: Some(ident(0, "/usr/sbin/docker-proxy", 0)),
            ppid: 1,
            ..live(700, 9)
        };
        // nobody's copy of a program, named docker-proxy.
        let impostor = Observed {
            comm: "docker-proxy".into(),
            exe: Some(PathBuf::from("/tmp/att/docker-proxy")),
            identity: Some(ident(65534, "/tmp/att/docker-proxy", 65534)),
            ppid: 1,
            ..live(701, 9)
        };
        let mut impostor_target = target(701, 9, Scope::DockerProgram);
        impostor_target.exe = impostor.exe.clone();
        impostor_target.comm = "docker-proxy".into();
        // Root's docker-proxy, run by nobody.
        let run_by_nobody = Observed {
            identity: Some(ident(65534, "/usr/sbin/docker-proxy", 0)),
            ..proxy.clone()
        };
        let mut proxy_target = target(700, 9, Scope::DockerProgram);
        proxy_target.exe = proxy.exe.clone();
        proxy_target.comm = "docker-proxy".into();
        let zombie = Observed {
            state: 'Z',
            exe: None,
            ..live(600, 10)
        };
        type Case<'a> = (&'a str, ProcTarget, Option<Observed>, &'a [ProcId], &'a str);
        let cases: Vec<Case> = vec![
            (
                "pid 1",
                target(1, 1, Scope::Any),
                Some(live(1, 1)),
                &[],
                "refused",
            ),
            (
                "pid 1 even if /proc is silent",
                target(1, 1, Scope::Any),
                None,
                &[],
                "refused",
            ),
            (
                "kthreadd",
                target(2, 0, Scope::Any),
                Some(Observed {
                    flags: PF_KTHREAD,
                    ppid: 0,
                    ..live(2, 0)
                }),
                &[],
                "refused",
            ),
            (
                "kernel thread by flag",
                target(30, 5, Scope::Any),
                Some(kthread),
                &[],
                "refused",
            ),
            (
                "ourselves",
                target(me, 3, Scope::Any),
                Some(live(me, 3)),
                &chain,
                "refused",
            ),
            ("gone", target(600, 10, Scope::Any), None, &[], "gone"),
            (
                "zombie",
                target(600, 10, Scope::Any),
                Some(zombie),
                &[],
                "gone",
            ),
            (
                "reused pid",
                target(600, 10, Scope::Any),
                Some(live(600, 11)),
                &chain,
                "changed",
            ),
            (
                "other executable",
                target(600, 10, Scope::Any),
                Some(Observed {
                    exe: Some("/bin/bash".into()),
                    ..live(600, 10)
                }),
                &chain,
                "changed",
            ),
            (
                "descendant of the daemon",
                target(600, 10, Scope::DescendantOf(DAEMON)),
                Some(live(600, 10)),
                &chain,
                "proceed",
            ),
            (
                "outside the daemon's tree",
                target(600, 10, Scope::DescendantOf(DAEMON)),
                Some(live(600, 10)),
                &[ProcId {
                    pid: 1,
                    start_ticks: 1,
                }],
                "refused",
            ),
            (
                "daemon restarted since the plan",
                target(600, 10, Scope::DescendantOf(DAEMON)),
                Some(live(600, 10)),
                &[ProcId {
                    pid: 500,
                    start_ticks: 78,
                }],
                "refused",
            ),
            (
                "docker program",
                proxy_target.clone(),
                Some(proxy),
                &[],
                "proceed",
            ),
            (
                "named docker-proxy, nobody's executable",
                impostor_target,
                Some(impostor),
                &[],
                "refused",
            ),
            (
                "root's docker-proxy run by nobody",
                proxy_target,
                Some(run_by_nobody),
                &[],
                "refused",
            ),
            (
                "not a docker program",
                target(600, 10, Scope::DockerProgram),
                Some(live(600, 10)),
                &chain,
                "refused",
            ),
            (
                "any, when widened",
                target(600, 10, Scope::Any),
                Some(live(600, 10)),
                &[],
                "proceed",
            ),
        ];
        for (name, t, l, anc, want) in cases {
            let got = match judge(&t, l.as_ref(), anc, me) {
                Verdict::Proceed => "proceed",
                Verdict::Gone => "gone",
                Verdict::Refused(_) => "refused",
                Verdict::Changed(_) => "changed",
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn refusals_and_changes_say_why() {
        let v = judge(&target(1, 1, Scope::Any), None, &[], 9);
        assert_eq!(
            v,
            Verdict::Refused("pid 1 (init) is never signalled".into())
        );
        let Verdict::Changed(why) =
            judge(&target(600, 10, Scope::Any), Some(&live(600, 11)), &[], 9)
        else {
            panic!("changed")
        };
        assert!(why.contains("tick 11") && why.contains("tick 10"), "{why}");
        let Verdict::Refused(why) = judge(
            &target(600, 10, Scope::DescendantOf(DAEMON)),
            Some(&live(600, 10)),
            &[],
            9,
        ) else {
            panic!("refused")
        };
        assert!(why.contains("not a descendant of pid 500"), "{why}");
    }

    #[test]
    fn our_own_process_is_observed_with_its_parents() {
        let me = std::process::id() as i32;
        let o = observe(me).expect("self");
        assert!(o.flags & PF_KTHREAD == 0);
        assert!(o.exe.is_some());
        let chain = ancestors(me);
        assert!(!chain.is_empty());
        assert_eq!(chain.last().map(|p| p.pid), Some(1), "{chain:?}");
        // kthreadd is a kernel thread by its flags.
        let k = observe(2).expect("kthreadd");
        assert!(k.flags & PF_KTHREAD != 0);
    }

    #[test]
    fn deleted_executables_keep_their_name() {
        assert_eq!(
            strip_deleted(Path::new("/usr/bin/dockerd (deleted)")),
            PathBuf::from("/usr/bin/dockerd")
        );
    }
}
