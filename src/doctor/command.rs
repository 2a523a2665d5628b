//! `dockhand doctor`: the command. Selects the checks, runs them on one snapshot of the host,
//! and hands the report to the format asked for.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use crate::report;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = DoctorFormat::Table)]
    pub format: DoctorFormat,

    /// With --format prometheus: write the metrics to this file atomically (for node_exporter's
    /// textfile collector) instead of stdout
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<PathBuf>,

    /// Run only these checks: ids or whole areas, repeated or comma-separated
    /// (`--check daemon,ports.stuck`); see --list-checks
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// Skip these checks: ids or areas, repeated or comma-separated
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,

    /// List the checks, their thresholds and what they mean, then exit
    #[arg(long)]
    pub list_checks: bool,

    /// After the findings, plan the fixes dockhand carries out itself (the steps reap and gc
    /// plan) and list the advice for the rest; `--fix=ID,area` limits it to these checks
    /// (orphan shims are ended only when named)
    #[arg(
        long,
        value_name = "ID",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        conflicts_with = "list_checks"
    )]
    pub fix: Option<String>,

    /// With --fix: carry the plan out under the run lock and the journal, each step re-checked
    /// just before it acts, then run the fixed checks again
    #[arg(long, requires = "fix")]
    pub apply: bool,
}

impl DoctorArgs {
    /// Whether this run changes anything: only `--fix --apply` does.
    pub fn mutates(&self) -> bool {
        self.fix.is_some() && self.apply
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// A table for people
    Table,
    /// One JSON document (schema dockhand.doctor/v1, see docs/json.md)
    Json,
    /// A Nagios/Icinga plugin status line with performance data (exit 0/1/2/3)
    Nagios,
    /// A node-problem-detector custom plugin: one short line; exit 0 ok, 1 problem, 2 unknown
    Npd,
    /// Prometheus text format (node_exporter textfile collector); see --textfile
    Prometheus,
}

/// `dockhand doctor`.
pub async fn run(ctx: &Ctx<'_>, args: &DoctorArgs) -> Ran {
    let settings = ctx.settings;
    let style = ctx.style();
    if args.textfile.is_some() && args.format != DoctorFormat::Prometheus {
        return Err(Failure::usage(
            "--textfile writes Prometheus metrics; add --format prometheus",
        ));
    }
    if args.list_checks {
        let catalog = settings.catalog.clone();
        let config = settings.config.clone();
        let format = args.format;
        return Ok(Outcome::new(ExitCode::Ok, move |out| match format {
            DoctorFormat::Json => report::json::catalog(&catalog, &config, out),
            _ => report::table::catalog(&catalog, style, out),
        }));
    }
    let selected = super::select(
        &settings.catalog,
        &settings.config,
        &args.checks,
        &args.skip,
    )?;
    // --fix is checked before anything runs: an unknown id is a usage error, as for --check.
    let fix_scope = match &args.fix {
        Some(list) => Some(super::expand(
            &settings.catalog,
            "--fix",
            std::slice::from_ref(list),
        )?),
        None => None,
    };
    let facts = super::facts_for(ctx.engine(), &selected);
    let report = super::run(
        &facts,
        settings.source.clone(),
        &settings.catalog,
        &settings.config,
        &selected,
    )
    .await;
    if let Some(scope) = fix_scope {
        let shims = scope.contains(&"processes.orphan-shims");
        let req = super::fix::Request {
            scope: scope.into_iter().map(str::to_string).collect(),
            shims,
            apply: args.apply,
            format: args.format,
            textfile: args.textfile.clone(),
        };
        return super::fix::run(ctx, &facts, report, &selected, req).await;
    }
    let code = match args.format {
        DoctorFormat::Npd => report::npd::exit_code(&report),
        _ => report.status().exit_code(),
    };
    if let Some(path) = &args.textfile {
        return Ok(Outcome::to_file(
            code,
            "--textfile",
            path.clone(),
            move |out| report::prometheus::doctor(&report, out),
        ));
    }
    let format = args.format;
    Ok(Outcome::new(code, move |out| match format {
        DoctorFormat::Table => report::table::doctor(&report, style, out),
        DoctorFormat::Json => report::json::doctor(&report, out),
        DoctorFormat::Nagios => report::nagios::doctor(&report, out),
        DoctorFormat::Npd => report::npd::doctor(&report, out),
        DoctorFormat::Prometheus => report::prometheus::doctor(&report, out),
    }))
}
