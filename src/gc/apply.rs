//! Applying a gc plan in phases: containers first, then the images they freed (tags but the
//! last of each image, then the last tags and dangling images), then volumes, networks, build
//! cache and logs. Each phase goes through `actions::apply` — every object re-verified right
//! before it is removed, never forced, journaled — and each removal checks the event watch too,
//! so an image pulled, tagged or run since the plan is skipped.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::actions::{self, Action, Actor, ApplyOptions, ApplyReport, Plan, StepReport};

/// The phase of each step: 0 containers, 1 image tags but the last, 2 last tags and dangling
/// images, 3 the rest. Works on any plan in gc's order (a saved one included).
pub fn phases(plan: &Plan) -> Vec<usize> {
    let mut later_tags: HashSet<&str> = HashSet::new();
    let mut out = vec![3; plan.steps.len()];
    for (i, s) in plan.steps.iter().enumerate().rev() {
        out[i] = match &s.action {
            Action::RemoveContainer { .. } => 0,
            Action::UntagImage { id, .. } => {
                if later_tags.insert(id.as_str()) {
                    2
                } else {
                    1
                }
            }
            Action::RemoveImage { .. } => 2,
            _ => 3,
        };
    }
    out
}

/// How to apply.
pub struct Options<'a> {
    pub concurrency: usize,
    pub stop_at: Option<Instant>,
    pub watch: Option<&'a actions::watch::Watch>,
    pub progress: Option<&'a (dyn Fn(&StepReport) + Sync)>,
}

/// Applies `plan` phase by phase; the report's steps are in plan order, their `index` the
/// step's place in `plan`.
pub async fn apply(plan: &Plan, actor: &Actor, o: &Options<'_>) -> ApplyReport {
    let start = Instant::now();
    let phase = phases(plan);
    let mut all = ApplyReport::default();
    for p in 0..4 {
        let idx: Vec<usize> = (0..plan.steps.len()).filter(|i| phase[*i] == p).collect();
        if idx.is_empty() {
            continue;
        }
        let sub = Plan::new(idx.iter().map(|i| plan.steps[*i].clone()).collect());
        let opts = ApplyOptions {
            concurrency: o.concurrency,
            progress: None,
            watch: o.watch,
            stop_at: o.stop_at,
        };
        let progress = |r: &StepReport| {
            if let Some(f) = o.progress {
                let mut r = r.clone();
                r.index = idx[r.index];
                f(&r);
            }
        };
        let opts = ApplyOptions {
            progress: Some(&progress),
            ..opts
        };
        let r = actions::apply(&sub, actor, &opts).await;
        all.interrupted |= r.interrupted;
        all.out_of_time |= r.out_of_time;
        all.journal_errors.extend(r.journal_errors);
        all.steps.extend(r.steps.into_iter().map(|mut s| {
            s.index = idx[s.index];
            s
        }));
    }
    all.steps.sort_by_key(|s| s.index);
    all.elapsed = start.elapsed();
    all
}

/// The instant a run must stop starting removals, from `--max-duration` counted from `start`.
pub fn stop_at(start: Instant, max: Option<Duration>) -> Option<Instant> {
    max.map(|d| start + d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{ContainerSeen, Step};

    #[test]
    fn phases_put_the_last_tag_of_each_image_after_the_others() {
        let untag = |r: &str, id: &str| {
            Step::new(
                Action::UntagImage {
                    reference: r.into(),
                    id: id.into(),
                },
                "",
            )
        };
        let plan = Plan::new(vec![
            Step::new(
                Action::RemoveContainer {
                    id: "c".into(),
                    name: "c".into(),
                    seen: ContainerSeen {
                        state: "exited".into(),
                        finished_at: String::new(),
                    },
                },
                "",
            ),
            untag("a:1", "A"),
            untag("a:2", "A"),
            untag("b:1", "B"),
            Step::new(Action::RemoveImage { id: "D".into() }, ""),
            untag("a:3", "A"),
            Step::new(Action::RemoveVolume { name: "v".into() }, ""),
        ]);
        assert_eq!(phases(&plan), [0, 1, 1, 2, 2, 2, 3]);
    }
}
