//! The server behind [`Site`](super::Site): hyper serves every reply that is valid HTTP;
//! a request whose scripted reply is a trap that breaks HTTP ([`Trap`]) is taken off
//! hyper's connection and served on the raw socket by `traps.rs`.
//!
//! The choice is made per request, not per connection, because clients (trawl
//! included) reuse keep-alive connections: a trap is often requested on a connection
//! that has already served ordinary pages, and it must still hang, stall or reset that
//! connection. So each connection's input reaches hyper through a [`Gate`], which reads
//! one request head at a time, claims the reply scripted for its target, and ends
//! hyper's input (EOF) in front of a request whose reply is a trap. hyper only reads a
//! new request once the previous reply is flushed, so it then finishes cleanly and
//! hands the socket back, and the trap is served on it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::traps::{self, After, Trap};
use super::{lock, Hit, Reply};

/// The state a `Site` shares with its connections.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) routes: Mutex<std::collections::HashMap<String, Route>>,
    pub(super) hits: Mutex<Vec<Hit>>,
    in_flight: AtomicUsize,
    pub(super) max_in_flight: AtomicUsize,
}

pub(super) struct Route {
    pub(super) reply: Reply,
    /// Requests already answered from this route (indexes a `Sequence`).
    pub(super) served: usize,
}

/// A request head (request line plus headers) longer than this is handed to hyper
/// whole, which refuses it.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Bound on the rounds of one `Gate::poll_read` (each reads more or changes state).
const MAX_GATE_ROUNDS: usize = 4096;

pub(super) async fn accept_loop(
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

async fn serve_conn(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let claims = Arc::new(Mutex::new(VecDeque::new()));
    let gate = Gate {
        stream,
        shared: Arc::clone(&shared),
        claims: Arc::clone(&claims),
        buf: Vec::with_capacity(4096),
        pass: 0,
        trap: None,
    };
    let service = Serve {
        shared: Arc::clone(&shared),
        claims,
        peer,
    };
    let mut conn = hyper::server::conn::http1::Builder::new()
        // Otherwise hyper reads on while a reply is being made (to notice a client that
        // left), and the gate would claim the next request early and, for a trap, end
        // hyper's input in the middle of that reply.
        .half_close(true)
        // Conventional, byte-for-byte predictable replies: the fixture's self-test
        // compares raw bytes.
        .title_case_headers(true)
        .auto_date_header(false)
        .serve_connection(TokioIo::new(gate), service);
    let served = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)).await;
    let parts = conn.into_parts();
    let mut gate = parts.io.into_inner();
    match gate.trap.take() {
        Some(raw) if served.is_ok() => serve_raw(gate.stream, raw, peer, &shared).await,
        _ => close_gracefully(gate.stream).await,
    }
}

// ---------------------------------------------------------------------------------------
// Planning replies
// ---------------------------------------------------------------------------------------

/// What one request gets.
pub(super) enum Action {
    /// Valid HTTP, written by hyper.
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: BodyKind,
    },
    /// Broken HTTP, written on the raw socket.
    Raw(Trap),
}

/// The body of a reply hyper writes.
pub(super) enum BodyKind {
    Full(Bytes),
    /// [`Reply::Big`]: `len` generated bytes.
    Big(u64),
    /// [`Reply::Endless`]: chunks forever.
    Endless,
}

/// What a request asks conditionally (its `If-None-Match` and `If-Modified-Since`).
#[derive(Default)]
pub(super) struct Conditions {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

/// Picks the reply for one request to `target` and advances its sequence count.
pub(super) fn plan(shared: &Shared, target: &str, cond: &Conditions) -> (Duration, Action) {
    let mut routes = lock(&shared.routes);
    match routes.get_mut(target) {
        Some(route) => {
            let n = route.served;
            route.served += 1;
            resolve(&route.reply, n, cond)
        }
        None => (Duration::ZERO, plain(404, "")),
    }
}

fn plain(status: u16, body: &str) -> Action {
    Action::Http {
        status,
        headers: vec![(
            "Content-Type".to_string(),
            "text/plain; charset=utf-8".to_string(),
        )],
        body: BodyKind::Full(Bytes::copy_from_slice(body.as_bytes())),
    }
}

fn resolve(reply: &Reply, n: usize, cond: &Conditions) -> (Duration, Action) {
    let now = |action| (Duration::ZERO, action);
    let http = |status, content_type: &str, body| Action::Http {
        status,
        headers: vec![(CONTENT_TYPE.to_string(), content_type.to_string())],
        body,
    };
    match reply {
        Reply::Html(html) => now(http(
            200,
            "text/html; charset=utf-8",
            BodyKind::Full(Bytes::copy_from_slice(html.as_bytes())),
        )),
        Reply::Status(status) => now(plain(*status, "")),
        Reply::Redirect(status, location) => {
            let mut action = plain(*status, "");
            if let Action::Http { headers, .. } = &mut action {
                headers.insert(0, (LOCATION.to_string(), location.clone()));
            }
            now(action)
        }
        Reply::Raw {
            status,
            headers,
            body,
        } => now(Action::Http {
            status: *status,
            headers: headers.clone(),
            body: BodyKind::Full(Bytes::copy_from_slice(body)),
        }),
        Reply::Delay(delay, inner) => {
            let (more, action) = resolve(inner, n, cond);
            (*delay + more, action)
        }
        Reply::Sequence(replies) => match replies.get(n.min(replies.len().saturating_sub(1))) {
            Some(reply) => resolve(reply, n, cond),
            None => now(plain(500, "fixture: empty Reply::Sequence\n")),
        },
        Reply::Endless { content_type } => now(http(200, content_type, BodyKind::Endless)),
        Reply::Big { len, content_type } => now(http(200, content_type, BodyKind::Big(*len))),
        Reply::Hang => now(Action::Raw(Trap::Hang)),
        Reply::Trickle { head, body, every } => now(Action::Raw(Trap::Trickle {
            head: head.clone(),
            body: body.clone(),
            every: *every,
        })),
        Reply::Stall { head, first } => now(Action::Raw(Trap::Stall {
            head: head.clone(),
            first: first.clone(),
        })),
        Reply::RawBytes(bytes) => now(Action::Raw(Trap::RawBytes(bytes.clone()))),
        Reply::Reset => now(Action::Raw(Trap::Reset)),
        Reply::Validated {
            etag,
            last_modified,
            html,
        } => {
            // RFC 9110 13.2.2: If-None-Match, when sent, decides alone.
            let fresh = match (&cond.if_none_match, &cond.if_modified_since) {
                (Some(asked), _) => etag
                    .as_ref()
                    .is_some_and(|e| asked.split(',').any(|a| a.trim() == e || a.trim() == "*")),
                (None, Some(since)) => last_modified.as_ref() == Some(since),
                (None, None) => false,
            };
            let mut headers = Vec::new();
            if let Some(e) = etag {
                headers.push(("ETag".to_string(), e.clone()));
            }
            if let Some(l) = last_modified {
                headers.push(("Last-Modified".to_string(), l.clone()));
            }
            let (status, body) = match fresh {
                true => (304, Bytes::new()),
                false => {
                    headers.push((
                        CONTENT_TYPE.to_string(),
                        "text/html; charset=utf-8".to_string(),
                    ));
                    (200, Bytes::copy_from_slice(html.as_bytes()))
                }
            };
            now(Action::Http {
                status,
                headers,
                body: BodyKind::Full(body),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// The gate in front of hyper
// ---------------------------------------------------------------------------------------

/// A request the gate has read the head of and claimed the reply for.
struct Claim {
    /// The request target exactly as on the request line.
    target: String,
    host: String,
    user_agent: String,
    authorization: String,
    headers: Vec<(String, String)>,
    delay: Duration,
    action: Action,
    /// When its head had been read.
    start: Instant,
}

impl Claim {
    /// Starts serving the request: logs its hit and counts it in flight.
    fn begin(self, peer: SocketAddr, shared: &Arc<Shared>) -> (Served, Duration, Action) {
        let hit = Hit {
            path: self.target,
            host: self.host,
            user_agent: self.user_agent,
            authorization: self.authorization,
            headers: self.headers,
            peer,
            start: self.start,
            end: self.start,
        };
        (Served::begin(shared, hit), self.delay, self.action)
    }
}

/// A connection's socket as hyper sees it: the bytes of one request at a time, each
/// request's reply claimed (in arrival order, for [`Serve`]) before hyper reads it.
struct Gate {
    stream: TcpStream,
    shared: Arc<Shared>,
    claims: Arc<Mutex<VecDeque<Claim>>>,
    /// Read from the socket, not yet handed to hyper.
    buf: Vec<u8>,
    /// Bytes of the current request still to hand to hyper; `usize::MAX` once the gate
    /// can no longer tell where requests end (hyper then reads the rest unclaimed).
    pass: usize,
    /// The next request's reply is a trap: hyper's input has ended.
    trap: Option<Claim>,
}

/// What the gate can tell from the start of `buf`.
enum Head {
    /// A whole request head: the request takes `len` bytes (head plus body).
    Request {
        len: usize,
        claim: Box<Claim>,
    },
    /// Not a request head hyper would read as one, or one whose end cannot be
    /// found: hyper answers it (and is given everything after it).
    Unframed,
    Partial,
}

impl Gate {
    /// Reads the request head at the start of `buf` and, if it is whole, claims the
    /// reply scripted for its target (advancing the route's sequence count).
    fn read_head(&self) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let head_len = match request.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD_BYTES => {
                return Head::Partial
            }
            _ => return Head::Unframed,
        };
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        if header("transfer-encoding").is_some() {
            return Head::Unframed;
        }
        let body_len = match header("content-length").map(|v| v.trim().parse::<usize>()) {
            None => 0,
            Some(Ok(len)) => len,
            Some(Err(_)) => return Head::Unframed,
        };
        let Some(target) = request.path else {
            return Head::Unframed;
        };
        let cond = Conditions {
            if_none_match: header("if-none-match"),
            if_modified_since: header("if-modified-since"),
        };
        let (delay, action) = plan(&self.shared, target, &cond);
        Head::Request {
            len: head_len.saturating_add(body_len),
            claim: Box::new(Claim {
                target: target.to_string(),
                host: header("host").unwrap_or_default(),
                user_agent: header("user-agent").unwrap_or_default(),
                authorization: header("authorization").unwrap_or_default(),
                headers: request
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect(),
                delay,
                action,
                start: Instant::now(),
            }),
        }
    }
}

impl AsyncRead for Gate {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        for _ in 0..MAX_GATE_ROUNDS {
            if this.trap.is_some() {
                return Poll::Ready(Ok(()));
            }
            if this.pass > 0 && !this.buf.is_empty() {
                let n = this.pass.min(this.buf.len()).min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.drain(..n);
                if this.pass != usize::MAX {
                    this.pass -= n;
                }
                return Poll::Ready(Ok(()));
            }
            if this.pass == 0 && !this.buf.is_empty() {
                match this.read_head() {
                    Head::Request { len, claim } => {
                        if matches!(claim.action, Action::Raw(_)) {
                            this.buf.drain(..len.min(this.buf.len()));
                            this.trap = Some(*claim);
                        } else {
                            lock(&this.claims).push_back(*claim);
                            this.pass = len;
                        }
                        continue;
                    }
                    Head::Unframed => {
                        this.pass = usize::MAX;
                        continue;
                    }
                    Head::Partial => {}
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.stream).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    if this.buf.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    // The client went away mid-head: hyper sees what there is, then EOF.
                    this.pass = usize::MAX;
                }
                Poll::Ready(Ok(())) => this.buf.extend_from_slice(read.filled()),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncWrite for Gate {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------

/// One request being served: logged as a [`Hit`] and counted in flight until dropped,
/// which is when its reply has been handed to the socket (or the connection is gone).
struct Served {
    shared: Arc<Shared>,
    index: usize,
}

impl Served {
    fn begin(shared: &Arc<Shared>, hit: Hit) -> Served {
        let index = {
            let mut hits = lock(&shared.hits);
            hits.push(hit);
            hits.len() - 1
        };
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Served {
            shared: Arc::clone(shared),
            index,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        lock(&self.shared.hits)[self.index].end = Instant::now();
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// hyper's service for one connection.
struct Serve {
    shared: Arc<Shared>,
    claims: Arc<Mutex<VecDeque<Claim>>>,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for Serve {
    type Response = Response<ReplyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ReplyBody>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let claim = lock(&self.claims).pop_front();
        let peer = self.peer;
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let Some(claim) = claim else {
                // The gate claims every request it can frame; trawl sends no request bodies.
                let why = "fixture: a request after a chunked request body\n";
                return Ok(response(501, &[], BodyKind::Full(Bytes::from(why)), None));
            };
            let (served, delay, action) = claim.begin(peer, &shared);
            // Read the whole request body so that its bytes are never taken for the next
            // request; a GET has none.
            let _ = request.into_body().collect().await;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let Action::Http {
                status,
                headers,
                body,
            } = action
            else {
                unreachable!("the gate keeps traps from hyper");
            };
            Ok(response(status, &headers, body, Some(served)))
        })
    }
}

fn response(
    status: u16,
    headers: &[(String, String)],
    body: BodyKind,
    served: Option<Served>,
) -> Response<ReplyBody> {
    let mut map = HeaderMap::new();
    let mut bad = None;
    for (name, value) in headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => {
                bad = Some(format!(
                    "fixture: bad scripted header {name:?}: {value:?}\n"
                ))
            }
        }
    }
    let status = StatusCode::from_u16(status);
    let (status, body) = match (status, bad) {
        (Ok(status), None) => (status, body),
        (status, bad) => {
            map.clear();
            let why = bad.unwrap_or_else(|| format!("fixture: bad scripted status {status:?}\n"));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                BodyKind::Full(Bytes::from(why)),
            )
        }
    };
    let mut response = Response::new(ReplyBody {
        kind: match body {
            BodyKind::Full(bytes) => Stream::Full(Some(bytes)),
            BodyKind::Big(len) => Stream::Big { sent: 0, len },
            BodyKind::Endless => Stream::Endless { next: 0 },
        },
        _served: served,
    });
    *response.status_mut() = status;
    *response.headers_mut() = map;
    response
}

/// The body of a reply hyper writes. It holds the request's [`Served`], so the hit
/// ends when hyper has taken the last bytes, or drops the body because the
/// connection is gone.
pub(super) struct ReplyBody {
    kind: Stream,
    _served: Option<Served>,
}

enum Stream {
    Full(Option<Bytes>),
    Big { sent: u64, len: u64 },
    Endless { next: u64 },
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let data = match &mut self.get_mut().kind {
            Stream::Full(bytes) => bytes.take(),
            Stream::Big { sent, len } => {
                let block = traps::big_block(*sent, *len);
                *sent += block.as_ref().map_or(0, |b| b.len() as u64);
                block
            }
            Stream::Endless { next } => {
                let chunk = traps::endless_chunk(*next);
                *next += 1;
                Some(chunk)
            }
        };
        Poll::Ready(data.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Stream::Full(bytes) => bytes.is_none(),
            Stream::Big { sent, len } => sent >= len,
            Stream::Endless { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Stream::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Stream::Big { sent, len } => SizeHint::with_exact(len - sent),
            Stream::Endless { .. } => SizeHint::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The raw path
// ---------------------------------------------------------------------------------------

async fn serve_raw(mut stream: TcpStream, claim: Claim, peer: SocketAddr, shared: &Arc<Shared>) {
    let (served, delay, action) = claim.begin(peer, shared);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Action::Raw(trap) = action else {
        unreachable!("the gate stops hyper only for traps");
    };
    let after = traps::serve_trap(&mut stream, trap).await;
    drop(served);
    match after {
        After::Close => close_gracefully(stream).await,
        After::Drop => {}
        After::Reset => {
            // SO_LINGER 0: closing sends RST instead of FIN. (`set_zero_linger` is
            // tokio's non-deprecated spelling of `set_linger(Some(Duration::ZERO))`.)
            let _ = stream.set_zero_linger();
        }
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
