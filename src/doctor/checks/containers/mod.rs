//! Checks of the containers area; see docs/checks/containers.md. One file per check; the
//! verdicts are in [`crate::policy::containers`], shared with gc.
//!
//! Every check reads the containers' own records (`ctx.answered_records()`: the daemon's
//! config.v2.json per container, no API call per container) and judges them where they lie —
//! no copy per check. Only two ask for more, and only when they need it:
//! `containers.restart-loop` reads the daemon's recent `die` events (one bounded call), and
//! `containers.ghost` re-inspects a container whose process it could not find, to rule out a
//! container that exited a moment ago.

mod exited;
mod exits_immediately;
mod ghost;
mod littering;
mod logs;
mod misplaced_flags;
mod restart_loop;
mod unhealthy;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Ctx, Probe, probe};
use crate::doctor::Finding;
use crate::runtime::inventory::ContainerRecord;
use crate::units::rfc3339;

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("containers.exited", exited::check),
        probe!("containers.littering", littering::check),
        probe!("containers.restart-loop", restart_loop::check),
        probe!("containers.unhealthy", unhealthy::check),
        probe!("containers.misplaced-flags", misplaced_flags::check),
        probe!("containers.exits-immediately", exits_immediately::check),
        probe!("containers.ghost", ghost::check),
        probe!("containers.logs", logs::check),
    ]
}

/// Lists in evidence stop after this many items (the count says how many there were).
const EVIDENCE_CAP: usize = 20;

/// A command in a summary: at most this many characters (a table row stays a row).
const COMMAND_IN_SUMMARY: usize = 60;
/// A command in a remedy, which a reader may copy: longer, still one line.
const COMMAND_IN_REMEDY: usize = 200;

/// The containers' records, or the finding that says why there are none to judge.
async fn records<'c>(ctx: &'c Ctx<'_>) -> Result<&'c [ContainerRecord], Finding> {
    ctx.answered_records().await
}

/// The clock, read once per check and passed to the verdicts.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A time for the evidence (RFC 3339, seconds).
fn when(t: f64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0)))
}

/// Whole seconds from `t` to `now`; 0 for no time or a time in the future.
fn age(now: f64, t: Option<f64>) -> u64 {
    t.map_or(0, |t| (now - t).max(0.0) as u64)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first `EVIDENCE_CAP` items as a JSON list.
fn capped<T, F: Fn(&T) -> Value>(items: &[T], f: F) -> Value {
    Value::Array(items.iter().take(EVIDENCE_CAP).map(f).collect())
}

/// "web, db and 3 more"
fn names_list<'a>(names: impl IntoIterator<Item = &'a str>, show: usize) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let shown = names[..names.len().min(show)].join(", ");
    if names.len() > show {
        format!("{shown} and {} more", names.len() - show)
    } else {
        shown
    }
}

/// ", and web, db and 3 more" after the first of several; nothing for one.
fn and_others<'a>(rest: impl IntoIterator<Item = &'a str>) -> String {
    let rest: Vec<&str> = rest.into_iter().collect();
    if rest.is_empty() {
        String::new()
    } else {
        format!(", and {}", names_list(rest, 3))
    }
}

/// " (and 3 more containers)" after the first of `n`; nothing for one.
fn and_more(n: usize) -> String {
    match n {
        0 | 1 => String::new(),
        2 => " (and 1 more container)".to_string(),
        n => format!(" (and {} more containers)", n - 1),
    }
}

/// What to call a container in a sentence or a command: its name, else its short id.
fn label(c: &ContainerRecord) -> &str {
    match c.name() {
        "" => c.id.get(..12).unwrap_or(&c.id),
        n => n,
    }
}

/// Who a container is, in every evidence item.
fn brief(c: &ContainerRecord) -> Value {
    json!({
        "id": c.id,
        "name": c.name(),
        "image": c.config.image,
        "state": c.state_word(),
    })
}

/// `brief` with more fields.
fn brief_with(c: &ContainerRecord, more: Value) -> Value {
    let mut v = brief(c);
    if let (Some(o), Value::Object(m)) = (v.as_object_mut(), more) {
        o.extend(m);
    }
    v
}

/// A word as a POSIX shell reads it back.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'@' | b'+' | b'%'
                )
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A whole command line, every word quoted as a shell reads it back (for the evidence: a
/// multi-line script stays whole).
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command as a sentence shows it: its first line, at most `max` characters (give or take
/// the quotes), elided with `…` — `sh -c 'echo a…'` for `sh -c $'echo a\necho b'`. A terminal
/// shows the line as it reads, not a script's newlines as `\u{a}`; the evidence keeps the whole
/// argv.
fn command_line(argv: &[String], max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for (i, w) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
            used += 1;
        }
        let room = max.saturating_sub(used);
        let (first_line, more_lines) = match w.find(['\n', '\r']) {
            Some(at) => (&w[..at], true),
            None => (w.as_str(), false),
        };
        let fits = first_line.chars().count() <= room;
        let word = if fits && !more_lines {
            shell_quote(first_line)
        } else {
            // What fits of the word's first line, the ellipsis inside its quotes.
            let keep: String = first_line
                .chars()
                .take(if fits { room } else { room.saturating_sub(1) })
                .collect();
            shell_quote(&format!("{keep}…"))
        };
        used += word.chars().count();
        out.push_str(&word);
        let last = i + 1 == argv.len();
        if !fits || more_lines {
            break;
        }
        if !last && used >= max {
            out.push_str(" …");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shell_quoting() {
        let cases = [
            ("--name=web", "--name=web"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("", "''"),
            ("daemon off;", "'daemon off;'"),
        ];
        for (word, want) in cases {
            assert_eq!(shell_quote(word), want, "{word}");
        }
        assert_eq!(
            shell_line(&strs(&["sh", "-c", "echo a\necho b"])),
            "sh -c 'echo a\necho b'"
        );
    }

    #[test]
    fn commands_read_as_their_first_line() {
        let x = |n| "x".repeat(n);
        let long = x(100);
        let cases: Vec<(Vec<&str>, String)> = vec![
            (vec!["httpd", "-p", "8080"], "httpd -p 8080".into()),
            (vec!["sh", "-c", "echo a\necho b"], "sh -c 'echo a…'".into()),
            (
                vec!["sh", "-c", "echo a\r\necho b", "ignored"],
                "sh -c 'echo a…'".into(),
            ),
            (vec!["sh", "-c", "\necho b"], "sh -c '…'".into()),
            (
                vec!["nginx", "-g", "daemon off;"],
                "nginx -g 'daemon off;'".into(),
            ),
            (vec![], String::new()),
            // One long word: what fits, the ellipsis inside the quotes.
            (vec![&long], format!("'{}…'", x(59))),
            (vec!["sh", "-c", &long], format!("sh -c '{}…'", x(53))),
            // Many words: the word that does not fit is cut.
            (
                vec![
                    "aaaaaaaaaa",
                    "bbbbbbbbbb",
                    "cccccccccc",
                    "dddddddddd",
                    "eeeeeeeeee",
                    "ffffffffff",
                    "gggggggggg",
                ],
                "aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee 'ffff…'".into(),
            ),
            // Exactly full, with more to come.
            (vec![&long[..60], "more"], format!("{} …", x(60))),
        ];
        for (argv, want) in cases {
            let got = command_line(&strs(&argv), 60);
            assert_eq!(got, want, "{argv:?}");
            assert!(!got.contains(['\n', '\r']), "{got}");
        }
    }

    #[test]
    fn others_in_words() {
        assert_eq!(and_more(1), "");
        assert_eq!(and_more(2), " (and 1 more container)");
        assert_eq!(and_more(5), " (and 4 more containers)");
        assert_eq!(and_others([]), "");
        assert_eq!(and_others(["a", "b"]), ", and a, b");
        assert_eq!(and_others(["a", "b", "c", "d"]), ", and a, b, c and 1 more");
    }

    #[test]
    fn labels_fall_back_to_the_short_id() {
        let mut c = ContainerRecord {
            id: "0123456789abcdef".into(),
            ..ContainerRecord::default()
        };
        assert_eq!(label(&c), "0123456789ab");
        c.raw_name = "/web".into();
        assert_eq!(label(&c), "web");
    }
}
