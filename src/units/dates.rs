//! Dates: the one RFC 3339 reader and writer, on jiff. The engine's timestamps (`Created`,
//! `FinishedAt`, a volume's `CreatedAt`), the journal's, the run lock's, saved plans' and gc's
//! state file's are all read by [`parse_timestamp`], and written by [`rfc3339`] (seconds, for
//! reports) or [`rfc3339_ms`] (milliseconds, for records). `--since` is read by [`parse_since`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// 0002-01-01T00:00:00Z: everything before is Go's zero time (year 1), which the engine writes
/// for "never" (a container that never started or never finished).
const GO_YEAR_TWO: i64 = -62_104_060_800;

/// Reads an RFC 3339 time: `2026-11-28T05:33:35Z`, with up to nine digits of fraction, `t`
/// or a space for `T`, `z` for `Z`, or an offset (`+02:00`, `-0500`). `None` for anything else:
/// a time without an offset (a local time nobody can place), a date alone, a day the calendar
/// does not have, ISO 8601's other spellings (basic `20261128T…`, bracketed zone names), which
/// jiff alone would take but neither the engine nor dockhand writes.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if !rfc3339_shape(s.as_bytes()) {
        return None;
    }
    s.parse().ok()
}

/// The shape RFC 3339 allows (with the lenient spellings above), checked before jiff reads it.
fn rfc3339_shape(b: &[u8]) -> bool {
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let head = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// An engine's timestamp ("2026-11-28T06:00:22.119332206Z", or with an offset) in seconds since
/// the epoch, with the fraction. Go's zero time and anything unreadable are `None`.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let ts = parse_timestamp(s)?;
    if ts.as_second() < GO_YEAR_TWO {
        return None;
    }
    Some(ts.as_duration().as_secs_f64())
}

/// A time dockhand wrote (the journal, a saved plan) as a `SystemTime`; before 1970 is `None`:
/// dockhand never wrote one.
pub fn parse_instant(s: &str) -> Option<SystemTime> {
    let ts = parse_timestamp(s)?;
    let d = Duration::try_from(ts.as_duration()).ok()?;
    Some(UNIX_EPOCH + d)
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// RFC 3339 in UTC with second precision ("2026-11-28T05:33:35Z"), for reports: the fraction
/// is noise there and would make the width vary.
pub fn rfc3339(t: SystemTime) -> String {
    Timestamp::from_second(timestamp(t).as_second())
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// RFC 3339 in UTC with milliseconds ("2026-11-28T05:33:35.123Z"), for records: the journal,
/// the run lock, saved plans. Always three digits, so the records sort as text.
pub fn rfc3339_ms(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = rfc3339(UNIX_EPOCH + Duration::from_secs(d.as_secs()));
    let base = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{base}.{:03}Z", d.subsec_millis())
}

/// `--since`: an age (`90s`, `30m`, `2h`, `7d`, `1w`) counted back from `now`, or an RFC 3339
/// time. The error is one sentence naming the value and what works.
pub fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "--since {s:?} is neither an age (90s, 30m, 2h, 7d, 1w) nor an RFC 3339 time (2026-11-28T05:33:35Z)"
        )
    };
    if let Some(t) = parse_instant(s) {
        return Ok(t);
    }
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    // An age is whole units of a second or more, its unit written out (`90s`, not `90`).
    let unit_secs = match (unit.trim(), super::seconds_per(unit.trim())) {
        ("" | "ms", _) | (_, None) => return Err(bad()),
        (_, Some(per)) => per as u64,
    };
    let back = Duration::from_secs(n.checked_mul(unit_secs).ok_or_else(bad)?);
    Ok(now
        .checked_sub(back)
        .filter(|t| *t >= UNIX_EPOCH)
        .unwrap_or(UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_times_read_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_845_215_123);
        let s = rfc3339_ms(t);
        assert_eq!(s, "2026-11-28T05:53:35.123Z");
        assert_eq!(parse_instant(&s), Some(t));
        assert_eq!(rfc3339_ms(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_845_215)),
            "2026-11-28T05:53:35Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        // The fraction is dropped on the way out.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_500)),
            "1970-01-01T00:00:01Z"
        );
    }

    #[test]
    fn rfc3339_spellings() {
        let base = UNIX_EPOCH + Duration::from_secs(1_795_845_215);
        for s in [
            "2026-11-28T05:53:35Z",
            "2026-11-28t05:53:35z",
            "2026-11-28 05:53:35Z",
            " 2026-11-28T05:53:35Z\n",
            "2026-11-28T07:53:35+02:00",
            "2026-11-28T00:53:35-0500",
        ] {
            assert_eq!(parse_instant(s), Some(base), "{s}");
        }
        assert_eq!(
            parse_instant("2000-02-29T00:00:00.5Z"),
            Some(UNIX_EPOCH + Duration::from_millis(951_782_400_500))
        );
        for s in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-02-30T06:00:22Z",
            "2026-11-28T05:53:35",
            "2026-11-28T05:53:35+2",
            "2026-11-28T05:53:35.Z",
            "2026-11-28T05:53:35.1234567890Z",
            "20261128T055335Z",
            "2026-11-28T05:53:35Z[Europe/Paris]",
            "yesterday",
            // Before 1970: nothing dockhand wrote.
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_instant(s), None, "{s}");
        }
    }

    #[test]
    fn rfc3339_is_read_as_the_engine_writes_it() {
        let base = 1_795_845_622.0;
        for (text, want) in [
            ("1970-01-01T00:00:00Z", Some(0.0)),
            ("2026-11-28T06:00:22Z", Some(base)),
            ("2026-11-28T06:00:22.5Z", Some(base + 0.5)),
            ("2026-11-28T06:00:22.119332206Z", Some(base + 0.119_332_206)),
            ("2026-11-28T08:00:22.25+02:00", Some(base + 0.25)),
            ("2026-11-28T01:30:22-04:30", Some(base)),
            ("2026-11-28t06:00:22z", Some(base)),
            ("1969-12-31T23:59:59.5Z", Some(-0.5)),
            // Go's zero time, also with a fraction or an offset that keeps it in year 1.
            ("0001-01-01T00:00:00Z", None),
            ("0001-01-01T00:00:00.000000001Z", None),
            ("0001-06-01T00:00:00+01:00", None),
            // No offset: a local time nobody can place.
            ("2026-11-28T06:00:22", None),
            ("2026-13-28T06:00:22Z", None),
            ("2026-02-30T06:00:22Z", None),
            ("", None),
            ("yesterday at noon, roughly", None),
        ] {
            let got = parse_rfc3339(text);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-6, "{text}: {g} != {w}"),
                _ => assert_eq!(got, want, "{text}"),
            }
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        for secs in [0, 951_782_400, 1_795_845_215] {
            let text = rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(parse_rfc3339(&text), Some(secs as f64), "{text}");
        }
    }

    #[test]
    fn since_takes_ages_and_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_since("2h", now), Ok(now - Duration::from_secs(7200)));
        assert_eq!(
            parse_since("7d", now),
            Ok(now - Duration::from_secs(7 * 86_400))
        );
        assert_eq!(parse_since("30m", now), Ok(now - Duration::from_secs(1800)));
        assert_eq!(
            parse_since("1970-01-01T00:00:10Z", now),
            Ok(UNIX_EPOCH + Duration::from_secs(10))
        );
        assert_eq!(parse_since("100w", now), Ok(UNIX_EPOCH), "clamped");
        for bad in ["", "2 parsecs", "h", "-2h", "2y"] {
            let e = parse_since(bad, now).expect_err(bad);
            assert!(e.contains("2h") && e.contains("RFC 3339"), "{e}");
        }
    }
}
