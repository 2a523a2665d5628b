//! `host.swap`: swap that matters — most of it used, or pages swapped back in fast
//! ([`policy::swap_level`]). Memory and swap from sysinfo, the swap-in count from
//! `/proc/vmstat`, sampled over a second only when swap is in use.
//!
//! Never flags: a host with a little swap used and nothing coming back in, a host without swap.

use std::time::Duration;

use serde_json::json;

use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::host::{self as policy, Level, SwapLimits, SwapReason};
use crate::runtime::blocking;
use crate::runtime::kernel::{self, Memory};
use crate::util::human_bytes;

const ID: &str = "host.swap";

/// How long the swap-in count is sampled, at most (less under a short `--timeout`).
const SAMPLE: Duration = Duration::from_secs(1);

/// What was read: memory and swap, and the swap-in rate when it was sampled.
struct Read {
    mem: Option<Memory>,
    swapin_per_s: Option<f64>,
    sampled_ms: u64,
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let lim = SwapLimits {
        used_warn_pct: ctx.th(ID, "used_warn_pct"),
        used_critical_pct: ctx.th(ID, "used_critical_pct"),
        available_critical_pct: ctx.th(ID, "available_critical_pct"),
        swapin_warn_per_s: ctx.th(ID, "swapin_warn_pages"),
    };
    let sample = SAMPLE.min(ctx.timeout() / 3);
    let Some(r) = blocking(ctx.timeout(), move || read(sample)).await else {
        return Finding::new(
            Status::Unknown,
            format!(
                "the host's memory figures were not read within {}",
                crate::doctor::checks::ms(ctx.timeout())
            ),
        );
    };
    let Some(m) = r.mem.filter(|m| m.total > 0) else {
        return Finding::new(
            Status::Unknown,
            "the host's memory figures could not be read (/proc/meminfo)",
        );
    };
    let available_pct = m.available as f64 * 100.0 / m.total as f64;
    let (level, reasons) = policy::swap_level(
        m.swap_used,
        m.swap_total,
        available_pct,
        r.swapin_per_s,
        &lim,
    );
    let used_pct = if m.swap_total > 0 {
        m.swap_used as f64 * 100.0 / m.swap_total as f64
    } else {
        0.0
    };
    let evidence = json!({
        "memory": m,
        "available_pct": available_pct,
        "swap_used_pct": used_pct,
        "swapin_pages_per_s": r.swapin_per_s,
        "sampled_ms": r.sampled_ms,
        "reasons": reasons,
        "thresholds": {
            "used_warn_pct": lim.used_warn_pct,
            "used_critical_pct": lim.used_critical_pct,
            "available_critical_pct": lim.available_critical_pct,
            "swapin_warn_pages": lim.swapin_warn_per_s,
        },
    });
    let rate = r
        .swapin_per_s
        .map_or_else(String::new, |x| format!(", {x:.0} pages/s swapped in"));
    let figures = format!(
        "{} of {} swap used ({used_pct:.0} %){rate}; {} of {} memory available",
        human_bytes(m.swap_used),
        human_bytes(m.swap_total),
        human_bytes(m.available),
        human_bytes(m.total),
    );
    if level == Level::Ok {
        let summary = if m.swap_total == 0 {
            format!(
                "no swap on this host; {} of {} memory available",
                human_bytes(m.available),
                human_bytes(m.total)
            )
        } else {
            format!("swap is not under strain: {figures}")
        };
        return Finding::new(Status::Ok, summary).evidence(evidence);
    }
    let why: Vec<&str> = reasons
        .iter()
        .map(|r| match r {
            SwapReason::Full => "most of the swap is used",
            SwapReason::Thrashing => "pages are swapped back in fast (thrashing)",
        })
        .collect();
    let status = if level == Level::Critical {
        Status::Critical
    } else {
        Status::Warning
    };
    Finding::new(status, format!("{}: {figures}", why.join(" and ")))
        .fix(
            Fix::run(
                &["docker", "stats", "--no-stream"],
                "Find what uses the memory (`docker stats --no-stream`)",
            )
            .then_advice(
                "and set memory limits (`docker update --memory`) so one container cannot push the rest into swap; add memory or stop what is not needed. More swap only postpones the OOM killer.",
            ),
        )
        .evidence(evidence)
}

/// Memory and swap; with swap in use, the swap-in count twice, `sample` apart.
fn read(sample: Duration) -> Read {
    let mem = kernel::memory();
    if mem.is_none_or(|m| m.swap_used == 0) || sample.is_zero() {
        return Read {
            mem,
            swapin_per_s: None,
            sampled_ms: 0,
        };
    }
    let t0 = std::time::Instant::now();
    let a = kernel::vmstat().ok().and_then(|v| v.pswpin);
    std::thread::sleep(sample);
    let b = kernel::vmstat().ok().and_then(|v| v.pswpin);
    let secs = t0.elapsed().as_secs_f64();
    let swapin_per_s = match (a, b) {
        (Some(a), Some(b)) if secs > 0.0 => Some(b.saturating_sub(a) as f64 / secs),
        _ => None,
    };
    Read {
        mem,
        swapin_per_s,
        sampled_ms: (secs * 1000.0) as u64,
    }
}
