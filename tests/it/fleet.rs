//! One crawl across several `trawl` processes sharing a frontier in a real
//! redis-server (started per test on a free port): every page recorded once,
//! politeness held across processes, a killed process or a restarted Redis losing
//! nothing, start-up errors in one line, the compose file's commands, metrics.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::redis::Redis;
use crate::common::*;

/// Every record in every process's pages file in `dir` (a killed process's torn
/// last line is left out), with the file it came from.
pub(crate) fn fleet_records(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("pages-") && n.ends_with(".jsonl"))
        .collect();
    names.sort();
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let whole = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        for line in whole.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: bad line ({e}): {line}"));
            out.push((name.clone(), v));
        }
    }
    out
}

pub(crate) fn url_of(v: &serde_json::Value) -> String {
    v["url"].as_str().unwrap().to_string()
}

/// `trawl crawl SEEDS --frontier REDIS --crawl-id ID --out OUT --worker-id W EXTRA...`
fn fleet_args(
    seeds: &[String],
    redis: &Redis,
    id: &str,
    out: &Path,
    worker: &str,
    extra: &[&str],
) -> Vec<String> {
    fleet_args_at(seeds, &redis.url(), id, out, worker, extra)
}

/// [`fleet_args`] for a Redis given by its URL (a cluster, TLS).
pub(crate) fn fleet_args_at(
    seeds: &[String],
    frontier: &str,
    id: &str,
    out: &Path,
    worker: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = vec!["crawl".into()];
    args.extend(seeds.iter().cloned());
    for a in [
        "--frontier",
        frontier,
        "--crawl-id",
        id,
        "--out",
        &out.display().to_string(),
        "--worker-id",
        worker,
        "-q",
    ] {
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

pub(crate) fn tree_urls(site: &Site, pages: usize) -> HashSet<String> {
    (0..pages).map(|i| site.url(&tree_page_path(i))).collect()
}

/// Starts process `worker` of crawl `id` of `seed` into `dir` with `flags`.
fn spawn_worker(
    seed: &str,
    redis: &Redis,
    id: &str,
    dir: &Path,
    worker: &str,
    flags: &[&str],
) -> Child {
    spawn_args(&fleet_args(
        &[seed.to_string()],
        redis,
        id,
        dir,
        worker,
        flags,
    ))
}

/// Panics unless the processes writing into `dir` recorded each of the `pages` pages
/// of tree `site` once, and nothing else.
fn assert_each_page_recorded_once(dir: &Path, site: &Site, pages: usize) {
    let records = fleet_records(dir);
    let urls: HashSet<String> = records.iter().map(|(_, r)| url_of(r)).collect();
    assert_eq!(urls, tree_urls(site, pages), "every page recorded");
    assert_eq!(records.len(), pages, "each page once");
}

/// Two processes of crawl `id` of `site` into `dir`, on its 6 slots, 3 each (so both
/// always hold leases), with `lease_ttl`.
fn spawn_pair(
    site: &Site,
    redis: &Redis,
    id: &str,
    dir: &Path,
    names: [&str; 2],
    lease_ttl: &str,
) -> [Child; 2] {
    let seeds = [site.url("/")];
    let flags = [
        "--per-host-rate=0",
        "--per-host-concurrency=6",
        "--concurrency=3",
        "--lease-ttl",
        lease_ttl,
    ];
    names.map(|w| spawn_args(&fleet_args(&seeds, redis, id, dir, w, &flags)))
}

/// Leases Redis holds for `worker` of crawl `id`, as redis-cli's reply (":N").
fn leases_of(redis: &Redis, id: &str, worker: &str) -> String {
    redis
        .command(&format!("HLEN trawl:{{{id}}}:l:{worker}"))
        .trim()
        .to_string()
}

/// `trawl status` of crawl `id`.
async fn status(redis: &Redis, id: &str) -> RunOutput {
    let args = ["status", "--frontier", &redis.url(), "--crawl-id", id].map(String::from);
    run_trawl_async(args.to_vec(), Duration::from_secs(20)).await
}

/// `trawl merge DIR -o DIR/merged/pages.jsonl`; returns the run and the merged directory.
pub(crate) async fn merge(dir: &Path) -> (RunOutput, std::path::PathBuf) {
    let merged = dir.join("merged");
    let out = merged.join("pages.jsonl");
    let args = [
        "merge",
        &dir.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]
    .map(String::from);
    (
        run_trawl_async(args.to_vec(), Duration::from_secs(20)).await,
        merged,
    )
}

/// `stats-<worker>.json` in `dir`.
pub(crate) fn worker_stats(dir: &Path, worker: &str) -> serde_json::Value {
    read_json(&dir.join(format!("stats-{worker}.json")))
}

/// Waits (bounded) until the processes writing into `dir` have recorded `n` pages.
async fn wait_for_records(dir: &Path, n: usize) {
    wait_until(
        &format!("{n} pages recorded"),
        Duration::from_secs(30),
        || fleet_records(dir).len() >= n,
    )
    .await;
}

/// Runs processes `workers` of crawl `id` of `seed` with `flags` to the end (each must
/// exit 0); returns their output directory.
async fn run_fleet(
    redis: &Redis,
    id: &str,
    seed: &str,
    workers: &[&str],
    flags: &[&str],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let seeds = [seed.to_string()];
    let children = workers
        .iter()
        .map(|w| spawn_args(&fleet_args(&seeds, redis, id, dir.path(), w, flags)))
        .collect();
    for out in finish_all(children).await {
        out.assert_code(0);
    }
    dir
}

pub(crate) async fn finish_all(children: Vec<Child>) -> Vec<RunOutput> {
    let mut outs = Vec::new();
    for c in children {
        outs.push(finish(c).await);
    }
    outs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_record_every_page_exactly_once() {
    let redis = Redis::start();
    let sites = [
        slow_tree(40, Duration::from_millis(30)).await,
        slow_tree(40, Duration::from_millis(30)).await,
        slow_tree(40, Duration::from_millis(30)).await,
    ];
    // A fourth site only the third process is given: any process may add seeds.
    let extra = slow_tree(10, Duration::from_millis(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let seeds: Vec<String> = sites.iter().map(|s| s.url("/")).collect();
    // 4 hosts x 2 slots; each process fetches at most 2 at a time, so all take part.
    // The sites are other ports of 127.0.0.1: only each process's own seeds are
    // exempt from the private-address guard, so the fleet allows private ones.
    let flags = [
        "--per-host-rate=0",
        "--per-host-concurrency=2",
        "--concurrency=2",
        "--allow-private",
    ];
    let mut children = Vec::new();
    for w in ["wa", "wb"] {
        children.push(spawn_args(&fleet_args(
            &seeds,
            &redis,
            "three",
            dir.path(),
            w,
            &flags,
        )));
    }
    let mut with_extra = seeds.clone();
    with_extra.push(extra.url("/"));
    children.push(spawn_args(&fleet_args(
        &with_extra,
        &redis,
        "three",
        dir.path(),
        "wc",
        &flags,
    )));
    for out in finish_all(children).await {
        out.assert_code(0);
    }

    let records = fleet_records(dir.path());
    let mut want: HashSet<String> = HashSet::new();
    for s in &sites {
        want.extend(tree_urls(s, 40));
    }
    want.extend(tree_urls(&extra, 10));
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for (file, r) in &records {
        assert!(seen.insert(url_of(r)), "{} recorded twice", url_of(r));
        *per_worker.entry(file.clone()).or_default() += 1;
    }
    assert_eq!(seen, want);
    // All three took part, and the server saw each page once.
    assert_eq!(per_worker.len(), 3, "{per_worker:?}");
    for s in sites.iter().chain([&extra]) {
        assert_each_page_fetched_once(s);
    }
    // Each process's stats say what it did; the fleet's total is the whole site.
    let total: u64 = ["wa", "wb", "wc"]
        .iter()
        .map(|w| {
            let v = worker_stats(dir.path(), w);
            assert_eq!(v["completed"], true);
            v["pages"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, 130);

    // `trawl status` reads the finished crawl: nothing queued or leased, all exited.
    let st = status(&redis, "three").await;
    st.assert_code(0);
    assert!(
        st.stdout
            .contains("queued 0 | leased 0 | done 130 | errors 0 | hosts 4"),
        "{}",
        st.stdout
    );
    for w in ["wa", "wb", "wc"] {
        st.assert_stdout_has(&[&format!("worker {w}: exited")]);
    }

    // merge: one file, each URL once.
    let (m, merged) = merge(dir.path()).await;
    m.assert_code(0);
    m.assert_stderr_has(&["merged 130 records from 3 files"]);
    assert_eq!(read_records(&merged).len(), 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_rate_and_concurrency_hold_across_processes() {
    let redis = Redis::start();
    // Rate: 5 requests/s to one host shared by 3 processes.
    let a = Site::start().await;
    tree_site_routes(&a, 13, 4);
    let flags = ["--per-host-rate=5", "--per-host-concurrency=4"];
    let dir = run_fleet(&redis, "rate", &a.url("/"), &["r1", "r2", "r3"], &flags).await;
    assert_eq!(fleet_records(dir.path()).len(), 13);
    let mut starts: Vec<Instant> = a.hits().iter().map(|h| h.start).collect();
    starts.sort();
    // 13 pages and up to 3 robots.txt requests, each using a slot.
    assert!(starts.len() >= 14, "{} requests", starts.len());
    for w in starts.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(180),
            "requests only {gap:?} apart"
        );
    }

    // Concurrency: 2 at a time to one slow host, whatever 3 processes want.
    let b = slow_tree(30, Duration::from_millis(80)).await;
    let flags = ["--per-host-rate=0", "--per-host-concurrency=2"];
    let dir = run_fleet(&redis, "conc", &b.url("/"), &["c1", "c2", "c3"], &flags).await;
    assert_eq!(fleet_records(dir.path()).len(), 30);
    assert_eq!(b.max_in_flight(), 2, "the limit holds and is used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_crawl_loses_nothing() {
    let redis = Redis::start();
    let site = slow_tree(60, Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    let [victim, survivor] = spawn_pair(
        &site,
        &redis,
        "kill",
        dir.path(),
        ["victim", "survivor"],
        "2",
    );
    let victim_file = dir.path().join("pages-victim.jsonl");
    wait_until(
        "the victim records pages and holds leases",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&victim_file).is_ok_and(|t| t.lines().count() >= 5)
                && leases_of(&redis, "kill", "victim") != ":0"
        },
    )
    .await;
    // Mid-crawl, with leases in flight: kill -9.
    signal(&victim, "-KILL");
    let killed = finish(victim).await;
    assert_eq!(killed.code, None, "killed by the signal");
    let out = finish(survivor).await;
    out.assert_code(0);

    let records = fleet_records(dir.path());
    let urls: HashSet<String> = records.iter().map(|(_, r)| url_of(r)).collect();
    assert_eq!(urls, tree_urls(&site, 60), "every page recorded");
    let by_victim = records
        .iter()
        .filter(|(f, _)| f == "pages-victim.jsonl")
        .count();
    assert!((5..60).contains(&by_victim), "{by_victim}");
    // The survivor took the victim's leases back after lease_ttl: the victim is lost.
    let st = status(&redis, "kill").await;
    st.assert_stdout_has(&["worker victim: lost"]);
    st.assert_stdout_has(&["queued 0 | leased 0 | done"]);

    // At least once across the raw outputs; exactly once after merge.
    let (m, merged) = merge(dir.path()).await;
    m.assert_code(0);
    let m = records_by_url(&merged);
    assert_eq!(
        m.keys().cloned().collect::<HashSet<_>>(),
        tree_urls(&site, 60)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_crawl_loses_nothing() {
    let mut redis = Redis::start();
    let site = slow_tree(60, Duration::from_millis(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--per-host-rate=0", "--per-host-concurrency=3", "-v"];
    let seeds = vec![site.url("/")];
    let children: Vec<Child> = ["x1", "x2"]
        .iter()
        .map(|w| {
            let mut args = fleet_args(&seeds, &redis, "restart", dir.path(), w, &flags);
            args.retain(|a| a != "-q");
            spawn_args(&args)
        })
        .collect();
    wait_for_records(dir.path(), 10).await;
    let before = fleet_records(dir.path()).len();
    assert!(before < 60, "the crawl is still going");
    // Down for a second, then back with its data (append-only file).
    tokio::task::block_in_place(|| redis.restart(Duration::from_secs(1)));
    let outs = finish_all(children).await;
    for out in &outs {
        out.assert_code(0);
    }
    assert!(
        outs.iter().any(|o| o.stderr.contains("does not answer")),
        "the outage was noticed"
    );
    assert_each_page_recorded_once(dir.path(), &site, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_and_conflicting_settings_are_one_line_errors() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = run_trawl_async(
        vec![
            "crawl".into(),
            "http://127.0.0.1:9/".into(),
            "--frontier".into(),
            format!("redis://127.0.0.1:{port}/0"),
            "--out".into(),
            dir.path().display().to_string(),
        ],
        Duration::from_secs(30),
    )
    .await;
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "trawl: error: cannot reach Redis at redis://127.0.0.1:{port}/0"
        )),
        "{}",
        out.stderr
    );

    let redis = Redis::start();
    let site = Site::start().await;
    tree_site_routes(&site, 3, 2);
    let seeds = vec![site.url("/")];
    let first = fleet_args(
        &seeds,
        &redis,
        "conf",
        dir.path(),
        "one",
        &["--per-host-rate=0"],
    );
    run_trawl_async(first, Duration::from_secs(30))
        .await
        .assert_code(0);
    let hits = site.hits().len();
    let second = fleet_args(
        &seeds,
        &redis,
        "conf",
        dir.path(),
        "two",
        &["--per-host-rate=2"],
    );
    let out = run_trawl_async(second, Duration::from_secs(30)).await;
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("crawl 'conf' in Redis has per_host_rate = 0.0, this process has 2.0"),
        "{}",
        out.stderr
    );
    assert_eq!(site.hits().len(), hits, "no request made");
    assert!(!dir.path().join("pages-two.jsonl").exists());

    // A live process's worker id cannot be taken by another (even with another --out).
    let slow = slow_tree(30, Duration::from_millis(100)).await;
    let seeds = vec![slow.url("/")];
    let dir = tempfile::tempdir().unwrap();
    let other_out = tempfile::tempdir().unwrap();
    let flags = ["--per-host-rate=0", "--concurrency=2"];
    let first = spawn_args(&fleet_args(
        &seeds,
        &redis,
        "ids",
        dir.path(),
        "same",
        &flags,
    ));
    wait_until("the first process beats", Duration::from_secs(30), || {
        redis.command("ZSCORE trawl:{ids}:w same").starts_with('$')
            && !redis
                .command("ZSCORE trawl:{ids}:w same")
                .starts_with("$-1")
    })
    .await;
    let twin = fleet_args(&seeds, &redis, "ids", other_out.path(), "same", &flags);
    let out = run_trawl_async(twin, Duration::from_secs(30)).await;
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("worker id 'same' is in use by a live process of crawl 'ids'"),
        "{}",
        out.stderr
    );
    finish(first).await.assert_code(0);
    assert_eq!(
        fleet_records(dir.path()).len(),
        30,
        "the first one was left alone"
    );

    // A metrics port in use stops a process before it joins the crawl.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut args = fleet_args(&seeds, &redis, "metrics-taken", dir.path(), "m", &[]);
    args.extend(["--metrics".to_string(), addr.clone()]);
    let out = run_trawl_async(args, Duration::from_secs(30)).await;
    out.assert_code(1);
    assert!(
        out.stderr
            .contains(&format!("cannot serve metrics on {addr}")),
        "{}",
        out.stderr
    );
    assert_eq!(
        redis
            .command("EXISTS trawl:{metrics-taken}:settings")
            .trim(),
        ":0"
    );
    assert!(
        !dir.path().join(".lock-m").exists(),
        "its lock file is gone with it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_added_by_a_later_process_is_in_scope_for_every_process() {
    let redis = Redis::start();
    let first = slow_tree(40, Duration::from_millis(60)).await;
    let late = slow_tree(20, Duration::from_millis(20)).await;
    // Another host name: out of the first process's scope until it learns the seed
    // (the guard is off: a seed from another process is never exempt from it).
    let late_seed = format!("http://localhost:{}/", late.port());
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--per-host-rate=0",
        "--per-host-concurrency=2",
        "--concurrency=2",
        "--allow-private",
    ];
    let a = spawn_worker(&first.url("/"), &redis, "late", dir.path(), "wa", &flags);
    wait_for_records(dir.path(), 3).await;
    let b = spawn_args(&fleet_args(
        std::slice::from_ref(&late_seed),
        &redis,
        "late",
        dir.path(),
        "wb",
        &flags,
    ));
    finish(b).await.assert_code(0);
    finish(a).await.assert_code(0);
    let records = fleet_records(dir.path());
    let late_records: Vec<&serde_json::Value> = records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| url_of(r).starts_with("http://localhost:"))
        .collect();
    assert_eq!(late_records.len(), 20, "the late seed's whole site");
    for r in late_records {
        assert_eq!(r["status"], 200, "{r}");
    }
    assert_eq!(records.len(), 60);
}

/// Anyone who can write to Redis can push a queue item marked as a seed: that
/// must not open the private-address guard. A URL on 127.0.0.2 (loopback, not
/// the seed's address) planted as a "seed" is refused, never connected to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_planted_in_redis_does_not_open_the_private_address_guard() {
    let redis = Redis::start();
    let site = slow_tree(30, Duration::from_millis(50)).await;
    let trap = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    trap.set_nonblocking(true).unwrap();
    let target = format!(
        "http://127.0.0.2:{}/admin",
        trap.local_addr().unwrap().port()
    );
    let host = format!("http://127.0.0.2:{}", trap.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    let a = spawn_worker(&site.url("/"), &redis, "plant", dir.path(), "wa", &[]);
    wait_for_records(dir.path(), 2).await;
    let p = "trawl:{plant}:";
    let item = format!(r#"'F{{"url":"{target}","depth":0,"seed":true}}'"#);
    for line in [
        format!("SADD {p}seeds {target}"),
        format!("RPUSH {p}q:{host} {item}"),
        format!("HINCRBY {p}c queued 1"),
        format!("ZADD {p}ready 0 {host}"),
    ] {
        let reply = redis.command(&line);
        assert!(!reply.starts_with('-'), "{line}: {reply}");
    }
    finish(a).await.assert_code(0);
    let records = fleet_records(dir.path());
    let planted: Vec<&serde_json::Value> = records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| url_of(r) == target)
        .collect();
    assert_eq!(planted.len(), 1, "the planted URL is recorded: {records:?}");
    let error = planted[0]["error"].as_str().unwrap_or("");
    assert!(error.starts_with("blocked: "), "{}", planted[0]);
    assert!(trap.accept().is_err(), "nothing connected to 127.0.0.2");
    assert_eq!(records.len(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_stops_the_crawl_with_an_error() {
    let redis = Redis::start();
    let site = slow_tree(60, Duration::from_millis(80)).await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--per-host-rate=0", "--concurrency=2"];
    let child = spawn_worker(&site.url("/"), &redis, "gone", dir.path(), "w1", &flags);
    wait_for_records(dir.path(), 5).await;
    // As a restart without persistence would leave it.
    assert!(redis.command("FLUSHALL").starts_with("+OK"));
    let out = finish(child).await;
    out.assert_code(1);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("trawl: error: the state of crawl 'gone' is gone from Redis"),
        "{}",
        out.stderr
    );
    // What was recorded stays, and stats.json says the crawl did not complete.
    let records = fleet_records(dir.path());
    assert!(
        records.len() >= 5 && records.len() < 60,
        "{}",
        records.len()
    );
    let stats = worker_stats(dir.path(), "w1");
    assert_eq!(stats["pages"].as_u64().unwrap() as usize, records.len());
    assert_eq!(stats["completed"], false);
    assert_eq!(stats["stopped_by"], "frontier_lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_both_backends() {
    let redis = Redis::start();
    for backend in ["embedded", "redis"] {
        let site = slow_tree(40, Duration::from_millis(100)).await;
        site.set("/p/3", Reply::Status(500));
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let mut args = vec![
            "crawl".to_string(),
            site.url("/"),
            "--out".into(),
            dir.path().display().to_string(),
            "--per-host-rate".into(),
            "0".into(),
            "--per-host-concurrency".into(),
            "2".into(),
            "--retries".into(),
            "0".into(),
            "--metrics".into(),
            addr.clone(),
            "--metrics-linger".into(),
            "0".into(),
            "-q".into(),
        ];
        if backend == "redis" {
            args.extend([
                "--frontier".into(),
                redis.url(),
                "--worker-id".into(),
                "m1".into(),
            ]);
        }
        let child = spawn_args(&args);
        let mut page = String::new();
        wait_until("metrics with pages", Duration::from_secs(30), || {
            page = scrape(&addr).unwrap_or_default();
            sample(&page, "trawl_pages_total").is_some_and(|n| n >= 5.0)
        })
        .await;
        let out = finish(child).await;
        out.assert_code(0);
        assert!(
            page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"),
            "{page}"
        );
        for name in [
            "# TYPE trawl_pages_total counter",
            "trawl_errors_total{worker=",
            "kind=\"timeout\"}",
            "# TYPE trawl_bytes_total counter",
            "# TYPE trawl_queue_depth gauge",
            "# TYPE trawl_in_flight gauge",
            "trawl_worker_heartbeat_timestamp_seconds{worker=",
        ] {
            assert!(page.contains(name), "{backend}: no {name} in\n{page}");
        }
        assert!(
            sample(&page, "trawl_queue_depth").is_some_and(|q| q > 0.0),
            "{backend}: {page}"
        );
        if backend == "redis" {
            assert!(
                page.contains("trawl_worker_heartbeat_timestamp_seconds{worker=\"m1\"}"),
                "{page}"
            );
        }
    }
}

/// The compose file's own command lines, run outside Docker against a local
/// redis-server: the fleet `docker compose up --scale worker=N` would start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_files_commands_run_a_fleet() {
    let compose =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
            .expect("docker-compose.yml at the top of the repo");
    // Each service's `command:` is a one-line JSON-style list (valid YAML).
    let command = |service: &str| -> Vec<String> {
        let at = compose
            .find(&format!("\n  {service}:"))
            .unwrap_or_else(|| panic!("no service {service}"));
        let line = compose[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("command:"))
            .expect("a command line");
        let list = line.trim_start().trim_start_matches("command:").trim();
        serde_json::from_str(list)
            .unwrap_or_else(|e| panic!("command of {service} is not a one-line list ({e}): {list}"))
    };
    // Compose fills `${REDIS_PASSWORD:?message}` from .env, and stops when it is
    // unset or empty (`:?`): here, a test password.
    let password = "s3cretTestPassw0rd";
    let interpolate = |a: &String| -> String {
        let mut out = a.clone();
        for _ in 0..8 {
            let Some(at) = out.find("${REDIS_PASSWORD:?") else {
                break;
            };
            let end = at + out[at..].find('}').expect("a closed ${...}");
            out.replace_range(at..=end, password);
        }
        out
    };
    let raw_redis = command("redis");
    assert!(
        raw_redis
            .iter()
            .any(|a| a.starts_with("${REDIS_PASSWORD:?")),
        "Redis's password comes from .env and is required: {raw_redis:?}"
    );
    let redis_cmd: Vec<String> = raw_redis.iter().map(interpolate).collect();
    assert_eq!(redis_cmd[0], "redis-server");
    assert!(
        redis_cmd.iter().any(|a| a == "--appendonly"),
        "{redis_cmd:?}"
    );
    let at = redis_cmd.iter().position(|a| a == "--requirepass");
    assert_eq!(
        at.and_then(|i| redis_cmd.get(i + 1)).map(String::as_str),
        Some(password),
        "{redis_cmd:?}"
    );
    // Redis's port is not published on the host.
    let redis_service =
        &compose[compose.find("\n  redis:").unwrap()..compose.find("\n  worker:").unwrap()];
    assert!(
        !redis_service
            .lines()
            .any(|l| l.trim_start().starts_with("ports:")),
        "{redis_service}"
    );
    // The same redis-server flags work on the installed redis-server.
    let redis = Redis::start_with_password(Some(password));
    let worker: Vec<String> = command("worker").iter().map(interpolate).collect();
    assert_eq!(
        worker[0], "crawl",
        "ENTRYPOINT is trawl: the command starts with its subcommand"
    );

    let site = slow_tree(30, Duration::from_millis(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let seeds_file = dir.path().join("seeds.txt");
    std::fs::write(&seeds_file, format!("{}\n", site.url("/"))).unwrap();
    let out_dir = dir.path().join("data");
    // Container paths and the redis service's name become local ones.
    let localise = |a: &String| -> String {
        a.replace(
            &format!("redis://:{password}@redis:6379"),
            &format!("redis://:{password}@127.0.0.1:{}", redis.port()),
        )
        .replace(
            "/etc/trawl/seeds/example.txt",
            &seeds_file.display().to_string(),
        )
        .replace("/data", &out_dir.display().to_string())
    };
    let args: Vec<String> = worker.iter().map(localise).collect();
    assert!(
        args.iter()
            .any(|a| a.starts_with(&format!("redis://:{password}@127.0.0.1:"))),
        "the workers' frontier URL carries the password: {args:?}"
    );
    assert!(
        args.iter().any(|a| a == "0.0.0.0:9090"),
        "workers serve metrics: {args:?}"
    );
    let mut children = Vec::new();
    for _ in 0..2 {
        // Two workers on one machine: each its own metrics port.
        let port = free_addr();
        let mut a: Vec<String> = args
            .iter()
            .map(|x| x.replace("0.0.0.0:9090", &port))
            .collect();
        // The loopback fixture is a private address: allowed here, as a test.
        a.extend([
            "--allow-private".into(),
            "--per-host-rate".into(),
            "0".into(),
        ]);
        children.push(spawn_args(&a));
    }
    for out in finish_all(children).await {
        // Same settings for every worker (rate included), else the second would stop.
        out.assert_code(0);
        assert!(
            !out.stderr.contains(password) && !out.stdout.contains(password),
            "{}",
            out.stderr
        );
    }
    assert_each_page_recorded_once(&out_dir, &site, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_hands_a_processs_leases_back_at_once() {
    let redis = Redis::start();
    let site = slow_tree(40, Duration::from_millis(150)).await;
    let dir = tempfile::tempdir().unwrap();
    // A long lease_ttl: only the stopping process's own hand-back (unstarted leases
    // at once, in-flight pages finished first) lets the other finish in time.
    let names = ["stopping", "staying"];
    let [stopping, staying] = spawn_pair(&site, &redis, "int", dir.path(), names, "600");
    wait_until("both hold leases", Duration::from_secs(30), || {
        leases_of(&redis, "int", "stopping") != ":0" && leases_of(&redis, "int", "staying") != ":0"
    })
    .await;
    signal(&stopping, "-INT");
    let stopped = finish(stopping).await;
    stopped.assert_code(130);
    assert_eq!(leases_of(&redis, "int", "stopping"), ":0");
    let out = finish(staying).await;
    out.assert_code(0);
    assert_each_page_recorded_once(dir.path(), &site, 40);
    assert!(dir.path().join("stats-stopping.json").exists());
}

/// A recrawl run by a fleet: each process gives the same `--since`; the earlier
/// crawl's priors travel with the URLs through Redis, so whichever process fetches
/// a page asks conditionally, and each page is recorded once, `not_modified`. The
/// `[[hosts]]` table's rate holds across the processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_recrawl_asks_conditionally_within_a_hosts_tables_rate() {
    let redis = Redis::start();
    let site = Site::start().await;
    let pages: Vec<String> = (0..5).map(|i| format!("/v/{i}")).collect();
    let refs: Vec<&str> = pages.iter().map(String::as_str).collect();
    let validated = |etag: &str, html: String| Reply::Validated {
        etag: Some(format!("\"{etag}\"")),
        last_modified: None,
        html,
    };
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", validated("home", html_of(&refs)));
    for (i, p) in pages.iter().enumerate() {
        site.set(
            p,
            validated(&format!("v{i}"), format!("<title>{i}</title>")),
        );
    }
    let first = tempfile::tempdir().unwrap();
    let args = crawl_args(&site.url("/"), first.path(), &["-q", "--per-host-rate=0"]);
    run_trawl_async(args, Duration::from_secs(30))
        .await
        .assert_code(0);
    let before = site.hits().len();

    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(&file, "[[hosts]]\nmatch = \"127.0.0.1\"\nrate = 5\n").unwrap();
    let since = first.path().display().to_string();
    let file = file.display().to_string();
    let flags = ["--since", &since, "--config", &file, "--per-host-rate=0"];
    let dir = run_fleet(&redis, "again", &site.url("/"), &["a1", "a2"], &flags).await;
    let records = fleet_records(dir.path());
    assert_eq!(records.len(), 6, "{records:?}");
    for (_, r) in &records {
        assert_eq!(r["recrawl"], "not_modified", "{r}");
        assert_eq!(r["status"], 304, "{r}");
    }
    let hits: Vec<Hit> = site.hits().into_iter().skip(before).collect();
    for h in hits.iter().filter(|h| h.path != "/robots.txt") {
        assert!(h.header("if-none-match").is_some(), "{h:?}");
    }
    let mut starts: Vec<Instant> = hits.iter().map(|h| h.start).collect();
    starts.sort();
    for w in starts.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(180),
            "requests only {gap:?} apart"
        );
    }
}

/// A page linking to `links`.
fn html_of(links: &[&str]) -> String {
    let anchors: String = links
        .iter()
        .map(|l| format!("<a href=\"{l}\">x</a>"))
        .collect();
    format!("<title>home</title>{anchors}")
}
