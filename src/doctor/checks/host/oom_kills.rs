//! `host.oom-kills`: this daemon's containers the kernel's OOM killer killed within the window
//! — the engine's `oom` events and the containers whose last exit it marks `OOMKilled` — with
//! the kernel's host-wide count since boot (`/proc/vmstat` `oom_kill`) beside them.
//!
//! Never flags: a container that exited 137 because it was stopped or killed (the engine marks
//! no OOM and sends no `oom` event), an OOM kill older than the window, or the host-wide count
//! alone (it cannot say which process, nor whether it was a container).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{CAP, now, plural, window_words};
use crate::doctor::checks::{Ctx, err_json};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::host::oom_killed_recently;
use crate::runtime::blocking;
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::kernel::{self, VmStat};
use crate::util::human_age;

const ID: &str = "host.oom-kills";

/// `{"type":["container"],"event":["oom"]}`, escaped for a query: only the OOM events, so the
/// answer stays small on a host whose buffer is full of health checks.
const OOM_FILTER: &str = "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22oom%22%5D%7D";

/// One `oom` event.
#[derive(Debug, Clone, PartialEq)]
struct OomEvent {
    id: String,
    name: String,
    time: f64,
}

/// The `/events` answer: one JSON object per line; only container `oom` events are kept (the
/// filter asks for them, but an engine that ignores a filter must not turn a `die` into one).
fn parse_oom_events(body: &str) -> Vec<OomEvent> {
    body.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(|e| {
            let action = e
                .get("Action")
                .or_else(|| e.get("status"))
                .and_then(Value::as_str);
            let kind = e.get("Type").and_then(Value::as_str);
            action == Some("oom") && kind.is_none_or(|k| k == "container")
        })
        .map(|e| OomEvent {
            id: e
                .pointer("/Actor/ID")
                .or_else(|| e.get("id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name: e
                .pointer("/Actor/Attributes/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            time: e
                .get("timeNano")
                .and_then(Value::as_u64)
                .map(|n| n as f64 / 1e9)
                .or_else(|| e.get("time").and_then(Value::as_u64).map(|s| s as f64))
                .unwrap_or(0.0),
        })
        .collect()
}

/// A container killed for memory, by what the engine said of it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Victim {
    id: String,
    name: String,
    /// `oom` events within the window.
    events: usize,
    /// The last kill's time (an event's, else the exit's).
    last: f64,
    /// The engine marks its last exit `OOMKilled`.
    marked: bool,
    running: bool,
    exit_code: Option<i64>,
    memory_limit: Option<i64>,
}

/// The victims: containers marked OOMKilled within the window, and every container named by
/// an `oom` event (a container restarted since is no longer marked), most recent first.
fn victims(
    records: &[ContainerRecord],
    events: &[OomEvent],
    now: f64,
    window_s: f64,
) -> Vec<Victim> {
    let mut by_id: BTreeMap<String, Victim> = BTreeMap::new();
    for c in records {
        if oom_killed_recently(c.state.oom_killed, c.state.finished_at, now, window_s) {
            by_id.insert(
                c.id.clone(),
                Victim {
                    id: c.id.clone(),
                    name: c.name().to_string(),
                    last: c.state.finished_at.unwrap_or(0.0),
                    marked: true,
                    ..Victim::default()
                },
            );
        }
    }
    for e in events {
        let v = by_id.entry(e.id.clone()).or_insert_with(|| Victim {
            id: e.id.clone(),
            name: e.name.clone(),
            ..Victim::default()
        });
        v.events += 1;
        v.last = v.last.max(e.time);
    }
    for c in records {
        if let Some(v) = by_id.get_mut(&c.id) {
            v.running = c.state.running;
            v.exit_code = (!c.state.running).then_some(c.state.exit_code);
            v.memory_limit = Some(c.host_config.memory).filter(|m| *m > 0);
            if v.name.is_empty() {
                v.name = c.name().to_string();
            }
        }
    }
    let mut out: Vec<Victim> = by_id.into_values().collect();
    out.sort_by(|a, b| b.last.total_cmp(&a.last));
    out
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let hours = ctx.th(ID, "window_hours").max(0.0);
    let window_s = hours * 3600.0;
    let now = now();
    let (records, events, vm) = tokio::join!(
        ctx.answered_records(),
        oom_events(ctx, now, window_s),
        blocking(ctx.timeout(), || (
            kernel::vmstat().ok(),
            kernel::boottime_s()
        )),
    );
    let (vm, boot_s) = vm.unwrap_or((None, None));
    let (events, events_error) = match events {
        Ok(e) => (e, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let (records, records_error) = match (records, &events_error) {
        (Ok(r), _) => (r, None),
        // Neither the records nor the events: nothing to judge.
        (Err(f), Some(_)) => return f,
        // The events alone: said in the summary, not passed off as the whole picture.
        (Err(f), None) => (&[][..], Some(f.summary)),
    };
    let vs = victims(records, &events, now, window_s);
    let evidence = json!({
        "window_hours": hours,
        "containers": vs.iter().take(CAP).map(|v| victim_json(v, now)).collect::<Vec<_>>(),
        "count": vs.len(),
        "oom_events": events.len(),
        "events_error": events_error,
        "records_error": records_error,
        "kernel": kernel_json(vm.as_ref(), boot_s),
    });
    let host_words = host_count_words(vm.as_ref(), boot_s);
    let Some(first) = vs.first() else {
        let events_note = if events_error.is_some() {
            " (the engine's events could not be read; judged on the containers' exits only)"
        } else if records_error.is_some() {
            " (the containers' records could not be read; judged on the engine's events only)"
        } else {
            ""
        };
        return Finding::new(
            Status::Ok,
            format!(
                "no container of this daemon killed for memory in the last {}{events_note}{host_words}",
                window_words(hours)
            ),
        )
        .evidence(evidence);
    };
    let more = if vs.len() > 1 {
        format!(" (and {} more)", vs.len() - 1)
    } else {
        String::new()
    };
    Finding::new(
        Status::Warning,
        format!(
            "{} killed by the kernel's OOM killer in the last {}: {} {} ago{}{more}{host_words}",
            plural(vs.len(), "container", "containers"),
            window_words(hours),
            first.name,
            human_age((now - first.last).max(0.0) as u64),
            limit_words(first),
        ),
    )
    .fix(fix(first))
    .evidence(evidence)
}

/// The engine's `oom` events of the window, in one call under the engine's deadline.
async fn oom_events(ctx: &Ctx<'_>, now: f64, window_s: f64) -> Result<Vec<OomEvent>, Value> {
    // Asked beside the records: `engine_get` awaits the ping first, so an engine that did not
    // answer it (or one known stopped, which recover tells the facts before asking anything)
    // does not hold this call to its deadline.
    let since = (now - window_s).max(0.0) as u64;
    // An `until` makes the engine answer from its buffer and close instead of streaming; it
    // carries the nanoseconds (see `containers.restart-loop`).
    let until_t = ctx.engine_kind().await.events_until(now);
    let until = format!("{}.{:09}", until_t as u64, (until_t.fract() * 1e9) as u64);
    let path = format!("/events?since={since}&until={until}&filters={OOM_FILTER}");
    match ctx.engine_get(&path).await {
        Ok(r) => Ok(parse_oom_events(&String::from_utf8_lossy(&r.value.body))),
        Err(e) => Err(err_json(&e)),
    }
}

fn limit_words(v: &Victim) -> String {
    match v.memory_limit {
        Some(m) => format!(
            " (memory limit {})",
            crate::util::human_bytes(m.max(0) as u64)
        ),
        None => " (no memory limit: the host ran out)".to_string(),
    }
}

/// "; the kernel has OOM-killed 3 processes since boot 2 days ago", or nothing.
fn host_count_words(vm: Option<&VmStat>, boot_s: Option<f64>) -> String {
    match (vm.and_then(|v| v.oom_kill), boot_s) {
        (Some(n), Some(b)) if n > 0 => format!(
            "; the kernel has OOM-killed {} on this host since boot {} ago",
            plural(n as usize, "process", "processes"),
            human_age(b as u64)
        ),
        _ => String::new(),
    }
}

fn kernel_json(vm: Option<&VmStat>, boot_s: Option<f64>) -> Value {
    json!({
        "oom_kill_since_boot": vm.and_then(|v| v.oom_kill),
        "booted_secs_ago": boot_s.map(|b| b as u64),
        "note": "host-wide, every process: it cannot say which was killed",
    })
}

fn victim_json(v: &Victim, now: f64) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "oom_events": v.events,
        "oom_killed": v.marked,
        "last_secs_ago": (now - v.last).max(0.0) as u64,
        "running": v.running,
        "exit_code": v.exit_code,
        "memory_limit": v.memory_limit,
    })
}

/// Read what it uses, then raise its limit; without a limit the whole host ran out.
fn fix(v: &Victim) -> Fix {
    let name = if v.name.is_empty() {
        v.id.get(..12).unwrap_or(&v.id)
    } else {
        &v.name
    };
    let fix = Fix::run(
        &["docker", "stats", "--no-stream", name],
        format!("See what {name} uses (`docker stats --no-stream {name}`)"),
    );
    match v.memory_limit {
        Some(_) => fix.then_advice(format!(
            "and raise its memory limit (`docker update --memory <more> --memory-swap <more> {name}`), or find the leak."
        )),
        None => fix.then_advice(
            "It has no memory limit: the whole host ran out of memory. Set limits on the containers that grow, and see host.pressure and host.swap.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, oom: bool, exit: i64, finished: f64) -> ContainerRecord {
        let mut c = ContainerRecord {
            id: id.into(),
            raw_name: format!("/{id}"),
            ..ContainerRecord::default()
        };
        c.state.oom_killed = oom;
        c.state.exit_code = exit;
        c.state.finished_at = Some(finished);
        c
    }

    #[test]
    fn parses_oom_events_only() {
        let body = concat!(
            r#"{"status":"oom","id":"aa","Type":"container","Action":"oom","Actor":{"ID":"aa","Attributes":{"name":"hog"}},"time":100,"timeNano":100500000000}"#,
            "\n",
            r#"{"Type":"container","Action":"die","Actor":{"ID":"bb","Attributes":{"exitCode":"137","name":"killed"}},"time":101}"#,
            "\nnot json\n"
        );
        assert_eq!(
            parse_oom_events(body),
            [OomEvent {
                id: "aa".into(),
                name: "hog".into(),
                time: 100.5
            }]
        );
    }

    #[test]
    fn a_container_killed_by_hand_is_no_victim() {
        let now = 10_000.0;
        let records = [
            record("hog", true, 137, now - 60.0),
            // `docker kill`: 137, not marked.
            record("killed", false, 137, now - 30.0),
            // Killed for memory, but long ago.
            record("old", true, 137, now - 200_000.0),
            // Restarted since its OOM kill: no mark, but the event names it.
            record("again", false, 0, now - 5.0),
        ];
        let events = [OomEvent {
            id: "again".into(),
            name: "again".into(),
            time: now - 10.0,
        }];
        let vs = victims(&records, &events, now, 86_400.0);
        let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["again", "hog"]);
        assert!(vs[1].marked && vs[1].events == 0);
        assert!(!vs[0].marked && vs[0].events == 1);
        assert!(victims(&records[1..2], &[], now, 86_400.0).is_empty());
    }

    #[test]
    fn the_host_count_is_said_not_judged() {
        let vm = VmStat {
            oom_kill: Some(3),
            ..VmStat::default()
        };
        assert!(host_count_words(Some(&vm), Some(7200.0)).contains("3 processes"));
        assert_eq!(host_count_words(Some(&VmStat::default()), Some(7200.0)), "");
        assert_eq!(host_count_words(None, None), "");
    }
}
