//! dockhand's integration tests: one test binary (run one test with
//! `cargo test --test tests NAME -- --nocapture`). Tests run against throwaway Docker daemons started
//! by `support::TestDaemon`, never against the host's own daemon. See tests/support/mod.rs.

#![allow(clippy::unwrap_used)]

mod support;

#[path = "it/actions.rs"]
mod actions;
#[path = "it/adversary/mod.rs"]
mod adversary;
#[path = "it/checks_config.rs"]
mod checks_config;
#[path = "it/checks_containers.rs"]
mod checks_containers;
#[path = "it/checks_daemon.rs"]
mod checks_daemon;
#[path = "it/checks_host.rs"]
mod checks_host;
#[path = "it/checks_ports.rs"]
mod checks_ports;
#[path = "it/checks_pulls.rs"]
mod checks_pulls;
#[path = "it/checks_storage.rs"]
mod checks_storage;
#[path = "it/children.rs"]
mod children;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/contrib.rs"]
mod contrib;
#[path = "it/df.rs"]
mod df;
#[path = "it/doctor.rs"]
mod doctor;
#[path = "it/doctor_fix.rs"]
mod doctor_fix;
#[path = "it/engines.rs"]
mod engines;
#[path = "it/formats.rs"]
mod formats;
#[path = "it/gc.rs"]
mod gc;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/hung_mount.rs"]
mod hung_mount;
#[path = "it/package.rs"]
mod package;
#[path = "it/podman.rs"]
mod podman;
#[path = "it/ports.rs"]
mod ports;
#[path = "it/pull.rs"]
mod pull;
#[path = "it/reap.rs"]
mod reap;
#[path = "it/recover.rs"]
mod recover;
#[path = "it/run_outcome.rs"]
mod run_outcome;
#[path = "it/serve.rs"]
mod serve;
#[path = "it/terminal.rs"]
mod terminal;
#[path = "it/tidy.rs"]
mod tidy;
#[path = "it/watch.rs"]
mod watch;
