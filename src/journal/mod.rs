//! `dockhand journal`: what dockhand did on this host, when and why — read from the journal in
//! the state dir, filtered, and handed to the renderer.

use std::io;
use std::time::{Duration, SystemTime};

use clap::Args;

use crate::actions;
use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use crate::report;
use crate::settings::Format;

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// Only actions since then: an age (90s, 30m, 2h, 7d, 1w) or an RFC 3339 time
    /// (2026-11-28T05:33:35Z)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Only actions of this kind (container.remove, process.terminate, …) or area (container,
    /// image, volume, network, buildcache, process, file, daemon)
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `dockhand journal`.
pub async fn run(ctx: &Ctx<'_>, args: &JournalArgs) -> Ran {
    let since = match args.since.as_deref() {
        Some(s) => Some(crate::units::parse_since(s, SystemTime::now()).map_err(Failure::usage)?),
        None => None,
    };
    if let Some(k) = args.kind.as_deref() {
        actions::history::check_kind(k).map_err(Failure::usage)?;
    }
    let dir = ctx.settings.state_dir.clone();
    if let Ok(m) = std::fs::symlink_metadata(&dir) {
        let untrusted = actions::lock::untrusted_reason(&m);
        if untrusted.is_some() || !m.is_dir() {
            let e = actions::StateDirError {
                path: dir,
                untrusted: untrusted.is_some(),
                why: untrusted.unwrap_or_else(|| "it exists and is not a directory".into()),
            };
            let code = if e.untrusted {
                ExitCode::Untrusted
            } else {
                ExitCode::Usage
            };
            return Err(Failure::new(code, e.to_string()));
        }
    }
    let filter = actions::history::Filter {
        since,
        kind: args.kind.clone(),
    };
    let path = dir.join(actions::journal::FILE_NAME);
    let read_path = path.clone();
    // Reading is local and linear, but a huge journal on a slow disk must still end.
    const READ_DEADLINE: Duration = Duration::from_secs(60);
    let loaded = crate::runtime::blocking(READ_DEADLINE, move || {
        let live = actions::lock::current_holder(&dir).and_then(|h| h.run);
        actions::history::load(&read_path, &filter, live.as_deref())
    })
    .await;
    let history = match loaded {
        Some(Ok(h)) => h,
        Some(Err(e)) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(Failure::usage(format!(
                "cannot read the journal {}: {e}; run as root, or pass the --state-dir the acting runs used",
                path.display()
            )));
        }
        Some(Err(e)) => {
            return Err(Failure::internal(format!(
                "cannot read the journal {}: {e}",
                path.display()
            )));
        }
        None => {
            return Err(Failure::internal(format!(
                "reading the journal {} took longer than {}",
                path.display(),
                crate::util::human_duration(READ_DEADLINE)
            )));
        }
    };
    let style = ctx.style();
    let (format, since_text, kind) = (args.format, args.since.clone(), args.kind.clone());
    Ok(Outcome::new(ExitCode::Ok, move |out| {
        let asked = report::journal::Asked {
            since,
            since_text: since_text.as_deref(),
            kind: kind.as_deref(),
        };
        match format {
            Format::Table => report::journal::table(&history, &asked, style, out),
            Format::Json => report::journal::json(&history, &asked, out),
        }
    }))
}
