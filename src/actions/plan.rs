//! The typed plan: what a command intends to change, and why. Plans are data — printed for a dry
//! run, saved to a file (`--plan-out`) and applied later — so every type here is serialisable
//! with stable names: the `action` tag of each step is its journal kind (`container.remove`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::process::ProcTarget;

/// What was true of a container at plan time; re-checked before it is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSeen {
    /// `State.Status`: created, exited, dead …
    pub state: String,
    /// `State.FinishedAt` as the engine wrote it ("0001-01-01T00:00:00Z" when it never ran).
    /// A different value at apply time means the container ran again since the plan.
    pub finished_at: String,
}

/// A file's identity and content stamp at plan time: the same path with another inode is
/// another file; the same inode with another size or mtime was written to since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    pub size: u64,
}

impl FileStamp {
    /// The stamp of `path` itself (a symlink is not followed).
    pub fn of(path: &std::path::Path) -> std::io::Result<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path)?;
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            size: m.size(),
        })
    }
}

/// How the daemon is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum DaemonStop {
    /// `systemctl stop UNIT`, then `systemctl is-active UNIT` must not say active.
    Systemd { unit: String },
    /// `rc-service SERVICE stop` (OpenRC).
    Openrc { service: String },
    /// `SCRIPT stop` (a sysvinit script such as /etc/init.d/docker).
    Sysvinit { script: String },
    /// No service manager (or one that failed): TERM → grace → TERM again → `again` → KILL on
    /// the daemon's own process. dockerd runs its clean-up on the first TERM and gives it up
    /// on repeated ones, so the second TERM ends a shutdown that hangs, short of KILL. A zero
    /// `again` (plans saved before it existed) skips the second TERM.
    Process {
        target: ProcTarget,
        #[serde(rename = "again_ms", with = "duration_ms", default)]
        again: Duration,
    },
}

impl DaemonStop {
    /// The service manager's command line, for the managers that have one.
    pub fn argv(&self) -> Option<Vec<String>> {
        self.manager().map(|m| service_argv(m, "stop"))
    }

    fn manager(&self) -> Option<Manager<'_>> {
        match self {
            DaemonStop::Systemd { unit } => Some(Manager::Systemd(unit)),
            DaemonStop::Openrc { service } => Some(Manager::Openrc(service)),
            DaemonStop::Sysvinit { script } => Some(Manager::Sysvinit(script)),
            DaemonStop::Process { .. } => None,
        }
    }
}

/// How the daemon is started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum DaemonStart {
    /// `systemctl start UNIT` (a unit that hit its start limit needs a `daemon.reset-failed`
    /// step first).
    Systemd { unit: String },
    /// `rc-service SERVICE start`; a service OpenRC marks "crashed" is zapped first (OpenRC
    /// refuses to start what it believes started).
    Openrc { service: String },
    /// `SCRIPT start`.
    Sysvinit { script: String },
    /// No service manager: run `argv` in its own session, detached; its output is appended to
    /// `log` (or discarded). Done when it is still running after a short settling time.
    Command {
        argv: Vec<String>,
        log: Option<PathBuf>,
    },
}

impl DaemonStart {
    /// The command line that starts the daemon.
    pub fn argv(&self) -> Vec<String> {
        match self {
            DaemonStart::Systemd { unit } => service_argv(Manager::Systemd(unit), "start"),
            DaemonStart::Openrc { service } => service_argv(Manager::Openrc(service), "start"),
            DaemonStart::Sysvinit { script } => service_argv(Manager::Sysvinit(script), "start"),
            DaemonStart::Command { argv, .. } => argv.clone(),
        }
    }
}

/// A service manager and the name it knows the daemon by.
#[derive(Debug, Clone, Copy)]
pub enum Manager<'a> {
    Systemd(&'a str),
    Openrc(&'a str),
    Sysvinit(&'a str),
}

/// The command that does `verb` (start, stop, status, zap, reset-failed) through a manager.
pub fn service_argv(m: Manager<'_>, verb: &str) -> Vec<String> {
    let v = |a: &[&str]| a.iter().map(|s| (*s).to_string()).collect();
    match m {
        Manager::Systemd(unit) => v(&["systemctl", verb, unit]),
        Manager::Openrc(service) => v(&["rc-service", service, verb]),
        Manager::Sysvinit(script) => v(&[script, verb]),
    }
}

/// One change. The serde tag is the journal kind and never changes within a plan format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum Action {
    /// `DELETE /containers/{id}?force=0&v=0`, only if it is still stopped, has not run since
    /// the plan (same `FinishedAt`) and is not labelled `dockhand.keep`.
    #[serde(rename = "container.remove")]
    RemoveContainer {
        id: String,
        name: String,
        seen: ContainerSeen,
    },
    /// `POST /containers/{id}/stop?t=N`.
    #[serde(rename = "container.stop")]
    StopContainer {
        id: String,
        name: String,
        timeout_s: u32,
    },
    /// `DELETE /images/{id}?force=0`: an image by id, only if it has no tag (its dockhand hold
    /// reference aside, see `image.untag`) and no container uses it.
    #[serde(rename = "image.remove")]
    RemoveImage { id: String },
    /// `DELETE /images/{reference}?force=0`: one tag, only if it still points at `id` and no
    /// container uses the image. Before the image's last tag goes, the image is held by a
    /// `dockhand-hold:h<N>` reference (moved on to the next image once the tag is gone, so the
    /// image stays, dangling): `image.remove` removes it afterwards.
    #[serde(rename = "image.untag")]
    UntagImage { reference: String, id: String },
    /// `DELETE /volumes/{name}?force=0`, only if no container mounts it.
    #[serde(rename = "volume.remove")]
    RemoveVolume { name: String },
    /// `DELETE /networks/{id}`, only if nothing is connected to it.
    #[serde(rename = "network.remove")]
    RemoveNetwork { id: String, name: String },
    /// `POST /build/prune`: unused build cache, keeping `keep_storage` bytes if given; with
    /// `all`, not only dangling cache (as `docker builder prune -a`); with `until_s`, only cache
    /// unused for that long.
    #[serde(rename = "buildcache.prune")]
    PruneBuildCache {
        keep_storage: Option<u64>,
        #[serde(default)]
        all: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_s: Option<u64>,
    },
    /// One signal, through a pidfd, after re-verifying the process.
    #[serde(rename = "process.signal")]
    Signal {
        target: ProcTarget,
        /// The signal's name: SIGTERM, SIGKILL, SIGUSR1, SIGCONT …
        signal: String,
    },
    /// TERM → up to `grace` → KILL → wait.
    #[serde(rename = "process.terminate")]
    Terminate {
        target: ProcTarget,
        #[serde(rename = "grace_ms", with = "duration_ms")]
        grace: Duration,
    },
    /// Unlink a file, only if it is the same file (dev, inode, size, mtime) and no process holds
    /// it open.
    #[serde(rename = "file.remove")]
    RemoveFile { path: PathBuf, stamp: FileStamp },
    /// Truncate a container's log to zero in place (the daemon keeps writing to it), only if it
    /// is the same file (dev, inode).
    #[serde(rename = "file.truncate")]
    TruncateLog { path: PathBuf, stamp: FileStamp },
    /// Remove a directory and what is in it, only if it is the same directory (dev, inode,
    /// mtime), nothing under it is held open or mounted.
    #[serde(rename = "file.remove-tree")]
    RemoveTree { path: PathBuf, stamp: FileStamp },
    /// Write the running daemon's pid into its pid file, only if the file is unchanged since the
    /// plan (it names a pid that is gone or is not dockerd) and the daemon is still `daemon`.
    #[serde(rename = "file.rewrite-pid")]
    RewritePidfile {
        path: PathBuf,
        stamp: FileStamp,
        daemon: ProcTarget,
    },
    #[serde(rename = "daemon.stop")]
    StopDaemon {
        how: DaemonStop,
        #[serde(rename = "grace_ms", with = "duration_ms")]
        grace: Duration,
    },
    #[serde(rename = "daemon.start")]
    StartDaemon { how: DaemonStart },
    /// `systemctl reset-failed UNIT`: a unit that hit its start limit (`StartLimitBurst` starts
    /// in `StartLimitIntervalSec`) refuses every start until this.
    #[serde(rename = "daemon.reset-failed")]
    ResetFailed { unit: String },
}

/// Every kind, for docs, `--kind` help and the test that kinds match the serde tags.
pub const KINDS: &[&str] = &[
    "container.remove",
    "container.stop",
    "image.remove",
    "image.untag",
    "volume.remove",
    "network.remove",
    "buildcache.prune",
    "process.signal",
    "process.terminate",
    "file.remove",
    "file.truncate",
    "file.remove-tree",
    "file.rewrite-pid",
    "daemon.stop",
    "daemon.start",
    "daemon.reset-failed",
];

/// The first 12 hex digits of an id, as docker prints them.
pub fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.get(..12).unwrap_or(id)
}

impl Action {
    /// The journal name: `area.verb`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RemoveContainer { .. } => "container.remove",
            Action::StopContainer { .. } => "container.stop",
            Action::RemoveImage { .. } => "image.remove",
            Action::UntagImage { .. } => "image.untag",
            Action::RemoveVolume { .. } => "volume.remove",
            Action::RemoveNetwork { .. } => "network.remove",
            Action::PruneBuildCache { .. } => "buildcache.prune",
            Action::Signal { .. } => "process.signal",
            Action::Terminate { .. } => "process.terminate",
            Action::RemoveFile { .. } => "file.remove",
            Action::TruncateLog { .. } => "file.truncate",
            Action::RemoveTree { .. } => "file.remove-tree",
            Action::RewritePidfile { .. } => "file.rewrite-pid",
            Action::StopDaemon { .. } => "daemon.stop",
            Action::StartDaemon { .. } => "daemon.start",
            Action::ResetFailed { .. } => "daemon.reset-failed",
        }
    }

    /// What is acted on, short, for tables and `--kind` listings: a container's name and short
    /// id, a volume's name, a pid, a path.
    pub fn target(&self) -> String {
        use crate::util::sanitize;
        match self {
            Action::RemoveContainer { id, name, .. } | Action::StopContainer { id, name, .. } => {
                format!("{} ({})", sanitize(name.trim_start_matches('/')), short(id))
            }
            Action::RemoveImage { id } => short(id).to_string(),
            Action::UntagImage { reference, id } => {
                format!("{} ({})", sanitize(reference), short(id))
            }
            Action::RemoveVolume { name } => sanitize(name),
            Action::RemoveNetwork { id, name } => format!("{} ({})", sanitize(name), short(id)),
            Action::PruneBuildCache { .. } => "build cache".to_string(),
            Action::Signal { target, .. } | Action::Terminate { target, .. } => target.label(),
            Action::RemoveFile { path, .. }
            | Action::TruncateLog { path, .. }
            | Action::RemoveTree { path, .. }
            | Action::RewritePidfile { path, .. } => sanitize(&path.to_string_lossy()),
            Action::StopDaemon { how, .. } => match how {
                DaemonStop::Systemd { unit } => sanitize(unit),
                DaemonStop::Openrc { service } => sanitize(service),
                DaemonStop::Sysvinit { script } => sanitize(script),
                DaemonStop::Process { target, .. } => target.label(),
            },
            Action::StartDaemon { how } => match how {
                DaemonStart::Systemd { unit } => sanitize(unit),
                DaemonStart::Openrc { service } => sanitize(service),
                DaemonStart::Sysvinit { script } => sanitize(script),
                DaemonStart::Command { argv, .. } => {
                    sanitize(argv.first().map(String::as_str).unwrap_or("?"))
                }
            },
            Action::ResetFailed { unit } => sanitize(unit),
        }
    }

    /// One line for a dry run and the journal: what will be done to what.
    pub fn describe(&self) -> String {
        let t = self.target();
        match self {
            Action::RemoveContainer { seen, .. } => {
                format!("remove container {t} ({})", seen.state)
            }
            Action::StopContainer { timeout_s, .. } => {
                format!("stop container {t} (kill after {timeout_s} s)")
            }
            Action::RemoveImage { .. } => format!("remove image {t}"),
            Action::UntagImage { .. } => format!("remove tag {t}"),
            Action::RemoveVolume { .. } => format!("remove volume {t}"),
            Action::RemoveNetwork { .. } => format!("remove network {t}"),
            Action::PruneBuildCache {
                keep_storage,
                all,
                until_s,
            } => {
                let mut s = if *all {
                    "prune all unused build cache".to_string()
                } else {
                    "prune unused build cache".to_string()
                };
                if let Some(u) = until_s.filter(|u| *u > 0) {
                    s.push_str(&format!(" unused for {}", crate::util::human_age(u)));
                }
                if let Some(k) = keep_storage {
                    s.push_str(&format!(", keeping {}", crate::util::human_bytes(*k)));
                }
                s
            }
            Action::Signal { signal, .. } => format!("send {signal} to {t}"),
            Action::Terminate { grace, .. } => format!(
                "terminate {t} (SIGTERM, SIGKILL after {})",
                crate::util::human_duration(*grace)
            ),
            Action::RemoveFile { stamp, .. } => {
                format!("remove file {t} ({})", crate::util::human_bytes(stamp.size))
            }
            Action::TruncateLog { .. } => format!("truncate log {t}"),
            Action::RemoveTree { .. } => format!("remove directory {t} and its contents"),
            Action::RewritePidfile { daemon, .. } => {
                format!("write the daemon's pid {} into {t}", daemon.id.pid)
            }
            Action::StopDaemon { how, grace } => match how {
                DaemonStop::Process { again, .. } if !again.is_zero() => format!(
                    "stop the daemon {t} (SIGTERM, again after {}, SIGKILL {} later)",
                    crate::util::human_duration(*grace),
                    crate::util::human_duration(*again)
                ),
                DaemonStop::Process { .. } => format!(
                    "stop the daemon {t} (SIGTERM, SIGKILL after {})",
                    crate::util::human_duration(*grace)
                ),
                other => format!(
                    "stop the daemon: {}",
                    crate::util::sanitize(&other.argv().unwrap_or_default().join(" "))
                ),
            },
            Action::StartDaemon { how } => format!(
                "start the daemon: {}",
                crate::util::sanitize(&how.argv().join(" "))
            ),
            Action::ResetFailed { .. } => {
                format!("clear the start limit: systemctl reset-failed {t}")
            }
        }
    }

    /// What the plan saw, as the journal's `seen` (the action's own fields, minus its tag).
    pub fn seen(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("action");
        }
        v
    }
}

/// One planned change and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    /// The rule that chose it, as a sentence ("exited 12 days ago, older than 7 days").
    pub reason: String,
    /// What it is expected to free, when known.
    pub bytes: Option<u64>,
}

impl Step {
    pub fn new(action: Action, reason: impl Into<String>) -> Step {
        Step {
            action,
            reason: reason.into(),
            bytes: None,
        }
    }

    pub fn with_bytes(mut self, bytes: Option<u64>) -> Step {
        self.bytes = bytes;
        self
    }
}

/// An ordered list of steps. Order matters to callers (containers before the images they use);
/// apply keeps it for starting steps, while up to `concurrency` run at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn new(steps: Vec<Step>) -> Plan {
        Plan { steps }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// What the plan expects to free, summed over the steps that say.
    pub fn bytes(&self) -> u64 {
        self.steps.iter().filter_map(|s| s.bytes).sum()
    }
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Done; `bytes` it freed, when known.
    Done { bytes: Option<u64> },
    /// Gone before we got to it (404, an exited process), or already as wanted (a stopped
    /// container asked to stop): nothing to do, not a failure.
    AlreadyGone,
    /// Something uses it: the engine said 409, or the re-check found a user. Skipped; never
    /// retried with force.
    InUse { why: String },
    /// It is not what the plan saw (restarted, retagged, another process on the pid, a
    /// rewritten file). Skipped.
    Changed { why: String },
    /// A protection forbids it (pid 1, a kernel thread, `dockhand.keep`, outside the scope).
    Refused { why: String },
    /// It was tried and failed; the sentence says how.
    Failed { error: String },
    /// Not started: the run was interrupted first.
    NotStarted,
}

impl Outcome {
    /// The journal's word for it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Done { .. } => "done",
            Outcome::AlreadyGone => "already-gone",
            Outcome::InUse { .. } => "in-use",
            Outcome::Changed { .. } => "changed",
            Outcome::Refused { .. } => "refused",
            Outcome::Failed { .. } => "failed",
            Outcome::NotStarted => "not-started",
        }
    }

    /// The sentence behind it, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Outcome::InUse { why } | Outcome::Changed { why } | Outcome::Refused { why } => {
                Some(why)
            }
            Outcome::Failed { error } => Some(error),
            _ => None,
        }
    }

    pub fn bytes(&self) -> Option<u64> {
        match self {
            Outcome::Done { bytes } => *bytes,
            _ => None,
        }
    }

    /// A failure the run's exit code must reflect. Skips (in use, changed, refused) are the
    /// safety rules working, not failures.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

/// Durations in plans and the journal are integer milliseconds.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::process::{ProcId, Scope};

    fn target() -> ProcTarget {
        ProcTarget {
            id: ProcId {
                pid: 4321,
                start_ticks: 98_765,
            },
            exe: Some(PathBuf::from("/usr/sbin/docker-proxy")),
            comm: "docker-proxy".into(),
            scope: Scope::DescendantOf(ProcId {
                pid: 812,
                start_ticks: 5,
            }),
        }
    }

    fn every_action() -> Vec<Action> {
        let stamp = FileStamp {
            dev: 2049,
            ino: 77,
            mtime_ns: 1_700_000_000_123_456_789,
            size: 4096,
        };
        vec![
            Action::RemoveContainer {
                id: "0123456789abcdef".into(),
                name: "/happy_turing".into(),
                seen: ContainerSeen {
                    state: "exited".into(),
                    finished_at: "2026-11-20T10:00:00.123Z".into(),
                },
            },
            Action::StopContainer {
                id: "abc".into(),
                name: "web".into(),
                timeout_s: 10,
            },
            Action::RemoveImage {
                id: "sha256:feedface0000".into(),
            },
            Action::UntagImage {
                reference: "registry:5000/app:old".into(),
                id: "sha256:feedface0000".into(),
            },
            Action::RemoveVolume {
                name: "abcd".into(),
            },
            Action::RemoveNetwork {
                id: "n1".into(),
                name: "old_default".into(),
            },
            Action::PruneBuildCache {
                keep_storage: Some(1 << 30),
                all: true,
                until_s: Some(3600),
            },
            Action::Signal {
                target: target(),
                signal: "SIGUSR1".into(),
            },
            Action::Terminate {
                target: target(),
                grace: Duration::from_millis(1500),
            },
            Action::RemoveFile {
                path: "/var/lib/docker/tmp/GetImageBlob1".into(),
                stamp,
            },
            Action::TruncateLog {
                path: "/var/lib/docker/containers/x/x-json.log".into(),
                stamp,
            },
            Action::RemoveTree {
                path: "/var/lib/docker/tmp-old".into(),
                stamp,
            },
            Action::RewritePidfile {
                path: "/var/run/docker.pid".into(),
                stamp,
                daemon: target(),
            },
            Action::StopDaemon {
                how: DaemonStop::Process {
                    target: target(),
                    again: Duration::from_secs(5),
                },
                grace: Duration::from_secs(20),
            },
            Action::StopDaemon {
                how: DaemonStop::Openrc {
                    service: "docker".into(),
                },
                grace: Duration::from_secs(20),
            },
            Action::StopDaemon {
                how: DaemonStop::Sysvinit {
                    script: "/etc/init.d/docker".into(),
                },
                grace: Duration::from_secs(20),
            },
            Action::StopDaemon {
                how: DaemonStop::Systemd {
                    unit: "docker.service".into(),
                },
                grace: Duration::from_secs(20),
            },
            Action::StartDaemon {
                how: DaemonStart::Command {
                    argv: vec!["dockerd".into(), "--data-root=/srv".into()],
                    log: None,
                },
            },
            Action::StartDaemon {
                how: DaemonStart::Systemd {
                    unit: "docker.service".into(),
                },
            },
            Action::StartDaemon {
                how: DaemonStart::Openrc {
                    service: "docker".into(),
                },
            },
            Action::StartDaemon {
                how: DaemonStart::Sysvinit {
                    script: "/etc/init.d/docker".into(),
                },
            },
            Action::ResetFailed {
                unit: "docker.service".into(),
            },
        ]
    }

    #[test]
    fn service_managers_get_their_own_command_lines() {
        let stop = |how: DaemonStop| {
            Action::StopDaemon {
                how,
                grace: Duration::from_secs(20),
            }
            .describe()
        };
        let start = |how: DaemonStart| Action::StartDaemon { how }.describe();
        let cases = [
            (
                stop(DaemonStop::Systemd {
                    unit: "docker.service".into(),
                }),
                "stop the daemon: systemctl stop docker.service",
            ),
            (
                stop(DaemonStop::Openrc {
                    service: "docker".into(),
                }),
                "stop the daemon: rc-service docker stop",
            ),
            (
                stop(DaemonStop::Sysvinit {
                    script: "/etc/init.d/docker".into(),
                }),
                "stop the daemon: /etc/init.d/docker stop",
            ),
            (
                stop(DaemonStop::Process {
                    target: target(),
                    again: Duration::from_secs(5),
                }),
                "stop the daemon pid 4321 (docker-proxy) (SIGTERM, again after 20 s, SIGKILL 5 s later)",
            ),
            (
                start(DaemonStart::Systemd {
                    unit: "docker.service".into(),
                }),
                "start the daemon: systemctl start docker.service",
            ),
            (
                start(DaemonStart::Openrc {
                    service: "docker".into(),
                }),
                "start the daemon: rc-service docker start",
            ),
            (
                start(DaemonStart::Sysvinit {
                    script: "/etc/init.d/docker".into(),
                }),
                "start the daemon: /etc/init.d/docker start",
            ),
            (
                Action::ResetFailed {
                    unit: "docker.service".into(),
                }
                .describe(),
                "clear the start limit: systemctl reset-failed docker.service",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        // A plan saved before the second TERM existed still reads (no `again_ms`).
        let old = r#"{"action":"daemon.stop","how":{"via":"process","target":{"id":{"pid":7,"start_ticks":9},"exe":null,"comm":"dockerd","scope":{"kind":"docker-program"}}},"grace_ms":1000,"reason":"x","bytes":null}"#;
        let s: Step = serde_json::from_str(old).expect("parses");
        assert!(matches!(
            s.action,
            Action::StopDaemon {
                how: DaemonStop::Process { again, .. },
                ..
            } if again.is_zero()
        ));
    }

    #[test]
    fn plans_round_trip_through_json_with_stable_tags() {
        let steps: Vec<Step> = every_action()
            .into_iter()
            .enumerate()
            .map(|(i, a)| Step::new(a, format!("rule {i}")).with_bytes(Some(i as u64)))
            .collect();
        let plan = Plan::new(steps);
        let text = serde_json::to_string_pretty(&plan).expect("serialise");
        let back: Plan = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, plan);
        for step in &plan.steps {
            let v = serde_json::to_value(step).expect("value");
            assert_eq!(v["action"], step.action.kind(), "the tag is the kind");
            assert!(KINDS.contains(&step.action.kind()));
            assert!(!step.action.describe().is_empty());
            assert!(step.action.seen().get("action").is_none());
        }
        // Every kind is used by some action.
        for k in KINDS {
            assert!(
                plan.steps.iter().any(|s| s.action.kind() == *k),
                "{k} has no action"
            );
        }
    }

    #[test]
    fn a_saved_step_reads_as_documented() {
        let text = r#"{"action":"process.terminate","target":{"id":{"pid":7,"start_ticks":9},"exe":null,"comm":"sleep","scope":{"kind":"descendant-of","pid":1000,"start_ticks":3}},"grace_ms":1000,"reason":"leaked","bytes":null}"#;
        let s: Step = serde_json::from_str(text).expect("parses");
        let Action::Terminate { target, grace } = &s.action else {
            panic!("terminate")
        };
        assert_eq!(*grace, Duration::from_secs(1));
        assert_eq!(
            target.scope,
            Scope::DescendantOf(ProcId {
                pid: 1000,
                start_ticks: 3
            })
        );
        assert_eq!(
            s.action.describe(),
            "terminate pid 7 (sleep) (SIGTERM, SIGKILL after 1 s)"
        );
        // An unknown action is an error a caller can report, not a panic.
        let bad = serde_json::from_str::<Step>(r#"{"action":"host.reboot","reason":"x"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn outcomes_serialise_with_their_names() {
        for o in [
            Outcome::Done { bytes: Some(5) },
            Outcome::AlreadyGone,
            Outcome::InUse { why: "x".into() },
            Outcome::Changed { why: "x".into() },
            Outcome::Refused { why: "x".into() },
            Outcome::Failed { error: "x".into() },
            Outcome::NotStarted,
        ] {
            let v = serde_json::to_value(&o).expect("value");
            assert_eq!(v["outcome"], o.name());
            let back: Outcome = serde_json::from_value(v).expect("back");
            assert_eq!(back, o);
        }
    }
}
