//! dockhand keeps Docker hosts healthy. The library holds the runtime core and the commands;
//! the binary only parses, resolves settings, runs one command and exits with its code.
//! docs/architecture.md is the code map: each module, the layer order and where new work goes.

pub mod actions;
pub mod app;
pub mod catalog;
pub mod cli;
pub(crate) mod command;
pub(crate) mod config;
pub(crate) mod df;
pub(crate) mod doctor;
pub(crate) mod error;
pub mod exit;
pub(crate) mod facts;
#[cfg(fuzzing)]
pub mod fuzz_api;
pub(crate) mod gc;
pub(crate) mod journal;
pub mod policy;
pub mod ports;
pub(crate) mod pull;
pub(crate) mod reap;
pub mod recover;
pub mod report;
pub mod runtime;
pub(crate) mod serve;
pub(crate) mod settings;
pub mod shutdown;
pub(crate) mod units;
pub(crate) mod util;

#[cfg(test)]
mod fuzz_props;
