//! `containers.ghost`: containers the engine calls running whose main process is gone from
//! /proc, or is a zombie nobody reaps — the daemon missed the exit (moby#43491). The verdicts:
//! [`policy::main_pid`], [`policy::pid_seen`].
//!
//! Never flags: a container that exited a moment ago (suspects are looked at again after a
//! pause, and re-inspected: only those still running with the same pid count); anything when
//! the daemon's pids mean nothing here (another host, another pid namespace, /proc hiding other
//! users' processes) — then it says unknown.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::{Ctx, and_others, brief_with, label, plural, records, when};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::containers::{self as policy, PidSeen};
use crate::runtime::blocking;
use crate::runtime::host::ProcRow;
use crate::runtime::inventory::ContainerRecord;

/// How long a suspect is given to turn out to have just exited.
const SECOND_LOOK: Duration = Duration::from_millis(300);

/// The state letter of a process, read now (`None`: no such process).
fn proc_state(pid: i32) -> Option<char> {
    crate::runtime::proc::stat(pid).map(|s| s.state)
}

/// A ghost: the container, what /proc says of its pid, its shim, the pid's parent.
type Ghost<'a> = (
    &'a ContainerRecord,
    i32,
    PidSeen,
    Option<&'a ProcRow>,
    Option<i32>,
);

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    // Podman's containers hang under their conmon, not under the service, which may have
    // exited when idle: their pids are judged without it, against the host's /proc (pid 1
    // stands in for the service in the visibility check below).
    let podman = ctx.engine_kind().await.is_podman();
    let (daemon_pid, who, service_here) = match ctx.located_daemon().await {
        Ok(d) => (d.info.pid, "the daemon", true),
        Err(_) if podman => (1, "init", false),
        Err(f) => return f,
    };
    if other_pid_namespace(ctx, daemon_pid).await {
        return Finding::new(
            Status::Unknown,
            format!(
                "the daemon (pid {daemon_pid}) runs in another pid namespace: its containers' pids mean nothing here"
            ),
        );
    }
    let procs = match ctx.processes().await {
        Ok(p) => p,
        Err(g) => return crate::doctor::checks::gap(&g),
    };
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|p| (p.pid, p)).collect();
    if !by_pid.contains_key(&daemon_pid) {
        // /proc mounted with hidepid: other users' processes are invisible, not gone.
        return Finding::new(
            Status::Unknown,
            format!(
                "{who}'s process (pid {daemon_pid}) is not in this user's view of /proc (hidepid?): run as root"
            ),
        );
    }
    let running: Vec<(&ContainerRecord, i32)> = all
        .iter()
        .filter_map(|c| Some((c, policy::main_pid(c)?)))
        .collect();
    // Without Podman's service to anchor the pid namespace, its conmons must be in sight: a
    // dockhand in a container of its own pid namespace sees none, and every pid would look gone.
    if podman && !service_here && !running.is_empty() && !procs.iter().any(|p| p.comm == "conmon") {
        return Finding::new(
            Status::Unknown,
            "no conmon process is in sight in this /proc: the containers' pids mean nothing here (another pid namespace? run with --pid host)",
        );
    }
    let suspects: Vec<(&ContainerRecord, i32)> = running
        .iter()
        .copied()
        .filter(|(_, pid)| policy::pid_seen(by_pid.get(pid).map(|p| p.state)) != PidSeen::Alive)
        .collect();
    if suspects.is_empty() {
        return all_alive(running.len(), "");
    }
    let ghosts = second_look(ctx, suspects, procs, &by_pid).await;
    if ghosts.is_empty() {
        return all_alive(running.len(), "; some had just exited");
    }
    ghost_finding(&ghosts, running.len())
}

/// Whether the daemon runs in another pid namespace than this process. Containers' pids are
/// numbers in the daemon's pid namespace: from another one (a rootless daemon with its own,
/// dockhand in a container) every container would look gone.
async fn other_pid_namespace(ctx: &Ctx<'_>, daemon_pid: i32) -> bool {
    blocking(ctx.timeout(), move || {
        let ns = crate::runtime::proc::pid_namespace;
        match (ns(None), ns(Some(daemon_pid))) {
            (Some(a), Some(b)) => a != b,
            _ => false, // unreadable (not root): the visibility check below still applies
        }
    })
    .await
    .unwrap_or(false)
}

/// The all-clear, with how many running containers were checked.
fn all_alive(checked: usize, note: &str) -> Finding {
    Finding::new(
        Status::Ok,
        format!("every running container's process is alive ({checked} checked{note})"),
    )
    .evidence(json!({ "count": 0, "checked": checked, "containers": [] }))
}

/// The suspects that are still ghosts after a pause: a container that exited a moment ago
/// looks the same until the daemon hears of it, so /proc is read again and the engine asked
/// once more about these few.
async fn second_look<'a>(
    ctx: &Ctx<'_>,
    suspects: Vec<(&'a ContainerRecord, i32)>,
    procs: &'a [ProcRow],
    by_pid: &HashMap<i32, &ProcRow>,
) -> Vec<Ghost<'a>> {
    tokio::time::sleep(SECOND_LOOK).await;
    let mut ghosts: Vec<Ghost> = Vec::new();
    for (c, pid) in suspects {
        let seen = blocking(ctx.timeout(), move || policy::pid_seen(proc_state(pid))).await;
        let Some(seen) = seen.filter(|s| *s != PidSeen::Alive) else {
            continue;
        };
        let still = match ctx
            .engine
            .get_json::<ContainerRecord>(&format!("/containers/{}/json", c.id))
            .await
        {
            Ok(t) => policy::main_pid(&t.value) == Some(pid),
            // Gone from the engine as well: not a ghost.
            Err(_) => false,
        };
        if !still {
            continue;
        }
        let shim = procs.iter().find(|p| {
            // The shim by what it runs (never by its name), as every command judges it.
            p.program(None) == Some(crate::policy::identity::DockerProgram::Shim)
                && p.cmdline.windows(2).any(|w| w[0] == "-id" && w[1] == c.id)
        });
        let parent = by_pid.get(&pid).map(|p| p.ppid);
        ghosts.push((c, pid, seen, shim, parent));
    }
    ghosts
}

/// The critical finding for the ghosts found (`ghosts` is not empty): the first one named,
/// each one in the evidence, and the fix for the first.
fn ghost_finding(ghosts: &[Ghost<'_>], checked: usize) -> Finding {
    let (c, pid, seen, shim, _) = ghosts[0];
    let items: Vec<_> = ghosts
        .iter()
        .map(|(c, pid, seen, shim, parent)| {
            brief_with(
                c,
                json!({
                    "pid": pid,
                    "process": match seen {
                        PidSeen::Gone => "gone",
                        PidSeen::Zombie => "zombie",
                        PidSeen::Alive => "alive",
                    },
                    "parent_pid": parent,
                    "shim": shim.map(|s| json!({ "pid": s.pid, "state": s.state.to_string() })),
                    "started_at": c.state.started_at.map(when),
                }),
            )
        })
        .collect();
    let what = match seen {
        PidSeen::Zombie => "is dead but not reaped (a zombie)",
        _ => "is gone",
    };
    let shim_note = match shim {
        Some(s) if s.state == 'T' => format!("; its shim {} is stopped", s.pid),
        Some(s) => format!("; its shim is pid {}", s.pid),
        None => "; no shim serves it".to_string(),
    };
    let name = label(c);
    let summary = format!(
        "{} the engine calls running {} no process: {name}'s pid {pid} {what}{shim_note} (moby#43491){}",
        plural(ghosts.len(), "container", "containers"),
        if ghosts.len() == 1 { "has" } else { "have" },
        and_others(ghosts[1..].iter().map(|g| label(g.0))),
    );
    Finding::new(Status::Critical, summary)
        .evidence(json!({ "count": ghosts.len(), "checked": checked, "containers": items }))
        .fix(ghost_fix(name, shim))
}

/// Wake a stopped shim first; then remove the container, and restart the daemon if the
/// engine still says running.
fn ghost_fix(name: &str, shim: Option<&ProcRow>) -> Fix {
    let mut fix = Fix::default();
    if let Some(s) = shim.filter(|s| s.state == 'T') {
        let shim_pid = s.pid.to_string();
        fix = fix.then_run(
            &["kill", "-CONT", &shim_pid],
            format!(
                "Its shim (pid {shim_pid}) is stopped: `kill -CONT {shim_pid}` lets it collect the exit and tell the daemon."
            ),
        );
    }
    fix.then_run(
        &["docker", "rm", "-f", name],
        format!(
            "The daemon lost the container's exit. Try `docker rm -f {name}` (or `docker restart` it);"
        ),
    )
    .then_run(
        &["dockhand", "recover"],
        "if the engine still says running, restart the daemon so it re-reads containerd's state — `dockhand recover` does it live-restore-aware.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_live_process_state() {
        let me = std::process::id() as i32;
        assert!(matches!(proc_state(me), Some('R' | 'S')));
        assert_eq!(proc_state(i32::MAX), None);
    }
}
