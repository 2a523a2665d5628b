//! TCP listeners and the processes that own them, in every network namespace; and the pure
//! parsing of `docker-proxy` command lines.
//!
//! A listener is read from `/proc/net/tcp{,6}` (state `0A`, LISTEN) once per network namespace —
//! the host's from /proc/self/net, each other namespace's from `/proc/<pid>/net/tcp{,6}` of one
//! pid in it — then its socket inode is looked up among `/proc/*/fd` (`socket:[inode]`). Each
//! read of /proc/net/tcp walks the kernel's hash table (a few ms), hence once per namespace.
//! Processes vanish mid-scan: ENOENT/ESRCH mean "gone"; fds we may not read are counted, so a
//! caller can say its view was reduced.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use procfs::net::{TcpNetEntry, TcpState};
use procfs::process::{FDTarget, Process};
use serde::Serialize;

use super::host::pids;

/// One listening TCP socket.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub address: IpAddr,
    pub port: u16,
    /// The socket's inode.
    pub inode: u64,
    /// The network namespace's inode (`/proc/<pid>/ns/net`), 0 when unknown.
    pub netns: u64,
    /// The namespace is the host's (the one dockhand runs in).
    pub host_ns: bool,
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
    /// Listeners in the host's namespace on `port`.
    pub fn host_on(&self, port: u16) -> impl Iterator<Item = &Listener> {
        self.listeners
            .iter()
            .filter(move |l| l.host_ns && l.port == port)
    }
}

/// The inode of a process's network namespace (`net:[4026531840]`).
fn netns_of(pid: &str) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    parse_ns_link(&link.to_string_lossy())
}

/// `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    s.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn listening(entries: Vec<TcpNetEntry>) -> impl Iterator<Item = TcpNetEntry> {
    entries.into_iter().filter(|e| e.state == TcpState::Listen)
}

/// Reads every TCP listener on the host, in every network namespace, with its owners.
/// Synchronous and possibly slow on a huge host: run it through [`super::blocking`].
pub fn listeners() -> ListenerTable {
    let mut table = ListenerTable::default();
    let host_ns = netns_of("self").unwrap_or(0);
    let all = pids();
    // One pid per namespace other than ours, to read that namespace's tables through.
    let mut namespaces: BTreeMap<u64, i32> = BTreeMap::new();
    for &pid in &all {
        if let Some(ns) = netns_of(&pid.to_string())
            && ns != host_ns
        {
            namespaces.entry(ns).or_insert(pid);
        }
    }
    let mut by_inode: HashMap<u64, usize> = HashMap::new();
    let mut add = |table: &mut ListenerTable, ns: u64, entries: Vec<TcpNetEntry>| {
        for e in listening(entries) {
            // Inode 0: a socket being torn down, owned by no fd.
            if e.inode == 0 || by_inode.contains_key(&e.inode) {
                continue;
            }
            by_inode.insert(e.inode, table.listeners.len());
            table.listeners.push(Listener {
                address: e.local_address.ip(),
                port: e.local_address.port(),
                inode: e.inode,
                netns: ns,
                host_ns: ns == host_ns,
                pids: Vec::new(),
            });
        }
    };
    for (v, read) in [
        ("tcp", procfs::net::tcp as fn() -> procfs::ProcResult<_>),
        ("tcp6", procfs::net::tcp6),
    ] {
        match read() {
            Ok(entries) => add(&mut table, host_ns, entries),
            // No IPv6 in the kernel: no tcp6 file, nothing to read.
            Err(procfs::ProcError::NotFound(_)) if v == "tcp6" => {}
            Err(e) => table.errors.push(format!("host /proc/net/{v}: {e}")),
        }
    }
    table.namespaces = 1;
    for (&ns, &pid) in &namespaces {
        let Ok(p) = Process::new(pid) else { continue };
        let mut read_any = false;
        for (v, entries) in [("tcp", p.tcp()), ("tcp6", p.tcp6())] {
            match entries {
                Ok(entries) => {
                    read_any = true;
                    add(&mut table, ns, entries);
                }
                Err(procfs::ProcError::NotFound(_)) => {}
                Err(e) => table
                    .errors
                    .push(format!("/proc/{pid}/net/{v} (netns {ns}): {e}")),
            }
        }
        if read_any {
            table.namespaces += 1;
        }
    }
    if table.listeners.is_empty() {
        return table;
    }
    for pid in all {
        let Ok(p) = Process::new(pid) else { continue };
        let fds = match p.fd() {
            Ok(fds) => fds,
            Err(procfs::ProcError::PermissionDenied(_)) => {
                table.unreadable += 1;
                continue;
            }
            // Gone, or a kernel thread without an fd table.
            Err(_) => continue,
        };
        for fd in fds.flatten() {
            if let FDTarget::Socket(ino) = fd.target
                && let Some(&i) = by_inode.get(&ino)
                && let Some(l) = table.listeners.get_mut(i)
                && !l.pids.contains(&pid)
            {
                l.pids.push(pid);
            }
        }
    }
    table
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

/// Whether `ip` lies in `cidr` (`172.18.0.0/16`, `fd00::/64`). A malformed CIDR contains nothing.
pub fn in_subnet(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether binding `bind` (a published port's host IP; `None` = all addresses) on a port fails
/// because something listens on `held` on that port. A wildcard on either side overlaps every
/// address of its family; `::` is taken as dual-stack (Linux's default), so it overlaps IPv4 too.
pub fn bind_conflicts(bind: Option<IpAddr>, held: IpAddr) -> bool {
    let Some(bind) = bind else { return true };
    if bind == held {
        return true;
    }
    let dual_stack_any = |ip: IpAddr| matches!(ip, IpAddr::V6(v) if v.is_unspecified());
    if dual_stack_any(held) || dual_stack_any(bind) {
        return true;
    }
    // 0.0.0.0 overlaps every IPv4 address.
    bind.is_ipv4() == held.is_ipv4() && (bind.is_unspecified() || held.is_unspecified())
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
    fn subnets() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            ("172.31.255.254", "172.31.255.0/24", true),
            ("172.31.254.1", "172.31.255.0/24", false),
            ("10.1.2.3", "0.0.0.0/0", true),
            ("10.1.2.3", "10.1.2.3/32", true),
            ("fd00::5", "fd00::/64", true),
            ("fd01::5", "fd00::/64", false),
            ("10.1.2.3", "fd00::/64", false),
            ("10.1.2.3", "garbage", false),
            ("10.1.2.3", "10.0.0.0/99", false),
        ];
        for (a, cidr, want) in cases {
            assert_eq!(in_subnet(ip(a), cidr), want, "{a} in {cidr}");
        }
    }

    #[test]
    fn binding_overlaps() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            (None, "127.0.0.1", true),
            (Some("127.0.0.1"), "127.0.0.1", true),
            (Some("127.0.0.1"), "0.0.0.0", true),
            (Some("0.0.0.0"), "127.0.0.1", true),
            (Some("127.0.0.1"), "127.0.0.2", false),
            (Some("127.0.0.1"), "::", true),
            (Some("127.0.0.1"), "::1", false),
            (Some("::1"), "0.0.0.0", false),
            (Some("::"), "10.0.0.1", true),
        ];
        for (bind, held, want) in cases {
            assert_eq!(
                bind_conflicts(bind.map(ip), ip(held)),
                want,
                "{bind:?} vs {held}"
            );
        }
    }

    #[test]
    fn namespace_links() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[1]"), None);
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t = listeners();
        let me = std::process::id() as i32;
        let found = t
            .host_on(port)
            .find(|x| x.address == IpAddr::from([127, 0, 0, 1]))
            .expect("our listener is listed");
        assert!(found.pids.contains(&me), "{found:?}");
        assert!(t.namespaces >= 1);
    }
}
