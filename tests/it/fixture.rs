//! Self-test of the shared fixture in `tests/it/common`: the fixture server is exercised with
//! reqwest and raw sockets, the process helpers with `sh`.

use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const UA: &str = "fixture-selftest/1.0";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(UA)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build client")
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    (status, headers, body)
}

/// Sends raw bytes on a fresh connection and reads until the server closes it (bounded).
async fn raw_exchange(site: &Site, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", site.port()))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("server did not close the connection in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_status_redirect_raw_and_404() {
    let site = Site::start().await;
    site.set("/", Reply::Html("<title>home</title>".into()));
    site.set("/gone", Reply::Status(410));
    site.set("/moved", Reply::Redirect(301, "/there?x=1".into()));
    site.set("/q?a=1&b=2", Reply::Html("query".into()));
    site.set("/raw", Reply::typed("application/x-thing", b"\x00\x01raw"));
    let c = client();

    let (status, headers, body) = get(&c, &site.url("/")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-length"], "19");
    assert_eq!(body, "<title>home</title>");

    let (status, headers, body) = get(&c, &site.url("/gone")).await;
    assert_eq!(status, 410);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body, "");

    let (status, headers, _) = get(&c, &site.url("/moved")).await;
    assert_eq!(status, 301);
    assert_eq!(headers["location"], "/there?x=1");

    let (status, _, body) = get(&c, &site.url("/q?a=1&b=2")).await;
    assert_eq!((status, body.as_str()), (200, "query"));
    let (status, _, _) = get(&c, &site.url("/q?b=2&a=1")).await;
    assert_eq!(status, 404, "query must match exactly");

    let resp = c.get(site.url("/raw")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-thing");
    assert_eq!(resp.headers()["content-length"], "5");
    assert_eq!(&resp.bytes().await.unwrap()[..], b"\x00\x01raw");

    let (status, _, _) = get(&c, &site.url("/nope")).await;
    assert_eq!(status, 404);

    assert_eq!(
        site.paths(),
        [
            "/",
            "/gone",
            "/moved",
            "/q?a=1&b=2",
            "/q?b=2&a=1",
            "/raw",
            "/nope"
        ]
    );
    assert_eq!(site.count("/nope"), 1);
    assert_eq!(site.count("/there?x=1"), 0, "redirect must not be followed");
    for hit in site.hits() {
        assert_eq!(hit.host, site.host());
        assert_eq!(hit.user_agent, UA);
        assert!(hit.end >= hit.start);
    }
    assert_eq!(site.origin(), format!("http://127.0.0.1:{}", site.port()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_repeats_last_and_set_resets() {
    let site = Site::start().await;
    let seq = || {
        Reply::Sequence(vec![
            Reply::Status(503),
            Reply::Status(500),
            Reply::Html("ok".into()),
        ])
    };
    site.set("/flaky", seq());
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(&c, &site.url("/flaky")).await.0);
    }
    assert_eq!(statuses, [503, 500, 200, 200, 200]);
    assert_eq!(site.count("/flaky"), 5);

    site.set("/flaky", seq());
    assert_eq!(get(&c, &site.url("/flaky")).await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_is_concurrent_and_max_in_flight_counts() {
    let site = Site::start().await;
    let delay = Duration::from_millis(400);
    site.set("/slow", Reply::delayed(delay, Reply::Html("slow".into())));
    site.set("/fast", Reply::Html("fast".into()));
    let c = client();

    let n = 8;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (c, url) = (c.clone(), site.url("/slow"));
        tasks.push(tokio::spawn(async move { get(&c, &url).await }));
    }
    // While the slow ones are delayed, a fast request is answered at once.
    wait_until(
        "the slow requests in flight",
        Duration::from_secs(5),
        || site.count("/slow") == n,
    )
    .await;
    let t = Instant::now();
    assert_eq!(get(&c, &site.url("/fast")).await.2, "fast");
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "Delay blocked another request"
    );
    for task in tasks {
        assert_eq!(task.await.unwrap().2, "slow");
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= delay);
    assert!(elapsed < delay * 3, "delays ran serially: {elapsed:?}");
    let max = site.max_in_flight();
    assert!((n..=n + 1).contains(&max), "max_in_flight {max}");
    for hit in site.hits().iter().filter(|h| h.path == "/slow") {
        assert!(hit.end - hit.start >= delay);
    }
    let peers: std::collections::HashSet<_> = site.hits().iter().map(|h| h.peer).collect();
    assert!(
        peers.len() >= n,
        "concurrent requests used separate connections"
    );
}

/// Reads one reply framed by `Content-Length` from `stream` (bounded in reads and time).
async fn read_reply(stream: &mut TcpStream) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut reply = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = reply.parse(&bytes).expect("an HTTP reply") {
            let length = reply
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap()
                })
                .expect("a Content-Length");
            if bytes.len() >= head + length {
                assert_eq!(bytes.len(), head + length, "more than one reply");
                return String::from_utf8(bytes).unwrap();
            }
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("a whole reply within 5 s")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-reply: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
    }
    panic!("read_reply: too many reads");
}

/// Sends `request` on `stream` and reads one reply framed by `Content-Length`.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.expect("write");
    read_reply(stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_connection_close() {
    let site = Site::start().await;
    site.set("/a", Reply::Html("a".into()));
    let mut stream = TcpStream::connect(("127.0.0.1", site.port()))
        .await
        .expect("connect");
    // Each request is sent once the previous reply is read, as a client reusing a
    // pooled connection does: the one connection serves them all.
    for _ in 0..2 {
        let reply = exchange(&mut stream, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\na"), "{reply}");
        assert!(!reply.contains("Connection: close"), "{reply}");
    }
    // Connection: close ends the connection after the reply.
    let close = b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let reply = exchange(&mut stream, close).await;
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert_eq!(
        read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .expect("a clean close"),
        0,
        "server must close after Connection: close"
    );
    let hits = site.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.peer == hits[0].peer), "{hits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_socket_pipelining_http10_and_framing() {
    let site = Site::start().await;
    site.set("/x", Reply::Html("xx".into()));
    site.set(
        "/own-length",
        Reply::Raw {
            status: 200,
            headers: vec![("Content-Length".into(), "3".into())],
            body: b"abc".to_vec(),
        },
    );
    site.set("/empty", Reply::Status(204));

    // Two pipelined requests (the first with a body to skip), then one with close.
    let out = raw_exchange(
        &site,
        b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyGET /own-length HTTP/1.1\r\nHost: h\r\n\r\n\
          GET /empty HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 2\r\n\r\nxx\
         HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
         HTTP/1.1 204 No Content\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(site.paths(), ["/x", "/own-length", "/empty"]);
    let peers: Vec<_> = site.hits().iter().map(|h| h.peer).collect();
    assert!(peers.iter().all(|p| *p == peers[0]));

    // HTTP/1.0 without keep-alive: one reply, then close (`raw_exchange` reads to EOF).
    let out = raw_exchange(&site, b"GET /x HTTP/1.0\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nxx"), "{out}");

    // Garbage gets 400 and a close, and is not logged.
    let out = raw_exchange(&site, b"NONSENSE\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert_eq!(site.count("/x"), 2);
    assert_eq!(site.hits().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_connections() {
    let site = Site::start().await;
    site.set(
        "/slow",
        Reply::delayed(Duration::from_millis(1000), Reply::Html("ok".into())),
    );
    let n = 300;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = site.url("/slow");
        // One client per task: one connection per request.
        tasks.push(tokio::spawn(async move { get(&client(), &url).await.0 }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(site.count("/slow"), n);
    assert!(
        site.max_in_flight() >= n / 2,
        "max_in_flight {}",
        site.max_in_flight()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_site_is_complete_and_reachable() {
    let site = Site::start().await;
    let (pages, fanout) = (20, 3);
    tree_site_routes(&site, pages, fanout);
    let c = client();

    let mut seen = std::collections::BTreeSet::new();
    let mut queue = std::collections::VecDeque::from(["/".to_string()]);
    for _ in 0..10 * pages {
        let Some(path) = queue.pop_front() else { break };
        if !seen.insert(path.clone()) {
            continue;
        }
        let (status, _, body) = get(&c, &site.url(&path)).await;
        assert_eq!(status, 200, "{path}");
        let i: usize = path.strip_prefix("/p/").map_or(0, |n| n.parse().unwrap());
        assert!(body.contains(&format!("<title>Page {i}</title>")), "{body}");
        if i != 0 {
            assert!(body.contains("href=\"/\""), "{path} lacks a link home");
        }
        for link in body.split("href=\"").skip(1) {
            queue.push_back(link.split('"').next().unwrap().to_string());
        }
    }
    let expected: std::collections::BTreeSet<String> = (0..pages).map(tree_page_path).collect();
    assert_eq!(seen, expected);
    assert_eq!(get(&c, &site.url("/robots.txt")).await.0, 404);

    // A robots.txt set before tree_site_routes is kept.
    let other = Site::start().await;
    other.set("/robots.txt", Reply::Html("User-agent: *\n".into()));
    tree_site_routes(&other, 1, 1);
    assert_eq!(get(&c, &other.url("/robots.txt")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_site_refuses_connections() {
    let site = Site::start().await;
    let port = site.port();
    drop(site);
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener still open after drop");
}

#[test]
fn wait_with_timeout_collects_output_and_kills() {
    let child = std::process::Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(10));
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    let child = std::process::Command::new("sleep")
        .arg("30")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| wait_with_timeout(child, Duration::from_millis(200)));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("did not exit within"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_trawl_async_terminates() {
    // Whatever the binary currently does with --help, it must be run and reaped.
    let out = run_trawl_async(vec!["--help".into()], Duration::from_secs(60)).await;
    assert!(out.code.is_some(), "{out:?}");
}

#[test]
fn records_are_read_and_keyed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pages.jsonl"),
        "{\"url\":\"http://a/\",\"status\":200}\n{\"url\":\"http://a/b\",\"status\":404}\n",
    )
    .unwrap();
    assert_eq!(read_records(dir.path()).len(), 2);
    let by_url = records_by_url(dir.path());
    assert_eq!(by_url["http://a/b"]["status"], 404);

    std::fs::write(
        dir.path().join("pages.jsonl"),
        "{\"url\":\"http://a/\"}\n{\"url\":\"http://a/\"}\n",
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let err = std::panic::catch_unwind(move || records_by_url(&path)).unwrap_err();
    assert!(err.downcast::<String>().unwrap().contains("appears twice"));

    std::fs::write(dir.path().join("pages.jsonl"), "{}\nnot json\n").unwrap();
    let path = dir.path().to_path_buf();
    let err = std::panic::catch_unwind(move || read_records(&path)).unwrap_err();
    assert!(err.downcast::<String>().unwrap().contains("pages.jsonl:2:"));
}

// ---------------------------------------------------------------------------------------
// Traps
// ---------------------------------------------------------------------------------------

/// Connects and sends `GET path` (keep-alive); the reply is left to the caller.
async fn send_get(site: &Site, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", site.port()))
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", site.host());
    stream.write_all(request.as_bytes()).await.expect("write");
    stream
}

/// Everything that arrives within `window` (stops early at EOF or an error).
async fn read_for(stream: &mut TcpStream, window: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    for _ in 0..100_000 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    out
}

/// Reads (and discards) until EOF or a read error, within `limit`: how the stream ended.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> std::io::Result<usize> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    for _ in 0..1_000_000 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {limit:?} ({total} bytes read)"),
            Ok(Ok(0)) => return Ok(total),
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => return Err(e),
        }
    }
    panic!("read_until_closed: too many reads");
}

/// Panics unless `stream` is closed (within 5 s) without sending another byte.
async fn assert_closed_silently(stream: &mut TcpStream) {
    let total = read_until_closed(stream, Duration::from_secs(5))
        .await
        .unwrap_or(0);
    assert_eq!(total, 0, "bytes before the close");
}

/// Waits (bounded) until the first hit on `path` has finished, i.e. the server stopped
/// serving it.
async fn wait_hit_finished(site: &Site, path: &str) -> Hit {
    let finished = || {
        site.hits()
            .into_iter()
            .find(|h| h.path == path)
            .filter(|h| h.end > h.start)
    };
    wait_until(
        &format!("the server to finish {path}"),
        Duration::from_secs(5),
        || finished().is_some(),
    )
    .await;
    finished().expect("finished")
}

fn quick_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("build client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_sends_nothing_blocks_nothing_and_ends_with_the_site() {
    let site = Site::start().await;
    site.set("/hang", Reply::Hang);
    site.set("/ok", Reply::Html("ok".into()));
    let mut hung = send_get(&site, "/hang").await;
    let mut hung2 = send_get(&site, "/hang").await;
    assert!(read_for(&mut hung, Duration::from_millis(300))
        .await
        .is_empty());
    assert!(read_for(&mut hung2, Duration::from_millis(10))
        .await
        .is_empty());

    // Other requests are served meanwhile.
    let started = Instant::now();
    assert_eq!(get(&client(), &site.url("/ok")).await.2, "ok");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A client with a timeout times out.
    let err = quick_client(Duration::from_millis(300))
        .get(site.url("/hang"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    assert_eq!(site.count("/hang"), 3);
    for hit in site.hits().iter().filter(|h| h.path == "/hang") {
        assert_eq!(hit.end, hit.start, "a hung request never finishes");
    }
    assert!(site.max_in_flight() >= 2);
    // Even after more input, still nothing.
    hung.write_all(b"more input").await.unwrap();
    assert!(read_for(&mut hung, Duration::from_millis(100))
        .await
        .is_empty());

    drop(site);
    for stream in [&mut hung, &mut hung2] {
        assert_closed_silently(stream).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickle_sends_the_head_at_once_and_the_body_slowly() {
    let site = Site::start().await;
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n";
    let every = Duration::from_millis(100);
    site.set(
        "/trickle",
        Reply::Trickle {
            head: head.into(),
            body: b"hello".to_vec(),
            every,
        },
    );

    let started = Instant::now();
    let mut stream = send_get(&site, "/trickle").await;
    let first = read_for(&mut stream, Duration::from_millis(60)).await;
    assert_eq!(
        String::from_utf8_lossy(&first),
        head,
        "head sent verbatim at once"
    );
    let partial = read_for(&mut stream, Duration::from_millis(200)).await;
    assert!(partial.len() < 5, "body came too fast: {partial:?}");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("trickle did not finish and close")
        .expect("read");
    assert_eq!([partial, rest].concat(), b"hello");
    assert!(started.elapsed() >= every * 5, "{:?}", started.elapsed());
    let hit = wait_hit_finished(&site, "/trickle").await;
    assert!(hit.end - hit.start >= every * 5);

    // Through reqwest: the right body, slowly.
    let started = Instant::now();
    assert_eq!(get(&client(), &site.url("/trickle")).await.2, "hello");
    assert!(started.elapsed() >= every * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_sends_a_start_then_nothing() {
    let site = Site::start().await;
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n";
    site.set(
        "/stall",
        Reply::Stall {
            head: head.into(),
            first: b"<html><body>".to_vec(),
        },
    );
    let mut stream = send_get(&site, "/stall").await;
    let got = read_for(&mut stream, Duration::from_millis(400)).await;
    assert_eq!(String::from_utf8_lossy(&got), format!("{head}<html><body>"));

    // reqwest gets the head and the first bytes, then times out on the body.
    let resp = quick_client(Duration::from_millis(500))
        .get(site.url("/stall"))
        .send()
        .await
        .expect("head arrives");
    assert_eq!(resp.headers()["content-length"], "1000");
    let err = resp.bytes().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(site.count("/stall"), 2);

    drop(site);
    assert_closed_silently(&mut stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_streams_chunks_until_the_client_leaves() {
    let site = Site::start().await;
    site.set(
        "/endless",
        Reply::Endless {
            content_type: "text/html; charset=utf-8".into(),
        },
    );
    let mut resp = client().get(site.url("/endless")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert!(resp.headers().get("content-length").is_none());
    let mut start = Vec::new();
    let mut total = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..1_000_000 {
        let chunk = resp.chunk().await.expect("chunk").expect("body ended");
        total += chunk.len();
        if start.len() < 64 * 1024 {
            start.extend_from_slice(&chunk);
        }
        if total > 4 << 20 || Instant::now() > deadline {
            break;
        }
    }
    assert!(total > 4 << 20, "only {total} bytes");
    let start = String::from_utf8(start).unwrap();
    assert!(start.starts_with(ENDLESS_BODY_PREFIX));
    assert!(start.contains("<a href=\"/endless/0\">"));
    assert!(start.contains("<a href=\"/endless/1\">"));
    drop(resp);
    wait_hit_finished(&site, "/endless").await;

    // A client that stops reading: the server waits; dropping the Site ends it.
    let mut stream = send_get(&site, "/endless").await;
    let mut peeked = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), stream.peek(&mut peeked))
        .await
        .expect("the endless body starts")
        .expect("peek");
    assert_eq!(site.count("/endless"), 2);
    drop(site);
    let buffered = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("clean close");
    assert!(buffered > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_has_the_right_length_and_streams() {
    let site = Site::start().await;
    let len = (3 << 20) + 123;
    site.set(
        "/big",
        Reply::Big {
            len,
            content_type: "text/html".into(),
        },
    );
    site.set(
        "/huge",
        Reply::Big {
            len: 1 << 40,
            content_type: "application/octet-stream".into(),
        },
    );
    site.set(
        "/tiny",
        Reply::Big {
            len: 10,
            content_type: "text/html".into(),
        },
    );
    site.set("/ok", Reply::Html("ok".into()));
    let c = client();

    let mut resp = c.get(site.url("/big")).send().await.unwrap();
    assert_eq!(resp.headers()["content-length"], len.to_string());
    assert_eq!(resp.headers()["content-type"], "text/html");
    let mut body = Vec::new();
    for _ in 0..1_000_000 {
        match resp.chunk().await.expect("chunk") {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    assert_eq!(body.len() as u64, len);
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with(BIG_BODY_PREFIX));
    // After the prefix: one paragraph repeated (so blocks join seamlessly), cut at `len`.
    let rest = &body.as_bytes()[BIG_BODY_PREFIX.len()..];
    let paragraph = &rest[..=rest.iter().position(|&b| b == b'\n').unwrap()];
    assert!(paragraph.starts_with(b"<p>") && paragraph.ends_with(b"</p>\n"));
    assert!(rest
        .chunks(paragraph.len())
        .all(|piece| paragraph.starts_with(piece)));
    // Keep-alive goes on after a Big reply.
    assert_eq!(get(&c, &site.url("/ok")).await.2, "ok");
    let hits = site.hits();
    assert_eq!(hits[0].peer, hits[1].peer);

    let (status, _, tiny) = get(&c, &site.url("/tiny")).await;
    assert_eq!((status, tiny.as_str()), (200, &BIG_BODY_PREFIX[..10]));

    // A huge one: the header is right, data flows, and leaving stops the server.
    let mut resp = c.get(site.url("/huge")).send().await.unwrap();
    assert_eq!(resp.headers()["content-length"], "1099511627776");
    let mut total = 0;
    for _ in 0..1_000_000 {
        total += resp
            .chunk()
            .await
            .expect("chunk")
            .expect("body ended")
            .len();
        if total > 2 << 20 {
            break;
        }
    }
    drop(resp);
    wait_hit_finished(&site, "/huge").await;

    // Connection: close is honoured.
    let out = raw_exchange(
        &site,
        b"GET /tiny HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        out,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\
             Content-Length: 10\r\n\r\n{}",
            &BIG_BODY_PREFIX[..10]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_are_sent_verbatim_then_closed() {
    let site = Site::start().await;
    let garbage = b"HTTX/9.9 what\r\n\x00\xff\r\n\r\nnonsense".to_vec();
    let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc".to_vec();
    site.set("/garbage", Reply::RawBytes(garbage.clone()));
    site.set("/truncated", Reply::RawBytes(truncated.clone()));
    site.set("/empty", Reply::RawBytes(Vec::new()));

    for (path, bytes) in [
        ("/garbage", &garbage),
        ("/truncated", &truncated),
        ("/empty", &Vec::new()),
    ] {
        let mut stream = send_get(&site, path).await;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
            .await
            .expect("not closed")
            .expect("read");
        assert_eq!(&out, bytes, "{path}");
    }

    let c = client();
    let err = c.get(site.url("/garbage")).send().await.unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    let resp = c.get(site.url("/truncated")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.bytes().await.is_err(),
        "a truncated chunked body is an error"
    );
    assert!(c.get(site.url("/empty")).send().await.is_err());
    assert_eq!(site.hits().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_ends_in_a_connection_reset() {
    let site = Site::start().await;
    site.set("/reset", Reply::Reset);
    site.set(
        "/flaky",
        Reply::Sequence(vec![Reply::Reset, Reply::Html("recovered".into())]),
    );

    let mut stream = send_get(&site, "/reset").await;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let mut end = None;
    for _ in 0..1000 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("no reset within 5 s")
        {
            Ok(0) => {
                end = Some(Ok(()));
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => {
                end = Some(Err(e));
                break;
            }
        }
    }
    match end {
        Some(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("expected a reset, got {other:?} after {got:?}"),
    }
    assert!(RESET_PARTIAL_HEAD.starts_with(&got), "{got:?}");

    let c = client();
    let err = c.get(site.url("/reset")).send().await.unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(c.get(site.url("/flaky")).send().await.is_err());
    assert_eq!(get(&c, &site.url("/flaky")).await.2, "recovered");
    assert_eq!(site.count("/reset"), 2);
    for hit in site.hits() {
        assert!(hit.end >= hit.start);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_on_a_kept_alive_connection_is_still_a_trap() {
    let site = Site::start().await;
    site.set("/ok", Reply::Html("ok".into()));
    site.set("/garbage", Reply::RawBytes(b"NOT HTTP".to_vec()));
    site.set("/reset", Reply::Reset);

    // An ordinary reply, then a trap on the same connection (clients reuse them).
    let mut stream = send_get(&site, "/ok").await;
    assert!(read_reply(&mut stream).await.ends_with("\r\n\r\nok"));
    stream
        .write_all(format!("GET /reset HTTP/1.1\r\nHost: {}\r\n\r\n", site.host()).as_bytes())
        .await
        .unwrap();
    let mut got = vec![0u8; RESET_PARTIAL_HEAD.len()];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut got))
        .await
        .expect("the partial head")
        .expect("read");
    assert_eq!(got, RESET_PARTIAL_HEAD);
    let end = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );

    // Pipelined: the ordinary reply in full, then the trap's bytes, then the close.
    let out = raw_exchange(
        &site,
        b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /garbage HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nokNOT HTTP"), "{out}");
    let hits = site.hits();
    assert_eq!(site.paths(), ["/ok", "/reset", "/ok", "/garbage"]);
    assert_eq!(hits[0].peer, hits[1].peer);
    assert_eq!(hits[2].peer, hits[3].peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_block_nothing_and_delay_wraps_them() {
    let site = Site::start().await;
    site.set("/hang", Reply::Hang);
    site.set(
        "/stall",
        Reply::Stall {
            head: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".into(),
            first: b"ab".to_vec(),
        },
    );
    site.set(
        "/trickle",
        Reply::Trickle {
            head: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".into(),
            body: vec![b'x'; 100],
            every: Duration::from_millis(200),
        },
    );
    site.set(
        "/endless",
        Reply::Endless {
            content_type: "text/html".into(),
        },
    );
    site.set(
        "/late-raw",
        Reply::delayed(
            Duration::from_millis(300),
            Reply::RawBytes(b"late".to_vec()),
        ),
    );
    site.set("/ok", Reply::Html("ok".into()));
    let mut open = Vec::new();
    for path in ["/hang", "/stall", "/trickle", "/endless"] {
        for _ in 0..5 {
            open.push(send_get(&site, path).await);
        }
    }
    wait_until("every trap under way", Duration::from_secs(5), || {
        site.hits().len() == 20
    })
    .await;
    let started = Instant::now();
    let c = client();
    for _ in 0..10 {
        assert_eq!(get(&c, &site.url("/ok")).await.2, "ok");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(
        raw_exchange(&site, b"GET /late-raw HTTP/1.1\r\n\r\n").await,
        "late"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(site.hits().len(), 20 + 10 + 1);
    drop(open);
}

// ---------------------------------------------------------------------------------------
// Hostile pages and gzip bombs
// ---------------------------------------------------------------------------------------

#[test]
fn link_page_and_deep_nesting() {
    let html = link_page(1000);
    let links: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(links.len(), 1000);
    let distinct: std::collections::HashSet<_> = links.iter().collect();
    assert_eq!(distinct.len(), 1000);
    assert_eq!(links[0], "/l/0");
    assert_eq!(links[999], "/l/999");
    assert!(!link_page(0).contains("href"));

    let depth = 10;
    let html = deep_nesting(depth);
    assert_eq!(html.matches("<div>").count(), depth);
    assert_eq!(html.matches("</div>").count(), depth);
    let deep = html.find("/deep-link").unwrap();
    let last_open = html.rfind("<div>").unwrap();
    let first_close = html.find("</div>").unwrap();
    let last_close = html.rfind("</div>").unwrap();
    assert!(last_open < deep && deep < first_close);
    assert!(html.find("/after-deep").unwrap() > last_close);
    let huge = deep_nesting(1_000_000);
    assert_eq!(huge.matches("<div>").count(), 1_000_000);
}

/// Gunzips `bomb` with a streaming decoder (which also checks the CRC and size trailer),
/// reading at most `limit` bytes; returns the count and checks that all are zero.
fn gunzipped_zeros(bomb: &[u8], limit: u64) -> u64 {
    let mut decoder = flate2::read::GzDecoder::new(bomb);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for _ in 0..=limit / 1024 + 1 {
        let n = std::io::Read::read(&mut decoder, &mut buf).expect("valid gzip");
        if n == 0 {
            return total;
        }
        assert!(buf[..n].iter().all(|&b| b == 0), "non-zero byte");
        total += n as u64;
        assert!(total <= limit, "more than {limit} bytes");
    }
    panic!("decoder did not end");
}

#[test]
fn gzip_bomb_decompresses_to_the_right_number_of_zeros() {
    const MIB: u64 = 1 << 20;
    for size in [
        0,
        1,
        1000,
        MIB - 1,
        MIB,
        MIB + 1,
        2 * MIB,
        3 * MIB + 12345,
        64 * MIB,
    ] {
        let bomb = gzip_bomb(size);
        assert_eq!(gunzipped_zeros(&bomb, size), size, "size {size}");
        if size >= MIB {
            assert!(
                bomb.len() as u64 * 900 < size,
                "{size} compressed to {}",
                bomb.len()
            );
        }
    }
}

#[test]
fn gzip_bomb_1g_is_fast_small_and_cached() {
    let started = Instant::now();
    let bomb = gzip_bomb_1g();
    let elapsed = started.elapsed();
    eprintln!("gzip_bomb_1g: {} bytes in {elapsed:?}", bomb.len());
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert!((900_000..1_200_000).contains(&bomb.len()), "{}", bomb.len());
    assert_eq!(&bomb[..3], [0x1f, 0x8b, 8]);
    assert_eq!(bomb[bomb.len() - 4..], (1u32 << 30).to_le_bytes());
    assert!(std::ptr::eq(bomb, gzip_bomb_1g()));
    // The first 8 MiB decode to zeros.
    let mut decoder = flate2::read::GzDecoder::new(bomb);
    let mut buf = vec![1u8; 8 << 20];
    std::io::Read::read_exact(&mut decoder, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
}
