//! `doctor --fix --apply` against a target swapped between the plan and its apply: the leaked
//! docker-proxy doctor found exits while the run holds the lock, and an unprivileged user's
//! process takes its very pid. The step is reap's own, re-verified just before it acts by the
//! same code (pid + start time + executable): the newcomer is never signalled. The ordinary
//! case — the same proxy ended and the check ok after — is
//! `doctor_fix::doctor_fix_apply_stops_a_leaked_proxy_and_the_check_is_ok_after`.

use std::time::Duration;

use dockhand::report::doctor_fix::FixDoc;
use serde_json::Value;

use crate::doctor_fix::journal_runs;
use crate::support::attacker::NOBODY_UID;
use crate::support::leaks::{Network, free_port, spawn_at_pid_as_nobody, spawn_proxy, wait_for};
use crate::support::{TempDir, TestDaemon, dockhand_cmd, procfs};

#[test]
fn doctor_fix_never_signals_a_process_that_took_the_leaked_proxys_pid_before_the_apply() {
    let _host = crate::support::host_problem();
    let d = TestDaemon::start();
    let _net = Network::create(&d, "10.213.251.0/24", "dhfx2");
    let port = free_port();
    let proxy = spawn_proxy("tcp", "127.0.0.1", port, "10.213.251.254", 80);
    let pid = proxy.pid();
    let state = TempDir::new();
    let pause = TempDir::new();
    let cmd = dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args([
            "doctor",
            "--check",
            "ports.leaked-proxy",
            "--fix",
            "--apply",
            "--format",
            "json",
        ])
        .env("DOCKHAND_TEST_PAUSE_BEFORE_FIX", pause.path())
        .timeout(Duration::from_secs(90));
    let running = std::thread::spawn(move || cmd.run());
    wait_for("the plan to be made", Duration::from_secs(60), || {
        pause.join("paused").exists() || running.is_finished()
    });
    assert!(
        pause.join("paused").exists(),
        "the run ended before its apply"
    );
    // The proxy exits; nobody's process is started on its very pid.
    drop(proxy);
    assert!(!procfs::is_alive(pid));
    let victim = spawn_at_pid_as_nobody(pid).expect("the pid is free again");
    let started = procfs::stat(pid).unwrap().starttime;
    std::fs::write(pause.join("resume"), b"").unwrap();
    let r = running.join().unwrap();
    assert!(!r.timed_out, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    let fix: FixDoc = serde_json::from_value(v["fix"].clone()).unwrap();
    let step = fix
        .steps
        .iter()
        .find(|s| s.step.target.starts_with(&format!("pid {pid} ")))
        .unwrap_or_else(|| panic!("{fix:#?}"));
    assert_eq!(step.step.outcome.as_deref(), Some("changed"), "{fix:#?}");
    // The victim: alive, the same process (start time), still nobody's sleep.
    let now = procfs::stat(pid).expect("the newcomer was killed");
    assert_eq!((now.starttime, now.comm.as_str()), (started, "sleep"));
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(format!("/proc/{pid}")).unwrap();
        assert_eq!(m.uid(), NOBODY_UID);
    }
    // Skipped for safety is not a failure: the proxy is gone, so the check is ok after.
    r.assert_code(0);
    let runs = journal_runs(&state);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, "doctor --fix");
    assert_eq!(runs[0].1, ["changed"]);
    drop(victim);
}
