//! Carrying the plan out under the run lock, stage by stage: bundle → stop → clean → start →
//! verify. Each stage either goes on or ends the run with the report's verdict and sentence
//! ([`Halt`]); the stop stage's own judgments (is the old process gone, is it still the daemon
//! the diagnosis saw) are in `stop.rs`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::bundle;
use super::diagnose::Diagnosis;
use super::document::{Done, Report, Verdict};
use super::options::Options;
use super::plan::{self, Knobs, Stage, Starter};
use super::verify::verify;
use crate::actions::{
    self, Action, Actor, ApplyOptions, DaemonStart, Outcome, Plan, Step, StepReport,
};
use crate::command::Ctx;
use crate::facts::Facts;
use crate::policy::daemon::recovery::expected_running;
use crate::runtime::blocking;

/// A stage that ended the run: the report holds the verdict and the sentence.
pub(super) type Halt = ControlFlow<()>;

const AFTER_STOP: &str =
    "after the daemon was stopped: it is NOT running; run recover again to start it";

/// One recovery in progress: what was decided before the lock, the actor, the report so far.
pub(super) struct Recovery<'a> {
    pub ctx: &'a Ctx<'a>,
    pub opts: &'a Options,
    pub facts: &'a Facts,
    pub diag: &'a Diagnosis,
    pub knobs: &'a Knobs,
    pub starter: &'a Starter,
    pub actor: &'a Actor,
    pub report: Report,
}

impl Recovery<'_> {
    /// Every stage in order; the report as the run ended.
    pub(super) async fn carry_out(mut self, restart: bool, doctor_json: Option<Vec<u8>>) -> Report {
        let _ = self.stages(restart, doctor_json).await;
        self.report
    }

    async fn stages(&mut self, restart: bool, doctor_json: Option<Vec<u8>>) -> Halt {
        if restart && self.knobs.bundle {
            self.bundle(doctor_json).await;
        }
        self.unless_interrupted("before the daemon was touched")?;
        super::stop::pause_before_stop().await;
        self.still_the_daemon_diagnosed().await?;
        if restart && let Some(p) = &self.diag.process {
            self.stop(p).await?;
        }
        self.unless_interrupted(AFTER_STOP)?;
        self.clean().await;
        self.unless_interrupted(AFTER_STOP)?;
        self.start().await?;
        self.verify().await;
        ControlFlow::Continue(())
    }

    /// Ends the run as interrupted if the shutdown was triggered.
    pub(super) fn unless_interrupted(&mut self, what: &str) -> Halt {
        if self.actor.shutdown().is_triggered() {
            return self.halt(Verdict::Interrupted, format!("interrupted {what}"));
        }
        ControlFlow::Continue(())
    }

    pub(super) fn halt(&mut self, verdict: Verdict, reason: impl Into<String>) -> Halt {
        self.report.end(verdict, reason);
        ControlFlow::Break(())
    }

    /// The incident bundle: the diagnosis, doctor's report, /proc, the log, and a goroutine
    /// dump (through the API, else SIGUSR1 and the file dockerd writes). A bundle that cannot
    /// be made is a note, never a reason not to recover.
    async fn bundle(&mut self, doctor_json: Option<Vec<u8>>) {
        let settings = self.ctx.settings;
        let mut b = match bundle::Bundle::create(&settings.state_dir, settings.timeout * 2).await {
            Ok(b) => b,
            Err(e) => {
                self.report.notes.push(e);
                return;
            }
        };
        let inputs = bundle::Inputs {
            facts: self.facts,
            catalog: &settings.catalog,
            config: &settings.config,
            source: settings.source.clone(),
            log_file: self.opts.log_file.clone(),
        };
        let had_dump = b.capture(self.diag, &inputs, doctor_json).await;
        if !had_dump {
            let since = SystemTime::now() - Duration::from_secs(1);
            let signals = plan::bundle_signals(self.diag, false);
            let sent = self.apply(Stage::Bundle, signals).await;
            if sent
                .iter()
                .any(|s| s.kind == "process.signal" && matches!(s.outcome, Outcome::Done { .. }))
            {
                let dirs: Vec<PathBuf> = self
                    .diag
                    .paths
                    .iter()
                    .flat_map(|p| [p.exec_root.clone(), p.data_root.clone()])
                    .collect();
                b.collect_dump(&dirs, since, Duration::from_secs(3)).await;
            }
        }
        self.report.bundle = Some(b.finish(self.diag).await);
        if self.opts.progress {
            self.ctx
                .say(format!("recover: bundle written to {}", b.dir.display()));
        }
    }

    /// The clean-up, judged now that the old process is gone: stale pid files, leaked proxies,
    /// the socket, a unit at its start limit. A failed step is a note: the start may still work.
    async fn clean(&mut self) {
        let diag = self.diag;
        let old_pid = diag.process.as_ref().map(|p| p.pid);
        if let Some(paths) = &diag.paths {
            super::stop::settle_containerd(
                &paths.exec_root.join("containerd/containerd.pid"),
                Duration::from_secs(3),
            )
            .await;
        }
        let d = diag.clone();
        let grace_s = self.knobs.proxy_grace_s;
        let mut steps = blocking(self.ctx.settings.timeout * 2, move || {
            plan::clean_steps(&d, old_pid, grace_s)
        })
        .await
        .unwrap_or_default();
        if let DaemonStart::Systemd { unit } = &self.starter.how {
            steps.extend(reset_failed(unit).await);
        }
        let r = self.apply(Stage::Clean, steps).await;
        if let Some(s) = r.iter().find(|s| s.outcome.is_failure()) {
            self.report.notes.push(format!(
                "clean-up step failed: {}: {}",
                s.describe,
                s.outcome.detail().unwrap_or_default()
            ));
        }
    }

    /// The start action; anything but done ends the run.
    async fn start(&mut self) -> Halt {
        let start = Step::new(
            Action::StartDaemon {
                how: self.starter.how.clone(),
            },
            format!("started as {}", self.starter.from),
        );
        let r = self.apply(Stage::Start, vec![start]).await;
        if let Some(s) = r
            .iter()
            .find(|s| !matches!(s.outcome, Outcome::Done { .. }))
        {
            let why = s.outcome.detail().unwrap_or(s.outcome.name()).to_string();
            return self.halt(Verdict::Failed, format!("the daemon did not start: {why}"));
        }
        ControlFlow::Continue(())
    }

    /// The verification decides the verdict: a start action that ended well says only that the
    /// program ran (a launcher exits 0 either way).
    async fn verify(&mut self) {
        let diag = self.diag;
        let expected = expected_running(&diag.containers, diag.live_restore == Some(true));
        let actor = self.actor;
        let shutdown = actor.shutdown();
        let v = verify(self.ctx, &expected, self.opts.start_timeout, shutdown).await;
        self.report.changed = Some(json!({
            "pid_before": diag.process.as_ref().map(|p| p.pid),
            "pid_after": v.pid,
            "health_before": diag.health.name(),
            "health_after": v.health,
            "containers_running_before": diag.running(),
            "containers_running_after": v.running.len(),
            "containers_missing": v.missing.iter().map(|e| &e.name).collect::<Vec<_>>(),
        }));
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
        self.report.verification = Some(v.to_json());
        if self.opts.progress {
            self.ctx.say(format!("recover: verify {reason}"));
        }
        if v.failure.is_none() {
            self.report.end(Verdict::Recovered, reason);
        } else if shutdown.is_triggered() {
            let _ = self.unless_interrupted("while verifying the restarted daemon");
        } else {
            self.report
                .end(Verdict::Failed, format!("verification failed: {reason}"));
        }
    }

    /// Applies one stage's steps one at a time, saying each as it ends, into the report.
    pub(super) async fn apply(&mut self, stage: Stage, steps: Vec<Step>) -> Vec<StepReport> {
        if steps.is_empty() {
            return Vec::new();
        }
        let (progress, ctx) = (self.opts.progress, self.ctx);
        let print = move |r: &StepReport| {
            if progress {
                ctx.say(progress_line(stage, r));
            }
        };
        let r = actions::apply(
            &Plan::new(steps),
            self.actor,
            &ApplyOptions {
                concurrency: 1,
                progress: Some(&print),
                ..ApplyOptions::default()
            },
        )
        .await;
        for s in &r.steps {
            self.report.steps.push(Done {
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
}

/// `systemctl reset-failed UNIT` when the unit hit its start limit (systemd refuses every start
/// until then); nothing otherwise.
async fn reset_failed(unit: &str) -> Option<Step> {
    let argv = ["systemctl", "show", "-p", "Result", "--value", unit]
        .map(str::to_string)
        .to_vec();
    let r = crate::runtime::command::run(argv, None, Duration::from_secs(10))
        .await
        .ok()?;
    crate::runtime::incident::start_limit_hit(&r.stdout).then(|| {
        Step::new(
            Action::ResetFailed {
                unit: unit.to_string(),
            },
            "the unit hit its start limit (StartLimitBurst): systemd refuses every start until this",
        )
    })
}

fn progress_line(stage: Stage, r: &StepReport) -> String {
    let detail = r
        .outcome
        .detail()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    format!(
        "recover: {:<6} {} — {}{} ({})",
        stage.as_str(),
        r.describe,
        r.outcome.name(),
        detail,
        crate::util::human_duration(r.elapsed)
    )
}
