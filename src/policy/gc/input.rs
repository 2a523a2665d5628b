//! What a run judges: the objects as gc sees them, on plain data (ages in seconds, layer
//! chains, sizes), and the data root's filesystem.

use std::collections::HashMap;

/// A container as gc sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerIn {
    pub id: String,
    pub name: String,
    /// Its image id.
    pub image: String,
    /// [`crate::policy::containers::stopped_grace`]'s verdict; `None` when it is not stopped.
    pub grace: Option<crate::policy::containers::Grace>,
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
    pub(super) fn recency(&self) -> f64 {
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
