//! From verdicts to a plan: each collected object becomes its actions (a container removal, an
//! image's tags untagged one by one, …) with the rule in words; each object a keep rule protected
//! is listed with that rule. And the saved plan (`--plan-out`, `--apply-plan`): the plan with the
//! policy that made it, the host and daemon it is for, and a keyed digest over all of it.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::gather::Gathered;
use crate::actions::saved_plan::{EngineDoc, SavedPlan};
use crate::actions::{Action, ContainerSeen, FileStamp, Plan, Step};
use crate::policy::gc::{Object, Policy, Types, Verdicts, WatermarkOutcome, Watermarks, Why};
use crate::util::{human_age, human_bytes, sanitize};

/// The kind of object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
    BuildCache,
    Log,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
            Kind::Network => "network",
            Kind::BuildCache => "build-cache",
            Kind::Log => "log",
        }
    }
}

/// One object of the plan: to go, or kept by a rule.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub object: Kind,
    pub id: String,
    pub name: String,
    pub rule: &'static str,
    pub reason: String,
    /// Stopped, idle or created this long ago.
    pub age_s: Option<u64>,
    /// Last use (seconds since the epoch), for images.
    pub last_used: Option<u64>,
    pub bytes: Option<u64>,
    /// Its steps in the plan (an image with three tags has three).
    #[serde(skip)]
    pub steps: Vec<usize>,
}

/// What a gc run would do, and why.
#[derive(Debug, Clone, Default)]
pub struct GcPlan {
    pub plan: Plan,
    pub remove: Vec<Entry>,
    /// Objects a keep rule protected (not the running, the used, the not-asked-for).
    pub kept: Vec<Entry>,
    /// How many objects were left for an ordinary reason: rule → count.
    pub left: Vec<(&'static str, usize)>,
    /// Every object left, by id: why (for a saved plan's steps that are no longer eligible).
    pub why_not: HashMap<String, String>,
    pub watermark: Option<WatermarkOutcome>,
}

impl GcPlan {
    /// Bytes the plan frees, by df's accounting.
    pub fn bytes(&self) -> u64 {
        self.remove.iter().filter_map(|e| e.bytes).sum()
    }
}

fn age_text(s: f64) -> String {
    human_age(s.max(0.0) as u64)
}

/// A whole duration as people write it: "1 h", "90 min", "7 d", "30 s".
pub fn span_text(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("min", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{} {unit}", s / n);
        }
    }
    human_age(s)
}

fn grace_text(p: &Policy) -> String {
    format!("the {} grace period", span_text(p.min_age_s))
}

fn marks_text(m: &Watermarks) -> String {
    format!("high {}%, low {}%", m.high, m.low)
}

/// The rule in words, for one object.
pub fn reason(why: &Why, kind: Kind, p: &Policy, w: Option<&WatermarkOutcome>) -> String {
    let grace = grace_text(p);
    match why {
        Why::StoppedPastGrace { age_s } if p.min_age_s <= 0.0 => {
            format!("stopped {} ago (no grace period)", age_text(*age_s))
        }
        Why::StoppedPastGrace { age_s } => {
            format!("stopped {} ago, past {grace}", age_text(*age_s))
        }
        Why::Dangling => "untagged, and no container uses it".into(),
        Why::Unused => "tagged, and no container uses it (--images)".into(),
        Why::Watermark => match w {
            Some(w) => format!(
                "least recently used, to bring the filesystem from {:.1}% to the low mark ({})",
                w.used_percent,
                marks_text(&w.marks)
            ),
            None => "least recently used".into(),
        },
        Why::UnusedAnonymousVolume => "anonymous, and no container mounts it".into(),
        Why::UnusedNamedVolume => {
            "named, and no container mounts it: its data goes (--named-volumes)".into()
        }
        Why::UnusedNetwork => "user-defined, and no container is attached to it".into(),
        Why::BuildCache => "build cache no build uses".into(),
        Why::BigLog => {
            "over containers.logs' size threshold; truncated in place (--truncate-logs)".into()
        }
        Why::Running => "running".into(),
        Why::InUse { users } => format!(
            "used by {users} container{}",
            if *users == 1 { "" } else { "s" }
        ),
        Why::KeepLabel => "labelled dockhand.keep".into(),
        Why::KeepPattern { pattern, reference } => format!(
            "{} matches the keep pattern {}",
            sanitize(reference),
            sanitize(pattern)
        ),
        Why::KeepLast { repo, n } => {
            format!("one of the {n} most recent images of {}", sanitize(repo))
        }
        Why::BaseOfKept { child } => format!(
            "a base image of {}, which stays (its layers are a prefix of that image's)",
            sanitize(child)
        ),
        Why::WithinGrace { age_s } => match kind {
            Kind::Container => format!("stopped {} ago, within {grace}", age_text(*age_s)),
            Kind::Image => format!(
                "first seen or last used {} ago, within {grace}",
                age_text(*age_s)
            ),
            _ => format!("created {} ago, within {grace}", age_text(*age_s)),
        },
        Why::NamedVolume => "a named volume: data, removed only with --named-volumes".into(),
        Why::Predefined => "one of the engine's own networks".into(),
        Why::NotRequested => "not asked for".into(),
        Why::UnderWatermark => match w {
            Some(w) if w.need == 0 => format!(
                "eligible, but the filesystem is at {:.1}%, under the high mark ({})",
                w.used_percent,
                marks_text(&w.marks)
            ),
            _ => "eligible, but not needed to reach the low mark".into(),
        },
        Why::CapReached { max } => format!("eligible, but --max-removals {max} was reached"),
        Why::LogKept => "under the size threshold, or --truncate-logs not given".into(),
    }
}

/// Turns verdicts into the plan: steps in removal order, entries, what was kept and why.
pub fn build(g: &Gathered, v: &Verdicts, p: &Policy, keep_storage: Option<u64>) -> GcPlan {
    let mut out = GcPlan {
        watermark: v.watermark,
        ..GcPlan::default()
    };
    let mut left: HashMap<&'static str, usize> = HashMap::new();
    let w = v.watermark.as_ref();
    let input = &g.input;
    // Steps go in five buckets, then one after the other: containers; image tags but the last
    // of each image; last tags (each holds its image, see `actions::docker::untag_image`);
    // the images themselves, held or dangling (these free the bytes); volumes, networks, build
    // cache, logs. So the tags of one image never race each other, and images go once the
    // containers that used them are gone.
    let mut buckets: [Vec<Step>; 5] = Default::default();
    let mut placed: Vec<Vec<(usize, usize)>> = Vec::new();
    for o in &v.order {
        let Some(verdict) = v.verdict(*o) else {
            continue;
        };
        let (kind, id, name, age_s, last_used) = match *o {
            Object::Container(i) => {
                let c = &input.containers[i];
                (
                    Kind::Container,
                    c.id.clone(),
                    c.name.clone(),
                    c.grace.map(|g| g.age_s()),
                    None,
                )
            }
            Object::Image(i) => {
                let im = &input.images[i];
                let name = im
                    .tags
                    .first()
                    .cloned()
                    .unwrap_or_else(|| crate::actions::plan::short(&im.id).to_string());
                (
                    Kind::Image,
                    im.id.clone(),
                    name,
                    Some(crate::policy::gc::image_idle(
                        im.first_seen,
                        im.last_used,
                        g.now,
                    )),
                    im.last_used.or(Some(im.first_seen)),
                )
            }
            Object::Volume(i) => {
                let vo = &input.volumes[i];
                (
                    Kind::Volume,
                    vo.name.clone(),
                    vo.name.clone(),
                    vo.created.map(|c| g.now - c),
                    None,
                )
            }
            Object::Network(i) => {
                let n = &input.networks[i];
                (
                    Kind::Network,
                    n.id.clone(),
                    n.name.clone(),
                    n.created.map(|c| g.now - c),
                    None,
                )
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
                (
                    Kind::Log,
                    l.container_id.clone(),
                    l.container.clone(),
                    None,
                    None,
                )
            }
        };
        let entry = Entry {
            object: kind,
            id,
            name,
            rule: verdict.why.rule(),
            reason: reason(&verdict.why, kind, p, w),
            age_s: age_s.map(|a| a.max(0.0) as u64),
            last_used: last_used.map(|t| t.max(0.0) as u64),
            bytes: verdict.bytes,
            steps: Vec::new(),
        };
        if !verdict.why.collects() {
            out.why_not.insert(entry.id.clone(), entry.reason.clone());
            if verdict.why.is_protection() {
                out.kept.push(entry);
            } else {
                *left.entry(verdict.why.rule()).or_default() += 1;
            }
            continue;
        }
        let why_text = entry.reason.clone();
        let steps: Vec<(usize, Step)> = match *o {
            Object::Container(i) => {
                let c = &input.containers[i];
                let m = &g.containers[i];
                vec![(
                    0,
                    Step::new(
                        Action::RemoveContainer {
                            id: c.id.clone(),
                            name: c.name.clone(),
                            seen: ContainerSeen {
                                state: m.state.clone(),
                                finished_at: m.finished_at.clone(),
                            },
                        },
                        why_text,
                    )
                    .with_bytes(verdict.bytes),
                )]
            }
            Object::Image(i) => {
                let im = &input.images[i];
                let mut tags = im.tags.clone();
                tags.sort();
                let n = tags.len();
                let mut steps: Vec<(usize, Step)> = tags
                    .into_iter()
                    .enumerate()
                    .map(|(k, t)| {
                        (
                            if k + 1 == n { 2 } else { 1 },
                            Step::new(
                                Action::UntagImage {
                                    reference: t,
                                    id: im.id.clone(),
                                },
                                why_text.clone(),
                            )
                            .with_bytes(Some(0)),
                        )
                    })
                    .collect();
                // The last untag holds the image; this removes it, and frees the bytes.
                steps.push((
                    3,
                    Step::new(Action::RemoveImage { id: im.id.clone() }, why_text)
                        .with_bytes(verdict.bytes),
                ));
                steps
            }
            Object::Volume(i) => vec![(
                4,
                Step::new(
                    Action::RemoveVolume {
                        name: input.volumes[i].name.clone(),
                    },
                    why_text,
                )
                .with_bytes(verdict.bytes),
            )],
            Object::Network(i) => vec![(
                4,
                Step::new(
                    Action::RemoveNetwork {
                        id: input.networks[i].id.clone(),
                        name: input.networks[i].name.clone(),
                    },
                    why_text,
                ),
            )],
            Object::BuildCache => vec![(
                4,
                Step::new(
                    Action::PruneBuildCache {
                        keep_storage,
                        // --images is `docker system prune -a`: all unused cache, not only
                        // dangling.
                        all: p.types.images,
                        until_s: (p.min_age_s >= 1.0).then_some(p.min_age_s as u64),
                    },
                    why_text,
                )
                .with_bytes(verdict.bytes),
            )],
            Object::Log(i) => {
                let l = &g.logs[i];
                match l
                    .path
                    .as_ref()
                    .and_then(|p| FileStamp::of(p).ok().map(|s| (p, s)))
                {
                    Some((path, stamp)) => vec![(
                        4,
                        Step::new(
                            Action::TruncateLog {
                                path: path.clone(),
                                stamp,
                            },
                            why_text,
                        )
                        .with_bytes(Some(stamp.size)),
                    )],
                    None => {
                        *left.entry("log-unreadable").or_default() += 1;
                        continue;
                    }
                }
            }
        };
        placed.push(
            steps
                .into_iter()
                .map(|(b, s)| {
                    buckets[b].push(s);
                    (b, buckets[b].len() - 1)
                })
                .collect(),
        );
        out.remove.push(entry);
    }
    let mut offset = [0usize; 5];
    for b in 1..5 {
        offset[b] = offset[b - 1] + buckets[b - 1].len();
    }
    for (e, places) in out.remove.iter_mut().zip(placed) {
        e.steps = places.into_iter().map(|(b, i)| offset[b] + i).collect();
    }
    out.plan = Plan::new(buckets.into_iter().flatten().collect());
    let mut left: Vec<(&'static str, usize)> = left.into_iter().collect();
    left.sort();
    out.left = left;
    out
}

// ---------------------------------------------------------------------------------------------
// Saved plans
// ---------------------------------------------------------------------------------------------

/// The policy a plan was made with, as saved (the plan's `options`): applying re-judges each
/// object by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDoc {
    pub min_age_s: f64,
    pub keep: Vec<String>,
    pub keep_last: usize,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub types: Vec<String>,
    pub max_removals: usize,
    pub keep_storage: Option<u64>,
}
impl PolicyDoc {
    pub fn of(p: &Policy, keep_storage: Option<u64>) -> PolicyDoc {
        let t = p.types;
        let words = [
            (t.containers, "containers"),
            (t.dangling_images, "dangling-images"),
            (t.images, "images"),
            (t.networks, "networks"),
            (t.build_cache, "build-cache"),
            (t.volumes, "volumes"),
            (t.named_volumes, "named-volumes"),
            (t.logs, "logs"),
        ];
        PolicyDoc {
            min_age_s: p.min_age_s,
            keep: p.keep_patterns.clone(),
            keep_last: p.keep_last,
            high: p.watermarks.map(|w| w.high),
            low: p.watermarks.map(|w| w.low),
            types: words
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| w.to_string())
                .collect(),
            max_removals: p.max_removals,
            keep_storage,
        }
    }

    pub fn policy(&self) -> Result<Policy, String> {
        let mut types: Types =
            super::options::parse_types("the plan's types", self.types.iter().map(String::as_str))?;
        // named-volumes implies volumes when parsed; keep exactly what was saved.
        types.volumes = self
            .types
            .iter()
            .any(|t| t == "volumes" || t == "named-volumes");
        Ok(Policy {
            min_age_s: self.min_age_s,
            keep_patterns: self.keep.clone(),
            keep_last: self.keep_last,
            watermarks: super::options::watermarks(self.high, self.low)?,
            types,
            max_removals: self.max_removals,
        })
    }
}

/// A step's identity across a saved plan and a new one: one definition for every command.
pub use crate::actions::saved_plan::step_key;

/// Of a saved plan, the steps still eligible now (in `now`, a plan made by the same policy
/// against the host as it is) — the saved step, with what the plan saw — and the ones that are
/// not, with why.
pub fn still_eligible(saved: &Plan, now: &GcPlan) -> (Plan, Vec<(Step, String)>) {
    let current: HashMap<String, usize> = now
        .plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (step_key(&s.action), i))
        .collect();
    // Why an object that is not eligible any more stays.
    let kept = &now.why_not;
    let mut go = Vec::new();
    let mut dropped = Vec::new();
    for s in &saved.steps {
        if current.contains_key(&step_key(&s.action)) {
            go.push(s.clone());
        } else {
            let id = match &s.action {
                Action::RemoveContainer { id, .. }
                | Action::RemoveImage { id }
                | Action::UntagImage { id, .. }
                | Action::RemoveNetwork { id, .. } => id.clone(),
                Action::RemoveVolume { name } => name.clone(),
                _ => String::new(),
            };
            let why = match kept.get(&id) {
                Some(r) => format!("no longer eligible: {r}"),
                None => "no longer eligible: gone, or changed since the plan".into(),
            };
            dropped.push((s.clone(), why));
        }
    }
    (Plan::new(go), dropped)
}

/// The saved plan for `g`'s daemon.
pub fn file_for(
    g: &Gathered,
    plan: &Plan,
    p: &Policy,
    keep_storage: Option<u64>,
    endpoint: &str,
) -> SavedPlan {
    let mut f = SavedPlan::new(
        "gc",
        None,
        EngineDoc {
            endpoint: endpoint.into(),
            id: Some(g.daemon_id.clone()),
        },
        plan,
    )
    .with_options(serde_json::to_value(PolicyDoc::of(p, keep_storage)).unwrap_or(Value::Null));
    // Milliseconds: applying watches the engine's events from this instant on.
    f.created_at = crate::units::rfc3339_ms(UNIX_EPOCH + Duration::from_secs_f64(g.now.max(0.0)));
    f
}

/// The policy a saved gc plan was made with.
pub fn policy_of(f: &SavedPlan) -> Result<PolicyDoc, String> {
    serde_json::from_value(f.options.clone())
        .map_err(|e| format!("its policy cannot be read ({e})"))
}

/// The plan as JSON for reports.
pub fn steps_json(plan: &Plan, e: &Entry) -> Vec<Value> {
    e.steps
        .iter()
        .filter_map(|i| plan.steps.get(*i))
        .map(|s| json!({ "action": s.action.kind(), "describe": s.action.describe() }))
        .collect()
}

/// Bytes in words, "?" when unknown.
pub fn bytes_text(b: Option<u64>) -> String {
    b.map_or_else(|| "?".into(), human_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::containers::Grace;
    use crate::policy::gc::{ContainerIn, ImageIn, Input, judge};

    fn gathered() -> Gathered {
        let now = 1_800_000_000.0;
        let img = |id: &str, tags: &[&str]| ImageIn {
            id: id.into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            first_seen: now - 86_400.0,
            unique_bytes: 7,
            ..ImageIn::default()
        };
        Gathered {
            daemon_id: "D1".into(),
            input: Input {
                containers: vec![ContainerIn {
                    id: "c1".into(),
                    name: "old".into(),
                    image: "sha256:x".into(),
                    grace: Some(Grace::Past { age_s: 7200.0 }),
                    bytes: Some(3),
                    ..ContainerIn::default()
                }],
                images: vec![
                    img("sha256:multi", &["b:2", "a:1", "c:3"]),
                    img("sha256:dang", &[]),
                    img("sha256:kept", &["keep:1"]),
                ],
                ..Input::default()
            },
            containers: vec![super::super::gather::ContainerMeta {
                state: "exited".into(),
                finished_at: "2026-01-01T00:00:00.000000000Z".into(),
                image_name: "x".into(),
            }],
            now,
            ..Gathered::default()
        }
    }

    fn policy() -> Policy {
        Policy {
            types: Types {
                images: true,
                ..Types::default_set()
            },
            keep_patterns: vec!["keep:*".into()],
            ..Policy::default()
        }
    }

    #[test]
    fn images_untag_tag_by_tag_then_go_by_id_with_the_bytes() {
        let g = gathered();
        let p = policy();
        let v = judge(&g.input, &p, g.now);
        let plan = build(&g, &v, &p, None);
        let kinds: Vec<String> = plan
            .plan
            .steps
            .iter()
            .map(|s| format!("{} {}", s.action.kind(), s.action.target()))
            .collect();
        assert_eq!(
            kinds,
            [
                "container.remove old (c1)",
                "image.untag a:1 (multi)",
                "image.untag b:2 (multi)",
                "image.untag c:3 (multi)",
                "image.remove dang",
                "image.remove multi"
            ]
        );
        assert_eq!(plan.plan.steps[5].bytes, Some(7));
        assert_eq!(plan.plan.steps[3].bytes, Some(0));
        let multi = plan
            .remove
            .iter()
            .find(|e| e.id == "sha256:multi")
            .expect("entry");
        assert_eq!(multi.steps, [1, 2, 3, 5]);
        let dang = plan
            .remove
            .iter()
            .find(|e| e.id == "sha256:dang")
            .expect("entry");
        assert_eq!(dang.steps, [4]);
        assert_eq!(plan.kept.len(), 1);
        assert!(
            plan.kept[0].reason.contains("keep pattern keep:*"),
            "{}",
            plan.kept[0].reason
        );
        assert_eq!(plan.bytes(), 3 + 7 + 7);
    }

    #[test]
    fn a_saved_gc_plan_keeps_its_policy() {
        let g = gathered();
        let p = policy();
        let v = judge(&g.input, &p, g.now);
        let built = build(&g, &v, &p, None);
        let f = file_for(&g, &built.plan, &p, Some(5), "unix:///x.sock");
        assert_eq!(f.command, "gc");
        assert_eq!(f.engine.id.as_deref(), Some("D1"));
        let doc = policy_of(&f).expect("policy");
        assert_eq!(doc.policy().expect("policy"), p);
        assert_eq!(doc.keep_storage, Some(5));
        for s in &f.steps {
            assert_eq!(
                crate::actions::saved_plan::allowed("gc", &s.action, false),
                Ok(()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn spans_read_as_written() {
        let cases = [
            (3600.0, "1 h"),
            (5400.0, "90 min"),
            (604_800.0, "1 w"),
            (172_800.0, "2 d"),
            (30.0, "30 s"),
            (0.0, "0 s"),
            (3601.0, "1 h 0 min"),
        ];
        for (s, want) in cases {
            assert_eq!(span_text(s), want, "{s}");
        }
    }

    #[test]
    fn only_steps_still_eligible_are_applied() {
        let g = gathered();
        let p = policy();
        let v = judge(&g.input, &p, g.now);
        let saved = build(&g, &v, &p, None).plan;
        // Now the container runs again, and a new dangling image appeared.
        let mut g2 = gathered();
        g2.input.containers[0].grace = None;
        g2.input.images.push(ImageIn {
            id: "sha256:new".into(),
            first_seen: g2.now - 86_400.0,
            ..ImageIn::default()
        });
        let v2 = judge(&g2.input, &p, g2.now);
        let now = build(&g2, &v2, &p, None);
        let (go, dropped) = still_eligible(&saved, &now);
        assert_eq!(go.len(), saved.len() - 1);
        assert!(
            go.steps
                .iter()
                .all(|s| !matches!(s.action, Action::RemoveContainer { .. }))
        );
        assert!(
            !go.steps.iter().any(|s| s.action.target().contains("new")),
            "not in the saved plan"
        );
        assert_eq!(dropped.len(), 1);
        assert!(
            dropped[0].1.starts_with("no longer eligible"),
            "{}",
            dropped[0].1
        );
    }
}
