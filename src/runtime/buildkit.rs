//! The build cache as the engine's own builder counts it, asked of BuildKit directly: one unary
//! gRPC call, `moby.buildkit.v1.Control/DiskUsage`, over the engine's `/grpc` endpoint (HTTP/1.1
//! upgraded to HTTP/2, the way `docker buildx du` reaches the builder inside dockerd).
//!
//! Why not `/system/df`: before API 1.42 it has no `type` filter, and the whole answer sizes
//! every container's writable layer and every volume — on a big host it is the slowest call
//! dockhand would make, for a figure of a few dozen records. The engine's `/system/df` fills its
//! `BuildCache` from this very call (its builder's `DiskUsage` maps each record's size, in-use and
//! shared flags one to one), so the figures are the engine's, not a reading of BuildKit's private
//! databases on disk.
//!
//! Only what one call needs is spoken: the client preface with a window large enough that no
//! flow control is needed, one request, and the answer read until its stream ends; the server's
//! SETTINGS and PINGs are acknowledged. Header blocks are never decoded: an answer without a
//! message (an error, which gRPC puts in the trailers) is a failure, and the caller asks
//! `/system/df` instead.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::endpoint::Endpoint;
use super::http::Socket;

/// One build cache record: the fields `/system/df`'s `BuildCache` items carry that the
/// accounting reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheRecord {
    pub size: i64,
    pub in_use: bool,
    pub shared: bool,
}

/// The most bytes of answer read: far above any real cache (a record is ~200 bytes), and a
/// bound on what a misbehaving peer can make this process hold.
const MAX_ANSWER: usize = 64 << 20;

const PATH: &str = "/moby.buildkit.v1.Control/DiskUsage";

// HTTP/2 frame types and flags (RFC 9113 §6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const STREAM: u32 = 1;
/// The largest flow-control window (2^31 - 1): the answer never waits for a WINDOW_UPDATE.
const MAX_WINDOW: u32 = 0x7fff_ffff;

/// The builder's records, or why they could not be had, within `deadline` for the whole
/// exchange (connect included).
pub async fn disk_usage(
    endpoint: &Endpoint,
    deadline: Duration,
) -> Result<Vec<CacheRecord>, String> {
    let exchange = async {
        let socket = Socket::connect(endpoint)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        match socket {
            Socket::Unix(mut s) => exchange(&mut s).await,
            Socket::Tcp(mut s) => exchange(&mut s).await,
        }
    };
    let message = tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| "the builder did not answer in time".to_string())??;
    parse_answer(&message)
}

/// Upgrade, ask, and read the answer's gRPC message bytes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| format!("the connection failed: {e}");
    s.write_all(
        b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .map_err(io)?;
    let mut conn = Conn {
        buf: Vec::new(),
        at: 0,
    };
    let head = conn.read_head(s).await?;
    if !head.starts_with("HTTP/1.1 101") && !head.starts_with("HTTP/1.0 101") {
        let line = head.lines().next().unwrap_or_default();
        return Err(format!(
            "the engine refused the upgrade to its builder: {line}"
        ));
    }
    s.write_all(&request()).await.map_err(io)?;
    let mut body = Vec::new();
    loop {
        let (kind, flags, stream, payload) = conn.frame(s).await?;
        match kind {
            DATA if stream == STREAM => {
                let data = unpad(flags, &payload)?;
                if body.len() + data.len() > MAX_ANSWER {
                    return Err("the builder's answer is too large".into());
                }
                body.extend_from_slice(data);
                if flags & END_STREAM != 0 {
                    break;
                }
            }
            HEADERS if stream == STREAM && flags & END_STREAM != 0 => break,
            RST_STREAM if stream == STREAM => return Err("the builder reset the call".into()),
            GOAWAY => return Err("the builder closed the connection".into()),
            SETTINGS if flags & ACK == 0 => {
                s.write_all(&frame(SETTINGS, ACK, 0, &[]))
                    .await
                    .map_err(io)?;
            }
            PING if flags & ACK == 0 => {
                s.write_all(&frame(PING, ACK, 0, &payload))
                    .await
                    .map_err(io)?;
            }
            _ => {}
        }
    }
    grpc_message(&body).map(<[u8]>::to_vec)
}

/// The answer's bytes, read as they come: the HTTP/1.1 head of the upgrade, then frames.
struct Conn {
    buf: Vec<u8>,
    at: usize,
}

impl Conn {
    async fn fill<S: AsyncRead + Unpin>(&mut self, s: &mut S, want: usize) -> Result<(), String> {
        while self.buf.len() - self.at < want {
            let mut chunk = [0u8; 16 * 1024];
            let n = s
                .read(&mut chunk)
                .await
                .map_err(|e| format!("the connection failed: {e}"))?;
            if n == 0 {
                return Err("the engine closed the connection mid-answer".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.at..self.at + n].to_vec();
        self.at += n;
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        }
        out
    }

    /// The HTTP/1.1 response head, up to its blank line; what follows it stays buffered (the
    /// server's HTTP/2 preface may arrive in the same read).
    async fn read_head<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> Result<String, String> {
        loop {
            if let Some(end) = memchr::memmem::find(&self.buf[self.at..], b"\r\n\r\n") {
                let head = self.take(end + 4);
                return Ok(String::from_utf8_lossy(&head).into_owned());
            }
            if self.buf.len() - self.at > 16 * 1024 {
                return Err("the engine's answer to the upgrade has no end".into());
            }
            let have = self.buf.len() - self.at;
            self.fill(s, have + 1).await?;
        }
    }

    /// One frame: (type, flags, stream, payload).
    async fn frame<S: AsyncRead + Unpin>(
        &mut self,
        s: &mut S,
    ) -> Result<(u8, u8, u32, Vec<u8>), String> {
        self.fill(s, 9).await?;
        let h = self.take(9);
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        if len > MAX_ANSWER {
            return Err("the builder sent a frame too large".into());
        }
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & MAX_WINDOW;
        self.fill(s, len).await?;
        Ok((h[3], h[4], stream, self.take(len)))
    }
}

/// A frame's bytes.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = Vec::with_capacity(9 + len);
    f.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The client preface, the settings (the largest stream window), the connection's window
/// opened as wide, and the call: its headers and one empty `DiskUsageRequest` (no filter).
fn request() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4).
    let mut settings = vec![0x00, 0x04];
    settings.extend_from_slice(&MAX_WINDOW.to_be_bytes());
    out.extend(frame(SETTINGS, 0, 0, &settings));
    out.extend(frame(
        WINDOW_UPDATE,
        0,
        0,
        &(MAX_WINDOW - 65_535).to_be_bytes(),
    ));
    // HPACK (RFC 7541) without Huffman coding or the dynamic table: indexed fields from the
    // static table, the others as literals not to be indexed.
    let mut h = vec![0x83, 0x86]; // :method POST, :scheme http
    literal(&mut h, Some(4), ":path", PATH);
    literal(&mut h, Some(1), ":authority", "docker");
    literal(&mut h, Some(31), "content-type", "application/grpc");
    literal(&mut h, None, "te", "trailers");
    out.extend(frame(HEADERS, END_HEADERS, STREAM, &h));
    // gRPC framing: not compressed, length 0.
    out.extend(frame(DATA, END_STREAM, STREAM, &[0, 0, 0, 0, 0]));
    out
}

/// A literal header field without indexing: by its static table index, or with its name.
fn literal(out: &mut Vec<u8>, index: Option<u64>, name: &str, value: &str) {
    match index {
        Some(i) => hpack_int(out, 0x00, 4, i),
        None => {
            out.push(0x00);
            hpack_int(out, 0x00, 7, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
    }
    hpack_int(out, 0x00, 7, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), the high bits `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: u64) {
    let max = (1u64 << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A DATA frame's data, without its padding.
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], String> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let pad = usize::from(*payload.first().ok_or("a padded frame with no pad length")?);
    payload
        .len()
        .checked_sub(1 + pad)
        .map(|end| &payload[1..1 + end])
        .ok_or_else(|| "a frame's padding is longer than the frame".to_string())
}

/// The one gRPC message of an answer (a compressed one is refused: none was offered).
fn grpc_message(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < 5 {
        return Err("the builder answered without a message (the call failed)".into());
    }
    if body[0] != 0 {
        return Err("the builder's answer is compressed, which was not asked for".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    body.get(5..5 + len)
        .ok_or_else(|| "the builder's answer is cut short".to_string())
}

/// A protobuf field's value: a varint, or bytes (fixed-width values are skipped).
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// The fields of a protobuf message, in order, as (number, value).
fn fields(mut b: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let bad = || "the builder's answer is not a DiskUsageResponse".to_string();
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b).ok_or_else(bad)?;
        let value = match key & 7 {
            0 => Field::Varint(varint(&mut b).ok_or_else(bad)?),
            1 => {
                b = b.get(8..).ok_or_else(bad)?;
                Field::Other
            }
            2 => {
                let len = usize::try_from(varint(&mut b).ok_or_else(bad)?).map_err(|_| bad())?;
                let (v, rest) = (b.get(..len).ok_or_else(bad)?, &b[len..]);
                b = rest;
                Field::Bytes(v)
            }
            5 => {
                b = b.get(4..).ok_or_else(bad)?;
                Field::Other
            }
            _ => return Err(bad()),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *b = &b[i + 1..];
            return Some(v);
        }
    }
    None
}

/// `DiskUsageResponse { repeated UsageRecord record = 1; }`, of each record `InUse` (3),
/// `Size` (4, int64) and `Shared` (11).
fn parse_answer(message: &[u8]) -> Result<Vec<CacheRecord>, String> {
    let mut out = Vec::new();
    for (n, f) in fields(message)? {
        let (1, Field::Bytes(rec)) = (n, f) else {
            continue;
        };
        let mut r = CacheRecord {
            size: 0,
            in_use: false,
            shared: false,
        };
        for (n, f) in fields(rec)? {
            match (n, f) {
                (3, Field::Varint(v)) => r.in_use = v != 0,
                (4, Field::Varint(v)) => r.size = v as i64,
                (11, Field::Varint(v)) => r.shared = v != 0,
                _ => {}
            }
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn record(id: &str, in_use: bool, size: i64, shared: bool) -> Vec<u8> {
        let mut r = Vec::new();
        r.push(1 << 3 | 2);
        pb_varint(&mut r, id.len() as u64);
        r.extend_from_slice(id.as_bytes());
        r.push(3 << 3);
        pb_varint(&mut r, u64::from(in_use));
        r.push(4 << 3);
        pb_varint(&mut r, size as u64);
        // CreatedAt (6): a Timestamp message, skipped.
        r.extend_from_slice(&[6 << 3 | 2, 2, 8, 1]);
        r.push(11 << 3);
        pb_varint(&mut r, u64::from(shared));
        r
    }

    #[test]
    fn records_are_read_from_a_disk_usage_response() {
        let mut msg = Vec::new();
        for rec in [
            record("a", false, 4096, false),
            record("b", true, 1 << 40, false),
            record("c", false, 7, true),
        ] {
            msg.push(1 << 3 | 2);
            pb_varint(&mut msg, rec.len() as u64);
            msg.extend(rec);
        }
        let got = parse_answer(&msg).expect("parses");
        assert_eq!(
            got,
            vec![
                CacheRecord {
                    size: 4096,
                    in_use: false,
                    shared: false
                },
                CacheRecord {
                    size: 1 << 40,
                    in_use: true,
                    shared: false
                },
                CacheRecord {
                    size: 7,
                    in_use: false,
                    shared: true
                },
            ]
        );
        assert_eq!(parse_answer(&[]).expect("empty"), vec![]);
        assert!(parse_answer(&[1 << 3 | 2, 9, 1]).is_err(), "cut short");
    }

    #[test]
    fn grpc_framing_and_padding() {
        assert_eq!(grpc_message(&[0, 0, 0, 0, 2, 7, 8]).expect("one"), &[7, 8]);
        assert!(grpc_message(&[]).is_err(), "no message: the call failed");
        assert!(grpc_message(&[1, 0, 0, 0, 0]).is_err(), "compressed");
        assert!(grpc_message(&[0, 0, 0, 0, 9, 1]).is_err(), "cut short");
        assert_eq!(unpad(PADDED, &[2, 5, 6, 0, 0]).expect("padded"), &[5, 6]);
        assert!(unpad(PADDED, &[9, 5]).is_err());
        assert_eq!(unpad(0, &[1, 2]).expect("plain"), &[1, 2]);
    }

    #[test]
    fn hpack_integers_and_the_request() {
        let mut v = Vec::new();
        hpack_int(&mut v, 0, 4, 31);
        assert_eq!(v, [0x0f, 0x10]);
        let mut v = Vec::new();
        hpack_int(&mut v, 0, 5, 1337);
        assert_eq!(v, [31, 154, 10], "RFC 7541 C.1.2");
        let r = request();
        assert!(r.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(memchr::memmem::find(&r, PATH.as_bytes()).is_some());
    }
}
