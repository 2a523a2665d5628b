//! `daemon.responsive`: the ping, then the container list and `/info` at once — each timed,
//! each under the deadline — classified by [`crate::policy::daemon::classify`]: healthy, slow,
//! down, frozen, wedged, permission, error.
//!
//! Never flags a big host for being big: the list's limit grows with the number of containers
//! it returns (`list_ms_per_container`), while the ping (which takes no locks) and `/info` are
//! held to `slow_ms` alone. A daemon that is not there at all is `down` here and critical in
//! `daemon.reachable` too; why its process does not answer is `daemon.process`'s question.

use std::time::Duration;

use serde_json::json;

use super::{down_fix, stuck_fix};
use crate::doctor::checks::{Ctx, ms};
use crate::doctor::{Finding, Fix, Status};
use crate::facts::Attempt;
use crate::policy::daemon::{Health, Outcome, ResponsiveLimits, TierName, Tiers, classify};
use crate::runtime::daemon::Located;
use crate::runtime::engine::EngineError;

const ID: &str = "daemon.responsive";

/// A tier's latency (or error), and how long it waited either way.
type Tried<'a> = (Result<Duration, &'a EngineError>, Duration);

/// What each tier answered: the ping, the list and /info when they ran, and how many
/// containers the list had.
struct Answers<'a> {
    ping: Result<Duration, &'a EngineError>,
    ping_took: Duration,
    list: Option<Tried<'a>>,
    info: Option<Tried<'a>>,
    containers: usize,
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let limits = ResponsiveLimits {
        slow_ms: ctx.th(ID, "slow_ms"),
        list_ms_per_container: ctx.th(ID, "list_ms_per_container"),
    };
    let (ping_r, ping_took) = ctx.ping().await;
    let asked = ctx.tiers().await;
    let containers = match asked.containers {
        Some((Ok(t), _)) => t.value.len(),
        _ => 0,
    };
    let a = Answers {
        ping: ping_r.as_ref().map(|t| t.elapsed),
        ping_took: *ping_took,
        list: asked.containers.map(attempt),
        info: asked.info.map(attempt),
        containers,
    };
    let tiers = Tiers {
        ping: Outcome::of(a.ping),
        list: a.list.map(|(r, _)| Outcome::of(r)),
        info: a.info.map(|(r, _)| Outcome::of(r)),
        containers,
    };
    let health = classify(&tiers, &limits);
    let evidence = evidence(&a, &health, &limits);
    let finding =
        |status, summary: String| Finding::new(status, summary).evidence(evidence.clone());
    let ping_error = || a.ping.err().map(ToString::to_string).unwrap_or_default();
    match &health {
        Health::Healthy => finding(Status::Ok, format!("healthy: {}", detail(&a))),
        Health::Slow { tiers } => finding(
            Status::Warning,
            format!(
                "slow: {} ({})",
                detail(&a),
                over_limits(tiers, &limits, containers)
            ),
        )
        .fix(slow_fix(ctx).await),
        Health::Down => {
            finding(Status::Critical, format!("down: {}", ping_error())).fix(down_fix(ctx).await)
        }
        Health::Permission => finding(Status::Unknown, ping_error()).remedy(
            "Run dockhand as root, or join the docker group (membership is root-equivalent).",
        ),
        Health::Frozen { .. } => finding(Status::Critical, ping_error()).fix(stuck_fix(ctx).await),
        Health::Wedged {
            list: list_silent,
            info: info_silent,
            waited,
        } => finding(
            Status::Critical,
            wedged_summary(&a, *list_silent, *info_silent, *waited),
        )
        .fix(stuck_fix(ctx).await),
        Health::Error { tier } => {
            let err = |r: Option<Tried<'_>>| {
                r.and_then(|(r, _)| r.err().map(ToString::to_string))
                    .unwrap_or_default()
            };
            match tier {
                TierName::Ping => finding(
                    Status::Critical,
                    format!("the ping failed: {}", ping_error()),
                )
                .fix(stuck_fix(ctx).await),
                TierName::List => finding(
                    Status::Critical,
                    format!("listing containers failed: {}", err(a.list)),
                )
                .fix(stuck_fix(ctx).await),
                // The daemon lists and answers; only its description is broken.
                TierName::Info => {
                    finding(Status::Warning, format!("/info failed: {}", err(a.info)))
                }
            }
        }
    }
}

/// Evidence: each tier that ran, its latency (how long it waited, when it did not answer)
/// and the limit it was judged against.
fn evidence(a: &Answers<'_>, health: &Health, limits: &ResponsiveLimits) -> serde_json::Value {
    let probe = |tier: TierName, r: Result<Duration, &EngineError>, took: Duration, limit: f64| {
        json!({
            "name": tier.as_str(),
            "ok": r.is_ok(),
            "latency_ms": crate::util::millis(r.unwrap_or(took)),
            "error": r.err().map(ToString::to_string),
            "limit_ms": limit,
        })
    };
    let mut probes = vec![probe(TierName::Ping, a.ping, a.ping_took, limits.ping_ms())];
    if let Some((r, t)) = a.list {
        probes.push(probe(TierName::List, r, t, limits.list_ms(a.containers)));
    }
    if let Some((r, t)) = a.info {
        probes.push(probe(TierName::Info, r, t, limits.info_ms()));
    }
    json!({
        "classification": health.name(),
        "probes": probes,
        "containers": a.list.and_then(|(r, _)| r.ok()).map(|_| a.containers),
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The latencies of the tiers that answered: "ping 3 ms, 4 containers listed in 9 ms, info …".
fn detail(a: &Answers<'_>) -> String {
    let containers = a.containers;
    let p = a.ping.ok().unwrap_or_default();
    let mut parts = vec![format!("ping {}", ms(p))];
    if let Some(l) = a.list.and_then(|(r, _)| r.ok()) {
        parts.push(format!(
            "{containers} container{} listed in {}",
            plural(containers),
            ms(l)
        ));
    }
    if let Some(i) = a.info.and_then(|(r, _)| r.ok()) {
        parts.push(format!("info {}", ms(i)));
    }
    parts.join(", ")
}

/// The limits the slow tiers went over, one clause each.
fn over_limits(tiers: &[TierName], limits: &ResponsiveLimits, containers: usize) -> String {
    let limit = |m: f64| ms(Duration::from_secs_f64(m.max(0.0) / 1000.0));
    let over: Vec<String> = tiers
        .iter()
        .map(|t| match t {
            TierName::Ping => format!("the ping's limit is {}", limit(limits.ping_ms())),
            TierName::List => format!(
                "the list's limit for {containers} container{} is {}",
                plural(containers),
                limit(limits.list_ms(containers))
            ),
            TierName::Info => format!("/info's limit is {}", limit(limits.info_ms())),
        })
        .collect();
    over.join("; ")
}

/// Look at the daemon's load: `top` and a stack dump when its process is found.
async fn slow_fix(ctx: &Ctx<'_>) -> Fix {
    match ctx.located().await {
        Ok(Located::Found(d)) => {
            let pid = d.info.pid;
            Fix::advice(format!("Look at the daemon's load: `top -H -p {pid}`;")).then_run(
                &["kill", "-USR1", &pid.to_string()],
                format!("a stack dump (`kill -USR1 {pid}`) shows what it is busy with."),
            )
        }
        _ => Fix::advice("Look at the daemon's load and its log."),
    }
}

/// The sentence for a daemon that answers the ping but not the list or /info.
fn wedged_summary(
    a: &Answers<'_>,
    list_silent: bool,
    info_silent: bool,
    waited: Duration,
) -> String {
    let containers = a.containers;
    let p = ms(a.ping.ok().unwrap_or_default());
    let w = crate::util::human_duration(waited);
    match (list_silent, info_silent) {
        (true, false) => format!(
            "wedged: answers the ping ({p}) but listing containers did not finish within {w}: a container lock is held (moby#12606)"
        ),
        (false, _) => format!(
            "wedged: answers the ping ({p}){}, but /info did not answer within {w}",
            a.list
                .and_then(|(r, _)| r.ok())
                .map_or(String::new(), |l| format!(
                    " and lists {containers} container{} ({})",
                    plural(containers),
                    ms(l)
                ))
        ),
        (true, true) => format!(
            "wedged: answers the ping ({p}) but neither the container list nor /info answered within {w}: a container lock is held (moby#12606), or the daemon is stuck"
        ),
    }
}

/// A tier's latency (or error), and how long it waited either way.
fn attempt<T>(a: &Attempt<T>) -> Tried<'_> {
    (a.0.as_ref().map(|t| t.elapsed), a.1)
}
