//! Files: remove or truncate one only if it is still the file the plan saw, and (for removal) no
//! process holds it open.
//!
//! "Held open" is decided by identity, not by name: every `/proc/<pid>/fd/<n>` that points at a
//! path is stat'ed and compared by device and inode, so a process in another mount namespace (a
//! container) that sees the file under another path is found too.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::{Value, json};

use super::plan::{FileStamp, Outcome};

/// Who holds a file open, and how many processes could not be looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    /// (pid, comm) of each process with an fd on the file.
    pub pids: Vec<(i32, String)>,
    /// Processes whose fds were unreadable (not root): one of them might hold it.
    pub unreadable: usize,
}

/// Scans /proc/*/fd for descriptors on the file with this device and inode.
pub fn open_holders(dev: u64, ino: u64) -> Holders {
    let mut out = Holders::default();
    for pid in crate::runtime::host::pids() {
        let dir = format!("/proc/{pid}/fd");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                out.unreadable += 1;
                continue;
            }
            // Gone mid-scan, or a kernel thread: nothing held.
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let link = entry.path();
            // Sockets, pipes and anon inodes read as "socket:[…]" etc.: only paths can match.
            let Ok(target) = std::fs::read_link(&link) else {
                continue;
            };
            if !target.as_os_str().as_encoded_bytes().starts_with(b"/") {
                continue;
            }
            if let Ok(m) = std::fs::metadata(&link)
                && m.dev() == dev
                && m.ino() == ino
            {
                out.pids
                    .push((pid, crate::runtime::host::comm(pid).unwrap_or_default()));
                break;
            }
        }
    }
    out
}

fn stamp_json(s: &FileStamp) -> Value {
    json!({ "dev": s.dev, "ino": s.ino, "mtime_ns": s.mtime_ns, "size": s.size })
}

/// The re-check and unlink, synchronous: run it through `runtime::blocking`.
pub fn remove_file(path: &Path, planned: &FileStamp) -> (Outcome, Value) {
    let now = match FileStamp::of(path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return (Outcome::AlreadyGone, Value::Null);
        }
        Err(e) => {
            return (
                Outcome::Failed {
                    error: format!("cannot stat {}: {e}", path.display()),
                },
                Value::Null,
            );
        }
    };
    let after = stamp_json(&now);
    if (now.dev, now.ino) != (planned.dev, planned.ino) {
        return (
            Outcome::Changed {
                why: format!(
                    "{} is another file now (inode {}, the plan saw {})",
                    path.display(),
                    now.ino,
                    planned.ino
                ),
            },
            after,
        );
    }
    if (now.size, now.mtime_ns) != (planned.size, planned.mtime_ns) {
        return (
            Outcome::Changed {
                why: format!(
                    "it was written to since the plan ({} bytes now, {} then)",
                    now.size, planned.size
                ),
            },
            after,
        );
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return (
                Outcome::Refused {
                    why: format!("{} is a directory", path.display()),
                },
                after,
            );
        }
        _ => {}
    }
    let holders = open_holders(now.dev, now.ino);
    if let Some((pid, comm)) = holders.pids.first() {
        return (
            Outcome::InUse {
                why: format!(
                    "held open by pid {pid} ({}){}",
                    crate::util::sanitize(comm),
                    match holders.pids.len() {
                        1 => String::new(),
                        n => format!(" and {} more", n - 1),
                    }
                ),
            },
            after,
        );
    }
    if holders.unreadable > 0 {
        return (
            Outcome::Failed {
                error: format!(
                    "could not read the open files of {} processes (run as root), so it was left alone",
                    holders.unreadable
                ),
            },
            after,
        );
    }
    match std::fs::remove_file(path) {
        Ok(()) => (
            Outcome::Done {
                bytes: Some(now.size),
            },
            after,
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Outcome::AlreadyGone, after),
        Err(e) => (
            Outcome::Failed {
                error: format!("cannot remove {}: {e}", path.display()),
            },
            after,
        ),
    }
}

/// Truncates a log in place. The daemon keeps it open and appends (O_APPEND), so its next write
/// lands at the new end; only the inode must still be the one planned (its size grows).
pub fn truncate_log(path: &Path, planned: &FileStamp) -> (Outcome, Value) {
    let now = match FileStamp::of(path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return (Outcome::AlreadyGone, Value::Null);
        }
        Err(e) => {
            return (
                Outcome::Failed {
                    error: format!("cannot stat {}: {e}", path.display()),
                },
                Value::Null,
            );
        }
    };
    let after = stamp_json(&now);
    if (now.dev, now.ino) != (planned.dev, planned.ino) {
        return (
            Outcome::Changed {
                why: format!(
                    "{} is another file now (rotated or recreated: inode {}, the plan saw {})",
                    path.display(),
                    now.ino,
                    planned.ino
                ),
            },
            after,
        );
    }
    let file = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            return (
                Outcome::Failed {
                    error: format!("cannot open {}: {e}", path.display()),
                },
                after,
            );
        }
    };
    // Measure through the open file: what it holds at the moment it is cut.
    let size = file.metadata().map(|m| m.size()).unwrap_or(now.size);
    match file.set_len(0) {
        Ok(()) => (Outcome::Done { bytes: Some(size) }, after),
        Err(e) => (
            Outcome::Failed {
                error: format!("cannot truncate {}: {e}", path.display()),
            },
            after,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn a_file_is_removed_only_if_unchanged_and_unheld() {
        let d = tmp("remove");
        let f = d.join("blob");
        std::fs::write(&f, b"12345").expect("write");
        let stamp = FileStamp::of(&f).expect("stamp");

        // Held open by us: in use, named.
        let held = std::fs::File::open(&f).expect("open");
        let (o, _) = remove_file(&f, &stamp);
        let Outcome::InUse { why } = o else {
            panic!("{o:?}")
        };
        assert!(
            why.contains(&format!("pid {}", std::process::id())),
            "{why}"
        );
        drop(held);

        // Written to since: changed.
        std::fs::write(&f, b"123456").expect("rewrite");
        assert!(matches!(remove_file(&f, &stamp).0, Outcome::Changed { .. }));

        // Replaced by another file at the same path: changed.
        let stamp = FileStamp::of(&f).expect("stamp");
        std::fs::remove_file(&f).expect("rm");
        let keep = d.join("keep");
        std::fs::write(&keep, b"123456").expect("write");
        std::fs::write(&f, b"123456").expect("write");
        let (o, _) = remove_file(&f, &stamp);
        // (Another inode, or — should the filesystem reuse the number — another mtime.)
        assert!(matches!(o, Outcome::Changed { .. }), "{o:?}");

        // The same, unheld: done, with its size.
        let stamp = FileStamp::of(&f).expect("stamp");
        assert_eq!(remove_file(&f, &stamp).0, Outcome::Done { bytes: Some(6) });
        assert!(!f.exists());
        assert_eq!(remove_file(&f, &stamp).0, Outcome::AlreadyGone);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_log_is_truncated_in_place() {
        let d = tmp("truncate");
        let f = d.join("c-json.log");
        std::fs::write(&f, b"line\n").expect("write");
        let stamp = FileStamp::of(&f).expect("stamp");
        // It grew since the plan: still the same inode, so still truncated.
        std::fs::write(&f, b"line\nline\n").expect("grow");
        assert_eq!(
            truncate_log(&f, &stamp).0,
            Outcome::Done { bytes: Some(10) }
        );
        assert_eq!(std::fs::metadata(&f).expect("meta").len(), 0);
        let _ = std::fs::remove_dir_all(d);
    }
}
