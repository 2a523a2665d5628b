//! The judgement: the whole policy over the whole input, kind by kind. Containers first — what
//! they decide frees or keeps images, volumes and networks — then images (and the bases of the
//! images that stay), volumes, networks, the build cache and logs; then the order of removals,
//! the bytes each image frees in that order, the watermarks and the cap.

use std::collections::{HashMap, HashSet};

use super::layers::LayerRefs;
use super::rules::{after_grace, bases, container, glob, image_idle, keep_last, name_of, repo_of};
use super::{ImageIn, Input, NetworkIn, Object, Policy, Verdict, Verdicts, VolumeIn, Why};

/// Judges everything: the whole policy over the whole input.
pub fn judge(input: &Input, p: &Policy, now: f64) -> Verdicts {
    let grace = p.min_age_s.max(0.0);
    let containers = containers(input, p);
    let users = Users::remaining(input, &containers);
    let base_of = bases(&input.images);
    let images = images(input, p, now, &users, &base_of);
    let volumes = input
        .volumes
        .iter()
        .map(|v| volume(v, p, now, grace, &users))
        .collect();
    let networks = input
        .networks
        .iter()
        .map(|n| Verdict::keep(network(n, p, now, grace, &users)))
        .collect();
    let build_cache = input.build_cache.map(|b| {
        if p.types.build_cache {
            Verdict {
                why: Why::BuildCache,
                bytes: b.bytes,
            }
        } else {
            Verdict::keep(Why::NotRequested)
        }
    });
    let logs = logs(input, p, &containers);
    let (order, img_order) = removal_order(input);
    let mut v = Verdicts {
        containers,
        images,
        volumes,
        networks,
        build_cache,
        logs,
        order,
        watermark: None,
    };
    let mut layers = LayerRefs::new(&input.images, &input.layer_sizes);
    for &i in &img_order {
        if v.images[i].why.collects() {
            v.images[i].bytes = Some(layers.remove(&input.images[i]));
        }
    }
    if let (Some(marks), Some(disk)) = (p.watermarks, input.disk) {
        super::watermark::take(
            &mut v,
            input,
            &img_order,
            &base_of,
            &mut layers,
            marks,
            disk,
        );
    }
    cap(&mut v, p.max_removals);
    v
}

/// Containers: running, labelled, within grace, or stopped past it (collected when asked for).
fn containers(input: &Input, p: &Policy) -> Vec<Verdict> {
    input
        .containers
        .iter()
        .map(|c| {
            let why = container(c.grace, c.keep_label);
            if why.collects() && !p.types.containers {
                return Verdict::keep(Why::NotRequested);
            }
            Verdict {
                bytes: if why.collects() { c.bytes } else { None },
                why,
            }
        })
        .collect()
}

/// How many of the containers that remain after the plan use each image, volume and network.
struct Users<'a> {
    images: HashMap<&'a str, usize>,
    volumes: HashMap<&'a str, usize>,
    networks: HashMap<&'a str, usize>,
}

impl<'a> Users<'a> {
    fn remaining(input: &'a Input, containers: &[Verdict]) -> Users<'a> {
        let mut u = Users {
            images: HashMap::new(),
            volumes: HashMap::new(),
            networks: HashMap::new(),
        };
        for (c, _) in input
            .containers
            .iter()
            .zip(containers)
            .filter(|(_, v)| !v.why.collects())
        {
            *u.images.entry(c.image.as_str()).or_default() += 1;
            for v in &c.volumes {
                *u.volumes.entry(v.as_str()).or_default() += 1;
            }
            for n in &c.networks {
                *u.networks.entry(n.as_str()).or_default() += 1;
            }
        }
        u
    }

    fn of(map: &HashMap<&str, usize>, key: &str) -> usize {
        map.get(key).copied().unwrap_or(0)
    }
}

/// Images: each by its own rules, then the bases of the images that stay are kept too.
fn images(
    input: &Input,
    p: &Policy,
    now: f64,
    users: &Users<'_>,
    base_of: &[Vec<usize>],
) -> Vec<Verdict> {
    let kept_last = if p.keep_last > 0 {
        keep_last(
            input
                .images
                .iter()
                .map(|i| (i.id.as_str(), i.tags.as_slice(), i.recency())),
            p.keep_last,
        )
    } else {
        HashMap::new()
    };
    let mut images: Vec<Verdict> = input
        .images
        .iter()
        .map(|i| image(i, p, now, Users::of(&users.images, &i.id), &kept_last))
        .collect();
    // Base images of kept images are kept: their chains are prefixes of a kept image's chain.
    // ("Kept" here is provisional for Dangling/Unused: those are the candidates.)
    let is_kept = |v: &Verdict| !matches!(v.why, Why::Dangling | Why::Unused | Why::NotRequested);
    let kept_now: Vec<bool> = images.iter().map(is_kept).collect();
    for (i, v) in images.iter_mut().enumerate() {
        if kept_now[i] {
            continue;
        }
        if let Some(&child) = base_of[i].iter().find(|&&j| kept_now[j]) {
            v.why = Why::BaseOfKept {
                child: name_of(&input.images[child]),
            };
        }
    }
    images
}

/// One image, in the rules' order: in use, labelled, within grace, a keep pattern, keep-last;
/// then dangling or unused when asked for.
fn image(
    i: &ImageIn,
    p: &Policy,
    now: f64,
    users: usize,
    kept_last: &HashMap<String, HashSet<&str>>,
) -> Verdict {
    if users > 0 {
        return Verdict::keep(Why::InUse { users });
    }
    if i.keep_label {
        return Verdict::keep(Why::KeepLabel);
    }
    let idle = image_idle(i.first_seen, i.last_used, now);
    if idle < p.min_age_s.max(0.0) {
        return Verdict::keep(Why::WithinGrace { age_s: idle });
    }
    for t in &i.tags {
        if let Some(pat) = p.keep_patterns.iter().find(|pat| glob(pat, t)) {
            return Verdict::keep(Why::KeepPattern {
                pattern: pat.clone(),
                reference: t.clone(),
            });
        }
    }
    for t in &i.tags {
        let repo = repo_of(t);
        if kept_last
            .get(repo)
            .is_some_and(|ids| ids.contains(i.id.as_str()))
        {
            return Verdict::keep(Why::KeepLast {
                repo: repo.to_string(),
                n: p.keep_last,
            });
        }
    }
    if i.dangling() {
        if crate::policy::images::dangling_unused(true, users) && p.types.dangling_images {
            return Verdict::keep(Why::Dangling);
        }
    } else if p.types.images {
        return Verdict::keep(Why::Unused);
    }
    Verdict::keep(Why::NotRequested)
}

/// A volume: in use, labelled, named (data: kept whatever its age unless --named-volumes),
/// within grace, else unused (collected when its kind is asked for).
fn volume(v: &VolumeIn, p: &Policy, now: f64, grace: f64, users: &Users<'_>) -> Verdict {
    let users = Users::of(&users.volumes, &v.name);
    let why = if users > 0 {
        Why::InUse { users }
    } else if v.keep_label {
        Why::KeepLabel
    } else if !v.anonymous && !p.types.named_volumes {
        // Data: the lasting reason, whatever its age.
        Why::NamedVolume
    } else if let Some(age_s) = after_grace(v.created, grace, now) {
        Why::WithinGrace { age_s }
    } else if v.anonymous {
        if crate::policy::volumes::dangling(true, users) && p.types.volumes {
            Why::UnusedAnonymousVolume
        } else {
            Why::NotRequested
        }
    } else if p.types.named_volumes {
        Why::UnusedNamedVolume
    } else {
        Why::NamedVolume
    };
    Verdict {
        bytes: if why.collects() { v.bytes } else { None },
        why,
    }
}

/// A network: the engine's own, in use (by name or id), labelled, within grace, else unused.
fn network(n: &NetworkIn, p: &Policy, now: f64, grace: f64, users: &Users<'_>) -> Why {
    let users = Users::of(&users.networks, &n.name) + Users::of(&users.networks, &n.id);
    if n.predefined {
        Why::Predefined
    } else if users > 0 {
        Why::InUse { users }
    } else if n.keep_label {
        Why::KeepLabel
    } else if let Some(age_s) = after_grace(n.created, grace, now) {
        Why::WithinGrace { age_s }
    } else if p.types.networks {
        Why::UnusedNetwork
    } else {
        Why::NotRequested
    }
}

/// Logs: a big one is truncated when asked for, and only for a container that stays (a log goes
/// with its container).
fn logs(input: &Input, p: &Policy, containers: &[Verdict]) -> Vec<Verdict> {
    let removed: HashSet<&str> = input
        .containers
        .iter()
        .zip(containers)
        .filter(|(_, v)| v.why.collects())
        .map(|(c, _)| c.id.as_str())
        .collect();
    input
        .logs
        .iter()
        .map(|l| {
            if l.big && p.types.logs && !removed.contains(l.container.as_str()) {
                Verdict {
                    why: Why::BigLog,
                    bytes: Some(l.bytes),
                }
            } else {
                Verdict::keep(Why::LogKept)
            }
        })
        .collect()
}

/// The order of removals — containers stopped longest first, images least recently used first,
/// then volumes, networks, the build cache and logs — and the images' order alone.
fn removal_order(input: &Input) -> (Vec<Object>, Vec<usize>) {
    let mut cont_order: Vec<usize> = (0..input.containers.len()).collect();
    cont_order.sort_by(|&a, &b| {
        let age = |i: usize| input.containers[i].grace.map_or(0.0, |g| g.age_s());
        age(b).total_cmp(&age(a)).then_with(|| a.cmp(&b))
    });
    let mut img_order: Vec<usize> = (0..input.images.len()).collect();
    img_order.sort_by(|&a, &b| {
        let (x, y) = (&input.images[a], &input.images[b]);
        x.lru_key()
            .total_cmp(&y.lru_key())
            .then_with(|| x.created.total_cmp(&y.created))
            .then_with(|| x.id.cmp(&y.id))
    });
    let mut order: Vec<Object> = cont_order.iter().map(|&i| Object::Container(i)).collect();
    order.extend(img_order.iter().map(|&i| Object::Image(i)));
    order.extend((0..input.volumes.len()).map(Object::Volume));
    order.extend((0..input.networks.len()).map(Object::Network));
    if input.build_cache.is_some() {
        order.push(Object::BuildCache);
    }
    order.extend((0..input.logs.len()).map(Object::Log));
    (order, img_order)
}

/// The cap (`--max-removals`), in removal order: past it, what would go is kept.
fn cap(v: &mut Verdicts, max: usize) {
    if max == 0 {
        return;
    }
    let mut n = 0;
    for o in v.order.clone() {
        let Some(verdict) = v.verdict_mut(o) else {
            continue;
        };
        if !verdict.why.collects() {
            continue;
        }
        if n < max {
            n += 1;
        } else {
            *verdict = Verdict::keep(Why::CapReached { max });
        }
    }
}
