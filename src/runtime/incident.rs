//! What an incident bundle reads about the daemon: its process in /proc (every thread's state,
//! wait channel and kernel stack), the goroutine dumps dockerd writes on SIGUSR1, and the tail of
//! its log wherever it goes. All synchronous and bounded in size: call through
//! `runtime::blocking` (a /proc read of a process in D state can block).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::daemon::ServiceManager;

/// The name dockerd gives a goroutine dump (`goroutine-stacks-<time>.log`).
pub const STACK_DUMP_PREFIX: &str = "goroutine-stacks-";

fn read_small(path: &str) -> String {
    let mut s = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(256 * 1024).read_to_string(&mut s);
    }
    s
}

/// A text snapshot of process `pid`: status, stat, wchan, kernel stack, limits, then for each of
/// at most `max_threads` threads its stat line, wait channel and kernel stack (`stack` needs
/// root; what cannot be read is marked so).
pub fn proc_snapshot(pid: i32, max_threads: usize) -> String {
    let mut out = String::new();
    let base = format!("/proc/{pid}");
    for f in ["status", "stat", "wchan", "stack", "limits", "io", "cgroup"] {
        let text = read_small(&format!("{base}/{f}"));
        out.push_str(&format!("==> {base}/{f} <==\n"));
        if text.is_empty() {
            out.push_str("(not readable)\n");
        } else {
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    let mut tids: Vec<i32> = std::fs::read_dir(format!("{base}/task"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    tids.sort_unstable();
    out.push_str(&format!("==> {} threads <==\n", tids.len()));
    for tid in tids.iter().take(max_threads) {
        let t = format!("{base}/task/{tid}");
        let stat = read_small(&format!("{t}/stat"));
        let wchan = read_small(&format!("{t}/wchan"));
        let stack = read_small(&format!("{t}/stack"));
        out.push_str(&format!(
            "--- thread {tid}: {}\n    wchan: {}\n",
            stat.trim(),
            if wchan.is_empty() { "-" } else { wchan.trim() }
        ));
        for l in stack.lines() {
            out.push_str(&format!("    {l}\n"));
        }
    }
    if tids.len() > max_threads {
        out.push_str(&format!(
            "(and {} more threads)\n",
            tids.len() - max_threads
        ));
    }
    out
}

/// The goroutine dumps in `dirs` written at or after `since`, newest first.
pub fn stack_dumps(dirs: &[PathBuf], since: SystemTime) -> Vec<PathBuf> {
    let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str() else { continue };
            if !n.starts_with(STACK_DUMP_PREFIX) {
                continue;
            }
            if let Ok(m) = e.metadata()
                && let Ok(t) = m.modified()
                && t >= since
                && m.len() > 0
            {
                found.push((t, e.path()));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Where the daemon's log can be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogSource {
    /// `journalctl -u UNIT`.
    Journald { unit: String },
    /// A file, and how it was found: "--log-file", "config", "stderr" (the file the daemon's
    /// stderr or stdout points to), "default" (/var/log/docker.log, Debian's init script).
    File { path: PathBuf, found_by: String },
}

/// Where to look for the daemon's log, best first: journald for a systemd unit; the file the
/// user named; the regular file the daemon's stderr (else stdout) writes to; the init script's
/// default.
pub fn log_sources(
    pid: Option<i32>,
    service: Option<&ServiceManager>,
    named: Option<(&Path, &str)>,
) -> Vec<LogSource> {
    let mut out = Vec::new();
    if let Some(ServiceManager::Systemd { unit }) = service {
        out.push(LogSource::Journald { unit: unit.clone() });
    }
    if let Some((p, how)) = named {
        out.push(LogSource::File {
            path: p.to_path_buf(),
            found_by: how.to_string(),
        });
    }
    if let Some(pid) = pid {
        for fd in [2, 1] {
            if let Ok(target) = std::fs::read_link(super::proc::fd_path(pid, fd))
                && target.is_absolute()
                && std::fs::metadata(&target).is_ok_and(|m| m.is_file())
                && !out
                    .iter()
                    .any(|s| matches!(s, LogSource::File { path, .. } if *path == target))
            {
                out.push(LogSource::File {
                    path: target,
                    found_by: if fd == 2 { "stderr" } else { "stdout" }.into(),
                });
                break;
            }
        }
    }
    if matches!(
        service,
        Some(ServiceManager::Sysvinit { .. } | ServiceManager::Openrc)
    ) {
        let p = PathBuf::from("/var/log/docker.log");
        if p.is_file() {
            out.push(LogSource::File {
                path: p,
                found_by: "default".into(),
            });
        }
    }
    out
}

/// The last `lines` lines of a file, reading at most its last `max_bytes`.
pub fn tail_file(path: &Path, lines: usize, max_bytes: u64) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Never through a symlink (a user's link would copy any root-readable file into the
    // bundle), never blocking on a FIFO.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(max_bytes).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    // A tail that starts mid-file starts mid-line: drop the partial first line.
    let text = if start > 0 {
        text.split_once('\n').map_or("", |(_, r)| r)
    } else {
        &text
    };
    Ok(last_lines(text, lines))
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut s = all[all.len().saturating_sub(n)..].join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// `systemctl show -p Result --value UNIT` → "start-limit-hit" when the unit hit its start limit.
pub fn start_limit_hit(result: &str) -> bool {
    result.trim() == "start-limit-hit"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_snapshots_with_threads() {
        let s = proc_snapshot(std::process::id() as i32, 4);
        assert!(s.contains("/status <==") && s.contains("Name:"), "{s}");
        assert!(s.contains("threads <==") && s.contains("--- thread"), "{s}");
    }

    #[test]
    fn tails_and_dumps() {
        let dir = std::env::temp_dir().join(format!("dockhand-incident-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("d.log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&f, &text).expect("write");
        assert_eq!(
            tail_file(&f, 2, 1 << 20).expect("tail"),
            "line 99\nline 100\n"
        );
        // Reading only the end: the cut first line is dropped.
        let t = tail_file(&f, 50, 20).expect("tail");
        assert_eq!(t, "line 99\nline 100\n");
        let before = SystemTime::now() - std::time::Duration::from_secs(5);
        std::fs::write(dir.join("goroutine-stacks-2026.log"), "goroutine 1").expect("w");
        std::fs::write(dir.join("other.log"), "x").expect("w");
        let found = stack_dumps(std::slice::from_ref(&dir), before);
        assert_eq!(found, vec![dir.join("goroutine-stacks-2026.log")]);
        assert!(
            stack_dumps(
                std::slice::from_ref(&dir),
                SystemTime::now() + std::time::Duration::from_secs(60)
            )
            .is_empty()
        );
        // The file our own stderr goes to is found when it is a regular file; a pipe is not.
        let srcs = log_sources(
            None,
            Some(&ServiceManager::Systemd {
                unit: "docker.service".into(),
            }),
            Some((&f, "--log-file")),
        );
        assert_eq!(srcs.len(), 2);
        assert!(start_limit_hit("start-limit-hit\n") && !start_limit_hit("success"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
