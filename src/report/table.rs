//! Human output: a table with status marks, what to do for each finding, a summary line.

use std::io::{self, Write};

use comfy_table::{Cell, ContentArrangement, Table, presets};

use super::Style;
use crate::doctor::catalog::Catalog;
use crate::doctor::{Report, Status};
use crate::util::{human_duration, sanitize};

pub fn doctor(report: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(vec![
        Cell::new(style.status_header()),
        Cell::new("CHECK"),
        Cell::new("FINDING"),
    ]);
    for c in &report.checks {
        t.add_row(vec![
            Cell::new(style.status(c.finding.status)),
            Cell::new(&c.id),
            Cell::new(sanitize(&c.finding.summary)),
        ]);
    }
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
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
            writeln!(out, "  {}: {}", ids.join(", "), sanitize(r))?;
        }
    }
    let s = report.summary();
    writeln!(out)?;
    writeln!(
        out,
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
    )
}

pub fn catalog(cat: &Catalog, out: &mut dyn Write) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(vec!["ID", "AREA", "SEVERITY", "TITLE"]);
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
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
