//! `disk.data-root`: space and inodes of the filesystem holding the data root.

use serde_json::json;

use super::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::host::fs_usage;
use crate::util::{human_bytes, human_duration};

pub fn probes() -> Vec<Probe> {
    vec![probe!("disk.data-root", data_root)]
}

pub struct Limits {
    pub space_warn: f64,
    pub space_critical: f64,
    pub inodes_warn: f64,
    pub inodes_critical: f64,
}

/// The verdict for a usage percentage against its pair of thresholds.
pub fn level(pct: f64, warn: f64, critical: f64) -> Status {
    if pct >= critical {
        Status::Critical
    } else if pct >= warn {
        Status::Warning
    } else {
        Status::Ok
    }
}

pub async fn data_root(ctx: &Ctx<'_>) -> Finding {
    let id = "disk.data-root";
    let limits = Limits {
        space_warn: ctx.th(id, "space_warn_percent"),
        space_critical: ctx.th(id, "space_critical_percent"),
        inodes_warn: ctx.th(id, "inodes_warn_percent"),
        inodes_critical: ctx.th(id, "inodes_critical_percent"),
    };
    let deadline = ctx.timeout();
    let Some((root, source)) = ctx.data_root().await else {
        return Finding::new(
            Status::Unknown,
            "the data root is not known: the engine is remote and did not answer /info",
        );
    };
    let path = root.clone();
    // statvfs on a hung NFS mount blocks; keep it under the deadline.
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
    let space = level(usage.used_percent, limits.space_warn, limits.space_critical);
    let inodes = if usage.inodes_total == 0 {
        Status::Ok // btrfs and some others report no inode limit
    } else {
        level(
            usage.inodes_used_percent,
            limits.inodes_warn,
            limits.inodes_critical,
        )
    };
    let status = space.worst(inodes);
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
    let f = Finding::new(status, summary).evidence(evidence);
    match (space, inodes) {
        (Status::Ok, Status::Ok) => f,
        (_, Status::Ok) => f.remedy(
            "See where the space went with `dockhand df`, then reclaim it with `dockhand gc` (a dry run; add --apply to act). `docker system prune` removes more than you may want.",
        ),
        _ => f.remedy(
            "Out of inodes: many small files, usually in containers' writable layers or volumes — `dockhand df -v` names the biggest; remove stopped containers with `dockhand gc`.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_inclusive() {
        assert_eq!(level(84.9, 85.0, 95.0), Status::Ok);
        assert_eq!(level(85.0, 85.0, 95.0), Status::Warning);
        assert_eq!(level(95.0, 85.0, 95.0), Status::Critical);
        assert_eq!(level(100.0, 85.0, 95.0), Status::Critical);
    }
}
