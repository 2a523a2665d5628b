//! Identity attacks: a process that calls itself dockerd, a process that calls itself
//! docker-proxy, and a cgroup path that names a service. dockhand must know the daemon by the
//! socket inode it holds and by what it runs, Docker's programs by their executable and owner,
//! and the daemon's unit by what the service manager says — never by a name anyone can pick.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::attacker::{Lair, Snapshot, as_nobody, sh_as_nobody};
use crate::support::leaks::{Kid, free_port, tcp_listening};
use crate::support::schema::check;
use crate::support::{Run, TempDir, TestDaemon, dockhand, procfs};

/// `--host HOST --timeout 5s doctor --format json --check daemon.process`.
fn doctor_process(host: &str) -> (Run, Value) {
    let r = dockhand([
        "--host",
        host,
        "--timeout",
        "5s",
        "doctor",
        "--format",
        "json",
        "--check",
        "daemon.process",
    ]);
    assert!(!r.timed_out, "{r}");
    let doc = r.json();
    (r, doc)
}

/// `--host HOST --state-dir STATE reap --apply --format json`.
fn reap_apply(host: &str, state: &TempDir) -> Run {
    let r = dockhand([
        "--host",
        host,
        "--state-dir",
        state.path().to_str().unwrap(),
        "reap",
        "--apply",
        "--format",
        "json",
    ]);
    assert!(!r.timed_out, "{r}");
    r
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Copies `from` into the lair as `name`, as nobody: the attacker's own file.
fn plant_copy(lair: &Lair, from: &str, name: &str) -> PathBuf {
    let to = lair.join(name);
    let out = sh_as_nobody(&format!(
        "cp {from} {} && chmod 0755 {}",
        to.display(),
        to.display()
    ));
    assert!(out.status.success(), "cp as nobody: {out:?}");
    to
}

/// The impostor dockerd: nobody's copy of python, started with `--pidfile <lair>/x.pid` (it
/// writes 999999 there), listening on a socket of its own whose path it then replaces by a
/// symlink to the path written into `<lair>/go`.
fn impostor_dockerd(lair: &Lair) -> Kid {
    let exe = plant_copy(lair, "/usr/bin/python3", "dockerd");
    let dir = lair.path().display().to_string();
    let script = format!(
        r#"import socket,os,time
d={dir:?}
s=socket.socket(socket.AF_UNIX)
s.bind(d+'/imp.sock')
s.listen(8)
open(d+'/x.pid','w').write('999999\n')
while not os.path.exists(d+'/go'):
    time.sleep(0.05)
t=open(d+'/go').read().strip()
os.unlink(d+'/imp.sock')
os.symlink(t,d+'/imp.sock')
open(d+'/ready','w').write('1')
time.sleep(600)
"#
    );
    let pidfile = lair.join("x.pid").display().to_string();
    let kid = lair.spawn(
        exe.to_str().unwrap(),
        &["-c", &script, "--pidfile", &pidfile, "--exec-root", &dir],
    );
    wait_for("the impostor's pid file", Duration::from_secs(10), || {
        lair.join("x.pid").exists()
    });
    kid
}

#[test]
fn a_process_calling_itself_dockerd_behind_a_symlinked_socket_is_never_the_daemon() {
    let lair = Lair::new();
    // Started before the daemon: the lower pid.
    let impostor = impostor_dockerd(&lair);
    let d = TestDaemon::start();
    assert!(
        impostor.pid() < d.pid() || impostor.pid() > 300_000,
        "pids wrapped?"
    );
    std::fs::write(lair.join("go"), d.socket().display().to_string()).unwrap();
    wait_for("the symlink", Duration::from_secs(10), || {
        lair.join("ready").exists()
    });
    assert!(
        std::fs::symlink_metadata(lair.join("imp.sock"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(procfs::stat(impostor.pid()).unwrap().comm, "dockerd");
    let x_pid = Snapshot::of(&lair.join("x.pid"));
    let imp = impostor.pid().to_string();

    // The daemon's own socket: the real daemon, never the impostor (the ordinary case works).
    let (r, doc) = doctor_process(&d.host());
    let c = check(&doc, "daemon.process");
    assert_eq!(c["evidence"]["pid"], d.pid(), "{c:#}\n{r}");
    assert!(
        !r.stdout.contains(&format!("\"pid\":{imp}")) && !r.stdout.contains(&format!("pid {imp}")),
        "the impostor is named: {r}"
    );

    // The attacker's symlink as the endpoint: nobody's socket, so unknown, and no one named.
    let sym_host = format!("unix://{}", lair.join("imp.sock").display());
    let (r, doc) = doctor_process(&sym_host);
    let c = check(&doc, "daemon.process");
    assert_ne!(c["status"], "ok", "{c:#}");
    assert!(c["evidence"]["pid"].is_null(), "{c:#}");
    assert!(!r.stdout.contains(&imp), "the impostor is named: {r}");

    // recover through the symlink: refused, nothing planned; through the daemon's socket: its
    // plan names none of the impostor's paths.
    let state = TempDir::new();
    let r = dockhand([
        "--host",
        &sym_host,
        "--state-dir",
        state.path().to_str().unwrap(),
        "recover",
        "--force",
        "--format",
        "json",
    ]);
    let doc = r.json();
    assert_eq!(doc["result"], "refused", "{r}");
    assert!(
        doc["reason"].as_str().unwrap().contains("symbolic link"),
        "{r}"
    );
    assert!(doc["plan"].as_array().unwrap().is_empty(), "{r}");
    let r = recover_plan(&d, &state);
    assert!(!r.stdout.contains(lair.path().to_str().unwrap()), "{r}");
    assert!(!r.stdout.contains(&format!("pid {imp}")), "{r}");

    // reap --apply, as root, through either path: the impostor's pid file is untouched.
    let state = TempDir::new();
    let r = reap_apply(&d.host(), &state);
    assert!(!r.stdout.contains(lair.path().to_str().unwrap()), "{r}");
    let _ = reap_apply(&sym_host, &state);
    assert_eq!(Snapshot::of(&lair.join("x.pid")), x_pid);
    // The daemon's own pid file is still its own, and the daemon still answers.
    assert_eq!(
        std::fs::read_to_string(d.pidfile()).unwrap().trim(),
        d.pid().to_string()
    );
    assert!(d.ping(Duration::from_secs(3)).is_ok());
    assert!(impostor.alive());
}

/// A listener on 127.0.0.1:`port`, run by nobody as `program` with docker-proxy's arguments
/// (so its command line reads as a proxy's, orphaned: its parent is no dockerd).
fn nobody_proxy(program: &Path, port: u16) -> Kid {
    let code = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(8)\ntime.sleep(300)"
    );
    let mut c = as_nobody(program);
    c.args(["-c", &code])
        .args(proxy_args(port))
        .stdin(std::process::Stdio::null());
    let kid = Kid(
        crate::support::daemon::spawn_tied(c, nix::sys::signal::Signal::SIGKILL)
            .expect("spawn as nobody"),
    );
    wait_for("the listener", Duration::from_secs(10), || {
        tcp_listening(port)
    });
    kid
}

fn proxy_args(port: u16) -> Vec<String> {
    [
        "-proto",
        "tcp",
        "-host-ip",
        "127.0.0.1",
        "-host-port",
        &port.to_string(),
        "-container-ip",
        "10.213.250.254",
        "-container-port",
        "80",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Root's own docker-proxy, started by nobody (fd 3 open: it reports readiness there).
fn nobody_real_proxy(port: u16) -> Kid {
    let mut c = as_nobody("/bin/sh");
    c.args([
        "-c",
        &format!(
            "exec /usr/sbin/docker-proxy {} 3>/dev/null",
            proxy_args(port).join(" ")
        ),
    ])
    .stdin(std::process::Stdio::null());
    let kid = Kid(
        crate::support::daemon::spawn_tied(c, nix::sys::signal::Signal::SIGKILL)
            .expect("spawn as nobody"),
    );
    wait_for("nobody's docker-proxy", Duration::from_secs(10), || {
        tcp_listening(port)
    });
    kid
}

#[test]
fn a_process_calling_itself_docker_proxy_is_never_signalled() {
    let _host = crate::support::host_problem();
    let lair = Lair::new();
    let d = TestDaemon::start();
    let copy = plant_copy(&lair, "/usr/bin/python3", "docker-proxy");
    let (p1, p2) = (free_port(), free_port());
    let victims = [nobody_proxy(&copy, p1), nobody_real_proxy(p2)];
    let seen: Vec<u64> = victims
        .iter()
        .map(|k| procfs::stat(k.pid()).unwrap().starttime)
        .collect();
    assert_eq!(procfs::stat(victims[0].pid()).unwrap().comm, "docker-proxy");
    let state = TempDir::new();
    for port in [p1, p2] {
        let r = dockhand([
            "--host",
            &d.host(),
            "--state-dir",
            state.path().to_str().unwrap(),
            "ports",
            "free",
            &port.to_string(),
            "--apply",
            "--format",
            "json",
        ]);
        assert!(!r.timed_out, "{r}");
        assert!(!r.stdout.contains("leaked docker-proxy"), "{r}");
    }
    let r = reap_apply(&d.host(), &state);
    for (k, start) in victims.iter().zip(&seen) {
        assert!(!r.stdout.contains(&format!("pid {} ", k.pid())), "{r}");
        let now = procfs::stat(k.pid()).expect("the victim is alive");
        assert!(procfs::is_alive(k.pid()));
        assert_eq!(now.starttime, *start, "the same process");
    }
    assert!(tcp_listening(p1) && tcp_listening(p2));
}

/// cgroup v2, where a root test may create a group (the unified hierarchy, alone or beside v1).
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2") && f.get(3).is_some_and(|o| o.starts_with("rw")))
            .then(|| PathBuf::from(f[1]))
    })
}

/// A pid moved into a cgroup of the test's making; moved back and the groups removed on drop.
struct CgroupMove {
    pid: i32,
    home: PathBuf,
    made: Vec<PathBuf>,
}

impl CgroupMove {
    fn to(root: &Path, rel: &str, pid: i32) -> Result<CgroupMove, String> {
        let cg =
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| e.to_string())?;
        let home_rel = cg
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("no cgroup v2 line")?;
        let home = root.join(home_rel.trim_start_matches('/'));
        let mut made = Vec::new();
        let mut at = root.to_path_buf();
        let mut mv = CgroupMove {
            pid,
            home,
            made: Vec::new(),
        };
        for seg in rel.split('/') {
            at = at.join(seg);
            if !at.exists() {
                std::fs::create_dir(&at).map_err(|e| format!("mkdir {}: {e}", at.display()))?;
                made.push(at.clone());
            }
        }
        mv.made = made;
        std::fs::write(at.join("cgroup.procs"), pid.to_string())
            .map_err(|e| format!("move pid {pid} into {}: {e}", at.display()))?;
        Ok(mv)
    }
}

impl Drop for CgroupMove {
    fn drop(&mut self) {
        let _ = std::fs::write(self.home.join("cgroup.procs"), self.pid.to_string());
        for d in self.made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `recover --force` (a dry run) with the daemon's own start command.
fn recover_plan(d: &TestDaemon, state: &TempDir) -> Run {
    let cmdline = procfs::cmdline(d.pid()).expect("the daemon's command line");
    let r = dockhand([
        "--host",
        &d.host(),
        "--state-dir",
        state.path().to_str().unwrap(),
        "recover",
        "--force",
        "--format",
        "json",
        "--start-cmd",
        &cmdline,
    ]);
    assert!(!r.timed_out, "{r}");
    r
}

#[test]
fn a_cgroup_path_never_names_the_daemons_unit() {
    use dockhand::policy::identity::{UnitVerdict, service_unit};
    // The pure judgement, on the texts an attacker can arrange: no service manager answered
    // (this host's init is not systemd) or it answered for the pid — the path names nothing.
    for cg in [
        "/evil.service",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service",
    ] {
        for reported in [None, Some(Ok("user@1000.service".to_string()))] {
            let v = service_unit(reported.as_ref(), Some(cg), 0);
            assert!(
                !matches!(&v, UnitVerdict::System(u) if cg.contains(u.as_str())),
                "{cg}: {v:?}"
            );
        }
    }

    let Some(root) = cgroup2_root() else {
        eprintln!(
            "dockhand tests: no writable cgroup2 here: the cgroup attack is tested on the pure judgement only"
        );
        return;
    };
    let d = TestDaemon::start();
    let state = TempDir::new();
    for (rel, never) in [
        ("evil.service", "evil.service"),
        (
            "user.slice/user@1000.service/app.slice/docker.service",
            // No `systemctl stop …` / `systemctl start …` step (the refusal may say
            // `systemctl --user`).
            "systemctl st",
        ),
    ] {
        let mv = match CgroupMove::to(&root, rel, d.pid()) {
            Ok(m) => m,
            Err(e) => {
                eprintln!(
                    "dockhand tests: cgroup2 at {} is not usable ({e}): the cgroup attack is tested on the pure judgement only",
                    root.display()
                );
                return;
            }
        };
        let own = std::fs::read_to_string(format!("/proc/{}/cgroup", d.pid())).unwrap();
        assert!(own.contains(rel), "{own}");
        let r = recover_plan(&d, &state);
        assert!(!r.stdout.contains(never), "{never} in the plan: {r}");
        assert!(!r.stderr.contains(never), "{never} in the plan: {r}");
        if rel.contains("user@") {
            // Under a user's manager: refused with a sentence that says why.
            let doc = r.json();
            assert_eq!(doc["result"], "refused", "{r}");
            assert!(doc["plan"].as_array().unwrap().is_empty(), "{r}");
            assert!(
                doc["reason"]
                    .as_str()
                    .unwrap()
                    .contains("user@1000.service"),
                "{r}"
            );
        }
        drop(mv);
    }
    // Back in its own group: the ordinary plan (by process, with the start command) is there.
    let r = recover_plan(&d, &state);
    let doc = r.json();
    assert_ne!(doc["result"], "refused", "{r}");
    assert!(d.ping(Duration::from_secs(3)).is_ok());
}
