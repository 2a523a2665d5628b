//! Why an object goes or stays, as data: the rule, and what the rule saw (ages, users, the
//! pattern that matched). The words are the plan's (gc::plan).

/// Why an object goes or stays. Collect reasons first, then keep reasons.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    // -- collected --
    /// A container stopped `age_s` ago, at least the grace period.
    StoppedPastGrace { age_s: f64 },
    /// An untagged image no container uses.
    Dangling,
    /// A tagged image no container uses, idle at least the grace period (`--images`).
    Unused,
    /// Taken least recently used first to bring the filesystem under the low watermark.
    Watermark,
    /// An anonymous volume no container mounts.
    UnusedAnonymousVolume,
    /// A named volume no container mounts (`--named-volumes`).
    UnusedNamedVolume,
    /// A user-defined network no container, in any state, is attached to.
    UnusedNetwork,
    /// Unused build cache (the engine decides what is unused).
    BuildCache,
    /// A log at or above the size threshold, truncated in place (`--truncate-logs`).
    BigLog,
    // -- kept --
    /// Running, paused or restarting: not a candidate.
    Running,
    /// Containers that remain use it.
    InUse { users: usize },
    /// Labelled `dockhand.keep`.
    KeepLabel,
    /// One of its tags matches a keep pattern.
    KeepPattern { pattern: String, reference: String },
    /// Among the `n` most recent images of `repo`.
    KeepLast { repo: String, n: usize },
    /// Its layer chain is the base of a kept image's.
    BaseOfKept { child: String },
    /// Stopped, known, used or created less than the grace period ago.
    WithinGrace { age_s: f64 },
    /// Named volumes are data: only with `--named-volumes`.
    NamedVolume,
    /// The engine's own networks (bridge, host, none) and swarm networks.
    Predefined,
    /// Eligible, but its type was not asked for (`--images`, `--volumes`, …).
    NotRequested,
    /// Eligible for the watermark pass, but the filesystem is (or will be) under the low mark.
    UnderWatermark,
    /// Eligible, but the run's `--max-removals` was reached.
    CapReached { max: usize },
    /// A log under the size threshold, or logs were not asked for.
    LogKept,
}

impl Why {
    pub fn collects(&self) -> bool {
        matches!(
            self,
            Why::StoppedPastGrace { .. }
                | Why::Dangling
                | Why::Unused
                | Why::Watermark
                | Why::UnusedAnonymousVolume
                | Why::UnusedNamedVolume
                | Why::UnusedNetwork
                | Why::BuildCache
                | Why::BigLog
        )
    }

    /// A short name for tables and JSON (`stopped`, `dangling`, `keep-label`, …).
    pub fn rule(&self) -> &'static str {
        match self {
            Why::StoppedPastGrace { .. } => "stopped",
            Why::Dangling => "dangling",
            Why::Unused => "unused",
            Why::Watermark => "watermark",
            Why::UnusedAnonymousVolume => "unused-anonymous",
            Why::UnusedNamedVolume => "unused-named",
            Why::UnusedNetwork => "unused-network",
            Why::BuildCache => "build-cache",
            Why::BigLog => "big-log",
            Why::Running => "running",
            Why::InUse { .. } => "in-use",
            Why::KeepLabel => "keep-label",
            Why::KeepPattern { .. } => "keep-pattern",
            Why::KeepLast { .. } => "keep-last",
            Why::BaseOfKept { .. } => "base-image",
            Why::WithinGrace { .. } => "grace",
            Why::NamedVolume => "named-volume",
            Why::Predefined => "predefined",
            Why::NotRequested => "not-requested",
            Why::UnderWatermark => "under-watermark",
            Why::CapReached { .. } => "max-removals",
            Why::LogKept => "log-kept",
        }
    }

    /// Kept by a rule worth showing in a plan ("what a keep rule protected"), as opposed to the
    /// ordinary: running, in use, not asked for.
    pub fn is_protection(&self) -> bool {
        matches!(
            self,
            Why::KeepLabel
                | Why::KeepPattern { .. }
                | Why::KeepLast { .. }
                | Why::BaseOfKept { .. }
                | Why::WithinGrace { .. }
                | Why::NamedVolume
                | Why::UnderWatermark
                | Why::CapReached { .. }
        )
    }
}
