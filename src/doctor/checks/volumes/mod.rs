//! Checks of the volumes area: anonymous volumes no container uses, from the storage map
//! `dockhand df` makes. Named volumes are data: counted, never called reclaimable.

use serde_json::json;

use super::storage::{EVIDENCE_CAP, pile_level, plural, storage_map};
use super::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::util::human_bytes;

pub fn probes() -> Vec<Probe> {
    vec![probe!("volumes.dangling", dangling)]
}

/// `volumes.dangling`: anonymous volumes that no container, in any state, mounts.
pub async fn dangling(ctx: &Ctx<'_>) -> Finding {
    let id = "volumes.dangling";
    let warn_count = ctx.th(id, "warn_count");
    let warn_bytes = ctx.th(id, "warn_bytes");
    let df = match storage_map(ctx).await {
        Ok(df) => df,
        Err(f) => return f,
    };
    let items = &df.volumes.items;
    let dangling: Vec<_> = items
        .iter()
        .filter(|v| v.anonymous && v.containers == 0)
        .collect();
    let named_unused = items
        .iter()
        .filter(|v| !v.anonymous && v.containers == 0)
        .count();
    let bytes: u64 = dangling.iter().filter_map(|v| v.size).sum();
    let unmeasured = dangling.iter().filter(|v| v.size.is_none()).count();
    let lower = unmeasured > 0 || dangling.iter().any(|v| !v.complete);
    let evidence = json!({
        "count": dangling.len(),
        "bytes": bytes,
        "lower_bound": lower,
        "volumes": dangling.iter().take(EVIDENCE_CAP).collect::<Vec<_>>(),
        "truncated": dangling.len() > EVIDENCE_CAP,
        "volumes_total": df.volumes.count,
        "named_unused": named_unused,
        "warn_count": warn_count,
        "warn_bytes": warn_bytes,
    });
    let named = if named_unused == 0 {
        String::new()
    } else {
        format!(
            "; {} no container uses (data: never counted as reclaimable)",
            plural(named_unused, "named volume", "named volumes")
        )
    };
    if dangling.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "no unused anonymous volumes among {}{named}",
                plural(df.volumes.count, "volume", "volumes")
            ),
        )
        .evidence(evidence);
    }
    let summary = format!(
        "{} no container uses, holding {}{}{named}",
        plural(dangling.len(), "anonymous volume", "anonymous volumes"),
        if lower { "at least " } else { "" },
        human_bytes(bytes)
    );
    match pile_level(dangling.len(), bytes, warn_count, warn_bytes) {
        Status::Ok => Finding::new(
            Status::Ok,
            format!(
                "{summary} (under {warn_count} volumes and {})",
                human_bytes(warn_bytes as u64)
            ),
        )
        .evidence(evidence),
        level => {
            let names: Vec<&str> = dangling.iter().take(5).map(|v| v.name.as_str()).collect();
            Finding::new(level, summary)
                .remedy(format!(
                    "`dockhand gc` removes them (a dry run; add --apply to act); by hand: docker volume rm {}{}. Not `docker volume prune -a`: it removes unused named volumes too.",
                    names.join(" "),
                    if dangling.len() > names.len() { " …" } else { "" }
                ))
                .evidence(evidence)
        }
    }
}
