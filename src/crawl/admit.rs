//! Link admission: which discovered URLs the crawl wants (nofollow, scope, depth,
//! filters, trap guards), then the frontier admits each once. Seeds and redirect
//! targets come in here too. Canonicalisation happened before (in `canon`); the
//! frontier's own rules (visited set, host budget) are applied by the frontier.
//!
//! Page requisites (`--page-requisites`, wget's `-p`) come in here too, by rules of
//! their own: they exist so that an archived page replays, so `skip_extensions`
//! (which is there to skip exactly images, stylesheets and scripts) does not apply
//! to them, nor `max_depth` for their one hop (the deepest pages get theirs too:
//! a requisite is never parsed, so the hop ends there), nor `nofollow` (which is
//! about following links, not rendering). Scope, include/exclude and the trap
//! guards do; robots.txt, politeness, the address guard and the budgets apply
//! later, to every URL alike. An entry keeps its `requisite` mark through the
//! frontier, a redirect and a resume.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use url::Url;

use super::ctx::Ctx;
use super::record::Outcome;
use crate::canon::{self, fingerprint, HostKey};
use crate::extract::Link;
use crate::frontier::{Admission, Entry};
use crate::journal::Ticket;
use crate::stats::{ErrorKind, Refusal};
use crate::traps;

/// Seeds admitted before the workers start. The rest follow in chunks while the
/// workers already fetch, so a list of a million seeds starts fetching at once.
const FIRST_SEEDS: usize = 1_000;
const SEED_CHUNK: usize = 10_000;
/// In one process, the next chunk waits while this many seed hosts wait to start:
/// a host costs memory from its first URL, and the crawl opens a few thousand a
/// second at most. Only seed hosts count, so links to other hosts never hold the
/// seed list back.
const SEED_BACKLOG: usize = 10_000;
/// How long the end of a crawl waits for the chunk of seeds under way.
const SEEDING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Admits the seeds: the user's explicit choice, so no trap rules (they use host
/// budget). On resume they are already seen, unless new ones were added to the
/// command. With `--sitemaps` and robots.txt ignored, nothing will name the seed
/// hosts' sitemaps: each host's /sitemap.xml is tried.
/// A recrawl's seed takes its prior from `priors` (by fingerprint).
///
/// The first [`FIRST_SEEDS`] are in when this returns; the rest are admitted by
/// the returned task, which holds the crawl open meanwhile (see
/// `Frontier::seeding`). A recrawl admits every seed first: the earlier crawl's
/// URLs that follow must not take a seed's place (and its mark) before it.
pub(super) async fn seeds(
    ctx: &Arc<Ctx>,
    seeds: Vec<Url>,
    mut priors: std::collections::HashMap<u64, Box<crate::recrawl::Prior>>,
) -> Seeding {
    if ctx.config.sitemaps.sitemaps && ctx.config.politeness.ignore_robots {
        let mut hosts = std::collections::HashSet::new();
        for s in &seeds {
            if hosts.insert(HostKey::of(s)) {
                super::sitemaps::discover(ctx, s, Vec::new()).await;
            }
        }
    }
    let mut entries: Vec<Entry> = seeds
        .into_iter()
        .map(|s| Entry {
            seed: true,
            prior: priors.remove(&fingerprint(&s)),
            ..Entry::new(s, 0)
        })
        .collect();
    if entries.len() <= FIRST_SEEDS || ctx.since.is_some() {
        all(ctx, entries).await;
        return Seeding::default();
    }
    let rest = entries.split_off(FIRST_SEEDS);
    // A page of an early seed may link to a later one before its chunk is in: the
    // link then enters as that seed (its mark, depth 0), see `push`.
    for e in &rest {
        ctx.seeds_pending.insert(fingerprint(&e.url));
    }
    ctx.frontier.seeding(true).await;
    all(ctx, entries).await;
    let quit = Arc::new(AtomicBool::new(false));
    let (c, q) = (ctx.clone(), quit.clone());
    let inner = tokio::spawn(async move {
        let mut rest = rest.into_iter();
        let mut chunks = 0u64;
        loop {
            let running = || *c.stop.borrow() == super::ctx::Level::Running;
            while running()
                && !q.load(Ordering::Relaxed)
                && c.frontier.seed_hosts_waiting().unwrap_or(0) > SEED_BACKLOG
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            if !running() || q.load(Ordering::Relaxed) {
                break;
            }
            let chunk: Vec<Entry> = rest.by_ref().take(SEED_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let fps: Vec<u64> = chunk.iter().map(|e| fingerprint(&e.url)).collect();
            // Said again each chunk: a shared frontier forgets a process that went
            // silent for a while.
            c.frontier.seeding(true).await;
            all(&c, chunk).await;
            for fp in fps {
                c.seeds_pending.remove(&fp);
            }
            chunks += 1;
            if chunks.is_multiple_of(16) {
                // A set never gives back room by itself.
                c.seeds_pending.shrink_to_fit();
            }
            // Workers' page tasks share the threads: let them run between chunks.
            tokio::task::yield_now().await;
        }
    });
    // The hold is released however the admitting task ends (a panic included).
    let abort = inner.abort_handle();
    let c = ctx.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = inner.await {
            if e.is_panic() {
                tracing::error!("internal error while admitting seeds: the rest are left out");
            }
        }
        c.seeds_pending.clear();
        c.seeds_pending.shrink_to_fit();
        c.frontier.seeding(false).await;
    });
    Seeding {
        task: Some(task),
        abort: Some(abort),
        quit,
    }
}

/// The seeds still being admitted (see [`seeds`]).
#[derive(Default)]
pub(super) struct Seeding {
    task: Option<tokio::task::JoinHandle<()>>,
    abort: Option<tokio::task::AbortHandle>,
    quit: Arc<AtomicBool>,
}

impl Seeding {
    /// Stops admitting (a stop was asked, or the page budget ended the crawl):
    /// returns once the chunk under way is in, or after [`SEEDING_WAIT`] (a Redis
    /// that stopped answering must not hold the exit; leaving the crawl ends this
    /// process's hold there). Seeds not admitted are admitted on resume, as every
    /// seed is.
    pub(super) async fn end(self) {
        self.quit.store(true, Ordering::Relaxed);
        if let Some(mut task) = self.task {
            if tokio::time::timeout(SEEDING_WAIT, &mut task).await.is_err() {
                tracing::warn!("seeding did not end within {SEEDING_WAIT:?}: left undone");
                if let Some(abort) = self.abort {
                    abort.abort();
                }
                task.abort();
            }
        }
    }
}

/// Queues a page's links, one hop deeper, if wanted and not `nofollow` (unless
/// `follow` is false for the whole page). Returns the ticket that makes them
/// durable, and for each link whether the crawl took it (new to the frontier, or
/// known to it already).
pub(super) async fn links(
    ctx: &Ctx,
    entry: &Entry,
    links: Vec<Link>,
    follow: bool,
) -> (Ticket, Vec<bool>) {
    page(ctx, entry, links, follow, Vec::new()).await
}

/// Queues a page's links (as [`links`]) and then its requisites, in one batch:
/// a URL that is both a link and a requisite of the page enters as a link (so it
/// is parsed if it is a page). Says for each link whether the crawl took it.
pub(super) async fn page(
    ctx: &Ctx,
    entry: &Entry,
    links: Vec<Link>,
    follow: bool,
    requisites: Vec<Url>,
) -> (Ticket, Vec<bool>) {
    let mut taken = vec![false; links.len()];
    let (mut wanted, which) = wanted_links(ctx, entry, links, follow);
    wanted.extend(wanted_requisites(ctx, entry, requisites));
    let (ticket, admitted) = push(ctx, wanted, true).await;
    // The links come first in the batch, in `which` order.
    for (i, took) in which.into_iter().zip(admitted) {
        if let Some(t) = taken.get_mut(i) {
            *t = took;
        }
    }
    (ticket, taken)
}

/// A page's requisites that the crawl wants (see the module docs): only with
/// `--page-requisites`, only from a page that is not a requisite itself.
fn wanted_requisites(ctx: &Ctx, entry: &Entry, urls: Vec<Url>) -> Vec<Entry> {
    if !ctx.config.scope.page_requisites || entry.requisite {
        return Vec::new();
    }
    let depth = entry.depth.saturating_add(1);
    let mut wanted = Vec::with_capacity(urls.len());
    for url in urls {
        if let Err(why) = ctx.scope.check_target(&url) {
            ctx.stats.refuse(why);
            continue;
        }
        // No query-hop chain runs through a requisite: it links nowhere.
        if let Err(why) = ctx.traps.check(&url, 0) {
            ctx.stats.refuse(why);
            continue;
        }
        wanted.push(Entry {
            requisite: true,
            ..Entry::new(url, depth)
        });
    }
    wanted
}

/// The links the crawl wants, and the index in `links` of each.
fn wanted_links(
    ctx: &Ctx,
    entry: &Entry,
    links: Vec<Link>,
    follow: bool,
) -> (Vec<Entry>, Vec<usize>) {
    let depth = entry.depth + 1;
    let mut wanted = Vec::with_capacity(links.len());
    let mut which = Vec::with_capacity(links.len());
    for (i, link) in links.into_iter().enumerate() {
        if !follow || (link.nofollow && !ctx.config.scope.follow_nofollow) {
            ctx.stats.refuse(Refusal::Nofollow);
            continue;
        }
        if let Err(why) = ctx.scope.check(&link.url, depth) {
            ctx.stats.refuse(why);
            continue;
        }
        let hops = traps::query_hops(&entry.url, entry.query_hops, &link.url);
        if let Err(why) = ctx.traps.check(&link.url, hops) {
            ctx.stats.refuse(why);
            continue;
        }
        let mut next = Entry::new(link.url, depth);
        next.query_hops = hops;
        wanted.push(next);
        which.push(i);
    }
    (wanted, which)
}

/// Follows a 3xx: the target is a URL like any link (scope, visited set), at the
/// same depth, with the hop counted against `max_redirects`. Problems are the
/// page's outcome (a `redirect` error).
pub(super) async fn redirect(ctx: &Ctx, entry: &Entry, location: &str, outcome: &mut Outcome) {
    let target = match canon::parse(location, Some(&entry.url), ctx.config.canon_rules()) {
        Ok(t) => t,
        Err(e) => {
            return outcome.fail(
                ErrorKind::Redirect,
                format!("bad Location '{location}': {e}"),
            )
        }
    };
    outcome.final_url = Some(target.clone());
    let here = fingerprint(&entry.url);
    let there = fingerprint(&target);
    if there == here || entry.via.contains(&there) {
        return outcome.fail(
            ErrorKind::Redirect,
            format!("redirect loop back to {target}"),
        );
    }
    let max = ctx.config.fetch.max_redirects;
    if entry.via.len() as u32 >= max {
        let why = format!("more than max_redirects ({max}) redirects");
        return outcome.fail(ErrorKind::Redirect, why);
    }
    if let Err(why) = ctx.scope.check_target(&target) {
        // A seed that redirects (http→https, bare→www) extends the scope, as a seed
        // would. Only a seed: a sitemap (also at depth 0) is a URL like any other.
        if entry.seed && why == Refusal::Scope {
            ctx.scope.add_seed(&target);
        } else {
            ctx.stats.refuse(why);
            let why = format!("target {target} is out of scope");
            return outcome.fail(ErrorKind::Redirect, why);
        }
    }
    // A requisite's target is the requisite (a CDN's /logo.png → /v2/logo.png).
    let extension = match entry.requisite && ctx.config.scope.page_requisites {
        true => Ok(()),
        false => ctx.scope.check_extension(&target),
    };
    if let Err(why) = extension {
        ctx.stats.refuse(why);
        let why = format!("target {target} ends in an extension of skip_extensions (not fetched)");
        return outcome.fail(ErrorKind::Redirect, why);
    }
    if let Err(why) = ctx.traps.check(&target, 0) {
        ctx.stats.refuse(why);
        let why = format!("target {target} refused by a trap guard ({why:?})");
        return outcome.fail(ErrorKind::Redirect, why);
    }
    let mut via = entry.via.clone();
    via.push(here);
    // A seed's redirect target stands for the seed (a chain http→https→www).
    let next = Entry {
        via,
        seed: entry.seed,
        requisite: entry.requisite,
        ..Entry::new(target, entry.depth)
    };
    outcome.ticket = push(ctx, vec![next], true).await.0;
}

/// While seeds are still being admitted, a URL that is one of them (a link to it
/// from an earlier seed's page, a redirect) enters as that seed: its mark (scope
/// for its redirects, a fleet's scope) and depth 0, as the seed's own admission
/// would have had it, which then finds it seen.
fn mark_pending_seeds(pending: &dashmap::DashSet<u64>, entries: &mut [Entry]) {
    if pending.is_empty() {
        return;
    }
    for e in entries.iter_mut().filter(|e| !e.seed) {
        if pending.contains(&fingerprint(&e.url)) {
            (e.seed, e.depth) = (true, 0);
        }
    }
}

/// A host's URL budget refused its first URL: say so once per host, since the
/// crawl of that site is now incomplete (only stats.json would tell otherwise).
fn budget_spent(ctx: &Ctx, host: HostKey) {
    if ctx.budget_warned.len() < MAX_BUDGET_WARNINGS && ctx.budget_warned.insert(host.clone()) {
        tracing::warn!(
            host = %host,
            "host reached max_pages_per_host ({}): its further URLs are left out (counted as traps.host_budget)",
            ctx.config.traps.max_pages_per_host
        );
    }
}

/// Hosts named by the budget warning; past this many, the summary's count tells.
const MAX_BUDGET_WARNINGS: usize = 1000;

/// Offers wanted URLs to the frontier, which admits each once and within its
/// host's budget; counts what it refused. Returns the ticket that makes the
/// admitted ones durable.
pub(super) async fn all(ctx: &Ctx, entries: Vec<Entry>) -> Ticket {
    push(ctx, entries, false).await.0
}

/// Pushes `entries`; for each, whether the crawl has it now (new or seen before).
/// `from_page`: they are the links of a page whose task is about to finish it (a
/// shared frontier then leases the task's next URL in the same call).
async fn push(ctx: &Ctx, mut entries: Vec<Entry>, from_page: bool) -> (Ticket, Vec<bool>) {
    if entries.is_empty() {
        return (Ticket::NONE, Vec::new());
    }
    mark_pending_seeds(&ctx.seeds_pending, &mut entries);
    // This task's slot frees once the page is recorded: it counts as room.
    let admitted = match from_page {
        true => {
            let room = ctx.permits.available_permits() + 1;
            ctx.frontier.push_from_page(entries, room).await
        }
        false => ctx.frontier.push_many(entries).await,
    };
    match admitted {
        Ok((admitted, ticket)) => {
            let mut taken = Vec::with_capacity(admitted.len());
            for what in admitted {
                taken.push(!matches!(what, Admission::HostBudget(_)));
                match what {
                    Admission::New => {}
                    Admission::Seen => ctx.stats.refuse(Refusal::Duplicate),
                    Admission::HostBudget(host) => {
                        ctx.stats.refuse(Refusal::HostBudget);
                        budget_spent(ctx, host);
                    }
                }
            }
            (ticket, taken)
        }
        Err(e) => {
            ctx.fail_output(&e.to_string());
            (Ticket::NONE, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_to_a_seed_not_admitted_yet_enters_as_that_seed() {
        let url = |u: &str| Url::parse(u).expect("test URL");
        let pending = dashmap::DashSet::new();
        let mut links = vec![Entry::new(url("http://b.test/"), 3)];
        mark_pending_seeds(&pending, &mut links);
        assert!(!links[0].seed, "no seed pending");
        pending.insert(fingerprint(&url("http://b.test/")));
        links.push(Entry::new(url("http://c.test/"), 2));
        mark_pending_seeds(&pending, &mut links);
        assert!(links[0].seed && links[0].depth == 0, "{:?}", links[0]);
        assert!(!links[1].seed && links[1].depth == 2, "{:?}", links[1]);
    }
}
