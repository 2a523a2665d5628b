//! Checks of the processes area: containerd shims Docker does not know, and zombies under
//! Docker's processes. See docs/checks/processes.md.
//!
//! Both are scoped to the located daemon: a host may run several daemons (and a test host does),
//! and another daemon's shims are neither orphans nor ours to report. A shim belongs to this
//! daemon when its `-namespace` is the daemon's containerd namespace and its `-address` is the
//! daemon's containerd socket (`--containerd`, else daemon.json `containerd`, else
//! `<exec-root>/containerd/containerd.sock`, where dockerd starts its own containerd).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::daemon::{DaemonProcess, Located};
use crate::runtime::host::{ProcRow, now_secs};
use crate::runtime::net::go_flag;
use crate::util::human_age;

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("processes.orphan-shims", orphan_shims),
        probe!("processes.zombies", zombies),
    ]
}

/// How many objects evidence lists before it only counts.
const CAP: usize = 20;

/// What a containerd shim's command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shim {
    pub namespace: String,
    /// The container (task) id: `-id` (shim v2), else the last part of `-workdir` (shim v1).
    pub id: String,
    /// containerd's socket, as the shim was told it.
    pub address: String,
}

/// Parses `containerd-shim-runc-v2 -namespace moby -id <id> -address <sock>` and the older
/// `containerd-shim -namespace moby -workdir <dir>/moby/<id> -address <sock> …`.
pub fn parse_shim(cmdline: &[String]) -> Option<Shim> {
    let prog = cmdline.first()?.rsplit('/').next()?;
    if !prog.starts_with("containerd-shim") {
        return None;
    }
    let id = match go_flag(cmdline, "id") {
        Some(id) => id.to_string(),
        None => go_flag(cmdline, "workdir")?
            .trim_end_matches('/')
            .rsplit('/')
            .next()?
            .to_string(),
    };
    Some(Shim {
        namespace: go_flag(cmdline, "namespace")
            .unwrap_or("default")
            .to_string(),
        id,
        address: go_flag(cmdline, "address")?.to_string(),
    })
}

/// The containerd a daemon uses: its socket and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerdOf {
    pub address: PathBuf,
    pub namespace: String,
}

/// The daemon's containerd from its command line, else its daemon.json, else the defaults
/// (dockerd starts its own containerd at `<exec-root>/containerd/containerd.sock`).
pub fn containerd_of(
    cmdline: &[String],
    daemon_json: Option<&Value>,
    exec_root: &Path,
) -> ContainerdOf {
    let json = |k: &str| daemon_json.and_then(|j| j.get(k)).and_then(Value::as_str);
    let address = go_flag(cmdline, "containerd")
        .or_else(|| json("containerd"))
        .map(|a| PathBuf::from(a.trim_start_matches("unix://")))
        .unwrap_or_else(|| exec_root.join("containerd").join("containerd.sock"));
    let namespace = go_flag(cmdline, "containerd-namespace")
        .or_else(|| json("containerd-namespace"))
        .unwrap_or("moby")
        .to_string();
    ContainerdOf { address, namespace }
}

/// The same socket path, allowing for symlinks (`/var/run` → `/run`). Touches the filesystem.
fn same_socket(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let canon = |p: &Path| {
        let dir = p.parent().and_then(|d| std::fs::canonicalize(d).ok())?;
        Some(dir.join(p.file_name()?))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

/// The shims of this daemon and those of others, read from the process table.
struct ShimScan {
    ours: Vec<(ProcRow, Shim)>,
    others: usize,
}

async fn scan_shims(ctx: &Ctx<'_>, d: &DaemonProcess, procs: &[ProcRow]) -> Option<ShimScan> {
    let dj = ctx.daemon_json().await;
    let json = dj.value.as_ref().and_then(|v| v.as_ref().ok()).cloned();
    let scope = containerd_of(&d.info.cmdline, json.as_ref(), &d.paths.exec_root);
    let shims: Vec<(ProcRow, Shim)> = procs
        .iter()
        .filter(|p| p.state != 'Z')
        .filter_map(|p| parse_shim(&p.cmdline).map(|s| (p.clone(), s)))
        .collect();
    // Path comparison may stat a hung mount: keep it under the deadline.
    blocking(ctx.timeout(), move || {
        let mut verdict: HashMap<String, bool> = HashMap::new();
        let mut scan = ShimScan {
            ours: Vec::new(),
            others: 0,
        };
        for (p, s) in shims {
            let same = *verdict
                .entry(s.address.clone())
                .or_insert_with(|| same_socket(Path::new(&s.address), &scope.address));
            if same && s.namespace == scope.namespace {
                scan.ours.push((p, s));
            } else {
                scan.others += 1;
            }
        }
        scan
    })
    .await
}

/// Seconds since a process started, from its start time in clock ticks since boot.
fn age_secs(start_ticks: u64) -> Option<u64> {
    let boot = procfs::boot_time_secs().ok()?;
    let tps = procfs::ticks_per_second().max(1);
    Some(now_secs().saturating_sub(boot + start_ticks / tps))
}

/// The process is still there, the same one (pid and start time), and in one of `states`.
fn still(pid: i32, start_ticks: u64, states: &[char]) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.starttime == start_ticks && states.contains(&s.state))
}

/// The located daemon, or the Unknown finding that says why it is not at hand.
pub(super) fn located_daemon(
    located: Result<&Located, crate::facts::Gap>,
) -> Result<&DaemonProcess, Box<Finding>> {
    let f = match located {
        Ok(Located::Found(d)) => return Ok(d),
        Err(crate::facts::Gap::Remote { .. }) => Finding::new(
            Status::Unknown,
            "the daemon is on another host: its processes cannot be seen from here",
        ),
        Ok(Located::NotRunning { .. }) => Finding::new(
            Status::Unknown,
            "the daemon's process was not found on this host: its shims cannot be told from other daemons'",
        ),
        Ok(Located::Remote) | Err(_) => Finding::new(
            Status::Unknown,
            "/proc did not answer within the deadline while looking for the daemon",
        ),
    };
    Err(Box::new(f))
}

/// This daemon's process, the process table, and the shims that belong to this daemon: what
/// both processes checks start from, or the finding that says why they cannot.
async fn daemon_shims<'c>(
    ctx: &'c Ctx<'_>,
) -> Result<(&'c DaemonProcess, &'c [ProcRow], ShimScan), Box<Finding>> {
    let d = located_daemon(ctx.located().await)?;
    let Ok(procs) = ctx.processes().await else {
        return Err(Box::new(Finding::new(
            Status::Unknown,
            "/proc did not answer within the deadline",
        )));
    };
    let Some(scan) = scan_shims(ctx, d, procs).await else {
        return Err(Box::new(Finding::new(
            Status::Unknown,
            "comparing the shims' containerd addresses did not finish within the deadline",
        )));
    };
    Ok((d, procs, scan))
}

/// `processes.orphan-shims`: shims of this daemon whose container Docker does not know.
pub async fn orphan_shims(ctx: &Ctx<'_>) -> Finding {
    let containers = match ctx.answered_containers().await {
        Ok(c) => c,
        Err(f) => return f,
    };
    let (d, procs, scan) = match daemon_shims(ctx).await {
        Ok(x) => x,
        Err(f) => return *f,
    };
    let known: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    let candidates: Vec<(ProcRow, Shim)> = scan
        .ours
        .iter()
        .filter(|(_, s)| !known.contains(s.id.as_str()))
        .cloned()
        .collect();
    // The process table may predate the container list: a shim that exited in between (its
    // container just removed) is not an orphan. Keep only those still alive now.
    let orphans = blocking(ctx.timeout(), move || {
        candidates
            .into_iter()
            .filter(|(p, _)| still(p.pid, p.start_ticks, &['R', 'S', 'D', 'T', 't']))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let children = |pid: i32| -> Vec<Value> {
        procs
            .iter()
            .filter(|c| c.ppid == pid)
            .map(|c| json!({ "pid": c.pid, "comm": c.comm, "state": c.state.to_string() }))
            .collect()
    };
    let listed: Vec<Value> = orphans
        .iter()
        .take(CAP)
        .map(|(p, s)| {
            json!({
                "pid": p.pid,
                "id": s.id,
                "namespace": s.namespace,
                "address": s.address,
                "age_secs": age_secs(p.start_ticks),
                "children": children(p.pid),
            })
        })
        .collect();
    let evidence = json!({
        "shims": scan.ours.len(),
        "other_daemons_shims": scan.others,
        "orphans": listed,
        "orphan_count": orphans.len(),
        "daemon_pid": d.info.pid,
    });
    if orphans.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "{} shim{} of this daemon, each for a container Docker knows",
                scan.ours.len(),
                if scan.ours.len() == 1 { "" } else { "s" }
            ),
        )
        .evidence(evidence);
    }
    let first = &orphans[0];
    let n = orphans.len();
    let address = first.1.address.clone();
    let namespace = first.1.namespace.clone();
    Finding::new(
        Status::Warning,
        format!(
            "{n} containerd shim{} of this daemon run{} for container{} Docker does not know (e.g. pid {}, id {}, up {})",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            if n == 1 { "" } else { "s" },
            first.0.pid,
            short(&first.1.id),
            age_secs(first.0.start_ticks).map_or_else(|| "?".into(), human_age),
        ),
    )
    .remedy(format!(
        "Running shims are not safe to kill blindly (containerd#768): first check what containerd still runs (`ctr -a {address} -n {namespace} tasks ls`) and that nothing needs the processes under the shim; then `dockhand reap --shims` removes shims unknown to Docker and containerd (by hand: `ctr -a {address} -n {namespace} tasks kill -s KILL {id}`, then `kill {pid}` if the shim stays).",
        id = first.1.id,
        pid = first.0.pid,
    ))
    .evidence(evidence)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Whether `pid` is `root` or one of its descendants, by walking up the parent chain.
fn descends_from(pid: i32, roots: &HashSet<i32>, parent: &HashMap<i32, i32>) -> Option<i32> {
    let mut cur = pid;
    // A chain longer than this is a loop in a torn snapshot, not a real tree.
    for _ in 0..64 {
        if roots.contains(&cur) {
            return Some(cur);
        }
        match parent.get(&cur) {
            Some(&p) if p > 0 && p != cur => cur = p,
            _ => return None,
        }
    }
    None
}

/// `processes.zombies`: zombies whose parent is a process of this daemon — dockerd, its
/// containerd and docker-proxy children, its shims and the containers' processes under them.
pub async fn zombies(ctx: &Ctx<'_>) -> Finding {
    let id = "processes.zombies";
    let critical_count = ctx.th(id, "critical_count");
    let (d, procs, scan) = match daemon_shims(ctx).await {
        Ok(x) => x,
        Err(f) => return *f,
    };
    let parent: HashMap<i32, i32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
    let by_pid: HashMap<i32, &ProcRow> = procs.iter().map(|p| (p.pid, p)).collect();
    let shim_of: HashMap<i32, &str> = scan
        .ours
        .iter()
        .map(|(p, s)| (p.pid, s.id.as_str()))
        .collect();
    let mut roots: HashSet<i32> = shim_of.keys().copied().collect();
    roots.insert(d.info.pid);
    let candidates: Vec<(ProcRow, i32)> = procs
        .iter()
        .filter(|p| p.state == 'Z')
        .filter_map(|z| descends_from(z.ppid, &roots, &parent).map(|root| (z.clone(), root)))
        .collect();
    // A zombie seen once may be reaped the next moment; only one still there a moment later
    // (same pid, same start time) is left unreaped. The pause happens only when one is seen.
    let zombies = if candidates.is_empty() {
        candidates
    } else {
        blocking(ctx.timeout(), move || {
            std::thread::sleep(Duration::from_millis(200));
            candidates
                .into_iter()
                .filter(|(z, _)| still(z.pid, z.start_ticks, &['Z']))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default()
    };
    let names: HashMap<&str, &str> = ctx
        .containers()
        .await
        .map(|cs| cs.iter().map(|c| (c.id.as_str(), c.name())).collect())
        .unwrap_or_default();
    // Grouped by parent: the parent is what must reap them.
    let mut groups: BTreeMap<i32, (Vec<&ProcRow>, i32)> = BTreeMap::new();
    for (z, root) in &zombies {
        groups
            .entry(z.ppid)
            .or_insert_with(|| (Vec::new(), *root))
            .0
            .push(z);
    }
    let mut parents = Vec::new();
    let mut restart: Vec<String> = Vec::new();
    for (ppid, (zs, root)) in &groups {
        let p = by_pid.get(ppid);
        let container = shim_of.get(root).copied();
        let name = container.and_then(|c| names.get(c).copied());
        if let Some(c) = container {
            let who = name.map_or_else(|| short(c).to_string(), str::to_string);
            if !restart.contains(&who) {
                restart.push(who);
            }
        }
        parents.push(json!({
            "pid": ppid,
            "comm": p.map(|p| p.comm.clone()),
            "state": p.map(|p| p.state.to_string()),
            "container": container,
            "container_name": name,
            "zombie_count": zs.len(),
            "zombies": zs.iter().take(CAP).map(|z| json!({
                "pid": z.pid,
                "comm": z.comm,
                "started_secs_ago": age_secs(z.start_ticks),
            })).collect::<Vec<_>>(),
        }));
    }
    let n = zombies.len();
    let evidence = json!({
        "zombie_count": n,
        "parents": parents.into_iter().take(CAP).collect::<Vec<_>>(),
        "daemon_pid": d.info.pid,
        "shims": scan.ours.len(),
        "thresholds": { "critical_count": critical_count },
    });
    if n == 0 {
        return Finding::new(Status::Ok, "no zombies under this daemon's processes")
            .evidence(evidence);
    }
    let status = if n as f64 >= critical_count {
        Status::Critical
    } else {
        Status::Warning
    };
    let Some((&ppid, (first, root))) = groups.iter().next() else {
        return Finding::new(Status::Ok, "no zombies under this daemon's processes")
            .evidence(evidence);
    };
    let pcomm = by_pid.get(&ppid).map_or("?", |p| p.comm.as_str());
    let within = match shim_of.get(root) {
        Some(c) => format!(
            " in container {}",
            names.get(c).copied().unwrap_or_else(|| short(c))
        ),
        None => String::new(),
    };
    let mut remedy =
        String::from("Only the parent can reap its zombies (they hold a pid each, no memory). ");
    if !restart.is_empty() {
        remedy.push_str(&format!(
            "Restart the container{} to clear them (`docker restart {}`), and run {} with `--init` (or an init as pid 1) so orphans are reaped. ",
            if restart.len() == 1 { "" } else { "s" },
            restart.join(" "),
            if restart.len() == 1 { "it" } else { "them" },
        ));
    }
    let daemon_side = groups.values().any(|(_, root)| *root == d.info.pid);
    if daemon_side {
        remedy.push_str("Zombies of dockerd or its containerd clear when the daemon restarts (`dockhand recover` restarts it, live-restore aware). ");
    }
    remedy.push_str("`dockhand reap` names parents that died without reaping.");
    Finding::new(
        status,
        format!(
            "{n} zombie{} under this daemon's processes; {} of them children of {pcomm} (pid {ppid}){within}, which does not reap them",
            if n == 1 { "" } else { "s" },
            first.len(),
        ),
    )
    .remedy(remedy)
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn shim_command_lines() {
        type Want<'a> = Option<(&'a str, &'a str, &'a str)>;
        let cases: &[(&str, Want)] = &[
            (
                "/usr/bin/containerd-shim-runc-v2 -namespace moby -id abc123 -address /run/docker/containerd/containerd.sock",
                Some(("moby", "abc123", "/run/docker/containerd/containerd.sock")),
            ),
            (
                "containerd-shim -namespace moby -workdir /var/lib/containerd/io.containerd.runtime.v1.linux/moby/def456 -address /run/containerd/containerd.sock -containerd-binary /usr/bin/containerd -runtime-root /var/run/docker/runtime-runc",
                Some(("moby", "def456", "/run/containerd/containerd.sock")),
            ),
            (
                "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id x -address /run/containerd/containerd.sock",
                Some(("k8s.io", "x", "/run/containerd/containerd.sock")),
            ),
            ("/usr/bin/containerd --config x", None),
            ("containerd-shim-runc-v2 -namespace moby -address /a", None),
            ("sleep 300", None),
        ];
        for (line, want) in cases {
            let got = parse_shim(&args(line));
            let got = got
                .as_ref()
                .map(|s| (s.namespace.as_str(), s.id.as_str(), s.address.as_str()));
            assert_eq!(got, *want, "{line}");
        }
    }

    #[test]
    fn containerd_of_a_daemon() {
        let exec = Path::new("/run/docker");
        let c = containerd_of(&args("dockerd"), None, exec);
        assert_eq!(
            c.address,
            PathBuf::from("/run/docker/containerd/containerd.sock")
        );
        assert_eq!(c.namespace, "moby");
        let c = containerd_of(
            &args("/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"),
            None,
            exec,
        );
        assert_eq!(c.address, PathBuf::from("/run/containerd/containerd.sock"));
        let j = json!({ "containerd": "unix:///srv/c.sock", "containerd-namespace": "ci" });
        let c = containerd_of(&args("dockerd"), Some(&j), exec);
        assert_eq!(
            c,
            ContainerdOf {
                address: "/srv/c.sock".into(),
                namespace: "ci".into()
            }
        );
        // The flag wins over daemon.json; --containerd-namespace is not --containerd.
        let c = containerd_of(
            &args("dockerd --containerd-namespace x --containerd /a.sock"),
            Some(&j),
            exec,
        );
        assert_eq!(
            c,
            ContainerdOf {
                address: "/a.sock".into(),
                namespace: "x".into()
            }
        );
    }

    #[test]
    fn ancestry() {
        // 1 ← 10 (shim) ← 11 (container pid 1) ← 12 (zombie); 20 unrelated.
        let parent: HashMap<i32, i32> = [(10, 1), (11, 10), (12, 11), (20, 1)].into();
        let roots: HashSet<i32> = [10].into();
        assert_eq!(descends_from(11, &roots, &parent), Some(10));
        assert_eq!(descends_from(10, &roots, &parent), Some(10));
        assert_eq!(descends_from(20, &roots, &parent), None);
        let looped: HashMap<i32, i32> = [(5, 6), (6, 5)].into();
        assert_eq!(descends_from(5, &roots, &looped), None);
    }

    #[test]
    fn same_socket_by_path() {
        assert!(same_socket(Path::new("/a/b.sock"), Path::new("/a/b.sock")));
        assert!(!same_socket(
            Path::new("/nonexistent/a.sock"),
            Path::new("/nonexistent/b.sock")
        ));
        let tmp = std::env::temp_dir();
        assert!(same_socket(
            &tmp.join("x.sock"),
            &tmp.join(".").join("x.sock")
        ));
    }
}
