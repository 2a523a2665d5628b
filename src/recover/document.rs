//! What a recover run found and did: the document the renderers (`report::recover`) turn into
//! text or JSON, and the verdict that picks the exit code.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::diagnose::Diagnosis;
use super::plan::{Item, Stage};
use crate::exit::ExitCode;

/// How a recover run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Dry run: the plan was printed.
    Planned,
    /// The daemon serves: nothing was done (without --force).
    NotNeeded,
    /// A preflight rule forbids it (live-restore off without --allow-container-stop, no way to
    /// start the daemon, a remote engine): nothing was done.
    Refused,
    /// Stopped, cleaned, started, and verified healthy.
    Recovered,
    /// A step or the verification failed; the reason says which.
    Failed,
    /// The process is in D state and SIGKILL did not end it: nothing else was touched.
    RebootNeeded,
    /// Ctrl-C / SIGTERM: the step in flight finished, the rest did not start.
    Interrupted,
}

impl Verdict {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Planned | Verdict::Recovered => ExitCode::Ok,
            Verdict::NotNeeded => ExitCode::RecoverNotNeeded,
            Verdict::Refused => ExitCode::RecoverRefused,
            Verdict::Failed => ExitCode::RecoverFailed,
            Verdict::RebootNeeded => ExitCode::RebootNeeded,
            Verdict::Interrupted => ExitCode::Interrupted,
        }
    }
}

/// One step as it was carried out.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub stage: Stage,
    pub action: &'static str,
    pub target: String,
    pub describe: String,
    pub outcome: &'static str,
    pub detail: Option<String>,
    pub elapsed_ms: f64,
}

/// Everything a recover run found and did, for the renderers.
#[derive(Debug, Clone)]
pub struct Report {
    pub apply: bool,
    pub endpoint: String,
    pub diagnosis: Option<Diagnosis>,
    pub plan: Vec<Item>,
    pub steps: Vec<Done>,
    pub bundle: Option<Value>,
    pub verification: Option<Value>,
    pub changed: Option<Value>,
    pub verdict: Verdict,
    pub reason: String,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub(super) fn new(apply: bool, endpoint: String) -> Report {
        Report {
            apply,
            endpoint,
            diagnosis: None,
            plan: Vec::new(),
            steps: Vec::new(),
            bundle: None,
            verification: None,
            changed: None,
            verdict: Verdict::Planned,
            reason: String::new(),
            notes: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub(super) fn end(&mut self, verdict: Verdict, reason: impl Into<String>) {
        self.verdict = verdict;
        self.reason = reason.into();
    }
}
