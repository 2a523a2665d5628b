//! The daemon's default log configuration for new containers, and which containers keep every
//! line they write. doctor's `daemon.log-rotation` words it; gc and df read a container's own
//! log configuration with the same [`keeps_every_line`].

use serde_json::Value;

use super::flags::flag_values;
use crate::runtime::inventory::LogConfig;

/// The daemon's default log configuration for new containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDefault {
    pub driver: String,
    pub max_size: Option<String>,
    pub max_file: Option<String>,
}

impl LogDefault {
    /// json-file without max-size keeps every line.
    pub fn unbounded(&self) -> bool {
        self.driver == "json-file" && self.max_size.is_none()
    }
}

/// The default: the engine's own word on the driver when it answered, else daemon.json, else
/// the command line, else json-file; options from daemon.json `log-opts`, then `--log-opt`.
pub fn log_default(
    engine_driver: Option<&str>,
    json: Option<&Value>,
    cmdline: &[String],
) -> LogDefault {
    let driver = engine_driver
        .map(str::to_string)
        .or_else(|| {
            json.and_then(|j| j.get("log-driver"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| flag_values(cmdline, "log-driver", None).pop())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "json-file".into());
    let opt = |name: &str| {
        json.and_then(|j| j.pointer(&format!("/log-opts/{name}")))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .or_else(|| {
                flag_values(cmdline, "log-opt", None)
                    .into_iter()
                    .filter_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        (k == name).then(|| v.to_string())
                    })
                    .next_back()
            })
            .filter(|v| !v.is_empty() && v != "-1")
    };
    LogDefault {
        driver,
        max_size: opt("max-size"),
        max_file: opt("max-file"),
    }
}

/// A container's own log configuration keeps every line: json-file without a `max-size` (an
/// empty or `-1` one is none). Containers keep the configuration they were created with.
pub fn keeps_every_line(lc: &LogConfig) -> bool {
    let has_max = lc
        .config
        .get("max-size")
        .is_some_and(|s| !s.is_empty() && s != "-1");
    lc.kind == "json-file" && !has_max
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn log_defaults() {
        let none = args("dockerd");
        assert!(log_default(None, None, &none).unbounded());
        assert!(log_default(Some("json-file"), Some(&json!({})), &none).unbounded());
        let capped = log_default(
            Some("json-file"),
            Some(&json!({"log-opts": {"max-size": "10m", "max-file": "3"}})),
            &none,
        );
        assert!(!capped.unbounded());
        assert_eq!(capped.max_size.as_deref(), Some("10m"));
        assert_eq!(capped.max_file.as_deref(), Some("3"));
        assert!(!log_default(Some("local"), None, &none).unbounded());
        assert!(!log_default(Some("journald"), None, &none).unbounded());
        assert!(!log_default(None, Some(&json!({"log-driver": "local"})), &none).unbounded());
        assert!(!log_default(None, None, &args("dockerd --log-opt max-size=5m")).unbounded());
        assert!(!log_default(None, None, &args("dockerd --log-opt=max-size=5m")).unbounded());
        assert!(log_default(None, None, &args("dockerd --log-opt max-file=5")).unbounded());
        assert!(
            log_default(None, Some(&json!({"log-opts": {"max-size": "-1"}})), &none).unbounded()
        );
        // The engine's word on the driver wins over the file (a flag may have set it).
        assert!(
            !log_default(
                Some("syslog"),
                Some(&json!({"log-driver": "json-file"})),
                &none
            )
            .unbounded()
        );
    }

    #[test]
    fn containers_that_keep_every_line() {
        let lc = |kind: &str, opts: &[(&str, &str)]| LogConfig {
            kind: kind.into(),
            config: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let cases = [
            (lc("json-file", &[]), true),
            (lc("json-file", &[("max-file", "3")]), true),
            (lc("json-file", &[("max-size", "")]), true),
            (lc("json-file", &[("max-size", "-1")]), true),
            (lc("json-file", &[("max-size", "10m")]), false),
            (lc("local", &[]), false),
            (lc("journald", &[]), false),
            (lc("none", &[]), false),
        ];
        for (c, want) in cases {
            assert_eq!(keeps_every_line(&c), want, "{c:?}");
        }
    }
}
