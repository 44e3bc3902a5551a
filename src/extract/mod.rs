//! What the crawl takes from a page: its title, its links and whether it lets us
//! follow them (meta robots), in one streaming pass over the HTML tokens.
//!
//! Links come from `a`, `area` (href) and `frame`, `iframe` (src), resolved against
//! `<base href>` when present (else the page URL) and canonicalised; only http(s)
//! survive, each once per page. `rel="nofollow"` is kept on the link so the crawl
//! decides; `<meta name="robots" content="nofollow|none">` marks the whole page.
//!
//! Why a tokenizer and not a DOM: the link pass needs no tree, and a tree builder's
//! cost grows with nesting depth (50,000 unclosed `<div>`s take minutes), while
//! html5ever's tokenizer is linear in the input whatever its shape, decodes entities
//! and character references as browsers do, and is told when `<script>`, `<style>`,
//! `<title>` and `<textarea>` switch to raw text so that markup inside them is not
//! mistaken for links.
//!
//! This module is pure CPU work: no I/O, no frontier, no scope decisions.

use std::cell::RefCell;
use std::collections::HashSet;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

use crate::canon;

/// Title text kept, in characters (a hostile page may make it megabytes).
const MAX_TITLE_CHARS: usize = 2048;

/// A link found on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub url: Url,
    pub nofollow: bool,
}

/// Everything the crawl needs from one HTML page.
#[derive(Debug, Default)]
pub struct Page {
    pub title: Option<String>,
    /// Distinct canonical http(s) links, in document order.
    pub links: Vec<Link>,
    /// False when meta robots says nofollow (or none).
    pub follow_links: bool,
}

/// Whether a Content-Type names a document we parse for links.
pub fn is_html(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("text/html") || media.eq_ignore_ascii_case("application/xhtml+xml")
}

/// Collapses runs of whitespace and trims: titles are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Found {
    title: String,
    /// 0 before the first <title>, 1 inside it, 2 after it.
    title_state: u8,
    base: Option<String>,
    hrefs: Vec<(String, bool)>,
    nofollow_page: bool,
}

struct Sink(RefCell<Found>);

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| &*a.value)
}

impl Sink {
    fn start_tag(&self, tag: &Tag) -> TokenSinkResult<()> {
        let mut f = self.0.borrow_mut();
        match &*tag.name {
            "a" | "area" => {
                if let Some(href) = attr(tag, "href") {
                    let nofollow = attr(tag, "rel").is_some_and(|r| {
                        r.split_ascii_whitespace()
                            .any(|t| t.eq_ignore_ascii_case("nofollow"))
                    });
                    f.hrefs.push((href.to_string(), nofollow));
                }
            }
            "frame" => {
                if let Some(src) = attr(tag, "src") {
                    f.hrefs.push((src.to_string(), false));
                }
            }
            "iframe" => {
                if let Some(src) = attr(tag, "src") {
                    f.hrefs.push((src.to_string(), false));
                }
                return TokenSinkResult::RawData(RawKind::Rawtext);
            }
            "base" if f.base.is_none() => f.base = attr(tag, "href").map(str::to_string),
            "meta" => {
                let robots = attr(tag, "name").is_some_and(|n| n.eq_ignore_ascii_case("robots"));
                if robots {
                    let content = attr(tag, "content").unwrap_or("").to_ascii_lowercase();
                    if content
                        .split([',', ' '])
                        .any(|d| d.trim() == "nofollow" || d.trim() == "none")
                    {
                        f.nofollow_page = true;
                    }
                }
            }
            "title" => {
                if f.title_state == 0 {
                    f.title_state = 1;
                }
                return TokenSinkResult::RawData(RawKind::Rcdata);
            }
            "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
            "style" | "xmp" | "noembed" | "noframes" => {
                return TokenSinkResult::RawData(RawKind::Rawtext)
            }
            "plaintext" => return TokenSinkResult::Plaintext,
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return self.start_tag(&tag),
                TagKind::EndTag => {
                    let mut f = self.0.borrow_mut();
                    if &*tag.name == "title" && f.title_state == 1 {
                        f.title_state = 2;
                    }
                }
            },
            Token::CharacterTokens(text) => {
                let mut f = self.0.borrow_mut();
                if f.title_state == 1 && f.title.len() < MAX_TITLE_CHARS * 4 {
                    f.title.push_str(&text);
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Tokenizes `html` (already decoded) and extracts title, links and meta robots.
pub fn extract(html: &str, page_url: &Url, rules: canon::Rules) -> Page {
    let tokenizer = Tokenizer::new(
        Sink(RefCell::new(Found::default())),
        TokenizerOpts::default(),
    );
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The tokenizer stops early only for scripts, which this sink never asks for.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let found = tokenizer.sink.0.into_inner();

    let base = found
        .base
        .as_deref()
        .and_then(|h| page_url.join(h.trim()).ok());
    let base = base.as_ref().unwrap_or(page_url);
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    for (href, nofollow) in found.hrefs {
        let href = href.trim();
        if href.is_empty() || href.starts_with('#') {
            continue;
        }
        if let Ok(url) = canon::parse(href, Some(base), rules) {
            if seen.insert(canon::fingerprint(&url)) {
                links.push(Link { url, nofollow });
            }
        }
    }
    let title = one_line(&found.title);
    Page {
        title: (!title.is_empty()).then(|| title.chars().take(MAX_TITLE_CHARS).collect()),
        links,
        follow_links: !found.nofollow_page,
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
}
