//! `dockhand recover`: diagnose the daemon with doctor's tiers, plan the escalation, and with
//! `--apply` carry it out, verifying each step — bundle → stop → clean → start → verify.
//!
//! Every signal, stop, start and file removal is an action (re-verified, journaled, under the
//! run lock). A process SIGKILL does not end (D state) ends the escalation with "cannot be
//! killed …; a reboot is needed", and nothing else is touched. docs/recover.md is the runbook.

pub(crate) mod bundle;
pub(crate) mod diagnose;
mod document;
mod execute;
mod options;
pub mod plan;
mod preflight;
mod stages;
mod stop;
mod verify;

pub use document::{Report, Verdict};
pub use execute::execute;
pub use options::Options;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::settings::{Format, Settings};

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

/// `dockhand recover`.
pub async fn run(ctx: &Ctx<'_>, args: &RecoverArgs) -> Ran {
    let opts = options(ctx.settings, args).map_err(Failure::usage)?;
    let report = execute(ctx, &opts).await?;
    let code = report.verdict.exit_code();
    if matches!(
        report.verdict,
        Verdict::Failed | Verdict::Refused | Verdict::RebootNeeded | Verdict::NotNeeded
    ) {
        ctx.say(format!("recover: {}", report.reason));
    }
    let (style, format) = (ctx.style(), args.format);
    Ok(Outcome::new(code, move |out| match format {
        Format::Table => crate::report::recover::table(&report, style, out),
        Format::Json => crate::report::recover::json(&report, code, out),
    }))
}

/// The run's options from recover's flags.
fn options(settings: &Settings, a: &RecoverArgs) -> Result<Options, String> {
    Ok(Options {
        apply: a.apply,
        force: a.force,
        allow_container_stop: a.allow_container_stop,
        grace: a.grace,
        start_timeout: a.start_timeout,
        bundle: !a.no_bundle,
        ..Options::new(settings, a.start_cmd.as_deref(), a.log_file.clone())?
    })
}
