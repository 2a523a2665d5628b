//! What the engine says of itself in `/info`: live-restore, and its own warnings. doctor's
//! `daemon.live-restore` and `daemon.warnings` word these; `recover` reads [`live_restore`]
//! before a restart (without it, a restart stops every container).

use serde_json::Value;

/// Whether containers survive a daemon restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveRestore {
    /// On: containers keep running while the daemon restarts.
    On,
    /// Off, as swarm mode requires (its orchestrator reschedules tasks instead).
    OffForSwarm,
    /// Off: any restart stops every container.
    Off,
    /// `/info` does not say (an engine other than dockerd?).
    Unknown,
}

/// `LiveRestoreEnabled` and `Swarm.LocalNodeState` from `/info`.
pub fn live_restore(info: &Value) -> LiveRestore {
    let swarm = info
        .pointer("/Swarm/LocalNodeState")
        .and_then(Value::as_str)
        .unwrap_or("inactive");
    match info.get("LiveRestoreEnabled").and_then(Value::as_bool) {
        Some(true) => LiveRestore::On,
        Some(false) if swarm == "active" => LiveRestore::OffForSwarm,
        Some(false) => LiveRestore::Off,
        None => LiveRestore::Unknown,
    }
}

/// The engine's own warnings from `/info`, as sentences: the `WARNING: ` prefix of older
/// engines dropped, blank ones left out.
pub fn engine_warnings(info: &Value) -> Vec<String> {
    info.get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|w| w.trim().trim_start_matches("WARNING: ").to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cases() {
        use LiveRestore::*;
        let cases = [
            (json!({"LiveRestoreEnabled": true}), On),
            (json!({"LiveRestoreEnabled": false}), Off),
            (
                json!({"LiveRestoreEnabled": false, "Swarm": {"LocalNodeState": "active"}}),
                OffForSwarm,
            ),
            (
                json!({"LiveRestoreEnabled": false, "Swarm": {"LocalNodeState": "inactive"}}),
                Off,
            ),
            (json!({}), Unknown),
            (json!({"LiveRestoreEnabled": "yes"}), Unknown),
        ];
        for (info, want) in cases {
            assert_eq!(live_restore(&info), want, "{info}");
        }
    }

    #[test]
    fn warnings_as_sentences() {
        let cases = [
            (json!({}), vec![]),
            (json!({"Warnings": null}), vec![]),
            (
                json!({"Warnings": ["WARNING: No swap limit support", "  ", "bridge-nf-call-iptables is disabled"]}),
                vec![
                    "No swap limit support",
                    "bridge-nf-call-iptables is disabled",
                ],
            ),
        ];
        for (info, want) in cases {
            assert_eq!(engine_warnings(&info), want, "{info}");
        }
    }
}
