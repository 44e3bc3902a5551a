//! What every request of a crawl carries beyond trawl's own headers: the user's
//! `--header`s (or `[headers]` table), and what the archive says of them.

use std::time::Duration;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_given_go_on_every_request_and_secrets_stay_out_of_the_archive() {
    let site = Site::start().await;
    site.set("/", html_page("home", &["/a"]));
    site.set("/a", html_page("a", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let (out, dir) = crawl(&[
        &site.url("/"),
        "--header",
        "X-Api-Key: k-123",
        "--header",
        "accept-language:  en-GB ",
        "--header",
        "Authorization: Bearer s3cret-token",
        "--header",
        "Accept: text/html",
        "--warc",
        "-q",
    ])
    .await;
    out.assert_code(0);
    let hits = site.hits();
    assert_eq!(hits.len(), 3, "robots.txt, / and /a");
    for hit in &hits {
        assert_eq!(hit.header("x-api-key"), Some("k-123"), "{hit:?}");
        assert_eq!(hit.header("accept-language"), Some("en-GB"), "{hit:?}");
        assert_eq!(hit.authorization, "Bearer s3cret-token", "{hit:?}");
        // A header of the same name replaces trawl's default, once.
        assert_eq!(hit.header("accept"), Some("text/html"), "{hit:?}");
        assert_eq!(hit.headers.iter().filter(|(n, _)| n == "accept").count(), 1);
        assert!(hit.user_agent.starts_with("trawl/"), "{hit:?}");
    }
    // The archive names every header, credentials as ***.
    let mut archived = String::new();
    for entry in std::fs::read_dir(dir.path().join("warc")).unwrap() {
        use std::io::Read;
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(entry.unwrap().path()).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        archived.push_str(&String::from_utf8_lossy(&text));
    }
    assert!(archived.contains("x-api-key: k-123\r\n"), "{archived}");
    assert!(archived.contains("authorization: ***\r\n"), "{archived}");
    assert!(
        !archived.contains("s3cret-token"),
        "the token reached the archive"
    );
    let records = std::fs::read_to_string(dir.path().join("pages.jsonl")).unwrap();
    let stats = std::fs::read_to_string(dir.path().join("stats.json")).unwrap();
    assert!(!records.contains("s3cret") && !stats.contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headers_table_in_the_config_file_is_sent_and_flags_replace_it() {
    let site = Site::start().await;
    site.set("/", html_page("home", &[]));
    site.set("/robots.txt", Reply::Status(404));
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("trawl.toml");
    std::fs::write(
        &file,
        "quiet = true\n[headers]\n\"X-From-File\" = \"yes\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let (out, _dir) = crawl(&[&site.url("/"), "--config", &file]).await;
    out.assert_code(0);
    assert!(site
        .hits()
        .iter()
        .all(|h| h.header("x-from-file") == Some("yes")));
    let again = Site::start().await;
    again.set("/", html_page("home", &[]));
    again.set("/robots.txt", Reply::Status(404));
    let (out, _dir) = crawl(&[&again.url("/"), "--config", &file, "--header", "X-Flag: 1"]).await;
    out.assert_code(0);
    for hit in again.hits() {
        assert_eq!(hit.header("x-flag"), Some("1"));
        assert_eq!(hit.header("x-from-file"), None, "flags replace the table");
    }
}

#[test]
fn a_bad_header_is_one_line_at_start() {
    for (args, needle, code) in [
        (vec!["--header", "NoColonHere"], "write it 'Name: value'", 2),
        (vec!["--header", "Bad Name: x"], "is not a header name", 2),
        (vec!["--header", "Host: other"], "decided by trawl", 2),
        (vec!["--header", "User-Agent: x"], "--user-agent", 2),
        (
            vec!["--header", "X-A: 1", "--header", "x-a: 2"],
            "given twice",
            1,
        ),
    ] {
        let mut all = vec![
            "crawl",
            "http://127.0.0.1:9/",
            "--out",
            "/nonexistent/never",
        ];
        all.extend(args.iter().copied());
        let out = run_trawl(&all, Duration::from_secs(30));
        out.assert_code(code);
        // One line says what is wrong (clap adds its usual pointer to --help).
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(first.contains(needle), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.trim().lines().count() <= 3,
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"));
    }
}
