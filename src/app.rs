//! Runs one command with validated settings and returns its exit code.
//!
//! Shutdown is cooperative (see `shutdown`): a read-only command is raced against SIGINT/SIGTERM
//! and stops at once; a mutating command receives the handle, finishes the action in flight,
//! writes the journal, and the run exits 130. Each command says which it is
//! (`Command::mutates`).

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::actions::{self, Actor, ActorOptions, Journal, LockError, RunLock};
use crate::cli::{Command, DfArgs, DoctorArgs, DoctorFormat, Format, JournalArgs, Settings};
use crate::exit::ExitCode;
use crate::report;
use crate::runtime::engine::Engine;
use crate::shutdown::Shutdown;

pub fn run(settings: Settings) -> ExitCode {
    crate::runtime::one_malloc_arena();
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
        let shutdown = match Shutdown::install() {
            Ok(s) => s,
            Err(e) => {
                // Without the handler the default action still ends the run on Ctrl-C.
                eprintln!("dockhand: cannot install the signal handlers ({e}); Ctrl-C will end the run abruptly");
                Shutdown::new()
            }
        };
        let work = dispatch(&settings, &shutdown);
        if let Command::Serve(_) = settings.command {
            // serve stops itself on the signal: it stops accepting, finishes the responses in
            // flight, and a clean stop exits 0.
            work.await
        } else if settings.command.mutates() {
            let code = work.await;
            if shutdown.is_triggered() {
                eprintln!("dockhand: interrupted; the actions in flight finished, the rest were not started (see `dockhand journal`)");
                ExitCode::Interrupted
            } else {
                code
            }
        } else {
            tokio::select! {
                code = work => code,
                () = shutdown.wait() => {
                    eprintln!("dockhand: interrupted");
                    ExitCode::Interrupted
                }
            }
        }
    });
    // A probe stuck in the kernel (reading /proc of a D-state process) must not hold the exit.
    rt.shutdown_background();
    code
}

async fn dispatch(settings: &Settings, shutdown: &Shutdown) -> ExitCode {
    match &settings.command {
        Command::Doctor(args) => doctor(settings, args).await,
        Command::Df(args) => df(settings, args).await,
        Command::Journal(args) => journal(settings, args).await,
        Command::Completions(args) => completions(args.shell),
        Command::Man => man(),
        Command::Gc(args) => crate::gc::run(settings, args, shutdown).await,
        Command::Ports(args) => crate::ports::run(settings, args, shutdown).await,
        Command::Reap(args) => crate::reap::run(settings, args, shutdown).await,
        Command::Recover(args) => crate::recover::run(settings, args, shutdown).await,
        Command::Pull(args) => crate::pull::run(settings, args, shutdown).await,
        Command::Serve(args) => crate::serve::run(settings, args, shutdown).await,
    }
}

/// The frame of every mutating command: prepare the state dir, take the run lock, open the
/// journal, start the run (run-start record), run `body` with the [`Actor`], end the run
/// (run-end record), release the lock. Returns `body`'s code, or the code of whatever stopped
/// the frame: 64 for an unusable state dir, 75 when another run holds the lock, 70 when the
/// journal cannot be written.
pub async fn mutating(
    state_dir: &Path,
    engine: &Engine,
    shutdown: &Shutdown,
    command: &str,
    opts: ActorOptions,
    body: impl AsyncFnOnce(&Actor) -> ExitCode,
) -> ExitCode {
    if let Err(e) = actions::prepare_state_dir(state_dir) {
        eprintln!("dockhand: {e}");
        return if e.untrusted {
            ExitCode::Untrusted
        } else {
            ExitCode::Usage
        };
    }
    let mut lock = match RunLock::acquire(state_dir, command, None) {
        Ok(l) => l,
        Err(e @ LockError::Held { .. }) => {
            eprintln!("dockhand: {e}");
            return ExitCode::Locked;
        }
        Err(e) => {
            eprintln!("dockhand: {e}");
            return ExitCode::Usage;
        }
    };
    if let Some(note) = lock.note() {
        eprintln!("dockhand: note: {note}");
    }
    let path = state_dir.join(actions::journal::FILE_NAME);
    let journal = match Journal::open(&path, opts.journal_timeout) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("dockhand: {e}; nothing was done");
            return ExitCode::Internal;
        }
    };
    for n in journal.notes() {
        eprintln!("dockhand: note: {n}");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let actor = match Actor::start(engine, journal, shutdown.clone(), command, args, opts).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dockhand: {e}; nothing was done");
            return ExitCode::Internal;
        }
    };
    lock.record_run(actor.run_id());
    let code = body(&actor).await;
    if let Some(why) = failed_before_acting(code, actor.totals().steps()) {
        // The command said why on stderr; a body that knew the sentence gave it already
        // (Actor::fail keeps the first reason), so this is the fallback.
        actor.fail(why);
    }
    match actor.finish().await {
        Ok(_) => code,
        Err(e) => {
            eprintln!("dockhand: {e}");
            code.max(ExitCode::Internal)
        }
    }
}

/// A run that took no step and ends with an error code failed before it acted: the journal
/// must say "failed", never "completed: nothing to do". The reason, for a body that gave none.
fn failed_before_acting(code: ExitCode, steps: u64) -> Option<String> {
    let what = match code {
        ExitCode::Usage => "its input was refused",
        ExitCode::Unavailable => "what it needs (the engine, /proc) did not answer",
        ExitCode::Internal => "dockhand itself failed",
        ExitCode::Failed | ExitCode::RecoverFailed => "it failed",
        ExitCode::RecoverRefused => "recover refused to act",
        ExitCode::RebootNeeded => "the daemon cannot be killed; a reboot is needed",
        _ => return None,
    };
    (steps == 0).then(|| {
        format!(
            "the run took no step: {what} (exit {}); its message is in the command's output",
            code.code()
        )
    })
}

async fn journal(settings: &Settings, args: &JournalArgs) -> ExitCode {
    let since = match args.since.as_deref() {
        Some(s) => match actions::time::parse_since(s, SystemTime::now()) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("dockhand: {e}");
                return ExitCode::Usage;
            }
        },
        None => None,
    };
    if let Some(k) = args.kind.as_deref()
        && let Err(e) = actions::history::check_kind(k)
    {
        eprintln!("dockhand: {e}");
        return ExitCode::Usage;
    }
    let dir = settings.state_dir.clone();
    if let Ok(m) = std::fs::symlink_metadata(&dir) {
        let untrusted = actions::lock::untrusted_reason(&m);
        if untrusted.is_some() || !m.is_dir() {
            let e = actions::StateDirError {
                path: dir,
                untrusted: untrusted.is_some(),
                why: untrusted.unwrap_or_else(|| "it exists and is not a directory".into()),
            };
            eprintln!("dockhand: {e}");
            return if e.untrusted {
                ExitCode::Untrusted
            } else {
                ExitCode::Usage
            };
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
            eprintln!(
                "dockhand: cannot read the journal {}: {e}; run as root, or pass the --state-dir the acting runs used",
                path.display()
            );
            return ExitCode::Usage;
        }
        Some(Err(e)) => {
            eprintln!("dockhand: cannot read the journal {}: {e}", path.display());
            return ExitCode::Internal;
        }
        None => {
            eprintln!(
                "dockhand: reading the journal {} took longer than {}",
                path.display(),
                crate::util::human_duration(READ_DEADLINE)
            );
            return ExitCode::Internal;
        }
    };
    let asked = report::journal::Asked {
        since,
        since_text: args.since.as_deref(),
        kind: args.kind.as_deref(),
    };
    let style = settings.style();
    emit(|out| match args.format {
        Format::Table => report::journal::table(&history, &asked, style, out),
        Format::Json => report::journal::json(&history, &asked, out),
    })
    .unwrap_or(ExitCode::Ok)
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
    let style = settings.style();
    let endpoint = settings.endpoint.to_string();
    emit(|out| match args.format {
        Format::Table => report::df::df(report, args.verbose, args.top, style, out),
        Format::Json => report::json::df(report, &endpoint, args.top, out),
    })
    .unwrap_or(ExitCode::Ok)
}

async fn doctor(settings: &Settings, args: &DoctorArgs) -> ExitCode {
    let style = settings.style();
    if args.textfile.is_some() && args.format != DoctorFormat::Prometheus {
        eprintln!("dockhand: --textfile writes Prometheus metrics; add --format prometheus");
        return ExitCode::Usage;
    }
    if args.list_checks {
        return emit(|out| match args.format {
            DoctorFormat::Json => report::json::catalog(&settings.catalog, &settings.config, out),
            _ => report::table::catalog(&settings.catalog, style, out),
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

/// `dockhand completions SHELL`: generated from the same clap definitions that parse the line,
/// so they cannot drift from the flags.
fn completions(shell: crate::cli::Shell) -> ExitCode {
    use clap::CommandFactory;
    use clap_complete::Shell as S;
    let shell = match shell {
        crate::cli::Shell::Bash => S::Bash,
        crate::cli::Shell::Zsh => S::Zsh,
        crate::cli::Shell::Fish => S::Fish,
    };
    // clap_complete panics on a write error (a closed pipe): generate into memory first.
    let mut buf = Vec::new();
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "dockhand", &mut buf);
    emit(|out| out.write_all(&buf)).unwrap_or(ExitCode::Ok)
}

/// `dockhand man`: the manual page, from the clap definitions, with every subcommand's page
/// after the main one.
fn man() -> ExitCode {
    use clap::CommandFactory;
    emit(|out| {
        let cmd = crate::cli::Cli::command();
        clap_mangen::Man::new(cmd.clone()).render(out)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("dockhand-{}", sub.get_name());
            let sub = sub.clone().name(name);
            clap_mangen::Man::new(sub).render(out)?;
        }
        Ok(())
    })
    .unwrap_or(ExitCode::Ok)
}

/// Writes to stdout (see [`report::emit`]: the output layer owns it).
pub use crate::report::emit;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::journal::{self as jr, Body};
    use crate::runtime::endpoint::Endpoint;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-app-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn engine() -> Engine {
        Engine::new(
            Endpoint::Unix("/nonexistent/docker.sock".into()),
            Duration::from_secs(1),
        )
    }

    #[tokio::test]
    async fn a_mutating_frame_journals_its_run_and_holds_the_lock_meanwhile() {
        let dir = tmp("frame");
        let shutdown = Shutdown::new();
        let inner_dir = dir.clone();
        let code = mutating(
            &dir,
            &engine(),
            &shutdown,
            "test",
            ActorOptions::default(),
            async |actor: &Actor| {
                // While the body runs, a second mutating run is turned away.
                let err = RunLock::acquire(&inner_dir, "other", None).expect_err("held");
                assert!(err.to_string().contains("dockhand test"), "{err}");
                let holder = actions::lock::current_holder(&inner_dir).expect("holder");
                assert_eq!(holder.run.as_deref(), Some(actor.run_id()));
                ExitCode::Ok
            },
        )
        .await;
        assert_eq!(code, ExitCode::Ok);
        assert!(actions::lock::current_holder(&dir).is_none(), "released");
        let c = jr::read(&dir.join(jr::FILE_NAME))
            .expect("read")
            .expect("exists");
        assert!(matches!(&c.records[0].body, Body::RunStart { command, .. } if command == "test"));
        assert!(matches!(&c.records[1].body, Body::RunEnd { status, .. } if status == "completed"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_run_that_fails_before_acting_is_journaled_as_failed_with_its_reason() {
        let run_end = async |name: &str, body: &dyn Fn(&Actor) -> ExitCode| {
            let dir = tmp(name);
            let code = mutating(
                &dir,
                &engine(),
                &Shutdown::new(),
                "reap",
                ActorOptions::default(),
                async |actor: &Actor| body(actor),
            )
            .await;
            let c = jr::read(&dir.join(jr::FILE_NAME))
                .expect("read")
                .expect("exists");
            let _ = std::fs::remove_dir_all(&dir);
            (code, c.records.last().expect("run-end").body.clone())
        };
        // The body's own sentence.
        let (code, end) = run_end("fail-own", &|a: &Actor| {
            a.fail("reap needs the engine: it did not answer");
            ExitCode::Unavailable
        })
        .await;
        assert_eq!(code, ExitCode::Unavailable);
        assert!(
            matches!(&end, Body::RunEnd { status, reason: Some(r), .. }
                if status == "failed" && r == "reap needs the engine: it did not answer"),
            "{end:?}"
        );
        // No sentence given: the exit code's meaning, never "completed".
        let (_, end) = run_end("fail-code", &|_: &Actor| ExitCode::Unavailable).await;
        assert!(
            matches!(&end, Body::RunEnd { status, reason: Some(r), .. }
                if status == "failed" && r.contains("took no step") && r.contains("exit 69")),
            "{end:?}"
        );
        // Nothing to do is still completed.
        let (_, end) = run_end("nothing", &|_: &Actor| ExitCode::Ok).await;
        assert!(
            matches!(&end, Body::RunEnd { status, reason: None, .. } if status == "completed"),
            "{end:?}"
        );
    }

    #[tokio::test]
    async fn a_held_lock_exits_75_and_a_bad_state_dir_64() {
        let dir = tmp("held");
        actions::prepare_state_dir(&dir).expect("dir");
        let _held = RunLock::acquire(&dir, "gc", None).expect("first");
        let body = async |_: &Actor| -> ExitCode { panic!("must not run") };
        let code = mutating(
            &dir,
            &engine(),
            &Shutdown::new(),
            "reap",
            ActorOptions::default(),
            body,
        )
        .await;
        assert_eq!(code, ExitCode::Locked);
        let file = dir.join("plain");
        std::fs::write(&file, "x").expect("write");
        let body = async |_: &Actor| -> ExitCode { panic!("must not run") };
        let code = mutating(
            &file,
            &engine(),
            &Shutdown::new(),
            "reap",
            ActorOptions::default(),
            body,
        )
        .await;
        assert_eq!(code, ExitCode::Usage);
        let _ = std::fs::remove_dir_all(dir);
    }
}
