//! `host.pressure`: the kernel's pressure stall information for memory, I/O and cpu, judged on
//! what held (the lesser of avg60 and avg300: [`policy::sustained`]) against the thresholds.
//!
//! Never flags: a spike that the five-minute average does not confirm, the cpu's host-wide
//! `full` line (always zero, or absent). Unknown on a kernel without PSI.

use serde_json::{Value, json};

use crate::doctor::checks::Ctx;
use crate::doctor::{Finding, Fix, Status};
use crate::policy::host::{self as policy, Level, PressureLimits};
use crate::runtime::blocking;
use crate::runtime::kernel::{self, Psi, PsiRead};

const ID: &str = "host.pressure";

/// The resources, in the order a report names them.
const RESOURCES: [&str; 3] = ["memory", "io", "cpu"];

/// One resource read and judged.
struct Judged {
    resource: &'static str,
    psi: Psi,
    level: Level,
}

pub async fn check(ctx: &Ctx<'_>) -> Finding {
    let lim = PressureLimits {
        some_warn: ctx.th(ID, "some_warn_pct"),
        full_warn: ctx.th(ID, "full_warn_pct"),
        full_critical: ctx.th(ID, "full_critical_pct"),
        cpu_some_warn: ctx.th(ID, "cpu_some_warn_pct"),
    };
    let Some(reads) = blocking(ctx.timeout(), || RESOURCES.map(kernel::pressure)).await else {
        return Finding::new(
            Status::Unknown,
            format!(
                "{} did not answer within {}",
                kernel::PRESSURE_DIR,
                crate::doctor::checks::ms(ctx.timeout())
            ),
        );
    };
    let thresholds = json!({
        "some_warn_pct": lim.some_warn,
        "full_warn_pct": lim.full_warn,
        "full_critical_pct": lim.full_critical,
        "cpu_some_warn_pct": lim.cpu_some_warn,
    });
    let mut judged = Vec::new();
    let mut failures = Vec::new();
    for (resource, read) in RESOURCES.into_iter().zip(reads) {
        match read {
            PsiRead::Read(psi) => judged.push(Judged {
                resource,
                level: policy::pressure_level(resource, &psi, &lim),
                psi,
            }),
            PsiRead::Absent => {}
            PsiRead::Failed(e) => failures.push(e),
        }
    }
    if judged.is_empty() {
        let summary = match failures.first() {
            Some(e) => format!("pressure stall information could not be read: {e}"),
            None => format!(
                "this kernel has no pressure stall information ({} is absent or disabled: built without CONFIG_PSI, or booted with psi=0)",
                kernel::PRESSURE_DIR
            ),
        };
        return Finding::new(Status::Unknown, summary)
            .evidence(json!({ "resources": {}, "errors": failures, "thresholds": thresholds }));
    }
    let evidence = json!({
        "resources": judged.iter().map(|j| (j.resource.to_string(), resource_json(j))).collect::<serde_json::Map<_, _>>(),
        "errors": failures,
        "thresholds": thresholds,
    });
    let worst = judged.iter().map(|j| j.level).max().unwrap_or(Level::Ok);
    if worst == Level::Ok {
        return Finding::new(
            Status::Ok,
            format!("no sustained pressure stalls ({})", figures(&judged)),
        )
        .evidence(evidence);
    }
    let under: Vec<&Judged> = judged.iter().filter(|j| j.level != Level::Ok).collect();
    let status = if worst == Level::Critical {
        Status::Critical
    } else {
        Status::Warning
    };
    let names: Vec<&str> = under.iter().map(|j| j.resource).collect();
    Finding::new(
        status,
        format!(
            "the host is under {} pressure ({})",
            names.join(" and "),
            figures(under.iter().copied())
        ),
    )
    .fix(fix(&names))
    .evidence(evidence)
}

/// "memory some 1.3 %/0.8 %, io some 0.2 %/0.1 % full 0.1 %/0.1 %": avg60/avg300 of each.
fn figures<'a>(js: impl IntoIterator<Item = &'a Judged>) -> String {
    js.into_iter()
        .map(|j| {
            let mut s = j.resource.to_string();
            if let Some(l) = j.psi.some {
                s += &format!(" some {:.1} %/{:.1} %", l.avg60, l.avg300);
            }
            if j.resource != "cpu"
                && let Some(l) = j.psi.full
            {
                s += &format!(" full {:.1} %/{:.1} %", l.avg60, l.avg300);
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
        + " over the last 1/5 min"
}

fn resource_json(j: &Judged) -> Value {
    json!({ "level": j.level, "some": j.psi.some, "full": j.psi.full })
}

fn fix(names: &[&str]) -> Fix {
    let mut fix = Fix::default();
    if names.contains(&"memory") {
        fix = fix.then_run(
            &["docker", "stats", "--no-stream"],
            "Memory: find what uses it (`docker stats --no-stream`) and set limits (`docker update --memory`); see host.swap and host.oom-kills.",
        );
    }
    if names.contains(&"io") {
        fix = fix.then_run(
            &["dockhand", "df"],
            "I/O: a busy or failing disk — often logs or a container writing hard; `dockhand df` shows what fills the data root, and the kernel log shows a failing disk.",
        );
    }
    if names.contains(&"cpu") {
        fix = fix.then_advice(
            "CPU: more work than cores; limit the heavy containers (`docker update --cpus`).",
        );
    }
    fix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernel::parse_psi;

    #[test]
    fn figures_name_each_resource() {
        let j = [
            Judged {
                resource: "memory",
                psi: parse_psi(
                    "some avg10=0 avg60=1.33 avg300=0.80 total=1\nfull avg10=0 avg60=0.5 avg300=0.3 total=1",
                ),
                level: Level::Ok,
            },
            Judged {
                resource: "cpu",
                psi: parse_psi(
                    "some avg10=0 avg60=30 avg300=28 total=1\nfull avg10=0 avg60=0 avg300=0 total=1",
                ),
                level: Level::Warning,
            },
        ];
        assert_eq!(
            figures(&j),
            "memory some 1.3 %/0.8 % full 0.5 %/0.3 %, cpu some 30.0 %/28.0 % over the last 1/5 min"
        );
        assert_eq!(
            fix(&["io", "cpu"])
                .dockhand_commands()
                .map(|a| a.join(" "))
                .collect::<Vec<_>>(),
            ["dockhand df"]
        );
    }
}
