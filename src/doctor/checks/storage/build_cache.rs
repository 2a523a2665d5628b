//! `storage.build-cache`: the builder's cache against a size threshold.

use serde_json::json;

use super::{pile_status, plural, storage_map};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::storage::cache_warns;
use crate::util::human_bytes;

/// `storage.build-cache`: the build cache's size against a threshold.
pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let warn = ctx.th("storage.build-cache", "warn_bytes");
    let df = match storage_map(ctx).await {
        Ok(df) => df,
        Err(f) => return f,
    };
    let bc = &df.build_cache;
    let evidence = json!({
        "records": bc.count,
        "in_use": bc.active,
        "bytes": bc.total,
        "reclaimable_bytes": bc.reclaimable,
        "source": bc.source,
        "warn_bytes": warn,
    });
    if let Some(why) = bc.source.strip_prefix("not measured: ") {
        return Finding::new(
            Status::Unknown,
            format!("the build cache was not measured: {why}"),
        )
        .evidence(evidence);
    }
    if bc.count == 0 && bc.total == 0 {
        let s = if bc.source == "disk" {
            "no build cache: the builder has no snapshot under the data root"
        } else {
            "the build cache is empty"
        };
        return Finding::new(Status::Ok, s).evidence(evidence);
    }
    let summary = format!(
        "the build cache holds {} in {} ({} reclaimable, {} in use)",
        human_bytes(bc.total),
        plural(bc.count, "record", "records"),
        human_bytes(bc.reclaimable),
        bc.active
    );
    match pile_status(cache_warns(bc.total, warn)) {
        Status::Ok => Finding::new(
            Status::Ok,
            format!("{summary}, under {}", human_bytes(warn as u64)),
        )
        .evidence(evidence),
        level => Finding::new(
            level,
            format!("{summary}: at or over {}", human_bytes(warn as u64)),
        )
        .fix(
            Fix::run(&["dockhand", "gc"], "`dockhand gc` trims it (a dry run; add --apply to act), or")
                .then_run(
                    &["docker", "builder", "prune", "--keep-storage", "5GB"],
                    "`docker builder prune --keep-storage 5GB`.",
                )
                .then_advice("To bound it for good, enable the builder's garbage collection in daemon.json: \"builder\": {\"gc\": {\"enabled\": true, \"defaultKeepStorage\": \"10GB\"}}."),
        )
        .evidence(evidence),
    }
}
