//! `--format prometheus`: the node_exporter textfile collector's format. Written to stdout, or
//! with `--textfile PATH` to a temporary file beside PATH that is then renamed over it, so the
//! collector never reads half a file.

use std::io::{self, Write};
use std::path::Path;

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

/// Writes `render`'s output to `path` atomically: a temporary file in the same directory,
/// flushed to disk, then renamed over `path`. On any error the temporary file is removed and
/// `path` is left as it was.
pub fn write_atomically(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "names no file"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        {
            let mut w = io::BufWriter::new(&mut f);
            render(&mut w)?;
            w.flush()?;
        }
        // Readable by the collector, which may run as another user.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn atomic_write_replaces_or_leaves_untouched() {
        let d = std::env::temp_dir().join(format!("dockhand-prom-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("mkdir");
        let p = d.join("dockhand.prom");
        std::fs::write(&p, "old\n").expect("write");
        write_atomically(&p, |w| writeln!(w, "new")).expect("writes");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new\n");
        let failed = write_atomically(&p, |w| {
            writeln!(w, "half")?;
            Err(io::Error::other("render failed"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "new\n",
            "left as it was"
        );
        let leftovers = std::fs::read_dir(&d).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(d);
    }
}
