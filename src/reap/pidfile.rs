//! A stale daemon pid file (`daemon.pidfile`): removed while no daemon runs, or rewritten
//! with the running daemon's pid; one naming another engine is never touched.

use crate::actions::{Action, FileStamp, ProcTarget, Scope, Step};
use crate::facts::Facts;
use crate::policy::daemon::{PidfileRepair, PidfileState, pidfile_repair};
use crate::runtime::blocking;
use crate::runtime::daemon::{DaemonProcess, Located};
use crate::runtime::pidfile;

use super::plan::{Category, ReapPlan};

pub(super) async fn plan(
    facts: &Facts,
    p: &mut ReapPlan,
    located: &Located,
    daemon: Option<&DaemonProcess>,
) {
    let (path, daemon_pid) = match located {
        Located::Found(d) => (d.paths.pidfile.clone(), Some(d.info.pid)),
        Located::NotRunning { paths, .. } => (paths.pidfile.clone(), None),
        Located::Unverified { why, .. } => {
            p.notes.push(format!("the pid file is left alone: {why}"));
            return;
        }
        Located::Remote => return,
    };
    p.pidfile = Some(path.clone());
    let read_path = path.clone();
    let read = blocking(facts.timeout(), move || {
        let state = pidfile::judge(&read_path, daemon_pid, pidfile::Owner::Engine).state;
        let stamp = FileStamp::of(&read_path).ok();
        // The daemon is Docker's own program: a saved plan never names any process.
        let daemon = daemon_pid.and_then(|d| ProcTarget::capture(d, Scope::DockerProgram));
        (state, stamp, daemon)
    })
    .await;
    let Some((state, stamp, target)) = read else {
        p.notes.push(format!(
            "reading {} took longer than {}: it is left alone",
            path.display(),
            crate::util::human_duration(facts.timeout())
        ));
        return;
    };
    let shown = path.display().to_string();
    let named = match &state {
        PidfileState::Gone(pid) => format!("names pid {pid}, which is gone"),
        PidfileState::NotEngine(pid) => format!(
            "names pid {pid}, a live process that is not dockerd (or a zombie): the daemon would refuse to start"
        ),
        PidfileState::OtherEngine(pid) => {
            p.skip(
                Category::Pidfile,
                shown,
                format!("names pid {pid}, another running container engine: never touched"),
            );
            return;
        }
        PidfileState::Unreadable(e) => {
            p.skip(Category::Pidfile, shown, format!("cannot be read: {e}"));
            return;
        }
        _ => return,
    };
    let Some(stamp) = stamp else { return };
    match pidfile_repair(&state, daemon_pid) {
        PidfileRepair::Remove => p.push(
            Category::Pidfile,
            Step::new(
                Action::RemoveFile { path, stamp },
                format!("stale pid file: it {named}, and no daemon runs"),
            ),
        ),
        PidfileRepair::Rewrite { pid } => match (target, daemon) {
            (Some(t), Some(d)) if t.id.start_ticks == d.info.start_ticks => p.push(
                Category::Pidfile,
                Step::new(
                    Action::RewritePidfile {
                        path,
                        stamp,
                        daemon: t,
                    },
                    format!("stale pid file: it {named}, while the daemon runs as pid {pid}"),
                ),
            ),
            _ => p.notes.push(format!(
                "the daemon (pid {pid}) changed while planning: {shown} is left alone; run again"
            )),
        },
        PidfileRepair::Leave => {}
    }
}
