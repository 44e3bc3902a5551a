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
