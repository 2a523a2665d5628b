//! dockhand keeps Docker hosts healthy. The library holds the runtime core and the commands;
//! the binary only parses, resolves settings, runs one command and exits with its code.
//! docs/architecture.md is the code map: each module, the layer order and where new work goes.

pub mod actions;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod command;
pub mod config;
pub mod df;
pub mod doctor;
pub mod error;
pub mod exit;
pub mod facts;
pub mod gc;
pub mod journal;
pub mod policy;
pub mod ports;
pub mod pull;
pub mod reap;
pub mod recover;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod units;
pub mod util;

#[cfg(test)]
mod fuzz_props;
