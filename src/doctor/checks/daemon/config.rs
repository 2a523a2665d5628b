//! Daemon configuration checks (area "daemon"): the pid file, daemon.json, live-restore, log
//! rotation, TCP exposure, the engine's own warnings.
//!
//! The decisions — what a pid file's pid means, which daemon.json keys dockerd knows, which
//! flags conflict with the file, where the API listens and with what TLS — are plain functions
//! over plain data, unit-tested below; the probes only gather the data.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::doctor::checks::{Ctx, Probe, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::daemon::{Located, is_engine};
use crate::runtime::endpoint::Endpoint;
use crate::runtime::host;
use crate::util::human_duration;

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("daemon.pidfile", pidfile),
        probe!("daemon.config", config),
        probe!("daemon.live-restore", live_restore),
        probe!("daemon.log-rotation", log_rotation),
        probe!("daemon.tcp-exposed", tcp_exposed),
        probe!("daemon.warnings", warnings),
    ]
}

fn timed_out(ctx: &Ctx<'_>, what: &str) -> Finding {
    Finding::new(
        Status::Unknown,
        format!(
            "{what} did not finish within {}",
            human_duration(ctx.timeout())
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// daemon.pidfile

/// What the pid file says, judged the way dockerd judges it at start: a pid that exists blocks
/// the start ("pid file found, ensure docker is not running"), whatever process it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidfileState {
    /// No file: nothing can block a start.
    Missing,
    /// The file could not be read.
    Unreadable(String),
    /// The file holds no number: dockerd ignores such a file.
    NoPid,
    /// It names the daemon serving the API.
    Daemon(i32),
    /// It names a pid that no longer exists: harmless until the pid is reused.
    Gone(i32),
    /// It names another running dockerd (or podman).
    OtherEngine(i32),
    /// It names a live process that is not a container engine: the next start fails.
    NotEngine(i32),
}

/// Classifies a pid file's content. `probe(pid)` says whether the pid exists and is an engine
/// (`None`: gone).
pub fn classify_pidfile(
    content: Result<Option<String>, String>,
    daemon: Option<i32>,
    probe: impl Fn(i32) -> Option<bool>,
) -> PidfileState {
    let text = match content {
        Ok(None) => return PidfileState::Missing,
        Ok(Some(t)) => t,
        Err(e) => return PidfileState::Unreadable(e),
    };
    // dockerd: strconv.Atoi(strings.TrimSpace(content)); anything else is ignored.
    let Ok(pid) = text.trim().parse::<i32>() else {
        return PidfileState::NoPid;
    };
    if pid <= 0 {
        return PidfileState::NoPid;
    }
    if Some(pid) == daemon {
        return PidfileState::Daemon(pid);
    }
    match probe(pid) {
        None => PidfileState::Gone(pid),
        Some(true) => PidfileState::OtherEngine(pid),
        Some(false) => PidfileState::NotEngine(pid),
    }
}

/// `daemon.pidfile`: the pid the pid file names — the daemon, a gone pid, or a stranger.
pub async fn pidfile(ctx: &Ctx<'_>) -> Finding {
    let located = match ctx.located().await {
        Ok(l) => l,
        Err(crate::facts::Gap::Remote { .. }) => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "{} is not on this host: run dockhand where the daemon runs to check its pid file",
                    ctx.engine.endpoint()
                ),
            );
        }
        Err(_) => return timed_out(ctx, "reading /proc for the daemon process"),
    };
    let (path, daemon) = match located {
        Located::Found(d) => (d.paths.pidfile.clone(), Some(d.info.pid)),
        Located::NotRunning { paths, .. } => (paths.pidfile.clone(), None),
        Located::Remote => {
            return crate::doctor::checks::gap(&crate::facts::Gap::Remote {
                endpoint: ctx.engine.endpoint().to_string(),
            });
        }
    };
    let p = path.clone();
    let read = blocking(ctx.timeout(), move || {
        let content = match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        let state = classify_pidfile(content, daemon, |pid| {
            host::proc_info(pid).map(|i| is_engine(&i))
        });
        let named = match &state {
            PidfileState::Gone(p)
            | PidfileState::OtherEngine(p)
            | PidfileState::NotEngine(p)
            | PidfileState::Daemon(p) => host::proc_info(*p),
            _ => None,
        };
        (state, named)
    })
    .await;
    let Some((state, named)) = read else {
        return timed_out(ctx, &format!("reading {}", path.display()));
    };
    let shown = path.display();
    let evidence = json!({
        "pidfile": path,
        "daemon_pid": daemon,
        "named_pid": match &state {
            PidfileState::Gone(p) | PidfileState::OtherEngine(p) | PidfileState::NotEngine(p) | PidfileState::Daemon(p) => Some(*p),
            _ => None,
        },
        "named_process": named.as_ref().map(|i| json!({
            "pid": i.pid, "comm": i.comm, "exe": i.exe, "cmdline": i.cmdline, "started_at": i.started_at,
        })),
        "state": format!("{state:?}"),
    });
    let fix = |p: i32| match daemon {
        Some(d) => format!(
            "Write the running daemon's pid into it (`echo {d} > {shown}`) so the next start is not blocked — `dockhand reap` does it safely; pid {p} is not touched."
        ),
        None => format!(
            "Remove it before starting the daemon (`rm {shown}`) — `dockhand reap` does it safely, after checking pid {p} again."
        ),
    };
    match state {
        PidfileState::Missing => Finding::new(
            Status::Ok,
            format!("no pid file at {shown}: nothing blocks the next start"),
        )
        .evidence(evidence),
        PidfileState::Unreadable(e) => {
            Finding::new(Status::Unknown, format!("cannot read {shown}: {e}")).evidence(evidence)
        }
        PidfileState::NoPid => Finding::new(
            Status::Ok,
            format!("{shown} holds no pid: dockerd ignores it at start"),
        )
        .evidence(evidence),
        PidfileState::Daemon(p) => Finding::new(
            Status::Ok,
            format!("{shown} names the running daemon, pid {p}"),
        )
        .evidence(evidence),
        PidfileState::Gone(p) => Finding::new(
            Status::Warning,
            format!(
                "{shown} names pid {p}, which is gone{}: harmless until the kernel hands the pid to another process, then the daemon will not start (moby#46988)",
                daemon.map_or(String::new(), |d| format!(" (the daemon is pid {d})"))
            ),
        )
        .remedy(fix(p))
        .evidence(evidence),
        PidfileState::OtherEngine(p) => Finding::new(
            Status::Critical,
            format!(
                "{shown} names pid {p}, another running container engine{}: this daemon cannot start again while it runs (\"pid file found\")",
                daemon.map_or(String::new(), |d| format!(", not the daemon serving the API (pid {d})"))
            ),
        )
        .remedy(format!(
            "Two daemons share the pid file {shown}: give each its own `--pidfile` (and data root, exec root, socket)."
        ))
        .evidence(evidence),
        PidfileState::NotEngine(p) => Finding::new(
            Status::Critical,
            format!(
                "{shown} names pid {p}, a running {} that is not dockerd: the daemon will refuse to start (\"pid file found, ensure docker is not running\", moby#46988)",
                named.as_ref().map_or("process".to_string(), |i| format!("`{}`", i.comm))
            ),
        )
        .remedy(fix(p))
        .evidence(evidence),
    }
}

// ---------------------------------------------------------------------------------------------
// daemon.config

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

/// Short flags of dockerd and their long names.
const SHORT_FLAGS: &[(char, &str)] = &[
    ('D', "debug"),
    ('G', "group"),
    ('H', "host"),
    ('b', "bridge"),
    ('g', "graph"),
    ('l', "log-level"),
    ('p', "pidfile"),
    ('s', "storage-driver"),
];

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

/// The long names of the flags on a dockerd command line (first element is the program).
pub fn flag_names(cmdline: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in cmdline.iter().skip(1) {
        if a == "--" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(n, _)| n);
            if !name.is_empty() {
                out.push(name.to_string());
            }
        } else if let Some(short) = a.strip_prefix('-')
            && let Some(c) = short.chars().next()
            && let Some((_, long)) = SHORT_FLAGS.iter().find(|(s, _)| *s == c)
        {
            out.push((*long).to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

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

/// `daemon.config`: daemon.json parses, its keys are known, none conflicts with a flag.
pub async fn config(ctx: &Ctx<'_>) -> Finding {
    let dj = ctx.daemon_json().await;
    let path = dj.path.clone();
    let shown = path.display().to_string();
    if dj.value.is_none() {
        return Finding::new(
            Status::Ok,
            format!("no daemon.json at {shown}: the daemon runs on its defaults and flags"),
        )
        .evidence(json!({ "path": path, "exists": false }));
    }
    // Read the bytes once more: the shared parse is strict JSON, dockerd is more lenient (byte
    // order marks, an empty file), and the line numbers of bad keys need the text.
    let p = path.clone();
    let read = blocking(ctx.timeout(), move || std::fs::read(&p)).await;
    let bytes = match read {
        None => return timed_out(ctx, &format!("reading {shown}")),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Finding::new(
                Status::Ok,
                format!("no daemon.json at {shown}: the daemon runs on its defaults and flags"),
            )
            .evidence(json!({ "path": path, "exists": false }));
        }
        Some(Err(e)) => {
            return Finding::new(Status::Unknown, format!("cannot read {shown}: {e}"))
                .remedy("Run dockhand as root to read the daemon's configuration.")
                .evidence(json!({ "path": path, "exists": true, "error": e.to_string() }));
        }
        Some(Ok(b)) => b,
    };
    let (map, text) = match parse_daemon_json(&bytes) {
        Ok(None) => {
            return Finding::new(
                Status::Ok,
                format!("{shown} is empty: the daemon runs on its defaults and flags"),
            )
            .evidence(json!({ "path": path, "exists": true, "keys": [] }));
        }
        Ok(Some(x)) => x,
        Err(e) => {
            return Finding::new(
                Status::Critical,
                format!("{shown} does not parse ({e}): the daemon will refuse to start with it at its next restart"),
            )
            .remedy(format!(
                "Fix the JSON in {shown} (`python3 -m json.tool {shown}` shows where), then check it with `dockerd --validate --config-file {shown}` (Docker 23+) before restarting."
            ))
            .evidence(json!({ "path": path, "exists": true, "error": e }));
        }
    };
    let unknown = unknown_keys(&map);
    let cmdline: Vec<String> = match ctx.located().await {
        Ok(Located::Found(d)) => d.info.cmdline.clone(),
        _ => Vec::new(),
    };
    let conflicts = flag_conflicts(&map, &cmdline);
    let with_line =
        |k: &str| json!({ "key": k, "inside": parent_of(&map, k), "line": line_of(&text, k) });
    let evidence = json!({
        "path": path,
        "exists": true,
        "keys": checked_keys(&map),
        "unknown": unknown.iter().map(|k| with_line(k)).collect::<Vec<_>>(),
        "conflicts": conflicts.iter().map(|(k, f)| json!({ "key": k, "flag": f, "line": line_of(&text, k) })).collect::<Vec<_>>(),
        "cmdline_known": !cmdline.is_empty(),
    });
    let at = |k: &str| {
        let mut where_ = Vec::new();
        if let Some(p) = parent_of(&map, k) {
            where_.push(format!("inside \"{p}\""));
        }
        if let Some(n) = line_of(&text, k) {
            where_.push(format!("line {n}"));
        }
        if where_.is_empty() {
            k.to_string()
        } else {
            format!("{k} ({})", where_.join(", "))
        }
    };
    let mut problems = Vec::new();
    let mut remedies = Vec::new();
    let mut status = Status::Ok;
    if !conflicts.is_empty() {
        status = Status::Critical;
        problems.push(format!(
            "{} set both in {shown} and on the daemon's command line: {} — dockerd refuses to start (\"specified both as a flag and in the configuration file\")",
            if conflicts.len() == 1 { "an option is" } else { "options are" },
            conflicts
                .iter()
                .map(|(k, f)| format!("{} / {f}", at(k)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        remedies.push("Keep each option in one place: remove it from daemon.json or from the service's command line (for systemd: a drop-in overriding ExecStart).".to_string());
    }
    if !unknown.is_empty() {
        status = status.worst(Status::Warning);
        problems.push(format!(
            "{shown} has {} dockerd does not know: {} — dockerd refuses to start with an unknown key (\"the following directives don't match any configuration option\")",
            if unknown.len() == 1 { "a key" } else { "keys" },
            unknown.iter().map(|k| at(k)).collect::<Vec<_>>().join(", ")
        ));
        remedies.push(format!(
            "Fix the spelling or remove the key, then check the file with `dockerd --validate --config-file {shown}` (Docker 23+) before the next restart. (A key newer than dockhand's list is reported too: the validate command is the judge.)"
        ));
    }
    if problems.is_empty() && map.is_empty() {
        return Finding::new(
            Status::Ok,
            format!("{shown} sets nothing: the daemon runs on its defaults and flags"),
        )
        .evidence(evidence);
    }
    if problems.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "{shown} parses; {} key{}, all known to dockerd",
                map.len(),
                if map.len() == 1 { "" } else { "s" }
            ),
        )
        .evidence(evidence);
    }
    Finding::new(status, problems.join("; "))
        .remedy(remedies.join(" "))
        .evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// daemon.live-restore

/// `daemon.live-restore`: `/info` LiveRestoreEnabled.
pub async fn live_restore(ctx: &Ctx<'_>) -> Finding {
    if !ctx.engine_answered().await {
        return crate::doctor::checks::engine_silent();
    }
    let Ok(info) = ctx.info().await else {
        return Finding::new(
            Status::Unknown,
            "/info did not answer (see daemon.responsive)",
        );
    };
    let enabled = info.get("LiveRestoreEnabled").and_then(Value::as_bool);
    let swarm = info
        .pointer("/Swarm/LocalNodeState")
        .and_then(Value::as_str)
        .unwrap_or("inactive");
    let running = info
        .get("ContainersRunning")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let evidence = json!({
        "live_restore": enabled,
        "swarm": swarm,
        "containers_running": running,
        "daemon_json": ctx.daemon_json().await.path,
    });
    match enabled {
        Some(true) => Finding::new(
            Status::Ok,
            "live-restore is on: containers keep running while the daemon restarts",
        )
        .evidence(evidence),
        // Swarm mode refuses live-restore; its orchestrator restarts tasks instead.
        Some(false) if swarm == "active" => Finding::new(
            Status::Ok,
            "live-restore is off, as swarm mode requires (the orchestrator reschedules tasks when the daemon restarts)",
        )
        .evidence(evidence),
        Some(false) => {
            let pid = ctx.daemon_pid_now();
            let path = ctx.daemon_json().await.path.display().to_string();
            Finding::new(
                Status::Warning,
                format!(
                    "live-restore is off: any restart of the daemon stops every container ({running} running now)"
                ),
            )
            .remedy(format!(
                "Add \"live-restore\": true to {path} and reload the daemon ({}): the option is reloadable, nothing restarts.",
                pid.map_or("systemctl reload docker, or kill -HUP <dockerd pid>".to_string(), |p| format!("kill -HUP {p}, or systemctl reload docker"))
            ))
            .evidence(evidence)
        }
        None => Finding::new(
            Status::Unknown,
            "/info does not say whether live-restore is on (an engine other than dockerd?)",
        )
        .evidence(evidence),
    }
}

// ---------------------------------------------------------------------------------------------
// daemon.log-rotation

/// Every value of a flag on a command line: `--name v`, `--name=v`.
pub fn flag_values(cmdline: &[String], long: &str, short: Option<char>) -> Vec<String> {
    let mut out = Vec::new();
    let long_eq = format!("--{long}=");
    let long_flag = format!("--{long}");
    let mut it = cmdline.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if *a == long_flag {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = a.strip_prefix(&long_eq) {
            out.push(v.to_string());
        } else if let Some(c) = short
            && let Some(rest) = a.strip_prefix('-').and_then(|r| r.strip_prefix(c))
            && !a.starts_with("--")
        {
            if rest.is_empty() {
                if let Some(v) = it.next() {
                    out.push(v.clone());
                }
            } else {
                out.push(rest.strip_prefix('=').unwrap_or(rest).to_string());
            }
        }
    }
    out
}

/// The daemon's default log configuration for new containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDefault {
    pub driver: String,
    pub max_size: Option<String>,
    pub max_file: Option<String>,
}

impl LogDefault {
    /// json-file without max-size keeps every line.
    pub fn unbounded(&self) -> bool {
        self.driver == "json-file" && self.max_size.is_none()
    }
}

/// The default: the engine's own word on the driver when it answered, else daemon.json, else
/// the command line, else json-file; options from daemon.json `log-opts`, then `--log-opt`.
pub fn log_default(
    engine_driver: Option<&str>,
    json: Option<&Value>,
    cmdline: &[String],
) -> LogDefault {
    let driver = engine_driver
        .map(str::to_string)
        .or_else(|| {
            json.and_then(|j| j.get("log-driver"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| flag_values(cmdline, "log-driver", None).pop())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "json-file".into());
    let opt = |name: &str| {
        json.and_then(|j| j.pointer(&format!("/log-opts/{name}")))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .or_else(|| {
                flag_values(cmdline, "log-opt", None)
                    .into_iter()
                    .filter_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        (k == name).then(|| v.to_string())
                    })
                    .next_back()
            })
            .filter(|v| !v.is_empty() && v != "-1")
    };
    LogDefault {
        driver,
        max_size: opt("max-size"),
        max_file: opt("max-file"),
    }
}

/// `daemon.log-rotation`: whether new containers' json-file logs get a max-size by default.
pub async fn log_rotation(ctx: &Ctx<'_>) -> Finding {
    let dj = ctx.daemon_json().await;
    let json = match &dj.value {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "cannot tell the default log options: {} does not parse ({e}; see daemon.config)",
                    dj.path.display()
                ),
            )
            .evidence(json!({ "daemon_json": dj.path }));
        }
    };
    let cmdline: Vec<String> = match ctx.located().await {
        Ok(Located::Found(d)) => d.info.cmdline.clone(),
        _ => Vec::new(),
    };
    // Without the engine or the daemon's command line, daemon.json alone may be the wrong
    // daemon's (a non-default socket) or miss a --log-opt flag: say so rather than guess.
    if cmdline.is_empty() && !ctx.engine_answered().await {
        return Finding::new(
            Status::Unknown,
            "cannot tell the default log options: no daemon process on this host and the engine did not answer",
        )
        .evidence(json!({ "daemon_json": dj.path }));
    }
    let engine_driver = if ctx.engine_answered().await {
        ctx.info()
            .await
            .ok()
            .and_then(|i| i.get("LoggingDriver"))
            .and_then(Value::as_str)
    } else {
        None
    };
    let d = log_default(engine_driver, json, &cmdline);
    // Existing containers keep what they were created with: count the unbounded ones, from the
    // inspect documents already gathered (no per-container call).
    let mut existing = Vec::new();
    if ctx.engine_answered().await
        && let Ok(records) = ctx.records().await
    {
        for c in records {
            let lc = &c.host_config.log_config;
            let has_max = lc
                .config
                .get("max-size")
                .is_some_and(|s| !s.is_empty() && s != "-1");
            if lc.kind == "json-file" && !has_max {
                existing.push(c.name().to_string());
            }
        }
    }
    let evidence = json!({
        "daemon_json": dj.path,
        "log_driver": d.driver,
        "max_size": d.max_size,
        "max_file": d.max_file,
        "driver_source": if engine_driver.is_some() { "engine" } else { "configuration" },
        "existing_unbounded": existing.len(),
        "existing_unbounded_names": existing.iter().take(crate::doctor::checks::storage::EVIDENCE_CAP).collect::<Vec<_>>(),
    });
    let existing_note = if existing.is_empty() {
        String::new()
    } else {
        format!(
            "; {} existing container{} json-file logs without max-size (they keep their own configuration)",
            existing.len(),
            if existing.len() == 1 {
                " has"
            } else {
                "s have"
            }
        )
    };
    if !d.unbounded() {
        let how = match (&d.driver[..], &d.max_size) {
            ("json-file", Some(s)) => format!(
                "new containers' json-file logs are capped at max-size {s}{}",
                d.max_file
                    .as_ref()
                    .map_or(String::new(), |f| format!(" × max-file {f}"))
            ),
            ("local", _) => "the default logging driver is local, which rotates by default".into(),
            (other, _) => format!(
                "the default logging driver is {other}: logs do not go to json files in the data root"
            ),
        };
        return Finding::new(Status::Ok, format!("{how}{existing_note}")).evidence(evidence);
    }
    Finding::new(
        Status::Warning,
        format!(
            "new containers get json-file logs without max-size: every line is kept until the disk fills{existing_note}"
        ),
    )
    .remedy(format!(
        "Add \"log-opts\": {{\"max-size\": \"10m\", \"max-file\": \"3\"}} to {} (or \"log-driver\": \"local\"), then restart the daemon — log options are not reloadable; with live-restore on, containers keep running. Only containers created afterwards get the limit: recreate the existing ones.",
        dj.path.display()
    ))
    .evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// daemon.tcp-exposed

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

/// A bool flag's value on the command line, if given: `--name`, `--name=true|false`.
fn bool_flag(cmdline: &[String], name: &str) -> Option<bool> {
    let flag = format!("--{name}");
    let eq = format!("--{name}=");
    let mut v = None;
    for a in cmdline.iter().skip(1) {
        if a == "--" {
            break;
        }
        if *a == flag {
            v = Some(true);
        } else if let Some(x) = a.strip_prefix(&eq) {
            v = Some(matches!(x, "true" | "1" | "t" | "T" | "TRUE" | "True"));
        }
    }
    v
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

/// `daemon.tcp-exposed`: the API on TCP without TLS client verification.
pub async fn tcp_exposed(ctx: &Ctx<'_>) -> Finding {
    let dj = ctx.daemon_json().await;
    let json = dj.value.as_ref().and_then(|v| v.as_ref().ok());
    let located = ctx.located().await;
    let (cmdline, pid) = match located {
        Ok(Located::Found(d)) => (d.info.cmdline.clone(), Some(d.info.pid)),
        _ => (Vec::new(), None),
    };
    // dockerd defaults --tlsverify to DOCKER_TLS_VERIFY being set in its environment.
    let env_verify = match pid {
        Some(p) => blocking(ctx.timeout(), move || env_has(p, "DOCKER_TLS_VERIFY"))
            .await
            .unwrap_or(false),
        None => false,
    };
    let tls = tls_mode(&cmdline, json, env_verify);
    let hosts = tcp_hosts(&cmdline, json);
    // The engine's own word, which also covers listeners the command line does not show.
    let engine_warnings: Vec<String> = if ctx.engine_answered().await {
        ctx.info()
            .await
            .ok()
            .and_then(|i| i.get("Warnings"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|w| w.contains("API is accessible on") || w.contains("without encryption"))
            .map(str::to_string)
            .collect()
    } else {
        Vec::new()
    };
    // dockhand itself speaks plain HTTP over TCP: if it got an answer that way, so can anyone.
    let via_tcp = match ctx.engine.endpoint() {
        Endpoint::Tcp(a) if ctx.engine_answered().await => Some(a.clone()),
        _ => None,
    };
    let evidence = json!({
        "tcp_hosts": hosts.iter().map(|(h, s)| json!({ "address": h, "source": s, "loopback": is_loopback(h) })).collect::<Vec<_>>(),
        "tls": format!("{tls:?}").to_lowercase(),
        "env_docker_tls_verify": env_verify,
        "engine_warnings": engine_warnings,
        "dockhand_connected_over_tcp": via_tcp,
        "cmdline_known": !cmdline.is_empty(),
        "daemon_json": dj.path,
    });
    let exposed = (!hosts.is_empty() && tls != Tls::Verify)
        || !engine_warnings.is_empty()
        || via_tcp.is_some();
    if !exposed {
        if cmdline.is_empty() && json.is_none() && !ctx.engine_answered().await {
            return Finding::new(
                Status::Unknown,
                "cannot tell where the API listens: no daemon process on this host and the engine did not answer",
            )
            .evidence(evidence);
        }
        let s = if hosts.is_empty() {
            "the API listens on no TCP address (unix socket or socket activation only)".to_string()
        } else {
            format!(
                "the API listens on {} with TLS client verification (--tlsverify)",
                hosts
                    .iter()
                    .map(|(h, _)| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if cmdline.is_empty() && !matches!(located, Ok(Located::Found(_))) {
            return Finding::new(
                Status::Unknown,
                format!(
                    "{s}, as far as daemon.json tells: the daemon's command line could not be read"
                ),
            )
            .evidence(evidence);
        }
        return Finding::new(Status::Ok, s).evidence(evidence);
    }
    let mut addrs: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    if let Some(a) = &via_tcp
        && !addrs.iter().any(|h| h.contains(a.as_str()))
    {
        addrs.push(format!("tcp://{a}"));
    }
    let how = match tls {
        Tls::NoVerify => "with TLS but without client verification (--tls without --tlsverify)",
        _ => "without TLS",
    };
    let mut summary = if addrs.is_empty() {
        format!("the engine warns: {}", engine_warnings.join("; "))
    } else {
        format!("the API listens on {} {how}", addrs.join(", "))
    };
    summary.push_str(": root on this host for anyone who can reach the port");
    if !addrs.is_empty() && addrs.iter().all(|a| is_loopback(a)) {
        summary
            .push_str(" (loopback only: every local user and every container on the host network)");
    }
    Finding::new(Status::Critical, summary)
        .remedy(format!(
            "Remove the tcp:// host (from the service's command line or \"hosts\" in {}) and use the unix socket — or ssh:// from clients — or enable --tlsverify with --tlscacert, --tlscert and --tlskey; then restart the daemon.",
            dj.path.display()
        ))
        .evidence(evidence)
}

/// Whether a process's environment sets `name` to a non-empty value (false when unreadable).
fn env_has(pid: i32, name: &str) -> bool {
    let Ok(raw) = std::fs::read(PathBuf::from(format!("/proc/{pid}/environ"))) else {
        return false;
    };
    let prefix = format!("{name}=");
    raw.split(|b| *b == 0).any(|kv| {
        kv.strip_prefix(prefix.as_bytes())
            .is_some_and(|v| !v.is_empty())
    })
}

// ---------------------------------------------------------------------------------------------
// daemon.warnings

/// `daemon.warnings`: the engine's own `/info` Warnings, passed through.
pub async fn warnings(ctx: &Ctx<'_>) -> Finding {
    if !ctx.engine_answered().await {
        return crate::doctor::checks::engine_silent();
    }
    let Ok(info) = ctx.info().await else {
        return Finding::new(
            Status::Unknown,
            "/info did not answer (see daemon.responsive)",
        );
    };
    let list: Vec<String> = info
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|w| w.trim().trim_start_matches("WARNING: ").to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let evidence = json!({ "warnings": list });
    match list.len() {
        0 => Finding::new(Status::Ok, "the engine reports no warnings").evidence(evidence),
        n => Finding::new(
            Status::Warning,
            format!(
                "the engine reports {n} warning{}: {}",
                if n == 1 { "" } else { "s" },
                list.join("; ")
            ),
        )
        .remedy("Each warning names the kernel option or daemon setting to change (docker info prints them too). To accept one for good, skip the check: --skip daemon.warnings.")
        .evidence(evidence),
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn pidfile_states() {
        use PidfileState::*;
        // pid 10: the daemon; 20: sleep; 30: another dockerd; 40: gone.
        let probe = |p: i32| match p {
            20 => Some(false),
            10 | 30 => Some(true),
            _ => None,
        };
        let c = |content: Result<Option<&str>, &str>, daemon: Option<i32>| {
            classify_pidfile(
                content
                    .map(|o| o.map(str::to_string))
                    .map_err(str::to_string),
                daemon,
                probe,
            )
        };
        assert_eq!(c(Ok(None), Some(10)), Missing);
        assert_eq!(c(Err("denied"), Some(10)), Unreadable("denied".into()));
        assert_eq!(c(Ok(Some("10\n")), Some(10)), Daemon(10));
        assert_eq!(c(Ok(Some("20")), Some(10)), NotEngine(20));
        assert_eq!(c(Ok(Some("30")), Some(10)), OtherEngine(30));
        assert_eq!(c(Ok(Some("40")), Some(10)), Gone(40));
        assert_eq!(c(Ok(Some("40")), None), Gone(40));
        assert_eq!(c(Ok(Some("20")), None), NotEngine(20));
        assert_eq!(c(Ok(Some("garbage")), Some(10)), NoPid);
        assert_eq!(c(Ok(Some("")), Some(10)), NoPid);
        assert_eq!(c(Ok(Some("-5")), Some(10)), NoPid);
    }

    #[test]
    fn log_defaults() {
        let none = args("dockerd");
        assert!(log_default(None, None, &none).unbounded());
        assert!(log_default(Some("json-file"), Some(&json!({})), &none).unbounded());
        let capped = log_default(
            Some("json-file"),
            Some(&json!({"log-opts": {"max-size": "10m", "max-file": "3"}})),
            &none,
        );
        assert!(!capped.unbounded());
        assert_eq!(capped.max_size.as_deref(), Some("10m"));
        assert_eq!(capped.max_file.as_deref(), Some("3"));
        assert!(!log_default(Some("local"), None, &none).unbounded());
        assert!(!log_default(Some("journald"), None, &none).unbounded());
        assert!(!log_default(None, Some(&json!({"log-driver": "local"})), &none).unbounded());
        assert!(!log_default(None, None, &args("dockerd --log-opt max-size=5m")).unbounded());
        assert!(!log_default(None, None, &args("dockerd --log-opt=max-size=5m")).unbounded());
        assert!(log_default(None, None, &args("dockerd --log-opt max-file=5")).unbounded());
        assert!(
            log_default(None, Some(&json!({"log-opts": {"max-size": "-1"}})), &none).unbounded()
        );
        // The engine's word on the driver wins over the file (a flag may have set it).
        assert!(
            !log_default(
                Some("syslog"),
                Some(&json!({"log-driver": "json-file"})),
                &none
            )
            .unbounded()
        );
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
    fn flag_spellings() {
        let a = args("dockerd -H a -Hb -H=c --host d --host=e --hostname x");
        assert_eq!(
            flag_values(&a, "host", Some('H')),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(
            flag_names(&args("dockerd -D -H x --data-root=/y --tls -- --other")),
            ["data-root", "debug", "host", "tls"]
        );
    }
}
