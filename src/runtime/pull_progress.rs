//! The engine's pull progress, read line by line: per-layer status and byte counts, the final
//! digest, and errors — plain data for the renderers and the stall watchdog.

use serde::{Deserialize, Serialize};

/// One JSON line of `POST /images/create`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Line {
    pub status: String,
    pub id: String,
    pub progress_detail: Detail,
    pub error: String,
    pub error_detail: ErrorDetail,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Detail {
    pub current: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ErrorDetail {
    pub message: String,
}

impl Line {
    pub fn parse(text: &str) -> Option<Line> {
        serde_json::from_str(text).ok()
    }

    /// The error the line carries, if it is one.
    pub fn error(&self) -> Option<&str> {
        if !self.error_detail.message.is_empty() {
            Some(&self.error_detail.message)
        } else if !self.error.is_empty() {
            Some(&self.error)
        } else {
            None
        }
    }
}

/// One layer's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Layer {
    pub id: String,
    /// The engine's word: Waiting, Downloading, Verifying Checksum, Download complete,
    /// Extracting, Pull complete, Already exists.
    pub status: String,
    pub current: u64,
    pub total: u64,
    /// Bytes downloaded (kept when extraction starts counting again from zero).
    pub downloaded: u64,
}

impl Layer {
    pub fn done(&self) -> bool {
        matches!(self.status.as_str(), "Pull complete" | "Already exists")
    }
}

/// What a pull has shown so far.
/// The most progress messages a pull keeps (the latest).
const MAX_MESSAGES: usize = 256;
/// The most layers a pull tracks.
const MAX_LAYERS: usize = 1024;

#[derive(Debug, Clone, Default)]
pub struct State {
    /// Layers in the order they first appeared.
    pub layers: Vec<Layer>,
    /// Status lines without a layer ("Pulling from …", "Digest: …", "Status: …").
    pub messages: Vec<String>,
    pub digest: Option<String>,
}

/// What one line changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A layer's line (its index in `layers`; whether its status changed; whether anything
    /// changed — status or bytes, or a layer not seen before). The containerd image store
    /// repeats each layer's line every 100 ms whether or not a byte arrived, so a line is not
    /// progress by itself.
    Layer {
        index: usize,
        status_changed: bool,
        moved: bool,
    },
    Message(String),
    Error(String),
    None,
}

impl State {
    /// Applies one line.
    pub fn apply(&mut self, l: &Line) -> Change {
        if let Some(e) = l.error() {
            return Change::Error(e.to_string());
        }
        // A layer id is 12 hex digits; the tag's own lines ("1: Pulling from big") carry the tag.
        let is_layer = l.id.len() == 12 && l.id.chars().all(|c| c.is_ascii_hexdigit());
        if !is_layer {
            if l.status.is_empty() {
                return Change::None;
            }
            if let Some(d) = l.status.strip_prefix("Digest: ") {
                self.digest = Some(d.trim().to_string());
            }
            let msg = if l.id.is_empty() {
                l.status.clone()
            } else {
                format!("{}: {}", l.id, l.status)
            };
            // The engine may send lines without end: keep the latest ones only.
            if self.messages.len() >= MAX_MESSAGES {
                self.messages.remove(0);
            }
            self.messages.push(msg.clone());
            return Change::Message(msg);
        }
        let mut new = false;
        let index = match self.layers.iter().position(|x| x.id == l.id) {
            Some(i) => i,
            // An image has at most 127 layers (overlay's limit): past this many ids the stream
            // is not a pull's, and tracking more would only grow without end.
            None if self.layers.len() >= MAX_LAYERS => return Change::None,
            None => {
                self.layers.push(Layer {
                    id: l.id.clone(),
                    ..Layer::default()
                });
                new = true;
                self.layers.len() - 1
            }
        };
        let layer = &mut self.layers[index];
        let status_changed = layer.status != l.status;
        let moved = new
            || status_changed
            || layer.current != l.progress_detail.current
            || layer.total != l.progress_detail.total;
        layer.status = l.status.clone();
        layer.current = l.progress_detail.current;
        layer.total = l.progress_detail.total;
        if l.status == "Downloading" {
            layer.downloaded = l.progress_detail.current;
        } else if matches!(
            l.status.as_str(),
            "Download complete" | "Verifying Checksum"
        ) {
            layer.downloaded = layer.downloaded.max(layer.total);
        }
        Change::Layer {
            index,
            status_changed,
            moved,
        }
    }

    /// Whether the pull waits on the network: some layer is still to be downloaded (pulling,
    /// waiting, downloading). A stream that repeats itself while no layer is (extracting, or
    /// verifying) is local work, however long it takes, not a stalled download.
    pub fn awaiting_network(&self) -> bool {
        self.layers.iter().any(|l| {
            matches!(
                l.status.as_str(),
                "Pulling fs layer" | "Waiting" | "Downloading"
            )
        })
    }

    /// Bytes downloaded over all layers.
    pub fn downloaded(&self) -> u64 {
        // Saturating: the counts are the engine's, and any u64 parses.
        self.layers
            .iter()
            .fold(0u64, |sum, l| sum.saturating_add(l.downloaded))
    }
}

/// What kind of failure an engine's pull error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// No such image or tag (or a registry that hides private images behind "denied").
    NotFound,
    Unauthorized,
    Other,
}

/// Classifies the engine's message (as moby and the registries word them).
pub fn classify_error(status: Option<u16>, message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if status == Some(404)
        || m.contains("manifest unknown")
        || m.contains("not found")
        || m.contains("repository does not exist")
        || m.contains("pull access denied")
        || m.contains("name unknown")
    {
        return ErrorKind::NotFound;
    }
    if matches!(status, Some(401 | 403))
        || m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("no basic auth credentials")
    {
        return ErrorKind::Unauthorized;
    }
    ErrorKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_is_not_progress_and_says_whether_the_network_is_awaited() {
        // The containerd image store's stream while the registry sends nothing: the same line
        // every 100 ms.
        let mut s = State::default();
        let down = r#"{"status":"Downloading","progressDetail":{"current":7340032,"total":33557602},"id":"078ed516eea9"}"#;
        let line = Line::parse(down).expect("json");
        let moved = |c: Change| matches!(c, Change::Layer { moved: true, .. });
        assert!(moved(s.apply(&line)), "a new layer moved");
        assert!(!moved(s.apply(&line)), "the same bytes again");
        assert!(s.awaiting_network());
        let more = Line::parse(&down.replace("7340032", "7340033")).expect("json");
        assert!(moved(s.apply(&more)));
        let extracting =
            Line::parse(r#"{"status":"Extracting","progressDetail":{},"id":"078ed516eea9"}"#)
                .expect("json");
        assert!(moved(s.apply(&extracting)));
        assert!(!moved(s.apply(&extracting)));
        assert!(!s.awaiting_network(), "extracting is local work");
    }

    #[test]
    fn lines_build_per_layer_progress() {
        let mut s = State::default();
        let lines = [
            r#"{"status":"Pulling from big","id":"1"}"#,
            r#"{"status":"Already exists","progressDetail":{},"id":"0a1b2c3d4e5f"}"#,
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"aaaaaaaaaaaa"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":1024,"total":4096},"progress":"[==>  ]","id":"aaaaaaaaaaaa"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":4096,"total":4096},"id":"aaaaaaaaaaaa"}"#,
            r#"{"status":"Download complete","progressDetail":{},"id":"aaaaaaaaaaaa"}"#,
            r#"{"status":"Extracting","progressDetail":{"current":100,"total":4096},"id":"aaaaaaaaaaaa"}"#,
            r#"{"status":"Pull complete","progressDetail":{},"id":"aaaaaaaaaaaa"}"#,
            r#"{"status":"Digest: sha256:abc"}"#,
            r#"{"status":"Status: Downloaded newer image for r/big:1"}"#,
        ];
        let changes: Vec<Change> = lines
            .iter()
            .map(|l| s.apply(&Line::parse(l).expect(l)))
            .collect();
        assert_eq!(changes[0], Change::Message("1: Pulling from big".into()));
        assert_eq!(
            changes[3],
            Change::Layer {
                index: 1,
                status_changed: true,
                moved: true
            }
        );
        assert_eq!(
            changes[4],
            Change::Layer {
                index: 1,
                status_changed: false,
                moved: true
            }
        );
        assert_eq!(s.layers.len(), 2);
        assert!(s.layers.iter().all(Layer::done));
        assert_eq!(
            s.layers[1].downloaded, 4096,
            "extraction does not reset what was downloaded"
        );
        assert_eq!(s.downloaded(), 4096);
        assert_eq!(s.digest.as_deref(), Some("sha256:abc"));
        let e = Line::parse(r#"{"errorDetail":{"message":"manifest for r/x:1 not found: manifest unknown"},"error":"manifest for r/x:1 not found"}"#).expect("json");
        assert!(matches!(s.apply(&e), Change::Error(m) if m.contains("manifest unknown")));
    }

    #[test]
    fn errors_are_told_apart() {
        use ErrorKind::*;
        let cases = [
            (Some(404), "anything", NotFound),
            (
                Some(500),
                "manifest for 127.0.0.1:5000/nope:1 not found: manifest unknown: manifest unknown",
                NotFound,
            ),
            (
                None,
                "pull access denied for nope, repository does not exist or may require 'docker login'",
                NotFound,
            ),
            (
                Some(500),
                "Get http://r/v2/x/manifests/1: unauthorized: authentication required",
                Unauthorized,
            ),
            (Some(401), "x", Unauthorized),
            (None, "no basic auth credentials", Unauthorized),
            (
                Some(500),
                "dial tcp 127.0.0.1:1: connect: connection refused",
                Other,
            ),
            (
                None,
                "write /var/lib/docker/tmp/x: no space left on device",
                Other,
            ),
        ];
        for (status, msg, want) in cases {
            assert_eq!(classify_error(status, msg), want, "{msg}");
        }
    }

    /// Found by fuzzing (fuzz_props::fuzz_pull_progress): two layers whose byte counts add up
    /// past u64 panicked in the sum.
    #[test]
    fn downloaded_counts_past_u64_saturate() {
        let mut s = State::default();
        for l in [
            r#"{"status":"Downloading","progressDetail":{"current":5337283538842633518,"total":0},"id":"000000000000"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":13121967411059338273,"total":0},"id":"000000000001"}"#,
        ] {
            s.apply(&Line::parse(l).expect(l));
        }
        assert_eq!(s.downloaded(), u64::MAX);
    }

    /// An engine that sends lines without end makes the state grow no further than its limits.
    #[test]
    fn endless_lines_are_bounded() {
        let mut s = State::default();
        for i in 0..5_000u64 {
            s.apply(
                &Line::parse(&format!(r#"{{"status":"Downloading","id":"{i:012x}"}}"#))
                    .expect("json"),
            );
            s.apply(&Line::parse(&format!(r#"{{"status":"note {i}"}}"#)).expect("json"));
        }
        assert_eq!(s.layers.len(), MAX_LAYERS);
        assert_eq!(s.messages.len(), MAX_MESSAGES);
        assert_eq!(s.messages.last().map(String::as_str), Some("note 4999"));
    }
}
