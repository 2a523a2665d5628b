//! What the watch has spent of its recovery budget, kept in `<state-dir>/watch-state.json` so a
//! watch restarted after `kill -9` (or a reboot) knows the attempts of the last hour and whether
//! one was in flight when it died. Written atomically, read without following a symlink; a file
//! that does not read is replaced (an unreadable ledger counts as a spent budget for this start:
//! see [`Ledger::load`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "watch-state.json";
const VERSION: u64 = 1;

/// A recovery the watch started and has not yet seen end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// Seconds since the epoch.
    pub started: f64,
    pub pid: u32,
    /// Why it was started (the daemon's health at the time).
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub version: u64,
    /// When each recovery of the last hour started, seconds since the epoch.
    #[serde(default)]
    pub attempts: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
}

/// The ledger as loaded, and what there was to say about it.
#[derive(Debug)]
pub struct Loaded {
    pub ledger: Ledger,
    pub note: Option<String>,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

impl Ledger {
    /// Reads the ledger. Missing is empty. One that does not read is treated as the whole
    /// budget spent just now (`now`), so a damaged file can never buy extra restarts.
    pub fn load(dir: &Path, now: f64, max: u32) -> Loaded {
        let p = path(dir);
        let spent = || Ledger {
            version: VERSION,
            attempts: vec![now; max as usize],
            in_flight: None,
        };
        match crate::runtime::files::read_nofollow(&p) {
            Ok(bytes) => match serde_json::from_slice::<Ledger>(&bytes) {
                Ok(l) => Loaded {
                    ledger: l,
                    note: None,
                },
                Err(e) => Loaded {
                    ledger: spent(),
                    note: Some(format!(
                        "the watch's ledger {} does not read ({e}); its recovery budget counts as spent for the next hour",
                        p.display()
                    )),
                },
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded {
                ledger: Ledger {
                    version: VERSION,
                    ..Ledger::default()
                },
                note: None,
            },
            Err(e) => Loaded {
                ledger: spent(),
                note: Some(format!(
                    "cannot read the watch's ledger {} ({e}); its recovery budget counts as spent for the next hour",
                    p.display()
                )),
            },
        }
    }

    /// Writes it atomically (mode 0600), keeping only the last hour's attempts.
    pub fn save(&mut self, dir: &Path, now: f64) -> std::io::Result<()> {
        self.version = VERSION;
        self.attempts = crate::policy::watch::recent(&self.attempts, now);
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::runtime::files::write_atomically(&path(dir), 0o600, |w| {
            w.write_all(&text)?;
            w.write_all(b"\n")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-ledger-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn a_ledger_survives_a_restart_and_a_damaged_one_spends_the_budget() {
        let d = tmp("roundtrip");
        let now = 1_800_000_000.0;
        let fresh = Ledger::load(&d, now, 3);
        assert!(fresh.note.is_none());
        assert!(fresh.ledger.attempts.is_empty());
        let mut l = fresh.ledger;
        l.attempts = vec![now - 7200.0, now - 10.0];
        l.in_flight = Some(InFlight {
            started: now - 10.0,
            pid: 42,
            why: "frozen".into(),
        });
        l.save(&d, now).expect("save");
        let back = Ledger::load(&d, now, 3).ledger;
        assert_eq!(
            back.attempts,
            vec![now - 10.0],
            "older than an hour is dropped"
        );
        assert_eq!(back.in_flight.map(|f| f.pid), Some(42));
        std::fs::write(path(&d), b"{not json").expect("damage");
        let bad = Ledger::load(&d, now, 3);
        assert!(bad.note.is_some_and(|n| n.contains("counts as spent")));
        assert_eq!(bad.ledger.attempts, vec![now; 3]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
