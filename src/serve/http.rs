//! The HTTP side of `dockhand serve`: one small HTTP/1.1 server on hyper, for scrapers.
//!
//! Bounded in every direction a client could push: request heads of at most [`MAX_HEAD`] bytes
//! (hyper answers 431 past it), a head must arrive within [`HEADER_READ_TIMEOUT`] (also the
//! most an idle keep-alive connection is kept), at most [`MAX_CONNECTIONS`] at once (the next
//! one gets a 503 and is closed), and a connection lives at most [`CONNECTION_LIFETIME`], then
//! finishes its response and closes. Request bodies are never read. A scrape never waits for
//! anything but the board's lock.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::board::Board;
use crate::shutdown::Shutdown;

/// The longest request head (request line and headers) read.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most a client may take to send a request head, and the most a keep-alive connection may
/// sit idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; one more is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 64;
/// After this, a connection finishes the response in flight and closes (a scraper reconnects);
/// a client that stops reading its response is dropped [`GRACE`] later.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// How long connections get to finish when the server stops or their lifetime ends.
pub const GRACE: Duration = Duration::from_secs(5);

/// Prometheus's text exposition format.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const INDEX: &str = "dockhand serve: Prometheus metrics at /metrics (see docs/monitoring.md)\n";

/// What a request gets, decided from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Index,
    /// A known path, another method: 405 with `Allow: GET, HEAD`.
    WrongMethod,
    NotFound,
}

/// Routes a request. Only the path counts (a query string is ignored); GET and HEAD only.
pub fn route(method: &Method, path: &str) -> Route {
    let known = match path {
        "/metrics" => Route::Metrics,
        "/" => Route::Index,
        _ => return Route::NotFound,
    };
    if method == Method::GET || method == Method::HEAD {
        known
    } else {
        Route::WrongMethod
    }
}

fn respond(board: &Board, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match route(req.method(), req.uri().path()) {
        Route::Metrics => (
            StatusCode::OK,
            METRICS_TYPE,
            Bytes::from(board.render(Instant::now())),
        ),
        Route::Index => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from_static(INDEX.as_bytes()),
        ),
        Route::WrongMethod => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"only GET and HEAD\n"),
        ),
        Route::NotFound => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"not found; metrics are at /metrics\n"),
        ),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    resp
}

/// Serves `board` on `listener` until `shutdown` triggers, then stops accepting, lets the
/// connections in flight finish (at most [`GRACE`]) and returns.
pub async fn serve(listener: TcpListener, board: Arc<Board>, shutdown: Shutdown) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut accept_errors_said = false;
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.wait() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine. Say it once, back off a little, go on.
                    if !accept_errors_said {
                        crate::command::say(&format!("serve: cannot accept a connection: {e}"));
                        accept_errors_said = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let board = Arc::clone(&board);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            connection(stream, peer, board, shutdown).await;
            drop(slot);
        });
    }
    // Every slot back means every connection has ended.
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), slots.acquire_many(all)).await;
}

/// Too many connections: a short 503, then closed — all within a second.
async fn refuse(mut stream: tokio::net::TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 17\r\nconnection: close\r\nretry-after: 1\r\n\r\ntoo many clients\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
        // Closing with the request still unread would send a reset, which can reach the client
        // before it reads the 503: take what it sent (a head's worth) until it closes.
        let mut sink = [0u8; 4096];
        let mut left = MAX_HEAD;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    _peer: SocketAddr,
    board: Arc<Board>,
    shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let resp = respond(&board, &req);
        async move { Ok::<_, Infallible>(resp) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        // Errors are the client's (a reset, a bad request hyper already answered): nothing to
        // do but close.
        _ = conn.as_mut() => return,
        () = shutdown.wait() => {}
        () = tokio::time::sleep(CONNECTION_LIFETIME) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, conn).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases: &[(Method, &str, Route)] = &[
            (Method::GET, "/metrics", Route::Metrics),
            (Method::HEAD, "/metrics", Route::Metrics),
            (Method::GET, "/", Route::Index),
            (Method::HEAD, "/", Route::Index),
            (Method::POST, "/metrics", Route::WrongMethod),
            (Method::PUT, "/metrics", Route::WrongMethod),
            (Method::DELETE, "/", Route::WrongMethod),
            (Method::OPTIONS, "/metrics", Route::WrongMethod),
            (Method::GET, "/metrics/", Route::NotFound),
            (Method::GET, "/metricsx", Route::NotFound),
            (Method::GET, "/favicon.ico", Route::NotFound),
            (Method::POST, "/nope", Route::NotFound),
            (Method::GET, "", Route::NotFound),
        ];
        for (m, p, want) in cases {
            assert_eq!(route(m, p), *want, "{m} {p}");
        }
    }
}
