//! Tests of the test harness itself: a daemon starts, runs a container, and leaves nothing behind.

use std::time::Duration;

use crate::support::{TestDaemon, procfs, shared};

/// Everything of the daemon at `dir` is gone: no process, no mount, no directory.
#[track_caller]
fn assert_nothing_left(dir: &std::path::Path, pid: i32) {
    assert!(!procfs::is_alive(pid), "dockerd {pid} still alive");
    let left = procfs::processes_of(dir, &[pid]);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let mounts = procfs::mounts_under(dir);
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn harness_starts_and_stops_a_daemon() {
    let d = TestDaemon::start();
    let dir = d.dir().to_owned();
    let pid = d.pid();
    assert!(d.pidfile().exists());
    assert_eq!(
        std::fs::read_to_string(d.pidfile()).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(d.docker_ok(["run", "--rm", "busybox", "echo", "hi"]), "hi");
    let id = d.docker_ok(["run", "-d", "busybox", "sleep", "600"]);
    assert!(!id.is_empty());
    assert!(
        !procfs::mounts_under(&dir).is_empty(),
        "a running container should have its rootfs mounted under {}",
        dir.display()
    );
    let procs = d.processes();
    assert!(
        procs.iter().any(|p| p.comm == "containerd"),
        "no private containerd: {procs:?}"
    );
    assert!(
        procs.iter().any(|p| p.comm == "sleep"),
        "no container: {procs:?}"
    );
    d.stop();
    assert_nothing_left(&dir, pid);
}

#[test]
fn harness_cleans_up_after_kill9_with_a_running_container() {
    let d = TestDaemon::start();
    let dir = d.dir().to_owned();
    let pid = d.pid();
    d.docker_ok(["run", "-d", "busybox", "sleep", "600"]);
    d.kill9();
    assert!(!procfs::is_alive(pid));
    // containerd, the shim and the container survive a kill -9 of dockerd.
    assert!(!d.processes().is_empty());
    drop(d);
    assert_nothing_left(&dir, pid);
}

#[test]
fn harness_freeze_and_thaw() {
    let d = TestDaemon::builder().without_busybox().start();
    d.freeze();
    assert_eq!(procfs::stat(d.pid()).unwrap().state, 'T');
    let err = d.ping(Duration::from_millis(300)).unwrap_err();
    assert!(err.contains("read"), "{err}");
    d.thaw();
    d.ping(Duration::from_secs(5)).unwrap();
    // Drop of a frozen daemon must not hang.
    d.freeze();
    let dir = d.dir().to_owned();
    let pid = d.pid();
    drop(d);
    assert_nothing_left(&dir, pid);
}

#[test]
fn harness_shared_daemon_is_started_once() {
    let a = shared();
    let b = shared();
    assert_eq!(a.pid(), b.pid());
    a.ping(Duration::from_secs(5)).unwrap();
    assert!(
        a.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains("busybox:latest")
    );
}

#[test]
fn harness_daemon_json_and_extra_args_are_used() {
    let d = TestDaemon::builder()
        .daemon_json(r#"{"labels": ["dockhand-test=yes"]}"#)
        .arg("--log-level=debug")
        .without_busybox()
        .start();
    let labels = d.docker_ok(["info", "--format", "{{json .Labels}}"]);
    assert!(labels.contains("dockhand-test=yes"), "{labels}");
    let cmd = procfs::cmdline(d.pid()).unwrap();
    assert!(cmd.contains("--log-level=debug"), "{cmd}");
}

#[test]
#[should_panic(expected = "dockerd exited during start")]
fn harness_start_failure_panics_with_the_log() {
    // A daemon that cannot start fails the test loudly (with its log); it never skips.
    let _d = TestDaemon::builder()
        .arg("--no-such-flag")
        .without_busybox()
        .start();
}
