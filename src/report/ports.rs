//! `dockhand ports` and `ports free`: a table for people, or one JSON document
//! (`dockhand.ports/v1`, `dockhand.ports-free/v1`; docs/json.md).

use std::io::{self, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::Style;
use super::acting::{StepView, outcome_counts, planned, steps_table};
use crate::exit::ExitCode;
use crate::policy::ports::{AfterFree, BelongsBy, Leak, ListenerStatus, OwnerKind, Problem, Stuck};
use crate::ports::free::{Elsewhere, FreeOptions, FreePlan, Holder, endpoint};
use crate::ports::survey::{ListenerRow, Survey};
use crate::runtime::net::Proto;
use crate::units::rfc3339;
use crate::util::{millis, sanitize};

pub const PORTS_SCHEMA: &str = "dockhand.ports/v1";
pub const FREE_SCHEMA: &str = "dockhand.ports-free/v1";

/// The filters a listing was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub port: Option<u16>,
    pub container: Option<String>,
}

/// How many listeners have each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsSummary {
    pub listeners: usize,
    pub ok: usize,
    pub stuck: usize,
    pub leaked_proxy: usize,
    pub conflict: usize,
}

/// `dockhand ports --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsDoc {
    pub schema: String,
    pub version: String,
    pub started_at: String,
    pub elapsed_ms: f64,
    pub endpoint: String,
    pub daemon_pid: Option<i32>,
    pub filters: Filters,
    pub namespaces: usize,
    pub unreadable_processes: usize,
    pub summary: PortsSummary,
    pub listeners: Vec<ListenerRow>,
    pub notes: Vec<String>,
}

impl PortsDoc {
    pub fn new(
        s: &Survey,
        rows: Vec<ListenerRow>,
        endpoint: String,
        started_at: SystemTime,
        elapsed: Duration,
        port: Option<u16>,
        container: Option<String>,
    ) -> PortsDoc {
        let mut summary = PortsSummary {
            listeners: rows.len(),
            ..PortsSummary::default()
        };
        for r in &rows {
            match r.status {
                ListenerStatus::Stuck => summary.stuck += 1,
                ListenerStatus::LeakedProxy => summary.leaked_proxy += 1,
                ListenerStatus::Conflict => summary.conflict += 1,
                ListenerStatus::Ok => summary.ok += 1,
            }
        }
        PortsDoc {
            schema: PORTS_SCHEMA.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: rfc3339(started_at),
            elapsed_ms: millis(elapsed),
            endpoint,
            daemon_pid: s.daemon.map(|d| d.pid),
            filters: Filters { port, container },
            namespaces: s.namespaces,
            unreadable_processes: s.unreadable,
            summary,
            listeners: rows,
            notes: s.notes.clone(),
        }
    }
}

pub fn json(doc: &PortsDoc, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc).map_err(io::Error::other)?;
    writeln!(out)
}

/// "0.0.0.0:8080", "[::]:53".
fn addr_port(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

fn stuck_text(s: Stuck) -> &'static str {
    match s {
        Stuck::Stopped => "stopped (T)",
        Stuck::Uninterruptible => "stuck in D",
        Stuck::Traced => "traced (t)",
        Stuck::ParentZombie => "parent is a zombie",
    }
}

/// A listener's status in words, with its mark.
fn status_text(r: &ListenerRow, style: Style) -> String {
    let (mark, code, text) = match r.problems.first() {
        None => ("✔", "32", "ok".to_string()),
        Some(Problem::Stuck { why }) => (
            if why.critical() { "✖" } else { "!" },
            if why.critical() { "31" } else { "33" },
            format!("stuck: {}", stuck_text(*why)),
        ),
        Some(Problem::LeakedProxy { why }) => (
            "!",
            "33",
            format!(
                "leaked proxy ({})",
                match why {
                    Leak::Orphan => "orphan",
                    Leak::ContainerGone => "container gone",
                }
            ),
        ),
        Some(Problem::Conflict {
            name,
            container,
            restart_policy,
        }) => (
            "!",
            "33",
            format!(
                "conflict: blocks {} ({restart_policy})",
                sanitize(if name.is_empty() { container } else { name })
            ),
        ),
    };
    let more = r.problems.len().saturating_sub(1);
    let text = if more > 0 {
        format!("{mark} {text} (+{more})")
    } else {
        format!("{mark} {text}")
    };
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text
    }
}

fn container_text(r: &ListenerRow) -> String {
    match &r.container {
        None => "-".to_string(),
        Some(c) => {
            let name = if c.name.is_empty() {
                c.id.get(..12).unwrap_or(&c.id).to_string()
            } else {
                sanitize(&c.name)
            };
            let by = match c.by {
                BelongsBy::Proxy => "proxy",
                BelongsBy::Namespace => "netns",
                BelongsBy::Process => "process",
                BelongsBy::Published => "published",
            };
            format!("{name} ({by})")
        }
    }
}

/// How wide a cell shows: its characters, less colour escape codes (`ESC [ … m`).
fn visible_width(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// Writes rows of cells with columns padded to their widest cell, as shown. Two passes over
/// `cells(i)` (widths, then lines) rather than a table held in memory: `dockhand ports` may
/// print ten thousand rows. Row 0 is the header.
fn columns(n: usize, cells: impl Fn(usize) -> Vec<String>, out: &mut dyn Write) -> io::Result<()> {
    let mut width: Vec<usize> = Vec::new();
    for i in 0..n {
        for (j, c) in cells(i).iter().enumerate() {
            if width.len() <= j {
                width.push(0);
            }
            width[j] = width[j].max(visible_width(c));
        }
    }
    let mut line = String::new();
    for i in 0..n {
        line.clear();
        let row = cells(i);
        for (j, c) in row.iter().enumerate() {
            line.push_str(c);
            if j + 1 < row.len() {
                for _ in visible_width(c)..width[j] + 2 {
                    line.push(' ');
                }
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The cells of one listener's row.
fn row_cells(r: &ListenerRow, style: Style) -> Vec<String> {
    let pids = if r.owners.is_empty() {
        "?".to_string()
    } else {
        r.owners
            .iter()
            .map(|o| o.pid.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut comms: Vec<String> = r.owners.iter().map(|o| sanitize(&o.comm)).collect();
    comms.dedup();
    vec![
        r.proto.to_string(),
        addr_port(r.address, r.port),
        pids,
        if comms.is_empty() {
            "?".to_string()
        } else {
            comms.join(",")
        },
        r.user
            .as_deref()
            .map_or_else(|| r.uid.to_string(), sanitize),
        container_text(r),
        if r.host_namespace {
            "host".to_string()
        } else {
            r.netns.to_string()
        },
        status_text(r, style),
    ]
}

pub fn table(doc: &PortsDoc, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let header: Vec<String> = [
        "PROTO",
        "ADDRESS",
        "PID",
        "PROCESS",
        "USER",
        "CONTAINER",
        "NETNS",
        "STATUS",
    ]
    .iter()
    .map(|h| style.bold(h))
    .collect();
    let cells = |i: usize| match i {
        0 => header.clone(),
        i => row_cells(&doc.listeners[i - 1], style),
    };
    if doc.listeners.is_empty() {
        let what = match (&doc.filters.port, &doc.filters.container) {
            (Some(p), _) => format!("nothing listens on port {p}"),
            (None, Some(c)) => format!("no listener belongs to container {}", sanitize(c)),
            (None, None) => "no listening sockets".to_string(),
        };
        writeln!(
            out,
            "{what} (in {} network namespace{})",
            doc.namespaces,
            if doc.namespaces == 1 { "" } else { "s" }
        )?;
    } else {
        columns(doc.listeners.len() + 1, cells, out)?;
    }
    let s = &doc.summary;
    let mut parts = vec![format!("{} ok", s.ok)];
    for (n, w) in [
        (s.stuck, "stuck"),
        (s.leaked_proxy, "leaked proxy"),
        (s.conflict, "conflict"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {w}"));
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} listener{} in {} network namespace{}: {}",
        s.listeners,
        if s.listeners == 1 { "" } else { "s" },
        doc.namespaces,
        if doc.namespaces == 1 { "" } else { "s" },
        parts.join(", ")
    )?;
    let mut ports: Vec<u16> = doc
        .listeners
        .iter()
        .filter(|r| r.host_namespace && !r.problems.is_empty())
        .map(|r| r.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    if !ports.is_empty() {
        let shown: Vec<String> = ports.iter().take(10).map(u16::to_string).collect();
        writeln!(
            out,
            "{} `dockhand ports free PORT` explains and frees one (port{} {}{}); `dockhand reap` stops every leaked docker-proxy.",
            style.bold("What to do:"),
            if ports.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if ports.len() > 10 { ", …" } else { "" }
        )?;
    }
    for n in &doc.notes {
        writeln!(out, "note: {}", sanitize(n))?;
    }
    Ok(())
}

/// Who holds the port now, after acting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NowHolder {
    /// `null` for a listener whose owner could not be seen.
    pub pid: Option<i32>,
    pub start_ticks: u64,
    pub comm: String,
    pub proto: Proto,
    pub address: IpAddr,
}

/// The port after acting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    /// `free`, `still-held`, `taken-again`; `null` when the sockets could not be read again.
    pub verdict: Option<AfterFree>,
    pub holders: Vec<NowHolder>,
}

/// `dockhand ports free PORT --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeDoc {
    pub schema: String,
    pub version: String,
    pub started_at: String,
    pub elapsed_ms: f64,
    pub endpoint: String,
    pub port: u16,
    pub proto: Option<Proto>,
    pub applied: bool,
    pub force_foreign: bool,
    pub holders: Vec<Holder>,
    pub elsewhere: Vec<Elsewhere>,
    pub steps: Vec<StepView>,
    pub after: Option<After>,
    pub exit_code: i32,
    pub notes: Vec<String>,
}

impl FreeDoc {
    pub fn new(
        opts: &FreeOptions,
        endpoint: String,
        started_at: SystemTime,
        applied: bool,
        fp: &FreePlan,
    ) -> FreeDoc {
        FreeDoc {
            schema: FREE_SCHEMA.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: rfc3339(started_at),
            elapsed_ms: 0.0,
            endpoint,
            port: opts.port,
            proto: opts.proto,
            applied,
            force_foreign: opts.force_foreign,
            holders: fp.holders.clone(),
            elsewhere: fp.elsewhere.clone(),
            steps: planned(&fp.plan),
            after: None,
            exit_code: 0,
            notes: Vec::new(),
        }
    }

    pub fn finish(&mut self, code: ExitCode, notes: Vec<String>, elapsed: Duration) {
        self.exit_code = code.code();
        self.notes = notes;
        self.elapsed_ms = millis(elapsed);
    }
}

pub fn free_json(doc: &FreeDoc, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc).map_err(io::Error::other)?;
    writeln!(out)
}

fn kind_word(h: &Holder) -> &'static str {
    match &h.kind {
        Some(OwnerKind::Proxy { .. }) => "a docker-proxy",
        Some(OwnerKind::Engine) => "the engine",
        Some(OwnerKind::Container { .. }) => "a container's process",
        Some(OwnerKind::Other) => "not Docker's",
        None => "unseen",
    }
}

pub fn free_table(doc: &FreeDoc, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let proto = doc.proto.map_or_else(String::new, |p| format!("/{p}"));
    if doc.holders.is_empty() {
        writeln!(
            out,
            "Nothing listens on port {}{proto} in the host's network namespace: it is free.",
            doc.port
        )?;
    } else {
        writeln!(
            out,
            "{}",
            style.bold(&format!("Port {}{proto} is held by:", doc.port))
        )?;
        for h in &doc.holders {
            let who = match (h.pid, &h.comm) {
                (Some(pid), Some(c)) => format!(
                    "pid {pid} ({}, state {}, user {}), {}",
                    sanitize(c),
                    h.state.as_deref().unwrap_or("?"),
                    h.user,
                    kind_word(h)
                ),
                _ => "no process seen".to_string(),
            };
            writeln!(out, "  {}  {who}", endpoint(h.address, h.port, h.proto))?;
            writeln!(out, "      {}", sanitize(&h.explain))?;
        }
    }
    for e in &doc.elsewhere {
        writeln!(
            out,
            "  (also listening in network namespace {}{}: {} — that does not hold the host's port)",
            e.netns,
            e.container
                .as_deref()
                .map_or_else(String::new, |c| format!(", container {}", sanitize(c))),
            endpoint(e.address, doc.port, e.proto)
        )?;
    }
    if !doc.steps.is_empty() {
        writeln!(out)?;
        if doc.applied {
            writeln!(out, "{}", style.bold("Done:"))?;
        } else {
            writeln!(
                out,
                "{}",
                style.bold("Plan (a dry run: nothing was changed; add --apply to act):")
            )?;
        }
        steps_table(&doc.steps, style, out)?;
        if doc.applied {
            writeln!(out, "  ({})", outcome_counts(&doc.steps))?;
        }
    } else if !doc.holders.is_empty() {
        writeln!(out)?;
        writeln!(out, "Nothing to do that dockhand may do.")?;
    }
    if let Some(a) = &doc.after {
        writeln!(out)?;
        let who = |hs: &[NowHolder]| {
            hs.iter()
                .map(|h| match h.pid {
                    Some(p) => format!(
                        "pid {p} ({}) on {}",
                        sanitize(&h.comm),
                        endpoint(h.address, doc.port, h.proto)
                    ),
                    None => "a socket whose owner could not be seen".to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = match a.verdict {
            Some(AfterFree::Free) => format!("Port {}{proto} is free now.", doc.port),
            Some(AfterFree::StillHeld) => format!(
                "Port {}{proto} is still held, by {}.",
                doc.port,
                who(&a.holders)
            ),
            Some(AfterFree::TakenAgain) => format!(
                "Port {}{proto} was freed, and something took it again at once: {} (a supervisor restarting it?).",
                doc.port,
                who(&a.holders)
            ),
            None => format!(
                "Whether port {}{proto} is free could not be checked: the sockets could not be read again.",
                doc.port
            ),
        };
        writeln!(out, "{}", style.bold(&line))?;
    }
    for n in &doc.notes {
        writeln!(out, "note: {}", sanitize(n))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = [
            vec!["A".to_string(), "BB".to_string(), "C".to_string()],
            vec!["long".to_string(), "x".to_string(), "y".to_string()],
        ];
        let mut out = Vec::new();
        columns(2, |i| rows[i].clone(), &mut out).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "A     BB  C\nlong  x   y\n"
        );
    }

    #[test]
    fn escapes_take_no_width() {
        assert_eq!(visible_width("\x1b[1mPID\x1b[0m"), 3);
        assert_eq!(visible_width("✔ ok"), 4);
    }

    #[test]
    fn addresses_print_with_brackets_for_ipv6() {
        assert_eq!(addr_port([0, 0, 0, 0].into(), 80), "0.0.0.0:80");
        assert_eq!(addr_port("::".parse().expect("ip"), 53), "[::]:53");
    }

    fn sample_row() -> ListenerRow {
        use crate::policy::ports::{ProxyVerdict, Stuck};
        use crate::ports::survey::{ContainerRef, OwnerRow};
        ListenerRow {
            proto: Proto::Tcp,
            address: [127, 0, 0, 1].into(),
            port: 9000,
            host_namespace: true,
            netns: 1,
            inode: 2,
            uid: 0,
            user: Some("root".into()),
            owners: vec![std::sync::Arc::new(OwnerRow {
                pid: 5,
                comm: "docker-proxy".into(),
                state: "T".into(),
                wchan: None,
                ppid: 1,
                start_ticks: 9,
                cmdline: vec!["docker-proxy".into()],
                kind: OwnerKind::Proxy {
                    verdict: Some(ProxyVerdict::Leaked { why: Leak::Orphan }),
                },
                stuck: Some(Stuck::Stopped),
            })],
            container: Some(ContainerRef {
                id: "abc".into(),
                name: "web".into(),
                by: BelongsBy::Proxy,
                running: true,
            }),
            status: ListenerStatus::Stuck,
            problems: vec![
                Problem::Stuck {
                    why: Stuck::Stopped,
                },
                Problem::LeakedProxy { why: Leak::Orphan },
                Problem::Conflict {
                    container: "def".into(),
                    name: "db".into(),
                    restart_policy: "always".into(),
                },
            ],
        }
    }

    #[test]
    fn every_field_of_the_documents_is_documented_and_they_read_back() {
        use crate::policy::ports::{FreeVerdict, Refusal};
        let s = Survey::default();
        let doc = PortsDoc::new(
            &s,
            vec![sample_row()],
            "unix:///x".into(),
            SystemTime::now(),
            Duration::ZERO,
            Some(9000),
            None,
        );
        let v = serde_json::to_value(&doc).expect("json");
        assert_eq!(
            super::super::undocumented(PORTS_SCHEMA, &v),
            Vec::<String>::new()
        );
        let back: PortsDoc = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, doc);

        let holder = |verdict| Holder {
            proto: Proto::Udp,
            address: [0, 0, 0, 0].into(),
            port: 9000,
            pid: Some(5),
            comm: Some("x".into()),
            state: Some("S".into()),
            wchan: Some("w".into()),
            user: "root".into(),
            kind: Some(OwnerKind::Container { id: "abc".into() }),
            container: sample_row().container,
            verdict,
            explain: "e".into(),
        };
        let free = FreeDoc {
            schema: FREE_SCHEMA.into(),
            version: "0".into(),
            started_at: "t".into(),
            elapsed_ms: 1.0,
            endpoint: "e".into(),
            port: 9000,
            proto: Some(Proto::Tcp),
            applied: true,
            force_foreign: false,
            holders: vec![
                holder(FreeVerdict::StopContainer {
                    container: "abc".into(),
                }),
                holder(FreeVerdict::Refused {
                    why: Refusal::Foreign,
                }),
            ],
            elsewhere: vec![Elsewhere {
                proto: Proto::Tcp,
                address: [0, 0, 0, 0].into(),
                netns: 7,
                container: Some("web".into()),
            }],
            steps: vec![StepView {
                kind: "container.stop".into(),
                target: "web".into(),
                describe: "d".into(),
                reason: "r".into(),
                bytes: None,
                outcome: Some("done".into()),
                detail: None,
                elapsed_ms: Some(1.0),
            }],
            after: Some(After {
                verdict: Some(AfterFree::TakenAgain),
                holders: vec![NowHolder {
                    pid: Some(6),
                    start_ticks: 10,
                    comm: "x".into(),
                    proto: Proto::Tcp,
                    address: [0, 0, 0, 0].into(),
                }],
            }),
            exit_code: 4,
            notes: vec!["n".into()],
        };
        let v = serde_json::to_value(&free).expect("json");
        assert_eq!(
            super::super::undocumented(FREE_SCHEMA, &v),
            Vec::<String>::new()
        );
        let back: FreeDoc = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, free);
    }
}
