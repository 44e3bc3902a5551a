//! What the crawl takes from a page: its title, its links and whether it lets us
//! follow them (meta robots), in one pass over the parsed document.
//!
//! Links come from `a`, `area` (href) and `frame`, `iframe` (src), resolved against
//! `<base href>` when present (else the page URL) and canonicalised; only http(s)
//! survive, each once per page. `rel="nofollow"` is kept on the link so the crawl
//! decides; `<meta name="robots" content="nofollow|none">` marks the whole page.
//!
//! This module is pure CPU work: no I/O, no frontier, no scope decisions.

use std::collections::HashSet;

use scraper::Html;
use url::Url;

use crate::canon;

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

/// Parses `html` (already decoded) and extracts title, links and meta robots.
pub fn extract(html: &str, page_url: &Url, sort_query: bool) -> Page {
    let doc = Html::parse_document(html);
    let mut title = None;
    let mut base: Option<Url> = None;
    let mut raw_links: Vec<(&str, bool)> = Vec::new();
    let mut follow_links = true;

    for node in doc.tree.nodes() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        match el.name() {
            "a" | "area" => {
                if let Some(href) = el.attr("href") {
                    let nofollow = el.attr("rel").is_some_and(|r| {
                        r.split_ascii_whitespace()
                            .any(|t| t.eq_ignore_ascii_case("nofollow"))
                    });
                    raw_links.push((href, nofollow));
                }
            }
            "frame" | "iframe" => {
                if let Some(src) = el.attr("src") {
                    raw_links.push((src, false));
                }
            }
            "title" if title.is_none() => {
                if let Some(er) = scraper::ElementRef::wrap(node) {
                    let t = one_line(&er.text().collect::<String>());
                    if !t.is_empty() {
                        title = Some(t);
                    }
                }
            }
            "base" if base.is_none() => {
                base = el.attr("href").and_then(|h| page_url.join(h.trim()).ok());
            }
            "meta" => {
                let is_robots = el
                    .attr("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("robots"));
                if is_robots {
                    let content = el.attr("content").unwrap_or("").to_ascii_lowercase();
                    if content
                        .split([',', ' '])
                        .any(|d| d.trim() == "nofollow" || d.trim() == "none")
                    {
                        follow_links = false;
                    }
                }
            }
            _ => {}
        }
    }

    let base = base.as_ref().unwrap_or(page_url);
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    for (href, nofollow) in raw_links {
        let href = href.trim();
        if href.is_empty() || href.starts_with('#') {
            continue;
        }
        if let Ok(url) = canon::parse(href, Some(base), sort_query) {
            if seen.insert(canon::fingerprint(&url)) {
                links.push(Link { url, nofollow });
            }
        }
    }
    Page {
        title,
        links,
        follow_links,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Page {
        extract(
            html,
            &Url::parse("http://e.com/dir/page.html").unwrap(),
            true,
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
    fn malformed_html_still_yields_links() {
        let p = page("<p><div><a href=/one>one<table><a href='/two'>two</b></i>\0<a href=/three");
        assert_eq!(urls(&p), ["http://e.com/one", "http://e.com/two"]);
        assert_eq!(page("").title, None);
    }

    #[test]
    fn content_types() {
        assert!(is_html(Some("text/html; charset=utf-8")));
        assert!(is_html(Some("Application/XHTML+XML")));
        assert!(!is_html(Some("application/json")));
        assert!(!is_html(None));
    }
}
