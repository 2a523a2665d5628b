//! Verdicts of the disk area (see [`crate::policy`]): how full the data root's filesystem is.
//! doctor's `disk.data-root` words them; gc's watermarks use the same [`level`].

use crate::runtime::host::FsUsage;

/// How close a measure is to its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

/// A percentage against its pair of thresholds, both inclusive.
pub fn level(pct: f64, warn: f64, critical: f64) -> Level {
    if pct >= critical {
        Level::Critical
    } else if pct >= warn {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// The four thresholds of `disk.data-root`, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub space_warn: f64,
    pub space_critical: f64,
    pub inodes_warn: f64,
    pub inodes_critical: f64,
}

/// Space and inodes, each judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fullness {
    pub space: Level,
    pub inodes: Level,
}

impl Fullness {
    pub fn worst(&self) -> Level {
        self.space.max(self.inodes)
    }
}

/// How full the filesystem is. One that reports no inode limit (btrfs, some network
/// filesystems: `inodes_total` 0) is judged on space alone.
pub fn fullness(u: &FsUsage, limits: &Limits) -> Fullness {
    Fullness {
        space: level(u.used_percent, limits.space_warn, limits.space_critical),
        inodes: if u.inodes_total == 0 {
            Level::Ok
        } else {
            level(
                u.inodes_used_percent,
                limits.inodes_warn,
                limits.inodes_critical,
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_inclusive() {
        let cases = [
            (84.9, Level::Ok),
            (85.0, Level::Warning),
            (94.99, Level::Warning),
            (95.0, Level::Critical),
            (100.0, Level::Critical),
        ];
        for (pct, want) in cases {
            assert_eq!(level(pct, 85.0, 95.0), want, "{pct}");
        }
    }

    #[test]
    fn cases() {
        let usage = |space: f64, inodes: f64, inodes_total: u64| FsUsage {
            path: "/d".into(),
            mount_point: None,
            fs_type: None,
            total_bytes: 100,
            used_bytes: 0,
            free_bytes: 0,
            used_percent: space,
            inodes_total,
            inodes_used: 0,
            inodes_used_percent: inodes,
        };
        let limits = Limits {
            space_warn: 85.0,
            space_critical: 95.0,
            inodes_warn: 85.0,
            inodes_critical: 95.0,
        };
        use Level::*;
        #[rustfmt::skip]
        let cases = [
            (usage(10.0, 10.0, 1000), Ok, Ok, Ok),
            (usage(90.0, 10.0, 1000), Warning, Ok, Warning),
            (usage(10.0, 96.0, 1000), Ok, Critical, Critical),
            (usage(96.0, 90.0, 1000), Critical, Warning, Critical),
            // No inode limit (btrfs): space alone.
            (usage(10.0, 100.0, 0), Ok, Ok, Ok),
        ];
        for (u, space, inodes, worst) in cases {
            let f = fullness(&u, &limits);
            assert_eq!(
                (f.space, f.inodes, f.worst()),
                (space, inodes, worst),
                "{u:?}"
            );
        }
    }
}
