//! Unknown never acts, as a property: the verdict functions behind every acting command
//! (`ports free`, `reap`, `gc`, `recover`) get facts with arbitrary gaps — the engine's list
//! missing, a container's state not known, a process's age or start time not read, the disk not
//! measured — and no destructive verdict may rest on one. Each property names the positive
//! evidence a destructive verdict needs; a gap must never stand in for it.

use proptest::prelude::*;
use proptest::sample::select;

use super::containers::Grace;
use super::daemon::recovery::{Presence, presence};
use super::gc::{self, ContainerIn, Disk, ImageIn, Input, LogIn, Policy, Types, VolumeIn, Why};
use super::ports::{
    FreeVerdict, Leak, OwnerKind, ProxyScope, ProxySeen, ProxyVerdict, free_verdict,
    judge_proxy_if_known,
};
use super::processes::{
    ContainerLife, Listed, ParentVerdict, ZombieRoot, container_life, zombie_parent,
};
use crate::runtime::net::ProxyArgs;

const IDS: &[&str] = &["web", "db", "cache"];

fn listed() -> impl Strategy<Value = Option<Listed>> {
    proptest::option::of(select(vec![
        Listed::Running,
        Listed::NotRunning,
        Listed::Absent,
    ]))
}

fn id() -> impl Strategy<Value = String> {
    select(IDS).prop_map(str::to_string)
}

fn proxy_verdict() -> impl Strategy<Value = ProxyVerdict> {
    prop_oneof![
        id().prop_map(|container| ProxyVerdict::Serving { container }),
        proptest::option::of(0.0f64..100.0).prop_map(|age_s| ProxyVerdict::Starting { age_s }),
        Just(ProxyVerdict::OtherDaemon),
        Just(ProxyVerdict::Leaked { why: Leak::Orphan }),
        Just(ProxyVerdict::Leaked {
            why: Leak::ContainerGone
        }),
        Just(ProxyVerdict::Unattributed),
    ]
}

fn owner_kind() -> impl Strategy<Value = OwnerKind> {
    prop_oneof![
        proptest::option::of(proxy_verdict()).prop_map(|verdict| OwnerKind::Proxy { verdict }),
        Just(OwnerKind::Engine),
        id().prop_map(|id| OwnerKind::Container { id }),
        Just(OwnerKind::Other),
    ]
}

proptest! {
    /// `ports free`: a process under a shim is killed only when Docker's list says its container
    /// ended; without the list (a frozen engine) it is left alone, even with --force-foreign. A
    /// proxy that could not be judged is never killed; nothing in D is ever acted on.
    #[test]
    fn ports_free_never_acts_on_a_gap(
        kind in owner_kind(),
        uninterruptible in any::<bool>(),
        belongs in proptest::option::of(id()),
        owner_listed in listed(),
        force in any::<bool>(),
    ) {
        // The survey names a running container only from the engine's records: no list, none.
        let belongs = belongs.filter(|_| owner_listed.is_some());
        let v = free_verdict(&kind, uninterruptible, belongs.as_deref(), owner_listed, force);
        if uninterruptible {
            prop_assert!(matches!(v, FreeVerdict::Refused { .. }), "{v:?}");
        }
        match (&kind, &v) {
            (OwnerKind::Container { .. }, FreeVerdict::KillLeftover { .. }) => {
                prop_assert!(
                    matches!(owner_listed, Some(Listed::NotRunning | Listed::Absent)),
                    "a container's process killed on {owner_listed:?}"
                );
            }
            (OwnerKind::Container { .. }, FreeVerdict::KillForeign) => {
                prop_assert!(false, "--force-foreign reached a container's process");
            }
            (OwnerKind::Container { .. }, _) if owner_listed.is_none() => {
                prop_assert!(matches!(v, FreeVerdict::Refused { .. }), "{v:?} on a gap");
            }
            (OwnerKind::Proxy { verdict: None }, _) => {
                prop_assert!(matches!(v, FreeVerdict::Refused { .. }), "{v:?} on a gap");
            }
            _ => {}
        }
    }

    /// The proxy verdict behind `ports free` and `reap`: a child of this daemon is judged only
    /// with the engine's records; "leaked, its container gone" needs a known age past the grace;
    /// with several daemons an orphan is this daemon's only inside one of its known subnets.
    #[test]
    fn a_proxy_is_leaked_only_on_evidence(
        child in any::<bool>(),
        parent_is_dockerd in any::<bool>(),
        age_s in proptest::option::of(0.0f64..100.0),
        records_known in any::<bool>(),
        live_dockerds in 1usize..4,
        subnets_known in any::<bool>(),
    ) {
        let args = ProxyArgs {
            proto: "tcp".into(),
            host_ip: "0.0.0.0".into(),
            host_port: 8080,
            container_ip: "172.17.0.2".into(),
            container_port: 80,
        };
        let subnets = if subnets_known { vec!["172.17.0.0/16".to_string()] } else { Vec::new() };
        let scope = ProxyScope { daemon_pid: 100, live_dockerds, subnets: &subnets, grace_s: 30.0 };
        let seen = ProxySeen {
            ppid: if child { 100 } else { 7 },
            parent: Some((if parent_is_dockerd { "dockerd" } else { "systemd" }, 'S')),
            args: &args,
            age_s,
        };
        let records: Option<&[crate::runtime::inventory::ContainerRecord]> =
            records_known.then_some(&[]);
        let v = judge_proxy_if_known(&seen, records, &scope);
        if child && !records_known {
            prop_assert_eq!(v.clone(), None);
        }
        match v {
            Some(ProxyVerdict::Leaked { why: Leak::ContainerGone }) => {
                prop_assert!(child && records_known);
                prop_assert!(age_s.is_some_and(|a| a >= 30.0), "leaked at age {age_s:?}");
            }
            Some(ProxyVerdict::Leaked { why: Leak::Orphan }) => {
                prop_assert!(!child);
                prop_assert!(live_dockerds == 1 || subnets_known, "an orphan claimed on a gap");
            }
            _ => {}
        }
    }

    /// `reap`'s zombie rule, through the same [`container_life`]: a parent is ended only when
    /// Docker's list says its container ended.
    #[test]
    fn reap_ends_a_zombie_parent_only_on_evidence(
        state in proptest::option::of(select(vec!['S', 'R', 'D', 'T', 't'])),
        is_root in any::<bool>(),
        daemon in any::<bool>(),
        owner_listed in listed(),
    ) {
        let root = if daemon {
            ZombieRoot::Daemon
        } else {
            ZombieRoot::Container { listed: owner_listed }
        };
        let v = zombie_parent(state, is_root, root);
        if v.reap_ends_parent() {
            prop_assert!(!daemon && !is_root);
            prop_assert!(
                matches!(container_life(owner_listed), ContainerLife::Ended { .. }),
                "{v:?} on {owner_listed:?}"
            );
        }
        if owner_listed.is_none() && !daemon {
            prop_assert!(
                !matches!(v, ParentVerdict::DeadContainer { .. }),
                "{:?} with no list",
                v
            );
        }
    }

    /// A container state word reads as "ended" only when it says so.
    #[test]
    fn only_exited_and_dead_read_as_ended(word in select(vec![
        "running", "paused", "restarting", "created", "removing", "exited", "dead", "", "Up 3 hours",
    ])) {
        let ended = Listed::of_state(word) == Listed::NotRunning;
        prop_assert_eq!(ended, matches!(word, "exited" | "dead"));
    }

    /// `recover`: a start time that was never captured (0) never makes a live process "gone".
    #[test]
    fn recover_never_reads_an_uncaptured_process_as_gone(
        target in prop_oneof![Just(0u64), 1u64..1000],
        seen in proptest::option::of((0u64..1000, select(vec!['S', 'R', 'D', 'T', 'Z', 'X']))),
    ) {
        let p = presence(target, seen);
        if let Some((ticks, state)) = seen
            && !matches!(state, 'Z' | 'X')
            && (target == 0 || ticks == target)
        {
            prop_assert_ne!(p, Presence::Gone, "{} {:?}", target, seen);
        }
    }

    /// `gc`: a container not known to be stopped (no grace verdict) is never removed; what a
    /// remaining container uses is never removed; without a measured disk the watermarks take
    /// nothing; with the stop time not known, a container is never past its grace.
    #[test]
    fn gc_never_removes_on_a_gap(
        containers in proptest::collection::vec(
            (proptest::option::of(prop_oneof![
                (0.0f64..10_000.0).prop_map(|age_s| Grace::Within { age_s }),
                (0.0f64..10_000.0).prop_map(|age_s| Grace::Past { age_s }),
            ]), select(IDS), any::<bool>()),
            0..5,
        ),
        images in proptest::collection::vec(
            (select(IDS), any::<bool>(), proptest::option::of(0.0f64..20_000.0)),
            0..4,
        ),
        disk in proptest::option::of((1u64..100, 100u64..200)),
        all in any::<bool>(),
        watermarks in any::<bool>(),
    ) {
        let input = Input {
            containers: containers
                .iter()
                .enumerate()
                .map(|(i, (grace, image, keep))| ContainerIn {
                    id: format!("c{i}"),
                    name: format!("c{i}"),
                    image: (*image).to_string(),
                    grace: *grace,
                    keep_label: *keep,
                    volumes: vec![format!("v-{image}")],
                    networks: Vec::new(),
                    bytes: None,
                })
                .collect(),
            images: images
                .iter()
                .map(|(id, tagged, last_used)| ImageIn {
                    id: (*id).to_string(),
                    tags: if *tagged { vec![format!("{id}:1")] } else { Vec::new() },
                    created: 0.0,
                    keep_label: false,
                    chain: None,
                    unique_bytes: 10,
                    first_seen: 0.0,
                    last_used: *last_used,
                })
                .collect(),
            volumes: IDS
                .iter()
                .map(|id| VolumeIn {
                    name: format!("v-{id}"),
                    anonymous: true,
                    keep_label: false,
                    created: Some(0.0),
                    bytes: None,
                })
                .collect(),
            logs: vec![LogIn { container: "c0".into(), bytes: 1 << 30, big: true }],
            disk: disk.map(|(used, capacity)| Disk { used, capacity }),
            ..Input::default()
        };
        let policy = Policy {
            min_age_s: 3600.0,
            watermarks: watermarks.then_some(gc::Watermarks { high: 10.0, low: 5.0 }),
            types: if all {
                Types {
                    containers: true,
                    dangling_images: true,
                    images: true,
                    networks: true,
                    build_cache: true,
                    volumes: true,
                    named_volumes: true,
                    logs: true,
                }
            } else {
                Types::default_set()
            },
            ..Policy::default()
        };
        let v = gc::judge(&input, &policy, 100_000.0);
        let mut used_images = std::collections::HashSet::new();
        let mut used_volumes = std::collections::HashSet::new();
        for (c, verdict) in input.containers.iter().zip(&v.containers) {
            if c.grace.is_none() {
                prop_assert!(!verdict.why.collects(), "{:?} removed, not known stopped", c.id);
            }
            if !verdict.why.collects() {
                used_images.insert(c.image.as_str());
                used_volumes.extend(c.volumes.iter().map(String::as_str));
            }
        }
        for (i, verdict) in input.images.iter().zip(&v.images) {
            if used_images.contains(i.id.as_str()) {
                prop_assert!(!verdict.why.collects(), "{} removed while in use", i.id);
            }
            if input.disk.is_none() {
                prop_assert!(verdict.why != Why::Watermark, "a watermark on an unmeasured disk");
            }
        }
        for (vol, verdict) in input.volumes.iter().zip(&v.volumes) {
            if used_volumes.contains(vol.name.as_str()) {
                prop_assert!(!verdict.why.collects(), "{} removed while mounted", vol.name);
            }
        }
    }
}
