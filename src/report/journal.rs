//! `dockhand journal`: what dockhand did, as a table for people or one JSON document
//! (`dockhand.journal/v1`).

use std::io::{self, Write};
use std::time::SystemTime;

use serde_json::json;

use super::Style;
use crate::actions::history::{Entry, History, RunSummary};
use crate::units::rfc3339;
use crate::util::{human_bytes, human_duration, sanitize};

pub const JOURNAL_SCHEMA: &str = "dockhand.journal/v1";

/// What the listing was asked for, to say so when nothing matches.
#[derive(Debug, Clone, Default)]
pub struct Asked<'a> {
    pub since: Option<SystemTime>,
    pub since_text: Option<&'a str>,
    pub kind: Option<&'a str>,
}

/// "2026-11-28 05:53:35Z" from the journal's "2026-11-28T05:53:35.123Z".
fn short_time(at: &str) -> String {
    match at.get(..19) {
        Some(s) if at.len() > 19 => format!("{}Z", s.replacen('T', " ", 1)),
        _ => at.to_string(),
    }
}

fn outcome_word(style: Style, outcome: &str) -> String {
    let (mark, code) = match outcome {
        "done" => ("✔", "32"),
        "already-gone" | "not-started" => ("·", "0"),
        "in-use" | "changed" | "refused" => ("–", "33"),
        "failed" | "unfinished" => ("✖", "31"),
        _ => ("?", "35"),
    };
    // Padded before colouring, so the columns after it line up with or without escapes.
    let padded = format!("{mark} {outcome:<12}");
    if style.color && code != "0" {
        format!("\x1b[{code}m{padded}\x1b[0m")
    } else {
        padded
    }
}

fn signals_line(e: &Entry) -> Option<String> {
    if e.signals.is_empty() {
        return None;
    }
    let parts: Vec<String> = e
        .signals
        .iter()
        .map(|s| {
            if s.waited_ms > 0 {
                format!(
                    "{} ({} → {} after {})",
                    s.signal,
                    s.state_before,
                    s.state_after,
                    human_duration(std::time::Duration::from_millis(s.waited_ms))
                )
            } else {
                format!("{} ({} → {})", s.signal, s.state_before, s.state_after)
            }
        })
        .collect();
    Some(format!("signals: {}", parts.join(", ")))
}

fn empty_sentence(h: &History, asked: &Asked<'_>) -> Option<String> {
    if !h.exists {
        return Some(format!(
            "dockhand has not acted on this host yet (no journal at {})",
            h.journal.display()
        ));
    }
    if h.total_entries == 0 && h.runs.is_empty() && asked.since.is_none() && asked.kind.is_none() {
        return Some(format!(
            "dockhand has not acted on this host yet (the journal at {} holds no actions)",
            h.journal.display()
        ));
    }
    if h.entries.is_empty() && h.runs.is_empty() {
        let mut what = Vec::new();
        if let Some(s) = asked.since_text {
            what.push(format!("--since {s}"));
        }
        if let Some(k) = asked.kind {
            what.push(format!("--kind {k}"));
        }
        return Some(format!(
            "no actions match {}; the journal at {} holds {} in all",
            what.join(" "),
            h.journal.display(),
            plural(h.total_entries, "action")
        ));
    }
    None
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn totals_text(r: &RunSummary) -> String {
    let Some(t) = r.totals else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (n, word) in [
        (t.done, "done"),
        (t.already_gone, "already gone"),
        (t.in_use, "in use"),
        (t.changed, "changed"),
        (t.refused, "refused"),
        (t.failed, "failed"),
        (t.not_started, "not started"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if t.bytes > 0 {
        parts.push(format!("{} freed", human_bytes(t.bytes)));
    }
    // A failed run says why; one that failed before acting did nothing, and says only why
    // (never "nothing to do", which reads as success).
    match (&r.reason, parts.is_empty()) {
        (Some(why), true) => sanitize(why),
        (Some(why), false) => format!("{}; {}", parts.join(", "), sanitize(why)),
        (None, true) => "nothing to do".into(),
        (None, false) => parts.join(", "),
    }
}

pub fn table(h: &History, asked: &Asked<'_>, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if let Some(s) = empty_sentence(h, asked) {
        writeln!(out, "{s}")?;
        for n in &h.notes {
            writeln!(out, "note: {n}")?;
        }
        return Ok(());
    }
    if !h.entries.is_empty() {
        entries_table(h, style, out)?;
    }
    if !h.runs.is_empty() {
        runs_list(h, style, out)?;
    }
    writeln!(out)?;
    let shown = h.entries.len();
    writeln!(
        out,
        "{}{} in {} — {} ({})",
        plural(shown, "action"),
        if shown == h.total_entries {
            String::new()
        } else {
            format!(" of {}", h.total_entries)
        },
        plural(h.runs.len(), "run"),
        h.journal.display(),
        human_bytes(h.bytes)
    )?;
    for n in &h.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

/// The entries, one line each in aligned columns (the reason wrapped under itself), with the
/// detail and signals of a step on lines of their own below it.
fn entries_table(h: &History, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<[String; 6]> = h
        .entries
        .iter()
        .map(|e| {
            [
                short_time(&e.at),
                e.command.clone().unwrap_or_else(|| "?".into()),
                e.kind.clone(),
                sanitize(&e.target),
                e.outcome.clone(),
                sanitize(e.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let header = ["TIME", "COMMAND", "KIND", "TARGET", "OUTCOME", "REASON"];
    let mut width = [0usize; 5];
    for (i, w) in width.iter_mut().enumerate() {
        *w = rows
            .iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0);
    }
    // The outcome cell is mark + word padded to 14 columns (see outcome_word).
    width[4] = width[4].max(14);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let indent = width[..4].iter().map(|w| w + 2).sum::<usize>();
    let mut head = String::new();
    for (i, h) in header.iter().enumerate() {
        if i < 5 {
            head.push_str(&pad(h, width[i]));
            head.push_str("  ");
        } else {
            head.push_str(h);
        }
    }
    writeln!(out, "{}", style.bold(head.trim_end()))?;
    for (r, e) in rows.iter().zip(&h.entries) {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate().take(4) {
            line.push_str(&pad(cell, width[i]));
            line.push_str("  ");
        }
        line.push_str(&outcome_word(style, &r[4]));
        line.push_str(&" ".repeat(width[4].saturating_sub(14) + 2));
        let reason_at = line.chars().count();
        line.push_str(&r[5]);
        writeln!(out, "{}", style.wrap(line.trim_end(), reason_at))?;
        for extra in [e.detail.as_deref().map(sanitize), signals_line(e)]
            .into_iter()
            .flatten()
        {
            writeln!(out, "{}↳ {extra}", " ".repeat(indent))?;
        }
    }
    Ok(())
}

/// One line per run: when, its command line, how it ended, and its totals.
fn runs_list(h: &History, style: Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Runs:"))?;
    for r in &h.runs {
        let args = sanitize(&r.args.join(" "));
        let totals = totals_text(r);
        writeln!(
            out,
            "  {}  {}  {}{}  (pid {}, run {})",
            short_time(&r.started_at),
            if args.is_empty() {
                sanitize(&r.command)
            } else {
                args
            },
            r.status,
            if totals.is_empty() {
                String::new()
            } else {
                format!(": {totals}")
            },
            r.pid,
            r.run
        )?;
    }
    Ok(())
}

pub fn json(h: &History, asked: &Asked<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut notes = h.notes.clone();
    if let Some(s) = empty_sentence(h, asked) {
        notes.insert(0, s);
    }
    let doc = json!({
        "schema": JOURNAL_SCHEMA,
        "version": env!("CARGO_PKG_VERSION"),
        "journal": h.journal.display().to_string(),
        "exists": h.exists,
        "bytes": h.bytes,
        "filters": {
            "since": asked.since.map(rfc3339),
            "kind": asked.kind,
        },
        "total_entries": h.total_entries,
        "runs": h.runs,
        "entries": h.entries,
        "notes": notes,
    });
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn empty(exists: bool) -> History {
        History {
            journal: PathBuf::from("/var/lib/dockhand/journal.jsonl"),
            exists,
            bytes: 0,
            runs: Vec::new(),
            entries: Vec::new(),
            total_entries: 0,
            notes: Vec::new(),
        }
    }

    fn render(h: &History, asked: &Asked<'_>) -> String {
        let mut out = Vec::new();
        table(h, asked, Style::default(), &mut out).expect("render");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn an_absent_journal_says_so_plainly() {
        let text = render(&empty(false), &Asked::default());
        assert_eq!(
            text.trim(),
            "dockhand has not acted on this host yet (no journal at /var/lib/dockhand/journal.jsonl)"
        );
        let mut out = Vec::new();
        json(&empty(false), &Asked::default(), &mut out).expect("json");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("parses");
        assert_eq!(v["schema"], JOURNAL_SCHEMA);
        assert_eq!(v["exists"], false);
        assert!(
            v["notes"][0]
                .as_str()
                .is_some_and(|n| n.contains("has not acted"))
        );
    }

    #[test]
    fn nothing_matching_names_the_filters() {
        let mut h = empty(true);
        h.total_entries = 3;
        let text = render(
            &h,
            &Asked {
                since: Some(SystemTime::now()),
                since_text: Some("2h"),
                kind: Some("volume"),
            },
        );
        assert!(
            text.contains("no actions match --since 2h --kind volume")
                && text.contains("3 actions in all"),
            "{text}"
        );
    }

    #[test]
    fn times_are_shortened() {
        assert_eq!(
            short_time("2026-11-28T05:53:35.123Z"),
            "2026-11-28 05:53:35Z"
        );
        assert_eq!(short_time("odd"), "odd");
    }
}
