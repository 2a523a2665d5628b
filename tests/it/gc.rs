//! `dockhand gc` against throwaway daemons: plan then apply, the keep rules, the differential
//! against `docker system prune`, a race with containers created from candidate images, the run
//! lock, kill -9 and SIGTERM mid-apply, watermarks on a small filesystem of its own, an image
//! with an old creation date, saved plans.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockhand::report::gc::GcDoc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::daemon::DOCKER_TIMEOUT;
use crate::support::images::{self, ImageSpec, Layer};
use crate::support::proxy::ApiProxy;
use crate::support::{Run, TempDir, TestDaemon, dockhand_cmd, run};

// ------------------------------------------------------------------------------------ helpers --

const GC_TIMEOUT: Duration = Duration::from_secs(180);

fn gc_cmd(host: &str, state: &TempDir, args: &[&str]) -> crate::support::Dockhand {
    dockhand_cmd()
        .args(["--host", host, "--state-dir"])
        .arg(state.path())
        .arg("gc")
        .args(args)
        .timeout(GC_TIMEOUT)
}

fn gc(d: &TestDaemon, state: &TempDir, args: &[&str]) -> Run {
    gc_cmd(&d.host(), state, args).run()
}

#[track_caller]
fn gc_json(d: &TestDaemon, state: &TempDir, args: &[&str]) -> (Run, GcDoc) {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let r = gc(d, state, &a);
    let doc: GcDoc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.gc/v1 document ({e})\n{r}"));
    assert_eq!(doc.schema, "dockhand.gc/v1");
    assert_eq!(Some(doc.exit_code), r.code, "{r}");
    (r, doc)
}

/// What a daemon holds, comparable across daemons: container names, images (id and tags),
/// volumes (anonymous ones counted), networks, build-cache records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    containers: BTreeSet<String>,
    images: BTreeSet<String>,
    volumes: BTreeSet<String>,
    networks: BTreeSet<String>,
    build_cache: usize,
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn held(d: &TestDaemon) -> Held {
    let images = lines(&d.docker_ok([
        "images",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ]));
    let mut volumes = BTreeSet::new();
    let mut anon = 0;
    for v in lines(&d.docker_ok(["volume", "ls", "-q"])) {
        if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
            anon += 1;
        } else {
            volumes.insert(v);
        }
    }
    if anon > 0 {
        volumes.insert(format!("{anon} anonymous"));
    }
    let df = d.docker_ok(["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    let build_cache = df
        .lines()
        .find_map(|l| l.strip_prefix("Build Cache="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Held {
        containers: lines(&d.docker_ok(["ps", "-a", "--format", "{{.Names}}"])),
        images,
        volumes,
        networks: lines(&d.docker_ok(["network", "ls", "--format", "{{.Name}}"])),
        build_cache,
    }
}

fn base() -> ImageSpec {
    ImageSpec::new("bb:1", vec![Layer::busybox()])
}

/// An image on the busybox base with one layer of its own.
fn child(tag: &str, seed: &str, size: usize) -> ImageSpec {
    ImageSpec::new(tag, vec![Layer::busybox(), Layer::blob(seed, size)])
}

fn names(v: &[dockhand::report::gc::EntryDoc], object: &str) -> BTreeSet<String> {
    v.iter()
        .filter(|e| e.object == object)
        .map(|e| e.name.clone())
        .collect()
}

fn rule_of<'a>(v: &'a [dockhand::report::gc::EntryDoc], object: &str, name: &str) -> &'a str {
    v.iter()
        .find(|e| e.object == object && e.name == name)
        .map_or("<absent>", |e| e.rule.as_str())
}

/// User-defined networks made by a test: each with a subnet of its own (the engine's default
/// pools are shared with every other daemon on the host), removed when dropped — a bridge
/// network's interface outlives its daemon otherwise.
struct Nets<'a> {
    d: &'a TestDaemon,
    names: std::cell::RefCell<Vec<String>>,
}

impl<'a> Nets<'a> {
    fn new(d: &'a TestDaemon) -> Nets<'a> {
        Nets {
            d,
            names: Default::default(),
        }
    }

    fn create(&self, name: &str) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let subnet = format!("10.{}.{}.0/24", 200 + std::process::id() % 50, n % 250);
        self.d
            .docker_ok(["network", "create", "--subnet", &subnet, name]);
        self.names.borrow_mut().push(name.to_string());
    }
}

impl Drop for Nets<'_> {
    fn drop(&mut self) {
        // Containers first: a network with endpoints cannot go.
        let ids = self.d.docker(["ps", "-aq"]).stdout;
        if !ids.trim().is_empty() {
            let mut rm = vec!["rm", "-f"];
            rm.extend(ids.split_whitespace());
            let _ = self.d.docker(rm);
        }
        for n in self.names.borrow().iter() {
            let _ = self.d.docker(["network", "rm", n]);
        }
    }
}

/// `docker create` `n` containers named `prefix-i` from `image`, four clients at once.
fn create_many(d: &TestDaemon, prefix: &str, image: &str, n: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    d.docker_ok(["create", "--name", &format!("{prefix}-{i}"), image, "true"]);
                }
            });
        }
    });
}

/// The journal's records, parsed (torn lines skipped).
fn journal_records(state: &TempDir) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn done_removals(state: &TempDir) -> Vec<String> {
    journal_records(state)
        .into_iter()
        .filter(|r| {
            r["record"] == "outcome" && r["outcome"] == "done" && r["kind"] == "container.remove"
        })
        .filter_map(|r| r["target"].as_str().map(str::to_string))
        .collect()
}

/// A raw `POST path` with a JSON body on a daemon's socket; the status code (0 on a broken
/// connection).
fn post(sock: &std::path::Path, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(sock) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(DOCKER_TIMEOUT));
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A dockhand process of ours, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: crate::support::Dockhand) -> Proc {
    let mut c = cmd.command();
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Proc(c.spawn().unwrap())
}

fn wait_output(mut p: Proc, limit: Duration) -> (Option<i32>, Option<i32>, String, String) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "dockhand did not end within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = p.0.stdout.take() {
        o.read_to_string(&mut out).unwrap();
    }
    if let Some(mut e) = p.0.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (status.code(), status.signal(), out, err)
}

// ------------------------------------------------------------------------------ on a timer --

#[test]
fn gc_apply_with_nothing_to_collect_exits_0() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let before = held(&d);
    // A quiet night for a timer: nothing to remove is not a failure.
    let r = gc(&d, &state, &["--apply"]);
    r.assert_code(0);
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("dockhand gc: removed nothing") && last.contains("skipped 0; failed 0"),
        "{r}"
    );
    assert_eq!(r.stderr, "", "a quiet night mails nothing");
    assert_eq!(held(&d), before);
    // The dry run's plan, empty, is printed: a success too.
    let (r, doc) = gc_json(&d, &state, &[]);
    r.assert_code(0);
    assert_eq!(doc.mode, "dry-run");
    assert!(doc.remove.is_empty(), "{}", r.stdout);
    // The journal says the run completed: nothing failed.
    let j = dockhand_cmd()
        .args(["--state-dir"])
        .arg(state.path())
        .args(["journal", "--format", "json"])
        .run();
    j.assert_code(0);
    let runs = j.json()["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 1, "{j}");
    assert_eq!(runs[0]["status"], "completed", "{j}");
}

#[test]
fn gc_apply_that_skips_a_volume_in_use_exits_0_and_says_so() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    d.docker_ok(["volume", "create", "contested"]);
    d.docker_ok(["volume", "create", "idle"]);
    // The run plans both volumes' removal; the re-check of `contested` right before it goes is
    // held, and meanwhile a container starts using it.
    let proxy = ApiProxy::start(&d.socket());
    proxy.hold("/volumes/contested");
    let p = spawn(gc_cmd(
        &proxy.host(),
        &state,
        &["--apply", "--named-volumes", "--min-age", "0s"],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy
        .requests()
        .iter()
        .any(|r| r.contains("/volumes/contested"))
    {
        assert!(
            Instant::now() < deadline,
            "the run never re-checked the volume: {:?}",
            proxy.requests()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d.docker_ok([
        "create",
        "--name",
        "late-user",
        "-v",
        "contested:/data",
        "busybox",
        "true",
    ]);
    proxy.pass_all();
    let (code, _, out, err) = wait_output(p, Duration::from_secs(60));
    // A busy night for a timer: a skip is the safety rule working, not a failure.
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The skip is said: the step, its outcome and why, and the summary line's count.
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("in-use")
            && l.contains("remove volume contested")
            && l.contains("used by container late-user")),
        "{out}"
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.contains("removed 1 volume") && last.contains("skipped 1; failed 0"),
        "{out}"
    );
    let volumes = lines(&d.docker_ok(["volume", "ls", "-q"]));
    assert_eq!(volumes, lines("contested"), "idle went, contested stays");
}

// ---------------------------------------------------------------------------- named volumes --

#[test]
fn gc_named_volumes_removes_an_unused_one_and_keeps_the_used_and_the_labelled() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    d.docker_ok(["volume", "create", "unused-data"]);
    d.docker_ok(["volume", "create", "held-data"]);
    d.docker_ok([
        "create",
        "--name",
        "stopped-user",
        "-v",
        "held-data:/data",
        "busybox",
        "true",
    ]);
    d.docker_ok([
        "volume",
        "create",
        "--label",
        "dockhand.keep=yes",
        "kept-data",
    ]);
    let before = held(&d);
    // Volumes only: the stopped container is not collected by this run, so it still uses its
    // volume.
    let volumes_only = ["--types", "volumes", "--min-age", "0s"];

    // Without --named-volumes a named volume is data, kept whatever its age.
    let (r, doc) = gc_json(&d, &state, &volumes_only);
    r.assert_code(0);
    assert!(doc.remove.is_empty(), "{}", r.stdout);
    assert_eq!(rule_of(&doc.kept, "volume", "unused-data"), "named-volume");
    // Within the grace period it is kept by the grace, --named-volumes or not.
    let (r, doc) = gc_json(&d, &state, &["--types", "volumes", "--named-volumes"]);
    r.assert_code(0);
    assert!(doc.remove.is_empty(), "{}", r.stdout);
    assert_eq!(rule_of(&doc.kept, "volume", "unused-data"), "grace");

    let (r, doc) = gc_json(
        &d,
        &state,
        &[&volumes_only[..], &["--named-volumes", "--apply"]].concat(),
    );
    r.assert_code(0);
    assert_eq!(
        names(&doc.remove, "volume"),
        lines("unused-data"),
        "{}",
        r.stdout
    );
    assert_eq!(
        rule_of(&doc.remove, "volume", "unused-data"),
        "unused-named"
    );
    assert_eq!(doc.totals.done, Some(1), "{:?}", doc.totals);
    assert_eq!(rule_of(&doc.kept, "volume", "kept-data"), "keep-label");
    let mut want = before;
    want.volumes.remove("unused-data");
    assert_eq!(
        held(&d),
        want,
        "held-data (a stopped container's) and kept-data stay"
    );
    // Asked for by name, the labelled volume still stays: the keep label wins.
    let (r, doc) = gc_json(
        &d,
        &state,
        &["--types", "named-volumes", "--min-age", "0s", "--apply"],
    );
    r.assert_code(0);
    assert!(doc.remove.is_empty(), "{}", r.stdout);
    assert!(d.docker(["volume", "inspect", "kept-data"]).success());
    assert!(d.docker(["volume", "inspect", "held-data"]).success());
}

// ------------------------------------------------------------------------------------- logs --

#[test]
fn gc_truncate_logs_empties_a_running_containers_big_log_and_leaves_a_rotated_one_alone() {
    use std::os::unix::fs::MetadataExt;
    let d = TestDaemon::start();
    let state = TempDir::new();
    // containers.logs' threshold, which --truncate-logs goes by: half a MiB.
    let cfg = state.write(
        "logs.toml",
        "[checks.\"containers.logs\"]\nsize_warn_mib = 0.5\nsize_critical_mib = 100\n",
    );
    let id = d
        .docker_ok([
            "run",
            "-d",
            "--name",
            "chatty",
            "busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 12000 ]; do echo line $i of a container that talks; i=$((i+1)); done; sleep 600",
        ])
        .trim()
        .to_string();
    let dir = d.data_root().join("containers").join(&id);
    let log = dir.join(format!("{id}-json.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d
        .docker_ok(["logs", "--tail", "1", "chatty"])
        .contains("line 11999")
    {
        assert!(Instant::now() < deadline, "chatty never finished talking");
        std::thread::sleep(Duration::from_millis(100));
    }
    let big = std::fs::metadata(&log).unwrap().len();
    assert!(big > 1024 * 1024, "{big}");
    // What a rotation left behind (`--log-opt max-file`): the engine's own, never truncated.
    let rotated = dir.join(format!("{id}-json.log.1"));
    let old: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&rotated, &old).unwrap();
    let rotated_before = std::fs::metadata(&rotated).unwrap();
    let started = d.docker_ok(["inspect", "--format", "{{.State.StartedAt}}", "chatty"]);

    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        let r = gc_cmd(&d.host(), &state, &a).config(&cfg).run();
        let doc: GcDoc = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("not a dockhand.gc/v1 document ({e})\n{r}"));
        (r, doc)
    };
    // Without --truncate-logs the log is only reported.
    let (r, doc) = run(&["--apply"]);
    r.assert_code(0);
    assert!(doc.remove.is_empty(), "{}", r.stdout);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), big);

    let (r, doc) = run(&["--apply", "--truncate-logs"]);
    r.assert_code(0);
    let entry = doc
        .remove
        .iter()
        .find(|e| e.object == "log")
        .unwrap_or_else(|| panic!("the log is in the plan\n{}", r.stdout));
    assert_eq!(entry.rule, "big-log");
    assert_eq!(entry.outcome.as_deref(), Some("done"), "{}", r.stdout);
    assert_eq!(doc.totals.done, Some(1), "{:?}", doc.totals);
    // Truncated in place: the same file, empty; the container runs on, not restarted.
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
    assert_eq!(
        d.docker_ok([
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.StartedAt}}",
            "chatty"
        ]),
        format!("true {started}")
    );
    // The rotated file: byte for byte, the same inode, the same times.
    assert_eq!(std::fs::read(&rotated).unwrap(), old);
    let rotated_after = std::fs::metadata(&rotated).unwrap();
    assert_eq!(rotated_after.ino(), rotated_before.ino());
    assert_eq!(rotated_after.mtime_nsec(), rotated_before.mtime_nsec());
    assert_eq!(rotated_after.mtime(), rotated_before.mtime());
}

// ------------------------------------------------------------------------ plan, then apply --

// Over 100 lines: one scenario end to end, every rule in the plan and then the apply
// compared with exactly what the plan said; split, the comparison would be lost.
#[test]
fn gc_plan_then_apply_leaves_exactly_what_the_plan_said() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    images::load(&d, &[base(), child("child:1", "child", 4096)]);
    // A dangling image: t:1 loaded, then t:1 moved to another image.
    images::load(&d, &[child("t:1", "t-old", 2048)]);
    // The engine's id: the config's digest on the graph driver, the manifest's under the
    // containerd image store.
    let old_t = d.docker_ok(["image", "inspect", "-f", "{{.Id}}", "t:1"]);
    images::load(&d, &[child("t:1", "t-new", 2048)]);
    images::load(
        &d,
        &[
            child("unused:1", "unused", 8192),
            child("pinned:1", "pinned", 1024),
            child("labelled:1", "labelled", 1024).label("dockhand.keep", ""),
        ],
    );
    let nets = Nets::new(&d);
    nets.create("busy-net");
    nets.create("idle-net");
    nets.create("kept-net");
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "runner",
        "--network",
        "busy-net",
        "child:1",
        "sleep",
        "600",
    ]);
    d.docker_ok(["run", "--name", "ran", "bb:1", "true"]);
    d.docker_ok(["create", "--name", "made", "bb:1", "true"]);
    d.docker_ok([
        "create",
        "--name",
        "keeper",
        "--label",
        "dockhand.keep=yes",
        "--network",
        "kept-net",
        "child:1",
        "true",
    ]);
    // An anonymous volume left behind by a container that goes, and a named one no one uses.
    d.docker_ok(["create", "--name", "withvol", "-v", "/data", "bb:1", "true"]);
    d.docker_ok(["volume", "create", "pgdata"]);
    let before = held(&d);
    let flags = [
        "--min-age",
        "0s",
        "--images",
        "--volumes",
        "--keep",
        "pinned:*",
    ];

    let (r, plan) = gc_json(&d, &state, &flags);
    r.assert_code(0);
    assert_eq!(plan.mode, "dry-run");
    assert_eq!(
        names(&plan.remove, "container"),
        lines("ran\nmade\nwithvol"),
        "{}",
        r.stdout
    );
    assert_eq!(names(&plan.remove, "network"), lines("idle-net"));
    assert_eq!(
        plan.remove.iter().filter(|e| e.object == "volume").count(),
        1
    );
    assert!(
        plan.remove
            .iter()
            .any(|e| e.object == "image" && e.id == old_t && e.rule == "dangling")
    );
    assert_eq!(rule_of(&plan.remove, "image", "unused:1"), "unused");
    assert_eq!(rule_of(&plan.kept, "container", "keeper"), "keep-label");
    assert_eq!(rule_of(&plan.kept, "image", "pinned:1"), "keep-pattern");
    assert_eq!(rule_of(&plan.kept, "image", "labelled:1"), "keep-label");
    // bb:1 is the base of child:1, which runs.
    assert_eq!(
        rule_of(&plan.kept, "image", "bb:1"),
        "base-image",
        "{}",
        r.stdout
    );
    assert_eq!(rule_of(&plan.kept, "volume", "pgdata"), "named-volume");
    assert!(
        plan.totals.reclaimable_bytes >= 8192 + 2048,
        "{:?}",
        plan.totals
    );
    assert!(
        plan.summary
            .starts_with("dockhand gc: dry run: would remove")
    );
    assert_eq!(held(&d), before, "a dry run changes nothing");

    // What the plan says remains.
    let removed_ids: BTreeSet<&str> = plan
        .remove
        .iter()
        .filter(|e| e.object == "image")
        .map(|e| e.id.as_str())
        .collect();
    let mut want = before.clone();
    for c in names(&plan.remove, "container") {
        want.containers.remove(&c);
    }
    want.images
        .retain(|l| !removed_ids.iter().any(|id| l.starts_with(id)));
    for n in names(&plan.remove, "network") {
        want.networks.remove(&n);
    }
    want.volumes.remove("1 anonymous");

    let (r2, done) = gc_json(&d, &state, &[&flags[..], &["--apply"]].concat());
    r2.assert_code(0);
    assert_eq!(done.mode, "apply");
    assert!(done.run.is_some());
    assert_eq!(done.totals.failed, Some(0));
    assert_eq!(done.totals.skipped, Some(0), "{}", r2.stdout);
    assert!(
        done.remove
            .iter()
            .all(|e| e.outcome.as_deref() == Some("done")),
        "{}",
        r2.stdout
    );
    assert_eq!(held(&d), want);
    // The journal has every removal, and nothing is left to do.
    assert_eq!(done_removals(&state).len(), 3);
    let r = gc(&d, &state, &[&flags[..], &["--apply"]].concat());
    r.assert_code(0);
    assert!(r.stdout.contains("removed nothing"), "{r}");
}

#[test]
fn gc_in_table_form_and_doctors_remedies_as_written() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    d.docker_ok(["create", "--name", "fresh", "busybox", "true"]);
    // doctor's fixes say `dockhand gc` and `dockhand gc --volumes`: both run as written.
    for args in [&[][..], &["--volumes"][..]] {
        let r = gc(&d, &state, args);
        r.assert_code(0);
        assert!(r.stdout.contains("dry run"), "{r}");
        assert!(
            r.stdout.contains("fresh") && r.stdout.contains("grace"),
            "{r}"
        );
        assert!(
            r.stdout
                .lines()
                .last()
                .unwrap()
                .starts_with("dockhand gc: dry run"),
            "{r}"
        );
    }
    let r = gc(&d, &state, &["--min-age", "0s"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("stopped") && r.stdout.contains("(no grace period)"),
        "{r}"
    );
}

#[test]
fn gc_bad_input_is_one_sentence_and_exit_64() {
    let d = crate::support::shared();
    let state = TempDir::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--min-age", "soon"], "--min-age \"soon\""),
        (&["--high", "85%"], "--low"),
        (&["--high", "70%", "--low", "80%"], "below"),
        (&["--keep-last", "many"], "--keep-last \"many\""),
        (&["--types", "containers,pictures"], "pictures"),
        (&["--keep-storage", "lots"], "--keep-storage"),
        (&["--concurrency", "0"], "--concurrency"),
    ];
    for (args, says) in cases {
        let r = gc(d, &state, args);
        r.assert_code(64);
        assert!(r.stderr.contains(says), "{args:?}: {r}");
        assert_eq!(r.stderr.trim().lines().count(), 1, "{r}");
    }
    let cfg = state.write("bad.toml", "[gc]\nmin_age = \"1h\"\nkeep_last = -2\n");
    let r = dockhand_cmd()
        .config(&cfg)
        .args(["--host", &d.host(), "gc"])
        .run();
    r.assert_code(64);
    assert!(
        r.stderr.contains("bad.toml:3") && r.stderr.contains("gc.keep_last"),
        "{r}"
    );
    // A good [gc] section is used.
    let cfg = state.write(
        "good.toml",
        "[gc]\nmin_age = \"2h\"\nkeep = [\"busybox:*\"]\n",
    );
    let r = dockhand_cmd()
        .config(&cfg)
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args(["gc", "--format", "json"])
        .run();
    let doc: GcDoc = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    assert_eq!(doc.policy.min_age_s, 7200.0);
    assert_eq!(doc.policy.keep, ["busybox:*"]);
}

// ------------------------------------------------------------------------------ differential --

/// The same objects on two daemons: loaded images (same ids), containers, networks, volumes and
/// a BuildKit build's cache.
fn seed_identically(d: &TestDaemon, nets: &Nets<'_>, round: &str) {
    images::load(
        d,
        &[
            base(),
            child(&format!("app{round}:1"), &format!("app{round}-1"), 4096),
            child(&format!("app{round}:2"), &format!("app{round}-2"), 4096),
        ],
    );
    // Dangling: one free, one a stopped container still uses.
    images::load(
        d,
        &[child(
            &format!("moved{round}:1"),
            &format!("moved{round}-a"),
            1024,
        )],
    );
    d.docker_ok([
        "create",
        "--name",
        &format!("on-dangling{round}"),
        &format!("moved{round}:1"),
        "true",
    ]);
    images::load(
        d,
        &[child(
            &format!("moved{round}:1"),
            &format!("moved{round}-b"),
            1024,
        )],
    );
    images::load(
        d,
        &[ImageSpec::new(
            "",
            vec![
                Layer::busybox(),
                Layer::blob(&format!("untagged{round}"), 512),
            ],
        )],
    );
    nets.create(&format!("idle{round}"));
    nets.create(&format!("stopped-net{round}"));
    d.docker_ok([
        "create",
        "--name",
        &format!("net-user{round}"),
        "--network",
        &format!("stopped-net{round}"),
        "bb:1",
        "true",
    ]);
    d.docker_ok([
        "run",
        "--name",
        &format!("ran{round}"),
        &format!("app{round}:1"),
        "true",
    ]);
    d.docker_ok([
        "create",
        "--name",
        &format!("vol-user{round}"),
        "-v",
        "/data",
        "bb:1",
        "true",
    ]);
    d.docker_ok(["volume", "create", &format!("named{round}")]);
    let ctx = d.dir().join(format!("build{round}"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM bb:1\nRUN echo {round} > /built\n"),
    )
    .unwrap();
    let mut cmd = d.docker_command();
    cmd.env("DOCKER_BUILDKIT", "1")
        .args([
            "build",
            "--network",
            "none",
            "-t",
            &format!("built{round}:1"),
        ])
        .arg(&ctx);
    let r = run(cmd, DOCKER_TIMEOUT);
    assert!(
        r.success(),
        "BuildKit build failed\n{r}\n{}",
        d.log_tail(20)
    );
}

#[test]
fn gc_differential_against_docker_system_prune() {
    let a = TestDaemon::builder().without_busybox().start();
    let b = TestDaemon::builder().without_busybox().start();
    let state = TempDir::new();
    let (na, nb) = (Nets::new(&a), Nets::new(&b));
    for (d, nets) in [(&a, &na), (&b, &nb)] {
        images::load(d, &[base()]);
        nets.create("busy");
        d.docker_ok([
            "run",
            "-d",
            "--name",
            "runner",
            "--network",
            "busy",
            "bb:1",
            "sleep",
            "600",
        ]);
        seed_identically(d, nets, "a");
    }
    // Built images differ by build time; everything else is alike.
    let strip_built = |mut h: Held| {
        h.images.retain(|l| !l.contains("built"));
        h
    };
    assert_eq!(strip_built(held(&a)), strip_built(held(&b)), "seeded alike");

    let r = run(
        {
            let mut c = a.docker_command();
            c.args(["system", "prune", "-f"]);
            c
        },
        DOCKER_TIMEOUT,
    );
    assert!(r.success(), "{r}");
    let g = gc(&b, &state, &["--apply", "--min-age", "0s"]);
    g.assert_code(0);
    let (ha, hb) = (held(&a), held(&b));
    assert_eq!(
        strip_built(ha.clone()),
        strip_built(hb.clone()),
        "prune -f vs gc --apply --min-age 0s\n{g}"
    );
    assert_eq!(ha.build_cache, hb.build_cache, "build cache records");
    assert!(!hb.containers.contains("rana") && hb.containers.contains("runner"));
    assert!(hb.networks.contains("busy") && !hb.networks.contains("idlea"));

    // Again with more, and -a: unused tagged images too.
    for (d, nets) in [(&a, &na), (&b, &nb)] {
        seed_identically(d, nets, "b");
    }
    let r = run(
        {
            let mut c = a.docker_command();
            c.args(["system", "prune", "-af"]);
            c
        },
        DOCKER_TIMEOUT,
    );
    assert!(r.success(), "{r}");
    let g = gc(&b, &state, &["--apply", "--images", "--min-age", "0s"]);
    g.assert_code(0);
    let (ha, hb) = (held(&a), held(&b));
    assert_eq!(ha, hb, "prune -af vs gc --apply --images --min-age 0s\n{g}");
    assert!(
        hb.images.iter().all(|l| l.ends_with("bb:1")),
        "{:?}",
        hb.images
    );
}

// --------------------------------------------------------------------------------------- race --

#[test]
fn gc_race_with_containers_created_from_candidate_images() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let mut skipped_in_use = 0;
    let mut created_total = 0;
    // Fifty rounds on 20.10 (about a second each); the newer engines remove an image several
    // times slower (380 ms each on 28.5, where 50 rounds took 16 minutes, and 18 under the
    // containerd store, whose every gc run also walks the racers' containers in /system/df), so
    // they get twenty: enough rounds for the racers to meet a removal, in a matrix that must fit
    // CI's budget.
    let rounds: usize = match crate::support::daemon::engine() {
        crate::support::daemon::Engine::Docker20 => 50,
        _ => 20,
    };
    const PER_ROUND: usize = 16;
    for round in 0..rounds {
        let specs: Vec<ImageSpec> = (0..PER_ROUND)
            .map(|k| {
                child(
                    &format!("cand{round}:{k}"),
                    &format!("race-{round}-{k}"),
                    2048,
                )
            })
            .collect();
        images::load(&d, &specs);
        let stop = Arc::new(AtomicBool::new(false));
        let created = Arc::new(AtomicUsize::new(0));
        // Three racers create and start containers from the candidates straight through the
        // API (no CLI start-up, no pull when a tag is gone) while gc runs, each from its own
        // tag on, each after its own small delay, so across the rounds they land before the
        // plan, between the plan and the removals, and during them.
        let racers: Vec<_> = (0..3)
            .map(|w| {
                let stop = stop.clone();
                let created = created.clone();
                let sock = d.socket();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(((round * 37 + w * 53) % 150) as u64));
                    let mut k = (w * 3 + round) % PER_ROUND;
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        k = (k + 1) % PER_ROUND;
                        let name = format!("r{round}-{w}-{n}");
                        n += 1;
                        let body =
                            format!(r#"{{"Image":"cand{round}:{k}","Cmd":["sleep","300"]}}"#);
                        if post(&sock, &format!("/containers/create?name={name}"), &body) == 201 {
                            created.fetch_add(1, Ordering::SeqCst);
                            post(&sock, &format!("/containers/{name}/start"), "");
                        }
                    }
                })
            })
            .collect();
        // The racers keep the engine busy on purpose: under the containerd store on a loaded
        // host its image list can take longer than the default 3 s per call, and this test is
        // about what gc removes, not how fast the engine answers.
        let (r, doc) = gc_json(
            &d,
            &state,
            &[
                "--apply",
                "--images",
                "--min-age",
                "0s",
                "--concurrency",
                "1",
                "--timeout",
                "15s",
            ],
        );
        stop.store(true, Ordering::SeqCst);
        for t in racers {
            t.join().unwrap();
        }
        r.assert_code(0);
        assert_eq!(doc.totals.failed, Some(0), "round {round}: {}", r.stdout);
        skipped_in_use += doc
            .remove
            .iter()
            .filter(|e| matches!(e.outcome.as_deref(), Some("in-use" | "changed")))
            .count();
        created_total += created.load(Ordering::SeqCst);
        // Every container's image is still there.
        let ids = d.docker_ok(["ps", "-aq", "--no-trunc"]);
        if !ids.is_empty() {
            let mut args = vec!["inspect", "--format", "{{.Name}} {{.Image}}"];
            args.extend(ids.lines());
            for line in d.docker_ok(args).lines() {
                let (name, image) = line.split_once(' ').unwrap();
                let ok = d.docker(["image", "inspect", "--format", "{{.Id}}", image]);
                assert!(
                    ok.success(),
                    "round {round}: container {name} lost its image {image}\n{}\n{}",
                    r.stdout,
                    d.log_tail(20)
                );
            }
            let mut rm = vec!["rm", "-f"];
            rm.extend(ids.lines());
            d.docker_ok(rm);
        }
    }
    eprintln!(
        "race: {rounds} rounds, {created_total} containers started by the racers, {skipped_in_use} removals skipped as in use or touched"
    );
    assert!(created_total > rounds, "the racers did race");
    assert!(skipped_in_use > 0, "some removal met a racer");
}

// ------------------------------------------------------------------------------- the lock --

#[test]
fn gc_two_concurrent_applies_one_reports_the_lock() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    create_many(&d, "old", "busybox", 20);
    let proxy = ApiProxy::start(&d.socket());
    // The first run takes the lock, then waits on /info, held by the proxy.
    proxy.hold("/info");
    let first = spawn(
        gc_cmd(&proxy.host(), &state, &["--apply", "--min-age", "0s"])
            .arg("--timeout")
            .arg("30s"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !proxy.requests().iter().any(|r| r.contains("/info")) {
        assert!(
            Instant::now() < deadline,
            "the first run never asked for /info"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = gc(&d, &state, &["--apply", "--min-age", "0s"]);
    second.assert_code(75);
    let pid = first.0.id();
    assert!(
        second.stderr.contains(&format!("pid {pid}")) && second.stderr.contains("dockhand gc"),
        "{second}"
    );
    proxy.pass_all();
    let (code, _, out, err) = wait_output(first, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}\n{err}");
    let again = gc(&d, &state, &["--apply", "--min-age", "0s"]);
    again.assert_code(0);
    // Nothing removed twice.
    let removed = done_removals(&state);
    assert_eq!(removed.len(), 20);
    assert_eq!(removed.iter().collect::<BTreeSet<_>>().len(), 20);
}

// -------------------------------------------------------------------- interrupted and killed --

#[test]
fn gc_kill_9_mid_apply_then_a_clean_next_run() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    create_many(&d, "k", "busybox", 150);
    let p = spawn(gc_cmd(
        &d.host(),
        &state,
        &["--apply", "--min-age", "0s", "--concurrency", "1"],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while done_removals(&state).len() < 10 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(Pid::from_raw(p.0.id() as i32), Signal::SIGKILL).unwrap();
    let (_, sig, _, _) = wait_output(p, Duration::from_secs(10));
    assert_eq!(sig, Some(9));
    // Simulate the worst moment too: a record cut in half at the end.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(state.join("journal.jsonl"))
        .unwrap()
        .write_all(b"{\"type\":\"intent\",\"run\":\"x")
        .unwrap();
    let j = dockhand_cmd()
        .args(["--state-dir"])
        .arg(state.path())
        .arg("journal")
        .run();
    j.assert_code(0);
    assert!(j.stdout.contains("container.remove"), "{j}");
    // A clean next run: it removes exactly what the killed run left, every removal done, none
    // skipped or failed, and nothing is left after it.
    let left = d.docker_ok(["ps", "-aq"]).lines().count();
    assert!(
        left > 0 && left <= 140,
        "the killed run removed at least 10: {left} left"
    );
    let (next, doc) = gc_json(&d, &state, &["--apply", "--min-age", "0s"]);
    next.assert_code(0);
    assert_eq!(doc.mode, "apply");
    assert_eq!(
        names(&doc.remove, "container").len(),
        left,
        "{}",
        next.stdout
    );
    assert_eq!(doc.totals.done, Some(left), "{:?}", doc.totals);
    assert_eq!(doc.totals.skipped, Some(0), "{:?}", doc.totals);
    assert_eq!(doc.totals.failed, Some(0), "{:?}", doc.totals);
    assert!(
        doc.remove
            .iter()
            .all(|e| matches!(e.outcome.as_deref(), Some("done" | "already-gone"))),
        "{}",
        next.stdout
    );
    assert_eq!(d.docker_ok(["ps", "-aq"]), "");
    // Nothing removed twice across both runs; at most the one in flight at the kill has an
    // intent without an outcome (its container went, the record of it did not).
    let removed = done_removals(&state);
    let distinct = removed.iter().collect::<BTreeSet<_>>().len();
    assert_eq!(distinct, removed.len(), "nothing twice");
    assert!(distinct >= 149, "{distinct}");
}

#[test]
fn gc_sigterm_finishes_the_removal_in_flight_journals_and_exits_130() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    create_many(&d, "t", "busybox", 100);
    let p = spawn(gc_cmd(
        &d.host(),
        &state,
        &["--apply", "--min-age", "0s", "--concurrency", "1"],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while done_removals(&state).len() < 5 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(Pid::from_raw(p.0.id() as i32), Signal::SIGTERM).unwrap();
    let (code, _, out, err) = wait_output(p, Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}\n{err}");
    let recs = journal_records(&state);
    let not_started = recs
        .iter()
        .filter(|r| r["record"] == "outcome" && r["outcome"] == "not-started")
        .count();
    let done = done_removals(&state).len();
    assert_eq!(done + not_started, 100, "every step has an outcome");
    assert!(not_started > 0);
    assert!(
        recs.iter()
            .any(|r| r["record"] == "run-end" && r["status"] == "interrupted")
    );
    let left = d.docker_ok(["ps", "-aq"]).lines().count();
    assert_eq!(left, not_started, "exactly the steps not started remain");
}

// -------------------------------------------------------------------------------- watermarks --

/// A small ext4 filesystem on a loop device, mounted at a dir of its own; unmounted and
/// detached when dropped.
struct LoopFs {
    dir: TempDir,
    dev: String,
}

impl LoopFs {
    fn new(mib: u64) -> LoopFs {
        let dir = TempDir::new();
        let img = dir.join("fs.img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(mib << 20).unwrap();
        drop(f);
        let mk = run(
            {
                let mut c = Command::new("mkfs.ext4");
                c.args(["-q", "-F", "-m", "0"]).arg(&img);
                c
            },
            Duration::from_secs(60),
        );
        assert!(
            mk.success(),
            "mkfs.ext4 (e2fsprogs, see scripts/setup-test-host)\n{mk}"
        );
        let lo = run(
            {
                let mut c = Command::new("losetup");
                c.args(["--find", "--show"]).arg(&img);
                c
            },
            Duration::from_secs(30),
        );
        assert!(lo.success(), "losetup\n{lo}");
        let dev = lo.stdout.trim().to_string();
        let fs = LoopFs { dir, dev };
        std::fs::create_dir_all(fs.mount()).unwrap();
        let m = run(
            {
                let mut c = Command::new("mount");
                c.arg(&fs.dev).arg(fs.mount());
                c
            },
            Duration::from_secs(30),
        );
        assert!(m.success(), "mount\n{m}");
        fs
    }

    fn mount(&self) -> std::path::PathBuf {
        self.dir.join("mnt")
    }

    fn used_percent(&self) -> f64 {
        let st = nix::sys::statvfs::statvfs(&self.mount()).unwrap();
        let used = st.blocks() - st.blocks_free();
        used as f64 * 100.0 / (used + st.blocks_available()) as f64
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-R")
            .arg("-l")
            .arg(self.mount())
            .status();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

#[test]
fn gc_watermarks_bring_a_full_filesystem_under_the_low_mark_lru_first() {
    // Under the containerd image store an image takes its compressed content as well as its
    // unpacked snapshot: twice the room, so twice the filesystem keeps the same proportions.
    let fs = LoopFs::new(if crate::support::daemon::engine().containerd_store() {
        384
    } else {
        192
    });
    let d = TestDaemon::builder()
        .without_busybox()
        .data_root(fs.mount().join("docker"))
        .start();
    let state = TempDir::new();
    // Six images of 14 MiB each on a busybox base; used one after another, oldest first.
    const N: usize = 6;
    // One load each: docker load stages the whole tarball in the data root's tmp first.
    images::load(&d, &[base()]);
    for i in 0..N {
        images::load(&d, &[child(&format!("w{i}:1"), &format!("w{i}"), 14 << 20)]);
    }
    d.docker_ok(["run", "-d", "--name", "keep-base", "bb:1", "sleep", "600"]);
    for i in 0..N {
        d.docker_ok(["run", "--rm", &format!("w{i}:1"), "true"]);
        std::thread::sleep(Duration::from_millis(1100));
    }
    let used = fs.used_percent();
    // High below what is used; low so that three images must go (each is ~7% of 192 MiB).
    let high = (used - 5.0).floor();
    let low = (used - 20.0).floor();
    assert!(low > 5.0, "the filesystem is too empty to test: {used:.1}%");
    let (r, doc) = gc_json(
        &d,
        &state,
        &[
            "--apply",
            "--min-age",
            "0s",
            "--high",
            &format!("{high}%"),
            "--low",
            &format!("{low}%"),
        ],
    );
    r.assert_code(0);
    let w = doc.watermark.as_ref().expect("watermark");
    assert!(w.need_bytes > 0 && w.met, "{w:?}");
    let after = fs.used_percent();
    assert!(
        after <= low,
        "used {used:.1}% → {after:.1}%, low mark {low}%\n{}",
        r.stdout
    );
    // Least recently used first: w0, w1, … gone; the most recent stay.
    let gone: BTreeSet<String> = names(&doc.remove, "image");
    let k = gone.len();
    assert!((2..N).contains(&k), "{gone:?}");
    let want: BTreeSet<String> = (0..k).map(|i| format!("w{i}:1")).collect();
    assert_eq!(gone, want, "least recently used first\n{}", r.stdout);
    for i in k..N {
        assert!(d.docker(["image", "inspect", &format!("w{i}:1")]).success());
    }
    assert!(d.docker(["image", "inspect", "bb:1"]).success(), "in use");
    drop(d);
}

// -------------------------------------------------------------- an image with an old date --

#[test]
fn gc_keeps_an_old_image_first_seen_now_under_min_age() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let old = child("ancient:1", "ancient", 1024).created("2015-06-01T00:00:00Z");
    images::load(&d, &[old]);
    // The engine's id (the manifest's digest under the containerd image store).
    let id = d.docker_ok(["image", "inspect", "-f", "{{.Id}}", "ancient:1"]);
    let created = d.docker_ok(["image", "inspect", "--format", "{{.Created}}", "ancient:1"]);
    assert!(created.starts_with("2015-06-01"), "{created}");
    let (r, doc) = gc_json(&d, &state, &["--images", "--min-age", "1h", "--apply"]);
    r.assert_code(0);
    let e = doc
        .kept
        .iter()
        .find(|e| e.name == "ancient:1")
        .expect("kept");
    assert_eq!(e.rule, "grace");
    assert!(e.reason.contains("first seen"), "{}", e.reason);
    assert!(d.docker(["image", "inspect", "ancient:1"]).success());
    // The state file now knows it; without a grace period it would go.
    let state_file = std::fs::read_to_string(state.join("gc-state.json")).unwrap();
    assert!(state_file.contains(&id));
    let (r, doc) = gc_json(&d, &state, &["--images", "--min-age", "0s"]);
    r.assert_code(0);
    assert!(doc.remove.iter().any(|e| e.id == id && e.rule == "unused"));
    // docker's own age filter goes by creation, and takes the image pulled a minute ago.
    let r = d.docker(["image", "prune", "-af", "--filter", "until=1h"]);
    if crate::support::daemon::engine().containerd_store() {
        // Under the containerd image store `until` is when the image was created in
        // containerd's store (the load, a moment ago), not its config's date: prune keeps it.
        assert!(r.success(), "{r}");
        assert!(d.docker(["image", "inspect", "ancient:1"]).success(), "{r}");
        return;
    }
    assert!(
        r.success() && r.stdout.contains(id.trim_start_matches("sha256:")),
        "{r}"
    );
    assert!(!d.docker(["image", "inspect", "ancient:1"]).success());
}

// ------------------------------------------------------------------------------ saved plans --

#[test]
fn gc_saved_plans_apply_only_what_is_still_eligible_and_refuse_tampering() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    images::load(
        &d,
        &[base(), child("p1:1", "p1", 1024), child("p2:1", "p2", 1024)],
    );
    d.docker_ok(["create", "--name", "gone-soon", "bb:1", "true"]);
    let plan = state.join("plan.json");
    let r = gc(
        &d,
        &state,
        &[
            "--images",
            "--min-age",
            "0s",
            "--plan-out",
            plan.to_str().unwrap(),
        ],
    );
    r.assert_code(0);
    assert!(r.stdout.contains("Plan saved"), "{r}");
    let saved = std::fs::read_to_string(&plan).unwrap();
    assert!(saved.contains("\"digest\": \"hmac-sha256:"), "{saved}");
    // Since the plan: p1 gained a container, a new stopped container appeared.
    d.docker_ok(["run", "-d", "--name", "p1-user", "p1:1", "sleep", "300"]);
    d.docker_ok(["create", "--name", "after-plan", "bb:1", "true"]);
    // Tampered: refused.
    let tampered = state.join("tampered.json");
    std::fs::write(&tampered, saved.replace("gone-soon", "after-plan")).unwrap();
    let r = gc(&d, &state, &["--apply-plan", tampered.to_str().unwrap()]);
    r.assert_code(64);
    assert!(r.stderr.contains("does not match its digest"), "{r}");
    // Another daemon: refused.
    let other = TestDaemon::start();
    let r = gc(&other, &state, &["--apply-plan", plan.to_str().unwrap()]);
    r.assert_code(64);
    assert!(r.stderr.contains("another daemon"), "{r}");
    drop(other);
    // The real one: only what is still eligible, and nothing new.
    let (r, doc) = gc_json(&d, &state, &["--apply-plan", plan.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(doc.mode, "apply-plan");
    let p1 = doc
        .dropped
        .iter()
        .find(|x| x.describe.contains("p1:1"))
        .unwrap_or_else(|| panic!("p1:1 dropped\n{}", r.stdout));
    assert!(p1.why.contains("used by 1 container"), "{}", p1.why);
    // bb:1 is the base of p1:1, which runs now.
    let bb = doc
        .dropped
        .iter()
        .find(|x| x.describe.contains("bb:1"))
        .unwrap_or_else(|| panic!("bb:1 dropped\n{}", r.stdout));
    assert!(bb.why.contains("base image of p1:1"), "{}", bb.why);
    assert!(!d.docker(["container", "inspect", "gone-soon"]).success());
    assert!(
        d.docker(["container", "inspect", "after-plan"]).success(),
        "not in the plan"
    );
    assert!(
        d.docker(["image", "inspect", "p1:1"]).success(),
        "gained a user"
    );
    assert!(!d.docker(["image", "inspect", "p2:1"]).success());
}
