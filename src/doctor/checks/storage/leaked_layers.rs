//! `storage.leaked-layers`: directories under `<data-root>/overlay2` that no layer, container
//! mount, init layer, layer registration in flight or BuildKit snapshot references. Never
//! flags a directory younger than an hour (a pull registers its directory a moment before its
//! layer record), BuildKit's own snapshots, or anything under the containerd image store.

use serde_json::{Value, json};

use super::{capped, plural, storage_map};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Status};
use crate::policy::storage::{LeakScan, leak_scan};
use crate::runtime::storage::scan::LeakedRow;
use crate::util::{human_age, human_bytes};

/// `storage.leaked-layers`: overlay2 directories no layer, container or build references.
pub async fn check(ctx: &Ctx<'_>) -> Finding {
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
    let scan = leak_scan(&df.leftovers.leaked_scan, &df.image_store, &df.driver);
    if let Some(f) = not_scanned(scan, &root) {
        return f.evidence(base);
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
    let lower = leaks.iter().any(|l| !l.complete);
    Finding::new(Status::Warning, leaked_summary(&root, leaks, bytes, lower))
        .remedy(quarantine(&root, leaks))
        .evidence(with(json!({
            "leaked": capped(leaks),
            "bytes": bytes,
            "lower_bound": lower,
        })))
}

/// Why the scan did not run, as the finding (the caller adds the evidence); `None` when it
/// ran.
fn not_scanned(scan: LeakScan, root: &str) -> Option<Finding> {
    match scan {
        // Not a lack of visibility: there is no overlay2 directory of the engine's to leak.
        LeakScan::ContainerdStore => Some(Finding::new(
            Status::Ok,
            "not applicable: the containerd image store keeps layers in containerd's snapshotter, overlay2 under the data root is not used",
        )),
        // Permanent on such a host and nothing the operator can change: Ok, saying so, rather
        // than an unknown a monitor would page about forever.
        LeakScan::OtherDriver(d) => Some(Finding::new(
            Status::Ok,
            format!(
                "not checked: the scan knows overlay2's layout, and this daemon uses the {d} storage driver"
            ),
        )),
        LeakScan::NoAccess => Some(
            Finding::new(
                Status::Unknown,
                format!("cannot scan {root}/overlay2: the data root is not readable by this user"),
            )
            .remedy("Run dockhand as root to scan the data root."),
        ),
        LeakScan::Failed(why) => Some(Finding::new(
            Status::Unknown,
            format!("the scan of {root}/overlay2 failed: {why}"),
        )),
        LeakScan::Done => None,
    }
}

/// How many directories nothing references, what they hold, how old the oldest is, and how
/// many are removals that never finished.
fn leaked_summary(root: &str, leaks: &[LeakedRow], bytes: u64, lower: bool) -> String {
    let removing = leaks.iter().filter(|l| l.dir.removing).count();
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
    summary
}

/// Never delete under the running daemon: move aside with it stopped, check, then delete.
fn quarantine(root: &str, leaks: &[LeakedRow]) -> String {
    let names: Vec<String> = leaks
        .iter()
        .take(3)
        .map(|l| l.dir.path.display().to_string())
        .collect();
    format!(
        "Do not delete under the running daemon. With the daemon stopped (without live-restore that stops every container), move them aside on the same filesystem — `mkdir -p {root}/overlay2-quarantine && mv {}{} {root}/overlay2-quarantine/` — start it, check that images and containers work, then delete the quarantine.",
        names.join(" "),
        if leaks.len() > names.len() {
            " …"
        } else {
            ""
        },
    )
}
