//! The house's rules, checked by reading the source (as rust-analyzer's tidy tests do): the
//! layer order written in docs/architecture.md, no command importing another, no import cycle
//! between modules, printing only at the top, /proc read only by the runtime. The map and its
//! exceptions are read from docs/architecture.md itself, so the doc and the code cannot drift:
//! an import against the order fails here, and so does an exception that is no longer needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One layer of the map: its name, its rank (0 is the bottom) and the paths it holds.
struct Layer {
    name: String,
    rank: usize,
    paths: Vec<String>,
}

/// The map and its exceptions, from the fenced ```layers and ```exceptions blocks of
/// docs/architecture.md. Layers are listed top first.
struct Map {
    layers: Vec<Layer>,
    /// (file, rule, target) → why.
    exceptions: BTreeMap<(String, String, String), String>,
}

fn fenced<'a>(text: &'a str, lang: &str) -> &'a str {
    let open = format!("```{lang}\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("docs/architecture.md has no ```{lang} block"))
        + open.len();
    let end = text[start..].find("```").expect("block is closed") + start;
    &text[start..end]
}

fn map() -> Map {
    let text =
        std::fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    let rows: Vec<(String, Vec<String>)> = fenced(&text, "layers")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().expect("layer name").to_string();
            (name, words.map(str::to_string).collect())
        })
        .collect();
    let n = rows.len();
    let layers = rows
        .into_iter()
        .enumerate()
        .map(|(i, (name, paths))| Layer {
            name,
            rank: n - 1 - i,
            paths,
        })
        .collect();
    let mut exceptions = BTreeMap::new();
    for l in fenced(&text, "exceptions").lines() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        // `src/facts.rs  imports  crate::df  — why`
        let (what, why) = l.split_once(" — ").unwrap_or_else(|| {
            panic!("exception {l:?} has no ` — why` (every exception says why)")
        });
        let w: Vec<&str> = what.split_whitespace().collect();
        assert_eq!(w.len(), 3, "exception {l:?}: `FILE RULE TARGET — why`");
        exceptions.insert(
            (w[0].to_string(), w[1].to_string(), w[2].to_string()),
            why.trim().to_string(),
        );
    }
    Map { layers, exceptions }
}

impl Map {
    /// The layer of a file under src/: the longest path of the map that holds it.
    fn layer_of(&self, file: &str) -> Option<&Layer> {
        self.layers
            .iter()
            .flat_map(|l| l.paths.iter().map(move |p| (p, l)))
            .filter(|(p, _)| {
                if p.ends_with('/') {
                    file.starts_with(p.as_str())
                } else {
                    file == p.as_str()
                }
            })
            .max_by_key(|(p, _)| p.len())
            .map(|(_, l)| l)
    }
}

/// Every .rs file under src/, relative to the crate root.
fn sources() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The code of a file that ships: its test module and line comments cut away (tests may reach
/// anything; a comment may name any module).
fn shipped(file: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") { "" } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a use tree (`a::{b, c::{d, self}}`) into paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(i) = tree.find('{') {
        let head = tree[..i].trim_end_matches("::");
        let inner = &tree[i + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = if head.is_empty() {
            prefix.to_string()
        } else if prefix.is_empty() {
            head.to_string()
        } else {
            format!("{prefix}::{head}")
        };
        let mut depth = 0;
        let mut start = 0;
        for (j, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..j], out);
                    start = j + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let tree = tree.split(" as ").next().unwrap_or(tree).trim();
        let path = if tree == "self" {
            prefix.to_string()
        } else if prefix.is_empty() {
            tree.to_string()
        } else {
            format!("{prefix}::{tree}")
        };
        out.push(path);
    }
}

/// Every `crate::…` path a file's shipped code names: in `use` trees and written out inline.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use crate::") {
        let stmt_end = rest[i..].find(';').map_or(rest.len(), |j| i + j);
        let tree: String = rest[i + "use crate::".len()..stmt_end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        expand("", &tree, &mut out);
        rest = &rest[stmt_end..];
    }
    let bytes = code.as_bytes();
    let mut k = 0;
    while let Some(i) = code[k..].find("crate::") {
        let at = k + i;
        let before = if at == 0 { b' ' } else { bytes[at - 1] };
        let start = at + "crate::".len();
        k = start;
        if before.is_ascii_alphanumeric() || before == b'_' || before == b'$' {
            continue;
        }
        if code[..at].ends_with("use ") {
            continue;
        }
        let end = code[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |j| start + j);
        let p = code[start..end].trim_end_matches(':');
        if !p.is_empty() {
            out.push(p.to_string());
        }
    }
    out.into_iter().collect()
}

/// The file a `crate::a::b::…` path leads to: the deepest module file that exists.
fn file_of(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    for n in (1..=parts.len()).rev() {
        let p = parts[..n].join("/");
        for cand in [format!("src/{p}.rs"), format!("src/{p}/mod.rs")] {
            if root().join(&cand).is_file() {
                return Some(cand);
            }
        }
    }
    None
}

/// The top-level module of a file (`src/gc/plan.rs` → `gc`).
fn module_of(file: &str) -> String {
    let rest = file.trim_start_matches("src/");
    rest.split('/')
        .next()
        .unwrap_or(rest)
        .trim_end_matches(".rs")
        .to_string()
}

#[derive(Default)]
struct Findings {
    broken: Vec<String>,
    used: BTreeSet<(String, String, String)>,
}

impl Findings {
    fn against(&mut self, map: &Map, file: &str, rule: &str, target: &str, what: String) {
        let key = (file.to_string(), rule.to_string(), target.to_string());
        if map.exceptions.contains_key(&key) {
            self.used.insert(key);
        } else {
            self.broken.push(what);
        }
    }
}

/// Walks every shipped file once and returns what breaks the rules.
fn check() -> (Map, Findings) {
    let map = map();
    let mut f = Findings::default();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources() {
        if file == "src/fuzz_props.rs" {
            continue; // test-only: compiled under cfg(test)
        }
        let Some(from) = map.layer_of(&file) else {
            f.broken.push(format!(
                "{file} is in no layer of docs/architecture.md's map: add it to the ```layers block"
            ));
            continue;
        };
        let code = shipped(&file);
        for path in crate_paths(&code) {
            let Some(target) = file_of(&path) else {
                continue;
            };
            let Some(to) = map.layer_of(&target) else {
                continue;
            };
            let (m_from, m_to) = (module_of(&file), module_of(&target));
            // Only imports that keep to the order can form a cycle the order does not already
            // forbid: within one layer, between two modules.
            if m_from != m_to && to.rank == from.rank {
                edges
                    .entry(m_from.clone())
                    .or_default()
                    .insert(m_to.clone());
            }
            let top = format!("crate::{m_to}");
            if to.rank > from.rank {
                f.against(
                    &map,
                    &file,
                    "imports",
                    &top,
                    format!(
                        "{file} ({}) imports crate::{path} ({}): a layer imports only the layers below it",
                        from.name, to.name
                    ),
                );
            } else if from.name == "commands" && to.name == "commands" && m_from != m_to {
                f.against(
                    &map,
                    &file,
                    "imports",
                    &top,
                    format!(
                        "{file} imports crate::{path}: a command never imports another command (move what both need below them)"
                    ),
                );
            }
        }
        // Printing: only the top prints (and command.rs's one writer of stderr lines).
        let prints = ["eprintln!", "println!", "eprint!(", "print!("]
            .iter()
            .any(|m| code.contains(m));
        if prints && from.name != "top" && file != "src/command.rs" {
            f.against(
                &map,
                &file,
                "prints",
                "stderr",
                format!("{file} prints: a command hands its document or Failure to the top, and notes go through Ctx::note/say"),
            );
        }
        if code.contains("\"dockhand: ") && from.name != "top" && file != "src/command.rs" {
            f.against(
                &map,
                &file,
                "prints",
                "prefix",
                format!("{file} writes the \"dockhand: \" prefix by hand: the top adds it"),
            );
        }
        // /proc is read by the runtime only.
        if code.contains("\"/proc") && from.name != "runtime" {
            f.against(
                &map,
                &file,
                "reads",
                "/proc",
                format!("{file} reads /proc itself: go through facts or runtime"),
            );
        }
    }
    // No cycle between top-level modules of one layer (across layers the order forbids it).
    for (a, outs) in &edges {
        for b in outs {
            if reaches(&edges, b, a) {
                let key = (
                    format!("src/{a}"),
                    "cycle".to_string(),
                    format!("crate::{b}"),
                );
                if map.exceptions.contains_key(&key) {
                    f.used.insert(key);
                } else {
                    f.broken.push(format!(
                        "import cycle: crate::{a} imports crate::{b}, which leads back to crate::{a}"
                    ));
                }
            }
        }
    }
    (map, f)
}

fn reaches(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        if m == to {
            return true;
        }
        if seen.insert(m.clone()) {
            stack.extend(edges.get(&m).into_iter().flatten().cloned());
        }
    }
    false
}

#[test]
fn the_code_follows_the_layer_order_of_docs_architecture_md() {
    let (_, f) = check();
    assert!(
        f.broken.is_empty(),
        "{} imports or habits against docs/architecture.md:\n{}",
        f.broken.len(),
        f.broken.join("\n")
    );
}

#[test]
fn every_exception_in_the_map_is_still_needed() {
    let (map, f) = check();
    let stale: Vec<String> = map
        .exceptions
        .keys()
        .filter(|k| !f.used.contains(*k))
        .map(|(a, r, b)| format!("{a} {r} {b}"))
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions in docs/architecture.md that the code no longer needs (remove them):\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_rules_catch_what_they_are_for() {
    // The checker itself: a use tree expands to every path it names.
    let mut out = Vec::new();
    expand(
        "",
        "{actions::{self, Actor, frame::{mutating}}, cli::Command}",
        &mut out,
    );
    assert_eq!(
        out,
        [
            "actions",
            "actions::Actor",
            "actions::frame::mutating",
            "cli::Command"
        ]
    );
    let code = "use crate::{report, gc::plan};\nfn f() { crate::runtime::blocking(); }\n";
    let got = crate_paths(code);
    assert!(
        got.contains("report") && got.contains("gc::plan") && got.contains("runtime::blocking"),
        "{got:?}"
    );
    // A file of the runtime that reached up into a command would be found.
    let map = map();
    let low = map
        .layer_of("src/runtime/host.rs")
        .expect("runtime is mapped");
    let high = map
        .layer_of(&file_of("gc::plan").expect("gc::plan exists"))
        .expect("gc is mapped");
    assert!(high.rank > low.rank, "{} above {}", high.name, low.name);
}
