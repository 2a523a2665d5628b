//! `dockhand serve`: the real binary on an ephemeral loopback port, asked over real HTTP —
//! doctor's series against throwaway daemons (one of them frozen), the journal's totals as runs
//! append to it, bad and hostile requests, a bounded load test with the server's memory watched,
//! and a clean stop on SIGTERM.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dockhand::actions::journal::{self, Body, Journal, Totals, record};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::formats::parse_prometheus;
use crate::support::daemon::spawn_tied;
use crate::support::{Dockhand, TempDir, TestDaemon, dockhand, dockhand_cmd, shared};

// ------------------------------------------------------------------------------------ helpers --

/// A running `dockhand serve`, killed (SIGKILL) when dropped unless it was stopped.
struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `dockhand <global> serve --listen 127.0.0.1:0 <args>` and waits for the line
    /// that names the address it serves.
    fn start(global: &[&str], args: &[&str]) -> Server {
        Server::start_with(dockhand_cmd(), global, args)
    }

    /// As [`Server::start`], from a command already set up (its config file, its environment).
    fn start_with(base: Dockhand, global: &[&str], args: &[&str]) -> Server {
        let mut all: Vec<&str> = global.to_vec();
        all.extend(["serve", "--listen", "127.0.0.1:0"]);
        all.extend_from_slice(args);
        let mut cmd = base.args(&all).command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn_tied(cmd, Signal::SIGKILL).expect("spawn dockhand serve");
        let err = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let keep = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("serving metrics on http://").nth(1) {
                        let a = rest.split('/').next().unwrap();
                        break a.parse::<SocketAddr>().unwrap();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "dockhand serve did not say where it serves ({status:?}); stderr:\n{}",
                        lines.lock().unwrap().join("\n")
                    );
                }
            }
        };
        assert!(addr.ip().is_loopback(), "{addr}");
        Server {
            child,
            addr,
            stderr: lines,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    #[track_caller]
    fn assert_alive(&mut self) {
        assert!(
            matches!(self.child.try_wait(), Ok(None)),
            "dockhand serve exited: {:?}\n{}",
            self.child.try_wait(),
            self.stderr()
        );
    }

    /// Sends `sig` and waits (bounded) for the exit; returns the exit code.
    fn stop(&mut self, sig: Signal) -> (Option<i32>, Duration) {
        let t = Instant::now();
        kill(Pid::from_raw(self.pid()), sig).unwrap();
        let deadline = t + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t.elapsed());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("serve did not stop on {sig:?}\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn get(&self, path: &str) -> Reply {
        request(
            self.addr,
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.stderr()))
    }

    /// `/metrics`, parsed.
    #[track_caller]
    fn scrape(&self) -> Scrape {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{r:?}");
        Scrape {
            samples: parse_prometheus(&r.body),
            elapsed: r.elapsed,
            text: r.body,
        }
    }

    /// Scrapes until `ok` holds for a scrape, at most `within`.
    #[track_caller]
    fn scrape_until(&self, within: Duration, what: &str, ok: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + within;
        loop {
            let s = self.scrape();
            if ok(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "{what}: not within {within:?}\n{}\n--- stderr ---\n{}",
                    s.text,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Scrape {
    samples: Vec<(String, f64)>,
    text: String,
    elapsed: Duration,
}

impl Scrape {
    fn get(&self, series: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(k, _)| k == series)
            .map(|(_, v)| *v)
    }

    fn completed_runs(&self) -> f64 {
        self.get(r#"dockhand_doctor_runs_total{result="completed"}"#)
            .unwrap_or(0.0)
    }

    /// The series (names with labels), without the values.
    fn keys(&self) -> BTreeSet<String> {
        self.samples.iter().map(|(k, _)| k.clone()).collect()
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
    elapsed: Duration,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// The most any single request may take in these tests: a scrape must never wait for doctor.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `raw` on a new connection and reads one response (head, then `content-length` bytes).
fn request(addr: SocketAddr, raw: &[u8]) -> Result<Reply, String> {
    exchange(addr, raw, true)
}

/// [`request`], reading the body only when `body` (the answer to a HEAD has none).
fn exchange(addr: SocketAddr, raw: &[u8], body: bool) -> Result<Reply, String> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(raw).map_err(|e| format!("write: {e}"))?;
    let mut r = read_response(&mut s, body)?;
    r.elapsed = t.elapsed();
    if !body {
        // Nothing may follow the head of an answer to HEAD.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        r.body = String::from_utf8_lossy(&rest).into_owned();
    }
    Ok(r)
}

fn read_response(s: &mut TcpStream, body: bool) -> Result<Reply, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "closed before a whole head: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let mut reply = Reply {
        status,
        head,
        body: String::new(),
        elapsed: Duration::ZERO,
    };
    let len: usize = if body {
        reply
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} of {len} body bytes", body.len()));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    reply.body = String::from_utf8(body).map_err(|e| e.to_string())?;
    Ok(reply)
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

fn down_host(t: &TempDir) -> String {
    format!("unix://{}", t.join("no-daemon.sock").display())
}

// -------------------------------------------------------------------------------------- tests --

#[test]
fn serve_answers_doctor_series_and_refuses_bad_requests() {
    let d = shared();
    let state = TempDir::new();
    let state_dir = state.path().to_str().unwrap();
    let mut srv = Server::start(
        &["--host", &d.host(), "--state-dir", state_dir],
        &["--interval", "1s", "--check", "daemon"],
    );

    // The doctor series are doctor's own: the same families and the same checks as
    // `doctor --format prometheus`, with serve's additions.
    let s = srv.scrape_until(Duration::from_secs(30), "a first doctor run", |s| {
        s.completed_runs() >= 1.0
    });
    let doctor = dockhand([
        "--host",
        &d.host(),
        "doctor",
        "--format",
        "prometheus",
        "--check",
        "daemon",
    ]);
    assert!(doctor.code.is_some_and(|c| c <= 1), "{doctor}");
    let theirs: BTreeSet<String> = parse_prometheus(&doctor.stdout)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !k.starts_with("dockhand_check_value"))
        .collect();
    // The comparison below is only as strong as doctor's side: it must hold the checks asked
    // for (a doctor that printed nothing would leave nothing to miss).
    assert!(
        theirs.contains(r#"dockhand_check_status{check="daemon.responsive",area="daemon"}"#)
            && theirs.iter().any(|k| k.starts_with("dockhand_status")),
        "doctor --format prometheus printed no check series:\n{}",
        doctor.stdout
    );
    let ours = s.keys();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(missing.is_empty(), "serve lacks {missing:?}\n{}", s.text);
    assert_eq!(
        s.get(r#"dockhand_check_status{check="daemon.responsive",area="daemon"}"#),
        Some(0.0),
        "{}",
        s.text
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        s.samples.iter().any(|(k, v)| k.starts_with(&format!(
            "dockhand_build_info{{version=\"{version}\",revision=\""
        )) && *v == 1.0),
        "{}",
        s.text
    );
    assert!(s.get("dockhand_doctor_last_run_age_seconds").is_some());
    assert_eq!(s.get("dockhand_doctor_interval_seconds"), Some(1.0));
    // --timeout 3s by default: each run at most 3 × 3 s + 2 s.
    assert_eq!(s.get("dockhand_doctor_deadline_seconds"), Some(11.0));
    assert_eq!(
        s.get("dockhand_journal_readable"),
        Some(1.0),
        "no journal yet is fine"
    );
    // Runs go on at the interval.
    let first = s.completed_runs();
    srv.scrape_until(Duration::from_secs(20), "a later doctor run", |s| {
        s.completed_runs() > first
    });

    // What a scrape gets, and what everything else gets.
    let r = srv.get("/metrics");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8"),
        "{r:?}"
    );
    let r = exchange(
        srv.addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        false,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.is_empty(), "no body after HEAD: {r:?}");
    assert!(
        r.header("content-length")
            .is_some_and(|n| n.parse::<usize>().unwrap() > 1000),
        "HEAD says how long the page is: {r:?}"
    );
    let r = srv.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("/metrics"), "{r:?}");
    for path in [
        "/nope",
        "/metrics/",
        "/metricsx",
        "/favicon.ico",
        "/../etc/passwd",
    ] {
        assert_eq!(srv.get(path).status, 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = request(
            srv.addr,
            format!("{method} /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 405, "{method}: {r:?}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{r:?}");
    }
    let r = request(srv.addr, b"NONSENSE\r\n\r\n").unwrap();
    assert_eq!(r.status, 400, "{r:?}");

    // An oversized head: refused (431), or the connection cut while the rest was still coming.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    match request(srv.addr, big.as_bytes()) {
        Ok(r) => assert_eq!(r.status, 431, "{r:?}"),
        Err(e) => assert!(e.contains("reset") || e.contains("closed"), "{e}"),
    }
    // A query string is not a different page; a body on a GET is never read.
    assert_eq!(srv.get("/metrics?x=1").status, 200);
    let r = request(
        srv.addr,
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .unwrap();
    assert_eq!(r.status, 200);

    // A client that never finishes its head is dropped after the header-read timeout (5 s).
    let t = Instant::now();
    let mut slow = TcpStream::connect(srv.addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut sink = Vec::new();
    let _ = slow.read_to_end(&mut sink);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "a slow client was dropped after {waited:?}"
    );

    // Connections are bounded: 64 held open, the next one is told 503 at once; when they go,
    // scrapes are served again.
    let held: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = srv.get("/metrics");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.elapsed < Duration::from_secs(2), "{r:?}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.get("/metrics").status != 200 {
        assert!(Instant::now() < deadline, "scrapes served again");
        std::thread::sleep(Duration::from_millis(50));
    }

    // None of it hurt: still serving, and SIGTERM stops it cleanly.
    srv.assert_alive();
    assert_eq!(srv.get("/metrics").status, 200);
    let (code, took) = srv.stop(Signal::SIGTERM);
    assert_eq!(code, Some(0), "{}", srv.stderr());
    assert!(took < Duration::from_secs(7), "stopped in {took:?}");
    assert!(srv.stderr().contains("serve stopped"), "{}", srv.stderr());
}

/// Unfreezes the daemon even when an assertion fails.
struct Thaw<'a>(&'a TestDaemon);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        self.0.thaw();
    }
}

#[test]
fn serve_answers_at_once_while_the_daemon_is_frozen_and_the_results_age() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let srv = Server::start(
        &[
            "--host",
            &d.host(),
            "--state-dir",
            state.path().to_str().unwrap(),
            "--timeout",
            "2s",
        ],
        &["--interval", "1s", "--check", "daemon.responsive"],
    );
    srv.scrape_until(Duration::from_secs(30), "a healthy run", |s| {
        s.get(r#"dockhand_check_status{check="daemon.responsive",area="daemon"}"#) == Some(0.0)
    });

    d.freeze();
    let thaw = Thaw(&d);
    // Scrape for 8 s: each answer comes at once, whatever doctor is waiting for.
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(8) {
        let s = srv.scrape();
        seen.push((
            s.elapsed,
            s.get("dockhand_last_run_timestamp_seconds").unwrap(),
            s.get("dockhand_doctor_last_run_age_seconds").unwrap(),
            s.get("dockhand_doctor_running_seconds").unwrap(),
        ));
        std::thread::sleep(Duration::from_millis(100));
    }
    let slowest = seen.iter().map(|s| s.0).max().unwrap();
    let longest_run = seen.iter().map(|s| s.3).fold(0.0, f64::max);
    let oldest = seen.iter().map(|s| s.2).fold(0.0, f64::max);
    eprintln!(
        "frozen daemon: {} scrapes, slowest {slowest:?}, a run seen in progress for {longest_run:.2} s, results up to {oldest:.2} s old",
        seen.len()
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a scrape took {slowest:?}"
    );
    assert!(
        longest_run >= 1.5,
        "scrapes were answered while a run waited on the frozen daemon ({longest_run} s)"
    );
    assert!(oldest >= 2.0, "the results served aged to {oldest} s");
    // While one run's results are served, their age only grows.
    for w in seen.windows(2) {
        if w[0].1 == w[1].1 {
            assert!(w[1].2 > w[0].2, "age went from {} to {}", w[0].2, w[1].2);
        }
    }
    let s = srv.scrape_until(Duration::from_secs(20), "the frozen daemon reported", |s| {
        s.get(r#"dockhand_check_status{check="daemon.responsive",area="daemon"}"#) == Some(2.0)
    });
    assert!(s.elapsed < Duration::from_secs(1));

    drop(thaw);
    srv.scrape_until(
        Duration::from_secs(30),
        "the thawed daemon healthy again",
        |s| s.get(r#"dockhand_check_status{check="daemon.responsive",area="daemon"}"#) == Some(0.0),
    );
}

fn write_run(j: &Journal, run: &str, command: &str, outcomes: &[(&str, Option<u64>)]) {
    j.append_blocking(&record(
        run,
        Body::RunStart {
            command: command.into(),
            pid: std::process::id(),
            args: vec![command.into(), "--apply".into()],
            host: None,
            endpoint: "unix:///var/run/docker.sock".into(),
            dockhand: env!("CARGO_PKG_VERSION").into(),
        },
    ))
    .unwrap();
    let mut totals = Totals::default();
    for (i, (outcome, bytes)) in outcomes.iter().enumerate() {
        let step = i as u64 + 1;
        j.append_blocking(&record(
            run,
            Body::Intent {
                step,
                kind: "container.remove".into(),
                target: format!("c{step}"),
                describe: format!("remove container c{step}"),
                reason: "exited long ago".into(),
                bytes: *bytes,
                seen: serde_json::json!({}),
            },
        ))
        .unwrap();
        j.append_blocking(&record(
            run,
            Body::Outcome {
                step,
                kind: "container.remove".into(),
                target: format!("c{step}"),
                outcome: (*outcome).into(),
                detail: None,
                bytes: *bytes,
                seen_after: serde_json::json!({}),
                elapsed_ms: 1.0,
                reason: None,
            },
        ))
        .unwrap();
        if *outcome == "done" {
            totals.done += 1;
            totals.bytes += bytes.unwrap_or(0);
        }
    }
    j.append_blocking(&record(
        run,
        Body::RunEnd {
            status: "completed".into(),
            totals,
            elapsed_ms: 5.0,
            reason: None,
        },
    ))
    .unwrap();
}

#[test]
fn serve_exports_the_journal_totals_and_follows_appends_and_rotation() {
    let state = TempDir::new();
    let path = state.join(journal::FILE_NAME);
    {
        let j = Journal::open(&path, Duration::from_secs(5)).unwrap();
        write_run(
            &j,
            "r1",
            "gc",
            &[("done", Some(100)), ("done", Some(200)), ("in-use", None)],
        );
        write_run(&j, "r2", "reap", &[("done", None), ("failed", None)]);
    }
    let mut srv = Server::start(
        &[
            "--host",
            &down_host(&state),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &["--interval", "1s"],
    );
    let gc_done = r#"dockhand_actions_total{command="gc",outcome="done"}"#;
    let s = srv.scrape_until(Duration::from_secs(10), "the journal's totals", |s| {
        s.get(gc_done) == Some(2.0)
    });
    let cases: &[(&str, f64)] = &[
        (
            r#"dockhand_actions_total{command="gc",outcome="in-use"}"#,
            1.0,
        ),
        (
            r#"dockhand_actions_total{command="reap",outcome="done"}"#,
            1.0,
        ),
        (
            r#"dockhand_actions_total{command="reap",outcome="failed"}"#,
            1.0,
        ),
        (r#"dockhand_reclaimed_bytes_total{command="gc"}"#, 300.0),
        (
            r#"dockhand_runs_total{command="gc",status="completed"}"#,
            1.0,
        ),
        (
            r#"dockhand_runs_total{command="reap",status="completed"}"#,
            1.0,
        ),
        ("dockhand_journal_skipped_lines", 0.0),
        ("dockhand_journal_readable", 1.0),
    ];
    for (series, want) in cases {
        assert_eq!(s.get(series), Some(*want), "{series}\n{}", s.text);
    }
    let size = std::fs::metadata(&path).unwrap().len() as f64;
    assert_eq!(s.get("dockhand_journal_read_bytes"), Some(size));
    assert!(
        s.get(r#"dockhand_command_last_run_end_timestamp_seconds{command="gc"}"#)
            .is_some_and(|t| t > 1.7e9),
        "{}",
        s.text
    );

    // A run appends while serve is up: its totals join.
    {
        let j = Journal::open(&path, Duration::from_secs(5)).unwrap();
        write_run(&j, "r3", "gc", &[("done", Some(50))]);
    }
    let s = srv.scrape_until(Duration::from_secs(10), "the appended run", |s| {
        s.get(gc_done) == Some(3.0)
    });
    assert_eq!(
        s.get(r#"dockhand_reclaimed_bytes_total{command="gc"}"#),
        Some(350.0)
    );

    // A line being written (no newline yet) is not counted, and not called damaged.
    let line = serde_json::to_string(&record(
        "r4",
        Body::RunStart {
            command: "recover".into(),
            pid: 1,
            args: vec![],
            host: None,
            endpoint: "unix:///x".into(),
            dockhand: "0".into(),
        },
    ))
    .unwrap();
    let (head, tail) = line.split_at(40);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let s = srv.scrape();
    assert_eq!(
        s.get("dockhand_journal_skipped_lines"),
        Some(0.0),
        "{}",
        s.text
    );
    assert_eq!(
        s.get("dockhand_journal_read_bytes"),
        Some(size_of(&path) - 40.0)
    );
    f.write_all(tail.as_bytes()).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    srv.scrape_until(Duration::from_secs(10), "the finished line read", |s| {
        s.get("dockhand_journal_read_bytes") == Some(size_of(&path))
    });

    // Rotated: a new journal at the path. The totals are the new file's.
    std::fs::rename(&path, state.join("journal.jsonl.1")).unwrap();
    {
        let j = Journal::open(&path, Duration::from_secs(5)).unwrap();
        write_run(&j, "r5", "reap", &[("done", None)]);
    }
    let s = srv.scrape_until(Duration::from_secs(10), "the rotated journal", |s| {
        s.get(gc_done).is_none()
    });
    assert_eq!(
        s.get(r#"dockhand_actions_total{command="reap",outcome="done"}"#),
        Some(1.0),
        "{}",
        s.text
    );

    // A journal that cannot be read (here a directory in its place) is said, once, and
    // flagged; scrapes go on. Gone again, it is simply empty.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    srv.scrape_until(
        Duration::from_secs(10),
        "the journal flagged unreadable",
        |s| s.get("dockhand_journal_readable") == Some(0.0),
    );
    // Two more reads fail meanwhile; it is said once all the same.
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(
        srv.stderr().matches("cannot read the journal").count(),
        1,
        "{}",
        srv.stderr()
    );
    std::fs::remove_dir(&path).unwrap();
    srv.scrape_until(Duration::from_secs(10), "a missing journal is fine", |s| {
        s.get("dockhand_journal_readable") == Some(1.0)
            && s.get(r#"dockhand_actions_total{command="reap",outcome="done"}"#)
                .is_none()
    });

    // Ctrl-C stops it as cleanly as SIGTERM.
    let (code, _) = srv.stop(Signal::SIGINT);
    assert_eq!(code, Some(0), "{}", srv.stderr());
}

fn size_of(p: &std::path::Path) -> f64 {
    std::fs::metadata(p).unwrap().len() as f64
}

#[test]
fn serve_refuses_bad_flags_and_a_taken_address_in_one_sentence() {
    let t = TempDir::new();
    let host = down_host(&t);
    let cases: &[(&[&str], &str)] = &[
        (&["--listen", "9323"], "--listen \"9323\""),
        (&["--listen", "example.com:9323"], "not resolved"),
        (&["--listen", "127.0.0.1:99999"], "0-65535"),
        (
            &["--interval", "100ms"],
            "--interval \"100ms\" is too short",
        ),
        (
            &["--interval", "soon"],
            "--interval \"soon\" is not a duration",
        ),
        (&["--check", "nope"], "unknown check \"nope\""),
    ];
    for (args, want) in cases {
        let mut all = vec!["--host", host.as_str(), "serve"];
        all.extend_from_slice(args);
        let r = dockhand(&all);
        r.assert_code(64);
        assert!(r.stderr.contains(want), "{args:?}\n{r}");
        assert_eq!(r.stderr.lines().count(), 1, "one sentence\n{r}");
    }
    // An address something else holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = dockhand(["--host", &host, "serve", "--listen", &addr]);
    r.assert_code(64);
    assert!(
        r.stderr.contains(&addr) && r.stderr.contains("another --listen"),
        "{r}"
    );
}

#[test]
fn serve_under_load_answers_every_scrape_and_its_memory_stays_flat() {
    let d = shared();
    let state = TempDir::new();
    let mut srv = Server::start(
        &[
            "--host",
            &d.host(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        // One doctor run, then none during the load: what is measured is the serving. (A
        // doctor run's memory follows the host — its process table, its listeners — which
        // other tests on this machine change as they please.)
        &["--interval", "60m"],
    );
    srv.scrape_until(Duration::from_secs(60), "the first doctor run", |s| {
        s.completed_runs() >= 1.0
    });
    let addr = srv.addr;
    let pid = srv.pid();
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 100;
    const THREADS: usize = 4;
    let mut rss = Vec::new();
    let mut times: Vec<Duration> = Vec::new();
    let t0 = Instant::now();
    for round in 0..ROUNDS {
        // Even rounds one at a time on fresh connections; odd rounds 4 clients at once, each
        // on one keep-alive connection.
        let got: Vec<Duration> = if round % 2 == 0 {
            (0..PER_ROUND)
                .map(|i| {
                    let r = request(
                        addr,
                        b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    )
                    .unwrap_or_else(|e| panic!("round {round} scrape {i}: {e}"));
                    assert_eq!(r.status, 200, "{r:?}");
                    assert!(r.body.contains("dockhand_build_info"), "{r:?}");
                    if i % 50 == 0 {
                        parse_prometheus(&r.body);
                    }
                    r.elapsed
                })
                .collect()
        } else {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    std::thread::spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        s.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
                        (0..PER_ROUND / THREADS)
                            .map(|_| {
                                let t = Instant::now();
                                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
                                    .unwrap();
                                let r = read_response(&mut s, true).unwrap();
                                assert_eq!(r.status, 200, "{r:?}");
                                t.elapsed()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        };
        assert_eq!(got.len(), PER_ROUND);
        times.extend(got);
        rss.push(rss_kib(pid));
        // Paced a little, so the journal is looked at (every 2 s) between rounds too.
        std::thread::sleep(Duration::from_millis(300));
    }
    let total = t0.elapsed();
    srv.assert_alive();
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    eprintln!(
        "load: {} scrapes over {total:?} (100, then a 0.3 s pause); latency p50 {:?} p99 {:?} max {:?}; VmRSS KiB after each 100 scrapes {rss:?}",
        times.len(),
        pct(0.5),
        pct(0.99),
        times[times.len() - 1],
    );
    assert_eq!(times.len(), ROUNDS * PER_ROUND);
    assert!(pct(0.99) < Duration::from_secs(1), "p99 {:?}", pct(0.99));
    // The first hundred against the last: memory does not grow with scrapes (a leak of even
    // 1 KiB per scrape would show as ~900 KiB here).
    let grew = rss[ROUNDS - 1].saturating_sub(rss[0]);
    assert!(
        grew <= 256,
        "VmRSS grew {grew} KiB from the first hundred scrapes to the last: {rss:?}"
    );
}

#[test]
fn serve_runs_doctor_with_the_config_it_was_given_and_leaves_no_child_behind() {
    let d = shared();
    let t = TempDir::new();
    // Any real filesystem is more than 0 % used: a 0 % warning threshold must fire, in serve's
    // background runs as in doctor's own (each run is `dockhand doctor` in a child process).
    let path = t.write(
        "tight.toml",
        "[checks.\"disk.data-root\"]\nspace_warn_percent = 0\nspace_critical_percent = 100\n",
    );
    let series = r#"dockhand_check_status{check="disk.data-root",area="disk"}"#;
    // The check's status as `doctor --format prometheus` gives it, with or without the config.
    let status = |with: Option<&std::path::Path>| {
        let mut cmd = dockhand_cmd();
        if let Some(p) = with {
            cmd = cmd.config(p);
        }
        let r = cmd
            .args([
                "--host",
                &d.host(),
                "doctor",
                "--format",
                "prometheus",
                "--check",
                "disk.data-root",
            ])
            .run();
        let v = parse_prometheus(&r.stdout)
            .into_iter()
            .find(|(k, _)| k == series)
            .map(|(_, v)| v);
        (v, r)
    };
    let (want, doctor) = status(Some(&path));
    let want = want.unwrap_or_else(|| panic!("doctor printed no {series}:\n{doctor}"));
    let (untightened, plain) = status(None);
    assert_ne!(
        Some(want),
        untightened,
        "the config must change the status:\n{plain}"
    );
    let state = TempDir::new();
    let mut srv = Server::start_with(
        dockhand_cmd().config(&path),
        &[
            "--host",
            &d.host(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &["--interval", "1s", "--check", "disk.data-root"],
    );
    let s = srv.scrape_until(Duration::from_secs(30), "two doctor runs", |s| {
        s.completed_runs() >= 2.0
    });
    assert_eq!(s.get(series), Some(want), "{}", s.text);
    assert_eq!(
        s.get(r#"dockhand_doctor_runs_total{result="failed"}"#),
        Some(0.0),
        "{}",
        s.text
    );
    // The run is a child: none is left behind between runs, and none is a zombie.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", srv.pid()))
        .unwrap_or_default();
    for pid in children.split_whitespace() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains(") Z "), "a zombie doctor run: {stat}");
    }
    srv.assert_alive();
    assert_eq!(srv.stop(Signal::SIGTERM).0, Some(0), "{}", srv.stderr());
}
