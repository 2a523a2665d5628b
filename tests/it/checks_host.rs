//! The host area of `dockhand doctor` — the kernel's view — against throwaway daemons: a
//! container really killed by the OOM killer (a 6 MiB limit and a shell string that doubles)
//! is reported, one stopped with `docker kill` (exit 137, not OOM) is not; a healthy daemon
//! with a running container raises nothing; the kernel's own files are read for real.
//!
//! The host-wide figures (pressure, swap, the kernel log) belong to a machine other tests load
//! at the same time: the assertions are on the checks' judgement of what they read, with
//! thresholds set through the config where the figure itself is not ours to control.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::schema::check;
use crate::support::{Run, TempDir, TestDaemon, dockhand_cmd};

const IDS: [&str; 5] = [
    "host.oom-kills",
    "host.hung-tasks",
    "host.pressure",
    "host.swap",
    "host.clock",
];

/// `doctor --format json --check ID…` against `d`, with the config file `cfg` (else none).
fn doctor(d: &TestDaemon, cfg: Option<&PathBuf>, ids: &[&str]) -> (Run, Value) {
    let mut cmd = dockhand_cmd().args(["--host", &d.host(), "doctor", "--format", "json"]);
    for id in ids {
        cmd = cmd.args(["--check", id]);
    }
    if let Some(c) = cfg {
        cmd = cmd.config(c);
    }
    let r = cmd.run();
    let doc = r.json();
    (r, doc)
}

fn one(d: &TestDaemon, id: &str) -> (Run, Value) {
    let (r, doc) = doctor(d, None, &[id]);
    let c = check(&doc, id).clone();
    (r, c)
}

#[track_caller]
fn assert_status(r: &Run, c: &Value, want: &str) {
    assert_eq!(c["status"], want, "{c:#}\n{r}");
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `name` has exited (or `limit` passed); its `State` then.
fn wait_exited(d: &TestDaemon, name: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let out = d.docker_ok(["inspect", "--format", "{{json .State}}", name]);
        let state: Value = serde_json::from_str(out.trim()).unwrap();
        if state["Running"] == false || start.elapsed() > limit {
            return state;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn host_checks_on_a_healthy_daemon_raise_nothing() {
    let d = TestDaemon::start();
    d.docker_ok(["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    // Pressure and swap are the machine's, which other tests load: judged here against
    // thresholds no figure reaches, so what is asserted is that they were read and judged.
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "config.toml",
        "[checks.\"host.pressure\"]\nsome_warn_pct = 100\nfull_warn_pct = 100\nfull_critical_pct = 100\n\
         [checks.\"host.swap\"]\nused_warn_pct = 100\nused_critical_pct = 100\navailable_critical_pct = 0\nswapin_warn_pages = 1000000000\n",
    );
    let (r, doc) = doctor(&d, Some(&cfg), &IDS);
    for id in IDS {
        let c = check(&doc, id);
        match id {
            // The kernel log may hold another program's hung task from earlier today: then it
            // names it; it is never unknown as root.
            "host.hung-tasks" => {
                let st = c["status"].as_str().unwrap();
                assert!(
                    st == "ok" || (st == "warning" && c["evidence"]["count"].as_u64() > Some(0)),
                    "{c:#}\n{r}"
                );
                assert!(c["evidence"]["kmsg"]["records"].as_u64() > Some(0), "{c:#}");
            }
            _ => assert_status(&r, c, "ok"),
        }
    }
    let oom = check(&doc, "host.oom-kills");
    assert_eq!(oom["evidence"]["count"], 0, "{oom:#}");
    assert!(oom["evidence"]["events_error"].is_null(), "{oom:#}");
    // The running container was measured, and the clock has not jumped since it started.
    let clock = check(&doc, "host.clock");
    let measured = &clock["evidence"]["containers"];
    assert_eq!(names(measured), ["web"], "{clock:#}");
    let jump = measured[0]["jump_secs"].as_f64().unwrap();
    assert!(jump.abs() < 5.0, "{clock:#}");
    assert_eq!(
        clock["evidence"]["engine"], "the engine is on this host: it reads the same clock",
        "{clock:#}"
    );
    // Pressure: this kernel has PSI (the test host's), each resource read.
    let p = check(&doc, "host.pressure");
    for res in ["memory", "io", "cpu"] {
        assert!(
            p["evidence"]["resources"][res]["some"]["avg60"].is_number(),
            "{res}\n{p:#}"
        );
    }
    let swap = check(&doc, "host.swap");
    assert!(
        swap["evidence"]["memory"]["total"].as_u64() > Some(0),
        "{swap:#}"
    );
}

#[test]
fn pressure_over_its_threshold_is_reported_with_its_figures() {
    // The same read judged against thresholds every figure reaches: the judgement turns.
    let d = crate::support::shared();
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "config.toml",
        "[checks.\"host.pressure\"]\nsome_warn_pct = 0\nfull_warn_pct = 0\nfull_critical_pct = 100\n",
    );
    let (r, doc) = doctor(d, Some(&cfg), &["host.pressure"]);
    let c = check(&doc, "host.pressure");
    assert_status(&r, c, "warning");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("the host is under memory and io pressure"),
        "{c:#}"
    );
    assert!(
        c["remedy"].as_str().unwrap().contains("dockhand df"),
        "{c:#}"
    );
}

#[test]
fn a_container_killed_for_memory_is_reported_and_one_killed_by_hand_is_not() {
    let d = TestDaemon::start();
    // Stopped by hand: exit 137, as an OOM kill would be, but not one.
    d.docker_ok(["run", "-d", "--name", "stopped", "busybox", "sleep", "300"]);
    d.docker_ok(["kill", "stopped"]);
    let state = wait_exited(&d, "stopped", Duration::from_secs(10));
    assert_eq!(state["ExitCode"], 137, "{state:#}");
    assert_eq!(state["OOMKilled"], false, "{state:#}");
    let (r, c) = one(&d, "host.oom-kills");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["count"], 0, "{c:#}");

    // A shell string that doubles until the 6 MiB limit (no swap beyond it) is hit.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "hog",
        "--memory",
        "6m",
        "--memory-swap",
        "6m",
        "busybox",
        "sh",
        "-c",
        "x=0123456789abcdef; while true; do x=$x$x; done",
    ]);
    let state = wait_exited(&d, "hog", Duration::from_secs(60));
    assert_eq!(state["OOMKilled"], true, "the kernel killed it\n{state:#}");
    assert_eq!(state["ExitCode"], 137, "{state:#}");

    let (r, c) = one(&d, "host.oom-kills");
    assert_status(&r, &c, "warning");
    r.assert_code(1);
    assert_eq!(names(&c["evidence"]["containers"]), ["hog"], "{c:#}");
    let hog = &c["evidence"]["containers"][0];
    assert_eq!(hog["oom_killed"], true, "{c:#}");
    // Both sources saw it: the mark, and the engine's `oom` event (which 20.10 sends).
    assert!(hog["oom_events"].as_u64() >= Some(1), "{c:#}");
    assert_eq!(hog["memory_limit"], 6 << 20, "{c:#}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("1 container killed by the kernel's OOM killer in the last 24 h: hog"),
        "{summary}"
    );
    assert!(summary.contains("memory limit 6.0 MiB"), "{summary}");
    // The kernel counted it too (host-wide, at least this one).
    assert!(
        c["evidence"]["kernel"]["oom_kill_since_boot"].as_u64() >= Some(1),
        "{c:#}"
    );
    assert!(
        c["remedy"]
            .as_str()
            .unwrap()
            .contains("docker stats --no-stream hog"),
        "{c:#}"
    );

    // Past the window (zero hours, a second later), neither source counts it.
    std::thread::sleep(Duration::from_millis(1500));
    let tmp = TempDir::new();
    let cfg = tmp.write(
        "config.toml",
        "[checks.\"host.oom-kills\"]\nwindow_hours = 0\n",
    );
    let (r, doc) = doctor(&d, Some(&cfg), &["host.oom-kills"]);
    assert_status(&r, check(&doc, "host.oom-kills"), "ok");
}
