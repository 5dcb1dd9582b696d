//! `xpart doctor PLAN`: what stands between this machine and each partition of a plan, and
//! what stands in the bridge's way. One verdict line per check with its time, and for a
//! failure its cause and the fix; exit 0 only when every check passes; the whole run within a
//! time budget.
//!
//! Per partition (at once): each endpoint xpart calls (from the shared config, `endpoint_url`
//! included, else the partition's service hosts) step by step (`net`: DNS, TCP, TLS, an HTTP
//! answer and the service's clock), the proxy the environment names, the caller's identity
//! against the plan's `account:`, and latency percentiles over a few GetCallerIdentity calls.
//! Then, when every partition answers, the bridge (`bridge`): each Roles Anywhere chain of the
//! plan as it is live.

mod bridge;
mod net;
mod verdict;
mod workload;

use verdict::render;
pub use verdict::{Check, Format, Status};

pub use workload::default_config;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::commands::Common;
use crate::engine::run::Engine;

/// The endpoints xpart calls in one partition: the shared config's `endpoint_url` when set
/// (every service), else each service's host in the partition's DNS suffix.
fn endpoints(part: &crate::engine::resource::PartCtx) -> Vec<net::Endpoint> {
    if let Some(url) = part.clients.config.endpoint_url() {
        return net::Endpoint::parse(url).into_iter().collect();
    }
    let (p, region) = (part.def.partition, &part.def.region);
    let mut eps: Vec<net::Endpoint> = [
        "sts",
        "rolesanywhere",
        "secretsmanager",
        "kms",
        "ec2",
        "iam",
    ]
    .iter()
    .filter_map(|svc| net::Endpoint::parse(&format!("https://{}", p.endpoint_host(svc, region))))
    .collect();
    eps.sort();
    eps.dedup();
    eps
}

/// How long one API call of doctor's may take, its SDK retries included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// GetCallerIdentity calls for the latency figures (at once, so a slow link costs one call's
/// time, not five).
const SAMPLES: usize = 5;

/// Every check of one partition's reach: the endpoints, the proxy, the identity, the latency.
/// True when the partition answers (the bridge checks need every partition).
async fn reach(part: &crate::engine::resource::PartCtx, report: &dyn Fn(Check)) -> bool {
    let name = part.def.name.as_str();
    let (answered, skew) = endpoints_reach(part, report).await;
    if !answered {
        report(
            Check::new(name, "identity and latency", Instant::now()).fail(
                "skipped: an endpoint of this partition does not answer",
                "no API call can reach the partition",
                "fix the endpoint's reach first (above)",
            ),
        );
        return false;
    }
    if !caller_identity(part, skew, report).await {
        return false;
    }
    if let Some(s) = skew.filter(net::Skew::too_far) {
        // The SDK corrects its signing clock from a refusal's answer, so a call can pass while
        // most others fail: nothing further is worth checking until the clock is right.
        report(
            Check::new(name, "identity and latency", Instant::now()).fail(
                "skipped: this machine's clock is off",
                s.cause(),
                net::CLOCK_FIX,
            ),
        );
        return false;
    }
    latency(part, report).await
}

/// Each endpoint of the partition, step by step, with the proxy the environment names for it:
/// whether every one answered, and the clock skew of the last one whose answer showed it.
async fn endpoints_reach(
    part: &crate::engine::resource::PartCtx,
    report: &dyn Fn(Check),
) -> (bool, Option<net::Skew>) {
    let name = part.def.name.as_str();
    let mut answered = true;
    let mut skew = None;
    for ep in endpoints(part) {
        let t = std::time::Instant::now();
        let proxy = net::proxy_for(&ep);
        report(Check::new(name, format!("proxy for {}", ep.host), t).pass(match proxy {
            Some((p, var)) => format!("{p} (from {var}); xpart's API calls go direct, credential-process uses it with --with-proxy"),
            None => "none".into(),
        }));
        let (checks, reached) = net::probe(name, &ep, net::Trust::Sdk).await;
        for c in checks {
            report(c);
        }
        answered &= reached.answered;
        skew = reached.skew.or(skew);
    }
    (answered, skew)
}

/// The caller, against the plan's account; a refusal blamed on the clock when `skew` is too
/// far, else on the profile's credentials. True when the call answered.
async fn caller_identity(
    part: &crate::engine::resource::PartCtx,
    skew: Option<net::Skew>,
    report: &dyn Fn(Check),
) -> bool {
    let name = part.def.name.as_str();
    let t = Instant::now();
    let sts = &part.clients.sts;
    let got = tokio::time::timeout(CALL_TIMEOUT, sts.get_caller_identity().send()).await;
    let c2 = Check::new(name, "caller identity", t);
    let Ok(got) = got else {
        report(c2.fail(
            format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
            "the endpoint answers plain requests but not the API in time",
            "check the path (above), and raise this partition's timeouts (--tune)",
        ));
        return false;
    };
    match got {
        Ok(id) => {
            let account = id.account().unwrap_or_default();
            let arn = id.arn().unwrap_or_default();
            // A wrong account is reported but does not stop the partition's other checks.
            match part.def.account.as_deref() {
                Some(want) if want != account => report(c2.fail(
                    format!("{arn}: account {account}"),
                    format!("the plan's partition `{name}` expects account {want}"),
                    "use this partition's profile (--profile NAME=PROFILE), or correct `account:` in the plan",
                )),
                _ => report(c2.pass(arn.to_string())),
            }
            true
        }
        Err(e) => {
            let e = part.clients.error("GetCallerIdentity", e);
            let (cause, fix) = match skew.filter(net::Skew::too_far) {
                Some(s) => (s.cause(), net::CLOCK_FIX.to_string()),
                _ => (
                    "the credentials of this partition's profile were refused".to_string(),
                    format!(
                        "check the profile `{}` and its credentials",
                        part.clients
                            .profile
                            .clone()
                            .unwrap_or_else(|| "default".into())
                    ),
                ),
            };
            report(c2.fail(e.to_string(), cause, fix));
            false
        }
    }
}

/// Latency percentiles over `SAMPLES` GetCallerIdentity calls; a warning when the median is
/// slow. True unless every call failed.
async fn latency(part: &crate::engine::resource::PartCtx, report: &dyn Fn(Check)) -> bool {
    let name = part.def.name.as_str();
    let sts = &part.clients.sts;
    let t = Instant::now();
    let calls = (0..SAMPLES).map(|_| async {
        let t = Instant::now();
        match tokio::time::timeout(CALL_TIMEOUT, sts.get_caller_identity().send()).await {
            Ok(Ok(_)) => Some(t.elapsed()),
            _ => None,
        }
    });
    let got = futures::future::join_all(calls).await;
    let mut times: Vec<Duration> = got.into_iter().flatten().collect();
    times.sort();
    let c = Check::new(name, format!("latency ({SAMPLES} GetCallerIdentity)"), t);
    if times.is_empty() {
        report(c.fail(
            "every call failed",
            "the partition stopped answering",
            "try again; if it persists, check the path (above)",
        ));
        return false;
    }
    let pct = |p: usize| times[(times.len() - 1) * p / 100].as_millis();
    let detail = format!(
        "p50 {} ms, p90 {} ms, max {} ms",
        pct(50),
        pct(90),
        times[times.len() - 1].as_millis()
    );
    if times[times.len() / 2] > Duration::from_secs(2) {
        report(c.warn(format!(
            "{detail}: slow; raise this partition's timeouts if runs fail (`--tune {name}.operation_ms=…`)"
        )));
    } else {
        report(c.pass(detail));
    }
    true
}

/// `xpart doctor PLAN`.
pub fn run(common: &Common, format: Format, budget: Duration) -> ExitCode {
    let spec = match crate::commands::load_tuned(common) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let scratch = match crate::commands::state_dir(common, &spec) {
        Ok(d) => d.join("doctor"),
        Err(code) => return code,
    };
    let setup = match crate::commands::setup(common, &spec) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let apply_line = common.command_line("apply");
    // Each partition's finished checks until its block is printed: when the budget runs out,
    // what a stalled partition did check is printed before the verdict, so the reader sees
    // which partition stopped where.
    let blocks: Blocks = Default::default();
    let unfinished = unfinished_of(blocks.clone());
    let run = move |report: std::rc::Rc<dyn Fn(Check)>| async move {
        let report = &*report;
        let start = Instant::now();
        let engine = match Engine::connect(spec, setup).await {
            Ok(e) => e,
            Err(e) => {
                report(Check::new("-", "credentials", start).fail(
                    e.to_string(),
                    "a partition's profile gives no credentials",
                    "configure the profile the plan names, or pass --profile NAME=PROFILE",
                ));
                return;
            }
        };
        // Each partition's checks as one block, printed when that partition is done, so
        // that the partitions' lines do not interleave and a slow one does not hold back
        // the other.
        use futures::StreamExt;
        let names: Vec<String> = engine.spec().partitions.keys().cloned().collect();
        let mut pending: futures::stream::FuturesUnordered<_> = names
            .iter()
            .map(|n| {
                let part = engine.partition(n).expect("a connected partition");
                let blocks = &blocks;
                async move {
                    let keep = |c| blocks.lock().unwrap().entry(n.clone()).or_default().push(c);
                    let ok = reach(part, &keep).await;
                    let block = blocks.lock().unwrap().remove(n).unwrap_or_default();
                    (ok, block)
                }
            })
            .collect();
        let mut reached = vec![];
        while let Some((ok, block)) = pending.next().await {
            for c in block {
                report(c);
            }
            reached.push(ok);
        }
        if reached.iter().all(|r| *r) {
            bridge::check(&engine, &scratch, &apply_line, report).await;
        } else {
            report(
                Check::new("bridge", "Roles Anywhere chains", Instant::now()).fail(
                    "skipped: a partition cannot be used from here",
                    "the bridge cannot be read without every partition (above: why)",
                    "fix each partition's failures first (above)",
                ),
            );
        }
    };
    within_budget(format, budget, run, unfinished)
}

/// Each partition's checks so far, by partition, while it is being checked.
type Blocks = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<Check>>>>;

/// What the partitions still being checked when the budget ran out had found, each followed
/// by a line naming it as the one that did not finish.
fn unfinished_of(blocks: Blocks) -> impl FnOnce() -> Vec<Check> {
    move || {
        let start = Instant::now();
        let held = std::mem::take(&mut *blocks.lock().unwrap());
        let mut out = vec![];
        for (name, block) in held {
            out.extend(block);
            out.push(Check::new(&name, "partition checks", start).fail(
                "did not finish within the budget",
                "the last check above is the last that answered in this partition",
                "look at what comes after it (a proxy, an endpoint that never ends its answer)",
            ));
        }
        out
    }
}

/// Run the checks `body` makes, each printed as it is reported, within the run's budget: exit 0
/// only when they finish in time and none failed.
fn within_budget<F, Fut>(
    format: Format,
    budget: Duration,
    body: F,
    unfinished: impl FnOnce() -> Vec<Check>,
) -> ExitCode
where
    F: FnOnce(std::rc::Rc<dyn Fn(Check)>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let failed = std::rc::Rc::new(std::cell::Cell::new(false));
    let f2 = failed.clone();
    let report: std::rc::Rc<dyn Fn(Check)> = std::rc::Rc::new(move |c: Check| {
        f2.set(f2.get() || c.status == Status::Fail);
        render(&c, format);
    });
    let start = Instant::now();
    let rt = crate::commands::runtime();
    let work = body(report);
    let done = rt.block_on(async { tokio::time::timeout(budget, work).await });
    rt.shutdown_timeout(Duration::from_millis(100));
    if done.is_err() {
        // Every check that finished is printed before the verdict.
        for c in unfinished() {
            render(&c, format);
        }
        render(
            &Check::new("-", "time budget", start).fail(
                format!("the checks did not finish within {} s", budget.as_secs()),
                "a step waits on something that does not answer (above: the last checks that finished)",
                "raise --budget to see where it stops, or fix the path shown above",
            ),
            format,
        );
        return ExitCode::FAILURE;
    }
    if failed.get() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `xpart doctor --workload`.
pub fn run_workload(
    config: &std::path::Path,
    profile: Option<&str>,
    root: &std::path::Path,
    format: Format,
    budget: Duration,
) -> ExitCode {
    let (config, profile, root) = (
        config.to_path_buf(),
        profile.map(str::to_string),
        root.to_path_buf(),
    );
    within_budget(
        format,
        budget,
        move |report| async move {
            workload::check(&config, profile.as_deref(), &root, &*report).await;
        },
        Vec::new,
    )
}
