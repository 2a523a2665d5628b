//! `dockhand reap`: its plan (or what it did) as text for people, or one JSON document
//! (`dockhand.reap/v1`; docs/json.md).

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::Style;
use super::acting::{StepView, outcome_counts, steps_table};
use crate::actions::Totals;
use crate::exit::ExitCode;
use crate::units::rfc3339;
use crate::util::{human_bytes, millis, sanitize};

pub const REAP_SCHEMA: &str = "dockhand.reap/v1";

/// One step, with what it reaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReapStep {
    /// `leaked-proxy`, `pidfile`, `orphan-shim-task`, `orphan-shim`, `zombie-parent`, `tmp`,
    /// `dead-container`.
    pub category: String,
    #[serde(flatten)]
    pub step: StepView,
}

/// Something found and left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub category: String,
    pub target: String,
    pub why: String,
}

/// `dockhand reap --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReapDoc {
    pub schema: String,
    pub version: String,
    pub started_at: String,
    pub elapsed_ms: f64,
    pub endpoint: String,
    pub daemon_pid: Option<i32>,
    pub applied: bool,
    pub shims: bool,
    pub steps: Vec<ReapStep>,
    pub skipped: Vec<Skipped>,
    /// After `--apply`: the outcomes counted, and the bytes freed.
    pub totals: Option<Totals>,
    pub exit_code: i32,
    pub notes: Vec<String>,
}

impl ReapDoc {
    /// A document for the steps as planned (the command fills in its plan: the steps with
    /// their categories, what was left alone, the daemon's pid).
    pub fn new(endpoint: String, started_at: SystemTime, applied: bool, shims: bool) -> ReapDoc {
        ReapDoc {
            schema: REAP_SCHEMA.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: rfc3339(started_at),
            elapsed_ms: 0.0,
            endpoint,
            daemon_pid: None,
            applied,
            shims,
            steps: Vec::new(),
            skipped: Vec::new(),
            totals: None,
            exit_code: 0,
            notes: Vec::new(),
        }
    }

    pub fn finish(
        &mut self,
        code: ExitCode,
        notes: Vec<String>,
        totals: Option<Totals>,
        elapsed: Duration,
    ) {
        self.exit_code = code.code();
        self.notes = notes;
        self.totals = totals;
        self.elapsed_ms = millis(elapsed);
    }
}

pub fn json(doc: &ReapDoc, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc).map_err(io::Error::other)?;
    writeln!(out)
}

fn heading(category: &str) -> &'static str {
    match category {
        "leaked-proxy" => "Leaked docker-proxy processes",
        "pidfile" => "The daemon's pid file",
        "orphan-shim-task" => "Container processes under orphan shims",
        "orphan-shim" => "Orphan shims",
        "zombie-parent" => "Parents of zombies",
        "tmp" => "Leftovers in <data-root>/tmp",
        "dead-container" => "Containers stuck in dead",
        _ => "Other",
    }
}

pub fn table(doc: &ReapDoc, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if doc.steps.is_empty() {
        writeln!(out, "Nothing to reap.")?;
    } else {
        let mut cats: Vec<&str> = doc.steps.iter().map(|s| s.category.as_str()).collect();
        cats.dedup();
        let mut seen: Vec<&str> = Vec::new();
        for c in cats {
            if seen.contains(&c) {
                continue;
            }
            seen.push(c);
            writeln!(out, "{}", style.bold(&format!("{}:", heading(c))))?;
            let views: Vec<StepView> = doc
                .steps
                .iter()
                .filter(|s| s.category == c)
                .map(|s| s.step.clone())
                .collect();
            steps_table(&views, style, out)?;
        }
    }
    if !doc.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Found and left alone:"))?;
        for s in &doc.skipped {
            writeln!(
                out,
                "  – {} [{}]: {}",
                sanitize(&s.target),
                s.category,
                sanitize(&s.why)
            )?;
        }
    }
    writeln!(out)?;
    let views: Vec<StepView> = doc.steps.iter().map(|s| s.step.clone()).collect();
    let bytes: u64 = views.iter().filter_map(|v| v.bytes).sum();
    let freed = if bytes > 0 {
        format!("; {} of files", human_bytes(bytes))
    } else {
        String::new()
    };
    if doc.applied {
        writeln!(
            out,
            "{} step{}: {}{freed}.",
            views.len(),
            if views.len() == 1 { "" } else { "s" },
            if views.is_empty() {
                "nothing done".to_string()
            } else {
                outcome_counts(&views)
            }
        )?;
    } else if !views.is_empty() {
        writeln!(
            out,
            "{} step{} planned{freed}. A dry run: nothing was changed; add --apply to act.",
            views.len(),
            if views.len() == 1 { "" } else { "s" },
        )?;
    }
    for n in &doc.notes {
        writeln!(out, "note: {}", sanitize(n))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_documented_and_reads_back() {
        let doc = ReapDoc {
            schema: REAP_SCHEMA.into(),
            version: "0".into(),
            started_at: "t".into(),
            elapsed_ms: 1.0,
            endpoint: "e".into(),
            daemon_pid: Some(1),
            applied: true,
            shims: true,
            steps: vec![ReapStep {
                category: "tmp".into(),
                step: StepView {
                    kind: "file.remove".into(),
                    target: "/x".into(),
                    describe: "d".into(),
                    reason: "r".into(),
                    bytes: Some(1),
                    outcome: Some("done".into()),
                    detail: Some("x".into()),
                    elapsed_ms: Some(1.0),
                },
            }],
            skipped: vec![Skipped {
                category: "orphan-shim".into(),
                target: "t".into(),
                why: "w".into(),
            }],
            totals: Some(Totals::default()),
            exit_code: 0,
            notes: vec!["n".into()],
        };
        let v = serde_json::to_value(&doc).expect("json");
        assert_eq!(
            super::super::undocumented(REAP_SCHEMA, &v),
            Vec::<String>::new()
        );
        let back: ReapDoc = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, doc);
    }
}
