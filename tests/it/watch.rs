//! `dockhand watch` against throwaway daemons: last use recorded from the event stream between
//! two gc runs, the stream resumed after a daemon restart, a frozen daemon recovered once and
//! the budget honoured when it freezes again, and a watch killed mid-recovery (the next start
//! says so and does not repeat it blindly).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::formats::parse_prometheus;
use crate::support::daemon::spawn_tied;
use crate::support::{TempDir, TestDaemon, dockhand, dockhand_cmd};

/// A running `dockhand watch`, killed when dropped unless it was stopped.
struct Watcher {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    fn start(d: &TestDaemon, state: &Path, args: &[&str], env: &[(&str, &Path)]) -> Watcher {
        let mut cmd = dockhand_cmd()
            .args(["--host", &d.host(), "--state-dir"])
            .arg(state)
            .args(["watch", "--listen", "127.0.0.1:0"])
            .args(args)
            .command();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn_tied(cmd, Signal::SIGKILL).expect("spawn dockhand watch");
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
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.split("serving metrics on http://").nth(1) {
                        break rest.split('/').next().unwrap().parse().unwrap();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "watch did not say where it serves:\n{}",
                        lines.lock().unwrap().join("\n")
                    );
                }
            }
        };
        Watcher {
            child,
            addr,
            stderr: lines,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// /metrics as (series, value).
    fn scrape(&self) -> Vec<(String, f64)> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        parse_prometheus(body)
    }

    fn metric(&self, series: &str) -> Option<f64> {
        self.scrape()
            .into_iter()
            .find(|(k, _)| k == series)
            .map(|(_, v)| v)
    }

    /// Waits (bounded) until `ok` holds of stderr.
    #[track_caller]
    fn wait_said(&self, within: Duration, what: &str) {
        let deadline = Instant::now() + within;
        while !self.stderr().contains(what) {
            assert!(
                Instant::now() < deadline,
                "watch never said {what:?} within {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[track_caller]
    fn wait_metric(&self, within: Duration, series: &str, ok: impl Fn(f64) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if self.metric(series).is_some_and(&ok) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} not as wanted within {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, and the exit code (bounded).
    fn stop(&mut self) -> Option<i32> {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                Instant::now() < deadline,
                "watch did not stop:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The last use gc's state records for `image` (any daemon in the file), if any.
fn last_used(state: &Path, image: &str) -> Option<f64> {
    let text = std::fs::read_to_string(state.join("gc-state.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["daemons"].as_object()?.values().find_map(|d| {
        d["images"][image]["last_used"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_nanosecond() as f64 / 1e9)
    })
}

fn image_id(d: &TestDaemon, reference: &str) -> String {
    d.docker_ok(["image", "inspect", "--format", "{{.Id}}", reference])
        .trim()
        .to_string()
}

#[track_caller]
fn wait_last_used(state: &Path, image: &str, after: f64, within: Duration, w: &Watcher) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = last_used(state, image).filter(|&t| t >= after) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "no last use of {image} at or after {after} within {within:?}: {:?}\n{}",
            std::fs::read_to_string(state.join("gc-state.json")),
            w.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn gc_images(d: &TestDaemon, state: &Path) {
    dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state)
        .args(["gc", "--images", "--format", "json"])
        .run()
        .assert_code(0);
}

#[test]
fn watch_records_last_use_of_an_image_used_only_between_two_gc_runs() {
    let d = TestDaemon::start();
    d.import_busybox("lastuse:1");
    let id = image_id(&d, "lastuse:1");
    let state = TempDir::new();
    gc_images(&d, state.path());
    let first = last_used(state.path(), &id);
    let mut w = Watcher::start(&d, state.path(), &["--interval", "1s"], &[]);
    std::thread::sleep(Duration::from_millis(500));
    // gc's state keeps whole seconds: the use must fall in a later second than the first record
    // (the import itself), or it would read as the same use on a fast run.
    while first.is_some_and(|f| now() < f + 1.2) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let used_at = now() - 1.0;
    // Used once, between the two gc runs, by a container that is gone before the second.
    d.docker_ok(["run", "--rm", "--network", "none", "lastuse:1", "true"]);
    let t = wait_last_used(state.path(), &id, used_at, Duration::from_secs(15), &w);
    assert!(first.is_none_or(|f| t > f), "{first:?} {t}");
    w.wait_metric(Duration::from_secs(5), "dockhand_watch_events_total", |n| {
        n >= 2.0
    });
    assert_eq!(w.metric("dockhand_watch_stream_connected"), Some(1.0));
    assert_eq!(w.stop(), Some(0), "{}", w.stderr());
    assert!(w.stderr().contains("watch stopped"), "{}", w.stderr());
    // The daemon restarts: its event buffer is gone, so only what watch wrote remembers the use.
    d.kill9();
    let again = crate::support::leaks::restart_dockerd(&d, "dockerd-again.log");
    gc_images(&d, state.path());
    let after_gc = last_used(state.path(), &id).expect("the second gc run kept the last use");
    assert!(after_gc >= t, "{after_gc} < {t}");
    drop(again);
}

#[test]
fn watch_resumes_the_event_stream_after_a_daemon_restart_and_says_what_it_may_have_missed() {
    let d = TestDaemon::start();
    d.import_busybox("resume:1");
    let id = image_id(&d, "resume:1");
    let state = TempDir::new();
    let w = Watcher::start(&d, state.path(), &["--interval", "1s"], &[]);
    w.wait_metric(
        Duration::from_secs(10),
        "dockhand_watch_stream_connected",
        |v| v == 1.0,
    );
    d.kill9();
    w.wait_metric(
        Duration::from_secs(10),
        "dockhand_watch_stream_connected",
        |v| v == 0.0,
    );
    let again = crate::support::leaks::restart_dockerd(&d, "dockerd-again.log");
    w.wait_said(Duration::from_secs(20), "the event stream was lost for");
    w.wait_metric(
        Duration::from_secs(10),
        "dockhand_watch_stream_connected",
        |v| v == 1.0,
    );
    assert!(w.metric("dockhand_watch_stream_gaps_total").unwrap_or(0.0) >= 1.0);
    let used_at = now() - 1.0;
    d.docker_ok([
        "create",
        "--network",
        "none",
        "--name",
        "after",
        "resume:1",
        "true",
    ]);
    wait_last_used(state.path(), &id, used_at, Duration::from_secs(15), &w);
    drop(w);
    drop(again);
}

const LIVE_RESTORE: &str = r#"{"live-restore": true}"#;

fn start_cmd(d: &TestDaemon) -> String {
    crate::support::procfs::cmdline(d.pid()).expect("the daemon's command line")
}

/// The pid in the daemon's pid file (the daemon watch started after a recovery).
fn pid_now(d: &TestDaemon) -> i32 {
    std::fs::read_to_string(d.pidfile())
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The journal's recover runs as (status).
fn recover_runs(state: &Path) -> Vec<String> {
    let r = dockhand([
        "--state-dir",
        state.to_str().unwrap(),
        "journal",
        "--format",
        "json",
    ]);
    let doc = r.json();
    doc["runs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["command"] == "recover")
                .map(|r| r["status"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn watch_recovers_a_frozen_daemon_once_and_honours_its_budget_when_it_freezes_again() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    let cmdline = start_cmd(&d);
    let state = TempDir::new();
    let log = d.log_path();
    let w = Watcher::start(
        &d,
        state.path(),
        &[
            "--interval",
            "200ms",
            "--recover",
            "--recover-after",
            "1s",
            "--max-recoveries",
            "1",
            "--start-cmd",
            &cmdline,
            "--log-file",
            log.to_str().unwrap(),
        ],
        &[],
    );
    let old = d.pid();
    let frozen_at = Instant::now();
    d.freeze();
    w.wait_said(Duration::from_secs(90), "watch: recover: recovered");
    let took = frozen_at.elapsed();
    let new = pid_now(&d);
    assert!(new > 0 && new != old, "{new} {old}\n{}", w.stderr());
    assert!(d.ping(Duration::from_secs(5)).is_ok());
    // Frozen again right after: the budget (1 an hour) is spent — a critical finding, no loop.
    kill(Pid::from_raw(new), Signal::SIGSTOP).unwrap();
    w.wait_said(Duration::from_secs(20), "the recovery budget is spent");
    w.wait_metric(
        Duration::from_secs(5),
        "dockhand_watch_recovery_budget_exhausted",
        |v| v == 1.0,
    );
    assert_eq!(w.metric("dockhand_watch_recoveries_used"), Some(1.0));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        w.stderr().matches("running the recover plan").count(),
        1,
        "{}",
        w.stderr()
    );
    assert_eq!(pid_now(&d), new, "the daemon was touched again");
    let _ = kill(Pid::from_raw(new), Signal::SIGCONT);
    assert_eq!(recover_runs(state.path()), ["completed"], "{}", w.stderr());
    eprintln!("frozen → recovered in {took:?}");
    drop(w);
}

#[test]
fn watch_killed_mid_recovery_is_said_on_the_next_start_and_not_repeated_blindly() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    let cmdline = start_cmd(&d);
    let state = TempDir::new();
    let pause = TempDir::new();
    let log = d.log_path();
    let args = [
        "--interval",
        "200ms",
        "--recover",
        "--recover-after",
        "1s",
        "--max-recoveries",
        "2",
        "--start-cmd",
        &cmdline,
        "--log-file",
        log.to_str().unwrap(),
    ];
    let mut w = Watcher::start(
        &d,
        state.path(),
        &args,
        &[("DOCKHAND_TEST_PAUSE_BEFORE_STOP", pause.path())],
    );
    let pid = d.pid();
    let started = procfs_start(pid);
    d.freeze();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pause.join("paused").exists() {
        assert!(
            Instant::now() < deadline,
            "no recovery began:\n{}",
            w.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    w.kill9();
    d.thaw();
    assert!(d.ping(Duration::from_secs(5)).is_ok());
    assert_eq!(recover_runs(state.path()), ["unfinished"]);
    // The next watch says so, counts it, and does not start another on a daemon that serves.
    let w2 = Watcher::start(&d, state.path(), &args, &[]);
    w2.wait_said(Duration::from_secs(10), "never ended");
    let said = w2.stderr();
    assert!(said.contains("without an end"), "{said}");
    w2.wait_metric(
        Duration::from_secs(5),
        "dockhand_watch_recoveries_used",
        |v| v == 1.0,
    );
    assert_eq!(w2.metric("dockhand_watch_recoveries_unfinished"), Some(1.0));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !w2.stderr().contains("running the recover plan"),
        "{}",
        w2.stderr()
    );
    // The daemon was not touched: the same process, serving.
    assert_eq!(procfs_start(pid), started);
    let ledger: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("watch-state.json")).unwrap())
            .unwrap();
    assert!(ledger.get("in_flight").is_none(), "{ledger}");
    assert_eq!(
        ledger["attempts"].as_array().map(Vec::len),
        Some(1),
        "{ledger}"
    );
    drop(w2);
}

fn procfs_start(pid: i32) -> Option<u64> {
    crate::support::procfs::stat(pid).map(|s| s.starttime)
}
