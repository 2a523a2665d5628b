//! Files: remove or truncate one only if it is still the file the plan saw, and (for removal) no
//! process holds it open.
//!
//! Every path is resolved through directory descriptors ([`crate::runtime::files::anchor`]):
//! no symlink a user planted is followed, every directory on the way is root's and writable by
//! nobody else, and the act happens relative to the descriptor of the last directory — a path
//! string is never walked again between the check and the act. A tree is walked and removed the
//! same way, never leaving its device.
//!
//! "Held open" and "mounted under" are decided by identity, not by name: every
//! `/proc/<pid>/fd/<n>` (and each process's cwd and root) is stat'ed and compared by device and
//! inode with what the walk found, so a process in another mount namespace (a container) that
//! sees the file under another path is found too, and a symlink cannot hide one.
//!
//! Each act runs under [`crate::runtime::mutate`]: its checks may be cut by the deadline
//! ("not started"), the change itself never is.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::stat::{FileStat, SFlag};
use serde_json::{Value, json};

use super::plan::{FileStamp, Outcome};
use crate::runtime::Gate;
use crate::runtime::files::{AnchorError, Anchored, Tree, anchor};

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
    holders_of(&HashSet::from([(dev, ino)]), false)
}

/// Processes with an fd on any of `ids` (device, inode) — and with `places`, also a working
/// directory or a root among them: the runtime's one search ([`crate::runtime::proc::held`]).
pub fn holders_of(ids: &HashSet<(u64, u64)>, places: bool) -> Holders {
    let until = std::time::Instant::now() + crate::runtime::proc::SEARCH_BOUND;
    let found = crate::runtime::proc::held(ids, places, until);
    let mut out = Holders {
        pids: Vec::new(),
        unreadable: found.unreadable,
    };
    for (pid, _) in found.hits {
        if !out.pids.iter().any(|(p, _)| *p == pid) {
            out.pids
                .push((pid, crate::runtime::host::comm(pid).unwrap_or_default()));
        }
    }
    out
}

fn stamp_json(s: &FileStamp) -> Value {
    json!({ "dev": s.dev, "ino": s.ino, "mtime_ns": s.mtime_ns, "size": s.size })
}

fn stamp_of(st: &FileStat) -> FileStamp {
    FileStamp {
        dev: st.st_dev,
        ino: st.st_ino,
        mtime_ns: st.st_mtime.saturating_mul(1_000_000_000) + st.st_mtime_nsec,
        size: st.st_size as u64,
    }
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

fn failed(error: String) -> (Outcome, Value) {
    (Outcome::Failed { error }, Value::Null)
}

fn not_started(path: &Path, after: Value) -> (Outcome, Value) {
    (
        Outcome::Failed {
            error: format!(
                "the checks of {} ran past the deadline; it was not started and is left as it was",
                path.display()
            ),
        },
        after,
    )
}

/// Resolves `path` safely and stats its entry (never following it). `Err` is the step's end.
fn resolve(path: &Path, gone: Outcome) -> Result<(Anchored, FileStat), (Outcome, Value)> {
    let a = match anchor(path) {
        Ok(a) => a,
        Err(AnchorError::NotFound) => return Err((gone, Value::Null)),
        Err(AnchorError::Unsafe(why)) => return Err((Outcome::Refused { why }, Value::Null)),
        Err(AnchorError::Io(e)) => {
            return Err(failed(format!("cannot resolve {}: {e}", path.display())));
        }
    };
    match a.lstat() {
        Ok(st) => Ok((a, st)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err((gone, Value::Null)),
        Err(e) => Err(failed(format!("cannot stat {}: {e}", path.display()))),
    }
}

fn in_use(holders: &Holders, what: &str) -> Option<Outcome> {
    if let Some((pid, comm)) = holders.pids.first() {
        return Some(Outcome::InUse {
            why: format!(
                "{what} pid {pid} ({}){}",
                crate::util::sanitize(comm),
                match holders.pids.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                }
            ),
        });
    }
    (holders.unreadable > 0).then(|| Outcome::Failed {
        error: format!(
            "could not read the open files of {} processes (run as root), so it was left alone",
            holders.unreadable
        ),
    })
}

/// The re-check and unlink, synchronous: run it through `runtime::mutate`.
pub fn remove_file(path: &Path, planned: &FileStamp, gate: &Gate) -> (Outcome, Value) {
    let (a, st) = match resolve(path, Outcome::AlreadyGone) {
        Ok(r) => r,
        Err(end) => return end,
    };
    let now = stamp_of(&st);
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
    if kind(&st) == SFlag::S_IFDIR {
        return (
            Outcome::Refused {
                why: format!("{} is a directory", path.display()),
            },
            after,
        );
    }
    if let Some(o) = in_use(&open_holders(now.dev, now.ino), "held open by") {
        return (o, after);
    }
    if !gate.begin() {
        return not_started(path, after);
    }
    // A symlink is removed as the link it is (unlinkat never follows one).
    match nix::unistd::unlinkat(
        &a.dir,
        a.name.as_os_str(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) => (
            Outcome::Done {
                bytes: Some(now.size),
            },
            after,
        ),
        Err(nix::errno::Errno::ENOENT) => (Outcome::AlreadyGone, after),
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
pub fn truncate_log(path: &Path, planned: &FileStamp, gate: &Gate) -> (Outcome, Value) {
    let (a, st) = match resolve(path, Outcome::AlreadyGone) {
        Ok(r) => r,
        Err(end) => return end,
    };
    let now = stamp_of(&st);
    let after = stamp_json(&now);
    let changed = |ino: u64| Outcome::Changed {
        why: format!(
            "{} is another file now (rotated or recreated: inode {ino}, the plan saw {})",
            path.display(),
            planned.ino
        ),
    };
    if (now.dev, now.ino) != (planned.dev, planned.ino) {
        return (changed(now.ino), after);
    }
    if kind(&st) != SFlag::S_IFREG {
        return (
            Outcome::Refused {
                why: format!("{} is not a regular file", path.display()),
            },
            after,
        );
    }
    // Opened relative to its directory, never through a symlink, never blocking on a FIFO.
    use nix::fcntl::OFlag;
    let fd = match nix::fcntl::openat(
        &a.dir,
        a.name.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
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
    let file = std::fs::File::from(fd);
    // Measure through the open file: what it holds at the moment it is cut, and that it is
    // still the file planned (not swapped between the stat and the open).
    let (ino, size) = file
        .metadata()
        .map_or((now.ino, now.size), |m| (m.ino(), m.size()));
    if ino != planned.ino {
        return (changed(ino), after);
    }
    if !gate.begin() {
        return not_started(path, after);
    }
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

/// Removes a directory and everything in it, only if it is the directory the plan saw (dev,
/// inode, and the mtime that changes when an entry is added or removed), no process has a file,
/// a working directory or a root in it, and nothing is mounted under it (a removal never
/// reaches through a mount). Synchronous: run it through `runtime::mutate`.
// Long on purpose: every check before the removal, in order, on the one descriptor removed through.
pub fn remove_tree(
    path: &Path,
    planned: &FileStamp,
    bytes: Option<u64>,
    gate: &Gate,
) -> (Outcome, Value) {
    let (a, st) = match resolve(path, Outcome::AlreadyGone) {
        Ok(r) => r,
        Err(end) => return end,
    };
    let now = stamp_of(&st);
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
    if kind(&st) != SFlag::S_IFDIR {
        return (
            Outcome::Refused {
                why: format!("{} is not a directory", path.display()),
            },
            after,
        );
    }
    let mountinfo = crate::runtime::host::mountinfo().unwrap_or_default();
    let mounts = crate::runtime::files::mount_point_ids(&mountinfo, now.dev);
    let tree = match Tree::walk(&a.dir, a.name.as_os_str(), &mounts, gate.deadline()) {
        Ok((t, opened)) if (opened.st_dev, opened.st_ino) == (now.dev, now.ino) => t,
        Ok(_) => {
            return (
                Outcome::Changed {
                    why: format!("{} was replaced while it was checked", path.display()),
                },
                after,
            );
        }
        Err(e) => {
            return (
                Outcome::Failed {
                    error: format!("cannot open {}: {e}", path.display()),
                },
                after,
            );
        }
    };
    if let Some(m) = &tree.mounted {
        return (
            Outcome::InUse {
                why: format!("something is mounted under it ({m})"),
            },
            after,
        );
    }
    if let Some(why) = &tree.incomplete {
        return (
            Outcome::Failed {
                error: format!("{why}, so it was left alone"),
            },
            after,
        );
    }
    if let Some(o) = in_use(
        &holders_of(&tree.ids, true),
        "has a file or its working directory in it:",
    ) {
        return (o, after);
    }
    if !gate.begin() {
        return not_started(path, after);
    }
    match crate::runtime::files::remove_tree_at(&a.dir, a.name.as_os_str()) {
        Ok(_) => (Outcome::Done { bytes }, after),
        Err((0, e)) if e.kind() == io::ErrorKind::NotFound => (Outcome::AlreadyGone, after),
        Err((n, e)) => (
            Outcome::Failed {
                error: format!(
                    "cannot remove {}: {e} ({n} entries were removed before that; the rest is as it was)",
                    path.display()
                ),
            },
            after,
        ),
    }
}

/// Writes the running daemon's pid into its pid file, only if the file is still the one the
/// plan saw (dev, inode, size, mtime: it still names the stale pid), a regular file (never a
/// symlink), and the daemon is still the process the plan saw (pid and start time). Written to
/// a temporary file in the same directory (exclusive, unpredictable name, mode 0644) and
/// renamed over it relative to that directory, so no reader ever sees half a pid.
pub fn rewrite_pidfile(
    path: &Path,
    planned: &FileStamp,
    daemon: &super::process::ProcTarget,
    gate: &Gate,
) -> (Outcome, Value) {
    let gone = Outcome::Changed {
        why: format!("{} is gone since the plan", path.display()),
    };
    let (a, st) = match resolve(path, gone) {
        Ok(r) => r,
        Err(end) => return end,
    };
    let now = stamp_of(&st);
    let after = stamp_json(&now);
    if now != *planned {
        return (
            Outcome::Changed {
                why: format!("{} was rewritten since the plan", path.display()),
            },
            after,
        );
    }
    if kind(&st) != SFlag::S_IFREG {
        return (
            Outcome::Refused {
                why: format!(
                    "{} is not a regular file (a symbolic link is never written through)",
                    path.display()
                ),
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
    if !gate.begin() {
        return not_started(path, after);
    }
    let name: &OsStr = a.name.as_os_str();
    match crate::runtime::files::write_atomically_at(&a.dir, name, 0o644, |w| write!(w, "{pid}")) {
        Ok(()) => (Outcome::Done { bytes: None }, after),
        Err(e) => (
            Outcome::Failed {
                error: format!("cannot write {}: {e}", path.display()),
            },
            after,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("dockhand-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        d
    }

    fn open() -> Gate {
        Gate::until(std::time::Instant::now() + std::time::Duration::from_secs(60))
    }

    #[test]
    fn a_file_is_removed_only_if_unchanged_and_unheld() {
        let d = tmp("remove");
        let f = d.join("blob");
        std::fs::write(&f, b"12345").expect("write");
        let stamp = FileStamp::of(&f).expect("stamp");

        // Held open by us: in use, named.
        let held = std::fs::File::open(&f).expect("open");
        let (o, _) = remove_file(&f, &stamp, &open());
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
        assert!(matches!(
            remove_file(&f, &stamp, &open()).0,
            Outcome::Changed { .. }
        ));

        // Replaced by another file at the same path: changed.
        let stamp = FileStamp::of(&f).expect("stamp");
        std::fs::remove_file(&f).expect("rm");
        let keep = d.join("keep");
        std::fs::write(&keep, b"123456").expect("write");
        std::fs::write(&f, b"123456").expect("write");
        let (o, _) = remove_file(&f, &stamp, &open());
        // (Another inode, or — should the filesystem reuse the number — another mtime.)
        assert!(matches!(o, Outcome::Changed { .. }), "{o:?}");

        // The same, unheld: done, with its size.
        let stamp = FileStamp::of(&f).expect("stamp");
        assert_eq!(
            remove_file(&f, &stamp, &open()).0,
            Outcome::Done { bytes: Some(6) }
        );
        assert!(!f.exists());
        assert_eq!(remove_file(&f, &stamp, &open()).0, Outcome::AlreadyGone);
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
            truncate_log(&f, &stamp, &open()).0,
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
        let Outcome::InUse { why } = remove_tree(&t, &stamp, Some(4), &open()).0 else {
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
            remove_tree(&t, &stamp, Some(4), &open()).0,
            Outcome::Changed { .. }
        ));

        let stamp = FileStamp::of(&t).expect("stamp");
        assert_eq!(
            remove_tree(&t, &stamp, Some(5), &open()).0,
            Outcome::Done { bytes: Some(5) }
        );
        assert!(!t.exists());
        assert_eq!(
            remove_tree(&t, &stamp, None, &open()).0,
            Outcome::AlreadyGone
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn symlinks_are_never_followed_and_a_late_deadline_changes_nothing() {
        let d = tmp("links");
        let victim_dir = tmp("links-victim");
        std::fs::write(victim_dir.join("secret"), b"precious").expect("write");
        std::fs::create_dir(d.join("tmp")).expect("mkdir");
        // The entry itself a symlink: unlinked as the link it is, its target untouched.
        let link = d.join("tmp/blob");
        std::os::unix::fs::symlink(victim_dir.join("secret"), &link).expect("symlink");
        let stamp = FileStamp::of(&link).expect("stamp");
        assert_eq!(
            remove_file(&link, &stamp, &open()).0,
            Outcome::Done {
                bytes: Some(stamp.size)
            }
        );
        assert_eq!(
            std::fs::read(victim_dir.join("secret")).expect("victim"),
            b"precious"
        );
        // A symlinked tree is not a directory: refused, nothing under the target touched.
        let tlink = d.join("tmp/tree");
        std::os::unix::fs::symlink(&victim_dir, &tlink).expect("symlink");
        let stamp = FileStamp::of(&tlink).expect("stamp");
        assert!(matches!(
            remove_tree(&tlink, &stamp, None, &open()).0,
            Outcome::Refused { .. }
        ));
        // A symlinked pid file is never written through.
        let pid = d.join("tmp/docker.pid");
        std::os::unix::fs::symlink(victim_dir.join("secret"), &pid).expect("symlink");
        let stamp = FileStamp::of(&pid).expect("stamp");
        let me = std::process::id() as i32;
        let daemon =
            super::super::process::ProcTarget::capture(me, super::super::process::Scope::Any)
                .expect("self");
        assert!(matches!(
            rewrite_pidfile(&pid, &stamp, &daemon, &open()).0,
            Outcome::Refused { .. }
        ));
        assert_eq!(
            std::fs::read(victim_dir.join("secret")).expect("victim"),
            b"precious"
        );
        // The deadline passed before the unlink: not started, the file is still there.
        let f = d.join("tmp/late");
        std::fs::write(&f, b"x").expect("write");
        let stamp = FileStamp::of(&f).expect("stamp");
        let late = Gate::until(std::time::Instant::now());
        let (o, _) = remove_file(&f, &stamp, &late);
        assert!(
            matches!(&o, Outcome::Failed { error } if error.contains("not started")),
            "{o:?}"
        );
        assert!(f.exists());
        let _ = std::fs::remove_dir_all(d);
        let _ = std::fs::remove_dir_all(victim_dir);
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
            rewrite_pidfile(&f, &stamp, &gone, &open()).0,
            Outcome::Changed { .. }
        ));
        assert_eq!(
            rewrite_pidfile(&f, &stamp, &daemon, &open()).0,
            Outcome::Done { bytes: None }
        );
        assert_eq!(std::fs::read_to_string(&f).expect("read"), me.to_string());
        // The file now differs from the plan: a second run of the same step leaves it.
        assert!(matches!(
            rewrite_pidfile(&f, &stamp, &daemon, &open()).0,
            Outcome::Changed { .. }
        ));
        let _ = std::fs::remove_dir_all(d);
    }
}
