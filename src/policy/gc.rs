//! `dockhand gc`'s verdicts: which objects a run may remove, which a keep rule protects, and
//! why — on plain data (ages in seconds, layer chains, sizes), with no clock, engine or prose.
//!
//! Shared with doctor:
//! - stopped containers: [`crate::policy::containers::stopped_grace`] — doctor's
//!   `containers.exited` (the caller passes its verdict in [`ContainerIn::grace`]);
//! - dangling images: [`crate::policy::images::dangling_unused`] — doctor's `images.dangling`;
//! - anonymous volumes: [`crate::policy::volumes::dangling`] — doctor's `volumes.dangling`;
//! - logs: [`crate::policy::containers::log_size`] — doctor's `containers.logs` (the caller passes
//!   its verdict in [`LogIn::big`]).
//!
//! gc's own rules, here: the keep label and keep patterns, keep-last-N per repository, last use
//! with a first-seen grace, base images protected through their layer chains, watermarks (LRU
//! down to the low mark), the per-run cap, and the bytes each removal frees (df's accounting: a
//! layer is freed by the removal that leaves no image holding it, and counted once).
//!
//! Users are the containers that remain after the plan: a stopped container gc removes does not
//! keep its image, volume or network (`docker system prune` removes containers first, too).

use std::collections::{HashMap, HashSet};

/// What a run collects. `dangling_images` and `images` are independent: `--images` adds unused
/// tagged images; watermarks may take any unused image, tagged or not, least recently used first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Types {
    pub containers: bool,
    pub dangling_images: bool,
    pub images: bool,
    pub networks: bool,
    pub build_cache: bool,
    pub volumes: bool,
    pub named_volumes: bool,
    pub logs: bool,
}

impl Types {
    /// What `docker system prune` removes: stopped containers, dangling images, unused networks,
    /// build cache.
    pub fn default_set() -> Types {
        Types {
            containers: true,
            dangling_images: true,
            networks: true,
            build_cache: true,
            ..Types::default()
        }
    }
}

/// Watermarks, in percent of the data root's filesystem (used over used + available).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watermarks {
    pub high: f64,
    pub low: f64,
}

/// The policy of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Grace: stopped containers stopped less long ago, images known or used less long ago,
    /// volumes and networks created less long ago are kept.
    pub min_age_s: f64,
    /// `repo:tag` globs (`*` any run of characters, `?` one); a matching tag keeps its image.
    pub keep_patterns: Vec<String>,
    /// Per repository, keep the N most recent images (0: off).
    pub keep_last: usize,
    pub watermarks: Option<Watermarks>,
    pub types: Types,
    /// At most this many removals per run (0: no cap).
    pub max_removals: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_age_s: 3600.0,
            keep_patterns: Vec::new(),
            keep_last: 0,
            watermarks: None,
            types: Types::default_set(),
            max_removals: 0,
        }
    }
}

/// Why an object goes or stays. Collect reasons first, then keep reasons.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    // -- collected --
    /// A container stopped `age_s` ago, at least the grace period.
    StoppedPastGrace { age_s: f64 },
    /// An untagged image no container uses.
    Dangling,
    /// A tagged image no container uses, idle at least the grace period (`--images`).
    Unused,
    /// Taken least recently used first to bring the filesystem under the low watermark.
    Watermark,
    /// An anonymous volume no container mounts.
    UnusedAnonymousVolume,
    /// A named volume no container mounts (`--named-volumes`).
    UnusedNamedVolume,
    /// A user-defined network no container, in any state, is attached to.
    UnusedNetwork,
    /// Unused build cache (the engine decides what is unused).
    BuildCache,
    /// A log at or above the size threshold, truncated in place (`--truncate-logs`).
    BigLog,
    // -- kept --
    /// Running, paused or restarting: not a candidate.
    Running,
    /// Containers that remain use it.
    InUse { users: usize },
    /// Labelled `dockhand.keep`.
    KeepLabel,
    /// One of its tags matches a keep pattern.
    KeepPattern { pattern: String, reference: String },
    /// Among the `n` most recent images of `repo`.
    KeepLast { repo: String, n: usize },
    /// Its layer chain is the base of a kept image's.
    BaseOfKept { child: String },
    /// Stopped, known, used or created less than the grace period ago.
    WithinGrace { age_s: f64 },
    /// Named volumes are data: only with `--named-volumes`.
    NamedVolume,
    /// The engine's own networks (bridge, host, none) and swarm networks.
    Predefined,
    /// Eligible, but its type was not asked for (`--images`, `--volumes`, …).
    NotRequested,
    /// Eligible for the watermark pass, but the filesystem is (or will be) under the low mark.
    UnderWatermark,
    /// Eligible, but the run's `--max-removals` was reached.
    CapReached { max: usize },
    /// A log under the size threshold, or logs were not asked for.
    LogKept,
}

impl Why {
    pub fn collects(&self) -> bool {
        matches!(
            self,
            Why::StoppedPastGrace { .. }
                | Why::Dangling
                | Why::Unused
                | Why::Watermark
                | Why::UnusedAnonymousVolume
                | Why::UnusedNamedVolume
                | Why::UnusedNetwork
                | Why::BuildCache
                | Why::BigLog
        )
    }

    /// A short name for tables and JSON (`stopped`, `dangling`, `keep-label`, …).
    pub fn rule(&self) -> &'static str {
        match self {
            Why::StoppedPastGrace { .. } => "stopped",
            Why::Dangling => "dangling",
            Why::Unused => "unused",
            Why::Watermark => "watermark",
            Why::UnusedAnonymousVolume => "unused-anonymous",
            Why::UnusedNamedVolume => "unused-named",
            Why::UnusedNetwork => "unused-network",
            Why::BuildCache => "build-cache",
            Why::BigLog => "big-log",
            Why::Running => "running",
            Why::InUse { .. } => "in-use",
            Why::KeepLabel => "keep-label",
            Why::KeepPattern { .. } => "keep-pattern",
            Why::KeepLast { .. } => "keep-last",
            Why::BaseOfKept { .. } => "base-image",
            Why::WithinGrace { .. } => "grace",
            Why::NamedVolume => "named-volume",
            Why::Predefined => "predefined",
            Why::NotRequested => "not-requested",
            Why::UnderWatermark => "under-watermark",
            Why::CapReached { .. } => "max-removals",
            Why::LogKept => "log-kept",
        }
    }

    /// Kept by a rule worth showing in a plan ("what a keep rule protected"), as opposed to the
    /// ordinary: running, in use, not asked for.
    pub fn is_protection(&self) -> bool {
        matches!(
            self,
            Why::KeepLabel
                | Why::KeepPattern { .. }
                | Why::KeepLast { .. }
                | Why::BaseOfKept { .. }
                | Why::WithinGrace { .. }
                | Why::NamedVolume
                | Why::UnderWatermark
                | Why::CapReached { .. }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// A container as gc sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerIn {
    pub id: String,
    pub name: String,
    /// Its image id.
    pub image: String,
    /// [`crate::policy::containers::stopped_grace`]'s verdict; `None` when it is not stopped.
    pub grace: Option<super::containers::Grace>,
    pub keep_label: bool,
    /// Names of the volumes it mounts.
    pub volumes: Vec<String>,
    /// Names (and ids, when known) of the networks it is attached to.
    pub networks: Vec<String>,
    /// Writable layer plus log, from the storage map.
    pub bytes: Option<u64>,
}

/// An image as gc sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageIn {
    pub id: String,
    /// `repo:tag` references (no `<none>:<none>`); empty for a dangling image.
    pub tags: Vec<String>,
    /// Creation time from its config (seconds since the epoch; may be years old).
    pub created: f64,
    pub keep_label: bool,
    /// Layer chain ids, base first, when the layer store was read.
    pub chain: Option<Vec<String>>,
    /// df's unique bytes, used when chains are unknown.
    pub unique_bytes: u64,
    /// When dockhand first saw it (the state file; now for an image never seen before).
    pub first_seen: f64,
    /// The latest use dockhand knows of: a container's start or finish, a pull, a tag.
    pub last_used: Option<f64>,
}

impl ImageIn {
    /// The latest thing dockhand knows happened to it: first seen or last used. Never the
    /// creation time alone, which says nothing about when it arrived on this host.
    pub fn last_activity(&self) -> f64 {
        self.last_used
            .map_or(self.first_seen, |u| u.max(self.first_seen))
    }

    /// Least-recently-used order: its last use when known (even one from before dockhand first
    /// saw it), else its first sighting.
    pub fn lru_key(&self) -> f64 {
        self.last_used.unwrap_or(self.first_seen)
    }

    /// For keep-last: the later of its build and its last use. (First sightings would rank
    /// every image alike on a host where dockhand arrived after them; a fresh pull is kept by the
    /// grace period anyway.)
    fn recency(&self) -> f64 {
        self.last_used.map_or(self.created, |u| u.max(self.created))
    }

    pub fn dangling(&self) -> bool {
        self.tags.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeIn {
    pub name: String,
    pub anonymous: bool,
    pub keep_label: bool,
    pub created: Option<f64>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkIn {
    pub id: String,
    pub name: String,
    /// bridge, host, none, or a swarm-scoped network.
    pub predefined: bool,
    pub keep_label: bool,
    pub created: Option<f64>,
}

/// Build cache the engine would prune.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BuildCacheIn {
    /// What it would free, when measured.
    pub bytes: Option<u64>,
}

/// A container's log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogIn {
    pub container: String,
    pub bytes: u64,
    /// [`crate::policy::containers::log_size`] is not `Small`.
    pub big: bool,
}

/// The data root's filesystem.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Disk {
    pub used: u64,
    /// Used plus available to unprivileged users (how `df` computes a percentage).
    pub capacity: u64,
}

/// Everything a run judges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    pub containers: Vec<ContainerIn>,
    pub images: Vec<ImageIn>,
    /// Layer chain id → its own size.
    pub layer_sizes: HashMap<String, u64>,
    pub volumes: Vec<VolumeIn>,
    pub networks: Vec<NetworkIn>,
    /// Unused build cache to prune: `None` when nothing is cached.
    pub build_cache: Option<BuildCacheIn>,
    pub logs: Vec<LogIn>,
    pub disk: Option<Disk>,
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// One object's verdict; `bytes` is what removing it frees (collected objects only).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub why: Why,
    pub bytes: Option<u64>,
}

impl Verdict {
    fn keep(why: Why) -> Verdict {
        Verdict { why, bytes: None }
    }
}

/// Where the watermark pass ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatermarkOutcome {
    pub marks: Watermarks,
    pub used_percent: f64,
    /// Bytes to free to reach the low mark (0 when at or under the high mark).
    pub need: u64,
    /// Bytes the plan frees, all rules together.
    pub planned: u64,
    /// The plan gets the filesystem to the low mark (by its estimate).
    pub met: bool,
}

/// The verdicts, index for index with the input's lists. `order` is the order of removals:
/// containers oldest first, then images least recently used first, volumes, networks, build
/// cache, logs — the order `--max-removals` counts in.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdicts {
    pub containers: Vec<Verdict>,
    pub images: Vec<Verdict>,
    pub volumes: Vec<Verdict>,
    pub networks: Vec<Verdict>,
    pub build_cache: Option<Verdict>,
    pub logs: Vec<Verdict>,
    pub order: Vec<Object>,
    pub watermark: Option<WatermarkOutcome>,
}

/// An object in [`Verdicts::order`]: its kind and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Container(usize),
    Image(usize),
    Volume(usize),
    Network(usize),
    BuildCache,
    Log(usize),
}

impl Verdicts {
    pub fn verdict(&self, o: Object) -> Option<&Verdict> {
        match o {
            Object::Container(i) => self.containers.get(i),
            Object::Image(i) => self.images.get(i),
            Object::Volume(i) => self.volumes.get(i),
            Object::Network(i) => self.networks.get(i),
            Object::BuildCache => self.build_cache.as_ref(),
            Object::Log(i) => self.logs.get(i),
        }
    }

    fn verdict_mut(&mut self, o: Object) -> Option<&mut Verdict> {
        match o {
            Object::Container(i) => self.containers.get_mut(i),
            Object::Image(i) => self.images.get_mut(i),
            Object::Volume(i) => self.volumes.get_mut(i),
            Object::Network(i) => self.networks.get_mut(i),
            Object::BuildCache => self.build_cache.as_mut(),
            Object::Log(i) => self.logs.get_mut(i),
        }
    }

    /// Bytes the collected objects free.
    pub fn bytes(&self) -> u64 {
        self.order
            .iter()
            .filter_map(|o| self.verdict(*o))
            .filter(|v| v.why.collects())
            .filter_map(|v| v.bytes)
            .sum()
    }
}

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

/// A stopped container: kept by the label, kept within the grace period, else collected.
/// `None` (a container that is not stopped) is running.
pub fn container(grace: Option<super::containers::Grace>, keep_label: bool) -> Why {
    use super::containers::Grace;
    match grace {
        None => Why::Running,
        Some(_) if keep_label => Why::KeepLabel,
        Some(Grace::Within { age_s }) => Why::WithinGrace { age_s },
        Some(Grace::Past { age_s }) => Why::StoppedPastGrace { age_s },
    }
}

/// A glob over a reference: `*` matches any run of characters (`/` and `:` included), `?` one
/// character; everything else itself. `app:*`, `*/base:*`, `registry:5000/*`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The repository of a reference: everything before the tag (`registry:5000/app:1` →
/// `registry:5000/app`; a digest reference's part before `@`).
pub fn repo_of(reference: &str) -> &str {
    if let Some((repo, _)) = reference.split_once('@') {
        return repo;
    }
    match reference.rfind(':') {
        // A colon after the last slash ends the name: the tag follows.
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

/// How long an image has been idle, against the grace period: known (first seen) and used less
/// than the grace period ago keeps it. A clock that went backwards is an age of 0.
pub fn image_idle(first_seen: f64, last_used: Option<f64>, now: f64) -> f64 {
    let last = last_used.map_or(first_seen, |u| u.max(first_seen));
    (now - last).max(0.0)
}

/// `a` is a base of `b`: its chain is a prefix of `b`'s (equal chains too: an image built
/// `FROM a` that adds no layer). An empty chain is nobody's base.
pub fn is_base(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && a.len() <= b.len() && b[..a.len()] == *a
}

/// Per repository, the ids of the `n` most recent images (by the later of creation and last
/// use); ties broken by id, so the verdict is stable. `images` gives each
/// image's tags and recency.
pub fn keep_last<'a>(
    images: impl IntoIterator<Item = (&'a str, &'a [String], f64)>,
    n: usize,
) -> HashMap<String, HashSet<&'a str>> {
    let mut by_repo: HashMap<String, Vec<(&'a str, f64)>> = HashMap::new();
    for (id, tags, recency) in images {
        let mut repos: Vec<&str> = tags.iter().map(|t| repo_of(t)).collect();
        repos.sort_unstable();
        repos.dedup();
        for r in repos {
            by_repo
                .entry(r.to_string())
                .or_default()
                .push((id, recency));
        }
    }
    by_repo
        .into_iter()
        .map(|(repo, mut v)| {
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            (repo, v.into_iter().take(n).map(|(id, _)| id).collect())
        })
        .collect()
}

/// Bytes to free to bring `disk` to the low mark, when it is above the high mark; 0 otherwise.
pub fn watermark_need(disk: Disk, marks: Watermarks) -> u64 {
    if disk.capacity == 0 {
        return 0;
    }
    let used_pct = disk.used as f64 * 100.0 / disk.capacity as f64;
    if used_pct <= marks.high {
        return 0;
    }
    let target = (disk.capacity as f64 * marks.low / 100.0).floor() as u64;
    disk.used.saturating_sub(target)
}

/// Bytes each removal frees when images are removed in `order`: a layer is freed by the removal
/// that leaves no image holding it (df's accounting: counted once, by the last image to go).
/// Images without a chain count their unique bytes.
pub struct LayerRefs<'a> {
    refs: HashMap<&'a str, usize>,
    sizes: &'a HashMap<String, u64>,
}

impl<'a> LayerRefs<'a> {
    pub fn new(images: &'a [ImageIn], sizes: &'a HashMap<String, u64>) -> LayerRefs<'a> {
        let mut refs: HashMap<&str, usize> = HashMap::new();
        for i in images {
            let distinct: HashSet<&str> = i.chain.iter().flatten().map(String::as_str).collect();
            for l in distinct {
                *refs.entry(l).or_default() += 1;
            }
        }
        LayerRefs { refs, sizes }
    }

    /// What removing `image` frees now, given what was removed before; updates the counts.
    pub fn remove(&mut self, image: &'a ImageIn) -> u64 {
        let Some(chain) = &image.chain else {
            return image.unique_bytes;
        };
        let distinct: HashSet<&str> = chain.iter().map(String::as_str).collect();
        let mut freed = 0;
        for l in distinct {
            if let Some(n) = self.refs.get_mut(l) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    freed += self.sizes.get(l).copied().unwrap_or(0);
                }
            }
        }
        freed
    }

    /// What removing `image` would free now, without removing it.
    pub fn would_free(&self, image: &ImageIn) -> u64 {
        let Some(chain) = &image.chain else {
            return image.unique_bytes;
        };
        let distinct: HashSet<&str> = chain.iter().map(String::as_str).collect();
        distinct
            .into_iter()
            .filter(|l| self.refs.get(l) == Some(&1))
            .map(|l| self.sizes.get(l).copied().unwrap_or(0))
            .sum()
    }
}

fn after_grace(created: Option<f64>, grace: f64, now: f64) -> Option<f64> {
    // No creation time: treated as old enough (the engine always gives one for volumes and
    // networks it made; one without is not being made now).
    let age = created.map_or(f64::INFINITY, |c| (now - c).max(0.0));
    (age < grace).then_some(age)
}

/// Judges everything: the whole policy over the whole input.
pub fn judge(input: &Input, p: &Policy, now: f64) -> Verdicts {
    let grace = p.min_age_s.max(0.0);

    // Containers first: what they decide frees or keeps images, volumes and networks.
    let containers: Vec<Verdict> = input
        .containers
        .iter()
        .map(|c| {
            let why = container(c.grace, c.keep_label);
            if why.collects() && !p.types.containers {
                return Verdict::keep(Why::NotRequested);
            }
            Verdict {
                bytes: if why.collects() { c.bytes } else { None },
                why,
            }
        })
        .collect();
    let remaining: Vec<&ContainerIn> = input
        .containers
        .iter()
        .zip(&containers)
        .filter(|(_, v)| !v.why.collects())
        .map(|(c, _)| c)
        .collect();
    let mut image_users: HashMap<&str, usize> = HashMap::new();
    let mut volume_users: HashMap<&str, usize> = HashMap::new();
    let mut network_users: HashMap<&str, usize> = HashMap::new();
    for c in &remaining {
        *image_users.entry(c.image.as_str()).or_default() += 1;
        for v in &c.volumes {
            *volume_users.entry(v.as_str()).or_default() += 1;
        }
        for n in &c.networks {
            *network_users.entry(n.as_str()).or_default() += 1;
        }
    }

    // Images: in use, labelled, within grace, keep patterns, keep-last; then base protection.
    let kept_last = if p.keep_last > 0 {
        keep_last(
            input
                .images
                .iter()
                .map(|i| (i.id.as_str(), i.tags.as_slice(), i.recency())),
            p.keep_last,
        )
    } else {
        HashMap::new()
    };
    let mut images: Vec<Verdict> = input
        .images
        .iter()
        .map(|i| {
            let users = image_users.get(i.id.as_str()).copied().unwrap_or(0);
            if users > 0 {
                return Verdict::keep(Why::InUse { users });
            }
            if i.keep_label {
                return Verdict::keep(Why::KeepLabel);
            }
            let idle = image_idle(i.first_seen, i.last_used, now);
            if idle < grace {
                return Verdict::keep(Why::WithinGrace { age_s: idle });
            }
            for t in &i.tags {
                if let Some(pat) = p.keep_patterns.iter().find(|pat| glob(pat, t)) {
                    return Verdict::keep(Why::KeepPattern {
                        pattern: pat.clone(),
                        reference: t.clone(),
                    });
                }
            }
            for t in &i.tags {
                let repo = repo_of(t);
                if kept_last
                    .get(repo)
                    .is_some_and(|ids| ids.contains(i.id.as_str()))
                {
                    return Verdict::keep(Why::KeepLast {
                        repo: repo.to_string(),
                        n: p.keep_last,
                    });
                }
            }
            if i.dangling() {
                if super::images::dangling_unused(true, users) && p.types.dangling_images {
                    return Verdict::keep(Why::Dangling);
                }
            } else if p.types.images {
                return Verdict::keep(Why::Unused);
            }
            Verdict::keep(Why::NotRequested)
        })
        .collect();
    // Base images of kept images are kept: their chains are prefixes of a kept image's chain.
    // ("Kept" here is provisional for Dangling/Unused: those are the candidates.)
    let base_of = bases(&input.images);
    let is_kept = |v: &Verdict| !matches!(v.why, Why::Dangling | Why::Unused | Why::NotRequested);
    let kept_now: Vec<bool> = images.iter().map(is_kept).collect();
    for (i, v) in images.iter_mut().enumerate() {
        if kept_now[i] {
            continue;
        }
        if let Some(&child) = base_of[i].iter().find(|&&j| kept_now[j]) {
            v.why = Why::BaseOfKept {
                child: name_of(&input.images[child]),
            };
        }
    }

    // Volumes and networks.
    let volumes: Vec<Verdict> = input
        .volumes
        .iter()
        .map(|v| {
            let users = volume_users.get(v.name.as_str()).copied().unwrap_or(0);
            let why = if users > 0 {
                Why::InUse { users }
            } else if v.keep_label {
                Why::KeepLabel
            } else if !v.anonymous && !p.types.named_volumes {
                // Data: the lasting reason, whatever its age.
                Why::NamedVolume
            } else if let Some(age_s) = after_grace(v.created, grace, now) {
                Why::WithinGrace { age_s }
            } else if v.anonymous {
                if super::volumes::dangling(true, users) && p.types.volumes {
                    Why::UnusedAnonymousVolume
                } else {
                    Why::NotRequested
                }
            } else if p.types.named_volumes {
                Why::UnusedNamedVolume
            } else {
                Why::NamedVolume
            };
            Verdict {
                bytes: if why.collects() { v.bytes } else { None },
                why,
            }
        })
        .collect();
    let networks: Vec<Verdict> = input
        .networks
        .iter()
        .map(|n| {
            let users = network_users.get(n.name.as_str()).copied().unwrap_or(0)
                + network_users.get(n.id.as_str()).copied().unwrap_or(0);
            let why = if n.predefined {
                Why::Predefined
            } else if users > 0 {
                Why::InUse { users }
            } else if n.keep_label {
                Why::KeepLabel
            } else if let Some(age_s) = after_grace(n.created, grace, now) {
                Why::WithinGrace { age_s }
            } else if p.types.networks {
                Why::UnusedNetwork
            } else {
                Why::NotRequested
            };
            Verdict::keep(why)
        })
        .collect();
    let build_cache = input.build_cache.map(|b| {
        if p.types.build_cache {
            Verdict {
                why: Why::BuildCache,
                bytes: b.bytes,
            }
        } else {
            Verdict::keep(Why::NotRequested)
        }
    });
    let removed_containers: HashSet<&str> = input
        .containers
        .iter()
        .zip(&containers)
        .filter(|(_, v)| v.why.collects())
        .map(|(c, _)| c.id.as_str())
        .collect();
    let logs: Vec<Verdict> = input
        .logs
        .iter()
        .map(|l| {
            // A log goes with its container; only the logs of containers that stay are truncated.
            if l.big && p.types.logs && !removed_containers.contains(l.container.as_str()) {
                Verdict {
                    why: Why::BigLog,
                    bytes: Some(l.bytes),
                }
            } else {
                Verdict::keep(Why::LogKept)
            }
        })
        .collect();

    // The order of removals, and bytes per image by that order.
    let mut cont_order: Vec<usize> = (0..input.containers.len()).collect();
    cont_order.sort_by(|&a, &b| {
        let age = |i: usize| input.containers[i].grace.map_or(0.0, |g| g.age_s());
        age(b).total_cmp(&age(a)).then_with(|| a.cmp(&b))
    });
    let mut img_order: Vec<usize> = (0..input.images.len()).collect();
    img_order.sort_by(|&a, &b| {
        let (x, y) = (&input.images[a], &input.images[b]);
        x.lru_key()
            .total_cmp(&y.lru_key())
            .then_with(|| x.created.total_cmp(&y.created))
            .then_with(|| x.id.cmp(&y.id))
    });
    let mut v = Verdicts {
        containers,
        images,
        volumes,
        networks,
        build_cache,
        logs,
        order: Vec::new(),
        watermark: None,
    };
    v.order
        .extend(cont_order.iter().map(|&i| Object::Container(i)));
    v.order.extend(img_order.iter().map(|&i| Object::Image(i)));
    v.order.extend((0..input.volumes.len()).map(Object::Volume));
    v.order
        .extend((0..input.networks.len()).map(Object::Network));
    if v.build_cache.is_some() {
        v.order.push(Object::BuildCache);
    }
    v.order.extend((0..input.logs.len()).map(Object::Log));

    let mut layers = LayerRefs::new(&input.images, &input.layer_sizes);
    for &i in &img_order {
        if v.images[i].why.collects() {
            v.images[i].bytes = Some(layers.remove(&input.images[i]));
        }
    }

    // Watermarks: LRU over what is eligible but not asked for, until the low mark is reached.
    if let (Some(marks), Some(disk)) = (p.watermarks, input.disk) {
        let need = watermark_need(disk, marks);
        let mut planned = v.bytes();
        for &i in &img_order {
            let eligible = matches!(v.images[i].why, Why::NotRequested);
            if !eligible {
                continue;
            }
            if planned >= need {
                v.images[i].why = Why::UnderWatermark;
                continue;
            }
            // A base of an image that stays is kept (it may be taken later in the order, once
            // the image above it goes).
            let stays = |j: usize| !v.images[j].why.collects();
            if base_of[i].iter().any(|&j| stays(j)) {
                continue;
            }
            let freed = layers.remove(&input.images[i]);
            v.images[i] = Verdict {
                why: Why::Watermark,
                bytes: Some(freed),
            };
            planned += freed;
        }
        // A second pass for bases whose children went in the first.
        for &i in &img_order {
            if !matches!(v.images[i].why, Why::NotRequested) {
                continue;
            }
            let stays = |j: usize| !v.images[j].why.collects();
            if planned >= need {
                v.images[i].why = Why::UnderWatermark;
            } else if let Some(&child) = base_of[i].iter().find(|&&j| stays(j)) {
                v.images[i].why = Why::BaseOfKept {
                    child: name_of(&input.images[child]),
                };
            } else {
                let freed = layers.remove(&input.images[i]);
                v.images[i] = Verdict {
                    why: Why::Watermark,
                    bytes: Some(freed),
                };
                planned += freed;
            }
        }
        let used_percent = if disk.capacity == 0 {
            0.0
        } else {
            disk.used as f64 * 100.0 / disk.capacity as f64
        };
        v.watermark = Some(WatermarkOutcome {
            marks,
            used_percent,
            need,
            planned,
            met: planned >= need,
        });
    }

    // The cap, in removal order.
    if p.max_removals > 0 {
        let mut n = 0;
        for o in v.order.clone() {
            let Some(verdict) = v.verdict_mut(o) else {
                continue;
            };
            if !verdict.why.collects() {
                continue;
            }
            if n < p.max_removals {
                n += 1;
            } else {
                *verdict = Verdict::keep(Why::CapReached {
                    max: p.max_removals,
                });
            }
        }
    }
    v
}

/// For each image, the images it is a base of (other ids whose chain starts with its chain).
fn bases(images: &[ImageIn]) -> Vec<Vec<usize>> {
    // Grouped by base layer: only images sharing the first layer can be bases of each other.
    let mut by_first: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        if let Some(first) = img.chain.as_ref().and_then(|c| c.first()) {
            by_first.entry(first.as_str()).or_default().push(i);
        }
    }
    let mut out = vec![Vec::new(); images.len()];
    for group in by_first.values() {
        for &a in group {
            for &b in group {
                if a == b || images[a].id == images[b].id {
                    continue;
                }
                if let (Some(ca), Some(cb)) = (&images[a].chain, &images[b].chain)
                    && is_base(ca, cb)
                {
                    out[a].push(b);
                }
            }
        }
    }
    out
}

fn name_of(i: &ImageIn) -> String {
    i.tags.first().cloned().unwrap_or_else(|| {
        let id = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
        id.get(..12).unwrap_or(id).to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::super::containers::Grace;
    use super::*;

    const NOW: f64 = 1_800_000_000.0;
    const H: f64 = 3600.0;
    const D: f64 = 86_400.0;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn img(id: &str, tags: &[&str], chain: &[&str], first_seen_ago: f64) -> ImageIn {
        ImageIn {
            id: id.into(),
            tags: strs(tags),
            created: NOW - 400.0 * D,
            chain: Some(strs(chain)),
            first_seen: NOW - first_seen_ago,
            ..ImageIn::default()
        }
    }

    fn ctr(id: &str, image: &str, grace: Option<Grace>) -> ContainerIn {
        ContainerIn {
            id: id.into(),
            name: id.into(),
            image: image.into(),
            grace,
            bytes: Some(10),
            ..ContainerIn::default()
        }
    }

    fn sizes(v: &[(&str, u64)]) -> HashMap<String, u64> {
        v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
    }

    fn rules(v: &[Verdict]) -> Vec<&'static str> {
        v.iter().map(|x| x.why.rule()).collect()
    }

    fn images_policy() -> Policy {
        Policy {
            types: Types {
                images: true,
                ..Types::default_set()
            },
            ..Policy::default()
        }
    }

    #[test]
    fn containers_by_grace_and_label() {
        let past = Some(Grace::Past { age_s: 2.0 * H });
        let within = Some(Grace::Within { age_s: 60.0 });
        let cases = [
            (None, false, "running"),
            (past, false, "stopped"),
            (past, true, "keep-label"),
            (within, false, "grace"),
            (within, true, "keep-label"),
        ];
        for (g, label, want) in cases {
            assert_eq!(container(g, label).rule(), want, "{g:?} {label}");
        }
    }

    #[test]
    fn globs_over_references() {
        let cases = [
            ("app:*", "app:1.2", true),
            ("app:*", "app", false),
            ("app:*", "myapp:1", false),
            ("*/base:*", "registry:5000/team/base:3", true),
            ("registry:5000/*", "registry:5000/app:1", true),
            ("app:v?", "app:v1", true),
            ("app:v?", "app:v10", false),
            ("*", "anything/at:all", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn repositories_of_references() {
        let cases = [
            ("app:1", "app"),
            ("registry:5000/app:1", "registry:5000/app"),
            ("registry:5000/app", "registry:5000/app"),
            ("library/debian:bookworm-slim", "library/debian"),
            ("app@sha256:abc", "app"),
            ("app", "app"),
        ];
        for (r, want) in cases {
            assert_eq!(repo_of(r), want, "{r}");
        }
    }

    #[test]
    fn idle_time_starts_at_first_sight_not_creation() {
        // Built years ago, pulled (first seen) a minute ago: idle one minute.
        assert_eq!(image_idle(NOW - 60.0, None, NOW), 60.0);
        // Used after it was first seen: idle since the use.
        assert_eq!(image_idle(NOW - 10.0 * D, Some(NOW - H), NOW), H);
        // A use recorded before the first sighting (an event replayed): first sighting wins.
        assert_eq!(image_idle(NOW - H, Some(NOW - D), NOW), H);
        // A clock that went backwards.
        assert_eq!(image_idle(NOW + 5.0, None, NOW), 0.0);
    }

    #[test]
    fn old_image_first_seen_now_is_kept_by_grace() {
        let mut old = img("sha256:old", &["old:1"], &["L1"], 0.0);
        old.created = NOW - 5.0 * 365.0 * D;
        let input = Input {
            images: vec![old],
            ..Input::default()
        };
        let v = judge(&input, &images_policy(), NOW);
        assert!(matches!(v.images[0].why, Why::WithinGrace { age_s } if age_s == 0.0));
        // With no grace, it goes.
        let p = Policy {
            min_age_s: 0.0,
            ..images_policy()
        };
        assert_eq!(judge(&input, &p, NOW).images[0].why, Why::Unused);
    }

    #[test]
    fn image_rules_in_order() {
        let mut labelled = img("sha256:l", &["lab:1"], &["L"], 2.0 * D);
        labelled.keep_label = true;
        let input = Input {
            containers: vec![
                ctr("run", "sha256:used", None),
                // Stopped past grace: removed, so it does not keep its image.
                ctr("old", "sha256:freed", Some(Grace::Past { age_s: 3.0 * D })),
                // Within grace: stays, and keeps its image.
                ctr("new", "sha256:held", Some(Grace::Within { age_s: 5.0 })),
            ],
            images: vec![
                img("sha256:used", &["used:1"], &["U"], 2.0 * D),
                img("sha256:freed", &["freed:1"], &["F"], 2.0 * D),
                img("sha256:held", &["held:1"], &["HE"], 2.0 * D),
                labelled,
                img("sha256:young", &["young:1"], &["Y"], 60.0),
                img("sha256:pat", &["keepme:7", "other:1"], &["P"], 2.0 * D),
                img("sha256:dang", &[], &["DA"], 2.0 * D),
            ],
            ..Input::default()
        };
        let p = Policy {
            keep_patterns: strs(&["keepme:*"]),
            ..images_policy()
        };
        let v = judge(&input, &p, NOW);
        assert_eq!(rules(&v.containers), ["running", "stopped", "grace"]);
        assert_eq!(
            rules(&v.images),
            [
                "in-use",
                "unused",
                "in-use",
                "keep-label",
                "grace",
                "keep-pattern",
                "dangling"
            ]
        );
        // Without --images, tagged unused images are not asked for; dangling ones are.
        let v = judge(&input, &Policy::default(), NOW);
        assert_eq!(v.images[1].why, Why::NotRequested);
        assert_eq!(v.images[6].why, Why::Dangling);
        // Without dangling images either.
        let p = Policy {
            types: Types {
                dangling_images: false,
                ..Types::default_set()
            },
            ..Policy::default()
        };
        assert_eq!(judge(&input, &p, NOW).images[6].why, Why::NotRequested);
    }

    #[test]
    fn keep_last_n_per_repository() {
        let mut imgs = Vec::new();
        for (i, ago) in [(1, 50.0), (2, 40.0), (3, 30.0), (4, 20.0)] {
            let mut x = img(
                &format!("sha256:app{i}"),
                &[&format!("app:v{i}")],
                &[],
                2.0 * D,
            );
            x.created = NOW - ago * D;
            x.chain = None;
            imgs.push(x);
        }
        // v1 was used an hour and a half ago: recent by use, although built first.
        imgs[0].last_used = Some(NOW - 1.5 * H);
        let other = ImageIn {
            chain: None,
            ..img("sha256:db", &["db:1"], &[], 2.0 * D)
        };
        imgs.push(other);
        let input = Input {
            images: imgs,
            ..Input::default()
        };
        let p = Policy {
            keep_last: 2,
            ..images_policy()
        };
        let v = judge(&input, &p, NOW);
        assert_eq!(
            rules(&v.images),
            ["keep-last", "unused", "unused", "keep-last", "keep-last"]
        );
        assert_eq!(
            v.images[3].why,
            Why::KeepLast {
                repo: "app".into(),
                n: 2
            }
        );
        // The table of the function itself: ties broken by id.
        let tags = strs(&["r:1"]);
        let k = keep_last(
            [("b", tags.as_slice(), 5.0), ("a", tags.as_slice(), 5.0)],
            1,
        );
        assert!(k["r"].contains("a") && !k["r"].contains("b"));
    }

    #[test]
    fn base_images_of_kept_images_are_protected_through_chains() {
        let input = Input {
            containers: vec![ctr("web", "sha256:app", None)],
            images: vec![
                img("sha256:base", &["debian:12"], &["D"], 2.0 * D),
                img("sha256:app", &["app:1"], &["D", "A"], 2.0 * D),
                // Same base, but nothing keeps it: goes; the base stays for app's sake.
                img("sha256:tool", &["tool:1"], &["D", "T"], 2.0 * D),
                // Unrelated: goes.
                img("sha256:other", &["other:1"], &["O"], 2.0 * D),
                // A base of a base of a recently used image (grace): kept through the chain.
                img("sha256:root", &["root:1"], &["R"], 2.0 * D),
                img("sha256:mid", &["mid:1"], &["R", "M"], 2.0 * D),
                img("sha256:fresh", &["fresh:1"], &["R", "M", "F"], 60.0),
                // Same chain as a kept image (FROM with no new layer): a base too.
                img("sha256:alias", &["alias:1"], &["D", "A"], 2.0 * D),
            ],
            layer_sizes: sizes(&[("D", 100), ("A", 5), ("T", 7), ("O", 9)]),
            ..Input::default()
        };
        let v = judge(&input, &images_policy(), NOW);
        assert_eq!(
            rules(&v.images),
            [
                "base-image",
                "in-use",
                "unused",
                "unused",
                "base-image",
                "base-image",
                "grace",
                "base-image"
            ]
        );
        assert_eq!(
            v.images[0].why,
            Why::BaseOfKept {
                child: "app:1".into()
            }
        );
        // tool frees only its own layer: D stays with debian and app.
        assert_eq!(v.images[2].bytes, Some(7));
        assert_eq!(v.images[3].bytes, Some(9));
        assert!(is_base(&strs(&["a"]), &strs(&["a", "b"])));
        assert!(!is_base(&strs(&["b"]), &strs(&["a", "b"])));
        assert!(!is_base(&[], &strs(&["a"])));
    }

    #[test]
    fn shared_layers_are_freed_once_by_the_last_image_to_go() {
        let input = Input {
            images: vec![
                img("sha256:x", &["x:1"], &["S", "X"], 2.0 * D),
                img("sha256:y", &["y:1"], &["S", "Y"], 3.0 * D),
            ],
            layer_sizes: sizes(&[("S", 1000), ("X", 10), ("Y", 20)]),
            ..Input::default()
        };
        let v = judge(&input, &images_policy(), NOW);
        // y is older (least recently used): it goes first and frees its own layer; x then
        // frees the shared one too.
        assert_eq!(v.images[1].bytes, Some(20));
        assert_eq!(v.images[0].bytes, Some(1010));
        assert_eq!(v.bytes(), 1030);
        // Without chains: unique bytes.
        let mut input = input;
        for i in &mut input.images {
            i.chain = None;
            i.unique_bytes = 3;
        }
        assert_eq!(judge(&input, &images_policy(), NOW).bytes(), 6);
    }

    #[test]
    fn watermark_need() {
        let m = Watermarks {
            high: 85.0,
            low: 75.0,
        };
        let cases = [
            (90, 100, 15),
            (85, 100, 0),
            (86, 100, 11),
            (50, 100, 0),
            (0, 0, 0),
        ];
        for (used, cap, want) in cases {
            assert_eq!(
                super::watermark_need(
                    Disk {
                        used,
                        capacity: cap
                    },
                    m
                ),
                want,
                "{used}/{cap}"
            );
        }
    }

    #[test]
    fn watermarks_take_least_recently_used_first_until_the_low_mark() {
        let mut imgs = vec![
            img("sha256:a", &["a:1"], &["A"], 10.0 * D),
            img("sha256:b", &["b:1"], &["B"], 10.0 * D),
            img("sha256:c", &["c:1"], &["C"], 10.0 * D),
            img("sha256:d", &["d:1"], &["D"], 10.0 * D),
        ];
        // Last used: c longest ago, then a, then d; b an hour and a half ago.
        imgs[2].last_used = Some(NOW - 9.0 * D);
        imgs[0].last_used = Some(NOW - 5.0 * D);
        imgs[3].last_used = Some(NOW - 3.0 * D);
        imgs[1].last_used = Some(NOW - 1.5 * H);
        let input = Input {
            images: imgs,
            layer_sizes: sizes(&[("A", 30), ("B", 30), ("C", 30), ("D", 30)]),
            // 90 % used; the low mark 75 % needs 15 bytes freed... and c frees 30.
            disk: Some(Disk {
                used: 90,
                capacity: 100,
            }),
            ..Input::default()
        };
        let p = Policy {
            watermarks: Some(Watermarks {
                high: 85.0,
                low: 75.0,
            }),
            ..Policy::default()
        };
        let v = judge(&input, &p, NOW);
        assert_eq!(
            rules(&v.images),
            [
                "under-watermark",
                "under-watermark",
                "watermark",
                "under-watermark"
            ]
        );
        let w = v.watermark.expect("watermark");
        assert_eq!((w.need, w.planned, w.met), (15, 30, true));
        // Needing 70: c, a, d in that order, b last (and not needed).
        let mut input = input;
        input.disk = Some(Disk {
            used: 370,
            capacity: 400,
        });
        let v = judge(&input, &p, NOW);
        assert_eq!(
            rules(&v.images),
            ["watermark", "under-watermark", "watermark", "watermark"]
        );
        // Under the high mark: nothing.
        input.disk = Some(Disk {
            used: 80,
            capacity: 100,
        });
        let v = judge(&input, &p, NOW);
        assert!(v.images.iter().all(|x| x.why == Why::UnderWatermark));
        assert_eq!(v.watermark.expect("w").need, 0);
        // Recently used images are not taken, whatever the pressure.
        input.disk = Some(Disk {
            used: 1000,
            capacity: 1000,
        });
        input.images[1].last_used = Some(NOW - 60.0);
        let v = judge(&input, &p, NOW);
        assert!(matches!(v.images[1].why, Why::WithinGrace { .. }));
        assert!(!v.watermark.expect("w").met);
    }

    #[test]
    fn watermarks_count_what_the_other_rules_free_and_spare_bases_until_their_children_go() {
        let input = Input {
            containers: vec![ctr("old", "sha256:gone", Some(Grace::Past { age_s: D }))],
            images: vec![
                // The base is least recently used, but its child stays until it is taken too.
                img("sha256:base", &["base:1"], &["B"], 20.0 * D),
                img("sha256:child", &["child:1"], &["B", "C"], 10.0 * D),
            ],
            layer_sizes: sizes(&[("B", 50), ("C", 50)]),
            disk: Some(Disk {
                used: 95,
                capacity: 100,
            }),
            ..Input::default()
        };
        let p = Policy {
            watermarks: Some(Watermarks {
                high: 90.0,
                low: 10.0,
            }),
            ..Policy::default()
        };
        let v = judge(&input, &p, NOW);
        assert_eq!(rules(&v.images), ["watermark", "watermark"]);
        // The child frees its own layer first; the base then frees the shared one.
        assert_eq!(v.images[1].bytes, Some(50));
        assert_eq!(v.images[0].bytes, Some(50));
        let w = v.watermark.expect("w");
        assert_eq!(w.planned, 110, "the container's 10 bytes count too");
    }

    #[test]
    fn volumes_named_are_data_anonymous_go_with_volumes() {
        let vol = |name: &str, anonymous: bool, created_ago: f64| VolumeIn {
            name: name.into(),
            anonymous,
            created: Some(NOW - created_ago),
            bytes: Some(1),
            ..VolumeIn::default()
        };
        let mut labelled = vol("keepvol", false, D);
        labelled.keep_label = true;
        let mut c = ctr("user", "sha256:x", None);
        c.volumes = strs(&["used"]);
        let mut gone = ctr("gone", "sha256:x", Some(Grace::Past { age_s: D }));
        gone.volumes = strs(&["freed"]);
        let input = Input {
            containers: vec![c, gone],
            volumes: vec![
                vol("used", true, D),
                vol("freed", true, D),
                vol("young", true, 60.0),
                vol("pgdata", false, D),
                labelled,
            ],
            ..Input::default()
        };
        let v = judge(&input, &Policy::default(), NOW);
        assert_eq!(
            rules(&v.volumes),
            [
                "in-use",
                "not-requested",
                "grace",
                "named-volume",
                "keep-label"
            ]
        );
        let p = Policy {
            types: Types {
                volumes: true,
                ..Types::default_set()
            },
            ..Policy::default()
        };
        let v = judge(&input, &p, NOW);
        assert_eq!(v.volumes[1].why, Why::UnusedAnonymousVolume);
        assert_eq!(v.volumes[3].why, Why::NamedVolume);
        let p = Policy {
            types: Types {
                volumes: true,
                named_volumes: true,
                ..Types::default_set()
            },
            ..Policy::default()
        };
        assert_eq!(
            judge(&input, &p, NOW).volumes[3].why,
            Why::UnusedNamedVolume
        );
    }

    #[test]
    fn networks_used_by_any_remaining_container_stay() {
        let net = |name: &str, predefined: bool, created_ago: Option<f64>| NetworkIn {
            id: format!("id-{name}"),
            name: name.into(),
            predefined,
            created: created_ago.map(|a| NOW - a),
            ..NetworkIn::default()
        };
        let mut stopped_within = ctr("s", "sha256:x", Some(Grace::Within { age_s: 1.0 }));
        stopped_within.networks = strs(&["held"]);
        let mut stopped_old = ctr("o", "sha256:x", Some(Grace::Past { age_s: D }));
        stopped_old.networks = strs(&["freed"]);
        let mut by_id = ctr("i", "sha256:x", None);
        by_id.networks = strs(&["id-byid"]);
        let input = Input {
            containers: vec![stopped_within, stopped_old, by_id],
            networks: vec![
                net("bridge", true, None),
                net("held", false, Some(D)),
                net("freed", false, Some(D)),
                net("fresh", false, Some(5.0)),
                net("byid", false, Some(D)),
                net("nodate", false, None),
            ],
            ..Input::default()
        };
        let v = judge(&input, &Policy::default(), NOW);
        assert_eq!(
            rules(&v.networks),
            [
                "predefined",
                "in-use",
                "unused-network",
                "grace",
                "in-use",
                "unused-network"
            ]
        );
    }

    #[test]
    fn logs_build_cache_and_the_cap() {
        let input = Input {
            containers: vec![
                ctr("a", "i", Some(Grace::Past { age_s: 3.0 * D })),
                ctr("b", "i", Some(Grace::Past { age_s: 5.0 * D })),
                ctr("c", "i", Some(Grace::Past { age_s: 4.0 * D })),
                ctr("web", "i", None),
            ],
            build_cache: Some(BuildCacheIn { bytes: Some(500) }),
            logs: vec![
                LogIn {
                    container: "web".into(),
                    bytes: 900,
                    big: true,
                },
                LogIn {
                    container: "a".into(),
                    bytes: 900,
                    big: true,
                },
                LogIn {
                    container: "web2".into(),
                    bytes: 9,
                    big: false,
                },
            ],
            ..Input::default()
        };
        let v = judge(&input, &Policy::default(), NOW);
        assert_eq!(
            v.build_cache.as_ref().map(|b| b.why.rule()),
            Some("build-cache")
        );
        assert_eq!(rules(&v.logs), ["log-kept", "log-kept", "log-kept"]);
        // Oldest first: b, c, a.
        assert_eq!(
            &v.order[..3],
            &[
                Object::Container(1),
                Object::Container(2),
                Object::Container(0)
            ]
        );
        let p = Policy {
            types: Types {
                logs: true,
                ..Types::default_set()
            },
            max_removals: 2,
            ..Policy::default()
        };
        let v = judge(&input, &p, NOW);
        // Only the log of a container that stays is truncated.
        assert_eq!(v.logs[0].why, Why::CapReached { max: 2 });
        assert_eq!(v.logs[1].why, Why::LogKept);
        assert_eq!(
            rules(&v.containers),
            ["max-removals", "stopped", "stopped", "running"]
        );
        assert_eq!(v.build_cache.expect("bc").why, Why::CapReached { max: 2 });
    }

    #[test]
    fn nothing_collects_when_no_type_is_asked_for() {
        let input = Input {
            containers: vec![ctr("a", "i", Some(Grace::Past { age_s: 3.0 * D }))],
            images: vec![img("sha256:d", &[], &["X"], 2.0 * D)],
            build_cache: Some(BuildCacheIn { bytes: None }),
            ..Input::default()
        };
        let p = Policy {
            types: Types::default(),
            ..Policy::default()
        };
        let v = judge(&input, &p, NOW);
        assert_eq!(v.bytes(), 0);
        assert!(
            v.order
                .iter()
                .all(|o| !v.verdict(*o).expect("v").why.collects())
        );
    }
}
