//! robots.txt an attacker writes: numbers that cannot be durations, and files built
//! to cost memory. Each test runs the real binary against loopback fixture sites.

use std::time::Duration;

use crate::common::*;

const T: Duration = Duration::from_secs(60);

/// `Crawl-delay` values no duration can hold. Each site is a 3-page tree; one crawl
/// of all five must end by itself with every page recorded. Delays too large to be
/// durations are clamped (to `--max-crawl-delay`, here 0.2 s); NaN and negative
/// values are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_delays_no_duration_can_hold_end_with_every_page_recorded() {
    // (Crawl-delay value, clamped to the maximum rather than ignored)
    let cases = [
        ("1e30", true),
        ("NaN", false),
        ("inf", true),
        ("-5", false),
        ("1e400", true),
    ];
    let mut sites = Vec::new();
    for (delay, _) in cases {
        let s = Site::start().await;
        tree_site_routes(&s, 3, 2);
        s.set(
            "/robots.txt",
            Reply::robots(&format!(
                "User-agent: *\nCrawl-delay: {delay}\nDisallow: /x\n"
            )),
        );
        sites.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["crawl".into(), "--out".into()];
    args.push(dir.path().display().to_string());
    args.extend(sites.iter().map(|s| s.url("/")));
    args.extend(["--per-host-rate=0".into(), "--max-crawl-delay=0.2".into()]);
    let out = run_trawl_async(args, T).await;
    out.assert_code(0);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

    let recs = records_by_url(dir.path());
    assert_eq!(recs.len(), 15, "every page of every site recorded");
    for ((delay, clamped), site) in cases.iter().zip(&sites) {
        for i in 0..3 {
            let url = site.url(&tree_page_path(i));
            assert_eq!(recs[&url]["status"], 200, "Crawl-delay {delay}: {url}");
        }
        let starts = site.page_starts();
        assert_eq!(starts.len(), 3, "Crawl-delay {delay}");
        if *clamped {
            for w in starts.windows(2) {
                assert!(
                    w[1] - w[0] >= Duration::from_millis(150),
                    "Crawl-delay {delay} clamped to 0.2 s: {:?}",
                    w[1] - w[0]
                );
            }
        }
    }
}

/// `Disallow: /N$` lines up to `bytes`: the shape that cost 293 MB per host when
/// each rule was compiled to a regex.
fn dollar_rules(bytes: usize) -> String {
    let mut txt = String::from("User-agent: *\n");
    let mut n = 0;
    while txt.len() < bytes {
        txt.push_str(&format!("Disallow: /{n}$\n"));
        n += 1;
    }
    txt
}

/// Three hosts, each with a 500 KiB robots.txt of `Disallow: /N$` rules: the crawl's
/// peak RSS stays small (it was 851 MB), and the rules still decide (`/7` is
/// disallowed, `/7/x` and the tree pages are not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_huge_robots_files_keep_memory_bounded() {
    let txt = dollar_rules(500 * 1024 - 64);
    let mut sites = Vec::new();
    for _ in 0..3 {
        let s = Site::start().await;
        s.set("/robots.txt", Reply::robots(&txt));
        s.set("/", html_page("index", &["/7", "/7/x"]));
        s.set("/7", html_page("seven", &[]));
        s.set("/7/x", html_page("seven x", &[]));
        sites.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["crawl".into(), "--out".into()];
    args.push(dir.path().display().to_string());
    args.extend(sites.iter().map(|s| s.url("/")));
    args.push("--per-host-rate=0".into());
    let out = run_trawl_async(args, T).await;
    out.assert_code(0);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

    let recs = records_by_url(dir.path());
    for s in &sites {
        assert_eq!(recs[&s.url("/")]["status"], 200);
        assert_eq!(recs[&s.url("/7/x")]["status"], 200);
        let e = recs[&s.url("/7")]["error"].as_str().unwrap_or("");
        assert!(e.starts_with("robots:"), "{e}");
        assert_eq!(s.count("/7"), 0);
        assert_eq!(s.count("/robots.txt"), 1);
    }
    let rss = stats(dir.path())["peak_rss_mb"]
        .as_f64()
        .expect("peak_rss_mb reported on Linux");
    println!("peak RSS, 3 hosts x 500 KiB of Disallow: /N$: {rss:.0} MB");
    assert!(rss < 150.0, "peak RSS {rss:.0} MB");
}
