//! Frontier benchmark: pushes synthetic URLs through the durable frontier with no
//! network, the way crawled pages do (batches of 40 links), and reports admissions
//! per second and memory at checkpoints.
//!
//! `cargo bench --bench frontier -- [URLS] [HOSTS]` (default 10,000,000 over 100,000).
//! Add `--memory` to measure the in-memory frontier instead, or
//! `--redis=redis://127.0.0.1:6379/0` for the shared frontier in Redis: then it also
//! reports Redis memory per million URLs, in all and for the visited set alone
//! (measured again after deleting the queues). Use a Redis with nothing else in it.

use std::sync::Arc;
use std::time::Instant;

use trawl::frontier::{Admission, Entry, Frontier, Limits, SharedOptions, Store};
use url::Url;

/// Deletes every key matching `pattern` (the benchmark's Redis holds nothing else).
fn del_matching(conn: &mut redis::Connection, pattern: &str) {
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(conn).expect("keys");
    for chunk in keys.chunks(1000) {
        let _: () = redis::cmd("DEL").arg(chunk).query(conn).expect("del");
    }
}

/// Redis's `used_memory` (bytes), after letting it settle.
fn used_memory(url: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("redis");
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut conn)
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return 0;
    };
    listing
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let memory = std::env::args().any(|a| a == "--memory");
    let redis = std::env::args().find_map(|a| a.strip_prefix("--redis=").map(str::to_owned));
    let total: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let hosts: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        (!memory).then(|| Arc::new(Store::open(&dir.path().join("frontier.redb")).expect("store")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let crawl = format!("bench-{}", std::process::id());
    let (frontier, store) = match &redis {
        Some(url) => {
            let opts = SharedOptions {
                at: trawl::frontier::redis::Endpoint::new(url),
                crawl: crawl.clone(),
                worker: "bench".into(),
                limits: limits(),
                lease_ttl: std::time::Duration::from_secs(30),
            };
            let f = runtime
                .block_on(Frontier::shared(opts, &serde_json::Map::new()))
                .expect("redis");
            (f, None)
        }
        None => (Frontier::embedded(2, limits(), store.clone()), store),
    };
    let baseline = redis.as_ref().map(|u| used_memory(u));
    println!(
        "frontier benchmark: {total} URLs over {hosts} hosts, {} frontier",
        match (&redis, memory) {
            (Some(_), _) => "shared (Redis)",
            (None, true) => "in-memory",
            (None, false) => "durable (sorted runs + redb)",
        }
    );
    // 1, 2 and 5 million, then every 10 million, and the end.
    let checkpoint = |n: u64| {
        n == total || [1_000_000, 2_000_000, 5_000_000].contains(&n) || n.is_multiple_of(10_000_000)
    };
    // Time spent admitting (in push_many), without making the synthetic URLs.
    let mut pushing = std::time::Duration::ZERO;
    let mut pushing_last = std::time::Duration::ZERO;
    let started = Instant::now();
    let mut last = (0u64, started);
    let mut batch = Vec::with_capacity(40);
    let mut admitted = 0u64;
    for i in 0..total {
        // Spread over hosts the way a crawl discovers them: many hosts, interleaved.
        let host = (i.wrapping_mul(2_654_435_761)) % hosts;
        let url = Url::parse(&format!(
            "http://h{host}.example.com/articles/{i}/index.html"
        ))
        .expect("url");
        batch.push(Entry::new(url, 1 + (i % 7) as u32));
        if batch.len() == 40 || i + 1 == total {
            let t = Instant::now();
            let (a, _) = runtime
                .block_on(frontier.push_many(std::mem::take(&mut batch)))
                .expect("push");
            pushing += t.elapsed();
            admitted += a.iter().filter(|n| **n == Admission::New).count() as u64;
        }
        let n = i + 1;
        if checkpoint(n) && n > last.0 {
            let secs = started.elapsed().as_secs_f64();
            let seg = last.1.elapsed().as_secs_f64();
            let seg_push = (pushing - pushing_last).as_secs_f64();
            println!(
                "{:>11} URLs: {:>8.0} admissions/s overall, {:>8.0}/s since last mark ({:>8.0}/s counting push time only); RSS {:>5} MiB (peak {:>5} MiB); {:.1}s",
                n,
                n as f64 / secs,
                (n - last.0) as f64 / seg,
                (n - last.0) as f64 / seg_push.max(1e-9),
                status_kib("VmRSS:") / 1024,
                status_kib("VmHWM:") / 1024,
                secs
            );
            last = (n, Instant::now());
            pushing_last = pushing;
        }
    }
    if let Some(store) = &store {
        let t = Instant::now();
        store.flush().expect("flush");
        let (visited, pending) = store.counts().expect("counts");
        let (visited_bytes, filter_bytes, disk_lookups) = store.visited_footprint();
        let all = dir_bytes(dir.path());
        println!(
            "final commit {:.2}s; store: {visited} visited, {pending} pending; on disk {} MiB in all; visited set {} MiB on disk ({:.1} bytes a URL), filter {} MiB in memory; {disk_lookups} lookups read the disk ({:.2}% of admissions)",
            t.elapsed().as_secs_f64(),
            all / (1024 * 1024),
            visited_bytes / (1024 * 1024),
            visited_bytes as f64 / visited.max(1) as f64,
            filter_bytes / (1024 * 1024),
            100.0 * disk_lookups as f64 / total.max(1) as f64,
        );
    }
    // Brings a shared frontier's gauges up to date (nothing for the embedded one).
    runtime.block_on(frontier.heartbeats("bench"));
    if let (Some(url), Some(base)) = (&redis, baseline) {
        let all = used_memory(url).saturating_sub(base);
        let mut conn = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .expect("redis");
        // Everything but the visited set: queues, host state, ready set, counters.
        let prefix = trawl::frontier::redis::key_prefix(&crawl);
        for pattern in ["q:*", "r:*", "h:*", "ready"] {
            del_matching(&mut conn, &format!("{prefix}{pattern}"));
        }
        let visited = used_memory(url).saturating_sub(base);
        let per_m = |b: u64| b as f64 / (admitted as f64 / 1e6) / (1024.0 * 1024.0);
        println!(
            "Redis used_memory for {admitted} admitted URLs: {:.1} MiB in all ({:.1} MiB per million URLs, queues included); visited set alone {:.1} MiB ({:.1} MiB per million visited URLs)",
            all as f64 / (1024.0 * 1024.0),
            per_m(all),
            visited as f64 / (1024.0 * 1024.0),
            per_m(visited)
        );
        del_matching(&mut conn, &format!("{prefix}*"));
    }
    let g = frontier.gauges();
    println!(
        "admitted {admitted}, hosts {}, queued {}; peak RSS {} MiB",
        g.hosts,
        g.queued,
        status_kib("VmHWM:") / 1024
    );
}

/// The crawl's default politeness, without page or host budgets.
fn limits() -> Limits {
    Limits {
        per_host_concurrency: 2,
        per_host_rate: 1.0,
        ..Limits::default()
    }
}
