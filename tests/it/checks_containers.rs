//! The containers area of `dockhand doctor` against throwaway daemons: each check's problem made
//! real — stopped leftovers, a crash loop, a failing health check, options after the image, a
//! daemonizing main process, a process gone behind the engine's back, a chatty log — and a clean
//! daemon on which every one of them says ok.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::procfs;
use crate::support::schema::check;
use crate::support::{Run, TempDir, TestDaemon, dockhand_cmd};

const IDS: [&str; 8] = [
    "containers.exited",
    "containers.littering",
    "containers.restart-loop",
    "containers.unhealthy",
    "containers.misplaced-flags",
    "containers.exits-immediately",
    "containers.ghost",
    "containers.logs",
];

/// A config file for one test (thresholds lowered so small scenarios count).
struct Config {
    _dir: TempDir,
    path: PathBuf,
}

fn config(text: &str) -> Config {
    let dir = TempDir::new();
    let path = dir.write("config.toml", text);
    Config { _dir: dir, path }
}

/// `doctor --format json --check ID…` against `d`, with `cfg` (else the empty config).
fn doctor(d: &TestDaemon, cfg: Option<&Config>, ids: &[&str]) -> (Run, Value) {
    let mut cmd = dockhand_cmd().args(["--host", &d.host(), "doctor", "--format", "json"]);
    for id in ids {
        cmd = cmd.args(["--check", id]);
    }
    if let Some(c) = cfg {
        cmd = cmd.config(&c.path);
    }
    let r = cmd.run();
    let doc = r.json();
    (r, doc)
}

/// One check's result from a run of just that check.
fn one(d: &TestDaemon, cfg: Option<&Config>, id: &str) -> (Run, Value) {
    let (r, doc) = doctor(d, cfg, &[id]);
    let c = check(&doc, id).clone();
    (r, c)
}

#[track_caller]
fn assert_status(r: &Run, c: &Value, want: &str) {
    assert_eq!(c["status"], want, "{c:#}\n{r}");
}

/// The names in an evidence list.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The evidence item named `name` in `list`, or a panic showing the finding.
#[track_caller]
fn item<'a>(c: &'a Value, list: &str, name: &str) -> &'a Value {
    c["evidence"][list]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in evidence.{list}\n{c:#}"))
}

/// Polls `cond` every 100 ms until it holds; panics with `what` after `timeout`.
#[track_caller]
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(d: &TestDaemon, name: &str, format: &str) -> String {
    d.docker_ok(["inspect", "-f", format, name])
}

fn restart_count(d: &TestDaemon, name: &str) -> u64 {
    inspect(d, name, "{{.RestartCount}}").parse().unwrap()
}

/// Removes every container, so stopping the daemon does not wait out each `sleep`'s stop
/// timeout (a shell's or sleep's pid 1 ignores SIGTERM: 10 s each).
fn remove_all(d: &TestDaemon) {
    let ids = d.docker_ok(["ps", "-aq"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        d.docker_ok(["rm", "-f"].into_iter().chain(ids));
    }
}

#[test]
fn containers_checks_all_ok_on_a_clean_daemon() {
    let d = TestDaemon::start();
    // Healthy containers, named by hand or removed on exit, one with a passing health check and
    // one that has written a line of log.
    d.docker_ok(["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    d.docker_ok([
        "run", "-d", "--rm", "--name", "worker", "busybox", "sleep", "300",
    ]);
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "checked",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ]);
    wait_until("checked is healthy", Duration::from_secs(30), || {
        inspect(&d, "checked", "{{.State.Health.Status}}") == "healthy"
    });

    // Defaults, then thresholds as strict as they go: nothing here may count either way.
    let strict = config(
        r#"
[checks."containers.exited"]
grace_hours = 0
warn_count = 0
[checks."containers.littering"]
warn_count = 0
[checks."containers.restart-loop"]
restart_count = 1
dies_per_hour = 1
[checks."containers.exits-immediately"]
max_run_seconds = 5
[checks."containers.logs"]
size_warn_mib = 0.001
size_critical_mib = 0.002
"#,
    );
    for cfg in [None, Some(&strict)] {
        let (r, doc) = doctor(&d, cfg, &IDS);
        for id in IDS {
            let c = check(&doc, id);
            assert_status(&r, c, "ok");
            assert!(c["remedy"].is_null(), "{c:#}");
            eprintln!(
                "{id}: {} ms — {}",
                c["elapsed_ms"],
                c["summary"].as_str().unwrap()
            );
        }
        r.assert_code(0);
        assert_eq!(doc["status"], "ok", "{r}");
    }
    let (r, c) = one(&d, None, "containers.ghost");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["checked"], 3, "{c:#}");
    let (r, c) = one(&d, None, "containers.unhealthy");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["with_health_check"], 1, "{c:#}");
    let (r, c) = one(&d, None, "containers.logs");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["count"], 3, "{c:#}");
    remove_all(&d);
}

#[test]
fn containers_exited_counts_stopped_containers_past_the_grace_period() {
    let d = TestDaemon::start();
    d.docker_ok(["run", "--name", "done", "busybox", "echo", "bye"]);
    d.docker_ok(["create", "--name", "never", "busybox", "true"]);
    d.docker_ok(["run", "-d", "--name", "up", "busybox", "sleep", "300"]);

    // Younger than the default 24 h: counted as younger, not judged.
    let (r, c) = one(&d, None, "containers.exited");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["count"], 0, "{c:#}");
    assert_eq!(c["evidence"]["younger"], 2, "{c:#}");

    let cfg = config("[checks.\"containers.exited\"]\ngrace_hours = 0\nwarn_count = 1\n");
    let (r, c) = one(&d, Some(&cfg), "containers.exited");
    assert_status(&r, &c, "warning");
    r.assert_code(1);
    let ev = &c["evidence"];
    assert_eq!(ev["count"], 2, "{c:#}");
    let mut got = names(&ev["containers"]);
    got.sort();
    assert_eq!(got, ["done", "never"], "{c:#}");
    assert_eq!(item(&c, "containers", "never")["state"], "created");
    assert_eq!(item(&c, "containers", "done")["state"], "exited");
    // Bytes come from the storage map: the log of `echo bye` at least.
    assert_eq!(ev["bytes_known"], true, "{c:#}");
    assert!(ev["bytes"].as_u64().unwrap() > 0, "{c:#}");
    assert!(
        item(&c, "containers", "done")["bytes"].as_u64().unwrap() > 0,
        "{c:#}"
    );
    assert!(
        ["done", "never"].contains(&ev["oldest"]["name"].as_str().unwrap()),
        "{c:#}"
    );
    let remedy = c["remedy"].as_str().unwrap();
    assert!(remedy.contains("dockhand gc"), "{c:#}");

    // Under the count threshold: ok, but the summary still says what is there.
    let cfg = config("[checks.\"containers.exited\"]\ngrace_hours = 0.0\nwarn_count = 2\n");
    let (r, c) = one(&d, Some(&cfg), "containers.exited");
    assert_status(&r, &c, "ok");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .starts_with("2 stopped containers"),
        "{c:#}"
    );
    remove_all(&d);
}

#[test]
fn containers_littering_counts_auto_named_leftovers() {
    let d = TestDaemon::start();
    d.docker_ok(["run", "busybox", "true"]);
    d.docker_ok(["run", "busybox", "echo", "hello"]);
    d.docker_ok(["run", "--rm", "busybox", "true"]);
    d.docker_ok(["run", "--name", "kept", "busybox", "true"]);
    let mut generated: Vec<String> = d
        .docker_ok(["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .filter(|n| *n != "kept")
        .map(str::to_string)
        .collect();
    generated.sort();
    assert_eq!(generated.len(), 2, "{generated:?}");

    let (r, c) = one(&d, None, "containers.littering");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["count"], 2, "{c:#}");

    let cfg = config("[checks.\"containers.littering\"]\nwarn_count = 1\n");
    let (r, c) = one(&d, Some(&cfg), "containers.littering");
    assert_status(&r, &c, "warning");
    let ev = &c["evidence"];
    let mut got = names(&ev["containers"]);
    got.sort();
    assert_eq!(got, generated, "{c:#}");
    assert_eq!(ev["by_image"]["busybox"], 2, "{c:#}");
    let remedy = c["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("--rm") && remedy.contains("--name"),
        "{c:#}"
    );
    remove_all(&d);
}

#[test]
fn containers_restart_loop_reports_a_crashing_container_and_a_recreated_name() {
    let d = TestDaemon::start();
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "crashy",
        "--restart",
        "always",
        "busybox",
        "false",
    ]);
    // A name a supervisor keeps re-creating: gone after each death, but the events remember.
    for _ in 0..3 {
        let r = d.docker(["run", "--rm", "--name", "flappy", "busybox", "false"]);
        assert_eq!(r.code, Some(1), "{r}");
    }
    wait_until("crashy restarted 3 times", Duration::from_secs(30), || {
        restart_count(&d, "crashy") >= 3
    });

    let cfg =
        config("[checks.\"containers.restart-loop\"]\nrestart_count = 3\ndies_per_hour = 1000\n");
    let (r, c) = one(&d, Some(&cfg), "containers.restart-loop");
    assert_status(&r, &c, "warning");
    let crashy = item(&c, "containers", "crashy");
    assert!(crashy["restart_count"].as_u64().unwrap() >= 3, "{c:#}");
    assert_eq!(crashy["restart_policy"], "always", "{c:#}");
    // 1 between runs; a run in progress has reset it to 0.
    assert!(
        [0, 1].contains(&crashy["last_exit_code"].as_i64().unwrap()),
        "{c:#}"
    );
    assert!(!names(&c["evidence"]["containers"]).contains(&"flappy".to_string()));
    assert!(
        c["remedy"].as_str().unwrap().contains("docker logs"),
        "{c:#}"
    );

    // By the rate of `die` events: both, the removed one by its name.
    let cfg =
        config("[checks.\"containers.restart-loop\"]\nrestart_count = 1000\ndies_per_hour = 3\n");
    let (r, c) = one(&d, Some(&cfg), "containers.restart-loop");
    assert_status(&r, &c, "warning");
    let flappy = item(&c, "containers", "flappy");
    assert_eq!(flappy["state"], "removed", "{c:#}");
    assert_eq!(flappy["dies_last_hour"], 3, "{c:#}");
    assert!(
        item(&c, "containers", "crashy")["dies_last_hour"]
            .as_u64()
            .unwrap()
            >= 3,
        "{c:#}"
    );
    let events = &c["evidence"]["events"];
    assert!(events["dies"].as_u64().unwrap() >= 6, "{c:#}");
    assert_eq!(events["buffer_full"], false, "{c:#}");
    assert!(events["error"].is_null(), "{c:#}");
    assert!(events["note"].as_str().unwrap().contains("256"), "{c:#}");
    remove_all(&d);
}

#[test]
fn containers_unhealthy_reports_a_failing_health_check() {
    let d = TestDaemon::start();
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_until("sick is unhealthy", Duration::from_secs(30), || {
        inspect(&d, "sick", "{{.State.Health.Status}}") == "unhealthy"
    });
    let (r, c) = one(&d, None, "containers.unhealthy");
    assert_status(&r, &c, "warning");
    r.assert_code(1);
    let sick = item(&c, "containers", "sick");
    assert!(sick["failing_streak"].as_u64().unwrap() >= 1, "{c:#}");
    assert!(sick["failing_since"].is_string(), "{c:#}");
    assert_eq!(sick["last_exit_code"], 1, "{c:#}");
    assert_eq!(sick["interval_secs"], 1.0, "{c:#}");
    assert!(c["summary"].as_str().unwrap().contains("sick"), "{c:#}");
    remove_all(&d);
}

#[test]
fn containers_misplaced_flags_shows_the_corrected_command() {
    let d = TestDaemon::start();
    // The mistake: the options after the image became the command.
    d.docker_ok(["create", "busybox", "--name=web"]);
    d.docker_ok([
        "create", "--name", "proxy", "busybox", "-p", "8080:80", "httpd",
    ]);
    d.docker_ok([
        "create", "--name", "fine", "busybox", "sh", "-c", "--name=x",
    ]);
    let (r, c) = one(&d, None, "containers.misplaced-flags");
    assert_status(&r, &c, "warning");
    let ev = &c["evidence"];
    assert_eq!(ev["count"], 2, "{c:#}");
    let web = ev["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["command"] == serde_json::json!(["--name=web"]))
        .unwrap_or_else(|| panic!("no container with command --name=web\n{c:#}"));
    assert_eq!(
        web["corrected"], "docker create --name=web busybox",
        "{c:#}"
    );
    assert_eq!(web["misplaced"], serde_json::json!(["--name=web"]), "{c:#}");
    let proxy = item(&c, "containers", "proxy");
    assert_eq!(
        proxy["corrected"], "docker create -p 8080:80 busybox httpd",
        "{c:#}"
    );
    assert!(!names(&ev["containers"]).contains(&"fine".to_string()));
    assert!(
        c["remedy"]
            .as_str()
            .unwrap()
            .contains("docker create --name=web busybox"),
        "{c:#}"
    );
    remove_all(&d);
}

/// Runs `containers.exits-immediately` until the finding lists every one of `names`: a container
/// restarted by its policy is alive for a few ms between long back-offs, and a run that lands
/// in one sees it running.
fn exits_immediately_listing(d: &TestDaemon, cfg: Option<&Config>, names: &[&str]) -> (Run, Value) {
    let mut last = None;
    for _ in 0..10 {
        let (r, c) = one(d, cfg, "containers.exits-immediately");
        let seen = names_in(&c);
        let all = names.iter().all(|n| seen.contains(&n.to_string()));
        last = Some((r, c));
        if all {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    last.unwrap()
}

fn names_in(c: &Value) -> Vec<String> {
    names(&c["evidence"]["containers"])
}

/// The `kind`s of an evidence item's `intent`.
fn intent_kinds(item: &Value) -> Vec<String> {
    item["intent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn containers_exits_immediately_reports_servers_meant_to_keep_running() {
    let d = TestDaemon::start();
    // busybox's httpd without -f forks, and its parent — the container's main process — exits
    // with 0 at once: the container stops with it.
    d.docker_ok([
        "run", "-d", "--name", "httpd-bg", "busybox", "httpd", "-p", "8080",
    ]);
    // The same with a published port, and under a restart policy that brings it back forever.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "httpd-pub",
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "httpd",
        "-p",
        "8080",
    ]);
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "httpd-always",
        "--restart",
        "always",
        "busybox",
        "httpd",
        "-p",
        "8080",
    ]);
    // No known server, but its ports say it was to serve: published, or only exposed.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "pub-true",
        "-p",
        "127.0.0.1::9000",
        "busybox",
        "true",
    ]);
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "exposed-true",
        "--expose",
        "9000",
        "busybox",
        "true",
    ]);
    wait_until("the detached ones exited", Duration::from_secs(30), || {
        ["httpd-bg", "httpd-pub", "pub-true", "exposed-true"]
            .iter()
            .all(|n| inspect(&d, n, "{{.State.Status}}") == "exited")
    });
    wait_until(
        "httpd-always restarted twice",
        Duration::from_secs(30),
        || restart_count(&d, "httpd-always") >= 2,
    );
    let all = [
        "httpd-bg",
        "httpd-pub",
        "httpd-always",
        "pub-true",
        "exposed-true",
    ];
    let (r, c) = exits_immediately_listing(&d, None, &all);
    assert_status(&r, &c, "warning");
    r.assert_code(1);
    let seen = names_in(&c);
    for n in all {
        assert!(seen.contains(&n.to_string()), "{n} missing\n{c:#}");
    }
    assert_eq!(c["evidence"]["count"], 5, "{c:#}");

    let bg = item(&c, "containers", "httpd-bg");
    assert_eq!(bg["exit_code"], 0, "{c:#}");
    assert!(bg["ran_secs"].as_f64().unwrap() <= 1.0, "{c:#}");
    assert_eq!(bg["detached"], true, "{c:#}");
    assert_eq!(bg["command"], serde_json::json!(["httpd", "-p", "8080"]));
    assert_eq!(
        bg["server"],
        serde_json::json!({ "program": "busybox httpd", "foreground": { "add": "-f" } }),
        "{c:#}"
    );
    assert_eq!(intent_kinds(bg), ["server"], "{c:#}");
    assert_eq!(bg["why"], "busybox httpd without `-f`", "{c:#}");
    assert_eq!(
        intent_kinds(item(&c, "containers", "httpd-pub")),
        ["server", "published"],
        "{c:#}"
    );
    let always = item(&c, "containers", "httpd-always");
    assert_eq!(intent_kinds(always), ["server", "restart-policy"], "{c:#}");
    assert_eq!(always["restart_policy"], "always", "{c:#}");
    let published = item(&c, "containers", "pub-true");
    assert_eq!(intent_kinds(published), ["published"], "{c:#}");
    assert!(published["server"].is_null(), "{c:#}");
    let exposed = item(&c, "containers", "exposed-true");
    assert_eq!(
        exposed["intent"],
        serde_json::json!([{ "kind": "exposed", "ports": ["9000/tcp"] }]),
        "{c:#}"
    );

    // The most telling first: a server, with the option that keeps it in the foreground.
    let summary = c["summary"].as_str().unwrap();
    assert!(summary.starts_with("httpd-"), "{c:#}");
    assert!(summary.contains("busybox httpd without `-f`"), "{c:#}");
    assert!(summary.contains("(and 4 more containers)"), "{c:#}");
    let remedy = c["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("run busybox httpd in the foreground — add `-f`"),
        "{c:#}"
    );
    assert!(remedy.contains("`httpd -p 8080`"), "{c:#}");
    remove_all(&d);
}

/// Commits a container that ran `script` (busybox's sh, applets through `busybox APPLET`) as
/// image `tag`.
fn commit_image(d: &TestDaemon, tag: &str, script: &str) {
    d.docker_ok(["run", "--name", "prep", "busybox", "sh", "-c", script]);
    d.docker_ok(["commit", "prep", tag]);
    d.docker_ok(["rm", "prep"]);
}

#[test]
fn containers_exits_immediately_names_the_option_of_the_httpd_in_the_image_on_the_classic_store() {
    // The container's files are read from its overlay2 layers; under the containerd image
    // store they are in containerd's snapshots, not read, and both options are named.
    let e = crate::support::daemon::engine();
    if e.containerd_store() {
        eprintln!(
            "skipped: containers_exits_immediately_names_the_option_of_the_httpd_in_the_image_on_the_classic_store reads overlay2 layers; engine {} uses the containerd image store",
            e.name()
        );
        return;
    }
    let d = TestDaemon::start();
    // Images built FROM busybox under names of their own: only their files say whose httpd it
    // is — an applet linked to busybox, or a copy of the busybox binary. Both want -f, and the
    // remedy used to say Apache's -DFOREGROUND for any image not named busybox or alpine.
    d.docker_ok(["tag", "busybox", "myorg/site:1"]);
    commit_image(
        &d,
        "myorg/copy:1",
        "busybox mkdir -p /usr/local/bin && busybox cp /bin/busybox /usr/local/bin/httpd",
    );
    // An Apache stand-in: a program of its own at /usr/sbin/httpd (ahead of busybox's applet on
    // PATH) that names Apache and, like Apache without -DFOREGROUND, leaves a child behind and
    // exits 0.
    commit_image(
        &d,
        "myorg/apache:1",
        "busybox mkdir -p /usr/sbin && busybox printf '#!/bin/sh\\n# Apache HTTP Server stand-in\\nsleep 30 &\\n' >/usr/sbin/httpd && busybox chmod 755 /usr/sbin/httpd",
    );
    for (name, image, port) in [
        ("site", "myorg/site:1", "8081"),
        ("copy", "myorg/copy:1", "8082"),
        ("apache", "myorg/apache:1", "8083"),
    ] {
        d.docker_ok(["run", "-d", "--name", name, image, "httpd", "-p", port]);
    }
    let all = ["site", "copy", "apache"];
    wait_until("the three exited", Duration::from_secs(30), || {
        all.iter()
            .all(|n| inspect(&d, n, "{{.State.Status}}") == "exited")
    });
    let (r, c) = exits_immediately_listing(&d, None, &all);
    assert_status(&r, &c, "warning");
    for n in ["site", "copy"] {
        let it = item(&c, "containers", n);
        assert_eq!(
            it["server"],
            serde_json::json!({ "program": "busybox httpd", "foreground": { "add": "-f" } }),
            "{n}: {c:#}"
        );
        assert_eq!(it["why"], "busybox httpd without `-f`", "{n}: {c:#}");
    }
    let apache = item(&c, "containers", "apache");
    assert_eq!(
        apache["server"],
        serde_json::json!({ "program": "httpd", "foreground": { "add": "-DFOREGROUND" } }),
        "{c:#}"
    );
    assert_eq!(apache["why"], "httpd without `-DFOREGROUND`", "{c:#}");
    // The remedy names the option of the container it is about, never the other one's.
    let remedy = c["remedy"].as_str().unwrap();
    let about = c["evidence"]["containers"][0]["name"].as_str().unwrap();
    let (right, wrong) = if about == "apache" {
        ("add `-DFOREGROUND`", "add `-f`")
    } else {
        ("add `-f`", "-DFOREGROUND")
    };
    assert!(
        remedy.contains(right) && !remedy.contains(wrong),
        "{about}: {c:#}"
    );
    remove_all(&d);
}

#[test]
fn containers_exits_immediately_ignores_one_shot_jobs_that_finished() {
    let d = TestDaemon::start();
    // A batch host: detached jobs of one image that finish at once, again and again — named,
    // auto-named, plain and through a shell.
    let mut jobs: Vec<String> = Vec::new();
    for i in 0..5 {
        let name = format!("job{i}");
        d.docker_ok(["run", "-d", "--name", &name, "busybox", "true"]);
        jobs.push(name);
    }
    for i in 0..3 {
        let name = format!("echo{i}");
        d.docker_ok([
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo done",
        ]);
        jobs.push(name);
    }
    for _ in 0..3 {
        jobs.push(d.docker_ok(["run", "-d", "busybox", "true"]));
    }
    // A script that leaves work in the background, run once: as far as anyone can tell, done.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "bg-once",
        "busybox",
        "sh",
        "-c",
        "sleep 1 &",
    ]);
    jobs.push("bg-once".into());
    // on-failure restarts only after a failure: 0 is the end of it.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "retry-job",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    jobs.push("retry-job".into());
    // A foreground run that finishes at once is doing what it was asked.
    d.docker_ok(["run", "--name", "fg", "busybox", "true"]);
    // A server in the foreground keeps running.
    d.docker_ok([
        "run", "-d", "--name", "httpd-fg", "busybox", "httpd", "-f", "-p", "8080",
    ]);
    wait_until("every job exited", Duration::from_secs(30), || {
        jobs.iter()
            .all(|n| inspect(&d, n, "{{.State.Status}}") == "exited")
    });
    for n in &jobs {
        assert_eq!(inspect(&d, n, "{{.State.ExitCode}}"), "0", "{n}");
    }

    // Also with a run counted as immediate up to 5 s.
    let lenient = config("[checks.\"containers.exits-immediately\"]\nmax_run_seconds = 5\n");
    for cfg in [None, Some(&lenient)] {
        let (r, c) = one(&d, cfg, "containers.exits-immediately");
        assert_status(&r, &c, "ok");
        r.assert_code(0);
        assert_eq!(c["evidence"]["count"], 0, "{c:#}");
        assert!(c["remedy"].is_null(), "{c:#}");
    }
    assert_eq!(inspect(&d, "httpd-fg", "{{.State.Status}}"), "running");
    remove_all(&d);
}

#[test]
fn containers_commands_read_as_one_line_in_the_table_and_whole_in_json() {
    let d = TestDaemon::start();
    let script = "echo a\necho b";
    // A script of two lines, restarted after each clean exit; and the same script after
    // options given after the image.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "multi",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    d.docker_ok(["create", "busybox", "--name=web", "sh", "-c", script]);
    wait_until("multi restarted", Duration::from_secs(30), || {
        restart_count(&d, "multi") >= 1
    });
    let ids = ["containers.exits-immediately", "containers.misplaced-flags"];

    // The table: each command on one line, its first, elided.
    let mut table = None;
    for _ in 0..10 {
        let mut cmd = dockhand_cmd().args(["--host", &d.host(), "doctor"]);
        for id in ids {
            cmd = cmd.args(["--check", id]);
        }
        let r = cmd.run();
        let done = r.stdout.contains("multi (`sh -c 'echo a…'`) exits with 0");
        table = Some(r);
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = table.unwrap();
    r.assert_code(1);
    assert!(
        r.stdout.contains("multi (`sh -c 'echo a…'`) exits with 0"),
        "{r}"
    );
    assert!(
        r.stdout.contains("Its command now: `sh -c 'echo a…'`."),
        "{r}"
    );
    assert!(
        r.stdout
            .contains("then `docker create --name=web busybox sh -c 'echo a…'`."),
        "{r}"
    );
    assert!(!r.stdout.contains("\\u{a}"), "{r}");

    // The JSON: the whole command, and the whole corrected command line in the fix.
    let (r, c) = exits_immediately_listing(&d, None, &["multi"]);
    assert_status(&r, &c, "warning");
    assert_eq!(
        item(&c, "containers", "multi")["command"],
        serde_json::json!(["sh", "-c", script]),
        "{c:#}"
    );
    let (r, c) = one(&d, None, "containers.misplaced-flags");
    assert_status(&r, &c, "warning");
    let web = &c["evidence"]["containers"][0];
    assert_eq!(
        web["command"],
        serde_json::json!(["--name=web", "sh", "-c", script])
    );
    assert_eq!(
        web["corrected"],
        format!("docker create --name=web busybox sh -c '{script}'"),
        "{c:#}"
    );
    let steps = c["fix"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["argv"]
            == serde_json::json!([
                "docker",
                "create",
                "--name=web",
                "busybox",
                "sh",
                "-c",
                script
            ])),
        "{c:#}"
    );
    remove_all(&d);
}

/// Resumes a stopped shim when the test ends, however it ends.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

#[test]
fn containers_ghost_reports_a_container_whose_process_died_behind_the_engines_back() {
    let d = TestDaemon::start();
    d.docker_ok(["run", "-d", "--name", "ghosty", "busybox", "sleep", "300"]);
    d.docker_ok(["run", "-d", "--name", "alive", "busybox", "sleep", "300"]);
    let id = inspect(&d, "ghosty", "{{.Id}}");
    let pid: i32 = inspect(&d, "ghosty", "{{.State.Pid}}").parse().unwrap();
    let shim = procfs::stat(pid).unwrap().ppid;
    // Only ever signal this daemon's own shim for this container.
    let shim_cmd = procfs::cmdline(shim).unwrap_or_default();
    assert!(
        shim_cmd.contains("containerd-shim")
            && shim_cmd.contains(&format!("-id {id}"))
            && shim_cmd.contains(d.exec_root().to_str().unwrap()),
        "pid {shim} is not ghosty's shim: {shim_cmd}"
    );
    // Killing the shim outright is noticed (containerd reports the exit and the engine marks
    // the container exited). Stopping it first means nobody reaps the container's process:
    // it dies, stays a zombie, and the exit never reaches the engine.
    kill(Pid::from_raw(shim), Signal::SIGSTOP).unwrap();
    let resume = Resume(shim);
    wait_until("the shim is stopped", Duration::from_secs(5), || {
        procfs::stat(shim).is_some_and(|s| s.state == 'T')
    });
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    wait_until(
        "the container's process is dead",
        Duration::from_secs(5),
        || !procfs::is_alive(pid),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(&d, "ghosty", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}"),
        "the engine noticed the death; the scenario is not a ghost"
    );

    let (r, c) = one(&d, None, "containers.ghost");
    assert_status(&r, &c, "critical");
    r.assert_code(2);
    let ev = &c["evidence"];
    assert_eq!(ev["count"], 1, "{c:#}");
    assert_eq!(ev["checked"], 2, "{c:#}");
    let g = item(&c, "containers", "ghosty");
    assert_eq!(g["pid"], pid, "{c:#}");
    assert_eq!(g["process"], "zombie", "{c:#}");
    assert_eq!(g["shim"]["pid"], shim, "{c:#}");
    assert_eq!(g["shim"]["state"], "T", "{c:#}");
    assert!(
        c["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("kill -CONT {shim}")),
        "{c:#}"
    );

    // The remedy works: the shim collects the exit and the engine hears of it.
    drop(resume);
    wait_until(
        "the engine sees ghosty exited",
        Duration::from_secs(30),
        || inspect(&d, "ghosty", "{{.State.Status}}") == "exited",
    );
    let (r, c) = one(&d, None, "containers.ghost");
    assert_status(&r, &c, "ok");
    remove_all(&d);
}

#[test]
fn containers_logs_reports_big_logs_and_unbounded_ones() {
    let d = TestDaemon::start();
    // About 3000 lines of ~30 bytes: ~200 KiB of json-file log, no max-size.
    d.docker_ok([
        "run",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo \"line $i of a chatty one\"; i=$((i+1)); done",
    ]);
    d.docker_ok([
        "run",
        "--name",
        "quiet",
        "--log-opt",
        "max-size=1m",
        "busybox",
        "echo",
        "hi",
    ]);
    let log = inspect(&d, "chatty", "{{.LogPath}}");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size > 150 << 10, "chatty's log is only {size} bytes");

    let (r, c) = one(&d, None, "containers.logs");
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["unbounded_count"], 1, "{c:#}");
    assert_eq!(item(&c, "unbounded", "chatty")["unbounded"], true, "{c:#}");
    assert!(
        c["summary"].as_str().unwrap().contains("without bound"),
        "{c:#}"
    );

    let cfg =
        config("[checks.\"containers.logs\"]\nsize_warn_mib = 0.1\nsize_critical_mib = 100\n");
    let (r, c) = one(&d, Some(&cfg), "containers.logs");
    assert_status(&r, &c, "warning");
    assert_eq!(c["evidence"]["big_count"], 1, "{c:#}");
    let chatty = item(&c, "big", "chatty");
    assert_eq!(chatty["bytes"], size, "{c:#}");
    assert_eq!(chatty["driver"], "json-file", "{c:#}");
    assert!(chatty["max_size"].is_null(), "{c:#}");
    assert_eq!(chatty["path"], log, "{c:#}");
    assert!(c["remedy"].as_str().unwrap().contains("max-size"), "{c:#}");
    assert!(!names(&c["evidence"]["big"]).contains(&"quiet".to_string()));

    let cfg =
        config("[checks.\"containers.logs\"]\nsize_warn_mib = 0.05\nsize_critical_mib = 0.1\n");
    let (r, c) = one(&d, Some(&cfg), "containers.logs");
    assert_status(&r, &c, "critical");
    r.assert_code(2);
    item(&c, "big", "chatty");
    remove_all(&d);
}
