//! One record of pages.jsonl and its one-line JSON form (the schema is in the
//! module docs of `sink::jsonl`).

use serde::Serialize;

use crate::journal::{Pending, Ticket};

/// One line of pages.jsonl. Field order here is the order in the file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PageRecord {
    pub url: String,
    pub final_url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub depth: u32,
    pub content_type: Option<String>,
    pub content_length: u64,
    pub title: Option<String>,
    pub links: usize,
    pub canonical: Option<String>,
    pub noindex: bool,
    pub redirect: Option<&'static str>,
    /// The response's `ETag` and `Last-Modified`, as sent (null when absent): what
    /// a later crawl asks `If-None-Match` / `If-Modified-Since` with.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `sha1:` and the base-32 SHA-1 of the whole body after content decoding (as
    /// the archive's `WARC-Payload-Digest`); null with no body or a cut one. Over
    /// a recrawl's `304`, the earlier record's.
    pub digest: Option<String>,
    pub fetched_at: String,
    pub elapsed_ms: u64,
    pub attempts: u32,
    /// Whether the URL was fetched as a page requisite; present on every record
    /// with `--page-requisites` only (absent otherwise, so the default schema is
    /// unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requisite: Option<bool>,
    /// With `--since` only: `new`, `not_modified`, `unchanged` or `changed` (null
    /// when no response came); see `recrawl::Change`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recrawl: Option<Option<&'static str>>,
    /// Over a recrawl's `304` only: when the payload `digest` names was captured
    /// (the first crawl that fetched it), which the next recrawl's archive refers to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_date: Option<String>,
    /// Whether the page was rendered in a browser; present on every record when
    /// rendering is on (`--render auto|always` or a `[[hosts]]` table's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<bool>,
    /// Why it was rendered: `always`, or in `auto` the signal that said the page
    /// is built by script (`app_root`, `noscript`, `little_content`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render_reason: Option<&'static str>,
    /// Extraction results, written as top-level keys after `attempts` (in key name
    /// order: serde_json's map is sorted). Empty adds nothing to the line.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The commit this record waits for (its page's discoveries; see `journal`).
    #[serde(skip)]
    pub ticket: Ticket,
    /// The URL's pending entry, forgotten once this line is synced.
    #[serde(skip)]
    pub done: Option<Pending>,
}

pub(super) fn push_line(batch: &mut Vec<u8>, record: &PageRecord) {
    // Serialising strings, numbers and JSON values cannot fail; skip rather than panic.
    if serde_json::to_writer(&mut *batch, record).is_ok() {
        batch.push(b'\n');
    }
}
