//! `dockhand watch`'s recovery budget: whether a daemon that stays hung is recovered now,
//! waited for, or left alone because the budget is spent. Pure: the times come in as seconds
//! since the epoch, the verdict goes out; the watch reads the clock and acts.

/// The budget the operator gave: at most `max_per_hour` recoveries in any hour, the n-th within
/// that hour at least `backoff × 2^(n-1)` after the one before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub max_per_hour: u32,
    /// The first gap between two attempts, in seconds; it doubles with each attempt in the hour.
    pub backoff: f64,
}

/// The window the budget counts in.
pub const HOUR: f64 = 3600.0;

/// What to do about the daemon now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// It serves (or it is not hung): nothing to do.
    Fine,
    /// Hung, for less than the threshold: `left` seconds more before a recovery.
    Waiting { left: f64 },
    /// Recover it now.
    Recover,
    /// Hung past the threshold, but the last attempt was too recent: not before `until`.
    Backoff { until: f64 },
    /// The hour's budget is spent: no attempt before `until` (when the oldest one leaves the
    /// window). A critical finding, never a loop.
    Exhausted { until: f64 },
}

/// The attempts of the last hour, oldest first.
pub fn recent(attempts: &[f64], now: f64) -> Vec<f64> {
    let mut r: Vec<f64> = attempts
        .iter()
        .copied()
        .filter(|&t| t > now - HOUR && t <= now + 1.0)
        .collect();
    r.sort_by(f64::total_cmp);
    r
}

/// Judges the daemon hung since `hung_since` (`None`: it is not hung) against the threshold
/// `after` and the attempts already spent (including one a killed watch left in flight: it
/// counts, so a restarted watch never repeats it blindly).
pub fn next(now: f64, hung_since: Option<f64>, after: f64, attempts: &[f64], b: Budget) -> Next {
    let Some(since) = hung_since else {
        return Next::Fine;
    };
    let hung_for = now - since;
    if hung_for < after {
        return Next::Waiting {
            left: after - hung_for,
        };
    }
    let recent = recent(attempts, now);
    if recent.len() >= b.max_per_hour as usize {
        let oldest = recent.first().copied().unwrap_or(now);
        return Next::Exhausted {
            until: oldest + HOUR,
        };
    }
    if let Some(&last) = recent.last() {
        let exp = i32::try_from(recent.len().saturating_sub(1))
            .unwrap_or(30)
            .min(30);
        let until = last + b.backoff * 2f64.powi(exp);
        if now < until {
            return Next::Backoff { until };
        }
    }
    Next::Recover
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;
    const B: Budget = Budget {
        max_per_hour: 3,
        backoff: 60.0,
    };

    #[test]
    fn the_budget_table() {
        let cases: &[(&str, Option<f64>, &[f64], Next)] = &[
            ("healthy", None, &[], Next::Fine),
            (
                "hung, not long enough",
                Some(NOW - 20.0),
                &[],
                Next::Waiting { left: 10.0 },
            ),
            (
                "hung past the threshold",
                Some(NOW - 30.0),
                &[],
                Next::Recover,
            ),
            (
                "one attempt a moment ago: backoff",
                Some(NOW - 30.0),
                &[NOW - 10.0],
                Next::Backoff { until: NOW + 50.0 },
            ),
            (
                "one attempt long enough ago",
                Some(NOW - 30.0),
                &[NOW - 61.0],
                Next::Recover,
            ),
            (
                "two attempts: the gap doubles",
                Some(NOW - 30.0),
                &[NOW - 200.0, NOW - 100.0],
                Next::Backoff { until: NOW + 20.0 },
            ),
            (
                "three in the hour: spent",
                Some(NOW - 30.0),
                &[NOW - 3000.0, NOW - 2000.0, NOW - 1000.0],
                Next::Exhausted {
                    until: NOW - 3000.0 + HOUR,
                },
            ),
            (
                "an attempt older than an hour no longer counts",
                Some(NOW - 30.0),
                &[NOW - 4000.0, NOW - 2000.0, NOW - 1000.0],
                Next::Recover,
            ),
        ];
        for (name, since, attempts, want) in cases {
            assert_eq!(next(NOW, *since, 30.0, attempts, B), *want, "{name}");
        }
    }

    #[test]
    fn a_budget_of_one_is_spent_by_one_attempt_and_never_loops() {
        let b = Budget {
            max_per_hour: 1,
            backoff: 1.0,
        };
        for later in [1.0, 10.0, 600.0, 3599.0] {
            assert!(
                matches!(
                    next(NOW + later, Some(NOW - 5.0), 1.0, &[NOW], b),
                    Next::Exhausted { .. }
                ),
                "{later}"
            );
        }
        assert_eq!(
            next(NOW + 3601.0, Some(NOW - 5.0), 1.0, &[NOW], b),
            Next::Recover
        );
    }
}
