//! What a fetched body is, and parsing it: HTML by its label and its first bytes
//! (servers forget Content-Type more often than they lie), and the parse itself,
//! large bodies off the async reactor. A parser failure costs one page, never the
//! worker task.

use url::Url;

use super::ctx::Ctx;
use crate::extract;
use crate::fetch::{self, Response};

/// Bodies larger than this are parsed on the blocking pool, off the async reactor.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// HTML by its label and its first bytes; an unlabelled body that starts like
/// HTML is parsed too.
pub(super) fn is_parseable(resp: &Response) -> bool {
    match resp.content_type.as_deref() {
        Some(ct) if !ct.trim().is_empty() => {
            extract::is_html(Some(ct)) && !looks_binary(&resp.body)
        }
        _ => starts_like_html(&resp.body),
    }
}

/// Decodes and parses an HTML body (large ones off the async reactor); the
/// response comes back for the archive.
pub(super) async fn parse(
    ctx: &Ctx,
    url: &Url,
    resp: Response,
) -> (extract::Page, Option<Response>) {
    let len = resp.body.len();
    let work = move |extractor: &extract::Extractor, url: &Url| {
        let text = fetch::charset::decode_html(&resp.body, resp.content_type.as_deref());
        (parse_guarded(extractor, &text, url), Some(resp))
    };
    off_reactor(ctx, url, len, work, (extract::Page::default(), None)).await
}

/// Parses HTML already decoded (a rendered page's DOM), as [`parse`] does.
pub(super) async fn parse_text(ctx: &Ctx, url: &Url, text: String) -> extract::Page {
    let len = text.len();
    let work =
        move |extractor: &extract::Extractor, url: &Url| parse_guarded(extractor, &text, url);
    off_reactor(ctx, url, len, work, extract::Page::default()).await
}

/// Runs `work` inline for a small body, on the blocking pool for a large one
/// (`failed` when the pool could not run it: the runtime is shutting down).
async fn off_reactor<T: Send + 'static>(
    ctx: &Ctx,
    url: &Url,
    len: usize,
    work: impl FnOnce(&extract::Extractor, &Url) -> T + Send + 'static,
    failed: T,
) -> T {
    let extractor = ctx.extractor.clone();
    let url = url.clone();
    if len > INLINE_PARSE_BYTES {
        tokio::task::spawn_blocking(move || work(&extractor, &url))
            .await
            .unwrap_or(failed)
    } else {
        work(&extractor, &url)
    }
}

/// A parser bug on one hostile page must cost that page only, never the worker
/// task (its lease would never complete).
fn parse_guarded(extractor: &extract::Extractor, text: &str, url: &Url) -> extract::Page {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| extractor.page(text, url)))
        .unwrap_or_else(|_| {
            tracing::warn!(%url, "the HTML parser failed on this page; recorded without links");
            extract::Page {
                fields: extractor.empty_fields(),
                ..extract::Page::default()
            }
        })
}

/// The SHA-1 of a whole body (none when empty or cut; see `digest`), large ones off
/// the async reactor, as parses are: a 10 MB body is milliseconds of hashing. None
/// only when the blocking pool failed the job (the runtime is shutting down).
pub(super) async fn digest(resp: Response) -> Option<(Response, Option<[u8; 20]>)> {
    if resp.body.is_empty() || resp.truncated {
        return Some((resp, None));
    }
    if resp.body.len() <= INLINE_PARSE_BYTES {
        let sha = crate::digest::sha1(&resp.body);
        return Some((resp, Some(sha)));
    }
    tokio::task::spawn_blocking(move || {
        let sha = crate::digest::sha1(&resp.body);
        (resp, Some(sha))
    })
    .await
    .ok()
}

/// A page labelled HTML whose first bytes say otherwise: a known binary signature
/// (PDF, images, archives, compressed data), or many control bytes. A stray NUL in
/// real markup does not make a page binary.
fn looks_binary(body: &[u8]) -> bool {
    const MAGIC: [&[u8]; 10] = [
        b"%PDF-",
        b"\x89PNG",
        b"GIF8",
        b"\xFF\xD8\xFF",
        b"PK\x03\x04",
        b"\x1F\x8B",
        b"\x00\x00\x01\x00",
        b"RIFF",
        b"\x7FELF",
        b"7z\xBC\xAF",
    ];
    let head = &body[..body.len().min(1024)];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // UTF-16 text is full of NULs but is text: the BOM says so.
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return false;
    }
    // WHATWG's "binary data bytes": controls other than TAB, LF, FF, CR, ESC.
    let binary = head
        .iter()
        .filter(|&&b| {
            b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
        })
        .count();
    binary * 10 > head.len() || (binary > 0 && !head.contains(&b'<'))
}

/// WHATWG-style check for an unlabelled body: after a BOM and whitespace, does it
/// open with a tag HTML documents open with?
fn starts_like_html(body: &[u8]) -> bool {
    let mut head = &body[..body.len().min(512)];
    if let Some(rest) = head.strip_prefix(b"\xEF\xBB\xBF") {
        head = rest;
    }
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = head[start..].to_ascii_lowercase();
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<title",
        "<!--",
        "<a ",
        "<div",
        "<p>",
        "<p ",
    ]
    .iter()
    .any(|t| head.starts_with(t.as_bytes()))
}
