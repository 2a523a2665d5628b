//! PURE verdicts: plain data in (facts, thresholds, now), a verdict out — no clock, no /proc,
//! no engine, no prose. doctor's checks word these verdicts; gc, reap and ports act on the same
//! functions, so every command agrees on what is stale, leaked, orphaned or stuck. Each is
//! unit-tested with tables of plain data.

pub(crate) mod addresses;
pub(crate) mod containers;
pub(crate) mod daemon;
pub(crate) mod disk;
pub(crate) mod gc;
pub(crate) mod host;
pub mod identity;
pub(crate) mod images;
pub mod ports;
pub(crate) mod processes;
#[cfg(test)]
mod props;
pub(crate) mod pulls;
pub(crate) mod storage;
pub(crate) mod volumes;
pub(crate) mod watch;
