//! Which engine to talk to, resolved the way the docker CLI resolves it:
//! `--host`, then `DOCKER_HOST`, then `--context` / `DOCKER_CONTEXT`, then the current context in
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), then the default socket.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::UsageError;

/// The default engine socket on Linux.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path (Docker, or Podman's `podman system service`).
    Unix(PathBuf),
    /// Plain TCP, `host:port`. TLS is not supported: the check `daemon.tcp-exposed` exists
    /// precisely because plain TCP is root for anyone who can reach the port.
    Tcp(String),
}

impl Endpoint {
    /// The socket path when the engine is local.
    pub fn socket_path(&self) -> Option<&Path> {
        match self {
            Endpoint::Unix(p) => Some(p),
            Endpoint::Tcp(_) => None,
        }
    }

    /// Whether the daemon process can be expected on this host: a unix socket, or TCP to a
    /// loopback address — 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) — or to the name
    /// `localhost`, which RFC 6761 reserves for loopback. Decided by the address, never by how
    /// a name begins: `127.evil.example` is a name anyone's DNS may point anywhere.
    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Unix(_) => true,
            Endpoint::Tcp(addr) => is_loopback_host(addr),
        }
    }
}

/// Whether `host[:port]` (or `[v6]:port`) names a loopback address; see [`Endpoint::is_local`].
pub fn is_loopback_host(addr: &str) -> bool {
    use std::net::{IpAddr, Ipv6Addr};
    let host = if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, _)) => h,
            None => return false,
        }
    } else {
        match addr.rsplit_once(':') {
            // More than one ':' without brackets: a bare IPv6 address, no port.
            Some((h, _)) if !h.contains(':') => h,
            Some(_) => addr,
            None => addr,
        }
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Where the endpoint came from, reported so an operator can see why dockhand looked there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Context(String),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--host"),
            Source::Env => f.write_str("DOCKER_HOST"),
            Source::Context(name) => write!(f, "context {name}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// The inputs of resolution, gathered by the CLI layer so this stays testable with plain data.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    pub flag_host: Option<String>,
    pub flag_context: Option<String>,
    pub env_host: Option<String>,
    pub env_context: Option<String>,
    pub env_tls_verify: Option<String>,
    /// `$DOCKER_CONFIG`, or `$HOME/.docker`.
    pub config_dir: Option<PathBuf>,
}

impl Inputs {
    pub fn from_env(flag_host: Option<String>, flag_context: Option<String>) -> Inputs {
        let nonempty = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let config_dir = nonempty("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| nonempty("HOME").map(|h| Path::new(&h).join(".docker")));
        Inputs {
            flag_host,
            flag_context,
            env_host: nonempty("DOCKER_HOST"),
            env_context: nonempty("DOCKER_CONTEXT"),
            env_tls_verify: nonempty("DOCKER_TLS_VERIFY"),
            config_dir,
        }
    }
}

/// Resolves the endpoint. Every failure names the value and what would work.
pub fn resolve(inputs: &Inputs) -> Result<(Endpoint, Source), UsageError> {
    if let Some(h) = &inputs.flag_host {
        return Ok((parse_host(h, "--host", inputs)?, Source::Flag));
    }
    if let Some(h) = &inputs.env_host {
        return Ok((parse_host(h, "DOCKER_HOST", inputs)?, Source::Env));
    }
    let context = match (&inputs.flag_context, &inputs.env_context) {
        (Some(c), _) | (None, Some(c)) => Some(c.clone()),
        (None, None) => current_context(inputs.config_dir.as_deref())?,
    };
    match context {
        Some(name) if name != "default" => {
            let host = context_host(inputs.config_dir.as_deref(), &name)?;
            let what = format!("the host of context {name:?}");
            Ok((parse_host(&host, &what, inputs)?, Source::Context(name)))
        }
        _ => Ok((
            Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)),
            Source::Default,
        )),
    }
}

/// Parses `unix:///path` or `tcp://host:port` (also `http://`). Other schemes get a sentence
/// saying which ones work.
pub fn parse_host(value: &str, what: &str, inputs: &Inputs) -> Result<Endpoint, UsageError> {
    let bad = |why: &str| UsageError::BadHost {
        what: what.to_string(),
        value: value.to_string(),
        why: why.to_string(),
    };
    let (scheme, rest) = value
        .split_once("://")
        .ok_or_else(|| bad("it has no scheme"))?;
    match scheme {
        "unix" => {
            if rest.is_empty() || !rest.starts_with('/') {
                return Err(bad("a unix socket needs an absolute path"));
            }
            Ok(Endpoint::Unix(PathBuf::from(rest)))
        }
        "tcp" | "http" => {
            if inputs.env_tls_verify.is_some() {
                return Err(bad(
                    "DOCKER_TLS_VERIFY is set, and dockhand does not speak TLS to the engine yet",
                ));
            }
            let addr = rest.trim_end_matches('/');
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| bad("a tcp address needs a port"))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad("a tcp address needs a host and a numeric port"));
            }
            Ok(Endpoint::Tcp(addr.to_string()))
        }
        "ssh" | "npipe" | "https" | "fd" => {
            Err(bad(&format!("the {scheme}:// scheme is not supported")))
        }
        _ => Err(bad(&format!(
            "{scheme}:// is not a scheme the engine listens on"
        ))),
    }
}

fn current_context(config_dir: Option<&Path>) -> Result<Option<String>, UsageError> {
    let Some(dir) = config_dir else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        // No config file is the common case: the default context.
        Err(_) => return Ok(None),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| UsageError::BadDockerConfig {
            path: path.clone(),
            why: e.to_string(),
        })?;
    Ok(v.get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

/// Finds a context's docker host. Context metadata lives in
/// `contexts/meta/<sha256 of name>/meta.json`; reading every meta.json and matching on `Name`
/// finds the same file without hashing.
fn context_host(config_dir: Option<&Path>, name: &str) -> Result<String, UsageError> {
    let unknown = || UsageError::UnknownContext {
        name: name.to_string(),
    };
    let dir = config_dir
        .ok_or_else(unknown)?
        .join("contexts")
        .join("meta");
    let entries = std::fs::read_dir(&dir).map_err(|_| unknown())?;
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if v.get("Name").and_then(|n| n.as_str()) == Some(name) {
            return v
                .pointer("/Endpoints/docker/Host")
                .and_then(|h| h.as_str())
                .map(str::to_string)
                .ok_or_else(unknown);
        }
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs::default()
    }

    #[test]
    fn default_is_the_standard_socket() {
        let (ep, src) = resolve(&inputs()).expect("resolves");
        assert_eq!(ep, Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)));
        assert_eq!(src, Source::Default);
    }

    #[test]
    fn flag_beats_env() {
        let i = Inputs {
            flag_host: Some("unix:///a.sock".into()),
            env_host: Some("unix:///b.sock".into()),
            ..inputs()
        };
        let (ep, src) = resolve(&i).expect("resolves");
        assert_eq!(ep, Endpoint::Unix("/a.sock".into()));
        assert_eq!(src, Source::Flag);
    }

    #[test]
    fn hosts_parse_or_explain() {
        let ok = [
            (
                "unix:///run/podman/podman.sock",
                Endpoint::Unix("/run/podman/podman.sock".into()),
            ),
            (
                "tcp://127.0.0.1:2375",
                Endpoint::Tcp("127.0.0.1:2375".into()),
            ),
            (
                "http://localhost:2375/",
                Endpoint::Tcp("localhost:2375".into()),
            ),
        ];
        for (s, want) in ok {
            assert_eq!(parse_host(s, "--host", &inputs()).expect(s), want);
        }
        for bad in [
            "foo://bar",
            "/var/run/docker.sock",
            "unix://",
            "unix://rel.sock",
            "tcp://host",
            "ssh://me@box",
        ] {
            let e = parse_host(bad, "--host", &inputs()).expect_err(bad);
            let msg = e.to_string();
            assert!(msg.contains(bad), "{msg}");
            assert!(msg.contains("unix://"), "says what works: {msg}");
        }
    }

    #[test]
    fn tcp_with_tls_verify_is_refused_clearly() {
        let i = Inputs {
            env_tls_verify: Some("1".into()),
            ..inputs()
        };
        let e = parse_host("tcp://10.0.0.1:2376", "DOCKER_HOST", &i).expect_err("tls");
        assert!(e.to_string().contains("TLS"));
    }

    #[test]
    fn context_from_config_json() {
        let dir = std::env::temp_dir().join(format!("dockhand-ctx-{}", std::process::id()));
        let meta = dir.join("contexts/meta/abc123");
        std::fs::create_dir_all(&meta).expect("mkdir");
        std::fs::write(dir.join("config.json"), r#"{"currentContext":"edge"}"#).expect("write");
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"edge","Endpoints":{"docker":{"Host":"unix:///run/edge.sock"}}}"#,
        )
        .expect("write");
        let i = Inputs {
            config_dir: Some(dir.clone()),
            ..inputs()
        };
        let (ep, src) = resolve(&i).expect("resolves");
        assert_eq!(ep, Endpoint::Unix("/run/edge.sock".into()));
        assert_eq!(src, Source::Context("edge".into()));
        let i = Inputs {
            flag_context: Some("nope".into()),
            ..i
        };
        assert!(
            resolve(&i)
                .expect_err("unknown")
                .to_string()
                .contains("nope")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn local_tcp_is_local() {
        assert!(Endpoint::Tcp("127.0.0.1:2375".into()).is_local());
        assert!(!Endpoint::Tcp("10.1.2.3:2375".into()).is_local());
        for local in [
            "127.0.0.1:2375",
            "127.1.2.3:2375",
            "localhost:2375",
            "LOCALHOST:2375",
            "[::1]:2375",
            "[::ffff:127.0.0.1]:2375",
            "127.0.0.1",
        ] {
            assert!(Endpoint::Tcp(local.into()).is_local(), "{local}");
        }
        // A name is not an address: whoever runs its DNS decides where it points.
        for remote in [
            "127.evil.example:2375",
            "127.0.0.1.nip.io:2375",
            "localhost.evil.example:2375",
            "[::2]:2375",
            "[::ffff:10.0.0.1]:2375",
            "128.0.0.1:2375",
            "[::1:2375",
            "::1:2375",
            "",
        ] {
            assert!(!Endpoint::Tcp(remote.into()).is_local(), "{remote}");
        }
    }
}
