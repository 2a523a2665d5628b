//! Where the API listens and how it is protected: root on the host for anyone who can reach a
//! TCP listener without TLS client verification. doctor's `daemon.tcp-exposed` words it.

use serde_json::Value;

use super::flags::{bool_flag, flag_values};

/// How the API's TCP listeners are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP.
    Off,
    /// `--tls` without `--tlsverify`: encrypted, but anyone may connect.
    NoVerify,
    /// `--tlsverify`: only clients with a certificate the CA signed.
    Verify,
}

/// The TLS mode from the command line, daemon.json and DOCKER_TLS_VERIFY in dockerd's
/// environment (dockerd's default for `--tlsverify`). `--tlsverify` implies `--tls`.
pub fn tls_mode(cmdline: &[String], json: Option<&Value>, env_tls_verify: bool) -> Tls {
    let j = |k: &str| json.and_then(|j| j.get(k)).and_then(Value::as_bool);
    let verify = bool_flag(cmdline, "tlsverify")
        .or_else(|| j("tlsverify"))
        .unwrap_or(env_tls_verify);
    let tls = bool_flag(cmdline, "tls")
        .or_else(|| j("tls"))
        .unwrap_or(false);
    if verify {
        Tls::Verify
    } else if tls {
        Tls::NoVerify
    } else {
        Tls::Off
    }
}

/// The TCP addresses among the daemon's hosts (`-H`, `--host`, daemon.json `hosts`), as dockerd
/// reads them: an address without a scheme is TCP.
pub fn tcp_hosts(cmdline: &[String], json: Option<&Value>) -> Vec<(String, &'static str)> {
    let mut hosts: Vec<(String, &'static str)> = flag_values(cmdline, "host", Some('H'))
        .into_iter()
        .map(|h| (h, "command line"))
        .collect();
    if let Some(arr) = json.and_then(|j| j.get("hosts")).and_then(Value::as_array) {
        hosts.extend(
            arr.iter()
                .filter_map(Value::as_str)
                .map(|h| (h.to_string(), "daemon.json")),
        );
    }
    hosts
        .into_iter()
        .filter(|(h, _)| {
            let h = h.trim();
            h.starts_with("tcp://") || (!h.is_empty() && !h.contains("://"))
        })
        .collect()
}

/// The TCP address `podman system service` was told to serve (`podman system service
/// --time=0 tcp://0.0.0.0:8080`): its one positional argument, after `service`. Podman's service
/// has no TLS, so any such address serves the API in plain HTTP. A socket unit of systemd that
/// listens on TCP is not on the command line (only dockhand's own connection shows it).
pub fn podman_service_hosts(cmdline: &[String]) -> Vec<(String, &'static str)> {
    let Some(at) = cmdline.iter().position(|a| a == "service") else {
        return Vec::new();
    };
    cmdline[at + 1..]
        .iter()
        .filter(|a| a.trim().starts_with("tcp://"))
        .map(|a| (a.trim().to_string(), "command line"))
        .collect()
}

/// Whether a TCP listen address is on loopback only.
pub fn is_loopback(addr: &str) -> bool {
    let a = addr.trim().trim_start_matches("tcp://");
    let host = match a.rsplit_once(':') {
        Some((h, _)) => h,
        None => a,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The engine's own warnings that say the API is open (`/info` Warnings).
pub fn exposure_warnings(warnings: &[String]) -> Vec<String> {
    warnings
        .iter()
        .filter(|w| w.contains("API is accessible on") || w.contains("without encryption"))
        .cloned()
        .collect()
}

/// Whether the API is exposed: a TCP host without `--tlsverify`, an engine warning that says
/// so, or dockhand itself answered over plain TCP (then anyone can be).
pub fn is_exposed(
    tcp_hosts: &[(String, &'static str)],
    tls: Tls,
    exposure_warnings: &[String],
    answered_over_tcp: bool,
) -> bool {
    (!tcp_hosts.is_empty() && tls != Tls::Verify)
        || !exposure_warnings.is_empty()
        || answered_over_tcp
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn podman_service_addresses() {
        let cases: &[(&str, &[&str])] = &[
            ("podman system service --time=0", &[]),
            (
                "podman system service --time=0 unix:///run/podman/podman.sock",
                &[],
            ),
            (
                "/usr/bin/podman --log-level=info system service --time=5 tcp://0.0.0.0:8080",
                &["tcp://0.0.0.0:8080"],
            ),
            (
                "podman --root /srv/c system service tcp://127.0.0.1:8888",
                &["tcp://127.0.0.1:8888"],
            ),
            // A tcp:// before `service` is some other flag's value, not the service's address.
            ("podman --url tcp://h:1 info", &[]),
        ];
        for (line, want) in cases {
            let got: Vec<String> = podman_service_hosts(&args(line))
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            assert_eq!(got, *want, "{line}");
        }
    }

    #[test]
    fn hosts_and_tls() {
        let cases: &[(&str, Value, bool, &[&str], Tls)] = &[
            ("dockerd -H fd://", json!({}), false, &[], Tls::Off),
            (
                "dockerd -H unix:///x.sock -H tcp://127.0.0.1:2375",
                json!({}),
                false,
                &["tcp://127.0.0.1:2375"],
                Tls::Off,
            ),
            (
                "dockerd --host=tcp://0.0.0.0:2376 --tlsverify",
                json!({}),
                false,
                &["tcp://0.0.0.0:2376"],
                Tls::Verify,
            ),
            (
                "dockerd -Htcp://0.0.0.0:2375 --tls",
                json!({}),
                false,
                &["tcp://0.0.0.0:2375"],
                Tls::NoVerify,
            ),
            (
                "dockerd -H=tcp://:2375",
                json!({}),
                false,
                &["tcp://:2375"],
                Tls::Off,
            ),
            (
                "dockerd --host 0.0.0.0:2375",
                json!({}),
                false,
                &["0.0.0.0:2375"],
                Tls::Off,
            ),
            (
                "dockerd",
                json!({"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}),
                false,
                &["tcp://0.0.0.0:2375"],
                Tls::Off,
            ),
            (
                "dockerd",
                json!({"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true}),
                false,
                &["tcp://0.0.0.0:2376"],
                Tls::Verify,
            ),
            (
                "dockerd -H tcp://0.0.0.0:2376",
                json!({}),
                true,
                &["tcp://0.0.0.0:2376"],
                Tls::Verify,
            ),
            (
                "dockerd -H tcp://0.0.0.0:2376 --tlsverify=false",
                json!({}),
                true,
                &["tcp://0.0.0.0:2376"],
                Tls::Off,
            ),
            ("dockerd -H ssh://x", json!({}), false, &[], Tls::Off),
        ];
        for (cmd, j, env, want_hosts, want_tls) in cases {
            let a = args(cmd);
            let got: Vec<String> = tcp_hosts(&a, Some(j)).into_iter().map(|(h, _)| h).collect();
            assert_eq!(got, *want_hosts, "{cmd} {j}");
            assert_eq!(tls_mode(&a, Some(j), *env), *want_tls, "{cmd} {j}");
        }
        assert!(is_loopback("tcp://127.0.0.1:2375"));
        assert!(is_loopback("tcp://localhost:2375"));
        assert!(is_loopback("tcp://[::1]:2375"));
        assert!(!is_loopback("tcp://0.0.0.0:2375"));
        assert!(!is_loopback("tcp://:2375"));
        assert!(!is_loopback("tcp://10.0.0.5:2375"));
    }

    #[test]
    fn exposed_or_not() {
        let tcp = vec![("tcp://0.0.0.0:2375".to_string(), "command line")];
        let warn = vec!["API is accessible on http://0.0.0.0:2375 without encryption.".to_string()];
        // (TCP hosts, TLS, the engine's warnings, answered over TCP) → exposed
        type Case<'a> = (&'a [(String, &'static str)], Tls, &'a [String], bool, bool);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (&[], Tls::Off, &[], false, false),
            (&tcp, Tls::Verify, &[], false, false),
            (&tcp, Tls::Off, &[], false, true),
            (&tcp, Tls::NoVerify, &[], false, true),
            (&[], Tls::Off, &warn, false, true),
            (&[], Tls::Off, &[], true, true),
        ];
        for (hosts, tls, warnings, over_tcp, want) in cases {
            assert_eq!(
                is_exposed(hosts, *tls, warnings, *over_tcp),
                *want,
                "{hosts:?} {tls:?}"
            );
        }
        let all = vec!["No swap limit support".to_string(), warn[0].clone()];
        assert_eq!(exposure_warnings(&all), warn);
    }
}
