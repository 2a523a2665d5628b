//! Probes: gather the evidence the selected checks need — concurrently, each piece under the
//! engine's deadline — then judge each check from it. One gathering serves every check, so the
//! daemon is pinged once and /proc scanned once per run.

pub mod daemon;
pub mod disk;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Finding;
use super::catalog::Catalog;
use crate::config::Config;
use crate::runtime::blocking;
use crate::runtime::daemon::{Located, locate};
use crate::runtime::engine::{Engine, EngineError, Timed};
use crate::runtime::http::Response;
use crate::runtime::inventory::Container;

/// What the selected checks need gathered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Needs {
    /// `GET /_ping`.
    pub ping: bool,
    /// The further tiers: container list and info.
    pub tiers: bool,
    /// The daemon process on this host.
    pub locate: bool,
}

impl Needs {
    pub fn for_checks(wanted: &dyn Fn(&str) -> bool) -> Needs {
        let responsive = wanted("daemon.responsive");
        let process = wanted("daemon.process");
        let disk = wanted("disk.data-root");
        Needs {
            ping: wanted("daemon.reachable") || responsive || process,
            tiers: responsive,
            locate: process || disk || responsive,
        }
    }
}

pub type Outcome<T> = Option<Result<Timed<T>, EngineError>>;

/// Everything gathered in one pass.
#[derive(Debug, Default)]
pub struct Evidence {
    pub ping: Outcome<Response>,
    pub containers: Outcome<Vec<Container>>,
    pub info: Outcome<Value>,
    /// The daemon process; `None` when not needed or when /proc did not answer in time.
    pub located: Option<Located>,
    pub locate_timed_out: bool,
    pub engine_elapsed: Duration,
    pub locate_elapsed: Duration,
}

/// Gathers what `needs` asks for: the engine tiers and the /proc scan run at the same time.
pub async fn gather(engine: &Engine, needs: &Needs) -> Evidence {
    let engine_part = async {
        let t = Instant::now();
        let mut ping = None;
        let mut containers = None;
        let mut info = None;
        if needs.ping || needs.tiers {
            let p = engine.ping().await;
            let answered = p.is_ok();
            ping = Some(p);
            // A daemon that does not answer the ping will not answer the rest: stop here, so a
            // frozen daemon costs one deadline, not three.
            if needs.tiers && answered {
                let c = engine
                    .get_json::<Vec<Container>>("/containers/json?all=1")
                    .await;
                let listed = c.is_ok();
                containers = Some(c);
                if listed {
                    info = Some(engine.get_json::<Value>("/info").await);
                }
            }
        }
        (ping, containers, info, t.elapsed())
    };
    let locate_part = async {
        let t = Instant::now();
        if !needs.locate {
            return (None, false, t.elapsed());
        }
        let ep = engine.endpoint().clone();
        let located = blocking(engine.timeout(), move || locate(&ep)).await;
        let timed_out = located.is_none();
        (located, timed_out, t.elapsed())
    };
    let ((ping, containers, info, engine_elapsed), (located, locate_timed_out, locate_elapsed)) =
        tokio::join!(engine_part, locate_part);
    Evidence {
        ping,
        containers,
        info,
        located,
        locate_timed_out,
        engine_elapsed,
        locate_elapsed,
    }
}

impl Evidence {
    /// The time spent gathering what a check used, for its `elapsed_ms`.
    pub fn elapsed_for(&self, id: &str) -> Duration {
        match id {
            "daemon.reachable" => self.ping.as_ref().map_or(Duration::ZERO, |p| match p {
                Ok(t) => t.elapsed,
                Err(_) => self.engine_elapsed,
            }),
            "daemon.responsive" => self.engine_elapsed,
            "daemon.process" | "disk.data-root" => self.locate_elapsed,
            _ => Duration::ZERO,
        }
    }

    /// The answer to `/info`, when the engine gave one.
    pub fn info(&self) -> Option<&Value> {
        match &self.info {
            Some(Ok(t)) => Some(&t.value),
            _ => None,
        }
    }

    pub fn engine_answered(&self) -> bool {
        matches!(self.ping, Some(Ok(_)))
    }

    /// The data root: what the engine says, else what the process's flags and daemon.json say.
    pub fn data_root(&self) -> Option<(PathBuf, &'static str)> {
        if let Some(root) = self
            .info()
            .and_then(|i| i.get("DockerRootDir"))
            .and_then(Value::as_str)
        {
            return Some((PathBuf::from(root), "engine"));
        }
        match &self.located {
            Some(Located::Found(d)) => Some((d.paths.data_root.clone(), d.paths.data_root_source)),
            Some(Located::NotRunning { paths, .. }) => {
                Some((paths.data_root.clone(), paths.data_root_source))
            }
            _ => None,
        }
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        match &self.located {
            Some(Located::Found(d)) => Some(d.info.pid),
            _ => None,
        }
    }

    /// A short description of the daemon for the report's header.
    pub fn daemon_summary(&self) -> Value {
        let info = self.info();
        let ping = match &self.ping {
            Some(Ok(t)) => Some(&t.value),
            _ => None,
        };
        let s =
            |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).cloned().unwrap_or(Value::Null);
        let server = ping.and_then(|p| p.header("server")).map(str::to_string);
        json!({
            "pid": self.daemon_pid(),
            "version": info
                .and_then(|i| i.get("ServerVersion").cloned())
                .or_else(|| server.map(Value::String))
                .unwrap_or(Value::Null),
            "api_version": ping.and_then(|p| p.header("api-version")),
            "storage_driver": s(info, "Driver"),
            "data_root": self.data_root().map(|(p, _)| p),
            "containers": s(info, "Containers"),
            "containers_running": s(info, "ContainersRunning"),
            "images": s(info, "Images"),
            "live_restore": s(info, "LiveRestoreEnabled"),
            "service_manager": match &self.located {
                Some(Located::Found(d)) => Value::String(d.service.to_string()),
                _ => Value::Null,
            },
        })
    }
}

/// Judges one check from the evidence.
pub async fn judge(
    id: &str,
    ev: &Evidence,
    engine: &Engine,
    catalog: &Catalog,
    config: &Config,
) -> Finding {
    let th = |name: &str| config.threshold(catalog, id, name);
    match id {
        "daemon.reachable" => daemon::reachable(ev, engine),
        "daemon.responsive" => daemon::responsive(ev, th("slow_ms")),
        "daemon.process" => {
            daemon::process(
                ev,
                engine,
                daemon::ProcessLimits {
                    fd_warn: th("fd_warn_percent"),
                    fd_critical: th("fd_critical_percent"),
                    d_samples: th("d_state_samples") as u32,
                },
            )
            .await
        }
        "disk.data-root" => {
            disk::data_root(
                ev,
                engine.timeout(),
                disk::Limits {
                    space_warn: th("space_warn_percent"),
                    space_critical: th("space_critical_percent"),
                    inodes_warn: th("inodes_warn_percent"),
                    inodes_critical: th("inodes_critical_percent"),
                },
            )
            .await
        }
        other => Finding::new(
            super::Status::Unknown,
            format!("no probe for check {other}"),
        ),
    }
}

/// `"12.3 ms"` for sentences.
pub(crate) fn ms(d: Duration) -> String {
    crate::util::human_duration(d)
}

/// The error as evidence.
pub(crate) fn err_json(e: &EngineError) -> Value {
    json!({ "kind": e.kind(), "message": e.to_string() })
}
