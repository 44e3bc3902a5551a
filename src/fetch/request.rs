//! What a request carries, and what the archive says was sent: the headers of
//! every request in wire order (trawl's defaults, then the user's), the
//! conditional headers of a recrawl, a rendered page's method and body, and the
//! request head written to WARC request records (secrets as `***`).

use reqwest::header::{
    HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONNECTION, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    USER_AGENT,
};
use url::Url;

use super::FetchError;
use crate::config::Header;
use crate::stats::ErrorKind;

/// The request head as it went on the wire for `url`: the request line (an
/// HTTP/1.x connection always sends `HTTP/1.1`, whatever version the server
/// answers in), then `headers` in order, the Authorization of a `[[hosts]]` table
/// or a seed's login when one was sent (its credentials written as `***`: archives
/// are shared, passwords are not), the jar's `cookie` (as `***`), then `host`,
/// which hyper adds last. Names are lower case, as hyper writes them. An HTTP/2 request has no request line or Host
/// header on the wire; it is written in the same form, `HTTP/2.0` and the
/// `:authority` as `host`, which is how replay tools read it.
pub(super) fn request_head<'a>(
    url: &Url,
    version: reqwest::Version,
    headers: impl Iterator<Item = &'a (HeaderName, HeaderValue)>,
    auth: Option<&str>,
    cookie: bool,
) -> Vec<u8> {
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let line_version = match version {
        reqwest::Version::HTTP_2 => "HTTP/2.0",
        reqwest::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let mut head = format!("GET {target} {line_version}\r\n").into_bytes();
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        match Header::is_secret(name.as_str()) {
            true => head.extend_from_slice(b"***"),
            false => head.extend_from_slice(value.as_bytes()),
        }
        head.extend_from_slice(b"\r\n");
    }
    if let Some(scheme) = auth {
        head.extend_from_slice(format!("authorization: {scheme} ***\r\n").as_bytes());
    }
    // reqwest adds the jar's Cookie header after the request's own.
    if cookie {
        head.extend_from_slice(b"cookie: ***\r\n");
    }
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    };
    head.extend_from_slice(format!("host: {host}\r\n\r\n").as_bytes());
    head
}

/// What a rendered page asked for beyond a URL (see [`Fetcher::forward`]).
#[derive(Debug, Clone)]
pub struct SubRequest {
    pub method: reqwest::Method,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<HeaderValue>,
}

/// What a page's request asks beyond the defaults: an earlier response's
/// validators (a conditional request), and whether the connection is to close
/// after the response (`Connection: close`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    /// The host has nothing else queued: an idle connection kept for it would
    /// only hold a socket and its buffers (about 20 KB) until the pool drops it,
    /// and a seed list of a million hosts ends one host a millisecond. HTTP/1.1
    /// only; HTTP/2 drops the header (and the archive leaves it out).
    pub close: bool,
}

impl Validators<'_> {
    /// `If-None-Match` and `If-Modified-Since`, for those given that a header can
    /// carry (both, as RFC 9110 allows: a server uses the first it supports).
    pub(super) fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        let pairs = [
            (IF_NONE_MATCH, self.etag),
            (IF_MODIFIED_SINCE, self.last_modified),
        ];
        for (name, value) in pairs {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                out.push((name, v));
            }
        }
        if self.close {
            out.push((CONNECTION, HeaderValue::from_static("close")));
        }
        out
    }
}

/// The headers every request carries, in wire order: what reqwest would add by
/// itself, set explicitly so the archive can say exactly what was sent (the
/// encodings are those this build decodes), then the user's `headers`. A user's
/// header of the same name replaces a default in its place.
pub(super) fn request_headers(
    user_agent: &str,
    extra: &[Header],
) -> Result<Vec<(HeaderName, HeaderValue)>, FetchError> {
    let invalid = |what: &str| {
        FetchError::new(
            ErrorKind::Other,
            format!("{what} holds a character a header cannot carry"),
        )
    };
    let agent = HeaderValue::from_str(user_agent).map_err(|_| invalid("user_agent"))?;
    let mut headers = vec![
        (ACCEPT, HeaderValue::from_static("*/*")),
        (USER_AGENT, agent),
        (
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br, zstd, deflate"),
        ),
    ];
    for h in extra {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| invalid(&h.name))?;
        let value = HeaderValue::from_str(&h.value).map_err(|_| invalid(&h.name))?;
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => headers.push((name, value)),
        }
    }
    Ok(headers)
}
