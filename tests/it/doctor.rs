//! `dockhand doctor`: the CLI contract (exit codes, JSON schema, usage errors) against real daemons.

use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::schema::{self, Evidence, check, check_ids};
use crate::support::{Run, TempDir, TestDaemon, dockhand, dockhand_cmd, shared};

/// `--host <daemon> --format json doctor` (plus `extra` after `doctor`).
fn doctor_json(host: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--host", host, "doctor", "--format", "json"];
    args.extend_from_slice(extra);
    dockhand(args)
}

#[track_caller]
fn valid(r: &Run, evidence: Evidence) -> Value {
    let doc = r.json();
    if let Err(e) = schema::validate_report(&doc, evidence) {
        panic!("report does not match the documented schema:\n{e}\n{r}");
    }
    doc
}

/// Percent used of space and inodes on the filesystem holding `path`, the way df counts them.
fn fs_usage(path: &std::path::Path) -> (f64, f64) {
    let s = nix::sys::statvfs::statvfs(path).unwrap();
    let used = (s.blocks() - s.blocks_free()) as f64;
    let space = 100.0 * used / (used + s.blocks_available() as f64).max(1.0);
    let iused = (s.files() - s.files_free()) as f64;
    let inodes = 100.0 * iused / (s.files() as f64).max(1.0);
    (space, inodes)
}

/// Whether disk.data-root may legitimately warn on this host (a nearly full /tmp).
fn disk_may_warn(d: &TestDaemon) -> bool {
    let (space, inodes) = fs_usage(&d.data_root());
    space >= 80.0 || inodes >= 80.0
}

#[track_caller]
fn assert_healthy(r: &Run, d: &TestDaemon) -> Value {
    let doc = valid(r, Evidence::Complete);
    let disk_warn = disk_may_warn(d);
    for id in schema::catalog_ids() {
        let c = check(&doc, id);
        let st = c["status"].as_str().unwrap();
        let ok = st == "ok" || (*id == "disk.data-root" && disk_warn && st == "warning");
        assert!(ok, "{id} is {st}, expected ok\n{c:#}\n{r}");
    }
    if disk_warn && check(&doc, "disk.data-root")["status"] == "warning" {
        r.assert_code(1);
        assert_eq!(doc["status"], "warning");
    } else {
        r.assert_code(0);
        assert_eq!(doc["status"], "ok", "{r}");
    }
    doc
}

#[test]
fn doctor_healthy_daemon_exits_0_and_json_says_ok() {
    let d = shared();
    let _clean = crate::support::host_clean();
    let r = doctor_json(&d.host(), &[]);
    let doc = assert_healthy(&r, d);
    assert_eq!(doc["schema"], "dockhand.doctor/v1");
    assert_eq!(doc["endpoint"]["host"], d.host());
    assert_eq!(doc["endpoint"]["source"], "--host");
    assert_eq!(doc["exit_code"], r.code.unwrap());

    let responsive = check(&doc, "daemon.responsive");
    assert_eq!(
        responsive["evidence"]["classification"], "healthy",
        "{responsive:#}"
    );
    let probes = responsive["evidence"]["probes"].as_array().unwrap();
    assert!(!probes.is_empty(), "{responsive:#}");
    for p in probes {
        assert_eq!(p["ok"], true, "{p}");
        assert!(p["latency_ms"].as_f64().is_some(), "{p}");
        assert!(p["error"].is_null(), "{p}");
    }
    assert!(probes.iter().any(|p| p["name"] == "ping"), "{responsive:#}");

    let process = check(&doc, "daemon.process");
    let ev = &process["evidence"];
    assert_eq!(ev["pid"], d.pid(), "{process:#}");
    // A busy host (other tests' daemons) can catch the main thread in a brief disk wait (D):
    // that is still a healthy process — the check samples before it calls one stuck.
    assert!(
        matches!(ev["state"].as_str(), Some("S" | "R" | "D")),
        "{process:#}"
    );
    assert_eq!(ev["stuck_threads"], serde_json::json!([]), "{process:#}");
    assert_eq!(
        ev["data_root"],
        d.data_root().to_str().unwrap(),
        "{process:#}"
    );

    let disk = check(&doc, "disk.data-root");
    let path = disk["evidence"]["path"].as_str().unwrap();
    assert_eq!(path, d.data_root().to_str().unwrap(), "{disk:#}");
    let total = disk["evidence"]["total_bytes"].as_u64().unwrap();
    assert!(total > 0, "{disk:#}");
}

#[test]
fn doctor_json_matches_documented_schema() {
    let d = shared();
    // Healthy: every evidence field present and typed.
    valid(&doctor_json(&d.host(), &[]), Evidence::Complete);
    // Down: the same document shape, with what could be learned.
    let missing = TempDir::new();
    let host = format!("unix://{}", missing.join("nope/docker.sock").display());
    let r = doctor_json(&host, &[]);
    valid(&r, Evidence::TypesOnly);
    // The validator itself catches drift.
    let mut doc = doctor_json(&d.host(), &[]).json();
    doc["summary"]["ok"] = Value::from(99);
    doc["checks"][0]["status"] = Value::from("fine");
    let errs = schema::validate_report(&doc, Evidence::Complete).unwrap_err();
    assert!(
        errs.contains("$.summary.ok") && errs.contains("status"),
        "{errs}"
    );
    assert!(schema::is_rfc3339("2026-11-28T05:33:35Z"));
    assert!(schema::is_rfc3339("2026-11-28T05:33:35.123+01:00"));
    assert!(!schema::is_rfc3339("2026-11-28 05:33:35"));
}

#[test]
fn doctor_reports_frozen_daemon_within_deadline() {
    let d = TestDaemon::builder()
        .without_busybox()
        .daemon_json(crate::support::daemon::WELL_CONFIGURED)
        .start();
    d.freeze();

    let r = doctor_json(&d.host(), &[]);
    // Not frozen-specific: the default deadline is 3 s, the run must still end.
    assert!(!r.timed_out, "{r}");

    let r = dockhand([
        "--host",
        &d.host(),
        "--timeout",
        "2s",
        "doctor",
        "--format",
        "json",
    ]);
    assert!(
        r.elapsed <= Duration::from_secs(3),
        "doctor took {:?} against a frozen daemon with --timeout 2s (limit 3 s)\n{r}",
        r.elapsed
    );
    r.assert_code(2);
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(doc["status"], "critical");
    let responsive = check(&doc, "daemon.responsive");
    assert_eq!(responsive["status"], "critical", "{responsive:#}");
    assert_eq!(
        responsive["evidence"]["classification"], "frozen",
        "{responsive:#}"
    );
    let summary = responsive["summary"].as_str().unwrap();
    assert!(summary.contains("frozen"), "{summary}");
    assert!(summary.contains("did not answer within 2 s"), "{summary}");
    let process = check(&doc, "daemon.process");
    assert_eq!(process["status"], "critical", "{process:#}");
    assert_eq!(process["evidence"]["pid"], d.pid(), "{process:#}");
    assert_eq!(process["evidence"]["state"], "T", "{process:#}");
    assert!(
        process["summary"].as_str().unwrap().contains("stopped"),
        "{process:#}"
    );

    // A sub-second deadline is honoured, not rounded to 0 or 1 s.
    let r = dockhand([
        "--host",
        &d.host(),
        "--timeout",
        "500ms",
        "doctor",
        "--format",
        "json",
    ]);
    assert!(
        r.elapsed <= Duration::from_millis(1500),
        "doctor took {:?} against a frozen daemon with --timeout 500ms (limit 1.5 s)\n{r}",
        r.elapsed
    );
    r.assert_code(2);
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(
        check(&doc, "daemon.responsive")["evidence"]["classification"],
        "frozen"
    );

    d.thaw();
    let _clean = crate::support::host_clean();
    let r = doctor_json(&d.host(), &[]);
    assert_healthy(&r, &d);
}

#[test]
fn doctor_no_socket_reports_down() {
    let t = TempDir::new();
    let sock = t.join("nonexistent/docker.sock");
    let host = format!("unix://{}", sock.display());
    let r = doctor_json(&host, &[]);
    r.assert_code(2);
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(doc["status"], "critical");
    assert_eq!(check(&doc, "daemon.reachable")["status"], "critical", "{r}");
    let responsive = check(&doc, "daemon.responsive");
    assert_eq!(responsive["status"], "critical", "{responsive:#}");
    assert_eq!(
        responsive["evidence"]["classification"], "down",
        "{responsive:#}"
    );
    let reachable = check(&doc, "daemon.reachable");
    let said = format!("{} {}", reachable["summary"], responsive["summary"]);
    assert!(
        said.contains(sock.to_str().unwrap()),
        "summary does not name {}: {said}",
        sock.display()
    );
}

#[test]
fn doctor_refused_socket_reports_down() {
    let t = TempDir::new();
    let sock = t.join("dead.sock");
    drop(UnixListener::bind(&sock).unwrap()); // the file stays; nobody listens
    assert!(sock.exists());
    let r = doctor_json(&format!("unix://{}", sock.display()), &[]);
    r.assert_code(2);
    let doc = valid(&r, Evidence::TypesOnly);
    let responsive = check(&doc, "daemon.responsive");
    assert_eq!(responsive["status"], "critical", "{responsive:#}");
    assert_eq!(
        responsive["evidence"]["classification"], "down",
        "{responsive:#}"
    );
    let reachable = check(&doc, "daemon.reachable");
    assert_eq!(reachable["status"], "critical", "{reachable:#}");
    let said = format!("{} {}", reachable["summary"], responsive["summary"]);
    assert!(said.to_lowercase().contains("refused"), "{said}");
}

/// Restores a path's mode when dropped (also when the test panics).
#[test]
fn doctor_socket_without_permission_says_run_as_root_or_join_the_docker_group() {
    let d = shared();
    // nobody may reach the socket's directory but not connect to the socket itself.
    let _dir = crate::support::ModeGuard::set(d.dir(), 0o711);
    let _sock = crate::support::ModeGuard::set(&d.socket(), 0o600);

    let r = dockhand_cmd()
        .args(["--host", &d.host(), "doctor", "--format", "json"])
        .run_as_nobody();
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("run as root or join the docker group"),
        "no advice about permissions\n{r}"
    );
    r.assert_code(3);
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(doc["status"], "unknown", "{r}");
    assert_eq!(
        check(&doc, "daemon.responsive")["evidence"]["classification"],
        "permission",
        "{r}"
    );
}

#[track_caller]
fn assert_usage_error(r: &Run, names: &[&str]) {
    r.assert_code(64);
    assert!(!r.stderr.trim().is_empty(), "no message on stderr\n{r}");
    assert!(!r.stderr.contains("panicked"), "{r}");
    for n in names {
        assert!(r.stderr.contains(n), "stderr does not name {n:?}\n{r}");
    }
}

#[test]
fn bad_host_is_a_usage_error() {
    let r = dockhand(["--host", "foo://bar", "doctor"]);
    assert_usage_error(&r, &["foo://bar"]);
    assert!(r.stdout.is_empty(), "{r}");
    assert!(
        r.stderr.trim().lines().count() <= 2,
        "expected one sentence\n{r}"
    );
    let r = dockhand_cmd()
        .env("DOCKER_HOST", "foo://bar")
        .args(["doctor"])
        .run();
    assert_usage_error(&r, &["foo://bar"]);
}

#[test]
fn unknown_check_id_is_a_usage_error() {
    let r = dockhand(["--host", &shared().host(), "doctor", "--check", "nope.nope"]);
    let mut names = vec!["nope.nope"];
    names.extend_from_slice(schema::DAEMON_CHECK_IDS);
    assert_usage_error(&r, &names);
    let r = dockhand(["--host", &shared().host(), "doctor", "--skip", "nope.nope"]);
    assert_usage_error(&r, &names);
}

#[test]
fn malformed_config_is_a_usage_error() {
    let t = TempDir::new();
    let host = shared().host();
    // (file, contents, line the error is on, words the message must name)
    let cases: &[(&str, &str, u32, &[&str])] = &[
        // A value of the wrong type: the file, the line and the key.
        (
            "wrong-type.toml",
            "[checks.\"disk.data-root\"]\nspace_warn_percent = \"lots\"\n",
            2,
            &["space_warn_percent"],
        ),
        // A key that does not exist (a typo must not be silently ignored).
        (
            "unknown-key.toml",
            "[checks.\"disk.data-root\"]\nwarn_percent = \"lots\"\n",
            2,
            &["warn_percent"],
        ),
        // Broken TOML.
        (
            "syntax.toml",
            "[checks.\"daemon.responsive\"]\nslow_ms = 1000\nthis is not toml\n",
            3,
            &[],
        ),
    ];
    for (name, text, line, names) in cases {
        let path = t.write(name, text);
        let r = dockhand_cmd()
            .config(&path)
            .args(["--host", &host, "doctor"])
            .run();
        let mut all = vec![path.to_str().unwrap()];
        all.extend_from_slice(names);
        assert_usage_error(&r, &all);
        // `FILE:LINE:` (compiler style) or "line N".
        let at = format!("{}:{line}", path.display());
        assert!(
            r.stderr.contains(&at) || r.stderr.contains(&format!("line {line}")),
            "stderr does not name line {line}\n{r}"
        );
    }
    let r = dockhand_cmd()
        .config(t.join("missing.toml"))
        .args(["--host", &host, "doctor"])
        .run();
    assert_usage_error(&r, &["missing.toml"]);
}

#[test]
fn valid_config_thresholds_are_applied() {
    let t = TempDir::new();
    let d = shared();
    // Any real filesystem is more than 0 % used: a 0 % warning threshold must fire.
    let path = t.write(
        "tight.toml",
        "[checks.\"disk.data-root\"]\nspace_warn_percent = 0\nspace_critical_percent = 100\n\n[checks.\"daemon.responsive\"]\nslow_ms = 1000\n",
    );
    let r = dockhand_cmd()
        .config(&path)
        .args(["--host", &d.host(), "doctor", "--format", "json"])
        .run();
    let doc = valid(&r, Evidence::Complete);
    assert_eq!(check(&doc, "disk.data-root")["status"], "warning", "{r}");
    // At least that warning; worse only if another check found worse on this busy host.
    assert!(matches!(r.code, Some(1..=3)), "{r}");
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let host = shared().host();
    for bad in ["0", "banana", "-1s", "5 parsecs", "0ms"] {
        // `=`: a separate "-1s" would be taken for a flag.
        let r = dockhand(["--host", &host, &format!("--timeout={bad}"), "doctor"]);
        assert_usage_error(&r, &[bad]);
    }
    for good in ["3", "3s", "500ms", "1.5s", "2m"] {
        // Only the daemon's own checks: host-wide ones (ports, processes) see what other tests
        // break on this host at the same time, such as a stopped listener.
        let r = dockhand([
            "--host",
            &host,
            "--timeout",
            good,
            "doctor",
            "--check",
            "daemon",
            "--format",
            "json",
        ]);
        // Accepted: a doctor verdict and its document, not a usage error. Which verdict is the
        // daemon's (on a loaded host a 500 ms deadline may well call it slow).
        assert!(
            matches!(r.code, Some(0..=3)),
            "--timeout {good} rejected\n{r}"
        );
        assert_eq!(r.json()["schema"], "dockhand.doctor/v1", "{r}");
    }
}

#[test]
fn table_output_on_non_terminal_has_no_escape_codes() {
    let host = shared().host();
    let r = dockhand(["--host", &host, "doctor"]);
    // A verdict, whichever the host gives (other tests break things host-wide at the same time).
    assert!(matches!(r.code, Some(0..=3)), "{r}");
    for id in schema::catalog_ids() {
        assert!(r.stdout.contains(id), "table lacks {id}\n{r}");
    }
    assert!(!r.stdout.contains('\x1b'), "escape codes on a pipe\n{r}");
    assert!(!r.stderr.contains('\x1b'), "escape codes on a pipe\n{r}");

    let r = dockhand(["--host", &host, "--color", "always", "doctor"]);
    assert!(
        r.stdout.contains('\x1b'),
        "--color always gave no colour\n{r}"
    );
    let r = dockhand(["--host", &host, "--color", "never", "doctor"]);
    assert!(!r.stdout.contains('\x1b'), "{r}");
    // JSON is never coloured.
    let r = dockhand([
        "--host", &host, "--color", "always", "doctor", "--format", "json",
    ]);
    assert!(!r.stdout.contains('\x1b'), "{r}");
    r.json();
}

#[test]
fn list_checks_lists_the_catalog() {
    let r = dockhand(["doctor", "--list-checks"]);
    r.assert_code(0);
    for id in schema::catalog_ids() {
        assert!(r.stdout.contains(id), "--list-checks lacks {id}\n{r}");
    }
    let r = dockhand(["doctor", "--list-checks", "--format", "json"]);
    r.assert_code(0);
    let doc = r.json();
    let items = doc
        .as_array()
        .unwrap_or_else(|| panic!("not an array\n{r}"));
    let ids: Vec<&str> = items.iter().filter_map(|c| c["id"].as_str()).collect();
    for id in schema::catalog_ids() {
        assert!(ids.contains(id), "missing {id}\n{r}");
    }
    for c in items {
        for k in ["id", "area", "title", "severity"] {
            assert!(
                c[k].as_str().is_some_and(|s| !s.is_empty()),
                "{k} missing in {c}"
            );
        }
    }
}

#[test]
fn check_and_skip_select_checks() {
    let host = shared().host();
    let r = doctor_json(&host, &["--check", "daemon.reachable"]);
    r.assert_code(0);
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(check_ids(&doc), ["daemon.reachable"], "{r}");
    assert_eq!(doc["summary"]["ok"], 1);

    let r = doctor_json(
        &host,
        &["--check", "daemon.reachable", "--check", "daemon.process"],
    );
    let doc = valid(&r, Evidence::TypesOnly);
    let mut ids = check_ids(&doc);
    ids.sort();
    assert_eq!(ids, ["daemon.process", "daemon.reachable"], "{r}");

    let r = doctor_json(&host, &["--skip", "disk.data-root"]);
    r.assert_code(0);
    let doc = valid(&r, Evidence::TypesOnly);
    let ids = check_ids(&doc);
    assert!(!ids.iter().any(|i| i == "disk.data-root"), "{r}");
    assert_eq!(ids.len(), schema::catalog_ids().len() - 1, "{r}");
}

#[test]
fn global_flags_are_accepted_after_the_subcommand() {
    let host = shared().host();
    let r = dockhand([
        "doctor",
        "--format",
        "json",
        "--host",
        &host,
        "--timeout",
        "5s",
    ]);
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(doc["endpoint"]["host"], host.as_str());
    assert_eq!(doc["endpoint"]["source"], "--host");
}

#[test]
fn closed_pipe_exits_quietly() {
    let host = shared().host();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // every write to stdout fails with EPIPE
    let mut cmd = dockhand_cmd().args(["--host", &host, "doctor"]).command();
    cmd.stdout(writer);
    let r = run_closed_stdout(cmd);
    assert!(!r.stderr.contains("panicked"), "{r}");
    assert_ne!(r.code, Some(101), "{r}");
    assert_ne!(
        r.code,
        Some(70),
        "a closed pipe is not an internal error\n{r}"
    );
    assert!(r.code.is_some(), "killed by a signal\n{r}");
    assert!(
        r.stderr.trim().is_empty(),
        "expected silence on stderr\n{r}"
    );
}

/// Like `support::run`, but keeps the stdout the caller set.
fn run_closed_stdout(mut cmd: std::process::Command) -> Run {
    use std::io::Read;
    let start = std::time::Instant::now();
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // our copy of the pipe's write end
    let mut stderr = child.stderr.take().unwrap();
    let deadline = start + crate::support::DOCKHAND_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    Run {
        what: "dockhand doctor >closed-pipe".into(),
        code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        stdout: String::new(),
        stderr: err,
        elapsed: start.elapsed(),
        timed_out: false,
    }
}

#[test]
fn docker_host_env_and_context_are_honoured() {
    let d = shared();
    // DOCKER_HOST
    let r = dockhand_cmd()
        .env("DOCKER_HOST", d.host())
        .args(["doctor", "--format", "json"])
        .run();
    let doc = valid(&r, Evidence::TypesOnly);
    assert!(matches!(r.code, Some(0 | 1)), "{r}");
    assert_eq!(doc["endpoint"]["source"], "DOCKER_HOST", "{r}");
    assert_eq!(doc["endpoint"]["host"], d.host(), "{r}");

    // The current context of a docker CLI config. The CLI names the dir sha256(name).
    let t = TempDir::new();
    t.write("config.json", r#"{"currentContext":"t"}"#);
    t.write(
        "contexts/meta/e3b98a4da31a127d4bde6e43033f66ba274cab0eb7eb1c70ec41402bf6273dd8/meta.json",
        format!(
            r#"{{"Name":"t","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{}","SkipTLSVerify":false}}}}}}"#,
            d.host()
        ),
    );
    let r = dockhand_cmd()
        .env("DOCKER_CONFIG", t.path())
        .args(["doctor", "--format", "json"])
        .run();
    let doc = valid(&r, Evidence::TypesOnly);
    assert!(matches!(r.code, Some(0 | 1)), "{r}");
    assert_eq!(doc["endpoint"]["source"], "context t", "{r}");
    assert_eq!(doc["endpoint"]["host"], d.host(), "{r}");

    // --host beats DOCKER_HOST, which beats the context.
    let bogus = format!("unix://{}", t.join("not-here.sock").display());
    let r = dockhand_cmd()
        .env("DOCKER_CONFIG", t.path())
        .env("DOCKER_HOST", &bogus)
        .args(["--host", &d.host(), "doctor", "--format", "json"])
        .run();
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(doc["endpoint"]["source"], "--host", "{r}");
    let r = dockhand_cmd()
        .env("DOCKER_CONFIG", t.path())
        .env("DOCKER_HOST", &bogus)
        .args(["doctor", "--format", "json"])
        .run();
    let doc = valid(&r, Evidence::TypesOnly);
    assert_eq!(doc["endpoint"]["source"], "DOCKER_HOST", "{r}");
    assert_eq!(doc["endpoint"]["host"], bogus.as_str(), "{r}");
}
