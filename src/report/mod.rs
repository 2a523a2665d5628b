//! Renderers. Commands hand a finished report here; nothing else prints.

pub(crate) mod acting;
pub(crate) mod df;
pub mod doctor_fix;
pub mod gc;
pub(crate) mod journal;
pub(crate) mod json;
pub(crate) mod nagios;
pub(crate) mod npd;
pub mod ports;
pub(crate) mod prometheus;
pub(crate) mod pull;
pub mod reap;
pub(crate) mod recover;
pub(crate) mod table;

use std::io::{self, IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};

use crate::doctor::{Report, Status};

/// How the run's output is styled (a setting: it lives with the settings).
pub use crate::settings::Style;

/// The width of the terminal on stdout: `COLUMNS` when set (as the shell keeps it), else the
/// terminal's own size; `None` when stdout is not a terminal.
pub fn terminal_width() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(c);
    }
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: neither std nor nix reads a terminal's size safely (nix's ioctl macros generate
    // `unsafe fn`s too). TIOCGWINSZ writes one `winsize` into the struct we pass; on a closed
    // or non-terminal fd 1 it fails with an error and writes nothing.
    let r = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ, &mut ws) };
    Some(if r == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    })
}

/// Wraps `text` to `width` columns at spaces, never inside a word unless the word alone is wider
/// than a line; lines after the first start with `indent` spaces. Spacing inside a line (a
/// table's padding) is kept. `None`: one line, as is.
pub fn wrap(text: &str, width: Option<usize>, indent: usize) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let width = width.max(indent + 20);
    let mut out = String::with_capacity(text.len() + 16);
    let mut line: Vec<char> = Vec::new();
    let mut first = true;
    for ch in text.chars() {
        line.push(ch);
        while line.len() > width {
            // Break at the last space past the indent; else cut the word (last resort).
            let floor = if first { 0 } else { indent };
            let cut = line[floor..]
                .iter()
                .rposition(|c| *c == ' ')
                .map(|i| i + floor)
                .filter(|i| *i > floor);
            let (head, rest): (Vec<char>, Vec<char>) = match cut {
                Some(i) => (line[..i].to_vec(), line[i + 1..].to_vec()),
                None => (line[..width].to_vec(), line[width..].to_vec()),
            };
            out.extend(
                head.iter()
                    .rev()
                    .skip_while(|c| **c == ' ')
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev(),
            );
            out.push('\n');
            first = false;
            line = std::iter::repeat_n(' ', indent)
                .chain(rest.into_iter().skip_while(|c| *c == ' '))
                .collect();
        }
    }
    out.extend(line);
    out
}

impl Style {
    /// A table in the house's plain look, wrapping its cells to the terminal's width when there
    /// is one (comfy-table breaks a cell's text at spaces first).
    pub fn table(&self, header: &[&str]) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::NOTHING);
        match self.width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic)
                    .set_width(u16::try_from(w).unwrap_or(u16::MAX));
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        if !header.is_empty() {
            t.set_header(header.to_vec());
        }
        t
    }

    /// Writes a table's lines, trailing spaces trimmed.
    pub fn write_table(&self, t: &Table, out: &mut dyn Write) -> io::Result<()> {
        for line in t.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    /// Prose wrapped to the terminal (see [`wrap`]).
    pub fn wrap(&self, text: &str, indent: usize) -> String {
        wrap(text, self.width, indent)
    }

    /// The status word with its mark, padded to one width, uncoloured (tables are laid out
    /// without escape codes, then [`Style::paint_statuses`] colours the marks).
    pub fn status_plain(s: Status) -> String {
        format!("{:<10}", Self::mark(s))
    }

    fn mark(s: Status) -> &'static str {
        match s {
            Status::Ok => "✔ ok",
            Status::Warning => "! warning",
            Status::Critical => "✖ critical",
            Status::Unknown => "? unknown",
        }
    }

    /// Colours the status marks and the STATUS header in a rendered table line.
    pub fn paint_statuses(&self, line: &str) -> String {
        if !self.color {
            return line.to_string();
        }
        for (s, code) in [
            (Status::Ok, "32"),
            (Status::Warning, "33"),
            (Status::Critical, "31"),
            (Status::Unknown, "35"),
        ] {
            let m = Self::mark(s);
            if let Some(i) = line.find(m)
                && line[..i].trim().is_empty()
            {
                return format!(
                    "{}\x1b[{code}m{m}\x1b[0m{}",
                    &line[..i],
                    &line[i + m.len()..]
                );
            }
        }
        if let Some(i) = line.find("STATUS")
            && line[..i].trim().is_empty()
        {
            return format!("{}\x1b[01mSTATUS\x1b[0m{}", &line[..i], &line[i + 6..]);
        }
        line.to_string()
    }

    /// The status word with its mark, padded to one width so columns line up, then coloured.
    /// Every variant gets escape codes of the same length (or none), so a table that counts
    /// bytes still aligns.
    pub fn status(&self, s: Status) -> String {
        let (mark, code) = match s {
            Status::Ok => ("✔ ok", "32"),
            Status::Warning => ("! warning", "33"),
            Status::Critical => ("✖ critical", "31"),
            Status::Unknown => ("? unknown", "35"),
        };
        let padded = format!("{mark:<10}");
        if self.color {
            format!("\x1b[{code}m{padded}\x1b[0m")
        } else {
            padded
        }
    }

    /// A header cell for the status column, carrying escape codes as long as the status cells'.
    pub fn status_header(&self) -> String {
        let padded = format!("{:<10}", "STATUS");
        if self.color {
            format!("\x1b[01m{padded}\x1b[0m")
        } else {
            padded
        }
    }

    pub fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Every numeric field at the top level of each check's evidence — counts, bytes, percents,
/// latencies — as (check, field, value), for Nagios perfdata and Prometheus gauges. Probes need
/// not declare metrics: what they put in evidence as a number is exported.
pub fn metrics(report: &Report) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for c in &report.checks {
        let Some(obj) = c.finding.evidence.as_object() else {
            continue;
        };
        for (k, v) in obj {
            if let Some(n) = v.as_f64().filter(|_| !v.is_boolean()) {
                // pids and ports are identifiers, not quantities.
                if matches!(
                    k.as_str(),
                    "pid" | "ppid" | "port" | "pidfile_pid" | "parent_pid"
                ) {
                    continue;
                }
                out.push((c.id.clone(), k.clone(), n));
            }
        }
    }
    out
}

/// The keys of `doc` (at every depth) that the section `## \`schema\`` of docs/json.md does not
/// name in backquotes: a JSON document and its documentation must not drift apart.
#[cfg(test)]
pub(crate) fn undocumented(schema: &str, doc: &serde_json::Value) -> Vec<String> {
    fn keys(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    out.insert(k.clone());
                    keys(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let text = include_str!("../../docs/json.md");
    let head = format!("## `{schema}`");
    let Some(start) = text.find(&head) else {
        return vec![format!("no section {head}")];
    };
    let rest = &text[start + head.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    // The tables and prose, not the example (which shows every key by construction).
    let section = section.rsplit("```").next().unwrap_or(section);
    let mut all = std::collections::BTreeSet::new();
    keys(doc, &mut all);
    all.into_iter()
        .filter(|k| {
            ![
                format!("`{k}`"),
                format!("`{k}[]`"),
                format!(".{k}`"),
                format!(".{k}[]`"),
                format!("\"{k}\""),
            ]
            .iter()
            .any(|form| section.contains(form.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_wraps_at_spaces_with_a_hanging_indent() {
        let text = "Remove stopped containers with `dockhand gc` (a dry run; add --apply to act): it keeps those labelled dockhand.keep.";
        let cases: [(Option<usize>, usize); 4] =
            [(None, 0), (Some(40), 4), (Some(80), 2), (Some(200), 2)];
        for (width, indent) in cases {
            let got = wrap(text, width, indent);
            match width {
                None => assert_eq!(got, text),
                Some(w) => {
                    for (i, line) in got.lines().enumerate() {
                        assert!(line.chars().count() <= w, "{w}: {line:?}");
                        if i > 0 {
                            assert!(line.starts_with(&" ".repeat(indent)), "{line:?}");
                        }
                    }
                    // Nothing lost, nothing broken mid-word.
                    let words: Vec<&str> = got.split_whitespace().collect();
                    assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
                }
            }
        }
        // A word wider than a line is cut as a last resort, and nothing else.
        let long = format!("see {}", "x".repeat(50));
        let got = wrap(&long, Some(30), 2);
        assert!(got.lines().all(|l| l.chars().count() <= 30), "{got}");
        assert_eq!(got.replace(['\n', ' '], ""), long.replace(' ', ""));
    }

    #[test]
    fn status_marks_are_painted_after_layout() {
        let s = Style {
            color: true,
            width: Some(80),
        };
        let line = format!(
            " {} daemon.reachable ok",
            Style::status_plain(Status::Critical)
        );
        let painted = s.paint_statuses(&line);
        assert!(painted.contains("\x1b[31m✖ critical\x1b[0m"), "{painted:?}");
        let plain = Style::default().paint_statuses(&line);
        assert_eq!(plain, line);
    }
}
