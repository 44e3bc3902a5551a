//! The token pass's collector: what one pass over the tokens takes from a page
//! (title, links, base href, meta robots, the extras' raw material, and with
//! `--page-requisites` the URLs the page needs to render), every piece bounded in
//! size whatever the page.
//!
//! Page requisites are read here only, not by the byte scanner: a crawl that wants
//! them sends every page through this pass (as extras do), so the scanner and its
//! agreement tests stay as they are.

use html5ever::tokenizer::{Tag, TagKind, Token, TokenSinkResult};
use serde_json::{Map, Value};

use super::*;

/// What the token pass collects.
#[derive(Default)]
pub(super) struct Found {
    pub(super) title: String,
    /// 0 before the first <title>, 1 inside it, 2 after it.
    pub(super) title_state: u8,
    pub(super) base: Option<String>,
    pub(super) hrefs: Vec<(String, bool)>,
    /// Most hrefs kept (0 = no limit): room for duplicates beyond the page's link
    /// cap, so a page of a million links never holds a million strings.
    pub(super) max_hrefs: usize,
    /// Hrefs seen past `max_hrefs`, not kept.
    pub(super) hrefs_cut: usize,
    /// `<meta name="robots">` directives, all such tags together.
    pub(super) robots: signals::Directives,
    /// The first `<meta http-equiv="refresh">` content, as written (capped).
    pub(super) refresh: Option<String>,
    /// Our product token: `<meta name="agent">` is read as meta robots.
    pub(super) agent: String,
    pub(super) description: Option<String>,
    pub(super) canonical: Option<String>,
    pub(super) lang: Option<String>,
    pub(super) keep_meta: bool,
    pub(super) meta: Map<String, Value>,
    pub(super) keep_json_ld: bool,
    /// Inside a `<script type="application/ld+json">`.
    pub(super) in_json_ld: bool,
    pub(super) json_ld: Vec<String>,
    pub(super) json_ld_bytes: usize,
    pub(super) text: Option<text::Readable>,
    /// Keep each href's anchor text and rel (`anchors`, aligned with `hrefs`).
    pub(super) keep_anchors: bool,
    pub(super) anchors: Vec<Anchor>,
    /// The `<a>` whose text is being read (an index into `anchors`).
    pub(super) open_anchor: Option<usize>,
    /// Collect page requisites (`--page-requisites`).
    pub(super) keep_requisites: bool,
    /// Raw requisite URLs as written (src, srcset candidates, data, poster, link
    /// href), in document order, at most `max_hrefs`.
    pub(super) requisites: Vec<String>,
    /// Requisite URLs seen past `max_hrefs` or past a srcset's
    /// [`MAX_SRCSET_CANDIDATES`], not kept.
    pub(super) requisites_cut: usize,
}

/// Candidates taken from one `srcset`: a browser picks one by the screen, a replay
/// may ask for any of them; a hostile page could list thousands.
pub(super) const MAX_SRCSET_CANDIDATES: usize = 8;

/// The URLs of a `srcset` (`a.png 1x, b.png 2x`), as HTML's "parse a srcset
/// attribute" splits it: a URL runs to whitespace (commas it ends with are
/// separators), then its descriptors to the next comma outside parentheses. Takes
/// at most `max`; returns how many more there were. Linear in the input.
pub(super) fn srcset_urls(srcset: &str, max: usize) -> (Vec<&str>, usize) {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c');
    let (mut urls, mut cut) = (Vec::new(), 0);
    let mut rest = srcset;
    loop {
        rest = rest.trim_start_matches(|c| is_space(c) || c == ',');
        if rest.is_empty() {
            break;
        }
        let end = rest.find(is_space).unwrap_or(rest.len());
        let (mut url, after) = rest.split_at(end);
        rest = after;
        if url.ends_with(',') {
            url = url.trim_end_matches(',');
        } else {
            // Descriptors (`2x`, `100w`, `(...)`) up to the comma that ends them.
            let mut in_parens = false;
            let mut next = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => in_parens = true,
                    ')' => in_parens = false,
                    ',' if !in_parens => {
                        next = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            rest = &rest[next..];
        }
        if url.is_empty() {
            continue;
        }
        match urls.len() < max {
            true => urls.push(url),
            false => cut += 1,
        }
    }
    (urls, cut)
}

pub(super) fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| &*a.value)
}

pub(super) fn meta_value(s: &str) -> String {
    truncate_chars(one_line(s), MAX_META_CHARS)
}

impl Anchor {
    /// Whitespace collapsed and trimmed; empty text is no text.
    pub(super) fn finished(&self) -> Anchor {
        let text = self.text.as_deref().map(one_line).filter(|t| !t.is_empty());
        Anchor {
            text: text.map(|t| truncate_chars(t, MAX_ANCHOR_CHARS)),
            rel: self.rel.clone(),
        }
    }
}

impl Found {
    /// Keeps an href (and, for the link graph, how it is presented); false when
    /// the page's cap is reached.
    fn push_href(&mut self, href: &str, nofollow: bool) -> bool {
        if self.max_hrefs > 0 && self.hrefs.len() >= self.max_hrefs {
            self.hrefs_cut += usize::from(wanted(href));
            return false;
        }
        self.hrefs.push((href.to_string(), nofollow));
        true
    }

    /// Keeps a link with its rel, and its text to come when `text` is Some("").
    fn push_link(&mut self, tag: &Tag, href: &str, nofollow: bool, text: Option<String>) {
        if !self.push_href(href, nofollow) || !self.keep_anchors {
            return;
        }
        let rel = attr(tag, "rel")
            .map(|r| truncate_chars(one_line(r), MAX_REL_CHARS))
            .filter(|r| !r.is_empty());
        self.anchors.push(Anchor { text, rel });
    }

    fn push_requisite(&mut self, url: &str) {
        if !wanted(url) {
            return;
        }
        if self.max_hrefs > 0 && self.requisites.len() >= self.max_hrefs {
            self.requisites_cut += 1;
            return;
        }
        self.requisites.push(url.to_string());
    }

    fn push_srcset(&mut self, tag: &Tag) {
        if let Some(srcset) = attr(tag, "srcset") {
            let (urls, cut) = srcset_urls(srcset, MAX_SRCSET_CANDIDATES);
            self.requisites_cut += cut;
            for url in urls {
                self.push_requisite(url);
            }
        }
    }

    fn push_attr(&mut self, tag: &Tag, name: &str) {
        if let Some(url) = attr(tag, name) {
            self.push_requisite(url);
        }
    }

    /// What a browser fetches to render this element (wget -p's "inline" links).
    fn requisites_of(&mut self, tag: &Tag) {
        match &*tag.name {
            "img" | "source" => {
                self.push_attr(tag, "src");
                self.push_srcset(tag);
            }
            "video" => {
                self.push_attr(tag, "src");
                self.push_attr(tag, "poster");
            }
            "audio" | "track" | "embed" | "script" => self.push_attr(tag, "src"),
            "input"
                if attr(tag, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("image")) =>
            {
                self.push_attr(tag, "src")
            }
            "object" => self.push_attr(tag, "data"),
            "link" if attr(tag, "rel").is_some_and(signals::link_requisite) => {
                self.push_attr(tag, "href")
            }
            // Old markup's background images, which wget takes too.
            "body" | "table" | "td" | "th" => self.push_attr(tag, "background"),
            _ => {}
        }
    }

    pub(super) fn start_tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        if let Some(t) = &mut self.text {
            t.start(tag);
        }
        if self.keep_requisites {
            self.requisites_of(tag);
        }
        match &*tag.name {
            "a" | "area" => {
                // An <a> inside an unclosed <a> ends it, as in a browser.
                self.open_anchor = None;
                if let Some(href) = attr(tag, "href") {
                    let nofollow = attr(tag, "rel").is_some_and(|r| {
                        r.split_ascii_whitespace()
                            .any(|t| t.eq_ignore_ascii_case("nofollow"))
                    });
                    let text = match &*tag.name {
                        "a" => Some(String::new()),
                        _ => attr(tag, "alt").map(str::to_string),
                    };
                    let before = self.anchors.len();
                    self.push_link(tag, href, nofollow, text);
                    if &*tag.name == "a" && self.anchors.len() > before && !tag.self_closing {
                        self.open_anchor = Some(before);
                    }
                }
            }
            "frame" => {
                if let Some(src) = attr(tag, "src") {
                    self.push_link(tag, src, false, None);
                }
            }
            "iframe" => {
                if let Some(src) = attr(tag, "src") {
                    self.push_link(tag, src, false, None);
                }
                return TokenSinkResult::RawData(RawKind::Rawtext);
            }
            "img" => {
                // An image link's words are its alt text.
                if let (Some(i), Some(alt)) = (self.open_anchor, attr(tag, "alt")) {
                    self.anchor_text(i, alt);
                    self.anchor_text(i, " ");
                }
            }
            "base" if self.base.is_none() => self.base = attr(tag, "href").map(str::to_string),
            "html" if self.lang.is_none() => {
                self.lang = attr(tag, "lang").map(meta_value).filter(|l| !l.is_empty());
            }
            "link" => {
                let rel = attr(tag, "rel").unwrap_or("");
                if let Some(href) = attr(tag, "href") {
                    if self.canonical.is_none() && signals::is_canonical(rel) {
                        self.canonical = Some(meta_value(href));
                    }
                    if signals::link_followed(rel) {
                        self.push_link(tag, href, signals::is_nofollow(rel), None);
                    }
                }
            }
            "meta" => self.meta_tag(tag),
            "title" => {
                if self.title_state == 0 {
                    self.title_state = 1;
                }
                return TokenSinkResult::RawData(RawKind::Rcdata);
            }
            "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
            "script" => {
                self.in_json_ld = self.keep_json_ld
                    && attr(tag, "type")
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"));
                if self.in_json_ld {
                    self.json_ld.push(String::new());
                }
                return TokenSinkResult::RawData(RawKind::ScriptData);
            }
            "style" | "xmp" | "noembed" | "noframes" => {
                return TokenSinkResult::RawData(RawKind::Rawtext)
            }
            "plaintext" => return TokenSinkResult::Plaintext,
            _ => {}
        }
        TokenSinkResult::Continue
    }

    pub(super) fn meta_tag(&mut self, tag: &Tag) {
        let name = attr(tag, "name");
        let content = attr(tag, "content");
        if self.refresh.is_none() && attr(tag, "http-equiv").is_some_and(signals::is_refresh) {
            self.refresh = Some(truncate_chars(
                content.unwrap_or("").to_string(),
                MAX_META_CHARS,
            ));
        }
        if let Some(name) = name {
            if signals::names_us(name, &self.agent) {
                self.robots = self
                    .robots
                    .and(signals::Directives::read(content.unwrap_or("")));
            } else if name.eq_ignore_ascii_case("description") && self.description.is_none() {
                self.description = content.map(meta_value).filter(|d| !d.is_empty());
            }
        }
        if self.lang.is_none() {
            let http_equiv =
                attr(tag, "http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("content-language"));
            if http_equiv {
                self.lang = content.map(meta_value).filter(|l| !l.is_empty());
            }
        }
        if !self.keep_meta || self.meta.len() >= MAX_META_TAGS {
            return;
        }
        // OpenGraph uses `property`, most others `name`; repeated keys (og:image)
        // become arrays so that nothing the page says is dropped.
        let (Some(key), Some(content)) = (name.or_else(|| attr(tag, "property")), content) else {
            return;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return;
        }
        let value = Value::String(meta_value(content));
        match self.meta.get_mut(&key) {
            None => {
                self.meta.insert(key, value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                self.meta.insert(key, Value::Array(vec![first, value]));
            }
        }
    }

    pub(super) fn end_tag(&mut self, tag: &Tag) {
        if let Some(t) = &mut self.text {
            t.end(&tag.name);
        }
        match &*tag.name {
            "title" if self.title_state == 1 => self.title_state = 2,
            "script" => self.in_json_ld = false,
            "a" => self.open_anchor = None,
            _ => {}
        }
    }

    /// Adds to an anchor's text, up to a bound (whitespace is collapsed later, so
    /// four bytes a character leave room for it).
    fn anchor_text(&mut self, i: usize, text: &str) {
        let Some(t) = self.anchors.get_mut(i).and_then(|a| a.text.as_mut()) else {
            return;
        };
        let room = (MAX_ANCHOR_CHARS * 4).saturating_sub(t.len());
        if room == 0 {
            return;
        }
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        t.push_str(&text[..cut]);
    }

    pub(super) fn characters(&mut self, text: &str) {
        if let Some(i) = self.open_anchor {
            self.anchor_text(i, text);
        }
        if self.title_state == 1 && self.title.len() < MAX_TITLE_CHARS * 4 {
            self.title.push_str(text);
        }
        if self.in_json_ld && self.json_ld_bytes + text.len() <= MAX_JSON_LD_BYTES {
            self.json_ld_bytes += text.len();
            if let Some(block) = self.json_ld.last_mut() {
                block.push_str(text);
            }
        }
        if let Some(t) = &mut self.text {
            t.characters(text);
        }
    }

    /// Looks at one token; says which raw-text state the tokenizer must switch to.
    pub(super) fn see(&mut self, token: &Token) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return self.start_tag(tag),
                TagKind::EndTag => self.end_tag(tag),
            },
            Token::CharacterTokens(text) => self.characters(text),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Elements that never have content (no end tag).
pub(crate) fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
            | "param"
    )
}

/// Elements that end tags rarely close (the tree builder closes them itself) or
/// never have content: they do not count towards [`MAX_DOM_DEPTH`].
pub(super) fn adds_depth(name: &str) -> bool {
    !is_void(name)
        && !matches!(
            name,
            "p" | "li"
                | "dt"
                | "dd"
                | "option"
                | "optgroup"
                | "tr"
                | "td"
                | "th"
                | "thead"
                | "tbody"
                | "tfoot"
                | "colgroup"
                | "caption"
                | "rb"
                | "rt"
                | "rtc"
                | "rp"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn graph(html: &str) -> Vec<(String, Option<String>, Option<String>)> {
        let config =
            Config::from_toml(r#"extras = ["links"]"#, std::path::Path::new("t.toml")).unwrap();
        let page = Extractor::new(&config)
            .unwrap()
            .page(html, &Url::parse("http://h.test/dir/").unwrap());
        assert!(page.fields.contains_key("outlinks"), "{:?}", page.fields);
        page.links
            .into_iter()
            .map(|l| {
                let a = l.anchor.map(|a| *a).unwrap_or_default();
                (l.url.to_string(), a.text, a.rel)
            })
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn each_link_keeps_its_text_and_rel_as_the_page_wrote_them() {
        let links = graph(
            r#"<a href="a" rel="nofollow  ugc">The  <b>first</b>
               link</a>
               <a href=/img><img src=x.png alt="A picture"></a>
               <area href="/map" alt="Map area">
               <iframe src="/frame"></iframe>
               <link rel="alternate" href="/feed">
               <a href="a">again, other words</a>
               <a href="/empty"></a>"#,
        );
        assert_eq!(
            links,
            vec![
                (
                    "http://h.test/dir/a".into(),
                    s("The first link"),
                    s("nofollow ugc")
                ),
                ("http://h.test/img".into(), s("A picture"), None),
                ("http://h.test/map".into(), s("Map area"), None),
                ("http://h.test/frame".into(), None, None),
                ("http://h.test/feed".into(), None, s("alternate")),
                ("http://h.test/empty".into(), None, None),
            ]
        );
    }

    #[test]
    fn an_unclosed_anchor_ends_at_the_next_and_text_is_bounded() {
        let long = "word ".repeat(10_000);
        let links = graph(&format!(
            r#"<a href="/one">one <a href="/two">{long}</a> after"#
        ));
        assert_eq!(links[0].1, s("one"));
        let two = links[1].1.clone().unwrap();
        assert!(two.chars().count() <= MAX_ANCHOR_CHARS, "{}", two.len());
        assert!(two.starts_with("word word"));
    }

    #[test]
    fn without_the_extra_no_anchor_is_kept() {
        let page = crate::extract::extract(
            r#"<a href="/x" rel="next">words</a>"#,
            &Url::parse("http://h.test/").unwrap(),
            Default::default(),
        );
        assert_eq!(page.links.len(), 1);
        assert_eq!(page.links[0].anchor, None);
    }
}

#[cfg(test)]
mod requisite_tests {
    use super::*;
    use crate::config::Config;

    fn extractor(max_links: usize) -> Extractor {
        let mut config = Config::default();
        config.scope.page_requisites = true;
        config.traps.max_links_per_page = max_links;
        Extractor::new(&config).unwrap()
    }

    fn requisites(html: &str) -> Vec<String> {
        let page = extractor(0).page(html, &Url::parse("http://e.com/dir/page").unwrap());
        page.requisites.iter().map(Url::to_string).collect()
    }

    #[test]
    fn every_kind_of_requisite_is_collected_in_document_order() {
        let html = r##"<html><head>
            <link rel="stylesheet" href="/s.css"><link rel="alternate stylesheet" href="alt.css">
            <link rel="shortcut icon" href="/favicon.ico"><link rel="apple-touch-icon" href="/t.png">
            <link rel="preload" href="/font.woff2" as="font"><link rel="modulepreload" href="/m.mjs">
            <link rel="prefetch" href="/later"><link rel="next" href="/page2">
            <script src="/app.js"></script><script>var s = "<img src='/no.png'>";</script>
            </head><body background="/bg.gif">
            <img src="i.png"><img srcset="a1.png 1x, a2.png 2x">
            <picture><source srcset="/p.webp" type="image/webp"><img src="/p.jpg"></picture>
            <video src="/v.mp4" poster="/poster.jpg"><source src="/v.webm"><track src="/sub.vtt"></video>
            <audio src="/a.mp3"></audio><input type="IMAGE" src="/button.png"><input type="text" src="/no-input">
            <embed src="/e.swf"><object data="/o.svg"></object><table background="/t.gif"><tr><td background="/td.gif">
            <a href="/link">not a requisite</a><iframe src="/frame"></iframe>
            <img src=""><img src="#top"><img src="data:image/png;base64,AAAA"><img src="/i.png">
            </body></html>"##;
        assert_eq!(
            requisites(html),
            [
                "http://e.com/s.css",
                "http://e.com/dir/alt.css",
                "http://e.com/favicon.ico",
                "http://e.com/t.png",
                "http://e.com/font.woff2",
                "http://e.com/m.mjs",
                "http://e.com/app.js",
                "http://e.com/bg.gif",
                "http://e.com/dir/i.png",
                "http://e.com/dir/a1.png",
                "http://e.com/dir/a2.png",
                "http://e.com/p.webp",
                "http://e.com/p.jpg",
                "http://e.com/v.mp4",
                "http://e.com/poster.jpg",
                "http://e.com/v.webm",
                "http://e.com/sub.vtt",
                "http://e.com/a.mp3",
                "http://e.com/button.png",
                "http://e.com/e.swf",
                "http://e.com/o.svg",
                "http://e.com/t.gif",
                "http://e.com/td.gif",
                "http://e.com/i.png",
            ]
        );
        // Links stay links: requisites are kept apart.
        let page = extractor(0).page(html, &Url::parse("http://e.com/dir/page").unwrap());
        let links: Vec<&str> = page.links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            links,
            [
                "http://e.com/page2",
                "http://e.com/link",
                "http://e.com/frame"
            ]
        );
    }

    #[test]
    fn requisites_follow_base_href_and_ignore_nofollow() {
        let html = r#"<head><base href="http://cdn.e.com/r/"><meta name="robots" content="nofollow">
            </head><img src="x.png"><a href="y">y</a>"#;
        let page = extractor(0).page(html, &Url::parse("http://e.com/").unwrap());
        assert!(!page.follow_links);
        let got: Vec<&str> = page.requisites.iter().map(Url::as_str).collect();
        assert_eq!(got, ["http://cdn.e.com/r/x.png"]);
    }

    #[test]
    fn without_the_setting_no_requisite_is_collected() {
        let html = r#"<img src="/i.png"><script src="/a.js"></script><a href="/x">x</a>"#;
        let page = extract(
            html,
            &Url::parse("http://e.com/").unwrap(),
            canon::Rules::default(),
        );
        assert!(page.requisites.is_empty());
        assert_eq!(page.requisites_cut, 0);
        assert_eq!(page.links.len(), 1);
    }

    #[test]
    fn srcset_is_split_as_html_splits_it() {
        let urls = |s| srcset_urls(s, 100).0;
        assert_eq!(urls("a.png 1x, b.png 2x"), ["a.png", "b.png"]);
        assert_eq!(urls("a.png 100w,b.png 200w"), ["a.png", "b.png"]);
        // A URL is whitespace-delimited: commas inside it stay, trailing ones separate.
        assert_eq!(urls("a.png,b.png"), ["a.png,b.png"]);
        assert_eq!(urls("a.png, b.png,, c.png"), ["a.png", "b.png", "c.png"]);
        assert_eq!(
            urls("data:image/png;base64,AAA= 1x, /x.png 2x"),
            ["data:image/png;base64,AAA=", "/x.png"]
        );
        // A comma inside parenthesised descriptors does not end the candidate.
        assert_eq!(urls("a.png (a, b) 1x, c.png"), ["a.png", "c.png"]);
        assert_eq!(urls("  \t\n"), Vec::<&str>::new());
        assert_eq!(urls(",,,"), Vec::<&str>::new());
        assert_eq!(urls("only.png"), ["only.png"]);
        assert_eq!(srcset_urls("a 1x, b 2x, c 3x", 2), (vec!["a", "b"], 1));
    }

    #[test]
    fn a_long_srcset_is_bounded_and_counted() {
        let srcset: Vec<String> = (0..20).map(|i| format!("/s{i}.png {i}w")).collect();
        let html = format!(r#"<img srcset="{}">"#, srcset.join(", "));
        let page = extractor(0).page(&html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(page.requisites.len(), MAX_SRCSET_CANDIDATES);
        assert_eq!(page.requisites_cut, 20 - MAX_SRCSET_CANDIDATES);
        // Linear however long: a megabyte of one srcset is parsed in one pass.
        let big = "x 1x,".repeat(200_000);
        let t = std::time::Instant::now();
        let (kept, cut) = srcset_urls(&big, MAX_SRCSET_CANDIDATES);
        assert_eq!((kept.len(), cut), (MAX_SRCSET_CANDIDATES, 200_000 - 8));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn requisites_per_page_are_capped_by_max_links_per_page() {
        let html: String = (0..50)
            .map(|i| format!(r#"<img src="/i{i}.png"><script src="/s{i}.js"></script>"#))
            .collect();
        let page = extractor(10).page(&html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(page.requisites.len(), 10);
        assert_eq!(page.requisites_cut, 90);
        assert_eq!(page.requisites[9].as_str(), "http://e.com/s4.js");
        // Raw URLs kept are bounded too (four per requisite of the cap): the rest
        // are only counted.
        let html = r#"<img src="/same.png">"#.repeat(1000);
        let page = extractor(10).page(&html, &Url::parse("http://e.com/").unwrap());
        assert_eq!(page.requisites.len(), 1);
        assert_eq!(page.requisites_cut, 1000 - 40);
    }
}
