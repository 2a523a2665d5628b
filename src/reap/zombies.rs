//! The parents of zombies (`processes.zombies`) in containers no longer running: ending
//! them hands the zombies to the shim, which reaps them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::actions::{ProcId, Scope};
use crate::facts::Facts;
use crate::policy::processes::{
    Listed, ParentVerdict, Shim, ZombieRoot, listed_in, zombie_parent, zombies_under,
};
use crate::runtime::blocking;
use crate::runtime::daemon::DaemonProcess;
use crate::runtime::host::ProcRow;

use super::capture::{capture_all, push_terminations};

use super::plan::{Category, ReapPlan, short};

pub(super) async fn plan(
    facts: &Facts,
    p: &mut ReapPlan,
    procs: &[ProcRow],
    d: &DaemonProcess,
    ours: &[(ProcRow, Shim)],
    grace: Duration,
) {
    let shim_of: HashMap<i32, (&str, u64)> = ours
        .iter()
        .map(|(r, s)| (r.pid, (s.id.as_str(), r.start_ticks)))
        .collect();
    let mut roots: HashSet<i32> = shim_of.keys().copied().collect();
    roots.insert(d.info.pid);
    let candidates: Vec<(ProcRow, i32)> = zombies_under(procs, &roots)
        .into_iter()
        .map(|(z, root)| (z.clone(), root))
        .collect();
    if candidates.is_empty() {
        return;
    }
    let zombies = still_zombies(facts, candidates).await;
    let Some(zombies) = zombies else {
        p.gaps = true;
        p.notes.push(format!(
            "zombies are left alone: their states did not answer within {}",
            crate::util::human_duration(facts.timeout())
        ));
        return;
    };
    let listed: Option<HashMap<&str, Listed>> = facts.containers().await.ok().map(|cs| {
        cs.iter()
            .map(|c| (c.id.as_str(), Listed::of_state(&c.state)))
            .collect()
    });
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|r| (r.pid, r)).collect();
    let mut groups: BTreeMap<i32, (i32, usize)> = BTreeMap::new();
    for (z, root) in &zombies {
        groups.entry(z.ppid).or_insert((*root, 0)).1 += 1;
    }
    let mut targets = Vec::new();
    for (ppid, (root, n)) in groups {
        let row = by_pid.get(&ppid).copied();
        let container = shim_of.get(&root).map(|(id, _)| *id);
        let where_ = match container {
            None => ZombieRoot::Daemon,
            Some(id) => ZombieRoot::Container {
                listed: listed_in(listed.as_ref(), id),
            },
        };
        let verdict = zombie_parent(row.map(|r| r.state), ppid == root, where_);
        let label = format!(
            "pid {ppid} ({}), parent of {n} zombie{}",
            row.map_or("?", |r| r.comm.as_str()),
            if n == 1 { "" } else { "s" }
        );
        let why_not = match verdict {
            v if v.reap_ends_parent() => None,
            ParentVerdict::Stopped => Some(format!("it is stopped and reaps once resumed: `kill -CONT {ppid}`")),
            ParentVerdict::Daemon => Some("dockerd's own: they clear when the daemon restarts (`dockhand recover`)".into()),
            ParentVerdict::Shim => Some("the parent is the shim itself, which should reap them: never ended for zombies (`dockhand reap --shims` for an orphan shim)".into()),
            ParentVerdict::RunningContainer => Some(format!(
                "a process of running container {}: restart it (`docker restart {}`), and run it with --init",
                container.map_or("?", short),
                container.map_or("?", short)
            )),
            _ => {
                p.gaps = true;
                Some("its container's state is not known (the engine did not list): left alone, since it may be running".into())
            }
        };
        match (why_not, container, shim_of.get(&root), row) {
            (None, Some(id), Some((_, shim_ticks)), Some(r)) => targets.push((
                ppid,
                r.start_ticks,
                Scope::DescendantOf(ProcId {
                    pid: root,
                    start_ticks: *shim_ticks,
                }),
                format!(
                    "parent of {n} zombie{} in container {}, which {}: ending it hands them to the shim, which reaps them",
                    if n == 1 { "" } else { "s" },
                    short(id),
                    if listed.as_ref().is_some_and(|l| l.contains_key(id)) {
                        "is not running"
                    } else {
                        "Docker does not list"
                    }
                ),
            )),
            (Some(why), _, _, _) => p.skip(Category::ZombieParent, label, why),
            _ => {}
        }
    }
    let cats = vec![Category::ZombieParent; targets.len()];
    let captured = capture_all(facts, p, targets).await;
    push_terminations(p, captured, &cats, grace);
}

/// The candidates still zombies a moment later, as doctor judges them: a zombie reaped within
/// a moment was not left unreaped. None when their states did not answer in time.
async fn still_zombies(
    facts: &Facts,
    candidates: Vec<(ProcRow, i32)>,
) -> Option<Vec<(ProcRow, i32)>> {
    blocking(facts.timeout(), move || {
        std::thread::sleep(Duration::from_millis(200));
        candidates
            .into_iter()
            .filter(|(z, _)| {
                crate::runtime::host::proc_state(z.pid)
                    .is_some_and(|s| s.state == 'Z' && s.start_ticks == z.start_ticks)
            })
            .collect::<Vec<_>>()
    })
    .await
}
