//! Small formatting helpers shared by the report layer and the runtime's sentences. Dates are
//! read and written in `units`.

use std::time::Duration;

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
