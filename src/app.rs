//! Runs one command with validated settings and returns its exit code.
//!
//! Shutdown is cooperative (see `shutdown`): a read-only command is raced against SIGINT/SIGTERM
//! and stops at once; a mutating command receives the handle, finishes the action in flight,
//! writes the journal, and the run exits 130. Each command says which it is
//! (`Command::mutates`).

use std::path::Path;

use crate::actions::{self, Actor, ActorOptions, Journal, LockError, RunLock};
use crate::cli::Command;
use crate::command::{Ctx, Doc, Outcome, Ran};
use crate::exit::ExitCode;
use crate::runtime::engine::Engine;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

pub fn run(settings: Settings, command: Command) -> ExitCode {
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
        let work = async {
            let ran = dispatch(&Ctx::new(&settings, &shutdown), &command).await;
            finish(ran)
        };
        if let Command::Serve(_) = command {
            // serve stops itself on the signal: it stops accepting, finishes the responses in
            // flight, and a clean stop exits 0.
            work.await
        } else if command.mutates() {
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

async fn dispatch(ctx: &Ctx<'_>, command: &Command) -> Ran {
    match command {
        Command::Doctor(args) => crate::doctor::command::run(ctx, args).await,
        Command::Df(args) => crate::df::run(ctx, args).await,
        Command::Journal(args) => crate::journal::run(ctx, args).await,
        Command::Completions(args) => Ok(completions(args.shell)),
        Command::Man => Ok(man()),
        Command::Gc(args) => crate::gc::run(ctx, args).await,
        Command::Ports(args) => crate::ports::run(ctx, args).await,
        Command::Reap(args) => crate::reap::run(ctx, args).await,
        Command::Recover(args) => crate::recover::run(ctx, args).await,
        Command::Pull(args) => crate::pull::run(ctx, args).await,
        Command::Serve(args) => crate::serve::run(ctx, args).await,
    }
}

/// The one place a run's result is shown: the document rendered once, to stdout or its file, or
/// the failure's sentence once on stderr; then the code the run exits with.
fn finish(ran: Ran) -> ExitCode {
    match ran {
        Ok(Outcome { code, doc }) => match doc {
            Doc::None => code,
            Doc::Stdout(render) => emit(render).unwrap_or(code),
            Doc::File(flag, path, render) => {
                match crate::runtime::files::write_atomically(&path, 0o644, render) {
                    Ok(()) => code,
                    Err(e) => {
                        crate::command::say(&format!(
                            "cannot write {flag} {}: {e}",
                            path.display()
                        ));
                        ExitCode::Internal
                    }
                }
            }
        },
        Err(f) => {
            crate::command::say(&f.sentence);
            f.code
        }
    }
}

/// The frame for the commands not yet on the contract (see `actions::frame::mutating`, which
/// they move to): prepare the state dir, take the run lock, open the
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
    if let Some(why) = actions::frame::failed_before_acting(code, actor.totals().steps()) {
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

/// `dockhand completions SHELL`: generated from the same clap definitions that parse the line,
/// so they cannot drift from the flags.
fn completions(shell: crate::cli::Shell) -> Outcome {
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
    Outcome::new(ExitCode::Ok, move |out| out.write_all(&buf))
}

/// `dockhand man`: the manual page, from the clap definitions, with every subcommand's page
/// after the main one.
fn man() -> Outcome {
    use clap::CommandFactory;
    Outcome::new(ExitCode::Ok, |out| {
        let cmd = crate::cli::Cli::command();
        clap_mangen::Man::new(cmd.clone()).render(out)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("dockhand-{}", sub.get_name());
            let sub = sub.clone().name(name);
            clap_mangen::Man::new(sub).render(out)?;
        }
        Ok(())
    })
}

/// Writes to stdout (see [`report::emit`]: the output layer owns it).
pub use crate::report::emit;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::journal::{self as jr, Body};
    use crate::runtime::endpoint::Endpoint;
    use std::time::Duration;

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
