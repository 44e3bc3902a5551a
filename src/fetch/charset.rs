//! Turning a page's bytes into text with the right character encoding.
//!
//! Order of evidence: a byte-order mark (unambiguous, and what browsers obey first),
//! then the Content-Type header's `charset`, then a `<meta charset>` or
//! `<meta http-equiv="Content-Type">` in the first 4 KiB, then UTF-8. Unknown labels
//! are skipped, not fatal. Decoding never fails: bad bytes become U+FFFD.

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

/// Picks the encoding for an HTML body (see module docs for the order).
pub fn sniff(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(body) {
        return enc;
    }
    if let Some(enc) = content_type
        .and_then(header_charset)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
    {
        return enc;
    }
    match meta_charset(body) {
        // A page cannot declare itself UTF-16 in ASCII-compatible bytes; WHATWG says UTF-8.
        Some(enc) if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE => UTF_8,
        Some(enc) => enc,
        None => UTF_8,
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
        let body = b"<meta charset=windows-1251><title>\xcf\xf0\xe8</title>";
        assert!(decode_html(body, Some("text/html; charset=utf-8")).contains('\u{FFFD}'));
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
