//! Command-line parsing in two stages: clap reads raw values, then [`Settings::resolve`] checks
//! them against the environment (endpoint, terminal, colour, config file) and turns every bad
//! value into one clear sentence.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Catalog;
use crate::config;
use crate::error::UsageError;
use crate::exit;
use crate::runtime::endpoint;
use crate::settings::Settings;

/// `dockhand --version`: the release and the git revision it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("DOCKHAND_GIT_REVISION"),
    ")"
);

/// Keeps Docker hosts healthy: finds hung daemons, stuck ports, orphans and leaked storage, and
/// fixes them safely.
#[derive(Debug, Parser)]
#[command(name = "dockhand", version = VERSION, after_help = exit::TABLE)]
pub struct Cli {
    /// Engine address: unix:///path/to/docker.sock or tcp://host:port [default: DOCKER_HOST,
    /// then the docker context, then unix:///var/run/docker.sock]
    #[arg(long, short = 'H', global = true, value_name = "URL")]
    pub host: Option<String>,

    /// Docker context to use (as `docker --context`) [default: DOCKER_CONTEXT, then the current
    /// context in ~/.docker/config.json]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Deadline for every engine call and /proc read: 3s, 500ms, 1.5s, 2m
    #[arg(long, global = true, value_name = "DURATION", value_parser = crate::units::duration, default_value = "3s")]
    pub timeout: Duration,

    /// Config file with threshold overrides [default: /etc/dockhand/config.toml if it exists]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// When to colour output
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Where dockhand keeps its journal and run lock (created 0700 when a command needs it)
    #[arg(long, global = true, value_name = "DIR", default_value = crate::actions::lock::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset or empty
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the host's Docker health: the daemon and its configuration, disk, containers,
    /// images and storage, volumes, processes, ports and pulls (see --list-checks)
    Doctor(crate::doctor::command::DoctorArgs),
    /// Where the disk went: images (shared and unique bytes), containers and their logs,
    /// volumes, build cache, and leftovers nothing accounts for
    Df(crate::df::DfArgs),
    /// What dockhand did on this host, when and why: every action of every run, with its
    /// outcome, newest last (from the journal in --state-dir)
    Journal(crate::journal::JournalArgs),
    /// Garbage collection for scheduled runs: stopped containers past a grace period, dangling
    /// images, unused networks and build cache — and with flags unused images by last use,
    /// anonymous volumes, watermarks. A dry run unless --apply (see docs/gc.md)
    Gc(Box<crate::gc::GcArgs>),
    /// Who holds every port: each listening TCP and UDP socket, in every network namespace,
    /// with its process, user, container and status; `ports free PORT` frees one
    Ports(crate::ports::PortsArgs),
    /// Clean up what Docker leaked: leaked docker-proxy processes, a stale pid file, orphan
    /// shims (--shims), parents of zombies of dead containers, tmp leftovers, containers stuck
    /// in dead. Dry run unless --apply
    Reap(crate::reap::ReapArgs),
    /// Recover a hung or dead daemon: diagnose it (doctor's tiers), write an incident bundle,
    /// stop it (service manager, else TERM → TERM → KILL), clean up, start it, verify it.
    /// Prints the plan unless --apply
    Recover(crate::recover::RecoverArgs),
    /// Pull an image with per-layer progress and a stall watchdog: a download that stops is
    /// abandoned and retried, and (with --recover) the daemon recovered
    Pull(crate::pull::PullArgs),
    /// Serve Prometheus metrics on /metrics (127.0.0.1:9323 unless --listen says otherwise):
    /// doctor's results refreshed every --interval, the journal's totals, build info
    Serve(crate::serve::ServeArgs),
    /// The long-running service: serve's /metrics, plus the engine's events followed for each
    /// image's last use (gc's state), the daemon probed every --interval and, with --recover,
    /// recovered within a budget when it stays frozen or wedged (see docs/watch.md)
    Watch(crate::serve::watch::WatchArgs),
    /// Print shell completions to stdout: `dockhand completions bash > /etc/bash_completion.d/dockhand`
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout: `dockhand man > /usr/local/share/man/man1/dockhand.1`
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Command {
    /// The command's name, as the journal and the run lock record it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Doctor(_) => "doctor",
            Command::Df(_) => "df",
            Command::Journal(_) => "journal",
            Command::Completions(_) => "completions",
            Command::Man => "man",
            Command::Gc(_) => "gc",
            Command::Ports(_) => "ports",
            Command::Reap(_) => "reap",
            Command::Recover(_) => "recover",
            Command::Pull(_) => "pull",
            Command::Serve(_) => "serve",
            Command::Watch(_) => "watch",
        }
    }

    /// Whether the command changes anything. A mutating command takes the run lock, journals
    /// its actions, and on Ctrl-C finishes the action in flight before it exits; a read-only
    /// one stops at once.
    pub fn mutates(&self) -> bool {
        match self {
            Command::Doctor(a) => a.mutates(),
            Command::Df(_)
            | Command::Journal(_)
            | Command::Serve(_)
            | Command::Watch(_)
            | Command::Completions(_)
            | Command::Man => false,
            Command::Gc(a) => a.mutates(),
            Command::Ports(a) => a.mutates(),
            Command::Reap(a) => a.apply,
            Command::Recover(_) | Command::Pull(_) => true,
        }
    }
}

/// Checks the raw values against the environment (endpoint, terminal, colour, config file) and
/// turns every bad value into one clear sentence. Gives the settings every command reads and
/// the command to run.
pub fn resolve(cli: Cli) -> Result<(Settings, Command), UsageError> {
    let inputs = endpoint::Inputs::from_env(cli.host.clone(), cli.context.clone());
    let (endpoint, source) = endpoint::resolve(&inputs)?;
    let catalog = Catalog::builtin().map_err(|e| UsageError::UnreadableConfig {
        path: PathBuf::from("checks/"),
        why: e.to_string(),
    })?;
    let config = config::load(cli.config.as_deref(), &catalog)?;
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let settings = Settings {
        endpoint,
        source,
        timeout: cli.timeout,
        color,
        width: crate::report::terminal_width(),
        config,
        catalog,
        state_dir: cli.state_dir,
    };
    Ok((settings, cli.command))
}

/// A value clap refused, as one sentence in the house's words: the flag, the value, why, and
/// what would work (`--grace "0s" is not a duration: it must be more than zero; use e.g. 3s, …`).
/// `None` for every other clap error, which clap words well itself (an unknown flag with its
/// suggestion, a missing argument).
pub fn usage_sentence(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) => a.split([' ', '=']).next().unwrap_or(a).to_string(),
        _ => return None,
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => return None,
    };
    let why = std::error::Error::source(e)?.to_string();
    Some(format!("{arg} {value:?} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_command_lines_doctors_fixes_name_parse() {
        // doctor's fixes (ports.*, processes.*, daemon.pidfile, storage.tmp) name these.
        for line in [
            "dockhand ports free 8080",
            "dockhand reap",
            "dockhand reap --shims",
            "dockhand ports",
        ] {
            let argv: Vec<&str> = line.split(' ').collect();
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(!cli.command.mutates(), "{line} must be a dry run");
        }
        let cli = Cli::try_parse_from(["dockhand", "reap", "--apply"]).expect("parses");
        assert!(cli.command.mutates());
        let cli =
            Cli::try_parse_from(["dockhand", "ports", "free", "53", "--apply"]).expect("parses");
        assert!(cli.command.mutates());
    }

    #[test]
    fn a_refused_value_is_one_sentence_naming_the_flag_and_the_value() {
        for (argv, want) in [
            (
                vec!["--timeout", "banana", "doctor"],
                "--timeout \"banana\" is not a duration: it does not start with a number; use e.g. 3s, 500ms",
            ),
            (
                vec!["reap", "--grace", "0s"],
                "--grace \"0s\" is not a duration: it must be more than zero",
            ),
            (
                vec!["serve", "--interval=500ms"],
                "--interval \"500ms\" is too short",
            ),
        ] {
            // (Refused lines are not spelled as literals: the named-command test reads those.)
            let argv: Vec<&str> = std::iter::once("dockhand").chain(argv).collect();
            let e = Cli::try_parse_from(&argv).expect_err("refused");
            let said = usage_sentence(&e).unwrap_or_else(|| panic!("{argv:?}: {e}"));
            assert!(said.starts_with(want), "{argv:?}: {said}");
        }
        let e = Cli::try_parse_from(std::iter::once("dockhand").chain(["--no-such-flag"]))
            .expect_err("refused");
        assert!(usage_sentence(&e).is_none(), "clap words its own errors");
    }
}
