//! ONE snapshot of the host per run, filled lazily and shared by every command: the engine's
//! answers (ping, `/info`, the lists), the containers' records, the daemon's process and files,
//! the process table, the listeners, the storage map.
//!
//! Each fact is gathered once, by whichever caller asks first, while the others wait for the same
//! answer; nothing is fetched twice in a run. Each is there, or a typed [`Gap`] that says why not
//! (the engine was silent, no permission, it did not answer in time, the engine is remote). A
//! daemon that does not answer the ping is asked nothing else, so a frozen daemon costs one
//! deadline, not one per fact. Every read runs under a deadline: /proc and disk reads in threads
//! the deadline can abandon ([`crate::runtime::blocking`]), walks through
//! [`crate::runtime::storage::walk_many`], which gives up on a mount that stops answering.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub mod storage_map;

use crate::runtime::blocking;
use crate::runtime::containerd::{self, DaemonShims};
use crate::runtime::daemon::{Located, locate};
use crate::runtime::engine::{Engine, EngineError, Timed};
use crate::runtime::engine_kind::EngineKind;
use crate::runtime::host::{self, ProcRow};
use crate::runtime::http::Response;
use crate::runtime::inventory::{
    Container, ContainerRecord, Image, Network, Volume, container_records_from_disk,
    container_records_from_engine,
};
use crate::runtime::net::{self, ListenerTable};
use crate::util::human_duration;
use storage_map::DfReport;

/// Why a fact is missing. Each variant is one sentence for the operator (the `Display`); checks
/// turn a gap into an `unknown` finding, commands that need the fact into their error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Gap {
    /// The ping went unanswered: the engine was asked nothing else.
    #[error("{0}")]
    EngineSilent(EngineError),
    /// The engine answered the ping, but not this call.
    #[error("{what}: {err}")]
    Engine {
        what: &'static str,
        err: EngineError,
    },
    /// Not permitted to look (not root).
    #[error("{what} is not readable by this user (run as root)")]
    NoPermission { what: String },
    /// A read that did not finish within its deadline (a hung filesystem, a process stuck in D).
    #[error("{what} did not answer within {}", human_duration(*after))]
    TimedOut { what: String, after: Duration },
    /// The engine is on another host: its processes and files are not here.
    #[error(
        "the engine at {endpoint} is on another host: its processes and files are not visible here"
    )]
    Remote { endpoint: String },
    /// Anything else, as a sentence.
    #[error("{0}")]
    Other(String),
}

impl Gap {
    /// A short word for the kind of gap, for JSON evidence.
    pub fn kind(&self) -> &'static str {
        match self {
            Gap::EngineSilent(_) => "engine-silent",
            Gap::Engine { .. } => "engine",
            Gap::NoPermission { .. } => "permission",
            Gap::TimedOut { .. } => "timeout",
            Gap::Remote { .. } => "remote",
            Gap::Other(_) => "other",
        }
    }

    /// The gap as evidence.
    pub fn to_json(&self) -> Value {
        json!({ "kind": self.kind(), "message": self.to_string() })
    }
}

/// A fact: there, or why not.
pub type Fact<'a, T> = Result<&'a T, Gap>;

/// A call's outcome and how long it took, answered or not.
pub type Attempt<T> = (Result<Timed<T>, EngineError>, Duration);

/// How the storage map's walks are bounded.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    /// All walks together.
    pub deadline: Duration,
    /// One walk that makes no progress this long is given up (a mount that stopped answering).
    pub stall: Duration,
    pub threads: usize,
}

/// The daemon's configuration file as found on this host.
#[derive(Debug, Clone)]
pub struct DaemonJson {
    pub path: PathBuf,
    /// `None` when the file does not exist (the daemon then runs on defaults).
    pub value: Option<Result<Value, String>>,
}

/// The run's snapshot of the host. Cheap to create: nothing is read until asked.
pub struct Facts {
    engine: Engine,
    walks: WalkLimits,
    /// The caller reads the containers' records anyway ([`Facts::sharing_records`]): the storage
    /// map sizes the logs from their log configuration instead of reading every
    /// hostconfig.json a second time.
    logs_from_records: bool,
    ping: OnceCell<Attempt<Response>>,
    list: OnceCell<Option<Attempt<Vec<Container>>>>,
    info: OnceCell<Option<Attempt<Value>>>,
    images: OnceCell<Result<Vec<Image>, Gap>>,
    volumes: OnceCell<Result<Vec<Volume>, Gap>>,
    networks: OnceCell<Result<Vec<Network>, Gap>>,
    located: OnceCell<Result<Located, Gap>>,
    records: OnceCell<Result<Vec<ContainerRecord>, Gap>>,
    processes: OnceCell<Result<Vec<ProcRow>, Gap>>,
    shims: OnceCell<Result<DaemonShims, Gap>>,
    listeners: OnceCell<Result<ListenerTable, Gap>>,
    storage: OnceCell<Result<DfReport, Gap>>,
    daemon_json: OnceCell<DaemonJson>,
}

impl Facts {
    /// A snapshot of the host behind `engine`. The storage map's walks are bounded by the
    /// engine's deadline (doctor's budget); `df` widens them with [`Facts::with_walks`].
    pub fn new(engine: Engine) -> Facts {
        let t = engine.timeout();
        Facts {
            walks: WalkLimits {
                deadline: t,
                stall: t,
                threads: 4,
            },
            engine,
            ping: OnceCell::new(),
            list: OnceCell::new(),
            info: OnceCell::new(),
            images: OnceCell::new(),
            volumes: OnceCell::new(),
            networks: OnceCell::new(),
            located: OnceCell::new(),
            records: OnceCell::new(),
            processes: OnceCell::new(),
            shims: OnceCell::new(),
            listeners: OnceCell::new(),
            storage: OnceCell::new(),
            daemon_json: OnceCell::new(),
            logs_from_records: false,
        }
    }

    /// Says the caller will read [`Facts::records`] as well as [`Facts::storage_map`]: the map
    /// then takes each container's log configuration from its record (one read of its
    /// hostconfig.json, not two — on a host with 10,000 containers, 10,000 files fewer). A
    /// caller that reads only the map (`df`) should not say so: it would read every record for
    /// nothing. Either way the figures are the same.
    pub fn sharing_records(mut self) -> Facts {
        self.logs_from_records = true;
        self
    }

    pub(crate) fn logs_from_records(&self) -> bool {
        self.logs_from_records
    }

    pub fn with_walks(mut self, walks: WalkLimits) -> Facts {
        self.walks = walks;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The per-call deadline.
    pub fn timeout(&self) -> Duration {
        self.engine.timeout()
    }

    pub fn walk_limits(&self) -> WalkLimits {
        self.walks
    }

    // -----------------------------------------------------------------------------------------
    // The engine
    // -----------------------------------------------------------------------------------------

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

    /// Records that the engine is not to be asked: its process on this host is stopped (read
    /// from /proc), so the ping and every call after it fail at once with
    /// [`EngineError::Stopped`] instead of each waiting out its deadline. Does nothing once the
    /// ping has been asked.
    pub fn engine_stopped(&self, pid: i32, state: char) {
        let _ = self
            .ping
            .set((Err(EngineError::Stopped { pid, state }), Duration::ZERO));
    }

    pub async fn engine_answered(&self) -> bool {
        self.ping().await.0.is_ok()
    }

    /// The gap of a fact that needs the engine, when the ping went unanswered.
    async fn silent(&self) -> Gap {
        match &self.ping().await.0 {
            Err(e) => Gap::EngineSilent(e.clone()),
            Ok(_) => Gap::Other("the engine answered the ping".into()),
        }
    }

    /// The engine's API version from the ping's headers (`(1, 41)`), when it answered.
    pub async fn api_version(&self) -> Option<(u32, u32)> {
        match &self.ping().await.0 {
            Ok(t) => t
                .value
                .header("api-version")
                .and_then(storage_map::parse_api),
            Err(_) => None,
        }
    }

    /// Which engine answers (dockerd or Podman): the ping's headers once it has answered, before
    /// that the program serving the socket on this host; asks nothing new. `Unknown` when
    /// neither says.
    pub async fn engine_kind(&self) -> EngineKind {
        if let Some(ping) = self.ping.get() {
            return Self::kind_of(ping);
        }
        // The program serving the socket says it without asking the engine: checks that read
        // /proc must not wait out the ping's deadline on a frozen dockerd to learn it is one.
        if let Ok(Located::Found(d)) = self.located().await {
            match crate::runtime::daemon::program_name(&d.info).as_str() {
                "dockerd" => return EngineKind::Docker,
                "podman" => return EngineKind::Podman,
                _ => {}
            }
        }
        Self::kind_of(self.ping().await)
    }

    /// [`Facts::engine_kind`] if the ping has already been answered (does not ask it).
    pub fn engine_kind_now(&self) -> EngineKind {
        self.ping.get().map_or(EngineKind::Unknown, Self::kind_of)
    }

    fn kind_of(ping: &Attempt<Response>) -> EngineKind {
        match &ping.0 {
            Ok(t) => EngineKind::from_ping(
                t.value.header("server"),
                t.value.header("libpod-api-version"),
            ),
            Err(_) => EngineKind::Unknown,
        }
    }

    /// Runs `call` only when the ping answered: a silent engine is asked nothing else.
    async fn when_answered<T, F>(&self, what: &'static str, call: F) -> Result<T, Gap>
    where
        F: std::future::Future<Output = Result<Timed<T>, EngineError>>,
    {
        if let Err(e) = &self.ping().await.0 {
            return Err(Gap::EngineSilent(e.clone()));
        }
        call.await
            .map(|t| t.value)
            .map_err(|err| Gap::Engine { what, err })
    }

    /// The container list (`GET /containers/json?all=1`) with its latency, once the ping
    /// answered; `None` when it did not. The list takes the daemon's container locks, so its
    /// latency is one of the health tiers.
    pub async fn list_attempt(&self) -> Option<&Attempt<Vec<Container>>> {
        self.list
            .get_or_init(|| async {
                if !self.engine_answered().await {
                    return None;
                }
                let t = Instant::now();
                // Decoded as it arrives: the 7 MB list of a 10,000-container host is never
                // held whole.
                let c = self
                    .engine
                    .get_json_array::<Container>("/containers/json?all=1")
                    .await;
                Some((c, t.elapsed()))
            })
            .await
            .as_ref()
    }

    /// `GET /info` with its latency, once the ping answered (without waiting for the list).
    pub async fn info_attempt(&self) -> Option<&Attempt<Value>> {
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

    /// The containers in every state.
    pub async fn containers(&self) -> Fact<'_, [Container]> {
        match self.list_attempt().await {
            Some((Ok(t), _)) => Ok(&t.value),
            Some((Err(e), _)) => Err(Gap::Engine {
                what: "the engine did not list its containers",
                err: e.clone(),
            }),
            None => Err(self.silent().await),
        }
    }

    /// The engine's `/info`.
    pub async fn info(&self) -> Fact<'_, Value> {
        match self.info_attempt().await {
            Some((Ok(t), _)) => Ok(&t.value),
            Some((Err(e), _)) => Err(Gap::Engine {
                what: "the engine did not answer /info",
                err: e.clone(),
            }),
            None => Err(self.silent().await),
        }
    }

    /// The images (`GET /images/json`).
    pub async fn images(&self) -> Fact<'_, [Image]> {
        self.images
            .get_or_init(|| {
                self.when_answered(
                    "the engine did not list its images",
                    self.engine.get_json::<Vec<Image>>("/images/json"),
                )
            })
            .await
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The volumes (`GET /volumes`).
    pub async fn volumes(&self) -> Fact<'_, [Volume]> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase", default)]
        struct VolumeList {
            volumes: Option<Vec<Volume>>,
        }
        self.volumes
            .get_or_init(|| async {
                self.when_answered(
                    "the engine did not list its volumes",
                    self.engine.get_json::<VolumeList>("/volumes"),
                )
                .await
                .map(|l| l.volumes.unwrap_or_default())
            })
            .await
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The networks (`GET /networks`). The list leaves out each network's containers (API
    /// 1.28 and up): ask `GET /networks/<id>` for those.
    pub async fn networks(&self) -> Fact<'_, [Network]> {
        self.networks
            .get_or_init(|| {
                self.when_answered(
                    "the engine did not list its networks",
                    self.engine.get_json::<Vec<Network>>("/networks"),
                )
            })
            .await
            .as_deref()
            .map_err(Clone::clone)
    }

    /// Every listed container's record (state, config, host config, networks), typed: read from
    /// the daemon's own files while the engine lists (one file per container, no API call per
    /// container), else asked of the engine one by one. Only containers the engine lists are
    /// kept (not one half-removed).
    pub async fn records(&self) -> Fact<'_, [ContainerRecord]> {
        self.records
            .get_or_init(|| async {
                let from_disk = async {
                    let root = self.data_root().await?.0;
                    container_records_from_disk(self.timeout() * 2, &root).await
                };
                let (listed, from_disk) = tokio::join!(self.containers(), from_disk);
                let listed = listed?;
                let ids: HashSet<&str> = listed.iter().map(|c| c.id.as_str()).collect();
                Ok(match from_disk {
                    Some(mut recs) => {
                        recs.retain(|r| ids.contains(r.id.as_str()));
                        self.refresh_stale_health(listed, &mut recs).await;
                        recs.shrink_to_fit();
                        recs
                    }
                    None => {
                        let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
                        container_records_from_engine(&self.engine, &ids).await
                    }
                })
            })
            .await
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The daemon's file keeps a container's health as of its last write, and newer engines
    /// (Docker 28 measured) no longer write it after every probe: a check that turned unhealthy
    /// can still read "starting" on disk. The list's status text (`Up 5 minutes (unhealthy)`) is
    /// the engine's live word; where it disagrees with the file, that container's record is asked
    /// of the engine. Only those: a steady host costs no extra call.
    async fn refresh_stale_health(&self, listed: &[Container], recs: &mut [ContainerRecord]) {
        let live: HashMap<&str, &str> = listed
            .iter()
            .filter_map(|c| Some((c.id.as_str(), health_word(&c.status)?)))
            .collect();
        let stale: Vec<String> = recs
            .iter()
            .filter(|r| {
                live.get(r.id.as_str()).is_some_and(|word| {
                    r.state.health.as_ref().map(|h| h.status.as_str()) != Some(*word)
                })
            })
            .map(|r| r.id.clone())
            .collect();
        if stale.is_empty() {
            return;
        }
        let fresh = container_records_from_engine(&self.engine, &stale).await;
        for f in fresh {
            if let Some(r) = recs.iter_mut().find(|r| r.id == f.id) {
                r.state.health = f.state.health;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // The host
    // -----------------------------------------------------------------------------------------

    /// The daemon process on this host.
    pub async fn located(&self) -> Fact<'_, Located> {
        self.located
            .get_or_init(|| async {
                let ep = self.engine.endpoint().clone();
                match blocking(self.timeout(), move || locate(&ep)).await {
                    Some(Located::Remote) => Err(Gap::Remote {
                        endpoint: self.engine.endpoint().to_string(),
                    }),
                    Some(l) => Ok(l),
                    None => Err(Gap::TimedOut {
                        what: format!(
                            "{} (looking for the daemon's process)",
                            crate::runtime::proc::ROOT
                        ),
                        after: self.timeout(),
                    }),
                }
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The located daemon's pid, if the lookup has already run (does not start it).
    pub fn daemon_pid_now(&self) -> Option<i32> {
        match self.located.get() {
            Some(Ok(Located::Found(d))) => Some(d.info.pid),
            _ => None,
        }
    }

    /// The process table, read once.
    pub async fn processes(&self) -> Fact<'_, [ProcRow]> {
        self.processes
            .get_or_init(|| async {
                blocking(self.timeout() * 2, host::process_table)
                    .await
                    .ok_or_else(|| Gap::TimedOut {
                        what: format!("{} (the process table)", crate::runtime::proc::ROOT),
                        after: self.timeout() * 2,
                    })
            })
            .await
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The shims of the located daemon, found once per run by [`containerd::daemon_shims`] on
    /// the process table: doctor, `reap` and `ports` see the same ones. A gap when no daemon was
    /// found, the process table is one, or comparing the shims' containerd addresses did not
    /// finish in time (a hung mount on the way).
    pub async fn shims(&self) -> Fact<'_, DaemonShims> {
        self.shims
            .get_or_init(|| async {
                let d = match self.located().await? {
                    Located::Found(d) => d,
                    _ => return Err(Gap::Other("the daemon's process was not found".into())),
                };
                let procs = self.processes().await?.to_vec();
                let dj = self.daemon_json().await;
                let json = dj.value.as_ref().and_then(|v| v.as_ref().ok());
                let scope = containerd::containerd_of(&d.info.cmdline, json, &d.paths.exec_root);
                let uid = d.uid;
                blocking(self.timeout(), move || {
                    containerd::daemon_shims(&procs, uid, &scope)
                })
                .await
                .ok_or_else(|| Gap::TimedOut {
                    what: "comparing the shims' containerd addresses".into(),
                    after: self.timeout(),
                })
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The subnets of this daemon's networks (their IPAM config), in the engine's order: which
    /// docker-proxy's container address is the daemon's own. The one reading doctor, `ports`,
    /// `reap` and `recover` share; a gap when the engine does not list its networks.
    pub async fn subnets(&self) -> Result<Vec<String>, Gap> {
        Ok(self
            .networks()
            .await?
            .iter()
            .flat_map(|n| n.ipam.config.iter())
            .map(|c| c.subnet.clone())
            .filter(|s| !s.is_empty())
            .collect())
    }

    /// TCP and UDP listeners in every network namespace, their owning pids and users, read once.
    pub async fn listeners(&self) -> Fact<'_, ListenerTable> {
        self.listeners
            .get_or_init(|| async {
                blocking(self.timeout() * 2, net::listeners)
                    .await
                    .ok_or_else(|| Gap::TimedOut {
                        what: format!("{} (the sockets' table)", crate::runtime::proc::ROOT),
                        after: self.timeout() * 2,
                    })
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Image id → its layer chain (chain ids, base first) as the engine reports it: each image's
    /// `RootFS.Layers` (one inspect per image, eight at a time). For gc's base-image protection
    /// where the layer store was not read (the containerd image store, not root); not kept in
    /// the snapshot, as only gc asks, once. Images the engine did not answer for are left out.
    pub async fn image_chains_from_engine(
        &self,
        ids: &[String],
    ) -> std::collections::HashMap<String, Vec<String>> {
        if !self.engine_answered().await {
            return std::collections::HashMap::new();
        }
        crate::runtime::inventory::image_diff_ids(&self.engine, ids)
            .await
            .into_iter()
            .map(|(id, diffs)| (id, crate::runtime::inventory::chain_ids(&diffs)))
            .collect()
    }

    /// The data root and where the answer came from: what the engine says, else the process's
    /// flags, daemon.json, defaults.
    pub async fn data_root(&self) -> Option<(PathBuf, &'static str)> {
        if let Ok(root) = self.info().await
            && let Some(root) = root.get("DockerRootDir").and_then(Value::as_str)
        {
            return Some((PathBuf::from(root), "engine"));
        }
        match self.located().await {
            Ok(Located::Found(d)) => Some((d.paths.data_root.clone(), d.paths.data_root_source)),
            Ok(Located::NotRunning { paths, .. }) => {
                Some((paths.data_root.clone(), paths.data_root_source))
            }
            _ => None,
        }
    }

    /// The daemon's daemon.json: the `--config-file` of the running daemon, else
    /// /etc/docker/daemon.json.
    pub async fn daemon_json(&self) -> &DaemonJson {
        self.daemon_json
            .get_or_init(|| async {
                let path = match self.located().await {
                    Ok(Located::Found(d)) => d.paths.config_file.clone(),
                    Ok(Located::NotRunning { paths, .. }) => paths.config_file.clone(),
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
                        human_duration(self.timeout())
                    )))
                });
                DaemonJson { path, value }
            })
            .await
    }

    /// The storage map (`dockhand df`'s accounting): layers, writable layers, logs, volumes,
    /// build cache and leftovers. Walks are bounded by [`WalkLimits`]: a huge host gives lower
    /// bounds, a mount that stopped answering is named and given up on, and the rest is intact.
    pub async fn storage_map(&self) -> Fact<'_, DfReport> {
        self.storage
            .get_or_init(|| storage_map::build(self))
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A short description of the daemon for a report's header, from what was gathered (asks
    /// nothing new).
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
        let located = self.located.get().and_then(|r| r.as_ref().ok());
        let data_root = s("DockerRootDir");
        json!({
            "engine": self.engine_kind_now(),
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

/// The health word in the container list's status text: `Up 3 minutes (unhealthy)`,
/// `(healthy)`, `(health: starting)`; `None` without a health check (or not running).
fn health_word(status: &str) -> Option<&'static str> {
    if status.ends_with("(unhealthy)") {
        Some("unhealthy")
    } else if status.ends_with("(healthy)") {
        Some("healthy")
    } else if status.ends_with("(health: starting)") {
        Some("starting")
    } else {
        None
    }
}

#[cfg(test)]
mod health_word_tests {
    use super::health_word;

    #[test]
    fn the_list_status_text_names_the_live_health() {
        let cases = [
            ("Up 3 minutes (unhealthy)", Some("unhealthy")),
            ("Up 3 minutes (healthy)", Some("healthy")),
            ("Up 2 seconds (health: starting)", Some("starting")),
            ("Up 3 minutes", None),
            ("Exited (0) 2 minutes ago", None),
            ("Up 3 minutes (Paused)", None),
        ];
        for (text, want) in cases {
            assert_eq!(health_word(text), want, "{text}");
        }
    }
}
