//! Listening sockets through the kernel's socket-diagnostics netlink interface
//! (`NETLINK_SOCK_DIAG`, as `ss` reads them), one network namespace at a time.
//!
//! Why not only /proc/net/tcp: reading it walks the kernel's whole established-connections hash
//! table — every bucket, empty or not, shared by every namespace — at least twice per file; on a
//! host with much memory that is milliseconds per namespace and per family, even with no
//! connection at all. A sock_diag dump that asks for LISTEN only walks the listening hash.
//!
//! A netlink socket answers for the namespace it was created in. [`in_namespaces`] therefore
//! runs on a thread of its own that enters each namespace in turn (`setns`, root only), creates
//! its socket there and asks; the thread is thrown away after, so dockhand's own threads never
//! change namespace. Whatever fails (not root, an old kernel) is reported per namespace, and
//! the caller reads /proc for it instead.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{MsgFlags, socket};

use super::net::Proto;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `1 << TCP_LISTEN`.
const STATE_LISTEN: u32 = 1 << 10;
/// `1 << TCP_CLOSE`: a bound UDP socket that is not connected.
const STATE_CLOSE: u32 = 1 << 7;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_msg`: family, state, timer, retrans, the 48-byte id, expires, rqueue,
/// wqueue, uid, inode.
const DIAG_MSG_LEN: usize = 72;

/// One socket the dump returned, reduced to what a listener needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSocket {
    pub proto: Proto,
    pub local: SocketAddr,
    pub uid: u32,
    pub inode: u64,
}

/// The request: `nlmsghdr` + `inet_diag_req_v2` (family, protocol, no extensions, the state
/// mask, a zero socket id: every socket).
pub fn request(family: u8, proto: Proto, seq: u32) -> [u8; 72] {
    let mut b = [0u8; 72];
    b[0..4].copy_from_slice(&72u32.to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b[16] = family;
    b[17] = match proto {
        Proto::Tcp => nix::libc::IPPROTO_TCP as u8,
        Proto::Udp => nix::libc::IPPROTO_UDP as u8,
    };
    let states = match proto {
        Proto::Tcp => STATE_LISTEN,
        Proto::Udp => STATE_CLOSE,
    };
    b[20..24].copy_from_slice(&states.to_ne_bytes());
    b
}

/// The older request type for TCP (`TCPDIAG_GETSOCK` + `struct inet_diag_req`): the kernel
/// answers it for both address families in one walk of the listening hash, where the v2
/// request needs one walk per family.
const TCPDIAG_GETSOCK: u16 = 18;

/// The compatibility request: `nlmsghdr` + `inet_diag_req` (family, lengths, no extensions,
/// a zero socket id, the state mask, no `dbs`).
pub fn request_tcp_both(seq: u32) -> [u8; 76] {
    let mut b = [0u8; 76];
    b[0..4].copy_from_slice(&76u32.to_ne_bytes());
    b[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b[16] = nix::libc::AF_INET as u8;
    b[68..72].copy_from_slice(&STATE_LISTEN.to_ne_bytes());
    b
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What one buffer of the answer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// More messages follow.
    More,
    /// `NLMSG_DONE`: the dump is complete.
    Done,
}

/// Parses one buffer of the dump's answer into `out`. An `NLMSG_ERROR` is the kernel's errno.
pub fn parse(buf: &[u8], proto: Proto, out: &mut Vec<DiagSocket>) -> io::Result<Chunk> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "a truncated sock_diag message");
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_ne(buf, at).ok_or_else(bad)? as usize;
        let kind = u16_ne(buf, at + 4).ok_or_else(bad)?;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return Err(bad());
        }
        match kind {
            NLMSG_DONE => return Ok(Chunk::Done),
            NLMSG_ERROR => {
                let errno = u32_ne(buf, at + NLMSG_HDRLEN).ok_or_else(bad)? as i32;
                return Err(io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                let m = buf
                    .get(at + NLMSG_HDRLEN..at + NLMSG_HDRLEN + DIAG_MSG_LEN)
                    .ok_or_else(bad)?;
                let family = m[0];
                // The id: sport, dport (big-endian), src[16], dst[16], if, cookie.
                let port = u16::from_be_bytes([m[4], m[5]]);
                let src: [u8; 16] = m[8..24].try_into().map_err(|_| bad())?;
                let ip = if i32::from(family) == nix::libc::AF_INET6 {
                    IpAddr::V6(Ipv6Addr::from(src))
                } else {
                    IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
                };
                out.push(DiagSocket {
                    proto,
                    local: SocketAddr::new(ip, port),
                    uid: u32_ne(m, 64).ok_or_else(bad)?,
                    inode: u64::from(u32_ne(m, 68).ok_or_else(bad)?),
                });
            }
            _ => {}
        }
        // Messages are aligned to 4 bytes.
        at += (len + 3) & !3;
    }
    Ok(Chunk::More)
}

/// A netlink sock_diag socket in the calling thread's current network namespace.
fn open() -> io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, sockopt};
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .map_err(errno)?;
    // A bound on each receive: a kernel that never answers must not hold the thread forever
    // (the caller's deadline abandons the thread; this ends it).
    // Best effort, as before: without it the thread is still abandoned at the deadline.
    let _ = setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(5, 0),
    );
    Ok(fd)
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Sends the whole request (netlink's send() needs no address).
fn send(fd: &OwnedFd, req: &[u8]) -> io::Result<()> {
    nix::sys::socket::send(fd.as_raw_fd(), req, MsgFlags::empty()).map_err(errno)?;
    Ok(())
}

/// One datagram of the answer into `buf`; an interrupted receive is retried.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::sys::socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(errno),
        }
    }
}

/// Sends `req` through `fd` and collects the dump's sockets of `proto`.
fn dump(fd: &OwnedFd, req: &[u8], proto: Proto, buf: &mut [u8]) -> io::Result<Vec<DiagSocket>> {
    send(fd, req)?;
    let mut out = Vec::new();
    loop {
        let n = recv(fd, buf)?;
        if n == 0 {
            return Ok(out);
        }
        if parse(&buf[..n], proto, &mut out)? == Chunk::Done {
            return Ok(out);
        }
    }
}

/// Every TCP listener and unconnected UDP socket (IPv4 and IPv6) of the namespace `fd` is in.
pub fn listening(fd: &OwnedFd) -> io::Result<Vec<DiagSocket>> {
    // Big enough that a dump of thousands of sockets takes a few receives.
    let mut buf = vec![0u8; 256 * 1024];
    let mut all = Vec::new();
    // TCP, both families in one walk; an older or stricter kernel gets the v2 requests.
    let both = dump(fd, &request_tcp_both(1), Proto::Tcp, &mut buf);
    let v2: &[Proto] = match both {
        Ok(mut v) => {
            all.append(&mut v);
            &[Proto::Udp]
        }
        Err(_) => &[Proto::Tcp, Proto::Udp],
    };
    let mut seq = 2;
    for &proto in v2 {
        for family in [nix::libc::AF_INET as u8, nix::libc::AF_INET6 as u8] {
            match dump(fd, &request(family, proto, seq), proto, &mut buf) {
                Ok(mut v) => all.append(&mut v),
                // No IPv6 in this kernel (or namespace): nothing to list there.
                Err(e)
                    if family == nix::libc::AF_INET6 as u8
                        && matches!(
                            e.raw_os_error(),
                            Some(nix::libc::EAFNOSUPPORT | nix::libc::ENOENT)
                        ) => {}
                Err(e) => return Err(e),
            }
            seq += 1;
        }
    }
    Ok(all)
}

/// `struct unix_diag_req`'s `udiag_show` bits: the bound name, and the VFS inode the name is.
const UDIAG_SHOW_NAME: u32 = 0x1;
const UDIAG_SHOW_VFS: u32 = 0x2;
/// Attribute types of a unix diag answer.
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_VFS: u16 = 1;
/// `struct unix_diag_msg`: family, type, state, pad, inode, cookie[2].
const UNIX_MSG_LEN: usize = 16;

/// One listening unix socket: its own inode (what `/proc/<pid>/fd` shows as `socket:[ino]`)
/// and, for a socket bound to a path, the device and inode of the file that path was when it
/// was bound — the kernel's own record, which no later rename or symlink changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixListener {
    pub inode: u64,
    /// `(major, minor, inode)` of the socket file; `None` for an abstract or unnamed socket.
    pub vfs: Option<(u32, u32, u64)>,
    /// The path it was bound to, for messages only (never resolved again).
    pub name: Option<String>,
}

/// The request: `nlmsghdr` + `unix_diag_req` (AF_UNIX, listening sockets, name and VFS shown).
pub fn unix_request(seq: u32) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[0..4].copy_from_slice(&40u32.to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b[16] = nix::libc::AF_UNIX as u8;
    b[20..24].copy_from_slice(&STATE_LISTEN.to_ne_bytes());
    b[28..32].copy_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_VFS).to_ne_bytes());
    b
}

/// The kernel's internal `dev_t` (`MAJOR = dev >> 20`, `MINOR = dev & 0xfffff`), which is what
/// `UNIX_DIAG_VFS` carries, as (major, minor).
pub fn kernel_dev(dev: u32) -> (u32, u32) {
    (dev >> 20, dev & 0xfffff)
}

/// Parses one buffer of a unix dump's answer into `out`.
pub fn parse_unix(buf: &[u8], out: &mut Vec<UnixListener>) -> io::Result<Chunk> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a truncated unix sock_diag message",
        )
    };
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_ne(buf, at).ok_or_else(bad)? as usize;
        let kind = u16_ne(buf, at + 4).ok_or_else(bad)?;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return Err(bad());
        }
        match kind {
            NLMSG_DONE => return Ok(Chunk::Done),
            NLMSG_ERROR => {
                let errno = u32_ne(buf, at + NLMSG_HDRLEN).ok_or_else(bad)? as i32;
                return Err(io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY => {
                let m = buf.get(at + NLMSG_HDRLEN..at + len).ok_or_else(bad)?;
                if m.len() < UNIX_MSG_LEN {
                    return Err(bad());
                }
                let mut sock = UnixListener {
                    inode: u64::from(u32_ne(m, 4).ok_or_else(bad)?),
                    vfs: None,
                    name: None,
                };
                // The attributes: rta_len, rta_type, payload, each aligned to 4 bytes.
                let mut a = UNIX_MSG_LEN;
                while a + 4 <= m.len() {
                    let alen = usize::from(u16_ne(m, a).ok_or_else(bad)?);
                    let atype = u16_ne(m, a + 2).ok_or_else(bad)?;
                    if alen < 4 || a + alen > m.len() {
                        return Err(bad());
                    }
                    let payload = &m[a + 4..a + alen];
                    match atype {
                        UNIX_DIAG_VFS if payload.len() >= 8 => {
                            let ino = u32_ne(payload, 0).ok_or_else(bad)?;
                            let (major, minor) = kernel_dev(u32_ne(payload, 4).ok_or_else(bad)?);
                            sock.vfs = Some((major, minor, u64::from(ino)));
                        }
                        UNIX_DIAG_NAME => {
                            let n = payload.split(|b| *b == 0).next().unwrap_or(&[]);
                            sock.name = Some(String::from_utf8_lossy(n).into_owned());
                        }
                        _ => {}
                    }
                    a += (alen + 3) & !3;
                }
                out.push(sock);
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    Ok(Chunk::More)
}

/// Every listening unix socket of the caller's network namespace, with the VFS identity of
/// the file each was bound to. Synchronous (each receive is bounded): call it under a deadline.
pub fn unix_listeners() -> io::Result<Vec<UnixListener>> {
    let fd = open()?;
    let req = unix_request(1);
    send(&fd, &req)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Vec::new();
    loop {
        let n = recv(&fd, &mut buf)?;
        if n == 0 || parse_unix(&buf[..n], &mut out)? == Chunk::Done {
            return Ok(out);
        }
    }
}

/// The answers of [`start`], one per namespace asked, in order.
pub type Dumps = Vec<io::Result<Vec<DiagSocket>>>;

/// A dump under way on its own thread (see [`start`]).
pub struct Pending {
    worker: io::Result<std::thread::JoinHandle<Dumps>>,
    n: usize,
}

impl Pending {
    /// Waits for the dumps.
    pub fn wait(self) -> Dumps {
        match self.worker.map(|h| h.join()) {
            Ok(Ok(v)) => v,
            _ => (0..self.n)
                .map(|_| Err(io::Error::other("the sock_diag thread failed")))
                .collect(),
        }
    }
}

/// Starts reading the listening sockets of the caller's namespace (`None`) and of each
/// namespace given by a pid in it, on a thread of its own that enters them in turn, so the
/// caller can do other work meanwhile. One result per entry, in order; an error is the
/// namespace's alone (the caller reads /proc for it instead).
pub fn start(pids: &[Option<i32>]) -> Pending {
    let pids = pids.to_vec();
    let n = pids.len();
    // The caller's namespace, to come back to for a `None` after entering others.
    let home = std::fs::File::open("/proc/thread-self/ns/net");
    let worker = std::thread::Builder::new()
        .name("dockhand-sockdiag".into())
        .spawn(move || {
            let mut away = false;
            pids.into_iter()
                .map(|pid| {
                    match pid {
                        Some(pid) => {
                            enter(&std::fs::File::open(format!("/proc/{pid}/ns/net"))?)?;
                            away = true;
                        }
                        None if away => match &home {
                            Ok(h) => enter(h)?,
                            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
                        },
                        None => {}
                    }
                    listening(&open()?)
                })
                .collect::<Vec<_>>()
        });
    Pending { worker, n }
}

/// [`start`] and wait.
pub fn in_namespaces(pids: &[Option<i32>]) -> Dumps {
    start(pids).wait()
}

/// Moves the calling thread into the network namespace `ns` (a `/proc/*/ns/net` file).
fn enter(ns: &std::fs::File) -> io::Result<()> {
    // setns changes only the calling thread's network namespace, and this thread is dropped
    // after its work.
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `SOCK_DIAG_BY_FAMILY` message as the kernel writes it.
    fn msg(family: u8, port: u16, addr: &[u8], uid: u32, inode: u32) -> Vec<u8> {
        let mut b = vec![0u8; NLMSG_HDRLEN + DIAG_MSG_LEN];
        b[0..4].copy_from_slice(&((NLMSG_HDRLEN + DIAG_MSG_LEN) as u32).to_ne_bytes());
        b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        let m = &mut b[NLMSG_HDRLEN..];
        m[0] = family;
        m[1] = 10;
        m[4..6].copy_from_slice(&port.to_be_bytes());
        m[8..8 + addr.len()].copy_from_slice(addr);
        m[64..68].copy_from_slice(&uid.to_ne_bytes());
        m[68..72].copy_from_slice(&inode.to_ne_bytes());
        b
    }

    fn done() -> Vec<u8> {
        let mut b = vec![0u8; 20];
        b[0..4].copy_from_slice(&20u32.to_ne_bytes());
        b[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        b
    }

    #[test]
    fn messages_parse_into_sockets() {
        let mut buf = msg(nix::libc::AF_INET as u8, 8080, &[127, 0, 0, 1], 1000, 4242);
        let v6 = "::1".parse::<Ipv6Addr>().expect("ip").octets();
        buf.extend(msg(nix::libc::AF_INET6 as u8, 53, &v6, 0, 7));
        let mut out = Vec::new();
        assert_eq!(
            parse(&buf, Proto::Tcp, &mut out).expect("parses"),
            Chunk::More
        );
        buf.extend(done());
        out.clear();
        assert_eq!(
            parse(&buf, Proto::Udp, &mut out).expect("parses"),
            Chunk::Done
        );
        assert_eq!(
            out,
            vec![
                DiagSocket {
                    proto: Proto::Udp,
                    local: "127.0.0.1:8080".parse().expect("addr"),
                    uid: 1000,
                    inode: 4242
                },
                DiagSocket {
                    proto: Proto::Udp,
                    local: "[::1]:53".parse().expect("addr"),
                    uid: 0,
                    inode: 7
                },
            ]
        );
    }

    #[test]
    fn errors_and_truncation_are_errors() {
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[16..20].copy_from_slice(&(-nix::libc::EPERM).to_ne_bytes());
        let err = parse(&e, Proto::Tcp, &mut Vec::new()).expect_err("EPERM");
        assert_eq!(err.raw_os_error(), Some(nix::libc::EPERM));
        let mut cut = msg(nix::libc::AF_INET as u8, 1, &[1, 2, 3, 4], 0, 1);
        cut[0..4].copy_from_slice(&500u32.to_ne_bytes());
        assert!(parse(&cut, Proto::Tcp, &mut Vec::new()).is_err());
    }

    #[test]
    fn the_request_asks_for_listeners_only() {
        let r = request(nix::libc::AF_INET as u8, Proto::Tcp, 9);
        assert_eq!(u32_ne(&r, 0), Some(72));
        assert_eq!(u16_ne(&r, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(u32_ne(&r, 20), Some(STATE_LISTEN));
        let r = request(nix::libc::AF_INET6 as u8, Proto::Udp, 9);
        assert_eq!(r[16], nix::libc::AF_INET6 as u8);
        assert_eq!(u32_ne(&r, 20), Some(STATE_CLOSE));
    }

    #[test]
    fn one_tcp_walk_lists_both_families() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind v6");
        let fd = open().expect("netlink");
        let mut buf = vec![0u8; 64 * 1024];
        let got = dump(&fd, &request_tcp_both(7), Proto::Tcp, &mut buf).expect("dump");
        for a in [v4.local_addr().expect("a"), v6.local_addr().expect("a")] {
            assert!(got.iter().any(|s| s.local == a), "{a} missing");
        }
    }

    #[test]
    fn a_bound_unix_listener_is_dumped_with_its_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("dockhand-udiag-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("l.sock");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let file = std::fs::symlink_metadata(&path).expect("lstat");
        let sock_ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
            .expect("fd")
            .ino();
        let all = unix_listeners().expect("unix dump");
        let me = all
            .iter()
            .find(|s| s.inode == sock_ino)
            .unwrap_or_else(|| panic!("socket {sock_ino} not dumped"));
        let dev = file.dev();
        let want = (
            nix::sys::stat::major(dev) as u32,
            nix::sys::stat::minor(dev) as u32,
            file.ino(),
        );
        assert_eq!(me.vfs, Some(want));
        assert_eq!(me.name.as_deref(), path.to_str());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn our_own_listener_is_dumped_with_its_inode() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let got = in_namespaces(&[None]).pop().expect("one").expect("dump");
        let me = got
            .iter()
            .find(|s| s.local == addr && s.proto == Proto::Tcp)
            .unwrap_or_else(|| panic!("{addr} not dumped"));
        let fd_inode = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
                .expect("fd")
                .ino()
        };
        assert_eq!(me.inode, fd_inode);
    }
}
