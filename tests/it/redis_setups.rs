//! Redis as people run it, under a real fleet of `trawl` processes: a three-node
//! Redis Cluster (a process killed and the whole cluster restarted mid-crawl still
//! record every page, exactly once after merge), TLS with a throwaway CA and an ACL
//! user (whose password shows nowhere), and about one round trip to Redis a page.

use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::common::redis::{free_port, throwaway_certs, Cluster, Options, Redis};
use crate::common::*;
use crate::fleet::{
    finish_all, fleet_args_at, fleet_records, merge, tree_urls, url_of, worker_stats,
};

/// Keys a node holds (`DBSIZE`).
fn keys_on(node: &Redis) -> u64 {
    node.command("DBSIZE")
        .trim()
        .trim_start_matches(':')
        .parse()
        .expect("DBSIZE")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_on_a_cluster_survives_a_kill_and_a_cluster_restart() {
    let mut cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .expect("cluster");
    let site = slow_tree(60, Duration::from_millis(120)).await;
    let dir = tempfile::tempdir().unwrap();
    let seeds = [site.url("/")];
    let flags = [
        "--per-host-rate=0",
        "--per-host-concurrency=6",
        "--concurrency=3",
        "--lease-ttl=2",
        "-v",
    ];
    let url = cluster.url();
    let spawn = |w: &str| {
        let mut args = fleet_args_at(&seeds, &url, "kc", dir.path(), w, &flags);
        args.retain(|a| a != "-q");
        spawn_args(&args)
    };
    let victim = spawn("victim");
    let survivor = spawn("survivor");
    let victim_file = dir.path().join("pages-victim.jsonl");
    let home = cluster.node_of("trawl:{kc}:c");
    wait_until(
        "the victim records pages and holds leases",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&victim_file).is_ok_and(|t| t.lines().count() >= 5)
                && home.command("HLEN trawl:{kc}:l:victim").trim() != ":0"
        },
    )
    .await;
    signal(&victim, "-KILL");
    assert_eq!(finish(victim).await.code, None, "killed by the signal");
    // Then every node goes down for a second and comes back with its data.
    let before = fleet_records(dir.path()).len();
    assert!(before < 60, "the crawl is still going ({before} recorded)");
    tokio::task::block_in_place(|| cluster.restart(Duration::from_secs(1)));
    let out = finish(survivor).await;
    out.assert_code(0);
    assert!(
        out.stderr.contains("is a cluster"),
        "the cluster was recognised: {}",
        out.stderr
    );

    // Every key of the crawl lives on the node serving its hash tag's slot.
    let home = cluster.node_of("trawl:{kc}:c");
    let elsewhere: u64 = cluster
        .nodes
        .iter()
        .filter(|n| n.port() != home.port())
        .map(keys_on)
        .sum();
    assert!(keys_on(home) > 0, "the crawl's keys are on its slot's node");
    assert_eq!(elsewhere, 0, "no key of the crawl outside its slot's node");

    let records = fleet_records(dir.path());
    let urls: HashSet<String> = records.iter().map(|(_, r)| url_of(r)).collect();
    assert_eq!(urls, tree_urls(&site, 60), "every page recorded");
    // `trawl status` reads the crawl through the cluster too.
    let st = run_trawl_async(
        ["status", "--frontier", &url, "--crawl-id", "kc"]
            .map(String::from)
            .to_vec(),
        Duration::from_secs(20),
    )
    .await;
    st.assert_code(0)
        .assert_stdout_has(&["worker victim: lost", "queued 0 | leased 0 | done"]);
    let (m, merged) = merge(dir.path()).await;
    m.assert_code(0);
    let m = records_by_url(&merged);
    assert_eq!(
        m.keys().cloned().collect::<HashSet<_>>(),
        tree_urls(&site, 60),
        "exactly once after merge"
    );
}

/// A TLS server on a free port whose only user is `alice` (the default user is
/// off), with a throwaway CA in `dir`; returns it, its CA file and another CA's.
fn tls_server(dir: &Path) -> (Redis, String, std::path::PathBuf, std::path::PathBuf) {
    let (tls, other_ca) = throwaway_certs(dir, free_port());
    let ca = tls.ca.clone();
    let port = tls.port;
    let redis = Redis::start_with(Options {
        user: Some(("alice".into(), PASSWORD.into())),
        tls: Some(tls),
        ..Options::default()
    });
    let url = format!("rediss://alice:{PASSWORD}@127.0.0.1:{port}/0");
    (redis, url, ca, other_ca)
}

const PASSWORD: &str = "Tr4wlTlsPassw0rd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_an_acl_user_works_and_the_password_shows_nowhere() {
    let certs = tempfile::tempdir().unwrap();
    let (_redis, url, ca, other_ca) = tls_server(certs.path());
    let ca = ca.display().to_string();
    let site = Site::start().await;
    tree_site_routes(&site, 20, 4);
    let dir = tempfile::tempdir().unwrap();
    let seeds = [site.url("/")];
    let flags = ["--per-host-rate=0", "--redis-ca", &ca];
    let mut args = fleet_args_at(&seeds, &url, "tls", dir.path(), "t1", &flags);
    args.retain(|a| a != "-q");
    let out = finish(spawn_args(&args)).await;
    out.assert_code(0);
    let records = fleet_records(dir.path());
    assert_eq!(records.len(), 20, "every page, through the TLS frontier");
    let st = run_trawl_async(
        [
            "status",
            "--frontier",
            &url,
            "--crawl-id",
            "tls",
            "--redis-ca",
            &ca,
        ]
        .map(String::from)
        .to_vec(),
        Duration::from_secs(20),
    )
    .await;
    st.assert_code(0).assert_stdout_has(&["done 20"]);
    let stats = std::fs::read_to_string(dir.path().join("stats-t1.json")).unwrap();
    let pages = std::fs::read_to_string(dir.path().join("pages-t1.jsonl")).unwrap();
    for (what, text) in [
        ("stderr", &out.stderr),
        ("stdout", &out.stdout),
        ("stats", &stats),
        ("pages", &pages),
        ("status", &st.stdout),
        ("status stderr", &st.stderr),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "the password is in {what}: {text}"
        );
    }

    // Refusals are one line each, without the password: a CA that did not sign the
    // server's certificate, none at all (the public roots do not know it), a wrong
    // password, and a CA file with a plain redis:// frontier.
    let other = other_ca.display().to_string();
    let wrong = url.replace(PASSWORD, "not-the-password");
    let plain = url.replace("rediss://", "redis://");
    for (frontier, extra, says) in [
        (
            url.as_str(),
            vec!["--redis-ca", other.as_str()],
            "cannot reach Redis",
        ),
        (url.as_str(), vec![], "cannot reach Redis"),
        (
            wrong.as_str(),
            vec!["--redis-ca", ca.as_str()],
            "cannot reach Redis",
        ),
        (plain.as_str(), vec!["--redis-ca", ca.as_str()], "redis_ca"),
    ] {
        let out_dir = tempfile::tempdir().unwrap();
        let mut args = fleet_args_at(&seeds, frontier, "bad", out_dir.path(), "b1", &extra);
        args.retain(|a| a != "-q");
        let bad = finish(spawn_args(&args)).await;
        assert_ne!(bad.code, Some(0), "{frontier} {extra:?} was accepted");
        bad.assert_stderr_has(&[says]);
        let lines = bad.stderr.trim().lines().count();
        assert_eq!(lines, 1, "one line: {}", bad.stderr);
        assert!(!bad.stderr.contains(PASSWORD), "{}", bad.stderr);
        assert!(!bad.stderr.contains("not-the-password"), "{}", bad.stderr);
    }
}

/// A page's end rides on the process's next call to Redis (its links' admission,
/// the next take, the heartbeat): about one call a page, where ending each lease
/// on its own made it at least two (admit, then done) on a site whose every page
/// has links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_makes_about_one_redis_call_a_page() {
    let redis = Redis::start();
    let site = Site::start().await;
    tree_site_routes(&site, 1000, 4);
    let dir = tempfile::tempdir().unwrap();
    let seeds = [site.url("/")];
    // As the fleet benchmark runs: the per-host limit does not bind, so takes batch.
    let flags = [
        "--per-host-rate=0",
        "--per-host-concurrency=64",
        "--concurrency=8",
    ];
    let children: Vec<Child> = ["r1", "r2"]
        .iter()
        .map(|w| {
            spawn_args(&fleet_args_at(
                &seeds,
                &redis.url(),
                "rt",
                dir.path(),
                w,
                &flags,
            ))
        })
        .collect();
    for out in finish_all(children).await {
        out.assert_code(0);
    }
    let records = fleet_records(dir.path());
    let urls: HashSet<String> = records.iter().map(|(_, r)| url_of(r)).collect();
    assert_eq!(urls, tree_urls(&site, 1000), "every page recorded");
    assert_eq!(records.len(), 1000, "each page once");
    let trips: u64 = ["r1", "r2"]
        .iter()
        .map(|w| {
            worker_stats(dir.path(), w)["redis_round_trips"]
                .as_u64()
                .expect("redis_round_trips in stats")
        })
        .sum();
    let per_page = trips as f64 / 1000.0;
    eprintln!("{trips} calls to Redis for 1000 pages: {per_page:.2} a page");
    assert!(per_page < 1.5, "{per_page:.2} calls a page");
}

/// robots.txt is fetched once per host for the whole fleet: one process claims the
/// fetch, the others wait for its copy in Redis (kept there with its expiry) and
/// obey it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_fetches_each_robots_txt_once() {
    let redis = Redis::start();
    let mut sites = Vec::new();
    for _ in 0..3 {
        let site = Site::start().await;
        tree_site_routes(&site, 12, 3);
        // Slow, so that every process asks for it before the first copy is kept.
        site.set(
            "/robots.txt",
            Reply::delayed(
                Duration::from_millis(400),
                Reply::robots("User-agent: *\nDisallow: /p/3\n"),
            ),
        );
        sites.push(site);
    }
    let dir = tempfile::tempdir().unwrap();
    let seeds: Vec<String> = sites.iter().map(|s| s.url("/")).collect();
    let flags = ["--per-host-rate=0", "--per-host-concurrency=6"];
    let children: Vec<Child> = ["a", "b", "c"]
        .iter()
        .map(|w| {
            spawn_args(&fleet_args_at(
                &seeds,
                &redis.url(),
                "rb",
                dir.path(),
                w,
                &flags,
            ))
        })
        .collect();
    for out in finish_all(children).await {
        out.assert_code(0);
    }
    for site in &sites {
        assert_eq!(
            site.count("/robots.txt"),
            1,
            "{}: robots.txt once",
            site.origin()
        );
        assert_eq!(site.count("/p/3"), 0, "{}: its rules obeyed", site.origin());
        let key = format!("trawl:{{rb}}:rb:{}", site.origin());
        let ttl: i64 = redis
            .command(&format!("PTTL {key}"))
            .trim()
            .trim_start_matches(':')
            .parse()
            .expect("PTTL");
        assert!(
            (23 * 3600 * 1000..=24 * 3600 * 1000).contains(&ttl),
            "{key} is kept for a day: {ttl} ms"
        );
    }
    // Each site: its 12 pages but the two below /p/3 (only /p/3 links to them),
    // /p/3 itself recorded as disallowed.
    let records = fleet_records(dir.path());
    assert_eq!(
        records.len(),
        3 * 10,
        "every reachable page of every site, once"
    );
}
