//! End-to-end tests of `trawl crawl`: the real binary against fixture sites on
//! 127.0.0.1, asserting from the records *and* from the servers' request logs.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reachable_page_is_recorded_exactly_once() {
    let a = Site::start().await;
    let b = Site::start().await;
    tree_site_routes(&a, 150, 4);
    tree_site_routes(&b, 60, 3);
    // Cross links between the two hosts (same host name, other port: in scope).
    let p1 = tree_page_html(1, 150, 4).replace(
        "</body>",
        &format!("<a href=\"{}\">b</a></body>", b.url("/")),
    );
    a.set("/p/1", Reply::Html(p1));
    // Another port of 127.0.0.1 is not the seed's origin: private addresses allowed.
    let dir = crawl_site(&a, &["--per-host-concurrency=8", "--allow-private"]).await;

    let recs = records_by_url(dir.path());
    assert_eq!(recs.len(), 150 + 60, "one record per reachable page");
    for site in [&a, &b] {
        assert_each_page_fetched_once(site);
        assert_eq!(
            site.count("/robots.txt"),
            1,
            "robots.txt fetched once per host"
        );
    }
    let r = &recs[&a.url("/p/7")];
    assert_eq!(r["status"], 200);
    assert_eq!(r["title"], "Page 7");
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["depth"], 2);
    assert_eq!(r["final_url"], a.url("/p/7"));
    assert_eq!(r["links"], 5);
    assert!(r["content_type"].as_str().unwrap().starts_with("text/html"));
    assert!(r["content_length"].as_u64().unwrap() > 100);
    assert!(r["fetched_at"].as_str().unwrap().ends_with('Z'));
    assert!(r["elapsed_ms"].is_u64());
    assert_eq!(recs[&b.url("/")]["depth"], 2);

    let s = stats(dir.path());
    assert_eq!(s["pages"], 210);
    assert_eq!(s["pages_ok"], 210);
    assert_eq!(s["hosts"], 2);
    assert_eq!(s["completed"], true);
    assert!(s["pages_per_sec"].as_f64().unwrap() > 0.0);
    assert!(s["refused"]["duplicate"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_scope_disallowed_and_nofollow_links_are_never_requested() {
    let a = Site::start().await;
    let other = Site::start().await;
    other.set("/", html_page("other", &[]));
    // "localhost" is another host name than the seed's 127.0.0.1: off-scope by host.
    let off = format!("http://localhost:{}/", other.port());
    a.set(
        "/",
        html_page("root", &[&off, "/private/secret", "/ok", "/meta-nofollow"]),
    );
    a.set(
        "/ok",
        Reply::Html(r#"<a href="/nf" rel="nofollow">x</a><a href="/fine">y</a>"#.into()),
    );
    a.set("/fine", html_page("fine", &[]));
    a.set("/nf", html_page("nf", &[]));
    a.set(
        "/meta-nofollow",
        Reply::Html(r#"<meta name="robots" content="nofollow"><a href="/hidden">h</a>"#.into()),
    );
    a.set("/hidden", html_page("hidden", &[]));
    a.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /private/\n"),
    );
    let dir = crawl_site(&a, &["--allow-private"]).await;

    assert_eq!(other.hits().len(), 0, "off-scope host was contacted");
    let paths: HashSet<String> = a.paths().into_iter().collect();
    for never in ["/private/secret", "/nf", "/hidden"] {
        assert!(!paths.contains(never), "{never} was requested: {paths:?}");
    }
    assert!(paths.contains("/fine"));
    let recs = records_by_url(dir.path());
    let disallowed = &recs[&a.url("/private/secret")];
    assert_eq!(disallowed["status"], Value::Null);
    assert!(disallowed["error"].as_str().unwrap().starts_with("robots:"));
    assert!(!recs.contains_key(&off));
    let s = stats(dir.path());
    assert_eq!(s["refused"]["scope"], 1);
    assert_eq!(s["refused"]["robots"], 1);
    assert_eq!(s["refused"]["nofollow"], 2);

    // The same crawl with --scope any does reach the other host: the test can fail.
    let _dir = crawl_site(&a, &["--allow-private", "--scope=any"]).await;
    assert_eq!(other.count("/"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_rate_is_respected_from_the_servers_clock() {
    let a = Site::start().await;
    let b = Site::start().await;
    tree_site_routes(&a, 8, 7);
    tree_site_routes(&b, 8, 7);
    a.set(
        "/",
        html_page(
            "a",
            &[
                "/p/1",
                "/p/2",
                "/p/3",
                "/p/4",
                "/p/5",
                "/p/6",
                "/p/7",
                &b.url("/"),
            ],
        ),
    );
    // 5 requests/s per host: at least 200 ms between request starts on one host.
    let (out, dir) = crawl(&[
        &a.url("/"),
        "--per-host-rate=5",
        "--per-host-concurrency=4",
        "--allow-private",
    ])
    .await;
    out.assert_code(0);
    assert_eq!(read_records(dir.path()).len(), 16);
    for site in [&a, &b] {
        let mut starts: Vec<_> = site.hits().iter().map(|h| h.start).collect();
        starts.sort();
        // robots.txt uses a slot like any request: the first page waits its turn too.
        for w in starts.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(180),
                "requests only {gap:?} apart"
            );
        }
    }
    // The two hosts were crawled side by side, not one after the other.
    let a_first = a.hits().iter().map(|h| h.start).min().unwrap();
    let a_last = a.hits().iter().map(|h| h.start).max().unwrap();
    let b_first = b.hits().iter().map(|h| h.start).min().unwrap();
    assert!(b_first < a_last && b_first > a_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_concurrency_is_respected_and_used() {
    let a = Site::start().await;
    let mut links = Vec::new();
    for i in 0..12 {
        let p = format!("/slow/{i}");
        a.set(
            &p,
            Reply::delayed(Duration::from_millis(150), html_page("s", &[])),
        );
        links.push(p);
    }
    let refs: Vec<&str> = links.iter().map(String::as_str).collect();
    a.set("/", html_page("root", &refs));
    let dir = crawl_site(&a, &["--per-host-concurrency=3", "--concurrency=64"]).await;
    assert_eq!(read_records(dir.path()).len(), 13);
    assert_eq!(
        a.max_in_flight(),
        3,
        "per-host concurrency cap (3) not reached or exceeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canonical_duplicates_are_fetched_once() {
    let a = Site::start().await;
    let upper = format!("HTTP://127.0.0.1:{}/page?b=2&a=1#frag", a.port());
    a.set(
        "/",
        html_page(
            "root",
            &[
                "/page?a=1&b=2",
                "/page?b=2&a=1",
                "/page?a=1&b=2#x",
                &upper,
                "/%70age?a=1&b=2",
                "/./x/../page?a=1&b=2",
            ],
        ),
    );
    a.set("/page?a=1&b=2", html_page("p", &[]));
    let dir = crawl_site(&a, &[]).await;
    assert_eq!(a.count("/page?a=1&b=2"), 1);
    assert_eq!(
        a.hits().len(),
        3,
        "robots, /, and one /page: {:?}",
        a.paths()
    );
    let recs = records_by_url(dir.path());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[&a.url("/")]["links"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charsets_are_decoded_for_titles() {
    let a = Site::start().await;
    let (sjis, _, _) =
        encoding_rs::SHIFT_JIS.encode("<html><head><title>日本語のページ</title></head></html>");
    a.set(
        "/sjis",
        Reply::typed("text/html; charset=Shift_JIS", sjis.into_owned()),
    );
    let (cp, _, _) = encoding_rs::WINDOWS_1251.encode(
        "<html><head><meta charset=\"windows-1251\"><title>Привет, мир</title></head></html>",
    );
    a.set("/cp1251", Reply::typed("text/html", cp.into_owned()));
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice("<title>Grüße</title>".as_bytes());
    a.set("/bom", Reply::typed("text/html; charset=iso-8859-1", bom));
    a.set("/", html_page("root", &["/sjis", "/cp1251", "/bom"]));
    let dir = crawl_site(&a, &[]).await;
    let recs = records_by_url(dir.path());
    assert_eq!(recs[&a.url("/sjis")]["title"], "日本語のページ");
    assert_eq!(recs[&a.url("/cp1251")]["title"], "Привет, мир");
    assert_eq!(recs[&a.url("/bom")]["title"], "Grüße");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_loops_and_max_redirects() {
    let a = Site::start().await;
    a.set("/old", Reply::Redirect(301, "/new".into()));
    a.set("/new", html_page("New", &[]));
    a.set("/loop1", Reply::Redirect(302, "/loop2".into()));
    a.set("/loop2", Reply::Redirect(302, "/loop1".into()));
    for i in 0..6 {
        a.set(
            &format!("/chain{i}"),
            Reply::Redirect(307, format!("/chain{}", i + 1)),
        );
    }
    a.set("/chain6", html_page("end", &[]));
    a.set("/", html_page("root", &["/old", "/loop1", "/chain0"]));
    let dir = crawl_site(&a, &["--max-redirects=3"]).await;
    let recs = records_by_url(dir.path());

    let old = &recs[&a.url("/old")];
    assert_eq!(old["status"], 301);
    assert_eq!(old["final_url"], a.url("/new"));
    assert_eq!(old["error"], Value::Null);
    assert_eq!(recs[&a.url("/new")]["title"], "New");
    assert_eq!(
        recs[&a.url("/new")]["depth"],
        1,
        "a redirect hop keeps the depth"
    );

    assert_eq!(a.count("/loop1"), 1);
    assert_eq!(a.count("/loop2"), 1);
    let l2 = &recs[&a.url("/loop2")];
    assert!(
        l2["error"]
            .as_str()
            .unwrap()
            .starts_with("redirect: redirect loop"),
        "{l2}"
    );

    // chain0 -> 1 -> 2 -> 3 are followed (3 hops); chain3's redirect is one too many.
    for i in 0..=3 {
        assert_eq!(a.count(&format!("/chain{i}")), 1);
    }
    assert_eq!(a.count("/chain4"), 0);
    let c3 = &recs[&a.url("/chain3")];
    assert!(
        c3["error"].as_str().unwrap().contains("max_redirects (3)"),
        "{c3}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_and_retry_after() {
    let a = Site::start().await;
    a.set(
        "/flaky",
        Reply::Sequence(vec![
            Reply::Status(503),
            Reply::Status(502),
            html_page("Flaky", &[]),
        ]),
    );
    let retry_after = |v: &str| Reply::Raw {
        status: 429,
        headers: vec![("Retry-After".into(), v.into())],
        body: Vec::new(),
    };
    a.set(
        "/busy",
        Reply::Sequence(vec![retry_after("1"), html_page("Busy", &[])]),
    );
    a.set("/dead", Reply::Status(500));
    a.set("/gone", Reply::Status(410));
    a.set("/missing", Reply::Status(404));
    a.set(
        "/",
        html_page("root", &["/flaky", "/busy", "/dead", "/gone", "/missing"]),
    );
    let dir = crawl_site(
        &a,
        &[
            "--per-host-concurrency=4",
            "--retries=2",
            "--retry-backoff=0.2",
        ],
    )
    .await;
    let recs = records_by_url(dir.path());
    let flaky = &recs[&a.url("/flaky")];
    assert_eq!(flaky["status"], 200);
    assert_eq!(flaky["attempts"], 3);
    assert_eq!(a.count("/flaky"), 3);
    let starts = |p: &str| -> Vec<_> {
        a.hits()
            .iter()
            .filter(|h| h.path == p)
            .map(|h| h.start)
            .collect()
    };
    let f = starts("/flaky");
    // Backoff 0.2 s then 0.4 s, each with ±25% jitter.
    assert!(
        f[1] - f[0] >= Duration::from_millis(150),
        "{:?}",
        f[1] - f[0]
    );
    assert!(
        f[2] - f[1] >= Duration::from_millis(300),
        "{:?}",
        f[2] - f[1]
    );

    let b = starts("/busy");
    assert_eq!(b.len(), 2);
    assert!(
        b[1] - b[0] >= Duration::from_millis(950),
        "Retry-After: 1 ignored: {:?}",
        b[1] - b[0]
    );
    assert_eq!(recs[&a.url("/busy")]["status"], 200);

    assert_eq!(a.count("/dead"), 3, "500 is retried `retries` times");
    assert_eq!(recs[&a.url("/dead")]["status"], 500);
    assert_eq!(a.count("/gone"), 1, "410 is final");
    assert_eq!(a.count("/missing"), 1, "404 is final");
    assert_eq!(recs[&a.url("/missing")]["status"], 404);
    assert_eq!(recs[&a.url("/missing")]["error"], Value::Null);
    assert_eq!(stats(dir.path())["retries"], 2 + 1 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_pages_max_depth_include_and_exclude() {
    let a = Site::start().await;
    tree_site_routes(&a, 100, 3);

    let dir = crawl_site(&a, &["--max-pages=10"]).await;
    assert_eq!(read_records(dir.path()).len(), 10);
    assert_eq!(page_hits(&a), 10);
    assert_eq!(stats(dir.path())["completed"], true);

    let dir = crawl_site(&a, &["--max-depth=2"]).await;
    let recs = read_records(dir.path());
    assert_eq!(
        recs.len(),
        1 + 3 + 9,
        "depths 0, 1 and 2 of a fanout-3 tree"
    );
    assert!(recs.iter().all(|r| r["depth"].as_u64().unwrap() <= 2));

    // Exclude page 1's subtree root; include only /p/ pages (the seed is always crawled).
    let dir = crawl_site(
        &a,
        &["--include=/p/[0-9]+$", "--exclude=/p/1$", "--max-depth=1"],
    )
    .await;
    let urls: HashSet<String> = read_records(dir.path())
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    let want: HashSet<String> = [a.url("/"), a.url("/p/2"), a.url("/p/3")]
        .into_iter()
        .collect();
    assert_eq!(urls, want);
    assert!(stats(dir.path())["refused"]["filter"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_allowed() {
    let seed = Site::start().await;
    let internal = Site::start().await;
    internal.set("/", html_page("internal", &[]));
    // "localhost" resolves to 127.0.0.1 but is not the seed's host: refused at connect time.
    let by_name = format!("http://localhost:{}/", internal.port());
    let by_ip = "http://127.0.0.2:9/".to_string();
    let meta = "http://169.254.169.254/latest/meta-data/".to_string();
    seed.set("/", html_page("root", &[&by_name, &by_ip, &meta]));
    let dir = crawl_site(&seed, &["--scope=any"]).await;
    assert_eq!(internal.hits().len(), 0);
    let recs = records_by_url(dir.path());
    for u in [&by_name, &by_ip, &meta] {
        let e = recs[u]["error"].as_str().unwrap_or("");
        assert!(e.starts_with("blocked:"), "{u}: {e}");
        assert_eq!(recs[u]["status"], Value::Null);
    }
    assert_eq!(stats(dir.path())["refused"]["blocked"], 3);

    let dir = crawl_site(
        &seed,
        &["--scope=any", "--allow-private", "--include=localhost"],
    )
    .await;
    assert_eq!(internal.count("/"), 1);
    assert_eq!(records_by_url(dir.path())[&by_name]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_crawl_delay_slows_the_host() {
    let a = Site::start().await;
    tree_site_routes(&a, 4, 3);
    a.set(
        "/robots.txt",
        Reply::robots("User-agent: trawl\nCrawl-delay: 0.5\n"),
    );
    let _dir = crawl_site(&a, &["--per-host-concurrency=4"]).await;
    let starts = a.page_starts();
    assert_eq!(starts.len(), 4);
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(450),
            "{:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_server_error_means_not_yet() {
    let a = Site::start().await;
    tree_site_routes(&a, 3, 2);
    a.set(
        "/robots.txt",
        Reply::Sequence(vec![Reply::Status(503), Reply::Status(404)]),
    );
    let dir = crawl_site(&a, &["--retry-backoff=0.1"]).await;
    assert_eq!(read_records(dir.path()).len(), 3);
    let paths = a.paths();
    assert_eq!(paths[0], "/robots.txt");
    assert_eq!(
        paths[1], "/robots.txt",
        "no page fetched while robots.txt answered 5xx"
    );

    // A robots.txt that never recovers: nothing is fetched, the seed is recorded.
    let b = Site::start().await;
    tree_site_routes(&b, 3, 2);
    b.set("/robots.txt", Reply::Status(500));
    let (out, dir) = crawl(&[&b.url("/"), "--retries=1", "--retry-backoff=0.1"]).await;
    out.assert_code(0);
    assert!(b.paths().iter().all(|p| p == "/robots.txt"));
    let recs = read_records(dir.path());
    assert_eq!(recs.len(), 1);
    assert!(recs[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("robots: robots.txt unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_agent_is_sent_and_matched_in_robots() {
    let a = Site::start().await;
    tree_site_routes(&a, 3, 2);
    a.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /\n\nUser-agent: mybot\nAllow: /\n"),
    );
    let dir = crawl_site(&a, &["--user-agent", "MyBot/1.0 (+http://example.com/bot)"]).await;
    assert_eq!(read_records(dir.path()).len(), 3);
    assert!(a
        .hits()
        .iter()
        .all(|h| h.user_agent == "MyBot/1.0 (+http://example.com/bot)"));
    let dir = crawl_site(&a, &[]).await;
    let recs = read_records(dir.path());
    assert_eq!(recs.len(), 1);
    assert!(recs[0]["error"].as_str().unwrap().starts_with("robots:"));
    assert!(a.hits().last().unwrap().user_agent.starts_with("trawl/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_html_is_recorded_but_not_parsed() {
    let a = Site::start().await;
    a.set(
        "/data.json",
        Reply::typed("application/json", br#"{"a": "<a href='/hidden1'>x</a>"}"#),
    );
    a.set(
        "/fake.html",
        Reply::typed("text/html", b"%PDF-1.4 <a href='/hidden2'>x</a>"),
    );
    a.set("/", html_page("root", &["/data.json", "/fake.html"]));
    let dir = crawl_site(&a, &[]).await;
    let recs = records_by_url(dir.path());
    assert_eq!(recs.len(), 3);
    assert_eq!(
        recs[&a.url("/data.json")]["content_type"],
        "application/json"
    );
    assert_eq!(recs[&a.url("/data.json")]["links"], 0);
    assert_eq!(a.count("/hidden1") + a.count("/hidden2"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_are_decoded_and_ignore_robots_skips_robots_txt() {
    let a = Site::start().await;
    let html = "<html><title>Zipped</title><a href=\"/private/x\">x</a></html>".repeat(20);
    a.set("/", Reply::gzipped("text/html", gzip(html.as_bytes())));
    a.set("/private/x", html_page("x", &[]));
    a.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /private/\n"),
    );
    let dir = crawl_site(&a, &["--ignore-robots"]).await;
    let recs = records_by_url(dir.path());
    let root = &recs[&a.url("/")];
    assert_eq!(root["title"], "Zipped");
    assert_eq!(
        root["content_length"].as_u64().unwrap() as usize,
        html.len(),
        "counted after decompression"
    );
    assert_eq!(a.count("/robots.txt"), 0);
    assert_eq!(a.count("/private/x"), 1);
}

// ---------------------------------------------------------------------------------------
// Bad input through the real binary: exit code and one clear line.
// ---------------------------------------------------------------------------------------

fn error_line(out: &RunOutput) -> String {
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!out.stderr.contains("panicked"), "panic: {}", out.stderr);
    assert!(!out.stderr.contains("stack backtrace"), "{}", out.stderr);
    lines.first().map(|s| s.to_string()).unwrap_or_default()
}

#[test]
fn bad_inputs_exit_non_zero_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out_dir = d.join("out");
    let out_s = out_dir.display().to_string();

    // Missing seed file.
    let missing = d.join("nope.txt").display().to_string();
    let o = run_trawl(&["crawl", "--seeds", &missing, "--out", &out_s], T);
    o.assert_code(1);
    let l = error_line(&o);
    assert!(
        l.contains("cannot read seed file") && l.contains("nope.txt"),
        "{l}"
    );
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);

    // A seed file with no usable URL.
    let bad_seeds = d.join("bad.txt");
    std::fs::write(&bad_seeds, "# x\nnot a url\nftp://x/\n").unwrap();
    let o = run_trawl(
        &[
            "crawl",
            "--seeds",
            &bad_seeds.display().to_string(),
            "--out",
            &out_s,
        ],
        T,
    );
    o.assert_code(1);
    o.assert_stderr_has(&["bad.txt:2: skipped seed 'not a url'"]);
    o.assert_stderr_has(&["bad.txt:3: skipped seed"]);
    o.assert_stderr_has(&["error: no usable seed URL"]);

    // Broken TOML, unknown key, negative and absurd numbers in the config.
    for (text, want) in [
        ("concurrency = [", "line 1"),
        ("# ok\nconcurency = 3\n", "line 2"),
        ("max_pages = -1\n", "line 1"),
        ("concurrency = 0\n", "invalid concurrency"),
        ("per_host_rate = 1e12\n", "invalid per_host_rate"),
        ("scope = \"planet\"\n", "line 1"),
    ] {
        let cfg = d.join("c.toml");
        std::fs::write(&cfg, text).unwrap();
        let o = run_trawl(
            &[
                "crawl",
                "http://127.0.0.1:9/",
                "--config",
                &cfg.display().to_string(),
                "--out",
                &out_s,
            ],
            T,
        );
        o.assert_code(1);
        let l = error_line(&o);
        assert!(
            l.starts_with("trawl: error:") && l.contains(want),
            "{text:?}: {l}"
        );
        assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    }
    let o = run_trawl(
        &[
            "crawl",
            "http://127.0.0.1:9/",
            "--config",
            &d.join("absent.toml").display().to_string(),
        ],
        T,
    );
    o.assert_code(1);
    assert!(error_line(&o).contains("absent.toml"));

    // Negative and malformed numbers on the command line: clap's usage error (exit 2).
    for args in [
        ["--max-pages", "-5"],
        ["--concurrency", "lots"],
        ["--scope", "planet"],
    ] {
        let mut all = vec!["crawl", "http://127.0.0.1:9/", "--out", &out_s];
        all.extend(args);
        let o = run_trawl(&all, T);
        o.assert_code(2);
        assert!(error_line(&o).starts_with("error:"), "{}", o.stderr);
    }
    let o = run_trawl(
        &[
            "crawl",
            "http://127.0.0.1:9/",
            "--out",
            &out_s,
            "--timeout",
            "0",
        ],
        T,
    );
    o.assert_code(1);
    assert!(error_line(&o).contains("timeout"));

    // Unwritable output directory (a file stands where the directory should be).
    let file = d.join("file");
    std::fs::write(&file, "x").unwrap();
    let target = file.join("sub").display().to_string();
    let o = run_trawl(&["crawl", "http://127.0.0.1:9/", "--out", &target], T);
    o.assert_code(1);
    assert!(
        error_line(&o).contains("cannot create output directory"),
        "{}",
        o.stderr
    );
}

/// A seed list longer than what is admitted before the first fetch: the rest come
/// in chunks while the workers run, and every seed is fetched and recorded once
/// (the crawl is not over between two chunks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_seed_list_is_admitted_while_the_crawl_runs_and_each_seed_is_fetched_once() {
    let a = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.txt");
    let list: Vec<String> = (0..12_500).map(|i| a.url(&format!("/s/{i}"))).collect();
    std::fs::write(&seeds, list.join("\n")).unwrap();
    let out_dir = dir.path().join("out");
    let args: Vec<String> = [
        "crawl",
        "--seeds",
        &seeds.display().to_string(),
        "--out",
        &out_dir.display().to_string(),
        "--per-host-rate=0",
        "--per-host-concurrency=16",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = run_trawl_async(args, Duration::from_secs(120)).await;
    o.assert_code(0);
    let records = read_records(&out_dir);
    let counts = url_counts(&records);
    assert_eq!(records.len(), list.len(), "one record a seed");
    assert!(list.iter().all(|u| counts.get(u) == Some(&1)));
    assert_each_page_fetched_once(&a);
    assert_eq!(page_hits(&a), list.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seed_lines_are_skipped_and_an_old_crawl_is_not_overwritten() {
    let a = Site::start().await;
    tree_site_routes(&a, 3, 2);
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, format!("# seeds\n\nnot-a-url\n{}\n", a.url("/"))).unwrap();
    let out_dir = dir.path().join("out").display().to_string();
    let args: Vec<String> = [
        "crawl",
        "--seeds",
        &seeds.display().to_string(),
        "--out",
        &out_dir,
        "--per-host-rate=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = run_trawl_async(args.clone(), T).await;
    o.assert_code(0);
    o.assert_stderr_has(&["seeds.txt:3: skipped seed 'not-a-url'"]);
    let before = std::fs::read(dir.path().join("out/pages.jsonl")).unwrap();
    let stats_before = std::fs::read(dir.path().join("out/stats.json")).unwrap();
    assert_eq!(read_records(&dir.path().join("out")).len(), 3);

    // The same command again: one line, exit 0, nothing touched.
    let o = run_trawl_async(args.clone(), T).await;
    o.assert_code(0);
    o.assert_stderr_has(&["already holds a finished crawl (3 pages)", "--fresh"]);
    // (The seed file's warning comes first.)
    let lines: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| !l.contains("warning"))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {}", o.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("out/pages.jsonl")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/stats.json")).unwrap(),
        stats_before
    );
    // With -q, not even that line.
    let mut quiet = args.clone();
    quiet.push("-q".into());
    let o = run_trawl_async(quiet, T).await;
    o.assert_code(0);
    assert_eq!(o.stderr.trim(), "", "{}", o.stderr);
    // A seed the finished crawl never saw: not the same command, so not "nothing to do".
    let other = Site::start().await;
    let mut more = args.clone();
    more.push(other.url("/new"));
    let o = run_trawl_async(more, T).await;
    o.assert_code(1);
    o.assert_stderr_has(&[
        "holds a finished crawl (3 pages) that never saw the seed",
        "/new",
        "--fresh",
    ]);
    assert_eq!(other.hits().len(), 0);
    assert_eq!(
        std::fs::read(dir.path().join("out/pages.jsonl")).unwrap(),
        before
    );

    // A second crawl cannot use a directory a running crawl holds.
    let slow = Site::start().await;
    slow.set(
        "/",
        Reply::delayed(Duration::from_millis(1500), html_page("slow", &[])),
    );
    let busy = dir.path().join("busy").display().to_string();
    let first = spawn_trawl(&["crawl", &slow.url("/"), "--out", &busy, "--ignore-robots"]);
    wait_until("a first request to slow", Duration::from_secs(10), || {
        !slow.hits().is_empty()
    })
    .await;
    let second = run_trawl_async(
        ["crawl", &slow.url("/"), "--out", &busy, "--fresh"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        T,
    )
    .await;
    second.assert_code(1);
    second.assert_stderr_has(&["in use by another trawl crawl"]);
    let first = finish(first).await;
    first.assert_code(0);
    assert_eq!(read_records(&dir.path().join("busy")).len(), 1);

    let mut fresh = args;
    fresh.push("--fresh".into());
    run_trawl_async(fresh, T).await.assert_code(0);
    assert_eq!(read_records(&dir.path().join("out")).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_cleanly_with_complete_output() {
    let a = slow_tree(400, Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("progress.toml");
    std::fs::write(&cfg, "progress_interval = 0.2\n").unwrap();
    let cfg = cfg.display().to_string();
    let (out, stop) = crawl_then_signal(&a, dir.path(), &["--config", &cfg], 20, "-INT").await;
    out.assert_code(130);
    assert!(stop < Duration::from_secs(8), "stop took {stop:?}");
    let recs = assert_stopped_crawl_is_whole(&a, dir.path());
    assert!(recs.len() < 400, "the crawl stopped early");
    let s = stats(dir.path());
    assert_eq!(s["completed"], false);
    assert_eq!(s["stopped_by"], "SIGINT");
    // Not a terminal: progress goes to the log as periodic lines.
    out.assert_stderr_has(&["progress: pages "]);
    out.assert_stderr_has(&["SIGINT received"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_url_found_again_closer_to_a_seed_takes_the_shorter_depth() {
    // /p on host B is first found 3 hops away (a, b/q1, b/q2, p) through fast pages,
    // then 2 hops away through a slow page of host A while it still waits in B's
    // queue (B is rate-limited and busy). It must be crawled at depth 2, so that its
    // link /y (3 hops) is within --max-depth 3 and crawled too.
    let a = Site::start().await;
    let b = Site::start().await;
    let fillers: Vec<String> = (0..8).map(|i| format!("/f{i}")).collect();
    let mut q1_links = vec!["/q2"];
    q1_links.extend(fillers.iter().map(String::as_str));
    b.set("/q1", html_page("q1", &q1_links));
    b.set("/q2", html_page("q2", &["/p"]));
    b.set("/p", html_page("p", &["/y"]));
    b.set("/y", html_page("y", &[]));
    for f in &fillers {
        b.set(f, html_page("filler", &[]));
    }
    a.set(
        "/slow",
        Reply::delayed(
            Duration::from_millis(400),
            html_page("slow", &[&b.url("/p")]),
        ),
    );
    a.set("/", html_page("root", &["/slow", &b.url("/q1")]));
    let (out, dir) = crawl(&[
        &a.url("/"),
        "--per-host-rate=10",
        "--per-host-concurrency=1",
        "--max-depth=3",
        "--allow-private",
    ])
    .await;
    out.assert_code(0);
    let recs = records_by_url(dir.path());
    assert_eq!(recs[&b.url("/p")]["depth"], 2, "{}", recs[&b.url("/p")]);
    assert_eq!(recs[&b.url("/y")]["depth"], 3);
    assert_eq!(b.count("/y"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_crawls_its_synthetic_site_offline() {
    let out = run_trawl_async(
        vec!["bench".into(), "--pages".into(), "300".into()],
        Duration::from_secs(120),
    )
    .await;
    out.assert_code(0);
    // 300 pages and 50 missing pages (2% broken links), all recorded; the
    // stylesheet the pages link to is not fetched (skip_extensions).
    out.assert_stdout_has(&["pages 350 (300 ok)"]);
    out.assert_stdout_has(&["pages/s", "CPU-ms/page"]);
}

/// A limit that leaves URLs out says which, and how many, in the summary; the first
/// time a host reaches its URL budget a warning names it. A crawl in which some
/// page answered exits 0 whatever failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_that_leave_urls_out_say_so() {
    let site = Site::start().await;
    tree_site_routes(&site, 40, 4);
    let url = site.url("/");
    let (out, dir) = crawl(&[&url, "--per-host-rate=0", "--max-pages-per-host=10"]).await;
    out.assert_code(0);
    let left = stats(dir.path())["traps"]["host_budget"]
        .as_u64()
        .unwrap_or(0);
    assert!(left > 0, "{}", out.stderr);
    out.assert_stderr_has(&[
        &format!("limits left out {left} URLs (max_pages_per_host: {left})"),
        "see stats.json",
    ]);
    let warned: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("reached max_pages_per_host (10)"))
        .collect();
    assert_eq!(warned.len(), 1, "{}", out.stderr);
    assert!(warned[0].contains(&site.host()), "{}", warned[0]);

    // No limit cut anything: no such line.
    let (out, _dir) = crawl(&[&url, "--per-host-rate=0"]).await;
    out.assert_code(0);
    assert!(!out.stderr.contains("limits left out"), "{}", out.stderr);
}

/// Sizes and durations take units in flags and in the config file; plain numbers
/// still mean bytes and seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_and_durations_take_units() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/big", "/slow"]));
    site.set("/big", Reply::Html(format!("<p>{}</p>", "x".repeat(5000))));
    site.set(
        "/slow",
        Reply::delayed(Duration::from_secs(3), html_page("slow", &[])),
    );
    let check = |dir: &std::path::Path| {
        let records = records_by_url(dir);
        let big = records[&site.url("/big")]["error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            big.starts_with("too_large:") && big.contains("(2048 bytes)"),
            "{big}"
        );
        let slow = records[&site.url("/slow")]["error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(slow.starts_with("timeout:"), "{slow}");
    };
    let flags = ["--max-body=2KiB", "--timeout=500ms", "--retries=0"];
    let mut args = vec![];
    args.extend(flags);
    let dir = crawl_site(&site, &args).await;
    check(dir.path());

    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        conf.path(),
        "max_body = \"2KiB\"\ntimeout = \"0.5s\"\nretries = 0\nrobots_cache_bytes = \"1MiB\"\n",
    )
    .unwrap();
    let config = conf.path().display().to_string();
    let dir = crawl_site(&site, &["--config", &config]).await;
    check(dir.path());

    // A unit it does not know is a one-line error naming the flag, or the line.
    let (out, _dir) = crawl(&[&site.url("/"), "--max-body=10 parsecs"]).await;
    out.assert_code(2);
    out.assert_stderr_has(&["--max-body", "unknown size unit 'parsecs'"]);
    std::fs::write(conf.path(), "timeout = \"soon\"\n").unwrap();
    let (out, _dir) = crawl(&[&site.url("/"), "--config", &config]).await;
    out.assert_code(1);
    out.assert_stderr_has(&["line 1: 'soon' is not a duration"]);
}

/// `-v` gives one line per URL (URL, status, bytes, time, worker) and nothing from
/// the HTTP client's internals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_gives_one_line_per_url() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/a", "/missing"]));
    site.set("/a", html_page("a", &[]));
    let (out, dir) = crawl(&[&site.url("/"), "--per-host-rate=0", "-v"]).await;
    out.assert_code(0);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(" fetched "))
        .collect();
    assert_eq!(
        lines.len(),
        read_records(dir.path()).len(),
        "{}",
        out.stderr
    );
    let a = lines
        .iter()
        .find(|l| l.contains(&format!("url={}", site.url("/a"))))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    for field in ["status=200", "bytes=", "ms=", "worker="] {
        assert!(a.contains(field), "{field} in {a}");
    }
    for internal in ["hyper", "reqwest", "h2::", "rustls"] {
        assert!(!out.stderr.contains(internal), "{internal}: {}", out.stderr);
    }
}
