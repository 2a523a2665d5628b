//! The diagnosis: doctor's daemon tiers (ping, container list, /info) classified by the same
//! [`classify`], the daemon's process and its stuck threads, live-restore, the containers that
//! run now and their restart policies, the service manager — and from those [`need`].
//!
//! A frozen daemon answers nothing, so everything that matters is also read from where the
//! daemon keeps it: live-restore from daemon.json and the command line, the containers from
//! their `config.v2.json` files.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::actions::{ProcTarget, Scope};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::facts::{Attempt, Fact, Facts};
use crate::policy::daemon::process::wait_kind;
use crate::policy::daemon::recovery::{
    self, ContainerSeen, Need, ProcessSeen, live_restore_configured,
};
use crate::policy::daemon::{
    Health, LiveRestore, Outcome, ResponsiveLimits, StuckThread, Stuckness, TierName, Tiers,
    classify, live_restore, stuck_threads, stuckness,
};
use crate::runtime::blocking;
use crate::runtime::daemon::{DaemonPaths, Located, ServiceManager};
use crate::runtime::engine::EngineError;
use crate::runtime::inventory::{ContainerRecord, container_records_from_disk};
use crate::runtime::proc::{TaskState, sample_threads};

/// The daemon's process as found.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonSeen {
    pub pid: i32,
    pub state: char,
    pub wchan: Option<String>,
    pub cmdline: Vec<String>,
    pub service: ServiceManager,
    pub pidfile_pid: Option<i32>,
    pub found_by: &'static str,
    /// The process as the actions layer pins it (pid + start time + executable).
    #[serde(skip)]
    pub target: Option<ProcTarget>,
}

/// Everything recover decides on.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub endpoint: String,
    pub health: Health,
    /// Each tier that ran, as doctor's `daemon.responsive` evidence shows them.
    pub probes: Vec<Value>,
    pub process: Option<DaemonSeen>,
    /// Where the daemon keeps things (from its command line, else daemon.json, else defaults).
    pub paths: Option<DaemonPaths>,
    pub stuck: Vec<StuckThread>,
    pub stuckness: Stuckness,
    pub live_restore: Option<bool>,
    /// "engine" (/info), "daemon.json or flags", or "unknown".
    pub live_restore_from: &'static str,
    pub containers: Vec<ContainerSeen>,
    /// "engine" or "disk" (the daemon's own files), or "none" when neither could be read.
    pub containers_from: &'static str,
    /// The subnets of this daemon's networks: which orphan docker-proxy is its own.
    pub subnets: Vec<String>,
    pub shutdown_timeout: Duration,
    pub need: Need,
    /// Why the daemon cannot be acted on from here (remote engine, /proc unreadable), if so.
    pub blocker: Option<String>,
}

impl Diagnosis {
    pub fn running(&self) -> usize {
        self.containers.iter().filter(|c| c.running).count()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "health": self.health.name(),
            "need": self.need.name(),
            "why": self.need.why(),
            "probes": self.probes,
            "process": self.process,
            "stuck_threads": self.stuck,
            "data_root": self.paths.as_ref().map(|p| &p.data_root),
            "exec_root": self.paths.as_ref().map(|p| &p.exec_root),
            "pidfile": self.paths.as_ref().map(|p| &p.pidfile),
            "live_restore": self.live_restore,
            "live_restore_from": self.live_restore_from,
            "containers_running": self.running(),
            "containers_from": self.containers_from,
            "containers": self.containers.iter().filter(|c| c.running).collect::<Vec<_>>(),
            "shutdown_timeout_s": self.shutdown_timeout.as_secs(),
            "blocker": self.blocker,
        })
    }
}

fn latency<T>(a: &Attempt<T>) -> (Result<Duration, &EngineError>, Duration) {
    (a.0.as_ref().map(|t| t.elapsed), a.1)
}

/// The tiers, asked as doctor asks them (through the same facts), and their verdict.
pub async fn health(facts: &Facts, catalog: &Catalog, config: &Config) -> (Health, Vec<Value>) {
    const ID: &str = "daemon.responsive";
    let limits = ResponsiveLimits {
        slow_ms: config.threshold(catalog, ID, "slow_ms"),
        list_ms_per_container: config.threshold(catalog, ID, "list_ms_per_container"),
    };
    let (ping_r, ping_took) = facts.ping().await;
    let (list, info) = tokio::join!(facts.list_attempt(), facts.info_attempt());
    let containers = match list {
        Some((Ok(t), _)) => t.value.len(),
        _ => 0,
    };
    let ping = ping_r.as_ref().map(|t| t.elapsed);
    let list = list.map(latency);
    let info = info.map(latency);
    let tiers = Tiers {
        ping: Outcome::of(ping),
        list: list.map(|(r, _)| Outcome::of(r)),
        info: info.map(|(r, _)| Outcome::of(r)),
        containers,
    };
    let probe = |tier: TierName, r: Result<Duration, &EngineError>, took: Duration| {
        json!({
            "name": tier.as_str(),
            "ok": r.is_ok(),
            "latency_ms": crate::util::millis(r.unwrap_or(took)),
            "error": r.err().map(ToString::to_string),
        })
    };
    let mut probes = vec![probe(TierName::Ping, ping, *ping_took)];
    if let Some((r, t)) = list {
        probes.push(probe(TierName::List, r, t));
    }
    if let Some((r, t)) = info {
        probes.push(probe(TierName::Info, r, t));
    }
    (classify(&tiers, &limits), probes)
}

/// How far apart the thread samples are (as doctor's `daemon.process`).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

async fn stuck(pid: i32, samples: u32, deadline: Duration) -> Vec<StuckThread> {
    let watch = |t: &TaskState| wait_kind(t).is_some();
    match sample_threads(pid, samples, SAMPLE_EVERY, deadline, watch).await {
        Some(all) => stuck_threads(pid, &all, samples),
        None => Vec::new(),
    }
}

/// A container as recover compares it before and after.
pub fn seen(r: &ContainerRecord) -> ContainerSeen {
    ContainerSeen {
        id: r.id.clone(),
        name: r.name().to_string(),
        running: r.state.running && !r.state.restarting,
        restart_policy: r.host_config.restart_policy.name.clone(),
        pid: (r.state.pid > 0).then_some(r.state.pid),
    }
}

/// Looks for the daemon's process first, and when it is stopped by a signal (state `T`: SIGSTOP,
/// SIGTSTP) tells `facts` not to ask the engine: it answers nothing until continued, and the
/// ping's deadline would only delay the restart it needs. A traced stop (`t`) is left to the
/// ping: a debugger stops and resumes its process all the time. Runs before anything asks the
/// engine.
pub async fn note_stopped(facts: &Facts) {
    if let Ok(Located::Found(d)) = facts.located().await
        && d.info.state == 'T'
    {
        facts.engine_stopped(d.info.pid, d.info.state);
    }
}

/// Diagnoses the daemon behind `facts`. `start_argv`: the command line the daemon is started
/// with, when known — where a daemon that is not running keeps its files (its pid file, data
/// root, daemon.json), which the defaults would get wrong.
pub async fn diagnose(
    facts: &Facts,
    catalog: &Catalog,
    config: &Config,
    start_argv: Option<&[String]>,
) -> Diagnosis {
    let endpoint = facts.engine().endpoint().to_string();
    let ((health, probes), located) = tokio::join!(health(facts, catalog, config), facts.located());
    let Found {
        process,
        paths,
        blocker,
    } = found(facts, located, start_argv, &endpoint).await;
    // The threads, only when the process is there.
    let samples = config
        .threshold(catalog, "daemon.process", "d_state_samples")
        .max(1.0) as u32;
    let stuck = match &process {
        Some(p) => stuck(p.pid, samples, facts.timeout()).await,
        None => Vec::new(),
    };
    let verdict = stuckness(&stuck, facts.engine_answered().await);

    // daemon.json (the daemon's own --config-file).
    let json = match &facts.daemon_json().await.value {
        Some(Ok(v)) => Some(v.clone()),
        _ => None,
    };
    let cmdline = process
        .as_ref()
        .map(|p| p.cmdline.clone())
        .unwrap_or_default();
    let (live, live_from) = live_restore_of(facts, json.as_ref(), &cmdline).await;
    let (containers, from, records) = containers_of(facts, paths.as_ref()).await;
    let subnets = subnets_of(facts, records.iter().flatten()).await;
    let need = recovery::need(
        &health,
        process.as_ref().map(|p| ProcessSeen {
            pid: p.pid,
            state: p.state,
        }),
        verdict,
    );
    Diagnosis {
        endpoint,
        health,
        probes,
        shutdown_timeout: recovery::shutdown_timeout(json.as_ref(), &cmdline),
        process,
        paths,
        stuck,
        stuckness: verdict,
        live_restore: live,
        live_restore_from: live_from,
        containers,
        containers_from: from,
        subnets,
        need,
        blocker,
    }
}

/// The daemon's process and its paths as located, or why recover cannot act on it.
struct Found {
    process: Option<DaemonSeen>,
    paths: Option<DaemonPaths>,
    blocker: Option<String>,
}

async fn found(
    facts: &Facts,
    located: Fact<'_, Located>,
    start_argv: Option<&[String]>,
    endpoint: &str,
) -> Found {
    let blocked = |why: String| Found {
        process: None,
        paths: None,
        blocker: Some(why),
    };
    match located {
        Ok(Located::Found(d)) => {
            let pid = d.info.pid;
            let target = blocking(facts.timeout(), move || {
                ProcTarget::capture(pid, Scope::DockerProgram)
            })
            .await
            .flatten();
            Found {
                process: Some(DaemonSeen {
                    pid,
                    state: d.info.state,
                    wchan: d.info.wchan.clone(),
                    cmdline: d.info.cmdline.clone(),
                    service: d.service.clone(),
                    pidfile_pid: d.pidfile_pid,
                    found_by: d.found_by,
                    target,
                }),
                paths: Some(d.paths.clone()),
                blocker: None,
            }
        }
        Ok(Located::NotRunning {
            paths, unreadable, ..
        }) => {
            let blocker = (*unreadable > 0).then(|| format!(
                "the daemon's process could not be identified: {unreadable} processes' open files are not readable by this user; run as root"
            ));
            let paths = match start_argv {
                Some(argv) => {
                    let a = argv.to_vec();
                    blocking(facts.timeout(), move || {
                        crate::runtime::daemon::paths_from(&a, None)
                    })
                    .await
                    .unwrap_or_else(|| paths.clone())
                }
                None => paths.clone(),
            };
            Found {
                process: None,
                paths: Some(paths),
                blocker,
            }
        }
        Ok(Located::Unverified { why, .. }) => blocked(format!(
            "the daemon's process is unknown: {why}; recover acts only on a verified daemon"
        )),
        Ok(Located::Remote) => blocked(format!(
            "the engine at {endpoint} is on another host: recover acts on a daemon of this host"
        )),
        Err(g) => blocked(format!(
            "{g}: recover cannot act without seeing the daemon's process"
        )),
    }
}

/// Live-restore as the engine says, else as daemon.json and the flags configure it.
async fn live_restore_of(
    facts: &Facts,
    json: Option<&Value>,
    cmdline: &[String],
) -> (Option<bool>, &'static str) {
    match facts.info().await.ok().map(live_restore) {
        Some(LiveRestore::On) => (Some(true), "engine"),
        Some(LiveRestore::Off | LiveRestore::OffForSwarm) => (Some(false), "engine"),
        _ => match live_restore_configured(json, cmdline) {
            Some(v) => (Some(v), "daemon.json or flags"),
            None if json.is_some() => (Some(false), "daemon.json or flags"),
            None => (None, "unknown"),
        },
    }
}

/// The containers: the engine's list and records when it answers, else its own files; and
/// where they came from ("engine", "disk", "none").
async fn containers_of(
    facts: &Facts,
    paths: Option<&DaemonPaths>,
) -> (
    Vec<ContainerSeen>,
    &'static str,
    Option<Vec<ContainerRecord>>,
) {
    if let Ok(r) = facts.records().await {
        return (r.iter().map(seen).collect(), "engine", Some(r.to_vec()));
    }
    let Some(p) = paths else {
        return (Vec::new(), "none", None);
    };
    match container_records_from_disk(facts.timeout() * 2, &p.data_root).await {
        Some(r) => (r.iter().map(seen).collect(), "disk", Some(r)),
        None => (Vec::new(), "none", None),
    }
}

/// The subnets of the daemon's networks (the engine's, and those its containers' records name).
async fn subnets_of(facts: &Facts, records: impl Iterator<Item = &ContainerRecord>) -> Vec<String> {
    let mut subnets: Vec<String> = facts.subnets().await.unwrap_or_default();
    for r in records {
        for s in r.subnets() {
            if !subnets.contains(&s) {
                subnets.push(s);
            }
        }
    }
    subnets
}
