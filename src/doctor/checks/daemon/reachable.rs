//! `daemon.reachable`: the engine's socket exists, may be opened, and accepts a connection.
//!
//! Looks at the ping's outcome only. Never flags a daemon that accepts the connection and then
//! answers badly or not at all (a frozen or wedged daemon is reachable): whether it *answers*
//! is `daemon.responsive`'s question.

use serde_json::json;

use super::down_fix;
use crate::doctor::checks::{Ctx, err_json, ms};
use crate::doctor::{Finding, Status};
use crate::runtime::engine::EngineError;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let ep = ctx.engine.endpoint();
    let evidence = json!({ "endpoint": ep.to_string() });
    match &ctx.ping().await.0 {
        Ok(t) => Finding::new(
            Status::Ok,
            format!("{ep} accepts connections ({})", ms(t.elapsed)),
        )
        .evidence(evidence),
        // Any answer — even an error status or no answer after connecting — means the
        // connection was accepted.
        Err(EngineError::Frozen { .. } | EngineError::Api { .. } | EngineError::Protocol { .. }) => {
            Finding::new(Status::Ok, format!("{ep} accepts connections")).evidence(evidence)
        }
        // Not asked (recover found the process stopped): its socket is open, the kernel accepts.
        Err(EngineError::Stopped { pid, .. }) => Finding::new(
            Status::Ok,
            format!("{ep} is held open by its daemon (pid {pid}, stopped: see daemon.responsive)"),
        )
        .evidence(evidence),
        Err(e @ EngineError::PermissionDenied { path }) => Finding::new(Status::Unknown, e.to_string())
            .remedy(format!(
                "Run dockhand as root, or add this user to the group that owns {} (usually docker; membership is root-equivalent).",
                path.display()
            ))
            .evidence(json!({ "endpoint": ep.to_string(), "error": err_json(e) })),
        Err(e) => Finding::new(Status::Critical, e.to_string())
            .fix(down_fix(ctx).await)
            .evidence(json!({ "endpoint": ep.to_string(), "error": err_json(e) })),
    }
}
