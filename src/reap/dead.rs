//! Containers stuck in `dead`: removed again, without force, if still dead and unchanged.

use serde_json::Value;

use crate::actions::{Action, ContainerSeen, Step};
use crate::facts::Facts;
use crate::policy::containers::stuck_dead;

use super::plan::{Category, ReapPlan, short};

pub(super) async fn plan(facts: &Facts, p: &mut ReapPlan) {
    let records = match facts.records().await {
        Ok(r) => r,
        Err(g) => {
            p.gaps = true;
            p.notes.push(format!(
                "dead containers are left alone: the engine did not list ({g})"
            ));
            return;
        }
    };
    for c in records.iter().filter(|c| stuck_dead(c)) {
        // The engine's own FinishedAt text, which the action compares before removing.
        let path = format!(
            "/containers/{}/json",
            crate::actions::docker::path_escape(&c.id)
        );
        let seen = match facts.engine().get_json::<Value>(&path).await {
            Ok(t) => t.value,
            Err(e) => {
                p.skip(
                    Category::DeadContainer,
                    format!("{} ({})", c.name(), short(&c.id)),
                    format!("could not be inspected: {e}"),
                );
                continue;
            }
        };
        let finished = seen["State"]["FinishedAt"]
            .as_str()
            .unwrap_or("")
            .to_string();
        p.push(
            Category::DeadContainer,
            Step::new(
                Action::RemoveContainer {
                    id: c.id.clone(),
                    name: c.name().to_string(),
                    seen: ContainerSeen {
                        state: "dead".into(),
                        finished_at: finished,
                    },
                },
                "stuck in dead: a removal that failed half-way; removed again, without force",
            ),
        );
    }
}
