//! `dockhand recover`: diagnose the daemon with doctor's tiers, plan the escalation, and with
//! `--apply` carry it out, verifying each step — bundle → stop → clean → start → verify.
//!
//! Every signal, stop, start and file removal is an action (re-verified, journaled, under the
//! run lock). A process SIGKILL does not end (D state) ends the escalation with "cannot be
//! killed …; a reboot is needed", and nothing else is touched. docs/recover.md is the runbook.

pub mod bundle;
pub mod diagnose;
pub mod plan;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::actions::{
    self, Actor, ActorOptions, ApplyOptions, DaemonStart, DaemonStop, Outcome, Plan, Step,
    StepReport,
};
use crate::exit::ExitCode;
use crate::facts::Facts;
use crate::policy::daemon::recovery::{
    Expected, Need, Presence, expected_running, missing, presence, stop_grace,
};
use crate::runtime::blocking;
use crate::runtime::daemon::{Located, ServiceManager};
use crate::runtime::engine::Engine;
use crate::settings::{Format, Settings};
use crate::shutdown::Shutdown;
use diagnose::Diagnosis;
use plan::{Item, Knobs, Stage, Starter};

/// The margin on top of the containers' stop time in the default grace.
pub const GRACE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, Args, Clone)]
pub struct RecoverArgs {
    /// Carry out the plan (without it: print the plan and change nothing)
    #[arg(long)]
    pub apply: bool,

    /// Restart even a daemon that answers (otherwise recover refuses, exit 80)
    #[arg(long)]
    pub force: bool,

    /// With live-restore off, a restart stops every running container: allow that
    #[arg(long)]
    pub allow_container_stop: bool,

    /// How to start a daemon no service manager runs: its command line, split as a shell would
    /// (no expansions), e.g. "dockerd --config-file /etc/docker/daemon.json"; see also
    /// [recover] start_cmd in the config file
    #[arg(long, value_name = "COMMAND")]
    pub start_cmd: Option<String>,

    /// The daemon's log: a daemon started with --start-cmd appends its output here (default
    /// <state-dir>/dockerd.log), and the incident bundle reads its tail from here
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// How long the daemon may take to stop after the first SIGTERM before it gets a second,
    /// then SIGKILL (default: shutdown-timeout × running containers + 10 s; 10 s with
    /// live-restore)
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    pub grace: Option<Duration>,

    /// How long the restarted daemon may take to answer and list its containers
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "60s")]
    pub start_timeout: Duration,

    /// Do not write the incident bundle (no goroutine dump either)
    #[arg(long)]
    pub no_bundle: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The options of one recover run, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub apply: bool,
    pub force: bool,
    pub allow_container_stop: bool,
    pub start_cmd: Option<(Vec<String>, &'static str)>,
    pub log_file: Option<(PathBuf, &'static str)>,
    pub grace: Option<Duration>,
    pub start_timeout: Duration,
    pub bundle: bool,
    /// Print each step on stderr as it ends.
    pub progress: bool,
}

impl Options {
    /// Validates the flags against the config: one sentence naming the bad value.
    pub fn resolve(settings: &Settings, a: &RecoverArgs) -> Result<Options, String> {
        let start_cmd = match (&a.start_cmd, &settings.config.recover.start_cmd) {
            (Some(s), _) => {
                let words = crate::util::split_words(s)
                    .map_err(|why| format!("--start-cmd: {why}; quote it as a shell would"))?;
                if words.is_empty() {
                    return Err("--start-cmd is empty; give the daemon's command line, e.g. --start-cmd 'dockerd --config-file /etc/docker/daemon.json'".into());
                }
                Some((words, "--start-cmd"))
            }
            (None, Some(w)) => Some((w.clone(), "config")),
            (None, None) => None,
        };
        let log_file = match (&a.log_file, &settings.config.recover.log_file) {
            (Some(p), _) => Some((p.clone(), "--log-file")),
            (None, Some(p)) => Some((p.clone(), "config")),
            (None, None) => None,
        };
        Ok(Options {
            apply: a.apply,
            force: a.force,
            allow_container_stop: a.allow_container_stop,
            start_cmd,
            log_file,
            grace: a.grace,
            start_timeout: a.start_timeout,
            bundle: !a.no_bundle,
            progress: true,
        })
    }
}

/// How a recover run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Dry run: the plan was printed.
    Planned,
    /// The daemon serves: nothing was done (without --force).
    NotNeeded,
    /// A preflight rule forbids it (live-restore off without --allow-container-stop, no way to
    /// start the daemon, a remote engine): nothing was done.
    Refused,
    /// Stopped, cleaned, started, and verified healthy.
    Recovered,
    /// A step or the verification failed; the reason says which.
    Failed,
    /// The process is in D state and SIGKILL did not end it: nothing else was touched.
    RebootNeeded,
    /// Ctrl-C / SIGTERM: the step in flight finished, the rest did not start.
    Interrupted,
}

impl Verdict {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Planned | Verdict::Recovered => ExitCode::Ok,
            Verdict::NotNeeded => ExitCode::RecoverNotNeeded,
            Verdict::Refused => ExitCode::RecoverRefused,
            Verdict::Failed => ExitCode::RecoverFailed,
            Verdict::RebootNeeded => ExitCode::RebootNeeded,
            Verdict::Interrupted => ExitCode::Interrupted,
        }
    }
}

/// One step as it was carried out.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub stage: Stage,
    pub action: &'static str,
    pub target: String,
    pub describe: String,
    pub outcome: &'static str,
    pub detail: Option<String>,
    pub elapsed_ms: f64,
}

/// Everything a recover run found and did, for the renderers.
#[derive(Debug, Clone)]
pub struct Report {
    pub apply: bool,
    pub endpoint: String,
    pub diagnosis: Option<Diagnosis>,
    pub plan: Vec<Item>,
    pub steps: Vec<Done>,
    pub bundle: Option<Value>,
    pub verification: Option<Value>,
    pub changed: Option<Value>,
    pub verdict: Verdict,
    pub reason: String,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    fn new(apply: bool, endpoint: String) -> Report {
        Report {
            apply,
            endpoint,
            diagnosis: None,
            plan: Vec::new(),
            steps: Vec::new(),
            bundle: None,
            verification: None,
            changed: None,
            verdict: Verdict::Planned,
            reason: String::new(),
            notes: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn end(&mut self, verdict: Verdict, reason: impl Into<String>) {
        self.verdict = verdict;
        self.reason = reason.into();
    }
}

/// `dockhand recover`.
pub async fn run(settings: &Settings, args: &RecoverArgs, shutdown: &Shutdown) -> ExitCode {
    let opts = match Options::resolve(settings, args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dockhand: {e}");
            return ExitCode::Usage;
        }
    };
    let report = execute(settings, &opts, shutdown).await;
    let style = settings.style();
    let code = report.verdict.exit_code();
    if matches!(
        report.verdict,
        Verdict::Failed | Verdict::Refused | Verdict::RebootNeeded | Verdict::NotNeeded
    ) {
        eprintln!("dockhand: recover: {}", report.reason);
    }
    crate::app::emit(|out| match args.format {
        Format::Table => crate::report::recover::table(&report, style, out),
        Format::Json => crate::report::recover::json(&report, code, out),
    })
    .unwrap_or(code)
}

/// How the daemon will be started, or why it cannot be.
fn starter(
    diag: &Diagnosis,
    opts: &Options,
    state_dir: &std::path::Path,
) -> Result<Starter, String> {
    let service = diag.process.as_ref().map(|p| &p.service);
    let by_hand = |argv: &[String], from: &'static str| {
        let log = opts
            .log_file
            .as_ref()
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| state_dir.join("dockerd.log"));
        Starter {
            how: DaemonStart::Command {
                argv: argv.to_vec(),
                log: Some(log),
            },
            from,
        }
    };
    match (service, &opts.start_cmd) {
        // Whatever the start command: stopping it is the other manager's business too.
        (Some(ServiceManager::Refused { reason }), _) => Err(format!(
            "recover does not stop or start this daemon: {reason}"
        )),
        (Some(ServiceManager::Systemd { unit }), None) => Ok(Starter {
            how: DaemonStart::Systemd { unit: unit.clone() },
            from: "systemd",
        }),
        (Some(ServiceManager::Openrc), None) => Ok(Starter {
            how: DaemonStart::Openrc {
                service: "docker".into(),
            },
            from: "openrc",
        }),
        (Some(ServiceManager::Sysvinit { script }), None) => Ok(Starter {
            how: DaemonStart::Sysvinit {
                script: script.clone(),
            },
            from: "sysvinit",
        }),
        (Some(sm @ (ServiceManager::Systemd { .. } | ServiceManager::Openrc | ServiceManager::Sysvinit { .. })), Some((_, from))) => Err(format!(
            "{} runs this daemon, so it starts it again; drop the start command from {from}, which is for daemons no service manager runs",
            sm
        )),
        (_, Some((argv, from))) => Ok(by_hand(argv, from)),
        (Some(ServiceManager::None { parent, parent_pid }), None) => Err(format!(
            "no service manager runs this daemon (it was started by {parent}, pid {parent_pid}): pass --start-cmd with its command line (it was: {}), or set [recover] start_cmd in the config file",
            crate::util::sanitize(&diag.process.as_ref().map(|p| p.cmdline.join(" ")).unwrap_or_default())
        )),
        (None, None) => Err("no daemon process to learn the service manager from: pass --start-cmd with the daemon's command line, or set [recover] start_cmd in the config file (or start it through its service manager)".into()),
    }
}

fn print_progress(stage: Stage, r: &StepReport) {
    let detail = r
        .outcome
        .detail()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    eprintln!(
        "recover: {:<6} {} — {}{} ({})",
        stage.as_str(),
        r.describe,
        r.outcome.name(),
        detail,
        crate::util::human_duration(r.elapsed)
    );
}

/// Diagnoses, plans, and (with `apply`) recovers. Never returns early without a report.
pub async fn execute(settings: &Settings, opts: &Options, shutdown: &Shutdown) -> Report {
    let t0 = Instant::now();
    let engine = Engine::new(settings.endpoint.clone(), settings.timeout);
    let facts = Facts::new(engine.clone());
    let mut report = Report::new(opts.apply, engine.endpoint().to_string());
    let start_argv = opts.start_cmd.as_ref().map(|(a, _)| a.as_slice());
    let inputs = bundle::Inputs {
        facts: &facts,
        catalog: &settings.catalog,
        config: &settings.config,
        source: settings.source.clone(),
        log_file: opts.log_file.clone(),
    };
    diagnose::note_stopped(&facts).await;
    // The bundle's doctor run goes alongside the diagnosis: the same facts, one ping deadline.
    let early_doctor = async {
        if opts.apply && opts.bundle {
            Some(bundle::doctor_json(&facts, &inputs).await)
        } else {
            None
        }
    };
    let (diag, doctor_json) = tokio::join!(
        diagnose::diagnose(&facts, &settings.catalog, &settings.config, start_argv),
        early_doctor
    );
    report.diagnosis = Some(diag.clone());
    let done = |mut r: Report| {
        r.elapsed = t0.elapsed();
        r
    };
    if let Some(b) = &diag.blocker {
        report.end(Verdict::Refused, b.clone());
        return done(report);
    }
    let restart = match &diag.need {
        Need::Unknown { why } => {
            report.end(
                Verdict::Refused,
                format!("cannot tell whether the daemon needs recovering: {why}"),
            );
            return done(report);
        }
        Need::NotNeeded { why } if !opts.force => {
            report.end(
                Verdict::NotNeeded,
                format!("not needed: {why}; pass --force to restart it anyway"),
            );
            return done(report);
        }
        Need::NotNeeded { .. } => diag.process.is_some(),
        Need::Restart { .. } => true,
        Need::Start { .. } => false,
    };
    let starter = match starter(&diag, opts, &settings.state_dir) {
        Ok(s) => s,
        Err(e) => {
            report.end(Verdict::Refused, e);
            return done(report);
        }
    };
    let grace = opts.grace.unwrap_or_else(|| {
        stop_grace(
            diag.shutdown_timeout,
            diag.running(),
            diag.live_restore,
            GRACE_MARGIN,
        )
    });
    let knobs = Knobs {
        grace,
        start_timeout: opts.start_timeout,
        bundle: opts.bundle && diag.process.is_some(),
        state_dir: settings.state_dir.clone(),
        proxy_grace_s: settings.config.threshold(
            &settings.catalog,
            "ports.leaked-proxy",
            "grace_seconds",
        ),
    };
    let api_dump = facts.engine_answered().await;
    let procs_read = blocking(settings.timeout * 2, {
        let d = diag.clone();
        let k = knobs.clone();
        let s = starter.clone();
        move || plan::build(&d, &k, &s, api_dump)
    })
    .await;
    report.plan = match procs_read {
        Some(p) => p,
        None => {
            report.end(
                Verdict::Failed,
                "reading the process table did not finish in time",
            );
            return done(report);
        }
    };
    if !restart {
        // Nothing to stop: no bundle or stop stage.
        report
            .plan
            .retain(|i| !matches!(i.stage, Stage::Bundle | Stage::Stop));
    }
    // Preflight: live-restore off stops every running container.
    let stopping = plan::stopping(&diag);
    if restart && diag.live_restore != Some(true) && !opts.allow_container_stop {
        let unknown = diag.containers_from == "none";
        if !stopping.is_empty() || unknown {
            let who = if unknown {
                "the running containers could not be read".to_string()
            } else {
                format!(
                    "{} running container{} will stop: {}",
                    stopping.len(),
                    if stopping.len() == 1 { "" } else { "s" },
                    stopping.join(", ")
                )
            };
            let reason = format!(
                "live-restore is {} ({}): a restart stops every running container, and {who}; pass --allow-container-stop to accept that, or turn live-restore on first",
                if diag.live_restore == Some(false) {
                    "off"
                } else {
                    "not known to be on"
                },
                diag.live_restore_from
            );
            if opts.apply {
                report.end(Verdict::Refused, reason);
                return done(report);
            }
            report.notes.push(reason);
        }
    }
    if !opts.apply {
        report.end(
            Verdict::Planned,
            format!(
                "{}: run again with --apply to carry it out",
                diag.need.why()
            ),
        );
        return done(report);
    }

    let mut slot = None;
    let actor_opts = ActorOptions {
        start_timeout: opts.start_timeout,
        read_timeout: settings.timeout,
        ..ActorOptions::default()
    };
    let code = crate::app::mutating(
        &settings.state_dir,
        &engine,
        shutdown,
        "recover",
        actor_opts,
        async |actor: &Actor| {
            let r = carry_out(
                settings,
                opts,
                &facts,
                &diag,
                &knobs,
                &starter,
                restart,
                actor,
                report.clone(),
                doctor_json.clone(),
            )
            .await;
            if matches!(
                r.verdict,
                Verdict::Failed | Verdict::Refused | Verdict::RebootNeeded
            ) {
                // The journal's run-end says why, as the report does.
                actor.fail(format!("recover: {}", r.reason));
            }
            let code = r.verdict.exit_code();
            slot = Some(r);
            code
        },
    )
    .await;
    match slot {
        Some(r) => done(r),
        None => {
            // The frame stopped before the body ran (state dir, lock, journal): it said why.
            report.end(
                Verdict::Failed,
                match code {
                    ExitCode::Locked => "another dockhand run holds the run lock".to_string(),
                    _ => "the run could not start (state directory or journal)".to_string(),
                },
            );
            report.notes.push(format!("exit {}", code.code()));
            done(report)
        }
    }
}

async fn apply_steps(
    actor: &Actor,
    stage: Stage,
    steps: Vec<Step>,
    report: &mut Report,
    progress: bool,
) -> Vec<StepReport> {
    if steps.is_empty() {
        return Vec::new();
    }
    let print = move |r: &StepReport| {
        if progress {
            print_progress(stage, r);
        }
    };
    let r = actions::apply(
        &Plan::new(steps),
        actor,
        &ApplyOptions {
            concurrency: 1,
            progress: Some(&print),
            ..ApplyOptions::default()
        },
    )
    .await;
    for s in &r.steps {
        report.steps.push(Done {
            stage,
            action: s.kind,
            target: s.target.clone(),
            describe: s.describe.clone(),
            outcome: s.outcome.name(),
            detail: s.outcome.detail().map(str::to_string),
            elapsed_ms: crate::util::millis(s.elapsed),
        });
    }
    r.steps
}

/// Waits until `pid` (with that start time) is gone, at most `within`.
/// Waits up to `within` for the old daemon (`pid`, started at `start_ticks`; 0 when that was
/// never captured) to be gone, as [`presence`] judges it; the last judgment otherwise.
async fn wait_gone(pid: i32, start_ticks: u64, within: Duration) -> Presence {
    let deadline = Instant::now() + within;
    loop {
        let now = blocking(Duration::from_secs(3), move || {
            crate::actions::process::observe(pid).map(|o| (o.start_ticks, o.state))
        })
        .await
        // A read of its /proc that hangs: a process is there, stuck in the kernel.
        .map_or(Presence::Alive, |seen| presence(start_ticks, seen));
        if now == Presence::Gone || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reason a stop step's outcome ends the recovery there: "changed" means the process the
/// stop was for is no longer the one it found (another daemon at the socket now, a pid reused),
/// so nothing judged for the old one — another kill, the clean-up, a start — may follow.
fn stop_halts(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Changed { why } => Some(why),
        _ => None,
    }
}

/// The sentence that ends a recovery halted by [`stop_halts`].
fn halted(pid: i32, why: &str) -> String {
    format!(
        "dockerd pid {pid} was not stopped: {why}; another daemon may be serving the socket now, so nothing else was stopped, cleaned or started (run dockhand recover again to judge what runs now)"
    )
}

#[allow(clippy::too_many_arguments)]
async fn carry_out(
    settings: &Settings,
    opts: &Options,
    facts: &Facts,
    diag: &Diagnosis,
    knobs: &Knobs,
    starter: &Starter,
    restart: bool,
    actor: &Actor,
    mut report: Report,
    doctor_json: Option<Vec<u8>>,
) -> Report {
    let shutdown = actor.shutdown();
    let interrupted = |r: &mut Report, what: &str| {
        r.end(Verdict::Interrupted, format!("interrupted {what}"));
    };
    let old = diag.process.clone();
    // ---- bundle
    if restart && knobs.bundle {
        match bundle::Bundle::create(&settings.state_dir, settings.timeout * 2).await {
            Ok(mut b) => {
                let inputs = bundle::Inputs {
                    facts,
                    catalog: &settings.catalog,
                    config: &settings.config,
                    source: settings.source.clone(),
                    log_file: opts.log_file.clone(),
                };
                let had_dump = b.capture(diag, &inputs, doctor_json).await;
                if !had_dump {
                    let since = SystemTime::now() - Duration::from_secs(1);
                    let signals = plan::bundle_signals(diag, false);
                    let sent =
                        apply_steps(actor, Stage::Bundle, signals, &mut report, opts.progress)
                            .await;
                    if sent.iter().any(|s| {
                        s.kind == "process.signal" && matches!(s.outcome, Outcome::Done { .. })
                    }) {
                        let dirs: Vec<PathBuf> = diag
                            .paths
                            .iter()
                            .flat_map(|p| [p.exec_root.clone(), p.data_root.clone()])
                            .collect();
                        b.collect_dump(&dirs, since, Duration::from_secs(3)).await;
                    }
                }
                report.bundle = Some(b.finish(diag).await);
                if opts.progress {
                    eprintln!("recover: bundle written to {}", b.dir.display());
                }
            }
            Err(e) => report.notes.push(e),
        }
    }
    if shutdown.is_triggered() {
        interrupted(&mut report, "before the daemon was touched");
        return report;
    }
    // ---- stop
    if restart && let Some(p) = &old {
        let how = plan::stopper(diag, knobs.grace);
        let manager = how
            .as_ref()
            .is_some_and(|h| !matches!(h, DaemonStop::Process { .. }));
        let stop = how.map(|how| {
            Step::new(
                crate::actions::Action::StopDaemon {
                    how,
                    grace: knobs.grace,
                },
                format!("{} ({})", diag.need.why(), diag.health.name()),
            )
        });
        let r = apply_steps(
            actor,
            Stage::Stop,
            stop.into_iter().collect(),
            &mut report,
            opts.progress,
        )
        .await;
        let mut failure = r.iter().find_map(|s| match &s.outcome {
            Outcome::Failed { error } => Some(error.clone()),
            Outcome::Refused { why } | Outcome::Changed { why } => Some(why.clone()),
            _ => None,
        });
        if let Some(e) = &failure
            && crate::actions::process::is_unkillable(e)
        {
            report.end(
                Verdict::RebootNeeded,
                format!("dockerd pid {}: {e}; nothing else was touched", p.pid),
            );
            return report;
        }
        if let Some(why) = r.iter().find_map(|s| stop_halts(&s.outcome)) {
            report.end(Verdict::Failed, halted(p.pid, why));
            return report;
        }
        let ticks = p
            .target
            .as_ref()
            .map(|t| t.id.start_ticks)
            .unwrap_or_default();
        let mut gone = wait_gone(
            p.pid,
            ticks,
            Duration::from_secs(if manager { 2 } else { 10 }),
        )
        .await;
        if gone == Presence::Alive && manager && !shutdown.is_triggered() {
            // The service manager's stop left the process: the escalation on the process.
            if let Some(how) = plan::process_stop(diag, knobs.grace) {
                let step = Step::new(
                    crate::actions::Action::StopDaemon {
                        how,
                        grace: knobs.grace,
                    },
                    "the service manager's stop did not end the process",
                );
                let r =
                    apply_steps(actor, Stage::Stop, vec![step], &mut report, opts.progress).await;
                failure = r.iter().find_map(|s| {
                    s.outcome
                        .detail()
                        .map(str::to_string)
                        .filter(|_| s.outcome.is_failure())
                });
                if let Some(e) = &failure
                    && crate::actions::process::is_unkillable(e)
                {
                    report.end(
                        Verdict::RebootNeeded,
                        format!("dockerd pid {}: {e}; nothing else was touched", p.pid),
                    );
                    return report;
                }
                if let Some(why) = r.iter().find_map(|s| stop_halts(&s.outcome)) {
                    report.end(Verdict::Failed, halted(p.pid, why));
                    return report;
                }
                gone = wait_gone(p.pid, ticks, Duration::from_secs(10)).await;
            }
        }
        if gone == Presence::Unknown {
            report.end(
                Verdict::Failed,
                format!(
                    "whether dockerd pid {} ended is not known: its start time was not read at the diagnosis, and a live process holds that pid now (the old daemon, or a newcomer); nothing was cleaned or started — check `ps -p {}`, then run dockhand recover again",
                    p.pid, p.pid
                ),
            );
            return report;
        }
        if gone != Presence::Gone {
            if shutdown.is_triggered() {
                interrupted(&mut report, "while stopping the daemon");
            } else {
                report.end(
                    Verdict::Failed,
                    format!(
                        "dockerd pid {} is still running after the stop{}; nothing was cleaned or started",
                        p.pid,
                        failure.map(|f| format!(" ({f})")).unwrap_or_default()
                    ),
                );
            }
            return report;
        }
    }
    if shutdown.is_triggered() {
        interrupted(
            &mut report,
            "after the daemon was stopped: it is NOT running; run recover again to start it",
        );
        return report;
    }
    // ---- clean (judged now that the old process is gone)
    let old_pid = old.as_ref().map(|p| p.pid);
    if let Some(paths) = &diag.paths {
        settle_containerd(
            &paths.exec_root.join("containerd/containerd.pid"),
            Duration::from_secs(3),
        )
        .await;
    }
    let d = diag.clone();
    let grace_s = knobs.proxy_grace_s;
    let mut steps = blocking(settings.timeout * 2, move || {
        plan::clean_steps(&d, old_pid, grace_s)
    })
    .await
    .unwrap_or_default();
    if let DaemonStart::Systemd { unit } = &starter.how {
        let argv = vec![
            "systemctl".into(),
            "show".into(),
            "-p".into(),
            "Result".into(),
            "--value".into(),
            unit.clone(),
        ];
        if let Ok(r) = crate::runtime::command::run(argv, None, Duration::from_secs(10)).await
            && crate::runtime::incident::start_limit_hit(&r.stdout)
        {
            steps.push(Step::new(
                crate::actions::Action::ResetFailed { unit: unit.clone() },
                "the unit hit its start limit (StartLimitBurst): systemd refuses every start until this",
            ));
        }
    }
    let r = apply_steps(actor, Stage::Clean, steps, &mut report, opts.progress).await;
    if let Some(s) = r.iter().find(|s| s.outcome.is_failure()) {
        report.notes.push(format!(
            "clean-up step failed: {}: {}",
            s.describe,
            s.outcome.detail().unwrap_or_default()
        ));
    }
    if shutdown.is_triggered() {
        interrupted(
            &mut report,
            "after the daemon was stopped: it is NOT running; run recover again to start it",
        );
        return report;
    }
    // ---- start
    let start = Step::new(
        crate::actions::Action::StartDaemon {
            how: starter.how.clone(),
        },
        format!("started as {}", starter.from),
    );
    let r = apply_steps(actor, Stage::Start, vec![start], &mut report, opts.progress).await;
    if let Some(s) = r
        .iter()
        .find(|s| !matches!(s.outcome, Outcome::Done { .. }))
    {
        report.end(
            Verdict::Failed,
            format!(
                "the daemon did not start: {}",
                s.outcome.detail().unwrap_or(s.outcome.name())
            ),
        );
        return report;
    }
    // ---- verify
    let expected = expected_running(&diag.containers, diag.live_restore == Some(true));
    let v = verify(settings, &expected, opts.start_timeout, shutdown).await;
    report.changed = Some(json!({
        "pid_before": old_pid,
        "pid_after": v.pid,
        "health_before": diag.health.name(),
        "health_after": v.health,
        "containers_running_before": diag.running(),
        "containers_running_after": v.running.len(),
        "containers_missing": v.missing.iter().map(|e| &e.name).collect::<Vec<_>>(),
    }));
    let ok = v.failure.is_none();
    let reason = match &v.failure {
        Some(f) => f.clone(),
        None => format!(
            "healthy and verified: ping {}, {} container{} listed, {} of {} expected running",
            crate::util::human_duration(v.ping_after.unwrap_or_default()),
            v.listed,
            if v.listed == 1 { "" } else { "s" },
            expected.len() - v.missing.len(),
            expected.len()
        ),
    };
    report.verification = Some(v.to_json());
    if opts.progress {
        eprintln!("recover: verify {reason}");
    }
    if ok {
        report.end(Verdict::Recovered, reason);
    } else if shutdown.is_triggered() {
        interrupted(&mut report, "while verifying the restarted daemon");
    } else {
        report.end(Verdict::Failed, format!("verification failed: {reason}"));
    }
    report
}

/// The containerd a dockerd supervised dies with it (a parent-death signal) but may take a
/// moment: waits up to `within` for the process its pid file names to be gone (or a zombie), so
/// the clean-up judges that file on what is, not on a process about to exit. One that stays is
/// left alone: the next dockerd adopts it.
async fn settle_containerd(pidfile: &std::path::Path, within: Duration) {
    let p = pidfile.to_path_buf();
    let Some(Some(pid)) = blocking(Duration::from_secs(2), move || {
        crate::runtime::pidfile::pid_in(&p)
    })
    .await
    else {
        return;
    };
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let alive = blocking(Duration::from_secs(2), move || {
            crate::actions::process::observe(pid).is_some_and(|o| {
                !matches!(o.state, 'Z' | 'X' | 'x')
                    && crate::runtime::host::docker_program(pid, None)
                        == Some(crate::policy::identity::DockerProgram::Containerd)
            })
        })
        .await
        .unwrap_or(false);
        if !alive {
            return;
        }
        // Only an orphan is on its way out; one with a live dockerd parent is that daemon's.
        let orphan = blocking(Duration::from_secs(2), move || {
            crate::actions::process::observe(pid)
                .and_then(|o| crate::actions::process::observe(o.ppid))
                .is_none_or(|parent| {
                    matches!(parent.state, 'Z' | 'X' | 'x')
                        || crate::runtime::host::docker_program(parent.pid, None)
                            != Some(crate::policy::identity::DockerProgram::Dockerd)
                })
        })
        .await
        .unwrap_or(false);
        if !orphan {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the verification saw.
#[derive(Debug, Clone, Default)]
struct Verification {
    ping_after: Option<Duration>,
    health: &'static str,
    listed: usize,
    running: Vec<String>,
    missing: Vec<Expected>,
    pid: Option<i32>,
    failure: Option<String>,
    elapsed: Duration,
}

impl Verification {
    fn to_json(&self) -> Value {
        json!({
            "ping_after_ms": self.ping_after.map(crate::util::millis),
            "health": self.health,
            "containers_listed": self.listed,
            "containers_running": self.running.len(),
            "missing": self.missing,
            "pid": self.pid,
            "failure": self.failure,
            "elapsed_ms": crate::util::millis(self.elapsed),
        })
    }
}

/// Waits for the ping (each try under the per-call deadline), asks the tiers again and
/// classifies them, lists the containers, and waits for every expected one to run.
async fn verify(
    settings: &Settings,
    expected: &[Expected],
    within: Duration,
    shutdown: &Shutdown,
) -> Verification {
    let t0 = Instant::now();
    let deadline = t0 + within;
    let engine = Engine::new(settings.endpoint.clone(), settings.timeout);
    let mut v = Verification::default();
    loop {
        if engine.ping().await.is_ok() {
            v.ping_after = Some(t0.elapsed());
            break;
        }
        if Instant::now() >= deadline || shutdown.is_triggered() {
            v.failure = Some(format!(
                "the daemon did not answer the ping within {} of its start",
                crate::util::human_duration(within)
            ));
            v.elapsed = t0.elapsed();
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let facts = Facts::new(engine.clone());
        let (health, _) = diagnose::health(&facts, &settings.catalog, &settings.config).await;
        v.health = health.name();
        if let Ok(Located::Found(d)) = facts.located().await {
            v.pid = Some(d.info.pid);
        }
        let listed = facts.containers().await.map(|c| {
            (
                c.len(),
                c.iter()
                    .filter(|c| c.state == "running")
                    .map(|c| c.id.clone())
                    .collect::<Vec<_>>(),
            )
        });
        let serves = health.serves();
        match listed {
            Ok((n, running)) if serves => {
                v.listed = n;
                let after: Vec<_> = running
                    .iter()
                    .map(|id| crate::policy::daemon::recovery::ContainerSeen {
                        id: id.clone(),
                        name: String::new(),
                        running: true,
                        restart_policy: String::new(),
                        pid: None,
                    })
                    .collect();
                v.running = running;
                v.missing = missing(expected, &after).into_iter().cloned().collect();
                if v.missing.is_empty() {
                    v.failure = None;
                    break;
                }
                v.failure = Some(format!(
                    "{} container{} expected to run {} not running: {}",
                    v.missing.len(),
                    if v.missing.len() == 1 { "" } else { "s" },
                    if v.missing.len() == 1 { "is" } else { "are" },
                    v.missing
                        .iter()
                        .map(|e| format!("{} ({})", e.name, e.because))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Ok(_) => v.failure = Some(format!("the restarted daemon is {}", health.name())),
            Err(g) => {
                v.failure = Some(format!(
                    "the restarted daemon did not list its containers: {g}"
                ))
            }
        }
        if Instant::now() >= deadline || shutdown.is_triggered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    v.elapsed = t0.elapsed();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_that_found_another_process_ends_the_recovery() {
        let changed = Outcome::Changed {
            why: "pid 42 is another process now (started later)".into(),
        };
        assert_eq!(
            stop_halts(&changed),
            Some("pid 42 is another process now (started later)")
        );
        let sentence = halted(42, stop_halts(&changed).unwrap_or_default());
        assert!(
            sentence.contains("nothing else was stopped, cleaned or started"),
            "{sentence}"
        );
        // Every other outcome goes on to judge whether the process is gone.
        for o in [
            Outcome::Done { bytes: None },
            Outcome::AlreadyGone,
            Outcome::Failed {
                error: "systemctl stop docker: exit 1".into(),
            },
            Outcome::Refused {
                why: "outside the scope".into(),
            },
            Outcome::NotStarted,
        ] {
            assert_eq!(stop_halts(&o), None, "{o:?}");
        }
    }

    #[tokio::test]
    async fn waiting_for_a_process_whose_start_time_was_not_captured_never_says_gone() {
        let me = std::process::id() as i32;
        let ticks = crate::actions::process::observe(me)
            .map(|o| o.start_ticks)
            .unwrap_or_default();
        assert!(ticks > 0, "this test's own start time");
        let within = Duration::from_millis(150);
        // A failed capture (0) with a live process at the pid: not known, after the wait.
        assert_eq!(wait_gone(me, 0, within).await, Presence::Unknown);
        assert_eq!(wait_gone(me, ticks, within).await, Presence::Alive);
        // Another start time at the pid: the old process is gone.
        assert_eq!(wait_gone(me, ticks + 1, within).await, Presence::Gone);
    }
}
