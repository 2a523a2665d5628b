//! The runtime core: the only code that talks to the outside world — the engine API, /proc,
//! the kernel, the data root on disk. Commands ask it; they never call these directly.

pub(crate) mod buildkit;
pub(crate) mod command;
pub(crate) mod containerd;
pub(crate) mod daemon;
pub mod endpoint;
pub mod engine;
pub(crate) mod engine_kind;
pub(crate) mod executable;
pub(crate) mod files;
pub(crate) mod host;
pub(crate) mod http;
pub(crate) mod identity;
pub(crate) mod incident;
pub(crate) mod inventory;
pub(crate) mod json_array;
pub(crate) mod kernel;
pub mod net;
pub(crate) mod pidfile;
pub(crate) mod proc;
pub(crate) mod pull_progress;
pub(crate) mod sockdiag;
pub(crate) mod storage;

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

/// Reads a whole file into `buf`, which is cleared first and keeps its capacity for the next
/// file: open, read to the end, close. For the data root's many small files (a container's
/// config.v2.json and hostconfig.json, the layer store's one-line files): `fs::read` first asks
/// the file's size (one more system call per file) and allocates a buffer per file, and on a
/// host with 10,000 containers that is tens of thousands of each.
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    read_all(std::fs::File::open(path)?, buf)
}

/// [`read_into`] for `rel` under the open directory `dir`: the kernel resolves `rel`'s few names
/// instead of the whole path (the data root's tens of thousands of small files on a big host).
pub fn read_into_at(dir: &std::fs::File, rel: &str, buf: &mut Vec<u8>) -> io::Result<()> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let fd = openat(dir, rel, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(io::Error::from)?;
    read_all(std::fs::File::from(fd), buf)
}

/// `file` to its end into `buf` (cleared first, room for a small file kept).
fn read_all(file: std::fs::File, buf: &mut Vec<u8>) -> io::Result<()> {
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
    Plain(file).read_to_end(buf)?;
    Ok(())
}

/// Reads a whole file with [`read_into`] into a buffer this thread keeps, and hands its bytes
/// to `f`: the data root's thousands of small files cost one buffer per thread, not one each.
/// `None` when the file cannot be read.
pub fn with_file<T>(path: &Path, f: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
    with_buffer(|buf| read_into(path, buf), f)
}

/// [`with_file`] for `rel` under the open directory `dir` (see [`read_into_at`]).
pub fn with_file_at<T>(
    dir: &std::fs::File,
    rel: &str,
    f: impl FnOnce(&[u8]) -> Option<T>,
) -> Option<T> {
    with_buffer(|buf| read_into_at(dir, rel, buf), f)
}

/// `read` into this thread's buffer, then `f` over what it read.
fn with_buffer<T>(
    read: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    f: impl FnOnce(&[u8]) -> Option<T>,
) -> Option<T> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        read(buf).ok()?;
        let r = f(buf);
        // A rare big file (a huge config.v2.json) should not stay held for the rest of the run.
        if buf.capacity() > 1024 * 1024 {
            *buf = Vec::new();
        }
        r
    })
}

/// The names in directory `dir` (none when it cannot be read).
pub(crate) fn entry_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `f` over `names`, on up to four threads (the layer store and the containers of a big host are
/// tens of thousands of small files); the results in `names`' order.
pub(crate) fn par_map<I: Sync, T: Send>(names: &[I], f: impl Fn(&I) -> Option<T> + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 4);
    if names.len() < 256 || threads == 1 {
        return names.iter().filter_map(&f).collect();
    }
    let per = names.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = names
            .chunks(per)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter().filter_map(f).collect::<Vec<T>>())
            })
            .collect();
        // A part whose thread panicked is left out (the store then reads as smaller); no panic
        // is expected from reading files.
        let parts: Vec<Vec<T>> = parts.into_iter().filter_map(|h| h.join().ok()).collect();
        // Sized once: grown by doubling, 10,000 records would hold room for 16,384.
        let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        out.extend(parts.into_iter().flatten());
        out
    })
}

/// Runs blocking work (a /proc read, a statvfs, a directory walk) off the async thread, under a
/// deadline. Reading /proc of a process in `D` state can block forever; the work is then
/// abandoned — the run does not wait for it (main shuts the runtime down without joining).
/// Never for work that changes something: that is [`mutate`]'s.
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

/// The moment a mutation under [`mutate`] may start: before it, its checks run and may be cut
/// off by the deadline; once [`Gate::begin`] said yes, the mutation runs to its end.
#[derive(Debug)]
pub struct Gate {
    /// 0: checking; 1: the mutation began; 2: the caller gave up waiting (deadline passed).
    state: std::sync::atomic::AtomicU8,
    deadline: std::time::Instant,
}

const CHECKING: u8 = 0;
const BEGUN: u8 = 1;
const GIVEN_UP: u8 = 2;

impl Gate {
    /// A gate that only the deadline closes (for synchronous callers and tests).
    pub fn until(deadline: std::time::Instant) -> Gate {
        Gate {
            state: std::sync::atomic::AtomicU8::new(CHECKING),
            deadline,
        }
    }

    /// Whether the mutation may start now. Called once, right before the first change: true
    /// means the caller waits for the outcome whatever the deadline; false means the deadline
    /// passed and nothing may be changed.
    pub fn begin(&self) -> bool {
        use std::sync::atomic::Ordering;
        if std::time::Instant::now() >= self.deadline {
            // Close it for the waiting side too, so both agree nothing started.
            let _ =
                self.state
                    .compare_exchange(CHECKING, GIVEN_UP, Ordering::SeqCst, Ordering::SeqCst);
            return self.state.load(Ordering::SeqCst) == BEGUN;
        }
        match self
            .state
            .compare_exchange(CHECKING, BEGUN, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(s) => s == BEGUN,
        }
    }

    /// When the checks must be done: a walk that is part of them stops here.
    pub fn deadline(&self) -> std::time::Instant {
        self.deadline
    }

    fn give_up(&self) -> bool {
        use std::sync::atomic::Ordering;
        match self
            .state
            .compare_exchange(CHECKING, GIVEN_UP, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(s) => s == GIVEN_UP,
        }
    }
}

/// How a [`mutate`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Mutated<T> {
    /// The work ended (its checks refused, or the mutation ran to its end): its own outcome.
    Ended(T),
    /// The deadline passed during the checks: nothing was changed, and nothing will be.
    NotStarted,
}

/// Runs a mutation (an unlink, a tree removal, a truncate, a rewrite) off the async thread.
/// Unlike [`blocking`], it never abandons work that changes something: `f` runs its checks,
/// then calls [`Gate::begin`] right before its first change. If the deadline passes before
/// that, the gate stays closed, `f` must return without changing anything, and this returns
/// [`Mutated::NotStarted`] at the deadline. Once the gate opened, this waits for `f`'s end, so
/// what the journal records is what really happened — never "left alone" while an unlink goes
/// on behind it, never a removal cut off half-way when the run exits.
pub async fn mutate<T, F>(deadline: Duration, f: F) -> Mutated<T>
where
    F: FnOnce(&Gate) -> T + Send + 'static,
    T: Send + 'static,
{
    let gate = std::sync::Arc::new(Gate::until(std::time::Instant::now() + deadline));
    let g = gate.clone();
    let mut task = tokio::task::spawn_blocking(move || f(&g));
    match tokio::time::timeout(deadline, &mut task).await {
        Ok(Ok(v)) => Mutated::Ended(v),
        // A panic in the work: whether it began is what the gate says.
        Ok(Err(_)) => Mutated::NotStarted,
        Err(_) if gate.give_up() => Mutated::NotStarted,
        // It began: wait for its end, however long.
        Err(_) => match task.await {
            Ok(v) => Mutated::Ended(v),
            Err(_) => Mutated::NotStarted,
        },
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
    // SAFETY: mallopt(3) is glibc's own knob, with no wrapper in std or nix. It only sets an
    // allocator parameter, and is called before other threads exist.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
    }
}

/// Hands the allocator's free pages back to the kernel (glibc's `malloc_trim`). glibc keeps what
/// was freed mapped for the next allocation, so a long-running process (serve, watch) would hold
/// the peak of its busiest moment — reading a doctor run's report, a large container list —
/// between them. Trimmed after each, it goes back to what it holds while idle. Elsewhere (musl,
/// other systems) there is nothing to do.
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) is glibc's own call, with no wrapper in std or nix. It takes the
    // allocator's locks itself and only unmaps or advises away pages that hold no allocation.
    unsafe {
        nix::libc::malloc_trim(0);
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

    #[tokio::test]
    async fn a_mutation_that_began_is_waited_for_and_one_that_did_not_never_starts() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        // Checks slower than the deadline: not started, and the change never happens after.
        let changed = Arc::new(AtomicBool::new(false));
        let c = changed.clone();
        let got = mutate(Duration::from_millis(50), move |g| {
            std::thread::sleep(Duration::from_millis(200));
            if g.begin() {
                c.store(true, Ordering::SeqCst);
                "done"
            } else {
                "not started"
            }
        })
        .await;
        assert_eq!(got, Mutated::NotStarted);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !changed.load(Ordering::SeqCst),
            "it changed after the deadline"
        );

        // Began in time, ends long after the deadline: waited for, its real outcome returned.
        let c = changed.clone();
        let t = std::time::Instant::now();
        let got = mutate(Duration::from_millis(50), move |g| {
            assert!(g.begin());
            std::thread::sleep(Duration::from_millis(300));
            c.store(true, Ordering::SeqCst);
            "done"
        })
        .await;
        assert_eq!(got, Mutated::Ended("done"));
        assert!(changed.load(Ordering::SeqCst));
        assert!(t.elapsed() >= Duration::from_millis(300));

        // A refusal from the checks is an end like any other.
        assert_eq!(
            mutate(Duration::from_secs(5), |_| "refused").await,
            Mutated::Ended("refused")
        );
    }
}
