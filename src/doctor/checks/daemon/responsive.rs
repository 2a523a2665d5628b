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
    let ping = ping_r.as_ref().map(|t| t.elapsed);
    let list = asked.containers.map(attempt);
    let info = asked.info.map(attempt);
    let tiers = Tiers {
        ping: Outcome::of(ping),
        list: list.map(|(r, _)| Outcome::of(r)),
        info: info.map(|(r, _)| Outcome::of(r)),
        containers,
    };
    let health = classify(&tiers, &limits);

    // Evidence: each tier that ran, its latency (how long it waited, when it did not answer)
    // and the limit it was judged against.
    let probe = |tier: TierName, r: Result<Duration, &EngineError>, took: Duration, limit: f64| {
        json!({
            "name": tier.as_str(),
            "ok": r.is_ok(),
            "latency_ms": crate::util::millis(r.unwrap_or(took)),
            "error": r.err().map(ToString::to_string),
            "limit_ms": limit,
        })
    };
    let mut probes = vec![probe(TierName::Ping, ping, *ping_took, limits.ping_ms())];
    if let Some((r, t)) = list {
        probes.push(probe(TierName::List, r, t, limits.list_ms(containers)));
    }
    if let Some((r, t)) = info {
        probes.push(probe(TierName::Info, r, t, limits.info_ms()));
    }
    let evidence = json!({
        "classification": health.name(),
        "probes": probes,
        "containers": list.and_then(|(r, _)| r.ok()).map(|_| containers),
    });
    let finding =
        |status, summary: String| Finding::new(status, summary).evidence(evidence.clone());

    let list_ok = list.and_then(|(r, _)| r.ok());
    let info_ok = info.and_then(|(r, _)| r.ok());
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match &health {
        Health::Healthy | Health::Slow { .. } => {
            let p = ping.ok().unwrap_or_default();
            let mut parts = vec![format!("ping {}", ms(p))];
            if let Some(l) = list_ok {
                parts.push(format!(
                    "{containers} container{} listed in {}",
                    plural(containers),
                    ms(l)
                ));
            }
            if let Some(i) = info_ok {
                parts.push(format!("info {}", ms(i)));
            }
            let detail = parts.join(", ");
            let Health::Slow { tiers } = &health else {
                return finding(Status::Ok, format!("healthy: {detail}"));
            };
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
            let fix = match ctx.located().await {
                Ok(Located::Found(d)) => {
                    let pid = d.info.pid;
                    Fix::advice(format!("Look at the daemon's load: `top -H -p {pid}`;")).then_run(
                        &["kill", "-USR1", &pid.to_string()],
                        format!("a stack dump (`kill -USR1 {pid}`) shows what it is busy with."),
                    )
                }
                _ => Fix::advice("Look at the daemon's load and its log."),
            };
            finding(
                Status::Warning,
                format!("slow: {detail} ({})", over.join("; ")),
            )
            .fix(fix)
        }
        Health::Down => {
            let e = ping.err().map(ToString::to_string).unwrap_or_default();
            finding(Status::Critical, format!("down: {e}")).fix(down_fix(ctx).await)
        }
        Health::Permission => finding(
            Status::Unknown,
            ping.err().map(ToString::to_string).unwrap_or_default(),
        )
        .remedy("Run dockhand as root, or join the docker group (membership is root-equivalent)."),
        Health::Frozen { .. } => finding(
            Status::Critical,
            ping.err().map(ToString::to_string).unwrap_or_default(),
        )
        .fix(stuck_fix(ctx).await),
        Health::Wedged {
            list: list_silent,
            info: info_silent,
            waited,
        } => {
            let p = ms(ping.ok().unwrap_or_default());
            let w = crate::util::human_duration(*waited);
            let summary = match (list_silent, info_silent) {
                (true, false) => format!(
                    "wedged: answers the ping ({p}) but listing containers did not finish within {w}: a container lock is held (moby#12606)"
                ),
                (false, _) => format!(
                    "wedged: answers the ping ({p}){}, but /info did not answer within {w}",
                    list_ok.map_or(String::new(), |l| format!(
                        " and lists {containers} container{} ({})",
                        plural(containers),
                        ms(l)
                    ))
                ),
                (true, true) => format!(
                    "wedged: answers the ping ({p}) but neither the container list nor /info answered within {w}: a container lock is held (moby#12606), or the daemon is stuck"
                ),
            };
            finding(Status::Critical, summary).fix(stuck_fix(ctx).await)
        }
        Health::Error { tier } => {
            let err = |r: Option<(Result<Duration, &EngineError>, Duration)>| {
                r.and_then(|(r, _)| r.err().map(ToString::to_string))
                    .unwrap_or_default()
            };
            match tier {
                TierName::Ping => finding(
                    Status::Critical,
                    format!(
                        "the ping failed: {}",
                        ping.err().map(ToString::to_string).unwrap_or_default()
                    ),
                )
                .fix(stuck_fix(ctx).await),
                TierName::List => finding(
                    Status::Critical,
                    format!("listing containers failed: {}", err(list)),
                )
                .fix(stuck_fix(ctx).await),
                // The daemon lists and answers; only its description is broken.
                TierName::Info => finding(Status::Warning, format!("/info failed: {}", err(info))),
            }
        }
    }
}

/// A tier's latency (or error), and how long it waited either way.
fn attempt<T>(a: &Attempt<T>) -> (Result<Duration, &EngineError>, Duration) {
    (a.0.as_ref().map(|t| t.elapsed), a.1)
}
