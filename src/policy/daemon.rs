//! Verdicts of the daemon area (see [`crate::policy`]), one module per question:
//!
//! - [`responsive`]: does the daemon answer — healthy, slow, down, frozen, wedged (doctor's
//!   `daemon.responsive`; `recover` and `pull` decide on the same [`Health`]).
//! - [`process`]: its process — stopped, dead, threads stuck in the kernel, fds near the limit
//!   (`daemon.process`; `recover`).
//! - [`pidfile`]: what its pid file names, and whether it may be removed or rewritten
//!   (`daemon.pidfile`, `daemon.process`; `reap` and `recover` act on [`pidfile_repair`]).
//! - [`config`]: daemon.json as dockerd reads it (`daemon.config`); [`flags`]: its command line.
//! - [`logs`]: default and per-container log limits (`daemon.log-rotation`).
//! - [`exposure`]: the API on TCP (`daemon.tcp-exposed`).
//! - [`settings`]: live-restore and the engine's own warnings (`daemon.live-restore`,
//!   `daemon.warnings`).

pub mod config;
pub mod exposure;
pub mod flags;
pub mod logs;
pub mod pidfile;
pub mod process;
pub mod recovery;
pub mod responsive;
pub mod settings;

pub use pidfile::{
    PidfileAgreement, PidfileRepair, PidfileState, pidfile_agreement, pidfile_repair,
};
pub use process::{
    MainState, StuckKind, StuckThread, Stuckness, fd_pressure, main_state, stuck_threads, stuckness,
};
pub use responsive::{Health, Limits as ResponsiveLimits, Outcome, TierName, Tiers, classify};
pub use settings::{LiveRestore, engine_warnings, live_restore};
