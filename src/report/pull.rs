//! `dockhand pull`'s output as it happens: per-layer progress bars on a terminal (indicatif's,
//! redrawn in place at most ten times a second), one line per layer status change off a
//! terminal, or one JSON object per event with `--format json` (`dockhand.pull/v1`,
//! docs/json.md).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pull::Event;
use crate::pull::progress::{Layer, State};
use crate::settings::Format;
use crate::util::{human_bytes, human_duration, sanitize};

/// Prints a pull's events to stdout.
pub struct Printer {
    format: Format,
    /// The bars, on a terminal that can draw them.
    bars: Option<Bars>,
}

/// One bar per layer, in the order the layers appeared; messages go above them.
struct Bars {
    multi: MultiProgress,
    style: ProgressStyle,
    layers: HashMap<String, ProgressBar>,
}

impl Printer {
    pub fn new(format: Format, color: bool) -> Printer {
        let tty = std::io::stdout().is_terminal();
        let bars = (format == Format::Table && tty)
            .then(|| Bars::new(color))
            // A terminal indicatif will not draw on (TERM=dumb): plain lines, as off a terminal.
            .filter(|b| !b.multi.is_hidden());
        Printer { format, bars }
    }

    /// Prints one event (a closed stdout is ignored: the pull goes on).
    pub fn event(&mut self, e: &Event, state: &State) {
        if let Some(bars) = &mut self.bars {
            bars.event(e, state);
            return;
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = match self.format {
            Format::Json => json_line(e, &mut out),
            Format::Table => lines(e, &mut out),
        };
        let _ = out.flush();
    }
}

impl Bars {
    fn new(color: bool) -> Bars {
        // The template is a constant: it parses (a unit test holds it to that).
        let style = bar_style(color).unwrap_or_else(|_| ProgressStyle::default_bar());
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10)),
            style,
            layers: HashMap::new(),
        }
    }

    fn event(&mut self, e: &Event, state: &State) {
        match e {
            Event::Layer { id, .. } => {
                if let Some(l) = state.layers.iter().find(|l| &l.id == id) {
                    self.layer(l);
                }
            }
            Event::End { .. } => {
                for b in self.layers.values() {
                    b.abandon();
                }
                // Below the bars, where the shell prompt comes next.
                let mut text = Vec::new();
                let _ = lines(e, &mut text);
                let _ = self
                    .multi
                    .println(String::from_utf8_lossy(&text).trim_end());
            }
            _ => {
                // A message goes above the bars.
                let mut text = Vec::new();
                let _ = lines(e, &mut text);
                let text = String::from_utf8_lossy(&text);
                if !text.is_empty() {
                    let _ = self.multi.println(text.trim_end());
                }
            }
        }
    }

    fn layer(&mut self, l: &Layer) {
        let bar = self.layers.entry(l.id.clone()).or_insert_with(|| {
            let b = ProgressBar::new(0)
                .with_style(self.style.clone())
                .with_prefix(l.id.clone());
            self.multi.add(b)
        });
        if l.total > 0 {
            bar.set_length(l.total);
            bar.set_position(l.current.min(l.total));
        } else if l.done() {
            // Done without a size ("Already exists"): a full bar.
            bar.set_length(1);
            bar.set_position(1);
        }
        let bytes = if l.total > 0 {
            format!("{} / {}", human_bytes(l.current), human_bytes(l.total))
        } else {
            String::new()
        };
        bar.set_message(format!("{:<18} {bytes}", sanitize(&l.status)));
    }
}

/// A layer's bar: its id, 30 cells (green with colour), its status and byte counts.
fn bar_style(color: bool) -> Result<ProgressStyle, indicatif::style::TemplateError> {
    let bar = if color { "{bar:30.green}" } else { "{bar:30}" };
    Ok(ProgressStyle::with_template(&format!("{{prefix}} {bar} {{msg}}"))?.progress_chars("█░"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_templates_parse() {
        for color in [false, true] {
            assert!(bar_style(color).is_ok(), "color {color}");
        }
    }
}
