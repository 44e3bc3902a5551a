//! Recrawls (`--since PREVIOUS_OUT`): conditional requests from the earlier crawl's
//! records, `304`s recorded `not_modified` with the earlier digest, the earlier
//! crawl's URLs re-admitted so that unchanged pages still lead everywhere, and the
//! archive's revisit records.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

const HOME_ETAG: &str = "\"home-1\"";
const A_MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

/// A site whose pages carry validators: `/` (ETag) and `/a` (Last-Modified only)
/// answer 304 when asked with them; `/b` has an ETag and is the page that changes;
/// `/c` has none, so it is always sent whole. `/c` is linked from `/a` only.
fn first_version(site: &Site) {
    site.set("/robots.txt", Reply::Status(404));
    site.set(
        "/",
        Reply::Validated {
            etag: Some(HOME_ETAG.into()),
            last_modified: None,
            html: r#"<title>home</title><a href="/a">a</a><a href="/b">b</a>"#.into(),
        },
    );
    site.set(
        "/a",
        Reply::Validated {
            etag: None,
            last_modified: Some(A_MODIFIED.into()),
            html: r#"<title>a</title><a href="/c">c</a>"#.into(),
        },
    );
    site.set(
        "/b",
        Reply::Validated {
            etag: Some("\"b-1\"".into()),
            last_modified: None,
            html: "<title>b</title>".into(),
        },
    );
    site.set("/c", html_page("c", &[]));
}

/// `/b` changes (a new ETag, and a link to the new page `/d`).
fn second_version(site: &Site) {
    site.set(
        "/b",
        Reply::Validated {
            etag: Some("\"b-2\"".into()),
            last_modified: None,
            html: r#"<title>b, new</title><a href="/d">d</a>"#.into(),
        },
    );
    site.set("/d", html_page("d", &[]));
}

async fn crawl_into(site: &Site, out: &Path, extra: &[&str]) -> RunOutput {
    let mut args = crawl_args(&site.url("/"), out, &[]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run_trawl_async(args, std::time::Duration::from_secs(60)).await;
    out.assert_code(0);
    out
}

/// The archive's records of a crawl (checked by warcio first), with the fields a
/// revisit is read by, named as WARC names them.
fn archive(out_dir: &Path) -> Vec<Value> {
    const FIELDS: [&str; 7] = [
        "warc-type",
        "warc-target-uri",
        "warc-profile",
        "warc-refers-to-target-uri",
        "warc-refers-to-date",
        "warc-payload-digest",
        "http:status",
    ];
    let mut records = Vec::new();
    for e in std::fs::read_dir(out_dir.join("warc")).unwrap() {
        let name = e.unwrap().path().display().to_string();
        let check = run_warcio(&["check", "-v", &name]);
        assert!(!check.contains("digest failed"), "{check}");
        for line in run_warcio(&["index", "-f", &FIELDS.join(","), &name]).lines() {
            records.push(serde_json::from_str(line).unwrap());
        }
    }
    records
}

fn field<'a>(
    records: &'a std::collections::HashMap<String, Value>,
    url: &str,
    key: &str,
) -> &'a Value {
    &records
        .get(url)
        .unwrap_or_else(|| panic!("no record of {url}"))[key]
}

/// The request trawl sent for `path` last.
fn last_hit(site: &Site, path: &str) -> Hit {
    site.hits()
        .into_iter()
        .rev()
        .find(|h| h.path == path)
        .unwrap_or_else(|| panic!("{path} was not requested"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recrawl_asks_conditionally_and_records_what_changed() {
    let site = Site::start().await;
    first_version(&site);
    let base = tempfile::tempdir().unwrap();
    let first = base.path().join("first");
    crawl_into(&site, &first, &[]).await;
    let before = records_by_url(&first);
    assert_eq!(before.len(), 4, "{before:?}");
    // Every crawl's records can be the base of the next: validators and digests.
    assert_eq!(field(&before, &site.url("/"), "etag"), HOME_ETAG);
    assert_eq!(field(&before, &site.url("/a"), "last_modified"), A_MODIFIED);
    for r in before.values() {
        let digest = r["digest"].as_str().unwrap_or_default();
        assert!(digest.starts_with("sha1:") && digest.len() == 37, "{r}");
        assert!(
            r.get("recrawl").is_none(),
            "no recrawl field without --since"
        );
    }

    second_version(&site);
    let hits_before = site.hits().len();
    let second = base.path().join("second");
    let since = first.display().to_string();
    let run = crawl_into(&site, &second, &["--since", &since]).await;
    let after = records_by_url(&second);

    // The conditional requests, each from the earlier record.
    assert_eq!(
        last_hit(&site, "/").header("if-none-match"),
        Some(HOME_ETAG)
    );
    assert_eq!(last_hit(&site, "/").header("if-modified-since"), None);
    let a = last_hit(&site, "/a");
    assert_eq!(a.header("if-modified-since"), Some(A_MODIFIED));
    assert_eq!(a.header("if-none-match"), None);
    assert_eq!(
        last_hit(&site, "/b").header("if-none-match"),
        Some("\"b-1\"")
    );
    assert_eq!(last_hit(&site, "/c").header("if-none-match"), None);
    assert_eq!(last_hit(&site, "/d").header("if-none-match"), None);

    // A 304 is not_modified, with the earlier digest and validators.
    for path in ["/", "/a"] {
        let url = site.url(path);
        assert_eq!(field(&after, &url, "status"), 304, "{path}");
        assert_eq!(field(&after, &url, "recrawl"), "not_modified", "{path}");
        assert_eq!(
            field(&after, &url, "digest"),
            field(&before, &url, "digest"),
            "{path}"
        );
        assert_eq!(field(&after, &url, "content_length"), 0, "{path}");
    }
    assert_eq!(field(&after, &site.url("/"), "etag"), HOME_ETAG);
    assert_eq!(
        field(&after, &site.url("/"), "original_date"),
        field(&before, &site.url("/"), "fetched_at"),
        "the capture the digest names"
    );
    assert_eq!(field(&after, &site.url("/a"), "last_modified"), A_MODIFIED);
    // /c is linked from the 304'd /a only: it was re-admitted from the earlier
    // crawl, and came back whole with the same payload.
    assert_eq!(field(&after, &site.url("/c"), "recrawl"), "unchanged");
    assert_eq!(
        field(&after, &site.url("/c"), "digest"),
        field(&before, &site.url("/c"), "digest")
    );
    // The changed page is fetched and parsed as usual, and leads to a new page.
    assert_eq!(field(&after, &site.url("/b"), "recrawl"), "changed");
    assert_eq!(field(&after, &site.url("/b"), "etag"), "\"b-2\"");
    assert_eq!(field(&after, &site.url("/b"), "title"), "b, new");
    assert_ne!(
        field(&after, &site.url("/b"), "digest"),
        field(&before, &site.url("/b"), "digest")
    );
    assert_eq!(field(&after, &site.url("/d"), "recrawl"), "new");
    assert_eq!(after.len(), 5, "{after:?}");
    // Each page once: robots.txt and five pages.
    assert_eq!(site.hits().len() - hits_before, 6);

    let s = stats(&second);
    let r = &s["recrawl"];
    assert_eq!(r["previous_records"], 4, "{s}");
    assert_eq!(r["not_modified"], 2, "{s}");
    assert_eq!(r["unchanged"], 1, "{s}");
    assert_eq!(r["changed"], 1, "{s}");
    assert_eq!(r["new"], 1, "{s}");
    assert_eq!(s["pages_ok"], 5, "304s confirm pages: {s}");
    assert!(s["bytes"].as_u64() < stats(&first)["bytes"].as_u64());
    assert!(stats(&first).get("recrawl").is_none());
    run.assert_stderr_has(&["recrawl: 2 not modified, 1 unchanged, 1 changed, 1 new"]);

    // A recrawl is the base of the next: the 304 records carry what is needed.
    let third = base.path().join("third");
    let since = second.display().to_string();
    crawl_into(&site, &third, &["--since", &since]).await;
    let again = records_by_url(&third);
    assert_eq!(
        last_hit(&site, "/").header("if-none-match"),
        Some(HOME_ETAG)
    );
    assert_eq!(
        last_hit(&site, "/b").header("if-none-match"),
        Some("\"b-2\"")
    );
    assert_eq!(field(&again, &site.url("/"), "recrawl"), "not_modified");
    assert_eq!(
        field(&again, &site.url("/"), "digest"),
        field(&before, &site.url("/"), "digest")
    );
    assert_eq!(field(&again, &site.url("/b"), "recrawl"), "not_modified");
    // Two recrawls on, the capture is still the first crawl's.
    assert_eq!(
        field(&again, &site.url("/"), "original_date"),
        field(&before, &site.url("/"), "fetched_at")
    );
    assert!(field(&again, &site.url("/b"), "original_date")
        .as_str()
        .is_some_and(|d| d != field(&before, &site.url("/b"), "fetched_at")));
    assert_eq!(field(&again, &site.url("/d"), "recrawl"), "unchanged");
}

/// The earlier crawl's URLs come back at their depth and under this crawl's rules:
/// a page out of today's `--exclude` is not asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earlier_urls_obey_this_crawls_scope() {
    let site = Site::start().await;
    first_version(&site);
    let base = tempfile::tempdir().unwrap();
    let first = base.path().join("first");
    crawl_into(&site, &first, &[]).await;
    let second = base.path().join("second");
    let since = first.display().to_string();
    crawl_into(&site, &second, &["--since", &since, "--exclude", "/c$"]).await;
    let after = records_by_url(&second);
    assert!(!after.contains_key(&site.url("/c")), "{after:?}");
    assert_eq!(site.count("/c"), 1, "fetched by the first crawl only");
    assert_eq!(field(&after, &site.url("/a"), "depth"), 1);
    assert!(stats(&second)["refused"]["filter"].as_u64() >= Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_since_is_one_line_at_start() {
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    let missing = base.path().join("missing").display().to_string();
    let empty = tempfile::tempdir().unwrap();
    let empty_dir = empty.path().display().to_string();
    let out_str = out.display().to_string();
    let junk = tempfile::tempdir().unwrap();
    std::fs::write(junk.path().join("pages.jsonl"), "not a record\n{}\n").unwrap();
    let junk_dir = junk.path().display().to_string();
    let cases: [(&str, &str); 3] = [
        (&missing, "--since"),
        (&empty_dir, "no earlier crawl there"),
        (&junk_dir, "hold no record"),
    ];
    for (since, says) in cases {
        let run = run_trawl(
            &[
                "crawl",
                "http://127.0.0.1:9/",
                "--out",
                &out_str,
                "--since",
                since,
            ],
            std::time::Duration::from_secs(20),
        );
        run.assert_code(1).assert_stderr_has(&[says]);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(!out.exists(), "the out dir is not touched");
    }
    // The earlier crawl's own directory cannot be the new one.
    let site = Site::start().await;
    first_version(&site);
    let first = base.path().join("first");
    crawl_into(&site, &first, &[]).await;
    let first_str = first.display().to_string();
    let run = run_trawl(
        &[
            "crawl",
            &site.url("/"),
            "--out",
            &first_str,
            "--since",
            &first_str,
            "--fresh",
        ],
        std::time::Duration::from_secs(20),
    );
    run.assert_code(1)
        .assert_stderr_has(&["is this crawl's own --out"]);
    assert_eq!(records_by_url(&first).len(), 4, "--fresh did not run");
}

/// Revisits in the recrawl's archive: `server-not-modified` for a 304 and
/// `identical-payload-digest` for a 200 with the earlier payload, each naming the
/// earlier capture (URL and date) and its digest; warcio reads them, and pywb,
/// given both crawls' archives, replays an unchanged page at the recrawl's date
/// with the earlier capture's body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_pages_are_archived_as_revisits_that_replay() {
    let site = Site::start().await;
    first_version(&site);
    let base = tempfile::tempdir().unwrap();
    let first = base.path().join("first");
    crawl_into(&site, &first, &["--warc"]).await;
    let before = records_by_url(&first);
    second_version(&site);
    let second = base.path().join("second");
    let since = first.display().to_string();
    // A second apart, so that the two captures' WARC dates differ.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    crawl_into(&site, &second, &["--warc", "--since", &since]).await;

    let index = archive(&second);
    let of = |url: &str| -> &Value {
        index
            .iter()
            .find(|r| r["warc-target-uri"] == url && r["warc-type"] != "request")
            .unwrap_or_else(|| panic!("{url} not archived: {index:?}"))
    };
    let warc_date = |fetched_at: &Value| -> String {
        // The record's RFC 3339 time to the second, as WARC dates are.
        let t = fetched_at.as_str().unwrap();
        format!("{}Z", &t[..19])
    };
    for (path, profile) in [
        ("/", "server-not-modified"),
        ("/a", "server-not-modified"),
        ("/c", "identical-payload-digest"),
    ] {
        let url = site.url(path);
        let r = of(&url);
        assert_eq!(r["warc-type"], "revisit", "{path}: {r}");
        assert_eq!(
            r["warc-profile"],
            format!("http://netpreserve.org/warc/1.1/revisit/{profile}"),
            "{path}"
        );
        assert_eq!(r["warc-refers-to-target-uri"], url.as_str());
        assert_eq!(
            r["warc-refers-to-date"],
            warc_date(field(&before, &url, "fetched_at")),
            "{path}"
        );
        assert_eq!(r["warc-payload-digest"], *field(&before, &url, "digest"));
    }
    assert_eq!(of(&site.url("/b"))["warc-type"], "response");
    assert_eq!(of(&site.url("/d"))["warc-type"], "response");

    // Replay: both archives in one collection; at the recrawl's time, the 304'd
    // home page is the earlier body.
    let mut warcs = Vec::new();
    for dir in [&first, &second] {
        for e in std::fs::read_dir(dir.join("warc")).unwrap() {
            warcs.push(e.unwrap().path().display().to_string());
        }
    }
    let (_wayback, addr) = replay(&warcs).await;
    let later = field(&records_by_url(&second), &site.url("/"), "fetched_at")
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect::<String>();
    let reply = get(&addr, &format!("/trawl/{later}id_/{}", site.url("/"))).unwrap();
    let (status, body) = status_and_body(&reply);
    assert!(status.contains(" 200"), "{reply}");
    assert!(body.contains("<title>home</title>"), "{reply}");
}

/// Without an earlier archive there is nothing to refer to: a recrawl with --warc
/// of a crawl that had none archives the 200s whole and the 304s as they came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_earlier_archive_nothing_is_a_revisit() {
    let site = Site::start().await;
    first_version(&site);
    let base = tempfile::tempdir().unwrap();
    let first = base.path().join("first");
    crawl_into(&site, &first, &[]).await;
    let second = base.path().join("second");
    let since = first.display().to_string();
    crawl_into(&site, &second, &["--warc", "--since", &since]).await;
    let index = archive(&second);
    assert!(
        index.iter().all(|r| r["warc-type"] != "revisit"),
        "{index:?}"
    );
    let home = index
        .iter()
        .find(|r| r["warc-target-uri"] == site.url("/").as_str() && r["warc-type"] == "response")
        .unwrap();
    assert_eq!(home["http:status"], "304", "{home}");
}

/// An earlier crawl cut short (here by its page budget) never fetched some pages,
/// and a 304 leads nowhere: the recrawl says so rather than finish quietly short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recrawl_of_a_crawl_cut_short_says_what_it_will_miss() {
    let site = Site::start().await;
    first_version(&site);
    let base = tempfile::tempdir().unwrap();
    let first = base.path().join("first");
    crawl_into(&site, &first, &["--max-pages", "2"]).await;
    let second = base.path().join("second");
    let since = first.display().to_string();
    let run = crawl_into(&site, &second, &["--since", &since]).await;
    run.assert_stderr_has(&[
        "stopped by max_pages",
        "reached only through pages that changed",
    ]);
    // A finished crawl as the base: no such warning.
    let third = base.path().join("third");
    let since = second.display().to_string();
    let run = crawl_into(&site, &third, &["--since", &since]).await;
    assert!(
        !run.stderr.contains("reached only through"),
        "{}",
        run.stderr
    );
}
