//! `storage.tmp`: a lingering `tmp-old` (the clean-up at the daemon's start failed), entries of
//! `<data-root>/tmp` no process holds open past the grace period, and files the daemon holds
//! open that were deleted (their space is not free). Never flags a download in progress (the
//! daemon holds it open) or a fresh entry still being written.

use serde_json::json;

use super::{capped, plural, storage_map};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::storage::{container_of, deleted_file_counts, tmp_stale};
use crate::util::{human_age, human_bytes};

/// `storage.tmp`: a lingering tmp-old, tmp entries nobody holds, deleted files still open.
pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let id = "storage.tmp";
    let grace_s = (ctx.th(id, "grace_hours") * 3600.0).max(0.0) as u64;
    let deleted_warn = ctx.th(id, "deleted_open_warn_bytes");
    let df = match storage_map(ctx).await {
        Ok(df) => df,
        Err(f) => return f,
    };
    let root = df.data_root.display().to_string();
    if df.source != "disk" {
        // The engine's figures (not root, or the containerd image store) do not include tmp.
        let why = df
            .notes
            .first()
            .cloned()
            .unwrap_or_else(|| "the data root was not read".into());
        return Finding::new(
            Status::Unknown,
            format!("cannot look into {root}/tmp: {why}"),
        )
        .evidence(json!({ "data_root": root, "source": df.source }));
    }
    let l = &df.leftovers;
    let stale: Vec<_> = l
        .tmp
        .iter()
        .filter(|t| tmp_stale(t.open, t.age_s, grace_s))
        .collect();
    let held = l.tmp.iter().filter(|t| t.open).count();
    let young = l.tmp.len() - held - stale.len();
    let old = l.tmp_old.as_ref().filter(|t| t.age_s >= grace_s);
    let deleted: Vec<_> = l
        .deleted_open
        .iter()
        .filter(|d| deleted_file_counts(&d.path))
        .collect();
    let deleted_bytes: u64 = deleted.iter().map(|d| d.bytes).sum();
    let deleted_counts = !deleted.is_empty() && deleted_bytes as f64 >= deleted_warn;
    let stale_bytes: u64 = stale.iter().map(|t| t.bytes).sum();

    let mut problems = Vec::new();
    let mut fix = Fix::default();
    if let Some(o) = old {
        problems.push(format!(
            "{}/tmp-old lingers ({}, {} old{}): the clean-up at the daemon's start failed",
            root,
            human_bytes(o.bytes),
            human_age(o.age_s),
            if o.open {
                ", a process holds a file in it"
            } else {
                ""
            }
        ));
    }
    if !stale.is_empty() {
        problems.push(format!(
            "{} in {root}/tmp no process holds open ({})",
            plural(stale.len(), "entry", "entries"),
            human_bytes(stale_bytes)
        ));
    }
    if old.is_some() || !stale.is_empty() {
        let mut paths: Vec<String> = old.iter().map(|o| o.path.display().to_string()).collect();
        paths.extend(stale.iter().take(5).map(|t| t.path.display().to_string()));
        fix = fix.then_run(
            &["dockhand", "reap"],
            format!(
                "`dockhand reap` removes them (by hand, after `fuser` shows no holder: rm -rf {}{}).",
                paths.join(" "),
                if stale.len() > 5 { " …" } else { "" }
            ),
        );
    }
    let containers: Vec<&str> = deleted
        .iter()
        .filter_map(|d| container_of(&d.path))
        .collect();
    if deleted_counts {
        problems.push(format!(
            "the daemon holds {} open that {} deleted ({} not freed)",
            plural(deleted.len(), "file", "files"),
            if deleted.len() == 1 { "was" } else { "were" },
            human_bytes(deleted_bytes)
        ));
        if !containers.is_empty() {
            let mut ids: Vec<&str> = containers.iter().map(|c| &c[..12]).collect();
            ids.dedup();
            let mut argv = vec!["docker", "restart"];
            argv.extend(ids.iter().copied());
            fix = fix.then_run(
                &argv,
                format!(
                    "The space returns when the file is closed: restart the container{} whose log was deleted (docker restart {}), or",
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(" ")
                ),
            );
            fix = fix.then_run(
                &["dockhand", "recover"],
                "restart the daemon (`dockhand recover` does it live-restore-aware).",
            );
        } else {
            fix = fix.then_run(
                &["dockhand", "recover"],
                "The space returns when the file is closed: restart the daemon (`dockhand recover` does it live-restore-aware).",
            );
        }
    }
    let evidence = json!({
        "data_root": root,
        "grace_hours": grace_s as f64 / 3600.0,
        "tmp_old": l.tmp_old,
        "tmp_unheld": capped(&stale),
        "tmp_unheld_bytes": stale_bytes,
        "tmp_held": held,
        "tmp_young": young,
        "deleted_open": capped(&deleted),
        "deleted_open_bytes": deleted_bytes,
        "deleted_open_containers": containers,
    });
    if problems.is_empty() {
        let mut s = format!("no leftovers in {root}/tmp");
        let mut also = Vec::new();
        if held > 0 {
            also.push(format!("{held} in use"));
        }
        if young > 0 || l.tmp_old.is_some() {
            also.push(format!(
                "{} younger than the grace period",
                young + usize::from(l.tmp_old.is_some() && old.is_none())
            ));
        }
        if !deleted.is_empty() {
            also.push(format!(
                "{} deleted-but-open ({})",
                plural(deleted.len(), "file", "files"),
                human_bytes(deleted_bytes)
            ));
        }
        if !also.is_empty() {
            s.push_str(&format!(" ({})", also.join(", ")));
        }
        return Finding::new(Status::Ok, s).evidence(evidence);
    }
    Finding::new(Status::Warning, problems.join("; "))
        .fix(fix)
        .evidence(evidence)
}
