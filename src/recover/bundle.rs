//! The incident bundle: what the hung daemon looked like before it was restarted, kept under
//! `<state-dir>/incidents/<time>/` for whoever finds out why.
//!
//! - `doctor.json`: a full doctor run on the same facts as the diagnosis (`dockhand.doctor/v1`);
//! - `proc.txt`: the daemon's /proc status, stat, wchan, kernel stack, limits, and every
//!   thread's state, wait channel and kernel stack (stacks need root);
//! - `goroutines.txt`: the goroutine dump — `GET /debug/pprof/goroutine?debug=2` when the API
//!   answers, else the `goroutine-stacks-*.log` dockerd writes into its exec root (or data root)
//!   on SIGUSR1 (the signal is an action of the plan, journaled);
//! - `daemon.log`: the tail of the daemon's log (journald for a systemd unit, else a file);
//! - `manifest.json`: what each file is, and what could not be captured and why.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::diagnose::Diagnosis;
use crate::facts::Facts;
use crate::runtime::blocking;
use crate::runtime::incident::{self, LogSource};

/// Lines of the daemon's log kept.
const LOG_LINES: usize = 500;
/// Threads whose kernel stacks are kept (dockerd runs a few dozen; a wedged one, hundreds).
const MAX_THREADS: usize = 512;

/// A bundle being written.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    files: Vec<Value>,
    notes: Vec<String>,
    stack_dump: Value,
}

/// What the bundle needs besides the diagnosis.
pub struct Inputs<'a> {
    pub facts: &'a Facts,
    pub catalog: &'a crate::catalog::Catalog,
    pub config: &'a crate::config::Config,
    pub source: crate::runtime::endpoint::Source,
    /// The log file named by `--log-file` or the config, and which of them named it.
    pub log_file: Option<(PathBuf, &'static str)>,
}

/// `20261128T055335Z`: sortable, and safe in a path.
pub fn stamp(t: SystemTime) -> String {
    crate::units::rfc3339(t).replace(['-', ':'], "")
}

async fn write(dir: &Path, name: &str, bytes: Vec<u8>, deadline: Duration) -> Result<u64, String> {
    let path = dir.join(name);
    let shown = path.display().to_string();
    let n = bytes.len() as u64;
    // A new file of its own (O_EXCL, never through a symlink), for root's eyes only: the bundle
    // holds command lines, environment and logs. Under `blocking`, not `mutate`: a bundle file
    // is dockhand's own, and a hung disk (common when the daemon hangs) must not stop recover.
    let written = move || {
        use std::io::Write;
        crate::runtime::files::create_new(&path, 0o600).and_then(|mut f| f.write_all(&bytes))
    };
    match blocking(deadline, written).await {
        Some(Ok(())) => Ok(n),
        Some(Err(e)) => Err(format!("cannot write {shown}: {e}")),
        None => Err(format!(
            "writing {shown} did not finish in time (the disk may be hung; the file may be incomplete)"
        )),
    }
}

impl Bundle {
    /// Creates `<state_dir>/incidents/<time>/` (a suffix keeps two runs in one second apart).
    pub async fn create(state_dir: &Path, deadline: Duration) -> Result<Bundle, String> {
        let base = state_dir.join("incidents");
        let name = stamp(SystemTime::now());
        let made = blocking(deadline, move || {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&base)?;
            for n in 0..100 {
                let dir = if n == 0 {
                    base.join(&name)
                } else {
                    base.join(format!("{name}-{n}"))
                };
                match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                    Ok(()) => return Ok(dir),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(std::io::Error::other("100 bundles in one second"))
        })
        .await;
        match made {
            Some(Ok(dir)) => Ok(Bundle {
                dir,
                files: Vec::new(),
                notes: Vec::new(),
                stack_dump: Value::Null,
            }),
            Some(Err(e)) => Err(format!(
                "cannot create the incident bundle under {}: {e}",
                state_dir.join("incidents").display()
            )),
            None => Err("creating the incident bundle did not finish in time".into()),
        }
    }

    async fn add(&mut self, name: &str, what: &str, bytes: Vec<u8>, deadline: Duration) {
        match write(&self.dir, name, bytes, deadline).await {
            Ok(n) => self
                .files
                .push(json!({ "name": name, "what": what, "bytes": n })),
            Err(e) => self.notes.push(e),
        }
    }

    pub fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    /// Everything that can be read before the daemon is touched: the doctor run (`doctor`,
    /// when it was run already, alongside the diagnosis), /proc, the log, and the goroutine
    /// dump through the API when it answers. Returns whether the dump was had (else the plan's
    /// SIGUSR1 must produce it).
    pub async fn capture(
        &mut self,
        diag: &Diagnosis,
        inp: &Inputs<'_>,
        doctor: Option<Vec<u8>>,
    ) -> bool {
        let t = inp.facts.timeout();
        let Gathered {
            doctor,
            proc_text,
            log,
            pprof,
        } = gather(diag, inp, doctor).await;
        self.add(
            "doctor.json",
            "doctor's full report (dockhand.doctor/v1) at the time of the diagnosis",
            doctor,
            t,
        )
        .await;
        match proc_text {
            Ok(s) => {
                self.add(
                    "proc.txt",
                    "the daemon's /proc: status, wchan, kernel stacks of every thread",
                    s.into_bytes(),
                    t,
                )
                .await
            }
            Err(e) => self.note(format!("proc.txt: {e}")),
        }
        match log {
            Ok((text, src)) => {
                self.add(
                    "daemon.log",
                    "the tail of the daemon's log",
                    text.into_bytes(),
                    t,
                )
                .await;
                self.files
                    .last_mut()
                    .and_then(Value::as_object_mut)
                    .map(|o| {
                        o.insert(
                            "source".into(),
                            serde_json::to_value(src).unwrap_or_default(),
                        )
                    });
            }
            Err(e) => self.note(format!("daemon.log: {e}")),
        }
        match pprof {
            Ok(body) => {
                self.add(
                    "goroutines.txt",
                    "goroutine dump from GET /debug/pprof/goroutine?debug=2",
                    body,
                    t,
                )
                .await;
                self.stack_dump = json!({ "source": "api", "file": "goroutines.txt" });
                true
            }
            Err(e) => {
                self.note(format!("goroutine dump through the API: {e}"));
                false
            }
        }
    }

    /// After SIGUSR1: waits up to `wait` for the dump dockerd writes into `dirs`, copies it in.
    pub async fn collect_dump(
        &mut self,
        dirs: &[PathBuf],
        since: SystemTime,
        wait: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let d = dirs.to_vec();
            let found = blocking(Duration::from_secs(3), move || {
                incident::stack_dumps(&d, since)
            })
            .await
            .unwrap_or_default();
            if let Some(path) = found.first().cloned() {
                // Give dockerd a moment to finish writing it: the size must hold still.
                let p = path.clone();
                let read = blocking(Duration::from_secs(5), move || {
                    let mut last = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    for _ in 0..20 {
                        std::thread::sleep(Duration::from_millis(25));
                        let now = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                        if now == last && now > 0 {
                            break;
                        }
                        last = now;
                    }
                    std::fs::read(&p)
                })
                .await;
                return match read {
                    Some(Ok(bytes)) => {
                        self.add(
                            "goroutines.txt",
                            "goroutine dump dockerd wrote on SIGUSR1",
                            bytes,
                            Duration::from_secs(5),
                        )
                        .await;
                        self.stack_dump = json!({ "source": "signal", "file": "goroutines.txt", "written_by_daemon": path });
                        true
                    }
                    _ => {
                        self.note(format!(
                            "could not read the goroutine dump {}",
                            path.display()
                        ));
                        false
                    }
                };
            }
            if tokio::time::Instant::now() >= deadline {
                self.note(format!(
                    "no goroutine dump appeared in {} within {} of SIGUSR1",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    crate::util::human_duration(wait)
                ));
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn has_stack_dump(&self) -> bool {
        !self.stack_dump.is_null()
    }

    /// Writes `manifest.json` and returns the bundle as the report shows it.
    pub async fn finish(&mut self, diag: &Diagnosis) -> Value {
        let v = json!({
            "dir": self.dir,
            "created": crate::units::rfc3339(SystemTime::now()),
            "daemon_pid": diag.process.as_ref().map(|p| p.pid),
            "health": diag.health.name(),
            "why": diag.need.why(),
            "files": self.files,
            "stack_dump": self.stack_dump,
            "notes": self.notes,
        });
        let mut text = serde_json::to_vec_pretty(&v).unwrap_or_default();
        text.push(b'\n');
        if let Err(e) = write(&self.dir, "manifest.json", text, Duration::from_secs(5)).await {
            self.notes.push(e);
        }
        v
    }
}

/// What the bundle reads before the daemon is touched, each part or why it is missing.
struct Gathered {
    doctor: Vec<u8>,
    proc_text: Result<String, String>,
    log: Result<(String, LogSource), String>,
    pprof: Result<Vec<u8>, String>,
}

/// Reads the parts of the bundle at once, each under its own deadline.
async fn gather(diag: &Diagnosis, inp: &Inputs<'_>, doctor: Option<Vec<u8>>) -> Gathered {
    let t = inp.facts.timeout();
    let pid = diag.process.as_ref().map(|p| p.pid);
    let doctor = async {
        match doctor {
            Some(d) => d,
            None => doctor_json(inp.facts, inp).await,
        }
    };
    let proc_text = async {
        match pid {
            Some(pid) => blocking(t * 2, move || incident::proc_snapshot(pid, MAX_THREADS))
                .await
                .ok_or_else(|| {
                    format!(
                        "reading /proc/{pid} did not finish within {}",
                        crate::util::human_duration(t * 2)
                    )
                }),
            None => Err("no daemon process to read".to_string()),
        }
    };
    let service = diag.process.as_ref().map(|p| p.service.clone());
    let named = inp.log_file.clone();
    let log = async {
        let sources = blocking(t, move || {
            incident::log_sources(
                pid,
                service.as_ref(),
                named.as_ref().map(|(p, how)| (p.as_path(), *how)),
            )
        })
        .await
        .unwrap_or_default();
        log_tail(&sources, t).await
    };
    let pprof = async {
        if !inp.facts.engine_answered().await {
            return Err("the API does not answer: the dump comes from SIGUSR1".to_string());
        }
        let e = inp
            .facts
            .engine()
            .with_timeout(t.max(Duration::from_secs(10)));
        e.get("/debug/pprof/goroutine?debug=2")
            .await
            .map(|r| r.value.body.to_vec())
            .map_err(|e| e.to_string())
    };
    let (doctor, proc_text, log, pprof) = tokio::join!(doctor, proc_text, log, pprof);
    Gathered {
        doctor,
        proc_text,
        log,
        pprof,
    }
}

/// A full doctor run on `facts`, as `dockhand.doctor/v1`. Run alongside the diagnosis (they
/// share the facts, so a frozen daemon costs one ping deadline for both).
pub async fn doctor_json(facts: &Facts, inp: &Inputs<'_>) -> Vec<u8> {
    let all: Vec<&crate::catalog::CheckDef> = inp.catalog.checks.iter().collect();
    let report = crate::doctor::run(facts, inp.source.clone(), inp.catalog, inp.config, &all).await;
    let mut out = Vec::new();
    let _ = crate::report::json::doctor(&report, &mut out);
    out
}

/// The tail of the first log source that gives one.
async fn log_tail(sources: &[LogSource], t: Duration) -> Result<(String, LogSource), String> {
    let mut tried = Vec::new();
    for s in sources {
        match s {
            LogSource::Journald { unit } => {
                let argv = [
                    "journalctl",
                    "-u",
                    unit,
                    "-n",
                    "500",
                    "--no-pager",
                    "-o",
                    "short-iso",
                ]
                .iter()
                .map(|a| (*a).to_string())
                .collect();
                match crate::runtime::command::run(argv, None, t * 3).await {
                    Ok(r) if r.ok() && !r.stdout.trim().is_empty() => {
                        return Ok((r.stdout, s.clone()));
                    }
                    Ok(r) => tried.push(format!("journalctl -u {unit}: {}", r.why())),
                    Err(e) => tried.push(e),
                }
            }
            LogSource::File { path, .. } => {
                let p = path.clone();
                match blocking(t, move || incident::tail_file(&p, LOG_LINES, 1 << 20)).await {
                    Some(Ok(text)) => return Ok((text, s.clone())),
                    Some(Err(e)) => tried.push(format!("{}: {e}", path.display())),
                    None => tried.push(format!("{}: did not answer in time", path.display())),
                }
            }
        }
    }
    if tried.is_empty() {
        Err("not found: no systemd unit, and the daemon's output goes to no file (pass --log-file, or set [recover] log_file)".into())
    } else {
        Err(tried.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_and_fit_in_a_path() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_845_215_123);
        let s = stamp(t);
        assert_eq!(s.len(), "20261128T055335Z".len(), "{s}");
        assert!(!s.contains([':', '-', '.', '/']), "{s}");
        assert!(s.ends_with('Z'));
    }
}
