//! The fast link pass: title, links, `<base href>` and meta robots straight from
//! the bytes, for pages that need nothing else (no extras, no rules: the default).
//!
//! It follows the tokenizer states of the HTML standard that decide what is a tag:
//! comments, bogus comments and doctypes, quoted and unquoted attribute values (the
//! first of a repeated attribute wins), raw text in `<script>`, `<style>`,
//! `<iframe>`, `<xmp>`, `<noembed>`, `<noframes>`, `<title>`, `<textarea>`, and
//! `<plaintext>`; a tag cut off by the end of the input is dropped. Character
//! references are decoded where they matter (attribute values, the title) for the
//! common forms only.
//!
//! It must never guess: whatever it cannot decode exactly as html5ever would (a
//! named reference outside its small table, a NUL, a script that enters the
//! "double escaped" state) makes it return `None`, and the caller runs html5ever's
//! tokenizer instead. A test compares both passes on thousands of generated pages.
//!
//! It must never take more than linear time, whatever the page: every byte is
//! searched a bounded number of times (the comment terminators are remembered,
//! not searched for again at each comment) and no attribute is compared with the
//! earlier ones of its tag. The same walk over the tags also makes html5ever's
//! input safe: [`cap_attributes`] drops the attributes past [`MAX_ATTRS`] in a tag,
//! where html5ever's own duplicate check is quadratic. Tests time each
//! adversarial shape at two sizes on every path.

use std::borrow::Cow;

use super::signals;

/// What the link pass needs from a page.
#[derive(Debug, Default, PartialEq)]
pub struct Scanned {
    pub title: String,
    pub base: Option<String>,
    pub hrefs: Vec<(String, bool)>,
    pub robots: super::signals::Directives,
    pub canonical: Option<String>,
    pub refresh: Option<String>,
    /// Hrefs past the cap given to [`scan_capped`]: counted (those naming a link at
    /// all), not kept.
    pub hrefs_cut: usize,
    max_hrefs: usize,
}

/// Title bytes kept before the caller cuts it (as the token pass keeps).
const TITLE_CAP: usize = super::MAX_TITLE_CHARS * 4;

/// Named references decoded here; any other named reference is left to html5ever.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
];

/// Names that are references even without a `;` (the standard's legacy list): a
/// run of letters starting with one of them is left to html5ever.
const LEGACY: &[&str] = &[
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b' ' | b'\r')
}

/// The first `needle` at or after `from` (the needle is never empty).
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut i = from;
    while let Some(p) = find_byte(hay, i, first) {
        if hay[p..].starts_with(needle) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

fn find_byte(hay: &[u8], from: usize, b: u8) -> Option<usize> {
    hay.get(from..)?
        .iter()
        .position(|&c| c == b)
        .map(|p| p + from)
}

/// Where `needle` next occurs, for a cursor that only moves forward. A comment
/// ends at the first `-->` or `--!>`, whichever comes first: searching afresh for
/// both at every `<!--` costs a search to the end of the page per comment when
/// one of them never occurs (a page of `<!-- -->` took a minute per 1.6 MB).
/// Remembering the last answer makes every byte searched once.
struct Next {
    needle: &'static [u8],
    /// The last answer (`Some(None)`: none after a cursor at or before this one).
    last: Option<Option<usize>>,
}

impl Next {
    fn new(needle: &'static [u8]) -> Next {
        Next { needle, last: None }
    }

    /// The first `needle` at or after `from`; `from` never goes back between calls.
    fn at(&mut self, hay: &[u8], from: usize) -> Option<usize> {
        match self.last {
            Some(Some(p)) if p >= from => return Some(p),
            Some(None) => return None,
            _ => {}
        }
        let found = find(hay, from, self.needle);
        self.last = Some(found);
        found
    }
}

/// Decodes character references in `s` (an attribute value, or title text when
/// `attr` is false); `None` when one is beyond this module.
// About 80 lines: one loop over the references with the numeric and named forms
// side by side, so the WHATWG rules they share (attribute context, the missing
// semicolon) read in one place.
fn decode(s: &str, attr: bool) -> Option<String> {
    if !s.contains('&') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while let Some(amp) = find_byte(b, i, b'&') {
        out.push_str(&s[last..amp]);
        let rest = &b[amp + 1..];
        if rest.first() == Some(&b'#') {
            let (hex, start) = match rest.get(1) {
                Some(b'x' | b'X') => (true, 2),
                _ => (false, 1),
            };
            let digits = rest[start..]
                .iter()
                .take_while(|c| {
                    if hex {
                        c.is_ascii_hexdigit()
                    } else {
                        c.is_ascii_digit()
                    }
                })
                .count();
            if digits == 0 {
                // "&#" with no digits: not a reference.
                out.push('&');
                i = amp + 1;
                last = i;
                continue;
            }
            let text = std::str::from_utf8(&rest[start..start + digits]).ok()?;
            let n = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
            // 0, C1 controls (remapped by the standard), surrogates, out of range: html5ever's.
            if n == 0 || (0x80..=0x9f).contains(&n) || digits > 7 {
                return None;
            }
            let c = char::from_u32(n)?;
            out.push(c);
            let mut end = amp + 1 + start + digits;
            if b.get(end) == Some(&b';') {
                end += 1;
            }
            i = end;
            last = end;
            continue;
        }
        let run = rest
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if run == 0 {
            // "& " and the like: a plain ampersand.
            out.push('&');
            i = amp + 1;
            last = i;
            continue;
        }
        let name = &s[amp + 1..amp + 1 + run];
        let after = rest.get(run).copied();
        if after == Some(b';') {
            let (_, c) = NAMED.iter().find(|(n, _)| *n == name)?;
            out.push(*c);
            i = amp + 2 + run;
            last = i;
            continue;
        }
        // No ';': in an attribute, a run followed by '=' is never a reference.
        let starts_legacy = LEGACY.iter().any(|l| name.starts_with(l));
        if starts_legacy && !(attr && after == Some(b'=')) {
            return None;
        }
        out.push('&');
        out.push_str(name);
        i = amp + 1 + run;
        last = i;
    }
    out.push_str(&s[last..]);
    Some(out)
}

/// Attributes one tag may have before html5ever sees it: html5ever drops a repeated
/// attribute by comparing it with every earlier one, so a tag with 80,000 of them
/// took seconds. No real page comes near this; [`cap_attributes`] drops the rest,
/// and the scanner ignores them too so that both passes still agree.
pub const MAX_ATTRS: usize = 1000;

/// The attributes the link pass reads; the others are skipped, not stored.
const READ: [&str; 6] = ["href", "rel", "src", "name", "content", "http-equiv"];

/// One parsed tag: its lower-case name and the attributes in [`READ`] (the first
/// of each name wins, as in html5ever).
struct Tag<'a> {
    name: String,
    attrs: [Option<&'a str>; READ.len()],
    /// Where attribute number `MAX_ATTRS + 1` starts, if the tag has that many.
    cut: Option<usize>,
    /// Where the tag's `>` is (`None`: the input ends inside the tag, which the
    /// tokenizer then drops), and whether a `/` right before it makes the tag
    /// self-closing (a `/` ending an unquoted value does not).
    gt: Option<usize>,
    self_closing: bool,
}

impl Tag<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        let k = READ.iter().position(|n| *n == name)?;
        self.attrs[k]
    }
}

/// Parses one attribute value after its `=` (and any spaces) at `i`: the value and
/// the index after it, or `None` when the input ends first.
fn attr_value(s: &str, mut i: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    match b.get(i) {
        None => None,
        Some(&q @ (b'"' | b'\'')) => {
            let end = find_byte(b, i + 1, q)?;
            Some((&s[i + 1..end], end + 1))
        }
        Some(b'>') => Some(("", i)),
        Some(_) => {
            let start = i;
            while i < b.len() && !is_space(b[i]) && b[i] != b'>' {
                i += 1;
            }
            Some((&s[start..i], i))
        }
    }
}

/// Parses a tag whose name starts at `at`. Linear in the tag: no attribute is
/// compared with earlier ones, only with the few [`READ`] names.
/// Reads the tag whose name starts at `at` into `t` (its name buffer reused: this
/// runs for every tag of every page).
fn tag<'a>(s: &'a str, at: usize, t: &mut Tag<'a>) {
    let b = s.as_bytes();
    let mut i = at;
    while i < b.len() && !is_space(b[i]) && b[i] != b'/' && b[i] != b'>' {
        i += 1;
    }
    t.name.clear();
    t.name
        .extend(s[at..i].chars().map(|c| c.to_ascii_lowercase()));
    t.attrs = [None; READ.len()];
    (t.cut, t.gt, t.self_closing) = (None, None, false);
    let mut count = 0;
    loop {
        let mut slash = false;
        while i < b.len() && (is_space(b[i]) || b[i] == b'/') {
            slash = b[i] == b'/';
            i += 1;
        }
        match b.get(i) {
            None => return,
            Some(b'>') => {
                (t.gt, t.self_closing) = (Some(i), slash);
                return;
            }
            _ => {}
        }
        count += 1;
        if count == MAX_ATTRS + 1 {
            t.cut = Some(i);
        }
        // An attribute name: '=' may start one (a parse error, but a name char).
        let start = i;
        i += 1;
        while i < b.len() && !is_space(b[i]) && b[i] != b'/' && b[i] != b'>' && b[i] != b'=' {
            i += 1;
        }
        let aname = &s[start..i];
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let mut value = "";
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            match attr_value(s, i) {
                Some(v) => (value, i) = v,
                None => return,
            }
        }
        if t.cut.is_none() {
            if let Some(k) = READ.iter().position(|n| aname.eq_ignore_ascii_case(n)) {
                t.attrs[k].get_or_insert(value);
            }
        }
    }
}

/// Where raw text of element `name` ends: the start of `</name` followed by a
/// space, `/` or `>` (any case), or the end of the input.
fn raw_end(b: &[u8], from: usize, name: &str) -> usize {
    let n = name.len();
    let mut i = from;
    while let Some(lt) = find(b, i, b"</") {
        let cand = b.get(lt + 2..lt + 2 + n);
        let next = b.get(lt + 2 + n).copied();
        if cand.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes()))
            && next.is_none_or(|c| is_space(c) || c == b'/' || c == b'>')
        {
            return lt;
        }
        i = lt + 2;
    }
    b.len()
}

/// Elements whose content is raw text (no tags) in the tokenizer states we follow.
fn is_raw_text(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "textarea" | "title"
    )
}

/// What [`Walker::next`] found.
/// What kind of tag the walker stopped at (the tag itself is `Walker::tag`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Markup {
    Start,
    End,
    /// A start or end tag the input ends inside: the last thing there is.
    Cut,
}

/// Walks the tags of a page as the tokenizer sees them, skipping text, comments,
/// doctypes, bogus comments and processing instructions. Raw text after a start
/// tag is the caller's to skip (it knows which element it opened).
struct Walker<'a> {
    html: &'a str,
    i: usize,
    dash: Next,
    bang: Next,
    /// The tag [`Walker::next`] stopped at, read in place (never moved).
    tag: Tag<'a>,
}

impl<'a> Walker<'a> {
    fn new(html: &'a str) -> Walker<'a> {
        Walker {
            html,
            i: 0,
            dash: Next::new(b"-->"),
            bang: Next::new(b"--!>"),
            tag: Tag {
                name: String::new(),
                attrs: [None; READ.len()],
                cut: None,
                gt: None,
                self_closing: false,
            },
        }
    }

    /// The next tag; `None` at the end of the input, or where the input ends
    /// inside a comment (dropped, as the tokenizer drops it).
    fn next(&mut self) -> Option<Markup> {
        let b = self.html.as_bytes();
        while let Some(lt) = find_byte(b, self.i, b'<') {
            let j = lt + 1;
            self.i = match b.get(j)? {
                b'!' if b[j..].starts_with(b"!--") => self.comment_end(j + 3)?,
                // Doctype, CDATA outside foreign content, bogus comment: to '>'.
                b'!' | b'?' => find_byte(b, j, b'>')? + 1,
                b'/' => match b.get(j + 1)? {
                    c if c.is_ascii_alphabetic() => return Some(self.tag(j + 1, Markup::End)),
                    b'>' => j + 2,
                    _ => find_byte(b, j, b'>')? + 1,
                },
                c if c.is_ascii_alphabetic() => return Some(self.tag(j, Markup::Start)),
                // A '<' that starts no tag is text.
                _ => j,
            };
        }
        None
    }

    fn tag(&mut self, at: usize, kind: Markup) -> Markup {
        tag(self.html, at, &mut self.tag);
        match self.tag.gt {
            Some(gt) => {
                self.i = gt + 1;
                kind
            }
            None => {
                self.i = self.html.len();
                Markup::Cut
            }
        }
    }

    /// The index after the comment whose text starts at `k` (after `<!--`).
    fn comment_end(&mut self, k: usize) -> Option<usize> {
        let b = self.html.as_bytes();
        if b[k..].starts_with(b">") {
            return Some(k + 1);
        }
        if b[k..].starts_with(b"->") {
            return Some(k + 2);
        }
        let a = self.dash.at(b, k).map(|p| p + 3);
        let c = self.bang.at(b, k).map(|p| p + 4);
        match (a, c) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (x, y) => x.or(y),
        }
    }

    /// Moves past the raw text of the element just opened; false for
    /// `<plaintext>`, whose text runs to the end of the input.
    fn skip_raw_text(&mut self) -> bool {
        let name = self.tag.name.as_str();
        if name == "plaintext" {
            self.i = self.html.len();
            return false;
        }
        if is_raw_text(name) {
            self.i = raw_end(self.html.as_bytes(), self.i, name);
        }
        true
    }
}

/// `html` with the attributes past the first [`MAX_ATTRS`] of every tag dropped,
/// for html5ever (see [`MAX_ATTRS`]); borrowed unchanged when no tag has that many,
/// which is every real page. One linear pass, following the same states as the
/// scanner; where it differs from html5ever (a script html5ever reads as double
/// escaped), the worst it does is trim a run of more than a thousand attributes.
pub fn cap_attributes(html: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut kept = 0;
    let mut walker = Walker::new(html);
    while let Some(markup) = walker.next() {
        let (cut, gt, self_closing) = (walker.tag.cut, walker.tag.gt, walker.tag.self_closing);
        let gt = match markup {
            Markup::Start => {
                walker.skip_raw_text();
                gt
            }
            Markup::End => gt,
            // html5ever drops a tag the input ends inside, attributes and all, but
            // it still compares them: cut those too.
            Markup::Cut => Some(html.len()),
        };
        let (Some(cut), Some(gt)) = (cut, gt) else {
            continue;
        };
        out.push_str(&html[kept..cut]);
        // A space keeps a '/' before the cut from making the tag self-closing.
        out.push_str(if self_closing { " /" } else { " " });
        kept = gt;
    }
    if out.is_empty() {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[kept..]);
    Cow::Owned(out)
}

/// Scans `html`; `None` means "use the full tokenizer for this page".
#[cfg(test)]
pub fn scan(html: &str) -> Option<Scanned> {
    scan_capped(html, 0, "")
}

/// [`scan`], keeping at most `max_hrefs` hrefs (0 = all): a page of a million
/// links never holds a million strings.
/// `agent` is our product token: `<meta name="agent">` counts as meta robots.
pub fn scan_capped(html: &str, max_hrefs: usize, agent: &str) -> Option<Scanned> {
    if html.as_bytes().contains(&0) {
        return None;
    }
    let mut out = Scanned {
        max_hrefs,
        ..Scanned::default()
    };
    let mut title_seen = false;
    let mut walker = Walker::new(html);
    while let Some(markup) = walker.next() {
        match markup {
            Markup::Start => {}
            Markup::End => continue,
            Markup::Cut => break,
        }
        take(&walker.tag, &mut out, agent)?;
        let start = walker.i;
        if !walker.skip_raw_text() {
            break;
        }
        let raw = &html[start..walker.i];
        match walker.tag.name.as_str() {
            // "<!--" then "<script" inside a script: the double-escaped states,
            // where "</script>" may not end it. Leave it to html5ever.
            "script" => {
                if let Some(open) = find(raw.as_bytes(), 0, b"<!--") {
                    if raw.as_bytes()[open..]
                        .windows(7)
                        .any(|w| w.eq_ignore_ascii_case(b"<script"))
                    {
                        return None;
                    }
                }
            }
            "title" if !title_seen => {
                title_seen = true;
                // The token pass keeps about this much; the caller cuts it.
                if raw.len() > TITLE_CAP {
                    return None;
                }
                out.title = decode(raw, false)?;
            }
            _ => {}
        }
    }
    Some(out)
}

/// Takes what the link pass wants from one start tag; `None` when a value needs
/// decoding beyond this module.
fn take(t: &Tag<'_>, out: &mut Scanned, agent: &str) -> Option<()> {
    let full = out.max_hrefs > 0 && out.hrefs.len() >= out.max_hrefs;
    match t.name.as_str() {
        "a" | "area" | "frame" | "iframe" if full => {
            let value = t.get("href").or_else(|| t.get("src")).unwrap_or("");
            out.hrefs_cut += usize::from(super::wanted(value));
        }
        "a" | "area" => {
            if let Some(href) = t.get("href") {
                let nofollow = t.get("rel").is_some_and(|r| {
                    r.split_ascii_whitespace()
                        .any(|x| x.eq_ignore_ascii_case("nofollow"))
                });
                out.hrefs.push((decode(href, true)?, nofollow));
            }
        }
        "frame" | "iframe" => {
            if let Some(src) = t.get("src") {
                out.hrefs.push((decode(src, true)?, false));
            }
        }
        "link" => {
            let rel = decode(t.get("rel").unwrap_or(""), true)?;
            if let Some(href) = t.get("href") {
                let href = decode(href, true)?;
                if out.canonical.is_none() && signals::is_canonical(&rel) {
                    out.canonical = Some(super::found::meta_value(&href));
                }
                if signals::link_followed(&rel) {
                    match full {
                        true => out.hrefs_cut += usize::from(super::wanted(&href)),
                        false => out.hrefs.push((href, signals::is_nofollow(&rel))),
                    }
                }
            }
        }
        "base" if out.base.is_none() => {
            if let Some(h) = t.get("href") {
                out.base = Some(decode(h, true)?);
            }
        }
        "meta" => {
            let content = || decode(t.get("content").unwrap_or(""), true);
            if out.refresh.is_none() {
                if let Some(h) = t.get("http-equiv") {
                    if signals::is_refresh(&decode(h, true)?) {
                        let c = super::truncate_chars(content()?, super::MAX_META_CHARS);
                        out.refresh = Some(c);
                    }
                }
            }
            if let Some(n) = t.get("name") {
                if signals::names_us(&decode(n, true)?, agent) {
                    out.robots = out.robots.and(signals::Directives::read(&content()?));
                }
            }
        }
        _ => {}
    }
    Some(())
}

/// Everything the link pass gives a page, for comparing the scanner with html5ever.
#[cfg(test)]
fn link_pass(p: &super::Page) -> impl std::fmt::Debug + PartialEq + '_ {
    (
        &p.title,
        &p.links,
        p.follow_links,
        p.noindex,
        &p.canonical,
        &p.refresh,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Extractor;
    use url::Url;

    /// Pieces of markup, ordinary and hostile, that pages are built from.
    const PIECES: &[&str] = &[
        "text ",
        "a < b ",
        "x<y ",
        "\r\n",
        "\n  ",
        "&amp; ",
        "&copy; ",
        "&copy ",
        "&lt;b&gt; ",
        "<a href=\"/p1\">one</a>",
        "<a href='/p2?a=1&amp;b=2'>two</a>",
        "<a href=/p3?a=1&b=2>three</a>",
        "<A HREF=\"/P4\" REL=\"NoFollow\">four</A>",
        "<a rel='nofollow me' href=/p5>",
        "<a href=/p6 href=/p7>",
        "<a/href=/p8>",
        "<a href=\"/p9>still\">",
        "<a href=\"/p10&#65;&#x42;\">",
        "<a href='/p11&notit=1'>",
        "<a href='/p12&copy=1'>",
        "<a href='/p13&zz;'>",
        "<a href=\"/p14",
        "<a\nhref\n=\n\"/p15\"\n>",
        "<a href=/p16/>",
        "<a =x href=/p17>",
        "<area href=\"/p18\">",
        "<iframe src=\"/p19\"><a href=/in-iframe></iframe>",
        "<frame src=/p20>",
        "<base href=\"/base/\">",
        "<base target=_top>",
        "<meta name=\"robots\" content=\"noindex, nofollow\">",
        "<meta name=ROBOTS content=none>",
        "<meta name=\"&#114;obots\" content=\"nofollow\">",
        "<meta name=\"description\" content=\"<a href=/not>\">",
        "<!-- <a href=/c1> -->",
        "<!--><a href=/c2>",
        "<!---><a href=/c3>",
        "<!-- x --!><a href=/c4>",
        "<!-- y --!x <a href=/c5> -->",
        "<!doctype html>",
        "<!DOCTYPE html PUBLIC \"-//x\" \"y\">",
        "<![CDATA[ <a href=/c6> ]]>",
        "<?php echo '<a href=/c7>'; ?>",
        "</ <a href=/c8>>",
        "</>",
        "</div class=\"x>y\">",
        "<script>var s = '<a href=/s1>';</script>",
        "<script><!-- <a href=/s2> --></script>",
        "<script><!--<script></script><a href=/s3></script>",
        "<SCRIPT type=x>x</SCRIPT >",
        "<script>if (a</b) {}</script>",
        "<style>a[href='/st1'] {}</style>",
        "<xmp><a href=/x1></xmp>",
        "<textarea><a href=/t1></textarea>",
        "<title>A &amp; B <a href=/ti1></title>",
        "<TITLE>Second</TITLE>",
        "<title>Caf&eacute;</title>",
        "<noscript><a href=/n1></noscript>",
        "<noembed><a href=/ne1></noembed>",
        "<div class=a><p>para</p></div>",
        "<img src=/img.png alt='<a href=/no>'>",
        "<a href=\"mailto:x@y.z\">m</a>",
        "<a href=\"https://other.example/o1\">o</a>",
        "<a href=\"#frag\">f</a>",
        "<a href=\"  /p21  \">",
        "<a href=\"/p22&#0;\">",
        "<a href=\"/p23&#x80;\">",
        "<plaintext><a href=/pl1>",
        "\u{0}",
        "é ü ",
        "<a href=/p24 x='>'>",
        "<link rel=canonical href=/canon1>",
        "<link rel=\"alternate\" hreflang=de href=\"/de/p25\">",
        "<LINK REL=next HREF=/p26>",
        "<link rel=prev href='/p27&amp;x=1'>",
        "<link rel=stylesheet href=/site.css>",
        "<link rel=\"alternate stylesheet\" href=/alt.css>",
        "<link rel=icon href=/favicon.ico>",
        "<link href=/norel>",
        "<meta http-equiv=refresh content=\"0; url=/r1\">",
        "<meta http-equiv=\"Refresh\" content=\"5;URL='/r2'\">",
        "<meta http-equiv=refresh content=&#48;;url=/r3>",
        "<meta name=robots content=noindex>",
        "<meta name=Trawl content=nofollow>",
        "<meta name=otherbot content=nofollow>",
        "<link rel=\"next nofollow\" href=/p28>",
    ];

    fn page(rng: &mut fastrand::Rng) -> String {
        let n = rng.usize(1..40);
        let mut html = String::new();
        for _ in 0..n {
            html.push_str(PIECES[rng.usize(..PIECES.len())]);
        }
        html
    }

    #[test]
    fn the_scanner_agrees_with_the_tokenizer_or_steps_aside() {
        let extractor = Extractor::links_only(crate::canon::Rules {
            sort_query: true,
            strip_session_ids: true,
        });
        let url = Url::parse("http://e.com/dir/page.html").unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let (mut fast, total) = (0, 20_000);
        for _ in 0..total {
            let html = page(&mut rng);
            if scan(&html).is_some() {
                fast += 1;
            }
            let a = extractor.page_with(&html, &url, true);
            let b = extractor.page_with(&html, &url, false);
            assert_eq!(link_pass(&a), link_pass(&b), "{html:?}");
        }
        // Most pages take the fast path: the comparison is not vacuous.
        assert!(fast > total / 5, "only {fast} of {total} pages scanned");
    }

    #[test]
    fn references_are_decoded_or_left_to_the_tokenizer() {
        assert_eq!(decode("a&amp;b", true).as_deref(), Some("a&b"));
        assert_eq!(decode("?a=1&b=2", true).as_deref(), Some("?a=1&b=2"));
        assert_eq!(decode("&copy=1", true).as_deref(), Some("&copy=1"));
        assert_eq!(decode("&copy=1", false), None);
        assert_eq!(decode("&#65;&#x42;c", true).as_deref(), Some("ABc"));
        assert_eq!(decode("&#;&# x", true).as_deref(), Some("&#;&# x"));
        assert_eq!(decode("&eacute;", false), None);
        assert_eq!(decode("&#x80;", true), None);
    }

    #[test]
    fn bench_pages_take_the_fast_path() {
        for i in [0, 1, 7, 999] {
            let html = crate::bench::page(i, 20_000, "http://127.0.0.1:1");
            let s = scan(&html).expect("the synthetic site's pages are scanned");
            assert!(s.hrefs.len() >= 20, "{}", s.hrefs.len());
            assert!(!s.title.is_empty());
        }
    }
}

/// Adversarial shapes, timed at two sizes on every parsing path: the scanner, the
/// token pass, the DOM a rule set gets and the readable-text extra.
#[cfg(test)]
mod hostile {
    use super::*;
    use crate::extract::Extractor;
    use std::time::Duration;
    use url::Url;

    type Run = Box<dyn Fn(&str)>;
    /// A named adversarial page, made at a given size.
    type Shape = (&'static str, fn(usize) -> String);

    fn url() -> Url {
        Url::parse("http://e.com/").unwrap()
    }

    fn extractor(toml: &str) -> Extractor {
        let config =
            crate::config::Config::from_toml(toml, std::path::Path::new("t.toml")).unwrap();
        Extractor::new(&config).unwrap()
    }

    /// Every path a page can take, by name.
    fn paths() -> Vec<(&'static str, Run)> {
        let tokens = Extractor::links_only(crate::canon::Rules::default());
        let dom = extractor(
            "[[rules]]\nname = \"r\"\npattern = \"\"\nfields = { h = { selector = \"h1\" } }\n",
        );
        let text = extractor("extras = [\"text\"]");
        vec![
            (
                "scanner",
                Box::new(|h: &str| {
                    std::hint::black_box(scan(h));
                }),
            ),
            (
                "tokens",
                Box::new(move |h: &str| {
                    std::hint::black_box(tokens.page_with(h, &url(), false));
                }),
            ),
            (
                "dom",
                Box::new(move |h: &str| {
                    std::hint::black_box(dom.page(h, &url()));
                }),
            ),
            (
                "text",
                Box::new(move |h: &str| {
                    std::hint::black_box(text.page(h, &url()));
                }),
            ),
        ]
    }

    /// CPU time of this thread: other work on a loaded machine stretches the wall
    /// clock of the large run more than that of the small one, not this.
    #[cfg(unix)]
    fn cpu_now() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[cfg(not(unix))]
    fn cpu_now() -> Duration {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }

    fn best_of_3(run: &dyn Fn(&str), html: &str) -> Duration {
        (0..3)
            .map(|_| {
                let t = cpu_now();
                run(html);
                cpu_now().saturating_sub(t)
            })
            .min()
            .unwrap_or_default()
    }

    /// `count` distinct attribute names of one width, in falling order (each new
    /// one sorts before all earlier ones: the worst order for a sorted insert).
    fn names(count: usize, from: usize) -> String {
        (0..count)
            .map(|k| format!(" a{:07}", from + count - k))
            .collect()
    }

    fn comments(n: usize) -> String {
        "<!-- c -->".repeat(n) + "<a href=/end>"
    }

    fn bang_comments(n: usize) -> String {
        "<!-- c --!>".repeat(n) + "<a href=/end>"
    }

    fn attributes(n: usize) -> String {
        format!("<a{} href=/x>", names(n, 0))
    }

    fn end_tag_attributes(n: usize) -> String {
        format!("<a href=/x></a{}><a href=/y>", names(n, 0))
    }

    fn unterminated_tag_attributes(n: usize) -> String {
        format!("<a href=/x><a{}", names(n, 0))
    }

    /// Later `<html>` and `<body>` tags, each under the per-tag cap, whose new
    /// attributes the tree builder adds to the first ones.
    fn merged_root_attributes(n: usize) -> String {
        let mut s = String::from("<html><body>");
        for k in 0..n / 500 {
            let tag = if k % 2 == 0 { "html" } else { "body" };
            s.push_str(&format!("<{tag}{}>", names(500, n - k * 500)));
        }
        s
    }

    /// Time at `n` and `8n` on the named paths (all when empty): 8 times the
    /// input must take less than 24 times as long (best of 3 in CPU time; the
    /// slack absorbs cache effects, a quadratic path takes about 64 times as long).
    fn assert_linear(shape: &str, make: fn(usize) -> String, n: usize, only: &[&str]) {
        let (small, large) = (make(n), make(8 * n));
        for (path, run) in paths() {
            if !only.is_empty() && !only.contains(&path) {
                continue;
            }
            let ts = best_of_3(&*run, &small);
            let tl = best_of_3(&*run, &large);
            eprintln!(
                "{shape}: {path} {ts:?} at {} bytes, {tl:?} at {}",
                small.len(),
                large.len()
            );
            assert!(
                tl < ts * 24 + Duration::from_millis(2),
                "{shape} on the {path} path: {ts:?} at {} bytes but {tl:?} at {}",
                small.len(),
                large.len()
            );
        }
    }

    const ALL: &[&str] = &[];

    #[test]
    fn comments_cost_linear_time_on_every_path() {
        assert_linear("closed comments", comments, 12_500, ALL);
        // The html5ever paths read both endings alike; the scanner searched for each.
        assert_linear(
            "bang-closed comments",
            bang_comments,
            12_500,
            &["scanner", "tokens"],
        );
    }

    #[test]
    fn attributes_cost_linear_time_on_every_path() {
        assert_linear("attributes", attributes, 16_000, ALL);
        assert_linear("end tag attributes", end_tag_attributes, 16_000, ALL);
        assert_linear("unterminated tag", unterminated_tag_attributes, 16_000, ALL);
    }

    #[test]
    fn merged_root_attributes_cost_linear_time_in_the_dom() {
        // Only the tree builder merges them; the other paths see ordinary tags.
        let paths = &["scanner", "dom"];
        assert_linear(
            "merged root attributes",
            merged_root_attributes,
            10_000,
            paths,
        );
    }

    #[test]
    fn other_hostile_shapes_cost_linear_time() {
        let shapes: [Shape; 6] = [
            ("unclosed quote", |n| {
                format!("<a href=\"{}", "x".repeat(8 * n))
            }),
            ("unclosed script", |n| {
                format!("<script>{}", "</scrip>".repeat(n))
            }),
            ("raw-text end tags", |n| "<title></titl></title>".repeat(n)),
            ("ampersands", |n| {
                format!("<a href=\"{}\">", "&".repeat(8 * n))
            }),
            ("bogus markup", |n| "<!x><?y></ ></>".repeat(n)),
            ("unclosed comments", |n| "<!--".repeat(2 * n)),
        ];
        for (shape, make) in shapes {
            assert_linear(shape, make, 5_000, &["scanner", "tokens"]);
        }
    }

    #[test]
    fn capped_pages_still_agree_and_keep_their_links() {
        // Past the cap, an attribute is gone on both paths alike.
        let late_href = format!("<a{} href=/late>t</a><a href=/next>", names(MAX_ATTRS, 0));
        let early = format!("<a href=/early{}>t</a>", names(5 * MAX_ATTRS, 0));
        let self_closing = format!("<svg><a{} /><a href=/in-svg>", names(MAX_ATTRS + 1, 0));
        let slash_cut = format!("<a{}/b href=/no>", names(MAX_ATTRS, 0));
        let links = Extractor::links_only(crate::canon::Rules::default());
        for (html, want) in [
            (&late_href, vec!["http://e.com/next"]),
            (&early, vec!["http://e.com/early"]),
            (&self_closing, vec!["http://e.com/in-svg"]),
            (&slash_cut, vec![]),
        ] {
            let fast = links.page_with(html, &url(), true);
            let slow = links.page_with(html, &url(), false);
            assert_eq!(fast.links, slow.links);
            let got: Vec<&str> = slow.links.iter().map(|l| l.url.as_str()).collect();
            assert_eq!(got, want);
        }
        assert!(matches!(cap_attributes(&early), Cow::Owned(_)));
        let capped = cap_attributes(&self_closing);
        assert!(
            capped.contains("a0000002  /><a href=/in-svg>"),
            "{capped:.80}"
        );
        // A real page goes through untouched, and is not copied.
        let page = crate::bench::page(3, 20_000, "http://127.0.0.1:1");
        assert!(matches!(cap_attributes(&page), Cow::Borrowed(_)));
    }

    #[test]
    #[ignore = "prints figures: SHAPE=comments N=160000 cargo test --release --lib hostile::figures -- --ignored --nocapture"]
    fn figures() {
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000);
        let only = std::env::var("SHAPE").unwrap_or_default();
        let shapes: [Shape; 3] = [
            ("comments", comments),
            ("attributes", attributes),
            ("merged", merged_root_attributes),
        ];
        for (shape, make) in shapes {
            if !shape.contains(&only) {
                continue;
            }
            let html = make(n);
            for (path, run) in paths() {
                let t = best_of_3(&*run, &html);
                println!("{shape} n={n} ({} bytes) {path}: {t:?}", html.len());
            }
        }
    }
}

/// Property tests: generated HTML-ish pages from a grammar of tags, attributes,
/// comments and references, and arbitrary strings.
#[cfg(test)]
mod props {
    use super::*;
    use crate::extract::Extractor;
    use proptest::prelude::*;
    use std::sync::{Arc, LazyLock};
    use url::Url;

    static LINKS: LazyLock<Arc<Extractor>> =
        LazyLock::new(|| Extractor::links_only(crate::canon::Rules::default()));
    static URL: LazyLock<Url> = LazyLock::new(|| Url::parse("http://e.com/d/p.html").unwrap());

    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            // CI runs on a clean clone: nothing is written next to the sources.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::sample::select(items).prop_map(str::to_string)
    }

    fn value() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            4 => "/[a-z0-9]{1,4}(\\?[a-z]=[0-9])?",
            2 => "[a-z0-9/?=#.]{1,6}",
            3 => one_of(&[
                "&amp;", "&#65;", "&#x42;", "&copy", "&copy;", "&eacute;", "&#x80;", "&#0;",
                "&", "&#", "<", ">", "\"", "'", " ", "=", "/", "é", "nofollow", "robots",
                "none", "--!>", "-->", "</script>", "\n", "&b=2", "&copy=1", "noindex",
                "canonical", "next", "alternate", "stylesheet", "refresh", "0; url=", "trawl",
            ]),
        ];
        prop::collection::vec(part, 1..4).prop_map(|v| v.concat())
    }

    fn attribute(names: &'static [&'static str]) -> impl Strategy<Value = String> {
        (one_of(names), 0..6u8, value()).prop_map(|(n, quoting, v)| match quoting {
            0 => n,
            1 => format!("{n}={}", v.replace([' ', '>', '\n'], "")),
            2 | 5 => format!("{n}=\"{}\"", v.replace('"', "")),
            3 => format!("{n}='{}'", v.replace('\'', "")),
            _ => format!("{n} = \"{}\"", v.replace('"', "")),
        })
    }

    /// A start or end tag named from `names`, with attributes named from `attrs`.
    fn tag(
        names: &'static [&'static str],
        attrs: &'static [&'static str],
    ) -> impl Strategy<Value = String> {
        let sep = one_of(&[" ", " ", "\n", "/", " / "]);
        let list = prop::collection::vec((sep, attribute(attrs)), 0..4);
        (0..8u8, one_of(names), list, 0..8u8).prop_map(|(end, name, list, close)| {
            let mut s = format!("<{}{name}", if end == 0 { "/" } else { "" });
            for (sep, a) in list {
                s.push_str(&sep);
                s.push_str(&a);
            }
            // Now and then the tag runs into whatever comes next.
            s.push_str(match close {
                0 => "",
                1 => "/>",
                _ => ">",
            });
            s
        })
    }

    const LINK_TAGS: &[&str] = &["a", "A", "area", "iframe", "frame", "base", "meta", "link"];
    const LINK_ATTRS: &[&str] = &[
        "href",
        "href",
        "HREF",
        "rel",
        "src",
        "name",
        "content",
        "Name",
        "class",
        "=x",
        "http-equiv",
    ];
    const OTHER_TAGS: &[&str] = &[
        "div", "p", "svg", "math", "img", "table", "template", "select", "noscript", "scrip",
        "titlex", "b", "br",
    ];
    const OTHER_ATTRS: &[&str] = &["class", "x", "h\"r", "href", "src"];
    const RAW_TAGS: &[&str] = &[
        "title", "TITLE", "script", "style", "textarea", "xmp", "noembed", "noframes", "iframe",
    ];

    /// Raw-text elements with their end tag, holding text or markup that is not.
    fn raw_element() -> impl Strategy<Value = String> {
        let inner = prop_oneof![
            "[a-z &;<>/-]{0,8}",
            tag(LINK_TAGS, LINK_ATTRS),
            one_of(&["<!--", "-->", "<script>", "</scrip>", "&amp;", "&eacute;", "&#65;"]),
        ];
        let body = prop::collection::vec(inner, 0..4).prop_map(|v| v.concat());
        (one_of(RAW_TAGS), body, one_of(&[">", " >", "/>", " x>"]))
            .prop_map(|(name, body, close)| format!("<{name}>{body}</{name}{close}"))
    }

    fn page() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            8 => tag(LINK_TAGS, LINK_ATTRS),
            3 => tag(OTHER_TAGS, OTHER_ATTRS),
            3 => raw_element(),
            4 => "[a-zA-Z <>&;#/!?=-]{0,8}",
            3 => one_of(&[
                "<!--", "-->", "--!>", "<!-->", "<!--->", "<!-- c -->", "<!doctype html>",
                "<![CDATA[", "]]>", "<?x ?>", "</", "</>", "</ x>", "<!x>", "&amp;", "&lt;",
                "&copy", "&#65;", "\r\n", "é", "<", "<!-- <a href=/c> -->",
            ]),
            // What sends the scanner to html5ever, or ends the page's markup.
            1 => one_of(&[
                "\u{0}", "&eacute;", "<script><!--<script>", "<plaintext>", "<script>",
                "<title>", "<textarea>", "<style>",
            ]),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    fn agree(html: &str) -> Result<(), TestCaseError> {
        let fast = LINKS.page_with(html, &URL, true);
        let slow = LINKS.page_with(html, &URL, false);
        prop_assert_eq!(link_pass(&fast), link_pass(&slow));
        // No real tag has a thousand attributes: the cap leaves the page alone.
        prop_assert!(matches!(cap_attributes(html), Cow::Borrowed(_)));
        Ok(())
    }

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn the_scanner_agrees_with_html5ever_on_generated_pages(html in page()) {
            agree(&html)?;
        }

        #[test]
        fn the_scanner_agrees_with_html5ever_on_any_string(html in any::<String>()) {
            agree(&html)?;
        }
    }

    proptest! {
        #![proptest_config(config(24))]

        /// Around the cap, an attribute counts or not on both paths alike.
        #[test]
        fn both_paths_cap_attributes_alike(
            before in (MAX_ATTRS - 3)..(MAX_ATTRS + 3),
            tail in "( [a-z]{1,3}(=[a-z/]{0,3})?){0,3}",
            close in one_of(&[">", "/>", " />", ""]),
        ) {
            let names: String = (0..before).map(|k| format!(" n{k}")).collect();
            let html = format!("<a{names} href=/h{tail}{close}<a href=/after>");
            agree_capped(&html)?;
        }
    }

    fn agree_capped(html: &str) -> Result<(), TestCaseError> {
        let fast = LINKS.page_with(html, &URL, true);
        let slow = LINKS.page_with(html, &URL, false);
        prop_assert_eq!(fast.links, slow.links);
        Ok(())
    }
}
