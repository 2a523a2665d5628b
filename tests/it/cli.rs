//! The command line itself: `--version` names the revision, completions and the man page come
//! from the same definitions that parse the line.

use crate::support::dockhand;

#[test]
fn version_names_the_release_and_the_revision() {
    let r = dockhand(["--version"]);
    r.assert_code(0);
    let v = r.stdout.trim();
    let want = format!("dockhand {} (", env!("CARGO_PKG_VERSION"));
    assert!(v.starts_with(&want) && v.ends_with(')'), "{v:?}");
    let rev = &v[want.len()..v.len() - 1];
    assert!(!rev.is_empty() && !rev.contains(' '), "{v:?}");
}

#[test]
fn completions_for_each_shell_know_every_command() {
    for (shell, marker) in [
        ("bash", "_dockhand()"),
        ("zsh", "#compdef dockhand"),
        ("fish", "complete -c dockhand"),
    ] {
        let r = dockhand(["completions", shell]);
        r.assert_code(0);
        assert!(r.stdout.contains(marker), "{shell}\n{r}");
        for cmd in ["doctor", "df", "journal", "completions", "man"] {
            assert!(r.stdout.contains(cmd), "{shell} completes {cmd}\n{r}");
        }
        assert!(r.stdout.contains("timeout"), "{shell}\n{r}");
    }
    let r = dockhand(["completions", "tcsh"]);
    r.assert_code(64);
    assert!(
        r.stderr.contains("bash") && r.stderr.contains("fish"),
        "{r}"
    );
}

#[test]
fn the_man_page_has_a_page_per_command() {
    let r = dockhand(["man"]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH dockhand 1"),
        "{r}"
    );
    for page in ["dockhand-doctor", "dockhand-df", "dockhand-journal"] {
        assert!(
            r.stdout.contains(&format!(".TH {page}")),
            "{page}\n{}",
            &r.stdout[..500.min(r.stdout.len())]
        );
    }
    assert!(r.stdout.contains("list\\-checks") || r.stdout.contains("list-checks"));
}
