//! `containers.littering`: stopped containers with names Docker generated (`adjective_surname`),
//! left by `docker run` without `--rm` and without `--name` — a habit, counted by image so the
//! job that litters shows. The verdict: [`policy::is_litter`].
//!
//! Never flags: containers named by hand (`web`, `compose_web_1`), running ones, and those
//! created with `--rm` (they go when they exit). No grace period: the point is the habit.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Ctx, brief_with, capped, label, now, plural, records, when};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::containers as policy;
use crate::runtime::inventory::ContainerRecord;
use crate::util::human_age;

const ID: &str = "containers.littering";

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let warn = ctx.th(ID, "warn_count");
    let now = now();
    let mut litter: Vec<&ContainerRecord> = all.iter().filter(|c| policy::is_litter(c)).collect();
    litter.sort_by(|a, b| {
        a.created
            .unwrap_or(now)
            .total_cmp(&b.created.unwrap_or(now))
    });
    let thresholds = json!({ "warn_count": policy::count_threshold(warn) });
    let (Some(oldest), Some(newest)) = (litter.first(), litter.last()) else {
        return Finding::new(
            Status::Ok,
            "no stopped containers with generated names (each `docker run` without --rm leaves one)",
        )
        .evidence(json!({ "count": 0, "by_image": {}, "containers": [], "thresholds": thresholds }));
    };
    let mut by_image: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &litter {
        *by_image.entry(c.config.image.as_str()).or_default() += 1;
    }
    let top = by_image
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(("", 0), |(k, v)| (*k, *v));
    let too_many = policy::over_count(litter.len(), warn);
    let summary = format!(
        "{} left by `docker run` without --rm (generated names, e.g. {}), the oldest created {} ago; most from {} ({})",
        plural(litter.len(), "stopped container", "stopped containers"),
        label(newest),
        human_age(super::age(now, oldest.created)),
        top.0,
        top.1,
    );
    let evidence = json!({
        "count": litter.len(),
        "oldest": { "id": oldest.id, "name": oldest.name(), "created": oldest.created.map(when) },
        "by_image": by_image,
        "containers": capped(&litter, |c| brief_with(c, json!({
            "created": c.created.map(when),
            "command": c.command(),
        }))),
        "thresholds": thresholds,
    });
    let status = if too_many {
        Status::Warning
    } else {
        Status::Ok
    };
    let f = Finding::new(status, summary).evidence(evidence);
    if !too_many {
        return f;
    }
    f.fix(
        Fix::advice(
            "Stop the habit: `docker run --rm …` for throwaway runs (the container goes when it exits), `--name …` for the ones you mean to keep.",
        )
        .then_run(
            &["dockhand", "gc"],
            "Remove what is left with `dockhand gc` (a dry run; add --apply to act).",
        ),
    )
}
