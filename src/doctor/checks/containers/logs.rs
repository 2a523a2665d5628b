//! `containers.logs`: each container's log as it lies on disk (json-file with its rotated files,
//! local), over a size threshold, and the logs nothing bounds (json-file without max-size). The
//! sizes come from the storage map (`dockhand df`); the verdict: [`policy::log_size`].
//!
//! Never flags: an unbounded log that is still small (Docker's default; listed, counted, not a
//! warning); logs of drivers that keep nothing on this disk (syslog, journald, …).

use serde_json::json;

use super::{Ctx, capped, plural};
use crate::doctor::checks::engine_silent;
use crate::doctor::{Finding, Fix, Status};
use crate::facts::storage_map::{ContainerRow, DfReport};
use crate::policy::containers::{self as policy, LogSize};
use crate::runtime::storage::LogInfo;
use crate::util::human_bytes;

const ID: &str = "containers.logs";
const MIB: f64 = 1024.0 * 1024.0;

fn row(r: &ContainerRow, l: &LogInfo) -> serde_json::Value {
    json!({
        "id": r.id,
        "name": r.name,
        "image": r.image,
        "state": r.state,
        "driver": l.driver,
        "bytes": l.bytes,
        "max_size": l.max_size,
        "max_file": l.max_file,
        "unbounded": l.unbounded(),
        "path": l.files.first(),
    })
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    if !ctx.engine_answered().await {
        return engine_silent();
    }
    let warn = ctx.th(ID, "size_warn_mib") * MIB;
    let critical = ctx.th(ID, "size_critical_mib") * MIB;
    let df = match ctx.storage_map().await {
        Ok(df) => df,
        Err(e) => {
            return Finding::new(
                Status::Unknown,
                format!("the storage map (logs' sizes) could not be taken: {e}"),
            );
        }
    };
    let rows = &df.containers.items;
    let with_log: Vec<(&ContainerRow, &LogInfo)> = rows
        .iter()
        .filter_map(|r| Some((r, r.log.as_ref()?)))
        .collect();
    if with_log.is_empty() && !rows.is_empty() {
        return no_log_files(df);
    }
    let total: u64 = with_log.iter().map(|(_, l)| l.bytes).sum();
    let (big, status) = judge_sizes(&with_log, warn, critical);
    let unbounded: Vec<&(&ContainerRow, &LogInfo)> =
        with_log.iter().filter(|(_, l)| l.unbounded()).collect();
    let unbounded_note = if unbounded.is_empty() {
        String::new()
    } else {
        format!(
            "; {} grow without bound (json-file, no max-size)",
            plural(unbounded.len(), "log", "logs")
        )
    };
    let evidence = json!({
        "count": with_log.len(),
        "total_bytes": total,
        "big": capped(&big, |(r, l, _)| row(r, l)),
        "big_count": big.len(),
        "unbounded": capped(&unbounded, |(r, l)| row(r, l)),
        "unbounded_count": unbounded.len(),
        "thresholds": { "size_warn_mib": warn / MIB, "size_critical_mib": critical / MIB },
    });
    let Some(&(r, l, _)) = big.first() else {
        return Finding::new(
            Status::Ok,
            format!(
                "{} take {} in all, none {} or more{unbounded_note}",
                plural(with_log.len(), "container log", "container logs"),
                human_bytes(total),
                human_bytes(warn.max(0.0) as u64),
            ),
        )
        .evidence(evidence);
    };
    let name = if r.name.is_empty() {
        r.id.get(..12).unwrap_or(&r.id)
    } else {
        r.name.as_str()
    };
    let summary = format!(
        "{} {} or more: the biggest is {name}'s at {} ({}{}){unbounded_note}",
        plural(big.len(), "container log is", "container logs are"),
        human_bytes(warn.max(0.0) as u64),
        human_bytes(l.bytes),
        l.driver,
        match &l.max_size {
            Some(m) => format!(", max-size {m}"),
            None if l.driver == "json-file" => ", no max-size".to_string(),
            None => String::new(),
        }
    );
    Finding::new(status, summary)
        .evidence(evidence)
        .fix(log_fix(name, l))
}

/// Containers, but no log file among them: on Podman the logs go elsewhere (journald, none),
/// else this user cannot read them.
fn no_log_files(df: &DfReport) -> Finding {
    if df.image_store == "containers-storage" {
        // Podman: no ctr.log means the log goes elsewhere (journald, none), not a permission.
        return Finding::new(
            Status::Ok,
            format!(
                "none of {} keeps a k8s-file log under {} (journald or none: nothing on this disk to measure)",
                plural(df.containers.items.len(), "container", "containers"),
                df.data_root.display()
            ),
        )
        .evidence(json!({ "count": 0, "notes": df.notes }));
    }
    if df.daemon_files {
        // The containers' directories were read: none keeps a log file on this disk.
        return Finding::new(
            Status::Ok,
            format!(
                "none of {} keeps a log file under {} (their logging drivers keep nothing on this disk)",
                plural(df.containers.items.len(), "container", "containers"),
                df.data_root.join("containers").display()
            ),
        )
        .evidence(json!({ "count": 0, "notes": df.notes }));
    }
    Finding::new(
        Status::Unknown,
        format!(
            "containers' log files under {} are not readable by this user (run as root)",
            df.data_root.display()
        ),
    )
    .evidence(json!({ "notes": df.notes }))
}

/// A log at or over the warning size, with the policy's size class.
type Big<'a> = (&'a ContainerRow, &'a LogInfo, LogSize);

/// The logs at or over the warning size, biggest first, and the status the biggest class
/// gives.
fn judge_sizes<'a>(
    with_log: &[(&'a ContainerRow, &'a LogInfo)],
    warn: f64,
    critical: f64,
) -> (Vec<Big<'a>>, Status) {
    let mut big: Vec<Big<'a>> = with_log
        .iter()
        .map(|(r, l)| (*r, *l, policy::log_size(l.bytes, warn, critical)))
        .filter(|(_, _, s)| *s != LogSize::Small)
        .collect();
    big.sort_by_key(|b| std::cmp::Reverse(b.1.bytes));
    let status = match big.iter().map(|b| b.2).max() {
        Some(LogSize::Huge) => Status::Critical,
        Some(LogSize::Big) => Status::Warning,
        _ => Status::Ok,
    };
    (big, status)
}

/// Bound the logs where the engine takes its log options, then reclaim the biggest one's
/// space by truncating it in place.
fn log_fix(name: &str, l: &LogInfo) -> Fix {
    let bound = if l.driver == "k8s-file" {
        // Podman's conmon writes the log; containers.conf bounds it, not daemon.json.
        Fix::advice(format!(
            "Bound the logs: in containers.conf set log_size_max = 10485760 under [containers] (it applies to containers created afterwards), and recreate {name} with `--log-opt max-size=10m`."
        ))
    } else {
        Fix::advice(format!(
            "Bound the logs: in daemon.json set \"log-opts\": {{\"max-size\": \"10m\", \"max-file\": \"3\"}} (restart the daemon; it applies to containers created afterwards), and recreate {name} with `--log-opt max-size=10m --log-opt max-file=3`."
        ))
    };
    let reclaim = match l.files.first() {
        Some(p) => {
            let path = p.display().to_string();
            Fix::run(
                &["truncate", "-s", "0", &path],
                format!(
                    "To reclaim the space now, truncate the file in place: `truncate -s 0 {path}` (deleting it frees nothing while the daemon holds it open)."
                ),
            )
        }
        None => Fix::advice(
            "To reclaim the space now, truncate its log file in place with `truncate -s 0` (deleting it frees nothing while the daemon holds it open).",
        ),
    };
    bound.and(reclaim)
}
