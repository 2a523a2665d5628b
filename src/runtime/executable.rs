//! What program a container's executable really is, read from its image's files under the data
//! root. Needed where one name stands for two programs that want different options: busybox's
//! `httpd` (an applet: a link to the busybox binary, or a copy of it) stays in the foreground
//! with `-f`, Apache's `httpd` (a binary of its own) with `-DFOREGROUND`. The image's name says
//! little (`myorg/site` may be `FROM busybox`), its files say which.
//!
//! The container's layers are found as the overlay2 driver keeps them: its mount id
//! (`image/overlay2/layerdb/mounts/<id>/mount-id`), its own `overlay2/<mount id>/diff`, then the
//! layers its `lower` file lists, upper first. Everything under them belongs to images and
//! containers, so every step is taken through directory descriptors without following a
//! symbolic link ([`Layer::lookup`]); a link the image holds is read and resolved by hand across
//! the layers, as the container would see it. Anything else — another storage driver, the
//! containerd image store, Podman, a data root that cannot be read — is [`Program::Unknown`],
//! and the caller says what fits each case.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

/// What a program in a container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// An applet of busybox: a link to it, or the busybox binary itself.
    Busybox,
    /// Apache's httpd: a binary of its own that names Apache.
    Apache,
    /// Not found, not readable, or neither of the above.
    Unknown,
}

/// Where a container's `PATH` looks when its image sets none (Docker's default).
const DEFAULT_PATH: &[&str] = &[
    "usr/local/sbin",
    "usr/local/bin",
    "usr/sbin",
    "usr/bin",
    "sbin",
    "bin",
];

/// How many symbolic links are followed by hand before giving up (a loop, or a long chain).
const MAX_LINKS: usize = 8;

/// How much of a binary is read to find its name: busybox and Apache's httpd are a few MiB.
const MAX_READ: u64 = 16 << 20;

/// What `program` (as a container's command names it: `httpd`, `/usr/sbin/httpd`) is in the
/// container `id` under the overlay2 `data_root`. Blocking I/O: call it under a deadline.
pub fn program_in_container(data_root: &Path, id: &str, program: &str) -> Program {
    let Some(layers) = container_layers(data_root, id) else {
        return Program::Unknown;
    };
    let candidates: Vec<String> = if let Some(abs) = program.strip_prefix('/') {
        vec![abs.to_owned()]
    } else if program.contains('/') || program.is_empty() {
        // Relative to a working directory: not guessed at.
        return Program::Unknown;
    } else {
        DEFAULT_PATH
            .iter()
            .map(|d| format!("{d}/{program}"))
            .collect()
    };
    for c in candidates {
        if let Some(p) = classify(&layers, &c) {
            return p;
        }
    }
    Program::Unknown
}

/// One layer's root, opened once.
struct Layer(OwnedFd);

/// What one path is in one layer.
enum Entry {
    File(OwnedFd),
    Link(PathBuf),
    /// Present, but neither (a directory, a device, a whiteout).
    Other,
}

impl Layer {
    fn open(dir: &Path) -> Option<Layer> {
        nix::fcntl::openat(
            AT_FDCWD,
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(Layer)
    }

    /// `rel` (no leading slash) in this layer, every directory on the way opened without
    /// following a link; `None` when it is not in this layer.
    fn lookup(&self, rel: &str) -> Option<Entry> {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let (name, dirs) = parts.split_last()?;
        let mut dir: Option<OwnedFd> = None;
        for d in dirs {
            let next = nix::fcntl::openat(
                dir.as_ref().unwrap_or(&self.0),
                *d,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            dir = Some(next);
        }
        let at = dir.as_ref().unwrap_or(&self.0);
        let st = nix::sys::stat::fstatat(at, *name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFLNK => nix::fcntl::readlinkat(at, *name)
                .ok()
                .map(|t| Entry::Link(PathBuf::from(t))),
            // O_NONBLOCK: a FIFO swapped in after the stat fails instead of blocking the open.
            SFlag::S_IFREG => nix::fcntl::openat(
                at,
                *name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()
            .map(Entry::File),
            _ => Some(Entry::Other),
        }
    }
}

/// The container's layers, its own first: overlay2 only.
fn container_layers(data_root: &Path, id: &str) -> Option<Vec<Layer>> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mount_id = super::files::read_nofollow(
        &data_root.join(format!("image/overlay2/layerdb/mounts/{id}/mount-id")),
    )
    .ok()?;
    let mount_id = String::from_utf8(mount_id).ok()?;
    let mount_id = mount_id.trim();
    if mount_id.is_empty() || mount_id.contains('/') || mount_id.starts_with('.') {
        return None;
    }
    let overlay = data_root.join("overlay2");
    let mut layers = vec![Layer::open(&overlay.join(mount_id).join("diff"))?];
    // `l/SHORT:l/SHORT:…`, upper first; each `l/SHORT` a link the driver made to a layer's diff.
    // Those links are the driver's own, in a directory only root writes: they are resolved to
    // the layer they name, and that layer's diff is then opened without following anything.
    let lower = super::files::read_nofollow(&overlay.join(mount_id).join("lower")).ok()?;
    for short in String::from_utf8(lower).ok()?.trim().split(':') {
        let link = short.strip_prefix("l/")?;
        if link.is_empty() || link.contains('/') {
            return None;
        }
        let target = std::fs::read_link(overlay.join("l").join(link)).ok()?;
        // `../<layer id>/diff`
        let layer = target.strip_prefix("..").ok()?;
        let mut parts = layer.components();
        let (
            Some(std::path::Component::Normal(lid)),
            Some(std::path::Component::Normal(diff)),
            None,
        ) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if diff != "diff" {
            return None;
        }
        layers.push(Layer::open(&overlay.join(lid).join("diff"))?);
    }
    Some(layers)
}

/// What `rel` is across `layers` (the upper one that has it wins), links followed by hand;
/// `None` when no layer has it.
fn classify(layers: &[Layer], rel: &str) -> Option<Program> {
    let mut path = PathBuf::from(rel);
    for _ in 0..MAX_LINKS {
        let entry = layers.iter().find_map(|l| l.lookup(path.to_str()?))?;
        match entry {
            Entry::File(fd) => return Some(identify(fd)),
            Entry::Other => return Some(Program::Unknown),
            Entry::Link(target) => {
                // `httpd -> busybox`, `httpd -> /bin/busybox`: an applet, whatever busybox is.
                if target.file_name().is_some_and(|n| n == "busybox") {
                    return Some(Program::Busybox);
                }
                let next = if target.is_absolute() {
                    target.strip_prefix("/").ok()?.to_path_buf()
                } else {
                    path.parent().unwrap_or(Path::new("")).join(target)
                };
                path = normalize(&next)?;
            }
        }
    }
    Some(Program::Unknown)
}

/// `a/./b/../c` → `a/c`, never above the root (as the kernel resolves `..` at `/`).
fn normalize(p: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir => {}
            Component::Prefix(_) => return None,
        }
    }
    (!out.is_empty()).then(|| out.iter().collect())
}

/// A binary names itself: busybox's holds "BusyBox v…" (its banner), Apache's "Apache".
fn identify(fd: OwnedFd) -> Program {
    let mut bytes = Vec::new();
    if File::from(fd)
        .take(MAX_READ)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Program::Unknown;
    }
    identify_bytes(&bytes)
}

fn identify_bytes(bytes: &[u8]) -> Program {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if has(b"BusyBox v") {
        Program::Busybox
    } else if has(b"Apache") {
        Program::Apache
    } else {
        Program::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn binaries_are_told_apart_by_what_they_hold() {
        assert_eq!(
            identify_bytes(b"\x7fELF...BusyBox v1.35.0 (Debian)..."),
            Program::Busybox
        );
        assert_eq!(
            identify_bytes(b"\x7fELF...Apache/2.4.62 (Unix)..."),
            Program::Apache
        );
        assert_eq!(
            identify_bytes(b"#!/bin/sh\nexec lighttpd\n"),
            Program::Unknown
        );
        assert_eq!(identify_bytes(b""), Program::Unknown);
    }

    #[test]
    fn paths_normalize_inside_the_root() {
        assert_eq!(
            normalize(Path::new("bin/../usr/./bin/busybox")),
            Some(PathBuf::from("usr/bin/busybox"))
        );
        assert_eq!(
            normalize(Path::new("../../etc/x")),
            Some(PathBuf::from("etc/x"))
        );
        assert_eq!(normalize(Path::new("..")), None);
    }

    /// A data root laid out as overlay2 keeps a container: its diff, an init layer and two
    /// image layers, linked through `l/`.
    fn data_root(tmp: &Path, id: &str, fill: impl Fn(&[PathBuf])) -> PathBuf {
        let root = tmp.join("data");
        let overlay = root.join("overlay2");
        let mounts = root.join("image/overlay2/layerdb/mounts").join(id);
        std::fs::create_dir_all(&mounts).expect("the test fixture");
        std::fs::write(mounts.join("mount-id"), "c0ffee\n").expect("the test fixture");
        let mut diffs = vec![overlay.join("c0ffee/diff")];
        let mut lower = Vec::new();
        for (n, lid) in ["c0ffee-init", "base1", "base0"].iter().enumerate() {
            let d = overlay.join(lid).join("diff");
            std::fs::create_dir_all(&d).expect("the test fixture");
            std::fs::create_dir_all(overlay.join("l")).expect("the test fixture");
            symlink(
                format!("../{lid}/diff"),
                overlay.join("l").join(format!("S{n}")),
            )
            .expect("the test fixture");
            lower.push(format!("l/S{n}"));
            diffs.push(d);
        }
        std::fs::create_dir_all(&diffs[0]).expect("the test fixture");
        std::fs::write(overlay.join("c0ffee/lower"), lower.join(":")).expect("the test fixture");
        fill(&diffs);
        root
    }

    #[test]
    fn an_applet_link_a_busybox_copy_and_apache_are_found_in_the_layers() {
        let tmp = std::env::temp_dir().join(format!("dockhand-exe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let id = "ab12";
        // busybox in the lowest layer, `bin/httpd -> busybox` one above (busybox's own image).
        let root = data_root(&tmp.join("a"), id, |d| {
            std::fs::create_dir_all(d[3].join("bin")).expect("the test fixture");
            std::fs::write(d[3].join("bin/busybox"), b"ELF BusyBox v1.36")
                .expect("the test fixture");
            std::fs::create_dir_all(d[2].join("bin")).expect("the test fixture");
            symlink("busybox", d[2].join("bin/httpd")).expect("the test fixture");
        });
        assert_eq!(program_in_container(&root, id, "httpd"), Program::Busybox);
        assert_eq!(
            program_in_container(&root, id, "/bin/httpd"),
            Program::Busybox
        );
        // Not there at all, or named relative to a working directory: unknown.
        assert_eq!(program_in_container(&root, id, "nginx"), Program::Unknown);
        assert_eq!(program_in_container(&root, id, "./httpd"), Program::Unknown);
        // Another container id: no layers.
        assert_eq!(program_in_container(&root, "ff", "httpd"), Program::Unknown);

        // A hard-linked applet is the busybox binary itself; an absolute link is resolved in
        // the layers, not on the host.
        let root = data_root(&tmp.join("b"), id, |d| {
            std::fs::create_dir_all(d[3].join("usr/sbin")).expect("the test fixture");
            std::fs::write(d[3].join("usr/sbin/httpd"), b"ELF Apache/2.4")
                .expect("the test fixture");
            std::fs::create_dir_all(d[1].join("bin")).expect("the test fixture");
            std::fs::write(d[1].join("bin/crond"), b"ELF BusyBox v1.36").expect("the test fixture");
            symlink("/usr/sbin/httpd", d[1].join("bin/apache")).expect("the test fixture");
        });
        assert_eq!(program_in_container(&root, id, "httpd"), Program::Apache);
        assert_eq!(program_in_container(&root, id, "crond"), Program::Busybox);
        assert_eq!(program_in_container(&root, id, "apache"), Program::Apache);

        // A directory on the way that is a link is not followed: not found through it.
        let root = data_root(&tmp.join("c"), id, |d| {
            std::fs::create_dir_all(d[3].join("real")).expect("the test fixture");
            std::fs::write(d[3].join("real/httpd"), b"ELF Apache").expect("the test fixture");
            symlink("/etc", d[3].join("usr")).expect("the test fixture");
            symlink("real", d[3].join("bin")).expect("the test fixture");
        });
        assert_eq!(program_in_container(&root, id, "httpd"), Program::Unknown);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
