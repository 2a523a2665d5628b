//! Child programs and Ctrl-C: a terminal sends SIGINT to its whole foreground process group.
//! dockhand runs every child in a group of its own, so the signal reaches dockhand only; its
//! cooperative shutdown lets the child in flight finish, journals the run as interrupted, and
//! exits 130. Here dockhand leads its own group, as a shell's foreground job does, and the
//! test signals that group — exactly what a Ctrl-C does.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dockhand::actions::journal::{self, Body};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::daemon::spawn_tied;
use crate::support::leaks::Kid;
use crate::support::{Dockhand, TempDir, TestDaemon, dockhand_cmd, procfs, shared};

/// Starts dockhand as the leader of its own process group, its stderr read line by line.
fn start_as_job(d: Dockhand) -> (Kid, mpsc::Receiver<String>) {
    let mut cmd = d.command();
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_tied(cmd, Signal::SIGKILL).expect("dockhand starts");
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    // stdout is drained so a full pipe never blocks dockhand.
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut BufReader::new(out), &mut std::io::sink());
    });
    (Kid(child), rx)
}

/// Ctrl-C: SIGINT to the job's whole process group.
fn ctrl_c(job: &Kid) {
    kill(Pid::from_raw(-job.pid()), Signal::SIGINT).expect("signal the job's group");
}

fn wait_exit(job: &mut Kid, within: Duration) -> Option<i32> {
    let end = Instant::now() + within;
    loop {
        if let Some(s) = job.0.try_wait().expect("wait") {
            return s.code();
        }
        assert!(
            Instant::now() < end,
            "dockhand did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_file(p: &Path, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    p.exists()
}

/// recover's start command is still starting (a wrapper that sleeps, writes a marker, then
/// execs the daemon) when Ctrl-C comes: it completes, the daemon runs again, dockhand exits
/// 130 and the journal says the run was interrupted after the start step was done.
#[test]
fn ctrl_c_during_recover_lets_the_start_command_finish_and_journals_the_interrupt() {
    let d = TestDaemon::builder()
        .daemon_json(r#"{"live-restore": true}"#)
        .start();
    let daemon_cmd = procfs::cmdline(d.pid()).expect("the daemon's command line");
    let dir = TempDir::new();
    let marker = dir.join("start-finished");
    let script = dir.write(
        "start-daemon",
        format!(
            "#!/bin/sh\nsleep 3\necho finished > {}\nexec {daemon_cmd}\n",
            marker.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = TempDir::new();
    let (mut job, lines) = start_as_job(
        dockhand_cmd()
            .args(["--host", &d.host(), "--state-dir"])
            .arg(state.path())
            .args([
                "recover",
                "--apply",
                "--force",
                "--no-bundle",
                "--start-cmd",
            ])
            .arg(&script)
            .args(["--log-file"])
            .arg(d.log_path()),
    );
    // The start step ends (the wrapper is still sleeping): now the Ctrl-C.
    let end = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let l = lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no start step within 60 s:\n{}", seen.join("\n")));
        let started = l.contains("recover: start") && l.contains("done");
        seen.push(l);
        if started {
            break;
        }
    }
    assert!(!marker.exists(), "the wrapper was still sleeping");
    ctrl_c(&job);
    let code = wait_exit(&mut job, Duration::from_secs(30));
    assert_eq!(code, Some(130), "{}", seen.join("\n"));
    assert!(
        wait_for_file(&marker, Duration::from_secs(15)),
        "the start command was killed by the Ctrl-C"
    );
    let c = journal::read(&state.join(journal::FILE_NAME))
        .unwrap()
        .unwrap();
    let start_done = c.records.iter().any(|r| {
        matches!(&r.body, Body::Outcome { kind, outcome, .. } if kind == "daemon.start" && outcome == "done")
    });
    assert!(start_done, "{:#?}", c.records);
    assert!(
        matches!(&c.records.last().unwrap().body, Body::RunEnd { status, .. } if status == "interrupted"),
        "{:#?}",
        c.records
    );
    // The daemon the wrapper started answers.
    let end = Instant::now() + Duration::from_secs(60);
    while d.ping(Duration::from_secs(2)).is_err() {
        assert!(Instant::now() < end, "the daemon never answered again");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A credential helper is a bounded child (run and waited for): Ctrl-C in the middle of it
/// must not kill it — it finishes, and dockhand exits 130 without pulling.
#[test]
fn ctrl_c_during_a_credential_helper_lets_it_finish_and_exits_130() {
    let d = shared();
    let bin = TempDir::new();
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let marker = bin.join("helper-finished");
    let begun = bin.join("helper-begun");
    let helper = bin.write(
        "docker-credential-dhslow",
        format!(
            "#!/bin/sh\nread server\n: > {}\nsleep 2\necho finished > {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"a\",\"Secret\":\"b\"}}' \"$server\"\n",
            begun.display(),
            marker.display()
        ),
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = TempDir::new();
    conf.write("config.json", r#"{"credsStore": "dhslow"}"#);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut job, _lines) = start_as_job(
        dockhand_cmd()
            .env("DOCKER_CONFIG", conf.path())
            .env("PATH", path)
            .args([
                "--host",
                &d.host(),
                "pull",
                "--format",
                "json",
                "127.0.0.1:5999/app:1",
            ]),
    );
    assert!(
        wait_for_file(&begun, Duration::from_secs(30)),
        "the helper never ran"
    );
    ctrl_c(&job);
    let code = wait_exit(&mut job, Duration::from_secs(30));
    assert!(
        wait_for_file(&marker, Duration::from_secs(10)),
        "the helper was killed by the Ctrl-C"
    );
    assert_eq!(code, Some(130));
}
