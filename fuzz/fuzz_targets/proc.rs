#![no_main]
//! /proc text (stat, mountinfo, passwd, ns and socket links), command lines (split at NUL, as
//! /proc/PID/cmdline is) and netlink sock_diag answers.
use dockhand::runtime::{containerd, daemon, host, net, sockdiag};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let t = String::from_utf8_lossy(data);
    let _ = dockhand::actions::process::parse_stat(1, &t);
    let _ = host::parse_mounts_under(&t, Path::new("/var/lib/docker"));
    let _ = host::parse_passwd(&t);
    let _ = net::parse_ns_link(&t);
    let _ = net::parse_socket_link(data);
    let _ = containerd::parse_task_ids(&t);
    if let Ok(ip) = "172.18.0.2".parse() {
        let _ = net::in_subnet(ip, &t);
    }
    let argv: Vec<String> = data
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let _ = net::parse_docker_proxy(&argv);
    let _ = net::go_flag(&argv, "host-port");
    let _ = dockhand::policy::processes::parse_shim(&argv);
    let _ = dockhand::policy::processes::parse_conmon(&argv);
    let _ = daemon::paths_from(&argv, Some(Path::new("/etc/docker")));
    for proto in [net::Proto::Tcp, net::Proto::Udp] {
        let _ = sockdiag::parse(data, proto, &mut Vec::new());
    }
});
