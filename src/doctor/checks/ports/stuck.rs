//! `ports.stuck`: TCP listeners, in every network namespace, none of whose owners can accept —
//! stopped (T), in uninterruptible sleep (D, in every one of `d_state_samples` samples 100 ms
//! apart), traced (t), or under a zombie parent ([`classify_owner`], [`listener_stuck`]). The
//! kernel completes handshakes into the backlog by itself, so clients connect and then wait
//! forever.
//!
//! TCP only: "cannot accept" is a TCP notion. UDP sockets are in the listener table too, and
//! `dockhand ports` applies the same owner verdicts to them; this check does not judge them.
//!
//! Never flags: a listener one of whose owners still runs (a pre-fork server with one live
//! worker), processes frozen by the cgroup freezer (`docker pause`), a D state that does not
//! last across the samples (ordinary disk I/O), sockets whose owners could not be seen.

use std::time::Duration;

use serde_json::{Value, json};

use super::{CAP, fmt_addr, plural};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::ports::{Stuck, classify_owner, listener_stuck};
use crate::runtime::net::{Listener, Proto};
use crate::runtime::{blocking, proc};

const ID: &str = "ports.stuck";

/// (state, wchan, ppid) of a process now. Reads /proc: call it through [`blocking`].
fn proc_now(pid: i32) -> Option<(char, Option<String>, i32)> {
    let st = proc::stat(pid)?;
    Some((st.state, proc::wchan(pid, None), st.ppid))
}

/// A process's state letter now. Reads /proc: call it through [`blocking`].
fn state_now(pid: i32) -> Option<char> {
    proc::stat(pid).map(|s| s.state)
}

/// A listener all of whose owners cannot accept: each owner's verdict and evidence.
struct Found {
    listener: Listener,
    verdicts: Vec<Option<Stuck>>,
    owners: Vec<Value>,
}

impl Found {
    fn worst(&self) -> Option<Stuck> {
        listener_stuck(&self.verdicts)
    }
}

/// Judges every owned TCP listener from fresh reads of its owners' states (the process table
/// may be older than the listener table), then confirms the D ones over `samples` samples.
fn judge(owned: Vec<Listener>, samples: u32) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for l in owned {
        let mut verdicts = Vec::new();
        let mut owners = Vec::new();
        for &pid in &l.pids {
            let Some((state, wchan, ppid)) = proc_now(pid) else {
                // Gone: it cannot be called stuck.
                verdicts.push(None);
                continue;
            };
            let pstate = state_now(ppid);
            let v = classify_owner(state, wchan.as_deref(), pstate);
            verdicts.push(v);
            if v.is_some() {
                owners.push(json!({
                    "pid": pid,
                    "comm": crate::runtime::host::comm(pid),
                    "state": state.to_string(),
                    "wchan": wchan,
                    "ppid": ppid,
                    "parent_state": pstate.map(|c| c.to_string()),
                }));
            }
        }
        let f = Found {
            listener: l,
            verdicts,
            owners,
        };
        if f.worst().is_some() {
            out.push(f);
        }
    }
    for _ in 1..samples {
        if !out
            .iter()
            .any(|f| f.verdicts.iter().flatten().any(|v| v.needs_confirmation()))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        for f in &mut out {
            for (v, pid) in f.verdicts.iter_mut().zip(&f.listener.pids) {
                if let Some(s) = *v
                    && s.needs_confirmation()
                {
                    *v = s.confirmed(state_now(*pid));
                }
            }
        }
        out.retain(|f| f.worst().is_some());
    }
    out
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let samples = ctx.th(ID, "d_state_samples").max(1.0) as u32;
    let table = match ctx.listeners().await {
        Ok(t) => t,
        Err(g) => return crate::doctor::checks::gap(&g),
    };
    let owned: Vec<Listener> = table
        .of(Proto::Tcp)
        .filter(|l| !l.pids.is_empty())
        .cloned()
        .collect();
    let count = table.of(Proto::Tcp).count();
    let (unreadable, namespaces) = (table.unreadable, table.namespaces);
    let Some(found) = blocking(ctx.timeout() * 2, move || judge(owned, samples)).await else {
        return Finding::new(
            Status::Unknown,
            format!(
                "reading the listeners' owners did not finish within {} (a process in D state?)",
                super::super::ms(ctx.timeout() * 2)
            ),
        );
    };
    let rows: Vec<Value> = found
        .iter()
        .take(CAP)
        .map(|f| {
            let l = &f.listener;
            json!({
                "port": l.port,
                "address": l.address.to_string(),
                "host_namespace": l.host_ns,
                "netns": l.netns,
                "why": f.worst().map(Stuck::as_str),
                "owners": f.owners,
            })
        })
        .collect();
    let evidence = json!({
        "listeners": count,
        "namespaces": namespaces,
        "unreadable_processes": unreadable,
        "stuck": rows,
        "stuck_count": found.len(),
    });
    let Some(first) = found.first() else {
        let mut s = format!(
            "{count} TCP listener{} in {namespaces} network namespace{}, none held by a stopped or stuck process",
            plural(count),
            plural(namespaces)
        );
        if unreadable > 0 {
            s.push_str(&format!(
                " ({unreadable} processes' fds were not readable: run as root to see all owners)"
            ));
        }
        return Finding::new(Status::Ok, s).evidence(evidence);
    };
    let status = if found.iter().filter_map(Found::worst).any(Stuck::critical) {
        Status::Critical
    } else {
        Status::Warning
    };
    let l = &first.listener;
    let o = first.owners.first().cloned().unwrap_or(Value::Null);
    let pid = o["pid"].as_i64().unwrap_or(0);
    let comm = o["comm"].as_str().unwrap_or("?");
    let state = o["state"].as_str().unwrap_or("?");
    let wait = o["wchan"]
        .as_str()
        .map_or_else(String::new, |w| format!(" (waiting in {w})"));
    let n = found.len();
    Finding::new(
        status,
        format!(
            "{n} TCP listener{} held by a process that cannot accept: {}:{} by {comm} (pid {pid}, state {state}){wait}; new connections queue and never get an answer",
            plural(n),
            fmt_addr(l.address),
            l.port,
        ),
    )
    // The first owner's own verdict: the fix names its pid.
    .fix(fix(first.verdicts.iter().flatten().next().copied(), pid, l.port))
    .evidence(evidence)
}

/// What gets the owner going again, by why it is stuck; or free the port.
fn fix(why: Option<Stuck>, pid: i64, port: u16) -> Fix {
    let (pid, port) = (pid.to_string(), port.to_string());
    let first = match why {
        Some(Stuck::Stopped) => Fix::run(
            &["kill", "-CONT", &pid],
            format!(
                "A stopped process (T) resumes with `kill -CONT {pid}` — find out who stopped it."
            ),
        ),
        Some(Stuck::Uninterruptible) => Fix::advice(
            "A process in D waits in the kernel (its wchan names where: usually a hung filesystem or device) and cannot be killed until that returns.",
        ),
        Some(Stuck::Traced) => Fix::advice(
            "A traced process (t) is held by a debugger: detach the debugger and it runs again.",
        ),
        Some(Stuck::ParentZombie) | None => Fix::advice(
            "Its parent exited and was never reaped: whatever was meant to manage it is gone.",
        ),
    };
    first
        .then_run(
            &["dockhand", "ports", "free", &port],
            format!("To free the port instead: `dockhand ports free {port}`"),
        )
        .then_advice(format!(
            "(by hand: `kill -9 {pid}`, then `kill -CONT {pid}` so it dies)."
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_follows_why_the_owner_is_stuck() {
        // (why, the commands the fix runs)
        let cases = [
            (
                Some(Stuck::Stopped),
                vec!["kill -CONT 812", "dockhand ports free 8080"],
            ),
            (
                Some(Stuck::Uninterruptible),
                vec!["dockhand ports free 8080"],
            ),
            (Some(Stuck::Traced), vec!["dockhand ports free 8080"]),
            (Some(Stuck::ParentZombie), vec!["dockhand ports free 8080"]),
        ];
        for (why, want) in cases {
            let f = fix(why, 812, 8080);
            let got: Vec<String> = f
                .steps
                .iter()
                .filter_map(|s| match s {
                    crate::doctor::FixStep::Run { argv, .. } => Some(argv.join(" ")),
                    crate::doctor::FixStep::Advice { .. } => None,
                })
                .collect();
            assert_eq!(got, want, "{why:?}");
            assert!(f.text().contains("kill -9 812"), "{}", f.text());
        }
    }
}
