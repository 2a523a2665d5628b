//! The one reader of each unit a user types: durations, sizes and dates, so every flag and
//! config key that takes one accepts the same words and refuses them with the same sentence.
//! Dates (`dates.rs`) are also the engine's timestamps and dockhand's own records, read and
//! written on jiff; sizes are in `sizes.rs`.

use std::time::Duration;

mod dates;
mod sizes;

pub use dates::{parse_instant, parse_rfc3339, parse_since, parse_timestamp, rfc3339, rfc3339_ms};
pub use sizes::parse_size;

/// What a duration may look like, for every refusal.
pub const DURATION_HINT: &str = "use e.g. 3s, 500ms, 1.5s or 2m";

/// Parses `3`, `3s`, `500ms`, `1.5s`, `2m`. Zero and more than an hour are refused: a zero
/// deadline fails every call, and a deadline longer than a monitor's interval defeats its
/// purpose. The error is why, followed by what would work.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("{why}; {DURATION_HINT}");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| bad("it does not start with a number"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        other => return Err(bad(&format!("{other:?} is not a unit (ms, s, m)"))),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("it must be more than zero"));
    }
    if secs > 3600.0 {
        return Err(bad("it must be at most an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
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
