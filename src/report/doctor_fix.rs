//! `dockhand doctor --fix`: the part of doctor's document that says what is fixed and how — the
//! steps dockhand carries out itself (the ones `reap` and `gc` plan), the advice for what a
//! person must do, what was left alone and why, and after `--apply` how each step went and the
//! fixed checks as they stand now. As text after the findings, or as the `fix` object of
//! `dockhand.doctor/v1` (docs/json.md).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::Style;
use super::acting::{StepView, outcome_counts, steps_table};
use crate::doctor::{Report, Status};
use crate::util::sanitize;

/// What `--fix` planned (and, with `--apply`, did).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixDoc {
    /// `dry-run` or `apply`.
    pub mode: String,
    /// The check ids `--fix=ID,area` limited the fix to; empty: every check the run ran.
    pub scope: Vec<String>,
    /// The steps dockhand carries out itself, each with the check it fixes.
    pub steps: Vec<FixStep>,
    /// What a person must do, in the check's own words.
    pub advice: Vec<Advice>,
    /// Findings (or objects) not acted on, and why: unknown never acts, nothing is forced.
    pub left_alone: Vec<LeftAlone>,
    pub notes: Vec<String>,
    /// After `--apply`: the fixed checks as they were when the plan was made (the document's
    /// `checks` then hold them as re-run after the fix). Empty in a dry run.
    pub before: Vec<Brief>,
    /// After `--apply`: the journal's run id of the steps; `null` in a dry run or when there was
    /// nothing to carry out.
    pub run_id: Option<String>,
}

/// One step, with the check whose finding it fixes and the acting command's category for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixStep {
    pub check: String,
    /// reap's category (`leaked-proxy`, `pidfile`, `orphan-shim`, `orphan-shim-task`,
    /// `zombie-parent`, `tmp`, `dead-container`) or gc's object (`image`, `volume`).
    pub category: String,
    /// The command that plans such a step: `reap` or `gc`.
    pub planner: String,
    #[serde(flatten)]
    pub step: StepView,
}

/// What a person must do for one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advice {
    pub check: String,
    pub status: String,
    pub text: String,
    /// The commands the advice names (`["dockhand", "gc", "--volumes"]`), as the finding's fix
    /// gives them.
    pub commands: Vec<Vec<String>>,
}

/// Something not acted on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeftAlone {
    pub check: String,
    /// The object, when the reason is about one (a process, a file); `null` for a whole finding.
    pub target: Option<String>,
    pub why: String,
}

/// A check's finding in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    pub id: String,
    pub status: String,
    pub summary: String,
}

impl FixDoc {
    pub fn applied(&self) -> bool {
        self.mode == "apply"
    }
}

/// The fix as text, after the findings' table; `after` is the report as it stands after an
/// apply (the fixed checks re-run).
pub fn table(
    doc: &FixDoc,
    after: Option<&Report>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out)?;
    let scope = if doc.scope.is_empty() {
        String::new()
    } else {
        format!(" (limited to {})", doc.scope.join(", "))
    };
    if doc.steps.is_empty() {
        writeln!(out, "Fix{scope}: nothing dockhand can carry out itself.")?;
    } else if doc.applied() {
        let views: Vec<StepView> = doc.steps.iter().map(|s| s.step.clone()).collect();
        writeln!(out, "Fix{scope}, applied: {}.", outcome_counts(&views))?;
    } else {
        writeln!(
            out,
            "Fix{scope}: {} dockhand can carry out (a dry run: add --apply to act):",
            match doc.steps.len() {
                1 => "1 step".to_string(),
                n => format!("{n} steps"),
            }
        )?;
    }
    let mut checks: Vec<&str> = doc.steps.iter().map(|s| s.check.as_str()).collect();
    checks.dedup();
    for c in checks {
        writeln!(out, "  {c}")?;
        let views: Vec<StepView> = doc
            .steps
            .iter()
            .filter(|s| s.check == c)
            .map(|s| s.step.clone())
            .collect();
        steps_table(&views, style, out)?;
    }
    if !doc.advice.is_empty() {
        writeln!(out, "\nFor a person to do:")?;
        for a in &doc.advice {
            writeln!(
                out,
                "  {}: {}",
                a.check,
                style.wrap(&sanitize(&a.text), 4).trim_start()
            )?;
        }
    }
    if !doc.left_alone.is_empty() {
        writeln!(out, "\nLeft alone:")?;
        for l in &doc.left_alone {
            let what = l
                .target
                .as_deref()
                .map_or_else(String::new, |t| format!("{} ", sanitize(t)));
            writeln!(
                out,
                "  {}: {}",
                l.check,
                style
                    .wrap(&format!("{what}{}", sanitize(&l.why)), 4)
                    .trim_start()
            )?;
        }
    }
    for n in &doc.notes {
        writeln!(out, "note: {}", style.wrap(&sanitize(n), 6).trim_start())?;
    }
    if let Some(after) = after
        && !doc.before.is_empty()
    {
        writeln!(out, "\nAfter the fix:")?;
        for b in &doc.before {
            let Some(c) = after.checks.iter().find(|c| c.id == b.id) else {
                continue;
            };
            let line = format!(
                "  {} {:<28} {}",
                Style::status_plain(c.finding.status),
                c.id,
                sanitize(&c.finding.summary)
            );
            writeln!(out, "{}", style.paint_statuses(&line))?;
        }
        let status = after.status();
        let line = format!("Now: {}", Style::status_plain(status).trim_end());
        writeln!(out, "{}", style.paint_statuses(&line))?;
        if status != Status::Ok {
            writeln!(
                out,
                "(the status counts every check: the ones not fixed stand as found)"
            )?;
        }
    }
    Ok(())
}

/// `doctor --fix --format json`: doctor's document (after an apply, its checks as they stand
/// now) with the `fix` object, and the run's own exit code.
pub fn json(
    report: &Report,
    doc: &FixDoc,
    code: crate::exit::ExitCode,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut v = super::json::doctor_value(report);
    if let Some(o) = v.as_object_mut() {
        o.insert("exit_code".into(), code.code().into());
        o.insert(
            "fix".into(),
            serde_json::to_value(doc).map_err(io::Error::other)?,
        );
    }
    super::json::write_doc(&v, out)
}
