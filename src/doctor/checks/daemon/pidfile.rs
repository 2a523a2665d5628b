//! `daemon.pidfile`: the pid the daemon's pid file names — the daemon, a gone pid, another
//! engine, or a stranger — judged by [`crate::policy::daemon::classify_pidfile`] as dockerd
//! judges it at start.
//!
//! Never flagged: no pid file, a file without a number (dockerd ignores it), a file naming the
//! running daemon. Whether the file agrees with the process serving the API is
//! `daemon.process`'s question.

use serde_json::json;

use super::{located, read_pidfile, timed_out};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::daemon::{PidfileRepair, PidfileState, pidfile_repair};
use crate::runtime::daemon::Located;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let (path, daemon) = match located(ctx).await {
        Err(f) => return f,
        Ok(Located::Found(d)) => (&d.paths.pidfile, Some(d.info.pid)),
        Ok(Located::NotRunning { paths, .. }) => (&paths.pidfile, None),
        Ok(Located::Unverified { why, .. }) => {
            return Finding::new(
                Status::Unknown,
                format!("the pid file is not judged: {why}"),
            )
            .evidence(json!({ "daemon_pid": null, "unverified": why }));
        }
        Ok(Located::Remote) => {
            return crate::doctor::checks::gap(&crate::facts::Gap::Remote {
                endpoint: ctx.engine.endpoint().to_string(),
            });
        }
    };
    let Some((state, named)) = read_pidfile(ctx, path, daemon).await else {
        return timed_out(ctx, format!("reading {}", path.display()));
    };
    let shown = path.display();
    let evidence = json!({
        "pidfile": path,
        "daemon_pid": daemon,
        "named_pid": state.named_pid(),
        "named_process": named.as_ref().map(|i| json!({
            "pid": i.pid, "comm": i.comm, "exe": i.exe, "cmdline": i.cmdline, "started_at": i.started_at,
        })),
        "state": format!("{state:?}"),
    });
    let fix = |p: i32| match pidfile_repair(&state, daemon) {
        PidfileRepair::Rewrite { pid: d } => Fix::run(
            &["dockhand", "reap"],
            format!(
                "Write the running daemon's pid into it (`echo {d} > {shown}`) so the next start is not blocked — `dockhand reap` does it safely; pid {p} is not touched."
            ),
        ),
        PidfileRepair::Remove | PidfileRepair::Leave => Fix::run(
            &["dockhand", "reap"],
            format!(
                "Remove it before starting the daemon (`rm {shown}`) — `dockhand reap` does it safely, after checking pid {p} again."
            ),
        ),
    };
    let finding =
        |status, summary: String| Finding::new(status, summary).evidence(evidence.clone());
    match &state {
        PidfileState::Missing => finding(
            Status::Ok,
            format!("no pid file at {shown}: nothing blocks the next start"),
        ),
        PidfileState::Unreadable(e) => finding(Status::Unknown, format!("cannot read {shown}: {e}"))
            .remedy("Run dockhand as root to read the daemon's pid file."),
        PidfileState::NoPid => finding(
            Status::Ok,
            format!("{shown} holds no pid: dockerd ignores it at start"),
        ),
        PidfileState::Daemon(p) => finding(
            Status::Ok,
            format!("{shown} names the running daemon, pid {p}"),
        ),
        PidfileState::Gone(p) => finding(
            Status::Warning,
            format!(
                "{shown} names pid {p}, which is gone{}: harmless until the kernel hands the pid to another process, then the daemon will not start (moby#46988)",
                daemon.map_or(String::new(), |d| format!(" (the daemon is pid {d})"))
            ),
        )
        .fix(fix(*p)),
        PidfileState::OtherEngine(p) => finding(
            Status::Critical,
            format!(
                "{shown} names pid {p}, another running container engine{}: this daemon cannot start again while it runs (\"pid file found\")",
                daemon.map_or(String::new(), |d| format!(", not the daemon serving the API (pid {d})"))
            ),
        )
        .remedy(format!(
            "Two daemons share the pid file {shown}: give each its own `--pidfile` (and data root, exec root, socket)."
        )),
        PidfileState::NotEngine(p) => finding(
            Status::Critical,
            format!(
                "{shown} names pid {p}, a running {} that is not dockerd: the daemon will refuse to start (\"pid file found, ensure docker is not running\", moby#46988)",
                named.as_ref().map_or("process".to_string(), |i| format!("`{}`", i.comm))
            ),
        )
        .fix(fix(*p)),
    }
}
