//! The reap plan: what each step reaps (its category), what was left alone and why, and
//! [`plan_reap`], which runs the six planners against one snapshot of the host.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::actions::{Action, Plan, ProcId, Scope, Step};
use crate::facts::{Facts, Gap};
use crate::report::reap::Skipped;
use crate::runtime::daemon::{DaemonProcess, Located};
use crate::runtime::host::ProcRow;
use crate::settings::Settings;

use super::{dead, pidfile, proxies, shims, tmp, zombies};

/// What a step reaps, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    LeakedProxy,
    Pidfile,
    /// A container process under an orphan shim, ended before the shim.
    OrphanShimTask,
    OrphanShim,
    ZombieParent,
    Tmp,
    DeadContainer,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::LeakedProxy => "leaked-proxy",
            Category::Pidfile => "pidfile",
            Category::OrphanShimTask => "orphan-shim-task",
            Category::OrphanShim => "orphan-shim",
            Category::ZombieParent => "zombie-parent",
            Category::Tmp => "tmp",
            Category::DeadContainer => "dead-container",
        }
    }
}

/// The plan: steps with what they reap, what was found but is left alone, and notes.
#[derive(Debug, Clone, Default)]
pub struct ReapPlan {
    pub steps: Vec<(Category, Step)>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    pub daemon_pid: Option<i32>,
    /// The daemon's pid file, as the located daemon names it: the one pid file reap touches.
    pub pidfile: Option<PathBuf>,
    /// The live engine's data root, when its `tmp` was read: reap cleans nothing outside it.
    pub data_root: Option<PathBuf>,
    /// Something could not be judged (the engine silent or timed out, /proc unreadable, a walk
    /// cut off): what it covers was left alone, and the run ends with the partial exit code.
    pub gaps: bool,
}

impl ReapPlan {
    pub(super) fn push(&mut self, c: Category, s: Step) {
        self.steps.push((c, s));
    }

    pub(super) fn skip(&mut self, c: Category, target: impl Into<String>, why: impl Into<String>) {
        self.skipped.push(Skipped {
            category: c.as_str().to_string(),
            target: target.into(),
            why: why.into(),
        });
    }

    pub fn plan(&self) -> Plan {
        Plan::new(self.steps.iter().map(|(_, s)| s.clone()).collect())
    }
}

/// A step that ends a shim: it runs after every other step (the container processes under the
/// shim go first, while they are still its descendants).
pub fn ends_a_shim(s: &Step) -> bool {
    matches!(&s.action, Action::Terminate { target, .. } if target.comm.starts_with("containerd-shim"))
}

/// The category of a step of a saved plan (which carries no categories), from its action.
pub(super) fn category_of(s: &Step) -> Category {
    match &s.action {
        Action::Terminate { target, .. } if target.comm.starts_with("containerd-shim") => {
            Category::OrphanShim
        }
        Action::Terminate { target, .. } if target.comm == "docker-proxy" => Category::LeakedProxy,
        Action::Terminate { target, .. } => match target.scope {
            Scope::DescendantOf(_) if s.reason.contains("orphan shim") => Category::OrphanShimTask,
            _ => Category::ZombieParent,
        },
        Action::RemoveFile { path, .. } | Action::RemoveTree { path, .. }
            if path
                .components()
                .any(|c| c.as_os_str() == "tmp" || c.as_os_str() == "tmp-old") =>
        {
            Category::Tmp
        }
        Action::RemoveContainer { .. } => Category::DeadContainer,
        _ => Category::Pidfile,
    }
}

pub(super) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The thresholds reap shares with doctor.
pub(super) struct Thresholds {
    pub(super) proxy_grace_s: f64,
    pub(super) tmp_grace_s: u64,
}

pub(super) fn thresholds(settings: &Settings) -> Thresholds {
    let th = |check: &str, name: &str| settings.config.threshold(&settings.catalog, check, name);
    Thresholds {
        proxy_grace_s: th("ports.leaked-proxy", "grace_seconds"),
        tmp_grace_s: (th("storage.tmp", "grace_hours") * 3600.0).max(0.0) as u64,
    }
}

/// Plans every reap: what doctor's checks report, as steps.
pub async fn plan_reap(
    facts: &Facts,
    th_settings: &Settings,
    shims: bool,
    grace: Duration,
) -> Result<ReapPlan, Gap> {
    let th = thresholds(th_settings);
    let mut p = ReapPlan::default();
    // The daemon's process, the process table and the ping at once: a frozen engine costs its
    // deadline alongside the /proc reads, not after them.
    let (located, _, _) = tokio::join!(facts.located(), facts.processes(), facts.ping());
    let located = match located {
        Ok(l) => l,
        Err(g @ Gap::Remote { .. }) => return Err(g),
        Err(g) => {
            p.notes.push(format!(
                "the daemon's process was not found ({g}): nothing is judged, everything is left alone"
            ));
            p.gaps = true;
            return Ok(p);
        }
    };
    let daemon: Option<&DaemonProcess> = match located {
        Located::Found(d) => Some(d.as_ref()),
        _ => None,
    };
    p.daemon_pid = daemon.map(|d| d.info.pid);
    let daemon_id = daemon.map(|d| ProcId {
        pid: d.info.pid,
        start_ticks: d.info.start_ticks,
    });
    let answered = facts.engine_answered().await;
    if daemon.is_some() && !answered {
        p.gaps = true;
        p.notes.push(format!(
            "the engine did not answer: proxies of the daemon, shims, zombies, tmp and dead containers need it and are left alone ({})",
            facts.ping().await.0.as_ref().err().map_or_else(String::new, ToString::to_string)
        ));
    }
    let procs: &[ProcRow] = match facts.processes().await {
        Ok(ps) => ps,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!(
                "processes are left alone: the process table was not read ({g})"
            ));
            &[]
        }
    };

    if let Located::Unverified { why, .. } = located {
        // Its children would look like orphans: nothing is judged against a stranger.
        p.notes
            .push(format!("docker-proxy processes are left alone: {why}"));
    } else {
        proxies::plan(
            facts, &mut p, procs, daemon, daemon_id, answered, &th, grace,
        )
        .await;
    }
    pidfile::plan(facts, &mut p, located, daemon).await;
    if let Some(d) = daemon
        && answered
    {
        let ours = shims::ours(facts, &mut p).await;
        shims::plan(facts, &mut p, procs, &ours, shims, grace).await;
        zombies::plan(facts, &mut p, procs, d, &ours, grace).await;
        tmp::plan(facts, &mut p, th.tmp_grace_s).await;
        dead::plan(facts, &mut p).await;
    } else if daemon.is_none() {
        p.notes.push(format!(
            "no daemon serves {}: shims, zombies, tmp and dead containers are judged against a running daemon, and are left alone",
            facts.engine().endpoint()
        ));
    }
    // The shims last: their container processes go first, while still under them.
    p.steps
        .sort_by_key(|(c, s)| (ends_a_shim(s), *c == Category::OrphanShim));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{FileStamp, ProcTarget};

    fn term(comm: &str, scope: Scope, reason: &str) -> Step {
        Step::new(
            Action::Terminate {
                target: ProcTarget {
                    id: ProcId {
                        pid: 9,
                        start_ticks: 1,
                    },
                    exe: None,
                    comm: comm.into(),
                    scope,
                },
                grace: Duration::from_secs(1),
            },
            reason,
        )
    }

    #[test]
    fn saved_steps_get_their_category_back() {
        let stamp = FileStamp {
            dev: 1,
            ino: 2,
            mtime_ns: 3,
            size: 4,
        };
        let shim = ProcId {
            pid: 5,
            start_ticks: 6,
        };
        let cases = [
            (
                term("containerd-shim", Scope::DockerProgram, "orphan shim of x"),
                Category::OrphanShim,
            ),
            (
                term("docker-proxy", Scope::DockerProgram, "leaked"),
                Category::LeakedProxy,
            ),
            (
                term(
                    "sleep",
                    Scope::DescendantOf(shim),
                    "a process of container x under an orphan shim",
                ),
                Category::OrphanShimTask,
            ),
            (
                term("sh", Scope::DescendantOf(shim), "parent of 2 zombies"),
                Category::ZombieParent,
            ),
            (
                Step::new(
                    Action::RemoveTree {
                        path: "/var/lib/docker/tmp-old".into(),
                        stamp,
                    },
                    "x",
                ),
                Category::Tmp,
            ),
            (
                Step::new(
                    Action::RemoveFile {
                        path: "/var/lib/docker/tmp/GetImageBlob1".into(),
                        stamp,
                    },
                    "x",
                ),
                Category::Tmp,
            ),
            (
                Step::new(
                    Action::RemoveFile {
                        path: "/var/run/docker.pid".into(),
                        stamp,
                    },
                    "x",
                ),
                Category::Pidfile,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(category_of(&s), want, "{}", s.action.describe());
        }
        assert!(ends_a_shim(&term(
            "containerd-shim-runc-v2",
            Scope::DockerProgram,
            ""
        )));
        assert!(!ends_a_shim(&term(
            "docker-proxy",
            Scope::DockerProgram,
            ""
        )));
    }
}
