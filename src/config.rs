//! The config file: threshold overrides per check, and checks switched off.
//!
//! ```toml
//! [checks."disk.data-root"]
//! space_warn_percent = 80
//! [checks."daemon.process"]
//! enabled = false
//! [gc]
//! min_age = "2h"
//! ```
//! Read from `--config FILE`, else `/etc/dockhand/config.toml` if it exists. Every error names the
//! file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::catalog::{Catalog, CheckDef, ThresholdDef};
use crate::error::UsageError;

pub const DEFAULT_PATH: &str = "/etc/dockhand/config.toml";

/// Resolved settings per check.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub path: Option<PathBuf>,
    /// check id → threshold name → value.
    pub thresholds: BTreeMap<String, BTreeMap<String, f64>>,
    pub disabled: Vec<String>,
    /// The `[gc]` section (see `gc::options`).
    pub gc: crate::policy::gc::config::GcConfig,
    /// `[recover]`: how `dockhand recover` starts a daemon no service manager runs.
    pub recover: RecoverConfig,
}

/// The `[recover]` section:
///
/// ```toml
/// [recover]
/// start_cmd = ["dockerd", "--config-file", "/etc/docker/daemon.json"]   # or one string
/// log_file = "/var/log/dockerd.log"
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoverConfig {
    /// The daemon's command line (a string is split as a shell would, without expansions).
    pub start_cmd: Option<Vec<String>>,
    /// Where the started daemon's output goes, and where the incident bundle reads its log.
    pub log_file: Option<PathBuf>,
}

impl Config {
    /// The value of a threshold: the override, else the catalog default.
    pub fn threshold(&self, catalog: &Catalog, check: &str, name: &str) -> f64 {
        if let Some(v) = self.thresholds.get(check).and_then(|t| t.get(name)) {
            return *v;
        }
        catalog
            .get(check)
            .and_then(|c| c.thresholds.get(name))
            .map_or(0.0, |t| t.default)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    checks: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    #[serde(default)]
    gc: Option<crate::policy::gc::config::GcSection>,
    recover: Option<Spanned<RawRecover>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecover {
    start_cmd: Option<Spanned<toml::Value>>,
    log_file: Option<PathBuf>,
}

/// Loads the config: `explicit` must exist; the default path is optional.
pub fn load(explicit: Option<&Path>, catalog: &Catalog) -> Result<Config, UsageError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
        None => return Ok(Config::default()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| UsageError::UnreadableConfig {
        path: path.clone(),
        why: e.to_string(),
    })?;
    parse(&path, &text, catalog)
}

pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> Result<Config, UsageError> {
    let at = |offset: usize, what: String| UsageError::BadConfig {
        path: path.to_path_buf(),
        line: text[..offset.min(text.len())].matches('\n').count() + 1,
        what,
    };
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        at(offset, e.message().trim().to_string())
    })?;
    let mut cfg = Config {
        path: Some(path.to_path_buf()),
        ..Config::default()
    };
    if let Some(section) = &raw.gc {
        cfg.gc = crate::policy::gc::config::resolve_section(section)
            .map_err(|(offset, what)| at(offset, what))?;
    }
    if let Some(r) = raw.recover {
        let r = r.into_inner();
        if let Some(cmd) = r.start_cmd {
            cfg.recover.start_cmd = Some(start_cmd(&cmd, &at)?);
        }
        cfg.recover.log_file = r.log_file;
    }
    for (id, table) in raw.checks {
        let Some(def) = catalog.get(id.get_ref()) else {
            return Err(at(
                id.span().start,
                format!(
                    "unknown check {:?} in [checks]; valid checks: {}",
                    id.get_ref(),
                    catalog.ids()
                ),
            ));
        };
        let values = check_table(def, table, &mut cfg.disabled, &at)?;
        cfg.thresholds.insert(def.id.clone(), values);
    }
    validate_pairs(&cfg, catalog).map_err(|(key, what)| {
        // Point at the line that set the warning threshold (it may be the critical one; either
        // way the sentence names both keys).
        let offset = text.find(key.as_str()).unwrap_or(0);
        at(offset, what)
    })?;
    Ok(cfg)
}

/// An error at a byte offset of the config text (its line is counted from it).
type At<'a> = dyn Fn(usize, String) -> UsageError + 'a;

/// `recover.start_cmd` as words: one string split like a shell would, or a list of strings;
/// never empty.
fn start_cmd(cmd: &Spanned<toml::Value>, at: &At<'_>) -> Result<Vec<String>, UsageError> {
    let words = match cmd.get_ref() {
        toml::Value::String(s) => crate::util::split_words(s)
            .map_err(|why| at(cmd.span().start, format!("recover.start_cmd: {why}")))?,
        toml::Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                at(
                    cmd.span().start,
                    "recover.start_cmd must be a list of strings or one string".into(),
                )
            })?,
        other => {
            return Err(at(
                cmd.span().start,
                format!(
                    "recover.start_cmd must be a command line (a string or a list of strings, e.g. [\"dockerd\"]), not {}",
                    describe(other)
                ),
            ));
        }
    };
    if words.is_empty() {
        return Err(at(
            cmd.span().start,
            "recover.start_cmd is empty; give the daemon's command line, e.g. [\"dockerd\"]".into(),
        ));
    }
    Ok(words)
}

/// One `[checks."ID"]` table: `enabled = false` adds the check to `disabled`; every other key
/// must be one of its thresholds, with a number in range.
fn check_table(
    def: &CheckDef,
    table: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    disabled: &mut Vec<String>,
    at: &At<'_>,
) -> Result<BTreeMap<String, f64>, UsageError> {
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let k = key.get_ref().as_str();
        if k == "enabled" {
            match value.get_ref() {
                toml::Value::Boolean(false) => disabled.push(def.id.clone()),
                toml::Value::Boolean(true) => {}
                other => {
                    return Err(at(
                        value.span().start,
                        format!(
                            "checks.\"{}\".enabled must be true or false, not {}",
                            def.id,
                            describe(other)
                        ),
                    ));
                }
            }
            continue;
        }
        let Some(t) = def.thresholds.get(k) else {
            let valid: Vec<&str> = def
                .thresholds
                .keys()
                .map(String::as_str)
                .chain(["enabled"])
                .collect();
            return Err(at(
                key.span().start,
                format!(
                    "unknown key {k:?} for check {}; valid keys: {}",
                    def.id,
                    valid.join(", ")
                ),
            ));
        };
        let v = threshold_value(def, k, t, &value, at)?;
        values.insert(k.to_string(), v);
    }
    Ok(values)
}

/// A threshold's value: a number, not negative, and at most 100 for a percent.
fn threshold_value(
    def: &CheckDef,
    k: &str,
    t: &ThresholdDef,
    value: &Spanned<toml::Value>,
    at: &At<'_>,
) -> Result<f64, UsageError> {
    let v = match value.get_ref() {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        other => {
            return Err(at(
                value.span().start,
                format!(
                    "checks.\"{}\".{k} must be a number ({}, e.g. {}), not {}",
                    def.id,
                    t.unit,
                    t.default,
                    describe(other)
                ),
            ));
        }
    };
    if !v.is_finite() || v < 0.0 || (t.unit == "percent" && v > 100.0) {
        return Err(at(
            value.span().start,
            format!(
                "checks.\"{}\".{k} = {v} is out of range for a {} value",
                def.id, t.unit
            ),
        ));
    }
    Ok(v)
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string {s:?}"),
        other => format!("a {}", other.type_str()),
    }
}

/// A warning threshold must not exceed its critical one.
fn validate_pairs(cfg: &Config, catalog: &Catalog) -> Result<(), (String, String)> {
    for def in &catalog.checks {
        for (name, _) in def.thresholds.iter().filter(|(n, _)| n.contains("_warn_")) {
            let crit = name.replace("_warn_", "_critical_");
            if def.thresholds.contains_key(&crit) {
                let (w, c) = (
                    cfg.threshold(catalog, &def.id, name),
                    cfg.threshold(catalog, &def.id, &crit),
                );
                if w > c {
                    return Err((
                        name.clone(),
                        format!(
                            "checks.\"{}\": {name} ({w}) is above {crit} ({c}); a warning must come before critical",
                            def.id
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        Catalog::builtin().expect("catalog")
    }

    fn err(text: &str) -> String {
        parse(Path::new("/etc/dockhand/config.toml"), text, &cat())
            .expect_err(text)
            .to_string()
    }

    /// The file the Debian package installs as /etc/dockhand/config.toml (a conffile).
    const PACKAGED: &str = include_str!("../contrib/debian/config.toml");

    /// The packaged file with its settings uncommented: a line `#key = value` (no space after
    /// the `#`) is a setting, `# words` is prose.
    fn packaged_uncommented() -> String {
        PACKAGED
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| !c.is_whitespace()) => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_packaged_config_changes_nothing_as_shipped() {
        // Installed on every host: as shipped it must mean exactly the defaults.
        for (n, line) in PACKAGED.lines().enumerate() {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "contrib/debian/config.toml:{}: not a comment: {line}",
                n + 1
            );
        }
        let c = parse(Path::new(DEFAULT_PATH), PACKAGED, &cat()).expect("parses");
        assert!(c.thresholds.is_empty() && c.disabled.is_empty());
        assert_eq!(c.gc, crate::policy::gc::config::GcConfig::default());
        assert_eq!(c.recover, RecoverConfig::default());
    }

    #[test]
    fn the_packaged_configs_examples_parse_and_show_the_defaults() {
        // An operator uncomments a line to change it: each one must be valid as written, and
        // each threshold shown must be the catalog's default (the file says so).
        let text = packaged_uncommented();
        assert!(
            text.contains("[gc]") && text.contains("[recover]"),
            "{text}"
        );
        let c = parse(Path::new(DEFAULT_PATH), &text, &cat())
            .unwrap_or_else(|e| panic!("the uncommented packaged config: {e}\n{text}"));
        assert!(c.thresholds.len() >= 4, "{:?}", c.thresholds);
        for (id, values) in &c.thresholds {
            let def = cat().get(id).cloned().expect("a known check");
            for (name, v) in values {
                assert_eq!(
                    Some(*v),
                    def.thresholds.get(name).map(|t| t.default),
                    "contrib/debian/config.toml shows {id}.{name} = {v}, not its default"
                );
            }
        }
        assert!(c.disabled.is_empty(), "{:?}", c.disabled);
        assert!(c.recover.start_cmd.is_some());
    }

    #[test]
    fn overrides_and_defaults() {
        let c = parse(
            Path::new("c.toml"),
            "[checks.\"disk.data-root\"]\nspace_warn_percent = 70\n[checks.\"daemon.process\"]\nenabled = false\n",
            &cat(),
        )
        .expect("valid");
        assert_eq!(
            c.threshold(&cat(), "disk.data-root", "space_warn_percent"),
            70.0
        );
        assert_eq!(
            c.threshold(&cat(), "disk.data-root", "space_critical_percent"),
            95.0
        );
        assert_eq!(c.disabled, vec!["daemon.process".to_string()]);
        assert!(parse(Path::new("c.toml"), "", &cat()).is_ok());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err("# thresholds\n[checks.\"disk.data-root\"]\nspace_warn_percent = \"lots\"\n");
        assert!(e.starts_with("/etc/dockhand/config.toml:3:"), "{e}");
        assert!(e.contains("space_warn_percent"), "{e}");
        let e = err("[checks.\"disk.root\"]\nx = 1\n");
        assert!(
            e.contains(":1:") && e.contains("disk.root") && e.contains("disk.data-root"),
            "{e}"
        );
        let e = err("[checks.\"disk.data-root\"]\nspace_warn = 1\n");
        assert!(
            e.contains(":2:") && e.contains("space_warn") && e.contains("space_warn_percent"),
            "{e}"
        );
        let e = err("[checks\nfoo = 1\n");
        assert!(e.contains(":1:"), "{e}");
        let e = err("\n\nchecksum = 3\n");
        assert!(e.contains(":3:") && e.contains("checksum"), "{e}");
        let e = err("[checks.\"disk.data-root\"]\nspace_warn_percent = 99\n");
        assert!(e.contains("space_critical_percent"), "{e}");
        let e = err("[checks.\"disk.data-root\"]\nspace_warn_percent = 150\n");
        assert!(e.contains("out of range"), "{e}");
        let e = err("[gc]\nmin_age = \"1h\"\nkeep_last = \"three\"\n");
        assert!(e.contains(":3:") && e.contains("gc.keep_last"), "{e}");
        let e = err("[gc]\nkeep_lats = 3\n");
        assert!(e.contains(":2:") && e.contains("keep_lats"), "{e}");
        let e = err("[recover]\nstart_cmd = 3\n");
        assert!(e.contains(":2:") && e.contains("recover.start_cmd"), "{e}");
        let e = err("[recover]\nstart = \"dockerd\"\n");
        assert!(e.contains(":2:") && e.contains("start"), "{e}");
    }

    #[test]
    fn the_recover_section() {
        let c = parse(
            Path::new("c.toml"),
            "[recover]\nstart_cmd = \"dockerd --data-root '/srv/my docker'\"\nlog_file = \"/var/log/d.log\"\n",
            &cat(),
        )
        .expect("valid");
        assert_eq!(
            c.recover.start_cmd,
            Some(vec![
                "dockerd".into(),
                "--data-root".into(),
                "/srv/my docker".into()
            ])
        );
        assert_eq!(c.recover.log_file, Some(PathBuf::from("/var/log/d.log")));
        let c = parse(
            Path::new("c.toml"),
            "[recover]\nstart_cmd = [\"dockerd\", \"-D\"]\n",
            &cat(),
        )
        .expect("valid");
        assert_eq!(
            c.recover.start_cmd,
            Some(vec!["dockerd".into(), "-D".into()])
        );
    }
}
