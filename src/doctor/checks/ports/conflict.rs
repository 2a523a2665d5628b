//! `ports.conflict`: stopped containers with a restart policy whose published TCP host port
//! another process now listens on in the host's network namespace ([`restart_bindings`],
//! [`binding_conflict`]): their next start — by hand, by the restart policy, or when the daemon
//! restarts — fails with "port is already allocated".
//!
//! TCP only: UDP bindings are in the records and UDP sockets in the listener table, and
//! `dockhand ports` judges both with the same functions; this check judges TCP.
//!
//! Never flags: running or restarting containers, containers without a restart policy, bindings
//! without a fixed host port (empty or a range: chosen at start), listeners in other network
//! namespaces, a listener on another address of the same family (`127.0.0.2` vs `127.0.0.1`),
//! and the container's own leftover docker-proxy (ports.leaked-proxy reports that).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{CAP, plural};
use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::facts::Gap;
use crate::policy::ports::{Binding, binding_conflict, restart_bindings};
use crate::runtime::host::ProcRow;
use crate::runtime::inventory::ContainerRecord;
use crate::runtime::net::{Listener, ListenerTable, Proto, ProxyArgs, parse_docker_proxy};

/// A stopped container with a restart policy, the policy's name and its fixed TCP host ports.
type Candidate<'a> = (&'a ContainerRecord, &'a str, Vec<Binding>);

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let records = match ctx.answered_records().await {
        Ok(r) => r,
        Err(f) => return f,
    };
    let candidates = candidates(records);
    if candidates.is_empty() {
        return Finding::new(
            Status::Ok,
            "no stopped container with a restart policy publishes a fixed TCP host port",
        )
        .evidence(json!({ "candidates": 0, "conflicts": [] }));
    }
    // The listeners are this host's: they say nothing of a remote engine's ports.
    if let Err(g @ Gap::Remote { .. }) = ctx.located().await {
        return crate::doctor::checks::gap(&g);
    }
    let table = match ctx.listeners().await {
        Ok(t) => t,
        Err(g) => return crate::doctor::checks::gap(&g),
    };
    let procs: HashMap<i32, &ProcRow> = ctx
        .processes()
        .await
        .map(|ps| ps.iter().map(|p| (p.pid, p)).collect())
        .unwrap_or_default();
    let conflicts = conflicts(&candidates, table, &procs);
    let evidence = json!({
        "candidates": candidates.len(),
        "conflicts": conflicts.iter().take(CAP).cloned().collect::<Vec<_>>(),
        "conflict_count": conflicts.len(),
        "unreadable_processes": table.unreadable,
    });
    if conflicts.is_empty() {
        let n = candidates.len();
        return Finding::new(
            Status::Ok,
            format!(
                "{n} stopped container{} with a restart policy publish{} fixed TCP host ports, all free",
                plural(n),
                if n == 1 { "es" } else { "" }
            ),
        )
        .evidence(evidence);
    }
    conflict_finding(&conflicts).evidence(evidence)
}

/// The stopped containers with a restart policy that publish fixed TCP host ports.
fn candidates(records: &[ContainerRecord]) -> Vec<Candidate<'_>> {
    records
        .iter()
        .filter_map(|c| {
            let (policy, bindings) = restart_bindings(c)?;
            let tcp: Vec<Binding> = bindings
                .into_iter()
                .filter(|b| b.proto == Proto::Tcp)
                .collect();
            (!tcp.is_empty()).then_some((c, policy, tcp))
        })
        .collect()
}

/// Each candidate port another process listens on, as evidence: the container, the port and
/// its holders (Docker's own proxy for that very binding is no conflict).
fn conflicts(
    candidates: &[Candidate<'_>],
    table: &ListenerTable,
    procs: &HashMap<i32, &ProcRow>,
) -> Vec<Value> {
    let proxy_of: HashMap<i32, ProxyArgs> = procs
        .iter()
        .filter_map(|(pid, p)| parse_docker_proxy(&p.cmdline).map(|a| (*pid, a)))
        .collect();
    let mut conflicts = Vec::new();
    for (c, policy, bindings) in candidates {
        for b in bindings {
            let holders: Vec<Value> = table
                .host_on(Proto::Tcp, b.port)
                .filter(|l| {
                    let owners: Vec<Option<&ProxyArgs>> =
                        l.pids.iter().map(|pid| proxy_of.get(pid)).collect();
                    binding_conflict(c, b, l, &owners)
                })
                .map(|l| holder(l, procs))
                .collect();
            if !holders.is_empty() {
                conflicts.push(json!({
                    "container": c.id,
                    "name": c.name(),
                    "restart_policy": policy,
                    "host_ip": b.host_ip,
                    "port": b.port,
                    "holders": holders,
                }));
            }
        }
    }
    conflicts
}

/// A listener holding the port, with its owners' pids and command lines.
fn holder(l: &Listener, procs: &HashMap<i32, &ProcRow>) -> Value {
    let owners: Vec<Value> = l
        .pids
        .iter()
        .map(|pid| {
            let p = procs.get(pid);
            json!({
                "pid": pid,
                "comm": p.map(|p| p.comm.clone()),
                "cmdline": p.map(|p| p.cmdline.join(" ")),
            })
        })
        .collect();
    json!({ "address": l.address.to_string(), "port": l.port, "owners": owners })
}

/// The warning for held ports (`conflicts` is not empty), naming the first and its holder.
fn conflict_finding(conflicts: &[Value]) -> Finding {
    let first = &conflicts[0];
    let port = first["port"].as_u64().unwrap_or(0);
    let name = first["name"].as_str().unwrap_or("?").to_string();
    let holder = match first.pointer("/holders/0/owners/0") {
        Some(o) => format!(
            "{} (pid {})",
            o["comm"].as_str().unwrap_or("?"),
            o["pid"].as_i64().unwrap_or(0)
        ),
        None => "a process whose fds could not be read".into(),
    };
    let n = conflicts.len();
    Finding::new(
        Status::Warning,
        format!(
            "{n} published port{} of stopped containers with a restart policy {} held by another process: {name}'s port {port} by {holder}; its next start fails with \"port is already allocated\"",
            plural(n),
            if n == 1 { "is" } else { "are" },
        ),
    )
    .fix(fix(port, &name, &holder))
}

/// Free the port (or move the container off it), then start the container.
fn fix(port: u64, name: &str, holder: &str) -> Fix {
    let port = port.to_string();
    Fix::run(
        &["dockhand", "ports", "free", &port],
        format!(
            "Free the port — `dockhand ports free {port}`, or stop {holder} by hand — or publish {name} on another port (recreate it with a different -p);"
        ),
    )
    .then_run(
        &["docker", "start", name],
        format!("then `docker start {name}`."),
    )
}
