//! Leaked docker-proxy processes (`ports.leaked-proxy`): judged by [`judge_proxy_if_known`],
//! the verdict doctor and `ports` give for the same proxy.

use crate::policy::identity::DockerProgram;
use std::collections::HashMap;
use std::time::Duration;

use crate::actions::{ProcId, Scope};
use crate::facts::Facts;
use crate::policy::ports::{
    Leak, ProxyOwner, ProxyScope, ProxySeen, ProxyVerdict, judge_proxy_if_known, proxy_owner,
};
use crate::runtime::daemon::DaemonProcess;
use crate::runtime::host::{ProcClock, ProcRow};
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::parse_docker_proxy;

use super::capture::{capture_all, push_terminations};

use super::plan::{Category, ReapPlan, Thresholds};

// Long (~110 lines): the lookups are calls; what is left is one verdict per proxy, in order.
#[allow(clippy::too_many_arguments)]
pub(super) async fn plan(
    facts: &Facts,
    p: &mut ReapPlan,
    procs: &[ProcRow],
    daemon: Option<&DaemonProcess>,
    daemon_id: Option<ProcId>,
    answered: bool,
    th: &Thresholds,
    grace: Duration,
) {
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|r| (r.pid, r)).collect();
    // Docker's programs by what they run, never by name (see `policy::identity`).
    let duid = daemon.map(|d| d.uid);
    let parent_of = |r: &ProcRow| {
        by_pid
            .get(&r.ppid)
            .map(|pp| (pp.docker_name(duid), pp.state))
    };
    let found: Vec<(&ProcRow, crate::runtime::net::ProxyArgs)> = procs
        .iter()
        .filter(|r| r.state != 'Z')
        .filter(|r| r.program(duid) == Some(DockerProgram::Proxy))
        .filter_map(|r| parse_docker_proxy(&r.cmdline).map(|a| (r, a)))
        .collect();
    if found.is_empty() {
        return;
    }
    let daemon_pid = daemon.map_or(-1, |d| d.info.pid);
    let records = if found.iter().any(|(r, _)| r.ppid == daemon_pid) && answered {
        records_or_gap(facts, p).await
    } else {
        None
    };
    let live_dockerds = procs
        .iter()
        .filter(|r| r.program(duid) == Some(DockerProgram::Dockerd) && r.state != 'Z')
        .count();
    let mut scope = ProxyScope {
        daemon_pid,
        live_dockerds,
        subnets: &[],
        grace_s: th.proxy_grace_s,
    };
    let needs = scope.orphans_need_subnets()
        && answered
        && daemon.is_some()
        && found.iter().any(|(r, _)| {
            proxy_owner(r.ppid, daemon_pid, parent_of(r), false) == ProxyOwner::Orphan
        });
    let subnets = if needs {
        facts.subnets().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    scope.subnets = &subnets;
    let clock = ProcClock::read(facts.timeout()).await;
    let mut targets = Vec::new();
    for (r, a) in &found {
        let label = format!(
            "pid {} (docker-proxy {}:{} → {}:{})",
            r.pid, a.host_ip, a.host_port, a.container_ip, a.container_port
        );
        let seen = ProxySeen {
            ppid: r.ppid,
            parent: parent_of(r),
            args: a,
            age_s: clock.age_s(r.start_ticks),
        };
        let Some(verdict) = judge_proxy_if_known(&seen, records, &scope) else {
            p.gaps = true;
            p.skip(
                Category::LeakedProxy,
                label,
                "a child of this daemon, not judged: the engine did not list its containers",
            );
            continue;
        };
        match verdict {
            ProxyVerdict::Leaked { why } => {
                let (scope, reason) = match why {
                    Leak::ContainerGone => (
                        daemon_id.map_or(Scope::DockerProgram, Scope::DescendantOf),
                        format!(
                            "leaked docker-proxy holding {}/{}: a child of this daemon, but no running container publishes it to {}",
                            a.host_port, a.proto, a.container_ip
                        ),
                    ),
                    Leak::Orphan => (
                        Scope::DockerProgram,
                        format!(
                            "leaked docker-proxy holding {}/{}: its parent is not a live dockerd, so nothing will stop it",
                            a.host_port, a.proto
                        ),
                    ),
                };
                targets.push((r.pid, r.start_ticks, scope, reason));
            }
            ProxyVerdict::Unattributed => p.skip(
                Category::LeakedProxy,
                label,
                "an orphan forwarding into none of this daemon's networks while other daemons run: probably another daemon's (`dockhand ports free PORT --force-foreign` stops it)",
            ),
            _ => {}
        }
    }
    let cats = vec![Category::LeakedProxy; targets.len()];
    let captured = capture_all(facts, p, targets).await;
    push_terminations(p, captured, &cats, grace);
}

/// The engine's container records, or the gap said: this daemon's proxies are then not judged.
async fn records_or_gap<'f>(facts: &'f Facts, p: &mut ReapPlan) -> Option<&'f [ContainerRecord]> {
    match facts.records().await {
        Ok(r) => Some(r),
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!(
                "this daemon's docker-proxy processes are not judged: {g}"
            ));
            None
        }
    }
}
