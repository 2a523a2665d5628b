//! `processes.orphan-shims`: containerd shims of this daemon whose container Docker does not
//! know.
//!
//! Looks at every `containerd-shim*` process whose namespace and containerd socket are this
//! daemon's, against the engine's container list in every state ([`judge_shim`]); a shim seen
//! as an orphan is re-read just before the verdict (same pid and start time), because the
//! process table may predate the list.
//!
//! Never flags: shims of other daemons or other containerd namespaces (counted as
//! `other_daemons_shims`), shims of stopped containers Docker still lists, a shim that exited
//! between the process table and the list (its container just removed), zombie shims.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{CAP, daemon_shims, plural, short, still};
use crate::doctor::checks::{Ctx, ProcClock};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::processes::{Shim, ShimVerdict, judge_shim};
use crate::runtime::blocking;
use crate::runtime::host::ProcRow;
use crate::util::human_age;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let containers = match ctx.answered_containers().await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let scan = match daemon_shims(ctx).await {
        Ok(x) => x,
        Err(f) => return f,
    };
    let clock = ProcClock::read(ctx.timeout()).await;
    let docker_ids: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    // doctor does not ask containerd: an orphan here is one Docker does not know.
    let candidates: Vec<(ProcRow, Shim)> = scan
        .ours
        .iter()
        .filter(|(_, s)| matches!(judge_shim(s, &docker_ids, None), ShimVerdict::Orphan { .. }))
        .cloned()
        .collect();
    // The process table may predate the container list: a shim that exited in between (its
    // container just removed) is not an orphan. Keep only those still alive now.
    let orphans = blocking(ctx.timeout(), move || {
        candidates
            .into_iter()
            .filter(|(p, _)| still(p.pid, p.start_ticks, &['R', 'S', 'D', 'T', 't']))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let age = |p: &ProcRow| clock.age_s(p.start_ticks).map(|s| s as u64);
    let children = |pid: i32| -> Vec<Value> {
        scan.procs
            .iter()
            .filter(|c| c.ppid == pid)
            .map(|c| json!({ "pid": c.pid, "comm": c.comm, "state": c.state.to_string() }))
            .collect()
    };
    let listed: Vec<Value> = orphans
        .iter()
        .take(CAP)
        .map(|(p, s)| {
            json!({
                "pid": p.pid,
                "id": s.id,
                "namespace": s.namespace,
                "address": s.address,
                "age_secs": age(p),
                "children": children(p.pid),
            })
        })
        .collect();
    let evidence = json!({
        "shims": scan.ours.len(),
        "other_daemons_shims": scan.others,
        "orphans": listed,
        "orphan_count": orphans.len(),
        "daemon_pid": scan.daemon.info.pid,
    });
    let Some((p, s)) = orphans.first() else {
        let n = scan.ours.len();
        return Finding::new(
            Status::Ok,
            format!(
                "{n} shim{} of this daemon, each for a container Docker knows",
                plural(n)
            ),
        )
        .evidence(evidence);
    };
    let n = orphans.len();
    Finding::new(
        Status::Warning,
        format!(
            "{n} containerd shim{} of this daemon run{} for container{} Docker does not know (e.g. pid {}, id {}, up {})",
            plural(n),
            if n == 1 { "s" } else { "" },
            plural(n),
            p.pid,
            short(&s.id),
            age(p).map_or_else(|| "?".into(), human_age),
        ),
    )
    .fix(fix(p.pid, s))
    .evidence(evidence)
}

/// Look before reaping: what containerd still runs, then `dockhand reap --shims`.
fn fix(pid: i32, s: &Shim) -> Fix {
    let (address, namespace, id) = (&s.address, &s.namespace, &s.id);
    Fix::run(
        &["ctr", "-a", address, "-n", namespace, "tasks", "ls"],
        format!(
            "Running shims are not safe to kill blindly (containerd#768): first check what containerd still runs (`ctr -a {address} -n {namespace} tasks ls`) and that nothing needs the processes under the shim."
        ),
    )
    .then_run(
        &["dockhand", "reap", "--shims"],
        "Then `dockhand reap --shims` removes shims unknown to Docker and containerd.",
    )
    .then_advice(format!(
        "By hand: `ctr -a {address} -n {namespace} tasks kill -s KILL {id}`, then `kill {pid}` if the shim stays."
    ))
}
