//! What touched the engine's objects since a plan: a pull, a tag, an import or load, a container
//! created or started, a volume mounted, a network connected. A removal re-verified just before
//! it acts also asks this: an image someone pulled or ran a container from since the plan is not
//! garbage, whatever the re-check sees at that instant (a `docker run --rm` that came and went).
//!
//! The engine's event stream is read from the plan's start (`since`), so events between the plan
//! and the start of the watch are replayed from the engine's buffer (it keeps the last 256); a
//! stream that goes quiet is reopened from the last event seen, a broken one retried. While the
//! stream is down the watch says it is blind, and the re-checks alone protect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::docker::query_escape;
use crate::runtime::engine::{Engine, Method};

/// How long the stream may be silent before it is reopened (the engine sends nothing when
/// nothing happens; reopening is cheap and replays from the last event).
const QUIET: Duration = Duration::from_secs(30);
/// The wait before reopening a stream that failed.
const RETRY: Duration = Duration::from_secs(1);

/// One touch: what happened and when (seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub what: String,
    pub at: f64,
}

#[derive(Debug, Default)]
struct Seen {
    /// Keys: an image id's hex digits, or a normalised reference.
    images: HashMap<String, Touch>,
    volumes: HashMap<String, Touch>,
    /// Keys: ids and names.
    networks: HashMap<String, Touch>,
    /// Normalised reference → image id hex, so a pull of one tag touches the image.
    aliases: HashMap<String, String>,
    blind: Option<String>,
    connected: bool,
    events: u64,
}

/// A running watch. Dropping it stops reading.
#[derive(Debug)]
pub struct Watch {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An image id's hex digits (`sha256:` stripped), when `s` looks like an id or an id's prefix
/// of at least 12 digits.
fn id_hex(s: &str) -> Option<&str> {
    let h = s.strip_prefix("sha256:").unwrap_or(s);
    (h.len() >= 12 && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h)
}

/// A reference as `docker images` prints it: `docker.io/library/busybox` → `busybox:latest`,
/// `docker.io/user/app:1` → `user/app:1`; a digest reference is kept with its digest.
pub fn normalize_ref(r: &str) -> String {
    let mut s = r.trim();
    for p in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = s.strip_prefix(p) {
            s = rest;
            break;
        }
    }
    let s = s.strip_prefix("library/").unwrap_or(s);
    if s.contains('@') {
        return s.to_string();
    }
    let tagged = s.rfind(':').is_some_and(|i| !s[i..].contains('/'));
    if tagged {
        s.to_string()
    } else {
        format!("{s}:latest")
    }
}

fn key_of(s: &str) -> String {
    match id_hex(s) {
        Some(h) => h.to_ascii_lowercase(),
        None => normalize_ref(s),
    }
}

/// What an event touches, as (kind, key, what happened). Pure: tested on the engine's JSON.
pub fn touches(ev: &Value) -> Vec<(&'static str, String, String)> {
    let kind = ev["Type"].as_str().unwrap_or("");
    let action = ev["Action"].as_str().unwrap_or("");
    let id = ev["Actor"]["ID"].as_str().unwrap_or("");
    let attr = |k: &str| ev["Actor"]["Attributes"][k].as_str().unwrap_or("");
    let mut out = Vec::new();
    match (kind, action) {
        // dockhand's own hold of an image about to go is not a use.
        ("image", "tag") if super::docker::is_hold(attr("name")) => {}
        ("image", "pull" | "tag" | "import" | "load" | "push" | "save") => {
            out.push(("image", key_of(id), format!("image {action}")));
            // A tag event's new name is in `name`.
            if !attr("name").is_empty() && action == "tag" {
                out.push(("image", key_of(attr("name")), format!("image {action}")));
            }
        }
        ("container", "create" | "start" | "restart") => {
            let image = if attr("image").is_empty() {
                ev["from"].as_str().unwrap_or("")
            } else {
                attr("image")
            };
            if !image.is_empty() {
                out.push(("image", key_of(image), format!("container {action}")));
            }
        }
        ("volume", "create" | "mount") => {
            out.push(("volume", id.to_string(), format!("volume {action}")));
        }
        ("network", "connect" | "create") => {
            out.push(("network", id.to_string(), format!("network {action}")));
            if !attr("name").is_empty() {
                out.push((
                    "network",
                    attr("name").to_string(),
                    format!("network {action}"),
                ));
            }
        }
        _ => {}
    }
    out
}

fn event_time(ev: &Value) -> f64 {
    ev["timeNano"]
        .as_i64()
        .map(|n| n as f64 / 1e9)
        .or_else(|| ev["time"].as_i64().map(|s| s as f64))
        .unwrap_or(0.0)
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn when(at: f64) -> String {
    crate::units::rfc3339_ms(UNIX_EPOCH + Duration::from_secs_f64(at.max(0.0)))
}

impl Watch {
    /// Starts reading the engine's events since `since`; returns once the stream is open (or its
    /// first attempt failed, the watch then blind and retrying), so nothing after the return is
    /// missed.
    pub async fn start(engine: &Engine, since: SystemTime) -> Watch {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(engine.clone(), secs(since), seen.clone(), ready_tx));
        // Bounded: the stream's open is under the engine's deadline.
        let _ = tokio::time::timeout(engine.timeout() + Duration::from_secs(1), ready_rx).await;
        Watch { seen, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the watch which references name which image ids (from the plan), so a pull or a
    /// container created by tag touches the image.
    pub fn alias<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut s = self.lock();
        for (reference, id) in pairs {
            if let Some(h) = id_hex(id) {
                s.aliases
                    .insert(normalize_ref(reference), h.to_ascii_lowercase());
            }
        }
    }

    /// Why the watch cannot be relied on right now, if it cannot.
    pub fn blind(&self) -> Option<String> {
        let s = self.lock();
        match (&s.blind, s.connected) {
            (Some(b), _) => Some(b.clone()),
            (None, false) => Some("the engine's event stream has not opened yet".into()),
            (None, true) => None,
        }
    }

    /// Events read so far.
    pub fn events(&self) -> u64 {
        self.lock().events
    }

    /// The sentence for an image (by id and its references) touched since the plan.
    pub fn image_touched(&self, id: &str, refs: &[&str]) -> Option<String> {
        let s = self.lock();
        let hex = id_hex(id)?.to_ascii_lowercase();
        let mut hits: Vec<(&String, &Touch)> = Vec::new();
        for (k, t) in &s.images {
            let resolved = s.aliases.get(k).map(String::as_str);
            let hit = hex.starts_with(k.as_str())
                || resolved == Some(hex.as_str())
                || refs.iter().any(|r| normalize_ref(r) == *k);
            if hit {
                hits.push((k, t));
            }
        }
        let (k, t) = hits.into_iter().max_by(|a, b| a.1.at.total_cmp(&b.1.at))?;
        Some(format!(
            "touched since the plan: {} of {} at {}",
            t.what,
            crate::util::sanitize(k),
            when(t.at)
        ))
    }

    pub fn volume_touched(&self, name: &str) -> Option<String> {
        let s = self.lock();
        s.volumes
            .get(name)
            .map(|t| format!("touched since the plan: {} at {}", t.what, when(t.at)))
    }

    pub fn network_touched(&self, id: &str, name: &str) -> Option<String> {
        let s = self.lock();
        s.networks
            .get(id)
            .or_else(|| s.networks.get(name))
            .map(|t| format!("touched since the plan: {} at {}", t.what, when(t.at)))
    }
}

fn lock(s: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn run(
    engine: Engine,
    since: f64,
    seen: Arc<Mutex<Seen>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut from = since;
    let filters = json!({ "type": ["image", "container", "volume", "network"] }).to_string();
    loop {
        let path = format!(
            "/events?since={:.9}&filters={}",
            from,
            query_escape(&filters)
        );
        match engine.stream(Method::Get, &path, None, &[], QUIET).await {
            Ok(mut stream) => {
                {
                    let mut s = lock(&seen);
                    s.connected = true;
                    s.blind = None;
                }
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                loop {
                    match stream.next_line().await {
                        Ok(Some(line)) => {
                            let Ok(ev) = serde_json::from_str::<Value>(&line) else {
                                continue;
                            };
                            let at = event_time(&ev);
                            // `since` is inclusive and a reopened stream replays from the last
                            // event: only what happened from the start on counts.
                            if at < since {
                                continue;
                            }
                            from = from.max(at);
                            let mut s = lock(&seen);
                            s.events += 1;
                            for (kind, key, what) in touches(&ev) {
                                let map = match kind {
                                    "image" => &mut s.images,
                                    "volume" => &mut s.volumes,
                                    _ => &mut s.networks,
                                };
                                map.insert(key, Touch { what, at });
                            }
                        }
                        // Quiet for a while, or the engine ended it: reopen from the last event.
                        Ok(None) => break,
                        Err(crate::runtime::engine::EngineError::Frozen { .. }) => break,
                        Err(e) => {
                            lock(&seen).blind =
                                Some(format!("the engine's event stream broke: {e}"));
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                lock(&seen).blind = Some(format!("the engine's event stream did not open: {e}"));
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_as_docker_images_prints_them() {
        let cases = [
            ("busybox", "busybox:latest"),
            ("busybox:1.36", "busybox:1.36"),
            ("docker.io/library/busybox:latest", "busybox:latest"),
            ("docker.io/user/app", "user/app:latest"),
            ("library/debian:12", "debian:12"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("registry:5000/app:2", "registry:5000/app:2"),
            ("app@sha256:abcd", "app@sha256:abcd"),
        ];
        for (r, want) in cases {
            assert_eq!(normalize_ref(r), want, "{r}");
        }
        assert_eq!(key_of("sha256:0123456789ABcdef"), "0123456789abcdef");
        assert_eq!(key_of("0123456789ab"), "0123456789ab");
        assert_eq!(key_of("beef"), "beef:latest", "too short to be an id");
    }

    #[test]
    fn events_touch_what_they_name() {
        let ev = |v: Value| touches(&v);
        let pull = ev(
            json!({"Type":"image","Action":"pull","Actor":{"ID":"busybox:latest","Attributes":{"name":"busybox"}}}),
        );
        assert_eq!(
            pull,
            [(
                "image",
                "busybox:latest".to_string(),
                "image pull".to_string()
            )]
        );
        let tag = ev(
            json!({"Type":"image","Action":"tag","Actor":{"ID":"sha256:00112233445566778899","Attributes":{"name":"app:2"}}}),
        );
        assert_eq!(tag.len(), 2);
        assert_eq!(tag[0].1, "00112233445566778899");
        assert_eq!(tag[1].1, "app:2");
        let create = ev(
            json!({"Type":"container","Action":"create","from":"app:1","Actor":{"ID":"c1","Attributes":{"image":"app:1","name":"x"}}}),
        );
        assert_eq!(create[0].1, "app:1");
        assert_eq!(create[0].2, "container create");
        let mount = ev(
            json!({"Type":"volume","Action":"mount","Actor":{"ID":"data","Attributes":{"container":"c1"}}}),
        );
        assert_eq!(
            mount[0],
            ("volume", "data".to_string(), "volume mount".to_string())
        );
        let connect = ev(
            json!({"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"name":"net","container":"c1"}}}),
        );
        assert_eq!(connect.len(), 2);
        // Our own holds and removals touch nothing.
        assert!(ev(json!({"Type":"image","Action":"tag","Actor":{"ID":"sha256:00112233445566778899","Attributes":{"name":"dockhand-hold:001122334455"}}})).is_empty());
        for a in ["untag", "delete"] {
            assert!(
                ev(json!({"Type":"image","Action":a,"Actor":{"ID":"sha256:00112233445566778899"}}))
                    .is_empty()
            );
        }
        assert!(ev(json!({"Type":"container","Action":"destroy","Actor":{"ID":"c1","Attributes":{"image":"x"}}})).is_empty());
        assert!(ev(json!({"Type":"volume","Action":"destroy","Actor":{"ID":"v"}})).is_empty());
    }

    #[tokio::test]
    async fn touches_are_found_by_id_prefix_reference_or_alias() {
        let w = Watch {
            seen: Arc::new(Mutex::new(Seen::default())),
            task: tokio::spawn(async {}),
        };
        let id = format!("sha256:{}", "ab".repeat(32));
        {
            let mut s = w.lock();
            s.images.insert(
                "app:2".into(),
                Touch {
                    what: "image pull".into(),
                    at: 1_800_000_000.0,
                },
            );
        }
        // A pull of app:2 touches an image tagged app:1 only through the alias.
        assert!(w.image_touched(&id, &["app:1"]).is_none());
        w.alias([("app:2", id.as_str())]);
        let why = w.image_touched(&id, &["app:1"]).expect("touched");
        assert!(why.contains("image pull of app:2"), "{why}");
        assert!(why.starts_with("touched since the plan"), "{why}");
        // By a short id.
        let other = format!("sha256:{}", "cd".repeat(32));
        w.lock().images.insert(
            "cdcdcdcdcdcd".into(),
            Touch {
                what: "container create".into(),
                at: 1.0,
            },
        );
        assert!(w.image_touched(&other, &[]).is_some());
        // By a reference the step names.
        let third = format!("sha256:{}", "ef".repeat(32));
        w.lock().images.insert(
            "tool:latest".into(),
            Touch {
                what: "container create".into(),
                at: 1.0,
            },
        );
        assert!(w.image_touched(&third, &["tool"]).is_some());
        assert!(w.blind().is_some(), "never connected");
    }
}
