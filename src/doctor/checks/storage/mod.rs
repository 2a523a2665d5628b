//! Checks of the storage area: leaked overlay2 directories, tmp leftovers, build cache. All read
//! the storage map `dockhand df` makes ([`Ctx::df`]), so the figures agree with it.

use serde_json::{Value, json};

use super::{Ctx, Probe, probe};
use crate::df::DfReport;
use crate::doctor::{Finding, Status};
use crate::util::{human_age, human_bytes};

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("storage.leaked-layers", leaked_layers),
        probe!("storage.tmp", tmp),
        probe!("storage.build-cache", build_cache),
    ]
}

/// How many objects evidence lists before it only counts.
pub(super) const EVIDENCE_CAP: usize = 20;

/// The storage map, or the finding that says why there is none. Shared by the images and
/// volumes checks.
pub(super) async fn storage_map<'c>(ctx: &'c Ctx<'_>) -> Result<&'c DfReport, Finding> {
    if !ctx.engine_answered().await {
        return Err(super::engine_silent());
    }
    ctx.storage_map().await.map_err(|e| {
        Finding::new(
            Status::Unknown,
            format!("the storage map could not be made: {e}"),
        )
    })
}

/// The first `EVIDENCE_CAP` items as JSON, and how many there were.
pub(super) fn capped<T: serde::Serialize>(items: &[T]) -> Value {
    json!({
        "count": items.len(),
        "items": items.iter().take(EVIDENCE_CAP).map(|i| json!(i)).collect::<Vec<_>>(),
        "truncated": items.len() > EVIDENCE_CAP,
    })
}

/// "1 thing" / "2 things".
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whether a reclaimable pile is worth a warning: something is there, and it reaches either
/// threshold. An empty pile is never a warning, whatever the thresholds (so `0` means "warn at
/// the first one").
pub fn pile_level(count: usize, bytes: u64, warn_count: f64, warn_bytes: f64) -> Status {
    if count > 0 && (count as f64 >= warn_count || bytes as f64 >= warn_bytes) {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// Why the leaked-layer scan did not run, and what that means for the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakScan {
    Done,
    /// The containerd image store: overlay2 is not used at all, there is nothing to leak there.
    ContainerdStore,
    /// A storage driver other than overlay2: its layout is not known to the scan.
    OtherDriver(String),
    /// The data root is not readable by this user (not root).
    NoAccess,
    /// Anything else the scan ran into (e.g. an unreadable overlay2 directory).
    Failed(String),
}

/// Classifies df's `leaked_scan` ("done" or "skipped: …") with the image store and driver.
pub fn leak_scan(leaked_scan: &str, image_store: &str, driver: &str) -> LeakScan {
    if leaked_scan == "done" {
        return LeakScan::Done;
    }
    if image_store == "containerd" {
        return LeakScan::ContainerdStore;
    }
    if driver != "overlay2" {
        return LeakScan::OtherDriver(driver.to_string());
    }
    let why = leaked_scan
        .strip_prefix("skipped: ")
        .unwrap_or(leaked_scan)
        .to_string();
    if why.contains("read access") || why.contains("Permission denied") {
        LeakScan::NoAccess
    } else {
        LeakScan::Failed(why)
    }
}

/// `storage.leaked-layers`: overlay2 directories no layer, container or build references.
pub async fn leaked_layers(ctx: &Ctx<'_>) -> Finding {
    let df = match storage_map(ctx).await {
        Ok(df) => df,
        Err(f) => return f,
    };
    let root = df.data_root.display().to_string();
    let base = json!({
        "data_root": root,
        "driver": df.driver,
        "image_store": df.image_store,
        "scan": df.leftovers.leaked_scan,
    });
    let with = |extra: Value| {
        let mut e = base.clone();
        if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        e
    };
    match leak_scan(&df.leftovers.leaked_scan, &df.image_store, &df.driver) {
        // Not a lack of visibility: there is no overlay2 directory of the engine's to leak.
        LeakScan::ContainerdStore => {
            return Finding::new(
                Status::Ok,
                "not applicable: the containerd image store keeps layers in containerd's snapshotter, overlay2 under the data root is not used",
            )
            .evidence(base);
        }
        // Permanent on such a host and nothing the operator can change: Ok, saying so, rather
        // than an unknown a monitor would page about forever.
        LeakScan::OtherDriver(d) => {
            return Finding::new(
                Status::Ok,
                format!(
                    "not checked: the scan knows overlay2's layout, and this daemon uses the {d} storage driver"
                ),
            )
            .evidence(base);
        }
        LeakScan::NoAccess => {
            return Finding::new(
                Status::Unknown,
                format!("cannot scan {root}/overlay2: the data root is not readable by this user"),
            )
            .remedy("Run dockhand as root to scan the data root.")
            .evidence(base);
        }
        LeakScan::Failed(why) => {
            return Finding::new(
                Status::Unknown,
                format!("the scan of {root}/overlay2 failed: {why}"),
            )
            .evidence(base);
        }
        LeakScan::Done => {}
    }
    let leaks = &df.leftovers.leaked_layers;
    if leaks.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "every directory under {root}/overlay2 is referenced by a layer, container or build"
            ),
        )
        .evidence(with(json!({ "leaked": capped::<Value>(&[]), "bytes": 0 })));
    }
    let bytes: u64 = leaks.iter().map(|l| l.bytes).sum();
    let removing = leaks.iter().filter(|l| l.dir.removing).count();
    let lower = leaks.iter().any(|l| !l.complete);
    let oldest = leaks.iter().map(|l| l.dir.age_s).max().unwrap_or(0);
    let mut summary = format!(
        "{} under {root}/overlay2 nothing references, holding {}{}, the oldest {} old",
        plural(leaks.len(), "directory", "directories"),
        if lower { "at least " } else { "" },
        human_bytes(bytes),
        human_age(oldest)
    );
    if removing > 0 {
        summary.push_str(&format!(
            " ({removing} of them *-removing: a removal that never finished)"
        ));
    }
    let names: Vec<String> = leaks
        .iter()
        .take(3)
        .map(|l| l.dir.path.display().to_string())
        .collect();
    let remedy = format!(
        "Do not delete under the running daemon. With the daemon stopped (without live-restore that stops every container), move them aside on the same filesystem — `mkdir -p {root}/overlay2-quarantine && mv {}{} {root}/overlay2-quarantine/` — start it, check that images and containers work, then delete the quarantine.",
        names.join(" "),
        if leaks.len() > names.len() {
            " …"
        } else {
            ""
        },
    );
    Finding::new(Status::Warning, summary)
        .remedy(remedy)
        .evidence(with(json!({
            "leaked": capped(leaks),
            "bytes": bytes,
            "lower_bound": lower,
        })))
}

/// The container a deleted-open file belonged to, when its path is a container's log or file
/// (`…/containers/<64 hex>/…`).
pub fn container_of(path: &str) -> Option<&str> {
    let mut parts = path.split('/');
    while let Some(p) = parts.next() {
        if p == "containers"
            && let Some(id) = parts.clone().next()
            && id.len() == 64
            && id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Some(id);
        }
    }
    None
}

/// `storage.tmp`: a lingering tmp-old, tmp entries nobody holds, deleted files still open.
pub async fn tmp(ctx: &Ctx<'_>) -> Finding {
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
        .filter(|t| !t.open && t.age_s >= grace_s)
        .collect();
    let held = l.tmp.iter().filter(|t| t.open).count();
    let young = l.tmp.len() - held - stale.len();
    let old = l.tmp_old.as_ref().filter(|t| t.age_s >= grace_s);
    // memfd "files" look like deleted paths; they are memory, not disk.
    let deleted: Vec<_> = l
        .deleted_open
        .iter()
        .filter(|d| !d.path.starts_with("/memfd:"))
        .collect();
    let deleted_bytes: u64 = deleted.iter().map(|d| d.bytes).sum();
    let deleted_counts = !deleted.is_empty() && deleted_bytes as f64 >= deleted_warn;
    let stale_bytes: u64 = stale.iter().map(|t| t.bytes).sum();

    let mut problems = Vec::new();
    let mut remedies = Vec::new();
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
        remedies.push(format!(
            "`dockhand reap` removes them (by hand, after `fuser` shows no holder: rm -rf {}{}).",
            paths.join(" "),
            if stale.len() > 5 { " …" } else { "" }
        ));
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
        let mut r = String::from("The space returns when the file is closed: ");
        if !containers.is_empty() {
            let mut ids: Vec<&str> = containers.iter().map(|c| &c[..12]).collect();
            ids.dedup();
            r.push_str(&format!(
                "restart the container{} whose log was deleted (docker restart {}), or ",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(" ")
            ));
        }
        r.push_str("restart the daemon (`dockhand recover` does it live-restore-aware).");
        remedies.push(r);
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
        .remedy(remedies.join(" "))
        .evidence(evidence)
}

/// Whether the build cache is worth a warning: not empty, and at or over the threshold.
pub fn cache_level(bytes: u64, warn_bytes: f64) -> Status {
    if bytes > 0 && bytes as f64 >= warn_bytes {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// `storage.build-cache`: the build cache's size against a threshold.
pub async fn build_cache(ctx: &Ctx<'_>) -> Finding {
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
    match cache_level(bc.total, warn) {
        Status::Ok => Finding::new(
            Status::Ok,
            format!("{summary}, under {}", human_bytes(warn as u64)),
        )
        .evidence(evidence),
        level => Finding::new(
            level,
            format!("{summary}: at or over {}", human_bytes(warn as u64)),
        )
        .remedy("`dockhand gc` trims it (a dry run; add --apply to act), or `docker builder prune --keep-storage 5GB`. To bound it for good, enable the builder's garbage collection in daemon.json: \"builder\": {\"gc\": {\"enabled\": true, \"defaultKeepStorage\": \"10GB\"}}.")
        .evidence(evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piles_warn_at_either_threshold_and_never_when_empty() {
        let gib = 1024.0 * 1024.0 * 1024.0;
        let cases = [
            (0, 0, 10.0, gib, Status::Ok),
            (0, 0, 0.0, 0.0, Status::Ok),
            (9, 100, 10.0, gib, Status::Ok),
            (10, 100, 10.0, gib, Status::Warning),
            (1, 2 * gib as u64, 10.0, gib, Status::Warning),
            (1, 0, 0.0, gib, Status::Warning),
            (1, 0, 1.0, gib, Status::Warning),
        ];
        for (n, b, wc, wb, want) in cases {
            assert_eq!(pile_level(n, b, wc, wb), want, "{n} {b} {wc} {wb}");
        }
    }

    #[test]
    fn build_cache_warns_at_threshold_but_never_when_empty() {
        assert_eq!(cache_level(0, 0.0), Status::Ok);
        assert_eq!(cache_level(1, 0.0), Status::Warning);
        assert_eq!(cache_level(9, 10.0), Status::Ok);
        assert_eq!(cache_level(10, 10.0), Status::Warning);
    }

    #[test]
    fn leak_scan_reasons() {
        use LeakScan::*;
        let cases = [
            ("done", "graphdriver", "overlay2", Done),
            (
                "skipped: needs read access to the data root",
                "containerd",
                "overlayfs",
                ContainerdStore,
            ),
            (
                "skipped: the scan knows overlay2's layout only, not btrfs's",
                "graphdriver",
                "btrfs",
                OtherDriver("btrfs".into()),
            ),
            (
                "skipped: needs read access to the data root",
                "graphdriver",
                "overlay2",
                NoAccess,
            ),
            (
                "skipped: Permission denied (os error 13)",
                "graphdriver",
                "overlay2",
                NoAccess,
            ),
            (
                "skipped: No such file or directory (os error 2)",
                "graphdriver",
                "overlay2",
                Failed("No such file or directory (os error 2)".into()),
            ),
        ];
        for (scan, store, driver, want) in cases {
            assert_eq!(leak_scan(scan, store, driver), want, "{scan}");
        }
    }

    #[test]
    fn container_ids_from_deleted_paths() {
        let id = "a".repeat(64);
        let p = format!("/var/lib/docker/containers/{id}/{id}-json.log");
        assert_eq!(container_of(&p), Some(id.as_str()));
        assert_eq!(container_of("/var/lib/docker/containers/abc/x.log"), None);
        assert_eq!(container_of("/tmp/x"), None);
    }
}
