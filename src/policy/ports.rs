//! Verdicts of the ports area (see [`crate::policy`]): whether a docker-proxy is leaked and why,
//! whether a listener's owners can still accept, whether a stopped container's published port is
//! held by another process, and which container a listener belongs to.
//!
//! Inputs are plain data — container records, rows of the listener table
//! ([`crate::runtime::net`]), a process's state letters — so `doctor`, `dockhand ports` (one
//! listener at a time) and `dockhand reap` (one proxy at a time) judge alike.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::addresses::{bind_conflicts, in_subnet};
use crate::policy::processes::{ContainerLife, Listed, container_life};
use crate::runtime::inventory::{ContainerRecord, PortBinding, SmallMap};
use crate::runtime::net::{Listener, Proto, ProxyArgs};

// ---------------------------------------------------------------------------------------------
// Published ports
// ---------------------------------------------------------------------------------------------

/// One published port with a fixed host port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Binding {
    pub proto: Proto,
    /// The host IP as written (empty: every address).
    pub host_ip: String,
    /// The host IP parsed; `None` for every address.
    pub ip: Option<IpAddr>,
    pub port: u16,
}

impl Binding {
    /// Whether `l` holds this binding's port: a listener of the same protocol and port in the
    /// host's namespace whose address overlaps (the same, or a wildcard on either side).
    pub fn held_by(&self, l: &Listener) -> bool {
        l.host_ns
            && l.proto == self.proto
            && l.port == self.port
            && bind_conflicts(self.ip, l.address)
    }
}

/// The fixed-port bindings of one `{"80/tcp": [{HostIp, HostPort}]}` map. An empty or ranged
/// host port is chosen at start (it cannot be known); a protocol other than TCP/UDP (sctp) or a
/// host IP that does not parse is skipped.
fn bindings_of(map: &SmallMap<Option<Vec<PortBinding>>>) -> Vec<Binding> {
    let mut out = Vec::new();
    for (key, bindings) in map {
        let Some(proto) = Proto::parse(key.split_once('/').map_or("tcp", |(_, p)| p)) else {
            continue;
        };
        for b in bindings.iter().flatten() {
            let Ok(port) = b.host_port.parse::<u16>() else {
                continue;
            };
            let ip = if b.host_ip.is_empty() {
                None
            } else {
                match b.host_ip.parse::<IpAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => continue,
                }
            };
            out.push(Binding {
                proto,
                host_ip: b.host_ip.clone(),
                ip,
                port,
            });
        }
    }
    out
}

/// The host ports a container publishes: the live mapping (`NetworkSettings.Ports`) and what it
/// asked for (`HostConfig.PortBindings`), without repeats.
pub fn published(c: &ContainerRecord) -> Vec<Binding> {
    let mut out = bindings_of(&c.network_settings.ports);
    for b in bindings_of(&c.host_config.port_bindings) {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// The IP addresses a container's record gives it, on every network.
pub fn container_ips(c: &ContainerRecord) -> HashSet<&str> {
    c.ips().collect()
}

// ---------------------------------------------------------------------------------------------
// docker-proxy
// ---------------------------------------------------------------------------------------------

/// Whether a running container publishes what a docker-proxy forwards: the same protocol and
/// host port, towards one of the container's addresses.
pub fn proxy_serves(c: &ContainerRecord, p: &ProxyArgs) -> bool {
    c.state.running
        && container_ips(c).contains(p.container_ip.as_str())
        && published(c)
            .iter()
            .any(|b| b.proto.as_str() == p.proto && b.port == p.host_port)
}

/// The running container a docker-proxy forwards to, if one does.
pub fn serving_container<'r>(
    records: &'r [ContainerRecord],
    p: &ProxyArgs,
) -> Option<&'r ContainerRecord> {
    records.iter().find(|c| proxy_serves(c, p))
}

/// Whose a docker-proxy is, by its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
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

/// Classifies a proxy by its parent. `parent` is the parent's (verified program name — see
/// `policy::identity`, never its comm — state) if it exists;
/// `serves`: a running container of this daemon publishes what it forwards.
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

/// One docker-proxy process as seen in the process table.
#[derive(Debug, Clone, Copy)]
pub struct ProxySeen<'a> {
    pub ppid: i32,
    /// The parent's verified program name ("dockerd" only for Docker's own, judged by
    /// `policy::identity`; never its comm) and state, when the parent exists.
    pub parent: Option<(&'a str, char)>,
    pub args: &'a ProxyArgs,
    /// Seconds since it started, when known.
    pub age_s: Option<f64>,
}

/// What a proxy is judged against: this daemon, the host's other daemons, the grace period.
#[derive(Debug, Clone, Copy)]
pub struct ProxyScope<'a> {
    pub daemon_pid: i32,
    /// Live (not zombie) dockerd processes on the host, this one included.
    pub live_dockerds: usize,
    /// Subnets of this daemon's networks (`172.18.0.0/16`). Only consulted for an orphan when
    /// several daemons run ([`ProxyScope::orphans_need_subnets`]); empty when unknown.
    pub subnets: &'a [String],
    /// A proxy of this daemon younger than this may belong to a container still starting.
    pub grace_s: f64,
}

impl ProxyScope<'_> {
    /// With several daemons on the host, an orphan proxy is this daemon's only when it forwards
    /// into one of its networks: the caller needs [`ProxyScope::subnets`] then (and only then).
    pub fn orphans_need_subnets(&self) -> bool {
        self.live_dockerds > 1
    }
}

/// Why a docker-proxy is leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Leak {
    /// A child of this daemon, but no running container publishes its port to its address.
    ContainerGone,
    /// Its parent is not a live dockerd: nothing will ever stop it.
    Orphan,
}

/// The verdict on one docker-proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ProxyVerdict {
    /// Forwards for a running container of this daemon (its id).
    Serving { container: String },
    /// A child of this daemon serving no running container yet, younger than the grace period:
    /// dockerd starts the proxy before it marks the container running. `age_s` is `None` when
    /// its age could not be read: then it is not known to be old enough, and is treated alike.
    Starting { age_s: Option<f64> },
    /// A child of another live dockerd on this host: not this daemon's.
    OtherDaemon,
    /// Holds its host port for no one: `ports free` and `reap` stop it.
    Leaked { why: Leak },
    /// An orphan, with several daemons on the host, that forwards into none of this daemon's
    /// networks: probably another daemon's; reported, never acted on.
    Unattributed,
}

impl ProxyVerdict {
    /// Why it is leaked, when it is.
    pub fn leak(&self) -> Option<Leak> {
        match self {
            ProxyVerdict::Leaked { why } => Some(*why),
            _ => None,
        }
    }
}

/// Judges one docker-proxy against this daemon's containers' records (only its running
/// containers matter; pass none when this daemon has no proxy child — orphans do not need them).
pub fn judge_proxy(
    p: &ProxySeen<'_>,
    records: &[ContainerRecord],
    scope: &ProxyScope<'_>,
) -> ProxyVerdict {
    let serving = if p.ppid == scope.daemon_pid {
        serving_container(records, p.args)
    } else {
        None
    };
    match proxy_owner(p.ppid, scope.daemon_pid, p.parent, serving.is_some()) {
        ProxyOwner::Serving => ProxyVerdict::Serving {
            container: serving.map(|c| c.id.clone()).unwrap_or_default(),
        },
        ProxyOwner::OtherDaemon => ProxyVerdict::OtherDaemon,
        // Leaked only on a known age past the grace: an unreadable age is no evidence that
        // the container is not starting right now.
        ProxyOwner::ContainerGone => match p.age_s {
            Some(age_s) if age_s >= scope.grace_s => ProxyVerdict::Leaked {
                why: Leak::ContainerGone,
            },
            age_s => ProxyVerdict::Starting { age_s },
        },
        ProxyOwner::Orphan => {
            let ours = !scope.orphans_need_subnets()
                || p.args
                    .container_ip
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| scope.subnets.iter().any(|cidr| in_subnet(ip, cidr)));
            if ours {
                ProxyVerdict::Leaked { why: Leak::Orphan }
            } else {
                ProxyVerdict::Unattributed
            }
        }
    }
}

/// [`judge_proxy`] when the facts allow it: a child of this daemon is judged only against its
/// containers' records, so without them (`None`: the engine did not list) it is not judged at
/// all — `None`, never "no container serves it". Orphans need no records. `ports` and `reap`
/// both judge through this, so a gap is read alike everywhere.
pub fn judge_proxy_if_known(
    p: &ProxySeen<'_>,
    records: Option<&[ContainerRecord]>,
    scope: &ProxyScope<'_>,
) -> Option<ProxyVerdict> {
    if p.ppid == scope.daemon_pid && records.is_none() {
        return None;
    }
    Some(judge_proxy(p, records.unwrap_or(&[]), scope))
}

// ---------------------------------------------------------------------------------------------
// Owners that cannot accept
// ---------------------------------------------------------------------------------------------

/// Why an owner of a listening socket cannot serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stuck {
    /// Its parent is a zombie: whoever started it died and nobody reaped the parent.
    ParentZombie,
    /// `t`: stopped by a tracer (a debugger).
    Traced,
    /// `D`: uninterruptible sleep. Judged on one sample: only one seen in *every* sample of a
    /// series counts ([`Stuck::needs_confirmation`]) — a short D is ordinary disk I/O.
    Uninterruptible,
    /// `T`: stopped by a signal (SIGSTOP, SIGTSTP).
    Stopped,
}

impl Stuck {
    /// Critical (nothing will ever answer) rather than a warning.
    pub fn critical(self) -> bool {
        matches!(self, Stuck::Stopped | Stuck::Uninterruptible)
    }

    /// The state must be seen again in later samples before it counts.
    pub fn needs_confirmation(self) -> bool {
        self == Stuck::Uninterruptible
    }

    /// The verdict after one more sample of the owner's state: one that needs confirmation
    /// holds only while the owner is still in D (`None`: the owner is gone, or left D).
    pub fn confirmed(self, state_now: Option<char>) -> Option<Stuck> {
        if self.needs_confirmation() && state_now != Some('D') {
            None
        } else {
            Some(self)
        }
    }

    /// `stopped`, `uninterruptible`, `traced`, `parent-zombie`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stuck::Stopped => "stopped",
            Stuck::Uninterruptible => "uninterruptible",
            Stuck::Traced => "traced",
            Stuck::ParentZombie => "parent-zombie",
        }
    }
}

/// The verdict on one owner from one sample of its state letter, its wchan and its parent's
/// state. A process frozen by the cgroup freezer (`docker pause`) is paused on purpose, not
/// stuck.
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

/// A listener is stuck only when every owner is (one live worker of a pre-fork server still
/// serves the socket), and when it has owners at all; then the worst reason.
pub fn listener_stuck(owners: &[Option<Stuck>]) -> Option<Stuck> {
    if owners.is_empty() || owners.iter().any(Option::is_none) {
        return None;
    }
    owners.iter().flatten().copied().max()
}

// ---------------------------------------------------------------------------------------------
// Conflicts with stopped containers' published ports
// ---------------------------------------------------------------------------------------------

/// A stopped container's restart policy and fixed-port bindings (`HostConfig.PortBindings`,
/// every protocol), when it has both: its next start — by hand, by the policy, or when the
/// daemon restarts — binds them.
pub fn restart_bindings(c: &ContainerRecord) -> Option<(&str, Vec<Binding>)> {
    let policy = c.host_config.restart_policy.name.as_str();
    if c.state.running
        || c.state.restarting
        || !matches!(policy, "always" | "unless-stopped" | "on-failure")
    {
        return None;
    }
    let out = bindings_of(&c.host_config.port_bindings);
    (!out.is_empty()).then_some((policy, out))
}

/// Whether the processes holding a listener (`owners`: each owner's docker-proxy arguments, or
/// `None` when it is not a docker-proxy) are all this container's own proxy for `b`, left over
/// while it was stopped: not a stranger (ports.leaked-proxy's business).
pub fn held_by_own_proxy(c: &ContainerRecord, b: &Binding, owners: &[Option<&ProxyArgs>]) -> bool {
    let ips = container_ips(c);
    !owners.is_empty()
        && owners.iter().all(|a| {
            a.is_some_and(|a| {
                a.proto == b.proto.as_str()
                    && a.host_port == b.port
                    && ips.contains(a.container_ip.as_str())
            })
        })
}

/// Whether listener `l` (held by `owners`, as in [`held_by_own_proxy`]) blocks binding `b` of
/// stopped container `c`.
pub fn binding_conflict(
    c: &ContainerRecord,
    b: &Binding,
    l: &Listener,
    owners: &[Option<&ProxyArgs>],
) -> bool {
    b.held_by(l) && !held_by_own_proxy(c, b, owners)
}

/// A stopped container with a restart policy whose published port a listener blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict<'r> {
    #[serde(skip)]
    pub container: &'r ContainerRecord,
    pub restart_policy: &'r str,
    pub binding: Binding,
}

/// Every stopped container with a restart policy whose published port `l` blocks — the
/// per-listener question of `dockhand ports`.
pub fn conflicts_of<'r>(
    l: &Listener,
    owners: &[Option<&ProxyArgs>],
    records: &'r [ContainerRecord],
) -> Vec<Conflict<'r>> {
    let mut out = Vec::new();
    for c in records {
        let Some((policy, bindings)) = restart_bindings(c) else {
            continue;
        };
        for b in bindings {
            if binding_conflict(c, &b, l, owners) {
                out.push(Conflict {
                    container: c,
                    restart_policy: policy,
                    binding: b,
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Which container a listener belongs to
// ---------------------------------------------------------------------------------------------

/// How a listener was tied to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BelongsBy {
    /// Its owner is a docker-proxy forwarding to the container.
    Proxy,
    /// It lives in the container's network namespace.
    Namespace,
    /// Its owner runs under the container's shim: a container on the host's network
    /// (`--network host`) listens in the host's namespace, with no published port.
    Process,
    /// It is in the host's namespace on a port a running container publishes (the daemon holds
    /// published ports itself when the userland proxy is off, on newer engines).
    Published,
}

/// The container a listener belongs to, if any: by its owner's docker-proxy arguments
/// (`owner_proxy`), else by network namespace (`netns`: a running container's id → the inode of
/// its namespace, read from its `State.Pid`), else by its owner's place under a container's shim
/// (`owner_tree`: that container's id), else by a running container's published port.
pub fn listener_container<'r>(
    l: &Listener,
    owner_proxy: Option<&ProxyArgs>,
    owner_tree: Option<&str>,
    records: &'r [ContainerRecord],
    netns: &HashMap<&str, u64>,
) -> Option<(&'r ContainerRecord, BelongsBy)> {
    if let Some(c) = owner_proxy.and_then(|p| serving_container(records, p)) {
        return Some((c, BelongsBy::Proxy));
    }
    if !l.host_ns
        && let Some(c) = records
            .iter()
            .find(|c| c.state.running && l.netns != 0 && netns.get(c.id.as_str()) == Some(&l.netns))
    {
        return Some((c, BelongsBy::Namespace));
    }
    if let Some(id) = owner_tree
        && let Some(c) = records.iter().find(|c| c.id == id)
    {
        return Some((c, BelongsBy::Process));
    }
    if !l.host_ns {
        return None;
    }
    records
        .iter()
        .filter(|c| c.state.running)
        .find(|c| published(c).iter().any(|b| b.held_by(l)))
        .map(|c| (c, BelongsBy::Published))
}

// ---------------------------------------------------------------------------------------------
// Owners, a listener's problems, and what `ports free` does about each holder
// ---------------------------------------------------------------------------------------------

/// What kind of process owns a listening socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OwnerKind {
    /// A docker-proxy, judged by [`judge_proxy`]; `verdict` is `None` when it could not be
    /// judged (a child of this daemon while the engine did not list its containers).
    Proxy { verdict: Option<ProxyVerdict> },
    /// The engine itself: dockerd, containerd, podman.
    Engine,
    /// A process under the shim of this daemon's container `id`: the container's own.
    Container { id: String },
    /// Anything else: not Docker's.
    Other,
}

impl OwnerKind {
    /// The reason a docker-proxy owner is leaked, when it is.
    pub fn leak(&self) -> Option<Leak> {
        match self {
            OwnerKind::Proxy { verdict: Some(v) } => v.leak(),
            _ => None,
        }
    }
}

/// What is wrong with a listener, as `dockhand ports` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// No owner can accept: every one is stopped, stuck in D, traced, or under a zombie parent.
    Stuck { why: Stuck },
    /// An owner is a leaked docker-proxy.
    LeakedProxy { why: Leak },
    /// It blocks a published port of stopped container `container` (its id), which has a
    /// restart policy: its next start fails.
    Conflict {
        container: String,
        name: String,
        restart_policy: String,
    },
}

impl Problem {
    /// `stuck`, `leaked-proxy`, `conflict`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Problem::Stuck { .. } => "stuck",
            Problem::LeakedProxy { .. } => "leaked-proxy",
            Problem::Conflict { .. } => "conflict",
        }
    }
}

/// A listener's problems, worst first: stuck (as [`listener_stuck`] judges its owners'
/// verdicts `stuck`), then a leaked docker-proxy among its owners (`kinds`), then the stopped
/// containers whose published port it blocks ([`conflicts_of`]). Empty: it is fine.
pub fn listener_problems(
    stuck: &[Option<Stuck>],
    kinds: &[OwnerKind],
    conflicts: &[Conflict<'_>],
) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(why) = listener_stuck(stuck) {
        out.push(Problem::Stuck { why });
    }
    if let Some(why) = kinds.iter().find_map(OwnerKind::leak) {
        out.push(Problem::LeakedProxy { why });
    }
    for c in conflicts {
        let p = Problem::Conflict {
            container: c.container.id.clone(),
            name: c.container.name().to_string(),
            restart_policy: c.restart_policy.to_string(),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A listener's status: fine, or its worst problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenerStatus {
    Ok,
    Stuck,
    LeakedProxy,
    Conflict,
}

/// The status of a listener with these problems (worst first, as [`listener_problems`] orders
/// them).
pub fn listener_status(problems: &[Problem]) -> ListenerStatus {
    match problems.first() {
        None => ListenerStatus::Ok,
        Some(Problem::Stuck { .. }) => ListenerStatus::Stuck,
        Some(Problem::LeakedProxy { .. }) => ListenerStatus::LeakedProxy,
        Some(Problem::Conflict { .. }) => ListenerStatus::Conflict,
    }
}

/// Why `ports free` leaves a holder alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Not Docker's: only with `--force-foreign`.
    Foreign,
    /// In uninterruptible sleep (D, seen in every sample): no signal reaches it until its call
    /// into the kernel returns; if that never happens, only a reboot frees the port.
    Uninterruptible,
    /// The engine itself (dockerd, containerd) on a port no container publishes: its API, or
    /// its own business. `dockhand recover` restarts it.
    Engine,
    /// A docker-proxy of another live daemon on this host.
    OtherDaemon,
    /// A docker-proxy of a container still starting (younger than the grace period).
    Starting,
    /// An orphan docker-proxy forwarding into none of this daemon's networks while other
    /// daemons run: probably another daemon's. Stopped only with `--force-foreign`.
    Unattributed,
    /// A docker-proxy of this daemon, or a process under a container's shim, that could not be
    /// judged: the engine did not list its containers (silent, timed out, stopped), so the
    /// container it serves may be running.
    Unjudged,
    /// No owner could be seen: its fds are not readable by this user, or no process holds the
    /// socket (a kernel socket, one being torn down). Decided for a listener, not an owner.
    Unseen,
}

impl Refusal {
    /// `--force-foreign` would allow it.
    pub fn forcible(self) -> bool {
        matches!(self, Refusal::Foreign | Refusal::Unattributed)
    }
}

/// What `dockhand ports free` does about one process holding the port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum FreeVerdict {
    /// A leaked docker-proxy: terminate it.
    KillProxy { why: Leak },
    /// It serves a running container (its id): stop that container; its proxy goes with it.
    StopContainer { container: String },
    /// A process left under the shim of a container that no longer runs: terminate it.
    KillLeftover { container: String },
    /// Not Docker's, and the user allowed it (`--force-foreign`): terminate it.
    KillForeign,
    /// Left alone, and why.
    Refused { why: Refusal },
}

/// Decides what `ports free` does about one holder: its kind, whether it is stuck in D (seen in
/// every sample), the running container the listener belongs to (by [`listener_container`],
/// only when that container runs), what Docker's list says of the owner's container (an owner
/// under a shim; `None`: the engine did not list), and whether the user allowed foreign
/// processes.
///
/// D comes first: no signal, and no container stop, reaches a process stuck in the kernel. A
/// process under a shim is ended as a leftover only when [`container_life`] — the judgment
/// `reap` uses for zombie parents — says its container ended; a gap leaves it alone.
pub fn free_verdict(
    kind: &OwnerKind,
    uninterruptible: bool,
    belongs_running: Option<&str>,
    owner_listed: Option<Listed>,
    force_foreign: bool,
) -> FreeVerdict {
    use FreeVerdict::{KillForeign, KillLeftover, KillProxy, Refused, StopContainer};
    let refused = |why: Refusal| {
        if force_foreign && why.forcible() {
            KillForeign
        } else {
            Refused { why }
        }
    };
    if uninterruptible {
        return Refused {
            why: Refusal::Uninterruptible,
        };
    }
    match kind {
        OwnerKind::Proxy { verdict: None } => refused(Refusal::Unjudged),
        OwnerKind::Proxy { verdict: Some(v) } => match v {
            ProxyVerdict::Leaked { why } => KillProxy { why: *why },
            ProxyVerdict::Serving { container } => StopContainer {
                container: container.clone(),
            },
            ProxyVerdict::Starting { .. } => refused(Refusal::Starting),
            ProxyVerdict::OtherDaemon => refused(Refusal::OtherDaemon),
            ProxyVerdict::Unattributed => refused(Refusal::Unattributed),
        },
        OwnerKind::Engine => match belongs_running {
            Some(c) => StopContainer {
                container: c.to_string(),
            },
            None => refused(Refusal::Engine),
        },
        OwnerKind::Container { id } => {
            if belongs_running == Some(id.as_str()) {
                return StopContainer {
                    container: id.clone(),
                };
            }
            match container_life(owner_listed) {
                ContainerLife::Alive => StopContainer {
                    container: id.clone(),
                },
                ContainerLife::Ended { .. } => KillLeftover {
                    container: id.clone(),
                },
                // Not forcible: --force-foreign is for processes that are not Docker's.
                ContainerLife::Unknown => Refused {
                    why: Refusal::Unjudged,
                },
            }
        }
        OwnerKind::Other => refused(Refusal::Foreign),
    }
}

/// The port after `ports free` acted, from who held it before and who holds it now (each a
/// pid and its start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterFree {
    /// Nothing listens on it any more.
    Free,
    /// Some of the processes that held it still do.
    StillHeld,
    /// Only processes that did not hold it before do: something took it again at once (a
    /// supervisor restarting the service, a container restarting).
    TakenAgain,
}

/// Judges the port after acting: `before` the holders the plan saw, `now` the holders now.
pub fn after_free(before: &[(i32, u64)], now: &[(i32, u64)]) -> AfterFree {
    if now.is_empty() {
        AfterFree::Free
    } else if now.iter().any(|h| before.contains(h)) {
        AfterFree::StillHeld
    } else {
        AfterFree::TakenAgain
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn proxy(proto: &str, port: u16, ip: &str) -> ProxyArgs {
        ProxyArgs {
            proto: proto.into(),
            host_ip: "0.0.0.0".into(),
            host_port: port,
            container_ip: ip.into(),
            container_port: 80,
        }
    }

    fn rec(v: Value) -> ContainerRecord {
        serde_json::from_value(v).expect("a record")
    }

    /// A running container `id` at `ip`, publishing `ports` (`"8080/tcp"`-keyed live mapping).
    fn running(id: &str, ip: &str, ports: Value) -> ContainerRecord {
        rec(json!({
            "Id": id,
            "State": { "Running": true, "Pid": 4242 },
            "NetworkSettings": { "Networks": { "bridge": { "IPAddress": ip } }, "Ports": ports },
            "HostConfig": { "PortBindings": {} }
        }))
    }

    fn stopped(id: &str, ip: &str, policy: &str, bindings: Value) -> ContainerRecord {
        rec(json!({
            "Id": id,
            "State": { "Running": false, "Restarting": false },
            "NetworkSettings": { "Networks": { "n": { "IPAddress": ip } } },
            "HostConfig": { "RestartPolicy": { "Name": policy }, "PortBindings": bindings }
        }))
    }

    fn listener(proto: Proto, addr: &str, port: u16, host_ns: bool, netns: u64) -> Listener {
        Listener {
            proto,
            address: addr.parse().expect("ip"),
            port,
            inode: 1,
            netns,
            host_ns,
            uid: 0,
            user: None,
            pids: vec![7],
        }
    }

    fn web() -> ContainerRecord {
        running(
            "web",
            "172.17.0.2",
            json!({ "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": "8080" } ],
                    "53/udp": [ { "HostIp": "", "HostPort": "5353" } ] }),
        )
    }

    #[test]
    fn a_proxy_serves_a_running_container_with_its_ip_port_and_protocol() {
        let c = web();
        let cases = [
            (proxy("tcp", 8080, "172.17.0.2"), true),
            (proxy("tcp", 8081, "172.17.0.2"), false),
            (proxy("tcp", 8080, "172.17.0.3"), false),
            (proxy("udp", 8080, "172.17.0.2"), false),
            (proxy("udp", 5353, "172.17.0.2"), true),
        ];
        for (p, want) in cases {
            assert_eq!(proxy_serves(&c, &p), want, "{p:?}");
        }
        let mut gone = web();
        gone.state.running = false;
        assert!(!proxy_serves(&gone, &proxy("tcp", 8080, "172.17.0.2")));
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
    fn proxy_verdicts() {
        let records = [web()];
        let subnets = ["172.31.255.0/24".to_string()];
        let serving = proxy("tcp", 8080, "172.17.0.2");
        let gone = proxy("tcp", 9000, "172.17.0.9");
        let into_ours = proxy("tcp", 9001, "172.31.255.254");
        // (what, proxy, ppid, parent, age, live dockerds, want)
        type Case<'a> = (
            &'a str,
            &'a ProxyArgs,
            i32,
            Option<(&'a str, char)>,
            Option<f64>,
            usize,
            ProxyVerdict,
        );
        let d = Some(("dockerd", 'S'));
        let cases: Vec<Case> = vec![
            (
                "serving",
                &serving,
                100,
                d,
                Some(500.0),
                1,
                ProxyVerdict::Serving {
                    container: "web".into(),
                },
            ),
            (
                "young, container still starting",
                &gone,
                100,
                d,
                Some(3.0),
                1,
                ProxyVerdict::Starting { age_s: Some(3.0) },
            ),
            (
                "old, container gone",
                &gone,
                100,
                d,
                Some(31.0),
                1,
                ProxyVerdict::Leaked {
                    why: Leak::ContainerGone,
                },
            ),
            (
                // No evidence that it is past the grace: left alone like a young one.
                "age unknown, container gone",
                &gone,
                100,
                d,
                None,
                1,
                ProxyVerdict::Starting { age_s: None },
            ),
            (
                "serving, but a child of another daemon",
                &serving,
                200,
                d,
                Some(500.0),
                2,
                ProxyVerdict::OtherDaemon,
            ),
            (
                "orphan, the only daemon",
                &gone,
                1,
                Some(("systemd", 'S')),
                Some(5.0),
                1,
                ProxyVerdict::Leaked { why: Leak::Orphan },
            ),
            (
                "orphan into our subnet, several daemons",
                &into_ours,
                1,
                None,
                None,
                2,
                ProxyVerdict::Leaked { why: Leak::Orphan },
            ),
            (
                "orphan elsewhere, several daemons",
                &gone,
                1,
                None,
                None,
                2,
                ProxyVerdict::Unattributed,
            ),
            (
                "orphan of a zombie dockerd",
                &gone,
                200,
                Some(("dockerd", 'Z')),
                None,
                1,
                ProxyVerdict::Leaked { why: Leak::Orphan },
            ),
        ];
        for (what, args, ppid, parent, age_s, live, want) in cases {
            let scope = ProxyScope {
                daemon_pid: 100,
                live_dockerds: live,
                subnets: &subnets,
                grace_s: 30.0,
            };
            let p = ProxySeen {
                ppid,
                parent,
                args,
                age_s,
            };
            assert_eq!(judge_proxy(&p, &records, &scope), want, "{what}");
        }
        // An orphan that would serve a running container is still an orphan: nothing stops it.
        let scope = ProxyScope {
            daemon_pid: 100,
            live_dockerds: 1,
            subnets: &[],
            grace_s: 30.0,
        };
        let p = ProxySeen {
            ppid: 1,
            parent: None,
            args: &serving,
            age_s: None,
        };
        assert_eq!(judge_proxy(&p, &records, &scope).leak(), Some(Leak::Orphan));
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
            ('T', None, Some('Z'), Some(Stuck::Stopped)),
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
    fn a_listener_is_stuck_only_when_every_owner_is() {
        use Stuck::*;
        let cases: &[(&[Option<Stuck>], Option<Stuck>)] = &[
            (&[], None),
            (&[Some(Stopped)], Some(Stopped)),
            (&[Some(Stopped), None], None),
            (
                &[Some(Traced), Some(Uninterruptible)],
                Some(Uninterruptible),
            ),
            (
                &[Some(ParentZombie), Some(Stopped), Some(Traced)],
                Some(Stopped),
            ),
            (&[Some(ParentZombie)], Some(ParentZombie)),
        ];
        for (owners, want) in cases {
            assert_eq!(listener_stuck(owners), *want, "{owners:?}");
        }
        assert!(Stopped.critical() && Uninterruptible.critical());
        // Only D must be seen again; the rest stand on one sample.
        let cases = [
            (Uninterruptible, Some('D'), Some(Uninterruptible)),
            (Uninterruptible, Some('S'), None),
            (Uninterruptible, None, None),
            (Stopped, Some('R'), Some(Stopped)),
            (ParentZombie, None, Some(ParentZombie)),
        ];
        for (v, now, want) in cases {
            assert_eq!(v.confirmed(now), want, "{v:?} {now:?}");
        }
        assert!(!Traced.critical() && !ParentZombie.critical());
    }

    #[test]
    fn restart_bindings_of_stopped_containers() {
        let b = json!({
            "80/tcp": [ { "HostIp": "127.0.0.1", "HostPort": "8080" }, { "HostIp": "", "HostPort": "" } ],
            "53/udp": [ { "HostIp": "", "HostPort": "53" } ],
            "81/tcp": [ { "HostIp": "", "HostPort": "9000-9010" }, { "HostIp": "", "HostPort": "9090" } ],
            "82/tcp": [ { "HostIp": "not-an-ip", "HostPort": "9091" } ],
            "83/sctp": [ { "HostIp": "", "HostPort": "9092" } ]
        });
        let c = stopped("a", "", "always", b.clone());
        let (policy, got) = restart_bindings(&c).expect("candidate");
        assert_eq!(policy, "always");
        let mut ports: Vec<(Proto, &str, u16)> = got
            .iter()
            .map(|b| (b.proto, b.host_ip.as_str(), b.port))
            .collect();
        ports.sort();
        assert_eq!(
            ports,
            vec![
                (Proto::Tcp, "", 9090),
                (Proto::Tcp, "127.0.0.1", 8080),
                (Proto::Udp, "", 53)
            ]
        );
        let cases = [
            (false, "unless-stopped", b.clone(), true),
            (false, "on-failure", b.clone(), true),
            (true, "always", b.clone(), false),
            (false, "no", b.clone(), false),
            (false, "", b.clone(), false),
            (false, "unless-stopped", json!({}), false),
        ];
        for (run, policy, bindings, want) in cases {
            let mut c = stopped("a", "", policy, bindings);
            c.state.running = run;
            assert_eq!(restart_bindings(&c).is_some(), want, "{run} {policy}");
        }
    }

    #[test]
    fn conflicts_with_a_listener() {
        let c = stopped(
            "db",
            "172.18.0.5",
            "always",
            json!({ "5432/tcp": [ { "HostIp": "127.0.0.1", "HostPort": "5432" } ],
                    "53/udp": [ { "HostIp": "", "HostPort": "53" } ] }),
        );
        let own = proxy("tcp", 5432, "172.18.0.5");
        let other_proxy = proxy("tcp", 5432, "172.18.0.9");
        let tcp = |a: &str, p: u16| listener(Proto::Tcp, a, p, true, 1);
        // (what, listener, owners, conflicts)
        type Case<'a> = (&'a str, Listener, Vec<Option<&'a ProxyArgs>>, bool);
        let cases: Vec<Case> = vec![
            ("same address", tcp("127.0.0.1", 5432), vec![None], true),
            ("wildcard listener", tcp("0.0.0.0", 5432), vec![None], true),
            ("dual-stack wildcard", tcp("::", 5432), vec![None], true),
            (
                "other loopback address",
                tcp("127.0.0.2", 5432),
                vec![None],
                false,
            ),
            ("other port", tcp("127.0.0.1", 5433), vec![None], false),
            (
                "its own leftover proxy",
                tcp("127.0.0.1", 5432),
                vec![Some(&own)],
                false,
            ),
            (
                "another container's proxy",
                tcp("127.0.0.1", 5432),
                vec![Some(&other_proxy)],
                true,
            ),
            (
                "its proxy and a stranger",
                tcp("127.0.0.1", 5432),
                vec![Some(&own), None],
                true,
            ),
            ("owners unseen", tcp("127.0.0.1", 5432), vec![], true),
            (
                "in a container's namespace",
                listener(Proto::Tcp, "127.0.0.1", 5432, false, 9),
                vec![None],
                false,
            ),
            (
                "UDP on a TCP binding's port",
                listener(Proto::Udp, "127.0.0.1", 5432, true, 1),
                vec![None],
                false,
            ),
            (
                "UDP on the UDP binding",
                listener(Proto::Udp, "10.0.0.1", 53, true, 1),
                vec![None],
                true,
            ),
        ];
        for (what, l, owners, want) in cases {
            let got = conflicts_of(&l, &owners, std::slice::from_ref(&c));
            assert_eq!(!got.is_empty(), want, "{what}: {got:?}");
        }
        // A running container is never in conflict, even on its own port.
        let l = tcp("0.0.0.0", 8080);
        assert!(conflicts_of(&l, &[None], &[web()]).is_empty());
    }

    #[test]
    fn which_container_a_listener_belongs_to() {
        let records = [
            web(),
            running("ns-only", "172.17.0.3", json!({})),
            stopped(
                "old",
                "172.17.0.2",
                "always",
                json!({ "80/tcp": [ { "HostIp": "", "HostPort": "8080" } ] }),
            ),
        ];
        let netns: HashMap<&str, u64> = [("web", 11), ("ns-only", 12)].into();
        let serving = proxy("tcp", 8080, "172.17.0.2");
        let leaked = proxy("tcp", 9999, "172.17.0.77");
        // (what, listener, owner's proxy args, owner's container by process tree, want)
        type Case<'a> = (
            &'a str,
            Listener,
            Option<&'a ProxyArgs>,
            Option<&'a str>,
            Option<(&'a str, BelongsBy)>,
        );
        let cases: Vec<Case> = vec![
            (
                "its proxy",
                listener(Proto::Tcp, "0.0.0.0", 8080, true, 1),
                Some(&serving),
                None,
                Some(("web", BelongsBy::Proxy)),
            ),
            (
                "a leaked proxy belongs to no one",
                listener(Proto::Tcp, "0.0.0.0", 9999, true, 1),
                Some(&leaked),
                None,
                None,
            ),
            (
                "inside its namespace",
                listener(Proto::Tcp, "0.0.0.0", 80, false, 12),
                None,
                None,
                Some(("ns-only", BelongsBy::Namespace)),
            ),
            (
                "an unknown namespace",
                listener(Proto::Tcp, "0.0.0.0", 80, false, 99),
                None,
                None,
                None,
            ),
            (
                "an unknown namespace, owned under a shim",
                listener(Proto::Tcp, "0.0.0.0", 80, false, 99),
                None,
                Some("old"),
                Some(("old", BelongsBy::Process)),
            ),
            (
                "on the host's network, under its shim",
                listener(Proto::Tcp, "0.0.0.0", 7000, true, 1),
                None,
                Some("ns-only"),
                Some(("ns-only", BelongsBy::Process)),
            ),
            (
                "under the shim of a container Docker does not list",
                listener(Proto::Tcp, "0.0.0.0", 7001, true, 1),
                None,
                Some("gone"),
                None,
            ),
            (
                "held by the daemon on a published port",
                listener(Proto::Udp, "::", 5353, true, 1),
                None,
                None,
                Some(("web", BelongsBy::Published)),
            ),
            (
                "a host port nothing publishes",
                listener(Proto::Tcp, "0.0.0.0", 22, true, 1),
                None,
                None,
                None,
            ),
        ];
        for (what, l, p, tree, want) in cases {
            let got = listener_container(&l, p, tree, &records, &netns)
                .map(|(c, by)| (c.id.as_str(), by));
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn published_merges_the_live_mapping_and_the_request() {
        let c = rec(json!({
            "NetworkSettings": { "Ports": { "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": "8080" } ] } },
            "HostConfig": { "PortBindings": {
                "80/tcp": [ { "HostIp": "0.0.0.0", "HostPort": "8080" } ],
                "81/tcp": [ { "HostIp": "", "HostPort": "8081" } ]
            } }
        }));
        let got: Vec<(u16, Option<IpAddr>)> =
            published(&c).iter().map(|b| (b.port, b.ip)).collect();
        assert_eq!(got, vec![(8080, Some([0, 0, 0, 0].into())), (8081, None)]);
    }

    #[test]
    fn a_listeners_problems_worst_first() {
        use Stuck::*;
        let c = stopped(
            "db",
            "172.18.0.5",
            "always",
            json!({ "5432/tcp": [ { "HostIp": "", "HostPort": "5432" } ] }),
        );
        let l = listener(Proto::Tcp, "0.0.0.0", 5432, true, 1);
        let conflicts = conflicts_of(&l, &[None], std::slice::from_ref(&c));
        let leaked = OwnerKind::Proxy {
            verdict: Some(ProxyVerdict::Leaked { why: Leak::Orphan }),
        };
        let unjudged = OwnerKind::Proxy { verdict: None };
        // (what, owners' stuck verdicts, owners' kinds, conflicts?, problems)
        type Case<'a> = (
            &'a str,
            Vec<Option<Stuck>>,
            Vec<OwnerKind>,
            bool,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("fine", vec![None], vec![OwnerKind::Other], false, vec![]),
            ("no owners seen", vec![], vec![], false, vec![]),
            (
                "stopped",
                vec![Some(Stopped)],
                vec![OwnerKind::Other],
                false,
                vec!["stuck"],
            ),
            (
                "one worker still runs",
                vec![Some(Stopped), None],
                vec![OwnerKind::Other, OwnerKind::Other],
                false,
                vec![],
            ),
            (
                "leaked proxy",
                vec![None],
                vec![leaked.clone()],
                false,
                vec!["leaked-proxy"],
            ),
            (
                "a stopped leaked proxy that blocks a stopped container",
                vec![Some(Stopped)],
                vec![leaked],
                true,
                vec!["stuck", "leaked-proxy", "conflict"],
            ),
            (
                "a proxy not judged",
                vec![None],
                vec![unjudged],
                false,
                vec![],
            ),
            (
                "conflict",
                vec![None],
                vec![OwnerKind::Other],
                true,
                vec!["conflict"],
            ),
        ];
        for (what, stuck, kinds, conflict, want) in cases {
            let cs: &[Conflict] = if conflict { &conflicts } else { &[] };
            let got: Vec<&str> = listener_problems(&stuck, &kinds, cs)
                .iter()
                .map(Problem::as_str)
                .collect();
            assert_eq!(got, want, "{what}");
        }
        let p = listener_problems(&[None], &[OwnerKind::Other], &conflicts);
        assert_eq!(
            p,
            vec![Problem::Conflict {
                container: "db".into(),
                name: String::new(),
                restart_policy: "always".into()
            }]
        );
    }

    #[test]
    fn what_ports_free_does_about_each_holder() {
        use FreeVerdict::*;
        let proxy = |v: ProxyVerdict| OwnerKind::Proxy { verdict: Some(v) };
        let web = || "web".to_string();
        // (what, kind, in D, running container it belongs to, what Docker's list says of the
        // owner's container (None: the engine did not list), --force-foreign, want)
        type Case<'a> = (
            &'a str,
            OwnerKind,
            bool,
            Option<&'a str>,
            Option<Listed>,
            bool,
            FreeVerdict,
        );
        let refused = |why| Refused { why };
        let cases: Vec<Case> = vec![
            (
                "leaked proxy",
                proxy(ProxyVerdict::Leaked { why: Leak::Orphan }),
                false,
                None,
                None,
                false,
                KillProxy { why: Leak::Orphan },
            ),
            (
                "leaked proxy stuck in D",
                proxy(ProxyVerdict::Leaked { why: Leak::Orphan }),
                true,
                None,
                None,
                true,
                refused(Refusal::Uninterruptible),
            ),
            (
                "a running container's proxy",
                proxy(ProxyVerdict::Serving { container: web() }),
                false,
                Some("web"),
                None,
                false,
                StopContainer { container: web() },
            ),
            (
                "a starting container's proxy",
                proxy(ProxyVerdict::Starting { age_s: Some(2.0) }),
                false,
                None,
                None,
                true,
                refused(Refusal::Starting),
            ),
            (
                "another daemon's proxy, even forced",
                proxy(ProxyVerdict::OtherDaemon),
                false,
                None,
                None,
                true,
                refused(Refusal::OtherDaemon),
            ),
            (
                "an unattributed orphan",
                proxy(ProxyVerdict::Unattributed),
                false,
                None,
                None,
                false,
                refused(Refusal::Unattributed),
            ),
            (
                "an unattributed orphan, forced",
                proxy(ProxyVerdict::Unattributed),
                false,
                None,
                None,
                true,
                KillForeign,
            ),
            (
                "a proxy not judged",
                OwnerKind::Proxy { verdict: None },
                false,
                None,
                None,
                true,
                refused(Refusal::Unjudged),
            ),
            (
                "dockerd on a published port",
                OwnerKind::Engine,
                false,
                Some("web"),
                None,
                false,
                StopContainer { container: web() },
            ),
            (
                "dockerd on its own port, even forced",
                OwnerKind::Engine,
                false,
                None,
                None,
                true,
                refused(Refusal::Engine),
            ),
            (
                "a running container's process (host network)",
                OwnerKind::Container { id: web() },
                false,
                Some("web"),
                None,
                false,
                StopContainer { container: web() },
            ),
            (
                "a process left under a dead container's shim",
                OwnerKind::Container { id: web() },
                false,
                None,
                Some(Listed::NotRunning),
                false,
                KillLeftover { container: web() },
            ),
            (
                "a process under the shim of a container Docker no longer lists",
                OwnerKind::Container { id: web() },
                false,
                None,
                Some(Listed::Absent),
                false,
                KillLeftover { container: web() },
            ),
            (
                // The engine answered, listing it running (or paused), but the listener was
                // not tied to it: its container is stopped, never its process killed.
                "a process of a container listed alive",
                OwnerKind::Container { id: web() },
                false,
                None,
                Some(Listed::Running),
                false,
                StopContainer { container: web() },
            ),
            (
                // The engine did not list: a hung daemon's running container. Unknown never
                // acts, not even with --force-foreign.
                "a process under a shim while the engine is silent, forced",
                OwnerKind::Container { id: web() },
                false,
                None,
                None,
                true,
                refused(Refusal::Unjudged),
            ),
            (
                "foreign",
                OwnerKind::Other,
                false,
                None,
                None,
                false,
                refused(Refusal::Foreign),
            ),
            (
                "foreign, forced",
                OwnerKind::Other,
                false,
                None,
                None,
                true,
                KillForeign,
            ),
            (
                "foreign in D, forced",
                OwnerKind::Other,
                true,
                None,
                None,
                true,
                refused(Refusal::Uninterruptible),
            ),
        ];
        for (what, kind, d, belongs, listed, force, want) in cases {
            assert_eq!(
                free_verdict(&kind, d, belongs, listed, force),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn the_port_after_acting() {
        let before = [(10, 5), (11, 6)];
        let cases: &[(&[(i32, u64)], AfterFree)] = &[
            (&[], AfterFree::Free),
            (&[(10, 5)], AfterFree::StillHeld),
            (&[(11, 6), (99, 1)], AfterFree::StillHeld),
            (&[(99, 1)], AfterFree::TakenAgain),
            // The same pid, another process: it was reused by a newcomer.
            (&[(10, 7)], AfterFree::TakenAgain),
        ];
        for (now, want) in cases {
            assert_eq!(after_free(&before, now), *want, "{now:?}");
        }
    }
}
