//! A throwaway Podman engine for integration tests: `podman system service` on a private unix
//! socket, answering the Docker-compatible API that dockhand speaks.
//!
//! Each [`TestPodman`] has everything of its own under `/tmp/dockhand-test-<pid>-<n>/`: the graph
//! root (`--root`), the run root (`--runroot`), containers.conf, storage.conf and an empty
//! registries.conf (through `CONTAINERS_CONF`, `CONTAINERS_STORAGE_CONF`,
//! `CONTAINERS_REGISTRIES_CONF`), `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME` and `XDG_DATA_HOME`, the
//! network config dir, file locks instead of the host-wide `/dev/shm/libpod_lock`, the event log
//! and the socket. A system Podman's storage, config and socket are never touched. The busybox
//! rootfs of [`super::daemon`] is imported as `busybox:latest` (Podman names it
//! `localhost/busybox:latest`).
//!
//! What is host-wide, and how it is kept apart: a bridge network (only tests that publish ports
//! make one, see [`TestPodman::bridge_network`]) gets its own name, interface and subnet, without
//! DNS (so no aardvark-dns), and netavark adds iptables rules for it and for published ports,
//! which it removes when the containers and the network go; netavark's IPAM database and the
//! containers' network namespaces are in `/run/containers/networks` and `/run/netns`, where rootful
//! Podman keeps them whatever its config says — removed with the containers and networks.
//!
//! Teardown (explicit [`TestPodman::stop`], or Drop — also while a test panics): every container
//! and network removed through the service, SIGTERM to the service (SIGKILL after a while), every
//! remaining process of it killed by pid (conmons, containers, `podman container cleanup`),
//! the bridges it made deleted, everything mounted under the dir (Podman's overlay mounts, the
//! containers' shm) lazily unmounted, the dir deleted. If the test process dies, the service gets
//! SIGTERM from PR_SET_PDEATHSIG and the next run sweeps the rest (conmon and podman are among the
//! programs the sweep recognises by the dir on their command lines). What only netavark takes
//! down — a bridge network's interface, its iptables rules, a container's `/run/netns` entry —
//! stays after such a crash: only the ports test makes one (`dhpm<pid>x<n>`, 10.214.11.0/24).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::daemon::{busybox_rootfs_tar, ping_socket, spawn_tied};
use super::{Run, TempDir, procfs, run};

/// How long the service may take to answer `/_ping` after start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful SIGTERM shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Default bound on a podman CLI call.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(60);

/// Podman raises each container's open-files and processes limits to 1048576 and 4194304 by
/// default; a test host whose own hard limits are lower (this one: 20000 files) refuses that
/// (runc: "error setting rlimits … operation not permitted"). 1024 is below any host's.
const ULIMITS: &str = r#"["nofile=1024:1024", "nproc=1024:1024"]"#;

/// The Podman on this host: Debian's (bookworm: 4.3.1), see scripts/setup-test-host.
pub fn podman_cli() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/podman");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("podman")
    }
}

#[derive(Debug)]
struct State {
    /// The service; None once reaped by stop().
    child: Option<Child>,
    stopped: bool,
    /// Bridge interfaces of networks made by [`TestPodman::bridge_network`].
    bridges: Vec<String>,
}

/// A private `podman system service`. See the module docs.
#[derive(Debug)]
pub struct TestPodman {
    dir: TempDir,
    pid: i32,
    state: Mutex<State>,
}

impl TestPodman {
    /// Start a service with busybox imported; panics (with the end of its log) when it does not
    /// come up.
    pub fn start() -> TestPodman {
        super::scratch(); // registers the exit hook; sweeps stale dirs
        let dir = TempDir::new();
        let root = dir.path().to_owned();
        for d in ["root", "run", "tmp", "xdg", "config", "data", "net"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let p = |rel: &str| root.join(rel).display().to_string();
        std::fs::write(
            root.join("containers.conf"),
            format!(
                r#"[containers]
log_driver = "k8s-file"
default_ulimits = {ULIMITS}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{events}"
lock_type = "file"
tmp_dir = "{tmp}"
image_copy_tmp_dir = "{tmp}"
volume_path = "{volumes}"
static_dir = "{static_dir}"

[network]
network_backend = "netavark"
network_config_dir = "{net}"
"#,
                events = p("events.log"),
                tmp = p("tmp"),
                volumes = p("root/volumes"),
                static_dir = p("root/libpod"),
                net = p("net"),
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                p("root"),
                p("run")
            ),
        )
        .unwrap();
        // No registries: nothing is ever pulled; short names resolve to local images.
        std::fs::write(
            root.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .unwrap();
        let log = std::fs::File::create(root.join("podman.log")).unwrap();
        let log_err = log.try_clone().unwrap();
        let mut cmd = Command::new(podman_cli());
        cmd.args(["--root", &p("root"), "--runroot", &p("run")])
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--tmpdir", &p("tmp"), "--network-config-dir", &p("net")])
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", root.join("podman.sock").display()))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: a Ctrl-C in the terminal goes to the tests, not straight here.
            .process_group(0);
        Self::isolate(&mut cmd, &root);
        let child = spawn_tied(cmd, Signal::SIGTERM).unwrap_or_else(|e| {
            panic!("cannot start podman (install podman, see scripts/setup-test-host): {e}")
        });
        let pid = child.id() as i32;
        let p = TestPodman {
            dir,
            pid,
            state: Mutex::new(State {
                child: Some(child),
                stopped: false,
                bridges: Vec::new(),
            }),
        };
        p.wait_until_up();
        p.import_busybox("busybox:latest");
        p
    }

    /// The environment that keeps a podman process (the service, or the CLI) on this test's
    /// config and storage.
    fn isolate(cmd: &mut Command, root: &Path) {
        // iptables (for netavark) is in /usr/sbin, which a non-root PATH may lack.
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"))
            .env("CONTAINERS_CONF", root.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", root.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", root.join("registries.conf"))
            .env("XDG_RUNTIME_DIR", root.join("xdg"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("data"));
        for k in [
            "CONTAINER_HOST",
            "CONTAINER_CONNECTION",
            "CONTAINERS_HOST",
            "DOCKER_HOST",
            "NOTIFY_SOCKET",
        ] {
            cmd.env_remove(k);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let exited = self.state().child.as_mut().and_then(|c| c.try_wait().ok()?);
            if let Some(status) = exited {
                let tail = self.log_tail(30);
                self.stop();
                panic!(
                    "podman system service exited during start ({status}); last lines of its log:\n{tail}"
                );
            }
            let last_err = match ping_socket(&self.socket(), Duration::from_secs(2)) {
                Ok(()) => return,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                let tail = self.log_tail(30);
                self.stop();
                panic!(
                    "podman at {} did not answer /_ping within {START_TIMEOUT:?} (last error: {last_err}); last lines of its log:\n{tail}",
                    self.socket().display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The service's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("podman.sock")
    }

    /// `unix:///tmp/dockhand-test-…/podman.sock`, for `dockhand --host`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The graph root (what `/info` calls `DockerRootDir`).
    pub fn graph_root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// The last `n` lines of the service's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("podman.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The podman CLI as a client of this service (`podman --url unix://…`): every container
    /// and image goes through the service's API, as a user's `podman --remote` would.
    pub fn podman_command(&self) -> Command {
        let mut cmd = Command::new(podman_cli());
        cmd.arg("--url").arg(self.host());
        Self::isolate(&mut cmd, self.dir.path());
        cmd
    }

    /// Run `podman --url <this service> ARGS`, killed after [`PODMAN_TIMEOUT`].
    pub fn podman<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.podman_command();
        cmd.args(args);
        run(cmd, PODMAN_TIMEOUT)
    }

    /// Like [`TestPodman::podman`], panicking unless it succeeds; returns trimmed stdout.
    #[track_caller]
    pub fn podman_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let r = self.podman(args);
        assert!(
            r.success(),
            "podman failed\n{r}\n--- podman.log ---\n{}",
            self.log_tail(30)
        );
        r.stdout.trim().to_owned()
    }

    /// Import a one-binary busybox image as `tag` (the rootfs tar [`super::daemon`] imports
    /// into dockerd), through the service.
    pub fn import_busybox(&self, tag: &str) {
        let tar = self.dir.join("busybox.tar");
        std::fs::write(&tar, busybox_rootfs_tar()).unwrap();
        self.podman_ok(["import".as_ref(), tar.as_os_str(), tag.as_ref()]);
        let _ = std::fs::remove_file(&tar);
    }

    /// One request to the service's API (HTTP/1.0 over the socket, within `timeout`): the status
    /// code and the body. For what the CLI of Podman 4.3 cannot say (a network's interface name).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let timeout = Duration::from_secs(30);
        let mut s = UnixStream::connect(self.socket())
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.socket().display()));
        s.set_read_timeout(Some(timeout)).unwrap();
        s.set_write_timeout(Some(timeout)).unwrap();
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: podman\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    /// A bridge network of this service's own: interface `dhpm<n>`, the given subnet, no DNS
    /// (no aardvark-dns, which would be one for every Podman on the host), made through Podman's
    /// own API (the CLI of 4.3 cannot name the interface). Its name is returned; the interface
    /// is deleted at teardown should netavark leave it.
    pub fn bridge_network(&self, subnet: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("dhpm-{}-{n}", std::process::id());
        let iface = format!("dhpm{}x{n}", std::process::id() % 100_000);
        let body = serde_json::json!({
            "name": name,
            "driver": "bridge",
            "network_interface": iface,
            "dns_enabled": false,
            "subnets": [{ "subnet": subnet }],
        })
        .to_string();
        let (code, answer) = self.api("POST", "/v4.0.0/libpod/networks/create", Some(&body));
        assert!(
            code == 200 || code == 201,
            "creating network {name} ({subnet}) failed: {code} {answer}\n--- podman.log ---\n{}",
            self.log_tail(20)
        );
        self.state().bridges.push(iface);
        name
    }

    /// Live processes of this service: itself, its conmons and their containers.
    pub fn processes(&self) -> Vec<procfs::Stat> {
        procfs::processes_of(self.dir(), &[self.pid])
    }

    /// Stop the service and remove everything (idempotent). See the module docs.
    pub fn stop(&self) {
        let mut st = self.state();
        if st.stopped {
            return;
        }
        st.stopped = true;
        let pid = Pid::from_raw(self.pid);
        if let Some(mut child) = st.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // Through the service, so netavark takes down what it set up on the host
                // (firewall rules, network namespaces, leases, bridges).
                let mut rm = self.podman_command();
                rm.args(["rm", "--all", "--force", "--time", "0"]);
                let _ = run(rm, PODMAN_TIMEOUT);
                let mut prune = self.podman_command();
                prune.args(["network", "prune", "--force"]);
                let _ = run(prune, PODMAN_TIMEOUT);
            }
            let related: Vec<i32> = self.processes().iter().map(|s| s.pid).collect();
            let _ = kill(pid, Signal::SIGCONT);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!(
                    "dockhand tests: podman service {} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
                    self.pid
                );
                let _ = kill(pid, Signal::SIGKILL);
            }
            let _ = child.wait();
            procfs::kill_processes_of(self.dir(), &related, Duration::from_secs(10));
        } else {
            procfs::kill_processes_of(self.dir(), &[], Duration::from_secs(10));
        }
        for b in std::mem::take(&mut st.bridges) {
            let _ = Command::new("ip")
                .args(["link", "delete", &b])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        drop(st);
        super::remove_tree(self.dir.path());
    }
}

impl Drop for TestPodman {
    fn drop(&mut self) {
        self.stop();
    }
}
