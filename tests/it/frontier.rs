//! The frontier test suite, run against both backends: the embedded frontier (one
//! process) and the shared one in a real redis-server (where "another worker" is
//! another process joining the same crawl), the latter also on a three-node Redis
//! Cluster. Same calls, same expectations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trawl::canon::HostKey;
use trawl::frontier::{
    Admission, Contact, Entry, Frontier, Lease, Limits, Next, Shared, SharedOptions, Unreachable,
};
use trawl::stats::ErrorKind;
use url::Url;

use crate::common::redis::{Cluster, Redis};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Redis,
    Cluster,
}

/// Where a shared crawl's Redis is: one server or a cluster.
enum Server {
    One(Redis),
    Cluster(Cluster),
}

impl Server {
    fn url(&self) -> String {
        match self {
            Server::One(r) => r.url(),
            Server::Cluster(c) => c.url(),
        }
    }
}

struct Harness {
    redis: Option<Server>,
    crawl: String,
    limits: Limits,
    first: Arc<Frontier>,
    joined: AtomicUsize,
}

fn limits(conc: usize, rate: f64, max_pages: u64) -> Limits {
    Limits {
        per_host_concurrency: conc,
        per_host_rate: rate,
        max_pages,
        ..Limits::default()
    }
}

fn options(
    url: String,
    crawl: &str,
    worker: String,
    limits: Limits,
    ttl: Duration,
) -> SharedOptions {
    SharedOptions {
        at: trawl::frontier::redis::Endpoint::new(&url),
        crawl: crawl.to_string(),
        worker,
        limits,
        lease_ttl: ttl,
    }
}

/// Another process joining the crawl `crawl` in `r` as `worker`.
async fn join(r: &Redis, crawl: &str, worker: &str, limits: Limits, ttl: Duration) -> Frontier {
    join_url(r.url(), crawl, worker, limits, ttl).await
}

async fn join_url(
    url: String,
    crawl: &str,
    worker: &str,
    limits: Limits,
    ttl: Duration,
) -> Frontier {
    let opts = options(url, crawl, worker.to_string(), limits, ttl);
    Frontier::shared(opts, &serde_json::Map::new())
        .await
        .expect("join")
}

/// The Redis backend of a frontier, for the Redis-only tests of what only it has
/// (heartbeats, lease expiry, adoption).
fn redis_backend(f: &Frontier) -> &Shared {
    match f {
        Frontier::Redis(s) => s,
        Frontier::Embedded(_) => panic!("not a Redis frontier"),
    }
}

impl Harness {
    async fn new(backend: Backend, conc: usize, rate: f64, max_pages: u64) -> Harness {
        Harness::with(backend, limits(conc, rate, max_pages)).await
    }

    async fn with(backend: Backend, limits: Limits) -> Harness {
        let redis = match backend {
            Backend::Embedded => None,
            Backend::Redis => Some(Server::One(Redis::start())),
            // Started off the runtime: forming a cluster waits on its nodes.
            Backend::Cluster => Some(Server::Cluster(
                tokio::task::spawn_blocking(Cluster::start)
                    .await
                    .expect("cluster"),
            )),
        };
        let crawl = "suite".to_string();
        let ttl = Duration::from_secs(30);
        let first = match &redis {
            None => Frontier::embedded(8, limits.clone(), None),
            Some(r) => join_url(r.url(), &crawl, "w0", limits.clone(), ttl).await,
        };
        Harness {
            redis,
            crawl,
            limits,
            first: Arc::new(first),
            joined: AtomicUsize::new(0),
        }
    }

    /// URLs queued, as the frontier's gauges say (the shared one's after a heartbeat).
    async fn queued(&self) -> u64 {
        self.first.beat("{}").await;
        self.first.gauges().queued
    }

    fn f(&self) -> &Frontier {
        &self.first
    }

    /// Another worker of the same crawl: a worker index of the same frontier
    /// (embedded), or another process joining it (Redis).
    async fn another(&self) -> (Arc<Frontier>, usize) {
        let n = self.joined.fetch_add(1, Ordering::SeqCst) + 1;
        match &self.redis {
            Some(r) => {
                let w = format!("w{n}");
                let f = join_url(
                    r.url(),
                    &self.crawl,
                    &w,
                    self.limits.clone(),
                    Duration::from_secs(30),
                )
                .await;
                (Arc::new(f), 0)
            }
            None => (self.first.clone(), n * 3 + 1),
        }
    }
}

fn entry(u: &str) -> Entry {
    Entry::new(Url::parse(u).unwrap(), 0)
}

async fn lease(f: &Frontier, worker: usize) -> Lease {
    match f.next(worker, 1).await {
        Next::Lease(l) => l,
        other => panic!("expected a lease, got {other:?}"),
    }
}

/// Nothing may be leased right now, but the crawl is not over.
async fn nothing_now(f: &Frontier, worker: usize) {
    match f.next(worker, 1).await {
        Next::Idle | Next::Wait(_) => {}
        other => panic!("expected nothing for now, got {other:?}"),
    }
}

/// Polls until a lease comes (at most `limit`).
async fn lease_within(f: &Frontier, worker: usize, limit: Duration) -> Lease {
    let start = Instant::now();
    for _ in 0..1000 {
        if let Next::Lease(l) = f.next(worker, 1).await {
            return l;
        }
        assert!(start.elapsed() < limit, "no lease within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no lease");
}

/// Polls until the crawl is over for `f` (at most 2 s): another process's ends
/// reach Redis on its next call, or on their own within 10 ms.
async fn done_within(f: &Frontier, worker: usize) {
    let start = Instant::now();
    for _ in 0..400 {
        match f.next(worker, 1).await {
            Next::Done => return,
            Next::Lease(l) => panic!("expected the end, got a lease of {}", l.entry.url),
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not over within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("not over");
}

async fn admits_once_and_finishes_when_nothing_is_left(b: Backend) {
    let h = Harness::new(b, 2, 0.0, 0).await;
    let f = h.f();
    assert!(f.push(entry("http://a.com/")).await.unwrap());
    assert!(!f.push(entry("http://a.com/")).await.unwrap());
    let l = lease(f, 0).await;
    nothing_now(f, 0).await;
    // Links pushed before completion keep the crawl alive.
    assert!(f.push(entry("http://b.com/")).await.unwrap());
    f.complete(l, None, &Contact::Unknown).await;
    let (other, w) = h.another().await;
    // The other worker sees the URL as seen too.
    assert!(!other.push(entry("http://b.com/")).await.unwrap());
    let l = lease(&other, w).await;
    assert_eq!(l.entry.url.as_str(), "http://b.com/");
    other
        .complete(l, Some(ErrorKind::Timeout), &Contact::Unknown)
        .await;
    done_within(&other, w).await;
    done_within(f, 0).await;
}

async fn every_worker_finds_one_hosts_work(b: Backend) {
    let h = Harness::new(b, 4, 0.0, 0).await;
    for i in 0..3 {
        h.f()
            .push(entry(&format!("http://one.com/{i}")))
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let (f, w) = h.another().await;
        let l = lease(&f, w).await;
        assert_eq!(l.host.as_str(), "http://one.com:80");
        got.push(l.entry.url.to_string());
    }
    got.sort();
    assert_eq!(
        got,
        ["http://one.com/0", "http://one.com/1", "http://one.com/2"]
    );
}

async fn page_budget_stops_fresh_leases_but_lets_retries_finish(b: Backend) {
    let h = Harness::new(b, 4, 0.0, 2).await;
    let f = h.f();
    for i in 0..5 {
        f.push(entry(&format!("http://a.com/{i}"))).await.unwrap();
    }
    let a = lease(f, 0).await;
    let mut b2 = lease(f, 0).await;
    nothing_now(f, 0).await;
    f.complete(a, None, &Contact::Unknown).await;
    b2.entry.attempt = 1;
    f.retry(b2, Duration::ZERO, &Contact::Unknown).await;
    let b2 = lease(f, 0).await;
    assert_eq!(b2.entry.attempt, 1);
    f.complete(b2, None, &Contact::Unknown).await;
    assert!(matches!(f.next(0, 1).await, Next::Done));
    assert_eq!(h.queued().await, 3);
}

async fn a_spent_budget_never_strands_a_retry(b: Backend) {
    // Budget 2, both spent on host a. Then a retry and a fresh URL handed back (a
    // robots.txt fetch, a shutdown) wait on a while b may take the freed budget:
    // the retry must still go, and the crawl end.
    let h = Harness::new(b, 4, 0.0, 2).await;
    let f = h.f();
    f.push(entry("http://a.com/1")).await.unwrap();
    f.push(entry("http://a.com/2")).await.unwrap();
    let mut first = lease(f, 0).await;
    let second = lease(f, 0).await;
    f.push(entry("http://b.com/1")).await.unwrap();
    let retried_url = first.entry.url.clone();
    first.entry.attempt = 1;
    f.retry(first, Duration::ZERO, &Contact::Unknown).await;
    f.release(second).await;
    let mut saw_retry = false;
    let mut done = false;
    for _ in 0..50 {
        match f.next(0, 1).await {
            Next::Lease(l) => {
                saw_retry |= l.entry.url == retried_url && l.entry.attempt == 1;
                f.complete(l, None, &Contact::Unknown).await;
            }
            Next::Done => {
                done = true;
                break;
            }
            Next::Idle | Next::Wait(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(saw_retry, "the retry went");
    assert!(done, "and the crawl ended");
}

async fn released_leases_come_back(b: Backend) {
    let h = Harness::new(b, 1, 0.0, 0).await;
    h.f().push(entry("http://a.com/x")).await.unwrap();
    let l = lease(h.f(), 0).await;
    h.f().release(l).await;
    let (other, w) = h.another().await;
    let l = lease(&other, w).await;
    assert_eq!(l.entry.url.as_str(), "http://a.com/x");
    other.complete(l, None, &Contact::Unknown).await;
    done_within(h.f(), 0).await;
}

async fn per_host_concurrency_is_a_limit_across_workers(b: Backend) {
    let h = Harness::new(b, 1, 0.0, 0).await;
    let f = h.f();
    f.push(entry("http://a.com/1")).await.unwrap();
    f.push(entry("http://a.com/2")).await.unwrap();
    f.push(entry("http://b.com/1")).await.unwrap();
    let first = lease(f, 0).await;
    let (other, w) = h.another().await;
    let second = lease(&other, w).await;
    assert_ne!(first.host, second.host, "one at a time per host");
    nothing_now(&other, w).await;
    nothing_now(f, 0).await;
    // a.com's second URL goes once its first is done.
    let (a, b_lease) = if first.host.as_str() == "http://a.com:80" {
        (first, second)
    } else {
        (second, first)
    };
    f.complete(b_lease, None, &Contact::Unknown).await;
    nothing_now(&other, w).await;
    f.complete(a, None, &Contact::Unknown).await;
    let third = lease_within(&other, w, Duration::from_secs(2)).await;
    assert_eq!(third.entry.url.as_str(), "http://a.com/2");
}

async fn per_host_rate_spaces_a_hosts_leases(b: Backend) {
    // 10 requests/s: 100 ms apart, whoever asks.
    let h = Harness::new(b, 4, 10.0, 0).await;
    for i in 0..3 {
        h.f()
            .push(entry(&format!("http://a.com/{i}")))
            .await
            .unwrap();
    }
    let (other, w) = h.another().await;
    let mut times = Vec::new();
    for i in 0..3 {
        let (f, w) = if i % 2 == 0 { (h.f(), 0) } else { (&*other, w) };
        let l = lease_within(f, w, Duration::from_secs(2)).await;
        times.push(Instant::now());
        f.complete(l, None, &Contact::Unknown).await;
    }
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(90),
            "leases only {gap:?} apart"
        );
    }
}

/// `[[hosts]]` politeness: the first table matching a host gives it its own
/// concurrency and rate, whoever asks; other hosts keep the crawl's.
async fn a_hosts_table_sets_its_hosts_rate_and_concurrency(b: Backend) {
    let table =
        |pattern: &str, rate: Option<f64>, concurrency: Option<usize>| trawl::config::HostRule {
            pattern: pattern.into(),
            rate,
            concurrency,
            ..Default::default()
        };
    let rules = [
        table("wide.test", None, Some(3)),
        table("*.slow.test", Some(10.0), None),
        // Never reached for x.slow.test: the first match wins.
        table("x.slow.test", None, Some(5)),
    ];
    let limits = Limits {
        hosts: trawl::frontier::HostLimits::from_rules(&rules),
        ..limits(1, 0.0, 0)
    };
    let h = Harness::with(b, limits).await;
    let f = h.f();
    for i in 0..3 {
        for host in ["wide.test", "a.test", "x.slow.test"] {
            f.push(entry(&format!("http://{host}/{i}"))).await.unwrap();
        }
    }
    // wide.test: three at once; a.test: one at a time (the crawl's concurrency).
    let (other, w) = h.another().await;
    let mut wide = Vec::new();
    let mut plain = Vec::new();
    let mut slow = Vec::new();
    let start = Instant::now();
    for _ in 0..40 {
        let from_other = wide.len() % 2 == 1;
        let (f, w) = if from_other { (&*other, w) } else { (f, 0) };
        match f.next(w, 1).await {
            Next::Lease(l) => match l.host.as_str() {
                "http://wide.test:80" => wide.push(l),
                "http://a.test:80" => plain.push(l),
                _ => slow.push((Instant::now(), l, from_other)),
            },
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    assert_eq!(wide.len(), 3, "wide.test's table allows three in flight");
    assert_eq!(plain.len(), 1, "a.test keeps the crawl's one");
    // x.slow.test: ten a second, one in flight at a time (the crawl's), so each
    // is completed before the next.
    assert_eq!(slow.len(), 1, "x.slow.test keeps the crawl's concurrency");
    // A lease ends through the process that took it.
    let (at, first, from_other) = slow.pop().unwrap();
    match from_other {
        true => other.complete(first, None, &Contact::Unknown).await,
        false => f.complete(first, None, &Contact::Unknown).await,
    };
    let next = lease_within(f, 0, Duration::from_secs(3)).await;
    assert_eq!(next.host.as_str(), "http://x.slow.test:80");
    let gap = at.elapsed();
    assert!(gap >= Duration::from_millis(90), "only {gap:?} apart");
}

/// A seed list's hosts: a started host goes again as soon as its interval allows,
/// before hosts waiting since earlier that were never started; those take the turns
/// it leaves.
async fn a_started_host_goes_before_hosts_not_started(b: Backend) {
    let h = Harness::new(b, 1, 5.0, 0).await; // 200 ms apart
    let f = h.f();
    for host in ["a", "b", "c", "d"] {
        for p in 1..=2 {
            f.push(entry(&format!("http://{host}.test/{p}")))
                .await
                .unwrap();
        }
    }
    // Two hosts start; the first waits its interval while the second takes a turn.
    let mut started = Vec::new();
    for _ in 0..2 {
        let l = lease_within(f, 0, Duration::from_secs(2)).await;
        assert!(l.entry.url.path() == "/1", "{}", l.entry.url);
        started.push(l.entry.url.host_str().unwrap_or("").to_string());
        f.complete(l, None, &Contact::Unknown).await;
    }
    assert_ne!(started[0], started[1]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    // The other two have waited longer, but the started ones go first.
    let mut next = Vec::new();
    for _ in 0..4 {
        let l = lease_within(f, 0, Duration::from_secs(2)).await;
        next.push(l.entry.url.clone());
        f.complete(l, None, &Contact::Unknown).await;
    }
    for (i, u) in next.iter().enumerate() {
        let host = u.host_str().unwrap_or("").to_string();
        match i < 2 {
            true => assert!(started.contains(&host) && u.path() == "/2", "{i}: {u}"),
            false => assert!(!started.contains(&host) && u.path() == "/1", "{i}: {u}"),
        }
    }
}

async fn a_retry_pauses_the_host(b: Backend) {
    let h = Harness::new(b, 2, 0.0, 0).await;
    let f = h.f();
    f.push(entry("http://a.com/1")).await.unwrap();
    let mut l = lease(f, 0).await;
    l.entry.attempt = 1;
    let at = Instant::now();
    f.retry(l, Duration::from_millis(300), &Contact::Unknown)
        .await;
    nothing_now(f, 0).await;
    let l = lease_within(f, 0, Duration::from_secs(3)).await;
    assert!(
        at.elapsed() >= Duration::from_millis(280),
        "{:?}",
        at.elapsed()
    );
    assert_eq!(l.entry.attempt, 1);
}

/// A host held (its slots used by a rendered page's own requests) gives its next
/// URL only when the hold ends; another host is not held.
async fn a_held_host_waits(b: Backend) {
    let h = Harness::new(b, 2, 0.0, 0).await;
    let f = h.f();
    f.push(entry("http://a.com/1")).await.unwrap();
    f.push(entry("http://a.com/2")).await.unwrap();
    let l = lease(f, 0).await;
    let host = l.host.clone();
    let at = Instant::now();
    f.hold(&host, Duration::from_millis(400)).await;
    f.complete(l, None, &Contact::Unknown).await;
    f.push(entry("http://b.com/1")).await.unwrap();
    let other = lease_within(f, 0, Duration::from_secs(3)).await;
    assert_eq!(other.entry.url.as_str(), "http://b.com/1");
    f.complete(other, None, &Contact::Unknown).await;
    let l = lease_within(f, 0, Duration::from_secs(3)).await;
    assert_eq!(l.host, host);
    assert!(
        at.elapsed() >= Duration::from_millis(380),
        "{:?}",
        at.elapsed()
    );
}

async fn crawl_delay_slows_a_host(b: Backend) {
    let h = Harness::new(b, 4, 0.0, 0).await;
    let f = h.f();
    for i in 0..3 {
        f.push(entry(&format!("http://a.com/{i}"))).await.unwrap();
    }
    let l = lease(f, 0).await;
    f.set_crawl_delay(&l.host, Duration::from_millis(200)).await;
    assert_eq!(f.host_interval(&l.host), Some(Duration::from_millis(200)));
    f.complete(l, None, &Contact::Unknown).await;
    let mut last = Instant::now();
    for _ in 0..2 {
        let l = lease_within(f, 0, Duration::from_secs(3)).await;
        let gap = last.elapsed();
        assert!(
            gap >= Duration::from_millis(180),
            "only {gap:?} after the previous"
        );
        last = Instant::now();
        f.complete(l, None, &Contact::Unknown).await;
    }
}

async fn a_hosts_url_budget_holds_across_workers(b: Backend) {
    let h = Harness::with(
        b,
        Limits {
            max_pages_per_host: 3,
            ..limits(4, 0.0, 0)
        },
    )
    .await;
    let f = h.f();
    let batch = |host: &str, from: usize| {
        (from..from + 3)
            .map(|i| entry(&format!("http://{host}/{i}")))
            .collect::<Vec<_>>()
    };
    let (got, _) = f.push_many(batch("a.com", 0)).await.unwrap();
    assert_eq!(got, [const { Admission::New }; 3]);
    // A duplicate does not spend the budget; the host's fourth new URL does not fit.
    let mut more = vec![entry("http://a.com/0")];
    more.extend(batch("a.com", 3));
    let (got, _) = f.push_many(more).await.unwrap();
    // A refusal names its host (the crawl warns once per host).
    let spent = || Admission::HostBudget(HostKey::of(&Url::parse("http://a.com/").unwrap()));
    assert_eq!(got, [Admission::Seen, spent(), spent(), spent()]);
    // Another worker (process) sees the same budget; other hosts have their own.
    let (other, _) = h.another().await;
    let (got, _) = other.push_many(batch("a.com", 10)).await.unwrap();
    assert_eq!(got, [spent(), spent(), spent()]);
    let (got, _) = other.push_many(batch("b.com", 0)).await.unwrap();
    assert_eq!(got, [const { Admission::New }; 3]);
}

async fn a_crawl_delay_is_clamped_to_max_crawl_delay(b: Backend) {
    let h = Harness::with(
        b,
        Limits {
            max_crawl_delay: Duration::from_millis(150),
            ..limits(2, 0.0, 0)
        },
    )
    .await;
    let f = h.f();
    f.push(entry("http://a.com/1")).await.unwrap();
    let l = lease(f, 0).await;
    f.set_crawl_delay(&l.host, Duration::from_secs(3600)).await;
    assert_eq!(f.host_interval(&l.host), Some(Duration::from_millis(150)));
}

fn failed(cause: &str) -> Contact {
    Contact::Failed(cause.to_string())
}

fn rule(after: u32, window: Duration, gap: Duration) -> Unreachable {
    Unreachable { after, window, gap }
}

/// Failures closer together than the gap are one outage moment (every request in
/// flight failing at once, a server restarting): they count once.
async fn failures_closer_than_the_gap_count_once(b: Backend) {
    let h = Harness::with(
        b,
        Limits {
            unreachable: rule(2, Duration::from_secs(120), Duration::from_millis(400)),
            ..limits(4, 0.0, 0)
        },
    )
    .await;
    let f = h.f();
    for i in 0..4 {
        f.push(entry(&format!("http://blip.test/{i}")))
            .await
            .unwrap();
    }
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(lease_within(f, 0, Duration::from_secs(5)).await);
    }
    // Four requests in flight fail at the same moment: one counted failure.
    for l in held {
        assert!(
            !f.retry(l, Duration::ZERO, &failed("connect: refused"))
                .await
        );
    }
    let l = lease_within(f, 0, Duration::from_secs(5)).await;
    assert!(l.unreachable.is_none());
    // A failure after the gap is the second: the host is declared.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        f.retry(l, Duration::ZERO, &failed("connect: refused"))
            .await
    );
}

/// Connection failures in a row make a host unreachable: from then on its URLs
/// (queued, retried, or admitted later) go at once, past politeness, each marked
/// with the cause; another host is untouched. A response resets the count.
async fn a_host_failing_in_a_row_is_declared_unreachable(b: Backend) {
    // One request at a time, and the last failure pauses the host for an hour:
    // were politeness kept, the 51 URLs would take days.
    let h = Harness::with(
        b,
        Limits {
            unreachable: rule(3, Duration::from_secs(120), Duration::ZERO),
            ..limits(1, 0.0, 0)
        },
    )
    .await;
    let f = h.f();
    for i in 0..50 {
        f.push(entry(&format!("http://dead.test/{i}")))
            .await
            .unwrap();
    }
    f.push(entry("http://live.test/")).await.unwrap();
    let mut dead = None;
    let mut live = None;
    for _ in 0..2 {
        let l = lease_within(f, 0, Duration::from_secs(5)).await;
        assert!(l.unreachable.is_none());
        match l.host.as_str() {
            h if h.contains("dead.test") => dead = Some(l),
            _ => live = Some(l),
        }
    }
    let (dead, live) = (
        dead.expect("dead.test leased"),
        live.expect("live.test leased"),
    );
    assert!(!f.complete(live, None, &Contact::Reached).await);
    // Two failures, then an answer: the count starts again.
    assert!(
        !f.retry(dead, Duration::ZERO, &failed("connect: refused"))
            .await
    );
    let again = lease_within(f, 0, Duration::from_secs(5)).await;
    assert!(
        !f.retry(again, Duration::ZERO, &failed("connect: refused"))
            .await
    );
    let again = lease_within(f, 0, Duration::from_secs(5)).await;
    assert!(!f.retry(again, Duration::ZERO, &Contact::Reached).await);
    let mut tipped = false;
    for n in 0..3 {
        let l = lease_within(f, 0, Duration::from_secs(5)).await;
        assert!(l.unreachable.is_none(), "declared after {n} failures only");
        // The last failure pauses the host for an hour.
        let pause = Duration::from_secs(if n == 2 { 3600 } else { 0 });
        tipped = f.retry(l, pause, &failed("connect: refused")).await;
    }
    assert!(tipped, "the third failure in a row declares the host");
    // All of them now go at once, all leased together past the concurrency of 1,
    // each marked, and a URL admitted later too.
    f.push(entry("http://dead.test/late")).await.unwrap();
    let start = Instant::now();
    let mut held = Vec::new();
    for _ in 0..51 {
        let l = lease_within(f, 0, Duration::from_secs(5)).await;
        assert_eq!(l.unreachable.as_deref(), Some("connect: refused"));
        held.push(l);
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    for l in held {
        assert!(
            !f.complete(l, Some(ErrorKind::Unreachable), &Contact::Unknown)
                .await
        );
    }
    match f.next(0, 1).await {
        Next::Done => {}
        other => panic!("expected the crawl to be done, got {other:?}"),
    }
}

/// Failures spread wider than the window never add up to an unreachable host.
async fn failures_outside_the_window_are_forgotten(b: Backend) {
    let h = Harness::with(
        b,
        Limits {
            unreachable: rule(2, Duration::from_millis(300), Duration::ZERO),
            ..limits(1, 0.0, 0)
        },
    )
    .await;
    let f = h.f();
    f.push(entry("http://flaky.test/")).await.unwrap();
    for _ in 0..3 {
        let l = lease_within(f, 0, Duration::from_secs(5)).await;
        assert!(l.unreachable.is_none());
        assert!(
            !f.retry(l, Duration::ZERO, &failed("timeout: deadline"))
                .await
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    let l = lease_within(f, 0, Duration::from_secs(5)).await;
    assert!(l.unreachable.is_none());
    // Two inside the window do.
    assert!(
        !f.retry(l, Duration::ZERO, &failed("timeout: deadline"))
            .await
    );
    let l = lease_within(f, 0, Duration::from_secs(5)).await;
    assert!(
        f.retry(l, Duration::ZERO, &failed("timeout: deadline"))
            .await
    );
}

/// A process still admitting its seeds (in chunks, while its workers already
/// fetch) holds the crawl open: an empty frontier between two chunks is not the
/// end, for it nor (shared) for the rest of the fleet. It ends once the process
/// says its seeds are in, or (shared) once it leaves.
async fn seeding_holds_an_empty_frontier_open(b: Backend) {
    let h = Harness::new(b, 2, 0.0, 0).await;
    let f = h.f();
    f.beat("{}").await;
    f.seeding(true).await;
    assert!(f.push(entry("http://a.com/")).await.unwrap());
    let l = lease(f, 0).await;
    f.complete(l, None, &Contact::Unknown).await;
    let (other, w) = h.another().await;
    for _ in 0..3 {
        nothing_now(f, 0).await;
        nothing_now(&other, w).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next chunk comes; the other worker takes it.
    assert!(f.push(entry("http://b.com/")).await.unwrap());
    let l = lease_within(&other, w, Duration::from_secs(5)).await;
    other.complete(l, None, &Contact::Unknown).await;
    nothing_now(&other, w).await;
    f.seeding(false).await;
    done_within(&other, w).await;
    done_within(f, 0).await;
    if let Backend::Embedded = b {
        return;
    }
    // A process that leaves while seeding holds nobody.
    let (third, _) = h.another().await;
    third.beat("{}").await;
    third.seeding(true).await;
    nothing_now(f, 0).await;
    third.leave("{}", 0, false).await;
    done_within(f, 0).await;
}

/// Each suite test, once per backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Embedded).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Redis).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Cluster).await
                }
            )*
        }
    };
}

suite!(
    admits_once_and_finishes_when_nothing_is_left,
    seeding_holds_an_empty_frontier_open,
    every_worker_finds_one_hosts_work,
    page_budget_stops_fresh_leases_but_lets_retries_finish,
    released_leases_come_back,
    a_spent_budget_never_strands_a_retry,
    per_host_concurrency_is_a_limit_across_workers,
    per_host_rate_spaces_a_hosts_leases,
    a_hosts_table_sets_its_hosts_rate_and_concurrency,
    a_started_host_goes_before_hosts_not_started,
    a_retry_pauses_the_host,
    a_held_host_waits,
    crawl_delay_slows_a_host,
    a_hosts_url_budget_holds_across_workers,
    a_crawl_delay_is_clamped_to_max_crawl_delay,
    a_host_failing_in_a_row_is_declared_unreachable,
    failures_outside_the_window_are_forgotten,
    failures_closer_than_the_gap_count_once,
);

/// Redis only: a process that stops sending heartbeats loses its leases to the
/// others once `lease_ttl` has passed (the embedded frontier has one process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_leases_of_a_silent_process_go_back_after_the_ttl() {
    let r = Redis::start();
    let ttl = Duration::from_millis(1000);
    let dead = join(&r, "ttl", "dead", limits(2, 0.0, 0), ttl).await;
    let live = join(&r, "ttl", "live", limits(2, 0.0, 0), ttl).await;
    dead.push(entry("http://a.com/1")).await.unwrap();
    let shared_dead = redis_backend(&dead);
    shared_dead.beat("{}").await;
    let _taken = lease(&dead, 0).await;
    let shared_live = redis_backend(&live);
    let fleet = shared_live.beat("{}").await;
    assert_eq!((fleet.queued, fleet.leased, fleet.reaped), (0, 1, 0));
    nothing_now(&live, 0).await;
    // `dead` never beats again; `live` keeps beating.
    let start = Instant::now();
    let mut reaped = 0;
    for _ in 0..100 {
        reaped += shared_live.beat("{}").await.reaped;
        if reaped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reaped, 1);
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    let l = lease(&live, 0).await;
    assert_eq!(l.entry.url.as_str(), "http://a.com/1");
    live.complete(l, None, &Contact::Unknown).await;
    // The dead process's late completion changes nothing.
    dead.complete(_taken, None, &Contact::Unknown).await;
    assert!(matches!(live.next(0, 1).await, Next::Done));
    let fleet = shared_live.beat("{}").await;
    assert_eq!((fleet.queued, fleet.leased, fleet.done), (0, 0, 1));
}

/// Redis only: a process killed while seeding leaves its name in the seeding set;
/// a new process of the same name clears it when it joins, and the crawl still
/// ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_process_killed_while_seeding_holds_nobody_once_its_name_rejoins() {
    let r = Redis::start();
    let ttl = Duration::from_millis(500);
    let killed = join(&r, "seed", "w0", limits(2, 0.0, 0), ttl).await;
    killed.beat("{}").await;
    killed.seeding(true).await;
    drop(killed);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let again = join(&r, "seed", "w0", limits(2, 0.0, 0), ttl).await;
    again.join(&[], "{}").await;
    done_within(&again, 0).await;
}

/// Redis only: a `take` whose reply never reached the process (a dropped
/// connection) leaves leases in Redis the process does not know of; its next
/// heartbeat finds and adopts them, so they are neither lost nor leased for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_lease_whose_reply_was_lost_is_adopted() {
    let r = Redis::start();
    let f = join(
        &r,
        "adopt",
        "w1",
        limits(4, 0.0, 0),
        Duration::from_secs(30),
    )
    .await;
    f.push(entry("http://a.com/1")).await.unwrap();
    // The same `take` the process sends, run on its behalf; the reply is dropped.
    let client = ::redis::Client::open(r.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let script = ::redis::Script::new(include_str!("../../src/frontier/redis/redis.lua"));
    let _lost_reply: ::redis::Value = script
        .key("trawl:{adopt}:c")
        .arg("trawl:{adopt}:")
        .arg("take")
        .arg("")
        .arg("w1")
        .arg(1)
        .arg(4)
        .arg(0)
        .arg(0)
        .invoke_async(&mut conn)
        .await
        .unwrap();
    nothing_now(&f, 0).await;
    let fleet = redis_backend(&f).beat("{}").await;
    assert_eq!((fleet.leased, fleet.mine), (1, 1));
    let l = lease(&f, 0).await;
    assert_eq!(l.entry.url.as_str(), "http://a.com/1");
    f.complete(l, None, &Contact::Unknown).await;
    assert!(matches!(f.next(0, 1).await, Next::Done));
}

/// Redis only: when nobody could beat for a while (Redis was away), nobody is
/// taken for dead at the first heartbeat after; a process that stays silent is,
/// a lease_ttl later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_an_outage_longer_than_the_ttl_reaps_no_live_process() {
    let r = Redis::start();
    let ttl = Duration::from_secs(2);
    let a = join(&r, "outage", "a", limits(2, 0.0, 0), ttl).await;
    let b = join(&r, "outage", "b", limits(2, 0.0, 0), ttl).await;
    a.push(entry("http://a.com/1")).await.unwrap();
    let (sa, sb) = (redis_backend(&a), redis_backend(&b));
    sa.beat("{}").await;
    sb.beat("{}").await;
    let _held_by_b = lease(&b, 0).await;
    // Nobody beats for 3.5 s (more than the ttl): as if Redis had been down.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(sa.beat("{}").await.reaped, 0, "b is not taken for dead");
    // b stays silent: a ttl later it is.
    let mut reaped = 0;
    for _ in 0..60 {
        reaped += sa.beat("{}").await.reaped;
        if reaped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reaped, 1);
}

/// Redis only: heartbeats racing with fast completions never hand this process a
/// lease a second time (adoption re-checks that Redis still holds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_heartbeats_racing_completions_lease_each_url_once() {
    let r = Redis::start();
    let f = Arc::new(join(&r, "race", "w1", limits(8, 0.0, 0), Duration::from_secs(30)).await);
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.push(entry(&format!("http://h{}.com/{i}", i % 20)));
    }
    f.push_many(batch).await.unwrap();
    let beating = f.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_beats = stop.clone();
    let beats = tokio::spawn(async move {
        for _ in 0..100_000 {
            if stop_beats.load(Ordering::SeqCst) {
                break;
            }
            redis_backend(&beating).beat("{}").await;
        }
    });
    let mut seen = std::collections::HashSet::new();
    let start = Instant::now();
    let mut done = false;
    for _ in 0..100_000 {
        match f.next(0, 16).await {
            Next::Lease(l) => {
                assert!(
                    seen.insert(l.entry.url.to_string()),
                    "{} leased twice",
                    l.entry.url
                );
                f.complete(l, None, &Contact::Unknown).await;
            }
            Next::Done => {
                done = true;
                break;
            }
            _ => tokio::task::yield_now().await,
        }
        assert!(start.elapsed() < Duration::from_secs(60), "took too long");
    }
    stop.store(true, Ordering::SeqCst);
    beats.await.unwrap();
    assert!(done);
    assert_eq!(seen.len(), 2000);
}

/// Embedded only (the shared frontier keeps everything in Redis): a resumed durable
/// frontier still tells a URL seen before from a new one once a host's URL budget
/// is spent, though its memory no longer holds the earlier run's URLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_resumed_frontier_tells_seen_from_over_budget() {
    use trawl::frontier::{Recorded, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frontier.redb");
    let budget = Limits {
        max_pages_per_host: 2,
        ..limits(2, 0.0, 0)
    };
    {
        let store = Arc::new(Store::open(&path).unwrap());
        let f = Frontier::embedded(2, budget.clone(), Some(store.clone()));
        let (got, _) = f
            .push_many(vec![entry("http://a.com/1"), entry("http://a.com/2")])
            .await
            .unwrap();
        assert_eq!(got, [const { Admission::New }; 2]);
        store.flush().unwrap();
        store.close().unwrap();
    }
    let store = Arc::new(Store::open(&path).unwrap());
    let f = Frontier::embedded(2, budget, Some(store));
    assert_eq!(f.resume(&Recorded::default()).unwrap(), (2, 0));
    let (got, _) = f
        .push_many(vec![entry("http://a.com/1"), entry("http://a.com/3")])
        .await
        .unwrap();
    let host = HostKey::of(&Url::parse("http://a.com/").unwrap());
    assert_eq!(got, [Admission::Seen, Admission::HostBudget(host)]);
}
