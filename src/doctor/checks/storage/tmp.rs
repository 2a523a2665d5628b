//! `storage.tmp`: a lingering `tmp-old` (the clean-up at the daemon's start failed), entries of
//! `<data-root>/tmp` no process holds open past the grace period, and files the daemon holds
//! open that were deleted (their space is not free). Never flags a download in progress (the
//! daemon holds it open) or a fresh entry still being written.

use serde_json::json;

use super::{capped, plural, storage_map};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::storage::{container_of, deleted_file_counts, tmp_stale};
use crate::runtime::storage::scan::LeftoversPart;
use crate::runtime::storage::{DeletedOpen, TmpEntry};
use crate::util::{human_age, human_bytes};

/// `<data-root>/tmp` sorted against the grace period: what no process holds, what is held,
/// what is young, a lingering tmp-old, and the deleted files the daemon still holds open.
struct Sorted<'a> {
    stale: Vec<&'a TmpEntry>,
    stale_bytes: u64,
    held: usize,
    young: usize,
    old: Option<&'a TmpEntry>,
    deleted: Vec<&'a DeletedOpen>,
    deleted_bytes: u64,
    /// Enough deleted-but-open bytes to be worth a warning.
    deleted_counts: bool,
}

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
    if !df.daemon_files {
        // The engine's figures (not root) do not include tmp.
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
    let s = sort(l, grace_s, deleted_warn);
    let mut problems = Vec::new();
    let mut fix = Fix::default();
    leftover_problems(&root, &s, &mut problems, &mut fix);
    let containers: Vec<&str> = s
        .deleted
        .iter()
        .filter_map(|d| container_of(&d.path))
        .collect();
    if s.deleted_counts {
        deleted_problem(&s, &containers, &mut problems, &mut fix);
    }
    let evidence = json!({
        "data_root": root,
        "grace_hours": grace_s as f64 / 3600.0,
        "tmp_old": l.tmp_old,
        "tmp_unheld": capped(&s.stale),
        "tmp_unheld_bytes": s.stale_bytes,
        "tmp_held": s.held,
        "tmp_young": s.young,
        "deleted_open": capped(&s.deleted),
        "deleted_open_bytes": s.deleted_bytes,
        "deleted_open_containers": containers,
    });
    if problems.is_empty() {
        return Finding::new(Status::Ok, all_clear(&root, l, &s)).evidence(evidence);
    }
    Finding::new(Status::Warning, problems.join("; "))
        .fix(fix)
        .evidence(evidence)
}

/// Sorts the leftovers by the policy's calls: stale past the grace period, deleted files that
/// count.
fn sort(l: &LeftoversPart, grace_s: u64, deleted_warn: f64) -> Sorted<'_> {
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
    Sorted {
        stale,
        stale_bytes,
        held,
        young,
        old,
        deleted,
        deleted_bytes,
        deleted_counts,
    }
}

/// A lingering tmp-old and unheld entries in tmp: both removable by `dockhand reap`.
fn leftover_problems(root: &str, s: &Sorted<'_>, problems: &mut Vec<String>, fix: &mut Fix) {
    if let Some(o) = s.old {
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
    if !s.stale.is_empty() {
        problems.push(format!(
            "{} in {root}/tmp no process holds open ({})",
            plural(s.stale.len(), "entry", "entries"),
            human_bytes(s.stale_bytes)
        ));
    }
    if s.old.is_some() || !s.stale.is_empty() {
        let mut paths: Vec<String> = s.old.iter().map(|o| o.path.display().to_string()).collect();
        paths.extend(s.stale.iter().take(5).map(|t| t.path.display().to_string()));
        *fix = std::mem::take(fix).then_run(
            &["dockhand", "reap"],
            format!(
                "`dockhand reap` removes them (by hand, after `fuser` shows no holder: rm -rf {}{}).",
                paths.join(" "),
                if s.stale.len() > 5 { " …" } else { "" }
            ),
        );
    }
}

/// Deleted files the daemon still holds: the space returns when their holder (a container's
/// log, else the daemon) is restarted.
fn deleted_problem(s: &Sorted<'_>, containers: &[&str], problems: &mut Vec<String>, fix: &mut Fix) {
    let deleted = &s.deleted;
    problems.push(format!(
        "the daemon holds {} open that {} deleted ({} not freed)",
        plural(deleted.len(), "file", "files"),
        if deleted.len() == 1 { "was" } else { "were" },
        human_bytes(s.deleted_bytes)
    ));
    let mut f = std::mem::take(fix);
    if !containers.is_empty() {
        let mut ids: Vec<&str> = containers.iter().map(|c| &c[..12]).collect();
        ids.dedup();
        let mut argv = vec!["docker", "restart"];
        argv.extend(ids.iter().copied());
        f = f.then_run(
            &argv,
            format!(
                "The space returns when the file is closed: restart the container{} whose log was deleted (docker restart {}), or",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(" ")
            ),
        );
        f = f.then_run(
            &["dockhand", "recover"],
            "restart the daemon (`dockhand recover` does it live-restore-aware).",
        );
    } else {
        f = f.then_run(
            &["dockhand", "recover"],
            "The space returns when the file is closed: restart the daemon (`dockhand recover` does it live-restore-aware).",
        );
    }
    *fix = f;
}

/// The all-clear, with what was seen and is fine: held, young, deleted-but-open below the bar.
fn all_clear(root: &str, l: &LeftoversPart, s: &Sorted<'_>) -> String {
    let mut out = format!("no leftovers in {root}/tmp");
    let mut also = Vec::new();
    if s.held > 0 {
        also.push(format!("{} in use", s.held));
    }
    if s.young > 0 || l.tmp_old.is_some() {
        also.push(format!(
            "{} younger than the grace period",
            s.young + usize::from(l.tmp_old.is_some() && s.old.is_none())
        ));
    }
    if !s.deleted.is_empty() {
        also.push(format!(
            "{} deleted-but-open ({})",
            plural(s.deleted.len(), "file", "files"),
            human_bytes(s.deleted_bytes)
        ));
    }
    if !also.is_empty() {
        out.push_str(&format!(" ({})", also.join(", ")));
    }
    out
}
