//! `--format json`: one document per run, with a `schema` field. The shapes are documented in
//! docs/json.md and stable within a schema version.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::doctor::Report;
use crate::units::rfc3339;
use crate::util::millis;

pub const DOCTOR_SCHEMA: &str = "dockhand.doctor/v1";

pub fn doctor_value(report: &Report) -> Value {
    let status = report.status();
    json!({
        "schema": DOCTOR_SCHEMA,
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(report.started_at),
        "elapsed_ms": millis(report.elapsed),
        "endpoint": { "host": report.endpoint.to_string(), "source": report.source.to_string() },
        "daemon": report.daemon,
        "status": status.as_str(),
        "exit_code": status.exit_code().code(),
        "summary": report.summary(),
        "checks": report.checks,
    })
}

pub const DF_SCHEMA: &str = "dockhand.df/v1";

/// `dockhand df --format json`: the report with every object, or the biggest `top` of each kind.
pub fn df(
    r: &crate::facts::storage_map::DfReport,
    endpoint: &str,
    top: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut v = serde_json::to_value(r).map_err(io::Error::other)?;
    if let (Some(n), Some(o)) = (top, v.as_object_mut()) {
        for (part, key) in [
            ("images", "items"),
            ("containers", "items"),
            ("volumes", "items"),
        ] {
            if let Some(items) = o
                .get_mut(part)
                .and_then(|p| p.get_mut(key))
                .and_then(Value::as_array_mut)
            {
                items.truncate(n);
            }
        }
    }
    let mut doc = json!({
        "schema": DF_SCHEMA,
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(r.started_at),
        "elapsed_ms": millis(r.elapsed),
        "endpoint": endpoint,
    });
    if let (Some(d), Value::Object(body)) = (doc.as_object_mut(), v) {
        d.extend(body);
    }
    write_doc(&doc, out)
}

pub fn doctor(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    write_doc(&doctor_value(report), out)
}

/// The catalog with each threshold's effective value (default, or the config's override).
pub fn catalog(cat: &Catalog, config: &Config, out: &mut dyn Write) -> io::Result<()> {
    let checks: Vec<Value> = cat
        .checks
        .iter()
        .map(|c| {
            let thresholds: serde_json::Map<String, Value> = c
                .thresholds
                .iter()
                .map(|(name, t)| {
                    (
                        name.clone(),
                        json!({
                            "default": t.default, "unit": t.unit, "help": t.help,
                            "value": config.threshold(cat, &c.id, name),
                        }),
                    )
                })
                .collect();
            json!({
                "id": c.id, "area": c.area, "title": c.title, "severity": c.severity,
                "enabled": !config.disabled.contains(&c.id),
                "meaning": c.meaning.trim(), "remedy": c.remedy.trim(), "thresholds": thresholds,
                "not_applicable_to_podman": c.not_applicable_to_podman,
            })
        })
        .collect();
    write_doc(&Value::Array(checks), out)
}

pub(crate) fn write_doc(v: &Value, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(|e| {
        e.io_error_kind()
            .map_or_else(|| io::Error::other(e.to_string()), io::Error::from)
    })?;
    writeln!(out)
}
