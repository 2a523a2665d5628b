//! `volumes.dangling`: anonymous volumes that no container, in any state, mounts. Named
//! volumes are data: counted, never called reclaimable. A volume whose filesystem stopped
//! answering is named, its size a lower bound (see storage.mounts).

use serde_json::json;

use crate::doctor::checks::Ctx;
use crate::doctor::checks::storage::{EVIDENCE_CAP, pile_status, plural, storage_map};
use crate::doctor::{Finding, Fix, Status};
use crate::facts::storage_map::VolumeRow;
use crate::policy::storage::pile_warns;
use crate::policy::volumes;
use crate::util::human_bytes;

/// `volumes.dangling`: anonymous volumes that no container, in any state, mounts.
pub async fn check(ctx: &Ctx<'_>) -> Finding {
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
        .filter(|v| volumes::dangling(v.anonymous, v.containers))
        .collect();
    let named_unused = items
        .iter()
        .filter(|v| !v.anonymous && v.containers == 0)
        .count();
    let bytes: u64 = dangling.iter().filter_map(|v| v.size).sum();
    let unmeasured = dangling.iter().filter(|v| v.size.is_none()).count();
    let lower = unmeasured > 0 || dangling.iter().any(|v| !v.complete);
    // Volumes whose walk was given up on: their filesystem stopped answering.
    let silent: Vec<&str> = df
        .stuck
        .iter()
        .filter_map(|s| s.belongs_to.strip_prefix("volume "))
        .collect();
    let silent_note = silent_note(&silent);
    let evidence = json!({
        "count": dangling.len(),
        "not_answering": silent,
        "bytes": bytes,
        "lower_bound": lower,
        "volumes": dangling.iter().take(EVIDENCE_CAP).collect::<Vec<_>>(),
        "truncated": dangling.len() > EVIDENCE_CAP,
        "volumes_total": df.volumes.count,
        "named_unused": named_unused,
        "warn_count": warn_count,
        "warn_bytes": warn_bytes,
    });
    let named = named_note(named_unused);
    if dangling.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "no unused anonymous volumes among {}{named}{silent_note}",
                plural(df.volumes.count, "volume", "volumes")
            ),
        )
        .evidence(evidence);
    }
    let summary = format!(
        "{} no container uses, holding {}{}{named}{silent_note}",
        plural(dangling.len(), "anonymous volume", "anonymous volumes"),
        if lower { "at least " } else { "" },
        human_bytes(bytes)
    );
    match pile_status(pile_warns(dangling.len(), bytes, warn_count, warn_bytes)) {
        Status::Ok => Finding::new(
            Status::Ok,
            format!(
                "{summary} (under {warn_count} volumes and {})",
                human_bytes(warn_bytes as u64)
            ),
        )
        .evidence(evidence),
        level => Finding::new(level, summary)
            .fix(gc_fix(&dangling))
            .evidence(evidence),
    }
}

/// The volumes whose walk was given up on (their filesystem stopped answering), in words.
fn silent_note(silent: &[&str]) -> String {
    if silent.is_empty() {
        String::new()
    } else {
        format!(
            "; {} did not answer, {} size unknown (see storage.mounts)",
            plural(silent.len(), "volume", "volumes"),
            if silent.len() == 1 { "its" } else { "their" }
        )
    }
}

/// Named volumes no container uses: said, never counted as reclaimable.
fn named_note(named_unused: usize) -> String {
    if named_unused == 0 {
        String::new()
    } else {
        format!(
            "; {} no container uses (data: never counted as reclaimable)",
            plural(named_unused, "named volume", "named volumes")
        )
    }
}

/// `dockhand gc --volumes`, or `docker volume rm` by hand (never `prune -a`).
fn gc_fix(dangling: &[&VolumeRow]) -> Fix {
    let names: Vec<&str> = dangling.iter().take(5).map(|v| v.name.as_str()).collect();
    let mut argv = vec!["docker", "volume", "rm"];
    argv.extend(names.iter().copied());
    Fix::run(
        &["dockhand", "gc", "--volumes"],
        "`dockhand gc --volumes` removes them (a dry run; add --apply to act);",
    )
    .then_run(
        &argv,
        format!(
            "by hand: docker volume rm {}{}. Not `docker volume prune -a`: it removes unused named volumes too.",
            names.join(" "),
            if dangling.len() > names.len() { " …" } else { "" }
        ),
    )
}
