//! The processes and ports checks against real problems: an orphan containerd shim, leaked
//! docker-proxies (TCP and UDP), a stopped listener, a stopped container whose published port was
//! taken, and a zombie under a container's pid 1 — each made real on a throwaway daemon or by a process the
//! test spawns, and each cleaned up by pid.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::daemon::ping_socket;
use crate::support::procfs;
use crate::support::schema::check;
use crate::support::{Run, TestDaemon, dockhand, shared};

const CHECKS: [&str; 5] = [
    "processes.orphan-shims",
    "processes.zombies",
    "ports.leaked-proxy",
    "ports.stuck",
    "ports.conflict",
];

/// `dockhand --host <d> doctor --format json --check …` for this file's checks.
fn doctor(host: &str) -> (Run, Value) {
    let mut args = vec![
        "--host".to_string(),
        host.to_string(),
        "doctor".into(),
        "--format".into(),
        "json".into(),
    ];
    for c in CHECKS {
        args.push("--check".into());
        args.push(c.into());
    }
    let r = dockhand(args);
    let doc = r.json();
    (r, doc)
}

#[track_caller]
fn status_of(doc: &Value, id: &str) -> String {
    check(doc, id)["status"].as_str().unwrap().to_string()
}

/// The commands a check's fix runs, in order (`fix.steps[]` of kind `run`), each joined by spaces.
fn runs(c: &Value) -> Vec<String> {
    c["fix"]["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s["kind"] == "run")
                .map(|s| {
                    let argv: Vec<&str> = s["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap())
                        .collect();
                    argv.join(" ")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A TCP port on 127.0.0.1 nothing listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether /proc/net/tcp has a LISTEN socket (state 0A) on 127.0.0.1:`port`.
fn listens_on_loopback(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&"0A")
        })
}

/// A UDP port on 127.0.0.1 nothing is bound to right now.
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// Whether /proc/net/udp has an unconnected socket (state 07) bound to 127.0.0.1:`port`.
fn udp_bound_on_loopback(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&"07")
        })
}

fn wait_listening(port: u16) {
    wait_for(
        &format!("127.0.0.1:{port} to listen"),
        Duration::from_secs(10),
        || TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
}

/// A process of ours that listens on 127.0.0.1:`port` and does nothing else.
fn spawn_listener(port: u16) -> Child {
    let code = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(8)\ntime.sleep(300)"
    );
    let child = Command::new("/usr/bin/python3")
        .args(["-c", &code])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn python3 listener");
    wait_listening(port);
    child
}

/// SIGKILL a child of ours by pid and reap it.
fn kill_child(mut c: Child) {
    let pid = Pid::from_raw(c.id() as i32);
    let _ = kill(pid, Signal::SIGCONT);
    let _ = kill(pid, Signal::SIGKILL);
    let _ = c.wait();
}

/// SIGKILL a process that is not a std `Child` of ours (a reparented daemon-side process), and
/// reap it if it became our child (we are a subreaper while test daemons run).
fn kill_pid(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(s) = procfs::stat(pid) {
        if s.state == 'Z' {
            if s.ppid == me {
                let _ = waitpid(Pid::from_raw(pid), None);
            }
            return;
        }
        if Instant::now() > deadline {
            panic!("pid {pid} survived SIGKILL");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn child_pids(ppid: i32) -> Vec<procfs::Stat> {
    procfs::all_stats()
        .into_iter()
        .filter(|s| s.ppid == ppid)
        .collect()
}

#[test]
fn clean_daemon_with_a_running_container_passes_every_process_and_port_check() {
    let d = TestDaemon::start();
    d.docker_ok(["run", "-d", "--network", "none", "busybox", "sleep", "300"]);
    let _host = crate::support::host_clean();
    let (r, doc) = doctor(&d.host());
    for id in CHECKS {
        assert_eq!(
            status_of(&doc, id),
            "ok",
            "{id}\n{:#}\n{r}",
            check(&doc, id)
        );
    }
    // The running container's shim was seen as this daemon's, and others' were not judged.
    let shims = &check(&doc, "processes.orphan-shims")["evidence"];
    assert_eq!(shims["shims"], 1, "{shims:#}");
    // None ran into its probe deadline (three times the 3 s timeout, plus 1 s).
    for id in CHECKS {
        assert!(
            check(&doc, id)["elapsed_ms"].as_f64().unwrap() < 3000.0 * 3.0 + 1000.0,
            "{id} ran into its probe deadline on a clean daemon\n{r}"
        );
    }
}

#[test]
fn orphan_shim_left_by_a_crash_is_reported() {
    let d = TestDaemon::start();
    let id = d.docker_ok(["run", "-d", "--network", "none", "busybox", "sleep", "300"]);
    let needle = d
        .exec_root()
        .join("containerd")
        .to_string_lossy()
        .into_owned();
    let shim = procfs::all_stats()
        .into_iter()
        .find(|s| procfs::cmdline(s.pid).is_some_and(|c| c.contains(&id) && c.contains(&needle)))
        .expect("the container's shim");
    let containerd = child_pids(d.pid())
        .into_iter()
        .find(|s| s.comm == "containerd")
        .expect("the daemon's containerd");
    // A crash: dockerd and its containerd die at once; the shim lives on.
    d.kill9();
    kill_pid(containerd.pid);
    // Docker loses its record of the container while it is down (a damaged or restored data
    // root); the restarted containerd still runs the task.
    let cdir = d.data_root().join("containers").join(&id);
    crate::support::remove_tree(&cdir);
    assert!(!cdir.exists());
    let mut again = restart_dockerd(&d);
    assert!(procfs::is_alive(shim.pid), "the shim died with its daemon");
    let containers = d.docker_ok(["ps", "-aq", "--no-trunc"]);
    assert!(!containers.contains(&id), "docker still knows {id}");

    let (r, doc) = doctor(&d.host());
    let c = check(&doc, "processes.orphan-shims");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let orphans = c["evidence"]["orphans"].as_array().unwrap();
    assert!(
        orphans
            .iter()
            .any(|o| o["id"] == id.as_str() && o["pid"] == shim.pid),
        "{c:#}"
    );
    assert!(
        c["remedy"]
            .as_str()
            .unwrap()
            .contains("dockhand reap --shims")
    );
    let address = orphans[0]["address"].as_str().unwrap();
    assert_eq!(
        runs(c),
        vec![
            format!("ctr -a {address} -n moby tasks ls"),
            "dockhand reap --shims".to_string()
        ],
        "{c:#}"
    );

    // Clean up what the crash left: the container's process, its shim, the second dockerd.
    for s in child_pids(shim.pid) {
        kill_pid(s.pid);
    }
    kill_pid(shim.pid);
    let _ = kill(Pid::from_raw(again.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    while matches!(again.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = again.kill();
    let _ = again.wait();
    d.stop();
}

/// Starts dockerd again on the test daemon's own dirs, with the harness's arguments.
fn restart_dockerd(d: &TestDaemon) -> Child {
    let root = d.dir();
    let log = std::fs::File::create(root.join("dockerd-2.log")).unwrap();
    let log_err = log.try_clone().unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let mut child = Command::new("dockerd")
        .arg("--config-file")
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
        .env("PATH", format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"))
        .env_remove("DOCKER_HOST")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .expect("start dockerd again");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if ping_socket(&d.socket(), Duration::from_secs(2)).is_ok() {
            return child;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "dockerd exited on restart ({st}):\n{}",
                tail(&root.join("dockerd-2.log"))
            );
        }
        assert!(
            Instant::now() < deadline,
            "dockerd did not come back:\n{}",
            tail(&root.join("dockerd-2.log"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tail(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[test]
fn leaked_proxy_conflict_and_zombie_on_one_daemon_are_reported() {
    let d = TestDaemon::start();
    // A user network (a bridge in the host namespace; nothing leaves loopback). The leaked proxy
    // forwards into it, which is how an orphan proxy is told to be this daemon's.
    d.docker_ok([
        "network",
        "create",
        "--subnet",
        "172.31.255.0/24",
        "dhports",
    ]);

    // A leaked proxy: docker-proxy with no container behind it, parent not a dockerd.
    let proxy_port = free_port();
    let mut proxy = Command::new("sh")
        .args([
            "-c",
            &format!(
                "exec docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port {proxy_port} -container-ip 172.31.255.254 -container-port 80 3>/dev/null"
            ),
        ])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn docker-proxy");
    // Not by connecting: that would make the proxy dial 172.31.255.254, off loopback.
    wait_for("docker-proxy to listen", Duration::from_secs(10), || {
        if let Ok(Some(st)) = proxy.try_wait() {
            panic!("docker-proxy exited: {st}");
        }
        listens_on_loopback(proxy_port)
    });

    // The same, for UDP: docker-proxy binds the host port and relays datagrams.
    let udp_port = free_udp_port();
    let mut udp_proxy = Command::new("sh")
        .args([
            "-c",
            &format!(
                "exec docker-proxy -proto udp -host-ip 127.0.0.1 -host-port {udp_port} -container-ip 172.31.255.253 -container-port 53 3>/dev/null"
            ),
        ])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn a UDP docker-proxy");
    wait_for(
        "the UDP docker-proxy to bind",
        Duration::from_secs(10),
        || {
            if let Ok(Some(st)) = udp_proxy.try_wait() {
                panic!("the UDP docker-proxy exited: {st}");
            }
            udp_bound_on_loopback(udp_port)
        },
    );

    // A stopped container with a restart policy whose port another process then takes.
    let conflict_port = free_port();
    let udp_conflict_port = free_udp_port();
    d.docker_ok([
        "create",
        "--name",
        "conflicted",
        "--restart",
        "always",
        "--network",
        "dhports",
        "-p",
        &format!("127.0.0.1:{conflict_port}:80"),
        "-p",
        &format!("127.0.0.1:{udp_conflict_port}:53/udp"),
        "busybox",
        "sleep",
        "1",
    ]);
    let holder = spawn_listener(conflict_port);
    let _udp_holder = std::net::UdpSocket::bind(("127.0.0.1", udp_conflict_port)).unwrap();

    // A zombie: pid 1 of the container (sleep) never reaps the `sleep 1` it inherited.
    let zid = d.docker_ok([
        "run",
        "-d",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1 & exec sleep 300",
    ]);
    let cpid: i32 = d
        .docker_ok(["inspect", "-f", "{{.State.Pid}}", &zid])
        .parse()
        .unwrap();
    wait_for(
        "a zombie under the container's pid 1",
        Duration::from_secs(10),
        || child_pids(cpid).iter().any(|s| s.state == 'Z'),
    );
    let zombie = child_pids(cpid)
        .into_iter()
        .find(|s| s.state == 'Z')
        .unwrap();

    let (r, doc) = doctor(&d.host());

    let c = check(&doc, "ports.leaked-proxy");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let leaked = c["evidence"]["leaked"].as_array().unwrap();
    assert!(
        leaked
            .iter()
            .any(|l| l["pid"] == proxy.id() && l["host_port"] == proxy_port),
        "{c:#}"
    );
    assert!(
        c["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("dockhand ports free {proxy_port}"))
    );
    assert!(
        runs(c).contains(&format!("dockhand ports free {proxy_port}")),
        "{c:#}"
    );
    // The UDP proxy is judged like the TCP one.
    let u = leaked
        .iter()
        .find(|l| l["pid"] == udp_proxy.id())
        .unwrap_or_else(|| panic!("the UDP proxy is not reported\n{c:#}"));
    assert_eq!(u["proto"], "udp", "{c:#}");
    assert_eq!(u["host_port"], udp_port, "{c:#}");
    assert_eq!(u["reason"], "orphan", "{c:#}");

    let c = check(&doc, "ports.conflict");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let conflicts = c["evidence"]["conflicts"].as_array().unwrap();
    let hit = conflicts
        .iter()
        .find(|x| x["name"] == "conflicted" && x["port"] == conflict_port)
        .unwrap_or_else(|| panic!("{c:#}"));
    assert_eq!(hit["holders"][0]["owners"][0]["pid"], holder.id(), "{c:#}");
    assert_eq!(
        runs(c),
        vec![
            format!("dockhand ports free {conflict_port}"),
            "docker start conflicted".to_string()
        ],
        "{c:#}"
    );
    // TCP only: the UDP binding whose port a UDP socket holds is not judged.
    assert!(
        conflicts.iter().all(|x| x["port"] != udp_conflict_port),
        "{c:#}"
    );

    let c = check(&doc, "processes.zombies");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let parents = c["evidence"]["parents"].as_array().unwrap();
    let p = parents
        .iter()
        .find(|p| p["pid"] == cpid)
        .unwrap_or_else(|| panic!("{c:#}"));
    assert_eq!(p["container"], zid.as_str(), "{c:#}");
    assert!(
        p["zombies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|z| z["pid"] == zombie.pid),
        "{c:#}"
    );
    // The container still runs: restart it, nothing for reap to end.
    assert_eq!(p["verdict"], "running-container", "{c:#}");
    let name = p["container_name"].as_str().unwrap();
    assert_eq!(runs(c), vec![format!("docker restart {name}")], "{c:#}");

    // Gone again: the checks say ok.
    kill_child(proxy);
    kill_child(udp_proxy);
    kill_child(holder);
    d.docker_ok(["rm", "-f", &zid]);
    let (r, doc) = doctor(&d.host());
    for id in ["ports.leaked-proxy", "ports.conflict", "processes.zombies"] {
        assert_eq!(
            status_of(&doc, id),
            "ok",
            "{id}\n{:#}\n{r}",
            check(&doc, id)
        );
    }
}

#[test]
fn stopped_listener_is_critical_and_ok_again_when_resumed() {
    // ports.stuck looks at the whole host: no test expecting a clean host may overlap this one.
    let _host = crate::support::host_problem();
    let host = shared().host();
    let port = free_port();
    let l = spawn_listener(port);
    let pid = l.id() as i32;
    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    wait_for("the listener to stop", Duration::from_secs(5), || {
        procfs::stat(pid).is_some_and(|s| s.state == 'T')
    });

    let (r, doc) = doctor(&host);
    let c = check(&doc, "ports.stuck");
    assert_eq!(c["status"], "critical", "{c:#}\n{r}");
    let stuck = c["evidence"]["stuck"].as_array().unwrap();
    let s = stuck
        .iter()
        .find(|s| s["port"] == port)
        .unwrap_or_else(|| panic!("{c:#}"));
    assert_eq!(s["address"], "127.0.0.1");
    assert_eq!(s["owners"][0]["pid"], pid);
    assert_eq!(s["owners"][0]["state"], "T");
    assert!(
        c["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("kill -CONT {pid}"))
    );
    assert_eq!(
        runs(c),
        vec![
            format!("kill -CONT {pid}"),
            format!("dockhand ports free {port}")
        ],
        "{c:#}"
    );

    kill(Pid::from_raw(pid), Signal::SIGCONT).unwrap();
    wait_for("the listener to run", Duration::from_secs(5), || {
        procfs::stat(pid).is_some_and(|s| s.state != 'T')
    });
    let (r, doc) = doctor(&host);
    assert_eq!(status_of(&doc, "ports.stuck"), "ok", "{r}");
    kill_child(l);
}
