//! `dockhand gc`: policy-driven garbage collection, safe to run from a timer. Facts → policy
//! (`policy::gc`, with doctor's verdicts for stopped containers, dangling images, anonymous
//! volumes and logs) → a plan of actions → a dry run's report, or `actions` applying it under the
//! run lock, each object re-verified just before it goes. See docs/gc.md.

pub mod apply;
pub mod gather;
pub mod options;
pub mod plan;
pub mod state;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;

use crate::actions::{Actor, ActorOptions, ApplyReport, Outcome, StepReport};
use crate::exit::ExitCode;
use crate::facts::{Facts, WalkLimits};
use crate::policy::gc::Policy;
use crate::report;
use crate::runtime::engine::Engine;
use crate::settings::{Format, Settings};
use crate::shutdown::Shutdown;
use plan::GcPlan;

/// `dockhand gc`'s flags.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Remove what the plan says (without it: print the plan, change nothing)
    #[arg(long)]
    pub apply: bool,

    /// Also unused tagged images, idle at least --min-age (as `docker image prune -a`, but by
    /// last use, not creation time)
    #[arg(long)]
    pub images: bool,

    /// Also anonymous volumes no container mounts
    #[arg(long)]
    pub volumes: bool,

    /// Also NAMED volumes no container mounts: they hold data, which is lost (implies --volumes)
    #[arg(long)]
    pub named_volumes: bool,

    /// Truncate in place the json-file logs of containers that stay, when over containers.logs'
    /// size threshold (the daemon keeps writing; `docker logs` loses what was there)
    #[arg(long)]
    pub truncate_logs: bool,

    /// Grace period: keep containers stopped, images first seen or used, volumes and networks
    /// created less long ago [default: 1h, or [gc] min_age]
    #[arg(long, value_name = "AGE")]
    pub min_age: Option<String>,

    /// Keep images with a tag matching this repo:tag glob (`*`, `?`), e.g. 'postgres:*'
    /// (repeatable; adds to [gc] keep)
    #[arg(long = "keep", value_name = "PATTERN")]
    pub keep: Vec<String>,

    /// Keep the N most recent images of each repository (by build or last use)
    #[arg(long, value_name = "N")]
    pub keep_last: Option<String>,

    /// High watermark: when the data root's filesystem is fuller than this, remove unused images
    /// least recently used first, down to --low (e.g. 85%)
    #[arg(long, value_name = "PERCENT")]
    pub high: Option<String>,

    /// Low watermark: how far --high frees the filesystem (e.g. 75%)
    #[arg(long, value_name = "PERCENT")]
    pub low: Option<String>,

    /// What to collect, replacing the default set: a comma list of containers, dangling-images,
    /// images, networks, build-cache, volumes, named-volumes, logs
    /// [default: containers,dangling-images,networks,build-cache]
    #[arg(long, value_name = "LIST")]
    pub types: Option<String>,

    /// Keep this much build cache (e.g. 10GB; binary units, as docker's)
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,

    /// At most this many removals in one run (0: no limit)
    #[arg(long, value_name = "N")]
    pub max_removals: Option<String>,

    /// Start no removal after this long (e.g. 10m); what is in flight finishes
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<String>,

    /// Removals in flight at once [default: 16]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,

    /// Save the plan to FILE (with its policy, host, daemon and a digest), to apply later with
    /// --apply-plan
    #[arg(long, value_name = "FILE")]
    pub plan_out: Option<PathBuf>,

    /// Apply a saved plan: exactly its objects, each only if it is still eligible now
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "images", "volumes", "named_volumes", "truncate_logs", "min_age", "keep", "keep_last",
        "high", "low", "types", "keep_storage", "max_removals", "plan_out",
    ])]
    pub apply_plan: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl GcArgs {
    fn flags(&self) -> options::Flags {
        options::Flags {
            images: self.images,
            volumes: self.volumes,
            named_volumes: self.named_volumes,
            truncate_logs: self.truncate_logs,
            min_age: self.min_age.clone(),
            keep: self.keep.clone(),
            keep_last: self.keep_last.clone(),
            high: self.high.clone(),
            low: self.low.clone(),
            types: self.types.clone(),
            max_removals: self.max_removals.clone(),
            max_duration: self.max_duration.clone(),
            keep_storage: self.keep_storage.clone(),
            concurrency: self.concurrency.clone(),
        }
    }

    /// Whether this run changes anything.
    pub fn mutates(&self) -> bool {
        self.apply || self.apply_plan.is_some()
    }
}

/// How the run went, for the report.
#[derive(Debug)]
pub struct Outcomes {
    pub mode: &'static str,
    pub report: Option<ApplyReport>,
    /// Steps of a saved plan no longer eligible.
    pub dropped: Vec<(crate::actions::Step, String)>,
    pub run_id: Option<String>,
}

/// Everything the report shows.
#[derive(Debug)]
pub struct GcReport {
    pub started_at: SystemTime,
    pub elapsed: Duration,
    pub endpoint: String,
    pub daemon_id: String,
    pub data_root: PathBuf,
    pub filesystem: Option<crate::runtime::host::FsUsage>,
    pub policy: Policy,
    pub keep_storage: Option<u64>,
    pub plan: GcPlan,
    pub logs: Vec<gather::LogMeta>,
    pub notes: Vec<String>,
    pub outcomes: Outcomes,
    pub plan_out: Option<PathBuf>,
}

impl GcReport {
    /// The run's exit code: see docs/exit-codes.md.
    pub fn exit_code(&self) -> ExitCode {
        match &self.outcomes.report {
            None => {
                if self.plan.plan.is_empty() {
                    ExitCode::NothingToDo
                } else {
                    ExitCode::Ok
                }
            }
            Some(r) => exit_for(r, !self.outcomes.dropped.is_empty()),
        }
    }
}

/// The exit code of an applied plan: failed > partial > done; nothing to do when there was
/// nothing in it.
pub fn exit_for(r: &ApplyReport, dropped: bool) -> ExitCode {
    if r.failed() {
        return ExitCode::ActionFailed;
    }
    if r.steps.is_empty() {
        return if dropped {
            ExitCode::Partial
        } else {
            ExitCode::NothingToDo
        };
    }
    let skipped = r
        .steps
        .iter()
        .any(|s| !matches!(s.outcome, Outcome::Done { .. } | Outcome::AlreadyGone));
    if skipped || dropped {
        ExitCode::Partial
    } else {
        ExitCode::Ok
    }
}

fn usage(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("dockhand: {e}");
    ExitCode::Usage
}

/// Says why the run stops, and (when it acts) puts the same sentence in the journal's run-end
/// record, so a run that failed before acting reads "failed: <why>", not "nothing to do".
fn fail(actor: Option<&Actor>, code: ExitCode, e: impl std::fmt::Display) -> ExitCode {
    let why = e.to_string();
    eprintln!("dockhand: {why}");
    if let Some(a) = actor {
        a.fail(why);
    }
    code
}

/// Runs `dockhand gc`.
pub async fn run(settings: &Settings, args: &GcArgs, shutdown: &Shutdown) -> ExitCode {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let opts = match options::resolve(&args.flags(), &settings.config.gc) {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    if let Some(p) = &args.plan_out
        && p.is_dir()
    {
        return usage(format!(
            "--plan-out {}: it is a directory; name a file to write the plan to",
            p.display()
        ));
    }
    let engine = Engine::new(settings.endpoint.clone(), settings.timeout);
    let ctx = Ctx {
        settings,
        args,
        opts,
        engine: engine.clone(),
        started_at,
        t0,
    };
    if args.mutates() {
        let actor_opts = ActorOptions {
            read_timeout: settings.timeout,
            ..ActorOptions::default()
        };
        crate::app::mutating(
            &settings.state_dir,
            &engine,
            shutdown,
            "gc",
            actor_opts,
            async |actor: &Actor| ctx.run(Some(actor)).await,
        )
        .await
    } else {
        ctx.run(None).await
    }
}

struct Ctx<'a> {
    settings: &'a Settings,
    args: &'a GcArgs,
    opts: options::Options,
    engine: Engine,
    started_at: SystemTime,
    t0: Instant,
}

impl Ctx<'_> {
    fn facts(&self) -> Facts {
        Facts::new(self.engine.clone()).with_walks(WalkLimits {
            // Bytes are for the report; a huge host gets lower bounds, not a long wait.
            deadline: (self.settings.timeout * 4).max(Duration::from_secs(10)),
            stall: self.settings.timeout,
            threads: 4,
        })
    }

    /// The state dir when this run may use it: always when applying (the frame prepared it),
    /// else if it can be prepared; otherwise the run goes on without last-use history.
    fn state_dir(&self, applying: bool, notes: &mut Vec<String>) -> Option<&Path> {
        let dir = self.settings.state_dir.as_path();
        if applying {
            return Some(dir);
        }
        match crate::actions::prepare_state_dir(dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                notes.push(format!(
                    "last use is not recorded by this run: {e}; images count as first seen now"
                ));
                None
            }
        }
    }

    async fn run(&self, actor: Option<&Actor>) -> ExitCode {
        let mut notes = Vec::new();
        // Watch the engine from before the facts are read: anything touched from here on is
        // seen by the removals' re-checks.
        let watch_since = SystemTime::now();
        let facts = self.facts();
        // An engine that does not answer its ping is asked nothing else: gc needs it for every
        // verdict, so the run ends here, after one deadline rather than one per call.
        if let (Err(e), _) = facts.ping().await {
            return fail(
                actor,
                ExitCode::Unavailable,
                format!("gc needs the engine: {e}"),
            );
        }
        let mut watch = match actor {
            Some(_) if self.args.apply_plan.is_none() => {
                Some(crate::actions::watch::Watch::start(&self.engine, watch_since).await)
            }
            _ => None,
        };
        let state_dir = self.state_dir(actor.is_some(), &mut notes);
        // A saved plan brings its own policy: judge by it.
        let mut policy = self.opts.policy.clone();
        let mut keep_storage = self.opts.keep_storage;
        let mut saved: Option<crate::actions::saved_plan::SavedPlan> = None;
        let key = if self.args.apply_plan.is_some() || self.args.plan_out.is_some() {
            let Some(dir) = state_dir else {
                return fail(
                    actor,
                    ExitCode::Usage,
                    "--plan-out and --apply-plan need the state dir (the plans' key is kept there); run as root, or pass a --state-dir this user may write",
                );
            };
            let d = dir.to_path_buf();
            match crate::runtime::blocking(self.settings.timeout, move || {
                crate::actions::saved_plan::plan_key(&d)
            })
            .await
            {
                Some(Ok(k)) => Some(k),
                Some(Err(e)) => return fail(actor, ExitCode::Usage, e),
                None => {
                    return fail(
                        actor,
                        ExitCode::Usage,
                        format!("the state dir {} did not answer in time", dir.display()),
                    );
                }
            }
        } else {
            None
        };
        if let (Some(path), Some(key)) = (&self.args.apply_plan, &key) {
            // The daemon's identity first: a plan for another daemon is refused before anything.
            let id = match facts.info().await {
                Ok(info) => gather::daemon_identity(info, facts.engine_kind().await),
                Err(g) => {
                    return fail(
                        actor,
                        ExitCode::Unavailable,
                        format!("gc needs the engine: {g}"),
                    );
                }
            };
            let host = crate::actions::journal::machine_id();
            let endpoint = self.settings.endpoint.to_string();
            let want = crate::actions::saved_plan::Expect {
                command: "gc",
                subject: None,
                host: host.as_deref(),
                endpoint: &endpoint,
                engine: Some(&id),
            };
            // A local file, read once: bounded by its size, not by a deadline.
            let loaded = crate::actions::saved_plan::load(path, key, &want);
            match loaded {
                Ok(f) => {
                    let doc = match plan::policy_of(&f) {
                        Ok(d) => d,
                        Err(e) => {
                            return fail(
                                actor,
                                ExitCode::Usage,
                                format!("{}: {e}", path.display()),
                            );
                        }
                    };
                    policy = match doc.policy() {
                        Ok(p) => p,
                        Err(e) => {
                            return fail(
                                actor,
                                ExitCode::Usage,
                                format!("{}: {e}", path.display()),
                            );
                        }
                    };
                    keep_storage = doc.keep_storage;
                    // The saved list is finite already; its cap was applied when it was made.
                    policy.max_removals = 0;
                    let since =
                        crate::units::parse_instant(&f.created_at).unwrap_or_else(SystemTime::now);
                    watch = Some(crate::actions::watch::Watch::start(&self.engine, since).await);
                    saved = Some(f);
                }
                Err(e) => return fail(actor, e.exit_code(), e),
            }
        }
        let g = match gather::gather(
            &facts,
            &policy,
            &self.settings.config,
            &self.settings.catalog,
            state_dir,
        )
        .await
        {
            Ok(g) => g,
            Err(gap) => {
                return fail(
                    actor,
                    ExitCode::Unavailable,
                    format!("gc needs the engine: {gap}"),
                );
            }
        };
        notes.extend(g.notes.iter().cloned());
        let verdicts = crate::policy::gc::judge(&g.input, &policy, g.now);
        let mut built = plan::build(&g, &verdicts, &policy, keep_storage);
        let mut dropped = Vec::new();
        if let Some(f) = &saved {
            let (go, d) = plan::still_eligible(&f.plan(), &built);
            // Show the saved plan's objects only, with their steps.
            let keys: std::collections::HashSet<String> =
                go.steps.iter().map(|s| plan::step_key(&s.action)).collect();
            built.remove.retain(|e| {
                e.steps.iter().any(|i| {
                    built
                        .plan
                        .steps
                        .get(*i)
                        .is_some_and(|s| keys.contains(&plan::step_key(&s.action)))
                })
            });
            let index: std::collections::HashMap<String, usize> = go
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| (plan::step_key(&s.action), i))
                .collect();
            for e in &mut built.remove {
                e.steps = e
                    .steps
                    .iter()
                    .filter_map(|i| built.plan.steps.get(*i))
                    .filter_map(|s| index.get(&plan::step_key(&s.action)).copied())
                    .collect();
            }
            built.plan = go;
            dropped = d;
        }
        if let Some(w) = &watch {
            w.alias(
                g.input
                    .images
                    .iter()
                    .flat_map(|i| i.tags.iter().map(move |t| (t.as_str(), i.id.as_str()))),
            );
        }
        if let (Some(path), Some(key)) = (&self.args.plan_out, &key) {
            let f = plan::file_for(
                &g,
                &built.plan,
                &policy,
                keep_storage,
                &self.settings.endpoint.to_string(),
            );
            if let Err(e) = crate::actions::saved_plan::save(path, &f, key) {
                eprintln!(
                    "dockhand: cannot write --plan-out {}: {e}; nothing was done",
                    path.display()
                );
                return ExitCode::Internal;
            }
        }
        let mut outcomes = Outcomes {
            mode: if saved.is_some() {
                "apply-plan"
            } else if actor.is_some() {
                "apply"
            } else {
                "dry-run"
            },
            report: None,
            dropped,
            run_id: actor.map(|a| a.run_id().to_string()),
        };
        let table = self.args.format == Format::Table;
        if let Some(actor) = actor {
            if let Some(w) = &watch
                && let Some(b) = w.blind()
            {
                notes.push(format!(
                    "{b}: removals rely on their re-checks alone (the engine's 409 and a fresh look at each object)"
                ));
            }
            let bar = (table && std::io::stderr().is_terminal() && !built.plan.is_empty())
                .then(|| report::gc::progress_bar(built.plan.len() as u64));
            let tick = |r: &StepReport| {
                if let Some(b) = &bar {
                    report::gc::tick(b, r);
                }
            };
            let o = apply::Options {
                concurrency: self.opts.concurrency,
                stop_at: apply::stop_at(self.t0, self.opts.max_duration),
                watch: watch.as_ref(),
                progress: Some(&tick),
            };
            let r = apply::apply(&built.plan, actor, &o).await;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            // Nothing of this run's removals needs the state any more: forget what went.
            outcomes.report = Some(r);
        }
        drop(watch);
        let report = GcReport {
            started_at: self.started_at,
            elapsed: self.t0.elapsed(),
            endpoint: self.settings.endpoint.to_string(),
            daemon_id: g.daemon_id.clone(),
            data_root: g.data_root.clone(),
            filesystem: g.filesystem.clone(),
            policy,
            keep_storage,
            plan: built,
            logs: g.logs,
            notes,
            outcomes,
            plan_out: self.args.plan_out.clone(),
        };
        let code = report.exit_code();
        let style = self.settings.style();
        crate::app::emit(|out| match self.args.format {
            Format::Table => report::gc::table(&report, style, out),
            Format::Json => report::gc::json(&report, code, out),
        })
        .unwrap_or(code)
    }
}
