//! `dockhand reap`: plans, and with `--apply` performs, the clean-up of what Docker leaked —
//! exactly what doctor reports, judged by the same functions:
//!
//! - leaked docker-proxy processes (`ports.leaked-proxy`, [`judge_proxy_if_known`]) are terminated;
//! - a stale daemon pid file (`daemon.pidfile`, [`crate::runtime::pidfile::judge`] +
//!   [`pidfile_repair`]) is removed while no daemon runs, or rewritten with the running daemon's
//!   pid;
//! - orphan shims (`processes.orphan-shims`) unknown to Docker *and* to containerd
//!   ([`judge_shim`] with containerd's task list) are ended with `--shims` only: the container
//!   processes under them first, then the shim;
//! - the parents of zombies that belong to containers no longer running (`processes.zombies`,
//!   [`zombie_parent`]) are terminated, so the shim (or init) reaps the zombies;
//! - entries of `<data-root>/tmp` and a lingering `tmp-old` no process holds open, past the
//!   grace period (`storage.tmp`, [`tmp_stale`]), are removed;
//! - containers stuck in `dead` ([`stuck_dead`]) are removed, without force.
//!
//! Every signal and removal is an action (src/actions): re-verified just before it acts,
//! journaled, never forced. See docs/reap.md.

use crate::policy::identity::DockerProgram;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::saved_plan;
use crate::actions::{
    self, Action, ActorOptions, ApplyOptions, ContainerSeen, FileStamp, Plan, ProcId, ProcTarget,
    Scope, Step,
};
use crate::exit::ExitCode;
use crate::facts::{Facts, Gap, WalkLimits};
use crate::policy::containers::stuck_dead;
use crate::policy::daemon::{PidfileRepair, PidfileState, pidfile_repair};
use crate::policy::ports::{
    Leak, ProxyOwner, ProxyScope, ProxySeen, ProxyVerdict, judge_proxy_if_known, proxy_owner,
};
use crate::policy::processes::{
    Listed, ParentVerdict, Shim, ShimVerdict, ZombieRoot, judge_shim, listed_in, zombie_parent,
    zombies_under,
};
use crate::policy::storage::tmp_stale;
use crate::report;
use crate::report::reap::{ReapDoc, ReapStep, Skipped};
use crate::runtime::blocking;
use crate::runtime::daemon::{DaemonProcess, Located};
use crate::runtime::engine::Engine;
use crate::runtime::host::{ProcClock, ProcRow};
use crate::runtime::net::parse_docker_proxy;
use crate::runtime::pidfile;
use crate::settings::{Format, Settings};
use crate::shutdown::Shutdown;

#[derive(Debug, Args)]
pub struct ReapArgs {
    /// Act on the plan: terminate, remove, rewrite. Without it nothing is changed
    #[arg(long)]
    pub apply: bool,

    /// Also end orphan containerd shims — unknown to Docker and to containerd — and the
    /// container processes under them
    #[arg(long)]
    pub shims: bool,

    /// How long a process gets after SIGTERM before SIGKILL: 10s, 1.5s, 500ms, 1m
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "10s")]
    pub grace: Duration,

    /// Save the dry run's plan to FILE, to apply it later with --apply --plan FILE
    #[arg(long, value_name = "FILE", conflicts_with = "apply")]
    pub plan_out: Option<PathBuf>,

    /// Apply this saved plan — exactly its steps, each re-checked just before it acts —
    /// instead of planning anew
    #[arg(long, value_name = "FILE", requires = "apply")]
    pub plan: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// What a step reaps, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    LeakedProxy,
    Pidfile,
    /// A container process under an orphan shim, ended before the shim.
    OrphanShimTask,
    OrphanShim,
    ZombieParent,
    Tmp,
    DeadContainer,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::LeakedProxy => "leaked-proxy",
            Category::Pidfile => "pidfile",
            Category::OrphanShimTask => "orphan-shim-task",
            Category::OrphanShim => "orphan-shim",
            Category::ZombieParent => "zombie-parent",
            Category::Tmp => "tmp",
            Category::DeadContainer => "dead-container",
        }
    }
}

/// The plan: steps with what they reap, what was found but is left alone, and notes.
#[derive(Debug, Clone, Default)]
pub struct ReapPlan {
    pub steps: Vec<(Category, Step)>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    pub daemon_pid: Option<i32>,
    /// The daemon's pid file, as the located daemon names it: the one pid file reap touches.
    pub pidfile: Option<PathBuf>,
    /// The live engine's data root, when its `tmp` was read: reap cleans nothing outside it.
    pub data_root: Option<PathBuf>,
    /// Something could not be judged (the engine silent or timed out, /proc unreadable, a walk
    /// cut off): what it covers was left alone, and the run ends with the partial exit code.
    pub gaps: bool,
}

impl ReapPlan {
    fn push(&mut self, c: Category, s: Step) {
        self.steps.push((c, s));
    }

    fn skip(&mut self, c: Category, target: impl Into<String>, why: impl Into<String>) {
        self.skipped.push(Skipped {
            category: c.as_str().to_string(),
            target: target.into(),
            why: why.into(),
        });
    }

    pub fn plan(&self) -> Plan {
        Plan::new(self.steps.iter().map(|(_, s)| s.clone()).collect())
    }
}

/// A step that ends a shim: it runs after every other step (the container processes under the
/// shim go first, while they are still its descendants).
pub fn ends_a_shim(s: &Step) -> bool {
    matches!(&s.action, Action::Terminate { target, .. } if target.comm.starts_with("containerd-shim"))
}

/// The category of a step of a saved plan (which carries no categories), from its action.
fn category_of(s: &Step) -> Category {
    match &s.action {
        Action::Terminate { target, .. } if target.comm.starts_with("containerd-shim") => {
            Category::OrphanShim
        }
        Action::Terminate { target, .. } if target.comm == "docker-proxy" => Category::LeakedProxy,
        Action::Terminate { target, .. } => match target.scope {
            Scope::DescendantOf(_) if s.reason.contains("orphan shim") => Category::OrphanShimTask,
            _ => Category::ZombieParent,
        },
        Action::RemoveFile { path, .. } | Action::RemoveTree { path, .. }
            if path
                .components()
                .any(|c| c.as_os_str() == "tmp" || c.as_os_str() == "tmp-old") =>
        {
            Category::Tmp
        }
        Action::RemoveContainer { .. } => Category::DeadContainer,
        _ => Category::Pidfile,
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The thresholds reap shares with doctor.
struct Thresholds {
    proxy_grace_s: f64,
    tmp_grace_s: u64,
}

fn thresholds(settings: &Settings) -> Thresholds {
    let th = |check: &str, name: &str| settings.config.threshold(&settings.catalog, check, name);
    Thresholds {
        proxy_grace_s: th("ports.leaked-proxy", "grace_seconds"),
        tmp_grace_s: (th("storage.tmp", "grace_hours") * 3600.0).max(0.0) as u64,
    }
}

/// Plans every reap: what doctor's checks report, as steps.
pub async fn plan_reap(
    facts: &Facts,
    th_settings: &Settings,
    shims: bool,
    grace: Duration,
) -> Result<ReapPlan, Gap> {
    let th = thresholds(th_settings);
    let mut p = ReapPlan::default();
    // The daemon's process, the process table and the ping at once: a frozen engine costs its
    // deadline alongside the /proc reads, not after them.
    let (located, _, _) = tokio::join!(facts.located(), facts.processes(), facts.ping());
    let located = match located {
        Ok(l) => l,
        Err(g @ Gap::Remote { .. }) => return Err(g),
        Err(g) => {
            p.notes.push(format!(
                "the daemon's process was not found ({g}): nothing is judged, everything is left alone"
            ));
            p.gaps = true;
            return Ok(p);
        }
    };
    let daemon: Option<&DaemonProcess> = match located {
        Located::Found(d) => Some(d.as_ref()),
        _ => None,
    };
    p.daemon_pid = daemon.map(|d| d.info.pid);
    let daemon_id = daemon.map(|d| ProcId {
        pid: d.info.pid,
        start_ticks: d.info.start_ticks,
    });
    let answered = facts.engine_answered().await;
    if daemon.is_some() && !answered {
        p.gaps = true;
        p.notes.push(format!(
            "the engine did not answer: proxies of the daemon, shims, zombies, tmp and dead containers need it and are left alone ({})",
            facts.ping().await.0.as_ref().err().map_or_else(String::new, ToString::to_string)
        ));
    }
    let procs: &[ProcRow] = match facts.processes().await {
        Ok(ps) => ps,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!(
                "processes are left alone: the process table was not read ({g})"
            ));
            &[]
        }
    };

    if let Located::Unverified { why, .. } = located {
        // Its children would look like orphans: nothing is judged against a stranger.
        p.notes
            .push(format!("docker-proxy processes are left alone: {why}"));
    } else {
        proxies(
            facts, &mut p, procs, daemon, daemon_id, answered, &th, grace,
        )
        .await;
    }
    pidfile(facts, &mut p, located, daemon).await;
    if let Some(d) = daemon
        && answered
    {
        let ours = daemon_shims(facts, &mut p).await;
        orphan_shims(facts, &mut p, procs, &ours, shims, grace).await;
        zombies(facts, &mut p, procs, d, &ours, grace).await;
        tmp(facts, &mut p, th.tmp_grace_s).await;
        dead_containers(facts, &mut p).await;
    } else if daemon.is_none() {
        p.notes.push(format!(
            "no daemon serves {}: shims, zombies, tmp and dead containers are judged against a running daemon, and are left alone",
            facts.engine().endpoint()
        ));
    }
    // The shims last: their container processes go first, while still under them.
    p.steps
        .sort_by_key(|(c, s)| (ends_a_shim(s), *c == Category::OrphanShim));
    Ok(p)
}

#[allow(clippy::too_many_arguments)]
async fn proxies(
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
    let subnets: Vec<String> = if needs {
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

/// Captures each (pid, start ticks, scope, reason) as a target now, under the deadline; a pid
/// whose start time changed since the process table was read is `Err(pid)`.
async fn capture_all(
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
fn push_terminations(
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

async fn pidfile(
    facts: &Facts,
    p: &mut ReapPlan,
    located: &Located,
    daemon: Option<&DaemonProcess>,
) {
    let (path, daemon_pid) = match located {
        Located::Found(d) => (d.paths.pidfile.clone(), Some(d.info.pid)),
        Located::NotRunning { paths, .. } => (paths.pidfile.clone(), None),
        Located::Unverified { why, .. } => {
            p.notes.push(format!("the pid file is left alone: {why}"));
            return;
        }
        Located::Remote => return,
    };
    p.pidfile = Some(path.clone());
    let read_path = path.clone();
    let read = blocking(facts.timeout(), move || {
        let state = pidfile::judge(&read_path, daemon_pid, pidfile::Owner::Engine).state;
        let stamp = FileStamp::of(&read_path).ok();
        // The daemon is Docker's own program: a saved plan never names any process.
        let daemon = daemon_pid.and_then(|d| ProcTarget::capture(d, Scope::DockerProgram));
        (state, stamp, daemon)
    })
    .await;
    let Some((state, stamp, target)) = read else {
        p.notes.push(format!(
            "reading {} took longer than {}: it is left alone",
            path.display(),
            crate::util::human_duration(facts.timeout())
        ));
        return;
    };
    let shown = path.display().to_string();
    let named = match &state {
        PidfileState::Gone(pid) => format!("names pid {pid}, which is gone"),
        PidfileState::NotEngine(pid) => format!(
            "names pid {pid}, a live process that is not dockerd (or a zombie): the daemon would refuse to start"
        ),
        PidfileState::OtherEngine(pid) => {
            p.skip(
                Category::Pidfile,
                shown,
                format!("names pid {pid}, another running container engine: never touched"),
            );
            return;
        }
        PidfileState::Unreadable(e) => {
            p.skip(Category::Pidfile, shown, format!("cannot be read: {e}"));
            return;
        }
        _ => return,
    };
    let Some(stamp) = stamp else { return };
    match pidfile_repair(&state, daemon_pid) {
        PidfileRepair::Remove => p.push(
            Category::Pidfile,
            Step::new(
                Action::RemoveFile { path, stamp },
                format!("stale pid file: it {named}, and no daemon runs"),
            ),
        ),
        PidfileRepair::Rewrite { pid } => match (target, daemon) {
            (Some(t), Some(d)) if t.id.start_ticks == d.info.start_ticks => p.push(
                Category::Pidfile,
                Step::new(
                    Action::RewritePidfile {
                        path,
                        stamp,
                        daemon: t,
                    },
                    format!("stale pid file: it {named}, while the daemon runs as pid {pid}"),
                ),
            ),
            _ => p.notes.push(format!(
                "the daemon (pid {pid}) changed while planning: {shown} is left alone; run again"
            )),
        },
        PidfileRepair::Leave => {}
    }
}

/// This daemon's shims, as doctor finds them: (row, parsed command line).
async fn daemon_shims(facts: &Facts, p: &mut ReapPlan) -> Vec<(ProcRow, Shim)> {
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

async fn orphan_shims(
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
    // containerd's own answer, once per (socket, namespace).
    let mut tasks: BTreeMap<
        (String, String),
        Result<crate::runtime::containerd::TaskList, String>,
    > = BTreeMap::new();
    for (_, s) in &orphans {
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

async fn zombies(
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
    // As doctor: a zombie reaped within a moment was not left unreaped.
    let zombies = blocking(facts.timeout(), move || {
        std::thread::sleep(Duration::from_millis(200));
        candidates
            .into_iter()
            .filter(|(z, _)| {
                crate::runtime::host::proc_state(z.pid)
                    .is_some_and(|s| s.state == 'Z' && s.start_ticks == z.start_ticks)
            })
            .collect::<Vec<_>>()
    })
    .await;
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

async fn tmp(facts: &Facts, p: &mut ReapPlan, grace_s: u64) {
    let df = match facts.storage_map().await {
        Ok(df) => df,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!("<data-root>/tmp is left alone: {g}"));
            return;
        }
    };
    if df.source != "disk" {
        p.gaps = true;
        p.notes.push(format!(
            "{}/tmp is left alone: {}",
            df.data_root.display(),
            df.notes
                .first()
                .cloned()
                .unwrap_or_else(|| "the data root was not read".into())
        ));
        return;
    }
    p.data_root = Some(df.data_root.clone());
    // Why tmp (or tmp-old) was not looked into: a symlink, another user's, writable by others.
    let tmp_path = df.data_root.join("tmp").display().to_string();
    p.notes.extend(
        df.notes
            .iter()
            .filter(|n| n.starts_with(&tmp_path))
            .cloned(),
    );
    let l = &df.leftovers;
    let entries: Vec<(PathBuf, u64, u64)> = l
        .tmp
        .iter()
        .chain(l.tmp_old.iter())
        .filter(|t| tmp_stale(t.open, t.age_s, grace_s))
        .map(|t| (t.path.clone(), t.bytes, t.age_s))
        .collect();
    if entries.is_empty() {
        return;
    }
    let stamped = blocking(facts.timeout(), move || {
        entries
            .into_iter()
            .filter_map(|(path, bytes, age)| {
                let m = std::fs::symlink_metadata(&path).ok()?;
                let stamp = FileStamp::of(&path).ok()?;
                Some((path, bytes, age, stamp, m.is_dir()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (path, bytes, age, stamp, dir) in stamped {
        let old = path.file_name().is_some_and(|n| n == "tmp-old");
        let reason = if old {
            format!(
                "tmp-old lingers ({} old): the clean-up at the daemon's start failed; no process holds anything in it",
                crate::util::human_age(age)
            )
        } else {
            format!(
                "no process holds it open, unchanged for {} (the grace period is {})",
                crate::util::human_age(age),
                crate::util::human_age(grace_s)
            )
        };
        let action = if dir {
            Action::RemoveTree { path, stamp }
        } else {
            Action::RemoveFile { path, stamp }
        };
        p.push(
            Category::Tmp,
            Step::new(action, reason).with_bytes(Some(bytes)),
        );
    }
}

async fn dead_containers(facts: &Facts, p: &mut ReapPlan) {
    let records = match facts.records().await {
        Ok(r) => r,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!(
                "dead containers are left alone: the engine did not list ({g})"
            ));
            return;
        }
    };
    for c in records.iter().filter(|c| stuck_dead(c)) {
        // The engine's own FinishedAt text, which the action compares before removing.
        let path = format!(
            "/containers/{}/json",
            crate::actions::docker::path_escape(&c.id)
        );
        let seen = match facts.engine().get_json::<Value>(&path).await {
            Ok(t) => t.value,
            Err(e) => {
                p.skip(
                    Category::DeadContainer,
                    format!("{} ({})", c.name(), short(&c.id)),
                    format!("could not be inspected: {e}"),
                );
                continue;
            }
        };
        let finished = seen["State"]["FinishedAt"]
            .as_str()
            .unwrap_or("")
            .to_string();
        p.push(
            Category::DeadContainer,
            Step::new(
                Action::RemoveContainer {
                    id: c.id.clone(),
                    name: c.name().to_string(),
                    seen: ContainerSeen {
                        state: "dead".into(),
                        finished_at: finished,
                    },
                },
                "stuck in dead: a removal that failed half-way; removed again, without force",
            ),
        );
    }
}

pub async fn run(settings: &Settings, args: &ReapArgs, shutdown: &Shutdown) -> ExitCode {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let grace = args.grace;
    let endpoint = settings.endpoint.to_string();
    let engine = Engine::new(settings.endpoint.clone(), settings.timeout);
    // The tmp walk is bounded like df's, not like doctor's whole-run budget.
    let facts = Facts::new(engine.clone()).with_walks(WalkLimits {
        deadline: Duration::from_secs(30),
        stall: settings.timeout,
        threads: 4,
    });
    let host = actions::journal::machine_id();
    let want = saved_plan::Expect {
        command: "reap",
        subject: None,
        host: host.as_deref(),
        endpoint: &endpoint,
        engine: None,
    };
    let saved_plan::Prepared {
        key,
        engine_id,
        saved,
    } = match saved_plan::prepare(
        args.plan.as_deref(),
        args.plan_out.is_some(),
        &settings.state_dir,
        settings.timeout,
        &facts,
        want,
    )
    .await
    {
        Ok(p) => p,
        Err((why, code)) => {
            eprintln!("dockhand: {why}");
            return code;
        }
    };
    // A saved plan is re-judged: reap plans anew, with the saved plan's options, and applies
    // only the saved steps this plan also holds.
    let shims = args.shims
        || saved
            .as_ref()
            .is_some_and(|s| s.options["shims"].as_bool().unwrap_or(false));
    let now = match plan_reap(&facts, settings, shims, grace).await {
        Ok(p) => p,
        Err(g) => {
            eprintln!("dockhand: reap acts on this host's processes and files: {g}");
            return ExitCode::Unavailable;
        }
    };
    let (mut rp, rejudged) = match (&saved, &args.plan) {
        (Some(s), Some(path)) => {
            if let Err(why) = within_bounds(&s.steps, &now) {
                eprintln!(
                    "dockhand: the plan {} is refused: {why}; nothing was done",
                    path.display()
                );
                return ExitCode::Usage;
            }
            let rp = ReapPlan {
                steps: s
                    .steps
                    .iter()
                    .map(|st| (category_of(st), st.clone()))
                    .collect(),
                notes: vec![format!(
                    "applying the plan saved in {} at {} ({} steps): each step goes only if a plan made now holds it, and is re-checked just before it acts",
                    path.display(),
                    s.created_at,
                    s.steps.len()
                )],
                ..ReapPlan::default()
            };
            (rp, Some(saved_plan::rejudge(&now.plan())))
        }
        _ => (now, None),
    };
    let plan = rp.plan();
    let mut doc = ReapDoc::new(&rp, endpoint.clone(), started_at, args.apply, args.shims);
    if !args.apply {
        if let Some(path) = &args.plan_out {
            let sp = saved_plan::SavedPlan::new(
                "reap",
                None,
                saved_plan::EngineDoc {
                    endpoint: endpoint.clone(),
                    id: engine_id.clone(),
                },
                &plan,
            )
            .with_options(serde_json::json!({ "shims": shims }));
            let written = match &key {
                Some(key) => saved_plan::save(path, &sp, key),
                None => Err(std::io::Error::other("no key")),
            };
            if let Err(e) = written {
                eprintln!("dockhand: cannot write --plan-out {}: {e}", path.display());
                return ExitCode::Usage;
            }
            rp.notes.push(format!("plan saved to {}", path.display()));
        }
        // A gap left something unjudged: the plan is not the whole story.
        let code = if rp.gaps {
            ExitCode::Partial
        } else {
            ExitCode::Ok
        };
        doc.finish(code, rp.notes.clone(), None, t0.elapsed());
        return emit(settings, args, &doc).unwrap_or(code);
    }
    crate::app::mutating(
        &settings.state_dir,
        &engine,
        shutdown,
        "reap",
        ActorOptions::default(),
        async |actor: &actions::Actor| {
            // Two phases: everything else, then the shims (their processes went first).
            let (last, first): (Vec<usize>, Vec<usize>) =
                (0..plan.steps.len()).partition(|&i| ends_a_shim(&plan.steps[i]));
            let mut reports = Vec::new();
            let mut failed = false;
            for phase in [first, last] {
                if phase.is_empty() || actor.shutdown().is_triggered() {
                    continue;
                }
                let part = Plan::new(phase.iter().map(|&i| plan.steps[i].clone()).collect());
                let judge = |s: &Step| rejudged.as_ref().and_then(|r| r.why_not(s));
                let opts = ApplyOptions {
                    rejudge: Some(&judge),
                    ..ApplyOptions::default()
                };
                let r = actions::apply(&part, actor, &opts).await;
                failed |= r.failed();
                for mut s in r.steps {
                    s.index = phase[s.index];
                    reports.push(s);
                }
                for e in r.journal_errors {
                    rp.notes
                        .push(format!("the journal could not record an outcome: {e}"));
                }
            }
            reports.sort_by_key(|s| s.index);
            doc.steps = rp
                .steps
                .iter()
                .zip(report::acting::applied(&reports, &plan))
                .map(|((c, _), v)| ReapStep {
                    category: c.as_str().to_string(),
                    step: v,
                })
                .collect();
            let code = if failed {
                ExitCode::Failed
            } else if rp.gaps {
                ExitCode::Partial
            } else {
                ExitCode::Ok
            };
            doc.finish(
                code,
                std::mem::take(&mut rp.notes),
                Some(actor.totals()),
                t0.elapsed(),
            );
            emit(settings, args, &doc).unwrap_or(code)
        },
    )
    .await
}

/// Whether every path a saved plan names is one reap itself cleans on this host now: an entry
/// of the live engine's `<data-root>/tmp`, its `<data-root>/tmp-old`, or the located daemon's
/// pid file. The signature says dockhand wrote the plan; this says it is about this daemon.
fn within_bounds(steps: &[Step], now: &ReapPlan) -> Result<(), String> {
    for s in steps {
        let path = match &s.action {
            Action::RemoveFile { path, .. }
            | Action::RemoveTree { path, .. }
            | Action::RewritePidfile { path, .. } => path,
            _ => continue,
        };
        if now.pidfile.as_deref() == Some(path.as_path()) {
            continue;
        }
        if matches!(s.action, Action::RewritePidfile { .. }) {
            return Err(format!(
                "it rewrites {}, which is not the daemon's pid file{}",
                crate::util::sanitize(&path.to_string_lossy()),
                now.pidfile.as_ref().map_or_else(String::new, |p| format!(
                    " ({})",
                    crate::util::sanitize(&p.to_string_lossy())
                ))
            ));
        }
        let Some(root) = &now.data_root else {
            return Err(format!(
                "it removes {}, and the engine's data root is not known now (its tmp was not read), so that cannot be confirmed to be Docker's",
                crate::util::sanitize(&path.to_string_lossy())
            ));
        };
        let in_tmp = path.parent() == Some(root.join("tmp").as_path());
        if !(in_tmp || *path == root.join("tmp-old")) {
            return Err(format!(
                "it removes {}, outside {}/tmp and the daemon's pid file",
                crate::util::sanitize(&path.to_string_lossy()),
                root.display()
            ));
        }
    }
    Ok(())
}

fn emit(settings: &Settings, args: &ReapArgs, doc: &ReapDoc) -> Option<ExitCode> {
    let style = settings.style();
    report::emit(|out| match args.format {
        Format::Table => report::reap::table(doc, style, out),
        Format::Json => report::reap::json(doc, out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(comm: &str, scope: Scope, reason: &str) -> Step {
        Step::new(
            Action::Terminate {
                target: ProcTarget {
                    id: ProcId {
                        pid: 9,
                        start_ticks: 1,
                    },
                    exe: None,
                    comm: comm.into(),
                    scope,
                },
                grace: Duration::from_secs(1),
            },
            reason,
        )
    }

    #[test]
    fn saved_steps_get_their_category_back() {
        let stamp = FileStamp {
            dev: 1,
            ino: 2,
            mtime_ns: 3,
            size: 4,
        };
        let shim = ProcId {
            pid: 5,
            start_ticks: 6,
        };
        let cases = [
            (
                term("containerd-shim", Scope::DockerProgram, "orphan shim of x"),
                Category::OrphanShim,
            ),
            (
                term("docker-proxy", Scope::DockerProgram, "leaked"),
                Category::LeakedProxy,
            ),
            (
                term(
                    "sleep",
                    Scope::DescendantOf(shim),
                    "a process of container x under an orphan shim",
                ),
                Category::OrphanShimTask,
            ),
            (
                term("sh", Scope::DescendantOf(shim), "parent of 2 zombies"),
                Category::ZombieParent,
            ),
            (
                Step::new(
                    Action::RemoveTree {
                        path: "/var/lib/docker/tmp-old".into(),
                        stamp,
                    },
                    "x",
                ),
                Category::Tmp,
            ),
            (
                Step::new(
                    Action::RemoveFile {
                        path: "/var/lib/docker/tmp/GetImageBlob1".into(),
                        stamp,
                    },
                    "x",
                ),
                Category::Tmp,
            ),
            (
                Step::new(
                    Action::RemoveFile {
                        path: "/var/run/docker.pid".into(),
                        stamp,
                    },
                    "x",
                ),
                Category::Pidfile,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(category_of(&s), want, "{}", s.action.describe());
        }
        assert!(ends_a_shim(&term(
            "containerd-shim-runc-v2",
            Scope::DockerProgram,
            ""
        )));
        assert!(!ends_a_shim(&term(
            "docker-proxy",
            Scope::DockerProgram,
            ""
        )));
    }
}
