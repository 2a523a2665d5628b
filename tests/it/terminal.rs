//! Output in the terminal people have: through a real pty (util-linux `script`), tables fit the
//! terminal's width — cells wrap at spaces, never mid-word when a space is near — and prose wraps
//! to it; at 200 columns nothing needs to wrap; off a terminal nothing is wrapped.

use std::process::Command;

use crate::support::daemon::DOCKER_TIMEOUT;
use crate::support::{TempDir, TestDaemon, dockhand, dockhand_bin, run};

/// Runs dockhand in a pty `cols` wide (with an empty config and no docker environment), and
/// returns what the terminal received, escape codes removed, lines without their CR.
fn in_pty(cols: usize, args: &[&str]) -> Vec<String> {
    let t = TempDir::new();
    let cfg = t.join("empty.toml");
    std::fs::write(&cfg, "").unwrap();
    let mut line = format!(
        "stty cols {cols} rows 50; exec env -u COLUMNS -u NO_COLOR -u DOCKER_HOST {} --config {}",
        dockhand_bin().display(),
        cfg.display()
    );
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let r = run(cmd, DOCKER_TIMEOUT);
    assert!(!r.timed_out, "{r}");
    strip_escapes(&r.stdout)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' && it.peek() == Some(&'[') {
            it.next();
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[track_caller]
fn assert_fits(lines: &[String], cols: usize) {
    assert!(lines.len() > 3, "{lines:#?}");
    for l in lines {
        assert!(
            l.chars().count() <= cols,
            "a line of {} columns in a {cols}-column terminal:\n{l}\n---\n{}",
            l.chars().count(),
            lines.join("\n")
        );
    }
}

/// No word is split across lines: every word of letters in the rendered finding cells is a
/// whole word of some finding. (Words with digits or punctuation are left out: timings and
/// counts change from run to run, and a path longer than the cell is cut where it must be.)
#[track_caller]
fn words_whole(lines: &[String], findings: &[String]) {
    let known: std::collections::HashSet<&str> = findings
        .iter()
        .flat_map(|f| f.split(|c: char| !c.is_alphabetic()))
        .collect();
    // The table: from the header to the first empty line.
    for l in lines.iter().skip(1).take_while(|l| !l.trim().is_empty()) {
        // The finding column: after the status and the id.
        for w in l.split_whitespace().skip(3) {
            if w.chars().count() < 30 && w.chars().all(char::is_alphabetic) {
                assert!(
                    known.contains(w),
                    "{w:?} is not a whole word of any finding:\n{}",
                    lines.join("\n")
                );
            }
        }
    }
}

/// Each check's finding, from a JSON run.
fn findings(host: &str) -> Vec<String> {
    dockhand(["--host", host, "doctor", "--format", "json"]).json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn doctor_and_df_fit_an_80_column_terminal_and_use_200_when_there() {
    // A daemon of its own: the shared one changes under other tests between two runs.
    let d = TestDaemon::start();
    let host = d.host();
    let findings = findings(&host);

    let narrow = in_pty(80, &["--host", &host, "doctor"]);
    assert_fits(&narrow, 80);
    // Findings that name ages and timings may read differently a moment later: both runs count.
    let around: Vec<String> = findings
        .iter()
        .cloned()
        .chain(self::findings(&host))
        .collect();
    words_whole(&narrow, &around);
    // Coloured on a terminal (the marks were painted after the layout).
    let wide = in_pty(200, &["--host", &host, "doctor"]);
    assert_fits(&wide, 200);
    let rows = wide
        .iter()
        .filter(|l| l.contains("✔ ok") || l.contains("! warning") || l.contains("? unknown"))
        .count();
    // Each check on one line at 200 columns where its finding fits.
    let short = findings.iter().filter(|f| f.chars().count() < 150).count();
    assert!(
        rows >= short,
        "{rows} rows for {short} short findings:\n{}",
        wide.join("\n")
    );

    let df = in_pty(80, &["--host", &host, "df", "-v"]);
    assert_fits(&df, 80);
    assert!(df.iter().any(|l| l.contains("Images")), "{}", df.join("\n"));

    // Off a terminal nothing is wrapped: one line per check.
    let piped = dockhand(["--host", &host, "doctor"]);
    let lines = piped
        .stdout
        .lines()
        .filter(|l| l.contains(" ok ") || l.contains("✔"))
        .count();
    assert!(lines >= findings.len() - 2, "{piped}");
}
