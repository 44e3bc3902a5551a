//! Shared fixture for `trawl`'s integration tests: every helper more than one test file
//! uses lives here, once.
//!
//! * [`Site`]: a fixture HTTP/1.1 server on `127.0.0.1:0`, built on hyper (`server.rs`).
//!   One `Site` is one host; start several for several hosts. Every request is logged as a
//!   [`Hit`], and the reply for each exact request target is scripted with [`Reply`]. The
//!   server speaks keep-alive (pipelining included), honours `Connection: close` and
//!   serves hundreds of connections at once.
//! * Traps (`traps.rs`): replies that hang, trickle, stall, never end, are huge, are not
//!   HTTP or end in a TCP RST ([`Reply::Hang`] .. [`Reply::Reset`]), plus page generators
//!   ([`link_page`], [`deep_nesting`]) and gzip bombs ([`gzip_bomb`]).
//! * Running the binary and reading its output (`run.rs`): [`run_trawl`], [`crawl`],
//!   [`spawn_crawl`], [`finish`], [`read_records`], [`records_by_url`], [`stats`].
//! * Site builders ([`tree_site_routes`], [`slow_tree`], [`html_page`], ...), waits
//!   ([`wait_until`]) and assertions shared by several test files.
//! * A real redis-server (`redis.rs`) and the worked example's shop (`shop.rs`).
//! * The metrics endpoint read as Prometheus and a browser read it (`scrape.rs`):
//!   [`scrape`], [`sample`], and headless Chromium's [`dump_dom`].
//! * [`RawServer`] (`wire.rs`): an HTTP/1.0 server that keeps request heads byte for byte.
//! * HTTP and SOCKS5 proxies that count what passes through them (`proxy.rs`).
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::watch;

pub mod proxy;
pub mod redis;
mod replay;
mod run;
mod scrape;
mod server;
mod shop;
mod traps;
mod wire;
// Not every test file uses every helper, and `common` is private to the test binary.
#[allow(unused_imports)]
pub use replay::*;
pub use run::*;
#[allow(unused_imports)]
pub use scrape::*;
use server::{accept_loop, Route, Shared};
#[allow(unused_imports)]
pub use shop::*;
#[allow(unused_imports)]
pub use traps::*;
pub use wire::RawServer;

// ---------------------------------------------------------------------------------------
// Scripted replies and the hit log
// ---------------------------------------------------------------------------------------

/// What the server answers for one request target.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200, `text/html; charset=utf-8`.
    Html(String),
    /// That status with an empty `text/plain` body.
    Status(u16),
    /// Status plus a `Location` header whose value is sent verbatim.
    Redirect(u16, String),
    /// These headers (in this order) and this body. hyper frames the body: it adds
    /// `Content-Length` unless the headers give one (which it trusts) or ask for
    /// `Transfer-Encoding: chunked`, and closes the connection after the reply if the
    /// headers include `Connection: close`.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Sleep (without blocking any other request), then reply.
    Delay(Duration, Box<Reply>),
    /// The nth request to this target (counting from 0, since the last `set`) gets the nth
    /// reply; the last one repeats. Nested sequences are indexed by the same count.
    Sequence(Vec<Reply>),

    // Traps for a crawler's robustness. `Endless` and `Big` are valid HTTP, which hyper
    // writes; the others break HTTP and are written on the raw socket by `traps.rs`. Each
    // is logged as a hit, blocks no other connection and stops when the `Site` is
    // dropped. A hit whose reply never completes (`Hang`, `Stall`) keeps `end == start`
    // and stays counted in flight.
    /// Read the request, then never answer: write nothing and keep the socket open until
    /// the `Site` is dropped (input the client still sends is read and discarded).
    Hang,
    /// Write `head` verbatim at once (a raw status line plus headers ending in
    /// `"\r\n\r\n"`; nothing is added), then `body` one byte per `every` (a sleep before
    /// each byte), then close the connection (FIN).
    Trickle {
        head: String,
        body: Vec<u8>,
        every: Duration,
    },
    /// Write `head` and `first` verbatim (`head` should promise more body than `first`,
    /// e.g. by `Content-Length`), then stall: send nothing more and keep the socket open
    /// until the `Site` is dropped.
    Stall { head: String, first: Vec<u8> },
    /// 200 with this `Content-Type` and `Transfer-Encoding: chunked`, then chunks of about
    /// 16 KiB of HTML forever, as fast as the client reads. The body starts with
    /// [`ENDLESS_BODY_PREFIX`]; chunk `i` (from 0) holds a link `<a href="/endless/i">` and
    /// `<p>...</p>` filler. Stops when the client goes away.
    Endless { content_type: String },
    /// 200 with this `Content-Type` and `Content-Length: len`, then `len` generated bytes
    /// (streamed, never held in memory): [`BIG_BODY_PREFIX`] (which links to `/big-link`)
    /// followed by `<p>...</p>` paragraphs, cut at `len`. Keep-alive continues after the
    /// body; stops early when the client goes away.
    Big { len: u64, content_type: String },
    /// Write exactly these bytes (e.g. an invalid status line, or a chunked body cut
    /// mid-chunk), nothing else, then close the connection (FIN).
    RawBytes(Vec<u8>),
    /// Read the request, write the partial head [`RESET_PARTIAL_HEAD`], then close with a
    /// TCP RST (`SO_LINGER` 0).
    Reset,
    /// A page with validators, answering conditional requests as a static file server
    /// does: `304 Not Modified` (with the validators, no body) when `If-None-Match`
    /// names `etag`, or, without `If-None-Match`, when `If-Modified-Since` equals
    /// `last_modified`; otherwise 200 HTML with `ETag` and `Last-Modified` (each when
    /// given).
    Validated {
        etag: Option<String>,
        last_modified: Option<String>,
        html: String,
    },
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The request target exactly as on the request line (path plus `?query` if any).
    pub path: String,
    /// The `Host` header ("" if absent).
    pub host: String,
    /// The `User-Agent` header ("" if absent).
    pub user_agent: String,
    /// The `Authorization` header ("" if absent).
    pub authorization: String,
    /// Every header, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The client's address: distinguishes connections.
    pub peer: SocketAddr,
    /// When the request head had been read.
    pub start: Instant,
    /// When the last bytes of the reply had been handed to the socket (or the connection
    /// was gone). Equal to `start` while the request is still being served.
    pub end: Instant,
}

impl Hit {
    /// The first value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Locks ignoring poisoning: a panicking test thread must not cascade into the server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// Site
// ---------------------------------------------------------------------------------------

/// One fixture HTTP server, i.e. one host `127.0.0.1:<port>`. Dropping it stops the server
/// (the listener closes and open connections are dropped).
pub struct Site {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Never sent on; dropping it tells the accept loop and every connection to stop.
    _shutdown: watch::Sender<()>,
}

impl Site {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime. Unknown targets get
    /// 404 (and are still logged).
    pub async fn start() -> Site {
        let socket = TcpSocket::new_v4().expect("fixture: create socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("fixture: bind 127.0.0.1:0");
        // A deep backlog so hundreds of simultaneous connects are not dropped and retried.
        let listener = socket.listen(1024).expect("fixture: listen");
        let addr = listener.local_addr().expect("fixture: local_addr");
        let shared = Arc::new(Shared::default());
        let (tx, rx) = watch::channel(());
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), rx));
        Site {
            addr,
            shared,
            _shutdown: tx,
        }
    }

    /// Scripts the reply for `path` (which may include `?query`; matched exactly against
    /// the request target). Replaces any earlier reply and restarts its sequence count.
    pub fn set(&self, path: &str, reply: Reply) {
        lock(&self.shared.routes).insert(path.to_string(), Route { reply, served: 0 });
    }

    /// Like [`Site::set`], but keeps a reply the test already set for `path`.
    pub fn set_if_absent(&self, path: &str, reply: Reply) {
        lock(&self.shared.routes)
            .entry(path.to_string())
            .or_insert(Route { reply, served: 0 });
    }

    /// `"http://127.0.0.1:PORT"` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin(), path)
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `"127.0.0.1:PORT"`, what a client sends as `Host`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Snapshot of all hits, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.shared.hits).clone()
    }

    /// Number of hits on exactly this target.
    pub fn count(&self, path: &str) -> usize {
        lock(&self.shared.hits)
            .iter()
            .filter(|h| h.path == path)
            .count()
    }

    /// Targets of all hits, in arrival order.
    pub fn paths(&self) -> Vec<String> {
        lock(&self.shared.hits)
            .iter()
            .map(|h| h.path.clone())
            .collect()
    }

    /// Peak number of requests being served at once (head read, reply not yet written).
    /// When each request but robots.txt's started, in order.
    pub fn page_starts(&self) -> Vec<Instant> {
        let mut starts: Vec<Instant> = self
            .hits()
            .iter()
            .filter(|h| h.path != "/robots.txt")
            .map(|h| h.start)
            .collect();
        starts.sort();
        starts
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------
// A deterministic tree-shaped site
// ---------------------------------------------------------------------------------------

/// The path of tree page `i`: `"/"` for 0, `"/p/i"` otherwise.
pub fn tree_page_path(i: usize) -> String {
    if i == 0 {
        "/".to_string()
    } else {
        format!("/p/{i}")
    }
}

/// The page number of a tree page's path: the inverse of [`tree_page_path`].
pub fn tree_page_index(path: &str) -> Option<usize> {
    match path {
        "/" => Some(0),
        _ => path.strip_prefix("/p/")?.parse().ok().filter(|&i| i > 0),
    }
}

/// The children of tree page `i`: `i*fanout+1 ..= i*fanout+fanout`, those `< pages`.
pub fn tree_children(i: usize, pages: usize, fanout: usize) -> Vec<usize> {
    let first = i.saturating_mul(fanout).saturating_add(1);
    (first..first.saturating_add(fanout))
        .filter(|&c| c < pages)
        .collect()
}

/// The HTML of tree page `i`: `<title>Page i</title>`, links to its children and (for
/// pages other than "/") a link back to "/".
pub fn tree_page_html(i: usize, pages: usize, fanout: usize) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Page {i}</title></head>\n\
         <body><h1>Page {i}</h1>\n<ul>\n"
    );
    for child in tree_children(i, pages, fanout) {
        let path = tree_page_path(child);
        html.push_str(&format!("<li><a href=\"{path}\">{path}</a></li>\n"));
    }
    html.push_str("</ul>\n");
    if i != 0 {
        html.push_str("<p><a href=\"/\">home</a></p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// Installs a tree of `pages` pages ("/" is page 0, then /p/1 .. /p/(pages-1)): page `i`
/// links to its [`tree_children`], every page but "/" links back to "/", and every page is
/// reachable from "/". Also `/robots.txt` → 404 unless the test already set it.
pub fn tree_site_routes(site: &Site, pages: usize, fanout: usize) {
    assert!(pages >= 1, "tree_site_routes: pages must be >= 1");
    assert!(fanout >= 1, "tree_site_routes: fanout must be >= 1");
    for i in 0..pages {
        site.set(
            &tree_page_path(i),
            Reply::Html(tree_page_html(i, pages, fanout)),
        );
    }
    site.set_if_absent("/robots.txt", Reply::Status(404));
}

/// A tree site of `pages` pages (fan-out 4), each served after `delay`: a crawl of it
/// can be stopped or killed half-way.
pub async fn slow_tree(pages: usize, delay: Duration) -> Site {
    let site = Site::start().await;
    for i in 0..pages {
        let html = tree_page_html(i, pages, 4);
        site.set(&tree_page_path(i), Reply::delayed(delay, Reply::Html(html)));
    }
    site.set("/robots.txt", Reply::Status(404));
    site
}

/// A page titled `title` linking to each of `links` (paths or URLs), in order.
pub fn html_page(title: &str, links: &[&str]) -> Reply {
    let mut body = format!("<html><head><title>{title}</title></head><body>");
    for l in links {
        body.push_str(&format!("<a href=\"{l}\">{l}</a>\n"));
    }
    body.push_str("</body></html>");
    Reply::Html(body)
}

impl Reply {
    /// `reply` after `delay` (see [`Reply::Delay`]).
    pub fn delayed(delay: Duration, reply: Reply) -> Reply {
        Reply::Delay(delay, Box::new(reply))
    }

    /// 200 with this `Content-Type` and body.
    pub fn typed(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Raw {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// 200 with this `Content-Type`, `Content-Encoding: gzip` and `gzipped` as the body.
    pub fn gzipped(content_type: &str, gzipped: Vec<u8>) -> Reply {
        Reply::Raw {
            status: 200,
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            body: gzipped,
        }
    }

    /// A robots.txt of this text (`text/plain`).
    pub fn robots(text: &str) -> Reply {
        Reply::typed("text/plain", text)
    }
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

// ---------------------------------------------------------------------------------------
// Waits and assertions
// ---------------------------------------------------------------------------------------

/// Polls `cond` every 10 ms until it holds; panics naming `what` once `limit` has
/// passed (however long `cond` itself takes).
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    for _ in 0..=(limit.as_millis() / 10) {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Crawls `site` from "/" with `--per-host-rate 0` (no politeness wait: the fixture is
/// local) and `extra`, and panics unless trawl exits 0 without a panic. Returns the
/// output directory.
pub async fn crawl_site(site: &Site, extra: &[&str]) -> tempfile::TempDir {
    let url = site.url("/");
    let mut args = vec![url.as_str(), "--per-host-rate=0"];
    args.extend(extra);
    let (out, dir) = crawl(&args).await;
    out.assert_code(0);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    dir
}

/// Requests for pages (anything but robots.txt) the site has received.
pub fn page_hits(site: &Site) -> usize {
    site.paths().iter().filter(|p| *p != "/robots.txt").count()
}

/// Panics unless every page (robots.txt aside) the site was asked for was asked for once.
pub fn assert_each_page_fetched_once(site: &Site) {
    for p in site.paths() {
        if p != "/robots.txt" {
            assert_eq!(site.count(&p), 1, "{p} fetched {} times", site.count(&p));
        }
    }
}

/// URL → number of records with it.
pub fn url_counts<'a>(records: impl IntoIterator<Item = &'a Value>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in records {
        let url = r["url"].as_str().unwrap_or_else(|| panic!("no url: {r}"));
        *counts.entry(url.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Crawls `site` into `out_dir` (`--per-host-rate 0 --per-host-concurrency 8`, then
/// `extra`), sends `sig` (`"-INT"`, `"-TERM"`) once the site has received more than
/// `hits` requests, and waits for trawl to exit. Returns its output and how long it took
/// to stop.
pub async fn crawl_then_signal(
    site: &Site,
    out_dir: &Path,
    extra: &[&str],
    hits: usize,
    sig: &str,
) -> (RunOutput, Duration) {
    let mut args = vec!["--per-host-rate=0", "--per-host-concurrency=8"];
    args.extend(extra);
    let child = spawn_crawl(&site.url("/"), out_dir, &args);
    wait_until(
        &format!("more than {hits} requests"),
        Duration::from_secs(10),
        || site.hits().len() > hits,
    )
    .await;
    let signalled = Instant::now();
    signal(&child, sig);
    let out = finish(child).await;
    (out, signalled.elapsed())
}

/// Checks the output of a crawl of `site` (a [`tree_site_routes`] or [`slow_tree`] site)
/// stopped by a signal: records were written, each whole (every line parses, and is a
/// fetched page with its status and title), nothing lost (every page the site served
/// has exactly one record, and nothing else has one) and stats.json counts them all.
/// Returns the records.
pub fn assert_stopped_crawl_is_whole(site: &Site, out_dir: &Path) -> Vec<Value> {
    let records = read_records(out_dir);
    assert!(!records.is_empty(), "no records written");
    for r in &records {
        let url = r["url"].as_str().unwrap_or_default();
        let i = url
            .strip_prefix(&site.origin())
            .and_then(tree_page_index)
            .unwrap_or_else(|| panic!("a record for no page of the site: {r}"));
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["error"], Value::Null, "{r}");
        assert_eq!(r["title"], format!("Page {i}"), "{r}");
    }
    let counts = url_counts(&records);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "recorded more than once: {twice:?}");
    let recorded: BTreeSet<&String> = counts.keys().collect();
    let served: BTreeSet<String> = site
        .paths()
        .into_iter()
        .filter(|p| p != "/robots.txt")
        .map(|p| site.url(&p))
        .collect();
    assert_eq!(
        recorded,
        served.iter().collect(),
        "records and the pages the site served"
    );
    assert_eq!(
        stats(out_dir)["pages"].as_u64(),
        Some(records.len() as u64),
        "stats.json counts every record"
    );
    records
}
