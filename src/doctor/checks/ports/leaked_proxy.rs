//! `ports.leaked-proxy`: docker-proxy processes of this daemon that serve no running container.
//!
//! Every `docker-proxy` in the process table is judged by [`judge_proxy`]: a child of this
//! daemon serves a running container that has its container address and publishes its host
//! port, or is leaked once older than `grace_seconds`; a proxy whose parent is not a live dockerd
//! is an orphan and leaked — with several daemons on the host, only when it forwards into one of
//! this daemon's networks.
//!
//! Never flags: proxies serving a running container, young proxies of containers still starting,
//! children of another live dockerd, orphans that forward into none of this daemon's networks
//! while other daemons run (listed as `unattributed_orphans`).

use crate::policy::identity::DockerProgram;
use std::collections::HashMap;

use serde_json::{Value, json};

use super::{CAP, plural};
use crate::doctor::checks::{Ctx, ProcClock};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::ports::{
    Leak, ProxyOwner, ProxyScope, ProxySeen, ProxyVerdict, judge_proxy, proxy_owner,
};
use crate::runtime::host::ProcRow;
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{ProxyArgs, parse_docker_proxy};

const ID: &str = "ports.leaked-proxy";

/// The proxies judged: the leaked ones (with their evidence rows), the orphans none of this
/// daemon's networks claims, and how many serve this daemon or belong to another.
struct Judged<'p> {
    leaked: Vec<(&'p ProcRow, &'p ProxyArgs, Value)>,
    unattributed: Vec<Value>,
    serving: usize,
    others: usize,
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let grace = ctx.th(ID, "grace_seconds");
    let d = match ctx.located_daemon().await {
        Ok(d) => d,
        Err(f) => return f,
    };
    let procs = match ctx.processes().await {
        Ok(p) => p,
        Err(g) => return crate::doctor::checks::gap(&g),
    };
    let clock = ProcClock::read(ctx.timeout()).await;
    let daemon_pid = d.info.pid;
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|p| (p.pid, p)).collect();
    // Docker's programs by what they run (never by name): an impostor "dockerd" parent
    // protects nothing, an impostor "docker-proxy" is not a proxy.
    let duid = Some(d.uid);
    let proxies: Vec<(&ProcRow, ProxyArgs)> = procs
        .iter()
        .filter(|p| p.state != 'Z')
        .filter(|p| p.program(duid) == Some(DockerProgram::Proxy))
        .filter_map(|p| parse_docker_proxy(&p.cmdline).map(|a| (p, a)))
        .collect();
    // Matching against containers needs the engine only when this daemon has proxies.
    let records = if proxies.iter().any(|(p, _)| p.ppid == daemon_pid) {
        match ctx.answered_records().await {
            Ok(r) => r,
            Err(f) => return f,
        }
    } else {
        &[]
    };
    let live_dockerds = procs
        .iter()
        .filter(|p| p.program(duid) == Some(DockerProgram::Dockerd) && p.state != 'Z')
        .count();
    let mut scope = ProxyScope {
        daemon_pid,
        live_dockerds,
        subnets: &[],
        grace_s: grace,
    };
    // This daemon's subnets, asked only when they decide something: an orphan on a host with
    // several daemons.
    let subnets = if scope.orphans_need_subnets()
        && proxies.iter().any(|(p, _)| {
            proxy_owner(p.ppid, daemon_pid, parent_of(&by_pid, duid, p), false)
                == ProxyOwner::Orphan
        }) {
        network_subnets(ctx).await
    } else {
        Vec::new()
    };
    scope.subnets = &subnets;

    let j = judge_all(&proxies, &by_pid, duid, &clock, records, &scope);
    let evidence = json!({
        "proxies": proxies.len(),
        "serving": j.serving,
        "other_daemons": j.others,
        "leaked": j.leaked.iter().take(CAP).map(|(_, _, r)| r.clone()).collect::<Vec<_>>(),
        "leaked_count": j.leaked.len(),
        "unattributed_orphans": j.unattributed.iter().take(CAP).cloned().collect::<Vec<_>>(),
        "daemon_pid": daemon_pid,
        "live_dockerds": live_dockerds,
        "thresholds": { "grace_seconds": grace },
    });
    if j.leaked.is_empty() {
        return Finding::new(Status::Ok, all_clear(&j)).evidence(evidence);
    }
    leaked_finding(&j.leaked).evidence(evidence)
}

/// A process's parent: its verified program name and state, when the parent exists.
fn parent_of(
    by_pid: &HashMap<i32, &ProcRow>,
    duid: Option<u32>,
    p: &ProcRow,
) -> Option<(&'static str, char)> {
    by_pid
        .get(&p.ppid)
        .map(|pp| (pp.docker_name(duid), pp.state))
}

/// Lets the policy judge every proxy, and sorts them by its verdict.
fn judge_all<'p>(
    proxies: &'p [(&'p ProcRow, ProxyArgs)],
    by_pid: &HashMap<i32, &ProcRow>,
    duid: Option<u32>,
    clock: &ProcClock,
    records: &[ContainerRecord],
    scope: &ProxyScope<'_>,
) -> Judged<'p> {
    let mut j = Judged {
        leaked: Vec::new(),
        unattributed: Vec::new(),
        serving: 0,
        others: 0,
    };
    for (p, a) in proxies {
        let seen = ProxySeen {
            ppid: p.ppid,
            parent: parent_of(by_pid, duid, p),
            args: a,
            age_s: clock.age_s(p.start_ticks),
        };
        let verdict = judge_proxy(&seen, records, scope);
        let why = match verdict {
            // A young proxy of a container still starting counts as serving, as it soon will.
            ProxyVerdict::Serving { .. } | ProxyVerdict::Starting { .. } => {
                j.serving += 1;
                continue;
            }
            ProxyVerdict::OtherDaemon => {
                j.others += 1;
                continue;
            }
            ProxyVerdict::Leaked { why } => why,
            ProxyVerdict::Unattributed => Leak::Orphan,
        };
        let row = leak_row(p, &seen, why);
        if verdict == ProxyVerdict::Unattributed {
            j.unattributed.push(row);
        } else {
            j.leaked.push((*p, a, row));
        }
    }
    j
}

/// A leaked or unattributed proxy as evidence: what it forwards, its parent, its age, why.
fn leak_row(p: &ProcRow, seen: &ProxySeen<'_>, why: Leak) -> Value {
    let a = seen.args;
    json!({
        "pid": p.pid,
        "ppid": p.ppid,
        "parent": seen.parent.map(|(c, _)| c),
        "proto": a.proto,
        "host_ip": a.host_ip,
        "host_port": a.host_port,
        "container_ip": a.container_ip,
        "container_port": a.container_port,
        "age_secs": seen.age_s.map(|s| s as u64),
        "reason": why,
        "why": match why {
            Leak::ContainerGone => "child of this daemon, but no running container publishes this port to this address",
            Leak::Orphan => "its parent is not a live dockerd: nothing will stop it",
        },
    })
}

/// The all-clear: how many serve, and the orphans left to another daemon.
fn all_clear(j: &Judged<'_>) -> String {
    let mut s = format!(
        "no leaked docker-proxy ({} of this daemon serve running containers)",
        j.serving
    );
    if !j.unattributed.is_empty() {
        s.push_str(&format!(
            "; {} orphan docker-proxy forward{} into none of this daemon's networks (another daemon's; see evidence)",
            j.unattributed.len(),
            if j.unattributed.len() == 1 { "s" } else { "" }
        ));
    }
    s
}

/// The warning for leaked proxies (`leaked` is not empty), with the fix for the first.
fn leaked_finding(leaked: &[(&ProcRow, &ProxyArgs, Value)]) -> Finding {
    let (p, a, _) = &leaked[0];
    let ports: Vec<String> = leaked
        .iter()
        .map(|(_, a, _)| a.host_port.to_string())
        .collect();
    let n = leaked.len();
    Finding::new(
        Status::Warning,
        format!(
            "{n} leaked docker-proxy process{} hold{} host port{} {} for no running container: a container publishing {} fails with \"port is already allocated\"",
            if n == 1 { "" } else { "es" },
            if n == 1 { "s" } else { "" },
            plural(n),
            ports.join(", "),
            if n == 1 { "it" } else { "them" },
        ),
    )
    .fix(fix(p.pid, a.host_port))
}

/// `dockhand ports free PORT` for the first, `dockhand reap` for all; by hand, kill it.
fn fix(pid: i32, port: u16) -> Fix {
    let port = port.to_string();
    Fix::run(
        &["dockhand", "ports", "free", &port],
        format!("`dockhand ports free {port}` stops it after re-checking;"),
    )
    .then_run(
        &["dockhand", "reap"],
        "`dockhand reap` stops every leaked proxy.",
    )
    .then_advice(format!(
        "By hand: make sure no container of yours should own it (`docker ps --filter publish={port}`), then `kill {pid}`. If it comes back after a daemon restart, the network's endpoint store is stale (moby#25981): remove and recreate the network."
    ))
}

/// The subnets of every network of this daemon (`/networks`, IPAM config). Empty when the engine
/// does not answer.
async fn network_subnets(ctx: &Ctx<'_>) -> Vec<String> {
    ctx.subnets().await.unwrap_or_default()
}
