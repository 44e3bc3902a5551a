//! Rendering in the crawl (`--render`): which fetched pages are rendered, and what
//! a render gives the record. The page was fetched and parsed as usual first (so
//! scope, robots, traps and politeness were applied to it, and a failed render
//! still leaves its plain links); when its host's mode says so, the browser renders
//! it from that very body and the rendered DOM is parsed in place of the plain one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::BoxFuture;
use url::Url;

use super::content;
use super::ctx::Ctx;
use crate::canon::{self, fingerprint, HostKey};
use crate::config::RenderMode;
use crate::extract::{Link, Page};
use crate::fetch::Response;
use crate::frontier::{Entry, HostLimits};
use crate::render::signal::{self, Reason};
use crate::render::{Job, RenderError, Rendered};

/// A page's host's render mode: the first `[[hosts]]` table's that says one, else
/// the crawl's.
fn mode_for(ctx: &Ctx, url: &Url) -> RenderMode {
    url.host_str()
        .and_then(|h| crate::config::hosts::rule_for(&ctx.config.fetch.hosts, h))
        .and_then(|r| r.render)
        .unwrap_or(ctx.config.render.render)
}

/// Whether this page is rendered, and why.
pub(super) fn reason(ctx: &Ctx, entry: &Entry, resp: &Response, plain: &Page) -> Option<Reason> {
    ctx.renderer.as_ref()?;
    match mode_for(ctx, &entry.url) {
        RenderMode::Never => None,
        RenderMode::Always => Some(Reason::Always),
        RenderMode::Auto => signal::script_built(&resp.body, plain.links.len()),
    }
}

/// Renders the page from the body trawl fetched.
pub(super) async fn render(
    ctx: &Ctx,
    entry: &Entry,
    resp: &Response,
) -> Result<Rendered, RenderError> {
    let renderer = ctx
        .renderer
        .as_ref()
        .ok_or_else(|| RenderError::Browser("rendering is off".into()))?;
    let limits = HostLimits::from_rules(&ctx.config.fetch.hosts);
    let politeness = &ctx.config.politeness;
    let interval = |url: &Url| -> Option<Duration> {
        let key = HostKey::of(url);
        ctx.frontier.host_interval(&key).or_else(|| {
            limits
                .resolve(
                    &key,
                    politeness.per_host_concurrency,
                    politeness.per_host_rate,
                )
                .1
        })
    };
    let ignore_robots = |url: &Url| {
        url.host_str()
            .and_then(|h| crate::config::hosts::rule_for(&ctx.config.fetch.hosts, h))
            .and_then(|r| r.robots)
            .map_or(ctx.config.politeness.ignore_robots, |m| {
                m == crate::config::RobotsMode::Ignore
            })
    };
    // The page's own requests obey robots.txt as its pages do (as Google's
    // renderer does): a script or API the site disallows is not fetched. A host
    // whose robots.txt cannot be fetched at all (refused by the address guard, or
    // down) is left to the request itself, which meets the same fate and is
    // counted for what it is.
    let allowed = |url: Url| -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if ignore_robots(&url) {
                return true;
            }
            !matches!(
                ctx.robots
                    .check_kept(&ctx.fetcher, &url, Some(&ctx.frontier))
                    .await
                    .verdict,
                crate::robots::Verdict::Disallowed | crate::robots::Verdict::Unavailable { .. }
            )
        })
    };
    let job = Job {
        url: &entry.url,
        status: resp.status,
        content_type: resp.content_type.as_deref(),
        body: &resp.body,
        fetcher: &ctx.fetcher,
        interval: &interval,
        allowed: &allowed,
        counts: &ctx.stats.render,
    };
    let out = renderer.render(&job).await;
    // The page's requests to its own host used that host's slots: its next page
    // waits for the last of them, in the frontier (every process of a fleet).
    if let Some(wait) = renderer.host_busy_for(&entry.url) {
        ctx.frontier.hold(&HostKey::of(&entry.url), wait).await;
    }
    match &out {
        Ok(r) => {
            ctx.stats.render.done.fetch_add(1, Ordering::Relaxed);
            if r.waited_out {
                ctx.stats.render.waited_out.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(e) => {
            ctx.stats.render.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(url = %entry.url, "render failed: {e}");
        }
    }
    out
}

/// The rendered DOM parsed as the page, with the URLs the page moved to by
/// script (pushState, a navigation it tried) added as links. The page keeps its
/// own URL for rules and for resolving its links, as its record does.
pub(super) async fn page_of(ctx: &Ctx, entry: &Entry, rendered: &Rendered) -> Page {
    let mut page = content::parse_text(ctx, &entry.url, rendered.html.clone()).await;
    let cap = ctx.config.traps.max_links_per_page;
    let mut known: std::collections::HashSet<u64> =
        page.links.iter().map(|l| fingerprint(&l.url)).collect();
    known.insert(fingerprint(&entry.url));
    let moved = rendered.location.iter().chain(&rendered.pushed);
    for raw in moved {
        let Ok(url) = canon::parse(raw, None, ctx.config.canon_rules()) else {
            continue;
        };
        if cap != 0 && page.links.len() >= cap {
            page.links_cut += 1;
            continue;
        }
        if known.insert(fingerprint(&url)) {
            page.links.push(Link {
                url,
                nofollow: false,
                anchor: None,
            });
        }
    }
    page
}
