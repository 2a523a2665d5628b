//! gc's inputs: flags and the config file's `[gc]` section, resolved into one policy. Every bad
//! value is one sentence naming it and what would work (exit 64).
//!
//! ```toml
//! [gc]
//! min_age = "2h"
//! keep = ["registry:5000/base:*", "postgres:*"]
//! keep_last = 3
//! high = "85%"
//! low = "75%"
//! types = ["containers", "dangling-images", "networks", "build-cache", "images"]
//! max_removals = 500
//! max_duration = "10m"
//! keep_storage = "10GB"
//! concurrency = 16
//! ```
//! Flags win over the file; `--keep` patterns add to the file's.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::policy::gc::{Policy, Types, Watermarks};

/// The `[gc]` section as written, each value with its place in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcSection {
    pub min_age: Option<Spanned<toml::Value>>,
    pub keep: Option<Spanned<toml::Value>>,
    pub keep_last: Option<Spanned<toml::Value>>,
    pub high: Option<Spanned<toml::Value>>,
    pub low: Option<Spanned<toml::Value>>,
    pub types: Option<Spanned<toml::Value>>,
    pub max_removals: Option<Spanned<toml::Value>>,
    pub max_duration: Option<Spanned<toml::Value>>,
    pub keep_storage: Option<Spanned<toml::Value>>,
    pub concurrency: Option<Spanned<toml::Value>>,
}

/// The `[gc]` section, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcConfig {
    pub min_age: Option<Duration>,
    pub keep: Vec<String>,
    pub keep_last: Option<usize>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub types: Option<Types>,
    pub max_removals: Option<usize>,
    pub max_duration: Option<Duration>,
    pub keep_storage: Option<u64>,
    pub concurrency: Option<usize>,
}

/// The default grace period.
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(3600);
/// Removals in flight at once: the engine serialises much of a removal internally; past 16 a
/// 2-core host gains nothing and the daemon's other clients wait longer.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The type words of `--types` and `types = [...]`.
pub const TYPE_WORDS: &str =
    "containers, dangling-images, images, networks, build-cache, volumes, named-volumes, logs";

/// Parses an age or a duration: `0`, `90s`, `30m`, `1.5h`, `7d`, `2w` (plain numbers are
/// seconds). `what` names the flag or key in the sentence.
pub fn parse_age(what: &str, s: &str) -> Result<Duration, String> {
    let bad =
        |why: &str| format!("{what} {s:?} is not an age: {why}; use e.g. 0s, 30m, 1h, 7d or 2w");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| bad("it does not start with a number"))?;
    let mult = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        other => return Err(bad(&format!("{other:?} is not a unit (s, m, h, d, w)"))),
    };
    let secs = n * mult;
    if !secs.is_finite() || !(0.0..=100.0 * 365.0 * 86_400.0).contains(&secs) {
        return Err(bad("it is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Sizes are read by the one size parser, beside the durations.
pub use crate::units::parse_size;

/// Parses a percentage: `85%`, `85`, `72.5%`; from 0 to 100.
pub fn parse_percent(what: &str, s: &str) -> Result<f64, String> {
    let t = s.trim();
    let n: f64 = t
        .strip_suffix('%')
        .unwrap_or(t)
        .trim()
        .parse()
        .map_err(|_| format!("{what} {s:?} is not a percentage; use e.g. 85%"))?;
    if !(0.0..=100.0).contains(&n) {
        return Err(format!(
            "{what} {s:?} is out of range; use a percentage from 0% to 100%"
        ));
    }
    Ok(n)
}

/// Parses a whole number from `min` up.
pub fn parse_count(what: &str, s: &str, min: usize) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("{what} {s:?} is not a whole number of at least {min}"))
}

/// Parses a list of type words into the set; an empty list is nothing at all.
pub fn parse_types<'a>(
    what: &str,
    words: impl IntoIterator<Item = &'a str>,
) -> Result<Types, String> {
    let mut t = Types::default();
    for w in words {
        match w.trim() {
            "" => {}
            "containers" => t.containers = true,
            "dangling-images" | "dangling" => t.dangling_images = true,
            "images" => t.images = true,
            "networks" => t.networks = true,
            "build-cache" => t.build_cache = true,
            "volumes" => t.volumes = true,
            "named-volumes" => {
                t.volumes = true;
                t.named_volumes = true;
            }
            "logs" => t.logs = true,
            other => {
                return Err(format!(
                    "{what}: {other:?} is not a type; use some of {TYPE_WORDS}"
                ));
            }
        }
    }
    Ok(t)
}

/// Checks a pair of watermarks: both or neither, low under high.
pub fn watermarks(high: Option<f64>, low: Option<f64>) -> Result<Option<Watermarks>, String> {
    match (high, low) {
        (None, None) => Ok(None),
        (Some(h), None) => Err(format!(
            "--high {h}% needs --low too (the mark to bring the filesystem down to), e.g. --high {h}% --low {}%",
            (h - 10.0).max(0.0)
        )),
        (None, Some(l)) => Err(format!(
            "--low {l}% needs --high too (the mark above which gc frees space), e.g. --high {}% --low {l}%",
            (l + 10.0).min(100.0)
        )),
        (Some(h), Some(l)) if l >= h => Err(format!(
            "--low {l}% must be below --high {h}%; e.g. --high 85% --low 75%"
        )),
        (Some(high), Some(low)) => Ok(Some(Watermarks { high, low })),
    }
}

fn text_of(key: &str, v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        other => Err(format!(
            "gc.{key} must be a string or a number, not a {}",
            other.type_str()
        )),
    }
}

fn strings_of(key: &str, v: &toml::Value) -> Result<Vec<String>, String> {
    let bad = || format!("gc.{key} must be a list of strings, e.g. {key} = [\"app:*\"]");
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|x| x.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

/// Validates the `[gc]` section; an error carries the offset of the bad value in the file.
pub fn resolve_section(s: &GcSection) -> Result<GcConfig, (usize, String)> {
    fn one<T>(
        v: &Option<Spanned<toml::Value>>,
        f: impl FnOnce(&toml::Value) -> Result<T, String>,
    ) -> Result<Option<T>, (usize, String)> {
        match v {
            None => Ok(None),
            Some(sp) => f(sp.get_ref()).map(Some).map_err(|e| (sp.span().start, e)),
        }
    }
    let mut c = GcConfig {
        min_age: one(&s.min_age, |v| {
            parse_age("gc.min_age", &text_of("min_age", v)?)
        })?,
        keep: one(&s.keep, |v| strings_of("keep", v))?.unwrap_or_default(),
        keep_last: one(&s.keep_last, |v| {
            parse_count("gc.keep_last", &text_of("keep_last", v)?, 0)
        })?,
        high: one(&s.high, |v| parse_percent("gc.high", &text_of("high", v)?))?,
        low: one(&s.low, |v| parse_percent("gc.low", &text_of("low", v)?))?,
        types: one(&s.types, |v| {
            let words = strings_of("types", v)?;
            parse_types("gc.types", words.iter().map(String::as_str))
        })?,
        max_removals: one(&s.max_removals, |v| {
            parse_count("gc.max_removals", &text_of("max_removals", v)?, 0)
        })?,
        max_duration: one(&s.max_duration, |v| {
            parse_age("gc.max_duration", &text_of("max_duration", v)?)
        })?,
        keep_storage: one(&s.keep_storage, |v| {
            parse_size("gc.keep_storage", &text_of("keep_storage", v)?)
        })?,
        concurrency: one(&s.concurrency, |v| {
            parse_count("gc.concurrency", &text_of("concurrency", v)?, 1)
        })?,
    };
    if let Err(e) = watermarks(c.high, c.low) {
        let at = s
            .high
            .as_ref()
            .or(s.low.as_ref())
            .map_or(0, |v| v.span().start);
        return Err((
            at,
            e.replace("--high", "gc.high").replace("--low", "gc.low"),
        ));
    }
    if c.concurrency.is_some_and(|n| n > 256) {
        return Err((
            s.concurrency.as_ref().map_or(0, |v| v.span().start),
            "gc.concurrency must be at most 256".into(),
        ));
    }
    c.keep.retain(|k| !k.is_empty());
    Ok(c)
}

/// The flags of one run, as given (clap reads them as text; this resolves them).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub images: bool,
    pub volumes: bool,
    pub named_volumes: bool,
    pub truncate_logs: bool,
    pub min_age: Option<String>,
    pub keep: Vec<String>,
    pub keep_last: Option<String>,
    pub high: Option<String>,
    pub low: Option<String>,
    pub types: Option<String>,
    pub max_removals: Option<String>,
    pub max_duration: Option<String>,
    pub keep_storage: Option<String>,
    pub concurrency: Option<String>,
}

/// A run's resolved options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub policy: Policy,
    pub keep_storage: Option<u64>,
    pub max_duration: Option<Duration>,
    pub concurrency: usize,
}

/// Flags over the config file over the defaults.
pub fn resolve(flags: &Flags, cfg: &GcConfig) -> Result<Options, String> {
    let min_age = match &flags.min_age {
        Some(s) => parse_age("--min-age", s)?,
        None => cfg.min_age.unwrap_or(DEFAULT_MIN_AGE),
    };
    let mut types = match &flags.types {
        Some(s) => parse_types("--types", s.split(','))?,
        None => cfg.types.unwrap_or_else(Types::default_set),
    };
    types.images |= flags.images;
    types.volumes |= flags.volumes || flags.named_volumes;
    types.named_volumes |= flags.named_volumes;
    types.logs |= flags.truncate_logs;
    let high = match &flags.high {
        Some(s) => Some(parse_percent("--high", s)?),
        None => cfg.high,
    };
    let low = match &flags.low {
        Some(s) => Some(parse_percent("--low", s)?),
        None => cfg.low,
    };
    let mut keep = cfg.keep.clone();
    for k in &flags.keep {
        if k.trim().is_empty() {
            return Err(
                "--keep \"\" is not a pattern; use a repo:tag glob such as app:* or */base:*"
                    .into(),
            );
        }
        keep.push(k.clone());
    }
    let keep_last = match &flags.keep_last {
        Some(s) => parse_count("--keep-last", s, 0)?,
        None => cfg.keep_last.unwrap_or(0),
    };
    let max_removals = match &flags.max_removals {
        Some(s) => parse_count("--max-removals", s, 0)?,
        None => cfg.max_removals.unwrap_or(0),
    };
    let max_duration = match &flags.max_duration {
        Some(s) => Some(parse_age("--max-duration", s)?).filter(|d| !d.is_zero()),
        None => cfg.max_duration.filter(|d| !d.is_zero()),
    };
    let keep_storage = match &flags.keep_storage {
        Some(s) => Some(parse_size("--keep-storage", s)?),
        None => cfg.keep_storage,
    };
    let concurrency = match &flags.concurrency {
        Some(s) => parse_count("--concurrency", s, 1)?,
        None => cfg.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
    };
    if concurrency > 256 {
        return Err(format!(
            "--concurrency {concurrency} is too many; use 1 to 256 (default {DEFAULT_CONCURRENCY})"
        ));
    }
    Ok(Options {
        policy: Policy {
            min_age_s: min_age.as_secs_f64(),
            keep_patterns: keep,
            keep_last,
            watermarks: watermarks(high, low)?,
            types,
            max_removals,
        },
        keep_storage,
        max_duration,
        concurrency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("90s", 90),
            ("30m", 1800),
            ("1h", 3600),
            ("1.5h", 5400),
            ("7d", 604_800),
            ("2w", 1_209_600),
        ];
        for (s, want) in cases {
            assert_eq!(
                parse_age("--min-age", s),
                Ok(Duration::from_secs(want)),
                "{s}"
            );
        }
        for bad in ["", "h", "-1h", "3 parsecs", "1y", "nan"] {
            let e = parse_age("--min-age", bad).expect_err(bad);
            assert!(e.starts_with("--min-age") && e.contains("7d"), "{e}");
        }
    }

    #[test]
    fn percents_counts_and_types() {
        assert_eq!(parse_percent("--high", "85%"), Ok(85.0));
        assert_eq!(parse_percent("--high", " 72.5 "), Ok(72.5));
        assert!(parse_percent("--high", "150%").is_err());
        assert!(parse_percent("--high", "most").is_err());
        assert_eq!(parse_count("--keep-last", "3", 0), Ok(3));
        assert!(parse_count("--concurrency", "0", 1).is_err());
        assert!(parse_count("--keep-last", "-1", 0).is_err());
        let t = parse_types("--types", "containers,named-volumes".split(',')).expect("types");
        assert!(t.containers && t.volumes && t.named_volumes && !t.images);
        let e = parse_types("--types", ["containers", "pictures"]).expect_err("bad");
        assert!(e.contains("pictures") && e.contains("build-cache"), "{e}");
    }

    #[test]
    fn watermark_pairs() {
        assert_eq!(watermarks(None, None), Ok(None));
        assert!(
            watermarks(Some(85.0), None)
                .expect_err("one")
                .contains("--low")
        );
        assert!(
            watermarks(None, Some(75.0))
                .expect_err("one")
                .contains("--high")
        );
        assert!(
            watermarks(Some(70.0), Some(75.0))
                .expect_err("order")
                .contains("below")
        );
        assert_eq!(
            watermarks(Some(85.0), Some(75.0)),
            Ok(Some(Watermarks {
                high: 85.0,
                low: 75.0
            }))
        );
    }

    #[test]
    fn flags_win_over_the_file_and_add_types() {
        let cfg = GcConfig {
            min_age: Some(Duration::from_secs(7200)),
            keep: vec!["base:*".into()],
            keep_last: Some(2),
            types: Some(Types {
                containers: true,
                ..Types::default()
            }),
            ..GcConfig::default()
        };
        let o = resolve(&Flags::default(), &cfg).expect("ok");
        assert_eq!(o.policy.min_age_s, 7200.0);
        assert_eq!(o.policy.keep_last, 2);
        assert!(o.policy.types.containers && !o.policy.types.dangling_images);
        assert_eq!(o.concurrency, DEFAULT_CONCURRENCY);
        let flags = Flags {
            min_age: Some("0s".into()),
            keep: vec!["app:*".into()],
            images: true,
            named_volumes: true,
            high: Some("85%".into()),
            low: Some("75".into()),
            ..Flags::default()
        };
        let o = resolve(&flags, &cfg).expect("ok");
        assert_eq!(o.policy.min_age_s, 0.0);
        assert_eq!(o.policy.keep_patterns, ["base:*", "app:*"]);
        assert!(o.policy.types.images && o.policy.types.volumes && o.policy.types.named_volumes);
        assert!(o.policy.watermarks.is_some());
        // No config at all: docker system prune's set, an hour of grace.
        let o = resolve(&Flags::default(), &GcConfig::default()).expect("ok");
        assert_eq!(o.policy, Policy::default());
        let bad = Flags {
            concurrency: Some("1000".into()),
            ..Flags::default()
        };
        assert!(resolve(&bad, &GcConfig::default()).is_err());
    }

    #[test]
    fn the_section_is_checked_value_by_value() {
        let sec: GcSection = toml::from_str(
            "min_age = \"2h\"\nkeep = [\"a:*\"]\nkeep_last = 3\nhigh = \"85%\"\nlow = 75\ntypes = [\"containers\", \"images\"]\nkeep_storage = \"1GB\"\n",
        )
        .expect("parses");
        let c = resolve_section(&sec).expect("valid");
        assert_eq!(c.min_age, Some(Duration::from_secs(7200)));
        assert_eq!(c.keep_storage, Some(1 << 30));
        assert_eq!((c.high, c.low), (Some(85.0), Some(75.0)));
        let text = "min_age = \"soon\"\n";
        let sec: GcSection = toml::from_str(text).expect("parses");
        let (at, e) = resolve_section(&sec).expect_err("bad");
        assert_eq!(at, text.find("\"soon\"").expect("found"));
        assert!(e.contains("gc.min_age") && e.contains("soon"), "{e}");
        let sec: GcSection = toml::from_str("high = 80\n").expect("parses");
        assert!(
            resolve_section(&sec)
                .expect_err("pair")
                .1
                .contains("gc.low")
        );
        assert!(toml::from_str::<GcSection>("mni_age = 1\n").is_err());
    }
}
