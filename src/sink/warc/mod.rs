//! WARC 1.1 archives of what was fetched: `DIR/trawl-<YYYYMMDDhhmmss>-<serial>.warc.gz`,
//! readable by warcio, pywb and the other IIPC tools.
//!
//! # Layout
//! Every file begins with a `warcinfo` record. Each exchange becomes a `response`
//! record (or a `revisit`, see below) followed by its `request` record, which names
//! the response in `WARC-Concurrent-To`. Every record is its own gzip member, so
//! the concatenation is a valid `.warc.gz` and an index can seek straight to any
//! record. Both records of an exchange go to the file in one write and always to
//! the same file: rotation happens only between exchanges.
//!
//! # The stored response is the decoded one
//! The crawler keeps bodies after content decoding (gzip, br, ...) and never sees
//! the bytes on the wire, so an archived head that still said `Content-Encoding:
//! gzip` or gave the wire length would lie about the block that follows it. The
//! head is therefore rewritten, following pywb's convention: `Content-Encoding`,
//! `Transfer-Encoding` and `Content-Length` keep their values but are renamed
//! `X-Archive-Orig-<name>`, and a fresh `Content-Length` giving the stored body's
//! length is appended. `WARC-Payload-Digest` is the SHA-1 of that stored body.
//! (reqwest itself drops `Content-Encoding` and `Content-Length` from a response it
//! decodes, so in a crawl the renamed headers are mostly `Transfer-Encoding`.)
//!
//! # Cut bodies
//! A body cut at `max_body` is still archived: its `response` record holds the
//! bytes that were read and says `WARC-Truncated: length`, as WARC 1.1 specifies.
//! It is never written as a revisit nor used as the original of one.
//!
//! # Revisits
//! A non-empty body whose SHA-1 was already archived in this run is written as a
//! `revisit` record (profile `identical-payload-digest`) holding only the HTTP head
//! and pointing at the first record with `WARC-Refers-To`. Only the first
//! [`DEDUP_DIGESTS`] distinct payloads are remembered (about 150 MB at most);
//! after that, new payloads are stored in full.
//!
//! Across runs, only a recrawl (`--since`) of a crawl that was archived too writes
//! revisits: of profile `server-not-modified` for a `304` (the record names the
//! earlier payload's digest and holds no HTTP head, so that replay serves the
//! earlier capture whole: pywb and wabac.js replay a revisit's own head when it has
//! one, and a 304's would replay as a 304 with no page), and
//! `identical-payload-digest` for a `200` that brought the earlier digest (the
//! record holds its head). Both name the earlier capture by
//! `WARC-Refers-To-Target-URI` and `WARC-Refers-To-Date`, as Heritrix does; its
//! record id is not known to the recrawl, and replay tools (pywb) find the
//! original by URL, date and digest.
//!
//! # What this writer must never do
//! - Leave a live file under a finished name: files are written as `<name>.open`
//!   and renamed after an fsync when rotated away or at [`WarcSink::finish`], so
//!   anything named `*.warc.gz` is complete.
//! - Append to an old file: on [`WarcSink::open`], a `*.warc.gz.open` left by a
//!   killed run is cut back to the end of its last complete gzip member and given
//!   its final name, and new files continue after the highest serial in the
//!   directory.
//! - Leave half a record behind a failed write (a full disk): the file is cut back
//!   to the last whole exchange before the error is returned.
//! - Grow memory without bound: the writer is behind a bounded channel of
//!   exchanges, so a slow disk slows the crawl.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::digest::{sha1, text as digest_text};

mod files;
use files::{finalize, repair_dir};

/// Where and how to write archives.
#[derive(Debug, Clone)]
pub struct WarcOptions {
    /// Directory of the archive files (`OUT/warc`); created if missing.
    pub dir: PathBuf,
    /// Start a new file once the current one is at least this big (0 = never).
    pub rotate_bytes: u64,
    /// Extra `warcinfo` fields, e.g. `("robots", "obey")`. A `software` entry
    /// replaces the default `trawl/<version>`.
    pub info: Vec<(String, String)>,
}

/// One HTTP request and its response, as the crawler saw them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `WARC-Target-URI`.
    pub url: String,
    /// `WARC-Date` of both records.
    pub fetched_at: SystemTime,
    /// `WARC-IP-Address`, when known.
    pub ip: Option<IpAddr>,
    /// The full request head, ending in a blank line.
    pub request_head: Vec<u8>,
    /// As it goes in the status line: `HTTP/1.1`, `HTTP/2.0`, ...
    pub http_version: String,
    pub status: u16,
    /// Reason phrase; when empty, the canonical one for `status` is used.
    pub reason: String,
    /// Response headers as received, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The payload after content decoding.
    pub body: Vec<u8>,
    /// The body was cut at `max_body`: the record holds what was read and says
    /// `WARC-Truncated: length` (WARC 1.1, 5.13).
    pub truncated: bool,
    /// The SHA-1 of `body`, when the crawl computed it already (for the record's
    /// `digest`); computed here otherwise.
    pub payload_sha: Option<[u8; 20]>,
    /// An earlier crawl's archive holds this page's payload (`--since`): written
    /// as a revisit of it.
    pub revisit: Option<Revisit>,
    /// The page's DOM as a browser rendered it (`--render`): archived as a
    /// `conversion` record referring to the response.
    pub rendered: Option<Vec<u8>>,
}

/// What a recrawl's unchanged page refers to: the earlier crawl's capture of the
/// same URL (`WARC-Refers-To-Target-URI` and `-Date`; its record id is not known,
/// and replay tools find the original by URL, date and digest).
#[derive(Debug, Clone)]
pub struct Revisit {
    pub profile: RevisitProfile,
    /// The date of the earlier capture.
    pub date: SystemTime,
    /// The earlier payload's digest (`sha1:...`), for a `304`, which has none of
    /// its own.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisitProfile {
    /// The server answered `304 Not Modified`: the record holds its head.
    ServerNotModified,
    /// A `200` whose payload the earlier capture had: the record holds the head.
    IdenticalPayloadDigest,
}

impl RevisitProfile {
    fn uri(self) -> &'static str {
        match self {
            RevisitProfile::ServerNotModified => {
                "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
            }
            RevisitProfile::IdenticalPayloadDigest => REVISIT_PROFILE,
        }
    }
}

/// Exchanges buffered between the crawl and the writer. Each carries a whole body,
/// so this stays small: 256 pages of 1 MB are already 256 MB.
const CHANNEL_EXCHANGES: usize = 256;
/// Distinct payload digests remembered for revisits (each entry holds a URL, so
/// the map can reach about 150 MB); beyond this, new payloads are not remembered.
pub const DEDUP_DIGESTS: usize = 1_000_000;

const PREFIX: &str = "trawl-";
const SUFFIX: &str = ".warc.gz";
const OPEN_SUFFIX: &str = ".warc.gz.open";
const CONFORMS_TO: &str =
    "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/";
const REVISIT_PROFILE: &str = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest";
/// Headers whose received values describe the wire, not the stored body.
const WIRE_HEADERS: [&str; 3] = ["content-encoding", "transfer-encoding", "content-length"];
const ORIG_PREFIX: &str = "X-Archive-Orig-";

pub struct WarcSink {
    tx: mpsc::Sender<Exchange>,
    writer: JoinHandle<std::io::Result<()>>,
}

impl WarcSink {
    /// Creates the directory, repairs and closes files a killed run left open, and
    /// starts the writer thread. The first file is created with the first exchange,
    /// so a crawl that fetches nothing leaves no archive.
    pub fn open(opts: WarcOptions) -> std::io::Result<WarcSink> {
        std::fs::create_dir_all(&opts.dir)?;
        let next_serial = repair_dir(&opts.dir)?;
        let mut writer = Writer::new(opts, next_serial);
        let (tx, mut rx) = mpsc::channel::<Exchange>(CHANNEL_EXCHANGES);
        let writer = std::thread::Builder::new()
            .name("trawl-warc".into())
            .spawn(move || {
                while let Some(ex) = rx.blocking_recv() {
                    writer.write_exchange(&ex, SystemTime::now())?;
                }
                writer.close_file()
            })?;
        Ok(WarcSink { tx, writer })
    }

    /// Queues an exchange; waits when the writer is behind.
    pub async fn send(&self, ex: Exchange) -> Result<(), super::SinkError> {
        self.tx.send(ex).await.map_err(|_| super::SinkError::Closed)
    }

    /// Writes what is queued, then fsyncs and renames the last file and stops the
    /// writer.
    pub fn finish(self) -> Result<(), super::SinkError> {
        drop(self.tx);
        match self.writer.join() {
            Ok(r) => r.map_err(super::SinkError::Io),
            Err(_) => Err(super::SinkError::Closed),
        }
    }
}

/// The first archive of a payload, for revisits to point at.
struct Original {
    record_id: Uuid,
    date: SystemTime,
    url: Box<str>,
}

/// The file being written.
struct Current {
    file: File,
    /// Path of the live file (`.open`); the final name is this minus the suffix.
    path: PathBuf,
    warcinfo_id: Uuid,
    /// Length of the file's complete members; a failed write is cut back to it.
    len: u64,
}

/// State of the writer thread (owned by it alone).
struct Writer {
    opts: WarcOptions,
    serial: u64,
    current: Option<Current>,
    seen: HashMap<[u8; 20], Original>,
}

impl Writer {
    fn new(opts: WarcOptions, serial: u64) -> Writer {
        Writer {
            opts,
            serial,
            current: None,
            seen: HashMap::new(),
        }
    }

    /// Writes one exchange (response or revisit, then request) in one write, then
    /// rotates if the file has grown big enough. `now` names a new file.
    fn write_exchange(&mut self, ex: &Exchange, now: SystemTime) -> std::io::Result<()> {
        let cur = match self.current.take() {
            Some(cur) => cur,
            None => self.start_file(now)?,
        };
        let bytes = self.exchange_members(ex, cur.warcinfo_id);
        let cur = self.current.insert(cur);
        let bytes = bytes?;
        if let Err(e) = cur.file.write_all(&bytes) {
            // A full disk may have taken part of it: leave only whole exchanges.
            let _ = cur.file.set_len(cur.len);
            return Err(e);
        }
        cur.len += bytes.len() as u64;
        if self.opts.rotate_bytes > 0 && cur.len >= self.opts.rotate_bytes {
            self.close_file()?;
        }
        Ok(())
    }

    /// The gzip members of one exchange, and remembers its payload for revisits.
    // About 85 lines: the request, response (or revisit) and metadata records are
    // written in WARC order with the ids and digests that link them; kept together
    // so the links between the three records can be checked in one read.
    fn exchange_members(&mut self, ex: &Exchange, warcinfo_id: Uuid) -> std::io::Result<Vec<u8>> {
        let date = warc_date(ex.fetched_at);
        let head = response_head(ex);
        let payload_sha = ex.payload_sha.unwrap_or_else(|| sha1(&ex.body));
        let payload_digest = digest_text(&payload_sha);
        let response_id = Uuid::new_v4();

        let mut common: Vec<(&str, String)> = vec![
            ("WARC-Target-URI", clean(&ex.url)),
            ("WARC-Date", date.clone()),
        ];
        if let Some(ip) = ex.ip {
            common.push(("WARC-IP-Address", ip.to_string()));
        }
        common.push(("WARC-Warcinfo-ID", record_id(warcinfo_id)));

        // A cut body is never a revisit, nor the original of one: its digest is
        // not the whole payload's.
        let original = if ex.body.is_empty() || ex.truncated {
            None
        } else {
            self.seen.get(&payload_sha)
        };
        let mut out = Vec::new();
        if let Some(rv) = &ex.revisit {
            // An earlier crawl's capture: a revisit of it, whatever this run holds.
            let digest = match rv.profile {
                RevisitProfile::ServerNotModified => rv.digest.clone(),
                RevisitProfile::IdenticalPayloadDigest => Some(payload_digest),
            };
            let mut headers = vec![
                ("WARC-Type", "revisit".to_string()),
                ("WARC-Record-ID", record_id(response_id)),
            ];
            headers.extend(common.iter().cloned());
            headers.extend([
                ("WARC-Profile", rv.profile.uri().to_string()),
                ("WARC-Refers-To-Target-URI", clean(&ex.url)),
                ("WARC-Refers-To-Date", warc_date(rv.date)),
            ]);
            if let Some(d) = digest {
                headers.push(("WARC-Payload-Digest", clean(&d)));
            }
            // A 304's revisit holds no HTTP head: replay tools (pywb, wabac.js) then
            // serve the earlier capture's status, headers and body, where the 304's
            // head would be replayed as a 304 with no page.
            let block: &[&[u8]] = match rv.profile {
                RevisitProfile::ServerNotModified => &[],
                RevisitProfile::IdenticalPayloadDigest => {
                    headers.push((
                        "Content-Type",
                        "application/http; msgtype=response".to_string(),
                    ));
                    &[&head]
                }
            };
            out.extend(gzip_member(&record(headers, block)?)?);
            out.extend(self.request_member(ex, common.clone(), response_id)?);
            out.extend(conversion_member(ex, common, response_id)?);
            return Ok(out);
        }
        match original {
            Some(orig) => {
                let mut headers = vec![
                    ("WARC-Type", "revisit".to_string()),
                    ("WARC-Record-ID", record_id(response_id)),
                ];
                headers.extend(common.iter().cloned());
                headers.extend([
                    ("WARC-Profile", REVISIT_PROFILE.to_string()),
                    ("WARC-Refers-To-Target-URI", orig.url.to_string()),
                    ("WARC-Refers-To-Date", warc_date(orig.date)),
                    ("WARC-Refers-To", record_id(orig.record_id)),
                    ("WARC-Payload-Digest", payload_digest),
                    (
                        "Content-Type",
                        "application/http; msgtype=response".to_string(),
                    ),
                ]);
                out.extend(gzip_member(&record(headers, &[&head])?)?);
            }
            None => {
                let mut headers = vec![
                    ("WARC-Type", "response".to_string()),
                    ("WARC-Record-ID", record_id(response_id)),
                ];
                headers.extend(common.iter().cloned());
                headers.extend([
                    ("WARC-Payload-Digest", payload_digest),
                    (
                        "Content-Type",
                        "application/http; msgtype=response".to_string(),
                    ),
                ]);
                if ex.truncated {
                    headers.push(("WARC-Truncated", "length".to_string()));
                }
                out.extend(gzip_member(&record(headers, &[&head, &ex.body])?)?);
                if !ex.body.is_empty() && !ex.truncated && self.seen.len() < DEDUP_DIGESTS {
                    self.seen.insert(
                        payload_sha,
                        Original {
                            record_id: response_id,
                            date: ex.fetched_at,
                            url: clean(&ex.url).into(),
                        },
                    );
                }
            }
        }

        out.extend(self.request_member(ex, common.clone(), response_id)?);
        out.extend(conversion_member(ex, common, response_id)?);
        Ok(out)
    }

    /// The `request` record of an exchange, naming its response.
    fn request_member(
        &self,
        ex: &Exchange,
        common: Vec<(&str, String)>,
        response_id: Uuid,
    ) -> std::io::Result<Vec<u8>> {
        let mut headers = vec![
            ("WARC-Type", "request".to_string()),
            ("WARC-Record-ID", record_id(Uuid::new_v4())),
        ];
        headers.extend(common);
        headers.extend([
            ("WARC-Concurrent-To", record_id(response_id)),
            (
                "Content-Type",
                "application/http; msgtype=request".to_string(),
            ),
        ]);
        gzip_member(&record(headers, &[&ex.request_head])?)
    }

    /// Creates the next `.open` file and writes its warcinfo record.
    fn start_file(&mut self, now: SystemTime) -> std::io::Result<Current> {
        let stamp: String = warc_date(now)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let name = format!("{PREFIX}{stamp}-{:05}{SUFFIX}", self.serial);
        self.serial += 1;
        let path = self.opts.dir.join(format!("{name}.open"));
        let mut file = crate::outfile::create_new(&path)?;
        let warcinfo_id = Uuid::new_v4();
        let member = gzip_member(&self.warcinfo(&name, warcinfo_id, now)?)?;
        if let Err(e) = file.write_all(&member) {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Current {
            file,
            path,
            warcinfo_id,
            len: member.len() as u64,
        })
    }

    fn warcinfo(&self, filename: &str, id: Uuid, now: SystemTime) -> std::io::Result<Vec<u8>> {
        let default_software = format!("trawl/{}", env!("CARGO_PKG_VERSION"));
        let software = self
            .opts
            .info
            .iter()
            .find(|(k, _)| k == "software")
            .map_or(default_software.as_str(), |(_, v)| v.as_str());
        let mut fields = format!(
            "software: {}\r\nformat: WARC File Format 1.1\r\nconformsTo: {CONFORMS_TO}\r\n",
            clean(software)
        );
        for (k, v) in self.opts.info.iter().filter(|(k, _)| k != "software") {
            fields.push_str(&format!("{}: {}\r\n", clean(k), clean(v)));
        }
        let headers = vec![
            ("WARC-Type", "warcinfo".to_string()),
            ("WARC-Record-ID", record_id(id)),
            ("WARC-Date", warc_date(now)),
            ("WARC-Filename", filename.to_string()),
            ("Content-Type", "application/warc-fields".to_string()),
        ];
        record(headers, &[fields.as_bytes()])
    }

    /// Fsyncs the current file and gives it its final name.
    fn close_file(&mut self) -> std::io::Result<()> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        cur.file.sync_all()?;
        drop(cur.file);
        finalize(&cur.path)
    }
}

/// The rendered DOM of an exchange (`--render`), when there is one: a WARC 1.1
/// `conversion` record (6.8: "an alternative version of another record's content
/// that was created as the result of an archival process") referring to the
/// response it was rendered from, as `text/html` in UTF-8.
fn conversion_member(
    ex: &Exchange,
    common: Vec<(&str, String)>,
    response_id: Uuid,
) -> std::io::Result<Vec<u8>> {
    let Some(dom) = &ex.rendered else {
        return Ok(Vec::new());
    };
    let mut headers = vec![
        ("WARC-Type", "conversion".to_string()),
        ("WARC-Record-ID", record_id(Uuid::new_v4())),
    ];
    headers.extend(common);
    headers.extend([
        ("WARC-Refers-To", record_id(response_id)),
        ("Content-Type", "text/html; charset=utf-8".to_string()),
    ]);
    gzip_member(&record(headers, &[dom])?)
}

/// The stored response head: status line, headers with the wire-describing ones
/// renamed, the stored body's length, blank line.
fn response_head(ex: &Exchange) -> Vec<u8> {
    let reason = if ex.reason.is_empty() {
        reqwest::StatusCode::from_u16(ex.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
    } else {
        &ex.reason
    };
    let mut head = format!(
        "{} {} {}\r\n",
        clean(&ex.http_version),
        ex.status,
        clean(reason)
    )
    .into_bytes();
    for (name, value) in &ex.headers {
        let name = clean(name);
        if WIRE_HEADERS.iter().any(|w| name.eq_ignore_ascii_case(w)) {
            head.extend_from_slice(ORIG_PREFIX.as_bytes());
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend(
            value
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", ex.body.len()).as_bytes());
    head
}

/// One WARC record: version line, headers (with Content-Length and
/// WARC-Block-Digest added), blank line, block, two CRLFs.
fn record(headers: Vec<(&str, String)>, block: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    let mut hasher = Sha1::new();
    let mut block_len = 0;
    for part in block {
        hasher.update(part);
        block_len += part.len();
    }
    let block_digest = digest_text(&hasher.finalize().into());
    let mut out = Vec::with_capacity(block_len + 1024);
    out.extend_from_slice(b"WARC/1.1\r\n");
    for (name, value) in headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    write!(
        out,
        "WARC-Block-Digest: {block_digest}\r\nContent-Length: {block_len}\r\n\r\n"
    )?;
    for part in block {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\r\n\r\n");
    Ok(out)
}

fn gzip_member(data: &[u8]) -> std::io::Result<Vec<u8>> {
    // The fastest level: one writer thread compresses every byte the crawl
    // fetches, and level 6 made it the bottleneck (3x slower for ~20% smaller files).
    let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 3 + 64), Compression::fast());
    gz.write_all(data)?;
    gz.finish()
}

fn record_id(id: Uuid) -> String {
    format!("<urn:uuid:{id}>")
}

/// RFC 3339 UTC to the second, e.g. `2026-11-25T21:00:00Z`. Times outside years
/// 1970..=9999 (which the formatter cannot show) are clamped.
fn warc_date(t: SystemTime) -> String {
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let t = t.clamp(UNIX_EPOCH, last);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A header value that cannot break the record's framing.
fn clean(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::path::Path;

    fn exchange(url: &str, body: &[u8]) -> Exchange {
        Exchange {
            url: url.into(),
            fetched_at: UNIX_EPOCH + Duration::from_secs(1_795_640_400),
            ip: Some("127.0.0.1".parse().unwrap()),
            request_head: format!(
                "GET {url} HTTP/1.1\r\nHost: e.com\r\nUser-Agent: trawl-test\r\n\r\n"
            )
            .into_bytes(),
            http_version: "HTTP/1.1".into(),
            status: 200,
            reason: String::new(),
            headers: vec![
                ("Content-Type".into(), b"text/html; charset=utf-8".to_vec()),
                ("content-encoding".into(), b"gzip".to_vec()),
                ("Transfer-Encoding".into(), b"chunked".to_vec()),
                ("Content-Length".into(), b"7".to_vec()),
                ("X-Bad".into(), b"a\r\nInjected: yes".to_vec()),
            ],
            body: body.to_vec(),
            truncated: false,
            payload_sha: None,
            revisit: None,
            rendered: None,
        }
    }

    /// A record read back: its headers in order and its block.
    #[derive(Debug)]
    struct Rec {
        headers: Vec<(String, String)>,
        block: Vec<u8>,
    }

    impl Rec {
        fn get(&self, name: &str) -> &str {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
        }
        fn has(&self, name: &str) -> bool {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        }
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .expect("separator")
    }

    /// Decodes a file member by member, checking that each member is exactly one
    /// whole record.
    fn read_records(path: &Path) -> Vec<Rec> {
        let data = std::fs::read(path).unwrap();
        let mut rest = &data[..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let mut dec = flate2::bufread::GzDecoder::new(rest);
            let mut member = Vec::new();
            dec.read_to_end(&mut member).unwrap();
            rest = dec.into_inner();
            assert!(member.starts_with(b"WARC/1.1\r\n"), "{member:?}");
            let head_end = find(&member, b"\r\n\r\n");
            let head = std::str::from_utf8(&member[10..head_end]).unwrap();
            let headers: Vec<(String, String)> = head
                .split("\r\n")
                .map(|l| {
                    let (k, v) = l.split_once(": ").unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            let mut rec = Rec {
                headers,
                block: Vec::new(),
            };
            let len: usize = rec.get("Content-Length").parse().unwrap();
            let start = head_end + 4;
            // The member holds the block, the closing CRLFs and nothing else.
            assert_eq!(member.len(), start + len + 4, "{rec:?}");
            assert_eq!(&member[start + len..], b"\r\n\r\n");
            rec.block = member[start..start + len].to_vec();
            assert_eq!(rec.get("WARC-Block-Digest"), digest_text(&sha1(&rec.block)));
            out.push(rec);
        }
        out
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn opts(dir: &Path, rotate_bytes: u64) -> WarcOptions {
        WarcOptions {
            dir: dir.to_path_buf(),
            rotate_bytes,
            info: vec![("robots".into(), "obey".into())],
        }
    }

    #[tokio::test]
    async fn records_are_whole_linked_and_digested() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("warc");
        let sink = WarcSink::open(opts(&dir, 0)).unwrap();
        sink.send(exchange("http://e.com/a", b"<p>hello</p>"))
            .await
            .unwrap();
        sink.send(exchange("http://e.com/b", b"")).await.unwrap();
        sink.send(exchange("http://e.com/c", b"<p>hello</p>"))
            .await
            .unwrap();
        sink.send(exchange("http://e.com/d", b"")).await.unwrap();
        sink.finish().unwrap();

        let names = files(&dir);
        assert_eq!(names.len(), 1, "{names:?}");
        let name = &names[0];
        assert!(name.starts_with("trawl-") && name.ends_with("-00000.warc.gz"));
        assert_eq!(name.len(), "trawl-20261125210000-00000.warc.gz".len());
        let recs = read_records(&dir.join(name));
        let types: Vec<&str> = recs.iter().map(|r| r.get("WARC-Type")).collect();
        assert_eq!(
            types,
            [
                "warcinfo", "response", "request", "response", "request", "revisit", "request",
                "response", "request"
            ]
        );

        let info = &recs[0];
        assert_eq!(info.get("WARC-Filename"), name);
        assert_eq!(info.get("Content-Type"), "application/warc-fields");
        let fields = String::from_utf8(info.block.clone()).unwrap();
        assert!(fields.starts_with("software: trawl/"));
        assert!(fields.contains("format: WARC File Format 1.1\r\n"));
        assert!(fields.contains(&format!("conformsTo: {CONFORMS_TO}\r\n")));
        assert!(fields.contains("robots: obey\r\n"));
        let info_id = info.get("WARC-Record-ID");

        for pair in recs[1..].chunks(2) {
            let (resp, req) = (&pair[0], &pair[1]);
            assert_eq!(resp.get("WARC-Warcinfo-ID"), info_id);
            assert_eq!(req.get("WARC-Warcinfo-ID"), info_id);
            assert_eq!(req.get("WARC-Concurrent-To"), resp.get("WARC-Record-ID"));
            assert_ne!(req.get("WARC-Record-ID"), resp.get("WARC-Record-ID"));
            assert!(resp.get("WARC-Record-ID").starts_with("<urn:uuid:"));
            assert_eq!(resp.get("WARC-Target-URI"), req.get("WARC-Target-URI"));
            assert_eq!(resp.get("WARC-Date"), "2026-11-25T21:00:00Z");
            assert_eq!(req.get("WARC-Date"), "2026-11-25T21:00:00Z");
            assert_eq!(resp.get("WARC-IP-Address"), "127.0.0.1");
            assert_eq!(
                resp.get("Content-Type"),
                "application/http; msgtype=response"
            );
            assert_eq!(req.get("Content-Type"), "application/http; msgtype=request");
            let url = req.get("WARC-Target-URI");
            assert_eq!(
                req.block,
                format!("GET {url} HTTP/1.1\r\nHost: e.com\r\nUser-Agent: trawl-test\r\n\r\n")
                    .as_bytes()
            );
            let body: &[u8] = if url.ends_with('a') || url.ends_with('c') {
                b"<p>hello</p>"
            } else {
                b""
            };
            assert_eq!(resp.get("WARC-Payload-Digest"), digest_text(&sha1(body)));
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 X-Archive-Orig-content-encoding: gzip\r\n\
                 X-Archive-Orig-Transfer-Encoding: chunked\r\n\
                 X-Archive-Orig-Content-Length: 7\r\nX-Bad: a  Injected: yes\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            if resp.get("WARC-Type") == "revisit" {
                assert_eq!(resp.block, head.as_bytes());
                assert!(!resp.has("WARC-Truncated"));
            } else {
                assert_eq!(resp.block, [head.as_bytes(), body].concat());
                assert!(!resp.has("WARC-Refers-To"));
            }
        }

        // The duplicate body points at the first response that stored it.
        let revisit = &recs[5];
        assert_eq!(revisit.get("WARC-Target-URI"), "http://e.com/c");
        assert_eq!(revisit.get("WARC-Profile"), REVISIT_PROFILE);
        assert_eq!(revisit.get("WARC-Refers-To"), recs[1].get("WARC-Record-ID"));
        assert_eq!(revisit.get("WARC-Refers-To-Target-URI"), "http://e.com/a");
        assert_eq!(revisit.get("WARC-Refers-To-Date"), recs[1].get("WARC-Date"));
    }

    #[tokio::test]
    async fn a_cut_body_is_archived_as_read_and_marked_truncated() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("warc");
        let sink = WarcSink::open(opts(&dir, 0)).unwrap();
        let mut cut = exchange("http://e.com/big", b"<p>first bytes");
        cut.truncated = true;
        sink.send(cut).await.unwrap();
        // The same bytes again, whole this time: stored, not a revisit of the cut one.
        sink.send(exchange("http://e.com/whole", b"<p>first bytes"))
            .await
            .unwrap();
        sink.finish().unwrap();
        let recs = read_records(&dir.join(&files(&dir)[0]));
        let types: Vec<&str> = recs.iter().map(|r| r.get("WARC-Type")).collect();
        assert_eq!(
            types,
            ["warcinfo", "response", "request", "response", "request"]
        );
        assert_eq!(recs[1].get("WARC-Truncated"), "length");
        assert!(recs[1].block.ends_with(b"\r\n\r\n<p>first bytes"));
        assert!(!recs[3].has("WARC-Truncated"));
    }

    #[tokio::test]
    async fn rotation_makes_several_finished_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let sink = WarcSink::open(opts(&dir, 1)).unwrap();
        for i in 0..4 {
            let body = format!("page {i}");
            sink.send(exchange(&format!("http://e.com/{i}"), body.as_bytes()))
                .await
                .unwrap();
        }
        sink.finish().unwrap();
        let names = files(&dir);
        assert_eq!(names.len(), 4, "{names:?}");
        for (i, name) in names.iter().enumerate() {
            assert!(name.ends_with(&format!("-{i:05}.warc.gz")), "{name}");
            let recs = read_records(&dir.join(name));
            let types: Vec<&str> = recs.iter().map(|r| r.get("WARC-Type")).collect();
            assert_eq!(types, ["warcinfo", "response", "request"]);
            assert_eq!(recs[0].get("WARC-Filename"), name);
            assert_eq!(
                recs[1].get("WARC-Warcinfo-ID"),
                recs[0].get("WARC-Record-ID")
            );
        }
    }

    #[tokio::test]
    async fn a_torn_open_file_is_cut_closed_and_never_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        // A killed run: its writer wrote two exchanges, then half a third.
        let mut w = Writer::new(opts(&dir, 0), 7);
        let now = SystemTime::now();
        w.write_exchange(&exchange("http://e.com/1", b"one"), now)
            .unwrap();
        w.write_exchange(&exchange("http://e.com/2", b"two"), now)
            .unwrap();
        let cur = w.current.take().unwrap();
        let whole = cur.len;
        let open_path = cur.path.clone();
        let mut file = cur.file;
        let torn = gzip_member(b"WARC/1.1\r\nWARC-Type: response\r\n").unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(file);
        assert!(std::fs::metadata(&open_path).unwrap().len() > whole);
        // And an older finished file with a lower serial.
        std::fs::write(dir.join("trawl-20200101000000-00003.warc.gz"), b"").unwrap();

        let sink = WarcSink::open(opts(&dir, 0)).unwrap();
        let final_path = open_path.with_extension("");
        assert!(!open_path.exists());
        assert_eq!(std::fs::metadata(&final_path).unwrap().len(), whole);
        let types: Vec<String> = read_records(&final_path)
            .iter()
            .map(|r| r.get("WARC-Type").to_string())
            .collect();
        assert_eq!(
            types,
            ["warcinfo", "response", "request", "response", "request"]
        );

        sink.send(exchange("http://e.com/3", b"three"))
            .await
            .unwrap();
        sink.finish().unwrap();
        let names = files(&dir);
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(".warc.gz")));
        let newest = names
            .iter()
            .find(|n| n.ends_with("-00008.warc.gz"))
            .unwrap();
        assert_eq!(read_records(&dir.join(newest)).len(), 3);
        // The repaired file was left as it was.
        assert_eq!(std::fs::metadata(&final_path).unwrap().len(), whole);
    }

    #[test]
    fn an_open_file_with_nothing_whole_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let torn = gzip_member(b"WARC/1.1\r\n").unwrap();
        let path = dir.join("trawl-20260101000000-00002.warc.gz.open");
        std::fs::write(&path, &torn[..5]).unwrap();
        assert_eq!(repair_dir(dir).unwrap(), 3);
        assert!(files(dir).is_empty());
    }

    #[test]
    fn dates_are_rfc3339_seconds_and_never_panic() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_640_400_123);
        assert_eq!(warc_date(t), "2026-11-25T21:00:00Z");
        assert_eq!(
            warc_date(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(warc_date(far), "9999-12-31T23:59:59Z");
    }

    /// Leaves a sample archive in `$TRAWL_WARC_SAMPLE` (default /tmp/trawl-warc-sample)
    /// for checking by hand with warcio: `warcio check -v FILE`, `warcio index FILE`.
    #[tokio::test]
    #[ignore]
    async fn sample_for_warcio() {
        let dir = PathBuf::from(
            std::env::var("TRAWL_WARC_SAMPLE").unwrap_or("/tmp/trawl-warc-sample".into()),
        );
        let _ = std::fs::remove_dir_all(&dir);
        let sink = WarcSink::open(WarcOptions {
            dir: dir.clone(),
            rotate_bytes: 0,
            info: vec![
                ("software".into(), "trawl/0.1.0".into()),
                ("robots".into(), "obey".into()),
            ],
        })
        .unwrap();
        sink.send(exchange("http://e.com/a", b"<p>hello</p>"))
            .await
            .unwrap();
        sink.send(exchange("http://e.com/b", b"")).await.unwrap();
        let mut h2 = exchange("https://e.com/c?x=1", b"<p>hello</p>");
        h2.http_version = "HTTP/2.0".into();
        h2.ip = Some("::1".parse().unwrap());
        sink.send(h2).await.unwrap();
        let mut nf = exchange("http://e.com/missing", b"not found");
        nf.status = 404;
        sink.send(nf).await.unwrap();
        sink.finish().unwrap();
        println!("{}", dir.display());
    }
}
