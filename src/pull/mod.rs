//! `dockhand pull` (placeholder while the module is built).
use clap::Args;

use crate::cli::Settings;
use crate::exit::ExitCode;
use crate::shutdown::Shutdown;

#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    pub image: String,
}

pub async fn run(_settings: &Settings, _args: &PullArgs, _shutdown: &Shutdown) -> ExitCode {
    ExitCode::Internal
}
