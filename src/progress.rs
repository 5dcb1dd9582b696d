//! Renders the engine's events: one indicatif line per resource on a terminal, plain
//! timestamped lines otherwise (CI logs, pipes). Nothing here knows how work is done.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::changes::Action;
use crate::engine::run::{Event, Sink};

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Delete => "deleting",
        Action::NoOp => "checking",
    }
}

fn done(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::NoOp => "unchanged",
    }
}

struct Row {
    label: String,
    bar: Option<ProgressBar>,
}

struct State {
    start: Instant,
    rows: HashMap<String, Row>,
    multi: Option<MultiProgress>,
    verbose: bool,
}

/// A sink writing to stderr: bars when `tty`, else lines. `verbose` adds retry notes to lines.
pub fn sink(tty: bool, verbose: bool) -> Sink {
    let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    let state = Arc::new(Mutex::new(State {
        start: Instant::now(),
        rows: HashMap::new(),
        multi,
        verbose,
    }));
    Arc::new(move |ev: Event| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.handle(ev);
    })
}

impl State {
    fn line(&self, msg: &str) {
        let t = self.start.elapsed().as_secs_f64();
        let text = format!("[{t:7.1}s] {msg}");
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Phase(p) => self.line(&format!("{p}…")),
            Event::Started {
                id,
                type_name,
                partition,
                action,
            } => {
                let label = format!(
                    "{} {type_name} {id}",
                    partition.as_deref().unwrap_or("local")
                );
                let bar = self.multi.as_ref().map(|m| {
                    let b = m.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(label.clone());
                    b.set_message(verb(action));
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                if bar.is_none() {
                    self.line(&format!("{label}: {}", verb(action)));
                }
                self.rows.insert(id, Row { label, bar });
            }
            Event::Note { id, message } => {
                let label = self
                    .rows
                    .get(&id)
                    .map(|r| r.label.clone())
                    .unwrap_or(id.clone());
                match self.rows.get(&id).and_then(|r| r.bar.as_ref()) {
                    Some(b) => b.set_message(message),
                    None if self.verbose || message.starts_with("attempt") => {
                        self.line(&format!("{label}: {message}"))
                    }
                    None => {}
                }
            }
            Event::Finished {
                id,
                action,
                elapsed,
                error,
            } => {
                if action == Action::NoOp && error.is_none() {
                    return;
                }
                let label = self
                    .rows
                    .get(&id)
                    .map(|r| r.label.clone())
                    .unwrap_or(id.clone());
                let msg = match &error {
                    None => format!("{} in {:.1}s", done(action), elapsed.as_secs_f64()),
                    Some(e) => format!("FAILED after {:.1}s: {e}", elapsed.as_secs_f64()),
                };
                match self.rows.get(&id).and_then(|r| r.bar.as_ref()) {
                    Some(b) => b.finish_with_message(msg),
                    None => self.line(&format!("{label}: {msg}")),
                }
            }
            Event::Skipped { id, reason } => self.line(&format!("{id}: {reason}")),
            Event::Call(line) => self.line(&line),
            Event::Waiting {
                partition,
                region,
                op,
                silent,
                gives_up_after,
            } => self.line(&format!(
                "waiting for {partition} ({region}): no answer for {}s; {op} in flight (gives up after {}s)",
                silent.as_secs(),
                gives_up_after.as_secs()
            )),
        }
    }
}
