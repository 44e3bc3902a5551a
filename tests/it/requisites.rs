//! `--page-requisites` (wget's `-p`): a page's images, stylesheets and scripts are
//! fetched past `skip_extensions` so that a WARC of the crawl replays, but never
//! out of scope, never parsed for links, one hop past `max_depth` at most, and
//! still known as requisites after a resume.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// A listener on 127.0.0.2 (another host than the fixture's 127.0.0.1): it must
/// never be connected to. Non-blocking, so `accept` answers at once.
fn other_host() -> (TcpListener, String) {
    let trap = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    trap.set_nonblocking(true).expect("non-blocking");
    let origin = format!(
        "http://127.0.0.2:{}",
        trap.local_addr().expect("addr").port()
    );
    (trap, origin)
}

/// A page with a stylesheet, an image, a script (each named with an extension of
/// `skip_extensions`), an image on another host, and a link to a second page.
async fn site_with_requisites(other: &str) -> Site {
    let site = Site::start().await;
    site.set(
        "/",
        Reply::Html(format!(
            r#"<html><head><title>Home</title><link rel="stylesheet" href="/style.css">
            <script src="/app.js"></script></head><body><img src="/logo.png" alt="logo">
            <img src="{other}/elsewhere.png"><a href="/about">about</a></body></html>"#
        )),
    );
    site.set("/about", html_page("About", &[]));
    site.set(
        "/style.css",
        Reply::typed("text/css", "body { color: red }"),
    );
    site.set(
        "/app.js",
        Reply::typed("application/javascript", "console.log(1)"),
    );
    site.set(
        "/logo.png",
        Reply::typed("image/png", b"\x89PNG\r\n\x1a\n\x00\x01logo".to_vec()),
    );
    site.set("/robots.txt", Reply::Status(404));
    site
}

const REQUISITES: [&str; 3] = ["/style.css", "/app.js", "/logo.png"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pages_requisites_are_fetched_and_archived_and_out_of_scope_ones_are_not() {
    let (trap, other) = other_host();
    let site = site_with_requisites(&other).await;
    // --allow-private: only scope (not the address guard) keeps 127.0.0.2 out; a
    // short timeout so that a crawl that wrongly asks it fails fast.
    let dir = crawl_site(
        &site,
        &[
            "--page-requisites",
            "--warc",
            "--allow-private",
            "--timeout=3",
            "--retries=0",
        ],
    )
    .await;

    for path in REQUISITES {
        assert_eq!(site.count(path), 1, "{path} fetched once");
    }
    assert!(trap.accept().is_err(), "nothing connected to 127.0.0.2");
    let records = records_by_url(dir.path());
    let urls: BTreeSet<&str> = records.keys().map(String::as_str).collect();
    let mut expected: BTreeSet<String> = REQUISITES.iter().map(|p| site.url(p)).collect();
    expected.insert(site.url("/"));
    expected.insert(site.url("/about"));
    assert_eq!(urls, expected.iter().map(String::as_str).collect());
    for path in REQUISITES {
        let r = &records[&site.url(path)];
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["error"], Value::Null, "{r}");
        assert_eq!(r["requisite"], true, "{r}");
        assert_eq!(r["depth"], 1, "{r}");
        assert_eq!(r["links"], 0, "{r}");
    }
    for path in ["/", "/about"] {
        assert_eq!(records[&site.url(path)]["requisite"], false);
    }
    // The out-of-scope image was refused, not just left unfetched.
    assert!(stats(dir.path())["refused"]["scope"].as_u64() >= Some(1));

    // The page and its three requisites are response records of the archive.
    let index = warc_index(dir.path());
    let responses: BTreeSet<&str> = index
        .iter()
        .filter(|r| r["warc-type"] == "response")
        .filter_map(|r| r["warc-target-uri"].as_str())
        .collect();
    for url in &expected {
        assert!(
            responses.contains(url.as_str()),
            "{url} not archived: {index:?}"
        );
    }
    assert!(
        !responses.iter().any(|u| u.contains("127.0.0.2")),
        "{responses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_requisites_are_not_fetched() {
    let (trap, other) = other_host();
    let site = site_with_requisites(&other).await;
    let dir = crawl_site(&site, &["--warc", "--allow-private"]).await;
    for path in REQUISITES {
        assert_eq!(site.count(path), 0, "{path} fetched");
    }
    assert!(trap.accept().is_err(), "nothing connected to 127.0.0.2");
    let records = read_records(dir.path());
    assert_eq!(records.len(), 2, "{records:?}");
    // The default record has no `requisite` key.
    assert!(records.iter().all(|r| r.get("requisite").is_none()));
    let index = warc_index(dir.path());
    let responses = index
        .iter()
        .filter(|r| r["warc-type"] == "response")
        .count();
    assert_eq!(responses, 2, "{index:?}");
}

/// The deepest pages get their requisites (one hop past --max-depth), a requisite
/// that redirects to another image is followed, and a requisite that is HTML is
/// archived but not parsed: its links and its own requisites are not fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requisites_go_one_hop_past_max_depth_follow_redirects_and_are_never_parsed() {
    let site = Site::start().await;
    site.set(
        "/",
        Reply::Html(
            r#"<title>Home</title><img src="/old.png"><object data="/embedded"></object>
            <a href="/deeper">deeper</a>"#
                .into(),
        ),
    );
    site.set("/old.png", Reply::Redirect(301, "/new.png".into()));
    site.set(
        "/new.png",
        Reply::typed("image/png", b"\x89PNGnew".to_vec()),
    );
    site.set(
        "/embedded",
        Reply::Html(
            r#"<title>Embedded</title><a href="/from-embedded">x</a><img src="/inner.png">"#.into(),
        ),
    );
    site.set("/deeper", html_page("Deeper", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let dir = crawl_site(&site, &["--page-requisites", "--max-depth=0"]).await;

    assert_eq!(site.count("/old.png"), 1);
    assert_eq!(site.count("/new.png"), 1);
    assert_eq!(site.count("/embedded"), 1);
    for never in ["/deeper", "/from-embedded", "/inner.png"] {
        assert_eq!(site.count(never), 0, "{never} fetched");
    }
    let records = records_by_url(dir.path());
    let new = &records[&site.url("/new.png")];
    assert_eq!(
        (new["requisite"].clone(), new["depth"].clone()),
        (true.into(), 1.into())
    );
    let embedded = &records[&site.url("/embedded")];
    assert_eq!(embedded["status"], 200, "{embedded}");
    assert_eq!(embedded["title"], Value::Null, "not parsed: {embedded}");
    assert_eq!(embedded["links"], 0, "{embedded}");
}

/// A crawl stopped while requisites are still queued resumes them: they are stored
/// as requisites, so the resumed run's `skip_extensions` check lets them through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requisites_survive_a_stop_and_resume() {
    let n = 30;
    let site = Site::start().await;
    let imgs: String = (0..n)
        .map(|i| format!(r#"<img src="/img/{i}.png">"#))
        .collect();
    site.set("/", Reply::Html(format!("<title>Gallery</title>{imgs}")));
    for i in 0..n {
        site.set(
            &format!("/img/{i}.png"),
            Reply::delayed(
                Duration::from_millis(100),
                Reply::typed("image/png", b"\x89PNG".to_vec()),
            ),
        );
    }
    site.set("/robots.txt", Reply::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let args = crawl_args(
        &site.url("/"),
        dir.path(),
        &[
            "--page-requisites",
            "--per-host-rate=0",
            "--per-host-concurrency=1",
        ],
    );
    let child = spawn_args(&args);
    wait_until("a few images", Duration::from_secs(20), || {
        page_hits(&site) > 5
    })
    .await;
    signal(&child, "-INT");
    finish(child).await.assert_code(130);
    let first = read_records(dir.path()).len();
    assert!(
        first > 1 && first < n + 1,
        "stopped half-way: {first} records"
    );

    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    out.assert_stderr_has(&["resuming the crawl"]);
    let counts = url_counts(&read_records(dir.path()));
    for i in 0..n {
        let url = site.url(&format!("/img/{i}.png"));
        assert_eq!(counts.get(&url), Some(&1), "{url} recorded once");
    }
    assert_eq!(counts.len(), n + 1);
    assert_eq!(
        stats(dir.path())["refused"]["extension"]
            .as_u64()
            .unwrap_or(0),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_of_a_page_and_its_requisites_replays_in_pywb() {
    let (_trap, other) = other_host();
    let site = site_with_requisites(&other).await;
    let dir = crawl_site(&site, &["--page-requisites", "--warc"]).await;
    let warcs: Vec<String> = std::fs::read_dir(dir.path().join("warc"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert!(!warcs.is_empty());
    // A pywb collection of the crawl's archive, served on loopback.
    let (_wayback, addr) = replay(&warcs).await;
    // Each requisite replays byte for byte, as the site served it.
    let served = [
        ("/style.css", "body { color: red }"),
        ("/app.js", "console.log(1)"),
    ];
    for (path, body) in served {
        let reply = get(&addr, &format!("/trawl/2000id_/{}", site.url(path))).unwrap();
        let (status, got) = status_and_body(&reply);
        assert!(status.contains(" 200"), "{path}: {reply}");
        assert_eq!(got, body, "{path}");
    }
    let reply = get(&addr, &format!("/trawl/2000id_/{}", site.url("/logo.png"))).unwrap();
    assert!(status_and_body(&reply).0.contains(" 200"), "{reply}");
    // The page replays with its requisites pointed at the archive, not the live site.
    let reply = get(&addr, &format!("/trawl/2000mp_/{}", site.url("/"))).unwrap();
    let (status, page) = status_and_body(&reply);
    assert!(status.contains(" 200"), "{reply}");
    assert!(page.contains("<title>Home</title>"), "{page}");
    // pywb's rewriter names each by its kind: cs_ stylesheet, js_ script, im_ image.
    for (kind, path) in [
        ("cs_", "/style.css"),
        ("js_", "/app.js"),
        ("im_", "/logo.png"),
    ] {
        let archived = format!("\"/trawl/2000{kind}/{}\"", site.url(path));
        assert!(page.contains(&archived), "no {archived} in\n{page}");
    }
    // What was out of scope was never archived.
    let reply = get(&addr, &format!("/trawl/2000id_/{other}/elsewhere.png")).unwrap();
    assert!(!status_and_body(&reply).0.contains(" 200"), "{reply}");
}
