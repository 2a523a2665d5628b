//! The daemon area: is the daemon reachable and answering, what state its process is in, and
//! how it is configured. One file per check; the verdicts are in [`crate::policy::daemon`].
//! This module keeps the registry and what several of the checks say alike: where the daemon
//! is, and the fixes for a daemon that is down, hung or stopped.

mod config;
mod live_restore;
mod log_rotation;
mod pidfile;
mod process;
mod reachable;
mod responsive;
mod tcp_exposed;
mod warnings;

use std::path::Path;

use serde_json::Value;

use super::{Ctx, Probe, engine_silent, gap, probe};
use crate::doctor::{Finding, Fix, Status};
use crate::facts::Gap;
use crate::policy::daemon::PidfileState;
use crate::runtime::blocking;
use crate::runtime::daemon::{Located, ServiceManager};
use crate::runtime::host::{self, ProcInfo};
use crate::runtime::pidfile::{Owner, judge as judge_pidfile};

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("daemon.reachable", reachable::check),
        probe!("daemon.responsive", responsive::check),
        probe!("daemon.process", process::check),
        probe!("daemon.pidfile", pidfile::check),
        probe!("daemon.config", config::check),
        probe!("daemon.live-restore", live_restore::check),
        probe!("daemon.log-rotation", log_rotation::check),
        probe!("daemon.tcp-exposed", tcp_exposed::check),
        probe!("daemon.warnings", warnings::check),
    ]
}

/// Where the daemon is (running here, or not), or the finding that says why that is not known:
/// the engine is on another host, or /proc did not answer in time.
async fn located<'c>(ctx: &'c Ctx<'_>) -> Result<&'c Located, Finding> {
    match ctx.located().await {
        Ok(Located::Remote) => Err(gap(&Gap::Remote {
            endpoint: ctx.engine.endpoint().to_string(),
        })),
        Ok(l) => Ok(l),
        Err(g) => Err(gap(&g)),
    }
}

/// `/info`, or the finding that says why a check cannot have it.
async fn answered_info<'c>(ctx: &'c Ctx<'_>) -> Result<&'c Value, Finding> {
    ctx.info().await.map_err(|g| match g {
        Gap::EngineSilent(_) => engine_silent(),
        Gap::Engine { .. } => Finding::new(
            Status::Unknown,
            "/info did not answer (see daemon.responsive)",
        ),
        g => gap(&g),
    })
}

/// The finding of a read that did not finish within the deadline.
fn timed_out(ctx: &Ctx<'_>, what: impl Into<String>) -> Finding {
    gap(&Gap::TimedOut {
        what: what.into(),
        after: ctx.timeout(),
    })
}

/// The command that does `verb` (`start`, `restart`, `reload`) to the daemon through its
/// service manager; `None` when nothing manages it.
fn service_argv(service: &ServiceManager, verb: &str) -> Option<Vec<String>> {
    let v = |a: &[&str]| Some(a.iter().map(|s| (*s).to_string()).collect());
    match service {
        ServiceManager::Systemd { unit } => v(&["systemctl", verb, unit]),
        ServiceManager::Openrc => v(&["rc-service", "docker", verb]),
        ServiceManager::Sysvinit { script } => v(&[script, verb]),
        ServiceManager::None { .. } | ServiceManager::Refused { .. } => None,
    }
}

/// A fix step that runs `argv`.
fn run_step(fix: Fix, argv: &[String], text: impl Into<String>) -> Fix {
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    fix.then_run(&argv, text)
}

/// What the pid file at `path` names, judged against the daemon serving the API (`daemon`),
/// and the process it names — read under the deadline. `None`: the read did not finish.
async fn read_pidfile(
    ctx: &Ctx<'_>,
    path: &Path,
    daemon: Option<i32>,
) -> Option<(PidfileState, Option<ProcInfo>)> {
    let p = path.to_path_buf();
    blocking(ctx.timeout(), move || {
        let read = judge_pidfile(&p, daemon, Owner::Engine);
        (read.state, read.named)
    })
    .await
}

/// What to do when nothing serves the socket: clear a pid file that would block the start, start
/// the daemon through its service manager, read its log. Looks at the pid file and pid 1 only
/// when the engine did not answer.
async fn down_fix(ctx: &Ctx<'_>) -> Fix {
    if ctx.engine_answered().await {
        return Fix::default();
    }
    let mut fix = Fix::default();
    if let Ok(Located::NotRunning { paths, .. }) = ctx.located().await
        && let Some((state, named)) = read_pidfile(ctx, &paths.pidfile, None).await
    {
        let shown = paths.pidfile.display();
        match state {
            PidfileState::NotEngine(p) => {
                fix = fix.then_run(
                    &["dockhand", "reap"],
                    format!(
                        "The pid file {shown} names pid {p}, a running {} that is not dockerd: dockerd will refuse to start until it is removed — `dockhand reap` removes it safely.",
                        named.map_or("process".to_string(), |i| format!("`{}`", i.comm))
                    ),
                );
            }
            PidfileState::OtherEngine(p) => {
                fix = fix.then_advice(format!(
                    "The pid file {shown} names pid {p}, another running container engine: this daemon cannot start while it runs — stop it, or give each daemon its own --pidfile."
                ));
            }
            _ => {}
        }
    }
    let systemd = blocking(ctx.timeout(), || host::comm(1))
        .await
        .flatten()
        .is_some_and(|c| c == "systemd");
    fix = if systemd {
        fix.then_run(
            &["systemctl", "start", "docker"],
            "Start the daemon through its service manager (`systemctl start docker`) and read its log (`journalctl -u docker`).",
        )
    } else {
        fix.then_run(
            &["service", "docker", "start"],
            "Start the daemon through its service manager (`service docker start`) and read its log.",
        )
    };
    fix.then_advice("If the daemon listens elsewhere, pass --host or set DOCKER_HOST.")
}

/// What to do when the daemon accepts connections but does not answer: resume it when it is
/// stopped; else capture a stack dump, mind live-restore, restart — `dockhand recover`.
async fn stuck_fix(ctx: &Ctx<'_>) -> Fix {
    let recover = "`dockhand recover` does this escalation and verifies it.";
    match ctx.located().await {
        Ok(Located::Found(d)) => {
            let pid = d.info.pid;
            if matches!(d.info.state, 'T' | 't') {
                return resume_fix(pid);
            }
            let fix = Fix::run(
                &["kill", "-USR1", &pid.to_string()],
                format!(
                    "Capture a stack dump (`kill -USR1 {pid}`: dockerd writes goroutine-stacks-*.log into {}),",
                    d.paths.exec_root.display()
                ),
            )
            .then_advice("check live-restore (without it a restart stops every container),");
            fix.then_run(
                &["dockhand", "recover"],
                format!("then restart it through {} — {recover}", d.service),
            )
        }
        _ => Fix::advice("Capture a stack dump (kill -USR1 <dockerd pid>), then restart the daemon through its service manager —")
            .then_run(&["dockhand", "recover"], recover),
    }
}

/// Resume a stopped daemon.
fn resume_fix(pid: i32) -> Fix {
    Fix::run(
        &["kill", "-CONT", &pid.to_string()],
        format!(
            "dockerd (pid {pid}) is stopped: resume it with `kill -CONT {pid}`, and find out who stopped it."
        ),
    )
}
