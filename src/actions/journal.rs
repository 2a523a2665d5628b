//! The journal: what dockhand did on this host, as JSON lines in `<state-dir>/journal.jsonl`.
//!
//! Every step is written twice — its intent before it acts, its outcome after — between a
//! run-start and a run-end record. Each record carries the format version (`v`), the run id and
//! a timestamp. The intent is durable (fsync'd) before the step acts, so after a crash the
//! journal still says what was about to happen.
//!
//! Durability without slowness: one writer thread owns the file. Appenders queue their line and
//! wait; the writer takes everything queued, writes it with one `write`, calls `fdatasync` once,
//! and wakes every appender of the batch (group commit). With eight steps in flight, eight
//! intents share one fsync.
//!
//! Reading never fails on content: a torn last line (a crash mid-write) is skipped and reported,
//! and so are unreadable lines in the middle; only the file being unreadable is an error.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::process::SignalEvent;

/// The format version written in every record's `v`.
pub const JOURNAL_VERSION: u32 = 1;

/// The journal's file name inside the state dir.
pub const FILE_NAME: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version.
    pub v: u32,
    /// The run this record belongs to.
    pub run: String,
    /// When it was written: RFC 3339, UTC, milliseconds.
    pub at: String,
    #[serde(flatten)]
    pub body: Body,
}

/// What a record says. The `record` field names the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Body {
    /// A mutating run began.
    RunStart {
        command: String,
        pid: u32,
        args: Vec<String>,
        /// `/etc/machine-id`, when readable: the journal may be copied off the host.
        host: Option<String>,
        endpoint: String,
        /// dockhand's version.
        dockhand: String,
    },
    /// A step is about to act.
    Intent {
        step: u64,
        kind: String,
        target: String,
        describe: String,
        reason: String,
        bytes: Option<u64>,
        /// What the plan saw (the action's fields).
        seen: serde_json::Value,
    },
    /// A signal sent during a step.
    Signal {
        step: u64,
        #[serde(flatten)]
        event: SignalEvent,
    },
    /// How a step ended.
    Outcome {
        step: u64,
        kind: String,
        target: String,
        /// done, already-gone, in-use, changed, refused, failed, not-started.
        outcome: String,
        detail: Option<String>,
        bytes: Option<u64>,
        /// What was found at apply time (the re-check), when anything was read.
        seen_after: serde_json::Value,
        elapsed_ms: f64,
        /// Only for not-started steps, which have no intent record to carry it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A run ended; `status` is completed, interrupted, failed (it stopped on an error, e.g.
    /// the engine did not answer before the first step; `reason` says which) or abandoned (the
    /// process went away without finishing, e.g. a panic).
    RunEnd {
        status: String,
        totals: Totals,
        elapsed_ms: f64,
        /// Why a failed run failed: the sentence the run printed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A record a newer dockhand wrote: kept out of the way, counted.
    #[serde(other)]
    Unknown,
}

/// Outcomes counted over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub done: u64,
    pub already_gone: u64,
    pub in_use: u64,
    pub changed: u64,
    pub refused: u64,
    pub failed: u64,
    pub not_started: u64,
    /// Bytes the done steps freed, when they said.
    pub bytes: u64,
}

impl Totals {
    pub fn add(&mut self, o: &super::Outcome) {
        use super::Outcome as O;
        match o {
            O::Done { bytes } => {
                self.done += 1;
                self.bytes += bytes.unwrap_or(0);
            }
            O::AlreadyGone => self.already_gone += 1,
            O::InUse { .. } => self.in_use += 1,
            O::Changed { .. } => self.changed += 1,
            O::Refused { .. } => self.refused += 1,
            O::Failed { .. } => self.failed += 1,
            O::NotStarted => self.not_started += 1,
        }
    }

    pub fn steps(&self) -> u64 {
        self.done
            + self.already_gone
            + self.in_use
            + self.changed
            + self.refused
            + self.failed
            + self.not_started
    }
}

/// The journal could not be written. Nothing acts without its intent on disk, so a step whose
/// intent fails is not run.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write the journal {path}: {why}")]
pub struct JournalError {
    pub path: PathBuf,
    pub why: String,
}

enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
    Sync(mpsc::Sender<Result<(), String>>),
    None,
}

struct Job {
    line: Vec<u8>,
    reply: Reply,
}

/// The journal writer. Cheap to share by reference; appends from many steps at once are batched.
pub struct Journal {
    path: PathBuf,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    deadline: Duration,
    notes: Vec<String>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// The most lines written with one write + fsync. Bounds the latency of the first appender of a
/// huge batch; in practice batches are as big as the steps in flight.
const MAX_BATCH: usize = 1024;

impl Journal {
    /// Opens (creating, mode 0600) `path` for appending and starts its writer. `deadline` bounds
    /// every durable append: a journal on a hung disk fails the step instead of hanging it.
    ///
    /// A file whose last line was cut short by a crash gets a newline first, so the next record
    /// starts a line of its own (the torn line is then skipped, and counted, when read).
    pub fn open(path: &Path, deadline: Duration) -> Result<Journal, JournalError> {
        let err = |e: io::Error| JournalError {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            // A symlink planted as the journal is never followed (ELOOP).
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(path)
            .map_err(err)?;
        // The journal names containers, paths and command lines: for root's eyes only, also
        // when an older file was created with a looser mode.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        let mut notes = Vec::new();
        let len = file.metadata().map_err(err)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(err)?;
            file.read_exact(&mut last).map_err(err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(err)?;
                file.sync_data().map_err(err)?;
                notes.push(format!(
                    "the last line of {} was cut short (a crash while writing it); it is kept, and skipped when read",
                    path.display()
                ));
            }
        }
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("dockhand-journal".into())
            .spawn(move || writer(file, rx))
            .map_err(err)?;
        Ok(Journal {
            path: path.to_path_buf(),
            tx: Mutex::new(Some(tx)),
            deadline,
            notes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening found worth saying (a torn last line closed off).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn error(&self, why: impl Into<String>) -> JournalError {
        JournalError {
            path: self.path.clone(),
            why: why.into(),
        }
    }

    fn submit(&self, rec: &Record, reply: Reply) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(rec).map_err(|e| self.error(e.to_string()))?;
        line.push(b'\n');
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(self.error("the journal is closed"));
        };
        tx.send(Job { line, reply })
            .map_err(|_| self.error("its writer stopped"))
    }

    /// Appends `rec` and waits until it is on disk (fsync'd), at most the journal's deadline.
    pub async fn append(&self, rec: &Record) -> Result<(), JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(rec, Reply::Async(tx))?;
        match tokio::time::timeout(self.deadline, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(why))) => Err(self.error(why)),
            Ok(Err(_)) => Err(self.error("its writer stopped")),
            Err(_) => Err(self.error(format!(
                "the disk did not confirm the write within {}",
                crate::util::human_duration(self.deadline)
            ))),
        }
    }

    /// Appends `rec` without waiting. The writer keeps the order, so a later awaited append
    /// returns only once this one is on disk too.
    pub fn append_nowait(&self, rec: &Record) -> Result<(), JournalError> {
        self.submit(rec, Reply::None)
    }

    /// Appends from outside async code (a `Drop`), waiting at most the deadline.
    pub fn append_blocking(&self, rec: &Record) -> Result<(), JournalError> {
        let (tx, rx) = mpsc::channel();
        self.submit(rec, Reply::Sync(tx))?;
        match rx.recv_timeout(self.deadline) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(self.error(why)),
            Err(_) => Err(self.error("the disk did not confirm the write in time")),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and exit. It is not joined:
        // every record that mattered was awaited already, and a hung disk must not hang exit.
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn writer(mut file: File, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut buf = Vec::with_capacity(batch.iter().map(|j| j.line.len()).sum());
        for j in &batch {
            buf.extend_from_slice(&j.line);
        }
        let result = file
            .write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| e.to_string());
        for j in batch {
            match j.reply {
                Reply::Async(tx) => {
                    let _ = tx.send(result.clone());
                }
                Reply::Sync(tx) => {
                    let _ = tx.send(result.clone());
                }
                Reply::None => {}
            }
        }
    }
}

/// A record for `run`, stamped now.
pub fn record(run: &str, body: Body) -> Record {
    Record {
        v: JOURNAL_VERSION,
        run: run.to_string(),
        at: crate::units::rfc3339_ms(SystemTime::now()),
        body,
    }
}

/// What a read of the journal found.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    pub records: Vec<Record>,
    /// The last line is incomplete (a crash, or a run writing right now): skipped.
    pub torn_tail: bool,
    /// Lines in the middle that are not records (a torn line closed off by a later run,
    /// corruption): skipped.
    pub garbage: usize,
    /// Records of a kind this version does not know (written by a newer dockhand): skipped.
    pub unknown: usize,
    /// The file's size.
    pub bytes: u64,
}

impl Contents {
    /// Sentences about what was skipped, for the reader.
    pub fn notes(&self, path: &Path) -> Vec<String> {
        let mut out = Vec::new();
        if self.torn_tail {
            out.push(format!(
                "the last line of {} is incomplete (a crash while writing it, or a run writing now); it was skipped",
                path.display()
            ));
        }
        if self.garbage > 0 {
            out.push(format!(
                "{} line{} of {} could not be read and {} skipped",
                self.garbage,
                if self.garbage == 1 { "" } else { "s" },
                path.display(),
                if self.garbage == 1 { "was" } else { "were" }
            ));
        }
        if self.unknown > 0 {
            out.push(format!(
                "{} record{} written by a newer dockhand {} skipped",
                self.unknown,
                if self.unknown == 1 { "" } else { "s" },
                if self.unknown == 1 { "was" } else { "were" }
            ));
        }
        out
    }
}

/// Reads the journal at `path`. `Ok(None)` when there is none.
pub fn read(path: &Path) -> io::Result<Option<Contents>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    parse(BufReader::new(file)).map(Some)
}

/// Parses journal lines from any reader. See [`Contents`] for what is skipped.
pub fn parse(mut r: impl BufRead) -> io::Result<Contents> {
    let mut c = Contents::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        c.bytes += n as u64;
        let complete = line.last() == Some(&b'\n');
        let text = trim(&line);
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(text) {
            Ok(rec) if rec.body == Body::Unknown => c.unknown += 1,
            Ok(rec) => c.records.push(rec),
            // Only the very last line can be torn: read_until returns it without a newline.
            Err(_) if !complete => c.torn_tail = true,
            Err(_) => c.garbage += 1,
        }
    }
    Ok(c)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

/// The host's id (`/etc/machine-id`), when there is one.
pub fn machine_id() -> Option<String> {
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(step: u64) -> Record {
        record(
            "r1",
            Body::Intent {
                step,
                kind: "container.remove".into(),
                target: "x (0123)".into(),
                describe: "remove container x".into(),
                reason: "exited long ago".into(),
                bytes: Some(10),
                seen: serde_json::json!({"id": "0123"}),
            },
        )
    }

    fn lines(recs: &[Record]) -> String {
        recs.iter()
            .map(|r| serde_json::to_string(r).expect("json") + "\n")
            .collect()
    }

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("dockhand-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn torn_last_line_is_skipped_and_noted() {
        let mut text = lines(&[intent(1), intent(2)]);
        text.push_str(r#"{"v":1,"run":"r1","at":"2026-11-28T05:53:35.123Z","record":"outc"#);
        let c = parse(text.as_bytes()).expect("parse");
        assert_eq!(c.records.len(), 2);
        assert!(c.torn_tail);
        assert_eq!(c.garbage, 0);
        let notes = c.notes(Path::new("/j"));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("incomplete"), "{notes:?}");
    }

    #[test]
    fn garbage_in_the_middle_is_counted() {
        let good = lines(&[intent(1)]);
        let text = format!("{good}not json at all\n\n{{\"v\":1}}\n\u{fffd}\u{fffd}\n{good}");
        let c = parse(text.as_bytes()).expect("parse");
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.garbage, 3, "the blank line is not garbage");
        assert!(!c.torn_tail);
        assert!(c.notes(Path::new("/j"))[0].contains("3 lines"));
        // Invalid UTF-8 is garbage too, not an error.
        let mut bytes = good.clone().into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(good.as_bytes());
        let c = parse(&bytes[..]).expect("parse");
        assert_eq!((c.records.len(), c.garbage), (2, 1));
    }

    #[test]
    fn records_of_a_newer_version_are_skipped_not_fatal() {
        let text = format!(
            "{}{}",
            r#"{"v":2,"run":"r9","at":"2030-01-01T00:00:00.000Z","record":"quarantine","path":"/x"}"#,
            "\n"
        );
        let c = parse(text.as_bytes()).expect("parse");
        assert_eq!((c.records.len(), c.unknown, c.garbage), (0, 1, 0));
    }

    #[test]
    fn every_body_round_trips() {
        let bodies = vec![
            Body::RunStart {
                command: "gc".into(),
                pid: 7,
                args: vec!["gc".into(), "--apply".into()],
                host: Some("abc".into()),
                endpoint: "unix:///var/run/docker.sock".into(),
                dockhand: "0.1.0".into(),
            },
            intent(3).body,
            Body::Signal {
                step: 3,
                event: SignalEvent {
                    pid: 9,
                    signal: "SIGTERM".into(),
                    state_before: "S".into(),
                    state_after: "gone".into(),
                    waited_ms: 12,
                },
            },
            Body::Outcome {
                step: 3,
                kind: "container.remove".into(),
                target: "x".into(),
                outcome: "in-use".into(),
                detail: Some("used by y".into()),
                bytes: None,
                seen_after: serde_json::json!({"state": "exited"}),
                elapsed_ms: 1.5,
                reason: None,
            },
            Body::RunEnd {
                status: "interrupted".into(),
                totals: Totals {
                    done: 1,
                    not_started: 2,
                    ..Totals::default()
                },
                elapsed_ms: 10.0,
                reason: None,
            },
            Body::RunEnd {
                status: "failed".into(),
                totals: Totals::default(),
                elapsed_ms: 3.0,
                reason: Some("gc needs the engine: it did not answer".into()),
            },
        ];
        for b in bodies {
            let r = record("r1", b);
            let text = serde_json::to_string(&r).expect("json");
            let back: Record = serde_json::from_str(&text).expect("back");
            assert_eq!(back, r, "{text}");
            assert!(text.starts_with(r#"{"v":1,"run":"r1","at":""#), "{text}");
        }
    }

    #[tokio::test]
    async fn appends_are_durable_and_ordered_and_a_torn_tail_is_closed_off() {
        let d = tmp("append");
        let path = d.join(FILE_NAME);
        std::fs::write(&path, format!("{}{{\"v\":1,\"ru", lines(&[intent(0)]))).expect("seed");
        let j = Journal::open(&path, Duration::from_secs(5)).expect("open");
        assert_eq!(j.notes().len(), 1, "{:?}", j.notes());
        // Many concurrent appenders: group commit, nothing lost, every line whole.
        let recs: Vec<Record> = (1..=50).map(intent).collect();
        let futs: Vec<_> = recs.iter().map(|r| j.append(r)).collect();
        for r in futures_util::future::join_all(futs).await {
            r.expect("durable");
        }
        j.append_nowait(&intent(51)).expect("queued");
        j.append(&intent(52)).await.expect("durable");
        j.append_blocking(&intent(53)).expect("blocking");
        let c = read(&path).expect("read").expect("exists");
        assert_eq!(c.records.len(), 54);
        assert_eq!(c.garbage, 1, "the torn line, closed off, counts as garbage");
        assert!(!c.torn_tail);
        let steps: Vec<u64> = c
            .records
            .iter()
            .filter_map(|r| match r.body {
                Body::Intent { step, .. } => Some(step),
                _ => None,
            })
            .collect();
        assert_eq!(&steps[51..], &[51, 52, 53], "nowait keeps its place");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(read(&d.join("none.jsonl")).expect("read").is_none());
        let _ = std::fs::remove_dir_all(d);
    }
}
