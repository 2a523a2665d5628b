//! `daemon.process`: the process serving the API — its state, every one of its threads, its
//! file descriptors against the limit, and whether the pid file names it.
//!
//! The threads are sampled `d_state_samples` times, 100 ms apart, each reading under the
//! deadline; a thread counts as stuck only when it stays in uninterruptible sleep (D), or
//! asleep waiting on a filesystem server (FUSE, NFS, …), without once being scheduled across the
//! window (see [`crate::policy::daemon::process`]). Never flagged: a single D sample (an
//! ordinary disk wait), a thread in D that keeps being scheduled (busy with short reads), idle
//! threads in futex or epoll waits. What the pid file's pid *is* (gone, a stranger) is
//! `daemon.pidfile`'s question; here only whether it names this process.

use std::time::Duration;

use serde_json::{Value, json};

use super::{down_fix, located, resume_fix, run_step, service_argv};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::daemon::process::wait_kind;
use crate::policy::daemon::{
    MainState, PidfileAgreement, StuckKind, StuckThread, Stuckness, fd_pressure, main_state,
    pidfile_agreement, stuck_threads, stuckness,
};
use crate::policy::disk::Level;
use crate::runtime::blocking;
use crate::runtime::daemon::{DaemonPaths, DaemonProcess, Located};
use crate::runtime::host;
use crate::runtime::proc::{self, TaskState};
use crate::util::{human_bytes, human_duration, sanitize};

const ID: &str = "daemon.process";

/// How far apart the thread samples are.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    match located(ctx).await {
        Err(f) => f,
        Ok(Located::Found(d)) => found(ctx, d).await,
        Ok(Located::NotRunning {
            paths,
            holders,
            unreadable,
        }) => not_running(ctx, paths, holders, *unreadable).await,
        Ok(Located::Unverified { pid, why, .. }) => Finding::new(
            Status::Unknown,
            format!(
                "the daemon's process is unknown: {why}; nothing is done to it or with its paths"
            ),
        )
        .remedy(
            "Find out what holds the socket (`ss -xlp`); the daemon must run as root (or as the socket's owner) from an executable only its owner can change.",
        )
        .evidence(json!({ "pid": null, "unverified_pid": pid, "why": why })),
        Ok(Located::Remote) => crate::doctor::checks::gap(&crate::facts::Gap::Remote {
            endpoint: ctx.engine.endpoint().to_string(),
        }),
    }
}

/// No process serves the socket.
async fn not_running(
    ctx: &Ctx<'_>,
    paths: &DaemonPaths,
    holders: &[i32],
    unreadable: usize,
) -> Finding {
    let engine = ctx.engine;
    let p = paths.pidfile.clone();
    let pidfile = blocking(ctx.timeout(), move || crate::runtime::pidfile::pid_in(&p))
        .await
        .flatten();
    let evidence = json!({
        "pid": Value::Null,
        "socket_holders": holders,
        "pidfile": paths.pidfile,
        "pidfile_pid": pidfile,
        "data_root": paths.data_root,
    });
    if unreadable > 0 && holders.is_empty() {
        return Finding::new(
            Status::Unknown,
            format!(
                "could not tell which process serves {}: {unreadable} processes' file descriptors are unreadable to this user",
                engine.endpoint()
            ),
        )
        .remedy("Run dockhand as root to see the daemon's process.")
        .evidence(evidence);
    }
    if ctx.engine_answered().await {
        return Finding::new(
            Status::Unknown,
            format!(
                "the engine answers on {}, but no process on this host holds its socket (a proxy, or another mount namespace)",
                engine.endpoint()
            ),
        )
        .evidence(evidence);
    }
    let mut summary = "no dockerd process is running".to_string();
    if holders.contains(&1) {
        summary.push_str(
            " (pid 1 holds the socket: socket activation will start it on the next connection)",
        );
    }
    if let Some(p) = pidfile {
        summary.push_str(&format!(
            "; the pid file {} names pid {p}",
            paths.pidfile.display()
        ));
    }
    Finding::new(Status::Critical, summary)
        .fix(down_fix(ctx).await)
        .evidence(evidence)
}

/// The threads across the sampling window: the first sample reads every thread, the later
/// ones only those that were in a wait that may be stuck. Each reading is under the deadline;
/// `None` when the first one did not finish (the others just end the window early).
async fn sample_threads(ctx: &Ctx<'_>, pid: i32, samples: u32) -> Option<Vec<Vec<TaskState>>> {
    let watch = |t: &TaskState| wait_kind(t).is_some();
    proc::sample_threads(pid, samples, SAMPLE_EVERY, ctx.timeout(), watch).await
}

/// A problem found, its verdict, and what fixes it.
struct Problems {
    status: Status,
    said: Vec<String>,
    fix: Fix,
}

impl Problems {
    fn add(&mut self, status: Status, what: String, fix: Fix) {
        self.status = self.status.worst(status);
        self.said.push(what);
        self.fix = std::mem::take(&mut self.fix).and(fix);
    }
}

fn kind_words(t: &StuckThread) -> String {
    let wchan = t.wchan.as_deref().unwrap_or("an unknown kernel function");
    match t.kind {
        StuckKind::Uninterruptible => format!("in uninterruptible sleep (D) in {wchan}"),
        StuckKind::FilesystemWait => {
            format!("waiting in {wchan} on a filesystem server that does not answer")
        }
    }
}

/// What `found` reads about the running daemon before judging it: the thread samples, the API's
/// answer, the pid file's presence, and the fd pressure.
struct Observed {
    sampled: Option<Vec<Vec<TaskState>>>,
    stuck: Vec<StuckThread>,
    api_answers: bool,
    pidfile_exists: Option<bool>,
    fds: Option<(f64, Level)>,
    uptime: Option<u64>,
}

/// Gathers the evidence, in the order the reads have always run: threads, API, pid file.
async fn observe(ctx: &Ctx<'_>, d: &DaemonProcess) -> Observed {
    let fd_warn = ctx.th(ID, "fd_warn_percent");
    let fd_critical = ctx.th(ID, "fd_critical_percent");
    let samples_wanted = ctx.th(ID, "d_state_samples").max(1.0) as u32;
    let info = &d.info;
    let pid = info.pid;

    let sampled = sample_threads(ctx, pid, samples_wanted).await;
    let stuck = sampled
        .as_deref()
        .map(|s| stuck_threads(pid, s, samples_wanted))
        .unwrap_or_default();
    let api_answers = ctx.engine_answered().await;
    let pf = d.paths.pidfile.clone();
    let pidfile_exists = blocking(ctx.timeout(), move || pf.exists()).await;
    let fds = fd_pressure(info.fds, info.fd_limit, fd_warn, fd_critical);
    let now = host::now_secs();
    let uptime = info.started_at.map(|s| now.saturating_sub(s));
    Observed {
        sampled,
        stuck,
        api_answers,
        pidfile_exists,
        fds,
        uptime,
    }
}

/// The evidence map every outcome of `found` carries.
fn found_evidence(d: &DaemonProcess, o: &Observed) -> Value {
    let info = &d.info;
    json!({
        "pid": info.pid,
        "ppid": info.ppid,
        "state": info.state.to_string(),
        "wchan": info.wchan,
        "threads": info.threads,
        "threads_sampled": o.sampled.as_ref().and_then(|s| s.first()).map(Vec::len),
        "samples": o.sampled.as_ref().map(Vec::len),
        "stuck_threads": o.stuck,
        "fds": info.fds,
        "fd_limit": info.fd_limit,
        "rss_bytes": info.rss_bytes,
        "started_at": info.started_at.map(|s| crate::units::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(s))),
        "uptime_s": o.uptime,
        "cmdline": info.cmdline.iter().map(|a| sanitize(a)).collect::<Vec<_>>(),
        "data_root": d.paths.data_root,
        "exec_root": d.paths.exec_root,
        "pidfile": d.paths.pidfile,
        "pidfile_pid": d.pidfile_pid,
        "service_manager": d.service,
        "found_by": d.found_by,
    })
}

async fn found(ctx: &Ctx<'_>, d: &DaemonProcess) -> Finding {
    let o = observe(ctx, d).await;
    let evidence = found_evidence(d, &o);
    let mut p = Problems {
        status: Status::Ok,
        said: Vec::new(),
        fix: Fix::default(),
    };
    judge_main_state(&mut p, d);
    judge_stuck(&mut p, d.info.pid, &o);
    judge_fds(&mut p, d, &o);
    judge_pidfile(&mut p, d, &o);
    if p.status == Status::Ok {
        return Finding::new(Status::Ok, healthy_summary(ctx, d, &o)).evidence(evidence);
    }
    Finding::new(p.status, p.said.join("; "))
        .fix(p.fix)
        .evidence(evidence)
}

/// The main thread stopped (SIGSTOP, a debugger) or a zombie.
fn judge_main_state(p: &mut Problems, d: &DaemonProcess) {
    let info = &d.info;
    let pid = info.pid;
    match main_state(info.state) {
        MainState::Stopped => p.add(
            Status::Critical,
            format!(
                "dockerd pid {pid} is stopped (state {}): it was sent SIGSTOP or is held by a debugger, and cannot answer",
                info.state
            ),
            resume_fix(pid),
        ),
        MainState::Dead => {
            let text = "Start the daemon again through its service manager.";
            p.add(
                Status::Critical,
                format!(
                    "dockerd pid {pid} is a zombie: it has exited and its parent has not reaped it"
                ),
                match service_argv(&d.service, "start") {
                    Some(argv) => run_step(Fix::default(), &argv, text),
                    None => Fix::advice(text),
                },
            );
        }
        MainState::Alive => {}
    }
}

/// Threads stuck in the kernel across the window: a warning while the API still answers,
/// critical when it does not.
fn judge_stuck(p: &mut Problems, pid: i32, o: &Observed) {
    let stuck = &o.stuck;
    let verdict = stuckness(stuck, o.api_answers);
    if verdict == Stuckness::None {
        return;
    }
    let n = o.sampled.as_ref().map_or(0, Vec::len);
    let total = o
        .sampled
        .as_ref()
        .and_then(|s| s.first())
        .map_or(0, Vec::len);
    let which = stuck_names(stuck);
    let (status, what) = match verdict {
        Stuckness::Partial => (
            Status::Warning,
            format!(
                "{} of dockerd's {total} threads (pid {pid}) {} stuck in the kernel across {n} samples — {which}: the API still answers, but whatever they serve (a volume on a hung filesystem?) hangs, and more threads will follow",
                stuck.len(),
                if stuck.len() == 1 { "is" } else { "are" },
            ),
        ),
        _ => (
            Status::Critical,
            format!(
                "dockerd pid {pid} does not answer, and {} of its threads {} stuck in the kernel across {n} samples — {which}",
                stuck.len(),
                if stuck.len() == 1 { "is" } else { "are" },
            ),
        ),
    };
    let first = &stuck[0];
    let stack = proc::task_stack_path(pid, first.tid);
    let fix = Fix::run(
        &["cat", &stack],
        format!("See where it waits: `cat {stack}`."),
    )
    .then_advice(
        "A thread in D cannot be killed: find the hung filesystem or device it waits on (fuse_… or request_wait_answer: a FUSE server; nfs_… or rpc_…: an NFS server); bringing its server back, or a lazy unmount (`umount -l`), frees it — else a reboot. A restart of the daemon will not finish while it waits.",
    );
    p.add(status, what, fix);
}

/// The first five stuck threads by name and wait, and how many more.
fn stuck_names(stuck: &[StuckThread]) -> String {
    let named: Vec<String> = stuck
        .iter()
        .take(5)
        .map(|t| {
            format!(
                "thread {}{} {}",
                t.tid,
                if t.main { " (the main thread)" } else { "" },
                kind_words(t)
            )
        })
        .collect();
    let more = stuck.len().saturating_sub(named.len());
    format!(
        "{}{}",
        named.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Open file descriptors near the process's limit.
fn judge_fds(p: &mut Problems, d: &DaemonProcess, o: &Observed) {
    let info = &d.info;
    if let (Some((pct, level)), Some(n), Some(l)) = (o.fds, info.fds, info.fd_limit)
        && level != Level::Ok
    {
        p.add(
            if level == Level::Critical {
                Status::Critical
            } else {
                Status::Warning
            },
            format!("{n} of {l} file descriptors open ({pct:.0} %)"),
            Fix::advice(format!(
                "Near the limit every new connection and container start fails: raise LimitNOFILE for the service, and look for a leak (ls -l {}).",
                proc::fd_dir(info.pid).display()
            )),
        );
    }
}

/// Whether the pid file names this process, names another, or is missing.
fn judge_pidfile(p: &mut Problems, d: &DaemonProcess, o: &Observed) {
    let info = &d.info;
    let pid = info.pid;
    let agreement = pidfile_agreement(
        d.pidfile_pid,
        pid,
        // Not known (the read timed out): do not claim it is missing.
        o.pidfile_exists.unwrap_or(true),
        d.found_by == "socket",
        info.exe
            .as_deref()
            .is_some_and(|e| crate::policy::identity::exe_name(e) == "dockerd"),
    );
    match agreement {
        PidfileAgreement::NamesOther(other) => p.add(
            Status::Warning,
            format!(
                "the pid file {} names pid {other}, but the daemon is pid {pid}",
                d.paths.pidfile.display()
            ),
            Fix::run(
                &["dockhand", "reap"],
                "A stale pid file stops the next start: correct or remove it once the pid it names is gone or is not dockerd (dockhand reap does it safely).",
            ),
        ),
        PidfileAgreement::Missing => p.add(
            Status::Warning,
            format!("the pid file {} is missing", d.paths.pidfile.display()),
            Fix::advice(
                "dockerd writes its pid file at start; a missing one was removed by hand or by a clean-up script.",
            ),
        ),
        PidfileAgreement::Agrees => {}
    }
}

/// The one-line summary of a healthy daemon: state, uptime, threads, fds, RSS, manager.
fn healthy_summary(ctx: &Ctx<'_>, d: &DaemonProcess, o: &Observed) -> String {
    let info = &d.info;
    let mut s = format!("dockerd pid {} is {}", info.pid, state_word(info.state));
    if let Some(u) = o.uptime {
        s.push_str(&format!(", up {}", crate::util::human_age(u)));
    }
    s.push_str(&format!(", {} threads", info.threads));
    if let (Some(n), Some(l)) = (info.fds, info.fd_limit) {
        s.push_str(&format!(", {n}/{l} fds"));
    }
    s.push_str(&format!(
        ", RSS {}; service manager: {}",
        human_bytes(info.rss_bytes),
        d.service
    ));
    if o.sampled.is_none() {
        s.push_str(&format!(
            " (its threads could not be read within {})",
            human_duration(ctx.timeout())
        ));
    }
    s
}

fn state_word(s: char) -> &'static str {
    match s {
        'R' => "running",
        'S' => "sleeping (idle, normal)",
        'I' => "idle",
        'D' => "briefly in uninterruptible sleep",
        _ => "alive",
    }
}
