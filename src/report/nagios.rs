//! `--format nagios`: the Nagios/Icinga plugin protocol — one status line with performance
//! data, then one line per check that is not ok; the exit code is the run's (0–3).

use std::io::{self, Write};

use crate::doctor::{Report, Status};
use crate::util::sanitize;

use super::metrics;

pub fn doctor(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let status = report.status();
    let s = report.summary();
    let word = match status {
        Status::Ok => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    };
    let bad: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.finding.status != Status::Ok)
        .collect();
    let text = match bad.as_slice() {
        [] => format!("{} checks ok", report.checks.len()),
        [one] => format!("{}: {}", one.id, one.finding.summary),
        many => format!(
            "{} critical, {} warning, {} unknown: {}",
            s.critical,
            s.warning,
            s.unknown,
            many.iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    // The status line must stay one line, and `|` starts the performance data.
    let text = one_line(&text);
    let mut perf = vec![
        format!("checks={}", report.checks.len()),
        format!("ok={}", s.ok),
        format!("warning={}", s.warning),
        format!("critical={}", s.critical),
        format!("unknown={}", s.unknown),
        format!("elapsed={:.3}s", report.elapsed.as_secs_f64()),
    ];
    for (check, field, value) in metrics(report) {
        perf.push(format!("'{check}.{field}'={}", trim(value)));
    }
    writeln!(out, "DOCKHAND {word} - {text} | {}", perf.join(" "))?;
    for c in &bad {
        writeln!(
            out,
            "{} {}: {}",
            c.finding.status.as_str().to_uppercase(),
            c.id,
            one_line(&c.finding.summary)
        )?;
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    sanitize(s).replace(['\n', '\r'], " ").replace('|', "/")
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
