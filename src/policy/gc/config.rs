//! The `[gc]` section of the config file, and the one parser of each of gc's values (ages,
//! percentages, counts, type words, watermarks): plain text in, a value or one sentence out.
//! Below both readers — the config file (`config.rs`) and gc's flags (`gc::options`) — so a value
//! is refused with the same words wherever it is written.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Types, Watermarks};

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

/// What an age may look like, for every refusal.
const AGE_HINT: &str = "use e.g. 0s, 30m, 1h, 7d or 2w";

/// Parses an age or a duration: `0`, `90s`, `30m`, `1.5h`, `7d`, `2w` (plain numbers are
/// seconds). `what` names the flag or key in the sentence.
pub fn parse_age(what: &str, s: &str) -> Result<Duration, String> {
    age_of(s).map_err(|why| format!("{what} {s:?} is not an age: {why}; {AGE_HINT}"))
}

/// The value parser of gc's age flags (`--min-age`, `--max-duration`): clap calls it, and the
/// top puts the flag and the value before the refusal, as for every duration flag. Ages are not
/// `units::duration`'s deadlines: zero is a real grace period, and weeks are common.
pub fn age(s: &str) -> Result<Duration, String> {
    age_of(s).map_err(|why| format!("is not an age: {why}; {AGE_HINT}"))
}

/// The age in `s`, or why it is not one.
fn age_of(s: &str) -> Result<Duration, String> {
    let (n, unit) = crate::units::number_and_unit(s)?;
    let mult = crate::units::seconds_per(unit)
        .ok_or_else(|| format!("{unit:?} is not a unit (s, m, h, d, w)"))?;
    let secs = n * mult;
    if !secs.is_finite() || !(0.0..=100.0 * 365.0 * 86_400.0).contains(&secs) {
        return Err("it is out of range".into());
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
