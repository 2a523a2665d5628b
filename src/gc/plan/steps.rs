//! One object of the plan: its entry (what it is, its rule in words, its age and bytes) and, when
//! it goes, its steps, each with the bucket it runs in (see `build`).

use super::{Entry, Kind, reason};
use crate::actions::{Action, ContainerSeen, FileStamp, Step};
use crate::gc::gather::Gathered;
use crate::policy::gc::{Object, Policy, Verdict, WatermarkOutcome};

/// The entry of object `o`, by its verdict.
pub(super) fn entry(
    g: &Gathered,
    o: Object,
    verdict: &Verdict,
    p: &Policy,
    w: Option<&WatermarkOutcome>,
) -> Entry {
    let input = &g.input;
    let (kind, id, name, age_s, last_used) = match o {
        Object::Container(i) => {
            let c = &input.containers[i];
            let age = c.grace.map(|g| g.age_s());
            (Kind::Container, c.id.clone(), c.name.clone(), age, None)
        }
        Object::Image(i) => {
            let im = &input.images[i];
            let name = im
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| crate::actions::plan::short(&im.id).to_string());
            let idle = crate::policy::gc::image_idle(im.first_seen, im.last_used, g.now);
            let used = im.last_used.or(Some(im.first_seen));
            (Kind::Image, im.id.clone(), name, Some(idle), used)
        }
        Object::Volume(i) => {
            let vo = &input.volumes[i];
            let age = vo.created.map(|c| g.now - c);
            (Kind::Volume, vo.name.clone(), vo.name.clone(), age, None)
        }
        Object::Network(i) => {
            let n = &input.networks[i];
            let age = n.created.map(|c| g.now - c);
            (Kind::Network, n.id.clone(), n.name.clone(), age, None)
        }
        Object::BuildCache => (
            Kind::BuildCache,
            "build-cache".into(),
            "build cache".into(),
            None,
            None,
        ),
        Object::Log(i) => {
            let l = &g.logs[i];
            let (id, name) = (l.container_id.clone(), l.container.clone());
            (Kind::Log, id, name, None, None)
        }
    };
    Entry {
        object: kind,
        id,
        name,
        rule: verdict.why.rule(),
        reason: reason(&verdict.why, kind, p, w),
        age_s: age_s.map(|a| a.max(0.0) as u64),
        last_used: last_used.map(|t| t.max(0.0) as u64),
        bytes: verdict.bytes,
        steps: Vec::new(),
    }
}

/// The steps of a collected object `o`, each with its bucket; `None` for a log whose file cannot
/// be stamped now (it is left alone).
pub(super) fn steps(
    g: &Gathered,
    o: Object,
    verdict: &Verdict,
    why: &str,
    p: &Policy,
    keep_storage: Option<u64>,
) -> Option<Vec<(usize, Step)>> {
    let input = &g.input;
    let why = why.to_string();
    let one = |bucket: usize, action: Action, bytes: Option<u64>| {
        vec![(bucket, Step::new(action, why.clone()).with_bytes(bytes))]
    };
    Some(match o {
        Object::Container(i) => {
            let (c, m) = (&input.containers[i], &g.containers[i]);
            let seen = ContainerSeen {
                state: m.state.clone(),
                finished_at: m.finished_at.clone(),
            };
            let (id, name) = (c.id.clone(), c.name.clone());
            one(0, Action::RemoveContainer { id, name, seen }, verdict.bytes)
        }
        Object::Image(i) => image_steps(&input.images[i].id, &input.images[i].tags, &why, verdict),
        Object::Volume(i) => {
            let name = input.volumes[i].name.clone();
            one(4, Action::RemoveVolume { name }, verdict.bytes)
        }
        Object::Network(i) => {
            let n = &input.networks[i];
            let (id, name) = (n.id.clone(), n.name.clone());
            vec![(
                4,
                Step::new(Action::RemoveNetwork { id, name }, why.clone()),
            )]
        }
        Object::BuildCache => {
            let prune = Action::PruneBuildCache {
                keep_storage,
                // --images is `docker system prune -a`: all unused cache, not only dangling.
                all: p.types.images,
                until_s: (p.min_age_s >= 1.0).then_some(p.min_age_s as u64),
            };
            one(4, prune, verdict.bytes)
        }
        Object::Log(i) => {
            let path = g.logs[i].path.as_ref()?;
            let stamp = FileStamp::of(path).ok()?;
            let truncate = Action::TruncateLog {
                path: path.clone(),
                stamp,
            };
            one(4, truncate, Some(stamp.size))
        }
    })
}

/// An image goes tag by tag (buckets 1, then 2 for its last tag, which holds it), then by id
/// (bucket 3), which frees the bytes.
fn image_steps(id: &str, tags: &[String], why: &str, verdict: &Verdict) -> Vec<(usize, Step)> {
    let mut tags = tags.to_vec();
    tags.sort();
    let n = tags.len();
    let mut steps: Vec<(usize, Step)> = tags
        .into_iter()
        .enumerate()
        .map(|(k, t)| {
            let untag = Action::UntagImage {
                reference: t,
                id: id.to_string(),
            };
            let bucket = if k + 1 == n { 2 } else { 1 };
            (
                bucket,
                Step::new(untag, why.to_string()).with_bytes(Some(0)),
            )
        })
        .collect();
    // The last untag holds the image; this removes it, and frees the bytes.
    let remove = Action::RemoveImage { id: id.to_string() };
    steps.push((
        3,
        Step::new(remove, why.to_string()).with_bytes(verdict.bytes),
    ));
    steps
}
