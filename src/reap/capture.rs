//! Processes captured as targets (pid + start time, under the deadline) and turned into
//! terminate steps: the tail every process planner shares.

use std::time::Duration;

use crate::actions::{Action, ProcTarget, Scope, Step};
use crate::facts::Facts;
use crate::runtime::blocking;

use super::plan::{Category, ReapPlan};

/// Captures each (pid, start ticks, scope, reason) as a target now, under the deadline; a pid
/// whose start time changed since the process table was read is `Err(pid)`.
pub(super) async fn capture_all(
    facts: &Facts,
    p: &mut ReapPlan,
    targets: Vec<(i32, u64, Scope, String)>,
) -> Vec<(Result<ProcTarget, i32>, String)> {
    if targets.is_empty() {
        return Vec::new();
    }
    let n = targets.len();
    let got = blocking(facts.timeout(), move || {
        targets
            .into_iter()
            .map(|(pid, ticks, scope, reason)| {
                let t = ProcTarget::capture(pid, scope)
                    .filter(|t| t.id.start_ticks == ticks)
                    .ok_or(pid);
                (t, reason)
            })
            .collect::<Vec<_>>()
    })
    .await;
    got.unwrap_or_else(|| {
        p.notes.push(format!(
            "{n} processes could not be read within {}: they are left alone",
            crate::util::human_duration(facts.timeout())
        ));
        Vec::new()
    })
}

/// Turns captured targets into terminate steps of `cats` (one per target); a process gone or
/// replaced since the process table was read is a note.
pub(super) fn push_terminations(
    p: &mut ReapPlan,
    captured: Vec<(Result<ProcTarget, i32>, String)>,
    cats: &[Category],
    grace: Duration,
) {
    for (i, (t, reason)) in captured.into_iter().enumerate() {
        let cat = cats.get(i).copied().unwrap_or(Category::ZombieParent);
        match t {
            // One process, one step: a container's pid 1 under an orphan shim may also be the
            // parent of zombies.
            Ok(t) if p.steps.iter().any(|(_, s)| {
                matches!(&s.action, Action::Terminate { target, .. } if target.id == t.id)
            }) => {}
            Ok(t) => p.push(
                cat,
                Step::new(Action::Terminate { target: t, grace }, reason),
            ),
            Err(pid) => p.notes.push(format!(
                "pid {pid} exited or was replaced while planning: run again"
            )),
        }
    }
}
