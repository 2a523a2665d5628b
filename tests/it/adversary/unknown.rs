//! Unknown never acts. The adversary here is the engine itself, frozen (SIGSTOP): it answers
//! nothing, so whether a container runs, which shim is whose and what a file in its tmp is
//! cannot be told. Every acting command must leave what it cannot judge alone, say so in a
//! sentence, and end with the refused or partial exit code within its deadline — and, with the
//! engine answering, do its ordinary work.

use std::path::Path;
use std::time::{Duration, SystemTime};

use dockhand::policy::ports::{FreeVerdict, OwnerKind, Refusal};
use dockhand::report::ports::FreeDoc;
use dockhand::report::reap::ReapDoc;

use crate::support::leaks::{free_port, tcp_listening, wait_for};
use crate::support::{Run, TempDir, TestDaemon, dockhand, procfs};

/// The per-call deadline the runs below get, and what they may take at most against a frozen
/// engine: the deadline (the engine's calls wait it out once), and three seconds for the /proc
/// reads around it, which on a loaded test host take seconds of their own. Long enough that
/// /proc is read in time on a loaded host, so the ordinary case sees the daemon.
const TIMEOUT: &str = "4s";
const BOUND: Duration = Duration::from_secs(7);

/// `dockhand --host H --timeout 2s --state-dir S ARGS`.
fn run(d: &TestDaemon, state: &TempDir, args: &[&str]) -> Run {
    let mut a: Vec<String> = vec![
        "--host".into(),
        d.host(),
        "--timeout".into(),
        TIMEOUT.into(),
        "--state-dir".into(),
        state.path().display().to_string(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    dockhand(&a)
}

#[track_caller]
fn within_bound(r: &Run) {
    assert!(
        !r.timed_out && r.elapsed <= BOUND,
        "took {:?} against a frozen engine with --timeout {TIMEOUT} (limit {BOUND:?})\n{r}",
        r.elapsed
    );
}

fn inspect_running(d: &TestDaemon, name: &str) -> String {
    d.docker_ok(["inspect", "-f", "{{.State.Running}}", name])
}

/// Sets a file's modification time `ago` into the past.
fn age(path: &Path, ago: Duration) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn ports_free_leaves_a_host_network_containers_process_alone_while_the_engine_is_frozen() {
    let d = TestDaemon::start();
    let port = free_port();
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "hostweb",
        "--network",
        "host",
        "busybox",
        "httpd",
        "-f",
        "-p",
        &format!("127.0.0.1:{port}"),
        "-h",
        "/",
    ]);
    wait_for(
        "httpd on the host's network",
        Duration::from_secs(10),
        || tcp_listening(port),
    );
    let pid: i32 = d
        .docker_ok(["inspect", "-f", "{{.State.Pid}}", "hostweb"])
        .parse()
        .expect("the container's pid");
    let before = procfs::stat(pid).expect("httpd").starttime;
    let state = TempDir::new();

    // The ordinary case, engine answering: the holder is a running container's own process,
    // and the plan stops that container (never kills its process).
    let r = run(&d, &state, &["ports", "free", &port.to_string()]);
    r.assert_code(0);
    assert!(r.stdout.contains("stop container hostweb"), "{r}");

    d.freeze();
    let r = run(
        &d,
        &state,
        &[
            "ports",
            "free",
            &port.to_string(),
            "--apply",
            "--format",
            "json",
        ],
    );
    within_bound(&r);
    // Refused: the port stays held, and the run says why.
    r.assert_code(5);
    let doc: FreeDoc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.ports-free document ({e})\n{r}"));
    assert!(doc.steps.is_empty(), "nothing may be done: {doc:#?}");
    let h = doc
        .holders
        .iter()
        .find(|h| h.pid == Some(pid))
        .unwrap_or_else(|| panic!("httpd is not among the holders: {doc:#?}"));
    assert!(
        matches!(h.kind, Some(OwnerKind::Container { .. })),
        "{h:#?}"
    );
    assert_eq!(
        h.verdict,
        FreeVerdict::Refused {
            why: Refusal::Unjudged
        },
        "{h:#?}"
    );
    assert!(
        h.explain.contains("not known") && h.explain.contains("left alone"),
        "{}",
        h.explain
    );
    // The victim: alive, the same process, still listening.
    assert_eq!(
        procfs::stat(pid).map(|s| (s.starttime, s.state != 'Z')),
        Some((before, true)),
        "the container's process was signalled"
    );
    assert!(tcp_listening(port));
    // --force-foreign is for processes that are not Docker's: it does not change this.
    let r = run(
        &d,
        &state,
        &[
            "ports",
            "free",
            &port.to_string(),
            "--apply",
            "--force-foreign",
        ],
    );
    within_bound(&r);
    r.assert_code(5);
    assert_eq!(procfs::stat(pid).map(|s| s.starttime), Some(before));

    d.thaw();
    assert_eq!(inspect_running(&d, "hostweb"), "true");
    assert!(tcp_listening(port));
}

#[test]
fn reap_removes_nothing_while_the_engine_is_frozen_and_says_so() {
    let d = TestDaemon::start();
    let tmp = d.data_root().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let blob = tmp.join("GetImageBlob900");
    std::fs::write(&blob, b"left by a pull that died").unwrap();
    age(&blob, Duration::from_secs(3 * 3600));
    let state = TempDir::new();

    d.freeze();
    let r = run(&d, &state, &["reap", "--apply", "--format", "json"]);
    within_bound(&r);
    // Partial: what needs the engine was left alone, and the run says it is not the whole story.
    r.assert_code(11);
    let doc: ReapDoc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.reap document ({e})\n{r}"));
    assert!(
        doc.steps.iter().all(|s| s.category != "tmp"),
        "tmp was judged without the engine: {doc:#?}"
    );
    assert!(
        doc.notes
            .iter()
            .any(|n| n.contains("the engine did not answer") && n.contains("left alone")),
        "{:#?}",
        doc.notes
    );
    assert_eq!(
        std::fs::read(&blob).ok().as_deref(),
        Some(&b"left by a pull that died"[..])
    );

    // The ordinary case: with the engine answering, the same leftover goes.
    d.thaw();
    let r = run(&d, &state, &["reap", "--apply", "--format", "json"]);
    r.assert_code(0);
    assert!(!blob.exists(), "{r}");
}

#[test]
fn gc_removes_nothing_while_the_engine_is_frozen_and_says_so() {
    let d = TestDaemon::start();
    d.docker_ok(["create", "--name", "litter", "busybox", "true"]);
    d.docker_ok(["start", "-a", "litter"]);
    let state = TempDir::new();

    d.freeze();
    let r = run(&d, &state, &["gc", "--apply", "--min-age", "0s"]);
    within_bound(&r);
    r.assert_code(69);
    assert!(r.stderr.contains("gc needs the engine"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");

    d.thaw();
    assert_eq!(inspect_running(&d, "litter"), "false");
    // The ordinary case: the stopped container goes once the engine answers.
    let r = run(&d, &state, &["gc", "--apply", "--min-age", "0s"]);
    r.assert_code(0);
    assert!(d.docker(["inspect", "litter"]).code != Some(0), "{r}");
}
