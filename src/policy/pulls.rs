//! Verdicts of the pulls area (see [`crate::policy`]): what samples of a download say — growing,
//! downloaded, finished, idle or stalled — and which image a `docker pull` command line pulls.
//!
//! Pure: samples in, a [`Progress`] out. `doctor`'s pulls.stalled samples dockerd's
//! `GetImageBlob*` files; `dockhand pull`'s stall watchdog can sample whatever it watches (the
//! same files, or the bytes its own pull has received) and ask [`classify`] the same question.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// One look at a download: its size and the writer's file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Since the first sample.
    pub at: Duration,
    /// The bytes downloaded so far (the file's size).
    pub bytes: u64,
    /// The writer's file offset (for dockerd, `pos:` in /proc/<pid>/fdinfo/<fd>). While dockerd
    /// downloads, it appends through this descriptor, so the offset is the size; once the blob
    /// is complete it seeks back to 0 and the layer is extracted from it. A watcher that only
    /// knows a byte count passes `pos == bytes`: the download then never reads as `downloaded`.
    pub pos: u64,
}

/// What the samples of one download say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Progress {
    /// The file grew during the window: a healthy download.
    Growing { bytes_per_s: f64 },
    /// Complete and handed over: the offset moved or sits before the end — the layer is being
    /// extracted, or waits for the layer below it.
    Downloaded,
    /// Closed (or replaced) during the window: the download ended.
    Finished,
    /// Did not grow during the window, but was written `idle_s` ago: slow, not yet stalled.
    Idle { idle_s: f64 },
    /// Did not grow during the window and was last written `idle_s` ago, at least the stall
    /// threshold.
    Stalled { idle_s: f64 },
}

impl Progress {
    /// The state's name, as evidence and docs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Progress::Growing { .. } => "growing",
            Progress::Downloaded => "downloaded",
            Progress::Finished => "finished",
            Progress::Idle { .. } => "idle",
            Progress::Stalled { .. } => "stalled",
        }
    }
}

/// Classifies one download from its samples across a window (`None`: the download was gone, or
/// was another file, at that sample) and how long ago it last changed (the file's mtime age at
/// the last sample; `None`: unknown, only the span watched counts).
/// A download counts as stalled only when nothing moved during the window *and* the file was
/// not modified for at least `max(window, stalled_after)`: a slow link may pause for a moment,
/// a stalled transfer never resumes.
pub fn classify(
    samples: &[Option<Sample>],
    idle: Option<Duration>,
    window: Duration,
    stalled_after: Duration,
) -> Progress {
    let seen: Vec<Sample> = samples.iter().flatten().copied().collect();
    let (Some(first), Some(last)) = (seen.first(), seen.last()) else {
        return Progress::Finished;
    };
    if seen.len() < samples.len() {
        return Progress::Finished;
    }
    if last.bytes != first.bytes {
        let secs = last.at.saturating_sub(first.at).as_secs_f64();
        let grown = last.bytes.saturating_sub(first.bytes) as f64;
        return Progress::Growing {
            bytes_per_s: if secs > 0.0 { grown / secs } else { 0.0 },
        };
    }
    if seen.iter().any(|s| s.pos != first.pos) || last.pos < last.bytes {
        return Progress::Downloaded;
    }
    // Unchanged: idle since the last modification; without an mtime, for the span watched.
    let idle = idle.unwrap_or_else(|| last.at.saturating_sub(first.at));
    if idle >= window.max(stalled_after) {
        Progress::Stalled {
            idle_s: idle.as_secs_f64(),
        }
    } else {
        Progress::Idle {
            idle_s: idle.as_secs_f64(),
        }
    }
}

/// The image a `docker pull` / `docker image pull` command line pulls, if it is one.
pub fn pulled_image(cmdline: &[String]) -> Option<String> {
    let prog = Path::new(cmdline.first()?).file_name()?.to_str()?;
    if !matches!(prog, "docker" | "docker.io" | "podman" | "nerdctl") {
        return None;
    }
    // Global flags that take a value as the next word.
    const VALUED: &[&str] = &[
        "-H",
        "--host",
        "-c",
        "--context",
        "--config",
        "-l",
        "--log-level",
    ];
    let mut args = cmdline.iter().skip(1);
    let mut words = Vec::new();
    while let Some(a) = args.next() {
        if a.starts_with('-') {
            if VALUED.contains(&a.as_str()) {
                args.next();
            }
            continue;
        }
        words.push(a.as_str());
        match words.as_slice() {
            ["pull"] | ["image", "pull"] => break,
            ["image"] => {}
            _ => return None,
        }
    }
    if words.last() != Some(&"pull") {
        return None;
    }
    while let Some(a) = args.next() {
        if a == "--platform" {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64, bytes: u64, pos: u64) -> Option<Sample> {
        Some(Sample {
            at: Duration::from_millis(at_ms),
            bytes,
            pos,
        })
    }

    const W: Duration = Duration::from_millis(1500);
    const AFTER: Duration = Duration::from_secs(30);

    #[test]
    fn classify_table() {
        let secs = Duration::from_secs;
        // (what, samples, mtime age at the end, expected state)
        type Case = (
            &'static str,
            Vec<Option<Sample>>,
            Option<Duration>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "grows",
                vec![
                    s(0, 100, 100),
                    s(500, 200, 200),
                    s(1000, 300, 300),
                    s(1500, 400, 400),
                ],
                Some(secs(0)),
                "growing",
            ),
            (
                "unchanged, last written long ago",
                vec![
                    s(0, 400, 400),
                    s(500, 400, 400),
                    s(1000, 400, 400),
                    s(1500, 400, 400),
                ],
                Some(secs(31)),
                "stalled",
            ),
            (
                "unchanged, written at the threshold",
                vec![s(0, 400, 400), s(1500, 400, 400)],
                Some(secs(30)),
                "stalled",
            ),
            (
                "unchanged but written a moment ago: slow, not stalled",
                vec![s(0, 400, 400), s(1500, 400, 400)],
                Some(secs(5)),
                "idle",
            ),
            (
                "unchanged, mtime unknown: only the span watched is known",
                vec![s(0, 400, 400), s(1500, 400, 400)],
                None,
                "idle",
            ),
            (
                "closed during the window",
                vec![s(0, 400, 400), s(500, 400, 400), None, None],
                Some(secs(60)),
                "finished",
            ),
            ("never seen", vec![None, None], None, "finished"),
            (
                "complete, being extracted (offset moves)",
                vec![s(0, 400, 0), s(500, 400, 100), s(1500, 400, 300)],
                Some(secs(60)),
                "downloaded",
            ),
            (
                "complete, waiting for the layer below (offset at 0)",
                vec![s(0, 400, 0), s(1500, 400, 0)],
                Some(secs(60)),
                "downloaded",
            ),
            (
                "empty file, never answered",
                vec![s(0, 0, 0), s(1500, 0, 0)],
                Some(secs(120)),
                "stalled",
            ),
        ];
        for (what, samples, idle, want) in cases {
            let got = classify(&samples, idle, W, AFTER);
            assert_eq!(got.name(), want, "{what}: {got:?}");
        }
    }

    #[test]
    fn growth_rate_is_per_second_of_window() {
        let got = classify(
            &[s(0, 0, 0), s(750, 1024, 1024), s(1500, 3072, 3072)],
            Some(Duration::ZERO),
            W,
            AFTER,
        );
        assert_eq!(
            got,
            Progress::Growing {
                bytes_per_s: 2048.0
            }
        );
    }

    #[test]
    fn a_threshold_below_the_window_still_needs_the_window() {
        // stalled_after 0: a file unchanged across the window but modified within it is not
        // stalled (it was not left alone for the whole window).
        let got = classify(
            &[s(0, 5, 5), s(1500, 5, 5)],
            Some(Duration::from_millis(200)),
            W,
            Duration::ZERO,
        );
        assert_eq!(got.name(), "idle", "{got:?}");
        let got = classify(
            &[s(0, 5, 5), s(1500, 5, 5)],
            Some(Duration::from_millis(1600)),
            W,
            Duration::ZERO,
        );
        assert_eq!(got.name(), "stalled", "{got:?}");
    }

    #[test]
    fn pulled_image_reads_pull_command_lines() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let cases = [
            ("docker pull alpine:3", Some("alpine:3")),
            (
                "/usr/bin/docker -H unix:///x.sock pull 127.0.0.1:5000/big:1",
                Some("127.0.0.1:5000/big:1"),
            ),
            ("docker image pull -q nginx", Some("nginx")),
            ("docker pull --platform linux/arm64 nginx", Some("nginx")),
            ("docker run pull", None),
            ("docker logs -f pull", None),
            ("dockerd --pull x", None),
            ("sh -c docker pull x", None),
            ("docker pull", None),
        ];
        for (cmd, want) in cases {
            assert_eq!(pulled_image(&v(cmd)).as_deref(), want, "{cmd}");
        }
    }
}
