//! doctor's daemon-configuration checks against real daemons: the pid file, daemon.json,
//! live-restore, log rotation, the API on TCP, the engine's warnings.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::daemon::DOCKER_TIMEOUT;
use crate::support::{Run, TestDaemon, dockhand};

const CONFIG_CHECKS: &[&str] = &[
    "daemon.pidfile",
    "daemon.config",
    "daemon.live-restore",
    "daemon.log-rotation",
    "daemon.tcp-exposed",
    "daemon.warnings",
];

/// `doctor --format json --check …` against `host`.
fn doctor(host: &str, checks: &[&str]) -> (Run, Value) {
    let mut args: Vec<String> = vec![
        "--host".into(),
        host.into(),
        "doctor".into(),
        "--format".into(),
        "json".into(),
    ];
    for c in checks {
        args.push("--check".into());
        args.push((*c).into());
    }
    let r = dockhand(&args);
    assert!(!r.timed_out, "{r}");
    assert!(matches!(r.code, Some(0..=3)), "{r}");
    let doc = r.json();
    (r, doc)
}

#[track_caller]
fn check(doc: &Value, id: &str) -> Value {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no check {id} in\n{doc:#}"))
}

/// One check's finding, from a run of that check alone.
#[track_caller]
fn one(d: &TestDaemon, id: &str) -> Value {
    let (_, doc) = doctor(&d.host(), &[id]);
    check(&doc, id)
}

/// `/info` straight from the socket (HTTP/1.0: the body ends at EOF).
fn info(d: &TestDaemon) -> Value {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(DOCKER_TIMEOUT)).unwrap();
    s.write_all(b"GET /info HTTP/1.0\r\nHost: docker\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    serde_json::from_slice(&buf[split + 4..]).unwrap()
}

/// The engine's warnings → the status daemon.warnings must give.
fn expected_warnings_status(d: &TestDaemon) -> &'static str {
    let empty = info(d)["Warnings"].as_array().is_none_or(|w| {
        w.iter()
            .all(|x| x.as_str().is_none_or(|s| s.trim().is_empty()))
    });
    if empty { "ok" } else { "warning" }
}

/// Kills and reaps a process the test spawned, by its own handle.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn config_checks_on_a_default_daemon_and_a_broken_pidfile_and_daemon_json() {
    let d = TestDaemon::builder().without_busybox().start();
    let (r, doc) = doctor(&d.host(), CONFIG_CHECKS);

    // Negatives: the pid file names the daemon, daemon.json is "{}", no TCP.
    let pf = check(&doc, "daemon.pidfile");
    assert_eq!(pf["status"], "ok", "{pf:#}\n{r}");
    assert_eq!(pf["evidence"]["named_pid"], d.pid(), "{pf:#}");
    assert_eq!(check(&doc, "daemon.config")["status"], "ok", "{r}");
    let tcp = check(&doc, "daemon.tcp-exposed");
    assert_eq!(tcp["status"], "ok", "{tcp:#}");
    assert_eq!(
        tcp["evidence"]["tcp_hosts"].as_array().unwrap().len(),
        0,
        "{tcp:#}"
    );
    let w = check(&doc, "daemon.warnings");
    assert_eq!(w["status"], expected_warnings_status(&d), "{w:#}");

    // Positives of a default daemon: live-restore off, json-file without max-size.
    let lr = check(&doc, "daemon.live-restore");
    assert_eq!(lr["status"], "warning", "{lr:#}");
    assert_eq!(lr["evidence"]["live_restore"], false, "{lr:#}");
    assert!(
        lr["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("kill -HUP {}", d.pid())),
        "{lr:#}"
    );
    let lg = check(&doc, "daemon.log-rotation");
    assert_eq!(lg["status"], "warning", "{lg:#}");
    assert_eq!(lg["evidence"]["log_driver"], "json-file", "{lg:#}");
    assert!(lg["evidence"]["max_size"].is_null(), "{lg:#}");

    // The pid file names a live process that is not dockerd: the next start would fail.
    let pidfile = d.pidfile();
    let original = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(original.trim(), d.pid().to_string());
    let sleeper = Spawned(
        Command::new("sleep")
            .arg("120")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let sleep_pid = sleeper.0.id() as i32;
    std::fs::write(&pidfile, format!("{sleep_pid}\n")).unwrap();
    let pf = one(&d, "daemon.pidfile");
    assert_eq!(pf["status"], "critical", "{pf:#}");
    assert_eq!(pf["evidence"]["named_pid"], sleep_pid, "{pf:#}");
    assert_eq!(pf["evidence"]["named_process"]["comm"], "sleep", "{pf:#}");
    assert!(
        pf["summary"]
            .as_str()
            .unwrap()
            .contains(&sleep_pid.to_string()),
        "{pf:#}"
    );
    assert!(
        pf["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("echo {}", d.pid())),
        "{pf:#}"
    );

    // A pid that no longer exists: a warning (harmless until reused).
    let gone = 4_194_300;
    assert!(
        !std::path::Path::new(&format!("/proc/{gone}")).exists(),
        "pid {gone} exists here"
    );
    std::fs::write(&pidfile, format!("{gone}\n")).unwrap();
    let pf = one(&d, "daemon.pidfile");
    assert_eq!(pf["status"], "warning", "{pf:#}");
    assert_eq!(pf["evidence"]["named_pid"], gone, "{pf:#}");
    assert!(pf["evidence"]["named_process"].is_null(), "{pf:#}");

    std::fs::write(&pidfile, &original).unwrap();
    assert_eq!(one(&d, "daemon.pidfile")["status"], "ok");
    drop(sleeper);

    // daemon.json that does not parse: the next restart fails.
    let dj = d.daemon_json();
    std::fs::write(&dj, "{ not json").unwrap();
    let c = one(&d, "daemon.config");
    assert_eq!(c["status"], "critical", "{c:#}");
    assert_eq!(c["evidence"]["path"], dj.to_str().unwrap(), "{c:#}");
    assert!(
        c["summary"].as_str().unwrap().contains("does not parse"),
        "{c:#}"
    );
    // … and the checks that read it say they cannot tell, rather than guess.
    assert_eq!(one(&d, "daemon.log-rotation")["status"], "unknown");

    // A key dockerd does not know.
    std::fs::write(&dj, "{\"log-driver\":\"json-file\",\n \"no-such-key\":1}\n").unwrap();
    let c = one(&d, "daemon.config");
    assert_eq!(c["status"], "warning", "{c:#}");
    let unknown = c["evidence"]["unknown"].as_array().unwrap();
    assert_eq!(unknown.len(), 1, "{c:#}");
    assert_eq!(unknown[0]["key"], "no-such-key", "{c:#}");
    assert_eq!(unknown[0]["line"], 2, "{c:#}");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("no-such-key (line 2)"),
        "{c:#}"
    );

    // An option also given as a flag on the daemon's command line (--data-root).
    std::fs::write(&dj, "{\"data-root\": \"/elsewhere\"}\n").unwrap();
    let c = one(&d, "daemon.config");
    assert_eq!(c["status"], "critical", "{c:#}");
    assert_eq!(c["evidence"]["conflicts"][0]["key"], "data-root", "{c:#}");
    assert_eq!(
        c["evidence"]["conflicts"][0]["flag"], "--data-root",
        "{c:#}"
    );

    std::fs::write(&dj, "{}\n").unwrap();
    assert_eq!(one(&d, "daemon.config")["status"], "ok");
}

#[test]
fn live_restore_and_default_log_limits_make_those_checks_ok() {
    let d = TestDaemon::builder()
        .without_busybox()
        .daemon_json(r#"{"live-restore": true, "log-opts": {"max-size": "10m", "max-file": "3"}}"#)
        .start();
    let (r, doc) = doctor(&d.host(), CONFIG_CHECKS);
    let lr = check(&doc, "daemon.live-restore");
    assert_eq!(lr["status"], "ok", "{lr:#}\n{r}");
    assert_eq!(lr["evidence"]["live_restore"], true, "{lr:#}");
    let lg = check(&doc, "daemon.log-rotation");
    assert_eq!(lg["status"], "ok", "{lg:#}");
    assert_eq!(lg["evidence"]["max_size"], "10m", "{lg:#}");
    assert_eq!(lg["evidence"]["max_file"], "3", "{lg:#}");
    let c = check(&doc, "daemon.config");
    assert_eq!(c["status"], "ok", "{c:#}");
    // Two keys of the test's, and the containerd store's `features` where the engine has it.
    let keys = 2 + usize::from(crate::support::daemon::engine().containerd_store());
    assert_eq!(
        c["evidence"]["keys"].as_array().unwrap().len(),
        keys,
        "{c:#}"
    );
    for id in ["daemon.pidfile", "daemon.tcp-exposed"] {
        assert_eq!(check(&doc, id)["status"], "ok", "{id}\n{r}");
    }
    assert_eq!(
        check(&doc, "daemon.warnings")["status"],
        expected_warnings_status(&d),
        "{r}"
    );
}

#[test]
fn api_on_loopback_tcp_without_tls_is_critical() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("tcp://127.0.0.1:{port}");
    let d = TestDaemon::builder()
        .without_busybox()
        .arg("-H")
        .arg(addr.clone())
        .start();
    let (r, doc) = doctor(&d.host(), &["daemon.tcp-exposed", "daemon.warnings"]);
    let tcp = check(&doc, "daemon.tcp-exposed");
    assert_eq!(tcp["status"], "critical", "{tcp:#}\n{r}");
    let hosts = tcp["evidence"]["tcp_hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{tcp:#}");
    assert_eq!(hosts[0]["address"], addr.as_str(), "{tcp:#}");
    assert_eq!(hosts[0]["loopback"], true, "{tcp:#}");
    assert_eq!(tcp["evidence"]["tls"], "off", "{tcp:#}");
    let summary = tcp["summary"].as_str().unwrap();
    assert!(
        summary.contains(&addr) && summary.contains("loopback"),
        "{tcp:#}"
    );

    // The engine warns about it too; daemon.warnings passes that through.
    let w = check(&doc, "daemon.warnings");
    assert_eq!(w["status"], "warning", "{w:#}");
    let warnings = w["evidence"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|x| x.as_str().unwrap().contains("without encryption")),
        "{w:#}"
    );
    r.assert_code(2);

    // dockhand itself reaching the API over that port is evidence enough.
    let (_, doc) = doctor(&addr, &["daemon.tcp-exposed"]);
    let tcp = check(&doc, "daemon.tcp-exposed");
    assert_eq!(tcp["status"], "critical", "{tcp:#}");
    assert_eq!(
        tcp["evidence"]["dockhand_connected_over_tcp"],
        format!("127.0.0.1:{port}"),
        "{tcp:#}"
    );
}
