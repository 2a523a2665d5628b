//! Which engine answers on the socket: Docker's dockerd, or Podman's `podman system service`
//! through its Docker-compatible API. Both speak the same paths; what differs is what stands
//! behind them (dockerd's data root, daemon.json and containerd shims, or Podman's
//! containers/storage, containers.conf and one conmon per container), so some of doctor's checks
//! do not apply to Podman and df and gc read its store differently.
//!
//! Told from the `/_ping` answer every run already asks for: Podman's carries
//! `Libpod-Api-Version` and `Server: Libpod/<version> (linux)`, dockerd's `Server:
//! Docker/<version> (linux)`. Before the ping has answered, the program that serves the socket
//! on this host (`dockerd` or `podman`, found in /proc) says it, so that a frozen engine does not
//! hold checks that never ask it. Nothing else is asked.

use serde::Serialize;

/// The engine behind the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// dockerd (Moby).
    Docker,
    /// `podman system service` (libpod's Docker-compatible API).
    Podman,
    /// It did not answer, or did not say (a proxy that drops the headers): judged as Docker.
    Unknown,
}

impl EngineKind {
    /// From the ping's `Server` and `Libpod-Api-Version` headers.
    pub fn from_ping(server: Option<&str>, libpod_api_version: Option<&str>) -> EngineKind {
        let server = server.map(str::trim).unwrap_or_default();
        if libpod_api_version.is_some_and(|v| !v.trim().is_empty())
            || starts_with_word(server, "libpod")
            || starts_with_word(server, "podman")
        {
            EngineKind::Podman
        } else if starts_with_word(server, "docker") {
            EngineKind::Docker
        } else {
            EngineKind::Unknown
        }
    }

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
            EngineKind::Unknown => "unknown",
        }
    }

    pub fn is_podman(self) -> bool {
        self == EngineKind::Podman
    }

    /// The `until` (seconds since the epoch) to ask `/events` with for what the engine holds up
    /// to `now`, so that it answers and closes instead of streaming. dockerd answers from its
    /// buffer at once when `until` has passed (an `until` ahead holds the answer until then).
    /// Podman 4.3 answers nothing at all when `until` has passed, and everything up to it when
    /// it is ahead, closing at that instant: it is asked [`PODMAN_EVENTS_AHEAD`] ahead.
    pub fn events_until(self, now: f64) -> f64 {
        if self.is_podman() {
            now + PODMAN_EVENTS_AHEAD.as_secs_f64()
        } else {
            now
        }
    }
}

/// How far ahead Podman's `/events` is asked to stop: what one answer costs in waiting, and
/// enough for the request to reach it before that instant passes.
pub const PODMAN_EVENTS_AHEAD: std::time::Duration = std::time::Duration::from_millis(150);

/// `Docker/20.10.24+dfsg1 (linux)` starts with the word `docker`, case aside.
fn starts_with_word(s: &str, word: &str) -> bool {
    s.get(..word.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(word))
        && s[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == '/' || c == ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_is_asked_for_events_until_a_moment_ahead() {
        let now = 1_796_122_794.25;
        assert_eq!(EngineKind::Docker.events_until(now), now);
        assert_eq!(EngineKind::Unknown.events_until(now), now);
        let p = EngineKind::Podman.events_until(now);
        assert!(p > now && p - now < 1.0, "{p}");
    }

    #[test]
    fn engines_are_told_by_their_ping_headers() {
        // (Server, Libpod-Api-Version, kind) — the headers as each engine sends them.
        let cases = [
            (
                Some("Docker/20.10.24+dfsg1 (linux)"),
                None,
                EngineKind::Docker,
            ),
            (Some("Docker/29.1.0 (linux)"), None, EngineKind::Docker),
            (
                Some("Libpod/4.3.1 (linux)"),
                Some("4.3.1"),
                EngineKind::Podman,
            ),
            (
                Some("Libpod/5.8.0 (linux)"),
                Some("5.8.0"),
                EngineKind::Podman,
            ),
            // A proxy that rewrote Server but kept Podman's own header.
            (Some("nginx"), Some("4.3.1"), EngineKind::Podman),
            (Some("Libpod/4.3.1 (linux)"), None, EngineKind::Podman),
            (None, None, EngineKind::Unknown),
            (Some(""), Some(""), EngineKind::Unknown),
            (Some("nginx/1.25"), None, EngineKind::Unknown),
            // A word that merely begins the same way is not the engine.
            (Some("Dockerish/1.0"), None, EngineKind::Unknown),
        ];
        for (server, libpod, want) in cases {
            assert_eq!(
                EngineKind::from_ping(server, libpod),
                want,
                "{server:?} {libpod:?}"
            );
        }
    }
}
