//! The saved plan (`--plan-out`, `--apply-plan`): the plan with the policy that made it, the
//! host and daemon it is for, and a keyed digest over all of it (actions::saved_plan signs and
//! checks it; this is gc's part: its policy, written and read back).

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::Plan;
use crate::actions::saved_plan::{EngineDoc, SavedPlan};
use crate::gc::gather::Gathered;
use crate::policy::gc::{Policy, Types};

/// The policy a plan was made with, as saved (the plan's `options`): applying re-judges each
/// object by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDoc {
    pub min_age_s: f64,
    pub keep: Vec<String>,
    pub keep_last: usize,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub types: Vec<String>,
    pub max_removals: usize,
    pub keep_storage: Option<u64>,
}

impl PolicyDoc {
    pub fn of(p: &Policy, keep_storage: Option<u64>) -> PolicyDoc {
        let t = p.types;
        let words = [
            (t.containers, "containers"),
            (t.dangling_images, "dangling-images"),
            (t.images, "images"),
            (t.networks, "networks"),
            (t.build_cache, "build-cache"),
            (t.volumes, "volumes"),
            (t.named_volumes, "named-volumes"),
            (t.logs, "logs"),
        ];
        PolicyDoc {
            min_age_s: p.min_age_s,
            keep: p.keep_patterns.clone(),
            keep_last: p.keep_last,
            high: p.watermarks.map(|w| w.high),
            low: p.watermarks.map(|w| w.low),
            types: words
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| w.to_string())
                .collect(),
            max_removals: p.max_removals,
            keep_storage,
        }
    }

    pub fn policy(&self) -> Result<Policy, String> {
        let mut types: Types = crate::gc::options::parse_types(
            "the plan's types",
            self.types.iter().map(String::as_str),
        )?;
        // named-volumes implies volumes when parsed; keep exactly what was saved.
        types.volumes = self
            .types
            .iter()
            .any(|t| t == "volumes" || t == "named-volumes");
        Ok(Policy {
            min_age_s: self.min_age_s,
            keep_patterns: self.keep.clone(),
            keep_last: self.keep_last,
            watermarks: crate::gc::options::watermarks(self.high, self.low)?,
            types,
            max_removals: self.max_removals,
        })
    }
}

/// The saved plan for `g`'s daemon.
pub fn file_for(
    g: &Gathered,
    plan: &Plan,
    p: &Policy,
    keep_storage: Option<u64>,
    endpoint: &str,
) -> SavedPlan {
    let mut f = SavedPlan::new(
        "gc",
        None,
        EngineDoc {
            endpoint: endpoint.into(),
            id: Some(g.daemon_id.clone()),
        },
        plan,
    )
    .with_options(serde_json::to_value(PolicyDoc::of(p, keep_storage)).unwrap_or(Value::Null));
    // Milliseconds: applying watches the engine's events from this instant on.
    f.created_at = crate::units::rfc3339_ms(UNIX_EPOCH + Duration::from_secs_f64(g.now.max(0.0)));
    f
}

/// The policy a saved gc plan was made with.
pub fn policy_of(f: &SavedPlan) -> Result<PolicyDoc, String> {
    serde_json::from_value(f.options.clone())
        .map_err(|e| format!("its policy cannot be read ({e})"))
}
