//! Datasets: extraction rules and extras in records, the worked example, WARC
//! archives checked by the reference tool (warcio), compressed and rotated
//! output, `trawl export`, and sitemaps.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

fn repo_file(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_example_extracts_known_answers() {
    let site = Site::start().await;
    let seed = shop_routes(&site);
    let config = repo_file("config/products.toml");
    let (out, dir) = crawl(&[&seed, "--config", &config, "--per-host-rate", "0"]).await;
    out.assert_code(0);
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
    // The example's exclude keeps category pages out.
    assert_eq!(site.count("/catalogue/category/books/poetry_23/index.html"), 0);
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
            <a href="/pic.png">p</a></body></html>"#
                .into(),
        ),
    );
    site.set(
        "/pic.png",
        Reply::Raw {
            status: 200,
            headers: vec![("Content-Type".into(), "image/png".into())],
            body: b"\x89PNG\r\n\x1a\n....".to_vec(),
        },
    );
    let (out, dir) = crawl(&[&site.url("/"), "--extras", "all", "--per-host-rate", "0"]).await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    assert_eq!(records.len(), 3);
    let home = &records[&site.url("/")];
    assert_eq!(home["lang"], "fr");
    assert_eq!(home["description"], "D");
    assert_eq!(home["canonical"], site.url("/canon"));
    assert_eq!(home["meta"], json!({"description": "D", "og:type": "article"}));
    assert_eq!(home["json_ld"], json!([{"@type": "Thing"}]));
    // Navigation goes; the links after the paragraph are text of the body.
    assert_eq!(home["text"], "Hello world\nm p");
    for path in ["/missing", "/pic.png"] {
        let r = &records[&site.url(path)];
        for key in ["description", "canonical", "lang", "meta", "json_ld", "text"] {
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
    std::fs::write(
        &config,
        "[[rules]]\nname = \"shop\"\npattern = \"/\"\n[rules.fields]\nok = { selector = \"h1\" }\nprice = { selector = \"p..price\" }\n",
    )
    .unwrap();
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
    assert!(site.hits().is_empty(), "no request before the rules compile");
}

/// The reference WARC tool: `$WARCIO`, else `warcio` on PATH (CI installs it).
fn warcio() -> PathBuf {
    std::env::var_os("WARCIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("warcio"))
}

fn run_warcio(args: &[&str]) -> String {
    let out = Command::new(warcio())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run warcio ({e}): install it (pip install warcio) or set WARCIO")
        });
    assert!(
        out.status.success(),
        "warcio {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warc_archive_round_trips_through_warcio() {
    let site = Site::start().await;
    let same = "<title>same</title><p>identical payload</p>".to_string();
    site.set(
        "/",
        Reply::Html(
            r#"<a href="/a">a</a><a href="/b">b</a><a href="/missing">m</a>
               <a href="/moved">r</a><a href="/gz">z</a><a href="/pic.png">p</a>"#
                .into(),
        ),
    );
    site.set("/a", Reply::Html(same.clone()));
    site.set("/b", Reply::Html(same));
    site.set("/moved", Reply::Redirect(301, "/target".into()));
    site.set("/target", Reply::Html("<title>target</title>".into()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"<title>zipped</title>").unwrap();
    site.set(
        "/gz",
        Reply::Raw {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/html".into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            body: gz.finish().unwrap(),
        },
    );
    site.set(
        "/pic.png",
        Reply::Raw {
            status: 200,
            headers: vec![("Content-Type".into(), "image/png".into())],
            body: b"\x89PNG\r\n\x1a\n\x00\x01binary".to_vec(),
        },
    );
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--warc",
        "--warc-rotate-size",
        "4096",
        "--per-host-rate",
        "0",
    ])
    .await;
    out.assert_code(0);

    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("warc"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "4 KB rotation makes several files: {files:?}");
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
    // The decoded body is stored, so the archived head must not claim gzip.
    assert!(
        !all.to_ascii_lowercase()
            .contains("\r\ncontent-encoding: gzip"),
        "the head says the body is still compressed"
    );
}
