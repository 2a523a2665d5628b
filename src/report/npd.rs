//! `--format npd`: node-problem-detector's custom plugin protocol. The exit code is the
//! plugin's verdict — 0 ok, 1 a problem, 2 unknown — and stdout one short line, which NPD
//! copies into the node condition's message. Meant to run one check per plugin rule
//! (`doctor --check ID --format npd`), so each condition has its own reason.

use std::io::{self, Write};

use crate::doctor::{Report, Status};
use crate::exit::ExitCode;
use crate::util::sanitize;

/// NPD truncates messages (max_output_length, 80 by default); say the important part first.
const MAX: usize = 200;

pub fn doctor(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let worst = report
        .checks
        .iter()
        .filter(|c| c.finding.status != Status::Ok)
        .max_by_key(|c| match c.finding.status {
            Status::Critical => 3,
            Status::Warning => 2,
            Status::Unknown => 1,
            Status::Ok => 0,
        });
    let line = match (worst, report.checks.as_slice()) {
        (Some(c), _) => format!("{}: {}", c.id, c.finding.summary),
        (None, [one]) => format!("{}: {}", one.id, one.finding.summary),
        (None, all) => format!("{} checks ok", all.len()),
    };
    let line: String = sanitize(&line)
        .replace(['\n', '\r'], " ")
        .chars()
        .take(MAX)
        .collect();
    writeln!(out, "{line}")
}

/// The plugin's exit code: a warning or critical finding is a problem; unknown only when
/// nothing is known to be wrong.
pub fn exit_code(report: &Report) -> ExitCode {
    let s = report.summary();
    if s.critical + s.warning > 0 {
        ExitCode::Warning
    } else if s.unknown > 0 {
        ExitCode::Critical
    } else {
        ExitCode::Ok
    }
}
