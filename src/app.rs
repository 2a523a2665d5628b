//! Runs one command with validated settings and returns its exit code.
//!
//! Shutdown is cooperative (see `shutdown`): a read-only command is raced against SIGINT/SIGTERM
//! and stops at once; a mutating command receives the handle, finishes the action in flight,
//! writes the journal, and the run exits 130. Each command says which it is
//! (`Command::mutates`).

use std::io::{self, BufWriter, Write};

use crate::cli::Command;
use crate::command::{Ctx, Doc, Outcome, Ran};
use crate::exit::ExitCode;
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
        if let Command::Serve(_) | Command::Watch(_) = command {
            // serve and watch stop themselves on the signal: they stop accepting, finish the
            // responses in flight (watch: writes last use, ends a recovery in flight), and a
            // clean stop exits 0.
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
        Command::Watch(args) => crate::serve::watch::run(ctx, args).await,
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

/// Writes a run's document to stdout. A closed pipe (`dockhand ports | head -1`) ends the run
/// quietly with the run's own code (`None`); any other write error is said and is 70.
fn emit(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Option<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => None,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
        Err(e) => {
            crate::command::say(&format!("cannot write the report: {e}"));
            Some(ExitCode::Internal)
        }
    }
}
