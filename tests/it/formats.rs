//! doctor's monitoring formats: Nagios, node-problem-detector, Prometheus (stdout and an
//! atomically written textfile), against real daemons.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Run, TempDir, dockhand, dockhand_cmd, shared};

fn down_host(t: &TempDir) -> String {
    format!("unix://{}", t.join("no-daemon.sock").display())
}

fn doctor(host: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--host", host, "doctor"];
    args.extend_from_slice(extra);
    dockhand(args)
}

#[test]
fn nagios_status_line_has_state_text_and_perfdata() {
    let d = shared();
    let r = doctor(
        &d.host(),
        &[
            "--format",
            "nagios",
            "--check",
            "daemon.reachable",
            "--check",
            "daemon.responsive",
        ],
    );
    r.assert_code(0);
    let first = r.stdout.lines().next().unwrap();
    assert!(first.starts_with("DOCKHAND OK - 2 checks ok | "), "{r}");
    let perf = first.split_once(" | ").unwrap().1;
    for want in ["checks=2", "ok=2", "warning=0", "critical=0", "unknown=0"] {
        assert!(
            perf.split(' ').any(|p| p == want),
            "perfdata lacks {want}: {perf}"
        );
    }
    // Every perfdata item is 'label'=value or label=value with a number.
    for item in perf.split(' ') {
        let (_, v) = item
            .rsplit_once('=')
            .unwrap_or_else(|| panic!("bad perfdata item {item:?}"));
        let num = v.trim_end_matches('s');
        assert!(
            num.parse::<f64>().is_ok(),
            "perfdata value {v:?} is not a number"
        );
    }
    assert_eq!(
        r.stdout.lines().count(),
        1,
        "nothing but the status line when all is ok\n{r}"
    );

    let t = TempDir::new();
    let r = doctor(&down_host(&t), &["--format", "nagios"]);
    r.assert_code(2);
    let first = r.stdout.lines().next().unwrap();
    assert!(first.starts_with("DOCKHAND CRITICAL - "), "{r}");
    assert!(first.contains("daemon.responsive"), "{r}");
    assert_eq!(
        first.matches(" | ").count(),
        1,
        "one perfdata separator: {first}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("CRITICAL daemon.responsive: down:")),
        "a long-output line per failing check\n{r}"
    );
}

#[test]
fn npd_plugin_exit_codes_and_one_short_line() {
    let d = shared();
    let r = doctor(
        &d.host(),
        &["--format", "npd", "--check", "daemon.responsive"],
    );
    r.assert_code(0);
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    assert!(r.stdout.starts_with("daemon.responsive: healthy"), "{r}");

    let t = TempDir::new();
    let r = doctor(
        &down_host(&t),
        &["--format", "npd", "--check", "daemon.responsive"],
    );
    r.assert_code(1);
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    assert!(r.stdout.starts_with("daemon.responsive: down"), "{r}");
    assert!(r.stdout.trim_end().chars().count() <= 200, "{r}");

    // Unknown (NPD's 2): the socket may not be opened by this user.
    let sock_dir = TempDir::new();
    std::fs::set_permissions(sock_dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let sock = sock_dir.join("root-only.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let host = format!("unix://{}", sock.display());
    let r = dockhand_cmd()
        .args([
            "--host",
            &host,
            "doctor",
            "--format",
            "npd",
            "--check",
            "daemon.reachable",
        ])
        .run_as_nobody();
    r.assert_code(2);
    assert!(r.stdout.contains("permission denied"), "{r}");
}

pub(crate) fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name {name:?}"
        );
        samples.push((series.to_string(), v));
    }
    samples
}

#[test]
fn prometheus_textfile_is_written_atomically_and_parses() {
    let d = shared();
    let t = TempDir::new();
    let path = t.join("dockhand.prom");
    std::fs::write(&path, "stale\n").unwrap();
    let r = doctor(
        &d.host(),
        &[
            "--format",
            "prometheus",
            "--textfile",
            path.to_str().unwrap(),
            "--check",
            "daemon.responsive",
            "--check",
            "disk.data-root",
        ],
    );
    assert!(r.code == Some(0) || r.code == Some(1), "{r}");
    assert!(
        r.stdout.is_empty(),
        "nothing on stdout with --textfile\n{r}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let samples = parse_prometheus(&text);
    let get = |s: &str| samples.iter().find(|(k, _)| k == s).map(|(_, v)| *v);
    assert_eq!(
        get(r#"dockhand_check_status{check="daemon.responsive",area="daemon"}"#),
        Some(0.0),
        "{text}"
    );
    assert!(
        get(r#"dockhand_check_value{check="disk.data-root",field="used_percent"}"#).is_some(),
        "{text}"
    );
    assert_eq!(get(r#"dockhand_checks{status="critical"}"#), Some(0.0));
    let ts = get("dockhand_last_run_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - ts).abs() < 120.0,
        "timestamp {ts} is not now ({now})"
    );
    assert!(get("dockhand_run_duration_seconds").unwrap() > 0.0);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o644,
        "readable by a collector running as another user"
    );
    let names: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "no temporary file left beside it: {names:?}"
    );

    // A down daemon still writes a complete file, with the status.
    let r = doctor(
        &down_host(&t),
        &[
            "--format",
            "prometheus",
            "--textfile",
            path.to_str().unwrap(),
        ],
    );
    r.assert_code(2);
    let samples = parse_prometheus(&std::fs::read_to_string(&path).unwrap());
    assert!(
        samples
            .iter()
            .any(|(k, v)| k == "dockhand_status" && *v == 2.0)
    );

    // A directory that does not exist: a clear error, the internal-error code, nothing written.
    let bad = t.join("missing/dir/x.prom");
    let r = doctor(
        &d.host(),
        &[
            "--format",
            "prometheus",
            "--textfile",
            bad.to_str().unwrap(),
        ],
    );
    r.assert_code(70);
    assert!(r.stderr.contains("--textfile"), "{r}");
    // --textfile without the prometheus format is a usage error.
    doctor(&d.host(), &["--textfile", path.to_str().unwrap()]).assert_code(64);
}

#[test]
fn prometheus_to_stdout_parses() {
    let d = shared();
    let r = doctor(
        &d.host(),
        &["--format", "prometheus", "--check", "daemon.reachable"],
    );
    r.assert_code(0);
    let samples = parse_prometheus(&r.stdout);
    assert!(
        samples
            .iter()
            .any(|(k, v)| k == "dockhand_status" && *v == 0.0),
        "{r}"
    );
}
