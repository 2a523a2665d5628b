//! `images.dangling`: untagged images that no container, in any state, uses — what
//! `docker image prune` would remove. A dangling image a stopped container still uses is
//! counted apart, never called reclaimable (the engine refuses to remove it).

use serde_json::json;

use crate::doctor::checks::Ctx;
use crate::doctor::checks::storage::{EVIDENCE_CAP, pile_status, plural, storage_map};
use crate::doctor::{Finding, Fix, Status};
use crate::facts::storage_map::account::ImageRow;
use crate::policy::images::dangling_unused;
use crate::policy::storage::pile_warns;
use crate::util::human_bytes;

/// `images.dangling`: untagged images; those no container uses are reclaimable.
pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let id = "images.dangling";
    let warn_count = ctx.th(id, "warn_count");
    let warn_bytes = ctx.th(id, "warn_bytes");
    let df = match storage_map(ctx).await {
        Ok(df) => df,
        Err(f) => return f,
    };
    let all: Vec<_> = df.images.items.iter().filter(|i| i.dangling).collect();
    // A container (even a stopped one) keeps its image: the engine refuses to remove it.
    let (unused, used): (Vec<&ImageRow>, Vec<&ImageRow>) = all
        .iter()
        .copied()
        .partition(|i| dangling_unused(i.dangling, i.containers));
    let bytes: u64 = unused.iter().map(|i| i.unique).sum();
    let items: Vec<_> = unused
        .iter()
        .take(EVIDENCE_CAP)
        .map(|i| {
            json!({
                "id": i.id, "created": i.created, "size": i.size, "unique": i.unique,
                "shared": i.shared, "layers": i.layers,
            })
        })
        .collect();
    let evidence = json!({
        "count": unused.len(),
        "reclaimable_bytes": bytes,
        "images": items,
        "truncated": unused.len() > EVIDENCE_CAP,
        "in_use": used.iter().map(|i| json!({ "id": i.id, "containers": i.containers })).collect::<Vec<_>>(),
        "images_total": df.images.count,
        "source": df.images.source,
        "warn_count": warn_count,
        "warn_bytes": warn_bytes,
    });
    let in_use = if used.is_empty() {
        String::new()
    } else {
        format!(
            "; {} more in use by containers",
            plural(used.len(), "dangling image is", "dangling images are")
        )
    };
    if unused.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "no unused dangling images among {}{in_use}",
                plural(df.images.count, "image", "images")
            ),
        )
        .evidence(evidence);
    }
    let summary = format!(
        "{} no container uses, {} reclaimable{in_use}",
        plural(unused.len(), "dangling image", "dangling images"),
        human_bytes(bytes)
    );
    match pile_status(pile_warns(unused.len(), bytes, warn_count, warn_bytes)) {
        Status::Ok => Finding::new(
            Status::Ok,
            format!(
                "{summary} (under {warn_count} images and {})",
                human_bytes(warn_bytes as u64)
            ),
        )
        .evidence(evidence),
        level => {
            let ids: Vec<&str> = unused
                .iter()
                .take(5)
                .map(|i| i.id.strip_prefix("sha256:").unwrap_or(&i.id))
                .map(|i| &i[..i.len().min(12)])
                .collect();
            let mut argv = vec!["docker", "image", "rm"];
            argv.extend(ids.iter().copied());
            Finding::new(level, summary)
                .fix(
                    Fix::run(
                        &["dockhand", "gc"],
                        "`dockhand gc` removes them (a dry run; add --apply to act);",
                    )
                    .then_run(
                        &argv,
                        format!(
                            "by hand: docker image rm {}{}.",
                            ids.join(" "),
                            if unused.len() > ids.len() { " …" } else { "" }
                        ),
                    ),
                )
                .evidence(evidence)
        }
    }
}
