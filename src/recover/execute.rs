//! One recovery from start to end: diagnose, decide (is it needed, how to start the daemon
//! again, may containers stop), plan, and with `apply` carry the plan out under the run lock.
//! `recover` and `pull --recover` both run it.

use std::time::Instant;

use super::bundle;
use super::diagnose::{self, Diagnosis};
use super::document::{Report, Verdict};
use super::options::{GRACE_MARGIN, Options};
use super::plan::{self, Knobs, Stage, Starter};
use super::preflight;
use super::stages::Recovery;
use crate::actions::{Actor, ActorOptions};
use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::facts::Facts;
use crate::policy::daemon::recovery::{Need, stop_grace};
use crate::runtime::blocking;
use crate::runtime::engine::Engine;
use crate::settings::Settings;

/// What was decided before anything is touched.
struct Decided {
    knobs: Knobs,
    starter: Starter,
    /// A daemon process is there to stop (else only clean → start → verify).
    restart: bool,
}

/// Diagnoses, plans, and (with `apply`) recovers: the report of how it went, or the frame's
/// failure when the run could not start (state directory, run lock, journal: 64, 75, 77, 70).
pub async fn execute(ctx: &Ctx<'_>, opts: &Options) -> Result<Report, Failure> {
    let t0 = Instant::now();
    let settings = ctx.settings;
    let engine = ctx.engine();
    let facts = Facts::new(engine.clone());
    let mut report = Report::new(opts.apply, engine.endpoint().to_string());
    let (diag, doctor_json) = diagnose_and_doctor(settings, opts, &facts).await;
    report.diagnosis = Some(diag.clone());
    let mut report = match decide(settings, opts, &facts, &diag, &mut report).await {
        Some(decided) => {
            let run = Run {
                ctx,
                opts,
                facts: &facts,
                diag: &diag,
            };
            run.apply(&engine, decided, report, doctor_json).await?
        }
        None => report,
    };
    report.elapsed = t0.elapsed();
    Ok(report)
}

/// The diagnosis, and alongside it (the same facts, one ping deadline) the doctor run the
/// bundle keeps, when a bundle will be written.
async fn diagnose_and_doctor(
    settings: &Settings,
    opts: &Options,
    facts: &Facts,
) -> (Diagnosis, Option<Vec<u8>>) {
    let start_argv = opts.start_cmd.as_ref().map(|(a, _)| a.as_slice());
    let inputs = bundle::Inputs {
        facts,
        catalog: &settings.catalog,
        config: &settings.config,
        source: settings.source.clone(),
        log_file: opts.log_file.clone(),
    };
    diagnose::note_stopped(facts).await;
    let early_doctor = async {
        if opts.apply && opts.bundle {
            Some(bundle::doctor_json(facts, &inputs).await)
        } else {
            None
        }
    };
    tokio::join!(
        diagnose::diagnose(facts, &settings.catalog, &settings.config, start_argv),
        early_doctor
    )
}

/// Whether and how to recover, and the plan in the report; `None` when the run ends here (the
/// report says why: not needed, refused, or the dry run's plan).
async fn decide(
    settings: &Settings,
    opts: &Options,
    facts: &Facts,
    diag: &Diagnosis,
    report: &mut Report,
) -> Option<Decided> {
    if let Some(b) = &diag.blocker {
        report.end(Verdict::Refused, b.clone());
        return None;
    }
    let restart = match &diag.need {
        Need::Unknown { why } => {
            let why = format!("cannot tell whether the daemon needs recovering: {why}");
            report.end(Verdict::Refused, why);
            return None;
        }
        Need::NotNeeded { why } if !opts.force => {
            let why = format!("not needed: {why}; pass --force to restart it anyway");
            report.end(Verdict::NotNeeded, why);
            return None;
        }
        Need::NotNeeded { .. } => diag.process.is_some(),
        Need::Restart { .. } => true,
        Need::Start { .. } => false,
    };
    let starter = match preflight::starter(diag, opts, &settings.state_dir) {
        Ok(s) => s,
        Err(e) => {
            report.end(Verdict::Refused, e);
            return None;
        }
    };
    let knobs = knobs(settings, opts, diag);
    let api_dump = facts.engine_answered().await;
    let planned = blocking(settings.timeout * 2, {
        let (d, k, s) = (diag.clone(), knobs.clone(), starter.clone());
        move || plan::build(&d, &k, &s, api_dump)
    })
    .await;
    let Some(mut items) = planned else {
        report.end(
            Verdict::Failed,
            "reading the process table did not finish in time",
        );
        return None;
    };
    if !restart {
        // Nothing to stop: no bundle or stop stage.
        items.retain(|i| !matches!(i.stage, Stage::Bundle | Stage::Stop));
    }
    report.plan = items;
    if restart && let Some(reason) = preflight::container_stop_refusal(diag, opts) {
        if opts.apply {
            report.end(Verdict::Refused, reason);
            return None;
        }
        report.notes.push(reason);
    }
    if !opts.apply {
        let why = format!(
            "{}: run again with --apply to carry it out",
            diag.need.why()
        );
        report.end(Verdict::Planned, why);
        return None;
    }
    Some(Decided {
        knobs,
        starter,
        restart,
    })
}

/// The plan's knobs from the options, the config and the diagnosis.
fn knobs(settings: &Settings, opts: &Options, diag: &Diagnosis) -> Knobs {
    let grace = opts.grace.unwrap_or_else(|| {
        stop_grace(
            diag.shutdown_timeout,
            diag.running(),
            diag.live_restore,
            GRACE_MARGIN,
        )
    });
    Knobs {
        grace,
        start_timeout: opts.start_timeout,
        bundle: opts.bundle && diag.process.is_some(),
        state_dir: settings.state_dir.clone(),
        proxy_grace_s: settings.config.threshold(
            &settings.catalog,
            "ports.leaked-proxy",
            "grace_seconds",
        ),
    }
}

/// What the apply phase needs from the run.
struct Run<'a> {
    ctx: &'a Ctx<'a>,
    opts: &'a Options,
    facts: &'a Facts,
    diag: &'a Diagnosis,
}

impl Run<'_> {
    /// Carries the plan out inside the frame of a mutating run (lock, journal, actor). The
    /// report says how it ended; a frame that stopped before the body ran says why in it too.
    async fn apply(
        &self,
        engine: &Engine,
        decided: Decided,
        report: Report,
        doctor_json: Option<Vec<u8>>,
    ) -> Result<Report, Failure> {
        let mut slot = None;
        let actor_opts = ActorOptions {
            start_timeout: self.opts.start_timeout,
            read_timeout: self.ctx.settings.timeout,
            ..ActorOptions::default()
        };
        let ran: Ran = crate::actions::frame::mutating(
            self.ctx,
            engine,
            "recover",
            actor_opts,
            async |actor: &Actor| {
                let recovery = Recovery {
                    ctx: self.ctx,
                    opts: self.opts,
                    facts: self.facts,
                    diag: self.diag,
                    knobs: &decided.knobs,
                    starter: &decided.starter,
                    actor,
                    report: report.clone(),
                };
                let r = recovery.carry_out(decided.restart, doctor_json).await;
                if matches!(
                    r.verdict,
                    Verdict::Failed | Verdict::Refused | Verdict::RebootNeeded
                ) {
                    // The journal's run-end says why, as the report does.
                    actor.fail(format!("recover: {}", r.reason));
                }
                let code = r.verdict.exit_code();
                slot = Some(r);
                Ok(Outcome::bare(code))
            },
        )
        .await;
        match (slot, ran) {
            (Some(r), _) => Ok(r),
            // The frame stopped before the body ran: its sentence and code.
            (None, Err(f)) => Err(f),
            (None, Ok(o)) => Err(Failure::new(
                o.code,
                "the run could not start (state directory or journal)",
            )),
        }
    }
}
