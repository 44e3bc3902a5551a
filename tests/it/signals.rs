//! Reading the web as its owners and readers do: which links lead to pages (and
//! which files are never worth a request), the signals a site sends (X-Robots-Tag,
//! meta robots, meta refresh, rel=canonical), each run through the real binary
//! against a local site.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

const T: std::time::Duration = std::time::Duration::from_secs(60);

fn paths(site: &Site) -> BTreeSet<String> {
    site.paths().into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The site got exactly robots.txt, "/" and these targets.
fn assert_fetched(site: &Site, targets: &[&str]) {
    let mut want = set(&["/robots.txt", "/"]);
    want.extend(set(targets));
    assert_eq!(paths(site), want);
}

/// A page of links to files that are never HTML, and to pages.
fn files_site(site: &Site) {
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        Reply::Html(
            r#"<a href="/files/report.pdf">r</a> <a href="/img/logo.PNG">l</a>
               <a href="/dist/app.tar.gz?v=2">t</a> <a href="/fonts/x.woff2">f</a>
               <a href="/page.html">p</a> <a href="/view?file=a.pdf">v</a>
               <a href="/moved">m</a>"#
                .into(),
        ),
    );
    site.set("/page.html", html_page("page", &[]));
    site.set("/view?file=a.pdf", html_page("view", &[]));
    site.set("/moved", Reply::Redirect(302, "/files/moved.zip".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_never_html_are_not_fetched_and_are_counted() {
    let site = Site::start().await;
    files_site(&site);
    let dir = crawl_site(&site, &[]).await;
    assert_fetched(&site, &["/page.html", "/view?file=a.pdf", "/moved"]);
    let stats = stats(dir.path());
    // Four links, and the redirect's target.
    assert_eq!(stats["refused"]["extension"], 5, "{stats}");
    let records = records_by_url(dir.path());
    let moved = &records[&site.url("/moved")];
    assert_eq!(moved["status"], 302);
    assert!(
        moved["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("redirect: ") && e.contains("skip_extensions")),
        "{moved}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_extensions_replaces_the_list_and_empty_fetches_everything() {
    let site = Site::start().await;
    files_site(&site);
    let dir = crawl_site(&site, &["--skip-extensions=jpg,png"]).await;
    let fetched = paths(&site);
    assert!(fetched.contains("/files/report.pdf"), "{fetched:?}");
    assert!(!fetched.contains("/img/logo.PNG"), "{fetched:?}");
    assert_eq!(stats(dir.path())["refused"]["extension"], 1);

    let site = Site::start().await;
    files_site(&site);
    let dir = crawl_site(&site, &["--skip-extensions="]).await;
    let fetched = paths(&site);
    for p in [
        "/files/report.pdf",
        "/img/logo.PNG",
        "/dist/app.tar.gz?v=2",
        "/fonts/x.woff2",
        "/files/moved.zip",
    ] {
        assert!(fetched.contains(p), "{p} not fetched: {fetched:?}");
    }
    assert_eq!(stats(dir.path())["refused"]["extension"], 0);

    // The config file key, with the flag on top.
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "skip_extensions = [\"pdf\"]\n").unwrap();
    let site = Site::start().await;
    files_site(&site);
    let config = conf.path().display().to_string();
    crawl_site(&site, &["--config", &config]).await;
    let fetched = paths(&site);
    assert!(!fetched.contains("/files/report.pdf"), "{fetched:?}");
    assert!(fetched.contains("/img/logo.PNG"), "{fetched:?}");

    // A bad entry is a one-line start-up error.
    let (out, _dir) = crawl(&[&site.url("/"), "--skip-extensions=pdf,a/b"]).await;
    out.assert_code(1);
    out.assert_stderr_has(&["skip_extensions", "'a/b' is not a file extension"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_links_that_can_lead_to_pages_are_followed() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        Reply::Html(
            r#"<html><head>
               <link rel="stylesheet" href="/style">
               <link rel="alternate stylesheet" href="/alt-style">
               <link rel="icon" href="/icon">
               <link rel="preload" href="/preload" as="script">
               <link rel="canonical" href="/canonical">
               <link rel="alternate" hreflang="de" href="/de">
               <link rel="next" href="/next"><link rel="prev" href="/prev">
               <link rel="next nofollow" href="/next-nofollow">
               <script src="/script"></script>
               </head><body>
               <img src="/img" srcset="/img2 2x"><video src="/video"></video>
               <audio src="/audio"></audio><source src="/source"><embed src="/embed">
               <object data="/object"></object><form action="/form"></form>
               <a href="/a">a</a><map><area href="/area"></map>
               <iframe src="/iframe"></iframe>
               </body></html>"#
                .into(),
        ),
    );
    let dir = crawl_site(&site, &[]).await;
    assert_fetched(
        &site,
        &[
            "/canonical",
            "/de",
            "/next",
            "/prev",
            "/a",
            "/area",
            "/iframe",
        ],
    );
    let home = &records_by_url(dir.path())[&site.url("/")];
    // The record keeps the canonical URL, absolute.
    assert_eq!(home["canonical"], site.url("/canonical"));
    assert_eq!(home["links"], 8);
    // rel="next nofollow" is nofollow, as on an <a>.
    assert_eq!(stats(dir.path())["refused"]["nofollow"], 1);

    // Frames too.
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        Reply::Html(r#"<frameset><frame src="/left"><frame src="/right"></frameset>"#.into()),
    );
    crawl_site(&site, &[]).await;
    assert_fetched(&site, &["/left", "/right"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canonical_target_passes_scope_robots_and_dedup_like_a_link() {
    let site = Site::start().await;
    site.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /private\n"),
    );
    site.set(
        "/",
        Reply::Html(
            r#"<link rel="canonical" href="/canon"><a href="/canon">again</a>
               <a href="/p1">1</a><a href="/p2">2</a>"#
                .into(),
        ),
    );
    site.set(
        "/p1",
        Reply::Html(r#"<link rel=canonical href="/private/x">"#.into()),
    );
    site.set(
        "/p2",
        Reply::Html(r#"<link rel=canonical href="http://offsite.test/">"#.into()),
    );
    site.set(
        "/canon",
        Reply::Html(r#"<link rel="canonical" href="/canon">"#.into()),
    );
    let dir = crawl_site(&site, &[]).await;
    assert_eq!(site.count("/canon"), 1);
    assert_eq!(site.count("/private/x"), 0);
    let records = records_by_url(dir.path());
    assert_eq!(
        records[&site.url("/private/x")]["error"]
            .as_str()
            .map(|e| e.starts_with("robots:")),
        Some(true)
    );
    assert_eq!(
        records[&site.url("/p2")]["canonical"],
        "http://offsite.test/"
    );
    assert!(!records.contains_key("http://offsite.test/"));
    // A page whose canonical is itself records it and costs nothing more.
    assert_eq!(
        records[&site.url("/canon")]["canonical"],
        site.url("/canon")
    );
    let stats = stats(dir.path());
    assert!(stats["refused"]["scope"].as_u64() >= Some(1), "{stats}");
}

/// A page at `path` that links to `{path}/child`, sent with these headers.
fn tagged(site: &Site, path: &str, headers: &[(&str, &str)]) {
    let mut all = vec![("Content-Type".to_string(), "text/html".to_string())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    site.set(
        path,
        Reply::Raw {
            status: 200,
            headers: all,
            body: format!("<a href=\"{path}/child\">c</a>").into_bytes(),
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_robots_tag_is_honoured_like_meta_robots() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    let pages = [
        "/plain",
        "/nofollow",
        "/none",
        "/ours",
        "/ours-upper",
        "/theirs",
        "/noindex",
        "/two",
        "/meta-noindex",
        "/meta-none",
        "/dated",
        "/long",
        "/meta-ours",
        "/meta-theirs",
    ];
    let links: Vec<&str> = pages.to_vec();
    site.set("/", html_page("home", &links));
    tagged(&site, "/plain", &[]);
    tagged(&site, "/nofollow", &[("X-Robots-Tag", "nofollow")]);
    tagged(&site, "/none", &[("X-Robots-Tag", "none")]);
    tagged(&site, "/ours", &[("X-Robots-Tag", "trawl: nofollow")]);
    tagged(
        &site,
        "/ours-upper",
        &[("X-Robots-Tag", "TRAWL: noindex, nofollow")],
    );
    tagged(
        &site,
        "/theirs",
        &[("X-Robots-Tag", "googlebot: nofollow, noindex")],
    );
    tagged(&site, "/noindex", &[("X-Robots-Tag", "noindex")]);
    tagged(
        &site,
        "/two",
        &[
            ("X-Robots-Tag", "otherbot: noindex"),
            ("X-Robots-Tag", "trawl: nofollow"),
        ],
    );
    site.set(
        "/meta-noindex",
        Reply::Html(
            r#"<meta name="robots" content="noindex"><a href="/meta-noindex/child">c</a>"#.into(),
        ),
    );
    site.set(
        "/meta-none",
        Reply::Html(
            r#"<meta name="robots" content="none"><a href="/meta-none/child">c</a>"#.into(),
        ),
    );
    // An HTTP date holds a comma and colons; it names no agent.
    tagged(
        &site,
        "/dated",
        &[(
            "X-Robots-Tag",
            "unavailable_after: Wed, 21 Oct 2015 07:28:00 GMT, noindex, nofollow",
        )],
    );
    // Kilobytes of directives: the nofollow ahead of them counts.
    let long = format!("nofollow, {}", "noarchive, ".repeat(300));
    tagged(&site, "/long", &[("X-Robots-Tag", long.as_str())]);
    site.set(
        "/meta-ours",
        Reply::Html(
            r#"<meta name="Trawl" content="nofollow"><a href="/meta-ours/child">c</a>"#.into(),
        ),
    );
    site.set(
        "/meta-theirs",
        Reply::Html(
            r#"<meta name="googlebot" content="none"><a href="/meta-theirs/child">c</a>"#.into(),
        ),
    );
    let dir = crawl_site(&site, &[]).await;
    let followed = |p: &str| site.count(&format!("{p}/child")) == 1;
    let records = records_by_url(dir.path());
    let noindex = |p: &str| records[&site.url(p)]["noindex"].clone();
    for (page, follow, index) in [
        ("/plain", true, true),
        ("/nofollow", false, true),
        ("/none", false, false),
        ("/ours", false, true),
        ("/ours-upper", false, false),
        ("/theirs", true, true),
        ("/noindex", true, false),
        ("/two", false, true),
        ("/meta-noindex", true, false),
        ("/meta-none", false, false),
        ("/dated", false, false),
        ("/long", false, true),
        ("/meta-ours", false, true),
        ("/meta-theirs", true, true),
    ] {
        assert_eq!(followed(page), follow, "{page} followed");
        assert_eq!(noindex(page), Value::Bool(!index), "{page} noindex");
    }
    assert_eq!(noindex("/"), Value::Bool(false));

    // The agent is the first word of --user-agent, up to a space or '/'.
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/ours"]));
    tagged(&site, "/ours", &[("X-Robots-Tag", "MyBot: nofollow")]);
    crawl_site(
        &site,
        &["--user-agent", "mybot/2.0 (+https://example.test/bot)"],
    )
    .await;
    assert_eq!(site.count("/ours/child"), 0);
    // And --ignore-robots ignores it, as it ignores meta robots.
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/nofollow"]));
    tagged(&site, "/nofollow", &[("X-Robots-Tag", "nofollow")]);
    crawl_site(&site, &["--ignore-robots"]).await;
    assert_eq!(site.count("/nofollow/child"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meta_refresh_is_followed_and_recorded_as_a_redirect() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        html_page(
            "home",
            &[
                "/r", "/later", "/self", "/out", "/loop1", "/self2", "/odd", "/js",
            ],
        ),
    );
    // A refresh naming the page itself, one that is no refresh, one to javascript:.
    site.set(
        "/self2",
        Reply::Html(
            r#"<meta http-equiv="refresh" content="0; url=/self2"><a href="/self2/link">s</a>"#
                .into(),
        ),
    );
    site.set(
        "/odd",
        Reply::Html(
            r#"<meta http-equiv="refresh" content="5minutes"><a href="/odd/link">o</a>"#.into(),
        ),
    );
    site.set(
        "/js",
        Reply::Html(
            r#"<meta http-equiv="refresh" content="0; url=javascript:alert(1)"><a href="/js/link">j</a>"#
                .into(),
        ),
    );
    site.set(
        "/r",
        Reply::Html(
            r#"<head><meta http-equiv="Refresh" content="0; URL='/target'"></head>
               <body><a href="/not-followed">x</a></body>"#
                .into(),
        ),
    );
    site.set("/target", html_page("target", &[]));
    // Later than 100 s: a page that reloads, not a redirect.
    site.set(
        "/later",
        Reply::Html(
            r#"<meta http-equiv="refresh" content="300; url=/later-target"><a href="/later/link">l</a>"#
                .into(),
        ),
    );
    site.set(
        "/self",
        Reply::Html(r#"<meta http-equiv="refresh" content="30"><a href="/self/link">s</a>"#.into()),
    );
    site.set(
        "/out",
        Reply::Html(r#"<meta http-equiv="refresh" content="0;url=http://offsite.test/">"#.into()),
    );
    site.set(
        "/loop1",
        Reply::Html(r#"<meta http-equiv="refresh" content="0;url=/loop2">"#.into()),
    );
    site.set(
        "/loop2",
        Reply::Html(r#"<meta http-equiv="refresh" content="0;url=/loop1">"#.into()),
    );
    let dir = crawl_site(&site, &[]).await;
    let records = records_by_url(dir.path());
    let r = &records[&site.url("/r")];
    assert_eq!(r["status"], 200);
    assert_eq!(r["redirect"], "refresh");
    assert_eq!(r["final_url"], site.url("/target"));
    assert_eq!(r["error"], Value::Null);
    // The target is at the page's depth, as a redirect target is.
    assert_eq!(records[&site.url("/target")]["depth"], r["depth"]);
    assert_eq!(site.count("/target"), 1);
    assert_eq!(site.count("/not-followed"), 0);

    let later = &records[&site.url("/later")];
    assert_eq!(later["redirect"], Value::Null);
    assert_eq!(site.count("/later-target"), 0);
    assert_eq!(site.count("/later/link"), 1);
    assert_eq!(records[&site.url("/self")]["redirect"], Value::Null);
    assert_eq!(site.count("/self/link"), 1);
    for page in ["/self2", "/odd", "/js"] {
        let r = &records[&site.url(page)];
        assert_eq!(r["redirect"], Value::Null, "{r}");
        assert_eq!(r["error"], Value::Null, "{r}");
        assert_eq!(site.count(&format!("{page}/link")), 1, "{page}");
    }
    assert_eq!(site.count("/minutes"), 0);

    let out = &records[&site.url("/out")];
    assert_eq!(out["redirect"], "refresh");
    assert!(
        out["error"]
            .as_str()
            .is_some_and(|e| e.contains("out of scope")),
        "{out}"
    );
    // A loop of refreshes ends, each page fetched once.
    assert_eq!(site.count("/loop1"), 1);
    assert_eq!(site.count("/loop2"), 1);

    // An HTTP redirect says so too; a plain page does not.
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set("/", html_page("home", &["/moved"]));
    site.set("/moved", Reply::Redirect(301, "/there".into()));
    site.set("/there", html_page("there", &[]));
    let dir = crawl_site(&site, &[]).await;
    let records = records_by_url(dir.path());
    assert_eq!(records[&site.url("/moved")]["redirect"], "http");
    assert_eq!(records[&site.url("/there")]["redirect"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_crawl_applies_a_new_skip_extensions_to_what_is_queued() {
    let site = Site::start().await;
    files_site(&site);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let url = site.url("/");
    let args = |extra: &[&str]| {
        let mut a = crawl_args(&url, &out, &["--per-host-rate=0"]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Everything queued, one page fetched.
    let o = run_trawl_async(args(&["--skip-extensions=", "--max-pages=1"]), T).await;
    o.assert_code(0);
    assert_eq!(site.count("/files/report.pdf"), 0);
    // Resumed with the default list: the queued files are refused, not fetched.
    let o = run_trawl_async(args(&[]), T).await;
    o.assert_code(0);
    let fetched = paths(&site);
    for p in ["/files/report.pdf", "/img/logo.PNG", "/fonts/x.woff2"] {
        assert!(!fetched.contains(p), "{p} fetched: {fetched:?}");
    }
    assert!(fetched.contains("/page.html"), "{fetched:?}");
    let stats = stats(&out);
    assert!(stats["refused"]["extension"].as_u64() >= Some(3), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canonical_extra_is_still_accepted() {
    let site = Site::start().await;
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        Reply::Html(r#"<link rel="canonical" href="/c">"#.into()),
    );
    let dir = crawl_site(&site, &["--extras=canonical,description"]).await;
    let home = &records_by_url(dir.path())[&site.url("/")];
    assert_eq!(home["canonical"], site.url("/c"));
    assert_eq!(home["description"], Value::Null);
}
