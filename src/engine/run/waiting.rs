//! Telling silent partitions from a hung xpart: while a call is in flight, a partition that
//! says nothing for `WAIT_FIRST` is reported, and again every `WAIT_REPEAT`.

use super::*;

/// A partition silent this long while a call is in flight is reported, and again every
/// `WAIT_REPEAT` while it stays silent: a China endpoint that hangs never looks like a hung
/// xpart.
pub const WAIT_FIRST: Duration = Duration::from_secs(5);

pub const WAIT_REPEAT: Duration = Duration::from_secs(10);

/// Reports silent partitions (see `Event::Waiting`) until dropped.
pub(super) struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(super) fn watch(parts: &BTreeMap<String, Arc<PartCtx>>, sink: Sink) -> Watcher {
    let parts: Vec<Arc<PartCtx>> = parts.values().cloned().collect();
    Watcher(tokio::spawn(async move {
        // Per partition: when it was last reported, so a silence is told every WAIT_REPEAT.
        let mut told: BTreeMap<String, Instant> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let now = Instant::now();
            for p in &parts {
                let (op, since, last) = {
                    let w = p
                        .clients
                        .in_flight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    match w.oldest() {
                        Some((op, since)) => (op.to_string(), since, w.last_answer()),
                        None => {
                            told.remove(&p.def.name);
                            continue;
                        }
                    }
                };
                // Silent since the later of its last answer and the oldest call's start.
                let silent_since = last.map_or(since, |l| l.max(since));
                let silent = now.duration_since(silent_since);
                let due = match told.get(&p.def.name) {
                    Some(t) => now.duration_since(*t) >= WAIT_REPEAT,
                    None => silent >= WAIT_FIRST,
                };
                if silent >= WAIT_FIRST && due {
                    told.insert(p.def.name.clone(), now);
                    sink(Event::Waiting {
                        partition: p.def.name.clone(),
                        region: p.def.region.clone(),
                        op,
                        silent,
                        gives_up_after: p.clients.tuning.operation,
                    });
                } else if silent < WAIT_FIRST {
                    told.remove(&p.def.name);
                }
            }
        }
    }))
}
