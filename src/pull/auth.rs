//! Registry credentials from the docker config, as the docker CLI finds them: a credential
//! helper for the registry (`credHelpers`), else the default store (`credsStore`), else the
//! file's own `auths` (base64 `user:password`, or an identity token). A helper is run as
//! `docker-credential-<name> get` with the server on stdin, under a deadline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Creds {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth identity token (a helper's `Username` "<token>", or `identitytoken`).
    Token(String),
}

impl std::fmt::Debug for Creds {
    // Never print a secret, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Creds::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Creds::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Where the credentials for a registry come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// In the config file itself.
    Inline(Creds),
    /// A helper program: `docker-credential-<name>`.
    Helper(String),
    None,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(Path::new(&d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker/config.json"))
}

/// The host\[:port\] an `auths` key names: keys may be written as URLs
/// ("https://registry.example.com/v2/"); Docker Hub's stays as it is.
fn normalize(key: &str) -> &str {
    if key == super::reference::DOCKER_HUB_KEY {
        return key;
    }
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// Where `registry`'s credentials are, by the docker CLI's precedence.
pub fn lookup(config: &Value, registry: &str) -> Result<Source, String> {
    if let Some(h) = config
        .pointer("/credHelpers")
        .and_then(|m| m.get(registry))
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
    {
        return Ok(Source::Helper(h.to_string()));
    }
    if let Some(h) = config
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
    {
        return Ok(Source::Helper(h.to_string()));
    }
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(Source::None);
    };
    let entry = auths.get(registry).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| normalize(k) == registry)
            .map(|(_, v)| v)
    });
    let Some(entry) = entry else {
        return Ok(Source::None);
    };
    if let Some(t) = entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Ok(Source::Inline(Creds::Token(t.to_string())));
    }
    let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    else {
        return Ok(Source::None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| {
            format!(
                "auths.{registry}.auth is not base64 ({e}); run `docker login {registry}` again"
            )
        })?;
    let text = String::from_utf8(raw).map_err(|_| {
        format!("auths.{registry}.auth is not text; run `docker login {registry}` again")
    })?;
    let (u, p) = text.split_once(':').ok_or_else(|| {
        format!("auths.{registry}.auth is not user:password; run `docker login {registry}` again")
    })?;
    Ok(Source::Inline(Creds::Basic {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

/// A helper's answer to `get`: `{"ServerURL", "Username", "Secret"}`; "credentials not found"
/// is no credentials.
pub fn parse_helper(stdout: &str) -> Option<Creds> {
    let v: Value = serde_json::from_str(stdout.trim()).ok()?;
    let user = v
        .get("Username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let secret = v.get("Secret").and_then(Value::as_str).unwrap_or_default();
    if secret.is_empty() {
        return None;
    }
    Some(if user == "<token>" {
        Creds::Token(secret.to_string())
    } else {
        Creds::Basic {
            username: user.to_string(),
            password: secret.to_string(),
        }
    })
}

/// The `X-Registry-Auth` header's value: base64url of the JSON the engine expects.
pub fn header(creds: &Creds, server: &str) -> String {
    let v = match creds {
        Creds::Basic { username, password } => {
            json!({ "username": username, "password": password, "serveraddress": server })
        }
        Creds::Token(t) => json!({ "identitytoken": t, "serveraddress": server }),
    };
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// Finds the credentials for `server` (a registry key): reads the config, runs a helper
/// under `deadline`. `Ok(None)`: pull anonymously. With the credentials, where they came from:
/// "docker config" or "docker-credential-<name>".
pub async fn find(server: &str, deadline: Duration) -> Result<Option<(Creds, String)>, String> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let p = path.clone();
    let text = match crate::runtime::blocking(deadline, move || std::fs::read_to_string(&p)).await {
        Some(Ok(t)) => t,
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Some(Err(e)) => return Err(format!("cannot read {}: {e}", path.display())),
        None => return Err(format!("reading {} did not finish in time", path.display())),
    };
    let config: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not valid JSON ({e}); fix it or move it aside",
            path.display()
        )
    })?;
    match lookup(&config, server).map_err(|e| format!("{}: {e}", path.display()))? {
        Source::None => Ok(None),
        Source::Inline(c) => Ok(Some((c, "docker config".into()))),
        Source::Helper(name) => {
            let prog = format!("docker-credential-{name}");
            let r = crate::runtime::command::run(
                vec![prog.clone(), "get".into()],
                Some(format!("{server}\n").into_bytes()),
                deadline,
            )
            .await
            .map_err(|e| format!("the credential helper {e} (named in {})", path.display()))?;
            if r.ok() {
                return Ok(parse_helper(&r.stdout).map(|c| (c, prog)));
            }
            if r.stdout.contains("credentials not found")
                || r.stderr.contains("credentials not found")
            {
                return Ok(None);
            }
            Err(format!("`{prog} get` for {server}: {}", r.why()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn lookup_follows_the_clis_precedence() {
        let basic = |u: &str, p: &str| {
            Source::Inline(Creds::Basic {
                username: u.into(),
                password: p.into(),
            })
        };
        let cases: Vec<(Value, &str, Source)> = vec![
            (json!({}), "r:5000", Source::None),
            (
                json!({"auths": {"r:5000": {"auth": b64("alice:s3cret:x")}}}),
                "r:5000",
                basic("alice", "s3cret:x"),
            ),
            // Keys written as URLs match their host.
            (
                json!({"auths": {"https://r.example.com/v2/": {"auth": b64("bob:pw")}}}),
                "r.example.com",
                basic("bob", "pw"),
            ),
            (
                json!({"auths": {"r:5000": {"identitytoken": "tok"}}}),
                "r:5000",
                Source::Inline(Creds::Token("tok".into())),
            ),
            (
                json!({"auths": {"other:1": {"auth": b64("a:b")}}}),
                "r:5000",
                Source::None,
            ),
            (json!({"auths": {"r:5000": {}}}), "r:5000", Source::None),
            // A store for everything, a helper for one registry: the helper wins for it.
            (
                json!({"credsStore": "pass", "auths": {"r:5000": {}}}),
                "r:5000",
                Source::Helper("pass".into()),
            ),
            (
                json!({"credsStore": "pass", "credHelpers": {"r:5000": "ecr-login"}}),
                "r:5000",
                Source::Helper("ecr-login".into()),
            ),
            (
                json!({"credHelpers": {"other": "gcr"}, "auths": {"r:5000": {"auth": b64("a:b")}}}),
                "r:5000",
                basic("a", "b"),
            ),
            (
                json!({"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}}),
                "https://index.docker.io/v1/",
                basic("hub", "pw"),
            ),
        ];
        for (config, reg, want) in cases {
            assert_eq!(lookup(&config, reg).expect("valid"), want, "{config} {reg}");
        }
        let e = lookup(&json!({"auths": {"r": {"auth": "!!!"}}}), "r").expect_err("bad");
        assert!(e.contains("docker login r"), "{e}");
        let e = lookup(&json!({"auths": {"r": {"auth": b64("nocolon")}}}), "r").expect_err("bad");
        assert!(e.contains("user:password"), "{e}");
    }

    #[test]
    fn helpers_and_headers() {
        assert_eq!(
            parse_helper(r#"{"ServerURL":"r","Username":"u","Secret":"p"}"#),
            Some(Creds::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            parse_helper(r#"{"ServerURL":"r","Username":"<token>","Secret":"t"}"#),
            Some(Creds::Token("t".into()))
        );
        assert_eq!(
            parse_helper("credentials not found in native keychain"),
            None
        );
        let h = header(
            &Creds::Basic {
                username: "u".into(),
                password: "p?>".into(),
            },
            "r:5000",
        );
        assert!(!h.contains(['+', '/']), "URL-safe: {h}");
        let back = base64::engine::general_purpose::URL_SAFE
            .decode(&h)
            .expect("decodes");
        let v: Value = serde_json::from_slice(&back).expect("json");
        assert_eq!(
            v,
            json!({"username": "u", "password": "p?>", "serveraddress": "r:5000"})
        );
        assert!(!format!("{:?}", Creds::Token("secret".into())).contains("secret"));
    }

    #[tokio::test]
    async fn a_helper_is_run_with_the_server_on_stdin() {
        let dir = std::env::temp_dir().join(format!("dockhand-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let helper = dir.join("docker-credential-dhtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 2\nif [ \"$server\" = r:5000 ]; then printf '{\"ServerURL\":\"%s\",\"Username\":\"u\",\"Secret\":\"p\"}' \"$server\"; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let r = crate::runtime::command::run(
            vec![helper.display().to_string(), "get".into()],
            Some(b"r:5000\n".to_vec()),
            Duration::from_secs(5),
        )
        .await
        .expect("runs");
        assert!(r.ok());
        assert_eq!(
            parse_helper(&r.stdout),
            Some(Creds::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
