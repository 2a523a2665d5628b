//! `pulls.stalled` against a real pull: Debian's docker-registry on loopback behind a proxy that
//! stops forwarding mid-blob (tests/support/registry.rs), on a throwaway daemon.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::support::registry::{
    BlobFile, FreezableProxy, PullClient, Registry, blob_files, seed_random_image, wait_for_blob,
    wait_for_blob_stall, wait_for_no_blob,
};
use crate::support::schema::check;
use crate::support::{Run, TempDir, TestDaemon, dockhand, dockhand_cmd, shared};

const ID: &str = "pulls.stalled";
/// Size of the seeded layer: at the throttled rate below, its download takes ~16 s, far longer
/// than the doctor run that must see it grow.
const LAYER_MIB: u32 = 32;
const RATE: u64 = 2 << 20;

/// `doctor --check pulls.stalled --format json` on `host`, with `config` (else the empty one).
fn run_check(host: &str, config: Option<&std::path::Path>) -> (Run, Value) {
    run_check_within(host, config, "3s")
}

/// [`run_check`] with an engine deadline (`--timeout`) of `timeout`.
fn run_check_within(host: &str, config: Option<&std::path::Path>, timeout: &str) -> (Run, Value) {
    let args = [
        "--host",
        host,
        "--timeout",
        timeout,
        "doctor",
        "--format",
        "json",
        "--check",
        ID,
    ];
    let r = match config {
        Some(c) => dockhand_cmd().config(c).args(args).run(),
        None => dockhand(args),
    };
    let doc = r.json();
    let c = check(&doc, ID).clone();
    (r, c)
}

#[track_caller]
fn assert_status(r: &Run, c: &Value, want: &str) {
    assert_eq!(c["status"], want, "{c:#}\n{r}");
}

fn age(f: &BlobFile) -> Duration {
    SystemTime::now()
        .duration_since(f.modified)
        .unwrap_or_default()
}

#[test]
fn pulls_stalled_ok_and_fast_without_downloads() {
    let d = shared();
    // A sampling window far longer than any read (the deadline of 10 s leaves room for all of
    // it inside the probe's): a run that sampled would show it.
    let tmp = TempDir::new();
    let config = tmp.write(
        "config.toml",
        format!("[checks.\"{ID}\"]\nsample_ms = 20000\n"),
    );
    let (r, c) = run_check_within(&d.host(), Some(&config), "10s");
    r.assert_code(0);
    assert_status(&r, &c, "ok");
    let ev = &c["evidence"];
    assert_eq!(ev["pid"], d.pid(), "{c:#}");
    assert_eq!(ev["downloads"], serde_json::json!([]), "{c:#}");
    assert_eq!(
        ev["tmp_dir"],
        d.data_root().join("tmp").to_str().unwrap(),
        "{c:#}"
    );
    assert!(c["remedy"].is_null(), "{c:#}");
    // Nothing to sample, so no waiting.
    let elapsed = c["elapsed_ms"].as_f64().unwrap();
    eprintln!("pulls.stalled on a clean daemon: {elapsed} ms");
    assert!(
        elapsed < 20_000.0,
        "took {elapsed} ms: it waited out the sampling window\n{c:#}"
    );
}

#[test]
fn pulls_stalled_sees_a_growing_pull_then_reports_it_frozen_mid_blob() {
    // Under the containerd image store the download is an ingest containerd holds open, not a
    // file in dockerd's tmp: `blob_files` lists either, and the check sees either.
    let t0 = Instant::now();
    let registry = Registry::start();
    let proxy = FreezableProxy::start(registry.addr());
    let d = TestDaemon::start();
    // The reference names the proxy, so push and pull both go through it.
    let image = format!("{}/big:1", proxy.addr());
    seed_random_image(&d, &image, LAYER_MIB);
    assert!(
        proxy.forwarded_request_bytes() > u64::from(LAYER_MIB) << 20,
        "the push did not go through the proxy"
    );
    let data_root = d.data_root();
    eprintln!("seeded {image} in {:?}", t0.elapsed());

    // A slow but healthy pull: ok, growing.
    proxy.throttle(RATE);
    let pull = PullClient::start(&d, &image);
    let blob = wait_for_blob(&data_root, 1 << 20, Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "no GetImageBlob file grew past 1 MiB under {}\n--- pull ---\n{}\n--- dockerd.log ---\n{}",
            data_root.display(),
            pull.output(),
            d.log_tail(30)
        )
    });
    let (r, c) = run_check(&d.host(), None);
    r.assert_code(0);
    assert_status(&r, &c, "ok");
    let dl = &c["evidence"]["downloads"][0];
    assert_eq!(dl["path"], blob.path.to_str().unwrap(), "{c:#}");
    assert_eq!(dl["state"], "growing", "{c:#}");
    assert!(dl["bytes_per_s"].as_f64().unwrap() > 0.0, "{c:#}");
    assert!(c["summary"].as_str().unwrap().contains("growing"), "{c:#}");
    eprintln!("growing seen at {:?}: {}", t0.elapsed(), c["summary"]);

    // The proxy stops forwarding mid-blob: dockerd keeps the file open at a fixed size.
    proxy.freeze();
    let files = wait_for_blob_stall(
        &data_root,
        Duration::from_millis(300),
        Duration::from_secs(10),
    )
    .expect("the download file kept changing after the freeze");
    assert!(
        pull.try_wait().is_none(),
        "the pull ended: {}",
        pull.output()
    );
    let blob = files
        .iter()
        .find(|f| f.path == blob.path)
        .cloned()
        .expect("the download file is gone");
    assert!(
        blob.bytes < u64::from(LAYER_MIB) << 20,
        "the blob completed before the freeze ({} bytes)",
        blob.bytes
    );

    // Just frozen, with the default stalled_after_s (30): not yet a stall.
    let (r, c) = run_check(&d.host(), None);
    r.assert_code(0);
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["downloads"][0]["state"], "idle", "{c:#}");

    // With stalled_after_s = 1 and the file untouched for longer: critical, naming the file.
    let tmp = TempDir::new();
    let config = tmp.write(
        "config.toml",
        format!("[checks.\"{ID}\"]\nstalled_after_s = 1\n"),
    );
    while age(&blob) < Duration::from_millis(1100) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (r, c) = run_check(&d.host(), Some(&config));
    r.assert_code(2);
    assert_status(&r, &c, "critical");
    let summary = c["summary"].as_str().unwrap();
    assert!(summary.contains(blob.path.to_str().unwrap()), "{c:#}");
    let ev = &c["evidence"];
    assert_eq!(ev["pid"], d.pid(), "{c:#}");
    let dl = &ev["downloads"][0];
    assert_eq!(dl["path"], blob.path.to_str().unwrap(), "{c:#}");
    assert_eq!(dl["state"], "stalled", "{c:#}");
    assert_eq!(dl["bytes"], blob.bytes, "{c:#}");
    assert_eq!(dl["position"], blob.bytes, "{c:#}");
    assert!(dl["idle_s"].as_f64().unwrap() >= 1.0, "{c:#}");
    let client = ev["pull_clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pull.pid().unwrap())
        .unwrap_or_else(|| panic!("the docker pull client is not named\n{c:#}"));
    assert_eq!(client["image"], image.as_str(), "{c:#}");
    let remedy = c["remedy"].as_str().unwrap();
    assert!(remedy.contains("dockhand recover"), "{remedy}");
    assert!(
        remedy.contains(&format!("dockhand pull {image}")),
        "{remedy}"
    );
    let runs: Vec<String> = c["fix"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "run")
        .map(|s| {
            let argv: Vec<&str> = s["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            argv.join(" ")
        })
        .collect();
    assert_eq!(
        runs,
        vec![
            format!("kill -USR1 {}", d.pid()),
            "dockhand recover".to_string(),
            format!("dockhand pull {image}"),
        ],
        "{c:#}"
    );
    eprintln!("stall reported at {:?}: {}", t0.elapsed(), c["summary"]);

    // The daemon itself frozen: /proc still tells, without the engine. With an engine deadline
    // of 10 s, a check that asked the engine could not answer before it.
    d.freeze();
    let (r, c) = run_check_within(&d.host(), Some(&config), "10s");
    d.thaw();
    r.assert_code(2);
    assert_status(&r, &c, "critical");
    assert_eq!(
        c["evidence"]["downloads"][0]["path"],
        blob.path.to_str().unwrap(),
        "{c:#}"
    );
    let elapsed = c["elapsed_ms"].as_f64().unwrap();
    eprintln!("pulls.stalled against the frozen daemon: {elapsed} ms");
    assert!(
        elapsed < 10_000.0,
        "took {elapsed} ms against a frozen daemon: it waited for the engine\n{c:#}"
    );

    // The client goes away: the engine cancels the transfer and removes the file.
    pull.kill();
    assert!(
        wait_for_no_blob(&data_root, Duration::from_secs(15)),
        "dockerd kept {:?} after the pull client was killed\n{}",
        blob_files(&data_root),
        d.log_tail(30)
    );
    let (r, c) = run_check(&d.host(), Some(&config));
    r.assert_code(0);
    assert_status(&r, &c, "ok");
    assert_eq!(c["evidence"]["downloads"], serde_json::json!([]), "{c:#}");
    proxy.thaw();

    // Not root: dockerd's descriptors are out of sight, so the check cannot tell.
    let _dir = crate::support::ModeGuard::set(d.dir(), 0o711);
    let _sock = crate::support::ModeGuard::set(&d.socket(), 0o666);
    let r = dockhand_cmd()
        .args([
            "--host",
            &d.host(),
            "doctor",
            "--format",
            "json",
            "--check",
            ID,
        ])
        .run_as_nobody();
    r.assert_code(3);
    let c = check(&r.json(), ID).clone();
    assert_status(&r, &c, "unknown");
    assert!(c["remedy"].as_str().unwrap().contains("as root"), "{c:#}");
    eprintln!("done in {:?}", t0.elapsed());
}
