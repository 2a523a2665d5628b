//! `daemon.config`: daemon.json parses as dockerd reads it, every key is one dockerd knows, and
//! no option is set both in the file and as a flag on the running daemon's command line — each
//! of which makes the daemon's *next* start fail ([`crate::policy::daemon::config`]).
//!
//! Never flagged: no file, an empty file (the daemon runs on its defaults and flags), keys
//! inside the objects dockerd keeps whole (`log-opts`, `runtimes`, …).

use std::path::Path;

use serde_json::{Map, Value, json};

use super::timed_out;
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::daemon::config::{
    ParsedJson, checked_keys, flag_conflicts, line_of, parent_of, parse_daemon_json, unknown_keys,
};
use crate::runtime::blocking;
use crate::runtime::daemon::Located;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let dj = ctx.daemon_json().await;
    let path = dj.path.clone();
    let shown = path.display().to_string();
    if dj.value.is_none() {
        return no_file(&path, &shown);
    }
    let (map, text) = match read_parsed(ctx, &path, &shown).await {
        Ok(x) => x,
        Err(f) => return f,
    };
    let unknown = unknown_keys(&map);
    let cmdline: Vec<String> = match ctx.located().await {
        Ok(Located::Found(d)) => d.info.cmdline.clone(),
        _ => Vec::new(),
    };
    let conflicts = flag_conflicts(&map, &cmdline);
    let with_line =
        |k: &str| json!({ "key": k, "inside": parent_of(&map, k), "line": line_of(&text, k) });
    let evidence = json!({
        "path": path,
        "exists": true,
        "keys": checked_keys(&map),
        "unknown": unknown.iter().map(|k| with_line(k)).collect::<Vec<_>>(),
        "conflicts": conflicts.iter().map(|(k, f)| json!({ "key": k, "flag": f, "line": line_of(&text, k) })).collect::<Vec<_>>(),
        "cmdline_known": !cmdline.is_empty(),
    });
    let (status, problems, fix) = problems(&shown, &map, &text, &conflicts, &unknown);
    if problems.is_empty() && map.is_empty() {
        return Finding::new(
            Status::Ok,
            format!("{shown} sets nothing: the daemon runs on its defaults and flags"),
        )
        .evidence(evidence);
    }
    if problems.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "{shown} parses; {} key{}, all known to dockerd",
                map.len(),
                if map.len() == 1 { "" } else { "s" }
            ),
        )
        .evidence(evidence);
    }
    Finding::new(status, problems.join("; "))
        .fix(fix)
        .evidence(evidence)
}

/// No daemon.json: nothing to judge.
fn no_file(path: &Path, shown: &str) -> Finding {
    Finding::new(
        Status::Ok,
        format!("no daemon.json at {shown}: the daemon runs on its defaults and flags"),
    )
    .evidence(json!({ "path": path, "exists": false }))
}

/// The file's keys and text, as dockerd parses it; a file that is gone, unreadable, empty or
/// not JSON is the finding itself.
async fn read_parsed(ctx: &Ctx<'_>, path: &Path, shown: &str) -> Result<ParsedJson, Finding> {
    // Read the bytes once more: the shared parse is strict JSON, dockerd is more lenient (byte
    // order marks, an empty file), and the line numbers of bad keys need the text.
    let p = path.to_path_buf();
    let read = blocking(ctx.timeout(), move || std::fs::read(&p)).await;
    let bytes = match read {
        None => return Err(timed_out(ctx, format!("reading {shown}"))),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_file(path, shown));
        }
        Some(Err(e)) => {
            return Err(
                Finding::new(Status::Unknown, format!("cannot read {shown}: {e}"))
                    .remedy("Run dockhand as root to read the daemon's configuration.")
                    .evidence(json!({ "path": path, "exists": true, "error": e.to_string() })),
            );
        }
        Some(Ok(b)) => b,
    };
    match parse_daemon_json(&bytes) {
        Ok(None) => Err(Finding::new(
            Status::Ok,
            format!("{shown} is empty: the daemon runs on its defaults and flags"),
        )
        .evidence(json!({ "path": path, "exists": true, "keys": [] }))),
        Ok(Some(x)) => Ok(x),
        Err(e) => Err(Finding::new(
            Status::Critical,
            format!("{shown} does not parse ({e}): the daemon will refuse to start with it at its next restart"),
        )
        .fix(
            Fix::advice(format!(
                "Fix the JSON in {shown} (`python3 -m json.tool {shown}` shows where),"
            ))
            .and(validate(shown, "then check it with")),
        )
        .evidence(json!({ "path": path, "exists": true, "error": e }))),
    }
}

/// Options set twice (critical) and keys dockerd does not know (warning), in words, with
/// their fix.
fn problems(
    shown: &str,
    map: &Map<String, Value>,
    text: &str,
    conflicts: &[(String, String)],
    unknown: &[String],
) -> (Status, Vec<String>, Fix) {
    let at = |k: &str| {
        let mut where_ = Vec::new();
        if let Some(p) = parent_of(map, k) {
            where_.push(format!("inside \"{p}\""));
        }
        if let Some(n) = line_of(text, k) {
            where_.push(format!("line {n}"));
        }
        if where_.is_empty() {
            k.to_string()
        } else {
            format!("{k} ({})", where_.join(", "))
        }
    };
    let mut problems = Vec::new();
    let mut fix = Fix::default();
    let mut status = Status::Ok;
    if !conflicts.is_empty() {
        status = Status::Critical;
        problems.push(format!(
            "{} set both in {shown} and on the daemon's command line: {} — dockerd refuses to start (\"specified both as a flag and in the configuration file\")",
            if conflicts.len() == 1 { "an option is" } else { "options are" },
            conflicts
                .iter()
                .map(|(k, f)| format!("{} / {f}", at(k)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        fix = fix.then_advice("Keep each option in one place: remove it from daemon.json or from the service's command line (for systemd: a drop-in overriding ExecStart).");
    }
    if !unknown.is_empty() {
        status = status.worst(Status::Warning);
        problems.push(format!(
            "{shown} has {} dockerd does not know: {} — dockerd refuses to start with an unknown key (\"the following directives don't match any configuration option\")",
            if unknown.len() == 1 { "a key" } else { "keys" },
            unknown.iter().map(|k| at(k)).collect::<Vec<_>>().join(", ")
        ));
        fix = fix
            .then_advice("Fix the spelling or remove the key,")
            .and(validate(shown, "then check the file with"))
            .then_advice(
                "(A key newer than dockhand's list is reported too: the validate command is the judge.)",
            );
    }
    (status, problems, fix)
}

/// Check the file before a restart: `dockerd --validate` (Docker 23 and later).
fn validate(shown: &str, lead: &str) -> Fix {
    Fix::run(
        &["dockerd", "--validate", "--config-file", shown],
        format!(
            "{lead} `dockerd --validate --config-file {shown}` (Docker 23+) before the next restart."
        ),
    )
}
