//! What production datasets take from a crawl beyond the page records: the link
//! graph (`--extras links`), and archives whose request records are the requests
//! as they went over the wire.

use crate::common::*;

/// Another host on loopback (out of the seed's scope), at the site's port.
fn elsewhere(site: &Site) -> String {
    format!("http://127.0.0.2:{}/x", site.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_links_records_each_pages_outlinks_and_whether_they_were_taken() {
    let site = Site::start().await;
    site.set(
        "/",
        Reply::Html(format!(
            r#"<title>home</title>
            <a href="/a" rel="next">Page <b>A</b></a>
            <a href="/b" rel="nofollow">B, not followed</a>
            <a href="{}">elsewhere</a>
            <a href="/a">A again</a>
            <a href="/img.png"><img src="/i.png" alt="An image link"></a>"#,
            elsewhere(&site)
        )),
    );
    site.set("/a", html_page("A", &["/"]));
    site.set("/img.png", Reply::typed("image/png", b"\x89PNG".to_vec()));
    site.set("/robots.txt", Reply::Status(404));
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--extras",
        "links",
        "--per-host-rate",
        "0",
        "-q",
    ])
    .await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    let home = &records[&site.url("/")];
    // The count stays what it was; the graph sits beside it.
    assert_eq!(home["links"], 4, "{home}");
    let graph = home["outlinks"].as_array().expect("outlinks");
    let row = |url: &str| {
        graph
            .iter()
            .find(|l| l["url"] == url)
            .unwrap_or_else(|| panic!("no {url} in {graph:?}"))
            .clone()
    };
    assert_eq!(graph.len(), 4, "each distinct link once: {graph:?}");
    let a = row(&site.url("/a"));
    assert_eq!(a["text"], "Page A");
    assert_eq!(a["rel"], "next");
    assert_eq!(a["admitted"], true);
    let b = row(&site.url("/b"));
    assert_eq!(b["rel"], "nofollow");
    assert_eq!(b["admitted"], false, "nofollow is not taken");
    assert_eq!(row(&elsewhere(&site))["admitted"], false, "out of scope");
    let img = row(&site.url("/img.png"));
    assert_eq!(img["text"], "An image link");
    // Skipped by extension (never HTML): listed, not taken.
    assert_eq!(img["admitted"], false);
    assert!(
        !site.paths().iter().any(|p| p == "/x"),
        "{:?}",
        site.paths()
    );
    // A page that links back to one already known: taken (the crawl has it).
    let back = records[&site.url("/a")]["outlinks"][0].clone();
    assert_eq!(back["url"], site.url("/"));
    assert_eq!(back["admitted"], true);
    // Every record has the field: null when the URL was not parsed.
    for r in records.values() {
        assert!(r.get("outlinks").is_some(), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlinks_are_not_part_of_extras_all() {
    let site = Site::start().await;
    site.set("/", html_page("home", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let (out, dir) = crawl(&[&site.url("/"), "--extras", "all", "-q"]).await;
    out.assert_code(0);
    let records = read_records(dir.path());
    assert!(records[0].get("text").is_some(), "{}", records[0]);
    assert!(records[0].get("outlinks").is_none(), "{}", records[0]);
}

/// Each WARC record of `dir`'s archives: (headers, block).
fn warc_records(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let data = warc_bytes(dir);
    let mut out = Vec::new();
    let mut rest = &data[..];
    // Bounded: each turn takes one record off the front.
    for _ in 0..10_000 {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length");
        let block = rest[end + 4..end + 4 + len].to_vec();
        out.push((head, block));
        rest = &rest[end + 4 + len + 4..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warc_request_record_is_the_request_as_sent() {
    // An HTTP/1.0 server: the request still went as HTTP/1.1, and says so.
    let body = r#"<title>old</title><a href="/next?q=1">next</a>"#;
    // Every answer sets a session cookie: later requests carry it, archived as ***.
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: sid=c00kie; Path=/\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let server = RawServer::start(reply.into_bytes()).await;
    // A seed with credentials: they are sent, and archived as `***`.
    let seed = format!("http://reader:s3cret@127.0.0.1:{}/", server.port);
    let (out, dir) = crawl(&[&seed, "--warc", "--max-pages", "3", "-q"]).await;
    out.assert_code(0);
    let heads = server.heads();
    assert!(heads.len() >= 3, "robots.txt, / and /next: {}", heads.len());
    let records = warc_records(dir.path());
    let requests: Vec<&(String, Vec<u8>)> = records
        .iter()
        .filter(|(h, _)| h.contains("WARC-Type: request"))
        .collect();
    assert_eq!(
        requests.len(),
        2,
        "/ and /next?q=1 (robots.txt is not archived)"
    );
    for (head, block) in requests {
        let target = head
            .lines()
            .find_map(|l| l.strip_prefix("WARC-Target-URI: "))
            .unwrap();
        let path = &target[target.find(&format!(":{}", server.port)).unwrap() + 6..];
        let line = format!("GET {path} HTTP/1.1\r\n");
        let sent = heads
            .iter()
            .find(|h| h.starts_with(line.as_bytes()))
            .unwrap_or_else(|| panic!("no request for {path}"));
        let sent = String::from_utf8_lossy(sent).to_string();
        assert!(
            sent.contains("authorization: Basic cmVhZGVyOnMzY3JldA==\r\n"),
            "{sent}"
        );
        assert!(sent.contains("cookie: sid=c00kie\r\n"), "{sent}");
        let expected = sent
            .replace("Basic cmVhZGVyOnMzY3JldA==", "Basic ***")
            .replace("sid=c00kie", "***");
        assert_eq!(
            String::from_utf8_lossy(block),
            expected,
            "the archived request differs from the one on the wire"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_carry_the_validators_a_recrawl_asks_with() {
    let site = Site::start().await;
    let page = |headers: Vec<(&str, String)>, links: &str| Reply::Raw {
        status: 200,
        headers: std::iter::once(("Content-Type".to_string(), "text/html".to_string()))
            .chain(headers.into_iter().map(|(k, v)| (k.to_string(), v)))
            .collect(),
        body: links.as_bytes().to_vec(),
    };
    site.set(
        "/",
        page(
            vec![
                ("ETag", "\"v1-abc\"".to_string()),
                ("Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT".to_string()),
            ],
            r#"<a href="/plain">p</a><a href="/huge">h</a>"#,
        ),
    );
    site.set("/plain", html_page("plain", &[]));
    site.set(
        "/huge",
        page(vec![("ETag", format!("\"{}\"", "x".repeat(600)))], ""),
    );
    site.set("/robots.txt", Reply::Status(404));
    let (out, dir) = crawl(&[&site.url("/"), "-q"]).await;
    out.assert_code(0);
    let records = records_by_url(dir.path());
    let home = &records[&site.url("/")];
    assert_eq!(home["etag"], "\"v1-abc\"", "{home}");
    assert_eq!(home["last_modified"], "Tue, 24 Nov 2026 10:00:00 GMT");
    let plain = &records[&site.url("/plain")];
    assert!(
        plain["etag"].is_null() && plain["last_modified"].is_null(),
        "{plain}"
    );
    assert!(
        records[&site.url("/huge")]["etag"].is_null(),
        "a 600-byte ETag is not kept"
    );
}
