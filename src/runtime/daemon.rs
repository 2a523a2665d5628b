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
        }
    }
}

/// The daemon as found on this host.
#[derive(Debug, Clone)]
pub struct DaemonProcess {
    pub info: ProcInfo,
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
    /// The endpoint is not on this host.
    Remote,
}

/// Finds the process serving `endpoint`: the owner of its socket, else the pid in the pid file.
pub fn locate(endpoint: &Endpoint) -> Located {
    let Some(sock) = endpoint.socket_path() else {
        return if endpoint.is_local() {
            locate_by_pidfile(None, Vec::new(), 0)
        } else {
            Located::Remote
        };
    };
    let owners = host::unix_socket_owners(sock);
    let daemon = owners.pids.iter().copied().find(|p| *p != 1);
    match daemon.and_then(host::proc_info) {
        Some(info) => Located::Found(Box::new(describe(info, "socket"))),
        None => locate_by_pidfile(Some(sock), owners.pids, owners.unreadable),
    }
}

fn locate_by_pidfile(sock: Option<&Path>, holders: Vec<i32>, unreadable: usize) -> Located {
    let paths = paths_from(&[], None);
    if let Some(pid) = read_pidfile(&paths.pidfile)
        && let Some(info) = host::proc_info(pid)
        && is_engine(&info)
    {
        // Only trust the pid file for a non-default socket if the process serves that socket.
        let serves = sock.is_none_or(|s| {
            let want = s.to_string_lossy();
            info.cmdline.iter().any(|a| a.contains(want.as_ref()))
        });
        if serves {
            return Located::Found(Box::new(describe(info, "pidfile")));
        }
    }
    Located::NotRunning {
        paths,
        holders,
        unreadable,
    }
}

/// Whether a process looks like a container engine (by executable name).
pub fn is_engine(info: &ProcInfo) -> bool {
    matches!(program_name(info).as_str(), "dockerd" | "podman")
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

/// What a pid named in a pid file is, for [`crate::policy::daemon::classify_pidfile`]: `None`
/// when it is gone, `Some(true)` for a live container engine, `Some(false)` for anything else —
/// a zombie included: dockerd's start-up check (`kill(pid, 0)`) still sees a zombie and refuses
/// to start, and a zombie serves nothing, so its pid file is stale.
pub fn pidfile_probe(pid: i32) -> Option<bool> {
    let info = host::proc_info(pid)?;
    Some(!matches!(info.state, 'Z' | 'X' | 'x') && is_engine(&info))
}

fn describe(info: ProcInfo, found_by: &'static str) -> DaemonProcess {
    let paths = paths_from(&info.cmdline, None);
    let pidfile_pid = read_pidfile(&paths.pidfile);
    let service = service_manager(&info);
    DaemonProcess {
        info,
        paths,
        service,
        pidfile_pid,
        found_by,
    }
}

pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
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

/// systemd when pid 1 is systemd and the process sits in a `.service` cgroup; OpenRC when
/// /run/openrc exists; sysvinit when an init script exists and init is the parent; else none.
pub fn service_manager(info: &ProcInfo) -> ServiceManager {
    let init = host::comm(1).unwrap_or_default();
    if init == "systemd"
        && let Some(unit) = info
            .cgroup
            .as_deref()
            .and_then(|cg| cg.rsplit('/').find(|seg| seg.ends_with(".service")))
    {
        return ServiceManager::Systemd {
            unit: unit.to_string(),
        };
    }
    if Path::new("/run/openrc").exists() {
        return ServiceManager::Openrc;
    }
    // An init script daemonizes (parent 1) and records the pid: Debian's start-stop-daemon in
    // docker-ssd.pid, dockerd itself in docker.pid. A daemon started by hand with its own pid
    // file is not the script's, even when an init script is installed.
    let recorded = ["/var/run/docker-ssd.pid", DEFAULT_PIDFILE]
        .iter()
        .any(|f| read_pidfile(Path::new(f)) == Some(info.pid));
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
