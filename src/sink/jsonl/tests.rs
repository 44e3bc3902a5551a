use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use super::parts::*;
use super::read::*;
use super::record::push_line;
use super::write::*;
use super::*;
use crate::journal::{Journal, Ticket};

fn record(url: &str) -> PageRecord {
    PageRecord {
        url: url.into(),
        final_url: url.into(),
        status: Some(200),
        error: None,
        depth: 1,
        content_type: Some("text/html".into()),
        content_length: 12,
        title: Some("T \"q\"\n".into()),
        links: 3,
        canonical: None,
        noindex: false,
        redirect: None,
        etag: None,
        last_modified: None,
        digest: None,
        fetched_at: "2026-01-01T00:00:00.000Z".into(),
        elapsed_ms: 5,
        attempts: 1,
        requisite: None,
        recrawl: None,
        original_date: None,
        rendered: None,
        render_reason: None,
        extra: Default::default(),
        ticket: Ticket::NONE,
        done: None,
    }
}

#[test]
fn recover_cuts_a_torn_last_line_and_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pages.jsonl");
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&serde_json::to_string(&record(&format!("http://e.com/{i}"))).unwrap());
        text.push('\n');
    }
    let whole = text.len() as u64;
    text.push_str(r#"{"url":"http://e.com/torn","final_u"#);
    std::fs::write(&path, &text).unwrap();
    let mut urls = Vec::new();
    let r = recover(dir.path(), |p| urls.push(p.url.clone())).unwrap();
    assert_eq!(r.records, 3);
    assert_eq!(r.torn_bytes, text.len() as u64 - whole);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    assert_eq!(urls, ["http://e.com/0", "http://e.com/1", "http://e.com/2"]);
    assert!(r
        .fingerprints
        .contains(&crate::canon::fingerprint_str("http://e.com/1")));
    // A whole file is left alone.
    let again = recover(dir.path(), |_| {}).unwrap();
    assert_eq!((again.records, again.torn_bytes), (3, 0));
}

#[test]
fn schema_is_pinned() {
    let line = serde_json::to_string(&record("http://e.com/")).unwrap();
    assert_eq!(
        line,
        r#"{"url":"http://e.com/","final_url":"http://e.com/","status":200,"error":null,"depth":1,"content_type":"text/html","content_length":12,"title":"T \"q\"\n","links":3,"canonical":null,"noindex":false,"redirect":null,"etag":null,"last_modified":null,"digest":null,"fetched_at":"2026-01-01T00:00:00.000Z","elapsed_ms":5,"attempts":1}"#
    );
}

#[test]
fn extra_keys_follow_attempts_in_name_order() {
    let mut r = record("http://e.com/");
    // Inserted out of order: the file has them sorted (serde_json's map).
    r.extra.insert("price".into(), serde_json::json!(9.5));
    r.extra.insert(
        "data".into(),
        serde_json::json!({"sku": "a,b", "tags": [1, 2]}),
    );
    let line = serde_json::to_string(&r).unwrap();
    assert!(
        line.ends_with(r#","attempts":1,"data":{"sku":"a,b","tags":[1,2]},"price":9.5}"#),
        "{line}"
    );
    // Readers of old fields are unaffected.
    let back: RecordedPage = serde_json::from_str(&line).unwrap();
    assert_eq!(back.url, "http://e.com/");
}

fn plain(rotate_bytes: u64, batch_bytes: usize) -> WriteConfig {
    WriteConfig {
        compress: Compression::None,
        rotate_bytes,
        batch_bytes,
    }
}

fn opts(compress: Compression, rotate_bytes: u64) -> JsonlOptions {
    JsonlOptions {
        compress,
        rotate_bytes,
        confirm: false,
    }
}

fn urls_in(dir: &Path) -> Vec<String> {
    let mut urls = Vec::new();
    for_each_line(dir, |line| {
        let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        urls.push(v["url"].as_str().ok_or("no url")?.to_string());
        Ok::<(), String>(())
    })
    .unwrap();
    urls
}

fn names(dir: &Path) -> Vec<String> {
    part_paths(dir)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Runs `write_loop` on real part files with batches of `batch_bytes`.
fn write_parts(dir: &Path, o: JsonlOptions, batch_bytes: usize, urls: &[String]) {
    let (file, next) = open_parts(dir, "pages", o).unwrap();
    let (tx, rx) = mpsc::channel(urls.len().max(1));
    for u in urls {
        tx.try_send(Line::of(&record(u))).unwrap();
    }
    drop(tx);
    let cfg = WriteConfig {
        compress: o.compress,
        rotate_bytes: o.rotate_bytes,
        batch_bytes,
    };
    write_loop(file, next, rx, &Journal::none(Path::new(".")), cfg).unwrap();
}

fn urls(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("http://e.com/{prefix}/{i}"))
        .collect()
}

#[tokio::test]
async fn gzip_and_zstd_round_trip_and_reopening_appends() {
    for (compress, name) in [
        (Compression::Gzip, "pages.jsonl.gz"),
        (Compression::Zstd, "pages.jsonl.zst"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut sent = Vec::new();
        for round in 0..2 {
            let sink = JsonlSink::open(
                dir.path(),
                "pages",
                opts(compress, 0),
                Journal::none(dir.path()),
            )
            .unwrap();
            for u in urls(&round.to_string(), 1000) {
                sink.send(record(&u)).await.unwrap();
                sent.push(u);
            }
            sink.finish().unwrap();
        }
        assert_eq!(names(dir.path()), [name]);
        let path = dir.path().join(name);
        let raw = std::fs::read(&path).unwrap();
        // Readable by standard tools (zcat, zstdcat)...
        let mut text = String::new();
        match compress {
            Compression::Gzip => {
                flate2::read::MultiGzDecoder::new(&raw[..])
                    .read_to_string(&mut text)
                    .unwrap();
            }
            _ => text = String::from_utf8(zstd::decode_all(&raw[..]).unwrap()).unwrap(),
        }
        // ...and compressed for real (how much depends on how the writer batched).
        assert!(
            raw.len() < text.len(),
            "{} of {} bytes",
            raw.len(),
            text.len()
        );
        assert_eq!(text.lines().count(), 2000);
        assert_eq!(urls_in(dir.path()), sent, "{compress}");
    }
}

#[test]
fn rotation_makes_ordered_parts_each_under_the_limit_plus_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let line_len = serde_json::to_string(&record("http://e.com/a/00"))
        .unwrap()
        .len() as u64
        + 1;
    let limit = 1000;
    let all = urls("a", 40);
    // One record per batch: a batch is one line.
    write_parts(dir.path(), opts(Compression::None, limit), 1, &all);
    let paths = part_paths(dir.path()).unwrap();
    assert!(paths.len() >= 8, "{paths:?}");
    let expected: Vec<String> = (1..=paths.len())
        .map(|n| format!("pages-{n:05}.jsonl"))
        .collect();
    assert_eq!(names(dir.path()), expected);
    for (i, p) in paths.iter().enumerate() {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len < limit + line_len + 2, "{p:?}: {len}");
        if i + 1 < paths.len() {
            assert!(len >= limit, "{p:?} rotated early: {len}");
        }
    }
    assert_eq!(urls_in(dir.path()), all);
    // Part numbers sort as numbers, past the padding too.
    std::fs::rename(&paths[0], dir.path().join("pages-100000.jsonl")).unwrap();
    let renamed = names(dir.path());
    assert_eq!(renamed.last().unwrap(), "pages-100000.jsonl");
}

#[test]
fn reopening_rotated_output_continues_the_last_part_until_full() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(Compression::Gzip, 100_000);
    let first = urls("a", 10);
    write_parts(dir.path(), o, BATCH_BYTES, &first);
    assert_eq!(names(dir.path()), ["pages-00001.jsonl.gz"]);
    let second = urls("b", 10);
    write_parts(dir.path(), o, BATCH_BYTES, &second);
    // Still below the limit: the same part, now two members.
    assert_eq!(names(dir.path()), ["pages-00001.jsonl.gz"]);
    // A smaller limit makes the existing part full: the next run starts part 2.
    let third = urls("c", 10);
    write_parts(dir.path(), opts(Compression::Gzip, 10), BATCH_BYTES, &third);
    let n = names(dir.path());
    assert_eq!(n[..2], ["pages-00001.jsonl.gz", "pages-00002.jsonl.gz"]);
    let all: Vec<String> = first.into_iter().chain(second).chain(third).collect();
    assert_eq!(urls_in(dir.path()), all);
}

#[test]
fn mismatched_options_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_parts(
        dir.path(),
        opts(Compression::Gzip, 0),
        BATCH_BYTES,
        &urls("a", 3),
    );
    for other in [
        opts(Compression::Zstd, 0),
        opts(Compression::None, 0),
        opts(Compression::Gzip, 1 << 20),
    ] {
        let Err(err) = JsonlSink::open(dir.path(), "pages", other, Journal::none(dir.path()))
        else {
            panic!("{other:?} was accepted");
        };
        let msg = err.to_string();
        assert!(msg.contains("pages.jsonl.gz"), "{msg}");
        assert!(
            msg.contains("--compress/--rotate-size") && msg.contains("--fresh"),
            "{msg}"
        );
        assert!(err.get_ref().unwrap().is::<OptionsMismatch>());
    }
    // Nothing new was created by the refusals.
    assert_eq!(names(dir.path()), ["pages.jsonl.gz"]);
    assert!(JsonlSink::open(
        dir.path(),
        "pages",
        opts(Compression::Gzip, 0),
        Journal::none(dir.path())
    )
    .is_ok());
}

#[test]
fn part_paths_lists_only_part_names_in_order() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "pages-00010.jsonl.zst",
        "pages-00002.jsonl",
        "pages.jsonl.gz",
        "pages-2.jsonl",
        "pages-00000.jsonl",
        "pages.jsonl.tmp",
        "pages-0001x.jsonl",
        "stats.json",
        "other.jsonl",
    ] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    std::fs::create_dir(dir.path().join("pages-00003.jsonl")).unwrap();
    assert_eq!(
        names(dir.path()),
        [
            "pages.jsonl.gz",
            "pages-00002.jsonl",
            "pages-00010.jsonl.zst"
        ]
    );
    assert!(part_paths(&dir.path().join("missing")).unwrap().is_empty());
}

#[test]
fn workers_of_a_shared_crawl_have_their_own_series() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (stem, rotate) in [("pages-w1", 0), ("pages-host.42", 10), ("pages", 0)] {
        let o = JsonlOptions {
            compress: Compression::None,
            rotate_bytes: rotate,
            confirm: false,
        };
        for round in 0..2 {
            let (mut f, mut next) = open_parts(d, stem, o).unwrap();
            f.write_all(format!("{{\"url\":\"{stem}{round}\"}}\n").as_bytes())
                .unwrap();
            if rotate > 0 {
                next().unwrap();
            }
        }
    }
    let all: Vec<String> = all_part_paths(d)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        all,
        [
            "pages.jsonl",
            "pages-host.42-00001.jsonl",
            "pages-host.42-00002.jsonl",
            "pages-host.42-00003.jsonl",
            "pages-w1.jsonl"
        ]
    );
    // A single crawl's own listing never picks up a worker's files.
    assert_eq!(names(d), ["pages.jsonl"]);
    let mut lines = 0;
    for_each_line(d, |_| {
        lines += 1;
        Ok::<(), std::io::Error>(())
    })
    .unwrap();
    assert_eq!(lines, 6);
}

#[test]
fn recover_cuts_a_torn_gzip_member_or_zstd_frame() {
    for compress in [Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        // Two parts (each run fills one), so the earlier one must be left alone.
        let o = opts(compress, 1);
        write_parts(dir.path(), o, BATCH_BYTES, &urls("a", 50));
        write_parts(dir.path(), o, BATCH_BYTES, &urls("b", 50));
        let paths = part_paths(dir.path()).unwrap();
        assert_eq!(paths.len(), 2, "{paths:?}");
        let last = &paths[1];
        let whole = std::fs::read(last).unwrap();
        // A big member, half written: its first blocks decode to whole lines,
        // which must not be reported since they are cut.
        let mut enc = Encoder::new(compress).unwrap();
        let mut lines = Vec::new();
        for u in urls("torn", 2000) {
            push_line(&mut lines, &record(&u));
        }
        let member = enc.encode(&lines).unwrap().to_vec();
        let mut torn = whole.clone();
        torn.extend_from_slice(&member[..member.len() / 2]);
        std::fs::write(last, &torn).unwrap();
        let streamed = for_each_line(dir.path(), |_| Ok::<(), ()>(())).unwrap();
        assert!(
            streamed.lines > 100,
            "{compress}: the torn member decodes in part"
        );
        assert!(streamed.torn_bytes > 0);

        let mut seen = Vec::new();
        let r = recover(dir.path(), |p| seen.push(p.url.clone())).unwrap();
        assert_eq!(r.records, 100, "{compress}");
        assert_eq!(r.torn_bytes, (torn.len() - whole.len()) as u64);
        assert_eq!(r.unreadable_bytes, 0);
        assert_eq!(std::fs::read(last).unwrap(), whole);
        let expected: Vec<String> = urls("a", 50).into_iter().chain(urls("b", 50)).collect();
        assert_eq!(seen, expected);
        // Appending after the cut gives a valid file again.
        write_parts(dir.path(), o, BATCH_BYTES, &urls("c", 5));
        assert_eq!(urls_in(dir.path()).len(), 105);
        let again = recover(dir.path(), |_| {}).unwrap();
        assert_eq!((again.records, again.torn_bytes), (105, 0));
    }
}

#[test]
fn recover_cuts_a_torn_plain_line_of_the_last_part_only() {
    let dir = tempfile::tempdir().unwrap();
    write_parts(
        dir.path(),
        opts(Compression::None, 1),
        BATCH_BYTES,
        &urls("a", 2),
    );
    write_parts(
        dir.path(),
        opts(Compression::None, 1),
        BATCH_BYTES,
        &urls("b", 2),
    );
    let paths = part_paths(dir.path()).unwrap();
    assert_eq!(paths.len(), 2, "{paths:?}");
    let whole = std::fs::metadata(&paths[1]).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&paths[1])
        .unwrap();
    let tail = br#"{"url":"http://e.com/torn","#;
    f.write_all(tail).unwrap();
    let r = recover(dir.path(), |_| {}).unwrap();
    assert_eq!((r.records, r.torn_bytes), (4, tail.len() as u64));
    assert_eq!(std::fs::metadata(&paths[1]).unwrap().len(), whole);
    assert_eq!(std::fs::metadata(&paths[0]).unwrap().len(), whole);
}

#[test]
fn compression_parses_its_names() {
    assert_eq!("gzip".parse::<Compression>().unwrap(), Compression::Gzip);
    assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
    assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
    assert!("gz"
        .parse::<Compression>()
        .unwrap_err()
        .to_string()
        .contains("gzip"));
    let c: Compression = serde_json::from_str(r#""zstd""#).unwrap();
    assert_eq!(c, Compression::Zstd);
}

#[tokio::test]
async fn the_queue_is_bounded_in_bytes_not_only_in_records() {
    // A writer that never drains: only the byte budget can stop the sender.
    let (tx, _rx) = mpsc::channel(CHANNEL_RECORDS);
    let sink = JsonlSink {
        tx,
        budget: Arc::new(Semaphore::new(QUEUE_BYTES)),
        writer: std::thread::spawn(|| Ok(())),
        confirm: false,
    };
    let big = |i: usize| {
        let mut r = record(&format!("http://e.com/{i}"));
        r.extra.insert("text".into(), "x".repeat(1 << 20).into());
        r
    };
    let fits = QUEUE_BYTES / ((1 << 20) + 1024);
    for i in 0..fits {
        tokio::time::timeout(Duration::from_secs(5), sink.send(big(i)))
            .await
            .expect("room for it")
            .unwrap();
    }
    let more = tokio::time::timeout(Duration::from_millis(200), sink.send(big(fits))).await;
    assert!(more.is_err(), "the {}th MB record must wait", fits + 1);
}

/// A disk that fills up after `room` bytes.
struct FullDisk {
    data: Vec<u8>,
    room: usize,
}

impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.room.saturating_sub(self.data.len()));
        if n == 0 {
            return Err(std::io::Error::other("no space left on device"));
        }
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LineFile for &mut FullDisk {
    fn length(&self) -> std::io::Result<u64> {
        Ok(self.data.len() as u64)
    }
    fn cut(&mut self, len: u64) -> std::io::Result<()> {
        self.data.truncate(len as usize);
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_disk_never_leaves_half_a_line() {
    let mut disk = FullDisk {
        data: Vec::new(),
        room: 1000,
    };
    let (tx, rx) = mpsc::channel(16);
    let sender = std::thread::spawn(move || {
        for i in 0..10 {
            if tx
                .blocking_send(Line::of(&record(&format!("http://e.com/{i}"))))
                .is_err()
            {
                break;
            }
            // One record per batch, so the first batches fit.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let no_rotation = || -> std::io::Result<&mut FullDisk> { unreachable!() };
    let err = write_loop(
        &mut disk,
        no_rotation,
        rx,
        &Journal::none(Path::new(".")),
        plain(0, BATCH_BYTES),
    )
    .unwrap_err();
    sender.join().unwrap();
    assert!(err.to_string().contains("no space"));
    let text = String::from_utf8(disk.data).unwrap();
    assert!(!text.is_empty() && text.ends_with('\n'), "{text:?}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[tokio::test]
async fn writes_whole_lines_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pages.jsonl");
    for round in 0..2 {
        let sink = JsonlSink::open(
            dir.path(),
            "pages",
            JsonlOptions::default(),
            Journal::none(dir.path()),
        )
        .unwrap();
        for i in 0..1000 {
            sink.send(record(&format!("http://e.com/{round}/{i}")))
                .await
                .unwrap();
        }
        sink.finish().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2000);
    assert!(text.ends_with('\n'));
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["status"], 200);
    }
}
