//! The check engine: selects checks from the catalog, gathers evidence concurrently (each
//! piece under a deadline), and turns evidence into findings.

pub mod checks;
pub mod command;
pub mod fix;

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::catalog::{Catalog, CheckDef};
use crate::config::Config;
use crate::facts::Facts;
use crate::runtime::endpoint::{Endpoint, Source};

/// A check's verdict. Ordered by how much it matters to a monitor: critical, then unknown
/// (we could not tell), then warning, then ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    fn rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Unknown => 2,
            Status::Critical => 3,
        }
    }

    pub fn worst(self, other: Status) -> Status {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }

    pub fn exit_code(self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            Status::Ok => ExitCode::Ok,
            Status::Warning => ExitCode::Warning,
            Status::Critical => ExitCode::Critical,
            Status::Unknown => ExitCode::Unknown,
        }
    }
}

/// What a check concluded.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub status: Status,
    /// One sentence: what is wrong (or that nothing is).
    pub summary: String,
    /// What fixes it, in words: the fix's steps rendered as prose (kept as its own field for
    /// readers of `dockhand.doctor/v1` that predate `fix`).
    pub remedy: Option<String>,
    /// What fixes it, as data: the commands and steps, specific to this host (pids, paths).
    pub fix: Option<Fix>,
    /// The facts behind the verdict, as structured data.
    pub evidence: serde_json::Value,
}

/// What fixes a finding, as data. The report words it (each step's `text`); the JSON carries
/// the steps, so a monitor — or a later `doctor --fix` — can act on exactly what doctor
/// proposed, and a test can check that every `dockhand …` a fix names exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fix {
    pub steps: Vec<FixStep>,
}

/// One step of a fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FixStep {
    /// Run a command: `argv` is the command itself (`["dockhand", "gc"]`,
    /// `["kill", "-CONT", "812"]`), `text` the sentence that names it and says what it does.
    Run { argv: Vec<String>, text: String },
    /// Advice in words: what to change, and where.
    Advice { text: String },
}

impl FixStep {
    pub fn text(&self) -> &str {
        match self {
            FixStep::Run { text, .. } | FixStep::Advice { text } => text,
        }
    }
}

impl Fix {
    /// A fix of one command step.
    pub fn run(argv: &[&str], text: impl Into<String>) -> Fix {
        Fix::default().then_run(argv, text)
    }

    /// A fix of one advice step.
    pub fn advice(text: impl Into<String>) -> Fix {
        Fix::default().then_advice(text)
    }

    pub fn then_run(mut self, argv: &[&str], text: impl Into<String>) -> Fix {
        self.steps.push(FixStep::Run {
            argv: argv.iter().map(|a| (*a).to_string()).collect(),
            text: text.into(),
        });
        self
    }

    pub fn then_advice(mut self, text: impl Into<String>) -> Fix {
        let text = text.into();
        if !text.is_empty() {
            self.steps.push(FixStep::Advice { text });
        }
        self
    }

    /// Appends another fix's steps.
    pub fn and(mut self, other: Fix) -> Fix {
        self.steps.extend(other.steps);
        self
    }

    /// The steps as prose, in order.
    pub fn text(&self) -> String {
        self.steps
            .iter()
            .map(FixStep::text)
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `dockhand …` commands the fix names (for the test that they all exist).
    pub fn dockhand_commands(&self) -> impl Iterator<Item = &[String]> {
        self.steps.iter().filter_map(|s| match s {
            FixStep::Run { argv, .. } if argv.first().is_some_and(|a| a == "dockhand") => {
                Some(argv.as_slice())
            }
            _ => None,
        })
    }
}

impl Finding {
    pub fn new(status: Status, summary: impl Into<String>) -> Finding {
        Finding {
            status,
            summary: summary.into(),
            remedy: None,
            fix: None,
            // Always an object (possibly empty), so consumers never branch on null.
            evidence: serde_json::Value::Object(Default::default()),
        }
    }

    /// Advice in words as the whole fix (a check whose fix has no command).
    pub fn remedy(self, r: impl Into<String>) -> Finding {
        let r = r.into();
        if r.is_empty() {
            return self;
        }
        self.fix(Fix::advice(r))
    }

    /// The fix, as data; the prose is rendered from it.
    pub fn fix(mut self, f: Fix) -> Finding {
        if f.steps.is_empty() {
            return self;
        }
        self.remedy = Some(f.text());
        self.fix = Some(f);
        self
    }

    pub fn evidence(mut self, e: serde_json::Value) -> Finding {
        self.evidence = if e.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            e
        };
        self
    }
}

/// One check's result, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub area: String,
    pub title: String,
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(serialize_with = "ser_millis")]
    pub elapsed_ms: Duration,
}

fn ser_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(crate::util::millis(*d))
}

/// Counts per status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub unknown: usize,
}

/// A whole doctor run, ready for any renderer.
#[derive(Debug, Clone)]
pub struct Report {
    pub started_at: SystemTime,
    pub elapsed: Duration,
    pub endpoint: Endpoint,
    pub source: Source,
    pub daemon: serde_json::Value,
    pub checks: Vec<CheckResult>,
}

impl Report {
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .fold(Status::Ok, |s, c| s.worst(c.finding.status))
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.checks {
            match c.finding.status {
                Status::Ok => s.ok += 1,
                Status::Warning => s.warning += 1,
                Status::Critical => s.critical += 1,
                Status::Unknown => s.unknown += 1,
            }
        }
        s
    }
}

/// Which checks to run: `--check` narrows to the named ones, `--skip` and the config's
/// `enabled = false` remove some. Unknown ids are rejected before anything runs.
pub fn select<'c>(
    catalog: &'c Catalog,
    config: &Config,
    only: &[String],
    skip: &[String],
) -> Result<Vec<&'c CheckDef>, crate::error::UsageError> {
    let only = expand(catalog, "--check", only)?;
    let skip = expand(catalog, "--skip", skip)?;
    Ok(catalog
        .checks
        .iter()
        .filter(|c| only.is_empty() || only.contains(&c.id.as_str()))
        .filter(|c| !skip.contains(&c.id.as_str()))
        // An explicit --check wins over the config's enabled = false.
        .filter(|c| only.contains(&c.id.as_str()) || !config.disabled.contains(&c.id))
        .collect())
}

/// The check ids `--check`/`--skip` values name, as people type them: repeated flags, comma
/// lists (`--check daemon.process,disk.data-root`), and whole areas (`--check daemon`). An
/// unknown name is refused with the valid ones.
pub(crate) fn expand<'c>(
    catalog: &'c Catalog,
    flag: &str,
    values: &[String],
) -> Result<Vec<&'c str>, crate::error::UsageError> {
    let mut ids: Vec<&'c str> = Vec::new();
    for name in values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if let Some(c) = catalog.get(name) {
            ids.push(c.id.as_str());
            continue;
        }
        let area: Vec<&'c str> = catalog
            .checks
            .iter()
            .filter(|c| c.area == name)
            .map(|c| c.id.as_str())
            .collect();
        if area.is_empty() {
            let mut areas: Vec<&str> = catalog.checks.iter().map(|c| c.area.as_str()).collect();
            areas.dedup();
            return Err(crate::error::UsageError::UnknownCheck {
                id: name.to_string(),
                flag: flag.to_string(),
                valid: format!("{}; or an area: {}", catalog.ids(), areas.join(", ")),
            });
        }
        ids.extend(area);
    }
    Ok(ids)
}

/// The checks that read the containers' records (`Ctx::answered_records`). Kept by hand: one
/// missing here costs a second read of each container's hostconfig.json, one listed wrongly a
/// read of the records nobody needed — never a different answer.
const READ_RECORDS: &[&str] = &[
    "containers.exited",
    "containers.exits-immediately",
    "containers.ghost",
    "containers.littering",
    "containers.misplaced-flags",
    "containers.restart-loop",
    "containers.unhealthy",
    "daemon.log-rotation",
    "host.clock",
    "host.oom-kills",
    "ports.conflict",
    "ports.leaked-proxy",
];

/// The snapshot for a run of `selected`: when one of them reads the containers' records, the
/// storage map shares them ([`Facts::sharing_records`]).
pub fn facts_for(engine: crate::runtime::engine::Engine, selected: &[&CheckDef]) -> Facts {
    let facts = Facts::new(engine);
    if selected
        .iter()
        .any(|d| READ_RECORDS.contains(&d.id.as_str()))
    {
        facts.sharing_records()
    } else {
        facts
    }
}

/// Runs the selected checks against the engine: every probe at once, each under its own
/// deadline, sharing what they gather through one context.
pub async fn run(
    facts: &Facts,
    source: Source,
    catalog: &Catalog,
    config: &Config,
    selected: &[&CheckDef],
) -> Report {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let ctx = checks::Ctx::new(facts, catalog, config);
    let registry = checks::registry();
    let deadline = ctx.probe_deadline();
    let runs = selected.iter().map(|def| {
        let probe = registry.iter().find(|p| p.id == def.id);
        let ctx = &ctx;
        async move {
            let t = Instant::now();
            // A check about something the engine does not have is not run: on Podman, dockerd's
            // pid file or daemon.json would be judged absent, and live-restore off, wrongly.
            let not_here = match &def.not_applicable_to_podman {
                Some(why) if ctx.engine_kind().await.is_podman() => Some(why),
                _ => None,
            };
            let finding = match (probe, not_here) {
                (_, Some(why)) => {
                    checks::not_applicable(crate::runtime::engine_kind::EngineKind::Podman, why)
                }
                (None, None) => {
                    Finding::new(Status::Unknown, format!("no probe for check {}", def.id))
                }
                (Some(p), None) => match tokio::time::timeout(deadline, (p.run)(ctx)).await {
                    Ok(f) => f,
                    Err(_) => Finding::new(
                        Status::Unknown,
                        format!(
                            "the probe did not finish within {}",
                            crate::util::human_duration(deadline)
                        ),
                    ),
                },
            };
            CheckResult {
                id: def.id.clone(),
                area: def.area.clone(),
                title: def.title.clone(),
                elapsed_ms: t.elapsed(),
                finding,
            }
        }
    });
    let checks = futures_util::future::join_all(runs).await;
    Report {
        started_at,
        elapsed: t0.elapsed(),
        endpoint: facts.engine().endpoint().clone(),
        source,
        daemon: facts.daemon_summary(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_ranks_critical_then_unknown_then_warning() {
        use Status::*;
        assert_eq!(Ok.worst(Warning), Warning);
        assert_eq!(Warning.worst(Unknown), Unknown);
        assert_eq!(Unknown.worst(Critical), Critical);
        assert_eq!(Critical.worst(Ok), Critical);
    }

    #[test]
    fn the_checks_said_to_read_records_are_in_the_catalog() {
        let cat = crate::catalog::Catalog::builtin().expect("catalog parses");
        for id in READ_RECORDS {
            assert!(
                cat.checks.iter().any(|c| c.id == *id),
                "{id} is not a check"
            );
        }
        // The full catalog shares the records with the storage map; a storage check alone not.
        let all: Vec<&CheckDef> = cat.checks.iter().collect();
        let engine = crate::runtime::engine::Engine::new(
            crate::runtime::endpoint::Endpoint::Unix("/nonexistent.sock".into()),
            std::time::Duration::from_secs(1),
        );
        assert!(facts_for(engine.clone(), &all).logs_from_records());
        let tmp: Vec<&CheckDef> = cat
            .checks
            .iter()
            .filter(|c| c.id == "storage.tmp")
            .collect();
        assert!(!facts_for(engine, &tmp).logs_from_records());
    }

    #[test]
    fn selection_rejects_unknown_ids_and_honours_skip() {
        let cat = Catalog::builtin().expect("catalog");
        let cfg = Config::default();
        let e = select(&cat, &cfg, &["nope".into()], &[]).expect_err("unknown id");
        assert!(e.to_string().contains("daemon.reachable"));
        let s = select(&cat, &cfg, &[], &["disk.data-root".into()]).expect("valid");
        assert!(s.iter().all(|c| c.id != "disk.data-root"));
        let s = select(&cat, &cfg, &["daemon.process".into()], &[]).expect("valid");
        assert_eq!(s.len(), 1);
        // Comma lists and whole areas, as people type them.
        let s = select(
            &cat,
            &cfg,
            &["daemon.process, disk.data-root".into(), "ports".into()],
            &["ports.stuck".into()],
        )
        .expect("valid");
        let ids: Vec<&str> = s.iter().map(|c| c.id.as_str()).collect();
        assert!(ids.contains(&"daemon.process") && ids.contains(&"disk.data-root"));
        assert!(ids.contains(&"ports.conflict") && !ids.contains(&"ports.stuck"));
        let all_daemon = select(&cat, &cfg, &["daemon".into()], &[]).expect("valid");
        assert!(all_daemon.len() > 3 && all_daemon.iter().all(|c| c.area == "daemon"));
        let e = select(&cat, &cfg, &["daemon,nope".into()], &[]).expect_err("unknown");
        assert!(
            e.to_string().contains("\"nope\"") && e.to_string().contains("an area"),
            "{e}"
        );
        let cfg = Config {
            disabled: vec!["daemon.process".into()],
            ..Config::default()
        };
        assert!(
            select(&cat, &cfg, &[], &[])
                .expect("valid")
                .iter()
                .all(|c| c.id != "daemon.process")
        );
    }
}
