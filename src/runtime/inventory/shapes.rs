//! The engine's answers the inventory parses, in the shape of every Engine API version from 1.41
//! (Docker 20.10) to 1.56 (the newest reference), under the containerd image store, and from
//! Podman's compat API — fed through the parsers dockhand uses, with what each version changes
//! asserted where dockhand depends on it.
//!
//! The examples are in `tests/fixtures/api/` (its README says which schema each one follows,
//! where the reference's own example values are used, and what was compared with a real 20.10
//! engine). A `docker-1.NN` example stands for every version from 1.NN up to the next example of
//! the same kind: moby changes only some answers in each version.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// The newest Engine API version the reference describes (moby's api/swagger.yaml).
pub(crate) const NEWEST_API: u32 = 56;

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api")
}

/// The text of `tests/fixtures/api/<rel>`.
pub(crate) fn fixture(rel: &str) -> String {
    let p = fixtures().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The example of `file` that API 1.`minor` answers with: the newest `docker-1.NN/<file>` with
/// NN ≤ minor (graph-driver store, rootful).
pub(crate) fn docker(file: &str, minor: u32) -> String {
    let best = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/api")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v: u32 = name.strip_prefix("docker-1.")?.parse().ok()?;
            (v <= minor && e.path().join(file).exists()).then_some(v)
        })
        .max()
        .unwrap_or_else(|| panic!("no example of {file} for API 1.{minor}"));
    fixture(&format!("docker-1.{best}/{file}"))
}

fn every_version() -> impl Iterator<Item = u32> {
    41..=NEWEST_API
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn find<'a>(cs: &'a [Container], name: &str) -> &'a Container {
    cs.iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

// ---------------------------------------------------------------------------------------------
// GET /containers/json?all=1
// ---------------------------------------------------------------------------------------------

#[test]
fn container_list_in_every_version() {
    for v in every_version() {
        let text = docker("containers.json", v);
        let cs: Vec<Container> = parse(&text, &format!("containers, API 1.{v}"));
        assert_eq!(cs.len(), 3, "1.{v}");
        let web = find(&cs, "web");
        assert_eq!(web.state, "running", "1.{v}");
        assert!(web.image_id.starts_with("sha256:"), "1.{v}");
        let vols: Vec<&str> = web
            .mounts
            .iter()
            .filter(|m| m.kind == "volume")
            .filter_map(|m| m.name.as_deref())
            .collect();
        assert_eq!(vols.len(), 1, "the bind mount is not a volume (1.{v})");
        assert_eq!(vols[0].len(), 64, "an anonymous volume (1.{v})");
        // The reference's own list example (1.41 to 1.47) writes `Exited`; dockhand compares
        // states with Docker's lower-case words.
        let job = find(&cs, "boring_feynman");
        assert_eq!(job.state, "exited", "1.{v}");
        if v < 48 {
            assert!(text.contains(r#""State": "Exited""#), "1.{v}: the example");
        }
        assert_eq!(job.mounts[0].name.as_deref(), Some("pgdata"), "1.{v}");
        let fresh = find(&cs, "fresh");
        assert_eq!(fresh.state, "created", "1.{v}");
        assert!(fresh.labels.is_none(), "Labels: null (1.{v})");
        // 1.52 adds a health summary to the list; dockhand reads health from the records.
        if v >= 52 {
            assert!(text.contains(r#""FailingStreak": 3"#), "1.{v}: the example");
        }
    }
}

#[test]
fn container_list_from_podman() {
    let cs: Vec<Container> = parse(&fixture("podman-4.3/containers.json"), "podman list");
    let states: Vec<(&str, &str)> = cs.iter().map(|c| (c.name(), c.state.as_str())).collect();
    assert_eq!(
        states,
        [
            ("web", "running"),
            ("job", "exited"),
            ("fresh", "created"),
            // Podman's `stopped`: exited, not yet cleaned up.
            ("halting", "exited"),
        ]
    );
    // Podman's compat list writes the image id with Docker's prefix, as its image list does.
    assert!(cs.iter().all(|c| c.image_id.starts_with("sha256:")));
    assert_eq!(find(&cs, "job").mounts[0].name.as_deref(), Some("pgdata"));
}

#[test]
fn states_in_dockers_words() {
    let cases = [
        ("running", "running"),
        ("Exited", "exited"),
        (" Running ", "running"),
        ("paused", "paused"),
        ("restarting", "restarting"),
        ("removing", "removing"),
        ("dead", "dead"),
        ("created", "created"),
        // Podman's own states.
        ("configured", "created"),
        ("initialized", "created"),
        ("stopping", "running"),
        ("stopped", "exited"),
        ("unknown", "unknown"),
        ("", ""),
    ];
    for (word, want) in cases {
        assert_eq!(docker_state(word), want, "{word:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// GET /containers/{id}/json
// ---------------------------------------------------------------------------------------------

/// What every version's answer for the running, unhealthy `web` must give.
fn assert_web(r: &ContainerRecord, what: &str) {
    assert_eq!(r.name(), "web", "{what}");
    assert_eq!(r.id.len(), 64, "{what}");
    assert!(r.image.starts_with("sha256:"), "{what}");
    assert_eq!(r.state_word(), "running", "{what}");
    assert_eq!(r.state.pid, 4242, "{what}");
    assert_eq!(r.restart_count, 4, "{what}");
    assert!(
        r.created.is_some() && r.state.started_at.is_some(),
        "{what}"
    );
    let h = r.state.health.as_ref().expect("a health state");
    assert_eq!(
        (h.status.as_str(), h.failing_streak),
        ("unhealthy", 3),
        "{what}"
    );
    assert_eq!(h.log.len(), 3, "{what}");
    for run in &h.log {
        let (s, e) = (run.start.expect("start"), run.end.expect("end"));
        assert!(s < e && e - s < 1.0, "{what}: {s} {e}");
        assert_eq!(run.exit_code, 1, "{what}");
    }
    assert_eq!(r.health_interval(), Some(Duration::from_secs(30)), "{what}");
    assert_eq!(
        r.command(),
        ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"],
        "{what}"
    );
    assert!(!r.attached(), "{what}");
    assert_eq!(r.config.exposed_ports, ["443/tcp", "80/tcp"], "{what}");
    assert_eq!(
        r.config
            .labels
            .get("com.example.vendor")
            .map(String::as_str),
        Some("Acme")
    );
    let hc = &r.host_config;
    assert_eq!(
        (
            hc.restart_policy.name.as_str(),
            hc.restart_policy.maximum_retry_count
        ),
        ("on-failure", 5),
        "{what}"
    );
    assert_eq!(hc.log_config.kind, "json-file", "{what}");
    assert_eq!(
        hc.log_config.config.get("max-size").map(String::as_str),
        Some("10m"),
        "{what}"
    );
    assert_eq!(hc.network_mode, "bridge", "{what}");
    let b80 = hc
        .port_bindings
        .get("80/tcp")
        .expect("80/tcp listed")
        .as_ref()
        .expect("80/tcp bound");
    assert_eq!(
        (b80[0].host_ip.as_str(), b80[0].host_port.as_str()),
        ("", "8080")
    );
    assert!(
        hc.port_bindings
            .get("443/tcp")
            .expect("443/tcp listed")
            .is_none(),
        "{what}: exposed, not published"
    );
    let live = r
        .network_settings
        .ports
        .get("80/tcp")
        .expect("80/tcp listed")
        .as_ref()
        .expect("live");
    assert_eq!(live.len(), 2, "{what}: IPv4 and IPv6");
    let mut ips: Vec<&str> = r.ips().collect();
    ips.sort_unstable();
    assert_eq!(ips, ["172.17.0.2", "172.18.0.5", "fd00::2"], "{what}");
}

#[test]
fn container_record_in_every_version() {
    for v in every_version() {
        let text = docker("container-inspect.json", v);
        let r: ContainerRecord = parse(&text, &format!("inspect, API 1.{v}"));
        assert_web(&r, &format!("API 1.{v}"));
        // 1.52 drops the top-level addresses (deprecated since 1.21); dockhand reads each
        // network's own.
        let raw: serde_json::Value = parse(&text, "inspect");
        assert_eq!(
            raw["NetworkSettings"].get("IPAddress").is_some(),
            v < 52,
            "1.{v}: the example"
        );
    }
}

#[test]
fn container_record_never_started_in_every_version() {
    for v in every_version() {
        let r: ContainerRecord = parse(
            &docker("container-inspect-created.json", v),
            &format!("created, API 1.{v}"),
        );
        assert_eq!(r.state_word(), "created", "1.{v}");
        assert!(
            r.state.started_at.is_none() && r.state.finished_at.is_none(),
            "Go's zero time"
        );
        // `Created` may be null from 1.48 (x-nullable): no time, not a parse error.
        assert_eq!(r.created.is_some(), v < 48, "1.{v}");
        // `Cmd` as one string (old engines) and `Entrypoint: null`.
        assert_eq!(r.command(), ["sh"], "1.{v}");
        assert!(r.attached(), "1.{v}");
        assert!(r.host_config.auto_remove, "1.{v}");
        assert_eq!(r.host_config.log_config.kind, "local", "1.{v}");
        assert_eq!(r.host_config.restart_policy.name, "no", "1.{v}");
        assert!(r.host_config.port_bindings.is_empty() && r.config.exposed_ports.is_empty());
        assert!(
            r.state.health.is_none() && r.health_interval().is_none(),
            "1.{v}"
        );
        assert_eq!(r.ips().count(), 0, "1.{v}");
    }
}

#[test]
fn container_record_under_the_containerd_store() {
    // ImageManifestDescriptor (1.48), Storage (1.52) and a null GraphDriver are not read.
    let r: ContainerRecord = parse(
        &fixture("docker-1.52-containerd/container-inspect.json"),
        "containerd inspect",
    );
    assert_web(&r, "containerd store");
}

#[test]
fn container_record_from_podman() {
    let r: ContainerRecord = parse(&fixture("podman-4.3/container-inspect.json"), "podman");
    assert_eq!((r.name(), r.state_word()), ("web", "running"));
    assert!(r.image.starts_with("sha256:"));
    let h = r.state.health.as_ref().expect("health");
    assert_eq!(
        (h.status.as_str(), h.failing_streak, h.log.len()),
        ("unhealthy", 4, 1)
    );
    assert_eq!(r.health_interval(), Some(Duration::from_secs(30)));
    // Podman reports its k8s-file log driver as json-file; there is no restart policy name.
    assert_eq!(r.host_config.log_config.kind, "json-file");
    assert!(r.host_config.log_config.config.is_empty());
    assert_eq!(r.host_config.restart_policy.name, "");
    assert_eq!(r.ips().collect::<Vec<_>>(), ["10.88.0.2"]);
    assert!(r.state.finished_at.is_none());
}

#[test]
fn a_record_without_state_is_left_out_not_guessed() {
    // `State` is x-nullable in every version's schema. A record without one does not parse, so
    // the container is left out of the records (each record is its own call or file) instead
    // of being judged on an invented state ("created", with no start time).
    let text = docker("container-inspect.json", NEWEST_API);
    let mut raw: serde_json::Value = parse(&text, "inspect");
    raw["State"] = serde_json::Value::Null;
    assert!(serde_json::from_value::<ContainerRecord>(raw).is_err());
}

// ---------------------------------------------------------------------------------------------
// <data-root>/containers/<id>/config.v2.json and hostconfig.json (the daemon's own files)
// ---------------------------------------------------------------------------------------------

#[test]
fn daemon_files_of_20_10_and_29() {
    for dir in ["docker-1.41", "docker-1.52"] {
        let root =
            std::env::temp_dir().join(format!("dockhand-shapes-{}-{dir}", std::process::id()));
        let id = "8ae79f0575bd890544f5cef90864641b0752b367e494e5d9e2347def496466a7";
        let cdir = root.join("containers").join(id);
        std::fs::create_dir_all(&cdir).expect("mkdir");
        for f in ["config.v2.json", "hostconfig.json"] {
            std::fs::write(cdir.join(f), fixture(&format!("{dir}/{f}"))).expect("write");
        }
        let containers = std::fs::File::open(root.join("containers")).expect("open");
        let r = record_from_disk(&containers, id);
        std::fs::remove_dir_all(&root).expect("clean up");
        let r = r.unwrap_or_else(|| panic!("{dir}: the daemon's files parse"));
        // The file's `ID` (not `Id`), its `Image` (the image id), no `Status`: the word comes
        // from the flags, as the engine derives it. 29 no longer writes RemovalInProgress.
        assert_eq!(r.id.len(), 64, "{dir}");
        assert_eq!(r.name(), "boring_feynman", "{dir}");
        assert!(r.image.starts_with("sha256:"), "{dir}");
        assert_eq!(r.state.status, "", "{dir}");
        assert_eq!(r.state_word(), "exited", "{dir}");
        assert_eq!((r.state.exit_code, r.restart_count), (137, 7), "{dir}");
        assert!(r.state.finished_at > r.state.started_at, "{dir}");
        let h = r.state.health.as_ref().expect("health");
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        assert!(h.log.is_empty(), "Log: null");
        assert_eq!(r.health_interval(), Some(Duration::from_secs(10)), "{dir}");
        assert_eq!(r.command(), ["sh", "-c", "exit 137"], "{dir}");
        assert_eq!(r.host_config.restart_policy.name, "always", "{dir}");
        let b = r
            .host_config
            .port_bindings
            .get("5432/tcp")
            .expect("5432/tcp listed")
            .as_ref()
            .expect("bound");
        assert_eq!(b[0].host_ip, "127.0.0.1", "{dir}");
        assert_eq!(
            r.config
                .labels
                .get("com.docker.compose.project")
                .map(String::as_str),
            Some("shop")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// GET /images/json
// ---------------------------------------------------------------------------------------------

#[test]
fn image_list_in_every_version() {
    for v in every_version() {
        let text = docker("images.json", v);
        let is: Vec<Image> = parse(&text, &format!("images, API 1.{v}"));
        let by_tag = |t: &str| {
            is.iter()
                .find(|i| i.repo_tags.iter().flatten().any(|x| x == t))
                .unwrap_or_else(|| panic!("1.{v}: no {t}"))
        };
        let (nginx, busy) = (by_tag("nginx:1.25"), by_tag("busybox:latest"));
        let dangling: Vec<&Image> = is.iter().filter(|i| i.is_dangling()).collect();
        // Untagged: `["<none>:<none>"]` up to 1.42, `[]` from 1.43.
        assert_eq!(dangling.len(), 1, "1.{v}");
        assert_eq!(
            dangling[0].repo_tags.as_deref() == Some(&["<none>:<none>".to_string()][..]),
            v < 43,
            "1.{v}"
        );
        assert!(!nginx.is_dangling() && !busy.is_dangling());
        // `Containers` is -1 ("not computed") until 1.51 counts it in the list: never a count.
        let counts: Vec<Option<u64>> = [nginx, busy, dangling[0]]
            .iter()
            .map(|i| i.containers)
            .collect();
        if v < 51 {
            assert_eq!(counts, [None, None, None], "1.{v}");
        } else {
            assert_eq!(counts, [Some(1), Some(2), Some(0)], "1.{v}");
        }
        // `VirtualSize` is gone from 1.44; `Size` is the figure in every version.
        assert_eq!(text.contains("VirtualSize"), v < 44, "1.{v}: the example");
        assert_eq!(nginx.size, 187_000_000, "1.{v}");
        assert!(nginx.created > 0 && busy.labels.is_none(), "1.{v}");
    }
}

#[test]
fn image_summary_reference_example() {
    // The values the ImageSummary definition documents for each property.
    for v in [41, 44, NEWEST_API] {
        let is: Vec<Image> = parse(&docker("image-reference-example.json", v), "example");
        let i = &is[0];
        assert_eq!(i.containers, Some(2), "1.{v}");
        assert_eq!((i.size, i.created), (172_064_416, 1_644_009_612), "1.{v}");
        assert_eq!(i.repo_tags.as_ref().map(Vec::len), Some(4), "1.{v}");
        assert!(!i.is_dangling(), "1.{v}");
    }
}

#[test]
fn image_list_under_the_containerd_store() {
    let is: Vec<Image> = parse(&fixture("docker-1.52-containerd/images.json"), "c8d images");
    // Descriptor (1.48) is not read; Size is content plus unpacked snapshots there.
    assert_eq!(is.iter().filter(|i| i.is_dangling()).count(), 1);
    assert!(is.iter().all(|i| i.containers.is_some()));
    assert_eq!(is[0].size, 259_000_000);
}

#[test]
fn image_list_from_podman() {
    let is: Vec<Image> = parse(&fixture("podman-4.3/images.json"), "podman images");
    // Podman's extra fields (Names, Digest, History, Dangling) are not read; an untagged
    // image has `RepoTags: null`; Podman counts containers.
    assert!(is.iter().all(|i| i.id.starts_with("sha256:")));
    assert_eq!(
        is.iter().map(|i| i.is_dangling()).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(
        is.iter().map(|i| i.containers).collect::<Vec<_>>(),
        [Some(1), Some(3), Some(0)]
    );
}

// ---------------------------------------------------------------------------------------------
// GET /volumes, GET /networks
// ---------------------------------------------------------------------------------------------

fn volume_list(text: &str) -> Vec<Volume> {
    // What facts.rs reads: `{"Volumes": [...], "Warnings": ...}`.
    let raw: serde_json::Value = parse(text, "volumes");
    parse(&raw["Volumes"].to_string(), "volumes")
}

#[test]
fn volume_list_in_every_version_and_podman() {
    for v in every_version() {
        let vs = volume_list(&docker("volumes.json", v));
        let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(&names[1..], ["pgdata", "old", "remote"], "1.{v}");
        assert!(vs[0].is_anonymous() && !vs[1].is_anonymous(), "1.{v}");
        assert!(vs[1].labels.is_none(), "Labels: null (1.{v})");
        assert_eq!(vs[3].driver, "rexray/ebs", "1.{v}");
    }
    let p = volume_list(&fixture("podman-4.3/volumes.json"));
    assert_eq!(
        (p[0].name.as_str(), p[0].driver.as_str()),
        ("pgdata", "local")
    );
    assert!(
        p[0].mountpoint
            .starts_with("/var/lib/containers/storage/volumes/")
    );
}

#[test]
fn network_list_in_every_version() {
    for v in every_version() {
        let ns: Vec<Network> = parse(&docker("networks.json", v), &format!("networks 1.{v}"));
        let by = |n: &str| ns.iter().find(|x| x.name == n).expect("listed");
        for n in ["bridge", "none", "host"] {
            assert!(by(n).is_predefined(), "1.{v}: {n}");
        }
        let app = by("shop_default");
        assert!(!app.is_predefined());
        assert_eq!(
            app.ipam
                .config
                .iter()
                .map(|c| c.subnet.as_str())
                .collect::<Vec<_>>(),
            ["172.18.0.0/16", "fd00:18::/64"]
        );
        // A time with an offset is the same instant; Go's zero time is no time.
        assert_eq!(
            app.created,
            crate::units::parse_rfc3339("2026-11-21T08:00:00.5Z")
        );
        assert!(by("none").created.is_none() && by("bridge").created.is_some());
        // `IPAM.Config: null` (host).
        assert!(by("host").ipam.config.is_empty(), "1.{v}");
        assert_eq!(app.labels["com.docker.compose.network"], "default");
    }
}

#[test]
fn network_list_from_podman() {
    // Podman lists its default network, `podman`, as `bridge`.
    let ns: Vec<Network> = parse(&fixture("podman-4.3/networks.json"), "podman networks");
    assert_eq!(ns.len(), 1);
    assert!(ns[0].is_predefined());
    assert_eq!(ns[0].ipam.config[0].subnet, "10.88.0.0/16");
    assert_eq!(
        ns[0].created,
        crate::units::parse_rfc3339("2026-11-20T09:00:00.481723642Z")
    );
}
