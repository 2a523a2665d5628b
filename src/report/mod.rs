//! Renderers. Commands hand a finished report here; nothing else prints.

pub mod acting;
pub mod df;
pub mod journal;
pub mod json;
pub mod nagios;
pub mod npd;
pub mod ports;
pub mod prometheus;
pub mod reap;
pub mod table;

use std::io::{self, BufWriter, Write};

use crate::doctor::{Report, Status};
use crate::exit::ExitCode;

/// Writes a command's output to stdout. A closed pipe (`dockhand ports | head -1`) ends the run
/// quietly with the run's own code (`None`); any other write error is reported and is 70.
pub fn emit(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Option<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => None,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
        Err(e) => {
            eprintln!("dockhand: cannot write the report: {e}");
            Some(ExitCode::Internal)
        }
    }
}

/// How the run's output is styled.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
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
