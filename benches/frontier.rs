//! Frontier benchmark: pushes synthetic URLs through the durable frontier with no
//! network, the way crawled pages do (batches of 40 links), and reports admissions
//! per second and memory at checkpoints.
//!
//! `cargo bench --bench frontier -- [URLS] [HOSTS]` (default 10,000,000 over 100,000).
//! Add `--memory` to measure the in-memory frontier instead.

use std::sync::Arc;
use std::time::Instant;

use trawl::frontier::{Entry, Frontier, Store};
use url::Url;

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
    let total: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let hosts: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        (!memory).then(|| Arc::new(Store::open(&dir.path().join("frontier.redb")).expect("store")));
    let frontier = Frontier::embedded(2, 2, 1.0, 0, store.clone());
    println!(
        "frontier benchmark: {total} URLs over {hosts} hosts, {} frontier",
        if memory {
            "in-memory"
        } else {
            "durable (redb)"
        }
    );
    let checkpoints = [1_000_000u64, 2_000_000, 5_000_000, 10_000_000, total];
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
            let a = frontier
                .push_many(std::mem::take(&mut batch))
                .expect("push");
            admitted += a.new.iter().filter(|n| **n).count() as u64;
        }
        let n = i + 1;
        if checkpoints.contains(&n) && n > last.0 {
            let secs = started.elapsed().as_secs_f64();
            let seg = last.1.elapsed().as_secs_f64();
            println!(
                "{:>11} URLs: {:>8.0} admissions/s overall, {:>8.0}/s since last mark; RSS {:>5} MiB (peak {:>5} MiB); {:.1}s",
                n,
                n as f64 / secs,
                (n - last.0) as f64 / seg,
                status_kib("VmRSS:") / 1024,
                status_kib("VmHWM:") / 1024,
                secs
            );
            last = (n, Instant::now());
        }
    }
    if let Some(store) = &store {
        let t = Instant::now();
        store.flush().expect("flush");
        let (visited, pending) = store.counts().expect("counts");
        let size = std::fs::metadata(dir.path().join("frontier.redb"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "final commit {:.2}s; store: {visited} visited, {pending} pending, file {} MiB",
            t.elapsed().as_secs_f64(),
            size / (1024 * 1024)
        );
    }
    let g = frontier.gauges();
    println!(
        "admitted {admitted}, hosts {}, queued {}; peak RSS {} MiB",
        g.hosts,
        g.queued,
        status_kib("VmHWM:") / 1024
    );
}
