//! `dockhand ports`: who holds every port — each listening TCP and UDP socket of the host, in
//! every network namespace, with its owners, user, container and status — and
//! `dockhand ports free PORT`, which explains who holds a port and frees it: a leaked
//! docker-proxy is terminated, a container is stopped, a foreign process only with
//! `--force-foreign`, a process stuck in the kernel never. See docs/ports.md.

pub mod free;
pub mod survey;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Subcommand, ValueEnum};

use crate::actions::saved_plan;
use crate::actions::{self, ActorOptions, ApplyOptions, ProcTarget};
use crate::command::{Ctx, Failure, Outcome, Ran};
use crate::exit::ExitCode;
use crate::facts::Facts;
use crate::policy::ports::{AfterFree, after_free};
use crate::report;
use crate::report::ports::{After, FreeDoc, NowHolder, PortsDoc};
use crate::runtime::engine::Engine;
use crate::runtime::net::Proto;
use crate::settings::{Format, Settings};

use free::{FreeOptions, FreePlan, plan_free};
use survey::{Survey, SurveyOptions, row_is_about, survey};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PortsArgs {
    #[command(subcommand)]
    pub action: Option<PortsAction>,

    /// Only listeners on this port (any protocol, any network namespace)
    #[arg(long, value_name = "N", value_parser = parse_port)]
    pub port: Option<u16>,

    /// Only what belongs to this container (name or id prefix), and what blocks its published
    /// ports
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl PortsArgs {
    /// Only `ports free --apply` changes anything.
    pub fn mutates(&self) -> bool {
        matches!(&self.action, Some(PortsAction::Free(f)) if f.apply)
    }
}

#[derive(Debug, Subcommand)]
pub enum PortsAction {
    /// Explain who holds PORT and free it: a leaked docker-proxy is terminated, a container is
    /// stopped, a process that is not Docker's only with --force-foreign; a process stuck in
    /// the kernel (D) cannot be. Dry run unless --apply; then says whether the port is free
    Free(FreeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Udp,
}

impl From<ProtoArg> for Proto {
    fn from(p: ProtoArg) -> Proto {
        match p {
            ProtoArg::Tcp => Proto::Tcp,
            ProtoArg::Udp => Proto::Udp,
        }
    }
}

#[derive(Debug, Args)]
pub struct FreeArgs {
    /// The port to free, in the host's network namespace (1-65535)
    #[arg(value_name = "PORT", value_parser = parse_port)]
    pub port: u16,

    /// Only the TCP or only the UDP listener [default: both]
    #[arg(long, value_enum)]
    pub proto: Option<ProtoArg>,

    /// Act on the plan: terminate, stop, then check that the port is free. Without it nothing
    /// is changed
    #[arg(long)]
    pub apply: bool,

    /// Also terminate a holder that is not Docker's (SIGTERM, then SIGKILL after --grace)
    #[arg(long)]
    pub force_foreign: bool,

    /// How long a process gets after SIGTERM before SIGKILL: 10s, 1.5s, 500ms, 1m
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration, default_value = "10s")]
    pub grace: Duration,

    /// How long a container gets to stop before the engine kills it, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub stop_timeout: u32,

    /// Save the dry run's plan to FILE, to apply it later with --apply --plan FILE
    #[arg(long, value_name = "FILE", conflicts_with = "apply")]
    pub plan_out: Option<PathBuf>,

    /// Apply this saved plan — exactly its steps, each re-checked just before it acts —
    /// instead of planning anew
    #[arg(long, value_name = "FILE", requires = "apply")]
    pub plan: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// A port number, 1-65535, with a sentence when it is not one.
pub fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("{s:?} is not a port number; use 1-65535")),
    }
}

/// The survey's thresholds, from the catalog and the config file: the same as doctor's.
pub fn survey_options(settings: &Settings) -> SurveyOptions {
    let th = |check: &str, name: &str| settings.config.threshold(&settings.catalog, check, name);
    SurveyOptions {
        d_state_samples: th("ports.stuck", "d_state_samples").max(1.0) as u32,
        proxy_grace_s: th("ports.leaked-proxy", "grace_seconds"),
    }
}

/// `dockhand ports` and `dockhand ports free PORT`.
pub async fn run(ctx: &Ctx<'_>, args: &PortsArgs) -> Ran {
    match &args.action {
        Some(PortsAction::Free(f)) => free_port(ctx, f).await,
        None => list(ctx, args).await,
    }
}

async fn take_survey(settings: &Settings, facts: &Facts) -> Result<Survey, Failure> {
    survey(facts, &survey_options(settings))
        .await
        .map_err(|g| Failure::unavailable(format!("cannot read this host's sockets: {g}")))
}

async fn list(ctx: &Ctx<'_>, args: &PortsArgs) -> Ran {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let settings = ctx.settings;
    let facts = Facts::new(ctx.engine());
    let mut s = take_survey(settings, &facts).await?;
    if let Some(p) = args.port {
        s.rows.retain(|r| r.port == p);
    }
    if let Some(c) = &args.container {
        if !s.engine {
            s.notes.push(format!(
                "--container {c}: containers could not be named, so nothing matches"
            ));
        }
        s.rows.retain(|r| row_is_about(r, c));
    }
    let rows = std::mem::take(&mut s.rows);
    let doc = PortsDoc::new(
        &s,
        rows,
        settings.endpoint.to_string(),
        started_at,
        t0.elapsed(),
        args.port,
        args.container.clone(),
    );
    let (format, style) = (args.format, ctx.style());
    Ok(Outcome::new(ExitCode::Ok, move |out| match format {
        Format::Table => report::ports::table(&doc, style, out),
        Format::Json => report::ports::json(&doc, out),
    }))
}

/// Who holds the port now: (pid, start ticks, comm, listener), from a fresh survey of the
/// sockets only.
async fn holders_now(engine: &Engine, port: u16, proto: Option<Proto>) -> Option<Vec<NowHolder>> {
    let facts = Facts::new(engine.clone());
    let table = facts.listeners().await.ok()?;
    let found: Vec<(i32, Proto, IpAddr)> = table
        .listeners
        .iter()
        .filter(|l| l.host_ns && l.port == port && proto.is_none_or(|p| p == l.proto))
        .flat_map(|l| l.pids.iter().map(move |p| (*p, l.proto, l.address)))
        .collect();
    let unseen = table.listeners.iter().any(|l| {
        l.host_ns && l.port == port && proto.is_none_or(|p| p == l.proto) && l.pids.is_empty()
    });
    crate::runtime::blocking(engine.timeout(), move || {
        let mut out: Vec<NowHolder> = found
            .into_iter()
            .map(|(pid, proto, address)| {
                let st = crate::runtime::host::proc_state(pid);
                NowHolder {
                    pid: Some(pid),
                    start_ticks: st.as_ref().map_or(0, |s| s.start_ticks),
                    comm: crate::runtime::host::comm(pid).unwrap_or_default(),
                    proto,
                    address,
                }
            })
            .collect();
        if unseen && out.is_empty() {
            out.push(NowHolder {
                pid: None,
                start_ticks: 0,
                comm: String::new(),
                proto: proto.unwrap_or(Proto::Tcp),
                address: IpAddr::from([0, 0, 0, 0]),
            });
        }
        out
    })
    .await
}

/// Checks the port after acting: polls until it is free (or `settle` passed), then once more a
/// moment later, to catch a supervisor that takes it again at once.
async fn verify(engine: &Engine, fp: &FreePlan, port: u16, proto: Option<Proto>) -> After {
    const SETTLE: Duration = Duration::from_secs(3);
    const RECHECK: Duration = Duration::from_millis(300);
    if fp.plan.steps.is_empty() {
        // Nothing was done (every holder left alone): the port is as the survey saw it a
        // moment ago. No second survey, no waiting for a change no step could have made.
        let holders = fp
            .holders
            .iter()
            .map(|h| NowHolder {
                pid: h.pid,
                start_ticks: fp
                    .before
                    .iter()
                    .find(|(pid, _)| Some(*pid) == h.pid)
                    .map_or(0, |(_, t)| *t),
                comm: h.comm.clone().unwrap_or_default(),
                proto: h.proto,
                address: h.address,
            })
            .collect();
        return After {
            verdict: Some(AfterFree::StillHeld),
            holders,
        };
    }
    let deadline = Instant::now() + SETTLE;
    let judge = |now: &[NowHolder]| {
        let ids: Vec<(i32, u64)> = now
            .iter()
            .map(|h| (h.pid.unwrap_or(0), h.start_ticks))
            .collect();
        after_free(&fp.before, &ids)
    };
    loop {
        let Some(now) = holders_now(engine, port, proto).await else {
            return After {
                verdict: None,
                holders: Vec::new(),
            };
        };
        let v = judge(&now);
        if v == AfterFree::Free {
            tokio::time::sleep(RECHECK).await;
            let again = holders_now(engine, port, proto).await.unwrap_or_default();
            return After {
                verdict: Some(judge(&again)),
                holders: again,
            };
        }
        if v == AfterFree::TakenAgain || Instant::now() >= deadline {
            return After {
                verdict: Some(v),
                holders: now,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Long (~100 lines) because it reads as the run itself: prepare, plan, then dry run or apply.
/// `dockhand ports free PORT`: plans (or takes the saved plan), saves it or applies it, then
/// checks the port.
async fn free_port(ctx: &Ctx<'_>, args: &FreeArgs) -> Ran {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let settings = ctx.settings;
    let subject = args.port.to_string();
    let facts = Facts::new(ctx.engine());
    let endpoint = settings.endpoint.to_string();
    let host = actions::journal::machine_id();
    let want = saved_plan::Expect {
        command: "ports free",
        subject: Some(&subject),
        host: host.as_deref(),
        endpoint: &endpoint,
        engine: None,
    };
    let prepared = saved_plan::prepare(
        args.plan.as_deref(),
        args.plan_out.is_some(),
        &settings.state_dir,
        settings.timeout,
        &facts,
        want,
    )
    .await
    .map_err(|(why, code)| Failure::new(code, why))?;
    let opts = FreeOptions {
        port: args.port,
        proto: args.proto.map(Proto::from),
        force_foreign: args.force_foreign,
        grace: args.grace,
        stop_timeout_s: args.stop_timeout,
        proxy_grace_s: survey_options(settings).proxy_grace_s,
    };
    let (mut fp, mut notes) = plan_now(settings, &facts, &opts).await?;
    let mut rejudged = None;
    if let (Some(saved), Some(path)) = (&prepared.saved, &args.plan) {
        notes.push(format!(
            "applying the plan saved in {} at {} ({} steps): each step goes only if a plan made now holds it, and is re-checked just before it acts; the holders above are as seen now",
            path.display(),
            saved.created_at,
            saved.steps.len()
        ));
        rejudged = Some(saved_plan::rejudge(&fp.plan));
        fp.plan = saved.plan();
    }
    let mut doc = FreeDoc::new(&opts, endpoint.clone(), started_at, args.apply, &fp);
    let (format, style) = (args.format, ctx.style());
    let render = move |code: ExitCode, doc: FreeDoc| {
        Outcome::new(code, move |out| match format {
            Format::Table => report::ports::free_table(&doc, style, out),
            Format::Json => report::ports::free_json(&doc, out),
        })
    };
    if !args.apply {
        if let Some(path) = &args.plan_out {
            save(path, &prepared, subject, &endpoint, &fp, &opts)?;
            notes.push(format!("plan saved to {}", path.display()));
        }
        let code = if fp.refused() {
            ExitCode::Refused
        } else {
            ExitCode::Ok
        };
        doc.finish(code, notes, t0.elapsed());
        return Ok(render(code, doc));
    }
    let engine = facts.engine().clone();
    actions::frame::mutating(
        ctx,
        &engine,
        "ports free",
        ActorOptions::default(),
        async |actor: &actions::Actor| {
            let judge = |s: &actions::Step| rejudged.as_ref().and_then(|r| r.why_not(s));
            let apply_opts = ApplyOptions {
                rejudge: Some(&judge),
                ..ApplyOptions::default()
            };
            let r = actions::apply(&fp.plan, actor, &apply_opts).await;
            doc.steps = report::acting::applied(&r.steps, &fp.plan);
            for e in &r.journal_errors {
                notes.push(format!("the journal could not record an outcome: {e}"));
            }
            if !r.interrupted && !fp.before.is_empty() {
                doc.after = Some(verify(&engine, &fp, args.port, opts.proto).await);
            }
            let freed = doc
                .after
                .as_ref()
                .is_none_or(|a| a.verdict == Some(AfterFree::Free));
            let code = if fp.refused() {
                ExitCode::Refused
            } else if r.failed() || !freed {
                ExitCode::Failed
            } else {
                ExitCode::Ok
            };
            doc.finish(code, std::mem::take(&mut notes), t0.elapsed());
            Ok(render(code, doc))
        },
    )
    .await
}

/// The plan made now, from a fresh survey, with the survey's and the planner's notes.
async fn plan_now(
    settings: &Settings,
    facts: &Facts,
    opts: &FreeOptions,
) -> Result<(FreePlan, Vec<String>), Failure> {
    let s = take_survey(settings, facts).await?;
    let mut notes = s.notes.clone();
    let plan_opts = opts.clone();
    let mut fp = crate::runtime::blocking(settings.timeout * 2, move || {
        plan_free(&s, &plan_opts, ProcTarget::capture)
    })
    .await
    .ok_or_else(|| {
        Failure::unavailable(format!(
            "reading the holders of port {} took longer than {}",
            opts.port,
            crate::util::human_duration(settings.timeout * 2)
        ))
    })?;
    notes.append(&mut fp.notes);
    Ok((fp, notes))
}

/// Writes the dry run's plan to `path`, signed with the state dir's key.
fn save(
    path: &Path,
    prepared: &saved_plan::Prepared,
    subject: String,
    endpoint: &str,
    fp: &FreePlan,
    opts: &FreeOptions,
) -> Result<(), Failure> {
    let sp = saved_plan::SavedPlan::new(
        "ports free",
        Some(subject),
        saved_plan::EngineDoc {
            endpoint: endpoint.to_string(),
            id: prepared.engine_id.clone(),
        },
        &fp.plan,
    )
    .with_options(serde_json::json!({
        "force_foreign": opts.force_foreign,
        "proto": opts.proto,
    }));
    let written = match &prepared.key {
        Some(key) => saved_plan::save(path, &sp, key),
        None => Err(std::io::Error::other("no key")),
    };
    written.map_err(|e| Failure::usage(format!("cannot write --plan-out {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_with_a_sentence() {
        assert_eq!(parse_port("8080"), Ok(8080));
        assert_eq!(parse_port("65535"), Ok(65535));
        for bad in ["0", "65536", "http", "-1", ""] {
            let e = parse_port(bad).expect_err(bad);
            assert!(e.contains("1-65535") && e.contains(bad), "{e}");
        }
    }
}
