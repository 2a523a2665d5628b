//! The actions layer against real processes and a real throwaway daemon: re-verification before
//! every mutation, the kill escalation, the protections, the journal (read back by the real
//! `dockhand journal`), the run lock across processes, and an interrupted apply.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dockhand::actions::journal::{self, Body, Journal, Record};
use dockhand::actions::{
    self, Action, Actor, ActorOptions, ApplyOptions, ApplyReport, ContainerSeen, DaemonStart,
    DaemonStop, LockError, Outcome, Plan, ProcId, ProcTarget, RunLock, Scope, Step,
};
use dockhand::runtime::endpoint::Endpoint;
use dockhand::runtime::engine::{Engine, Method};
use dockhand::shutdown::Shutdown;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::daemon::spawn_tied;
use crate::support::{TempDir, TestDaemon, dockhand, procfs};

// ------------------------------------------------------------------------------------ helpers --

fn engine_for(d: Option<&TestDaemon>) -> Engine {
    let sock = d.map_or_else(|| "/nonexistent/docker.sock".into(), |d| d.socket());
    Engine::new(Endpoint::Unix(sock), Duration::from_secs(10))
}

async fn actor(state: &TempDir, d: Option<&TestDaemon>, shutdown: Shutdown) -> Actor {
    let j = Journal::open(&state.join(journal::FILE_NAME), Duration::from_secs(5)).unwrap();
    Actor::start(
        &engine_for(d),
        j,
        shutdown,
        "test",
        vec!["test".into()],
        ActorOptions::default(),
    )
    .await
    .unwrap()
}

fn step(action: Action) -> Step {
    Step::new(action, "chosen by the test")
}

/// A process of ours, killed and reaped when dropped.
struct Proc(Child);

impl Proc {
    fn spawn(script: &str) -> Proc {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = spawn_tied(cmd, Signal::SIGKILL).unwrap();
        let p = Proc(child);
        // The trap must be set (and exec done) before a signal can test it.
        std::thread::sleep(Duration::from_millis(150));
        p
    }

    /// A process that ignores SIGTERM (the disposition survives exec).
    fn ignoring_term() -> Proc {
        Proc::spawn("trap '' TERM; exec sleep 600")
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// The target as the plan would see it, in the test process's tree.
    fn target(&self) -> ProcTarget {
        ProcTarget::capture(self.pid(), Scope::DescendantOf(me())).unwrap()
    }

    fn alive(&self) -> bool {
        procfs::is_alive(self.pid())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn me() -> ProcId {
    ProcTarget::capture(std::process::id() as i32, Scope::Any)
        .unwrap()
        .id
}

fn outcomes(r: &ApplyReport) -> Vec<&'static str> {
    r.steps.iter().map(|s| s.outcome.name()).collect()
}

fn records(state: &TempDir) -> Vec<Record> {
    let c = journal::read(&state.join(journal::FILE_NAME))
        .unwrap()
        .unwrap();
    assert!(!c.torn_tail && c.garbage == 0, "{c:?}");
    c.records
}

/// Signal records of one journal step, as (signal, state_before, state_after).
fn signals_of(recs: &[Record], seq: u64) -> Vec<(String, String, String)> {
    recs.iter()
        .filter_map(|r| match &r.body {
            Body::Signal { step, event } if *step == seq => Some((
                event.signal.clone(),
                event.state_before.clone(),
                event.state_after.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------- processes --

#[test]
fn actions_terminate_refuses_a_pid_whose_start_time_differs_and_signals_nothing() {
    let state = TempDir::new();
    let p = Proc::spawn("exec sleep 600");
    let mut stale = p.target();
    // The plan saw "another" process on this pid: one that started a tick earlier.
    stale.id.start_ticks -= 1;
    // And a plan made for a process that has exited since: nothing to do, nothing signalled.
    let gone = Proc::spawn("exec sleep 600");
    let gone_target = gone.target();
    drop(gone);
    rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let plan = Plan::new(vec![
            step(Action::Terminate {
                target: stale,
                grace: Duration::from_secs(1),
            }),
            step(Action::Terminate {
                target: gone_target,
                grace: Duration::from_secs(1),
            }),
        ]);
        let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
        assert_eq!(outcomes(&r), ["changed", "already-gone"], "{r:#?}");
        let Outcome::Changed { why } = &r.steps[0].outcome else {
            unreachable!()
        };
        assert!(why.contains("is now another process"), "{why}");
        a.finish().await.unwrap();
    });
    assert!(p.alive(), "a changed target must not be signalled");
    let recs = records(&state);
    assert!(signals_of(&recs, 1).is_empty(), "no signal journaled");
}

#[test]
fn actions_terminate_escalates_to_kill_when_term_is_ignored() {
    let state = TempDir::new();
    let p = Proc::ignoring_term();
    let target = p.target();
    let grace = Duration::from_secs(1);
    let started = Instant::now();
    let r = rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let plan = Plan::new(vec![step(Action::Terminate { target, grace })]);
        let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
        a.finish().await.unwrap();
        r
    });
    let took = started.elapsed();
    assert_eq!(outcomes(&r), ["done"], "{r:#?}");
    assert!(
        took >= grace && took < grace + Duration::from_secs(3),
        "TERM was ignored, so KILL comes after the grace: took {took:?}"
    );
    assert!(!p.alive());
    let sigs = signals_of(&records(&state), r.steps[0].seq);
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    assert_eq!(sigs[0].0, "SIGTERM");
    assert_ne!(sigs[0].2, "gone", "it survived TERM: {sigs:?}");
    assert_eq!(
        (sigs[1].0.as_str(), sigs[1].2.as_str()),
        ("SIGKILL", "gone")
    );
}

#[test]
fn actions_terminate_of_a_process_that_honours_term_sends_no_kill() {
    let state = TempDir::new();
    let p = Proc::spawn("exec sleep 600");
    let target = p.target();
    let r = rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let plan = Plan::new(vec![step(Action::Terminate {
            target,
            grace: Duration::from_secs(10),
        })]);
        let t = Instant::now();
        let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
        // The pidfd wakes us at the exit, not at the end of the grace.
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        a.finish().await.unwrap();
        r
    });
    assert_eq!(outcomes(&r), ["done"]);
    let sigs = signals_of(&records(&state), r.steps[0].seq);
    assert_eq!(sigs, [("SIGTERM".into(), "S".into(), "gone".into())]);
}

#[test]
fn actions_terminate_continues_a_stopped_process_so_its_handler_runs() {
    let state = TempDir::new();
    // Exits cleanly on TERM, but only once it runs again.
    let p = Proc::spawn("trap 'exit 0' TERM; while :; do sleep 0.05; done");
    kill(Pid::from_raw(p.pid()), Signal::SIGSTOP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while procfs::stat(p.pid()).unwrap().state != 'T' {
        assert!(Instant::now() < deadline, "SIGSTOP did not take");
        std::thread::sleep(Duration::from_millis(10));
    }
    let target = p.target();
    let r = rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let plan = Plan::new(vec![step(Action::Terminate {
            target,
            grace: Duration::from_secs(5),
        })]);
        let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
        a.finish().await.unwrap();
        r
    });
    assert_eq!(outcomes(&r), ["done"], "{r:#?}");
    let sigs = signals_of(&records(&state), r.steps[0].seq);
    let names: Vec<&str> = sigs.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["SIGCONT", "SIGTERM"], "no KILL needed: {sigs:?}");
    assert_eq!(sigs[1].1, "T");
    assert_eq!(sigs[1].2, "gone");
}

#[test]
fn actions_refuse_pid_1_kernel_threads_and_processes_outside_the_scope() {
    let state = TempDir::new();
    let d = TestDaemon::builder().without_busybox().start();
    let p = Proc::spawn("exec sleep 600");
    // Our child is not in the daemon's tree.
    let outside = ProcTarget::capture(
        p.pid(),
        Scope::DescendantOf(ProcTarget::capture(d.pid(), Scope::Any).unwrap().id),
    )
    .unwrap();
    // A harmless signal, so that a broken protection could not hurt the host.
    let plan = Plan::new(vec![
        step(Action::Signal {
            target: ProcTarget::capture(1, Scope::Any).unwrap(),
            signal: "SIGCONT".into(),
        }),
        step(Action::Signal {
            target: ProcTarget::capture(2, Scope::Any).unwrap(),
            signal: "SIGCONT".into(),
        }),
        step(Action::Terminate {
            target: ProcTarget::capture(2, Scope::Any).unwrap(),
            grace: Duration::from_millis(100),
        }),
        step(Action::Terminate {
            target: outside,
            grace: Duration::from_millis(100),
        }),
        step(Action::Signal {
            target: ProcTarget::capture(p.pid(), Scope::DockerProgram).unwrap(),
            signal: "SIGTERM".into(),
        }),
    ]);
    let r = rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
        a.finish().await.unwrap();
        r
    });
    assert_eq!(
        outcomes(&r),
        ["refused", "refused", "refused", "refused", "refused"],
        "{r:#?}"
    );
    let why: Vec<&str> = r.steps.iter().filter_map(|s| s.outcome.detail()).collect();
    assert!(why[0].contains("pid 1 (init)"), "{why:?}");
    assert!(why[1].contains("kernel thread"), "{why:?}");
    assert!(
        why[3].contains("outside the allowed process tree"),
        "{why:?}"
    );
    assert!(why[4].contains("not a Docker program"), "{why:?}");
    assert!(p.alive());
    assert!(procfs::is_alive(d.pid()));
}

// ---------------------------------------------------------------------------- engine objects --

fn inspect(d: &TestDaemon, what: &str) -> Value {
    let out = d.docker_ok(["inspect", what]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

fn container_seen(d: &TestDaemon, name: &str) -> (String, ContainerSeen) {
    let c = inspect(d, name);
    (
        c["Id"].as_str().unwrap().to_string(),
        ContainerSeen {
            state: c["State"]["Status"].as_str().unwrap().to_string(),
            finished_at: c["State"]["FinishedAt"].as_str().unwrap().to_string(),
        },
    )
}

fn image_id(d: &TestDaemon, reference: &str) -> String {
    d.docker_ok(["image", "inspect", "--format", "{{.Id}}", reference])
}

fn exists(d: &TestDaemon, what: &str) -> bool {
    d.docker(["inspect", what]).success()
}

/// Imports busybox again under `tag`: the tag moves to the new image, and the image it named
/// before becomes dangling (a new import has a new creation time, so a new id).
fn reimport(d: &TestDaemon, tag: &str) -> String {
    std::thread::sleep(Duration::from_millis(1100));
    d.import_busybox(tag);
    image_id(d, tag)
}

#[test]
fn actions_on_a_real_daemon_reverify_and_never_force() {
    let d = TestDaemon::start();
    let state = TempDir::new();

    // A stopped container: removed.
    d.docker_ok(["run", "--name", "stopped", "busybox", "true"]);
    let (stopped, stopped_seen) = container_seen(&d, "stopped");
    // One that runs again between plan and apply: it finished at another time since.
    d.docker_ok(["run", "--name", "reran", "busybox", "true"]);
    let (reran, reran_seen) = container_seen(&d, "reran");
    // One created (never ran), started between plan and apply: running now.
    d.docker_ok(["create", "--name", "started", "busybox", "sleep", "600"]);
    let (started, started_seen) = container_seen(&d, "started");
    // One labelled dockhand.keep.
    d.docker_ok([
        "create",
        "--name",
        "kept",
        "--label",
        "dockhand.keep=yes",
        "busybox",
        "true",
    ]);
    let (kept, kept_seen) = container_seen(&d, "kept");

    // A dangling image a container still uses, and a dangling image nobody uses.
    d.import_busybox("victim:1");
    let used_old = image_id(&d, "victim:1");
    d.docker_ok(["create", "--name", "user", "victim:1", "true"]);
    let victim_new = reimport(&d, "victim:1");
    assert_ne!(used_old, victim_new);
    d.import_busybox("junk:1");
    let junk_old = image_id(&d, "junk:1");
    reimport(&d, "junk:1");
    // A tag that still points where the plan saw it, but of an image containers use (an untag
    // is planned for unused images only: one that gained a container is in use, whichever tag
    // goes), and one that moved (victim:1 above).
    d.docker_ok(["tag", "busybox:latest", "extra:tag"]);
    let busybox = image_id(&d, "busybox:latest");

    // A volume a container mounts, and a free one.
    d.docker_ok(["volume", "create", "inuse"]);
    d.docker_ok([
        "create",
        "--name",
        "mounter",
        "-v",
        "inuse:/data",
        "busybox",
        "true",
    ]);
    d.docker_ok(["volume", "create", "free"]);

    let bytes = Some(4096);
    let plan = Plan::new(vec![
        step(Action::RemoveContainer {
            id: stopped.clone(),
            name: "stopped".into(),
            seen: stopped_seen,
        })
        .with_bytes(bytes),
        step(Action::RemoveContainer {
            id: reran.clone(),
            name: "reran".into(),
            seen: reran_seen,
        }),
        step(Action::RemoveContainer {
            id: started.clone(),
            name: "started".into(),
            seen: started_seen,
        }),
        step(Action::RemoveContainer {
            id: kept.clone(),
            name: "kept".into(),
            seen: kept_seen,
        }),
        step(Action::RemoveContainer {
            id: "0000000000000000000000000000000000000000000000000000000000000000".into(),
            name: "never-was".into(),
            seen: ContainerSeen {
                state: "exited".into(),
                finished_at: "0001-01-01T00:00:00Z".into(),
            },
        }),
        step(Action::RemoveImage {
            id: used_old.clone(),
        }),
        step(Action::RemoveImage {
            id: junk_old.clone(),
        }),
        step(Action::UntagImage {
            reference: "victim:1".into(),
            id: used_old.clone(),
        }),
        step(Action::UntagImage {
            reference: "extra:tag".into(),
            id: busybox.clone(),
        }),
        step(Action::RemoveVolume {
            name: "inuse".into(),
        }),
        step(Action::RemoveVolume {
            name: "free".into(),
        }),
    ]);

    // Between plan and apply: one container runs again, another starts.
    d.docker_ok(["start", "-a", "reran"]);
    d.docker_ok(["start", "started"]);

    let progressed = Mutex::new(0usize);
    let progress = |_: &actions::StepReport| *progressed.lock().unwrap() += 1;
    let report = rt().block_on(async {
        let a = actor(&state, Some(&d), Shutdown::new()).await;
        let opts = ApplyOptions {
            concurrency: 4,
            progress: Some(&progress),
            ..ApplyOptions::default()
        };
        let r = actions::apply(&plan, &a, &opts).await;
        a.finish().await.unwrap();
        r
    });
    assert_eq!(*progressed.lock().unwrap(), plan.len());
    assert_eq!(
        outcomes(&report),
        [
            "done",
            "changed",
            "changed",
            "refused",
            "already-gone",
            "in-use",
            "done",
            "changed",
            "in-use",
            "in-use",
            "done",
        ],
        "{report:#?}"
    );
    let detail = |i: usize| report.steps[i].outcome.detail().unwrap_or("").to_string();
    assert!(
        detail(1).contains("ran again since the plan"),
        "{}",
        detail(1)
    );
    assert!(detail(2).contains("running now"), "{}", detail(2));
    assert!(detail(3).contains("dockhand.keep"), "{}", detail(3));
    assert!(
        detail(5).contains("used by container user"),
        "{}",
        detail(5)
    );
    assert!(detail(7).contains("now points at"), "{}", detail(7));
    assert!(
        detail(9).contains("used by container mounter"),
        "{}",
        detail(9)
    );
    assert_eq!(report.steps[0].outcome, Outcome::Done { bytes });
    assert!(!report.failed());

    // What the daemon says now.
    assert!(!exists(&d, &stopped));
    for kept in [&reran, &started, &kept] {
        assert!(exists(&d, kept));
    }
    assert!(exists(&d, &used_old), "an image in use stays");
    assert!(!exists(&d, &junk_old));
    assert!(exists(&d, "victim:1") && exists(&d, &busybox));
    assert!(exists(&d, "extra:tag"), "not untagged: busybox is used");
    assert!(d.docker(["volume", "inspect", "inuse"]).success());
    assert!(!d.docker(["volume", "inspect", "free"]).success());

    // The journal: run-start, an intent and an outcome per step (intent first), run-end.
    let recs = records(&state);
    assert!(matches!(&recs[0].body, Body::RunStart { command, .. } if command == "test"));
    assert!(
        matches!(&recs.last().unwrap().body, Body::RunEnd { status, totals, .. } if status == "completed" && totals.done == 3)
    );
    let run = &recs[0].run;
    assert!(recs.iter().all(|r| &r.run == run && r.v == 1));
    for s in &report.steps {
        let pos = |want_intent: bool| {
            recs.iter().position(|r| match &r.body {
                Body::Intent { step, .. } => want_intent && *step == s.seq,
                Body::Outcome { step, .. } => !want_intent && *step == s.seq,
                _ => false,
            })
        };
        let (i, o) = (pos(true), pos(false));
        assert!(
            i.is_some() && o.is_some() && i < o,
            "step {}: {i:?} {o:?}",
            s.seq
        );
        let Body::Outcome { outcome, .. } = &recs[o.unwrap()].body else {
            unreachable!()
        };
        assert_eq!(outcome, s.outcome.name());
    }

    // The real binary reads it back.
    let state_arg = state.path().to_str().unwrap();
    let r = dockhand(["--state-dir", state_arg, "journal", "--format", "json"]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["schema"], "dockhand.journal/v1");
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), plan.len(), "{doc:#}");
    assert_eq!(doc["runs"][0]["status"], "completed");
    let listed: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(listed, outcomes(&report));
    assert_eq!(entries[0]["reason"], "chosen by the test");
    assert_eq!(entries[0]["bytes"], 4096);
    let r = dockhand([
        "--state-dir",
        state_arg,
        "journal",
        "--format",
        "json",
        "--kind",
        "container",
    ]);
    r.assert_code(0);
    let kinds: Vec<String> = r.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["container.remove"; 5]);
    let r = dockhand(["--state-dir", state_arg, "journal"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("container.remove") && r.stdout.contains("↳ used by container user"),
        "{r}"
    );
}

#[test]
fn actions_engine_conflicts_networks_stops_build_cache_and_held_files() {
    let d = TestDaemon::start();
    d.docker_ok(["create", "--name", "holder", "busybox", "true"]);
    let busybox = image_id(&d, "busybox:latest");
    let e = engine_for(Some(&d));
    rt().block_on(async {
        // Never forced: a used image is a 409, and stays.
        let err = e
            .send(Method::Delete, &format!("/images/{busybox}?force=0"), None)
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err}");
        let err = e
            .send(Method::Delete, "/containers/nope?force=0", None)
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        // A write with a JSON body.
        let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"]});
        let made = e
            .send(Method::Post, "/containers/create?name=made", Some(&body))
            .await
            .unwrap();
        assert_eq!(made.value.status, 201);
    });
    assert!(exists(&d, "made") && exists(&d, &busybox));

    // Networks: one with a container on it, an empty one, one of the engine's own; build cache.
    // Subnets of their own: the engine's default pools are shared with every daemon on the host.
    let subnet = |n: u32| format!("10.{}.{n}.0/24", 200 + std::process::id() % 50);
    d.docker_ok(["network", "create", "--subnet", &subnet(251), "busy-net"]);
    d.docker_ok(["network", "create", "--subnet", &subnet(252), "idle-net"]);
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "netuser",
        "--network",
        "busy-net",
        "busybox",
        "sleep",
        "600",
    ]);
    let net = |n: &str| {
        let id = d.docker_ok(["network", "inspect", "--format", "{{.Id}}", n]);
        Action::RemoveNetwork {
            id,
            name: n.to_string(),
        }
    };
    // Stopping: sleep is pid 1 in its container and ignores SIGTERM, so the engine kills it
    // after t; a container that is not running is already as wanted.
    d.docker_ok(["run", "-d", "--name", "stopme", "busybox", "sleep", "600"]);
    let stop = |n: &str| Action::StopContainer {
        id: n.to_string(),
        name: n.to_string(),
        timeout_s: 1,
    };
    let plan = Plan::new(vec![
        step(net("busy-net")),
        step(net("idle-net")),
        step(net("none")),
        step(Action::PruneBuildCache {
            keep_storage: None,
            all: false,
            until_s: None,
        }),
        step(stop("stopme")),
        step(stop("made")),
    ]);
    let state = TempDir::new();
    let r = rt().block_on(async {
        let a = actor(&state, Some(&d), Shutdown::new()).await;
        let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
        a.finish().await.unwrap();
        r
    });
    assert_eq!(
        outcomes(&r),
        ["in-use", "done", "refused", "done", "done", "already-gone"],
        "{r:#?}"
    );
    assert!(r.steps[0].outcome.detail().unwrap().contains("netuser"));
    assert!(exists(&d, "busy-net") && !exists(&d, "idle-net"));
    assert_eq!(
        d.docker_ok(["inspect", "--format", "{{.State.Status}}", "stopme"]),
        "exited"
    );

    // A file held open by a process in a container (another mount namespace, another path):
    // found by device and inode, left alone; once the container stops, removed.
    let shared = TempDir::new();
    let file = shared.write("blob", "some bytes");
    let mount = format!("{}:/mnt", shared.path().display());
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "fileholder",
        "-v",
        &mount,
        "busybox",
        "sh",
        "-c",
        "exec 3</mnt/blob; exec sleep 600",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let stamp = actions::FileStamp::of(&file).unwrap();
    let plan = Plan::new(vec![step(Action::RemoveFile {
        path: file.clone(),
        stamp,
    })]);
    let apply_once = |plan: &Plan| {
        rt().block_on(async {
            let a = actor(&state, Some(&d), Shutdown::new()).await;
            let r = actions::apply(plan, &a, &ApplyOptions::default()).await;
            a.finish().await.unwrap();
            r
        })
    };
    let r = apply_once(&plan);
    assert_eq!(outcomes(&r), ["in-use"], "{r:#?}");
    assert!(
        r.steps[0].outcome.detail().unwrap().contains("(sleep)"),
        "{r:#?}"
    );
    assert!(file.exists());
    d.docker_ok(["rm", "-f", "fileholder"]);
    let r = apply_once(&plan);
    assert_eq!(outcomes(&r), ["done"], "{r:#?}");
    assert!(!file.exists());
}

// -------------------------------------------------------------------------------- interrupted --

#[test]
fn actions_interrupted_apply_finishes_the_step_in_flight_and_starts_nothing_more() {
    let state = TempDir::new();
    let procs: Vec<Proc> = (0..4).map(|_| Proc::ignoring_term()).collect();
    let plan = Plan::new(
        procs
            .iter()
            .map(|p| {
                step(Action::Terminate {
                    target: p.target(),
                    grace: Duration::from_secs(1),
                })
            })
            .collect(),
    );
    let shutdown = Shutdown::new();
    let (report, totals) = rt().block_on(async {
        let a = actor(&state, None, shutdown.clone()).await;
        // Ctrl-C while the first step waits out its grace.
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.trigger();
        });
        let opts = ApplyOptions {
            concurrency: 1,
            progress: None,
            ..ApplyOptions::default()
        };
        let r = actions::apply(&plan, &a, &opts).await;
        let t = a.finish().await.unwrap();
        (r, t)
    });
    assert!(report.interrupted);
    assert_eq!(
        outcomes(&report),
        ["done", "not-started", "not-started", "not-started"]
    );
    assert!(
        !procs[0].alive(),
        "the step in flight finished: TERM, grace, KILL"
    );
    assert!(
        procs[1..].iter().all(Proc::alive),
        "nothing more was signalled"
    );
    assert_eq!((totals.done, totals.not_started), (1, 3));
    let recs = records(&state);
    assert_eq!(signals_of(&recs, report.steps[0].seq).len(), 2);
    let not_started = recs
        .iter()
        .filter(|r| matches!(&r.body, Body::Outcome { outcome, .. } if outcome == "not-started"))
        .count();
    assert_eq!(not_started, 3);
    let intents = recs
        .iter()
        .filter(|r| matches!(r.body, Body::Intent { .. }))
        .count();
    assert_eq!(intents, 1, "no intent for steps that never started");
    assert!(
        matches!(&recs.last().unwrap().body, Body::RunEnd { status, .. } if status == "interrupted")
    );
    let r = dockhand(["--state-dir", state.path().to_str().unwrap(), "journal"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("interrupted: 1 done, 3 not started"),
        "{r}"
    );
}

// ------------------------------------------------------------------------------------- lock --

#[test]
fn actions_run_lock_names_a_live_holder_and_takes_over_from_a_dead_one() {
    let state = TempDir::new();
    let lock = state.join("lock");
    // Another process holds the flock: a shell locks its own descriptor (util-linux flock on fd
    // 9) and becomes the sleep, so one pid holds it, and its death frees it. (`flock FILE CMD`
    // forks: a child caught between the fork and closing its copy keeps the lock after the
    // parent's kill -9.)
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"exec 9>>"$0" && flock -w 5 9 && exec sleep 600"#)
        .arg(&lock)
        .stdin(Stdio::null());
    let mut holder = spawn_tied(cmd, Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match RunLock::acquire(state.path(), "gc", None) {
            // Named or not: a try that won before flock started left its own name in the file.
            Err(LockError::Held { .. }) => break,
            Ok(l) => {
                drop(l);
                assert!(Instant::now() < deadline, "flock never took the lock");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
    // As a dockhand holder would, it names itself in the file.
    let pid = holder.id() as i32;
    let named = serde_json::json!({
        "pid": pid, "command": "gc", "started_at": "2026-11-28T05:53:35.000Z",
        "start_ticks": procfs::stat(pid).unwrap().starttime,
    });
    std::fs::write(&lock, named.to_string()).unwrap();
    let err = RunLock::acquire(state.path(), "reap", None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("holds the lock"), "{msg}");
    assert!(msg.contains(&format!("pid {pid} (dockhand gc")), "{msg}");

    // kill -9: the kernel drops the flock, the file still names the dead holder.
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    holder.wait().unwrap();
    let taken = RunLock::acquire(state.path(), "reap", None).unwrap();
    let note = taken.note().unwrap();
    assert!(
        note.contains(&format!("left by pid {pid}")) && note.contains("which is gone"),
        "{note}"
    );
    // Two holders in one process conflict too (flock is per open file).
    let err = RunLock::acquire(state.path(), "recover", None).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id()))
    );
    drop(taken);
    assert!(RunLock::acquire(state.path(), "recover", None).is_ok());
}

// ------------------------------------------------------------------------------------ daemon --

#[test]
fn actions_stop_and_start_a_daemon_without_a_service_manager() {
    let d = TestDaemon::builder().without_busybox().start();
    let state = TempDir::new();
    let argv: Vec<String> = procfs::cmdline(d.pid())
        .unwrap()
        .split(' ')
        .map(str::to_string)
        .collect();
    let target = ProcTarget::capture(d.pid(), Scope::DockerProgram).unwrap();
    let log = d.dir().join("dockerd-restarted.log");
    let plan = Plan::new(vec![
        step(Action::StopDaemon {
            how: DaemonStop::Process {
                target,
                again: Duration::ZERO,
            },
            grace: Duration::from_secs(20),
        }),
        step(Action::StartDaemon {
            how: DaemonStart::Command {
                argv,
                log: Some(log.clone()),
            },
        }),
    ]);
    let r = rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let r = actions::apply(
            &plan,
            &a,
            &ApplyOptions {
                concurrency: 1,
                progress: None,
                ..ApplyOptions::default()
            },
        )
        .await;
        a.finish().await.unwrap();
        r
    });
    assert_eq!(outcomes(&r), ["done", "done"], "{r:#?}\n{}", d.log_tail(20));
    assert!(!procfs::is_alive(d.pid()), "the old daemon is gone");
    // The new one answers on the same socket.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.ping(Duration::from_secs(2)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the restarted daemon never answered; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let sigs = signals_of(&records(&state), r.steps[0].seq);
    assert_eq!(sigs[0].0, "SIGTERM");
    assert_eq!(sigs.last().unwrap().2, "gone");
    // Dropping `d` finds the new dockerd by its command line and stops it.
}

// ------------------------------------------------------------------------------ read-only stop --

#[test]
fn actions_a_read_only_command_stops_at_once_on_sigint() {
    let dir = TempDir::new();
    let sock = dir.join("silent.sock");
    // Accepts connections (the kernel does) and never answers: doctor would wait out --timeout.
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut cmd = crate::support::dockhand_cmd()
        .args([
            "--host",
            &format!("unix://{}", sock.display()),
            "--timeout",
            "60s",
            "doctor",
            "--check",
            "daemon.responsive",
        ])
        .command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("doctor did not stop within 5 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    // Far inside the 60 s it would otherwise wait (a busy machine may take a moment to run it).
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
}

// ---------------------------------------------------------------------------------- file trees --

/// A tmpfs mounted on `at`, unmounted (lazily, so a failed test cannot leave it busy) when
/// dropped.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn tmpfs(at: &std::path::Path) -> Mounted {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "dockhand-test"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", at.display());
        Mounted(at.to_path_buf())
    }

    fn present(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let at = self.0.to_str().unwrap();
        mounts.lines().any(|l| l.split(' ').nth(4) == Some(at))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The outcome records the journal holds for `target`, as (kind, outcome, detail).
fn outcomes_for(recs: &[Record], target: &str) -> Vec<(String, String, Option<String>)> {
    recs.iter()
        .filter_map(|r| match &r.body {
            Body::Outcome {
                kind,
                target: t,
                outcome,
                detail,
                ..
            } if t == target => Some((kind.clone(), outcome.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn actions_remove_tree_refuses_a_tree_with_something_mounted_under_it() {
    let state = TempDir::new();
    let dir = TempDir::new();
    let tree = dir.join("leftover");
    let mnt = tree.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::write(tree.join("beside"), b"beside the mount").unwrap();
    let mounted = Mounted::tmpfs(&mnt);
    std::fs::write(mnt.join("data"), b"on the mount").unwrap();
    let stamp = actions::FileStamp::of(&tree).unwrap();
    let plan = Plan::new(vec![step(Action::RemoveTree {
        path: tree.clone(),
        stamp,
    })]);
    let apply_once = || {
        rt().block_on(async {
            let a = actor(&state, None, Shutdown::new()).await;
            let r = actions::apply(&plan, &a, &ApplyOptions::default()).await;
            a.finish().await.unwrap();
            r
        })
    };
    let r = apply_once();
    assert_eq!(outcomes(&r), ["in-use"], "{r:#?}");
    assert!(
        r.steps[0]
            .outcome
            .detail()
            .is_some_and(|d| d.contains("something is mounted under it")),
        "{r:#?}"
    );
    // Nothing went: not the mount, not what is on it, not what is beside it.
    assert!(mounted.present(), "the mount is gone");
    assert_eq!(std::fs::read(mnt.join("data")).unwrap(), b"on the mount");
    assert_eq!(
        std::fs::read(tree.join("beside")).unwrap(),
        b"beside the mount"
    );
    let target = tree.display().to_string();
    let said = outcomes_for(&records(&state), &target);
    assert!(
        said.iter()
            .any(|(kind, outcome, detail)| kind == "file.remove-tree"
                && outcome == "in-use"
                && detail
                    .as_deref()
                    .is_some_and(|d| d.contains("mounted under it"))),
        "{said:?}"
    );

    // Unmounted, the same step removes the tree.
    drop(mounted);
    let r = apply_once();
    assert_eq!(outcomes(&r), ["done"], "{r:#?}");
    assert!(!tree.exists());
}

#[test]
fn actions_remove_a_dead_daemons_socket_and_containerd_pid_file_never_a_live_ones() {
    use dockhand::recover::plan::{containerd_pidfile_step, socket_step};
    let live = TestDaemon::start();
    let d = TestDaemon::start();
    let ctr_pidfile = |d: &TestDaemon| d.exec_root().join("containerd/containerd.pid");
    // A live daemon's: its socket listens, its containerd.pid names its running containerd.
    assert!(socket_step(&live.socket()).is_none());
    assert!(containerd_pidfile_step(&ctr_pidfile(&live)).is_none());
    assert!(socket_step(&d.socket()).is_none());

    // The crash: dockerd and its containerd die; the socket file and the pid file stay.
    let containerd = crate::support::leaks::children(d.pid())
        .into_iter()
        .find(|s| s.comm == "containerd")
        .expect("the daemon's containerd");
    d.kill9();
    crate::support::leaks::kill_pid(containerd.pid);
    let (sock, pidfile) = (d.socket(), ctr_pidfile(&d));
    assert!(sock.exists() && pidfile.exists());
    let steps: Vec<Step> = [socket_step(&sock), containerd_pidfile_step(&pidfile)]
        .into_iter()
        .map(|s| s.expect("a step for the dead daemon's file"))
        .collect();
    let state = TempDir::new();
    let r = rt().block_on(async {
        let a = actor(&state, None, Shutdown::new()).await;
        let r = actions::apply(&Plan::new(steps), &a, &ApplyOptions::default()).await;
        a.finish().await.unwrap();
        r
    });
    assert_eq!(outcomes(&r), ["done", "done"], "{r:#?}");
    assert!(!sock.exists(), "the socket file is still there");
    assert!(!pidfile.exists(), "containerd's pid file is still there");
    let recs = records(&state);
    for path in [&sock, &pidfile] {
        assert_eq!(
            outcomes_for(&recs, &path.display().to_string()),
            [("file.remove".to_string(), "done".to_string(), None)],
            "the journal does not name {}",
            path.display()
        );
    }
    // The live daemon's files are where they were, and it still answers.
    assert!(live.socket().exists() && ctr_pidfile(&live).exists());
    live.ping(Duration::from_secs(5)).unwrap();
}
