//! `dockhand watch`: the one long-running process for a systemd service. It is `serve` — the
//! same `/metrics` endpoint, doctor refresher and journal follower — plus two loops of its own:
//!
//! - [`events`]: follows the engine's event stream and records each image's last use in gc's
//!   state, so `gc --images` by last use is exact across runs;
//! - the prober ([`probe`]): every `--interval`, doctor's daemon tiers (the same
//!   `recover::diagnose::health` recover and pull judge by); with `--recover`, a daemon hung
//!   (frozen or wedged) past `--recover-after` is recovered by the recover plan — the code
//!   `dockhand recover --apply` runs — within a budget (`policy::watch`), kept in [`ledger`].
//!
//! `dockhand serve` is `dockhand watch --read-only`: neither loop runs, and /metrics is serve's.

pub mod events;
pub mod ledger;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::journal::family;
use crate::command::{Ctx, Failure, Ran};
use crate::policy::watch::{Budget, Next};
use ledger::{InFlight, Ledger};

/// The shortest probe `--interval`: the tiers are three small calls.
pub const MIN_PROBE: Duration = Duration::from_millis(100);

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Address to serve /metrics on, as serve's --listen: IP:PORT, loopback unless named here
    #[arg(long, value_name = "ADDR", default_value = super::DEFAULT_LISTEN)]
    pub listen: String,

    /// How often the daemon's tiers are probed (ping, container list, /info): 10s, 2s, 500ms
    #[arg(long, value_name = "DURATION", value_parser = parse_probe, default_value = "10s")]
    pub interval: Duration,

    /// How often the full doctor runs for /metrics (serve's --interval): 60s, 5m
    #[arg(long, value_name = "DURATION", value_parser = super::parse_interval, default_value = "60s")]
    pub doctor_interval: Duration,

    /// Run only these checks for /metrics: ids or whole areas, repeated or comma-separated
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// Skip these checks: ids or areas, repeated or comma-separated
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,

    /// Serve /metrics only: no event recording, no probes, no recovery (what `serve` runs)
    #[arg(long, conflicts_with = "recover")]
    pub read_only: bool,

    /// Recover a daemon that stays frozen or wedged past --recover-after (the plan `dockhand
    /// recover --apply` runs), within --max-recoveries per hour
    #[arg(long)]
    pub recover: bool,

    /// How long the daemon must stay frozen or wedged before it is recovered: 60s, 2m
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "60s")]
    pub recover_after: Duration,

    /// The most recoveries in any hour; the gap between them doubles from --recover-after. Spent,
    /// it is a critical finding (dockhand_watch_recovery_budget_exhausted 1), never a loop
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub max_recoveries: u32,

    /// With live-restore off, a recovery stops every running container: allow that
    #[arg(long, requires = "recover")]
    pub allow_container_stop: bool,

    /// How to start a daemon no service manager runs (as recover's --start-cmd)
    #[arg(long, value_name = "COMMAND", requires = "recover")]
    pub start_cmd: Option<String>,

    /// The daemon's log (as recover's --log-file)
    #[arg(long, value_name = "PATH", requires = "recover")]
    pub log_file: Option<std::path::PathBuf>,
}

/// Parses the probe `--interval`: a duration of at least [`MIN_PROBE`].
pub fn parse_probe(s: &str) -> Result<Duration, String> {
    let d = crate::units::duration(s)?;
    if d < MIN_PROBE {
        return Err(
            "is too short: the probes would keep the daemon busy; use at least 100ms, e.g. 10s"
                .into(),
        );
    }
    Ok(d)
}

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn when(t: f64) -> String {
    crate::units::rfc3339(UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0)))
}

fn human(secs: f64) -> String {
    crate::util::human_duration(Duration::from_secs_f64(secs.max(0.0)))
}

/// `dockhand watch`.
pub async fn run(ctx: &Ctx<'_>, args: &WatchArgs) -> Ran {
    let hosting = super::Hosting {
        listen: &args.listen,
        interval: args.doctor_interval,
        checks: &args.checks,
        skip: &args.skip,
    };
    if args.read_only {
        return super::host(ctx, &hosting, None).await;
    }
    let dir = ctx.settings.state_dir.as_path();
    if let Err(e) = crate::actions::prepare_state_dir(dir) {
        let code = if e.untrusted {
            crate::exit::ExitCode::Untrusted
        } else {
            crate::exit::ExitCode::Usage
        };
        return Err(Failure::new(
            code,
            format!("{e}; watch records last use and its recovery budget there"),
        ));
    }
    let recover = if args.recover {
        Some(crate::recover::Options {
            apply: true,
            allow_container_stop: args.allow_container_stop,
            ..crate::recover::Options::new(
                ctx.settings,
                args.start_cmd.as_deref(),
                args.log_file.clone(),
            )
            .map_err(Failure::usage)?
        })
    } else {
        None
    };
    let status = Arc::new(Status::new(args.recover.then_some(args.max_recoveries)));
    let prober = Prober {
        ctx,
        args,
        recover,
        status: Arc::clone(&status),
    };
    let loops = async {
        tokio::join!(events::follow(ctx, &status), prober.run());
    };
    super::host(ctx, &hosting, Some((Arc::clone(&status), Box::pin(loops)))).await
}

/// The watch's own state, as /metrics shows it.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<Inner>,
    budget: Option<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    events: u64,
    last_event: Option<Instant>,
    connected: bool,
    gaps: u64,
    flush_failures: u64,
    health: &'static str,
    hung_since: Option<Instant>,
    used: u32,
    exhausted: bool,
    attempts: Vec<(&'static str, u64)>,
    interrupted: u64,
}

impl Status {
    pub fn new(budget: Option<u32>) -> Status {
        Status {
            inner: Mutex::new(Inner {
                health: "unknown",
                ..Inner::default()
            }),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn event_seen(&self) {
        let mut i = self.lock();
        i.events += 1;
        i.last_event = Some(Instant::now());
    }

    pub fn set_connected(&self, up: bool) {
        self.lock().connected = up;
    }

    pub fn gap(&self) {
        self.lock().gaps += 1;
    }

    pub fn flushed(&self, ok: bool) {
        if !ok {
            self.lock().flush_failures += 1;
        }
    }

    fn probed(&self, health: &'static str, hung: bool) {
        let mut i = self.lock();
        i.health = health;
        if !hung {
            i.hung_since = None;
        } else if i.hung_since.is_none() {
            i.hung_since = Some(Instant::now());
        }
    }

    fn budget_state(&self, used: u32, exhausted: bool) {
        let mut i = self.lock();
        i.used = used;
        i.exhausted = exhausted;
    }

    fn attempt_ended(&self, result: &'static str) {
        let mut i = self.lock();
        match i.attempts.iter_mut().find(|(r, _)| *r == result) {
            Some((_, n)) => *n += 1,
            None => i.attempts.push((result, 1)),
        }
    }

    fn interrupted(&self) {
        self.lock().interrupted += 1;
    }

    /// The watch's series, appended to serve's page.
    pub fn render(&self, out: &mut String, now: Instant) {
        let i = self.lock();
        let secs = |d: Duration| format!("{:.3}", d.as_secs_f64());
        family(
            out,
            "dockhand_watch_events_total",
            "counter",
            "Image and container events the watch has read from the engine's stream.",
            [(String::new(), i.events.to_string())],
        );
        family(
            out,
            "dockhand_watch_last_event_age_seconds",
            "gauge",
            "Seconds since the last event was read (absent until one is).",
            i.last_event
                .map(|t| (String::new(), secs(now.saturating_duration_since(t)))),
        );
        family(
            out,
            "dockhand_watch_stream_connected",
            "gauge",
            "1 while the engine's event stream is open, else 0 (it is reopened with backoff).",
            [(String::new(), u8::from(i.connected).to_string())],
        );
        family(
            out,
            "dockhand_watch_stream_gaps_total",
            "counter",
            "Times the event stream was lost and reopened: events the engine no longer held may have been missed.",
            [(String::new(), i.gaps.to_string())],
        );
        family(
            out,
            "dockhand_watch_state_write_failures_total",
            "counter",
            "Writes of last use to gc's state that failed (what was seen is kept for the next one).",
            [(String::new(), i.flush_failures.to_string())],
        );
        family(
            out,
            "dockhand_watch_daemon_health",
            "gauge",
            "The daemon's health by doctor's tiers at the last probe; 1 for the current one.",
            [(format!("health=\"{}\"", i.health), "1".to_string())],
        );
        family(
            out,
            "dockhand_watch_daemon_hung_seconds",
            "gauge",
            "How long the daemon has been frozen or wedged at every probe; 0 when it is not.",
            [(
                String::new(),
                secs(
                    i.hung_since
                        .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
                ),
            )],
        );
        let Some(budget) = self.budget else { return };
        family(
            out,
            "dockhand_watch_recoveries_budget",
            "gauge",
            "The most recoveries the watch may run in an hour (--max-recoveries).",
            [(String::new(), budget.to_string())],
        );
        family(
            out,
            "dockhand_watch_recoveries_used",
            "gauge",
            "Recoveries started in the last hour, including one a killed watch left in flight.",
            [(String::new(), i.used.to_string())],
        );
        family(
            out,
            "dockhand_watch_recovery_budget_exhausted",
            "gauge",
            "1 (critical) while the daemon is hung and the hour's budget is spent: a person must look; else 0.",
            [(String::new(), u8::from(i.exhausted).to_string())],
        );
        family(
            out,
            "dockhand_watch_recoveries_total",
            "counter",
            "Recoveries the watch ran, by result (recovered, failed, refused, reboot-needed, not-needed, interrupted, not-started).",
            i.attempts
                .iter()
                .map(|(r, n)| (format!("result=\"{r}\""), n.to_string())),
        );
        family(
            out,
            "dockhand_watch_recoveries_unfinished",
            "gauge",
            "Recoveries a previous watch started and never saw end (it was killed): counted, not repeated blindly.",
            [(String::new(), i.interrupted.to_string())],
        );
    }
}

/// Tells `facts` when the daemon's process is stopped by a signal (state `T`), as recover does
/// before it asks anything: a stopped daemon answers nothing until continued, and the ping's
/// deadline would only delay its recovery. The daemon is located once (the socket's verified
/// owner) and then followed by pid and start time, one small /proc read a probe; located again
/// when that process is gone. Only a shortcut to the verdict "frozen": the recovery diagnoses
/// and verifies the daemon itself before it touches anything.
async fn note_stopped(facts: &crate::facts::Facts, daemon: &mut Option<(i32, u64)>) {
    if let Some((pid, ticks)) = *daemon {
        match crate::runtime::proc::stat(pid) {
            Some(st) if st.start_ticks == ticks => {
                if st.state == 'T' {
                    facts.engine_stopped(pid, st.state);
                }
                return;
            }
            _ => *daemon = None,
        }
    }
    if let Ok(crate::runtime::daemon::Located::Found(d)) = facts.located().await {
        *daemon = Some((d.info.pid, d.info.start_ticks));
        if d.info.state == 'T' {
            facts.engine_stopped(d.info.pid, d.info.state);
        }
    }
}

/// The probes and, with `--recover`, the recoveries.
struct Prober<'a> {
    ctx: &'a Ctx<'a>,
    args: &'a WatchArgs,
    recover: Option<crate::recover::Options>,
    status: Arc<Status>,
}

/// What was said about the current episode of hang, so each thing is said once.
#[derive(Default)]
struct Said {
    waiting: bool,
    backoff: bool,
    exhausted: bool,
    lock: bool,
    pull: bool,
}

impl Prober<'_> {
    fn budget(&self) -> Budget {
        Budget {
            max_per_hour: self.args.max_recoveries,
            backoff: self.args.recover_after.as_secs_f64().max(1.0),
        }
    }

    /// Probes every `--interval` until shutdown. A recovery in flight is finished (recover's
    /// own actor stops at the step boundary on the signal), never dropped halfway.
    async fn run(self) {
        let ctx = self.ctx;
        let dir = ctx.settings.state_dir.clone();
        let max = self.args.max_recoveries;
        let mut ledger = if self.recover.is_some() {
            self.resume(&dir, max).await
        } else {
            Ledger::default()
        };
        let mut tick = tokio::time::interval(self.args.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hung_since: Option<f64> = None;
        let mut said = Said::default();
        let mut daemon: Option<(i32, u64)> = None;
        loop {
            tokio::select! {
                () = ctx.shutdown.wait() => return,
                _ = tick.tick() => {}
            }
            let facts = crate::facts::Facts::new(ctx.engine());
            // A daemon that does not answer has not answered since the probe began: the hang
            // is dated from there, not from the end of the ping's deadline.
            let probe_started = wall();
            note_stopped(&facts, &mut daemon).await;
            let health = tokio::select! {
                () = ctx.shutdown.wait() => return,
                h = crate::recover::diagnose::health(&facts, &ctx.settings.catalog, &ctx.settings.config) => h.0,
            };
            let now = wall();
            let hung = health.is_hung();
            self.status.probed(health.name(), hung);
            if !hung {
                if hung_since.is_some() && self.recover.is_some() {
                    ctx.say(format!("watch: the daemon is {} again", health.name()));
                }
                hung_since = None;
                said = Said::default();
            } else if hung_since.is_none() {
                hung_since = Some(probe_started);
            }
            let Some(opts) = &self.recover else { continue };
            let used = crate::policy::watch::recent(&ledger.attempts, now).len();
            let verdict = crate::policy::watch::next(
                now,
                hung_since,
                self.args.recover_after.as_secs_f64(),
                &ledger.attempts,
                self.budget(),
            );
            self.status
                .budget_state(used as u32, matches!(verdict, Next::Exhausted { .. }));
            let since = hung_since.unwrap_or(now);
            match verdict {
                Next::Fine => {}
                Next::Waiting { left } => {
                    if !said.waiting {
                        ctx.say(format!(
                            "watch: the daemon is {}; it is recovered if it stays so {} more",
                            health.name(),
                            human(left)
                        ));
                        said.waiting = true;
                    }
                }
                Next::Backoff { until } => {
                    if !said.backoff {
                        ctx.say(format!(
                            "watch: the daemon is {} again after a recovery; the next attempt waits until {} (the gap doubles with each attempt in the hour)",
                            health.name(),
                            when(until)
                        ));
                        said.backoff = true;
                    }
                }
                Next::Exhausted { until } => {
                    if !said.exhausted {
                        ctx.say(format!(
                            "watch: critical: the daemon has been {} for {} and the recovery budget is spent ({used} of {max} in the last hour); no recovery before {} — a person must look: `dockhand doctor`, then `dockhand recover`",
                            health.name(),
                            human(now - since),
                            when(until)
                        ));
                        said.exhausted = true;
                    }
                }
                Next::Recover => {
                    if self.held(&mut said).await {
                        continue;
                    }
                    self.attempt(opts, &dir, &mut ledger, health.name(), now - since, used)
                        .await;
                    let after = wall();
                    self.status.budget_state(
                        crate::policy::watch::recent(&ledger.attempts, after).len() as u32,
                        false,
                    );
                }
            }
        }
    }

    /// Reads the ledger at start: a recovery a killed watch left in flight is said, with what
    /// the journal holds of it, and counts against the budget (it is not repeated blindly).
    async fn resume(&self, dir: &std::path::Path, max: u32) -> Ledger {
        let ctx = self.ctx;
        let now = wall();
        let d = dir.to_path_buf();
        let loaded = crate::runtime::blocking(ctx.settings.timeout, move || Ledger::load(&d, now, max))
            .await
            .unwrap_or_else(|| ledger::Loaded {
                ledger: Ledger {
                    attempts: vec![now; max as usize],
                    ..Ledger::default()
                },
                note: Some("the watch's ledger did not answer in time; its recovery budget counts as spent for the next hour".into()),
            });
        if let Some(n) = loaded.note {
            ctx.say(format!("watch: {n}"));
        }
        let mut ledger = loaded.ledger;
        if let Some(f) = ledger.in_flight.take() {
            self.status.interrupted();
            let run = unfinished_recover_run(ctx, f.started).await;
            ctx.say(format!(
                "watch: a recovery started at {} by watch pid {} ({}) never ended — that watch was killed or the host went down; {}. It counts against the budget and is not repeated before its backoff: check the daemon with `dockhand doctor`",
                when(f.started),
                f.pid,
                f.why,
                match run {
                    Some(r) => format!("the journal holds its run {r} without an end (`dockhand journal` shows it unfinished)"),
                    None => "the journal holds no run of it (it was killed before the recover plan took the lock)".to_string(),
                }
            ));
            if !ledger
                .attempts
                .iter()
                .any(|&t| (t - f.started).abs() < 1e-3)
            {
                ledger.attempts.push(f.started);
            }
            self.save(dir, &mut ledger).await;
        }
        ledger
    }

    async fn save(&self, dir: &std::path::Path, ledger: &mut Ledger) {
        let d = dir.to_path_buf();
        let mut l = ledger.clone();
        let saved = crate::runtime::blocking(self.ctx.settings.timeout, move || {
            let r = l.save(&d, wall());
            (l, r)
        })
        .await;
        match saved {
            Some((l, Ok(()))) => *ledger = l,
            Some((_, Err(e))) => self.ctx.say(format!(
                "watch: cannot write the ledger {} ({e}); a restarted watch would not know this recovery",
                ledger::path(dir).display()
            )),
            None => self.ctx.say(format!(
                "watch: writing the ledger {} took too long; a restarted watch may not know this recovery",
                ledger::path(dir).display()
            )),
        }
    }

    /// Whether something forbids a recovery now: another dockhand run holds the lock, or a pull
    /// is still making progress. Each said once per episode.
    async fn held(&self, said: &mut Said) -> bool {
        let ctx = self.ctx;
        if let Some(h) = crate::actions::lock::current_holder(&ctx.settings.state_dir) {
            if !said.lock {
                ctx.say(format!(
                    "watch: the daemon needs recovering, but dockhand {} (pid {}) holds the run lock; no recovery while it runs",
                    h.command, h.pid
                ));
                said.lock = true;
            }
            return true;
        }
        let growing = pulls_in_progress(ctx).await;
        if growing > 0 {
            if !said.pull {
                ctx.say(format!(
                    "watch: the daemon needs recovering, but {growing} download{} of a pull still grow{}; no recovery while a pull makes progress",
                    if growing == 1 { "" } else { "s" },
                    if growing == 1 { "s" } else { "" },
                ));
                said.pull = true;
            }
            return true;
        }
        false
    }

    /// One recovery: recorded in the ledger before it starts (in flight) and after it ends.
    async fn attempt(
        &self,
        opts: &crate::recover::Options,
        dir: &std::path::Path,
        ledger: &mut Ledger,
        health: &'static str,
        hung_for: f64,
        used: usize,
    ) {
        let ctx = self.ctx;
        let started = wall();
        ledger.attempts.push(started);
        ledger.in_flight = Some(InFlight {
            started,
            pid: std::process::id(),
            why: format!("the daemon was {health} for {}", human(hung_for)),
        });
        self.save(dir, ledger).await;
        ctx.say(format!(
            "watch: the daemon has been {health} for {} (past --recover-after {}): running the recover plan, attempt {} of {} this hour",
            human(hung_for),
            crate::util::human_duration(self.args.recover_after),
            used + 1,
            self.args.max_recoveries
        ));
        use crate::recover::Verdict;
        let (result, reason, spent) = match crate::recover::execute(ctx, opts).await {
            Ok(r) => {
                let word = match r.verdict {
                    Verdict::Recovered => "recovered",
                    Verdict::NotNeeded => "not-needed",
                    Verdict::Refused => "refused",
                    Verdict::RebootNeeded => "reboot-needed",
                    Verdict::Interrupted => "interrupted",
                    Verdict::Planned | Verdict::Failed => "failed",
                };
                // A daemon that answered again by the time recover looked was not touched.
                (word, r.reason, r.verdict != Verdict::NotNeeded)
            }
            // It could not start (the lock was taken meanwhile, the journal): nothing was done.
            Err(f) => ("not-started", f.sentence, false),
        };
        if !spent {
            ledger.attempts.retain(|&t| t != started);
        }
        ledger.in_flight = None;
        self.save(dir, ledger).await;
        self.status.attempt_ended(result);
        ctx.say(format!("watch: recover: {result}: {reason}"));
    }
}

/// The journal's recover run that started at about `started` and has no end, if any.
async fn unfinished_recover_run(ctx: &Ctx<'_>, started: f64) -> Option<String> {
    let path = ctx
        .settings
        .state_dir
        .join(crate::actions::journal::FILE_NAME);
    let history = crate::runtime::blocking(ctx.settings.timeout * 3, move || {
        crate::actions::history::load(&path, &crate::actions::history::Filter::default(), None).ok()
    })
    .await
    .flatten()?;
    history
        .runs
        .iter()
        .rev()
        .filter(|r| r.command == "recover" && r.status == "unfinished")
        .find(|r| crate::units::parse_rfc3339(&r.started_at).is_some_and(|t| t >= started - 5.0))
        .map(|r| r.run.clone())
}

/// Downloads doctor's pulls.stalled sees growing now (0 when it cannot tell: a hung daemon's
/// pulls do not grow).
async fn pulls_in_progress(ctx: &Ctx<'_>) -> usize {
    let settings = ctx.settings;
    let Some(def) = settings.catalog.get("pulls.stalled") else {
        return 0;
    };
    let facts = crate::facts::Facts::new(ctx.engine());
    let report = crate::doctor::run(
        &facts,
        settings.source.clone(),
        &settings.catalog,
        &settings.config,
        &[def],
    )
    .await;
    report
        .checks
        .first()
        .and_then(|c| c.finding.evidence["downloads"].as_array())
        .map_or(0, |d| d.iter().filter(|x| x["state"] == "growing").count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_intervals() {
        assert_eq!(parse_probe("200ms"), Ok(Duration::from_millis(200)));
        let e = parse_probe("50ms").expect_err("too short");
        assert!(e.contains("at least 100ms"), "{e}");
    }

    #[test]
    fn the_watch_series_name_the_budget_only_when_recovering() {
        let s = Status::new(None);
        s.event_seen();
        s.set_connected(true);
        let mut out = String::new();
        s.render(&mut out, Instant::now());
        assert!(out.contains("dockhand_watch_events_total 1\n"), "{out}");
        assert!(out.contains("dockhand_watch_stream_connected 1\n"), "{out}");
        assert!(
            out.contains("dockhand_watch_last_event_age_seconds "),
            "{out}"
        );
        assert!(!out.contains("dockhand_watch_recoveries_budget"), "{out}");
        let s = Status::new(Some(2));
        s.budget_state(2, true);
        s.attempt_ended("recovered");
        let mut out = String::new();
        s.render(&mut out, Instant::now());
        assert!(
            out.contains("dockhand_watch_recoveries_budget 2\n"),
            "{out}"
        );
        assert!(out.contains("dockhand_watch_recoveries_used 2\n"), "{out}");
        assert!(
            out.contains("dockhand_watch_recovery_budget_exhausted 1\n"),
            "{out}"
        );
        assert!(
            out.contains("dockhand_watch_recoveries_total{result=\"recovered\"} 1\n"),
            "{out}"
        );
    }
}
