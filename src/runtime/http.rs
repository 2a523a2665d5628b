//! The HTTP layer under the engine client: hyper's HTTP/1.1 client connection over a unix socket
//! or plain TCP, one connection per request.
//!
//! hyper frames the messages (Content-Length, chunked, read-to-close, HEAD and 204 without a
//! body); this module keeps the *phases* apart — connect, then the answer's headers, then each
//! piece of the body — because a frozen daemon still accepts connections (the kernel queues them on its socket) and the
//! health tiers time each phase. Nothing here waits on its own: `engine` puts every phase under a
//! deadline, and dropping an [`Answer`] closes its connection, so a deadline that fires abandons
//! the request for good.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;

use super::endpoint::Endpoint;

/// The methods the engine API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    fn hyper(self) -> hyper::Method {
        match self {
            Method::Get => hyper::Method::GET,
            Method::Head => hyper::Method::HEAD,
            Method::Post => hyper::Method::POST,
            Method::Put => hyper::Method::PUT,
            Method::Delete => hyper::Method::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest body read whole into memory. The engine's whole answers (`/info`, `/system/df`,
/// a container's record) are kilobytes to a few megabytes on a big host; the lists that grow
/// with the host are streamed (`Engine::get_json_array`). An answer past this is not one: it is
/// cut here rather than held, so that no engine can make dockhand hold what it sends.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// A response: status, headers, and the whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body went on past the limit it was read with, and was cut there.
    pub truncated: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// How long each phase of one request took: the health tiers tell a slow accept (`connect`) from
/// a daemon that takes the connection but does not answer (`headers`: writing the request and
/// waiting for the status line and headers) and from one that stalls mid-answer (`body`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    pub connect: Duration,
    pub headers: Duration,
    pub body: Duration,
}

/// A connected socket, not yet speaking HTTP.
pub(crate) enum Socket {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Socket {
    /// Connects. The error is the raw OS error, so the caller can classify it (ENOENT, EACCES,
    /// ECONNREFUSED).
    pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<Socket> {
        match endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path).await.map(Socket::Unix),
            Endpoint::Tcp(addr) => TcpStream::connect(addr.as_str()).await.map(Socket::Tcp),
        }
    }
}

/// Why a request could not be built: a caller's header that is not valid HTTP. Carries the
/// sentence.
#[derive(Debug)]
pub(crate) struct BadRequest(pub String);

/// Builds one request. The path goes out as given, with the bytes a URI cannot carry
/// percent-encoded (a `filters={"dangling":["true"]}` query); a JSON body goes with its content
/// type.
pub(crate) fn build(
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    headers: &[(&str, &str)],
) -> Result<hyper::Request<Full<Bytes>>, BadRequest> {
    let uri = hyper::Uri::try_from(encode_path(path)).map_err(|e| {
        BadRequest(format!(
            "the path {path:?} is not a valid request path: {e}"
        ))
    })?;
    let mut req = hyper::Request::builder()
        .method(method.hyper())
        .uri(uri)
        .body(Full::new(
            body.map_or_else(Bytes::new, |v| Bytes::from(v.to_string())),
        ))
        .map_err(|e| BadRequest(e.to_string()))?;
    let h = req.headers_mut();
    h.insert(HOST, HeaderValue::from_static("docker"));
    h.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("dockhand/", env!("CARGO_PKG_VERSION"))),
    );
    if body.is_some() {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in headers {
        let n = HeaderName::try_from(*name)
            .map_err(|_| BadRequest(format!("{name:?} is not a valid HTTP header name")))?;
        let v = HeaderValue::try_from(*value)
            .map_err(|_| BadRequest(format!("the value of header {name} is not valid HTTP")))?;
        h.insert(n, v);
    }
    Ok(req)
}

/// Percent-encodes what may not stand in a request target (quotes, braces, spaces, non-ASCII).
/// `%` is left alone: a path the caller already encoded stays as it is.
fn encode_path(path: &str) -> String {
    const KEEP: &[u8] = b"-._~!$&'()*+,;=:@/?%";
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An answer whose status and headers are in; the body is read piece by piece. Dropping it
/// closes the connection.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: Incoming,
    _conn: ConnTask,
}

/// The task that drives the connection. Aborting it drops the socket, which is how an abandoned
/// request is really abandoned rather than left reading in the background.
struct ConnTask {
    task: JoinHandle<()>,
    // Held until the answer is done with, so the connection is never told "no more requests"
    // while the one in flight is still being read.
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Drop for ConnTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `req` over `socket` and returns once the status line and headers are in.
pub(crate) async fn exchange(
    socket: Socket,
    req: hyper::Request<Full<Bytes>>,
) -> Result<Answer, hyper::Error> {
    match socket {
        Socket::Unix(s) => exchange_on(s, req).await,
        Socket::Tcp(s) => exchange_on(s, req).await,
    }
}

async fn exchange_on<S>(stream: S, req: hyper::Request<Full<Bytes>>) -> Result<Answer, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection's own error also reaches the response future, so it is not lost here.
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    // Guarded before the first wait: a deadline that drops this future aborts the connection.
    let mut conn = ConnTask { task, sender: None };
    let resp = sender.send_request(req).await?;
    conn.sender = Some(sender);
    let (parts, body) = resp.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Answer {
        status: parts.status.as_u16(),
        headers,
        body,
        _conn: conn,
    })
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The next piece of the body, `None` at its end. Trailers are skipped.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Reads the rest of the body, up to [`MAX_BODY`].
    pub async fn into_response(self) -> Result<Response, hyper::Error> {
        self.into_response_limited(MAX_BODY).await
    }

    /// Reads the rest of the body, up to `limit` bytes: past it, reading stops (the connection
    /// is dropped with the answer) and the response says `truncated`.
    pub async fn into_response_limited(mut self, limit: usize) -> Result<Response, hyper::Error> {
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(c) = self.chunk().await? {
            if body.len() + c.len() > limit {
                body.extend_from_slice(&c[..limit - body.len()]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&c);
        }
        Ok(Response {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
            truncated,
        })
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One exchange over a socket pair: the server reads the request, writes `reply`, closes.
    async fn serve_once(method: Method, reply: &'static [u8]) -> Result<Response, hyper::Error> {
        let (client, mut server) = UnixStream::pair().expect("pair");
        let srv = tokio::spawn(async move {
            let mut req = vec![0u8; 1024];
            let _ = server.read(&mut req).await;
            let _ = server.write_all(reply).await;
        });
        let req = build(method, "/_ping", None, &[]).expect("request");
        let r = match exchange(Socket::Unix(client), req).await {
            Ok(a) => a.into_response().await,
            Err(e) => Err(e),
        };
        let _ = srv.await;
        r
    }

    #[tokio::test]
    async fn content_length_body() {
        let r = serve_once(
            Method::Get,
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK",
        )
        .await
        .expect("response");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"OK");
        assert_eq!(r.header("api-version"), Some("1.41"));
    }

    /// A body past the limit is cut at the limit, and says so; one at the limit is whole.
    #[tokio::test]
    async fn a_body_past_the_limit_is_cut_not_held() {
        for (limit, want, cut) in [(4, &b"[1,2"[..], true), (5, &b"[1,2]"[..], false)] {
            let (client, mut server) = UnixStream::pair().expect("pair");
            let srv = tokio::spawn(async move {
                let mut req = vec![0u8; 1024];
                let _ = server.read(&mut req).await;
                let _ = server
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n")
                    .await;
            });
            let req = build(Method::Get, "/info", None, &[]).expect("request");
            let r = exchange(Socket::Unix(client), req)
                .await
                .expect("answer")
                .into_response_limited(limit)
                .await
                .expect("response");
            let _ = srv.await;
            assert_eq!(
                (r.body.as_slice(), r.truncated),
                (want, cut),
                "limit {limit}"
            );
        }
    }

    #[tokio::test]
    async fn chunked_body() {
        let r = serve_once(Method::Get, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n")
            .await
            .expect("response");
        assert_eq!(r.body, b"[1,2]");
    }

    #[tokio::test]
    async fn body_to_the_close_without_a_length() {
        let r = serve_once(Method::Get, b"HTTP/1.1 200 OK\r\n\r\n{\"all\":1}")
            .await
            .expect("response");
        assert_eq!(r.body, b"{\"all\":1}");
    }

    #[tokio::test]
    async fn head_has_no_body_whatever_its_length_says() {
        let r = serve_once(
            Method::Head,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        )
        .await
        .expect("response");
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
    }

    #[tokio::test]
    async fn early_close_is_an_error() {
        let e = serve_once(Method::Get, b"HTTP/1.1 200")
            .await
            .expect_err("cut short");
        assert!(e.is_incomplete_message(), "{e}");
    }

    #[test]
    fn paths_are_encoded_only_where_a_uri_needs_it() {
        for (path, want) in [
            ("/_ping", "/_ping"),
            (
                "/containers/json?all=1&size=0",
                "/containers/json?all=1&size=0",
            ),
            (
                r#"/images/json?filters={"dangling":["true"]}"#,
                "/images/json?filters=%7B%22dangling%22:%5B%22true%22%5D%7D",
            ),
            ("/images/a%2Fb/json", "/images/a%2Fb/json"),
            ("/x?name=a b#c", "/x?name=a%20b%23c"),
            ("/x?q=é", "/x?q=%C3%A9"),
        ] {
            assert_eq!(encode_path(path), want, "{path}");
            assert!(hyper::Uri::try_from(encode_path(path)).is_ok(), "{path}");
        }
    }

    #[test]
    fn bad_headers_are_refused_with_their_name() {
        let Err(BadRequest(why)) = build(Method::Get, "/x", None, &[("Bad Name", "v")]) else {
            panic!("a space in a header name");
        };
        assert!(why.contains("Bad Name"), "{why}");
        let Err(BadRequest(why)) = build(Method::Get, "/x", None, &[("X-Registry-Auth", "a\nb")])
        else {
            panic!("a newline in a header value");
        };
        assert!(why.contains("X-Registry-Auth"), "{why}");
    }
}
