//! doctor's daemon-health checks on the branches a plain daemon never takes: a daemon that
//! answers the ping but lists slowly or never (through a real proxy in front of a real daemon's
//! socket), and a daemon with a thread stuck on a frozen FUSE mount.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fuse::BindFs;
use crate::support::proxy::ApiProxy;
use crate::support::schema::{self, Evidence, check};
use crate::support::{Run, TempDir, TestDaemon, dockhand, dockhand_cmd, host_problem, shared};

/// `--host HOST --timeout T doctor --format json ARGS…`, the report validated.
fn doctor(host: &str, timeout: &str, args: &[&str]) -> (Run, Value) {
    let mut a = vec![
        "--host",
        host,
        "--timeout",
        timeout,
        "doctor",
        "--format",
        "json",
    ];
    a.extend_from_slice(args);
    let r = dockhand(a);
    assert!(!r.timed_out, "{r}");
    let doc = r.json();
    if let Err(e) = schema::validate_report(&doc, Evidence::TypesOnly) {
        panic!("report does not match the documented schema:\n{e}\n{r}");
    }
    (r, doc)
}

/// The probe named `name` in daemon.responsive's evidence.
#[track_caller]
fn probe<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["evidence"]["probes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no probe {name} in\n{c:#}"))
}

/// Whether a finding's fix runs `argv`.
fn fix_runs(c: &Value, argv: &[&str]) -> bool {
    c["fix"]["steps"].as_array().is_some_and(|steps| {
        steps
            .iter()
            .any(|s| s["kind"] == "run" && s["argv"].as_array().is_some_and(|a| a == argv))
    })
}

#[test]
fn responsive_calls_a_delayed_list_slow_and_judges_it_per_container() {
    let d = TestDaemon::start();
    for _ in 0..4 {
        d.docker_ok(["create", "busybox", "true"]);
    }
    let proxy = ApiProxy::start(&d.socket());
    proxy.delay("/containers/json", Duration::from_millis(1500));

    let (r, doc) = doctor(&proxy.host(), "5s", &["--check", "daemon.responsive"]);
    let c = check(&doc, "daemon.responsive");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    assert_eq!(c["evidence"]["classification"], "slow", "{c:#}");
    assert_eq!(c["evidence"]["containers"], 4, "{c:#}");
    let ping = probe(c, "ping");
    assert_eq!(ping["ok"], true, "{c:#}");
    assert!(ping["latency_ms"].as_f64().unwrap() < 1000.0, "{c:#}");
    let list = probe(c, "containers");
    assert_eq!(list["ok"], true, "{c:#}");
    assert!(list["latency_ms"].as_f64().unwrap() >= 1500.0, "{c:#}");
    // 1000 ms + 4 × 0.25 ms: a small host that lists this slowly is slow.
    assert_eq!(list["limit_ms"], 1001.0, "{c:#}");
    let info = probe(c, "info");
    assert_eq!(info["ok"], true, "{c:#}");
    assert!(info["latency_ms"].as_f64().unwrap() < 1000.0, "{c:#}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains("4 containers listed in")
            && summary.contains("the list's limit for 4 containers"),
        "{summary}"
    );
    r.assert_code(1);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|l| l.starts_with("GET /containers/json")),
        "{:?}",
        proxy.requests()
    );

    // The same latency on a host judged big enough for it (200 ms a container): healthy.
    let t = TempDir::new();
    let cfg = t.write(
        "big.toml",
        "[checks.\"daemon.responsive\"]\nlist_ms_per_container = 200\n",
    );
    let r = dockhand_cmd()
        .config(&cfg)
        .args([
            "--host",
            &proxy.host(),
            "--timeout",
            "5s",
            "doctor",
            "--format",
            "json",
            "--check",
            "daemon.responsive",
        ])
        .run();
    let doc = r.json();
    let c = check(&doc, "daemon.responsive");
    assert_eq!(c["status"], "ok", "{c:#}\n{r}");
    assert_eq!(c["evidence"]["classification"], "healthy", "{c:#}");
    assert_eq!(probe(c, "containers")["limit_ms"], 1800.0, "{c:#}");
    assert!(probe(c, "containers")["latency_ms"].as_f64().unwrap() >= 1500.0);
    r.assert_code(0);
}

#[test]
fn responsive_calls_a_held_list_wedged_within_the_deadline() {
    let d = shared();
    let proxy = ApiProxy::start(&d.socket());
    proxy.hold("/containers/json");

    // The whole run, every check: a wedged daemon costs one deadline after the ping.
    let (r, doc) = doctor(&proxy.host(), "2s", &[]);
    assert!(
        r.elapsed <= Duration::from_secs(3),
        "doctor took {:?} against a wedged daemon with --timeout 2s (limit 3 s)\n{r}",
        r.elapsed
    );
    r.assert_code(2);
    let c = check(&doc, "daemon.responsive");
    assert_eq!(c["status"], "critical", "{c:#}");
    assert_eq!(c["evidence"]["classification"], "wedged", "{c:#}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains("listing containers did not finish within 2 s"),
        "{summary}"
    );
    assert_eq!(probe(c, "ping")["ok"], true, "{c:#}");
    assert_eq!(probe(c, "info")["ok"], true, "{c:#}");
    let list = probe(c, "containers");
    assert_eq!(list["ok"], false, "{c:#}");
    assert!(list["latency_ms"].as_f64().unwrap() >= 2000.0, "{c:#}");
    assert!(
        list["error"]
            .as_str()
            .unwrap()
            .contains("did not answer within 2 s"),
        "{c:#}"
    );
    assert!(fix_runs(c, &["dockhand", "recover"]), "{c:#}");
    assert_eq!(check(&doc, "daemon.reachable")["status"], "ok", "{r}");

    // Dropping the proxy releases the held request and ends its threads at once.
    let t = Instant::now();
    drop(proxy);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the proxy took {:?} to stop",
        t.elapsed()
    );
}

#[test]
fn responsive_calls_a_held_info_wedged_and_names_it() {
    let d = shared();
    let proxy = ApiProxy::start(&d.socket());
    proxy.hold("/info");
    let (r, doc) = doctor(&proxy.host(), "2s", &["--check", "daemon.responsive"]);
    assert!(r.elapsed <= Duration::from_secs(3), "{r}");
    r.assert_code(2);
    let c = check(&doc, "daemon.responsive");
    assert_eq!(c["status"], "critical", "{c:#}");
    assert_eq!(c["evidence"]["classification"], "wedged", "{c:#}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains("/info did not answer within 2 s") && summary.contains("lists"),
        "{summary}"
    );
    assert_eq!(probe(c, "containers")["ok"], true, "{c:#}");
    assert_eq!(probe(c, "info")["ok"], false, "{c:#}");

    // Released: the same daemon is healthy again through the same proxy.
    proxy.pass_all();
    let (r, doc) = doctor(&proxy.host(), "5s", &["--check", "daemon.responsive"]);
    let c = check(&doc, "daemon.responsive");
    assert_eq!(c["evidence"]["classification"], "healthy", "{c:#}\n{r}");
}

/// `/proc/<pid>/task/<tid>/{stat,wchan}`: the state letter and wait channel of one thread.
fn thread_state(pid: i32, tid: i32) -> Option<(char, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let state = stat.get(stat.rfind(')')? + 2..)?.chars().next()?;
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")).ok()?;
    Some((state, wchan.trim().to_string()))
}

/// A thread of `pid` waiting on a FUSE server, once one is (within `patience`).
fn fuse_waiter(pid: i32, patience: Duration) -> Option<i32> {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        let tids = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for tid in tids
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
        {
            if thread_state(pid, tid).is_some_and(|(_, w)| w == "request_wait_answer") {
                return Some(tid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

unsafe extern "C" {
    fn tgkill(tgid: i32, tid: i32, sig: i32) -> i32;
}

/// A stuck thread of daemon.process's evidence, by tid.
#[track_caller]
fn stuck(c: &Value, tid: i32) -> &Value {
    c["evidence"]["stuck_threads"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tid"] == tid))
        .unwrap_or_else(|| panic!("thread {tid} is not among the stuck threads\n{c:#}"))
}

#[test]
fn process_reports_a_thread_stuck_on_a_frozen_fuse_mount() {
    // A frozen FUSE mount in the host's mount namespace: anything that walks every mount
    // would hang on it while it lasts.
    let _host = host_problem();
    let d = TestDaemon::builder().without_busybox().start();
    d.docker_ok(["volume", "create", "stuck"]);
    let src = TempDir::new();
    src.write("data", "x");
    // Dropped before the daemon (declared after it): thawed, unmounted, bindfs gone.
    let fs = BindFs::start(src.path(), &d.data_root().join("volumes/stuck/_data"));

    let (r, doc) = doctor(&d.host(), "3s", &["--check", "daemon.process"]);
    let c = check(&doc, "daemon.process");
    assert_eq!(c["status"], "ok", "{c:#}\n{r}");
    assert_eq!(
        c["evidence"]["stuck_threads"],
        serde_json::json!([]),
        "{c:#}"
    );

    fs.freeze();
    // `GET /system/df` sizes every local volume: dockerd stats the volume's `_data`, the FUSE
    // mount's root, and that thread waits for bindfs. The client does not wait for the answer;
    // the connection stays open until the test ends.
    let mut df = UnixStream::connect(d.socket()).unwrap();
    df.write_all(b"GET /system/df HTTP/1.0\r\nHost: docker\r\n\r\n")
        .unwrap();
    let tid = fuse_waiter(d.pid(), Duration::from_secs(10)).unwrap_or_else(|| {
        panic!(
            "no dockerd thread waits on the frozen mount; its log:\n{}",
            d.log_tail(20)
        )
    });
    // Go runs the call on whichever thread ran the goroutine: the main thread, or another.
    // A FUSE wait is interruptible until a signal reaches the thread: S, not D.
    assert_eq!(thread_state(d.pid(), tid).map(|s| s.0), Some('S'));

    let (r, doc) = doctor(&d.host(), "3s", &["--check", "daemon.process"]);
    let c = check(&doc, "daemon.process");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let t = stuck(c, tid);
    assert_eq!(t["kind"], "filesystem-wait", "{c:#}");
    assert_eq!(t["wchan"], "request_wait_answer", "{c:#}");
    assert_eq!(t["main"], tid == d.pid(), "{c:#}");
    assert_eq!(t["samples"], 5, "{c:#}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("thread {tid}"))
            && summary.contains("request_wait_answer")
            && summary.contains("the API still answers"),
        "{summary}"
    );
    // The process's own state letter (its main thread's) still says sleeping.
    assert!(
        matches!(c["evidence"]["state"].as_str(), Some("S" | "R")),
        "{c:#}"
    );
    r.assert_code(1);

    // Any signal turns the wait uninterruptible (the kernel then waits for the server's
    // answer to the interrupt): D. SIGURG is Go's preemption signal, which it ignores here.
    // SAFETY: tgkill only sends a signal to the thread named.
    assert_eq!(unsafe { tgkill(d.pid(), tid, nix::libc::SIGURG) }, 0);
    // The wait channel reads 0 for the moment the thread is woken by the signal: wait until it
    // is back asleep, in D, in the FUSE wait.
    let deadline = Instant::now() + Duration::from_secs(5);
    while thread_state(d.pid(), tid) != Some(('D', "request_wait_answer".into()))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        thread_state(d.pid(), tid),
        Some(('D', "request_wait_answer".into()))
    );
    let (r, doc) = doctor(&d.host(), "3s", &["--check", "daemon.process"]);
    let c = check(&doc, "daemon.process");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let t = stuck(c, tid);
    assert_eq!(t["kind"], "uninterruptible", "{c:#}");
    assert_eq!(t["state"], "D", "{c:#}");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("uninterruptible sleep (D) in request_wait_answer"),
        "{c:#}"
    );
    let stack = format!("/proc/{}/task/{tid}/stack", d.pid());
    assert!(fix_runs(c, &["cat", &stack]), "{c:#}");

    // The server answers again: the thread is released, the process is fine.
    fs.thaw();
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread_state(d.pid(), tid).is_some_and(|(_, w)| w == "request_wait_answer")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (r, doc) = doctor(&d.host(), "3s", &["--check", "daemon.process"]);
    assert_eq!(check(&doc, "daemon.process")["status"], "ok", "{r}");
    drop(df);
    drop(fs);
}
