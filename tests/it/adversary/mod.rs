//! The adversary suite: every attack in docs/security.md carried out for real. The attacker is an
//! unprivileged user (`nobody`, through [`crate::support::attacker`]) or a process dockhand must
//! not trust; dockhand runs as root. Each test asserts that nothing happened — the target file's
//! bytes and mode unchanged, the victim process alive with the same start time, the container
//! still running, nothing executed — and, where it applies, that the ordinary case still works.
//!
//! One file per kind of attack, so the threat model's table points at one place for each.

mod credentials;
mod files;
mod fix;
mod identity;
mod ingest;
mod plans;
mod unknown;

/// docs/security.md proves each invariant by naming tests and functions: every `a::b::name` it
/// names must exist as a `fn name` in src/ or tests/, so a renamed or removed test cannot leave
/// the threat model pointing at nothing.
#[test]
fn the_threat_model_names_only_functions_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/security.md")).unwrap();
    let mut source = String::new();
    let mut stack = vec![root.join("src"), root.join("tests")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                source.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut named = 0;
    let mut missing = Vec::new();
    for (i, part) in doc.split('`').enumerate() {
        // Odd parts are inside backticks.
        if i % 2 == 0 || !part.contains("::") {
            continue;
        }
        let path = part.trim_end_matches("()");
        let ok = path
            .split("::")
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let last = path.rsplit("::").next().unwrap_or("");
        // Functions and tests are snake_case; types (`Scope::Any`) and `{a, b}` lists are not.
        if !ok || !last.starts_with(|c: char| c.is_ascii_lowercase()) || !last.contains('_') {
            continue;
        }
        named += 1;
        if !source.contains(&format!("fn {last}(")) && !source.contains(&format!("fn {last}<")) {
            missing.push(path.to_string());
        }
    }
    assert!(
        named > 40,
        "docs/security.md names only {named} tests and functions"
    );
    assert!(
        missing.is_empty(),
        "docs/security.md names what does not exist: {missing:?}"
    );
}
