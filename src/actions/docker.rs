//! The engine's objects: re-verify each one just before the write, then write without force.
//!
//! Each function returns the step's outcome and what the re-check saw (`seen_after` in the
//! journal). The rules: a 404 at any point is "already gone"; a 409 is "in use" and is never
//! retried with force; a re-check that finds the object different from the plan is "changed";
//! `dockhand.keep` is a refusal.

use serde_json::{Value, json};

use super::plan::{ContainerSeen, Outcome};
use crate::runtime::engine::{Engine, EngineError, Method};

/// The label that protects any object from every dockhand action.
pub const KEEP_LABEL: &str = "dockhand.keep";

/// The engine clients a step uses: reads under the read deadline, writes under the longer one.
pub struct Engines<'a> {
    pub reads: &'a Engine,
    pub writes: &'a Engine,
}

type Exec = (Outcome, Value);

/// Percent-encodes a query value (the `filters` JSON).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes what would end or confuse a path segment; keeps `/`, `:` and `@`, which image
/// references contain and the engine's router expects raw.
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':' | b'@')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn api_message(e: &EngineError) -> String {
    match e {
        EngineError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The outcome of a failed write: 404 gone, 409 in use (never forced), 403 refused by the
/// engine, anything else a failure with the engine's sentence.
fn write_error(e: &EngineError) -> Outcome {
    if e.is_not_found() {
        Outcome::AlreadyGone
    } else if e.is_conflict() {
        Outcome::InUse {
            why: format!("the engine refused: {}", api_message(e)),
        }
    } else if e.status() == Some(403) {
        Outcome::Refused {
            why: format!("the engine forbids it: {}", api_message(e)),
        }
    } else {
        Outcome::Failed {
            error: e.to_string(),
        }
    }
}

/// The outcome of a failed re-check read: 404 gone, anything else "could not re-check".
fn recheck_error(what: &str, e: &EngineError) -> Outcome {
    if e.is_not_found() {
        Outcome::AlreadyGone
    } else {
        Outcome::Failed {
            error: format!("could not re-check {what}, so it was left alone: {e}"),
        }
    }
}

async fn inspect(reads: &Engine, path: &str) -> Result<Value, EngineError> {
    reads.get_json::<Value>(path).await.map(|t| t.value)
}

fn has_keep_label(labels: &Value) -> bool {
    labels.get(KEEP_LABEL).is_some()
}

/// Containers (all states) matching one engine filter, as "name (state)" strings.
async fn containers_matching(
    reads: &Engine,
    filter: &str,
    value: &str,
) -> Result<Vec<String>, EngineError> {
    let filters = json!({ filter: [value] }).to_string();
    let path = format!("/containers/json?all=1&filters={}", query_escape(&filters));
    let list = reads.get_json::<Value>(&path).await?.value;
    Ok(list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let name = c["Names"][0]
                        .as_str()
                        .unwrap_or_else(|| c["Id"].as_str().unwrap_or("?"))
                        .trim_start_matches('/');
                    format!(
                        "{} ({})",
                        crate::util::sanitize(name),
                        c["State"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

fn users_sentence(users: &[String]) -> String {
    let shown: Vec<&str> = users.iter().take(3).map(String::as_str).collect();
    let more = users.len().saturating_sub(shown.len());
    let mut s = format!(
        "used by container{} {}",
        if users.len() == 1 { "" } else { "s" },
        shown.join(", ")
    );
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}

pub async fn remove_container(
    e: &Engines<'_>,
    id: &str,
    seen: &ContainerSeen,
    bytes: Option<u64>,
) -> Exec {
    let c = match inspect(e.reads, &format!("/containers/{}/json", path_escape(id))).await {
        Ok(c) => c,
        Err(err) => return (recheck_error("the container", &err), Value::Null),
    };
    let state = &c["State"];
    let status = state["Status"].as_str().unwrap_or("?").to_string();
    let finished = state["FinishedAt"].as_str().unwrap_or("").to_string();
    let after = json!({ "state": status, "finished_at": finished });
    let busy = ["running", "restarting", "paused"].contains(&status.as_str())
        || state["Running"].as_bool() == Some(true)
        || state["Restarting"].as_bool() == Some(true);
    if busy {
        return (
            Outcome::Changed {
                why: format!(
                    "it is {status} now (started at {})",
                    state["StartedAt"].as_str().unwrap_or("?")
                ),
            },
            after,
        );
    }
    if !same_instant(&finished, &seen.finished_at) {
        return (
            Outcome::Changed {
                why: format!(
                    "it ran again since the plan: finished at {finished}, the plan saw {}",
                    seen.finished_at
                ),
            },
            after,
        );
    }
    if has_keep_label(&c["Config"]["Labels"]) {
        return (
            Outcome::Refused {
                why: format!("labelled {KEEP_LABEL}"),
            },
            after,
        );
    }
    // v=0: anonymous volumes are a decision of their own (volume.remove), never a side effect.
    let path = format!("/containers/{}?force=0&v=0", path_escape(id));
    match e.writes.send(Method::Delete, &path, None).await {
        Ok(_) => (Outcome::Done { bytes }, after),
        Err(err) => (write_error(&err), after),
    }
}

/// Two engine timestamps name the same instant: equal strings, or both readable and within a
/// millisecond (a plan may carry the time as read from the daemon's own file and rewritten, with
/// less than nanosecond precision). A container that ran again finished seconds later at least.
pub fn same_instant(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let zero = |s: &str| s.is_empty() || s.starts_with("0001-01-01");
    if zero(a) || zero(b) {
        return zero(a) && zero(b);
    }
    match (
        crate::units::parse_rfc3339(a),
        crate::units::parse_rfc3339(b),
    ) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-3,
        _ => false,
    }
}

pub async fn stop_container(e: &Engines<'_>, id: &str, timeout_s: u32) -> Exec {
    let c = match inspect(e.reads, &format!("/containers/{}/json", path_escape(id))).await {
        Ok(c) => c,
        Err(err) => return (recheck_error("the container", &err), Value::Null),
    };
    let status = c["State"]["Status"].as_str().unwrap_or("?").to_string();
    let after = json!({ "state": status });
    if has_keep_label(&c["Config"]["Labels"]) {
        return (
            Outcome::Refused {
                why: format!("labelled {KEEP_LABEL}"),
            },
            after,
        );
    }
    if !matches!(status.as_str(), "running" | "restarting" | "paused") {
        return (Outcome::AlreadyGone, after);
    }
    // The engine waits up to t seconds before it kills: the deadline must cover that.
    let writes = e
        .writes
        .with_timeout(e.writes.timeout() + std::time::Duration::from_secs(u64::from(timeout_s)));
    let path = format!("/containers/{}/stop?t={timeout_s}", path_escape(id));
    match writes.send(Method::Post, &path, None).await {
        Ok(_) => (Outcome::Done { bytes: None }, after),
        // 304: it was already stopped.
        Err(err) if err.status() == Some(304) => (Outcome::AlreadyGone, after),
        Err(err) => (write_error(&err), after),
    }
}

/// The repository of hold references: a tag dockhand puts on an image before it removes the
/// image's last tag, so the image outlives its last tag until every `docker create` that had
/// already resolved the tag has registered its container (see [`untag_image`]).
pub const HOLD_REPO: &str = "dockhand-hold";

/// The hold names of this process: `dockhand-hold:h<N>`, each used by one untag at a time.
///
/// A hold only has to be on the image while its last tag goes: the engine deletes an image with
/// its last reference, but never one that lost a reference to a tag moved elsewhere. So a hold
/// name is moved from image to image (one reference-store write, `docker tag` onto the next
/// image), and the image it leaves, already untagged, stays as a dangling image until
/// `image.remove` takes it after the settling pause. A fresh hold per image (`dockhand-hold:<id>`,
/// as before) cost one write more per image: the tag, the untag, and the hold again with the
/// image. The run lock keeps other dockhand runs off these names; a name is only taken back for
/// another image once the untag it covered has answered, and a name whose untag ended in an
/// error (it may still be running in the engine) is never used again by this process.
mod holds {
    use std::sync::Mutex;

    /// Free hold numbers, and the next new one.
    static POOL: Mutex<(Vec<u32>, u32)> = Mutex::new((Vec::new(), 0));

    /// Images whose last tag this process removed under a hold: their users were checked then,
    /// and the engine checks them again when the image goes (a delete by id is refused while any
    /// container uses the image), as for an image that still carries its hold.
    static UNTAGGED: std::sync::LazyLock<Mutex<std::collections::HashSet<String>>> =
        std::sync::LazyLock::new(Mutex::default);

    pub fn untagged_under_hold(id: &str) {
        let mut u = UNTAGGED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        u.insert(id.to_string());
    }

    pub fn was_untagged_under_hold(id: &str) -> bool {
        let u = UNTAGGED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        u.contains(id)
    }

    /// A hold name taken for one untag; back in the pool by [`Slot::release`], never on drop.
    pub struct Slot(u32);

    impl Slot {
        pub fn take() -> Slot {
            let mut p = POOL
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = match p.0.pop() {
                Some(n) => n,
                None => {
                    p.1 += 1;
                    p.1 - 1
                }
            };
            Slot(n)
        }

        /// The tag part of the hold reference.
        pub fn tag(&self) -> String {
            format!("h{}", self.0)
        }

        /// The untag this hold covered has answered: the name may move to another image.
        pub fn release(self) {
            let mut p = POOL
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            p.0.push(self.0);
        }
    }
}

/// The hold reference of a hold tag: `dockhand-hold:<tag>`.
pub fn hold_ref(tag: &str) -> String {
    format!("{HOLD_REPO}:{tag}")
}

/// A dockhand hold reference, not a tag anyone gave.
pub fn is_hold(reference: &str) -> bool {
    reference
        .strip_prefix(HOLD_REPO)
        .is_some_and(|r| r.starts_with(':'))
}

/// Whether the engine's delete answer lists the image itself as deleted (and not only
/// untagged): with a container using it, a delete by id untags and quietly keeps it.
fn deleted(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .is_some_and(|a| a.iter().any(|x| x.get("Deleted").is_some()))
}

fn repo_tags(img: &Value) -> Vec<String> {
    img["RepoTags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "<none>:<none>")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub async fn remove_image(e: &Engines<'_>, id: &str, bytes: Option<u64>) -> Exec {
    let img = match inspect(e.reads, &format!("/images/{}/json", path_escape(id))).await {
        Ok(i) => i,
        Err(err) => return (recheck_error("the image", &err), Value::Null),
    };
    let all_tags = repo_tags(&img);
    let after = json!({ "id": img["Id"], "tags": all_tags });
    // Its own hold reference (put there by the untag of its last tag) goes with it.
    let tags: Vec<&String> = all_tags.iter().filter(|t| !is_hold(t)).collect();
    if !tags.is_empty() {
        // A build or pull tagged it since the plan: it is not dangling any more.
        let tags: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
        return (
            Outcome::Changed {
                why: format!("it was tagged since the plan: {}", tags.join(", ")),
            },
            after,
        );
    }
    if has_keep_label(&img["Config"]["Labels"]) {
        return (
            Outcome::Refused {
                why: format!("labelled {KEEP_LABEL}"),
            },
            after,
        );
    }
    // A held image had its users checked when its last tag went, a moment ago; now the engine's
    // own check is the one that matters (it sees every container registered since, and keeps
    // the image if one uses it, which the answer shows). An image never held is checked here.
    let held = all_tags.iter().any(|t| is_hold(t)) || holds::was_untagged_under_hold(id);
    if !held {
        match containers_matching(e.reads, "ancestor", id).await {
            Ok(users) if !users.is_empty() => {
                return (
                    Outcome::InUse {
                        why: users_sentence(&users),
                    },
                    after,
                );
            }
            Ok(_) => {}
            Err(err) => return (recheck_error("the image's users", &err), after),
        }
    }
    let path = format!("/images/{}?force=0&noprune=0", path_escape(id));
    match e.writes.send(Method::Delete, &path, None).await {
        Ok(r) if deleted(&r.value.body) => (Outcome::Done { bytes }, after),
        // Untagged (its hold), but kept: a container registered since the re-check.
        Ok(_) => (
            Outcome::InUse {
                why: "the engine kept it: a container uses it".into(),
            },
            after,
        ),
        Err(err) => (write_error(&err), after),
    }
}

pub async fn untag_image(e: &Engines<'_>, reference: &str, id: &str, bytes: Option<u64>) -> Exec {
    let img = match inspect(e.reads, &format!("/images/{}/json", path_escape(reference))).await {
        Ok(i) => i,
        Err(err) => return (recheck_error("the tag", &err), Value::Null),
    };
    let now = img["Id"].as_str().unwrap_or("?").to_string();
    let after = json!({ "id": now, "tags": repo_tags(&img) });
    if now != id {
        return (
            Outcome::Changed {
                why: format!(
                    "{} now points at {} (the plan saw {})",
                    crate::util::sanitize(reference),
                    super::plan::short(&now),
                    super::plan::short(id)
                ),
            },
            after,
        );
    }
    if has_keep_label(&img["Config"]["Labels"]) {
        return (
            Outcome::Refused {
                why: format!("labelled {KEEP_LABEL}"),
            },
            after,
        );
    }
    // An image that gained a container since the plan is in use, whichever tag goes: the plan
    // chose it because nothing used it.
    match containers_matching(e.reads, "ancestor", id).await {
        Ok(users) if !users.is_empty() => {
            return (
                Outcome::InUse {
                    why: users_sentence(&users),
                },
                after,
            );
        }
        Ok(_) => {}
        Err(err) => return (recheck_error("the image's users", &err), after),
    }
    // The last tag: hold the image first. A `docker create` that resolved this tag a moment
    // ago registers its container only later, and the engine's own in-use check looks at
    // registered containers only; deleting now would leave that container without its image.
    // Held, the image outlives the tag; `image.remove` takes it once they have registered.
    let real: Vec<String> = repo_tags(&img)
        .into_iter()
        .filter(|t| !is_hold(t))
        .collect();
    let mut after = after;
    let slot = if real.len() <= 1 {
        let slot = holds::Slot::take();
        let tag = slot.tag();
        let hold = hold_ref(&tag);
        let path = format!("/images/{}/tag?repo={HOLD_REPO}&tag={tag}", path_escape(id));
        if let Err(err) = e.writes.send(Method::Post, &path, None).await {
            return (
                Outcome::Failed {
                    error: format!(
                        "could not hold the image as {hold} before removing its last tag, so it was left alone: {err}"
                    ),
                },
                after,
            );
        }
        after["held"] = Value::String(hold);
        Some(slot)
    } else {
        None
    };
    // Without force the engine refuses (409) to remove the last tag of an image a container
    // uses; with other tags left it only removes this name.
    let path = format!("/images/{}?force=0&noprune=0", path_escape(reference));
    let answer = e.writes.send(Method::Delete, &path, None).await;
    // Only an answered untag frees the hold for another image: after a timeout the engine may
    // still be removing the tag, and must find the hold there when it does.
    if let (Ok(_), Some(slot)) = (&answer, slot) {
        slot.release();
        holds::untagged_under_hold(id);
    }
    match answer {
        Ok(r) => (
            Outcome::Done {
                // The image itself went only if the answer lists it as deleted.
                bytes: if deleted(&r.value.body) {
                    bytes
                } else {
                    Some(0)
                },
            },
            after,
        ),
        Err(err) => (write_error(&err), after),
    }
}

pub async fn remove_volume(e: &Engines<'_>, name: &str, bytes: Option<u64>) -> Exec {
    let v = match inspect(e.reads, &format!("/volumes/{}", path_escape(name))).await {
        Ok(v) => v,
        Err(err) => return (recheck_error("the volume", &err), Value::Null),
    };
    let after = json!({ "driver": v["Driver"], "labels": v["Labels"] });
    if has_keep_label(&v["Labels"]) {
        return (
            Outcome::Refused {
                why: format!("labelled {KEEP_LABEL}"),
            },
            after,
        );
    }
    match containers_matching(e.reads, "volume", name).await {
        Ok(users) if !users.is_empty() => {
            return (
                Outcome::InUse {
                    why: users_sentence(&users),
                },
                after,
            );
        }
        Ok(_) => {}
        Err(err) => return (recheck_error("the volume's users", &err), after),
    }
    let path = format!("/volumes/{}?force=0", path_escape(name));
    match e.writes.send(Method::Delete, &path, None).await {
        Ok(_) => (Outcome::Done { bytes }, after),
        Err(err) => (write_error(&err), after),
    }
}

/// Networks the engine creates itself; removing them is never right.
const PREDEFINED_NETWORKS: &[&str] = &["bridge", "host", "none"];

pub async fn remove_network(e: &Engines<'_>, id: &str, name: &str) -> Exec {
    let n = match inspect(e.reads, &format!("/networks/{}", path_escape(id))).await {
        Ok(n) => n,
        Err(err) => return (recheck_error("the network", &err), Value::Null),
    };
    let now = n["Name"].as_str().unwrap_or("?").to_string();
    let endpoints: Vec<String> = n["Containers"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|c| crate::util::sanitize(c["Name"].as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    let after = json!({ "name": now, "endpoints": endpoints });
    if now != name {
        return (
            Outcome::Changed {
                why: format!("it is named {now} now (the plan saw {name})"),
            },
            after,
        );
    }
    if PREDEFINED_NETWORKS.contains(&now.as_str()) {
        return (
            Outcome::Refused {
                why: format!("{now} is one of the engine's own networks"),
            },
            after,
        );
    }
    if has_keep_label(&n["Labels"]) {
        return (
            Outcome::Refused {
                why: format!("labelled {KEEP_LABEL}"),
            },
            after,
        );
    }
    if !endpoints.is_empty() {
        return (
            Outcome::InUse {
                why: users_sentence(&endpoints).replacen("used by", "connected:", 1),
            },
            after,
        );
    }
    // The engine lists only running containers' endpoints; a stopped container attached to the
    // network needs it to start again.
    match containers_matching(e.reads, "network", id).await {
        Ok(users) if !users.is_empty() => {
            return (
                Outcome::InUse {
                    why: users_sentence(&users).replacen("used by", "attached:", 1),
                },
                after,
            );
        }
        Ok(_) => {}
        Err(err) => return (recheck_error("the network's containers", &err), after),
    }
    match e
        .writes
        .send(
            Method::Delete,
            &format!("/networks/{}", path_escape(id)),
            None,
        )
        .await
    {
        Ok(_) => (Outcome::Done { bytes: None }, after),
        Err(err) => (write_error(&err), after),
    }
}

/// The query of a build-cache prune.
fn build_prune_path(keep_storage: Option<u64>, all: bool, until_s: Option<u64>) -> String {
    let mut q: Vec<String> = Vec::new();
    if let Some(k) = keep_storage {
        q.push(format!("keep-storage={k}"));
    }
    if all {
        q.push("all=1".into());
    }
    if let Some(u) = until_s.filter(|u| *u > 0) {
        let filters = json!({ "until": [format!("{u}s")] }).to_string();
        q.push(format!("filters={}", query_escape(&filters)));
    }
    if q.is_empty() {
        "/build/prune".to_string()
    } else {
        format!("/build/prune?{}", q.join("&"))
    }
}

pub async fn prune_build_cache(
    e: &Engines<'_>,
    keep_storage: Option<u64>,
    all: bool,
    until_s: Option<u64>,
) -> Exec {
    // The engine prunes only cache no build uses; it decides what is in use.
    let path = build_prune_path(keep_storage, all, until_s);
    match e.writes.send(Method::Post, &path, None).await {
        Ok(r) => {
            let v: Value = serde_json::from_slice(&r.value.body[..]).unwrap_or(Value::Null);
            let freed = v["SpaceReclaimed"].as_u64();
            let count = v["CachesDeleted"].as_array().map_or(0, Vec::len);
            (
                Outcome::Done { bytes: freed },
                json!({ "caches_deleted": count, "space_reclaimed": freed }),
            )
        }
        Err(err) => (write_error(&err), Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            query_escape(r#"{"ancestor":["sha256:ab"]}"#),
            "%7B%22ancestor%22%3A%5B%22sha256%3Aab%22%5D%7D"
        );
        assert_eq!(
            path_escape("registry:5000/app:1.2"),
            "registry:5000/app:1.2"
        );
        assert_eq!(path_escape("a b?c#d"), "a%20b%3Fc%23d");
    }

    #[test]
    fn write_errors_map_to_outcomes() {
        let api = |status| EngineError::Api {
            path: "/x".into(),
            status,
            message: "conflict: unable to delete".into(),
        };
        assert_eq!(write_error(&api(404)), Outcome::AlreadyGone);
        assert!(
            matches!(write_error(&api(409)), Outcome::InUse { why } if why.contains("unable to delete"))
        );
        assert!(matches!(write_error(&api(403)), Outcome::Refused { .. }));
        assert!(matches!(write_error(&api(500)), Outcome::Failed { .. }));
        assert!(
            matches!(recheck_error("it", &api(500)), Outcome::Failed { error } if error.contains("left alone"))
        );
    }

    #[test]
    fn holds_are_named_and_recognised() {
        let id = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(hold_ref("h3"), "dockhand-hold:h3");
        assert!(is_hold(&hold_ref("h3")) && is_hold(&format!("dockhand-hold:{}", &id[7..19])));
        assert!(!is_hold("dockhand-holder:1") && !is_hold("app:dockhand-hold"));
        assert!(deleted(br#"[{"Untagged":"a:1"},{"Deleted":"sha256:ab"}]"#));
        assert!(!deleted(br#"[{"Untagged":"a:1"}]"#));
        assert!(!deleted(b"not json"));
    }

    #[test]
    fn finish_times_compare_as_instants() {
        let cases = [
            (
                "2026-11-20T10:00:00.123456789Z",
                "2026-11-20T10:00:00.123456789Z",
                true,
            ),
            (
                "2026-11-20T10:00:00.123456789Z",
                "2026-11-20T10:00:00.123457Z",
                true,
            ),
            (
                "2026-11-20T10:00:00.123Z",
                "2026-11-20T10:00:05.123Z",
                false,
            ),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", true),
            ("0001-01-01T00:00:00Z", "", true),
            ("0001-01-01T00:00:00Z", "2026-11-20T10:00:00Z", false),
            ("garbage", "2026-11-20T10:00:00Z", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same_instant(a, b), want, "{a} vs {b}");
            assert_eq!(same_instant(b, a), want, "{b} vs {a}");
        }
    }

    #[test]
    fn build_prune_queries() {
        assert_eq!(build_prune_path(None, false, None), "/build/prune");
        assert_eq!(
            build_prune_path(Some(10), true, Some(0)),
            "/build/prune?keep-storage=10&all=1"
        );
        assert_eq!(
            build_prune_path(None, false, Some(3600)),
            "/build/prune?filters=%7B%22until%22%3A%5B%223600s%22%5D%7D"
        );
    }

    #[test]
    fn users_are_named_up_to_three() {
        let u: Vec<String> = (1..=5).map(|i| format!("c{i} (exited)")).collect();
        assert_eq!(
            users_sentence(&u),
            "used by containers c1 (exited), c2 (exited), c3 (exited) and 2 more"
        );
        assert_eq!(users_sentence(&u[..1]), "used by container c1 (exited)");
    }
}
