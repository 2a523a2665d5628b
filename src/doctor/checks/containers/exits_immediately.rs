//! `containers.exits-immediately`: a container meant to keep running whose last run ended with
//! 0 right after it started — its main process went to the background and the container
//! stopped with it. Meant to keep running: a known server started without its foreground
//! option, a restart policy that restarts it after a clean exit, or ports it publishes or
//! exposes. The verdict: [`policy::exits_immediately`].
//!
//! The option named is the one of the program actually in the image: an `httpd` is looked up
//! in the container's layers under the data root ([`executable::program_in_container`]) —
//! busybox's applet wants `-f`, Apache's `-DFOREGROUND` — and when its files cannot be read,
//! and the image's name does not tell, both are named.
//!
//! Never flags: a detached job that simply finished (`docker run -d busybox true`), however
//! often it runs and however many of one image there are; a server in the foreground that
//! stopped; a one-shot use of a server (`nginx -t`); a run that failed or lasted longer.

use serde_json::{Value, json};

use super::{
    COMMAND_IN_REMEDY, COMMAND_IN_SUMMARY, Ctx, and_more, brief_with, capped, command_line, label,
    records,
};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::containers::{self as policy, Foreground, Intent, QuickExit, Server};
use crate::runtime::blocking;
use crate::runtime::executable::{self, Program};
use crate::runtime::inventory::ContainerRecord;

const ID: &str = "containers.exits-immediately";

/// What to change, in words: "add `-f`".
fn foreground_words(f: Foreground) -> String {
    match f {
        Foreground::Add(opt) => format!("add `{opt}`"),
        Foreground::Drop(opt) => format!("drop `{opt}`"),
        Foreground::Instead(cmd) => format!("run `{cmd}` instead"),
        Foreground::OneOf(alts) => format!("add {}", one_of(alts)),
    }
}

/// "`-f` for busybox httpd, or `-DFOREGROUND` for Apache httpd": which one, the image's files
/// did not tell.
fn one_of(alts: &[(&str, &str)]) -> String {
    let each: Vec<String> = alts
        .iter()
        .map(|(program, opt)| format!("`{opt}` for {program}"))
        .collect();
    each.join(", or ")
}

/// Why it was meant to keep running, in words.
fn intent_words(i: &Intent) -> String {
    match i {
        Intent::Server(s) => match s.foreground {
            Foreground::Add(opt) => format!("{} without `{opt}`", s.program),
            Foreground::Drop(opt) => format!("{} with `{opt}`", s.program),
            Foreground::Instead(_) => format!("{} starts the server in the background", s.program),
            Foreground::OneOf(alts) => format!("{} without {}", s.program, one_of(alts)),
        },
        Intent::RestartPolicy { policy, restarts } => {
            if *restarts > 0 {
                format!("restart policy {policy}, restarted {restarts} times")
            } else {
                format!("restart policy {policy}")
            }
        }
        Intent::Published(ports) => format!("publishes {}", ports.join(", ")),
        Intent::Exposed(ports) => format!("exposes {}", ports.join(", ")),
    }
}

/// An intent as evidence.
fn intent_json(i: &Intent) -> Value {
    match i {
        Intent::Server(s) => json!({ "kind": "server", "server": server_json(*s) }),
        Intent::RestartPolicy { policy, restarts } => {
            json!({ "kind": "restart-policy", "policy": policy, "restarts": restarts })
        }
        Intent::Published(ports) => json!({ "kind": "published", "ports": ports }),
        Intent::Exposed(ports) => json!({ "kind": "exposed", "ports": ports }),
    }
}

fn server_json(s: Server) -> Value {
    let foreground = match s.foreground {
        Foreground::Add(o) => json!({ "add": o }),
        Foreground::Drop(o) => json!({ "drop": o }),
        Foreground::Instead(c) => json!({ "instead": c }),
        Foreground::OneOf(alts) => json!({
            "one_of": alts
                .iter()
                .map(|(program, opt)| json!({ "program": program, "add": opt }))
                .collect::<Vec<_>>()
        }),
    };
    json!({ "program": s.program, "foreground": foreground })
}

/// What the program of each quick exit is, read from its image's files — only for a program
/// whose name stands for two ([`policy::program_to_identify`]), and only for the containers
/// that exited at once (few), each read under the deadline. `Unknown` where it cannot tell.
async fn executables(ctx: &Ctx<'_>, quick: &[&ContainerRecord]) -> Vec<Program> {
    let mut out = vec![Program::Unknown; quick.len()];
    let wanted: Vec<(usize, String, String)> = quick
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.id.clone(), policy::program_to_identify(&c.command())?)))
        .collect();
    if wanted.is_empty() {
        return out;
    }
    let Some((root, _)) = ctx.data_root().await else {
        return out;
    };
    let found = blocking(ctx.timeout(), move || {
        wanted
            .into_iter()
            .map(|(i, id, program)| (i, executable::program_in_container(&root, &id, &program)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (i, p) in found {
        out[i] = p;
    }
    out
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let all = match records(ctx).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let max_run = ctx.th(ID, "max_run_seconds");
    let quick: Vec<&ContainerRecord> = all
        .iter()
        .filter(|c| policy::quick_clean_exit(c, max_run).is_some())
        .collect();
    let exes = executables(ctx, &quick).await;
    let mut found: Vec<(&ContainerRecord, QuickExit)> = quick
        .into_iter()
        .zip(exes)
        .filter_map(|(c, exe)| Some((c, policy::exits_immediately(c, max_run, exe)?)))
        .collect();
    // The most telling first: a known server names the option that fixes it.
    found.sort_by_key(|(_, q)| q.rank());
    let thresholds = json!({ "max_run_seconds": max_run });
    let Some((c, q)) = found.first() else {
        return Finding::new(
            Status::Ok,
            "no container meant to keep running exits with 0 right after it starts",
        )
        .evidence(json!({ "count": 0, "containers": [], "thresholds": thresholds }));
    };
    let items: Vec<Value> = found
        .iter()
        .map(|(c, q)| {
            let why: Vec<String> = q.intent.iter().map(intent_words).collect();
            brief_with(
                c,
                json!({
                    "ran_secs": (q.ran_s * 1000.0).round() / 1000.0,
                    "exit_code": c.state.exit_code,
                    "restart_count": c.restart_count,
                    "restart_policy": c.host_config.restart_policy.name,
                    "detached": !c.attached(),
                    "command": c.command(),
                    "why": why.join("; "),
                    "intent": q.intent.iter().map(intent_json).collect::<Vec<_>>(),
                    "server": q.server().map(server_json),
                }),
            )
        })
        .collect();
    let command = c.command();
    let why: Vec<String> = q.intent.iter().map(intent_words).collect();
    let summary = format!(
        "{} (`{}`) exits with 0 {:.2} s after starting ({}): its main process went to the background{}",
        label(c),
        command_line(&command, COMMAND_IN_SUMMARY),
        q.ran_s,
        why.join("; "),
        and_more(found.len()),
    );
    let now_runs = format!(
        "Its command now: `{}`.",
        command_line(&command, COMMAND_IN_REMEDY)
    );
    let fix = match q.server() {
        Some(s) => Fix::advice(format!(
            "A container lives as long as its main process: run {} in the foreground — {}. {now_runs}",
            s.program,
            foreground_words(s.foreground),
        )),
        None => Fix::advice(format!(
            "A container lives as long as its main process. Run the service in the foreground: nginx `-g 'daemon off;'`, Apache httpd `-DFOREGROUND`, busybox httpd `-f`, or the program's --foreground/--nodaemon option; a shell script must `exec` the server, not start it with `&`. {now_runs}"
        )),
    };
    Finding::new(Status::Warning, summary)
        .evidence(json!({
            "count": found.len(),
            "containers": capped(&items, Value::clone),
            "thresholds": thresholds,
        }))
        .fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_in_words() {
        let httpd = Server {
            program: "busybox httpd",
            foreground: Foreground::Add("-f"),
        };
        let cases = [
            (Intent::Server(httpd), "busybox httpd without `-f`"),
            (
                Intent::Server(Server {
                    program: "redis-server",
                    foreground: Foreground::Drop("--daemonize yes"),
                }),
                "redis-server with `--daemonize yes`",
            ),
            (
                Intent::RestartPolicy {
                    policy: "always".into(),
                    restarts: 0,
                },
                "restart policy always",
            ),
            (
                Intent::RestartPolicy {
                    policy: "unless-stopped".into(),
                    restarts: 3,
                },
                "restart policy unless-stopped, restarted 3 times",
            ),
            (
                Intent::Published(vec!["8080/tcp".into(), "53/udp".into()]),
                "publishes 8080/tcp, 53/udp",
            ),
            (Intent::Exposed(vec!["80/tcp".into()]), "exposes 80/tcp"),
        ];
        for (i, want) in cases {
            assert_eq!(intent_words(&i), want);
        }
        assert_eq!(foreground_words(Foreground::Add("-f")), "add `-f`");
        // The image's files did not tell busybox's httpd from Apache's: both, each named.
        let either = Server {
            program: "httpd",
            foreground: Foreground::OneOf(&[
                ("busybox httpd", "-f"),
                ("Apache httpd", "-DFOREGROUND"),
            ]),
        };
        assert_eq!(
            foreground_words(either.foreground),
            "add `-f` for busybox httpd, or `-DFOREGROUND` for Apache httpd"
        );
        assert_eq!(
            intent_words(&Intent::Server(either)),
            "httpd without `-f` for busybox httpd, or `-DFOREGROUND` for Apache httpd"
        );
        assert_eq!(
            server_json(either),
            json!({ "program": "httpd", "foreground": { "one_of": [
                { "program": "busybox httpd", "add": "-f" },
                { "program": "Apache httpd", "add": "-DFOREGROUND" },
            ] } })
        );
        assert_eq!(
            server_json(httpd),
            json!({ "program": "busybox httpd", "foreground": { "add": "-f" } })
        );
    }
}
