//! How the journal ends a run that could not act: `gc --apply-plan` (and `gc --apply`) with no
//! engine exits 69 and the journal says "failed" with the sentence the run printed — never
//! "completed: nothing to do", which reads as success.

use serde_json::Value;

use crate::support::{TempDir, dockhand};

#[test]
fn a_gc_run_without_an_engine_is_journaled_as_failed_with_its_reason() {
    let state = TempDir::new();
    let plan = state.join("never-read.plan");
    let host = "unix:///nonexistent/dockhand-no-engine.sock";
    let st = state.path().to_str().unwrap();
    let r = dockhand([
        "--host",
        host,
        "--state-dir",
        st,
        "gc",
        "--apply-plan",
        plan.to_str().unwrap(),
    ]);
    r.assert_code(69);
    assert!(r.stderr.contains("gc needs the engine"), "{r}");
    let r = dockhand(["--host", host, "--state-dir", st, "gc", "--apply"]);
    r.assert_code(69);

    let j = dockhand(["--state-dir", st, "journal", "--format", "json"]);
    j.assert_code(0);
    let doc: Value = serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("{e}\n{j}"));
    let runs = doc["runs"].as_array().unwrap_or_else(|| panic!("{j}"));
    assert_eq!(runs.len(), 2, "{j}");
    for run in runs {
        assert_eq!(run["command"], "gc", "{j}");
        assert_eq!(run["status"], "failed", "{j}");
        let reason = run["reason"].as_str().unwrap_or_else(|| panic!("{j}"));
        assert!(reason.starts_with("gc needs the engine"), "{j}");
    }
    let t = dockhand(["--state-dir", st, "journal"]);
    t.assert_code(0);
    assert!(t.stdout.contains("failed: gc needs the engine"), "{t}");
    assert!(!t.stdout.contains("nothing to do"), "{t}");
}
