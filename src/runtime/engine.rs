//! The engine API client: a deadline on every call, typed outcomes, raw JSON where the API
//! changes between versions.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::endpoint::Endpoint;
pub use super::http::Method;
use super::http::{Conn, Response};
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
    /// remove things skip it and say so; they never retry with force.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 404: the object is gone (removed since the plan was made, or never existed).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// A successful answer and how long it took.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub elapsed: Duration,
}

/// The engine client. Cheap to create and to clone: nothing connects until the first call.
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
    /// build cache can take longer than a read.
    pub fn with_timeout(&self, timeout: Duration) -> Engine {
        Engine {
            endpoint: self.endpoint.clone(),
            timeout,
        }
    }

    /// One request under the deadline, with an optional JSON body (sent as `application/json`):
    /// the writes. A non-2xx status is an `Api` error with the engine's message; note the engine
    /// answers 304 to stopping a stopped container.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Timed<Response>, EngineError> {
        let bytes = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| EngineError::Protocol {
                path: path.to_string(),
                why: e.to_string(),
            })?),
            None => None,
        };
        self.exchange(method.as_str(), path, bytes.as_deref()).await
    }

    /// One GET under the deadline: connect and answer share it. A non-2xx status is an
    /// `Api` error carrying the engine's own message.
    pub async fn get(&self, path: &str) -> Result<Timed<Response>, EngineError> {
        self.request("GET", path).await
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
        })
    }

    /// A typed bollard client on the same endpoint, for the calls whose models are stable across
    /// API versions (the mutations: remove, stop, kill). Callers still wrap every call in
    /// [`Engine::deadline`]: bollard's own timeout covers only the response headers and truncates
    /// to whole seconds.
    pub fn typed(&self) -> Result<bollard::Docker, EngineError> {
        // The long bollard timeout is a backstop; the real deadline is ours.
        const BACKSTOP_SECS: u64 = 600;
        let r = match &self.endpoint {
            Endpoint::Unix(p) => bollard::Docker::connect_with_unix(
                &p.to_string_lossy(),
                BACKSTOP_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
            Endpoint::Tcp(a) => bollard::Docker::connect_with_http(
                &format!("tcp://{a}"),
                BACKSTOP_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
        };
        r.map_err(|e| self.bollard_error("", e))
    }

    /// Runs one typed call under the deadline, mapping bollard's errors onto ours.
    pub async fn deadline<T, F>(&self, what: &str, call: F) -> Result<Timed<T>, EngineError>
    where
        F: std::future::Future<Output = Result<T, bollard::errors::Error>>,
    {
        let start = Instant::now();
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(Timed {
                value,
                elapsed: start.elapsed(),
            }),
            Ok(Err(e)) => Err(self.bollard_error(what, e)),
            Err(_) => Err(EngineError::Frozen {
                endpoint: self.endpoint.to_string(),
                waited: self.timeout,
            }),
        }
    }

    /// bollard reports a refused or forbidden socket as "client error (Connect)"; the cause is
    /// an `io::Error` further down the `source()` chain.
    fn bollard_error(&self, what: &str, e: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code,
                message,
            } => EngineError::Api {
                path: what.to_string(),
                status: status_code,
                message,
            },
            B::SocketNotFoundError(p) => EngineError::NoSocket {
                path: PathBuf::from(p),
            },
            B::JsonDataError { message, .. } => EngineError::Protocol {
                path: what.to_string(),
                why: message,
            },
            other => {
                let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&other);
                while let Some(s) = src {
                    if let Some(io) = s.downcast_ref::<io::Error>() {
                        return self.connect_error(io::Error::new(io.kind(), io.to_string()));
                    }
                    src = s.source();
                }
                EngineError::Io {
                    endpoint: self.endpoint.to_string(),
                    why: other.to_string(),
                }
            }
        }
    }

    async fn request(&self, method: &str, path: &str) -> Result<Timed<Response>, EngineError> {
        self.exchange(method, path, None).await
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Timed<Response>, EngineError> {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let conn = match tokio::time::timeout_at(deadline, Conn::connect(&self.endpoint)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(self.connect_error(e)),
            Err(_) => {
                return Err(EngineError::ConnectTimeout {
                    endpoint: self.endpoint.to_string(),
                    waited: self.timeout,
                });
            }
        };
        let resp = match tokio::time::timeout_at(deadline, conn.send(method, path, body)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(EngineError::Protocol {
                    path: path.to_string(),
                    why: e.to_string(),
                });
            }
            Ok(Err(e)) => {
                return Err(EngineError::Io {
                    endpoint: self.endpoint.to_string(),
                    why: e.to_string(),
                });
            }
            Err(_) => {
                return Err(EngineError::Frozen {
                    endpoint: self.endpoint.to_string(),
                    waited: self.timeout,
                });
            }
        };
        if !(200..300).contains(&resp.status) {
            return Err(EngineError::Api {
                path: path.to_string(),
                status: resp.status,
                message: api_message(&resp.body),
            });
        }
        Ok(Timed {
            value: resp,
            elapsed: start.elapsed(),
        })
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

/// The engine's error bodies are `{"message": "..."}`; anything else is shown as text.
fn api_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-engine-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

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
        let _l = UnixListener::bind(&sock).expect("bind");
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
        drop(UnixListener::bind(&sock).expect("bind"));
        let e = Engine::new(Endpoint::Unix(sock), Duration::from_millis(300));
        let err = e.ping().await.expect_err("refused");
        assert!(matches!(err, EngineError::Refused { .. }), "{err}");
    }

    #[tokio::test]
    async fn typed_calls_get_the_same_outcomes() {
        let d = tmp("typed");
        let sock = d.join("d.sock");
        let _l = UnixListener::bind(&sock).expect("bind");
        let e = Engine::new(Endpoint::Unix(sock.clone()), Duration::from_millis(300));
        let docker = e.typed().expect("client");
        let err = e
            .deadline("/_ping", docker.ping())
            .await
            .expect_err("frozen");
        assert!(matches!(err, EngineError::Frozen { .. }), "{err}");
        drop(_l);
        let err = e
            .deadline("/_ping", docker.ping())
            .await
            .expect_err("refused");
        assert!(matches!(err, EngineError::Refused { .. }), "{err:?}");
    }

    #[test]
    fn api_messages_are_extracted() {
        assert_eq!(
            api_message(br#"{"message":"page not found"}"#),
            "page not found"
        );
        assert_eq!(api_message(b"plain text\n"), "plain text");
    }
}
