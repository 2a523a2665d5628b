//! What a run decides: a verdict per object, index for index with the input, the order of
//! removals, and where the watermark pass ended.

use super::{Watermarks, Why};

/// One object's verdict; `bytes` is what removing it frees (collected objects only).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub why: Why,
    pub bytes: Option<u64>,
}

impl Verdict {
    pub(super) fn keep(why: Why) -> Verdict {
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

    pub(super) fn verdict_mut(&mut self, o: Object) -> Option<&mut Verdict> {
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
