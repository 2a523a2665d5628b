//! A real image registry on loopback, behind a TCP proxy that can be frozen mid-blob: the fixture
//! for stalled pulls (a blob that stops mid-way leaves `docker pull` waiting for ever).
//!
//! - [`Registry`] runs Debian's `docker-registry` (never its system service) with its own config:
//!   filesystem storage under a test dir, listening on `127.0.0.1:<free port>`.
//! - [`FreezableProxy`] forwards `127.0.0.1:<free port>` to a target, copying bytes in small
//!   chunks from std threads. [`FreezableProxy::freeze`] stops the copying but keeps every
//!   connection open — exactly what a registry or network that stops sending looks like to
//!   dockerd, whose registry transport has no body-read timeout. It can also freeze by itself
//!   after a number of response bytes ([`FreezableProxy::freeze_after`]), so a pull stops in the
//!   middle of a blob, and throttle ([`FreezableProxy::throttle`]) so a pull is slow but alive.
//! - [`seed_random_image`] pushes an image with one big random layer; [`PullClient`] runs
//!   `docker pull` in the background; [`blob_files`] lists the downloads (dockerd's `GetImageBlob*`
//!   files, or the ingests containerd holds open under the containerd image store).
//!
//! Everything stays on 127.0.0.0/8: 127.0.0.0/8 registries are insecure-allowed by default, so
//! dockerd talks plain HTTP to them, and Go's HTTP client never sends loopback through a proxy.
//!
//! Typical use (see tests/it/checks_pulls.rs):
//! ```ignore
//! let registry = Registry::start();
//! let proxy = FreezableProxy::start(registry.addr());
//! let image = format!("{}/big:1", proxy.addr());
//! seed_random_image(&d, &image, 32); // pushes through the proxy, then removes it locally
//! proxy.freeze_after(8 << 20);
//! let pull = PullClient::start(&d, &image);
//! // … dockerd now holds <data-root>/tmp/GetImageBlob<n> open at a fixed size …
//! pull.kill();
//! ```

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{TempDir, TestDaemon, run};

/// Debian's registry binary (package `docker-registry`, see scripts/setup-test-host).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long the registry may take to answer `GET /v2/`.
const REGISTRY_START_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on pushing the seed image.
const PUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// A private `docker-registry` on `127.0.0.1:<port>`, storage under its own test dir. Stopped
/// (SIGTERM, then SIGKILL, by pid) and its dir removed on drop. Also killed if the test process
/// dies (PR_SET_PDEATHSIG).
#[derive(Debug)]
pub struct Registry {
    dir: TempDir,
    addr: SocketAddr,
    child: Mutex<Option<Child>>,
}

impl Registry {
    /// Start a registry and wait until `GET /v2/` answers 200; panics with its log otherwise.
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that wants basic auth: `htpasswd` is one `user:bcrypt-hash` line (the
    /// registry accepts bcrypt only).
    pub fn start_with_htpasswd(htpasswd: &str) -> Registry {
        Registry::start_with(Some(htpasswd))
    }

    fn start_with(htpasswd: Option<&str>) -> Registry {
        super::scratch(); // registers the exit hook; sweeps stale dirs
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: install the docker-registry package (scripts/setup-test-host)"
        );
        // The free port is found by binding port 0 and letting go, so another process could take
        // it before the registry binds: retry with a fresh port (and dir) when the start fails.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let reg = Registry::spawn(htpasswd);
            match reg.wait_until_up() {
                Ok(()) => return reg,
                Err(e) => {
                    failures.push(format!("{e}\n--- registry.log ---\n{}", reg.log()));
                    reg.stop();
                }
            }
        }
        panic!("docker-registry did not start:\n{}", failures.join("\n"));
    }

    fn spawn(htpasswd: Option<&str>) -> Registry {
        let dir = TempDir::new();
        let addr = free_loopback_addr();
        let auth = match htpasswd {
            Some(line) => {
                let f = dir.write("htpasswd", format!("{line}\n"));
                format!(
                    "auth:\n  htpasswd:\n    realm: dockhand-test\n    path: {}\n",
                    f.display()
                )
            }
            None => String::new(),
        };
        let config = dir.write(
            "config.yml",
            format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n{auth}",
                dir.join("storage").display()
            ),
        );
        let log = File::create(dir.join("registry.log")).unwrap();
        let mut cmd = Command::new(REGISTRY_BIN);
        cmd.arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        // The environment must not point it at another config (REGISTRY_* overrides the file).
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child =
            spawn_with_deathsig(cmd).unwrap_or_else(|e| panic!("cannot start {REGISTRY_BIN}: {e}"));
        Registry {
            dir,
            addr,
            child: Mutex::new(Some(child)),
        }
    }

    fn wait_until_up(&self) -> Result<(), String> {
        let deadline = Instant::now() + REGISTRY_START_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut().as_mut().and_then(|c| c.try_wait().ok()?) {
                return Err(format!("docker-registry exited during start ({status})"));
            }
            let err = match http_get(self.addr, "/v2/", Duration::from_secs(2)) {
                // 401: up, and asking for the credentials it was configured with.
                Ok((200 | 401, _)) => return Ok(()),
                Ok((code, _)) => format!("GET /v2/ answered {code}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "GET http://{}/v2/ did not answer 200 within {REGISTRY_START_TIMEOUT:?}: {err}",
                    self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn child_mut(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `127.0.0.1:<port>` the registry listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registry's pid, while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.child_mut().as_ref().map(|c| c.id() as i32)
    }

    /// Its log (warnings and errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Stop the registry (SIGTERM, then SIGKILL after 5 s), by pid. Idempotent.
    pub fn stop(&self) {
        let Some(mut child) = self.child_mut().take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        if matches!(child.try_wait(), Ok(None)) {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        let _ = child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_loopback_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap()
}

/// `GET path` over HTTP/1.0 on `addr`: the status code and body, bounded by `timeout`.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((code, body))
}

/// Spawn tied to the test process with PR_SET_PDEATHSIG=SIGKILL, from the harness's long-lived
/// spawner thread: a registry shared by several tests must outlive the test that started it.
fn spawn_with_deathsig(cmd: Command) -> std::io::Result<Child> {
    super::daemon::spawn_tied(cmd, Signal::SIGKILL)
}

/// Bytes copied per read: small, so a freeze or the throttle takes effect within a few KiB.
const CHUNK: usize = 16 * 1024;
/// How often a paused or idle copy thread looks at the flags again.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug)]
struct ProxyState {
    target: SocketAddr,
    frozen: AtomicBool,
    stop: AtomicBool,
    /// Freeze once `down` reaches this many bytes (u64::MAX: never).
    freeze_at: AtomicU64,
    /// Response bytes per second, all connections together (0: unlimited).
    rate: AtomicU64,
    /// Bytes forwarded target → client (responses) and client → target (requests).
    down: AtomicU64,
    up: AtomicU64,
    connections: AtomicU64,
    /// Clones of every socket, to shut them down on stop.
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A TCP proxy on `127.0.0.1:<free port>` to a target, that can stop forwarding without closing
/// anything. Threads and sockets are stopped and closed on drop (or [`FreezableProxy::stop`]).
#[derive(Debug)]
pub struct FreezableProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl FreezableProxy {
    /// Listen on a free loopback port and forward every connection to `target` (loopback only).
    pub fn start(target: SocketAddr) -> FreezableProxy {
        assert!(
            target.ip().is_loopback(),
            "the test proxy only forwards to loopback, not {target}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        // Non-blocking accept, polled, so stop() needs no wake-up connection.
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ProxyState {
            target,
            frozen: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            freeze_at: AtomicU64::new(u64::MAX),
            rate: AtomicU64::new(0),
            down: AtomicU64::new(0),
            up: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            sockets: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let st = Arc::clone(&state);
        let accept = std::thread::Builder::new()
            .name(format!("proxy-{addr}"))
            .spawn(move || accept_loop(&listener, &st))
            .unwrap();
        FreezableProxy {
            addr,
            state,
            accept: Mutex::new(Some(accept)),
        }
    }

    /// `127.0.0.1:<port>` clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop forwarding in both directions. Connections stay open; bytes already read from a
    /// socket are held, not dropped, until [`FreezableProxy::thaw`].
    pub fn freeze(&self) {
        self.state.frozen.store(true, Ordering::SeqCst);
    }

    /// Forward again.
    pub fn thaw(&self) {
        self.state.freeze_at.store(u64::MAX, Ordering::SeqCst);
        self.state.frozen.store(false, Ordering::SeqCst);
    }

    pub fn is_frozen(&self) -> bool {
        self.state.frozen.load(Ordering::SeqCst)
    }

    /// Freeze by itself once `n` more response bytes (target → client, all connections) have
    /// been forwarded: set this before a pull of a layer bigger than `n`, and the pull stops in
    /// the middle of that blob.
    pub fn freeze_after(&self, n: u64) {
        let now = self.state.down.load(Ordering::SeqCst);
        self.state
            .freeze_at
            .store(now.saturating_add(n), Ordering::SeqCst);
    }

    /// Forward at most `bytes_per_sec` of responses (all connections together); 0 lifts the
    /// limit.
    pub fn throttle(&self, bytes_per_sec: u64) {
        self.state.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Response bytes forwarded so far (target → client).
    pub fn forwarded_bytes(&self) -> u64 {
        self.state.down.load(Ordering::SeqCst)
    }

    /// Request bytes forwarded so far (client → target).
    pub fn forwarded_request_bytes(&self) -> u64 {
        self.state.up.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Wait until the proxy has frozen (by [`FreezableProxy::freeze_after`]); false on timeout.
    pub fn wait_frozen(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.is_frozen() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }

    /// Close every connection and join every thread. Idempotent.
    pub fn stop(&self) {
        self.state.stop.store(true, Ordering::SeqCst);
        for s in lock(&self.state.sockets).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = lock(&self.accept).take() {
            let _ = h.join();
        }
        // The accept thread is gone: no new copy threads can appear.
        let threads: Vec<JoinHandle<()>> = lock(&self.state.threads).drain(..).collect();
        for h in threads {
            let _ = h.join();
        }
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: &TcpListener, st: &Arc<ProxyState>) {
    while !st.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => {
                eprintln!("test proxy: accept: {e}");
                std::thread::sleep(POLL);
                continue;
            }
        };
        st.connections.fetch_add(1, Ordering::SeqCst);
        let Ok(upstream) = TcpStream::connect_timeout(&st.target, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let pair = (|| {
            client.set_nonblocking(false)?;
            for s in [&client, &upstream] {
                s.set_nodelay(true)?;
                // Reads wake up regularly so a stop is noticed.
                s.set_read_timeout(Some(Duration::from_millis(100)))?;
            }
            let mut sockets = lock(&st.sockets);
            sockets.push(client.try_clone()?);
            sockets.push(upstream.try_clone()?);
            Ok::<_, std::io::Error>((client.try_clone()?, upstream.try_clone()?, client, upstream))
        })();
        let Ok((c_read, u_read, c_write, u_write)) = pair else {
            continue;
        };
        let mut threads = lock(&st.threads);
        for (src, dst, down) in [(c_read, u_write, false), (u_read, c_write, true)] {
            let st = Arc::clone(st);
            if let Ok(h) = std::thread::Builder::new()
                .name("proxy-copy".into())
                .spawn(move || copy(src, dst, down, &st))
            {
                threads.push(h);
            }
        }
    }
}

/// Copy `src` to `dst` chunk by chunk, pausing while frozen; `down` is the response direction,
/// which is counted, throttled, and may trigger the freeze.
fn copy(mut src: TcpStream, mut dst: TcpStream, down: bool, st: &ProxyState) {
    let mut buf = vec![0u8; CHUNK];
    let stopped = || st.stop.load(Ordering::SeqCst);
    while !stopped() {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut off = 0;
        while off < n {
            while st.frozen.load(Ordering::SeqCst) && !stopped() {
                std::thread::sleep(POLL);
            }
            if stopped() {
                return;
            }
            let mut piece = n - off;
            if down {
                let at = st.freeze_at.load(Ordering::SeqCst);
                let done = st.down.load(Ordering::SeqCst);
                if at != u64::MAX {
                    let allowed = at.saturating_sub(done);
                    if allowed == 0 {
                        st.frozen.store(true, Ordering::SeqCst);
                        st.freeze_at.store(u64::MAX, Ordering::SeqCst);
                        continue;
                    }
                    piece = piece.min(usize::try_from(allowed).unwrap_or(usize::MAX));
                }
                let rate = st.rate.load(Ordering::SeqCst);
                if rate > 0 {
                    std::thread::sleep(Duration::from_secs_f64(piece as f64 / rate as f64));
                }
            }
            if dst.write_all(&buf[off..off + piece]).is_err() {
                return;
            }
            off += piece;
            let counter = if down { &st.down } else { &st.up };
            counter.fetch_add(piece as u64, Ordering::SeqCst);
        }
    }
    // Pass the end of stream on, so the other side sees a clean close.
    let _ = dst.shutdown(Shutdown::Write);
}

/// Make an image with one layer of `mb` MiB from /dev/urandom (incompressible: the blob is as
/// big as the layer) on `d`, push it as `reference` (e.g. `127.0.0.1:<proxy port>/big:1`), then
/// remove the image and its container from `d`, so that a pull of `reference` on `d` downloads
/// the big blob again (busybox's layer stays and is not downloaded).
pub fn seed_random_image(d: &TestDaemon, reference: &str, mb: u32) {
    let name = format!("seed-{}", std::process::id());
    d.docker_ok([
        "run",
        "--name",
        &name,
        "busybox:latest",
        "dd",
        "if=/dev/urandom",
        "of=/blob",
        "bs=1048576",
        &format!("count={mb}"),
    ]);
    d.docker_ok(["commit", &name, reference]);
    let mut cmd = d.docker_command();
    cmd.args(["push", reference]);
    let r = run(cmd, PUSH_TIMEOUT);
    assert!(
        r.success(),
        "docker push {reference} failed\n{r}\n--- dockerd.log ---\n{}",
        d.log_tail(30)
    );
    d.docker_ok(["rm", &name]);
    d.docker_ok(["rmi", reference]);
}

/// A `docker pull` running in the background against a [`TestDaemon`]; killed by pid on
/// [`PullClient::kill`] or drop. When the client goes away, dockerd cancels the transfer and
/// removes its temp file.
#[derive(Debug)]
pub struct PullClient {
    child: Mutex<Option<Child>>,
    log: PathBuf,
    _dir: TempDir,
}

impl PullClient {
    /// Start `docker pull reference` on `d`; its output goes to a log file.
    pub fn start(d: &TestDaemon, reference: &str) -> PullClient {
        let dir = TempDir::new();
        let log = dir.join("pull.log");
        let out = File::create(&log).unwrap();
        let mut cmd = d.docker_command();
        cmd.args(["pull", reference])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run docker pull {reference}: {e}"));
        PullClient {
            child: Mutex::new(Some(child)),
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        lock(&self.child).as_ref().map(|c| c.id() as i32)
    }

    /// The exit status, if the pull has ended.
    pub fn try_wait(&self) -> Option<std::process::ExitStatus> {
        lock(&self.child).as_mut().and_then(|c| c.try_wait().ok()?)
    }

    /// What the client printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL the client (by pid) and reap it. Idempotent.
    pub fn kill(&self) {
        if let Some(mut c) = lock(&self.child).take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
            let _ = c.wait();
        }
    }
}

impl Drop for PullClient {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A download file: a `GetImageBlob*` file in dockerd's tmp dir, or (under the containerd image
/// store) an ingest's `data` that containerd holds open.
#[derive(Debug, Clone)]
pub struct BlobFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// The ingest directory of the containerd a daemon on `data_root` starts for itself.
pub fn ingest_dir(data_root: &Path) -> PathBuf {
    data_root.join("containerd/daemon/io.containerd.content.v1.content/ingest")
}

/// The ingests' `data` files under `data_root` that some process holds open: downloads in
/// progress under the containerd image store (containerd keeps an abandoned one, closed, for a
/// later pull to resume — that one is no download).
fn open_ingests(data_root: &Path) -> Vec<PathBuf> {
    let dir = ingest_dir(data_root);
    if !dir.is_dir() {
        return Vec::new();
    }
    let mut found = std::collections::BTreeSet::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && target.starts_with(&dir)
                && target.file_name().is_some_and(|n| n == "data")
            {
                found.insert(target);
            }
        }
    }
    found.into_iter().collect()
}

/// The download files under `data_root`, by name: the `GetImageBlob*` files in `<data_root>/tmp`
/// (dockerd sets TMPDIR there), then the open ingests of the daemon's own containerd.
pub fn blob_files(data_root: &Path) -> Vec<BlobFile> {
    let mut v: Vec<BlobFile> = std::fs::read_dir(data_root.join("tmp"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("GetImageBlob"))
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some(BlobFile {
                        path: e.path(),
                        bytes: m.len(),
                        modified: m.modified().ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    v.extend(open_ingests(data_root).into_iter().filter_map(|path| {
        let m = std::fs::metadata(&path).ok()?;
        Some(BlobFile {
            path,
            bytes: m.len(),
            modified: m.modified().ok()?,
        })
    }));
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

/// Wait until a download file (see [`blob_files`]) exists under `data_root` with more than `min_bytes`;
/// returns it, or None after `timeout`.
pub fn wait_for_blob(data_root: &Path, min_bytes: u64, timeout: Duration) -> Option<BlobFile> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(f) = blob_files(data_root)
            .into_iter()
            .find(|f| f.bytes > min_bytes)
        {
            return Some(f);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until every download file under `data_root` has kept its size for `quiet`; returns
/// them, or None after `timeout`.
pub fn wait_for_blob_stall(
    data_root: &Path,
    quiet: Duration,
    timeout: Duration,
) -> Option<Vec<BlobFile>> {
    let deadline = Instant::now() + timeout;
    let sizes = |fs: &[BlobFile]| {
        fs.iter()
            .map(|f| (f.path.clone(), f.bytes))
            .collect::<Vec<_>>()
    };
    let mut last = sizes(&blob_files(data_root));
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = blob_files(data_root);
        let s = sizes(&now);
        if s != last {
            last = s;
            since = Instant::now();
        } else if !now.is_empty() && since.elapsed() >= quiet {
            return Some(now);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// Wait until no download file is left under `data_root`; false after `timeout`.
pub fn wait_for_no_blob(data_root: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !blob_files(data_root).is_empty() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}
