//! Running another program under a deadline: the service managers (systemctl, rc-service, an
//! init script), journalctl, a docker credential helper. The program is killed when it
//! overruns; its output is captured, bounded.
//!
//! Every child runs in a process group of its own (`process_group(0)`): a Ctrl-C in dockhand's
//! terminal goes to the terminal's foreground group, so it reaches dockhand only, never a
//! `systemctl stop docker` or an init script half-way through. dockhand's cooperative shutdown
//! then lets the child in flight finish (bounded by its deadline) and journals it. The child is
//! not killed when its future is dropped (tokio's `kill_on_drop` stays off): a run that ends
//! early leaves the child to finish, and tokio reaps it.
//!
//! tokio's process support does the waiting (no thread per child, no polling): the child's
//! exit, its stdout and its stderr are awaited together under one deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

/// At most this much of a program's stdout or stderr is kept: a log tail, a helper's JSON.
const MAX_OUTPUT: usize = 4 << 20;

/// After the child is gone (exited, or killed at the deadline), how long its output pipes may
/// stay open: a process it left running (a daemon an init script started) can hold them for
/// ever; what was read by then is kept.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// What a bounded command did.
#[derive(Debug, Default)]
pub struct Ran {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status == Some(0) && !self.timed_out
    }

    /// How it ended, as a clause, without a word of its output: for programs whose output may
    /// hold a secret (a credential helper).
    pub fn status_only(&self) -> String {
        if self.timed_out {
            return "it did not finish in time and was killed".into();
        }
        match self.status {
            Some(c) => format!("it exited with status {c}"),
            None => "it was killed by a signal".into(),
        }
    }

    /// The command's own complaint, first line, as a clause: "it exited with status 3: oops".
    pub fn why(&self) -> String {
        if self.timed_out {
            return "it did not finish in time and was killed".into();
        }
        let line = self
            .stderr
            .lines()
            .chain(self.stdout.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        match self.status {
            Some(c) if line.is_empty() => format!("it exited with status {c}"),
            Some(c) => format!(
                "it exited with status {c}: {}",
                crate::util::sanitize(line.trim())
            ),
            None => "it was killed by a signal".into(),
        }
    }
}

/// Reads `r` to its end into `into`, at most [`MAX_OUTPUT`] bytes; the pipe is closed after
/// (a child that writes more gets EPIPE, as it would from `head`). Shared, so what was read
/// survives a reader given up on.
async fn read_capped(r: Option<impl AsyncRead + Unpin>, into: Arc<Mutex<Vec<u8>>>) {
    let Some(r) = r else { return };
    let mut r = r.take(MAX_OUTPUT as u64);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Ok(mut b) = into.lock() {
                    b.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

fn text(b: &Mutex<Vec<u8>>) -> String {
    b.lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Runs `argv` with `input` on stdin (or none), capturing stdout and stderr, killing its
/// process group when it overruns `deadline`.
pub async fn run_child(
    argv: &[String],
    input: Option<Vec<u8>>,
    deadline: Duration,
) -> std::io::Result<Ran> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let end = Instant::now() + deadline;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()?;
    // The group is the child's own (it leads it), and its id stays reserved until the child
    // is reaped, which happens below, after the kill.
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let stdin = child.stdin.take();
    let feed = async move {
        // A helper that never reads its stdin must not block us: written alongside the wait,
        // and abandoned with it. Dropping stdin after closes it (the helper sees EOF).
        if let (Some(mut stdin), Some(data)) = (stdin, input) {
            let _ = stdin.write_all(&data).await;
        }
    };
    let (out, err) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let reading = futures_util::future::join(
        read_capped(child.stdout.take(), out.clone()),
        read_capped(child.stderr.take(), err.clone()),
    );
    let mut reading = std::pin::pin!(reading);
    let mut feed = std::pin::pin!(feed);
    let mut read_all = false;
    let mut timed_out = false;
    let mut fed = false;
    let waited = {
        let mut wait = std::pin::pin!(tokio::time::timeout_at(end, child.wait()));
        loop {
            // Input written and output read while the child runs (a full pipe would stall it).
            tokio::select! {
                w = &mut wait => break w,
                _ = &mut reading, if !read_all => read_all = true,
                () = &mut feed, if !fed => fed = true,
            }
        }
    };
    let status = match waited {
        Ok(status) => status?,
        Err(_) => {
            timed_out = true;
            // The whole group: a script's own children would otherwise live on holding our
            // pipes. Only on an overrun: what a child that exited in time left running in its
            // group (an init script's daemon) is not ours to kill.
            if let Some(pgid) = group {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.start_kill();
            child.wait().await?
        }
    };
    // What is still in the pipes: at once when the child held them alone; a holder that lives
    // on (a background process it left, in its group or not) is given a moment, not waited for.
    if !read_all {
        let _ = tokio::time::timeout(DRAIN_GRACE, &mut reading).await;
    }
    Ok(Ran {
        status: status.code(),
        stdout: text(&out),
        stderr: text(&err),
        timed_out,
    })
}

/// [`run_child`] for synchronous code (a /proc reader under `runtime::blocking` that asks the
/// service manager one question): on a small runtime of its own, in a thread of its own, so it
/// neither needs nor disturbs the caller's runtime, whatever thread it is called from.
pub fn run_bounded(
    argv: &[&str],
    input: Option<&[u8]>,
    deadline: Duration,
) -> std::io::Result<Ran> {
    let argv: Vec<String> = argv.iter().map(|a| (*a).to_string()).collect();
    let input = input.map(<[u8]>::to_vec);
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(run_child(&argv, input, deadline))
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the command's thread panicked")))
    })
}

/// [`run_child`], with `Err` saying in one clause why it could not be run.
pub async fn run(
    argv: Vec<String>,
    input: Option<Vec<u8>>,
    deadline: Duration,
) -> Result<Ran, String> {
    let shown = crate::util::sanitize(&argv.join(" "));
    run_child(&argv, input, deadline)
        .await
        .map_err(|e| format!("cannot run `{shown}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_commands_report_status_output_and_overruns() {
        let r = run_bounded(
            &["sh", "-c", "read x; echo got $x; echo oops >&2; exit 3"],
            Some(b"hello\n"),
            Duration::from_secs(5),
        )
        .expect("runs");
        assert_eq!(r.status, Some(3));
        assert_eq!(r.stdout, "got hello\n");
        assert_eq!(r.why(), "it exited with status 3: oops");
        let t = Instant::now();
        let r = run_bounded(&["sleep", "30"], None, Duration::from_millis(200)).expect("runs");
        assert!(r.timed_out && !r.ok());
        assert!(t.elapsed() < Duration::from_secs(5));
        // A script whose own child holds the output pipe: the whole group goes, and the
        // overrun is reported in time rather than waiting on the grandchild.
        let t = Instant::now();
        let r = run_bounded(
            &["sh", "-c", "sleep 30; true"],
            None,
            Duration::from_millis(200),
        )
        .expect("runs");
        assert!(r.timed_out, "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(run_bounded(&["/nonexistent/prog"], None, Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_child_that_exits_in_time_is_not_held_up_by_what_it_left_running() {
        // The shell exits at once; its background sleep keeps stdout open, and is no overrun.
        let t = Instant::now();
        let r = run_bounded(
            &["sh", "-c", "sleep 5 >&- 2>&- & echo $!; sleep 5 & exit 4"],
            None,
            Duration::from_secs(20),
        )
        .expect("runs");
        assert_eq!(r.status, Some(4), "{r:?}");
        assert!(!r.timed_out, "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        // What it left in its group was not killed: only an overrun kills the group.
        let left: i32 = r.stdout.trim().parse().expect("the background pid");
        let alive = std::path::Path::new(&format!("/proc/{left}")).exists();
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(left),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(left),
            nix::sys::signal::Signal::SIGKILL,
        );
        assert!(alive, "the background process was killed");
        // A child that never reads a large input: no hang, its status is what counts.
        let r = run_bounded(
            &["true"],
            Some(&vec![b'x'; 1 << 20]),
            Duration::from_secs(10),
        )
        .expect("runs");
        assert!(r.ok(), "{r:?}");
    }

    #[tokio::test]
    async fn the_async_form_runs_on_the_callers_runtime() {
        let r = run(
            vec!["sh".into(), "-c".into(), "head -c 5; exit 2".into()],
            Some(b"hello world".to_vec()),
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert_eq!((r.status, r.stdout.as_str()), (Some(2), "hello"));
        let e = run(
            vec!["/nonexistent/prog".into()],
            None,
            Duration::from_secs(1),
        )
        .await
        .expect_err("no such program");
        assert!(e.starts_with("cannot run `/nonexistent/prog`"), "{e}");
        // The synchronous form, called (wrongly) on the runtime's own thread, still runs.
        let r = run_bounded(&["sh", "-c", "exit 0"], None, Duration::from_secs(10)).expect("runs");
        assert!(r.ok(), "{r:?}");
    }

    #[test]
    fn a_child_leads_a_process_group_of_its_own() {
        // Field 5 of /proc/self/stat is the process group: the shell's own pid when it leads
        // one, dockhand's group when it shares it (and a terminal's Ctrl-C would reach it).
        let r = run_bounded(
            &["sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"],
            None,
            Duration::from_secs(5),
        )
        .expect("runs");
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{r:?}");
        assert_eq!(lines[0], lines[1], "the child's pid and group: {r:?}");
        let ours = nix::unistd::getpgrp().as_raw().to_string();
        assert_ne!(lines[1], ours, "the child shares dockhand's group");
    }
}
