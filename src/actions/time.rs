//! Timestamps for the journal: RFC 3339 in UTC with milliseconds, written and read back without
//! a date crate, and `--since` values (`2h`, `7d`, or an RFC 3339 time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// "2026-11-28T05:33:35.123Z".
pub fn rfc3339_ms(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = crate::util::rfc3339(UNIX_EPOCH + Duration::from_secs(d.as_secs()));
    // util::rfc3339 ends in "Z"; put the milliseconds before it.
    let base = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{base}.{:03}Z", d.subsec_millis())
}

/// Howard Hinnant's civil date → days since the epoch.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses RFC 3339: `2026-11-28T05:33:35Z`, with optional fractional seconds, `z`, a space
/// instead of `T`, or an offset (`+02:00`, `-0500`). `None` if it is not one.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = &frac[..n.min(9)];
        nanos = digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32);
        rest = &frac[n..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = hm[..2].parse().ok()?;
            let om: i64 = hm[2..].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs =
        days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// `--since`: an age (`90s`, `30m`, `2h`, `7d`, `1w`) counted back from `now`, or an RFC 3339
/// time. The error is one sentence naming the value and what works.
pub fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "--since {s:?} is neither an age (90s, 30m, 2h, 7d, 1w) nor an RFC 3339 time (2026-11-28T05:33:35Z)"
        )
    };
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return Err(bad()),
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
        assert_eq!(parse_rfc3339(&s), Some(t));
    }

    #[test]
    fn rfc3339_spellings() {
        let base = UNIX_EPOCH + Duration::from_secs(1_795_845_215);
        for s in [
            "2026-11-28T05:53:35Z",
            "2026-11-28t05:53:35z",
            "2026-11-28 05:53:35Z",
            "2026-11-28T07:53:35+02:00",
            "2026-11-28T00:53:35-0500",
        ] {
            assert_eq!(parse_rfc3339(s), Some(base), "{s}");
        }
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.5Z"),
            Some(UNIX_EPOCH + Duration::from_millis(951_782_400_500))
        );
        for s in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-11-28T05:53:35",
            "2026-11-28T05:53:35+2",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
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
