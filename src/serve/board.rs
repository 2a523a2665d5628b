//! What `/metrics` serves: the latest results, kept ready so a scrape never waits for a doctor
//! run or a disk read. The background refreshers post here; a scrape takes a lock for a few
//! copies of a pointer and renders the rest outside it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::journal::family;

/// The shared state between the refreshers and the HTTP server.
#[derive(Debug)]
pub struct Board {
    /// Families that never change during a run: build info, the interval and deadline.
    fixed: String,
    doctor: Mutex<DoctorState>,
    journal: Mutex<JournalState>,
    /// `dockhand watch`'s own state (events, stream, recovery budget); none for `serve`.
    watch: Option<Arc<super::watch::Status>>,
}

#[derive(Debug, Default)]
struct DoctorState {
    /// The latest completed run: its series, rendered once, and when it started.
    last: Option<(Arc<str>, Instant)>,
    completed: u64,
    timed_out: u64,
    failed: u64,
    last_timed_out: bool,
    /// A run in progress, since when.
    running_since: Option<Instant>,
}

#[derive(Debug)]
struct JournalState {
    /// The journal's counters, rendered after each read.
    text: Arc<str>,
    /// Whether the latest read worked (a missing journal is fine: nothing ran yet).
    readable: bool,
}

/// The revision dockhand was built from, when the build said.
pub fn revision() -> &'static str {
    option_env!("DOCKHAND_GIT_REVISION")
        .filter(|r| !r.is_empty())
        .unwrap_or("unknown")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the endpoint down: the data is plain counters.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

impl Board {
    pub fn new(interval: Duration, deadline: Duration) -> Board {
        let mut fixed = String::new();
        family(
            &mut fixed,
            "dockhand_build_info",
            "gauge",
            "dockhand's version and the revision it was built from; always 1.",
            [(
                format!(
                    "version=\"{}\",revision=\"{}\"",
                    crate::report::prometheus::label(env!("CARGO_PKG_VERSION")),
                    crate::report::prometheus::label(revision())
                ),
                "1".to_string(),
            )],
        );
        family(
            &mut fixed,
            "dockhand_doctor_interval_seconds",
            "gauge",
            "How often dockhand serve runs doctor (--interval).",
            [(String::new(), secs(interval))],
        );
        family(
            &mut fixed,
            "dockhand_doctor_deadline_seconds",
            "gauge",
            "The most one doctor run may take before it is cut off (from --timeout).",
            [(String::new(), secs(deadline))],
        );
        Board {
            fixed,
            doctor: Mutex::new(DoctorState::default()),
            journal: Mutex::new(JournalState {
                text: Arc::from(""),
                readable: true,
            }),
            watch: None,
        }
    }

    /// The board of `dockhand watch`: serve's page, and the watch's series after it.
    pub fn with_watch(mut self, status: Arc<super::watch::Status>) -> Board {
        self.watch = Some(status);
        self
    }

    pub fn doctor_started(&self, at: Instant) {
        lock(&self.doctor).running_since = Some(at);
    }

    /// A run that finished: `text` is its series (`report::prometheus::doctor`).
    pub fn doctor_finished(&self, text: String, started: Instant) {
        let mut d = lock(&self.doctor);
        d.last = Some((Arc::from(text), started));
        d.completed += 1;
        d.last_timed_out = false;
        d.running_since = None;
    }

    /// A run that failed (its process could not start, or ended without a report): the previous
    /// results stay, and age.
    pub fn doctor_failed(&self) {
        let mut d = lock(&self.doctor);
        d.failed += 1;
        d.running_since = None;
    }

    /// A run cut off at its deadline: the previous results stay, and age.
    pub fn doctor_timed_out(&self) {
        let mut d = lock(&self.doctor);
        d.timed_out += 1;
        d.last_timed_out = true;
        d.running_since = None;
    }

    pub fn journal_read(&self, text: String) {
        let mut j = lock(&self.journal);
        j.text = Arc::from(text);
        j.readable = true;
    }

    pub fn journal_unreadable(&self) {
        lock(&self.journal).readable = false;
    }

    /// The whole `/metrics` page as of `now`.
    pub fn render(&self, now: Instant) -> String {
        let (last, completed, timed_out, failed, last_timed_out, running_since) = {
            let d = lock(&self.doctor);
            (
                d.last.clone(),
                d.completed,
                d.timed_out,
                d.failed,
                d.last_timed_out,
                d.running_since,
            )
        };
        let (journal, readable) = {
            let j = lock(&self.journal);
            (Arc::clone(&j.text), j.readable)
        };
        let mut out = String::with_capacity(
            self.fixed.len() + last.as_ref().map_or(0, |(t, _)| t.len()) + journal.len() + 2048,
        );
        out.push_str(&self.fixed);
        family(
            &mut out,
            "dockhand_doctor_runs_total",
            "counter",
            "Background doctor runs, by result: completed, timed-out (cut off at the deadline) or failed (ended without a report); after either of the last two the previous results are still served.",
            [
                ("result=\"completed\"".to_string(), completed.to_string()),
                ("result=\"timed-out\"".to_string(), timed_out.to_string()),
                ("result=\"failed\"".to_string(), failed.to_string()),
            ],
        );
        family(
            &mut out,
            "dockhand_doctor_last_refresh_timed_out",
            "gauge",
            "1 when the latest doctor run was cut off at its deadline (the results served are older), else 0.",
            [(String::new(), u8::from(last_timed_out).to_string())],
        );
        family(
            &mut out,
            "dockhand_doctor_running_seconds",
            "gauge",
            "How long the doctor run in progress has been going; 0 when none is.",
            [(
                String::new(),
                secs(running_since.map_or(Duration::ZERO, |t| now.saturating_duration_since(t))),
            )],
        );
        if let Some((text, started)) = &last {
            family(
                &mut out,
                "dockhand_doctor_last_run_age_seconds",
                "gauge",
                "Seconds since the doctor run whose results are served started; it grows while runs are slow or cut off.",
                [(String::new(), secs(now.saturating_duration_since(*started)))],
            );
            out.push_str(text);
        }
        out.push_str(&journal);
        family(
            &mut out,
            "dockhand_journal_readable",
            "gauge",
            "1 when the latest read of the journal worked (or there is none yet), 0 when it failed or overran its deadline.",
            [(String::new(), u8::from(readable).to_string())],
        );
        if let Some(w) = &self.watch {
            w.render(&mut out, now);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| Some(l.strip_prefix(series)?.strip_prefix(' ')?.to_string()))
    }

    #[test]
    fn the_page_before_and_after_runs() {
        let b = Board::new(Duration::from_secs(60), Duration::from_secs(11));
        let t0 = Instant::now();
        let page = b.render(t0);
        assert!(page.starts_with("# HELP dockhand_build_info "), "{page}");
        assert_eq!(
            sample(&page, r#"dockhand_doctor_runs_total{result="completed"}"#).as_deref(),
            Some("0")
        );
        assert!(
            !page.contains("dockhand_doctor_last_run_age_seconds"),
            "no age before the first run\n{page}"
        );
        assert_eq!(
            sample(&page, "dockhand_doctor_interval_seconds").as_deref(),
            Some("60.000")
        );

        b.doctor_started(t0);
        let page = b.render(t0 + Duration::from_millis(1500));
        assert_eq!(
            sample(&page, "dockhand_doctor_running_seconds").as_deref(),
            Some("1.500")
        );
        b.doctor_finished("dockhand_status 0\n".into(), t0);
        let page = b.render(t0 + Duration::from_secs(5));
        assert_eq!(
            sample(&page, "dockhand_doctor_last_run_age_seconds").as_deref(),
            Some("5.000")
        );
        assert_eq!(sample(&page, "dockhand_status").as_deref(), Some("0"));
        assert_eq!(
            sample(&page, "dockhand_doctor_running_seconds").as_deref(),
            Some("0.000")
        );

        // A run cut off: the old results stay, and age; the flag says so.
        b.doctor_started(t0 + Duration::from_secs(60));
        b.doctor_timed_out();
        let page = b.render(t0 + Duration::from_secs(71));
        assert_eq!(
            sample(&page, "dockhand_doctor_last_run_age_seconds").as_deref(),
            Some("71.000")
        );
        assert_eq!(
            sample(&page, "dockhand_doctor_last_refresh_timed_out").as_deref(),
            Some("1")
        );
        assert_eq!(
            sample(&page, r#"dockhand_doctor_runs_total{result="timed-out"}"#).as_deref(),
            Some("1")
        );
        assert_eq!(sample(&page, "dockhand_status").as_deref(), Some("0"));

        b.journal_unreadable();
        let page = b.render(t0);
        assert_eq!(
            sample(&page, "dockhand_journal_readable").as_deref(),
            Some("0")
        );
        b.journal_read("dockhand_journal_read_bytes 5\n".into());
        let page = b.render(t0);
        assert_eq!(
            sample(&page, "dockhand_journal_readable").as_deref(),
            Some("1")
        );
        assert_eq!(
            sample(&page, "dockhand_journal_read_bytes").as_deref(),
            Some("5")
        );
    }

    #[test]
    fn every_family_is_declared_once() {
        let b = Board::new(Duration::from_secs(60), Duration::from_secs(11));
        let t0 = Instant::now();
        b.doctor_started(t0);
        b.doctor_finished(
            "# HELP dockhand_status Worst status.\n# TYPE dockhand_status gauge\ndockhand_status 0\n"
                .into(),
            t0,
        );
        b.journal_read(
            "# HELP dockhand_journal_read_bytes Bytes read.\n# TYPE dockhand_journal_read_bytes counter\ndockhand_journal_read_bytes 5\n"
                .into(),
        );
        let page = b.render(t0 + Duration::from_secs(1));
        let mut seen = std::collections::BTreeMap::new();
        for l in page.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                *seen.entry(name).or_insert(0) += 1;
            }
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "declared twice: {twice:?}\n{page}");
        // Every family the page can hold after a run is there: serve's own, the doctor run's and
        // the journal's — so the check above looked at all of them.
        let want = [
            "dockhand_build_info",
            "dockhand_doctor_interval_seconds",
            "dockhand_doctor_deadline_seconds",
            "dockhand_doctor_runs_total",
            "dockhand_doctor_last_refresh_timed_out",
            "dockhand_doctor_running_seconds",
            "dockhand_doctor_last_run_age_seconds",
            "dockhand_status",
            "dockhand_journal_read_bytes",
            "dockhand_journal_readable",
        ];
        let names: Vec<&str> = seen.keys().map(String::as_str).collect();
        assert_eq!(names.len(), want.len(), "{names:?}");
        for w in want {
            assert!(seen.contains_key(w), "{w} is not declared\n{page}");
        }
    }
}
