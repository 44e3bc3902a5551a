//! Turning a page's bytes into text with the right character encoding.
//!
//! Order of evidence: a byte-order mark (unambiguous, and what browsers obey first),
//! then the Content-Type header's `charset`, then a `<meta charset>` or
//! `<meta http-equiv="Content-Type">` in the first 4 KiB, then UTF-8. Unknown labels
//! are skipped, not fatal. Decoding never fails: bad bytes become U+FFFD.
//!
//! Declarations are often wrong, so they are checked against the bytes: a body that
//! is valid, non-ASCII UTF-8 is UTF-8 whatever it claims (legacy text is almost never
//! valid UTF-8 by accident), and a body that claims UTF-8 (or nothing) but is not
//! valid UTF-8 goes to chardetng, Firefox's detector, unless a `<meta>` names a
//! legacy encoding.

use encoding_rs::{Encoding, UTF_8};
use regex::bytes::Regex;
use std::sync::LazyLock;

/// How far into the body to look for a `<meta>` charset declaration.
const PRESCAN_BYTES: usize = 4096;

static META_CHARSET: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // <meta charset="x"> and <meta http-equiv=Content-Type content="text/html; charset=x">
    Regex::new(r#"(?i-u)<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)"#).ok()
});

/// The `charset` parameter of a Content-Type value, if any.
pub fn header_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(PRESCAN_BYTES)];
    let re = META_CHARSET.as_ref()?;
    re.captures_iter(head)
        .find_map(|c| c.get(1).and_then(|m| Encoding::for_label(m.as_bytes())))
}

/// Whether `body` is UTF-8, allowing a character cut off at the end (a capped body).
fn is_utf8(body: &[u8]) -> bool {
    match std::str::from_utf8(body) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// A page cannot declare itself UTF-16 in ASCII-compatible bytes; WHATWG says UTF-8.
fn ascii_compatible(enc: &'static Encoding) -> &'static Encoding {
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        UTF_8
    } else {
        enc
    }
}

fn detect(body: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(body, true);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

/// Picks the encoding for an HTML body (see module docs for the order).
pub fn sniff(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(body) {
        return enc;
    }
    let header = content_type
        .and_then(header_charset)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    let meta = meta_charset(body).map(ascii_compatible);
    let declared = header.or(meta);
    let utf8 = is_utf8(body);
    match declared {
        Some(enc) if enc == UTF_8 => {
            if utf8 {
                UTF_8
            } else {
                match meta {
                    Some(m) if m != UTF_8 => m,
                    _ => detect(body),
                }
            }
        }
        Some(enc) => {
            if utf8 && !body.is_ascii() {
                UTF_8
            } else {
                enc
            }
        }
        None if utf8 => UTF_8,
        None => detect(body),
    }
}

/// Decodes an HTML body to text, dropping any BOM.
pub fn decode_html(body: &[u8], content_type: Option<&str>) -> String {
    let enc = sniff(body, content_type);
    let (text, _) = enc.decode_with_bom_removal(body);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_charset_wins_over_meta() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("<title>日本語</title>");
        let t = decode_html(&bytes, Some("text/html; charset=Shift_JIS"));
        assert!(t.contains("日本語"), "{t}");
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1251.encode("<meta charset=koi8-r><title>Привет</title>");
        assert!(decode_html(&bytes, Some("text/html; charset=windows-1251")).contains("Привет"));
    }

    #[test]
    fn wrong_declarations_are_corrected_by_the_bytes() {
        // Declared UTF-8, but the bytes are windows-1251 and a meta says so.
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("<meta charset=windows-1251><title>Привет мир</title>");
        assert!(decode_html(&bytes, Some("text/html; charset=utf-8")).contains("Привет мир"));
        // Declared latin-1, but the body is UTF-8.
        let t = decode_html(
            "<title>Grüße aus Köln</title>".as_bytes(),
            Some("text/html; charset=iso-8859-1"),
        );
        assert!(t.contains("Grüße aus Köln"), "{t}");
        // Declared UTF-8, no meta, actually Shift_JIS: the detector finds it.
        let text = "<html><head><title>日本語のページです</title></head><body>これは日本語で書かれたページです。文字コードの判定を確かめます。</body></html>";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let t = decode_html(&bytes, Some("text/html; charset=utf-8"));
        assert!(t.contains("日本語のページです"), "{t}");
        // Nothing declared, legacy bytes.
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(
            "<title>Добро пожаловать на наш сайт</title><p>Это страница на русском языке.</p>",
        );
        assert!(decode_html(&bytes, None).contains("Добро пожаловать"));
    }

    #[test]
    fn meta_charset_and_http_equiv() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("<html><head><meta charset=\"windows-1251\"><title>Привет</title>");
        assert!(decode_html(&bytes, Some("text/html")).contains("Привет"));
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(
            "<meta http-equiv='Content-Type' content='text/html; charset=windows-1251'><title>Привет</title>",
        );
        assert!(decode_html(&bytes, None).contains("Привет"));
    }

    #[test]
    fn bom_first_then_utf8_default() {
        let mut body = vec![0xEF, 0xBB, 0xBF];
        body.extend_from_slice("<title>héllo</title>".as_bytes());
        let t = decode_html(&body, Some("text/html; charset=iso-8859-1"));
        assert!(t.starts_with("<title>héllo"), "{t}");
        assert!(decode_html("ünï".as_bytes(), None).contains("ünï"));
        assert_eq!(sniff(b"", Some("text/html; charset=bogus-label")), UTF_8);
    }
}
