//! The journal as history: records joined into one entry per step (intent + signals + outcome)
//! and one summary per run, filtered by time and kind. What `dockhand journal` shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::journal::{self, Body, Contents, Record, Totals};
use super::plan::KINDS;
use crate::units::parse_instant;

/// One signal sent during a step.
#[derive(Debug, Clone, Serialize)]
pub struct SignalEntry {
    pub at: String,
    pub pid: i32,
    pub signal: String,
    pub state_before: String,
    pub state_after: String,
    pub waited_ms: u64,
}

/// One step, as the journal tells it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// When it started (its intent), or when it was recorded as not started.
    pub at: String,
    pub run: String,
    pub command: Option<String>,
    pub step: u64,
    pub kind: String,
    pub target: String,
    pub describe: Option<String>,
    pub reason: Option<String>,
    /// done, already-gone, in-use, changed, refused, failed, not-started; `unfinished` when the
    /// run stopped during the step (no outcome was written), `in-progress` when that run is
    /// still going.
    pub outcome: String,
    pub detail: Option<String>,
    pub bytes: Option<u64>,
    pub seen: Value,
    pub seen_after: Value,
    pub signals: Vec<SignalEntry>,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<f64>,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run: String,
    pub command: String,
    pub pid: u32,
    pub args: Vec<String>,
    pub host: Option<String>,
    pub endpoint: String,
    pub dockhand: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// completed, interrupted, abandoned; `unfinished` without a run-end record (killed, or
    /// the machine went down), `in-progress` when it holds the lock now.
    pub status: String,
    pub totals: Option<Totals>,
    /// Why a failed run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<SystemTime>,
    /// A kind (`container.remove`) or an area (`container`).
    pub kind: Option<String>,
}

/// `--kind` matches the kind itself or its area (the part before the dot).
pub fn kind_matches(kind: &str, pattern: &str) -> bool {
    let p = pattern.trim_end_matches('.');
    kind == p || kind.strip_prefix(p).is_some_and(|r| r.starts_with('.'))
}

/// Checks a `--kind` value against the kinds dockhand knows, so a typo is a clear error rather
/// than an empty list.
pub fn check_kind(pattern: &str) -> Result<(), String> {
    if KINDS.iter().any(|k| kind_matches(k, pattern)) {
        return Ok(());
    }
    let mut areas: Vec<&str> = KINDS.iter().filter_map(|k| k.split('.').next()).collect();
    areas.dedup();
    Err(format!(
        "--kind {pattern:?} matches no action; use an area ({}) or a kind ({})",
        areas.join(", "),
        KINDS.join(", ")
    ))
}

/// The journal, read and joined.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub journal: PathBuf,
    pub exists: bool,
    pub bytes: u64,
    pub runs: Vec<RunSummary>,
    pub entries: Vec<Entry>,
    /// Steps in the journal before filtering.
    pub total_entries: usize,
    pub notes: Vec<String>,
}

/// Reads the journal at `path` and builds its history. `live_run` is the run id holding the lock
/// now, if any (its open steps are "in-progress", not "unfinished").
pub fn load(path: &Path, filter: &Filter, live_run: Option<&str>) -> std::io::Result<History> {
    match journal::read(path)? {
        None => Ok(History {
            journal: path.to_path_buf(),
            exists: false,
            bytes: 0,
            runs: Vec::new(),
            entries: Vec::new(),
            total_entries: 0,
            notes: Vec::new(),
        }),
        Some(c) => {
            let notes = c.notes(path);
            let bytes = c.bytes;
            let (runs, entries, total) = build(c, filter, live_run);
            Ok(History {
                journal: path.to_path_buf(),
                exists: true,
                bytes,
                runs,
                entries,
                total_entries: total,
                notes,
            })
        }
    }
}

fn at_or_after(at: &str, since: Option<SystemTime>) -> bool {
    match (since, parse_instant(at)) {
        (Some(s), Some(t)) => t >= s,
        // An unreadable time is shown rather than hidden.
        _ => true,
    }
}

/// Joins records into runs and entries (in journal order, newest last) and filters them.
/// Returns the runs and entries shown and the number of entries before filtering.
pub fn build(
    c: Contents,
    filter: &Filter,
    live_run: Option<&str>,
) -> (Vec<RunSummary>, Vec<Entry>, usize) {
    let (mut runs, mut entries) = join(c.records);
    if let Some(live) = live_run {
        mark_live(&mut runs, &mut entries, live);
    }
    let total = entries.len();
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| at_or_after(&e.at, filter.since))
        .filter(|e| {
            filter
                .kind
                .as_deref()
                .is_none_or(|k| kind_matches(&e.kind, k))
        })
        .collect();
    let runs: Vec<RunSummary> = runs
        .into_iter()
        .filter(|r| {
            entries.iter().any(|e| e.run == r.run)
                || (filter.kind.is_none() && at_or_after(&r.started_at, filter.since))
        })
        .collect();
    (runs, entries, total)
}

/// Joins records into runs and entries, in journal order: an intent opens an entry, signals and
/// the outcome fill it in (an outcome with no intent opens its own).
// Long on purpose: one match over every record kind, each arm the join for that kind.
fn join(records: Vec<Record>) -> (Vec<RunSummary>, Vec<Entry>) {
    let mut runs: Vec<RunSummary> = Vec::new();
    let mut run_idx: HashMap<String, usize> = HashMap::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut entry_idx: HashMap<(String, u64), usize> = HashMap::new();
    for rec in records {
        let run = rec.run;
        match rec.body {
            Body::RunStart {
                command,
                pid,
                args,
                host,
                endpoint,
                dockhand,
            } => {
                run_idx.insert(run.clone(), runs.len());
                runs.push(RunSummary {
                    run,
                    command,
                    pid,
                    args,
                    host,
                    endpoint,
                    dockhand,
                    started_at: rec.at,
                    ended_at: None,
                    status: "unfinished".into(),
                    totals: None,
                    reason: None,
                });
            }
            Body::RunEnd {
                status,
                totals,
                reason,
                ..
            } => {
                if let Some(&i) = run_idx.get(&run) {
                    runs[i].ended_at = Some(rec.at);
                    runs[i].status = status;
                    runs[i].totals = Some(totals);
                    runs[i].reason = reason;
                }
            }
            Body::Intent {
                step,
                kind,
                target,
                describe,
                reason,
                bytes,
                seen,
            } => {
                entry_idx.insert((run.clone(), step), entries.len());
                entries.push(Entry {
                    at: rec.at,
                    command: run_idx.get(&run).map(|&i| runs[i].command.clone()),
                    run,
                    step,
                    kind,
                    target,
                    describe: Some(describe),
                    reason: Some(reason),
                    outcome: "unfinished".into(),
                    detail: None,
                    bytes,
                    seen,
                    seen_after: Value::Null,
                    signals: Vec::new(),
                    finished_at: None,
                    elapsed_ms: None,
                });
            }
            Body::Signal { step, event } => {
                if let Some(&i) = entry_idx.get(&(run, step)) {
                    entries[i].signals.push(SignalEntry {
                        at: rec.at,
                        pid: event.pid,
                        signal: event.signal,
                        state_before: event.state_before,
                        state_after: event.state_after,
                        waited_ms: event.waited_ms,
                    });
                }
            }
            Body::Outcome {
                step,
                kind,
                target,
                outcome,
                detail,
                bytes,
                seen_after,
                elapsed_ms,
                reason,
            } => match entry_idx.get(&(run.clone(), step)) {
                Some(&i) => {
                    let e = &mut entries[i];
                    e.outcome = outcome;
                    e.detail = detail;
                    if bytes.is_some() {
                        e.bytes = bytes;
                    }
                    e.seen_after = seen_after;
                    e.finished_at = Some(rec.at);
                    e.elapsed_ms = Some(elapsed_ms);
                }
                // Not started: no intent precedes it.
                None => {
                    entry_idx.insert((run.clone(), step), entries.len());
                    entries.push(Entry {
                        at: rec.at.clone(),
                        command: run_idx.get(&run).map(|&i| runs[i].command.clone()),
                        run,
                        step,
                        kind,
                        target,
                        describe: None,
                        reason,
                        outcome,
                        detail,
                        bytes,
                        seen: Value::Null,
                        seen_after,
                        signals: Vec::new(),
                        finished_at: Some(rec.at),
                        elapsed_ms: Some(elapsed_ms),
                    });
                }
            },
            Body::Unknown => {}
        }
    }
    (runs, entries)
}

/// The run still writing (`live`) is in progress, not unfinished, and so are its open steps.
fn mark_live(runs: &mut [RunSummary], entries: &mut [Entry], live: &str) {
    for r in runs
        .iter_mut()
        .filter(|r| r.run == live && r.ended_at.is_none())
    {
        r.status = "in-progress".into();
    }
    for e in entries
        .iter_mut()
        .filter(|e| e.run == live && e.outcome == "unfinished")
    {
        e.outcome = "in-progress".into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::journal::{Record, record};
    use crate::actions::process::SignalEvent;

    fn at(r: Record, t: &str) -> Record {
        Record { at: t.into(), ..r }
    }

    fn contents() -> Contents {
        let start = |cmd: &str| Body::RunStart {
            command: cmd.into(),
            pid: 1,
            args: vec![cmd.into()],
            host: None,
            endpoint: "unix:///s".into(),
            dockhand: "0.1.0".into(),
        };
        let intent = |step, kind: &str| Body::Intent {
            step,
            kind: kind.into(),
            target: format!("t{step}"),
            describe: "d".into(),
            reason: "because".into(),
            bytes: Some(5),
            seen: Value::Null,
        };
        let outcome = |step, kind: &str, o: &str| Body::Outcome {
            step,
            kind: kind.into(),
            target: format!("t{step}"),
            outcome: o.into(),
            detail: None,
            bytes: None,
            seen_after: Value::Null,
            elapsed_ms: 1.0,
            reason: Some("because".into()),
        };
        let recs = vec![
            at(record("a", start("gc")), "2026-01-01T00:00:00.000Z"),
            at(
                record("a", intent(1, "container.remove")),
                "2026-01-01T00:00:01.000Z",
            ),
            at(
                record("a", outcome(1, "container.remove", "done")),
                "2026-01-01T00:00:02.000Z",
            ),
            at(
                record("a", intent(2, "process.terminate")),
                "2026-01-01T00:00:03.000Z",
            ),
            at(
                record(
                    "a",
                    Body::Signal {
                        step: 2,
                        event: SignalEvent {
                            pid: 9,
                            signal: "SIGTERM".into(),
                            state_before: "S".into(),
                            state_after: "gone".into(),
                            waited_ms: 3,
                        },
                    },
                ),
                "2026-01-01T00:00:03.500Z",
            ),
            at(
                record("a", outcome(2, "process.terminate", "done")),
                "2026-01-01T00:00:04.000Z",
            ),
            at(
                record("a", outcome(3, "image.remove", "not-started")),
                "2026-01-01T00:00:04.000Z",
            ),
            at(
                record(
                    "a",
                    Body::RunEnd {
                        status: "interrupted".into(),
                        totals: Totals::default(),
                        elapsed_ms: 4000.0,
                        reason: None,
                    },
                ),
                "2026-01-01T00:00:05.000Z",
            ),
            at(record("b", start("reap")), "2026-02-01T00:00:00.000Z"),
            at(
                record("b", intent(1, "container.stop")),
                "2026-02-01T00:00:01.000Z",
            ),
        ];
        Contents {
            records: recs,
            ..Contents::default()
        }
    }

    #[test]
    fn records_join_into_steps_and_runs() {
        let (runs, entries, total) = build(contents(), &Filter::default(), None);
        assert_eq!(total, 4);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].status, "interrupted");
        assert_eq!(runs[1].status, "unfinished");
        let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
        assert_eq!(outcomes, ["done", "done", "not-started", "unfinished"]);
        assert_eq!(entries[1].signals.len(), 1);
        assert_eq!(entries[2].reason.as_deref(), Some("because"));
        assert_eq!(entries[3].command.as_deref(), Some("reap"));
        // The run holding the lock now is in progress, not unfinished.
        let (runs, entries, _) = build(contents(), &Filter::default(), Some("b"));
        assert_eq!(runs[1].status, "in-progress");
        assert_eq!(entries[3].outcome, "in-progress");
    }

    #[test]
    fn filters_by_time_and_kind() {
        let since = parse_instant("2026-01-15T00:00:00Z");
        let (runs, entries, _) = build(contents(), &Filter { since, kind: None }, None);
        assert_eq!(entries.len(), 1);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].command, "reap");
        let (runs, entries, _) = build(
            contents(),
            &Filter {
                since: None,
                kind: Some("container".into()),
            },
            None,
        );
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["container.remove", "container.stop"]);
        assert_eq!(runs.len(), 2);
        let (_, entries, _) = build(
            contents(),
            &Filter {
                since: None,
                kind: Some("container.remove".into()),
            },
            None,
        );
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn kind_patterns() {
        assert!(kind_matches("container.remove", "container"));
        assert!(kind_matches("container.remove", "container."));
        assert!(kind_matches("container.remove", "container.remove"));
        assert!(!kind_matches("container.remove", "contain"));
        assert!(!kind_matches("container.remove", "container.stop"));
        assert!(check_kind("process").is_ok());
        assert!(check_kind("image.untag").is_ok());
        let e = check_kind("contaner").expect_err("typo");
        assert!(
            e.contains("contaner") && e.contains("container.remove"),
            "{e}"
        );
    }
}
