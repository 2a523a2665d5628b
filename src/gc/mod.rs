//! `dockhand gc`: policy-driven garbage collection, safe to run from a timer. Facts → policy
//! (`policy::gc`, with doctor's verdicts for stopped containers, dangling images, anonymous
//! volumes and logs) → a plan of actions → a dry run's report, or `actions` applying it under the
//! run lock, each object re-verified just before it goes. See docs/gc.md.
//!
//! The command is [`run`]; [`pipeline`] holds its steps (the engine's answer, a saved plan's
//! policy, the verdicts and the plan, the removals), each a function of its own.

pub mod apply;
pub mod gather;
pub mod options;
mod pipeline;
pub mod plan;
pub mod state;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;

use crate::actions::{ActorOptions, ApplyReport};
use crate::command::{Ctx, Failure, Ran};
use crate::exit::ExitCode;
use crate::policy::gc::Policy;
use crate::settings::Format;
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
    #[arg(long, value_name = "AGE", value_parser = options::age)]
    pub min_age: Option<Duration>,

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
    #[arg(long, value_name = "DURATION", value_parser = options::age)]
    pub max_duration: Option<Duration>,

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
            min_age: self.min_age,
            keep: self.keep.clone(),
            keep_last: self.keep_last.clone(),
            high: self.high.clone(),
            low: self.low.clone(),
            types: self.types.clone(),
            max_removals: self.max_removals.clone(),
            max_duration: self.max_duration,
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
        self.outcomes.report.as_ref().map_or(ExitCode::Ok, exit_for)
    }
}

/// The exit code of an applied plan, for whoever schedules gc: only a failure is non-zero. An
/// empty plan, objects skipped by a safety rule (in use, changed, protected, no longer
/// eligible) and removals not started before `--max-duration` are a quiet or a busy night, and
/// the report says which; a cron job or a systemd unit must not read them as failures.
pub fn exit_for(r: &ApplyReport) -> ExitCode {
    if r.failed() {
        ExitCode::Failed
    } else {
        ExitCode::Ok
    }
}

/// Runs `dockhand gc`: a dry run prints the plan; `--apply` and `--apply-plan` act inside the
/// mutating frame (lock, journal), which journals a failure before acting with its sentence.
pub async fn run(ctx: &Ctx<'_>, args: &GcArgs) -> Ran {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let opts = options::resolve(&args.flags(), &ctx.settings.config.gc).map_err(Failure::usage)?;
    if let Some(p) = &args.plan_out
        && p.is_dir()
    {
        return Err(Failure::usage(format!(
            "--plan-out {}: it is a directory; name a file to write the plan to",
            p.display()
        )));
    }
    let engine = ctx.engine();
    let run = pipeline::Run {
        ctx: *ctx,
        args,
        opts,
        engine: engine.clone(),
        started_at,
        t0,
    };
    if !args.mutates() {
        return run.run(None).await;
    }
    let actor_opts = ActorOptions {
        read_timeout: ctx.settings.timeout,
        ..ActorOptions::default()
    };
    crate::actions::frame::mutating(ctx, &engine, "gc", actor_opts, async |actor| {
        run.run(Some(actor)).await
    })
    .await
}

/// gc's plan for `doctor --fix`: the host gathered, judged and planned exactly as a `dockhand gc`
/// without flags would (the config's `[gc]` policy, its grace and keep rules), narrowed to the
/// kinds `narrow` keeps of the ones gc would collect. The watermark is off: it removes tagged
/// images by last use, which no finding asks for.
pub async fn plan_for(
    facts: &crate::facts::Facts,
    settings: &crate::settings::Settings,
    narrow: impl Fn(crate::policy::gc::Types) -> crate::policy::gc::Types,
    state_dir: Option<&std::path::Path>,
) -> Result<(GcPlan, Vec<String>, usize), String> {
    let opts = options::resolve(&options::Flags::default(), &settings.config.gc)?;
    let mut policy = opts.policy;
    policy.types = narrow(policy.types);
    policy.watermarks = None;
    let g = gather::gather(
        facts,
        &policy,
        &settings.config,
        &settings.catalog,
        state_dir,
    )
    .await
    .map_err(|gap| format!("gc needs the engine: {gap}"))?;
    let verdicts = crate::policy::gc::judge(&g.input, &policy, g.now);
    let built = plan::build(&g, &verdicts, &policy, opts.keep_storage);
    Ok((built, g.notes, opts.concurrency))
}
