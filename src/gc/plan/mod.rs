//! From verdicts to a plan: each collected object becomes its actions (a container removal, an
//! image's tags untagged one by one, …) with the rule in words; each object a keep rule protected
//! is listed with that rule.
//!
//! The files, by concept: the plan document and its building here; [`steps`] each object's entry
//! and steps; [`words`] the rules in words; [`saved`] the saved plan's policy; [`rejudge`] a saved
//! plan applied, re-judged against the host as it is now.

mod rejudge;
mod saved;
mod steps;
mod words;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::gather::Gathered;
use crate::actions::{Plan, Step};
use crate::policy::gc::{Policy, Verdicts, WatermarkOutcome};
use crate::util::human_bytes;

/// A step's identity across a saved plan and a new one: one definition for every command.
pub use crate::actions::saved_plan::step_key;
pub use rejudge::{narrow_to_saved, still_eligible};
pub use saved::{PolicyDoc, file_for, policy_of};
pub use words::{reason, span_text};

/// The kind of object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
    BuildCache,
    Log,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
            Kind::Network => "network",
            Kind::BuildCache => "build-cache",
            Kind::Log => "log",
        }
    }
}

/// One object of the plan: to go, or kept by a rule.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub object: Kind,
    pub id: String,
    pub name: String,
    pub rule: &'static str,
    pub reason: String,
    /// Stopped, idle or created this long ago.
    pub age_s: Option<u64>,
    /// Last use (seconds since the epoch), for images.
    pub last_used: Option<u64>,
    pub bytes: Option<u64>,
    /// Its steps in the plan (an image with three tags has three).
    #[serde(skip)]
    pub steps: Vec<usize>,
}

/// What a gc run would do, and why.
#[derive(Debug, Clone, Default)]
pub struct GcPlan {
    pub plan: Plan,
    pub remove: Vec<Entry>,
    /// Objects a keep rule protected (not the running, the used, the not-asked-for).
    pub kept: Vec<Entry>,
    /// How many objects were left for an ordinary reason: rule → count.
    pub left: Vec<(&'static str, usize)>,
    /// Every object left, by id: why (for a saved plan's steps that are no longer eligible).
    pub why_not: HashMap<String, String>,
    pub watermark: Option<WatermarkOutcome>,
}

impl GcPlan {
    /// Bytes the plan frees, by df's accounting.
    pub fn bytes(&self) -> u64 {
        self.remove.iter().filter_map(|e| e.bytes).sum()
    }
}

/// Turns verdicts into the plan: steps in removal order, entries, what was kept and why.
pub fn build(g: &Gathered, v: &Verdicts, p: &Policy, keep_storage: Option<u64>) -> GcPlan {
    let mut out = GcPlan {
        watermark: v.watermark,
        ..GcPlan::default()
    };
    let mut left: HashMap<&'static str, usize> = HashMap::new();
    // Steps go in five buckets, then one after the other: containers; image tags but the last
    // of each image; last tags (each holds its image, see `actions::docker::untag_image`);
    // the images themselves, held or dangling (these free the bytes); volumes, networks, build
    // cache, logs. So the tags of one image never race each other, and images go once the
    // containers that used them are gone.
    let mut buckets: [Vec<Step>; 5] = Default::default();
    let mut placed: Vec<Vec<(usize, usize)>> = Vec::new();
    for o in &v.order {
        let Some(verdict) = v.verdict(*o) else {
            continue;
        };
        let entry = steps::entry(g, *o, verdict, p, v.watermark.as_ref());
        if !verdict.why.collects() {
            out.why_not.insert(entry.id.clone(), entry.reason.clone());
            if verdict.why.is_protection() {
                out.kept.push(entry);
            } else {
                *left.entry(verdict.why.rule()).or_default() += 1;
            }
            continue;
        }
        let Some(steps) = steps::steps(g, *o, verdict, &entry.reason, p, keep_storage) else {
            // A log whose file cannot be stamped now: left, counted.
            *left.entry("log-unreadable").or_default() += 1;
            continue;
        };
        placed.push(
            steps
                .into_iter()
                .map(|(b, s)| {
                    buckets[b].push(s);
                    (b, buckets[b].len() - 1)
                })
                .collect(),
        );
        out.remove.push(entry);
    }
    let mut offset = [0usize; 5];
    for b in 1..5 {
        offset[b] = offset[b - 1] + buckets[b - 1].len();
    }
    for (e, places) in out.remove.iter_mut().zip(placed) {
        e.steps = places.into_iter().map(|(b, i)| offset[b] + i).collect();
    }
    out.plan = Plan::new(buckets.into_iter().flatten().collect());
    let mut left: Vec<(&'static str, usize)> = left.into_iter().collect();
    left.sort();
    out.left = left;
    out
}

/// The plan as JSON for reports.
pub fn steps_json(plan: &Plan, e: &Entry) -> Vec<Value> {
    e.steps
        .iter()
        .filter_map(|i| plan.steps.get(*i))
        .map(|s| json!({ "action": s.action.kind(), "describe": s.action.describe() }))
        .collect()
}

/// Bytes in words, "?" when unknown.
pub fn bytes_text(b: Option<u64>) -> String {
    b.map_or_else(|| "?".into(), human_bytes)
}

#[cfg(test)]
mod tests;
