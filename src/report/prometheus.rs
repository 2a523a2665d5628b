//! `--format prometheus`: the node_exporter textfile collector's format. Written to stdout, or
//! with `--textfile PATH` to a temporary file beside PATH that is then renamed over it, so the
//! collector never reads half a file.

use std::io::{self, Write};

use crate::doctor::{Report, Status};

use super::metrics;

fn status_value(s: Status) -> u8 {
    match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
        Status::Unknown => 3,
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn doctor(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# HELP dockhand_check_status Status of a doctor check: 0 ok, 1 warning, 2 critical, 3 unknown."
    )?;
    writeln!(out, "# TYPE dockhand_check_status gauge")?;
    for c in &report.checks {
        writeln!(
            out,
            "dockhand_check_status{{check=\"{}\",area=\"{}\"}} {}",
            label(&c.id),
            label(&c.area),
            status_value(c.finding.status)
        )?;
    }
    writeln!(
        out,
        "# HELP dockhand_check_duration_seconds Time a check took."
    )?;
    writeln!(out, "# TYPE dockhand_check_duration_seconds gauge")?;
    for c in &report.checks {
        writeln!(
            out,
            "dockhand_check_duration_seconds{{check=\"{}\"}} {:.6}",
            label(&c.id),
            c.elapsed_ms.as_secs_f64()
        )?;
    }
    writeln!(
        out,
        "# HELP dockhand_check_value Numeric evidence of a check: counts, bytes, percents, latencies (field names the quantity)."
    )?;
    writeln!(out, "# TYPE dockhand_check_value gauge")?;
    for (check, field, value) in metrics(report) {
        writeln!(
            out,
            "dockhand_check_value{{check=\"{}\",field=\"{}\"}} {value}",
            label(&check),
            label(&field)
        )?;
    }
    let s = report.summary();
    writeln!(
        out,
        "# HELP dockhand_checks Checks by status in the last run."
    )?;
    writeln!(out, "# TYPE dockhand_checks gauge")?;
    for (name, n) in [
        ("ok", s.ok),
        ("warning", s.warning),
        ("critical", s.critical),
        ("unknown", s.unknown),
    ] {
        writeln!(out, "dockhand_checks{{status=\"{name}\"}} {n}")?;
    }
    writeln!(
        out,
        "# HELP dockhand_status The run's status (the worst check): 0 ok, 1 warning, 2 critical, 3 unknown."
    )?;
    writeln!(out, "# TYPE dockhand_status gauge")?;
    writeln!(out, "dockhand_status {}", status_value(report.status()))?;
    let ts = report
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    writeln!(
        out,
        "# HELP dockhand_last_run_timestamp_seconds When the run started, seconds since the epoch."
    )?;
    writeln!(out, "# TYPE dockhand_last_run_timestamp_seconds gauge")?;
    writeln!(out, "dockhand_last_run_timestamp_seconds {ts:.3}")?;
    writeln!(
        out,
        "# HELP dockhand_run_duration_seconds How long the run took."
    )?;
    writeln!(out, "# TYPE dockhand_run_duration_seconds gauge")?;
    writeln!(
        out,
        "dockhand_run_duration_seconds {:.6}",
        report.elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
