//! The storage map: where the disk went — images (shared and unique bytes), containers'
//! writable layers and logs, volumes, build cache, and what nothing accounts for: tmp leftovers,
//! leaked overlay2 directories, deleted files still held open. A fact like the others: built
//! once per run (`Facts::storage_map`), shown by `df`, judged by doctor's storage checks and
//! gc. The disk is read by the runtime (`runtime::storage::scan`, given this module's leak rule);
//! this module puts its figures together with the engine's lists.
//!
//! The engine's lists and the layer store's recorded sizes come first; directories are walked
//! only where nothing records a size, in parallel, under `--walk-timeout`. Without read access to
//! the data root (not root), or with the containerd image store, the engine's own `/system/df`
//! figures are used and the report says what is missing — except for local volumes under the
//! containerd store from API 1.42, which are walked here as under the graph driver (the engine's
//! own walk of a volume that stopped answering would hold its whole answer).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

pub mod account;

use super::{Facts, Gap, WalkLimits};
use crate::policy;
use crate::runtime::daemon::{self, Located};
use crate::runtime::engine::{Engine, EngineError};
use crate::runtime::host::{self, FsUsage};
use crate::runtime::inventory::{Container, Image, Volume};
use crate::runtime::storage::scan::{
    DaemonFiles, DiskScan, Logs, VolumeWalk, VolumeWalkLimits, scan_daemon_files, scan_data_root,
};
pub use crate::runtime::storage::scan::{LeftoversPart, StuckRow};
use crate::runtime::storage::{self, LogInfo};
use crate::runtime::{blocking, buildkit};
use crate::util::human_duration;
use account::{ImageIn, ImagesPart};

/// A leaked layer directory younger than this may be a pull registering its layer.
const LEAK_MIN_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub created: i64,
    /// Writable-layer bytes; `None` when not measured.
    pub rw_bytes: Option<u64>,
    /// False when the walk ran out of time: `rw_bytes` is a lower bound.
    pub rw_complete: bool,
    pub log: Option<LogInfo>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ContainersPart {
    pub count: usize,
    pub active: usize,
    pub rw_total: u64,
    /// Writable layers of containers that are not running.
    pub rw_reclaimable: u64,
    pub log_total: u64,
    pub log_reclaimable: u64,
    /// json-file logs without `max-size`.
    pub unbounded_logs: usize,
    pub items: Vec<ContainerRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeRow {
    pub name: String,
    pub driver: String,
    pub anonymous: bool,
    /// Containers (any state) that mount it.
    pub containers: usize,
    pub size: Option<u64>,
    pub complete: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumesPart {
    pub count: usize,
    pub active: usize,
    pub total: u64,
    pub reclaimable: u64,
    pub items: Vec<VolumeRow>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildCachePart {
    pub count: usize,
    pub active: usize,
    pub total: u64,
    pub reclaimable: u64,
    /// "engine", "disk" (no BuildKit snapshot exists, so nothing is cached), or "not measured".
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DfReport {
    #[serde(skip)]
    pub started_at: SystemTime,
    #[serde(skip)]
    pub elapsed: Duration,
    pub data_root: PathBuf,
    pub driver: String,
    /// "graphdriver" (layers under `<root>/<driver>`) or "containerd" (the containerd image store).
    pub image_store: String,
    /// "disk" (layer store and walks) or "engine" (`/system/df`).
    pub source: String,
    /// The daemon's own files under the data root — containers' logs, tmp leftovers — were
    /// read: always with `source` "disk", and under the containerd image store as root (its
    /// layers are containerd's, but these files are still dockerd's).
    pub daemon_files: bool,
    pub filesystem: Option<FsUsage>,
    pub images: ImagesPart,
    pub containers: ContainersPart,
    pub volumes: VolumesPart,
    pub build_cache: BuildCachePart,
    pub leftovers: LeftoversPart,
    /// What was not measured, and why.
    pub notes: Vec<String>,
    /// Some walk ran out of time or hit an unreadable directory: totals are lower bounds.
    pub lower_bound: bool,
    /// Walks given up on because their filesystem stopped answering.
    pub stuck: Vec<StuckRow>,
    /// Image id → its layer chain, base first, from the layer store (empty when the engine's
    /// figures stood in): gc's base-image protection and bytes freed per removal.
    #[serde(skip)]
    pub chains: HashMap<String, Vec<String>>,
    /// Layer chain id → its own size.
    #[serde(skip)]
    pub layer_sizes: HashMap<String, u64>,
}

/// The storage map from the run's facts: `/info` says where the data root is and which store is
/// in use; the disk is scanned (in threads the deadline can abandon) while the engine lists.
/// Without read access to the data root, or with the containerd image store, the engine's own
/// `/system/df` figures stand in.
pub(crate) async fn build(facts: &Facts) -> Result<DfReport, Gap> {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let info = facts.info().await?;
    let data_root = PathBuf::from(
        info.get("DockerRootDir")
            .and_then(Value::as_str)
            .unwrap_or(daemon::DEFAULT_DATA_ROOT),
    );
    let driver = info
        .get("Driver")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let site = Site {
        facts,
        api: facts.api_version().await.unwrap_or((1, 41)),
        timeout: facts.timeout(),
        walks: facts.walk_limits(),
        data_root: &data_root,
        driver: &driver,
        containerd_store: containerd_image_store(info),
        // Podman's containers/storage is not dockerd's data root: no layerdb, no tmp/, no overlay2/.
        podman: facts.engine_kind().await.is_podman(),
    };

    let mut notes = Vec::new();
    let filesystem = measure_filesystem(&site, &mut notes).await;
    let lists = async {
        let (c, i, v) = tokio::join!(facts.containers(), facts.images(), facts.volumes());
        Ok::<_, Gap>((c?, i?, v))
    };
    // The build cache is asked for beside the scan and the lists, not after them: on an engine
    // before API 1.42 only the whole (slow) `/system/df` carries it. Under the containerd store
    // the engine's figures (all but the volumes, which the scan walks) come the same way.
    let (scanned, deleted, lists, build_cache, engine_df) = tokio::join!(
        scan_disk(&site),
        deleted_open(&site),
        lists,
        build_cache_early(&site),
        engine_df_early(&site)
    );
    // The engine's volume list stats every local volume's directory: a volume whose filesystem
    // stopped answering holds the list (and `docker volume ls`) for good. The disk then says
    // which volumes there are, and their users come from the container list.
    let (containers, images, volumes) = lists?;
    let mut scanned = scanned;
    if site.logs_from_records() {
        // Within the time the scan had: a slow records read must not hold the map longer.
        let until = t0 + site.walks.deadline + site.timeout;
        add_logs_from_records(&site, until, &mut scanned, &mut notes).await;
    }
    let mut report = match scanned {
        Scanned::Disk(scan) => {
            let build_cache = build_cache.unwrap_or_else(|| BuildCachePart {
                source: "not measured: it was not asked for".into(),
                ..BuildCachePart::default()
            });
            from_disk(
                &site,
                *scan,
                Parts {
                    containers,
                    images,
                    volumes,
                    build_cache,
                    deleted,
                },
                &mut notes,
            )
        }
        Scanned::ContainerdStore(files) => {
            from_containerd_store(
                &site,
                Parts {
                    containers,
                    images,
                    volumes,
                    build_cache: BuildCachePart::default(),
                    deleted,
                },
                files.map(|f| *f),
                engine_df,
                &mut notes,
            )
            .await?
        }
        other => {
            notes.push(fallback_note(&site, &other));
            from_engine_fallback(&site, containers, images, volumes?).await?
        }
    };
    report.image_store = if site.podman {
        "containers-storage"
    } else if site.containerd_store {
        "containerd"
    } else {
        "graphdriver"
    }
    .into();
    report.data_root = data_root;
    report.driver = driver;
    report.filesystem = filesystem;
    report.notes.splice(0..0, notes);
    report.started_at = started_at;
    report.elapsed = t0.elapsed();
    Ok(report)
}

/// What every step of `build` reads: the run's facts and what `/info` said of the data root.
struct Site<'a> {
    facts: &'a Facts,
    api: (u32, u32),
    timeout: Duration,
    walks: WalkLimits,
    data_root: &'a Path,
    driver: &'a str,
    containerd_store: bool,
    podman: bool,
}

impl Site<'_> {
    /// The caller reads the records anyway, so the logs are sized from theirs (Podman's are
    /// sized from the engine's list, elsewhere).
    fn logs_from_records(&self) -> bool {
        self.facts.logs_from_records() && !self.podman
    }

    /// Whether the disk scan sizes the logs itself.
    fn logs(&self) -> Logs {
        if self.logs_from_records() {
            Logs::Skip
        } else {
            Logs::Read
        }
    }
}

/// The containers' logs of a scan that left them out ([`Logs::Skip`]), sized from the
/// records' log configuration; where there are no records by `until` (or none at all), from
/// each container's hostconfig.json as the scan would have. Nothing when the scan itself did not
/// read the disk.
async fn add_logs_from_records(
    site: &Site<'_>,
    until: Instant,
    scanned: &mut Scanned,
    notes: &mut Vec<String>,
) {
    let logs = match scanned {
        Scanned::Disk(scan) => &mut scan.logs,
        Scanned::ContainerdStore(Some(files)) => &mut files.logs,
        _ => return,
    };
    let left = || {
        until
            .saturating_duration_since(Instant::now())
            .max(site.timeout)
    };
    let records = tokio::time::timeout(left(), site.facts.records()).await;
    let known: Option<Vec<(String, LogInfo)>> = records.ok().and_then(Result::ok).map(|recs| {
        recs.iter()
            .map(|r| {
                let c = &r.host_config.log_config;
                let opt = |k: &str| c.config.get(k).cloned();
                let conf = LogInfo {
                    driver: c.kind.clone(),
                    max_size: opt("max-size"),
                    max_file: opt("max-file"),
                    ..LogInfo::default()
                };
                (r.id.clone(), conf)
            })
            .collect()
    });
    let root = site.data_root.to_path_buf();
    let wait = left();
    let sized = blocking(wait, move || match known {
        Some(known) => storage::scan::logs_of(&root, known),
        None => storage::scan::container_logs(&root),
    })
    .await;
    match sized {
        Some(sized) => *logs = sized,
        None => notes.push(format!(
            "the containers' logs under {} were not sized: the filesystem did not answer within {}",
            site.data_root.join("containers").display(),
            human_duration(wait)
        )),
    }
}

/// The data root's filesystem usage, or a note saying it could not be measured in time.
async fn measure_filesystem(site: &Site<'_>, notes: &mut Vec<String>) -> Option<FsUsage> {
    let timeout = site.timeout;
    let fs_root = site.data_root.to_path_buf();
    let filesystem = blocking(timeout, move || host::fs_usage(&fs_root).ok())
        .await
        .flatten();
    if filesystem.is_none() {
        notes.push(format!(
            "the filesystem of {} could not be measured (statfs failed or did not answer within {})",
            site.data_root.display(),
            human_duration(timeout)
        ));
    }
    filesystem
}

/// The disk, while the engine lists. The scan's own walks stop at the walk deadline; the
/// scan as a whole gets that plus the per-call deadline (its reads of the data root's own
/// files), and is abandoned after it: a data root that stopped answering is one gap.
async fn scan_disk(site: &Site<'_>) -> Scanned {
    if site.podman {
        return Scanned::Podman;
    }
    if site.containerd_store {
        // No layer store to read, but the logs, tmp/ and the local volumes are dockerd's,
        // under the data root. The volumes are walked only where `/system/df` can leave them
        // out (API 1.42): before that the engine walks them anyway.
        let root = site.data_root.to_path_buf();
        let deadline = Instant::now() + site.walks.deadline;
        let volumes = (site.api >= (1, 42)).then_some(VolumeWalkLimits {
            stall: site.walks.stall,
            threads: site.walks.threads,
        });
        let logs = site.logs();
        let files = blocking(site.walks.deadline + site.timeout, move || {
            scan_daemon_files(&root, deadline, volumes, logs)
        })
        .await
        .flatten();
        return Scanned::ContainerdStore(files.map(Box::new));
    }
    let (root, drv) = (site.data_root.to_path_buf(), site.driver.to_string());
    let walks = site.walks;
    let deadline = Instant::now() + walks.deadline;
    let logs = site.logs();
    match blocking(walks.deadline + site.timeout, move || {
        let leaked = |name: &str, referenced, buildkit, age| {
            policy::storage::leaked_dir(name, referenced, buildkit, age, LEAK_MIN_AGE)
                .map(|l| l == policy::storage::Leak::Removing)
        };
        scan_data_root(
            &root,
            &drv,
            deadline,
            walks.stall,
            walks.threads,
            &leaked,
            logs,
        )
    })
    .await
    {
        Some(Some(scan)) => Scanned::Disk(Box::new(scan)),
        Some(None) => Scanned::Unreadable,
        None => Scanned::TimedOut,
    }
}

/// The daemon's deleted-but-open files (`None` when its process is not found or /proc did not
/// answer in time, and for Podman, which has no daemon).
async fn deleted_open(site: &Site<'_>) -> Option<Vec<storage::DeletedOpen>> {
    if site.podman {
        return None;
    }
    let Ok(Located::Found(d)) = site.facts.located().await else {
        return None;
    };
    let pid = d.info.pid;
    blocking(site.timeout, move || storage::deleted_open_files(pid)).await
}

/// What the engine and /proc gave while the disk was scanned.
struct Parts<'a> {
    containers: &'a [Container],
    images: &'a [Image],
    volumes: Result<&'a [Volume], Gap>,
    build_cache: BuildCachePart,
    deleted: Option<Vec<storage::DeletedOpen>>,
}

/// The report from the disk's figures labelled with the engine's lists; when the engine's
/// volume list did not answer, the volumes found on disk stand in (said in `notes`).
fn from_disk(
    site: &Site<'_>,
    scan: DiskScan,
    parts: Parts<'_>,
    notes: &mut Vec<String>,
) -> DfReport {
    let data_root = site.data_root;
    let Parts {
        containers,
        images,
        volumes,
        build_cache,
        deleted,
    } = parts;
    let from_disk: Vec<Volume>;
    let volumes = match volumes {
        Ok(v) => v,
        Err(g) => {
            from_disk = volumes_found_on_disk(data_root, scan.volumes.keys(), &g, notes);
            &from_disk
        }
    };
    let mut r = assemble(scan, containers, images, volumes);
    r.build_cache = build_cache;
    match deleted {
        Some(d) => r.leftovers.add_deleted(d),
        None => r.notes.push(format!(
            "the daemon's deleted-but-open files could not be listed (its process was not found, or /proc did not answer within {})",
            human_duration(site.timeout)
        )),
    }
    r
}

/// The local volumes found under `<data root>/volumes` (`names`), standing in for the engine's
/// volume list, which did not answer (`gap`, said in `notes`).
fn volumes_found_on_disk<'a>(
    data_root: &Path,
    names: impl Iterator<Item = &'a String>,
    gap: &Gap,
    notes: &mut Vec<String>,
) -> Vec<Volume> {
    notes.push(format!(
        "{gap} (a volume's filesystem that stopped answering holds the engine's volume list): volumes are those found under {}, without their drivers' details",
        data_root.join("volumes").display()
    ));
    names
        .map(|name| Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: data_root
                .join("volumes")
                .join(name)
                .join("_data")
                .display()
                .to_string(),
            labels: None,
            created_at: None,
        })
        .collect()
}

/// Under the containerd image store: the engine's figures for images, writable layers and build
/// cache (`early`, asked while the disk was scanned); the daemon's own files — logs, tmp
/// leftovers, deleted-open files — and, from API 1.42, the local volumes from the disk, as on
/// the graph driver. A volume whose filesystem stopped answering then costs its walk's stall,
/// is named, and the others are measured; the engine's own volume walk would hold its whole
/// `/system/df` answer. Where the volumes could not be walked here (not readable by this user,
/// or the data root did not answer) their sizes are asked of the engine on their own; before
/// API 1.42 (`early` is `None`) the whole `/system/df` stands in, as it must.
async fn from_containerd_store(
    site: &Site<'_>,
    parts: Parts<'_>,
    mut files: Option<DaemonFiles>,
    early: Option<Result<EngineDf, EngineError>>,
    notes: &mut Vec<String>,
) -> Result<DfReport, Gap> {
    let Parts {
        containers,
        images,
        volumes,
        deleted,
        ..
    } = parts;
    let engine_gap = |err| Gap::Engine {
        what: "the engine did not answer /system/df",
        err,
    };
    let store = "the containerd image store is in use: layers live in containerd's snapshotter, not under the data root, so sizes of images and writable layers are the engine's and there is no overlay2 directory to scan for leaks";
    let walked = files.as_mut().and_then(|f| f.volumes.take());
    let mut r = match (early, walked) {
        (Some(df), Some(walk)) => {
            let df = df.map_err(engine_gap)?;
            notes.push(format!(
                "{store}; local volumes are walked under {}",
                site.data_root.join("volumes").display()
            ));
            let from_disk: Vec<Volume>;
            let volumes = match volumes {
                Ok(v) => v,
                Err(g) => {
                    from_disk =
                        volumes_found_on_disk(site.data_root, walk.volumes.keys(), &g, notes);
                    &from_disk
                }
            };
            let mut r = engine_report(df, containers, images, volumes);
            add_volume_walk(&mut r, walk);
            r
        }
        (Some(df), None) => {
            let mut df = df.map_err(engine_gap)?;
            notes.push(format!(
                "{store}; local volumes' sizes are the engine's too, since {} was not read",
                site.data_root.join("volumes").display()
            ));
            // `early` is there, so the engine takes `type` (API 1.42 and up).
            if let Some(path) = system_df_path_by_type(site.api, true) {
                df.volumes = engine_df(site.facts.engine(), path, site.walks.deadline)
                    .await
                    .map_err(engine_gap)?
                    .volumes;
            }
            engine_report(df, containers, images, volumes?)
        }
        (None, _) => {
            notes.push(format!(
                "{store}; local volumes' sizes are the engine's too: its API {}.{} is older than 1.42, so /system/df cannot leave them out, and a volume whose filesystem stopped answering holds its whole answer",
                site.api.0, site.api.1
            ));
            from_engine_fallback(site, containers, images, volumes?).await?
        }
    };
    add_daemon_files(site, &mut r, files, deleted);
    Ok(r)
}

/// The local volumes' sizes from dockhand's own walk, over the engine's rows: a volume of
/// another driver, or one the walk did not find, keeps no size.
fn add_volume_walk(r: &mut DfReport, walk: VolumeWalk) {
    let mut rows = std::mem::take(&mut r.volumes.items);
    for row in &mut rows {
        let w = (row.driver == "local")
            .then(|| walk.volumes.get(&row.name).copied())
            .flatten();
        row.size = w.map(|w| w.bytes);
        row.complete = w.is_none_or(|w| w.complete);
    }
    r.volumes = volumes_part(rows);
    r.lower_bound |= walk.lower_bound;
    r.stuck = walk.stuck;
}

/// Why the disk was not scanned, and so why the engine's own figures stand in.
fn fallback_note(site: &Site<'_>, scanned: &Scanned) -> String {
    let data_root = site.data_root;
    match scanned {
        Scanned::Podman => format!(
            "the engine is Podman: its containers/storage under {} keeps layers in overlay-layers/ and overlay/, with no layerdb to read, so sizes are the engine's own (/system/df); logs are each container's ctr.log; there are no dockerd tmp leftovers or overlay2 layers to look for",
            data_root.display()
        ),
        Scanned::TimedOut => format!(
            "{} did not answer within {}: its filesystem may have stopped answering; sizes are the engine's own (/system/df)",
            data_root.display(),
            human_duration(site.walks.deadline + site.timeout)
        ),
        _ => format!(
            "{} is not readable by this user: sizes are the engine's own (/system/df); container logs, tmp leftovers, leaked layers and deleted-open files need read access to the data root (run as root)",
            data_root
                .join("image")
                .join(site.driver)
                .join("layerdb")
                .display()
        ),
    }
}

/// The report from the engine's `/system/df`; for Podman, its containers' logs sized on disk.
async fn from_engine_fallback(
    site: &Site<'_>,
    containers: &[Container],
    images: &[Image],
    volumes: &[Volume],
) -> Result<DfReport, Gap> {
    let mut r = from_engine(
        site.facts.engine(),
        site.api,
        site.walks.deadline,
        containers,
        images,
        volumes,
    )
    .await
    .map_err(|err| Gap::Engine {
        what: "the engine did not answer /system/df",
        err,
    })?;
    if site.podman {
        add_podman_logs(site, &mut r).await;
        r.leftovers.leaked_scan =
            "not applicable: Podman's store has no overlay2 layers of dockerd's".into();
    }
    Ok(r)
}

/// Podman's containers' logs (each one's ctr.log), or a note when the filesystem did not answer.
async fn add_podman_logs(site: &Site<'_>, r: &mut DfReport) {
    let (root, drv) = (site.data_root.to_path_buf(), site.driver.to_string());
    let ids: Vec<String> = r.containers.items.iter().map(|c| c.id.clone()).collect();
    match blocking(site.timeout, move || {
        storage::podman_logs(&root, &drv, &ids)
    })
    .await
    {
        Some(logs) => {
            for (row, log) in r.containers.items.iter_mut().zip(logs) {
                row.log = log;
            }
            r.containers = containers_part(std::mem::take(&mut r.containers.items));
        }
        None => r.notes.push(format!(
            "the containers' logs under {} were not sized: the filesystem did not answer within {}",
            site.data_root.display(),
            human_duration(site.timeout)
        )),
    }
}

/// Under the containerd image store: the containers' logs, tmp leftovers and the daemon's
/// deleted-but-open files, added to the engine's figures — or a note saying why they are not.
fn add_daemon_files(
    site: &Site<'_>,
    r: &mut DfReport,
    files: Option<DaemonFiles>,
    deleted: Option<Vec<storage::DeletedOpen>>,
) {
    r.leftovers.leaked_scan = "not applicable: the containerd image store keeps layers in containerd's snapshotter, not in overlay2 under the data root".into();
    let Some(mut files) = files else {
        r.notes.push(format!(
            "{} was not read (not readable by this user, or it did not answer within {}): container logs and tmp leftovers are left out (run as root)",
            site.data_root.join("containers").display(),
            human_duration(site.walks.deadline + site.timeout)
        ));
        return;
    };
    r.daemon_files = true;
    for row in &mut r.containers.items {
        row.log = files.logs.remove(&row.id);
    }
    r.containers = containers_part(std::mem::take(&mut r.containers.items));
    let scan = std::mem::take(&mut r.leftovers.leaked_scan);
    r.leftovers = files.leftovers;
    r.leftovers.leaked_scan = scan;
    r.notes.extend(files.notes);
    match deleted {
        Some(d) => r.leftovers.add_deleted(d),
        None => r.notes.push(format!(
            "the daemon's deleted-but-open files could not be listed (its process was not found, or /proc did not answer within {})",
            human_duration(site.timeout)
        )),
    }
}

/// What the scan of the data root came to.
enum Scanned {
    Disk(Box<DiskScan>),
    /// The layer store is not readable by this user.
    Unreadable,
    /// The containerd image store: the daemon's own files (`None` when this user may not read
    /// them, or they did not answer in time).
    ContainerdStore(Option<Box<DaemonFiles>>),
    /// Podman's containers/storage: nothing of dockerd's layout to scan.
    Podman,
    /// The scan did not finish in time: the data root itself did not answer.
    TimedOut,
}

/// Whether the engine keeps images in containerd's image store: its `/info` then says
/// `DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]]` (and `Driver` names the
/// snapshotter, `overlayfs`), where a graph driver lists its own status (`Backing Filesystem`, …).
pub(crate) fn containerd_image_store(info: &Value) -> bool {
    info.get("DriverStatus")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|kv| kv.to_string().contains("io.containerd.snapshotter"))
        })
}

pub fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn empty_report(source: &str) -> DfReport {
    DfReport {
        started_at: SystemTime::now(),
        elapsed: Duration::ZERO,
        data_root: PathBuf::new(),
        driver: String::new(),
        image_store: String::new(),
        source: source.into(),
        daemon_files: source == "disk",
        filesystem: None,
        images: ImagesPart::default(),
        containers: ContainersPart::default(),
        volumes: VolumesPart::default(),
        build_cache: BuildCachePart::default(),
        leftovers: LeftoversPart::default(),
        notes: Vec::new(),
        lower_bound: false,
        stuck: Vec::new(),
        chains: HashMap::new(),
        layer_sizes: HashMap::new(),
    }
}

fn container_images(containers: &[Container]) -> HashMap<String, usize> {
    let mut m: HashMap<String, usize> = HashMap::new();
    for c in containers {
        *m.entry(c.image_id.clone()).or_default() += 1;
    }
    m
}

fn volume_users(containers: &[Container]) -> HashMap<String, usize> {
    let mut m: HashMap<String, usize> = HashMap::new();
    for c in containers {
        for mnt in c.mounts.iter().filter(|m| m.kind == "volume") {
            if let Some(n) = &mnt.name {
                *m.entry(n.clone()).or_default() += 1;
            }
        }
    }
    m
}

fn image_tags(i: &Image) -> Vec<String> {
    i.repo_tags
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| vec!["<none>:<none>".into()])
}

/// Labels the disk's figures with the engine's lists: one row per container, image and
/// volume the engine knows.
fn assemble(
    mut scan: DiskScan,
    containers: &[Container],
    images: &[Image],
    volumes: &[Volume],
) -> DfReport {
    let mut r = empty_report("disk");
    r.notes = scan.notes;
    r.lower_bound = scan.lower_bound;
    r.stuck = scan.stuck;
    r.leftovers = scan.leftovers;
    let ins: Vec<ImageIn> = images
        .iter()
        .map(|i| ImageIn {
            id: i.id.clone(),
            tags: image_tags(i),
            created: i.created,
            engine_size: i.size.max(0) as u64,
            engine_shared: None,
            chain: scan.chains.get(&i.id).cloned(),
        })
        .collect();
    if ins.iter().any(|i| i.chain.is_none()) {
        r.notes.push("some images' layer chains could not be read from the layer store: image sizes are the engine's".into());
    }
    r.images = account::images(&ins, &scan.layer_sizes, &container_images(containers), None);
    r.chains = scan.chains;
    r.layer_sizes = scan.layer_sizes;
    let rows = containers
        .iter()
        .map(|c| {
            let rw = scan.rw.get(&c.id).copied();
            ContainerRow {
                id: c.id.clone(),
                name: c.name().to_string(),
                image: c.image.clone(),
                state: c.state.clone(),
                created: c.created,
                rw_bytes: rw.map(|w| w.bytes),
                rw_complete: rw.is_none_or(|w| w.complete),
                // Moved, not copied: each container is listed once.
                log: scan.logs.remove(&c.id),
            }
        })
        .collect();
    r.containers = containers_part(rows);
    let users = volume_users(containers);
    let rows = volumes
        .iter()
        .map(|v| {
            let w = (v.driver == "local")
                .then(|| scan.volumes.get(&v.name).copied())
                .flatten();
            VolumeRow {
                name: v.name.clone(),
                driver: v.driver.clone(),
                anonymous: policy::volumes::is_anonymous(v),
                containers: users.get(&v.name).copied().unwrap_or(0),
                size: w.map(|w| w.bytes),
                complete: w.is_none_or(|w| w.complete),
            }
        })
        .collect();
    r.volumes = volumes_part(rows);
    r
}

/// Totals of the containers: writable layers and logs of containers that are not running are
/// reclaimable (removing the container removes both). Rows come out biggest first.
pub fn containers_part(mut items: Vec<ContainerRow>) -> ContainersPart {
    let mut p = ContainersPart {
        count: items.len(),
        ..ContainersPart::default()
    };
    for c in &items {
        let running = c.state == "running";
        let rw = c.rw_bytes.unwrap_or(0);
        let log = c.log.as_ref().map_or(0, |l| l.bytes);
        p.active += usize::from(running);
        // Saturating: the figures are the engine's and the disk's, any u64.
        p.rw_total = p.rw_total.saturating_add(rw);
        p.log_total = p.log_total.saturating_add(log);
        if !running {
            p.rw_reclaimable = p.rw_reclaimable.saturating_add(rw);
            p.log_reclaimable = p.log_reclaimable.saturating_add(log);
        }
        p.unbounded_logs += usize::from(c.log.as_ref().is_some_and(LogInfo::unbounded));
    }
    let size = |x: &ContainerRow| {
        x.rw_bytes
            .unwrap_or(0)
            .saturating_add(x.log.as_ref().map_or(0, |l| l.bytes))
    };
    items.sort_by(|a, b| size(b).cmp(&size(a)).then_with(|| a.id.cmp(&b.id)));
    p.items = items;
    p
}

/// Totals of the volumes: a volume no container (in any state) mounts is reclaimable — named
/// ones too, as the engine counts them; `gc` still never removes a named volume unless asked.
pub fn volumes_part(mut items: Vec<VolumeRow>) -> VolumesPart {
    let mut p = VolumesPart {
        count: items.len(),
        ..VolumesPart::default()
    };
    for v in &items {
        let size = v.size.unwrap_or(0);
        p.active += usize::from(v.containers > 0);
        p.total = p.total.saturating_add(size);
        if v.containers == 0 {
            p.reclaimable = p.reclaimable.saturating_add(size);
        }
    }
    items.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    p.items = items;
    p
}

/// The `/system/df` request for an engine of API `api`. From 1.52 the answer carries each kind's
/// totals (`ImageUsage`, …) and lists its items only with `verbose=1`; the legacy arrays
/// (`Images`, `LayersSize`, …) that 1.52 still sends without it are gone from the reference
/// from 1.53. `type` (build cache alone) exists from 1.42; older engines ignore both.
pub(crate) fn system_df_path(api: (u32, u32), build_cache_only: bool) -> &'static str {
    match (api >= (1, 52), build_cache_only && api >= (1, 42)) {
        (true, true) => "/system/df?type=build-cache&verbose=1",
        (true, false) => "/system/df?verbose=1",
        (false, true) => "/system/df?type=build-cache",
        (false, false) => "/system/df",
    }
}

/// The `/system/df` request for everything but the volumes (`volumes` false), or for the
/// volumes alone (true), on an engine of API `api`; `None` before 1.42, where `type` does not
/// exist (an older engine ignores it and walks everything). From 1.52 `verbose=1` lists the
/// items, as in [`system_df_path`].
pub(crate) fn system_df_path_by_type(api: (u32, u32), volumes: bool) -> Option<&'static str> {
    if api < (1, 42) {
        return None;
    }
    Some(match (api >= (1, 52), volumes) {
        (true, false) => "/system/df?type=image&type=container&type=build-cache&verbose=1",
        (false, false) => "/system/df?type=image&type=container&type=build-cache",
        (true, true) => "/system/df?type=volume&verbose=1",
        (false, true) => "/system/df?type=volume",
    })
}

/// Under the containerd store, the engine's figures of everything but the volumes, asked while
/// the disk is scanned (`None` elsewhere, and before API 1.42, where the whole `/system/df`
/// is asked after the scan).
async fn engine_df_early(site: &Site<'_>) -> Option<Result<EngineDf, EngineError>> {
    if site.podman || !site.containerd_store {
        return None;
    }
    let path = system_df_path_by_type(site.api, false)?;
    Some(engine_df(site.facts.engine(), path, site.walks.deadline).await)
}

/// The build cache for a report from the disk, asked for while the disk is scanned (`None` where
/// the engine's own `/system/df` stands in for the disk, and carries it).
async fn build_cache_early(site: &Site<'_>) -> Option<BuildCachePart> {
    if site.podman || site.containerd_store {
        return None;
    }
    let snapshots_on_disk = if site.api < (1, 42) {
        let (root, drv) = (site.data_root.to_path_buf(), site.driver.to_string());
        // Unanswered in time counts as present: the engine is asked, under its own deadline.
        blocking(site.timeout, move || {
            storage::buildkit_snapshots_present(&root, &drv)
        })
        .await
        .unwrap_or(true)
    } else {
        true
    };
    Some(
        build_cache_from_engine(
            site.facts.engine(),
            site.api,
            site.walks.deadline,
            snapshots_on_disk,
        )
        .await,
    )
}

/// Build cache from the engine: `/system/df?type=build-cache` from API 1.42; before that the
/// filter does not exist and the whole `/system/df` is slow, so it is asked only when a BuildKit
/// snapshot exists on disk — without one nothing is cached — and then of the builder itself
/// (`runtime::buildkit`, the call `/system/df` makes for these figures), the whole `/system/df`
/// only if the builder cannot be reached that way.
async fn build_cache_from_engine(
    engine: &Engine,
    api: (u32, u32),
    slow_deadline: Duration,
    snapshots_on_disk: bool,
) -> BuildCachePart {
    let slow = engine.with_timeout(slow_deadline);
    if api < (1, 42) && !snapshots_on_disk {
        return BuildCachePart {
            source: "disk".into(),
            ..BuildCachePart::default()
        };
    }
    if api < (1, 42)
        && let Ok(records) = buildkit::disk_usage(engine.endpoint(), engine.timeout()).await
    {
        return build_cache_tally(records.iter().map(|r| (r.size, r.in_use, r.shared)));
    }
    match slow.get_json::<Value>(system_df_path(api, true)).await {
        Ok(t) => EngineDf::parse(&t.value).build_cache,
        Err(e) => BuildCachePart {
            source: format!("not measured: {e}"),
            ..BuildCachePart::default()
        },
    }
}

/// The build cache from its records (`Size`, `InUse`, `Shared`; `Parent` became `Parents` in
/// 1.42 and `Type` gained values over the versions, neither of which is read).
fn build_cache_part(records: &[Value]) -> BuildCachePart {
    build_cache_tally(records.iter().map(|rec| {
        (
            rec.get("Size").and_then(Value::as_i64).unwrap_or(0),
            rec.get("InUse").and_then(Value::as_bool).unwrap_or(false),
            rec.get("Shared").and_then(Value::as_bool).unwrap_or(false),
        )
    }))
}

/// The build cache's totals from its records as (size, in use, shared), however they came.
fn build_cache_tally(records: impl Iterator<Item = (i64, bool, bool)>) -> BuildCachePart {
    let mut p = BuildCachePart {
        source: "engine".into(),
        ..BuildCachePart::default()
    };
    for (size, in_use, shared) in records {
        let size = size.max(0) as u64;
        p.count += 1;
        p.active += usize::from(in_use);
        // Shared records are counted by whoever shares them (as the docker CLI counts).
        // Saturating: each record's size is the engine's, up to i64::MAX.
        if !shared {
            p.total = p.total.saturating_add(size);
        }
        if !in_use && !shared {
            p.reclaimable = p.reclaimable.saturating_add(size);
        }
    }
    p
}

/// An engine's `/system/df` answer, whatever its version, reduced to what the accounting uses.
/// Per-item figures come from the legacy arrays (up to 1.52 without `verbose`) or from each
/// kind's `Items` (1.52 and up with `verbose=1`); an answer with only the newer totals (the
/// reference's 1.53 and up without `verbose`) gives totals and no per-item figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct EngineDf {
    /// Bytes of every image's layers and content, each counted once (`LayersSize`, or
    /// `ImageUsage.TotalSize`). `None` when the engine did not say, or said 0 for a non-empty
    /// image list (Podman's compat API up to 5.4 always sends `LayersSize: 0`).
    pub layers_size: Option<u64>,
    /// Image id without its `sha256:` (see [`EngineDf::image`]) → (`Size`, `SharedSize`); a
    /// figure of -1 (not computed) is `None`.
    pub images: HashMap<String, (Option<u64>, Option<u64>)>,
    /// Container id → `SizeRw`. The field is `omitempty` in every version: a listed container
    /// without it wrote nothing (0); `null` or a negative figure is `None`.
    pub containers: HashMap<String, Option<u64>>,
    /// Volume name → `UsageData.Size` (-1: the driver cannot tell, `None`).
    pub volumes: HashMap<String, Option<u64>>,
    pub build_cache: BuildCachePart,
}

impl EngineDf {
    pub(crate) fn parse(df: &Value) -> EngineDf {
        // The 1.52 kind (`ImageUsage`, …) and the legacy array (`Images`, …): items from
        // whichever has them, the newer first. Borrowed: on a big host the answer is large.
        fn items<'a>(df: &'a Value, usage: &str, legacy: &str) -> Option<&'a [Value]> {
            df.pointer(&format!("/{usage}/Items"))
                .and_then(Value::as_array)
                .or_else(|| df.get(legacy).and_then(Value::as_array))
                .map(Vec::as_slice)
        }
        let size = |v: &Value, key: &str| -> Option<u64> {
            v.pointer(key)
                .and_then(Value::as_i64)
                .and_then(|n| u64::try_from(n).ok())
        };
        let images = items(df, "ImageUsage", "Images").unwrap_or_default();
        let layers_size = df
            .get("LayersSize")
            .or_else(|| df.pointer("/ImageUsage/TotalSize"))
            .and_then(Value::as_i64)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0 || images.is_empty());
        let by_key = |list: &[Value], key: &str, f: &dyn Fn(&Value) -> Option<u64>| {
            list.iter()
                .filter_map(|v| Some((v.get(key)?.as_str()?.to_string(), f(v))))
                .collect::<HashMap<_, _>>()
        };
        let build_cache = match items(df, "BuildCacheUsage", "BuildCache") {
            Some(recs) => build_cache_part(recs),
            // Totals only (no records): the engine's own figures, whose total also counts
            // shared records.
            None => match df.get("BuildCacheUsage").filter(|u| u.is_object()) {
                Some(u) => BuildCachePart {
                    count: size(u, "/TotalCount").unwrap_or(0) as usize,
                    active: size(u, "/ActiveCount").unwrap_or(0) as usize,
                    total: size(u, "/TotalSize").unwrap_or(0),
                    reclaimable: size(u, "/Reclaimable").unwrap_or(0),
                    source: "engine".into(),
                },
                None => build_cache_part(&[]),
            },
        };
        EngineDf {
            layers_size,
            images: images
                .iter()
                .filter_map(|v| {
                    let id = image_key(v.get("Id")?.as_str()?).to_string();
                    Some((id, (size(v, "/Size"), size(v, "/SharedSize"))))
                })
                .collect(),
            containers: by_key(
                items(df, "ContainerUsage", "Containers").unwrap_or_default(),
                "Id",
                &|v| match v.get("SizeRw") {
                    None => Some(0),
                    Some(_) => size(v, "/SizeRw"),
                },
            ),
            volumes: by_key(
                items(df, "VolumeUsage", "Volumes").unwrap_or_default(),
                "Name",
                &|v| size(v, "/UsageData/Size"),
            ),
            build_cache,
        }
    }

    /// The figures of the image whose id (`sha256:…`, as `/images/json` writes it) is `id`.
    pub(crate) fn image(&self, id: &str) -> (Option<u64>, Option<u64>) {
        self.images.get(image_key(id)).copied().unwrap_or_default()
    }
}

/// An image id without its algorithm: Docker writes `sha256:…` everywhere, Podman's compat
/// `/system/df` writes the bare hex its `/images/json` prefixes.
fn image_key(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// The accounting from the engine's own `/system/df` (not root, or the containerd image store).
async fn from_engine(
    engine: &Engine,
    api: (u32, u32),
    slow_deadline: Duration,
    containers: &[Container],
    images: &[Image],
    volumes: &[Volume],
) -> Result<DfReport, EngineError> {
    let df = engine_df(engine, system_df_path(api, false), slow_deadline).await?;
    Ok(engine_report(df, containers, images, volumes))
}

/// The engine's `/system/df` at `path`, under `slow_deadline`. The engine's walk races with
/// containers being made and removed: under the containerd store it answers 404 "snapshot …
/// does not exist" when one went mid-walk (measured on 28.5), and 20.10 refuses a second
/// disk-usage request while one runs. Both pass; an error answer is asked again, twice at
/// most. A deadline is never retried.
async fn engine_df(
    engine: &Engine,
    path: &str,
    slow_deadline: Duration,
) -> Result<EngineDf, EngineError> {
    let slow = engine.with_timeout(slow_deadline);
    // An engine that answered with an error is asked again, a little later each time, within
    // the deadline: it computes one `/system/df` at a time ("already running"), and under the
    // containerd store its walk fails whenever a snapshot it listed went before it was measured
    // ("snapshot …-init-key does not exist"), which on a host creating containers every moment
    // can happen several times in a row.
    let start = Instant::now();
    let mut pause = Duration::from_millis(200);
    let value = loop {
        match slow.get_json::<Value>(path).await {
            Ok(v) => break v.value,
            Err(e) if e.status().is_some() && start.elapsed() + pause < slow_deadline / 2 => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    };
    Ok(EngineDf::parse(&value))
}

/// The storage map from the engine's own figures: its lists, labelled with its `/system/df`.
pub(crate) fn engine_report(
    df: EngineDf,
    containers: &[Container],
    images: &[Image],
    volumes: &[Volume],
) -> DfReport {
    let mut r = empty_report("engine");
    let ins: Vec<ImageIn> = images
        .iter()
        .map(|i| {
            let (size, shared) = df.image(&i.id);
            ImageIn {
                id: i.id.clone(),
                tags: image_tags(i),
                created: i.created,
                engine_size: size.unwrap_or(i.size.max(0) as u64),
                engine_shared: shared,
                chain: None,
            }
        })
        .collect();
    r.images = account::images(
        &ins,
        &HashMap::new(),
        &container_images(containers),
        df.layers_size,
    );
    let rows = containers
        .iter()
        .map(|c| ContainerRow {
            id: c.id.clone(),
            name: c.name().to_string(),
            image: c.image.clone(),
            state: c.state.clone(),
            created: c.created,
            rw_bytes: df.containers.get(&c.id).copied().flatten(),
            rw_complete: true,
            log: None,
        })
        .collect();
    r.containers = containers_part(rows);
    let users = volume_users(containers);
    let rows = volumes
        .iter()
        .map(|v| VolumeRow {
            name: v.name.clone(),
            driver: v.driver.clone(),
            anonymous: policy::volumes::is_anonymous(v),
            containers: users.get(&v.name).copied().unwrap_or(0),
            size: df.volumes.get(&v.name).copied().flatten(),
            complete: true,
        })
        .collect();
    r.volumes = volumes_part(rows);
    r.build_cache = df.build_cache;
    r.leftovers.leaked_scan = "skipped: needs read access to the data root".into();
    r
}

#[cfg(test)]
mod shapes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_cache_counts_shared_once_and_in_use_as_active() {
        let recs: Value = serde_json::json!([
            {"Size": 100, "InUse": false, "Shared": false},
            {"Size": 50, "InUse": true, "Shared": false},
            {"Size": 30, "InUse": false, "Shared": true}
        ]);
        let p = build_cache_part(recs.as_array().expect("a list"));
        assert_eq!(
            (p.count, p.active, p.total, p.reclaimable),
            (3, 1, 150, 100)
        );
    }

    /// Found by fuzzing (fuzz_props::fuzz_df): the engine's sizes are any i64, and three build
    /// cache records of i64::MAX (or a container's and a volume's u64 figures) overflowed the
    /// totals — a panic in a debug build, a wrapped, wrong total in release. They saturate.
    #[test]
    fn totals_of_the_engines_huge_figures_saturate() {
        let df: Value = serde_json::from_str(
            r#"{"BuildCache":[{"Size":9223372036854775807},{"Size":9223372036854775807},{"Size":9223372036854775807}]}"#,
        )
        .expect("json");
        let bc = EngineDf::parse(&df).build_cache;
        assert_eq!((bc.total, bc.reclaimable), (u64::MAX, u64::MAX));
        let p = containers_part(vec![
            crow("a", "exited", u64::MAX, Some((1, None))),
            crow("b", "exited", 1, None),
        ]);
        assert_eq!(
            (p.rw_total, p.rw_reclaimable, p.log_total),
            (u64::MAX, u64::MAX, 1)
        );
        let vol = |name: &str, size| VolumeRow {
            name: name.into(),
            driver: "local".into(),
            anonymous: true,
            containers: 0,
            size: Some(size),
            complete: true,
        };
        let v = volumes_part(vec![vol("a", u64::MAX), vol("b", 1)]);
        assert_eq!((v.total, v.reclaimable), (u64::MAX, u64::MAX));
    }

    fn crow(id: &str, state: &str, rw: u64, log: Option<(u64, Option<&str>)>) -> ContainerRow {
        ContainerRow {
            id: id.into(),
            name: id.into(),
            image: "busybox".into(),
            state: state.into(),
            created: 0,
            rw_bytes: Some(rw),
            rw_complete: true,
            log: log.map(|(bytes, max)| LogInfo {
                driver: "json-file".into(),
                bytes,
                max_size: max.map(str::to_string),
                ..LogInfo::default()
            }),
        }
    }

    #[test]
    fn stopped_containers_are_reclaimable_running_ones_not() {
        let p = containers_part(vec![
            crow("a", "running", 100, Some((10, Some("10m")))),
            crow("b", "exited", 50, Some((500, None))),
            crow("c", "created", 0, None),
        ]);
        assert_eq!(
            (p.count, p.active, p.rw_total, p.rw_reclaimable),
            (3, 1, 150, 50)
        );
        assert_eq!(
            (p.log_total, p.log_reclaimable, p.unbounded_logs),
            (510, 500, 1)
        );
        assert_eq!(p.items[0].id, "b", "biggest (writable + log) first");
    }

    #[test]
    fn unused_volumes_are_reclaimable() {
        let row = |name: &str, n: usize, size: Option<u64>| VolumeRow {
            name: name.into(),
            driver: "local".into(),
            anonymous: false,
            containers: n,
            size,
            complete: true,
        };
        let p = volumes_part(vec![
            row("db", 1, Some(300)),
            row("old", 0, Some(200)),
            row("remote", 0, None),
        ]);
        assert_eq!(
            (p.count, p.active, p.total, p.reclaimable),
            (3, 1, 500, 200)
        );
        assert_eq!(p.items[0].name, "db");
    }

    /// Under the containerd store the engine is asked for everything but the volumes (which
    /// dockhand walks), and for the volumes alone when it cannot walk them; before 1.42 `type`
    /// does not exist, so neither request is made.
    #[test]
    fn the_requests_without_and_with_only_volumes_per_version() {
        let cases = [
            ((1, 41), false, None),
            ((1, 41), true, None),
            (
                (1, 42),
                false,
                Some("/system/df?type=image&type=container&type=build-cache"),
            ),
            ((1, 43), true, Some("/system/df?type=volume")),
            (
                (1, 51),
                false,
                Some("/system/df?type=image&type=container&type=build-cache"),
            ),
            (
                (1, 52),
                false,
                Some("/system/df?type=image&type=container&type=build-cache&verbose=1"),
            ),
            ((1, 56), true, Some("/system/df?type=volume&verbose=1")),
        ];
        for (api, volumes, want) in cases {
            assert_eq!(
                system_df_path_by_type(api, volumes),
                want,
                "{api:?} {volumes}"
            );
        }
    }

    /// dockhand's own walk gives the local volumes' sizes over the engine's rows (which carry
    /// none when `/system/df` was asked without volumes): a stuck volume is a lower bound and
    /// named, a volume of another driver keeps no size.
    #[test]
    fn the_volume_walk_sizes_local_volumes_and_names_the_stuck_one() {
        use crate::runtime::storage::WalkSize;
        let vol = |name: &str, driver: &str| Volume {
            name: name.into(),
            driver: driver.into(),
            mountpoint: String::new(),
            labels: None,
            created_at: None,
        };
        let volumes = [
            vol("fine", "local"),
            vol("slow", "local"),
            vol("nfs", "nfsdriver"),
        ];
        let mut r = engine_report(EngineDf::default(), &[], &[], &volumes);
        let size = |bytes, complete| WalkSize {
            bytes,
            complete,
            ..WalkSize::default()
        };
        add_volume_walk(
            &mut r,
            VolumeWalk {
                volumes: HashMap::from([
                    ("fine".to_string(), size(10_000, true)),
                    ("slow".to_string(), size(7, false)),
                    ("nfs".to_string(), size(99, true)),
                ]),
                stuck: vec![StuckRow {
                    path: "/d/volumes/slow/_data".into(),
                    belongs_to: "volume slow".into(),
                    waited_ms: 2000,
                }],
                lower_bound: true,
            },
        );
        let row = |n: &str| {
            r.volumes
                .items
                .iter()
                .find(|v| v.name == n)
                .expect("a row")
                .clone()
        };
        assert_eq!(
            (row("fine").size, row("fine").complete),
            (Some(10_000), true)
        );
        assert_eq!((row("slow").size, row("slow").complete), (Some(7), false));
        assert_eq!(row("nfs").size, None);
        assert_eq!((r.volumes.total, r.volumes.reclaimable), (10_007, 10_007));
        assert!(r.lower_bound);
        assert_eq!(r.stuck[0].belongs_to, "volume slow");
    }

    #[test]
    fn api_versions_compare() {
        assert!(parse_api("1.41").expect("v") < (1, 42));
        assert!(parse_api("1.43").expect("v") >= (1, 42));
    }
}
