//! Orphan containerd shims (`processes.orphan-shims`): this daemon's shims as doctor finds
//! them, ended only when unknown to Docker and to containerd, and only with `--shims`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::actions::{ProcId, Scope};
use crate::facts::Facts;
use crate::policy::processes::{Shim, ShimVerdict, judge_shim};
use crate::runtime::host::ProcRow;

use super::capture::{capture_all, push_terminations};

use super::plan::{Category, ReapPlan, short};

/// This daemon's shims, as doctor finds them (the one reader in facts): (row, parsed command
/// line).
pub(super) async fn ours(facts: &Facts, p: &mut ReapPlan) -> Vec<(ProcRow, Shim)> {
    let ours = facts.shims().await.ok().map(|s| s.ours.clone());
    ours.unwrap_or_else(|| {
        p.gaps = true;
        p.notes.push(
            "comparing the shims' containerd addresses took too long: shims and zombies are left alone"
                .into(),
        );
        Vec::new()
    })
}

pub(super) async fn plan(
    facts: &Facts,
    p: &mut ReapPlan,
    procs: &[ProcRow],
    ours: &[(ProcRow, Shim)],
    enabled: bool,
    grace: Duration,
) {
    let containers = match facts.containers().await {
        Ok(c) => c,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!(
                "shims are left alone: the engine did not list ({g})"
            ));
            return;
        }
    };
    let docker_ids: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    let orphans: Vec<&(ProcRow, Shim)> = ours
        .iter()
        .filter(|(_, s)| matches!(judge_shim(s, &docker_ids, None), ShimVerdict::Orphan { .. }))
        .collect();
    if orphans.is_empty() {
        return;
    }
    let tasks = containerd_tasks(facts, &orphans).await;
    let mut targets = Vec::new();
    for (r, s) in orphans {
        let label = format!("pid {} (shim of {})", r.pid, short(&s.id));
        let list = &tasks[&(s.address.clone(), s.namespace.clone())];
        let ids: Option<HashSet<&str>> = list
            .as_ref()
            .ok()
            .map(|l| l.ids.iter().map(String::as_str).collect());
        let verdict = judge_shim(s, &docker_ids, ids.as_ref());
        if !verdict.reapable() {
            let why = match list {
                Err(e) => format!(
                    "Docker does not know container {}, but containerd's task list could not be read ({e}): a shim containerd may still manage is never ended",
                    short(&s.id)
                ),
                Ok(_) => format!(
                    "Docker does not know container {}, but containerd still has its task: `ctr -a {} -n {} tasks kill {}` first",
                    short(&s.id),
                    s.address,
                    s.namespace,
                    s.id
                ),
            };
            p.skip(Category::OrphanShim, label, why);
            continue;
        }
        let source = list.as_ref().map_or("", |l| l.source);
        if !enabled {
            p.skip(
                Category::OrphanShim,
                label,
                format!(
                    "unknown to Docker and to containerd (asked: {source}): add --shims to end it and its container's processes"
                ),
            );
            continue;
        }
        let shim_id = ProcId {
            pid: r.pid,
            start_ticks: r.start_ticks,
        };
        for c in procs.iter().filter(|c| c.ppid == r.pid && c.state != 'Z') {
            targets.push((
                c.pid,
                c.start_ticks,
                Scope::DescendantOf(shim_id),
                format!(
                    "a process of container {} under an orphan shim (unknown to Docker and containerd); ended before the shim",
                    short(&s.id)
                ),
                Category::OrphanShimTask,
            ));
        }
        targets.push((
            r.pid,
            r.start_ticks,
            Scope::DockerProgram,
            format!(
                "orphan shim of container {}: unknown to Docker and to containerd (asked: {source})",
                short(&s.id)
            ),
            Category::OrphanShim,
        ));
    }
    let cats: Vec<Category> = targets.iter().map(|t| t.4).collect();
    let plain = targets
        .into_iter()
        .map(|(a, b, c, d, _)| (a, b, c, d))
        .collect();
    let captured = capture_all(facts, p, plain).await;
    push_terminations(p, captured, &cats, grace);
}

/// The task list of each containerd the orphans name: containerd's own answer, once per
/// (socket, namespace).
async fn containerd_tasks(
    facts: &Facts,
    orphans: &[&(ProcRow, Shim)],
) -> BTreeMap<(String, String), Result<crate::runtime::containerd::TaskList, String>> {
    let mut tasks = BTreeMap::new();
    for (_, s) in orphans {
        let key = (s.address.clone(), s.namespace.clone());
        if let std::collections::btree_map::Entry::Vacant(e) = tasks.entry(key) {
            let t = crate::runtime::containerd::tasks(
                Path::new(&s.address),
                &s.namespace,
                facts.timeout(),
            )
            .await;
            e.insert(t);
        }
    }
    tasks
}
