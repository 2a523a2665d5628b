//! The command contract. Every command is `run(ctx, args) -> Ran`: it reads the host through
//! facts, decides through policy, acts through actions, and hands back either an [`Outcome`] (a
//! document and the exit code the run ends with) or a [`Failure`] (one sentence and its code).
//! It prints nothing itself: the top (`app`) renders the document once, in the format asked,
//! and prints the failure's sentence once, with the `dockhand: ` prefix. Notes a long run gives
//! along the way go through [`Ctx::note`] and [`Ctx::say`], the same one path to stderr.

use std::fmt::Display;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::error::UsageError;
use crate::exit::ExitCode;
use crate::runtime::engine::Engine;
use crate::settings::{Settings, Style};
use crate::shutdown::Shutdown;

/// What a command is given: the validated settings and the run's shutdown handle.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub settings: &'a Settings,
    pub shutdown: &'a Shutdown,
}

impl<'a> Ctx<'a> {
    pub fn new(settings: &'a Settings, shutdown: &'a Shutdown) -> Ctx<'a> {
        Ctx { settings, shutdown }
    }

    /// The engine the settings name, with the run's per-call deadline: the one place an
    /// engine client is made for a command.
    pub fn engine(&self) -> Engine {
        Engine::new(self.settings.endpoint.clone(), self.settings.timeout)
    }

    /// How output is styled: colour and the terminal's width.
    pub fn style(&self) -> Style {
        self.settings.style()
    }

    /// A note on stderr while the run goes on (`dockhand: note: …`): something the user should
    /// know that does not change the outcome.
    pub fn note(&self, msg: impl Display) {
        say(&format!("note: {msg}"));
    }

    /// A line on stderr while the run goes on (`dockhand: …`): the progress of a long mutating
    /// run, or a sentence said before the run continues.
    pub fn say(&self, msg: impl Display) {
        say(&msg.to_string());
    }
}

/// The one writer of dockhand's own lines on stderr. A closed stderr is ignored: there is no one
/// left to tell.
pub fn say(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "dockhand: {line}");
}

/// Renders a document into a writer.
pub type Render = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()>>;

/// Where a document goes.
pub enum Doc {
    /// Nothing on stdout (the command said all it had to on the way).
    None,
    /// The document on stdout.
    Stdout(Render),
    /// The document written atomically to a file: the flag that named it (for the sentence
    /// when it cannot be written) and the path (doctor's `--textfile`).
    File(&'static str, PathBuf, Render),
}

/// A command that ran to its end: the document to show and the code the run exits with.
pub struct Outcome {
    pub code: ExitCode,
    pub doc: Doc,
}

impl Outcome {
    /// A document for stdout.
    pub fn new(
        code: ExitCode,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()> + 'static,
    ) -> Outcome {
        Outcome {
            code,
            doc: Doc::Stdout(Box::new(render)),
        }
    }

    /// A document written atomically to `path`, which `flag` named, instead of stdout.
    pub fn to_file(
        code: ExitCode,
        flag: &'static str,
        path: PathBuf,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()> + 'static,
    ) -> Outcome {
        Outcome {
            code,
            doc: Doc::File(flag, path, Box::new(render)),
        }
    }

    /// Nothing on stdout.
    pub fn bare(code: ExitCode) -> Outcome {
        Outcome {
            code,
            doc: Doc::None,
        }
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let doc = match &self.doc {
            Doc::None => "none".to_string(),
            Doc::Stdout(_) => "stdout".to_string(),
            Doc::File(_, p, _) => p.display().to_string(),
        };
        f.debug_struct("Outcome")
            .field("code", &self.code)
            .field("doc", &doc)
            .finish()
    }
}

/// A command that could not run to its end: one sentence (what was wrong, the value, what would
/// work) and the code the run exits with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sentence}")]
pub struct Failure {
    pub code: ExitCode,
    pub sentence: String,
}

impl Failure {
    pub fn new(code: ExitCode, sentence: impl Into<String>) -> Failure {
        Failure {
            code,
            sentence: sentence.into(),
        }
    }

    /// Bad input: a flag, a value, a file (64).
    pub fn usage(sentence: impl Into<String>) -> Failure {
        Failure::new(ExitCode::Usage, sentence)
    }

    /// What the command needs did not answer: the engine, /proc (69).
    pub fn unavailable(sentence: impl Into<String>) -> Failure {
        Failure::new(ExitCode::Unavailable, sentence)
    }

    /// dockhand itself failed (70).
    pub fn internal(sentence: impl Into<String>) -> Failure {
        Failure::new(ExitCode::Internal, sentence)
    }
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Failure {
        Failure::usage(e.to_string())
    }
}

/// What every command returns.
pub type Ran = Result<Outcome, Failure>;
