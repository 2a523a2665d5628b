//! Probes: one async function per check, all run at once, each under its own deadline.
//!
//! The facts they judge — the ping, the lists, `/info`, the daemon process, the records, the
//! storage map — come from the run's [`Facts`], gathered once whoever asks first.

pub mod containers;
pub mod daemon;
pub mod disk;
pub mod host;
pub mod images;
pub mod ports;
pub mod processes;
pub mod pulls;
pub mod storage;
pub mod volumes;

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use super::Finding;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::facts::{Attempt, Facts, Gap};
use crate::runtime::engine::{Engine, EngineError};
use crate::runtime::engine_kind::EngineKind;
use crate::runtime::inventory::{Container, ContainerRecord};

/// A probe: given the shared context, a finding.
pub type ProbeFn = for<'c> fn(&'c Ctx<'c>) -> LocalBoxFuture<'c, Finding>;

pub struct Probe {
    pub id: &'static str,
    pub run: ProbeFn,
}

/// Declares a probe from an `async fn(&Ctx) -> Finding`.
macro_rules! probe {
    ($id:literal, $f:path) => {{
        fn run<'c>(
            c: &'c $crate::doctor::checks::Ctx<'c>,
        ) -> futures_util::future::LocalBoxFuture<'c, $crate::doctor::Finding> {
            Box::pin($f(c))
        }
        $crate::doctor::checks::Probe { id: $id, run }
    }};
}
pub(crate) use probe;

/// Every probe, by check id.
pub fn registry() -> Vec<Probe> {
    [
        daemon::probes(),
        disk::probes(),
        containers::probes(),
        ports::probes(),
        processes::probes(),
        pulls::probes(),
        images::probes(),
        storage::probes(),
        volumes::probes(),
        host::probes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The engine tiers after the ping: the container list and `/info`, asked at once.
#[derive(Debug, Default)]
pub struct Tiers<'a> {
    pub containers: Option<&'a Attempt<Vec<Container>>>,
    pub info: Option<&'a Attempt<Value>>,
}

/// What a check sees: the run's facts (shared with every other check, each gathered once), the
/// catalog and the thresholds.
pub struct Ctx<'r> {
    pub facts: &'r Facts,
    pub engine: &'r Engine,
    pub catalog: &'r Catalog,
    pub config: &'r Config,
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Facts;
    fn deref(&self) -> &Facts {
        self.facts
    }
}

impl<'r> Ctx<'r> {
    /// A call a check makes to the engine itself (one the facts do not hold, such as a window
    /// of `/events`): not made when the ping went unanswered or the engine is known stopped —
    /// it would only wait out the same deadline — and then the ping's error is the answer.
    pub async fn engine_get(
        &self,
        path: &str,
    ) -> Result<crate::runtime::engine::Timed<crate::runtime::http::Response>, EngineError> {
        if let Err(e) = &self.facts.ping().await.0 {
            return Err(e.clone());
        }
        self.engine.get(path).await
    }

    pub fn new(facts: &'r Facts, catalog: &'r Catalog, config: &'r Config) -> Ctx<'r> {
        Ctx {
            facts,
            engine: facts.engine(),
            catalog,
            config,
        }
    }

    /// How long one check may take in all: three engine tiers in a row, and a margin.
    pub fn probe_deadline(&self) -> Duration {
        self.timeout() * 3 + Duration::from_secs(1)
    }

    /// A threshold of a check: the config's override, else the catalog's default.
    pub fn th(&self, check: &str, name: &str) -> f64 {
        self.config.threshold(self.catalog, check, name)
    }

    /// The container list and `/info`, each asked once the ping answered (not at all when it
    /// did not), at the same time, each under its own deadline: a wedged daemon costs one
    /// deadline, and each answer tells its own story (the list takes container locks, /info the
    /// storage driver's).
    pub async fn tiers(&self) -> Tiers<'_> {
        let (containers, info) = tokio::join!(self.list_attempt(), self.info_attempt());
        Tiers { containers, info }
    }
}

/// The finding of a check that needs the engine when the ping went unanswered.
pub(crate) fn engine_silent() -> Finding {
    Finding::new(
        super::Status::Unknown,
        "the engine did not answer (see daemon.responsive)",
    )
}

/// The finding of a check that needs the container list when the engine did not give it.
pub(crate) fn unlisted() -> Finding {
    Finding::new(
        super::Status::Unknown,
        "the engine did not list its containers (see daemon.responsive)",
    )
}

/// The finding of a check whose question does not arise on this engine (e.g. dockerd's pid file
/// on Podman): ok, "not applicable to <engine>: <why>", with the reason as evidence. `why` is
/// the catalog's sentence for the check (`not_applicable_to_podman`).
pub(crate) fn not_applicable(engine: EngineKind, why: &str) -> Finding {
    Finding::new(
        super::Status::Ok,
        format!("not applicable to {}: {why}", engine.name()),
    )
    .evidence(json!({
        "not_applicable": { "engine": engine, "why": why },
    }))
}

/// The finding of a check that cannot have the fact it needs.
pub(crate) fn gap(g: &Gap) -> Finding {
    Finding::new(super::Status::Unknown, g.to_string()).evidence(json!({ "gap": g.to_json() }))
}

impl Ctx<'_> {
    /// The container list, or the finding that says why a check cannot have it.
    pub async fn answered_containers(&self) -> Result<&[Container], Finding> {
        self.containers().await.map_err(|g| match g {
            Gap::EngineSilent(_) => engine_silent(),
            Gap::Engine { .. } => unlisted(),
            g => gap(&g),
        })
    }

    /// The containers' records, or the finding that says why a check cannot have them.
    pub async fn answered_records(&self) -> Result<&[ContainerRecord], Finding> {
        self.records().await.map_err(|g| match g {
            Gap::EngineSilent(_) => engine_silent(),
            Gap::Engine { .. } => unlisted(),
            g => gap(&g),
        })
    }
}

impl Ctx<'_> {
    /// This daemon's process on this host, or the finding that says why a check cannot have it:
    /// the one "where is the daemon" guard, with one sentence per reason, for every check that
    /// looks at the daemon's processes or files.
    pub async fn located_daemon(&self) -> Result<&crate::runtime::daemon::DaemonProcess, Finding> {
        use super::{Fix, Status};
        use crate::runtime::daemon::Located;
        match self.located().await {
            Ok(Located::Found(d)) => Ok(d),
            // Without root the socket's owner cannot be found: the daemon may well be running.
            Ok(Located::NotRunning { unreadable, .. }) if *unreadable > 0 => Err(Finding::new(
                Status::Unknown,
                format!(
                    "the daemon's process could not be identified: {unreadable} processes' open files are not readable by this user"
                ),
            )
            .fix(Fix::advice(
                "Run dockhand as root to see the daemon's processes and files.",
            ))
            .evidence(json!({ "daemon_pid": null, "unreadable_processes": unreadable }))),
            Ok(Located::Unverified { pid, why, .. }) => Err(Finding::new(
                Status::Unknown,
                format!("the daemon's process is unknown: {why}"),
            )
            .evidence(json!({ "daemon_pid": null, "unverified_pid": pid }))),
            Ok(Located::NotRunning { .. }) => Err(Finding::new(
                Status::Unknown,
                "the daemon's process was not found on this host (see daemon.process)",
            )
            .evidence(json!({ "daemon_pid": null }))),
            // `Facts::located` turns a remote engine into a gap; kept for completeness.
            Ok(Located::Remote) => Err(gap(&Gap::Remote {
                endpoint: self.engine.endpoint().to_string(),
            })),
            Err(g) => Err(gap(&g)),
        }
    }
}

/// Process ages from start ticks (moved to the runtime core, which reads the clock and /proc).
pub use crate::runtime::host::ProcClock;

/// `"12.3 ms"` for sentences.
pub(crate) fn ms(d: Duration) -> String {
    crate::util::human_duration(d)
}

/// The error as evidence.
pub(crate) fn err_json(e: &EngineError) -> Value {
    json!({ "kind": e.kind(), "message": e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_probe_and_every_probe_a_check() {
        let cat = Catalog::builtin().expect("catalog");
        let reg = registry();
        for c in &cat.checks {
            assert!(reg.iter().any(|p| p.id == c.id), "no probe for {}", c.id);
        }
        for p in &reg {
            assert!(
                cat.get(p.id).is_some(),
                "probe {} has no checks/{}.toml",
                p.id,
                p.id
            );
        }
        let mut ids: Vec<&str> = reg.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), reg.len(), "one probe per check");
    }
}
