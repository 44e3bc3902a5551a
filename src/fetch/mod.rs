//! One HTTP GET, done safely: the shared client, the whole-request deadline, the
//! body cap, the address guard, and turning failures into typed [`FetchError`]s.
//!
//! An HTTP status (404, 500, 301...) is an *outcome*, returned as a [`Response`];
//! only the absence of a usable response is an error. Redirects are not followed
//! here: the crawl treats every hop as a URL of its own so that each one passes
//! canonicalisation, scope, robots, politeness and the visited set.
//!
//! This module never retries, sleeps or decides politeness: it does one request.

pub mod charset;
pub mod cookies;
pub mod guard;
pub mod logins;
mod request;
pub mod special;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION,
    RETRY_AFTER,
};
use url::Url;

use crate::config::{Config, HostRule};
use crate::stats::ErrorKind;
pub use guard::AddressGuard;
use guard::{BlockedAddress, DnsFailure, GuardedResolver};
use request::{request_head, request_headers};
pub use request::{SubRequest, Validators};

/// A failed fetch: no usable HTTP response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct FetchError {
    pub kind: ErrorKind,
    pub message: String,
}

impl FetchError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            message: message.into(),
        }
    }

    /// Transient failures worth another try later (a name that does not resolve
    /// may be a resolver's hiccup; a dead host is given up by the frontier's
    /// unreachable rule, not by refusing to retry).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Dns
        )
    }
}

/// What came back from one request.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The Content-Type header as sent.
    pub content_type: Option<String>,
    /// The raw Location header (3xx).
    pub location: Option<String>,
    /// Retry-After as a delay from now (seconds or HTTP date).
    pub retry_after: Option<Duration>,
    /// The `X-Robots-Tag` header values, in order: the first [`MAX_ROBOTS_TAGS`],
    /// each cut to its directives within its first [`MAX_ROBOTS_TAG_BYTES`].
    pub robots_tag: Vec<String>,
    /// The validators a recrawl asks with (`If-None-Match`, `If-Modified-Since`),
    /// when sent and at most [`MAX_VALIDATOR_BYTES`].
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The body, decompressed, at most `max_body` bytes.
    pub body: Vec<u8>,
    /// True when the body was longer than `max_body` and was cut.
    pub truncated: bool,
    /// What an archive needs: the exchange as it happened (only when asked for).
    pub wire: Option<Wire>,
}

/// The parts of an HTTP exchange a WARC archive records beyond status and body.
#[derive(Debug)]
pub struct Wire {
    /// "HTTP/1.1", "HTTP/2.0"...
    pub version: String,
    /// Response headers in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The peer's address, when the connection knows it.
    pub ip: Option<std::net::IpAddr>,
    /// The request head as sent (reconstructed: the client does not expose its bytes).
    pub request_head: Vec<u8>,
}

/// `X-Robots-Tag` values read per response, and the longest read: a real one
/// names a few directives for a few agents.
pub const MAX_ROBOTS_TAGS: usize = 16;
pub const MAX_ROBOTS_TAG_BYTES: usize = 1024;

/// An `X-Robots-Tag` value within [`MAX_ROBOTS_TAG_BYTES`]: a longer one keeps the
/// directives that end before the cap (cut at its last comma there), so a
/// `nofollow` ahead of kilobytes of others still counts.
fn robots_tag_head(value: &[u8]) -> &[u8] {
    if value.len() <= MAX_ROBOTS_TAG_BYTES {
        return value;
    }
    let head = &value[..MAX_ROBOTS_TAG_BYTES];
    &head[..head.iter().rposition(|&b| b == b',').unwrap_or(0)]
}

/// Largest body buffer allocated up front from a Content-Length.
const MAX_PRESIZE: u64 = 4 * 1024 * 1024;

/// Statuses worth retrying: the server says "not now" or broke for a moment
/// (the set Scrapy retries). 404, 410 and other 4xx are final.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 522 | 524)
}

/// One `[[hosts]]` table, ready to send: its rule, and the crawl's headers with its
/// own on top, in wire order.
struct HostFetch {
    rule: HostRule,
    headers: Vec<(HeaderName, HeaderValue)>,
}

pub struct Fetcher {
    client: reqwest::Client,
    /// For seed origins only: its resolver lets a seed host reach the non-public
    /// addresses it first resolved to (see `guard`).
    seed_client: reqwest::Client,
    guard: Arc<AddressGuard>,
    timeout: Duration,
    max_body: u64,
    /// The headers of every request, in the order they go on the wire (see
    /// `request::request_head`).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Keep [`Wire`] details (WARC output is on).
    keep_wire: bool,
    /// Seeds' credentials, sent to their own origins only.
    logins: logins::Logins,
    /// `[[hosts]]` tables, each with the whole header list its hosts get.
    hosts: Vec<HostFetch>,
    /// Requests may go through a proxy: the peer address is the proxy's, not the
    /// server's, so the archive names none.
    proxied: bool,
    /// The cookie jar both clients share (None with `no_cookies`).
    jar: Option<Arc<reqwest_cookie_store::CookieStoreMutex>>,
}

/// How long an idle connection is kept: three of a host's intervals at the crawl's
/// `per_host_rate`, between 2 and 15 seconds.
fn idle_timeout(per_host_rate: f64) -> Duration {
    let interval = match per_host_rate > 0.0 {
        true => 1.0 / per_host_rate,
        false => 0.0,
    };
    Duration::from_secs_f64((3.0 * interval).clamp(2.0, 15.0))
}

impl Fetcher {
    pub fn new(config: &Config, guard: Arc<AddressGuard>) -> Result<Fetcher, FetchError> {
        // One jar for both clients: a cookie set on a seed's origin is the same cookie
        // whichever client asks next.
        let jar = match config.fetch.no_cookies {
            true => None,
            false => Some(
                cookies::jar(config.fetch.cookies.as_deref(), &config.fetch.hosts)
                    .map_err(|e| FetchError::new(ErrorKind::Other, e))?,
            ),
        };
        if let Some(url) = config
            .fetch
            .proxy
            .as_deref()
            .and_then(|p| crate::config::proxy_url(p).ok())
        {
            guard.exempt_proxy(&url);
        }
        let proxied = config.fetch.proxy.is_some() || proxy_in_environment();
        let hosts = config
            .fetch
            .hosts
            .iter()
            .map(|rule| {
                let mut all = config.fetch.headers.clone();
                for h in &rule.headers {
                    all.retain(|a| a.name != h.name);
                    all.push(h.clone());
                }
                Ok(HostFetch {
                    rule: rule.clone(),
                    headers: request_headers(&config.fetch.user_agent, &all)?,
                })
            })
            .collect::<Result<Vec<_>, FetchError>>()?;
        let client = Self::client(config, &guard, false, jar.as_ref())?;
        let seed_client = Self::client(config, &guard, true, jar.as_ref())?;
        Ok(Fetcher {
            client,
            seed_client,
            guard,
            timeout: config.timeout(),
            max_body: config.fetch.max_body,
            headers: request_headers(&config.fetch.user_agent, &config.fetch.headers)?,
            keep_wire: config.output.warc,
            logins: logins::Logins::default(),
            jar,
            proxied,
            hosts,
        })
    }

    /// Sends each seed's credentials (HTTP Basic) to that seed's origin.
    pub fn with_logins(mut self, logins: logins::Logins) -> Fetcher {
        self.logins = logins;
        self
    }

    fn client(
        config: &Config,
        guard: &Arc<AddressGuard>,
        seed: bool,
        jar: Option<&Arc<reqwest_cookie_store::CookieStoreMutex>>,
    ) -> Result<reqwest::Client, FetchError> {
        let timeout = config.timeout();
        let resolver = GuardedResolver {
            guard: guard.clone(),
            seed,
        };
        let mut builder = reqwest::Client::builder();
        if let Some(jar) = jar {
            builder = builder.cookie_provider(jar.clone());
        }
        // `--proxy` replaces the environment's proxies; without it reqwest reads
        // HTTP_PROXY, HTTPS_PROXY and NO_PROXY.
        if let Some(p) = &config.fetch.proxy {
            let url =
                crate::config::proxy_url(p).map_err(|e| FetchError::new(ErrorKind::Other, e))?;
            let proxy = reqwest::Proxy::all(url.as_str())
                .map_err(|_| FetchError::new(ErrorKind::Other, "the proxy URL is refused"))?;
            builder = builder.proxy(proxy);
        }
        builder
            .user_agent(config.fetch.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            // Idle sockets cost file descriptors and memory (hyper's buffers and
            // channel, some 40 KB a connection): keep as many per host as may be in
            // flight to it, for a few of its politeness intervals (so they are
            // reused, not churned), and no longer: a crawl of many hosts is mostly
            // hosts done with or waiting their turn.
            .pool_idle_timeout(idle_timeout(config.politeness.per_host_rate))
            .pool_max_idle_per_host(config.politeness.per_host_concurrency)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| FetchError::new(ErrorKind::Other, format!("HTTP client: {e}")))
    }

    /// GETs `url` within the whole-request deadline, reading at most `max_body` bytes.
    pub async fn get(&self, url: &Url) -> Result<Response, FetchError> {
        self.get_capped(url, self.max_body).await
    }

    /// Like [`get`](Self::get) with a different body cap (robots.txt has its own).
    pub async fn get_capped(&self, url: &Url, cap: u64) -> Result<Response, FetchError> {
        self.get_if(url, cap, Validators::default()).await
    }

    /// Like [`get_capped`](Self::get_capped), asking only for a newer version than
    /// the one `ask` names (`If-None-Match`, `If-Modified-Since`): a recrawl.
    pub async fn get_if(
        &self,
        url: &Url,
        cap: u64,
        ask: Validators<'_>,
    ) -> Result<Response, FetchError> {
        self.guard
            .check_literal(url)
            .map_err(|e| FetchError::new(ErrorKind::Blocked, e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.get_inner(url, cap, ask, None)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::new(
                ErrorKind::Timeout,
                format!("no complete response within {:?}", self.timeout),
            )),
        }
    }

    /// A request a rendered page made (`render`), sent as trawl sends its own:
    /// the address guard, the user's headers, a `[[hosts]]` table's credentials,
    /// the jar, the proxy, the deadline and `max_body`. The browser's method and
    /// body go with it, and of its headers only `Content-Type` (what a body needs
    /// to be read); the response keeps its headers ([`Response::wire`]).
    pub async fn forward(&self, url: &Url, sub: &SubRequest) -> Result<Response, FetchError> {
        self.guard
            .check_literal(url)
            .map_err(|e| FetchError::new(ErrorKind::Blocked, e.to_string()))?;
        let call = self.get_inner(url, self.max_body, Validators::default(), Some(sub));
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::new(
                ErrorKind::Timeout,
                format!("no complete response within {:?}", self.timeout),
            )),
        }
    }

    async fn get_inner(
        &self,
        url: &Url,
        cap: u64,
        ask: Validators<'_>,
        sub: Option<&SubRequest>,
    ) -> Result<Response, FetchError> {
        let client = match self.guard.is_exempt(url) {
            true => &self.seed_client,
            false => &self.client,
        };
        let mut request = match sub {
            Some(s) => client.request(s.method.clone(), url.as_str()),
            None => client.get(url.as_str()),
        };
        if let Some(s) = sub {
            if let Some(ct) = &s.content_type {
                request = request.header(CONTENT_TYPE, ct);
            }
            if let Some(body) = &s.body {
                request = request.body(body.clone());
            }
        }
        // The first [[hosts]] table matching this URL's host: its headers and its
        // credentials go to this request only.
        let host = url
            .host_str()
            .and_then(|h| self.hosts.iter().find(|f| f.rule.matches(h)));
        let sent = host.map_or(&self.headers, |f| &f.headers);
        // Every header set here, in order, so that reqwest adds none of its own and
        // the archive's request record is the request as sent.
        for (name, value) in sent {
            request = request.header(name, value);
        }
        let conditional = ask.headers();
        for (name, value) in &conditional {
            request = request.header(name, value);
        }
        let has_authorization = sent.iter().any(|(n, _)| n == AUTHORIZATION);
        let mut auth = None;
        if let Some(rule) = host.map(|f| &f.rule).filter(|_| !has_authorization) {
            if let Some((user, password)) =
                rule.basic_auth.as_deref().and_then(|b| b.split_once(':'))
            {
                request = request.basic_auth(user, Some(password));
                auth = Some("Basic");
            } else if let Some(token) = &rule.bearer {
                request = request.bearer_auth(token);
                auth = Some("Bearer");
            }
        }
        // A seed's login, unless the request carries credentials already.
        let login = self
            .logins
            .for_url(url)
            .filter(|_| !has_authorization && auth.is_none());
        if let Some(login) = login {
            request = request.basic_auth(&login.user, login.password.as_ref());
            auth = Some("Basic");
        }
        // Whether the jar gave this request a Cookie header (for the archive's record).
        let sent_cookie = self.keep_wire && self.has_cookies_for(url);
        let mut resp = request.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let content_type = header_str(headers, CONTENT_TYPE);
        let location = header_str(headers, LOCATION);
        let retry_after = header_str(headers, RETRY_AFTER).and_then(|v| parse_retry_after(&v));
        let etag = validator(headers, ETAG);
        let last_modified = validator(headers, LAST_MODIFIED);
        let robots_tag = headers
            .get_all("x-robots-tag")
            .iter()
            .take(MAX_ROBOTS_TAGS)
            .filter_map(|v| std::str::from_utf8(robots_tag_head(v.as_bytes())).ok())
            .map(str::to_string)
            .collect();
        let wire = (self.keep_wire || sub.is_some()).then(|| Wire {
            request_head: request_head(
                url,
                resp.version(),
                // HTTP/2 drops a Connection header (hyper strips it).
                sent.iter().chain(conditional.iter().filter(|(n, _)| {
                    resp.version() != reqwest::Version::HTTP_2 || *n != reqwest::header::CONNECTION
                })),
                auth,
                sent_cookie,
            ),
            version: format!("{:?}", resp.version()),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                .collect(),
            ip: resp.remote_addr().map(|a| a.ip()).filter(|_| !self.proxied),
        });
        // Sized from Content-Length when the server gives one (bounded: it may lie),
        // so a page is not copied again each time the buffer doubles.
        let expected = resp.content_length().unwrap_or(0).min(cap).min(MAX_PRESIZE);
        let mut body = Vec::with_capacity(expected as usize);
        let mut truncated = false;
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            let room = cap.saturating_sub(body.len() as u64) as usize;
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            content_type,
            location,
            retry_after,
            robots_tag,
            etag,
            last_modified,
            body,
            truncated,
            wire,
        })
    }

    fn has_cookies_for(&self, url: &Url) -> bool {
        let Some(jar) = &self.jar else {
            return false;
        };
        jar.lock()
            .map(|store| store.get_request_values(url).next().is_some())
            .unwrap_or(false)
    }
}

pub use crate::recrawl::MAX_VALIDATOR_BYTES;

/// A validator header, when present, printable and short enough.
fn validator(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= MAX_VALIDATOR_BYTES).then(|| v.to_string())
}

/// Whether a proxy variable reqwest reads is set.
fn proxy_in_environment() -> bool {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

/// Retry-After is either delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Maps a reqwest error to a kind by walking its cause chain.
fn classify(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut innermost = e.to_string();
    let mut lost = false;
    while let Some(err) = source {
        if let Some(b) = err.downcast_ref::<BlockedAddress>() {
            return FetchError::new(ErrorKind::Blocked, b.to_string());
        }
        if let Some(d) = err.downcast_ref::<DnsFailure>() {
            return FetchError::new(ErrorKind::Dns, d.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => {
                    return FetchError::new(ErrorKind::Timeout, io.to_string())
                }
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => {
                    return FetchError::new(ErrorKind::Connect, io.to_string())
                }
                _ => {}
            }
        }
        // A kept-alive connection the server closed under us: a connection
        // failure, worth a retry, not a protocol violation.
        lost |= err
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message());
        innermost = err.to_string();
        source = err.source();
    }
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() || lost {
        ErrorKind::Connect
    } else if e.is_body() || e.is_decode() || e.is_request() {
        ErrorKind::Protocol
    } else {
        ErrorKind::Other
    };
    FetchError::new(kind, innermost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connections_are_kept_for_three_intervals_within_bounds() {
        let secs = |rate: f64| idle_timeout(rate).as_secs_f64();
        assert_eq!(secs(1.0), 3.0, "the default rate: three seconds");
        assert_eq!(secs(0.5), 6.0);
        assert_eq!(
            secs(0.0),
            2.0,
            "no rate limit: reused at once, or not at all"
        );
        assert_eq!(secs(100.0), 2.0);
        assert_eq!(
            secs(0.01),
            15.0,
            "a slow host is not kept a connection for minutes"
        );
    }

    /// A server that closes the connection without a word: hyper's "incomplete
    /// message", found by its type, is a connection failure (worth a retry), not a
    /// protocol error.
    #[tokio::test]
    async fn a_connection_closed_before_any_reply_is_a_connect_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                drop(conn);
            }
        });
        let guard = Arc::new(AddressGuard::new(false));
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        guard.exempt_seed(&url);
        let fetcher = Fetcher::new(&Config::default(), guard).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(10), fetcher.get(&url))
            .await
            .expect("the fetch ends")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connect, "{}", e.message);
        assert!(e.is_retryable());
        server.abort();
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let d = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            d > Duration::from_secs(27) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
