//! Checks of the processes area: containerd shims Docker does not know
//! ([`orphan_shims`]), and zombies under Docker's processes ([`zombies`]). See
//! docs/checks/processes.md; the verdicts are in [`crate::policy::processes`].
//!
//! Both are scoped to the located daemon: a host may run several daemons (and a test host does),
//! and another daemon's shims are neither orphans nor ours to report. A shim belongs to this
//! daemon when its `-namespace` is the daemon's containerd namespace and its `-address` is the
//! daemon's containerd socket (`--containerd`, else daemon.json `containerd`, else
//! `<exec-root>/containerd/containerd.sock`, where dockerd starts its own containerd).

pub mod orphan_shims;
pub mod zombies;

use super::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::facts::Gap;
use crate::policy::processes::Shim;
use crate::runtime::daemon::DaemonProcess;
use crate::runtime::host::ProcRow;

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("processes.orphan-shims", orphan_shims::check),
        probe!("processes.zombies", zombies::check),
    ]
}

/// How many objects evidence lists before it only counts.
const CAP: usize = 20;

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The first 12 characters of a container id, as `docker ps` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The process is still there, the same one (pid and start time), and in one of `states`.
/// Reads /proc: call it through [`blocking`].
fn still(pid: i32, start_ticks: u64, states: &[char]) -> bool {
    crate::runtime::proc::stat(pid)
        .is_some_and(|s| s.start_ticks == start_ticks && states.contains(&s.state))
}

/// What both checks start from: this daemon's process, the process table, the shims of this
/// daemon and how many other daemons' shims were seen.
struct DaemonShims<'c> {
    daemon: &'c DaemonProcess,
    procs: &'c [ProcRow],
    ours: Vec<(ProcRow, Shim)>,
    others: usize,
}

/// This daemon, the process table and this daemon's shims, or the finding that says why a
/// check cannot have them.
async fn daemon_shims<'c>(ctx: &'c Ctx<'_>) -> Result<DaemonShims<'c>, Finding> {
    let d = ctx.located_daemon().await?;
    let procs = ctx.processes().await.map_err(|g| super::gap(&g))?;
    let shims = match ctx.shims().await {
        Ok(s) => s,
        Err(Gap::TimedOut { after, .. }) => {
            return Err(Finding::new(
                Status::Unknown,
                format!(
                    "comparing the shims' containerd addresses did not finish within {}",
                    super::ms(after)
                ),
            ));
        }
        Err(g) => return Err(super::gap(&g)),
    };
    let (ours, others) = (shims.ours.clone(), shims.others);
    Ok(DaemonShims {
        daemon: d,
        procs,
        ours,
        others,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::runtime::host::same_socket;

    #[test]
    fn same_socket_by_path() {
        let tmp = std::env::temp_dir();
        let cases = [
            (
                Path::new("/a/b.sock").to_path_buf(),
                Path::new("/a/b.sock").to_path_buf(),
                true,
            ),
            (
                "/nonexistent/a.sock".into(),
                "/nonexistent/b.sock".into(),
                false,
            ),
            (tmp.join("x.sock"), tmp.join(".").join("x.sock"), true),
            (tmp.join("x.sock"), tmp.join("y.sock"), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                same_socket(&a, &b),
                want,
                "{} vs {}",
                a.display(),
                b.display()
            );
        }
    }
}
