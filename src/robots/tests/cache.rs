//! The cache against a loopback server: one fetch shared by concurrent checks,
//! and a byte budget that evicts and fetches again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A server on 127.0.0.1:0 answering every request with `body` after `delay`,
/// counting requests. Serves at most 200 connections.
async fn robots_server(body: &'static str, delay: Duration) -> (Url, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        for _ in 0..200 {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 65536 {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    (Url::parse(&format!("http://{addr}/page")).unwrap(), hits)
}

/// A fetcher for the loopback servers of these tests (several ports: the guard is off).
fn loopback_fetcher() -> Fetcher {
    let guard = Arc::new(crate::fetch::AddressGuard::new(true));
    Fetcher::new(&crate::config::Config::default(), guard).unwrap()
}

async fn verdict(cache: &RobotsCache, fetcher: &Fetcher, url: &Url) -> Verdict {
    tokio::time::timeout(Duration::from_secs(10), cache.check(fetcher, url))
        .await
        .expect("the check ends")
        .verdict
}

/// Concurrent checks of one host wait for a single robots.txt fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_share_one_fetch() {
    let body = "User-agent: *\nDisallow: /page\n";
    let (page, hits) = robots_server(body, Duration::from_millis(200)).await;
    let fetcher = Arc::new(loopback_fetcher());
    let cache = Arc::new(RobotsCache::new(
        "trawl",
        Duration::from_millis(50),
        1 << 20,
    ));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (c, f, u) = (cache.clone(), fetcher.clone(), page.clone());
        set.spawn(async move { verdict(&c, &f, &u).await });
    }
    let verdicts = set.join_all().await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Disallowed),
        "{verdicts:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A budget that holds one big robots.txt: a second host evicts the first, whose
/// robots.txt is fetched again when next needed; a budget that holds both does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded_by_bytes_and_refetches_what_it_evicted() {
    static BIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let big: &'static str = BIG.get_or_init(|| {
        String::from_utf8(repeat_numbered("Disallow: /{n}$\n", 100 * 1024)).unwrap()
    });
    let (a, a_hits) = robots_server(big, Duration::ZERO).await;
    let (b, b_hits) = robots_server(big, Duration::ZERO).await;
    let fetcher = loopback_fetcher();
    let one_host = Robots::parse("trawl", big.as_bytes()).rules.heap_bytes() + 4096;
    for (budget, a_fetches) in [(one_host, 2), (3 * one_host, 1)] {
        a_hits.store(0, Ordering::SeqCst);
        b_hits.store(0, Ordering::SeqCst);
        let cache = RobotsCache::new("trawl", Duration::from_millis(50), budget);
        assert_eq!(
            verdict(&cache, &fetcher, &a.join("/7").unwrap()).await,
            Verdict::Disallowed
        );
        assert_eq!(
            verdict(&cache, &fetcher, &b.join("/8").unwrap()).await,
            Verdict::Disallowed
        );
        assert_eq!(
            verdict(&cache, &fetcher, &a.join("/7/x").unwrap()).await,
            Verdict::Allowed
        );
        assert!(cache.hosts().used() <= budget, "budget {budget}");
        assert_eq!(a_hits.load(Ordering::SeqCst), a_fetches, "budget {budget}");
        assert_eq!(b_hits.load(Ordering::SeqCst), 1);
    }
}
