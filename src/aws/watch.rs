//! The interceptor on every client of a partition: its calls in flight (what progress says
//! while a partition is silent) and, with `-v`, one log line per attempt; never a body.

use super::CallLogFn;

/// The calls of one partition in flight now, and when it last answered anything: what the
/// engine's progress says while a partition is silent ("waiting for china: GetResources, 12 s").
#[derive(Debug, Default)]
pub struct InFlight {
    next: u64,
    calls: std::collections::BTreeMap<u64, (String, std::time::Instant)>,
    last_answer: Option<std::time::Instant>,
}

impl InFlight {
    /// The oldest call in flight (operation, since when), if any.
    pub fn oldest(&self) -> Option<(&str, std::time::Instant)> {
        self.calls
            .values()
            .min_by_key(|(_, t)| *t)
            .map(|(op, t)| (op.as_str(), *t))
    }
    /// When the partition last sent any answer (an error counts: it answered).
    pub fn last_answer(&self) -> Option<std::time::Instant> {
        self.last_answer
    }
}

/// One attempt in flight: its `InFlight` entry and when it started. Kept in the call's config
/// bag: when the call ends in any way, its answer or a timeout that drops it, the bag goes and
/// takes the entry with it.
#[derive(Debug)]
struct Attempt {
    token: u64,
    started: std::time::Instant,
    in_flight: std::sync::Arc<std::sync::Mutex<InFlight>>,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let mut w = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        w.calls.remove(&self.token);
    }
}

impl aws_smithy_types::config_bag::Storable for Attempt {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// On every client of a partition: keeps its `InFlight` up to date and, with `-v`, logs each
/// attempt of each call (operation, status, time). Only metadata: request and response bodies
/// (secrets, credentials) are never looked at.
#[derive(Clone)]
pub(super) struct Watch {
    pub(super) partition: String,
    pub(super) in_flight: std::sync::Arc<std::sync::Mutex<InFlight>>,
    pub(super) log: Option<CallLogFn>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("partition", &self.partition)
            .field("log", &self.log.is_some())
            .finish()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Watch {
    fn name(&self) -> &'static str {
        "xpart-watch"
    }

    fn read_before_attempt(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "a call".into());
        let started = std::time::Instant::now();
        let mut w = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        w.next += 1;
        let token = w.next;
        w.calls.insert(token, (op, started));
        drop(w);
        cfg.interceptor_state().store_put(Attempt {
            token,
            started,
            in_flight: self.in_flight.clone(),
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<
            '_,
        >,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let attempt = cfg.load::<Attempt>();
        {
            let mut w = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(a) = attempt {
                w.calls.remove(&a.token);
            }
            if ctx.response().is_some() {
                w.last_answer = Some(std::time::Instant::now());
            }
        }
        if let Some(log) = &self.log {
            let op = cfg
                .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
                .map(|m| format!("{}.{}", m.service(), m.name()))
                .unwrap_or_else(|| "call".into());
            let ms = attempt
                .map(|a| a.started.elapsed().as_millis())
                .unwrap_or(0);
            let status = match ctx.response() {
                Some(r) => r.status().as_u16().to_string(),
                None => "no response".into(),
            };
            log(format!("{}: {op} -> {status} in {ms} ms", self.partition));
        }
        Ok(())
    }
}
