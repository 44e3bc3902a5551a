//! `pages.jsonl`: one JSON object per URL attempted, written when that URL is done,
//! optionally compressed (gzip or zstd) and split into size-rotated parts.
//!
//! # Record schema (a contract: users script against these names)
//!
//! | field            | type             | meaning |
//! |------------------|------------------|---------|
//! | `url`            | string           | canonical URL requested |
//! | `final_url`      | string           | URL the response describes; for a 3xx, the canonical redirect target (which gets its own record when fetched) |
//! | `status`         | integer or null  | HTTP status; null when there was no HTTP response |
//! | `error`          | string or null   | null, or `"<kind>: <detail>"`; kinds: `timeout`, `connect`, `dns`, `too_large`, `blocked`, `robots`, `redirect`, `protocol`, `other`, `host_unreachable` |
//! | `depth`          | integer          | link hops from a seed (seeds are 0; redirect hops keep the depth) |
//! | `content_type`   | string or null   | Content-Type header as sent |
//! | `content_length` | integer          | body bytes received, after decompression (capped at `max_body`) |
//! | `title`          | string or null   | `<title>` text, whitespace collapsed (HTML only) |
//! | `links`          | integer          | distinct http(s) links found on the page |
//! | `canonical`      | string or null   | the page's `<link rel="canonical">` target, absolute |
//! | `noindex`        | boolean          | meta robots or X-Robots-Tag said `noindex` (or `none`) |
//! | `redirect`       | string or null   | `"http"` (a 3xx with Location) or `"refresh"` (a meta refresh followed); then `final_url` is the target |
//! | `etag`, `last_modified` | string or null | the response's `ETag` and `Last-Modified` as sent (what a recrawl asks with); over a `304` that repeats none, the earlier record's |
//! | `digest`         | string or null   | `sha1:` and the base-32 SHA-1 of the whole body after decoding (the archive's `WARC-Payload-Digest`); null for an empty or cut body; over a recrawl's `304`, the earlier record's |
//! | `fetched_at`     | string           | RFC 3339 UTC time the fetch finished |
//! | `elapsed_ms`     | integer          | time spent on this URL's last attempt, robots.txt wait included |
//! | `attempts`       | integer          | fetch attempts made (1 unless retried) |
//! | `requisite`      | boolean          | with `--page-requisites` only: fetched as a page requisite (an image, stylesheet, script... a page needs), not as a link |
//! | `recrawl`        | string or null   | with `--since` only: `new` (not in the earlier crawl), `not_modified` (a `304`), `unchanged` (the earlier status and digest again), `changed`; null when no response came |
//! | `original_date`  | string           | over a recrawl's `304` only: when the payload `digest` names was captured (the crawl that last fetched it whole) |
//! | *(extra keys)*   | any              | extraction results ([`PageRecord::extra`]), after `attempts`, in key name order; absent when there are none |
//!
//! The extra keys: each extra switched on (`description`, `lang`, `meta`,
//! `json_ld`, `text`) on every record, null where nothing was parsed; with
//! rules, `rule` and `data` on every record, and `data_error` when a page matched a
//! rule set but could not be given a DOM.
//!
//! An HTTP error status (404, 500) is an outcome: `status` is set, `error` is null.
//! A body longer than `max_body` is cut: `error` is `"too_large: ..."`, and its links
//! are not followed.
//!
//! # Files
//! Without rotation the records go to `pages.jsonl`, `pages.jsonl.gz` or
//! `pages.jsonl.zst`. With rotation (`rotate_bytes > 0`) they go to numbered parts
//! `pages-00001.jsonl[.gz|.zst]`, `pages-00002...`; a new part is started once the
//! current one holds at least `rotate_bytes` on disk (checked after each write), so
//! a part is at most `rotate_bytes` plus one write batch. [`part_paths`] lists
//! them in order, [`for_each_line`] reads them back. A resumed crawl must use the
//! options of the run that wrote them: mixing is refused, never silently done.
//!
//! # Durability
//! Lines are written whole: each batch of complete lines goes to the file in one
//! `write` call from a single writer thread — compressed, as one complete gzip
//! member or one zstd frame (with checksum), so the file is always a valid
//! concatenation of them. No reader ever sees a half line from a live crawl, and a
//! killed process leaves only complete lines or members (a write that fails half-way,
//! as on a full disk, is cut back to the last whole one; a tail torn by power loss
//! is cut off by [`recover`] on resume). A part is synced before the next one is
//! created, so only the last part can ever be torn. The writer is behind a bounded
//! channel: a slow disk slows the crawl instead of growing memory.
//!
//! With a durable frontier, a record is written only once the store has committed
//! the URLs its page discovered (its `ticket`), and the file is synced about once a
//! second; only then are the recorded URLs' pending entries deleted from the store.
//! So a crash can lose at most the last second of records, whose URLs are still
//! pending and are simply fetched again. This module must never report a record
//! as recorded (to [`recover`]'s caller) that it then cuts off, and never delete a
//! pending entry before its line is synced.

mod parts;
mod read;
mod record;
mod write;

pub use crate::config::Compression;
pub use parts::{all_part_paths, part_paths, stem_for, JsonlOptions, OptionsMismatch};
pub use read::{for_each_line, recover, LinesRead, ReadError, RecordedPage, Recovered};
pub use record::PageRecord;
pub use write::{JsonlSink, Line};

#[cfg(test)]
mod tests;
