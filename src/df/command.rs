//! `dockhand df`: the command. Asks facts for the storage map and hands it to the renderer.

use std::time::Duration;

use clap::Args;

use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use crate::facts::{Facts, WalkLimits};
use crate::report;
use crate::settings::Format;

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also list the objects: images, containers, volumes, leftovers (biggest first)
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Show only the N biggest objects of each kind
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Deadline for all directory walks together (and the engine's /system/df when needed);
    /// a walk cut short reports a lower bound, marked ≥
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "30s")]
    pub walk_timeout: Duration,
}

/// `dockhand df`.
pub async fn run(ctx: &Ctx<'_>, args: &DfArgs) -> Ran {
    let settings = ctx.settings;
    let facts = Facts::new(ctx.engine()).with_walks(WalkLimits {
        deadline: args.walk_timeout,
        // One walk that makes no progress for the per-call deadline is a mount that stopped
        // answering: given up on, named, and the rest still walked.
        stall: settings.timeout,
        threads: 4,
    });
    // The document outlives the facts it was read from: the map is moved into it.
    let map = facts
        .storage_map()
        .await
        .map_err(|e| Failure::unavailable(format!("df needs the engine: {e}")))?
        .clone();
    let style = ctx.style();
    let endpoint = settings.endpoint.to_string();
    let (format, verbose, top) = (args.format, args.verbose, args.top);
    Ok(Outcome::new(ExitCode::Ok, move |out| match format {
        Format::Table => report::df::df(&map, verbose, top, style, out),
        Format::Json => report::json::df(&map, &endpoint, top, out),
    }))
}
