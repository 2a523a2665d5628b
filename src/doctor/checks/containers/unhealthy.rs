//! `containers.unhealthy`: running (or paused) containers whose health check says unhealthy,
//! how many checks failed in a row and since when. The verdicts: [`policy::unhealthy`],
//! [`policy::failing_since`].
//!
//! Never flags: a check still `starting`, a stopped container with a stale unhealthy status,
//! containers without a health check.

use serde_json::{Value, json};

use super::{Ctx, age, and_others, brief_with, capped, label, now, plural, records, when};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::containers as policy;
use crate::runtime::inventory::{ContainerRecord, RecordHealth};
use crate::util::human_age;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let now = now();
    let sick: Vec<(&ContainerRecord, &RecordHealth)> = all
        .iter()
        .filter_map(|c| Some((c, policy::unhealthy(c)?)))
        .collect();
    let with_checks = all
        .iter()
        .filter(|c| c.state.health.is_some() && c.state_word() == "running")
        .count();
    let Some(&(c, h)) = sick.first() else {
        return Finding::new(
            Status::Ok,
            format!("no unhealthy containers ({with_checks} running with a health check)"),
        )
        .evidence(json!({ "count": 0, "containers": [], "with_health_check": with_checks }));
    };
    let items: Vec<Value> = sick
        .iter()
        .map(|(c, h)| {
            let interval = c.health_interval();
            let since = policy::failing_since(h, interval, now);
            let last = h.log.last();
            brief_with(
                c,
                json!({
                    "failing_streak": h.failing_streak,
                    "failing_since": since.map(when),
                    "failing_for_secs": since.map(|s| age(now, Some(s))),
                    "interval_secs": interval.map(|i| i.as_secs_f64()),
                    "last_exit_code": last.map(|p| p.exit_code),
                    "last_output": last.map(|p| p.output.chars().take(300).collect::<String>()),
                }),
            )
        })
        .collect();
    let for_how_long = policy::failing_since(h, c.health_interval(), now)
        .map(|s| format!(", failing for at least {}", human_age(age(now, Some(s)))))
        .unwrap_or_default();
    let name = label(c);
    let summary = format!(
        "{} unhealthy: {name} ({} failed checks in a row{for_how_long}){}",
        plural(sick.len(), "container", "containers"),
        h.failing_streak,
        and_others(sick[1..].iter().map(|(c, _)| label(c))),
    );
    let fix = Fix::run(
        &["docker", "inspect", "--format", "{{json .State.Health}}", name],
        format!(
            "Read what the check says: `docker inspect --format '{{{{json .State.Health}}}}' {name}`"
        ),
    )
    .then_run(
        &["docker", "logs", "--tail", "50", name],
        format!("and `docker logs --tail 50 {name}`; fix the service (or the check)."),
    )
    .then_run(
        &["docker", "restart", name],
        format!(
            "A single `docker restart {name}` helps a wedged service; restarting it again and again does not — use a budget and back off."
        ),
    );
    Finding::new(Status::Warning, summary)
        .evidence(json!({
            "count": sick.len(),
            "containers": capped(&items, Value::clone),
            "with_health_check": with_checks,
        }))
        .fix(fix)
}
