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

// ---------------------------------------------------------------------------------------------
// Ingests: downloads in progress under the containerd image store
// ---------------------------------------------------------------------------------------------

/// The directory of containerd's content store plugin under its root.
pub const CONTENT_PLUGIN: &str = "io.containerd.content.v1.content";
/// The most of an ingest's `ref` file read: a ref is a namespace, a number and a descriptor
/// name, far shorter.
const MAX_REF: u64 = 4096;

/// Whether a descriptor's target is an ingest's data file: under the containerd image store,
/// containerd writes each blob being downloaded into
/// `<root>/io.containerd.content.v1.content/ingest/<sha256 of the ref, hex>/data` and holds it
/// open until the write is committed or abandoned (a write abandoned stays on disk, closed, so
/// a later pull can resume it).
pub fn is_ingest_data(target: &Path) -> bool {
    fn name(p: Option<&Path>) -> Option<&str> {
        p.and_then(Path::file_name).and_then(|n| n.to_str())
    }
    let dir = target.parent();
    let ingest = dir.and_then(Path::parent);
    let plugin = ingest.and_then(Path::parent);
    name(Some(target)) == Some("data")
        && name(dir).is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        && name(ingest) == Some("ingest")
        && name(plugin) == Some(CONTENT_PLUGIN)
}

/// The containerd namespace an ingest's `ref` names. containerd's metadata store writes refs as
/// `<namespace>/<sequence>/<client's ref>` (`moby/1/layer-sha256:…`), so one content store
/// shared by several namespaces (dockerd's, BuildKit's, Kubernetes' `k8s.io`) keeps them apart.
/// `None` when the text is not of that form.
pub fn ingest_namespace(text: &str) -> Option<&str> {
    let mut parts = text.trim_end_matches('\n').splitn(3, '/');
    let (ns, seq, rest) = (parts.next()?, parts.next()?, parts.next()?);
    (!ns.is_empty()
        && !rest.is_empty()
        && !seq.is_empty()
        && seq.bytes().all(|b| b.is_ascii_digit()))
    .then_some(ns)
}

/// Reads the `ref` file beside an ingest's `data` (`data` as the kernel named the open file),
/// when it can be trusted: the ingest directory opened without following a symlink and owned
/// by `owner` (the containerd process's user) with no write for group or others, the file a
/// regular one opened without following a symlink, at most 4 KiB. `None` otherwise — the
/// download is then not attributed to any namespace. Runs under the caller's deadline.
pub fn read_ingest_ref(data: &Path, owner: u32) -> Option<String> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, SFlag, fstat};
    use std::io::Read;
    let dir = super::files::open_dir_nofollow(data.parent()?).ok()?;
    let st = fstat(&dir).ok()?;
    if st.st_uid != owner || st.st_mode & 0o022 != 0 {
        return None;
    }
    let fd = openat(
        &dir,
        "ref",
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = fstat(&fd).ok()?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return None;
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_REF)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The containerd processes whose ingests may be this daemon's downloads: the containerd dockerd
/// started itself (its child, when the daemon's containerd is the managed one at
/// `<exec-root>/containerd/containerd.sock`), else every standalone containerd (one no dockerd
/// started) — a system containerd named by `--containerd`, whose namespaces tell its clients
/// apart. Judged by what each process is ([`ProcRow::program`]), never by its name.
pub fn daemon_containerds(
    procs: &[ProcRow],
    daemon_pid: i32,
    daemon_uid: u32,
    containerd: &ContainerdOf,
    exec_root: &Path,
) -> Vec<i32> {
    use crate::runtime::identity::DockerProgram;
    let managed = containerd.address == exec_root.join("containerd").join("containerd.sock");
    let is = |p: &ProcRow, what: DockerProgram| {
        p.state != 'Z' && p.program(Some(daemon_uid)) == Some(what)
    };
    let dockerds: HashSet<i32> = procs
        .iter()
        .filter(|p| is(p, DockerProgram::Dockerd))
        .map(|p| p.pid)
        .collect();
    procs
        .iter()
        .filter(|p| is(p, DockerProgram::Containerd))
        .filter(|p| {
            if managed {
                p.ppid == daemon_pid
            } else {
                !dockerds.contains(&p.ppid)
            }
        })
        .map(|p| p.pid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_data_files_are_told_by_their_place_in_the_content_store() {
        let h = "ff7bee80d48ad17eaaae9309512b1544e5ab99fe4b0c17661a30070c718767e0";
        let root = "/var/lib/docker/containerd/daemon/io.containerd.content.v1.content";
        let yes = format!("{root}/ingest/{h}/data");
        assert!(is_ingest_data(Path::new(&yes)));
        for no in [
            format!("{root}/ingest/{h}/ref"),
            format!("{root}/ingest/{h}/data (deleted)"),
            format!("{root}/ingest/{}/data", &h[1..]),
            format!("{root}/ingest/{}x/data", &h[1..]),
            format!("{root}/blobs/{h}/data"),
            format!("/var/lib/docker/tmp/ingest/{h}/data"),
            "/var/lib/docker/tmp/GetImageBlob1".to_string(),
            "data".to_string(),
        ] {
            assert!(!is_ingest_data(Path::new(&no)), "{no}");
        }
    }

    #[test]
    fn an_ingests_namespace_is_the_first_part_of_its_ref() {
        let cases = [
            ("moby/1/layer-sha256:078ed516", Some("moby")),
            (
                "dockhand-test-1-2/17/layer-sha256:ab\n",
                Some("dockhand-test-1-2"),
            ),
            ("k8s.io/3/content-sha256:ab/with/slashes", Some("k8s.io")),
            ("moby/x/layer", None),
            ("/1/layer", None),
            ("moby/1/", None),
            ("moby", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(ingest_namespace(text), want, "{text:?}");
        }
    }

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
    fn an_ingests_ref_is_read_only_when_it_can_be_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("dockhand-ingest-{}", std::process::id()));
        let dir = base.join("ingest").join("ab");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let data = dir.join("data");
        std::fs::write(&data, b"partial").expect("data");
        let me = nix::unistd::geteuid().as_raw();
        let r = dir.join("ref");
        std::fs::write(&r, "moby/1/layer-sha256:ab").expect("ref");
        assert_eq!(
            read_ingest_ref(&data, me).as_deref(),
            Some("moby/1/layer-sha256:ab")
        );
        assert_eq!(read_ingest_ref(&data, me + 1), None, "another user's dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert_eq!(read_ingest_ref(&data, me), None, "a dir others may write");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // A symlink planted as the ref is never followed.
        std::fs::remove_file(&r).expect("rm");
        let elsewhere = base.join("elsewhere");
        std::fs::write(&elsewhere, "moby/1/layer-sha256:ab").expect("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, &r).expect("symlink");
        assert_eq!(read_ingest_ref(&data, me), None, "a symlinked ref");
        // A FIFO is not read (it would wait for a writer).
        std::fs::remove_file(&r).expect("rm");
        nix::unistd::mkfifo(&r, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        assert_eq!(read_ingest_ref(&data, me), None, "a fifo");
        // The ingest dir itself a symlink: not followed.
        let real = base.join("real");
        std::fs::rename(&dir, &real).expect("mv");
        std::os::unix::fs::symlink(&real, &dir).expect("symlink");
        assert_eq!(read_ingest_ref(&data, me), None, "a symlinked dir");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_daemons_containerd_is_its_child_or_a_standalone_one() {
        let with_ppid = |mut r: ProcRow, ppid: i32| {
            r.ppid = ppid;
            r
        };
        let (dockerd, containerd) = ("/usr/sbin/dockerd", "/usr/bin/containerd");
        let procs = [
            with_ppid(row(100, 'S', dockerd, 0, dockerd), 1),
            with_ppid(row(101, 'S', containerd, 0, containerd), 100),
            // Another dockerd's managed containerd.
            with_ppid(row(200, 'S', dockerd, 0, dockerd), 1),
            with_ppid(row(201, 'S', containerd, 0, containerd), 200),
            // The system's containerd, started by init.
            with_ppid(row(300, 'S', containerd, 0, containerd), 1),
            // Named containerd, but not Docker's program (owned by a user).
            with_ppid(row(400, 'S', "/home/u/containerd", 1000, "containerd"), 100),
            // A zombie.
            with_ppid(row(102, 'Z', containerd, 0, containerd), 100),
        ];
        let exec = Path::new("/var/run/docker");
        let managed = containerd_of(&["dockerd".into()], None, exec);
        assert_eq!(
            daemon_containerds(&procs, 100, 0, &managed, exec),
            vec![101]
        );
        let system = containerd_of(
            &[
                "dockerd".into(),
                "--containerd=/run/containerd/containerd.sock".into(),
            ],
            None,
            exec,
        );
        assert_eq!(daemon_containerds(&procs, 100, 0, &system, exec), vec![300]);
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
