//! `dockhand reap` against what Docker really leaks: a docker-proxy left behind by kill -9 of a
//! throwaway daemon, a stale pid file, orphan shims left by kill -9 of a daemon and its
//! containerd (one containerd still knows, one it forgot), zombies of a process that never
//! waits, tmp leftovers, a container stuck in dead, and a pid that exits and is reused between
//! the plan and its apply. Every JSON document is deserialised into the library's own types.

use std::path::Path;
use std::time::{Duration, SystemTime};

use dockhand::report::reap::ReapDoc;
use nix::sys::signal::Signal;

use crate::ports::journal_steps;
use crate::support::leaks::{
    PidGuard, children, free_port, kill_pid, restart_dockerd, spawn_at_pid, spawn_proxy,
    tcp_listening, wait_for,
};
use crate::support::{Run, TempDir, TestDaemon, dockhand, procfs};

fn reap_doc(r: &Run) -> ReapDoc {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.reap/v1 document ({e})\n{r}"))
}

/// `dockhand --host H [--state-dir S] reap ARGS --format json`.
fn reap(host: &str, state: Option<&TempDir>, args: &[&str]) -> (Run, ReapDoc) {
    let mut a: Vec<String> = vec!["--host".into(), host.into()];
    if let Some(s) = state {
        a.push("--state-dir".into());
        a.push(s.path().display().to_string());
    }
    a.push("reap".into());
    a.extend(args.iter().map(|s| s.to_string()));
    a.push("--format".into());
    a.push("json".into());
    let r = dockhand(&a);
    let doc = reap_doc(&r);
    (r, doc)
}

#[test]
fn reap_stops_a_proxy_left_behind_by_kill_9_of_a_daemon() {
    // The stopped proxy is a stuck listener, which doctor's ports.stuck sees host-wide.
    let _host = crate::support::host_problem();
    let d = TestDaemon::start();
    let _net = crate::support::leaks::Network::create(&d, "10.213.245.0/24", "dhr1");
    let port = free_port();
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "dhr1",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sleep",
        "300",
    ]);
    let proxy = children(d.pid())
        .into_iter()
        .find(|s| {
            s.comm == "docker-proxy"
                && procfs::cmdline(s.pid).is_some_and(|c| c.contains(&port.to_string()))
        })
        .expect("the daemon's docker-proxy");
    let _guard = PidGuard(proxy.pid);
    let containerd = children(d.pid())
        .into_iter()
        .find(|s| s.comm == "containerd")
        .expect("the daemon's containerd");
    // dockerd gives its proxies PDEATHSIG=SIGTERM, so a crash only leaves one behind when the
    // signal cannot act at that moment: the proxy is stopped, as a frozen host would have it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(proxy.pid), Signal::SIGSTOP).unwrap();
    wait_for("the proxy to stop", Duration::from_secs(5), || {
        procfs::stat(proxy.pid).is_some_and(|s| s.state == 'T')
    });
    d.kill9();
    kill_pid(containerd.pid);
    assert!(
        procfs::is_alive(proxy.pid),
        "the proxy died with its daemon"
    );
    assert!(tcp_listening(port));
    let _again = restart_dockerd(&d, "dockerd-2.log");
    let host = d.host();

    // ports sees it for what it is: held by a stopped process, and a leaked proxy.
    let r = dockhand(["--host", &host, "ports", "--port", &port.to_string()]);
    assert!(r.stdout.contains("stuck: stopped (T) (+1)"), "{r}");
    let (r, doc) = reap(&host, None, &[]);
    r.assert_code(0);
    assert_eq!(doc.schema, "dockhand.reap/v1");
    assert!(!doc.applied);
    let step = doc
        .steps
        .iter()
        .find(|s| s.category == "leaked-proxy")
        .unwrap_or_else(|| panic!("{doc:#?}"));
    assert_eq!(
        step.step.target,
        format!("pid {} (docker-proxy)", proxy.pid)
    );
    assert!(
        step.step
            .reason
            .contains("its parent is not a live dockerd"),
        "{doc:#?}"
    );
    assert!(procfs::is_alive(proxy.pid), "a dry run killed it");

    let state = TempDir::new();
    let (r, doc) = reap(&host, Some(&state), &["--apply", "--grace", "2s"]);
    r.assert_code(0);
    let step = doc
        .steps
        .iter()
        .find(|s| s.category == "leaked-proxy")
        .unwrap();
    assert_eq!(step.step.outcome.as_deref(), Some("done"), "{doc:#?}");
    assert!(doc.totals.is_some_and(|t| t.done >= 1));
    wait_for("the port to be free", Duration::from_secs(5), || {
        !tcp_listening(port)
    });
    // A stopped process is continued after SIGTERM, so it can die of it.
    let steps = journal_steps(&state);
    let signals = &steps[0].2;
    assert!(
        signals.iter().any(|s| s.starts_with("SIGCONT")),
        "{steps:?}"
    );
}

/// A pid nothing runs as now.
fn unused_pid() -> i32 {
    (20000..32000)
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

#[test]
fn reap_rewrites_a_stale_pid_file_and_never_touches_one_naming_an_engine() {
    let d = TestDaemon::start();
    let host = d.host();
    let pidfile = d.pidfile();
    let daemon = d.pid().to_string();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), daemon);

    // It names a live process that is not dockerd: the next start would fail.
    let stranger = crate::support::leaks::Kid(
        std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap(),
    );
    for named in [stranger.pid(), unused_pid()] {
        std::fs::write(&pidfile, named.to_string()).unwrap();
        let (r, doc) = reap(&host, None, &[]);
        r.assert_code(0);
        let s = doc
            .steps
            .iter()
            .find(|s| s.category == "pidfile")
            .unwrap_or_else(|| panic!("{doc:#?}"));
        assert_eq!(s.step.kind, "file.rewrite-pid");
        assert!(s.step.reason.contains(&format!("pid {named}")), "{doc:#?}");
        let state = TempDir::new();
        let (r, doc) = reap(&host, Some(&state), &["--apply"]);
        r.assert_code(0);
        let s = doc.steps.iter().find(|s| s.category == "pidfile").unwrap();
        assert_eq!(s.step.outcome.as_deref(), Some("done"), "{doc:#?}");
        assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), daemon);
    }
    assert!(
        stranger.alive(),
        "the process the pid file named was touched"
    );

    // Another running engine's pid: reported, never touched.
    let other = crate::support::shared().pid().to_string();
    std::fs::write(&pidfile, &other).unwrap();
    let (r, doc) = reap(&host, None, &[]);
    r.assert_code(0);
    assert!(
        doc.steps.iter().all(|s| s.category != "pidfile"),
        "{doc:#?}"
    );
    let s = doc
        .skipped
        .iter()
        .find(|s| s.category == "pidfile")
        .unwrap_or_else(|| panic!("{doc:#?}"));
    assert!(s.why.contains("another running container engine"), "{s:?}");
    let state = TempDir::new();
    reap(&host, Some(&state), &["--apply"]).0.assert_code(0);
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), other);
    std::fs::write(&pidfile, &daemon).unwrap();
}

/// The shim of container `id` of daemon `d`.
fn shim_of(d: &TestDaemon, id: &str) -> procfs::Stat {
    let needle = d.exec_root().join("containerd").display().to_string();
    procfs::all_stats()
        .into_iter()
        .find(|s| {
            s.comm.starts_with("containerd-shim")
                && procfs::cmdline(s.pid).is_some_and(|c| c.contains(id) && c.contains(&needle))
        })
        .unwrap_or_else(|| panic!("no shim for {id}"))
}

#[test]
fn reap_ends_orphan_shims_only_when_unknown_to_docker_and_containerd_and_asked() {
    let d = TestDaemon::start();
    // `forgot`: containerd loses its task; `kept`: containerd still runs it. Docker loses both.
    // forgot's pid 1 (sleep) never reaps the `sleep 1` it inherits: a zombie.
    let forgot = d.docker_ok([
        "run",
        "-d",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1 & exec sleep 300",
    ]);
    let kept = d.docker_ok(["run", "-d", "--network", "none", "busybox", "sleep", "300"]);
    let (s1, s2) = (shim_of(&d, &forgot), shim_of(&d, &kept));
    let guards: Vec<PidGuard> = [&s1, &s2]
        .iter()
        .flat_map(|s| children(s.pid).into_iter().map(|c| c.pid).chain([s.pid]))
        .map(PidGuard)
        .collect();
    let init = children(s1.pid).first().expect("forgot's pid 1").pid;
    wait_for(
        "a zombie under forgot's pid 1",
        Duration::from_secs(10),
        || {
            procfs::all_stats()
                .iter()
                .any(|s| s.ppid == init && s.state == 'Z')
        },
    );
    // The crash: dockerd and its containerd die at once; the shims live on.
    let containerd = children(d.pid())
        .into_iter()
        .find(|s| s.comm == "containerd")
        .expect("the daemon's containerd");
    d.kill9();
    kill_pid(containerd.pid);
    for id in [&forgot, &kept] {
        crate::support::remove_tree(&d.data_root().join("containers").join(id));
    }
    // containerd keeps one bundle directory per task in its state dir, and re-adopts those.
    let bundle = d
        .exec_root()
        .join("containerd/daemon/io.containerd.runtime.v2.task")
        .join(d.containerd_namespace())
        .join(&forgot);
    assert!(bundle.is_dir(), "{}", bundle.display());
    crate::support::remove_tree(&bundle);
    let _again = restart_dockerd(&d, "dockerd-2.log");
    assert!(procfs::is_alive(s1.pid) && procfs::is_alive(s2.pid));
    let host = d.host();

    // Without --shims: both reported, neither ended; the zombie's parent (forgot's pid 1, in a
    // container Docker does not list) is ended so the shim reaps the zombie.
    let (r, doc) = reap(&host, None, &[]);
    r.assert_code(0);
    let skipped_for = |doc: &ReapDoc, pid: i32| {
        doc.skipped
            .iter()
            .find(|s| s.category == "orphan-shim" && s.target.starts_with(&format!("pid {pid} ")))
            .unwrap_or_else(|| panic!("pid {pid} not reported: {doc:#?}"))
            .why
            .clone()
    };
    assert!(
        skipped_for(&doc, s1.pid).contains("add --shims"),
        "{doc:#?}"
    );
    assert!(
        skipped_for(&doc, s2.pid).contains("containerd still has its task"),
        "{doc:#?}"
    );
    let z = doc
        .steps
        .iter()
        .find(|s| s.category == "zombie-parent")
        .unwrap_or_else(|| panic!("{doc:#?}"));
    assert_eq!(z.step.target, format!("pid {init} (sleep)"));
    assert!(
        doc.steps
            .iter()
            .all(|s| !s.category.starts_with("orphan-shim"))
    );

    // With --shims: forgot's processes, then its shim. kept's shim stays: containerd runs it.
    let (r, doc) = reap(&host, None, &["--shims"]);
    r.assert_code(0);
    let planned: Vec<(&str, &str)> = doc
        .steps
        .iter()
        .map(|s| (s.category.as_str(), s.step.target.as_str()))
        .collect();
    let shim_target = format!("pid {} ({})", s1.pid, s1.comm);
    let init_target = format!("pid {init} (sleep)");
    assert_eq!(
        planned,
        vec![
            ("orphan-shim-task", init_target.as_str()),
            ("orphan-shim", shim_target.as_str())
        ],
        "{doc:#?}"
    );
    let state = TempDir::new();
    let (r, doc) = reap(
        &host,
        Some(&state),
        &["--shims", "--apply", "--grace", "1s"],
    );
    r.assert_code(0);
    for s in &doc.steps {
        assert_eq!(s.step.outcome.as_deref(), Some("done"), "{doc:#?}");
    }
    wait_for("the orphan shim to go", Duration::from_secs(10), || {
        !procfs::is_alive(s1.pid) && !procfs::is_alive(init)
    });
    assert!(
        procfs::is_alive(s2.pid),
        "the shim containerd still runs was ended"
    );
    drop(guards);
}

#[test]
fn reap_refuses_a_pid_reused_between_the_plan_and_its_apply() {
    let d = TestDaemon::start();
    let _net = crate::support::leaks::Network::create(&d, "10.213.246.0/24", "dhr2");
    let port = free_port();
    let proxy = spawn_proxy("tcp", "127.0.0.1", port, "10.213.246.254", 80);
    let pid = proxy.pid();
    let state = TempDir::new();
    let plan = state.path().join("plan.json");
    // The plan is signed with the state dir's key: made and applied with the same state dir.
    let (r, doc) = reap(
        &d.host(),
        Some(&state),
        &["--plan-out", plan.to_str().unwrap()],
    );
    r.assert_code(0);
    assert!(
        doc.steps
            .iter()
            .any(|s| s.step.target == format!("pid {pid} (docker-proxy)")),
        "{doc:#?}"
    );
    // The proxy exits; another process is started on its very pid.
    drop(proxy);
    assert!(!procfs::is_alive(pid));
    let newcomer = spawn_at_pid(pid).expect("the pid is free again");
    let (r, doc) = reap(
        &d.host(),
        Some(&state),
        &["--apply", "--plan", plan.to_str().unwrap()],
    );
    r.assert_code(0);
    let s = doc
        .steps
        .iter()
        .find(|s| s.step.target.starts_with(&format!("pid {pid} ")))
        .unwrap_or_else(|| panic!("{doc:#?}"));
    assert_eq!(s.step.outcome.as_deref(), Some("changed"), "{doc:#?}");
    assert!(
        s.step
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("is now another process")),
        "{doc:#?}"
    );
    assert!(procfs::is_alive(pid), "the newcomer was signalled");
    assert_eq!(procfs::stat(pid).unwrap().comm, "sleep");
    let steps = journal_steps(&state);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].1, "changed");
    assert!(steps[0].2.is_empty(), "no signal was sent: {steps:?}");
    drop(newcomer);
}

/// Sets a path's mtime `ago` in the past.
fn age(path: &Path, ago: Duration) {
    let f = std::fs::File::options()
        .read(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn reap_removes_tmp_leftovers_no_one_holds_past_the_grace() {
    let d = TestDaemon::start();
    let tmp = d.data_root().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let hours = Duration::from_secs(3 * 3600);
    let blob = tmp.join("GetImageBlob123");
    std::fs::write(&blob, vec![0u8; 4096]).unwrap();
    age(&blob, hours);
    let dir = tmp.join("docker-import-7");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/layer.tar"), b"layer").unwrap();
    age(&dir, hours);
    let young = tmp.join("GetImageBlob124");
    std::fs::write(&young, b"in flight").unwrap();
    let held = tmp.join("GetImageBlob125");
    std::fs::write(&held, b"held").unwrap();
    age(&held, hours);
    let holder = crate::support::leaks::Kid(
        std::process::Command::new("sh")
            .args(["-c", "exec sleep 300 < \"$0\"", held.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    wait_for("the holder to open it", Duration::from_secs(5), || {
        std::fs::read_link(format!("/proc/{}/fd/0", holder.pid())).is_ok_and(|t| t == held)
    });
    let old = d.data_root().join("tmp-old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("x"), b"x").unwrap();
    age(&old, hours);

    let state = TempDir::new();
    let (r, doc) = reap(&d.host(), Some(&state), &["--apply"]);
    r.assert_code(0);
    let mut done: Vec<(String, String)> = doc
        .steps
        .iter()
        .filter(|s| s.category == "tmp")
        .map(|s| {
            (
                s.step.kind.clone(),
                s.step.outcome.clone().unwrap_or_default(),
            )
        })
        .collect();
    done.sort();
    assert_eq!(
        done,
        vec![
            ("file.remove".to_string(), "done".to_string()),
            ("file.remove-tree".into(), "done".into()),
            ("file.remove-tree".into(), "done".into()),
        ],
        "{doc:#?}"
    );
    assert!(!blob.exists() && !dir.exists() && !old.exists());
    assert!(young.exists(), "a young entry was removed");
    assert!(held.exists(), "a held entry was removed");
    drop(holder);
}

#[test]
fn reap_removes_a_container_stuck_in_dead() {
    let d = TestDaemon::start();
    let id = d.docker_ok(["create", "--name", "stuck", "busybox", "true"]);
    // A removal that failed half-way leaves the container marked dead in its own file; dockerd
    // keeps it that way across a restart.
    let containerd = children(d.pid())
        .into_iter()
        .find(|s| s.comm == "containerd")
        .expect("the daemon's containerd");
    d.kill9();
    kill_pid(containerd.pid);
    let cfg = d
        .data_root()
        .join("containers")
        .join(&id)
        .join("config.v2.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["State"]["Dead"] = serde_json::Value::Bool(true);
    std::fs::write(&cfg, v.to_string()).unwrap();
    let _again = restart_dockerd(&d, "dockerd-2.log");
    assert_eq!(
        d.docker_ok(["inspect", "-f", "{{.State.Status}}", &id]),
        "dead"
    );
    let state = TempDir::new();
    let (r, doc) = reap(&d.host(), Some(&state), &["--apply"]);
    r.assert_code(0);
    let s = doc
        .steps
        .iter()
        .find(|s| s.category == "dead-container")
        .unwrap_or_else(|| panic!("{doc:#?}"));
    assert_eq!(s.step.kind, "container.remove");
    assert_eq!(s.step.outcome.as_deref(), Some("done"), "{doc:#?}");
    assert!(!d.docker(["inspect", &id]).success(), "still there");
}

/// The pid and start time of `pid` now, to tell "still the same process" from "replaced".
fn identity(pid: i32) -> Option<(i32, u64)> {
    procfs::stat(pid).map(|s| (s.pid, s.starttime))
}

/// The docker-proxy child of `daemon` publishing `port`.
fn proxy_of(daemon: i32, port: u16) -> procfs::Stat {
    children(daemon)
        .into_iter()
        .find(|s| {
            s.comm == "docker-proxy"
                && procfs::cmdline(s.pid).is_some_and(|c| c.contains(&format!(" {port} ")))
        })
        .unwrap_or_else(|| panic!("no docker-proxy of pid {daemon} for port {port}"))
}

#[test]
fn reap_leaves_alone_another_daemons_proxy_a_serving_proxy_and_a_running_containers_zombie_parent()
{
    let d = TestDaemon::start();
    let other = TestDaemon::start();
    let _ours = crate::support::leaks::Network::create(&d, "10.213.247.0/24", "dhr3");
    let _theirs = crate::support::leaks::Network::create(&other, "10.213.248.0/24", "dhr4");
    let publish = |daemon: &TestDaemon, net: &str, name: &str| {
        let port = free_port();
        daemon.docker_ok([
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "sleep",
            "300",
        ]);
        port
    };
    // A proxy serving this daemon's running container, and one of the other daemon's.
    let serving = proxy_of(d.pid(), publish(&d, "dhr3", "web"));
    let foreign = proxy_of(other.pid(), publish(&other, "dhr4", "theirs"));
    // An orphan forwarding into the other daemon's network: probably the other daemon's.
    let foreign_orphan = spawn_proxy("tcp", "127.0.0.1", free_port(), "10.213.248.254", 80);
    // The ordinary case: an orphan forwarding into this daemon's network, which nothing stops.
    let leaked_port = free_port();
    let leaked = spawn_proxy("tcp", "127.0.0.1", leaked_port, "10.213.247.254", 80);
    // A running container whose pid 1 (sleep) never reaps the `sleep 1` it inherits.
    let running = d.docker_ok([
        "run",
        "-d",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1 & exec sleep 300",
    ]);
    let init = children(shim_of(&d, &running).pid)
        .first()
        .expect("the container's pid 1")
        .pid;
    wait_for(
        "a zombie under the container's pid 1",
        Duration::from_secs(10),
        || {
            procfs::all_stats()
                .iter()
                .any(|s| s.ppid == init && s.state == 'Z')
        },
    );
    let kept = [serving.pid, foreign.pid, foreign_orphan.pid(), init];
    let before: Vec<_> = kept.iter().map(|&p| identity(p)).collect();
    assert!(before.iter().all(Option::is_some), "{before:?}");

    let state = TempDir::new();
    let (r, doc) = reap(&d.host(), Some(&state), &["--apply", "--grace", "2s"]);
    r.assert_code(0);
    let targets: Vec<&str> = doc.steps.iter().map(|s| s.step.target.as_str()).collect();
    for pid in kept {
        assert!(
            targets
                .iter()
                .all(|t| !t.starts_with(&format!("pid {pid} "))),
            "pid {pid} was planned: {doc:#?}"
        );
    }
    let skipped = |pid: i32| {
        doc.skipped
            .iter()
            .find(|s| s.target.starts_with(&format!("pid {pid} ")))
            .unwrap_or_else(|| panic!("pid {pid} not reported as left alone: {doc:#?}"))
            .why
            .clone()
    };
    assert!(
        skipped(foreign_orphan.pid()).contains("probably another daemon's"),
        "{doc:#?}"
    );
    assert!(
        skipped(init).contains(&format!(
            "a process of running container {}",
            &running[..12]
        )),
        "{doc:#?}"
    );
    let after: Vec<_> = kept.iter().map(|&p| identity(p)).collect();
    assert_eq!(
        before, after,
        "a process reap must leave alone was ended or replaced"
    );
    assert_eq!(
        d.docker_ok(["inspect", "-f", "{{.State.Running}}", &running]),
        "true"
    );
    assert_eq!(
        other.docker_ok(["inspect", "-f", "{{.State.Running}}", "theirs"]),
        "true"
    );

    // The leaked proxy of this daemon is still reaped, in the same run.
    let step = doc
        .steps
        .iter()
        .find(|s| s.step.target == format!("pid {} (docker-proxy)", leaked.pid()))
        .unwrap_or_else(|| panic!("the leaked proxy was not planned: {doc:#?}"));
    assert_eq!(step.category, "leaked-proxy");
    assert_eq!(step.step.outcome.as_deref(), Some("done"), "{doc:#?}");
    wait_for(
        "the leaked proxy's port to be free",
        Duration::from_secs(5),
        || !tcp_listening(leaked_port),
    );
}

/// A tmpfs mounted on `at`, unmounted (lazily, so a failed test cannot leave it busy) when
/// dropped.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn tmpfs(at: &Path) -> Mounted {
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "dockhand-test",
                at.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", at.display());
        Mounted(at.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", self.0.to_str().unwrap_or_default()])
            .status();
    }
}

#[test]
fn reap_never_removes_a_tmp_leftover_with_something_mounted_under_it() {
    let d = TestDaemon::start();
    let tmp = d.data_root().join("tmp");
    let hours = Duration::from_secs(3 * 3600);
    // The ordinary case beside it: an old leftover with nothing mounted is removed.
    let plain = tmp.join("docker-import-1");
    std::fs::create_dir_all(plain.join("sub")).unwrap();
    std::fs::write(plain.join("sub/layer.tar"), b"layer").unwrap();
    age(&plain, hours);
    let tree = tmp.join("docker-import-2");
    let mnt = tree.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Mounted::tmpfs(&mnt);
    let inside = mnt.join("data");
    std::fs::write(&inside, b"on the mount").unwrap();
    age(&inside, hours);
    age(&mnt, hours);
    age(&tree, hours);

    let state = TempDir::new();
    let (r, doc) = reap(&d.host(), Some(&state), &["--apply"]);
    r.assert_code(0);
    let step = |path: &Path| {
        doc.steps
            .iter()
            .find(|s| s.category == "tmp" && s.step.target == path.to_str().unwrap())
    };
    // A tree with a mount in it is not read whole, so it is never judged stale (the removal
    // itself refuses one too: actions_remove_tree_refuses_a_tree_with_something_mounted_under_it).
    assert!(step(&tree).is_none(), "{doc:#?}");
    let plain_step = step(&plain).unwrap_or_else(|| panic!("{doc:#?}"));
    assert_eq!(plain_step.step.outcome.as_deref(), Some("done"), "{doc:#?}");
    assert!(!plain.exists());
    // Nothing of the tree went: the mount, what is on it, and the tree around it.
    assert_eq!(std::fs::read(&inside).unwrap(), b"on the mount");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(mnt.to_str().unwrap())),
        "the mount is gone"
    );
    assert!(tree.is_dir());
    drop(mounted);
}
