//! `/system/df` and `/info` in the shape of every Engine API version from 1.41 to 1.56, under
//! the containerd image store, and from Podman's compat API, fed through df's parsers: what the
//! request is, what each answer yields, and the storage map built from the engine's figures.
//! The examples are in `tests/fixtures/api/` (see `runtime::inventory::shapes`).

use std::collections::HashMap;

use serde_json::Value;

use super::*;
use crate::policy::daemon::settings::{LiveRestore, engine_warnings, live_restore};
use crate::runtime::inventory::shapes::{NEWEST_API, docker, fixture};

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("an example parses")
}

/// The lists an engine of API 1.`v` gives (or a Podman directory's), as facts.rs parses them.
struct Lists {
    containers: Vec<Container>,
    images: Vec<Image>,
    volumes: Vec<Volume>,
}

impl Lists {
    fn docker(v: u32) -> Lists {
        Lists::from(
            &docker("containers.json", v),
            &docker("images.json", v),
            &docker("volumes.json", v),
        )
    }

    fn from(containers: &str, images: &str, volumes: &str) -> Lists {
        Lists {
            containers: serde_json::from_str(containers).expect("containers"),
            images: serde_json::from_str(images).expect("images"),
            volumes: serde_json::from_value(json(volumes)["Volumes"].clone()).expect("volumes"),
        }
    }

    fn container(&self, name: &str) -> &str {
        &self
            .containers
            .iter()
            .find(|c| c.name() == name)
            .expect(name)
            .id
    }

    fn image(&self, tag: &str) -> &str {
        let i = self.images.iter().find(|i| match tag {
            "" => i.is_dangling(),
            t => i.repo_tags.iter().flatten().any(|x| x == t),
        });
        &i.expect(tag).id
    }

    fn report(&self, df: EngineDf) -> DfReport {
        engine_report(df, &self.containers, &self.images, &self.volumes)
    }
}

/// What dockhand asks an engine of API 1.`v` for, and the example of its answer.
fn answer(v: u32) -> (&'static str, String) {
    let path = system_df_path((1, v), false);
    let file = if path.contains("verbose=1") {
        "system-df-verbose.json"
    } else {
        "system-df.json"
    };
    (path, docker(file, v))
}

#[test]
fn the_request_per_version() {
    let cases = [
        ((1, 41), false, "/system/df"),
        ((1, 41), true, "/system/df"),
        ((1, 42), true, "/system/df?type=build-cache"),
        ((1, 51), false, "/system/df"),
        ((1, 51), true, "/system/df?type=build-cache"),
        ((1, 52), false, "/system/df?verbose=1"),
        ((1, 52), true, "/system/df?type=build-cache&verbose=1"),
        ((1, 56), false, "/system/df?verbose=1"),
    ];
    for (api, bc, want) in cases {
        assert_eq!(
            system_df_path(api, bc),
            want,
            "{api:?} build cache only: {bc}"
        );
    }
}

/// The build cache of every example: four records, one in use, one shared (counted by whoever
/// shares it, as the docker CLI counts), one a local source.
fn assert_build_cache(bc: &BuildCachePart, what: &str) {
    assert_eq!(bc.source, "engine", "{what}");
    assert_eq!((bc.count, bc.active), (4, 1), "{what}");
    assert_eq!(bc.total, 51_000_000 + 70_000_000 + 4_000, "{what}");
    assert_eq!(bc.reclaimable, 51_000_000 + 4_000, "{what}");
}

#[test]
fn system_df_in_every_version() {
    for v in 41..=NEWEST_API {
        let (path, text) = answer(v);
        let what = format!("API 1.{v}: {path}");
        let df = EngineDf::parse(&json(&text));
        let l = Lists::docker(v);
        assert_eq!(df.layers_size, Some(202_260_000), "{what}");
        // `SharedSize` is computed here (it is -1 in the image list).
        assert_eq!(
            df.image(l.image("nginx:1.25")),
            (Some(187_000_000), Some(180_000_000)),
            "{what}"
        );
        assert_eq!(
            df.image(l.image("")),
            (Some(191_000_000), Some(180_000_000))
        );
        // `SizeRw` is omitted for a container that wrote nothing: 0, not unknown.
        let rw = |n: &str| df.containers.get(l.container(n)).copied().flatten();
        assert_eq!(rw("web"), Some(2_000_000), "{what}");
        assert_eq!(rw("boring_feynman"), Some(12_288), "{what}");
        assert_eq!(rw("fresh"), Some(0), "{what}");
        // `UsageData.Size` -1: the driver cannot tell.
        assert_eq!(df.volumes["pgdata"], Some(900_000_000), "{what}");
        assert_eq!(df.volumes["remote"], None, "{what}");
        assert_build_cache(&df.build_cache, &what);

        let r = l.report(df);
        assert_eq!(r.source, "engine");
        let i = &r.images;
        assert_eq!((i.count, i.active, i.dangling), (3, 2, 1), "{what}");
        assert_eq!((i.total, i.shared), (202_260_000, 180_000_000), "{what}");
        // As `docker system df` counts it: the total less the used images' own bytes (the
        // shared base counts as reclaimable, as in the engine's client).
        assert_eq!(
            i.reclaimable, 191_000_000,
            "{what}: the total less the used images' unique bytes"
        );
        let c = &r.containers;
        assert_eq!((c.count, c.active), (3, 1), "{what}");
        assert_eq!(
            (c.rw_total, c.rw_reclaimable),
            (2_012_288, 12_288),
            "{what}"
        );
        let vol = &r.volumes;
        assert_eq!((vol.count, vol.active), (4, 2), "{what}");
        assert_eq!((vol.total, vol.reclaimable), (903_005_000, 5_000), "{what}");
        assert!(
            vol.items
                .iter()
                .any(|x| x.name == "remote" && x.size.is_none())
        );
        assert_build_cache(&r.build_cache, &what);
    }
}

#[test]
fn api_1_52_without_verbose_sends_both_shapes() {
    // What a 1.52 engine (Docker 29.0, 29.1) answers a client that does not ask `verbose`: the
    // legacy arrays and the new totals (moby's router; the 1.52 reference lists only the new).
    let text = fixture("docker-1.52/system-df.json");
    let raw = json(&text);
    assert!(raw.get("Images").is_some() && raw.pointer("/ImageUsage/Items").is_none());
    let df = EngineDf::parse(&raw);
    assert_eq!(df.layers_size, Some(202_260_000));
    assert_eq!(
        (df.images.len(), df.containers.len(), df.volumes.len()),
        (3, 3, 4)
    );
    assert_build_cache(&df.build_cache, "1.52 without verbose");
}

#[test]
fn api_1_53_totals_alone() {
    // The reference from 1.53 drops the legacy arrays; without `verbose` only the totals are
    // left. (dockhand asks with `verbose=1` from 1.52, so this is the answer of an engine that
    // ignored it.) The build cache's total then counts shared records too.
    let df = EngineDf::parse(&json(&fixture("docker-1.53/system-df.json")));
    assert_eq!(df.layers_size, Some(202_260_000));
    assert!(df.images.is_empty() && df.containers.is_empty() && df.volumes.is_empty());
    let bc = &df.build_cache;
    assert_eq!((bc.count, bc.active), (4, 1));
    assert_eq!((bc.total, bc.reclaimable), (421_004_000, 51_004_000));
}

#[test]
fn build_cache_alone_in_every_version() {
    // `type=build-cache` from 1.42 (with `verbose=1` from 1.52): the other kinds are null or
    // absent, and `LayersSize` 0 with no images is a size, not a gap.
    for v in 42..=NEWEST_API {
        let text = docker("system-df-build-cache.json", v);
        let df = EngineDf::parse(&json(&text));
        assert!(df.images.is_empty(), "1.{v}");
        assert_build_cache(&df.build_cache, &format!("build cache, API 1.{v}"));
    }
    // `Parent` (1.41) and `Parents` (1.42) are not read: the same figures.
    let parent = EngineDf::parse(&json(&docker("system-df.json", 41))).build_cache;
    let parents = EngineDf::parse(&json(&docker("system-df.json", 42))).build_cache;
    assert!(fixture("docker-1.41/system-df.json").contains(r#""Parent": "a2ps"#));
    assert!(fixture("docker-1.42/system-df.json").contains(r#""Parents": ["#));
    assert_eq!(
        (parent.count, parent.total, parent.reclaimable),
        (parents.count, parents.total, parents.reclaimable)
    );
    // An engine without BuildKit records answers `BuildCache: null` (20.10).
    let none = EngineDf::parse(&json(r#"{"LayersSize": 0, "BuildCache": null}"#)).build_cache;
    assert_eq!(
        (none.count, none.total, none.source.as_str()),
        (0, 0, "engine")
    );
}

#[test]
fn system_df_under_the_containerd_store() {
    // Sizes there are content (compressed blobs) plus unpacked snapshots, the total is every
    // blob and snapshot once; ids are the images' index digests in both lists.
    let text = fixture("docker-1.52-containerd/system-df-verbose.json");
    let df = EngineDf::parse(&json(&text));
    let images: Vec<Image> =
        serde_json::from_str(&fixture("docker-1.52-containerd/images.json")).expect("images");
    let mut l = Lists::docker(52);
    l.images = images;
    assert_eq!(df.layers_size, Some(347_400_000));
    assert_eq!(
        df.image(l.image("nginx:1.25")),
        (Some(259_000_000), Some(180_000_000))
    );
    let r = l.report(df);
    assert_eq!(
        (r.images.total, r.images.shared),
        (347_400_000, 180_000_000)
    );
    assert_eq!(r.images.reclaimable, 262_000_000, "the docker CLI's count");
    assert_eq!(r.containers.rw_total, 2_012_288);
}

#[test]
fn system_df_from_podman() {
    let l = Lists::from(
        &fixture("podman-4.3/containers.json"),
        &fixture("podman-4.3/images.json"),
        &fixture("podman-4.3/volumes.json"),
    );
    // Podman up to 5.4 sends `LayersSize: 0` whatever it holds: no total, not a zero one.
    let old = EngineDf::parse(&json(&fixture("podman-4.3/system-df.json")));
    assert_eq!(old.layers_size, None);
    // Its `/system/df` writes image ids without `sha256:`, its image list with it.
    assert_eq!(
        old.image(l.image("docker.io/library/nginx:1.25")),
        (Some(191_000_000), Some(185_000_000))
    );
    assert!(old.build_cache.count == 0 && old.build_cache.source == "engine");
    let r = l.report(old);
    // Without the total: each image's own bytes plus the largest share, a lower bound.
    assert_eq!(
        (r.images.total, r.images.shared),
        (205_300_000, 185_000_000)
    );
    assert_eq!(r.images.reclaimable, 195_000_000, "the docker CLI's count");
    let c = &r.containers;
    assert_eq!(
        (c.count, c.active, c.rw_total, c.rw_reclaimable),
        (4, 1, 1_204_096, 4_096)
    );
    assert_eq!((r.volumes.total, r.volumes.reclaimable), (52_000_000, 0));

    // From 5.5 the total is there.
    let new = EngineDf::parse(&json(&fixture("podman-5.6/system-df.json")));
    assert_eq!(new.layers_size, Some(205_300_000));
}

// ---------------------------------------------------------------------------------------------
// GET /info: the keys dockhand reads
// ---------------------------------------------------------------------------------------------

#[test]
fn info_in_every_version_and_engine() {
    let cases: Vec<(String, String, bool, &str)> = (41..=NEWEST_API)
        .map(|v| {
            (
                format!("API 1.{v}"),
                docker("info.json", v),
                false,
                "/var/lib/docker",
            )
        })
        .chain([
            (
                "containerd store".into(),
                fixture("docker-1.52-containerd/info.json"),
                true,
                "/var/lib/docker",
            ),
            (
                "rootless".into(),
                fixture("docker-1.52-rootless/info.json"),
                false,
                "/home/ops/.local/share/docker",
            ),
            (
                "podman 4.3".into(),
                fixture("podman-4.3/info.json"),
                false,
                "/var/lib/containers/storage",
            ),
        ])
        .collect();
    for (what, text, c8d, root) in cases {
        let info = json(&text);
        assert_eq!(containerd_image_store(&info), c8d, "{what}");
        assert_eq!(info["DockerRootDir"], root, "{what}");
        assert!(
            info["Driver"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}"
        );
        assert!(info["ServerVersion"].is_string(), "{what}");
        for k in ["Containers", "ContainersRunning", "Images"] {
            assert!(info[k].is_u64(), "{what}: {k}");
        }
        assert!(info["LoggingDriver"].is_string(), "{what}");
        // Podman always says false: its containers do not depend on a daemon (see engines.md).
        assert_eq!(live_restore(&info), LiveRestore::Off, "{what}");
        assert_eq!(
            info.pointer("/Swarm/LocalNodeState"),
            Some(&json(r#""inactive""#))
        );
        let warnings = engine_warnings(&info);
        assert!(warnings.iter().all(|w| !w.starts_with("WARNING")), "{what}");
    }
    let c8d = json(&fixture("docker-1.52-containerd/info.json"));
    assert_eq!(
        c8d["Driver"], "overlayfs",
        "the snapshotter, not a graph driver"
    );
    assert!(engine_warnings(&json(&fixture("podman-4.3/info.json"))).is_empty());
}

#[test]
fn api_version_headers() {
    // `API-Version` of a 20.10 engine, of Docker 29.7, of Podman up to 5.7 and from 5.8.
    let cases: HashMap<&str, (u32, u32)> =
        [("1.41", (1, 41)), ("1.55", (1, 55)), ("1.44", (1, 44))].into();
    for (h, want) in cases {
        assert_eq!(parse_api(h), Some(want), "{h}");
    }
    assert_eq!(
        parse_api("Libpod/4.3.1 (linux)"),
        None,
        "the Server header is no version"
    );
}
