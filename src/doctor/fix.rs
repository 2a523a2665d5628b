//! `dockhand doctor --fix`: after the findings, the plan of every fix dockhand carries out
//! itself, and the advice for what a person must do; with `--apply`, the plan carried out under
//! the run lock and the journal, then the fixed checks run again.
//!
//! It is not a second implementation of any fix: a finding dockhand can fix is handed to the
//! command that already plans it — `reap`'s planners ([`crate::reap::plan_reap`]) for a leaked
//! docker-proxy, a stale pid file, orphan shims, zombies' parents, tmp leftovers and containers
//! stuck in `dead`; `gc`'s policy and plan ([`crate::gc::plan_for`]) for dangling images (and
//! anonymous volumes, when the `[gc]` types collect them) — and their steps are applied by the
//! same code those commands apply them with, each re-verified just before it acts. Only the
//! steps of the findings asked for (`--fix=ID,area`) are kept; a finding that is unknown
//! never acts, and nothing is forced.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::actions::watch::Watch;
use crate::actions::{self, ActorOptions, Plan, Step, StepReport};
use crate::catalog::CheckDef;
use crate::command::{Ctx, Outcome, Ran};
use crate::doctor::command::DoctorFormat;
use crate::doctor::{CheckResult, FixStep as Said, Report, Status};
use crate::exit::ExitCode;
use crate::facts::Facts;
use crate::reap::Category;
use crate::report;
use crate::report::doctor_fix::{Advice, Brief, FixDoc, FixStep, LeftAlone};

/// The check whose finding each of reap's categories fixes.
fn reap_check(c: Category) -> &'static str {
    match c {
        Category::LeakedProxy => "ports.leaked-proxy",
        Category::Pidfile => "daemon.pidfile",
        Category::OrphanShim | Category::OrphanShimTask => ORPHAN_SHIMS,
        Category::ZombieParent => "processes.zombies",
        Category::Tmp => "storage.tmp",
        Category::DeadContainer => "containers.exited",
    }
}

const ORPHAN_SHIMS: &str = "processes.orphan-shims";

/// The findings reap's planners fix.
const REAP_CHECKS: [&str; 6] = [
    "ports.leaked-proxy",
    "daemon.pidfile",
    ORPHAN_SHIMS,
    "processes.zombies",
    "storage.tmp",
    "containers.exited",
];

const DANGLING_IMAGES: &str = "images.dangling";
const DANGLING_VOLUMES: &str = "volumes.dangling";

/// What was asked: the checks the fix is limited to (empty: all the run ran) and whether to act.
pub struct Request {
    pub scope: Vec<String>,
    /// `--fix` named orphan shims (by id or area): ending shims and the container processes
    /// under them is reap's `--shims`, never done unasked.
    pub shims: bool,
    pub apply: bool,
    pub format: DoctorFormat,
    pub textfile: Option<std::path::PathBuf>,
}

/// The plan: the document so far, and the steps each acting command applies.
struct Planned {
    doc: FixDoc,
    reap: Vec<(Category, Step)>,
    gc: Vec<(&'static str, Step)>,
    gc_concurrency: usize,
}

/// `doctor --fix [--apply]`, after the checks ran: `report` is what they found, on `facts`.
pub async fn run(
    ctx: &Ctx<'_>,
    facts: &Facts,
    report: Report,
    selected: &[&CheckDef],
    req: Request,
) -> Ran {
    let mut p = plan(ctx, facts, &report, &req).await;
    p.doc.mode = if req.apply { "apply" } else { "dry-run" }.into();
    if !req.apply {
        let code = report.status().exit_code();
        return Ok(render(ctx, req, report, None, p.doc, code));
    }
    if p.reap.is_empty() && p.gc.is_empty() {
        p.doc.notes.push(
            "nothing to carry out: no lock was taken and the journal has no run for it".into(),
        );
        let code = report.status().exit_code();
        return Ok(render(ctx, req, report.clone(), Some(report), p.doc, code));
    }
    let engine = ctx.engine();
    let opts = ActorOptions {
        read_timeout: ctx.settings.timeout,
        ..ActorOptions::default()
    };
    actions::frame::mutating(ctx, &engine, "doctor --fix", opts, async |actor| {
        pause_before_apply().await;
        let failed = apply(actor, &engine, &report, &mut p).await;
        p.doc.run_id = Some(actor.run_id().to_string());
        let after = if actor.shutdown().is_triggered() {
            p.doc
                .notes
                .push("interrupted: the fixed checks were not run again".into());
            report.clone()
        } else {
            rerun(ctx, &report, selected, &p.doc).await
        };
        p.doc.before = fixed_ids(&p.doc)
            .iter()
            .filter_map(|id| report.checks.iter().find(|c| c.id == *id))
            .map(|c| Brief {
                id: c.id.clone(),
                status: c.finding.status.as_str().into(),
                summary: c.finding.summary.clone(),
            })
            .collect();
        let code = if failed {
            ExitCode::Failed
        } else {
            after.status().exit_code()
        };
        Ok(render(ctx, req, report, Some(after), p.doc, code))
    })
    .await
}

/// The checks that had a step, in the report's order.
fn fixed_ids(doc: &FixDoc) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for s in &doc.steps {
        if !ids.contains(&s.check) {
            ids.push(s.check.clone());
        }
    }
    ids
}

/// Sorts each finding in scope: fixed by reap's or gc's plan, advice for a person, or left
/// alone (unknown, or not asked); then asks the planners for the fixable ones.
async fn plan(ctx: &Ctx<'_>, facts: &Facts, report: &Report, req: &Request) -> Planned {
    let settings = ctx.settings;
    let mut p = Planned {
        doc: FixDoc {
            scope: req.scope.clone(),
            ..FixDoc::default()
        },
        reap: Vec::new(),
        gc: Vec::new(),
        gc_concurrency: 1,
    };
    let gc_types = crate::gc::options::resolve(&Default::default(), &settings.config.gc)
        .map(|o| o.policy.types)
        .ok();
    let mut want_reap: BTreeSet<&str> = BTreeSet::new();
    let mut want_gc: BTreeSet<&str> = BTreeSet::new();
    let in_scope = |id: &str| req.scope.is_empty() || req.scope.iter().any(|s| s == id);
    for c in report.checks.iter().filter(|c| in_scope(&c.id)) {
        let id = c.id.as_str();
        match c.finding.status {
            Status::Ok => continue,
            Status::Unknown => {
                p.doc.left_alone.push(LeftAlone {
                    check: c.id.clone(),
                    target: None,
                    why: format!(
                        "the check could not tell ({}): what is not known is never acted on",
                        c.finding.summary
                    ),
                });
                continue;
            }
            Status::Warning | Status::Critical => {}
        }
        let gc_would = match id {
            DANGLING_IMAGES => gc_types.is_some_and(|t| t.dangling_images),
            DANGLING_VOLUMES => gc_types.is_some_and(|t| t.volumes),
            _ => false,
        };
        if id == ORPHAN_SHIMS && !req.shims {
            p.doc.left_alone.push(LeftAlone {
                check: c.id.clone(),
                target: None,
                why: "ending orphan shims also ends the container processes under them: it is done only when asked by name, with --fix=processes.orphan-shims".into(),
            });
            advise(&mut p.doc, c, settings);
        } else if REAP_CHECKS.contains(&id) {
            want_reap.insert(reap_check_static(id));
        } else if gc_would {
            want_gc.insert(if id == DANGLING_IMAGES {
                DANGLING_IMAGES
            } else {
                DANGLING_VOLUMES
            });
        } else {
            advise(&mut p.doc, c, settings);
        }
    }
    if !want_reap.is_empty() {
        plan_reap(facts, settings, req.shims, &want_reap, &mut p).await;
    }
    if !want_gc.is_empty() {
        plan_gc(facts, settings, report, &want_gc, &mut p).await;
    }
    // A fixable finding the planners found nothing to do for keeps its advice.
    let planned: BTreeSet<String> = p.doc.steps.iter().map(|s| s.check.clone()).collect();
    for c in report.checks.iter().filter(|c| {
        (want_reap.contains(c.id.as_str()) || want_gc.contains(c.id.as_str()))
            && !planned.contains(&c.id)
    }) {
        advise(&mut p.doc, c, settings);
    }
    p
}

/// The `&'static str` of a check id reap fixes.
fn reap_check_static(id: &str) -> &'static str {
    REAP_CHECKS.iter().copied().find(|c| *c == id).unwrap_or("")
}

/// A finding's fix in words, for a person: the check's own remedy (or the catalog's).
fn advise(doc: &mut FixDoc, c: &CheckResult, settings: &crate::settings::Settings) {
    let (text, commands) = match &c.finding.fix {
        Some(f) => (
            f.text(),
            f.steps
                .iter()
                .filter_map(|s| match s {
                    Said::Run { argv, .. } => Some(argv.clone()),
                    Said::Advice { .. } => None,
                })
                .collect(),
        ),
        None => (
            settings
                .catalog
                .get(&c.id)
                .map(|d| d.remedy.trim().to_string())
                .unwrap_or_default(),
            Vec::new(),
        ),
    };
    if text.is_empty() {
        return;
    }
    doc.advice.push(Advice {
        check: c.id.clone(),
        status: c.finding.status.as_str().into(),
        text,
        commands,
    });
}

/// reap's plan on this run's snapshot, kept to the categories of the findings asked for.
async fn plan_reap(
    facts: &Facts,
    settings: &crate::settings::Settings,
    shims: bool,
    want: &BTreeSet<&str>,
    p: &mut Planned,
) {
    let rp = match crate::reap::plan_reap(facts, settings, shims, crate::reap::DEFAULT_GRACE).await
    {
        Ok(rp) => rp,
        Err(g) => {
            for id in want {
                p.doc.left_alone.push(LeftAlone {
                    check: (*id).into(),
                    target: None,
                    why: format!("it is fixed on this host's processes and files: {g}"),
                });
            }
            return;
        }
    };
    p.doc.notes.extend(rp.notes.iter().cloned());
    for (c, s) in rp.steps {
        let check = reap_check(c);
        if !want.contains(check) {
            continue;
        }
        p.doc.steps.push(FixStep {
            check: check.into(),
            category: c.as_str().into(),
            planner: "reap".into(),
            step: planned_view(&s),
        });
        p.reap.push((c, s));
    }
    for sk in rp.skipped {
        let Some(check) = REAP_CHECKS
            .iter()
            .copied()
            .find(|id| category_named(&sk.category).is_some_and(|c| reap_check(c) == *id))
        else {
            continue;
        };
        if want.contains(check) {
            p.doc.left_alone.push(LeftAlone {
                check: check.into(),
                target: Some(sk.target),
                why: sk.why,
            });
        }
    }
}

/// reap's category by its name in a report.
fn category_named(name: &str) -> Option<Category> {
    [
        Category::LeakedProxy,
        Category::Pidfile,
        Category::OrphanShimTask,
        Category::OrphanShim,
        Category::ZombieParent,
        Category::Tmp,
        Category::DeadContainer,
    ]
    .into_iter()
    .find(|c| c.as_str() == name)
}

/// gc's plan with its own policy, narrowed to the kinds of the findings asked for.
async fn plan_gc(
    facts: &Facts,
    settings: &crate::settings::Settings,
    report: &Report,
    want: &BTreeSet<&str>,
    p: &mut Planned,
) {
    // As a gc dry run: last use is recorded when the state dir can be used.
    let state_dir = crate::actions::prepare_state_dir(&settings.state_dir)
        .ok()
        .map(|()| settings.state_dir.as_path());
    let images = want.contains(DANGLING_IMAGES);
    let volumes = want.contains(DANGLING_VOLUMES);
    let narrowed = crate::gc::plan_for(
        facts,
        settings,
        |t| crate::policy::gc::Types {
            dangling_images: t.dangling_images && images,
            // Anonymous volumes only: named ones hold data, and no finding asks for them.
            volumes: t.volumes && volumes,
            ..crate::policy::gc::Types::default()
        },
        state_dir,
    )
    .await;
    let (built, notes, concurrency) = match narrowed {
        Ok(x) => x,
        Err(why) => {
            for id in want {
                p.doc.left_alone.push(LeftAlone {
                    check: (*id).into(),
                    target: None,
                    why: why.clone(),
                });
            }
            return;
        }
    };
    p.gc_concurrency = concurrency;
    p.doc.notes.extend(notes);
    for e in &built.remove {
        let check = match e.object {
            crate::gc::plan::Kind::Image => DANGLING_IMAGES,
            crate::gc::plan::Kind::Volume => DANGLING_VOLUMES,
            _ => continue,
        };
        for i in &e.steps {
            let Some(s) = built.plan.steps.get(*i) else {
                continue;
            };
            p.doc.steps.push(FixStep {
                check: check.into(),
                category: e.object.word().into(),
                planner: "gc".into(),
                step: planned_view(s),
            });
            p.gc.push((check, s.clone()));
        }
    }
    // The dangling images doctor named that gc keeps, with gc's rule in words.
    if images
        && let Some(found) = report.checks.iter().find(|c| c.id == DANGLING_IMAGES)
        && let Some(list) = found.finding.evidence["images"].as_array()
    {
        for id in list.iter().filter_map(|i| i["id"].as_str()) {
            if built.remove.iter().any(|e| e.id == id) {
                continue;
            }
            if let Some(why) = built.why_not.get(id) {
                p.doc.left_alone.push(LeftAlone {
                    check: DANGLING_IMAGES.into(),
                    target: Some(short_id(id).into()),
                    why: format!("gc keeps it: {why}"),
                });
            }
        }
    }
}

fn short_id(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    h.get(..12).unwrap_or(h)
}

fn planned_view(s: &Step) -> report::acting::StepView {
    report::acting::planned_step(s)
}

/// Carries the plan out with the frame's actor: reap's steps as reap applies them (shims
/// last), then gc's as gc applies them (phases, the event watch). Whether a step failed.
async fn apply(
    actor: &actions::Actor,
    engine: &crate::runtime::engine::Engine,
    report: &Report,
    p: &mut Planned,
) -> bool {
    let mut failed = false;
    let offset = p.reap.len();
    if !p.reap.is_empty() {
        let plan = Plan::new(p.reap.iter().map(|(_, s)| s.clone()).collect());
        let (reports, f) = crate::reap::apply(actor, &plan, None, &mut p.doc.notes).await;
        failed |= f;
        set_outcomes(&mut p.doc.steps, 0, &reports, &plan);
    }
    if !p.gc.is_empty() {
        // Anything the engine saw happen to an image since the checks read it (a `docker run`
        // of it, a tag) stops its removal, besides the engine's own 409.
        let watch = Watch::start(engine, report.started_at.min(SystemTime::now())).await;
        if let Some(b) = watch.blind() {
            p.doc.notes.push(format!(
                "{b}: removals rely on their re-checks alone (the engine's 409 and a fresh look at each object)"
            ));
        }
        let plan = Plan::new(p.gc.iter().map(|(_, s)| s.clone()).collect());
        let o = crate::gc::apply::Options {
            concurrency: p.gc_concurrency,
            stop_at: None,
            watch: Some(&watch),
            progress: None,
        };
        let r = crate::gc::apply::apply(&plan, actor, &o).await;
        failed |= r.failed();
        for e in &r.journal_errors {
            p.doc
                .notes
                .push(format!("the journal could not record an outcome: {e}"));
        }
        set_outcomes(&mut p.doc.steps, offset, &r.steps, &plan);
    }
    failed
}

/// Each step's outcome into the document: the steps of one planner start at `offset`, and a
/// report's `index` is its step's place in that planner's plan (a step never started because of
/// Ctrl-C has no report and stays "planned").
fn set_outcomes(steps: &mut [FixStep], offset: usize, reports: &[StepReport], plan: &Plan) {
    let views = report::acting::applied(reports, plan);
    for (r, v) in reports.iter().zip(views) {
        if let Some(s) = steps.get_mut(offset + r.index) {
            s.step = v;
        }
    }
}

/// The report as it stands after the fix: the checks that had a step run again on a fresh
/// snapshot, the others as found.
async fn rerun(ctx: &Ctx<'_>, report: &Report, selected: &[&CheckDef], doc: &FixDoc) -> Report {
    let ids = fixed_ids(doc);
    let again: Vec<&CheckDef> = selected
        .iter()
        .copied()
        .filter(|d| ids.contains(&d.id))
        .collect();
    let settings = ctx.settings;
    let facts = super::facts_for(ctx.engine(), &again);
    let fresh = super::run(
        &facts,
        settings.source.clone(),
        &settings.catalog,
        &settings.config,
        &again,
    )
    .await;
    let mut after = report.clone();
    for c in after.checks.iter_mut() {
        if let Some(n) = fresh.checks.iter().find(|n| n.id == c.id) {
            *c = n.clone();
        }
    }
    after.elapsed = report.elapsed + fresh.elapsed;
    after
}

/// The document in the format asked, printed once by the top: the findings as found, then the
/// fix; after an apply the formats a monitor reads (nagios, npd, prometheus) say the state after.
fn render(
    ctx: &Ctx<'_>,
    req: Request,
    found: Report,
    after: Option<Report>,
    doc: FixDoc,
    code: ExitCode,
) -> Outcome {
    let style = ctx.style();
    let now = after.clone().unwrap_or_else(|| found.clone());
    let code = match req.format {
        DoctorFormat::Npd if code != ExitCode::Failed => report::npd::exit_code(&now),
        _ => code,
    };
    if let Some(path) = req.textfile {
        return Outcome::to_file(code, "--textfile", path, move |out| {
            report::prometheus::doctor(&now, out)
        });
    }
    Outcome::new(code, move |out| match req.format {
        DoctorFormat::Table => {
            report::table::doctor(&found, style, out)?;
            report::doctor_fix::table(&doc, after.as_ref(), style, out)
        }
        DoctorFormat::Json => report::doctor_fix::json(&now, &doc, code, out),
        DoctorFormat::Nagios => report::nagios::doctor(&now, out),
        DoctorFormat::Npd => report::npd::doctor(&now, out),
        DoctorFormat::Prometheus => report::prometheus::doctor(&now, out),
    })
}

/// The integration tests' seam for "the target changed between the plan and its apply" (debug
/// builds only; a release build has no such pause): with `DOCKHAND_TEST_PAUSE_BEFORE_FIX=DIR`,
/// the run creates `DIR/paused` once it holds the lock, right before the first step, and waits
/// (at most 60 s) until `DIR/resume` exists.
#[cfg(debug_assertions)]
async fn pause_before_apply() {
    let Some(dir) = std::env::var_os("DOCKHAND_TEST_PAUSE_BEFORE_FIX") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    if std::fs::write(dir.join("paused"), b"").is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.join("resume").exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[cfg(not(debug_assertions))]
async fn pause_before_apply() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reap_category_fixes_a_check_of_the_catalog() {
        let cat = crate::catalog::Catalog::builtin().expect("catalog");
        for name in [
            "leaked-proxy",
            "pidfile",
            "orphan-shim-task",
            "orphan-shim",
            "zombie-parent",
            "tmp",
            "dead-container",
        ] {
            let c = category_named(name).expect("a category");
            assert_eq!(c.as_str(), name);
            let id = reap_check(c);
            assert!(cat.get(id).is_some(), "{id}");
            assert!(REAP_CHECKS.contains(&id));
        }
        for id in REAP_CHECKS
            .iter()
            .chain(&[DANGLING_IMAGES, DANGLING_VOLUMES])
        {
            assert!(cat.get(id).is_some(), "{id}");
        }
    }
}
