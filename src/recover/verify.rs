//! The last stage: the restarted daemon must answer, be identified as the daemon at the
//! socket, serve, and run every container expected to run — whatever the start action said (an
//! init-style launcher exits 0 once it has started the daemon; only this tells whether it did).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::diagnose;
use crate::command::Ctx;
use crate::facts::Facts;
use crate::policy::daemon::recovery::{ContainerSeen, Expected, missing};
use crate::runtime::daemon::Located;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

/// What the verification saw.
#[derive(Debug, Clone, Default)]
pub(super) struct Verification {
    pub(super) ping_after: Option<Duration>,
    pub(super) health: &'static str,
    pub(super) listed: usize,
    pub(super) running: Vec<String>,
    pub(super) missing: Vec<Expected>,
    pub(super) pid: Option<i32>,
    pub(super) failure: Option<String>,
    pub(super) elapsed: Duration,
}

impl Verification {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "ping_after_ms": self.ping_after.map(crate::util::millis),
            "health": self.health,
            "containers_listed": self.listed,
            "containers_running": self.running.len(),
            "missing": self.missing,
            "pid": self.pid,
            "failure": self.failure,
            "elapsed_ms": crate::util::millis(self.elapsed),
        })
    }
}

/// Waits for the ping (each try under the per-call deadline), asks the tiers again and
/// classifies them, lists the containers, and waits for every expected one to run.
pub(super) async fn verify(
    ctx: &Ctx<'_>,
    expected: &[Expected],
    within: Duration,
    shutdown: &Shutdown,
) -> Verification {
    let t0 = Instant::now();
    let deadline = t0 + within;
    let engine = ctx.engine();
    let mut v = Verification::default();
    loop {
        if engine.ping().await.is_ok() {
            v.ping_after = Some(t0.elapsed());
            break;
        }
        if Instant::now() >= deadline || shutdown.is_triggered() {
            v.failure = Some(format!(
                "the daemon did not answer the ping within {} of its start",
                crate::util::human_duration(within)
            ));
            v.elapsed = t0.elapsed();
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let facts = Facts::new(engine.clone());
        if judge(&facts, ctx.settings, expected, &mut v).await
            || Instant::now() >= deadline
            || shutdown.is_triggered()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    v.elapsed = t0.elapsed();
    v
}

/// One look at the restarted daemon: its tiers, who serves the socket, its containers. Whether
/// it passed; `v.failure` says why not.
async fn judge(
    facts: &Facts,
    settings: &Settings,
    expected: &[Expected],
    v: &mut Verification,
) -> bool {
    let (health, _) = diagnose::health(facts, &settings.catalog, &settings.config).await;
    v.health = health.name();
    // A ping answered is not yet a daemon: something else could hold the socket.
    let unidentified = match facts.located().await {
        Ok(Located::Found(d)) => {
            v.pid = Some(d.info.pid);
            None
        }
        Ok(Located::NotRunning { .. }) => Some("no process could be seen holding it".to_string()),
        Ok(Located::Unverified { why, .. }) => Some(why.clone()),
        Ok(Located::Remote) => Some("the endpoint is not on this host".to_string()),
        Err(g) => Some(g.to_string()),
    };
    let listed = facts.containers().await.map(|c| {
        (
            c.len(),
            c.iter()
                .filter(|c| c.state == "running")
                .map(|c| c.id.clone())
                .collect::<Vec<_>>(),
        )
    });
    let (n, running) = match listed {
        Ok(l) if health.serves() => l,
        Ok(_) => {
            v.failure = Some(format!("the restarted daemon is {}", health.name()));
            return false;
        }
        Err(g) => {
            v.failure = Some(format!(
                "the restarted daemon did not list its containers: {g}"
            ));
            return false;
        }
    };
    if let Some(why) = unidentified {
        v.failure = Some(format!(
            "the socket answers, but the daemon serving it was not identified: {why}"
        ));
        return false;
    }
    v.listed = n;
    let after: Vec<_> = running
        .iter()
        .map(|id| ContainerSeen {
            id: id.clone(),
            name: String::new(),
            running: true,
            restart_policy: String::new(),
            pid: None,
        })
        .collect();
    v.running = running;
    v.missing = missing(expected, &after).into_iter().cloned().collect();
    if v.missing.is_empty() {
        v.failure = None;
        return true;
    }
    v.failure = Some(format!(
        "{} container{} expected to run {} not running: {}",
        v.missing.len(),
        if v.missing.len() == 1 { "" } else { "s" },
        if v.missing.len() == 1 { "is" } else { "are" },
        v.missing
            .iter()
            .map(|e| format!("{} ({})", e.name, e.because))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    false
}
