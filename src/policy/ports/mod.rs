//! Verdicts of the ports area (see [`crate::policy`]): whether a docker-proxy is leaked and why,
//! whether a listener's owners can still accept, whether a stopped container's published port is
//! held by another process, and which container a listener belongs to.
//!
//! Inputs are plain data — container records, rows of the listener table
//! ([`crate::runtime::net`]), a process's state letters — so `doctor`, `dockhand ports` (one
//! listener at a time) and `dockhand reap` (one proxy at a time) judge alike.

mod belongs;
mod bindings;
mod conflicts;
#[cfg(test)]
mod fixtures;
mod free;
mod listener;
mod proxy;
mod stuck;

pub use belongs::*;
pub use bindings::*;
pub use conflicts::*;
pub use free::*;
pub use listener::*;
pub use proxy::*;
pub use stuck::*;
