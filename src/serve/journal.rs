//! The journal's totals for `/metrics`: steps per command and outcome, bytes reclaimed, runs per
//! command and how they ended — read incrementally.
//!
//! [`Tally`] is pure: it is fed records and renders counters. [`Follower`] owns the file
//! position: each [`Follower::poll`] reads only what was appended since the last one, and only
//! whole lines (a run writing right now leaves a partial last line, read on the next poll). A
//! journal that was replaced (another inode) or truncated (shorter than what was read) is read
//! again from the start, and the totals start over: they are always the totals of the journal
//! as it is on disk, which Prometheus sees as a counter reset.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::actions::journal::{self, Body, Contents};
use crate::units::parse_instant;

/// The outcomes the journal writes (see `actions::journal::Body::Outcome`). Anything else is
/// counted as `other`, so a damaged file cannot create new series.
const OUTCOMES: &[&str] = &[
    "done",
    "already-gone",
    "in-use",
    "changed",
    "refused",
    "failed",
    "not-started",
];

/// How a run can end (see `Body::RunEnd`).
const STATUSES: &[&str] = &["completed", "interrupted", "failed", "abandoned"];

/// At most this many distinct commands get series of their own; more are counted as `other`.
/// dockhand has a handful of mutating commands; the bound only matters for a damaged journal.
const MAX_COMMANDS: usize = 32;

/// Runs whose start was seen and whose end was not yet: a killed run never ends, so the map is
/// bounded (an outcome of a forgotten run is counted under `unknown`).
const MAX_OPEN_RUNS: usize = 1024;

/// Counters over the journal's records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Run id → command, for runs still open.
    open: HashMap<String, String>,
    /// (command, outcome) → steps.
    steps: BTreeMap<(String, &'static str), u64>,
    /// command → bytes freed by done steps.
    bytes: BTreeMap<String, u64>,
    /// (command, status) → runs that ended.
    runs: BTreeMap<(String, &'static str), u64>,
    /// command → when its last run ended (seconds since the epoch).
    last_end: BTreeMap<String, f64>,
    /// Lines that were not records (torn, corrupt) or records of a newer format.
    skipped: u64,
    /// Bytes of the journal read so far.
    read: u64,
}

impl Tally {
    /// Counts the records of `c` (whole lines only: see [`Follower`]).
    pub fn feed(&mut self, c: Contents) {
        self.skipped += (c.garbage + c.unknown) as u64 + u64::from(c.torn_tail);
        self.read += c.bytes;
        for rec in c.records {
            match rec.body {
                Body::RunStart { command, .. } => {
                    if self.open.len() >= MAX_OPEN_RUNS
                        && let Some(k) = self.open.keys().next().cloned()
                    {
                        self.open.remove(&k);
                    }
                    let command = self.command_label(&command);
                    self.open.insert(rec.run, command);
                }
                Body::Outcome { outcome, bytes, .. } => {
                    let command = self.command_of(&rec.run);
                    let outcome = known(OUTCOMES, &outcome);
                    *self.steps.entry((command.clone(), outcome)).or_default() += 1;
                    if outcome == "done" {
                        *self.bytes.entry(command).or_default() += bytes.unwrap_or(0);
                    }
                }
                Body::RunEnd { status, .. } => {
                    let command = self
                        .open
                        .remove(&rec.run)
                        .unwrap_or_else(|| "unknown".to_string());
                    let status = known(STATUSES, &status);
                    *self.runs.entry((command.clone(), status)).or_default() += 1;
                    if let Some(t) =
                        parse_instant(&rec.at).and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    {
                        let slot = self.last_end.entry(command).or_default();
                        *slot = slot.max(t.as_secs_f64());
                    }
                }
                Body::Intent { .. } | Body::Signal { .. } | Body::Unknown => {}
            }
        }
    }

    fn command_of(&self, run: &str) -> String {
        self.open
            .get(run)
            .cloned()
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// The label a command gets: its name when it looks like one and the series stay bounded.
    fn command_label(&self, command: &str) -> String {
        let plain = !command.is_empty()
            && command.len() <= 32
            && command
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !plain {
            return "other".into();
        }
        let seen = self.bytes.contains_key(command)
            || self.steps.keys().any(|(c, _)| c == command)
            || self.runs.keys().any(|(c, _)| c == command)
            || self.open.values().any(|c| c == command);
        let distinct: std::collections::BTreeSet<&str> = self
            .steps
            .keys()
            .map(|(c, _)| c.as_str())
            .chain(self.runs.keys().map(|(c, _)| c.as_str()))
            .chain(self.open.values().map(String::as_str))
            .collect();
        if seen || distinct.len() < MAX_COMMANDS {
            command.to_string()
        } else {
            "other".into()
        }
    }

    /// Renders the counters in the Prometheus text format. Families without samples are left
    /// out (Prometheus treats a missing counter as zero; an empty journal says nothing).
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "dockhand_actions_total",
            "counter",
            "Steps the acting commands took, by command and outcome (done, already-gone, in-use, changed, refused, failed, not-started), from the journal.",
            self.steps.iter().map(|((c, o), n)| {
                (
                    format!("command=\"{}\",outcome=\"{o}\"", esc(c)),
                    n.to_string(),
                )
            }),
        );
        family(
            out,
            "dockhand_reclaimed_bytes_total",
            "counter",
            "Bytes the done steps freed, by command, from the journal.",
            self.bytes
                .iter()
                .map(|(c, n)| (format!("command=\"{}\"", esc(c)), n.to_string())),
        );
        family(
            out,
            "dockhand_runs_total",
            "counter",
            "Runs of the acting commands that ended, by command and status (completed, interrupted, abandoned), from the journal.",
            self.runs.iter().map(|((c, s), n)| {
                (
                    format!("command=\"{}\",status=\"{s}\"", esc(c)),
                    n.to_string(),
                )
            }),
        );
        family(
            out,
            "dockhand_command_last_run_end_timestamp_seconds",
            "gauge",
            "When the last run of the command ended, seconds since the epoch, from the journal.",
            self.last_end
                .iter()
                .map(|(c, t)| (format!("command=\"{}\"", esc(c)), format!("{t:.3}"))),
        );
        family(
            out,
            "dockhand_journal_read_bytes",
            "gauge",
            "Bytes of the journal read so far (its size, once caught up).",
            std::iter::once((String::new(), self.read.to_string())),
        );
        family(
            out,
            "dockhand_journal_skipped_lines",
            "gauge",
            "Journal lines that were not records (torn, corrupt) or were written by a newer dockhand.",
            std::iter::once((String::new(), self.skipped.to_string())),
        );
    }
}

fn known(list: &[&'static str], v: &str) -> &'static str {
    list.iter().copied().find(|k| *k == v).unwrap_or("other")
}

fn esc(v: &str) -> String {
    crate::report::prometheus::label(v)
}

/// Writes one metric family: HELP, TYPE, then `name{labels} value` per sample; nothing when
/// there are no samples.
pub fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// The most read in one go: bounds the memory a poll needs, whatever was appended.
const CHUNK: usize = 1 << 20;

/// Follows the journal file: where reading stopped, and the totals so far.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    /// The file read so far: (device, inode). Another file at the path starts over.
    file: Option<(u64, u64)>,
    /// Bytes consumed: up to and including the last whole line.
    pos: u64,
    /// A line longer than [`CHUNK`] is being skipped: drop bytes up to the next newline.
    skipping: bool,
    tally: Tally,
}

impl Follower {
    pub fn new(path: &Path) -> Follower {
        Follower {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
            skipping: false,
            tally: Tally::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    fn start_over(&mut self, file: Option<(u64, u64)>) {
        self.file = file;
        self.pos = 0;
        self.skipping = false;
        self.tally = Tally::default();
    }

    /// Reads what was appended since the last poll, at most one chunk: returns whether more is
    /// waiting (call again). Blocking: run it off the async thread, under a deadline. A missing
    /// journal is an empty one (no acting command ran yet).
    pub fn poll(&mut self) -> io::Result<bool> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.file.is_some() {
                    self.start_over(None);
                }
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = f.metadata()?;
        let id = (meta.dev(), meta.ino());
        if self.file != Some(id) || meta.len() < self.pos {
            self.start_over(Some(id));
        }
        if meta.len() == self.pos {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(self.pos))?;
        let want = usize::try_from(meta.len() - self.pos)
            .unwrap_or(CHUNK)
            .min(CHUNK);
        let mut buf = Vec::with_capacity(want);
        f.take(want as u64).read_to_end(&mut buf)?;
        let more = self.pos + (buf.len() as u64) < meta.len();
        self.consume(&buf, buf.len() == CHUNK);
        Ok(more)
    }

    /// Counts the whole lines at the start of `buf` and advances past them. A partial last line
    /// stays for the next poll — unless `full` (the chunk was as big as a read may be) and there
    /// is no newline at all: that line is too long to be a record, and is skipped.
    fn consume(&mut self, buf: &[u8], full: bool) {
        let mut start = 0;
        if self.skipping {
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.skipping = false;
                    start = i + 1;
                    self.tally.skipped += 1;
                }
                None => {
                    self.pos += buf.len() as u64;
                    self.tally.read += buf.len() as u64;
                    return;
                }
            }
        }
        let rest = &buf[start..];
        let whole = match memchr::memrchr(b'\n', rest) {
            Some(i) => i + 1,
            None if full && start == 0 => {
                self.skipping = true;
                self.pos += buf.len() as u64;
                self.tally.read += buf.len() as u64;
                return;
            }
            None => 0,
        };
        self.tally.read += start as u64;
        if whole > 0 {
            // Whole lines only, so parsing cannot fail and nothing is "torn".
            if let Ok(c) = journal::parse(&rest[..whole]) {
                self.tally.feed(c);
            }
        }
        self.pos += (start + whole) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::journal::{Record, Totals, record};
    use std::io::Write;

    fn start(run: &str, command: &str) -> Record {
        record(
            run,
            Body::RunStart {
                command: command.into(),
                pid: 1,
                args: vec![],
                host: None,
                endpoint: "unix:///x".into(),
                dockhand: "0".into(),
            },
        )
    }

    fn outcome(run: &str, outcome: &str, bytes: Option<u64>) -> Record {
        record(
            run,
            Body::Outcome {
                step: 1,
                kind: "container.remove".into(),
                target: "x".into(),
                outcome: outcome.into(),
                detail: None,
                bytes,
                seen_after: serde_json::Value::Null,
                elapsed_ms: 1.0,
                reason: None,
            },
        )
    }

    fn end(run: &str, status: &str, at: &str) -> Record {
        let mut r = record(
            run,
            Body::RunEnd {
                status: status.into(),
                totals: Totals::default(),
                elapsed_ms: 1.0,
                reason: None,
            },
        );
        r.at = at.into();
        r
    }

    fn lines(recs: &[Record]) -> String {
        recs.iter()
            .map(|r| serde_json::to_string(r).expect("json") + "\n")
            .collect()
    }

    fn rendered(t: &Tally) -> String {
        let mut s = String::new();
        t.render(&mut s);
        s
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn totals_per_command_and_outcome() {
        let text = lines(&[
            start("a", "gc"),
            outcome("a", "done", Some(100)),
            outcome("a", "done", None),
            outcome("a", "in-use", Some(7)),
            end("a", "completed", "2026-01-01T00:00:00.000Z"),
            start("b", "reap"),
            outcome("b", "failed", None),
            outcome("b", "weird-new-outcome", None),
            end("b", "interrupted", "2026-01-02T00:00:00.000Z"),
            // An outcome of a run whose start is not in the file.
            outcome("zz", "done", Some(5)),
            start("c", "gc"),
            outcome("c", "done", Some(1)),
            end("c", "completed", "2026-01-03T00:00:00.500Z"),
        ]);
        let mut t = Tally::default();
        t.feed(journal::parse(text.as_bytes()).expect("parse"));
        let s = rendered(&t);
        let cases: &[(&str, f64)] = &[
            (
                r#"dockhand_actions_total{command="gc",outcome="done"}"#,
                3.0,
            ),
            (
                r#"dockhand_actions_total{command="gc",outcome="in-use"}"#,
                1.0,
            ),
            (
                r#"dockhand_actions_total{command="reap",outcome="failed"}"#,
                1.0,
            ),
            (
                r#"dockhand_actions_total{command="reap",outcome="other"}"#,
                1.0,
            ),
            (
                r#"dockhand_actions_total{command="unknown",outcome="done"}"#,
                1.0,
            ),
            (r#"dockhand_reclaimed_bytes_total{command="gc"}"#, 101.0),
            (r#"dockhand_reclaimed_bytes_total{command="unknown"}"#, 5.0),
            (
                r#"dockhand_runs_total{command="gc",status="completed"}"#,
                2.0,
            ),
            (
                r#"dockhand_runs_total{command="reap",status="interrupted"}"#,
                1.0,
            ),
            (
                r#"dockhand_command_last_run_end_timestamp_seconds{command="gc"}"#,
                1_767_398_400.5,
            ),
            ("dockhand_journal_read_bytes", text.len() as f64),
            ("dockhand_journal_skipped_lines", 0.0),
        ];
        for (series, want) in cases {
            assert_eq!(sample(&s, series), Some(*want), "{series}\n{s}");
        }
        assert!(
            sample(&s, r#"dockhand_reclaimed_bytes_total{command="reap"}"#).is_none(),
            "no done step, no bytes"
        );
        assert!(t.open.is_empty(), "ended runs are forgotten");
    }

    #[test]
    fn an_empty_journal_renders_only_its_read_figures() {
        let s = rendered(&Tally::default());
        assert!(!s.contains("dockhand_actions_total"), "{s}");
        assert_eq!(sample(&s, "dockhand_journal_read_bytes"), Some(0.0));
    }

    #[test]
    fn odd_command_names_cannot_make_new_series() {
        let mut recs = vec![start("x", "Robert'); DROP"), outcome("x", "done", None)];
        for i in 0..40 {
            recs.push(start(&format!("r{i}"), &format!("cmd{i}")));
            recs.push(outcome(&format!("r{i}"), "done", None));
        }
        let mut t = Tally::default();
        t.feed(journal::parse(lines(&recs).as_bytes()).expect("parse"));
        let s = rendered(&t);
        assert_eq!(
            sample(
                &s,
                r#"dockhand_actions_total{command="other",outcome="done"}"#
            ),
            Some(10.0),
            "the odd name and the commands past the bound\n{s}"
        );
        let commands = s
            .lines()
            .filter(|l| l.starts_with("dockhand_actions_total{"))
            .count();
        assert_eq!(commands, MAX_COMMANDS, "{s}");
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-serve-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    fn done_steps(f: &Follower) -> u64 {
        f.tally()
            .steps
            .iter()
            .filter(|((_, o), _)| *o == "done")
            .map(|(_, n)| n)
            .sum()
    }

    #[test]
    fn follows_appends_waits_for_whole_lines_and_starts_over_when_replaced() {
        let d = tmp("follow");
        let path = d.join(journal::FILE_NAME);
        let mut f = Follower::new(&path);
        assert!(!f.poll().expect("no journal yet"));
        assert_eq!(done_steps(&f), 0);

        let first = lines(&[start("a", "gc"), outcome("a", "done", Some(10))]);
        std::fs::write(&path, &first).expect("write");
        f.poll().expect("poll");
        assert_eq!(done_steps(&f), 1);

        // A line being written: not counted, not lost.
        let next = serde_json::to_string(&outcome("a", "done", Some(20))).expect("json");
        let (head, tail) = next.split_at(next.len() / 2);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(head.as_bytes()).expect("append");
        f.poll().expect("poll");
        assert_eq!(done_steps(&f), 1);
        assert_eq!(f.tally().skipped, 0, "a partial line is not skipped");
        file.write_all(tail.as_bytes()).expect("append");
        file.write_all(b"\n").expect("append");
        f.poll().expect("poll");
        assert_eq!(done_steps(&f), 2);
        assert_eq!(f.tally().bytes.get("gc"), Some(&30));
        // Nothing new: nothing changes.
        let before = f.tally().clone();
        f.poll().expect("poll");
        assert_eq!(f.tally(), &before);

        // Rotated: a new, shorter file at the path. The totals are the new file's.
        let rotated = d.join("new.jsonl");
        std::fs::write(&rotated, lines(&[start("b", "reap")])).expect("write");
        std::fs::rename(&rotated, &path).expect("rename");
        f.poll().expect("poll");
        assert_eq!(done_steps(&f), 0);
        assert!(f.tally().open.contains_key("b"));

        // Truncated in place, then written again.
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .expect("truncate");
        f.poll().expect("poll");
        std::fs::write(
            &path,
            lines(&[start("c", "gc"), outcome("c", "done", None)]),
        )
        .expect("write");
        f.poll().expect("poll");
        assert_eq!(done_steps(&f), 1);
        assert!(!f.tally().open.contains_key("b"), "started over");

        // Removed: no journal, no totals.
        std::fs::remove_file(&path).expect("rm");
        f.poll().expect("poll");
        assert_eq!(f.tally(), &Tally::default());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn big_appends_are_read_in_chunks_and_an_endless_line_is_skipped() {
        let d = tmp("chunks");
        let path = d.join(journal::FILE_NAME);
        let one = lines(&[start("a", "gc")]);
        let step = lines(&[outcome("a", "done", Some(1))]);
        let n = CHUNK / step.len() * 3;
        let mut text = one.clone();
        for _ in 0..n {
            text.push_str(&step);
        }
        // A line longer than a chunk, then a good one.
        text.push_str(&"x".repeat(CHUNK * 2 + 17));
        text.push('\n');
        text.push_str(&step);
        std::fs::write(&path, &text).expect("write");
        let mut f = Follower::new(&path);
        let mut polls = 0;
        while f.poll().expect("poll") {
            polls += 1;
            assert!(polls < 100, "catches up");
        }
        assert!(polls >= 3, "read in chunks ({polls})");
        assert_eq!(done_steps(&f), n as u64 + 1);
        assert_eq!(f.tally().skipped, 1, "the endless line");
        assert_eq!(f.tally().read, text.len() as u64);
        let _ = std::fs::remove_dir_all(d);
    }
}
