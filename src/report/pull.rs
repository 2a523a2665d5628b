//! `dockhand pull`'s output as it happens: per-layer progress bars on a terminal (redrawn in
//! place, at most ten times a second), one line per layer status change off a terminal, or one
//! JSON object per event with `--format json` (`dockhand.pull/v1`, docs/json.md).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::pull::Event;
use crate::pull::progress::{Layer, State};
use crate::settings::Format;
use crate::util::{human_bytes, human_duration, sanitize};

/// Prints a pull's events to stdout.
pub struct Printer {
    format: Format,
    tty: bool,
    color: bool,
    /// Lines of bars drawn last (to move back over them).
    drawn: usize,
    last_draw: Option<Instant>,
}

impl Printer {
    pub fn new(format: Format, color: bool) -> Printer {
        Printer {
            format,
            tty: std::io::stdout().is_terminal(),
            color,
            drawn: 0,
            last_draw: None,
        }
    }

    /// Prints one event (a closed stdout is ignored: the pull goes on).
    pub fn event(&mut self, e: &Event, state: &State) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = match self.format {
            Format::Json => json_line(e, &mut out),
            Format::Table if self.tty => self.bars(e, state, &mut out),
            Format::Table => lines(e, &mut out),
        };
        let _ = out.flush();
    }

    fn bars(&mut self, e: &Event, state: &State, out: &mut dyn Write) -> std::io::Result<()> {
        if let Event::Layer { .. } = e {
            // Redraw at most every 100 ms, except when a layer ends.
            let due = self
                .last_draw
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
            let finished = matches!(e, Event::Layer { status, .. } if status == "Pull complete" || status == "Already exists");
            if !due && !finished {
                return Ok(());
            }
            return self.redraw(state, out);
        }
        // A message goes above the bars: clear them, print it, draw them again.
        self.clear(out)?;
        lines(e, out)?;
        if !matches!(e, Event::End { .. }) {
            self.redraw(state, out)?;
        }
        Ok(())
    }

    fn clear(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.drawn > 0 {
            write!(out, "\x1b[{}A\x1b[J", self.drawn)?;
            self.drawn = 0;
        }
        Ok(())
    }

    fn redraw(&mut self, state: &State, out: &mut dyn Write) -> std::io::Result<()> {
        self.clear(out)?;
        for l in &state.layers {
            writeln!(out, "{}", bar(l, self.color))?;
        }
        self.drawn = state.layers.len();
        self.last_draw = Some(Instant::now());
        Ok(())
    }
}

fn bar(l: &Layer, color: bool) -> String {
    const WIDTH: usize = 30;
    let frac = if l.total > 0 {
        (l.current as f64 / l.total as f64).clamp(0.0, 1.0)
    } else if l.done() {
        1.0
    } else {
        0.0
    };
    let filled = (frac * WIDTH as f64).round() as usize;
    let b = format!("{}{}", "█".repeat(filled), "░".repeat(WIDTH - filled));
    let b = if color && l.done() {
        format!("\x1b[32m{b}\x1b[0m")
    } else {
        b
    };
    let bytes = if l.total > 0 {
        format!("{} / {}", human_bytes(l.current), human_bytes(l.total))
    } else {
        String::new()
    };
    format!("{} {b} {:<18} {bytes}", l.id, sanitize(&l.status))
}

fn json_line(e: &Event, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, e)?;
    writeln!(out)
}

/// Plain lines: layer status changes, messages, and what the watchdog did.
fn lines(e: &Event, out: &mut dyn Write) -> std::io::Result<()> {
    let secs = |t: u64| human_duration(Duration::from_millis(t));
    match e {
        Event::Start {
            image, credentials, ..
        } => writeln!(
            out,
            "pulling {} (credentials: {credentials})",
            sanitize(image)
        ),
        Event::Preflight { health, .. } => writeln!(out, "daemon: {health}"),
        Event::Message { text, .. } => writeln!(out, "{}", sanitize(text)),
        Event::Layer { id, status, .. } => {
            // Off a terminal, only the changes of status (not every byte count).
            thread_local! {
                static LAST: std::cell::RefCell<std::collections::HashMap<String, String>> = Default::default();
            }
            let changed = LAST.with(|m| {
                m.borrow_mut().insert(id.clone(), status.clone()).as_ref() != Some(status)
            });
            if changed {
                writeln!(out, "{id}: {}", sanitize(status))?;
            }
            Ok(())
        }
        Event::Stalled {
            attempt,
            idle_ms,
            downloaded,
            t_ms,
        } => writeln!(
            out,
            "stalled: no bytes for {} (attempt {attempt}, {} downloaded, at {}); abandoned",
            secs(*idle_ms),
            human_bytes(*downloaded),
            secs(*t_ms)
        ),
        Event::Probe { health, .. } => writeln!(out, "daemon: {health}"),
        Event::Retry {
            attempt, after_ms, ..
        } => writeln!(out, "retrying in {} (attempt {attempt})", secs(*after_ms)),
        Event::Recover { result, reason, .. } => {
            writeln!(out, "recover: {result}: {}", sanitize(reason))
        }
        Event::Error { message, .. } => writeln!(out, "error: {}", sanitize(message)),
        Event::End {
            result,
            image,
            digest,
            downloaded,
            t_ms,
            ..
        } => writeln!(
            out,
            "{result}: {}{} ({} downloaded in {})",
            sanitize(image),
            digest
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default(),
            human_bytes(*downloaded),
            secs(*t_ms)
        ),
    }
}
