//! Typed records of what the engine holds — containers in every state (the list and each one's
//! record), images, volumes, networks. [`crate::facts::Facts`] gathers them once per run.
//!
//! Lean structs with defaults: the fields used here exist from API 1.24 through 1.56 and in
//! Podman's compat API, and a field an engine leaves out is not an error. What changes between
//! versions (and Podman) is normalised here, once: a state in Podman's or the reference
//! example's words becomes Docker's, and an image's `Containers` of -1 ("not counted", before
//! API 1.51) is no count at all. `shapes.rs` feeds each version's documented shapes through these
//! parsers (docs/engines.md).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::engine::Engine;

/// A container as the engine lists it (`GET /containers/json?all=1`), reduced to what is read
/// here: who it is, its image, its state and the volumes it mounts. The list grows with the
/// host and lives for the whole run, so what nothing reads — labels, command, status text,
/// ports, mounts' paths: most of the engine's ~700 bytes per container — is skipped while
/// parsing and never stored. (Each container's full record is [`ContainerRecord`].)
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    pub id: String,
    #[serde(deserialize_with = "de_null_default")]
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub created: i64,
    /// In Docker's words (see [`docker_state`]): created, running, paused, restarting,
    /// removing, exited, dead.
    #[serde(deserialize_with = "de_state")]
    pub state: String,
    pub status: String,
    pub labels: Option<SmallMap<String>>,
    #[serde(deserialize_with = "de_null_default")]
    pub mounts: Vec<MountPoint>,
}

/// A mount of a container, as the list reports it: its kind, and the volume's name.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: Option<String>,
}

impl Container {
    /// The name without the leading slash.
    pub fn name(&self) -> &str {
        self.names.first().map_or("", |n| n.trim_start_matches('/'))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Image {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Option<Vec<String>>,
    pub repo_digests: Option<Vec<String>>,
    pub created: i64,
    pub size: i64,
    /// Containers (any state) created from it, when the engine counted them: `-1` ("not
    /// computed", what `/images/json` says before API 1.51) is `None`, never a count.
    #[serde(deserialize_with = "de_count")]
    pub containers: Option<u64>,
    pub labels: Option<SmallMap<String>>,
}

impl Image {
    /// No tag, or only `<none>:<none>`.
    pub fn is_dangling(&self) -> bool {
        self.repo_tags
            .as_ref()
            .is_none_or(|t| t.iter().all(|t| t == "<none>:<none>"))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub labels: Option<SmallMap<String>>,
    /// RFC 3339, as the engine writes it (API 1.26 and up).
    pub created_at: Option<String>,
}

impl Volume {
    /// Named by the engine (64 hex digits, or labelled anonymous) rather than by a person: what
    /// the engine says of the volume, read where its records are read.
    pub fn is_anonymous(&self) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|l| l.contains_key("com.docker.volume.anonymous"))
            || (self.name.len() == 64 && self.name.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    /// "local", "swarm", "global".
    pub scope: String,
    #[serde(deserialize_with = "de_time")]
    #[serde(skip_serializing)]
    pub created: Option<f64>,
    #[serde(deserialize_with = "de_null_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    #[serde(deserialize_with = "de_null_default")]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    pub subnet: String,
}

impl Network {
    /// The networks every engine creates and never lets anyone remove.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
}

/// Every container's record as the daemon keeps it on disk: every
/// `<data-root>/containers/<id>/config.v2.json` with its `hostconfig.json` — one file read per
/// container instead of one API call. Needs no list from the engine, so it can run while the
/// engine lists; callers keep the records of the containers the engine lists. Runs in a thread
/// the deadline can abandon (a data root on a filesystem that stopped answering must not hold the
/// run). `None` when the data root is unreadable (not root) or the reads did not finish in time.
pub async fn container_records_from_disk(
    deadline: std::time::Duration,
    data_root: &std::path::Path,
) -> Option<Vec<ContainerRecord>> {
    let root = data_root.to_path_buf();
    super::blocking(deadline, move || {
        let dir = root.join("containers");
        // Unreadable (not root): no records, rather than an empty list.
        std::fs::read_dir(&dir).ok()?;
        let open = std::fs::File::open(&dir).ok()?;
        let ids = super::entry_names(&dir);
        Some(super::par_map(&ids, |id| record_from_disk(&open, id)))
    })
    .await
    .flatten()
}

/// The same records from the engine, `GET /containers/<id>/json`, eight at a time, each under
/// the deadline. A container that vanished in between is left out.
pub async fn container_records_from_engine(
    engine: &Engine,
    ids: &[String],
) -> Vec<ContainerRecord> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(8) {
        let paths: Vec<String> = chunk
            .iter()
            .map(|id| format!("/containers/{id}/json"))
            .collect();
        let calls = paths.iter().map(|p| engine.get_json::<ContainerRecord>(p));
        for r in futures_util::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
        {
            out.push(r.value);
        }
    }
    out
}

/// Each image's layers as the engine reports them — `RootFS.Layers` of
/// `GET /images/<id>/json`, the uncompressed layers' digests (diff ids), base first — eight
/// at a time, each under the deadline. Both image stores answer it (the classic one from its
/// layer store, the containerd one from the image's config). An image that vanished in
/// between, or whose answer did not come, is left out.
pub async fn image_diff_ids(engine: &Engine, ids: &[String]) -> HashMap<String, Vec<String>> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Inspect {
        id: String,
        root_f_s: RootFs,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct RootFs {
        layers: Vec<String>,
    }
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(8) {
        let paths: Vec<String> = chunk
            .iter()
            .map(|id| format!("/images/{id}/json"))
            .collect();
        let calls = paths.iter().map(|p| engine.get_json::<Inspect>(p));
        let answers = futures_util::future::join_all(calls).await;
        if answers.iter().all(Result::is_err) {
            // Not one of eight answered: an engine that stopped answering would cost a deadline
            // per eight images. The rest are left out, as unanswered.
            break;
        }
        for (id, r) in chunk.iter().zip(answers) {
            // Keyed by the id asked for (the list's), whatever spelling the answer uses.
            if let Ok(t) = r
                && (t.value.id.is_empty() || t.value.id == *id)
            {
                out.insert(id.clone(), t.value.root_f_s.layers);
            }
        }
    }
    out
}

/// The chain ids of a list of diff ids, base first, as the OCI image spec defines them:
/// the first is its diff id, each next `sha256(<previous chain id> + " " + <diff id>)`. Two
/// images share a chain id exactly when they share every layer up to it, so one image is a
/// base of another when its chain is a prefix of the other's — on either image store.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                let sum = Sha256::digest(format!("{prev} {d}").as_bytes());
                let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            }
        };
        out.push(next);
    }
    out
}

/// The daemon's own record of a container (`config.v2.json`, with `hostconfig.json` as
/// `HostConfig`): the same shape as the engine's inspect answer.
fn record_from_disk(containers: &std::fs::File, id: &str) -> Option<ContainerRecord> {
    let mut rec: ContainerRecord =
        super::with_file_at(containers, &format!("{id}/config.v2.json"), |b| {
            serde_json::from_slice(b).ok()
        })?;
    rec.host_config = super::with_file_at(containers, &format!("{id}/hostconfig.json"), |b| {
        serde_json::from_slice(b).ok()
    })
    .unwrap_or_default();
    Some(rec)
}

/// A container's record — the engine's inspect answer, or the daemon's config.v2.json — typed,
/// reduced to what dockhand judges. The rest (environment, mounts' details, the stream config,
/// network endpoints' settings) is skipped while parsing, without allocating, so a host with
/// thousands of containers costs about a kilobyte per container. Times are parsed once, here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerRecord {
    #[serde(alias = "ID")]
    pub id: String,
    /// With the engine's leading slash; see [`ContainerRecord::name`].
    #[serde(rename = "Name")]
    pub raw_name: String,
    /// Seconds since the epoch; `None` for Go's zero time.
    #[serde(deserialize_with = "de_time")]
    pub created: Option<f64>,
    /// The image id (`sha256:…`).
    pub image: String,
    pub path: String,
    #[serde(deserialize_with = "de_strings")]
    pub args: Vec<String>,
    pub restart_count: u64,
    pub state: RecordState,
    pub config: RecordConfig,
    pub host_config: RecordHost,
    pub network_settings: RecordNetwork,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordState {
    /// Only in the engine's answer; the daemon's file has the flags below. In Docker's words
    /// (see [`docker_state`]).
    #[serde(deserialize_with = "de_state")]
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub removal_in_progress: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub error: String,
    #[serde(deserialize_with = "de_time")]
    pub started_at: Option<f64>,
    #[serde(deserialize_with = "de_time")]
    pub finished_at: Option<f64>,
    /// Boxed: most containers have no health check, and a record is kept per container.
    /// `None` also for Podman's empty record (`{"Status": ""}`), which it sends for every
    /// container, health check or not.
    #[serde(deserialize_with = "de_health")]
    pub health: Option<Box<RecordHealth>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordHealth {
    pub status: String,
    pub failing_streak: u64,
    /// The last results the daemon keeps (five), oldest first.
    #[serde(deserialize_with = "de_null_default")]
    pub log: Vec<HealthRun>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthRun {
    #[serde(deserialize_with = "de_time")]
    pub start: Option<f64>,
    #[serde(deserialize_with = "de_time")]
    pub end: Option<f64>,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordConfig {
    /// `null`, a list, or (old engines) one string.
    #[serde(deserialize_with = "de_strings")]
    pub cmd: Vec<String>,
    #[serde(deserialize_with = "de_strings")]
    pub entrypoint: Vec<String>,
    /// The image as the user named it.
    pub image: String,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub healthcheck: Option<RecordHealthcheck>,
    #[serde(deserialize_with = "de_null_default")]
    pub labels: SmallMap<String>,
    /// `{"80/tcp": {}}`: the ports the image or `--expose` declares.
    #[serde(deserialize_with = "de_keys")]
    pub exposed_ports: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordHealthcheck {
    /// Nanoseconds; 0 means the default.
    pub interval: u64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordHost {
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub log_config: LogConfig,
    /// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
    #[serde(deserialize_with = "de_null_default")]
    pub port_bindings: SmallMap<Option<Vec<PortBinding>>>,
    pub network_mode: String,
    /// The memory limit in bytes; 0 (or null) for none.
    #[serde(deserialize_with = "de_null_default")]
    pub memory: i64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(deserialize_with = "de_null_default")]
    pub config: SmallMap<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecordNetwork {
    #[serde(deserialize_with = "de_null_default")]
    pub networks: SmallMap<NetworkEndpoint>,
    /// The live mapping, same shape as `PortBindings`.
    #[serde(deserialize_with = "de_null_default")]
    pub ports: SmallMap<Option<Vec<PortBinding>>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkEndpoint {
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
}

impl ContainerRecord {
    /// The name without the leading slash.
    pub fn name(&self) -> &str {
        self.raw_name.trim_start_matches('/')
    }

    /// The state as `docker ps` words it: running, paused, restarting, removing, dead, created,
    /// exited. The daemon's own file has no `Status`; it is derived the way the engine derives
    /// it (moby's `State.StateString`).
    pub fn state_word(&self) -> &str {
        let s = &self.state;
        if !s.status.is_empty() {
            return &s.status;
        }
        if s.running {
            if s.paused {
                "paused"
            } else if s.restarting {
                "restarting"
            } else {
                "running"
            }
        } else if s.removal_in_progress {
            "removing"
        } else if s.dead {
            "dead"
        } else if s.started_at.is_none() {
            "created"
        } else {
            "exited"
        }
    }

    /// Started with its output attached to a client (no `-d`).
    pub fn attached(&self) -> bool {
        self.config.attach_stdout || self.config.attach_stderr
    }

    /// The command the container runs: its entrypoint, then its `Cmd`.
    pub fn command(&self) -> Vec<String> {
        self.config
            .entrypoint
            .iter()
            .chain(self.config.cmd.iter())
            .cloned()
            .collect()
    }

    /// The health check's interval (`--health-interval`), when set.
    pub fn health_interval(&self) -> Option<std::time::Duration> {
        self.config
            .healthcheck
            .as_ref()
            .map(|h| h.interval)
            .filter(|n| *n > 0)
            .map(std::time::Duration::from_nanos)
    }

    /// The IPv4 subnets of the networks it has an address on ("172.18.0.0/16"), from its own
    /// record: what tells an orphan docker-proxy to be this daemon's when the engine cannot
    /// be asked for its networks.
    pub fn subnets(&self) -> Vec<String> {
        self.network_settings
            .networks
            .values()
            .filter_map(|n| {
                let ip: std::net::Ipv4Addr = n.ip_address.parse().ok()?;
                let len = n.ip_prefix_len;
                if len == 0 || len > 32 {
                    return None;
                }
                let mask = u32::MAX << (32 - len);
                let net = std::net::Ipv4Addr::from(u32::from(ip) & mask);
                Some(format!("{net}/{len}"))
            })
            .collect()
    }

    /// The IP addresses the container has, on every network.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.network_settings.networks.values().flat_map(|n| {
            [n.ip_address.as_str(), n.global_ipv6_address.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
        })
    }
}

/// A container's state in Docker's words. The engine's own answers are lower case already; the
/// API reference's list example (1.41 to 1.47) writes `Exited`, and Podman's compat API has
/// states Docker does not: `configured` and `initialized` (created, never run), `stopping` (still
/// running until it stops), `stopped` (exited, not yet cleaned up). Anything else is kept, lower
/// case.
pub fn docker_state(word: &str) -> String {
    let w = word.trim().to_ascii_lowercase();
    match w.as_str() {
        "configured" | "initialized" => "created".into(),
        "stopping" => "running".into(),
        "stopped" => "exited".into(),
        _ => w,
    }
}

fn de_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.as_deref().map(docker_state).unwrap_or_default())
}

/// A health record, `None` when it has no status: Podman's compat inspect sends
/// `{"Status": "", "FailingStreak": 0, "Log": null}` for a container without a health check.
fn de_health<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Box<RecordHealth>>, D::Error> {
    let h: Option<Box<RecordHealth>> = Option::deserialize(d)?;
    Ok(h.filter(|h| !h.status.is_empty()))
}

/// A count the engine may leave uncomputed: `-1` (or any negative number, or `null`) is `None`.
fn de_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n: Option<i64> = Option::deserialize(d)?;
    Ok(n.and_then(|n| u64::try_from(n).ok()))
}

/// A JSON object of a container's record — labels, networks, port bindings, log options — as a
/// list of pairs sorted by key, with the map's lookups. These objects hold one to a few
/// entries, and a record is kept per container: a `BTreeMap` allocates a node of eleven
/// slots for its first entry (~800 bytes for a network endpoint), this list exactly what it
/// holds (~70). Iterates in key order, as a `BTreeMap` would; a key given twice keeps its last
/// value, as a `BTreeMap` built from the same JSON would.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallMap<V>(Vec<(String, V)>);

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<V> SmallMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<V> FromIterator<(String, V)> for SmallMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(String, V)> = iter.into_iter().collect();
        // Stable: of equal keys, the last given ends up last, and is the one kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        pairs.shrink_to_fit();
        SmallMap(pairs)
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for SmallMap<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SmallMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Pairs<V> {
            type Value = SmallMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(m.size_hint().unwrap_or(0).min(16));
                while let Some(kv) = m.next_entry::<String, V>()? {
                    pairs.push(kv);
                }
                Ok(pairs.into_iter().collect())
            }
        }
        d.deserialize_map(Pairs(std::marker::PhantomData))
    }
}

/// An RFC 3339 time as the engine writes it, parsed once; Go's zero time and garbage are `None`.
fn de_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.as_deref().and_then(crate::units::parse_rfc3339))
}

/// `null`, a list of strings, or one string (old engines) as a list.
fn de_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// `null` as the type's default (the engine writes `null` for empty maps and lists).
fn de_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The keys of a JSON object whose values are ignored (`{"80/tcp": {}}`).
fn de_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let m: Option<BTreeMap<String, serde::de::IgnoredAny>> = Option::deserialize(d)?;
    Ok(m.map(|m| m.into_keys().collect()).unwrap_or_default())
}

#[cfg(test)]
pub(crate) mod shapes;

#[cfg(test)]
mod tests {
    use super::*;

    /// The OCI image spec's chain ids: the base layer's is its diff id, each next one the
    /// digest of the previous chain id, a space and the diff id (values from Python's hashlib).
    #[test]
    fn chain_ids_follow_the_image_spec() {
        let d = |s: &str| s.to_string();
        let chain = chain_ids(&[d("sha256:aaa"), d("sha256:bbb"), d("sha256:ccc")]);
        assert_eq!(
            chain,
            vec![
                d("sha256:aaa"),
                d("sha256:56efb1d4f6c79b745d37d6eff87e3ed8dd2be28104e124ba73fd6e6c4892c792"),
                d("sha256:5f37250437ffd4d0a708296d64527afcea82547c8f3683aed2e2e1abbc1999c2"),
            ]
        );
        // A base's chain is a prefix of the child's; a different base changes every id.
        assert_eq!(chain_ids(&[d("sha256:aaa")]), chain[..1].to_vec());
        let other = chain_ids(&[d("sha256:xxx"), d("sha256:bbb")]);
        assert_ne!(other[1], chain[1]);
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn an_empty_health_record_is_no_health_check() {
        // (the State's Health as each engine writes it, the status kept)
        let cases = [
            // Podman 4.3 sends this for every container, health check or not.
            (r#"{"Status":"","FailingStreak":0,"Log":null}"#, None),
            ("null", None),
            (
                r#"{"Status":"starting","FailingStreak":0,"Log":[]}"#,
                Some("starting"),
            ),
            (
                r#"{"Status":"unhealthy","FailingStreak":3,"Log":null}"#,
                Some("unhealthy"),
            ),
        ];
        for (health, want) in cases {
            let rec: ContainerRecord = serde_json::from_str(&format!(
                r#"{{"Id":"a","State":{{"Status":"running","Running":true,"Health":{health}}}}}"#
            ))
            .expect("parses");
            assert_eq!(
                rec.state.health.as_ref().map(|h| h.status.as_str()),
                want,
                "{health}"
            );
        }
        // Absent altogether.
        let rec: ContainerRecord =
            serde_json::from_str(r#"{"Id":"a","State":{"Running":true}}"#).expect("parses");
        assert!(rec.state.health.is_none());
    }

    #[test]
    fn records_keep_what_the_checks_read() {
        let rec: ContainerRecord = serde_json::from_str(
            r#"{"Id":"abc","Name":"/web","State":{"Running":true,"Pid":7,"StartedAt":"2026-11-28T06:00:22.119332206Z","FinishedAt":"0001-01-01T00:00:00Z"},"RestartCount":2,
                "Created":"2026-11-28T06:00:20Z",
                "Config":{"Cmd":"nginx -g x","Entrypoint":null,"Env":["SECRET=1"],"Image":"nginx","ExposedPorts":{"80/tcp":{}},"Labels":null},
                "HostConfig":{"RestartPolicy":{"Name":"always"},"Binds":["/a:/b"],"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},
                "StreamConfig":{},"MountPoints":{"/data":{}},"NetworkSettings":{"Ports":null,"SandboxKey":"x","Networks":{"bridge":{"IPAddress":"172.17.0.2","IPPrefixLen":16,"GlobalIPv6Address":""},"none":{"IPAddress":"","IPPrefixLen":0}}}}"#,
        )
        .expect("parses");
        assert_eq!(rec.subnets(), vec!["172.17.0.0/16".to_string()]);
        assert_eq!(rec.name(), "web");
        assert_eq!(rec.state.pid, 7);
        assert_eq!(rec.state_word(), "running");
        assert_eq!(rec.config.cmd, vec!["nginx -g x".to_string()]);
        assert!(rec.config.entrypoint.is_empty());
        assert_eq!(rec.config.exposed_ports, vec!["80/tcp".to_string()]);
        assert_eq!(rec.host_config.restart_policy.name, "always");
        assert_eq!(rec.ips().collect::<Vec<_>>(), vec!["172.17.0.2"]);
        assert!(rec.state.finished_at.is_none(), "Go's zero time is no time");
        let started = rec.state.started_at.expect("a start time");
        assert!((started - rec.created.expect("created")).abs() < 3.0);
    }

    #[test]
    fn small_maps_read_as_the_maps_they_replace() {
        // Sorted by key whatever the order written; a key given twice keeps its last value,
        // as a BTreeMap decoded from the same JSON does.
        let json = r#"{"b":"2","a":"1","c":"3","a":"4"}"#;
        let m: SmallMap<String> = serde_json::from_str(json).expect("parses");
        let b: BTreeMap<String, String> = serde_json::from_str(json).expect("parses");
        assert_eq!(m.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
        assert_eq!(m.get("a").map(String::as_str), Some("4"));
        assert!(m.get("z").is_none() && m.contains_key("c") && m.len() == 3);
        let built: SmallMap<u8> = [
            ("y".to_string(), 1),
            ("x".to_string(), 2),
            ("y".to_string(), 3),
        ]
        .into_iter()
        .collect();
        assert_eq!(built.keys().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(built.get("y"), Some(&3));
        // `null` and absent are empty, through the records' `de_null_default`.
        let rec: ContainerRecord =
            serde_json::from_str(r#"{"Config":{"Labels":null},"HostConfig":{}}"#).expect("parses");
        assert!(rec.config.labels.is_empty() && rec.host_config.port_bindings.is_empty());
    }

    #[test]
    fn state_words_from_the_daemons_flags() {
        let mut r = ContainerRecord::default();
        assert_eq!(r.state_word(), "created");
        r.state.started_at = Some(1.0);
        assert_eq!(r.state_word(), "exited");
        r.state.dead = true;
        assert_eq!(r.state_word(), "dead");
        r.state.running = true;
        r.state.restarting = true;
        assert_eq!(r.state_word(), "restarting");
        r.state.status = "paused".into();
        assert_eq!(r.state_word(), "paused");
    }

    #[test]
    fn lean_structs_take_old_and_new_shapes() {
        // API 1.41 shape, with fields this struct does not know and some it lacks.
        let c: Vec<Container> = serde_json::from_str(
            r#"[{"Id":"abc","Names":["/web"],"Image":"nginx","ImageID":"sha256:1","Command":"nginx","Created":1,
                "State":"exited","Status":"Exited (0)","Ports":[],"Labels":{},"HostConfig":{"NetworkMode":"none"}}]"#,
        )
        .expect("parses");
        assert_eq!(c[0].name(), "web");
        let i: Vec<Image> =
            serde_json::from_str(r#"[{"Id":"sha256:2","RepoTags":null,"Size":10}]"#)
                .expect("parses");
        assert!(i[0].is_dangling());
    }
}
