//! From the run's facts to gc's plain input: containers with their grace verdict (doctor's),
//! images with their chains and last use, volumes, networks, build cache and logs with df's
//! bytes. The last-use state is recorded here, once per run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::state::{self, DaemonState, Observation};
use crate::actions::docker::{KEEP_LABEL, is_hold, query_escape};
use crate::actions::watch::normalize_ref;
use crate::facts::storage_map::DfReport;
use crate::facts::{Facts, Gap};
use crate::policy::containers::{self as cpolicy, LogSize};
use crate::policy::gc::{
    BuildCacheIn, ContainerIn, Disk, ImageIn, Input, LogIn, NetworkIn, Policy, VolumeIn,
};
use crate::runtime::host::FsUsage;
use crate::runtime::inventory::{Container, ContainerRecord, Image};

/// What a container's removal is checked against at apply time.
#[derive(Debug, Clone, Default)]
pub struct ContainerMeta {
    pub state: String,
    /// `State.FinishedAt` (RFC 3339; Go's zero time when it never finished).
    pub finished_at: String,
}

/// A container's log, as the plan shows it.
#[derive(Debug, Clone, Default)]
pub struct LogMeta {
    pub container_id: String,
    pub container: String,
    pub driver: String,
    /// The file truncation would act on (json-file's current file).
    pub path: Option<PathBuf>,
    pub bytes: u64,
    pub unbounded: bool,
}

/// gc's view of the host.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The engine's `/info` ID: whose state and plans these are.
    pub daemon_id: String,
    pub data_root: PathBuf,
    pub input: Input,
    /// Index for index with `input.containers`.
    pub containers: Vec<ContainerMeta>,
    /// Index for index with `input.logs`.
    pub logs: Vec<LogMeta>,
    pub filesystem: Option<FsUsage>,
    pub now: f64,
    pub notes: Vec<String>,
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// An instant as the engine writes it (nanoseconds; Go's zero time for none).
pub fn engine_time(t: Option<f64>) -> String {
    match t {
        None => "0001-01-01T00:00:00Z".into(),
        Some(t) => {
            let whole = t.floor();
            let nanos = ((t - whole) * 1e9).round().min(999_999_999.0) as u64;
            let base =
                crate::units::rfc3339(UNIX_EPOCH + Duration::from_secs(whole.max(0.0) as u64));
            let base = base.strip_suffix('Z').unwrap_or(&base).to_string();
            format!("{base}.{nanos:09}Z")
        }
    }
}

/// When a container last used its image: now while it runs, else its latest start, finish or
/// creation.
pub fn container_use(c: &ContainerRecord, now: f64) -> Option<f64> {
    if !cpolicy::stopped(c) && c.state_word() != "removing" {
        return Some(now);
    }
    [c.state.started_at, c.state.finished_at, c.created]
        .into_iter()
        .flatten()
        .reduce(f64::max)
}

/// Image uses the engine's event buffer still holds (pulls, tags, containers created or
/// started), resolved to image ids through the current tags. Pure: tested on JSON lines.
pub fn uses_from_events(
    lines: &str,
    ids_by_ref: &HashMap<String, String>,
    ids: &[String],
) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(ev) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let at = ev["timeNano"]
            .as_i64()
            .map(|n| n as f64 / 1e9)
            .or_else(|| ev["time"].as_i64().map(|s| s as f64));
        let Some(at) = at else { continue };
        for (kind, key, _) in crate::actions::watch::touches(&ev) {
            if kind != "image" {
                continue;
            }
            let id = ids_by_ref.get(&key).cloned().or_else(|| {
                ids.iter()
                    .find(|i| i.strip_prefix("sha256:").unwrap_or(i).starts_with(&key))
                    .cloned()
            });
            if let Some(id) = id {
                out.push((id, at));
            }
        }
    }
    out
}

/// What a stream of events says about last use, as an observation of the images present now:
/// `dockhand watch` records it between gc runs, resolving references exactly as gc does.
pub fn observation_from_events(images: &[Image], lines: &str, now: f64) -> Observation {
    let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
    Observation {
        images: images
            .iter()
            .map(|i| (i.id.clone(), real_tags(i)))
            .collect(),
        uses: uses_from_events(lines, &ids_by_ref(images), &ids),
        now,
    }
}

/// An image's tags, without `<none>:<none>` and without dockhand's own hold references (an
/// image left held by an interrupted run is dangling: the next run removes it).
fn real_tags(i: &crate::runtime::inventory::Image) -> Vec<String> {
    i.repo_tags
        .iter()
        .flatten()
        .filter(|t| *t != "<none>:<none>" && !is_hold(t))
        .cloned()
        .collect()
}

pub use crate::actions::saved_plan::daemon_identity;

fn keep(labels: Option<&crate::runtime::inventory::SmallMap<String>>) -> bool {
    labels.is_some_and(|l| l.contains_key(KEEP_LABEL))
}

/// Gathers everything, records this run's observations in the state file (when `state_dir` is
/// usable) and returns the input for [`crate::policy::gc::judge`].
pub async fn gather(
    facts: &Facts,
    policy: &Policy,
    config: &crate::config::Config,
    catalog: &crate::catalog::Catalog,
    state_dir: Option<&std::path::Path>,
) -> Result<Gathered, Gap> {
    let now = secs(SystemTime::now());
    let info = facts.info().await?;
    let daemon_id = daemon_identity(info, facts.engine_kind().await);
    let (listed, records, images, df) = tokio::join!(
        facts.containers(),
        facts.records(),
        facts.images(),
        facts.storage_map()
    );
    let (listed, records, images, df): (_, _, _, &DfReport) = (listed?, records?, images?, df?);
    let mut notes: Vec<String> = Vec::new();
    notes.extend(df.notes.iter().cloned());
    let seen = Seen {
        facts,
        daemon_id: &daemon_id,
        state_dir,
        now,
    };
    let state = seen.last_use(images, records, &mut notes).await;
    let mut input = Input {
        layer_sizes: df.layer_sizes.clone(),
        ..Input::default()
    };
    let (metas, unrecorded) = containers(listed, records, df, policy.min_age_s, now, &mut input);
    let podman = facts.engine_kind().await.is_podman();
    // Without the layer store (the containerd image store, not root) the engine still says
    // each image's layers: base images stay protected by chain on either store.
    let engine_chains = if df.chains.is_empty() && !podman && !images.is_empty() {
        let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
        Some(facts.image_chains_from_engine(&ids).await)
    } else {
        None
    };
    let chains = engine_chains.as_ref().unwrap_or(&df.chains);
    image_inputs(images, df, chains, &state, now, &mut input);
    volumes(facts, df, &mut input, &mut notes).await;
    networks(facts, unrecorded, &mut input, &mut notes).await;
    input.build_cache = build_cache(df, podman);
    let logs = logs(df, config, catalog, &mut input);
    input.disk = df.filesystem.as_ref().map(|f| Disk {
        used: f.used_bytes,
        capacity: f.used_bytes + f.free_bytes,
    });
    notes.extend(gaps(policy, &input, df, engine_chains.is_some(), podman));
    Ok(Gathered {
        daemon_id,
        data_root: df.data_root.clone(),
        input,
        containers: metas,
        logs,
        filesystem: df.filesystem.clone(),
        now,
        notes,
    })
}

/// Where last use is recorded: this daemon's part of the state file.
struct Seen<'a> {
    facts: &'a Facts,
    daemon_id: &'a str,
    state_dir: Option<&'a std::path::Path>,
    now: f64,
}

impl Seen<'_> {
    /// Last use: containers' times, and the engine's event buffer since the last run, recorded
    /// in the state file (when there is one) and returned with what was recorded before.
    async fn last_use(
        &self,
        images: &[Image],
        records: &[ContainerRecord],
        notes: &mut Vec<String>,
    ) -> DaemonState {
        let mut obs = Observation {
            images: images
                .iter()
                .map(|i| (i.id.clone(), real_tags(i)))
                .collect(),
            uses: records
                .iter()
                .filter_map(|c| Some((c.image.clone(), container_use(c, self.now)?)))
                .collect(),
            now: self.now,
        };
        let prior = self.prior().await;
        let since = prior
            .as_ref()
            .and_then(DaemonState::observed_at)
            .unwrap_or(0.0);
        match self.events(since).await {
            Ok(text) => {
                let image_ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
                obs.uses
                    .extend(uses_from_events(&text, &ids_by_ref(images), &image_ids));
            }
            Err(e) => notes.push(format!(
                "the engine's event buffer could not be read ({e}): last use comes from containers only"
            )),
        }
        let (state, state_notes) = self.record(prior, obs).await;
        notes.extend(state_notes);
        state
    }

    /// What the state file held for this daemon before this run.
    async fn prior(&self) -> Option<DaemonState> {
        let dir = self.state_dir?.to_path_buf();
        let id = self.daemon_id.to_string();
        crate::runtime::blocking(self.facts.timeout(), move || {
            state::load(&dir).file.daemons.remove(&id)
        })
        .await
        .flatten()
    }

    /// The engine's image and container events since `since`, as the engine sends them.
    async fn events(&self, since: f64) -> Result<String, crate::runtime::engine::EngineError> {
        let filters = serde_json::json!({ "type": ["image", "container"] }).to_string();
        // `until` in the past (to the nanosecond): the engine answers with its buffer and closes
        // at once; an `until` even a little ahead would hold the answer until that instant.
        // Podman answers nothing for an `until` that has passed: a moment ahead for it
        // (`events_until`).
        let until = self.facts.engine_kind().await.events_until(self.now);
        let path = format!(
            "/events?since={since:.9}&until={until:.9}&filters={}",
            query_escape(&filters)
        );
        let r = self.facts.engine().get(&path).await?;
        Ok(String::from_utf8_lossy(&r.value.body).into_owned())
    }

    /// Records `obs` in the state file; without one (or when it does not answer in time), the
    /// state is this run's alone.
    async fn record(
        &self,
        prior: Option<DaemonState>,
        obs: Observation,
    ) -> (DaemonState, Vec<String>) {
        let Some(dir) = self.state_dir else {
            let mut d = DaemonState::default();
            state::observe(&mut d, &obs);
            return (d, Vec::new());
        };
        let dir = dir.to_path_buf();
        let id = self.daemon_id.to_string();
        let o = obs.clone();
        crate::runtime::blocking(self.facts.timeout() * 2, move || {
            state::update(&dir, &id, Duration::from_secs(2), |d| state::observe(d, &o))
        })
        .await
        .unwrap_or_else(|| {
            let mut d = prior.unwrap_or_default();
            state::observe(&mut d, &obs);
            (
                d,
                vec![
                    "the gc state may not have been saved: the state dir did not answer in time"
                        .into(),
                ],
            )
        })
    }
}

/// Image ids by normalized reference, for the events that name an image by its tag.
fn ids_by_ref(images: &[Image]) -> HashMap<String, String> {
    let mut ids = HashMap::new();
    for i in images {
        for t in i
            .repo_tags
            .iter()
            .flatten()
            .filter(|t| *t != "<none>:<none>")
        {
            ids.insert(normalize_ref(t), i.id.clone());
        }
    }
    ids
}

/// The volumes a container mounts, by name.
fn mounted_volumes(c: &Container) -> Vec<String> {
    c.mounts
        .iter()
        .filter(|m| m.kind == "volume")
        .filter_map(|m| m.name.clone())
        .collect()
}

/// Containers, each with what its removal is checked against; and how many listed containers
/// have no record (kept as if running).
fn containers(
    listed: &[Container],
    records: &[ContainerRecord],
    df: &DfReport,
    grace: f64,
    now: f64,
    input: &mut Input,
) -> (Vec<ContainerMeta>, usize) {
    let by_id: HashMap<&str, &ContainerRecord> =
        records.iter().map(|r| (r.id.as_str(), r)).collect();
    let sizes: HashMap<&str, &crate::facts::storage_map::ContainerRow> = df
        .containers
        .items
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let mut metas = Vec::new();
    let mut unrecorded = 0usize;
    for c in listed {
        let Some(rec) = by_id.get(c.id.as_str()) else {
            // Listed, but its record was not read: whether it is stopped, and since when, is
            // not known. It is kept (as if running), and what the list says it uses stays in
            // use: a gap must not make its image or volumes look unused.
            unrecorded += 1;
            input.containers.push(ContainerIn {
                id: c.id.clone(),
                name: c.name().to_string(),
                image: c.image_id.clone(),
                grace: None,
                keep_label: false,
                volumes: mounted_volumes(c),
                networks: Vec::new(),
                bytes: None,
            });
            metas.push(ContainerMeta {
                state: c.state.clone(),
                finished_at: engine_time(None),
            });
            continue;
        };
        let bytes = sizes.get(c.id.as_str()).and_then(|r| {
            let log = r.log.as_ref().map_or(0, |l| l.bytes);
            r.rw_bytes.map(|rw| rw + log)
        });
        let mut networks: Vec<String> = rec.network_settings.networks.keys().cloned().collect();
        networks.sort();
        input.containers.push(ContainerIn {
            id: c.id.clone(),
            name: rec.name().to_string(),
            image: rec.image.clone(),
            grace: cpolicy::stopped_grace(rec, grace, now),
            keep_label: rec.config.labels.contains_key(KEEP_LABEL),
            volumes: mounted_volumes(c),
            networks,
            bytes,
        });
        metas.push(ContainerMeta {
            state: rec.state_word().to_string(),
            finished_at: engine_time(rec.state.finished_at),
        });
    }
    (metas, unrecorded)
}

/// Images, with their first sighting and last use from the state.
fn image_inputs(
    images: &[Image],
    df: &DfReport,
    chains: &HashMap<String, Vec<String>>,
    state: &DaemonState,
    now: f64,
    input: &mut Input,
) {
    let unique: HashMap<&str, u64> = df
        .images
        .items
        .iter()
        .map(|r| (r.id.as_str(), r.unique))
        .collect();
    for i in images {
        input.images.push(ImageIn {
            id: i.id.clone(),
            tags: real_tags(i),
            created: i.created as f64,
            keep_label: keep(i.labels.as_ref()),
            chain: chains.get(&i.id).cloned(),
            unique_bytes: unique.get(i.id.as_str()).copied().unwrap_or(0),
            first_seen: state.first_seen(&i.id).unwrap_or(now),
            last_used: state.last_used(&i.id),
        });
    }
}

/// Volumes: the engine's list (it may have stalled on a hung volume: then none are judged).
async fn volumes(facts: &Facts, df: &DfReport, input: &mut Input, notes: &mut Vec<String>) {
    let vols = match facts.volumes().await {
        Ok(v) => v,
        Err(g) => return notes.push(format!("volumes are left alone this run: {g}")),
    };
    let vsize: HashMap<&str, Option<u64>> = df
        .volumes
        .items
        .iter()
        .map(|v| (v.name.as_str(), v.size))
        .collect();
    for v in vols {
        input.volumes.push(VolumeIn {
            name: v.name.clone(),
            anonymous: crate::policy::volumes::is_anonymous(v),
            keep_label: keep(v.labels.as_ref()),
            created: v
                .created_at
                .as_deref()
                .and_then(crate::units::parse_rfc3339),
            bytes: vsize.get(v.name.as_str()).copied().flatten(),
        });
    }
}

/// Networks, unless a listed container could not be read (which ones it is attached to is not
/// known, so none may look unused).
async fn networks(facts: &Facts, unrecorded: usize, input: &mut Input, notes: &mut Vec<String>) {
    if unrecorded > 0 {
        let one = unrecorded == 1;
        return notes.push(format!(
            "{unrecorded} listed container{} could not be read: {} kept, and networks are left alone this run (which ones {} attached to is not known)",
            if one { "" } else { "s" },
            if one { "it is" } else { "they are" },
            if one { "it is" } else { "they are" },
        ));
    }
    match facts.networks().await {
        Ok(nets) => {
            for n in nets {
                input.networks.push(NetworkIn {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    predefined: n.is_predefined() || n.scope == "swarm",
                    keep_label: n.labels.contains_key(KEEP_LABEL),
                    created: n.created,
                });
            }
        }
        Err(g) => notes.push(format!("networks are left alone this run: {g}")),
    }
}

/// Build cache: nothing cached on disk is nothing to prune; an unmeasured cache is pruned with
/// its size unknown.
fn build_cache(df: &DfReport, podman: bool) -> Option<BuildCacheIn> {
    let bc = &df.build_cache;
    match bc.source.as_str() {
        // Podman has no BuildKit cache and no `/build/prune`: Buildah's intermediate layers are
        // images, judged with the images.
        _ if podman => None,
        "disk" if bc.count == 0 => None,
        // Records no build uses: the engine prunes them even when they hold no bytes.
        "engine" | "disk" => (bc.count > bc.active).then_some(BuildCacheIn {
            bytes: Some(bc.reclaimable),
        }),
        _ => Some(BuildCacheIn { bytes: None }),
    }
}

/// Logs, judged by doctor's containers.logs thresholds; truncation acts on json-file's current
/// file only (`<id>-json.log`, never a rotated `-json.log.N`).
fn logs(
    df: &DfReport,
    config: &crate::config::Config,
    catalog: &crate::catalog::Catalog,
    input: &mut Input,
) -> Vec<LogMeta> {
    const MIB: f64 = 1024.0 * 1024.0;
    let warn = config.threshold(catalog, "containers.logs", "size_warn_mib") * MIB;
    let crit = config.threshold(catalog, "containers.logs", "size_critical_mib") * MIB;
    let mut logs = Vec::new();
    for r in &df.containers.items {
        let Some(l) = &r.log else { continue };
        if l.bytes == 0 {
            continue;
        }
        let big = cpolicy::log_size(l.bytes, warn, crit) != LogSize::Small;
        let json_file = l.driver == "json-file";
        let path = json_file.then(|| {
            df.data_root
                .join("containers")
                .join(&r.id)
                .join(format!("{}-json.log", r.id))
        });
        input.logs.push(LogIn {
            container: r.id.clone(),
            bytes: l.bytes,
            // Only json-file's plain lines survive a truncation; other formats would break.
            big: big && json_file,
        });
        logs.push(LogMeta {
            container_id: r.id.clone(),
            container: r.name.clone(),
            driver: l.driver.clone(),
            path,
            bytes: l.bytes,
            unbounded: l.unbounded(),
        });
    }
    logs
}

/// What this run could not see, and what that leaves out.
fn gaps(
    policy: &Policy,
    input: &Input,
    df: &DfReport,
    engine_chains: bool,
    podman: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    if policy.watermarks.is_some() && input.disk.is_none() {
        notes.push(format!(
            "the filesystem of {} could not be measured: the watermarks were not applied",
            df.data_root.display()
        ));
    }
    if podman && policy.types.build_cache {
        notes.push("build cache: skipped: the engine is Podman, whose builder (Buildah) keeps no build cache to prune (there is no /build/prune); its intermediate images are images".into());
    }
    if podman && !input.images.is_empty() {
        notes.push("image layer chains are not read from Podman's containers/storage: base images are not protected by chain, and bytes per image are the engine's unique bytes".into());
    } else if engine_chains {
        let missing = input.images.iter().filter(|i| i.chain.is_none()).count();
        if missing > 0 {
            notes.push(format!(
                "the engine did not say the layers of {missing} of {} images: those are not protected by chain (nor protect their bases), and bytes per image are the engine's unique bytes",
                input.images.len()
            ));
        }
    } else if df.chains.is_empty() && !input.images.is_empty() {
        notes.push("image layer chains could not be read from the layer store (not root, or the containerd image store): base images are not protected by chain, and bytes per image are the engine's unique bytes".into());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_round_trip_within_a_millisecond() {
        assert_eq!(engine_time(None), "0001-01-01T00:00:00Z");
        let t = 1_795_845_622.119_332;
        let s = engine_time(Some(t));
        assert!(s.starts_with("2026-11-28T06:00:22.119"), "{s}");
        assert!(crate::actions::docker::same_instant(
            &s,
            "2026-11-28T06:00:22.119332206Z"
        ));
    }

    #[test]
    fn uses_come_from_pulls_tags_and_containers() {
        let lines = concat!(
            r#"{"Type":"image","Action":"pull","Actor":{"ID":"busybox:latest"},"timeNano":1800000000000000000}"#,
            "\n",
            r#"{"Type":"container","Action":"create","from":"app","Actor":{"ID":"c","Attributes":{"image":"app"}},"time":1800000100}"#,
            "\n",
            r#"{"Type":"container","Action":"start","Actor":{"ID":"c","Attributes":{"image":"0123456789ab"}},"time":1800000200}"#,
            "\n",
            r#"{"Type":"container","Action":"destroy","Actor":{"ID":"c","Attributes":{"image":"app"}},"time":1800000300}"#,
            "\nnot json\n",
            r#"{"Type":"image","Action":"pull","Actor":{"ID":"unknown:1"},"time":1800000400}"#,
        );
        let refs: HashMap<String, String> = [
            ("busybox:latest".to_string(), "sha256:bb".to_string()),
            ("app:latest".to_string(), "sha256:aa".to_string()),
        ]
        .into_iter()
        .collect();
        let ids = vec!["sha256:0123456789abcdef".to_string()];
        let uses = uses_from_events(lines, &refs, &ids);
        assert_eq!(
            uses,
            [
                ("sha256:bb".to_string(), 1_800_000_000.0),
                ("sha256:aa".to_string(), 1_800_000_100.0),
                ("sha256:0123456789abcdef".to_string(), 1_800_000_200.0),
            ]
        );
    }

    #[test]
    fn daemons_are_told_apart_by_id_and_data_root() {
        let a = serde_json::json!({"ID": "K:E:Y", "DockerRootDir": "/var/lib/docker"});
        let b = serde_json::json!({"ID": "K:E:Y", "DockerRootDir": "/srv/docker"});
        use crate::runtime::engine_kind::EngineKind;
        let docker = EngineKind::Docker;
        assert_eq!(daemon_identity(&a, docker), "K:E:Y@/var/lib/docker");
        assert_ne!(daemon_identity(&a, docker), daemon_identity(&b, docker));
        assert_eq!(daemon_identity(&serde_json::json!({}), docker), "unknown");
        // Podman answers each /info with a new ID: only its graph root names it.
        let p1 = serde_json::json!({"ID": "9bd92b59-e0ab-46b2-bdf6-791e5b732368", "DockerRootDir": "/var/lib/containers/storage"});
        let p2 = serde_json::json!({"ID": "dfc9b0e3-5434-4dce-b306-510f87a7e4d6", "DockerRootDir": "/var/lib/containers/storage"});
        let podman = EngineKind::Podman;
        assert_eq!(daemon_identity(&p1, podman), daemon_identity(&p2, podman));
        assert_eq!(
            daemon_identity(&p1, podman),
            "podman@/var/lib/containers/storage"
        );
    }

    #[test]
    fn a_running_container_uses_its_image_now() {
        let mut c = ContainerRecord {
            created: Some(10.0),
            ..ContainerRecord::default()
        };
        assert_eq!(container_use(&c, 99.0), Some(10.0));
        c.state.started_at = Some(20.0);
        c.state.finished_at = Some(30.0);
        assert_eq!(container_use(&c, 99.0), Some(30.0));
        c.state.running = true;
        assert_eq!(container_use(&c, 99.0), Some(99.0));
    }
}
