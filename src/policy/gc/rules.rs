//! The rules over single objects: a stopped container by its grace, globs over references, an
//! image's repository and idle time, base images by their layer chains, keep-last-N per
//! repository, a grace period over a creation time.

use std::collections::{HashMap, HashSet};

use super::{ImageIn, Why};

/// A stopped container: kept by the label, kept within the grace period, else collected.
/// `None` (a container that is not stopped) is running.
pub fn container(grace: Option<crate::policy::containers::Grace>, keep_label: bool) -> Why {
    use crate::policy::containers::Grace;
    match grace {
        None => Why::Running,
        Some(_) if keep_label => Why::KeepLabel,
        Some(Grace::Within { age_s }) => Why::WithinGrace { age_s },
        Some(Grace::Past { age_s }) => Why::StoppedPastGrace { age_s },
    }
}

/// A glob over a reference: `*` matches any run of characters (`/` and `:` included), `?` one
/// character; everything else itself. `app:*`, `*/base:*`, `registry:5000/*`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The repository of a reference: everything before the tag (`registry:5000/app:1` →
/// `registry:5000/app`; a digest reference's part before `@`).
pub fn repo_of(reference: &str) -> &str {
    if let Some((repo, _)) = reference.split_once('@') {
        return repo;
    }
    match reference.rfind(':') {
        // A colon after the last slash ends the name: the tag follows.
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

/// How long an image has been idle, against the grace period: known (first seen) and used less
/// than the grace period ago keeps it. A clock that went backwards is an age of 0.
pub fn image_idle(first_seen: f64, last_used: Option<f64>, now: f64) -> f64 {
    let last = last_used.map_or(first_seen, |u| u.max(first_seen));
    (now - last).max(0.0)
}

/// `a` is a base of `b`: its chain is a prefix of `b`'s (equal chains too: an image built
/// `FROM a` that adds no layer). An empty chain is nobody's base.
pub fn is_base(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && a.len() <= b.len() && b[..a.len()] == *a
}

/// Per repository, the ids of the `n` most recent images (by the later of creation and last
/// use); ties broken by id, so the verdict is stable. `images` gives each
/// image's tags and recency.
pub fn keep_last<'a>(
    images: impl IntoIterator<Item = (&'a str, &'a [String], f64)>,
    n: usize,
) -> HashMap<String, HashSet<&'a str>> {
    let mut by_repo: HashMap<String, Vec<(&'a str, f64)>> = HashMap::new();
    for (id, tags, recency) in images {
        let mut repos: Vec<&str> = tags.iter().map(|t| repo_of(t)).collect();
        repos.sort_unstable();
        repos.dedup();
        for r in repos {
            by_repo
                .entry(r.to_string())
                .or_default()
                .push((id, recency));
        }
    }
    by_repo
        .into_iter()
        .map(|(repo, mut v)| {
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            (repo, v.into_iter().take(n).map(|(id, _)| id).collect())
        })
        .collect()
}

/// The age of an object created at `created` while it is within the grace period; `None` once it
/// is past it.
pub(super) fn after_grace(created: Option<f64>, grace: f64, now: f64) -> Option<f64> {
    // No creation time: treated as old enough (the engine always gives one for volumes and
    // networks it made; one without is not being made now).
    let age = created.map_or(f64::INFINITY, |c| (now - c).max(0.0));
    (age < grace).then_some(age)
}

/// For each image, the images it is a base of (other ids whose chain starts with its chain).
pub(super) fn bases(images: &[ImageIn]) -> Vec<Vec<usize>> {
    // Grouped by base layer: only images sharing the first layer can be bases of each other.
    let mut by_first: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        if let Some(first) = img.chain.as_ref().and_then(|c| c.first()) {
            by_first.entry(first.as_str()).or_default().push(i);
        }
    }
    let mut out = vec![Vec::new(); images.len()];
    for group in by_first.values() {
        for &a in group {
            for &b in group {
                if a == b || images[a].id == images[b].id {
                    continue;
                }
                if let (Some(ca), Some(cb)) = (&images[a].chain, &images[b].chain)
                    && is_base(ca, cb)
                {
                    out[a].push(b);
                }
            }
        }
    }
    out
}

/// An image as people name it: its first tag, else its short id.
pub(super) fn name_of(i: &ImageIn) -> String {
    i.tags.first().cloned().unwrap_or_else(|| {
        let id = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
        id.get(..12).unwrap_or(id).to_string()
    })
}
