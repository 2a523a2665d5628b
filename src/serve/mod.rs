//! `dockhand serve`: a Prometheus `/metrics` endpoint.
//!
//! Three things share one current-thread runtime:
//! - the doctor refresher: a doctor run (the same checks, renderer and series as `doctor
//!   --format prometheus`) every `--interval`, never two at once, each cut off at a deadline
//!   derived from `--timeout`;
//! - the journal follower: the acting commands' totals, read incrementally every
//!   [`JOURNAL_EVERY`] off the async thread, under a deadline, never two reads at once;
//! - the HTTP server (`http`), which only ever reads the [`board::Board`] both of them post
//!   to — so a frozen daemon or a hung disk never holds a scrape: the last results are served,
//!   with their age.
//!
//! It listens on loopback unless `--listen` names another address. SIGTERM or Ctrl-C stop it:
//! no new connections, the responses in flight finish, exit 0.

pub mod board;
pub mod http;
pub mod journal;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;

use crate::catalog::CheckDef;
use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use board::Board;

/// The default address: loopback only. Prometheus's exporter registry lists 9323 for Docker's
/// own engine metrics, which Docker serves only when configured to; dockhand takes the same
/// default, on loopback.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9323";

/// How often the journal is looked at (a stat, and a read of what was appended).
pub const JOURNAL_EVERY: Duration = Duration::from_secs(2);

/// The most one journal read may take before it is reported unreadable (it goes on in the
/// background, and no other read starts until it ends).
pub const JOURNAL_DEADLINE: Duration = Duration::from_secs(10);

/// The shortest `--interval`: more often would keep the daemon busy answering dockhand.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve /metrics on: IP:PORT (`[::1]:9323` for IPv6; port 0 picks a free
    /// one). Only loopback unless named here: 0.0.0.0:9323 serves every interface
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// How often doctor runs in the background; a scrape gets the latest results at once:
    /// 60s, 30s, 5m
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, default_value = "60s")]
    pub interval: Duration,

    /// Run only these checks: ids or whole areas, repeated or comma-separated (as doctor)
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// Skip these checks: ids or areas, repeated or comma-separated
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,
}

/// Parses `--listen`: an IP literal and a port (`localhost` is taken as 127.0.0.1). Names are
/// not resolved: which interface serves should be plain from the command line.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let bad = |why: &str| {
        format!(
            "--listen {s:?} is not an address to listen on: {why}; use IP:PORT, e.g. {DEFAULT_LISTEN}, [::1]:9323, or 0.0.0.0:9323 for every interface"
        )
    };
    let t = s.trim();
    if let Some(port) = t.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| bad("the port is not 0-65535"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if t.parse::<IpAddr>().is_ok() {
        return Err(bad("it has no port"));
    }
    match t.rsplit_once(':') {
        None => Err(bad("it has no port")),
        Some(("", _)) => Err(bad("it has no IP address")),
        Some((_, port)) if port.parse::<u16>().is_err() => Err(bad("the port is not 0-65535")),
        Some(_) => Err(bad(
            "the host is not an IP address (names are not resolved)",
        )),
    }
}

/// Parses `--interval` (the syntax of `--timeout`), at least [`MIN_INTERVAL`].
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = crate::units::duration(s)?;
    if d < MIN_INTERVAL {
        return Err(
            "is too short: doctor would keep the daemon busy; use at least 1s, e.g. 60s".into(),
        );
    }
    Ok(d)
}

/// The most one doctor run may take: doctor bounds each check at 3 × the per-call deadline +
/// 1 s (`doctor::checks::Ctx::probe_deadline`), and they all run at once; one more second
/// covers building the report. Past it the run is dropped and the previous results stay.
pub fn run_deadline(timeout: Duration) -> Duration {
    timeout * 3 + Duration::from_secs(2)
}

/// `dockhand serve`: runs until SIGINT/SIGTERM, then stops accepting, finishes the responses in
/// flight, and ends with 0. What it serves is on the wire, so the outcome has no document.
/// It is `dockhand watch --read-only`: the same code, without the watch's loops.
pub async fn run(ctx: &Ctx<'_>, args: &ServeArgs) -> Ran {
    let hosting = Hosting {
        listen: &args.listen,
        interval: args.interval,
        checks: &args.checks,
        skip: &args.skip,
    };
    host(ctx, &hosting, None).await
}

/// What serve and watch share: where to listen, how often doctor runs, which checks.
pub struct Hosting<'a> {
    pub listen: &'a str,
    pub interval: Duration,
    pub checks: &'a [String],
    pub skip: &'a [String],
}

/// The watch's part of a run: its state for /metrics, and its loops, which end on shutdown
/// (after writing what they hold and finishing a recovery in flight).
pub type Watching<'a> = (
    Arc<watch::Status>,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>,
);

/// Serves /metrics until SIGINT/SIGTERM — with `watching`, the watch's loops alongside.
pub async fn host(ctx: &Ctx<'_>, hosting: &Hosting<'_>, watching: Option<Watching<'_>>) -> Ran {
    let settings = ctx.settings;
    let addr = parse_listen(hosting.listen).map_err(Failure::usage)?;
    let interval = hosting.interval;
    let selected = crate::doctor::select(
        &settings.catalog,
        &settings.config,
        hosting.checks,
        hosting.skip,
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "something else listens there; stop it, or pass another --listen"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need root; pass another --listen"
            }
            _ => "pass an address of this host to --listen",
        };
        Failure::usage(format!("cannot listen on {addr}: {e}; {hint}"))
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let deadline = run_deadline(settings.timeout);
    let journal_path = settings.state_dir.join(crate::actions::journal::FILE_NAME);
    // The line a supervisor's log (and the tests) read: where it serves, and what.
    ctx.say(format!(
        "serving metrics on http://{}/metrics (doctor every {}, each run at most {}; journal {})",
        bound,
        crate::util::human_duration(interval),
        crate::util::human_duration(deadline),
        journal_path.display()
    ));
    if !bound.ip().is_loopback() {
        ctx.note(format!(
            "{} is not a loopback address: anyone who can reach it can read this host's health",
            bound.ip()
        ));
    }
    let (board, loops) = match watching {
        Some((status, loops)) => (
            Board::new(interval, deadline).with_watch(status),
            Some(loops),
        ),
        None => (Board::new(interval, deadline), None),
    };
    let board = Arc::new(board);
    let server = http::serve(listener, Arc::clone(&board), ctx.shutdown.clone());
    let doctor = refresh_doctor(&board, interval, deadline, || doctor_once(ctx, &selected));
    let journal = follow_journal(&board, &journal_path);
    let watching = loops.is_some();
    // The server and the watch's loops all end on the signal; the refreshers never do.
    let ends = async {
        match loops {
            Some(l) => {
                tokio::join!(server, l);
            }
            None => server.await,
        }
    };
    tokio::select! {
        () = ends => {}
        () = doctor => {}
        () = journal => {}
    }
    ctx.say(if watching {
        "watch stopped"
    } else {
        "serve stopped"
    });
    Ok(Outcome::bare(ExitCode::Ok))
}

/// The command line of one background doctor run: this program's `doctor --format
/// prometheus` for the same engine (named as this run was given it: the flag, the context, or
/// the inherited environment), deadline, config file and state dir, and the selected checks.
fn doctor_argv(settings: &crate::settings::Settings, selected: &[&CheckDef]) -> Vec<String> {
    use crate::runtime::endpoint::Source;
    let mut argv = Vec::new();
    match &settings.source {
        Source::Flag => argv.extend(["--host".to_string(), settings.endpoint.to_string()]),
        Source::Context(name) => argv.extend(["--context".to_string(), name.clone()]),
        // DOCKER_HOST (and its TLS variables) or the default socket: the child inherits both.
        Source::Env | Source::Default => {}
    }
    argv.extend([
        "--timeout".to_string(),
        format!("{}ms", settings.timeout.as_millis()),
        "--color".to_string(),
        "never".to_string(),
        "--state-dir".to_string(),
        settings.state_dir.display().to_string(),
    ]);
    if let Some(p) = &settings.config.path {
        argv.extend(["--config".to_string(), p.display().to_string()]);
    }
    argv.extend([
        "doctor".to_string(),
        "--format".to_string(),
        "prometheus".to_string(),
    ]);
    for c in selected {
        argv.extend(["--check".to_string(), c.id.clone()]);
    }
    argv
}

/// One doctor run, rendered as doctor's Prometheus series — run by this same program in a
/// child process. A full doctor run touches most of the program and peaks at a few MiB; in a
/// child, all of that is the child's and is gone when it exits, so the long-running process
/// keeps only what it needs between runs (the server, the probes, the event follower) and
/// cannot creep with the runs it makes. Cut off at the deadline, the child is killed (the
/// future is dropped). `Err` with why when it could not start or ended without a report.
async fn doctor_once(ctx: &Ctx<'_>, selected: &[&CheckDef]) -> Result<String, String> {
    use std::process::Stdio;
    let exe = crate::runtime::proc::SELF_EXE;
    let out = tokio::process::Command::new(exe)
        .args(doctor_argv(ctx.settings, selected))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C in serve's terminal is serve's to handle (it drops
        // the run, and the child is killed with it), not a second signal to the child.
        .process_group(0)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {exe} doctor: {e}"))?;
    // doctor's exit codes 0–3 are the worst status found; the series are the report.
    let why = match out.status.code() {
        Some(0..=3) if !out.stdout.is_empty() => {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        None => format!("the doctor run was killed ({})", out.status),
        Some(c) => {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!("the doctor run exited {c}: {said}")
        }
    };
    // A stop may have ended the child first (systemd signals the whole unit): shutting down,
    // that is no failure to report, and this run is simply dropped with the rest.
    tokio::select! {
        () = ctx.shutdown.wait() => std::future::pending().await,
        () = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
    Err(why)
}

/// Runs `run` every `interval` (the first at once), one at a time: a run that overruns the
/// interval delays the next. Each is cut off at `deadline`; the board keeps the last finished
/// run's results. Never returns.
async fn refresh_doctor<F, Fut>(board: &Board, interval: Duration, deadline: Duration, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut said_timeout = false;
    let mut said_failed = false;
    loop {
        tick.tick().await;
        // tokio's clock: the same as std's, except in tests with paused time.
        let started = tokio::time::Instant::now().into_std();
        board.doctor_started(started);
        match tokio::time::timeout(deadline, run()).await {
            Ok(Ok(text)) => {
                board.doctor_finished(text, started);
                said_timeout = false;
                said_failed = false;
            }
            Ok(Err(why)) => {
                board.doctor_failed();
                if !said_failed {
                    crate::command::say(&format!(
                        "serve: {why}; the previous results are served, with their age"
                    ));
                    said_failed = true;
                }
            }
            Err(_) => {
                board.doctor_timed_out();
                if !said_timeout {
                    crate::command::say(&format!(
                        "serve: a doctor run did not finish within {}; the previous results are served, with their age",
                        crate::util::human_duration(deadline)
                    ));
                    said_timeout = true;
                }
            }
        }
        // What reading the child's report took is freed; hand it back so the idle process
        // stays small between runs.
        crate::runtime::give_back_free_memory();
    }
}

/// Reads the journal's appended records every [`JOURNAL_EVERY`] and posts the totals. The read
/// runs on a blocking thread; if it overruns [`JOURNAL_DEADLINE`] (a hung disk) the journal is
/// reported unreadable, and no new read starts until that one ends. Never returns.
async fn follow_journal(board: &Arc<Board>, path: &std::path::Path) {
    let follower = Arc::new(Mutex::new(journal::Follower::new(path)));
    let busy = Arc::new(AtomicBool::new(false));
    let mut tick = tokio::time::interval(JOURNAL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut said = None::<String>;
    loop {
        tick.tick().await;
        if busy.swap(true, Ordering::SeqCst) {
            // The last read is still stuck on the disk.
            board.journal_unreadable();
            continue;
        }
        let (follower, busy, board2) =
            (Arc::clone(&follower), Arc::clone(&busy), Arc::clone(board));
        let read = crate::runtime::blocking(JOURNAL_DEADLINE, move || {
            let mut f = follower.lock().unwrap_or_else(|e| e.into_inner());
            let result = loop {
                match f.poll() {
                    Ok(true) => {
                        // Post progress as it is made: a huge journal read for the first time
                        // shows its totals growing, and a read given up on keeps what it did.
                        let mut text = String::new();
                        f.tally().render(&mut text);
                        board2.journal_read(text);
                    }
                    Ok(false) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            if result.is_ok() {
                let mut text = String::new();
                f.tally().render(&mut text);
                board2.journal_read(text);
            }
            busy.store(false, Ordering::SeqCst);
            result
        })
        .await;
        let problem = match read {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(format!("cannot read the journal {}: {e}", path.display())),
            None => Some(format!(
                "reading the journal {} took longer than {}",
                path.display(),
                crate::util::human_duration(JOURNAL_DEADLINE)
            )),
        };
        if problem.is_some() {
            board.journal_unreadable();
        }
        // Said once per change, not every two seconds.
        if problem != said {
            if let Some(p) = &problem {
                crate::command::say(&format!(
                    "serve: {p}; the totals read so far are still served, with dockhand_journal_readable 0"
                ));
            }
            said = problem;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(source: crate::runtime::endpoint::Source) -> crate::settings::Settings {
        crate::settings::Settings {
            endpoint: crate::runtime::endpoint::Endpoint::Unix("/run/d.sock".into()),
            source,
            timeout: Duration::from_millis(2500),
            color: true,
            width: None,
            config: crate::config::Config::default(),
            catalog: crate::catalog::Catalog::builtin().expect("catalog"),
            state_dir: "/var/lib/dockhand".into(),
        }
    }

    #[test]
    fn the_background_doctor_run_is_asked_as_this_run_was() {
        use crate::runtime::endpoint::Source;
        let s = settings(Source::Flag);
        let picked: Vec<&CheckDef> = s.catalog.checks.iter().take(2).collect();
        let argv = doctor_argv(&s, &picked);
        let line = argv.join(" ");
        assert!(
            line.starts_with("--host unix:///run/d.sock --timeout 2500ms --color never --state-dir /var/lib/dockhand doctor --format prometheus --check "),
            "{line}"
        );
        assert_eq!(argv.iter().filter(|a| *a == "--check").count(), 2);
        assert!(argv.contains(&picked[1].id));
        // A context is named as a context (its TLS and all); the environment is inherited.
        let ctx = doctor_argv(&settings(Source::Context("prod".into())), &picked);
        assert_eq!(ctx[..2], ["--context", "prod"]);
        let env = doctor_argv(&settings(Source::Env), &picked);
        assert_eq!(env[0], "--timeout");
        assert!(!env.contains(&"--config".to_string()), "no file, no flag");
        let mut with_file = settings(Source::Default);
        with_file.config.path = Some("/etc/dockhand/config.toml".into());
        let f = doctor_argv(&with_file, &picked);
        let at = f.iter().position(|a| a == "--config").expect("--config");
        assert_eq!(f[at + 1], "/etc/dockhand/config.toml");
        assert!(at < f.iter().position(|a| a == "doctor").expect("doctor"));
    }

    #[test]
    fn listen_addresses() {
        let ok: &[(&str, &str)] = &[
            ("127.0.0.1:9323", "127.0.0.1:9323"),
            ("localhost:9323", "127.0.0.1:9323"),
            ("0.0.0.0:80", "0.0.0.0:80"),
            ("[::1]:9323", "[::1]:9323"),
            ("[::]:0", "[::]:0"),
            (" 10.0.0.5:9100 ", "10.0.0.5:9100"),
        ];
        for (s, want) in ok {
            assert_eq!(parse_listen(s).expect(s).to_string(), *want, "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("9323", "no port"),
            (":9323", "no IP address"),
            ("127.0.0.1", "no port"),
            ("::1", "no port"),
            ("127.0.0.1:99999", "0-65535"),
            ("127.0.0.1:http", "0-65535"),
            ("example.com:9323", "not resolved"),
            ("localhost:x", "0-65535"),
            ("", "no port"),
        ];
        for (s, why) in bad {
            let e = parse_listen(s).expect_err(s);
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains(&format!("{s:?}")), "names the value: {e}");
            assert!(e.contains("127.0.0.1:9323"), "says what works: {e}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("60s").expect("60s"), Duration::from_secs(60));
        assert_eq!(parse_interval("5m").expect("5m"), Duration::from_secs(300));
        assert_eq!(parse_interval("1").expect("1"), Duration::from_secs(1));
        for (s, why) in [
            ("500ms", "too short"),
            ("0", "more than zero"),
            ("banana", "not a duration"),
            ("2h", "not a unit"),
            ("61m", "at most an hour"),
        ] {
            let e = parse_interval(s).expect_err(s);
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn a_run_is_cut_off_after_every_check_had_its_own_deadline() {
        use crate::catalog::Catalog;
        let catalog = Catalog::builtin().expect("catalog");
        let config = crate::config::Config::default();
        for t in [Duration::from_millis(500), Duration::from_secs(3)] {
            let facts = crate::facts::Facts::new(crate::runtime::engine::Engine::new(
                crate::runtime::endpoint::Endpoint::Unix("/nonexistent.sock".into()),
                t,
            ));
            let ctx = crate::doctor::checks::Ctx::new(&facts, &catalog, &config);
            assert!(run_deadline(t) > ctx.probe_deadline(), "{t:?}");
        }
    }

    fn sample(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| Some(l.strip_prefix(series)?.strip_prefix(' ')?.to_string()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_hangs_is_cut_off_and_the_last_results_age() {
        let board = Board::new(Duration::from_secs(10), Duration::from_secs(3));
        let runs = std::cell::Cell::new(0u32);
        let t0 = tokio::time::Instant::now();
        let now = || tokio::time::Instant::now().into_std();
        let refresher = refresh_doctor(
            &board,
            Duration::from_secs(10),
            Duration::from_secs(3),
            || {
                runs.set(runs.get() + 1);
                let n = runs.get();
                async move {
                    if n == 1 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok("dockhand_status 0\n".to_string())
                    } else {
                        // A daemon that never answers and a probe that forgot its deadline.
                        std::future::pending::<Result<String, String>>().await
                    }
                }
            },
        );
        tokio::pin!(refresher);
        let at = |secs: u64| tokio::time::sleep_until(t0 + Duration::from_secs(secs));
        tokio::select! { () = &mut refresher => unreachable!(), () = at(2) => {} }
        let page = board.render(now());
        assert_eq!(
            sample(&page, "dockhand_doctor_last_run_age_seconds").as_deref(),
            Some("2.000")
        );
        // The second run starts at 10 s and is cut off at 13 s; one run at a time.
        tokio::select! { () = &mut refresher => unreachable!(), () = at(12) => {} }
        let page = board.render(now());
        assert_eq!(
            sample(&page, "dockhand_doctor_running_seconds").as_deref(),
            Some("2.000")
        );
        assert_eq!(runs.get(), 2);
        tokio::select! { () = &mut refresher => unreachable!(), () = at(15) => {} }
        let page = board.render(now());
        assert_eq!(
            sample(&page, "dockhand_doctor_last_refresh_timed_out").as_deref(),
            Some("1")
        );
        assert_eq!(
            sample(&page, "dockhand_doctor_last_run_age_seconds").as_deref(),
            Some("15.000")
        );
        assert_eq!(
            sample(&page, "dockhand_status").as_deref(),
            Some("0"),
            "the old results stay"
        );
        assert_eq!(
            sample(&page, "dockhand_doctor_running_seconds").as_deref(),
            Some("0.000")
        );
        tokio::select! { () = &mut refresher => unreachable!(), () = at(35) => {} }
        assert_eq!(runs.get(), 4, "runs go on at the interval after a cut-off");
        let page = board.render(now());
        assert_eq!(
            sample(&page, r#"dockhand_doctor_runs_total{result="timed-out"}"#).as_deref(),
            Some("3")
        );
    }
}
