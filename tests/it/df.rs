//! `dockhand df`: the storage map checked against what the layer store records, what is on disk
//! and what the engine itself says (`/system/df`, `SizeRw`, `docker image inspect`).
//!
//! Most tests read one seeded daemon ([`fixture`]): started and seeded once, read-only afterwards,
//! stopped at exit. The leak scenario changes its data root, so it has a daemon of its own.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::DOCKER_TIMEOUT;
use crate::support::{Run, TempDir, TestDaemon, dockhand, dockhand_cmd, run};

// ------------------------------------------------------------------------------------ helpers --

/// `dockhand --host H df --format json EXTRA…`, exit 0, parsed.
#[track_caller]
fn df_json(host: &str, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["--host", host, "df", "--format", "json"];
    args.extend_from_slice(extra);
    let r = dockhand(args);
    r.assert_code(0);
    let doc = r.json();
    (r, doc)
}

/// A raw `GET path` on the daemon's socket (HTTP/1.0: no chunking, the body ends at EOF); the
/// engine's own figures, in exact bytes, without the CLI's rounding.
#[track_caller]
fn api(d: &TestDaemon, path: &str) -> Value {
    let mut s = UnixStream::connect(d.socket())
        .unwrap_or_else(|e| panic!("connect {}: {e}", d.socket().display()));
    s.set_read_timeout(Some(DOCKER_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(DOCKER_TIMEOUT)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP header end in {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..split]);
    assert!(
        head.lines().next().is_some_and(|l| l.contains(" 200 ")),
        "GET {path}: {head}"
    );
    serde_json::from_slice(&buf[split + 4..])
        .unwrap_or_else(|e| panic!("GET {path}: body is not JSON: {e}"))
}

/// `a` within `pct` percent of `b` (both 0 counts as equal).
#[track_caller]
fn assert_close(what: &str, got: u64, want: u64, pct: f64) {
    let diff = got.abs_diff(want) as f64;
    assert!(
        diff <= want.max(got) as f64 * pct / 100.0,
        "{what}: dockhand says {got}, expected {want} (±{pct} %)"
    );
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned number: {v}"))
}

fn items<'a>(doc: &'a Value, part: &str) -> &'a Vec<Value> {
    doc[part]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{part}.items is not an array"))
}

/// The container row named `name`.
#[track_caller]
fn container<'a>(doc: &'a Value, name: &str) -> &'a Value {
    items(doc, "containers")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in the report"))
}

/// A process the test started, killed (by its pid) and reaped on drop.
struct Held(Child);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `docker ARGS` against `d`; Ok(stdout) or the whole failure.
fn docker_try(d: &TestDaemon, args: &[&str]) -> Result<String, String> {
    let r = d.docker(args);
    if r.success() {
        Ok(r.stdout.trim().to_owned())
    } else {
        Err(format!("{r}"))
    }
}

/// Runs `jobs` (each a list of docker invocations, run in order) on 4 threads.
fn docker_parallel(d: &TestDaemon, jobs: Vec<Vec<Vec<String>>>) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    for call in job {
                        let args: Vec<&str> = call.iter().map(String::as_str).collect();
                        if let Err(e) = docker_try(d, &args) {
                            failures.lock().unwrap().push(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    let f = failures.into_inner().unwrap();
    assert!(
        f.is_empty(),
        "seeding failed:\n{}\n--- dockerd.log ---\n{}",
        f.join("\n"),
        d.log_tail(30)
    );
}

// ------------------------------------------- the layer store, read independently of dockhand --

#[derive(Debug)]
struct Layer {
    diff: String,
    parent: Option<String>,
    size: u64,
    cache_id: String,
}

fn read_opt(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().trim_start_matches("sha256:").to_owned())
}

/// `image/overlay2/layerdb/sha256/<chain>/{diff,parent,size,cache-id}`.
fn layerdb(root: &Path) -> HashMap<String, Layer> {
    let dir = root.join("image/overlay2/layerdb/sha256");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let p = e.path();
            let layer = Layer {
                diff: read_opt(&p.join("diff")).unwrap(),
                parent: read_opt(&p.join("parent")),
                size: read_opt(&p.join("size")).unwrap().parse().unwrap(),
                cache_id: read_opt(&p.join("cache-id")).unwrap(),
            };
            (e.file_name().to_string_lossy().into_owned(), layer)
        })
        .collect()
}

/// An image's chain ids, base first: its config's rootfs.diff_ids, each matched to the layer
/// with that diff whose parent is the previous chain id.
fn chain_of(root: &Path, layers: &HashMap<String, Layer>, image_id: &str) -> Vec<String> {
    let cfg = root
        .join("image/overlay2/imagedb/content/sha256")
        .join(image_id.trim_start_matches("sha256:"));
    let cfg: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    let mut chain: Vec<String> = Vec::new();
    for d in cfg["rootfs"]["diff_ids"].as_array().unwrap() {
        let d = d.as_str().unwrap().trim_start_matches("sha256:");
        let (id, _) = layers
            .iter()
            .find(|(_, l)| l.diff == d && l.parent.as_ref() == chain.last())
            .unwrap_or_else(|| panic!("image {image_id}: no layer for diff {d}"));
        chain.push(id.clone());
    }
    chain
}

/// overlay2 directory names the layer store references: layers' cache-ids, containers'
/// mount-ids and init-ids.
fn referenced_dirs(root: &Path) -> HashSet<String> {
    let mut set: HashSet<String> = layerdb(root).into_values().map(|l| l.cache_id).collect();
    for e in std::fs::read_dir(root.join("image/overlay2/layerdb/mounts")).unwrap() {
        let p = e.unwrap().path();
        set.insert(read_opt(&p.join("mount-id")).unwrap());
        if let Some(i) = read_opt(&p.join("init-id")) {
            set.insert(i);
        }
    }
    set
}

/// A container's writable layer on disk: `overlay2/<mount-id>/diff`.
fn diff_dir(root: &Path, container_id: &str) -> PathBuf {
    let m = read_opt(
        &root
            .join("image/overlay2/layerdb/mounts")
            .join(container_id)
            .join("mount-id"),
    )
    .unwrap();
    root.join("overlay2").join(m).join("diff")
}

/// Apparent bytes of everything but directories under `dir` (regular files, symlinks, whiteout
/// devices), each inode once — what `find DIR ! -type d` with `stat -c %s`, hard links
/// deduplicated, would sum.
fn apparent_bytes(dir: &Path) -> u64 {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

/// Whether this run's engine keeps images in the graph driver: the tests that read its layer
/// store and overlay2 directories themselves make sense there only, and say so elsewhere.
fn classic_store(test: &str) -> bool {
    let e = crate::support::daemon::engine();
    if e.containerd_store() {
        eprintln!(
            "skipped: {test} reads the graph driver's layer store; engine {} uses the containerd image store (tests/it/engines.rs covers it)",
            e.name()
        );
    }
    !e.containerd_store()
}

// ------------------------------------------------------------------------ the seeded daemon --

static FIXTURE: OnceLock<TestDaemon> = OnceLock::new();

unsafe extern "C" {
    fn atexit(cb: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn stop_fixture() {
    if let Some(d) = FIXTURE.get() {
        d.stop();
    }
}

/// One daemon for the read-only tests, seeded once:
/// - images `app:one` and `app:two` (busybox + one layer each) and `app:three` (app:one + one
///   more layer), plus `built:1` from a BuildKit build (which leaves build cache);
/// - containers `c1`, `c2`, `c3` (the commits' sources), `w-files` (a hard link, a symlink, a
///   whiteout, 300 log lines), `w-small` (60 small files in nested dirs), `w-limited`
///   (`max-size=1m`), `anon` (an anonymous volume with data), `sleeper` and `sleeper2` (running),
///   `created` (never started);
/// - volumes `vol-used` (100 KiB, mounted by sleeper), `vol-unused` (50 KiB), `vol-empty`, the
///   anonymous volume of `anon` and an unused anonymous one (30 KiB).
fn fixture() -> &'static TestDaemon {
    FIXTURE.get_or_init(|| {
        // No daemon-wide log options: every container but w-limited logs without max-size.
        let d = TestDaemon::builder().daemon_json("{}\n").start();
        seed_fixture(&d);
        // SAFETY: `stop_fixture` is an `extern "C" fn()` that never unwinds out (stop reports).
        unsafe {
            atexit(stop_fixture);
        }
        d
    })
}

const W_FILES_SCRIPT: &str = "busybox mkdir -p /data/sub/deeper \
    && dd if=/dev/urandom of=/data/big bs=1k count=1024 2>/dev/null \
    && busybox ln /data/big /data/big.link \
    && busybox ln -s /data/big /data/sym \
    && echo -n x > /data/one \
    && dd if=/dev/urandom of=/data/sub/deeper/mid bs=4096 count=3 2>/dev/null \
    && busybox rm /bin/cat \
    && i=0 && while [ $i -lt 300 ]; do echo log line $i; i=$((i+1)); done";
/// What `W_FILES_SCRIPT` leaves in the writable layer: big once (its hard link shares the
/// inode), the symlink's target path, one byte, mid; the whiteout for /bin/cat is 0 bytes.
const W_FILES_BYTES: u64 = 1024 * 1024 + "/data/big".len() as u64 + 1 + 3 * 4096;

fn seed_fixture(d: &TestDaemon) {
    let ok = |args: &[&str]| d.docker_ok(args);
    let dd = |file: &str, kib: u32| format!("dd if=/dev/urandom of={file} bs=1k count={kib}");
    ok(&["run", "--name", "c1", "busybox", "sh", "-c", &dd("/a", 300)]);
    ok(&["commit", "c1", "app:one"]);
    ok(&["run", "--name", "c2", "busybox", "sh", "-c", &dd("/b", 200)]);
    ok(&["commit", "c2", "app:two"]);
    ok(&["run", "--name", "c3", "app:one", "sh", "-c", &dd("/c", 150)]);
    ok(&["commit", "c3", "app:three"]);
    ok(&[
        "run",
        "--name",
        "w-files",
        "busybox",
        "sh",
        "-c",
        W_FILES_SCRIPT,
    ]);
    let small = "i=0; while [ $i -lt 60 ]; do busybox mkdir -p /s/$((i % 7))/x; \
        dd if=/dev/urandom of=/s/$((i % 7))/x/f$i bs=$((i * 37 + 1)) count=1 2>/dev/null; \
        echo wrote $i; i=$((i+1)); done";
    ok(&["run", "--name", "w-small", "busybox", "sh", "-c", small]);
    let limited = format!(
        "{} 2>/dev/null; i=0; while [ $i -lt 2000 ]; do echo limited line $i; i=$((i+1)); done",
        dd("/l", 64)
    );
    ok(&[
        "run",
        "--name",
        "w-limited",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        &limited,
    ]);
    ok(&[
        "run",
        "--rm",
        "-v",
        "vol-used:/v",
        "busybox",
        "sh",
        "-c",
        &dd("/v/data", 100),
    ]);
    ok(&[
        "run",
        "--rm",
        "-v",
        "vol-unused:/v",
        "busybox",
        "sh",
        "-c",
        &dd("/v/data", 50),
    ]);
    ok(&["volume", "create", "vol-empty"]);
    ok(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        &dd("/anon/x", 70),
    ]);
    ok(&[
        "run",
        "--name",
        "anon2",
        "-v",
        "/anon2",
        "busybox",
        "sh",
        "-c",
        &dd("/anon2/y", 30),
    ]);
    ok(&["rm", "anon2"]); // without -v: its anonymous volume stays, unused
    ok(&[
        "run",
        "-d",
        "--name",
        "sleeper",
        "-v",
        "vol-used:/v",
        "busybox",
        "sleep",
        "300",
    ]);
    ok(&["run", "-d", "--name", "sleeper2", "app:two", "sleep", "300"]);
    ok(&["create", "--name", "created", "app:three", "true"]);

    // A BuildKit build: a RUN step whose layer and cache records the engine keeps.
    let ctx = d.dir().join("build-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:latest\nRUN dd if=/dev/urandom of=/built bs=1k count=50\n",
    )
    .unwrap();
    std::fs::write(ctx.join("payload"), vec![b'p'; 10_000]).unwrap();
    let mut cmd = d.docker_command();
    cmd.env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "none", "-t", "built:1"])
        .arg(&ctx);
    let r = run(cmd, DOCKER_TIMEOUT);
    assert!(
        r.success(),
        "BuildKit build failed\n{r}\n--- dockerd.log ---\n{}",
        d.log_tail(30)
    );
}

// -------------------------------------------------------------------------- the JSON schema --

/// The shape of a `dockhand.df/v1` document, for the hand validator.
enum T {
    Str,
    U64,
    I64,
    Num,
    Bool,
    Null(Box<T>),
    Arr(Box<T>),
    Obj(Vec<(&'static str, T)>),
}

fn null(t: T) -> T {
    T::Null(Box::new(t))
}

fn arr(t: T) -> T {
    T::Arr(Box::new(t))
}

fn df_schema() -> T {
    use T::*;
    let tmp_entry = || {
        Obj(vec![
            ("path", Str),
            ("bytes", U64),
            ("open", Bool),
            ("age_s", U64),
        ])
    };
    let part = |extra: Vec<(&'static str, T)>, item: T| {
        let mut f = vec![
            ("count", U64),
            ("active", U64),
            ("total", U64),
            ("reclaimable", U64),
        ];
        f.extend(extra);
        f.push(("items", arr(item)));
        Obj(f)
    };
    Obj(vec![
        ("schema", Str),
        ("version", Str),
        ("started_at", Str),
        ("elapsed_ms", Num),
        ("endpoint", Str),
        ("data_root", Str),
        ("driver", Str),
        ("image_store", Str),
        ("source", Str),
        ("daemon_files", Bool),
        (
            "filesystem",
            null(Obj(vec![
                ("path", Str),
                ("mount_point", Str),
                ("fs_type", Str),
                ("total_bytes", U64),
                ("used_bytes", U64),
                ("free_bytes", U64),
                ("used_percent", Num),
                ("inodes_total", U64),
                ("inodes_used", U64),
                ("inodes_used_percent", Num),
            ])),
        ),
        (
            "images",
            part(
                vec![
                    ("dangling", U64),
                    ("shared", U64),
                    ("unique", U64),
                    ("source", Str),
                ],
                Obj(vec![
                    ("id", Str),
                    ("tags", arr(Str)),
                    ("created", I64),
                    ("size", U64),
                    ("shared", U64),
                    ("unique", U64),
                    ("containers", U64),
                    ("dangling", Bool),
                    ("layers", U64),
                ]),
            ),
        ),
        (
            "containers",
            Obj(vec![
                ("count", U64),
                ("active", U64),
                ("rw_total", U64),
                ("rw_reclaimable", U64),
                ("log_total", U64),
                ("log_reclaimable", U64),
                ("unbounded_logs", U64),
                (
                    "items",
                    arr(Obj(vec![
                        ("id", Str),
                        ("name", Str),
                        ("image", Str),
                        ("state", Str),
                        ("created", I64),
                        ("rw_bytes", null(U64)),
                        ("rw_complete", Bool),
                        (
                            "log",
                            null(Obj(vec![
                                ("driver", Str),
                                ("bytes", U64),
                                ("files", arr(Str)),
                                ("max_size", null(Str)),
                                ("max_file", null(Str)),
                            ])),
                        ),
                    ])),
                ),
            ]),
        ),
        (
            "volumes",
            part(
                vec![],
                Obj(vec![
                    ("name", Str),
                    ("driver", Str),
                    ("anonymous", Bool),
                    ("containers", U64),
                    ("size", null(U64)),
                    ("complete", Bool),
                ]),
            ),
        ),
        (
            "build_cache",
            Obj(vec![
                ("count", U64),
                ("active", U64),
                ("total", U64),
                ("reclaimable", U64),
                ("source", Str),
            ]),
        ),
        (
            "leftovers",
            Obj(vec![
                ("tmp", arr(tmp_entry())),
                ("tmp_old", null(tmp_entry())),
                (
                    "leaked_layers",
                    arr(Obj(vec![
                        ("path", Str),
                        ("removing", Bool),
                        ("age_s", U64),
                        ("bytes", U64),
                        ("complete", Bool),
                    ])),
                ),
                (
                    "deleted_open",
                    arr(Obj(vec![
                        ("pid", I64),
                        ("fd", U64),
                        ("path", Str),
                        ("bytes", U64),
                    ])),
                ),
                ("total", U64),
                ("reclaimable", U64),
                ("leaked_scan", Str),
            ]),
        ),
        ("notes", arr(Str)),
        ("lower_bound", Bool),
    ])
}

fn check_type(v: &Value, t: &T, path: &str, errs: &mut Vec<String>) {
    let ok = match t {
        T::Str => v.is_string(),
        T::U64 => v.is_u64(),
        T::I64 => v.is_i64() || v.is_u64(),
        T::Num => v.is_number(),
        T::Bool => v.is_boolean(),
        T::Null(inner) => {
            if !v.is_null() {
                check_type(v, inner, path, errs);
            }
            true
        }
        T::Arr(inner) => match v.as_array() {
            Some(a) => {
                for (i, x) in a.iter().enumerate() {
                    check_type(x, inner, &format!("{path}[{i}]"), errs);
                }
                true
            }
            None => false,
        },
        T::Obj(fields) => match v.as_object() {
            Some(m) => {
                for (k, ft) in fields {
                    match m.get(*k) {
                        Some(x) => check_type(x, ft, &format!("{path}.{k}"), errs),
                        None => errs.push(format!("{path}.{k}: missing")),
                    }
                }
                true
            }
            None => false,
        },
    };
    if !ok {
        let want = match t {
            T::Str => "string",
            T::U64 => "unsigned integer",
            T::I64 => "integer",
            T::Num => "number",
            T::Bool => "bool",
            T::Null(_) => "null or value",
            T::Arr(_) => "array",
            T::Obj(_) => "object",
        };
        errs.push(format!("{path}: expected {want}, got {v}"));
    }
}

/// Every documented field present with its type, plus the fixed values and the sums that tie
/// the parts together.
fn validate_df(doc: &Value) -> Result<(), String> {
    let mut errs = Vec::new();
    check_type(doc, &df_schema(), "$", &mut errs);
    if errs.is_empty() {
        if doc["schema"] != "dockhand.df/v1" {
            errs.push(format!("$.schema: {}", doc["schema"]));
        }
        if !matches!(doc["source"].as_str(), Some("disk" | "engine")) {
            errs.push(format!("$.source: {}", doc["source"]));
        }
        let im = &doc["images"];
        if u(&im["shared"]) + u(&im["unique"]) != u(&im["total"]) {
            errs.push(format!("images: shared + unique != total: {im}"));
        }
        for (i, it) in items(doc, "images").iter().enumerate() {
            if u(&it["shared"]) + u(&it["unique"]) != u(&it["size"]) {
                errs.push(format!("images.items[{i}]: shared + unique != size"));
            }
        }
        for part in ["images", "containers", "volumes", "build_cache"] {
            if u(&doc[part]["active"]) > u(&doc[part]["count"]) {
                errs.push(format!("{part}: active > count"));
            }
        }
        for part in ["images", "containers", "volumes"] {
            if items(doc, part).len() as u64 > u(&doc[part]["count"]) {
                errs.push(format!("{part}: more items than count"));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

#[track_caller]
fn valid(doc: &Value) {
    if let Err(e) = validate_df(doc) {
        panic!("df report does not match the documented schema:\n{e}\n{doc:#}");
    }
}

// -------------------------------------------------------------------------------------- tests --

#[test]
fn df_shared_and_unique_bytes_match_the_layer_store_on_the_classic_store() {
    if !classic_store(stringify!(
        df_shared_and_unique_bytes_match_the_layer_store_on_the_classic_store
    )) {
        return;
    }
    let d = fixture();
    let root = d.data_root();
    let (r, doc) = df_json(&d.host(), &[]);
    valid(&doc);
    assert_eq!(doc["source"], "disk", "{r}");
    assert_eq!(doc["images"]["source"], "layerdb", "{r}");

    // Our own reading of the layer store: each image's chain, how many images use each layer.
    let layers = layerdb(&root);
    let rows = items(&doc, "images");
    let chains: HashMap<String, Vec<String>> = rows
        .iter()
        .map(|i| {
            let id = i["id"].as_str().unwrap().to_owned();
            let chain = chain_of(&root, &layers, &id);
            (id, chain)
        })
        .collect();
    let mut refs: HashMap<&str, usize> = HashMap::new();
    for chain in chains.values() {
        for l in chain.iter().collect::<HashSet<_>>() {
            *refs.entry(l).or_default() += 1;
        }
    }
    let size_of = |l: &str| layers[l].size;
    let api_images = api(d, "/images/json?all=1");
    assert_eq!(rows.len(), api_images.as_array().unwrap().len(), "{r}");
    let api_containers = api(d, "/containers/json?all=1");
    for row in rows {
        let id = row["id"].as_str().unwrap();
        let chain = &chains[id];
        let size: u64 = chain.iter().map(|l| size_of(l)).sum();
        let shared: u64 = chain
            .iter()
            .filter(|l| refs[l.as_str()] > 1)
            .map(|l| size_of(l))
            .sum();
        let what = format!("image {} {id}", row["tags"]);
        assert_eq!(u(&row["size"]), size, "{what}: size");
        assert_eq!(u(&row["shared"]), shared, "{what}: shared");
        assert_eq!(u(&row["unique"]), size - shared, "{what}: unique");
        assert_eq!(u(&row["layers"]), chain.len() as u64, "{what}: layers");
        let engine: u64 = d
            .docker_ok(["image", "inspect", "-f", "{{.Size}}", id])
            .parse()
            .unwrap();
        assert_close(
            &format!("{what}: size vs the engine's"),
            u(&row["size"]),
            engine,
            1.0,
        );
        let users = api_containers
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ImageID"] == id)
            .count();
        assert_eq!(u(&row["containers"]), users as u64, "{what}: containers");
    }

    // The scenario itself: busybox is under everything; app:one's layer is also app:three's.
    let by_tag = |t: &str| {
        rows.iter()
            .find(|i| i["tags"].as_array().unwrap().iter().any(|x| x == t))
            .unwrap_or_else(|| panic!("no image {t}\n{r}"))
    };
    let (bb, one, two, three) = (
        by_tag("busybox:latest"),
        by_tag("app:one"),
        by_tag("app:two"),
        by_tag("app:three"),
    );
    assert_eq!(u(&three["layers"]), 3);
    assert_eq!(u(&bb["unique"]), 0, "busybox's layer is in every image");
    assert_eq!(
        u(&one["unique"]),
        0,
        "app:one's layers are all in app:three"
    );
    assert_eq!(u(&one["shared"]), u(&one["size"]));
    assert_close("app:two's own layer", u(&two["unique"]), 200 * 1024, 1.0);
    assert_close(
        "app:three's own layer",
        u(&three["unique"]),
        150 * 1024,
        1.0,
    );
    assert_eq!(
        u(&three["shared"]),
        u(&one["size"]),
        "app:three shares exactly app:one's chain"
    );

    // Totals: each distinct layer once, as the engine's LayersSize.
    let distinct: HashSet<&String> = chains.values().flatten().collect();
    let total: u64 = distinct.iter().map(|l| size_of(l)).sum();
    assert_eq!(u(&doc["images"]["total"]), total, "images.total");
    let shared_total: u64 = distinct
        .iter()
        .filter(|l| refs[l.as_str()] > 1)
        .map(|l| size_of(l))
        .sum();
    assert_eq!(u(&doc["images"]["shared"]), shared_total, "images.shared");
    let engine = api(d, "/system/df");
    assert_close(
        "images.total vs /system/df LayersSize",
        total,
        u(&engine["LayersSize"]),
        1.0,
    );
}

#[test]
fn df_writable_layers_and_logs_agree_with_du_on_the_classic_store() {
    if !classic_store(stringify!(
        df_writable_layers_and_logs_agree_with_du_on_the_classic_store
    )) {
        return;
    }
    let d = fixture();
    let root = d.data_root();
    let (r, doc) = df_json(&d.host(), &[]);
    valid(&doc);
    let engine = api(d, "/containers/json?all=1&size=1");
    let engine = engine.as_array().unwrap();
    let rows = items(&doc, "containers");
    assert_eq!(rows.len(), engine.len(), "{r}");
    let mut unbounded = 0;
    for row in rows {
        let id = row["id"].as_str().unwrap();
        let what = format!("container {} ({id})", row["name"]);
        // Writable layer: our own walk of <mount-id>/diff, and the engine's SizeRw.
        let rw = u(&row["rw_bytes"]);
        assert_eq!(row["rw_complete"], true, "{what}");
        let on_disk = apparent_bytes(&diff_dir(&root, id));
        assert_close(&format!("{what}: rw_bytes vs find+stat"), rw, on_disk, 1.0);
        let e = engine.iter().find(|c| c["Id"] == id).unwrap();
        let size_rw = e["SizeRw"].as_u64().unwrap_or(0);
        assert_close(&format!("{what}: rw_bytes vs SizeRw"), rw, size_rw, 1.0);

        // Log: the json-file log and its rotations, byte for byte.
        let log = &row["log"];
        assert_eq!(log["driver"], "json-file", "{what}");
        let dir = root.join("containers").join(id);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{id}-json.log"))
            })
            .collect();
        files.sort();
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        assert_eq!(u(&log["bytes"]), bytes, "{what}: log bytes");
        let listed: Vec<PathBuf> = log["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| PathBuf::from(f.as_str().unwrap()))
            .collect();
        assert_eq!(listed, files, "{what}: log files");
        if log["max_size"].is_null() {
            unbounded += 1;
        }
    }
    assert_eq!(u(&doc["containers"]["unbounded_logs"]), unbounded);

    // The ones with a known content.
    let files = container(&doc, "w-files");
    assert_eq!(
        u(&files["rw_bytes"]),
        W_FILES_BYTES,
        "w-files: the hard link counts once, the symlink as its path, the whiteout as 0"
    );
    assert!(
        u(&files["log"]["bytes"]) > 300 * 20,
        "300 log lines: {files}"
    );
    let small = container(&doc, "w-small");
    let want: u64 = (0..60u64).map(|i| i * 37 + 1).sum();
    assert_eq!(u(&small["rw_bytes"]), want, "w-small: 60 files");
    let limited = container(&doc, "w-limited");
    assert_eq!(limited["log"]["max_size"], "1m", "{limited}");
    assert_eq!(limited["log"]["max_file"], "2", "{limited}");
    assert!(u(&limited["log"]["bytes"]) > 2000 * 20, "{limited}");
    assert_eq!(container(&doc, "created")["rw_bytes"], 0);
    assert_eq!(container(&doc, "sleeper")["state"], "running");
    assert_eq!(
        u(&doc["containers"]["unbounded_logs"]),
        rows.len() as u64 - 1,
        "only w-limited has max-size"
    );
    let rw_sum: u64 = rows.iter().map(|c| u(&c["rw_bytes"])).sum();
    assert_eq!(u(&doc["containers"]["rw_total"]), rw_sum);
    let log_sum: u64 = rows.iter().map(|c| u(&c["log"]["bytes"])).sum();
    assert_eq!(u(&doc["containers"]["log_total"]), log_sum);
}

#[test]
fn df_reports_leaked_layer_and_stale_tmp_old_and_nothing_referenced_on_the_classic_store() {
    if !classic_store(stringify!(
        df_reports_leaked_layer_and_stale_tmp_old_and_nothing_referenced_on_the_classic_store
    )) {
        return;
    }
    let d = TestDaemon::start();
    let root = d.data_root();
    let seed = TempDir::new();

    // 30 images, each busybox plus a file of its own, committed from containers never started.
    let mut jobs: Vec<Vec<Vec<String>>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    for i in 0..30 {
        let f = seed.write(format!("f{i}"), vec![b'a' + (i % 26) as u8; 1024 * (i + 1)]);
        let name = format!("mk{i}");
        jobs.push(vec![
            s(&["create", "--name", &name, "busybox", "true"]),
            s(&["cp", f.to_str().unwrap(), &format!("{name}:/payload")]),
            s(&["commit", &name, &format!("many:{i}")]),
            s(&["rm", &name]),
        ]);
    }
    docker_parallel(&d, jobs);
    // 40 containers: running, exited after writing, exited with a named volume, created with an
    // anonymous volume.
    let mut jobs: Vec<Vec<Vec<String>>> = Vec::new();
    for j in 0..40 {
        let (name, image) = (format!("ctr{j}"), format!("many:{}", j % 30));
        let write = format!("dd if=/dev/urandom of=/out bs=1k count={}", j + 1);
        let call = match j % 4 {
            0 => s(&["run", "-d", "--name", &name, &image, "sleep", "300"]),
            1 => s(&["run", "--name", &name, &image, "sh", "-c", &write]),
            2 => s(&[
                "run",
                "--name",
                &name,
                "-v",
                &format!("v{j}:/v"),
                &image,
                "sh",
                "-c",
                "dd if=/dev/urandom of=/v/x bs=1k count=8",
            ]),
            _ => s(&["create", "--name", &name, "-v", "/data", &image, "true"]),
        };
        jobs.push(vec![call]);
    }
    docker_parallel(&d, jobs);

    // Everything the layer store references, made old: a scan that misses a reference reports it.
    let referenced = referenced_dirs(&root);
    assert!(
        referenced.len() >= 31 + 2 * 40,
        "{} referenced dirs",
        referenced.len()
    );
    let ov = root.join("overlay2");
    let mut touch = Command::new("touch");
    touch.args(["-d", "2 hours ago"]);
    for name in &referenced {
        assert!(ov.join(name).is_dir(), "layerdb names {name}, not on disk");
        touch.arg(ov.join(name));
    }
    // The planted leak: 100 KiB in a directory nothing references, two hours old.
    let hex = |seed: u128| format!("{:032x}{:032x}", seed, seed.wrapping_mul(0x9e37_79b9));
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let leaked = ov.join(hex(t));
    std::fs::create_dir_all(leaked.join("diff")).unwrap();
    std::fs::write(leaked.join("diff/junk"), vec![7u8; 100 * 1024]).unwrap();
    touch.arg(&leaked);
    run(touch, DOCKER_TIMEOUT).assert_code(0);
    // A fresh one: maybe a pull registering its layer; inside the grace period.
    let fresh = ov.join(hex(t + 1));
    std::fs::create_dir_all(fresh.join("diff")).unwrap();
    std::fs::write(fresh.join("diff/new"), vec![1u8; 4096]).unwrap();
    // A lingering tmp-old, a tmp file nobody holds, and one a process holds open.
    std::fs::create_dir_all(root.join("tmp-old/sub")).unwrap();
    std::fs::write(root.join("tmp-old/sub/old"), vec![0u8; 10 * 1024]).unwrap();
    let stale = root.join("tmp/stale-upload");
    std::fs::write(&stale, vec![0u8; 20 * 1024]).unwrap();
    let held_path = root.join("tmp/held-upload");
    std::fs::write(&held_path, vec![0u8; 5 * 1024]).unwrap();
    let held = Held(
        Command::new("sh")
            .args(["-c", "exec sleep 60 3<\"$0\""])
            .arg(&held_path)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{}/fd/3", held.0.id())).ok() != Some(held_path.clone())
    {
        assert!(Instant::now() < deadline, "sleep did not open the tmp file");
        std::thread::sleep(Duration::from_millis(10));
    }

    let (r, doc) = df_json(&d.host(), &[]);
    valid(&doc);
    let l = &doc["leftovers"];
    assert_eq!(l["leaked_scan"], "done", "{r}");
    let leaks = l["leaked_layers"].as_array().unwrap();
    assert_eq!(leaks.len(), 1, "exactly the planted leak\n{l:#}");
    assert_eq!(leaks[0]["path"], leaked.to_str().unwrap(), "{l:#}");
    assert_eq!(u(&leaks[0]["bytes"]), 100 * 1024, "{l:#}");
    assert_eq!(leaks[0]["removing"], false);
    assert_eq!(leaks[0]["complete"], true);
    assert!(
        (7000..7400).contains(&u(&leaks[0]["age_s"])),
        "two hours: {l:#}"
    );
    let leaked_paths: HashSet<&str> = leaks.iter().filter_map(|x| x["path"].as_str()).collect();
    for name in &referenced {
        let p = ov.join(name);
        assert!(
            !leaked_paths.contains(p.to_str().unwrap()),
            "{name} is referenced by the layer store, reported leaked"
        );
    }
    assert!(!leaked_paths.contains(fresh.to_str().unwrap()));

    let old = &l["tmp_old"];
    assert_eq!(old["path"], root.join("tmp-old").to_str().unwrap(), "{l:#}");
    assert_eq!(u(&old["bytes"]), 10 * 1024, "{l:#}");
    assert_eq!(old["open"], false);
    let tmp = l["tmp"].as_array().unwrap();
    let entry = |p: &Path| {
        tmp.iter()
            .find(|t| t["path"] == p.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} not listed\n{l:#}", p.display()))
    };
    assert_eq!(entry(&stale)["open"], false, "{l:#}");
    assert_eq!(u(&entry(&stale)["bytes"]), 20 * 1024);
    assert_eq!(
        entry(&held_path)["open"],
        true,
        "held by pid {}",
        held.0.id()
    );
    assert_eq!(u(&entry(&held_path)["bytes"]), 5 * 1024);
    let unheld: u64 = tmp
        .iter()
        .filter(|t| t["open"] == false)
        .map(|t| u(&t["bytes"]))
        .sum();
    assert_eq!(u(&l["reclaimable"]), unheld + 10 * 1024, "{l:#}");
    let deleted: u64 = l["deleted_open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| u(&x["bytes"]))
        .sum();
    let tmp_all: u64 = tmp.iter().map(|t| u(&t["bytes"])).sum();
    assert_eq!(
        u(&l["total"]),
        tmp_all + 10 * 1024 + 100 * 1024 + deleted,
        "{l:#}"
    );

    // The daemon's objects are all there.
    assert_eq!(u(&doc["images"]["count"]), 31, "{r}");
    assert_eq!(u(&doc["containers"]["count"]), 40, "{r}");
    assert_eq!(u(&doc["containers"]["active"]), 10, "{r}");
    assert_eq!(u(&doc["volumes"]["count"]), 20, "{r}");
    drop(held);
}

#[test]
fn df_totals_agree_with_docker_system_df() {
    let d = fixture();
    let (r, doc) = df_json(&d.host(), &[]);
    valid(&doc);
    let e = api(d, "/system/df");
    let arr = |k: &str| e[k].as_array().cloned().unwrap_or_default();

    let images = arr("Images");
    assert_close(
        "images.total vs LayersSize",
        u(&doc["images"]["total"]),
        u(&e["LayersSize"]),
        1.0,
    );
    assert_eq!(u(&doc["images"]["count"]), images.len() as u64, "{r}");
    let active = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    assert_eq!(u(&doc["images"]["active"]), active as u64, "{r}");

    let containers = arr("Containers");
    let size_rw: u64 = containers
        .iter()
        .map(|c| c["SizeRw"].as_u64().unwrap_or(0))
        .sum();
    assert!(size_rw > 1024 * 1024, "the seeded containers wrote: {e}");
    assert_close(
        "containers.rw_total vs sum of SizeRw",
        u(&doc["containers"]["rw_total"]),
        size_rw,
        1.0,
    );
    assert_eq!(u(&doc["containers"]["count"]), containers.len() as u64);
    let running = containers
        .iter()
        .filter(|c| c["State"] == "running")
        .count();
    assert_eq!(u(&doc["containers"]["active"]), running as u64);
    assert_eq!(running, 2);

    let volumes = arr("Volumes");
    let vol_size: u64 = volumes
        .iter()
        .filter_map(|v| v["UsageData"]["Size"].as_u64())
        .sum();
    assert!(vol_size >= 250 * 1024, "the seeded volumes hold data: {e}");
    assert_close(
        "volumes.total vs sum of UsageData.Size",
        u(&doc["volumes"]["total"]),
        vol_size,
        1.0,
    );
    assert_eq!(u(&doc["volumes"]["count"]), volumes.len() as u64);
    let in_use = volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0)
        .count();
    assert_eq!(u(&doc["volumes"]["active"]), in_use as u64);
    assert_eq!(in_use, 2, "vol-used and anon's volume");
    let anon = items(&doc, "volumes")
        .iter()
        .filter(|v| v["anonymous"] == true)
        .count();
    assert_eq!(anon, 2, "{r}");

    // Build cache as the docker CLI counts it: shared records are counted by their sharers.
    let cache = arr("BuildCache");
    assert!(!cache.is_empty(), "the BuildKit build left cache: {e}");
    let bc_total: u64 = cache
        .iter()
        .filter(|c| c["Shared"] != true)
        .map(|c| c["Size"].as_u64().unwrap_or(0))
        .sum();
    let bc = &doc["build_cache"];
    assert_eq!(bc["source"], "engine", "{r}");
    assert_close("build_cache.total", u(&bc["total"]), bc_total, 1.0);
    assert_eq!(u(&bc["count"]), cache.len() as u64);
    let bc_active = cache.iter().filter(|c| c["InUse"] == true).count();
    assert_eq!(u(&bc["active"]), bc_active as u64);

    // The validator itself catches drift.
    let mut broken = doc.clone();
    broken["containers"]["items"][0]
        .as_object_mut()
        .unwrap()
        .remove("rw_bytes");
    broken["images"]["total"] = Value::from("12 MB");
    let err = validate_df(&broken).unwrap_err();
    assert!(
        err.contains("$.containers.items[0].rw_bytes: missing"),
        "{err}"
    );
    assert!(
        err.contains("$.images.total: expected unsigned integer"),
        "{err}"
    );
}

/// Rows of the table under the section title `title` in `df -v` output.
fn section_rows(out: &str, title: &str) -> Option<usize> {
    let mut lines = out.lines().skip_while(|l| *l != title);
    lines.next()?;
    let mut lines = lines.skip_while(|l| !l.starts_with(' '));
    lines.next()?; // the header
    Some(lines.take_while(|l| l.starts_with(' ')).count())
}

#[test]
fn df_table_output_and_top() {
    let d = fixture();
    let host = d.host();
    let (_, doc) = df_json(&host, &[]);
    let r = dockhand(["--host", &host, "df"]);
    r.assert_code(0);
    assert!(
        !r.stdout.contains('\x1b'),
        "escape codes in piped output\n{r}"
    );
    let row = |label: &str| {
        r.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} row\n{r}"))
            .trim_start()[label.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    for label in ["Container logs", "Leftovers"] {
        row(label);
    }
    for (label, part) in [
        ("Images", "images"),
        ("Containers", "containers"),
        ("Local volumes", "volumes"),
        ("Build cache", "build_cache"),
    ] {
        assert_eq!(
            row(label),
            doc[part]["count"].to_string(),
            "{label} TOTAL\n{r}"
        );
    }
    // Without -v no object tables.
    assert_eq!(section_rows(&r.stdout, "Images"), None, "{r}");

    let all = dockhand(["--host", &host, "df", "-v"]);
    all.assert_code(0);
    let top = dockhand(["--host", &host, "df", "-v", "--top", "2"]);
    top.assert_code(0);
    assert!(!top.stdout.contains('\x1b'), "{top}");
    for (title, part) in [
        ("Images", "images"),
        ("Containers", "containers"),
        ("Volumes", "volumes"),
    ] {
        let n = section_rows(&all.stdout, title).unwrap_or_else(|| panic!("no {title}\n{all}"));
        assert_eq!(
            n as u64,
            u(&doc[part]["count"]),
            "{title} without --top\n{all}"
        );
        assert!(n > 2, "{title}: the fixture has more than 2");
        let n = section_rows(&top.stdout, title).unwrap_or_else(|| panic!("no {title}\n{top}"));
        assert_eq!(n, 2, "{title} with --top 2\n{top}");
    }

    let (_, one) = df_json(&host, &["--top", "1"]);
    valid(&one);
    for part in ["images", "containers", "volumes"] {
        assert!(items(&doc, part).len() > 1, "{part}");
        assert_eq!(items(&one, part).len(), 1, "{part} with --top 1");
        // The biggest one, and the totals still cover everything.
        assert_eq!(items(&one, part)[0], items(&doc, part)[0], "{part}");
        assert_eq!(one[part]["count"], doc[part]["count"], "{part}");
    }
}

#[test]
fn df_against_a_down_daemon_says_so() {
    let r = dockhand(["--host", "unix:///nonexistent/x.sock", "df"]);
    r.assert_code(69);
    assert!(r.stdout.is_empty(), "{r}");
    let err = r.stderr.trim();
    assert!(!err.is_empty() && !err.contains("panicked"), "{r}");
    assert_eq!(err.lines().count(), 1, "one sentence\n{r}");
    assert!(err.contains("/nonexistent/x.sock"), "names the socket\n{r}");

    let r = dockhand([
        "--host",
        "unix:///nonexistent/x.sock",
        "df",
        "--format",
        "json",
    ]);
    r.assert_code(69);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{r}");

    let r = dockhand(["df", "--walk-timeout", "banana"]);
    r.assert_code(64);
    assert!(r.stderr.contains("banana"), "names the bad value\n{r}");
    assert!(r.stdout.is_empty(), "{r}");
}

#[test]
fn df_without_root_uses_the_engine_and_says_what_is_missing() {
    let d = fixture();
    // nobody may reach and connect to the socket; the data root stays root's.
    let _dir = crate::support::ModeGuard::set(d.dir(), 0o711);
    let _sock = crate::support::ModeGuard::set(&d.socket(), 0o666);

    let r = dockhand_cmd()
        .args(["--host", &d.host(), "df", "--format", "json"])
        .run_as_nobody();
    r.assert_code(0);
    let doc = r.json();
    valid(&doc);
    assert_eq!(doc["source"], "engine", "{r}");
    assert_eq!(doc["images"]["source"], "engine", "{r}");
    let notes: Vec<&str> = doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let root = d.data_root();
    assert!(
        notes.iter().any(|n| n.contains(root.to_str().unwrap())
            && n.contains("not readable")
            && n.contains("root")),
        "no note naming the data root and root\n{r}"
    );
    // Skipped for want of access; under the containerd store there is nothing of dockerd's
    // to scan at all.
    let scan = doc["leftovers"]["leaked_scan"].as_str().unwrap();
    assert!(
        scan.starts_with("skipped")
            || (crate::support::daemon::engine().containerd_store()
                && scan.starts_with("not applicable")),
        "{scan}"
    );

    let e = api(d, "/system/df");
    assert_close(
        "images.total (engine) vs LayersSize",
        u(&doc["images"]["total"]),
        u(&e["LayersSize"]),
        1.0,
    );
    let size_rw: u64 = e["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["SizeRw"].as_u64().unwrap_or(0))
        .sum();
    assert_close(
        "containers.rw_total (engine) vs sum of SizeRw",
        u(&doc["containers"]["rw_total"]),
        size_rw,
        1.0,
    );
    // The same figures root gets from the disk.
    let (_, as_root) = df_json(&d.host(), &[]);
    assert_close(
        "images.total, engine vs disk",
        u(&doc["images"]["total"]),
        u(&as_root["images"]["total"]),
        1.0,
    );
    assert_eq!(doc["images"]["count"], as_root["images"]["count"]);
}
