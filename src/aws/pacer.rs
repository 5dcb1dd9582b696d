//! Roles Anywhere's request-rate quotas kept by spacing each quota group's calls (`Pacer`),
//! through an HTTP client that wraps the SDK's own (`Paced`).

/// Roles Anywhere's request-rate quotas, per account and Region (Roles Anywhere User Guide,
/// "Quotas for AWS Identity and Access Management Roles Anywhere"): the trust anchor requests
/// combined, the profile requests combined and the tagging requests combined 1 per second
/// each; CreateSession 10 per second. xpart runs up to eight calls at once per partition, so
/// it spaces the calls of each group itself rather than lean on the service's throttling and
/// the SDK's retries.
///
/// The calls of a group go one at a time, and each is spaced from when the one before it was
/// answered, not from when it was due or sent: however late a loaded machine puts a request
/// on the wire, and however the network splits a round trip, the one before arrived before
/// its answer, so the next arrives at least the interval after it. That needs no margin for
/// jitter (two requests sent a second apart may arrive closer together; these cannot), only
/// one for timers' rounding: a group of twenty profiles takes twenty intervals and round
/// trips, not twenty intervals and a quarter-second each.
#[derive(Debug, Default)]
pub struct Pacer {
    /// By group: when its last call went.
    last: std::sync::Mutex<
        std::collections::HashMap<
            &'static str,
            std::sync::Arc<tokio::sync::Mutex<Option<tokio::time::Instant>>>,
        >,
    >,
}

/// What the spacing adds to each quota's interval: timers' rounding (see `Pacer`).
const PACE_MARGIN: std::time::Duration = std::time::Duration::from_millis(25);

impl Pacer {
    /// The quota group of a Roles Anywhere request path, and the interval between its calls.
    fn group(path: &str) -> Option<(&'static str, std::time::Duration)> {
        let second = std::time::Duration::from_secs(1);
        let path = path.split('?').next().unwrap_or(path);
        if path.starts_with("/trustanchor") || path.ends_with("-notifications-settings") {
            Some(("trust anchor", second))
        } else if path.starts_with("/profile") {
            Some(("profile", second))
        } else if path.starts_with("/crl") {
            Some(("crl", second))
        } else if matches!(
            path,
            "/TagResource" | "/UntagResource" | "/ListTagsForResource"
        ) {
            Some(("tagging", second))
        } else if path == "/sessions" {
            Some(("session", second / 10))
        } else {
            None
        }
    }

    /// Wait for this request's turn in its group (None, at once, for a path of no group). The
    /// turn is held until dropped; `answered` then marks when the request was answered.
    async fn turn(&self, path: &str) -> Option<Turn> {
        let (group, interval) = Self::group(path)?;
        let turn = {
            let mut groups = self.last.lock().unwrap_or_else(|p| p.into_inner());
            groups.entry(group).or_default().clone()
        };
        let mut last = turn.lock_owned().await;
        if let Some(went) = *last {
            tokio::time::sleep_until(went + interval + PACE_MARGIN).await;
        }
        *last = Some(tokio::time::Instant::now());
        Some(Turn(last))
    }
}

/// A request's turn in its quota group (see `Pacer`).
struct Turn(tokio::sync::OwnedMutexGuard<Option<tokio::time::Instant>>);

impl Turn {
    /// The request was answered: the next of the group is spaced from now.
    fn answered(mut self) {
        *self.0 = Some(tokio::time::Instant::now());
    }
}

/// The SDK's default HTTPS client, as every client gets it when none is set (proxy settings
/// and all): from the runtime plugin that provides it.
pub(super) fn default_http_client() -> Option<aws_smithy_runtime_api::client::http::SharedHttpClient>
{
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
        aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
    )?;
    let components = plugin.runtime_components(&RuntimeComponentsBuilder::new("xpart"));
    components.http_client()
}

/// The HTTP client of the Roles Anywhere client: the SDK's own, each request waiting for its
/// turn in `Pacer` first (retries included, so a retry never bursts either).
#[derive(Debug, Clone)]
pub(super) struct Paced {
    pub(super) inner: aws_smithy_runtime_api::client::http::SharedHttpClient,
    pub(super) pacer: std::sync::Arc<Pacer>,
}

#[derive(Debug)]
struct PacedConnector {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    pacer: std::sync::Arc<Pacer>,
}

impl aws_smithy_runtime_api::client::http::HttpClient for Paced {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }
}

impl aws_smithy_runtime_api::client::http::HttpConnector for PacedConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let (inner, pacer) = (self.inner.clone(), self.pacer.clone());
        let path = request.uri().splitn(4, '/').nth(3).map(|p| format!("/{p}"));
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            let turn = match path {
                Some(path) => pacer.turn(&path).await,
                None => None,
            };
            let answer = inner.call(request).await;
            if let Some(turn) = turn {
                turn.answered();
            }
            answer
        })
    }
}

#[cfg(test)]
mod pacer_tests {
    use super::Pacer;

    /// Calls of one group go one at a time, each at least its interval (plus the margin) after
    /// the one before it went; another group is not held up.
    #[tokio::test]
    async fn a_groups_calls_are_spaced_from_when_each_went() {
        let pacer = std::sync::Arc::new(Pacer::default());
        let start = tokio::time::Instant::now();
        let turns = (0..3).map(|_| {
            let p = pacer.clone();
            tokio::spawn(async move {
                p.turn("/sessions").await.unwrap().answered();
                tokio::time::Instant::now()
            })
        });
        let mut went: Vec<_> = futures::future::join_all(turns)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        went.sort();
        let gap = std::time::Duration::from_millis(100) + super::PACE_MARGIN;
        for w in went.windows(2) {
            assert!(w[1] - w[0] >= gap, "{:?} apart", w[1] - w[0]);
        }
        let other = tokio::time::Instant::now();
        let turn = pacer.turn("/profiles").await;
        assert!(other.elapsed() < gap, "another group waited");
        assert!(turn.is_some() && pacer.turn("/sts").await.is_none());
        assert!(went[0] - start < gap, "the first call waited");
    }
}
