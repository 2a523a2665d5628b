//! A proxy in front of a test daemon's API socket that delays or holds requests by path: a real
//! daemon made to look slow or wedged to dockhand, without touching the daemon itself.
//!
//! [`ApiProxy::start`] listens on a unix socket of its own and forwards every connection to the
//! daemon's socket. It reads each request's head (HTTP/1.x, keep-alive or not), and before
//! forwarding it applies the first rule whose path matches: [`Stall::Delay`] waits, then
//! forwards; [`Stall::Forever`] holds the request until the rules change or the proxy is
//! dropped. `/_ping` always passes at once (it is what tells *wedged* from *frozen*). Paths are
//! matched without the query and without an API-version prefix (`/v1.41/info` is `/info`).
//! Responses flow back untouched.
//!
//! Drop stops it for good: every held request is released unanswered, every connection shut
//! down, every thread joined, the socket removed — also when the test panics.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::TempDir;

/// What the proxy does to a request before forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Forward it after this long.
    Delay(Duration),
    /// Never forward it (until the rules change or the proxy is dropped).
    Forever,
}

#[derive(Default)]
struct State {
    /// (path, stall), first match wins.
    rules: Vec<(String, Stall)>,
    /// Bumped on every rule change, so held requests look again.
    generation: u64,
    /// The request lines seen, in order (`GET /containers/json?all=1`).
    seen: Vec<String>,
}

struct Shared {
    upstream: PathBuf,
    stop: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    /// A clone of every open stream, to shut them down on drop.
    streams: Mutex<Vec<UnixStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn track(&self, s: &UnixStream) {
        if let Ok(c) = s.try_clone() {
            self.streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(c);
        }
    }

    fn spawn(self: &Arc<Self>, name: &str, f: impl FnOnce(Arc<Shared>) + Send + 'static) {
        let me = Arc::clone(self);
        let h = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(me))
            .expect("spawn a proxy thread");
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(h);
    }

    /// The stall for `path` under the current rules.
    fn rule_for(state: &State, path: &str) -> Option<Stall> {
        if path == "/_ping" {
            return None;
        }
        state
            .rules
            .iter()
            .find(|(p, _)| path == p || path.starts_with(&format!("{p}/")))
            .map(|(_, s)| *s)
    }

    /// Waits as the rules say for `path`; false when the proxy stopped meanwhile.
    fn wait_for(&self, path: &str) -> bool {
        let start = Instant::now();
        let mut st = self.state();
        loop {
            if self.stopped() {
                return false;
            }
            let until = match Self::rule_for(&st, path) {
                None => return true,
                Some(Stall::Delay(d)) => {
                    let left = d.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        return true;
                    }
                    left
                }
                Some(Stall::Forever) => Duration::from_secs(3600),
            };
            let generation = st.generation;
            let (g, _) = self
                .changed
                .wait_timeout_while(st, until, |s| {
                    s.generation == generation && !self.stop.load(Ordering::SeqCst)
                })
                .unwrap_or_else(|e| e.into_inner());
            st = g;
        }
    }
}

/// The proxy. See the module docs.
pub struct ApiProxy {
    dir: TempDir,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ApiProxy {
    /// Starts a proxy forwarding to the unix socket `upstream` (a test daemon's socket).
    pub fn start(upstream: &Path) -> ApiProxy {
        let dir = TempDir::new();
        let socket = dir.join("proxy.sock");
        let listener = UnixListener::bind(&socket)
            .unwrap_or_else(|e| panic!("bind {}: {e}", socket.display()));
        // Polled, so that drop can stop it without a connection to wake it.
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::new(Shared {
            upstream: upstream.to_path_buf(),
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            streams: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("api-proxy-accept".into())
            .spawn(move || accept_loop(&s, &listener))
            .expect("spawn the proxy's acceptor");
        ApiProxy {
            dir,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("proxy.sock")
    }

    /// `unix:///tmp/dockhand-test-…/proxy.sock`, for `--host`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Delay requests for `path` (e.g. `/containers/json`) by `d` from now on.
    pub fn delay(&self, path: &str, d: Duration) -> &Self {
        self.set(path, Stall::Delay(d))
    }

    /// Hold requests for `path` from now on, unanswered.
    pub fn hold(&self, path: &str) -> &Self {
        self.set(path, Stall::Forever)
    }

    /// Forward everything at once again; held requests go through now.
    pub fn pass_all(&self) {
        let mut st = self.shared.state();
        st.rules.clear();
        st.generation += 1;
        self.shared.changed.notify_all();
    }

    fn set(&self, path: &str, stall: Stall) -> &Self {
        let mut st = self.shared.state();
        st.rules.retain(|(p, _)| p != path);
        st.rules.push((path.to_string(), stall));
        st.generation += 1;
        self.shared.changed.notify_all();
        self
    }

    /// The request lines seen so far (`GET /containers/json?all=1`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.state().seen.clone()
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _st = self.shared.state();
            self.shared.changed.notify_all();
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        // Blocked reads return once their stream is shut down.
        for s in self
            .shared
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
        let workers: Vec<JoinHandle<()>> = self
            .shared
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for w in workers {
            let _ = w.join();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &UnixListener) {
    while !shared.stopped() {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                let Ok(upstream) = UnixStream::connect(&shared.upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                shared.track(&client);
                shared.track(&upstream);
                // A connection accepted while stopping was not seen by drop's shutdown.
                if shared.stopped() {
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = upstream.shutdown(Shutdown::Both);
                    break;
                }
                let (c2, u2) = match (client.try_clone(), upstream.try_clone()) {
                    (Ok(c), Ok(u)) => (c, u),
                    _ => continue,
                };
                shared.spawn("api-proxy-down", move |_| copy_back(u2, c2));
                shared.spawn("api-proxy-up", move |s| forward(&s, client, upstream));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The daemon's answers, back to the client as they come.
fn copy_back(mut upstream: UnixStream, mut client: UnixStream) {
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
}

/// The client's requests, one head at a time, each stalled as the rules say, then forwarded
/// with its body.
fn forward(shared: &Shared, mut client: UnixStream, mut upstream: UnixStream) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            match client.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    let _ = upstream.shutdown(Shutdown::Write);
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let line = head.lines().next().unwrap_or_default().to_string();
        let path = normalise(line.split(' ').nth(1).unwrap_or_default());
        shared.state().seen.push(line);
        if !shared.wait_for(&path) {
            return;
        }
        let lower = head.to_ascii_lowercase();
        let chunked = lower.contains("transfer-encoding: chunked");
        let length: usize = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if upstream.write_all(&buf[..head_end]).is_err() {
            return;
        }
        buf.drain(..head_end);
        if chunked {
            // Framing we do not parse: the rest of this connection is passed through as is.
            let _ = upstream.write_all(&buf);
            let _ = std::io::copy(&mut client, &mut upstream);
            let _ = upstream.shutdown(Shutdown::Write);
            return;
        }
        // The body: what is buffered already, then the rest from the client.
        let mut left = length;
        let take = left.min(buf.len());
        if upstream.write_all(&buf[..take]).is_err() {
            return;
        }
        buf.drain(..take);
        left -= take;
        while left > 0 {
            match client.read(&mut chunk[..left.min(16 * 1024)]) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if upstream.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            }
        }
    }
}

/// A request target without its query and API-version prefix: `/v1.41/info?x=1` → `/info`.
fn normalise(target: &str) -> String {
    let path = target.split('?').next().unwrap_or_default();
    if let Some(rest) = path.strip_prefix("/v")
        && let Some((version, tail)) = rest.split_once('/')
        && !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return format!("/{tail}");
    }
    path.to_string()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn paths_without_query_or_version() {
        for (target, want) in [
            ("/_ping", "/_ping"),
            ("/containers/json?all=1", "/containers/json"),
            ("/v1.41/info", "/info"),
            ("/v1.41/containers/abc/json", "/containers/abc/json"),
            ("/volumes", "/volumes"),
            ("/version", "/version"),
        ] {
            assert_eq!(normalise(target), want, "{target}");
        }
    }
}
