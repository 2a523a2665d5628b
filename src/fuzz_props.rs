//! Fuzz targets over every parser of untrusted input: saved plans, the config file, docker
//! contexts, the engine's JSON answers and its streamed arrays, /proc and netlink, image
//! references, pid files, daemon.json, durations and sizes.
//!
//! Each target feeds its parser arbitrary bytes and strings and, where a parser only looks
//! deeper once the outside is valid, structure-aware inputs: real examples mutated byte by
//! byte, truncated, nested deep, with huge numbers. What must hold: no panic (an error is a
//! sentence), and memory bounded by the parser's own limits.
//!
//! In the normal `cargo test` each target runs `PROPTEST_CASES` cases (256 unless set), so the
//! suite stays fast. `scripts/fuzz` runs them for a set time each: with
//! `DOCKHAND_FUZZ_SECONDS=N` a target runs batch after batch, each with a fresh random seed,
//! until N seconds have passed, and prints how many cases it ran.
//!
//! The parsers are called through the thin `call_*` functions at the top of each target: when
//! a parser's signature changes, only that function changes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

/// Runs `test` over `strategy`: one batch of `PROPTEST_CASES` cases, or batches until
/// `DOCKHAND_FUZZ_SECONDS` have passed. A failure panics with the smallest input proptest
/// shrank it to.
fn fuzz<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let until = std::env::var("DOCKHAND_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut ran: u64 = 0;
    loop {
        let config = Config {
            // The failing inputs become unit tests of their own, holding the exact input.
            failure_persistence: None,
            ..Config::default()
        };
        let cases = u64::from(config.cases);
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("fuzz target {name} failed after {ran} cases: {e}");
        }
        ran += cases;
        match until {
            Some(t) if Instant::now() < t => continue,
            _ => break,
        }
    }
    if until.is_some() {
        println!("fuzz-result {name} cases={ran} failures=0");
    }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Bytes as a fuzz input, shown as a byte string when a case fails (not a list of numbers).
#[derive(Clone, PartialEq)]
struct Input(Vec<u8>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

fn bytes() -> impl Strategy<Value = Input> {
    prop::collection::vec(any::<u8>(), 0..600).prop_map(Input)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,80}",
        bytes().prop_map(|b| utf8(&b)),
    ]
}

/// Field names the engine's answers and dockhand's own files use, so that generated JSON
/// reaches past "unknown field" into the parsers' own handling of each value.
const KEYS: &[&str] = &[
    "Id",
    "ID",
    "Names",
    "Name",
    "Image",
    "ImageID",
    "Command",
    "Created",
    "State",
    "Status",
    "Labels",
    "Mounts",
    "Ports",
    "SizeRw",
    "Size",
    "SharedSize",
    "Containers",
    "RepoTags",
    "RepoDigests",
    "ParentId",
    "Driver",
    "Scope",
    "IPAM",
    "Config",
    "Subnet",
    "NetworkSettings",
    "Networks",
    "IPAddress",
    "IPPrefixLen",
    "GlobalIPv6Address",
    "Healthcheck",
    "Interval",
    "StartedAt",
    "FinishedAt",
    "Running",
    "Paused",
    "Pid",
    "ExitCode",
    "RestartCount",
    "HostConfig",
    "LogConfig",
    "Type",
    "UsageData",
    "LayersSize",
    "Images",
    "Volumes",
    "BuildCache",
    "ImageUsage",
    "ContainerUsage",
    "VolumeUsage",
    "BuildCacheUsage",
    "Items",
    "TotalSize",
    "TotalCount",
    "ActiveCount",
    "Reclaimable",
    "DriverStatus",
    "DockerRootDir",
    "ServerVersion",
    "schema",
    "command",
    "subject",
    "created_at",
    "host",
    "endpoint",
    "steps",
    "action",
    "reason",
    "bytes",
    "how",
    "via",
    "argv",
    "path",
    "pid",
    "stamp",
    "policy",
    "plan",
    "daemon",
    "digest",
    "types",
    "keep",
    "min_age_s",
    "high",
    "low",
    "status",
    "progressDetail",
    "current",
    "total",
    "errorDetail",
    "message",
    "auths",
    "auth",
    "credHelpers",
    "credsStore",
    "currentContext",
    "Endpoints",
    "docker",
    "Host",
    "data-root",
    "exec-root",
    "pidfile",
    "hosts",
    "log-opts",
    "live-restore",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

/// Numbers at the edges: what overflows a cast, a sum, a multiplication or a duration.
fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            i64::from(i32::MAX),
            i64::from(u32::MAX),
        ])
        .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number(),
        prop_oneof![
            "\\PC{0,24}",
            Just("0001-01-01T00:00:00Z".to_string()),
            Just("2026-11-28T06:00:22.119332206Z".to_string()),
            Just("sha256:".to_string()),
            Just("/".to_string()),
            Just("172.18.0.2".to_string()),
        ]
        .prop_map(Value::String),
    ]
}

/// Arbitrary JSON whose object keys are mostly the fields dockhand reads.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One edit of a seed text.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// Copies a slice of the text to another place (repeats a field, a bracket, a quote).
    Splice(usize, usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                prop::sample::select(vec![
                    b"\"".to_vec(),
                    b"\\".to_vec(),
                    b"[".to_vec(),
                    b"{".to_vec(),
                    b"]".to_vec(),
                    b"}".to_vec(),
                    b",".to_vec(),
                    b"-1".to_vec(),
                    b"1e400".to_vec(),
                    b"18446744073709551616".to_vec(),
                    b"null".to_vec(),
                    b"\\u0000".to_vec(),
                    b"\\ud800".to_vec(),
                    "\u{202e}".as_bytes().to_vec(),
                ]),
            ]
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..64, any::<usize>()).prop_map(|(a, n, b)| Edit::Splice(a, n, b)),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply_edits(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let at = |i: usize, b: &Vec<u8>| if b.is_empty() { 0 } else { i % (b.len() + 1) };
        match e {
            Edit::Flip(i, x) => {
                if !b.is_empty() {
                    let i = i % b.len();
                    b[i] ^= x | 1;
                }
            }
            Edit::Insert(i, x) => {
                let i = at(*i, &b);
                b.splice(i..i, x.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = at(*i, &b);
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Truncate(i) => {
                let i = at(*i, &b);
                b.truncate(i);
            }
            Edit::Splice(a, n, to) => {
                let a = at(*a, &b);
                let end = (a + n).min(b.len());
                let piece = b[a..end].to_vec();
                let to = at(*to, &b);
                b.splice(to..to, piece);
            }
        }
    }
    b
}

/// A seed from `seeds`, mutated; or, one time in four, the seed as it is.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Input> {
    (prop::sample::select(seeds), edits(), 0u8..4).prop_map(|(seed, e, keep)| {
        Input(if keep == 0 {
            seed
        } else {
            apply_edits(&seed, &e)
        })
    })
}

/// JSON text: mutated seeds, generated values, deep nesting, and plain noise.
fn json_text(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => mutated(seeds),
        3 => json_value().prop_map(|v| Input(serde_json::to_vec(&v).unwrap_or_default())),
        1 => deep_nesting(),
        1 => bytes(),
    ]
}

/// `[[[[…]]]]` and `{"a":{"a":…}}` far past any parser's recursion limit, closed or not.
fn deep_nesting() -> impl Strategy<Value = Input> {
    (1usize..20_000, any::<bool>(), any::<bool>()).prop_map(|(n, arrays, closed)| {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let mut s = open.repeat(n);
        s.push('1');
        if closed {
            s.push_str(&close.repeat(n));
        }
        Input(s.into_bytes())
    })
}

fn seed_files(rels: &[&str]) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .expect("tests/fixtures/api")
        .flatten()
    {
        for rel in rels {
            if let Ok(b) = std::fs::read(entry.path().join(rel)) {
                out.push(b);
            }
        }
    }
    assert!(!out.is_empty(), "no seed among {rels:?}");
    out
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory of this process's own for targets whose parser reads files.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "dockhand-fuzz-{}-{name}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

// ---------------------------------------------------------------------------------------------
// Saved plans (reap, ports free) and gc's signed plan files
// ---------------------------------------------------------------------------------------------

const PLAN_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// `doc` signed with `key` (the `digest` field replaced), so that a parse reaches past the
/// signature; bytes that are not JSON come back as they are.
pub(crate) fn signed(doc: &[u8], key: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(doc) else {
        return doc.to_vec();
    };
    let mut unsigned = v.clone();
    if let Some(o) = unsigned.as_object_mut() {
        o.remove("digest");
    }
    let bytes = serde_json::to_vec(&unsigned).unwrap_or_default();
    let hex: String = crate::actions::saved_plan::hmac_sha256(key, &bytes)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("digest".into(), Value::String(format!("hmac-sha256:{hex}")));
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// One saved plan's bytes through every check an applying run makes: the file's text as it is
/// (the signature check itself), then re-signed, for each command that saves plans; what passes
/// goes through the command's allowlist and, for gc, its policy.
fn call_saved_plan(doc: &[u8], here: Option<&str>) {
    use crate::actions::saved_plan::{Expect, allowed, check};
    let path = Path::new("/tmp/p.json");
    let resigned = signed(doc, PLAN_KEY);
    for (command, subject) in [("reap", None), ("ports free", Some("8080")), ("gc", None)] {
        for (engine, endpoint) in [
            (Some("ID@/var/lib/docker"), "unix:///var/run/docker.sock"),
            (None, "unix:///x"),
        ] {
            let want = Expect {
                command,
                subject,
                host: here,
                endpoint,
                engine,
            };
            let _ = check(path, doc, PLAN_KEY, &want);
            if let Ok(saved) = check(path, &resigned, PLAN_KEY, &want) {
                for step in &saved.plan().steps {
                    let _ = allowed(command, &step.action, true);
                    let _ = allowed(command, &step.action, false);
                }
                if command == "gc"
                    && let Ok(doc) = crate::gc::plan::policy_of(&saved)
                {
                    let _ = doc.policy();
                }
            }
        }
    }
}

fn saved_plan_seeds() -> Vec<Vec<u8>> {
    use crate::actions::plan::{Action, FileStamp, Plan, Step};
    use crate::actions::saved_plan::{EngineDoc, SavedPlan};
    let plan = Plan::new(vec![
        Step::new(
            Action::RemoveFile {
                path: "/var/lib/docker/tmp/GetImageBlob1".into(),
                stamp: FileStamp {
                    dev: 1,
                    ino: 2,
                    mtime_ns: 3,
                    size: 4,
                },
            },
            "no process holds it open; 3 h old",
        ),
        Step::new(
            Action::RemoveImage {
                id: "sha256:0123".into(),
            },
            "dangling",
        ),
    ]);
    let engine = EngineDoc {
        endpoint: "unix:///var/run/docker.sock".into(),
        id: Some("ID@/var/lib/docker".into()),
    };
    let mut seeds = Vec::new();
    for (command, subject) in [("reap", None), ("ports free", Some("8080")), ("gc", None)] {
        let mut saved = SavedPlan::new(command, subject.map(String::from), engine.clone(), &plan);
        saved.host = Some("m1".into());
        if command == "gc" {
            saved.options = serde_json::json!({
                "min_age_s": 3600.0, "keep": ["keep-*"], "keep_last": 2, "high": 85.0,
                "low": 70.0, "types": ["containers", "dangling-images", "logs"],
                "max_removals": 100, "keep_storage": 1073741824u64
            });
        }
        seeds.push(serde_json::to_vec_pretty(&saved).expect("json"));
    }
    // The step the issue's attack wrote, as a seed: its check must never panic either.
    seeds.push(
        br#"{"schema":"dockhand.plan/v2","command":"reap","created_at":"x","host":"m1","engine":{"endpoint":"unix:///var/run/docker.sock","id":"ID@/var/lib/docker"},"dockhand":"0.1.0","options":null,"steps":[{"action":"daemon.start","how":{"via":"command","argv":["/bin/sh","-c","id"],"log":null},"reason":"x","bytes":null}]}"#
            .to_vec(),
    );
    seeds
}

#[test]
fn fuzz_saved_plan() {
    fuzz(
        "saved_plan",
        (
            json_text(saved_plan_seeds()),
            prop::option::of("[a-z0-9]{1,3}"),
        ),
        |(b, here)| {
            call_saved_plan(&b, here.as_deref());
            call_saved_plan(&b, Some("m1"));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The config file
// ---------------------------------------------------------------------------------------------

fn call_config(text: &str, catalog: &crate::catalog::Catalog) {
    let _ = crate::config::parse(Path::new("/etc/dockhand/config.toml"), text, catalog);
}

fn config_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        b"[checks.\"disk.data-root\"]\nspace_warn_percent = 70\nspace_critical_percent = 90\n[checks.\"daemon.process\"]\nenabled = false\n".to_vec(),
        b"timeout = \"3s\"\n[gc]\nmin_age = \"24h\"\nkeep = [\"keep-*\", \"base/*\"]\nkeep_last = 2\nhigh_watermark = \"85%\"\nlow_watermark = \"70%\"\ntypes = [\"containers\", \"images\", \"logs\"]\nkeep_storage = \"10GB\"\nmax_removals = 500\n".to_vec(),
    ];
    // The documented examples, where the guide has them.
    for doc in ["docs/configuration.md", "docs/gc.md"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
        if let Ok(md) = std::fs::read_to_string(p) {
            for block in md.split("```toml").skip(1) {
                if let Some((body, _)) = block.split_once("```") {
                    seeds.push(body.as_bytes().to_vec());
                }
            }
        }
    }
    seeds
}

/// TOML nested far past any sensible depth: arrays, inline tables, dotted keys.
fn deep_toml() -> impl Strategy<Value = Input> {
    (1usize..5_000, 0u8..3).prop_map(|(n, kind)| {
        Input(
            match kind {
                0 => format!("a = {}1{}", "[".repeat(n), "]".repeat(n)),
                1 => format!("a = {}1{}", "{b = ".repeat(n), "}".repeat(n)),
                _ => format!("{} = 1", vec!["a"; n].join(".")),
            }
            .into_bytes(),
        )
    })
}

#[test]
fn fuzz_config() {
    let catalog = crate::catalog::Catalog::builtin().expect("catalog");
    let strategy = prop_oneof![
        5 => mutated(config_seeds()),
        1 => deep_toml(),
        1 => bytes(),
    ];
    fuzz("config", strategy, |b| {
        call_config(&utf8(&b), &catalog);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Docker contexts and endpoints
// ---------------------------------------------------------------------------------------------

fn call_context(dir: &Path, config: &[u8], meta: &[u8], name: &str) {
    use crate::runtime::endpoint::{Inputs, resolve};
    let meta_dir = dir.join("contexts/meta/0123");
    std::fs::create_dir_all(&meta_dir).expect("meta dir");
    std::fs::write(dir.join("config.json"), config).expect("config.json");
    std::fs::write(meta_dir.join("meta.json"), meta).expect("meta.json");
    let _ = resolve(&Inputs {
        config_dir: Some(dir.to_path_buf()),
        ..Inputs::default()
    });
    let _ = resolve(&Inputs {
        flag_context: Some(name.to_string()),
        config_dir: Some(dir.to_path_buf()),
        ..Inputs::default()
    });
}

fn call_host(value: &str) {
    use crate::runtime::endpoint::{Inputs, parse_host};
    if let Ok(ep) = parse_host(value, "--host", &Inputs::default()) {
        let _ = ep.is_local();
        let _ = ep.socket_path();
    }
}

#[test]
fn fuzz_docker_context() {
    let dir = scratch("context");
    let configs = vec![
        br#"{"currentContext":"remote","auths":{}}"#.to_vec(),
        br#"{"currentContext":""}"#.to_vec(),
    ];
    let metas = vec![
        br#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://127.0.0.1:2375","SkipTLSVerify":false}}}"#.to_vec(),
        br#"{"Name":"remote","Endpoints":{"docker":{"Host":"unix:///run/user/1000/docker.sock"}}}"#.to_vec(),
    ];
    let hosts = prop_oneof![
        text(),
        "(unix|tcp|http|https|ssh|fd|npipe)://\\PC{0,40}",
        "tcp://[0-9a-z.:\\[\\]]{0,30}(:[0-9]{0,7})?/?",
    ];
    let strategy = (
        json_text(configs),
        json_text(metas),
        "remote|\\PC{0,10}",
        hosts,
    );
    fuzz("docker_context", strategy, |(config, meta, name, host)| {
        call_context(&dir, &config, &meta, &name);
        call_host(&host);
        Ok(())
    });
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// The engine's JSON answers
// ---------------------------------------------------------------------------------------------

fn call_engine_json(b: &[u8]) {
    use crate::runtime::inventory::{Container, ContainerRecord, Image, Network, Volume};
    if let Ok(cs) = serde_json::from_slice::<Vec<Container>>(b) {
        for c in &cs {
            let _ = c.name();
        }
    }
    if let Ok(is) = serde_json::from_slice::<Vec<Image>>(b) {
        for i in &is {
            let _ = i.is_dangling();
        }
    }
    let _ = serde_json::from_slice::<Vec<Volume>>(b);
    if let Ok(ns) = serde_json::from_slice::<Vec<Network>>(b) {
        for n in &ns {
            let _ = n.is_predefined();
        }
    }
    if let Ok(r) = serde_json::from_slice::<ContainerRecord>(b) {
        let _ = r.name();
        let _ = r.state_word();
        let _ = r.command();
        let _ = r.health_interval();
        let _ = r.subnets();
        let _ = r.ips().count();
    }
    if let Ok(v) = serde_json::from_slice::<Value>(b) {
        let _ = crate::facts::storage_map::EngineDf::parse(&v);
        let _ = crate::facts::storage_map::containerd_image_store(&v);
        if let Some(s) = v.get("ApiVersion").and_then(Value::as_str) {
            let _ = crate::facts::storage_map::parse_api(s);
        }
        let _ = crate::pull::auth::lookup(&v, "docker.io");
        let _ = crate::pull::auth::lookup(&v, "registry.example.com:5000");
    }
    let t = utf8(b);
    let _ = crate::facts::storage_map::parse_api(&t);
    let _ = crate::pull::auth::parse_helper(&t);
    let _ = crate::runtime::engine_kind::EngineKind::from_ping(Some(&t), Some(&t));
}

#[test]
fn fuzz_engine_json() {
    let seeds = seed_files(&[
        "containers.json",
        "container-inspect.json",
        "container-inspect-created.json",
        "config.v2.json",
        "hostconfig.json",
        "images.json",
        "volumes.json",
        "networks.json",
        "system-df.json",
        "info.json",
    ]);
    fuzz("engine_json", json_text(seeds), |b| {
        call_engine_json(&b);
        Ok(())
    });
}

/// The storage map's accounting over the engine's figures: `/system/df` parsed, then images,
/// containers and volumes totalled. Sizes are the engine's, any i64 (or u64 from the disk).
fn call_df(df: &[u8], sizes: &[u64], chains: bool) {
    use crate::facts::storage_map::account::{ImageIn, images};
    use crate::facts::storage_map::{ContainerRow, VolumeRow, containers_part, volumes_part};
    use std::collections::HashMap;
    if let Ok(v) = serde_json::from_slice::<Value>(df) {
        let _ = crate::facts::storage_map::EngineDf::parse(&v);
    }
    let size = |i: usize| sizes.get(i % sizes.len().max(1)).copied().unwrap_or(0);
    let ims: Vec<ImageIn> = (0..sizes.len())
        .map(|i| ImageIn {
            id: format!("sha256:{}", i % 3),
            tags: vec![],
            created: 0,
            engine_size: size(i),
            engine_shared: (i % 2 == 0).then(|| size(i + 1)),
            chain: chains.then(|| (0..=i % 4).map(|l| format!("l{l}")).collect()),
        })
        .collect();
    let layers: HashMap<String, u64> = (0..4).map(|l| (format!("l{l}"), size(l))).collect();
    let users: HashMap<String, usize> = [("sha256:0".to_string(), 1)].into();
    let _ = images(&ims, &layers, &users, sizes.first().copied());
    let rows = (0..sizes.len())
        .map(|i| ContainerRow {
            id: i.to_string(),
            name: String::new(),
            image: String::new(),
            state: if i % 2 == 0 { "running" } else { "exited" }.into(),
            created: 0,
            rw_bytes: Some(size(i)),
            rw_complete: true,
            log: Some(crate::runtime::storage::LogInfo {
                driver: "json-file".into(),
                bytes: size(i + 1),
                files: vec![],
                max_size: None,
                max_file: None,
            }),
        })
        .collect();
    let _ = containers_part(rows);
    let vols = (0..sizes.len())
        .map(|i| VolumeRow {
            name: i.to_string(),
            driver: "local".into(),
            anonymous: true,
            containers: i % 2,
            size: Some(size(i)),
            complete: true,
        })
        .collect();
    let _ = volumes_part(vols);
}

#[test]
fn fuzz_df() {
    let seeds = seed_files(&["system-df.json"]);
    let big = prop::collection::vec(
        prop_oneof![
            Just(i64::MAX as u64),
            Just(u64::MAX),
            any::<u64>(),
            0u64..4096
        ],
        0..8,
    );
    // `/system/df` with build-cache records of huge sizes, the shape the engine really sends.
    let records = prop::collection::vec((any::<i64>(), any::<bool>(), any::<bool>()), 0..6)
        .prop_map(|rs| {
            let recs: Vec<Value> = rs
                .into_iter()
                .map(|(size, in_use, shared)| {
                    serde_json::json!({"ID": "x", "Size": size, "InUse": in_use, "Shared": shared})
                })
                .collect();
            let doc = serde_json::json!({"BuildCache": recs, "LayersSize": i64::MAX});
            Input(serde_json::to_vec(&doc).unwrap_or_default())
        });
    let df = prop_oneof![2 => json_text(seeds), 1 => records];
    fuzz("df", (df, big, any::<bool>()), |(df, sizes, chains)| {
        call_df(&df, &sizes, chains);
        Ok(())
    });
}

/// The pull's progress stream: a line at a time into the pull's state.
fn call_pull_progress(lines: &[Input]) {
    use crate::pull::progress::{Line, State, classify_error};
    let mut st = State::default();
    for l in lines {
        if let Some(line) = Line::parse(&utf8(l)) {
            let _ = st.apply(&line);
            if let Some(e) = line.error() {
                let _ = classify_error(Some(404), e);
            }
        }
        let _ = st.downloaded();
    }
}

#[test]
fn fuzz_pull_progress() {
    let seeds = vec![
        br#"{"status":"Downloading","progressDetail":{"current":1024,"total":4096},"progress":"[=> ]","id":"0123456789ab"}"#.to_vec(),
        br#"{"status":"Download complete","progressDetail":{},"id":"0123456789ab"}"#.to_vec(),
        br#"{"status":"Digest: sha256:0123"}"#.to_vec(),
        br#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#.to_vec(),
    ];
    let big = (0usize..3, any::<u64>(), any::<u64>()).prop_map(|(i, cur, tot)| {
        let status = ["Downloading", "Download complete", "Verifying Checksum"][i];
        format!(
            r#"{{"status":"{status}","progressDetail":{{"current":{cur},"total":{tot}}},"id":"{:012x}"}}"#,
            cur % 7
        )
        .into_bytes()
    })
    .prop_map(Input);
    let line = prop_oneof![3 => json_text(seeds), 2 => big];
    fuzz(
        "pull_progress",
        prop::collection::vec(line, 0..24),
        |lines| {
            call_pull_progress(&lines);
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The streamed array reader
// ---------------------------------------------------------------------------------------------

/// Splits `body` cut at `cuts` with the given element limit; the elements, or the fault.
fn call_json_array(body: &[u8], cuts: &[usize], limit: usize) -> Result<Vec<Vec<u8>>, String> {
    use crate::runtime::json_array::{ArraySplitter, Fault};
    let mut s = ArraySplitter::with_limit(limit);
    let mut out = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    points.push(body.len());
    for p in points {
        let piece = &body[at..p];
        at = p;
        s.feed(piece, |e| {
            out.push(e.to_vec());
            Ok::<(), ()>(())
        })
        .map_err(|f| match f {
            Fault::Frame(why) => why.to_string(),
            Fault::Elem(()) => "element".to_string(),
        })?;
        // Bounded memory: what the splitter carries across pieces never exceeds its limit.
        assert!(
            s.buffered() <= limit,
            "carries {} bytes over a limit of {limit}",
            s.buffered()
        );
    }
    s.finish().map_err(str::to_string)?;
    Ok(out)
}

#[test]
fn fuzz_json_array() {
    let seeds = seed_files(&[
        "containers.json",
        "images.json",
        "volumes.json",
        "networks.json",
    ]);
    let generated = prop::collection::vec(json_value(), 0..8)
        .prop_map(|v| Input(serde_json::to_vec(&Value::Array(v)).unwrap_or_default()));
    let body = prop_oneof![
        3 => mutated(seeds),
        3 => generated,
        1 => deep_nesting(),
        1 => bytes(),
    ];
    let cuts = prop::collection::vec(any::<usize>(), 0..12);
    fuzz(
        "json_array",
        (body, cuts, prop_oneof![Just(usize::MAX), 1usize..512]),
        |(body, cuts, limit)| {
            let got = call_json_array(&body, &cuts, limit);
            // However the body is cut, the same elements (or the same fault) come out.
            let whole = call_json_array(&body, &[], limit);
            prop_assert_eq!(&got, &whole);
            // A valid array splits into exactly its elements, each one valid JSON.
            if limit == usize::MAX
                && let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body)
            {
                let elems = got.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
                prop_assert_eq!(elems.len(), items.len());
                for (e, item) in elems.iter().zip(&items) {
                    let v: Value = serde_json::from_slice(e)
                        .map_err(|x| TestCaseError::fail(format!("element {x}")))?;
                    prop_assert_eq!(&v, item);
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// /proc, netlink and command lines
// ---------------------------------------------------------------------------------------------

fn call_proc_text(t: &str) {
    use crate::runtime::{containerd, host, net, proc};
    let _ = proc::parse_stat(t);
    let _ = proc::env_lookup(t.as_bytes(), "DOCKER_TMPDIR");
    let _ = host::parse_mounts_under(t, Path::new("/var/lib/docker"));
    let _ = host::parse_mounts_under(t, Path::new("/"));
    let _ = host::parse_passwd(t);
    let _ = net::parse_ns_link(t);
    let _ = proc::parse_socket_link(t.as_bytes());
    let _ = net::Proto::parse(t);
    let _ = containerd::parse_task_ids(t);
    let _ = crate::policy::daemon::pidfile::parse_pidfile(t);
    if let Ok(ip) = "172.18.0.2".parse() {
        let _ = crate::policy::addresses::in_subnet(ip, t);
    }
    if let Ok(ip) = "::1".parse() {
        let _ = crate::policy::addresses::in_subnet(ip, t);
    }
}

fn call_cmdline(argv: &[String]) {
    use crate::runtime::{daemon, net};
    let _ = net::is_docker_proxy(argv);
    let _ = net::parse_docker_proxy(argv);
    let _ = net::go_flag(argv, "host-port");
    let _ = crate::policy::processes::parse_shim(argv);
    let _ = crate::policy::processes::parse_conmon(argv);
    let _ = daemon::paths_from(argv, Some(Path::new("/etc/docker")));
    let _ = daemon::paths_from(argv, None);
}

fn call_sockdiag(buf: &[u8]) {
    use crate::runtime::{net::Proto, sockdiag};
    for proto in [Proto::Tcp, Proto::Udp] {
        let mut out = Vec::new();
        let _ = sockdiag::parse(buf, proto, &mut out);
    }
}

/// A netlink answer built of messages with arbitrary lengths, kinds and payloads.
fn netlink() -> impl Strategy<Value = Input> {
    let msg = (
        prop_oneof![any::<u32>(), 0u32..200],
        prop::sample::select(vec![2u16, 3, 20, 18, 42, 0, 0xffff]),
        prop::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(len, kind, body)| {
            let mut m = Vec::new();
            m.extend_from_slice(&len.to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(&[0; 10]);
            m.extend_from_slice(&body);
            m
        });
    prop::collection::vec(msg, 0..6).prop_map(|ms| Input(ms.concat()))
}

fn proc_seeds() -> Vec<Vec<u8>> {
    vec![
        b"1234 (dockerd) S 1 1234 1234 0 -1 4194560 12345 0 0 0 100 50 0 0 20 0 30 0 5678 2000000000 10000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n".to_vec(),
        b"77 (a) b) (c) R 1 77 77 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n".to_vec(),
        b"36 35 98:0 /mnt1 /var/lib/docker rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n37 36 0:45 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw\n38 36 0:46 / /var/lib/docker/volumes/x\\040y/_data rw - fuse.bindfs /srv\\134x rw\n".to_vec(),
        b"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n".to_vec(),
        b"net:[4026531840]".to_vec(),
        b"socket:[12345]".to_vec(),
        b"  TASK ID     PID   STATUS\n  0123abc     4242  RUNNING\n".to_vec(),
        b"172.18.0.0/16".to_vec(),
        b"fe80::/10".to_vec(),
        b"1234\n".to_vec(),
    ]
}

fn cmdline() -> impl Strategy<Value = Vec<String>> {
    let word = prop_oneof![
        prop::sample::select(vec![
            "/usr/bin/docker-proxy",
            "docker-proxy",
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "8080",
            "-container-ip",
            "172.18.0.2",
            "-container-port",
            "80",
            "containerd-shim-runc-v2",
            "-namespace",
            "moby",
            "-id",
            "-address",
            "/run/containerd/containerd.sock",
            "/usr/bin/conmon",
            "--cid",
            "-c",
            "-u",
            "/usr/bin/dockerd",
            "--data-root",
            "--data-root=/srv/docker",
            "--exec-root",
            "--pidfile",
            "-p",
            "--config-file",
            "--host",
            "-H",
            "unix:///var/run/docker.sock",
            "--",
            "-",
            "=",
            "",
        ])
        .prop_map(str::to_string),
        "-{0,2}[a-z-]{0,12}(=\\PC{0,12})?",
        "\\PC{0,20}",
    ];
    prop::collection::vec(word, 0..12)
}

#[test]
fn fuzz_proc() {
    let strategy = (
        prop_oneof![3 => mutated(proc_seeds()), 1 => bytes()],
        cmdline(),
        prop_oneof![netlink(), bytes()],
    );
    fuzz("proc", strategy, |(t, argv, nl)| {
        call_proc_text(&utf8(&t));
        call_cmdline(&argv);
        call_sockdiag(&nl);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Image references
// ---------------------------------------------------------------------------------------------

fn call_reference(s: &str) {
    if let Ok(r) = crate::pull::reference::parse(s) {
        let _ = r.auth_key();
        let _ = r.shown();
    }
}

fn reference() -> impl Strategy<Value = String> {
    let host = "[a-z0-9.-]{0,20}(:[0-9]{0,6})?";
    let path = "[a-z0-9._/-]{0,40}";
    let tag = "(:[\\w.-]{0,20})?";
    let digest = "(@(sha256:)?[0-9a-fA-F]{0,70})?";
    prop_oneof![
        text(),
        (host, path, tag, digest).prop_map(|(h, p, t, d)| format!("{h}/{p}{t}{d}")),
        (path, tag, digest).prop_map(|(p, t, d)| format!("{p}{t}{d}")),
        "[:@/]{0,10}\\PC{0,20}",
    ]
}

#[test]
fn fuzz_reference() {
    fuzz("reference", reference(), |s| {
        call_reference(&s);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Pid files and daemon.json
// ---------------------------------------------------------------------------------------------

fn call_pidfile(text: String, daemon: Option<i32>) {
    use crate::policy::daemon::pidfile::{classify_pidfile, pidfile_agreement, pidfile_repair};
    let state = classify_pidfile(Ok(Some(text)), daemon, |pid| match pid % 3 {
        0 => None,
        1 => Some(true),
        _ => Some(false),
    });
    let _ = pidfile_repair(&state, daemon);
    let _ = state.named_pid();
    let _ = pidfile_agreement;
}

fn call_daemon_json(b: &[u8]) {
    use crate::policy::daemon::config;
    if let Ok(Some(parsed)) = config::parse_daemon_json(b) {
        let _ = parsed;
    }
    let t = utf8(b);
    for key in ["data-root", "hosts", "log-opts", "", "\""] {
        let _ = config::line_of(&t, key);
    }
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(b) {
        let _ = config::checked_keys(&m);
        let _ = config::unknown_keys(&m);
        let _ = config::parent_of(&m, "max-size");
    }
}

#[test]
fn fuzz_pidfile() {
    let text = prop_oneof![
        text(),
        "[ \\t\\n]{0,3}[+-]?[0-9]{0,12}[ \\t\\n]{0,3}",
        mutated(vec![b"1234\n".to_vec(), b"2147483647".to_vec()]).prop_map(|b| utf8(&b)),
    ];
    fuzz(
        "pidfile",
        (text, prop::option::of(any::<i32>())),
        |(t, daemon)| {
            call_pidfile(t, daemon);
            Ok(())
        },
    );
}

#[test]
fn fuzz_daemon_json() {
    let seeds = vec![
        br#"{"data-root":"/srv/docker","live-restore":true,"log-driver":"json-file","log-opts":{"max-size":"10m","max-file":"3"},"hosts":["unix:///var/run/docker.sock"]}"#.to_vec(),
        b"\xEF\xBB\xBF{\"debug\":true}".to_vec(),
        b"\xFF\xFE{\0\"\0d\0\"\0:\x001\0}\0".to_vec(),
        b"\xFE\xFF\0{\0\"\0d\0\"\0:\x001\0}".to_vec(),
        b" \n\t ".to_vec(),
    ];
    fuzz("daemon_json", json_text(seeds), |b| {
        call_daemon_json(&b);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Durations, sizes, times, ports, words
// ---------------------------------------------------------------------------------------------

fn call_values(s: &str, n: u64) {
    use crate::gc::options;
    let _ = crate::units::parse_duration(s);
    let _ = crate::serve::parse_interval(s);
    let _ = crate::serve::parse_listen(s);
    let _ = options::parse_age("--min-age", s);
    let _ = options::parse_size("--keep-storage", s);
    let _ = options::parse_percent("--high", s);
    let _ = options::parse_count("--keep-last", s, 1);
    let _ = options::parse_types("--types", s.split(','));
    let _ = crate::ports::parse_port(s);
    let _ = crate::serve::http::route(&hyper::Method::GET, s);
    let _ = crate::units::parse_instant(s);
    let now = std::time::UNIX_EPOCH + Duration::from_secs(n % (1 << 40));
    let _ = crate::units::parse_since(s, now);
    let _ = crate::units::parse_rfc3339(s);
    let _ = crate::util::split_words(s);
    let _ = crate::util::sanitize(s);
    let _ = crate::util::human_bytes(n);
    let _ = crate::util::human_age(n);
    let _ = crate::util::human_duration(Duration::from_nanos(n));
    let _ = crate::util::human_duration(Duration::new(n, 999_999_999));
}

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        "[ ]?[0-9.]{0,25}[ ]?(ms|s|sec|m|min|h|d|w|b|kb|mib|g|t|%|[a-zA-Z]{0,3})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|z|[+-][0-9]{2}:?[0-9]{2}|\\PC{0,3})",
        "(\\[[0-9a-f:]{0,20}\\]|[0-9.]{0,16}|[a-z]{0,8}):[0-9]{0,7}",
        "[ '\"\\\\a-z]{0,24}",
    ]
}

#[test]
fn fuzz_values() {
    fuzz("values", (value_text(), any::<u64>()), |(s, n)| {
        call_values(&s, n);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// The journal (root's own file, but torn by crashes and read by `dockhand journal`)
// ---------------------------------------------------------------------------------------------

#[test]
fn fuzz_journal() {
    let seeds = vec![
        br#"{"ts":"2026-11-28T05:33:35.123Z","run":"r1","command":"gc","event":"start"}
{"ts":"2026-11-28T05:33:36.000Z","run":"r1","event":"step","action":"image.remove","id":"sha256:0123","outcome":"done"}
"#
        .to_vec(),
    ];
    let strategy = prop_oneof![3 => mutated(seeds), 1 => bytes()];
    fuzz("journal", strategy, |b| {
        let _ = crate::actions::journal::parse(std::io::Cursor::new(b.0));
        Ok(())
    });
}
