//! doctor's images, storage and volumes checks against real daemons: dangling images, leaked
//! overlay2 directories, tmp leftovers, deleted-but-open logs, anonymous volumes, build cache.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{DOCKER_TIMEOUT, engine};
use crate::support::{Run, TempDir, TestDaemon, dockhand, dockhand_cmd, run, shared};

const STORAGE_CHECKS: &[&str] = &[
    "images.dangling",
    "storage.leaked-layers",
    "storage.tmp",
    "storage.build-cache",
    "volumes.dangling",
];

/// `doctor --format json --check …` against `host`, with `config` (else the empty config).
fn doctor(host: &str, checks: &[&str], config: Option<&Path>) -> (Run, Value) {
    let mut args: Vec<String> = vec![
        "--host".into(),
        host.into(),
        "doctor".into(),
        "--format".into(),
        "json".into(),
    ];
    for c in checks {
        args.push("--check".into());
        args.push((*c).into());
    }
    let r = match config {
        Some(c) => dockhand_cmd().config(c).args(&args).run(),
        None => dockhand(&args),
    };
    assert!(!r.timed_out, "{r}");
    assert!(matches!(r.code, Some(0..=3)), "{r}");
    let doc = r.json();
    (r, doc)
}

#[track_caller]
fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in\n{doc:#}"))
}

#[track_caller]
fn status<'a>(doc: &'a Value, id: &str) -> &'a str {
    check(doc, id)["status"].as_str().unwrap()
}

/// Kills and reaps a helper process the test spawned, by its own handle.
struct Held(Child);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn touch_hours_ago(paths: &[PathBuf], hours: u32) {
    let mut touch = Command::new("touch");
    touch.arg("-d").arg(format!("{hours} hours ago"));
    touch.args(paths);
    run(touch, DOCKER_TIMEOUT).assert_code(0);
}

/// Commit an image `tag` from busybox with a file of `bytes` bytes of `fill` of its own.
fn commit_with_payload(
    d: &TestDaemon,
    seed: &TempDir,
    name: &str,
    tag: &str,
    fill: u8,
    bytes: usize,
) -> String {
    let f = seed.write(format!("{name}.bin"), vec![fill; bytes]);
    d.docker_ok(["create", "--name", name, "busybox", "true"]);
    d.docker_ok(["cp", f.to_str().unwrap(), &format!("{name}:/payload")]);
    let id = d.docker_ok(["commit", name, tag]);
    d.docker_ok(["rm", name]);
    id
}

#[test]
fn storage_checks_are_ok_on_a_clean_daemon() {
    let d = shared();
    let (r, doc) = doctor(&d.host(), STORAGE_CHECKS, None);
    for id in STORAGE_CHECKS {
        assert_eq!(status(&doc, id), "ok", "{id}\n{r}");
    }
    assert_eq!(
        check(&doc, "images.dangling")["evidence"]["count"],
        0,
        "{r}"
    );
    assert_eq!(
        check(&doc, "volumes.dangling")["evidence"]["count"],
        0,
        "{r}"
    );
    let leaks = &check(&doc, "storage.leaked-layers")["evidence"];
    if engine().containerd_store() {
        // No overlay2 of dockerd's to leak from: the check says so (docs/engines.md says why
        // containerd's own store is not scanned).
        assert!(
            leaks["scan"]
                .as_str()
                .is_some_and(|s| s.starts_with("not applicable")),
            "{r}"
        );
    } else {
        assert_eq!(leaks["scan"], "done", "{r}");
        assert_eq!(leaks["leaked"]["count"], 0, "{r}");
    }
    assert_eq!(
        check(&doc, "storage.build-cache")["evidence"]["bytes"],
        0,
        "{r}"
    );
    r.assert_code(0);
}

#[test]
fn storage_checks_find_dangling_images_volumes_leaks_and_tmp_leftovers() {
    let d = TestDaemon::start();
    let root = d.data_root();
    let seed = TempDir::new();

    // Dangling images: dh:1 committed twice, so the first loses its tag; its 64 KiB payload is
    // in no other image. dh:2 likewise, but a container keeps the first one: in use.
    let gone = commit_with_payload(&d, &seed, "c1", "dh:1", b'a', 64 * 1024);
    commit_with_payload(&d, &seed, "c2", "dh:1", b'b', 1024);
    let kept = commit_with_payload(&d, &seed, "c3", "dh:2", b'c', 1024);
    d.docker_ok(["create", "--name", "user", &kept, "true"]);
    commit_with_payload(&d, &seed, "c4", "dh:2", b'd', 1024);

    // Volumes: an anonymous one left dangling by `rm` without -v (32 KiB in it), one still
    // mounted by a stopped container, and an unused named one (data: never reclaimable).
    let cid = "anon";
    d.docker_ok([
        "run",
        "--name",
        cid,
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/data/x bs=1k count=32",
    ]);
    let inspect = d.docker_ok(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", cid]);
    let dangling_vol = inspect.trim().to_string();
    assert_eq!(dangling_vol.len(), 64, "{inspect}");
    d.docker_ok(["rm", cid]);
    d.docker_ok([
        "create", "--name", "holder", "-v", "/held", "busybox", "true",
    ]);
    let held_vol = d.docker_ok([
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}}{{end}}",
        "holder",
    ]);
    d.docker_ok(["volume", "create", "keepme"]);

    // A leaked overlay2 directory, two hours old.
    let leaked = root
        .join("overlay2")
        .join(format!("{:064x}", 0xdead_beef_u64));
    std::fs::create_dir_all(leaked.join("diff")).unwrap();
    std::fs::write(leaked.join("diff/junk"), vec![7u8; 100 * 1024]).unwrap();
    // tmp: a lingering tmp-old, a stale file nobody holds (both old), a young unheld file
    // (grace), and an old one a process holds open.
    std::fs::create_dir_all(root.join("tmp-old/sub")).unwrap();
    std::fs::write(root.join("tmp-old/sub/old"), vec![0u8; 10 * 1024]).unwrap();
    let stale = root.join("tmp/stale-upload");
    std::fs::write(&stale, vec![0u8; 20 * 1024]).unwrap();
    let young = root.join("tmp/young-upload");
    std::fs::write(&young, vec![0u8; 1024]).unwrap();
    let held_path = root.join("tmp/held-upload");
    std::fs::write(&held_path, vec![0u8; 5 * 1024]).unwrap();
    touch_hours_ago(
        &[
            leaked.clone(),
            root.join("tmp-old/sub"),
            root.join("tmp-old"),
            stale.clone(),
            held_path.clone(),
        ],
        2,
    );
    let holder = Held(
        Command::new("sh")
            .args(["-c", "exec sleep 120 3<\"$0\""])
            .arg(&held_path)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{}/fd/3", holder.0.id())).ok()
        != Some(held_path.clone())
    {
        assert!(Instant::now() < deadline, "sleep did not open the tmp file");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A running container whose log was deleted: dockerd keeps writing into the deleted file.
    let chatty = d.docker_ok([
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hello; sleep 0.2; done",
    ]);
    let log = root
        .join("containers")
        .join(&chatty)
        .join(format!("{chatty}-json.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "{} stays empty", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_file(&log).unwrap();

    // Default thresholds: one dangling image and one volume are under them (ok, but counted);
    // tmp leftovers always count; the deleted log is under 100 MiB.
    let (r, doc) = doctor(&d.host(), STORAGE_CHECKS, None);
    let img = check(&doc, "images.dangling");
    assert_eq!(img["status"], "ok", "{r}");
    assert_eq!(img["evidence"]["count"], 1, "{img:#}");
    let vol = check(&doc, "volumes.dangling");
    assert_eq!(vol["status"], "ok", "{r}");
    assert_eq!(vol["evidence"]["count"], 1, "{vol:#}");
    let tmp = check(&doc, "storage.tmp");
    assert_eq!(tmp["status"], "warning", "{tmp:#}");
    assert_eq!(tmp["evidence"]["deleted_open"]["count"], 1, "{tmp:#}");
    assert!(
        !tmp["summary"].as_str().unwrap().contains("deleted"),
        "{tmp:#}"
    );

    // Thresholds at the first object: every check is a warning and names what it found.
    let cfg = seed.write(
        "config.toml",
        "[checks.\"images.dangling\"]\nwarn_count = 1\n\n[checks.\"volumes.dangling\"]\nwarn_count = 1\n\n[checks.\"storage.tmp\"]\ndeleted_open_warn_bytes = 0\n",
    );
    let (r, doc) = doctor(&d.host(), STORAGE_CHECKS, Some(&cfg));

    let img = check(&doc, "images.dangling");
    assert_eq!(img["status"], "warning", "{img:#}");
    let ev = &img["evidence"];
    assert_eq!(ev["count"], 1, "{img:#}");
    assert_eq!(ev["images"][0]["id"], gone.as_str(), "{img:#}");
    let unique = ev["reclaimable_bytes"].as_u64().unwrap();
    if engine().containerd_store() {
        // The engine's own figure: under the containerd store an image's unique bytes count
        // its content blobs (config, manifest, the compressed layer) as well as its unpacked
        // snapshot, so they are more than the payload.
        assert!(
            unique >= 64 * 1024,
            "unique bytes of the payload image: {img:#}"
        );
    } else {
        assert!(
            (64 * 1024..80 * 1024).contains(&unique),
            "unique bytes of the payload layer: {img:#}"
        );
    }
    let in_use: Vec<&str> = ev["in_use"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(in_use, [kept.as_str()], "{img:#}");
    assert!(
        img["remedy"].as_str().unwrap().contains("dockhand gc"),
        "{img:#}"
    );

    let vol = check(&doc, "volumes.dangling");
    assert_eq!(vol["status"], "warning", "{vol:#}");
    let ev = &vol["evidence"];
    let names: Vec<&str> = ev["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [dangling_vol.as_str()],
        "not {held_vol} (in use), not keepme (named)\n{vol:#}"
    );
    assert!(ev["bytes"].as_u64().unwrap() >= 32 * 1024, "{vol:#}");
    assert_eq!(ev["named_unused"], 1, "{vol:#}");
    assert!(
        vol["summary"].as_str().unwrap().contains("1 named volume"),
        "{vol:#}"
    );

    let lk = check(&doc, "storage.leaked-layers");
    if engine().containerd_store() {
        // overlay2 under the data root is not the engine's: a directory planted there is no
        // layer of its, and nothing to judge.
        assert_eq!(lk["status"], "ok", "{lk:#}");
        assert!(
            lk["summary"]
                .as_str()
                .unwrap()
                .starts_with("not applicable"),
            "{lk:#}"
        );
    } else {
        assert_eq!(lk["status"], "warning", "{lk:#}");
        let items = lk["evidence"]["leaked"]["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "exactly the planted leak\n{lk:#}");
        assert_eq!(items[0]["path"], leaked.to_str().unwrap(), "{lk:#}");
        assert_eq!(lk["evidence"]["bytes"], 100 * 1024, "{lk:#}");
        assert!(
            lk["remedy"].as_str().unwrap().contains("quarantine"),
            "{lk:#}"
        );
    }

    let tmp = check(&doc, "storage.tmp");
    assert_eq!(tmp["status"], "warning", "{tmp:#}");
    let ev = &tmp["evidence"];
    assert_eq!(
        ev["tmp_old"]["path"],
        root.join("tmp-old").to_str().unwrap(),
        "{tmp:#}"
    );
    let unheld: Vec<&str> = ev["tmp_unheld"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        unheld,
        [stale.to_str().unwrap()],
        "not the young file, not the held one\n{tmp:#}"
    );
    assert_eq!(ev["tmp_held"], 1, "{tmp:#}");
    assert_eq!(ev["tmp_young"], 1, "{tmp:#}");
    assert_eq!(ev["deleted_open_containers"][0], chatty.as_str(), "{tmp:#}");
    let deleted: Vec<&str> = ev["deleted_open"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [log.to_str().unwrap()], "{tmp:#}");
    let summary = tmp["summary"].as_str().unwrap();
    assert!(
        summary.contains("tmp-old") && summary.contains("deleted"),
        "{tmp:#}"
    );
    let remedy = tmp["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("dockhand reap") && remedy.contains(&chatty[..12]),
        "{tmp:#}"
    );

    assert_eq!(status(&doc, "storage.build-cache"), "ok", "{r}");
    r.assert_code(1);
    drop(holder);
}

#[test]
fn build_cache_over_threshold_is_a_warning() {
    let d = TestDaemon::start();
    let ctx = TempDir::new();
    // COPY, not RUN: a RUN step needs a network, and the test daemon runs with --bridge=none.
    // BuildKit resolves busybox:latest from the local store (prefer-local), so no registry.
    ctx.write("payload", vec![b'p'; 64 * 1024]);
    ctx.write("Dockerfile", "FROM busybox:latest\nCOPY payload /payload\n");
    let mut cmd = d.docker_command();
    cmd.env("DOCKER_BUILDKIT", "1")
        .args(["build", "-t", "built:1"])
        .arg(ctx.path());
    let b = run(cmd, DOCKER_TIMEOUT);
    assert!(
        b.success(),
        "BuildKit build against the test daemon failed\n{b}\n--- dockerd.log ---\n{}",
        d.log_tail(30)
    );

    let (r, doc) = doctor(&d.host(), &["storage.build-cache"], None);
    let bc = check(&doc, "storage.build-cache");
    assert_eq!(bc["status"], "ok", "under 10 GiB\n{r}");
    let bytes = bc["evidence"]["bytes"].as_u64().unwrap();
    assert!(bytes > 0, "a build leaves a cache\n{bc:#}");
    assert!(bc["evidence"]["records"].as_u64().unwrap() > 0, "{bc:#}");

    let cfg = ctx.write(
        "config.toml",
        "[checks.\"storage.build-cache\"]\nwarn_bytes = 1\n",
    );
    let (r, doc) = doctor(&d.host(), &["storage.build-cache"], Some(&cfg));
    let bc = check(&doc, "storage.build-cache");
    assert_eq!(bc["status"], "warning", "{r}");
    assert_eq!(bc["evidence"]["bytes"].as_u64().unwrap(), bytes, "{bc:#}");
    assert!(
        bc["remedy"]
            .as_str()
            .unwrap()
            .contains("docker builder prune"),
        "{bc:#}"
    );
    r.assert_code(1);
}
