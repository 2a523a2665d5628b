//! `host.hung-tasks`: the kernel's hung-task detector's `INFO: task NAME:PID blocked for more
//! than N seconds` within the window, read from the kernel log (`/dev/kmsg`) from its first
//! record, without waiting for new ones, within a bound of time and bytes.
//!
//! Never says ok without having looked: a kernel log that is not readable (not permitted, not
//! there) is unknown with its reason, and one read only in part says so in the summary.

use std::time::Duration;

use serde_json::{Value, json};

use super::{CAP, plural, window_words};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::host::{HungTask, hung_task, within_window};
use crate::runtime::blocking;
use crate::runtime::kernel::{self, KmsgError, KmsgScan};
use crate::util::human_age;

const ID: &str = "host.hung-tasks";

/// At most this much of the kernel log is read: its ring is 128 KiB to a few MiB on common
/// kernels (`log_buf_len`); a bigger one is read in part, and the summary says so.
const MAX_BYTES: u64 = 16 << 20;

/// A hung task found in the log: the kernel's words, parsed, and when.
struct Found {
    task: HungTask,
    secs_ago: f64,
    message: String,
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let hours = ctx.th(ID, "window_hours").max(0.0);
    let window_s = hours * 3600.0;
    // The reader stops itself at its budget; the deadline around it is the backstop.
    let budget = (ctx.timeout() / 2).max(Duration::from_millis(200));
    let read = blocking(ctx.timeout(), move || {
        let scan = kernel::read_kmsg(
            |r| r.message.contains(" blocked for more than "),
            MAX_BYTES,
            budget,
        );
        (scan, kernel::boottime_s())
    })
    .await;
    let Some((scan, boot_s)) = read else {
        return Finding::new(
            Status::Unknown,
            format!(
                "the kernel log ({}) was not read within {}",
                kernel::KMSG,
                crate::doctor::checks::ms(ctx.timeout())
            ),
        );
    };
    let scan = match scan {
        Ok(s) => s,
        Err(e) => return unreadable(&e),
    };
    let Some(boot_s) = boot_s else {
        return Finding::new(
            Status::Unknown,
            "the time since boot could not be read, so the kernel log's times cannot be placed",
        );
    };
    let found = recent(&scan, boot_s, window_s);
    let evidence = json!({
        "window_hours": hours,
        "count": found.len(),
        "tasks": found.iter().take(CAP).map(|f| json!({
            "task": f.task.task,
            "pid": f.task.pid,
            "blocked_secs": f.task.blocked_s,
            "secs_ago": f.secs_ago as u64,
            "message": f.message,
        })).collect::<Vec<_>>(),
        "kmsg": scan_json(&scan),
    });
    let partly = if scan.complete {
        String::new()
    } else {
        format!(
            " (read the first {} of the kernel log only, within its bounds)",
            crate::util::human_bytes(scan.bytes)
        )
    };
    let Some(last) = found.last() else {
        return Finding::new(
            Status::Ok,
            format!(
                "no task hung in the kernel in the last {} ({} read){partly}",
                window_words(hours),
                plural(
                    scan.records as usize,
                    "kernel log record",
                    "kernel log records"
                ),
            ),
        )
        .evidence(evidence);
    };
    Finding::new(
        Status::Warning,
        format!(
            "{} hung in the kernel in the last {}: {} (pid {}) blocked for more than {} s, {} ago{partly}",
            plural(found.len(), "task", "tasks"),
            window_words(hours),
            crate::util::sanitize(&last.task.task),
            last.task.pid,
            last.task.blocked_s,
            human_age(last.secs_ago as u64),
        ),
    )
    .fix(fix(&last.task))
    .evidence(evidence)
}

/// The hung tasks logged within the window, oldest first. The log's times are microseconds
/// since boot by the kernel's clock (which stops during suspend, so after a suspend a message
/// may look older than it is: the window is generous for that reason).
fn recent(scan: &KmsgScan, boot_s: f64, window_s: f64) -> Vec<Found> {
    scan.kept
        .iter()
        .filter(|r| within_window(r.usec, boot_s, window_s))
        .filter_map(|r| {
            Some(Found {
                task: hung_task(&r.message)?,
                secs_ago: (boot_s - r.usec as f64 / 1e6).max(0.0),
                message: crate::util::sanitize(&r.message),
            })
        })
        .collect()
}

fn scan_json(s: &KmsgScan) -> Value {
    json!({
        "path": kernel::KMSG,
        "records": s.records,
        "bytes": s.bytes,
        "lost": s.lost,
        "complete": s.complete,
    })
}

/// Unknown, with the reason and what would let dockhand read it.
fn unreadable(e: &KmsgError) -> Finding {
    let (why, evidence) = match e {
        KmsgError::NotPermitted(m) => (
            format!(
                "the kernel log ({}) is not readable by this user ({m}): run as root, or with CAP_SYSLOG where kernel.dmesg_restrict is 1",
                kernel::KMSG
            ),
            json!({ "kmsg": { "path": kernel::KMSG, "error": "not-permitted", "message": m } }),
        ),
        KmsgError::Absent => (
            format!(
                "this host has no kernel log device ({}): in a container, mount it (`--device /dev/kmsg`)",
                kernel::KMSG
            ),
            json!({ "kmsg": { "path": kernel::KMSG, "error": "absent" } }),
        ),
        KmsgError::Failed(m) => (
            format!("the kernel log ({}) could not be read: {m}", kernel::KMSG),
            json!({ "kmsg": { "path": kernel::KMSG, "error": "failed", "message": m } }),
        ),
    };
    Finding::new(Status::Unknown, why).evidence(evidence)
}

/// Find what it waits on; the storage behind it is what to fix.
fn fix(t: &HungTask) -> Fix {
    let pid = t.pid.to_string();
    let stack = format!("{}/{pid}/stack", crate::runtime::proc::ROOT);
    Fix::run(
        &["cat", &stack],
        format!(
            "See what the task waits on (`cat {stack}`, as root, while it still hangs) and read the kernel log around the message (`dmesg -T`)."
        ),
    )
    .then_advice(
        "It is almost always storage: a dead NFS or FUSE mount (see storage.mounts), a stalled disk or filesystem journal. Fix or unmount it.",
    )
    .then_run(
        &["dockhand", "recover"],
        "A daemon stuck behind it answers again only once the storage does; `dockhand recover` then restarts it, live-restore aware.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernel::KmsgRecord;

    #[test]
    fn only_hung_tasks_within_the_window() {
        let rec = |usec: u64, m: &str| KmsgRecord {
            seq: 0,
            usec,
            message: m.into(),
        };
        let scan = KmsgScan {
            kept: vec![
                rec(
                    10_000_000,
                    "INFO: task old:1 blocked for more than 120 seconds.",
                ),
                rec(
                    99_000_000_000,
                    "INFO: task dockerd:812 blocked for more than 120 seconds.",
                ),
                rec(
                    99_500_000_000,
                    "a line that merely says blocked for more than 5 s",
                ),
            ],
            complete: true,
            ..KmsgScan::default()
        };
        let found = recent(&scan, 100_000.0, 3600.0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].task.task, "dockerd");
        assert_eq!(found[0].secs_ago as u64, 1000);
        assert!(recent(&scan, 100_000.0, 0.0).is_empty());
    }

    #[test]
    fn an_unreadable_log_is_unknown_with_its_reason() {
        let f = unreadable(&KmsgError::NotPermitted("Operation not permitted".into()));
        assert_eq!(f.status, Status::Unknown);
        assert!(f.summary.contains("not readable"), "{}", f.summary);
        assert_eq!(unreadable(&KmsgError::Absent).status, Status::Unknown);
    }
}
