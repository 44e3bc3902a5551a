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

/// Google's reading of `User-agent:` lines, through the real crawl: `User-Agent:
/// MYBOT Images` names the product token `mybot`, which is what `--user-agent
/// "MyBot/2.0 (+...)"` is called, so that group's rules apply (not the `*` group's,
/// which forbids everything), with its Crawl-delay (honoured, though Google ignores
/// it) and its `Allow: /dir/index.html`, which also allows `/dir/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crawl_obeys_the_group_its_product_token_names() {
    let s = Site::start().await;
    s.set(
        "/robots.txt",
        Reply::robots(
            "User-agent: *\nDisallow: /\n\nUser-Agent: MYBOT Images\nCrawl-delay: 0.3\n\
             Disallow: /private\nAllow: /dir/index.html\nDisallow: /dir/\n",
        ),
    );
    s.set(
        "/",
        html_page("index", &["/a", "/private/x", "/dir/", "/dir/other"]),
    );
    for page in ["/a", "/private/x", "/dir/", "/dir/other"] {
        s.set(page, html_page(page, &[]));
    }
    let ua = "MyBot/2.0 (+http://example.com/bot)";
    let dir = crawl_site(&s, &["--user-agent", ua]).await;

    let recs = records_by_url(dir.path());
    for page in ["/", "/a", "/dir/"] {
        assert_eq!(recs[&s.url(page)]["status"], 200, "{page}");
        assert_eq!(s.count(page), 1, "{page}");
    }
    for page in ["/private/x", "/dir/other"] {
        let e = recs[&s.url(page)]["error"].as_str().unwrap_or("");
        assert!(e.starts_with("robots:"), "{page}: {e}");
        assert_eq!(s.count(page), 0, "{page}");
    }
    let starts = s.page_starts();
    assert_eq!(starts.len(), 3);
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(250),
            "Crawl-delay 0.3 s of the named group: {:?}",
            w[1] - w[0]
        );
    }
}

/// `trawl robots` reads a file as Google does and names the deciding line: the
/// product token of `--user-agent`, an implied index.html rule (named by the line
/// that implies it), patterns outside ASCII or with lower-case escapes, patterns
/// with `?` (matched against path and query) and a line cut at Google's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trawl_robots_reads_as_google_and_names_the_deciding_line() {
    // A line of 16,663 bytes is read; this one is longer, so its `/tail` is cut.
    let long_head = "Allow: /long/";
    let run = "a".repeat(2083 * 8 - 1 - long_head.len());
    let txt = format!(
        "User-agent: *\nDisallow: /\n\n\
         User-Agent: FOOBOT Images\n\
         Disallow: /\n\
         Allow: /dir/index.html\n\
         Allow: /caf\u{e9}\n\
         Allow: /%aa\n\
         Allow: /q?s=\n\
         Disallow: /q?s=secret\n\
         {long_head}{run}/tail\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("robots.txt");
    std::fs::write(&file, txt).unwrap();
    // (path, verdict, what the explanation says)
    let cases = [
        (
            "/dir/",
            "allowed",
            "line 6: Allow: /dir/index.html (implies Allow: /dir/$) (group: foobot)",
        ),
        (
            "/dir/index.html",
            "allowed",
            "line 6: Allow: /dir/index.html (group",
        ),
        (
            "/dir/x",
            "disallowed",
            "line 5: Disallow: / (group: foobot)",
        ),
        (
            "/caf%C3%A9/menu",
            "allowed",
            "line 7: Allow: /caf\u{e9} (group",
        ),
        ("/%AA", "allowed", "line 8: Allow: /%aa (group"),
        ("/%aa", "allowed", "line 8"),
        ("/q?s=1", "allowed", "line 9: Allow: /q?s= (group"),
        (
            "/q?s=secret",
            "disallowed",
            "line 10: Disallow: /q?s=secret (group",
        ),
        ("/q", "disallowed", "line 5"),
        ("/q?S=1", "disallowed", "line 5"),
    ];
    let long_url = format!("/long/{run}/other");
    let mut args = vec![
        "robots".to_string(),
        "--robots-file".into(),
        file.display().to_string(),
        "--user-agent".into(),
        "FooBot/2.1 (+http://example.com)".into(),
    ];
    args.extend(cases.iter().map(|(p, ..)| format!("http://e.com{p}")));
    args.push(format!("http://e.com{long_url}"));
    let out = run_trawl_async(args, T).await;
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), cases.len() + 1, "{}", out.stdout);
    for (line, (path, verdict, why)) in lines.iter().zip(cases) {
        assert!(
            line.starts_with(&format!("{verdict}\t")) && line.contains(why),
            "{path}: {line}"
        );
    }
    let last = lines[cases.len()];
    assert!(
        last.starts_with("allowed\t") && last.contains("line 11: Allow: /long/aaa"),
        "{long_url}: {last}"
    );
}
