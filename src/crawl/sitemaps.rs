//! Sitemaps: which ones to fetch (robots.txt `Sitemap:` lines, else /sitemap.xml;
//! an index's children), how a fetched body is recognised as one, and reading it
//! off the async reactor. The URLs a sitemap lists are admitted like links.

use std::sync::atomic::Ordering;

use url::Url;

use super::ctx::Ctx;
use super::record::Outcome;
use crate::canon::{self, fingerprint, HostKey};
use crate::extract::Link;
use crate::fetch::Response;
use crate::frontier::Entry;
use crate::sitemap;

/// Queues a host's sitemaps: those its robots.txt lists, else /sitemap.xml.
pub(super) async fn discover(ctx: &Ctx, page: &Url, listed: Vec<String>) {
    let urls: Vec<String> = match listed.is_empty() {
        true => page
            .join("/sitemap.xml")
            .map(|u| u.to_string())
            .into_iter()
            .collect(),
        false => listed,
    };
    let mut wanted = Vec::new();
    for raw in urls {
        match canon::parse(&raw, Some(page), ctx.config.canon_rules()) {
            Ok(url) => wanted.extend(entry(ctx, url, 0)),
            Err(e) => tracing::debug!("bad sitemap URL '{raw}': {e}"),
        }
    }
    super::admit::all(ctx, wanted).await;
}

/// Whether a URL is probably a sitemap (named so, or XML): it is fetched with the
/// sitemap size cap.
pub(super) fn named_like_one(url: &Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    path.contains("sitemap") || path.ends_with(".xml") || path.ends_with(".xml.gz")
}

/// Whether a fetched body not named as a sitemap is one all the same.
pub(super) fn sniff(entry: &Entry, resp: &Response) -> bool {
    sitemap::looks_like_sitemap(entry.url.path(), resp.content_type.as_deref(), &resp.body)
}

/// Reads a fetched sitemap and admits what it lists; the response comes back for
/// the archive. A body that is no sitemap after all is recorded as a page.
pub(super) async fn read(
    ctx: &Ctx,
    entry: &Entry,
    resp: Response,
    outcome: &mut Outcome,
) -> Option<Response> {
    let limits = sitemap::Limits {
        max_bytes: ctx.config.sitemaps.max_sitemap_bytes,
        max_urls: ctx.config.sitemaps.max_sitemap_urls,
    };
    // It may be 50 MB of gzip: parsed on the blocking pool.
    let (found, resp) =
        tokio::task::spawn_blocking(move || (sitemap::parse(&resp.body, &limits), Some(resp)))
            .await
            .unwrap_or((Err(sitemap::SitemapError::NotASitemap), None));
    match found {
        Ok(map) => {
            outcome.links = map.locs.len();
            outcome.ticket = admit(ctx, entry, map).await;
        }
        Err(e) => tracing::debug!(url = %entry.url, "not a sitemap after all: {e}"),
    }
    resp
}

/// A sitemap URL as a frontier entry, if in scope and within its host's budget.
fn entry(ctx: &Ctx, url: Url, depth: u32) -> Option<Entry> {
    if let Err(why) = ctx.scope.check_target(&url) {
        ctx.stats.refuse(why);
        return None;
    }
    if !ctx.sitemaps_seen.insert(fingerprint(&url)) {
        return None;
    }
    let mut count = ctx.sitemaps.entry(HostKey::of(&url)).or_insert(0);
    if *count >= ctx.config.sitemaps.max_sitemaps_per_host {
        tracing::debug!(%url, "max_sitemaps_per_host reached; sitemap skipped");
        return None;
    }
    *count += 1;
    Some(Entry::new(url, depth))
}

/// An index's sitemaps are queued like the index (same depth); a URL set's URLs
/// like links found on the sitemap page (scope, trap guards, one hop deeper).
async fn admit(ctx: &Ctx, from: &Entry, map: sitemap::Sitemap) -> crate::journal::Ticket {
    let s = &ctx.stats;
    s.sitemaps.fetch_add(1, Ordering::Relaxed);
    s.sitemap_urls
        .fetch_add(map.locs.len() as u64, Ordering::Relaxed);
    if map.truncated || map.malformed {
        s.sitemaps_cut.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            url = %from.url,
            truncated = map.truncated,
            malformed = map.malformed,
            urls = map.locs.len(),
            "sitemap read in part"
        );
    }
    let rules = ctx.config.canon_rules();
    let urls = map
        .locs
        .iter()
        .filter_map(|loc| canon::parse(loc, Some(&from.url), rules).ok());
    match map.kind {
        sitemap::Kind::Index => {
            let wanted = urls.filter_map(|u| entry(ctx, u, from.depth)).collect();
            super::admit::all(ctx, wanted).await
        }
        sitemap::Kind::UrlSet => {
            let links = urls
                .map(|url| Link {
                    url,
                    nofollow: false,
                    anchor: None,
                })
                .collect();
            super::admit::links(ctx, from, links, true).await.0
        }
    }
}
