//! Probes: one async function per check, all run at once, each under its own deadline.
//!
//! Facts several probes need — the ping, the container list, `/info`, the daemon process, the
//! inventory — live in [`Ctx`] and are gathered once, by whichever probe asks first, while the
//! others wait for the same answer. A daemon that does not answer the ping is asked nothing
//! else, so a frozen daemon costs one deadline, not one per probe.

pub mod config;
pub mod containers;
pub mod daemon;
pub mod disk;
pub mod images;
pub mod ports;
pub mod processes;
pub mod pulls;
pub mod storage;
pub mod volumes;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::Finding;
use super::catalog::Catalog;
use crate::config::Config;
use crate::df::DfReport;
use crate::runtime::blocking;
use crate::runtime::daemon::{Located, locate};
use crate::runtime::engine::{Engine, EngineError, Timed};
use crate::runtime::host::{self, ProcRow};
use crate::runtime::http::Response;
use crate::runtime::inventory::{
    Container, Inventory, container_records_from_disk, container_records_from_engine,
};
use crate::runtime::net::{self, ListenerTable};

/// A probe: given the shared context, a finding.
pub type ProbeFn = for<'c> fn(&'c Ctx<'c>) -> LocalBoxFuture<'c, Finding>;

pub struct Probe {
    pub id: &'static str,
    pub run: ProbeFn,
}

/// Declares a probe from an `async fn(&Ctx) -> Finding`.
macro_rules! probe {
    ($id:literal, $f:path) => {{
        fn run<'c>(
            c: &'c $crate::doctor::probes::Ctx<'c>,
        ) -> futures_util::future::LocalBoxFuture<'c, $crate::doctor::Finding> {
            Box::pin($f(c))
        }
        $crate::doctor::probes::Probe { id: $id, run }
    }};
}
pub(crate) use probe;

/// Every probe, by check id.
pub fn registry() -> Vec<Probe> {
    [
        daemon::probes(),
        disk::probes(),
        containers::probes(),
        ports::probes(),
        processes::probes(),
        pulls::probes(),
        images::probes(),
        storage::probes(),
        volumes::probes(),
        config::probes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A call's outcome and how long it took, answered or not.
pub type Attempt<T> = (Result<Timed<T>, EngineError>, Duration);

/// The engine tiers after the ping: the container list and `/info`, asked at once.
#[derive(Debug, Default)]
pub struct Tiers<'a> {
    pub containers: Option<&'a Attempt<Vec<Container>>>,
    pub info: Option<&'a Attempt<Value>>,
}

/// What the probes share.
pub struct Ctx<'r> {
    pub engine: &'r Engine,
    pub catalog: &'r Catalog,
    pub config: &'r Config,
    ping: OnceCell<Attempt<Response>>,
    list: OnceCell<Option<Attempt<Vec<Container>>>>,
    info: OnceCell<Option<Attempt<Value>>>,
    located: OnceCell<Option<Located>>,
    inventory: OnceCell<Option<Inventory>>,
    details: OnceCell<Option<Vec<Value>>>,
    processes: OnceCell<Option<Vec<ProcRow>>>,
    df: OnceCell<Result<DfReport, String>>,
    daemon_json: OnceCell<DaemonJson>,
    listeners: OnceCell<Option<ListenerTable>>,
}

/// The daemon's configuration file as found on this host.
#[derive(Debug, Clone)]
pub struct DaemonJson {
    pub path: PathBuf,
    /// `None` when the file does not exist (the daemon then runs on defaults).
    pub value: Option<Result<Value, String>>,
}

impl<'r> Ctx<'r> {
    pub fn new(engine: &'r Engine, catalog: &'r Catalog, config: &'r Config) -> Ctx<'r> {
        Ctx {
            engine,
            catalog,
            config,
            ping: OnceCell::new(),
            list: OnceCell::new(),
            info: OnceCell::new(),
            located: OnceCell::new(),
            inventory: OnceCell::new(),
            details: OnceCell::new(),
            processes: OnceCell::new(),
            df: OnceCell::new(),
            daemon_json: OnceCell::new(),
            listeners: OnceCell::new(),
        }
    }

    /// The per-call deadline.
    pub fn timeout(&self) -> Duration {
        self.engine.timeout()
    }

    /// How long one probe may take in all: three engine tiers in a row, and a margin.
    pub fn probe_deadline(&self) -> Duration {
        self.timeout() * 3 + Duration::from_secs(1)
    }

    /// A threshold of a check: the config's override, else the catalog's default.
    pub fn th(&self, check: &str, name: &str) -> f64 {
        self.config.threshold(self.catalog, check, name)
    }

    /// `GET /_ping`, once per run, and how long it took (answered or not).
    pub async fn ping(&self) -> &Attempt<Response> {
        self.ping
            .get_or_init(|| async {
                let t = Instant::now();
                let r = self.engine.ping().await;
                (r, t.elapsed())
            })
            .await
    }

    pub async fn engine_answered(&self) -> bool {
        self.ping().await.0.is_ok()
    }

    /// The container list and `/info`, each asked once the ping answered (not at all when it
    /// did not), at the same time, each under its own deadline: a wedged daemon costs one
    /// deadline, and each answer tells its own story (the list takes container locks, /info the
    /// storage driver's).
    pub async fn tiers(&self) -> Tiers<'_> {
        let (containers, info) = tokio::join!(self.list_attempt(), self.info_attempt());
        Tiers { containers, info }
    }

    async fn list_attempt(&self) -> Option<&Attempt<Vec<Container>>> {
        self.list
            .get_or_init(|| async {
                if !self.engine_answered().await {
                    return None;
                }
                let t = Instant::now();
                let c = self
                    .engine
                    .get_json::<Vec<Container>>("/containers/json?all=1")
                    .await;
                Some((c, t.elapsed()))
            })
            .await
            .as_ref()
    }

    async fn info_attempt(&self) -> Option<&Attempt<Value>> {
        self.info
            .get_or_init(|| async {
                if !self.engine_answered().await {
                    return None;
                }
                let t = Instant::now();
                Some((self.engine.get_json::<Value>("/info").await, t.elapsed()))
            })
            .await
            .as_ref()
    }

    /// The engine's `/info`, when it answered (without waiting for the container list).
    pub async fn info(&self) -> Option<&Value> {
        match self.info_attempt().await {
            Some((Ok(t), _)) => Some(&t.value),
            _ => None,
        }
    }

    /// The containers in every state, when the engine listed them.
    pub async fn containers(&self) -> Option<&[Container]> {
        match self.list_attempt().await {
            Some((Ok(t), _)) => Some(&t.value),
            _ => None,
        }
    }

    /// The daemon process on this host; `None` when /proc did not answer within the deadline.
    pub async fn located(&self) -> Option<&Located> {
        self.located
            .get_or_init(|| async {
                let ep = self.engine.endpoint().clone();
                blocking(self.timeout(), move || locate(&ep)).await
            })
            .await
            .as_ref()
    }

    /// The located daemon's pid, if the lookup has already run (does not start it).
    pub fn daemon_pid_now(&self) -> Option<i32> {
        match self.located.get() {
            Some(Some(Located::Found(d))) => Some(d.info.pid),
            _ => None,
        }
    }

    /// The whole inventory (containers from the tier above, images, volumes, networks), when
    /// the engine answers.
    pub async fn inventory(&self) -> Option<&Inventory> {
        self.inventory
            .get_or_init(|| async {
                if !self.engine_answered().await {
                    return None;
                }
                // The other lists need not wait for the container list.
                let (containers, mut inv) = tokio::join!(
                    self.containers(),
                    Inventory::take_without_containers(self.engine)
                );
                inv.containers = containers?.to_vec();
                Some(inv)
            })
            .await
            .as_ref()
    }

    /// Every container's inspect document, for the containers the engine lists (see
    /// [`container_records_from_disk`]).
    pub async fn container_details(&self) -> Option<&[Value]> {
        self.details
            .get_or_init(|| async {
                // The daemon's files are read while the engine lists; the list then says which
                // records are containers the engine knows (not one half-removed).
                let from_disk = async {
                    let (root, _) = self.data_root().await?;
                    container_records_from_disk(self.engine, &root).await
                };
                let (listed, from_disk) = tokio::join!(self.containers(), from_disk);
                let ids: HashSet<&str> = listed?.iter().map(|c| c.id.as_str()).collect();
                match from_disk {
                    Some(mut docs) => {
                        docs.retain(|d| {
                            d.get("Id")
                                .and_then(Value::as_str)
                                .is_some_and(|id| ids.contains(id))
                        });
                        Some(docs)
                    }
                    None => {
                        let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
                        Some(container_records_from_engine(self.engine, &ids).await)
                    }
                }
            })
            .await
            .as_deref()
    }

    /// The process table, read once; `None` when /proc did not answer within the deadline.
    pub async fn processes(&self) -> Option<&[ProcRow]> {
        self.processes
            .get_or_init(|| blocking(self.timeout() * 2, host::process_table))
            .await
            .as_deref()
    }

    /// TCP listeners in every network namespace and their owning pids (see [`net::listeners`]),
    /// read once; `None` when /proc did not answer within the deadline.
    pub async fn listeners(&self) -> Option<&ListenerTable> {
        self.listeners
            .get_or_init(|| blocking(self.timeout() * 2, net::listeners))
            .await
            .as_ref()
    }

    /// The storage map (`dockhand df`'s accounting), with walks bounded by twice the deadline:
    /// a check on a huge host reports lower bounds rather than holding up the run.
    pub async fn df(&self) -> Result<&DfReport, &str> {
        self.df
            .get_or_init(|| async {
                let opts = crate::df::Options {
                    walk_timeout: self.timeout() * 2,
                    threads: 4,
                };
                // The lists and /info this run already holds: df does not ask again, and scans
                // the disk while the lists come.
                let Some(info) = self.info().await else {
                    return Err("the engine did not answer (see daemon.responsive)".to_string());
                };
                let api = match &self.ping().await.0 {
                    Ok(t) => t.value.header("api-version").and_then(crate::df::parse_api),
                    Err(_) => None,
                }
                .unwrap_or((1, 41));
                let lists = async {
                    let inv = self
                        .inventory()
                        .await
                        .ok_or(crate::df::DfError::Unanswered)?;
                    if let Some((what, err)) = inv
                        .errors
                        .iter()
                        .find(|(w, _)| matches!(*w, "images" | "volumes"))
                    {
                        return Err(crate::df::DfError::Partial {
                            what,
                            err: err.clone(),
                        });
                    }
                    Ok(crate::df::Lists {
                        containers: &inv.containers,
                        images: &inv.images,
                        volumes: &inv.volumes,
                    })
                };
                crate::df::run_with(self.engine, &opts, info, api, lists)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .as_ref()
            .map_err(String::as_str)
    }

    /// The daemon's daemon.json: the `--config-file` of the running daemon, else
    /// /etc/docker/daemon.json.
    pub async fn daemon_json(&self) -> &DaemonJson {
        self.daemon_json
            .get_or_init(|| async {
                let path = match self.located().await {
                    Some(Located::Found(d)) => d.paths.config_file.clone(),
                    Some(Located::NotRunning { paths, .. }) => paths.config_file.clone(),
                    _ => PathBuf::from(crate::runtime::daemon::DEFAULT_CONFIG_FILE),
                };
                let p = path.clone();
                let value = blocking(self.timeout(), move || match std::fs::read_to_string(&p) {
                    Ok(text) => {
                        Some(serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => Some(Err(e.to_string())),
                })
                .await
                .unwrap_or_else(|| {
                    Some(Err(format!(
                        "reading it did not finish within {}",
                        ms(self.timeout())
                    )))
                });
                DaemonJson { path, value }
            })
            .await
    }

    /// The data root: what the engine says, else the process's flags, daemon.json, defaults.
    pub async fn data_root(&self) -> Option<(PathBuf, &'static str)> {
        if let Some(root) = self
            .info()
            .await
            .and_then(|i| i.get("DockerRootDir"))
            .and_then(Value::as_str)
        {
            return Some((PathBuf::from(root), "engine"));
        }
        match self.located().await {
            Some(Located::Found(d)) => Some((d.paths.data_root.clone(), d.paths.data_root_source)),
            Some(Located::NotRunning { paths, .. }) => {
                Some((paths.data_root.clone(), paths.data_root_source))
            }
            _ => None,
        }
    }

    /// A short description of the daemon for the report's header, from what was gathered.
    pub fn daemon_summary(&self) -> Value {
        let info = match self.info.get().and_then(Option::as_ref) {
            Some((Ok(t), _)) => Some(&t.value),
            _ => None,
        };
        let ping = match self.ping.get() {
            Some((Ok(t), _)) => Some(&t.value),
            _ => None,
        };
        let s = |k: &str| info.and_then(|v| v.get(k)).cloned().unwrap_or(Value::Null);
        let located = self.located.get().and_then(Option::as_ref);
        let data_root = s("DockerRootDir");
        json!({
            "pid": self.daemon_pid_now(),
            "version": info
                .and_then(|i| i.get("ServerVersion").cloned())
                .or_else(|| ping.and_then(|p| p.header("server")).map(|v| Value::String(v.to_string())))
                .unwrap_or(Value::Null),
            "api_version": ping.and_then(|p| p.header("api-version")),
            "storage_driver": s("Driver"),
            "data_root": if data_root.is_null() {
                match located {
                    Some(Located::Found(d)) => json!(d.paths.data_root),
                    _ => Value::Null,
                }
            } else {
                data_root
            },
            "containers": s("Containers"),
            "containers_running": s("ContainersRunning"),
            "images": s("Images"),
            "live_restore": s("LiveRestoreEnabled"),
            "service_manager": match located {
                Some(Located::Found(d)) => Value::String(d.service.to_string()),
                _ => Value::Null,
            },
        })
    }
}

/// The finding of a check that needs the engine when the ping went unanswered.
pub(crate) fn engine_silent() -> Finding {
    Finding::new(
        super::Status::Unknown,
        "the engine did not answer (see daemon.responsive)",
    )
}

/// The finding of a check that needs the container list when the engine did not give it.
pub(crate) fn unlisted() -> Finding {
    Finding::new(
        super::Status::Unknown,
        "the engine did not list its containers (see daemon.responsive)",
    )
}

impl Ctx<'_> {
    /// The container list, or the finding that says why a check cannot have it.
    pub async fn answered_containers(&self) -> Result<&[Container], Finding> {
        if !self.engine_answered().await {
            return Err(engine_silent());
        }
        self.containers().await.ok_or_else(unlisted)
    }

    /// The containers' records, or the finding that says why a check cannot have them.
    pub async fn answered_details(&self) -> Result<&[Value], Finding> {
        if !self.engine_answered().await {
            return Err(engine_silent());
        }
        self.container_details().await.ok_or_else(unlisted)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_probe_and_every_probe_a_check() {
        let cat = Catalog::builtin().expect("catalog");
        let reg = registry();
        for c in &cat.checks {
            assert!(reg.iter().any(|p| p.id == c.id), "no probe for {}", c.id);
        }
        for p in &reg {
            assert!(
                cat.get(p.id).is_some(),
                "probe {} has no checks/{}.toml",
                p.id,
                p.id
            );
        }
        let mut ids: Vec<&str> = reg.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), reg.len(), "one probe per check");
    }
}
