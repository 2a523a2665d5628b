//! `daemon.tcp-exposed`: the API on TCP without TLS client verification — root on this host for
//! anyone who can reach the port. Read from the daemon's command line, daemon.json, its
//! environment (DOCKER_TLS_VERIFY), the engine's own warnings, and how dockhand itself got in
//! ([`crate::policy::daemon::exposure`]).
//!
//! Never flagged: a unix socket or socket activation only; TCP with `--tlsverify`.

use serde_json::json;

use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Status};
use crate::policy::daemon::engine_warnings;
use crate::policy::daemon::exposure::{
    Tls, exposure_warnings, is_exposed, is_loopback, podman_service_hosts, tcp_hosts, tls_mode,
};
use crate::runtime::blocking;
use crate::runtime::daemon::Located;
use crate::runtime::endpoint::Endpoint;

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    // Podman's service reads no daemon.json and has no TLS: its address is its argument.
    let podman = ctx.engine_kind().await.is_podman();
    let dj = ctx.daemon_json().await;
    let json = dj
        .value
        .as_ref()
        .and_then(|v| v.as_ref().ok())
        .filter(|_| !podman);
    let located = ctx.located().await;
    let (cmdline, pid) = match located {
        Ok(Located::Found(d)) => (d.info.cmdline.clone(), Some(d.info.pid)),
        _ => (Vec::new(), None),
    };
    // dockerd defaults --tlsverify to DOCKER_TLS_VERIFY being set in its environment.
    let env_verify = match pid {
        Some(p) if !podman => blocking(ctx.timeout(), move || env_has(p, "DOCKER_TLS_VERIFY"))
            .await
            .unwrap_or(false),
        _ => false,
    };
    let (tls, hosts) = if podman {
        (Tls::Off, podman_service_hosts(&cmdline))
    } else {
        (
            tls_mode(&cmdline, json, env_verify),
            tcp_hosts(&cmdline, json),
        )
    };
    // The engine's own word, which also covers listeners the command line does not show.
    let engine_warnings: Vec<String> = if ctx.engine_answered().await {
        ctx.info()
            .await
            .map(|i| exposure_warnings(&engine_warnings(i)))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    // dockhand itself speaks plain HTTP over TCP: if it got an answer that way, so can anyone.
    let via_tcp = match ctx.engine.endpoint() {
        Endpoint::Tcp(a) if ctx.engine_answered().await => Some(a.clone()),
        _ => None,
    };
    let evidence = json!({
        "tcp_hosts": hosts.iter().map(|(h, s)| json!({ "address": h, "source": s, "loopback": is_loopback(h) })).collect::<Vec<_>>(),
        "tls": format!("{tls:?}").to_lowercase(),
        "env_docker_tls_verify": env_verify,
        "engine_warnings": engine_warnings,
        "dockhand_connected_over_tcp": via_tcp,
        "cmdline_known": !cmdline.is_empty(),
        "daemon_json": (!podman).then_some(&dj.path),
    });
    let exposed = is_exposed(&hosts, tls, &engine_warnings, via_tcp.is_some());
    if !exposed {
        let found = matches!(located, Ok(Located::Found(_)));
        let json_known = json.is_some();
        return not_exposed(ctx, &hosts, &cmdline, json_known, found, podman)
            .await
            .evidence(evidence);
    }
    let summary = exposed_summary(&hosts, via_tcp.as_deref(), tls, &engine_warnings);
    if podman {
        return Finding::new(Status::Critical, summary)
            .remedy("Serve the API on a unix socket instead (`podman system service unix:///run/podman/podman.sock`, or podman.socket) and reach it remotely over ssh:// — Podman's service has no TLS; then restart the service.")
            .evidence(evidence);
    }
    Finding::new(Status::Critical, summary)
        .remedy(format!(
            "Remove the tcp:// host (from the service's command line or \"hosts\" in {}) and use the unix socket — or ssh:// from clients — or enable --tlsverify with --tlscacert, --tlscert and --tlskey; then restart the daemon.",
            dj.path.display()
        ))
        .evidence(evidence)
}

/// Not exposed: where the API listens, or unknown when neither the daemon's command line nor
/// the engine could tell. The caller adds the evidence.
async fn not_exposed(
    ctx: &Ctx<'_>,
    hosts: &[(String, &'static str)],
    cmdline: &[String],
    json_known: bool,
    found: bool,
    podman: bool,
) -> Finding {
    if cmdline.is_empty() && !json_known && !ctx.engine_answered().await {
        return Finding::new(
            Status::Unknown,
            "cannot tell where the API listens: no daemon process on this host and the engine did not answer",
        );
    }
    let s = if hosts.is_empty() {
        "the API listens on no TCP address (unix socket or socket activation only)".to_string()
    } else {
        format!(
            "the API listens on {} with TLS client verification (--tlsverify)",
            hosts
                .iter()
                .map(|(h, _)| h.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if cmdline.is_empty() && !found {
        let from = if podman {
            "dockhand's own connection"
        } else {
            "daemon.json"
        };
        return Finding::new(
            Status::Unknown,
            format!("{s}, as far as {from} tells: the daemon's command line could not be read"),
        );
    }
    Finding::new(Status::Ok, s)
}

/// The sentence for an exposed API: where it listens (dockhand's own TCP connection
/// included), how, and who can reach it.
fn exposed_summary(
    hosts: &[(String, &'static str)],
    via_tcp: Option<&str>,
    tls: Tls,
    engine_warnings: &[String],
) -> String {
    let mut addrs: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    if let Some(a) = via_tcp
        && !addrs.iter().any(|h| h.contains(a))
    {
        addrs.push(format!("tcp://{a}"));
    }
    let how = match tls {
        Tls::NoVerify => "with TLS but without client verification (--tls without --tlsverify)",
        _ => "without TLS",
    };
    let mut summary = if addrs.is_empty() {
        format!("the engine warns: {}", engine_warnings.join("; "))
    } else {
        format!("the API listens on {} {how}", addrs.join(", "))
    };
    summary.push_str(": root on this host for anyone who can reach the port");
    if !addrs.is_empty() && addrs.iter().all(|a| is_loopback(a)) {
        summary
            .push_str(" (loopback only: every local user and every container on the host network)");
    }
    summary
}

/// Whether a process's environment sets `name` to a non-empty value (false when unreadable).
fn env_has(pid: i32, name: &str) -> bool {
    crate::runtime::proc::env_var(pid, name).is_some_and(|v| !v.is_empty())
}
