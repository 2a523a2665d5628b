//! Command-line parsing in two stages: clap reads raw values, then [`Settings::resolve`] checks
//! them against the environment (endpoint, terminal, colour, config file) and turns every bad
//! value into one clear sentence.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};
use crate::doctor::catalog::Catalog;
use crate::error::UsageError;
use crate::exit;
use crate::runtime::endpoint::{self, Endpoint, Source};

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
    #[arg(long, global = true, value_name = "DURATION", default_value = "3s")]
    pub timeout: String,

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
    Doctor(DoctorArgs),
    /// Where the disk went: images (shared and unique bytes), containers and their logs,
    /// volumes, build cache, and leftovers nothing accounts for
    Df(DfArgs),
    /// What dockhand did on this host, when and why: every action of every run, with its
    /// outcome, newest last (from the journal in --state-dir)
    Journal(JournalArgs),
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
        }
    }

    /// Whether the command changes anything. A mutating command takes the run lock, journals
    /// its actions, and on Ctrl-C finishes the action in flight before it exits; a read-only
    /// one stops at once.
    pub fn mutates(&self) -> bool {
        match self {
            Command::Doctor(_)
            | Command::Df(_)
            | Command::Journal(_)
            | Command::Serve(_)
            | Command::Completions(_)
            | Command::Man => false,
            Command::Gc(a) => a.mutates(),
            Command::Ports(a) => a.mutates(),
            Command::Reap(a) => a.apply,
            Command::Recover(_) | Command::Pull(_) => true,
        }
    }
}

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

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also list the objects: images, containers, volumes, leftovers (biggest first)
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Show only the N biggest objects of each kind
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Deadline for all directory walks together (and the engine's /system/df when needed);
    /// a walk cut short reports a lower bound, marked ≥
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub walk_timeout: String,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = DoctorFormat::Table)]
    pub format: DoctorFormat,

    /// With --format prometheus: write the metrics to this file atomically (for node_exporter's
    /// textfile collector) instead of stdout
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<PathBuf>,

    /// Run only these checks: ids or whole areas, repeated or comma-separated
    /// (`--check daemon,ports.stuck`); see --list-checks
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// Skip these checks: ids or areas, repeated or comma-separated
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,

    /// List the checks, their thresholds and what they mean, then exit
    #[arg(long)]
    pub list_checks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// A table for people
    Table,
    /// One JSON document (schema dockhand.doctor/v1, see docs/json.md)
    Json,
    /// A Nagios/Icinga plugin status line with performance data (exit 0/1/2/3)
    Nagios,
    /// A node-problem-detector custom plugin: one short line; exit 0 ok, 1 problem, 2 unknown
    Npd,
    /// Prometheus text format (node_exporter textfile collector); see --textfile
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people
    Table,
    /// One JSON document (schema dockhand.<command>/v1, see docs/json.md)
    Json,
}

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
    pub command: Command,
}

impl Settings {
    /// How output is styled: colour and the terminal's width.
    pub fn style(&self) -> crate::report::Style {
        crate::report::Style {
            color: self.color,
            width: self.width,
        }
    }

    pub fn resolve(cli: Cli) -> Result<Settings, UsageError> {
        let inputs = endpoint::Inputs::from_env(cli.host.clone(), cli.context.clone());
        let (endpoint, source) = endpoint::resolve(&inputs)?;
        let timeout = parse_duration(&cli.timeout)?;
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
        Ok(Settings {
            endpoint,
            source,
            timeout,
            color,
            width: crate::report::terminal_width(),
            config,
            catalog,
            state_dir: cli.state_dir,
            command: cli.command,
        })
    }
}

/// Parses `3`, `3s`, `500ms`, `1.5s`, `2m`. Zero and more than an hour are refused: a zero
/// deadline fails every call, and a deadline longer than a monitor's interval defeats its purpose.
pub fn parse_duration(s: &str) -> Result<Duration, UsageError> {
    let bad = |why: &str| UsageError::BadTimeout {
        value: s.to_string(),
        why: why.to_string(),
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| bad("it does not start with a number"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        other => return Err(bad(&format!("{other:?} is not a unit (ms, s, m)"))),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("it must be more than zero"));
    }
    if secs > 3600.0 {
        return Err(bad("it must be at most an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
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
    fn durations() {
        assert_eq!(parse_duration("3").expect("3"), Duration::from_secs(3));
        assert_eq!(parse_duration("3s").expect("3s"), Duration::from_secs(3));
        assert_eq!(
            parse_duration("500ms").expect("ms"),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration("1.5s").expect("1.5s"),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").expect("2m"), Duration::from_secs(120));
        for bad in ["0", "0s", "banana", "-1s", "3h", "5 parsecs", ""] {
            let e = parse_duration(bad).expect_err(bad).to_string();
            assert!(e.contains("500ms"), "says what works: {e}");
        }
    }
}
