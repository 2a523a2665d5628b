//! `storage.mounts`: every filesystem mounted under the data root still answers. A volume on NFS
//! or FUSE whose server went away blocks every `stat`, `readdir` and `open` below it — `du`,
//! `docker system df`, `docker volume rm`, a container start that mounts it — forever. Each mount
//! is asked `statfs` in a thread the deadline can abandon; one that does not answer within it is
//! named, with the volume or container it belongs to. A slow-but-answering mount is not flagged.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::plural;
use crate::doctor::checks::{Ctx, gap};
use crate::doctor::{Finding, Fix, Status};
use crate::facts::Gap;
use crate::policy::storage::{container_of, volume_of};
use crate::runtime::blocking;
use crate::runtime::host::{self, MountEntry};
use crate::util::human_duration;

/// What a mount under the data root belongs to, in words.
pub fn belongs_to(data_root: &str, m: &MountEntry) -> String {
    let p = m.mount_point.to_string_lossy();
    if let Some(v) = volume_of(data_root, &p) {
        return format!("volume {v}");
    }
    if let Some(c) = container_of(&p) {
        return format!("container {}", &c[..12]);
    }
    if p.ends_with("/merged") {
        return "a container's root filesystem".into();
    }
    "the data root".into()
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let Some((root, _)) = ctx.data_root().await else {
        return gap(&Gap::Other(
            "the data root is not known: the engine did not answer and no daemon process was found"
                .into(),
        ));
    };
    let timeout = ctx.timeout();
    let r = root.clone();
    let Some(mounts) = blocking(timeout, move || host::mounts_under(&r)).await else {
        return gap(&Gap::TimedOut {
            what: host::MOUNTINFO.into(),
            after: timeout,
        });
    };
    let points: Vec<PathBuf> = mounts.iter().map(|m| m.mount_point.clone()).collect();
    // The statfs calls get the deadline; the call around them a margin to collect the answers.
    let deadline = Instant::now() + timeout;
    let answers = blocking(timeout + Duration::from_millis(500), move || {
        host::statfs_each(&points, timeout, deadline, 8)
    })
    .await
    .unwrap_or_else(|| vec![None; mounts.len()]);
    let root_s = root.display().to_string();
    let silent: Vec<(&MountEntry, String)> = mounts
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_none())
        .map(|(m, _)| (m, belongs_to(&root_s, m)))
        .collect();
    let evidence = json!({
        "data_root": root_s,
        "mounts": mounts.len(),
        "not_answering": silent.iter().map(|(m, owner)| json!({
            "path": m.mount_point,
            "fs_type": m.fs_type,
            "source": m.source,
            "belongs_to": owner,
        })).collect::<Vec<_>>(),
        "timeout_ms": timeout.as_millis() as u64,
    });
    if silent.is_empty() {
        return Finding::new(
            Status::Ok,
            format!(
                "{} under {root_s} {} (statfs)",
                plural(mounts.len(), "mount", "mounts"),
                if mounts.len() == 1 {
                    "answers"
                } else {
                    "answer"
                }
            ),
        )
        .evidence(evidence);
    }
    let (m, owner) = &silent[0];
    let summary = format!(
        "{} under {root_s} stopped answering: {} ({owner}, {} from {}) did not answer within {}{}; anything that touches it hangs (containers that use it, `docker volume rm`, `docker system df`, du)",
        plural(silent.len(), "filesystem", "filesystems"),
        m.mount_point.display(),
        m.fs_type,
        m.source,
        human_duration(timeout),
        if silent.len() > 1 {
            format!(", and {} more", silent.len() - 1)
        } else {
            String::new()
        },
    );
    let path = m.mount_point.display().to_string();
    let fix = Fix::advice(format!(
        "Find out why {} stopped answering: for NFS, its server and the network to it; for FUSE, the process that serves it (stopped, or gone?). Once it answers again nothing else is needed.",
        m.source
    ))
    .then_run(
        &["umount", "-l", &path],
        format!(
            "If it is gone for good, detach it lazily — `umount -l {path}` — after stopping the containers that use it."
        ),
    );
    Finding::new(Status::Critical, summary)
        .fix(fix)
        .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_mount_belongs_to() {
        let m = |p: &str| MountEntry {
            mount_point: PathBuf::from(p),
            fs_type: "x".into(),
            source: "y".into(),
        };
        let id = "b".repeat(64);
        let cases = [
            ("/d/volumes/pg/_data", "volume pg".to_string()),
            (
                &*format!("/d/containers/{id}/mounts/shm"),
                format!("container {}", &id[..12]),
            ),
            (
                "/d/overlay2/abc/merged",
                "a container's root filesystem".into(),
            ),
            ("/d/plugins/x", "the data root".into()),
        ];
        for (p, want) in cases {
            assert_eq!(belongs_to("/d", &m(p)), want, "{p}");
        }
    }
}
