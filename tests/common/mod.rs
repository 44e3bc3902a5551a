//! Shared fixture for `trawl`'s integration tests (each test file does `mod common;`).
//!
//! * [`Site`]: a tiny hand-written HTTP/1.1 server on `127.0.0.1:0`. One `Site` is one
//!   host; start several for several hosts. Every request is logged as a [`Hit`], and the
//!   reply for each exact request target is scripted with [`Reply`]. The server speaks
//!   keep-alive (one connection serves many requests, pipelining included), honours
//!   `Connection: close`, always frames replies with `Content-Length` (unless a
//!   [`Reply::Raw`] says otherwise) and serves hundreds of connections at once.
//! * [`run_trawl`] and friends: run the real `trawl` binary with a hard timeout.
//! * [`read_records`] / [`records_by_url`]: read the crawler's `pages.jsonl`.
//!
//! Running the binary blocks the calling thread. The `Site` servers are tasks on the tokio
//! runtime of the test, so from inside a test use
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` and call
//! [`run_trawl_async`] (which uses `spawn_blocking`), or call the blocking functions only
//! from a plain thread. Calling [`run_trawl`] directly on a runtime thread can starve (on a
//! `current_thread` runtime: deadlock) the very servers the crawler is talking to.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

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
    /// Exactly these headers and body (in this order). The server adds `Content-Length`
    /// unless a `Content-Length` or `Transfer-Encoding` header is given, and closes the
    /// connection after the reply if the headers include `Connection: close`.
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
    /// The client's address: distinguishes connections.
    pub peer: SocketAddr,
    /// When the request head had been read.
    pub start: Instant,
    /// When the reply had been fully written (or the write failed). Equal to `start` while
    /// the request is still being served.
    pub end: Instant,
}

struct Route {
    reply: Reply,
    served: usize,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<Vec<Hit>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
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
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// Largest request head accepted (request line plus headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body skipped (GET bodies are unexpected; they are read and ignored).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// An idle keep-alive connection (or a stalled client) is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Hard cap on requests served by one connection.
const MAX_REQUESTS_PER_CONN: usize = 1_000_000;

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = Arc::clone(&shared);
                let mut stop = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = serve_conn(stream, peer, shared) => {}
                    }
                });
            }
            // E.g. out of file descriptors: back off briefly instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

struct RequestHead {
    target: String,
    /// HTTP/1.0 (no keep-alive by default) vs 1.1.
    http10: bool,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn wants_close(&self) -> bool {
        if self.has_token("connection", "close") {
            return true;
        }
        self.http10 && !self.has_token("connection", "keep-alive")
    }
}

enum HeadError {
    /// Clean EOF between requests, idle timeout or I/O error: just close.
    Closed,
    TooLarge,
    Malformed,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request head from `stream`, keeping any bytes after it in `buf`.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<RequestHead, HeadError> {
    // Each iteration reads at least one byte or returns, and `buf` is bounded: bounded loop.
    loop {
        // RFC 9112 §2.2: ignore empty lines received before the request line.
        let blank = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        buf.drain(..blank);
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..pos + 4).collect();
            return parse_head(&head[..pos]).ok_or(HeadError::Malformed);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(HeadError::Closed),
        }
    }
}

fn parse_head(head: &[u8]) -> Option<RequestHead> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (_method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || target.is_empty() {
        return None;
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return None,
    };
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return None;
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Some(RequestHead {
        target: target.to_string(),
        http10,
        headers,
    })
}

/// Reads `len` body bytes (some may already be in `buf`) and throws them away.
async fn skip_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> bool {
    while buf.len() < len {
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return false,
        }
    }
    buf.drain(..len);
    true
}

/// Decrements the in-flight counter even if the connection task is cancelled.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_conn(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    for _ in 0..MAX_REQUESTS_PER_CONN {
        let head = match read_head(&mut stream, &mut buf).await {
            Ok(head) => head,
            Err(HeadError::Closed) => return,
            Err(HeadError::TooLarge) => {
                let reply = Response::plain(431, "request head too large\n");
                return close_with(stream, &reply).await;
            }
            Err(HeadError::Malformed) => {
                let reply = Response::plain(400, "malformed request head\n");
                return close_with(stream, &reply).await;
            }
        };
        let start = Instant::now();

        // GET only, but never let a request body be parsed as the next request.
        let mut must_close = head.wants_close();
        if head.header("transfer-encoding").is_some() {
            must_close = true;
        } else if let Some(len) = head.header("content-length") {
            match len.parse::<usize>() {
                Ok(len) if len <= MAX_BODY_BYTES => {
                    if !skip_body(&mut stream, &mut buf, len).await {
                        return;
                    }
                }
                _ => {
                    let reply = Response::plain(400, "bad or too large Content-Length\n");
                    return close_with(stream, &reply).await;
                }
            }
        }

        let index = {
            let mut hits = lock(&shared.hits);
            hits.push(Hit {
                path: head.target.clone(),
                host: head.header("host").unwrap_or("").to_string(),
                user_agent: head.header("user-agent").unwrap_or("").to_string(),
                peer,
                start,
                end: start,
            });
            hits.len() - 1
        };
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(&shared.in_flight);

        let (delay, reply) = plan(&shared, &head.target);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        must_close |= reply.close;
        let bytes = reply.to_bytes(must_close);
        let written = stream.write_all(&bytes).await.is_ok() && stream.flush().await.is_ok();

        lock(&shared.hits)[index].end = Instant::now();
        drop(guard);

        if !written {
            return;
        }
        if must_close {
            return close_gracefully(stream).await;
        }
    }
}

/// Writes `reply` with `Connection: close` and closes the connection.
async fn close_with(mut stream: TcpStream, reply: &Response) {
    if stream.write_all(&reply.to_bytes(true)).await.is_ok() {
        close_gracefully(stream).await;
    }
}

/// Sends FIN, then drains (bounded) what the client still sends, so unread input does not
/// turn the close into a RST that could destroy the reply before the client reads it.
async fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 4096];
    for _ in 0..1024 {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close the connection after this reply (a `Raw` reply asked for it).
    close: bool,
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

impl Response {
    fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
        let close = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
        });
        Response {
            status,
            headers,
            body,
            close,
        }
    }

    fn plain(status: u16, body: &str) -> Response {
        Response::new(
            status,
            vec![(
                "Content-Type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            )],
            body.as_bytes().to_vec(),
        )
    }

    fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        // 1xx and 204 must not carry Content-Length (RFC 9110 §8.6).
        let bodiless = self.status < 200 || self.status == 204;
        if !bodiless
            && !has_header(&self.headers, "content-length")
            && !has_header(&self.headers, "transfer-encoding")
        {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if close && !self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Picks the reply for one request to `target` and advances its sequence count.
fn plan(shared: &Shared, target: &str) -> (Duration, Response) {
    let mut routes = lock(&shared.routes);
    match routes.get_mut(target) {
        Some(route) => {
            let n = route.served;
            route.served += 1;
            resolve(&route.reply, n)
        }
        None => (Duration::ZERO, Response::plain(404, "")),
    }
}

fn resolve(reply: &Reply, n: usize) -> (Duration, Response) {
    match reply {
        Reply::Html(html) => (
            Duration::ZERO,
            Response::new(
                200,
                vec![(
                    "Content-Type".to_string(),
                    "text/html; charset=utf-8".to_string(),
                )],
                html.as_bytes().to_vec(),
            ),
        ),
        Reply::Status(status) => (Duration::ZERO, Response::plain(*status, "")),
        Reply::Redirect(status, location) => {
            let mut response = Response::plain(*status, "");
            response
                .headers
                .insert(0, ("Location".to_string(), location.clone()));
            (Duration::ZERO, response)
        }
        Reply::Raw {
            status,
            headers,
            body,
        } => (
            Duration::ZERO,
            Response::new(*status, headers.clone(), body.clone()),
        ),
        Reply::Delay(delay, inner) => {
            let (more, response) = resolve(inner, n);
            (*delay + more, response)
        }
        Reply::Sequence(replies) => match replies.get(n.min(replies.len().saturating_sub(1))) {
            Some(reply) => resolve(reply, n),
            None => (
                Duration::ZERO,
                Response::plain(500, "fixture: empty Reply::Sequence\n"),
            ),
        },
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

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

/// The `trawl` binary cargo built for these tests.
pub fn trawl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trawl"))
}

/// What a finished run printed and returned.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// Panics, showing both outputs, unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Proxy variables are removed so the crawler always talks to 127.0.0.1 directly.
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Starts `trawl` with `args`: stdin null, stdout and stderr piped, `RUST_LOG` and proxy
/// variables removed. Blocking-safe (does not wait).
pub fn spawn_trawl(args: &[&str]) -> Child {
    let bin = trawl_bin();
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {} {args:?}: {e}", bin.display()))
}

/// Runs `trawl` with `args` to completion. BLOCKS: see the module docs; from async tests
/// use [`run_trawl_async`]. Kills the child and panics if it runs longer than `timeout`.
pub fn run_trawl(args: &[&str], timeout: Duration) -> RunOutput {
    wait_with_timeout(spawn_trawl(args), timeout)
}

/// [`run_trawl`] on tokio's blocking pool, so the fixture servers keep running. Use from
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
pub async fn run_trawl_async(args: Vec<String>, timeout: Duration) -> RunOutput {
    let task = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_trawl(&args, timeout)
    });
    match task.await {
        Ok(output) => output,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("run_trawl_async: blocking task failed: {e}"),
        },
    }
}

fn spawn_reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

fn collect(rx: Option<mpsc::Receiver<Vec<u8>>>) -> String {
    match rx {
        None => String::new(),
        Some(rx) => match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => "<fixture: output pipe still open 5s after exit>".to_string(),
        },
    }
}

/// Waits for `child` (stdout/stderr, if piped, are read concurrently so it never blocks on
/// a full pipe). BLOCKS. Kills the child and panics with its output so far if it runs
/// longer than `timeout`.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> RunOutput {
    let stdout = child.stdout.take().map(spawn_reader);
    let stderr = child.stderr.take().map(spawn_reader);
    let poll = Duration::from_millis(10);
    let deadline = Instant::now() + timeout;
    let max_polls = timeout.as_millis() / poll.as_millis() + 2;
    let mut status = None;
    for _ in 0..max_polls {
        match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                break;
            }
            Ok(None) => {}
            Err(e) => panic!("wait_with_timeout: try_wait failed: {e}"),
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(poll.min(deadline - now));
    }
    match status {
        Some(status) => RunOutput {
            code: status.code(),
            stdout: collect(stdout),
            stderr: collect(stderr),
        },
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process {} did not exit within {timeout:?}; killed it\n--- stdout ---\n{}\n--- stderr ---\n{}",
                child.id(),
                collect(stdout),
                collect(stderr)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Output records
// ---------------------------------------------------------------------------------------

/// Parses `out_dir/pages.jsonl`: one JSON object per line. Panics naming the line number
/// on a bad (or blank) line.
pub fn read_records(out_dir: &Path) -> Vec<serde_json::Value> {
    let path = out_dir.join("pages.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: not valid JSON ({e}): {line:?}",
                    path.display(),
                    i + 1
                )
            });
            assert!(
                value.is_object(),
                "{}:{}: not a JSON object: {line:?}",
                path.display(),
                i + 1
            );
            value
        })
        .collect()
}

/// [`read_records`] keyed by each record's `"url"` string. Panics if a record has no
/// string `url` or a url appears twice.
pub fn records_by_url(out_dir: &Path) -> HashMap<String, serde_json::Value> {
    let mut map = HashMap::new();
    for (i, record) in read_records(out_dir).into_iter().enumerate() {
        let url = match record.get("url").and_then(|u| u.as_str()) {
            Some(url) => url.to_string(),
            None => panic!(
                "pages.jsonl:{}: record has no string \"url\": {record}",
                i + 1
            ),
        };
        if let Some(previous) = map.insert(url.clone(), record) {
            panic!(
                "pages.jsonl:{}: url {url} appears twice (first: {previous})",
                i + 1
            );
        }
    }
    map
}
