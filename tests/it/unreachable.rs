//! A dead host must not hold the crawl hostage: after a few connection-level
//! failures in a row, its URLs are recorded as `host_unreachable` without a fetch,
//! on both frontiers, for a refused port, a name that does not resolve and a host
//! that accepts and never answers.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::redis::Redis;
use crate::common::*;

/// Every record of a crawl's output directory, whatever process wrote it.
fn all_records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("pages") && name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for line in text.lines() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

fn stats_of(dir: &Path) -> Value {
    for name in ["stats.json", "stats-w1.json"] {
        if dir.join(name).exists() {
            return read_json(&dir.join(name));
        }
    }
    panic!("no stats file in {}", dir.display());
}

/// A port on 127.0.0.1 that refuses connections (bound, then let go).
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A live page linking to 50 URLs of `dead` (an origin).
fn live_site_linking_to(site: &Site, dead: &str) {
    let links: Vec<String> = (0..50).map(|i| format!("{dead}/p{i}")).collect();
    let refs: Vec<&str> = links.iter().map(String::as_str).collect();
    site.set("/", html_page("live", &refs));
}

/// Checks the records: the live page fetched, each of the 50 dead URLs recorded
/// once, at most a few of them after a real attempt and the rest as
/// `host_unreachable` naming `cause`; one host declared unreachable.
fn assert_dead_host_recorded(dir: &Path, dead: &str, cause: &str) {
    let records = all_records(dir);
    let counts = url_counts(&records);
    let dead_records: Vec<&Value> = records
        .iter()
        .filter(|r| r["url"].as_str().unwrap().starts_with(dead))
        .collect();
    assert_eq!(
        dead_records.len(),
        50,
        "one record per dead URL: {counts:?}"
    );
    assert!(counts.values().all(|n| *n == 1), "no URL twice: {counts:?}");
    let unreachable: Vec<&str> = dead_records
        .iter()
        .filter_map(|r| r["error"].as_str())
        .filter(|e| e.starts_with("host_unreachable: "))
        .collect();
    assert!(
        unreachable.len() >= 44,
        "most dead URLs recorded without a fetch, got {} of 50: {:?}",
        unreachable.len(),
        dead_records.iter().map(|r| &r["error"]).collect::<Vec<_>>()
    );
    assert!(
        unreachable.iter().all(|e| e.contains(cause)),
        "the record names the last cause ({cause}): {:?}",
        unreachable.first()
    );
    let stats = stats_of(dir);
    assert_eq!(stats["hosts_unreachable"], 1, "{stats}");
    assert_eq!(
        stats["failures"]["host_unreachable"],
        unreachable.len(),
        "{stats}"
    );
    assert_eq!(stats["completed"], true, "{stats}");
}

const FAST: [&str; 6] = [
    "--scope",
    "any",
    "--allow-private",
    "--retry-backoff",
    "0.2",
    "-q",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_port_is_declared_unreachable_and_the_crawl_ends() {
    let site = Site::start().await;
    let dead = format!("http://127.0.0.1:{}", refused_port());
    live_site_linking_to(&site, &dead);
    let start = Instant::now();
    let mut args = vec![site.url("/")];
    args.extend(FAST.map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, dir) = crawl(&refs).await;
    let took = start.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Before: 5 records after 100 s. Now: within seconds of the live page.
    assert!(took < Duration::from_secs(15), "crawl took {took:?}");
    assert_dead_host_recorded(dir.path(), &dead, "connect: ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_port_is_declared_unreachable_on_the_redis_frontier_too() {
    let redis = Redis::start();
    let site = Site::start().await;
    let dead = format!("http://127.0.0.1:{}", refused_port());
    live_site_linking_to(&site, &dead);
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["crawl".into(), site.url("/")];
    for a in [
        "--frontier",
        &redis.url(),
        "--crawl-id",
        "dead",
        "--worker-id",
        "w1",
    ] {
        args.push(a.into());
    }
    args.extend(["--out".into(), dir.path().display().to_string()]);
    args.extend(FAST.map(String::from));
    let start = Instant::now();
    let out = run_trawl_async(args, Duration::from_secs(90)).await;
    let took = start.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(took < Duration::from_secs(15), "crawl took {took:?}");
    assert_dead_host_recorded(dir.path(), &dead, "connect: ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_accepts_and_never_answers_is_declared_unreachable() {
    let site = Site::start().await;
    let hang = Site::start().await;
    hang.set("/robots.txt", Reply::Hang);
    for i in 0..50 {
        hang.set(&format!("/p{i}"), Reply::Hang);
    }
    live_site_linking_to(&site, &hang.origin());
    let mut args = vec![site.url("/"), "--timeout".into(), "1".into()];
    args.extend(FAST.map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let start = Instant::now();
    let (out, dir) = crawl(&refs).await;
    let took = start.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Three timeouts of 1 s each, with short backoffs between them.
    assert!(took < Duration::from_secs(20), "crawl took {took:?}");
    assert_dead_host_recorded(dir.path(), &hang.origin(), "timeout: ");
    assert!(
        hang.hits().len() <= 6,
        "the hanging host was asked only a few times: {:?}",
        hang.paths()
    );
}

/// A name that does not resolve. The crawl runs in a private network namespace:
/// its DNS queries fail at once and cannot leave the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_name_is_declared_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let dead = "http://no-such-host.invalid";
    let seeds: String = (0..50).map(|i| format!("{dead}/p{i}\n")).collect();
    let seed_file = dir.path().join("seeds.txt");
    std::fs::write(&seed_file, seeds).unwrap();
    let out_dir = dir.path().join("out");
    let args = [
        "crawl".to_string(),
        "--seeds".into(),
        seed_file.display().to_string(),
        "--out".into(),
        out_dir.display().to_string(),
        "--retry-backoff".into(),
        "0.2".into(),
        "-q".into(),
    ];
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_trawl_isolated(&refs, Duration::from_secs(90))
    })
    .await
    .unwrap();
    let took = start.elapsed();
    // Not one URL reached a server: a dead crawl, exit 4 with one line even with -q.
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    out.assert_stderr_has(&["no URL reached a server (", " dns", "): exit 4"]);
    assert!(took < Duration::from_secs(15), "crawl took {took:?}");
    assert_dead_host_recorded(&out_dir, dead, "dns: ");
}

/// A healthy host with a few pages slower than the timeout is not given up: each
/// slow page's retries are the same failure, and the pages between answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_pages_on_a_healthy_host_do_not_condemn_it() {
    let site = Site::start().await;
    tree_site_routes(&site, 120, 6);
    for p in [tree_page_path(10), tree_page_path(11), tree_page_path(12)] {
        site.set(
            &p,
            Reply::delayed(Duration::from_secs(3), html_page("slow", &[])),
        );
    }
    let dir = crawl_site(&site, &["--timeout=1", "--retry-backoff=0.2"]).await;
    let stats = stats(dir.path());
    assert_eq!(stats["hosts_unreachable"], 0, "{stats}");
    assert_eq!(stats["failures"]["timeout"], 3, "{stats}");
    assert!(
        stats["failures"].get("host_unreachable").is_none(),
        "{stats}"
    );
    // Every page answered but the three slow ones (whose links were never seen).
    let pages = stats["pages"].as_u64().unwrap();
    assert!(pages > 90, "{stats}");
    assert_eq!(stats["pages_ok"].as_u64().unwrap(), pages - 3, "{stats}");
}

/// A host the address guard refuses is given up at once: its URLs are recorded
/// `blocked:` without each waiting for the host's rate slot (one a second by
/// default). 127.0.0.2 is loopback but not the seed's address: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_hosts_urls_do_not_wait_their_turn() {
    let site = Site::start().await;
    let blocked = format!("http://127.0.0.2:{}", site.port());
    let links: Vec<String> = (0..30).map(|i| format!("{blocked}/p{i}")).collect();
    let refs: Vec<&str> = links.iter().map(String::as_str).collect();
    site.set("/", html_page("live", &refs));
    let start = Instant::now();
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--scope",
        "any",
        "--per-host-rate",
        "1",
        "-q",
    ])
    .await;
    out.assert_code(0);
    let took = start.elapsed();
    // Before: one blocked record a second, 30 s in all.
    assert!(took < Duration::from_secs(8), "crawl took {took:?}");
    let records = all_records(dir.path());
    let blocked_records = records
        .iter()
        .filter(|r| r["url"].as_str().unwrap().starts_with(&blocked))
        .filter(|r| r["error"].as_str().unwrap_or("").starts_with("blocked: "))
        .count();
    assert_eq!(blocked_records, 30, "{records:?}");
    assert_eq!(stats_of(dir.path())["hosts_unreachable"], 0);
}
