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

/// Processes with an open file, a working directory or a root at or under `dir`, by the path
/// /proc shows from dockhand's mount namespace (a directory tree is judged by where its files
/// are: every fd of every process would be too many stats).
pub fn holders_under(dir: &Path) -> Holders {
    let mut out = Holders::default();
    for pid in crate::runtime::host::pids() {
        let base = format!("/proc/{pid}");
        let entries = match std::fs::read_dir(format!("{base}/fd")) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                out.unreadable += 1;
                continue;
            }
            Err(_) => continue,
        };
        let links = entries
            .flatten()
            .map(|e| e.path())
            .chain([format!("{base}/cwd").into(), format!("{base}/root").into()]);
        for link in links {
            if let Ok(target) = std::fs::read_link(&link)
                && target.starts_with(dir)
            {
                out.pids
                    .push((pid, crate::runtime::host::comm(pid).unwrap_or_default()));
                break;
            }
        }
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(oct) = s.get(i + 1..i + 4)
            && let Ok(v) = u8::from_str_radix(oct, 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or under `dir`, from `mountinfo` (the fifth field of each line).
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<std::path::PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| std::path::PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// Removes a directory and everything in it, only if it is the directory the plan saw (dev,
/// inode, and the mtime that changes when an entry is added or removed), no process has a file,
/// a working directory or a root under it, and nothing is mounted under it (a removal never
/// reaches through a mount). Synchronous: run it through `runtime::blocking`.
pub fn remove_tree(path: &Path, planned: &FileStamp, bytes: Option<u64>) -> (Outcome, Value) {
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
                    "{} is another directory now (inode {}, the plan saw {})",
                    path.display(),
                    now.ino,
                    planned.ino
                ),
            },
            after,
        );
    }
    if now.mtime_ns != planned.mtime_ns {
        return (
            Outcome::Changed {
                why: "entries were added or removed in it since the plan".into(),
            },
            after,
        );
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => {
            return (
                Outcome::Refused {
                    why: format!("{} is not a directory", path.display()),
                },
                after,
            );
        }
        _ => {}
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(m) = mounts_under(&mountinfo, path).first() {
        return (
            Outcome::InUse {
                why: format!("{} is mounted under it", m.display()),
            },
            after,
        );
    }
    let holders = holders_under(path);
    if let Some((pid, comm)) = holders.pids.first() {
        return (
            Outcome::InUse {
                why: format!(
                    "pid {pid} ({}) has a file or its working directory in it{}",
                    crate::util::sanitize(comm),
                    match holders.pids.len() {
                        1 => String::new(),
                        n => format!(" (and {} more)", n - 1),
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
    match std::fs::remove_dir_all(path) {
        Ok(()) => (Outcome::Done { bytes }, after),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Outcome::AlreadyGone, after),
        Err(e) => (
            Outcome::Failed {
                error: format!("cannot remove {}: {e}", path.display()),
            },
            after,
        ),
    }
}

/// Writes the running daemon's pid into its pid file, only if the file is still the one the
/// plan saw (dev, inode, size, mtime: it still names the stale pid) and the daemon is still the
/// process the plan saw (pid and start time). Written to a temporary file in the same
/// directory and renamed over it, so no reader ever sees half a pid.
pub fn rewrite_pidfile(
    path: &Path,
    planned: &FileStamp,
    daemon: &super::process::ProcTarget,
) -> (Outcome, Value) {
    let now = match FileStamp::of(path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return (
                Outcome::Changed {
                    why: format!("{} is gone since the plan", path.display()),
                },
                Value::Null,
            );
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
    if now != *planned {
        return (
            Outcome::Changed {
                why: format!("{} was rewritten since the plan", path.display()),
            },
            after,
        );
    }
    let pid = daemon.id.pid;
    match super::process::observe(pid) {
        Some(o) if o.start_ticks == daemon.id.start_ticks && !matches!(o.state, 'Z' | 'X') => {}
        _ => {
            return (
                Outcome::Changed {
                    why: format!(
                        "the daemon the plan saw (pid {pid}) is not running any more: the file was left alone"
                    ),
                },
                after,
            );
        }
    }
    let tmp = path.with_extension(format!("dockhand-{}", std::process::id()));
    let written = std::fs::write(&tmp, format!("{pid}"))
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    match written {
        Ok(()) => (Outcome::Done { bytes: None }, after),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            (
                Outcome::Failed {
                    error: format!("cannot write {}: {e}", path.display()),
                },
                after,
            )
        }
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

    #[test]
    fn a_tree_is_removed_only_if_unchanged_unheld_and_unmounted() {
        let d = tmp("tree");
        let t = d.join("docker-import-1");
        std::fs::create_dir_all(t.join("sub")).expect("mkdir");
        std::fs::write(t.join("sub/layer.tar"), b"1234").expect("write");
        let stamp = FileStamp::of(&t).expect("stamp");

        // A file in it held open by us: in use, named.
        let held = std::fs::File::open(t.join("sub/layer.tar")).expect("open");
        let Outcome::InUse { why } = remove_tree(&t, &stamp, Some(4)).0 else {
            panic!("in use")
        };
        assert!(
            why.contains(&format!("pid {}", std::process::id())),
            "{why}"
        );
        drop(held);

        // An entry added since the plan: changed.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(t.join("new"), b"x").expect("write");
        assert!(matches!(
            remove_tree(&t, &stamp, Some(4)).0,
            Outcome::Changed { .. }
        ));

        let stamp = FileStamp::of(&t).expect("stamp");
        assert_eq!(
            remove_tree(&t, &stamp, Some(5)).0,
            Outcome::Done { bytes: Some(5) }
        );
        assert!(!t.exists());
        assert_eq!(remove_tree(&t, &stamp, None).0, Outcome::AlreadyGone);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn mounts_under_a_directory_from_mountinfo() {
        let info = "22 1 0:21 / / rw - ext4 /dev/sda1 rw\n\
                    40 22 0:40 / /var/lib/docker/tmp/x/merged rw - overlay overlay rw\n\
                    41 22 0:41 / /var/lib/docker/tmp/with\\040space rw - tmpfs t rw\n\
                    42 22 0:42 / /var/lib/docker/tmpfoo rw - tmpfs t rw\n";
        let got = mounts_under(info, Path::new("/var/lib/docker/tmp"));
        assert_eq!(
            got,
            vec![
                std::path::PathBuf::from("/var/lib/docker/tmp/x/merged"),
                std::path::PathBuf::from("/var/lib/docker/tmp/with space"),
            ]
        );
    }

    #[test]
    fn a_pidfile_is_rewritten_only_while_unchanged_and_the_daemon_lives() {
        let d = tmp("pidfile");
        let f = d.join("docker.pid");
        std::fs::write(&f, b"999999").expect("write");
        let stamp = FileStamp::of(&f).expect("stamp");
        let me = std::process::id() as i32;
        let daemon =
            super::super::process::ProcTarget::capture(me, super::super::process::Scope::Any)
                .expect("self");
        let mut gone = daemon.clone();
        gone.id.start_ticks += 1;
        assert!(matches!(
            rewrite_pidfile(&f, &stamp, &gone).0,
            Outcome::Changed { .. }
        ));
        assert_eq!(
            rewrite_pidfile(&f, &stamp, &daemon).0,
            Outcome::Done { bytes: None }
        );
        assert_eq!(std::fs::read_to_string(&f).expect("read"), me.to_string());
        // The file now differs from the plan: a second run of the same step leaves it.
        assert!(matches!(
            rewrite_pidfile(&f, &stamp, &daemon).0,
            Outcome::Changed { .. }
        ));
        let _ = std::fs::remove_dir_all(d);
    }
}
