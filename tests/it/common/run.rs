//! Running the real `trawl` binary with a hard timeout, and reading what a crawl wrote
//! (`pages.jsonl`, `stats.json`).
//!
//! Running the binary blocks the calling thread. The `Site` servers are tasks on the tokio
//! runtime of the test, so from inside a test use
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` and call
//! [`run_trawl_async`], [`crawl`] or [`finish`] (which use `spawn_blocking`), or call the
//! blocking functions only from a plain thread. Calling [`run_trawl`] directly on a
//! runtime thread can starve (on a `current_thread` runtime: deadlock) the very servers
//! the crawler is talking to.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `trawl` binary cargo built for these tests.
pub fn trawl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trawl"))
}

/// What a finished run printed and returned.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// Panics, showing stderr, unless it contains each of `texts`.
    pub fn assert_stderr_has(&self, texts: &[&str]) -> &Self {
        assert_has("stderr", &self.stderr, texts);
        self
    }

    /// Panics, showing stdout, unless it contains each of `texts`.
    pub fn assert_stdout_has(&self, texts: &[&str]) -> &Self {
        assert_has("stdout", &self.stdout, texts);
        self
    }

    /// Panics, showing both outputs, unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

fn assert_has(name: &str, output: &str, texts: &[&str]) {
    for text in texts {
        assert!(output.contains(text), "no {text:?} in {name}:\n{output}");
    }
}

/// Proxy variables are removed so the crawler always talks to 127.0.0.1 directly.
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Starts `trawl` with `args`: stdin null, stdout and stderr piped, `RUST_LOG` and proxy
/// variables removed. Blocking-safe (does not wait).
pub fn spawn_trawl(args: &[&str]) -> Child {
    let bin = trawl_bin();
    trawl_command(Command::new(&bin), args)
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {} {args:?}: {e}", bin.display()))
}

/// `cmd` (trawl, or a wrapper given trawl's path) with `args`, piped output and
/// no proxy or log settings from the environment.
fn trawl_command(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `trawl` with `args` to completion inside a private network namespace
/// (`unshare -n`: only a loopback interface, and that one down), for tests whose
/// URLs name anything but our own loopback servers: whatever the code under test
/// does, no packet can leave (a DNS query fails at once). Never skipped: a machine
/// that cannot make a namespace fails the test. BLOCKS, like [`run_trawl`].
pub fn run_trawl_isolated(args: &[&str], timeout: Duration) -> RunOutput {
    let bin = trawl_bin();
    let mut unshare = Command::new("unshare");
    unshare.arg("-n").arg(&bin);
    let child = trawl_command(unshare, args)
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn unshare -n {}: {e}", bin.display()));
    let out = wait_with_timeout(child, timeout);
    assert!(
        !out.stderr.contains("unshare failed") && !out.stderr.contains("unshare: "),
        "cannot make a private network namespace (run the tests as root or with \
         user namespaces): {}",
        out.stderr
    );
    out
}

/// Runs `trawl` with `args` to completion. BLOCKS: see the module docs; from async tests
/// use [`run_trawl_async`]. Kills the child and panics if it runs longer than `timeout`.
pub fn run_trawl(args: &[&str], timeout: Duration) -> RunOutput {
    wait_with_timeout(spawn_trawl(args), timeout)
}

/// [`run_trawl`] on tokio's blocking pool, so the fixture servers keep running. Use from
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
pub async fn run_trawl_async(args: Vec<String>, timeout: Duration) -> RunOutput {
    let task = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_trawl(&args, timeout)
    });
    match task.await {
        Ok(output) => output,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("run_trawl_async: blocking task failed: {e}"),
        },
    }
}

fn spawn_reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

fn collect(rx: Option<mpsc::Receiver<Vec<u8>>>) -> String {
    match rx {
        None => String::new(),
        Some(rx) => match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => "<fixture: output pipe still open 5s after exit>".to_string(),
        },
    }
}

/// Waits for `child` (stdout/stderr, if piped, are read concurrently so it never blocks on
/// a full pipe). BLOCKS. Kills the child and panics with its output so far if it runs
/// longer than `timeout`.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> RunOutput {
    let stdout = child.stdout.take().map(spawn_reader);
    let stderr = child.stderr.take().map(spawn_reader);
    let poll = Duration::from_millis(10);
    let deadline = Instant::now() + timeout;
    let max_polls = timeout.as_millis() / poll.as_millis() + 2;
    let mut status = None;
    for _ in 0..max_polls {
        match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                break;
            }
            Ok(None) => {}
            Err(e) => panic!("wait_with_timeout: try_wait failed: {e}"),
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(poll.min(deadline - now));
    }
    match status {
        Some(status) => RunOutput {
            code: status.code(),
            stdout: collect(stdout),
            stderr: collect(stderr),
        },
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process {} did not exit within {timeout:?}; killed it\n--- stdout ---\n{}\n--- stderr ---\n{}",
                child.id(),
                collect(stdout),
                collect(stderr)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Output records
// ---------------------------------------------------------------------------------------

/// Parses `out_dir/pages.jsonl`: one JSON object per line. Panics naming the line number
/// on a bad (or blank) line.
pub fn read_records(out_dir: &Path) -> Vec<serde_json::Value> {
    let path = out_dir.join("pages.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: not valid JSON ({e}): {line:?}",
                    path.display(),
                    i + 1
                )
            });
            assert!(
                value.is_object(),
                "{}:{}: not a JSON object: {line:?}",
                path.display(),
                i + 1
            );
            value
        })
        .collect()
}

/// [`read_records`] keyed by each record's `"url"` string. Panics if a record has no
/// string `url` or a url appears twice.
pub fn records_by_url(out_dir: &Path) -> HashMap<String, serde_json::Value> {
    let mut map = HashMap::new();
    for (i, record) in read_records(out_dir).into_iter().enumerate() {
        let url = match record.get("url").and_then(|u| u.as_str()) {
            Some(url) => url.to_string(),
            None => panic!(
                "pages.jsonl:{}: record has no string \"url\": {record}",
                i + 1
            ),
        };
        if let Some(previous) = map.insert(url.clone(), record) {
            panic!(
                "pages.jsonl:{}: url {url} appears twice (first: {previous})",
                i + 1
            );
        }
    }
    map
}

/// Runs `trawl crawl --out <fresh temp dir> ARGS...` (from an async test, with a
/// 90 s bound); returns the output and the directory.
pub async fn crawl(args: &[&str]) -> (RunOutput, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = vec!["crawl".into(), "--out".into()];
    all.push(dir.path().display().to_string());
    all.extend(args.iter().map(|s| s.to_string()));
    let out = run_trawl_async(all, Duration::from_secs(90)).await;
    (out, dir)
}

/// The stats.json a crawl wrote into `out_dir`.
pub fn stats(out_dir: &Path) -> serde_json::Value {
    read_json(&out_dir.join("stats.json"))
}

/// A JSON file trawl wrote.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

/// Sends a signal (`"-INT"`, `"-TERM"`) to a running trawl.
pub fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs");
}

/// Waits, off the runtime, for a spawned trawl to exit (90 s bound).
pub async fn finish(child: Child) -> RunOutput {
    tokio::task::spawn_blocking(move || wait_with_timeout(child, Duration::from_secs(90)))
        .await
        .expect("the waiting thread finished")
}

/// `crawl URL --out OUT EXTRA...` as owned arguments (to run the same crawl again).
pub fn crawl_args(url: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["crawl".into(), url.into(), "--out".into()];
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Starts trawl with owned arguments (see [`crawl_args`]).
pub fn spawn_args(args: &[String]) -> Child {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_trawl(&refs)
}

/// Starts `trawl crawl URL --out OUT EXTRA...` without waiting for it.
pub fn spawn_crawl(url: &str, out: &Path, extra: &[&str]) -> Child {
    spawn_args(&crawl_args(url, out, extra))
}

/// The reference WARC tool: `$WARCIO`, else the one `.ci/test` installs under
/// target/, else `warcio` on PATH.
pub fn warcio() -> PathBuf {
    std::env::var_os("WARCIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| ci_tool("warcio"))
}

/// Every WARC file of a crawl in `out_dir`, decompressed, one after another (empty
/// when there is no archive). Files in name order.
pub fn warc_bytes(out_dir: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut files: Vec<PathBuf> = std::fs::read_dir(out_dir.join("warc"))
        .map(|d| d.map(|e| e.expect("read warc dir").path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut all = Vec::new();
    for path in files {
        let file = std::fs::File::open(&path).expect("open a WARC file");
        flate2::read::MultiGzDecoder::new(file)
            .read_to_end(&mut all)
            .expect("a WARC file decompresses");
    }
    all
}

/// A Python tool `.ci/test` installs in target/ci-venv (warcio, pywb's `wayback` and
/// `wb-manager`), else the one on PATH.
pub fn ci_tool(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/ci-venv/bin")
        .join(name);
    match venv.is_file() {
        true => venv,
        false => PathBuf::from(name),
    }
}

pub fn run_warcio(args: &[&str]) -> String {
    let out = Command::new(warcio())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run warcio ({e}): run the tests with .ci/test, which installs it")
        });
    assert!(
        out.status.success(),
        "warcio {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `warcio index` of every finished WARC file of a crawl in `out_dir` (each checked
/// with `warcio check` first): one JSON object per record, files in name order.
pub fn warc_index(out_dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out_dir.join("warc"))
        .unwrap_or_else(|e| panic!("no warc directory in {}: {e}", out_dir.display()))
        .map(|e| e.expect("read warc dir").path())
        .collect();
    files.sort();
    let mut records = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let check = run_warcio(&["check", "-v", &name]);
        assert!(!check.contains("digest failed"), "{check}");
        for line in run_warcio(&["index", &name]).lines() {
            records.push(serde_json::from_str(line).expect("warcio index prints JSON lines"));
        }
    }
    records
}
