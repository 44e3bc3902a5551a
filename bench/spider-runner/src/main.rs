//! Minimal runner for trawl's side-by-side benchmark (bench/compare.sh).
//! usage: spider-runner URL [CONCURRENCY]
//! Crawls URL with the `spider` crate as a library: robots.txt respected, no delay,
//! subdomains and TLD variants off, concurrency CONCURRENCY (default 64); prints the
//! number of pages crawled. The visited-set limit (LINKS_VISITED_MEMORY_LIMIT, default
//! 15000, past which spider's default "disk" feature moves the visited set to SQLite)
//! is read by spider itself from the environment.
use spider::tokio;
use spider::website::Website;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: spider-runner URL [CONCURRENCY]");
    let concurrency: usize = args.next().map(|c| c.parse().expect("CONCURRENCY")).unwrap_or(64);

    let mut website = Website::new(&url);
    website
        .with_respect_robots_txt(true)
        .with_subdomains(false)
        .with_tld(false)
        .with_delay(0)
        .with_concurrency_limit(Some(concurrency));

    // Count every page spider hands out (a lagging receiver reports how many it missed).
    let pages = Arc::new(AtomicUsize::new(0));
    let mut ok = 0usize;
    let mut rx = website.subscribe(64);
    let counter = pages.clone();
    let ok_counter = Arc::new(AtomicUsize::new(0));
    let ok2 = ok_counter.clone();
    let sub = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(page) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    if page.status_code.is_success() {
                        ok2.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    counter.fetch_add(n as usize, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
    });

    let start = std::time::Instant::now();
    website.crawl().await;
    let secs = start.elapsed().as_secs_f64();
    website.unsubscribe();
    let _ = sub.await;
    ok += ok_counter.load(Ordering::Relaxed);
    let n = pages.load(Ordering::Relaxed);
    println!(
        "spider pages_crawled {} ok {} visited_size {} secs {:.2} pages_per_sec {:.0}",
        n,
        ok,
        website.get_size().await,
        secs,
        n as f64 / secs.max(1e-9)
    );
}
