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

/// What the link pass needs from a page.
#[derive(Debug, Default, PartialEq)]
pub struct Scanned {
    pub title: String,
    pub base: Option<String>,
    pub hrefs: Vec<(String, bool)>,
    pub nofollow_page: bool,
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

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_byte(hay: &[u8], from: usize, b: u8) -> Option<usize> {
    hay.get(from..)?
        .iter()
        .position(|&c| c == b)
        .map(|p| p + from)
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

/// One parsed tag: its lower-case name and attributes (first of each name kept).
struct Tag<'a> {
    name: String,
    attrs: Vec<(String, &'a str)>,
}

impl Tag<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Parses a tag whose name starts at `at`; returns it and the index after its `>`,
/// or `None` when the input ends inside it (the tag is dropped).
fn tag(s: &str, at: usize) -> Option<(Tag<'_>, usize)> {
    let b = s.as_bytes();
    let mut i = at;
    while i < b.len() && !is_space(b[i]) && b[i] != b'/' && b[i] != b'>' {
        i += 1;
    }
    let name = s[at..i].to_ascii_lowercase();
    let mut attrs: Vec<(String, &str)> = Vec::new();
    loop {
        while i < b.len() && (is_space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        match b.get(i) {
            None => return None,
            Some(b'>') => return Some((Tag { name, attrs }, i + 1)),
            _ => {}
        }
        // An attribute name: '=' may start one (a parse error, but a name char).
        let start = i;
        i += 1;
        while i < b.len() && !is_space(b[i]) && b[i] != b'/' && b[i] != b'>' && b[i] != b'=' {
            i += 1;
        }
        let aname = s[start..i].to_ascii_lowercase();
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let mut value = "";
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            match b.get(i) {
                None => return None,
                Some(&q @ (b'"' | b'\'')) => {
                    let end = find_byte(b, i + 1, q)?;
                    value = &s[i + 1..end];
                    i = end + 1;
                }
                Some(b'>') => {}
                Some(_) => {
                    let start = i;
                    while i < b.len() && !is_space(b[i]) && b[i] != b'>' {
                        i += 1;
                    }
                    value = &s[start..i];
                }
            }
        }
        if !attrs.iter().any(|(n, _)| *n == aname) {
            attrs.push((aname, value));
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

/// Scans `html`; `None` means "use the full tokenizer for this page".
// One function on purpose (about 140 lines): it is a single pass over the bytes
// whose cursor and "give up" exits every branch shares; cut into pieces, each piece
// would carry the cursor state back and forth, and this is the hottest loop of a
// crawl (the differential test against html5ever pins its behaviour).
pub fn scan(html: &str) -> Option<Scanned> {
    let b = html.as_bytes();
    if b.contains(&0) {
        return None;
    }
    let mut out = Scanned::default();
    let mut title_seen = false;
    let mut i = 0;
    while let Some(lt) = find_byte(b, i, b'<') {
        let j = lt + 1;
        match b.get(j) {
            Some(b'!') => {
                if b[j..].starts_with(b"!--") {
                    let k = j + 3;
                    if b[k..].starts_with(b">") {
                        i = k + 1;
                    } else if b[k..].starts_with(b"->") {
                        i = k + 2;
                    } else {
                        let a = find(b, k, b"-->").map(|p| p + 3);
                        let c = find(b, k, b"--!>").map(|p| p + 4);
                        i = match (a, c) {
                            (Some(a), Some(c)) => a.min(c),
                            (Some(x), None) | (None, Some(x)) => x,
                            (None, None) => return Some(out),
                        };
                    }
                } else {
                    // Doctype, CDATA outside foreign content, bogus comment: to '>'.
                    match find_byte(b, j, b'>') {
                        Some(gt) => i = gt + 1,
                        None => return Some(out),
                    }
                }
            }
            Some(b'?') => match find_byte(b, j, b'>') {
                Some(gt) => i = gt + 1,
                None => return Some(out),
            },
            Some(b'/') => match b.get(j + 1) {
                Some(c) if c.is_ascii_alphabetic() => match tag(html, j + 1) {
                    Some((_, next)) => i = next,
                    None => return Some(out),
                },
                Some(b'>') => i = j + 2,
                None => return Some(out),
                Some(_) => match find_byte(b, j, b'>') {
                    Some(gt) => i = gt + 1,
                    None => return Some(out),
                },
            },
            Some(c) if c.is_ascii_alphabetic() => {
                let Some((t, next)) = tag(html, j) else {
                    return Some(out);
                };
                i = next;
                match t.name.as_str() {
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
                    "base" if out.base.is_none() => {
                        if let Some(h) = t.get("href") {
                            out.base = Some(decode(h, true)?);
                        }
                    }
                    "meta" => {
                        let robots = match t.get("name") {
                            Some(n) => decode(n, true)?.eq_ignore_ascii_case("robots"),
                            None => false,
                        };
                        let content = match robots {
                            true => decode(t.get("content").unwrap_or(""), true)?,
                            false => String::new(),
                        };
                        if content
                            .to_ascii_lowercase()
                            .split([',', ' '])
                            .any(|d| d.trim() == "nofollow" || d.trim() == "none")
                        {
                            out.nofollow_page = true;
                        }
                    }
                    _ => {}
                }
                // Elements whose content is raw text: skip to their end tag.
                match t.name.as_str() {
                    "script" => {
                        let end = raw_end(b, i, "script");
                        let body = &b[i..end];
                        // "<!--" then "<script" inside a script: the double-escaped
                        // states, where "</script>" may not end it. Leave it to html5ever.
                        if let Some(open) = find(body, 0, b"<!--") {
                            if body[open..]
                                .windows(7)
                                .any(|w| w.eq_ignore_ascii_case(b"<script"))
                            {
                                return None;
                            }
                        }
                        i = end;
                    }
                    "style" | "xmp" | "iframe" | "noembed" | "noframes" | "textarea" => {
                        i = raw_end(b, i, &t.name);
                    }
                    "title" => {
                        let end = raw_end(b, i, "title");
                        if !title_seen {
                            title_seen = true;
                            let raw = &html[i..end];
                            // The token pass keeps about this much; the caller cuts it.
                            if raw.len() > TITLE_CAP {
                                return None;
                            }
                            out.title = decode(raw, false)?;
                        }
                        i = end;
                    }
                    "plaintext" => return Some(out),
                    _ => {}
                }
            }
            // A '<' that starts no tag is text.
            _ => i = j,
        }
    }
    Some(out)
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
            assert_eq!(a.title, b.title, "title of {html:?}");
            assert_eq!(a.links, b.links, "links of {html:?}");
            assert_eq!(a.follow_links, b.follow_links, "meta robots of {html:?}");
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
