//! The recover plan: from the diagnosis and the options, which steps in which stage. The dry
//! run prints it; `--apply` carries it out stage by stage. The clean-up stage is planned again
//! once the old process is gone (a pid file is stale, a docker-proxy orphaned, only then), with
//! the same rules ([`pidfile_repair`], [`judge_proxy`]) `doctor` and `reap` use.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::diagnose::Diagnosis;
use crate::actions::{Action, DaemonStart, DaemonStop, FileStamp, ProcTarget, Scope, Step};
use crate::policy::daemon::recovery::{again_wait, expected_running, will_stop};
use crate::policy::daemon::{PidfileRepair, pidfile_repair};
use crate::policy::identity::DockerProgram;
use crate::policy::ports::{ProxyScope, ProxySeen, ProxyVerdict, judge_proxy};
use crate::runtime::daemon::ServiceManager;
use crate::runtime::host::{self, ProcRow};
use crate::runtime::net::parse_docker_proxy;
use crate::runtime::pidfile::{self, PidfileRead};

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Bundle,
    Stop,
    Clean,
    Start,
    Verify,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Bundle => "bundle",
            Stage::Stop => "stop",
            Stage::Clean => "clean",
            Stage::Start => "start",
            Stage::Verify => "verify",
        }
    }
}

/// One line of the plan: an action, or what recover itself does (writing the bundle, waiting,
/// verifying), or a step that depends on what the stop leaves behind (`when`).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub stage: Stage,
    /// The action's kind (`daemon.stop`), when the item is an action.
    pub action: Option<&'static str>,
    pub describe: String,
    pub reason: String,
    /// The condition under which it happens, for steps planned again after the stop.
    pub when: Option<String>,
    #[serde(skip)]
    pub step: Option<Step>,
}

impl Item {
    fn act(stage: Stage, step: Step) -> Item {
        Item {
            stage,
            action: Some(step.action.kind()),
            describe: step.action.describe(),
            reason: step.reason.clone(),
            when: None,
            step: Some(step),
        }
    }

    fn note(stage: Stage, describe: impl Into<String>, reason: impl Into<String>) -> Item {
        Item {
            stage,
            action: None,
            describe: describe.into(),
            reason: reason.into(),
            when: None,
            step: None,
        }
    }

    fn when(mut self, w: impl Into<String>) -> Item {
        self.when = Some(w.into());
        self
    }
}

/// How the daemon is started again, as the options and the host say.
#[derive(Debug, Clone)]
pub struct Starter {
    pub how: DaemonStart,
    /// Where it came from: "systemd", "openrc", "sysvinit", "--start-cmd", "config".
    pub from: &'static str,
}

/// The plan's knobs, resolved from flags and config.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub grace: Duration,
    pub start_timeout: Duration,
    pub bundle: bool,
    pub state_dir: PathBuf,
    /// The grace of ports.leaked-proxy (a young proxy of a live daemon may be starting).
    pub proxy_grace_s: f64,
}

/// How the daemon is stopped: through its service manager, else the escalation on its process.
pub fn stopper(diag: &Diagnosis, grace: Duration) -> Option<DaemonStop> {
    let p = diag.process.as_ref()?;
    Some(match &p.service {
        ServiceManager::Systemd { unit } => DaemonStop::Systemd { unit: unit.clone() },
        ServiceManager::Openrc => DaemonStop::Openrc {
            service: "docker".into(),
        },
        ServiceManager::Sysvinit { script } => DaemonStop::Sysvinit {
            script: script.clone(),
        },
        ServiceManager::None { .. } => DaemonStop::Process {
            target: p.target.clone()?,
            again: again_wait(grace),
        },
        // `starter` refuses the whole run first; no stop is planned for it either.
        ServiceManager::Refused { .. } => return None,
    })
}

/// The escalation on the process itself, for when a service manager's stop leaves it running.
pub fn process_stop(diag: &Diagnosis, grace: Duration) -> Option<DaemonStop> {
    let p = diag.process.as_ref()?;
    Some(DaemonStop::Process {
        target: p.target.clone()?,
        again: again_wait(grace),
    })
}

/// The whole plan, as the dry run shows it: stage by stage.
pub fn build(diag: &Diagnosis, knobs: &Knobs, starter: &Starter, api_dump: bool) -> Vec<Item> {
    let mut items = Vec::new();
    bundle_items(diag, knobs, api_dump, &mut items);
    stop_items(diag, knobs, &mut items);
    clean_items(diag, knobs, starter, &mut items);
    start_items(diag, knobs, starter, &mut items);
    items
}

fn bundle_items(diag: &Diagnosis, knobs: &Knobs, api_dump: bool, items: &mut Vec<Item>) {
    if knobs.bundle {
        items.push(Item::note(
            Stage::Bundle,
            format!(
                "write an incident bundle to {}/incidents/<time>/: doctor's report, /proc of the daemon, its log, a goroutine dump",
                knobs.state_dir.display()
            ),
            "evidence of why it hung, before the restart erases it",
        ));
        items.extend(
            bundle_signals(diag, api_dump)
                .into_iter()
                .map(|s| Item::act(Stage::Bundle, s)),
        );
    }
}

fn stop_items(diag: &Diagnosis, knobs: &Knobs, items: &mut Vec<Item>) {
    let pid = diag.process.as_ref().map(|p| p.pid);
    if let Some(how) = stopper(diag, knobs.grace) {
        let manager = !matches!(how, DaemonStop::Process { .. });
        items.push(Item::act(
            Stage::Stop,
            Step::new(
                Action::StopDaemon {
                    how,
                    grace: knobs.grace,
                },
                grace_reason(diag, knobs.grace),
            ),
        ));
        if manager && let Some(how) = process_stop(diag, knobs.grace) {
            items.push(
                Item::act(
                    Stage::Stop,
                    Step::new(
                        Action::StopDaemon {
                            how,
                            grace: knobs.grace,
                        },
                        "the service manager's stop did not end the process",
                    ),
                )
                .when("only if the process is still there after the service manager's stop"),
            );
        }
        items.push(Item::note(
            Stage::Stop,
            format!("wait until pid {} is gone", pid.unwrap_or_default()),
            "nothing is cleaned or started while the old process lives",
        ));
    }
}

/// The clean-up as planned: most of it is judged again once the old process is gone.
fn clean_items(diag: &Diagnosis, knobs: &Knobs, starter: &Starter, items: &mut Vec<Item>) {
    let pid = diag.process.as_ref().map(|p| p.pid);
    if let Some(paths) = &diag.paths {
        items.push(
            Item::note(
                Stage::Clean,
                format!("remove the pid file {}", paths.pidfile.display()),
                "dockerd refuses to start while its pid file names a live process (moby#46988)",
            )
            .when("only if it is left naming a pid that is gone or is not dockerd"),
        );
    }
    for step in leaked_proxies(diag, pid, knobs.proxy_grace_s, &process_rows()) {
        items.push(
            Item::act(Stage::Clean, step).when("if it is still leaked once the daemon is gone"),
        );
    }
    items.push(
        Item::note(
            Stage::Clean,
            "stop every docker-proxy the old daemon leaves behind",
            "a leaked proxy holds its host port: the restored container's port is \"already allocated\"",
        )
        .when("judged once the daemon is gone, by the rules of ports.leaked-proxy"),
    );
    if let Some(sock) = socket_path(diag) {
        items.push(
            Item::note(
                Stage::Clean,
                format!("remove the socket {}", sock.display()),
                "a socket file nothing listens on",
            )
            .when("only if nothing listens on it"),
        );
    }
    if let DaemonStart::Systemd { unit } = &starter.how {
        items.push(
            Item::act(
                Stage::Clean,
                Step::new(
                    Action::ResetFailed { unit: unit.clone() },
                    "the unit hit its start limit (StartLimitBurst): systemd refuses every start until this",
                ),
            )
            .when("only if the unit's Result is start-limit-hit"),
        );
    }
}

fn start_items(diag: &Diagnosis, knobs: &Knobs, starter: &Starter, items: &mut Vec<Item>) {
    items.push(Item::act(
        Stage::Start,
        Step::new(
            Action::StartDaemon {
                how: starter.how.clone(),
            },
            format!("started as {}", starter.from),
        ),
    ));
    let expected = expected_running(&diag.containers, diag.live_restore == Some(true));
    items.push(Item::note(
        Stage::Verify,
        format!(
            "wait for the ping and a container list (up to {}); check {} container{} run{} again",
            crate::util::human_duration(knobs.start_timeout),
            expected.len(),
            if expected.len() == 1 { "" } else { "s" },
            if expected.len() == 1 { "s" } else { "" },
        ),
        if diag.live_restore == Some(true) {
            "live-restore keeps running containers running across the restart".to_string()
        } else {
            "containers with restart policy always or unless-stopped start with the daemon"
                .to_string()
        },
    ));
}

/// The signals of the bundle stage: SIGUSR1 for the goroutine dump when the API cannot give
/// it, and SIGCONT first for a stopped process (it handles no signal until continued).
pub fn bundle_signals(diag: &Diagnosis, api_dump: bool) -> Vec<Step> {
    let Some(p) = &diag.process else {
        return Vec::new();
    };
    let Some(target) = &p.target else {
        return Vec::new();
    };
    if api_dump || !matches!(p.state, 'R' | 'S' | 'D' | 'T' | 'I') {
        return Vec::new();
    }
    let mut out = vec![Step::new(
        Action::Signal {
            target: target.clone(),
            signal: "SIGUSR1".into(),
        },
        format!(
            "dockerd writes a goroutine dump (goroutine-stacks-<time>.log) into {} on SIGUSR1",
            diag.paths.as_ref().map_or("its exec root".into(), |p| p
                .exec_root
                .display()
                .to_string())
        ),
    )];
    if p.state == 'T' {
        out.push(Step::new(
            Action::Signal {
                target: target.clone(),
                signal: "SIGCONT".into(),
            },
            "a stopped process handles no signal: continued so the dump is written (the restart follows)",
        ));
    }
    out
}

fn grace_reason(diag: &Diagnosis, grace: Duration) -> String {
    let running = diag.running();
    match diag.live_restore {
        Some(true) => format!(
            "{}; live-restore is on, so the {running} running container{} keep running; grace {}",
            diag.need.why(),
            if running == 1 { "" } else { "s" },
            crate::util::human_duration(grace)
        ),
        _ => format!(
            "{}; without live-restore dockerd stops {running} container{} first (shutdown-timeout {} each); grace {}",
            diag.need.why(),
            if running == 1 { "" } else { "s" },
            crate::util::human_duration(diag.shutdown_timeout),
            crate::util::human_duration(grace)
        ),
    }
}

/// The daemon's unix socket, when it listens on one.
pub fn socket_path(diag: &Diagnosis) -> Option<PathBuf> {
    let ep = diag.endpoint.strip_prefix("unix://")?;
    Some(PathBuf::from(ep))
}

/// The process table, read now (bounded by the caller's blocking deadline).
pub fn process_rows() -> Vec<ProcRow> {
    host::process_table()
}

/// docker-proxy processes that are leaked by the reap rules ([`judge_proxy`]): children of a
/// daemon that no longer serves them, and orphans (with several daemons on the host, only those
/// that forward into one of this daemon's networks).
pub fn leaked_proxies(
    diag: &Diagnosis,
    daemon_pid: Option<i32>,
    grace_s: f64,
    procs: &[ProcRow],
) -> Vec<Step> {
    let by_pid: std::collections::HashMap<i32, &ProcRow> =
        procs.iter().map(|p| (p.pid, p)).collect();
    // Docker's programs by what they run, never by name (see `policy::identity`); a rootless
    // daemon is never restarted by recover, so root's programs only.
    let live_dockerds = procs
        .iter()
        .filter(|p| p.program(None) == Some(DockerProgram::Dockerd) && p.state != 'Z')
        .count();
    let scope = ProxyScope {
        daemon_pid: daemon_pid.unwrap_or(0),
        live_dockerds,
        subnets: &diag.subnets,
        grace_s,
    };
    let mut out = Vec::new();
    for p in procs
        .iter()
        .filter(|p| p.state != 'Z' && p.program(None) == Some(DockerProgram::Proxy))
    {
        let Some(args) = parse_docker_proxy(&p.cmdline) else {
            continue;
        };
        // A child of the daemon while it still lives is judged once it is gone: it dies with
        // the daemon (docker-proxy has a parent-death signal) or is an orphan by then.
        if daemon_pid == Some(p.ppid) {
            continue;
        }
        let seen = ProxySeen {
            ppid: p.ppid,
            parent: by_pid
                .get(&p.ppid)
                .map(|pp| (pp.docker_name(None), pp.state)),
            args: &args,
            age_s: None,
        };
        // The daemon is being restarted: none of its containers is served by it now, so a
        // child of it counts as serving nothing (records: none).
        let ProxyVerdict::Leaked { why } = judge_proxy(&seen, &[], &scope) else {
            continue;
        };
        let Some(target) = ProcTarget::capture(p.pid, Scope::DockerProgram) else {
            continue;
        };
        out.push(Step::new(
            Action::Terminate {
                target,
                grace: Duration::from_secs(2),
            },
            format!(
                "leaked docker-proxy ({}) holds {} port {}:{} for {}:{}",
                match why {
                    crate::policy::ports::Leak::Orphan => "its parent is not a live dockerd",
                    crate::policy::ports::Leak::ContainerGone =>
                        "no running container of the daemon publishes it",
                },
                args.proto,
                if args.host_ip.is_empty() {
                    "*"
                } else {
                    &args.host_ip
                },
                args.host_port,
                args.container_ip,
                args.container_port
            ),
        ));
    }
    out
}

/// The clean-up steps, judged now that the old process is gone.
pub fn clean_steps(diag: &Diagnosis, old_pid: Option<i32>, grace_s: f64) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(paths) = &diag.paths {
        if let Some(step) = pidfile_step(&paths.pidfile) {
            steps.push(step);
        }
        if let Some(step) =
            containerd_pidfile_step(&paths.exec_root.join("containerd/containerd.pid"))
        {
            steps.push(step);
        }
    }
    steps.extend(leaked_proxies(diag, old_pid, grace_s, &process_rows()));
    if let Some(sock) = socket_path(diag)
        && let Some(step) = socket_step(&sock)
    {
        steps.push(step);
    }
    steps
}

/// Removes the pid file when [`pidfile_repair`] says so (no daemon serves now).
pub fn pidfile_step(path: &Path) -> Option<Step> {
    let PidfileRead { state, named } = pidfile::judge(path, None, pidfile::Owner::Engine);
    if pidfile_repair(&state, None) != PidfileRepair::Remove {
        return None;
    }
    let stamp = FileStamp::of(path).ok()?;
    let pid = state.named_pid().unwrap_or_default();
    let what = match named {
        None => "is gone".to_string(),
        Some(i) if i.state == 'Z' => format!("is a zombie {} nobody reaped", i.comm),
        Some(i) => format!("is {}, not dockerd", crate::util::sanitize(&i.comm)),
    };
    Some(Step::new(
        Action::RemoveFile {
            path: path.to_path_buf(),
            stamp,
        },
        format!(
            "the pid file names pid {pid}, which {what}: dockerd would refuse to start (\"pid file found\")"
        ),
    ))
}

/// Removes the pid file of the containerd dockerd supervises (`<exec-root>/containerd/
/// containerd.pid`) when it names a pid that is gone, a zombie, or not containerd: dockerd
/// takes any live pid there for its containerd and waits on that containerd's socket forever.
/// A KILLed dockerd leaves it behind (its containerd dies with it, and may stay an unreaped
/// zombie where init does not reap).
pub fn containerd_pidfile_step(path: &Path) -> Option<Step> {
    let PidfileRead { state, named } = pidfile::judge(path, None, pidfile::Owner::Containerd);
    if pidfile_repair(&state, None) != PidfileRepair::Remove {
        return None;
    }
    let stamp = FileStamp::of(path).ok()?;
    let pid = state.named_pid().unwrap_or_default();
    let what = match named {
        None => "is gone".to_string(),
        Some(i) if i.state == 'Z' => format!("is a zombie {} nobody reaped", i.comm),
        Some(i) => format!("is {}, not containerd", crate::util::sanitize(&i.comm)),
    };
    Some(Step::new(
        Action::RemoveFile {
            path: path.to_path_buf(),
            stamp,
        },
        format!(
            "containerd's pid file names pid {pid}, which {what}: dockerd would wait on that containerd's socket forever"
        ),
    ))
}

/// Removes the socket file when nothing listens on it.
pub fn socket_step(path: &Path) -> Option<Step> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_socket() {
        return None;
    }
    if host::unix_socket_owners(path).listening {
        return None;
    }
    let stamp = FileStamp::of(path).ok()?;
    Some(Step::new(
        Action::RemoveFile {
            path: path.to_path_buf(),
            stamp,
        },
        "a socket file nothing listens on, left by the old daemon",
    ))
}

/// The running containers that a restart without live-restore stops.
pub fn stopping(diag: &Diagnosis) -> Vec<String> {
    will_stop(&diag.containers, diag.live_restore)
        .iter()
        .map(|c| c.name.clone())
        .collect()
}
