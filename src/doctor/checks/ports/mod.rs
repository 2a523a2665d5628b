//! Checks of the ports area: leaked docker-proxy processes, listeners whose owner cannot accept,
//! and stopped containers whose published port another process now holds. See
//! docs/checks/ports.md.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};

use super::processes::located_daemon;
use super::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::host::{ProcRow, now_secs};
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{Listener, ProxyArgs, bind_conflicts, in_subnet, parse_docker_proxy};

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("ports.leaked-proxy", leaked_proxy),
        probe!("ports.stuck", stuck),
        probe!("ports.conflict", conflict),
    ]
}

/// How many objects evidence lists before it only counts.
const CAP: usize = 20;

/// Seconds since a process started, from its start time in clock ticks since boot.
fn age_secs(start_ticks: u64) -> Option<u64> {
    let boot = procfs::boot_time_secs().ok()?;
    let tps = procfs::ticks_per_second().max(1);
    Some(now_secs().saturating_sub(boot + start_ticks / tps))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The IP addresses a container's record gives it, on every network.
pub fn container_ips(c: &ContainerRecord) -> HashSet<String> {
    c.ips().map(str::to_string).collect()
}

/// The host ports a container publishes: the live mapping (`NetworkSettings.Ports`) and what
/// it asked for (`HostConfig.PortBindings`), as (proto, host ip, host port).
pub fn published(c: &ContainerRecord) -> Vec<(String, String, u16)> {
    let mut out = Vec::new();
    for map in [&c.network_settings.ports, &c.host_config.port_bindings] {
        for (key, bindings) in map {
            let proto = key.split_once('/').map_or("tcp", |(_, p)| p).to_string();
            for b in bindings.iter().flatten() {
                if let Ok(port) = b.host_port.parse::<u16>() {
                    out.push((proto.clone(), b.host_ip.clone(), port));
                }
            }
        }
    }
    out
}

/// Whether a running container publishes what a docker-proxy forwards: the same protocol and
/// host port, towards one of the container's addresses.
pub fn proxy_serves(c: &ContainerRecord, p: &ProxyArgs) -> bool {
    c.state.running
        && container_ips(c).contains(&p.container_ip)
        && published(c)
            .iter()
            .any(|(proto, _, port)| *proto == p.proto && *port == p.host_port)
}

/// Why a docker-proxy counts as leaked, or whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyOwner {
    /// Child of this daemon, serving a running container.
    Serving,
    /// Child of this daemon, but no running container of it publishes that port to that address.
    ContainerGone,
    /// Its parent is not a live dockerd: nothing will ever stop it.
    Orphan,
    /// Child of another live dockerd on this host: that daemon's business.
    OtherDaemon,
}

/// Classifies a proxy by its parent. `parent` is the parent's (comm, state) if it exists.
pub fn proxy_owner(
    ppid: i32,
    daemon_pid: i32,
    parent: Option<(&str, char)>,
    serves: bool,
) -> ProxyOwner {
    if ppid == daemon_pid {
        return if serves {
            ProxyOwner::Serving
        } else {
            ProxyOwner::ContainerGone
        };
    }
    match parent {
        Some(("dockerd", state)) if state != 'Z' => ProxyOwner::OtherDaemon,
        _ => ProxyOwner::Orphan,
    }
}

/// `ports.leaked-proxy`: docker-proxy processes of this daemon that serve no running container.
pub async fn leaked_proxy(ctx: &Ctx<'_>) -> Finding {
    let id = "ports.leaked-proxy";
    let grace = ctx.th(id, "grace_seconds");
    let d = match located_daemon(ctx.located().await) {
        Ok(d) => d,
        Err(f) => return *f,
    };
    let Ok(procs) = ctx.processes().await else {
        return Finding::new(Status::Unknown, "/proc did not answer within the deadline");
    };
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|p| (p.pid, p)).collect();
    let proxies: Vec<(&ProcRow, ProxyArgs)> = procs
        .iter()
        .filter(|p| p.state != 'Z')
        .filter_map(|p| parse_docker_proxy(&p.cmdline).map(|a| (p, a)))
        .collect();
    let ours_live = proxies.iter().any(|(p, _)| p.ppid == d.info.pid);
    // Matching against containers needs the engine only when this daemon has proxies.
    let details = if ours_live {
        match ctx.answered_records().await {
            Ok(d) => d,
            Err(f) => return f,
        }
    } else {
        &[]
    };
    let live_dockerds = procs
        .iter()
        .filter(|p| p.comm == "dockerd" && p.state != 'Z')
        .count();
    let mut subnets: Option<Vec<String>> = None;
    let mut leaked = Vec::new();
    let mut unattributed = Vec::new();
    let (mut serving, mut others) = (0usize, 0usize);
    for (p, a) in &proxies {
        let parent = by_pid.get(&p.ppid).map(|pp| (pp.comm.as_str(), pp.state));
        let serves = details.iter().any(|c| proxy_serves(c, a));
        let owner = proxy_owner(p.ppid, d.info.pid, parent, serves);
        let age = age_secs(p.start_ticks);
        let why = match owner {
            ProxyOwner::Serving => {
                serving += 1;
                continue;
            }
            ProxyOwner::OtherDaemon => {
                others += 1;
                continue;
            }
            // A proxy starts before its container is marked running: a young one may be mid-start.
            ProxyOwner::ContainerGone if age.is_some_and(|s| (s as f64) < grace) => {
                serving += 1;
                continue;
            }
            ProxyOwner::ContainerGone => {
                "child of this daemon, but no running container publishes this port to this address"
            }
            ProxyOwner::Orphan => "its parent is not a live dockerd: nothing will stop it",
        };
        let row = json!({
            "pid": p.pid,
            "ppid": p.ppid,
            "parent": parent.map(|(c, _)| c),
            "proto": a.proto,
            "host_ip": a.host_ip,
            "host_port": a.host_port,
            "container_ip": a.container_ip,
            "container_port": a.container_port,
            "age_secs": age,
            "why": why,
        });
        if owner == ProxyOwner::Orphan && live_dockerds > 1 {
            // Several daemons: an orphan is this daemon's when it forwards into one of its
            // networks. Fetched only now that an orphan is seen.
            if subnets.is_none() {
                subnets = Some(network_subnets(ctx).await);
            }
            let ip = a.container_ip.parse::<IpAddr>().ok();
            let ours =
                ip.is_some_and(|ip| subnets.iter().flatten().any(|cidr| in_subnet(ip, cidr)));
            if !ours {
                unattributed.push(row);
                continue;
            }
        }
        leaked.push((p.pid, a.host_port, row));
    }
    let evidence = json!({
        "proxies": proxies.len(),
        "serving": serving,
        "other_daemons": others,
        "leaked": leaked.iter().take(CAP).map(|(_, _, r)| r.clone()).collect::<Vec<_>>(),
        "leaked_count": leaked.len(),
        "unattributed_orphans": unattributed.iter().take(CAP).cloned().collect::<Vec<_>>(),
        "daemon_pid": d.info.pid,
        "live_dockerds": live_dockerds,
        "thresholds": { "grace_seconds": grace },
    });
    if leaked.is_empty() {
        let mut s =
            format!("no leaked docker-proxy ({serving} of this daemon serve running containers)");
        if !unattributed.is_empty() {
            s.push_str(&format!(
                "; {} orphan docker-proxy forward{} into none of this daemon's networks (another daemon's; see evidence)",
                unattributed.len(),
                if unattributed.len() == 1 { "s" } else { "" }
            ));
        }
        return Finding::new(Status::Ok, s).evidence(evidence);
    }
    let (pid, port, _) = &leaked[0];
    let ports: Vec<String> = leaked.iter().map(|(_, p, _)| p.to_string()).collect();
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
    .remedy(format!(
        "`dockhand ports free {port}` (or `dockhand reap` for all of them) stops it after re-checking; by hand: make sure no container of yours should own it (`docker ps --filter publish={port}`), then `kill {pid}`. If it comes back after a daemon restart, the network's endpoint store is stale (moby#25981): remove and recreate the network."
    ))
    .evidence(evidence)
}

/// The subnets of every network of this daemon (`/networks`, IPAM config). Empty when the engine
/// does not answer.
async fn network_subnets(ctx: &Ctx<'_>) -> Vec<String> {
    let Ok(nets) = ctx.networks().await else {
        return Vec::new();
    };
    nets.iter()
        .flat_map(|n| n.ipam.config.iter())
        .map(|c| c.subnet.clone())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Why an owner cannot accept connections, if it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stuck {
    /// `T`: stopped by a signal (SIGSTOP, SIGTSTP).
    Stopped,
    /// `D`: uninterruptible sleep, seen in every sample.
    Uninterruptible,
    /// `t`: stopped by a tracer (a debugger).
    Traced,
    /// Its parent is a zombie: whoever started it died and nobody reaped the parent.
    ParentZombie,
}

impl Stuck {
    fn as_str(self) -> &'static str {
        match self {
            Stuck::Stopped => "stopped",
            Stuck::Uninterruptible => "uninterruptible",
            Stuck::Traced => "traced",
            Stuck::ParentZombie => "parent-zombie",
        }
    }

    fn status(self) -> Status {
        match self {
            Stuck::Stopped | Stuck::Uninterruptible => Status::Critical,
            Stuck::Traced | Stuck::ParentZombie => Status::Warning,
        }
    }
}

/// The verdict on one owner from its state, wchan and its parent's state. A process frozen by
/// the cgroup freezer (`docker pause`) is paused on purpose, not stuck.
pub fn classify_owner(
    state: char,
    wchan: Option<&str>,
    parent_state: Option<char>,
) -> Option<Stuck> {
    let frozen = wchan.is_some_and(|w| w.contains("refrigerator") || w.contains("freezer"));
    match state {
        'T' => Some(Stuck::Stopped),
        't' => Some(Stuck::Traced),
        'D' if !frozen => Some(Stuck::Uninterruptible),
        _ if parent_state == Some('Z') => Some(Stuck::ParentZombie),
        _ => None,
    }
}

/// Reads (state, wchan, ppid) of a process now.
fn proc_now(pid: i32) -> Option<(char, Option<String>, i32)> {
    let p = procfs::process::Process::new(pid).ok()?;
    let st = p.stat().ok()?;
    Some((
        st.state,
        p.wchan().ok().filter(|w| !w.is_empty() && w != "0"),
        st.ppid,
    ))
}

fn state_now(pid: i32) -> Option<char> {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .ok()
        .map(|s| s.state)
}

/// `ports.stuck`: TCP listeners none of whose owners can accept.
pub async fn stuck(ctx: &Ctx<'_>) -> Finding {
    let id = "ports.stuck";
    let samples = ctx.th(id, "d_state_samples").max(1.0) as u32;
    let Ok(table) = ctx.listeners().await else {
        return Finding::new(
            Status::Unknown,
            "reading the TCP listeners from /proc did not finish within the deadline",
        );
    };
    let owned: Vec<Listener> = table
        .listeners
        .iter()
        .filter(|l| !l.pids.is_empty())
        .cloned()
        .collect();
    let count = table.listeners.len();
    let unreadable = table.unreadable;
    let namespaces = table.namespaces;
    // States are read fresh: the process table may be older than the listener table. A D state
    // must persist over every sample (100 ms apart) — a short D is ordinary disk I/O.
    let judged = blocking(ctx.timeout() * 2, move || {
        let mut out: Vec<(Listener, Vec<Value>, Stuck)> = Vec::new();
        for l in owned {
            let mut verdicts = Vec::new();
            for &pid in &l.pids {
                let Some((state, wchan, ppid)) = proc_now(pid) else {
                    verdicts.push(None);
                    continue;
                };
                let pstate = state_now(ppid);
                verdicts.push(classify_owner(state, wchan.as_deref(), pstate).map(|v| {
                    (
                        v,
                        json!({
                            "pid": pid,
                            "comm": crate::runtime::host::comm(pid),
                            "state": state.to_string(),
                            "wchan": wchan,
                            "ppid": ppid,
                            "parent_state": pstate.map(|c| c.to_string()),
                        }),
                    )
                }));
            }
            // Stuck only when no owner can accept: one live worker of a pre-fork server still
            // serves the socket.
            if verdicts.iter().any(Option::is_none) {
                continue;
            }
            let owners: Vec<(Stuck, Value)> = verdicts.into_iter().flatten().collect();
            let worst = owners
                .iter()
                .map(|(v, _)| *v)
                .max_by_key(|v| v.status() == Status::Critical);
            if let Some(worst) = worst {
                out.push((l, owners.into_iter().map(|(_, o)| o).collect(), worst));
            }
        }
        // Confirm the D ones: every sample must still say D.
        if out.iter().any(|(_, _, v)| *v == Stuck::Uninterruptible) {
            for _ in 1..samples {
                std::thread::sleep(Duration::from_millis(100));
                out.retain(|(l, _, v)| {
                    *v != Stuck::Uninterruptible
                        || l.pids.iter().all(|p| state_now(*p) == Some('D'))
                });
            }
        }
        out
    })
    .await;
    let Some(found) = judged else {
        return Finding::new(
            Status::Unknown,
            "reading the listeners' owners did not finish within the deadline (a process in D state?)",
        );
    };
    let rows: Vec<Value> = found
        .iter()
        .take(CAP)
        .map(|(l, owners, v)| {
            json!({
                "port": l.port,
                "address": l.address.to_string(),
                "host_namespace": l.host_ns,
                "netns": l.netns,
                "why": v.as_str(),
                "owners": owners,
            })
        })
        .collect();
    let evidence = json!({
        "listeners": count,
        "namespaces": namespaces,
        "unreadable_processes": unreadable,
        "stuck": rows,
        "stuck_count": found.len(),
    });
    let Some((l, owners, _)) = found.first() else {
        let mut s = format!(
            "{count} TCP listener{} in {namespaces} network namespace{}, none held by a stopped or stuck process",
            plural(count),
            plural(namespaces)
        );
        if unreadable > 0 {
            s.push_str(&format!(
                " ({unreadable} processes' fds were not readable: run as root to see all owners)"
            ));
        }
        return Finding::new(Status::Ok, s).evidence(evidence);
    };
    let status = found
        .iter()
        .map(|(_, _, v)| v.status())
        .fold(Status::Ok, Status::worst);
    let o = owners.first().cloned().unwrap_or(Value::Null);
    let pid = o["pid"].as_i64().unwrap_or(0);
    let comm = o["comm"].as_str().unwrap_or("?");
    let state = o["state"].as_str().unwrap_or("?");
    let n = found.len();
    let wait = o["wchan"]
        .as_str()
        .map_or_else(String::new, |w| format!(" (waiting in {w})"));
    Finding::new(
        status,
        format!(
            "{n} TCP listener{} held by a process that cannot accept: {}:{} by {comm} (pid {pid}, state {state}){wait}; new connections queue and never get an answer",
            plural(n),
            fmt_addr(l.address),
            l.port,
        ),
    )
    .remedy(format!(
        "A stopped process (T) resumes with `kill -CONT {pid}` — find out who stopped it; a process in D waits in the kernel (its wchan names where: usually a hung filesystem or device) and cannot be killed until that returns. To free the port instead: `dockhand ports free {}` (by hand: `kill -9 {pid}`, then `kill -CONT {pid}` so it dies).",
        l.port
    ))
    .evidence(evidence)
}

fn fmt_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}

/// One published TCP binding with a fixed host port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The host IP as written (empty: every address).
    pub host_ip: String,
    pub port: u16,
    /// The host IP parsed; `None` for every address.
    pub ip: Option<IpAddr>,
}

/// A stopped container's restart policy and fixed-port TCP bindings, when it has both — the pure
/// part of `ports.conflict`.
pub fn restart_bindings(c: &ContainerRecord) -> Option<(String, Vec<Binding>)> {
    let policy = c.host_config.restart_policy.name.as_str();
    if c.state.running
        || c.state.restarting
        || !matches!(policy, "always" | "unless-stopped" | "on-failure")
    {
        return None;
    }
    let mut out = Vec::new();
    for (key, bindings) in &c.host_config.port_bindings {
        if key.split_once('/').is_some_and(|(_, p)| p != "tcp") {
            continue;
        }
        for b in bindings.iter().flatten() {
            let ip = b.host_ip.as_str();
            // An empty or ranged host port is chosen at start: it cannot be known to clash.
            let Ok(port) = b.host_port.parse::<u16>() else {
                continue;
            };
            let parsed = if ip.is_empty() {
                None
            } else {
                match ip.parse::<IpAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => continue,
                }
            };
            out.push(Binding {
                host_ip: ip.to_string(),
                port,
                ip: parsed,
            });
        }
    }
    (!out.is_empty()).then(|| (policy.to_string(), out))
}

/// `ports.conflict`: stopped containers with a restart policy whose published host port another
/// process now holds: their next start fails with "port is already allocated".
pub async fn conflict(ctx: &Ctx<'_>) -> Finding {
    let details = match ctx.answered_records().await {
        Ok(d) => d,
        Err(f) => return f,
    };
    let candidates: Vec<(&ContainerRecord, String, Vec<Binding>)> = details
        .iter()
        .filter_map(|c| restart_bindings(c).map(|(p, b)| (c, p, b)))
        .collect();
    if candidates.is_empty() {
        return Finding::new(
            Status::Ok,
            "no stopped container with a restart policy publishes a fixed host port",
        )
        .evidence(json!({ "candidates": 0, "conflicts": [] }));
    }
    if matches!(ctx.located().await, Err(crate::facts::Gap::Remote { .. })) {
        return Finding::new(
            Status::Unknown,
            "the daemon is on another host: its listeners cannot be seen from here",
        );
    }
    let Ok(table) = ctx.listeners().await else {
        return Finding::new(
            Status::Unknown,
            "reading the TCP listeners from /proc did not finish within the deadline",
        );
    };
    let procs: HashMap<i32, &ProcRow> = ctx
        .processes()
        .await
        .map(|ps| ps.iter().map(|p| (p.pid, p)).collect())
        .unwrap_or_default();
    let mut conflicts = Vec::new();
    for (c, policy, bindings) in &candidates {
        let ips = container_ips(c);
        let cid = c.id.as_str();
        let name = c.name();
        for b in bindings {
            let port = &b.port;
            let mut holders = Vec::new();
            for l in table
                .host_on(crate::runtime::net::Proto::Tcp, b.port)
                .filter(|l| bind_conflicts(b.ip, l.address))
            {
                let owners: Vec<Value> = l
                    .pids
                    .iter()
                    .map(|pid| {
                        let p = procs.get(pid);
                        json!({ "pid": pid, "comm": p.map(|p| p.comm.clone()), "cmdline": p.map(|p| p.cmdline.join(" ")) })
                    })
                    .collect();
                // This container's own proxy (leaked while it was stopped) is not a stranger.
                let own_proxy = !l.pids.is_empty()
                    && l.pids.iter().all(|pid| {
                        procs
                            .get(pid)
                            .and_then(|p| parse_docker_proxy(&p.cmdline))
                            .is_some_and(|a| a.host_port == *port && ips.contains(&a.container_ip))
                    });
                if !own_proxy {
                    holders.push(json!({ "address": l.address.to_string(), "port": l.port, "owners": owners }));
                }
            }
            if !holders.is_empty() {
                conflicts.push(json!({
                    "container": cid,
                    "name": name,
                    "restart_policy": policy,
                    "host_ip": b.host_ip,
                    "port": port,
                    "holders": holders,
                }));
            }
        }
    }
    let evidence = json!({
        "candidates": candidates.len(),
        "conflicts": conflicts.iter().take(CAP).cloned().collect::<Vec<_>>(),
        "conflict_count": conflicts.len(),
        "unreadable_processes": table.unreadable,
    });
    let Some(first) = conflicts.first() else {
        return Finding::new(
            Status::Ok,
            format!(
                "{} stopped container{} with a restart policy publish{} fixed host ports, all free",
                candidates.len(),
                plural(candidates.len()),
                if candidates.len() == 1 { "es" } else { "" }
            ),
        )
        .evidence(evidence);
    };
    let port = first["port"].as_u64().unwrap_or(0);
    let name = first["name"].as_str().unwrap_or("?").to_string();
    let owner = first.pointer("/holders/0/owners/0");
    let holder = match owner {
        Some(o) => format!(
            "{} (pid {})",
            o["comm"].as_str().unwrap_or("?"),
            o["pid"].as_i64().unwrap_or(0)
        ),
        None => "a process whose fds could not be read".into(),
    };
    let n = conflicts.len();
    Finding::new(
        Status::Warning,
        format!(
            "{n} published port{} of stopped containers with a restart policy {} held by another process: {name}'s port {port} by {holder}; its next start fails with \"port is already allocated\"",
            plural(n),
            if n == 1 { "is" } else { "are" },
        ),
    )
    .remedy(format!(
        "Free the port — `dockhand ports free {port}`, or stop {holder} by hand — or publish {name} on another port (recreate it with a different -p); then `docker start {name}`."
    ))
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(port: u16, ip: &str) -> ProxyArgs {
        ProxyArgs {
            proto: "tcp".into(),
            host_ip: "0.0.0.0".into(),
            host_port: port,
            container_ip: ip.into(),
            container_port: 80,
        }
    }

    fn rec(v: Value) -> ContainerRecord {
        serde_json::from_value(v).expect("a record")
    }

    fn running(ip: &str, port: &str) -> Value {
        json!({
            "State": { "Running": true },
            "NetworkSettings": {
                "Networks": { "bridge": { "IPAddress": ip } },
                "Ports": { "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": port } ] }
            },
            "HostConfig": { "PortBindings": {} }
        })
    }

    #[test]
    fn a_proxy_serves_a_running_container_with_its_ip_and_port() {
        let v = running("172.17.0.2", "8080");
        let c = rec(v.clone());
        assert!(proxy_serves(&c, &proxy(8080, "172.17.0.2")));
        assert!(!proxy_serves(&c, &proxy(8081, "172.17.0.2")));
        assert!(!proxy_serves(&c, &proxy(8080, "172.17.0.3")));
        let mut stopped = v;
        stopped["State"]["Running"] = json!(false);
        assert!(!proxy_serves(&rec(stopped), &proxy(8080, "172.17.0.2")));
        let mut udp = proxy(8080, "172.17.0.2");
        udp.proto = "udp".into();
        assert!(!proxy_serves(&c, &udp));
    }

    #[test]
    fn proxy_owners() {
        use ProxyOwner::*;
        let cases = [
            (100, 100, Some(("dockerd", 'S')), true, Serving),
            (100, 100, Some(("dockerd", 'S')), false, ContainerGone),
            (1, 100, Some(("systemd", 'S')), false, Orphan),
            (200, 100, Some(("dockerd", 'S')), false, OtherDaemon),
            (200, 100, Some(("dockerd", 'Z')), false, Orphan),
            (300, 100, None, false, Orphan),
            (400, 100, Some(("cargo-test", 'S')), false, Orphan),
        ];
        for (ppid, daemon, parent, serves, want) in cases {
            assert_eq!(
                proxy_owner(ppid, daemon, parent, serves),
                want,
                "{ppid} {parent:?}"
            );
        }
    }

    #[test]
    fn owner_states() {
        let cases = [
            ('T', None, Some('S'), Some(Stuck::Stopped)),
            ('t', None, Some('S'), Some(Stuck::Traced)),
            (
                'D',
                Some("nfs_wait"),
                Some('S'),
                Some(Stuck::Uninterruptible),
            ),
            ('D', Some("__refrigerator"), Some('S'), None),
            ('S', Some("do_freezer_trap"), Some('S'), None),
            ('S', None, Some('Z'), Some(Stuck::ParentZombie)),
            ('S', None, Some('S'), None),
            ('R', None, None, None),
        ];
        for (state, wchan, parent, want) in cases {
            assert_eq!(
                classify_owner(state, wchan, parent),
                want,
                "{state} {wchan:?} {parent:?}"
            );
        }
    }

    #[test]
    fn restart_bindings_of_stopped_containers() {
        let c = |running: bool, policy: &str, bindings: Value| {
            rec(json!({
                "State": { "Running": running, "Restarting": false },
                "HostConfig": { "RestartPolicy": { "Name": policy }, "PortBindings": bindings }
            }))
        };
        let b = json!({
            "80/tcp": [ { "HostIp": "127.0.0.1", "HostPort": "8080" }, { "HostIp": "", "HostPort": "" } ],
            "53/udp": [ { "HostIp": "", "HostPort": "53" } ],
            "81/tcp": [ { "HostIp": "", "HostPort": "9000-9010" }, { "HostIp": "", "HostPort": "9090" } ]
        });
        let (policy, got) = restart_bindings(&c(false, "always", b.clone())).expect("candidate");
        assert_eq!(policy, "always");
        let mut ports: Vec<(String, u16)> =
            got.iter().map(|b| (b.host_ip.clone(), b.port)).collect();
        ports.sort();
        assert_eq!(
            ports,
            vec![("".to_string(), 9090), ("127.0.0.1".to_string(), 8080)]
        );
        assert!(restart_bindings(&c(true, "always", b.clone())).is_none());
        assert!(restart_bindings(&c(false, "no", b.clone())).is_none());
        assert!(restart_bindings(&c(false, "", b)).is_none());
        assert!(restart_bindings(&c(false, "unless-stopped", json!({}))).is_none());
    }
}
