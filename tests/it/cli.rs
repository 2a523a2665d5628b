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
        for cmd in [
            "doctor",
            "df",
            "journal",
            "completions",
            "man",
            "serve",
            "watch",
        ] {
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
    for page in [
        "dockhand-doctor",
        "dockhand-df",
        "dockhand-journal",
        "dockhand-watch",
    ] {
        assert!(
            r.stdout.contains(&format!(".TH {page}")),
            "{page}\n{}",
            &r.stdout[..500.min(r.stdout.len())]
        );
    }
    assert!(r.stdout.contains("list\\-checks") || r.stdout.contains("list-checks"));
    // doctor's page names --fix and its --apply.
    assert!(r.stdout.contains("\\-\\-fix") || r.stdout.contains("--fix"));
}

/// `--fix` takes its list only with `=` (`--fix=ports`), so a bare `--fix` never swallows the
/// next word; `--apply` means nothing without `--fix`.
#[test]
fn doctor_fix_flags_parse_as_documented() {
    use clap::Parser;
    let parse = |a: &[&str]| dockhand::cli::Cli::try_parse_from(a).map(|_| ());
    assert!(parse(&["dockhand", "doctor", "--fix"]).is_ok());
    assert!(
        parse(&[
            "dockhand",
            "doctor",
            "--fix=ports,images.dangling",
            "--apply"
        ])
        .is_ok()
    );
    assert!(parse(&["dockhand", "doctor", "--fix", "--apply", "--check", "ports"]).is_ok());
    assert!(parse(&["dockhand", "doctor", "--apply"]).is_err());
    assert!(parse(&["dockhand", "doctor", "--fix", "ports"]).is_err());
    assert!(parse(&["dockhand", "doctor", "--fix", "--list-checks"]).is_err());
    let r = dockhand(["doctor", "--fix=nope"]);
    r.assert_code(64);
    assert!(
        r.stderr.contains("--fix") && r.stderr.contains("nope"),
        "{r}"
    );
}

/// Every `dockhand …` command line that a remedy, a doc, the README or a fix names is one the
/// command line accepts: the subcommand exists and so does every flag and value given. A line
/// that names the command without its operand (`dockhand pull` in prose) counts as naming it.
#[test]
fn every_dockhand_command_named_in_docs_remedies_and_fixes_exists_and_parses() {
    use clap::Parser;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "docs/checks", "checks", "contrib/systemd"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let p = e.path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(root).unwrap().display().to_string();
        // `dockhand …` in backquotes.
        for (i, part) in text.split('`').enumerate() {
            if i % 2 == 1 && part.starts_with("dockhand ") && !part.contains('(') {
                found.push((name.clone(), words(part)));
            }
        }
        // Lines of examples (in fenced blocks) and units: `dockhand …`, `$ dockhand …`,
        // `ExecStart=… dockhand …`. Lines of output (`dockhand gc: removed …`) are not commands.
        let unit = name.starts_with("contrib/");
        let mut fenced = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if !(fenced || unit) {
                continue;
            }
            let l = line
                .trim_start()
                .trim_start_matches("$ ")
                .trim_start_matches("sudo ");
            let l = l
                .split_once("bin/dockhand ")
                .map_or(l, |(_, rest)| rest)
                .trim_start();
            let l = if line.contains("bin/dockhand ") {
                format!("dockhand {l}")
            } else {
                l.to_string()
            };
            let second = l.split_whitespace().nth(1).unwrap_or("");
            if l.starts_with("dockhand ") && !l.contains('`') && !second.ends_with(':') {
                found.push((name.clone(), words(&l)));
            }
        }
    }
    // Fixes in the code: `["dockhand", "gc", …]` literals.
    let mut stack = vec![root.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let mut rest = text.as_str();
                while let Some(i) = rest.find("[\"dockhand\"") {
                    let tail = &rest[i + 1..];
                    let end = tail.find(']').unwrap_or(tail.len());
                    let items: Vec<String> = tail[..end]
                        .split(',')
                        .map(str::trim)
                        .filter(|s| s.starts_with('"') && s.ends_with('"') && s.len() >= 2)
                        .map(|s| s[1..s.len() - 1].to_string())
                        .collect();
                    let name = p.strip_prefix(root).unwrap().display().to_string();
                    found.push((name, items));
                    rest = &tail[end..];
                }
            }
        }
    }
    assert!(found.len() > 40, "found only {} command lines", found.len());
    // `doctor --fix` is named in the docs as people type it — limited and applied — so those
    // lines are parsed here too.
    let named = |pred: &dyn Fn(&[String]) -> bool| found.iter().any(|(_, a)| pred(a));
    assert!(
        named(&|a| a.get(1).is_some_and(|w| w == "doctor")
            && a.iter().any(|w| w.starts_with("--fix="))),
        "no doc names `dockhand doctor --fix=ID,area`"
    );
    assert!(
        named(&|a| a.get(1).is_some_and(|w| w == "doctor")
            && a.iter().any(|w| w == "--fix")
            && a.iter().any(|w| w == "--apply")),
        "no doc names `dockhand doctor --fix --apply`"
    );
    let mut bad = Vec::new();
    for (file, argv) in &found {
        let argv = placeholders(argv);
        match dockhand::cli::Cli::try_parse_from(&argv) {
            Ok(_) => {}
            Err(e) => {
                use clap::error::ErrorKind as K;
                if !matches!(
                    e.kind(),
                    K::DisplayHelp
                        | K::DisplayVersion
                        | K::MissingRequiredArgument
                        | K::DisplayHelpOnMissingArgumentOrSubcommand
                        | K::MissingSubcommand
                ) {
                    bad.push(format!("{file}: {}\n  {}", argv.join(" "), e.kind()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "command lines that do not parse:\n{}",
        bad.join("\n")
    );
}

/// A command line's words, up to a pipe, redirection, comment or the end of a shell command.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in line.split_whitespace() {
        if matches!(
            w,
            "|" | ">" | ">>" | "&&" | "||" | ";" | "#" | "\\" | "2>&1"
        ) || w.starts_with('#')
            || w.starts_with('>')
        {
            break;
        }
        let w = w
            .trim_end_matches([';', ','])
            .trim_matches(|c| c == '\'' || c == '"');
        if w == "…" || w == "..." {
            // `--check …`: the flag's value was left out on purpose.
            if out.last().is_some_and(|l: &String| l.starts_with("--")) {
                out.pop();
            }
            break;
        }
        out.push(w.to_string());
    }
    out
}

/// Placeholder words of the docs replaced by real values of their kind.
fn placeholders(argv: &[String]) -> Vec<String> {
    argv.iter()
        .map(|w| {
            let v = match w.as_str() {
                "PORT" | "P" | "<port>" | "N" => "8080",
                "IMAGE" | "IMAGE[:TAG]" | "<image>" | "IMAGE:TAG" => "busybox:latest",
                "ID" | "<id>" | "ID…" => "daemon.process",
                "FILE" | "PATH" | "<file>" => "/tmp/x",
                "DIR" => "/tmp",
                "DURATION" | "AGE" => "3s",
                "NAME" | "<name>" => "web",
                "SHELL" => "bash",
                "URL" => "unix:///var/run/docker.sock",
                "ADDR" => "127.0.0.1:9323",
                "KIND" => "container",
                "PCT" => "80%",
                _ => w,
            };
            v.to_string()
        })
        .collect()
}
