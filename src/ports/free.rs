//! `dockhand ports free PORT`: who holds the port, what to do about each holder
//! ([`free_verdict`]), the plan of actions that does it, and the port afterwards
//! ([`after_free`]).

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::survey::{ContainerRef, ListenerRow, OwnerRow, Survey};
use crate::actions::{Action, Plan, ProcTarget, Scope, Step};
use crate::policy::ports::{
    FreeVerdict, Leak, OwnerKind, ProxyVerdict, Refusal, Stuck, free_verdict,
};
use crate::policy::processes::listed_in;
use crate::runtime::net::{Proto, ProxyArgs, parse_docker_proxy};
use crate::util::{human_duration, sanitize};

/// What the user asked of `ports free`.
#[derive(Debug, Clone)]
pub struct FreeOptions {
    pub port: u16,
    /// Only this protocol's listener (both when `None`).
    pub proto: Option<Proto>,
    /// Processes that are not Docker's may be terminated.
    pub force_foreign: bool,
    /// How long a process gets after SIGTERM before SIGKILL.
    pub grace: Duration,
    /// How long a container gets to stop before the engine kills it.
    pub stop_timeout_s: u32,
    /// `ports.leaked-proxy`'s grace, for the sentence about a proxy still starting.
    pub proxy_grace_s: f64,
}

/// One process holding the port (or, with `pid: null`, a listener whose owner was not seen),
/// and what `ports free` does about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    pub proto: Proto,
    pub address: IpAddr,
    pub port: u16,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub state: Option<String>,
    pub wchan: Option<String>,
    /// The socket's owner (its user name, else its uid).
    pub user: String,
    pub kind: Option<OwnerKind>,
    pub container: Option<ContainerRef>,
    pub verdict: FreeVerdict,
    /// Who it is and what will be done, as a sentence.
    pub explain: String,
}

/// A listener on the port in another network namespace: it does not hold the host's port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Elsewhere {
    pub proto: Proto,
    pub address: IpAddr,
    pub netns: u64,
    /// The container whose namespace it is, when known.
    pub container: Option<String>,
}

/// The holders, the plan, and what the port looked like before it.
#[derive(Debug, Clone, Default)]
pub struct FreePlan {
    pub holders: Vec<Holder>,
    pub plan: Plan,
    pub elsewhere: Vec<Elsewhere>,
    /// The holding processes as (pid, start ticks), for judging the port afterwards.
    pub before: Vec<(i32, u64)>,
    /// Holders that changed between the survey and the plan, and other remarks.
    pub notes: Vec<String>,
}

impl FreePlan {
    /// Some holder is left alone by rule: the port stays held.
    pub fn refused(&self) -> bool {
        self.holders
            .iter()
            .any(|h| matches!(h.verdict, FreeVerdict::Refused { .. }))
    }
}

/// The listeners on `opts.port` in the host's namespace (of `opts.proto`, when given).
pub fn holding<'s>(survey: &'s Survey, opts: &FreeOptions) -> Vec<&'s ListenerRow> {
    survey
        .rows
        .iter()
        .filter(|r| r.host_namespace && r.port == opts.port)
        .filter(|r| opts.proto.is_none_or(|p| p == r.proto))
        .collect()
}

/// "0.0.0.0:8080/tcp", "[::1]:53/udp".
pub fn endpoint(address: IpAddr, port: u16, proto: Proto) -> String {
    match address {
        IpAddr::V4(a) => format!("{a}:{port}/{proto}"),
        IpAddr::V6(a) => format!("[{a}]:{port}/{proto}"),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The container's name for sentences: the row's, when it is that container, else its short id.
fn container_name<'a>(row: &'a ListenerRow, id: &'a str) -> &'a str {
    match &row.container {
        Some(c) if c.id == id && !c.name.is_empty() => &c.name,
        _ => short(id),
    }
}

/// The sentence for one holder: who it is, and what will be done or why not.
fn explain(row: &ListenerRow, o: &OwnerRow, v: &FreeVerdict, opts: &FreeOptions) -> String {
    let who = format!("pid {} ({})", o.pid, sanitize(&o.comm));
    let proxy = || parse_docker_proxy(&o.cmdline);
    let forwards = |a: Option<ProxyArgs>| {
        a.map_or_else(String::new, |a| {
            format!(" forwarding to {}:{}", a.container_ip, a.container_port)
        })
    };
    let grace = human_duration(opts.grace);
    match v {
        FreeVerdict::KillProxy { why } => format!(
            "{who} is a leaked docker-proxy{}: {}; it is terminated (SIGTERM, SIGKILL after {grace})",
            forwards(proxy()),
            match why {
                Leak::Orphan => "its parent is not a live dockerd, so nothing will ever stop it",
                Leak::ContainerGone =>
                    "a child of this daemon, but no running container publishes this port to that address",
            }
        ),
        FreeVerdict::StopContainer { container } => format!(
            "{who} holds it for container {}: the container is stopped (the engine kills it after {} s), which frees the port",
            sanitize(container_name(row, container)),
            opts.stop_timeout_s
        ),
        FreeVerdict::KillLeftover { container } => format!(
            "{who} is a process left under the shim of container {}, which is not running: it is terminated (SIGTERM, SIGKILL after {grace})",
            short(container)
        ),
        FreeVerdict::KillForeign => format!(
            "{who} is not Docker's; --force-foreign allows it: it is terminated (SIGTERM, SIGKILL after {grace})"
        ),
        FreeVerdict::Refused { why } => match why {
            Refusal::Foreign => format!(
                "{who}, user {}, is not Docker's: dockhand leaves other programs alone; add --force-foreign to terminate it",
                user_of(row)
            ),
            Refusal::Uninterruptible => format!(
                "{who} cannot be killed: it is in uninterruptible sleep (D) in {}, and no signal reaches it until that call into the kernel returns (usually a hung filesystem or device); if it never does, only a reboot frees the port",
                o.wchan
                    .as_deref()
                    .map_or_else(|| "the kernel".to_string(), sanitize)
            ),
            Refusal::Engine => format!(
                "{who} is the engine itself, on a port no container publishes (its API, or its own): not something to free by killing it; `dockhand recover` restarts the daemon"
            ),
            Refusal::OtherDaemon => format!(
                "{who} is a docker-proxy of another running dockerd (its parent, pid {}): that daemon's container holds the port",
                o.ppid
            ),
            Refusal::Starting => format!(
                "{who} is the docker-proxy of a container still starting (younger than {} s): try again in a moment",
                opts.proxy_grace_s
            ),
            Refusal::Unattributed => format!(
                "{who} is an orphan docker-proxy{} into none of this daemon's networks while other daemons run: probably another daemon's; add --force-foreign to terminate it",
                forwards(proxy())
            ),
            Refusal::Unjudged => match &o.kind {
                OwnerKind::Container { id } => format!(
                    "{who} runs under the shim of container {}, whose state is not known because the engine did not list its containers: it is left alone, since the container may be running (`dockhand recover` brings a hung daemon back; then `ports free` stops the container)",
                    short(id)
                ),
                _ => format!(
                    "{who} is a docker-proxy of this daemon that could not be judged: the engine did not list its containers"
                ),
            },
            Refusal::Unseen => "no owner seen".to_string(),
        },
    }
}

fn user_of(row: &ListenerRow) -> String {
    row.user
        .as_deref()
        .map_or_else(|| format!("uid {}", row.uid), sanitize)
}

/// The rule behind a terminate step, short (the holder's sentence says the rest).
fn step_reason(row: &ListenerRow, v: &FreeVerdict, port: u16) -> String {
    let what = match v {
        FreeVerdict::KillProxy { why: Leak::Orphan } => {
            "a leaked docker-proxy (its parent is not a live dockerd)"
        }
        FreeVerdict::KillProxy {
            why: Leak::ContainerGone,
        } => "a leaked docker-proxy (no running container publishes it)",
        FreeVerdict::KillLeftover { .. } => "a process left under a container that does not run",
        _ => "not Docker's, and --force-foreign allows it",
    };
    format!(
        "it holds {} (ports free {port}): {what}",
        endpoint(row.address, row.port, row.proto)
    )
}

/// Plans what frees the port: one holder row per owner of each listener on it, and a step per
/// process to terminate or container to stop. `capture` reads a process as a target (its
/// executable and start time now); a holder that changed since the survey is left out, with a
/// note.
pub fn plan_free(
    survey: &Survey,
    opts: &FreeOptions,
    capture: impl Fn(i32, Scope) -> Option<ProcTarget>,
) -> FreePlan {
    let mut fp = FreePlan::default();
    for r in survey
        .rows
        .iter()
        .filter(|r| !r.host_namespace && r.port == opts.port)
    {
        if opts.proto.is_none_or(|p| p == r.proto) {
            fp.elsewhere.push(Elsewhere {
                proto: r.proto,
                address: r.address,
                netns: r.netns,
                container: r.container.as_ref().map(|c| c.name.clone()),
            });
        }
    }
    let mut steps: Vec<Step> = Vec::new();
    for row in holding(survey, opts) {
        if row.owners.is_empty() {
            fp.holders.push(unseen_holder(row, survey));
            continue;
        }
        // --force-foreign is consent to end what is not Docker's; when a container's own
        // process could not be told from a stranger (a gap in the survey), it does not apply.
        let force_foreign = opts.force_foreign && survey.owners_unjudged.is_none();
        if opts.force_foreign
            && let Some(why) = &survey.owners_unjudged
            && !fp.notes.iter().any(|n| n.starts_with("--force-foreign"))
        {
            fp.notes.push(format!(
                "--force-foreign is not applied this run: whether a holder is a container's own process could not be told ({why})"
            ));
        }
        let belongs_running = row
            .container
            .as_ref()
            .filter(|c| c.running)
            .map(|c| c.id.as_str());
        for o in &row.owners {
            fp.before.push((o.pid, o.start_ticks));
            let owner_listed = match &o.kind {
                OwnerKind::Container { id } => listed_in(survey.listed.as_ref(), id),
                _ => None,
            };
            let verdict = free_verdict(
                &o.kind,
                o.stuck == Some(Stuck::Uninterruptible),
                belongs_running,
                owner_listed,
                force_foreign,
            );
            let explain = explain(row, o, &verdict, opts);
            let step = step_for(
                &verdict,
                row,
                o,
                survey,
                opts,
                &steps,
                &capture,
                &mut fp.notes,
            );
            if let Some(s) = step {
                steps.push(s);
            }
            fp.holders.push(Holder {
                proto: row.proto,
                address: row.address,
                port: row.port,
                pid: Some(o.pid),
                comm: Some(o.comm.clone()),
                state: Some(o.state.clone()),
                wchan: o.wchan.clone(),
                user: user_of(row),
                kind: Some(o.kind.clone()),
                container: row.container.clone(),
                verdict,
                explain,
            });
        }
    }
    fp.plan = Plan::new(steps);
    fp
}

/// The holder row of a listener no process could be seen holding: refused, and why.
fn unseen_holder(row: &ListenerRow, survey: &Survey) -> Holder {
    let explain = if survey.unreadable > 0 {
        format!(
            "no process could be seen holding {}: {} processes' open files are not readable by this user{}",
            endpoint(row.address, row.port, row.proto),
            survey.unreadable,
            if nix::unistd::geteuid().is_root() {
                " (a sandbox or a security module forbids it)"
            } else {
                " (run as root)"
            }
        )
    } else {
        format!(
            "no process holds {}: a socket of the kernel itself (NFS, RPC) or one being torn down; nothing to stop",
            endpoint(row.address, row.port, row.proto)
        )
    };
    Holder {
        proto: row.proto,
        address: row.address,
        port: row.port,
        pid: None,
        comm: None,
        state: None,
        wchan: None,
        user: user_of(row),
        kind: None,
        container: row.container.clone(),
        verdict: FreeVerdict::Refused {
            why: Refusal::Unseen,
        },
        explain,
    }
}

/// The step that acts on one owner's verdict: a container stopped (once per container), or a
/// process terminated (once per process, captured now; one replaced since the survey is a
/// note instead). None for a refusal.
#[allow(clippy::too_many_arguments)]
fn step_for(
    verdict: &FreeVerdict,
    row: &ListenerRow,
    o: &OwnerRow,
    survey: &Survey,
    opts: &FreeOptions,
    steps: &[Step],
    capture: &impl Fn(i32, Scope) -> Option<ProcTarget>,
    notes: &mut Vec<String>,
) -> Option<Step> {
    match verdict {
        FreeVerdict::StopContainer { container } => {
            if steps
                .iter()
                .any(|s| matches!(&s.action, Action::StopContainer { id, .. } if id == container))
            {
                None
            } else {
                Some(Step::new(
                    Action::StopContainer {
                        id: container.clone(),
                        name: container_name(row, container).to_string(),
                        timeout_s: opts.stop_timeout_s,
                    },
                    format!(
                        "it holds {} (ports free {})",
                        endpoint(row.address, row.port, row.proto),
                        opts.port
                    ),
                ))
            }
        }
        FreeVerdict::Refused { .. } => None,
        v => {
            let scope = match v {
                FreeVerdict::KillProxy {
                    why: Leak::ContainerGone,
                } => survey
                    .daemon
                    .map_or(Scope::DockerProgram, Scope::DescendantOf),
                FreeVerdict::KillProxy { why: Leak::Orphan } => Scope::DockerProgram,
                FreeVerdict::KillLeftover { container } => match survey.shims.get(container) {
                    Some(shim) => Scope::DescendantOf(*shim),
                    None => Scope::DockerProgram,
                },
                _ => Scope::Any,
            };
            let already = steps.iter().any(
                |s| matches!(&s.action, Action::Terminate { target, .. } if target.id.pid == o.pid),
            );
            if already {
                None
            } else {
                match capture(o.pid, scope) {
                    Some(t) if t.id.start_ticks == o.start_ticks => Some(Step::new(
                        Action::Terminate {
                            target: t,
                            grace: opts.grace,
                        },
                        step_reason(row, v, opts.port),
                    )),
                    _ => {
                        notes.push(format!(
                            "pid {} ({}) exited or was replaced since it was seen holding the port: run again",
                            o.pid,
                            sanitize(&o.comm)
                        ));
                        None
                    }
                }
            }
        }
    }
}

/// The proxy verdict behind a holder, when it is a docker-proxy: for the table's wording.
pub fn proxy_verdict(h: &Holder) -> Option<&ProxyVerdict> {
    match &h.kind {
        Some(OwnerKind::Proxy { verdict }) => verdict.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ProcId;
    use crate::policy::ports::{BelongsBy, Problem};
    use crate::policy::processes::Listed;

    fn owner(pid: i32, comm: &str, kind: OwnerKind, state: &str) -> OwnerRow {
        OwnerRow {
            pid,
            comm: comm.into(),
            state: state.into(),
            wchan: (state == "D").then(|| "nfs_wait".to_string()),
            ppid: 1,
            start_ticks: 100 + pid as u64,
            cmdline: vec![comm.into()],
            kind,
            stuck: (state == "D").then_some(Stuck::Uninterruptible),
        }
    }

    fn row(
        port: u16,
        host: bool,
        owners: Vec<OwnerRow>,
        container: Option<ContainerRef>,
    ) -> ListenerRow {
        ListenerRow {
            proto: Proto::Tcp,
            address: [0, 0, 0, 0].into(),
            port,
            host_namespace: host,
            netns: if host { 1 } else { 2 },
            inode: 9,
            uid: 0,
            user: Some(std::sync::Arc::from("root")),
            owners: owners.into_iter().map(std::sync::Arc::new).collect(),
            container,
            status: crate::policy::ports::ListenerStatus::Ok,
            problems: Vec::<Problem>::new(),
        }
    }

    fn opts(force: bool) -> FreeOptions {
        FreeOptions {
            port: 8080,
            proto: None,
            force_foreign: force,
            grace: Duration::from_secs(2),
            stop_timeout_s: 10,
            proxy_grace_s: 30.0,
        }
    }

    fn capture(pid: i32, scope: Scope) -> Option<ProcTarget> {
        Some(ProcTarget {
            id: ProcId {
                pid,
                start_ticks: 100 + pid as u64,
            },
            exe: None,
            comm: "x".into(),
            scope,
        })
    }

    fn survey(rows: Vec<ListenerRow>) -> Survey {
        Survey {
            rows,
            daemon: Some(ProcId {
                pid: 50,
                start_ticks: 1,
            }),
            ..Survey::default()
        }
    }

    // Long: one table of cases read top to bottom; split, its fixtures would scatter.
    #[test]
    fn each_holder_gets_its_step_or_its_refusal() {
        let leaked = OwnerKind::Proxy {
            verdict: Some(ProxyVerdict::Leaked {
                why: Leak::ContainerGone,
            }),
        };
        let web = ContainerRef {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            by: BelongsBy::Proxy,
            running: true,
        };
        let serving = OwnerKind::Proxy {
            verdict: Some(ProxyVerdict::Serving {
                container: web.id.clone(),
            }),
        };
        let s = survey(vec![
            row(
                8080,
                true,
                vec![owner(7, "docker-proxy", leaked, "S")],
                None,
            ),
            row(
                8080,
                true,
                vec![owner(8, "docker-proxy", serving.clone(), "S")],
                Some(web.clone()),
            ),
            // The same container's IPv6 proxy: one stop, not two.
            row(
                8080,
                true,
                vec![owner(9, "docker-proxy", serving, "S")],
                Some(web),
            ),
            row(
                8080,
                true,
                vec![owner(10, "nginx", OwnerKind::Other, "S")],
                None,
            ),
            row(
                8080,
                true,
                vec![owner(11, "nginx", OwnerKind::Other, "D")],
                None,
            ),
            row(8080, true, Vec::new(), None),
            // Another port, and the same port in a container's namespace: not holders.
            row(
                9090,
                true,
                vec![owner(12, "nginx", OwnerKind::Other, "S")],
                None,
            ),
            row(
                8080,
                false,
                vec![owner(13, "nginx", OwnerKind::Other, "S")],
                None,
            ),
        ]);
        let fp = plan_free(&s, &opts(false), capture);
        let kinds: Vec<(&str, String)> = fp
            .plan
            .steps
            .iter()
            .map(|s| (s.action.kind(), s.action.target()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("process.terminate", "pid 7 (x)".to_string()),
                ("container.stop", "web (0123456789ab)".to_string())
            ]
        );
        // The leaked proxy of this daemon is terminated only as the daemon's descendant.
        let Action::Terminate { target, .. } = &fp.plan.steps[0].action else {
            panic!("terminate")
        };
        assert_eq!(
            target.scope,
            Scope::DescendantOf(ProcId {
                pid: 50,
                start_ticks: 1
            })
        );
        assert_eq!(fp.holders.len(), 6);
        assert!(fp.refused());
        assert!(
            fp.holders[3].explain.contains("--force-foreign"),
            "{}",
            fp.holders[3].explain
        );
        assert!(
            fp.holders[4].explain.contains("nfs_wait") && fp.holders[4].explain.contains("reboot")
        );
        assert!(
            fp.holders[5].explain.contains("kernel"),
            "{}",
            fp.holders[5].explain
        );
        assert_eq!(fp.elsewhere.len(), 1);
        assert_eq!(fp.before.len(), 5);

        // Forced: the foreign process gets a step with scope Any; D and unseen stay refused.
        let fp = plan_free(&s, &opts(true), capture);
        let Action::Terminate { target, .. } = &fp.plan.steps[2].action else {
            panic!("terminate")
        };
        assert_eq!((target.id.pid, &target.scope), (10, &Scope::Any));
        assert_eq!(fp.plan.len(), 3);
        assert!(fp.refused());

        // A holder replaced since the survey is left out, with a note.
        let fp = plan_free(&s, &opts(true), |pid, scope| {
            capture(pid, scope).map(|mut t| {
                t.id.start_ticks += 1;
                t
            })
        });
        assert_eq!(fp.plan.len(), 1, "only the container stop");
        assert_eq!(fp.notes.len(), 2, "{:?}", fp.notes);
    }

    #[test]
    fn unknown_never_acts_on_a_holder_under_a_shim() {
        let web = "0123456789abcdef".to_string();
        let mine = OwnerKind::Container { id: web.clone() };
        let mut s = survey(vec![
            row(8080, true, vec![owner(7, "httpd", mine, "S")], None),
            row(
                8080,
                true,
                vec![owner(8, "nginx", OwnerKind::Other, "S")],
                None,
            ),
        ]);
        // The engine did not list (a frozen daemon): the container's process is left alone,
        // even forced, and the sentence says why.
        let fp = plan_free(&s, &opts(true), capture);
        assert_eq!(
            fp.holders[0].verdict,
            FreeVerdict::Refused {
                why: Refusal::Unjudged
            }
        );
        assert!(
            fp.holders[0].explain.contains("not known"),
            "{}",
            fp.holders[0].explain
        );
        assert_eq!(fp.plan.len(), 1, "only the foreign process, forced");
        // The list says it exited: a leftover, ended under its shim.
        s.listed = Some([(web.clone(), Listed::NotRunning)].into_iter().collect());
        let fp = plan_free(&s, &opts(false), capture);
        assert_eq!(
            fp.holders[0].verdict,
            FreeVerdict::KillLeftover { container: web }
        );
        // The shims could not be told (the daemon's process not found in time): a process that
        // looks foreign may be a container's, and --force-foreign does not reach it.
        s.owners_unjudged = Some("the daemon's process was not found".into());
        let fp = plan_free(&s, &opts(true), capture);
        assert_eq!(
            fp.holders[1].verdict,
            FreeVerdict::Refused {
                why: Refusal::Foreign
            }
        );
        assert!(
            fp.notes
                .iter()
                .any(|n| n.starts_with("--force-foreign is not applied"))
        );
    }

    #[test]
    fn endpoints_print_like_ss() {
        assert_eq!(
            endpoint([127, 0, 0, 1].into(), 80, Proto::Tcp),
            "127.0.0.1:80/tcp"
        );
        assert_eq!(
            endpoint("::1".parse().expect("ip"), 53, Proto::Udp),
            "[::1]:53/udp"
        );
    }
}
