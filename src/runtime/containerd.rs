//! What containerd runs: the task ids of one namespace, for deciding whether a shim Docker does
//! not know is also unknown to containerd (only then may `dockhand reap --shims` end it:
//! containerd#768).
//!
//! Asked two ways, under one deadline: containerd itself (`ctr --address SOCK -n NS tasks ls
//! -q`), else — when containerd does not answer or `ctr` is missing — its state directory, where
//! the v2 runtime keeps one bundle directory per task (`<state>/io.containerd.runtime.v2.task/
//! <ns>/<id>`) and from which a restarted containerd re-adopts its shims. When neither can be
//! read the answer is an error that says why, and no shim is called unknown to containerd.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::host::ProcRow;
use super::net::go_flag;

/// containerd's tasks in one namespace, and where the list came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskList {
    pub ids: HashSet<String>,
    /// `ctr` (containerd answered) or `state-dir` (its bundle directories, at `path`).
    pub source: &'static str,
    /// The state directory read, for `state-dir`.
    pub path: Option<PathBuf>,
}

/// The v2 runtime's bundle directory of `namespace` for the containerd listening at `address`:
/// a containerd started by dockerd keeps its socket at `<exec-root>/containerd/containerd.sock`
/// and its state in `<exec-root>/containerd/daemon`; a system containerd keeps both in
/// `/run/containerd`. The first that exists.
pub fn bundle_dirs(address: &Path, namespace: &str) -> Vec<PathBuf> {
    let Some(dir) = address.parent() else {
        return Vec::new();
    };
    [dir.join("daemon"), dir.to_path_buf()]
        .into_iter()
        .map(|state| state.join("io.containerd.runtime.v2.task").join(namespace))
        .collect()
}

/// Parses `ctr tasks ls -q`: one task id per line.
pub fn parse_task_ids(out: &str) -> HashSet<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Asks containerd for its tasks in `namespace`, within `deadline` in all.
pub async fn tasks(
    address: &Path,
    namespace: &str,
    deadline: Duration,
) -> Result<TaskList, String> {
    let started = std::time::Instant::now();
    let ctr_err = match ask_ctr(address, namespace, deadline).await {
        Ok(ids) => {
            return Ok(TaskList {
                ids,
                source: "ctr",
                path: None,
            });
        }
        Err(e) => e,
    };
    let left = deadline
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(200));
    let dirs = bundle_dirs(address, namespace);
    let read = super::blocking(left, move || {
        for d in dirs {
            match std::fs::read_dir(&d) {
                Ok(rd) => {
                    let ids = rd
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    return Ok((ids, d));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", d.display())),
            }
        }
        Err("no state directory of the v2 runtime next to its socket".to_string())
    })
    .await;
    match read {
        Some(Ok((ids, path))) => Ok(TaskList {
            ids,
            source: "state-dir",
            path: Some(path),
        }),
        Some(Err(e)) => Err(format!("{ctr_err}; and its state directory: {e}")),
        None => Err(format!(
            "{ctr_err}; and reading its state directory took longer than {}",
            crate::util::human_duration(left)
        )),
    }
}

async fn ask_ctr(
    address: &Path,
    namespace: &str,
    deadline: Duration,
) -> Result<HashSet<String>, String> {
    let argv: Vec<String> = vec![
        "ctr".into(),
        "--address".into(),
        address.display().to_string(),
        "--namespace".into(),
        namespace.into(),
        // ctr's own bound on dialling: a socket nobody listens on must not eat the deadline.
        "--connect-timeout".into(),
        format!("{}ms", (deadline.as_millis() / 2).max(100)),
        "tasks".into(),
        "ls".into(),
        "-q".into(),
    ];
    let shown = format!(
        "ctr --address {} -n {namespace} tasks ls",
        address.display()
    );
    let ran = super::blocking(deadline + Duration::from_secs(1), move || {
        run_capture(&argv, deadline)
    })
    .await;
    match ran {
        None
        | Some(Ok(Captured {
            timed_out: true, ..
        })) => Err(format!(
            "containerd did not answer `{shown}` within {}",
            crate::util::human_duration(deadline)
        )),
        Some(Err(e)) => Err(format!("cannot run `{shown}`: {e}")),
        Some(Ok(c)) if c.status == Some(0) => Ok(parse_task_ids(&c.stdout)),
        Some(Ok(c)) => {
            let line = c.stderr.lines().last().unwrap_or("").trim().to_string();
            Err(format!(
                "containerd did not list its tasks (`{shown}`: {})",
                if line.is_empty() {
                    "no output".to_string()
                } else {
                    crate::util::sanitize(&line)
                }
            ))
        }
    }
}

/// What a bounded command printed.
struct Captured {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// Runs `argv` with stdin closed, capturing its output, killing it when it overruns
/// `deadline`. Synchronous: call it through [`super::blocking`].
fn run_capture(argv: &[String], deadline: Duration) -> std::io::Result<Captured> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, as every child (see runtime::command): Ctrl-C reaches dockhand only.
        .process_group(0)
        .spawn()?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let end = std::time::Instant::now() + deadline;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if std::time::Instant::now() >= end {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Captured {
        status: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    })
}

// ---------------------------------------------------------------------------------------------
// Shims: which of the host's containerd shims are this daemon's
// ---------------------------------------------------------------------------------------------

/// What a containerd shim's command line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Whether a shim is this daemon's: its namespace is the daemon's containerd namespace and its
/// `-address` the daemon's containerd socket. `same_socket` compares two socket paths (the
/// caller's I/O: resolving `/var/run` → `/run` touches the filesystem).
pub fn shim_of_daemon(
    shim: &Shim,
    containerd: &ContainerdOf,
    same_socket: impl FnOnce(&Path, &Path) -> bool,
) -> bool {
    shim.namespace == containerd.namespace
        && same_socket(Path::new(&shim.address), &containerd.address)
}

/// This daemon's shims, and how many shims of other daemons (another dockerd, a system
/// containerd's Kubernetes namespace) were seen.
#[derive(Debug, Clone, Default)]
pub struct DaemonShims {
    /// Each shim of this daemon: its row of the process table and what its command line says.
    pub ours: Vec<(ProcRow, Shim)>,
    pub others: usize,
}

/// THE answer to "which processes are this daemon's shims", for doctor, `reap` and `ports`
/// alike: a shim by what it runs (Docker's shim executable, judged by
/// [`ProcRow::program`] for a daemon running as `daemon_uid`; a stranger's command line naming a
/// container is not one), alive, whose command line names the daemon's containerd namespace and
/// socket. Comparing socket paths may stat a hung mount: call it under a deadline
/// ([`super::blocking`]); each address is resolved once.
pub fn daemon_shims(procs: &[ProcRow], daemon_uid: u32, containerd: &ContainerdOf) -> DaemonShims {
    let mut same: HashMap<String, bool> = HashMap::new();
    let mut out = DaemonShims::default();
    for p in procs {
        if p.state == 'Z'
            || p.program(Some(daemon_uid)) != Some(crate::runtime::identity::DockerProgram::Shim)
        {
            continue;
        }
        let Some(shim) = parse_shim(&p.cmdline) else {
            continue;
        };
        let ours = shim_of_daemon(&shim, containerd, |a, b| {
            *same
                .entry(shim.address.clone())
                .or_insert_with(|| super::host::same_socket(a, b))
        });
        if ours {
            out.ours.push((p.clone(), shim));
        } else {
            out.others += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process-table row: `exe` owned by `uid` (root-owned directory), running as `uid`.
    fn row(pid: i32, state: char, exe: &str, uid: u32, cmd: &str) -> ProcRow {
        use crate::runtime::identity::{ExeFacts, Identity};
        ProcRow {
            pid,
            ppid: 1,
            comm: "containerd-shim".into(),
            state,
            cmdline: cmd.split_whitespace().map(str::to_string).collect(),
            start_ticks: 100,
            uid: Some(uid),
            identity: Some(Identity {
                uids: vec![uid; 4],
                exe: Some(ExeFacts {
                    path: exe.into(),
                    uid,
                    mode: 0o100755,
                    dir: Some((uid, 0o40755)),
                }),
            }),
        }
    }

    #[test]
    fn this_daemons_shims_among_the_process_table() {
        let shim = "/usr/bin/containerd-shim-runc-v2";
        let ours = "-namespace moby -address /nonexistent/docker/containerd/containerd.sock";
        let procs = [
            row(10, 'S', shim, 0, &format!("{shim} {ours} -id a")),
            // Another daemon's: another containerd socket, or another namespace.
            row(
                11,
                'S',
                shim,
                0,
                &format!("{shim} -namespace moby -address /nonexistent/other.sock -id b"),
            ),
            row(
                12,
                'S',
                shim,
                0,
                &format!(
                    "{shim} -namespace k8s.io -address /nonexistent/docker/containerd/containerd.sock -id c"
                ),
            ),
            // A stranger's copy with our very command line, and a zombie shim: neither counts.
            row(
                13,
                'S',
                "/tmp/containerd-shim-runc-v2",
                1000,
                &format!("{shim} {ours} -id d"),
            ),
            row(14, 'Z', shim, 0, &format!("{shim} {ours} -id e")),
            // Not a shim at all, and a shim whose command line says nothing usable.
            row(15, 'S', "/usr/bin/dockerd", 0, "dockerd"),
            row(16, 'S', shim, 0, &format!("{shim} -namespace moby")),
        ];
        let scope = ContainerdOf {
            address: "/nonexistent/docker/containerd/containerd.sock".into(),
            namespace: "moby".into(),
        };
        let got = daemon_shims(&procs, 0, &scope);
        let ids: Vec<(i32, &str)> = got
            .ours
            .iter()
            .map(|(r, s)| (r.pid, s.id.as_str()))
            .collect();
        assert_eq!(ids, vec![(10, "a")]);
        assert_eq!(got.others, 2);
        // A rootless daemon's own user may own its shims.
        let rootless = [row(20, 'S', shim, 1000, &format!("{shim} {ours} -id r"))];
        assert_eq!(daemon_shims(&rootless, 1000, &scope).ours.len(), 1);
        assert!(daemon_shims(&rootless, 0, &scope).ours.is_empty());
    }

    #[test]
    fn task_ids_from_ctr() {
        let got = parse_task_ids("abc\n\n  def  \n");
        assert_eq!(got, ["abc", "def"].iter().map(|s| s.to_string()).collect());
        assert!(parse_task_ids("").is_empty());
    }

    #[test]
    fn bundle_dirs_for_docker_and_system_containerd() {
        let got = bundle_dirs(
            Path::new("/var/run/docker/containerd/containerd.sock"),
            "moby",
        );
        assert_eq!(
            got,
            [
                "/var/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby",
                "/var/run/docker/containerd/io.containerd.runtime.v2.task/moby"
            ]
            .map(PathBuf::from)
        );
    }

    #[tokio::test]
    async fn a_dead_socket_falls_back_to_the_state_dir_or_says_why() {
        let dir = std::env::temp_dir().join(format!("dockhand-ctrd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sock = dir.join("containerd.sock");
        let err = tasks(&sock, "moby", Duration::from_secs(2))
            .await
            .expect_err("nothing to read");
        assert!(err.contains("state directory"), "{err}");
        let bundles = dir.join("daemon/io.containerd.runtime.v2.task/moby");
        std::fs::create_dir_all(bundles.join("c1")).expect("mkdir");
        let got = tasks(&sock, "moby", Duration::from_secs(2))
            .await
            .expect("state dir");
        assert_eq!(got.source, "state-dir");
        assert!(got.ids.contains("c1"), "{got:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
