//! The check catalog: one TOML file per check under `checks/`, embedded at build time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The embedded files (`checks/*.toml`, listed by build.rs).
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));

/// The areas, in the order their checks are reported: the daemon first (nothing else can be
/// trusted when it does not answer), then what it holds, then the host around it — its
/// processes, ports and pulls — and last the kernel's view of the whole machine (`host`), which
/// is about more than Docker and explains rather than locates.
pub const AREAS: &[&str] = &[
    "daemon",
    "disk",
    "containers",
    "images",
    "storage",
    "volumes",
    "processes",
    "ports",
    "pulls",
    "host",
];

/// The worst status a check can raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdDef {
    pub default: f64,
    pub unit: String,
    pub help: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    pub id: String,
    pub area: String,
    pub title: String,
    pub severity: Severity,
    pub meaning: String,
    pub remedy: String,
    /// Position within its area (lower first); checks of equal order sort by id.
    #[serde(default = "default_order")]
    pub order: u32,
    #[serde(default)]
    pub thresholds: BTreeMap<String, ThresholdDef>,
    /// Why the question does not arise when the engine is Podman (`podman system service`),
    /// when it does not: one sentence. doctor then reports the check ok, "not applicable to
    /// Podman: <this>", without running it (see [`crate::doctor::checks::not_applicable`]).
    #[serde(default)]
    pub not_applicable_to_podman: Option<String>,
}

fn default_order() -> u32 {
    100
}

/// The parsed catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub checks: Vec<CheckDef>,
}

impl Catalog {
    /// Parses the embedded files. They are part of the binary, so a parse failure is a bug
    /// caught by the unit tests, never by a user; it is still reported rather than panicking.
    pub fn builtin() -> anyhow::Result<Catalog> {
        let mut checks = Vec::with_capacity(FILES.len());
        for (name, text) in FILES {
            let mut def: CheckDef =
                toml::from_str(text).map_err(|e| anyhow::anyhow!("checks/{name}: {e}"))?;
            // A sentence for a summary line: the file's line breaks are not the reader's.
            def.not_applicable_to_podman = def
                .not_applicable_to_podman
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|s| !s.is_empty());
            if !AREAS.contains(&def.area.as_str()) {
                anyhow::bail!(
                    "checks/{name}: area {:?} is not one of {}",
                    def.area,
                    AREAS.join(", ")
                );
            }
            checks.push(def);
        }
        let area_rank = |a: &str| AREAS.iter().position(|x| *x == a).unwrap_or(AREAS.len());
        checks.sort_by(|a, b| {
            (area_rank(&a.area), a.order, &a.id).cmp(&(area_rank(&b.area), b.order, &b.id))
        });
        Ok(Catalog { checks })
    }

    pub fn get(&self, id: &str) -> Option<&CheckDef> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// "a, b, c" — for error messages that list what would work.
    pub fn ids(&self) -> String {
        self.checks
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_and_matches_the_directory() {
        let cat = Catalog::builtin().expect("catalog parses");
        let mut on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/checks"))
                .expect("checks/")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "every file in checks/ is embedded, and nothing else"
        );
        for def in &cat.checks {
            let file = format!("{}.toml", def.id);
            assert!(
                FILES.iter().any(|(f, _)| *f == file),
                "{}: file named after its id",
                def.id
            );
            assert!(
                def.id.starts_with(&format!("{}.", def.area)),
                "{}: id starts with its area",
                def.id
            );
            assert!(!def.meaning.trim().is_empty() && !def.remedy.trim().is_empty());
        }
    }

    #[test]
    fn daemon_checks_come_first_in_probe_order() {
        let cat = Catalog::builtin().expect("catalog parses");
        let ids: Vec<&str> = cat.checks.iter().map(|c| c.id.as_str()).take(3).collect();
        assert_eq!(
            ids,
            ["daemon.reachable", "daemon.responsive", "daemon.process"]
        );
    }

    /// docs/engines.md's Podman column says "not applicable" for exactly the checks whose
    /// catalog entry has a `not_applicable_to_podman` reason (the reason doctor reports).
    #[test]
    fn engines_doc_and_catalog_agree_on_what_does_not_apply_to_podman() {
        let root = env!("CARGO_MANIFEST_DIR");
        let doc = std::fs::read_to_string(format!("{root}/docs/engines.md")).expect("engines.md");
        let cat = Catalog::builtin().expect("catalog parses");
        for c in &cat.checks {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", c.id)))
                .unwrap_or_else(|| panic!("docs/engines.md has no row for {}", c.id));
            let podman = row
                .trim_end_matches(" |")
                .rsplit(" | ")
                .next()
                .unwrap_or("");
            assert_eq!(
                podman.starts_with("not applicable"),
                c.not_applicable_to_podman.is_some(),
                "{}: docs/engines.md says {podman:?}, the catalog's reason is {:?}",
                c.id,
                c.not_applicable_to_podman
            );
            if let Some(why) = &c.not_applicable_to_podman {
                assert!(
                    why.len() > 30 && !why.ends_with('.') && !why.contains('\n'),
                    "{}: one sentence for a summary line: {why:?}",
                    c.id
                );
            }
        }
    }

    /// docs/checks.md lists every check; docs/checks/<area>.md describes each, with its
    /// thresholds. Neither can drift from checks/.
    #[test]
    fn docs_describe_every_check() {
        let root = env!("CARGO_MANIFEST_DIR");
        let index =
            std::fs::read_to_string(format!("{root}/docs/checks.md")).expect("docs/checks.md");
        let cat = Catalog::builtin().expect("catalog parses");
        for c in &cat.checks {
            let page = format!("docs/checks/{}.md", c.area);
            let docs = std::fs::read_to_string(format!("{root}/{page}")).unwrap_or_default();
            assert!(
                index.contains(&format!("`{}`", c.id)),
                "docs/checks.md lists {}",
                c.id
            );
            assert!(
                docs.contains(&format!("## `{}`", c.id)),
                "{page} has a section for {}",
                c.id
            );
            for t in c.thresholds.keys() {
                assert!(
                    docs.contains(&format!("`{t}`")),
                    "{page} names threshold {t} of {}",
                    c.id
                );
            }
        }
    }
}
