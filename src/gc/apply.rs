//! Applying a gc plan in phases: containers first, then the images they freed (tags but the
//! last of each image; then the last tags, each holding its image by a `dockhand-hold`
//! reference while the tag goes (the hold then moves on, and the image stays, dangling); a
//! settling pause; then the images themselves, held or dangling), then volumes, networks, build
//! cache and logs.
//!
//! The pause closes a race inside the engine: a `docker run` that resolved a tag just before it
//! was removed registers its container a moment later, and the engine checks only registered
//! containers before deleting an image. Held through the pause, the image is still there when
//! that container registers; the removal then finds it in use (or the engine keeps it). Each phase goes through `actions::apply` — every object re-verified right
//! before it is removed, never forced, journaled — and each removal checks the event watch too,
//! so an image pulled, tagged or run since the plan is skipped.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::actions::{self, Action, Actor, ApplyOptions, ApplyReport, Plan, StepReport};

/// How long held images wait for `docker create`s that resolved their last tag to register
/// their containers (tens of milliseconds on an idle host; this leaves room for a busy one).
pub const HOLD_SETTLE: Duration = Duration::from_secs(1);

/// The phase of each step: 0 containers, 1 image tags but the last, 2 last tags, 3 images
/// (held or dangling), 4 the rest. Works on any plan in gc's order (a saved one included).
pub fn phases(plan: &Plan) -> Vec<usize> {
    let mut later_tags: HashSet<&str> = HashSet::new();
    let mut out = vec![4; plan.steps.len()];
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
            Action::RemoveImage { .. } => 3,
            _ => 4,
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
    let mut held_at: Option<Instant> = None;
    for p in 0..5 {
        let idx: Vec<usize> = (0..plan.steps.len()).filter(|i| phase[*i] == p).collect();
        if idx.is_empty() {
            continue;
        }
        if p == 3
            && let Some(t) = held_at
        {
            let until = t + HOLD_SETTLE;
            // Bounded by the run's own limit; Ctrl-C cuts it short (what follows then journals
            // as not started).
            let until = o.stop_at.map_or(until, |s| until.min(s));
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = actor.shutdown().wait() => {}
            }
        }
        let sub = Plan::new(idx.iter().map(|i| plan.steps[*i].clone()).collect());
        let opts = ApplyOptions {
            concurrency: o.concurrency,
            progress: None,
            watch: o.watch,
            stop_at: o.stop_at,
            rejudge: None,
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
        if p == 2 {
            held_at = Some(Instant::now());
        }
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
        assert_eq!(phases(&plan), [0, 1, 1, 2, 3, 2, 4]);
    }
}
