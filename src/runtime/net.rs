//! Listening sockets (TCP and UDP) and the processes that own them, in every network namespace;
//! and the pure parsing of `docker-proxy` command lines.
//!
//! A listener is read from `/proc/net/tcp{,6}` (state `0A`, LISTEN) and `/proc/net/udp{,6}`
//! (state `07`: a bound, unconnected socket — UDP's way of listening; a connected one, `01`, talks
//! to one peer and is not listed) once per network namespace — the host's from /proc/self/net,
//! each other namespace's from `/proc/<pid>/net/…` of one pid in it — then its socket inode is
//! looked up among `/proc/*/fd` (`socket:[inode]`). Each read of a socket table walks the kernel's
//! hash table (a few ms), hence once per namespace. Processes vanish mid-scan: ENOENT/ESRCH mean
//! "gone"; fds we may not read are counted, so a caller can say its view was reduced.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use procfs::net::{TcpNetEntry, TcpState, UdpNetEntry, UdpState};
use procfs::process::Process;
use serde::{Deserialize, Serialize};

use super::host::{pids, user_names};

/// A socket's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `"tcp"` / `"udp"`, as docker-proxy's `-proto` and a published port's key (`80/tcp`) say.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// Parses `tcp` / `udp` (any case); anything else (`sctp`) is `None`.
    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One listening socket: a TCP socket in LISTEN, or a bound, unconnected UDP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub proto: Proto,
    pub address: IpAddr,
    pub port: u16,
    /// The socket's inode.
    pub inode: u64,
    /// The network namespace's inode (`/proc/<pid>/ns/net`), 0 when unknown.
    pub netns: u64,
    /// The namespace is the host's (the one dockhand runs in).
    pub host_ns: bool,
    /// The socket's owner as the kernel records it (the uid of the process that created it),
    /// seen from dockhand's user namespace.
    pub uid: u32,
    /// `uid`'s name in /etc/passwd; `None` when it has no entry there. Shared: thousands of
    /// sockets have a handful of owners.
    pub user: Option<Arc<str>>,
    /// The processes holding the socket (several after a fork); empty when none could be seen.
    pub pids: Vec<i32>,
}

/// Every listener found, and how well we could see.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListenerTable {
    pub listeners: Vec<Listener>,
    /// Network namespaces read.
    pub namespaces: usize,
    /// Processes whose fds we were not allowed to read (not root): owners may be among them.
    pub unreadable: usize,
    /// Namespaces whose tables could not be read, with the reason.
    pub errors: Vec<String>,
}

impl ListenerTable {
    /// Listeners of `proto` in the host's namespace on `port`.
    pub fn host_on(&self, proto: Proto, port: u16) -> impl Iterator<Item = &Listener> {
        self.listeners
            .iter()
            .filter(move |l| l.host_ns && l.proto == proto && l.port == port)
    }

    /// Listeners of one protocol, in every namespace.
    pub fn of(&self, proto: Proto) -> impl Iterator<Item = &Listener> {
        self.listeners.iter().filter(move |l| l.proto == proto)
    }
}

/// The inode of a process's network namespace (`net:[4026531840]`).
fn netns_of(pid: &str) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    parse_ns_link(&link.to_string_lossy())
}

/// The inode of `pid`'s network namespace; `None` when it is gone or not ours to read.
pub fn netns_of_pid(pid: i32) -> Option<u64> {
    netns_of(&pid.to_string())
}

/// `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    s.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// A row of any of the four socket tables, reduced to what a listener needs.
struct Row {
    proto: Proto,
    local: SocketAddr,
    uid: u32,
    inode: u64,
}

fn tcp_listening(entries: Vec<TcpNetEntry>) -> Vec<Row> {
    entries
        .into_iter()
        .filter(|e| e.state == TcpState::Listen)
        .map(|e| Row {
            proto: Proto::Tcp,
            local: e.local_address,
            uid: e.uid,
            inode: e.inode,
        })
        .collect()
}

fn udp_listening(entries: Vec<UdpNetEntry>) -> Vec<Row> {
    entries
        .into_iter()
        .filter(|e| e.state == UdpState::Close)
        .map(|e| Row {
            proto: Proto::Udp,
            local: e.local_address,
            uid: e.uid,
            inode: e.inode,
        })
        .collect()
}

type TableRead = procfs::ProcResult<Vec<Row>>;

/// The four tables of one namespace, each read once: (file name, rows or why not).
fn read_tables(p: Option<&Process>) -> [(&'static str, TableRead); 4] {
    match p {
        None => [
            ("tcp", procfs::net::tcp().map(tcp_listening)),
            ("tcp6", procfs::net::tcp6().map(tcp_listening)),
            ("udp", procfs::net::udp().map(udp_listening)),
            ("udp6", procfs::net::udp6().map(udp_listening)),
        ],
        Some(p) => [
            ("tcp", p.tcp().map(tcp_listening)),
            ("tcp6", p.tcp6().map(tcp_listening)),
            ("udp", p.udp().map(udp_listening)),
            ("udp6", p.udp6().map(udp_listening)),
        ],
    }
}

/// Reads every TCP and UDP listener on the host, in every network namespace, with its owners.
/// Synchronous and possibly slow on a huge host: run it through [`super::blocking`].
///
/// Each namespace is read once: through sock_diag ([`super::sockdiag`], as root), else — not
/// root, or an old kernel — from its four /proc tables. Then one pass over every process's fds
/// maps the sockets' inodes to their owners.
pub fn listeners() -> ListenerTable {
    let mut table = ListenerTable::default();
    let host_ns = netns_of("self").unwrap_or(0);
    let all = pids();
    let namespaces = other_namespaces(&all, host_ns);
    let mut rows = Rows {
        host_ns,
        users: user_names()
            .into_iter()
            .map(|(uid, name)| (uid, Arc::from(name)))
            .collect(),
        by_inode: HashMap::new(),
    };
    let order: Vec<(u64, Option<i32>)> = std::iter::once((host_ns, None))
        .chain(namespaces.iter().map(|(&ns, &pid)| (ns, Some(pid))))
        .collect();
    let pids_in: Vec<Option<i32>> = order.iter().map(|(_, p)| *p).collect();
    // The dumps run on their own thread while this one reads every process's fds.
    let pending = super::sockdiag::start(&pids_in);
    let mut owners_of = socket_owners(&all, &mut table);
    let diag = pending.wait();
    for ((ns, pid), dumped) in order.into_iter().zip(diag) {
        if let Ok(socks) = dumped {
            let dumped = socks
                .into_iter()
                .map(|d| Row {
                    proto: d.proto,
                    local: d.local,
                    uid: d.uid,
                    inode: d.inode,
                })
                .collect();
            rows.add(&mut table, ns, dumped);
            table.namespaces += 1;
            continue;
        }
        read_proc_tables(&mut rows, &mut table, ns, pid);
    }
    for l in &mut table.listeners {
        if let Some(pids) = owners_of.remove(&l.inode) {
            l.pids = pids;
        }
    }
    table
}

/// One pid per namespace other than ours, to read that namespace's tables through.
fn other_namespaces(all: &[i32], host_ns: u64) -> BTreeMap<u64, i32> {
    let mut namespaces: BTreeMap<u64, i32> = BTreeMap::new();
    for &pid in all {
        if let Some(ns) = netns_of(&pid.to_string())
            && ns != host_ns
        {
            namespaces.entry(ns).or_insert(pid);
        }
    }
    namespaces
}

/// Every socket inode held open, with the pids holding it (one pass over every process's fds,
/// bounded by the search bound); processes whose fds cannot be read are counted in `table`.
fn socket_owners(all: &[i32], table: &mut ListenerTable) -> HashMap<u64, Vec<i32>> {
    let mut owners_of: HashMap<u64, Vec<i32>> = HashMap::new();
    let until = std::time::Instant::now() + super::proc::SEARCH_BOUND;
    for &pid in all {
        match super::proc::socket_inodes(pid, until) {
            Ok(inodes) => {
                for ino in inodes {
                    let v = owners_of.entry(ino).or_default();
                    if !v.contains(&pid) {
                        v.push(pid);
                    }
                }
            }
            Err(super::proc::FdError::Unreadable) => table.unreadable += 1,
            Err(super::proc::FdError::Gone) => {}
        }
    }
    owners_of
}

/// Turns rows read from any namespace into listeners, each socket once.
struct Rows {
    host_ns: u64,
    users: HashMap<u32, Arc<str>>,
    by_inode: HashMap<u64, usize>,
}

impl Rows {
    /// Adds the rows read in namespace `ns` that are not in the table yet.
    fn add(&mut self, table: &mut ListenerTable, ns: u64, rows: Vec<Row>) {
        for r in rows {
            // Inode 0: a socket being torn down, owned by no fd.
            if r.inode == 0 || self.by_inode.contains_key(&r.inode) {
                continue;
            }
            self.by_inode.insert(r.inode, table.listeners.len());
            table.listeners.push(Listener {
                proto: r.proto,
                address: r.local.ip(),
                port: r.local.port(),
                inode: r.inode,
                netns: ns,
                host_ns: ns == self.host_ns,
                uid: r.uid,
                user: self.users.get(&r.uid).cloned(),
                pids: Vec::new(),
            });
        }
    }
}

/// A namespace sock_diag could not dump, read from its four /proc tables (through `pid`, or
/// our own for the host's); what cannot be read is said in `table.errors`.
fn read_proc_tables(rows: &mut Rows, table: &mut ListenerTable, ns: u64, pid: Option<i32>) {
    let proc = match pid {
        Some(pid) => match Process::new(pid) {
            Ok(p) => Some(p),
            // Gone since the scan: its namespace may have gone with it.
            Err(_) => return,
        },
        None => None,
    };
    let mut read_any = false;
    for (v, read) in read_tables(proc.as_ref()) {
        match read {
            Ok(found) => {
                read_any = true;
                rows.add(table, ns, found);
            }
            // No IPv6 in the kernel: no tcp6/udp6 file, nothing to read.
            Err(procfs::ProcError::NotFound(_)) => {}
            Err(e) => table.errors.push(match pid {
                None => format!("host /proc/net/{v}: {e}"),
                Some(pid) => format!("/proc/{pid}/net/{v} (netns {ns}): {e}"),
            }),
        }
    }
    if read_any || pid.is_none() {
        table.namespaces += 1;
    }
}

/// What a `docker-proxy` command line says it forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyArgs {
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
}

/// Whether a command line is docker-proxy's (by the program's base name).
pub fn is_docker_proxy(cmdline: &[String]) -> bool {
    cmdline
        .first()
        .and_then(|a| a.rsplit('/').next())
        .is_some_and(|n| n == "docker-proxy")
}

/// The value of a Go-style flag: `-name v`, `--name v`, `-name=v`, `--name=v`.
pub fn go_flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(bare) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        if bare == name {
            return it.next().map(String::as_str);
        }
        if let Some(v) = bare.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v);
        }
    }
    None
}

/// Parses `docker-proxy -proto tcp -host-ip X -host-port P -container-ip C -container-port Q`.
/// `None` when it is not docker-proxy or a port is missing.
pub fn parse_docker_proxy(cmdline: &[String]) -> Option<ProxyArgs> {
    if !is_docker_proxy(cmdline) {
        return None;
    }
    Some(ProxyArgs {
        // docker-proxy's own default.
        proto: go_flag(cmdline, "proto").unwrap_or("tcp").to_string(),
        host_ip: go_flag(cmdline, "host-ip").unwrap_or("").to_string(),
        host_port: go_flag(cmdline, "host-port")?.parse().ok()?,
        container_ip: go_flag(cmdline, "container-ip").unwrap_or("").to_string(),
        container_port: go_flag(cmdline, "container-port")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn docker_proxy_command_lines() {
        type Want<'a> = Option<(&'a str, u16, &'a str, u16)>;
        let cases: &[(&str, Want)] = &[
            (
                "/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80",
                Some(("0.0.0.0", 8080, "172.17.0.2", 80)),
            ),
            (
                "docker-proxy --proto=udp --host-ip=:: --host-port=53 --container-ip=172.18.0.3 --container-port=5353",
                Some(("::", 53, "172.18.0.3", 5353)),
            ),
            (
                "docker-proxy -proto tcp -host-port x -container-port 1",
                None,
            ),
            ("/bin/sleep -host-port 1 -container-port 2", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = parse_docker_proxy(&args(line));
            let got = got.as_ref().map(|p| {
                (
                    p.host_ip.as_str(),
                    p.host_port,
                    p.container_ip.as_str(),
                    p.container_port,
                )
            });
            assert_eq!(got, *want, "{line}");
        }
        let p = parse_docker_proxy(&args("docker-proxy -host-port 1 -container-port 2"))
            .expect("parses");
        assert_eq!(p.proto, "tcp");
    }

    #[test]
    fn the_proc_tables_and_sock_diag_agree() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (la, ua) = (l.local_addr().expect("addr"), u.local_addr().expect("addr"));
        let mut from_proc: Vec<(Proto, SocketAddr, u64)> = read_tables(None)
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .flatten()
            .map(|r| (r.proto, r.local, r.inode))
            .collect();
        let mut from_diag: Vec<(Proto, SocketAddr, u64)> =
            match super::super::sockdiag::in_namespaces(&[None]).pop() {
                Some(Ok(v)) => v.into_iter().map(|d| (d.proto, d.local, d.inode)).collect(),
                other => panic!("sock_diag in our own namespace: {other:?}"),
            };
        for v in [&mut from_proc, &mut from_diag] {
            v.retain(|(_, a, _)| *a == la || *a == ua);
            v.sort();
        }
        assert_eq!(from_proc.len(), 2, "{from_proc:?}");
        assert_eq!(from_proc, from_diag);
    }

    #[test]
    fn namespace_links() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[1]"), None);
    }

    /// The one listener with this protocol, address and port in the host's namespace.
    fn find(t: &ListenerTable, proto: Proto, addr: SocketAddr) -> Option<&Listener> {
        t.host_on(proto, addr.port())
            .find(|l| l.address == addr.ip())
    }

    fn me() -> i32 {
        std::process::id() as i32
    }

    fn my_uid() -> u32 {
        nix::unistd::getuid().as_raw()
    }

    #[test]
    fn finds_our_own_tcp_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let t = listeners();
        let found = find(&t, Proto::Tcp, addr).expect("our listener is listed");
        assert!(found.pids.contains(&me()), "{found:?}");
        assert_eq!(found.uid, my_uid(), "{found:?}");
        assert!(found.host_ns);
        assert!(t.namespaces >= 1);
        // The same port is not a UDP listener.
        assert!(find(&t, Proto::Udp, addr).is_none(), "{t:?}");
    }

    #[test]
    fn finds_our_own_udp_socket_with_its_user() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = s.local_addr().expect("addr");
        let t = listeners();
        let found = find(&t, Proto::Udp, addr).expect("our UDP socket is listed");
        assert!(found.pids.contains(&me()), "{found:?}");
        assert_eq!(found.uid, my_uid(), "{found:?}");
        let want: Option<Arc<str>> = super::super::host::user_names()
            .get(&my_uid())
            .map(|n| Arc::from(n.as_str()));
        assert!(want.is_some(), "this test's user has no /etc/passwd entry");
        assert_eq!(found.user, want, "{found:?}");
        assert!(find(&t, Proto::Tcp, addr).is_none(), "{t:?}");
    }

    #[test]
    fn a_connected_udp_socket_is_not_listening() {
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind peer");
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.connect(peer.local_addr().expect("peer addr"))
            .expect("connect");
        let addr = s.local_addr().expect("addr");
        let t = listeners();
        assert!(find(&t, Proto::Udp, addr).is_none(), "{addr} listed: {t:?}");
        // Its unconnected peer is.
        let p = peer.local_addr().expect("peer addr");
        assert!(find(&t, Proto::Udp, p).is_some(), "{p} not listed");
    }

    #[test]
    fn finds_ipv6_listeners_when_the_kernel_has_ipv6() {
        if !std::path::Path::new("/proc/net/udp6").exists() {
            eprintln!("no IPv6 in this kernel: nothing to look for");
            return;
        }
        let u = std::net::UdpSocket::bind("[::]:0").expect("bind udp6");
        let l = std::net::TcpListener::bind("[::]:0").expect("bind tcp6");
        let (ua, la) = (u.local_addr().expect("addr"), l.local_addr().expect("addr"));
        let t = listeners();
        for (proto, a) in [(Proto::Udp, ua), (Proto::Tcp, la)] {
            let found = find(&t, proto, a).unwrap_or_else(|| panic!("{proto} {a} not listed"));
            assert!(found.address.is_ipv6(), "{found:?}");
            assert!(found.pids.contains(&me()), "{found:?}");
        }
    }

    #[test]
    fn protocol_names() {
        let cases = [
            ("tcp", Some(Proto::Tcp)),
            ("UDP", Some(Proto::Udp)),
            ("sctp", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(Proto::parse(s), want, "{s}");
        }
        assert_eq!(
            serde_json::to_value(Proto::Udp).expect("json"),
            serde_json::json!("udp")
        );
    }
}
