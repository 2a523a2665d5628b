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

use crate::policy::gc::{Policy, Types};

// The `[gc]` section of the config file and the parsers of gc's values live with gc's policy,
// below the config file that reads them and the command that resolves its flags.
pub use crate::policy::gc::config::*;

/// The flags of one run, as given (clap parses the ages; this resolves the rest).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub images: bool,
    pub volumes: bool,
    pub named_volumes: bool,
    pub truncate_logs: bool,
    pub min_age: Option<Duration>,
    pub keep: Vec<String>,
    pub keep_last: Option<String>,
    pub high: Option<String>,
    pub low: Option<String>,
    pub types: Option<String>,
    pub max_removals: Option<String>,
    pub max_duration: Option<Duration>,
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
    let min_age = flags.min_age.or(cfg.min_age).unwrap_or(DEFAULT_MIN_AGE);
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
    let max_duration = flags
        .max_duration
        .or(cfg.max_duration)
        .filter(|d| !d.is_zero());
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
    use crate::policy::gc::Watermarks;

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
        // The flags' value parser: the same ages, and the top names the flag before the why.
        assert_eq!(age("0s"), Ok(Duration::ZERO));
        assert_eq!(age("2w"), Ok(Duration::from_secs(1_209_600)));
        let e = age("soon").expect_err("soon");
        assert!(e.starts_with("is not an age: ") && e.contains("7d"), "{e}");
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
            min_age: Some(Duration::ZERO),
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
