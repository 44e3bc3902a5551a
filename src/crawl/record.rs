//! The end of one URL's attempt: the place where a record is made and handed to
//! the sinks, and where a lease ends (recorded, or retried later). A record is
//! sent before its lease completes, so a page is never counted done unwritten.

use std::time::{Duration, Instant, SystemTime};

use url::Url;

use super::ctx::Ctx;
use crate::canon::HostKey;
use crate::fetch::Response;
use crate::frontier::{Contact, Lease};
use crate::journal::{Pending, Ticket};
use crate::recrawl::Change;
use crate::sink::warc::{Revisit, RevisitProfile};
use crate::sink::{Exchange, Output, PageRecord};
use crate::stats::ErrorKind;

/// Longest backoff between retries of one URL.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The end of one URL's attempt, before it becomes a record.
pub(super) struct Outcome {
    pub status: Option<u16>,
    pub final_url: Option<Url>,
    /// The error kind, carried from where it was raised, and its detail.
    pub error: Option<(ErrorKind, String)>,
    pub content_type: Option<String>,
    pub content_length: u64,
    pub title: Option<String>,
    pub links: usize,
    /// The page's `<link rel="canonical">`, absolute.
    pub canonical: Option<String>,
    /// The owner asked that the page not be indexed (meta robots or X-Robots-Tag).
    pub noindex: bool,
    /// How this response sent the reader on: `http` (3xx) or `refresh` (meta).
    pub redirect: Option<&'static str>,
    /// The response's validators, for the next crawl's conditional requests.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The SHA-1 of a whole body (none when empty or cut; set by the page's
    /// processing, see `content::digest`), and the record's `digest` made of it (or
    /// of the earlier crawl's, over a `304`).
    pub payload: Option<[u8; 20]>,
    pub digest: Option<String>,
    /// Over a recrawl's 304: when the payload `digest` names was captured.
    pub original_date: Option<String>,
    /// Why the page was to be rendered (`--render`), and whether its render
    /// succeeded, when one was begun.
    pub rendered: Option<(&'static str, bool)>,
    /// The commit of the URLs this page discovered: its record waits for it.
    pub ticket: Ticket,
    /// Extras and rule fields of a parsed page.
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// The exchange, for the archive.
    pub exchange: Option<Exchange>,
    /// What this attempt learned of its host, when the status and error do not
    /// say it (a failure read from a cache was not a new attempt).
    pub contact: Option<Contact>,
}

impl Outcome {
    /// No response: the attempt failed.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Outcome {
        Outcome {
            error: Some((kind, message.into())),
            ..Outcome::empty()
        }
    }

    /// A response, its body not yet looked at.
    pub fn response(resp: &Response) -> Outcome {
        Outcome {
            status: Some(resp.status),
            content_type: resp.content_type.clone(),
            content_length: resp.body.len() as u64,
            etag: resp.etag.clone(),
            last_modified: resp.last_modified.clone(),
            ..Outcome::empty()
        }
    }

    fn empty() -> Outcome {
        Outcome {
            status: None,
            final_url: None,
            error: None,
            content_type: None,
            content_length: 0,
            title: None,
            links: 0,
            canonical: None,
            noindex: false,
            redirect: None,
            etag: None,
            last_modified: None,
            payload: None,
            digest: None,
            original_date: None,
            rendered: None,
            ticket: Ticket::NONE,
            fields: None,
            exchange: None,
            contact: None,
        }
    }

    /// The response is recorded with this error (a bad redirect, a cut body).
    pub fn fail(&mut self, kind: ErrorKind, message: impl Into<String>) {
        self.error = Some((kind, message.into()));
    }
}

/// Writes the record, counts it, and ends the lease (links were pushed already).
pub(super) async fn finish(ctx: &Ctx, lease: Lease, mut o: Outcome, started: Instant) {
    let recrawl = recrawl(ctx, &lease, &mut o);
    if let Some(ex) = o.exchange.as_mut() {
        ex.payload_sha = o.payload;
    }
    let kind = o.error.as_ref().map(|(k, _)| *k);
    let contact = match o.contact {
        Some(c) => c,
        None => contact_of(o.status, o.error.as_ref().map(|(k, m)| (*k, m.as_str()))),
    };
    let record = PageRecord {
        url: lease.entry.url.to_string(),
        final_url: o.final_url.as_ref().unwrap_or(&lease.entry.url).to_string(),
        status: o.status,
        error: o.error.map(|(k, m)| format!("{}: {m}", k.name())),
        depth: lease.entry.depth,
        content_type: o.content_type,
        content_length: o.content_length,
        title: o.title,
        links: o.links,
        canonical: o.canonical,
        noindex: o.noindex,
        redirect: o.redirect,
        etag: o.etag,
        last_modified: o.last_modified,
        digest: o.digest,
        fetched_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        attempts: lease.entry.attempt + 1,
        requisite: ctx
            .config
            .scope
            .page_requisites
            .then_some(lease.entry.requisite),
        recrawl: recrawl.map(|c| c.map(Change::name)),
        original_date: o.original_date,
        rendered: ctx
            .renderer
            .is_some()
            .then_some(o.rendered.is_some_and(|(_, ok)| ok)),
        render_reason: o.rendered.map(|(why, _)| why),
        extra: o.fields.unwrap_or_else(|| ctx.empty_fields.clone()),
        ticket: o.ticket,
        done: Pending::of(&lease),
    };
    // One line per URL with -v (nothing is formatted otherwise).
    tracing::debug!(
        url = %record.url,
        status = record.status.unwrap_or(0),
        bytes = record.content_length,
        ms = record.elapsed_ms,
        worker = lease.shard,
        error = record.error.as_deref().unwrap_or(""),
        "fetched"
    );
    ctx.stats.record(o.status, kind, o.content_length);
    // A 304 answering a recrawl's question is a page confirmed: ok, as a 200 is.
    if recrawl == Some(Some(Change::NotModified)) {
        ctx.stats
            .ok
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let mut out = Output {
        record: Some(record),
        exchange: o.exchange,
    };
    for sink in &ctx.sinks {
        if let Err(e) = sink.send(&mut out).await {
            ctx.fail_output(&e.to_string());
        }
    }
    let host = lease.host.clone();
    let dead = ctx.frontier.complete(lease, kind, &contact).await;
    super::unwind::lease_ended();
    if dead {
        declared_unreachable(ctx, &host, &contact);
    }
}

/// A recrawl's verdict on a response (`--since`; `None` without it, `Some(None)`
/// for an attempt with no response): the record's `digest` (the earlier one over
/// a `304`), validators kept from the earlier record when a `304` repeats none,
/// and the archive's revisit of the earlier capture when it was archived.
fn recrawl(ctx: &Ctx, lease: &Lease, o: &mut Outcome) -> Option<Option<Change>> {
    o.digest = o.payload.as_ref().map(crate::digest::text);
    let since = ctx.since.as_ref()?;
    let Some(status) = o.status else {
        return Some(None);
    };
    let prior = lease.entry.prior.as_deref();
    let change = Change::of(prior, status, o.digest.as_deref());
    ctx.stats.recrawl.change(change);
    let Some(prior) = prior else {
        return Some(Some(change));
    };
    if change == Change::NotModified {
        o.original_date = Some(prior.date.clone());
        o.digest = prior.content_digest().map(str::to_string);
        o.etag = o.etag.take().or_else(|| prior.etag.clone());
        o.last_modified = o
            .last_modified
            .take()
            .or_else(|| prior.last_modified.clone());
    }
    // An unchanged error page or empty redirect is archived as it came: a revisit
    // stands for a payload (a page), as Heritrix's do.
    let profile = match change {
        Change::NotModified => RevisitProfile::ServerNotModified,
        Change::Unchanged if (200..300).contains(&status) && o.payload.is_some() => {
            RevisitProfile::IdenticalPayloadDigest
        }
        _ => return Some(Some(change)),
    };
    let date = humantime::parse_rfc3339_weak(&prior.date).ok();
    if let (true, Some(ex), Some(date)) = (since.archived, o.exchange.as_mut(), date) {
        ex.revisit = Some(Revisit {
            profile,
            date,
            digest: o.digest.clone(),
        });
    }
    Some(Some(change))
}

/// Hands the lease back to be tried again after `delay`; `contact` is what this
/// attempt learned of the host.
pub(super) async fn retry(ctx: &Ctx, mut lease: Lease, delay: Duration, contact: Contact) {
    let why = match &contact {
        Contact::Failed(cause) => cause.as_str(),
        _ => "retryable answer",
    };
    tracing::debug!(url = %lease.entry.url, attempt = lease.entry.attempt + 1, ?delay, why, "retrying");
    lease.entry.attempt += 1;
    ctx.stats
        .retries
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let host = lease.host.clone();
    let dead = ctx.frontier.retry(lease, delay, &contact).await;
    super::unwind::lease_ended();
    if dead {
        declared_unreachable(ctx, &host, &contact);
    }
}

/// What an attempt's end says of its host, for the unreachable-host rule: a
/// response reached it; a connection-level error (DNS, refused, TLS, timeout)
/// failed to; the address guard refused it; anything else says nothing.
pub(super) fn contact_of(status: Option<u16>, error: Option<(ErrorKind, &str)>) -> Contact {
    match (status, error) {
        (Some(_), _) => Contact::Reached,
        (None, Some((kind, message))) if kind.is_connection_level() => {
            Contact::Failed(format!("{}: {message}", kind.name()))
        }
        (None, Some((ErrorKind::Blocked, message))) => {
            Contact::Refused(format!("{}: {message}", ErrorKind::Blocked.name()))
        }
        _ => Contact::Unknown,
    }
}

/// What a page fetch's failure says of its host: only a URL's first attempt counts,
/// its retries are the same failure again (a page slower than the timeout, tried
/// three times, is one), so a host is given up only after several different URLs
/// failed in a row. (A robots.txt fetch counts whenever it is made: it is made
/// again only once its cached failure has expired.)
pub(super) fn page_contact(error: &crate::fetch::FetchError, attempt: u32) -> Contact {
    match contact_of(None, Some((error.kind, &error.message))) {
        Contact::Failed(_) if attempt > 0 => Contact::Unknown,
        other => other,
    }
}

/// This process's attempt tipped the host over: say so once. (A host the address
/// guard refused is given up too, quietly: its URLs are all recorded `blocked`.)
fn declared_unreachable(ctx: &Ctx, host: &HostKey, contact: &Contact) {
    let cause = match contact {
        Contact::Failed(cause) => cause.as_str(),
        _ => return,
    };
    ctx.stats
        .hosts_unreachable
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(
        host = %host,
        "host unreachable after {} connection failures in a row ({cause}): its URLs are recorded without a fetch",
        ctx.config.fetch.unreachable_after
    );
}

/// `retry_backoff` doubled per attempt (to 5 minutes), with ±25% jitter so that
/// many URLs failing together do not retry together.
pub(super) fn backoff(ctx: &Ctx, attempt: u32) -> Duration {
    let base = Duration::from_secs_f64(ctx.config.fetch.retry_backoff);
    let exp = base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(MAX_BACKOFF);
    exp.mul_f64(0.75 + fastrand::f64() * 0.5)
}

/// The archive's view of a response, when the fetcher kept its wire details.
pub(super) fn exchange(url: &Url, resp: Option<Response>) -> Option<Exchange> {
    let resp = resp?;
    let wire = resp.wire?;
    Some(Exchange {
        url: url.to_string(),
        fetched_at: SystemTime::now(),
        ip: wire.ip,
        request_head: wire.request_head,
        http_version: wire.version,
        status: resp.status,
        reason: String::new(),
        headers: wire.headers,
        body: resp.body,
        truncated: resp.truncated,
        payload_sha: None,
        revisit: None,
        rendered: None,
    })
}
