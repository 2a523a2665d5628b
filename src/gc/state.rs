//! Last use: what dockhand has seen of each image, kept between runs in
//! `<state-dir>/gc-state.json`. The daemon keeps only its last 256 events and forgets them on
//! restart, so a one-shot tool cannot rebuild history from `docker events --since`; each run
//! records what it sees instead:
//!
//! - `first_seen`: the first run that saw the image. An image is never collected by age until
//!   dockhand has known it for the grace period — an image built years ago and pulled a minute
//!   ago survives (its creation date says nothing about when it arrived).
//! - `last_used`: the latest start or finish of a container from it, or of a pull, tag or
//!   container event the engine still had in its buffer.
//!
//! The file is per daemon (keyed by the engine's `/info` ID), versioned, written atomically
//! (temporary file, fsync, rename) under a lock of its own, and fields this version does not know
//! are kept as they were. A file that does not parse is moved aside with a warning and never
//! trusted — history starts again, which only makes gc more careful; a file written by a newer
//! dockhand is read but not rewritten. Nothing here ever stops a run.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const FILE_NAME: &str = "gc-state.json";
const LOCK_NAME: &str = "gc-state.lock";
/// The format this version writes.
pub const VERSION: u64 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u64,
    #[serde(default)]
    pub daemons: BTreeMap<String, DaemonState>,
    /// Fields a newer version wrote: kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonState {
    /// When a run last looked (RFC 3339): the next run asks the engine's event buffer from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    #[serde(default)]
    pub images: BTreeMap<String, ImageState>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageState {
    pub first_seen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    /// Its tags when last seen (for people reading the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn at(t: f64) -> String {
    crate::units::rfc3339(UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0)))
}

fn secs(s: &str) -> Option<f64> {
    crate::units::parse_rfc3339(s)
}

impl DaemonState {
    pub fn first_seen(&self, id: &str) -> Option<f64> {
        self.images.get(id).and_then(|i| secs(&i.first_seen))
    }

    pub fn last_used(&self, id: &str) -> Option<f64> {
        self.images
            .get(id)
            .and_then(|i| i.last_used.as_deref())
            .and_then(secs)
    }

    pub fn observed_at(&self) -> Option<f64> {
        self.observed_at.as_deref().and_then(secs)
    }
}

/// What one run saw: the images present (id, tags) and uses of images (id, when).
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub images: Vec<(String, Vec<String>)>,
    pub uses: Vec<(String, f64)>,
    pub now: f64,
}

/// Records an observation: images seen for the first time get `first_seen = now`, uses move
/// `last_used` forward (never back, never past now), images no longer present are forgotten
/// (one that comes back is new again).
pub fn observe(d: &mut DaemonState, obs: &Observation) {
    let mut uses: HashMap<&str, f64> = HashMap::new();
    for (id, t) in &obs.uses {
        let t = t.min(obs.now);
        let e = uses.entry(id.as_str()).or_insert(t);
        *e = e.max(t);
    }
    let present: std::collections::HashSet<&str> =
        obs.images.iter().map(|(id, _)| id.as_str()).collect();
    d.images.retain(|id, _| present.contains(id.as_str()));
    for (id, tags) in &obs.images {
        let e = d.images.entry(id.clone()).or_insert_with(|| ImageState {
            first_seen: at(obs.now),
            ..ImageState::default()
        });
        // A first sighting that does not read (hand-edited) is a first sighting now.
        if secs(&e.first_seen).is_none() {
            e.first_seen = at(obs.now);
        }
        e.tags = tags.clone();
        if let Some(&u) = uses.get(id.as_str()) {
            let old = e.last_used.as_deref().and_then(secs);
            if old.is_none_or(|o| u > o) {
                e.last_used = Some(at(u));
            }
        }
    }
    d.observed_at = Some(at(obs.now));
}

/// The state as loaded, and what there was to say about it.
#[derive(Debug, Default)]
pub struct Loaded {
    pub file: StateFile,
    pub notes: Vec<String>,
    /// False for a newer version's file: read, not rewritten.
    pub writable: bool,
}

/// Reads the state file of `dir`. Never fails: missing is empty; unparsable is moved aside.
pub fn load(dir: &Path) -> Loaded {
    let path = dir.join(FILE_NAME);
    let empty = || StateFile {
        version: VERSION,
        ..StateFile::default()
    };
    let bytes = match crate::runtime::files::read_nofollow(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Loaded {
                file: empty(),
                notes: Vec::new(),
                writable: true,
            };
        }
        Err(e) => {
            return Loaded {
                file: empty(),
                notes: vec![format!(
                    "cannot read the gc state {} ({e}): every image counts as first seen now",
                    path.display()
                )],
                writable: false,
            };
        }
    };
    match parse(&bytes) {
        Ok(file) if file.version > VERSION => Loaded {
            notes: vec![format!(
                "the gc state {} was written by a newer dockhand (format {}); it is read as format {VERSION} and left as it is",
                path.display(),
                file.version
            )],
            file,
            writable: false,
        },
        Ok(file) => Loaded {
            file,
            notes: Vec::new(),
            writable: true,
        },
        Err(why) => {
            let stamp = crate::units::rfc3339(SystemTime::now()).replace([':', '-'], "");
            let aside = dir.join(format!("{FILE_NAME}.corrupt-{stamp}"));
            let note = match std::fs::rename(&path, &aside) {
                Ok(()) => format!(
                    "the gc state {} is damaged ({why}); moved aside to {} and not trusted: every image counts as first seen now",
                    path.display(),
                    aside.display()
                ),
                Err(e) => format!(
                    "the gc state {} is damaged ({why}) and could not be moved aside ({e}); not trusted: every image counts as first seen now",
                    path.display()
                ),
            };
            Loaded {
                file: empty(),
                notes: vec![note],
                writable: true,
            }
        }
    }
}

fn parse(bytes: &[u8]) -> Result<StateFile, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if !v.get("version").is_some_and(Value::is_u64) {
        return Err("no format version".into());
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// Writes the state file atomically (mode 0600).
pub fn save(dir: &Path, file: &StateFile) -> io::Result<()> {
    crate::runtime::files::write_atomically(&dir.join(FILE_NAME), 0o600, |w| {
        serde_json::to_writer_pretty(&mut *w, file).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// Load, record, save — under the state file's own lock (a dry run and an applying run may
/// overlap; neither may lose the other's write). Blocking: call it from a thread with a
/// deadline. Returns this daemon's state after the update, and notes.
pub fn update(
    dir: &Path,
    daemon: &str,
    lock_wait: Duration,
    f: impl FnOnce(&mut DaemonState),
) -> (DaemonState, Vec<String>) {
    let lock_path: PathBuf = dir.join(LOCK_NAME);
    let lock = {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&lock_path)
    };
    let mut notes = Vec::new();
    let held = match &lock {
        Ok(file) => {
            let until = Instant::now() + lock_wait;
            loop {
                match file.try_lock() {
                    Ok(()) => break true,
                    Err(std::fs::TryLockError::WouldBlock) if Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => break false,
                }
            }
        }
        Err(_) => false,
    };
    let mut loaded = load(dir);
    notes.append(&mut loaded.notes);
    let mut file = loaded.file;
    let mut state = file.daemons.remove(daemon).unwrap_or_default();
    f(&mut state);
    if !held {
        notes.push(match &lock {
            Err(e) => format!(
                "the gc state was not saved: cannot open {} ({e}); run as root, or pass a --state-dir this user may write",
                lock_path.display()
            ),
            Ok(_) => format!(
                "the gc state was not saved: another run held {} for {}",
                lock_path.display(),
                crate::util::human_duration(lock_wait)
            ),
        });
    } else if loaded.writable {
        file.daemons.insert(daemon.to_string(), state.clone());
        file.version = VERSION;
        if let Err(e) = save(dir, &file) {
            notes.push(format!(
                "the gc state {} was not saved ({e}); last use recorded by this run is lost",
                dir.join(FILE_NAME).display()
            ));
        }
    }
    (state, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    fn obs(images: &[(&str, &[&str])], uses: &[(&str, f64)], now: f64) -> Observation {
        Observation {
            images: images
                .iter()
                .map(|(i, t)| (i.to_string(), t.iter().map(|s| s.to_string()).collect()))
                .collect(),
            uses: uses.iter().map(|(i, t)| (i.to_string(), *t)).collect(),
            now,
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("dockhand-gcstate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn first_sight_sticks_uses_move_forward_gone_images_are_forgotten() {
        let mut d = DaemonState::default();
        observe(
            &mut d,
            &obs(
                &[("a", &["a:1"]), ("b", &[])],
                &[("a", NOW - 50.0)],
                NOW - 100.0,
            ),
        );
        assert_eq!(d.first_seen("a"), Some(NOW - 100.0));
        assert_eq!(
            d.last_used("a"),
            Some(NOW - 100.0),
            "a use in the future is now"
        );
        observe(
            &mut d,
            &obs(
                &[("a", &["a:1"]), ("c", &[])],
                &[("a", NOW - 500.0), ("c", NOW - 5.0)],
                NOW,
            ),
        );
        assert_eq!(
            d.first_seen("a"),
            Some(NOW - 100.0),
            "first sighting sticks"
        );
        assert_eq!(d.last_used("a"), Some(NOW - 100.0), "never moves back");
        assert!(!d.images.contains_key("b"), "gone, forgotten");
        assert_eq!(d.first_seen("c"), Some(NOW));
        assert_eq!(d.last_used("c"), Some(NOW - 5.0));
        assert_eq!(d.observed_at(), Some(NOW));
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let dir = tmp("extra");
        let text = r#"{"version":1,"future":{"x":1},"daemons":{"D1":{"images":{"sha256:a":{"first_seen":"2026-01-01T00:00:00Z","pinned":true}},"quota":5}}}"#;
        std::fs::write(dir.join(FILE_NAME), text).expect("write");
        let (state, notes) = update(&dir, "D1", Duration::from_secs(1), |d| {
            observe(d, &obs(&[("sha256:a", &["a:1"])], &[], NOW));
        });
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(state.images["sha256:a"].extra["pinned"], true);
        let back: Value =
            serde_json::from_slice(&std::fs::read(dir.join(FILE_NAME)).expect("read"))
                .expect("json");
        assert_eq!(back["future"]["x"], 1);
        assert_eq!(back["daemons"]["D1"]["quota"], 5);
        assert_eq!(back["daemons"]["D1"]["images"]["sha256:a"]["pinned"], true);
        assert_eq!(
            back["daemons"]["D1"]["images"]["sha256:a"]["first_seen"],
            "2026-01-01T00:00:00Z"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(FILE_NAME))
                .expect("meta")
                .permissions(),
        ) & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_not_trusted() {
        for (name, text) in [
            ("torn", r#"{"version":1,"daemons":{"D1":{"ima"#),
            ("noversion", r#"{"daemons":{}}"#),
            ("wrongshape", r#"{"version":1,"daemons":[1,2]}"#),
        ] {
            let dir = tmp(name);
            std::fs::write(dir.join(FILE_NAME), text).expect("write");
            let (state, notes) = update(&dir, "D1", Duration::from_secs(1), |d| {
                observe(d, &obs(&[("x", &[])], &[], NOW));
            });
            assert_eq!(state.first_seen("x"), Some(NOW), "{name}");
            assert!(
                notes.iter().any(|n| n.contains("moved aside")),
                "{name}: {notes:?}"
            );
            let aside: Vec<_> = std::fs::read_dir(&dir)
                .expect("ls")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
                .collect();
            assert_eq!(aside.len(), 1, "{name}");
            assert_eq!(
                std::fs::read_to_string(aside[0].path()).expect("read"),
                text
            );
            // A good file was written in its place.
            assert!(parse(&std::fs::read(dir.join(FILE_NAME)).expect("read")).is_ok());
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn a_newer_format_is_read_but_not_rewritten() {
        let dir = tmp("newer");
        let text = r#"{"version":2,"daemons":{"D1":{"images":{"a":{"first_seen":"2026-01-01T00:00:00Z"}}}}}"#;
        std::fs::write(dir.join(FILE_NAME), text).expect("write");
        let (state, notes) = update(&dir, "D1", Duration::from_secs(1), |_| {});
        assert!(state.first_seen("a").is_some());
        assert!(notes.iter().any(|n| n.contains("newer")), "{notes:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join(FILE_NAME)).expect("read"),
            text
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_dir_is_a_note_not_a_failure() {
        let dir = std::env::temp_dir().join("dockhand-gcstate-nonexistent/deeper");
        let (state, notes) = update(&dir, "D1", Duration::from_millis(10), |d| {
            observe(d, &obs(&[("x", &[])], &[], NOW));
        });
        assert_eq!(state.first_seen("x"), Some(NOW));
        assert!(notes.iter().any(|n| n.contains("not saved")), "{notes:?}");
    }
}
