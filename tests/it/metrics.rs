//! The metrics endpoint as people run it: Prometheus scraping `/metrics` during and
//! just after a crawl, and someone watching the status page at `/` in a browser
//! (Debian's headless Chromium). Both read the same numbers, and the final ones
//! match stats.json.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::redis::Redis;
use crate::common::*;

/// True once the crawl wrote its stats (the outputs are complete).
fn stats_written(dir: &Path, name: &str) -> bool {
    std::fs::read(dir.join(name))
        .is_ok_and(|b| serde_json::from_slice::<serde_json::Value>(&b).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_the_crawls_numbers_in_headless_chromium() {
    // 30 pages at 150 ms each, one at a time: the page is loaded mid-crawl.
    let site = slow_tree(30, Duration::from_millis(150)).await;
    site.set("/p/5", Reply::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let extra = [
        "--per-host-rate=0",
        "--per-host-concurrency=1",
        "--metrics",
        &addr,
        "--metrics-linger",
        "60s",
        "-q",
    ];
    let child = spawn_crawl(&site.url("/"), dir.path(), &extra);
    let a = addr.clone();
    wait_until("a few pages on /metrics", Duration::from_secs(30), || {
        scrape(&a).is_some_and(|p| sample(&p, "trawl_pages_total").is_some_and(|n| n >= 3.0))
    })
    .await;
    // Alone and without --worker-id, no series is labelled with the process id (a
    // restarted process must continue its own series).
    let page = scrape(&addr).unwrap();
    let pid = child.id().to_string();
    assert!(
        !page.contains(&format!(".{pid}\"")),
        "a pid in a label:\n{page}"
    );
    assert!(page.contains("trawl_pages_total{worker=\""), "{page}");
    let url = format!("http://{addr}/");
    let u = url.clone();
    let during = tokio::task::spawn_blocking(move || dump_dom(&u, 3000))
        .await
        .unwrap();
    let d = dir.path().to_path_buf();
    assert!(
        !stats_written(&d, "stats.json"),
        "the crawl was over too soon for a mid-crawl look"
    );
    let pages = dom_value(&during, "pages").unwrap_or_else(|| panic!("no pages in\n{during}"));
    assert!((3.0..30.0).contains(&pages), "{pages}\n{during}");
    assert_eq!(dom_value(&during, "hosts"), Some(1.0), "{during}");
    assert!(
        dom_value(&during, "queue").is_some_and(|q| q >= 1.0),
        "{during}"
    );
    assert!(
        dom_value(&during, "class-2xx").is_some_and(|n| n >= 2.0),
        "{during}"
    );
    assert_eq!(dom_value(&during, "error-timeout"), Some(0.0), "{during}");
    assert!(during.contains(">live<"), "{during}");
    assert!(
        !during.contains("src=\"http"),
        "the page loads nothing from elsewhere"
    );

    // The crawl ends; the endpoint stays (metrics_linger) with the final numbers.
    wait_until("stats.json", Duration::from_secs(60), || {
        stats_written(&d, "stats.json")
    })
    .await;
    let stats = stats(dir.path());
    let u = url.clone();
    let after = tokio::task::spawn_blocking(move || dump_dom(&u, 3000))
        .await
        .unwrap();
    assert_eq!(
        dom_value(&after, "pages"),
        stats["pages"].as_f64(),
        "{after}"
    );
    assert_eq!(
        dom_value(&after, "pages-ok"),
        stats["pages_ok"].as_f64(),
        "{after}"
    );
    assert_eq!(
        dom_value(&after, "hosts"),
        stats["hosts"].as_f64(),
        "{after}"
    );
    assert_eq!(dom_value(&after, "queue"), Some(0.0), "{after}");
    assert!(
        after.contains(">finished: these are the final numbers<"),
        "{after}"
    );
    assert_eq!(dom_value(&after, "class-4xx"), Some(1.0), "{after}");
    assert_eq!(
        dom_value(&after, "class-2xx"),
        stats["statuses"]["200"].as_f64(),
        "{after}"
    );
    // A stop signal ends the wait at once, and the finished crawl exits 0.
    let signalled = Instant::now();
    signal(&child, "-INT");
    let out = finish(child).await;
    out.assert_code(0);
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_the_worker_id_and_the_series_people_alert_on() {
    let redis = Redis::start();
    let site = slow_tree(12, Duration::from_millis(150)).await;
    site.set("/p/3", Reply::Status(500));
    site.set("/p/4", Reply::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let args = crawl_args(
        &site.url("/"),
        dir.path(),
        &[
            "--frontier",
            &redis.url(),
            "--worker-id",
            "m7",
            "--retries",
            "0",
            "--per-host-rate",
            "0",
            "--per-host-concurrency",
            "1",
            // :PORT is every interface; the test reads it on loopback.
            "--metrics",
            &format!(":{port}"),
            "--metrics-linger",
            "4",
        ],
    );
    let started = Instant::now();
    let mut child = spawn_args(&args);
    // When the summary line is printed: before the linger, not after it. The reader
    // stops there and closes the pipe: log lines written to a closed stderr (the
    // linger's) must not kill the process.
    let stderr = child.stderr.take().unwrap();
    let summary_at = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("trawl: crawled"))
            .map(|_| Instant::now())
    });
    let mut live = String::new();
    wait_until("a page on /metrics", Duration::from_secs(30), || {
        live = scrape(&addr).unwrap_or_default();
        sample(&live, "trawl_pages_total").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(
        live.contains("trawl_worker_heartbeat_timestamp_seconds{worker=\"m7\"}"),
        "{live}"
    );
    let d = dir.path().to_path_buf();
    wait_until("stats-m7.json", Duration::from_secs(60), || {
        stats_written(&d, "stats-m7.json")
    })
    .await;
    // Lingering: the final values are still served after every output is written.
    let page = scrape(&addr).expect("the endpoint lingers after the crawl");
    assert!(is_ok(&page), "{page}");
    let stats = read_json(&dir.path().join("stats-m7.json"));
    let pages = stats["pages"].as_f64().unwrap();
    assert_eq!(
        sample(&page, "trawl_pages_total{worker=\"m7\"}"),
        Some(pages),
        "{page}"
    );
    assert_eq!(
        sample(&page, "trawl_responses_total{worker=\"m7\",class=\"5xx\"}"),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "trawl_responses_total{worker=\"m7\",class=\"4xx\"}"),
        Some(1.0),
        "{page}"
    );
    // Every fetch was timed (no retries: one attempt per page).
    assert_eq!(
        sample(&page, "trawl_fetch_duration_seconds_count{worker=\"m7\"}"),
        Some(pages),
        "{page}"
    );
    assert_eq!(
        sample(
            &page,
            "trawl_fetch_duration_seconds_bucket{worker=\"m7\",le=\"+Inf\"}"
        ),
        Some(pages),
        "{page}"
    );
    for name in [
        "# TYPE trawl_build_info gauge",
        "trawl_build_info{worker=\"m7\",version=\"",
        "trawl_bytes_total{worker=\"m7\"}",
        "trawl_errors_total{worker=\"m7\",kind=\"timeout\"} 0",
        "# TYPE trawl_fetch_duration_seconds histogram",
        "trawl_politeness_wait_seconds_total{worker=\"m7\"}",
        "trawl_politeness_waits_total{worker=\"m7\"}",
        "trawl_queue_depth 0",
        "# TYPE trawl_in_flight gauge",
        "trawl_hosts 1",
        "# TYPE process_cpu_seconds_total counter",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(page.contains(name), "no {name} in\n{page}");
    }
    // The Grafana dashboard asks only for series trawl serves.
    for name in dashboard_series() {
        assert!(
            // Mid-crawl: heartbeats end when the process leaves the fleet.
            live.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the dashboard uses {name}, which /metrics does not serve:\n{live}"
        );
    }
    // The worker's process id is in no label: a restart continues the same series.
    let pid = child.id().to_string();
    assert!(!page.contains(&format!(".{pid}\"")), "{page}");
    // The status page is served beside it, self-contained.
    let html = get(&addr, "/").unwrap();
    assert!(is_ok(&html) && html.contains("text/html"), "{html}");
    assert!(
        html.contains("Content-Security-Policy: default-src 'none'")
            || html
                .to_ascii_lowercase()
                .contains("content-security-policy: default-src 'none'"),
        "{html}"
    );
    // Then the endpoint closes and the process exits by itself.
    assert!(
        page.contains("trawl_crawl_finished{worker=\"m7\"} 1"),
        "{page}"
    );
    assert!(
        live.contains("trawl_crawl_finished{worker=\"m7\"} 0"),
        "{live}"
    );
    let out = finish(child).await;
    let exited = Instant::now();
    out.assert_code(0);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let summary_at = summary_at.join().unwrap().expect("a summary line");
    assert!(
        exited.duration_since(summary_at) >= Duration::from_secs(3),
        "the summary came {:?} before the exit, not before the 4 s linger",
        exited.duration_since(summary_at)
    );
    assert!(
        scrape(&addr).is_none(),
        "the endpoint closed with the process"
    );
}

/// Every series name in the Grafana dashboard's queries.
fn dashboard_series() -> std::collections::BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/dashboards/trawl.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    let mut stack = vec![&dashboard];
    // Bounded: a dashboard is a few hundred JSON values.
    for _ in 0..100_000 {
        let Some(v) = stack.pop() else { break };
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(e)) = m.get("expr").or(m.get("query")) {
                    exprs.push(e.clone());
                }
                stack.extend(m.values());
            }
            serde_json::Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    let names: std::collections::BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("trawl_") || w.starts_with("process_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        names.len() >= 15,
        "too few series in the dashboard: {names:?}"
    );
    names
}

/// The compose file's monitoring profile: Prometheus and Grafana mount files that
/// exist in the repository, Prometheus scrapes the port the workers serve, and the
/// Grafana datasource points at the Prometheus service.
#[test]
fn the_monitoring_profile_is_wired_to_files_in_the_repo() {
    let root = env!("CARGO_MANIFEST_DIR");
    let compose = std::fs::read_to_string(format!("{root}/docker-compose.yml")).unwrap();
    for service in ["\n  prometheus:", "\n  grafana:"] {
        let at = compose
            .find(service)
            .unwrap_or_else(|| panic!("no {service}"));
        // The service's lines: up to the next line indented two spaces or less.
        let block: String = compose[at + 1..]
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.is_empty() || l.starts_with("   "))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(block.contains("profiles: [\"monitoring\"]"), "{block}");
        let mounts: Vec<&str> = block
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- ./"))
            .map(|m| m.split(':').next().unwrap())
            .collect();
        assert!(!mounts.is_empty(), "{block}");
        for m in mounts {
            assert!(
                Path::new(root).join(m).exists(),
                "{service} mounts {m}, not in the repo"
            );
        }
    }
    let worker_port = compose
        .lines()
        .find(|l| l.contains("\"--metrics\""))
        .and_then(|l| l.split("\"--metrics\", \"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .and_then(|addr| addr.rsplit(':').next())
        .expect("the worker serves --metrics")
        .to_string();
    let prom = std::fs::read_to_string(format!("{root}/deploy/prometheus/prometheus.yml")).unwrap();
    assert!(prom.contains(&format!("port: {worker_port}")), "{prom}");
    assert!(prom.contains("names: [\"worker\"]"), "{prom}");
    let source = std::fs::read_to_string(format!(
        "{root}/deploy/grafana/provisioning/datasources/prometheus.yml"
    ))
    .unwrap();
    assert!(source.contains("http://prometheus:9090"), "{source}");
}
