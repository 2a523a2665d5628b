//! `dockhand recover` against real throwaway daemons: frozen with SIGSTOP, holding a debugger
//! that swallows SIGTERM, killed with a stale pid file and a leaked docker-proxy left behind,
//! frozen in a cgroup (uninterruptible: only a reboot would free it), and healthy.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dockhand::actions::journal::{self, Body};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::daemon::spawn_tied;
use crate::support::{Run, TempDir, TestDaemon, dockhand_cmd, procfs, shared};

const LIVE_RESTORE: &str = r#"{"live-restore": true}"#;

/// `recover ARGS… --format json` against `d`, with the daemon's own command line (as its first
/// process had it) as the start command.
fn recover(d: &TestDaemon, state: &Path, args: &[&str]) -> (Run, Value) {
    let cmdline = start_cmd(d);
    let r = dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state)
        .args([
            "recover",
            "--format",
            "json",
            "--start-cmd",
            &cmdline,
            "--log-file",
        ])
        .arg(d.log_path())
        .args(args)
        .timeout(Duration::from_secs(90))
        .run();
    assert!(!r.timed_out, "{r}");
    let doc = r.json();
    assert_eq!(doc["schema"], "dockhand.recover/v1", "{r}");
    assert_eq!(doc["exit_code"], r.code.unwrap_or(-1), "{r}");
    (r, doc)
}

/// The daemon's command line, read once per daemon (its first process may be gone later).
fn start_cmd(d: &TestDaemon) -> String {
    static SEEN: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = seen.iter().find(|(p, _)| p == d.dir()) {
        return c.clone();
    }
    let c = procfs::cmdline(d.pid()).expect("the daemon's command line");
    seen.push((d.dir().to_path_buf(), c.clone()));
    c
}

/// The steps of a report as (stage, action, outcome).
fn steps(doc: &Value) -> Vec<(String, String, String)> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has_step(doc: &Value, stage: &str, action: &str, outcome: &str) -> bool {
    steps(doc)
        .iter()
        .any(|(s, a, o)| s == stage && a == action && o == outcome)
}

/// The signals the journal recorded for the run's daemon.stop step, in order.
fn stop_signals(state: &Path) -> Vec<String> {
    let c = journal::read(&state.join(journal::FILE_NAME))
        .unwrap()
        .unwrap();
    let stop_seq: Vec<u64> = c
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Intent { step, kind, .. } if kind == "daemon.stop" => Some(*step),
            _ => None,
        })
        .collect();
    c.records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Signal { step, event } if stop_seq.contains(step) => Some(event.signal.clone()),
            _ => None,
        })
        .collect()
}

fn container_pid(d: &TestDaemon, name: &str) -> i64 {
    d.docker_ok(["inspect", "-f", "{{.State.Pid}}", name])
        .parse()
        .unwrap()
}

/// The daemon answers again (through the harness's own ping, not dockhand's).
fn wait_answering(d: &TestDaemon, within: Duration) {
    let deadline = Instant::now() + within;
    while d.ping(Duration::from_secs(2)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the daemon never answered again\n{}",
            d.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn recover_on_a_healthy_daemon_refuses_without_force() {
    let d = shared();
    let state = TempDir::new();
    for args in [&[][..], &["--apply"][..]] {
        let (r, doc) = recover(d, state.path(), args);
        r.assert_code(80);
        assert_eq!(doc["result"], "not-needed", "{r}");
        assert_eq!(doc["diagnosis"]["health"], "healthy", "{r}");
        assert!(doc["reason"].as_str().unwrap().contains("--force"), "{r}");
        assert!(doc["steps"].as_array().unwrap().is_empty(), "{r}");
        assert!(r.stderr.contains("not needed"), "{r}");
    }
    // Nothing was journaled: no run started.
    assert!(!state.join(journal::FILE_NAME).exists());
    assert!(d.ping(Duration::from_secs(2)).is_ok());
}

#[test]
fn recover_restarts_a_frozen_daemon_verifies_it_and_bundles_the_stack_dump() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ]);
    let before = container_pid(&d, "keeper");
    start_cmd(&d);
    d.freeze();
    let state = TempDir::new();

    // The dry run plans it and changes nothing.
    let (r, doc) = recover(&d, state.path(), &[]);
    r.assert_code(0);
    assert_eq!(doc["result"], "planned", "{r}");
    assert_eq!(doc["diagnosis"]["health"], "frozen", "{r}");
    assert_eq!(doc["diagnosis"]["process"]["state"], "T", "{r}");
    // Known from /proc: the stopped daemon's ping was not asked and waited out.
    let ping = &doc["diagnosis"]["probes"][0];
    assert_eq!(ping["name"], "ping", "{r}");
    assert!(
        ping["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is stopped (state T)"),
        "{r}"
    );
    assert!(
        doc["diagnosis"]["why"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped"),
        "{r}"
    );
    let plan: Vec<&str> = doc["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert!(
        plan.contains(&"process.signal")
            && plan.contains(&"daemon.stop")
            && plan.contains(&"daemon.start"),
        "{plan:?}\n{r}"
    );
    assert_eq!(
        procfs::stat(d.pid()).unwrap().state,
        'T',
        "the dry run touched the daemon"
    );

    let t = Instant::now();
    let (r, doc) = recover(&d, state.path(), &["--apply"]);
    eprintln!(
        "recover --apply of a frozen daemon: {:?}\n{}",
        t.elapsed(),
        r.stderr
    );
    r.assert_code(0);
    assert_eq!(doc["result"], "recovered", "{r}");
    assert!(has_step(&doc, "bundle", "process.signal", "done"), "{r}");
    assert!(has_step(&doc, "stop", "daemon.stop", "done"), "{r}");
    assert!(has_step(&doc, "start", "daemon.start", "done"), "{r}");
    assert_eq!(doc["verification"]["health"], "healthy", "{r}");
    assert_eq!(doc["verification"]["missing"], serde_json::json!([]), "{r}");
    let new_pid = doc["changed"]["pid_after"].as_i64().unwrap();
    assert_ne!(new_pid, i64::from(d.pid()), "{r}");
    assert!(!procfs::is_alive(d.pid()), "the frozen daemon is gone");
    wait_answering(&d, Duration::from_secs(5));
    // live-restore: the container ran throughout, the same process.
    assert_eq!(container_pid(&d, "keeper"), before);
    // The bundle's SIGCONT let it run its handlers: one SIGTERM stopped it, no KILL needed.
    let sigs = stop_signals(state.path());
    assert_eq!(
        sigs.first().map(String::as_str),
        Some("SIGTERM"),
        "{sigs:?}"
    );
    assert!(!sigs.contains(&"SIGKILL".to_string()), "{sigs:?}");

    // The bundle: the stack dump, doctor's report, /proc, the log.
    let dir = PathBuf::from(doc["bundle"]["dir"].as_str().unwrap());
    assert!(dir.starts_with(state.join("incidents")), "{dir:?}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["stack_dump"]["source"], "signal", "{manifest:#}");
    let stacks = std::fs::read_to_string(dir.join("goroutines.txt")).unwrap();
    assert!(
        stacks.contains("goroutine ") && stacks.contains("running"),
        "not a goroutine dump: {}",
        &stacks[..stacks.len().min(300)]
    );
    let doctor: Value =
        serde_json::from_slice(&std::fs::read(dir.join("doctor.json")).unwrap()).unwrap();
    assert_eq!(doctor["schema"], "dockhand.doctor/v1");
    let responsive = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "daemon.responsive")
        .unwrap();
    assert_eq!(responsive["status"], "critical", "{responsive:#}");
    let proc_txt = std::fs::read_to_string(dir.join("proc.txt")).unwrap();
    assert!(
        proc_txt.contains("State:\tT"),
        "{}",
        &proc_txt[..proc_txt.len().min(600)]
    );
    assert!(proc_txt.contains("--- thread "), "per-thread states");
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(log.contains("level="), "{log}");

    // Healthy now: a second recover is not needed.
    let (r, doc) = recover(&d, state.path(), &["--apply"]);
    r.assert_code(80);
    assert_eq!(doc["result"], "not-needed", "{r}");
}

/// A debugger attached to every thread of `pid` that swallows SIGTERM and SIGINT (they stop
/// the process in the debugger, which resumes it without them) and passes everything else:
/// a daemon that ignores TERM. Killed by pid on drop.
struct Swallower(Child);

impl Swallower {
    fn attach(pid: i32, dir: &Path) -> Swallower {
        let script = dir.join("swallow.gdb");
        std::fs::write(
            &script,
            "set pagination off\nset confirm off\nhandle all nostop noprint pass\nhandle SIGTERM stop print nopass\nhandle SIGINT stop print nopass\necho swallower-ready\\n\nwhile 1\n  continue\nend\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("gdb.log")).unwrap();
        let mut cmd = Command::new("gdb");
        cmd.args(["-nx", "-batch", "-p", &pid.to_string(), "-x"])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        let child = spawn_tied(cmd, Signal::SIGKILL).unwrap_or_else(|e| {
            panic!("cannot run gdb (install it: scripts/setup-test-host): {e}")
        });
        let s = Swallower(child);
        // Attached (the kernel names the tracer in the daemon's status) and the signal rules
        // in force (gdb echoes its marker after the `handle` lines): a TERM sent between the
        // attach and the rules would reach the daemon on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let log = std::fs::read_to_string(dir.join("gdb.log")).unwrap_or_default();
            if status
                .lines()
                .any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
                && log.contains("swallower-ready")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "gdb did not attach to {pid}:\n{}",
                std::fs::read_to_string(dir.join("gdb.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}

impl Drop for Swallower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn recover_escalates_to_kill_when_the_daemon_ignores_term() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "keeper",
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ]);
    let before = container_pid(&d, "keeper");
    let tmp = TempDir::new();
    let _gdb = Swallower::attach(d.pid(), tmp.path());
    // It still answers (gdb lets it run): recover needs --force.
    wait_answering(&d, Duration::from_secs(30));
    // Check that TERM really is swallowed before relying on it.
    kill(Pid::from_raw(d.pid()), Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(procfs::is_alive(d.pid()), "SIGTERM was not swallowed");

    let state = TempDir::new();
    let t = Instant::now();
    let (r, doc) = recover(&d, state.path(), &["--apply", "--force", "--grace", "2s"]);
    eprintln!(
        "recover --apply of a daemon ignoring TERM: {:?}\n{}",
        t.elapsed(),
        r.stderr
    );
    r.assert_code(0);
    assert_eq!(doc["result"], "recovered", "{r}");
    let sigs = stop_signals(state.path());
    assert_eq!(sigs, ["SIGTERM", "SIGTERM", "SIGKILL"], "{r}");
    // The KILL left the pid file naming a dead (or unreaped) process: removed before the start.
    let order = steps(&doc);
    let rm = order
        .iter()
        .position(|(s, a, o)| s == "clean" && a == "file.remove" && o == "done");
    let start = order
        .iter()
        .position(|(_, a, o)| a == "daemon.start" && o == "done");
    assert!(
        rm.is_some() && start.is_some() && rm < start,
        "{order:?}\n{r}"
    );
    wait_answering(&d, Duration::from_secs(5));
    assert_eq!(
        container_pid(&d, "keeper"),
        before,
        "live-restore kept it running"
    );
}

/// A process of ours, killed and reaped on drop.
struct Proc(Child);

impl Proc {
    fn sh(script: &str) -> Proc {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        Proc(spawn_tied(cmd, Signal::SIGKILL).unwrap())
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

#[test]
fn recover_cleans_a_stale_pid_file_and_a_leaked_proxy_before_the_start() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    // A container on a user network: its record names the subnet, which tells an orphan proxy
    // forwarding into it to be this daemon's (several daemons run on a test host).
    let net = d.docker_ok([
        "network",
        "create",
        "--subnet",
        "172.31.254.0/24",
        "dhrecover",
    ]);
    // dockerd leaves a user network's bridge on the host when it stops: removed at the end.
    let _bridge = Bridge(format!("br-{}", &net[..12]));
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "keeper",
        "--network",
        "dhrecover",
        "busybox",
        "sleep",
        "600",
    ]);
    let before = container_pid(&d, "keeper");
    let cmdline = procfs::cmdline(d.pid()).unwrap();
    d.kill9();
    // The pid file now names a live stranger (a reused pid): dockerd would refuse to start.
    let stranger = Proc::sh("exec sleep 600");
    std::fs::write(d.pidfile(), stranger.pid().to_string()).unwrap();
    // A docker-proxy left behind, holding its port.
    let port = free_port();
    let proxy = Proc::sh(&format!(
        "exec docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port {port} -container-ip 172.31.254.254 -container-port 80 3>/dev/null"
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(
            Instant::now() < deadline,
            "docker-proxy never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let state = TempDir::new();
    let r = dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args([
            "recover",
            "--apply",
            "--format",
            "json",
            "--start-cmd",
            &cmdline,
            "--log-file",
        ])
        .arg(d.log_path())
        .timeout(Duration::from_secs(90))
        .run();
    let doc = r.json();
    r.assert_code(0);
    assert_eq!(doc["result"], "recovered", "{r}");
    assert_eq!(doc["diagnosis"]["need"], "start", "{r}");
    let order = steps(&doc);
    let pos = |action: &str| {
        order
            .iter()
            .position(|(_, a, o)| a == action && o == "done")
            .unwrap_or_else(|| panic!("no {action} done in {order:?}\n{r}"))
    };
    let start = pos("daemon.start");
    assert!(pos("file.remove") < start, "{order:?}");
    assert!(pos("process.terminate") < start, "{order:?}");
    let removed: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "file.remove")
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert!(
        removed.iter().any(|t| t.ends_with("docker.pid")),
        "{removed:?}"
    );
    assert!(
        !procfs::is_alive(proxy.pid()),
        "the leaked proxy still runs"
    );
    assert!(
        procfs::is_alive(stranger.pid()),
        "the stranger named by the pid file was touched"
    );
    wait_answering(&d, Duration::from_secs(5));
    assert_eq!(
        container_pid(&d, "keeper"),
        before,
        "live-restore kept it running"
    );
    drop(proxy);
}

/// A bridge interface a test's network made, deleted (by its name) on drop.
struct Bridge(String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "delete", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A cgroup v1 freezer group holding one process: frozen, its threads sleep uninterruptibly
/// in `__refrigerator` and not even SIGKILL ends them until thawed. Thawed and removed on drop.
struct Frozen(PathBuf);

impl Frozen {
    fn freeze(pid: i32) -> Frozen {
        let root = Path::new("/sys/fs/cgroup/freezer");
        assert!(
            root.join("freezer.state").exists() || root.join("tasks").exists(),
            "no cgroup v1 freezer at {}",
            root.display()
        );
        let dir = root.join(format!("dockhand-test-{}-{pid}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = Frozen(dir);
        std::fs::write(f.0.join("cgroup.procs"), pid.to_string()).unwrap();
        std::fs::write(f.0.join("freezer.state"), "FROZEN").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(f.0.join("freezer.state"))
            .unwrap()
            .trim()
            != "FROZEN"
        {
            assert!(Instant::now() < deadline, "the freezer did not freeze");
            std::thread::sleep(Duration::from_millis(20));
        }
        f
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
        // Its processes go back to the root group, then the group can go.
        let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
        for p in procs.lines() {
            let _ = std::fs::write("/sys/fs/cgroup/freezer/cgroup.procs", p);
        }
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn recover_stops_at_a_daemon_that_cannot_be_killed_and_touches_nothing_else() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    let frozen = Frozen::freeze(d.pid());
    assert_eq!(procfs::stat(d.pid()).unwrap().state, 'D');
    let state = TempDir::new();
    let t = Instant::now();
    let (r, doc) = recover(&d, state.path(), &["--apply", "--grace", "1s"]);
    eprintln!("recover --apply of an unkillable daemon: {:?}", t.elapsed());
    r.assert_code(83);
    assert_eq!(doc["result"], "reboot-needed", "{r}");
    let reason = doc["reason"].as_str().unwrap();
    // The wait channel is where the main thread was frozen (__refrigerator, or the futex wait
    // it was frozen in).
    assert!(
        reason.contains("cannot be killed: uninterruptible in ")
            && reason.ends_with("; a reboot is needed; nothing else was touched"),
        "{r}"
    );
    assert!(r.stderr.contains("a reboot is needed"), "{r}");
    assert_eq!(
        stop_signals(state.path()),
        ["SIGTERM", "SIGTERM", "SIGKILL"],
        "{r}"
    );
    // Nothing after the stop: no clean-up, no start.
    assert!(
        steps(&doc)
            .iter()
            .all(|(s, _, _)| s == "bundle" || s == "stop"),
        "{r}"
    );
    assert!(d.pidfile().exists(), "the pid file was touched");
    // Thawed, the pending SIGKILL ends it.
    drop(frozen);
    let deadline = Instant::now() + Duration::from_secs(10);
    while procfs::stat(d.pid()).is_some_and(|s| s.state != 'Z') {
        assert!(Instant::now() < deadline, "the thawed daemon did not die");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How the journal's last run ended: its status and reason.
fn run_end(state: &Path) -> (String, Option<String>) {
    let c = journal::read(&state.join(journal::FILE_NAME))
        .unwrap()
        .unwrap();
    match &c.records.last().unwrap().body {
        Body::RunEnd { status, reason, .. } => (status.clone(), reason.clone()),
        other => panic!("the journal does not end with a run end: {other:?}"),
    }
}

/// An executable shell script `name` in `dir` with `body`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn recover_judges_an_init_style_launcher_that_exits_0_by_the_verification() {
    // No live-restore and no containers: the stop ends dockerd and its containerd cleanly, so
    // the launcher starts a daemon from scratch.
    let d = TestDaemon::start();
    let cmdline = start_cmd(&d);
    let old = d.pid();
    let tmp = TempDir::new();
    let state = TempDir::new();
    let run = |launcher: &Path, extra: &[&str]| {
        let r = dockhand_cmd()
            .args(["--host", &d.host(), "--state-dir"])
            .arg(state.path())
            .args(["recover", "--apply", "--format", "json", "--start-cmd"])
            .arg(launcher)
            .arg("--log-file")
            .arg(d.log_path())
            .args(extra)
            .timeout(Duration::from_secs(90))
            .run();
        assert!(!r.timed_out, "{r}");
        let doc = r.json();
        (r, doc)
    };

    // A launcher that exits 0 and starts nothing: the verification says what is wrong.
    let idle = script(tmp.path(), "starts-nothing", "exit 0\n");
    let (r, doc) = run(&idle, &["--force", "--no-bundle", "--start-timeout", "3s"]);
    r.assert_code(81);
    assert_eq!(doc["result"], "failed", "{r}");
    assert!(has_step(&doc, "stop", "daemon.stop", "done"), "{r}");
    assert!(has_step(&doc, "start", "daemon.start", "done"), "{r}");
    assert!(
        d.ping(Duration::from_secs(2)).is_err(),
        "nothing was started"
    );
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("verification failed: the daemon did not answer the ping within 3 s"),
        "{r}"
    );
    assert!(!reason.contains("exited at once"), "{r}");
    let (status, why) = run_end(state.path());
    assert_eq!(status, "failed", "{why:?}");
    assert!(why.unwrap_or_default().contains("verification failed"));

    // An init-style launcher: it daemonizes dockerd (its own session, detached) and returns 0
    // at once, as `service docker start` does.
    let launcher = script(
        tmp.path(),
        "service-docker-start",
        &format!(
            "setsid -f {cmdline} </dev/null >>{} 2>&1\nexit 0\n",
            d.log_path().display()
        ),
    );
    let (r, doc) = run(&launcher, &[]);
    assert_eq!(
        doc["result"],
        "recovered",
        "{r}\n--- dockerd.log ---\n{}",
        d.log_tail(40)
    );
    r.assert_code(0);
    assert!(has_step(&doc, "start", "daemon.start", "done"), "{r}");
    assert_eq!(doc["verification"]["health"], "healthy", "{r}");
    let new_pid = doc["changed"]["pid_after"]
        .as_i64()
        .expect("the daemon identified") as i32;
    assert_ne!(new_pid, old, "{r}");
    // The daemon the launcher left behind is the one at the socket (its own guard: the test
    // daemon's dir is on its command line, so the harness stops it with the rest).
    let _started = crate::support::leaks::PidGuard(new_pid);
    assert!(procfs::is_alive(new_pid), "{r}");
    assert!(
        procfs::cmdline(new_pid).unwrap().starts_with("dockerd"),
        "{r}"
    );
    wait_answering(&d, Duration::from_secs(5));
    let (status, why) = run_end(state.path());
    assert_eq!(status, "completed", "{why:?}");
}

#[test]
fn recover_halts_when_the_daemon_was_restarted_between_diagnosis_and_stop() {
    let d = TestDaemon::builder().daemon_json(LIVE_RESTORE).start();
    let cmdline = start_cmd(&d);
    let old = d.pid();
    let pause = TempDir::new();
    let state = TempDir::new();
    let cmd = dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args([
            "recover",
            "--apply",
            "--force",
            "--no-bundle",
            "--format",
            "json",
            "--start-cmd",
            &cmdline,
            "--log-file",
        ])
        .arg(d.log_path())
        .env("DOCKHAND_TEST_PAUSE_BEFORE_STOP", pause.path())
        .timeout(Duration::from_secs(90));
    let running = std::thread::spawn(move || cmd.run());
    // recover has diagnosed the daemon and holds the run lock, about to stop it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pause.join("paused").exists() {
        assert!(
            Instant::now() < deadline && !running.is_finished(),
            "recover never reached the stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Meanwhile the daemon is restarted: a new dockerd on the same socket.
    d.kill9();
    let again = crate::support::leaks::restart_dockerd(&d, "dockerd-restarted.log");
    let new_pid = again.pid();
    let started = procfs::stat(new_pid).unwrap().starttime;
    std::fs::write(pause.join("resume"), b"").unwrap();
    let r = running.join().unwrap();
    assert!(!r.timed_out, "{r}");
    let doc = r.json();
    r.assert_code(81);
    assert_eq!(doc["result"], "failed", "{r}");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains("restarted since the diagnosis")
            && reason.contains(&format!(
                "dockerd pid {new_pid} serves the socket now, not pid {old}"
            ))
            && reason.contains("nothing was stopped, cleaned or started"),
        "{r}"
    );
    assert!(r.stderr.contains("restarted since the diagnosis"), "{r}");
    // Nothing was done: no stop, no clean-up, no start.
    assert_eq!(doc["steps"], serde_json::json!([]), "{r}");
    assert!(stop_signals(state.path()).is_empty(), "{r}");
    // The new daemon was not touched: the same process, serving.
    assert_eq!(
        procfs::stat(new_pid).map(|s| (s.starttime, s.state != 'Z')),
        Some((started, true)),
        "the restarted daemon was touched"
    );
    assert!(d.ping(Duration::from_secs(5)).is_ok());
    let (status, why) = run_end(state.path());
    assert_eq!(status, "failed", "{why:?}");
    assert!(
        why.unwrap_or_default()
            .contains("restarted since the diagnosis")
    );
    drop(again);
}
