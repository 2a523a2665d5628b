//! The survey behind `dockhand ports` and `ports free`: every listening socket of the host, in
//! every network namespace, with its owners — each owner's kind (docker-proxy and its verdict,
//! the engine, a container's own process, anything else) and state — the container it belongs
//! to, and what is wrong with it. Judged with the functions doctor's `ports.*` checks use
//! ([`judge_proxy_if_known`], [`classify_owner`], [`listener_stuck`], [`conflicts_of`],
//! [`listener_container`]), so the two never disagree.
//!
//! What cannot be seen is said, not guessed: without root other users' sockets have no owner
//! and other namespaces may be missing; without the engine no container is named and no
//! docker-proxy of the daemon is judged (it could be a running container's).

use crate::policy::identity::{DockerProgram, exe_name, exe_trusted};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::actions::ProcId;
use crate::facts::{Facts, Gap};
use crate::policy::ports::{
    BelongsBy, ListenerStatus, OwnerKind, Problem, ProxyOwner, ProxyScope, ProxySeen, Stuck,
    classify_owner, conflicts_of, judge_proxy_if_known, listener_container, listener_problems,
    listener_status, proxy_owner,
};
use crate::policy::processes::{Listed, conmon_of_engine, descends_from, parse_conmon};
use crate::runtime::blocking;
use crate::runtime::daemon::{DaemonProcess, Located};
use crate::runtime::host::{ProcClock, ProcRow, ProcState};
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{Listener, Proto, ProxyArgs, parse_docker_proxy};

/// Thresholds of the survey, from doctor's catalog (and the config file), so both judge alike.
#[derive(Debug, Clone, Copy)]
pub struct SurveyOptions {
    /// How many samples, 100 ms apart, must show an owner in D before it counts as stuck there
    /// (`ports.stuck`'s `d_state_samples`): a short D is ordinary disk I/O.
    pub d_state_samples: u32,
    /// A docker-proxy of the daemon younger than this may belong to a container still starting
    /// (`ports.leaked-proxy`'s `grace_seconds`).
    pub proxy_grace_s: f64,
}

/// One process holding a listening socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerRow {
    pub pid: i32,
    pub comm: String,
    /// Its state letter, read fresh: R, S, D, T, t, Z …
    pub state: String,
    /// Where it waits in the kernel, when asleep.
    pub wchan: Option<String>,
    pub ppid: i32,
    /// Start time in clock ticks since boot: with the pid, names the process across pid reuse.
    pub start_ticks: u64,
    pub cmdline: Vec<String>,
    pub kind: OwnerKind,
    /// Why it cannot accept, if it cannot (a D state only once seen in every sample).
    pub stuck: Option<Stuck>,
}

impl OwnerRow {
    /// The owner's state letter.
    pub fn state_char(&self) -> char {
        self.state.chars().next().unwrap_or('?')
    }
}

/// The container a listener belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    /// How it was tied to the container.
    pub by: BelongsBy,
    pub running: bool,
}

/// One listening socket, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerRow {
    pub proto: Proto,
    pub address: IpAddr,
    pub port: u16,
    /// In the host's network namespace (the one dockhand runs in).
    pub host_namespace: bool,
    /// The network namespace's inode.
    pub netns: u64,
    pub inode: u64,
    /// The socket's owner as the kernel records it, and its name in /etc/passwd.
    pub uid: u32,
    pub user: Option<Arc<str>>,
    /// The processes holding it; empty when none could be seen. Shared between the listeners
    /// of one process (a host may have thousands of sockets and a handful of owners).
    pub owners: Vec<Arc<OwnerRow>>,
    pub container: Option<ContainerRef>,
    /// `ok`, or the first problem's name: `stuck`, `leaked-proxy`, `conflict`.
    pub status: ListenerStatus,
    /// Everything wrong with it, worst first.
    pub problems: Vec<Problem>,
}

/// Every listener, judged, and how well the host could be seen.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub rows: Vec<ListenerRow>,
    /// Network namespaces read.
    pub namespaces: usize,
    /// Processes whose fds were unreadable (not root): owners may be among them.
    pub unreadable: usize,
    /// The daemon serving the endpoint, when it runs here.
    pub daemon: Option<ProcId>,
    /// This daemon's shims: container id → the shim process.
    pub shims: HashMap<String, ProcId>,
    /// The engine listed its containers: containers are named and proxies judged.
    pub engine: bool,
    /// What the engine's list says of each container (by id); `None` when it did not list
    /// (silent, timed out, stopped, no daemon here): then no container is known to have ended,
    /// and nothing under a shim is judged left behind.
    pub listed: Option<HashMap<String, Listed>>,
    /// What could not be seen or judged, as sentences.
    pub notes: Vec<String>,
    /// Why a container's own process may be among the owners judged "other" (`None`: the
    /// daemon's shims were all seen): the process table or the daemon's process was not read,
    /// or comparing the shims timed out. `--force-foreign` must not reach such an owner.
    pub owners_unjudged: Option<String>,
}

/// The engine's own programs: a socket they hold is the engine's, not a stranger's. Judged by
/// the executable the process runs (see [`crate::policy::identity`]), never by its name.
fn is_engine(p: &ProcRow, daemon_uid: Option<u32>) -> bool {
    if matches!(
        p.program(daemon_uid),
        Some(DockerProgram::Dockerd | DockerProgram::Containerd)
    ) {
        return true;
    }
    p.identity
        .as_ref()
        .and_then(|i| i.exe.as_ref())
        .is_some_and(|e| is_podman_program(&e.path) && exe_trusted(e, &[0]).is_ok())
}

/// Podman's programs, by the base name of a root-owned executable: the service, each
/// container's keeper (it holds published ports open), its port forwarder for rootless
/// containers, its DNS server for bridge networks. They run as any user (rootless Podman).
fn is_podman_program(exe: &std::path::Path) -> bool {
    matches!(
        exe_name(exe).as_str(),
        "podman" | "conmon" | "rootlessport" | "aardvark-dns"
    )
}

/// Fresh states of `pids` and their parents; owners in D are sampled `samples` times, 100 ms
/// apart, and stay "D" only if seen in every sample. Synchronous: run it through [`blocking`].
fn owner_states(pids: Vec<i32>, samples: u32) -> HashMap<i32, (ProcState, Option<char>, bool)> {
    use crate::runtime::host::proc_state;
    let mut out: HashMap<i32, (ProcState, Option<char>, bool)> = HashMap::new();
    for pid in pids {
        let Some(st) = proc_state(pid) else { continue };
        let parent = proc_state(st.ppid).map(|p| p.state);
        let d = st.state == 'D';
        out.insert(pid, (st, parent, d));
    }
    for _ in 1..samples.max(1) {
        if !out.values().any(|(_, _, d)| *d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        for (pid, (st, _, d)) in out.iter_mut() {
            if *d {
                *d = proc_state(*pid)
                    .is_some_and(|now| now.state == 'D' && now.start_ticks == st.start_ticks);
            }
        }
    }
    out
}

/// The subnets of this daemon's networks (IPAM config); empty when the engine does not answer.
async fn subnets(facts: &Facts) -> Vec<String> {
    facts.subnets().await.unwrap_or_default()
}

/// Surveys every listener of the host. Fails only when the socket tables themselves could not
/// be read; everything else missing is a note.
pub async fn survey(facts: &Facts, opts: &SurveyOptions) -> Result<Survey, Gap> {
    // Independent reads, each under its own deadline: at once. The ping too, so a frozen
    // engine costs its deadline alongside the /proc reads, not after them.
    let (table, procs, _, _) = tokio::join!(
        facts.listeners(),
        facts.processes(),
        facts.located(),
        facts.ping()
    );
    let table = table?;
    let mut s = Survey {
        namespaces: table.namespaces,
        unreadable: table.unreadable,
        ..Survey::default()
    };
    s.notes.extend(table.errors.iter().cloned());
    if let Some(note) = unreadable_note(table.unreadable) {
        s.notes.push(note);
    }
    let procs: &[ProcRow] = match procs {
        Ok(p) => p,
        Err(g) => {
            s.notes.push(format!("owners are shown by pid only: {g}"));
            s.owners_unjudged = Some(format!("the process table was not read: {g}"));
            &[]
        }
    };
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|p| (p.pid, p)).collect();
    let (daemon, untrusted) = daemon_here(facts, &mut s).await;
    let records = engine_records(facts, daemon, &mut s).await;
    find_shims(facts, procs, daemon, &mut s).await;
    let states = owner_states_now(facts, &table.listeners, opts, &mut s).await;
    let owners = Owners::judge(
        facts,
        &table.listeners,
        &by_pid,
        &s,
        OwnersSeen {
            daemon,
            untrusted,
            records,
            proxy_grace_s: opts.proxy_grace_s,
        },
    )
    .await;
    let netns = container_netns(facts, records).await;
    s.rows = listener_rows(
        &table.listeners,
        &owners,
        &by_pid,
        &states,
        records.unwrap_or(&[]),
        &netns,
    );
    Ok(s)
}

/// The note for processes whose open files could not be read, when there are any.
fn unreadable_note(n: usize) -> Option<String> {
    if n == 0 {
        return None;
    }
    Some(if nix::unistd::geteuid().is_root() {
        format!(
            "{n} {} open files could not be read even as root (a sandbox or a security module forbids it): sockets {} hold show no owner",
            if n == 1 { "process's" } else { "processes'" },
            if n == 1 { "it may" } else { "they may" }
        )
    } else {
        format!(
            "{n} processes' open files could not be read: sockets they hold show no owner (run as root to see all)"
        )
    })
}

/// The daemon serving the endpoint on this host, and whether a process serves it that is not
/// trusted as the daemon (then its docker-proxy children would look like orphans, so no proxy
/// is judged at all).
async fn daemon_here<'f>(facts: &'f Facts, s: &mut Survey) -> (Option<&'f DaemonProcess>, bool) {
    let mut untrusted = false;
    let daemon = match facts.located().await {
        Ok(Located::Found(d)) => Some(d.as_ref()),
        Ok(Located::NotRunning { .. }) => {
            s.notes.push(format!(
                "no daemon serves {} on this host: docker-proxy processes are judged as orphans, no container is named",
                facts.engine().endpoint()
            ));
            None
        }
        Ok(Located::Unverified { why, .. }) => {
            s.notes.push(format!(
                "{why}: docker-proxy processes are not judged, no container is named"
            ));
            untrusted = true;
            None
        }
        Ok(Located::Remote) | Err(Gap::Remote { .. }) => {
            s.notes.push(format!(
                "the engine at {} is on another host: these are this host's listeners, and no container is named",
                facts.engine().endpoint()
            ));
            None
        }
        Err(g) => {
            s.notes
                .push(format!("the daemon's process was not found: {g}"));
            s.owners_unjudged = Some(format!("the daemon's process was not found: {g}"));
            None
        }
    };
    s.daemon = daemon.map(|d| ProcId {
        pid: d.info.pid,
        start_ticks: d.info.start_ticks,
    });
    (daemon, untrusted)
}

/// The engine's container records, when a daemon runs here and listed them; what the list says
/// of each container goes into `s.listed`.
async fn engine_records<'f>(
    facts: &'f Facts,
    daemon: Option<&DaemonProcess>,
    s: &mut Survey,
) -> Option<&'f [ContainerRecord]> {
    daemon?;
    let records = match facts.records().await {
        Ok(r) => r,
        Err(g) => {
            s.notes.push(format!(
                "containers are not named and this daemon's docker-proxy processes are not judged: {g}"
            ));
            return None;
        }
    };
    s.engine = true;
    if let Ok(list) = facts.containers().await {
        s.listed = Some(
            list.iter()
                .map(|c| (c.id.clone(), Listed::of_state(&c.state)))
                .collect(),
        );
    }
    Some(records)
}

/// This daemon's shims into `s.shims`: a process under one is that container's. Podman has
/// none: each container has its conmon (of this engine when its bundle is under the graph
/// root), which also holds the container's published ports open.
async fn find_shims(
    facts: &Facts,
    procs: &[ProcRow],
    daemon: Option<&DaemonProcess>,
    s: &mut Survey,
) {
    let podman = facts.engine_kind().await.is_podman();
    if podman
        && daemon.is_some()
        && let Some((root, _)) = facts.data_root().await
    {
        for p in procs.iter().filter(|p| p.state != 'Z') {
            if let Some(c) = parse_conmon(&p.cmdline)
                && conmon_of_engine(&c, &root)
            {
                s.shims.insert(
                    c.id,
                    ProcId {
                        pid: p.pid,
                        start_ticks: p.start_ticks,
                    },
                );
            }
        }
    }
    if daemon.is_none() || podman {
        return;
    }
    match facts.shims().await {
        Ok(ours) => {
            for (p, shim) in &ours.ours {
                let id = ProcId {
                    pid: p.pid,
                    start_ticks: p.start_ticks,
                };
                s.shims.insert(shim.id.clone(), id);
            }
        }
        Err(_) => {
            let why = format!(
                "comparing the shims' containerd addresses took longer than {}: containers' own processes are not recognised",
                crate::util::human_duration(facts.timeout())
            );
            s.notes.push(why.clone());
            s.owners_unjudged = Some(why);
        }
    }
}

/// Fresh states of every owner (the process table may be older), D confirmed over samples.
async fn owner_states_now(
    facts: &Facts,
    listeners: &[Listener],
    opts: &SurveyOptions,
    s: &mut Survey,
) -> HashMap<i32, (ProcState, Option<char>, bool)> {
    let mut owner_pids: Vec<i32> = owner_pids_of(listeners).collect();
    owner_pids.sort_unstable();
    owner_pids.dedup();
    let samples = opts.d_state_samples.max(1);
    let deadline = facts.timeout() * 2 + Duration::from_millis(100) * samples;
    match blocking(deadline, move || owner_states(owner_pids, samples)).await {
        Some(m) => m,
        None => {
            s.notes.push(format!(
                "reading the owners' states took longer than {} (a process stuck in the kernel?): states are not shown",
                crate::util::human_duration(deadline)
            ));
            HashMap::new()
        }
    }
}

/// What the owners are judged against.
struct OwnersSeen<'f> {
    daemon: Option<&'f DaemonProcess>,
    untrusted: bool,
    records: Option<&'f [ContainerRecord]>,
    proxy_grace_s: f64,
}

/// Every owner's kind, and the docker-proxy command lines among them.
struct Owners {
    kinds: HashMap<i32, OwnerKind>,
    proxy_args: HashMap<i32, ProxyArgs>,
}

impl Owners {
    /// Judges each owner: a docker-proxy as ports.leaked-proxy judges it, the engine's own
    /// programs, a container's process (under one of its shims), or another process.
    async fn judge(
        facts: &Facts,
        listeners: &[Listener],
        by_pid: &HashMap<i32, &ProcRow>,
        s: &Survey,
        seen: OwnersSeen<'_>,
    ) -> Owners {
        let shim_of_pid: HashMap<i32, &str> =
            s.shims.iter().map(|(id, p)| (p.pid, id.as_str())).collect();
        let shim_pids: HashSet<i32> = shim_of_pid.keys().copied().collect();
        let parent_map: HashMap<i32, i32> = by_pid.values().map(|p| (p.pid, p.ppid)).collect();
        let clock = ProcClock::read(facts.timeout()).await;
        let daemon_pid = seen.daemon.map_or(-1, |d| d.info.pid);
        // Docker's programs by what they run, never by name (see `policy::identity`).
        let duid = seen.daemon.map(|d| d.uid);
        let live_dockerds = by_pid
            .values()
            .filter(|p| p.program(duid) == Some(DockerProgram::Dockerd) && p.state != 'Z')
            .count();
        let proxy_args: HashMap<i32, ProxyArgs> = owner_pids_of(listeners)
            .filter_map(|pid| {
                by_pid
                    .get(&pid)
                    .filter(|p| p.program(duid) == Some(DockerProgram::Proxy))
                    .and_then(|p| parse_docker_proxy(&p.cmdline))
                    .map(|a| (pid, a))
            })
            .collect();
        let parent_of = |p: &ProcRow| {
            by_pid
                .get(&p.ppid)
                .map(|pp| (pp.docker_name(duid), pp.state))
        };
        let mut scope = ProxyScope {
            daemon_pid,
            live_dockerds,
            subnets: &[],
            grace_s: seen.proxy_grace_s,
        };
        let needs_subnets = scope.orphans_need_subnets()
            && s.engine
            && proxy_args.keys().any(|pid| {
                by_pid.get(pid).is_some_and(|p| {
                    proxy_owner(p.ppid, daemon_pid, parent_of(p), false) == ProxyOwner::Orphan
                })
            });
        let nets = if needs_subnets {
            subnets(facts).await
        } else {
            Vec::new()
        };
        scope.subnets = &nets;
        let kinds: HashMap<i32, OwnerKind> = owner_pids_of(listeners)
            .map(|pid| {
                let row = by_pid.get(&pid).copied();
                let kind = if let (Some(a), Some(p)) = (proxy_args.get(&pid), row) {
                    let proxy = ProxySeen {
                        ppid: p.ppid,
                        parent: parent_of(p),
                        args: a,
                        age_s: clock.age_s(p.start_ticks),
                    };
                    // A socket served by a process that failed the daemon's verification: no
                    // proxy is judged on its account.
                    let verdict = if seen.untrusted {
                        None
                    } else {
                        judge_proxy_if_known(&proxy, seen.records, &scope)
                    };
                    OwnerKind::Proxy { verdict }
                } else if row.is_some_and(|p| is_engine(p, duid)) {
                    OwnerKind::Engine
                } else if let Some(root) = descends_from(pid, &shim_pids, &parent_map)
                    && let Some(id) = shim_of_pid.get(&root)
                {
                    OwnerKind::Container { id: id.to_string() }
                } else {
                    OwnerKind::Other
                };
                (pid, kind)
            })
            .collect();
        Owners { kinds, proxy_args }
    }
}

/// Running containers' network namespaces (container id → netns inode), for listeners inside
/// them.
async fn container_netns(
    facts: &Facts,
    records: Option<&[ContainerRecord]>,
) -> HashMap<String, u64> {
    let Some(recs) = records else {
        return HashMap::new();
    };
    let pids: Vec<(String, i32)> = recs
        .iter()
        .filter(|c| c.state.running && c.state.pid > 0)
        .map(|c| (c.id.clone(), c.state.pid as i32))
        .collect();
    blocking(facts.timeout(), move || {
        pids.into_iter()
            .filter_map(|(id, pid)| crate::runtime::net::netns_of_pid(pid).map(|ns| (id, ns)))
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// One row per listener, judged: its owners (one row per owner, shared by all its listeners),
/// its container, its problems; sorted host namespace first, then by namespace, protocol, port.
fn listener_rows(
    listeners: &[Listener],
    judged: &Owners,
    by_pid: &HashMap<i32, &ProcRow>,
    states: &HashMap<i32, (ProcState, Option<char>, bool)>,
    recs: &[ContainerRecord],
    netns: &HashMap<String, u64>,
) -> Vec<ListenerRow> {
    let netns_ref: HashMap<&str, u64> = netns.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let kinds = &judged.kinds;
    let owner_rows: HashMap<i32, Arc<OwnerRow>> = owner_pids_of(listeners)
        .map(|pid| {
            let row = by_pid.get(&pid).copied();
            (pid, Arc::new(owner_row(pid, row, states.get(&pid), kinds)))
        })
        .collect();
    let mut rows: Vec<ListenerRow> = listeners
        .iter()
        .map(|l| {
            let owners: Vec<Arc<OwnerRow>> = l
                .pids
                .iter()
                .map(|pid| {
                    owner_rows
                        .get(pid)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(owner_row(*pid, None, None, kinds)))
                })
                .collect();
            let proxies: Vec<Option<&ProxyArgs>> =
                l.pids.iter().map(|p| judged.proxy_args.get(p)).collect();
            row_of(l, owners, &proxies, recs, &netns_ref)
        })
        .collect();
    rows.sort_by(|a, b| {
        (!a.host_namespace, a.netns, a.proto, a.port, a.address).cmp(&(
            !b.host_namespace,
            b.netns,
            b.proto,
            b.port,
            b.address,
        ))
    });
    rows
}

/// One listener's row: the container it belongs to, and its problems, worst first.
fn row_of(
    l: &Listener,
    owners: Vec<Arc<OwnerRow>>,
    owner_proxies: &[Option<&ProxyArgs>],
    recs: &[ContainerRecord],
    netns: &HashMap<&str, u64>,
) -> ListenerRow {
    let first_proxy = owner_proxies.iter().flatten().next().copied();
    let tree = owners.iter().find_map(|o| match &o.kind {
        OwnerKind::Container { id } => Some(id.as_str()),
        _ => None,
    });
    let container =
        listener_container(l, first_proxy, tree, recs, netns).map(|(c, by)| ContainerRef {
            id: c.id.clone(),
            name: c.name().to_string(),
            by,
            running: c.state.running,
        });
    let conflicts = conflicts_of(l, owner_proxies, recs);
    let stuck: Vec<Option<Stuck>> = owners.iter().map(|o| o.stuck).collect();
    let kinds: Vec<OwnerKind> = owners.iter().map(|o| o.kind.clone()).collect();
    let problems = listener_problems(&stuck, &kinds, &conflicts);
    ListenerRow {
        proto: l.proto,
        address: l.address,
        port: l.port,
        host_namespace: l.host_ns,
        netns: l.netns,
        inode: l.inode,
        uid: l.uid,
        user: l.user.clone(),
        owners,
        container,
        status: listener_status(&problems),
        problems,
    }
}

/// One owner as the listing shows it: from the process table's row, a fresh read of its state
/// (`(state, parent's state, D seen in every sample)`), and its kind.
fn owner_row(
    pid: i32,
    row: Option<&ProcRow>,
    fresh: Option<&(ProcState, Option<char>, bool)>,
    kinds: &HashMap<i32, OwnerKind>,
) -> OwnerRow {
    let st = fresh.map(|(s, _, _)| s);
    let state = st.map(|s| s.state);
    let stuck = fresh.and_then(|(s, parent_state, d)| {
        let v = classify_owner(s.state, s.wchan.as_deref(), *parent_state)?;
        // A D state counts only when seen in every sample.
        (!v.needs_confirmation() || *d).then_some(v)
    });
    OwnerRow {
        pid,
        comm: row.map(|r| r.comm.clone()).unwrap_or_default(),
        state: state.map_or_else(|| "?".to_string(), |c| c.to_string()),
        wchan: st.and_then(|s| s.wchan.clone()),
        ppid: st.map(|s| s.ppid).or(row.map(|r| r.ppid)).unwrap_or(0),
        start_ticks: st
            .map(|s| s.start_ticks)
            .or(row.map(|r| r.start_ticks))
            .unwrap_or(0),
        cmdline: row.map(|r| r.cmdline.clone()).unwrap_or_default(),
        kind: kinds.get(&pid).cloned().unwrap_or(OwnerKind::Other),
        stuck,
    }
}

/// Every owner pid of the table, once.
fn owner_pids_of(listeners: &[Listener]) -> impl Iterator<Item = i32> {
    let mut v: Vec<i32> = listeners
        .iter()
        .flat_map(|l| l.pids.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter()
}

/// Whether a row is about container `want` (a name, with or without its slash, or an id
/// prefix): the container it belongs to, or a stopped container whose port it blocks.
pub fn row_is_about(row: &ListenerRow, want: &str) -> bool {
    let want = want.trim_start_matches('/');
    let matches = |id: &str, name: &str| name == want || (want.len() >= 3 && id.starts_with(want));
    row.container
        .as_ref()
        .is_some_and(|c| matches(&c.id, &c.name))
        || row.problems.iter().any(|p| match p {
            Problem::Conflict {
                container, name, ..
            } => matches(container, name),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(container: Option<(&str, &str)>, conflict: Option<(&str, &str)>) -> ListenerRow {
        ListenerRow {
            proto: Proto::Tcp,
            address: [127, 0, 0, 1].into(),
            port: 80,
            host_namespace: true,
            netns: 1,
            inode: 2,
            uid: 0,
            user: None,
            owners: Vec::new(),
            container: container.map(|(id, name)| ContainerRef {
                id: id.into(),
                name: name.into(),
                by: BelongsBy::Proxy,
                running: true,
            }),
            status: ListenerStatus::Ok,
            problems: conflict
                .map(|(id, name)| Problem::Conflict {
                    container: id.into(),
                    name: name.into(),
                    restart_policy: "always".into(),
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn rows_about_a_container_by_name_or_id_prefix() {
        let web = row(Some(("abcdef123", "web")), None);
        let blocks_db = row(None, Some(("fedcba987", "db")));
        let cases = [
            (&web, "web", true),
            (&web, "/web", true),
            (&web, "abc", true),
            (&web, "ab", false),
            (&web, "we", false),
            (&web, "db", false),
            (&blocks_db, "db", true),
            (&blocks_db, "fedcba", true),
            (&blocks_db, "web", false),
        ];
        for (r, want, hit) in cases {
            assert_eq!(row_is_about(r, want), hit, "{want}");
        }
    }

    #[test]
    fn engine_programs_by_executable() {
        use crate::policy::identity::{ExeFacts, Identity};
        let row = |exe: &str, uid: u32, exe_uid: u32| ProcRow {
            pid: 9,
            ppid: 1,
            comm: "dockerd".into(),
            state: 'S',
            cmdline: vec!["dockerd".into()],
            start_ticks: 1,
            uid: Some(uid),
            identity: Some(Identity {
                uids: vec![uid; 4],
                exe: Some(ExeFacts {
                    path: exe.into(),
                    uid: exe_uid,
                    mode: 0o100755,
                    dir: Some((exe_uid, 0o40755)),
                }),
            }),
        };
        for (r, want) in [
            (row("/usr/sbin/dockerd", 0, 0), true),
            (row("/usr/bin/containerd", 0, 0), true),
            (row("/usr/bin/containerd-shim-runc-v2", 0, 0), false),
            (row("/usr/sbin/docker-proxy", 0, 0), false),
            (row("/usr/sbin/nginx", 0, 0), false),
            (row("/usr/libexec/podman/conmon", 1000, 0), true),
            (row("/usr/libexec/podman/rootlessport", 1000, 0), true),
            (row("/usr/libexec/podman/aardvark-dns", 0, 0), true),
            // Named dockerd (comm and argv), but nobody's copy of something.
            (row("/tmp/att/dockerd", 65534, 65534), false),
            (row("/tmp/att/conmon", 65534, 65534), false),
        ] {
            let shown = format!("{:?}", r.identity);
            assert_eq!(is_engine(&r, None), want, "{shown}");
        }
    }
}
