//! THE ONLY CODE THAT MUTATES. Commands build a [`Plan`] of [`Step`]s from facts and policy;
//! this module applies it: every step re-verified just before it acts, journaled before and
//! after, at most `concurrency` at once, and nothing new started once the run is interrupted.
//!
//! A mutating command's life:
//!
//! ```text
//! prepare_state_dir → RunLock::acquire → Journal::open → Actor::start (run-start record)
//!   → apply(plan) … apply(plan) → Actor::finish (run-end record) → drop the lock
//! ```
//!
//! `frame::mutating` does the first four and the last two for a command.

pub(crate) mod daemon;
pub(crate) mod docker;
pub(crate) mod files;
pub(crate) mod frame;
pub(crate) mod history;
pub mod journal;
pub mod lock;
pub(crate) mod plan;
pub(crate) mod process;
pub mod saved_plan;
pub(crate) mod watch;

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;

pub use journal::{Journal, JournalError, Totals};
pub use lock::{LockError, RunLock, StateDirError, prepare_state_dir};
pub use plan::{Action, ContainerSeen, DaemonStart, DaemonStop, FileStamp, Outcome, Plan, Step};
pub use process::{ProcId, ProcTarget, Scope};

use crate::runtime::engine::Engine;
use crate::shutdown::Shutdown;
use journal::{Body, record};

/// Deadlines and limits of one run's actions.
#[derive(Debug, Clone, Copy)]
pub struct ActorOptions {
    /// Deadline of each engine write (remove, stop, prune): longer than a read, since removing
    /// a container with a big writable layer takes the daemon a while.
    pub write_timeout: Duration,
    /// Deadline of each /proc read and re-check of a process.
    pub read_timeout: Duration,
    /// Deadline of a scan of every process's open files (before a file is removed).
    pub scan_timeout: Duration,
    /// Deadline for the journal to confirm a record is on disk.
    pub journal_timeout: Duration,
    /// How long a process may take to die after SIGKILL before it is called unkillable.
    pub after_kill: Duration,
    /// Deadline of a daemon start through the service manager.
    pub start_timeout: Duration,
}

impl Default for ActorOptions {
    fn default() -> Self {
        ActorOptions {
            write_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(3),
            scan_timeout: Duration::from_secs(10),
            journal_timeout: Duration::from_secs(5),
            after_kill: Duration::from_secs(5),
            start_timeout: Duration::from_secs(90),
        }
    }
}

/// Who acts: the engine, the journal, the shutdown handle, and the run's identity. One per run;
/// several applies may share it (gc removes containers, re-lists, then removes images).
pub struct Actor {
    reads: Engine,
    writes: Engine,
    journal: Journal,
    shutdown: Shutdown,
    command: String,
    run_id: String,
    opts: ActorOptions,
    started: Instant,
    next_step: AtomicU64,
    totals: Mutex<Totals>,
    /// Why the run failed, when it did (see [`Actor::fail`]).
    failure: Mutex<Option<String>>,
    ended: AtomicBool,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("command", &self.command)
            .field("run_id", &self.run_id)
            .finish()
    }
}

/// A run id: the start time and the pid, plus a counter for runs within one process (tests).
/// "20261128T055335Z-4821-0".
pub fn new_run_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = crate::units::rfc3339(SystemTime::now()).replace(['-', ':'], "");
    format!(
        "{t}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Actor {
    /// Starts a run: writes its run-start record (durably). `args` are the command line as
    /// given, for the record. The engine's own deadline is used for reads; writes get
    /// `opts.write_timeout`.
    pub async fn start(
        engine: &Engine,
        journal: Journal,
        shutdown: Shutdown,
        command: &str,
        args: Vec<String>,
        opts: ActorOptions,
    ) -> Result<Actor, JournalError> {
        let actor = Actor {
            reads: engine.clone(),
            writes: engine.with_timeout(opts.write_timeout),
            journal,
            shutdown,
            command: command.to_string(),
            run_id: new_run_id(),
            opts,
            started: Instant::now(),
            next_step: AtomicU64::new(1),
            totals: Mutex::new(Totals::default()),
            failure: Mutex::new(None),
            ended: AtomicBool::new(false),
        };
        let rec = record(
            &actor.run_id,
            Body::RunStart {
                command: command.to_string(),
                pid: std::process::id(),
                args,
                host: journal::machine_id(),
                endpoint: engine.endpoint().to_string(),
                dockhand: env!("CARGO_PKG_VERSION").to_string(),
            },
        );
        if let Err(e) = actor.journal.append(&rec).await {
            // Nothing was done; there is no run to end.
            actor.ended.store(true, Ordering::SeqCst);
            return Err(e);
        }
        Ok(actor)
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn options(&self) -> &ActorOptions {
        &self.opts
    }

    /// Outcomes so far, over every apply of this run.
    pub fn totals(&self) -> Totals {
        *self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run failed: `why` (the sentence the user was shown) goes into the run-end record,
    /// whose status becomes "failed". The first reason given is kept.
    pub fn fail(&self, why: impl Into<String>) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(why.into());
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn status(&self) -> &'static str {
        if self.shutdown.is_triggered() {
            "interrupted"
        } else if self.failure().is_some() {
            "failed"
        } else {
            "completed"
        }
    }

    fn end_record(&self, status: &str) -> journal::Record {
        record(
            &self.run_id,
            Body::RunEnd {
                status: status.to_string(),
                totals: self.totals(),
                elapsed_ms: crate::util::millis(self.started.elapsed()),
                reason: if status == "failed" {
                    self.failure()
                } else {
                    None
                },
            },
        )
    }

    /// Ends the run: writes its run-end record — "interrupted" if the shutdown was triggered,
    /// else "failed" (with its reason) if [`Actor::fail`] was called, else "completed" — and
    /// returns the totals.
    pub async fn finish(self) -> Result<Totals, JournalError> {
        self.ended.store(true, Ordering::SeqCst);
        let rec = self.end_record(self.status());
        self.journal.append(&rec).await?;
        Ok(self.totals())
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        // Dropped without finish (a panic, an early return): say so in the journal rather than
        // leave the run open-ended.
        if !self.ended.swap(true, Ordering::SeqCst) {
            let rec = self.end_record("abandoned");
            let _ = self.journal.append_blocking(&rec);
        }
    }
}

/// How a plan is applied.
pub struct ApplyOptions<'a> {
    /// Steps in flight at once. Removals are I/O bound in the daemon: 8 keeps it busy without
    /// crowding out the workloads it serves.
    pub concurrency: usize,
    /// Called after each step ends, in the order they end (a progress bar).
    pub progress: Option<&'a (dyn Fn(&StepReport) + Sync)>,
    /// What touched the engine's objects since the plan: an image, volume or network touched
    /// is skipped as changed (see [`watch`]).
    pub watch: Option<&'a watch::Watch>,
    /// Start nothing new after this instant (a run's `--max-duration`): the steps in flight
    /// finish, the rest are journaled as not started.
    pub stop_at: Option<Instant>,
    /// A verdict made just before each step runs, against facts read for this run: a saved
    /// plan's step that a plan made now does not hold is skipped as changed, with why (see
    /// [`saved_plan::Rejudged`]).
    pub rejudge: Option<&'a Rejudge<'a>>,
}

/// A verdict on a step just before it runs: `Some(why)` skips it as changed.
pub type Rejudge<'a> = dyn Fn(&Step) -> Option<String> + Sync + 'a;

/// The default number of steps in flight.
pub const DEFAULT_CONCURRENCY: usize = 8;

impl Default for ApplyOptions<'_> {
    fn default() -> Self {
        ApplyOptions {
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
            watch: None,
            stop_at: None,
            rejudge: None,
        }
    }
}

impl std::fmt::Debug for ApplyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .field("watch", &self.watch.is_some())
            .field("stop_at", &self.stop_at)
            .finish()
    }
}

/// How one step went.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Its place in the plan.
    pub index: usize,
    /// Its number in the journal (unique within the run).
    pub seq: u64,
    pub kind: &'static str,
    pub target: String,
    pub describe: String,
    pub reason: String,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// How a plan went: one report per step, in plan order.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub steps: Vec<StepReport>,
    /// The shutdown was triggered: some steps may be `NotStarted`.
    pub interrupted: bool,
    /// The time limit (`stop_at`) was reached: some steps may be `NotStarted`.
    pub out_of_time: bool,
    pub elapsed: Duration,
    /// Journal writes that failed after a step acted (its intent was on disk; its outcome is
    /// not). The run should end with an error: the record is incomplete.
    pub journal_errors: Vec<String>,
}

impl ApplyReport {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in &self.steps {
            t.add(&s.outcome);
        }
        t
    }

    /// Any step failed (skips for safety are not failures).
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.outcome.is_failure()) || !self.journal_errors.is_empty()
    }
}

/// Applies `plan`: starts steps in order, up to `opts.concurrency` at once. Once the actor's
/// shutdown is triggered nothing new starts; the steps in flight finish (each is bounded by its
/// own deadlines) and the rest are journaled as not started.
pub async fn apply(plan: &Plan, actor: &Actor, opts: &ApplyOptions<'_>) -> ApplyReport {
    let start = Instant::now();
    let limit = opts.concurrency.max(1);
    let mut results: Vec<Option<StepReport>> = vec![None; plan.steps.len()];
    let mut journal_errors = Vec::new();
    let mut next = plan.steps.iter().enumerate();
    let mut in_flight = FuturesUnordered::new();
    let mut stopped_at: Option<usize> = None;
    loop {
        while in_flight.len() < limit && stopped_at.is_none() {
            let Some((i, step)) = next.next() else { break };
            if actor.shutdown.is_triggered() || opts.stop_at.is_some_and(|t| Instant::now() >= t) {
                stopped_at = Some(i);
                break;
            }
            in_flight.push(run_step(actor, i, step, opts.watch, opts.rejudge));
        }
        match in_flight.next().await {
            Some((report, jerr)) => {
                if let Some(e) = jerr {
                    journal_errors.push(e);
                }
                if let Some(p) = opts.progress {
                    p(&report);
                }
                let i = report.index;
                results[i] = Some(report);
            }
            None => break,
        }
    }
    // What never started: the step the loop stopped at and everything after it.
    let why_not = if actor.shutdown.is_triggered() {
        "the run was interrupted before this step started"
    } else {
        "the run's time limit was reached before this step started"
    };
    if let Some(first) = stopped_at {
        let mut recs = Vec::new();
        for (i, step) in plan.steps.iter().enumerate().skip(first) {
            let seq = actor.next_step.fetch_add(1, Ordering::SeqCst);
            let outcome = Outcome::NotStarted;
            actor
                .totals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(&outcome);
            recs.push(record(
                &actor.run_id,
                Body::Outcome {
                    step: seq,
                    kind: step.action.kind().to_string(),
                    target: step.action.target(),
                    outcome: outcome.name().to_string(),
                    detail: Some(why_not.into()),
                    bytes: None,
                    seen_after: Value::Null,
                    elapsed_ms: 0.0,
                    reason: Some(step.reason.clone()),
                },
            ));
            let report = StepReport {
                index: i,
                seq,
                kind: step.action.kind(),
                target: step.action.target(),
                describe: step.action.describe(),
                reason: step.reason.clone(),
                outcome,
                elapsed: Duration::ZERO,
            };
            if let Some(p) = opts.progress {
                p(&report);
            }
            results[i] = Some(report);
        }
        // Queued in order, then one wait: the writer batches them into one fsync.
        let last = recs.pop();
        for r in &recs {
            if let Err(e) = actor.journal.append_nowait(r) {
                journal_errors.push(e.to_string());
            }
        }
        if let Some(r) = last
            && let Err(e) = actor.journal.append(&r).await
        {
            journal_errors.push(e.to_string());
        }
    }
    ApplyReport {
        steps: results.into_iter().flatten().collect(),
        interrupted: actor.shutdown.is_triggered(),
        out_of_time: stopped_at.is_some() && !actor.shutdown.is_triggered(),
        elapsed: start.elapsed(),
        journal_errors,
    }
}

/// One step: intent (durable) → re-verify and act → outcome.
async fn run_step(
    actor: &Actor,
    index: usize,
    step: &Step,
    watch: Option<&watch::Watch>,
    rejudge: Option<&Rejudge<'_>>,
) -> (StepReport, Option<String>) {
    let seq = actor.next_step.fetch_add(1, Ordering::SeqCst);
    let started = Instant::now();
    let kind = step.action.kind();
    let target = step.action.target();
    let describe = step.action.describe();
    let intent = record(
        &actor.run_id,
        Body::Intent {
            step: seq,
            kind: kind.to_string(),
            target: target.clone(),
            describe: describe.clone(),
            reason: step.reason.clone(),
            bytes: step.bytes,
            seen: step.action.seen(),
        },
    );
    let (outcome, seen_after, mut jerr) = match actor.journal.append(&intent).await {
        Ok(()) => {
            let skip = watch
                .and_then(|w| touched(w, &step.action))
                .or_else(|| rejudge.and_then(|r| r(step)));
            let (o, seen) = match skip {
                Some(why) => (Outcome::Changed { why }, Value::Null),
                None => execute(actor, seq, step).await,
            };
            (o, seen, None)
        }
        // Nothing acts unless its intent is on disk.
        Err(e) => (
            Outcome::Failed {
                error: format!("{e}; nothing was done"),
            },
            Value::Null,
            None,
        ),
    };
    let elapsed = started.elapsed();
    actor
        .totals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(&outcome);
    let rec = record(
        &actor.run_id,
        Body::Outcome {
            step: seq,
            kind: kind.to_string(),
            target: target.clone(),
            outcome: outcome.name().to_string(),
            detail: outcome.detail().map(str::to_string),
            bytes: outcome.bytes(),
            seen_after,
            elapsed_ms: crate::util::millis(elapsed),
            reason: None,
        },
    );
    if let Err(e) = actor.journal.append(&rec).await {
        jerr = Some(format!("step {seq} ({describe}): {e}"));
    }
    (
        StepReport {
            index,
            seq,
            kind,
            target,
            describe,
            reason: step.reason.clone(),
            outcome,
            elapsed,
        },
        jerr,
    )
}

/// Whether the watch saw the step's object touched since the plan.
fn touched(w: &watch::Watch, action: &Action) -> Option<String> {
    match action {
        Action::RemoveImage { id } => w.image_touched(id, &[]),
        Action::UntagImage { reference, id } => w.image_touched(id, &[reference]),
        Action::RemoveVolume { name } => w.volume_touched(name),
        Action::RemoveNetwork { id, name } => w.network_touched(id, name),
        _ => None,
    }
}

async fn execute(actor: &Actor, seq: u64, step: &Step) -> (Outcome, Value) {
    let engines = docker::Engines {
        reads: &actor.reads,
        writes: &actor.writes,
    };
    let limits = process::ProcLimits {
        read: actor.opts.read_timeout,
        after_kill: actor.opts.after_kill,
    };
    let run = actor.run_id.clone();
    let journal = &actor.journal;
    let mut signals: Vec<Value> = Vec::new();
    let mut on_signal = |ev: process::SignalEvent| {
        signals.push(serde_json::to_value(&ev).unwrap_or(Value::Null));
        // Queued, not awaited: the outcome record that follows is awaited, and the writer
        // keeps the order, so both are on disk when the step ends.
        let _ = journal.append_nowait(&record(
            &run,
            Body::Signal {
                step: seq,
                event: ev,
            },
        ));
    };
    let (outcome, seen) = match &step.action {
        Action::RemoveContainer { id, seen, .. } => {
            docker::remove_container(&engines, id, seen, step.bytes).await
        }
        Action::StopContainer { id, timeout_s, .. } => {
            docker::stop_container(&engines, id, *timeout_s).await
        }
        Action::RemoveImage { id } => docker::remove_image(&engines, id, step.bytes).await,
        Action::UntagImage { reference, id } => {
            docker::untag_image(&engines, reference, id, step.bytes).await
        }
        Action::RemoveVolume { name } => docker::remove_volume(&engines, name, step.bytes).await,
        Action::RemoveNetwork { id, name } => docker::remove_network(&engines, id, name).await,
        Action::PruneBuildCache {
            keep_storage,
            all,
            until_s,
        } => docker::prune_build_cache(&engines, *keep_storage, *all, *until_s).await,
        Action::Signal { target, signal } => {
            send_signal(target, signal, limits, &mut on_signal).await
        }
        Action::Terminate { target, grace } => {
            let end = process::terminate(target, *grace, limits, &mut on_signal).await;
            (daemon::proc_outcome(end), Value::Null)
        }
        Action::RemoveFile { path, stamp } => {
            let (p, stamp) = (path.clone(), *stamp);
            file_step(actor.opts.scan_timeout, path, move |g| {
                files::remove_file(&p, &stamp, g)
            })
            .await
        }
        Action::TruncateLog { path, stamp } => {
            let (p, stamp) = (path.clone(), *stamp);
            file_step(actor.opts.read_timeout, path, move |g| {
                files::truncate_log(&p, &stamp, g)
            })
            .await
        }
        Action::RemoveTree { path, stamp } => {
            let (p, stamp, bytes) = (path.clone(), *stamp, step.bytes);
            file_step(actor.opts.scan_timeout, path, move |g| {
                files::remove_tree(&p, &stamp, bytes, g)
            })
            .await
        }
        Action::RewritePidfile {
            path,
            stamp,
            daemon,
        } => {
            let (p, stamp, daemon) = (path.clone(), *stamp, daemon.clone());
            file_step(actor.opts.read_timeout, path, move |g| {
                files::rewrite_pidfile(&p, &stamp, &daemon, g)
            })
            .await
        }
        Action::StopDaemon { how, grace } => {
            daemon::stop(how, *grace, limits, &mut on_signal).await
        }
        Action::StartDaemon { how } => daemon::start(how, actor.opts.start_timeout).await,
        Action::ResetFailed { unit } => daemon::reset_failed(unit).await,
    };
    let seen = if signals.is_empty() {
        seen
    } else {
        serde_json::json!({ "signals": signals })
    };
    (outcome, seen)
}

/// Sends the named signal through the process layer; a name that is no signal fails the step.
async fn send_signal(
    target: &process::ProcTarget,
    signal: &str,
    limits: process::ProcLimits,
    on_signal: &mut (dyn FnMut(process::SignalEvent) + Send),
) -> (Outcome, Value) {
    match nix::sys::signal::Signal::from_str(signal) {
        Ok(sig) => {
            let end = process::signal(target, sig, limits, on_signal).await;
            (daemon::proc_outcome(end), Value::Null)
        }
        Err(_) => (
            Outcome::Failed {
                error: format!(
                    "{signal:?} is not a signal name; use e.g. SIGTERM, SIGKILL, SIGUSR1"
                ),
            },
            Value::Null,
        ),
    }
}

/// Runs one file change off the async threads under `deadline` (see `runtime::mutate`), the
/// path shown in its outcome.
async fn file_step<F>(deadline: Duration, path: &std::path::Path, f: F) -> (Outcome, Value)
where
    F: FnOnce(&crate::runtime::Gate) -> (Outcome, Value) + Send + 'static,
{
    let shown = path.display().to_string();
    mutated(crate::runtime::mutate(deadline, f).await, &shown, deadline)
}

/// A file step's end: its own outcome, or — when its checks ran past the deadline — a failure
/// saying it was not started (the change itself is never cut off, see `runtime::mutate`).
fn mutated(
    m: crate::runtime::Mutated<(Outcome, Value)>,
    what: &str,
    d: Duration,
) -> (Outcome, Value) {
    match m {
        crate::runtime::Mutated::Ended(r) => r,
        crate::runtime::Mutated::NotStarted => (
            Outcome::Failed {
                error: format!(
                    "checking {what} took longer than {}; it was not started and is left as it was",
                    crate::util::human_duration(d)
                ),
            },
            Value::Null,
        ),
    }
}
