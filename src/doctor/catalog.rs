//! The check catalog: one TOML file per check under `checks/`, embedded at build time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The embedded files, in the order checks run and are reported. A unit test keeps this list and
/// the `checks/` directory in step.
const FILES: &[(&str, &str)] = &[
    (
        "daemon.reachable.toml",
        include_str!("../../checks/daemon.reachable.toml"),
    ),
    (
        "daemon.responsive.toml",
        include_str!("../../checks/daemon.responsive.toml"),
    ),
    (
        "daemon.process.toml",
        include_str!("../../checks/daemon.process.toml"),
    ),
    (
        "disk.data-root.toml",
        include_str!("../../checks/disk.data-root.toml"),
    ),
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
    #[serde(default)]
    pub thresholds: BTreeMap<String, ThresholdDef>,
}

/// The parsed catalog.
#[derive(Debug)]
pub struct Catalog {
    pub checks: Vec<CheckDef>,
}

impl Catalog {
    /// Parses the embedded files. They are part of the binary, so a parse failure is a bug
    /// caught by the unit tests, never by a user; it is still reported rather than panicking.
    pub fn builtin() -> anyhow::Result<Catalog> {
        let mut checks = Vec::with_capacity(FILES.len());
        for (name, text) in FILES {
            let def: CheckDef =
                toml::from_str(text).map_err(|e| anyhow::anyhow!("checks/{name}: {e}"))?;
            checks.push(def);
        }
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
        for (def, (file, _)) in cat.checks.iter().zip(FILES) {
            assert_eq!(format!("{}.toml", def.id), *file, "file named after its id");
            assert!(
                def.id.starts_with(&format!("{}.", def.area)),
                "{}: id starts with its area",
                def.id
            );
            assert!(!def.meaning.trim().is_empty() && !def.remedy.trim().is_empty());
        }
    }

    #[test]
    fn docs_describe_every_check() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/checks.md"))
            .expect("docs/checks.md");
        let cat = Catalog::builtin().expect("catalog parses");
        for c in &cat.checks {
            assert!(
                docs.contains(&format!("## `{}`", c.id)),
                "docs/checks.md has a section for {}",
                c.id
            );
            for t in c.thresholds.keys() {
                assert!(
                    docs.contains(&format!("`{t}`")),
                    "docs/checks.md names threshold {t} of {}",
                    c.id
                );
            }
        }
    }
}
