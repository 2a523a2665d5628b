//! Verdicts of the storage area: piles worth a warning, leaked layer directories, tmp
//! leftovers, the build cache, and what a path under the data root belongs to. `dockhand df`,
//! doctor's storage, images and volumes checks, `gc` and `reap` judge with these.

use std::time::Duration;

/// Whether a reclaimable pile is worth a warning: something is there, and it reaches either
/// threshold. An empty pile never is, whatever the thresholds (so `0` means "warn at the first
/// one").
pub fn pile_warns(count: usize, bytes: u64, warn_count: f64, warn_bytes: f64) -> bool {
    count > 0 && (count as f64 >= warn_count || bytes as f64 >= warn_bytes)
}

/// Whether the build cache is worth a warning: not empty, and at or over the threshold.
pub fn cache_warns(bytes: u64, warn_bytes: f64) -> bool {
    bytes > 0 && bytes as f64 >= warn_bytes
}

/// Why an overlay2 directory counts as leaked, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leak {
    /// Nothing references it: no layer, container mount, init layer, registration in flight or
    /// BuildKit snapshot.
    Unreferenced,
    /// A `*-removing` directory: a removal that did not finish.
    Removing,
}

/// The verdict on one directory under `overlay2/`: `name` is its name, `referenced` whether the
/// layer store (layers, mounts, init layers, registrations in flight) names it, `buildkit`
/// whether a BuildKit snapshot does, `age` since it last changed. A young directory may be a
/// pull registering its layer a moment before its record: never leaked before `min_age`. `l` is
/// the short-name symlink directory.
pub fn leaked_dir(
    name: &str,
    referenced: bool,
    buildkit: bool,
    age: Duration,
    min_age: Duration,
) -> Option<Leak> {
    if name == "l" || age < min_age {
        return None;
    }
    if name.ends_with("-removing") {
        return Some(Leak::Removing);
    }
    (!referenced && !buildkit).then_some(Leak::Unreferenced)
}

/// Whether an entry of `<data-root>/tmp` is a leftover: no process holds it (or anything in it)
/// open, and it has not changed for the grace period (a download in progress is held open by
/// the daemon and changes all the time).
pub fn tmp_stale(open: bool, age_s: u64, grace_s: u64) -> bool {
    !open && age_s >= grace_s
}

/// Why the leaked-layer scan did not run, and what that means for the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakScan {
    Done,
    /// The containerd image store: overlay2 is not used at all, there is nothing to leak there.
    ContainerdStore,
    /// A storage driver other than overlay2: its layout is not known to the scan.
    OtherDriver(String),
    /// The data root is not readable by this user (not root).
    NoAccess,
    /// Anything else the scan ran into (e.g. an unreadable overlay2 directory).
    Failed(String),
}

/// Classifies the storage map's `leaked_scan` ("done" or "skipped: …") with the image store and
/// driver.
pub fn leak_scan(leaked_scan: &str, image_store: &str, driver: &str) -> LeakScan {
    if leaked_scan == "done" {
        return LeakScan::Done;
    }
    if image_store == "containerd" {
        return LeakScan::ContainerdStore;
    }
    if driver != "overlay2" {
        return LeakScan::OtherDriver(driver.to_string());
    }
    let why = leaked_scan
        .strip_prefix("skipped: ")
        .unwrap_or(leaked_scan)
        .to_string();
    if why.contains("read access") || why.contains("Permission denied") {
        LeakScan::NoAccess
    } else {
        LeakScan::Failed(why)
    }
}

/// The container a path belongs to, when it is a container's log or file
/// (`…/containers/<64 hex>/…`).
pub fn container_of(path: &str) -> Option<&str> {
    let mut parts = path.split('/');
    while let Some(p) = parts.next() {
        if p == "containers"
            && let Some(id) = parts.clone().next()
            && id.len() == 64
            && id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Some(id);
        }
    }
    None
}

/// The volume a path under the data root belongs to (`<root>/volumes/<name>/…`).
pub fn volume_of<'a>(data_root: &str, path: &'a str) -> Option<&'a str> {
    let rest = path
        .strip_prefix(data_root.trim_end_matches('/'))?
        .strip_prefix("/volumes/")?;
    rest.split('/').next().filter(|n| !n.is_empty())
}

/// memfd "files" look like deleted paths in /proc/<pid>/fd; they are memory, not disk.
pub fn deleted_file_counts(path: &str) -> bool {
    !path.starts_with("/memfd:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piles_warn_at_either_threshold_and_never_when_empty() {
        let gib = 1024.0 * 1024.0 * 1024.0;
        let cases = [
            (0, 0, 10.0, gib, false),
            (0, 0, 0.0, 0.0, false),
            (9, 100, 10.0, gib, false),
            (10, 100, 10.0, gib, true),
            (1, 2 * gib as u64, 10.0, gib, true),
            (1, 0, 0.0, gib, true),
            (1, 0, 1.0, gib, true),
        ];
        for (n, b, wc, wb, want) in cases {
            assert_eq!(pile_warns(n, b, wc, wb), want, "{n} {b} {wc} {wb}");
        }
    }

    #[test]
    fn build_cache_warns_at_threshold_but_never_when_empty() {
        let cases = [
            (0, 0.0, false),
            (1, 0.0, true),
            (9, 10.0, false),
            (10, 10.0, true),
        ];
        for (bytes, warn, want) in cases {
            assert_eq!(cache_warns(bytes, warn), want, "{bytes} {warn}");
        }
    }

    #[test]
    fn leaked_directories() {
        let h = Duration::from_secs(3600);
        let old = Duration::from_secs(7200);
        let young = Duration::from_secs(60);
        // (name, referenced, buildkit, age, want)
        let cases = [
            ("abc", true, false, old, None),
            ("abc", false, true, old, None),
            ("abc", false, false, old, Some(Leak::Unreferenced)),
            ("abc", false, false, young, None),
            ("abc-removing", true, false, old, Some(Leak::Removing)),
            ("abc-removing", false, false, young, None),
            ("l", false, false, old, None),
        ];
        for (name, r, b, age, want) in cases {
            assert_eq!(
                leaked_dir(name, r, b, age, h),
                want,
                "{name} {r} {b} {age:?}"
            );
        }
    }

    #[test]
    fn tmp_leftovers_are_unheld_and_old() {
        let cases = [
            (false, 7200, 3600, true),
            (false, 3600, 3600, true),
            (false, 10, 3600, false),
            (true, 7200, 3600, false),
            (false, 0, 0, true),
        ];
        for (open, age, grace, want) in cases {
            assert_eq!(tmp_stale(open, age, grace), want, "{open} {age} {grace}");
        }
    }

    #[test]
    fn leak_scan_reasons() {
        use LeakScan::*;
        let cases = [
            ("done", "graphdriver", "overlay2", Done),
            (
                "skipped: needs read access to the data root",
                "containerd",
                "overlayfs",
                ContainerdStore,
            ),
            (
                "skipped: the scan knows overlay2's layout only, not btrfs's",
                "graphdriver",
                "btrfs",
                OtherDriver("btrfs".into()),
            ),
            (
                "skipped: needs read access to the data root",
                "graphdriver",
                "overlay2",
                NoAccess,
            ),
            (
                "skipped: Permission denied (os error 13)",
                "graphdriver",
                "overlay2",
                NoAccess,
            ),
            (
                "skipped: No such file or directory (os error 2)",
                "graphdriver",
                "overlay2",
                Failed("No such file or directory (os error 2)".into()),
            ),
        ];
        for (scan, store, driver, want) in cases {
            assert_eq!(leak_scan(scan, store, driver), want, "{scan}");
        }
    }

    #[test]
    fn what_paths_belong_to() {
        let id = "a".repeat(64);
        let p = format!("/var/lib/docker/containers/{id}/{id}-json.log");
        let cases: [(&str, Option<&str>); 3] = [
            (&p, Some(id.as_str())),
            ("/var/lib/docker/containers/abc/x.log", None),
            ("/tmp/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(container_of(path), want, "{path}");
        }
        let vols = [
            (
                "/var/lib/docker",
                "/var/lib/docker/volumes/pg/_data/base",
                Some("pg"),
            ),
            ("/var/lib/docker/", "/var/lib/docker/volumes/pg", Some("pg")),
            ("/var/lib/docker", "/var/lib/docker/overlay2/x/diff", None),
            ("/srv/d", "/var/lib/docker/volumes/pg/_data", None),
        ];
        for (root, path, want) in vols {
            assert_eq!(volume_of(root, path), want, "{root} {path}");
        }
        assert!(!deleted_file_counts("/memfd:x (deleted)"));
        assert!(deleted_file_counts("/var/lib/docker/x"));
    }
}
