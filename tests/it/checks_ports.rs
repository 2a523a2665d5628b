//! The processes and ports checks against real problems: an orphan containerd shim, leaked
//! docker-proxies (TCP and UDP), a stopped listener, a stopped container whose published port was
//! taken, and a zombie under a container's pid 1 — each made real on a throwaway daemon or by a process the
//! test spawns, and each cleaned up by pid.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::leaks::{
    children, free_port, free_udp_port, kill_pid, restart_dockerd, spawn_listener, spawn_proxy,
    wait_for,
};
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

/// A zombie child of `ppid`.
fn zombie_of(ppid: i32) -> Option<procfs::Stat> {
    procfs::all_stats()
        .into_iter()
        .find(|s| s.ppid == ppid && s.state == 'Z')
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
    let containerd = children(d.pid())
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
    let again = restart_dockerd(&d, "dockerd-2.log");
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
            format!("ctr -a {address} -n {} tasks ls", d.containerd_namespace()),
            "dockhand reap --shims".to_string()
        ],
        "{c:#}"
    );

    // Clean up what the crash left: the container's process, its shim, the second dockerd.
    for s in children(shim.pid) {
        kill_pid(s.pid);
    }
    kill_pid(shim.pid);
    drop(again);
    d.stop();
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
    let proxy = spawn_proxy("tcp", "127.0.0.1", proxy_port, "172.31.255.254", 80);

    // The same, for UDP: docker-proxy binds the host port and relays datagrams.
    let udp_port = free_udp_port();
    let udp_proxy = spawn_proxy("udp", "127.0.0.1", udp_port, "172.31.255.253", 53);

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
    let holder = spawn_listener(conflict_port, false);
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
        || zombie_of(cpid).is_some(),
    );
    let zombie = zombie_of(cpid).unwrap();

    let (r, doc) = doctor(&d.host());

    let c = check(&doc, "ports.leaked-proxy");
    assert_eq!(c["status"], "warning", "{c:#}\n{r}");
    let leaked = c["evidence"]["leaked"].as_array().unwrap();
    assert!(
        leaked
            .iter()
            .any(|l| l["pid"] == proxy.pid() && l["host_port"] == proxy_port),
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
        .find(|l| l["pid"] == udp_proxy.pid())
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
    assert_eq!(hit["holders"][0]["owners"][0]["pid"], holder.pid(), "{c:#}");
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
    drop((proxy, udp_proxy, holder));
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
    let l = spawn_listener(port, false);
    let pid = l.pid();
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
    drop(l);
}
