//! What the crawl and the dataset take from a page, in one pass over its HTML
//! tokens: the title, the links and whether we may follow them (meta robots), the
//! built-in extras the user switched on (description, canonical, lang, meta tags,
//! JSON-LD, readable text), and, for pages an extraction rule set matches, the
//! rule fields.
//!
//! Links come from `a`, `area` (href) and `frame`, `iframe` (src), resolved against
//! `<base href>` when present (else the page URL) and canonicalised; only http(s)
//! survive, each once per page. `rel="nofollow"` is kept on the link so the crawl
//! decides; `<meta name="robots" content="nofollow|none">` marks the whole page.
//!
//! Why a tokenizer and not a DOM: the link pass and the extras need no tree, and a
//! tree builder's cost grows with nesting depth (50,000 unclosed `<div>`s take
//! minutes), while html5ever's tokenizer is linear in the input whatever its shape,
//! decodes entities as browsers do, and is told when `<script>`, `<style>`,
//! `<title>` and `<textarea>` switch to raw text so that markup inside them is not
//! mistaken for links. CSS selectors do need a tree: when a rule set matches the
//! page, the same token stream is also fed to html5ever's tree builder (a "tee"),
//! so the page is still tokenized once; pages no rule set matches never get a DOM.
//! A page nested deeper than [`MAX_DOM_DEPTH`] gets no DOM either (its record says
//! so in `data_error`): that is where the tree builder's cost turns quadratic.
//!
//! A page that needs nothing but its title, links and meta robots (no extras, no
//! rules: the default) first goes through [`scan`], a byte scanner that follows the
//! same tokenizer states without building tokens; it steps aside for html5ever on
//! anything it cannot decode exactly, and a test compares both on thousands of
//! generated pages. It takes about a quarter off the crawl's CPU per page.
//!
//! With `--page-requisites`, the pass also takes what the page needs to render
//! (images and their `srcset`s, stylesheets, scripts, icons, media, embeds: see
//! `found`), resolved and bounded as links are but kept apart from them, since the
//! crawl admits them by other rules (they pass `skip_extensions`).
//!
//! This module is pure CPU work: no I/O, no frontier, no scope decisions.

mod found;
pub mod rules;
mod scan;
pub mod signals;
mod text;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::Arc;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts, TreeSink};
use html5ever::TokenizerResult;
use scraper::{Html, HtmlTreeSink};
use serde_json::{Map, Value};
use url::Url;

use crate::canon;
use crate::config::{Config, Extra};
pub(crate) use found::is_void;
use found::{adds_depth, Found};
pub use rules::{RuleError, Rules};

/// Title text kept, in characters (a hostile page may make it megabytes).
const MAX_TITLE_CHARS: usize = 2048;
/// Meta description, meta tag values and canonical links kept, in characters each.
const MAX_META_CHARS: usize = 4096;
/// Meta tags kept per page.
const MAX_META_TAGS: usize = 256;
/// JSON-LD text kept per page, in bytes, all blocks together.
const MAX_JSON_LD_BYTES: usize = 1 << 20;
/// Longest refresh delay, in seconds, still read as a redirect (Scrapy's
/// `METAREFRESH_MAXDELAY`); a page that reloads later is a page, not a redirect.
pub const MAX_REFRESH_DELAY: u64 = 100;
/// Deepest element nesting (as counted from the tokens) that still gets a DOM for
/// rules. Browsers cap their trees at 512; this count is rougher, so it has room.
pub const MAX_DOM_DEPTH: u32 = 1024;

/// A link found on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub url: Url,
    pub nofollow: bool,
    /// How the page presents it, kept only for `extras = ["links"]`.
    pub anchor: Option<Box<Anchor>>,
}

/// A link's anchor text and `rel`, as the page wrote them (one line each, capped).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Anchor {
    /// The text inside `<a>...</a>` (an `<area>`'s `alt`); None for frames and
    /// `<link>` elements, which have none.
    pub text: Option<String>,
    pub rel: Option<String>,
}

/// Anchor text kept per link, in characters.
const MAX_ANCHOR_CHARS: usize = 256;
/// A `rel` value kept per link, in characters.
const MAX_REL_CHARS: usize = 128;

/// Everything the crawl needs from one HTML page.
#[derive(Debug, Default)]
pub struct Page {
    pub title: Option<String>,
    /// Distinct canonical http(s) links, in document order.
    pub links: Vec<Link>,
    /// False when meta robots says nofollow (or none).
    pub follow_links: bool,
    /// Meta robots says noindex (or none).
    pub noindex: bool,
    /// The `<link rel="canonical">` target, absolute (resolved against the base).
    pub canonical: Option<String>,
    /// Where a `<meta http-equiv="refresh">` sends the reader, absolute, when it
    /// names a URL and waits at most [`MAX_REFRESH_DELAY`]: the crawl follows it
    /// as a redirect.
    pub refresh: Option<String>,
    /// Record fields from extras and rules, in record order (empty when none are asked).
    pub fields: Map<String, Value>,
    /// Links found beyond `max_links_per_page` (before de-duplication), dropped.
    pub links_cut: usize,
    /// Page requisites (`--page-requisites`): distinct canonical http(s) URLs of
    /// what the page needs to render, in document order, at most
    /// `max_links_per_page`; empty unless asked for.
    pub requisites: Vec<Url>,
    /// Requisite URLs found beyond that cap (or a srcset's), dropped.
    pub requisites_cut: usize,
}

/// Whether a Content-Type names a document we parse for links.
pub fn is_html(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("text/html") || media.eq_ignore_ascii_case("application/xhtml+xml")
}

/// Raw hrefs kept per link of the cap: room for the duplicates and relative
/// spellings a page repeats, while a page of a million links stays bounded.
const HREFS_PER_LINK: usize = 4;

/// An href that names a link at all (not empty, not a fragment of this page).
fn wanted(href: &str) -> bool {
    let href = href.trim();
    !href.is_empty() && !href.starts_with('#')
}

/// Collapses runs of whitespace and trims: titles are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max) {
        s.truncate(cut);
    }
    s
}

/// What the user asked to take from pages, compiled once for the whole crawl.
#[derive(Debug)]
pub struct Extractor {
    canon: canon::Rules,
    extras: Vec<Extra>,
    max_text_chars: usize,
    /// Most links taken from one page (0 = no limit): a page of 600,000 links
    /// would otherwise cost hundreds of MB at once.
    max_links: usize,
    /// Our product token, for `<meta name="trawl">`.
    agent: String,
    rules: Rules,
    /// Take page requisites too (`--page-requisites`).
    requisites: bool,
}

impl Extractor {
    /// Compiles the config's rule sets: a bad selector or regex is an error here,
    /// at start-up, naming its rule and field.
    pub fn new(config: &Config) -> Result<Extractor, RuleError> {
        Ok(Extractor {
            canon: config.canon_rules(),
            extras: config.extras_enabled(),
            max_text_chars: config.extract.max_text_chars,
            max_links: config.traps.max_links_per_page,
            agent: config.robots_agent(),
            rules: Rules::compile(&config.extract.rules)?,
            requisites: config.scope.page_requisites,
        })
    }

    /// Only the link pass: what `trawl bench` and tests of the core use.
    pub fn links_only(canon: canon::Rules) -> Arc<Extractor> {
        Arc::new(Extractor {
            canon,
            extras: Vec::new(),
            max_text_chars: 0,
            max_links: 0,
            agent: "trawl".into(),
            rules: Rules::default(),
            requisites: false,
        })
    }

    /// Raw hrefs either pass keeps from one page (0 = all).
    fn max_hrefs(&self) -> usize {
        self.max_links.saturating_mul(HREFS_PER_LINK)
    }

    fn wants(&self, e: Extra) -> bool {
        self.extras.contains(&e)
    }

    /// The extra record fields of a URL that was not parsed (an error, a non-HTML
    /// body): every field the user asked for is present, as null, so that each
    /// line of a dataset has the same keys.
    pub fn empty_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        for e in &self.extras {
            fields.insert(e.field().to_string(), Value::Null);
        }
        if !self.rules.is_empty() {
            fields.insert("rule".into(), Value::Null);
            fields.insert("data".into(), Value::Null);
        }
        fields
    }

    /// Tokenizes `html` (already decoded) once and takes everything asked for.
    pub fn page(&self, html: &str, page_url: &Url) -> Page {
        self.page_with(html, page_url, true)
    }

    /// `fast`: a page that needs only title, links and meta robots (no extras, no
    /// rules) goes through the byte scanner when it can take it (see `scan`).
    fn page_with(&self, html: &str, page_url: &Url, fast: bool) -> Page {
        // The scanner takes links only: requisites need the token pass.
        let scanned = (fast && self.extras.is_empty() && self.rules.is_empty() && !self.requisites)
            .then(|| scan::scan_capped(html, self.max_hrefs(), &self.agent))
            .flatten();
        let (found, dom, too_deep, set) = match scanned {
            Some(s) => {
                let found = Found {
                    title: s.title,
                    base: s.base,
                    hrefs: s.hrefs,
                    hrefs_cut: s.hrefs_cut,
                    robots: s.robots,
                    canonical: s.canonical,
                    refresh: s.refresh,
                    ..Found::default()
                };
                (found, None, false, None)
            }
            None => self.tokenize(html, page_url),
        };
        self.assemble(found, dom, too_deep, set, page_url)
    }

    /// The token pass (and the DOM, when a rule set matches the page).
    fn tokenize(
        &self,
        html: &str,
        page_url: &Url,
    ) -> (Found, Option<Html>, bool, Option<&rules::Set>) {
        let set = self.rules.matching(page_url.as_str());
        let tree = set.map(|_| {
            TreeBuilder::new(
                HtmlTreeSink::new(Html::new_document()),
                TreeBuilderOpts {
                    // <noscript> is markup to us, as it is to the link pass.
                    scripting_enabled: false,
                    ..TreeBuilderOpts::default()
                },
            )
        });
        let found = Found {
            text: self
                .wants(Extra::Text)
                .then(|| text::Readable::new(self.max_text_chars)),
            keep_meta: self.wants(Extra::Meta),
            keep_json_ld: self.wants(Extra::JsonLd),
            keep_anchors: self.wants(Extra::Links),
            max_hrefs: self.max_hrefs(),
            agent: self.agent.clone(),
            keep_requisites: self.requisites,
            ..Found::default()
        };
        let tokenizer = Tokenizer::new(
            Tee {
                found: RefCell::new(found),
                tree,
                depth: Cell::new(0),
                too_deep: Cell::new(false),
                merged: Cell::new(0),
            },
            TokenizerOpts::default(),
        );
        let input = BufferQueue::default();
        // html5ever compares each attribute with every earlier one of its tag.
        input.push_back(StrTendril::from_slice(&scan::cap_attributes(html)));
        // The tokenizer pauses to let scripts run and to report `<meta charset>`
        // (the page is decoded already): carry on until the input is used up.
        while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
        tokenizer.end();
        let tee = tokenizer.sink;
        let too_deep = tee.too_deep.get();
        let dom = tee.tree.map(|tb| tb.sink.0.into_inner());
        let found = tee.found.into_inner();
        (found, dom, too_deep, set)
    }

    /// The page from what a pass found.
    /// The page's links, resolved against its base, canonical and each once, up to
    /// `max_links`; and how many candidates were left over past that.
    fn links(&self, found: &Found, base: &Url) -> (Vec<Link>, usize) {
        let mut seen = HashSet::new();
        let mut links = Vec::new();
        for (i, (href, nofollow)) in found.hrefs.iter().enumerate() {
            if !wanted(href) {
                continue;
            }
            let href = href.trim();
            if self.max_links > 0 && links.len() >= self.max_links {
                let rest = found.hrefs[i..].iter().filter(|(h, _)| wanted(h)).count();
                return (links, rest + found.hrefs_cut);
            }
            if let Ok(url) = canon::parse(href, Some(base), self.canon) {
                if seen.insert(canon::fingerprint(&url)) {
                    links.push(Link {
                        url,
                        nofollow: *nofollow,
                        // The first time the page names a URL is how it presents it.
                        anchor: found.anchors.get(i).map(|a| Box::new(a.finished())),
                    });
                }
            }
        }
        (links, found.hrefs_cut)
    }

    /// The page's requisites, resolved against its base, canonical and each once,
    /// up to `max_links`; and how many were left over past that.
    fn requisites(&self, found: &Found, base: &Url) -> (Vec<Url>, usize) {
        let mut seen = HashSet::new();
        let mut urls = Vec::new();
        for (i, raw) in found.requisites.iter().enumerate() {
            if self.max_links > 0 && urls.len() >= self.max_links {
                return (urls, found.requisites.len() - i + found.requisites_cut);
            }
            if let Ok(url) = canon::parse(raw.trim(), Some(base), self.canon) {
                if seen.insert(canon::fingerprint(&url)) {
                    urls.push(url);
                }
            }
        }
        (urls, found.requisites_cut)
    }

    fn assemble(
        &self,
        found: Found,
        dom: Option<Html>,
        too_deep: bool,
        set: Option<&rules::Set>,
        page_url: &Url,
    ) -> Page {
        let base = found
            .base
            .as_deref()
            .and_then(|h| page_url.join(h.trim()).ok());
        let base = base.as_ref().unwrap_or(page_url);
        let (links, links_cut) = self.links(&found, base);
        let (requisites, requisites_cut) = self.requisites(&found, base);
        let mut fields = Map::new();
        for e in &self.extras {
            let value = extra(*e, &found, base);
            fields.insert(e.field().to_string(), value.unwrap_or(Value::Null));
        }
        if !self.rules.is_empty() {
            let (rule, data) = match (set, dom) {
                (Some(set), Some(dom)) if !too_deep => (
                    Value::String(set.name().to_string()),
                    Value::Object(set.apply(&dom, base)),
                ),
                (Some(set), _) => {
                    fields.insert(
                        "data_error".into(),
                        Value::String(format!(
                            "page nested deeper than {MAX_DOM_DEPTH} elements; rules not applied"
                        )),
                    );
                    (Value::String(set.name().to_string()), Value::Null)
                }
                (None, _) => (Value::Null, Value::Null),
            };
            fields.insert("rule".into(), rule);
            fields.insert("data".into(), data);
        }

        let title = one_line(&found.title);
        let refresh = found
            .refresh
            .as_deref()
            .and_then(signals::refresh)
            .filter(|r| r.delay <= MAX_REFRESH_DELAY)
            .and_then(|r| r.url)
            .and_then(|u| base.join(u).ok())
            // `javascript:` or `mailto:` leads nowhere a crawler goes: no redirect.
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(String::from);
        Page {
            title: (!title.is_empty()).then(|| truncate_chars(title, MAX_TITLE_CHARS)),
            links,
            follow_links: !found.robots.nofollow,
            noindex: found.robots.noindex,
            canonical: canonical(&found, base),
            refresh,
            fields,
            links_cut,
            requisites,
            requisites_cut,
        }
    }
}

/// The page's canonical URL, absolute.
fn canonical(found: &Found, base: &Url) -> Option<String> {
    found
        .canonical
        .as_deref()
        .and_then(|h| base.join(h.trim()).ok())
        .map(String::from)
}

/// The value of one built-in extra, if the page has it.
fn extra(e: Extra, found: &Found, base: &Url) -> Option<Value> {
    match e {
        Extra::Description => found.description.clone().map(Value::String),
        // Every record has `canonical` now; the extra is kept for old configs.
        Extra::Canonical => canonical(found, base).map(Value::String),
        Extra::Lang => found.lang.clone().map(Value::String),
        Extra::Meta => Some(Value::Object(found.meta.clone())),
        Extra::JsonLd => Some(Value::Array(
            found
                .json_ld
                .iter()
                // A broken block is skipped: one bad script must not cost the page.
                .filter_map(|block| serde_json::from_str::<Value>(block).ok())
                .collect(),
        )),
        // Filled by the crawl, which knows which links it admitted.
        Extra::Links => None,
        Extra::Text => found
            .text
            .as_ref()
            .and_then(|t| t.result())
            .map(Value::String),
        Extra::All => None,
    }
}

/// Tokenizes `html` and takes the title, links and meta robots only.
pub fn extract(html: &str, page_url: &Url, rules: canon::Rules) -> Page {
    Extractor::links_only(rules).page(html, page_url)
}

/// A node of scraper's tree.
type Node = <HtmlTreeSink as TreeSink>::Handle;

/// The token sink: every token goes to the collector, and, when a rule set needs
/// a DOM, on to the tree builder too. The tree builder knows the HTML insertion
/// modes, so while it is fed it decides the tokenizer's raw-text switches.
struct Tee {
    found: RefCell<Found>,
    tree: Option<TreeBuilder<Node, HtmlTreeSink>>,
    /// Open elements, roughly (see [`adds_depth`]).
    depth: Cell<u32>,
    /// The page went deeper than [`MAX_DOM_DEPTH`]: the tree builder is no longer fed.
    too_deep: Cell<bool>,
    /// Attributes of `<html>` and `<body>` start tags fed to the tree builder.
    merged: Cell<usize>,
}

impl Tee {
    fn feeds_tree(&self, token: &Token) -> bool {
        if self.tree.is_none() || self.too_deep.get() {
            return false;
        }
        if let Token::TagToken(tag) = token {
            if adds_depth(&tag.name) {
                let d = self.depth.get();
                match tag.kind {
                    TagKind::StartTag if !tag.self_closing => self.depth.set(d + 1),
                    TagKind::EndTag => self.depth.set(d.saturating_sub(1)),
                    _ => {}
                }
                if self.depth.get() > MAX_DOM_DEPTH {
                    self.too_deep.set(true);
                    return false;
                }
            }
        }
        true
    }
}

impl Tee {
    /// Every later `<html>` or `<body>` start tag adds its new attributes to the
    /// first one's element, and scraper inserts each into a sorted list: a page of
    /// such tags, each under the per-tag cap, would still cost time quadratic in
    /// the page. Past [`scan::MAX_ATTRS`] in all, their attributes are dropped.
    fn bound_merges(&self, mut token: Token) -> Token {
        if let Token::TagToken(tag) = &mut token {
            if tag.kind == TagKind::StartTag && matches!(&*tag.name, "html" | "body") {
                let left = scan::MAX_ATTRS.saturating_sub(self.merged.get());
                tag.attrs.truncate(left);
                self.merged.set(self.merged.get() + tag.attrs.len());
            }
        }
        token
    }
}

impl TokenSink for Tee {
    type Handle = Node;

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<Self::Handle> {
        let own = self.found.borrow_mut().see(&token);
        match &self.tree {
            Some(tree) if self.feeds_tree(&token) => {
                tree.process_token(self.bound_merges(token), line)
            }
            _ => match own {
                TokenSinkResult::RawData(kind) => TokenSinkResult::RawData(kind),
                TokenSinkResult::Plaintext => TokenSinkResult::Plaintext,
                _ => TokenSinkResult::Continue,
            },
        }
    }

    fn end(&self) {
        if let Some(tree) = &self.tree {
            if !self.too_deep.get() {
                tree.end();
            }
        }
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        match &self.tree {
            Some(tree) if !self.too_deep.get() => {
                tree.adjusted_current_node_present_but_not_in_html_namespace()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Page {
        extract(
            html,
            &Url::parse("http://e.com/dir/page.html").unwrap(),
            canon::Rules::default(),
        )
    }

    fn urls(p: &Page) -> Vec<&str> {
        p.links.iter().map(|l| l.url.as_str()).collect()
    }

    #[test]
    fn links_are_resolved_canonical_and_distinct() {
        let p = page(
            r##"<html><head><title>  Hello
            World </title></head><body>
            <a href="a.html">1</a> <a href="/b?y=2&x=1#frag">2</a> <a href="/b?x=1&y=2">dup</a>
            <a href="mailto:x@e.com">m</a> <a href="javascript:void(0)">j</a> <a href="#top">t</a>
            <a href="../up.html">3</a> <a href="https://other.org/">4</a> <a>no href</a>
            <area href="/area"> <iframe src="/frame"></iframe>
            </body></html>"##,
        );
        assert_eq!(p.title.as_deref(), Some("Hello World"));
        assert_eq!(
            urls(&p),
            [
                "http://e.com/dir/a.html",
                "http://e.com/b?x=1&y=2",
                "http://e.com/up.html",
                "https://other.org/",
                "http://e.com/area",
                "http://e.com/frame"
            ]
        );
        assert!(p.follow_links);
    }

    #[test]
    fn base_href_nofollow_and_meta_robots() {
        let p = page(
            r#"<head><base href="http://cdn.e.com/root/"><meta name="ROBOTS" content="noindex, NOFOLLOW"></head>
            <a href="x" rel="external nofollow">x</a><a href="y">y</a>"#,
        );
        assert_eq!(
            urls(&p),
            ["http://cdn.e.com/root/x", "http://cdn.e.com/root/y"]
        );
        assert!(p.links[0].nofollow && !p.links[1].nofollow);
        assert!(!p.follow_links);
    }

    #[test]
    fn markup_inside_scripts_styles_and_titles_is_not_a_link() {
        let p = page(
            r#"<title>a &amp; <b>b</b></title><script>var s = "<a href='/no1'>";</script>
            <style>/* <a href="/no2"> */</style><textarea><a href="/no3"></textarea>
            <a href="/yes?a=1&amp;b=2">y</a><noscript><a href="/ns">n</a></noscript>"#,
        );
        assert_eq!(p.title.as_deref(), Some("a & <b>b</b>"));
        assert_eq!(urls(&p), ["http://e.com/yes?a=1&b=2", "http://e.com/ns"]);
    }

    #[test]
    fn malformed_html_still_yields_links() {
        let p = page("<p><div><a href=/one>one<table><a href='/two'>two</b></i>\0<a href=/three");
        assert_eq!(urls(&p), ["http://e.com/one", "http://e.com/two"]);
        assert_eq!(page("").title, None);
    }

    #[test]
    fn deep_nesting_and_huge_lines_stay_bounded() {
        let depth = 50_000;
        let html = format!(
            "<title>deep</title>{}<a href=/inner>x</a>{}<a href=/after>y</a>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let t = std::time::Instant::now();
        let p = page(&html);
        assert_eq!(urls(&p), ["http://e.com/inner", "http://e.com/after"]);
        let line = format!("<p>{}<a href=/end>e</a>", "word ".repeat(1_000_000));
        let p = page(&line);
        assert_eq!(urls(&p), ["http://e.com/end"]);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn content_types() {
        assert!(is_html(Some("text/html; charset=utf-8")));
        assert!(is_html(Some("Application/XHTML+XML")));
        assert!(!is_html(Some("application/json")));
        assert!(!is_html(None));
    }

    fn extractor(toml: &str) -> Extractor {
        let config = Config::from_toml(toml, std::path::Path::new("t.toml")).unwrap();
        config.validate().unwrap();
        Extractor::new(&config).unwrap()
    }

    const PRODUCT: &str = r##"<!doctype html><html lang="en-GB"><head>
        <title>Widget</title>
        <meta name="description" content="  A fine
            widget ">
        <meta property="og:title" content="Widget!">
        <meta property="og:image" content="/a.png"><meta property="og:image" content="/b.png">
        <link rel="canonical" href="/product/widget">
        <script type="application/ld+json">{"@type": "Product", "name": "Widget"}</script>
        <script type="application/ld+json">{broken</script>
        </head><body>
        <header><a href="/">Home</a> Site banner</header>
        <nav><a href="/cat">Category</a></nav>
        <main><h1 class="name">Widget   Pro</h1>
          <p class="price">Price: $1,299.99</p>
          <p class="stock">In stock: 17 units</p>
          <ul class="tags"><li>red</li><li>blue</li><li></li></ul>
          <div class="desc"><b>Bold</b> claim</div>
          <a class="more" href="../other?id=2">More</a>
          <img class="pic" src="img/w.jpg">
          <script>var hidden = "no";</script>
          <div hidden>secret</div>
        </main>
        <footer>Copyright</footer>
        </body></html>"##;

    #[test]
    fn rules_take_every_kind_of_field() {
        let x = extractor(
            r#"
            [[rules]]
            name = "product"
            pattern = "/product/"
            [rules.fields]
            name = { selector = "h1.name" }
            price = { selector = ".price", type = "number" }
            price_int = { selector = ".price", regex = 'Price: (.*)', type = "integer" }
            stock = { selector = ".stock", regex = '(\d+) units', type = "integer" }
            tags = { selector = ".tags li", all = true }
            desc_html = { selector = ".desc", take = "html" }
            more = { selector = "a.more", attr = "href", type = "url" }
            pic = { selector = "img.pic", take = "attr", attr = "src", type = "url" }
            missing = { selector = ".nope" }
            missing_all = { selector = ".nope", all = true }
            no_match = { selector = ".stock", regex = 'sold out' }
            "#,
        );
        let url = Url::parse("http://shop.test/product/widget").unwrap();
        let p = x.page(PRODUCT, &url);
        assert_eq!(p.fields["rule"], "product");
        let data = &p.fields["data"];
        assert_eq!(data["name"], "Widget Pro");
        assert_eq!(data["price"], 1299.99);
        assert_eq!(data["price_int"], 1299);
        assert_eq!(data["stock"], 17);
        assert_eq!(data["tags"], serde_json::json!(["red", "blue", ""]));
        assert_eq!(data["desc_html"], "<b>Bold</b> claim");
        assert_eq!(data["more"], "http://shop.test/other?id=2");
        assert_eq!(data["pic"], "http://shop.test/product/img/w.jpg");
        assert_eq!(data["missing"], Value::Null);
        assert_eq!(data["missing_all"], serde_json::json!([]));
        assert_eq!(data["no_match"], Value::Null);
        // The DOM pass does not change what the link pass finds.
        let plain = extract(PRODUCT, &url, canon::Rules::default());
        assert_eq!(p.links, plain.links);
        assert_eq!(p.title, plain.title);
        // Three <a> links and the canonical one.
        assert_eq!(p.links.len(), 4);
        // A page no rule set matches gets nulls and no DOM.
        let other = x.page(PRODUCT, &Url::parse("http://shop.test/about").unwrap());
        assert_eq!(other.fields["rule"], Value::Null);
        assert_eq!(other.fields["data"], Value::Null);
        assert_eq!(x.empty_fields().len(), 2);
    }

    #[test]
    fn the_first_matching_rule_set_wins() {
        let x = extractor(
            r#"
            [[rules]]
            name = "special"
            pattern = "/product/widget$"
            fields = { t = { selector = "title" } }
            [[rules]]
            name = "product"
            pattern = "/product/"
            fields = { t = { selector = "h1" } }
            "#,
        );
        let p = x.page(
            PRODUCT,
            &Url::parse("http://s.test/product/widget").unwrap(),
        );
        assert_eq!(
            (&p.fields["rule"], &p.fields["data"]["t"]),
            (&Value::from("special"), &Value::from("Widget"))
        );
        let p = x.page(
            PRODUCT,
            &Url::parse("http://s.test/product/gadget").unwrap(),
        );
        assert_eq!(p.fields["rule"], "product");
    }

    #[test]
    fn bad_rules_are_errors_naming_rule_and_field() {
        let cases = [
            (
                r#"p = { selector = "div[[" }"#,
                "rule 'r' field 'p': selector 'div[['",
            ),
            (
                r#"p = { selector = "div", regex = "(" }"#,
                "rule 'r' field 'p': regex '('",
            ),
            (r#"p = { selector = "a", take = "attr" }"#, "needs attr"),
            (
                r#"p = { selector = "a", take = "html", attr = "x" }"#,
                "drop one",
            ),
        ];
        for (field, want) in cases {
            let toml =
                format!("[[rules]]\nname = \"r\"\npattern = \"x\"\n[rules.fields]\n{field}\n");
            let config = Config::from_toml(&toml, std::path::Path::new("t.toml")).unwrap();
            let e = Extractor::new(&config).unwrap_err().to_string();
            assert!(e.contains(want), "{e} (wanted {want})");
            assert!(!e.contains('\n'));
        }
        let toml =
            "[[rules]]\nname = \"r\"\npattern = \"(\"\nfields = { a = { selector = \"a\" } }\n";
        let config = Config::from_toml(toml, std::path::Path::new("t.toml")).unwrap();
        let e = Extractor::new(&config).unwrap_err().to_string();
        assert!(e.contains("rule 'r' field 'pattern'"), "{e}");
        // An unknown key in a field is caught by the config parser, with its line.
        let e = Config::from_toml(
            "[[rules]]\nname = \"r\"\npattern = \"x\"\n[rules.fields]\na = { selectr = \"a\" }\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 5") && e.contains("selectr"), "{e}");
    }

    #[test]
    fn extras_description_canonical_lang_meta_json_ld() {
        let x = extractor(r#"extras = ["description", "canonical", "lang", "meta", "json_ld"]"#);
        let p = x.page(
            PRODUCT,
            &Url::parse("http://shop.test/product/widget?x=1").unwrap(),
        );
        let f = &p.fields;
        let keys: Vec<&str> = f.keys().map(String::as_str).collect();
        // `canonical` is a field of every record now: the extra adds no key.
        assert_eq!(keys, ["description", "json_ld", "lang", "meta"]);
        assert_eq!(
            p.canonical.as_deref(),
            Some("http://shop.test/product/widget")
        );
        assert_eq!(f["description"], "A fine widget");
        assert_eq!(f["lang"], "en-GB");
        assert_eq!(f["meta"]["og:title"], "Widget!");
        assert_eq!(
            f["meta"]["og:image"],
            serde_json::json!(["/a.png", "/b.png"])
        );
        assert_eq!(f["meta"]["description"], "A fine widget");
        assert_eq!(
            f["json_ld"],
            serde_json::json!([{"@type": "Product", "name": "Widget"}])
        );
        assert!(!f.contains_key("text"));
        // Absent things are null, not missing.
        let p = x.page("<p>bare", &Url::parse("http://e.com/").unwrap());
        assert_eq!(p.fields["description"], Value::Null);
        assert_eq!(p.fields["lang"], Value::Null);
        assert_eq!(p.fields["json_ld"], serde_json::json!([]));
        let lang = x.page(
            r#"<meta http-equiv="Content-Language" content="de">"#,
            &Url::parse("http://e.com/").unwrap(),
        );
        assert_eq!(lang.fields["lang"], "de");
    }

    #[test]
    fn rule_text_reads_as_a_browser_shows_it() {
        let x = extractor(
            "[[rules]]\nname = \"r\"\npattern = \"\"\n[rules.fields]\n\
             price = { selector = \"#price\" }\nname = { selector = \"h1\" }\n\
             blocks = { selector = \"#blocks\" }\nscript = { selector = \"#data\" }\n",
        );
        let html = r#"<div id="price">$<span>205<span>.</span></span><span>58</span></div>
            <h1>Hooli<sup>&reg;</sup> Toaster</h1>
            <div id="blocks"><p>one</p><p>two</p>three<br>four<li>five</li><b>six</b>seven
              <script>var hidden = 1;</script><style>p {}</style>eight<aside>nine</aside><nav>ten</nav><form><select><option>S</option><option>M</option></select></form><noscript>Enable JS</noscript><span hidden>HIDDEN</span>eleven</div>
            <script id="data">{"a": 1}</script>"#;
        let p = x.page(html, &Url::parse("http://e.com/").unwrap());
        let data = &p.fields["data"];
        assert_eq!(data["price"], "$205.58");
        assert_eq!(data["name"], "Hooli® Toaster");
        assert_eq!(
            data["blocks"],
            "one two three four five sixseven eight nine ten S M eleven"
        );
        assert_eq!(data["script"], r#"{"a": 1}"#);
    }

    #[test]
    fn role_main_ends_where_its_element_ends() {
        let x = extractor("extras = [\"text\"]");
        let html = r#"<body><div role="main"><div><p>The story, long enough to be
            the main text of this page by far.</p></div><div>More of it.</div></div>
            <footer><p>Footer links</p></footer><div>After the main div</div></body>"#;
        let p = x.page(html, &Url::parse("http://e.com/").unwrap());
        let text = p.fields["text"].as_str().unwrap();
        assert_eq!(
            text,
            "The story, long enough to be the main text of this page by far.\nMore of it."
        );
    }

    #[test]
    fn readable_text_keeps_the_main_content_only() {
        let x = extractor(r#"extras = ["text"]"#);
        let p = x.page(PRODUCT, &Url::parse("http://shop.test/p").unwrap());
        assert_eq!(
            p.fields["text"],
            "Widget Pro\nPrice: $1,299.99\nIn stock: 17 units\nred\nblue\nBold claim\nMore"
        );
        // Without <main>, the body minus boilerplate; an article's own header stays.
        let html = r#"<body><div role="navigation">Menu <div>Sub</div> more menu</div>
            <header>Banner</header><article><header><h1>Title</h1></header><p>One
            two</p></article><aside>Ads</aside><p>Outside</p><style>p{}</style>
            <div aria-hidden="true">x</div><footer>Foot</footer>"#;
        let p = x.page(html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(p.fields["text"], "Title\nOne two");
        let html = r#"<div role="navigation">Menu <div>Sub</div> more</div><p>Body
            text<br>next line</p><script>x</script><footer>Foot</footer>"#;
        let p = x.page(html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(p.fields["text"], "Body text\nnext line");
        // A small teaser <article> is not the page's main content.
        let html = r#"<aside><article class="teaser">Sidebar teaser.</article></aside>
            <article class="card">Related: another story</article>
            <div class="content"><h1>The story</h1><p>A long first paragraph of the real
            story, much longer than any teaser on the page.</p><p>And a second one, also
            long enough to count.</p></div>"#;
        let p = x.page(html, &Url::parse("http://e.com/").unwrap());
        let text = p.fields["text"].as_str().unwrap();
        assert!(
            text.starts_with("Related: another story\nThe story\nA long first"),
            "{text}"
        );
        let short = extractor("extras = [\"text\"]\nmax_text_chars = 5");
        let p = short.page("<p>éééééééé</p>", &Url::parse("http://e.com/").unwrap());
        assert_eq!(p.fields["text"], "ééééé");
        let p = x.page(
            "<script>only</script>",
            &Url::parse("http://e.com/").unwrap(),
        );
        assert_eq!(p.fields["text"], Value::Null);
    }

    #[test]
    fn all_extras_and_rules_keep_record_order() {
        let x = extractor(
            "extras = [\"all\"]\n[[rules]]\nname = \"r\"\npattern = \"\"\nfields = { h = { selector = \"h1\" } }\n",
        );
        let keys: Vec<String> = x.empty_fields().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "data",
                "description",
                "json_ld",
                "lang",
                "meta",
                "rule",
                "text"
            ]
        );
    }

    #[test]
    fn a_page_too_deep_for_a_dom_is_still_linked_and_says_why() {
        let x = extractor(
            "[[rules]]\nname = \"r\"\npattern = \"\"\nfields = { h = { selector = \"h1\" } }\n",
        );
        let depth = 50_000;
        let html = format!(
            "<h1>top</h1>{}<a href=/inner>x</a>{}<a href=/after>y</a>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let t = std::time::Instant::now();
        let p = x.page(&html, &Url::parse("http://e.com/").unwrap());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(urls(&p), ["http://e.com/inner", "http://e.com/after"]);
        assert_eq!(p.fields["data"], Value::Null);
        assert!(p.fields["data_error"]
            .as_str()
            .unwrap()
            .contains("nested deeper"));
        // Just under the limit, rules run.
        let html = format!(
            "{}<h1>deep</h1>",
            "<div>".repeat(MAX_DOM_DEPTH as usize - 10)
        );
        let p = x.page(&html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(p.fields["data"]["h"], "deep");
    }

    #[test]
    fn a_meta_charset_does_not_stop_the_dom_pass() {
        let x = extractor(
            "[[rules]]\nname = \"r\"\npattern = \"\"\nfields = { h = { selector = \"h1\" } }\n",
        );
        let html = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>T</title>
            <meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>
            <body><h1>Heading</h1><a href="/next">n</a></body></html>"#;
        let p = x.page(html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(p.title.as_deref(), Some("T"));
        assert_eq!(urls(&p), ["http://e.com/next"]);
        assert_eq!(p.fields["data"]["h"], "Heading");
    }

    #[test]
    fn noscript_and_raw_text_behave_the_same_with_a_dom() {
        let x = extractor(
            "[[rules]]\nname = \"r\"\npattern = \"\"\nfields = { n = { selector = \"noscript a\", attr = \"href\" } }\n",
        );
        let html = r#"<title>a <b>t</b></title><script>"<a href='/no1'>"</script>
            <textarea><a href="/no3"></textarea><noscript><a href="/ns">n</a></noscript>
            <svg><a href="/svg">s</a></svg><a href="/yes">y</a>"#;
        let url = Url::parse("http://e.com/").unwrap();
        let with_dom = x.page(html, &url);
        let without = extract(html, &url, canon::Rules::default());
        assert_eq!(with_dom.links, without.links);
        assert_eq!(
            urls(&without),
            ["http://e.com/ns", "http://e.com/svg", "http://e.com/yes"]
        );
        assert_eq!(with_dom.fields["data"]["n"], "/ns");
    }
}
