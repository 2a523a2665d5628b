//! `host.clock`: a wall clock that jumped, measured on each running container — the engine's
//! `StartedAt` (wall clock at its start) against its process's start by CLOCK_BOOTTIME, which
//! no one can set ([`policy::clock_jump`]) — and, for an engine on another host, its `/info`
//! `SystemTime` against ours around the request ([`policy::engine_offset`]). The kernel's NTP
//! state is shown, not judged.
//!
//! Never flags: the moment between a container's process starting and the engine noting it
//! (well under the threshold), an engine on this host (it reads the same clock as we do), an
//! unsynchronized NTP state alone.

use serde_json::{Value, json};

use super::{CAP, now};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::host::{self as policy, Level};
use crate::runtime::blocking;
use crate::runtime::kernel::{self, NtpState};

const ID: &str = "host.clock";

/// A running container measured: how far the wall clock moved since it started.
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    name: String,
    pid: i32,
    started_at: f64,
    jump_s: f64,
}

/// The running containers' measures, or why there are none.
type Measures = Result<Vec<Measure>, String>;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let max_s = ctx.th(ID, "max_offset_s");
    let (measures, offset, ntp) = tokio::join!(
        measures(ctx),
        engine_offset(ctx),
        blocking(ctx.timeout(), kernel::ntp_state)
    );
    let ntp = ntp.flatten();
    let jump = match &measures {
        Ok(ms) => policy::largest_jump(&ms.iter().map(|m| m.jump_s).collect::<Vec<_>>()),
        Err(_) => None,
    };
    let (offset_s, offset_ev) = match &offset {
        Ok(Some((o, ev))) => (Some(*o), ev.clone()),
        Ok(None) => (
            None,
            json!("the engine is on this host: it reads the same clock"),
        ),
        Err(e) => (None, json!({ "error": e })),
    };
    let level = policy::clock_level(jump, offset_s, max_s);
    let evidence = json!({
        "jump_secs": jump,
        "containers": match &measures {
            Ok(ms) => json!(ms.iter().take(CAP).map(measure_json).collect::<Vec<_>>()),
            Err(why) => json!({ "unmeasured": why }),
        },
        "engine_offset_secs": offset_s,
        "engine": offset_ev,
        "ntp": ntp,
        "thresholds": { "max_offset_s": max_s },
    });
    let ntp_words = ntp_words(ntp.as_ref());
    if level == Level::Ok {
        let measured = match (&measures, offset_s) {
            (Ok(ms), _) if !ms.is_empty() => format!(
                "the wall clock has not jumped since the oldest running container started (by {} measured)",
                super::plural(ms.len(), "container", "containers")
            ),
            (_, Some(o)) => format!("the engine's clock is within {o:.1} s of ours"),
            (Ok(_), None) => "no running container to measure a jump by".to_string(),
            (Err(why), None) => format!("a jump could not be measured: {why}"),
        };
        // Neither way measured anything: say so rather than a bare ok.
        let status = if measures.is_err() && offset_s.is_none() && offset.is_err() {
            Status::Unknown
        } else {
            Status::Ok
        };
        return Finding::new(status, format!("{measured}{ntp_words}")).evidence(evidence);
    }
    let mut parts = Vec::new();
    if let (Some(j), Ok(ms)) = (jump, &measures)
        && j.abs() >= max_s
        && let Some(m) = ms.iter().find(|m| m.jump_s == j)
    {
        parts.push(format!(
            "the wall clock moved {} by {} since {} started",
            if j > 0.0 { "forward" } else { "back" },
            crate::util::human_age(j.abs() as u64),
            m.name
        ));
    }
    if let Some(o) = offset_s.filter(|o| o.abs() >= max_s) {
        parts.push(format!(
            "the engine's clock is {} {} ours",
            crate::util::human_age(o.abs() as u64),
            if o > 0.0 { "ahead of" } else { "behind" }
        ));
    }
    Finding::new(Status::Warning, format!("{}{ntp_words}", parts.join("; ")))
        .fix(
            Fix::run(
                &["timedatectl"],
                "Run a time daemon (chrony, systemd-timesyncd, ntpd) on every host and check it is synchronized (`timedatectl`).",
            )
            .then_advice(
                "Ages measured across the jump are off by it: wait before acting on them, or give gc a longer grace period.",
            ),
        )
        .evidence(evidence)
}

/// "; the kernel says the clock is not synchronized (no NTP discipline)" — said, not judged.
fn ntp_words(n: Option<&NtpState>) -> String {
    match n {
        Some(n) if !n.synchronized => {
            "; the kernel reports the clock not synchronized (no time daemon disciplines it)".into()
        }
        _ => String::new(),
    }
}

/// Each running container's jump. Needs the daemon's process on this host: a container's pid
/// is a pid in the daemon's namespace, which is ours only then.
async fn measures(ctx: &Ctx<'_>) -> Measures {
    if let Err(f) = ctx.located_daemon().await {
        return Err(f.summary);
    }
    let records = ctx.answered_records().await.map_err(|f| f.summary)?;
    let running: Vec<(String, i32, f64)> = records
        .iter()
        .filter(|c| c.state.running && c.state.pid > 0)
        .filter_map(|c| {
            Some((
                c.name().to_string(),
                c.state.pid as i32,
                c.state.started_at?,
            ))
        })
        .collect();
    if running.is_empty() {
        return Ok(Vec::new());
    }
    let read = blocking(ctx.timeout(), move || {
        // The wall clock and the boot clock read together, then each process's start.
        let wall = now();
        let boot = kernel::boottime_s()?;
        let hz = kernel::ticks_per_second() as f64;
        Some(
            running
                .into_iter()
                .filter_map(|(name, pid, started_at)| {
                    let ticks = crate::runtime::proc::stat(pid)?.start_ticks;
                    let boot_age = boot - ticks as f64 / hz;
                    Some(Measure {
                        name,
                        pid,
                        started_at,
                        jump_s: policy::clock_jump(wall - started_at, boot_age),
                    })
                })
                .collect::<Vec<_>>(),
        )
    })
    .await;
    match read {
        Some(Some(ms)) => Ok(ms),
        Some(None) => Err("the time since boot could not be read".into()),
        None => Err(format!(
            "the containers' processes were not read within {}",
            crate::doctor::checks::ms(ctx.timeout())
        )),
    }
}

/// The engine's clock against ours, for an engine on another host: `/info`'s `SystemTime`
/// against the window of the request. `None` for an engine on this host.
async fn engine_offset(ctx: &Ctx<'_>) -> Result<Option<(f64, Value)>, String> {
    if ctx.engine.endpoint().is_local() {
        return Ok(None);
    }
    let before = now();
    let info = ctx
        .engine
        .get_json::<Value>("/info")
        .await
        .map_err(|e| e.to_string())?;
    let after = now();
    let text = info
        .value
        .get("SystemTime")
        .and_then(Value::as_str)
        .ok_or("the engine's /info has no SystemTime")?;
    let t = crate::units::parse_rfc3339(text)
        .ok_or_else(|| format!("the engine's SystemTime {text:?} is not a date"))?;
    let o = policy::engine_offset(t, before, after);
    Ok(Some((
        o,
        json!({ "system_time": text, "request_secs": after - before }),
    )))
}

fn measure_json(m: &Measure) -> Value {
    json!({
        "name": m.name,
        "pid": m.pid,
        "started_at": m.started_at,
        "jump_secs": m.jump_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ntp_state_is_said_not_judged() {
        let n = NtpState {
            synchronized: false,
            est_error_us: 0,
            max_error_us: 16_000_000,
        };
        assert!(ntp_words(Some(&n)).contains("not synchronized"));
        let n = NtpState {
            synchronized: true,
            ..n
        };
        assert_eq!(ntp_words(Some(&n)), "");
        assert_eq!(ntp_words(None), "");
    }
}
