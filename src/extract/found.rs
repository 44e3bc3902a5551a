//! The token pass's collector: what one pass over the tokens takes from a page
//! (title, links, base href, meta robots, the extras' raw material), every piece
//! bounded in size whatever the page.

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

    pub(super) fn start_tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        if let Some(t) = &mut self.text {
            t.start(tag);
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
