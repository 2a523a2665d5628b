//! The event follower: the engine's `/events` stream (images and containers), each use of an
//! image recorded as its last use in gc's state (`gc::state`, the file `gc --images` reads), so
//! last use is exact across gc runs.
//!
//! Writes are batched — at most one a second, and one on the way out — under the state file's
//! own lock, so a gc run alongside is safe. A stream that ends or breaks is reopened with
//! backoff and `since=` the last event seen, so nothing the engine still holds is missed; what it
//! no longer holds (a restarted daemon keeps no events from before its restart, and the engine's
//! buffer is small) is said once per gap, on stderr and in `dockhand_watch_stream_gaps_total`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::runtime::http::Method;
use serde_json::Value;

use super::Status;
use crate::command::Ctx;
use crate::facts::Facts;
use crate::gc::state;

/// How often what was seen is written to the state file, at most.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The longest wait for the next piece of the stream before it is looked at again: a quiet
/// engine sends nothing for hours, which is not a fault (the probes judge the daemon).
const QUIET: Duration = Duration::from_secs(60);

/// The backoff between attempts to reopen the stream.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MOST: Duration = Duration::from_secs(5);

/// Events kept for the next write at most: past it the oldest go (their uses are older than
/// the ones kept, and `last_used` only moves forward).
const MAX_PENDING: usize = 20_000;

/// The actions that are a use of an image (and die/destroy, which end one).
const ACTIONS: &[&str] = &["create", "start", "pull", "tag", "die", "destroy"];

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// An event's time in nanoseconds since the epoch.
fn nanos(ev: &Value) -> Option<i64> {
    ev["timeNano"]
        .as_i64()
        .or_else(|| ev["time"].as_i64().map(|s| s.saturating_mul(1_000_000_000)))
}

/// `since=` as the engine reads it: seconds, a dot, nanoseconds.
pub fn since_param(nanos: i64) -> String {
    format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}

/// The stream's path: image and container events of the actions that use an image, from `since`.
pub fn events_path(since_nanos: i64) -> String {
    let filters = serde_json::json!({ "type": ["image", "container"], "event": ACTIONS });
    format!(
        "/events?since={}&filters={}",
        since_param(since_nanos),
        crate::actions::docker::query_escape(&filters.to_string())
    )
}

/// The follower's place in the stream: the last event's time and the events seen at exactly that
/// time (a reopened stream with `since=` that time sends them again).
#[derive(Debug, Default)]
pub struct Cursor {
    pub at: i64,
    same: Vec<String>,
}

impl Cursor {
    pub fn new(at: i64) -> Cursor {
        Cursor {
            at,
            same: Vec::new(),
        }
    }

    /// Whether `line` (at `t`) is new; moves the cursor past it.
    pub fn advance(&mut self, t: i64, line: &str) -> bool {
        if t < self.at || (t == self.at && self.same.iter().any(|l| l == line)) {
            return false;
        }
        if t > self.at {
            self.at = t;
            self.same.clear();
        }
        self.same.push(line.to_string());
        true
    }
}

/// What the follower holds between writes.
struct Follower<'a> {
    ctx: &'a Ctx<'a>,
    status: &'a Arc<Status>,
    dir: PathBuf,
    pending: Vec<String>,
    /// The last note the state write gave, said once.
    said: Option<String>,
}

/// Follows the stream until shutdown, then writes what is pending and returns.
pub async fn follow(ctx: &Ctx<'_>, status: &Arc<Status>) {
    let engine = ctx.engine();
    let mut f = Follower {
        ctx,
        status,
        dir: ctx.settings.state_dir.clone(),
        pending: Vec::new(),
        said: None,
    };
    let mut cursor = Cursor::new(f.resume_point().await);
    let mut backoff = BACKOFF_FIRST;
    // When the stream was lost (wall clock), and whether it has been said.
    let mut lost: Option<f64> = None;
    let mut said_lost = false;
    let mut first = true;
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'outer: while !ctx.shutdown.is_triggered() {
        let path = events_path(cursor.at);
        let opened = tokio::select! {
            () = ctx.shutdown.wait() => break 'outer,
            s = engine.stream(Method::Get, &path, None, &[], QUIET) => s,
        };
        let mut stream = match opened {
            Ok(s) => s,
            Err(e) => {
                status.set_connected(false);
                if lost.is_none() {
                    lost = Some(wall());
                }
                if !said_lost {
                    ctx.say(format!(
                        "watch: the engine's event stream cannot be opened ({e}); retrying with backoff, from the last event seen"
                    ));
                    said_lost = true;
                }
                f.flush().await;
                tokio::select! {
                    () = ctx.shutdown.wait() => break 'outer,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MOST);
                continue;
            }
        };
        status.set_connected(true);
        backoff = BACKOFF_FIRST;
        if let Some(at) = lost.take() {
            f.gap(at, cursor.at).await;
        } else if first {
            ctx.say(format!(
                "watch: following the engine's events from {} (image last use goes to {})",
                crate::units::rfc3339(UNIX_EPOCH + Duration::from_nanos(cursor.at.max(0) as u64)),
                f.dir.join(state::FILE_NAME).display()
            ));
        }
        first = false;
        said_lost = false;
        loop {
            tokio::select! {
                biased;
                () = ctx.shutdown.wait() => break 'outer,
                _ = tick.tick() => {
                    if !f.pending.is_empty() {
                        f.flush().await;
                    }
                }
                line = stream.next_line() => match line {
                    Ok(Some(line)) => {
                        let Ok(ev) = serde_json::from_str::<Value>(&line) else { continue };
                        let Some(t) = nanos(&ev) else { continue };
                        if cursor.advance(t, &line) {
                            status.event_seen();
                            f.pending.push(line);
                            if f.pending.len() > MAX_PENDING {
                                f.pending.drain(..MAX_PENDING / 10);
                            }
                        }
                    }
                    // A quiet engine: keep listening.
                    Err(crate::runtime::engine::EngineError::Frozen { .. }) => {}
                    Ok(None) | Err(_) => {
                        status.set_connected(false);
                        lost = Some(wall());
                        break;
                    }
                },
            }
        }
    }
    status.set_connected(false);
    f.flush().await;
}

impl Follower<'_> {
    /// Where to start: the state file's last look at this daemon (events since then that the
    /// engine still holds are uses too), else now.
    async fn resume_point(&self) -> i64 {
        let now = (wall() * 1e9) as i64;
        let facts = Facts::new(self.ctx.engine());
        let Some(id) = crate::actions::saved_plan::engine_identity(&facts).await else {
            return now;
        };
        let dir = self.dir.clone();
        let observed = crate::runtime::blocking(self.ctx.settings.timeout, move || {
            state::load(&dir)
                .file
                .daemons
                .get(&id)
                .and_then(state::DaemonState::observed_at)
        })
        .await
        .flatten();
        observed.map_or(now, |t| ((t * 1e9) as i64).min(now))
    }

    /// The stream is back after a gap: say what may be missing, once.
    async fn gap(&mut self, lost_at: f64, cursor: i64) {
        let down = (wall() - lost_at).max(0.0);
        self.status.gap();
        self.ctx.say(format!(
            "watch: the event stream was lost for {} and is open again from the last event seen (since={}); events the engine no longer holds may be missed — a restarted daemon keeps none from before its restart — and their images' last use falls back to their containers' own times",
            crate::util::human_duration(Duration::from_secs_f64(down)),
            since_param(cursor)
        ));
    }

    /// Records what is pending in gc's state: the images present now, and the uses the events
    /// name. Kept for the next try when the engine or the state dir does not answer.
    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let facts = Facts::new(self.ctx.engine());
        let Some(id) = crate::actions::saved_plan::engine_identity(&facts).await else {
            return;
        };
        let Ok(images) = facts.images().await else {
            return;
        };
        let obs =
            crate::gc::gather::observation_from_events(images, &self.pending.join("\n"), wall());
        let dir = self.dir.clone();
        let wrote = crate::runtime::blocking(self.ctx.settings.timeout * 2, move || {
            state::update(&dir, &id, Duration::from_secs(2), |d| {
                state::observe(d, &obs)
            })
            .1
        })
        .await;
        let note = match wrote {
            Some(notes) if notes.is_empty() => {
                self.pending.clear();
                self.status.flushed(true);
                None
            }
            Some(notes) => {
                self.status.flushed(false);
                Some(notes.join("; "))
            }
            None => {
                self.status.flushed(false);
                Some("the state dir did not answer in time".to_string())
            }
        };
        if note != self.said {
            if let Some(n) = &note {
                self.ctx.say(format!(
                    "watch: last use not recorded this time: {n}; it is kept for the next write"
                ));
            }
            self.said = note;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_seconds_dot_nanoseconds() {
        assert_eq!(
            since_param(1_800_000_000_123_456_789),
            "1800000000.123456789"
        );
        assert_eq!(since_param(5), "0.000000005");
        let p = events_path(1_000_000_000);
        assert!(p.starts_with("/events?since=1.000000000&filters="), "{p}");
        assert!(p.contains("%22pull%22"), "{p}");
    }

    #[test]
    fn a_reopened_stream_does_not_count_an_event_twice() {
        let mut c = Cursor::new(100);
        assert!(!c.advance(99, "old"), "before the cursor");
        assert!(c.advance(100, "a"));
        assert!(c.advance(100, "b"), "another event at the same instant");
        assert!(!c.advance(100, "a"), "sent again by since=");
        assert!(c.advance(101, "a"));
        assert_eq!(c.at, 101);
    }
}
