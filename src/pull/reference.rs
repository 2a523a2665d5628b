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

/// The longest name (registry and path) the distribution grammar allows.
const MAX_NAME: usize = 255;

/// Parses `IMAGE[:TAG]` or `IMAGE@DIGEST` by the distribution reference grammar
/// (github.com/distribution/reference): a registry `host[:port]` of DNS labels, an IPv4
/// address or a bracketed IPv6 one; path components of lowercase letters and digits joined by
/// `.`, `_`, `__` or dashes; a tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a digest
/// `sha256:<64 hex>`. Nothing reaches a request before this passes. `Err` is a sentence naming
/// the value and what works.
pub fn parse(s: &str) -> Result<Reference, String> {
    let bad = |why: &str| {
        format!(
            "{:?} is not an image reference: {why}; use NAME[:TAG] or NAME@sha256:DIGEST, e.g. alpine:3.20 or registry.example.com:5000/team/app:1.2",
            crate::util::sanitize(s)
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
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            {
                return Err(bad(
                    "the digest must be sha256: and 64 lowercase hex digits",
                ));
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
    if let Some(t) = tag
        && !valid_tag(t)
    {
        return Err(bad(&format!(
            "{:?} is not a tag (letters, digits, _ . -, not starting with . or -, at most 128)",
            crate::util::sanitize(t)
        )));
    }
    if name.len() > MAX_NAME {
        return Err(bad(&format!(
            "the name is longer than {MAX_NAME} characters"
        )));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let registry = if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost")
    {
        let domain = parts.remove(0);
        if !valid_domain(domain) {
            return Err(bad(&format!(
                "{:?} is not a registry (a host name, IPv4 or [IPv6] address, and an optional :port)",
                crate::util::sanitize(domain)
            )));
        }
        domain.to_string()
    } else {
        "docker.io".to_string()
    };
    if parts.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(bad("a path component is empty"));
    }
    for p in &parts {
        if !valid_component(p) {
            return Err(bad(&format!(
                "{:?} must be lowercase letters and digits, joined by . _ __ or dashes",
                crate::util::sanitize(p)
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

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    t.len() <= 128
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|c| word(c) || matches!(c, b'.' | b'-'))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`: alphanumeric runs joined by one `.`, one or two
/// `_`, or any number of `-`.
fn valid_component(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let ok = match &b[sep..i] {
            b"." | b"_" | b"__" => true,
            s => s.iter().all(|&c| c == b'-'),
        };
        if !ok {
            return false;
        }
    }
}

/// `host[:port]`: DNS labels (`[A-Za-z0-9]` or `[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]`) joined by
/// dots, or `[IPv6]`; the port is digits (1–65535).
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            a => match a.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return false,
            },
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && !(!p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|c| c.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0))
    {
        return false;
    }
    if d.starts_with('[') {
        return true;
    }
    let label = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    !host.is_empty() && host.split('.').all(label)
}

/// Percent-encodes a query parameter's value: everything but the unreserved characters
/// (RFC 3986: letters, digits, `-._~`), so a value can never end its parameter (`&`), start
/// another (`=`), or cut the query (`#`).
pub fn query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?k=v&…` with every value percent-encoded.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", query_value(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
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

    #[test]
    fn the_grammar_of_distribution_reference() {
        let d = "a".repeat(64);
        for ok in [
            "a",
            "a.b/c_d/e__f/g-h/i---j",
            "reg.io/app",
            "reg.io:5000/app:v1.0_rc-1",
            "[::1]:5000/app",
            "[fe80::1]/app",
            "127.0.0.1:5000/app",
            "localhost/app",
            "App.Example.COM/app",
            "app:_x",
            &format!("app:{}", "t".repeat(128)),
            &format!("app@sha256:{d}"),
            &format!("app:1@sha256:{d}"),
        ] {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            // A query parameter smuggled in through the registry, the name or the tag.
            "reg.io&platform=x/app",
            "reg.io/app&platform=x",
            "reg.io/app:1&platform=x",
            "reg.io/app?x=1",
            "reg.io/app#frag",
            "reg.io/a%26b",
            "-reg.io/app",
            "reg-.io/app",
            "reg..io/app",
            "reg.io:/app",
            "reg.io:0/app",
            "reg.io:99999/app",
            "reg.io:5000x/app",
            "[::1/app",
            "[nope]:5000/app",
            "a..b",
            "a___b",
            "a._b",
            "_a",
            "a_",
            "a-",
            "app:.x",
            &format!("app:{}", "t".repeat(129)),
            &format!("app@sha256:{}", "A".repeat(64)),
            &format!("reg.io/{}", "a".repeat(250)),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("is not an image reference"), "{e}");
        }
    }

    #[test]
    fn every_query_value_is_percent_encoded() {
        assert_eq!(
            query_value("reg.io&platform=x/app"),
            "reg.io%26platform%3Dx%2Fapp"
        );
        assert_eq!(query_value("a b#c?d%e"), "a%20b%23c%3Fd%25e");
        assert_eq!(query_value("sha256:ab"), "sha256%3Aab");
        assert_eq!(
            with_query(
                "/images/create",
                &[
                    ("fromImage", "127.0.0.1:5000/big"),
                    ("tag", "1"),
                    ("platform", "linux/arm64")
                ]
            ),
            "/images/create?fromImage=127.0.0.1%3A5000%2Fbig&tag=1&platform=linux%2Farm64"
        );
    }
}
