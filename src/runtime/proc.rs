//! The one reader of each kind of per-process evidence in /proc: a process's (or thread's) `stat`
//! line, its open descriptors, its environment, its pid namespace, its threads sampled across a
//! window. doctor, facts and every acting command read through these, so a verdict about the
//! same process cannot differ between them because one parsed `stat` another way.
//!
//! All synchronous except [`sample_threads`]: a read of a process in `D` state can block, so
//! callers run them through [`super::blocking`] under a deadline; the descriptor walk also
//! stops at the deadline it is given. Processes vanish mid-read: a gone process is `None` (or
//! [`FdError::Gone`]), never an error.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the kernel shows its processes, for a sentence that names what could not be read.
pub const ROOT: &str = "/proc";

/// This very program, as the kernel knows it: exec'd, it runs the same binary this process
/// runs, even when the file on disk was replaced (an upgrade) or the path named at start is a
/// link someone could move.
pub const SELF_EXE: &str = "/proc/self/exe";

/// What `/proc/<pid>/stat` (or `/proc/<pid>/task/<tid>/stat`) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The name the process gives itself (writable by its owner: never proof of anything).
    pub comm: String,
    /// One letter: R running, S sleeping, D uninterruptible, T stopped, t traced, Z zombie, …
    pub state: char,
    pub ppid: i32,
    /// The kernel's `PF_*` flags (`PF_KTHREAD` marks a kernel thread).
    pub flags: u32,
    pub threads: i64,
    /// Start time in clock ticks since boot: with the pid, identifies the process across pid
    /// reuse.
    pub start_ticks: u64,
    /// Resident set, in pages.
    pub rss_pages: u64,
}

/// Parses one stat line. `comm` may hold spaces and parentheses (`a) (b`): it runs from the
/// first '(' to the LAST ')', and every later field is counted from there. `None` for a line
/// that is cut short or not a stat line.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // Fields 3.. of proc(5), so index k here is field k + 3.
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |k: usize| rest.get(k).copied();
    Some(Stat {
        comm,
        state: field(0)?.chars().next()?,
        ppid: field(1)?.parse().ok()?,
        flags: field(6)?.parse().ok()?,
        threads: field(17)?.parse().ok()?,
        start_ticks: field(19)?.parse().ok()?,
        rss_pages: field(21)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat`, parsed. `None` when the process is gone.
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `/proc/<pid>/task/<tid>/stat`, parsed. `None` when the thread is gone.
pub fn task_stat(pid: i32, tid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?)
}

/// The kernel function a sleeping process (or thread, `tid`) waits in, when readable and asleep.
pub fn wchan(pid: i32, tid: Option<i32>) -> Option<String> {
    let path = match tid {
        Some(t) => format!("/proc/{pid}/task/{t}/wchan"),
        None => format!("/proc/{pid}/wchan"),
    };
    clean_wchan(&std::fs::read_to_string(path).ok()?)
}

/// A wchan as read: "0" or empty means "not waiting anywhere nameable".
fn clean_wchan(raw: &str) -> Option<String> {
    let w = raw.trim();
    (!w.is_empty() && w != "0").then(|| w.to_string())
}

/// What `/proc/<pid>/exe` points at, as the kernel shows it (" (deleted)" kept). `None` when
/// gone or not permitted.
pub fn exe_link(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The path of a thread's kernel stack file (root only), for a remedy that tells the operator
/// what to read.
pub fn task_stack_path(pid: i32, tid: i32) -> String {
    format!("/proc/{pid}/task/{tid}/stack")
}

/// The pid namespace of `pid` (`None`: this process's own), as the link's text
/// (`pid:[4026531836]`); `None` when unreadable (not root) or gone.
pub fn pid_namespace(pid: Option<i32>) -> Option<PathBuf> {
    let who = pid.map_or_else(|| "self".to_string(), |p| p.to_string());
    std::fs::read_link(format!("/proc/{who}/ns/pid")).ok()
}

/// The value of `name` in a process's environment (readable by its owner and root only):
/// `None` when unset or unreadable; an empty value is returned as it is.
pub fn env_var(pid: i32, name: &str) -> Option<Vec<u8>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env_lookup(&raw, name).map(<[u8]>::to_vec)
}

/// The pure part of [`env_var`]: `environ` is NUL-separated `NAME=value` entries; the first
/// entry of a name wins (as getenv(3) answers).
pub fn env_lookup<'a>(environ: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut prefix = name.as_bytes().to_vec();
    prefix.push(b'=');
    environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_slice()))
}

// ---------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------

/// How long one search of every process's descriptors may go on. Callers hold such a search
/// under their own, shorter deadline ([`super::blocking`]) and abandon it; this bound stops an
/// abandoned walk from going on, and a walk it cuts short counts as unreadable, never as "holds
/// nothing".
pub const SEARCH_BOUND: Duration = Duration::from_secs(30);

/// One open descriptor and what the kernel says it points at (`/dev/null`, `socket:[123]`,
/// `pipe:[9]`, `/path (deleted)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fd {
    pub fd: i32,
    pub target: PathBuf,
}

impl Fd {
    /// The socket inode, when this descriptor is a socket.
    pub fn socket_inode(&self) -> Option<u64> {
        parse_socket_link(self.target.as_os_str().as_bytes())
    }
}

/// Why a process's descriptors could not be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdError {
    /// Not permitted (not root, or another user's process).
    Unreadable,
    /// Gone mid-scan, or a kernel thread with no fd table.
    Gone,
}

/// A process's descriptors as far as the walk got.
#[derive(Debug, Clone, Default)]
pub struct Fds {
    pub fds: Vec<Fd>,
    /// Some targets could not be read (listing is allowed and reading is not: pid 1 under
    /// some sandboxes).
    pub denied: bool,
    /// The walk reached its deadline before the end: what it holds is a part.
    pub cut_short: bool,
}

/// THE walk of `/proc/<pid>/fd`: each descriptor's target, read with one `readlinkat` relative
/// to the open directory (no path walk from /, nothing followed, nothing stat'ed), until
/// `until`. A descriptor that closes while we look is left out.
pub fn fds(pid: i32, until: Instant) -> Result<Fds, FdError> {
    let dir = format!("/proc/{pid}/fd");
    let (entries, handle) = match (std::fs::read_dir(&dir), std::fs::File::open(&dir)) {
        (Ok(e), Ok(h)) => (e, h),
        (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(FdError::Unreadable);
        }
        _ => return Err(FdError::Gone),
    };
    let mut out = Fds::default();
    for e in entries.flatten() {
        if Instant::now() >= until {
            out.cut_short = true;
            break;
        }
        let name = e.file_name();
        let Some(fd) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        match nix::fcntl::readlinkat(&handle, name.as_os_str()) {
            Ok(target) => out.fds.push(Fd {
                fd,
                target: PathBuf::from(target),
            }),
            Err(nix::errno::Errno::EACCES) => out.denied = true,
            Err(_) => {}
        }
    }
    out.fds.sort_by_key(|f| f.fd);
    Ok(out)
}

/// The path through which descriptor `fd` of `pid` is opened or stat'ed: following it reaches
/// the open file itself, not whatever now has its name.
pub fn fd_path(pid: i32, fd: i32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/fd/{fd}"))
}

/// The directory of `pid`'s descriptors, for a remedy that tells the operator where to look.
pub fn fd_dir(pid: i32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/fd"))
}

/// The file offset of descriptor `fd` of `pid` (`pos:` in its fdinfo).
pub fn fd_pos(pid: i32, fd: i32) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The working directory and root links of `pid`: what a process holds besides descriptors
/// (stat'ed by callers that look for anything holding a directory).
pub fn place_paths(pid: i32) -> [PathBuf; 2] {
    [
        PathBuf::from(format!("/proc/{pid}/cwd")),
        PathBuf::from(format!("/proc/{pid}/root")),
    ]
}

/// `socket:[12345]` → 12345.
pub fn parse_socket_link(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The socket inodes among `pid`'s descriptors ([`fds`], sockets only). Unreadable when the
/// walk was cut short by `until`, or some targets were denied and no socket was seen: the
/// process may hold one we did not see.
pub fn socket_inodes(pid: i32, until: Instant) -> Result<Vec<u64>, FdError> {
    let all = fds(pid, until)?;
    let inodes: Vec<u64> = all.fds.iter().filter_map(Fd::socket_inode).collect();
    if all.cut_short || (all.denied && inodes.is_empty()) {
        return Err(FdError::Unreadable);
    }
    Ok(inodes)
}

/// What a search of every process for holders of some files found.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// (pid, the (device, inode) it holds), each pair once, in pid order.
    pub hits: Vec<(i32, (u64, u64))>,
    /// Processes whose descriptors could not be read (not root, or the search ran out of
    /// time): one of them might hold a file.
    pub unreadable: usize,
}

/// THE search for processes holding any of `ids` (device, inode): through a descriptor, or —
/// with `places` — as their working directory or root. Each link whose target is a path is
/// stat'ed (following it, to what the process holds) and compared by identity, never by the
/// path /proc shows. Sockets, pipes and anonymous inodes are not paths and are skipped.
pub fn held(ids: &std::collections::HashSet<(u64, u64)>, places: bool, until: Instant) -> Held {
    use std::os::unix::fs::MetadataExt;
    let mut out = Held::default();
    for pid in super::host::pids() {
        let fds = match fds(pid, until) {
            Ok(f) if f.cut_short => {
                out.unreadable += 1;
                continue;
            }
            Ok(f) => f,
            Err(FdError::Unreadable) => {
                out.unreadable += 1;
                continue;
            }
            // Gone mid-scan, or a kernel thread: nothing held.
            Err(FdError::Gone) => continue,
        };
        let extra: Vec<PathBuf> = if places {
            place_paths(pid).to_vec()
        } else {
            Vec::new()
        };
        let links = fds
            .fds
            .iter()
            .filter(|f| f.target.as_os_str().as_bytes().starts_with(b"/"))
            .map(|f| fd_path(pid, f.fd))
            .chain(extra);
        for link in links {
            if let Ok(m) = std::fs::metadata(&link) {
                let id = (m.dev(), m.ino());
                if ids.contains(&id) && !out.hits.contains(&(pid, id)) {
                    out.hits.push((pid, id));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------

/// One thread of a process, as far as telling a stuck one from a busy one goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskState {
    pub tid: i32,
    /// One letter, as for a process: S sleeping, D uninterruptible, …
    pub state: char,
    /// The kernel function it waits in (`wchan`), when readable and asleep.
    pub wchan: Option<String>,
    /// Context switches so far (voluntary + not): unchanged across a window means the thread
    /// was not scheduled once in it. `None` when unreadable.
    pub switches: Option<u64>,
}

/// The threads of `pid` (`only`: just these tids; else all): their stat, wchan and status.
/// `None` when the process is gone. A thread that exits mid-read is left out. A thread's stat
/// and wchan never wait on the thread itself, so these reads do not block where the thread
/// does — callers still run them under a deadline.
pub fn tasks(pid: i32, only: Option<&[i32]>) -> Option<Vec<TaskState>> {
    let tids: Vec<i32> = match only {
        Some(t) => t.to_vec(),
        None => std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect(),
    };
    Some(tids.into_iter().filter_map(|tid| task(pid, tid)).collect())
}

fn task(pid: i32, tid: i32) -> Option<TaskState> {
    let state = task_stat(pid, tid)?.state;
    let switches = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
        .ok()
        .and_then(|st| context_switches(&st));
    Some(TaskState {
        tid,
        state,
        wchan: wchan(pid, Some(tid)),
        switches,
    })
}

/// Voluntary + involuntary context switches from a `status` file.
fn context_switches(status: &str) -> Option<u64> {
    let count = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(count("voluntary_ctxt_switches:")? + count("nonvoluntary_ctxt_switches:")?)
}

/// THE thread sampling of a process across a window (doctor's `daemon.process` and recover's
/// diagnosis both read it here): the first sample reads every thread, the later ones
/// (`samples` in all, `every` apart) only the threads `watch` picks from the first — those in
/// a wait that may be stuck. Each reading runs under `deadline`; `None` when the first one did
/// not finish (a later one that fails just ends the window early).
pub async fn sample_threads(
    pid: i32,
    samples: u32,
    every: Duration,
    deadline: Duration,
    watch: impl Fn(&TaskState) -> bool,
) -> Option<Vec<Vec<TaskState>>> {
    // A process gone before the first reading is an empty first sample: nothing stuck.
    let first = super::blocking(deadline, move || tasks(pid, None))
        .await?
        .unwrap_or_default();
    let candidates: Vec<i32> = first.iter().filter(|t| watch(t)).map(|t| t.tid).collect();
    let mut all = vec![first];
    if candidates.is_empty() {
        return Some(all);
    }
    for _ in 1..samples.max(1) {
        tokio::time::sleep(every).await;
        let c = candidates.clone();
        match super::blocking(deadline, move || tasks(pid, Some(&c))).await {
            Some(Some(s)) => all.push(s),
            _ => break,
        }
    }
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real stat line of a process whose comm is `a) (b` — the shape that fools a parser
    /// splitting on the first ')'.
    const TRICKY: &str = "4242 (a) (b) S 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 7 0 987654 123456789 345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_lines() {
        let s = parse_stat(TRICKY).expect("parses");
        assert_eq!(s.comm, "a) (b");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.flags, 4194560);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_ticks, 987654);
        assert_eq!(s.rss_pages, 345);
        // A comm that ends in a space, or holds nothing but parentheses.
        let odd = TRICKY.replace("(a) (b)", "()) ( )");
        let s = parse_stat(&odd).expect("parses");
        assert_eq!(
            (s.comm.as_str(), s.state, s.start_ticks),
            (")) ( ", 'S', 987654)
        );
        // Cut short, or not a stat line at all: nothing, never a half-read process.
        for bad in [
            "",
            "4242",
            "4242 (x",
            "4242 (x) S 1",
            &TRICKY[..TRICKY.len() / 2],
            "4242 (x) S notapid 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1 1",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn our_own_stat_and_threads() {
        let me = std::process::id() as i32;
        let s = stat(me).expect("self");
        assert!(matches!(s.state, 'R' | 'S'));
        assert!(s.threads >= 1 && s.rss_pages > 0 && s.start_ticks > 0);
        assert_eq!(
            task_stat(me, me).map(|t| t.start_ticks),
            Some(s.start_ticks)
        );
        assert!(stat(i32::MAX).is_none());
        let all = tasks(me, None).expect("self");
        let main = all.iter().find(|t| t.tid == me).expect("the main thread");
        assert!(matches!(main.state, 'R' | 'S'));
        assert!(main.switches.is_some());
        assert_eq!(tasks(me, Some(&[me])).expect("self").len(), 1);
        assert!(tasks(i32::MAX, None).is_none());
        // A tid that is not there is left out, not an error.
        assert!(tasks(me, Some(&[i32::MAX])).expect("self").is_empty());
    }

    #[test]
    fn status_switches_and_wchan() {
        let st = "Name:\tx\nvoluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t5\n";
        assert_eq!(context_switches(st), Some(15));
        assert_eq!(context_switches("voluntary_ctxt_switches: 3\n"), None);
        assert_eq!(
            context_switches("voluntary_ctxt_switches: x\nnonvoluntary_ctxt_switches: 1"),
            None
        );
        let cases = [
            ("0\n", None),
            ("", None),
            ("do_epoll_wait", Some("do_epoll_wait")),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_wchan(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn environment_entries() {
        let env = b"PATH=/bin\0DOCKER_TMPDIR=\0HOME=/root\0DOCKER_TMPDIR=/second\0A=b=c\0junk\0";
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("PATH", Some(b"/bin")),
            // Set but empty, and the first of two wins.
            ("DOCKER_TMPDIR", Some(b"")),
            ("A", Some(b"b=c")),
            ("HOM", None),
            ("junk", None),
            ("NOPE", None),
        ];
        for (name, want) in cases {
            assert_eq!(env_lookup(env, name), *want, "{name}");
        }
        assert_eq!(env_lookup(b"", "PATH"), None);
    }

    #[test]
    fn socket_links() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"socket:[12345]", Some(12345)),
            (b"socket:[]", None),
            (b"socket:[12x]", None),
            (b"pipe:[12]", None),
            (b"/tmp/socket:[1]", None),
            (b"socket:[1", None),
        ];
        for (link, want) in cases {
            assert_eq!(parse_socket_link(link), *want, "{link:?}");
        }
    }

    #[test]
    fn our_own_descriptors() {
        use std::os::fd::AsRawFd;
        let me = std::process::id() as i32;
        let f = std::fs::File::open("/dev/null").expect("open");
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let far = Instant::now() + Duration::from_secs(10);
        let got = fds(me, far).expect("ours");
        assert!(!got.cut_short);
        let null = got
            .fds
            .iter()
            .find(|d| d.fd == f.as_raw_fd())
            .expect("the file");
        assert_eq!(null.target, PathBuf::from("/dev/null"));
        let sock = got
            .fds
            .iter()
            .find(|d| d.fd == l.as_raw_fd())
            .expect("the socket");
        let ino = sock.socket_inode().expect("a socket");
        assert!(socket_inodes(me, far).expect("ours").contains(&ino));
        // A deadline already passed: a part (here nothing), and said so.
        let past = fds(me, Instant::now()).expect("ours");
        assert!(past.cut_short && past.fds.is_empty());
        assert_eq!(fds(i32::MAX, far).err(), Some(FdError::Gone));
        // The offset through the descriptor, not through a name.
        assert_eq!(fd_pos(me, f.as_raw_fd()), Some(0));
        assert!(std::fs::metadata(fd_path(me, f.as_raw_fd())).is_ok());
    }

    #[tokio::test]
    async fn threads_sampled_across_a_window() {
        let me = std::process::id() as i32;
        let every = Duration::from_millis(5);
        let deadline = Duration::from_secs(5);
        // Nothing watched: one sample.
        let one = sample_threads(me, 3, every, deadline, |_| false)
            .await
            .expect("self");
        assert_eq!(one.len(), 1);
        // Our own main thread watched: three samples, each holding just it.
        let three = sample_threads(me, 3, every, deadline, |t| t.tid == me)
            .await
            .expect("self");
        assert_eq!(three.len(), 3);
        assert!(three[1..].iter().all(|s| s.len() == 1 && s[0].tid == me));
        // Gone: one empty sample, so nothing is called stuck.
        let gone = sample_threads(i32::MAX, 3, every, deadline, |_| true).await;
        assert_eq!(gone, Some(vec![Vec::new()]));
    }
}
