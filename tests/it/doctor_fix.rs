//! `dockhand doctor --fix` against what Docker really leaves behind: a leaked docker-proxy and a
//! dangling image fixed by `--fix --apply` (each the step reap or gc plans, journaled under
//! `doctor --fix`) with the check ok after; a dry run that changes nothing; `--fix=ports` that
//! leaves the images alone; a frozen daemon whose unknown findings never act; an image that
//! got a container between the plan and its apply; advice for what a person must do. Every
//! document is read through the library's own `fix` type and doctor's schema.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dockhand::actions::journal::{self, Body};
use dockhand::report::doctor_fix::FixDoc;
use serde_json::Value;

use crate::support::images::{self, ImageSpec, Layer};
use crate::support::leaks::{Network, free_port, spawn_proxy, tcp_listening, wait_for};
use crate::support::schema::{Evidence, validate_report};
use crate::support::{Run, TempDir, TestDaemon, dockhand_cmd, procfs};

/// `dockhand --host H --state-dir S --config C doctor ARGS --format json`: the run, its
/// document and its `fix` object.
pub(crate) fn doctor_fix(
    d: &TestDaemon,
    state: &TempDir,
    config: &PathBuf,
    args: &[&str],
    env: Option<(&str, &std::path::Path)>,
) -> (Run, Value, FixDoc) {
    let mut cmd = dockhand_cmd()
        .config(config)
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .arg("doctor")
        .args(args)
        .args(["--format", "json"]);
    if let Some((k, v)) = env {
        cmd = cmd.env(k, v);
    }
    let r = cmd.run();
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.doctor/v1 document ({e})\n{r}"));
    let fix: FixDoc = serde_json::from_value(v["fix"].clone())
        .unwrap_or_else(|e| panic!("no fix object ({e})\n{r}"));
    (r, v, fix)
}

fn status_of<'a>(v: &'a Value, id: &str) -> &'a str {
    v["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {id} in {v:#}"))
}

/// The runs the journal holds: (command, the outcomes of its steps).
pub(crate) fn journal_runs(state: &TempDir) -> Vec<(String, Vec<String>)> {
    let Some(c) = journal::read(&state.join(journal::FILE_NAME)).unwrap() else {
        return Vec::new();
    };
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for r in &c.records {
        match &r.body {
            Body::RunStart { command, .. } => runs.push((command.clone(), Vec::new())),
            Body::Outcome { outcome, .. } => {
                if let Some(last) = runs.last_mut() {
                    last.1.push(outcome.clone());
                }
            }
            _ => {}
        }
    }
    runs
}

fn image_exists(d: &TestDaemon, id: &str) -> bool {
    d.docker(["image", "inspect", id]).code == Some(0)
}

/// A config that makes one dangling image a warning and lets gc collect it at once.
fn dangling_config(state: &TempDir) -> PathBuf {
    state.write(
        "config.toml",
        "[checks.\"images.dangling\"]\nwarn_count = 1\n[checks.\"volumes.dangling\"]\nwarn_count = 1\n[gc]\nmin_age = \"0s\"\n",
    )
}

/// A dangling image no container uses: `t:1` loaded, then moved to another image.
fn dangling(d: &TestDaemon, seed: &str) -> String {
    images::load(
        d,
        &[ImageSpec::new(
            "t:1",
            vec![Layer::busybox(), Layer::blob(seed, 2048)],
        )],
    );
    // The engine's id: the config's digest on the graph driver, the manifest's under the
    // containerd image store.
    let old = d.docker_ok(["image", "inspect", "-f", "{{.Id}}", "t:1"]);
    images::load(
        d,
        &[ImageSpec::new(
            "t:1",
            vec![Layer::busybox(), Layer::blob(&format!("{seed}-new"), 2048)],
        )],
    );
    assert!(image_exists(d, &old));
    old
}

#[test]
fn doctor_fix_apply_stops_a_leaked_proxy_and_the_check_is_ok_after() {
    let _host = crate::support::host_problem();
    let d = TestDaemon::start();
    let _net = Network::create(&d, "10.213.250.0/24", "dhfx1");
    let port = free_port();
    let proxy = spawn_proxy("tcp", "127.0.0.1", port, "10.213.250.254", 80);
    let pid = proxy.pid();
    let state = TempDir::new();
    let config = state.write("config.toml", "");
    let check = ["--check", "ports.leaked-proxy"];

    // The dry run: the finding, then reap's step for it; nothing changes, no journal.
    let (r, v, fix) = doctor_fix(
        &d,
        &state,
        &config,
        &[&check[..], &["--fix"]].concat(),
        None,
    );
    validate_report(&v, Evidence::TypesOnly).unwrap_or_else(|e| panic!("{e}\n{r}"));
    assert_eq!(status_of(&v, "ports.leaked-proxy"), "warning", "{r}");
    r.assert_code(1);
    assert_eq!(fix.mode, "dry-run");
    let step = fix
        .steps
        .iter()
        .find(|s| s.step.target == format!("pid {pid} (docker-proxy)"))
        .unwrap_or_else(|| panic!("{fix:#?}"));
    assert_eq!(
        (
            step.check.as_str(),
            step.category.as_str(),
            step.planner.as_str()
        ),
        ("ports.leaked-proxy", "leaked-proxy", "reap")
    );
    assert_eq!(step.step.outcome, None);
    assert!(procfs::is_alive(pid), "a dry run ended the proxy");
    assert!(journal_runs(&state).is_empty(), "a dry run journaled");

    // The table says the same, after the findings.
    let t = dockhand_cmd()
        .config(&config)
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args(["doctor", "--check", "ports.leaked-proxy", "--fix"])
        .run();
    t.assert_code(1);
    assert!(
        t.stdout.contains("Fix: 1 step dockhand can carry out")
            && t.stdout.contains(&format!("pid {pid} (docker-proxy)")),
        "{t}"
    );

    // --apply: the step done under the journal, the check run again and ok.
    let (r, v, fix) = doctor_fix(
        &d,
        &state,
        &config,
        &[&check[..], &["--fix", "--apply"]].concat(),
        None,
    );
    validate_report(&v, Evidence::TypesOnly).unwrap_or_else(|e| panic!("{e}\n{r}"));
    r.assert_code(0);
    assert_eq!(fix.mode, "apply");
    assert_eq!(
        fix.steps[0].step.outcome.as_deref(),
        Some("done"),
        "{fix:#?}"
    );
    assert_eq!(status_of(&v, "ports.leaked-proxy"), "ok", "{r}");
    assert_eq!(fix.before.len(), 1);
    assert_eq!(fix.before[0].status, "warning");
    assert!(fix.run_id.is_some());
    wait_for("the port to be free", Duration::from_secs(5), || {
        !tcp_listening(port)
    });
    // A monitor's format speaks of the state after: ok now.
    let n = dockhand_cmd()
        .config(&config)
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args([
            "doctor",
            "--check",
            "ports.leaked-proxy",
            "--fix",
            "--format",
            "nagios",
        ])
        .run();
    n.assert_code(0);
    assert!(n.stdout.contains("OK"), "{n}");
    let runs = journal_runs(&state);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, "doctor --fix");
    assert_eq!(runs[0].1, ["done"]);
    drop(proxy);
}

// Over 100 lines: one host, four runs in order (dry run, --fix=ports, --apply, after), each
// compared with the one before; split, the comparison would be lost.
#[test]
fn doctor_fix_removes_a_dangling_image_and_leaves_the_rest_to_a_person() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let config = dangling_config(&state);
    let old = dangling(&d, "dfx-img");
    // An anonymous volume no container mounts: gc collects volumes only when asked, so it is
    // advice, never a step.
    d.docker_ok([
        "create", "--name", "withvol", "-v", "/data", "busybox", "true",
    ]);
    d.docker_ok(["rm", "withvol"]);
    // Options after the image: only a person can recreate the container as meant.
    d.docker_ok(["create", "busybox", "--name=web"]);
    let checks = [
        "--check",
        "images.dangling,volumes.dangling,containers.misplaced-flags",
    ];

    let (r, v, fix) = doctor_fix(
        &d,
        &state,
        &config,
        &[&checks[..], &["--fix"]].concat(),
        None,
    );
    validate_report(&v, Evidence::TypesOnly).unwrap_or_else(|e| panic!("{e}\n{r}"));
    r.assert_code(1);
    let step = fix
        .steps
        .iter()
        .find(|s| s.check == "images.dangling")
        .unwrap_or_else(|| panic!("{fix:#?}"));
    assert_eq!(step.planner, "gc");
    assert_eq!(step.category, "image");
    assert_eq!(step.step.kind, "image.remove");
    assert_eq!(step.step.target, old["sha256:".len()..][..12], "{fix:#?}");
    assert!(
        fix.steps.iter().all(|s| s.check != "volumes.dangling"),
        "a volume is planned although gc collects none unasked: {fix:#?}"
    );
    let advice = fix
        .advice
        .iter()
        .find(|a| a.check == "volumes.dangling")
        .unwrap_or_else(|| panic!("{fix:#?}"));
    assert!(
        advice
            .commands
            .iter()
            .any(|c| c == &["dockhand", "gc", "--volumes"]),
        "{advice:#?}"
    );
    let misplaced = fix
        .advice
        .iter()
        .find(|a| a.check == "containers.misplaced-flags")
        .unwrap_or_else(|| panic!("{fix:#?}"));
    assert!(
        misplaced.text.contains("docker create --name=web busybox"),
        "{misplaced:#?}"
    );
    assert!(
        fix.steps
            .iter()
            .all(|s| s.check == "images.dangling" && s.step.kind == "image.remove"),
        "{fix:#?}"
    );
    assert!(image_exists(&d, &old), "a dry run removed the image");

    // Limited to the ports: the images are left alone, nothing is journaled.
    let (r, _, fix) = doctor_fix(
        &d,
        &state,
        &config,
        &[&checks[..], &["--fix=ports", "--apply"]].concat(),
        None,
    );
    r.assert_code(1);
    assert!(fix.steps.is_empty(), "{fix:#?}");
    assert!(
        fix.scope.len() == 3 && fix.scope.iter().all(|id| id.starts_with("ports.")),
        "{fix:#?}"
    );
    assert!(image_exists(&d, &old), "--fix=ports removed an image");
    assert!(journal_runs(&state).is_empty());

    // --apply: the image goes; the volume stays a warning, so the run still exits 1.
    let (r, v, fix) = doctor_fix(
        &d,
        &state,
        &config,
        &[&checks[..], &["--fix", "--apply"]].concat(),
        None,
    );
    r.assert_code(1);
    let step = fix
        .steps
        .iter()
        .find(|s| s.check == "images.dangling")
        .unwrap();
    assert_eq!(step.step.outcome.as_deref(), Some("done"), "{fix:#?}");
    assert!(!image_exists(&d, &old), "the dangling image is still there");
    assert_eq!(status_of(&v, "images.dangling"), "ok", "{r}");
    assert_eq!(status_of(&v, "volumes.dangling"), "warning", "{r}");
    assert_eq!(v["exit_code"], 1);
    assert!(image_exists(&d, "t:1") && image_exists(&d, "busybox"));
    let runs = journal_runs(&state);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, "doctor --fix");
    assert_eq!(runs[0].1, ["done"]);
}

#[test]
fn doctor_fix_never_acts_on_what_a_frozen_daemon_leaves_unknown() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let config = dangling_config(&state);
    let old = dangling(&d, "dfx-frozen");
    d.freeze();
    let t0 = Instant::now();
    let r = dockhand_cmd()
        .config(&config)
        .args(["--host", &d.host(), "--timeout", "1s", "--state-dir"])
        .arg(state.path())
        .args([
            "doctor",
            "--check",
            "images.dangling,daemon.responsive",
            "--fix",
            "--apply",
            "--format",
            "json",
        ])
        .run();
    let took = t0.elapsed();
    d.thaw();
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    let fix: FixDoc = serde_json::from_value(v["fix"].clone()).unwrap();
    assert_eq!(status_of(&v, "images.dangling"), "unknown", "{r}");
    assert!(fix.steps.is_empty(), "{fix:#?}");
    assert!(
        fix.left_alone
            .iter()
            .any(|l| l.check == "images.dangling" && l.why.contains("never acted on")),
        "{fix:#?}"
    );
    // Critical (the daemon is frozen) outranks unknown.
    r.assert_code(2);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(image_exists(&d, &old), "an unknown finding acted");
    assert!(journal_runs(&state).is_empty());
}

#[test]
fn doctor_fix_skips_an_image_that_got_a_container_between_the_plan_and_its_apply() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let config = dangling_config(&state);
    let old = dangling(&d, "dfx-race");
    let pause = TempDir::new();
    let cmd = dockhand_cmd()
        .config(&config)
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args([
            "doctor",
            "--check",
            "images.dangling",
            "--fix",
            "--apply",
            "--format",
            "json",
        ])
        .env("DOCKHAND_TEST_PAUSE_BEFORE_FIX", pause.path())
        .timeout(Duration::from_secs(90));
    let running = std::thread::spawn(move || cmd.run());
    wait_for("the plan to be made", Duration::from_secs(60), || {
        pause.join("paused").exists()
    });
    // Meanwhile someone creates a container from the image.
    d.docker_ok(["create", "--name", "late", &old, "true"]);
    std::fs::write(pause.join("resume"), b"").unwrap();
    let r = running.join().unwrap();
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    let fix: FixDoc = serde_json::from_value(v["fix"].clone()).unwrap();
    let step = fix
        .steps
        .iter()
        .find(|s| s.check == "images.dangling")
        .unwrap_or_else(|| panic!("{fix:#?}"));
    let outcome = step.step.outcome.as_deref();
    assert!(
        matches!(outcome, Some("in-use" | "changed")),
        "the image was not refused: {fix:#?}"
    );
    // Skipped for safety is not a failure; the image is in use now, so no longer reclaimable.
    r.assert_code(0);
    assert!(
        image_exists(&d, &old),
        "an image with a container was removed"
    );
    assert!(d.docker(["container", "inspect", "late"]).code == Some(0));
}
