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

use std::collections::HashMap;
use std::path::Path;

use super::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::policy::processes::{Shim, containerd_of, parse_shim, shim_of_daemon};
use crate::runtime::blocking;
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

/// The same socket path, allowing for symlinks (`/var/run` → `/run`). Touches the filesystem.
fn same_socket(a: &Path, b: &Path) -> bool {
    crate::runtime::host::same_socket(a, b)
}

/// The process is still there, the same one (pid and start time), and in one of `states`.
/// Reads /proc: call it through [`blocking`].
fn still(pid: i32, start_ticks: u64, states: &[char]) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.starttime == start_ticks && states.contains(&s.state))
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
    let dj = ctx.daemon_json().await;
    let json = dj.value.as_ref().and_then(|v| v.as_ref().ok());
    let scope = containerd_of(&d.info.cmdline, json, &d.paths.exec_root);
    let shims: Vec<(ProcRow, Shim)> = procs
        .iter()
        // A shim by what it runs: a stranger's command line naming a container is not one.
        .filter(|p| {
            p.state != 'Z'
                && p.program(Some(d.uid)) == Some(crate::policy::identity::DockerProgram::Shim)
        })
        .filter_map(|p| parse_shim(&p.cmdline).map(|s| (p.clone(), s)))
        .collect();
    // Comparing socket paths may stat a hung mount: keep it under the deadline, and resolve
    // each address once.
    let split = blocking(ctx.timeout(), move || {
        let mut same: HashMap<String, bool> = HashMap::new();
        let (ours, others): (Vec<_>, Vec<_>) = shims.into_iter().partition(|(_, s)| {
            shim_of_daemon(s, &scope, |a, b| {
                *same
                    .entry(s.address.clone())
                    .or_insert_with(|| same_socket(a, b))
            })
        });
        (ours, others.len())
    })
    .await;
    let Some((ours, others)) = split else {
        return Err(Finding::new(
            Status::Unknown,
            format!(
                "comparing the shims' containerd addresses did not finish within {}",
                super::ms(ctx.timeout())
            ),
        ));
    };
    Ok(DaemonShims {
        daemon: d,
        procs,
        ours,
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
