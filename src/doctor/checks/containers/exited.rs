//! `containers.exited`: stopped containers — exited, created (never started) or dead — past the
//! grace period, the oldest, and what they hold on disk (writable layer and log, from the
//! storage map). The verdict is gc's: [`policy::stopped_grace`].
//!
//! Never flags: running, paused or restarting containers; one being removed; stopped ones
//! younger than the grace period (counted as `younger`, not judged).

use std::collections::HashMap;

use serde_json::json;

use super::{Ctx, brief_with, capped, label, now, plural, records, when};
use crate::doctor::{Finding, Fix, Status};
use crate::facts::storage_map::DfReport;
use crate::policy::containers::{self as policy, Grace};
use crate::runtime::inventory::ContainerRecord;
use crate::util::{human_age, human_bytes};

const ID: &str = "containers.exited";

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let grace = ctx.th(ID, "grace_hours") * 3600.0;
    let warn = ctx.th(ID, "warn_count");
    let warn_count = policy::count_threshold(warn);
    let (old, younger) = past_grace(all, grace, now());
    let grace_text = grace_words(grace);
    let thresholds = json!({ "grace_hours": grace / 3600.0, "warn_count": warn_count });
    if old.is_empty() {
        let mut summary = format!("no stopped containers older than {grace_text}");
        if younger > 0 {
            summary.push_str(&format!(
                " ({} younger)",
                plural(younger, "stopped container", "stopped containers")
            ));
        }
        return Finding::new(Status::Ok, summary).evidence(json!({
            "count": 0, "younger": younger, "bytes": 0, "bytes_known": true,
            "containers": [], "thresholds": thresholds,
        }));
    }
    // What they hold on disk: writable layer plus log, from the storage map.
    let map = ctx.storage_map().await;
    let sizes: Option<HashMap<&str, Option<u64>>> = map.as_ref().ok().map(|df| disk_sizes(df));
    let size_of = |c: &ContainerRecord| {
        sizes
            .as_ref()
            .and_then(|m| m.get(c.id.as_str()).copied().flatten())
    };
    let bytes: u64 = old.iter().filter_map(|(c, _)| size_of(c)).sum();
    let bytes_known = sizes.is_some() && old.iter().all(|(c, _)| size_of(c).is_some());
    let (oldest, oldest_age) = old[0];
    let held = match (&sizes, bytes_known) {
        (None, _) => "bytes unknown: the storage map failed".to_string(),
        (Some(_), true) => human_bytes(bytes),
        (Some(_), false) => format!("at least {}", human_bytes(bytes)),
    };
    let too_many = policy::over_count(old.len(), warn);
    let status = if too_many {
        Status::Warning
    } else {
        Status::Ok
    };
    let mut summary = format!(
        "{} older than {grace_text} ({held}), the oldest {} stopped {} ago",
        plural(old.len(), "stopped container", "stopped containers"),
        label(oldest),
        human_age(oldest_age as u64),
    );
    if too_many {
        summary.push_str(&format!(" (more than {warn_count})"));
    }
    let evidence = json!({
        "count": old.len(),
        "younger": younger,
        "bytes": bytes,
        "bytes_known": bytes_known,
        "df_error": map.as_ref().err().map(ToString::to_string),
        "oldest": { "id": oldest.id, "name": oldest.name(), "age_secs": oldest_age as u64 },
        "containers": capped(&old, |(c, age_s)| brief_with(c, json!({
            "exit_code": c.state.exit_code,
            "stopped_at": policy::stopped_since(c).map(when),
            "age_secs": *age_s as u64,
            "bytes": size_of(c),
        }))),
        "thresholds": thresholds,
    });
    let f = Finding::new(status, summary).evidence(evidence);
    if !too_many {
        return f;
    }
    f.fix(gc_fix(&old, &grace_text))
}

/// The stopped containers past the grace period with their age, oldest first, and how many
/// are still within it.
fn past_grace(
    all: &[ContainerRecord],
    grace: f64,
    now: f64,
) -> (Vec<(&ContainerRecord, f64)>, usize) {
    let mut old: Vec<(&ContainerRecord, f64)> = Vec::new();
    let mut younger = 0;
    for c in all {
        match policy::stopped_grace(c, grace, now) {
            Some(Grace::Past { age_s }) => old.push((c, age_s)),
            Some(Grace::Within { .. }) => younger += 1,
            None => {}
        }
    }
    // Oldest first.
    old.sort_by(|a, b| b.1.total_cmp(&a.1));
    (old, younger)
}

/// The grace period in words: "24 h" reads better than "1 d 0 h" for a threshold given in
/// hours.
fn grace_words(grace: f64) -> String {
    if grace >= 3600.0 {
        format!("{} h", (grace / 3600.0 * 100.0).round() / 100.0)
    } else {
        human_age(grace.max(0.0) as u64)
    }
}

/// What each container holds on disk (writable layer plus log), by id; `None` for a
/// container whose layer size is unknown.
fn disk_sizes(df: &DfReport) -> HashMap<&str, Option<u64>> {
    df.containers
        .items
        .iter()
        .map(|r| {
            let log = r.log.as_ref().map_or(0, |l| l.bytes);
            (r.id.as_str(), r.rw_bytes.map(|rw| rw + log))
        })
        .collect()
}

/// `dockhand gc` first (it keeps the young and the labelled), `docker rm` by hand.
fn gc_fix(old: &[(&ContainerRecord, f64)], grace_text: &str) -> Fix {
    let shown: Vec<&str> = old.iter().take(5).map(|(c, _)| label(c)).collect();
    let mut rm = vec!["docker", "rm"];
    rm.extend(&shown);
    Fix::run(
        &["dockhand", "gc"],
        format!(
            "Remove stopped containers with `dockhand gc` (a dry run; add --apply to act): it keeps those stopped less than {grace_text} and those labelled dockhand.keep."
        ),
    )
    .then_run(
        &rm,
        format!(
            "By hand: `docker rm {}{}`.",
            shown.join(" "),
            if old.len() > shown.len() { " …" } else { "" }
        ),
    )
}
