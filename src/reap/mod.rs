//! `dockhand reap`: plans, and with `--apply` performs, the clean-up of what Docker leaked —
//! exactly what doctor reports, judged by the same functions:
//!
//! - leaked docker-proxy processes (`ports.leaked-proxy`, [`judge_proxy_if_known`]) are terminated;
//! - a stale daemon pid file (`daemon.pidfile`, [`crate::runtime::pidfile::judge`] +
//!   [`pidfile_repair`]) is removed while no daemon runs, or rewritten with the running daemon's
//!   pid;
//! - orphan shims (`processes.orphan-shims`) unknown to Docker *and* to containerd
//!   ([`judge_shim`] with containerd's task list) are ended with `--shims` only: the container
//!   processes under them first, then the shim;
//! - the parents of zombies that belong to containers no longer running (`processes.zombies`,
//!   [`zombie_parent`]) are terminated, so the shim (or init) reaps the zombies;
//! - entries of `<data-root>/tmp` and a lingering `tmp-old` no process holds open, past the
//!   grace period (`storage.tmp`, [`tmp_stale`]), are removed;
//! - containers stuck in `dead` ([`stuck_dead`]) are removed, without force.
//!
//! Every signal and removal is an action (src/actions): re-verified just before it acts,
//! journaled, never forced. See docs/reap.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;

use crate::actions::saved_plan;
use crate::actions::{self, Action, ActorOptions, ApplyOptions, Plan, Step};
use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use crate::facts::{Facts, WalkLimits};
use crate::report;
use crate::report::reap::{ReapDoc, ReapStep};
use crate::settings::{Format, Style};

mod capture;
mod dead;
mod pidfile;
mod plan;
mod proxies;
mod shims;
mod tmp;
mod zombies;

use plan::category_of;
pub use plan::{Category, ReapPlan, ends_a_shim, plan_reap};

/// How long a process gets after SIGTERM before SIGKILL when no `--grace` is given (the
/// default of reap's flag; `doctor --fix` ends processes with it too).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct ReapArgs {
    /// Act on the plan: terminate, remove, rewrite. Without it nothing is changed
    #[arg(long)]
    pub apply: bool,

    /// Also end orphan containerd shims — unknown to Docker and to containerd — and the
    /// container processes under them
    #[arg(long)]
    pub shims: bool,

    /// How long a process gets after SIGTERM before SIGKILL: 10s, 1.5s, 500ms, 1m
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "10s")]
    pub grace: Duration,

    /// Save the dry run's plan to FILE, to apply it later with --apply --plan FILE
    #[arg(long, value_name = "FILE", conflicts_with = "apply")]
    pub plan_out: Option<PathBuf>,

    /// Apply this saved plan — exactly its steps, each re-checked just before it acts —
    /// instead of planning anew
    #[arg(long, value_name = "FILE", requires = "apply")]
    pub plan: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

// Long (~100 lines) because it reads as the run itself: prepare, plan, then dry run or apply.
/// `dockhand reap`: plans, saves the plan or applies it, and hands back the document.
pub async fn run(ctx: &Ctx<'_>, args: &ReapArgs) -> Ran {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let settings = ctx.settings;
    let endpoint = settings.endpoint.to_string();
    let engine = ctx.engine();
    // The tmp walk is bounded like df's, not like doctor's whole-run budget.
    let facts = Facts::new(engine.clone()).with_walks(WalkLimits {
        deadline: Duration::from_secs(30),
        stall: settings.timeout,
        threads: 4,
    });
    let host = actions::journal::machine_id();
    let want = saved_plan::Expect {
        command: "reap",
        subject: None,
        host: host.as_deref(),
        endpoint: &endpoint,
        engine: None,
    };
    let prepared = saved_plan::prepare(
        args.plan.as_deref(),
        args.plan_out.is_some(),
        &settings.state_dir,
        settings.timeout,
        &facts,
        want,
    )
    .await
    .map_err(|(why, code)| Failure::new(code, why))?;
    // A saved plan is re-judged: reap plans anew, with the saved plan's options, and applies
    // only the saved steps this plan also holds.
    let shims = args.shims
        || prepared
            .saved
            .as_ref()
            .is_some_and(|s| s.options["shims"].as_bool().unwrap_or(false));
    let now = plan_reap(&facts, settings, shims, args.grace)
        .await
        .map_err(|g| {
            Failure::unavailable(format!("reap acts on this host's processes and files: {g}"))
        })?;
    let (mut rp, rejudged) = match (&prepared.saved, &args.plan) {
        (Some(s), Some(path)) => (
            from_saved(s, path, &now)?,
            Some(saved_plan::rejudge(&now.plan())),
        ),
        _ => (now, None),
    };
    let plan = rp.plan();
    let mut doc = ReapDoc::new(endpoint.clone(), started_at, args.apply, args.shims);
    doc.daemon_pid = rp.daemon_pid;
    doc.skipped = rp.skipped.clone();
    doc.steps = rp
        .steps
        .iter()
        .zip(report::acting::planned(&plan))
        .map(|((c, _), v)| ReapStep {
            category: c.as_str().to_string(),
            step: v,
        })
        .collect();
    let render = Render {
        format: args.format,
        style: ctx.style(),
    };
    if !args.apply {
        if let Some(path) = &args.plan_out {
            save(path, &prepared, &endpoint, &plan, shims)?;
            rp.notes.push(format!("plan saved to {}", path.display()));
        }
        // A gap left something unjudged: the plan is not the whole story.
        let code = if rp.gaps {
            ExitCode::Partial
        } else {
            ExitCode::Ok
        };
        doc.finish(code, rp.notes.clone(), None, t0.elapsed());
        return Ok(render.outcome(code, doc));
    }
    actions::frame::mutating(
        ctx,
        &engine,
        "reap",
        ActorOptions::default(),
        async |actor: &actions::Actor| {
            let (reports, failed) = apply(actor, &plan, rejudged.as_ref(), &mut rp.notes).await;
            doc.steps = rp
                .steps
                .iter()
                .zip(report::acting::applied(&reports, &plan))
                .map(|((c, _), v)| ReapStep {
                    category: c.as_str().to_string(),
                    step: v,
                })
                .collect();
            let code = if failed {
                ExitCode::Failed
            } else if rp.gaps {
                ExitCode::Partial
            } else {
                ExitCode::Ok
            };
            doc.finish(
                code,
                std::mem::take(&mut rp.notes),
                Some(actor.totals()),
                t0.elapsed(),
            );
            Ok(render.outcome(code, doc))
        },
    )
    .await
}

/// The plan to apply from a saved one: exactly its steps, once they are found to be about this
/// daemon; each goes only if a plan made now holds it too.
fn from_saved(s: &saved_plan::SavedPlan, path: &Path, now: &ReapPlan) -> Result<ReapPlan, Failure> {
    within_bounds(&s.steps, now).map_err(|why| {
        Failure::usage(format!(
            "the plan {} is refused: {why}; nothing was done",
            path.display()
        ))
    })?;
    Ok(ReapPlan {
        steps: s
            .steps
            .iter()
            .map(|st| (category_of(st), st.clone()))
            .collect(),
        notes: vec![format!(
            "applying the plan saved in {} at {} ({} steps): each step goes only if a plan made now holds it, and is re-checked just before it acts",
            path.display(),
            s.created_at,
            s.steps.len()
        )],
        ..ReapPlan::default()
    })
}

/// Writes the dry run's plan to `path`, signed with the state dir's key.
fn save(
    path: &Path,
    prepared: &saved_plan::Prepared,
    endpoint: &str,
    plan: &Plan,
    shims: bool,
) -> Result<(), Failure> {
    let sp = saved_plan::SavedPlan::new(
        "reap",
        None,
        saved_plan::EngineDoc {
            endpoint: endpoint.to_string(),
            id: prepared.engine_id.clone(),
        },
        plan,
    )
    .with_options(serde_json::json!({ "shims": shims }));
    let written = match &prepared.key {
        Some(key) => saved_plan::save(path, &sp, key),
        None => Err(std::io::Error::other("no key")),
    };
    written.map_err(|e| Failure::usage(format!("cannot write --plan-out {}: {e}", path.display())))
}

/// Applies the plan in two phases: everything else, then the shims (their processes went
/// first, while still under them). The reports come back in the plan's order. `doctor --fix`
/// applies reap's steps through here too.
pub async fn apply(
    actor: &actions::Actor,
    plan: &Plan,
    rejudged: Option<&saved_plan::Rejudged>,
    notes: &mut Vec<String>,
) -> (Vec<actions::StepReport>, bool) {
    let (last, first): (Vec<usize>, Vec<usize>) =
        (0..plan.steps.len()).partition(|&i| ends_a_shim(&plan.steps[i]));
    let mut reports = Vec::new();
    let mut failed = false;
    for phase in [first, last] {
        if phase.is_empty() || actor.shutdown().is_triggered() {
            continue;
        }
        let part = Plan::new(phase.iter().map(|&i| plan.steps[i].clone()).collect());
        let judge = |s: &Step| rejudged.and_then(|r| r.why_not(s));
        let opts = ApplyOptions {
            rejudge: Some(&judge),
            ..ApplyOptions::default()
        };
        let r = actions::apply(&part, actor, &opts).await;
        failed |= r.failed();
        for mut s in r.steps {
            s.index = phase[s.index];
            reports.push(s);
        }
        for e in r.journal_errors {
            notes.push(format!("the journal could not record an outcome: {e}"));
        }
    }
    reports.sort_by_key(|s| s.index);
    (reports, failed)
}

/// Whether every path a saved plan names is one reap itself cleans on this host now: an entry
/// of the live engine's `<data-root>/tmp`, its `<data-root>/tmp-old`, or the located daemon's
/// pid file. The signature says dockhand wrote the plan; this says it is about this daemon.
fn within_bounds(steps: &[Step], now: &ReapPlan) -> Result<(), String> {
    for s in steps {
        let path = match &s.action {
            Action::RemoveFile { path, .. }
            | Action::RemoveTree { path, .. }
            | Action::RewritePidfile { path, .. } => path,
            _ => continue,
        };
        if now.pidfile.as_deref() == Some(path.as_path()) {
            continue;
        }
        if matches!(s.action, Action::RewritePidfile { .. }) {
            return Err(format!(
                "it rewrites {}, which is not the daemon's pid file{}",
                crate::util::sanitize(&path.to_string_lossy()),
                now.pidfile.as_ref().map_or_else(String::new, |p| format!(
                    " ({})",
                    crate::util::sanitize(&p.to_string_lossy())
                ))
            ));
        }
        let Some(root) = &now.data_root else {
            return Err(format!(
                "it removes {}, and the engine's data root is not known now (its tmp was not read), so that cannot be confirmed to be Docker's",
                crate::util::sanitize(&path.to_string_lossy())
            ));
        };
        let in_tmp = path.parent() == Some(root.join("tmp").as_path());
        if !(in_tmp || *path == root.join("tmp-old")) {
            return Err(format!(
                "it removes {}, outside {}/tmp and the daemon's pid file",
                crate::util::sanitize(&path.to_string_lossy()),
                root.display()
            ));
        }
    }
    Ok(())
}

/// How the document is rendered, decided before the run: the top prints it once.
#[derive(Clone, Copy)]
struct Render {
    format: Format,
    style: Style,
}

impl Render {
    fn outcome(self, code: ExitCode, doc: ReapDoc) -> Outcome {
        Outcome::new(code, move |out| match self.format {
            Format::Table => report::reap::table(&doc, self.style, out),
            Format::Json => report::reap::json(&doc, out),
        })
    }
}
