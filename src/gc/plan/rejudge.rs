//! Applying a saved plan: of its steps, those still eligible now (judged again by the saved
//! policy against the host as it is), and the plan made now narrowed to them.

use std::collections::{HashMap, HashSet};

use super::{GcPlan, step_key};
use crate::actions::{Action, Plan, Step};

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

/// Narrows a plan made now to a saved plan's objects: the saved steps still eligible (each the
/// saved step, with what the plan saw), the entries holding one of them; the steps no longer
/// eligible come back with why.
pub fn narrow_to_saved(built: &mut GcPlan, saved: &Plan) -> Vec<(Step, String)> {
    let (go, dropped) = still_eligible(saved, built);
    let keys: HashSet<String> = go.steps.iter().map(|s| step_key(&s.action)).collect();
    let steps = &built.plan.steps;
    built.remove.retain(|e| {
        e.steps.iter().any(|i| {
            steps
                .get(*i)
                .is_some_and(|s| keys.contains(&step_key(&s.action)))
        })
    });
    let index: HashMap<String, usize> = go
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (step_key(&s.action), i))
        .collect();
    for e in &mut built.remove {
        e.steps = e
            .steps
            .iter()
            .filter_map(|i| steps.get(*i))
            .filter_map(|s| index.get(&step_key(&s.action)).copied())
            .collect();
    }
    built.plan = go;
    dropped
}
