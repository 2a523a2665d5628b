//! Real leaks for `dockhand ports` and `dockhand reap` to find: docker-proxy processes started by
//! hand, listeners that stop or ignore SIGTERM, a dockerd restarted on a crashed daemon's dirs,
//! a process made to take a given pid. Every process here has a guard that kills and reaps it
//! when dropped — also when an assertion fails.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::daemon::{TestDaemon, ping_socket, spawn_tied};
use super::procfs;

/// A process of ours, SIGCONT'd, SIGKILL'd and reaped when dropped.
#[derive(Debug)]
pub struct Kid(pub Child);

impl Kid {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    pub fn alive(&self) -> bool {
        procfs::is_alive(self.pid())
    }

    pub fn signal(&self, s: Signal) {
        kill(Pid::from_raw(self.pid()), s).unwrap();
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGCONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that is not a std `Child` (reparented, or made by [`spawn_at_pid`]): killed and,
/// if it is our child, reaped when dropped.
#[derive(Debug)]
pub struct PidGuard(pub i32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        kill_pid(self.0);
    }
}

/// SIGKILL a pid and reap it if it is (or became) our child.
pub fn kill_pid(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(s) = procfs::stat(pid) {
        if s.state == 'Z' {
            // Ours to reap (a child, or an orphan handed to us as subreaper); anyone else's
            // zombie is left to its parent.
            if s.ppid == me {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
            return;
        }
        if Instant::now() > deadline {
            eprintln!("dockhand tests: pid {pid} survived SIGKILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The live (not zombie) children of `ppid`.
pub fn children(ppid: i32) -> Vec<procfs::Stat> {
    procfs::all_stats()
        .into_iter()
        .filter(|s| s.ppid == ppid && s.state != 'Z')
        .collect()
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP port on 127.0.0.1 nothing listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A TCP port on ::1 nothing listens on right now.
pub fn free_port_v6() -> u16 {
    let l = std::net::TcpListener::bind("[::1]:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A UDP port on 127.0.0.1 nothing is bound to right now.
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// The hex form /proc/net/{tcp,udp}6 use for ::1.
const V6_LOOPBACK: &str = "00000000000000000000000001000000";

/// Whether /proc/net/<table> has a socket in `state` (0A: LISTEN, 07: unconnected UDP) on
/// loopback (`127.0.0.1` or `::1`) port `port`.
fn bound(table: &str, v6: bool, port: u16, state: &str) -> bool {
    let addr = if v6 { V6_LOOPBACK } else { "0100007F" };
    let want = format!("{addr}:{port:04X}");
    std::fs::read_to_string(format!("/proc/net/{table}"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&state)
        })
}

pub fn tcp_listening(port: u16) -> bool {
    bound("tcp", false, port, "0A")
}

pub fn tcp6_listening(port: u16) -> bool {
    bound("tcp6", true, port, "0A")
}

pub fn udp_bound(port: u16) -> bool {
    bound("udp", false, port, "07")
}

/// `docker-proxy -proto P -host-ip H -host-port N -container-ip C -container-port Q`, started by
/// hand as dockerd starts it (fd 3 open: it reports readiness there), waited for until it
/// listens. Its parent is the test, not a dockerd: an orphan.
pub fn spawn_proxy(proto: &str, host_ip: &str, port: u16, container_ip: &str, cport: u16) -> Kid {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!(
            "exec docker-proxy -proto {proto} -host-ip {host_ip} -host-port {port} -container-ip {container_ip} -container-port {cport} 3>/dev/null"
        ),
    ])
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    .stdin(Stdio::null())
    .process_group(0);
    let mut kid = Kid(spawn_tied(cmd, Signal::SIGKILL).expect("spawn docker-proxy"));
    let v6 = host_ip.contains(':');
    wait_for("docker-proxy to bind", Duration::from_secs(10), || {
        if let Ok(Some(st)) = kid.0.try_wait() {
            panic!("docker-proxy exited: {st}");
        }
        match (proto, v6) {
            ("udp", _) => udp_bound(port),
            (_, true) => tcp6_listening(port),
            _ => tcp_listening(port),
        }
    });
    kid
}

/// A python process that listens on 127.0.0.1:`port` and does nothing else; `ignore_term`:
/// it ignores SIGTERM (the disposition survives exec).
pub fn spawn_listener(port: u16, ignore_term: bool) -> Kid {
    let code = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(8)\ntime.sleep(300)"
    );
    let script = format!(
        "{}exec /usr/bin/python3 -c \"$0\"",
        if ignore_term { "trap '' TERM; " } else { "" }
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, &code])
        .stdin(Stdio::null())
        .process_group(0);
    let kid = Kid(spawn_tied(cmd, Signal::SIGKILL).expect("spawn a python listener"));
    wait_for(
        &format!("127.0.0.1:{port} to listen"),
        Duration::from_secs(10),
        || TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    kid
}

/// A dockerd started again on a test daemon's own dirs (after a crash), stopped when dropped.
pub struct Restarted(Child);

impl Restarted {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.0.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts dockerd again on `d`'s dirs, with the harness's arguments, and waits for its ping.
pub fn restart_dockerd(d: &TestDaemon, log_name: &str) -> Restarted {
    let root = d.dir();
    let log = std::fs::File::create(root.join(log_name)).unwrap();
    let log_err = log.try_clone().unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let mut cmd = Command::new("dockerd");
    cmd.arg("--config-file")
        .arg(d.daemon_json())
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(d.exec_root())
        .arg("--pidfile")
        .arg(d.pidfile())
        .arg("-H")
        .arg(d.host())
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
        .args(d.engine_args())
        .env("PATH", format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"))
        .env_remove("DOCKER_HOST")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    clear_stale_containerd_pidfile(d);
    let mut child = Restarted(spawn_tied(cmd, Signal::SIGTERM).expect("start dockerd again"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if ping_socket(&d.socket(), Duration::from_secs(2)).is_ok() {
            return child;
        }
        if let Ok(Some(st)) = child.0.try_wait() {
            panic!(
                "dockerd exited on restart ({st}):\n{}",
                tail(&root.join(log_name))
            );
        }
        assert!(
            Instant::now() < deadline,
            "dockerd did not come back:\n{}",
            tail(&root.join(log_name))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What an init script does before starting dockerd after a crash: a containerd pid file whose
/// pid is gone, a zombie, or another process (another daemon's containerd included) goes. dockerd takes any pid that `kill(pid, 0)`
/// accepts (a zombie does, so does a reused pid) as its containerd "still running", then waits
/// 15 s for a socket no one will open and exits with "timeout waiting for containerd to start".
/// A containerd that is really alive (a test that leaves it running) is kept.
fn clear_stale_containerd_pidfile(d: &TestDaemon) {
    let file = d.exec_root().join("containerd/containerd.pid");
    let Some(pid) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    else {
        return;
    };
    if procfs::stat(pid).is_some_and(|s| s.state == 'Z') {
        kill_pid(pid);
    }
    // Its config file lives in the exec root: that tells this daemon's containerd from another
    // test daemon's that took the pid.
    let exec_root = d.exec_root().to_string_lossy().into_owned();
    let ours = procfs::stat(pid).is_some_and(|s| s.comm == "containerd")
        && procfs::is_alive(pid)
        && procfs::cmdline(pid).is_some_and(|c| c.contains(&exec_root));
    // Ours, but handed to this process (the subreaper) because its dockerd is gone: a managed
    // containerd is started with a parent-death SIGKILL, so it is on its way out — alive a few
    // milliseconds more, then a zombie dockerd would take for "still running" (measured on 28.5:
    // restart failed with "timeout waiting for containerd to start"). It is given a moment to
    // go, and reaped; one still alive after that really is running, and is kept.
    let me = std::process::id() as i32;
    if ours && procfs::stat(pid).is_some_and(|s| s.ppid == me) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while procfs::is_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !procfs::is_alive(pid) {
            // Reaped only as our own zombie (no signal: the pid may be another's by now).
            if procfs::stat(pid).is_some_and(|s| s.state == 'Z' && s.ppid == me) {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
            let _ = std::fs::remove_file(&file);
        }
        return;
    }
    if !ours {
        let _ = std::fs::remove_file(&file);
    }
}

/// The log's last lines, and before them every line of dockerd's containerd supervisor (which
/// says whether it started a containerd or took a pid file's pid for one).
fn tail(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    let cut = lines.len().saturating_sub(20);
    let supervisor = lines[..cut]
        .iter()
        .filter(|l| l.contains("libcontainerd"))
        .copied();
    supervisor
        .chain(lines[cut..].iter().copied())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The kernel's `struct clone_args` (clone3(2)), up to `set_tid_size`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// Starts `/bin/sleep 300` as exactly `pid` (clone3 with `set_tid`, root only): the way to make
/// a pid "reused" by another process on purpose. `None` when the pid is taken.
pub fn spawn_at_pid(pid: i32) -> Option<PidGuard> {
    exec_at_pid(pid, &["/bin/sleep", "300"])
}

/// [`spawn_at_pid`], but the newcomer is `nobody`'s (through `setpriv`): an unprivileged user's
/// process on a pid dockhand planned to signal.
pub fn spawn_at_pid_as_nobody(pid: i32) -> Option<PidGuard> {
    let mut argv: Vec<String> = vec!["/usr/bin/setpriv".into()];
    argv.extend(super::attacker::setpriv_args());
    argv.extend(["/bin/sleep".into(), "300".into()]);
    let g = exec_at_pid(pid, &argv.iter().map(String::as_str).collect::<Vec<_>>())?;
    wait_for(
        "the newcomer to be nobody's",
        Duration::from_secs(5),
        || {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/{pid}"))
                .is_ok_and(|m| m.uid() == super::attacker::NOBODY_UID)
        },
    );
    Some(g)
}

/// Execs `argv` (a full path first) as exactly `pid`; waits until it runs `sleep`.
fn exec_at_pid(pid: i32, argv: &[&str]) -> Option<PidGuard> {
    use std::ffi::CString;
    let owned: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let prog = owned[0].clone();
    let mut argv: Vec<*const std::ffi::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let envp = [std::ptr::null::<std::ffi::c_char>()];
    let tids = [pid as nix::libc::pid_t];
    let args = CloneArgs {
        exit_signal: nix::libc::SIGCHLD as u64,
        set_tid: tids.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM forks this process; the child only calls execve and
    // _exit (async-signal-safe) on memory prepared above, as after fork(2).
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r == 0 {
        // SAFETY: in the child: exec or exit, nothing else.
        unsafe {
            nix::libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
            nix::libc::_exit(127);
        }
    }
    if r < 0 {
        return None;
    }
    assert_eq!(r as i32, pid, "clone3 gave another pid");
    wait_for("the newcomer to exec", Duration::from_secs(5), || {
        procfs::stat(pid).is_some_and(|s| s.comm == "sleep")
    });
    Some(PidGuard(pid))
}

/// A user network of a test daemon, whose bridge device is deleted when dropped: dockerd leaves
/// a user network's bridge behind when it stops, and leftover bridges use up the address pools
/// that other tests' `docker network create` draws from.
pub struct Network {
    bridge: String,
}

impl Network {
    /// `docker network create --subnet SUBNET NAME` on `d`.
    pub fn create(d: &TestDaemon, subnet: &str, name: &str) -> Network {
        let id = d.docker_ok(["network", "create", "--subnet", subnet, name]);
        Network {
            bridge: format!("br-{}", id.get(..12).unwrap_or(&id)),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
