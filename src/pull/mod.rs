//! `dockhand pull IMAGE[:TAG]`: a pull through the engine with per-layer progress and a stall
//! watchdog. The engine's registry transport has no body-read timeout, so a registry or network
//! that stops mid-blob leaves `docker pull` waiting forever (FIELD-NOTES §1 row 2); here the
//! progress stream is read with a per-chunk deadline (`--stall-after`): no bytes for that long
//! is a stall. A stalled pull is abandoned (the connection closed: the engine cancels the
//! transfer once no client waits on it), the daemon's tiers are probed, and the pull retried
//! with backoff; if the retries stall too or the daemon is hung, `--recover` runs the recover
//! plan, else the run stops and says exactly what to run.
//!
//! Before pulling, the daemon is checked the way doctor checks it (its tiers, and
//! `pulls.stalled` for a download left hanging), so a pull after an interrupted one starts on a
//! daemon that can pull.

pub mod auth;
pub mod reference;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use crate::facts::Facts;
use crate::policy::daemon::Health;
use crate::recover::{Options, Verdict};
use crate::report::pull::Event;
use crate::report::pull::Printer;
use crate::runtime::engine::{Engine, EngineError, Method};
use crate::runtime::pull_progress::{self as progress, Change, ErrorKind, Line, State};
use crate::settings::{Format, Settings};

#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    /// The image: NAME[:TAG] or NAME@sha256:DIGEST (the tag defaults to latest)
    #[arg(value_name = "IMAGE[:TAG]")]
    pub image: String,

    /// A download that sends no bytes for this long is stalled: it is abandoned and retried
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "30s")]
    pub stall_after: Duration,

    /// How many times a stalled pull is retried (with backoff) before giving up or recovering
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,

    /// The first retry's wait; it doubles with each retry, up to 30 s
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "1s")]
    pub backoff: Duration,

    /// When the daemon is hung, or the retries stall too: run the recover plan (a
    /// live-restore-aware restart, verified) and pull again, instead of stopping
    #[arg(long)]
    pub recover: bool,

    /// With --recover, for a daemon no service manager runs: how to start it (see `recover
    /// --start-cmd`)
    #[arg(long, value_name = "COMMAND", requires = "recover")]
    pub start_cmd: Option<String>,

    /// With --recover: the daemon's log file (see `recover --log-file`)
    #[arg(long, value_name = "PATH", requires = "recover")]
    pub log_file: Option<PathBuf>,

    /// Output format: progress bars (table) or one JSON object per line (dockhand.pull/v1)
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub const PULL_SCHEMA: &str = "dockhand.pull/v1";

/// How one attempt ended.
enum Attempt {
    Pulled,
    /// The engine said no (an error line or status).
    Failed(ErrorKind, String),
    /// No bytes for the stall deadline.
    Stalled {
        idle: Duration,
    },
    /// The connection broke (the daemon restarted or died mid-pull).
    Broken(String),
    Interrupted,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// One pull in progress: its output, its clock, what the progress stream said so far.
struct Run<'a> {
    ctx: &'a Ctx<'a>,
    args: &'a PullArgs,
    out: Printer,
    t0: Instant,
    state: State,
    image: String,
    /// The recovery `--recover` runs, and whether it ran already (it runs once).
    recover: Options,
    recovered: bool,
}

impl Run<'_> {
    fn t(&self) -> u64 {
        ms(self.t0.elapsed())
    }

    fn emit(&mut self, e: Event) {
        self.out.event(&e, &self.state);
    }

    fn message(&mut self, text: String) {
        let e = Event::Message {
            text,
            t_ms: self.t(),
        };
        self.emit(e);
    }

    fn error(&mut self, kind: &'static str, message: String) {
        let e = Event::Error {
            kind,
            message,
            t_ms: self.t(),
        };
        self.emit(e);
    }

    fn end(&mut self, result: &'static str, code: ExitCode) -> ExitCode {
        let e = Event::End {
            result,
            image: self.image.clone(),
            digest: self.state.digest.clone(),
            downloaded: self.state.downloaded(),
            exit_code: code.code(),
            t_ms: self.t(),
        };
        self.emit(e);
        code
    }
}

/// The daemon's health from its tiers, as doctor's `daemon.responsive` judges it.
async fn probe(ctx: &Ctx<'_>) -> Health {
    let settings = ctx.settings;
    let facts = Facts::new(ctx.engine());
    crate::recover::diagnose::health(&facts, &settings.catalog, &settings.config)
        .await
        .0
}

/// `dockhand pull`. The events are printed as they happen (the progress is the output), so the
/// outcome carries no document of its own; the code says how it ended.
pub async fn run(ctx: &Ctx<'_>, args: &PullArgs) -> Ran {
    let settings = ctx.settings;
    let reference = reference::parse(&args.image).map_err(Failure::usage)?;
    // The recovery pull runs: forced (a daemon that answers but cannot pull is restarted too),
    // with everything else at recover's defaults.
    let recover = Options {
        apply: true,
        force: true,
        ..Options::new(settings, args.start_cmd.as_deref(), args.log_file.clone())
            .map_err(Failure::usage)?
    };
    // Credentials, as the docker CLI finds them.
    let server = reference.auth_key().to_string();
    let (creds, credentials) = auth::find(&server, settings.timeout.max(Duration::from_secs(5)))
        .await
        .map_err(Failure::usage)?
        .map_or((None, "none".to_string()), |(c, from)| (Some(c), from));
    let header = creds.as_ref().map(|c| auth::header(c, &server));
    let mut r = Run {
        ctx,
        args,
        out: Printer::new(args.format, settings.color),
        t0: Instant::now(),
        state: State::default(),
        image: reference.shown(),
        recover,
        recovered: false,
    };
    let e = Event::Start {
        schema: PULL_SCHEMA,
        image: r.image.clone(),
        registry: reference.registry.clone(),
        credentials,
        stall_after_ms: ms(args.stall_after),
        t_ms: r.t(),
    };
    r.emit(e);
    if let Some(code) = preflight(&mut r).await {
        return Ok(Outcome::bare(code));
    }
    let code = watched(&mut r, &reference, header.as_deref()).await;
    Ok(Outcome::bare(code))
}

/// The daemon must be able to pull: its tiers, and downloads an earlier pull left stalled.
/// `Some` when the run ends here.
async fn preflight(r: &mut Run<'_>) -> Option<ExitCode> {
    let settings = r.ctx.settings;
    let facts = Facts::new(r.ctx.engine());
    let (health, _) =
        crate::recover::diagnose::health(&facts, &settings.catalog, &settings.config).await;
    let stalled = if health.serves() {
        stalled_downloads(&facts, settings).await
    } else {
        0
    };
    let e = Event::Preflight {
        health: health.name(),
        stalled_downloads: stalled,
        t_ms: r.t(),
    };
    r.emit(e);
    if !health.serves() {
        return unable(r, &health).await;
    }
    if stalled > 0 {
        r.message(format!(
            "the daemon holds {stalled} stalled download{} from an earlier pull (doctor's pulls.stalled); this pull is watched, and abandoned if it joins one",
            if stalled == 1 { "" } else { "s" }
        ));
    }
    None
}

/// The attempts: each watched for stalls; a stall or a broken connection probes the daemon,
/// then retries with backoff, recovers (`--recover`, once), or stops with what to run.
async fn watched(
    r: &mut Run<'_>,
    reference: &reference::Reference,
    auth: Option<&str>,
) -> ExitCode {
    let (stall_after, retries) = (r.args.stall_after, r.args.retries);
    let mut attempt = 0u32;
    let mut retries_left = retries;
    loop {
        attempt += 1;
        match pull_once(r, reference, auth, stall_after).await {
            Attempt::Pulled => return verify_pulled(r).await,
            Attempt::Interrupted => {
                r.message("interrupted: the pull was abandoned (the engine cancels the download once no client waits on it)".into());
                return r.end("interrupted", ExitCode::Interrupted);
            }
            Attempt::Failed(kind, message) => return failed(r, kind, message),
            Attempt::Stalled { idle } => {
                let e = Event::Stalled {
                    attempt,
                    idle_ms: ms(idle),
                    downloaded: r.state.downloaded(),
                    t_ms: r.t(),
                };
                r.emit(e);
            }
            Attempt::Broken(why) => {
                r.message(format!(
                    "the connection to the engine broke mid-pull: {why}"
                ));
            }
        }
        // Stalled or broken: is the daemon itself hung?
        let health = probe(r.ctx).await;
        let e = Event::Probe {
            health: health.name(),
            t_ms: r.t(),
        };
        r.emit(e);
        if !health.serves() {
            if let Some(code) = unable(r, &health).await {
                return code;
            }
            continue;
        }
        if retries_left > 0 {
            retries_left -= 1;
            if let Some(code) = back_off(r, retries - retries_left, attempt).await {
                return code;
            }
            continue;
        }
        // The retries stalled too, on a daemon that answers: its transfer may be stuck for good
        // (moby#15951), which only a restart clears.
        if r.args.recover && !r.recovered {
            r.recovered = true;
            if !run_recover(r).await {
                return r.end("stalled", ExitCode::PullStalled);
            }
            retries_left = 0;
            continue;
        }
        return gave_up(r, attempt);
    }
}

/// The pull ended: the image must be there, under the name asked for.
async fn verify_pulled(r: &mut Run<'_>) -> ExitCode {
    let path = format!("/images/{}/json", r.image);
    match r.ctx.engine().get(&path).await {
        Ok(_) => r.end("pulled", ExitCode::Ok),
        Err(e) => {
            let image = r.image.clone();
            r.error(
                "verify",
                format!("the pull ended but the engine does not show {image}: {e}"),
            );
            r.end("failed", ExitCode::PullFailed)
        }
    }
}

/// The engine said no: not found, unauthorized, or another error.
fn failed(r: &mut Run<'_>, kind: ErrorKind, message: String) -> ExitCode {
    let (word, code) = match kind {
        ErrorKind::NotFound => ("not-found", ExitCode::PullNotFound),
        ErrorKind::Unauthorized => ("unauthorized", ExitCode::PullFailed),
        ErrorKind::Other => ("failed", ExitCode::PullFailed),
    };
    r.ctx.say(format!(
        "pull {}: {}",
        r.image,
        crate::util::sanitize(&message)
    ));
    r.error(word, message);
    r.end(word, code)
}

/// Waits before retry `n` (the backoff doubles, up to 30 s); `Some` when interrupted.
async fn back_off(r: &mut Run<'_>, n: u32, attempt: u32) -> Option<ExitCode> {
    let wait = r
        .args
        .backoff
        .saturating_mul(1 << (n - 1).min(5))
        .min(Duration::from_secs(30));
    let e = Event::Retry {
        attempt: attempt + 1,
        after_ms: ms(wait),
        t_ms: r.t(),
    };
    r.emit(e);
    let shutdown = r.ctx.shutdown;
    tokio::select! {
        () = tokio::time::sleep(wait) => None,
        () = shutdown.wait() => Some(r.end("interrupted", ExitCode::Interrupted)),
    }
}

/// Every retry stalled and no recovery is left: say exactly what to run.
fn gave_up(r: &mut Run<'_>, attempt: u32) -> ExitCode {
    let image = r.image.clone();
    let text = format!(
        "the pull of {image} stalled {attempt} time{}: no bytes for {} each time. If the registry is reachable, the daemon's transfer may be stuck for good (moby#15951): run `dockhand recover --apply --force` (a live-restore-aware restart), then `dockhand pull {image}` — or run `dockhand pull --recover {image}`",
        if attempt == 1 { "" } else { "s" },
        crate::util::human_duration(r.args.stall_after),
    );
    r.ctx.say(&text);
    r.error("stalled", text);
    r.end("stalled", ExitCode::PullStalled)
}

/// The daemon cannot pull (down, hung): recover it (`--recover`, once) or stop with the exact
/// command. `None`: recovered, go on.
async fn unable(r: &mut Run<'_>, health: &Health) -> Option<ExitCode> {
    if r.args.recover && !r.recovered {
        r.recovered = true;
        if run_recover(r).await {
            return None;
        }
        return Some(r.end("daemon-hung", ExitCode::DaemonHung));
    }
    let (word, code) = if *health == Health::Down {
        ("daemon-down", ExitCode::Unavailable)
    } else {
        ("daemon-hung", ExitCode::DaemonHung)
    };
    let image = r.image.clone();
    let text = format!(
        "the daemon is {} and cannot pull: run `dockhand recover --apply`, then `dockhand pull {image}` — or `dockhand pull --recover {image}`",
        health.name()
    );
    r.ctx.say(&text);
    r.error(word, text);
    Some(r.end(word, code))
}

/// Runs the recover plan in-process (its own lock, journal and bundle). Whether it recovered.
async fn run_recover(r: &mut Run<'_>) -> bool {
    r.message("running the recover plan (a live-restore-aware restart, verified)".into());
    let (result, reason) = match crate::recover::execute(r.ctx, &r.recover).await {
        Ok(report) => (
            match report.verdict {
                Verdict::Recovered => "recovered",
                Verdict::RebootNeeded => "reboot-needed",
                Verdict::Refused => "refused",
                Verdict::Interrupted => "interrupted",
                _ => "failed",
            },
            report.reason,
        ),
        // The run could not start (another run holds the lock, the state directory).
        Err(f) => ("failed", f.sentence),
    };
    let e = Event::Recover {
        result,
        reason: reason.clone(),
        t_ms: r.t(),
    };
    r.emit(e);
    if result != "recovered" {
        r.ctx.say(format!("recover: {reason}"));
    }
    result == "recovered"
}

/// Downloads doctor's pulls.stalled finds stalled now (0 when it cannot tell).
async fn stalled_downloads(facts: &Facts, settings: &Settings) -> usize {
    let Some(def) = settings.catalog.get("pulls.stalled") else {
        return 0;
    };
    let report = crate::doctor::run(
        facts,
        settings.source.clone(),
        &settings.catalog,
        &settings.config,
        &[def],
    )
    .await;
    report
        .checks
        .first()
        .filter(|c| c.finding.status == crate::doctor::Status::Critical)
        .and_then(|c| c.finding.evidence["downloads"].as_array())
        .map_or(0, |d| d.iter().filter(|x| x["state"] == "stalled").count())
}

/// One `POST /images/create`, read line by line, each read under the stall deadline.
async fn pull_once(
    r: &mut Run<'_>,
    reference: &reference::Reference,
    auth: Option<&str>,
    stall_after: Duration,
) -> Attempt {
    // Every value encoded: a reference is validated already, and still never spliced raw.
    let path = reference::with_query(
        "/images/create",
        &[("fromImage", &reference.name), ("tag", &reference.tag)],
    );
    let headers: Vec<(&str, &str)> = auth
        .map(|a| vec![("X-Registry-Auth", a)])
        .unwrap_or_default();
    // The headers come once the engine starts answering, which may wait on the registry: they
    // are under the stall deadline too (not less than the per-call one).
    let engine = Engine::new(
        r.ctx.settings.endpoint.clone(),
        stall_after.max(r.ctx.settings.timeout),
    );
    let opened = tokio::select! {
        s = engine.stream(Method::Post, &path, None, &headers, stall_after) => s,
        () = r.ctx.shutdown.wait() => return Attempt::Interrupted,
    };
    let mut stream = match opened {
        Ok(s) => s,
        Err(e @ EngineError::Api { .. }) => {
            let kind = progress::classify_error(e.status(), &e.to_string());
            return Attempt::Failed(kind, e.to_string());
        }
        Err(EngineError::Frozen { waited, .. }) => return Attempt::Stalled { idle: waited },
        Err(e) => return Attempt::Broken(e.to_string()),
    };
    // The last line that changed something: a stream that only repeats itself while a layer
    // waits on the network is a stall too (the containerd image store repeats each layer's
    // line every 100 ms whether or not a byte arrived, so the read deadline alone never fires).
    let mut last = Instant::now();
    loop {
        let next = tokio::select! {
            l = stream.next_line() => l,
            () = r.ctx.shutdown.wait() => {
                // Dropping the stream closes the connection: the engine cancels the transfer.
                drop(stream);
                return Attempt::Interrupted;
            }
        };
        match next {
            Ok(Some(text)) => {
                let Some(line) = Line::parse(&text) else {
                    continue;
                };
                let change = r.state.apply(&line);
                if matches!(change, Change::Layer { moved: false, .. }) {
                    let idle = last.elapsed();
                    if idle >= stall_after && r.state.awaiting_network() {
                        return Attempt::Stalled { idle };
                    }
                    continue;
                }
                last = Instant::now();
                match change {
                    Change::Error(m) => {
                        return Attempt::Failed(progress::classify_error(None, &m), m);
                    }
                    Change::Message(text) => {
                        let e = Event::Message { text, t_ms: r.t() };
                        r.emit(e);
                    }
                    Change::Layer { index, .. } => {
                        let l = &r.state.layers[index];
                        let e = Event::Layer {
                            id: l.id.clone(),
                            status: l.status.clone(),
                            current: l.current,
                            total: l.total,
                            t_ms: r.t(),
                        };
                        r.emit(e);
                    }
                    Change::None => {}
                }
            }
            Ok(None) => return Attempt::Pulled,
            Err(EngineError::Frozen { .. }) => {
                return Attempt::Stalled {
                    idle: last.elapsed(),
                };
            }
            Err(e) => return Attempt::Broken(e.to_string()),
        }
    }
}
