//! The walker's guarantees, each a test: order, concurrency within lane limits, failures
//! that skip exactly their dependents, cancellation, graph errors. Apart from the walker so
//! that its code reads on one page.

use super::*;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Every test walk is bounded: a scheduling bug must fail the test, not hang it.
const BOUND: Duration = Duration::from_secs(10);

type Err = String;

/// A cyclic barrier without tokio's `sync` feature: `wait` returns once `n` parties have
/// arrived in the current generation. Used so that overlap is required, not hoped for.
struct Barrier {
    n: usize,
    state: Mutex<(usize, u64, Vec<Waker>)>,
}

impl Barrier {
    fn new(n: usize) -> Arc<Barrier> {
        Arc::new(Barrier {
            n,
            state: Mutex::new((0, 0, vec![])),
        })
    }

    async fn wait(&self) {
        let generation = {
            let mut st = self.state.lock().unwrap();
            st.0 += 1;
            if st.0 == self.n {
                st.0 = 0;
                st.1 += 1;
                st.2.drain(..).for_each(Waker::wake);
                return;
            }
            st.1
        };
        std::future::poll_fn(|cx| {
            let mut st = self.state.lock().unwrap();
            if st.1 != generation {
                Poll::Ready(())
            } else {
                st.2.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// (tick, "start" or "end", id)
type Entry = (usize, &'static str, String);

/// A shared log of (tick, what, id); the tick orders entries across threads.
#[derive(Clone, Default)]
struct Log {
    tick: Arc<AtomicUsize>,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Log {
    fn push(&self, what: &'static str, id: &str) {
        let mut e = self.entries.lock().unwrap();
        let t = self.tick.fetch_add(1, Ordering::SeqCst);
        e.push((t, what, id.to_string()));
    }

    fn at(&self, what: &str, id: &str) -> Option<usize> {
        let e = self.entries.lock().unwrap();
        e.iter()
            .find(|(_, w, i)| *w == what && i == id)
            .map(|(t, _, _)| *t)
    }

    fn ran(&self) -> BTreeSet<String> {
        let e = self.entries.lock().unwrap();
        e.iter()
            .filter(|(_, w, _)| *w == "start")
            .map(|(_, _, i)| i.clone())
            .collect()
    }

    fn starts(&self) -> Vec<String> {
        let e = self.entries.lock().unwrap();
        e.iter()
            .filter(|(_, w, _)| *w == "start")
            .map(|(_, _, i)| i.clone())
            .collect()
    }
}

/// A job that logs its start and end, yields a few times so others interleave, then
/// returns `result`.
fn logged(
    log: &Log,
    id: &str,
    deps: &[&str],
    lane: Option<&str>,
    result: Result<(), Err>,
) -> Node<Err> {
    let (log, me) = (log.clone(), id.to_string());
    Node::new(id, deps.iter().copied(), lane, move || async move {
        log.push("start", &me);
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        log.push("end", &me);
        result
    })
}

fn ok(log: &Log, id: &str, deps: &[&str]) -> Node<Err> {
    logged(log, id, deps, None, Ok(()))
}

fn fail(log: &Log, id: &str, deps: &[&str]) -> Node<Err> {
    logged(log, id, deps, None, Err(format!("{id} broke")))
}

async fn run(nodes: Vec<Node<Err>>, limits: &Limits, cancel: &Cancel) -> Report<Err> {
    tokio::time::timeout(BOUND, walk(nodes, limits, cancel, |_| {}))
        .await
        .expect("walk finished in time")
        .expect("graph is valid")
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn skipped_for(roots: &[&str]) -> Outcome<Err> {
    Outcome::Skipped(Skip::DependencyFailed(set(roots)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_starts_after_its_dependencies_finished() {
    let log = Log::default();
    let graph: &[(&str, &[&str], Option<&str>)] = &[
        ("pki.ca", &[], None),
        ("pki.client", &["pki.ca"], None),
        ("role", &[], Some("aws")),
        ("profile", &["role"], Some("aws")),
        ("anchor", &["pki.ca"], Some("cn")),
        ("ra_profile", &["anchor", "role"], Some("cn")),
        ("secret", &["pki.client", "ra_profile"], Some("cn")),
        ("instance", &["profile", "secret"], Some("aws")),
    ];
    let nodes = graph
        .iter()
        .map(|(id, deps, lane)| logged(&log, id, deps, *lane, Ok(())))
        .collect();
    let mut events = vec![];
    let report = tokio::time::timeout(
        BOUND,
        walk(nodes, &Limits::new(2), &Cancel::new(), |e| {
            events.push(match e {
                Progress::Started { id } => ("started", id.to_string()),
                Progress::Finished { id, .. } => ("finished", id.to_string()),
                Progress::Skipped { id, .. } => ("skipped", id.to_string()),
            })
        }),
    )
    .await
    .unwrap()
    .unwrap();

    assert!(report.is_success());
    for (id, deps, _) in graph {
        let start = log.at("start", id).expect("ran");
        for d in *deps {
            let end = log.at("end", d).expect("dep ran");
            assert!(end < start, "{id} started before {d} finished");
        }
        // Events tell the same story: started before finished, deps finished first.
        let pos = |what: &str, id: &str| events.iter().position(|e| e.0 == what && e.1 == id);
        assert!(pos("started", id) < pos("finished", id));
        for d in *deps {
            assert!(pos("finished", d).unwrap() < pos("started", id).unwrap());
        }
    }
    assert_eq!(events.len(), 2 * graph.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_nodes_run_concurrently() {
    // Each job waits until both have arrived: the walk only finishes if they overlap.
    let barrier = Barrier::new(2);
    let log = Log::default();
    let gated = |id: &'static str, lane: Option<&'static str>| {
        let (b, log) = (barrier.clone(), log.clone());
        Node::new(id, Vec::<String>::new(), lane, move || async move {
            b.wait().await;
            log.push("end", id);
            Ok::<(), Err>(())
        })
    };
    let nodes = vec![
        gated("a", Some("aws")),
        gated("b", Some("aws")),
        ok(&log, "c", &["a", "b"]),
    ];
    let report = run(nodes, &Limits::default(), &Cancel::new()).await;
    assert!(report.is_success());
    assert!(log.at("start", "c").unwrap() > log.at("end", "a").unwrap());
    assert!(log.at("start", "c").unwrap() > log.at("end", "b").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lane_limit_is_reached_and_never_exceeded() {
    // Per lane, jobs meet at a barrier of the lane's limit: fewer at once would hang
    // (the timeout fails the test). More at once is seen two ways: the jobs count their
    // own overlap with atomics, and the events count what the walker holds in flight
    // from Started to Finished (a job can end before an extra one is first polled, so
    // the jobs' own count alone could miss an excess).
    let limits = Limits::new(1).with_lane("aws", 2).with_lane("cn", 3);
    #[derive(Default)]
    struct Lane {
        now: AtomicUsize,
        max: AtomicUsize,
    }
    let mut lanes: BTreeMap<String, Arc<Lane>> = BTreeMap::new();
    let mut nodes = vec![];
    for (lane, count) in [(Some("aws"), 6), (Some("cn"), 9), (None, 3)] {
        let name = lane.unwrap_or("local").to_string();
        let l = lanes.entry(name.clone()).or_default().clone();
        let barrier = Barrier::new(limits.limit(lane));
        for k in 0..count {
            let (l, b) = (l.clone(), barrier.clone());
            nodes.push(Node::new(
                format!("{name}-{k}"),
                Vec::<String>::new(),
                lane,
                move || async move {
                    let n = l.now.fetch_add(1, Ordering::SeqCst) + 1;
                    l.max.fetch_max(n, Ordering::SeqCst);
                    b.wait().await;
                    l.now.fetch_sub(1, Ordering::SeqCst);
                    Ok::<(), Err>(())
                },
            ));
        }
    }
    let mut held: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let report = tokio::time::timeout(
        BOUND,
        walk(nodes, &limits, &Cancel::new(), |e| {
            let (id, delta) = match e {
                Progress::Started { id } => (id, 1),
                Progress::Finished { id, .. } => (id, -1),
                Progress::Skipped { .. } => return,
            };
            let lane = id.split('-').next().unwrap().to_string();
            let (now, max) = held.entry(lane).or_default();
            *now = now.checked_add_signed(delta).unwrap();
            *max = (*max).max(*now);
        }),
    )
    .await
    .expect("walk finished in time")
    .unwrap();
    assert!(report.is_success());
    for (lane, limit) in [("aws", 2), ("cn", 3), ("local", 1)] {
        assert_eq!(lanes[lane].max.load(Ordering::SeqCst), limit, "{lane} jobs");
        assert_eq!(held[lane], (0, limit), "{lane} held by the walker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_skips_exactly_its_transitive_dependents() {
    let log = Log::default();
    let nodes = vec![
        fail(&log, "a", &[]),
        ok(&log, "b", &["a"]),
        ok(&log, "c", &["b"]),
        ok(&log, "x", &[]),
        ok(&log, "d", &["c", "x"]),
        ok(&log, "y", &["x"]),
        fail(&log, "e", &["x"]),
        ok(&log, "f", &["a", "e"]),
        ok(&log, "g", &["f", "y"]),
    ];
    let mut skips = vec![];
    let report = tokio::time::timeout(
        BOUND,
        walk(nodes, &Limits::default(), &Cancel::new(), |e| {
            if let Progress::Skipped { id, because } = e {
                skips.push((id.to_string(), because.clone()));
            }
        }),
    )
    .await
    .unwrap()
    .unwrap();

    assert_eq!(log.ran(), set(&["a", "e", "x", "y"]));
    assert_eq!(report.get("a"), Some(&Outcome::Failed("a broke".into())));
    assert_eq!(report.get("e"), Some(&Outcome::Failed("e broke".into())));
    assert_eq!(report.get("x"), Some(&Outcome::Succeeded));
    assert_eq!(report.get("y"), Some(&Outcome::Succeeded));
    assert_eq!(report.get("b"), Some(&skipped_for(&["a"])));
    assert_eq!(report.get("c"), Some(&skipped_for(&["a"])));
    assert_eq!(report.get("d"), Some(&skipped_for(&["a"])));
    assert_eq!(report.get("f"), Some(&skipped_for(&["a", "e"])));
    assert_eq!(report.get("g"), Some(&skipped_for(&["a", "e"])));
    // One Skipped event per skipped node, with the reason the report gives.
    skips.sort_by(|l, r| l.0.cmp(&r.0));
    let expected: Vec<(String, Skip)> = ["b", "c", "d", "f", "g"]
        .iter()
        .map(|id| match report.get(id) {
            Some(Outcome::Skipped(s)) => (id.to_string(), s.clone()),
            o => panic!("{id}: {o:?}"),
        })
        .collect();
    assert_eq!(skips, expected);
}

#[tokio::test]
async fn the_summary_names_only_root_causes() {
    let log = Log::default();
    let nodes = vec![
        fail(&log, "role", &[]),
        ok(&log, "profile", &["role"]),
        ok(&log, "instance", &["profile"]),
        ok(&log, "secret", &[]),
    ];
    let report = run(nodes, &Limits::default(), &Cancel::new()).await;
    assert_eq!(report.root_causes(), vec!["role"]);
    let s = report.summary();
    assert_eq!(
        s,
        Summary {
            succeeded: 1,
            failed: vec!["role".into()],
            skipped: 2,
            cancelled: 0,
        }
    );
    assert_eq!(s.to_string(), "1 succeeded, 1 failed (role), 2 skipped");
    assert!(!report.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_a_root_cause_and_the_rest_finish() {
    let log = Log::default();
    let nodes = vec![
        Node::new("boom", Vec::<String>::new(), None, || async {
            panic!("bug in boom");
            #[allow(unreachable_code)]
            Ok::<(), Err>(())
        }),
        ok(&log, "after", &["boom"]),
        ok(&log, "other", &[]),
    ];
    let report = run(nodes, &Limits::default(), &Cancel::new()).await;
    assert_eq!(
        report.get("boom"),
        Some(&Outcome::Panicked("bug in boom".into()))
    );
    assert_eq!(report.get("after"), Some(&skipped_for(&["boom"])));
    assert_eq!(report.get("other"), Some(&Outcome::Succeeded));
    assert_eq!(report.root_causes(), vec!["boom"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_new_work_and_lets_running_jobs_finish() {
    // p and q run together (the barrier proves it); p cancels before meeting q, so both
    // must still finish, and nothing after them may start.
    let cancel = Cancel::new();
    let barrier = Barrier::new(2);
    let log = Log::default();
    let job = |id: &'static str, cancels: bool| {
        let (b, c, log) = (barrier.clone(), cancel.clone(), log.clone());
        Node::new(id, Vec::<String>::new(), Some("aws"), move || async move {
            log.push("start", id);
            if cancels {
                c.cancel();
            }
            b.wait().await;
            Ok::<(), Err>(())
        })
    };
    let nodes = vec![
        job("p", true),
        job("q", false),
        ok(&log, "r", &["p"]),
        ok(&log, "s", &["r", "q"]),
        fail(&log, "t", &["q"]),
    ];
    let report = run(nodes, &Limits::default(), &cancel).await;
    assert_eq!(log.ran(), set(&["p", "q"]));
    assert_eq!(report.get("p"), Some(&Outcome::Succeeded));
    assert_eq!(report.get("q"), Some(&Outcome::Succeeded));
    for id in ["r", "s", "t"] {
        assert_eq!(report.get(id), Some(&Outcome::Skipped(Skip::Cancelled)));
    }
    assert_eq!(report.summary().cancelled, 3);
    assert!(report.root_causes().is_empty());
}

#[tokio::test]
async fn cancel_keeps_queued_nodes_of_a_full_lane_from_starting() {
    // Limit 1: x runs alone and cancels; y was ready but queued, so it never starts.
    let cancel = Cancel::new();
    let (c, log) = (cancel.clone(), Log::default());
    let l2 = log.clone();
    let nodes = vec![
        Node::new("x", Vec::<String>::new(), Some("cn"), move || async move {
            l2.push("start", "x");
            c.cancel();
            Ok::<(), Err>(())
        }),
        logged(&log, "y", &[], Some("cn"), Ok(())),
    ];
    let report = run(nodes, &Limits::new(1), &cancel).await;
    assert_eq!(log.ran(), set(&["x"]));
    assert_eq!(report.get("y"), Some(&Outcome::Skipped(Skip::Cancelled)));
}

#[tokio::test]
async fn a_walk_cancelled_before_it_starts_runs_nothing() {
    let cancel = Cancel::new();
    cancel.cancel();
    let log = Log::default();
    let nodes = vec![
        fail(&log, "a", &[]),
        ok(&log, "b", &["a"]),
        ok(&log, "c", &[]),
    ];
    let report = run(nodes, &Limits::default(), &cancel).await;
    assert!(log.ran().is_empty());
    assert_eq!(report.summary().cancelled, 3);
}

#[tokio::test]
async fn a_dependency_failed_before_cancel_is_still_named() {
    // Limit 1: a runs first, fails and cancels; z never starts. c waits on both: it is
    // skipped for a (it could never have run), z merely for the cancel.
    let cancel = Cancel::new();
    let (c, log) = (cancel.clone(), Log::default());
    let nodes = vec![
        Node::new("a", Vec::<String>::new(), None, move || async move {
            c.cancel();
            Err::<(), Err>("a broke".into())
        }),
        ok(&log, "z", &[]),
        ok(&log, "c", &["a", "z"]),
    ];
    let report = run(nodes, &Limits::new(1), &cancel).await;
    assert!(log.ran().is_empty());
    assert_eq!(report.get("z"), Some(&Outcome::Skipped(Skip::Cancelled)));
    assert_eq!(report.get("c"), Some(&skipped_for(&["a"])));
    assert_eq!(report.root_causes(), vec!["a"]);
}

fn never_runs(ran: &Arc<AtomicBool>, id: &str, deps: &[&str]) -> Node<Err> {
    let ran = ran.clone();
    Node::new(id, deps.iter().copied(), None, move || async move {
        ran.store(true, Ordering::SeqCst);
        Ok::<(), Err>(())
    })
}

async fn graph_error(nodes: Vec<Node<Err>>) -> GraphError {
    walk(nodes, &Limits::default(), &Cancel::new(), |_| {})
        .await
        .expect_err("graph is invalid")
}

#[tokio::test]
async fn a_cycle_is_an_error_before_anything_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let nodes = vec![
        never_runs(&ran, "free", &[]),
        never_runs(&ran, "a", &["c"]),
        never_runs(&ran, "b", &["a", "free"]),
        never_runs(&ran, "c", &["b"]),
        never_runs(&ran, "behind", &["c"]),
    ];
    let e = graph_error(nodes).await;
    let GraphError::Cycle(cycle) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(
        cycle[..3].iter().cloned().collect::<BTreeSet<_>>(),
        set(&["a", "b", "c"])
    );
    assert!(e.to_string().starts_with("dependency cycle: "));
    assert!(!ran.load(Ordering::SeqCst));

    let e = graph_error(vec![never_runs(&ran, "me", &["me"])]).await;
    assert_eq!(e, GraphError::Cycle(vec!["me".into(), "me".into()]));
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn unknown_and_duplicate_ids_are_errors_before_anything_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let e = graph_error(vec![
        never_runs(&ran, "a", &[]),
        never_runs(&ran, "b", &["a", "nope"]),
    ])
    .await;
    assert_eq!(
        e,
        GraphError::UnknownDependency {
            id: "b".into(),
            dep: "nope".into()
        }
    );
    assert_eq!(e.to_string(), "`b` depends on unknown `nope`");
    let e = graph_error(vec![never_runs(&ran, "a", &[]), never_runs(&ran, "a", &[])]).await;
    assert_eq!(e, GraphError::Duplicate("a".into()));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn invert_reverses_edges_and_keeps_unknown_dependencies() {
    let log = Log::default();
    let inverted = invert(vec![
        ok(&log, "a", &[]),
        ok(&log, "b", &["a"]),
        ok(&log, "c", &["a", "b"]),
        ok(&log, "d", &["ghost"]),
    ]);
    let deps: BTreeMap<&str, &BTreeSet<String>> =
        inverted.iter().map(|n| (n.id.as_str(), &n.deps)).collect();
    assert_eq!(deps["a"], &set(&["b", "c"]));
    assert_eq!(deps["b"], &set(&["c"]));
    assert_eq!(deps["c"], &set(&[]));
    assert_eq!(deps["d"], &set(&["ghost"]));
    // Order and lanes are untouched.
    let ids: Vec<&str> = inverted.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inverted_graph_destroys_dependents_first() {
    let log = Log::default();
    let nodes = vec![
        logged(&log, "role", &[], Some("aws"), Ok(())),
        logged(&log, "profile", &["role"], Some("aws"), Ok(())),
        logged(&log, "instance", &["profile"], Some("aws"), Ok(())),
    ];
    let report = run(invert(nodes), &Limits::default(), &Cancel::new()).await;
    assert!(report.is_success());
    assert_eq!(log.starts(), ["instance", "profile", "role"]);
    assert!(log.at("end", "instance").unwrap() < log.at("start", "profile").unwrap());
    assert!(log.at("end", "profile").unwrap() < log.at("start", "role").unwrap());
}
