//! `daemon.log-rotation`: whether containers created from now on get bounded json-file logs —
//! the daemon's default driver and its `max-size` ([`crate::policy::daemon::logs`]). Existing
//! containers without a limit are counted, but do not change the verdict: they keep the log
//! configuration they were created with.
//!
//! Never flagged: the `local` driver (rotated by default), any driver that does not write json
//! files into the data root (journald, syslog, none, …).

use serde_json::{Value, json};

use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Status};
use crate::policy::daemon::logs::{LogDefault, keeps_every_line, log_default};
use crate::runtime::daemon::Located;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let dj = ctx.daemon_json().await;
    let json = match &dj.value {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "cannot tell the default log options: {} does not parse ({e}; see daemon.config)",
                    dj.path.display()
                ),
            )
            .evidence(json!({ "daemon_json": dj.path }));
        }
    };
    let cmdline: Vec<String> = match ctx.located().await {
        Ok(Located::Found(d)) => d.info.cmdline.clone(),
        _ => Vec::new(),
    };
    // Without the engine or the daemon's command line, daemon.json alone may be the wrong
    // daemon's (a non-default socket) or miss a --log-opt flag: say so rather than guess.
    if cmdline.is_empty() && !ctx.engine_answered().await {
        return Finding::new(
            Status::Unknown,
            "cannot tell the default log options: no daemon process on this host and the engine did not answer",
        )
        .evidence(json!({ "daemon_json": dj.path }));
    }
    let engine_driver = if ctx.engine_answered().await {
        ctx.info()
            .await
            .ok()
            .and_then(|i| i.get("LoggingDriver"))
            .and_then(Value::as_str)
    } else {
        None
    };
    let d = log_default(engine_driver, json, &cmdline);
    let existing = existing_unbounded(ctx).await;
    let evidence = json!({
        "daemon_json": dj.path,
        "log_driver": d.driver,
        "max_size": d.max_size,
        "max_file": d.max_file,
        "driver_source": if engine_driver.is_some() { "engine" } else { "configuration" },
        "existing_unbounded": existing.len(),
        "existing_unbounded_names": existing.iter().take(crate::doctor::checks::storage::EVIDENCE_CAP).collect::<Vec<_>>(),
    });
    let existing_note = existing_note(&existing);
    if !d.unbounded() {
        return Finding::new(Status::Ok, format!("{}{existing_note}", bounded_words(&d)))
            .evidence(evidence);
    }
    Finding::new(
        Status::Warning,
        format!(
            "new containers get json-file logs without max-size: every line is kept until the disk fills{existing_note}"
        ),
    )
    .remedy(format!(
        "Add \"log-opts\": {{\"max-size\": \"10m\", \"max-file\": \"3\"}} to {} (or \"log-driver\": \"local\"), then restart the daemon — log options are not reloadable; with live-restore on, containers keep running. Only containers created afterwards get the limit: recreate the existing ones.",
        dj.path.display()
    ))
    .evidence(evidence)
}

/// The existing containers whose json-file logs keep every line. They keep what they were
/// created with: counted from the inspect documents already gathered (no per-container call).
async fn existing_unbounded(ctx: &Ctx<'_>) -> Vec<String> {
    let mut existing = Vec::new();
    if ctx.engine_answered().await
        && let Ok(records) = ctx.records().await
    {
        existing.extend(
            records
                .iter()
                .filter(|c| keeps_every_line(&c.host_config.log_config))
                .map(|c| c.name().to_string()),
        );
    }
    existing
}

/// The existing unbounded containers, in words (empty when none).
fn existing_note(existing: &[String]) -> String {
    if existing.is_empty() {
        String::new()
    } else {
        format!(
            "; {} existing container{} json-file logs without max-size (they keep their own configuration)",
            existing.len(),
            if existing.len() == 1 {
                " has"
            } else {
                "s have"
            }
        )
    }
}

/// How new containers' logs are bounded (or go elsewhere), for a default that is not
/// unbounded.
fn bounded_words(d: &LogDefault) -> String {
    match (&d.driver[..], &d.max_size) {
        ("json-file", Some(s)) => format!(
            "new containers' json-file logs are capped at max-size {s}{}",
            d.max_file
                .as_ref()
                .map_or(String::new(), |f| format!(" × max-file {f}"))
        ),
        ("local", _) => "the default logging driver is local, which rotates by default".into(),
        (other, _) => format!(
            "the default logging driver is {other}: logs do not go to json files in the data root"
        ),
    }
}
