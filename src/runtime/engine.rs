//! The engine API client — the only one: reads, writes and streams, each under a deadline
//! visible in its signature, with one error type whose variants the health checks branch on.
//!
//! It is built on hyper's HTTP/1.1 client connection (see `http`), one connection per call. One
//! deadline covers connect, headers and the whole body of a call, because a frozen daemon still
//! accepts connections and one that sends headers then stalls would hang a client whose timeout
//! stops at the headers. Streams (pull progress, events) put connect and headers under the
//! call's deadline and then each piece of the body under its own. Bodies are read as raw JSON
//! where the API changes between versions; the caller picks the type.
//!
//! # Why dockhand's own client, not bollard
//!
//! bollard (0.21, the Rust Docker client most tools use) was the client here once; it was
//! replaced for three reasons a health tool cannot work around:
//!
//! - **The version.** bollard never puts `/vX.Y` in a request path, so the daemon answers in
//!   its own newest format, while bollard's typed models are those of one API version (1.53):
//!   against an older daemon some typed calls come back empty *without an error* — `df()` is
//!   `{}` on Debian's 20.10 (API 1.41). Here version-sensitive answers are read as raw JSON, with
//!   the version the daemon reports (its `Api-Version` header) at hand: `/system/df` and
//!   `/info` are read in the shapes of every API from 1.41 to 1.56 and Podman's
//!   (`tests/fixtures/api/`, fed through the readers by `inventory::shapes` and
//!   `facts::storage_map::shapes`).
//! - **The phases.** doctor's daemon tiers (ping, list, info) tell a daemon that does not accept
//!   (`connect`) from one that accepts and never answers (`headers`) and from one that stalls
//!   mid-answer (`body`): [`Phases`] times each, per call. bollard exposes none of them, and its
//!   timeout covers the response headers only (a body that stalls hangs the read) and is cut
//!   to whole seconds (`with_timeout(500 ms)` is 0).
//! - **The list.** `list_containers` returns a `Vec` decoded after the whole body is read.
//!   [`Engine::get_json_array`] decodes each element as it arrives and keeps only the fields
//!   read. Figures, with where each comes from: listing 10,000 containers takes the engine
//!   1.7–2.4 s on a healthy 2-core host (docs/checks/daemon.md, "What slow means"); the body is
//!   then about 11 MB (1,076 bytes per container in `tests/fixtures/api/docker-1.41/
//!   containers.json`, times 10,000: an estimate, not a measurement); decoding it as it arrives
//!   took doctor's peak RSS on the 10,000-container seed of `scripts/bench-doctor` from 77 to
//!   43 MiB (CHANGELOG, "doctor and df hold less per container"; 49 MiB with glibc's default
//!   arenas, see `runtime::one_malloc_arena`), under that seed's 60 MiB target.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::endpoint::Endpoint;
use super::http::{self, Answer, BadRequest, Socket};
pub use super::http::{Method, Phases, Response};
use crate::util::human_duration;

/// How a call to the engine ended when it did not answer. Each variant is one sentence for the
/// operator (the `Display`), and the health checks branch on the variant.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no socket at {path}: the daemon is not running, or listens elsewhere (set --host or DOCKER_HOST)"
    )]
    NoSocket { path: PathBuf },

    #[error("permission denied on {path}: run as root or join the docker group")]
    PermissionDenied { path: PathBuf },

    #[error(
        "connection refused on {endpoint}: nothing is listening there; the daemon is not running or died without removing its socket"
    )]
    Refused { endpoint: String },

    #[error("could not connect to {endpoint} within {}", human_duration(*waited))]
    ConnectTimeout { endpoint: String, waited: Duration },

    #[error("frozen: accepted the connection but did not answer within {}", human_duration(*waited))]
    Frozen { endpoint: String, waited: Duration },

    /// Not asked: the process serving the socket is stopped by a signal (SIGSTOP), so it cannot
    /// answer until it is continued, and waiting out a deadline would tell nothing more.
    #[error(
        "not asked: the daemon's process (pid {pid}) is stopped (state {state}) and answers nothing until it is continued"
    )]
    Stopped { pid: i32, state: char },

    #[error("the engine answered {status} to {path}: {message}")]
    Api {
        path: String,
        status: u16,
        message: String,
    },

    #[error("the engine's answer to {path} could not be read: {why}")]
    Protocol { path: String, why: String },

    #[error("talking to {endpoint} failed: {why}")]
    Io { endpoint: String, why: String },
}

impl EngineError {
    /// A short word for the kind of failure, used in JSON evidence.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NoSocket { .. } => "no-socket",
            EngineError::PermissionDenied { .. } => "permission",
            EngineError::Refused { .. } => "refused",
            EngineError::ConnectTimeout { .. } => "connect-timeout",
            EngineError::Frozen { .. } => "timeout",
            EngineError::Stopped { .. } => "stopped",
            EngineError::Api { .. } => "api",
            EngineError::Protocol { .. } => "protocol",
            EngineError::Io { .. } => "io",
        }
    }

    /// The engine's HTTP status, when it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 409: the object is in use (a container running, an image a container uses). Callers that
    /// remove things skip it and say so.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 404: the object is gone (removed since the plan was made, or never existed).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// A successful answer, how long it took, and how long each phase took.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub elapsed: Duration,
    pub phases: Phases,
}

/// The engine client. Cheap to create and to clone: nothing connects until a call, and each call
/// opens its own connection and closes it when done.
#[derive(Debug, Clone)]
pub struct Engine {
    endpoint: Endpoint,
    timeout: Duration,
}

impl Engine {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Engine {
        Engine { endpoint, timeout }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The per-call deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same endpoint with another per-call deadline: removing a big container or pruning
    /// images can take longer than a read.
    pub fn with_timeout(&self, timeout: Duration) -> Engine {
        Engine {
            endpoint: self.endpoint.clone(),
            timeout,
        }
    }

    /// One GET under the deadline: connect, headers and body share it. A non-2xx status is an
    /// `Api` error carrying the engine's own message.
    pub async fn get(&self, path: &str) -> Result<Timed<Response>, EngineError> {
        self.send_with_headers(Method::Get, path, None, &[]).await
    }

    /// `GET /_ping`: takes no locks in the daemon, so it tells down/frozen from wedged.
    pub async fn ping(&self) -> Result<Timed<Response>, EngineError> {
        self.get("/_ping").await
    }

    /// A GET whose body is JSON, decoded into `T` (use `serde_json::Value` for raw access).
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<Timed<T>, EngineError> {
        let r = self.get(path).await?;
        let value = serde_json::from_slice(&r.value.body).map_err(|e| EngineError::Protocol {
            path: path.to_string(),
            why: e.to_string(),
        })?;
        Ok(Timed {
            value,
            elapsed: r.elapsed,
            phases: r.phases,
        })
    }

    /// A GET whose body is a JSON array, each element decoded into `T` as soon as it has
    /// arrived (see [`super::json_array`]): the body is never held whole, only the decoded
    /// elements — for the lists that grow with the host (10,000 containers are 7 MB of JSON).
    /// One deadline covers connect, headers and the whole body, as for [`Engine::get`].
    pub async fn get_json_array<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Timed<Vec<T>>, EngineError> {
        use super::json_array::{ArraySplitter, Fault};
        let deadline = Instant::now() + self.timeout;
        let (mut answer, start, mut phases) =
            self.open(Method::Get, path, None, &[], deadline).await?;
        let body_start = Instant::now();
        if !(200..300).contains(&answer.status) {
            let status = answer.status;
            let body = match tokio::time::timeout_at(deadline, answer.into_response()).await {
                Ok(Ok(r)) => r.body,
                Ok(Err(e)) => return Err(self.answer_error(path, &e)),
                Err(_) => return Err(self.frozen(self.timeout)),
            };
            return Err(EngineError::Api {
                path: path.to_string(),
                status,
                message: api_message(status, &body),
            });
        }
        let protocol = |why: String| EngineError::Protocol {
            path: path.to_string(),
            why,
        };
        let read = async {
            let mut split = ArraySplitter::default();
            let mut out: Vec<T> = Vec::new();
            while let Some(piece) = answer
                .chunk()
                .await
                .map_err(|e| self.answer_error(path, &e))?
            {
                split
                    .feed(&piece, |elem| {
                        if out.len() >= MAX_ELEMENTS {
                            return Err(format!(
                                "the list has more than {MAX_ELEMENTS} elements; no host has that many"
                            ));
                        }
                        out.push(serde_json::from_slice(elem).map_err(|e| e.to_string())?);
                        Ok(())
                    })
                    .map_err(|f| match f {
                        Fault::Frame(why) => protocol(why.to_string()),
                        Fault::Elem(e) => protocol(e),
                    })?;
            }
            split.finish().map_err(|why| protocol(why.to_string()))?;
            // Grown by doubling: give back what the last doubling left unused.
            out.shrink_to_fit();
            Ok(out)
        };
        let value = match tokio::time::timeout_at(deadline, read).await {
            Ok(r) => r?,
            Err(_) => return Err(self.frozen(self.timeout)),
        };
        phases.body = body_start.elapsed();
        Ok(Timed {
            value,
            elapsed: start.elapsed(),
            phases,
        })
    }

    /// One request under the deadline, with an optional JSON body (sent as
    /// `application/json`): the writes — `DELETE /containers/{id}`, `POST /images/prune`,
    /// `POST /containers/{id}/stop`. A non-2xx status is an `Api` error with the engine's
    /// message; note the engine answers 304 to stopping a stopped container.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Timed<Response>, EngineError> {
        self.send_with_headers(method, path, body, &[]).await
    }

    /// [`Engine::send`] with extra request headers (`X-Registry-Auth` for pulls).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Timed<Response>, EngineError> {
        let deadline = Instant::now() + self.timeout;
        let (answer, start, mut phases) = self.open(method, path, body, headers, deadline).await?;
        let body_start = Instant::now();
        let resp = match tokio::time::timeout_at(deadline, answer.into_response()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(self.answer_error(path, &e)),
            Err(_) => return Err(self.frozen(self.timeout)),
        };
        phases.body = body_start.elapsed();
        if resp.truncated {
            return Err(EngineError::Protocol {
                path: path.to_string(),
                why: format!(
                    "the answer is longer than {} MiB; an engine's answers are a few megabytes",
                    super::http::MAX_BODY >> 20
                ),
            });
        }
        if !(200..300).contains(&resp.status) {
            return Err(EngineError::Api {
                path: described(method, path),
                status: resp.status,
                message: api_message(resp.status, &resp.body),
            });
        }
        Ok(Timed {
            value: resp,
            elapsed: start.elapsed(),
            phases,
        })
    }

    /// Starts a request whose body is read as it comes: connect and headers are under the
    /// engine's deadline, then each piece of the body under `chunk_deadline` — pull progress and
    /// the event stream, which may rightly run for minutes but must never stall unnoticed. A
    /// non-2xx status is an `Api` error (its body read under the engine's deadline). Dropping the
    /// stream closes the connection: that is how a stalled pull is abandoned.
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        chunk_deadline: Duration,
    ) -> Result<BodyStream, EngineError> {
        let deadline = Instant::now() + self.timeout;
        let (answer, _, phases) = self.open(method, path, body, headers, deadline).await?;
        if !(200..300).contains(&answer.status) {
            let status = answer.status;
            let body = match tokio::time::timeout_at(deadline, answer.into_response()).await {
                Ok(Ok(r)) => r.body,
                Ok(Err(e)) => return Err(self.answer_error(path, &e)),
                Err(_) => return Err(self.frozen(self.timeout)),
            };
            return Err(EngineError::Api {
                path: described(method, path),
                status,
                message: api_message(status, &body),
            });
        }
        Ok(BodyStream {
            answer,
            path: path.to_string(),
            endpoint: self.endpoint.to_string(),
            chunk_deadline,
            phases,
            pending: Vec::new(),
            ended: false,
        })
    }

    /// Connects and waits for the answer's headers, both before `deadline`.
    async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<(Answer, Instant, Phases), EngineError> {
        let req = http::build(method, path, body, headers).map_err(|BadRequest(why)| {
            EngineError::Io {
                endpoint: self.endpoint.to_string(),
                why,
            }
        })?;
        let start = Instant::now();
        let socket = match tokio::time::timeout_at(deadline, Socket::connect(&self.endpoint)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(self.connect_error(e)),
            Err(_) => {
                return Err(EngineError::ConnectTimeout {
                    endpoint: self.endpoint.to_string(),
                    waited: self.timeout,
                });
            }
        };
        let connect = start.elapsed();
        let answer = match tokio::time::timeout_at(deadline, http::exchange(socket, req)).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(self.answer_error(path, &e)),
            Err(_) => return Err(self.frozen(self.timeout)),
        };
        let phases = Phases {
            connect,
            headers: start.elapsed() - connect,
            body: Duration::ZERO,
        };
        Ok((answer, start, phases))
    }

    fn frozen(&self, waited: Duration) -> EngineError {
        EngineError::Frozen {
            endpoint: self.endpoint.to_string(),
            waited,
        }
    }

    fn answer_error(&self, path: &str, e: &hyper::Error) -> EngineError {
        answer_error(&self.endpoint.to_string(), path, e)
    }

    fn connect_error(&self, e: io::Error) -> EngineError {
        let endpoint = self.endpoint.to_string();
        let path = self
            .endpoint
            .socket_path()
            .map(PathBuf::from)
            .unwrap_or_default();
        match e.kind() {
            io::ErrorKind::NotFound => EngineError::NoSocket { path },
            io::ErrorKind::PermissionDenied => EngineError::PermissionDenied { path },
            io::ErrorKind::ConnectionRefused => EngineError::Refused { endpoint },
            _ => EngineError::Io {
                endpoint,
                why: e.to_string(),
            },
        }
    }
}

/// How an error names the request: the path alone for a read, the method too for a write.
fn described(method: Method, path: &str) -> String {
    match method {
        Method::Get => path.to_string(),
        m => format!("{m} {path}"),
    }
}

/// A failure after the connection was made. A body cut short or malformed framing is the
/// engine's answer going wrong (`Protocol`); a reset or another socket error is `Io`.
fn answer_error(endpoint: &str, path: &str, e: &hyper::Error) -> EngineError {
    let protocol = |why: String| EngineError::Protocol {
        path: path.to_string(),
        why,
    };
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::UnexpectedEof => {
                    protocol("the engine closed the connection mid-body".to_string())
                }
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                    protocol(io.to_string())
                }
                _ => EngineError::Io {
                    endpoint: endpoint.to_string(),
                    why: io.to_string(),
                },
            };
        }
        src = s.source();
    }
    if e.is_incomplete_message() {
        protocol("the engine closed the connection before answering".to_string())
    } else if e.is_parse() {
        protocol(e.to_string())
    } else {
        EngineError::Io {
            endpoint: endpoint.to_string(),
            why: e.to_string(),
        }
    }
}

/// The most elements [`Engine::get_json_array`] decodes: a hundred times the containers of a
/// big host (10,000). Each element is bounded by the splitter's own limit; this bounds their
/// number, so that an engine sending `{},{},…` for the whole deadline cannot grow the list
/// (each `{}` decodes into a record a hundred times its size) without end.
const MAX_ELEMENTS: usize = 1_000_000;

/// The longest line [`BodyStream::next_line`] holds: the engine's JSON lines are a few hundred
/// bytes; a line this long means the stream is not lines at all.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// A body read as it arrives, each piece under its own deadline. Dropping it closes the
/// connection.
pub struct BodyStream {
    answer: Answer,
    path: String,
    endpoint: String,
    chunk_deadline: Duration,
    phases: Phases,
    /// Bytes read past the last whole line.
    pending: Vec<u8>,
    ended: bool,
}

impl BodyStream {
    pub fn status(&self) -> u16 {
        self.answer.status
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.answer.headers
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.answer.header(name)
    }

    /// How long connect and headers took (`body` stays zero: a stream has no single end).
    pub fn phases(&self) -> Phases {
        self.phases
    }

    /// The wait allowed for each piece of the body.
    pub fn chunk_deadline(&self) -> Duration {
        self.chunk_deadline
    }

    /// The next piece of the body as the engine sent it, `None` at its end. Waits at most the
    /// chunk deadline: a stall is `Frozen`, naming that wait.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, EngineError> {
        if self.ended {
            return Ok(None);
        }
        match tokio::time::timeout(self.chunk_deadline, self.answer.chunk()).await {
            Ok(Ok(Some(c))) => Ok(Some(c)),
            Ok(Ok(None)) => {
                self.ended = true;
                Ok(None)
            }
            Ok(Err(e)) => Err(answer_error(&self.endpoint, &self.path, &e)),
            Err(_) => Err(EngineError::Frozen {
                endpoint: self.endpoint.clone(),
                waited: self.chunk_deadline,
            }),
        }
    }

    /// The next complete line, without its `\n` or `\r\n`, for the JSON-lines streams
    /// (`/images/create` progress, `/events`). Blank lines are skipped; a last line without a
    /// newline is returned at the end of the body. Each piece of the body is waited for under the
    /// chunk deadline, so a line that trickles in keeps the stream alive and a stall does not.
    pub async fn next_line(&mut self) -> Result<Option<String>, EngineError> {
        let mut scanned = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.pending[scanned..]) {
                let rest = self.pending.split_off(scanned + i + 1);
                let mut line = std::mem::replace(&mut self.pending, rest);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    scanned = 0;
                    continue;
                }
                return self.line(line).map(Some);
            }
            scanned = self.pending.len();
            if scanned > MAX_LINE {
                return Err(EngineError::Protocol {
                    path: self.path.clone(),
                    why: format!(
                        "a line longer than {MAX_LINE} bytes; the stream is not JSON lines"
                    ),
                });
            }
            match self.next_chunk().await? {
                Some(c) => self.pending.extend_from_slice(&c),
                None => {
                    let line = std::mem::take(&mut self.pending);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        return Ok(None);
                    }
                    return self.line(line).map(Some);
                }
            }
        }
    }

    fn line(&self, bytes: Vec<u8>) -> Result<String, EngineError> {
        String::from_utf8(bytes).map_err(|_| EngineError::Protocol {
            path: self.path.clone(),
            why: "a line of the stream is not UTF-8".to_string(),
        })
    }
}

/// The engine's error bodies are `{"message": "..."}`; anything else is shown as text, and an
/// empty body (a 304) by the status's own name.
fn api_message(status: u16, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            let text: String = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect();
            if text.is_empty() {
                let reason = hyper::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason());
                reason.unwrap_or("no message").to_lowercase()
            } else {
                text
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener as StdListener;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;
    use tokio::sync::mpsc;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-engine-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    /// What the test server does once it has read the request.
    enum Step {
        Send(&'static [u8]),
        Wait(Duration),
    }

    /// A one-connection engine on a real unix socket: reads one request (headers and a
    /// Content-Length body), reports it, plays `steps`, then keeps the connection open until the
    /// client closes it and reports that too (as an empty request).
    struct Server {
        sock: PathBuf,
        seen: mpsc::UnboundedReceiver<Vec<u8>>,
    }

    impl Server {
        fn start(name: &str, steps: Vec<Step>) -> Server {
            let sock = tmp(name).join("d.sock");
            let listener = UnixListener::bind(&sock).expect("bind");
            let (tx, seen) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = conn.read(&mut buf).await.expect("read request");
                    assert!(n > 0, "the client closed before sending a whole request");
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = tx.send(req);
                for step in steps {
                    match step {
                        Step::Send(b) => conn.write_all(b).await.expect("write"),
                        Step::Wait(d) => tokio::time::sleep(d).await,
                    }
                }
                // Hold the connection until the client lets go of it.
                while conn.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                let _ = tx.send(Vec::new());
            });
            Server { sock, seen }
        }

        fn engine(&self, timeout: Duration) -> Engine {
            Engine::new(Endpoint::Unix(self.sock.clone()), timeout)
        }

        async fn request(&mut self) -> String {
            let r = self.seen.recv().await.expect("a request");
            String::from_utf8(r).expect("utf-8 request")
        }
    }

    const OK_HEAD_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[tokio::test]
    async fn missing_socket_is_no_socket() {
        let d = tmp("missing");
        let e = Engine::new(
            Endpoint::Unix(d.join("nope.sock")),
            Duration::from_millis(200),
        );
        let err = e.ping().await.expect_err("no socket");
        assert!(matches!(err, EngineError::NoSocket { .. }), "{err}");
    }

    #[tokio::test]
    async fn listener_that_never_answers_is_frozen_within_the_deadline() {
        let d = tmp("frozen");
        let sock = d.join("d.sock");
        // Bound and listening, never accepted or answered: the kernel completes the connect.
        let _l = StdListener::bind(&sock).expect("bind");
        let e = Engine::new(Endpoint::Unix(sock), Duration::from_millis(300));
        let t = Instant::now();
        let err = e.ping().await.expect_err("frozen");
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
        assert!(matches!(err, EngineError::Frozen { .. }), "{err}");
        assert!(
            err.to_string().contains("did not answer within 300 ms"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn stale_socket_file_is_refused() {
        let d = tmp("refused");
        let sock = d.join("d.sock");
        drop(StdListener::bind(&sock).expect("bind"));
        let e = Engine::new(Endpoint::Unix(sock), Duration::from_millis(300));
        let err = e.ping().await.expect_err("refused");
        assert!(matches!(err, EngineError::Refused { .. }), "{err}");
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Item {
        #[serde(rename = "Id")]
        id: String,
    }

    #[tokio::test]
    async fn a_json_array_is_decoded_as_it_arrives_whatever_the_chunks() {
        // Chunks cut inside a string, right after the backslash of an escaped quote, and
        // between elements; a field the type does not know (with a `]` in it) is skipped.
        let mut srv = Server::start(
            "array-chunks",
            vec![
                Step::Send(OK_HEAD_CHUNKED),
                Step::Send(b"a\r\n[{\"Id\":\"a\\\r\n"),
                Step::Wait(Duration::from_millis(20)),
                Step::Send(b"17\r\n\"\",\"Labels\":{\"x\":\"]\"}},\r\n"),
                Step::Send(b"b\r\n{\"Id\":\"b\"}]\r\n"),
                Step::Send(b"0\r\n\r\n"),
            ],
        );
        let got = srv
            .engine(Duration::from_secs(2))
            .get_json_array::<Item>("/containers/json?all=1")
            .await
            .expect("decoded");
        let want = vec![Item { id: "a\"".into() }, Item { id: "b".into() }];
        assert_eq!(got.value, want);
        assert!(
            srv.request()
                .await
                .starts_with("GET /containers/json?all=1 ")
        );
    }

    #[tokio::test]
    async fn a_json_array_stalled_is_frozen_within_the_deadline() {
        let mut srv = Server::start(
            "array-stalled",
            vec![
                Step::Send(OK_HEAD_CHUNKED),
                Step::Send(b"b\r\n[{\"Id\":\"a\"}\r\n"),
            ],
        );
        let t = Instant::now();
        let err = srv
            .engine(Duration::from_millis(300))
            .get_json_array::<Item>("/containers/json")
            .await
            .expect_err("frozen");
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
        assert!(matches!(err, EngineError::Frozen { .. }), "{err}");
        srv.request().await;
    }

    #[tokio::test]
    async fn a_json_array_cut_short_or_malformed_is_an_error_not_a_shorter_list() {
        let cases: [(&str, &'static [u8], &str); 2] = [
            (
                "array-cut",
                b"b\r\n[{\"Id\":\"a\"}\r\n",
                "ended before the array did",
            ),
            (
                "array-bad-elem",
                b"e\r\n[{\"Id\":\"a\"},7]\r\n",
                "invalid type",
            ),
        ];
        for (name, piece, why) in cases {
            let mut srv = Server::start(
                name,
                vec![
                    Step::Send(OK_HEAD_CHUNKED),
                    Step::Send(piece),
                    Step::Send(b"0\r\n\r\n"),
                ],
            );
            let err = srv
                .engine(Duration::from_secs(2))
                .get_json_array::<Item>("/containers/json")
                .await
                .expect_err(name);
            assert!(matches!(err, EngineError::Protocol { .. }), "{name}: {err}");
            assert!(err.to_string().contains(why), "{name}: {err}");
            srv.request().await;
        }
    }

    /// An engine that sends more elements than any host has gets one sentence, and the list
    /// stops growing there: `{}` per element would otherwise fill memory within the deadline.
    #[tokio::test]
    async fn a_json_array_of_endless_elements_is_refused() {
        let mut body = String::from("[");
        body.push_str(&"0,".repeat(MAX_ELEMENTS));
        body.push_str("0]");
        let chunk: &'static [u8] = Box::leak(
            format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len())
                .into_bytes()
                .into_boxed_slice(),
        );
        let mut srv = Server::start(
            "array-endless",
            vec![Step::Send(OK_HEAD_CHUNKED), Step::Send(chunk)],
        );
        let err = srv
            .engine(Duration::from_secs(20))
            .get_json_array::<u8>("/containers/json")
            .await
            .expect_err("too many");
        assert!(matches!(err, EngineError::Protocol { .. }), "{err}");
        assert!(
            err.to_string().contains("more than 1000000 elements"),
            "{err}"
        );
        srv.request().await;
    }

    #[tokio::test]
    async fn a_json_array_refused_is_the_engines_error() {
        let mut srv = Server::start(
            "array-500",
            vec![Step::Send(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 20\r\n\r\n{\"message\":\"boom!!\"}",
            )],
        );
        let err = srv
            .engine(Duration::from_secs(2))
            .get_json_array::<Item>("/containers/json")
            .await
            .expect_err("500");
        assert_eq!(err.status(), Some(500));
        assert!(err.to_string().contains("boom!!"), "{err}");
        srv.request().await;
    }

    #[tokio::test]
    async fn headers_then_a_stalled_body_is_frozen_within_the_deadline() {
        // The pitfall of a client whose timeout stops at the headers (FIELD-NOTES §3).
        let mut srv = Server::start(
            "stalled-body",
            vec![Step::Send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[{\"Id\":",
            )],
        );
        let e = srv.engine(Duration::from_millis(300));
        let t = Instant::now();
        let err = e.get("/containers/json").await.expect_err("frozen");
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
        assert!(matches!(err, EngineError::Frozen { .. }), "{err}");
        assert_eq!(err.kind(), "timeout");
        srv.request().await;
        // Giving up closed the connection: the server sees its end.
        let closed = tokio::time::timeout(Duration::from_secs(2), srv.request()).await;
        assert_eq!(closed.as_deref(), Ok(""), "the connection was left open");
    }

    #[tokio::test]
    async fn content_length_and_chunked_bodies_are_read_whole() {
        for (name, reply, want) in [
            (
                "content-length",
                &b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"[..],
                &b"OK"[..],
            ),
            (
                "chunked",
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n",
                b"[1,2]",
            ),
        ] {
            let srv = Server::start(name, vec![Step::Send(reply)]);
            let r = srv
                .engine(Duration::from_secs(2))
                .get("/_ping")
                .await
                .expect(name);
            assert_eq!(r.value.status, 200, "{name}");
            assert_eq!(r.value.body, want, "{name}");
            assert_eq!(r.value.header("api-version"), Some("1.41"), "{name}");
        }
    }

    #[tokio::test]
    async fn a_connection_closed_mid_answer_is_a_protocol_error() {
        for (name, reply) in [
            ("no-head", &b"HTTP/1.1 200"[..]),
            (
                "short-body",
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOK",
            ),
        ] {
            let sock = tmp(name).join("d.sock");
            let listener = UnixListener::bind(&sock).expect("bind");
            tokio::spawn(async move {
                let (mut conn, _) = listener.accept().await.expect("accept");
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn.write_all(reply).await;
                // Dropped here: the connection closes mid-answer.
            });
            let e = Engine::new(Endpoint::Unix(sock), Duration::from_secs(2));
            let err = e.get("/info").await.expect_err(name);
            assert!(matches!(err, EngineError::Protocol { .. }), "{name}: {err}");
        }
    }

    #[tokio::test]
    async fn phases_are_measured() {
        let srv = Server::start(
            "phases",
            vec![
                Step::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"),
                Step::Wait(Duration::from_millis(150)),
                Step::Send(b"PONG"),
            ],
        );
        let r = srv
            .engine(Duration::from_secs(3))
            .ping()
            .await
            .expect("pong");
        let p = r.phases;
        assert!(p.body >= Duration::from_millis(150), "{p:?}");
        assert!(p.connect + p.headers + p.body <= r.elapsed, "{p:?} {r:?}");
    }

    #[tokio::test]
    async fn delete_in_use_is_a_conflict_with_the_engines_message() {
        let mut srv = Server::start(
            "conflict",
            vec![Step::Send(
                b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{\"message\":\"conflict: in use\"}",
            )],
        );
        let err = srv
            .engine(Duration::from_secs(2))
            .send(Method::Delete, "/containers/abc", None)
            .await
            .expect_err("409");
        assert!(err.is_conflict(), "{err}");
        assert!(!err.is_not_found(), "{err}");
        assert_eq!(err.status(), Some(409));
        assert_eq!(
            err.to_string(),
            "the engine answered 409 to DELETE /containers/abc: conflict: in use"
        );
        let req = srv.request().await;
        assert!(
            req.starts_with("DELETE /containers/abc HTTP/1.1\r\n"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn a_json_body_arrives_intact_with_its_headers() {
        let mut srv = Server::start("post", vec![Step::Send(b"HTTP/1.1 204 No Content\r\n\r\n")]);
        let body = serde_json::json!({"filters": {"dangling": ["true"]}, "name": "naïve \"web\""});
        let r = srv
            .engine(Duration::from_secs(2))
            .send_with_headers(
                Method::Post,
                r#"/images/prune?filters={"dangling":["true"]}"#,
                Some(&body),
                &[("X-Registry-Auth", "e30=")],
            )
            .await
            .expect("204");
        assert_eq!(r.value.status, 204);
        assert!(r.value.body.is_empty());
        let req = srv.request().await;
        let (head, sent) = req.split_once("\r\n\r\n").expect("a whole request");
        let head = head.to_ascii_lowercase();
        assert!(
            head.starts_with(
                "post /images/prune?filters=%7b%22dangling%22:%5b%22true%22%5d%7d http/1.1\r\n"
            ),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        assert!(head.contains("\r\nx-registry-auth: e30="), "{head}");
        assert_eq!(
            serde_json::from_str::<Value>(sent).expect("json body"),
            body
        );
    }

    #[tokio::test]
    async fn a_stream_whose_next_chunk_never_comes_is_frozen_within_the_chunk_deadline() {
        let mut srv = Server::start(
            "stream-stall",
            vec![
                Step::Send(OK_HEAD_CHUNKED),
                Step::Send(b"f\r\n{\"status\":\"a\"}\n\r\n"),
            ],
        );
        let e = srv.engine(Duration::from_secs(2));
        let mut s = e
            .stream(
                Method::Post,
                "/images/create?fromImage=busybox",
                None,
                &[],
                Duration::from_millis(300),
            )
            .await
            .expect("headers");
        assert_eq!(s.status(), 200);
        assert_eq!(s.header("transfer-encoding"), Some("chunked"));
        assert_eq!(
            s.next_chunk().await.expect("first chunk").as_deref(),
            Some(&b"{\"status\":\"a\"}\n"[..])
        );
        let t = Instant::now();
        let err = s.next_chunk().await.expect_err("stalled");
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
        assert!(matches!(err, EngineError::Frozen { .. }), "{err}");
        assert!(err.to_string().contains("within 300 ms"), "{err}");
        srv.request().await;
        // Dropping the stream abandons the request: the server sees the connection close.
        drop(s);
        let closed = tokio::time::timeout(Duration::from_secs(2), srv.request()).await;
        assert_eq!(closed.as_deref(), Ok(""), "the connection was left open");
    }

    #[tokio::test]
    async fn stream_lines_are_whole_across_chunks() {
        let srv = Server::start(
            "stream-lines",
            vec![
                Step::Send(OK_HEAD_CHUNKED),
                Step::Send(b"6\r\n{\"a\":1\r\n"),
                Step::Wait(Duration::from_millis(50)),
                Step::Send(b"9\r\n}\r\n\n{\"b\":\r\n"),
                Step::Send(b"5\r\n2}\n{}\r\n"),
                Step::Send(b"0\r\n\r\n"),
            ],
        );
        let e = srv.engine(Duration::from_secs(2));
        let mut s = e
            .stream(Method::Get, "/events", None, &[], Duration::from_secs(2))
            .await
            .expect("headers");
        let mut lines = Vec::new();
        while let Some(l) = s.next_line().await.expect("line") {
            lines.push(l);
        }
        // CRLF and LF both end a line, blank lines are skipped, the last one needs no newline.
        assert_eq!(lines, [r#"{"a":1}"#, r#"{"b":2}"#, "{}"]);
        assert_eq!(s.next_line().await.expect("ended"), None);
    }

    #[tokio::test]
    async fn a_stream_that_is_refused_says_why_before_any_body() {
        let srv = Server::start(
            "stream-404",
            vec![Step::Send(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 38\r\n\r\n{\"message\":\"No such image: nope:latest\"}",
            )],
        );
        let e = srv.engine(Duration::from_secs(2));
        let Err(err) = e
            .stream(
                Method::Get,
                "/images/nope/get",
                None,
                &[],
                Duration::from_secs(1),
            )
            .await
        else {
            panic!("a 404 is an error");
        };
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string().contains("No such image: nope:latest"),
            "{err}"
        );
    }

    #[test]
    fn with_timeout_keeps_the_endpoint() {
        let e = Engine::new(
            Endpoint::Tcp("127.0.0.1:2375".into()),
            Duration::from_secs(3),
        );
        let long = e.with_timeout(Duration::from_secs(60));
        assert_eq!(long.endpoint(), e.endpoint());
        assert_eq!(long.timeout(), Duration::from_secs(60));
        assert_eq!(e.timeout(), Duration::from_secs(3));
    }

    #[test]
    fn statuses_are_told_apart() {
        let api = |status| EngineError::Api {
            path: "/x".into(),
            status,
            message: String::new(),
        };
        let frozen = EngineError::Frozen {
            endpoint: "unix:///s".into(),
            waited: Duration::from_secs(1),
        };
        for (err, status, conflict, not_found) in [
            (api(409), Some(409), true, false),
            (api(404), Some(404), false, true),
            (api(500), Some(500), false, false),
            (frozen, None, false, false),
        ] {
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.is_conflict(), conflict, "{err}");
            assert_eq!(err.is_not_found(), not_found, "{err}");
        }
    }

    #[test]
    fn api_messages_are_extracted() {
        assert_eq!(
            api_message(404, br#"{"message":"page not found"}"#),
            "page not found"
        );
        assert_eq!(api_message(500, b"plain text\n"), "plain text");
        assert_eq!(api_message(304, b""), "not modified");
    }
}
