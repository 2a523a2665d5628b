//! `daemon.live-restore`: whether containers keep running while the daemon restarts
//! (`LiveRestoreEnabled` in `/info`, judged by [`crate::policy::daemon::live_restore`]).
//!
//! Never flagged: live-restore off on a swarm node (swarm mode refuses it; its orchestrator
//! reschedules tasks instead).

use serde_json::{Value, json};

use super::answered_info;
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::daemon::{LiveRestore, live_restore};

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let info = match answered_info(ctx).await {
        Ok(i) => i,
        Err(f) => return f,
    };
    let verdict = live_restore(info);
    let running = info
        .get("ContainersRunning")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let path = &ctx.daemon_json().await.path;
    let evidence = json!({
        "live_restore": info.get("LiveRestoreEnabled").and_then(Value::as_bool),
        "swarm": info.pointer("/Swarm/LocalNodeState").and_then(Value::as_str).unwrap_or("inactive"),
        "containers_running": running,
        "daemon_json": path,
    });
    let finding =
        |status, summary: String| Finding::new(status, summary).evidence(evidence.clone());
    match verdict {
        LiveRestore::On => finding(
            Status::Ok,
            "live-restore is on: containers keep running while the daemon restarts".into(),
        ),
        LiveRestore::OffForSwarm => finding(
            Status::Ok,
            "live-restore is off, as swarm mode requires (the orchestrator reschedules tasks when the daemon restarts)".into(),
        ),
        LiveRestore::Off => {
            let add = Fix::advice(format!(
                "Add \"live-restore\": true to {},",
                path.display()
            ));
            let reloadable = "the option is reloadable, nothing restarts.";
            let fix = match ctx.daemon_pid_now() {
                Some(p) => add.then_run(
                    &["kill", "-HUP", &p.to_string()],
                    format!("then reload the daemon (`kill -HUP {p}`, or `systemctl reload docker`): {reloadable}"),
                ),
                None => add.then_run(
                    &["systemctl", "reload", "docker"],
                    format!("then reload the daemon (`systemctl reload docker`, or `kill -HUP <dockerd pid>`): {reloadable}"),
                ),
            };
            finding(
                Status::Warning,
                format!(
                    "live-restore is off: any restart of the daemon stops every container ({running} running now)"
                ),
            )
            .fix(fix)
        }
        LiveRestore::Unknown => finding(
            Status::Unknown,
            "/info does not say whether live-restore is on (an engine other than dockerd?)".into(),
        ),
    }
}
