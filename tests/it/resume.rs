//! The durable frontier: crawls killed at any point resume to exactly-once output.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// `--per-host-rate 0 --per-host-concurrency 4`: fast, with several pages in flight
/// whenever the crawl is stopped.
const BUSY: [&str; 2] = ["--per-host-rate=0", "--per-host-concurrency=4"];

/// A slow tree of `pages` pages (each served after `delay`), a fresh output directory
/// and the arguments of a [`BUSY`] crawl of the one into the other.
async fn busy_crawl(pages: usize, delay: Duration) -> (Site, tempfile::TempDir, Vec<String>) {
    let site = slow_tree(pages, delay).await;
    let dir = tempfile::tempdir().unwrap();
    let args = crawl_args(&site.url("/"), dir.path(), &BUSY);
    (site, dir, args)
}

/// Waits (bounded) until the site has served more than `hits` page requests.
async fn wait_for_hits(site: &Site, hits: usize) {
    wait_until("page requests", Duration::from_secs(10), || {
        page_hits(site) > hits
    })
    .await;
}

/// URL → number of records (and every line must parse).
fn record_counts(out: &Path) -> HashMap<String, usize> {
    url_counts(&read_records(out))
}

fn assert_exactly_once(site: &Site, out: &Path, pages: usize) {
    let counts = record_counts(out);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "recorded more than once: {twice:?}");
    assert_eq!(counts.len(), pages, "every reachable page recorded");
    for i in 0..pages {
        assert!(
            counts.contains_key(&site.url(&tree_page_path(i))),
            "page {i} missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_several_points_then_resume_records_each_page_once() {
    let pages = 300;
    let (site, dir, args) = busy_crawl(pages, Duration::from_millis(30)).await;

    // URL → fetches seen when it was first found recorded after a kill.
    let mut recorded_before_kills: HashMap<String, usize> = HashMap::new();
    for kill_after in [10, 80, 180] {
        let mut child = spawn_args(&args);
        wait_for_hits(&site, kill_after).await;
        child.kill().unwrap(); // SIGKILL: no chance to flush anything
        let out = finish(child).await;
        assert_eq!(out.code, None, "killed by a signal");
        // Whatever is on disk is whole lines (a torn one would panic here).
        let lines = std::fs::read_to_string(dir.path().join("pages.jsonl")).unwrap_or_default();
        for r in lines
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            let url = r["url"].as_str().unwrap().to_string();
            let fetched = site.count(url.trim_start_matches(&site.origin()));
            recorded_before_kills.entry(url).or_insert(fetched);
        }
    }
    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    out.assert_stderr_has(&["resuming the crawl"]);
    assert_exactly_once(&site, dir.path(), pages);
    // A page recorded before a kill was never fetched again.
    for (url, fetched) in &recorded_before_kills {
        let path = url.trim_start_matches(&site.origin());
        assert_eq!(
            site.count(path),
            *fetched,
            "{path} refetched after it was recorded"
        );
    }
    let redone = page_hits(&site) - pages;
    eprintln!(
        "sigkill x3: {redone} page fetches redone, {} recorded before kills",
        recorded_before_kills.len()
    );
    // At most about a second of in-flight work per kill is redone.
    assert!(redone <= 3 * 150, "{redone} fetches redone");
    let stats = stats(dir.path());
    assert_eq!(
        stats["pages"], pages,
        "stats.json counts the whole crawl, across runs"
    );
    assert_eq!(stats["completed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_then_resume_finishes_without_refetching() {
    let pages = 200;
    let (site, dir, args) = busy_crawl(pages, Duration::from_millis(30)).await;
    let child = spawn_args(&args);
    wait_for_hits(&site, 50).await;
    signal(&child, "-INT");
    let out = finish(child).await;
    out.assert_code(130);
    let first = record_counts(dir.path()).len();
    assert!(first > 0 && first < pages);

    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    assert_exactly_once(&site, dir.path(), pages);
    // A clean stop finished its in-flight pages: nothing was fetched twice.
    for i in 0..pages {
        assert_eq!(site.count(&tree_page_path(i)), 1, "page {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_is_repaired_and_a_finished_crawl_is_not_rerun() {
    let pages = 120;
    let (site, dir, args) = busy_crawl(pages, Duration::from_millis(20)).await;
    let mut child = spawn_args(&args);
    wait_for_hits(&site, 30).await;
    child.kill().unwrap();
    finish(child).await;
    // Power loss mid-write: half a record at the end of the file.
    let path = dir.path().join("pages.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(r#"{"url":"http://127.0.0.1:1/torn","final_url":"http://127.0.0.1:1/t"#);
    std::fs::write(&path, text).unwrap();

    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    out.assert_stderr_has(&["torn last line"]);
    assert_exactly_once(&site, dir.path(), pages); // every line parses
    let before = std::fs::read(&path).unwrap();

    // Finished: the same command says so in one line and exits 0 (a supervisor
    // restarting the container must not loop on a failure), touching nothing.
    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    out.assert_stderr_has(&[
        &format!("already holds a finished crawl ({pages} pages): nothing to do"),
        "--fresh",
    ]);
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing touched");
    let mut fresh = args.clone();
    fresh.push("--fresh".into());
    finish(spawn_args(&fresh)).await.assert_code(0);
    assert_eq!(record_counts(dir.path()).len(), pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_spacing_survives_a_restart() {
    let site = slow_tree(40, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    // One request every 800 ms to the host.
    let args = crawl_args(&site.url("/"), dir.path(), &["--per-host-rate=1.25"]);
    let mut child = spawn_args(&args);
    wait_for_hits(&site, 2).await;
    child.kill().unwrap();
    finish(child).await;
    let killed_at = Instant::now();
    let last_before = site.hits().iter().map(|h| h.start).max().unwrap();
    let seen = site.hits().len();

    let mut child = spawn_args(&args);
    wait_until(
        "a request after the restart",
        Duration::from_secs(10),
        || site.hits().len() > seen,
    )
    .await;
    child.kill().unwrap();
    finish(child).await;
    let first_after = site.hits()[seen].start;
    assert!(first_after > killed_at);
    let gap = first_after - last_before;
    assert!(
        gap >= Duration::from_millis(700),
        "host got a burst after restart: {gap:?} apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_only_mode_keeps_no_state() {
    let site = slow_tree(30, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let args = crawl_args(
        &site.url("/"),
        dir.path(),
        &["--per-host-rate=0", "--durable=false"],
    );
    finish(spawn_args(&args)).await.assert_code(0);
    assert_eq!(record_counts(dir.path()).len(), 30);
    assert!(!dir.path().join("state").exists());
    let out = finish(spawn_args(&args)).await;
    out.assert_code(1);
    out.assert_stderr_has(&["cannot be resumed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_edge_cases_are_refused_clearly() {
    let site = slow_tree(60, Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");

    // --fresh with --state removes trawl's own file and nothing else.
    let state = dir.path().join("mydata");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("notes.txt"), "keep me").unwrap();
    let st = state.display().to_string();
    let args = crawl_args(&site.url("/"), &out, &["--per-host-rate=0", "--state", &st]);
    finish(spawn_args(&args)).await.assert_code(0);
    let mut fresh = args.clone();
    fresh.push("--fresh".into());
    finish(spawn_args(&fresh)).await.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(state.join("notes.txt")).unwrap(),
        "keep me"
    );

    // Another --out cannot take over this crawl's state.
    let other = dir.path().join("other");
    let o = finish(spawn_args(&crawl_args(
        &site.url("/"),
        &other,
        &["--state", &st],
    )))
    .await;
    o.assert_code(1);
    o.assert_stderr_has(&["belongs to the crawl in"]);

    // Records, but an empty state file: refuse rather than refetch.
    std::fs::write(state.join("frontier.redb"), b"").unwrap();
    let o = finish(spawn_args(&args)).await;
    o.assert_code(1);
    o.assert_stderr_has(&["empty or lost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_page_budget_can_be_raised_and_host_budgets_survive_resume() {
    let site = slow_tree(100, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pages");
    let run = |extra: &[&str]| spawn_args(&crawl_args(&site.url("/"), &out, extra));
    finish(run(&["--per-host-rate=0", "--max-pages=30"]))
        .await
        .assert_code(0);
    assert_eq!(record_counts(&out).len(), 30);
    let o = finish(run(&["--per-host-rate=0", "--max-pages=70"])).await;
    o.assert_code(0);
    assert_eq!(record_counts(&out).len(), 70, "{}", o.stderr);
    finish(run(&["--per-host-rate=0"])).await.assert_code(0);
    assert_exactly_once(&site, &out, 100);
    let o = finish(run(&["--per-host-rate=0"])).await;
    o.assert_code(0);
    o.assert_stderr_has(&["finished crawl"]);

    // A host's page budget counts what earlier runs admitted.
    let site = slow_tree(200, Duration::from_millis(20)).await;
    let out = dir.path().join("budget");
    let args = crawl_args(
        &site.url("/"),
        &out,
        &["--per-host-rate=0", "--max-pages-per-host=40"],
    );
    let mut child = spawn_args(&args);
    wait_for_hits(&site, 15).await;
    child.kill().unwrap();
    finish(child).await;
    finish(spawn_args(&args)).await.assert_code(0);
    assert_eq!(record_counts(&out).len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_exclude_on_resume_applies_to_urls_already_queued() {
    let site = slow_tree(200, Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_args(&crawl_args(&site.url("/"), dir.path(), &BUSY));
    // Pages 33..66 link to /p/100..; once recorded (commits come every second),
    // those links are queued on disk.
    wait_for_hits(&site, 130).await;
    child.kill().unwrap();
    finish(child).await;
    let before: HashMap<String, usize> =
        site.paths().into_iter().fold(HashMap::new(), |mut m, p| {
            *m.entry(p).or_insert(0) += 1;
            m
        });

    // Escape a "trap": everything under /p/1xx is now excluded, queued or not.
    let mut args = BUSY.to_vec();
    args.extend(["--exclude=/p/1[0-9][0-9]$"]);
    let o = finish(spawn_args(&crawl_args(&site.url("/"), dir.path(), &args))).await;
    o.assert_code(0);
    o.assert_stderr_has(&["resuming the crawl"]);
    for i in 100..200 {
        let p = tree_page_path(i);
        assert_eq!(
            site.count(&p),
            before.get(&p).copied().unwrap_or(0),
            "{p} fetched after it was excluded"
        );
    }
    let stats = stats(dir.path());
    assert!(stats["refused"]["filter"].as_u64().unwrap() > 0);
    assert_eq!(stats["completed"], true);
}

/// A crawl directory written by the trawl of before the trunk redesign (killed
/// mid-crawl; see tests/fixtures/resume-before-trunk/README.md) resumes: its records
/// are kept as they were, every URL its store held pending is recorded once, and
/// none twice.
#[test]
fn a_state_dir_from_before_the_trunk_redesign_resumes() {
    use trawl::frontier::store::{Op, Store};
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resume-before-trunk");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("state")).unwrap();
    let before = std::fs::read_to_string(fixture.join("pages.jsonl")).unwrap();
    std::fs::write(out.join("pages.jsonl"), &before).unwrap();
    let state = out.join("state/frontier.redb");
    std::fs::copy(fixture.join("state/frontier.redb"), &state).unwrap();
    // What the old store holds pending, read with the store's own API; and the
    // store names the directory it belongs to, which moved with the copy.
    let mut pending = std::collections::HashSet::new();
    {
        let store = Store::open(&state).unwrap();
        store
            .scan_pending(|rec| {
                let entry: serde_json::Value = serde_json::from_slice(&rec.entry).unwrap();
                pending.insert(entry["url"].as_str().unwrap().to_string());
            })
            .unwrap();
        assert_eq!(store.meta("status").unwrap().as_deref(), Some("running"));
        let here = std::fs::canonicalize(&out).unwrap();
        store
            .send(vec![Op::Meta("out", here.display().to_string())])
            .unwrap();
        store.close().unwrap();
    }
    assert!(
        pending.len() > 10,
        "the fixture has pending URLs: {pending:?}"
    );

    let run = run_trawl(
        &[
            "crawl",
            "http://127.0.0.1:33389/",
            "--out",
            out.to_str().unwrap(),
            "--retries",
            "0",
            "--timeout",
            "5",
            "--per-host-rate",
            "0",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("resuming the crawl"), "{}", run.stderr);
    let after = std::fs::read_to_string(out.join("pages.jsonl")).unwrap();
    assert!(
        after.starts_with(&before),
        "the earlier records are kept as they were"
    );
    let counts = record_counts(&out);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "recorded more than once: {twice:?}");
    for url in before
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    {
        assert!(counts.contains_key(url["url"].as_str().unwrap()));
    }
    let missing: Vec<_> = pending
        .iter()
        .filter(|u| !counts.contains_key(*u))
        .collect();
    assert!(
        missing.is_empty(),
        "pending URLs never recorded: {missing:?}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["resumed_pages"], 73);
    assert_eq!(stats["completed"], true);
}

/// robots.txt is kept in the durable frontier: a crawl killed and resumed does not
/// fetch it again (its rules still apply), as long as it is less than a day old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_survives_a_resume() {
    let pages = 400;
    let (site, dir, args) = busy_crawl(pages, Duration::from_millis(30)).await;
    site.set(
        "/robots.txt",
        Reply::robots("User-agent: *\nDisallow: /p/7\n"),
    );
    let mut child = spawn_args(&args);
    wait_for_hits(&site, 20).await;
    // The store commits once a second: let the copy land, then kill mid-crawl.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(page_hits(&site) < pages, "still crawling");
    child.kill().unwrap();
    assert_eq!(finish(child).await.code, None, "killed by a signal");
    assert_eq!(site.count("/robots.txt"), 1);

    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    out.assert_stderr_has(&["resuming the crawl"]);
    assert_eq!(
        site.count("/robots.txt"),
        1,
        "the resumed run used the kept robots.txt"
    );
    assert_eq!(site.count("/p/7"), 0, "and obeyed it");
    let robots = record_counts(dir.path())
        .keys()
        .filter(|u| u.ends_with("/p/7"))
        .count();
    assert_eq!(robots, 1, "/p/7 is recorded once, as disallowed");
}
