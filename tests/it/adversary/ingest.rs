//! Downloads planted by another user: `pulls.stalled` reads the open descriptors of the daemon's
//! containerd and the `ref` beside each ingest. A user who runs a process of their own named
//! `containerd`, holding open a file shaped like an ingest whose ref names the daemon's
//! namespace, must never make a stalled pull out of it — and the files it reads are never
//! written.

use std::time::Duration;

use crate::support::attacker::{Lair, Snapshot, sh_as_nobody};
use crate::support::schema::check;
use crate::support::{TempDir, dockhand_cmd, procfs, shared};

const ID: &str = "pulls.stalled";

#[test]
fn an_ingest_held_open_by_a_users_process_named_containerd_is_never_a_stalled_pull() {
    let d = shared();
    let lair = Lair::new();
    let hash = "ab".repeat(32);
    let dir = lair.join(format!("io.containerd.content.v1.content/ingest/{hash}"));
    let ns = d.containerd_namespace();
    // nobody's copy of sleep, named like containerd, holding the planted data open for writing;
    // the data untouched for an hour, as a stalled download would be.
    let out = sh_as_nobody(&format!(
        "set -e; mkdir -p {dir}; printf partial > {dir}/data; printf '{ns}/1/layer-sha256:{hash}' > {dir}/ref; \
         touch -d '1 hour ago' {dir}/data; cp /bin/sleep {lair}/containerd; chmod 0755 {lair}/containerd",
        dir = dir.display(),
        lair = lair.path().display(),
    ));
    assert!(out.status.success(), "planting as nobody: {out:?}");
    let data = Snapshot::of(&dir.join("data"));
    let reference = Snapshot::of(&dir.join("ref"));
    let script = format!(
        "exec 3>>{}; exec {}/containerd 600",
        dir.join("data").display(),
        lair.path().display()
    );
    let kid = lair.spawn("/bin/sh", &["-c", &script]);
    let pid = kid.pid();
    // Wait until the impostor holds the file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_link(format!("/proc/{pid}/fd/3"))
        .is_ok_and(|t| t.ends_with(format!("{hash}/data")))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the impostor never opened the file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = procfs::stat(pid).expect("the impostor runs").starttime;

    let tmp = TempDir::new();
    let config = tmp.write(
        "config.toml",
        format!("[checks.\"{ID}\"]\nstalled_after_s = 1\n"),
    );
    let r = dockhand_cmd()
        .config(&config)
        .args([
            "--host",
            &d.host(),
            "doctor",
            "--format",
            "json",
            "--check",
            ID,
        ])
        .run();
    let c = check(&r.json(), ID).clone();
    // Nothing counted: the impostor is not Docker's containerd (nobody's, from nobody's
    // executable, not started by the daemon).
    r.assert_code(0);
    assert_eq!(c["status"], "ok", "{c:#}");
    assert_eq!(c["evidence"]["downloads"], serde_json::json!([]), "{c:#}");
    let pids = c["evidence"]["containerd"]["pids"].as_array().unwrap();
    assert!(!pids.iter().any(|p| *p == pid), "{c:#}");
    // The ordinary case: the daemon's own containerd was looked at.
    assert!(
        !pids.is_empty(),
        "the daemon's containerd was not seen\n{c:#}"
    );
    assert_eq!(
        c["evidence"]["containerd"]["namespace"],
        ns.as_str(),
        "{c:#}"
    );
    // Nothing happened: the files as planted, the impostor alive with the same start time.
    assert_eq!(Snapshot::of(&dir.join("data")), data);
    assert_eq!(Snapshot::of(&dir.join("ref")), reference);
    assert_eq!(
        procfs::stat(pid).map(|s| s.starttime),
        Some(started),
        "the impostor was signalled"
    );
    drop(kid);
}
