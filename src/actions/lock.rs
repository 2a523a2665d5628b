//! The state dir and the run lock: one mutating run at a time per host.
//!
//! The lock is `flock(2)` on `<state-dir>/lock` (std's `File::try_lock`). The kernel releases it
//! when the holder's file is closed — also on a crash or `kill -9` — so a lock can never be left
//! held by a dead process. The file's *contents* name the holder (pid, command, start time) for
//! the sentence a second run prints; a clean release empties it, so contents found by a run that
//! did get the lock were left by a holder that died: that run takes over and says so.
//!
//! The file is never deleted: a run that opened it just before the deletion would lock an
//! unlinked inode while the next run locks a new file, and both would go ahead.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The default state dir.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/dockhand";

/// The lock's file name inside the state dir.
pub const LOCK_FILE: &str = "lock";

/// The state dir could not be used. One sentence naming the value and what would work.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", state_dir_sentence(.path, .why, *.untrusted))]
pub struct StateDirError {
    pub path: PathBuf,
    pub why: String,
    /// It exists but is not safe to trust as root (a symlink, another owner, writable by
    /// others): refused with its own exit code, never "fixed" by dockhand.
    pub untrusted: bool,
}

fn state_dir_sentence(path: &Path, why: &str, untrusted: bool) -> String {
    if untrusted {
        format!(
            "--state-dir {}: {why}, so a local user could plant or swap the lock, the journal or the plan key; as root dockhand uses only a real directory owned by root that nobody else may write (chown root {0}; chmod 0700 {0}), or pass another one",
            path.display()
        )
    } else {
        format!(
            "--state-dir {}: {why}; pass a directory dockhand may create files in (default {DEFAULT_STATE_DIR})",
            path.display()
        )
    }
}

/// Whether a state dir's status can be trusted by this user: a real directory (the status is
/// taken without following a symlink), owned by root or this user, writable by nobody else.
/// `None` when it can; else the reason, as the middle of a sentence.
pub fn untrusted_reason(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    if meta.file_type().is_symlink() {
        return Some("it is a symbolic link".into());
    }
    if !meta.is_dir() {
        return None; // said by the caller: not a directory
    }
    if meta.uid() != 0 && meta.uid() != me {
        return Some(format!("it is owned by uid {}, not root", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "its mode is {:04o}: others may write it",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Makes sure `dir` exists (creating it and missing parents with mode 0700) and is a directory
/// dockhand can write in and may trust: a real directory (not a symlink), owned by root (or the
/// running user, when not root) and writable by nobody else — its files are the run lock, the
/// journal, the plan key and gc's state, which a local user must not plant or swap.
pub fn prepare_state_dir(dir: &Path) -> Result<(), StateDirError> {
    let bad = |why: String| StateDirError {
        path: dir.to_path_buf(),
        why,
        untrusted: false,
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| bad(format!("cannot create it ({e})")))?;
            std::fs::symlink_metadata(dir).map_err(|e| bad(format!("cannot read it ({e})")))?
        }
        Err(e) => return Err(bad(format!("cannot read it ({e})"))),
    };
    if let Some(why) = untrusted_reason(&meta) {
        return Err(StateDirError {
            path: dir.to_path_buf(),
            why,
            untrusted: true,
        });
    }
    if !meta.is_dir() {
        return Err(bad("it exists and is not a directory".into()));
    }
    // Root passes access(2) even on a read-only filesystem; check what the kernel would say.
    if nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_err()
    {
        return Err(bad("it is not writable by this user".into()));
    }
    Ok(())
}

/// Whoever holds (or held) the lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: i32,
    /// The command's name: gc, reap, recover …
    pub command: String,
    /// When it took the lock (RFC 3339).
    pub started_at: String,
    /// Its start time in clock ticks since boot, so a reused pid is not mistaken for it.
    #[serde(default)]
    pub start_ticks: Option<u64>,
    /// Its run id, as in the journal.
    #[serde(default)]
    pub run: Option<String>,
}

impl Holder {
    /// Whether this holder's process still runs (same pid and start time).
    pub fn is_alive(&self) -> bool {
        match (super::process::observe(self.pid), self.start_ticks) {
            (Some(o), Some(t)) => o.start_ticks == t && !matches!(o.state, 'Z' | 'X' | 'x'),
            (Some(o), None) => !matches!(o.state, 'Z' | 'X' | 'x'),
            (None, _) => false,
        }
    }
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("{}", held_sentence(.path, .holder.as_ref()))]
    Held {
        path: PathBuf,
        holder: Option<Holder>,
    },
    #[error("cannot use the lock file {path}: {why}")]
    Io { path: PathBuf, why: String },
}

fn held_sentence(path: &Path, holder: Option<&Holder>) -> String {
    match holder {
        Some(h) if h.pid == 0 => format!(
            "another run holds the lock {} ({}); wait for it to finish",
            path.display(),
            crate::util::sanitize(&h.command)
        ),
        Some(h) => format!(
            "another dockhand run holds the lock {}: pid {} (dockhand {}, since {}); wait for it to finish, or stop it",
            path.display(),
            h.pid,
            crate::util::sanitize(&h.command),
            h.started_at
        ),
        None => format!(
            "another dockhand run holds the lock {} (it has not written its name yet); wait for it to finish",
            path.display()
        ),
    }
}

/// The held run lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// Who held it before us and died without releasing it (`kill -9`, a crash).
    pub taken_over: Option<Holder>,
}

impl RunLock {
    /// Takes `<state_dir>/lock` for `command` without waiting. The state dir must exist
    /// ([`prepare_state_dir`]).
    pub fn acquire(
        state_dir: &Path,
        command: &str,
        run: Option<&str>,
    ) -> Result<RunLock, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let io_err = |e: io::Error| LockError::Io {
            path: path.clone(),
            why: e.to_string(),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            // A symlink planted as the lock is never followed.
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // The holder writes its name right after locking; a run that loses the race by
                // microseconds may find the file still empty (holder: None).
                let holder = read_holder(&mut file);
                return Err(LockError::Held { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let taken_over = read_holder(&mut file);
        let me = std::process::id() as i32;
        let holder = Holder {
            pid: me,
            command: command.to_string(),
            started_at: crate::units::rfc3339_ms(SystemTime::now()),
            start_ticks: super::process::observe(me).map(|o| o.start_ticks),
            run: run.map(str::to_string),
        };
        let text = serde_json::to_string(&holder).map_err(|e| io_err(io::Error::other(e)))?;
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        file.write_all(format!("{text}\n").as_bytes())
            .map_err(io_err)?;
        // The file may have been created by an older umask-less run: keep it private.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        Ok(RunLock {
            file,
            path,
            taken_over,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds the run id to the holder written in the lock file, once the run has one, so
    /// `dockhand journal` can tell the run in progress from one that died.
    pub fn record_run(&mut self, run: &str) {
        let Some(mut holder) = read_holder(&mut self.file) else {
            return;
        };
        holder.run = Some(run.to_string());
        if let Ok(text) = serde_json::to_string(&holder) {
            let _ = self.file.set_len(0);
            let _ = self.file.seek(SeekFrom::Start(0));
            let _ = self.file.write_all(format!("{text}\n").as_bytes());
        }
    }

    /// A sentence to print when the lock was taken over from a dead holder.
    pub fn note(&self) -> Option<String> {
        self.taken_over.as_ref().map(|h| {
            if h.pid == 0 {
                return format!(
                    "the lock {} ({}) was left by a run that is gone; taken over",
                    self.path.display(),
                    crate::util::sanitize(&h.command)
                );
            }
            format!(
                "the lock {} was left by pid {} (dockhand {}, since {}), which is gone; taken over",
                self.path.display(),
                h.pid,
                crate::util::sanitize(&h.command),
                h.started_at
            )
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty the file first: contents found by the next run then always mean "left by a
        // holder that died". Closing the file (after this) releases the flock.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The holder named in the lock file, if it names one.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    serde_json::from_str(text).ok().or_else(|| {
        // An unreadable file still says something: keep the text for the sentence, with pid 0
        // marking a holder that cannot be named.
        Some(Holder {
            pid: 0,
            command: format!(
                "unreadable lock contents {:?}",
                text.chars().take(60).collect::<String>()
            ),
            started_at: "?".into(),
            start_ticks: None,
            run: None,
        })
    })
}

/// Reads who holds the lock (for `journal` and diagnostics): the holder named in the file, if
/// that process still runs. Never touches the flock itself: a reader holding even a shared lock
/// for an instant could turn a starting run away.
pub fn current_holder(state_dir: &Path) -> Option<Holder> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(state_dir.join(LOCK_FILE))
        .ok()?;
    read_holder(&mut file).filter(Holder::is_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn two_opens_conflict_and_the_second_names_the_first() {
        let d = tmp("conflict");
        let first = RunLock::acquire(&d, "gc", Some("run-1")).expect("first");
        assert!(first.taken_over.is_none());
        let err = RunLock::acquire(&d, "reap", None).expect_err("second must fail");
        let LockError::Held { holder, .. } = &err else {
            panic!("{err}")
        };
        let h = holder.as_ref().expect("holder named");
        assert_eq!(h.pid, std::process::id() as i32);
        assert_eq!(h.command, "gc");
        assert_eq!(h.run.as_deref(), Some("run-1"));
        assert!(h.is_alive());
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())) && msg.contains("dockhand gc"),
            "{msg}"
        );
        assert_eq!(current_holder(&d).map(|h| h.command), Some("gc".into()));
        drop(first);
        // Released: free, empty, and the next run takes it without a note.
        assert!(current_holder(&d).is_none());
        let again = RunLock::acquire(&d, "reap", None).expect("free again");
        assert!(again.note().is_none());
        drop(again);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_lock_left_by_a_dead_pid_is_taken_over_with_a_note() {
        let d = tmp("dead");
        // A pid that does not exist (above pid_max), as a kill -9'd holder leaves it: the flock
        // went with its process, the contents stayed.
        let dead = Holder {
            pid: 4_194_304 + 7,
            command: "gc".into(),
            started_at: "2026-11-28T05:53:35.000Z".into(),
            start_ticks: Some(1),
            run: None,
        };
        assert!(!dead.is_alive());
        std::fs::write(
            d.join(LOCK_FILE),
            serde_json::to_string(&dead).expect("json"),
        )
        .expect("seed");
        let lock = RunLock::acquire(&d, "reap", None).expect("taken over");
        assert_eq!(lock.taken_over.as_ref().map(|h| h.pid), Some(dead.pid));
        let note = lock.note().expect("a note");
        assert!(
            note.contains(&format!("pid {}", dead.pid)) && note.contains("taken over"),
            "{note}"
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn unreadable_lock_contents_are_quoted_not_trusted() {
        let d = tmp("garbage");
        std::fs::write(d.join(LOCK_FILE), "pid=12 (old format)").expect("seed");
        let lock = RunLock::acquire(&d, "gc", None).expect("taken over");
        let note = lock.note().expect("note");
        assert!(
            note.contains("unreadable lock contents") && note.contains("pid=12"),
            "{note}"
        );
        drop(lock);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn state_dir_is_created_private_and_a_file_is_refused() {
        let d = tmp("state");
        let nested = d.join("a/b");
        prepare_state_dir(&nested).expect("created");
        let mode = std::fs::metadata(&nested)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        let file = d.join("plain");
        std::fs::write(&file, "x").expect("write");
        let e = prepare_state_dir(&file).expect_err("a file");
        assert!(e.to_string().contains("not a directory"), "{e}");
        let e = prepare_state_dir(&file.join("below")).expect_err("below a file");
        assert!(e.to_string().contains("cannot"), "{e}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_state_dir_others_could_change_is_refused_with_a_sentence() {
        let d = tmp("untrusted");
        let real = d.join("real");
        prepare_state_dir(&real).expect("created");
        // A symlink, even to a good directory: refused, never followed.
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let e = prepare_state_dir(&link).expect_err("a symlink");
        assert!(
            e.untrusted && e.to_string().contains("symbolic link"),
            "{e}"
        );
        // Writable by others.
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = prepare_state_dir(&real).expect_err("0777");
        assert!(e.untrusted && e.to_string().contains("0777"), "{e}");
        assert!(e.to_string().contains("chmod 0700"), "{e}");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        prepare_state_dir(&real).expect("0700 is fine");
        // Another user's.
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&real, Some(65534), None).expect("chown");
            let e = prepare_state_dir(&real).expect_err("nobody's");
            assert!(e.untrusted && e.to_string().contains("uid 65534"), "{e}");
        }
        // A lock planted as a symlink is not followed.
        let fresh = d.join("fresh");
        prepare_state_dir(&fresh).expect("created");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, fresh.join(LOCK_FILE)).expect("symlink");
        assert!(RunLock::acquire(&fresh, "gc", None).is_err());
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        let _ = std::fs::remove_dir_all(d);
    }
}
