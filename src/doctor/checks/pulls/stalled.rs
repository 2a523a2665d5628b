//! `pulls.stalled`: an image download that stopped for good. dockerd downloads each layer blob
//! into `<tmp>/GetImageBlob<n>` (`<tmp>` is `$DOCKER_TMPDIR`, else `<data-root>/tmp`) and its
//! registry transport has no body-read timeout, so a registry or network that stops sending
//! mid-blob leaves the pull waiting forever, with the file open at a fixed size (moby#15951,
//! #6928, #12823).
//!
//! Under the containerd image store dockerd fetches the blobs but containerd writes them, into
//! its content store: `<root>/io.containerd.content.v1.content/ingest/<hash>/data`, held open by
//! containerd until the blob is committed (for the containerd dockerd starts itself, `<root>` is
//! `<data-root>/containerd/daemon`). So the daemon's containerd is looked at too, whatever the
//! store (its descriptors say it without the engine): an ingest counts when its `ref` names the
//! daemon's containerd namespace — one containerd may serve several clients (BuildKit, another
//! dockerd, Kubernetes' `k8s.io`) — and one whose ref cannot be read or trusted is left out and
//! counted as such. Ingests containerd no longer holds open are writes abandoned, kept for a
//! later pull to resume: not downloads.
//!
//! Looks at the open descriptors of dockerd and its containerd (from /proc and the files
//! themselves, not the engine: it still works when the daemon does not answer); only when some
//! are download files, samples them across a window and lets [`classify`] judge each.
//!
//! Never flags: a download that grows, one that is complete and being extracted (its offset
//! moved or sits before the end), one closed during the window, one unchanged but written less
//! than `stalled_after_s` ago (a slow link), deleted download files (complete, being cleaned
//! up), files in `<tmp>` dockerd does not hold open (storage.tmp's business).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::doctor::checks::{Ctx, ms};
use crate::doctor::{Finding, Fix, Status};
use crate::policy::pulls::{Progress, Sample, classify, pulled_image};
use crate::runtime::containerd;
use crate::runtime::daemon::DaemonProcess;
use crate::runtime::daemon::ServiceManager;
use crate::runtime::host::ProcRow;
use crate::runtime::{blocking, proc};
use crate::util::{human_age, human_bytes};

const ID: &str = "pulls.stalled";
/// The name dockerd gives its blob download files (`os.CreateTemp("", "GetImageBlob")`).
const BLOB_PREFIX: &str = "GetImageBlob";
/// Samples taken across the window, the first at its start and the last at its end.
const SAMPLES: u32 = 4;
/// Evidence lists at most this many downloads.
const MAX_LISTED: usize = 20;

/// A download file a process of the daemon holds open.
#[derive(Debug, Clone)]
struct Download {
    /// The process holding it: dockerd (a file in its tmp) or its containerd (an ingest).
    pid: i32,
    holder: &'static str,
    fd: u32,
    path: PathBuf,
    ino: u64,
}

impl Download {
    /// A short name for sentences: the tmp file's name, or `ingest <hash prefix>`.
    fn shown(&self) -> String {
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        if self.holder == CONTAINERD {
            let hash = name(self.path.parent());
            format!("ingest {}", hash.get(..12).unwrap_or(&hash))
        } else {
            name(Some(&self.path))
        }
    }
}

const DOCKERD: &str = "dockerd";
const CONTAINERD: &str = "containerd";

/// The daemon's containerd as this check looks at it.
#[derive(Debug, Clone, Default)]
struct Containerds {
    /// (pid, user) of each containerd whose ingests may be the daemon's downloads.
    procs: Vec<(i32, u32)>,
    /// The daemon's containerd namespace: the ingests of this one are its downloads.
    namespace: String,
    /// Why no containerd was looked at, when the process table could not be read.
    not_seen: Option<String>,
}

/// What the scan of the descriptors found.
struct Scan {
    tmp_dir: PathBuf,
    tmp_source: &'static str,
    downloads: Vec<Download>,
    /// Ingests held open for another namespace: another client's downloads.
    other_namespaces: usize,
    /// Ingests whose ref could not be read or trusted: not counted.
    unattributed: usize,
}

/// `<tmp>` as dockerd resolves it: `$DOCKER_TMPDIR` from its environment (readable as root),
/// else `<data-root>/tmp`; canonical, because descriptor targets are.
fn tmp_dir(pid: i32, data_root: &Path) -> (PathBuf, &'static str) {
    let from_env = proc::env_var(pid, "DOCKER_TMPDIR")
        .filter(|v| !v.is_empty())
        .map(|v| PathBuf::from(String::from_utf8_lossy(&v).into_owned()));
    let (dir, source) = match from_env {
        Some(d) => (d, "DOCKER_TMPDIR"),
        None => (data_root.join("tmp"), "data root"),
    };
    (std::fs::canonicalize(&dir).unwrap_or(dir), source)
}

/// dockerd's open `GetImageBlob*` files in its tmp dir, from /proc/<pid>/fd, and the ingests
/// of the daemon's namespace its containerd holds open. Files already deleted are complete
/// downloads being cleaned up, not downloads. `Ok(None)`: a walk ran out of time.
fn scan(
    pid: i32,
    data_root: &Path,
    stores: &Containerds,
    until: Instant,
) -> Result<Option<Scan>, proc::FdError> {
    use std::os::unix::fs::MetadataExt;
    let (tmp_dir, tmp_source) = tmp_dir(pid, data_root);
    let mut downloads = Vec::new();
    let walk = proc::fds(pid, until)?;
    if walk.cut_short {
        return Ok(None);
    }
    // Descriptors close while we look: the walk leaves out what vanished.
    for proc::Fd { fd, target } in walk.fds {
        let is_blob = target.parent() == Some(tmp_dir.as_path())
            && target
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(BLOB_PREFIX) && !n.ends_with(" (deleted)"));
        if !is_blob {
            continue;
        }
        let (Ok(fd), Ok(meta)) = (u32::try_from(fd), std::fs::metadata(proc::fd_path(pid, fd)))
        else {
            continue;
        };
        if meta.is_file() {
            downloads.push(Download {
                pid,
                holder: DOCKERD,
                fd,
                path: target,
                ino: meta.ino(),
            });
        }
    }
    downloads.sort_by_key(|d| d.fd);
    let (mut other_namespaces, mut unattributed) = (0, 0);
    for &(cpid, uid) in &stores.procs {
        let walk = match proc::fds(cpid, until) {
            Ok(w) => w,
            // Gone (restarted) or out of sight: its downloads are not seen; dockerd's were.
            Err(_) => continue,
        };
        if walk.cut_short {
            return Ok(None);
        }
        let mut found = Vec::new();
        for proc::Fd { fd, target } in walk.fds {
            if !containerd::is_ingest_data(&target) {
                continue;
            }
            let (Ok(fd), Ok(meta)) = (
                u32::try_from(fd),
                std::fs::metadata(proc::fd_path(cpid, fd)),
            ) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let text = containerd::read_ingest_ref(&target, uid);
            match text.as_deref().and_then(containerd::ingest_namespace) {
                Some(ns) if ns == stores.namespace => found.push(Download {
                    pid: cpid,
                    holder: CONTAINERD,
                    fd,
                    path: target,
                    ino: meta.ino(),
                }),
                Some(_) => other_namespaces += 1,
                None => unattributed += 1,
            }
        }
        found.sort_by_key(|d| d.fd);
        downloads.extend(found);
    }
    Ok(Some(Scan {
        tmp_dir,
        tmp_source,
        downloads,
        other_namespaces,
        unattributed,
    }))
}

/// The daemon's containerd processes (see [`containerd::daemon_containerds`]) and namespace.
async fn containerds(ctx: &Ctx<'_>, d: &DaemonProcess) -> Containerds {
    let dj = ctx.daemon_json().await;
    let json = dj.value.as_ref().and_then(|v| v.as_ref().ok());
    let of = containerd::containerd_of(&d.info.cmdline, json, &d.paths.exec_root);
    match ctx.processes().await {
        Ok(procs) => Containerds {
            procs: containerd::daemon_containerds(
                procs,
                d.info.pid,
                d.uid,
                &of,
                &d.paths.exec_root,
            )
            .into_iter()
            .map(|pid| {
                let uid = procs.iter().find(|p| p.pid == pid).and_then(|p| p.uid);
                (pid, uid.unwrap_or(d.uid))
            })
            .collect(),
            namespace: of.namespace,
            not_seen: None,
        },
        Err(gap) => Containerds {
            procs: Vec::new(),
            namespace: of.namespace,
            not_seen: Some(gap.to_string()),
        },
    }
}

/// One sample of each download: size and offset through its holder's descriptor (fstat of
/// /proc/<pid>/fd/<n> follows the open file, not the name), and the mtime's age. `None` when
/// the descriptor closed or now points at another file.
fn sample(downloads: &[Download]) -> Vec<Option<(u64, u64, Option<Duration>)>> {
    use std::os::unix::fs::MetadataExt;
    let now = SystemTime::now();
    downloads
        .iter()
        .map(|d| {
            let fd = i32::try_from(d.fd).ok()?;
            let meta = std::fs::metadata(proc::fd_path(d.pid, fd)).ok()?;
            if meta.ino() != d.ino {
                return None;
            }
            let pos = proc::fd_pos(d.pid, fd)?;
            let idle = meta
                .modified()
                .ok()
                .map(|m| now.duration_since(m).unwrap_or_default());
            Some((meta.len(), pos, idle))
        })
        .collect()
}

/// A download's verdict and its last sample.
type Judged<'a> = (&'a Download, Progress, Option<Sample>);

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let (window, stalled_after) = window_and_threshold(ctx);
    let d = match ctx.located_daemon().await {
        Ok(d) => d,
        Err(f) => return f,
    };
    let pid = d.info.pid;
    let stores = containerds(ctx, d).await;
    let found = match scan_downloads(ctx, pid, &d.paths.data_root, &stores).await {
        Ok(s) => s,
        Err(f) => return f,
    };
    let mut evidence = json!({
        "pid": pid,
        "tmp_dir": found.tmp_dir,
        "tmp_dir_source": found.tmp_source,
        "containerd": {
            "pids": stores.procs.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            "namespace": stores.namespace,
            "other_namespaces": found.other_namespaces,
            "unattributed": found.unattributed,
            "not_seen": stores.not_seen,
        },
        "window_ms": crate::util::millis(window),
        "stalled_after_s": stalled_after.as_secs_f64(),
        "downloads": [],
    });
    if found.downloads.is_empty() {
        // The clean case: nothing to sample, so no waiting.
        let ingests = match stores.procs.as_slice() {
            [] => String::new(),
            [(c, _)] => format!(
                ", its containerd pid {c} no ingest of namespace {}",
                stores.namespace
            ),
            many => format!(
                ", containerd pids {} no ingest of namespace {}",
                many.iter()
                    .map(|(c, _)| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                stores.namespace
            ),
        };
        return Finding::new(
            Status::Ok,
            format!(
                "no image download in progress (dockerd pid {pid} holds no {BLOB_PREFIX} file in {}{ingests})",
                found.tmp_dir.display()
            ),
        )
        .evidence(evidence);
    }

    // Something is downloading: watch it for the window.
    let downloads = found.downloads;
    let (rows, idle) = watch(ctx, &downloads, window).await;
    let results = judge(&downloads, &rows, &idle, window, stalled_after);
    add_downloads(&mut evidence, &results);
    let stalled: Vec<_> = results
        .iter()
        .filter_map(|(d, p, last)| match p {
            Progress::Stalled { idle_s } => Some((*d, *idle_s, last.map_or(0, |s| s.bytes))),
            _ => None,
        })
        .collect();
    if !stalled.is_empty() {
        return stalled_finding(ctx, pid, &stalled, &d.service, evidence).await;
    }

    let summary = progress_summary(&results);
    Finding::new(Status::Ok, summary).evidence(evidence)
}

/// The sampling window (capped so the reads fit inside the probe's deadline) and how long a
/// download may sit unchanged before it counts as stalled.
fn window_and_threshold(ctx: &Ctx<'_>) -> (Duration, Duration) {
    let stalled_after = Duration::from_secs_f64(ctx.th(ID, "stalled_after_s").max(0.0));
    // The window must leave room for the reads inside the probe's deadline.
    let cap = ctx
        .probe_deadline()
        .saturating_sub(ctx.timeout() + Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let asked = Duration::from_secs_f64(ctx.th(ID, "sample_ms").max(0.0) / 1000.0);
    (asked.min(cap), stalled_after)
}

/// Scans dockerd's descriptors under the deadline; a scan that fails or does not finish is
/// the finding itself.
async fn scan_downloads(
    ctx: &Ctx<'_>,
    pid: i32,
    data_root: &Path,
    stores: &Containerds,
) -> Result<Scan, Finding> {
    let data_root = data_root.to_path_buf();
    let root = data_root.clone();
    let until = Instant::now() + ctx.timeout();
    let fd_dir = proc::fd_dir(pid);
    let stores = stores.clone();
    match blocking(ctx.timeout(), move || scan(pid, &root, &stores, until)).await {
        Some(Ok(Some(s))) => Ok(s),
        Some(Err(e)) => {
            let (error, said) = match e {
                proc::FdError::Unreadable => ("permission denied", "permission denied"),
                proc::FdError::Gone => ("gone", "the process is gone"),
            };
            let evidence = json!({ "pid": pid, "data_root": data_root, "error": error });
            let finding = Finding::new(
                Status::Unknown,
                format!(
                    "cannot read dockerd's open files ({}: {said})",
                    fd_dir.display()
                ),
            )
            .evidence(evidence);
            Err(if e == proc::FdError::Unreadable {
                finding.remedy("Run dockhand as root to see dockerd's downloads.")
            } else {
                finding
            })
        }
        Some(Ok(None)) | None => Err(Finding::new(
            Status::Unknown,
            format!(
                "reading dockerd's open files ({}) did not finish within {}",
                fd_dir.display(),
                ms(ctx.timeout())
            ),
        )
        .evidence(json!({ "pid": pid, "data_root": data_root }))),
    }
}

/// Samples every download `SAMPLES` times spread across the window, each reading under the
/// deadline: per download, its samples and the last mtime age seen.
async fn watch(
    ctx: &Ctx<'_>,
    downloads: &[Download],
    window: Duration,
) -> (Vec<Vec<Option<Sample>>>, Vec<Option<Duration>>) {
    let t0 = Instant::now();
    let mut rows: Vec<Vec<Option<Sample>>> = vec![Vec::new(); downloads.len()];
    let mut idle: Vec<Option<Duration>> = vec![None; downloads.len()];
    for i in 0..SAMPLES {
        if i > 0 {
            let due = t0 + window * i / (SAMPLES - 1);
            tokio::time::sleep_until(due.into()).await;
        }
        let at = t0.elapsed();
        let dl = downloads.to_vec();
        let got = blocking(ctx.timeout(), move || sample(&dl))
            .await
            .unwrap_or_else(|| vec![None; downloads.len()]);
        for (k, s) in got.into_iter().enumerate() {
            rows[k].push(s.map(|(bytes, pos, _)| Sample { at, bytes, pos }));
            if let Some((_, _, age)) = s {
                idle[k] = age;
            }
        }
    }
    (rows, idle)
}

/// Lets the policy classify each download from its samples.
fn judge<'a>(
    downloads: &'a [Download],
    rows: &[Vec<Option<Sample>>],
    idle: &[Option<Duration>],
    window: Duration,
    stalled_after: Duration,
) -> Vec<Judged<'a>> {
    downloads
        .iter()
        .zip(rows)
        .zip(idle)
        .map(|((d, r), age)| {
            (
                d,
                classify(r, *age, window, stalled_after),
                r.iter().rev().flatten().next().copied(),
            )
        })
        .collect()
}

/// Puts the first `MAX_LISTED` downloads (and the total, when more) into the evidence.
fn add_downloads(evidence: &mut Value, results: &[Judged<'_>]) {
    let listed: Vec<Value> = results
        .iter()
        .take(MAX_LISTED)
        .map(|(d, p, last)| {
            let mut v = json!({
                "path": d.path,
                "holder": d.holder,
                "holder_pid": d.pid,
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
}

/// The critical finding for stalled downloads (`stalled` is not empty): the first one named,
/// the `docker pull` clients found added to the evidence and to the fix.
async fn stalled_finding(
    ctx: &Ctx<'_>,
    pid: i32,
    stalled: &[(&Download, f64, u64)],
    service: &ServiceManager,
    mut evidence: Value,
) -> Finding {
    let (first, idle_s, bytes) = stalled[0];
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
    let holder = if first.holder == CONTAINERD {
        format!("dockerd's containerd (pid {})", first.pid)
    } else {
        format!("dockerd (pid {pid})")
    };
    let summary = format!(
        "a pull is stalled: {holder} holds {} open at {} and it has not grown for {}{more}",
        first.path.display(),
        human_bytes(bytes),
        human_age(idle_s as u64),
    );
    Finding::new(Status::Critical, summary)
        .fix(fix(pid, bytes, &images, service))
        .evidence(evidence)
}

/// The sentence for downloads that are not stalled.
fn progress_summary(results: &[Judged<'_>]) -> String {
    let name = Download::shown;
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

/// Confirm, restart the daemon (`dockhand recover`), pull again; by hand, through the service
/// manager.
fn fix(pid: i32, bytes: u64, images: &[String], service: &ServiceManager) -> Fix {
    let pid_s = pid.to_string();
    let mut fix = Fix::run(
        &["kill", "-USR1", &pid_s],
        format!(
            "Pulls cannot be cancelled through the API. Confirm the stall (run this check again: the file stays at {}; `kill -USR1 {pid}` dumps goroutines, with the transfer's network read stuck),",
            human_bytes(bytes)
        ),
    )
    .then_run(
        &["dockhand", "recover"],
        "then run `dockhand recover` (a live-restore-aware daemon restart),",
    );
    if images.is_empty() {
        fix = fix.then_advice("then retry the pull: `dockhand pull <image>`.");
    }
    for (k, image) in images.iter().enumerate() {
        let text = match (k, k + 1 == images.len()) {
            (0, true) => format!("then retry the pull: `dockhand pull {image}`."),
            (0, false) => format!("then retry the pull: `dockhand pull {image}`,"),
            (_, true) => format!("`dockhand pull {image}`."),
            (_, false) => format!("`dockhand pull {image}`,"),
        };
        fix = fix.then_run(&["dockhand", "pull", image], text);
    }
    fix.then_advice(format!(
        "By hand: {} (without live-restore this stops every container), then pull again.",
        manual_restart(service, pid)
    ))
}

/// The exact manual restart for the daemon's service manager.
fn manual_restart(service: &ServiceManager, pid: i32) -> String {
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
        ServiceManager::Refused { reason } => {
            format!("restart the daemon yourself: dockhand does not, as {reason}")
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
}
