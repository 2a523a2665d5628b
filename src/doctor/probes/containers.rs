//! Checks of the containers area; see docs/checks/containers.md.
//!
//! Every check reads the containers' own records (`ctx.container_details()`: the daemon's
//! config.v2.json per container, no API call per container). Only two of them ask for more, and
//! only when they need it: `containers.restart-loop` reads the daemon's recent `die` events (one
//! bounded call), and `containers.ghost` re-inspects a container whose process it could not find,
//! to rule out a container that exited a moment ago.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Ctx, Probe, err_json, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::daemon::Located;
use crate::util::{human_age, human_bytes, rfc3339};

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("containers.exited", exited),
        probe!("containers.littering", littering),
        probe!("containers.restart-loop", restart_loop),
        probe!("containers.unhealthy", unhealthy),
        probe!("containers.misplaced-flags", misplaced_flags),
        probe!("containers.exits-immediately", exits_immediately),
        probe!("containers.ghost", ghost),
        probe!("containers.logs", logs),
    ]
}

/// Lists in evidence stop after this many items (the count says how many there were).
const EVIDENCE_CAP: usize = 20;

// ---------------------------------------------------------------------------------------------
// The containers as the checks see them
// ---------------------------------------------------------------------------------------------

/// One container's record, reduced to what the checks judge. Built from the inspect document
/// (or the daemon's config.v2.json, which has the same shape but no `State.Status`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ctr {
    pub id: String,
    pub name: String,
    /// The image as the user named it (`Config.Image`).
    pub image: String,
    /// running, paused, restarting, removing, dead, created, exited.
    pub state: String,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    /// Seconds since the epoch; `None` for Go's zero time (never happened).
    pub created: Option<f64>,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub restart_count: u64,
    pub restart_policy: String,
    pub auto_remove: bool,
    /// Started with its output attached to a client (no `-d`).
    pub attached: bool,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub health: Option<Health>,
    /// The health check's interval (`--health-interval`), when set.
    pub health_interval: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub status: String,
    pub failing_streak: u64,
    /// The last results the daemon keeps (five), oldest first.
    pub log: Vec<Probed>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probed {
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub exit_code: i64,
    pub output: String,
}

impl Ctr {
    /// Reads an inspect-shaped document; `None` when it has no id.
    pub fn from_doc(doc: &Value) -> Option<Ctr> {
        let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let strings = |p: &str| -> Vec<String> {
            match doc.pointer(p) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                // An old API answered a string where newer ones give a list.
                Some(Value::String(x)) => vec![x.clone()],
                _ => Vec::new(),
            }
        };
        let id = s("/Id");
        if id.is_empty() {
            return None;
        }
        let state = doc.get("State").cloned().unwrap_or(Value::Null);
        let health = state
            .get("Health")
            .filter(|h| h.is_object())
            .map(|h| Health {
                status: h
                    .get("Status")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                failing_streak: h.get("FailingStreak").and_then(Value::as_u64).unwrap_or(0),
                log: h
                    .get("Log")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .map(|e| Probed {
                                start: e.get("Start").and_then(Value::as_str).and_then(parse_time),
                                end: e.get("End").and_then(Value::as_str).and_then(parse_time),
                                exit_code: e.get("ExitCode").and_then(Value::as_i64).unwrap_or(0),
                                output: e
                                    .get("Output")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        let flag = |p: &str| doc.pointer(p).and_then(Value::as_bool).unwrap_or(false);
        Some(Ctr {
            id: id.to_string(),
            name: s("/Name").trim_start_matches('/').to_string(),
            image: s("/Config/Image").to_string(),
            state: state_word(&state),
            pid: state.get("Pid").and_then(Value::as_i64).unwrap_or(0),
            exit_code: state.get("ExitCode").and_then(Value::as_i64).unwrap_or(0),
            oom_killed: state
                .get("OOMKilled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            error: state
                .get("Error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            created: parse_time(s("/Created")),
            started_at: state
                .get("StartedAt")
                .and_then(Value::as_str)
                .and_then(parse_time),
            finished_at: state
                .get("FinishedAt")
                .and_then(Value::as_str)
                .and_then(parse_time),
            restart_count: doc.get("RestartCount").and_then(Value::as_u64).unwrap_or(0),
            restart_policy: s("/HostConfig/RestartPolicy/Name").to_string(),
            auto_remove: flag("/HostConfig/AutoRemove"),
            attached: flag("/Config/AttachStdout") || flag("/Config/AttachStderr"),
            cmd: strings("/Config/Cmd"),
            entrypoint: strings("/Config/Entrypoint"),
            health,
            health_interval: doc
                .pointer("/Config/Healthcheck/Interval")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map(Duration::from_nanos),
        })
    }

    /// Not running and not about to run: what `docker container prune` would remove.
    pub fn stopped(&self) -> bool {
        matches!(self.state.as_str(), "exited" | "created" | "dead")
    }

    /// When it stopped: the finish time, or creation for one that never ran.
    pub fn stopped_since(&self) -> Option<f64> {
        match self.state.as_str() {
            "created" => self.created,
            _ => self.finished_at.or(self.created),
        }
    }

    /// The command the container runs: its `Cmd`, which follows the entrypoint.
    fn command(&self) -> Vec<String> {
        self.entrypoint
            .iter()
            .chain(self.cmd.iter())
            .cloned()
            .collect()
    }

    fn brief(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "image": self.image,
            "state": self.state,
        })
    }
}

/// The state as `docker ps` words it. The daemon's own file has no `Status`; it is derived the
/// way the engine derives it (moby's `State.StateString`).
pub fn state_word(state: &Value) -> String {
    if let Some(s) = state.get("Status").and_then(Value::as_str)
        && !s.is_empty()
    {
        return s.to_string();
    }
    let b = |k: &str| state.get(k).and_then(Value::as_bool).unwrap_or(false);
    let never_started = state
        .get("StartedAt")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .is_none();
    if b("Running") {
        if b("Paused") {
            "paused"
        } else if b("Restarting") {
            "restarting"
        } else {
            "running"
        }
    } else if b("RemovalInProgress") {
        "removing"
    } else if b("Dead") {
        "dead"
    } else if never_started {
        "created"
    } else {
        "exited"
    }
    .to_string()
}

/// An RFC 3339 time as the engine writes it ("2026-11-28T06:00:22.119332206Z", or with an
/// offset) in seconds since the epoch. Go's zero time (year 1) and anything unreadable are
/// `None`.
pub fn parse_time(s: &str) -> Option<f64> {
    crate::util::parse_rfc3339(s)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn when(t: f64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0)))
}

fn age(now: f64, t: Option<f64>) -> u64 {
    t.map_or(0, |t| (now - t).max(0.0) as u64)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first `EVIDENCE_CAP` items as a JSON list.
fn capped<T, F: Fn(&T) -> Value>(items: &[T], f: F) -> Value {
    Value::Array(items.iter().take(EVIDENCE_CAP).map(f).collect())
}

/// "web, db and 3 more"
fn names_list<'a>(names: impl IntoIterator<Item = &'a str>, show: usize) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let shown = names[..names.len().min(show)].join(", ");
    if names.len() > show {
        format!("{shown} and {} more", names.len() - show)
    } else {
        shown
    }
}

/// The containers, or the finding that says why there are none to judge.
async fn containers(ctx: &Ctx<'_>) -> Result<Vec<Ctr>, Finding> {
    let docs = ctx.answered_details().await?;
    Ok(docs.iter().filter_map(Ctr::from_doc).collect())
}

/// A count threshold from the config: how many may be there before it is a problem.
fn count_th(ctx: &Ctx<'_>, id: &str, name: &str) -> usize {
    let v = ctx.th(id, name);
    if v.is_finite() && v > 0.0 {
        v.floor() as usize
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// containers.exited
// ---------------------------------------------------------------------------------------------

/// `containers.exited`: stopped containers older than the grace period, and what they hold.
pub async fn exited(ctx: &Ctx<'_>) -> Finding {
    const ID: &str = "containers.exited";
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let grace = ctx.th(ID, "grace_hours") * 3600.0;
    let warn_count = count_th(ctx, ID, "warn_count");
    let now = now();
    let stopped: Vec<&Ctr> = all.iter().filter(|c| c.stopped()).collect();
    let mut old: Vec<&Ctr> = stopped
        .iter()
        .copied()
        .filter(|c| age(now, c.stopped_since()) as f64 >= grace)
        .collect();
    old.sort_by(|a, b| {
        a.stopped_since()
            .unwrap_or(now)
            .total_cmp(&b.stopped_since().unwrap_or(now))
    });
    let younger = stopped.len() - old.len();
    // "24 h" reads better than "1 d 0 h" for a threshold given in hours.
    let grace_text = if grace >= 3600.0 {
        format!("{} h", (grace / 3600.0 * 100.0).round() / 100.0)
    } else {
        human_age(grace as u64)
    };
    let thresholds = json!({ "grace_hours": grace / 3600.0, "warn_count": warn_count });
    if old.is_empty() {
        let mut summary = format!("no stopped containers older than {grace_text}");
        if younger > 0 {
            summary.push_str(&format!(
                " ({} younger)",
                plural(younger, "stopped container", "stopped containers")
            ));
        }
        return Finding::new(Status::Ok, summary).evidence(json!({
            "count": 0, "younger": younger, "bytes": 0, "bytes_known": true,
            "containers": [], "thresholds": thresholds,
        }));
    }
    // What they hold on disk: writable layer plus log, from the storage map.
    let sizes: Option<HashMap<&str, Option<u64>>> = match ctx.df().await {
        Ok(df) => Some(
            df.containers
                .items
                .iter()
                .map(|r| {
                    let log = r.log.as_ref().map_or(0, |l| l.bytes);
                    (r.id.as_str(), r.rw_bytes.map(|rw| rw + log))
                })
                .collect(),
        ),
        Err(_) => None,
    };
    let size_of = |c: &Ctr| {
        sizes
            .as_ref()
            .and_then(|m| m.get(c.id.as_str()).copied().flatten())
    };
    let bytes: u64 = old.iter().filter_map(|c| size_of(c)).sum();
    let bytes_known = sizes.is_some() && old.iter().all(|c| size_of(c).is_some());
    let oldest = old[0];
    let oldest_age = age(now, oldest.stopped_since());
    let held = match (&sizes, bytes_known) {
        (None, _) => "bytes unknown: the storage map failed".to_string(),
        (Some(_), true) => human_bytes(bytes),
        (Some(_), false) => format!("at least {}", human_bytes(bytes)),
    };
    let status = if old.len() > warn_count {
        Status::Warning
    } else {
        Status::Ok
    };
    let mut summary = format!(
        "{} older than {grace_text} ({held}), the oldest {} stopped {} ago",
        plural(old.len(), "stopped container", "stopped containers"),
        oldest.name,
        human_age(oldest_age),
    );
    if status == Status::Warning {
        summary.push_str(&format!(" (more than {warn_count})"));
    }
    let evidence = json!({
        "count": old.len(),
        "younger": younger,
        "bytes": bytes,
        "bytes_known": bytes_known,
        "df_error": ctx.df().await.err(),
        "oldest": { "id": oldest.id, "name": oldest.name, "age_secs": oldest_age },
        "containers": capped(&old, |c| {
            let mut v = c.brief();
            if let Some(o) = v.as_object_mut() {
                o.insert("exit_code".into(), json!(c.exit_code));
                o.insert("stopped_at".into(), json!(c.stopped_since().map(when)));
                o.insert("age_secs".into(), json!(age(now, c.stopped_since())));
                o.insert("bytes".into(), json!(size_of(c)));
            }
            v
        }),
        "thresholds": thresholds,
    });
    let f = Finding::new(status, summary).evidence(evidence);
    if status == Status::Ok {
        return f;
    }
    f.remedy(format!(
        "Remove stopped containers with `dockhand gc` (a dry run; add --apply to act): it keeps those stopped less than {grace_text} and those labelled dockhand.keep. By hand: `docker rm {}`.",
        old.iter()
            .take(5)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
            + if old.len() > 5 { " …" } else { "" }
    ))
}

// ---------------------------------------------------------------------------------------------
// containers.littering
// ---------------------------------------------------------------------------------------------

/// The adjectives of Docker's name generator (moby `pkg/namesgenerator`, the `left` list).
const DOCKER_ADJECTIVES: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "condescending",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

/// A name Docker generated (`adjective_surname`, a digit appended on a retry): `^[a-z]+_[a-z]+[0-9]*$`
/// with the adjective from Docker's list.
pub fn is_generated_name(name: &str) -> bool {
    let Some((left, right)) = name.split_once('_') else {
        return false;
    };
    let letters = right.bytes().take_while(u8::is_ascii_lowercase).count();
    letters > 0
        && right.bytes().skip(letters).all(|b| b.is_ascii_digit())
        && DOCKER_ADJECTIVES.binary_search(&left).is_ok()
}

/// `containers.littering`: stopped containers with generated names, left by `docker run`
/// without `--rm`.
pub async fn littering(ctx: &Ctx<'_>) -> Finding {
    const ID: &str = "containers.littering";
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let warn_count = count_th(ctx, ID, "warn_count");
    let now = now();
    let mut litter: Vec<&Ctr> = all
        .iter()
        .filter(|c| c.stopped() && !c.auto_remove && is_generated_name(&c.name))
        .collect();
    litter.sort_by(|a, b| {
        a.created
            .unwrap_or(now)
            .total_cmp(&b.created.unwrap_or(now))
    });
    let thresholds = json!({ "warn_count": warn_count });
    if litter.is_empty() {
        return Finding::new(
            Status::Ok,
            "no stopped containers with generated names (each `docker run` without --rm leaves one)",
        )
        .evidence(json!({ "count": 0, "by_image": {}, "containers": [], "thresholds": thresholds }));
    }
    let mut by_image: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &litter {
        *by_image.entry(c.image.as_str()).or_default() += 1;
    }
    let oldest = litter[0];
    let status = if litter.len() > warn_count {
        Status::Warning
    } else {
        Status::Ok
    };
    let mut top: Vec<(&str, usize)> = by_image.iter().map(|(k, v)| (*k, *v)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let summary = format!(
        "{} left by `docker run` without --rm (generated names, e.g. {}), the oldest created {} ago; most from {} ({})",
        plural(litter.len(), "stopped container", "stopped containers"),
        litter.last().map_or("", |c| c.name.as_str()),
        human_age(age(now, oldest.created)),
        top[0].0,
        top[0].1,
    );
    let evidence = json!({
        "count": litter.len(),
        "oldest": { "id": oldest.id, "name": oldest.name, "created": oldest.created.map(when) },
        "by_image": by_image,
        "containers": capped(&litter, |c| {
            let mut v = c.brief();
            if let Some(o) = v.as_object_mut() {
                o.insert("created".into(), json!(c.created.map(when)));
                o.insert("command".into(), json!(c.command()));
            }
            v
        }),
        "thresholds": thresholds,
    });
    let f = Finding::new(status, summary).evidence(evidence);
    if status == Status::Ok {
        return f;
    }
    f.remedy(
        "Stop the habit: `docker run --rm …` for throwaway runs (the container goes when it exits), `--name …` for the ones you mean to keep. Remove what is left with `dockhand gc` (a dry run; add --apply to act).",
    )
}

// ---------------------------------------------------------------------------------------------
// containers.restart-loop
// ---------------------------------------------------------------------------------------------

/// How far back `die` events are counted.
const DIE_WINDOW_SECS: u64 = 3600;
/// The daemon keeps this many recent events of every kind (moby's events buffer): on a host
/// with health checks every second, that is about a minute and a half.
const EVENTS_KEPT: usize = 256;

/// A `die` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Die {
    pub id: String,
    pub name: String,
    /// Seconds since the epoch.
    pub time: f64,
    pub exit_code: Option<i64>,
}

/// What the daemon's event buffer holds for the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    pub dies: Vec<Die>,
    /// Events of every kind returned.
    pub total: usize,
    /// The oldest event's time: with a full buffer, how far back the counts reach.
    pub oldest: Option<f64>,
}

fn event_time(e: &Value) -> Option<f64> {
    e.get("timeNano")
        .and_then(Value::as_u64)
        .map(|n| n as f64 / 1e9)
        .or_else(|| e.get("time").and_then(Value::as_u64).map(|s| s as f64))
}

/// The `/events` answer: one JSON object per line.
pub fn parse_events(body: &str) -> Events {
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

/// Why a container counts as looping, if it does.
pub fn loop_reasons(
    restarting: bool,
    restart_count: u64,
    dies: usize,
    restart_th: f64,
    dies_th: f64,
) -> Vec<String> {
    let mut why = Vec::new();
    if restarting && restart_count >= 1 {
        why.push("restarting now".to_string());
    }
    if restart_count > 0 && restart_count as f64 >= restart_th {
        why.push(format!("restarted {restart_count} times"));
    }
    if dies > 0 && dies as f64 >= dies_th {
        why.push(format!("died {dies} times in the last hour"));
    }
    why
}

/// `containers.restart-loop`: containers that die and are restarted again and again.
pub async fn restart_loop(ctx: &Ctx<'_>) -> Finding {
    const ID: &str = "containers.restart-loop";
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let restart_th = ctx.th(ID, "restart_count");
    let dies_th = ctx.th(ID, "dies_per_hour");
    let now = now();
    let since = (now as u64).saturating_sub(DIE_WINDOW_SECS);
    // An `until` makes the engine answer from its buffer and close instead of streaming. It
    // carries the nanoseconds: a whole-second `until` would drop this second's events.
    let until = format!("{}.{:09}", now as u64, (now.fract() * 1e9) as u64);
    // Every kind of event, not only `die`: the oldest one says how far back the buffer reaches.
    let path = format!("/events?since={since}&until={until}");
    let (events, events_error) = match ctx.engine.get(&path).await {
        Ok(r) => (parse_events(&String::from_utf8_lossy(&r.value.body)), None),
        Err(e) => (Events::default(), Some(err_json(&e))),
    };
    let dies = &events.dies;
    let full = events.total >= EVENTS_KEPT;
    let covers = if full {
        events.oldest.map_or(0, |o| (now - o).max(0.0) as u64)
    } else {
        DIE_WINDOW_SECS
    };
    // By name: a container re-created under the same name by a supervisor
    // (`docker run --rm --name web` in a systemd unit with Restart=always) loops too.
    let mut dies_by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for d in dies {
        *dies_by_name.entry(d.name.as_str()).or_default() += 1;
    }
    let mut looping: Vec<(Value, String, String)> = Vec::new();
    for c in &all {
        let n = dies_by_name.get(c.name.as_str()).copied().unwrap_or(0);
        let why = loop_reasons(
            c.state == "restarting",
            c.restart_count,
            n,
            restart_th,
            dies_th,
        );
        if why.is_empty() {
            continue;
        }
        let mut v = c.brief();
        if let Some(o) = v.as_object_mut() {
            o.insert("restart_count".into(), json!(c.restart_count));
            o.insert("restart_policy".into(), json!(c.restart_policy));
            o.insert("dies_last_hour".into(), json!(n));
            o.insert("last_exit_code".into(), json!(c.exit_code));
            o.insert("oom_killed".into(), json!(c.oom_killed));
            o.insert("error".into(), json!(c.error));
            o.insert("started_at".into(), json!(c.started_at.map(when)));
            o.insert("finished_at".into(), json!(c.finished_at.map(when)));
            o.insert("reasons".into(), json!(why));
        }
        looping.push((v, c.name.clone(), why.join(", ")));
    }
    // Names that die often but no longer exist: re-created each time.
    for (name, n) in &dies_by_name {
        if name.is_empty() || all.iter().any(|c| c.name == *name) {
            continue;
        }
        let why = loop_reasons(false, 0, *n, restart_th, dies_th);
        if !why.is_empty() {
            looping.push((
                json!({ "id": Value::Null, "name": name, "state": "removed", "dies_last_hour": n, "reasons": why }),
                name.to_string(),
                format!("{} (re-created each time)", why.join(", ")),
            ));
        }
    }
    let events_ev = json!({
        "window_secs": DIE_WINDOW_SECS,
        "events": events.total,
        "dies": dies.len(),
        "buffer_full": full,
        "covers_secs": covers,
        "error": events_error,
        "note": format!("the daemon keeps only its last {EVENTS_KEPT} events of every kind: death counts are lower bounds"),
    });
    let reach = if full {
        format!(
            " (the daemon's {EVENTS_KEPT}-event buffer reaches back only {})",
            human_age(covers)
        )
    } else {
        String::new()
    };
    let thresholds = json!({ "restart_count": restart_th, "dies_per_hour": dies_th });
    if looping.is_empty() {
        let mut summary = format!(
            "no container restarts in a loop ({} in the last hour{reach})",
            plural(dies.len(), "container death", "container deaths")
        );
        if events_error.is_some() {
            summary = "no container restarts in a loop by its restart count (the engine's events could not be read)".into();
        }
        return Finding::new(Status::Ok, summary).evidence(json!({
            "count": 0, "containers": [], "events": events_ev, "thresholds": thresholds,
        }));
    }
    let first = &looping[0];
    let summary = format!(
        "{} in a restart loop: {} ({}){}{reach}",
        plural(looping.len(), "container", "containers"),
        first.1,
        first.2,
        if looping.len() > 1 {
            format!(
                ", and {}",
                names_list(looping[1..].iter().map(|l| l.1.as_str()), 3)
            )
        } else {
            String::new()
        }
    );
    let name = &first.1;
    Finding::new(Status::Warning, summary)
        .evidence(json!({
            "count": looping.len(),
            "containers": capped(&looping, |l| l.0.clone()),
            "events": events_ev,
            "thresholds": thresholds,
        }))
        .remedy(format!(
            "Find out why it dies before anything else: `docker logs --tail 50 {name}` and `docker inspect --format '{{{{.State.ExitCode}}}} {{{{.State.OOMKilled}}}} {{{{.State.Error}}}}' {name}` (137 with OOMKilled: raise its memory limit). Do not restart a loop by hand or by script; to stop it while you fix the cause: `docker update --restart=no {name}` then `docker stop {name}`."
        ))
}

// ---------------------------------------------------------------------------------------------
// containers.unhealthy
// ---------------------------------------------------------------------------------------------

/// How long a health check has been failing, as far as the kept results tell: from the start of
/// the oldest failure in the unbroken run of failures at the end of the log. With a streak
/// longer than the log, the streak times the interval is the better estimate.
pub fn failing_since(h: &Health, interval: Option<Duration>, now: f64) -> Option<f64> {
    let run: Vec<&Probed> = h
        .log
        .iter()
        .rev()
        .take_while(|p| p.exit_code != 0)
        .collect();
    let from_log = run.last().and_then(|p| p.start.or(p.end));
    let from_streak = interval
        .filter(|_| h.failing_streak as usize > run.len())
        .map(|i| now - i.as_secs_f64() * h.failing_streak as f64);
    match (from_log, from_streak) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `containers.unhealthy`: running containers whose health check fails.
pub async fn unhealthy(ctx: &Ctx<'_>) -> Finding {
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let now = now();
    let sick: Vec<(&Ctr, &Health)> = all
        .iter()
        .filter(|c| matches!(c.state.as_str(), "running" | "paused"))
        .filter_map(|c| Some((c, c.health.as_ref().filter(|h| h.status == "unhealthy")?)))
        .collect();
    let with_checks = all
        .iter()
        .filter(|c| c.health.is_some() && c.state == "running")
        .count();
    if sick.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "no unhealthy containers ({} running with a health check)",
                with_checks
            ),
        )
        .evidence(json!({ "count": 0, "containers": [], "with_health_check": with_checks }));
    }
    let items: Vec<Value> = sick
        .iter()
        .map(|(c, h)| {
            let since = failing_since(h, c.health_interval, now);
            let last = h.log.last();
            let mut v = c.brief();
            if let Some(o) = v.as_object_mut() {
                o.insert("failing_streak".into(), json!(h.failing_streak));
                o.insert("failing_since".into(), json!(since.map(when)));
                o.insert(
                    "failing_for_secs".into(),
                    json!(since.map(|s| age(now, Some(s)))),
                );
                o.insert(
                    "interval_secs".into(),
                    json!(c.health_interval.map(|i| i.as_secs_f64())),
                );
                o.insert("last_exit_code".into(), json!(last.map(|p| p.exit_code)));
                o.insert(
                    "last_output".into(),
                    json!(last.map(|p| p.output.chars().take(300).collect::<String>())),
                );
            }
            v
        })
        .collect();
    let (c, h) = sick[0];
    let for_how_long = failing_since(h, c.health_interval, now)
        .map(|s| format!(", failing for at least {}", human_age(age(now, Some(s)))))
        .unwrap_or_default();
    let summary = format!(
        "{} unhealthy: {} ({} failed checks in a row{for_how_long}){}",
        plural(sick.len(), "container", "containers"),
        c.name,
        h.failing_streak,
        if sick.len() > 1 {
            format!(
                ", and {}",
                names_list(sick[1..].iter().map(|(c, _)| c.name.as_str()), 3)
            )
        } else {
            String::new()
        }
    );
    let name = &c.name;
    Finding::new(Status::Warning, summary)
        .evidence(json!({
            "count": sick.len(),
            "containers": capped(&items, Value::clone),
            "with_health_check": with_checks,
        }))
        .remedy(format!(
            "Read what the check says: `docker inspect --format '{{{{json .State.Health}}}}' {name}` and `docker logs --tail 50 {name}`; fix the service (or the check). A single `docker restart {name}` helps a wedged service; restarting it again and again does not — use a budget and back off."
        ))
}

// ---------------------------------------------------------------------------------------------
// containers.misplaced-flags
// ---------------------------------------------------------------------------------------------

/// A `docker run` / `docker create` option: long name, short letter, whether it takes a value,
/// and whether the long name is Docker's own (unlikely to be a program's flag).
struct DockerFlag {
    long: &'static str,
    short: Option<char>,
    value: bool,
    distinctive: bool,
}

const fn f(long: &'static str, short: Option<char>, value: bool, distinctive: bool) -> DockerFlag {
    DockerFlag {
        long,
        short,
        value,
        distinctive,
    }
}

/// The options of `docker run` that matter here (docker/cli `opts.go`), most used first.
const DOCKER_FLAGS: &[DockerFlag] = &[
    f("name", None, true, true),
    f("detach", Some('d'), false, true),
    f("rm", None, false, true),
    f("interactive", Some('i'), false, true),
    f("tty", Some('t'), false, true),
    f("publish", Some('p'), true, true),
    f("publish-all", Some('P'), false, true),
    f("env", Some('e'), true, false),
    f("env-file", None, true, true),
    f("volume", Some('v'), true, false),
    f("volumes-from", None, true, true),
    f("mount", None, true, false),
    f("restart", None, true, true),
    f("network", None, true, true),
    f("net", None, true, true),
    f("network-alias", None, true, true),
    f("workdir", Some('w'), true, false),
    f("user", Some('u'), true, false),
    f("entrypoint", None, true, true),
    f("memory", Some('m'), true, false),
    f("memory-swap", None, true, true),
    f("cpus", None, true, true),
    f("cpu-shares", Some('c'), true, true),
    f("cpuset-cpus", None, true, true),
    f("privileged", None, false, true),
    f("log-driver", None, true, true),
    f("log-opt", None, true, true),
    f("label", Some('l'), true, false),
    f("label-file", None, true, true),
    f("hostname", Some('h'), true, false),
    f("add-host", None, true, true),
    f("cap-add", None, true, true),
    f("cap-drop", None, true, true),
    f("device", None, true, false),
    f("dns", None, true, false),
    f("expose", None, true, true),
    f("link", None, true, false),
    f("pid", None, true, false),
    f("ipc", None, true, true),
    f("init", None, false, false),
    f("read-only", None, false, false),
    f("security-opt", None, true, true),
    f("shm-size", None, true, true),
    f("stop-signal", None, true, true),
    f("stop-timeout", None, true, true),
    f("tmpfs", None, true, false),
    f("ulimit", None, true, true),
    f("platform", None, true, false),
    f("pull", None, true, false),
    f("gpus", None, true, true),
    f("health-cmd", None, true, true),
    f("health-interval", None, true, true),
    f("health-retries", None, true, true),
    f("no-healthcheck", None, false, true),
    f("group-add", None, true, true),
    f("runtime", None, true, true),
    f("sysctl", None, true, true),
    f("attach", Some('a'), true, false),
    f("sig-proxy", None, false, true),
    f("oom-kill-disable", None, false, true),
    f("pids-limit", None, true, true),
    f("userns", None, true, true),
    f("cgroupns", None, true, true),
    f("ip", None, true, false),
    f("mac-address", None, true, true),
];

/// How many leading arguments are `docker run` options (with their values), and whether at
/// least one of them is one no program would use (`distinctive`). Stops at the first argument
/// that is not a known option.
fn leading_flags(args: &[String]) -> (usize, bool) {
    let mut i = 0;
    let mut distinctive = false;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let Some(flag) = DOCKER_FLAGS.iter().find(|f| f.long == name) else {
                break;
            };
            distinctive |= flag.distinctive;
            i += 1;
            if flag.value && !inline {
                if i >= args.len() {
                    break;
                }
                i += 1;
            }
        } else if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) {
            // `-it`, `-d`, `-p80:80`, `-dp 80:80`: letters until one that takes a value.
            let mut takes_next = false;
            let mut known = true;
            let mut letters = 0;
            for (pos, ch) in cluster.char_indices() {
                let Some(flag) = DOCKER_FLAGS.iter().find(|f| f.short == Some(ch)) else {
                    known = false;
                    break;
                };
                letters += 1;
                if flag.value {
                    takes_next = pos + ch.len_utf8() == cluster.len();
                    break;
                }
            }
            if !known || letters == 0 {
                break;
            }
            // A cluster of two or more boolean letters (`-it`, `-dit`) is docker's habit;
            // a lone `-d` or `-p 80` could be a program's own option.
            distinctive |= letters >= 2;
            i += 1;
            if takes_next {
                if i >= args.len() {
                    break;
                }
                i += 1;
            }
        } else {
            break;
        }
    }
    (i, distinctive)
}

/// A word as a POSIX shell reads it back.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'@' | b'+' | b'%'
                )
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The flags that ended up as the command, and the command line that was meant.
#[derive(Debug, Clone, PartialEq)]
pub struct Misplaced {
    pub flags: Vec<String>,
    pub corrected: String,
}

/// When the container's command begins with `docker run` options (`docker create nginx
/// --name=nginx`), the options and the corrected command line: the options moved before the
/// image, the rest kept as the command. With an entrypoint the command is the entrypoint's
/// arguments, which may legitimately start with a program's own `-d` or `-v`: then only
/// options no program would use count (`--name`, `--rm`, `--restart`, `-it`, …).
pub fn misplaced(
    verb: &str,
    image: &str,
    cmd: &[String],
    has_entrypoint: bool,
) -> Option<Misplaced> {
    let (n, distinctive) = leading_flags(cmd);
    if n == 0 || (has_entrypoint && !distinctive) {
        return None;
    }
    let words: Vec<String> = ["docker", verb]
        .iter()
        .map(|s| s.to_string())
        .chain(cmd[..n].iter().map(|a| shell_quote(a)))
        .chain(std::iter::once(shell_quote(image)))
        .chain(cmd[n..].iter().map(|a| shell_quote(a)))
        .collect();
    Some(Misplaced {
        flags: cmd[..n].to_vec(),
        corrected: words.join(" "),
    })
}

/// `containers.misplaced-flags`: a container whose command starts with docker options.
pub async fn misplaced_flags(ctx: &Ctx<'_>) -> Finding {
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let found: Vec<(&Ctr, Misplaced)> = all
        .iter()
        .filter_map(|c| {
            // The engine does not record run vs create; a container that never started reads
            // best as `docker create`.
            let verb = if c.started_at.is_some() {
                "run"
            } else {
                "create"
            };
            Some((
                c,
                misplaced(verb, &c.image, &c.cmd, !c.entrypoint.is_empty())?,
            ))
        })
        .collect();
    if found.is_empty() {
        return Finding::new(
            Status::Ok,
            "no container's command starts with a docker option",
        )
        .evidence(json!({ "count": 0, "containers": [] }));
    }
    let items: Vec<Value> = found
        .iter()
        .map(|(c, m)| {
            let mut v = c.brief();
            if let Some(o) = v.as_object_mut() {
                o.insert("command".into(), json!(c.cmd));
                o.insert("entrypoint".into(), json!(c.entrypoint));
                o.insert("misplaced".into(), json!(m.flags));
                o.insert("corrected".into(), json!(m.corrected));
            }
            v
        })
        .collect();
    let (c, m) = &found[0];
    let summary = format!(
        "{}'s command is `{}`: docker options given after the image{}",
        c.name,
        m.flags.join(" "),
        if found.len() > 1 {
            format!(
                " (and {} more)",
                plural(found.len() - 1, "container", "containers")
            )
        } else {
            String::new()
        }
    );
    let fixes: Vec<String> = found
        .iter()
        .take(5)
        .map(|(c, m)| format!("`docker rm {}` then `{}`", c.name, m.corrected))
        .collect();
    Finding::new(Status::Warning, summary)
        .evidence(json!({ "count": found.len(), "containers": capped(&items, Value::clone) }))
        .remedy(format!(
            "Options go before the image: everything after it is the container's command. Recreate: {} (add the options you gave before the image).",
            fixes.join("; ")
        ))
}

// ---------------------------------------------------------------------------------------------
// containers.exits-immediately
// ---------------------------------------------------------------------------------------------

/// The last run of a container that is not running now: exited with 0 within `max_run` seconds
/// of starting. Returns how long it ran.
pub fn quick_clean_exit(c: &Ctr, max_run: f64) -> Option<f64> {
    if !matches!(c.state.as_str(), "exited" | "restarting") || c.exit_code != 0 {
        return None;
    }
    let (start, end) = (c.started_at?, c.finished_at?);
    // The finish can read a few ms before the start (two clocks); a finish long before the start
    // means the times are from different runs.
    if end < start - 1.0 {
        return None;
    }
    let ran = (end - start).max(0.0);
    (ran <= max_run).then_some(ran)
}

/// Whether the quick exit happened more than once: the daemon restarted it, its policy will
/// restart it, or several detached containers of the same image did the same.
pub fn repeatedly(c: &Ctr, same_image_detached: usize, same_image_th: usize) -> Option<String> {
    if c.restart_count >= 1 {
        Some(format!("restarted {} times", c.restart_count))
    } else if matches!(c.restart_policy.as_str(), "always" | "unless-stopped") {
        Some(format!("restart policy {}", c.restart_policy))
    } else if !c.attached && same_image_th > 0 && same_image_detached >= same_image_th {
        Some(format!(
            "{same_image_detached} detached containers of {} did the same",
            c.image
        ))
    } else {
        None
    }
}

/// `containers.exits-immediately`: exits with 0 right after starting, again and again — the
/// main process went to the background.
pub async fn exits_immediately(ctx: &Ctx<'_>) -> Finding {
    const ID: &str = "containers.exits-immediately";
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let max_run = ctx.th(ID, "max_run_seconds");
    let same_image_th = count_th(ctx, ID, "same_image_count");
    let quick: Vec<(&Ctr, f64)> = all
        .iter()
        .filter_map(|c| Some((c, quick_clean_exit(c, max_run)?)))
        .collect();
    let mut detached_by_image: HashMap<&str, usize> = HashMap::new();
    for (c, _) in &quick {
        if !c.attached {
            *detached_by_image.entry(c.image.as_str()).or_default() += 1;
        }
    }
    let found: Vec<(&Ctr, f64, String)> = quick
        .iter()
        .filter_map(|(c, ran)| {
            let n = detached_by_image
                .get(c.image.as_str())
                .copied()
                .unwrap_or(0);
            Some((*c, *ran, repeatedly(c, n, same_image_th)?))
        })
        .collect();
    let thresholds = json!({ "max_run_seconds": max_run, "same_image_count": same_image_th });
    if found.is_empty() {
        return Finding::new(
            Status::Ok,
            "no container keeps exiting with 0 right after it starts",
        )
        .evidence(json!({ "count": 0, "containers": [], "thresholds": thresholds }));
    }
    let items: Vec<Value> = found
        .iter()
        .map(|(c, ran, why)| {
            let mut v = c.brief();
            if let Some(o) = v.as_object_mut() {
                o.insert("ran_secs".into(), json!((ran * 1000.0).round() / 1000.0));
                o.insert("exit_code".into(), json!(c.exit_code));
                o.insert("restart_count".into(), json!(c.restart_count));
                o.insert("restart_policy".into(), json!(c.restart_policy));
                o.insert("detached".into(), json!(!c.attached));
                o.insert("command".into(), json!(c.command()));
                o.insert("why".into(), json!(why));
            }
            v
        })
        .collect();
    let (c, ran, why) = &found[0];
    let summary = format!(
        "{} exits with 0 {:.2} s after starting ({why}): its main process went to the background{}",
        c.name,
        ran,
        if found.len() > 1 {
            format!(
                " (and {} more)",
                plural(found.len() - 1, "container", "containers")
            )
        } else {
            String::new()
        }
    );
    Finding::new(Status::Warning, summary)
        .evidence(json!({
            "count": found.len(),
            "containers": capped(&items, Value::clone),
            "thresholds": thresholds,
        }))
        .remedy(format!(
            "A container lives as long as its main process. Run the service in the foreground: nginx `-g 'daemon off;'`, httpd `-DFOREGROUND`, or the program's --foreground/--nodaemon option; a shell script must `exec` the server, not start it with `&`. Its command now: `{}`.",
            c.command().join(" ")
        ))
}

// ---------------------------------------------------------------------------------------------
// containers.ghost
// ---------------------------------------------------------------------------------------------

/// What /proc says about a container's main process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidSeen {
    Alive,
    Gone,
    /// Dead but not reaped: its parent (the shim) does not collect it, so the exit never
    /// reaches the daemon.
    Zombie,
}

fn pid_seen(state: Option<char>) -> PidSeen {
    match state {
        None => PidSeen::Gone,
        Some('Z' | 'X') => PidSeen::Zombie,
        Some(_) => PidSeen::Alive,
    }
}

/// The state letter of a process, read now (`None`: no such process).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the last ')' (the command name may contain anything).
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// `containers.ghost`: the engine says running, but the container's process is gone.
pub async fn ghost(ctx: &Ctx<'_>) -> Finding {
    let all = match containers(ctx).await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let daemon_pid = match ctx.located().await {
        Some(Located::Found(d)) => d.info.pid,
        Some(Located::Remote) => {
            return Finding::new(
                Status::Unknown,
                "the engine is on another host: its containers' processes are not visible here",
            );
        }
        Some(Located::NotRunning { .. }) => {
            return Finding::new(
                Status::Unknown,
                "the daemon's process is not visible from here (another pid namespace, or /proc is hidden): containers' processes cannot be checked",
            );
        }
        None => {
            return Finding::new(Status::Unknown, "/proc did not answer within the deadline");
        }
    };
    // Containers' pids are numbers in the daemon's pid namespace: from another one (a rootless
    // daemon with its own, dockhand in a container) every container would look gone.
    let other_ns = blocking(ctx.timeout(), move || {
        let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
        match (ns("self"), ns(&daemon_pid.to_string())) {
            (Some(a), Some(b)) => a != b,
            _ => false, // unreadable (not root): the visibility check below still applies
        }
    })
    .await
    .unwrap_or(false);
    if other_ns {
        return Finding::new(
            Status::Unknown,
            format!(
                "the daemon (pid {daemon_pid}) runs in another pid namespace: its containers' pids mean nothing here"
            ),
        );
    }
    let Some(procs) = ctx.processes().await else {
        return Finding::new(Status::Unknown, "/proc did not answer within the deadline");
    };
    let by_pid: HashMap<i32, &crate::runtime::host::ProcRow> =
        procs.iter().map(|p| (p.pid, p)).collect();
    if !by_pid.contains_key(&daemon_pid) {
        // /proc mounted with hidepid: other users' processes are invisible, not gone.
        return Finding::new(
            Status::Unknown,
            format!(
                "the daemon's process (pid {daemon_pid}) is not in this user's view of /proc (hidepid?): run as root"
            ),
        );
    }
    let running: Vec<&Ctr> = all
        .iter()
        .filter(|c| matches!(c.state.as_str(), "running" | "paused") && c.pid > 0)
        .collect();
    let suspects: Vec<&Ctr> = running
        .iter()
        .copied()
        .filter(|c| {
            let state = by_pid.get(&(c.pid as i32)).map(|p| p.state);
            pid_seen(state) != PidSeen::Alive
        })
        .collect();
    if suspects.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "every running container's process is alive ({} checked)",
                running.len()
            ),
        )
        .evidence(json!({ "count": 0, "checked": running.len(), "containers": [] }));
    }
    // A container that exited a moment ago looks the same until the daemon hears of it: look
    // again after a pause, and ask the engine once more about these few.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ghosts = Vec::new();
    for c in suspects {
        let pid = c.pid as i32;
        let seen = blocking(ctx.timeout(), move || pid_seen(proc_state(pid))).await;
        let Some(seen) = seen.filter(|s| *s != PidSeen::Alive) else {
            continue;
        };
        let still = match ctx
            .engine
            .get_json::<Value>(&format!("/containers/{}/json", c.id))
            .await
        {
            Ok(t) => {
                t.value.pointer("/State/Running").and_then(Value::as_bool) == Some(true)
                    && t.value.pointer("/State/Pid").and_then(Value::as_i64) == Some(c.pid)
            }
            // Gone from the engine as well: not a ghost.
            Err(_) => false,
        };
        if !still {
            continue;
        }
        let shim = procs.iter().find(|p| {
            p.comm.starts_with("containerd-shim")
                && p.cmdline.windows(2).any(|w| w[0] == "-id" && w[1] == c.id)
        });
        let parent = by_pid.get(&pid).map(|p| p.ppid);
        ghosts.push((c, seen, shim, parent));
    }
    if ghosts.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "every running container's process is alive ({} checked; some had just exited)",
                running.len()
            ),
        )
        .evidence(json!({ "count": 0, "checked": running.len(), "containers": [] }));
    }
    let items: Vec<Value> = ghosts
        .iter()
        .map(|(c, seen, shim, parent)| {
            let mut v = c.brief();
            if let Some(o) = v.as_object_mut() {
                o.insert("pid".into(), json!(c.pid));
                o.insert(
                    "process".into(),
                    json!(match seen {
                        PidSeen::Gone => "gone",
                        PidSeen::Zombie => "zombie",
                        PidSeen::Alive => "alive",
                    }),
                );
                o.insert("parent_pid".into(), json!(parent));
                o.insert(
                    "shim".into(),
                    json!(shim.map(|s| json!({ "pid": s.pid, "state": s.state.to_string() }))),
                );
                o.insert("started_at".into(), json!(c.started_at.map(when)));
            }
            v
        })
        .collect();
    let (c, seen, shim, _) = &ghosts[0];
    let what = match seen {
        PidSeen::Zombie => "is dead but not reaped (a zombie)",
        _ => "is gone",
    };
    let shim_note = match shim {
        Some(s) if s.state == 'T' => format!("; its shim {} is stopped", s.pid),
        Some(s) => format!("; its shim is pid {}", s.pid),
        None => "; no shim serves it".to_string(),
    };
    let summary = format!(
        "{} the engine calls running {} no process: {}'s pid {} {what}{shim_note} (moby#43491){}",
        plural(ghosts.len(), "container", "containers"),
        if ghosts.len() == 1 { "has" } else { "have" },
        c.name,
        c.pid,
        if ghosts.len() > 1 {
            format!(
                ", and {}",
                names_list(ghosts[1..].iter().map(|g| g.0.name.as_str()), 3)
            )
        } else {
            String::new()
        }
    );
    let first_step = match shim {
        Some(s) if s.state == 'T' => format!(
            "Its shim (pid {}) is stopped: `kill -CONT {}` lets it collect the exit and tell the daemon. ",
            s.pid, s.pid
        ),
        _ => String::new(),
    };
    Finding::new(Status::Critical, summary)
        .evidence(json!({ "count": ghosts.len(), "checked": running.len(), "containers": items }))
        .remedy(format!(
            "{first_step}The daemon lost the container's exit. Try `docker rm -f {}` (or `docker restart` it); if the engine still says running, restart the daemon so it re-reads containerd's state — `dockhand recover` does it live-restore-aware.",
            c.name
        ))
}

// ---------------------------------------------------------------------------------------------
// containers.logs
// ---------------------------------------------------------------------------------------------

const MIB: f64 = 1024.0 * 1024.0;

/// `containers.logs`: container logs over a size threshold, and logs nothing bounds.
pub async fn logs(ctx: &Ctx<'_>) -> Finding {
    const ID: &str = "containers.logs";
    if !ctx.engine_answered().await {
        return super::engine_silent();
    }
    let warn = ctx.th(ID, "size_warn_mib") * MIB;
    let critical = ctx.th(ID, "size_critical_mib") * MIB;
    let df = match ctx.df().await {
        Ok(df) => df,
        Err(e) => {
            return Finding::new(
                Status::Unknown,
                format!("the storage map (logs' sizes) could not be taken: {e}"),
            );
        }
    };
    let rows = &df.containers.items;
    let with_log: Vec<_> = rows
        .iter()
        .filter_map(|r| Some((r, r.log.as_ref()?)))
        .collect();
    if with_log.is_empty() && !rows.is_empty() {
        return Finding::new(
            Status::Unknown,
            format!(
                "containers' log files under {} are not readable by this user (run as root)",
                df.data_root.display()
            ),
        )
        .evidence(json!({ "notes": df.notes }));
    }
    let total: u64 = with_log.iter().map(|(_, l)| l.bytes).sum();
    let mut big: Vec<_> = with_log
        .iter()
        .filter(|(_, l)| l.bytes > 0 && l.bytes as f64 >= warn)
        .collect();
    big.sort_by_key(|b| std::cmp::Reverse(b.1.bytes));
    let unbounded: Vec<_> = with_log.iter().filter(|(_, l)| l.unbounded()).collect();
    let status = big.iter().fold(Status::Ok, |s, (_, l)| {
        s.worst(if l.bytes as f64 >= critical {
            Status::Critical
        } else {
            Status::Warning
        })
    });
    let unbounded_note = if unbounded.is_empty() {
        String::new()
    } else {
        format!(
            "; {} grow without bound (json-file, no max-size)",
            plural(unbounded.len(), "log", "logs")
        )
    };
    let row = |r: &crate::df::ContainerRow, l: &crate::runtime::storage::LogInfo| {
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
    };
    let evidence = json!({
        "count": with_log.len(),
        "total_bytes": total,
        "big": capped(&big, |(r, l)| row(r, l)),
        "big_count": big.len(),
        "unbounded": capped(&unbounded, |(r, l)| row(r, l)),
        "unbounded_count": unbounded.len(),
        "thresholds": { "size_warn_mib": warn / MIB, "size_critical_mib": critical / MIB },
    });
    if big.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "{} take {} in all, none {} or more{unbounded_note}",
                plural(with_log.len(), "container log", "container logs"),
                human_bytes(total),
                human_bytes(warn as u64),
            ),
        )
        .evidence(evidence);
    }
    let (r, l) = big[0];
    let summary = format!(
        "{} {} or more: the biggest is {}'s at {} ({}{}){unbounded_note}",
        plural(big.len(), "container log is", "container logs are"),
        human_bytes(warn as u64),
        r.name,
        human_bytes(l.bytes),
        l.driver,
        match &l.max_size {
            Some(m) => format!(", max-size {m}"),
            None if l.driver == "json-file" => ", no max-size".to_string(),
            None => String::new(),
        }
    );
    let path = l
        .files
        .first()
        .map_or_else(|| "<log file>".to_string(), |p| p.display().to_string());
    Finding::new(status, summary).evidence(evidence).remedy(format!(
        "Bound the logs: in daemon.json set \"log-opts\": {{\"max-size\": \"10m\", \"max-file\": \"3\"}} (restart the daemon; it applies to containers created afterwards), and recreate {} with `--log-opt max-size=10m --log-opt max-file=3`. To reclaim the space now, truncate the file in place: `truncate -s 0 {path}` (deleting it frees nothing while the daemon holds it open).",
        r.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn adjectives_are_sorted_for_binary_search() {
        assert!(DOCKER_ADJECTIVES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn generated_names() {
        for (name, want) in [
            ("eloquent_mcclintock", true),
            ("crazy_napier", true),
            ("zen_turing7", true),
            ("boring_wozniak", true),
            ("web", false),
            ("my_app", false),
            ("eloquent_", false),
            ("eloquent_McClintock", false),
            ("eloquent_mcclintock_2", false),
            ("eloquent-mcclintock", false),
            ("_mcclintock", false),
            ("eloquent_7", false),
            ("compose_web_1", false),
        ] {
            assert_eq!(is_generated_name(name), want, "{name}");
        }
    }

    #[test]
    fn parses_engine_times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("2026-11-28T06:00:22Z"), Some(1_795_845_622.0));
        let t = parse_time("2026-11-28T06:00:22.5Z").expect("fraction");
        assert!((t - 1_795_845_622.5).abs() < 1e-6);
        let n = parse_time("2026-11-28T06:00:22.119332206Z").expect("nanos");
        assert!((n - 1_795_845_622.119_332).abs() < 1e-3);
        assert_eq!(
            parse_time("2026-11-28T07:00:22+01:00"),
            Some(1_795_845_622.0)
        );
        assert_eq!(parse_time("2026-11-28T06:00:22"), None);
        assert_eq!(parse_time("yesterday at noon, roughly"), None);
    }

    #[test]
    fn state_words_follow_the_engine() {
        let z = "0001-01-01T00:00:00Z";
        let t = "2026-01-01T00:00:00Z";
        for (state, want) in [
            (json!({"Status": "exited"}), "exited"),
            (
                json!({"Running": true, "Restarting": true, "StartedAt": t}),
                "restarting",
            ),
            (
                json!({"Running": true, "Paused": true, "StartedAt": t}),
                "paused",
            ),
            (json!({"Running": true, "StartedAt": t}), "running"),
            (
                json!({"Running": false, "Dead": true, "StartedAt": t}),
                "dead",
            ),
            (
                json!({"Running": false, "RemovalInProgress": true, "StartedAt": t}),
                "removing",
            ),
            (json!({"Running": false, "StartedAt": z}), "created"),
            (json!({"Running": false, "StartedAt": t}), "exited"),
        ] {
            assert_eq!(state_word(&state), want, "{state}");
        }
    }

    #[test]
    fn reads_a_daemon_record() {
        let doc = json!({
            "ID": "ignored", "Id": "abc", "Name": "/web", "Created": "2026-11-28T06:00:16Z",
            "RestartCount": 3, "Path": "sh", "Args": ["-c", "sleep 100 &"],
            "Config": {"Image": "busybox", "Cmd": ["sh", "-c", "sleep 100 &"], "Entrypoint": null,
                       "AttachStdout": false, "Healthcheck": {"Test": ["CMD", "false"], "Interval": 1_000_000_000u64}},
            "HostConfig": {"AutoRemove": false, "RestartPolicy": {"Name": "always"}},
            "State": {"Running": true, "Restarting": true, "Pid": 0, "ExitCode": 0,
                      "StartedAt": "2026-11-28T06:00:21.87Z", "FinishedAt": "2026-11-28T06:00:21.91Z",
                      "Health": {"Status": "unhealthy", "FailingStreak": 2, "Log": [
                          {"Start": "2026-11-28T06:00:19Z", "End": "2026-11-28T06:00:19.1Z", "ExitCode": 1, "Output": "no"}]}}
        });
        let c = Ctr::from_doc(&doc).expect("parses");
        assert_eq!(c.id, "abc");
        assert_eq!(c.name, "web");
        assert_eq!(c.state, "restarting");
        assert_eq!(c.restart_count, 3);
        assert_eq!(c.restart_policy, "always");
        assert!(!c.attached);
        assert!(c.entrypoint.is_empty());
        assert_eq!(c.health_interval, Some(Duration::from_secs(1)));
        let h = c.health.as_ref().expect("health");
        assert_eq!(
            (h.status.as_str(), h.failing_streak, h.log.len()),
            ("unhealthy", 2, 1)
        );
        assert!(Ctr::from_doc(&json!({"Name": "/x"})).is_none());
    }

    #[test]
    fn misplaced_flags_are_moved_before_the_image() {
        // (image, command, has an entrypoint, expected (misplaced flags, corrected line))
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            bool,
            Option<(&'a [&'a str], &'a str)>,
        );
        let cases: &[Case] = &[
            (
                "busybox",
                &["--name=web"],
                false,
                Some((&["--name=web"], "docker create --name=web busybox")),
            ),
            (
                "nginx",
                &["--name", "web", "-p", "80:80"],
                false,
                Some((
                    &["--name", "web", "-p", "80:80"],
                    "docker create --name web -p 80:80 nginx",
                )),
            ),
            (
                "busybox",
                &["-it", "sh"],
                false,
                Some((&["-it"], "docker create -it busybox sh")),
            ),
            (
                "busybox",
                &["-dp", "8080:80", "httpd", "-f"],
                false,
                Some((
                    &["-dp", "8080:80"],
                    "docker create -dp 8080:80 busybox httpd -f",
                )),
            ),
            (
                "busybox",
                &["--rm", "-e", "A=b c", "sh", "-c", "echo $A"],
                false,
                Some((
                    &["--rm", "-e", "A=b c"],
                    "docker create --rm -e 'A=b c' busybox sh -c 'echo $A'",
                )),
            ),
            // With an entrypoint, a program's own short option is no evidence...
            ("redis", &["-v"], true, None),
            ("app", &["-d", "--verbose"], true, None),
            // ...but docker's own long options are.
            (
                "nginx",
                &["--name=nginx"],
                true,
                Some((&["--name=nginx"], "docker create --name=nginx nginx")),
            ),
            // Ordinary commands.
            ("busybox", &["sleep", "300"], false, None),
            ("busybox", &["sh", "-c", "--name=x"], false, None),
            ("busybox", &[], false, None),
            ("busybox", &["--unknown-flag"], false, None),
            ("busybox", &["-"], false, None),
        ];
        for (image, cmd, ep, want) in cases {
            let got = misplaced("create", image, &strs(cmd), *ep);
            let want = want.map(|(flags, line)| Misplaced {
                flags: strs(flags),
                corrected: line.to_string(),
            });
            assert_eq!(got, want, "{image} {cmd:?} entrypoint={ep}");
        }
        let run = misplaced("run", "busybox", &strs(&["--name=web"]), false).expect("found");
        assert_eq!(run.corrected, "docker run --name=web busybox");
    }

    fn ctr(state: &str, exit: i64, ran: f64) -> Ctr {
        Ctr {
            id: "x".into(),
            name: "x".into(),
            image: "nginx".into(),
            state: state.into(),
            exit_code: exit,
            started_at: Some(1000.0),
            finished_at: Some(1000.0 + ran),
            ..Ctr::default()
        }
    }

    #[test]
    fn quick_exits() {
        // Binary fractions, so the subtraction is exact.
        assert_eq!(quick_clean_exit(&ctr("exited", 0, 0.25), 1.0), Some(0.25));
        assert_eq!(
            quick_clean_exit(&ctr("restarting", 0, 0.0625), 1.0),
            Some(0.0625)
        );
        // The finish a hair before the start (two clocks): ran for no time at all.
        assert_eq!(quick_clean_exit(&ctr("exited", 0, -0.0625), 1.0), Some(0.0));
        assert_eq!(quick_clean_exit(&ctr("exited", 0, 5.0), 1.0), None);
        assert_eq!(quick_clean_exit(&ctr("exited", 1, 0.25), 1.0), None);
        assert_eq!(quick_clean_exit(&ctr("running", 0, 0.25), 1.0), None);
        assert_eq!(quick_clean_exit(&ctr("exited", 0, -100.0), 1.0), None);
        assert_eq!(quick_clean_exit(&ctr("exited", 0, 1.5), 2.5), Some(1.5));
        assert_eq!(quick_clean_exit(&ctr("exited", 0, 1.0), 1.0), Some(1.0));
        let mut never = ctr("created", 0, 0.0);
        never.started_at = None;
        assert_eq!(quick_clean_exit(&never, 1.0), None);
    }

    #[test]
    fn repeated_quick_exits() {
        let mut c = ctr("exited", 0, 0.1);
        c.attached = true;
        assert_eq!(repeatedly(&c, 0, 2), None);
        c.restart_count = 2;
        assert!(repeatedly(&c, 0, 2).is_some());
        c.restart_count = 0;
        c.restart_policy = "unless-stopped".into();
        assert!(repeatedly(&c, 0, 2).is_some());
        c.restart_policy = "on-failure".into();
        assert_eq!(repeatedly(&c, 0, 2), None);
        // A foreground `docker run` that finished is not evidence, however many there are.
        assert_eq!(repeatedly(&c, 5, 2), None);
        c.attached = false;
        assert_eq!(repeatedly(&c, 1, 2), None);
        assert!(repeatedly(&c, 2, 2).is_some());
        assert_eq!(repeatedly(&c, 2, 0), None);
    }

    #[test]
    fn loop_reasons_follow_thresholds() {
        assert!(loop_reasons(false, 0, 0, 10.0, 10.0).is_empty());
        assert!(loop_reasons(true, 0, 0, 10.0, 10.0).is_empty());
        assert_eq!(loop_reasons(true, 1, 0, 10.0, 10.0), ["restarting now"]);
        assert_eq!(
            loop_reasons(false, 10, 0, 10.0, 10.0),
            ["restarted 10 times"]
        );
        assert!(loop_reasons(false, 9, 9, 10.0, 10.0).is_empty());
        assert_eq!(
            loop_reasons(false, 0, 12, 10.0, 10.0),
            ["died 12 times in the last hour"]
        );
        // A zero threshold does not make every container a loop.
        assert!(loop_reasons(false, 0, 0, 0.0, 0.0).is_empty());
    }

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
    fn failing_since_uses_the_log_then_the_streak() {
        let p = |start: f64, code: i64| Probed {
            start: Some(start),
            end: Some(start + 0.1),
            exit_code: code,
            output: String::new(),
        };
        let h = Health {
            status: "unhealthy".into(),
            failing_streak: 2,
            log: vec![p(100.0, 0), p(110.0, 1), p(120.0, 1)],
        };
        assert_eq!(
            failing_since(&h, Some(Duration::from_secs(10)), 130.0),
            Some(110.0)
        );
        let long = Health {
            failing_streak: 50,
            log: vec![p(110.0, 1), p(120.0, 1)],
            ..h.clone()
        };
        // 50 failures, 10 s apart: it has failed for about 500 s, longer than the log shows.
        assert_eq!(
            failing_since(&long, Some(Duration::from_secs(10)), 130.0),
            Some(-370.0)
        );
        assert_eq!(failing_since(&long, None, 130.0), Some(110.0));
        let empty = Health {
            log: vec![],
            failing_streak: 0,
            ..h
        };
        assert_eq!(failing_since(&empty, None, 130.0), None);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("--name=web"), "--name=web");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn pid_states() {
        assert_eq!(pid_seen(None), PidSeen::Gone);
        assert_eq!(pid_seen(Some('Z')), PidSeen::Zombie);
        assert_eq!(pid_seen(Some('S')), PidSeen::Alive);
        assert_eq!(pid_seen(Some('T')), PidSeen::Alive);
        let me = std::process::id() as i32;
        assert!(matches!(proc_state(me), Some('R' | 'S')));
    }
}
