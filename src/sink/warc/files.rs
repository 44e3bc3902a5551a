//! The archive's files on disk: a finished file's rename, and the repair of the
//! files a killed run left open (cut back to their last whole gzip member).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;

use super::{OPEN_SUFFIX, PREFIX, SUFFIX};

/// Renames `<name>.open` to `<name>` (never over an existing file) and syncs the
/// directory so the rename survives a crash.
pub(super) fn finalize(open_path: &Path) -> std::io::Result<()> {
    let final_path = open_path.with_extension("");
    if final_path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "cannot close {}: {} already exists",
                open_path.display(),
                final_path.display()
            ),
        ));
    }
    std::fs::rename(open_path, &final_path)?;
    if let Some(dir) = final_path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Repairs and closes every `*.warc.gz.open` in `dir`; returns the serial the next
/// file should get (one past the highest found).
pub(super) fn repair_dir(dir: &Path) -> std::io::Result<u64> {
    let mut next = 0;
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(serial) = serial_of(&name) else {
            continue;
        };
        next = next.max(serial + 1);
        if name.ends_with(OPEN_SUFFIX) {
            leftovers.push(entry.path());
        }
    }
    leftovers.sort();
    for path in leftovers {
        let (whole, len) = repair_file(&path)?;
        if whole == 0 {
            // Not even the warcinfo record got out: nothing worth keeping.
            tracing::warn!("removing empty unfinished archive {}", path.display());
            std::fs::remove_file(&path)?;
            continue;
        }
        if whole < len {
            tracing::warn!(
                "cut {} torn bytes off unfinished archive {}",
                len - whole,
                path.display()
            );
        }
        finalize(&path)?;
    }
    Ok(next)
}

/// The serial in `trawl-<stamp>-<serial>.warc.gz[.open]`.
fn serial_of(name: &str) -> Option<u64> {
    let stem = name
        .strip_suffix(OPEN_SUFFIX)
        .or_else(|| name.strip_suffix(SUFFIX))?
        .strip_prefix(PREFIX)?;
    let (_, serial) = stem.rsplit_once('-')?;
    serial.parse().ok()
}

/// Cuts a file back to the end of its last complete gzip member (decoded, CRC
/// checked); returns (kept length, original length).
fn repair_file(path: &Path) -> std::io::Result<(u64, u64)> {
    let file = crate::outfile::open_existing(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut whole = 0;
    loop {
        if reader.fill_buf()?.is_empty() {
            break;
        }
        // bufread::GzDecoder consumes exactly one member from the reader.
        let mut member = flate2::bufread::GzDecoder::new(&mut reader);
        if std::io::copy(&mut member, &mut std::io::sink()).is_err() {
            break; // torn or corrupt: everything from here on goes
        }
        whole = reader.stream_position()?;
    }
    if whole < len {
        let file = reader.into_inner();
        file.set_len(whole)?;
        file.sync_all()?;
    }
    Ok((whole, len))
}
