//! daemon.json, judged as dockerd judges it when it starts or reloads: does it parse, does
//! dockerd know every key, is any option set both in the file and as a flag. doctor's
//! `daemon.config` words these verdicts; `recover` checks the same before it restarts a daemon
//! (a restart with a broken file leaves it down).

use serde_json::Value;

use super::flags::flag_names;

/// Every key dockerd 20.10 to 29 accepts at the top level of daemon.json on Linux: its flags'
/// names (dockerd checks keys with `flags.Lookup`), the config-file names of its list flags
/// (`labels` for `--label`, …), the options it skips or has deprecated but still tolerates,
/// and a few from Windows. Generous on purpose: calling a valid key unknown is worse than
/// missing a typo. Sorted; a test keeps it so.
pub const KNOWN_KEYS: &[&str] = &[
    "add-host",
    "add-runtime",
    "allow-direct-routing",
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugin",
    "authorization-plugins",
    "bip",
    "bip6",
    "bridge",
    "bridge-accept-fwmark",
    "builder",
    "cdi-spec-dir",
    "cdi-spec-dirs",
    "cgroup-parent",
    "cluster-advertise",
    "cluster-store",
    "cluster-store-opt",
    "cluster-store-opts",
    "config-file",
    "containerd",
    "containerd-namespace",
    "containerd-plugin-namespace",
    "containerd-plugins-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cri-containerd",
    "data-root",
    "debug",
    "default-address-pool",
    "default-address-pools",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-init",
    "default-ipc-mode",
    "default-network-opt",
    "default-network-opts",
    "default-runtime",
    "default-shm-size",
    "default-ulimit",
    "default-ulimits",
    "deprecated-key-path",
    "disable-legacy-registry",
    "dns",
    "dns-opt",
    "dns-opts",
    "dns-search",
    "exec-opt",
    "exec-opts",
    "exec-root",
    "experimental",
    "feature",
    "features",
    "firewall-backend",
    "fixed-cidr",
    "fixed-cidr-v6",
    "graph",
    "group",
    "host",
    "host-gateway-ip",
    "host-gateway-ips",
    "hosts",
    "http-proxy",
    "https-proxy",
    "icc",
    "init",
    "init-path",
    "insecure-registries",
    "insecure-registry",
    "ip",
    "ip-forward",
    "ip-forward-no-drop",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "label",
    "labels",
    "live-restore",
    "log-driver",
    "log-format",
    "log-level",
    "log-opt",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "metrics-addr",
    "min-api-version",
    "mtu",
    "network-control-plane-mtu",
    "network-diagnostic-port",
    "no-new-privileges",
    "no-proxy",
    "node-generic-resource",
    "node-generic-resources",
    "nri-opts",
    "oom-score-adjust",
    "pidfile",
    "proxies",
    "raw-logs",
    "registry-mirror",
    "registry-mirrors",
    "resolv-conf",
    "rootless",
    "runtimes",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opt",
    "storage-opts",
    "swarm-default-advertise-addr",
    "swarm-raft-election-tick",
    "swarm-raft-heartbeat-tick",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
    "validate",
];

/// Keys whose object value dockerd keeps whole; any other object is flattened into its keys
/// before the keys are checked (so `"proxies": {"http-proxy": …}` checks `http-proxy`).
const FLAT_KEYS: &[&str] = &[
    "builder",
    "cluster-store-opts",
    "default-network-opts",
    "default-ulimits",
    "features",
    "log-opts",
    "nri-opts",
    "runtimes",
];

/// The keys dockerd checks: top-level keys, with objects flattened as dockerd's
/// `configValuesSet` does.
pub fn checked_keys(v: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, val) in v {
        match val {
            Value::Object(inner) if !FLAT_KEYS.contains(&k.as_str()) => {
                out.extend(inner.keys().cloned());
            }
            _ => out.push(k.clone()),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Keys dockerd would reject as unknown.
pub fn unknown_keys(v: &serde_json::Map<String, Value>) -> Vec<String> {
    checked_keys(v)
        .into_iter()
        .filter(|k| KNOWN_KEYS.binary_search(&k.as_str()).is_err())
        .collect()
}

/// The top-level object a flattened key came from, when it is not a top-level key itself
/// (`"log-opt": {"max-size": …}` — a typo of `log-opts` — makes `max-size` unknown).
pub fn parent_of(v: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    if v.contains_key(key) {
        return None;
    }
    v.iter()
        .find(|(k, val)| {
            !FLAT_KEYS.contains(&k.as_str()) && val.as_object().is_some_and(|o| o.contains_key(key))
        })
        .map(|(k, _)| k.clone())
}

/// Flags whose daemon.json name differs from the flag's (dockerd's "named options").
const NAMED_OPTIONS: &[(&str, &str)] = &[
    ("authorization-plugin", "authorization-plugins"),
    ("cdi-spec-dir", "cdi-spec-dirs"),
    ("cluster-store-opt", "cluster-store-opts"),
    ("default-address-pool", "default-address-pools"),
    ("default-network-opt", "default-network-opts"),
    ("default-ulimit", "default-ulimits"),
    ("dns-opt", "dns-opts"),
    ("exec-opt", "exec-opts"),
    ("feature", "features"),
    ("host", "hosts"),
    ("insecure-registry", "insecure-registries"),
    ("label", "labels"),
    ("log-opt", "log-opts"),
    ("node-generic-resource", "node-generic-resources"),
    ("registry-mirror", "registry-mirrors"),
    ("storage-opt", "storage-opts"),
];

/// Options set both as a flag and in daemon.json: dockerd refuses to start. Returns
/// (daemon.json key, flag). `--add-runtime`/`runtimes` may be merged, as dockerd allows.
pub fn flag_conflicts(
    v: &serde_json::Map<String, Value>,
    cmdline: &[String],
) -> Vec<(String, String)> {
    let keys = checked_keys(v);
    let mut out = Vec::new();
    for flag in flag_names(cmdline) {
        if flag == "config-file" || flag == "add-runtime" {
            continue;
        }
        let key = NAMED_OPTIONS
            .iter()
            .find(|(f, _)| *f == flag)
            .map_or(flag.as_str(), |(_, k)| k);
        if keys.iter().any(|k| k == key) {
            out.push((key.to_string(), format!("--{flag}")));
        }
    }
    out
}

/// The line (1-based) where `"key":` first appears in the file's text.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find(&quoted) {
            rest = &rest[i + quoted.len()..];
            if rest.trim_start().starts_with(':') {
                return Some(n + 1);
            }
        }
    }
    None
}

/// daemon.json's object and its text.
pub type ParsedJson = (serde_json::Map<String, Value>, String);

/// daemon.json as dockerd reads it: a UTF-8 or UTF-16 byte-order mark is honoured, and a file
/// of only whitespace is an empty configuration. `Ok(None)`: empty.
pub fn parse_daemon_json(bytes: &[u8]) -> Result<Option<ParsedJson>, String> {
    let text = if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        String::from_utf8(rest.to_vec()).map_err(|e| format!("not valid UTF-8: {e}"))?
    } else if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let le = bytes[0] == 0xFF;
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| {
                let pair = [c[0], c.get(1).copied().unwrap_or(0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|e| format!("not valid UTF-16: {e}"))?
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("not valid UTF-8: {e}"))?
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())? {
        Value::Object(m) => Ok(Some((m, text))),
        other => Err(format!(
            "the top level is {}, not an object",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn known_keys_are_sorted_and_unique() {
        let mut s = KNOWN_KEYS.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s, KNOWN_KEYS, "KNOWN_KEYS must stay sorted (binary search)");
    }

    #[test]
    fn daemon_json_keys_classified() {
        let cases: &[(Value, &[&str])] = &[
            (json!({}), &[]),
            (
                json!({"log-driver": "json-file", "no-such-key": 1}),
                &["no-such-key"],
            ),
            (
                json!({"live-restore": true, "log-opts": {"max-size": "10m", "whatever": "x"}}),
                &[],
            ),
            // Flattened as dockerd does: the proxies' keys are checked, not "proxies".
            (
                json!({"proxies": {"http-proxy": "http://p:3128", "no-proxy": "x"}}),
                &[],
            ),
            (
                json!({"proxies": {"http-porxy": "http://p:3128"}}),
                &["http-porxy"],
            ),
            (
                json!({"builder": {"gc": {"enabled": true}}, "features": {"buildkit": true}}),
                &[],
            ),
            (
                json!({"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}),
                &[],
            ),
            (
                json!({"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}}),
                &[],
            ),
            (
                json!({"default-network-opts": {"bridge": {"com.docker.network.driver.mtu": "1400"}}}),
                &[],
            ),
            // Deprecated and removed keys dockerd still tolerates, or that older versions knew.
            (
                json!({"graph": "/d", "cluster-store": "x", "allow-nondistributable-artifacts": [], "api-cors-header": "*"}),
                &[],
            ),
            // Typical typos.
            (
                json!({"live_restore": true, "log-opt": {"max-size": "1m"}, "insecure-registery": []}),
                &["insecure-registery", "live_restore", "max-size"],
            ),
            (
                serde_json::from_str::<Value>(r#"{"registry-mirrors": [], "insecure-registries": [], "dns": [], "data-root": "/x", "storage-driver": "overlay2", "exec-opts": ["native.cgroupdriver=systemd"], "default-address-pools": [{"base": "10.0.0.0/8", "size": 24}], "userns-remap": "default", "iptables": false, "ip6tables": true, "ipv6": true, "fixed-cidr-v6": "fd00::/64", "bip": "172.17.0.1/16", "mtu": 1400, "hosts": [], "tls": true, "tlsverify": true, "tlscacert": "a", "tlscert": "b", "tlskey": "c", "metrics-addr": "127.0.0.1:9323", "experimental": true, "debug": true, "log-level": "info", "log-format": "json", "shutdown-timeout": 30, "max-concurrent-downloads": 3, "containerd": "/run/containerd/containerd.sock", "default-runtime": "runc", "cdi-spec-dirs": [], "firewall-backend": "nftables", "ip-forward-no-drop": true, "min-api-version": "1.24", "host-gateway-ip": "1.2.3.4", "seccomp-profile": "builtin", "no-new-privileges": true, "icc": false, "userland-proxy": false, "selinux-enabled": false, "default-cgroupns-mode": "private", "default-ipc-mode": "private", "default-shm-size": "64M", "cgroup-parent": "x", "group": "docker", "pidfile": "/p", "exec-root": "/e", "raw-logs": false, "oom-score-adjust": -500, "node-generic-resources": [], "authorization-plugins": [], "labels": [], "dns-opts": [], "dns-search": [], "storage-opts": [], "swarm-default-advertise-addr": "", "init": true, "init-path": "/i", "containerd-namespace": "moby", "ip": "0.0.0.0", "ip-forward": true, "ip-masq": true, "bridge": "docker0", "fixed-cidr": "172.17.0.0/16", "default-gateway": "172.17.0.1", "userland-proxy-path": "/u", "cpu-rt-period": 1, "cpu-rt-runtime": 1, "max-concurrent-uploads": 5, "max-download-attempts": 5, "cluster-advertise": "x", "cluster-store-opts": {}, "proxies": {}}"#).expect("test json"),
                &[],
            ),
        ];
        for (v, want) in cases {
            assert_eq!(unknown_keys(&obj(v.clone())), *want, "{v}");
        }
    }

    #[test]
    fn flags_that_conflict_with_the_file() {
        let cmd = args(
            "dockerd -H fd:// --containerd=/run/containerd/containerd.sock --data-root /srv/docker --label a=b -D --log-opt max-size=1m",
        );
        let cases: &[(Value, &[(&str, &str)])] = &[
            (json!({}), &[]),
            (
                json!({"hosts": ["unix:///var/run/docker.sock"]}),
                &[("hosts", "--host")],
            ),
            (
                json!({"data-root": "/x", "debug": true}),
                &[("data-root", "--data-root"), ("debug", "--debug")],
            ),
            (
                json!({"labels": ["x=y"], "log-opts": {"max-file": "3"}}),
                &[("labels", "--label"), ("log-opts", "--log-opt")],
            ),
            (
                json!({"live-restore": true, "containerd-namespace": "moby"}),
                &[],
            ),
            (
                json!({"containerd": "/x"}),
                &[("containerd", "--containerd")],
            ),
        ];
        for (v, want) in cases {
            let got = flag_conflicts(&obj(v.clone()), &cmd);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(got, want, "{v}");
        }
        // The test daemon's own command line against a daemon.json that only adds options.
        let test = args(
            "dockerd --config-file /t/daemon.json --data-root /t/data --exec-root /t/exec --pidfile /t/docker.pid -H unix:///t/docker.sock --bridge=none --iptables=false --ip6tables=false",
        );
        assert!(
            flag_conflicts(
                &obj(json!({"live-restore": true, "log-opts": {"max-size": "10m"}})),
                &test
            )
            .is_empty()
        );
        assert_eq!(
            flag_conflicts(&obj(json!({"data-root": "/x"})), &test),
            vec![("data-root".to_string(), "--data-root".to_string())]
        );
    }

    #[test]
    fn lenient_parse_as_dockerd() {
        assert!(matches!(parse_daemon_json(b""), Ok(None)));
        assert!(matches!(parse_daemon_json(b"  \n"), Ok(None)));
        assert!(matches!(
            parse_daemon_json(b"\xEF\xBB\xBF{\"debug\": true}"),
            Ok(Some(_))
        ));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("{\"debug\":true}".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert!(matches!(parse_daemon_json(&utf16), Ok(Some(_))));
        assert!(parse_daemon_json(b"{ not json").is_err());
        assert!(
            parse_daemon_json(b"[1]")
                .expect_err("an array")
                .contains("array")
        );
        assert!(parse_daemon_json(b"{\"a\":1,}").is_err());
    }

    #[test]
    fn nested_unknown_keys_name_their_parent() {
        let m = obj(json!({"log-opt": {"max-size": "1m"}, "debug": true, "log-opts": {"x": "1"}}));
        assert_eq!(unknown_keys(&m), ["max-size"]);
        assert_eq!(parent_of(&m, "max-size").as_deref(), Some("log-opt"));
        assert_eq!(parent_of(&m, "debug"), None);
        // Inside a kept-whole object nothing is checked, so nothing is a parent.
        assert_eq!(parent_of(&m, "x"), None);
    }

    #[test]
    fn lines_of_keys() {
        let text = "{\n  \"log-driver\": \"json-file\",\n  \"no-such-key\": 1,\n  \"x\": \"no-such-key\"\n}";
        assert_eq!(line_of(text, "no-such-key"), Some(3));
        assert_eq!(line_of(text, "log-driver"), Some(2));
        assert_eq!(line_of(text, "absent"), None);
    }
}
