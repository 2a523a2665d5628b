//! Runs one command with validated settings and returns its exit code.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cli::{Command, DfArgs, DoctorArgs, DoctorFormat, Format, Settings};
use crate::exit::ExitCode;
use crate::report::{self, Style};
use crate::runtime::engine::Engine;

pub fn run(settings: Settings) -> ExitCode {
    crate::runtime::one_malloc_arena();
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Without the handler the default action still ends the run; with it we exit 130 cleanly.
        let _ = signal_hook::flag::register(sig, Arc::clone(&interrupted));
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dockhand: cannot start the async runtime: {e}");
            return ExitCode::Internal;
        }
    };
    let code = rt.block_on(async {
        tokio::select! {
            code = dispatch(&settings) => code,
            () = wait_for(&interrupted) => {
                eprintln!("dockhand: interrupted");
                ExitCode::Interrupted
            }
        }
    });
    // A probe stuck in the kernel (reading /proc of a D-state process) must not hold the exit.
    rt.shutdown_background();
    code
}

async fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn dispatch(settings: &Settings) -> ExitCode {
    match &settings.command {
        Command::Doctor(args) => doctor(settings, args).await,
        Command::Df(args) => df(settings, args).await,
    }
}

async fn df(settings: &Settings, args: &DfArgs) -> ExitCode {
    let walk_timeout = match crate::cli::parse_duration(&args.walk_timeout) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "dockhand: {}",
                e.to_string().replace("--timeout", "--walk-timeout")
            );
            return ExitCode::Usage;
        }
    };
    let engine = Engine::new(settings.endpoint.clone(), settings.timeout);
    let facts = crate::facts::Facts::new(engine).with_walks(crate::facts::WalkLimits {
        deadline: walk_timeout,
        // One walk that makes no progress for the per-call deadline is a mount that stopped
        // answering: given up on, named, and the rest still walked.
        stall: settings.timeout,
        threads: 4,
    });
    let report = match facts.storage_map().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dockhand: df needs the engine: {e}");
            return ExitCode::Unavailable;
        }
    };
    let style = Style {
        color: settings.color,
    };
    let endpoint = settings.endpoint.to_string();
    emit(|out| match args.format {
        Format::Table => report::df::df(report, args.verbose, args.top, style, out),
        Format::Json => report::json::df(report, &endpoint, args.top, out),
    })
    .unwrap_or(ExitCode::Ok)
}

async fn doctor(settings: &Settings, args: &DoctorArgs) -> ExitCode {
    let style = Style {
        color: settings.color,
    };
    if args.textfile.is_some() && args.format != DoctorFormat::Prometheus {
        eprintln!("dockhand: --textfile writes Prometheus metrics; add --format prometheus");
        return ExitCode::Usage;
    }
    if args.list_checks {
        return emit(|out| match args.format {
            DoctorFormat::Json => report::json::catalog(&settings.catalog, &settings.config, out),
            _ => report::table::catalog(&settings.catalog, out),
        })
        .unwrap_or(ExitCode::Ok);
    }
    let selected = match crate::doctor::select(
        &settings.catalog,
        &settings.config,
        &args.checks,
        &args.skip,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dockhand: {e}");
            return ExitCode::Usage;
        }
    };
    let facts = crate::facts::Facts::new(Engine::new(settings.endpoint.clone(), settings.timeout));
    let report = crate::doctor::run(
        &facts,
        settings.source.clone(),
        &settings.catalog,
        &settings.config,
        &selected,
    )
    .await;
    let code = match args.format {
        DoctorFormat::Npd => report::npd::exit_code(&report),
        _ => report.status().exit_code(),
    };
    if let Some(path) = &args.textfile {
        return match report::prometheus::write_atomically(path, |out| {
            report::prometheus::doctor(&report, out)
        }) {
            Ok(()) => code,
            Err(e) => {
                eprintln!("dockhand: cannot write --textfile {}: {e}", path.display());
                ExitCode::Internal
            }
        };
    }
    emit(|out| match args.format {
        DoctorFormat::Table => report::table::doctor(&report, style, out),
        DoctorFormat::Json => report::json::doctor(&report, out),
        DoctorFormat::Nagios => report::nagios::doctor(&report, out),
        DoctorFormat::Npd => report::npd::doctor(&report, out),
        DoctorFormat::Prometheus => report::prometheus::doctor(&report, out),
    })
    .unwrap_or(code)
}

/// Writes to stdout. A closed pipe (`dockhand doctor | head -1`) ends the run quietly with the
/// run's own code; any other write error is reported and exits 70.
fn emit(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Option<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => None,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
        Err(e) => {
            eprintln!("dockhand: cannot write the report: {e}");
            Some(ExitCode::Internal)
        }
    }
}
