//! The steps of one gc run, in order: the engine must answer; the plans' key when a plan is
//! saved or applied; a saved plan's own policy (`--apply-plan`); the facts, the verdicts and the
//! plan; the plan saved (`--plan-out`); the removals under the frame's actor; the report. Every
//! stop is a [`Failure`] with its sentence, which the frame journals for a mutating run.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::{GcArgs, GcReport, Outcomes, apply, gather, options, plan};
use crate::actions::saved_plan::{self, SavedPlan};
use crate::actions::watch::Watch;
use crate::actions::{Actor, ApplyReport, StepReport};
use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::facts::{Facts, WalkLimits};
use crate::policy::gc::Policy;
use crate::report;
use crate::runtime::engine::Engine;
use crate::settings::Format;

/// One run: what it was given, resolved.
pub(super) struct Run<'a> {
    pub ctx: Ctx<'a>,
    pub args: &'a GcArgs,
    pub opts: options::Options,
    pub engine: Engine,
    pub started_at: SystemTime,
    pub t0: Instant,
}

/// A saved plan to apply, with the policy it was made by.
struct Saved {
    file: SavedPlan,
    policy: Policy,
    keep_storage: Option<u64>,
}

impl Run<'_> {
    fn facts(&self) -> Facts {
        // gc reads the records as well as the storage map: they share them.
        Facts::new(self.engine.clone())
            .sharing_records()
            .with_walks(WalkLimits {
                // Bytes are for the report; a huge host gets lower bounds, not a long wait.
                deadline: (self.ctx.settings.timeout * 4).max(Duration::from_secs(10)),
                stall: self.ctx.settings.timeout,
                threads: 4,
            })
    }

    /// The state dir when this run may use it: always when applying (the frame prepared it),
    /// else if it can be prepared; otherwise the run goes on without last-use history.
    fn state_dir(&self, applying: bool, notes: &mut Vec<String>) -> Option<&Path> {
        let dir = self.ctx.settings.state_dir.as_path();
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

    /// The whole run; `actor` is the frame's when it acts.
    pub async fn run(&self, actor: Option<&Actor>) -> Ran {
        let mut notes = Vec::new();
        // Watch the engine from before the facts are read: anything touched from here on is
        // seen by the removals' re-checks.
        let watch_since = SystemTime::now();
        let facts = self.facts();
        // An engine that does not answer its ping is asked nothing else: gc needs it for every
        // verdict, so the run ends here, after one deadline rather than one per call.
        if let (Err(e), _) = facts.ping().await {
            return Err(Failure::unavailable(format!("gc needs the engine: {e}")));
        }
        let mut watch = match actor {
            Some(_) if self.args.apply_plan.is_none() => {
                Some(Watch::start(&self.engine, watch_since).await)
            }
            _ => None,
        };
        let state_dir = self.state_dir(actor.is_some(), &mut notes);
        let key = self.plan_key(state_dir).await?;
        let saved = match (&self.args.apply_plan, &key) {
            (Some(path), Some(key)) => Some(self.load_saved(&facts, path, key).await?),
            _ => None,
        };
        // A saved plan brings its own policy: judge by it, and watch from when it was made.
        let (policy, keep_storage) = match &saved {
            Some(s) => {
                let since =
                    crate::units::parse_instant(&s.file.created_at).unwrap_or_else(SystemTime::now);
                watch = Some(Watch::start(&self.engine, since).await);
                (s.policy.clone(), s.keep_storage)
            }
            None => (self.opts.policy.clone(), self.opts.keep_storage),
        };
        let settings = self.ctx.settings;
        let g = gather::gather(
            &facts,
            &policy,
            &settings.config,
            &settings.catalog,
            state_dir,
        )
        .await
        .map_err(|gap| Failure::unavailable(format!("gc needs the engine: {gap}")))?;
        notes.extend(g.notes.iter().cloned());
        let verdicts = crate::policy::gc::judge(&g.input, &policy, g.now);
        let mut built = plan::build(&g, &verdicts, &policy, keep_storage);
        let dropped = match &saved {
            Some(s) => plan::narrow_to_saved(&mut built, &s.file.plan()),
            None => Vec::new(),
        };
        if let Some(w) = &watch {
            w.alias(
                g.input
                    .images
                    .iter()
                    .flat_map(|i| i.tags.iter().map(move |t| (t.as_str(), i.id.as_str()))),
            );
        }
        if let (Some(path), Some(key)) = (&self.args.plan_out, &key) {
            let endpoint = settings.endpoint.to_string();
            let f = plan::file_for(&g, &built.plan, &policy, keep_storage, &endpoint);
            save_plan(path, &f, key)?;
        }
        let report = match actor {
            Some(actor) => Some(self.remove(actor, &built, watch.as_ref(), &mut notes).await),
            None => None,
        };
        drop(watch);
        let outcomes = Outcomes {
            mode: match (&saved, actor) {
                (Some(_), _) => "apply-plan",
                (None, Some(_)) => "apply",
                (None, None) => "dry-run",
            },
            report,
            dropped,
            run_id: actor.map(|a| a.run_id().to_string()),
        };
        Ok(self.outcome(GcReport {
            started_at: self.started_at,
            elapsed: self.t0.elapsed(),
            endpoint: settings.endpoint.to_string(),
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
        }))
    }

    /// The key that signs saved plans, when this run saves or applies one; it is kept in the
    /// state dir, so without one such a run cannot go on.
    async fn plan_key(&self, state_dir: Option<&Path>) -> Result<Option<Vec<u8>>, Failure> {
        if self.args.apply_plan.is_none() && self.args.plan_out.is_none() {
            return Ok(None);
        }
        let Some(dir) = state_dir else {
            return Err(Failure::usage(
                "--plan-out and --apply-plan need the state dir (the plans' key is kept there); run as root, or pass a --state-dir this user may write",
            ));
        };
        let d = dir.to_path_buf();
        match crate::runtime::blocking(self.ctx.settings.timeout, move || saved_plan::plan_key(&d))
            .await
        {
            Some(Ok(k)) => Ok(Some(k)),
            Some(Err(e)) => Err(Failure::usage(e.to_string())),
            None => Err(Failure::usage(format!(
                "the state dir {} did not answer in time",
                dir.display()
            ))),
        }
    }

    /// The saved plan at `path`, checked against this host and daemon, with its policy.
    async fn load_saved(&self, facts: &Facts, path: &Path, key: &[u8]) -> Result<Saved, Failure> {
        // The daemon's identity first: a plan for another daemon is refused before anything.
        let id = match facts.info().await {
            Ok(info) => gather::daemon_identity(info, facts.engine_kind().await),
            Err(g) => return Err(Failure::unavailable(format!("gc needs the engine: {g}"))),
        };
        let host = crate::actions::journal::machine_id();
        let endpoint = self.ctx.settings.endpoint.to_string();
        let want = saved_plan::Expect {
            command: "gc",
            subject: None,
            host: host.as_deref(),
            endpoint: &endpoint,
            engine: Some(&id),
        };
        // A local file, read once: bounded by its size, not by a deadline.
        let file = saved_plan::load(path, key, &want)
            .map_err(|e| Failure::new(e.exit_code(), e.to_string()))?;
        let in_file = |e: String| Failure::usage(format!("{}: {e}", path.display()));
        let doc = plan::policy_of(&file).map_err(in_file)?;
        let mut policy = doc.policy().map_err(in_file)?;
        // The saved list is finite already; its cap was applied when it was made.
        policy.max_removals = 0;
        Ok(Saved {
            file,
            policy,
            keep_storage: doc.keep_storage,
        })
    }

    /// Applies the plan with the frame's actor, a progress bar on a terminal.
    async fn remove(
        &self,
        actor: &Actor,
        built: &plan::GcPlan,
        watch: Option<&Watch>,
        notes: &mut Vec<String>,
    ) -> ApplyReport {
        if let Some(b) = watch.and_then(Watch::blind) {
            notes.push(format!(
                "{b}: removals rely on their re-checks alone (the engine's 409 and a fresh look at each object)"
            ));
        }
        let table = self.args.format == Format::Table;
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
            watch,
            progress: Some(&tick),
        };
        let r = apply::apply(&built.plan, actor, &o).await;
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        r
    }

    /// The document and the run's code, rendered by the top in the format asked.
    fn outcome(&self, doc: GcReport) -> Outcome {
        let code = doc.exit_code();
        let style = self.ctx.style();
        match self.args.format {
            Format::Table => Outcome::new(code, move |out| report::gc::table(&doc, style, out)),
            Format::Json => Outcome::new(code, move |out| report::gc::json(&doc, code, out)),
        }
    }
}

/// Writes the saved plan (`--plan-out`) before anything is removed.
fn save_plan(path: &Path, f: &SavedPlan, key: &[u8]) -> Result<(), Failure> {
    saved_plan::save(path, f, key).map_err(|e| {
        Failure::internal(format!(
            "cannot write --plan-out {}: {e}; nothing was done",
            path.display()
        ))
    })
}
