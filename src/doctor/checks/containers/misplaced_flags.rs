//! `containers.misplaced-flags`: a container whose command starts with `docker run` options —
//! `docker create nginx --name=nginx`, where everything after the image became the command —
//! with the command line that was meant. The verdict: [`policy::misplaced`].
//!
//! Never flags: a command that merely contains an option (`sh -c --name=x`); with an
//! entrypoint, a program's own short options (`redis -v`, `app -d`), which only docker's own
//! long options or letter clusters (`--rm`, `-it`) outweigh; an option whose value is missing.

use serde_json::{Value, json};

use super::{
    COMMAND_IN_REMEDY, COMMAND_IN_SUMMARY, Ctx, and_more, brief_with, capped, command_line, label,
    records, shell_line,
};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::containers::{self as policy, Misplaced};
use crate::runtime::inventory::ContainerRecord;

/// Corrections spelled out in the fix; the evidence has them all (up to its cap).
const FIXES_SHOWN: usize = 5;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let found: Vec<(&ContainerRecord, Misplaced)> = all
        .iter()
        .filter_map(|c| Some((c, policy::misplaced(c)?)))
        .collect();
    let Some((c, m)) = found.first() else {
        return Finding::new(
            Status::Ok,
            "no container's command starts with a docker option",
        )
        .evidence(json!({ "count": 0, "containers": [] }));
    };
    let items: Vec<Value> = found
        .iter()
        .map(|(c, m)| {
            brief_with(
                c,
                json!({
                    "command": c.config.cmd,
                    "entrypoint": c.config.entrypoint,
                    "misplaced": m.flags,
                    "corrected": shell_line(&m.corrected),
                }),
            )
        })
        .collect();
    let summary = format!(
        "{}'s command is `{}`: docker options given after the image{}",
        label(c),
        command_line(&m.flags, COMMAND_IN_SUMMARY),
        and_more(found.len()),
    );
    let mut fix = Fix::advice(
        "Options go before the image: everything after it is the container's command. Recreate, adding back any options you gave before the image:",
    );
    for (c, m) in found.iter().take(FIXES_SHOWN) {
        let name = label(c);
        fix = fix.then_run(&["docker", "rm", name], format!("`docker rm {name}`"));
        let then = format!("then `{}`.", command_line(&m.corrected, COMMAND_IN_REMEDY));
        // An empty word (`sh -c ''`) is a real argument, but no step's argv may hold one.
        if m.corrected.iter().any(String::is_empty) {
            fix = fix.then_advice(then);
        } else {
            let argv: Vec<&str> = m.corrected.iter().map(String::as_str).collect();
            fix = fix.then_run(&argv, then);
        }
    }
    Finding::new(Status::Warning, summary)
        .evidence(json!({ "count": found.len(), "containers": capped(&items, Value::clone) }))
        .fix(fix)
}
