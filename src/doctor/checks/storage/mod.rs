//! Checks of the storage area: leaked overlay2 directories, tmp leftovers, the build cache, and
//! mounts under the data root that stopped answering. All but the last read the storage map
//! `dockhand df` makes ([`crate::facts::Facts::storage_map`]), so the figures agree with it.

mod build_cache;
mod leaked_layers;
mod mounts;
mod tmp;

use serde_json::{Value, json};

use super::{Ctx, Probe, probe};
use crate::doctor::Finding;
use crate::facts::storage_map::DfReport;

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("storage.leaked-layers", leaked_layers::check),
        probe!("storage.tmp", tmp::check),
        probe!("storage.build-cache", build_cache::check),
        probe!("storage.mounts", mounts::check),
    ]
}

/// How many objects evidence lists before it only counts.
pub(crate) const EVIDENCE_CAP: usize = 20;

/// The storage map, or the finding that says why there is none. Shared by the images and
/// volumes checks.
pub(crate) async fn storage_map<'c>(ctx: &'c Ctx<'_>) -> Result<&'c DfReport, Finding> {
    ctx.storage_map().await.map_err(|g| match g {
        crate::facts::Gap::EngineSilent(_) => super::engine_silent(),
        g => super::gap(&g),
    })
}

/// The first `EVIDENCE_CAP` items as JSON, and how many there were.
pub(crate) fn capped<T: serde::Serialize>(items: &[T]) -> Value {
    json!({
        "count": items.len(),
        "items": items.iter().take(EVIDENCE_CAP).map(|i| json!(i)).collect::<Vec<_>>(),
        "truncated": items.len() > EVIDENCE_CAP,
    })
}

/// "1 thing" / "2 things".
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A warning when a pile warns (see [`crate::policy::storage::pile_warns`]), else ok.
pub(crate) fn pile_status(warns: bool) -> crate::doctor::Status {
    if warns {
        crate::doctor::Status::Warning
    } else {
        crate::doctor::Status::Ok
    }
}
