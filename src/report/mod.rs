//! Renderers. Commands hand a finished report here; nothing else prints.

pub mod df;
pub mod journal;
pub mod json;
pub mod nagios;
pub mod npd;
pub mod prometheus;
pub mod pull;
pub mod recover;
pub mod table;

use crate::doctor::{Report, Status};

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
