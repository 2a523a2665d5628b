//! dockhand against Podman: `podman system service` (Debian's podman, 4.3.1 on bookworm) through
//! its Docker-compatible socket, started by the test ([`TestPodman`]) with storage of its own.
//! The core scenarios — doctor, df, gc plan and apply, ports — on a seeded service: every check
//! either judges or says why it does not apply to Podman, df's figures are the engine's own with
//! the real reason, gc removes exactly what the plan said with the same re-verification, and the
//! published port is shown with the conmon that holds it.
//!
//! Podman runs health checks from systemd timers; this host has no systemd as pid 1, so the tests
//! create health checks with `--health-interval disable` and run them with `podman healthcheck
//! run`, which records the result exactly as the timer would.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use dockhand::catalog::Catalog;
use dockhand::policy::ports::{BelongsBy, ListenerStatus, OwnerKind};
use dockhand::report::gc::GcDoc;
use dockhand::report::ports::PortsDoc;
use dockhand::runtime::net::Proto;
use serde_json::Value;

use crate::support::leaks::{free_port, tcp_listening, wait_for};
use crate::support::podman::TestPodman;
use crate::support::schema::{self, Evidence, check};
use crate::support::{Run, TempDir, dockhand_cmd, procfs};

/// A config file for one test (thresholds lowered so small scenarios count).
fn config(dir: &TempDir, text: &str) -> PathBuf {
    dir.write("config.toml", text)
}

/// The checks whose catalog entry says they do not apply to Podman.
fn not_applicable_ids() -> BTreeSet<String> {
    Catalog::builtin()
        .unwrap()
        .checks
        .into_iter()
        .filter(|c| c.not_applicable_to_podman.is_some())
        .map(|c| c.id)
        .collect()
}

/// The names in a finding's evidence list.
fn names(c: &Value, list: &str) -> Vec<String> {
    c["evidence"][list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The full id of a container or image, by name.
fn id_of(p: &TestPodman, kind: &str, name: &str) -> String {
    p.podman_ok([kind, "inspect", "--format", "{{.Id}}", name])
}

/// `sh -c 'sleep 1 & exec sleep 600'`: pid 1 (sleep) never reaps the `sleep 1` it inherits.
/// Waits until the zombie is there.
fn zombie_maker(p: &TestPodman, name: &str) {
    p.podman_ok([
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1 & exec sleep 600",
    ]);
    let pid: i32 = p
        .podman_ok(["inspect", "--format", "{{.State.Pid}}", name])
        .parse()
        .unwrap();
    wait_for(
        "a zombie under the container's pid 1",
        Duration::from_secs(10),
        || {
            procfs::all_stats()
                .iter()
                .any(|s| s.ppid == pid && s.state == 'Z')
        },
    );
}

#[test]
fn podman_doctor_judges_what_applies_and_says_what_does_not() {
    let p = TestPodman::start();
    // Two stopped containers with generated names, a stopped one that wrote a log, a running
    // one failing its health check, a running one whose pid 1 leaves a zombie.
    for _ in 0..2 {
        p.podman_ok(["run", "--network", "none", "busybox", "true"]);
    }
    p.podman_ok([
        "run",
        "--name",
        "chatty",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo line $i of a chatty log; i=$((i+1)); done",
    ]);
    p.podman_ok([
        "run",
        "-d",
        "--name",
        "sick",
        "--network",
        "none",
        "--health-cmd",
        "false",
        "--health-retries",
        "1",
        "--health-interval",
        "disable",
        "busybox",
        "sleep",
        "600",
    ]);
    for _ in 0..2 {
        // Exit 1: "unhealthy". The record is what counts.
        let r = p.podman(["healthcheck", "run", "sick"]);
        assert!(r.stdout.contains("unhealthy"), "{r}");
    }
    zombie_maker(&p, "zombies");
    let ctr_log = p
        .graph_root()
        .join("overlay-containers")
        .join(id_of(&p, "container", "chatty"))
        .join("userdata")
        .join("ctr.log");
    let log_bytes = std::fs::metadata(&ctr_log)
        .unwrap_or_else(|e| panic!("{}: {e}", ctr_log.display()))
        .len();
    assert!(log_bytes > 60 * 1024, "{log_bytes}");

    let dir = TempDir::new();
    let cfg = config(
        &dir,
        "[checks.\"containers.exited\"]\ngrace_hours = 0\nwarn_count = 1\n\
         [checks.\"containers.littering\"]\nwarn_count = 1\n\
         [checks.\"containers.logs\"]\nsize_warn_mib = 0.05\nsize_critical_mib = 100\n",
    );
    let r = dockhand_cmd()
        .config(&cfg)
        .args(["--host", &p.host(), "doctor", "--format", "json"])
        .run();
    let doc = r.json();
    schema::validate_report(&doc, Evidence::TypesOnly)
        .unwrap_or_else(|e| panic!("schema violations:\n{e}\n{r}"));
    assert_eq!(doc["daemon"]["engine"], "podman", "{r}");
    assert_eq!(
        doc["daemon"]["data_root"],
        p.graph_root().display().to_string()
    );

    // Not applicable: exactly the catalog's list, each ok with its reason; every other check
    // judged (none unknown on a healthy service).
    let na = not_applicable_ids();
    assert!(na.contains("daemon.live-restore") && na.contains("storage.tmp"));
    for id in schema::check_ids(&doc) {
        let c = check(&doc, &id);
        let summary = c["summary"].as_str().unwrap();
        if na.contains(&id) {
            assert_eq!(c["status"], "ok", "{c:#}");
            assert!(
                summary.starts_with("not applicable to Podman: ") && summary.len() > 40,
                "{id}: {summary}"
            );
            assert_eq!(c["evidence"]["not_applicable"]["engine"], "podman", "{c:#}");
        } else {
            assert!(!summary.contains("not applicable"), "{id}: {summary}");
            assert_ne!(c["status"], "unknown", "{id} is unknown on Podman: {c:#}");
        }
    }

    // The containers' checks give real verdicts.
    let c = check(&doc, "containers.exited");
    assert_eq!(c["status"], "warning", "{c:#}");
    assert!(
        names(c, "containers").contains(&"chatty".to_string()),
        "{c:#}"
    );
    let c = check(&doc, "containers.littering");
    assert_eq!(c["status"], "warning", "{c:#}");
    let c = check(&doc, "containers.unhealthy");
    assert_ne!(c["status"], "ok", "{c:#}");
    assert_eq!(names(c, "containers"), ["sick"], "{c:#}");
    // Only sick has a health check (Podman sends an empty health record for every container).
    assert_eq!(c["evidence"]["with_health_check"], 1, "{c:#}");
    let c = check(&doc, "containers.logs");
    assert_eq!(c["status"], "warning", "{c:#}");
    let big = &c["evidence"]["big"][0];
    assert_eq!(big["name"], "chatty", "{c:#}");
    assert_eq!(big["driver"], "k8s-file", "{c:#}");
    assert_eq!(big["bytes"], log_bytes, "{c:#}");
    assert!(
        c["remedy"].as_str().unwrap().contains("containers.conf"),
        "{c:#}"
    );
    let c = check(&doc, "containers.ghost");
    assert_eq!(c["status"], "ok", "{c:#}");
    assert_eq!(c["evidence"]["checked"], 2, "{c:#}");
    // The zombie hangs under the container's pid 1, under its conmon.
    let c = check(&doc, "processes.zombies");
    assert_eq!(c["status"], "warning", "{c:#}");
    let parent = &c["evidence"]["parents"][0];
    assert_eq!(parent["container_name"], "zombies", "{c:#}");
    assert_eq!(parent["verdict"], "running-container", "{c:#}");
    // The service is on a unix socket; its data root is on a real filesystem.
    assert_eq!(check(&doc, "daemon.tcp-exposed")["status"], "ok");
    assert_eq!(check(&doc, "disk.data-root")["status"], "ok");
}

#[test]
fn podman_restart_loop_counts_deaths_from_podmans_event_log() {
    let p = TestPodman::start();
    p.podman_ok([
        "run",
        "-d",
        "--name",
        "looper",
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 3",
    ]);
    wait_for("four restarts", Duration::from_secs(30), || {
        p.podman_ok(["inspect", "--format", "{{.RestartCount}}", "looper"])
            .parse::<u64>()
            .is_ok_and(|n| n >= 4)
    });
    let dir = TempDir::new();
    // Counted by deaths alone: the restart count cannot make the verdict.
    let cfg = config(
        &dir,
        "[checks.\"containers.restart-loop\"]\nrestart_count = 1000\ndies_per_hour = 3\n",
    );
    let r = dockhand_cmd()
        .config(&cfg)
        .args(["--host", &p.host(), "doctor", "--format", "json"])
        .args(["--check", "containers.restart-loop"])
        .run();
    let doc = r.json();
    let c = check(&doc, "containers.restart-loop");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let item = &c["evidence"]["containers"][0];
    assert_eq!(item["name"], "looper", "{c:#}");
    assert!(item["dies_last_hour"].as_u64().unwrap() >= 3, "{c:#}");
    // Podman's event log is not dockerd's 256-event buffer.
    assert_eq!(c["evidence"]["events"]["buffer_full"], false, "{c:#}");
    assert!(
        c["evidence"]["events"]["note"]
            .as_str()
            .unwrap()
            .contains("event log"),
        "{c:#}"
    );
    p.podman_ok(["rm", "--force", "--time", "0", "looper"]);
}

/// A raw `GET path` on the service's socket, as JSON.
fn api_json(p: &TestPodman, path: &str) -> Value {
    let (code, body) = p.api("GET", path, None);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

#[test]
fn podman_df_takes_the_engines_sizes_and_says_why() {
    let p = TestPodman::start();
    // A writable layer, a log, a volume with data, a dangling image.
    p.podman_ok([
        "run",
        "--name",
        "writer",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1k count=300 && dd if=/dev/zero of=/data/v bs=1k count=200 && echo written",
    ]);
    p.import_busybox("bb:old");
    p.import_busybox("bb:old"); // the first bb:old is dangling now

    let r = dockhand_cmd()
        .args(["--host", &p.host(), "df", "--format", "json"])
        .run();
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["image_store"], "containers-storage", "{r}");
    assert_eq!(doc["source"], "engine", "{r}");
    let notes: Vec<&str> = doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the engine is Podman") && n.contains("no layerdb")),
        "{notes:?}"
    );
    // The real reason, not a permission dockhand (root) has.
    assert!(
        notes
            .iter()
            .all(|n| !n.contains("not readable") && !n.contains("run as root")),
        "{notes:?}"
    );

    // Every figure is the engine's own.
    let engine = api_json(&p, "/system/df");
    let bare = |id: &str| id.trim_start_matches("sha256:").to_string();
    for img in engine["Images"].as_array().unwrap() {
        let id = bare(img["Id"].as_str().unwrap());
        let row = doc["images"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| bare(i["id"].as_str().unwrap()) == id)
            .unwrap_or_else(|| panic!("image {id} not in df\n{r}"));
        assert_eq!(row["size"], img["Size"], "{row:#}");
    }
    assert_eq!(doc["images"]["dangling"], 1, "{:#}", doc["images"]);
    let writer = doc["containers"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "writer")
        .unwrap_or_else(|| panic!("writer not in df\n{r}"));
    let engine_rw = engine["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == "writer")
        .unwrap()["SizeRw"]
        .clone();
    assert_eq!(writer["rw_bytes"], engine_rw, "{writer:#}");
    assert!(
        writer["rw_bytes"].as_u64().unwrap() >= 300 * 1024,
        "{writer:#}"
    );
    // The log is conmon's ctr.log, sized on disk.
    assert_eq!(writer["log"]["driver"], "k8s-file", "{writer:#}");
    let ctr_log = PathBuf::from(writer["log"]["files"][0].as_str().unwrap());
    assert!(ctr_log.starts_with(p.graph_root()), "{writer:#}");
    assert_eq!(
        writer["log"]["bytes"],
        std::fs::metadata(&ctr_log).unwrap().len(),
        "{writer:#}"
    );
    let vol = doc["volumes"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "data")
        .unwrap_or_else(|| panic!("volume data not in df\n{r}"));
    let engine_vol = engine["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "data")
        .unwrap()["UsageData"]["Size"]
        .clone();
    assert_eq!(vol["size"], engine_vol, "{vol:#}");
    assert!(vol["size"].as_u64().unwrap() >= 200 * 1024, "{vol:#}");
    assert_eq!(doc["build_cache"]["total"], 0);
    assert!(
        doc["leftovers"]["leaked_scan"]
            .as_str()
            .unwrap()
            .starts_with("not applicable"),
        "{:#}",
        doc["leftovers"]
    );
}

fn gc_json(p: &TestPodman, state: &TempDir, args: &[&str]) -> (Run, GcDoc) {
    let r = dockhand_cmd()
        .args(["--host", &p.host(), "--state-dir"])
        .arg(state.path())
        .arg("gc")
        .args(args)
        .args(["--format", "json"])
        .timeout(Duration::from_secs(120))
        .run();
    let doc: GcDoc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.gc/v1 document ({e})\n{r}"));
    assert_eq!(Some(doc.exit_code), r.code, "{r}");
    (r, doc)
}

/// What the service holds: container names, images (`id tags`), volume and network names.
fn held(p: &TestPodman) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in p.podman_ok(["ps", "-a", "--format", "{{.Names}}"]).lines() {
        out.insert(format!("container {c}"));
    }
    for i in p
        .podman_ok([
            "images",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
        ])
        .lines()
    {
        out.insert(format!("image {i}"));
    }
    for v in p
        .podman_ok(["volume", "ls", "--format", "{{.Name}}"])
        .lines()
    {
        out.insert(format!("volume {v}"));
    }
    for n in p
        .podman_ok(["network", "ls", "--format", "{{.Name}}"])
        .lines()
    {
        out.insert(format!("network {n}"));
    }
    out
}

#[test]
fn podman_gc_removes_what_the_plan_said_and_re_verifies() {
    let p = TestPodman::start();
    let state = TempDir::new();
    // A dangling image (app:1 moved to a newer import), a used one, a stopped container, an
    // anonymous volume left by a removed container, an idle network (never used: no bridge,
    // no firewall rule on the host), a named volume.
    p.import_busybox("app:1");
    let dangling = id_of(&p, "image", "app:1");
    p.import_busybox("app:1");
    p.import_busybox("app:2");
    p.podman_ok([
        "run",
        "-d",
        "--name",
        "runner",
        "--network",
        "none",
        "app:2",
        "sleep",
        "600",
    ]);
    p.podman_ok([
        "run",
        "--name",
        "done",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    p.podman_ok([
        "run",
        "--name",
        "withvol",
        "--network",
        "none",
        "-v",
        "/data",
        "busybox",
        "true",
    ]);
    let anon = p.podman_ok([
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}{{end}}",
        "withvol",
    ]);
    p.podman_ok(["rm", "withvol"]);
    p.podman_ok(["volume", "create", "pgdata"]);
    let idle = p.bridge_network("10.214.10.0/24");
    let flags = ["--min-age", "0s", "--volumes"];

    // The plan: exactly these, build cache skipped with its reason, nothing changed.
    let before = held(&p);
    let (r, plan) = gc_json(&p, &state, &flags);
    r.assert_code(0);
    assert_eq!(plan.mode, "dry-run");
    let goes: BTreeSet<(String, String)> = plan
        .remove
        .iter()
        .map(|e| (e.object.clone(), e.id.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("container", id_of(&p, "container", "done")),
        ("image", format!("sha256:{dangling}")),
        ("volume", anon.clone()),
        ("network", id_of(&p, "network", &idle)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(goes, want, "{}", r.stdout);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.starts_with("build cache: skipped") && n.contains("Podman")),
        "{:?}",
        plan.notes
    );
    assert_eq!(held(&p), before, "a dry run changes nothing");

    // Since the plan: the dangling image gained a running container. The saved plan drops it.
    let saved = state.join("plan.json");
    let (r, _) = gc_json(
        &p,
        &state,
        &[&flags[..], &["--plan-out", saved.to_str().unwrap()]].concat(),
    );
    r.assert_code(0);
    p.podman_ok([
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "none",
        &dangling,
        "sleep",
        "600",
    ]);
    let (r, applied) = gc_json(&p, &state, &["--apply-plan", saved.to_str().unwrap()]);
    r.assert_code(0);
    let dropped = applied
        .dropped
        .iter()
        .find(|d| d.describe.contains(&dangling[..12]))
        .unwrap_or_else(|| panic!("the image is dropped\n{}", r.stdout));
    assert!(
        dropped.why.contains("used by 1 container"),
        "{}",
        dropped.why
    );
    let after = held(&p);
    assert!(!after.contains("container done"), "{after:?}");
    assert!(!after.contains(&format!("volume {anon}")), "{after:?}");
    assert!(!after.contains(&format!("network {idle}")), "{after:?}");
    assert!(
        after
            .iter()
            .any(|h| h.starts_with(&format!("image sha256:{dangling}"))),
        "kept: a container uses it now {after:?}"
    );
    for kept in [
        "container runner",
        "container late",
        "volume pgdata",
        "image",
    ] {
        assert!(
            after.iter().any(|h| h.starts_with(kept)),
            "{kept}: {after:?}"
        );
    }

    // Then `--apply` as a timer runs it, once late has stopped: late and the image it held go,
    // the used image and the running container stay.
    p.podman_ok(["stop", "--time", "0", "late"]);
    let (r, applied) = gc_json(&p, &state, &[&flags[..], &["--apply"]].concat());
    r.assert_code(0);
    assert_eq!(applied.mode, "apply");
    let gone: BTreeSet<&str> = applied.remove.iter().map(|e| e.object.as_str()).collect();
    assert_eq!(
        gone,
        ["container", "image"].into_iter().collect(),
        "{}",
        r.stdout
    );
    let after = held(&p);
    assert!(!after.contains("container late"), "{after:?}");
    assert!(
        !after
            .iter()
            .any(|h| h.starts_with(&format!("image sha256:{dangling}"))),
        "{after:?}"
    );
    assert!(after.contains("container runner"), "{after:?}");
    assert!(
        after
            .iter()
            .any(|h| h.starts_with("image") && h.ends_with("localhost/app:2")),
        "{after:?}"
    );
    // Nothing is left to do.
    let (r, again) = gc_json(&p, &state, &flags);
    r.assert_code(0);
    assert!(again.remove.is_empty(), "{}", r.stdout);
}

/// Whether a TCP socket listens on `port` at any address (busybox nc listens on `[::]`).
fn listening_on_any_address(port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["tcp", "tcp6"].iter().any(|t| {
        std::fs::read_to_string(format!("/proc/net/{t}"))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1).is_some_and(|a| a.ends_with(&want)) && f.get(3) == Some(&"0A")
            })
    })
}

#[test]
fn podman_ports_shows_the_conmon_that_holds_a_published_port() {
    let p = TestPodman::start();
    let net = p.bridge_network("10.214.11.0/24");
    let published = free_port();
    p.podman_ok([
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &net,
        "-p",
        &format!("127.0.0.1:{published}:8080"),
        "busybox",
        "sh",
        "-c",
        "while true; do echo hi | nc -l -p 8080; done",
    ]);
    // A container on the host's network listens itself, under its conmon.
    let host_port = free_port();
    p.podman_ok([
        "run",
        "-d",
        "--name",
        "hostnet",
        "--network",
        "host",
        "busybox",
        "nc",
        "-l",
        "-p",
        &host_port.to_string(),
    ]);
    wait_for("both listeners", Duration::from_secs(10), || {
        tcp_listening(published) && listening_on_any_address(host_port)
    });

    let r = dockhand_cmd()
        .args(["--host", &p.host(), "ports", "--format", "json"])
        .run();
    r.assert_code(0);
    let doc: PortsDoc = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.ports/v1 document ({e})\n{r}"));
    let row = |port: u16| {
        doc.listeners
            .iter()
            .find(|l| l.proto == Proto::Tcp && l.port == port && l.host_namespace)
            .unwrap_or_else(|| panic!("no listener on {port}\n{r}"))
    };
    let web = row(published);
    let owner = web.owners.first().unwrap_or_else(|| panic!("{web:#?}"));
    assert_eq!(owner.comm, "conmon", "{web:#?}");
    assert_eq!(owner.kind, OwnerKind::Engine, "{web:#?}");
    let c = web.container.as_ref().unwrap_or_else(|| panic!("{web:#?}"));
    assert_eq!((c.name.as_str(), c.by), ("web", BelongsBy::Published));
    assert!(c.running);
    assert_eq!(web.status, ListenerStatus::Ok, "{web:#?}");
    let h = row(host_port);
    assert_eq!(
        h.owners.first().map(|o| o.comm.as_str()),
        Some("nc"),
        "{h:#?}"
    );
    let c = h.container.as_ref().unwrap_or_else(|| panic!("{h:#?}"));
    assert_eq!((c.name.as_str(), c.by), ("hostnet", BelongsBy::Process));
    assert_eq!(h.owners[0].kind, OwnerKind::Container { id: c.id.clone() });

    // The table says the same, in words.
    let r = dockhand_cmd()
        .args([
            "--host",
            &p.host(),
            "ports",
            "--port",
            &published.to_string(),
        ])
        .run();
    r.assert_code(0);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(&format!(":{published}")))
        .unwrap_or_else(|| panic!("{r}"));
    assert!(
        line.contains("conmon") && line.contains("web (published)"),
        "{line}"
    );
}
