//! Saved plans (`--plan-out`, `--apply --plan FILE`, `gc --apply-plan`): a file that runs as
//! root when applied. The attack of the issue carried out for real — a saved reap or `ports
//! free` plan edited to one `daemon.start` step whose argv is `/bin/sh -c "id > FILE"` — and its
//! variants: the same step signed with the real key (a leaked key: the per-command allowlist
//! still refuses it), a plan file owned by nobody, writable by anyone, or a symlink. Each is
//! refused with one sentence and a non-zero exit, FILE is never created and the leaked proxy the
//! plan was about is still alive; and the unedited plan of each command still applies.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dockhand::actions::saved_plan;
use serde_json::{Value, json};

use crate::support::attacker::{Lair, NOBODY_UID, NOGROUP_GID, Snapshot, sh_as_nobody};
use crate::support::leaks::{Kid, Network, free_port, spawn_proxy, wait_for};
use crate::support::{Run, TempDir, TestDaemon, dockhand, procfs};

/// `dockhand --host H --state-dir S ARGS…`.
fn run(d: &TestDaemon, state: &TempDir, args: &[&str]) -> Run {
    let mut a: Vec<String> = vec![
        "--host".into(),
        d.host(),
        "--state-dir".into(),
        state.path().display().to_string(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    dockhand(&a)
}

/// The step of the issue: start "the daemon" with a shell that proves it ran, as root.
fn evil_step(proof: &Path) -> Value {
    json!({
        "action": "daemon.start",
        "how": {
            "via": "command",
            "argv": ["/bin/sh", "-c", format!("id > {}", proof.display())],
            "log": null
        },
        "reason": "x",
        "bytes": null
    })
}

/// `plan` with its steps replaced by `steps`, written back in place (the file keeps its owner
/// and mode: only its content is the attack).
fn edit_steps(plan: &Path, steps: Vec<Value>) -> Value {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(plan).unwrap()).unwrap();
    doc["steps"] = Value::Array(steps);
    std::fs::write(plan, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    doc
}

/// `doc` signed again with the state dir's real key: what an attacker who stole the key
/// would write. Only the allowlist stands between such a file and root.
fn resign(doc: &mut Value, state: &TempDir) {
    let key = std::fs::read(state.join(saved_plan::KEY_FILE)).unwrap();
    let o = doc.as_object_mut().unwrap();
    o.remove("digest");
    let mac = saved_plan::hmac_sha256(&key, &serde_json::to_vec(&*doc).unwrap());
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    doc.as_object_mut()
        .unwrap()
        .insert("digest".into(), json!(format!("hmac-sha256:{hex}")));
}

fn write_doc(path: &Path, doc: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A refusal: non-zero (64, bad input), one sentence naming the plan, nothing executed, the
/// proxy alive with the same start time, no step journaled.
#[track_caller]
fn assert_refused(r: &Run, plan: &Path, needle: &str, proof: &Path, proxy: &Kid, ticks: u64) {
    r.assert_code(64);
    let err = r.stderr.trim();
    assert!(
        err.contains(needle) && err.contains(&plan.display().to_string()),
        "{r}"
    );
    assert_eq!(err.lines().count(), 1, "one sentence: {r}");
    assert!(!proof.exists(), "the plan's command ran as root: {r}");
    assert!(proxy.alive(), "the proxy was ended by a refused plan: {r}");
    assert_eq!(procfs::stat(proxy.pid()).unwrap().starttime, ticks);
}

fn journal_steps(state: &TempDir) -> usize {
    let path = state.join(dockhand::actions::journal::FILE_NAME);
    if !path.exists() {
        return 0;
    }
    crate::ports::journal_steps(state).len()
}

/// The proof file's directory: root's, so only dockhand as root could create the file.
fn proof_in(dir: &TempDir) -> PathBuf {
    dir.join("proof")
}

#[test]
fn a_saved_reap_plan_edited_to_start_a_daemon_runs_nothing() {
    let d = TestDaemon::start();
    let _net = Network::create(&d, "10.213.221.0/24", "dhpl1");
    let port = free_port();
    let proxy = spawn_proxy("tcp", "127.0.0.1", port, "10.213.221.254", 80);
    let ticks = procfs::stat(proxy.pid()).unwrap().starttime;
    let state = TempDir::new();
    let scratch = TempDir::new();
    let proof = proof_in(&scratch);
    let plan = state.join("plan.json");
    let r = run(&d, &state, &["reap", "--plan-out", plan.to_str().unwrap()]);
    r.assert_code(0);
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a saved plan is private from its creation");
    let original = std::fs::read(&plan).unwrap();
    let apply = |p: &Path| {
        run(
            &d,
            &state,
            &["reap", "--apply", "--plan", p.to_str().unwrap()],
        )
    };

    // The attack: the file edited to one daemon.start step.
    let mut doc = edit_steps(&plan, vec![evil_step(&proof)]);
    let r = apply(&plan);
    assert_refused(
        &r,
        &plan,
        "does not match its digest",
        &proof,
        &proxy,
        ticks,
    );

    // The same with the real key: the step is one reap never plans.
    resign(&mut doc, &state);
    write_doc(&plan, &doc);
    let r = apply(&plan);
    assert_refused(&r, &plan, "never plans", &proof, &proxy, ticks);

    // A correctly signed plan that removes /etc, or widens the proxy's kill to any process.
    let mut etc: Value = serde_json::from_slice(&original).unwrap();
    let step = etc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "process.terminate" && s["target"]["id"]["pid"] == proxy.pid())
        .cloned()
        .unwrap_or_else(|| panic!("no step ends the proxy: {etc:#}"));
    let mut wide = step.clone();
    wide["target"]["scope"] = serde_json::to_value(dockhand::actions::Scope::Any).unwrap();
    etc["steps"] = json!([wide]);
    resign(&mut etc, &state);
    write_doc(&plan, &etc);
    let r = apply(&plan);
    assert_refused(&r, &plan, "never plans", &proof, &proxy, ticks);
    let mut etc: Value = serde_json::from_slice(&original).unwrap();
    etc["steps"] = json!([{
        "action": "file.remove-tree",
        "path": "/etc",
        "stamp": {"dev": 1, "ino": 2, "mtime_ns": 3, "size": 4},
        "reason": "x",
        "bytes": null
    }]);
    resign(&mut etc, &state);
    write_doc(&plan, &etc);
    let r = apply(&plan);
    assert_refused(&r, &plan, "outside the data root", &proof, &proxy, ticks);
    assert!(Path::new("/etc/passwd").exists());
    assert_eq!(journal_steps(&state), 0, "nothing was journaled as acted");

    // The ordinary case: the unedited plan applies, and ends the leaked proxy.
    std::fs::write(&plan, &original).unwrap();
    let r = apply(&plan);
    r.assert_code(0);
    wait_for(
        "the proxy to end",
        std::time::Duration::from_secs(15),
        || !proxy.alive(),
    );
    assert!(!proof.exists());
}

#[test]
fn a_saved_ports_free_plan_edited_to_start_a_daemon_runs_nothing() {
    let d = TestDaemon::start();
    let _net = Network::create(&d, "10.213.222.0/24", "dhpl2");
    let port = free_port();
    let proxy = spawn_proxy("tcp", "127.0.0.1", port, "10.213.222.254", 80);
    let ticks = procfs::stat(proxy.pid()).unwrap().starttime;
    let state = TempDir::new();
    let scratch = TempDir::new();
    let proof = proof_in(&scratch);
    let plan = state.join("plan.json");
    let p = port.to_string();
    let r = run(
        &d,
        &state,
        &["ports", "free", &p, "--plan-out", plan.to_str().unwrap()],
    );
    r.assert_code(0);
    let original = std::fs::read(&plan).unwrap();
    let apply = |f: &Path| {
        run(
            &d,
            &state,
            &[
                "ports",
                "free",
                &p,
                "--apply",
                "--plan",
                f.to_str().unwrap(),
            ],
        )
    };

    let mut doc = edit_steps(&plan, vec![evil_step(&proof)]);
    let r = apply(&plan);
    assert_refused(
        &r,
        &plan,
        "does not match its digest",
        &proof,
        &proxy,
        ticks,
    );
    resign(&mut doc, &state);
    write_doc(&plan, &doc);
    let r = apply(&plan);
    assert_refused(&r, &plan, "never plans", &proof, &proxy, ticks);
    // Another port's plan: refused too.
    std::fs::write(&plan, &original).unwrap();
    let other = (port + 1).to_string();
    let r = run(
        &d,
        &state,
        &[
            "ports",
            "free",
            &other,
            "--apply",
            "--plan",
            plan.to_str().unwrap(),
        ],
    );
    assert_refused(&r, &plan, "was made for", &proof, &proxy, ticks);

    // The ordinary case: the unedited plan frees the port.
    let r = apply(&plan);
    r.assert_code(0);
    assert!(!proxy.alive(), "{r}");
    assert!(!proof.exists());
}

#[test]
fn a_plan_file_of_another_user_writable_by_others_or_a_symlink_is_refused() {
    let d = TestDaemon::start();
    let _net = Network::create(&d, "10.213.223.0/24", "dhpl3");
    let port = free_port();
    let proxy = spawn_proxy("tcp", "127.0.0.1", port, "10.213.223.254", 80);
    let ticks = procfs::stat(proxy.pid()).unwrap().starttime;
    let state = TempDir::new();
    let scratch = TempDir::new();
    let proof = proof_in(&scratch);
    let lair = Lair::new();
    let plan = state.join("plan.json");
    let r = run(&d, &state, &["reap", "--plan-out", plan.to_str().unwrap()]);
    r.assert_code(0);
    let apply = |f: &Path| {
        run(
            &d,
            &state,
            &["reap", "--apply", "--plan", f.to_str().unwrap()],
        )
    };

    // A copy of the real, unedited plan, handed to nobody: it may now say anything.
    let theirs = lair.join("plan.json");
    std::fs::copy(&plan, &theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY_UID), Some(NOGROUP_GID)).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = apply(&theirs);
    assert_refused(&r, &theirs, "owned by uid 65534", &proof, &proxy, ticks);

    // Root's plan, but mode 0666: anyone could have rewritten it — and nobody does.
    let open = state.join("open.json");
    std::fs::copy(&plan, &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    // nobody cannot reach into the state dir; the test dir opens a way for this case only.
    let shared = lair.join("open.json");
    std::fs::copy(&open, &shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = Snapshot::of(&shared);
    let out = sh_as_nobody(&format!(
        "printf '%s' '{}' > {}",
        serde_json::to_string(&json!({"steps": [evil_step(&proof)]})).unwrap(),
        shared.display()
    ));
    assert!(out.status.success(), "nobody could not write the 0666 file");
    assert_ne!(Snapshot::of(&shared).bytes, before.bytes);
    for f in [&open, &shared] {
        let r = apply(f);
        assert_refused(&r, f, "lets others write it", &proof, &proxy, ticks);
    }

    // A symlink nobody planted, pointing at root's own good plan.
    let link = lair.join("link.json");
    let out = sh_as_nobody(&format!("ln -s {} {}", plan.display(), link.display()));
    assert!(out.status.success());
    let r = apply(&link);
    assert_refused(&r, &link, "symbolic link", &proof, &proxy, ticks);
    assert_eq!(journal_steps(&state), 0);

    // The ordinary case: root's own 0600 plan still applies.
    let r = apply(&plan);
    r.assert_code(0);
    wait_for(
        "the proxy to end",
        std::time::Duration::from_secs(15),
        || !proxy.alive(),
    );
    assert!(!proof.exists());
}

#[test]
fn a_plan_for_another_engine_is_refused() {
    let d = TestDaemon::start();
    let other = TestDaemon::start();
    let state = TempDir::new();
    let scratch = TempDir::new();
    let proof = proof_in(&scratch);
    let plan = state.join("plan.json");
    let r = run(&d, &state, &["reap", "--plan-out", plan.to_str().unwrap()]);
    r.assert_code(0);
    // Another engine (its own address and identity) on the same machine.
    let r = run(
        &other,
        &state,
        &["reap", "--apply", "--plan", plan.to_str().unwrap()],
    );
    r.assert_code(64);
    assert!(r.stderr.contains("another daemon"), "{r}");
    assert!(!proof.exists());
}
