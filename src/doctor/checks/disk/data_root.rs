//! `disk.data-root`: space and inodes of the filesystem holding the data root, computed as `df`
//! does, judged by [`crate::policy::disk::fullness`]. `statfs` runs under the deadline: a hung
//! mount is reported, not waited on.
//!
//! Never flagged: what is *under* the data root (that is `dockhand df`'s accounting and the
//! storage checks'); the inodes of a filesystem that reports no inode limit (btrfs).

use serde_json::json;

use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::disk::{Level, Limits, fullness};
use crate::runtime::blocking;
use crate::runtime::host::fs_usage;
use crate::util::{human_bytes, human_duration};

const ID: &str = "disk.data-root";

fn status(l: Level) -> Status {
    match l {
        Level::Ok => Status::Ok,
        Level::Warning => Status::Warning,
        Level::Critical => Status::Critical,
    }
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let limits = Limits {
        space_warn: ctx.th(ID, "space_warn_percent"),
        space_critical: ctx.th(ID, "space_critical_percent"),
        inodes_warn: ctx.th(ID, "inodes_warn_percent"),
        inodes_critical: ctx.th(ID, "inodes_critical_percent"),
    };
    let deadline = ctx.timeout();
    let Some((root, source)) = ctx.data_root().await else {
        return Finding::new(
            Status::Unknown,
            "the data root is not known: the engine is remote and did not answer /info",
        );
    };
    let path = root.clone();
    let usage = match blocking(deadline, move || fs_usage(&path)).await {
        Some(Ok(u)) => u,
        Some(Err(e)) => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "cannot measure the data root {} (from {source}): {e}",
                    root.display()
                ),
            )
            .evidence(json!({ "path": root, "source": source }));
        }
        None => {
            return Finding::new(
                Status::Critical,
                format!(
                    "the filesystem holding {} did not answer statfs within {}: a hung mount?",
                    root.display(),
                    human_duration(deadline)
                ),
            )
            .evidence(json!({ "path": root, "source": source }));
        }
    };
    let full = fullness(&usage, &limits);
    let mount = usage
        .mount_point
        .as_ref()
        .map_or_else(|| "?".into(), |m| m.display().to_string());
    let mut summary = format!(
        "{} on {mount}: {:.0} % used ({} free of {})",
        root.display(),
        usage.used_percent,
        human_bytes(usage.free_bytes),
        human_bytes(usage.total_bytes)
    );
    if usage.inodes_total > 0 {
        summary.push_str(&format!(", inodes {:.0} % used", usage.inodes_used_percent));
    }
    let mut evidence = serde_json::to_value(&usage).unwrap_or_default();
    if let Some(o) = evidence.as_object_mut() {
        o.insert("source".into(), json!(source));
        o.insert(
            "thresholds".into(),
            json!({
                "space_warn_percent": limits.space_warn, "space_critical_percent": limits.space_critical,
                "inodes_warn_percent": limits.inodes_warn, "inodes_critical_percent": limits.inodes_critical,
            }),
        );
    }
    let f = Finding::new(status(full.worst()), summary).evidence(evidence);
    let gc = |lead: &str| {
        Fix::default().then_run(
            &["dockhand", "gc"],
            format!("{lead} `dockhand gc` (a dry run; add --apply to act)."),
        )
    };
    if full.inodes != Level::Ok {
        f.fix(
            Fix::run(
                &["dockhand", "df", "-v"],
                "Out of inodes: many small files, usually in containers' writable layers or volumes — `dockhand df -v` names the biggest;",
            )
            .and(gc("remove stopped containers with")),
        )
    } else if full.space != Level::Ok {
        f.fix(
            Fix::run(
                &["dockhand", "df"],
                "See where the space went with `dockhand df`,",
            )
            .and(gc("then reclaim it with"))
            .then_advice("`docker system prune` removes more than you may want."),
        )
    } else {
        f
    }
}
