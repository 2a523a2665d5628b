//! `containers.restart-loop`: containers that die and come back again and again — restarting
//! now, restarted often by their policy, or whose name died often in the last hour (from the
//! engine's buffered `die` events, which also catch a name a supervisor re-creates each time).
//! The verdict: [`policy::loop_reasons`].
//!
//! Never flags: a container restarted a few times (under the thresholds), one waiting out its
//! first back-off, or one that died once and was left stopped.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::{Ctx, and_others, brief_with, capped, label, now, plural, records, when};
use crate::doctor::checks::err_json;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::containers::{self as policy, Die, LoopReason, LoopThresholds};
use crate::runtime::inventory::ContainerRecord;
use crate::util::human_age;

const ID: &str = "containers.restart-loop";

/// How far back `die` events are counted.
const DIE_WINDOW_SECS: u64 = 3600;
/// The daemon keeps this many recent events of every kind (moby's events buffer): on a host
/// with health checks every second, that is about a minute and a half.
const EVENTS_KEPT: usize = 256;

/// What the daemon's event buffer holds for the window.
#[derive(Debug, Clone, Default, PartialEq)]
struct Events {
    dies: Vec<Die>,
    /// Events of every kind returned.
    total: usize,
    /// The oldest event's time: with a full buffer, how far back the counts reach.
    oldest: Option<f64>,
}

fn event_time(e: &Value) -> Option<f64> {
    e.get("timeNano")
        .and_then(Value::as_u64)
        .map(|n| n as f64 / 1e9)
        .or_else(|| e.get("time").and_then(Value::as_u64).map(|s| s as f64))
}

/// The `/events` answer: one JSON object per line; lines that are not an event are skipped.
fn parse_events(body: &str) -> Events {
    let mut out = Events::default();
    for e in body
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
    {
        out.total += 1;
        let t = event_time(&e);
        if let Some(t) = t {
            out.oldest = Some(out.oldest.map_or(t, |o: f64| o.min(t)));
        }
        let kind = e
            .get("Type")
            .or_else(|| e.get("type"))
            .and_then(Value::as_str);
        let action = e
            .get("Action")
            .or_else(|| e.get("status"))
            .and_then(Value::as_str);
        if action != Some("die") || kind.is_some_and(|k| k != "container") {
            continue;
        }
        let attr = |k: &str| {
            e.pointer(&format!("/Actor/Attributes/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        out.dies.push(Die {
            id: e
                .pointer("/Actor/ID")
                .or_else(|| e.get("id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name: attr("name").unwrap_or_default(),
            time: t.unwrap_or(0.0),
            exit_code: attr("exitCode").and_then(|c| c.parse().ok()),
        });
    }
    out
}

fn reason_words(why: &[LoopReason]) -> Vec<String> {
    why.iter()
        .map(|r| match r {
            LoopReason::RestartingNow => "restarting now".to_string(),
            LoopReason::Restarted(n) => format!("restarted {n} times"),
            LoopReason::Died(n) => format!("died {n} times in the last hour"),
        })
        .collect()
}

/// A looping container: its evidence, its name, its reasons in words.
type Looping = (Value, String, String);

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let th = LoopThresholds {
        restart_count: ctx.th(ID, "restart_count"),
        dies: ctx.th(ID, "dies_per_hour"),
    };
    let now = now();
    let (events, events_error) = last_hour_events(ctx, now).await;
    let dies = &events.dies;
    // Podman reads its events from its event log (a file, or journald): no buffer to overflow.
    let podman = ctx.engine_kind().await.is_podman();
    let kept = if podman { usize::MAX } else { EVENTS_KEPT };
    let reach = policy::event_reach(events.total, events.oldest, now, DIE_WINDOW_SECS, kept);
    let looping = judge_looping(all, dies, th);
    let events_ev = json!({
        "window_secs": DIE_WINDOW_SECS,
        "events": events.total,
        "dies": dies.len(),
        "buffer_full": reach.full,
        "covers_secs": reach.covers_s,
        "error": events_error,
        "note": if podman {
            "Podman answers from its event log (a file, or journald), not a fixed-size buffer".to_string()
        } else {
            format!("the daemon keeps only its last {EVENTS_KEPT} events of every kind: death counts are lower bounds")
        },
    });
    let reach_note = if reach.full {
        format!(
            " (the daemon's {EVENTS_KEPT}-event buffer reaches back only {})",
            human_age(reach.covers_s)
        )
    } else {
        String::new()
    };
    let thresholds = json!({ "restart_count": th.restart_count, "dies_per_hour": th.dies });
    let Some((_, name, why)) = looping.first() else {
        let summary = if events_error.is_some() {
            "no container restarts in a loop by its restart count (the engine's events could not be read)".to_string()
        } else {
            format!(
                "no container restarts in a loop ({} in the last hour{reach_note})",
                plural(dies.len(), "container death", "container deaths")
            )
        };
        return Finding::new(Status::Ok, summary).evidence(json!({
            "count": 0, "containers": [], "events": events_ev, "thresholds": thresholds,
        }));
    };
    let summary = format!(
        "{} in a restart loop: {name} ({why}){}{reach_note}",
        plural(looping.len(), "container", "containers"),
        and_others(looping[1..].iter().map(|l| l.1.as_str())),
    );
    Finding::new(Status::Warning, summary)
        .evidence(json!({
            "count": looping.len(),
            "containers": capped(&looping, |l| l.0.clone()),
            "events": events_ev,
            "thresholds": thresholds,
        }))
        .fix(loop_fix(name))
}

/// The engine's events of the last hour, in one call under the engine's deadline; with the
/// error (as evidence) when they could not be read.
async fn last_hour_events(ctx: &Ctx<'_>, now: f64) -> (Events, Option<Value>) {
    let since = (now as u64).saturating_sub(DIE_WINDOW_SECS);
    // An `until` makes the engine answer from its buffer and close instead of streaming. It
    // carries the nanoseconds: a whole-second `until` would drop this second's events. (Podman
    // wants it a moment ahead: see `events_until`.)
    let until_t = ctx.engine_kind().await.events_until(now);
    let until = format!("{}.{:09}", until_t as u64, (until_t.fract() * 1e9) as u64);
    // Every kind of event, not only `die`: the oldest one says how far back the buffer reaches.
    // One call, under the engine's deadline.
    let path = format!("/events?since={since}&until={until}");
    match ctx.engine_get(&path).await {
        Ok(r) => (parse_events(&String::from_utf8_lossy(&r.value.body)), None),
        Err(e) => (Events::default(), Some(err_json(&e))),
    }
}

/// The containers in a loop by their restart count or their deaths in the hour, then the
/// names that die often but no longer exist (re-created each time).
fn judge_looping(all: &[ContainerRecord], dies: &[Die], th: LoopThresholds) -> Vec<Looping> {
    // By name: a container re-created under the same name by a supervisor
    // (`docker run --rm --name web` in a systemd unit with Restart=always) loops too.
    let mut dies_by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for d in dies {
        *dies_by_name.entry(d.name.as_str()).or_default() += 1;
    }
    let mut looping: Vec<Looping> = Vec::new();
    for c in all {
        let n = dies_by_name.get(c.name()).copied().unwrap_or(0);
        let why = policy::container_loops(c, n, th);
        if why.is_empty() {
            continue;
        }
        let words = reason_words(&why);
        let v = brief_with(
            c,
            json!({
                "restart_count": c.restart_count,
                "restart_policy": c.host_config.restart_policy.name,
                "dies_last_hour": n,
                "last_exit_code": c.state.exit_code,
                "oom_killed": c.state.oom_killed,
                "error": c.state.error,
                "started_at": c.state.started_at.map(when),
                "finished_at": c.state.finished_at.map(when),
                "reasons": words,
            }),
        );
        looping.push((v, label(c).to_string(), words.join(", ")));
    }
    // Names that die often but no longer exist: re-created each time.
    let existing: HashSet<&str> = if dies_by_name.is_empty() {
        HashSet::new()
    } else {
        all.iter().map(ContainerRecord::name).collect()
    };
    for (name, n) in &dies_by_name {
        if name.is_empty() || existing.contains(name) {
            continue;
        }
        let why = policy::loop_reasons(false, 0, *n, th);
        if !why.is_empty() {
            let words = reason_words(&why);
            looping.push((
                json!({ "id": Value::Null, "name": name, "state": "removed", "dies_last_hour": n, "reasons": words }),
                name.to_string(),
                format!("{} (re-created each time)", words.join(", ")),
            ));
        }
    }
    looping
}

/// Find out why it dies (logs, exit code, OOM) before anything else; stop the loop only by
/// turning its restart policy off.
fn loop_fix(name: &str) -> Fix {
    Fix::run(
        &["docker", "logs", "--tail", "50", name],
        format!("Find out why it dies before anything else: `docker logs --tail 50 {name}`"),
    )
    .then_run(
        &[
            "docker",
            "inspect",
            "--format",
            "{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Error}}",
            name,
        ],
        format!(
            "and `docker inspect --format '{{{{.State.ExitCode}}}} {{{{.State.OOMKilled}}}} {{{{.State.Error}}}}' {name}` (137 with OOMKilled: raise its memory limit)."
        ),
    )
    .then_advice("Do not restart a loop by hand or by script; to stop it while you fix the cause:")
    .then_run(
        &["docker", "update", "--restart=no", name],
        format!("`docker update --restart=no {name}`"),
    )
    .then_run(&["docker", "stop", name], format!("then `docker stop {name}`."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events() {
        let body = concat!(
            r#"{"status":"die","id":"aa","Type":"container","Action":"die","Actor":{"ID":"aa","Attributes":{"exitCode":"1","name":"loop"}},"time":100,"timeNano":100500000000}"#,
            "\n",
            r#"{"Type":"container","Action":"start","Actor":{"ID":"aa","Attributes":{"name":"loop"}},"time":101}"#,
            "\n\n",
            "not json\n",
            r#"{"Type":"network","Action":"die","Actor":{"ID":"nn","Attributes":{"name":"odd"}},"time":99}"#,
            "\n",
            r#"{"status":"die","id":"bb","Actor":{"ID":"bb","Attributes":{"name":"web"}},"time":102}"#,
            "\n"
        );
        let e = parse_events(body);
        assert_eq!(e.total, 4);
        assert_eq!(e.oldest, Some(99.0));
        assert_eq!(e.dies.len(), 2);
        assert_eq!(
            e.dies[0],
            Die {
                id: "aa".into(),
                name: "loop".into(),
                time: 100.5,
                exit_code: Some(1)
            }
        );
        assert_eq!(e.dies[1].name, "web");
        assert_eq!(e.dies[1].exit_code, None);
        assert_eq!(parse_events(""), Events::default());
    }

    #[test]
    fn reasons_in_words() {
        assert_eq!(
            reason_words(&[
                LoopReason::RestartingNow,
                LoopReason::Restarted(12),
                LoopReason::Died(3)
            ]),
            [
                "restarting now",
                "restarted 12 times",
                "died 3 times in the last hour"
            ]
        );
    }
}
