//! Datasets: extraction rules and extras in records, the worked example, WARC
//! archives checked by the reference tool (warcio), compressed and rotated
//! output, `trawl export`, and sitemaps.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

fn repo_file(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// Crawls the shop on `site` with the worked example's config; returns the seed and
/// the output directory.
async fn crawl_worked_example(site: &Site) -> (String, tempfile::TempDir) {
    let seed = shop_routes(site);
    let config = repo_file("config/products.toml");
    let (out, dir) = crawl(&[&seed, "--config", &config, "--per-host-rate=0"]).await;
    out.assert_code(0);
    (seed, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_example_extracts_known_answers() {
    let site = Site::start().await;
    let (seed, dir) = crawl_worked_example(&site).await;
    let records = records_by_url(dir.path());

    for (i, b) in BOOKS.iter().enumerate() {
        let url = site.url(&format!("/catalogue/{}/index.html", b.slug));
        let r = &records[&url];
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["rule"], "book", "{r}");
        let d = &r["data"];
        assert_eq!(d["title"], b.title);
        assert_eq!(d["price"].as_f64(), Some(b.price_value), "{d}");
        match b.in_stock {
            Some(n) => assert_eq!(d["in_stock"], n),
            None => assert_eq!(d["in_stock"], Value::Null),
        }
        assert_eq!(d["rating"], b.rating);
        assert_eq!(d["upc"], b.upc);
        assert_eq!(d["reviews"], b.reviews);
        assert_eq!(d["category"], b.category);
        assert_eq!(d["description"], b.description);
        assert_eq!(
            d["image"],
            site.url(&format!("/media/cache/{}.jpg", b.slug)),
            "book {i}"
        );
        // The extra the example switches on.
        assert_eq!(r["description"], b.description);
    }

    let page1 = &records[&seed];
    assert_eq!(page1["rule"], "listing");
    assert_eq!(
        page1["data"],
        json!({
            "page": 1,
            "books": [BOOKS[0].title, BOOKS[1].title],
            "links": [
                site.url(&format!("/catalogue/{}/index.html", BOOKS[0].slug)),
                site.url(&format!("/catalogue/{}/index.html", BOOKS[1].slug)),
            ],
            "prices": [BOOKS[0].price_value, BOOKS[1].price_value],
            "next": site.url("/catalogue/page-2.html"),
        })
    );
    let page2 = &records[&site.url("/catalogue/page-2.html")];
    assert_eq!(page2["data"]["page"], 2);
    assert_eq!(page2["data"]["next"], Value::Null);
    assert_eq!(page2["data"]["books"], json!([BOOKS[2].title]));

    // A page no rule set matches has the keys, null.
    let home = &records[&site.url("/index.html")];
    assert_eq!((&home["rule"], &home["data"]), (&Value::Null, &Value::Null));
    assert_eq!(stats(dir.path())["rules"], json!({"book": 3, "listing": 2}));
    // The example's exclude keeps category pages out.
    assert_eq!(
        site.count("/catalogue/category/books/poetry_23/index.html"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_are_on_every_record_and_null_where_nothing_was_parsed() {
    let site = Site::start().await;
    site.set(
        "/",
        Reply::Html(
            r#"<html lang="fr"><head><title>T</title><meta name="description" content="D">
            <meta property="og:type" content="article"><link rel="canonical" href="/canon">
            <script type="application/ld+json">{"@type":"Thing"}</script></head>
            <body><nav>menu</nav><p>Hello <b>world</b></p><a href="/missing">m</a>
            <a href="/pic">p</a></body></html>"#
                .into(),
        ),
    );
    // (Named without an extension: `.png` links are not fetched by default.)
    site.set("/pic", Reply::typed("image/png", b"\x89PNG\r\n\x1a\n...."));
    let dir = crawl_site(&site, &["--extras=all"]).await;
    let records = records_by_url(dir.path());
    // The canonical target is admitted like a link (a 404 here).
    assert_eq!(records.len(), 4);
    let home = &records[&site.url("/")];
    assert_eq!(home["lang"], "fr");
    assert_eq!(home["description"], "D");
    assert_eq!(home["canonical"], site.url("/canon"));
    assert_eq!(
        home["meta"],
        json!({"description": "D", "og:type": "article"})
    );
    assert_eq!(home["json_ld"], json!([{"@type": "Thing"}]));
    // Navigation goes; the links after the paragraph are text of the body.
    assert_eq!(home["text"], "Hello world\nm p");
    for path in ["/missing", "/pic"] {
        let r = &records[&site.url(path)];
        for key in [
            "description",
            "canonical",
            "lang",
            "meta",
            "json_ld",
            "text",
        ] {
            assert_eq!(r.get(key), Some(&Value::Null), "{path} {key}: {r}");
        }
        assert!(r.get("data").is_none(), "no rules, no data key: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_selector_stops_the_crawl_before_any_request() {
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>x</title>".into()));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let rules = "[[rules]]\nname = \"shop\"\npattern = \"/\"\n[rules.fields]\n\
                 ok = { selector = \"h1\" }\nprice = { selector = \"p..price\" }\n";
    std::fs::write(&config, rules).unwrap();
    let out_dir = dir.path().join("out");
    let args = vec![
        "crawl".to_string(),
        site.url("/"),
        "--config".into(),
        config.display().to_string(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    let out = run_trawl_async(args, Duration::from_secs(30)).await;
    out.assert_code(1);
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rule 'shop' field 'price'") && err.contains("p..price"),
        "{err}"
    );
    assert!(
        site.hits().is_empty(),
        "no request before the rules compile"
    );
}

/// A page cut at --max-body keeps its response record: the bytes read, marked
/// `WARC-Truncated: length`, and warcio accepts the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_body_is_archived_as_read_and_marked_truncated() {
    let site = Site::start().await;
    site.set("/", Reply::Html(r#"<a href="/big">big</a>"#.into()));
    site.set(
        "/big",
        Reply::Big {
            len: 200_000,
            content_type: "text/html".into(),
        },
    );
    let dir = crawl_site(&site, &["--warc", "--max-body=65536"]).await;
    let big = &records_by_url(dir.path())[&site.url("/big")];
    assert!(
        big["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("too_large:")),
        "{big}"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path().join("warc"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let check = run_warcio(&["check", "-v", &files[0]]);
    assert!(!check.contains("digest failed"), "{check}");
    let index = run_warcio(&[
        "index",
        "-f",
        "warc-type,warc-target-uri,warc-truncated",
        &files[0],
    ]);
    let big_url = site.url("/big");
    let cut: Vec<Value> = index
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["warc-target-uri"] == big_url.as_str())
        .collect();
    assert_eq!(cut.len(), 2, "a response and its request: {index}");
    assert_eq!(cut[0]["warc-type"], "response");
    assert_eq!(cut[0]["warc-truncated"], "length");
    assert_eq!(cut[1]["warc-type"], "request");
    let whole = &records_by_url(dir.path())[&site.url("/")];
    assert_eq!(whole["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warc_archive_round_trips_through_warcio() {
    let site = Site::start().await;
    let same = "<title>same</title><p>identical payload</p>".to_string();
    site.set(
        "/",
        Reply::Html(
            r#"<a href="/a">a</a><a href="/b">b</a><a href="/missing">m</a>
               <a href="/moved">r</a><a href="/gz">z</a><a href="/pic">p</a>"#
                .into(),
        ),
    );
    site.set("/a", Reply::Html(same.clone()));
    site.set("/b", Reply::Html(same));
    site.set("/moved", Reply::Redirect(301, "/target".into()));
    site.set("/target", Reply::Html("<title>target</title>".into()));
    site.set(
        "/gz",
        Reply::gzipped("text/html", gzip(b"<title>zipped</title>")),
    );
    // (Named without an extension: `.png` links are not fetched by default.)
    site.set(
        "/pic",
        Reply::typed("image/png", b"\x89PNG\r\n\x1a\n\x00\x01binary"),
    );
    let dir = crawl_site(&site, &["--warc", "--warc-rotate-size=4096"]).await;

    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("warc"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "4 KB rotation makes several files: {files:?}"
    );
    let mut responses = BTreeSet::new();
    let (mut revisits, mut requests, mut infos) = (0, 0, 0);
    for f in &files {
        let name = f.display().to_string();
        assert!(name.ends_with(".warc.gz"), "finished files only: {name}");
        let check = run_warcio(&["check", "-v", &name]);
        assert!(!check.contains("digest failed"), "{check}");
        for line in run_warcio(&["index", &name]).lines() {
            let rec: Value = serde_json::from_str(line).unwrap();
            match rec["warc-type"].as_str() {
                Some("response") => {
                    responses.insert(rec["warc-target-uri"].as_str().unwrap().to_string());
                }
                Some("revisit") => {
                    revisits += 1;
                    responses.insert(rec["warc-target-uri"].as_str().unwrap().to_string());
                }
                Some("request") => requests += 1,
                Some("warcinfo") => infos += 1,
                other => panic!("unexpected record {other:?}"),
            }
        }
    }
    // Every URL that got an HTTP response is archived, once, and nothing else.
    let recorded: BTreeSet<String> = read_records(dir.path())
        .iter()
        .filter(|r| !r["status"].is_null())
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(responses, recorded);
    assert_eq!(recorded.len(), 8, "{recorded:?}");
    assert_eq!(requests, recorded.len());
    assert_eq!(revisits, 1, "/a and /b share a payload");
    assert_eq!(infos, files.len(), "one warcinfo per file");

    // The decoded body is what was stored, under a truthful head.
    let all = files
        .iter()
        .map(|f| {
            let mut raw = Vec::new();
            let bytes = std::fs::read(f).unwrap();
            let mut d = flate2::read::MultiGzDecoder::new(&bytes[..]);
            std::io::Read::read_to_end(&mut d, &mut raw).unwrap();
            String::from_utf8_lossy(&raw).into_owned()
        })
        .collect::<String>();
    assert!(all.contains("<title>zipped</title>"));
    // --fresh replaces the archive with the new crawl's, never mixes the two.
    let mut again = vec!["crawl".to_string(), site.url("/"), "--out".into()];
    again.push(dir.path().display().to_string());
    again.extend(["--warc", "--fresh", "--per-host-rate=0"].map(String::from));
    run_trawl_async(again, Duration::from_secs(60))
        .await
        .assert_code(0);
    let archived: usize = std::fs::read_dir(dir.path().join("warc"))
        .unwrap()
        .map(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let mut raw = Vec::new();
            let mut d = flate2::read::MultiGzDecoder::new(&bytes[..]);
            std::io::Read::read_to_end(&mut d, &mut raw).unwrap();
            let text = String::from_utf8_lossy(&raw).into_owned();
            text.matches("WARC-Type: request\r\n").count()
        })
        .sum();
    assert_eq!(
        archived,
        recorded.len(),
        "one crawl's exchanges after --fresh"
    );

    // The decoded body is stored, so the archived head must not claim gzip.
    assert!(
        !all.to_ascii_lowercase()
            .contains("\r\ncontent-encoding: gzip"),
        "the head says the body is still compressed"
    );
}

fn urlset(locs: &[String]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">"#,
    );
    for loc in locs {
        xml.push_str(&format!(
            "<url><loc>{loc}</loc><image:image><image:loc>{loc}.jpg</image:loc></image:image></url>\n"
        ));
    }
    xml.push_str("</urlset>");
    xml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sitemap_that_redirects_to_another_host_does_not_widen_the_scope() {
    let site = Site::start().await;
    let other = Site::start().await;
    // Another host name for the other server: out of the seed host's scope.
    let elsewhere = format!("http://localhost:{}", other.port());
    site.set("/", Reply::Html("<title>home, no links</title>".into()));
    site.set(
        "/robots.txt",
        Reply::robots(&format!(
            "User-agent: *\nSitemap: {}\n",
            site.url("/sitemap.xml")
        )),
    );
    site.set(
        "/sitemap.xml",
        Reply::Redirect(301, format!("{elsewhere}/sitemap.xml")),
    );
    other.set(
        "/sitemap.xml",
        Reply::typed("application/xml", urlset(&[format!("{elsewhere}/p1")])),
    );
    other.set("/p1", Reply::Html("<title>p1</title>".into()));
    // Private addresses allowed: the scope alone must refuse the other host.
    let dir = crawl_site(&site, &["--sitemaps", "--allow-private"]).await;
    let recs = records_by_url(dir.path());
    let map = &recs[&site.url("/sitemap.xml")];
    let error = map["error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("redirect: ") && error.contains("out of scope"),
        "{map}"
    );
    assert!(
        other.hits().is_empty(),
        "the other host was asked: {:?}",
        other.paths()
    );
    assert_eq!(recs.len(), 2, "{recs:?}");

    // A seed that redirects to another host (through a chain) still brings that
    // host into scope, as a seed would.
    site.set("/go", Reply::Redirect(301, format!("{elsewhere}/start")));
    other.set("/start", Reply::Redirect(301, format!("{elsewhere}/home")));
    other.set("/home", html_page("home", &["/p1"]));
    let (out, dir) = crawl(&[&site.url("/go"), "--allow-private", "-q"]).await;
    out.assert_code(0);
    let recs = records_by_url(dir.path());
    assert_eq!(recs[&format!("{elsewhere}/p1")]["status"], 200, "{recs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sitemaps_from_robots_txt_index_plain_and_gzip() {
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>home, no links</title>".into()));
    site.set(
        "/robots.txt",
        Reply::robots(&format!(
            "User-agent: *\nDisallow: /private\nSitemap: {}\nSitemap: {}\n",
            site.url("/maps/index.xml"),
            site.url("/maps/list.txt")
        )),
    );
    let index = format!(
        r#"<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <sitemap><loc>{}</loc></sitemap><sitemap><loc>{}</loc></sitemap></sitemapindex>"#,
        site.url("/maps/plain.xml"),
        site.url("/maps/zipped.xml.gz")
    );
    site.set("/maps/index.xml", Reply::typed("application/xml", index));
    site.set(
        "/maps/plain.xml",
        Reply::typed(
            "text/xml",
            urlset(&[
                site.url("/p1"),
                site.url("/p2?b=2&amp;a=1"),
                "http://elsewhere.invalid/off-site".into(),
                site.url("/private/secret"),
            ]),
        ),
    );
    let zipped = gzip(urlset(&[site.url("/p3")]).as_bytes());
    site.set(
        "/maps/zipped.xml.gz",
        Reply::typed("application/x-gzip", zipped),
    );
    // A plain-text sitemap, as the protocol allows: read because robots.txt names it.
    site.set(
        "/maps/list.txt",
        Reply::typed(
            "text/plain",
            format!("{}\n\n# not a URL\n", site.url("/p4")),
        ),
    );
    for p in ["/p1", "/p2?a=1&b=2", "/p3", "/p4"] {
        site.set(p, Reply::Html(format!("<title>{p}</title>")));
    }

    let dir = crawl_site(&site, &["--sitemaps"]).await;
    let records = records_by_url(dir.path());
    for p in ["/p1", "/p2?a=1&b=2", "/p3", "/p4"] {
        let r = &records[&site.url(p)];
        assert_eq!(
            (&r["status"], r["depth"].as_u64()),
            (&json!(200), Some(1)),
            "{r}"
        );
    }
    let index = &records[&site.url("/maps/index.xml")];
    assert_eq!(
        (&index["status"], &index["links"]),
        (&json!(200), &json!(2))
    );
    assert_eq!(records[&site.url("/maps/plain.xml")]["links"], 4);
    assert_eq!(records[&site.url("/maps/zipped.xml.gz")]["links"], 1);
    // Sitemap URLs obey scope and robots.txt like links; image:loc is not a page.
    assert_eq!(
        records[&site.url("/private/secret")]["error"]
            .as_str()
            .map(|e| e.starts_with("robots")),
        Some(true)
    );
    assert_eq!(site.count("/private/secret"), 0);
    assert_eq!(site.count("/p1.jpg"), 0);
    assert!(!records.keys().any(|u| u.contains("elsewhere")));
    assert_eq!(records[&site.url("/maps/list.txt")]["links"], 1);
    assert_eq!(records.len(), 10, "{:?}", records.keys());
    let s = stats(dir.path());
    assert_eq!(
        (s["sitemaps"].as_u64(), s["sitemap_urls"].as_u64()),
        (Some(4), Some(8))
    );
    // Without --sitemaps nothing of this is fetched.
    let site2 = Site::start().await;
    site2.set("/", Reply::Html("<title>x</title>".into()));
    let _dir = crawl_site(&site2, &[]).await;
    assert_eq!(site2.count("/sitemap.xml"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sitemap_xml_is_tried_when_robots_lists_none_and_sitemaps_are_bounded() {
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>home</title>".into()));
    // No robots.txt (404): /sitemap.xml is the convention.
    let many: Vec<String> = (0..50).map(|i| site.url(&format!("/page/{i}"))).collect();
    site.set(
        "/sitemap.xml",
        Reply::typed("application/xml", urlset(&many)),
    );
    for i in 0..50 {
        site.set(
            &format!("/page/{i}"),
            Reply::Html("<title>p</title>".into()),
        );
    }
    let dir = crawl_site(&site, &["--sitemaps", "--max-sitemap-urls=10"]).await;
    let records = records_by_url(dir.path());
    assert_eq!(records[&site.url("/sitemap.xml")]["links"], 10);
    let pages = records.keys().filter(|u| u.contains("/page/")).count();
    assert_eq!(pages, 10, "max_sitemap_urls bounds what one sitemap adds");
    assert_eq!(stats(dir.path())["sitemaps_cut"], 1, "and says so");

    // An index pointing at itself and at many children: at most max_sitemaps_per_host.
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>home</title>".into()));
    let children: String = (0..20)
        .map(|i| {
            format!(
                "<sitemap><loc>{}</loc></sitemap>",
                site.url(&format!("/sm/{i}.xml"))
            )
        })
        .collect();
    site.set(
        "/sitemap.xml",
        Reply::typed("application/xml", format!(r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{}</loc></sitemap>{children}</sitemapindex>"#, site.url("/sitemap.xml"))),
    );
    for i in 0..20 {
        site.set(
            &format!("/sm/{i}.xml"),
            Reply::typed("application/xml", urlset(&[])),
        );
    }
    let dir = crawl_site(&site, &["--sitemaps", "--max-sitemaps-per-host=5"]).await;
    let fetched = site
        .paths()
        .iter()
        .filter(|p| p.starts_with("/sm/") || *p == "/sitemap.xml")
        .count();
    assert_eq!(fetched, 5, "{:?}", site.paths());
    assert_eq!(stats(dir.path())["sitemaps"], 5);
}

/// Runs `trawl export DIR --fields FIELDS --format FORMAT`; returns stdout.
async fn export(dir: &Path, fields: &str, format: &str) -> String {
    let args = vec![
        "export".to_string(),
        dir.display().to_string(),
        "--fields".into(),
        fields.into(),
        "--format".into(),
        format.into(),
    ];
    let out = run_trawl_async(args, Duration::from_secs(30)).await;
    out.assert_code(0);
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_a_csv_of_the_worked_example() {
    let site = Site::start().await;
    let (_, dir) = crawl_worked_example(&site).await;
    let csv = export(
        dir.path(),
        "url,status,title,data.price,data.in_stock",
        "csv",
    )
    .await;
    let mut lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.remove(0), "url,status,title,data.price,data.in_stock");
    assert_eq!(lines.len(), read_records(dir.path()).len());
    let book = BOOKS[1].slug;
    let row = lines
        .iter()
        .find(|l| l.contains(book))
        .unwrap_or_else(|| panic!("no row for {book}: {csv}"));
    assert_eq!(
        *row,
        format!(
            "{},200,Tipping the Velvet | Books to Scrape - Sandbox,1053.74,20",
            site.url(&format!("/catalogue/{book}/index.html"))
        )
    );
    let sold_out = lines.iter().find(|l| l.contains(BOOKS[2].slug)).unwrap();
    assert!(sold_out.ends_with(",50.1,"), "{sold_out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_rotated_output_survives_a_kill_and_exports_every_record_once() {
    let pages = 200;
    let site = slow_tree(pages, Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--per-host-rate=0",
        "--per-host-concurrency=4",
        "--compress=zstd",
        "--rotate-size=4096",
    ];
    let args = crawl_args(&site.url("/"), dir.path(), &extra);
    let mut child = spawn_args(&args);
    wait_until("a third of the pages", Duration::from_secs(20), || {
        site.paths().len() > pages / 3
    })
    .await;
    child.kill().unwrap();
    assert_eq!(finish(child).await.code, None);
    // Resuming with other options is refused, naming the file.
    let mut other = args.clone();
    let at = other.iter().position(|a| a == "--compress=zstd").unwrap();
    other[at] = "--compress=gzip".into();
    let refused = run_trawl_async(other, Duration::from_secs(30)).await;
    refused.assert_code(1);
    refused.assert_stderr_has(&["--compress"]);
    // The same command finishes the crawl.
    run_trawl_async(args, Duration::from_secs(60))
        .await
        .assert_code(0);

    let mut parts: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pages"))
        .collect();
    parts.sort();
    assert!(parts.len() >= 2, "{parts:?}");
    assert!(
        parts
            .iter()
            .all(|p| p.starts_with("pages-") && p.ends_with(".jsonl.zst")),
        "{parts:?}"
    );
    let lines = export(dir.path(), "url,status", "jsonl").await;
    let exported: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen = url_counts(&exported);
    assert_eq!(seen.len(), pages, "every page recorded");
    assert!(seen.values().all(|n| *n == 1), "each once: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_with_other_extras_warns_that_records_will_differ() {
    let pages = 200;
    let site = slow_tree(pages, Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let base = ["--per-host-rate=0", "--per-host-concurrency=4"];
    let with_text = [&base[..], &["--extras=text"]].concat();
    let mut child = spawn_args(&crawl_args(&site.url("/"), dir.path(), &with_text));
    // Killed once records are on disk (after the frontier's first commit), with
    // pages left to crawl: a crawl to resume.
    let pages_file = dir.path().join("pages.jsonl");
    wait_until("records on disk", Duration::from_secs(20), || {
        std::fs::read_to_string(&pages_file).is_ok_and(|t| t.lines().count() >= 10)
    })
    .await;
    assert!(site.paths().len() < pages, "still crawling");
    child.kill().unwrap();
    assert_eq!(finish(child).await.code, None);
    let out = run_trawl_async(
        crawl_args(&site.url("/"), dir.path(), &base),
        Duration::from_secs(60),
    )
    .await;
    out.assert_code(0);
    out.assert_stderr_has(&["[text]", "mix the two"]);
    // The same options again: no warning.
    let site2 = slow_tree(20, Duration::from_millis(20)).await;
    let dir2 = tempfile::tempdir().unwrap();
    let args = crawl_args(&site2.url("/"), dir2.path(), &with_text);
    let mut child = spawn_args(&args);
    wait_until("some pages", Duration::from_secs(20), || {
        site2.paths().len() > 3
    })
    .await;
    child.kill().unwrap();
    finish(child).await;
    let out = run_trawl_async(args, Duration::from_secs(60)).await;
    assert!(!out.stderr.contains("mix the two"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_survives_a_closed_stderr_and_warns_of_unknown_fields() {
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>t</title>".into()));
    let dir = crawl_site(&site, &[]).await;
    let d = dir.path().display().to_string();
    let out = run_trawl_async(
        vec![
            "export".into(),
            d.clone(),
            "--fields".into(),
            "url,data.prize".into(),
        ],
        Duration::from_secs(30),
    )
    .await;
    out.assert_code(0);
    out.assert_stderr_has(&["no record has data.prize"]);
    // stderr closed before trawl writes to it: still a clean exit, not an abort.
    let mut child = spawn_trawl(&["export", &d, "--fields=url,nothing"]);
    drop(child.stderr.take());
    let out = finish(child).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("url,nothing\n"));
}
