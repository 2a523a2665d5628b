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
//!
//! The files, by concept: the policy here; [`why`] the reasons an object goes or stays; [`input`]
//! what a run judges; [`verdicts`] what it decides; [`rules`] the rules over single objects;
//! [`layers`] the bytes a removal frees; [`judge`] the judgement, kind by kind; [`watermark`] the
//! least-recently-used pass down to the low mark.

pub mod config;
mod input;
mod judge;
mod layers;
mod rules;
mod verdicts;
mod watermark;
mod why;

pub use input::{BuildCacheIn, ContainerIn, Disk, ImageIn, Input, LogIn, NetworkIn, VolumeIn};
pub use judge::judge;
pub use layers::LayerRefs;
pub use rules::{container, glob, image_idle, is_base, keep_last, repo_of};
pub use verdicts::{Object, Verdict, Verdicts, WatermarkOutcome};
pub use watermark::watermark_need;
pub use why::Why;

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

#[cfg(test)]
mod tests;
