//! The dockerd process: which pid serves the API, what /proc says about it, where it keeps its
//! data (flags, else daemon.json, else defaults), and which service manager runs it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::endpoint::Endpoint;
use super::host::{self, ProcInfo};

pub const DEFAULT_DATA_ROOT: &str = "/var/lib/docker";
pub const DEFAULT_EXEC_ROOT: &str = "/var/run/docker";
pub const DEFAULT_PIDFILE: &str = "/var/run/docker.pid";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/docker/daemon.json";

/// Where the daemon keeps things, and where each answer came from.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonPaths {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub config_file: PathBuf,
    /// "flag", "daemon.json" or "default", for the data root.
    pub data_root_source: &'static str,
    /// daemon.json could not be parsed: the daemon will refuse to start with it.
    pub config_error: Option<String>,
}

/// Which service manager runs the daemon; decides how a restart must be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServiceManager {
    Systemd {
        unit: String,
    },
    Openrc,
    Sysvinit {
        script: String,
    },
    /// Started by hand or by another program: its parent.
    None {
        parent_pid: i32,
        parent: String,
    },
    /// A manager dockhand must not drive as root: a rootless daemon's, or a unit under a
    /// user's own manager (`user@UID.service`). Stop and start are refused with `reason`.
    Refused {
        reason: String,
    },
}

impl std::fmt::Display for ServiceManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceManager::Systemd { unit } => write!(f, "systemd ({unit})"),
            ServiceManager::Openrc => f.write_str("openrc"),
            ServiceManager::Sysvinit { script } => write!(f, "sysvinit ({script})"),
            ServiceManager::None { parent_pid, parent } => {
                write!(f, "none (started by {parent}, pid {parent_pid})")
            }
            ServiceManager::Refused { reason } => write!(f, "not driven by dockhand ({reason})"),
        }
    }
}

/// The daemon as found on this host.
#[derive(Debug, Clone)]
pub struct DaemonProcess {
    pub info: ProcInfo,
    /// The user it runs as (0, or the socket's owner for a rootless daemon): verified.
    pub uid: u32,
    pub paths: DaemonPaths,
    pub service: ServiceManager,
    /// The pid the pid file names, if it names one.
    pub pidfile_pid: Option<i32>,
    /// How the pid was found: "socket" or "pidfile".
    pub found_by: &'static str,
}

/// The outcome of looking for the daemon.
#[derive(Debug, Clone)]
pub enum Located {
    Found(Box<DaemonProcess>),
    /// No process serves the endpoint. `paths` are what the defaults/daemon.json say; `holders`
    /// are other processes holding the socket (pid 1 under socket activation).
    NotRunning {
        paths: DaemonPaths,
        holders: Vec<i32>,
        unreadable: usize,
    },
    /// A process serves the endpoint's socket but is not trusted to be the daemon (see
    /// [`crate::runtime::identity::trusted_daemon`]), or the socket path is a symlink: reported,
    /// never acted on, and none of its paths (pid file, exec root, config) is used. `paths`
    /// are the defaults, for display only.
    Unverified {
        pid: Option<i32>,
        why: String,
        paths: DaemonPaths,
    },
    /// The endpoint is not on this host.
    Remote,
}

/// Finds the process serving `endpoint`: the verified holder of its socket's own inode (see
/// [`host::unix_socket_owners`]), else — when no holder can be seen — the pid in the default pid
/// file, verified the same way. Only a verified daemon's command line is read for its paths.
pub fn locate(endpoint: &Endpoint) -> Located {
    let Some(sock) = endpoint.socket_path() else {
        return if endpoint.is_local() {
            locate_by_pidfile(None, Vec::new(), 0)
        } else {
            Located::Remote
        };
    };
    let owners = host::unix_socket_owners(sock);
    if owners.symlink {
        return Located::Unverified {
            pid: None,
            why: format!(
                "{} is a symbolic link, not a socket: a daemon's socket is never reached through one",
                sock.display()
            ),
            paths: paths_from(&[], None),
        };
    }
    let mut refused = None;
    for pid in owners.pids.iter().copied().filter(|p| *p != 1) {
        let Some(info) = host::proc_info(pid) else {
            continue;
        };
        // A child of another holder holds the socket only because it was forked from it and
        // has not yet exec'd (the daemon starting a shim or a helper): between fork and exec
        // every descriptor is still open in the copy. The holder it came from is the daemon.
        if info.ppid != pid && owners.pids.contains(&info.ppid) {
            continue;
        }
        let verdict = match (host::identity(pid), owners.file_uid) {
            (Some(id), Some(sock_uid)) => {
                crate::runtime::identity::trusted_daemon(&id, sock_uid).map(|()| id)
            }
            _ => Err("its identity could not be read".to_string()),
        };
        match verdict {
            Ok(id) => {
                let uid = id.uid().unwrap_or(0);
                return Located::Found(Box::new(describe(info, uid, "socket")));
            }
            Err(why) => {
                refused.get_or_insert((pid, why));
            }
        }
    }
    if let Some((pid, why)) = refused {
        return Located::Unverified {
            pid: Some(pid),
            why: format!(
                "pid {pid} holds {} but is not trusted as the daemon: {why}",
                sock.display()
            ),
            paths: paths_from(&[], None),
        };
    }
    locate_by_pidfile(Some(sock), owners.pids, owners.unreadable)
}

fn locate_by_pidfile(sock: Option<&Path>, holders: Vec<i32>, unreadable: usize) -> Located {
    let paths = paths_from(&[], None);
    // The default pid file, only as root writes it: a regular file of root's, not a symlink.
    let trusted_file = std::fs::symlink_metadata(&paths.pidfile).is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.file_type().is_file() && m.uid() == 0 && m.mode() & 0o022 == 0
    });
    if trusted_file
        && let Some(pid) = super::pidfile::pid_in(&paths.pidfile)
        && let Some(info) = host::proc_info(pid)
        && host::docker_program(pid, None) == Some(crate::runtime::identity::DockerProgram::Dockerd)
    {
        // Only trust the pid file for a non-default socket if the process serves that socket.
        let serves = sock.is_none_or(|s| {
            let want = s.to_string_lossy();
            info.cmdline.iter().any(|a| a.contains(want.as_ref()))
        });
        if serves {
            return Located::Found(Box::new(describe(info, 0, "pidfile")));
        }
    }
    Located::NotRunning {
        paths,
        holders,
        unreadable,
    }
}

/// The name of a process's executable (its `comm` when the executable cannot be read).
pub fn program_name(info: &ProcInfo) -> String {
    info.exe
        .as_ref()
        .and_then(|e| e.file_name())
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_string()
        })
        .unwrap_or_else(|| info.comm.clone())
}

/// Whether `pid` runs a container engine's program — dockerd, or Podman's service — judged by
/// its executable and owner ([`crate::runtime::identity`]), never by its name.
pub fn is_engine_program(pid: i32) -> bool {
    use crate::runtime::identity::{DockerProgram, exe_name, exe_trusted};
    let Some(id) = host::identity(pid) else {
        return false;
    };
    if crate::runtime::identity::docker_program(&id, None) == Ok(DockerProgram::Dockerd) {
        return true;
    }
    // Podman serves the same API; the same rules for its executable.
    id.exe.as_ref().is_some_and(|e| {
        exe_name(&e.path) == "podman"
            && id.uids.iter().all(|u| *u == 0)
            && exe_trusted(e, &[0]).is_ok()
    })
}

fn describe(info: ProcInfo, uid: u32, found_by: &'static str) -> DaemonProcess {
    let paths = paths_from(&info.cmdline, None);
    let pidfile_pid = super::pidfile::pid_in(&paths.pidfile);
    let service = service_manager(&info, uid);
    DaemonProcess {
        info,
        uid,
        paths,
        service,
        pidfile_pid,
        found_by,
    }
}

/// The value of a dockerd flag in any of its spellings: `--flag=v`, `--flag v`, `-f v`.
fn flag_value(args: &[String], names: &[&str]) -> Option<String> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        for n in names {
            if a == n {
                return it.next().cloned();
            }
            if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// Resolves the daemon's paths from its command line, else its daemon.json, else defaults.
/// `config_root` lets tests point at a file other than /etc/docker/daemon.json.
pub fn paths_from(cmdline: &[String], config_root: Option<&Path>) -> DaemonPaths {
    let config_file = flag_value(cmdline, &["--config-file"])
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            config_root.map_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE), Path::to_path_buf)
        });
    let (json, config_error) = match std::fs::read_to_string(&config_file) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(format!("{}: {e}", config_file.display()))),
        },
        Err(_) => (None, None),
    };
    let from_json = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| json.as_ref()?.get(*k)?.as_str().map(PathBuf::from))
    };
    let (data_root, data_root_source) = match flag_value(cmdline, &["--data-root", "--graph", "-g"])
    {
        Some(v) => (PathBuf::from(v), "flag"),
        None => match from_json(&["data-root", "graph"]) {
            Some(v) => (v, "daemon.json"),
            None => (PathBuf::from(DEFAULT_DATA_ROOT), "default"),
        },
    };
    let exec_root = flag_value(cmdline, &["--exec-root"])
        .map(PathBuf::from)
        .or_else(|| from_json(&["exec-root"]))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_ROOT));
    let pidfile = flag_value(cmdline, &["--pidfile", "-p"])
        .map(PathBuf::from)
        .or_else(|| from_json(&["pidfile"]))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PIDFILE));
    DaemonPaths {
        data_root,
        exec_root,
        pidfile,
        config_file,
        data_root_source,
        config_error,
    }
}

/// How long the service manager may take to say which unit a pid is in.
const UNIT_QUERY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// Which service manager runs the daemon `info` (running as `uid`). systemd: the unit systemd
/// itself reports for the pid (`GetUnitByPID`), never one read from the cgroup path — any user
/// names its own units (`systemd-run --user --unit=docker.service`), and the path of a rootless
/// daemon holds `docker.service` too. A rootless daemon, or one under a user's manager, is
/// refused. OpenRC when /run/openrc exists; sysvinit when an init script exists and init is the
/// parent; else none.
pub fn service_manager(info: &ProcInfo, uid: u32) -> ServiceManager {
    use crate::runtime::identity::{UnitVerdict, service_unit};
    let reported = systemd_is_init().then(|| unit_of_pid(info.pid));
    match service_unit(reported.as_ref(), info.cgroup.as_deref(), uid) {
        UnitVerdict::System(unit) => return ServiceManager::Systemd { unit },
        UnitVerdict::Refused(reason) => return ServiceManager::Refused { reason },
        UnitVerdict::NotAService => {}
    }
    if Path::new("/run/openrc").exists() {
        return ServiceManager::Openrc;
    }
    // An init script daemonizes (parent 1) and records the pid: Debian's start-stop-daemon in
    // docker-ssd.pid, dockerd itself in docker.pid. A daemon started by hand with its own pid
    // file is not the script's, even when an init script is installed.
    let recorded = ["/var/run/docker-ssd.pid", DEFAULT_PIDFILE]
        .iter()
        .any(|f| super::pidfile::pid_in(Path::new(f)) == Some(info.pid));
    if info.ppid == 1 && recorded {
        for script in ["/etc/init.d/docker", "/etc/init.d/dockerd"] {
            if Path::new(script).exists() {
                return ServiceManager::Sysvinit {
                    script: script.to_string(),
                };
            }
        }
    }
    ServiceManager::None {
        parent_pid: info.ppid,
        parent: host::comm(info.ppid).unwrap_or_else(|| "?".to_string()),
    }
}

/// Whether systemd is this host's init (as `sd_booted()` decides: /run/systemd/system exists)
/// and pid 1 runs systemd's executable.
fn systemd_is_init() -> bool {
    Path::new("/run/systemd/system").is_dir()
        && std::fs::read_link("/proc/1/exe")
            .is_ok_and(|p| crate::runtime::identity::exe_name(&p) == "systemd")
}

/// Asks systemd (on the system bus) which unit `pid` belongs to, under a deadline: the unit's
/// name, or why there is no answer.
fn unit_of_pid(pid: i32) -> Result<String, String> {
    let secs = UNIT_QUERY_DEADLINE.as_secs().to_string();
    let pid_s = pid.to_string();
    let argv = [
        "busctl",
        "--system",
        "--timeout",
        &secs,
        "call",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "GetUnitByPID",
        "u",
        &pid_s,
    ];
    let ran = super::command::run_bounded(&argv, None, UNIT_QUERY_DEADLINE)
        .map_err(|e| format!("busctl could not be run: {e}"))?;
    if !ran.ok() {
        return Err(format!("busctl GetUnitByPID {pid}: {}", ran.why()));
    }
    crate::runtime::identity::unit_from_busctl(&ran.stdout)
        .ok_or_else(|| format!("busctl GetUnitByPID {pid} gave no unit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_in_every_spelling() {
        let nowhere = Path::new("/nonexistent/daemon.json");
        let p = paths_from(
            &args("dockerd --data-root=/srv/d --exec-root /run/x -p /run/x.pid"),
            Some(nowhere),
        );
        assert_eq!(p.data_root, PathBuf::from("/srv/d"));
        assert_eq!(p.data_root_source, "flag");
        assert_eq!(p.exec_root, PathBuf::from("/run/x"));
        assert_eq!(p.pidfile, PathBuf::from("/run/x.pid"));
        let p = paths_from(&args("dockerd -g /old"), Some(nowhere));
        assert_eq!(p.data_root, PathBuf::from("/old"));
    }

    #[test]
    fn daemon_json_then_defaults() {
        let dir = std::env::temp_dir().join(format!("dockhand-daemon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = dir.join("daemon.json");
        std::fs::write(
            &f,
            r#"{"data-root": "/data/docker", "pidfile": "/run/d.pid"}"#,
        )
        .expect("write");
        let p = paths_from(&args("dockerd"), Some(&f));
        assert_eq!(p.data_root, PathBuf::from("/data/docker"));
        assert_eq!(p.data_root_source, "daemon.json");
        assert_eq!(p.pidfile, PathBuf::from("/run/d.pid"));
        assert_eq!(p.exec_root, PathBuf::from(DEFAULT_EXEC_ROOT));
        std::fs::write(&f, "{ not json").expect("write");
        let p = paths_from(&args("dockerd"), Some(&f));
        assert!(p.config_error.is_some());
        assert_eq!(p.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        let _ = std::fs::remove_dir_all(dir);
    }
}
