//! Running another program under a deadline: the service managers (systemctl, rc-service, an
//! init script), journalctl, a docker credential helper. The program is killed when it
//! overruns; its output is captured, bounded.
//!
//! Every child runs in a process group of its own (`process_group(0)`): a Ctrl-C in dockhand's
//! terminal goes to the terminal's foreground group, so it reaches dockhand only, never a
//! `systemctl stop docker` or an init script half-way through. dockhand's cooperative shutdown
//! then lets the child in flight finish (bounded by its deadline) and journals it.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// At most this much of a program's stdout or stderr is kept: a log tail, a helper's JSON.
const MAX_OUTPUT: usize = 4 << 20;

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

fn read_bounded<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(r) = r {
            let _ = r.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `argv` with `input` on stdin (or none), capturing stdout and stderr, killing it when it
/// overruns `deadline`. Synchronous: call it through `runtime::blocking`.
pub fn run_bounded(
    argv: &[&str],
    input: Option<&[u8]>,
    deadline: Duration,
) -> std::io::Result<Ran> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    if let (Some(mut stdin), Some(data)) = (child.stdin.take(), input) {
        let data = data.to_vec();
        // A helper that never reads its stdin must not block us: written from a thread.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let out = read_bounded(child.stdout.take());
    let err = read_bounded(child.stderr.take());
    let end = Instant::now() + deadline;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= end {
            timed_out = true;
            // The whole group: a script's own children would otherwise live on holding our
            // pipes. The group is the child's (it leads it) and, unreaped, its id cannot be
            // reused.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Ran {
        status: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    })
}

/// [`run_bounded`] off the async thread: `Err` says, in one clause, why it could not be run.
pub async fn run(
    argv: Vec<String>,
    input: Option<Vec<u8>>,
    deadline: Duration,
) -> Result<Ran, String> {
    let shown = crate::util::sanitize(&argv.join(" "));
    let r = super::blocking(deadline + Duration::from_secs(2), move || {
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_bounded(&a, input.as_deref(), deadline)
    })
    .await;
    match r {
        Some(Ok(ran)) => Ok(ran),
        Some(Err(e)) => Err(format!("cannot run `{shown}`: {e}")),
        None => Err(format!("`{shown}` did not finish in time")),
    }
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
