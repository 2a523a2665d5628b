//! Verdicts of the processes area (see [`crate::policy`]): which containerd shims are this
//! daemon's, which of them are orphans, which zombies hang under this daemon's processes and
//! what to do about each zombie's parent.
//!
//! Inputs are plain data — rows of the process table ([`crate::runtime::host::ProcRow`]), parsed
//! command lines, container ids and states — so `doctor` (which reports) and `dockhand reap`
//! (which ends orphan shims with `--shims`, and the dead-container parents of zombies) agree.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

pub use crate::runtime::containerd::{
    ContainerdOf, DaemonShims, Shim, containerd_of, parse_shim, shim_of_daemon,
};
use crate::runtime::host::ProcRow;

// ---------------------------------------------------------------------------------------------
// Shims
// ---------------------------------------------------------------------------------------------

/// The verdict on one shim of this daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ShimVerdict {
    /// Runs a container Docker lists.
    Known,
    /// Docker does not list its container: an orphan. `containerd_knows` is whether containerd
    /// still has the task (`None`: containerd was not asked — doctor does not ask it).
    Orphan { containerd_knows: Option<bool> },
}

impl ShimVerdict {
    /// Whether `dockhand reap --shims` may end it: unknown to Docker *and* to containerd
    /// (containerd#768: a shim containerd still manages is not safe to kill blindly).
    pub fn reapable(self) -> bool {
        matches!(
            self,
            ShimVerdict::Orphan {
                containerd_knows: Some(false)
            }
        )
    }
}

/// Judges one shim of this daemon against the ids of every container Docker lists (any state)
/// and, when asked, the task ids containerd has in the daemon's namespace.
pub fn judge_shim(
    shim: &Shim,
    docker_ids: &HashSet<&str>,
    containerd_tasks: Option<&HashSet<&str>>,
) -> ShimVerdict {
    if docker_ids.contains(shim.id.as_str()) {
        return ShimVerdict::Known;
    }
    ShimVerdict::Orphan {
        containerd_knows: containerd_tasks.map(|t| t.contains(shim.id.as_str())),
    }
}

// ---------------------------------------------------------------------------------------------
// Podman's conmon
// ---------------------------------------------------------------------------------------------

/// What a conmon's command line says: Podman starts one per container, as its parent and
/// subreaper (the part a containerd shim plays for Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conmon {
    /// The container id (`-c`).
    pub id: String,
    /// The container's bundle dir (`-b`): `<graph root>/<driver>-containers/<id>/userdata`.
    pub bundle: String,
}

/// Parses `/usr/bin/conmon --api-version 1 -c <id> -u <id> -r /usr/bin/runc -b <bundle> …`.
pub fn parse_conmon(cmdline: &[String]) -> Option<Conmon> {
    let prog = cmdline.first()?.rsplit('/').next()?;
    if prog != "conmon" {
        return None;
    }
    let value = |short: &str, long: &str| {
        cmdline
            .windows(2)
            .find_map(|w| (w[0] == short || w[0] == long).then(|| w[1].clone()))
    };
    Some(Conmon {
        id: value("-c", "--cid").filter(|v| !v.is_empty())?,
        bundle: value("-b", "--bundle")?,
    })
}

/// Whether a conmon serves a container of the engine whose graph root is `graph_root`: its
/// bundle lies under it (another Podman on the host, with another root, has its own).
pub fn conmon_of_engine(c: &Conmon, graph_root: &Path) -> bool {
    Path::new(&c.bundle).starts_with(graph_root)
}

// ---------------------------------------------------------------------------------------------
// Zombies
// ---------------------------------------------------------------------------------------------

/// The root among `roots` that `pid` is or descends from, by walking up the parent chain.
pub fn descends_from(pid: i32, roots: &HashSet<i32>, parent: &HashMap<i32, i32>) -> Option<i32> {
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

/// The zombies (state Z) whose parent is one of `roots` (dockerd, this daemon's shims) or under
/// one, each with the root it hangs under, in the table's order.
pub fn zombies_under<'p>(procs: &'p [ProcRow], roots: &HashSet<i32>) -> Vec<(&'p ProcRow, i32)> {
    let parent: HashMap<i32, i32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
    procs
        .iter()
        .filter(|p| p.state == 'Z')
        .filter_map(|z| descends_from(z.ppid, roots, &parent).map(|root| (z, root)))
        .collect()
}

/// Whether this many zombies is critical (pid exhaustion near) rather than a warning.
pub fn zombies_critical(count: usize, critical_count: f64) -> bool {
    count as f64 >= critical_count
}

/// What Docker's container list says of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listed {
    /// Running, or in any state where its processes are still its own (paused, restarting,
    /// created, removing, a word this version does not know).
    Running,
    /// Listed as ended: exited or dead.
    NotRunning,
    /// Not listed at all (an orphan shim's container).
    Absent,
}

impl Listed {
    /// The list's state word as evidence. Only "exited" and "dead" say the container's
    /// processes are left behind: a paused container's are frozen, not abandoned, and a created
    /// one's may be starting this instant; a word not known here is never taken as "ended".
    pub fn of_state(state: &str) -> Listed {
        match state {
            "exited" | "dead" => Listed::NotRunning,
            _ => Listed::Running,
        }
    }
}

/// What Docker's list says of container `id`: `None` when there is no list (the engine did not
/// answer) — a gap, never read as [`Listed::Absent`].
pub fn listed_in<K>(list: Option<&HashMap<K, Listed>>, id: &str) -> Option<Listed>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    list.map(|l| l.get(id).copied().unwrap_or(Listed::Absent))
}

/// Whether a process under a container's shim still belongs to a live container: the one
/// judgment behind ending such a process, shared by `reap` (zombie parents) and `ports free`
/// (a host-network container's listener) so the two cannot drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerLife {
    /// Listed in a state where its processes are its own: never ended as a leftover.
    Alive,
    /// Listed as exited or dead (`listed`), or not listed by an engine that answered: what is
    /// left under its shim belongs to no one.
    Ended { listed: bool },
    /// No list (the engine was silent, timed out, stopped): not known, so left alone.
    Unknown,
}

/// [`ContainerLife`] from what Docker's list says (`None`: the engine did not list). Only
/// positive evidence ends a container's life: a gap is [`ContainerLife::Unknown`].
pub fn container_life(listed: Option<Listed>) -> ContainerLife {
    match listed {
        Some(Listed::Running) => ContainerLife::Alive,
        Some(Listed::NotRunning) => ContainerLife::Ended { listed: true },
        Some(Listed::Absent) => ContainerLife::Ended { listed: false },
        None => ContainerLife::Unknown,
    }
}

/// Where a zombie's parent sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZombieRoot {
    /// Under dockerd: dockerd itself, its containerd, its docker-proxy children.
    Daemon,
    /// Under a shim of this daemon. `listed`: what Docker says of the shim's container; `None`
    /// when the engine did not list its containers.
    Container { listed: Option<Listed> },
}

/// What to do about the parent of zombies: only a parent can reap its children, and ending it
/// hands them to the nearest subreaper (the shim, or init), which does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ParentVerdict {
    /// Stopped (T, t): it reaps once resumed (`kill -CONT`).
    Stopped,
    /// dockerd or one of its own processes (containerd, docker-proxy): cleared when the daemon
    /// restarts.
    Daemon,
    /// The parent is the container's shim itself, which reaps its children as a subreaper:
    /// one that does not is stuck. Never ended by the zombie rule (`reap --shims` is the way for
    /// an orphan shim).
    Shim,
    /// A process of a running container (typically its pid 1, not written to reap): restart the
    /// container, and run it with an init.
    RunningContainer,
    /// A process of a container that is not running, or that Docker does not list: nothing will
    /// restart it. `dockhand reap` ends this parent so its zombies are reaped.
    DeadContainer { listed: bool },
    /// A process of a container whose state is not known (the engine did not list).
    Container,
}

impl ParentVerdict {
    /// Whether `dockhand reap` ends this parent.
    pub fn reap_ends_parent(self) -> bool {
        matches!(self, ParentVerdict::DeadContainer { .. })
    }
}

/// Judges the parent of zombies: its state letter (`None`: gone), whether it is the root itself
/// (dockerd, or the shim), and where it sits.
pub fn zombie_parent(
    parent_state: Option<char>,
    parent_is_root: bool,
    root: ZombieRoot,
) -> ParentVerdict {
    if matches!(parent_state, Some('T' | 't')) {
        return ParentVerdict::Stopped;
    }
    match root {
        ZombieRoot::Daemon => ParentVerdict::Daemon,
        ZombieRoot::Container { .. } if parent_is_root => ParentVerdict::Shim,
        ZombieRoot::Container { listed } => match container_life(listed) {
            ContainerLife::Alive => ParentVerdict::RunningContainer,
            ContainerLife::Ended { listed } => ParentVerdict::DeadContainer { listed },
            ContainerLife::Unknown => ParentVerdict::Container,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn conmon_command_lines() {
        let root = Path::new("/var/lib/containers/storage");
        // (command line, id, of the engine at `root`)
        let cases: &[(&str, Option<(&str, bool)>)] = &[
            (
                "/usr/bin/conmon --api-version 1 -c abc -u abc -r /usr/bin/runc -b /var/lib/containers/storage/overlay-containers/abc/userdata -p /run/containers/storage/overlay-containers/abc/userdata/pidfile -n web",
                Some(("abc", true)),
            ),
            (
                "/usr/bin/conmon --api-version 1 --cid def --bundle /srv/other/overlay-containers/def/userdata",
                Some(("def", false)),
            ),
            // A prefix that is not a path component is another root.
            (
                "conmon -c x -b /var/lib/containers/storage2/overlay-containers/x/userdata",
                Some(("x", false)),
            ),
            ("/usr/bin/conmon --version", None),
            ("conmon -b /a", None),
            (
                "/usr/bin/containerd-shim-runc-v2 -namespace moby -id a -address /b",
                None,
            ),
        ];
        for (line, want) in cases {
            let got = parse_conmon(&args(line)).map(|c| (c.id.clone(), conmon_of_engine(&c, root)));
            assert_eq!(
                got.as_ref().map(|(id, ours)| (id.as_str(), *ours)),
                *want,
                "{line}"
            );
        }
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
        let j = json!({ "containerd": "unix:///srv/c.sock", "containerd-namespace": "ci" });
        // (what, cmdline, daemon.json, address, namespace)
        let cases = [
            (
                "defaults",
                "dockerd",
                None,
                "/run/docker/containerd/containerd.sock",
                "moby",
            ),
            (
                "flag",
                "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
                None,
                "/run/containerd/containerd.sock",
                "moby",
            ),
            ("daemon.json", "dockerd", Some(&j), "/srv/c.sock", "ci"),
            (
                "the flag wins; --containerd-namespace is not --containerd",
                "dockerd --containerd-namespace x --containerd /a.sock",
                Some(&j),
                "/a.sock",
                "x",
            ),
        ];
        for (what, cmd, dj, address, namespace) in cases {
            assert_eq!(
                containerd_of(&args(cmd), dj, exec),
                ContainerdOf {
                    address: address.into(),
                    namespace: namespace.into()
                },
                "{what}"
            );
        }
    }

    #[test]
    fn shims_of_this_daemon() {
        let ours = ContainerdOf {
            address: "/run/docker/containerd/containerd.sock".into(),
            namespace: "moby".into(),
        };
        let shim = |ns: &str, addr: &str| Shim {
            namespace: ns.into(),
            id: "x".into(),
            address: addr.into(),
        };
        let by_path = |a: &Path, b: &Path| a == b;
        let cases = [
            (shim("moby", "/run/docker/containerd/containerd.sock"), true),
            (
                shim("k8s.io", "/run/docker/containerd/containerd.sock"),
                false,
            ),
            (shim("moby", "/run/containerd/containerd.sock"), false),
        ];
        for (s, want) in cases {
            assert_eq!(shim_of_daemon(&s, &ours, by_path), want, "{s:?}");
        }
        // The comparison is the caller's: a symlinked /var/run is the same socket.
        let s = shim("moby", "/var/run/docker/containerd/containerd.sock");
        assert!(shim_of_daemon(&s, &ours, |_, _| true));
    }

    #[test]
    fn shim_verdicts() {
        let shim = |id: &str| Shim {
            namespace: "moby".into(),
            id: id.into(),
            address: "/a".into(),
        };
        let docker: HashSet<&str> = ["known"].into();
        let tasks: HashSet<&str> = ["known", "lost-by-docker"].into();
        // (id, containerd asked, verdict, reapable)
        let cases = [
            ("known", false, ShimVerdict::Known, false),
            ("known", true, ShimVerdict::Known, false),
            (
                "lost-by-docker",
                false,
                ShimVerdict::Orphan {
                    containerd_knows: None,
                },
                false,
            ),
            (
                "lost-by-docker",
                true,
                ShimVerdict::Orphan {
                    containerd_knows: Some(true),
                },
                false,
            ),
            (
                "unknown",
                true,
                ShimVerdict::Orphan {
                    containerd_knows: Some(false),
                },
                true,
            ),
        ];
        for (id, asked, want, reapable) in cases {
            let got = judge_shim(&shim(id), &docker, asked.then_some(&tasks));
            assert_eq!(got, want, "{id} {asked}");
            assert_eq!(got.reapable(), reapable, "{id} {asked}");
        }
    }

    #[test]
    fn ancestry() {
        // 1 ← 10 (shim) ← 11 (container pid 1) ← 12 (zombie); 20 unrelated.
        let parent: HashMap<i32, i32> = [(10, 1), (11, 10), (12, 11), (20, 1)].into();
        let roots: HashSet<i32> = [10].into();
        let cases = [
            (11, Some(10)),
            (10, Some(10)),
            (12, Some(10)),
            (20, None),
            (99, None),
        ];
        for (pid, want) in cases {
            assert_eq!(descends_from(pid, &roots, &parent), want, "{pid}");
        }
        let looped: HashMap<i32, i32> = [(5, 6), (6, 5)].into();
        assert_eq!(descends_from(5, &roots, &looped), None);
    }

    fn row(pid: i32, ppid: i32, state: char) -> ProcRow {
        ProcRow {
            pid,
            ppid,
            comm: format!("p{pid}"),
            state,
            cmdline: Vec::new(),
            start_ticks: 0,
            uid: Some(0),
            identity: None,
        }
    }

    #[test]
    fn zombies_under_the_daemon_and_its_shims() {
        // 100 dockerd; 200 a shim ← 201 pid 1 ← 202 zombie; 100 ← 101 zombie;
        // 300 another shim (not ours) ← 301 zombie; 1 ← 2 zombie (init's business).
        let procs = [
            row(100, 1, 'S'),
            row(101, 100, 'Z'),
            row(200, 1, 'S'),
            row(201, 200, 'S'),
            row(202, 201, 'Z'),
            row(203, 200, 'R'),
            row(300, 1, 'S'),
            row(301, 300, 'Z'),
            row(2, 1, 'Z'),
        ];
        let roots: HashSet<i32> = [100, 200].into();
        let got: Vec<(i32, i32)> = zombies_under(&procs, &roots)
            .into_iter()
            .map(|(z, root)| (z.pid, root))
            .collect();
        assert_eq!(got, vec![(101, 100), (202, 200)]);
        let cases = [
            (0, 1000.0, false),
            (999, 1000.0, false),
            (1000, 1000.0, true),
            (1, 1.0, true),
        ];
        for (n, th, want) in cases {
            assert_eq!(zombies_critical(n, th), want, "{n} {th}");
        }
    }

    #[test]
    fn zombie_parents() {
        use ParentVerdict::*;
        let c = |listed| ZombieRoot::Container { listed };
        // (parent state, parent is the root, root, verdict, reap ends it)
        let cases = [
            (Some('S'), true, ZombieRoot::Daemon, Daemon, false),
            (Some('S'), false, ZombieRoot::Daemon, Daemon, false),
            (Some('T'), false, ZombieRoot::Daemon, Stopped, false),
            (Some('t'), false, c(Some(Listed::Running)), Stopped, false),
            (Some('S'), true, c(Some(Listed::Absent)), Shim, false),
            (
                Some('S'),
                false,
                c(Some(Listed::Running)),
                RunningContainer,
                false,
            ),
            (
                Some('S'),
                false,
                c(Some(Listed::NotRunning)),
                DeadContainer { listed: true },
                true,
            ),
            (
                Some('S'),
                false,
                c(Some(Listed::Absent)),
                DeadContainer { listed: false },
                true,
            ),
            (
                Some('D'),
                false,
                c(Some(Listed::Absent)),
                DeadContainer { listed: false },
                true,
            ),
            (Some('S'), false, c(None), Container, false),
            (
                None,
                false,
                c(Some(Listed::Running)),
                RunningContainer,
                false,
            ),
        ];
        for (state, is_root, root, want, reaps) in cases {
            let got = zombie_parent(state, is_root, root);
            assert_eq!(got, want, "{state:?} {is_root} {root:?}");
            assert_eq!(got.reap_ends_parent(), reaps, "{got:?}");
        }
    }
}
