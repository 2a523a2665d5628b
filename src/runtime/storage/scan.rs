//! The data root scanned whole, without the engine's lists: the layer store, image chains,
//! every container's writable layer and log, every local volume, tmp leftovers and leaked
//! overlay2 directories, walked in parallel under one deadline. `facts::storage_map` labels
//! these figures with the engine's lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{
    DeletedOpen, LayerStore, LeakedDir, LogInfo, StuckPath, TmpEntry, WalkSize,
    buildkit_snapshot_names, bytes_contain, container_log_at, container_log_of, overlay2_dirs,
    tmp_leftovers, walk_many,
};
use crate::util::human_duration;

#[derive(Debug, Clone, Serialize)]
pub struct LeakedRow {
    #[serde(flatten)]
    pub dir: LeakedDir,
    pub bytes: u64,
    pub complete: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LeftoversPart {
    pub tmp: Vec<TmpEntry>,
    pub tmp_old: Option<TmpEntry>,
    pub leaked_layers: Vec<LeakedRow>,
    pub deleted_open: Vec<DeletedOpen>,
    /// Bytes of every leftover.
    pub total: u64,
    /// Bytes removable now without touching anything in use: tmp entries no process holds,
    /// a lingering tmp-old. (Leaked layers need the daemon stopped; deleted-open files need
    /// their holder restarted.)
    pub reclaimable: u64,
    /// "done", or why the leaked-layer scan was skipped.
    pub leaked_scan: String,
}

/// One walk given up on because its filesystem stopped answering, and what it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct StuckRow {
    pub path: PathBuf,
    /// "volume NAME", "container NAME's writable layer", "leaked layer directory", …
    pub belongs_to: String,
    pub waited_ms: u64,
}

/// What the disk says, gathered without the engine's lists: the layer store, image chains,
/// every container's writable layer and log, every local volume, and the leftovers.
pub struct DiskScan {
    pub layer_sizes: HashMap<String, u64>,
    /// Image id (`sha256:…`) → its chain of layers.
    pub chains: HashMap<String, Vec<String>>,
    /// Container id → its writable layer (overlay drivers only).
    pub rw: HashMap<String, WalkSize>,
    /// Container id → its log.
    pub logs: HashMap<String, LogInfo>,
    /// Local volume name → its contents.
    pub volumes: HashMap<String, WalkSize>,
    pub leftovers: LeftoversPart,
    pub notes: Vec<String>,
    pub lower_bound: bool,
    pub stuck: Vec<StuckRow>,
}

/// Reads the layer store and walks, in parallel, every writable layer (overlay2 keeps the
/// changes in `<mount-id>/diff`), every local volume (`volumes/<name>/_data`) and every leaked
/// directory; sizes logs and tmp. Needs no list from the engine, so it runs while they come.
/// Nothing here stats a walk's root before the walker does: a volume's `_data` may be a mount
/// that stopped answering, and only the walker may wait on it (and give up). `None` when the
/// layer store is not readable by this user. `leaked` is the caller's verdict on one overlay2
/// directory nothing obviously references (its name, whether the layer store names it, whether
/// a BuildKit snapshot does, its age): `Some(removing)` when it is leaked, so the runtime reads
/// and never judges.
pub fn scan_data_root(
    root: &Path,
    driver: &str,
    deadline: Instant,
    stall: Duration,
    threads: usize,
    leaked: &dyn Fn(&str, bool, bool, Duration) -> Option<bool>,
    logs: Logs,
) -> Option<DiskScan> {
    // The layer store's root exists from the daemon's first start (its sha256/ only once a
    // layer is stored); reading it tells whether this user may read the data root.
    let layerdb = root.join("image").join(driver).join("layerdb");
    std::fs::read_dir(&layerdb).ok()?;
    let mut notes = Vec::new();
    let store = match LayerStore::read(root, driver) {
        Ok(s) => s,
        Err(e) => {
            notes.push(format!("the layer store could not be read: {e}"));
            LayerStore::default()
        }
    };
    let layer_sizes: HashMap<String, u64> = store
        .layers
        .values()
        .map(|l| (l.chain_id.clone(), l.size))
        .collect();
    let chains = image_chains(&store, root, driver);

    let overlay = driver == "overlay2" || driver == "fuse-overlayfs";
    if !overlay {
        notes.push(format!(
            "writable-layer sizes are measured for overlay2 only, not for the {driver} driver"
        ));
    }
    // The walks' roots: writable layers, then volumes, then leaked directories (below).
    let mut roots: Vec<PathBuf> = Vec::new();
    if overlay {
        roots.extend(
            store
                .mounts
                .iter()
                .map(|m| root.join(driver).join(&m.mount_id).join("diff")),
        );
    }
    let vol_start = roots.len();
    let (vol_roots, vol_names) = volume_roots(root);
    roots.extend(vol_roots);
    let mut leftovers = LeftoversPart::default();
    let bk = buildkit_snapshot_names(root);
    let (leaked, leaked_scan) = leaked_dirs(&store, root, driver, &bk, leaked);
    leftovers.leaked_scan = leaked_scan;
    drop(bk);
    // The store's last use: the containers' ids are moved out of it, and the rest (a few
    // hundred bytes per layer and per container) is freed before the walks begin.
    let rw_ids: Vec<String> = if overlay {
        store.mounts.into_iter().map(|m| m.container_id).collect()
    } else {
        Vec::new()
    };
    let leak_start = roots.len();
    roots.extend(leaked.iter().map(|l| l.path.clone()));
    let walked = walk_many(roots, deadline, stall, threads);
    let sizes = walked.sizes;
    let lower_bound = sizes.iter().any(|s| !s.complete);
    let stuck = name_stuck(
        walked.stuck,
        &rw_ids,
        &vol_names,
        vol_start,
        leak_start,
        &mut notes,
    );
    let rw: HashMap<String, WalkSize> = rw_ids.into_iter().zip(sizes.iter().copied()).collect();
    let volumes: HashMap<String, WalkSize> = vol_names
        .into_iter()
        .zip(sizes[vol_start..leak_start].iter().copied())
        .collect();
    let logs = logs.of(root);

    leftovers.leaked_layers = leaked_rows(leaked, &sizes, leak_start);
    add_tmp(root, deadline, &mut leftovers, &mut notes);
    leftovers
        .leaked_layers
        .sort_by_key(|l| std::cmp::Reverse(l.bytes));
    leftovers.total_up();
    Some(DiskScan {
        layer_sizes,
        chains,
        rw,
        logs,
        volumes,
        leftovers,
        notes,
        lower_bound,
        stuck,
    })
}

/// What the daemon keeps under its data root whatever its image store: the containers' logs,
/// tmp leftovers and local volumes. With the containerd image store the layers live in
/// containerd's snapshotter, but `containers/<id>/<id>-json.log`, `tmp/` and
/// `volumes/<name>/_data` are still dockerd's, in the same place: they are read here, for the
/// storage map to add to the engine's figures.
pub struct DaemonFiles {
    /// Container id → its log.
    pub logs: HashMap<String, LogInfo>,
    pub leftovers: LeftoversPart,
    pub notes: Vec<String>,
    /// The local volumes, when they were asked for.
    pub volumes: Option<VolumeWalk>,
}

/// The local volumes walked as under the graph driver: each one's contents, and those whose
/// filesystem stopped answering, named.
pub struct VolumeWalk {
    /// Local volume name → its contents.
    pub volumes: HashMap<String, WalkSize>,
    pub stuck: Vec<StuckRow>,
    /// Some walk ran out of time or hit an unreadable directory: sizes are lower bounds.
    pub lower_bound: bool,
}

/// How to walk the local volumes: one walk that makes no progress for `stall` is given up
/// on, with `threads` walkers.
#[derive(Debug, Clone, Copy)]
pub struct VolumeWalkLimits {
    pub stall: Duration,
    pub threads: usize,
}

/// Reads the containers' logs and the tmp leftovers of `root`, and walks its local volumes
/// when `volumes` says how; `None` when this user may not read the containers' directory (the
/// layer store is not the test here: the containerd image store has none).
pub fn scan_daemon_files(
    root: &Path,
    deadline: Instant,
    volumes: Option<VolumeWalkLimits>,
    logs: Logs,
) -> Option<DaemonFiles> {
    std::fs::read_dir(root.join("containers")).ok()?;
    let mut notes = Vec::new();
    let mut leftovers = LeftoversPart::default();
    let logs = logs.of(root);
    add_tmp(root, deadline, &mut leftovers, &mut notes);
    leftovers.total_up();
    let volumes = volumes.map(|l| walk_volumes(root, deadline, l, &mut notes));
    Some(DaemonFiles {
        logs,
        leftovers,
        notes,
        volumes,
    })
}

/// Walks every local volume (`volumes/<name>/_data`) in parallel, as [`scan_data_root`] does:
/// a volume whose filesystem stopped answering costs at most `stall`, is named (and noted), and
/// the others are still measured.
fn walk_volumes(
    root: &Path,
    deadline: Instant,
    limits: VolumeWalkLimits,
    notes: &mut Vec<String>,
) -> VolumeWalk {
    let (roots, names) = volume_roots(root);
    let walked = walk_many(roots, deadline, limits.stall, limits.threads);
    let stuck = name_stuck(walked.stuck, &[], &names, 0, names.len(), notes);
    VolumeWalk {
        lower_bound: walked.sizes.iter().any(|s| !s.complete),
        volumes: names.into_iter().zip(walked.sizes).collect(),
        stuck,
    }
}

/// Every image's chain of layers, read from the image store's content (id `sha256:…`).
fn image_chains(store: &LayerStore, root: &Path, driver: &str) -> HashMap<String, Vec<String>> {
    let content = root
        .join("image")
        .join(driver)
        .join("imagedb/content/sha256");
    let names = crate::runtime::entry_names(&content);
    crate::runtime::par_map(&names, |hex| {
        let chain = store.image_chain(root, driver, hex)?;
        Some((format!("sha256:{hex}"), chain))
    })
    .into_iter()
    .collect()
}

/// The local volumes' walk roots (`volumes/<name>/_data`) and their names, in the same order.
fn volume_roots(root: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(root.join("volumes"))
        .into_iter()
        .flatten()
        .flatten()
    {
        // The entry's type from readdir (no stat): only directories hold a volume.
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        roots.push(e.path().join("_data"));
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    (roots, names)
}

/// The overlay2 directories the caller's `leaked` verdict calls leaked, and how the scan went
/// ("done", or why it was skipped).
fn leaked_dirs(
    store: &LayerStore,
    root: &Path,
    driver: &str,
    bk: &[u8],
    leaked: &dyn Fn(&str, bool, bool, Duration) -> Option<bool>,
) -> (Vec<LeakedDir>, String) {
    if driver != "overlay2" {
        return (
            Vec::new(),
            format!("skipped: the scan knows overlay2's layout only, not {driver}'s"),
        );
    }
    let referenced = store.referenced_dirs();
    // What leaked_dir can never call leaked — a referenced or BuildKit directory not being
    // removed, and `l` — is left out by name, before any stat.
    let candidate = |name: &str| {
        let base = name.strip_suffix("-removing").unwrap_or(name);
        name != "l"
            && (base.len() != name.len() || !(referenced.contains(base) || bytes_contain(bk, base)))
    };
    match overlay2_dirs(root, candidate) {
        Ok(dirs) => {
            let found = dirs
                .into_iter()
                .filter_map(|d| {
                    let base = d.name.strip_suffix("-removing").unwrap_or(&d.name);
                    let removing = leaked(
                        &d.name,
                        referenced.contains(base),
                        bytes_contain(bk, base),
                        d.age,
                    )?;
                    Some(LeakedDir {
                        path: d.path,
                        removing,
                        age_s: d.age.as_secs(),
                    })
                })
                .collect();
            (found, "done".into())
        }
        Err(e) => (Vec::new(), format!("skipped: {e}")),
    }
}

/// Names what each walk that stopped answering belongs to, from its root's index (only such a
/// walk needs a name, so none is built ahead), and notes each one.
fn name_stuck(
    stuck: Vec<StuckPath>,
    rw_ids: &[String],
    vol_names: &[String],
    vol_start: usize,
    leak_start: usize,
    notes: &mut Vec<String>,
) -> Vec<StuckRow> {
    let owner = |i: usize| {
        if i < vol_start {
            rw_ids.get(i).map_or_else(String::new, |id| {
                format!("container {}'s writable layer", short_id(id))
            })
        } else if i < leak_start {
            format!("volume {}", vol_names[i - vol_start])
        } else {
            "a leaked layer directory".to_string()
        }
    };
    let stuck: Vec<StuckRow> = stuck
        .into_iter()
        .map(|s| StuckRow {
            belongs_to: owner(s.root),
            path: s.path,
            waited_ms: s.waited_ms,
        })
        .collect();
    for s in &stuck {
        notes.push(format!(
            "{} ({}) did not answer for {}: its filesystem may have stopped answering (a hung NFS or FUSE mount); its size is a lower bound",
            s.path.display(),
            s.belongs_to,
            human_duration(Duration::from_millis(s.waited_ms))
        ));
    }
    stuck
}

/// Each leaked directory with its walk's size (its walk is at `leak_start + i`).
fn leaked_rows(leaked: Vec<LeakedDir>, sizes: &[WalkSize], leak_start: usize) -> Vec<LeakedRow> {
    leaked
        .into_iter()
        .enumerate()
        .map(|(i, dir)| {
            let w = sizes.get(leak_start + i).copied().unwrap_or_default();
            LeakedRow {
                dir,
                bytes: w.bytes,
                complete: w.complete,
            }
        })
        .collect()
}

/// Whether a scan sizes the containers' logs itself (reading each one's hostconfig.json), or
/// leaves them to [`logs_of`], for a caller that has the containers' records at hand anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    Read,
    Skip,
}

impl Logs {
    /// The logs under `root` as this says: every container's, or none.
    fn of(self, root: &Path) -> HashMap<String, LogInfo> {
        match self {
            Logs::Read => container_logs(root),
            Logs::Skip => HashMap::new(),
        }
    }
}

/// The logs of the containers whose log configuration is known (each `LogInfo` holds a
/// container's driver, `max-size` and `max-file`, from its record), by container id: no
/// hostconfig.json is read again.
pub fn logs_of(root: &Path, known: Vec<(String, LogInfo)>) -> HashMap<String, LogInfo> {
    let Ok(dir) = std::fs::File::open(root.join("containers")) else {
        return HashMap::new();
    };
    crate::runtime::par_map(&known, |(id, conf)| {
        Some((id.clone(), container_log_of(root, &dir, id, conf.clone())))
    })
    .into_iter()
    .collect()
}

/// Every container's log, by container id.
pub fn container_logs(root: &Path) -> HashMap<String, LogInfo> {
    // One hostconfig.json read and a directory listing per container: on a big host, spread
    // over a few threads like the layer store.
    let Ok(dir) = std::fs::File::open(root.join("containers")) else {
        return HashMap::new();
    };
    let ids = crate::runtime::entry_names(&root.join("containers"));
    crate::runtime::par_map(&ids, |id| {
        container_log_at(root, &dir, id).map(|l| (id.to_string(), l))
    })
    .into_iter()
    .collect()
}

/// The tmp leftovers (biggest first) into `leftovers`, and what could not be read into `notes`.
fn add_tmp(root: &Path, deadline: Instant, leftovers: &mut LeftoversPart, notes: &mut Vec<String>) {
    let tmp = tmp_leftovers(root, deadline);
    if tmp.unreadable > 0 {
        notes.push(format!(
            "{} processes' open files could not be read: a tmp entry marked unheld may be held",
            tmp.unreadable
        ));
    }
    notes.extend(tmp.notes);
    leftovers.tmp = tmp.report.tmp;
    leftovers.tmp_old = tmp.report.tmp_old;
    leftovers.tmp.sort_by_key(|t| std::cmp::Reverse(t.bytes));
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl LeftoversPart {
    /// The daemon's deleted-but-open files, read apart from the scan (a stat through
    /// /proc/<pid>/fd reaches the file's own filesystem, which may be the one not answering).
    pub fn add_deleted(&mut self, mut deleted: Vec<DeletedOpen>) {
        deleted.sort_by_key(|x| std::cmp::Reverse(x.bytes));
        self.deleted_open = deleted;
        self.total_up();
    }

    pub fn total_up(&mut self) {
        let tmp_bytes: u64 = self.tmp.iter().map(|t| t.bytes).sum();
        let tmp_free: u64 = self.tmp.iter().filter(|t| !t.open).map(|t| t.bytes).sum();
        let old = self.tmp_old.as_ref().map_or(0, |t| t.bytes);
        let old_free = self
            .tmp_old
            .as_ref()
            .filter(|t| !t.open)
            .map_or(0, |t| t.bytes);
        let leaked_bytes: u64 = self.leaked_layers.iter().map(|x| x.bytes).sum();
        let deleted: u64 = self.deleted_open.iter().map(|x| x.bytes).sum();
        self.total = tmp_bytes + old + leaked_bytes + deleted;
        self.reclaimable = tmp_free + old_free;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_root(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-scan-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("containers")).expect("mkdir");
        d
    }

    /// Under the containerd store the volumes are walked with the daemon's files, only when
    /// asked (before API 1.42 the engine walks them): each one measured, nothing stuck.
    #[test]
    fn daemon_files_walk_the_volumes_only_when_asked() {
        let root = data_root("volumes");
        std::fs::create_dir_all(root.join("volumes/a/_data/sub")).expect("mkdir");
        std::fs::create_dir_all(root.join("volumes/empty/_data")).expect("mkdir");
        std::fs::write(root.join("volumes/a/_data/sub/f"), vec![1u8; 1234]).expect("write");
        // Not a volume: a file beside them (the engine keeps its metadata.db there).
        std::fs::write(root.join("volumes/metadata.db"), b"x").expect("write");
        let far = Instant::now() + Duration::from_secs(60);
        let limits = VolumeWalkLimits {
            stall: Duration::from_secs(5),
            threads: 2,
        };
        let files = scan_daemon_files(&root, far, Some(limits), Logs::Read).expect("readable");
        let v = files.volumes.expect("walked");
        assert_eq!(v.volumes.len(), 2, "{:?}", v.volumes);
        assert_eq!(v.volumes["a"].bytes, 1234);
        assert!(v.volumes["a"].complete && v.volumes["empty"].complete);
        assert_eq!(v.volumes["empty"].bytes, 0);
        assert!(v.stuck.is_empty() && !v.lower_bound);
        let files = scan_daemon_files(&root, far, None, Logs::Read).expect("readable");
        assert!(files.volumes.is_none());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn logs_sized_from_known_configuration_match_those_read_from_hostconfig() {
        let root = data_root("logs-of");
        let c = |id: &str, host: &str, files: &[(&str, usize)]| {
            let dir = root.join("containers").join(id);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("hostconfig.json"), host).expect("write");
            for (f, n) in files {
                let p = dir.join(f);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(p, vec![b'x'; *n]).expect("write");
            }
        };
        // The daemon's default: json-file, nothing rotates it (one file; a look-alike beside it
        // is not its log).
        c(
            "aaa",
            r#"{"LogConfig":{"Type":"json-file","Config":{}}}"#,
            &[("aaa-json.log", 300), ("aaa-json.logx", 7)],
        );
        // Rotated by max-size: the rotated files count.
        c(
            "bbb",
            r#"{"LogConfig":{"Type":"json-file","Config":{"max-size":"1m","max-file":"3"}}}"#,
            &[
                ("bbb-json.log", 100),
                ("bbb-json.log.1", 50),
                ("bbb-json.log.2.gz", 5),
            ],
        );
        // The local driver keeps its own directory.
        c(
            "ccc",
            r#"{"LogConfig":{"Type":"local","Config":{}}}"#,
            &[
                ("local-logs/container.log", 40),
                ("local-logs/container.log.1", 2),
            ],
        );
        // No LogConfig at all: json-file, as the engine defaults; no log written yet.
        c("ddd", r#"{}"#, &[]);
        // A symlink where the log should be is not followed.
        c(
            "eee",
            r#"{"LogConfig":{"Type":"json-file","Config":{}}}"#,
            &[],
        );
        std::os::unix::fs::symlink("/etc/passwd", root.join("containers/eee/eee-json.log"))
            .expect("symlink");
        let read = container_logs(&root);
        let conf = |driver: &str, size: Option<&str>, file: Option<&str>| LogInfo {
            driver: driver.into(),
            max_size: size.map(str::to_string),
            max_file: file.map(str::to_string),
            ..LogInfo::default()
        };
        let known = vec![
            ("aaa".to_string(), conf("json-file", None, None)),
            ("bbb".to_string(), conf("json-file", Some("1m"), Some("3"))),
            ("ccc".to_string(), conf("local", None, None)),
            ("ddd".to_string(), conf("", None, None)),
            ("eee".to_string(), conf("json-file", None, None)),
        ];
        let of = logs_of(&root, known);
        let bytes = |m: &HashMap<String, LogInfo>, id: &str| {
            (m[id].bytes, m[id].files.len(), m[id].driver.clone())
        };
        for (id, want) in [
            ("aaa", (300, 1, "json-file")),
            ("bbb", (155, 3, "json-file")),
            ("ccc", (42, 2, "local")),
            ("ddd", (0, 0, "json-file")),
            ("eee", (0, 0, "json-file")),
        ] {
            let want = (want.0, want.1, want.2.to_string());
            assert_eq!(bytes(&read, id), want, "{id} read from hostconfig.json");
            assert_eq!(bytes(&of, id), want, "{id} from its known configuration");
            assert_eq!(read[id].files, of[id].files, "{id}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
