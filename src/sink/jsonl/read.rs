//! Reading pages files back: every whole line of every part in order (decompressing
//! as needed), and on resume making an interrupted crawl's files whole again.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::parts::{parts, Part, Which};
use super::Compression;

/// Why [`for_each_line`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The callback's own error, passed through.
    #[error(transparent)]
    Callback(E),
}

/// What [`for_each_line`] read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinesRead {
    pub parts: usize,
    /// Complete lines passed to the callback.
    pub lines: u64,
    /// Bytes after a part's last complete line (plain) or member/frame
    /// (compressed) that could not be read: a torn or damaged tail.
    pub torn_bytes: u64,
}

/// Streams every complete line (without its `\n`) of every part in `dir` (every
/// process's, in a shared crawl's directory), in order, decompressing as needed. A torn or damaged tail of a part is skipped
/// (counted in `torn_bytes`), not an error, and left in place; complete lines that
/// decoded before the damage are passed on. Memory is one buffer, whatever the
/// file size. Stops at the first error the callback returns.
pub fn for_each_line<E>(
    dir: &Path,
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<LinesRead, ReadError<E>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Io { path, source }
    };
    let mut read = LinesRead::default();
    for part in parts(dir, Which::Any).map_err(io(dir))? {
        let r = read_part(&part, &mut f)?;
        read.parts += 1;
        read.lines += r.lines;
        read.torn_bytes += r.len - r.whole;
    }
    Ok(read)
}

/// How far one part could be read.
pub(super) struct PartRead {
    /// Bytes up to the end of the last complete line or member: a valid file.
    whole: u64,
    len: u64,
    lines: u64,
}

/// Counts bytes consumed, so the end of each compressed member is known exactly.
pub(super) struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// Splits decoded bytes into lines, carrying a partial line between reads.
pub(super) struct Lines<'f, F> {
    pending: Vec<u8>,
    lines: u64,
    f: &'f mut F,
}

impl<E, F: FnMut(&[u8]) -> Result<(), E>> Lines<'_, F> {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), E> {
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                (self.f)(&data[..i])?;
            } else {
                self.pending.extend_from_slice(&data[..i]);
                let line = std::mem::take(&mut self.pending);
                (self.f)(&line)?;
                self.pending = line;
                self.pending.clear();
            }
            self.lines += 1;
            data = &data[i + 1..];
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }
}

/// Decodes one member or frame through `lines`; Ok(false) when it is torn or
/// damaged (the decoder failed), so the caller stops before it.
pub(super) fn decode_member<E, F: FnMut(&[u8]) -> Result<(), E>>(
    mut decoder: impl Read,
    buf: &mut [u8],
    lines: &mut Lines<'_, F>,
) -> Result<bool, E> {
    loop {
        match decoder.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => lines.feed(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(false),
        }
    }
}

pub(super) fn read_part<E>(
    part: &Part,
    f: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<PartRead, ReadError<E>> {
    let io = |source| ReadError::Io {
        path: part.path.clone(),
        source,
    };
    let file = File::open(&part.path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut input = Counted {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        pos: 0,
    };
    let mut lines = Lines {
        pending: Vec::new(),
        lines: 0,
        f,
    };
    let mut whole = 0;
    let mut buf = vec![0u8; 64 * 1024];
    if part.compress == Compression::None {
        loop {
            let n = input.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            lines.feed(&buf[..n]).map_err(ReadError::Callback)?;
        }
        // Everything but a last line without its newline (torn) was whole.
        whole = input.pos - lines.pending.len() as u64;
    } else {
        while !input.fill_buf().map_err(io)?.is_empty() {
            let complete = match part.compress {
                Compression::Gzip => decode_member(
                    flate2::bufread::GzDecoder::new(&mut input),
                    &mut buf,
                    &mut lines,
                ),
                _ => {
                    let decoder = zstd::stream::read::Decoder::with_buffer(&mut input)
                        .map_err(io)?
                        .single_frame();
                    decode_member(decoder, &mut buf, &mut lines)
                }
            }
            .map_err(ReadError::Callback)?;
            if !complete {
                break;
            }
            whole = input.pos;
        }
    }
    Ok(PartRead {
        whole,
        // A live crawl may have appended since the length was taken.
        len: len.max(input.pos),
        lines: lines.lines,
    })
}

/// Length of the valid prefix of a part: through its last newline (plain, found
/// from the end without reading the rest) or its last complete member (decoded).
pub(super) fn whole_len(part: &Part) -> std::io::Result<(u64, u64)> {
    if part.compress != Compression::None {
        let r = read_part(part, &mut |_: &[u8]| Ok::<(), std::convert::Infallible>(())).map_err(
            |e| match e {
                ReadError::Io { source, .. } => source,
                ReadError::Callback(never) => match never {},
            },
        )?;
        return Ok((r.whole, r.len));
    }
    let mut file = File::open(&part.path)?;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok((start + i as u64 + 1, len));
        }
        end = start;
    }
    Ok((0, len))
}

/// One earlier record, as read back on resume.
#[derive(Debug, serde::Deserialize)]
pub struct RecordedPage {
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    #[serde(default)]
    pub content_length: u64,
}

/// What [`recover`] found in an earlier crawl's pages files.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Complete records read.
    pub records: u64,
    /// Bytes of a torn tail (line, gzip member or zstd frame) cut off the last part.
    pub torn_bytes: u64,
    /// Bytes of damaged tails of earlier parts, skipped and left in place (a part
    /// is synced before the next starts, so this needs damage beyond a crash).
    pub unreadable_bytes: u64,
    /// Complete lines that were not records (skipped).
    pub bad_lines: u64,
    /// Fingerprints of the recorded URLs.
    pub fingerprints: HashSet<u64>,
}

/// Makes an interrupted crawl's pages files whole again (a torn tail of the last
/// part is cut off first, so no record that is then cut is ever reported) and
/// reads back what they record, calling `each` for every record. A compressed last
/// part is decoded twice (once to find its whole length, once to read it): the price
/// of never holding a whole member in memory.
pub fn recover(dir: &Path, mut each: impl FnMut(&RecordedPage)) -> std::io::Result<Recovered> {
    let mut out = Recovered::default();
    if let Some(last) = parts(dir, Which::Stem("pages"))?.last() {
        let (whole, len) = whole_len(last)?;
        if whole < len {
            out.torn_bytes = len - whole;
            let file = crate::outfile::open_existing(&last.path)?;
            file.set_len(whole)?;
            file.sync_all()?;
        }
    }
    let read = for_each_line(dir, |line| {
        match serde_json::from_slice::<RecordedPage>(line) {
            Ok(page) => {
                out.records += 1;
                out.fingerprints
                    .insert(crate::canon::fingerprint_str(&page.url));
                each(&page);
            }
            Err(_) => out.bad_lines += 1,
        }
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        ReadError::Io { path, source } => {
            std::io::Error::new(source.kind(), format!("{}: {source}", path.display()))
        }
        ReadError::Callback(never) => match never {},
    })?;
    out.unreadable_bytes = read.torn_bytes;
    Ok(out)
}
