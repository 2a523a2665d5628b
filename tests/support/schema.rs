//! A hand-written validator for `dockhand doctor --format json` (schema `dockhand.doctor/v1`).
//! It collects every violation with its JSON path, so one failing test shows all of them.

use serde_json::{Map, Value};

pub const SCHEMA: &str = "dockhand.doctor/v1";
/// Every check id in the catalog, read from the files in `checks/` (the catalog's source), so
/// the validator knows each check without a list to keep in step.
pub fn catalog_ids() -> &'static [&'static str] {
    static IDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
        let mut ids: Vec<&'static str> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
            .map(|id| &*Box::leak(id.into_boxed_str()))
            .collect();
        ids.sort_unstable();
        ids
    })
}

/// The four checks of the daemon itself, which every report about a local daemon carries.
pub const DAEMON_CHECK_IDS: &[&str] = &[
    "daemon.reachable",
    "daemon.responsive",
    "daemon.process",
    "disk.data-root",
];
pub const STATUSES: &[&str] = &["ok", "warning", "critical", "unknown"];
pub const CLASSIFICATIONS: &[&str] = &[
    "healthy",
    "slow",
    "down",
    "frozen",
    "wedged",
    "permission",
    "error",
];
pub const PROBES: &[&str] = &["ping", "containers", "info"];

/// The exit code that goes with an overall status.
pub fn exit_code_for(status: &str) -> Option<i64> {
    match status {
        "ok" => Some(0),
        "warning" => Some(1),
        "critical" => Some(2),
        "unknown" => Some(3),
        _ => None,
    }
}

/// How much of the evidence to insist on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Types of the fields that are present must be right.
    TypesOnly,
    /// Every documented evidence field must also be present (a healthy daemon fills them all).
    Complete,
}

#[derive(Default)]
struct V {
    errors: Vec<String>,
}

impl V {
    fn err(&mut self, path: &str, msg: impl std::fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }

    fn obj<'a>(&mut self, path: &str, v: Option<&'a Value>) -> Option<&'a Map<String, Value>> {
        match v {
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.err(path, format!("expected object, got {other}"));
                None
            }
            None => {
                self.err(path, "missing");
                None
            }
        }
    }

    fn string<'a>(&mut self, path: &str, v: Option<&'a Value>) -> Option<&'a str> {
        match v {
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.err(path, format!("expected string, got {other}"));
                None
            }
            None => {
                self.err(path, "missing");
                None
            }
        }
    }

    fn nonempty_string<'a>(&mut self, path: &str, v: Option<&'a Value>) -> Option<&'a str> {
        let s = self.string(path, v)?;
        if s.trim().is_empty() {
            self.err(path, "is empty");
        }
        Some(s)
    }

    fn one_of(&mut self, path: &str, v: Option<&Value>, allowed: &[&str]) -> Option<String> {
        let s = self.string(path, v)?;
        if !allowed.contains(&s) {
            self.err(path, format!("{s:?} is not one of {allowed:?}"));
        }
        Some(s.to_owned())
    }

    fn number(&mut self, path: &str, v: Option<&Value>) -> Option<f64> {
        match v {
            Some(Value::Number(n)) => {
                let f = n.as_f64();
                if f.is_some_and(|f| f < 0.0) {
                    self.err(path, format!("negative: {n}"));
                }
                f
            }
            Some(other) => {
                self.err(path, format!("expected number, got {other}"));
                None
            }
            None => {
                self.err(path, "missing");
                None
            }
        }
    }

    fn uint(&mut self, path: &str, v: Option<&Value>) -> Option<u64> {
        match v {
            Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
            Some(other) => {
                self.err(path, format!("expected non-negative integer, got {other}"));
                None
            }
            None => {
                self.err(path, "missing");
                None
            }
        }
    }

    fn boolean(&mut self, path: &str, v: Option<&Value>) -> Option<bool> {
        match v {
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.err(path, format!("expected bool, got {other}"));
                None
            }
            None => {
                self.err(path, "missing");
                None
            }
        }
    }

    /// A field that may be null (or, with `TypesOnly`, absent) and otherwise has type `kind`.
    fn nullable(&mut self, path: &str, v: Option<&Value>, kind: Kind, required: bool) {
        match v {
            None if required => self.err(path, "missing"),
            None | Some(Value::Null) => {}
            Some(_) => match kind {
                Kind::Str => {
                    self.string(path, v);
                }
                Kind::UInt => {
                    self.uint(path, v);
                }
                Kind::Num => {
                    self.number(path, v);
                }
                Kind::StrOrObj => {
                    if !matches!(v, Some(Value::Object(_))) {
                        self.string(path, v);
                    }
                }
                Kind::StrOrList => {
                    if let Some(Value::Array(items)) = v {
                        for (i, item) in items.iter().enumerate() {
                            self.string(&format!("{path}[{i}]"), Some(item));
                        }
                    } else {
                        self.string(path, v);
                    }
                }
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    UInt,
    Num,
    StrOrList,
    StrOrObj,
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':')
}

/// Validate a whole doctor report; Err lists every violation.
pub fn validate_report(doc: &Value, evidence: Evidence) -> Result<(), String> {
    let mut v = V::default();
    let Some(top) = v.obj("$", Some(doc)) else {
        return Err(v.errors.join("\n"));
    };
    if let Some(s) = v.string("$.schema", top.get("schema"))
        && s != SCHEMA
    {
        v.err("$.schema", format!("{s:?} != {SCHEMA:?}"));
    }
    if let Some(s) = v.string("$.version", top.get("version"))
        && s != env!("CARGO_PKG_VERSION")
    {
        v.err("$.version", format!("{s:?} != crate version"));
    }
    if let Some(s) = v.string("$.started_at", top.get("started_at"))
        && !is_rfc3339(s)
    {
        v.err("$.started_at", format!("{s:?} is not RFC 3339"));
    }
    v.number("$.elapsed_ms", top.get("elapsed_ms"));
    if let Some(ep) = v.obj("$.endpoint", top.get("endpoint")) {
        v.nonempty_string("$.endpoint.host", ep.get("host"));
        if let Some(src) = v.string("$.endpoint.source", ep.get("source"))
            && !matches!(src, "--host" | "DOCKER_HOST" | "default")
            && src.strip_prefix("context ").is_none_or(str::is_empty)
        {
            v.err(
                "$.endpoint.source",
                format!("{src:?} is not --host, DOCKER_HOST, context <name> or default"),
            );
        }
    }
    let status = v.one_of("$.status", top.get("status"), STATUSES);
    let exit = v.uint("$.exit_code", top.get("exit_code"));
    if let (Some(s), Some(e)) = (&status, exit)
        && exit_code_for(s).is_some_and(|want| want != e as i64)
    {
        v.err("$.exit_code", format!("{e} does not go with status {s:?}"));
    }

    let mut counts = [0u64; 4];
    let mut ids = Vec::new();
    match top.get("checks") {
        Some(Value::Array(checks)) => {
            for (i, c) in checks.iter().enumerate() {
                let p = format!("$.checks[{i}]");
                let Some(c) = v.obj(&p, Some(c)) else {
                    continue;
                };
                let id = v.one_of(&format!("{p}.id"), c.get("id"), catalog_ids());
                if let Some(id) = &id {
                    if ids.contains(id) {
                        v.err(&p, format!("duplicate check id {id}"));
                    }
                    ids.push(id.clone());
                }
                if let Some(area) = v.nonempty_string(&format!("{p}.area"), c.get("area"))
                    && let Some(id) = &id
                    && id.split('.').next() != Some(area)
                {
                    v.err(
                        &format!("{p}.area"),
                        format!("{area:?} does not match id {id}"),
                    );
                }
                v.nonempty_string(&format!("{p}.title"), c.get("title"));
                if let Some(st) = v.one_of(&format!("{p}.status"), c.get("status"), STATUSES)
                    && let Some(k) = STATUSES.iter().position(|x| *x == st)
                {
                    counts[k] += 1;
                }
                v.nonempty_string(&format!("{p}.summary"), c.get("summary"));
                match c.get("remedy") {
                    Some(Value::Null) => {}
                    r => {
                        v.nonempty_string(&format!("{p}.remedy"), r);
                    }
                }
                validate_fix(&mut v, &p, c);
                v.number(&format!("{p}.elapsed_ms"), c.get("elapsed_ms"));
                if let Some(ev) = v.obj(&format!("{p}.evidence"), c.get("evidence"))
                    && let Some(id) = &id
                {
                    validate_evidence(&mut v, &format!("{p}.evidence"), id, ev, evidence);
                }
            }
        }
        Some(other) => v.err("$.checks", format!("expected array, got {other}")),
        None => v.err("$.checks", "missing"),
    }

    if let Some(sum) = v.obj("$.summary", top.get("summary")) {
        for (k, name) in STATUSES.iter().enumerate() {
            let p = format!("$.summary.{name}");
            if let Some(n) = v.uint(&p, sum.get(*name))
                && n != counts[k]
            {
                v.err(&p, format!("{n} but {} checks have that status", counts[k]));
            }
        }
    }
    if let Some(s) = &status {
        let want = if counts[2] > 0 {
            Some("critical")
        } else if counts.iter().sum::<u64>() == counts[0] {
            Some("ok")
        } else {
            None // warning vs unknown precedence is the implementation's call
        };
        if let Some(w) = want
            && w != s
        {
            v.err("$.status", format!("{s:?} but the checks say {w:?}"));
        }
    }

    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors.join("\n"))
    }
}

fn validate_evidence(v: &mut V, p: &str, id: &str, ev: &Map<String, Value>, mode: Evidence) {
    let req = mode == Evidence::Complete;
    match id {
        "daemon.responsive" => {
            v.one_of(
                &format!("{p}.classification"),
                ev.get("classification"),
                CLASSIFICATIONS,
            );
            v.nullable(
                &format!("{p}.containers"),
                ev.get("containers"),
                Kind::UInt,
                req,
            );
            match ev.get("probes") {
                Some(Value::Array(probes)) => {
                    if req && probes.is_empty() {
                        v.err(&format!("{p}.probes"), "is empty");
                    }
                    for (i, pr) in probes.iter().enumerate() {
                        let pp = format!("{p}.probes[{i}]");
                        let Some(pr) = v.obj(&pp, Some(pr)) else {
                            continue;
                        };
                        v.one_of(&format!("{pp}.name"), pr.get("name"), PROBES);
                        v.boolean(&format!("{pp}.ok"), pr.get("ok"));
                        v.number(&format!("{pp}.latency_ms"), pr.get("latency_ms"));
                        v.nullable(&format!("{pp}.error"), pr.get("error"), Kind::Str, true);
                        v.number(&format!("{pp}.limit_ms"), pr.get("limit_ms"));
                    }
                }
                Some(other) => v.err(
                    &format!("{p}.probes"),
                    format!("expected array, got {other}"),
                ),
                None => v.err(&format!("{p}.probes"), "missing"),
            }
        }
        "daemon.process" => {
            let fields: &[(&str, Kind)] = &[
                ("pid", Kind::UInt),
                ("state", Kind::Str),
                ("threads", Kind::UInt),
                ("fds", Kind::UInt),
                ("fd_limit", Kind::UInt),
                ("rss_bytes", Kind::UInt),
                ("started_at", Kind::Str),
                ("cmdline", Kind::StrOrList),
                ("data_root", Kind::Str),
                ("exec_root", Kind::Str),
                ("pidfile", Kind::Str),
                ("pidfile_pid", Kind::UInt),
                // The contract leaves its shape open: a name, or an object with a `kind`.
                ("service_manager", Kind::StrOrObj),
                ("threads_sampled", Kind::UInt),
                ("samples", Kind::UInt),
            ];
            for (k, kind) in fields {
                v.nullable(&format!("{p}.{k}"), ev.get(*k), *kind, req);
            }
            // Only a found process has threads to judge.
            if let Some(st) = ev.get("stuck_threads") {
                let sp = format!("{p}.stuck_threads");
                match st {
                    Value::Array(items) => {
                        for (i, t) in items.iter().enumerate() {
                            let tp = format!("{sp}[{i}]");
                            let Some(t) = v.obj(&tp, Some(t)) else {
                                continue;
                            };
                            v.uint(&format!("{tp}.tid"), t.get("tid"));
                            v.boolean(&format!("{tp}.main"), t.get("main"));
                            v.one_of(
                                &format!("{tp}.kind"),
                                t.get("kind"),
                                &["uninterruptible", "filesystem-wait"],
                            );
                            v.nonempty_string(&format!("{tp}.state"), t.get("state"));
                            v.nullable(&format!("{tp}.wchan"), t.get("wchan"), Kind::Str, true);
                            v.uint(&format!("{tp}.samples"), t.get("samples"));
                        }
                    }
                    other => v.err(&sp, format!("expected array, got {other}")),
                }
            } else if req {
                v.err(&format!("{p}.stuck_threads"), "missing");
            }
            if req {
                for k in ["pid", "state", "cmdline", "data_root"] {
                    if ev.get(k).is_some_and(Value::is_null) {
                        v.err(&format!("{p}.{k}"), "is null for a running daemon");
                    }
                }
            }
        }
        "disk.data-root" => {
            let fields: &[(&str, Kind)] = &[
                ("path", Kind::Str),
                ("total_bytes", Kind::UInt),
                ("used_bytes", Kind::UInt),
                ("free_bytes", Kind::UInt),
                ("used_percent", Kind::Num),
                ("inodes_total", Kind::UInt),
                ("inodes_used", Kind::UInt),
                ("inodes_used_percent", Kind::Num),
            ];
            for (k, kind) in fields {
                if req {
                    match *kind {
                        Kind::Str => {
                            v.nonempty_string(&format!("{p}.{k}"), ev.get(*k));
                        }
                        Kind::UInt => {
                            v.uint(&format!("{p}.{k}"), ev.get(*k));
                        }
                        _ => {
                            v.number(&format!("{p}.{k}"), ev.get(*k));
                        }
                    }
                } else {
                    v.nullable(&format!("{p}.{k}"), ev.get(*k), *kind, false);
                }
            }
            v.nullable(
                &format!("{p}.mount_point"),
                ev.get("mount_point"),
                Kind::Str,
                false,
            );
            for k in ["used_percent", "inodes_used_percent"] {
                if let Some(x) = ev.get(k).and_then(Value::as_f64)
                    && !(0.0..=100.0).contains(&x)
                {
                    v.err(&format!("{p}.{k}"), format!("{x} is not a percentage"));
                }
            }
        }
        _ => {}
    }
}

/// The check with `id` in a report; panics with the document when absent.
#[track_caller]
pub fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in\n{doc:#}"))
}

/// Ids of the checks in a report, in order.
pub fn check_ids(doc: &Value) -> Vec<String> {
    doc["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `checks[].fix`: null exactly when `remedy` is; else `{steps: [...]}` whose texts, joined,
/// are the remedy, each step `{kind: "run", argv: [non-empty strings], text}` or
/// `{kind: "advice", text}`.
fn validate_fix(v: &mut V, p: &str, c: &serde_json::Map<String, Value>) {
    let remedy = c.get("remedy").and_then(Value::as_str);
    match (c.get("fix"), remedy) {
        (Some(Value::Null), None) => {}
        (Some(Value::Null) | None, Some(_)) => {
            v.err(&format!("{p}.fix"), "missing while remedy is set")
        }
        (None, None) => v.err(&format!("{p}.fix"), "missing"),
        (Some(fix), r) => {
            let Some(steps) = fix.get("steps").and_then(Value::as_array) else {
                v.err(&format!("{p}.fix.steps"), "expected an array");
                return;
            };
            let mut texts = Vec::new();
            for (i, st) in steps.iter().enumerate() {
                let sp = format!("{p}.fix.steps[{i}]");
                let text = v.nonempty_string(&format!("{sp}.text"), st.get("text"));
                texts.extend(text);
                match st.get("kind").and_then(Value::as_str) {
                    Some("advice") => {}
                    Some("run") => match st.get("argv").and_then(Value::as_array) {
                        Some(a)
                            if !a.is_empty()
                                && a.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty())) => {}
                        _ => v.err(
                            &format!("{sp}.argv"),
                            "expected a non-empty array of non-empty strings",
                        ),
                    },
                    other => v.err(
                        &format!("{sp}.kind"),
                        format!("expected run or advice, got {other:?}"),
                    ),
                }
            }
            if r != Some(texts.join(" ").as_str()) {
                v.err(&format!("{p}.remedy"), "is not the fix's steps in words");
            }
        }
    }
}
