//! The runtime core: the only code that talks to the outside world — the engine API, /proc,
//! the kernel, the data root on disk. Commands ask it; they never call these directly.

pub mod command;
pub mod containerd;
pub mod daemon;
pub mod endpoint;
pub mod engine;
pub mod engine_kind;
pub mod files;
pub mod host;
pub mod http;
pub mod incident;
pub mod inventory;
pub mod json_array;
pub mod net;
pub mod sockdiag;
pub mod storage;

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

/// Reads a whole file into `buf`, which is cleared first and keeps its capacity for the next
/// file: open, read to the end, close. For the data root's many small files (a container's
/// config.v2.json and hostconfig.json, the layer store's one-line files): `fs::read` first asks
/// the file's size (one more system call per file) and allocates a buffer per file, and on a
/// host with 10,000 containers that is tens of thousands of each.
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    /// Hides `File`'s own `read_to_end`, which asks the size (statx, lseek) before reading.
    struct Plain(std::fs::File);
    impl Read for Plain {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }
    buf.clear();
    if buf.capacity() < 16 * 1024 {
        buf.reserve(16 * 1024);
    }
    Plain(std::fs::File::open(path)?).read_to_end(buf)?;
    Ok(())
}

/// Reads a whole file with [`read_into`] into a buffer this thread keeps, and hands its bytes
/// to `f`: the data root's thousands of small files cost one buffer per thread, not one each.
/// `None` when the file cannot be read.
pub fn with_file<T>(path: &Path, f: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        read_into(path, buf).ok()?;
        let r = f(buf);
        // A rare big file (a huge config.v2.json) should not stay held for the rest of the run.
        if buf.capacity() > 1024 * 1024 {
            *buf = Vec::new();
        }
        r
    })
}

/// Runs blocking work (a /proc read, a statvfs, a directory walk) off the async thread, under a
/// deadline. Reading /proc of a process in `D` state can block forever; the work is then
/// abandoned — the run does not wait for it (main shuts the runtime down without joining).
pub async fn blocking<T, F>(deadline: Duration, f: F) -> Option<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Some(v),
        _ => None,
    }
}

/// Makes every thread allocate from one malloc arena (glibc). By default glibc gives each
/// thread that allocates an arena of its own, and memory freed in one is reused only by its
/// own threads: a run's peak is then the sum of each thread's peak. A run here is a few
/// threads of short reads (the blocking pool, the walkers) handing their results to the main
/// one, so separate arenas buy no speed, and on a host with 10,000 containers they cost about
/// 6 MiB of peak RSS (43 instead of 49 MiB for doctor). Call before any thread starts.
/// Elsewhere (musl, other systems) there is nothing to do.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_whole_whatever_their_size_and_the_buffer_before() {
        let d = std::env::temp_dir().join(format!("dockhand-read-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("mkdir");
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(d.join("big"), &big).expect("write");
        std::fs::write(d.join("small"), b"abc\n").expect("write");
        std::fs::write(d.join("empty"), b"").expect("write");
        let mut buf = Vec::new();
        // Each read replaces what the buffer held, bigger or smaller.
        for (name, want) in [
            ("big", &big[..]),
            ("small", b"abc\n"),
            ("empty", b""),
            ("big", &big[..]),
        ] {
            read_into(&d.join(name), &mut buf).expect(name);
            assert_eq!(buf, want, "{name}");
            assert_eq!(
                with_file(&d.join(name), |b| Some(b.to_vec())).as_deref(),
                Some(want)
            );
        }
        assert!(read_into(&d.join("missing"), &mut buf).is_err());
        assert_eq!(with_file(&d.join("missing"), |_| Some(())), None);
        let _ = std::fs::remove_dir_all(d);
    }
}
