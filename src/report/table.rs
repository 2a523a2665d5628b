//! Human output: a table with status marks, what to do for each finding, a summary line.

use std::io::{self, Write};

use comfy_table::Cell;

use super::Style;
use crate::catalog::Catalog;
use crate::doctor::{Report, Status};
use crate::util::{human_duration, sanitize};

pub fn doctor(report: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    // Laid out without escape codes (so widths are true), then the marks are coloured.
    let mut t = style.table(&["STATUS", "CHECK", "FINDING"]);
    for c in &report.checks {
        t.add_row(vec![
            Cell::new(Style::status_plain(c.finding.status)),
            Cell::new(&c.id),
            Cell::new(sanitize(&c.finding.summary)),
        ]);
    }
    // The first two columns never wrap: the finding takes what is left.
    for (i, w) in [(0usize, 11u16), (1, 30)] {
        if let Some(col) = t.column_mut(i) {
            col.set_constraint(comfy_table::ColumnConstraint::LowerBoundary(
                comfy_table::Width::Fixed(
                    w.min(
                        report
                            .checks
                            .iter()
                            .map(|c| if i == 0 { 11 } else { c.id.len() as u16 + 2 })
                            .max()
                            .unwrap_or(w),
                    ),
                ),
            ));
        }
    }
    for line in t.lines() {
        writeln!(out, "{}", style.paint_statuses(line.trim_end()))?;
    }
    // One line per distinct remedy: when the daemon is down, three checks say the same thing.
    let mut todo: Vec<(Vec<&str>, &str)> = Vec::new();
    for c in report
        .checks
        .iter()
        .filter(|c| c.finding.status != Status::Ok)
    {
        let Some(r) = c.finding.remedy.as_deref() else {
            continue;
        };
        match todo.iter_mut().find(|(_, seen)| *seen == r) {
            Some((ids, _)) => ids.push(&c.id),
            None => todo.push((vec![&c.id], r)),
        }
    }
    if !todo.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("What to do:"))?;
        for (ids, r) in todo {
            let line = format!("  {}: {}", ids.join(", "), sanitize(r));
            writeln!(out, "{}", style.wrap(&line, 4))?;
        }
    }
    let s = report.summary();
    writeln!(out)?;
    let summary = format!(
        "{} check{}: {} ok, {} warning, {} critical, {} unknown in {} — {} ({})",
        report.checks.len(),
        if report.checks.len() == 1 { "" } else { "s" },
        s.ok,
        s.warning,
        s.critical,
        s.unknown,
        human_duration(report.elapsed),
        report.endpoint,
        report.source
    );
    writeln!(out, "{}", style.wrap(&summary, 2))
}

pub fn catalog(cat: &Catalog, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut t = style.table(&["ID", "AREA", "SEVERITY", "TITLE"]);
    for c in &cat.checks {
        let sev = serde_json::to_value(c.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        t.add_row(vec![
            c.id.as_str(),
            c.area.as_str(),
            sev.as_str(),
            c.title.as_str(),
        ]);
    }
    style.write_table(&t, out)
}
