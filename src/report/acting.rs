//! What acting commands (`ports free`, `reap`) print about their plan: one line per step before
//! `--apply`, and with its outcome after. The same [`StepView`] goes into their JSON documents.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::Style;
use crate::actions::{Plan, StepReport};
use crate::util::{millis, sanitize};

/// One step of a plan as printed: what, to what, why; and after `--apply`, how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepView {
    /// The action's kind: `process.terminate`, `container.stop`, `file.remove` …
    pub kind: String,
    pub target: String,
    pub describe: String,
    /// The rule that chose it.
    pub reason: String,
    /// What it is expected to free (before), or freed (after), when known.
    pub bytes: Option<u64>,
    /// After `--apply`: `done`, `already-gone`, `in-use`, `changed`, `refused`, `failed`,
    /// `not-started`. `null` in a dry run.
    pub outcome: Option<String>,
    /// The sentence behind the outcome.
    pub detail: Option<String>,
    pub elapsed_ms: Option<f64>,
}

/// The plan's steps, not yet applied.
pub fn planned(plan: &Plan) -> Vec<StepView> {
    plan.steps.iter().map(planned_step).collect()
}

/// One planned step, not yet carried out.
pub fn planned_step(s: &crate::actions::plan::Step) -> StepView {
    StepView {
        kind: s.action.kind().to_string(),
        target: s.action.target(),
        describe: s.action.describe(),
        reason: s.reason.clone(),
        bytes: s.bytes,
        outcome: None,
        detail: None,
        elapsed_ms: None,
    }
}

/// Steps as they went (the apply's reports, in plan order).
pub fn applied(reports: &[StepReport], plan: &Plan) -> Vec<StepView> {
    reports
        .iter()
        .map(|r| StepView {
            kind: r.kind.to_string(),
            target: r.target.clone(),
            describe: r.describe.clone(),
            reason: r.reason.clone(),
            bytes: r
                .outcome
                .bytes()
                .or_else(|| plan.steps.get(r.index).and_then(|s| s.bytes)),
            outcome: Some(r.outcome.name().to_string()),
            detail: r.outcome.detail().map(str::to_string),
            elapsed_ms: Some(millis(r.elapsed)),
        })
        .collect()
}

/// The mark and colour of an outcome word.
fn mark(style: Style, outcome: Option<&str>) -> String {
    let (m, code) = match outcome {
        None => ("•", "0"),
        Some("done") => ("✔", "32"),
        Some("already-gone" | "not-started") => ("·", "0"),
        Some("in-use" | "changed" | "refused") => ("–", "33"),
        Some(_) => ("✖", "31"),
    };
    let word = outcome.unwrap_or("planned");
    let padded = format!("{m} {word:<12}");
    if style.color && code != "0" {
        format!("\x1b[{code}m{padded}\x1b[0m")
    } else {
        padded
    }
}

/// One line per step: outcome (or "planned"), what is done, why; the outcome's sentence below.
pub fn steps_table(steps: &[StepView], style: Style, out: &mut dyn Write) -> io::Result<()> {
    for s in steps {
        writeln!(
            out,
            "  {} {}",
            mark(style, s.outcome.as_deref()),
            sanitize(&s.describe)
        )?;
        writeln!(out, "      why: {}", sanitize(&s.reason))?;
        if let Some(d) = &s.detail {
            writeln!(out, "      {}", sanitize(d))?;
        }
    }
    Ok(())
}

/// Counts of outcomes, "2 done, 1 changed", for a closing line.
pub fn outcome_counts(steps: &[StepView]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in steps {
        let w = s.outcome.as_deref().unwrap_or("planned");
        match counts.iter_mut().find(|(k, _)| *k == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        let v = |o: Option<&str>| StepView {
            kind: "k".into(),
            target: "t".into(),
            describe: "d".into(),
            reason: "r".into(),
            bytes: None,
            outcome: o.map(str::to_string),
            detail: None,
            elapsed_ms: None,
        };
        let steps = [v(Some("done")), v(Some("changed")), v(Some("done"))];
        assert_eq!(outcome_counts(&steps), "2 done, 1 changed");
        assert_eq!(outcome_counts(&[v(None)]), "1 planned");
        let mut out = Vec::new();
        steps_table(&steps, Style::default(), &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("✔ done") && text.contains("why: r"), "{text}");
    }
}
