//! Small formatting helpers shared by the report layer and the runtime's sentences, and the
//! engine's timestamps read and written through jiff.

use std::time::{Duration, SystemTime};

/// "3 s", "500 ms", "1.5 s", "2 min" — how a deadline reads in a sentence.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{:.2} ms", ms)
    } else if ms < 1000.0 {
        format!("{} ms", trim_float(ms, 1))
    } else if ms < 120_000.0 {
        format!("{} s", trim_float(ms / 1000.0, 2))
    } else {
        format!("{} min", trim_float(ms / 60_000.0, 1))
    }
}

/// An age or uptime: "45 s", "12 min", "3 h 5 min", "4 d 2 h".
pub fn human_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// Milliseconds with a fixed precision, for tables and JSON.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn trim_float(v: f64, places: usize) -> String {
    let s = format!("{v:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Bytes in binary units, as operators read `df -h`: "1.5 GiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// RFC 3339 in UTC with second precision ("2026-11-28T05:33:35Z").
pub fn rfc3339(t: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // Whole seconds: the fraction is noise in a report and would make the width vary.
    jiff::Timestamp::from_second(ts.as_second())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// 0002-01-01T00:00:00Z: everything before is Go's zero time (year 1), which the engine writes
/// for "never" (a container that never started or never finished).
const GO_YEAR_TWO: i64 = -62_104_060_800;

/// An RFC 3339 time as the engine writes it ("2026-11-28T06:00:22.119332206Z", or with an
/// offset such as `+02:00`) in seconds since the epoch, with the fraction. Go's zero time and
/// anything unreadable (no offset, not a date) are `None`.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let ts: jiff::Timestamp = s.trim().parse().ok()?;
    if ts.as_second() < GO_YEAR_TWO {
        return None;
    }
    Some(ts.as_duration().as_secs_f64())
}

/// Makes an untrusted string (a container name, a command line from /proc) safe to print on a
/// terminal: control characters, escape sequences included, become `\u{..}` escapes.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a command line into words as a POSIX shell would, without any expansion: blanks
/// separate words; single quotes keep everything; double quotes keep everything but `\"` and
/// `\\`; a backslash outside quotes keeps the next character. An unclosed quote is an error.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("{s:?} has an unclosed single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("{s:?} has an unclosed double quote")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("{s:?} has an unclosed double quote")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(3)), "3 s");
        assert_eq!(human_duration(Duration::from_millis(500)), "500 ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_duration(Duration::from_secs(180)), "3 min");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(human_age(59), "59 s");
        assert_eq!(human_age(3 * 3600 + 300), "3 h 5 min");
        assert_eq!(human_age(2 * 86_400 + 3600), "2 d 1 h");
    }

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
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
        // The fraction is dropped on the way out.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_500)),
            "1970-01-01T00:00:01Z"
        );
    }

    #[test]
    fn escapes_are_neutralised() {
        assert_eq!(sanitize("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(sanitize("plain name"), "plain name");
    }

    #[test]
    fn words_split_as_a_shell_would() {
        let ok = |s: &str| split_words(s).expect(s);
        assert_eq!(ok("dockerd  -D\t--x=1 "), ["dockerd", "-D", "--x=1"]);
        assert_eq!(
            ok("a 'b c' \"d \\\" e\" f\\ g ''"),
            ["a", "b c", "d \" e", "f g", ""]
        );
        assert_eq!(ok(""), Vec::<String>::new());
        assert!(split_words("a 'b").is_err());
        assert!(split_words("a \"b").is_err());
    }
}
