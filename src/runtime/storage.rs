//! The data root on disk: the layer store's recorded sizes and references, overlay2
//! directories, container logs, tmp leftovers, and bounded directory walks.
//!
//! Sizes come from the layer store where it records them (`layerdb/sha256/<chain>/size`); only
//! what nothing records — writable layers, logs, volumes, tmp, leaked directories — is walked,
//! in parallel, never following symlinks, under a deadline: a walk that runs out of time
//! returns what it counted so far, marked as a lower bound.

pub mod scan;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// One layer as the layer store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    /// The layer's own size in bytes (not its parents').
    pub size: u64,
    /// The storage driver's directory name for it (overlay2/<cache_id>).
    pub cache_id: String,
}

/// A container's layers: its writable layer and the init layer beneath it. (The store also
/// records the image layer beneath them, `parent`; nothing here needs it, and on a host with
/// 10,000 containers not reading it is 10,000 files fewer.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRef {
    pub container_id: String,
    pub mount_id: String,
    pub init_id: Option<String>,
}

/// The layer store of one graph driver: `<root>/image/<driver>/`.
#[derive(Debug, Default)]
pub struct LayerStore {
    pub layers: HashMap<String, Layer>,
    pub mounts: Vec<MountRef>,
    /// Driver directory names that a layer registration in progress refers to
    /// (`layerdb/tmp/write-set-*/cache-id`): in use, although not in the store yet.
    pub in_flight: HashSet<String>,
    /// (parent chain id, diff id) → chain id: how an image's diff ids become chains without
    /// hashing.
    by_parent_diff: HashMap<(Option<String>, String), String>,
}

/// A one-line file of the layer store (an id, a size), trimmed; `None` when missing or empty.
fn read_trim(p: &Path) -> Option<String> {
    super::with_file(p, trimmed)
}

/// A one-line file's text, trimmed; `None` when empty or not UTF-8.
fn trimmed(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn strip_algo(s: &str) -> &str {
    s.strip_prefix("sha256:").unwrap_or(s)
}

/// A one-line file under an open directory (`rel` relative to it), trimmed; `None` when missing
/// or empty. Relative to a directory the kernel resolves two names, not the data root's whole
/// path: on a host with 10,000 containers the layer store is 30,000 such files.
fn read_trim_at(dir: &fs::File, rel: &str) -> Option<String> {
    super::with_file_at(dir, rel, trimmed)
}

impl LayerStore {
    /// Reads `<root>/image/<driver>/layerdb`. Errors only when the store itself is unreadable.
    pub fn read(data_root: &Path, driver: &str) -> io::Result<LayerStore> {
        let db = data_root.join("image").join(driver).join("layerdb");
        let mut store = LayerStore::default();
        // A daemon that has never stored a layer has no sha256/ yet: an empty store.
        let sha = db.join("sha256");
        let layers_dir = match fs::File::open(&sha) {
            Ok(d) => Some(d),
            Err(e) if e.kind() == io::ErrorKind::NotFound && db.is_dir() => None,
            Err(e) => return Err(e),
        };
        if let Some(dir) = &layers_dir {
            let names = super::entry_names(&sha);
            let layers = super::par_map(&names, |chain_id| {
                let at = |f: &str| read_trim_at(dir, &format!("{chain_id}/{f}"));
                let (Some(diff), Some(cache_id)) = (at("diff"), at("cache-id")) else {
                    return None;
                };
                Some(Layer {
                    chain_id: chain_id.to_string(),
                    diff_id: strip_algo(&diff).to_string(),
                    parent: at("parent").map(|p| strip_algo(&p).to_string()),
                    size: at("size").and_then(|s| s.parse().ok()).unwrap_or(0),
                    cache_id,
                })
            });
            for l in layers {
                store
                    .by_parent_diff
                    .insert((l.parent.clone(), l.diff_id.clone()), l.chain_id.clone());
                store.layers.insert(l.chain_id.clone(), l);
            }
        }
        let mounts = db.join("mounts");
        if let Ok(dir) = fs::File::open(&mounts) {
            let names = super::entry_names(&mounts);
            store.mounts = super::par_map(&names, |container_id| {
                let at = |f: &str| read_trim_at(&dir, &format!("{container_id}/{f}"));
                Some(MountRef {
                    container_id: container_id.to_string(),
                    mount_id: at("mount-id")?,
                    init_id: at("init-id"),
                })
            });
        }
        if let Ok(rd) = fs::read_dir(db.join("tmp")) {
            for entry in rd.flatten() {
                if let Some(c) = read_trim(&entry.path().join("cache-id")) {
                    store.in_flight.insert(c);
                }
            }
        }
        Ok(store)
    }

    /// An image's layer chain, base first, from its config's `rootfs.diff_ids`
    /// (`<root>/image/<driver>/imagedb/content/sha256/<id>`). `None` if the config is missing
    /// or a layer is not in the store.
    pub fn image_chain(
        &self,
        data_root: &Path,
        driver: &str,
        image_id: &str,
    ) -> Option<Vec<String>> {
        let path = data_root
            .join("image")
            .join(driver)
            .join("imagedb/content/sha256")
            .join(strip_algo(image_id));
        let config: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let diff_ids = config.pointer("/rootfs/diff_ids")?.as_array()?;
        self.chain_from_diff_ids(diff_ids.iter().filter_map(|d| d.as_str()))
    }

    pub fn chain_from_diff_ids<'a>(
        &self,
        diff_ids: impl Iterator<Item = &'a str>,
    ) -> Option<Vec<String>> {
        let mut chain: Vec<String> = Vec::new();
        for d in diff_ids {
            let key = (chain.last().cloned(), strip_algo(d).to_string());
            chain.push(self.by_parent_diff.get(&key)?.clone());
        }
        Some(chain)
    }

    /// Every driver directory the store references: layers, containers' RW and init layers,
    /// registrations in flight. Borrowed from the store: on a host with 10,000 containers that
    /// is 22,000 names, which copies would double.
    pub fn referenced_dirs(&self) -> HashSet<&str> {
        let mut set: HashSet<&str> = self.layers.values().map(|l| l.cache_id.as_str()).collect();
        for m in &self.mounts {
            set.insert(m.mount_id.as_str());
            if let Some(i) = &m.init_id {
                set.insert(i.as_str());
            }
        }
        set.extend(self.in_flight.iter().map(String::as_str));
        set
    }
}

/// A directory under `overlay2/` that nothing references.
#[derive(Debug, Clone, Serialize)]
pub struct LeakedDir {
    pub path: PathBuf,
    /// A `*-removing` directory: a removal that did not finish.
    pub removing: bool,
    pub age_s: u64,
}

/// One directory under `overlay2/`, as found: its name, path and how long since it changed.
#[derive(Debug, Clone)]
pub struct DriverDir {
    pub name: String,
    pub path: PathBuf,
    pub age: Duration,
}

/// The directories under `<root>/overlay2` whose name `candidate` accepts (its type from
/// readdir, its age from one lstat of the entry itself — nothing below it is touched).
/// [`crate::policy::storage::leaked_dir`] judges them. The caller rules out by name what can
/// never be leaked (a directory the layer store references): on a big host that is nearly all
/// of them, which are then neither stat'ed nor kept.
pub fn overlay2_dirs(
    data_root: &Path,
    mut candidate: impl FnMut(&str) -> bool,
) -> io::Result<Vec<DriverDir>> {
    let now = SystemTime::now();
    let mut out = Vec::new();
    for entry in fs::read_dir(data_root.join("overlay2"))?.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        if !candidate(&name.to_string_lossy()) {
            continue;
        }
        let age = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or(Duration::ZERO);
        out.push(DriverDir {
            name: name.to_string_lossy().into_owned(),
            path: entry.path(),
            age,
        });
    }
    Ok(out)
}

/// BuildKit (the builder inside dockerd) keeps its snapshots as graph-driver directories that
/// the layer store does not know; their names are recorded in `buildkit/snapshots.db`. The file
/// is a bolt database, so it is searched for the name as bytes: a name found there is in use.
pub fn buildkit_snapshot_names(data_root: &Path) -> Vec<u8> {
    fs::read(data_root.join("buildkit").join("snapshots.db")).unwrap_or_default()
}

/// Whether BuildKit keeps a snapshot under the data root: a directory of the graph driver's
/// whose name its database records. Without one nothing is cached, so an old engine's slow
/// `/system/df` (the only source of build-cache figures before API 1.42) need not be asked.
/// Cheap beside the scan (one read of the database, one listing of the driver's directory),
/// so it can run before the scan, and the engine's answer arrive while the disk is walked.
pub fn buildkit_snapshots_present(data_root: &Path, driver: &str) -> bool {
    snapshots_listed(&buildkit_snapshot_names(data_root), data_root, driver)
}

/// Whether any directory of the graph driver's is named in `bk` (BuildKit's database bytes).
pub fn snapshots_listed(bk: &[u8], data_root: &Path, driver: &str) -> bool {
    !bk.is_empty()
        && fs::read_dir(data_root.join(driver)).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| bytes_contain(bk, &e.file_name().to_string_lossy()))
        })
}

/// Whether `needle` occurs in `hay`. With thousands of overlay2 directories to look up in
/// BuildKit's database, a naive scan costs tens of millions of comparisons; memchr's searcher
/// does the same with SIMD.
pub fn bytes_contain(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

/// The result of walking one directory tree.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct WalkSize {
    /// Apparent bytes (st_size), hard links counted once — how the engine counts.
    pub bytes: u64,
    /// Bytes allocated on disk (st_blocks × 512).
    pub disk_bytes: u64,
    pub files: u64,
    /// False when the deadline ran out or a part was unreadable: `bytes` is a lower bound.
    pub complete: bool,
}

/// A walk that stopped making progress: a filesystem that does not answer (an NFS or FUSE
/// mount whose server went away) blocks `stat`, `readdir` and `open` below it, forever.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StuckPath {
    /// The root being walked (index into the roots given).
    #[serde(skip)]
    pub root: usize,
    /// Where the walk was when it stopped answering: the directory being read, or the root.
    pub path: PathBuf,
    /// How long it had made no progress when it was given up.
    pub waited_ms: u64,
}

/// What [`walk_many`] found: one size per root (a lower bound where `complete` is false) and the
/// walks given up because their filesystem stopped answering.
#[derive(Debug, Clone, Default)]
pub struct Walked {
    pub sizes: Vec<WalkSize>,
    pub stuck: Vec<StuckPath>,
}

/// What a worker is doing, for the collector to see: the root and directory it is in, its
/// running count, and when it last moved.
struct Worker {
    current: Mutex<Option<(usize, PathBuf, WalkSize)>>,
    /// Milliseconds since the walk began, at the worker's last step.
    last_step_ms: AtomicU64,
    /// Given up on: it must not report, and stops if it ever wakes.
    abandoned: AtomicBool,
}

/// Walks several trees in parallel (`threads` workers) under an overall `deadline`, and gives up
/// on any one walk that makes no progress for `stall` — a mount that stopped answering costs at
/// most `stall`, and the other trees are still walked (a replacement worker takes over the
/// queue). Workers are detached threads: a thread blocked in the kernel on a hung mount cannot
/// be cancelled, only abandoned, and the process exits without waiting for it. The result at
/// index i belongs to `roots[i]`. A missing root is an empty, complete walk.
pub fn walk_many(
    roots: Vec<PathBuf>,
    deadline: Instant,
    stall: Duration,
    threads: usize,
) -> Walked {
    let n = roots.len();
    let mut tally = Tally {
        out: Walked {
            sizes: vec![WalkSize::default(); n],
            stuck: Vec::new(),
        },
        done: vec![false; n],
        finished: 0,
    };
    if n == 0 {
        return tally.out;
    }
    let (tx, rx) = mpsc::channel::<(usize, WalkSize)>();
    let pool = Pool {
        // Taken, not copied: shared with the walkers (10,000 paths on a big host).
        roots: Arc::new(roots),
        next: Arc::new(AtomicUsize::new(0)),
        tx,
        start: Instant::now(),
        deadline,
    };
    let mut workers: Vec<Arc<Worker>> = Vec::new();
    for _ in 0..threads.clamp(1, 16).min(n) {
        if !pool.spawn(&mut workers) {
            break;
        }
    }
    // Roots whose walk was given up on count as finished.
    while tally.finished < n {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(first) => {
                tally.record(first);
                while let Ok(next) = rx.try_recv() {
                    tally.record(next);
                }
                // Woken per result, the collector would cost two futex calls and a switch for
                // each of 10,000 small walks; a short nap lets the results gather instead.
                if tally.finished < n {
                    std::thread::sleep(Duration::from_millis(2));
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) if workers.is_empty() => break,
            Err(_) => {}
        }
        let now_ms = elapsed_ms(pool.start);
        if Instant::now() >= deadline {
            break;
        }
        let replacements = tally.give_up_stalled(&workers, now_ms, stall);
        for _ in 0..replacements {
            if pool.next.load(Ordering::Relaxed) < n {
                pool.spawn(&mut workers);
            }
        }
    }
    if tally.finished < n {
        tally.settle_at_deadline(&workers, &rx);
    }
    tally.out
}

/// What the walkers share: the roots, the next root to take, where to report, and the clock.
struct Pool {
    roots: Arc<Vec<PathBuf>>,
    next: Arc<AtomicUsize>,
    tx: mpsc::Sender<(usize, WalkSize)>,
    start: Instant,
    deadline: Instant,
}

impl Pool {
    /// Starts one detached walker taking roots from the queue; false when no thread could start.
    fn spawn(&self, workers: &mut Vec<Arc<Worker>>) -> bool {
        let w = Arc::new(Worker {
            current: Mutex::new(None),
            last_step_ms: AtomicU64::new(elapsed_ms(self.start)),
            abandoned: AtomicBool::new(false),
        });
        workers.push(Arc::clone(&w));
        let (roots, next, tx) = (
            Arc::clone(&self.roots),
            Arc::clone(&self.next),
            self.tx.clone(),
        );
        let (start, deadline) = (self.start, self.deadline);
        let spawned = std::thread::Builder::new()
            .name("dockhand-walk".into())
            .spawn(move || walker(&w, &roots, &next, &tx, start, deadline));
        spawned.is_ok()
    }
}

/// One walker's life: takes roots until none is left, telling `w` where it is at each step,
/// and stops without reporting once it is given up on.
fn walker(
    w: &Worker,
    roots: &[PathBuf],
    next: &AtomicUsize,
    tx: &mpsc::Sender<(usize, WalkSize)>,
    start: Instant,
    deadline: Instant,
) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(root) = roots.get(i) else { break };
        w.last_step_ms.store(elapsed_ms(start), Ordering::Relaxed);
        if let Ok(mut c) = w.current.lock() {
            *c = Some((i, root.clone(), WalkSize::default()));
        }
        let r = walk_observed(root, deadline, &|path, partial| {
            w.last_step_ms.store(elapsed_ms(start), Ordering::Relaxed);
            if let Ok(mut c) = w.current.lock() {
                *c = Some((i, path.to_path_buf(), partial));
            }
            !w.abandoned.load(Ordering::Relaxed)
        });
        if w.abandoned.load(Ordering::Relaxed) {
            break;
        }
        if let Ok(mut c) = w.current.lock() {
            *c = None;
        }
        if tx.send((i, r)).is_err() {
            break;
        }
    }
}

/// The collector's record: each root's result, which roots are settled, and how many.
struct Tally {
    out: Walked,
    done: Vec<bool>,
    finished: usize,
}

impl Tally {
    /// One walk's result, unless its root was settled already (given up on).
    fn record(&mut self, (i, r): (usize, WalkSize)) {
        if !self.done[i] {
            self.done[i] = true;
            self.finished += 1;
            self.out.sizes[i] = r;
        }
    }

    /// Gives up on every walker idle for `stall` or longer: its root keeps what it counted (a
    /// lower bound) and is named stuck. Returns how many walkers need a replacement.
    fn give_up_stalled(&mut self, workers: &[Arc<Worker>], now_ms: u64, stall: Duration) -> usize {
        let mut replacements = 0;
        for w in workers {
            if w.abandoned.load(Ordering::Relaxed) {
                continue;
            }
            let idle = now_ms.saturating_sub(w.last_step_ms.load(Ordering::Relaxed));
            if idle < stall.as_millis() as u64 {
                continue;
            }
            let cur = w.current.lock().ok().and_then(|c| c.clone());
            let Some((i, path, partial)) = cur else {
                continue;
            };
            w.abandoned.store(true, Ordering::Relaxed);
            if !self.done[i] {
                self.done[i] = true;
                self.finished += 1;
                self.out.sizes[i] = WalkSize {
                    complete: false,
                    ..partial
                };
                self.out.stuck.push(StuckPath {
                    root: i,
                    path,
                    waited_ms: idle,
                });
            }
            replacements += 1;
        }
        replacements
    }

    /// The deadline ran out: what the walks in flight counted so far is a lower bound, and the
    /// roots never started are unknown.
    fn settle_at_deadline(
        &mut self,
        workers: &[Arc<Worker>],
        rx: &mpsc::Receiver<(usize, WalkSize)>,
    ) {
        for w in workers {
            w.abandoned.store(true, Ordering::Relaxed);
            if let Some((i, _, partial)) = w.current.lock().ok().and_then(|c| c.clone())
                && !self.done[i]
            {
                self.done[i] = true;
                self.out.sizes[i] = WalkSize {
                    complete: false,
                    ..partial
                };
            }
        }
        while let Ok((i, r)) = rx.try_recv() {
            if !self.done[i] {
                self.done[i] = true;
                self.out.sizes[i] = r;
            }
        }
        for (i, d) in self.done.iter().enumerate() {
            if !d {
                self.out.sizes[i].complete = false;
            }
        }
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

#[cfg(test)]
/// Walks one tree without following symlinks.
pub fn walk(root: &Path, deadline: Instant) -> WalkSize {
    walk_observed(root, deadline, &|_, _| true)
}

/// Walks one tree, telling `step` where it is (each directory, and every 256 entries) and what
/// it has counted; `step` returning false stops the walk (its result is then partial).
fn walk_observed(
    root: &Path,
    deadline: Instant,
    step: &dyn Fn(&Path, WalkSize) -> bool,
) -> WalkSize {
    let mut out = WalkSize {
        complete: true,
        ..WalkSize::default()
    };
    let meta = match fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return out,
        Err(_) => {
            out.complete = false;
            return out;
        }
    };
    let mut seen_links: HashSet<(u64, u64)> = HashSet::new();
    let mut count = |m: &fs::Metadata, out: &mut WalkSize| {
        if m.is_file() && m.nlink() > 1 && !seen_links.insert((m.dev(), m.ino())) {
            return;
        }
        out.bytes += m.len();
        out.disk_bytes += m.blocks() * 512;
        out.files += 1;
    };
    if !meta.is_dir() {
        count(&meta, &mut out);
        return out;
    }
    let mut stack = vec![root.to_path_buf()];
    let mut n = 0u32;
    while let Some(dir) = stack.pop() {
        if !step(&dir, out) {
            out.complete = false;
            return out;
        }
        let Ok(rd) = fs::read_dir(&dir) else {
            out.complete = false;
            continue;
        };
        for entry in rd.flatten() {
            n = n.wrapping_add(1);
            if n.is_multiple_of(256) && (Instant::now() >= deadline || !step(&dir, out)) {
                out.complete = false;
                return out;
            }
            let Ok(m) = entry.metadata() else { continue }; // vanished mid-walk
            if m.is_dir() {
                stack.push(entry.path());
            } else {
                count(&m, &mut out);
            }
        }
    }
    out
}

/// A container's json-file or local log files and what limits them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogInfo {
    pub driver: String,
    /// Bytes of the log and its rotated files on disk.
    pub bytes: u64,
    pub files: Vec<PathBuf>,
    /// The container's `max-size` log option, if any.
    pub max_size: Option<String>,
    pub max_file: Option<String>,
}

impl LogInfo {
    /// Logs that grow without bound: json-file without `max-size` (`local` rotates by default).
    pub fn unbounded(&self) -> bool {
        self.driver == "json-file" && self.max_size.is_none()
    }
}

/// Reads a container's log configuration from `containers/<id>/hostconfig.json` (where the
/// daemon's defaults were merged at create time) and sizes its log files.
/// `containers` is `<data root>/containers`, open: the reads are relative to it.
pub(crate) fn container_log_at(
    data_root: &Path,
    containers: &fs::File,
    id: &str,
) -> Option<LogInfo> {
    // Only `LogConfig` is decoded; the rest of the file (some sixty fields) is skipped without
    // being built, which on a host with 10,000 containers is most of this function's time.
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Host {
        #[serde(rename = "LogConfig")]
        log_config: Option<LogConf>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct LogConf {
        #[serde(rename = "Type")]
        kind: Option<serde_json::Value>,
        #[serde(rename = "Config")]
        config: Option<serde_json::Value>,
    }
    let host: Host = super::with_file_at(containers, &format!("{id}/hostconfig.json"), |b| {
        serde_json::from_slice(b).ok()
    })?;
    let conf = host.log_config.unwrap_or_default();
    let opt = |k: &str| {
        conf.config
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let kind = conf.kind.as_ref().and_then(|t| t.as_str()).unwrap_or("");
    Some(container_log_of(
        data_root,
        containers,
        id,
        LogInfo {
            driver: kind.to_string(),
            max_size: opt("max-size"),
            max_file: opt("max-file"),
            ..LogInfo::default()
        },
    ))
}

/// Sizes the log files of container `id` whose log configuration (`driver`, `max_size`,
/// `max_file`, as its hostconfig.json's `LogConfig` says; an empty driver is json-file) is in
/// `info`. `containers` is `<data root>/containers`, open: the reads are relative to it.
pub(crate) fn container_log_of(
    data_root: &Path,
    containers: &fs::File,
    id: &str,
    mut info: LogInfo,
) -> LogInfo {
    if info.driver.is_empty() {
        info.driver = "json-file".into();
    }
    let dir = data_root.join("containers").join(id);
    if info.driver == "json-file" && info.max_size.is_none() && info.max_file.is_none() {
        // Nothing rotates this log (json-file rotates only by `max-size`): its one file is
        // sized where it must be, under the open directory, without listing the container's.
        use nix::fcntl::AtFlags;
        use nix::sys::stat::{SFlag, fstatat};
        let name = format!("{id}-json.log");
        if let Ok(st) = fstatat(
            containers,
            format!("{id}/{name}").as_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) && SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
        {
            info.bytes = st.st_size.max(0) as u64;
            info.files.push(dir.join(name));
        }
        return info;
    }
    let (log_dir, prefix) = match info.driver.as_str() {
        "json-file" => (dir.clone(), format!("{id}-json.log")),
        "local" => (dir.join("local-logs"), "container.log".to_string()),
        _ => return info,
    };
    if let Ok(rd) = fs::read_dir(&log_dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix)
                && let Ok(m) = e.metadata()
                && m.is_file()
            {
                info.bytes += m.len();
                info.files.push(e.path());
            }
        }
    }
    info.files.sort();
    info
}

/// Podman's container logs, one per id in order: its k8s-file log
/// (`<graph root>/<driver>-containers/<id>/userdata/ctr.log`, where conmon writes it), or `None`
/// when there is no such file (journald, `none`, or a `--log-opt path` elsewhere). Podman's
/// compat API names the driver json-file and does not report `log_size_max`, so no limit is
/// known: the driver is given as `k8s-file`, without `max-size`.
pub fn podman_logs(graph_root: &Path, driver: &str, ids: &[String]) -> Vec<Option<LogInfo>> {
    let containers = graph_root.join(format!("{driver}-containers"));
    ids.iter()
        .map(|id| {
            let path = containers.join(id).join("userdata").join("ctr.log");
            let m = fs::metadata(&path).ok().filter(fs::Metadata::is_file)?;
            Some(LogInfo {
                driver: "k8s-file".into(),
                bytes: m.len(),
                files: vec![path],
                max_size: None,
                max_file: None,
            })
        })
        .collect()
}

/// A file or directory in `<root>/tmp` or `<root>/tmp-old`.
#[derive(Debug, Clone, Serialize)]
pub struct TmpEntry {
    pub path: PathBuf,
    pub bytes: u64,
    /// Some process holds it (or a file inside it) open.
    pub open: bool,
    pub age_s: u64,
}

/// The daemon's temporary directories: what is in `tmp/` (with whether a process holds each
/// entry open) and whether a `tmp-old/` lingers (a clean-up at start-up that failed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TmpReport {
    pub tmp: Vec<TmpEntry>,
    pub tmp_old: Option<TmpEntry>,
}

/// What [`tmp_leftovers`] found, and what it could not judge.
#[derive(Debug, Default)]
pub struct TmpScan {
    pub report: TmpReport,
    /// Processes whose open files could not be read: an entry marked unheld may be held.
    pub unreadable: usize,
    /// Why `tmp` (or `tmp-old`) was not looked into: a symlink, not root's, writable by others.
    pub notes: Vec<String>,
}

/// The entries of `<data root>/tmp` and a lingering `tmp-old`, read through directory
/// descriptors anchored at the data root ([`super::files::anchor`]: every directory on the way
/// root's and writable by nobody else, no symlink a user planted followed). A `tmp` that is a
/// symlink, or that another user owns or may write, is not looked into: its entries would be
/// removed as root relative to it. Whether a process holds an entry (a file in it, or its
/// working directory or root there) is judged by device and inode: every /proc/*/fd link is
/// stat'ed and compared with what the walk found, never by the path /proc shows.
pub fn tmp_leftovers(data_root: &Path, deadline: Instant) -> TmpScan {
    use super::files::{AnchorError, anchor};
    let mut scan = TmpScan::default();
    let now = SystemTime::now();
    let mut found: Vec<Found> = Vec::new();
    for (name, old) in [("tmp", false), ("tmp-old", true)] {
        let path = data_root.join(name);
        let a = match anchor(&path) {
            Ok(a) => a,
            Err(AnchorError::NotFound) => continue,
            Err(AnchorError::Unsafe(why)) => {
                scan.notes
                    .push(format!("{why}: its entries are not judged"));
                continue;
            }
            Err(AnchorError::Io(e)) => {
                scan.notes
                    .push(format!("{} cannot be read ({e})", path.display()));
                continue;
            }
        };
        let Ok(st) = a.lstat() else { continue };
        let kind = st.st_mode & nix::libc::S_IFMT;
        if kind == nix::libc::S_IFLNK {
            scan.notes.push(format!(
                "{} is a symbolic link, which is never followed: nothing there is judged or removed",
                path.display()
            ));
            continue;
        }
        if kind != nix::libc::S_IFDIR {
            continue;
        }
        if old {
            let (ids, bytes, whole) = tree_of(&a.dir, a.name.as_os_str(), deadline);
            found.push((
                TmpEntry {
                    bytes,
                    path,
                    open: !whole,
                    age_s: age_of(now, st.st_mtime),
                },
                ids,
                true,
            ));
            continue;
        }
        tmp_entries(&a, &path, now, deadline, &mut scan.notes, &mut found);
    }
    if !found.is_empty() {
        mark_held(found, &mut scan);
    }
    scan
}

/// An entry found in tmp or tmp-old, the identities in it (for one scan of /proc at the end),
/// and whether it is tmp-old.
type Found = (TmpEntry, HashSet<(u64, u64)>, bool);

/// Seconds since `mtime`, as of `now` (0 for a time in the future).
fn age_of(now: SystemTime, mtime: i64) -> u64 {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64);
    now.duration_since(t).map_or(0, |d| d.as_secs())
}

/// A tree's identities, bytes, and whether it was read whole (no mount in it either).
fn tree_of(
    dir: &std::os::fd::OwnedFd,
    name: &std::ffi::OsStr,
    deadline: Instant,
) -> (HashSet<(u64, u64)>, u64, bool) {
    match super::files::Tree::walk(dir, name, &HashSet::new(), deadline) {
        Ok((t, _)) => {
            let whole = t.incomplete.is_none() && t.mounted.is_none();
            (t.ids, t.bytes, whole)
        }
        Err(_) => (HashSet::new(), 0, false),
    }
}

/// Each entry of tmp (anchored as `a`, shown as `path`), read relative to tmp opened as a
/// trusted directory; a tmp that is not trusted is noted and not looked into.
fn tmp_entries(
    a: &super::files::Anchored,
    path: &Path,
    now: SystemTime,
    deadline: Instant,
    notes: &mut Vec<String>,
    found: &mut Vec<Found>,
) {
    use super::files::AnchorError;
    use std::os::unix::ffi::OsStrExt;
    // tmp's own entries are removed relative to it: it must be as trusted as its parents.
    let tmp = match super::files::open_trusted_child(&a.dir, a.name.as_os_str(), path) {
        Ok(t) => t,
        Err(AnchorError::Unsafe(why)) => {
            notes.push(format!("{why}: its entries are not judged"));
            return;
        }
        Err(_) => return,
    };
    let Ok(names) = super::files::dir_names(&tmp) else {
        return;
    };
    for n in names {
        let Ok(m) = nix::sys::stat::fstatat(
            &tmp,
            n.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) else {
            continue; // gone mid-walk
        };
        let entry = path.join(std::ffi::OsStr::from_bytes(n.as_bytes()));
        let (ids, bytes, whole) = if m.st_mode & nix::libc::S_IFMT == nix::libc::S_IFDIR {
            tree_of(&tmp, n.as_os_str(), deadline)
        } else {
            (
                HashSet::from([(m.st_dev, m.st_ino)]),
                m.st_size as u64,
                true,
            )
        };
        found.push((
            TmpEntry {
                path: entry,
                bytes,
                // A tree not read whole (out of time, unreadable, a mount in it) may hold
                // what a process has open: it counts as held, and is left alone.
                open: !whole,
                age_s: age_of(now, m.st_mtime),
            },
            ids,
            false,
        ));
    }
}

/// Marks each found entry held when a process has any of its identities open (one scan of
/// /proc for all), and files it under tmp or tmp-old.
fn mark_held(found: Vec<Found>, scan: &mut TmpScan) {
    let all: HashSet<(u64, u64)> = found
        .iter()
        .flat_map(|(_, ids, _)| ids.iter().copied())
        .collect();
    let (held, unreadable) = super::files::held_ids(&all);
    scan.unreadable = unreadable;
    for (mut e, ids, old) in found {
        e.open |= ids.iter().any(|id| held.contains(id));
        if old {
            scan.report.tmp_old = Some(e);
        } else {
            scan.report.tmp.push(e);
        }
    }
}

/// A file deleted from the filesystem that a process still holds open: its space is not free
/// until the process closes it (moby#36765).
#[derive(Debug, Clone, Serialize)]
pub struct DeletedOpen {
    pub pid: i32,
    pub fd: u32,
    pub path: String,
    pub bytes: u64,
}

/// The deleted regular files `pid` holds open, from its descriptors ([`super::proc::fds`]);
/// each sized through the descriptor itself.
pub fn deleted_open_files(pid: i32) -> Vec<DeletedOpen> {
    use std::os::unix::ffi::OsStrExt;
    let until = std::time::Instant::now() + super::proc::SEARCH_BOUND;
    let Ok(all) = super::proc::fds(pid, until) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in all.fds {
        let t = String::from_utf8_lossy(d.target.as_os_str().as_bytes()).into_owned();
        let Some(path) = t.strip_suffix(" (deleted)") else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        let Ok(m) = fs::metadata(super::proc::fd_path(pid, d.fd)) else {
            continue;
        };
        if !m.is_file() {
            continue;
        }
        out.push(DeletedOpen {
            pid,
            fd: u32::try_from(d.fd).unwrap_or(0),
            path: path.to_string(),
            bytes: m.len(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("dockhand-storage-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn walk_counts_hard_links_once_and_skips_symlinks() {
        let d = tmpdir("walk");
        fs::create_dir_all(d.join("a/b")).expect("mkdir");
        fs::write(d.join("a/f"), vec![0u8; 1000]).expect("write");
        fs::write(d.join("a/b/g"), vec![0u8; 500]).expect("write");
        fs::hard_link(d.join("a/f"), d.join("a/b/f2")).expect("link");
        std::os::unix::fs::symlink("/usr", d.join("a/usr")).expect("symlink");
        let w = walk(&d, far());
        assert!(w.complete);
        // 1000 + 500 + the symlink itself (its target path length), the hard link once.
        assert_eq!(w.bytes, 1500 + "/usr".len() as u64);
        let many = walk_many(
            vec![d.join("a/b"), d.join("missing")],
            far(),
            Duration::from_secs(5),
            2,
        );
        assert!(many.stuck.is_empty());
        assert_eq!(many.sizes[0].bytes, 1500);
        assert_eq!(
            many.sizes[1],
            WalkSize {
                complete: true,
                ..WalkSize::default()
            }
        );
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn an_expired_deadline_gives_a_lower_bound() {
        let d = tmpdir("deadline");
        for i in 0..600 {
            fs::write(d.join(format!("f{i}")), b"x").expect("write");
        }
        let w = walk(&d, Instant::now());
        assert!(!w.complete);
        assert!(w.bytes < 600);
        let _ = fs::remove_dir_all(d);
    }

    fn layer_dir(db: &Path, chain: &str, diff: &str, parent: Option<&str>, size: u64, cache: &str) {
        let d = db.join("sha256").join(chain);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join("diff"), format!("sha256:{diff}")).expect("w");
        fs::write(d.join("size"), size.to_string()).expect("w");
        fs::write(d.join("cache-id"), cache).expect("w");
        if let Some(p) = parent {
            fs::write(d.join("parent"), format!("sha256:{p}")).expect("w");
        }
    }

    #[test]
    fn chains_and_references_from_a_layer_store() {
        let root = tmpdir("layers");
        let db = root.join("image/overlay2/layerdb");
        layer_dir(&db, "c1", "d1", None, 100, "dir1");
        layer_dir(&db, "c2", "d2", Some("c1"), 20, "dir2");
        let m = db.join("mounts/ctr1");
        fs::create_dir_all(&m).expect("mkdir");
        fs::write(m.join("mount-id"), "rw1").expect("w");
        fs::write(m.join("init-id"), "rw1-init").expect("w");
        let content = root.join("image/overlay2/imagedb/content/sha256");
        fs::create_dir_all(&content).expect("mkdir");
        fs::write(
            content.join("img"),
            r#"{"rootfs":{"diff_ids":["sha256:d1","sha256:d2"]}}"#,
        )
        .expect("w");
        let store = LayerStore::read(&root, "overlay2").expect("store");
        assert_eq!(
            store.image_chain(&root, "overlay2", "sha256:img"),
            Some(vec!["c1".into(), "c2".into()])
        );
        let refs = store.referenced_dirs();
        for d in ["dir1", "dir2", "rw1", "rw1-init"] {
            assert!(refs.contains(d), "{d}");
        }
        for d in [
            "dir1",
            "dir2",
            "rw1",
            "rw1-init",
            "leaked",
            "gone-removing",
            "l",
        ] {
            fs::create_dir_all(root.join("overlay2").join(d)).expect("mkdir");
        }
        let bk = b"....buildkitsnap....".to_vec();
        fs::create_dir_all(root.join("overlay2/buildkitsnap")).expect("mkdir");
        let dirs = overlay2_dirs(&root, |_| true).expect("scan");
        let leaked = |min_age: Duration| {
            let mut names: Vec<String> = dirs
                .iter()
                .filter(|d| {
                    let base = d.name.strip_suffix("-removing").unwrap_or(&d.name);
                    crate::policy::storage::leaked_dir(
                        &d.name,
                        refs.contains(base),
                        bytes_contain(&bk, base),
                        d.age,
                        min_age,
                    )
                    .is_some()
                })
                .map(|d| d.name.clone())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            leaked(Duration::ZERO),
            vec!["gone-removing".to_string(), "leaked".to_string()]
        );
        // A young directory may be a pull registering its layer: not reported.
        assert!(leaked(Duration::from_secs(3600)).is_empty());
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn buildkit_snapshots_are_present_only_when_a_driver_directory_is_named() {
        let root = tmpdir("buildkit");
        // No database: nothing is cached.
        assert!(!buildkit_snapshots_present(&root, "overlay2"));
        fs::create_dir_all(root.join("buildkit")).expect("mkdir");
        fs::create_dir_all(root.join("overlay2/layer1")).expect("mkdir");
        fs::write(root.join("buildkit/snapshots.db"), b"..bolt..nothing..").expect("write");
        // A database that names no directory of the driver's (a builder that never built).
        assert!(!buildkit_snapshots_present(&root, "overlay2"));
        fs::create_dir_all(root.join("overlay2/snapabc")).expect("mkdir");
        fs::write(root.join("buildkit/snapshots.db"), b"..bolt..snapabc..").expect("write");
        assert!(buildkit_snapshots_present(&root, "overlay2"));
        // Another driver's directory is not looked in.
        assert!(!buildkit_snapshots_present(&root, "vfs"));
    }

    #[test]
    fn logs_and_their_limits() {
        let root = tmpdir("logs");
        let c = root.join("containers/abc");
        fs::create_dir_all(&c).expect("mkdir");
        fs::write(
            c.join("hostconfig.json"),
            r#"{"LogConfig":{"Type":"json-file","Config":{}}}"#,
        )
        .expect("w");
        fs::write(c.join("abc-json.log"), vec![b'x'; 300]).expect("w");
        fs::write(c.join("abc-json.log.1"), vec![b'x'; 200]).expect("w");
        let l = container_log_at(
            &root,
            &fs::File::open(root.join("containers")).expect("dir"),
            "abc",
        )
        .expect("log");
        // Without max-size json-file never rotates: only the live file is its log.
        assert_eq!(l.bytes, 300);
        assert!(l.unbounded());
        fs::write(
            c.join("hostconfig.json"),
            r#"{"LogConfig":{"Type":"json-file","Config":{"max-size":"10m"}}}"#,
        )
        .expect("w");
        let l = container_log_at(
            &root,
            &fs::File::open(root.join("containers")).expect("dir"),
            "abc",
        )
        .expect("log");
        // Rotated by max-size: the rotated file counts too.
        assert_eq!(l.bytes, 500);
        assert!(!l.unbounded());
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn deleted_but_open_files_are_seen() {
        let d = tmpdir("deleted");
        let p = d.join("held");
        let f = fs::File::create(&p).expect("create");
        f.set_len(4096).expect("len");
        fs::remove_file(&p).expect("rm");
        let found = deleted_open_files(std::process::id() as i32);
        assert!(
            found
                .iter()
                .any(|x| x.path == p.to_string_lossy() && x.bytes == 4096),
            "{found:?}"
        );
        drop(f);
        let _ = fs::remove_dir_all(d);
    }
}
