//! An image reference as the docker CLI reads it: `[registry/]name[:tag][@digest]`, and the
//! registry whose credentials a pull needs.

/// The registry key Docker Hub's credentials are stored under (the docker CLI's
/// `IndexServer`).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `fromImage` for `POST /images/create`: the name without tag or digest.
    pub name: String,
    /// The tag, or the digest (`sha256:…`) when pulled by digest; "latest" when neither.
    pub tag: String,
    /// The registry's host\[:port\] ("docker.io" for Docker Hub).
    pub registry: String,
}

impl Reference {
    /// The key under which the docker config keeps this registry's credentials.
    pub fn auth_key(&self) -> &str {
        if self.registry == "docker.io" {
            DOCKER_HUB_KEY
        } else {
            &self.registry
        }
    }

    /// `name:tag` or `name@digest`, as the engine names the pulled image.
    pub fn shown(&self) -> String {
        if self.tag.starts_with("sha256:") {
            format!("{}@{}", self.name, self.tag)
        } else {
            format!("{}:{}", self.name, self.tag)
        }
    }
}

/// Parses `IMAGE[:TAG]` or `IMAGE@DIGEST`. `Err` is a sentence naming the value and what works.
pub fn parse(s: &str) -> Result<Reference, String> {
    let bad = |why: &str| {
        format!(
            "{s:?} is not an image reference: {why}; use NAME[:TAG] or NAME@sha256:DIGEST, e.g. alpine:3.20 or registry.example.com:5000/team/app:1.2"
        )
    };
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains blanks"));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            let hex = d
                .strip_prefix("sha256:")
                .ok_or_else(|| bad("the digest must start with sha256:"))?;
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad("the digest must be sha256: and 64 hex digits"));
            }
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    // A tag is after the last ':' that comes after the last '/' (a registry port has a '/' after it).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(bad(&format!("{t:?} is not a tag")));
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let registry = if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost")
    {
        parts.remove(0).to_string()
    } else {
        "docker.io".to_string()
    };
    if parts.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(bad("a path component is empty"));
    }
    for p in &parts {
        let ok = p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok {
            return Err(bad(&format!(
                "{p:?} must be lowercase letters, digits and . _ -"
            )));
        }
    }
    Ok(Reference {
        name: name.to_string(),
        tag: digest
            .or_else(|| tag.map(str::to_string))
            .unwrap_or_else(|| "latest".into()),
        registry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_as_the_cli_reads_them() {
        let ok = |s: &str| parse(s).unwrap_or_else(|e| panic!("{e}"));
        let r = ok("alpine");
        assert_eq!(
            (r.name.as_str(), r.tag.as_str(), r.registry.as_str()),
            ("alpine", "latest", "docker.io")
        );
        assert_eq!(r.auth_key(), DOCKER_HUB_KEY);
        let r = ok("127.0.0.1:5000/big:1");
        assert_eq!(
            (r.name.as_str(), r.tag.as_str(), r.registry.as_str()),
            ("127.0.0.1:5000/big", "1", "127.0.0.1:5000")
        );
        assert_eq!(r.auth_key(), "127.0.0.1:5000");
        let r = ok("localhost:5000/team/app");
        assert_eq!(
            (r.name.as_str(), r.tag.as_str(), r.registry.as_str()),
            ("localhost:5000/team/app", "latest", "localhost:5000")
        );
        let r = ok("library/nginx:1.27-alpine");
        assert_eq!(
            (r.registry.as_str(), r.tag.as_str()),
            ("docker.io", "1.27-alpine")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ok(&format!("ghcr.io/o/x@{d}"));
        assert_eq!(
            (r.name.as_str(), r.tag.as_str(), r.registry.as_str()),
            ("ghcr.io/o/x", d.as_str(), "ghcr.io")
        );
        assert_eq!(r.shown(), format!("ghcr.io/o/x@{d}"));
        for bad in [
            "",
            "Alpine",
            "a b",
            "alpine:",
            "alpine:-x",
            "x//y",
            "x@sha256:12",
            "x@md5:aa",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("NAME[:TAG]"), "{e}");
        }
    }
}
