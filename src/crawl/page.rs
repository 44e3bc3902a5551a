//! One leased URL, from robots check to record: the place where a page is fetched
//! and what its response is decided. Every path ends the lease exactly once —
//! recorded ([`record::finish`]), retried, requeued or discarded.

use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::record::{self, Outcome};
use super::{admit, content, fleet, rendered, sitemaps, unwind};
use crate::canon::{self, fingerprint};
use crate::extract::{signals, Anchor};
use crate::fetch::{self, Response};
use crate::frontier::{Contact, Lease};
use crate::robots::Verdict;
use crate::stats::{ErrorKind, Refusal};

/// Fetches and records one leased URL. Always ends the lease, even when its work
/// panics (the page is then recorded with an internal error).
pub(super) async fn run(ctx: &Ctx, lease: Lease) {
    let started = Instant::now();
    let copy = Lease {
        shard: lease.shard,
        id: lease.id,
        host: lease.host.clone(),
        entry: lease.entry.clone(),
        unreachable: lease.unreachable.clone(),
        last: lease.last,
    };
    if let Err(message) = unwind::Guarded::new(process(ctx, lease)).await {
        tracing::error!(url = %copy.entry.url, "internal error on this page: {message}");
        let why = format!("internal error while processing this page: {message}");
        record::finish(ctx, copy, Outcome::error(ErrorKind::Other, why), started).await;
    }
}

async fn process(ctx: &Ctx, lease: Lease) {
    let started = Instant::now();
    if let Some(cause) = &lease.unreachable {
        let o = match ErrorKind::of_error(cause) {
            // The address guard refused the host: each URL is blocked, as it would be.
            Some(ErrorKind::Blocked) => {
                let why = cause.strip_prefix("blocked: ").unwrap_or(cause);
                Outcome::error(ErrorKind::Blocked, why)
            }
            _ => Outcome::error(
                ErrorKind::Unreachable,
                format!(
                    "host declared unreachable after {} connection failures in a row; \
                     last: {cause}",
                    ctx.config.fetch.unreachable_after
                ),
            ),
        };
        return record::finish(ctx, lease, o, started).await;
    }
    fleet::learn_scope(ctx, &lease.entry).await;
    if let Err(why) = still_wanted(ctx, &lease) {
        ctx.stats.refuse(why);
        ctx.frontier.discard(lease).await;
        unwind::lease_ended();
        return;
    }
    let Some(lease) = robots_gate(ctx, lease, started).await else {
        return;
    };
    // A URL named as a sitemap (robots.txt, an index) is read as one whatever its
    // body looks like (plain-text sitemaps); others are sniffed.
    let named_sitemap =
        ctx.config.sitemaps.sitemaps && ctx.sitemaps_seen.contains(&fingerprint(&lease.entry.url));
    // A sitemap may be larger than a page: it gets the larger cap.
    let sitemap_like = ctx.config.sitemaps.sitemaps && sitemaps::named_like_one(&lease.entry.url);
    let cap = match named_sitemap || sitemap_like {
        true => ctx
            .config
            .fetch
            .max_body
            .max(ctx.config.sitemaps.max_sitemap_bytes),
        false => ctx.config.fetch.max_body,
    };
    let attempt = lease.entry.attempt;
    let fetching = Instant::now();
    // A recrawl asks whether the page changed since the earlier crawl's copy.
    let (etag, last_modified) = lease
        .entry
        .prior
        .as_deref()
        .map_or((None, None), |p| p.validators());
    let ask = fetch::Validators {
        etag,
        last_modified,
        close: lease.last,
    };
    let fetched = ctx.fetcher.get_if(&lease.entry.url, cap, ask).await;
    ctx.stats.timings.fetched(fetching.elapsed());
    let resp = match fetched {
        Ok(r) => r,
        Err(e) => {
            let contact = record::page_contact(&e, attempt);
            if e.is_retryable() && attempt < ctx.config.fetch.retries {
                let delay = record::backoff(ctx, attempt);
                return record::retry(ctx, lease, delay, contact).await;
            }
            let mut o = Outcome::error(e.kind, e.message);
            o.contact = Some(contact);
            return record::finish(ctx, lease, o, started).await;
        }
    };
    if fetch::is_retryable_status(resp.status) && attempt < ctx.config.fetch.retries {
        let max = Duration::from_secs_f64(ctx.config.politeness.max_retry_after);
        let delay = match resp.retry_after {
            Some(d) => d.min(max),
            None => record::backoff(ctx, attempt),
        };
        return record::retry(ctx, lease, delay, Contact::Reached).await;
    }
    let Some((resp, payload)) = content::digest(resp).await else {
        let o = Outcome::error(ErrorKind::Other, "the body could not be hashed");
        return record::finish(ctx, lease, o, started).await;
    };
    let mut outcome = respond(ctx, &lease, resp, named_sitemap).await;
    outcome.payload = payload;
    record::finish(ctx, lease, outcome, started).await
}

/// A resumed crawl's URLs were admitted under the earlier run's flags: a new
/// --include/--exclude, skip_extensions, depth or trap limit applies to them too
/// (seeds, and sitemap files, at depth 0, excepted), and so does turning
/// --page-requisites off.
fn still_wanted(ctx: &Ctx, lease: &Lease) -> Result<(), Refusal> {
    let e = &lease.entry;
    if !ctx.resumed || e.depth == 0 {
        return Ok(());
    }
    // A page requisite keeps its exemptions (one hop past max_depth, past
    // skip_extensions) only while --page-requisites is still on.
    let requisite = e.requisite && ctx.config.scope.page_requisites;
    let max_depth = ctx.config.scope.max_depth;
    if max_depth.is_some_and(|max| e.depth > max.saturating_add(u32::from(requisite))) {
        return Err(Refusal::Depth);
    }
    ctx.scope
        .check_filters(&e.url)
        .and_then(|()| match requisite {
            true => Ok(()),
            false => ctx.scope.check_extension(&e.url),
        })
        .and_then(|()| ctx.traps.check(&e.url, e.query_hops))
}

/// Asks robots.txt (fetched once per host, within the host's politeness); hands
/// the lease back when the page may be fetched now, ends it otherwise.
async fn robots_gate(ctx: &Ctx, lease: Lease, started: Instant) -> Option<Lease> {
    // A [[hosts]] table may obey or ignore robots.txt for its hosts.
    let ignore = lease
        .entry
        .url
        .host_str()
        .and_then(|h| crate::config::hosts::rule_for(&ctx.config.fetch.hosts, h))
        .and_then(|r| r.robots)
        .map_or(ctx.config.politeness.ignore_robots, |m| {
            m == crate::config::RobotsMode::Ignore
        });
    if ignore {
        return Some(lease);
    }
    let decision = ctx
        .robots
        .check_kept(&ctx.fetcher, &lease.entry.url, Some(&ctx.frontier))
        .await;
    if let Some(delay) = decision.new_crawl_delay {
        tracing::debug!(host = %lease.host, ?delay, "robots.txt crawl-delay");
        ctx.frontier.set_crawl_delay(&lease.host, delay).await;
    }
    if let (Some(listed), true) = (decision.sitemaps, ctx.config.sitemaps.sitemaps) {
        sitemaps::discover(ctx, &lease.entry.url, listed).await;
    }
    let outcome = match decision.verdict {
        // The robots.txt request used this host's slot: the page waits its turn.
        Verdict::Allowed if decision.fetched => match ctx.frontier.host_interval(&lease.host) {
            Some(gap) => {
                ctx.frontier.requeue(lease, gap).await;
                unwind::lease_ended();
                return None;
            }
            None => return Some(lease),
        },
        Verdict::Allowed => return Some(lease),
        Verdict::Unreachable(e) => Outcome::error(e.kind, e.message),
        Verdict::Disallowed => Outcome::error(ErrorKind::Robots, "disallowed by robots.txt"),
        Verdict::Unavailable {
            reason,
            retry_in,
            cause,
        } => {
            let attempt = lease.entry.attempt;
            if attempt < ctx.config.fetch.retries {
                let delay = retry_in.max(record::backoff(ctx, attempt));
                let contact = robots_contact(decision.fetched, cause.as_ref());
                record::retry(ctx, lease, delay, contact).await;
                return None;
            }
            let contact = robots_contact(decision.fetched, cause.as_ref());
            // A network failure is reported as what it is; a 5xx as robots.
            let mut o = match cause {
                Some(e) => Outcome::error(e.kind, format!("{} (fetching robots.txt)", e.message)),
                None => Outcome::error(
                    ErrorKind::Robots,
                    format!("robots.txt unavailable ({reason})"),
                ),
            };
            o.contact = Some(contact);
            o
        }
    };
    record::finish(ctx, lease, outcome, started).await;
    None
}

/// What a robots.txt failure says of the host: only the call that fetched it
/// made an attempt (the others read the cached failure); a 5xx is an answer.
fn robots_contact(fetched: bool, cause: Option<&crate::fetch::FetchError>) -> Contact {
    match cause {
        _ if !fetched => Contact::Unknown,
        Some(e) => record::contact_of(None, Some((e.kind, &e.message))),
        None => Contact::Reached,
    }
}

/// What a final response is: a redirect to follow (3xx, or a meta refresh), a
/// body cut at the cap, a sitemap to read, an HTML page to parse, or anything else
/// (recorded as is). The owner's signals (X-Robots-Tag, meta robots) are read here.
async fn respond(ctx: &Ctx, lease: &Lease, resp: Response, named_sitemap: bool) -> Outcome {
    let mut outcome = Outcome::response(&resp);
    let entry = &lease.entry;
    let ok = (200..300).contains(&resp.status);
    let header = signals::x_robots_tag(resp.robots_tag.iter().map(String::as_str), &ctx.agent);
    outcome.noindex = header.noindex;
    if matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
        match resp.location.as_deref().filter(|l| !l.trim().is_empty()) {
            Some(location) => {
                outcome.redirect = Some("http");
                admit::redirect(ctx, entry, location, &mut outcome).await
            }
            None => outcome.fail(ErrorKind::Redirect, "no Location header"),
        }
    } else if resp.truncated {
        let why = format!(
            "body exceeds max_body ({} bytes); cut and not parsed",
            ctx.config.fetch.max_body
        );
        outcome.fail(ErrorKind::TooLarge, why);
        // The archive keeps what was read, marked as cut (WARC-Truncated: length).
        outcome.exchange = record::exchange(&entry.url, Some(resp));
        return outcome;
    } else if entry.requisite && ctx.config.scope.page_requisites {
        // A page requisite is archived and recorded, never read for URLs.
    } else if ok && ctx.config.sitemaps.sitemaps && (named_sitemap || sitemaps::sniff(entry, &resp))
    {
        let resp = sitemaps::read(ctx, entry, resp, &mut outcome).await;
        outcome.exchange = record::exchange(&entry.url, resp);
        return outcome;
    } else if ok && content::is_parseable(&resp) {
        let (mut page, resp) = content::parse(ctx, &entry.url, resp).await;
        // Rendered (`--render`): the DOM the browser built is the page; a failed
        // render leaves the plain page, recorded with the render's error.
        let why = resp
            .as_ref()
            .and_then(|r| rendered::reason(ctx, entry, r, &page));
        let (mut dom, mut failed) = (None, None);
        if let (Some(why), Some(r)) = (why, resp.as_ref()) {
            ctx.stats.render.attempted(why.name());
            match rendered::render(ctx, entry, r).await {
                Ok(done) => {
                    outcome.rendered = Some((why.name(), true));
                    page = rendered::page_of(ctx, entry, &done).await;
                    dom = Some(done.html.into_bytes());
                }
                Err(e) => {
                    outcome.rendered = Some((why.name(), false));
                    failed = Some(e.to_string());
                }
            }
        }
        outcome.exchange = record::exchange(&entry.url, resp);
        if let Some(ex) = outcome.exchange.as_mut() {
            ex.rendered = dom;
        }
        parsed(ctx, entry, page, header, &mut outcome).await;
        if let Some(why) = failed {
            outcome.fail(ErrorKind::Render, why);
        }
        return outcome;
    }
    outcome.exchange = record::exchange(&entry.url, Some(resp));
    outcome
}

/// A parsed HTML page: its record fields, then where it leads. A meta refresh
/// that names another URL is followed as a redirect (the page's own links and
/// requisites are not, as a 3xx body's are not); otherwise its links are admitted
/// unless meta robots or X-Robots-Tag says nofollow, and its requisites (with
/// `--page-requisites`) whatever they say.
async fn parsed(
    ctx: &Ctx,
    entry: &crate::frontier::Entry,
    page: crate::extract::Page,
    header: signals::Directives,
    outcome: &mut Outcome,
) {
    // Requisites past the cap count with the links past it (`max_links_per_page`).
    let cut = page.links_cut + page.requisites_cut;
    if cut > 0 {
        let cut = cut as u64;
        ctx.stats
            .links_cut
            .fetch_add(cut, std::sync::atomic::Ordering::Relaxed);
    }
    outcome.title = page.title;
    outcome.links = page.links.len();
    outcome.canonical = page.canonical;
    outcome.noindex |= page.noindex;
    if let Some(serde_json::Value::String(rule)) = page.fields.get("rule") {
        if page.fields.get("data").is_some_and(|d| !d.is_null()) {
            ctx.stats.rule_applied(rule);
        }
    }
    outcome.fields = Some(page.fields);
    let graph = outcome
        .fields
        .as_ref()
        .is_some_and(|f| f.contains_key(OUTLINKS));
    let shown: Vec<(String, Option<Box<Anchor>>)> = match graph {
        true => page
            .links
            .iter()
            .map(|l| (l.url.to_string(), l.anchor.clone()))
            .collect(),
        false => Vec::new(),
    };
    // A page refreshing to itself is a page that reloads, not a redirect.
    let elsewhere = page.refresh.filter(|target| {
        canon::parse(target, None, ctx.config.canon_rules())
            .map_or(true, |t| fingerprint(&t) != fingerprint(&entry.url))
    });
    if let Some(target) = elsewhere {
        outcome.redirect = Some("refresh");
        // The page's own links are not followed: listed, none admitted.
        if let (true, Some(fields)) = (graph, outcome.fields.as_mut()) {
            fields.insert(OUTLINKS.into(), outlinks(shown, &[]));
        }
        return admit::redirect(ctx, entry, &target, outcome).await;
    }
    let follow = (page.follow_links && !header.nofollow) || ctx.config.politeness.ignore_robots;
    let (ticket, taken) = admit::page(ctx, entry, page.links, follow, page.requisites).await;
    outcome.ticket = ticket;
    if let (true, Some(fields)) = (graph, outcome.fields.as_mut()) {
        fields.insert(OUTLINKS.into(), outlinks(shown, &taken));
    }
}

/// The record field of `extras = ["links"]`.
const OUTLINKS: &str = "outlinks";

/// The link graph of one page, as Common Crawl's WAT files give it: each distinct
/// link once, in document order, with how the page presented it and whether the
/// crawl took it (new to the frontier or already known to it).
fn outlinks(shown: Vec<(String, Option<Box<Anchor>>)>, taken: &[bool]) -> serde_json::Value {
    let list = shown
        .into_iter()
        .enumerate()
        .map(|(i, (url, anchor))| {
            let anchor = anchor.map(|a| *a).unwrap_or_default();
            serde_json::json!({
                "url": url,
                "text": anchor.text,
                "rel": anchor.rel,
                "admitted": taken.get(i).copied().unwrap_or(false),
            })
        })
        .collect();
    serde_json::Value::Array(list)
}
