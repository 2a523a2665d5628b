//! Registry credentials from the docker config, as the docker CLI finds them: a credential
//! helper for the registry (`credHelpers`), else the default store (`credsStore`), else the
//! file's own `auths` (base64 `user:password`, or an identity token). A helper is run as
//! `docker-credential-<name> get` with the server on stdin, under a deadline.
//!
//! As root (effective uid 0) the credentials are root's own, and nothing another user can
//! write decides which program runs:
//! - `$HOME` is ignored: the config is `$DOCKER_CONFIG/config.json` when `DOCKER_CONFIG` is
//!   set, else `<root's home from the passwd database>/.docker/config.json` (a `sudo` that keeps
//!   the caller's `$HOME` does not hand dockhand the caller's config);
//! - that file must be root's and not group- or world-writable, and so must its directory and
//!   every directory above it (a sticky directory such as /tmp may be writable above it);
//!   otherwise the pull is refused with a sentence, and nothing is run;
//! - a helper's name must be `[A-Za-z0-9._-]+` (no `/`, no path), and
//!   `docker-credential-<name>` is run by its absolute path, found only in the `PATH`
//!   directories that pass the same ownership test.
//!
//! Whoever runs it: a helper that fails is reported by its exit status only — its stdout and
//! stderr may hold a secret and never reach a message.

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

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` — where `~` is `$HOME` for an
/// ordinary user, and root's home from the passwd database when dockhand runs as root.
pub fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(Path::new(&d).join("config.json"));
    }
    let home = if as_root() {
        nix::unistd::User::from_uid(nix::unistd::Uid::effective())
            .ok()
            .flatten()
            .map(|u| u.dir)
    } else {
        std::env::var_os("HOME").map(PathBuf::from)
    };
    home.map(|h| h.join(".docker/config.json"))
}

/// Whether dockhand acts as root, so the config and the helper must be root's own.
fn as_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// A credential helper's name as the config may give it: `[A-Za-z0-9._-]+`. Anything else
/// (a `/`, a path, blanks, an empty name) is refused before any program is looked for.
pub fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `(uid, mode)` of a file or directory leaves it to root alone: owned by root and not
/// writable by group or others. `sticky_ok`: a sticky directory (/tmp) writable by others
/// still keeps root's entries in it, so it may sit above a trusted path.
pub fn root_only(uid: u32, mode: u32, sticky_ok: bool) -> bool {
    const STICKY: u32 = 0o1000;
    uid == 0 && (mode & 0o022 == 0 || (sticky_ok && mode & STICKY != 0))
}

/// `Err`, a clause, unless `dir` and every directory above it (after resolving symlinks) are
/// root's alone; the directory itself may not be a writable sticky one.
pub fn trusted_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut at = Some(real.as_path());
    let mut first = true;
    while let Some(d) = at {
        let m = std::fs::metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
        if !m.is_dir() || !root_only(m.uid(), m.mode(), !first) {
            return Err(format!(
                "{} is owned by uid {} with mode {:o}",
                d.display(),
                m.uid(),
                m.mode() & 0o7777
            ));
        }
        first = false;
        at = d.parent();
    }
    Ok(())
}

/// Reads the config at `path` for a run as root: `Ok(None)` when there is none; `Err` (a
/// sentence) when the file or a directory above it is not root's alone.
fn read_as_root(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let refuse = |what: String| {
        format!(
            "dockhand runs as root and does not read credentials from {}: {what}; it must be root's and not group- or world-writable, as must the directories above it (unset DOCKER_CONFIG to use root's own {})",
            path.display(),
            root_default().display()
        )
    };
    // The directory is resolved once, checked, and the file opened under the resolved path:
    // a symlink on the way (DOCKER_CONFIG=/tmp/link) cannot be swapped between the check and
    // the open, since nothing above the resolved path is writable by anyone but root.
    let dir = match path.parent().map(std::fs::canonicalize) {
        Some(Ok(d)) => d,
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Some(Err(e)) => return Err(format!("cannot read {}: {e}", path.display())),
        None => return Ok(None),
    };
    trusted_dir(&dir).map_err(refuse)?;
    let Some(name) = path.file_name() else {
        return Ok(None);
    };
    // O_NOFOLLOW: the file itself is not a symlink to somewhere else.
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dir.join(name))
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(refuse("it is a symbolic link".into()));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let m = f
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !m.is_file() || !root_only(m.uid(), m.mode(), false) {
        return Err(refuse(format!(
            "it is owned by uid {} with mode {:o}",
            m.uid(),
            m.mode() & 0o7777
        )));
    }
    let mut text = String::new();
    f.take(16 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Some(text))
}

/// Root's own config, named in the refusal.
fn root_default() -> PathBuf {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(0))
        .ok()
        .flatten()
        .map_or_else(|| PathBuf::from("/root"), |u| u.dir)
        .join(".docker/config.json")
}

/// The absolute path of `docker-credential-<name>`: the first in `path_var`'s directories
/// (absolute ones only) that holds it as an executable file; as root, only directories that
/// are root's alone (see [`trusted_dir`]) are searched. `Err`: a sentence.
pub fn find_helper(name: &str, path_var: &str, root: bool) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    if !valid_helper_name(name) {
        return Err(format!(
            "the credential helper name {:?} is not a helper's name: it may hold only letters, digits and . _ - (e.g. \"pass\" for docker-credential-pass)",
            crate::util::sanitize(name)
        ));
    }
    let prog = format!("docker-credential-{name}");
    for dir in path_var.split(':').map(Path::new) {
        if !dir.is_absolute() || (root && trusted_dir(dir).is_err()) {
            continue;
        }
        let p = dir.join(&prog);
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
            && m.permissions().mode() & 0o111 != 0
        {
            return Ok(p);
        }
    }
    Err(if root {
        format!(
            "{prog} is not in any PATH directory that is root's alone (owned by root, not group- or world-writable); install it in /usr/local/bin or /usr/bin"
        )
    } else {
        format!("{prog} is not in PATH; install it, or remove it from the docker config")
    })
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
    // Through a deadline: as root the home comes from the passwd database, which NSS may
    // answer from the network.
    let path = match crate::runtime::blocking(deadline, config_path).await {
        Some(Some(p)) => p,
        Some(None) => return Ok(None),
        None => {
            return Err("looking up root's home in the passwd database did not finish in time; set DOCKER_CONFIG".into());
        }
    };
    let root = as_root();
    let p = path.clone();
    let read = crate::runtime::blocking(deadline, move || {
        if root {
            return read_as_root(&p);
        }
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", p.display())),
        }
    })
    .await;
    let text = match read {
        Some(Ok(Some(t))) => t,
        Some(Ok(None)) => return Ok(None),
        Some(Err(e)) => return Err(e),
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
            let path_var = std::env::var("PATH").unwrap_or_default();
            let n = name.clone();
            let prog =
                match crate::runtime::blocking(deadline, move || find_helper(&n, &path_var, root))
                    .await
                {
                    Some(Ok(p)) => p,
                    Some(Err(e)) => return Err(format!("{e} (named in {})", path.display())),
                    None => {
                        return Err(format!(
                            "looking for the credential helper named in {} did not finish in time",
                            path.display()
                        ));
                    }
                };
            let shown = format!("docker-credential-{name}");
            let r = crate::runtime::command::run(
                vec![prog.display().to_string(), "get".into()],
                Some(format!("{server}\n").into_bytes()),
                deadline,
            )
            .await
            .map_err(|e| format!("the credential helper {e} (named in {})", path.display()))?;
            if r.ok() {
                return Ok(parse_helper(&r.stdout).map(|c| (c, shown)));
            }
            if r.stdout.contains("credentials not found")
                || r.stderr.contains("credentials not found")
            {
                return Ok(None);
            }
            // Only the status: what a helper prints may be the secret itself.
            Err(format!("`{shown} get` for {server}: {}", r.status_only()))
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

    #[test]
    fn helper_names_are_plain_words() {
        for ok in [
            "pass",
            "ecr-login",
            "osxkeychain",
            "gcloud",
            "a.b_c-1",
            "..",
        ] {
            assert!(valid_helper_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../../tmp/x",
            "/tmp/x",
            "a/b",
            "pass x",
            "pass\n",
            "p;id",
            "$(id)",
            "pässe",
            "a\0b",
        ] {
            assert!(!valid_helper_name(bad), "{bad:?}");
            let e = find_helper(bad, "/usr/bin:/bin", true).expect_err(bad);
            assert!(e.contains("letters, digits and . _ -"), "{e}");
        }
    }

    #[test]
    fn root_only_means_roots_and_not_writable_by_others() {
        assert!(root_only(0, 0o100644, false));
        assert!(root_only(0, 0o40755, false));
        assert!(!root_only(65534, 0o100644, false));
        assert!(!root_only(0, 0o100664, false));
        assert!(!root_only(0, 0o100646, false));
        // /tmp: writable by all, sticky — fine above a path, never as the directory itself.
        assert!(root_only(0, 0o41777, true));
        assert!(!root_only(0, 0o41777, false));
        assert!(!root_only(0, 0o40777, true));
    }

    #[test]
    fn helpers_are_found_by_absolute_path_in_trusted_directories_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dockhand-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let helper = dir.join("docker-credential-dhfind");
        std::fs::write(&helper, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path_var = format!("relative/dir:{}", dir.display());
        let root = nix::unistd::Uid::effective().is_root();
        if root {
            assert_eq!(
                find_helper("dhfind", &path_var, true).expect("found"),
                helper
            );
            // A directory others may write to is not searched as root.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
            let e = find_helper("dhfind", &path_var, true).expect_err("untrusted");
            assert!(e.contains("root's alone"), "{e}");
        }
        assert_eq!(
            find_helper("dhfind", &path_var, false).expect("found"),
            helper
        );
        assert!(find_helper("dhfind", "relative/dir", false).is_err());
        let _ = std::fs::remove_dir_all(dir);
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
