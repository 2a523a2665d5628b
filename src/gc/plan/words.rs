//! The rules in words: why each object goes or stays, as the plan, the report and the journal
//! say it.

use super::Kind;
use crate::policy::gc::{Policy, WatermarkOutcome, Watermarks, Why};
use crate::util::{human_age, sanitize};

pub(super) fn age_text(s: f64) -> String {
    human_age(s.max(0.0) as u64)
}

/// A whole duration as people write it: "1 h", "90 min", "7 d", "30 s".
pub fn span_text(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("min", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{} {unit}", s / n);
        }
    }
    human_age(s)
}

fn grace_text(p: &Policy) -> String {
    format!("the {} grace period", span_text(p.min_age_s))
}

fn marks_text(m: &Watermarks) -> String {
    format!("high {}%, low {}%", m.high, m.low)
}

/// The rule in words, for one object.
pub fn reason(why: &Why, kind: Kind, p: &Policy, w: Option<&WatermarkOutcome>) -> String {
    let grace = grace_text(p);
    match why {
        Why::StoppedPastGrace { age_s } if p.min_age_s <= 0.0 => {
            format!("stopped {} ago (no grace period)", age_text(*age_s))
        }
        Why::StoppedPastGrace { age_s } => {
            format!("stopped {} ago, past {grace}", age_text(*age_s))
        }
        Why::Dangling => "untagged, and no container uses it".into(),
        Why::Unused => "tagged, and no container uses it (--images)".into(),
        Why::Watermark => match w {
            Some(w) => format!(
                "least recently used, to bring the filesystem from {:.1}% to the low mark ({})",
                w.used_percent,
                marks_text(&w.marks)
            ),
            None => "least recently used".into(),
        },
        Why::UnusedAnonymousVolume => "anonymous, and no container mounts it".into(),
        Why::UnusedNamedVolume => {
            "named, and no container mounts it: its data goes (--named-volumes)".into()
        }
        Why::UnusedNetwork => "user-defined, and no container is attached to it".into(),
        Why::BuildCache => "build cache no build uses".into(),
        Why::BigLog => {
            "over containers.logs' size threshold; truncated in place (--truncate-logs)".into()
        }
        Why::Running => "running".into(),
        Why::InUse { users } => format!(
            "used by {users} container{}",
            if *users == 1 { "" } else { "s" }
        ),
        Why::KeepLabel => "labelled dockhand.keep".into(),
        Why::KeepPattern { pattern, reference } => format!(
            "{} matches the keep pattern {}",
            sanitize(reference),
            sanitize(pattern)
        ),
        Why::KeepLast { repo, n } => {
            format!("one of the {n} most recent images of {}", sanitize(repo))
        }
        Why::BaseOfKept { child } => format!(
            "a base image of {}, which stays (its layers are a prefix of that image's)",
            sanitize(child)
        ),
        Why::WithinGrace { age_s } => match kind {
            Kind::Container => format!("stopped {} ago, within {grace}", age_text(*age_s)),
            Kind::Image => format!(
                "first seen or last used {} ago, within {grace}",
                age_text(*age_s)
            ),
            _ => format!("created {} ago, within {grace}", age_text(*age_s)),
        },
        Why::NamedVolume => "a named volume: data, removed only with --named-volumes".into(),
        Why::Predefined => "one of the engine's own networks".into(),
        Why::NotRequested => "not asked for".into(),
        Why::UnderWatermark => match w {
            Some(w) if w.need == 0 => format!(
                "eligible, but the filesystem is at {:.1}%, under the high mark ({})",
                w.used_percent,
                marks_text(&w.marks)
            ),
            _ => "eligible, but not needed to reach the low mark".into(),
        },
        Why::CapReached { max } => format!("eligible, but --max-removals {max} was reached"),
        Why::LogKept => "under the size threshold, or --truncate-logs not given".into(),
    }
}
