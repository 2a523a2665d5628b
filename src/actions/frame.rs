//! The frame of every mutating run: prepare the state dir, take the run lock, open the journal,
//! start the run (run-start record), run the body with the [`Actor`], end the run (run-end
//! record), release the lock. What stops the frame comes back as a [`Failure`]: 64 for an
//! unusable state dir, 77 for one that cannot be trusted, 75 when another run holds the lock, 70
//! when the journal cannot be written.

use crate::command::{Ctx, Failure, Ran};
use crate::exit::ExitCode;
use crate::runtime::engine::Engine;

use super::{Actor, ActorOptions, Journal, LockError, RunLock};

/// Runs `body` inside the frame. A body that fails (`Err`) is journaled as failed with its own
/// sentence; one that ends with an error code without taking a step is journaled as failed with
/// the code's meaning, never as "completed: nothing to do".
pub async fn mutating(
    ctx: &Ctx<'_>,
    engine: &Engine,
    command: &str,
    opts: ActorOptions,
    body: impl AsyncFnOnce(&Actor) -> Ran,
) -> Ran {
    let state_dir = ctx.settings.state_dir.as_path();
    if let Err(e) = super::prepare_state_dir(state_dir) {
        let code = if e.untrusted {
            ExitCode::Untrusted
        } else {
            ExitCode::Usage
        };
        return Err(Failure::new(code, e.to_string()));
    }
    let mut lock = match RunLock::acquire(state_dir, command, None) {
        Ok(l) => l,
        Err(e @ LockError::Held { .. }) => {
            return Err(Failure::new(ExitCode::Locked, e.to_string()));
        }
        Err(e) => return Err(Failure::usage(e.to_string())),
    };
    if let Some(note) = lock.note() {
        ctx.note(note);
    }
    let path = state_dir.join(super::journal::FILE_NAME);
    let journal = Journal::open(&path, opts.journal_timeout)
        .map_err(|e| Failure::internal(format!("{e}; nothing was done")))?;
    for n in journal.notes() {
        ctx.note(n);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let actor = Actor::start(engine, journal, ctx.shutdown.clone(), command, args, opts)
        .await
        .map_err(|e| Failure::internal(format!("{e}; nothing was done")))?;
    lock.record_run(actor.run_id());
    let ran = body(&actor).await;
    match &ran {
        Err(f) => actor.fail(f.sentence.clone()),
        Ok(o) => {
            if let Some(why) = failed_before_acting(o.code, actor.totals().steps()) {
                // A body that knew the sentence gave it already (Actor::fail keeps the first
                // reason), so this is the fallback.
                actor.fail(why);
            }
        }
    }
    match actor.finish().await {
        Ok(_) => ran,
        Err(e) => match ran {
            // The outcome stands; the journal's failure is said and raises the code.
            Ok(mut o) => {
                ctx.say(&e);
                o.code = o.code.max(ExitCode::Internal);
                Ok(o)
            }
            Err(f) => {
                ctx.say(&e);
                Err(f)
            }
        },
    }
}

/// A run that took no step and ends with an error code failed before it acted: the journal
/// must say "failed", never "completed: nothing to do". The reason, for a body that gave none.
pub(crate) fn failed_before_acting(code: ExitCode, steps: u64) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::journal::{self as jr, Body};
    use crate::actions::{Actor, RunLock};
    use crate::command::Outcome;
    use crate::runtime::endpoint::{Endpoint, Source};
    use crate::settings::Settings;
    use crate::shutdown::Shutdown;
    use std::path::PathBuf;
    use std::time::Duration;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-frame-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn settings(state_dir: PathBuf) -> Settings {
        Settings {
            endpoint: Endpoint::Unix("/nonexistent/docker.sock".into()),
            source: Source::Flag,
            timeout: Duration::from_secs(1),
            color: false,
            width: None,
            config: crate::config::Config::default(),
            catalog: crate::catalog::Catalog::builtin().expect("catalog"),
            state_dir,
        }
    }

    async fn frame(
        state_dir: PathBuf,
        command: &str,
        body: impl AsyncFnOnce(&Actor) -> Ran,
    ) -> Ran {
        let settings = settings(state_dir);
        let shutdown = Shutdown::new();
        let ctx = Ctx::new(&settings, &shutdown);
        mutating(&ctx, &ctx.engine(), command, ActorOptions::default(), body).await
    }

    fn run_end(dir: &std::path::Path) -> Body {
        let c = jr::read(&dir.join(jr::FILE_NAME))
            .expect("read")
            .expect("exists");
        c.records.last().expect("run-end").body.clone()
    }

    #[tokio::test]
    async fn a_mutating_frame_journals_its_run_and_holds_the_lock_meanwhile() {
        let dir = tmp("frame");
        let inner_dir = dir.clone();
        let ran = frame(dir.clone(), "test", async |actor: &Actor| {
            // While the body runs, a second mutating run is turned away.
            let err = RunLock::acquire(&inner_dir, "other", None).expect_err("held");
            assert!(err.to_string().contains("dockhand test"), "{err}");
            let holder = crate::actions::lock::current_holder(&inner_dir).expect("holder");
            assert_eq!(holder.run.as_deref(), Some(actor.run_id()));
            Ok(Outcome::bare(ExitCode::Ok))
        })
        .await;
        assert_eq!(ran.expect("ran").code, ExitCode::Ok);
        assert!(
            crate::actions::lock::current_holder(&dir).is_none(),
            "released"
        );
        let c = jr::read(&dir.join(jr::FILE_NAME))
            .expect("read")
            .expect("exists");
        assert!(matches!(&c.records[0].body, Body::RunStart { command, .. } if command == "test"));
        assert!(matches!(&c.records[1].body, Body::RunEnd { status, .. } if status == "completed"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_run_that_fails_before_acting_is_journaled_as_failed_with_its_reason() {
        // The body's own sentence, from its Failure.
        let dir = tmp("fail-own");
        let ran = frame(dir.clone(), "reap", async |_: &Actor| {
            Err(Failure::unavailable(
                "reap needs the engine: it did not answer",
            ))
        })
        .await;
        assert_eq!(ran.expect_err("failed").code, ExitCode::Unavailable);
        let end = run_end(&dir);
        assert!(
            matches!(&end, Body::RunEnd { status, reason: Some(r), .. }
                if status == "failed" && r == "reap needs the engine: it did not answer"),
            "{end:?}"
        );
        // An outcome with an error code and no step: the code's meaning, never "completed".
        let dir = tmp("fail-code");
        let _ = frame(dir.clone(), "reap", async |_: &Actor| {
            Ok(Outcome::bare(ExitCode::Unavailable))
        })
        .await;
        let end = run_end(&dir);
        assert!(
            matches!(&end, Body::RunEnd { status, reason: Some(r), .. }
                if status == "failed" && r.contains("took no step") && r.contains("exit 69")),
            "{end:?}"
        );
        // Nothing to do is still completed.
        let dir = tmp("nothing");
        let _ = frame(dir.clone(), "reap", async |_: &Actor| {
            Ok(Outcome::bare(ExitCode::Ok))
        })
        .await;
        let end = run_end(&dir);
        assert!(
            matches!(&end, Body::RunEnd { status, reason: None, .. } if status == "completed"),
            "{end:?}"
        );
    }

    #[tokio::test]
    async fn a_held_lock_exits_75_and_a_bad_state_dir_64() {
        let dir = tmp("held");
        crate::actions::prepare_state_dir(&dir).expect("dir");
        let _held = RunLock::acquire(&dir, "gc", None).expect("first");
        let ran = frame(dir.clone(), "reap", async |_: &Actor| -> Ran {
            panic!("must not run")
        })
        .await;
        assert_eq!(ran.expect_err("locked").code, ExitCode::Locked);
        let file = dir.join("plain");
        std::fs::write(&file, "x").expect("write");
        let ran = frame(file, "reap", async |_: &Actor| -> Ran {
            panic!("must not run")
        })
        .await;
        assert_eq!(ran.expect_err("bad dir").code, ExitCode::Usage);
        let _ = std::fs::remove_dir_all(dir);
    }
}
