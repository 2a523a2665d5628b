//! `dockhand ports` and `dockhand ports free` against real leaks: docker-proxy processes started
//! by hand (TCP, UDP, IPv6), a stopped listener, a listener that ignores SIGTERM, a container's
//! listener inside its network namespace and its published port. Every JSON document is
//! deserialised into the library's own types (`deny_unknown_fields`): the documented schema.

use std::time::Duration;

use dockhand::actions::journal::{self, Body};
use dockhand::policy::ports::{
    AfterFree, BelongsBy, FreeVerdict, Leak, ListenerStatus, OwnerKind, Problem, ProxyVerdict,
    Refusal, Stuck,
};
use dockhand::ports::survey::ListenerRow;
use dockhand::report::ports::{FreeDoc, PortsDoc};
use dockhand::runtime::net::Proto;
use nix::sys::signal::Signal;

use crate::support::leaks::{
    free_port, free_port_v6, free_udp_port, spawn_listener, spawn_proxy, tcp_listening,
    tcp6_listening, udp_bound, wait_for,
};
use crate::support::{Run, TempDir, TestDaemon, dockhand, dockhand_cmd, procfs, shared};

fn ports_doc(r: &Run) -> PortsDoc {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.ports/v1 document ({e})\n{r}"))
}

fn free_doc(r: &Run) -> FreeDoc {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.ports-free/v1 document ({e})\n{r}"))
}

#[track_caller]
fn row(doc: &PortsDoc, proto: Proto, port: u16) -> &ListenerRow {
    doc.listeners
        .iter()
        .find(|r| r.proto == proto && r.port == port && r.host_namespace)
        .unwrap_or_else(|| panic!("no {proto} listener on {port}: {doc:#?}"))
}

/// The actions in the journal, in order: (kind, outcome, signals as "SIG before→after").
/// Signal records come before their step's outcome; steps are numbered per run.
pub fn journal_steps(state: &TempDir) -> Vec<(String, String, Vec<String>)> {
    let c = journal::read(&state.join(journal::FILE_NAME))
        .unwrap()
        .expect("a journal");
    let mut order: Vec<(String, u64)> = Vec::new();
    let mut by_step: std::collections::HashMap<(String, u64), (String, String, Vec<String>)> =
        std::collections::HashMap::new();
    for r in &c.records {
        let (step, kind, outcome, sig) = match &r.body {
            Body::Outcome {
                step,
                kind,
                outcome,
                ..
            } => (*step, Some(kind.clone()), Some(outcome.clone()), None),
            Body::Signal { step, event } => (
                *step,
                None,
                None,
                Some(format!(
                    "{} {}→{}",
                    event.signal, event.state_before, event.state_after
                )),
            ),
            _ => continue,
        };
        let key = (r.run.clone(), step);
        if !by_step.contains_key(&key) {
            order.push(key.clone());
        }
        let e = by_step.entry(key).or_default();
        if let (Some(k), Some(o)) = (kind, outcome) {
            e.0 = k;
            e.1 = o;
        }
        e.2.extend(sig);
    }
    order
        .into_iter()
        .filter_map(|k| by_step.remove(&k))
        .collect()
}

#[test]
fn ports_lists_and_frees_leaked_proxies_started_by_hand_tcp_udp_and_ipv6() {
    let d = TestDaemon::start();
    // The proxies forward into this daemon's network: with other daemons on the host, that is
    // how an orphan proxy is told to be this daemon's. The tests' subnets are outside Docker's
    // default pools (172.17-31/16, 192.168/16), which concurrent tests' daemons draw from.
    let _net = crate::support::leaks::Network::create(&d, "10.213.241.0/24", "dhp1");
    let (tcp, udp, v6) = (free_port(), free_udp_port(), free_port_v6());
    let p4 = spawn_proxy("tcp", "127.0.0.1", tcp, "10.213.241.254", 80);
    let pu = spawn_proxy("udp", "127.0.0.1", udp, "10.213.241.253", 53);
    let p6 = spawn_proxy("tcp", "::1", v6, "10.213.241.252", 80);
    let host = d.host();

    let r = dockhand(["--host", &host, "ports", "--format", "json"]);
    r.assert_code(0);
    let doc = ports_doc(&r);
    assert_eq!(doc.schema, "dockhand.ports/v1");
    assert!(
        doc.namespaces >= 1 && doc.daemon_pid == Some(d.pid()),
        "{doc:#?}"
    );
    for (proto, port, pid, addr) in [
        (Proto::Tcp, tcp, p4.pid(), "127.0.0.1"),
        (Proto::Udp, udp, pu.pid(), "127.0.0.1"),
        (Proto::Tcp, v6, p6.pid(), "::1"),
    ] {
        let l = row(&doc, proto, port);
        assert_eq!(l.address.to_string(), addr, "{l:#?}");
        assert_eq!(l.status, ListenerStatus::LeakedProxy, "{l:#?}");
        assert_eq!(
            l.problems,
            vec![Problem::LeakedProxy { why: Leak::Orphan }],
            "{l:#?}"
        );
        assert_eq!(l.owners.len(), 1, "{l:#?}");
        assert_eq!(l.owners[0].pid, pid);
        assert_eq!(l.owners[0].comm, "docker-proxy");
        assert_eq!(
            l.owners[0].kind,
            OwnerKind::Proxy {
                verdict: Some(ProxyVerdict::Leaked { why: Leak::Orphan })
            }
        );
        assert_eq!(l.user.as_deref(), Some("root"));
        assert!(l.container.is_none(), "{l:#?}");
    }
    assert!(doc.summary.leaked_proxy >= 3, "{:?}", doc.summary);

    // --port filters; the table says what it is, and what to do.
    let r = dockhand(["--host", &host, "ports", "--port", &tcp.to_string()]);
    r.assert_code(0);
    assert!(r.stdout.contains("leaked proxy (orphan)"), "{r}");
    assert!(r.stdout.contains(&format!("127.0.0.1:{tcp}")), "{r}");
    assert!(r.stdout.contains("dockhand ports free PORT"), "{r}");
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("tcp ")).collect();
    assert_eq!(rows.len(), 1, "{r}");
    assert!(rows[0].contains("docker-proxy"), "{r}");

    // The dry run explains and plans, and changes nothing.
    let r = dockhand([
        "--host",
        &host,
        "ports",
        "free",
        &tcp.to_string(),
        "--format",
        "json",
    ]);
    r.assert_code(0);
    let fd = free_doc(&r);
    assert_eq!(fd.schema, "dockhand.ports-free/v1");
    assert!(!fd.applied && fd.after.is_none());
    assert_eq!(fd.holders.len(), 1, "{fd:#?}");
    assert_eq!(fd.holders[0].pid, Some(p4.pid()));
    assert_eq!(
        fd.holders[0].verdict,
        FreeVerdict::KillProxy { why: Leak::Orphan }
    );
    assert!(
        fd.holders[0].explain.contains("leaked docker-proxy"),
        "{fd:#?}"
    );
    assert_eq!(fd.steps.len(), 1);
    assert_eq!(fd.steps[0].kind, "process.terminate");
    assert!(fd.steps[0].outcome.is_none());
    assert!(
        p4.alive() && tcp_listening(tcp),
        "a dry run changed something"
    );

    // Applied: terminated, journaled, and the port is seen free.
    let state = TempDir::new();
    let state_dir = state.path().to_str().unwrap();
    for (port, proto, kid_alive, still) in [
        (tcp, None, &p4, tcp_listening as fn(u16) -> bool),
        (udp, Some("udp"), &pu, udp_bound),
        (v6, Some("tcp"), &p6, tcp6_listening),
    ] {
        let mut args = vec![
            "--host".to_string(),
            host.clone(),
            "--state-dir".into(),
            state_dir.into(),
            "ports".into(),
            "free".into(),
            port.to_string(),
            "--apply".into(),
            "--format".into(),
            "json".into(),
        ];
        if let Some(p) = proto {
            args.push("--proto".into());
            args.push(p.into());
        }
        let r = dockhand(&args);
        r.assert_code(0);
        let fd = free_doc(&r);
        assert!(fd.applied);
        assert_eq!(fd.steps[0].outcome.as_deref(), Some("done"), "{fd:#?}");
        let after = fd.after.as_ref().expect("checked after acting");
        assert_eq!(after.verdict, Some(AfterFree::Free), "{fd:#?}");
        assert!(after.holders.is_empty());
        wait_for("the proxy to be gone", Duration::from_secs(5), || {
            !kid_alive.alive()
        });
        assert!(!still(port), "port {port} still bound");
    }
    let steps = journal_steps(&state);
    assert_eq!(steps.len(), 3, "{steps:?}");
    for (kind, outcome, signals) in &steps {
        assert_eq!(
            (kind.as_str(), outcome.as_str()),
            ("process.terminate", "done")
        );
        assert_eq!(
            signals.first().map(|s| &s[..8]),
            Some("SIGTERM "),
            "{signals:?}"
        );
    }

    // Nothing holds it now: free, exit 0.
    let r = dockhand(["--host", &host, "ports", "free", &tcp.to_string()]);
    r.assert_code(0);
    assert!(r.stdout.contains("it is free"), "{r}");
}

#[test]
fn doctor_remedies_for_a_leaked_proxy_run_as_written() {
    let d = TestDaemon::start();
    let _net = crate::support::leaks::Network::create(&d, "10.213.244.0/24", "dhp4");
    let port = free_port();
    let p = spawn_proxy("tcp", "127.0.0.1", port, "10.213.244.254", 80);
    let r = dockhand([
        "--host",
        &d.host(),
        "doctor",
        "--check",
        "ports.leaked-proxy",
        "--format",
        "json",
    ]);
    let doc = r.json();
    let check = &doc["checks"][0];
    let commands: Vec<Vec<String>> = check["fix"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "run" && s["argv"][0] == "dockhand")
        .map(|s| {
            s["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        commands,
        vec![
            vec![
                "dockhand".to_string(),
                "ports".into(),
                "free".into(),
                port.to_string()
            ],
            vec!["dockhand".to_string(), "reap".into()]
        ],
        "{check:#}"
    );
    // Each, exactly as written (the engine address added in front), plans to stop this proxy.
    for argv in commands {
        let r = dockhand_cmd()
            .args(["--host", &d.host()])
            .args(&argv[1..])
            .run();
        r.assert_code(0);
        assert!(
            r.stdout
                .contains(&format!("pid {} (docker-proxy)", p.pid())),
            "{}\n{r}",
            argv.join(" ")
        );
    }
    assert!(p.alive(), "the remedies were dry runs");
}

#[test]
fn a_stopped_listener_shows_stuck_and_is_freed_only_when_forced() {
    // A stopped listener is a host-wide problem doctor's ports.stuck sees.
    let _host = crate::support::host_problem();
    let host = shared().host();
    let port = free_port();
    let l = spawn_listener(port, false);
    l.signal(Signal::SIGSTOP);
    wait_for("the listener to stop", Duration::from_secs(5), || {
        procfs::stat(l.pid()).is_some_and(|s| s.state == 'T')
    });

    let r = dockhand([
        "--host",
        &host,
        "ports",
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    r.assert_code(0);
    let doc = ports_doc(&r);
    let row = row(&doc, Proto::Tcp, port);
    assert_eq!(row.status, ListenerStatus::Stuck, "{row:#?}");
    assert_eq!(
        row.problems,
        vec![Problem::Stuck {
            why: Stuck::Stopped
        }]
    );
    assert_eq!(row.owners[0].state, "T");
    assert_eq!(row.owners[0].kind, OwnerKind::Other);
    assert_eq!(row.owners[0].stuck, Some(Stuck::Stopped));

    // Not Docker's: refused (exit 5), untouched.
    let state = TempDir::new();
    let state_dir = state.path().to_str().unwrap();
    let r = dockhand([
        "--host",
        &host,
        "--state-dir",
        state_dir,
        "ports",
        "free",
        &port.to_string(),
        "--apply",
    ]);
    r.assert_code(5);
    assert!(r.stdout.contains("--force-foreign"), "{r}");
    assert!(r.stdout.contains("is still held"), "{r}");
    assert!(
        procfs::stat(l.pid()).is_some_and(|s| s.state == 'T'),
        "it was touched"
    );

    // Forced: SIGTERM (and SIGCONT, so a stopped process handles it), gone, port free.
    let r = dockhand([
        "--host",
        &host,
        "--state-dir",
        state_dir,
        "ports",
        "free",
        &port.to_string(),
        "--force-foreign",
        "--apply",
        "--grace",
        "3s",
        "--format",
        "json",
    ]);
    r.assert_code(0);
    let fd = free_doc(&r);
    assert_eq!(fd.holders[0].verdict, FreeVerdict::KillForeign);
    assert_eq!(
        fd.after.as_ref().and_then(|a| a.verdict),
        Some(AfterFree::Free),
        "{fd:#?}"
    );
    wait_for("the listener to exit", Duration::from_secs(5), || {
        !l.alive()
    });
    let steps = journal_steps(&state);
    let (_, outcome, signals) = steps.last().unwrap();
    assert_eq!(outcome, "done");
    assert!(
        signals.iter().any(|s| s.starts_with("SIGCONT T→")),
        "{signals:?}"
    );
    assert!(
        signals.iter().any(|s| s.starts_with("SIGTERM T→gone")),
        "{signals:?}"
    );
}

#[test]
fn a_listener_that_ignores_sigterm_is_killed_after_the_grace() {
    let host = shared().host();
    let port = free_port();
    let l = spawn_listener(port, true);
    let state = TempDir::new();
    let r = dockhand([
        "--host",
        &host,
        "--state-dir",
        state.path().to_str().unwrap(),
        "ports",
        "free",
        &port.to_string(),
        "--force-foreign",
        "--apply",
        "--grace",
        "1s",
    ]);
    r.assert_code(0);
    assert!(r.stdout.contains("is free now"), "{r}");
    wait_for("the listener to die", Duration::from_secs(5), || !l.alive());
    let steps = journal_steps(&state);
    let (kind, outcome, signals) = steps.last().unwrap();
    assert_eq!(
        (kind.as_str(), outcome.as_str()),
        ("process.terminate", "done")
    );
    // SIGTERM did nothing in its second; SIGKILL did.
    assert_eq!(signals.len(), 2, "{signals:?}");
    assert!(signals[0].starts_with("SIGTERM S→S"), "{signals:?}");
    assert!(signals[1].starts_with("SIGKILL S→gone"), "{signals:?}");
}

#[test]
fn a_containers_listener_shows_with_its_container_and_its_port_is_freed_by_stopping_it() {
    let d = TestDaemon::start();
    let _net = crate::support::leaks::Network::create(&d, "10.213.243.0/24", "dhp3");
    let hp = free_port();
    let id = d.docker_ok([
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "dhp3",
        "-p",
        &format!("127.0.0.1:{hp}:8080"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/var/www",
    ]);
    wait_for("the published port", Duration::from_secs(10), || {
        tcp_listening(hp)
    });
    let host = d.host();
    let r = dockhand([
        "--host",
        &host,
        "ports",
        "--container",
        "web",
        "--format",
        "json",
    ]);
    r.assert_code(0);
    let doc = ports_doc(&r);
    // Inside its namespace: httpd on 8080, the container's own process.
    let inside = doc
        .listeners
        .iter()
        .find(|l| !l.host_namespace && l.port == 8080)
        .unwrap_or_else(|| panic!("no listener in the container's namespace: {doc:#?}"));
    let c = inside.container.as_ref().expect("its container");
    assert_eq!(
        (c.name.as_str(), c.by, c.running),
        ("web", BelongsBy::Namespace, true)
    );
    assert_eq!(c.id, id);
    assert_eq!(inside.owners[0].comm, "httpd");
    assert_eq!(
        inside.owners[0].kind,
        OwnerKind::Container { id: id.clone() }
    );
    assert_eq!(inside.status, ListenerStatus::Ok);
    // On the host: its docker-proxy, serving it.
    let published = row(&doc, Proto::Tcp, hp);
    let c = published.container.as_ref().expect("its container");
    assert_eq!((c.name.as_str(), c.by), ("web", BelongsBy::Proxy));
    assert_eq!(
        published.owners[0].kind,
        OwnerKind::Proxy {
            verdict: Some(ProxyVerdict::Serving {
                container: id.clone()
            })
        }
    );
    assert_eq!(published.status, ListenerStatus::Ok);
    // The table names it too.
    let r = dockhand(["--host", &host, "ports", "--container", "web"]);
    assert!(
        r.stdout.contains("web (netns)") && r.stdout.contains("web (proxy)"),
        "{r}"
    );

    // Freeing the published port stops the container, named in the plan.
    let r = dockhand(["--host", &host, "ports", "free", &hp.to_string()]);
    r.assert_code(0);
    assert!(r.stdout.contains("stop container web"), "{r}");
    assert!(r.stdout.contains("holds it for container web"), "{r}");
    assert_eq!(
        d.docker_ok(["inspect", "-f", "{{.State.Running}}", "web"]),
        "true"
    );
    let state = TempDir::new();
    let r = dockhand([
        "--host",
        &host,
        "--state-dir",
        state.path().to_str().unwrap(),
        "ports",
        "free",
        &hp.to_string(),
        "--apply",
        "--stop-timeout",
        "1",
        "--format",
        "json",
    ]);
    r.assert_code(0);
    let fd = free_doc(&r);
    assert_eq!(fd.steps[0].kind, "container.stop");
    assert_eq!(fd.steps[0].outcome.as_deref(), Some("done"), "{fd:#?}");
    assert_eq!(
        fd.after.as_ref().and_then(|a| a.verdict),
        Some(AfterFree::Free)
    );
    assert_eq!(
        d.docker_ok(["inspect", "-f", "{{.State.Running}}", "web"]),
        "false"
    );
    assert!(!tcp_listening(hp));
}

#[test]
fn a_port_taken_again_at_once_names_the_newcomer() {
    // A supervisor of sorts: whenever the listener dies, it starts another one.
    let host = shared().host();
    let port = free_port();
    let code = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(8)\ntime.sleep(300)"
    );
    let script = format!("while true; do /usr/bin/python3 -c \"{code}\"; done");
    let mut cmd = std::process::Command::new("sh");
    use std::os::unix::process::CommandExt;
    cmd.args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .process_group(0);
    /// The supervisor and its listeners: one process group, killed together.
    struct Group(crate::support::leaks::Kid);
    impl Drop for Group {
        fn drop(&mut self) {
            let pg = nix::unistd::Pid::from_raw(self.0.pid());
            let _ = nix::sys::signal::killpg(pg, Signal::SIGKILL);
        }
    }
    let _sup = Group(crate::support::leaks::Kid(
        crate::support::daemon::spawn_tied(cmd, Signal::SIGKILL).unwrap(),
    ));
    wait_for("the listener", Duration::from_secs(10), || {
        tcp_listening(port)
    });
    let state = TempDir::new();
    let r = dockhand([
        "--host",
        &host,
        "--state-dir",
        state.path().to_str().unwrap(),
        "ports",
        "free",
        &port.to_string(),
        "--force-foreign",
        "--apply",
        "--grace",
        "1s",
        "--format",
        "json",
    ]);
    r.assert_code(4);
    let fd = free_doc(&r);
    let first = fd.holders[0].pid.unwrap();
    let after = fd.after.as_ref().unwrap();
    assert_eq!(after.verdict, Some(AfterFree::TakenAgain), "{fd:#?}");
    let newcomer = after.holders[0].pid.unwrap();
    assert_ne!(newcomer, first);
    assert_eq!(after.holders[0].comm, "python3");
    let r = dockhand(["--host", &host, "ports", "free", &port.to_string()]);
    assert!(r.stdout.contains(&format!("pid {newcomer}")), "{r}");
}

#[test]
fn without_root_ports_shows_what_it_can_and_says_what_it_cannot() {
    let host = shared().host();
    let port = free_port();
    let _l = spawn_listener(port, false);
    let r = dockhand_cmd()
        .args(["--host", &host, "ports", "--format", "json"])
        .run_as_nobody();
    r.assert_code(0);
    let doc = ports_doc(&r);
    assert!(doc.unreadable_processes > 0, "{doc:#?}");
    assert!(
        doc.notes.iter().any(|n| n.contains("run as root")),
        "{:?}",
        doc.notes
    );
    // Root's listener is there, without an owner.
    let l = row(&doc, Proto::Tcp, port);
    assert!(l.owners.is_empty(), "{l:#?}");
    assert_eq!(l.uid, 0);
    // And ports free says why it cannot act.
    let r = dockhand_cmd()
        .args([
            "--host",
            &host,
            "ports",
            "free",
            &port.to_string(),
            "--format",
            "json",
        ])
        .run_as_nobody();
    r.assert_code(5);
    let fd = free_doc(&r);
    assert_eq!(
        fd.holders[0].verdict,
        FreeVerdict::Refused {
            why: Refusal::Unseen
        }
    );
    assert!(fd.holders[0].explain.contains("run as root"), "{fd:#?}");
}

#[test]
fn bad_input_is_one_sentence_and_exit_64() {
    for (args, want) in [
        (vec!["ports", "free", "http"], "1-65535"),
        (vec!["ports", "free", "0"], "1-65535"),
        (vec!["ports", "free", "80", "--grace", "soon"], "--grace"),
        (vec!["ports", "--port", "70000"], "1-65535"),
        (
            vec!["ports", "free", "80", "--plan", "/nonexistent/plan.json"],
            "--apply",
        ),
        (
            vec![
                "ports",
                "free",
                "80",
                "--apply",
                "--plan",
                "/nonexistent/plan.json",
            ],
            "/nonexistent/plan.json",
        ),
    ] {
        let r = dockhand(&args);
        r.assert_code(64);
        assert!(r.stderr.contains(want), "{args:?}\n{r}");
    }
}

#[test]
fn a_holder_stuck_in_the_kernel_is_never_signalled_and_the_plan_says_why() {
    use crate::support::fuse::BindFs;
    // A listener stuck in D is a host-wide problem doctor's ports.stuck sees.
    let _host = crate::support::host_problem();
    let src = TempDir::new();
    let mnt = TempDir::new();
    let fs = BindFs::start(src.path(), mnt.path());
    let port = free_port();
    // Listens, then keeps looking up new names under the FUSE mount: once its server is
    // frozen, the next lookup waits in the kernel for an answer that never comes — first
    // interruptibly (S); a signal it handles makes FUSE send an interrupt and wait on,
    // uninterruptibly (D).
    let code = format!(
        "import os,signal,socket,time\nsignal.signal(signal.SIGUSR1, lambda *a: None)\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(8)\ni=0\nwhile True:\n  i+=1\n  try: os.stat('{}/n%d' % i)\n  except FileNotFoundError: pass\n  time.sleep(0.05)",
        mnt.path().display()
    );
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    use std::os::unix::process::CommandExt;
    cmd.args(["-c", &code])
        .stdin(std::process::Stdio::null())
        .process_group(0);
    let l = crate::support::leaks::Kid(
        crate::support::daemon::spawn_tied(cmd, Signal::SIGKILL).unwrap(),
    );
    wait_for("the listener", Duration::from_secs(10), || {
        tcp_listening(port)
    });
    fs.freeze();
    wait_for(
        "the listener to wait on the mount",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(format!("/proc/{}/wchan", l.pid()))
                .is_ok_and(|w| w.contains("request_wait_answer"))
        },
    );
    l.signal(Signal::SIGUSR1);
    wait_for(
        "the listener to be stuck in D",
        Duration::from_secs(10),
        || procfs::stat(l.pid()).is_some_and(|s| s.state == 'D'),
    );
    let host = shared().host();
    let r = dockhand(["--host", &host, "ports", "--port", &port.to_string()]);
    assert!(r.stdout.contains("stuck: stuck in D"), "{r}");

    // Even with --force-foreign and --apply: refused, with its wchan, and no signal sent.
    let state = TempDir::new();
    let r = dockhand([
        "--host",
        &host,
        "--state-dir",
        state.path().to_str().unwrap(),
        "ports",
        "free",
        &port.to_string(),
        "--force-foreign",
        "--apply",
        "--format",
        "json",
    ]);
    r.assert_code(5);
    let fd = free_doc(&r);
    assert_eq!(
        fd.holders[0].verdict,
        FreeVerdict::Refused {
            why: Refusal::Uninterruptible
        },
        "{fd:#?}"
    );
    let wchan = fd.holders[0].wchan.clone().unwrap_or_default();
    assert!(!wchan.is_empty(), "{fd:#?}");
    let explain = &fd.holders[0].explain;
    assert!(
        explain.contains(&wchan)
            && explain.contains("reboot")
            && explain.contains("cannot be killed"),
        "{explain}"
    );
    assert!(fd.steps.is_empty(), "{fd:#?}");
    assert_eq!(
        fd.after.as_ref().and_then(|a| a.verdict),
        Some(AfterFree::StillHeld)
    );
    // Thawed, it runs again: the guards then kill it and unmount.
    fs.thaw();
    drop(l);
}
