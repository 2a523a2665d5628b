//! Throwaway Docker daemons for integration tests.
//!
//! Each [`TestDaemon`] runs its own `dockerd` (which starts its own containerd) with a private data
//! root, exec root, pid file and socket under `/tmp/dockhand-test-<pid>-<n>/`, no bridge and no
//! iptables, and the host's static busybox imported as `busybox:latest`. It never touches the host's
//! daemon, socket or /etc/docker/daemon.json.
//!
//! Teardown (explicit [`TestDaemon::stop`], Drop — also while a test panics — or, for the shared
//! daemon, an `atexit` hook): SIGCONT, SIGTERM, wait, SIGKILL whatever of it is left (dockerd,
//! containerd, shims, container processes), reap, lazily unmount everything under the dir, delete
//! it. If the test process itself dies, every dockerd gets SIGTERM from PR_SET_PDEATHSIG and the next
//! run sweeps the leftovers.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Run, TempDir, procfs, run, run_with_input};

/// How long dockerd may take to answer `/_ping` after start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful SIGTERM shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Default bound on a docker CLI call.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// The host's static busybox, the only thing in our test image.
pub const BUSYBOX: &str = "/bin/busybox";
/// Applets linked into the image (`docker run busybox <applet>`).
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "sleep", "echo", "dd", "nc", "true", "false", "wget", "httpd",
];

/// The docker CLI to drive test daemons: Debian's 20.10 client matches the daemon; any other
/// `docker` on PATH also works against it.
pub fn docker_cli() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/docker");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("docker")
    }
}

/// The engines the tests run on (docs/engines.md), chosen for the whole test process by
/// `DOCKHAND_TEST_ENGINE`: `20.10` (the default: bookworm's docker.io, installed as a package),
/// `26.1` (trixie's), `28.5` (sid's, containerd 2.1) and `28.5-containerd` (28.5 with the
/// containerd image store). scripts/setup-test-host unpacks the newer ones under
/// `/opt/dockhand-engines/<name>/`; scripts/test puts `<name>/bin` first on PATH, so every
/// `dockerd` a test (or dockhand's `recover --start-cmd`) starts is that engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker20,
    Docker26,
    Docker28,
    Docker28Containerd,
}

impl Engine {
    pub const ALL: [Engine; 4] = [
        Engine::Docker20,
        Engine::Docker26,
        Engine::Docker28,
        Engine::Docker28Containerd,
    ];

    /// The name `DOCKHAND_TEST_ENGINE` takes.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker20 => "20.10",
            Engine::Docker26 => "26.1",
            Engine::Docker28 => "28.5",
            Engine::Docker28Containerd => "28.5-containerd",
        }
    }

    /// The engine's version as `/version` reports it starts with this.
    pub fn version_prefix(self) -> &'static str {
        match self {
            Engine::Docker20 => "20.10.",
            Engine::Docker26 => "26.1.",
            Engine::Docker28 | Engine::Docker28Containerd => "28.5.",
        }
    }

    /// Images live in containerd's content store and snapshots, not in the graph driver.
    pub fn containerd_store(self) -> bool {
        self == Engine::Docker28Containerd
    }

    /// The directory of the unpacked engine's binaries; None for the system's own 20.10.
    pub fn bin_dir(self) -> Option<PathBuf> {
        let base = std::env::var_os("DOCKHAND_ENGINES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/dockhand-engines"));
        match self {
            Engine::Docker20 => None,
            Engine::Docker26 => Some(base.join("26.1/bin")),
            Engine::Docker28 | Engine::Docker28Containerd => Some(base.join("28.5/bin")),
        }
    }
}

/// The engine of this test process (see [`Engine`]); panics on a name it does not know, and when
/// PATH would start another engine's dockerd than the one named.
pub fn engine() -> Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    *ENGINE.get_or_init(|| {
        let name = std::env::var("DOCKHAND_TEST_ENGINE").unwrap_or_default();
        let e = if name.is_empty() {
            Engine::Docker20
        } else {
            Engine::ALL
                .into_iter()
                .find(|e| e.name() == name)
                .unwrap_or_else(|| {
                    let names: Vec<&str> = Engine::ALL.iter().map(|e| e.name()).collect();
                    panic!(
                        "DOCKHAND_TEST_ENGINE={name:?} is not an engine the tests know; use one of {}",
                        names.join(", ")
                    )
                })
        };
        if let Some(bin) = e.bin_dir() {
            let first = which("dockerd");
            assert!(
                first.as_deref() == Some(bin.join("dockerd").as_path()),
                "DOCKHAND_TEST_ENGINE={} wants {} first on PATH, but dockerd is {:?}: run the tests \
                 through scripts/test (it sets PATH), after scripts/setup-test-host",
                e.name(),
                bin.display(),
                first
            );
        }
        e
    })
}

/// The first `name` on PATH (with the sbin dirs the harness appends), as written there.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/sbin:/usr/sbin:/sbin")
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The daemon.json the test asked for, with what the engine needs added: the containerd image
/// store's feature flag. The test's own keys win where both set one.
fn engine_daemon_json(test_json: &str) -> String {
    if !engine().containerd_store() {
        return test_json.to_owned();
    }
    let mut v: serde_json::Value = match serde_json::from_str(test_json) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        // A test writing a deliberately broken daemon.json gets it as written.
        _ => return test_json.to_owned(),
    };
    let features = v
        .as_object_mut()
        .expect("an object")
        .entry("features")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(f) = features.as_object_mut() {
        f.entry("containerd-snapshotter")
            .or_insert(serde_json::Value::Bool(true));
    }
    format!("{v}\n")
}

/// dockerd flags the engine needs: with the containerd store, each daemon's managed containerd
/// gets namespaces of its own (several run at once).
fn engine_args(dir: &Path) -> Vec<String> {
    if !engine().containerd_store() {
        return Vec::new();
    }
    let tag = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dockhand-test".to_owned());
    vec![
        format!("--containerd-namespace={tag}"),
        format!("--containerd-plugins-namespace={tag}-plugins"),
    ]
}

/// Options for [`TestDaemon`]: extra dockerd flags, a custom daemon.json, whether to seed busybox.
#[derive(Debug, Clone)]
pub struct Builder {
    extra_args: Vec<String>,
    daemon_json: String,
    busybox: bool,
    data_root: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            extra_args: Vec::new(),
            daemon_json: "{}\n".to_owned(),
            busybox: true,
            data_root: None,
        }
    }
}

impl Builder {
    /// Add a dockerd flag (e.g. `--log-level=debug`).
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.extra_args.push(a.into());
        self
    }

    /// Contents of the daemon.json passed with `--config-file` (default `{}`).
    pub fn daemon_json(mut self, json: impl Into<String>) -> Self {
        self.daemon_json = json.into();
        self
    }

    /// Keep the data root at `path` (e.g. on a small filesystem of the test's own) instead of
    /// inside the daemon's private dir. The test owns `path` and removes it.
    pub fn data_root(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_root = Some(path.into());
        self
    }

    /// Do not import `busybox:latest` at start.
    pub fn without_busybox(mut self) -> Self {
        self.busybox = false;
        self
    }

    /// Start the daemon; panics (with the end of dockerd.log) when it does not come up.
    pub fn start(self) -> TestDaemon {
        TestDaemon::start_with(self)
    }
}

#[derive(Debug)]
struct State {
    /// dockerd itself; None once reaped by stop().
    child: Option<Child>,
    stopped: bool,
    frozen: bool,
}

/// A private dockerd. See the module docs.
#[derive(Debug)]
pub struct TestDaemon {
    dir: TempDir,
    data_root: PathBuf,
    pid: i32,
    state: Mutex<State>,
}

impl TestDaemon {
    /// Start a daemon with the defaults (empty daemon.json, busybox imported).
    pub fn start() -> TestDaemon {
        Builder::default().start()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    fn start_with(b: Builder) -> TestDaemon {
        super::scratch(); // registers the exit hook; sweeps stale dirs
        let dir = TempDir::new();
        let root = dir.path().to_owned();
        let data_root = b.data_root.clone().unwrap_or_else(|| root.join("data"));
        let engine = engine();
        std::fs::write(root.join("daemon.json"), engine_daemon_json(&b.daemon_json)).unwrap();
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let log_err = log.try_clone().unwrap();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(root.join("daemon.json"))
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", root.join("docker.sock").display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .args(engine_args(&root))
            .args(&b.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: a Ctrl-C in the terminal goes to the tests, not straight here.
            .process_group(0);
        // dockerd is in /usr/sbin, which a non-root PATH may lack.
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"));
        for k in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_CONFIG",
            "NOTIFY_SOCKET",
        ] {
            cmd.env_remove(k);
        }
        let child = spawn_daemon_process(cmd).unwrap_or_else(|e| {
            panic!("cannot start dockerd (install docker.io, see scripts/setup-test-host): {e}")
        });
        let pid = child.id() as i32;
        let d = TestDaemon {
            dir,
            data_root,
            pid,
            state: Mutex::new(State {
                child: Some(child),
                stopped: false,
                frozen: false,
            }),
        };
        d.wait_until_up();
        let version = d.docker_ok(["version", "--format", "{{.Server.Version}}"]);
        assert!(
            version.trim().starts_with(engine.version_prefix()),
            "DOCKHAND_TEST_ENGINE={} but the daemon is Docker {}",
            engine.name(),
            version.trim()
        );
        if b.busybox {
            d.import_busybox("busybox:latest");
        }
        d
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // A separate statement: the lock guard must be gone before stop() takes it again.
            let exited = self.state().child.as_mut().and_then(|c| c.try_wait().ok()?);
            if let Some(status) = exited {
                let tail = self.log_tail(30);
                self.stop();
                panic!("dockerd exited during start ({status}); last lines of its log:\n{tail}");
            }
            let last_err = match self.ping(Duration::from_secs(2)) {
                Ok(()) => return,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                let tail = self.log_tail(30);
                self.stop();
                panic!(
                    "dockerd at {} did not answer /_ping within {START_TIMEOUT:?} (last error: {last_err}); last lines of its log:\n{tail}",
                    self.socket().display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /_ping` over the socket with an HTTP/1.0 request, bounded by `timeout`.
    pub fn ping(&self, timeout: Duration) -> Result<(), String> {
        ping_socket(&self.socket(), timeout)
    }

    /// The private dir holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// `unix:///tmp/dockhand-test-…/docker.sock`
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn data_root(&self) -> PathBuf {
        self.data_root.clone()
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }

    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("docker.pid")
    }

    /// The dockerd flags the harness adds for the engine (see [`engine`]); a test that starts
    /// dockerd again on this daemon's dirs passes them too.
    pub fn engine_args(&self) -> Vec<String> {
        engine_args(self.dir())
    }

    /// The containerd namespace of this daemon's containers: `moby`, or the one of its own the
    /// harness gives it under the containerd image store.
    pub fn containerd_namespace(&self) -> String {
        if engine().containerd_store() {
            self.dir()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            "moby".to_owned()
        }
    }

    pub fn daemon_json(&self) -> PathBuf {
        self.dir.join("daemon.json")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dockerd.log")
    }

    /// The last `n` lines of dockerd.log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The docker CLI pointed at this daemon, with an isolated client config.
    pub fn docker_command(&self) -> Command {
        let mut cmd = Command::new(docker_cli());
        cmd.arg("-H").arg(self.host());
        cmd.env("DOCKER_CONFIG", self.dir.join("docker-cli"));
        for k in ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY"] {
            cmd.env_remove(k);
        }
        cmd
    }

    /// Run `docker -H <this daemon> ARGS`, killed after [`DOCKER_TIMEOUT`].
    pub fn docker<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.docker_command();
        cmd.args(args);
        run(cmd, DOCKER_TIMEOUT)
    }

    /// Like [`TestDaemon::docker`], panicking unless it succeeds; returns trimmed stdout.
    #[track_caller]
    pub fn docker_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let r = self.docker(args);
        assert!(
            r.success(),
            "docker failed\n{r}\n--- dockerd.log ---\n{}",
            self.log_tail(30)
        );
        r.stdout.trim().to_owned()
    }

    /// Import a one-binary busybox image as `tag`: bin/busybox plus applet symlinks, piped as a
    /// tar into `docker import`.
    pub fn import_busybox(&self, tag: &str) {
        let tar = busybox_rootfs_tar();
        let mut cmd = self.docker_command();
        cmd.args(["import", "-", tag]);
        let r = run_with_input(cmd, Some(tar), DOCKER_TIMEOUT);
        assert!(
            r.success(),
            "docker import of {BUSYBOX} failed\n{r}\n--- dockerd.log ---\n{}",
            self.log_tail(30)
        );
    }

    /// SIGSTOP the daemon process (only dockerd; containerd keeps running).
    pub fn freeze(&self) {
        let mut st = self.state();
        kill(Pid::from_raw(self.pid), Signal::SIGSTOP).unwrap();
        st.frozen = true;
        drop(st);
        // SIGSTOP is asynchronous: wait until the kernel shows it stopped.
        let deadline = Instant::now() + Duration::from_secs(5);
        while procfs::stat(self.pid).is_some_and(|s| s.state != 'T') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGCONT the daemon process.
    pub fn thaw(&self) {
        let mut st = self.state();
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGCONT);
        st.frozen = false;
    }

    /// SIGKILL dockerd only (containerd and shims stay behind, as after a crash) and reap it.
    pub fn kill9(&self) {
        let mut st = self.state();
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        if let Some(c) = st.child.as_mut() {
            let _ = c.wait();
        }
        st.frozen = false;
    }

    /// Live processes of this daemon (dockerd, containerd, shims, containers).
    pub fn processes(&self) -> Vec<procfs::Stat> {
        procfs::processes_of(self.dir(), &[self.pid])
    }

    /// Stop the daemon and remove everything (idempotent). See the module docs.
    pub fn stop(&self) {
        let mut st = self.state();
        if st.stopped {
            return;
        }
        st.stopped = true;
        let pid = Pid::from_raw(self.pid);
        let related: Vec<i32> = self.processes().iter().map(|s| s.pid).collect();
        let mut bridges = Vec::new();
        if let Some(mut child) = st.child.take() {
            let _ = kill(pid, Signal::SIGCONT);
            // The daemon keeps its user-defined networks' bridges when it stops (it restores them
            // at its next start); with its data root gone they would leak, one per network, until
            // the host runs out of address pools for everyone's networks.
            bridges = bridge_names(&self.socket(), Duration::from_secs(2));
            if matches!(child.try_wait(), Ok(None)) {
                let _ = kill(pid, Signal::SIGTERM);
                let deadline = Instant::now() + STOP_TIMEOUT;
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if matches!(child.try_wait(), Ok(None)) {
                    eprintln!(
                        "dockhand tests: dockerd {} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
                        self.pid
                    );
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
            let _ = child.wait();
        }
        procfs::kill_processes_of(self.dir(), &related, Duration::from_secs(10));
        for b in bridges {
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

/// The Linux bridges of a daemon's user-defined bridge networks (`br-<id>`, or the name the
/// network was given with `com.docker.network.bridge.name`), asked of the daemon within
/// `timeout`; none when it does not answer.
fn bridge_names(socket: &Path, timeout: Duration) -> Vec<String> {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return Vec::new();
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    if s.write_all(b"GET /networks HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let Some(body) = text.split_once("\r\n\r\n").map(|(_, b)| b) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(nets)) = serde_json::from_str(body) else {
        return Vec::new();
    };
    nets.iter()
        .filter(|n| n["Driver"] == "bridge" && n["Name"] != "bridge")
        .filter_map(|n| {
            if let Some(name) = n["Options"]["com.docker.network.bridge.name"].as_str() {
                return Some(name.to_string());
            }
            let id = n["Id"].as_str()?;
            Some(format!("br-{}", id.get(..12)?))
        })
        .collect()
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /_ping` on a unix socket; Ok when the daemon answers 200 "OK" within `timeout`.
pub fn ping_socket(socket: &Path, timeout: Duration) -> Result<(), String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let status_ok = text.lines().next().is_some_and(|l| l.contains(" 200 "));
    if status_ok && text.ends_with("OK") {
        Ok(())
    } else {
        Err(format!("unexpected answer: {text:?}"))
    }
}

/// A tar (ustar) of the busybox rootfs, built in memory.
pub fn busybox_rootfs_tar() -> Vec<u8> {
    let busybox = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("cannot read {BUSYBOX} (install busybox-static, see scripts/setup-test-host): {e}")
    });
    let mut t = Vec::new();
    for d in ["bin/", "etc/", "tmp/", "root/", "var/", "var/www/"] {
        tar_entry(
            &mut t,
            d,
            b'5',
            if d == "tmp/" { 0o1777 } else { 0o755 },
            "",
            &[],
        );
    }
    tar_entry(&mut t, "bin/busybox", b'0', 0o755, "", &busybox);
    for a in APPLETS {
        tar_entry(&mut t, &format!("bin/{a}"), b'2', 0o777, "busybox", &[]);
    }
    t.extend_from_slice(&[0u8; 1024]);
    t
}

pub fn tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, mode: u32, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, len: usize, s: &[u8]| {
        h[at..at + s.len().min(len)].copy_from_slice(&s[..s.len().min(len)]);
    };
    put(&mut h, 0, 100, name.as_bytes());
    put(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, 8, b"0000000\0");
    put(&mut h, 116, 8, b"0000000\0");
    put(&mut h, 124, 12, format!("{:011o}\0", data.len()).as_bytes());
    put(&mut h, 136, 12, b"00000000000\0");
    put(&mut h, 148, 8, b"        ");
    h[156] = kind;
    put(&mut h, 157, 100, link.as_bytes());
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawn `cmd` from one dedicated thread that lives as long as the process, with
/// PR_SET_PDEATHSIG=SIGTERM. The death signal fires when the *thread* that forked the child exits,
/// so forking from a short-lived test thread would stop a shared daemon as soon as the first test
/// that touched it finished.
fn spawn_daemon_process(cmd: Command) -> std::io::Result<Child> {
    spawn_tied(cmd, Signal::SIGTERM)
}

/// Spawn `cmd` so that it gets `death_signal` when the test process exits: from one dedicated
/// long-lived thread (see [`spawn_daemon_process`] for why), with PR_SET_PDEATHSIG.
pub fn spawn_tied(mut cmd: Command, death_signal: Signal) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        // Orphaned shims and containerd come back to us, so we can reap them (PID 1 here does not).
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("dockhand-test-spawner".into())
            .spawn(move || {
                for (cmd, reply) in rx {
                    let mut cmd = cmd;
                    let _ = reply.send(cmd.spawn());
                }
            })
            .unwrap();
        Mutex::new(tx)
    });
    let parent = std::process::id() as i32;
    // SAFETY: the closure only makes async-signal-safe system calls (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(death_signal)?;
            // The parent may have died between fork and prctl.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(std::io::Error::other("test process exited"));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// The shared daemon; a module-level static so the exit hook can stop it.
static SHARED: OnceLock<TestDaemon> = OnceLock::new();

/// The shared, read-only daemon: started once (on first use), stopped at process exit. Tests that
/// change a daemon (freeze, kill, fill, reconfigure) must start their own [`TestDaemon`].
/// The daemon.json of a host configured as a careful operator would: live-restore on (a daemon
/// restart does not stop every container) and rotated json-file logs. doctor's configuration
/// checks say ok on it; a default `{}` daemon gets their warnings.
pub const WELL_CONFIGURED: &str =
    r#"{"live-restore": true, "log-opts": {"max-size": "10m", "max-file": "3"}}"#;

/// The shared read-only daemon, well configured (see [`WELL_CONFIGURED`]), so a clean doctor
/// run against it is ok in every check. Tests must not change it.
pub fn shared() -> &'static TestDaemon {
    SHARED.get_or_init(|| TestDaemon::builder().daemon_json(WELL_CONFIGURED).start())
}

unsafe extern "C" {
    fn atexit(cb: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn at_exit() {
    // Both a normal return from main and the harness's process::exit run this.
    if let Some(d) = SHARED.get() {
        d.stop();
    }
    if let Some(s) = super::scratch_if_created() {
        super::remove_tree(s.dir.path());
    }
    procfs::reap_orphans();
}

/// Register [`at_exit`] once.
pub fn register_exit_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds out (it only reports).
        unsafe {
            atexit(at_exit);
        }
    });
}
