//! What every command is given: the flags resolved against the environment (endpoint, terminal,
//! colour, config file), validated once by `cli::resolve`. Below the commands, so any command may
//! read them and none needs the command line's own types.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::runtime::endpoint::{Endpoint, Source};

/// Everything a command needs, validated.
#[derive(Debug)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub source: Source,
    pub timeout: Duration,
    pub color: bool,
    /// The terminal's width, when stdout is one: tables and prose wrap to it.
    pub width: Option<usize>,
    pub config: Config,
    pub catalog: Catalog,
    /// Not checked here: only commands that use it prepare it (see actions::prepare_state_dir).
    pub state_dir: PathBuf,
}

impl Settings {
    /// How output is styled: colour and the terminal's width.
    pub fn style(&self) -> Style {
        Style {
            color: self.color,
            width: self.width,
        }
    }
}

/// How the run's output is styled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
    /// The terminal's width in columns: tables and prose wrap to it. `None` off a terminal, where
    /// nothing is wrapped (a line is a line for grep and for logs).
    pub width: Option<usize>,
}

/// The output format of every command but doctor (which has three more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people
    Table,
    /// One JSON document (schema dockhand.<command>/v1, see docs/json.md)
    Json,
}
