#![no_main]
//! /proc text (stat, mountinfo, passwd, ns and socket links), command lines (split at NUL, as
//! /proc/PID/cmdline is) and netlink sock_diag answers.
use dockhand::fuzz_api as api;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let t = String::from_utf8_lossy(data);
    let _ = api::parse_stat(&t);
    let _ = api::parse_mounts_under(&t, Path::new("/var/lib/docker"));
    let _ = api::parse_passwd(&t);
    let _ = api::parse_ns_link(&t);
    let _ = api::parse_socket_link(data);
    let _ = api::parse_task_ids(&t);
    if let Ok(ip) = "172.18.0.2".parse() {
        let _ = api::in_subnet(ip, &t);
    }
    let argv: Vec<String> = data
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let _ = api::parse_docker_proxy(&argv);
    let _ = api::go_flag(&argv, "host-port");
    let _ = api::parse_shim(&argv);
    let _ = api::parse_conmon(&argv);
    let _ = api::paths_from(&argv, Some(Path::new("/etc/docker")));
    for proto in [api::Proto::Tcp, api::Proto::Udp] {
        let _ = api::parse_sockdiag(data, proto, &mut Vec::new());
    }
});
