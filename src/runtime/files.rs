//! Files dockhand writes or removes as root, made safe by construction against a local user who
//! plants symbolic links or swaps directories:
//!
//! - [`write_atomically`]: every file dockhand writes whole (the Prometheus textfile, saved
//!   plans, the plan key, gc's state). A temporary file with an unpredictable name is created
//!   with `O_CREAT|O_EXCL|O_NOFOLLOW` and its final mode, inside the target's directory opened
//!   once (`O_DIRECTORY|O_NOFOLLOW`), then renamed relative to that directory. A symlink planted
//!   at a guessed temporary name makes the create fail instead of writing through it; one planted
//!   at the target itself is replaced, never followed.
//! - [`open_private`] / [`create_new`]: the state dir's own files and the incident bundle's,
//!   opened without following a symlink, mode 0600.
//! - [`anchor`]: a path dockhand is about to remove, truncate or rewrite, resolved one component
//!   at a time from `/` through directory descriptors. A symlink is followed only where nobody
//!   but root could have planted it (it sits in a directory only root may write); every
//!   directory on the way must be root's (or the running user's) and writable by nobody else
//!   (or sticky). The mutation then happens relative to the descriptor of the last directory,
//!   so a path string is never re-walked between the check and the act.
//! - [`Tree`]: a directory walked and removed through descriptors, never leaving its device,
//!   never following a symlink, with the (device, inode) of everything in it for the "held
//!   open" and "mounted under" checks.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// 16 random bytes as hex, for temporary names nobody can guess in advance.
pub fn random_hex() -> io::Result<String> {
    let mut buf = [0u8; 16];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: nix 0.30 has no getrandom(2) wrapper, and std keeps its own random source
        // private; /dev/urandom (the fallback below) needs a /dev, which a container may lack.
        // getrandom writes at most `len` bytes into the buffer it is given.
        let n = unsafe {
            nix::libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // A kernel without getrandom(2): the device gives the same bytes.
            use std::io::Read;
            File::open("/dev/urandom")?.read_exact(&mut buf)?;
            filled = buf.len();
        } else {
            filled += n as usize;
        }
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn split(path: &Path) -> io::Result<(&Path, &OsStr)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "names no file"))?;
    Ok((dir, name))
}

/// Opens a directory for `*at` calls; its last component must not be a symlink.
pub fn open_dir_nofollow(dir: &Path) -> io::Result<OwnedFd> {
    nix::fcntl::openat(
        AT_FDCWD,
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
}

/// Writes `render`'s output to `path` atomically: a temporary file in the same directory, created
/// exclusively (never through a symlink) under an unpredictable name with permission bits
/// `mode` from the start, flushed to disk, then renamed over `path` relative to the directory's
/// descriptor. On any error the temporary file is removed and `path` is left as it was. A reader
/// sees the old file or the new one, never a mix; a crash leaves at most a `.NAME.RANDOM.tmp`.
pub fn write_atomically(
    path: &Path,
    mode: u32,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let dirfd = open_dir_nofollow(dir)?;
    write_atomically_at(&dirfd, name, mode, render)
}

/// [`write_atomically`] inside a directory already opened (see [`anchor`]).
pub fn write_atomically_at(
    dirfd: &OwnedFd,
    name: &OsStr,
    mode: u32,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.tmp", random_hex()?));
    let tmp = PathBuf::from(tmp);
    let fd = nix::fcntl::openat(
        dirfd,
        &tmp,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode & 0o777),
    )
    .map_err(errno)?;
    let result = (|| {
        // The umask may have narrowed the mode at creation (never widened it): set it exactly,
        // through the descriptor, so the collector of a 0644 textfile can read it.
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode & 0o777)).map_err(errno)?;
        let mut f = File::from(fd);
        {
            let mut w = io::BufWriter::new(&mut f);
            render(&mut w)?;
            w.flush()?;
        }
        f.sync_all()?;
        nix::fcntl::renameat(dirfd, &tmp, dirfd, name).map_err(errno)?;
        // The rename itself is durable only once the directory is synced.
        let _ = nix::unistd::fsync(dirfd);
        Ok(())
    })();
    if result.is_err() {
        let _ = nix::unistd::unlinkat(dirfd, &tmp, UnlinkatFlags::NoRemoveDir);
    }
    result
}

#[cfg(test)]
/// Opens (creating, mode 0600) a file of the state dir for reading and writing, never through a
/// symlink; an older file with a looser mode is narrowed to 0600 through its descriptor.
pub fn open_private(path: &Path, append: bool) -> io::Result<File> {
    let mut flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    if append {
        flags |= OFlag::O_APPEND;
    }
    let fd = nix::fcntl::openat(AT_FDCWD, path, flags, Mode::from_bits_truncate(0o600))
        .map_err(|e| symlink_refused(path, e))?;
    let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    if st.st_mode & 0o777 != 0o600 {
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o600)).map_err(errno)?;
    }
    Ok(File::from(fd))
}

/// Reads a whole file of the state dir, never through a symlink.
pub fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let fd = nix::fcntl::openat(
        AT_FDCWD,
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| symlink_refused(path, e))?;
    let mut out = Vec::new();
    File::from(fd).read_to_end(&mut out)?;
    Ok(out)
}

/// Creates a new file (mode `mode`), failing if anything — a file or a symlink — is at `path`.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let fd = nix::fcntl::openat(
        AT_FDCWD,
        path,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode & 0o777),
    )
    .map_err(errno)?;
    Ok(File::from(fd))
}

/// Opens a file for appending (creating it 0600), never through a symlink: a log dockhand keeps
/// in its state dir (the log of a daemon it started).
pub fn open_append_private(path: &Path) -> io::Result<File> {
    let fd = nix::fcntl::openat(
        AT_FDCWD,
        path,
        // O_NONBLOCK: a FIFO planted at the path fails (ENXIO) instead of blocking the open.
        OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_APPEND
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| symlink_refused(path, e))?;
    let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(File::from(fd))
}

fn symlink_refused(path: &Path, e: Errno) -> io::Error {
    if e == Errno::ELOOP {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link, which is never followed",
                path.display()
            ),
        )
    } else {
        errno(e)
    }
}

/// Why a path was not anchored.
#[derive(Debug)]
pub enum AnchorError {
    /// A component does not exist.
    NotFound,
    /// The path is not safe to act on; the sentence says why.
    Unsafe(String),
    Io(io::Error),
}

/// A path resolved safely: the descriptor of its directory and its last component.
#[derive(Debug)]
pub struct Anchored {
    pub dir: OwnedFd,
    pub name: OsString,
}

impl Anchored {
    /// The entry's own status, never following it.
    pub fn lstat(&self) -> io::Result<FileStat> {
        nix::sys::stat::fstatat(
            &self.dir,
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(errno)
    }
}

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

fn is_symlink(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
}

/// Whether only root (or the running user) can change what is in a directory: it is theirs,
/// and nobody else may write it — or it is sticky (like /tmp), where nobody else may rename or
/// remove their entries.
fn trusted_dir(st: &FileStat) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    (st.st_uid == 0 || st.st_uid == me) && (st.st_mode & 0o022 == 0 || st.st_mode & 0o1000 != 0)
}

/// Resolves `path` (absolute, no `..`) one component at a time from `/`, each directory opened
/// with `O_NOFOLLOW` relative to the one before. Every directory passed must be trusted (root's
/// or the running user's, writable by nobody else, or sticky); a symlink met on the way is
/// followed only when it sits in such a directory and is owned by root or the running user (so
/// `/var/run → /run` works, a link a user planted does not), at most 40 of them. The last
/// component is not resolved: it is what the caller acts on, relative to the returned
/// directory. Its directory must be trusted and not sticky (in a sticky directory another user
/// could own the entry; dockhand's targets never live there).
// Long on purpose: one symlink-safe walk; its descriptors, checks and link budget read as one.
pub fn anchor(path: &Path) -> Result<Anchored, AnchorError> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(AnchorError::Unsafe(format!(
            "{shown} is not an absolute path"
        )));
    }
    // What is left to resolve, reversed so pop() yields the next component; None is "..".
    let mut pending: Vec<Option<OsString>> = Vec::new();
    let push_all = |pending: &mut Vec<Option<OsString>>, p: &Path, up_ok: bool| {
        let mut comps = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(n) => comps.push(Some(n.to_os_string())),
                Component::RootDir | Component::CurDir => {}
                // Only a trusted link's target may climb (Fedora's /var/run is ../run); a
                // path dockhand was given never does.
                Component::ParentDir if up_ok => comps.push(None),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(AnchorError::Unsafe(format!(
                        "{shown} goes through \"..\", which is never resolved"
                    )));
                }
            }
        }
        pending.extend(comps.into_iter().rev());
        Ok(())
    };
    push_all(&mut pending, path, false)?;
    // The last component is kept apart: it is never resolved.
    let Some(Some(name)) = (!pending.is_empty()).then(|| pending.remove(0)) else {
        return Err(AnchorError::Unsafe(format!("{shown} names no file")));
    };
    let root = || -> Result<OwnedFd, AnchorError> {
        nix::fcntl::openat(
            AT_FDCWD,
            "/",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| AnchorError::Io(errno(e)))
    };
    let check = |fd: &OwnedFd, at: &Path| -> Result<FileStat, AnchorError> {
        let st = nix::sys::stat::fstat(fd).map_err(|e| AnchorError::Io(errno(e)))?;
        if !trusted_dir(&st) {
            return Err(AnchorError::Unsafe(format!(
                "{shown} lies under {}, which another user may change (owner uid {}, mode {:o}); it is left alone",
                at.display(),
                st.st_uid,
                st.st_mode & 0o7777
            )));
        }
        Ok(st)
    };
    // The directories walked so far, each with its path for messages: ".." pops one.
    let mut stack: Vec<(OwnedFd, PathBuf)> = vec![(root()?, PathBuf::from("/"))];
    check(&stack[0].0, Path::new("/"))?;
    let mut links = 0;
    while let Some(c) = pending.pop() {
        let Some(c) = c else {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        };
        let (cur, walked) = stack
            .last()
            .ok_or_else(|| AnchorError::Io(io::Error::other("the walk lost its root")))?;
        let here = walked.join(&c);
        match open_child_dir(cur, &c) {
            Ok(fd) => {
                check(&fd, &here)?;
                stack.push((fd, here));
            }
            Err(Errno::ENOENT) => return Err(AnchorError::NotFound),
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                let st = nix::sys::stat::fstatat(cur, c.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| AnchorError::Io(errno(e)))?;
                if !is_symlink(&st) {
                    return Err(AnchorError::Unsafe(format!(
                        "{shown}: {} is not a directory",
                        here.display()
                    )));
                }
                let me = nix::unistd::geteuid().as_raw();
                links += 1;
                if links > 40 || (st.st_uid != 0 && st.st_uid != me) {
                    return Err(AnchorError::Unsafe(format!(
                        "{shown} goes through the symbolic link {}, which is not root's; it is never followed",
                        here.display()
                    )));
                }
                let target = PathBuf::from(
                    nix::fcntl::readlinkat(cur, c.as_os_str())
                        .map_err(|e| AnchorError::Io(errno(e)))?,
                );
                if target.is_absolute() {
                    stack.truncate(1);
                }
                push_all(&mut pending, &target, true)?;
            }
            Err(e) => return Err(AnchorError::Io(errno(e))),
        }
    }
    let (dir, walked) = stack
        .pop()
        .ok_or_else(|| AnchorError::Io(io::Error::other("the walk lost its root")))?;
    let st = check(&dir, &walked)?;
    if st.st_mode & 0o022 != 0 {
        return Err(AnchorError::Unsafe(format!(
            "{shown} lies in {}, which other users may write (mode {:o}); it is left alone",
            walked.display(),
            st.st_mode & 0o7777
        )));
    }
    Ok(Anchored { dir, name })
}

/// Opens the directory `name` in `dir` (never through a symlink) when only root (or the running
/// user) may change what is in it: theirs, and writable by nobody else.
pub fn open_trusted_child(
    dir: &OwnedFd,
    name: &OsStr,
    shown: &Path,
) -> Result<OwnedFd, AnchorError> {
    let fd = match open_child_dir(dir, name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Err(AnchorError::NotFound),
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            return Err(AnchorError::Unsafe(format!(
                "{} is not a directory (a symbolic link is never followed)",
                shown.display()
            )));
        }
        Err(e) => return Err(AnchorError::Io(errno(e))),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(|e| AnchorError::Io(errno(e)))?;
    if !trusted_dir(&st) || st.st_mode & 0o022 != 0 {
        return Err(AnchorError::Unsafe(format!(
            "{} may be changed by another user (owner uid {}, mode {:o})",
            shown.display(),
            st.st_uid,
            st.st_mode & 0o7777
        )));
    }
    Ok(fd)
}

/// What a walk of a directory through descriptors found.
#[derive(Debug, Default)]
pub struct Tree {
    /// (device, inode) of the directory and of everything under it.
    pub ids: HashSet<(u64, u64)>,
    /// Apparent bytes of the files in it (a hard-linked file once).
    pub bytes: u64,
    /// The first thing mounted under it, if any (by device, or by a mount point's identity).
    pub mounted: Option<String>,
    /// The walk could not read everything (a directory unreadable, too deep, too big, out of
    /// time): what it found is a lower bound, and "nothing holds it" cannot be said.
    pub incomplete: Option<String>,
}

/// More entries than this and a tree is left alone: their identities are held in memory.
const MAX_ENTRIES: usize = 1_000_000;

/// Deeper trees are left alone: each level holds a descriptor open.
const MAX_DEPTH: usize = 256;

fn open_child_dir(dir: &OwnedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The names in a directory (without `.` and `..`), read through its descriptor.
pub fn dir_names(dir: &OwnedFd) -> nix::Result<Vec<OsString>> {
    // A descriptor of its own: reading entries moves its offset.
    let fd = open_child_dir(dir, OsStr::new("."))?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(out)
}

impl Tree {
    /// Walks the directory `name` in `parent` (never following a symlink, never leaving its
    /// device) until `deadline`. `mount_points` are the (device, inode) of mount points seen
    /// from here (bind mounts of the same filesystem keep its device).
    pub fn walk(
        parent: &OwnedFd,
        name: &OsStr,
        mount_points: &HashSet<(u64, u64)>,
        deadline: std::time::Instant,
    ) -> io::Result<(Tree, FileStat)> {
        let fd = open_child_dir(parent, name).map_err(errno)?;
        let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
        let mut t = Tree::default();
        t.ids.insert((st.st_dev, st.st_ino));
        t.visit(&fd, st.st_dev, mount_points, Path::new(name), 0, deadline);
        Ok((t, st))
    }

    fn stopped(&self) -> bool {
        self.mounted.is_some() || self.incomplete.is_some()
    }

    fn visit(
        &mut self,
        dir: &OwnedFd,
        dev: u64,
        mounts: &HashSet<(u64, u64)>,
        at: &Path,
        depth: usize,
        deadline: std::time::Instant,
    ) {
        if self.stopped() {
            return;
        }
        if depth > MAX_DEPTH {
            self.incomplete = Some(format!(
                "{} is more than {MAX_DEPTH} levels deep",
                at.display()
            ));
            return;
        }
        if std::time::Instant::now() >= deadline {
            self.incomplete = Some(format!("the walk of {} ran out of time", at.display()));
            return;
        }
        let entries = match dir_names(dir) {
            Ok(n) => n,
            Err(e) => {
                self.incomplete = Some(format!("cannot read {}: {e}", at.display()));
                return;
            }
        };
        for n in entries {
            let Ok(st) = nix::sys::stat::fstatat(dir, n.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            else {
                continue; // gone mid-walk
            };
            let here = at.join(&n);
            if st.st_dev != dev || mounts.contains(&(st.st_dev, st.st_ino)) {
                self.mounted = Some(here.display().to_string());
                return;
            }
            let first = self.ids.insert((st.st_dev, st.st_ino));
            if self.ids.len() > MAX_ENTRIES {
                self.incomplete = Some(format!(
                    "{} holds more than {MAX_ENTRIES} entries",
                    at.display()
                ));
                return;
            }
            if !is_dir(&st) {
                if first {
                    self.bytes += st.st_size as u64;
                }
                continue;
            }
            match open_child_dir(dir, &n) {
                Ok(child) => {
                    // The directory opened must be the one stat'ed (not swapped in between).
                    match nix::sys::stat::fstat(&child) {
                        Ok(c) if (c.st_dev, c.st_ino) == (st.st_dev, st.st_ino) => {}
                        _ => {
                            self.incomplete =
                                Some(format!("{} changed while it was read", here.display()));
                            return;
                        }
                    }
                    self.visit(&child, dev, mounts, &here, depth + 1, deadline);
                    if self.stopped() {
                        return;
                    }
                }
                Err(Errno::ENOENT) => {}
                Err(e) => {
                    self.incomplete = Some(format!("cannot open {}: {e}", here.display()));
                    return;
                }
            }
        }
    }
}

/// Removes the directory `name` in `parent` and everything in it through descriptors: no
/// symlink is followed (a symlink is removed as the link it is), no other device is entered.
/// Returns how many entries were removed; on an error, how many were removed before it.
pub fn remove_tree_at(parent: &OwnedFd, name: &OsStr) -> Result<u64, (u64, io::Error)> {
    let fd = open_child_dir(parent, name).map_err(|e| (0, errno(e)))?;
    let dev = nix::sys::stat::fstat(&fd)
        .map_err(|e| (0, errno(e)))?
        .st_dev;
    let mut removed = 0u64;
    empty_dir(&fd, dev, 0, &mut removed).map_err(|e| (removed, e))?;
    drop(fd);
    nix::unistd::unlinkat(parent, name, UnlinkatFlags::RemoveDir)
        .map_err(|e| (removed, errno(e)))?;
    Ok(removed + 1)
}

fn empty_dir(dir: &OwnedFd, dev: u64, depth: usize, removed: &mut u64) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!(
            "more than {MAX_DEPTH} levels deep"
        )));
    }
    for n in dir_names(dir).map_err(errno)? {
        let st = match nix::sys::stat::fstatat(dir, n.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(s) => s,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(errno(e)),
        };
        if is_dir(&st) {
            if st.st_dev != dev {
                return Err(io::Error::other(format!(
                    "{} is a mount point, which is never entered",
                    n.to_string_lossy()
                )));
            }
            let child = open_child_dir(dir, &n).map_err(errno)?;
            let cst = nix::sys::stat::fstat(&child).map_err(errno)?;
            if (cst.st_dev, cst.st_ino) != (st.st_dev, st.st_ino) {
                // Swapped between the stat and the open, or a mount point of the same device.
                return Err(io::Error::other(format!(
                    "{} changed while it was being removed",
                    n.to_string_lossy()
                )));
            }
            empty_dir(&child, dev, depth + 1, removed)?;
            drop(child);
            match nix::unistd::unlinkat(dir, n.as_os_str(), UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(errno(e)),
            }
        } else {
            match nix::unistd::unlinkat(dir, n.as_os_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        *removed += 1;
    }
    Ok(())
}

/// Which of `ids` (device, inode) some process holds: an fd on it, or its working directory or
/// root there ([`super::proc::held`]). The second value counts processes whose fds could not be
/// read.
pub fn held_ids(ids: &HashSet<(u64, u64)>) -> (HashSet<(u64, u64)>, usize) {
    let found = super::proc::held(
        ids,
        true,
        std::time::Instant::now() + super::proc::SEARCH_BOUND,
    );
    (
        found.hits.into_iter().map(|(_, id)| id).collect(),
        found.unreadable,
    )
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape_mountinfo(s: &str) -> String {
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

/// The (device, inode) of every mount point in `mountinfo` whose filesystem has device `dev`
/// (bind mounts of the same filesystem keep its device number, so a walk cannot tell them by
/// device alone). Each is stat'ed as the kernel names it: the identity is what counts, never
/// where the path points.
pub fn mount_point_ids(mountinfo: &str, dev: u64) -> HashSet<(u64, u64)> {
    let mut out = HashSet::new();
    for l in mountinfo.lines() {
        let mut f = l.split(' ');
        let (Some(majmin), Some(point)) = (f.nth(2), f.nth(1)) else {
            continue;
        };
        let Some((maj, min)) = majmin.split_once(':') else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        if nix::sys::stat::makedev(maj, min) != dev {
            continue;
        }
        if let Ok(st) = nix::sys::stat::stat(Path::new(&unescape_mountinfo(point))) {
            out.insert((st.st_dev, st.st_ino));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn far() -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(60)
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dockhand-safe-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        d
    }

    #[test]
    fn atomic_write_replaces_or_leaves_untouched() {
        let d = scratch("atomic");
        let p = d.join("dockhand.prom");
        std::fs::write(&p, "old\n").expect("write");
        write_atomically(&p, 0o600, |w| writeln!(w, "new")).expect("writes");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new\n");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_atomically(&p, 0o644, |w| writeln!(w, "newer")).expect("writes");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "the mode asked, whatever the umask");
        let failed = write_atomically(&p, 0o644, |w| {
            writeln!(w, "half")?;
            Err(io::Error::other("render failed"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "newer\n",
            "left as it was"
        );
        let leftovers = std::fs::read_dir(&d).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_symlink_at_the_target_is_replaced_never_followed() {
        let d = scratch("atomic-link");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious\n").expect("write");
        let p = d.join("x.prom");
        std::os::unix::fs::symlink(&victim, &p).expect("symlink");
        write_atomically(&p, 0o644, |w| writeln!(w, "metrics")).expect("writes");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
        assert!(!std::fs::symlink_metadata(&p).expect("meta").is_symlink());
        // A directory given as a symlink is refused, not followed.
        let linked = d.join("linked");
        std::os::unix::fs::symlink(&d, &linked).expect("symlink");
        assert!(write_atomically(&linked.join("y"), 0o600, |w| writeln!(w, "y")).is_err());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn temporary_names_are_unpredictable() {
        let a = random_hex().expect("random");
        let b = random_hex().expect("random");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn private_files_are_0600_and_never_a_symlink() {
        let d = scratch("private");
        let victim = d.join("victim");
        std::fs::write(&victim, "v").expect("write");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = d.join("journal");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        let e = open_private(&link, true).expect_err("a symlink");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(open_append_private(&link).is_err());
        assert!(create_new(&link, 0o600).is_err());
        assert_eq!(
            std::fs::metadata(&victim).expect("meta").mode() & 0o777,
            0o644
        );
        let f = d.join("lock");
        std::fs::write(&f, "").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        open_private(&f, false).expect("opens");
        assert_eq!(std::fs::metadata(&f).expect("meta").mode() & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn anchor_refuses_user_symlinks_and_writable_directories() {
        let d = scratch("anchor");
        std::fs::create_dir_all(d.join("root/tmp")).expect("mkdir");
        std::fs::write(d.join("root/tmp/f"), "f").expect("write");
        let a = anchor(&d.join("root/tmp/f")).expect("anchored");
        assert_eq!(a.name, OsString::from("f"));
        assert!(a.lstat().is_ok());
        assert!(matches!(
            anchor(&d.join("root/nope/f")),
            Err(AnchorError::NotFound)
        ));
        assert!(matches!(
            anchor(&d.join("root/../root/tmp/f")),
            Err(AnchorError::Unsafe(_))
        ));
        // A directory others may write: refused.
        std::fs::set_permissions(d.join("root/tmp"), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        assert!(matches!(
            anchor(&d.join("root/tmp/f")),
            Err(AnchorError::Unsafe(_))
        ));
        std::fs::set_permissions(d.join("root/tmp"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        // A symlink of ours in a directory of ours is followed (like /var/run → /run) ...
        std::os::unix::fs::symlink("root", d.join("alias")).expect("symlink");
        assert!(anchor(&d.join("alias/tmp/f")).is_ok());
        // ... one owned by another user is not.
        std::os::unix::fs::symlink(d.join("root"), d.join("theirs")).expect("symlink");
        if nix::unistd::geteuid().is_root() {
            nix::unistd::fchownat(
                AT_FDCWD,
                &d.join("theirs"),
                Some(nix::unistd::Uid::from_raw(65534)),
                None,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .expect("chown");
            assert!(matches!(
                anchor(&d.join("theirs/tmp/f")),
                Err(AnchorError::Unsafe(_))
            ));
            // A directory owned by another user: refused.
            std::os::unix::fs::chown(d.join("root/tmp"), Some(65534), None).expect("chown");
            assert!(matches!(
                anchor(&d.join("root/tmp/f")),
                Err(AnchorError::Unsafe(_))
            ));
        }
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn trees_are_walked_and_removed_through_descriptors_without_following_symlinks() {
        let d = scratch("tree");
        let outside = d.join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("keep"), "keep").expect("write");
        let t = d.join("t");
        std::fs::create_dir_all(t.join("a/b")).expect("mkdir");
        std::fs::write(t.join("a/b/f"), "f").expect("write");
        std::os::unix::fs::symlink(&outside, t.join("a/link")).expect("symlink");
        std::os::unix::fs::symlink(outside.join("keep"), t.join("filelink")).expect("symlink");
        let parent = open_dir_nofollow(&d).expect("open");
        let (tree, st) =
            Tree::walk(&parent, OsStr::new("t"), &HashSet::new(), far()).expect("walk");
        assert!(
            tree.mounted.is_none() && tree.incomplete.is_none(),
            "{tree:?}"
        );
        // t, a, a/b, a/b/f, a/link, filelink.
        assert_eq!(tree.ids.len(), 6, "{tree:?}");
        // The file's byte, and each link's own size (its target's length), never the target's.
        let links = (outside.as_os_str().len() + outside.join("keep").as_os_str().len()) as u64;
        assert_eq!(tree.bytes, 1 + links);
        // Out of time: incomplete, so nobody may conclude "nothing holds it".
        let (late, _) = Tree::walk(
            &parent,
            OsStr::new("t"),
            &HashSet::new(),
            std::time::Instant::now(),
        )
        .expect("walk");
        assert!(late.incomplete.is_some(), "{late:?}");
        let f = std::fs::metadata(t.join("a/b/f")).expect("meta");
        assert!(tree.ids.contains(&(f.dev(), f.ino())));
        let keep = std::fs::metadata(outside.join("keep")).expect("meta");
        assert!(
            !tree.ids.contains(&(keep.dev(), keep.ino())),
            "followed a link"
        );
        // A mount point of the same filesystem, known by its identity.
        let b = std::fs::metadata(t.join("a/b")).expect("meta");
        let (m, _) = Tree::walk(
            &parent,
            OsStr::new("t"),
            &HashSet::from([(b.dev(), b.ino())]),
            far(),
        )
        .expect("walk");
        assert!(
            m.mounted.as_deref().is_some_and(|p| p.ends_with("a/b")),
            "{m:?}"
        );
        assert_eq!(st.st_ino, std::fs::metadata(&t).expect("meta").ino());

        assert_eq!(
            remove_tree_at(&parent, OsStr::new("t")).expect("removed"),
            6
        );
        assert!(!t.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep")).expect("read"),
            "keep"
        );
        // A symlink given as the tree is not entered.
        std::os::unix::fs::symlink(&outside, d.join("t2")).expect("symlink");
        assert!(remove_tree_at(&parent, OsStr::new("t2")).is_err());
        assert!(Tree::walk(&parent, OsStr::new("t2"), &HashSet::new(), far()).is_err());
        assert!(outside.join("keep").exists());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn mount_points_of_one_device_by_identity() {
        let root = std::fs::metadata("/").expect("meta");
        let dev = root.dev();
        let info = format!(
            "22 1 {}:{} / / rw - ext4 /dev/sda1 rw\n40 22 0:4242 / /nonexistent\\040x rw - tmpfs t rw\n",
            nix::sys::stat::major(dev),
            nix::sys::stat::minor(dev)
        );
        let ids = mount_point_ids(&info, dev);
        assert!(ids.contains(&(dev, root.ino())), "{ids:?}");
        assert_eq!(ids.len(), 1);
        assert_eq!(unescape_mountinfo("a\\040b"), "a b");
    }
}
