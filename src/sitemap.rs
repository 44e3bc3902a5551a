//! Sitemaps (sitemaps.org): turn a fetched sitemap body into the URLs it lists.
//!
//! Reads XML `<urlset>` and `<sitemapindex>` documents, the plain-text form (one URL
//! per line), and gzip-compressed versions of both. Everything is bounded by
//! [`Limits`]: decompression stops after `max_bytes` (a gzip bomb costs no more than
//! an honest sitemap of that size) and reading stops once `max_urls` locs are kept.
//! Work is linear in the input, memory is bounded by `max_bytes`, and no input can
//! make it panic. A document that breaks off keeps the locs read before the break.
//!
//! This module is pure CPU work. It must never do I/O (the caller fetches), never
//! make scope decisions (locs come back as written: canonicalising, filtering and
//! checking that a sitemap may list them is the caller's job) and never expand DTD
//! entities (only the five predefined ones and character references are resolved).

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use flate2::read::MultiGzDecoder;
use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

/// How much one sitemap may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes read at most (plain bodies count their own bytes).
    pub max_bytes: u64,
    /// `<loc>`s (or text lines) kept at most.
    pub max_urls: usize,
}

impl Default for Limits {
    /// The protocol's own ceilings: 50,000 URLs and 50 MiB uncompressed per file.
    fn default() -> Self {
        Limits {
            max_bytes: 50 * 1024 * 1024,
            max_urls: 50_000,
        }
    }
}

/// What the locs point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Pages (`<urlset>`, or a plain-text sitemap).
    UrlSet,
    /// More sitemaps (`<sitemapindex>`).
    Index,
}

/// A parsed sitemap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sitemap {
    pub kind: Kind,
    /// The locs in document order, whitespace-trimmed and unescaped, never empty.
    pub locs: Vec<String>,
    /// A limit cut it: more bytes or more locs were left unread.
    pub truncated: bool,
    /// The document broke off (bad XML, corrupt gzip); locs read before it are kept.
    pub malformed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SitemapError {
    #[error("not a sitemap")]
    NotASitemap,
    #[error("bad gzip data: {0}")]
    BadGzip(String),
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// How far [`looks_like_sitemap`] looks for the root element.
const SNIFF_BYTES: usize = 1024;
/// The protocol caps URLs at 2,048 characters; anything far longer is junk, and the
/// cap keeps one endless `<loc>` (or text line) from growing a buffer without end.
const MAX_LOC_BYTES: usize = 8 * 1024;
const READ_BUFFER: usize = 64 * 1024;

/// Cheap sniff: is this response a sitemap?
///
/// True for a gzip body (magic `1f 8b`) whose URL path ends `.gz` (so `.xml.gz`) or
/// whose content type is `application/gzip` or `application/x-gzip`, and for XML whose
/// first 1 KiB (after a BOM, whitespace, `<?...?>`, comments and a DOCTYPE) opens a
/// `urlset` or `sitemapindex` element under any namespace prefix. The XML content
/// type is ignored because servers label sitemaps every which way. Plain-text
/// sitemaps are not sniffed (any text file would match): parse those when the
/// caller already knows the URL is a sitemap (robots.txt `Sitemap:`, a seed).
pub fn looks_like_sitemap(url_path: &str, content_type: Option<&str>, body: &[u8]) -> bool {
    if body.starts_with(&GZIP_MAGIC) {
        // Tolerate a caller passing a path with its query or fragment still on.
        let path = url_path.split(['?', '#']).next().unwrap_or_default();
        let gz_path = path.to_ascii_lowercase().ends_with(".gz");
        let gz_type = content_type.is_some_and(|ct| {
            let media = ct.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/gzip")
                || media.eq_ignore_ascii_case("application/x-gzip")
        });
        return gz_path || gz_type;
    }
    let head = &body[..body.len().min(SNIFF_BYTES)];
    matches!(
        root_local_name(head),
        Some(b"urlset") | Some(b"sitemapindex")
    )
}

/// The local name of the first element in `head`, if `head` gets that far.
fn root_local_name(head: &[u8]) -> Option<&[u8]> {
    let mut s = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    loop {
        s = s.trim_ascii_start();
        if let Some(rest) = s.strip_prefix(b"<?") {
            s = after(rest, b"?>")?;
        } else if let Some(rest) = s.strip_prefix(b"<!--") {
            s = after(rest, b"-->")?;
        } else if let Some(rest) = s.strip_prefix(b"<!") {
            // A DOCTYPE; an internal subset may hold `>`s, so skip to its `]` first.
            let end = rest.iter().position(|&b| b == b'>' || b == b'[')?;
            s = if rest[end] == b'[' {
                after(after(&rest[end..], b"]")?, b">")?
            } else {
                &rest[end + 1..]
            };
        } else {
            let rest = s.strip_prefix(b"<")?;
            // A name running into the end of the window may be cut short: no verdict.
            let end = rest
                .iter()
                .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')?;
            return Some(split_name(&rest[..end]).1);
        }
    }
}

/// What follows the first `pat` in `s`.
fn after<'a>(s: &'a [u8], pat: &[u8]) -> Option<&'a [u8]> {
    let at = s.windows(pat.len()).position(|w| w == pat)?;
    Some(&s[at + pat.len()..])
}

/// (prefix, local name) of an XML name; the prefix is empty when there is none.
fn split_name(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().position(|&b| b == b':') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (&[], name),
    }
}

/// Parses a sitemap body (gzip, XML or plain text) within `limits`.
///
/// Errors only when nothing usable came out: [`SitemapError::BadGzip`] when the
/// gzip stream fails before anything was read, [`SitemapError::NotASitemap`] when
/// the root element is not `urlset`/`sitemapindex` (or a text body has no
/// http(s) line). A sitemap with zero locs is `Ok`.
pub fn parse(body: &[u8], limits: &Limits) -> Result<Sitemap, SitemapError> {
    let cut = Cell::new(false);
    let inner: Box<dyn Read + '_> = if body.starts_with(&GZIP_MAGIC) {
        // Multi-member: concatenated gzip members are one valid gzip file.
        Box::new(MultiGzDecoder::new(body))
    } else {
        Box::new(body)
    };
    let mut capped = Capped {
        inner,
        left: limits.max_bytes,
        cut: &cut,
    };

    // Skip a BOM and leading whitespace to see whether this is XML or text; a body
    // of nothing but whitespace is read through here, still within the cap.
    let mut first = true;
    let head = loop {
        let mut chunk = Vec::with_capacity(SNIFF_BYTES);
        if let Err(e) = (&mut capped)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut chunk)
        {
            return Err(SitemapError::BadGzip(e.to_string()));
        }
        let mut skip = 0;
        if first && chunk.starts_with(UTF8_BOM) {
            skip = UTF8_BOM.len();
        }
        first = false;
        skip += chunk[skip..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if chunk.is_empty() || skip < chunk.len() {
            chunk.drain(..skip);
            break chunk;
        }
    };
    let is_xml = head.first() == Some(&b'<');
    let source = BufReader::with_capacity(READ_BUFFER, Cursor::new(head).chain(capped));
    if is_xml {
        parse_xml(source, limits, &cut)
    } else {
        parse_text(source, limits, &cut)
    }
}

/// Hands out at most `left` bytes of `inner`, then reports end of input, recording
/// in `cut` whether input really went on (so a capped read differs from a short one).
struct Capped<'c, R> {
    inner: R,
    left: u64,
    cut: &'c Cell<bool>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            if !self.cut.get() {
                let mut probe = [0u8; 1];
                // A byte, or a decoding error, past the cap both mean input left unread.
                self.cut.set(!matches!(self.inner.read(&mut probe), Ok(0)));
            }
            return Ok(0);
        }
        let want = usize::try_from(self.left).map_or(buf.len(), |left| left.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// Collects the text of one `<loc>` (or one text line) up to [`MAX_LOC_BYTES`].
#[derive(Default)]
struct LocBuf {
    bytes: Vec<u8>,
    overlong: bool,
}

impl LocBuf {
    fn clear(&mut self) {
        self.bytes.clear();
        self.overlong = false;
    }

    fn push(&mut self, mut part: &[u8]) {
        if self.bytes.is_empty() {
            // Leading indentation must not count toward the length cap.
            part = part.trim_ascii_start();
        }
        if self.bytes.len() + part.len() > MAX_LOC_BYTES {
            self.overlong = true;
        } else {
            self.bytes.extend_from_slice(part);
        }
    }

    /// The trimmed text, unless it was empty, overlong or not UTF-8.
    fn take(&self) -> Option<String> {
        if self.overlong {
            return None;
        }
        let text = std::str::from_utf8(&self.bytes).ok()?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

/// Appends what an entity or character reference stands for. Only the predefined
/// entities and character references are resolved; anything else (a DTD-declared
/// entity, a typo, an unescaped `&` in a query string) stays as written, so nothing
/// is ever expanded.
fn push_reference(loc: &mut LocBuf, r: &BytesRef<'_>) {
    let resolved = if r.is_char_ref() {
        r.resolve_char_ref().ok().flatten().map(String::from)
    } else {
        r.decode()
            .ok()
            .and_then(|name| quick_xml::escape::resolve_xml_entity(&name))
            .map(String::from)
    };
    match resolved {
        Some(text) => loc.push(text.as_bytes()),
        None => {
            loc.push(b"&");
            loc.push(r);
            loc.push(b";");
        }
    }
}

/// Reads a sitemap or index as XML events, with bounded memory.
// One event loop on purpose (about 120 lines): which element we are in, the
// current <loc> text and the limits are state every event updates; splitting the
// match arms into functions would pass all of it to each.
fn parse_xml<R: BufRead>(
    source: R,
    limits: &Limits,
    cut: &Cell<bool>,
) -> Result<Sitemap, SitemapError> {
    let mut reader = Reader::from_reader(source);
    // Generators often forget to escape `&` in query strings; keep such URLs.
    reader.config_mut().allow_dangling_amp = true;

    let mut buf = Vec::new();
    let mut kind = None;
    // Open elements: root at 1, `url`/`sitemap` at 2, `loc` at 3.
    let mut depth = 0usize;
    // The prefix of the open `url`/`sitemap` element: its `loc` must share it, which
    // is what sets `<loc>` apart from `<image:loc>` whatever the prefixes are.
    let mut entry_prefix: Option<Vec<u8>> = None;
    let mut in_loc = false;
    let mut loc = LocBuf::default();
    let mut locs = Vec::new();
    let mut too_many = false;
    let mut finished = false;
    let mut malformed = false;
    let mut gzip_error = None;

    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(XmlError::Io(e)) => {
                gzip_error = Some(e.to_string());
                malformed = true;
                break;
            }
            // Running out of input inside markup is what a cap cut looks like.
            Err(XmlError::Syntax(e)) if e != SyntaxError::InvalidBangMarkup && cut.get() => break,
            Err(_) => {
                malformed = true;
                break;
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let (prefix, local) = split_name(e.name().into_inner());
                if depth == 0 {
                    kind = Some(match local {
                        b"urlset" => Kind::UrlSet,
                        b"sitemapindex" => Kind::Index,
                        _ => return Err(SitemapError::NotASitemap),
                    });
                } else if depth == 1 {
                    let entry: &[u8] = match kind {
                        Some(Kind::Index) => b"sitemap",
                        _ => b"url",
                    };
                    if local == entry {
                        entry_prefix = Some(prefix.to_vec());
                    }
                } else if depth == 2 && local == b"loc" && entry_prefix.as_deref() == Some(prefix) {
                    in_loc = true;
                    loc.clear();
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                } else if depth == 0 {
                    // `<urlset/>`: a valid, empty sitemap.
                    finished = true;
                    break;
                } else {
                    // `<loc/>` is empty; an empty `<url/>` holds no loc.
                    in_loc = false;
                    if depth == 1 {
                        entry_prefix = None;
                    }
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                match depth {
                    0 => {
                        finished = true;
                        break;
                    }
                    1 => entry_prefix = None,
                    2 if in_loc => {
                        in_loc = false;
                        if let Some(url) = loc.take() {
                            if locs.len() >= limits.max_urls {
                                too_many = true;
                                break;
                            }
                            locs.push(url);
                        }
                    }
                    _ => {}
                }
            }
            // Only text directly inside `<loc>` counts, not text of nested elements.
            Event::Text(ref t) if in_loc && depth == 3 => loc.push(t),
            Event::CData(ref c) if in_loc && depth == 3 => loc.push(c),
            Event::GeneralRef(ref r) if in_loc && depth == 3 => push_reference(&mut loc, r),
            Event::Eof => {
                // Open elements at the end: the document broke off, unless we cut it.
                malformed = depth > 0 && !cut.get();
                break;
            }
            // Declarations, comments, PIs and the DOCTYPE (never expanded) say nothing.
            _ => {}
        }
    }

    let Some(kind) = kind else {
        return Err(match gzip_error {
            Some(e) => SitemapError::BadGzip(e),
            None => SitemapError::NotASitemap,
        });
    };
    Ok(Sitemap {
        kind,
        locs,
        // A root that closed was read whole, even if the cap then hid trailing bytes.
        truncated: too_many || (cut.get() && !finished),
        malformed,
    })
}

fn parse_text<R: BufRead>(
    mut source: R,
    limits: &Limits,
    cut: &Cell<bool>,
) -> Result<Sitemap, SitemapError> {
    let mut locs = Vec::new();
    // Any http(s) line at all, kept or not: tells a text sitemap from other text.
    let mut seen = false;
    let mut too_many = false;
    let mut gzip_error = None;
    let mut line = LocBuf::default();

    // Returns false once a line would go over `max_urls`.
    let keep = |line: &LocBuf, locs: &mut Vec<String>, seen: &mut bool| -> bool {
        let Some(url) = line.take() else { return true };
        let is_http = ["http://", "https://"].iter().any(|scheme| {
            url.get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        });
        if !is_http {
            return true;
        }
        *seen = true;
        if locs.len() >= limits.max_urls {
            return false;
        }
        locs.push(url);
        true
    };

    loop {
        let (used, ended_line) = match source.fill_buf() {
            Ok([]) => {
                // A last line without a newline is whole, unless the cap cut it.
                if !cut.get() && !keep(&line, &mut locs, &mut seen) {
                    too_many = true;
                }
                break;
            }
            Ok(chunk) => match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    line.push(&chunk[..i]);
                    (i + 1, true)
                }
                None => {
                    line.push(chunk);
                    (chunk.len(), false)
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                gzip_error = Some(e.to_string());
                break;
            }
        };
        source.consume(used);
        if ended_line {
            if !keep(&line, &mut locs, &mut seen) {
                too_many = true;
                break;
            }
            line.clear();
        }
    }

    if !seen {
        return Err(match gzip_error {
            Some(e) => SitemapError::BadGzip(e),
            None => SitemapError::NotASitemap,
        });
    }
    Ok(Sitemap {
        kind: Kind::UrlSet,
        locs,
        truncated: too_many || cut.get(),
        malformed: gzip_error.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use std::time::{Duration, Instant};

    const BIG: Limits = Limits {
        max_bytes: 10 * 1024 * 1024,
        max_urls: 1000,
    };

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn ok(body: &[u8]) -> Sitemap {
        parse(body, &BIG).unwrap()
    }

    const URLSET: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>http://example.com/</loc><lastmod>2024-01-01</lastmod></url>
  <url>
    <loc>http://example.com/a</loc>
    <changefreq>daily</changefreq>
  </url>
</urlset>
"#;

    #[test]
    fn plain_urlset() {
        let s = ok(URLSET.as_bytes());
        assert_eq!(s.kind, Kind::UrlSet);
        assert_eq!(s.locs, ["http://example.com/", "http://example.com/a"]);
        assert!(!s.truncated && !s.malformed);
    }

    #[test]
    fn sitemap_index() {
        let body = r#"<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.com/s1.xml.gz</loc><lastmod>2024-01-01</lastmod></sitemap>
  <sitemap><loc>https://example.com/s2.xml</loc></sitemap>
  <url><loc>https://example.com/not-an-index-entry</loc></url>
</sitemapindex>"#;
        let s = ok(body.as_bytes());
        assert_eq!(s.kind, Kind::Index);
        assert_eq!(
            s.locs,
            [
                "https://example.com/s1.xml.gz",
                "https://example.com/s2.xml"
            ]
        );
        assert!(!s.truncated && !s.malformed);
    }

    #[test]
    fn gzip_urlset() {
        let s = ok(&gzip(URLSET.as_bytes()));
        assert_eq!(s.kind, Kind::UrlSet);
        assert_eq!(s.locs, ["http://example.com/", "http://example.com/a"]);
        assert!(!s.truncated && !s.malformed);
        // Concatenated members are one gzip file.
        let mut two = gzip(b"<urlset><url><loc>http://a/</loc></url>");
        two.extend(gzip(b"<url><loc>http://b/</loc></url></urlset>"));
        assert_eq!(ok(&two).locs, ["http://a/", "http://b/"]);
    }

    #[test]
    fn bad_gzip_is_an_error() {
        let mut body = gzip(URLSET.as_bytes());
        body.truncate(12);
        body.extend_from_slice(b"this is not deflate data at all");
        assert!(matches!(parse(&body, &BIG), Err(SitemapError::BadGzip(_))));
        assert!(matches!(
            parse(&[0x1f, 0x8b], &BIG),
            Err(SitemapError::BadGzip(_))
        ));
    }

    #[test]
    fn corrupt_gzip_after_some_locs_keeps_them() {
        let mut doc = String::from("<urlset>");
        for i in 0..2000 {
            doc.push_str(&format!("<url><loc>http://example.com/{i}</loc></url>"));
        }
        let mut body = gzip(doc.as_bytes());
        // Damage the tail of the deflate stream: early locs decode, then it fails.
        let n = body.len();
        for b in &mut body[n - 200..n - 8] {
            *b ^= 0x55;
        }
        let s = parse(
            &body,
            &Limits {
                max_bytes: u64::MAX,
                max_urls: 10_000,
            },
        )
        .unwrap();
        assert!(s.malformed);
        assert!(!s.locs.is_empty() && s.locs.len() < 2000);
        assert_eq!(s.locs[0], "http://example.com/0");
    }

    #[test]
    fn prefixes_do_not_matter_and_extension_locs_are_ignored() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9"
    xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
    xmlns:video="http://www.google.com/schemas/sitemap-video/1.1"
    xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <sm:url>
    <sm:loc>http://example.com/page</sm:loc>
    <image:image><image:loc>http://example.com/img.png</image:loc></image:image>
    <image:loc>http://example.com/stray-image.png</image:loc>
    <video:video><video:content_loc>http://example.com/v.mp4</video:content_loc>
      <video:player_loc>http://example.com/player</video:player_loc></video:video>
    <xhtml:link rel="alternate" hreflang="de" href="http://example.com/de"/>
  </sm:url>
  <sm:url><sm:loc>http://example.com/two</sm:loc></sm:url>
</sm:urlset>"#;
        let s = ok(body.as_bytes());
        assert_eq!(s.kind, Kind::UrlSet);
        assert_eq!(
            s.locs,
            ["http://example.com/page", "http://example.com/two"]
        );

        // Default namespace on the entry, image extension beside it.
        let body = r#"<urlset><url><image:image><loc>http://example.com/nested</loc></image:image>
            <loc>http://example.com/direct</loc></url></urlset>"#;
        assert_eq!(ok(body.as_bytes()).locs, ["http://example.com/direct"]);
    }

    #[test]
    fn entities_cdata_and_whitespace() {
        let body = "<urlset>
  <url><loc>
      http://example.com/?a=1&amp;b=2&#38;c=&#x33;
  </loc></url>
  <url><loc><![CDATA[http://example.com/cdata?x=<y>&z]]></loc></url>
  <url><loc>http://example.com/<![CDATA[mixed]]>&apos;s</loc></url>
  <url><loc>   </loc></url>
  <url><loc/></url>
  <url/>
  <url><loc>http://example.com/?raw=1&b=2 & c</loc></url>
  <url><loc>http://example.com/<!-- note -->after-comment</loc></url>
</urlset>";
        let s = ok(body.as_bytes());
        assert_eq!(
            s.locs,
            [
                "http://example.com/?a=1&b=2&c=3",
                "http://example.com/cdata?x=<y>&z",
                "http://example.com/mixed's",
                "http://example.com/?raw=1&b=2 & c",
                "http://example.com/after-comment",
            ]
        );
        assert!(!s.malformed);
    }

    #[test]
    fn dtd_entities_are_never_expanded() {
        let mut body = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [\n");
        body.push_str("<!ENTITY lol \"lollollollollollollollollollol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            let refs = format!("&{prev};").repeat(10);
            body.push_str(&format!("<!ENTITY lol{i} \"{refs}\">\n"));
        }
        body.push_str("<!ENTITY ext SYSTEM \"file:///etc/passwd\">\n]>\n");
        body.push_str("<urlset><url><loc>http://example.com/&lol9;&ext;</loc></url></urlset>");
        let s = ok(body.as_bytes());
        assert_eq!(s.locs, ["http://example.com/&lol9;&ext;"]);
        assert!(!s.malformed);
    }

    #[test]
    fn text_sitemap() {
        let body = "\u{feff}http://example.com/a\r\n\
                    \n\
                    # a comment\n\
                    ftp://example.com/nope\n\
                    not a url\n  https://example.com/b  \n\
                    HTTPS://example.com/c";
        let s = ok(body.as_bytes());
        assert_eq!(s.kind, Kind::UrlSet);
        assert_eq!(
            s.locs,
            [
                "http://example.com/a",
                "https://example.com/b",
                "HTTPS://example.com/c"
            ]
        );
        assert!(!s.truncated && !s.malformed);
        assert_eq!(ok(&gzip(body.as_bytes())).locs.len(), 3);
    }

    #[test]
    fn max_urls_truncates() {
        let mut doc = String::from("<urlset>");
        for i in 0..10 {
            doc.push_str(&format!("<url><loc>http://example.com/{i}</loc></url>"));
        }
        doc.push_str("</urlset>");
        let limits = |max_urls| Limits {
            max_bytes: u64::MAX,
            max_urls,
        };

        let s = parse(doc.as_bytes(), &limits(3)).unwrap();
        assert_eq!(
            s.locs,
            [
                "http://example.com/0",
                "http://example.com/1",
                "http://example.com/2"
            ]
        );
        assert!(s.truncated && !s.malformed);
        // Exactly at the limit is not truncated.
        let s = parse(doc.as_bytes(), &limits(10)).unwrap();
        assert_eq!(s.locs.len(), 10);
        assert!(!s.truncated);

        let text: String = (0..10)
            .map(|i| format!("http://example.com/{i}\n"))
            .collect();
        let s = parse(text.as_bytes(), &limits(4)).unwrap();
        assert_eq!(s.locs.len(), 4);
        assert!(s.truncated);
        let s = parse(text.as_bytes(), &limits(10)).unwrap();
        assert!(!s.truncated);
    }

    #[test]
    fn max_bytes_caps_plain_bodies_and_drops_a_cut_loc() {
        let doc = "<urlset><url><loc>http://example.com/one</loc></url><url><loc>http://example.com/two-is-cut</loc></url></urlset>";
        let cut_at = doc.find("two").unwrap() as u64;
        let s = parse(
            doc.as_bytes(),
            &Limits {
                max_bytes: cut_at,
                max_urls: 100,
            },
        )
        .unwrap();
        assert_eq!(s.locs, ["http://example.com/one"]);
        assert!(s.truncated);
        // The cut explains the broken end; the document itself was fine.
        assert!(!s.malformed);

        // A complete document that fits is not truncated, trailing whitespace or not.
        let padded = format!("{doc}{}", " ".repeat(100));
        let fits = Limits {
            max_bytes: doc.len() as u64,
            max_urls: 100,
        };
        let s = parse(padded.as_bytes(), &fits).unwrap();
        assert_eq!(s.locs.len(), 2);
        assert!(!s.truncated);

        let text = "http://example.com/one\nhttp://example.com/two";
        let s = parse(
            text.as_bytes(),
            &Limits {
                max_bytes: 30,
                max_urls: 100,
            },
        )
        .unwrap();
        assert_eq!(s.locs, ["http://example.com/one"]);
        assert!(s.truncated);
    }

    const BOMB_HEAD: &[u8] = b"<urlset><url><loc>http://example.com/first</loc></url>";

    /// One gzip member inflating to `BOMB_HEAD` then `mib` MiB of spaces, and that
    /// inflated length. Built from one full-flushed deflate block repeated, so the
    /// test need not compress 200 MB itself.
    fn gzip_bomb(mib: usize) -> (Vec<u8>, usize) {
        use flate2::{Compress, Crc, FlushCompress};
        let block = vec![b' '; 1 << 20];
        let deflate = |input: &[u8], flush| {
            // A fresh compressor per piece and a full flush after it: each piece's
            // bytes stand alone, so they can be concatenated and repeated.
            let mut c = Compress::new(Compression::best(), false);
            let mut out = Vec::with_capacity(input.len() / 2 + 1024);
            c.compress_vec(input, &mut out, flush).unwrap();
            assert_eq!(c.total_in() as usize, input.len());
            out
        };
        let head_z = deflate(BOMB_HEAD, FlushCompress::Full);
        let block_z = deflate(&block, FlushCompress::Full);
        let end_z = deflate(&[], FlushCompress::Finish);

        let mut crc = Crc::new();
        crc.update(BOMB_HEAD);
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend(&head_z);
        for _ in 0..mib {
            crc.update(&block);
            out.extend(&block_z);
        }
        out.extend(&end_z);
        let len = BOMB_HEAD.len() + mib * block.len();
        out.extend(crc.sum().to_le_bytes());
        out.extend((len as u32).to_le_bytes());
        (out, len)
    }

    #[test]
    fn gzip_bomb_is_capped() {
        // Sanity: the construction is a real gzip file that inflates in full.
        let (small, small_len) = gzip_bomb(4);
        let mut all = Vec::new();
        MultiGzDecoder::new(&small[..])
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all.len(), small_len);
        assert!(all.starts_with(BOMB_HEAD));

        let (bomb, _) = gzip_bomb(200);
        assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
        let limits = Limits {
            max_bytes: 1 << 20,
            max_urls: 1000,
        };
        let start = Instant::now();
        let s = parse(&bomb, &limits).unwrap();
        let took = start.elapsed();
        assert_eq!(s.locs, ["http://example.com/first"]);
        assert!(s.truncated);
        // The cap explains the unclosed urlset.
        assert!(!s.malformed);
        // Inflating all 200 MB would take far longer than 1 MiB does.
        assert!(took < Duration::from_secs(5), "took {took:?}");

        // Under a cap it fits: read whole, and the unclosed urlset is the document's fault.
        let s = parse(
            &small,
            &Limits {
                max_bytes: 8 << 20,
                max_urls: 1000,
            },
        )
        .unwrap();
        assert_eq!(s.locs, ["http://example.com/first"]);
        assert!(!s.truncated && s.malformed);
    }

    #[test]
    fn malformed_xml_keeps_earlier_locs() {
        let body = "<urlset><url><loc>http://example.com/1</loc></url>\
                    <url><loc>http://example.com/2</loc></url>\
                    <url><loc>http://example.com/3</lo></url>\
                    <url><loc>http://example.com/4</loc></url></urlset>";
        let s = ok(body.as_bytes());
        assert_eq!(s.locs, ["http://example.com/1", "http://example.com/2"]);
        assert!(s.malformed);
        assert!(!s.truncated);

        // Broken off mid-document (not by our cap): malformed, earlier locs kept.
        let body = "<urlset><url><loc>http://example.com/1</loc></url><url><loc>http://exa";
        let s = ok(body.as_bytes());
        assert_eq!(s.locs, ["http://example.com/1"]);
        assert!(s.malformed && !s.truncated);

        // A root that is a sitemap but nothing after it: empty, malformed, still Ok.
        let s = ok(b"<urlset><url><loc");
        assert!(s.locs.is_empty() && s.malformed);
    }

    #[test]
    fn not_sitemaps_are_errors() {
        let html = "<!DOCTYPE html><html><head><title>x</title></head><body>\
                    <a href=\"http://example.com/\">x</a></body></html>";
        let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>\
                   <item><link>http://example.com/</link></item></channel></rss>";
        for body in [
            html,
            rss,
            "",
            "   \n",
            "just some words\nno urls here\n",
            "<",
            "<!--",
        ] {
            assert_eq!(
                parse(body.as_bytes(), &BIG).unwrap_err(),
                SitemapError::NotASitemap,
                "{body:?}"
            );
        }
        // An empty urlset is a sitemap, just an empty one.
        for body in [
            "<urlset></urlset>",
            "<urlset/>",
            "<?xml version=\"1.0\"?><sitemapindex/>",
        ] {
            let s = ok(body.as_bytes());
            assert!(
                s.locs.is_empty() && !s.malformed && !s.truncated,
                "{body:?}"
            );
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        // xorshift: deterministic noise without a dependency.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"<>/?!-[]&;#x:= \n\"'urlsetlocmapindex\x1f\x8b\0\xff";
        let tiny = Limits {
            max_bytes: 512,
            max_urls: 3,
        };
        for round in 0..3000 {
            let len = (next() % 300) as usize;
            let mut body: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        alphabet[(r as usize) % alphabet.len()]
                    } else {
                        r as u8
                    }
                })
                .collect();
            if round % 3 == 0 {
                body.splice(0..0, *b"<urlset><url><loc>");
            }
            if round % 5 == 0 {
                body = gzip(&body);
                if round % 10 == 0 {
                    let i = (next() as usize) % body.len();
                    body[i] ^= 0xa5;
                }
            }
            let _ = parse(&body, &BIG);
            let _ = parse(&body, &tiny);
            let _ = looks_like_sitemap("/x.gz", Some("application/gzip"), &body);
        }
        let noise: Vec<u8> = (0..4096).map(|_| next() as u8 | 0x80).collect();
        assert_eq!(parse(&noise, &BIG).unwrap_err(), SitemapError::NotASitemap);
    }

    #[test]
    fn looks_like_sitemap_cases() {
        let gz = gzip(URLSET.as_bytes());
        let yes: &[(&str, Option<&str>, &[u8])] = &[
            ("/sitemap.xml", Some("application/xml"), URLSET.as_bytes()),
            ("/sitemap.xml", Some("text/html"), URLSET.as_bytes()),
            ("/", None, b"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"/s.xsl\"?>\n<!-- generated --><urlset>"),
            ("/", None, b"<sm:sitemapindex xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"),
            ("/", None, b"<!DOCTYPE urlset [ <!ENTITY a \"<b>\"> ]>\n<urlset/>"),
            ("/sitemap.xml.gz", None, &gz),
            ("/SITEMAP.GZ?v=2", None, &gz),
            ("/download", Some("application/x-gzip"), &gz),
            ("/download", Some("Application/GZIP; charset=binary"), &gz),
        ];
        for (path, ct, body) in yes {
            assert!(looks_like_sitemap(path, *ct, body), "{path} {ct:?}");
        }
        let late = format!("<!--{}--><urlset>", "x".repeat(2000));
        let no: &[(&str, Option<&str>, &[u8])] = &[
            (
                "/",
                Some("text/html"),
                b"<!DOCTYPE html>\n<html><head><title>Site</title></head></html>",
            ),
            (
                "/feed.xml",
                Some("application/rss+xml"),
                b"<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel></channel></rss>",
            ),
            (
                "/atom.xml",
                None,
                b"<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">",
            ),
            (
                "/sitemap.txt",
                Some("text/plain"),
                b"http://example.com/a\nhttp://example.com/b\n",
            ),
            ("/sitemap.xml", None, b""),
            ("/sitemap.xml", None, b"<urlse"),
            ("/", None, b"<urlsetx>"),
            ("/sitemap.xml", None, late.as_bytes()),
            ("/archive.tar", Some("application/octet-stream"), &gz),
            ("/sitemap.xml", Some("text/xml"), &gz),
            (
                "/sitemap.xml.gz",
                Some("application/gzip"),
                b"not gzip, not xml",
            ),
        ];
        for (path, ct, body) in no {
            assert!(!looks_like_sitemap(path, *ct, body), "{path} {ct:?}");
        }
    }
}

/// Property tests: arbitrary bytes, XML-ish documents from a small grammar, and
/// one list of URLs written as an XML urlset, as text, and gzipped.
#[cfg(test)]
mod props {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use proptest::prelude::*;
    use std::io::Write;

    const BIG: Limits = Limits {
        max_bytes: 1 << 20,
        max_urls: 1000,
    };

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 256,
            // CI runs on a clean clone: nothing is written next to the sources.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::sample::select(items).prop_map(str::to_string)
    }

    fn limits() -> impl Strategy<Value = Limits> {
        (0u64..2048, 0usize..5).prop_map(|(max_bytes, max_urls)| Limits {
            max_bytes,
            max_urls,
        })
    }

    /// What any answer must be: within its limits, every loc trimmed and non-empty.
    fn check(result: &Result<Sitemap, SitemapError>, limits: &Limits) -> Result<(), TestCaseError> {
        if let Ok(s) = result {
            prop_assert!(s.locs.len() <= limits.max_urls);
            for loc in &s.locs {
                prop_assert!(!loc.is_empty() && loc.trim() == loc, "{loc:?}");
                prop_assert!(loc.len() <= MAX_LOC_BYTES);
            }
        }
        Ok(())
    }

    fn xmlish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            4 => one_of(&[
                "<urlset>", "</urlset>", "<url>", "</url>", "<loc>", "</loc>", "<sitemapindex>",
                "<sitemap>", "</sitemap>", "<s:urlset xmlns:s=\"x\">", "<s:url>", "<s:loc>",
                "</s:loc>", "<image:loc>", "</image:loc>", "<loc/>", "<url/>", "<urlset/>",
                "<![CDATA[", "]]>", "&amp;", "&#x41;", "&#0;", "&bogus;", "&", "<!-- c -->",
                "<!--", "<?xml version=\"1.0\"?>", "<!DOCTYPE u [<!ENTITY a \"b\">]>", "&a;",
                "<lastmod>2024</lastmod>", "\u{feff}", " ", "\n", "<", ">", "</",
            ]),
            3 => "https?://[a-z]{1,6}\\.example/[a-z0-9?=&]{0,8}",
            1 => "[ -~]{0,12}",
        ];
        prop::collection::vec(piece, 0..30).prop_map(|v| v.concat().into_bytes())
    }

    /// A list of URLs as sitemaps write them, unescaped.
    fn urls() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            "https?://[a-z]{1,8}\\.example(/[a-zA-Z0-9._~%?=&-]{0,12})?",
            0..12,
        )
    }

    /// `urls` as an XML urlset, spelled one of several ways.
    fn as_xml(urls: &[String], style: u8) -> String {
        let (open, close, p) = match style % 3 {
            0 => (
                "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
                "</urlset>",
                "",
            ),
            1 => (
                "<s:urlset xmlns:s=\"http://www.sitemaps.org/schemas/sitemap/0.9\">",
                "</s:urlset>",
                "s:",
            ),
            _ => ("<!-- gen --><urlset>", "</urlset>", ""),
        };
        let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{open}\n");
        for (i, u) in urls.iter().enumerate() {
            let loc = match (i + style as usize) % 3 {
                0 => u.replace('&', "&amp;"),
                1 => format!("\n    {}  ", u.replace('&', "&#38;")),
                _ => format!("<![CDATA[{u}]]>"),
            };
            xml.push_str(&format!(
                "  <{p}url><{p}loc>{loc}</{p}loc><image:image><image:loc>http://i.example/x.png</image:loc></image:image><{p}lastmod>2024-01-01</{p}lastmod></{p}url>\n"
            ));
        }
        xml + close
    }

    fn as_text(urls: &[String], style: u8) -> String {
        let end = if style.is_multiple_of(2) {
            "\n"
        } else {
            "\r\n"
        };
        let mut text = String::new();
        for u in urls {
            text.push_str(&format!("  {u} {end}"));
            if style.is_multiple_of(3) {
                text.push_str(end);
            }
        }
        text
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_give_a_bounded_answer(body in prop::collection::vec(any::<u8>(), 0..512), limits in limits()) {
            for body in [body.clone(), gzip(&body)] {
                check(&parse(&body, &BIG), &BIG)?;
                check(&parse(&body, &limits), &limits)?;
            }
        }

        #[test]
        fn xml_like_documents_read_alike_plain_and_gzipped(body in xmlish(), limits in limits()) {
            for limits in [BIG, limits] {
                let plain = parse(&body, &limits);
                check(&plain, &limits)?;
                prop_assert_eq!(&parse(&gzip(&body), &limits), &plain);
            }
        }

        #[test]
        fn one_list_reads_alike_as_xml_text_and_gzip(urls in urls(), style in any::<u8>(), max_urls in 0usize..16) {
            let limits = Limits { max_bytes: 1 << 20, max_urls };
            let xml = as_xml(&urls, style);
            let text = as_text(&urls, style);
            let want = Sitemap {
                kind: Kind::UrlSet,
                locs: urls.iter().take(max_urls).cloned().collect(),
                truncated: urls.len() > max_urls,
                malformed: false,
            };
            prop_assert_eq!(&parse(xml.as_bytes(), &limits), &Ok(want.clone()), "{}", xml);
            prop_assert_eq!(&parse(&gzip(xml.as_bytes()), &limits), &Ok(want.clone()));
            if !urls.is_empty() {
                // A text sitemap needs a URL to be one; the XML form does not.
                prop_assert_eq!(&parse(text.as_bytes(), &limits), &Ok(want.clone()), "{}", text);
                prop_assert_eq!(&parse(&gzip(text.as_bytes()), &limits), &Ok(want));
            }
        }
    }
}
