//! A minimal HTTP/1.1 client for the engine API, over a unix socket or plain TCP.
//!
//! It exists beside bollard for two reasons (FIELD-NOTES §3): bollard's typed models can come back
//! empty without an error from an older engine, so version-sensitive endpoints are read as raw
//! JSON; and the health probes need to tell *connect* apart from *answer* — a frozen daemon still
//! accepts connections — which a client that hides its phases cannot do. The caller puts every
//! phase under a deadline; nothing here waits on its own.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

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
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An open connection to the engine.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// A response: status, the headers we use, and the whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    /// Connects. The error is the raw OS error, so the caller can classify it (ENOENT, EACCES,
    /// ECONNREFUSED).
    pub async fn connect(endpoint: &Endpoint) -> io::Result<Conn> {
        match endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path).await.map(Conn::Unix),
            Endpoint::Tcp(addr) => TcpStream::connect(addr.as_str()).await.map(Conn::Tcp),
        }
    }

    /// Sends one request and reads the whole response. `Connection: close` keeps the framing
    /// simple: the body ends at Content-Length, the last chunk, or EOF.
    pub async fn request(self, method: &str, path: &str) -> io::Result<Response> {
        self.send(method, path, None).await
    }

    /// [`Conn::request`] with an optional JSON body (sent as `application/json`).
    pub async fn send(self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Response> {
        match self {
            Conn::Unix(s) => exchange(s, method, path, body).await,
            Conn::Tcp(s) => exchange(s, method, path, body).await,
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockhand/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    match body {
        Some(b) => req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            b.len()
        )),
        // The engine reads a POST without a length as an empty body; say so explicitly.
        None if method != "GET" && method != "HEAD" => req.push_str("Content-Length: 0\r\n\r\n"),
        None => req.push_str("\r\n"),
    }
    let mut req = req.into_bytes();
    if let Some(b) = body {
        req.extend_from_slice(b);
    }
    stream.write_all(&req).await?;
    let mut buf = Vec::with_capacity(16 * 1024);
    // Read until the end of the headers.
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(invalid("the engine closed the connection before answering"));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| invalid("response headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("malformed status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let mut rest = buf.split_off(head_end + 4);
    drop(buf);
    if method == "HEAD" || status == 204 || status == 304 {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        resp.body = read_chunked(&mut stream, rest).await?;
    } else if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        while rest.len() < len {
            if stream.read_buf(&mut rest).await? == 0 {
                return Err(invalid("the engine closed the connection mid-body"));
            }
        }
        rest.truncate(len);
        resp.body = rest;
    } else {
        stream.read_to_end(&mut rest).await?;
        resp.body = rest;
    }
    Ok(resp)
}

async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        // A chunk-size line.
        let line_end = loop {
            if let Some(i) = find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(invalid("the engine closed the connection mid-chunk"));
            }
        };
        let size_text =
            std::str::from_utf8(&buf[pos..line_end]).map_err(|_| invalid("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        pos = line_end + 2;
        if size == 0 {
            return Ok(body);
        }
        while buf.len() < pos + size + 2 {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(invalid("the engine closed the connection mid-chunk"));
            }
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
        // Keep the buffer from growing with the whole body.
        if pos > 64 * 1024 {
            buf.drain(..pos);
            pos = 0;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve_once(reply: &'static [u8]) -> io::Result<Response> {
        let (client, mut server) = UnixStream::pair()?;
        let srv = tokio::spawn(async move {
            let mut req = vec![0u8; 1024];
            let _ = server.read(&mut req).await;
            let _ = server.write_all(reply).await;
        });
        let r = exchange(client, "GET", "/_ping", None).await;
        let _ = srv.await;
        r
    }

    #[tokio::test]
    async fn content_length_body() {
        let r = serve_once(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK")
            .await
            .expect("response");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"OK");
        assert_eq!(r.header("api-version"), Some("1.41"));
    }

    #[tokio::test]
    async fn chunked_body() {
        let r = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n")
            .await
            .expect("response");
        assert_eq!(r.body, b"[1,2]");
    }

    #[tokio::test]
    async fn early_close_is_an_error() {
        assert!(serve_once(b"HTTP/1.1 200").await.is_err());
    }
}
