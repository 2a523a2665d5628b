//! `dockhand recover`'s output: the diagnosis, the plan (dry run) or the steps taken (apply),
//! the bundle, the verification; as text for people or one JSON document
//! (`dockhand.recover/v1`, docs/json.md).

use std::io::{self, Write};

use serde_json::{Value, json};

use super::Style;
use crate::exit::ExitCode;
use crate::recover::diagnose::Diagnosis;
use crate::recover::{Report, Verdict};
use crate::util::{human_duration, sanitize};

pub const RECOVER_SCHEMA: &str = "dockhand.recover/v1";

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Planned => "planned",
        Verdict::NotNeeded => "not-needed",
        Verdict::Refused => "refused",
        Verdict::Recovered => "recovered",
        Verdict::Failed => "failed",
        Verdict::RebootNeeded => "reboot-needed",
        Verdict::Interrupted => "interrupted",
    }
}

pub fn value(r: &Report, code: ExitCode) -> Value {
    json!({
        "schema": RECOVER_SCHEMA,
        "version": env!("CARGO_PKG_VERSION"),
        "endpoint": r.endpoint,
        "mode": if r.apply { "apply" } else { "dry-run" },
        "result": verdict_word(r.verdict),
        "reason": r.reason,
        "diagnosis": r.diagnosis.as_ref().map(|d| d.to_json()),
        "plan": r.plan,
        "steps": r.steps,
        "bundle": r.bundle,
        "verification": r.verification,
        "changed": r.changed,
        "notes": r.notes,
        "elapsed_ms": crate::util::millis(r.elapsed),
        "exit_code": code.code(),
    })
}

pub fn json(r: &Report, code: ExitCode, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &value(r, code))?;
    writeln!(out)
}

pub fn table(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{} {}", style.bold("recover"), sanitize(&r.endpoint))?;
    if let Some(d) = &r.diagnosis {
        diagnosis(d, out)?;
    }
    if !r.plan.is_empty() && !r.apply {
        writeln!(out, "\n{}", style.bold("plan"))?;
        for (i, item) in r.plan.iter().enumerate() {
            writeln!(
                out,
                "  {:>2}. {:<6} {}{}",
                i + 1,
                item.stage.as_str(),
                sanitize(&item.describe),
                item.when
                    .as_deref()
                    .map(|w| format!(" [{w}]"))
                    .unwrap_or_default()
            )?;
            writeln!(out, "      {:<6} why: {}", "", sanitize(&item.reason))?;
        }
    }
    if !r.steps.is_empty() {
        writeln!(out, "\n{}", style.bold("steps"))?;
        for s in &r.steps {
            writeln!(
                out,
                "  {:<6} {:<12} {}{} ({})",
                s.stage.as_str(),
                s.outcome,
                sanitize(&s.describe),
                s.detail
                    .as_deref()
                    .map(|d| format!(": {}", sanitize(d)))
                    .unwrap_or_default(),
                human_duration(std::time::Duration::from_secs_f64(s.elapsed_ms / 1000.0))
            )?;
        }
    }
    if let Some(b) = &r.bundle {
        writeln!(
            out,
            "\n{}  {}",
            style.bold("bundle"),
            b["dir"].as_str().unwrap_or_default()
        )?;
        for f in b["files"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  {:<16} {}",
                f["name"].as_str().unwrap_or_default(),
                f["what"].as_str().unwrap_or_default()
            )?;
        }
        for n in b["notes"].as_array().into_iter().flatten() {
            writeln!(out, "  note: {}", sanitize(n.as_str().unwrap_or_default()))?;
        }
    }
    if let Some(c) = &r.changed {
        writeln!(
            out,
            "\n{}  pid {} → {}, {} → {}, running containers {} → {}",
            style.bold("changed"),
            c["pid_before"],
            c["pid_after"],
            c["health_before"].as_str().unwrap_or("?"),
            c["health_after"].as_str().unwrap_or("?"),
            c["containers_running_before"],
            c["containers_running_after"]
        )?;
    }
    for n in &r.notes {
        writeln!(out, "note: {}", sanitize(n))?;
    }
    writeln!(
        out,
        "\n{}: {} ({})",
        style.bold(verdict_word(r.verdict)),
        sanitize(&r.reason),
        human_duration(r.elapsed)
    )
}

/// The diagnosis in four lines: health, process, live-restore, stuck threads.
fn diagnosis(d: &Diagnosis, out: &mut dyn Write) -> io::Result<()> {
    let proc = match &d.process {
        Some(p) => format!(
            "dockerd pid {} (state {}{}), {}",
            p.pid,
            p.state,
            p.wchan
                .as_deref()
                .map(|w| format!(", in {w}"))
                .unwrap_or_default(),
            p.service
        ),
        None => "no daemon process".into(),
    };
    writeln!(
        out,
        "  health        {} — {}",
        d.health.name(),
        sanitize(d.need.why())
    )?;
    writeln!(out, "  process       {proc}")?;
    writeln!(
        out,
        "  live-restore  {} ({}); {} running container{} ({})",
        match d.live_restore {
            Some(true) => "on",
            Some(false) => "off",
            None => "unknown",
        },
        d.live_restore_from,
        d.running(),
        if d.running() == 1 { "" } else { "s" },
        d.containers_from
    )?;
    if !d.stuck.is_empty() {
        writeln!(out, "  stuck threads {}", d.stuck.len())?;
    }
    Ok(())
}
