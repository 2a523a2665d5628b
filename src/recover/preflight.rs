//! What is settled before anything is touched: how the daemon will be started again, and
//! whether a restart may stop running containers (live-restore off).

use std::path::Path;

use super::diagnose::Diagnosis;
use super::options::Options;
use super::plan::{self, Starter};
use crate::actions::DaemonStart;
use crate::runtime::daemon::ServiceManager;

/// How the daemon will be started, or why it cannot be.
pub(super) fn starter(
    diag: &Diagnosis,
    opts: &Options,
    state_dir: &Path,
) -> Result<Starter, String> {
    let service = diag.process.as_ref().map(|p| &p.service);
    let by_hand = |argv: &[String], from: &'static str| {
        let log = opts
            .log_file
            .as_ref()
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| state_dir.join("dockerd.log"));
        Starter {
            how: DaemonStart::Command {
                argv: argv.to_vec(),
                log: Some(log),
            },
            from,
        }
    };
    match (service, &opts.start_cmd) {
        // Whatever the start command: stopping it is the other manager's business too.
        (Some(ServiceManager::Refused { reason }), _) => Err(format!(
            "recover does not stop or start this daemon: {reason}"
        )),
        (Some(ServiceManager::Systemd { unit }), None) => Ok(Starter {
            how: DaemonStart::Systemd { unit: unit.clone() },
            from: "systemd",
        }),
        (Some(ServiceManager::Openrc), None) => Ok(Starter {
            how: DaemonStart::Openrc {
                service: "docker".into(),
            },
            from: "openrc",
        }),
        (Some(ServiceManager::Sysvinit { script }), None) => Ok(Starter {
            how: DaemonStart::Sysvinit {
                script: script.clone(),
            },
            from: "sysvinit",
        }),
        (Some(sm @ (ServiceManager::Systemd { .. } | ServiceManager::Openrc | ServiceManager::Sysvinit { .. })), Some((_, from))) => Err(format!(
            "{} runs this daemon, so it starts it again; drop the start command from {from}, which is for daemons no service manager runs",
            sm
        )),
        (_, Some((argv, from))) => Ok(by_hand(argv, from)),
        (Some(ServiceManager::None { parent, parent_pid }), None) => Err(format!(
            "no service manager runs this daemon (it was started by {parent}, pid {parent_pid}): pass --start-cmd with its command line (it was: {}), or set [recover] start_cmd in the config file",
            crate::util::sanitize(&diag.process.as_ref().map(|p| p.cmdline.join(" ")).unwrap_or_default())
        )),
        (None, None) => Err("no daemon process to learn the service manager from: pass --start-cmd with the daemon's command line, or set [recover] start_cmd in the config file (or start it through its service manager)".into()),
    }
}

/// Why `--apply` must not restart a daemon whose live-restore is off (or not known to be on)
/// while containers run: the restart stops every one of them. `None` when it may.
pub(super) fn container_stop_refusal(diag: &Diagnosis, opts: &Options) -> Option<String> {
    if diag.live_restore == Some(true) || opts.allow_container_stop {
        return None;
    }
    let stopping = plan::stopping(diag);
    let unknown = diag.containers_from == "none";
    if stopping.is_empty() && !unknown {
        return None;
    }
    let who = if unknown {
        "the running containers could not be read".to_string()
    } else {
        format!(
            "{} running container{} will stop: {}",
            stopping.len(),
            if stopping.len() == 1 { "" } else { "s" },
            stopping.join(", ")
        )
    };
    Some(format!(
        "live-restore is {} ({}): a restart stops every running container, and {who}; pass --allow-container-stop to accept that, or turn live-restore on first",
        if diag.live_restore == Some(false) {
            "off"
        } else {
            "not known to be on"
        },
        diag.live_restore_from
    ))
}
