//! `daemon.warnings`: the engine's own `/info` Warnings (what `docker info` prints at its end),
//! passed through as they are ([`crate::policy::daemon::engine_warnings`]).
//!
//! Never flagged: an engine that reports none. Every warning counts: the engine only warns about
//! settings that do not work as an operator would expect; one that is accepted for good is
//! skipped with `--skip daemon.warnings`.

use serde_json::json;

use super::answered_info;
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Status};
use crate::policy::daemon::engine_warnings;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let list = match answered_info(ctx).await {
        Ok(info) => engine_warnings(info),
        Err(f) => return f,
    };
    let evidence = json!({ "warnings": list });
    match list.len() {
        0 => Finding::new(Status::Ok, "the engine reports no warnings").evidence(evidence),
        n => Finding::new(
            Status::Warning,
            format!(
                "the engine reports {n} warning{}: {}",
                if n == 1 { "" } else { "s" },
                list.join("; ")
            ),
        )
        .remedy("Each warning names the kernel option or daemon setting to change (docker info prints them too). To accept one for good, skip the check: --skip daemon.warnings.")
        .evidence(evidence),
    }
}
