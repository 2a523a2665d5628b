//! Leftovers in `<data-root>/tmp` and a lingering `tmp-old` (`storage.tmp`) that no process
//! holds open, past the grace period.

use std::path::PathBuf;

use crate::actions::{Action, FileStamp, Step};
use crate::facts::Facts;
use crate::policy::storage::tmp_stale;
use crate::runtime::blocking;

use super::plan::{Category, ReapPlan};

pub(super) async fn plan(facts: &Facts, p: &mut ReapPlan, grace_s: u64) {
    let df = match facts.storage_map().await {
        Ok(df) => df,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!("<data-root>/tmp is left alone: {g}"));
            return;
        }
    };
    if !df.daemon_files {
        p.gaps = true;
        p.notes.push(format!(
            "{}/tmp is left alone: {}",
            df.data_root.display(),
            df.notes
                .first()
                .cloned()
                .unwrap_or_else(|| "the data root was not read".into())
        ));
        return;
    }
    p.data_root = Some(df.data_root.clone());
    // Why tmp (or tmp-old) was not looked into: a symlink, another user's, writable by others.
    let tmp_path = df.data_root.join("tmp").display().to_string();
    p.notes.extend(
        df.notes
            .iter()
            .filter(|n| n.starts_with(&tmp_path))
            .cloned(),
    );
    let l = &df.leftovers;
    let entries: Vec<(PathBuf, u64, u64)> = l
        .tmp
        .iter()
        .chain(l.tmp_old.iter())
        .filter(|t| tmp_stale(t.open, t.age_s, grace_s))
        .map(|t| (t.path.clone(), t.bytes, t.age_s))
        .collect();
    if entries.is_empty() {
        return;
    }
    let stamped = blocking(facts.timeout(), move || {
        entries
            .into_iter()
            .filter_map(|(path, bytes, age)| {
                let m = std::fs::symlink_metadata(&path).ok()?;
                let stamp = FileStamp::of(&path).ok()?;
                Some((path, bytes, age, stamp, m.is_dir()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (path, bytes, age, stamp, dir) in stamped {
        let old = path.file_name().is_some_and(|n| n == "tmp-old");
        let reason = if old {
            format!(
                "tmp-old lingers ({} old): the clean-up at the daemon's start failed; no process holds anything in it",
                crate::util::human_age(age)
            )
        } else {
            format!(
                "no process holds it open, unchanged for {} (the grace period is {})",
                crate::util::human_age(age),
                crate::util::human_age(grace_s)
            )
        };
        let action = if dir {
            Action::RemoveTree { path, stamp }
        } else {
            Action::RemoveFile { path, stamp }
        };
        p.push(
            Category::Tmp,
            Step::new(action, reason).with_bytes(Some(bytes)),
        );
    }
}
