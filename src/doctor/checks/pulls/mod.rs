//! Checks of the pulls area; see docs/checks/pulls.md.
//!
//! `pulls.stalled`: an image download that stopped for good. dockerd downloads each layer blob
//! into `<tmp>/GetImageBlob<n>` (`<tmp>` is `$DOCKER_TMPDIR`, else `<data-root>/tmp`) and its
//! registry transport has no body-read timeout, so a registry or network that stops sending
//! mid-blob leaves the pull waiting forever, with the file open at a fixed size (moby#15951,
//! #6928, #12823). Everything here comes from /proc and the file itself, not from the engine:
//! the check still works when the daemon does not answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Ctx, Probe, ms, probe};
use crate::doctor::{Finding, Status};
use crate::runtime::blocking;
use crate::runtime::daemon::{Located, ServiceManager};
use crate::runtime::host::ProcRow;
use crate::util::{human_age, human_bytes};

pub fn probes() -> Vec<Probe> {
    vec![probe!("pulls.stalled", stalled)]
}

const ID: &str = "pulls.stalled";
/// The name dockerd gives its blob download files (`os.CreateTemp("", "GetImageBlob")`).
const BLOB_PREFIX: &str = "GetImageBlob";
/// Samples taken across the window, the first at its start and the last at its end.
const SAMPLES: u32 = 4;
/// Evidence lists at most this many downloads.
const MAX_LISTED: usize = 20;

/// One look at a download file through dockerd's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Since the first sample.
    pub at: Duration,
    pub bytes: u64,
    /// The descriptor's file offset (`pos:` in /proc/<pid>/fdinfo/<fd>). While dockerd
    /// downloads, it appends through this descriptor, so the offset is the size; once the blob
    /// is complete it seeks back to 0 and the layer is extracted from it.
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

/// Classifies one download from its samples (`None`: the descriptor was gone or pointed
/// elsewhere at that sample) and how long ago the file was last modified, at the last sample.
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

/// A download file dockerd holds open.
#[derive(Debug, Clone)]
struct Download {
    fd: u32,
    path: PathBuf,
    ino: u64,
}

/// What the scan of dockerd's descriptors found.
struct Scan {
    tmp_dir: PathBuf,
    tmp_source: &'static str,
    downloads: Vec<Download>,
}

/// `<tmp>` as dockerd resolves it: `$DOCKER_TMPDIR` from its environment (readable as root),
/// else `<data-root>/tmp`; canonical, because descriptor targets are.
fn tmp_dir(pid: i32, data_root: &Path) -> (PathBuf, &'static str) {
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let from_env = env
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"DOCKER_TMPDIR="))
        .filter(|v| !v.is_empty())
        .map(|v| PathBuf::from(String::from_utf8_lossy(v).into_owned()));
    let (dir, source) = match from_env {
        Some(d) => (d, "DOCKER_TMPDIR"),
        None => (data_root.join("tmp"), "data root"),
    };
    (std::fs::canonicalize(&dir).unwrap_or(dir), source)
}

/// dockerd's open `GetImageBlob*` files in its tmp dir, from /proc/<pid>/fd. Files already
/// deleted are complete downloads being cleaned up, not downloads.
fn scan(pid: i32, data_root: &Path) -> std::io::Result<Scan> {
    use std::os::unix::fs::MetadataExt;
    let (tmp_dir, tmp_source) = tmp_dir(pid, data_root);
    let mut downloads = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        // Descriptors close while we look: skip what vanished.
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let is_blob = target.parent() == Some(tmp_dir.as_path())
            && target
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(BLOB_PREFIX) && !n.ends_with(" (deleted)"));
        if !is_blob {
            continue;
        }
        let (Ok(fd), Ok(meta)) = (
            e.file_name().to_string_lossy().parse::<u32>(),
            std::fs::metadata(e.path()),
        ) else {
            continue;
        };
        if meta.is_file() {
            downloads.push(Download {
                fd,
                path: target,
                ino: meta.ino(),
            });
        }
    }
    downloads.sort_by_key(|d| d.fd);
    Ok(Scan {
        tmp_dir,
        tmp_source,
        downloads,
    })
}

/// One sample of each download: size and offset through dockerd's descriptor (fstat of
/// /proc/<pid>/fd/<n> follows the open file, not the name), and the mtime's age. `None` when
/// the descriptor closed or now points at another file.
fn sample(pid: i32, downloads: &[Download]) -> Vec<Option<(u64, u64, Option<Duration>)>> {
    use std::os::unix::fs::MetadataExt;
    let now = SystemTime::now();
    downloads
        .iter()
        .map(|d| {
            let meta = std::fs::metadata(format!("/proc/{pid}/fd/{}", d.fd)).ok()?;
            if meta.ino() != d.ino {
                return None;
            }
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", d.fd)).ok()?;
            let pos = info
                .lines()
                .find_map(|l| l.strip_prefix("pos:"))
                .and_then(|v| v.trim().parse().ok())?;
            let idle = meta
                .modified()
                .ok()
                .map(|m| now.duration_since(m).unwrap_or_default());
            Some((meta.len(), pos, idle))
        })
        .collect()
}

pub async fn stalled(ctx: &Ctx<'_>) -> Finding {
    let stalled_after = Duration::from_secs_f64(ctx.th(ID, "stalled_after_s").max(0.0));
    // The window must leave room for the reads inside the probe's deadline.
    let cap = ctx
        .probe_deadline()
        .saturating_sub(ctx.timeout() + Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let asked = Duration::from_secs_f64(ctx.th(ID, "sample_ms").max(0.0) / 1000.0);
    let window = asked.min(cap);

    let d = match ctx.located().await {
        Ok(Located::Found(d)) => d,
        Ok(Located::NotRunning { unreadable, .. }) if *unreadable > 0 => {
            // Without root the socket's owner cannot be found: the daemon may well be running.
            return Finding::new(
                Status::Unknown,
                format!(
                    "cannot see dockerd's downloads: its process could not be identified ({unreadable} processes' open files are unreadable to this user)"
                ),
            )
            .remedy("Run dockhand as root to see dockerd's downloads.")
            .evidence(json!({ "pid": null, "unreadable_processes": unreadable }));
        }
        Ok(Located::NotRunning { .. }) => {
            return Finding::new(
                Status::Unknown,
                "dockerd is not running on this host, so no download can be looked at (see daemon.reachable)",
            )
            .evidence(json!({ "pid": null }));
        }
        Err(crate::facts::Gap::Remote { .. }) => {
            return Finding::new(
                Status::Unknown,
                "the daemon is on another host: its downloads cannot be seen from here",
            )
            .evidence(json!({ "pid": null }));
        }
        Ok(Located::Remote) | Err(_) => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "looking for the dockerd process in /proc did not finish within {}",
                    ms(ctx.timeout())
                ),
            )
            .evidence(json!({ "pid": null }));
        }
    };
    let pid = d.info.pid;
    let data_root = d.paths.data_root.clone();
    let root = data_root.clone();
    let found = match blocking(ctx.timeout(), move || scan(pid, &root)).await {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            let evidence = json!({ "pid": pid, "data_root": data_root, "error": e.to_string() });
            return if e.kind() == std::io::ErrorKind::PermissionDenied {
                Finding::new(
                    Status::Unknown,
                    format!("cannot read dockerd's open files (/proc/{pid}/fd: permission denied)"),
                )
                .remedy("Run dockhand as root to see dockerd's downloads.")
                .evidence(evidence)
            } else {
                Finding::new(
                    Status::Unknown,
                    format!("cannot read dockerd's open files (/proc/{pid}/fd): {e}"),
                )
                .evidence(evidence)
            };
        }
        None => {
            return Finding::new(
                Status::Unknown,
                format!(
                    "reading dockerd's open files (/proc/{pid}/fd) did not finish within {}",
                    ms(ctx.timeout())
                ),
            )
            .evidence(json!({ "pid": pid, "data_root": data_root }));
        }
    };
    let mut evidence = json!({
        "pid": pid,
        "tmp_dir": found.tmp_dir,
        "tmp_dir_source": found.tmp_source,
        "window_ms": crate::util::millis(window),
        "stalled_after_s": stalled_after.as_secs_f64(),
        "downloads": [],
    });
    if found.downloads.is_empty() {
        // The clean case: nothing to sample, so no waiting.
        return Finding::new(
            Status::Ok,
            format!(
                "no image download in progress (dockerd pid {pid} holds no {BLOB_PREFIX} file in {})",
                found.tmp_dir.display()
            ),
        )
        .evidence(evidence);
    }

    // Something is downloading: watch it for the window.
    let downloads = found.downloads;
    let t0 = Instant::now();
    let mut rows: Vec<Vec<Option<Sample>>> = vec![Vec::new(); downloads.len()];
    let mut idle: Vec<Option<Duration>> = vec![None; downloads.len()];
    for i in 0..SAMPLES {
        if i > 0 {
            let due = t0 + window * i / (SAMPLES - 1);
            tokio::time::sleep_until(due.into()).await;
        }
        let at = t0.elapsed();
        let dl = downloads.clone();
        let got = blocking(ctx.timeout(), move || sample(pid, &dl))
            .await
            .unwrap_or_else(|| vec![None; downloads.len()]);
        for (k, s) in got.into_iter().enumerate() {
            rows[k].push(s.map(|(bytes, pos, _)| Sample { at, bytes, pos }));
            if let Some((_, _, age)) = s {
                idle[k] = age;
            }
        }
    }
    let results: Vec<(&Download, Progress, Option<Sample>)> = downloads
        .iter()
        .zip(&rows)
        .zip(&idle)
        .map(|((d, r), age)| {
            (
                d,
                classify(r, *age, window, stalled_after),
                r.iter().rev().flatten().next().copied(),
            )
        })
        .collect();
    let listed: Vec<Value> = results
        .iter()
        .take(MAX_LISTED)
        .map(|(d, p, last)| {
            let mut v = json!({
                "path": d.path,
                "fd": d.fd,
                "bytes": last.map(|s| s.bytes),
                "position": last.map(|s| s.pos),
                "state": p.name(),
            });
            if let (Some(o), Ok(Value::Object(extra))) =
                (v.as_object_mut(), serde_json::to_value(p))
            {
                o.extend(extra.into_iter().filter(|(k, _)| k != "state"));
            }
            v
        })
        .collect();
    if let Some(o) = evidence.as_object_mut() {
        o.insert("downloads".into(), Value::Array(listed));
        if results.len() > MAX_LISTED {
            o.insert("downloads_total".into(), json!(results.len()));
        }
    }

    let stalled: Vec<_> = results
        .iter()
        .filter_map(|(d, p, last)| match p {
            Progress::Stalled { idle_s } => Some((*d, *idle_s, last.map_or(0, |s| s.bytes))),
            _ => None,
        })
        .collect();
    if let Some(&(first, idle_s, bytes)) = stalled.first() {
        let clients = pull_clients(ctx).await;
        let images: Vec<String> = clients.iter().filter_map(|(_, _, i)| i.clone()).collect();
        if let Some(o) = evidence.as_object_mut() {
            o.insert(
                "pull_clients".into(),
                Value::Array(
                    clients
                        .iter()
                        .take(MAX_LISTED)
                        .map(|(pid, cmd, image)| json!({ "pid": pid, "cmdline": cmd, "image": image }))
                        .collect(),
                ),
            );
        }
        let more = match stalled.len() {
            1 => String::new(),
            n => format!(
                " (and {} more stalled download{})",
                n - 1,
                if n == 2 { "" } else { "s" }
            ),
        };
        let summary = format!(
            "a pull is stalled: dockerd (pid {pid}) holds {} open at {} and it has not grown for {}{more}",
            first.path.display(),
            human_bytes(bytes),
            human_age(idle_s as u64),
        );
        let retry = if images.is_empty() {
            "`dockhand pull <image>`".to_string()
        } else {
            images
                .iter()
                .map(|i| format!("`dockhand pull {i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let remedy = format!(
            "Pulls cannot be cancelled through the API. Confirm the stall (run this check again: the file stays at {}; `kill -USR1 {pid}` dumps goroutines, with the transfer's network read stuck), then run `dockhand recover` (a live-restore-aware daemon restart), then retry the pull: {retry}. By hand: {} (without live-restore this stops every container), then pull again.",
            human_bytes(bytes),
            manual_restart(&d.service, pid),
        );
        return Finding::new(Status::Critical, summary)
            .remedy(remedy)
            .evidence(evidence);
    }

    let summary = progress_summary(&results);
    Finding::new(Status::Ok, summary).evidence(evidence)
}

/// The sentence for downloads that are not stalled.
fn progress_summary(results: &[(&Download, Progress, Option<Sample>)]) -> String {
    let name = |d: &Download| {
        d.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let bytes = |s: &Option<Sample>| human_bytes(s.map_or(0, |s| s.bytes));
    let growing: Vec<_> = results
        .iter()
        .filter_map(|(d, p, s)| match p {
            Progress::Growing { bytes_per_s } => Some((d, *bytes_per_s, s)),
            _ => None,
        })
        .collect();
    let others = results.len().saturating_sub(1);
    let also = if others == 0 {
        String::new()
    } else {
        format!(
            " ({} download{} in all)",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        )
    };
    if let Some((d, rate, s)) = growing.first() {
        return format!(
            "pull in progress: {} at {}, growing {}/s{also}",
            name(d),
            bytes(s),
            human_bytes(*rate as u64)
        );
    }
    if let Some((d, Progress::Idle { idle_s }, s)) = results
        .iter()
        .find(|(_, p, _)| matches!(p, Progress::Idle { .. }))
    {
        return format!(
            "pull in progress: {} at {}, idle for {} (not yet counted as stalled){also}",
            name(d),
            bytes(s),
            human_age(*idle_s as u64)
        );
    }
    if let Some((d, _, s)) = results
        .iter()
        .find(|(_, p, _)| matches!(p, Progress::Downloaded))
    {
        return format!(
            "pull in progress: {} is complete at {} and being extracted{also}",
            name(d),
            bytes(s)
        );
    }
    "the downloads in progress finished while being watched".into()
}

/// The exact manual restart for the daemon's service manager.
pub fn manual_restart(service: &ServiceManager, pid: i32) -> String {
    match service {
        ServiceManager::Systemd { unit } => {
            format!("restart the daemon through systemd, `systemctl restart {unit}`")
        }
        ServiceManager::Openrc => {
            "restart the daemon through OpenRC, `rc-service docker restart`".into()
        }
        ServiceManager::Sysvinit { script } => {
            format!("restart the daemon through its init script, `{script} restart`")
        }
        ServiceManager::None { parent_pid, parent } => format!(
            "no service manager runs this daemon (it was started by {parent}, pid {parent_pid}): stop it (`kill -TERM {pid}`) and start it again the way it was started"
        ),
    }
}

/// `docker pull` clients on this host: (pid, command line, image).
async fn pull_clients(ctx: &Ctx<'_>) -> Vec<(i32, String, Option<String>)> {
    let Ok(procs) = ctx.processes().await else {
        return Vec::new();
    };
    procs
        .iter()
        .filter_map(|p: &ProcRow| {
            let image = pulled_image(&p.cmdline)?;
            Some((p.pid, p.cmdline.join(" "), Some(image)))
        })
        .collect()
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
    fn manual_restart_follows_the_service_manager() {
        let cases = [
            (
                ServiceManager::Systemd {
                    unit: "docker.service".into(),
                },
                "`systemctl restart docker.service`",
            ),
            (ServiceManager::Openrc, "`rc-service docker restart`"),
            (
                ServiceManager::Sysvinit {
                    script: "/etc/init.d/docker".into(),
                },
                "`/etc/init.d/docker restart`",
            ),
            (
                ServiceManager::None {
                    parent_pid: 7,
                    parent: "bash".into(),
                },
                "`kill -TERM 42`",
            ),
        ];
        for (svc, want) in cases {
            let got = manual_restart(&svc, 42);
            assert!(got.contains(want), "{svc:?}: {got}");
        }
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
