//! One snapshot of what the engine holds — containers in every state, images, volumes,
//! networks — taken once per run, concurrently, each list under the deadline, and shared by
//! every command and check in the run.
//!
//! Read as raw JSON into lean structs with defaults: the fields used here exist from API 1.24
//! through 1.53 and in Podman's compat API, and a field an engine leaves out is not an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::engine::{Engine, EngineError};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub state: String,
    pub status: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub mounts: Vec<MountPoint>,
    /// Only when listed with `size=1` (slow: the engine walks every writable layer).
    pub size_rw: Option<i64>,
}

/// A mount of a container, as the list reports it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
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
    pub containers: i64,
    pub labels: Option<BTreeMap<String, String>>,
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
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VolumeList {
    volumes: Option<Vec<Volume>>,
}

/// The snapshot. A list the engine did not give in time is empty and its error recorded, so a
/// partial answer is still usable and the gap is visible.
#[derive(Debug, Default)]
pub struct Inventory {
    pub containers: Vec<Container>,
    pub images: Vec<Image>,
    pub volumes: Vec<Volume>,
    pub networks: Vec<Network>,
    pub errors: Vec<(&'static str, EngineError)>,
}

/// Counts for reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub containers: usize,
    pub running: usize,
    pub stopped: usize,
    pub images: usize,
    pub dangling_images: usize,
    pub volumes: usize,
    pub networks: usize,
}

impl Inventory {
    /// Takes the snapshot: the four lists at once, each under the engine's deadline.
    pub async fn take(engine: &Engine) -> Inventory {
        let (c, mut inv) = tokio::join!(
            engine.get_json::<Vec<Container>>("/containers/json?all=1"),
            Inventory::take_without_containers(engine),
        );
        match c {
            Ok(t) => inv.containers = t.value,
            Err(e) => inv.errors.insert(0, ("containers", e)),
        }
        inv
    }

    /// Images, volumes and networks, for a caller that already holds the container list.
    pub async fn take_without_containers(engine: &Engine) -> Inventory {
        let (i, v, n) = tokio::join!(
            engine.get_json::<Vec<Image>>("/images/json"),
            engine.get_json::<VolumeList>("/volumes"),
            engine.get_json::<Vec<Network>>("/networks"),
        );
        let mut inv = Inventory::default();
        match i {
            Ok(t) => inv.images = t.value,
            Err(e) => inv.errors.push(("images", e)),
        }
        match v {
            Ok(t) => inv.volumes = t.value.volumes.unwrap_or_default(),
            Err(e) => inv.errors.push(("volumes", e)),
        }
        match n {
            Ok(t) => inv.networks = t.value,
            Err(e) => inv.errors.push(("networks", e)),
        }
        inv
    }

    pub fn counts(&self) -> Counts {
        let running = self
            .containers
            .iter()
            .filter(|c| c.state == "running")
            .count();
        Counts {
            containers: self.containers.len(),
            running,
            stopped: self.containers.len() - running,
            images: self.images.len(),
            dangling_images: self.images.iter().filter(|i| i.is_dangling()).count(),
            volumes: self.volumes.len(),
            networks: self.networks.len(),
        }
    }
}

/// Every container's inspect document (`Id`, `Name`, `State`, `RestartCount`, `Config`,
/// `HostConfig`, `Path`, `Args`, …) as the daemon keeps it on disk: every
/// `<data-root>/containers/<id>/config.v2.json` with its `hostconfig.json` — one file read per
/// container instead of one API call. Needs no list from the engine, so it can run while the
/// engine lists; callers keep the records of the containers the engine lists. `None` when the
/// data root is unreadable (not root) or the reads did not finish within the deadline.
pub async fn container_records_from_disk(
    engine: &Engine,
    data_root: &std::path::Path,
) -> Option<Vec<serde_json::Value>> {
    let dir = data_root.join("containers");
    let ids: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let root = data_root.to_path_buf();
    super::blocking(engine.timeout() * 2, move || {
        ids.iter()
            .filter_map(|id| details_from_disk(&root, id))
            .collect::<Vec<_>>()
    })
    .await
}

/// The same documents from the engine, `GET /containers/<id>/json`, eight at a time, each under
/// the deadline. A container that vanished in between is left out.
pub async fn container_records_from_engine(
    engine: &Engine,
    ids: &[String],
) -> Vec<serde_json::Value> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(8) {
        let paths: Vec<String> = chunk
            .iter()
            .map(|id| format!("/containers/{id}/json"))
            .collect();
        let calls = paths.iter().map(|p| engine.get_json::<Record>(p));
        for r in futures_util::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
        {
            out.extend(r.value.into_value());
        }
    }
    out
}

/// The daemon's own record of a container (`config.v2.json`, with `hostconfig.json` as
/// `HostConfig`), shaped like the inspect answer.
fn details_from_disk(root: &std::path::Path, id: &str) -> Option<serde_json::Value> {
    let dir = root.join("containers").join(id);
    let mut rec: Record =
        serde_json::from_slice(&std::fs::read(dir.join("config.v2.json")).ok()?).ok()?;
    rec.host_config = std::fs::read(dir.join("hostconfig.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    rec.into_value()
}

/// What the checks read of a container's record: the rest — environment, mounts' details, the
/// stream config, network endpoints' settings — is skipped while parsing, without allocating,
/// so a host with thousands of containers costs kilobytes per container, not its whole record.
/// Serialised back to the inspect shape (`Id`, `Name`, `State`, `Config`, `HostConfig`, …).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
struct Record {
    #[serde(alias = "ID")]
    id: String,
    name: String,
    created: String,
    image: String,
    path: String,
    args: Vec<String>,
    restart_count: u64,
    state: serde_json::Value,
    config: RecordConfig,
    host_config: RecordHost,
    network_settings: RecordNetwork,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
struct RecordConfig {
    cmd: serde_json::Value,
    entrypoint: serde_json::Value,
    image: String,
    attach_stdout: bool,
    attach_stderr: bool,
    healthcheck: serde_json::Value,
    labels: serde_json::Value,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
struct RecordHost {
    restart_policy: serde_json::Value,
    auto_remove: bool,
    log_config: serde_json::Value,
    port_bindings: serde_json::Value,
    network_mode: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
struct RecordNetwork {
    networks: serde_json::Value,
    ports: serde_json::Value,
}

impl Record {
    fn into_value(self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keep_what_the_checks_read() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"Id":"abc","Name":"/web","State":{"Running":true,"Pid":7},"RestartCount":2,
                "Config":{"Cmd":["nginx"],"Env":["SECRET=1"],"Image":"nginx"},
                "HostConfig":{"RestartPolicy":{"Name":"always"},"Binds":["/a:/b"]},
                "StreamConfig":{},"MountPoints":{"/data":{}},"NetworkSettings":{"Ports":{},"SandboxKey":"x"}}"#,
        )
        .expect("parses");
        let rec: Record = serde_json::from_value(v).expect("record");
        let p = rec.into_value().expect("value");
        assert_eq!(p["State"]["Pid"], 7);
        assert_eq!(p["Config"]["Cmd"][0], "nginx");
        assert!(
            p["Config"].get("Env").is_none(),
            "the environment is not kept"
        );
        assert_eq!(p["HostConfig"]["RestartPolicy"]["Name"], "always");
        assert!(p.get("StreamConfig").is_none() && p.get("MountPoints").is_none());
        assert!(p["NetworkSettings"].get("SandboxKey").is_none());
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
        let v: VolumeList =
            serde_json::from_str(r#"{"Volumes":null,"Warnings":null}"#).expect("parses");
        assert!(v.volumes.is_none());
    }
}
