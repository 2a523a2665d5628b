//! The verdicts of gc's policy, rule by rule.

use std::collections::HashMap;

use super::rules::{container, glob, is_base, keep_last, repo_of};

use super::*;
use crate::policy::containers::Grace;

const NOW: f64 = 1_800_000_000.0;
const H: f64 = 3600.0;
const D: f64 = 86_400.0;

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn img(id: &str, tags: &[&str], chain: &[&str], first_seen_ago: f64) -> ImageIn {
    ImageIn {
        id: id.into(),
        tags: strs(tags),
        created: NOW - 400.0 * D,
        chain: Some(strs(chain)),
        first_seen: NOW - first_seen_ago,
        ..ImageIn::default()
    }
}

fn ctr(id: &str, image: &str, grace: Option<Grace>) -> ContainerIn {
    ContainerIn {
        id: id.into(),
        name: id.into(),
        image: image.into(),
        grace,
        bytes: Some(10),
        ..ContainerIn::default()
    }
}

fn sizes(v: &[(&str, u64)]) -> HashMap<String, u64> {
    v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
}

fn rules(v: &[Verdict]) -> Vec<&'static str> {
    v.iter().map(|x| x.why.rule()).collect()
}

fn images_policy() -> Policy {
    Policy {
        types: Types {
            images: true,
            ..Types::default_set()
        },
        ..Policy::default()
    }
}

#[test]
fn containers_by_grace_and_label() {
    let past = Some(Grace::Past { age_s: 2.0 * H });
    let within = Some(Grace::Within { age_s: 60.0 });
    let cases = [
        (None, false, "running"),
        (past, false, "stopped"),
        (past, true, "keep-label"),
        (within, false, "grace"),
        (within, true, "keep-label"),
    ];
    for (g, label, want) in cases {
        assert_eq!(container(g, label).rule(), want, "{g:?} {label}");
    }
}

#[test]
fn globs_over_references() {
    let cases = [
        ("app:*", "app:1.2", true),
        ("app:*", "app", false),
        ("app:*", "myapp:1", false),
        ("*/base:*", "registry:5000/team/base:3", true),
        ("registry:5000/*", "registry:5000/app:1", true),
        ("app:v?", "app:v1", true),
        ("app:v?", "app:v10", false),
        ("*", "anything/at:all", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("", "", true),
        ("", "x", false),
    ];
    for (p, t, want) in cases {
        assert_eq!(glob(p, t), want, "{p} ~ {t}");
    }
}

#[test]
fn repositories_of_references() {
    let cases = [
        ("app:1", "app"),
        ("registry:5000/app:1", "registry:5000/app"),
        ("registry:5000/app", "registry:5000/app"),
        ("library/debian:bookworm-slim", "library/debian"),
        ("app@sha256:abc", "app"),
        ("app", "app"),
    ];
    for (r, want) in cases {
        assert_eq!(repo_of(r), want, "{r}");
    }
}

#[test]
fn idle_time_starts_at_first_sight_not_creation() {
    // Built years ago, pulled (first seen) a minute ago: idle one minute.
    assert_eq!(image_idle(NOW - 60.0, None, NOW), 60.0);
    // Used after it was first seen: idle since the use.
    assert_eq!(image_idle(NOW - 10.0 * D, Some(NOW - H), NOW), H);
    // A use recorded before the first sighting (an event replayed): first sighting wins.
    assert_eq!(image_idle(NOW - H, Some(NOW - D), NOW), H);
    // A clock that went backwards.
    assert_eq!(image_idle(NOW + 5.0, None, NOW), 0.0);
}

#[test]
fn old_image_first_seen_now_is_kept_by_grace() {
    let mut old = img("sha256:old", &["old:1"], &["L1"], 0.0);
    old.created = NOW - 5.0 * 365.0 * D;
    let input = Input {
        images: vec![old],
        ..Input::default()
    };
    let v = judge(&input, &images_policy(), NOW);
    assert!(matches!(v.images[0].why, Why::WithinGrace { age_s } if age_s == 0.0));
    // With no grace, it goes.
    let p = Policy {
        min_age_s: 0.0,
        ..images_policy()
    };
    assert_eq!(judge(&input, &p, NOW).images[0].why, Why::Unused);
}

#[test]
fn image_rules_in_order() {
    let mut labelled = img("sha256:l", &["lab:1"], &["L"], 2.0 * D);
    labelled.keep_label = true;
    let input = Input {
        containers: vec![
            ctr("run", "sha256:used", None),
            // Stopped past grace: removed, so it does not keep its image.
            ctr("old", "sha256:freed", Some(Grace::Past { age_s: 3.0 * D })),
            // Within grace: stays, and keeps its image.
            ctr("new", "sha256:held", Some(Grace::Within { age_s: 5.0 })),
        ],
        images: vec![
            img("sha256:used", &["used:1"], &["U"], 2.0 * D),
            img("sha256:freed", &["freed:1"], &["F"], 2.0 * D),
            img("sha256:held", &["held:1"], &["HE"], 2.0 * D),
            labelled,
            img("sha256:young", &["young:1"], &["Y"], 60.0),
            img("sha256:pat", &["keepme:7", "other:1"], &["P"], 2.0 * D),
            img("sha256:dang", &[], &["DA"], 2.0 * D),
        ],
        ..Input::default()
    };
    let p = Policy {
        keep_patterns: strs(&["keepme:*"]),
        ..images_policy()
    };
    let v = judge(&input, &p, NOW);
    assert_eq!(rules(&v.containers), ["running", "stopped", "grace"]);
    assert_eq!(
        rules(&v.images),
        [
            "in-use",
            "unused",
            "in-use",
            "keep-label",
            "grace",
            "keep-pattern",
            "dangling"
        ]
    );
    // Without --images, tagged unused images are not asked for; dangling ones are.
    let v = judge(&input, &Policy::default(), NOW);
    assert_eq!(v.images[1].why, Why::NotRequested);
    assert_eq!(v.images[6].why, Why::Dangling);
    // Without dangling images either.
    let p = Policy {
        types: Types {
            dangling_images: false,
            ..Types::default_set()
        },
        ..Policy::default()
    };
    assert_eq!(judge(&input, &p, NOW).images[6].why, Why::NotRequested);
}

#[test]
fn keep_last_n_per_repository() {
    let mut imgs = Vec::new();
    for (i, ago) in [(1, 50.0), (2, 40.0), (3, 30.0), (4, 20.0)] {
        let mut x = img(
            &format!("sha256:app{i}"),
            &[&format!("app:v{i}")],
            &[],
            2.0 * D,
        );
        x.created = NOW - ago * D;
        x.chain = None;
        imgs.push(x);
    }
    // v1 was used an hour and a half ago: recent by use, although built first.
    imgs[0].last_used = Some(NOW - 1.5 * H);
    let other = ImageIn {
        chain: None,
        ..img("sha256:db", &["db:1"], &[], 2.0 * D)
    };
    imgs.push(other);
    let input = Input {
        images: imgs,
        ..Input::default()
    };
    let p = Policy {
        keep_last: 2,
        ..images_policy()
    };
    let v = judge(&input, &p, NOW);
    assert_eq!(
        rules(&v.images),
        ["keep-last", "unused", "unused", "keep-last", "keep-last"]
    );
    assert_eq!(
        v.images[3].why,
        Why::KeepLast {
            repo: "app".into(),
            n: 2
        }
    );
    // The table of the function itself: ties broken by id.
    let tags = strs(&["r:1"]);
    let k = keep_last(
        [("b", tags.as_slice(), 5.0), ("a", tags.as_slice(), 5.0)],
        1,
    );
    assert!(k["r"].contains("a") && !k["r"].contains("b"));
}

#[test]
fn base_images_of_kept_images_are_protected_through_chains() {
    let input = Input {
        containers: vec![ctr("web", "sha256:app", None)],
        images: vec![
            img("sha256:base", &["debian:12"], &["D"], 2.0 * D),
            img("sha256:app", &["app:1"], &["D", "A"], 2.0 * D),
            // Same base, but nothing keeps it: goes; the base stays for app's sake.
            img("sha256:tool", &["tool:1"], &["D", "T"], 2.0 * D),
            // Unrelated: goes.
            img("sha256:other", &["other:1"], &["O"], 2.0 * D),
            // A base of a base of a recently used image (grace): kept through the chain.
            img("sha256:root", &["root:1"], &["R"], 2.0 * D),
            img("sha256:mid", &["mid:1"], &["R", "M"], 2.0 * D),
            img("sha256:fresh", &["fresh:1"], &["R", "M", "F"], 60.0),
            // Same chain as a kept image (FROM with no new layer): a base too.
            img("sha256:alias", &["alias:1"], &["D", "A"], 2.0 * D),
        ],
        layer_sizes: sizes(&[("D", 100), ("A", 5), ("T", 7), ("O", 9)]),
        ..Input::default()
    };
    let v = judge(&input, &images_policy(), NOW);
    assert_eq!(
        rules(&v.images),
        [
            "base-image",
            "in-use",
            "unused",
            "unused",
            "base-image",
            "base-image",
            "grace",
            "base-image"
        ]
    );
    assert_eq!(
        v.images[0].why,
        Why::BaseOfKept {
            child: "app:1".into()
        }
    );
    // tool frees only its own layer: D stays with debian and app.
    assert_eq!(v.images[2].bytes, Some(7));
    assert_eq!(v.images[3].bytes, Some(9));
    assert!(is_base(&strs(&["a"]), &strs(&["a", "b"])));
    assert!(!is_base(&strs(&["b"]), &strs(&["a", "b"])));
    assert!(!is_base(&[], &strs(&["a"])));
}

#[test]
fn shared_layers_are_freed_once_by_the_last_image_to_go() {
    let input = Input {
        images: vec![
            img("sha256:x", &["x:1"], &["S", "X"], 2.0 * D),
            img("sha256:y", &["y:1"], &["S", "Y"], 3.0 * D),
        ],
        layer_sizes: sizes(&[("S", 1000), ("X", 10), ("Y", 20)]),
        ..Input::default()
    };
    let v = judge(&input, &images_policy(), NOW);
    // y is older (least recently used): it goes first and frees its own layer; x then
    // frees the shared one too.
    assert_eq!(v.images[1].bytes, Some(20));
    assert_eq!(v.images[0].bytes, Some(1010));
    assert_eq!(v.bytes(), 1030);
    // Without chains: unique bytes.
    let mut input = input;
    for i in &mut input.images {
        i.chain = None;
        i.unique_bytes = 3;
    }
    assert_eq!(judge(&input, &images_policy(), NOW).bytes(), 6);
}

/// The containerd image store: chains from the engine (image inspect's layers), no layer
/// sizes. Bases are still protected by chain; bytes are each image's unique bytes.
#[test]
fn engine_chains_without_layer_sizes_protect_bases_and_count_unique_bytes() {
    let mut input = Input {
        containers: vec![ctr("web", "sha256:app", None)],
        images: vec![
            img("sha256:base", &["debian:12"], &["D"], 2.0 * D),
            img("sha256:app", &["app:1"], &["D", "A"], 2.0 * D),
            img("sha256:tool", &["tool:1"], &["D", "T"], 2.0 * D),
        ],
        ..Input::default()
    };
    for i in &mut input.images {
        i.unique_bytes = 4;
    }
    let v = judge(&input, &images_policy(), NOW);
    assert_eq!(rules(&v.images), ["base-image", "in-use", "unused"]);
    assert_eq!(v.images[2].bytes, Some(4));
}

#[test]
fn watermark_need() {
    let m = Watermarks {
        high: 85.0,
        low: 75.0,
    };
    let cases = [
        (90, 100, 15),
        (85, 100, 0),
        (86, 100, 11),
        (50, 100, 0),
        (0, 0, 0),
    ];
    for (used, cap, want) in cases {
        assert_eq!(
            super::watermark::watermark_need(
                Disk {
                    used,
                    capacity: cap
                },
                m
            ),
            want,
            "{used}/{cap}"
        );
    }
}

#[test]
fn watermarks_take_least_recently_used_first_until_the_low_mark() {
    let mut imgs = vec![
        img("sha256:a", &["a:1"], &["A"], 10.0 * D),
        img("sha256:b", &["b:1"], &["B"], 10.0 * D),
        img("sha256:c", &["c:1"], &["C"], 10.0 * D),
        img("sha256:d", &["d:1"], &["D"], 10.0 * D),
    ];
    // Last used: c longest ago, then a, then d; b an hour and a half ago.
    imgs[2].last_used = Some(NOW - 9.0 * D);
    imgs[0].last_used = Some(NOW - 5.0 * D);
    imgs[3].last_used = Some(NOW - 3.0 * D);
    imgs[1].last_used = Some(NOW - 1.5 * H);
    let input = Input {
        images: imgs,
        layer_sizes: sizes(&[("A", 30), ("B", 30), ("C", 30), ("D", 30)]),
        // 90 % used; the low mark 75 % needs 15 bytes freed... and c frees 30.
        disk: Some(Disk {
            used: 90,
            capacity: 100,
        }),
        ..Input::default()
    };
    let p = Policy {
        watermarks: Some(Watermarks {
            high: 85.0,
            low: 75.0,
        }),
        ..Policy::default()
    };
    let v = judge(&input, &p, NOW);
    assert_eq!(
        rules(&v.images),
        [
            "under-watermark",
            "under-watermark",
            "watermark",
            "under-watermark"
        ]
    );
    let w = v.watermark.expect("watermark");
    assert_eq!((w.need, w.planned, w.met), (15, 30, true));
    // Needing 70: c, a, d in that order, b last (and not needed).
    let mut input = input;
    input.disk = Some(Disk {
        used: 370,
        capacity: 400,
    });
    let v = judge(&input, &p, NOW);
    assert_eq!(
        rules(&v.images),
        ["watermark", "under-watermark", "watermark", "watermark"]
    );
    // Under the high mark: nothing.
    input.disk = Some(Disk {
        used: 80,
        capacity: 100,
    });
    let v = judge(&input, &p, NOW);
    assert!(v.images.iter().all(|x| x.why == Why::UnderWatermark));
    assert_eq!(v.watermark.expect("w").need, 0);
    // Recently used images are not taken, whatever the pressure.
    input.disk = Some(Disk {
        used: 1000,
        capacity: 1000,
    });
    input.images[1].last_used = Some(NOW - 60.0);
    let v = judge(&input, &p, NOW);
    assert!(matches!(v.images[1].why, Why::WithinGrace { .. }));
    assert!(!v.watermark.expect("w").met);
}

#[test]
fn watermarks_count_what_the_other_rules_free_and_spare_bases_until_their_children_go() {
    let input = Input {
        containers: vec![ctr("old", "sha256:gone", Some(Grace::Past { age_s: D }))],
        images: vec![
            // The base is least recently used, but its child stays until it is taken too.
            img("sha256:base", &["base:1"], &["B"], 20.0 * D),
            img("sha256:child", &["child:1"], &["B", "C"], 10.0 * D),
        ],
        layer_sizes: sizes(&[("B", 50), ("C", 50)]),
        disk: Some(Disk {
            used: 95,
            capacity: 100,
        }),
        ..Input::default()
    };
    let p = Policy {
        watermarks: Some(Watermarks {
            high: 90.0,
            low: 10.0,
        }),
        ..Policy::default()
    };
    let v = judge(&input, &p, NOW);
    assert_eq!(rules(&v.images), ["watermark", "watermark"]);
    // The child frees its own layer first; the base then frees the shared one.
    assert_eq!(v.images[1].bytes, Some(50));
    assert_eq!(v.images[0].bytes, Some(50));
    let w = v.watermark.expect("w");
    assert_eq!(w.planned, 110, "the container's 10 bytes count too");
}

#[test]
fn volumes_named_are_data_anonymous_go_with_volumes() {
    let vol = |name: &str, anonymous: bool, created_ago: f64| VolumeIn {
        name: name.into(),
        anonymous,
        created: Some(NOW - created_ago),
        bytes: Some(1),
        ..VolumeIn::default()
    };
    let mut labelled = vol("keepvol", false, D);
    labelled.keep_label = true;
    let mut c = ctr("user", "sha256:x", None);
    c.volumes = strs(&["used"]);
    let mut gone = ctr("gone", "sha256:x", Some(Grace::Past { age_s: D }));
    gone.volumes = strs(&["freed"]);
    let input = Input {
        containers: vec![c, gone],
        volumes: vec![
            vol("used", true, D),
            vol("freed", true, D),
            vol("young", true, 60.0),
            vol("pgdata", false, D),
            labelled,
        ],
        ..Input::default()
    };
    let v = judge(&input, &Policy::default(), NOW);
    assert_eq!(
        rules(&v.volumes),
        [
            "in-use",
            "not-requested",
            "grace",
            "named-volume",
            "keep-label"
        ]
    );
    let p = Policy {
        types: Types {
            volumes: true,
            ..Types::default_set()
        },
        ..Policy::default()
    };
    let v = judge(&input, &p, NOW);
    assert_eq!(v.volumes[1].why, Why::UnusedAnonymousVolume);
    assert_eq!(v.volumes[3].why, Why::NamedVolume);
    let p = Policy {
        types: Types {
            volumes: true,
            named_volumes: true,
            ..Types::default_set()
        },
        ..Policy::default()
    };
    assert_eq!(
        judge(&input, &p, NOW).volumes[3].why,
        Why::UnusedNamedVolume
    );
}

#[test]
fn networks_used_by_any_remaining_container_stay() {
    let net = |name: &str, predefined: bool, created_ago: Option<f64>| NetworkIn {
        id: format!("id-{name}"),
        name: name.into(),
        predefined,
        created: created_ago.map(|a| NOW - a),
        ..NetworkIn::default()
    };
    let mut stopped_within = ctr("s", "sha256:x", Some(Grace::Within { age_s: 1.0 }));
    stopped_within.networks = strs(&["held"]);
    let mut stopped_old = ctr("o", "sha256:x", Some(Grace::Past { age_s: D }));
    stopped_old.networks = strs(&["freed"]);
    let mut by_id = ctr("i", "sha256:x", None);
    by_id.networks = strs(&["id-byid"]);
    let input = Input {
        containers: vec![stopped_within, stopped_old, by_id],
        networks: vec![
            net("bridge", true, None),
            net("held", false, Some(D)),
            net("freed", false, Some(D)),
            net("fresh", false, Some(5.0)),
            net("byid", false, Some(D)),
            net("nodate", false, None),
        ],
        ..Input::default()
    };
    let v = judge(&input, &Policy::default(), NOW);
    assert_eq!(
        rules(&v.networks),
        [
            "predefined",
            "in-use",
            "unused-network",
            "grace",
            "in-use",
            "unused-network"
        ]
    );
}

#[test]
fn logs_build_cache_and_the_cap() {
    let input = Input {
        containers: vec![
            ctr("a", "i", Some(Grace::Past { age_s: 3.0 * D })),
            ctr("b", "i", Some(Grace::Past { age_s: 5.0 * D })),
            ctr("c", "i", Some(Grace::Past { age_s: 4.0 * D })),
            ctr("web", "i", None),
        ],
        build_cache: Some(BuildCacheIn { bytes: Some(500) }),
        logs: vec![
            LogIn {
                container: "web".into(),
                bytes: 900,
                big: true,
            },
            LogIn {
                container: "a".into(),
                bytes: 900,
                big: true,
            },
            LogIn {
                container: "web2".into(),
                bytes: 9,
                big: false,
            },
        ],
        ..Input::default()
    };
    let v = judge(&input, &Policy::default(), NOW);
    assert_eq!(
        v.build_cache.as_ref().map(|b| b.why.rule()),
        Some("build-cache")
    );
    assert_eq!(rules(&v.logs), ["log-kept", "log-kept", "log-kept"]);
    // Oldest first: b, c, a.
    assert_eq!(
        &v.order[..3],
        &[
            Object::Container(1),
            Object::Container(2),
            Object::Container(0)
        ]
    );
    let p = Policy {
        types: Types {
            logs: true,
            ..Types::default_set()
        },
        max_removals: 2,
        ..Policy::default()
    };
    let v = judge(&input, &p, NOW);
    // Only the log of a container that stays is truncated.
    assert_eq!(v.logs[0].why, Why::CapReached { max: 2 });
    assert_eq!(v.logs[1].why, Why::LogKept);
    assert_eq!(
        rules(&v.containers),
        ["max-removals", "stopped", "stopped", "running"]
    );
    assert_eq!(v.build_cache.expect("bc").why, Why::CapReached { max: 2 });
}

#[test]
fn nothing_collects_when_no_type_is_asked_for() {
    let input = Input {
        containers: vec![ctr("a", "i", Some(Grace::Past { age_s: 3.0 * D }))],
        images: vec![img("sha256:d", &[], &["X"], 2.0 * D)],
        build_cache: Some(BuildCacheIn { bytes: None }),
        ..Input::default()
    };
    let p = Policy {
        types: Types::default(),
        ..Policy::default()
    };
    let v = judge(&input, &p, NOW);
    assert_eq!(v.bytes(), 0);
    assert!(
        v.order
            .iter()
            .all(|o| !v.verdict(*o).expect("v").why.collects())
    );
}
