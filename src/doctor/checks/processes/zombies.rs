//! `processes.zombies`: zombies whose parent is a process of this daemon — dockerd, its
//! containerd and docker-proxy children, its shims and the containers' processes under them —
//! and, for each parent, what clears them ([`zombie_parent`]).
//!
//! A zombie seen in the process table is looked at again 200 ms later (same pid, same start
//! time): only one still there is left unreaped. The pause happens only when one is seen.
//!
//! Never flags: zombies of other daemons' shims or of processes outside Docker's trees (init,
//! a login shell), a zombie its parent reaps within the pause.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::{CAP, daemon_shims, plural, short, still};
use crate::doctor::checks::{Ctx, ProcClock};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::processes::{
    Listed, ParentVerdict, ZombieRoot, conmon_of_engine, parse_conmon, zombie_parent,
    zombies_critical, zombies_under,
};
use crate::runtime::blocking;
use crate::runtime::host::ProcRow;

const ID: &str = "processes.zombies";

/// One parent of zombies, judged.
struct Parent<'a> {
    pid: i32,
    row: Option<&'a ProcRow>,
    /// The container it belongs to (the shim's id), when under a shim.
    container: Option<&'a str>,
    name: Option<&'a str>,
    verdict: ParentVerdict,
    zombies: Vec<&'a ProcRow>,
}

impl Parent<'_> {
    /// The container's name, else its short id.
    fn who(&self) -> Option<String> {
        let c = self.container?;
        Some(
            self.name
                .map_or_else(|| short(c).to_string(), str::to_string),
        )
    }
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let critical_count = ctx.th(ID, "critical_count");
    let scan = match roots(ctx).await {
        Ok(x) => x,
        Err(f) => return f,
    };
    let clock = ProcClock::read(ctx.timeout()).await;
    let daemon_pid = scan.daemon_pid;
    let shim_of: HashMap<i32, &str> = scan
        .containers
        .iter()
        .map(|(pid, id)| (*pid, id.as_str()))
        .collect();
    let mut roots: HashSet<i32> = shim_of.keys().copied().collect();
    roots.extend(daemon_pid);
    let candidates: Vec<(ProcRow, i32)> = zombies_under(scan.procs, &roots)
        .into_iter()
        .map(|(z, root)| (z.clone(), root))
        .collect();
    let zombies = still_zombies(ctx, candidates).await;
    // The engine's list, when it answered: names, and whether each container still runs.
    let listed: Option<HashMap<&str, (&str, Listed)>> = ctx.containers().await.ok().map(|cs| {
        cs.iter()
            .map(|c| (c.id.as_str(), (c.name(), Listed::of_state(&c.state))))
            .collect()
    });
    let by_pid: HashMap<i32, &ProcRow> = scan.procs.iter().map(|p| (p.pid, p)).collect();
    let parents = judge_parents(&zombies, &by_pid, &shim_of, listed.as_ref());
    let n = zombies.len();
    let evidence = json!({
        "zombie_count": n,
        "parents": parents.iter().take(CAP).map(|p| parent_json(p, &clock)).collect::<Vec<_>>(),
        "daemon_pid": daemon_pid,
        "shims": scan.containers.len(),
        "thresholds": { "critical_count": critical_count },
    });
    let Some(first) = parents.first() else {
        return Finding::new(Status::Ok, "no zombies under this daemon's processes")
            .evidence(evidence);
    };
    let status = if zombies_critical(n, critical_count) {
        Status::Critical
    } else {
        Status::Warning
    };
    let within = first
        .who()
        .map_or_else(String::new, |w| format!(" in container {w}"));
    Finding::new(
        status,
        format!(
            "{n} zombie{} under this daemon's processes; {} of them children of {} (pid {}){within}, which does not reap them",
            plural(n),
            first.zombies.len(),
            first.row.map_or("?", |p| p.comm.as_str()),
            first.pid,
        ),
    )
    .fix(fix(&parents))
    .evidence(evidence)
}

/// The candidates still zombies a moment later. A zombie seen once may be reaped the next
/// moment; only one still there (same pid, same start time) is left unreaped.
async fn still_zombies(ctx: &Ctx<'_>, candidates: Vec<(ProcRow, i32)>) -> Vec<(ProcRow, i32)> {
    if candidates.is_empty() {
        return candidates;
    }
    blocking(ctx.timeout(), move || {
        std::thread::sleep(Duration::from_millis(200));
        candidates
            .into_iter()
            .filter(|(z, _)| still(z.pid, z.start_ticks, &['Z']))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default()
}

/// The zombies grouped by parent (the parent is what must reap them), each parent judged by
/// where it sits: under the daemon, or in a container the engine lists as running or not.
fn judge_parents<'a>(
    zombies: &'a [(ProcRow, i32)],
    by_pid: &HashMap<i32, &'a ProcRow>,
    shim_of: &HashMap<i32, &'a str>,
    listed: Option<&HashMap<&'a str, (&'a str, Listed)>>,
) -> Vec<Parent<'a>> {
    let mut groups: BTreeMap<i32, (i32, Vec<&ProcRow>)> = BTreeMap::new();
    for (z, root) in zombies {
        groups
            .entry(z.ppid)
            .or_insert((*root, Vec::new()))
            .1
            .push(z);
    }
    groups
        .into_iter()
        .map(|(ppid, (root, zs))| {
            let row = by_pid.get(&ppid).copied();
            let container = shim_of.get(&root).copied();
            let entry = container.and_then(|c| listed.map(|l| l.get(c)));
            let where_ = match (container, entry) {
                (None, _) => ZombieRoot::Daemon,
                (Some(_), None) => ZombieRoot::Container { listed: None },
                (Some(_), Some(None)) => ZombieRoot::Container {
                    listed: Some(Listed::Absent),
                },
                (Some(_), Some(Some((_, l)))) => ZombieRoot::Container { listed: Some(*l) },
            };
            Parent {
                pid: ppid,
                row,
                container,
                name: entry.flatten().map(|(n, _)| *n),
                verdict: zombie_parent(row.map(|r| r.state), ppid == root, where_),
                zombies: zs,
            }
        })
        .collect()
}

/// Where zombies are looked for: under the daemon's process and under each container's keeper
/// (a containerd shim of this daemon, or on Podman a conmon of this engine).
struct Roots<'c> {
    /// dockerd; on Podman the service, when it runs here (containers do not hang under it).
    daemon_pid: Option<i32>,
    procs: &'c [ProcRow],
    /// Each keeper's pid and its container's id.
    containers: Vec<(i32, String)>,
}

async fn roots<'c>(ctx: &'c Ctx<'_>) -> Result<Roots<'c>, Finding> {
    if !ctx.engine_kind().await.is_podman() {
        let scan = daemon_shims(ctx).await?;
        return Ok(Roots {
            daemon_pid: Some(scan.daemon.info.pid),
            procs: scan.procs,
            containers: scan
                .ours
                .iter()
                .map(|(p, s)| (p.pid, s.id.clone()))
                .collect(),
        });
    }
    // Podman: each container's conmon is its parent and subreaper; the service (if it runs
    // here) is a root of its own. Conmons of another Podman (another graph root) are not ours.
    let Some((root, _)) = ctx.data_root().await else {
        return Err(crate::doctor::checks::gap(&crate::facts::Gap::Other(
            "Podman's graph root is not known: the engine did not answer /info".into(),
        )));
    };
    let procs = ctx
        .processes()
        .await
        .map_err(|g| crate::doctor::checks::gap(&g))?;
    let daemon_pid = match ctx.located().await {
        Ok(crate::runtime::daemon::Located::Found(d)) => Some(d.info.pid),
        _ => None,
    };
    let containers = procs
        .iter()
        .filter(|p| p.state != 'Z')
        .filter_map(|p| Some((p.pid, parse_conmon(&p.cmdline)?)))
        .filter(|(_, c)| conmon_of_engine(c, &root))
        .map(|(pid, c)| (pid, c.id))
        .collect();
    Ok(Roots {
        daemon_pid,
        procs,
        containers,
    })
}

fn parent_json(p: &Parent<'_>, clock: &ProcClock) -> Value {
    let mut v = json!({
        "pid": p.pid,
        "comm": p.row.map(|r| r.comm.clone()),
        "state": p.row.map(|r| r.state.to_string()),
        "container": p.container,
        "container_name": p.name,
        "zombie_count": p.zombies.len(),
        "zombies": p.zombies.iter().take(CAP).map(|z| json!({
            "pid": z.pid,
            "comm": z.comm,
            "started_secs_ago": clock.age_s(z.start_ticks).map(|s| s as u64),
        })).collect::<Vec<_>>(),
    });
    if let (Some(o), Ok(Value::Object(verdict))) =
        (v.as_object_mut(), serde_json::to_value(p.verdict))
    {
        o.extend(verdict);
    }
    v
}

/// What clears the zombies, parent by parent: resume a stopped parent, restart a running
/// container, `dockhand reap` for dead containers' parents, a daemon restart for dockerd's own.
fn fix(parents: &[Parent<'_>]) -> Fix {
    let mut fix =
        Fix::advice("Only the parent can reap its zombies (they hold a pid each, no memory).");
    if let Some(p) = parents.iter().find(|p| p.verdict == ParentVerdict::Stopped) {
        let pid = p.pid.to_string();
        fix = fix.then_run(
            &["kill", "-CONT", &pid],
            format!(
                "{} (pid {pid}) is stopped and reaps once resumed: `kill -CONT {pid}` (and find out who stopped it).",
                p.row.map_or("The parent", |r| r.comm.as_str())
            ),
        );
    }
    let mut restart: Vec<String> = Vec::new();
    for p in parents {
        if matches!(
            p.verdict,
            ParentVerdict::RunningContainer | ParentVerdict::Container | ParentVerdict::Shim
        ) && let Some(w) = p.who()
            && !restart.contains(&w)
        {
            restart.push(w);
        }
    }
    if !restart.is_empty() {
        let one = restart.len() == 1;
        let mut argv = vec!["docker", "restart"];
        argv.extend(restart.iter().map(String::as_str));
        fix = fix.then_run(
            &argv,
            format!(
                "Restart the container{} to clear them (`docker restart {}`), and run {} with `--init` (or an init as pid 1) so orphans are reaped.",
                if one { "" } else { "s" },
                restart.join(" "),
                if one { "it" } else { "them" },
            ),
        );
    }
    if parents.iter().any(|p| p.verdict.reap_ends_parent()) {
        fix = fix.then_run(
            &["dockhand", "reap"],
            "`dockhand reap` ends the parents left by containers that no longer run, so their zombies are reaped.",
        );
    }
    if parents.iter().any(|p| p.verdict == ParentVerdict::Daemon) {
        fix = fix.then_run(
            &["dockhand", "recover"],
            "Zombies of dockerd or its containerd clear when the daemon restarts (`dockhand recover` restarts it, live-restore aware).",
        );
    }
    fix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(
        pid: i32,
        container: Option<&'static str>,
        verdict: ParentVerdict,
    ) -> Parent<'static> {
        Parent {
            pid,
            row: None,
            container,
            name: None,
            verdict,
            zombies: Vec::new(),
        }
    }

    fn commands(f: &Fix) -> Vec<String> {
        f.steps
            .iter()
            .filter_map(|s| match s {
                crate::doctor::FixStep::Run { argv, .. } => Some(argv.join(" ")),
                crate::doctor::FixStep::Advice { .. } => None,
            })
            .collect()
    }

    #[test]
    fn each_kind_of_parent_gets_its_own_step() {
        use ParentVerdict::*;
        let id = "0123456789abcdef";
        // (parents, the commands the fix runs, in order)
        let cases: Vec<(Vec<Parent>, Vec<&str>)> = vec![
            (
                vec![parent(7, Some(id), RunningContainer)],
                vec!["docker restart 0123456789ab"],
            ),
            (
                vec![
                    parent(7, Some(id), RunningContainer),
                    parent(8, Some(id), RunningContainer),
                    parent(9, Some("fedcba9876543210"), Container),
                ],
                vec!["docker restart 0123456789ab fedcba987654"],
            ),
            (
                vec![parent(7, Some(id), DeadContainer { listed: false })],
                vec!["dockhand reap"],
            ),
            (vec![parent(100, None, Daemon)], vec!["dockhand recover"]),
            (
                vec![
                    parent(100, None, Daemon),
                    parent(7, Some(id), Stopped),
                    parent(8, Some(id), DeadContainer { listed: true }),
                ],
                vec!["kill -CONT 7", "dockhand reap", "dockhand recover"],
            ),
        ];
        for (parents, want) in cases {
            let f = fix(&parents);
            assert_eq!(commands(&f), want);
            assert!(
                f.text().starts_with("Only the parent can reap"),
                "{}",
                f.text()
            );
        }
    }
}
