//! PURE verdicts: plain data in (facts, thresholds, now), a verdict out — no clock, no /proc,
//! no engine, no prose. doctor's checks word these verdicts; gc, reap and ports act on the same
//! functions, so every command agrees on what is stale, leaked, orphaned or stuck. Each is
//! unit-tested with tables of plain data.

pub mod addresses;
pub mod containers;
pub mod daemon;
pub mod disk;
pub mod gc;
pub mod identity;
pub mod images;
pub mod ports;
pub mod processes;
#[cfg(test)]
mod props;
pub mod pulls;
pub mod storage;
pub mod volumes;
