//! dockhand on whichever engine the run uses (`DOCKHAND_TEST_ENGINE`: 20.10, 26.1, 28.5, or
//! 28.5 with the containerd image store): `df`'s totals — size and reclaimable — agree with the
//! engine's own `/system/df` as the docker CLI counts it, and on a healthy daemon as root the
//! storage checks are never unknown, whichever image store holds the images.
//!
//! One daemon, seeded once (images sharing layers, running and stopped containers with data,
//! a used and an unused volume, BuildKit cache), read by every test here.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::daemon::{DOCKER_TIMEOUT, engine};
use crate::support::{TempDir, TestDaemon, dockhand, run};

static SEEDED: OnceLock<TestDaemon> = OnceLock::new();

unsafe extern "C" {
    fn atexit(cb: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn stop_seeded() {
    if let Some(d) = SEEDED.get() {
        d.stop();
    }
}

/// The seed:
/// - images: `busybox` (imported), `flat:1` (the same tar imported again: one layer, the same
///   diff id as busybox), `app:one` and `app:two` (commits on busybox, one layer each),
///   `app:three` (app:one + one layer), `built:1` (a BuildKit build on busybox);
/// - containers: `runner` (running, app:one, wrote 120 KiB), `stopped` (exited, app:three,
///   wrote 200 KiB), `c1`/`c2`/`c3` (the commits' sources, exited);
/// - volumes: `vol-used` (mounted by runner, 64 KiB) and `vol-unused` (48 KiB);
/// - build cache from the build.
fn seeded() -> &'static TestDaemon {
    SEEDED.get_or_init(|| {
        let d = TestDaemon::builder().daemon_json("{}\n").start();
        seed(&d);
        // SAFETY: `stop_seeded` is an `extern "C" fn()` that never unwinds out (stop reports).
        unsafe {
            atexit(stop_seeded);
        }
        d
    })
}

fn seed(d: &TestDaemon) {
    let ok = |args: &[&str]| d.docker_ok(args);
    let dd = |file: &str, kib: u32| format!("dd if=/dev/urandom of={file} bs=1k count={kib}");
    d.import_busybox("flat:1");
    ok(&["run", "--name", "c1", "busybox", "sh", "-c", &dd("/a", 300)]);
    ok(&["commit", "c1", "app:one"]);
    ok(&["run", "--name", "c2", "busybox", "sh", "-c", &dd("/b", 200)]);
    ok(&["commit", "c2", "app:two"]);
    ok(&["run", "--name", "c3", "app:one", "sh", "-c", &dd("/c", 150)]);
    ok(&["commit", "c3", "app:three"]);
    ok(&[
        "run",
        "--rm",
        "-v",
        "vol-unused:/v",
        "busybox",
        "sh",
        "-c",
        &dd("/v/data", 48),
    ]);
    ok(&[
        "run",
        "-d",
        "--name",
        "runner",
        "-v",
        "vol-used:/v",
        "app:one",
        "sh",
        "-c",
        &format!(
            "{} && {} && echo ready && sleep 600",
            dd("/v/data", 64),
            dd("/w", 120)
        ),
    ]);
    ok(&[
        "run",
        "--name",
        "stopped",
        "app:three",
        "sh",
        "-c",
        &format!("{} && echo a line for the log", dd("/s", 200)),
    ]);
    // The running container has written its data before anything is measured.
    let t0 = std::time::Instant::now();
    while !d.docker_ok(["logs", "runner"]).contains("ready") {
        assert!(t0.elapsed() < DOCKER_TIMEOUT, "runner never got ready");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A BuildKit build: its RUN step leaves cache records the engine counts.
    let ctx = d.dir().join("build-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:latest\nRUN dd if=/dev/urandom of=/built bs=1k count=40\n",
    )
    .unwrap();
    let mut cmd = d.docker_command();
    cmd.env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "none", "-t", "built:1"])
        .arg(&ctx);
    let r = run(cmd, DOCKER_TIMEOUT * 4);
    assert!(
        r.success(),
        "BuildKit build failed\n{r}\n--- dockerd.log ---\n{}",
        d.log_tail(30)
    );
    // The engine sizes build cache records lazily: asked once here, they are settled before
    // the tests compare.
    api(d, "/system/df");
}

/// A raw `GET path` on the daemon's socket: the engine's own figures, exact bytes. The engine
/// computes one `/system/df` at a time and refuses a second meanwhile ("a disk usage operation
/// is already running", as other tests here ask too): asked again then. Under the containerd
/// store, right after a build, its walk may meet a snapshot the build was just removing
/// ("snapshot …-view does not exist"): asked again too, as dockhand's own `/system/df` is.
#[track_caller]
fn api(d: &TestDaemon, path: &str) -> Value {
    let t0 = std::time::Instant::now();
    loop {
        match api_once(d, path) {
            Ok(v) => return v,
            Err(e)
                if (e.contains("already running") || e.contains("does not exist"))
                    && t0.elapsed() < DOCKER_TIMEOUT * 4 =>
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}

fn api_once(d: &TestDaemon, path: &str) -> Result<Value, String> {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(DOCKER_TIMEOUT)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    if !(buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.1 200")) {
        return Err(String::from_utf8_lossy(&buf).into_owned());
    }
    Ok(serde_json::from_slice(&buf[split + 4..]).unwrap())
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned number: {v}"))
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// `got` within `pct` percent of `want`.
#[track_caller]
fn close(what: &str, got: u64, want: u64, pct: f64) {
    let diff = got.abs_diff(want) as f64;
    assert!(
        diff <= want.max(got) as f64 * pct / 100.0,
        "{what} on {}: dockhand says {got}, the engine {want} (±{pct} %)",
        engine().name()
    );
}

/// The engine's `/system/df` as the docker CLI (cli/command/formatter/disk_usage.go) turns it
/// into `docker system df`'s rows: (size, reclaimable) of images, containers, volumes, build
/// cache.
struct CliRows {
    images: (u64, u64),
    containers: (u64, u64),
    volumes: (u64, u64),
    build_cache: (u64, u64),
}

fn cli_rows(e: &Value) -> CliRows {
    let arr = |k: &str| e[k].as_array().cloned().unwrap_or_default();
    let layers = u(&e["LayersSize"]);
    // Images: LayersSize less, over images some container uses, Size - SharedSize (an image
    // whose figures were not computed, -1, is skipped).
    let used: i64 = arr("Images")
        .iter()
        .filter(|im| i(&im["Containers"]) != 0)
        .filter(|im| i(&im["Size"]) != -1 && i(&im["SharedSize"]) != -1)
        .map(|im| i(&im["Size"]) - i(&im["SharedSize"]))
        .sum();
    // Containers: every SizeRw; reclaimable those not running, paused or restarting.
    let cs = arr("Containers");
    let rw = |c: &Value| i(&c["SizeRw"]).max(0) as u64;
    let active = |c: &Value| {
        matches!(
            c["State"].as_str(),
            Some("running" | "paused" | "restarting")
        )
    };
    // Volumes: sizes the driver knows (-1: not); reclaimable those no container references.
    let vs = arr("Volumes");
    let vsize = |v: &Value| i(&v["UsageData"]["Size"]).max(0) as u64;
    // Build cache: shared records are counted by their sharers; reclaimable the ones not in
    // use.
    let bc = arr("BuildCache");
    let bsize = |b: &Value| i(&b["Size"]).max(0) as u64;
    CliRows {
        images: (layers, (layers as i64 - used).max(0) as u64),
        containers: (
            cs.iter().map(rw).sum(),
            cs.iter().filter(|c| !active(c)).map(rw).sum(),
        ),
        volumes: (
            vs.iter().map(vsize).sum(),
            vs.iter()
                .filter(|v| i(&v["UsageData"]["RefCount"]) == 0)
                .map(vsize)
                .sum(),
        ),
        build_cache: (
            bc.iter().filter(|b| b["Shared"] != true).map(bsize).sum(),
            bc.iter()
                .filter(|b| b["Shared"] != true && b["InUse"] != true)
                .map(bsize)
                .sum(),
        ),
    }
}

/// On every engine and store: dockhand df's totals, size and reclaimable, are the engine's.
///
/// Tolerances, each where the two count differently:
/// - on the classic store dockhand reads sizes from the layer store and walks writable layers
///   and volumes itself, where the engine asks the graph driver: within 1 % (as df.rs's own
///   tests), for images' size, containers and volumes;
/// - images' reclaimable on the classic store: dockhand knows each image's layers and counts
///   only those no used image needs; the docker CLI subtracts only each used image's unique
///   bytes, so a base layer that a used image shares with unused ones counts as reclaimable
///   there though removing the unused images cannot free it. dockhand's figure is then at most
///   the engine's, and at least what the unused images alone hold. With the containerd store
///   (and without root) the engine's figures are all there is, and it is the CLI's count,
///   exactly.
#[test]
fn df_totals_and_reclaimable_agree_with_the_engines_system_df() {
    let d = seeded();
    // The engine asked before and after dockhand: BuildKit settles its records' sizes and use
    // in the background after a build, so build cache is compared with either answer.
    let before = cli_rows(&api(d, "/system/df"));
    let r = dockhand(["--host", &d.host(), "df", "--format", "json"]);
    r.assert_code(0);
    let doc = r.json();
    let e = api(d, "/system/df");
    let cli = cli_rows(&e);
    let containerd = engine().containerd_store();
    assert_eq!(
        doc["image_store"],
        if containerd {
            "containerd"
        } else {
            "graphdriver"
        },
        "{r}"
    );
    let pct = if containerd { 0.0 } else { 1.0 };

    // The seed is what it says: shared layers, used and unused images, data everywhere.
    assert!(
        cli.containers.1 > 200 * 1024,
        "stopped containers wrote: {e}"
    );
    assert!(
        cli.volumes.1 >= 48 * 1024,
        "the unused volume holds data: {e}"
    );
    assert!(cli.build_cache.0 > 0, "the build left cache: {e}");

    let im = &doc["images"];
    close("images' size", u(&im["total"]), cli.images.0, pct);
    let reclaimable = u(&im["reclaimable"]);
    if containerd {
        assert_eq!(im["source"], "engine", "{r}");
        assert_eq!(reclaimable, cli.images.1, "images' reclaimable: {r}");
    } else {
        assert_eq!(im["source"], "layerdb", "{r}");
        // The unused images' own bytes, as the engine reports them: a floor.
        let unused_unique: u64 = e["Images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| i(&x["Containers"]) == 0)
            .map(|x| (i(&x["Size"]) - i(&x["SharedSize"]).max(0)).max(0) as u64)
            .sum();
        assert!(
            reclaimable <= cli.images.1 + cli.images.1 / 100
                && reclaimable >= unused_unique - unused_unique / 100,
            "images' reclaimable {reclaimable}: the CLI's {} is the ceiling, the unused images' own {unused_unique} the floor\n{r}",
            cli.images.1
        );
    }
    assert_eq!(
        u(&im["count"]),
        e["Images"].as_array().unwrap().len() as u64,
        "{r}"
    );

    let c = &doc["containers"];
    close("containers' size", u(&c["rw_total"]), cli.containers.0, pct);
    close(
        "containers' reclaimable",
        u(&c["rw_reclaimable"]),
        cli.containers.1,
        pct,
    );
    let v = &doc["volumes"];
    close("volumes' size", u(&v["total"]), cli.volumes.0, pct);
    close(
        "volumes' reclaimable",
        u(&v["reclaimable"]),
        cli.volumes.1,
        pct,
    );
    // Build cache comes from the engine on every store: exact.
    let b = &doc["build_cache"];
    assert_eq!(b["source"], "engine", "{r}");
    let got = (u(&b["total"]), u(&b["reclaimable"]));
    assert!(
        got == cli.build_cache || got == before.build_cache,
        "build cache on {}: dockhand says {got:?}, the engine {:?} before and {:?} after\n{r}",
        engine().name(),
        before.build_cache,
        cli.build_cache
    );

    // The same rows on both stores: logs and leftovers are read from the data root.
    assert_eq!(doc["daemon_files"], true, "{r}");
    let stopped = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "stopped")
        .unwrap_or_else(|| panic!("no row for the stopped container\n{r}"));
    assert!(
        stopped["log"]["bytes"].as_u64().is_some_and(|n| n > 0),
        "the stopped container's json-file log is measured: {stopped}"
    );
    let table = dockhand(["--host", &d.host(), "df"]);
    table.assert_code(0);
    for row in [
        "Images",
        "Containers",
        "Container logs",
        "Local volumes",
        "Build cache",
        "Leftovers",
    ] {
        assert!(
            table
                .stdout
                .lines()
                .any(|l| l.trim_start().starts_with(row)),
            "no {row} row on {}\n{table}",
            engine().name()
        );
    }
}

/// As root on a healthy daemon, whichever store: the storage and log checks judge, none is
/// unknown (the containerd store once said "not readable by this user" of logs and tmp).
#[test]
fn storage_checks_are_never_unknown_as_root_on_this_engine() {
    let d = seeded();
    let ids = [
        "containers.logs",
        "storage.tmp",
        "storage.build-cache",
        "storage.leaked-layers",
        "images.dangling",
        "volumes.dangling",
    ];
    let mut args = vec![
        "--host".to_string(),
        d.host(),
        "doctor".into(),
        "--format".into(),
        "json".into(),
    ];
    for id in ids {
        args.extend(["--check".to_string(), id.to_string()]);
    }
    let r = dockhand(&args);
    let doc = r.json();
    let checks = doc["checks"].as_array().unwrap();
    assert_eq!(checks.len(), ids.len(), "{r}");
    for c in checks {
        assert_ne!(
            c["status"],
            "unknown",
            "{} is unknown on {}: {}\n{r}",
            c["id"],
            engine().name(),
            c["summary"]
        );
    }
}

/// gc protects a base image by the layers the engine reports on either store: `flat:1`'s one
/// layer is the base of `app:one`, which a container uses; no note says chains could not be
/// read.
#[test]
fn gc_protects_base_images_by_the_engines_layers_on_this_engine() {
    let d = seeded();
    let state = TempDir::new();
    let r = crate::support::dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args(["gc", "--images", "--min-age", "0s", "--format", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .run();
    let doc = r.json();
    let notes = doc["notes"].as_array().unwrap();
    assert!(
        !notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("chains could not be read"))),
        "{r}"
    );
    let kept = |name: &str| {
        doc["kept"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["object"] == "image" && k["name"] == name)
            .map(|k| k["rule"].as_str().unwrap_or_default().to_string())
    };
    // flat:1 is the busybox tar imported again: its one layer is the base of app:one, which
    // `runner` uses. No container uses flat:1 itself: only its layers keep it.
    assert_eq!(kept("flat:1").as_deref(), Some("base-image"), "{r}");
    let removed: Vec<&str> = doc["remove"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["object"] == "image")
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert!(!removed.contains(&"busybox:latest"), "{r}");
    assert!(
        removed.contains(&"app:two"),
        "app:two, unused and nobody's base, goes: {r}"
    );
}
