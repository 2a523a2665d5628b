//! The one reader of each unit a user types: durations, sizes and dates, so every flag and
//! config key that takes one accepts the same words and refuses them with the same sentence.
//! Dates (`dates.rs`) are also the engine's timestamps and dockhand's own records, read and
//! written on jiff; sizes are in `sizes.rs`.

use std::time::Duration;

mod dates;
mod sizes;

pub use dates::{parse_instant, parse_rfc3339, parse_since, rfc3339, rfc3339_ms};
pub use sizes::parse_size;

/// What a duration may look like, for every refusal.
pub const DURATION_HINT: &str = "use e.g. 3s, 500ms, 1.5s or 2m";

/// Parses `3`, `3s`, `500ms`, `1.5s`, `2m`. Zero and more than an hour are refused: a zero
/// deadline fails every call, and a deadline longer than a monitor's interval defeats its
/// purpose. The error is why, followed by what would work.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("{why}; {DURATION_HINT}");
    let (n, unit) = number_and_unit(s).map_err(bad)?;
    let secs = match seconds_per(unit) {
        Some(per) if DEADLINE_UNITS.contains(&unit) => n * per,
        _ => return Err(bad(&format!("{unit:?} is not a unit (ms, s, m)"))),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("it must be more than zero"));
    }
    if secs > 3600.0 {
        return Err(bad("it must be at most an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The units a deadline may be written in: a deadline is short.
const DEADLINE_UNITS: &[&str] = &["", "s", "sec", "secs", "ms", "m", "min"];

/// A number and the unit written after it (`1.5h` → `(1.5, "h")`), or why it is not one. The one
/// split of every span and size a user types.
pub fn number_and_unit(s: &str) -> Result<(f64, &str), &'static str> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n = num.parse().map_err(|_| "it does not start with a number")?;
    Ok((n, unit.trim()))
}

/// Seconds in one of a unit of time, for every spelling any span dockhand reads accepts (a bare
/// number is seconds); each reader says which of them it takes.
pub fn seconds_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return None,
    })
}

/// The value parser of every duration flag (`#[arg(value_parser = crate::units::duration)]`):
/// clap calls it, and the top puts the flag and the value before its refusal, so the user reads
/// one sentence: `--grace "0s" is not a duration: it must be more than zero; use e.g. …` (see
/// `cli::usage_sentence`).
pub fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|why| format!("is not a duration: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3").expect("3"), Duration::from_secs(3));
        assert_eq!(parse_duration("3s").expect("3s"), Duration::from_secs(3));
        assert_eq!(
            parse_duration("500ms").expect("ms"),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration("1.5s").expect("1.5s"),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").expect("2m"), Duration::from_secs(120));
        for bad in ["0", "0s", "banana", "-1s", "3h", "5 parsecs", ""] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.contains("500ms"), "says what works: {e}");
        }
    }
}
