//! The daemon's own health: reachable, responsive, and its process.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Ctx, Probe, err_json, ms, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::daemon::Located;
use crate::runtime::engine::EngineError;
use crate::runtime::host::{self, now_secs};
use crate::util::{human_bytes, human_duration, sanitize};

pub mod config;

pub fn probes() -> Vec<Probe> {
    let mut v = vec![
        probe!("daemon.reachable", reachable),
        probe!("daemon.responsive", responsive),
        probe!("daemon.process", process),
    ];
    v.extend(config::probes());
    v
}

/// `daemon.reachable`: the socket exists, may be opened, accepts a connection.
pub async fn reachable(ctx: &Ctx<'_>) -> Finding {
    let ep = ctx.engine.endpoint();
    let evidence = json!({ "endpoint": ep.to_string() });
    let ping = Some(&ctx.ping().await.0);
    let down = down_remedy(ctx).await;
    match ping {
        None => Finding::new(Status::Unknown, "the engine was not probed").evidence(evidence),
        // Any answer — even an error status or no answer after connecting — means the
        // connection was accepted; whether it answers is daemon.responsive's question.
        Some(Ok(t)) => Finding::new(Status::Ok, format!("{ep} accepts connections ({})", ms(t.elapsed))).evidence(evidence),
        Some(Err(EngineError::Frozen { .. } | EngineError::Api { .. } | EngineError::Protocol { .. })) => {
            Finding::new(Status::Ok, format!("{ep} accepts connections")).evidence(evidence)
        }
        Some(Err(e @ EngineError::PermissionDenied { path })) => Finding::new(Status::Unknown, e.to_string())
            .remedy(format!(
                "Run dockhand as root, or add this user to the group that owns {} (usually docker; membership is root-equivalent).",
                path.display()
            ))
            .evidence(json!({ "endpoint": ep.to_string(), "error": err_json(e) })),
        Some(Err(e)) => Finding::new(Status::Critical, e.to_string())
            .remedy(down)
            .evidence(json!({ "endpoint": ep.to_string(), "error": err_json(e) })),
    }
}

/// What to do when the daemon is down. Looks at the pid file only when the engine did not
/// answer (the lookup is shared with daemon.process, so it costs nothing extra).
async fn down_remedy(ctx: &Ctx<'_>) -> String {
    if ctx.engine_answered().await {
        return String::new();
    }
    let mut r = String::from(
        "Start the daemon through its service manager (systemctl start docker, or service docker start) and read its log (journalctl -u docker)",
    );
    if let Ok(Located::NotRunning { paths, .. }) = ctx.located().await
        && let Some(pid) = crate::runtime::daemon::read_pidfile(&paths.pidfile)
    {
        r.push_str(&format!(
            "; the pid file {} still names pid {pid}: if that pid is gone or is not dockerd, the file blocks the start (dockhand reap removes it safely)",
            paths.pidfile.display()
        ));
    }
    r.push_str(". If the daemon listens elsewhere, pass --host or set DOCKER_HOST.");
    r
}

/// `daemon.responsive`: ping, then list containers, then info — each timed, each under the
/// deadline — and the classification: healthy, slow, down, frozen, wedged, permission, error.
pub async fn responsive(ctx: &Ctx<'_>) -> Finding {
    let slow_ms = ctx.th("daemon.responsive", "slow_ms");
    let (ping_r, ping_t) = ctx.ping().await;
    let tiers = ctx.tiers().await;
    let mut probes = Vec::new();
    let mut record = |name: &str, r: Result<Duration, &EngineError>, took: Duration| {
        probes.push(match r {
            Ok(d) => json!({ "name": name, "ok": true, "latency_ms": crate::util::millis(d), "error": Value::Null }),
            Err(e) => json!({ "name": name, "ok": false, "latency_ms": crate::util::millis(took), "error": e.to_string() }),
        });
    };
    let ping = Some(ping_r.as_ref().map(|t| t.elapsed));
    record("ping", ping_r.as_ref().map(|t| t.elapsed), *ping_t);
    let list = tiers.containers.map(|(r, t)| {
        let r = r.as_ref().map(|x| x.elapsed);
        record("containers", r, *t);
        r
    });
    let info = tiers.info.map(|(r, t)| {
        let r = r.as_ref().map(|x| x.elapsed);
        record("info", r, *t);
        r
    });
    let pid = match ctx.located().await {
        Ok(Located::Found(d)) => Some(d.info.pid),
        _ => None,
    };
    let finding = |status, class: &str, summary: String| {
        Finding::new(status, summary)
            .evidence(json!({ "classification": class, "probes": probes.clone() }))
    };
    let stuck_remedy = stuck_remedy(ctx).await;
    let down_remedy = down_remedy(ctx).await;
    match (ping, list, info) {
        (None, ..) => finding(Status::Unknown, "error", "the engine was not probed".into()),
        (Some(Err(e)), ..) => match e {
            EngineError::NoSocket { .. } | EngineError::Refused { .. } | EngineError::ConnectTimeout { .. } => {
                finding(Status::Critical, "down", format!("down: {e}")).remedy(down_remedy.clone())
            }
            EngineError::PermissionDenied { .. } => finding(Status::Unknown, "permission", e.to_string())
                .remedy("Run dockhand as root, or join the docker group (membership is root-equivalent)."),
            EngineError::Frozen { .. } => finding(Status::Critical, "frozen", e.to_string()).remedy(stuck_remedy),
            _ => finding(Status::Critical, "error", format!("the ping failed: {e}")).remedy(stuck_remedy),
        },
        (Some(Ok(p)), Some(Err(e)), _) => match e {
            EngineError::Frozen { waited, .. } => finding(
                Status::Critical,
                "wedged",
                format!(
                    "wedged: answers the ping ({}) but listing containers did not finish within {}: a container lock is held (moby#12606)",
                    ms(p),
                    human_duration(*waited)
                ),
            )
            .remedy(stuck_remedy),
            _ => finding(Status::Critical, "error", format!("listing containers failed: {e}")).remedy(stuck_remedy),
        },
        (Some(Ok(p)), Some(Ok(l)), Some(Err(e))) => match e {
            EngineError::Frozen { waited, .. } => finding(
                Status::Critical,
                "wedged",
                format!(
                    "wedged: answers the ping ({}) and lists containers ({}), but /info did not answer within {}",
                    ms(p),
                    ms(l),
                    human_duration(*waited)
                ),
            )
            .remedy(stuck_remedy),
            _ => finding(Status::Warning, "error", format!("/info failed: {e}")),
        },
        (Some(Ok(p)), l, i) => {
            let l = l.and_then(Result::ok);
            let i = i.and_then(Result::ok);
            let n = ctx.containers().await.map_or(0, <[_]>::len);
            let slowest = [Some(p), l, i].into_iter().flatten().max().unwrap_or(p);
            let mut parts = vec![format!("ping {}", ms(p))];
            if let Some(l) = l {
                parts.push(format!("{n} container{} listed in {}", if n == 1 { "" } else { "s" }, ms(l)));
            }
            if let Some(i) = i {
                parts.push(format!("info {}", ms(i)));
            }
            let detail = parts.join(", ");
            if slowest.as_secs_f64() * 1000.0 >= slow_ms {
                finding(
                    Status::Warning,
                    "slow",
                    format!("slow: {detail} (slower than {} ms)", slow_ms),
                )
                .remedy(match pid {
                    Some(pid) => format!("Look at the daemon's load: top -H -p {pid}; a stack dump (kill -USR1 {pid}) shows what it is busy with."),
                    None => "Look at the daemon's load and its log.".into(),
                })
            } else {
                finding(Status::Ok, "healthy", format!("healthy: {detail}"))
            }
        }
    }
}

/// What to do when the daemon accepts connections but does not answer.
async fn stuck_remedy(ctx: &Ctx<'_>) -> String {
    match ctx.located().await {
        Ok(Located::Found(d)) => {
            let pid = d.info.pid;
            if matches!(d.info.state, 'T' | 't') {
                return resume_remedy(pid);
            }
            format!(
                "Capture a stack dump (`kill -USR1 {pid}`: dockerd writes goroutine-stacks-*.log into {}), check live-restore (without it a restart stops every container), then restart it through {} — `dockhand recover` does this escalation and verifies it.",
                d.paths.exec_root.display(),
                d.service
            )
        }
        _ => "Capture a stack dump (kill -USR1 <dockerd pid>), then restart the daemon through its service manager — `dockhand recover` does this escalation and verifies it.".into(),
    }
}

fn resume_remedy(pid: i32) -> String {
    format!(
        "dockerd (pid {pid}) is stopped: resume it with `kill -CONT {pid}`, and find out who stopped it."
    )
}

pub struct ProcessLimits {
    pub fd_warn: f64,
    pub fd_critical: f64,
    pub d_samples: u32,
}

/// `daemon.process`: the state, fds and pid file of the process serving the API.
pub async fn process(ctx: &Ctx<'_>) -> Finding {
    let id = "daemon.process";
    let limits = ProcessLimits {
        fd_warn: ctx.th(id, "fd_warn_percent"),
        fd_critical: ctx.th(id, "fd_critical_percent"),
        d_samples: ctx.th(id, "d_state_samples") as u32,
    };
    let engine = ctx.engine;
    let located = match ctx.located().await {
        Ok(l) => l,
        Err(crate::facts::Gap::Remote { .. }) => &Located::Remote,
        Err(_) => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "could not read the daemon process: /proc did not answer within {}",
                    human_duration(engine.timeout())
                ),
            );
        }
    };
    let d = match located {
        Located::Remote => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "{} is not on this host: run dockhand where the daemon runs to check its process",
                    engine.endpoint()
                ),
            );
        }
        Located::NotRunning {
            paths,
            holders,
            unreadable,
        } => {
            let pidfile = crate::runtime::daemon::read_pidfile(&paths.pidfile);
            let evidence = json!({
                "pid": Value::Null,
                "socket_holders": holders,
                "pidfile": paths.pidfile,
                "pidfile_pid": pidfile,
                "data_root": paths.data_root,
            });
            if unreadable > &0 && holders.is_empty() {
                return Finding::new(
                    Status::Unknown,
                    format!(
                        "could not tell which process serves {}: {unreadable} processes' file descriptors are unreadable to this user",
                        engine.endpoint()
                    ),
                )
                .remedy("Run dockhand as root to see the daemon's process.")
                .evidence(evidence);
            }
            if ctx.engine_answered().await {
                return Finding::new(
                    Status::Unknown,
                    format!("the engine answers on {}, but no process on this host holds its socket (a proxy, or another mount namespace)", engine.endpoint()),
                )
                .evidence(evidence);
            }
            let mut summary = "no dockerd process is running".to_string();
            if holders.contains(&1) {
                summary.push_str(" (pid 1 holds the socket: socket activation will start it on the next connection)");
            }
            if let Some(p) = pidfile {
                summary.push_str(&format!(
                    "; the pid file {} names pid {p}",
                    paths.pidfile.display()
                ));
            }
            return Finding::new(Status::Critical, summary)
                .remedy(down_remedy(ctx).await)
                .evidence(evidence);
        }
        Located::Found(d) => d,
    };

    let mut info = d.info.clone();
    // One D sample is normal (a disk read); stuck means D across a sampling window.
    let mut d_seen = 0;
    if info.state == 'D' {
        d_seen = 1;
        let pid = info.pid;
        for _ in 1..limits.d_samples.max(1) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match blocking(engine.timeout(), move || host::proc_info(pid))
                .await
                .flatten()
            {
                Some(now) if now.state == 'D' => {
                    d_seen += 1;
                    info = now;
                }
                Some(now) => {
                    info = now;
                    break;
                }
                None => break,
            }
        }
    }
    let pid = info.pid;
    let fd_pct = match (info.fds, info.fd_limit) {
        (Some(n), Some(l)) if l > 0 => Some(n as f64 * 100.0 / l as f64),
        _ => None,
    };
    let uptime = info.started_at.map(|s| now_secs().saturating_sub(s));
    let evidence = json!({
        "pid": pid,
        "ppid": info.ppid,
        "state": info.state.to_string(),
        "wchan": info.wchan,
        "threads": info.threads,
        "fds": info.fds,
        "fd_limit": info.fd_limit,
        "rss_bytes": info.rss_bytes,
        "started_at": info.started_at.map(|s| crate::util::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(s))),
        "uptime_s": uptime,
        "cmdline": info.cmdline.iter().map(|a| sanitize(a)).collect::<Vec<_>>(),
        "data_root": d.paths.data_root,
        "exec_root": d.paths.exec_root,
        "pidfile": d.paths.pidfile,
        "pidfile_pid": d.pidfile_pid,
        "service_manager": d.service,
        "found_by": d.found_by,
    });

    let mut status = Status::Ok;
    let mut problems: Vec<String> = Vec::new();
    let mut remedies: Vec<String> = Vec::new();
    match info.state {
        'T' | 't' => {
            status = Status::Critical;
            problems.push(format!(
                "dockerd pid {pid} is stopped (state {}): it was sent SIGSTOP or is held by a debugger, and cannot answer",
                info.state
            ));
            remedies.push(resume_remedy(pid));
        }
        'Z' | 'X' => {
            status = Status::Critical;
            problems.push(format!(
                "dockerd pid {pid} is a zombie: it has exited and its parent has not reaped it"
            ));
            remedies.push("Start the daemon again through its service manager.".into());
        }
        'D' if d_seen >= limits.d_samples.max(1) => {
            status = Status::Critical;
            problems.push(format!(
                "dockerd pid {pid} is stuck in uninterruptible sleep (D) in {} across {d_seen} samples",
                info.wchan.as_deref().unwrap_or("an unknown kernel function")
            ));
            remedies.push(
                "A process in D cannot be killed: find the hung filesystem or device it waits on (the wchan names the kernel function); fixing the storage, or a reboot, frees it.".into(),
            );
        }
        _ => {}
    }
    if let (Some(p), Some(n), Some(l)) = (fd_pct, info.fds, info.fd_limit) {
        let level = if p >= limits.fd_critical {
            Status::Critical
        } else if p >= limits.fd_warn {
            Status::Warning
        } else {
            Status::Ok
        };
        if level != Status::Ok {
            status = status.worst(level);
            problems.push(format!("{n} of {l} file descriptors open ({p:.0} %)"));
            remedies.push(format!(
                "Near the limit every new connection and container start fails: raise LimitNOFILE for the service, and look for a leak (ls -l /proc/{pid}/fd)."
            ));
        }
    }
    match d.pidfile_pid {
        Some(p) if p != pid => {
            status = status.worst(Status::Warning);
            problems.push(format!(
                "the pid file {} names pid {p}, but the daemon is pid {pid}",
                d.paths.pidfile.display()
            ));
            remedies.push("A stale pid file stops the next start: correct or remove it once the pid it names is gone or is not dockerd (dockhand reap does it safely).".into());
        }
        None if !d.paths.pidfile.exists() && d.found_by == "socket" && is_dockerd(&info) => {
            status = status.worst(Status::Warning);
            problems.push(format!(
                "the pid file {} is missing",
                d.paths.pidfile.display()
            ));
            remedies.push("dockerd writes its pid file at start; a missing one was removed by hand or by a clean-up script.".into());
        }
        _ => {}
    }
    if status == Status::Ok {
        let mut s = format!("dockerd pid {pid} is {}", state_word(info.state));
        if let Some(u) = uptime {
            s.push_str(&format!(", up {}", crate::util::human_age(u)));
        }
        s.push_str(&format!(", {} threads", info.threads));
        if let (Some(n), Some(l)) = (info.fds, info.fd_limit) {
            s.push_str(&format!(", {n}/{l} fds"));
        }
        s.push_str(&format!(
            ", RSS {}; service manager: {}",
            human_bytes(info.rss_bytes),
            d.service
        ));
        return Finding::new(Status::Ok, s).evidence(evidence);
    }
    Finding::new(status, problems.join("; "))
        .remedy(remedies.join(" "))
        .evidence(evidence)
}

fn is_dockerd(info: &host::ProcInfo) -> bool {
    info.comm == "dockerd"
}

fn state_word(s: char) -> &'static str {
    match s {
        'R' => "running",
        'S' => "sleeping (idle, normal)",
        'I' => "idle",
        'D' => "briefly in uninterruptible sleep",
        _ => "alive",
    }
}
