//! `dockhand gc`'s output: the plan as a table (what goes and why, what a keep rule protected,
//! totals), the outcome of an applied run with its one-line summary, the progress bar, and the
//! `dockhand.gc/v1` JSON document — typed here, so a test deserialises exactly what is written.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use serde::{Deserialize, Serialize};

use super::Style;
use crate::actions::{ApplyReport, Outcome, StepReport};
use crate::exit::ExitCode;
use crate::gc::GcReport;
use crate::gc::plan::{Entry, Kind, PolicyDoc};
use crate::units::rfc3339;
use crate::util::{human_age, human_bytes, human_duration, millis, sanitize};

pub const SCHEMA: &str = "dockhand.gc/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcDoc {
    pub schema: String,
    pub version: String,
    pub started_at: String,
    pub elapsed_ms: f64,
    pub endpoint: String,
    /// `dry-run`, `apply` or `apply-plan`.
    pub mode: String,
    /// The journal's run id, when the run acted.
    pub run: Option<String>,
    pub daemon: DaemonDoc,
    pub policy: PolicyDoc,
    pub watermark: Option<WatermarkDoc>,
    /// What goes (dry run) or went (apply), in removal order.
    pub remove: Vec<EntryDoc>,
    /// What a keep rule protected.
    pub kept: Vec<EntryDoc>,
    /// How many objects were left for an ordinary reason: `running`, `in-use`, `not-requested`…
    pub left: BTreeMap<String, usize>,
    pub logs: Vec<LogDoc>,
    /// Steps of a saved plan (`--apply-plan`) no longer eligible, not attempted.
    pub dropped: Vec<DroppedDoc>,
    pub totals: TotalsDoc,
    pub plan_out: Option<String>,
    pub notes: Vec<String>,
    /// The one line a timer's log gets.
    pub summary: String,
    pub exit_code: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonDoc {
    pub id: String,
    pub data_root: String,
    pub filesystem: Option<FsDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsDoc {
    pub mount_point: Option<String>,
    pub used_bytes: u64,
    /// Used plus available to unprivileged users.
    pub capacity_bytes: u64,
    pub used_percent: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkDoc {
    pub high: f64,
    pub low: f64,
    pub used_percent: f64,
    pub need_bytes: u64,
    pub planned_bytes: u64,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryDoc {
    /// container, image, volume, network, build-cache, log.
    pub object: String,
    pub id: String,
    pub name: String,
    pub rule: String,
    pub reason: String,
    pub age_s: Option<u64>,
    /// Last use (or first sighting, for an image never used), RFC 3339.
    pub last_used: Option<String>,
    pub bytes: Option<u64>,
    pub steps: Vec<StepDoc>,
    /// After an apply: the worst of its steps' outcomes.
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    pub action: String,
    pub describe: String,
    pub outcome: Option<String>,
    pub detail: Option<String>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogDoc {
    pub container: String,
    pub id: String,
    pub driver: String,
    pub bytes: u64,
    pub unbounded: bool,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DroppedDoc {
    pub action: String,
    pub describe: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotalsDoc {
    /// Objects the plan removes.
    pub objects: usize,
    pub steps: usize,
    /// Bytes the plan frees (df's accounting: each layer once).
    pub reclaimable_bytes: u64,
    /// Objects per kind.
    pub by_kind: BTreeMap<String, usize>,
    /// After an apply: steps done (or already gone), their bytes, steps skipped by a safety rule,
    /// failed, not started.
    pub done: Option<usize>,
    pub freed_bytes: Option<u64>,
    pub skipped: Option<usize>,
    pub failed: Option<usize>,
    pub not_started: Option<usize>,
}

fn time_of(secs: u64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The worst outcome of an object's steps.
fn worst<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Option<&'a Outcome> {
    let rank = |o: &Outcome| match o {
        Outcome::Failed { .. } => 6,
        Outcome::InUse { .. } => 5,
        Outcome::Changed { .. } => 4,
        Outcome::Refused { .. } => 3,
        Outcome::NotStarted => 2,
        Outcome::AlreadyGone => 1,
        Outcome::Done { .. } => 0,
    };
    outcomes.max_by_key(|o| rank(o))
}

fn entry_doc(r: &GcReport, e: &Entry) -> EntryDoc {
    let reports = r.outcomes.report.as_ref();
    let step_report = |i: usize| reports.and_then(|rep| rep.steps.iter().find(|s| s.index == i));
    let steps: Vec<StepDoc> = e
        .steps
        .iter()
        .filter_map(|i| r.plan.plan.steps.get(*i).map(|s| (*i, s)))
        .map(|(i, s)| {
            let rep = step_report(i);
            StepDoc {
                action: s.action.kind().into(),
                describe: s.action.describe(),
                outcome: rep.map(|x| x.outcome.name().into()),
                detail: rep.and_then(|x| x.outcome.detail().map(str::to_string)),
                bytes: rep.map_or(s.bytes, |x| x.outcome.bytes()),
            }
        })
        .collect();
    let outcome = reports.and_then(|_| {
        let outs: Vec<&Outcome> = e
            .steps
            .iter()
            .filter_map(|i| step_report(*i).map(|x| &x.outcome))
            .collect();
        worst(outs.into_iter()).map(|o| o.name().to_string())
    });
    EntryDoc {
        object: e.object.word().into(),
        id: e.id.clone(),
        name: e.name.clone(),
        rule: e.rule.into(),
        reason: e.reason.clone(),
        age_s: e.age_s,
        last_used: e.last_used.map(time_of),
        bytes: e.bytes,
        steps,
        outcome,
    }
}

fn totals(r: &GcReport) -> TotalsDoc {
    let mut t = TotalsDoc {
        objects: r.plan.remove.len(),
        steps: r.plan.plan.len(),
        reclaimable_bytes: r.plan.bytes(),
        ..TotalsDoc::default()
    };
    for e in &r.plan.remove {
        *t.by_kind.entry(e.object.word().into()).or_default() += 1;
    }
    if let Some(rep) = &r.outcomes.report {
        let mut done = 0;
        let mut freed = 0;
        let mut skipped = r.outcomes.dropped.len();
        let mut failed = 0;
        let mut not_started = 0;
        for s in &rep.steps {
            match &s.outcome {
                Outcome::Done { bytes } => {
                    done += 1;
                    freed += bytes.unwrap_or(0);
                }
                Outcome::AlreadyGone => done += 1,
                Outcome::Failed { .. } => failed += 1,
                Outcome::NotStarted => not_started += 1,
                _ => skipped += 1,
            }
        }
        t.done = Some(done);
        t.freed_bytes = Some(freed);
        t.skipped = Some(skipped);
        t.failed = Some(failed);
        t.not_started = Some(not_started);
    }
    t
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the plan removes, per kind, in words: "3 containers, 2 images (5 tags), build cache".
fn kinds_text(r: &GcReport, only_done: bool) -> String {
    let rep = r.outcomes.report.as_ref();
    let done = |i: usize| {
        rep.and_then(|x| x.steps.iter().find(|s| s.index == i))
            .is_some_and(|s| matches!(s.outcome, Outcome::Done { .. } | Outcome::AlreadyGone))
    };
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in &r.plan.remove {
        let n_steps = if only_done {
            e.steps.iter().filter(|i| done(**i)).count()
        } else {
            e.steps.len()
        };
        let gone = if only_done {
            !e.steps.is_empty() && e.steps.iter().all(|i| done(*i))
        } else {
            true
        };
        let c = counts.entry(e.object.word()).or_default();
        c.0 += usize::from(gone);
        c.1 += n_steps;
    }
    let mut parts = Vec::new();
    for (kind, one, many) in [
        ("container", "container", "containers"),
        ("image", "image", "images"),
        ("volume", "volume", "volumes"),
        ("network", "network", "networks"),
    ] {
        if let Some((n, steps)) = counts.get(kind) {
            if *n == 0 && (kind != "image" || *steps == 0) {
                continue;
            }
            let mut s = plural(*n, one, many);
            if kind == "image" && steps != n {
                s.push_str(&format!(
                    " ({})",
                    plural(*steps, "tag or image", "tags and images")
                ));
            }
            parts.push(s);
        }
    }
    if counts.get("build-cache").is_some_and(|c| c.0 > 0) {
        parts.push("build cache".into());
    }
    if let Some((n, _)) = counts.get("log").filter(|c| c.0 > 0) {
        parts.push(format!("{} truncated", plural(*n, "log", "logs")));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// The one line for a timer's log.
pub fn summary(r: &GcReport) -> String {
    let t = totals(r);
    match &r.outcomes.report {
        None => format!(
            "dockhand gc: dry run: would remove {}; {} reclaimable (add --apply to act)",
            kinds_text(r, false),
            human_bytes(t.reclaimable_bytes)
        ),
        Some(rep) => {
            let mut s = format!(
                "dockhand gc: removed {}; freed {}",
                kinds_text(r, true),
                human_bytes(t.freed_bytes.unwrap_or(0))
            );
            s.push_str(&format!(
                "; skipped {}; failed {}",
                t.skipped.unwrap_or(0),
                t.failed.unwrap_or(0)
            ));
            if let Some(n) = t.not_started.filter(|n| *n > 0) {
                s.push_str(&format!(
                    "; {n} not started ({})",
                    if rep.interrupted {
                        "interrupted"
                    } else {
                        "--max-duration reached"
                    }
                ));
            }
            s.push_str(&format!("; {}", human_duration(r.elapsed)));
            if let Some(id) = &r.outcomes.run_id {
                s.push_str(&format!(" (run {id})"));
            }
            s
        }
    }
}

pub fn doc(r: &GcReport, code: ExitCode) -> GcDoc {
    GcDoc {
        schema: SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: rfc3339(r.started_at),
        elapsed_ms: millis(r.elapsed),
        endpoint: r.endpoint.clone(),
        mode: r.outcomes.mode.into(),
        run: r.outcomes.run_id.clone(),
        daemon: DaemonDoc {
            id: r.daemon_id.clone(),
            data_root: r.data_root.display().to_string(),
            filesystem: r.filesystem.as_ref().map(|f| FsDoc {
                mount_point: f.mount_point.as_ref().map(|m| m.display().to_string()),
                used_bytes: f.used_bytes,
                capacity_bytes: f.used_bytes + f.free_bytes,
                used_percent: f.used_percent,
            }),
        },
        policy: PolicyDoc::of(&r.policy, r.keep_storage),
        watermark: r.plan.watermark.map(|w| WatermarkDoc {
            high: w.marks.high,
            low: w.marks.low,
            used_percent: (w.used_percent * 100.0).round() / 100.0,
            need_bytes: w.need,
            planned_bytes: w.planned,
            met: w.met,
        }),
        remove: r.plan.remove.iter().map(|e| entry_doc(r, e)).collect(),
        kept: r.plan.kept.iter().map(|e| entry_doc(r, e)).collect(),
        left: r
            .plan
            .left
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect(),
        logs: r
            .logs
            .iter()
            .map(|l| LogDoc {
                container: l.container.clone(),
                id: l.container_id.clone(),
                driver: l.driver.clone(),
                bytes: l.bytes,
                unbounded: l.unbounded,
                path: l.path.as_ref().map(|p| p.display().to_string()),
            })
            .collect(),
        dropped: r
            .outcomes
            .dropped
            .iter()
            .map(|(s, why)| DroppedDoc {
                action: s.action.kind().into(),
                describe: s.action.describe(),
                why: why.clone(),
            })
            .collect(),
        totals: totals(r),
        plan_out: r.plan_out.as_ref().map(|p| p.display().to_string()),
        notes: r.notes.clone(),
        summary: summary(r),
        exit_code: code.code(),
    }
}

pub fn json(r: &GcReport, code: ExitCode, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &doc(r, code)).map_err(io::Error::other)?;
    writeln!(out)
}

fn table_of(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.to_vec());
    t
}

fn write_table(mut t: Table, right: &[usize], out: &mut dyn Write) -> io::Result<()> {
    for i in right {
        if let Some(c) = t.column_mut(*i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn name_cell(e: &Entry) -> String {
    let name = sanitize(&e.name);
    match e.object {
        Kind::Container | Kind::Network if !e.id.is_empty() => {
            format!("{name} ({})", crate::actions::plan::short(&e.id))
        }
        Kind::Image if !e.name.starts_with(crate::actions::plan::short(&e.id)) => {
            format!("{name} ({})", crate::actions::plan::short(&e.id))
        }
        _ => name,
    }
}

fn policy_line(r: &GcReport) -> String {
    let p = &r.policy;
    let doc = PolicyDoc::of(p, r.keep_storage);
    let mut s = format!(
        "Policy: grace {}; collects {}",
        if p.min_age_s <= 0.0 {
            "none".to_string()
        } else {
            crate::gc::plan::span_text(p.min_age_s)
        },
        if doc.types.is_empty() {
            "nothing".to_string()
        } else {
            doc.types.join(", ")
        }
    );
    if !p.keep_patterns.is_empty() {
        let k: Vec<String> = p.keep_patterns.iter().map(|k| sanitize(k)).collect();
        s.push_str(&format!("; keeps {}", k.join(", ")));
    }
    if p.keep_last > 0 {
        s.push_str(&format!("; keeps the last {} per repository", p.keep_last));
    }
    if let Some(w) = p.watermarks {
        s.push_str(&format!("; watermarks {}%/{}%", w.high, w.low));
    }
    if p.max_removals > 0 {
        s.push_str(&format!("; at most {} removals", p.max_removals));
    }
    s
}

/// The plan (dry run) or its outcome (apply), for people.
pub fn table(r: &GcReport, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let head = match r.outcomes.mode {
        "dry-run" => format!(
            "dockhand gc: dry run against {} (add --apply to act)",
            r.endpoint
        ),
        "apply-plan" => format!("dockhand gc: applying a saved plan against {}", r.endpoint),
        _ => format!("dockhand gc: applying against {}", r.endpoint),
    };
    writeln!(out, "{}", style.bold(&head))?;
    filesystem_line(r, out)?;
    writeln!(out, "{}", policy_line(r))?;
    match r.outcomes.report.as_ref() {
        None => plan_table(r, out)?,
        Some(rep) => not_done_table(r, rep, out)?,
    }
    kept_table(r, out)?;
    if !r.plan.left.is_empty() {
        let parts: Vec<String> = r
            .plan
            .left
            .iter()
            .map(|(rule, n)| format!("{n} {rule}"))
            .collect();
        writeln!(out)?;
        writeln!(out, "Left alone: {}", parts.join(", "))?;
    }
    logs_line(r, out)?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    if let Some(p) = &r.plan_out {
        writeln!(
            out,
            "Plan saved to {} (apply it with --apply-plan)",
            p.display()
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{}", summary(r))
}

/// The data root's filesystem, and where the watermarks leave it.
fn filesystem_line(r: &GcReport, out: &mut dyn Write) -> io::Result<()> {
    let Some(f) = &r.filesystem else {
        return Ok(());
    };
    write!(
        out,
        "Data root {} on {}: {:.1}% used",
        r.data_root.display(),
        f.mount_point
            .as_ref()
            .map_or_else(|| "?".into(), |m| m.display().to_string()),
        f.used_percent
    )?;
    if let Some(w) = &r.plan.watermark {
        write!(
            out,
            " (high {}%, low {}%: {})",
            w.marks.high,
            w.marks.low,
            if w.need == 0 {
                "under the high mark".to_string()
            } else if w.met {
                format!("frees {} to reach the low mark", human_bytes(w.need))
            } else {
                format!(
                    "needs {} to reach the low mark; {} is all that may go",
                    human_bytes(w.need),
                    human_bytes(w.planned)
                )
            }
        )?;
    }
    writeln!(out)
}

/// A dry run: what would go, object by object.
fn plan_table(r: &GcReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    if r.plan.remove.is_empty() {
        return writeln!(out, "Nothing to remove.");
    }
    let mut t = table_of(&["OBJECT", "NAME", "RULE", "AGE", "LAST USE", "BYTES", "WHY"]);
    for e in &r.plan.remove {
        t.add_row(vec![
            e.object.word().to_string(),
            name_cell(e),
            e.rule.to_string(),
            e.age_s.map_or_else(|| "-".into(), human_age),
            e.last_used.map_or_else(
                || "-".into(),
                |t| format!("{} ago", human_age(now_secs().saturating_sub(t))),
            ),
            e.bytes.map_or_else(|| "?".into(), human_bytes),
            e.reason.clone(),
        ]);
    }
    write_table(t, &[3, 5], out)
}

/// An applied run: each step that did not go as planned, and each saved step no longer
/// eligible, with why.
fn not_done_table(r: &GcReport, rep: &ApplyReport, out: &mut dyn Write) -> io::Result<()> {
    let not_done: Vec<&StepReport> = rep
        .steps
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Done { .. } | Outcome::AlreadyGone))
        .collect();
    if not_done.is_empty() && r.outcomes.dropped.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut t = table_of(&["OUTCOME", "ACTION", "DETAIL"]);
    for s in not_done {
        t.add_row(vec![
            s.outcome.name().to_string(),
            s.describe.clone(),
            s.outcome.detail().unwrap_or("").to_string(),
        ]);
    }
    for (s, why) in &r.outcomes.dropped {
        t.add_row(vec![
            "not-eligible".to_string(),
            s.action.describe(),
            why.clone(),
        ]);
    }
    write_table(t, &[], out)
}

/// What a keep rule protected.
fn kept_table(r: &GcReport, out: &mut dyn Write) -> io::Result<()> {
    if r.plan.kept.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "Kept by a rule:")?;
    let mut t = table_of(&["OBJECT", "NAME", "RULE", "WHY"]);
    for e in &r.plan.kept {
        t.add_row(vec![
            e.object.word().to_string(),
            name_cell(e),
            e.rule.to_string(),
            e.reason.clone(),
        ]);
    }
    write_table(t, &[], out)
}

/// The logs' total when they are not collected this run.
fn logs_line(r: &GcReport, out: &mut dyn Write) -> io::Result<()> {
    let mut big: Vec<&crate::gc::gather::LogMeta> = r.logs.iter().filter(|l| l.bytes > 0).collect();
    big.sort_by_key(|l| std::cmp::Reverse(l.bytes));
    if big.is_empty() || r.policy.types.logs {
        return Ok(());
    }
    let total: u64 = big.iter().map(|l| l.bytes).sum();
    writeln!(
        out,
        "Logs: {} hold {} (largest: {} {}); not touched without --truncate-logs",
        plural(big.len(), "container log", "container logs"),
        human_bytes(total),
        sanitize(&big[0].container),
        human_bytes(big[0].bytes)
    )
}

fn now_secs() -> u64 {
    crate::runtime::host::now_secs()
}

/// A progress bar on stderr for an apply on a terminal.
pub fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
    ) {
        pb.set_style(style);
    }
    pb
}

/// One step ended.
pub fn tick(pb: &indicatif::ProgressBar, r: &StepReport) {
    pb.set_message(format!("{} {}", r.outcome.name(), r.target));
    pb.inc(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_outcome_wins() {
        let o = [
            Outcome::Done { bytes: Some(1) },
            Outcome::InUse { why: "x".into() },
            Outcome::AlreadyGone,
        ];
        assert_eq!(worst(o.iter()).map(Outcome::name), Some("in-use"));
        assert_eq!(worst([].iter()).map(Outcome::name), None);
    }
}
