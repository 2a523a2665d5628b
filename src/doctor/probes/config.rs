//! Daemon configuration checks (area "daemon"): daemon.json, live-restore, log rotation, TCP exposure, the engine's warnings, the pid file.

use super::Probe;

pub fn probes() -> Vec<Probe> {
    vec![]
}
