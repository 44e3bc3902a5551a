//! Hostile replies for the fixture server: the traps that break HTTP, served on the
//! raw socket ([`Reply::Hang`](super::Reply::Hang), `Trickle`, `Stall`, `RawBytes`,
//! [`Reply::Reset`](super::Reply::Reset)), the generated bodies of the valid but hostile
//! `Big` and `Endless` replies (which hyper writes), hostile pages ([`link_page`],
//! [`deep_nesting`]) and gzip bombs ([`gzip_bomb`], [`gzip_bomb_1g`]).
//!
//! Every trap runs inside its connection's task, so it blocks no other connection, and is
//! cancelled (its socket dropped) when the `Site` is dropped.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What [`Reply::Reset`](super::Reply::Reset) writes before the RST.
pub const RESET_PARTIAL_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Ty";

/// The first bytes of every [`Reply::Big`](super::Reply::Big) body.
pub const BIG_BODY_PREFIX: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
    <title>Big</title></head>\n<body><p><a href=\"/big-link\">big link</a></p>\n";

/// The first bytes of every [`Reply::Endless`](super::Reply::Endless) body.
pub const ENDLESS_BODY_PREFIX: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
    <title>Endless</title></head>\n<body>\n";

/// Filler paragraph repeated by `Big` and `Endless` (no links).
const PARAGRAPH: &str =
    "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n";

/// Approximate size of one `Endless` chunk.
const ENDLESS_CHUNK: usize = 16 * 1024;
/// `Big` writes its paragraphs in blocks of about this size.
const BIG_BLOCK: usize = 64 * 1024;
/// Bound on the reads of a hung connection's discarded input (4 KiB each: 4 TiB).
const MAX_DISCARD_READS: u64 = 1 << 30;

/// A trap that breaks HTTP, so the connection serves it instead of hyper.
pub(super) enum Trap {
    Hang,
    Trickle {
        head: String,
        body: Vec<u8>,
        every: Duration,
    },
    Stall {
        head: String,
        first: Vec<u8>,
    },
    RawBytes(Vec<u8>),
    Reset,
}

/// What a connection does after its trap.
pub(super) enum After {
    /// Send FIN and drain.
    Close,
    /// Just drop the socket (the client is gone or the write failed).
    Drop,
    /// Close with a TCP RST.
    Reset,
}

/// Serves one trap on `stream` (whose request head has been read) and says how the
/// connection ends.
pub(super) async fn serve_trap(stream: &mut TcpStream, trap: Trap) -> After {
    match trap {
        Trap::Hang => hold_open(stream).await,
        Trap::Trickle { head, body, every } => {
            if write_flush(stream, head.as_bytes()).await.is_err() {
                return After::Drop;
            }
            for byte in body {
                // The pacing is the trap: one byte per `every`.
                tokio::time::sleep(every).await;
                if write_flush(stream, &[byte]).await.is_err() {
                    return After::Drop;
                }
            }
            After::Close
        }
        Trap::Stall { head, first } => {
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(&first);
            if write_flush(stream, &bytes).await.is_err() {
                return After::Drop;
            }
            hold_open(stream).await
        }
        Trap::RawBytes(bytes) => match write_flush(stream, &bytes).await {
            Ok(()) => After::Close,
            Err(_) => After::Drop,
        },
        Trap::Reset => {
            let _ = write_flush(stream, RESET_PARTIAL_HEAD).await;
            After::Reset
        }
    }
}

async fn write_flush(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Never returns: reads and discards whatever the client still sends, then (at EOF or on
/// an error) keeps the socket as it is. Only dropping the `Site` (which cancels the
/// connection task) ends it.
async fn hold_open(stream: &mut TcpStream) -> After {
    let mut sink = [0u8; 4096];
    for _ in 0..MAX_DISCARD_READS {
        match stream.read(&mut sink).await {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    std::future::pending().await
}

/// Chunk `i` (from 0) of an `Endless` body: a link to `/endless/i` and filler, after
/// [`ENDLESS_BODY_PREFIX`] in chunk 0.
pub(super) fn endless_chunk(i: u64) -> Bytes {
    static FILLER: OnceLock<String> = OnceLock::new();
    let filler = FILLER.get_or_init(|| PARAGRAPH.repeat(ENDLESS_CHUNK / PARAGRAPH.len()));
    let mut data = String::with_capacity(filler.len() + ENDLESS_BODY_PREFIX.len() + 64);
    if i == 0 {
        data.push_str(ENDLESS_BODY_PREFIX);
    }
    data.push_str(&format!("<p><a href=\"/endless/{i}\">more {i}</a></p>\n"));
    data.push_str(filler);
    Bytes::from(data)
}

/// The next piece of a `Big` body of `len` bytes of which `sent` are sent: the prefix,
/// then blocks of whole paragraphs (so blocks join seamlessly), all cut at `len`.
/// `None` once `len` bytes are sent.
pub(super) fn big_block(sent: u64, len: u64) -> Option<Bytes> {
    static BLOCK: OnceLock<Bytes> = OnceLock::new();
    if sent >= len {
        return None;
    }
    let left = usize::try_from(len - sent).unwrap_or(usize::MAX);
    let prefix = BIG_BODY_PREFIX.as_bytes();
    let at = usize::try_from(sent).unwrap_or(usize::MAX);
    if at < prefix.len() {
        let piece = &prefix[at..];
        return Some(Bytes::from_static(&piece[..piece.len().min(left)]));
    }
    let block = BLOCK.get_or_init(|| Bytes::from(PARAGRAPH.repeat(BIG_BLOCK / PARAGRAPH.len())));
    Some(block.slice(..block.len().min(left)))
}

// ---------------------------------------------------------------------------------------
// Hostile pages
// ---------------------------------------------------------------------------------------

/// The doctype, head and `<body>` of a page titled `title`, in a string with room for
/// `capacity` bytes.
fn page_start(title: &str, capacity: usize) -> String {
    let mut html = String::with_capacity(capacity);
    html.push_str(&format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n"
    ));
    html
}

/// An HTML page with `n` distinct links, `/l/0` .. `/l/{n-1}`, in that order.
pub fn link_page(n: usize) -> String {
    let mut html = page_start("Links", 128 + n * 40);
    for i in 0..n {
        html.push_str(&format!("<a href=\"/l/{i}\">link {i}</a>\n"));
    }
    html.push_str("</body></html>\n");
    html
}

/// HTML with `depth` nested `<div>`s, a link to `/deep-link` inside the innermost one and
/// a link to `/after-deep` after all of them are closed. Built without recursion.
pub fn deep_nesting(depth: usize) -> String {
    let mut html = page_start("Deep", 256 + depth * 11);
    for _ in 0..depth {
        html.push_str("<div>");
    }
    html.push_str("<a href=\"/deep-link\">deep</a>");
    for _ in 0..depth {
        html.push_str("</div>");
    }
    html.push_str("\n<p><a href=\"/after-deep\">after</a></p>\n</body></html>\n");
    html
}

// ---------------------------------------------------------------------------------------
// Gzip bombs
// ---------------------------------------------------------------------------------------

const MIB: usize = 1 << 20;

/// A gzip stream (RFC 1952, one member) that decompresses to `decompressed` zero bytes;
/// about 1 MiB per GiB. Fast even in a debug build (1 GiB in well under a second):
///
/// 1 MiB zero buffers are fed to a flate2 deflater, each ended by a sync flush, so each
/// buffer's output is a whole number of non-final deflate blocks ending on a byte
/// boundary. From the second buffer on, that output only refers back to zeros, so it is
/// the same valid encoding of "1 MiB more zeros" after any amount of zeros: it is encoded
/// once and repeated, instead of compressing every buffer (which takes ~17 s per GiB in a
/// debug build). The CRC-32 of the zeros is computed per 1 MiB once and combined.
pub fn gzip_bomb(decompressed: u64) -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let full = decompressed / MIB as u64;
    let rest = (decompressed % MIB as u64) as usize;

    // Header: magic, CM=deflate, no flags, no mtime, no extra flags, OS unknown.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.reserve(
        usize::try_from(full)
            .unwrap_or(0)
            .saturating_mul(1100)
            .min(64 * MIB)
            + 4096,
    );
    let mut deflater = Compress::new(Compression::default(), false);
    let mut crc = Crc::new();
    let mut mib_crc = Crc::new();
    mib_crc.update(&zeros);

    let mut repeat: Option<Vec<u8>> = None;
    for i in 0..full {
        crc.combine(&mib_crc);
        match &repeat {
            Some(blocks) => out.extend_from_slice(blocks),
            None => {
                let blocks = deflate(&mut deflater, &zeros, FlushCompress::Sync);
                out.extend_from_slice(&blocks);
                if i >= 1 {
                    repeat = Some(blocks);
                }
            }
        }
    }
    let mut rest_crc = Crc::new();
    rest_crc.update(&zeros[..rest]);
    crc.combine(&rest_crc);
    out.extend_from_slice(&deflate(
        &mut deflater,
        &zeros[..rest],
        FlushCompress::Finish,
    ));

    // Trailer: CRC-32 and ISIZE (the size modulo 2^32), little-endian.
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(decompressed as u32).to_le_bytes());
    out
}

/// [`gzip_bomb`] of 1 GiB, built once per test process.
pub fn gzip_bomb_1g() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| gzip_bomb(1 << 30))
}

/// Feeds all of `input` to `deflater` with `flush` (`Sync` or `Finish`) and returns the
/// output produced.
fn deflate(deflater: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 256 + 1024);
    let start = deflater.total_in();
    // Every round either finishes or doubles the output space: bounded.
    for _ in 0..64 {
        let consumed = (deflater.total_in() - start) as usize;
        let status = deflater
            .compress_vec(&input[consumed..], &mut out, flush)
            .expect("gzip_bomb: deflate failed");
        let all_in = deflater.total_in() - start == input.len() as u64;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // A flush is complete once all input is taken and output space is left over.
            _ => all_in && out.len() < out.capacity(),
        };
        if done {
            return out;
        }
        out.reserve(out.capacity().max(1024));
    }
    panic!("gzip_bomb: deflate did not finish");
}
