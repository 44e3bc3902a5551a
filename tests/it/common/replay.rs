//! Replaying archives the way their users do: pywb (installed by `.ci/test` into
//! `target/ci-venv`) serving a collection of trawl's WARC files on loopback.

use std::time::Duration;

use super::{ci_tool, free_addr, get, is_ok, wait_until};

/// Runs a pywb tool in `dir`, which must succeed.
pub fn pywb(dir: &std::path::Path, tool: &str, args: &[&str]) {
    let out = std::process::Command::new(ci_tool(tool))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): run the tests with .ci/test, which installs pywb")
        });
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Kills the replay server however the test ends.
pub struct Wayback(std::process::Child);

impl Drop for Wayback {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of a reply from `get`, with its status line.
pub fn status_and_body(reply: &str) -> (&str, &str) {
    let line = reply.lines().next().unwrap_or("");
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (line, body)
}

/// A pywb collection of `warcs`, served on a free loopback port until the returned
/// guard is dropped; waits until it answers.
pub async fn replay(warcs: &[String]) -> ((Wayback, tempfile::TempDir), String) {
    let dir = tempfile::tempdir().unwrap();
    pywb(dir.path(), "wb-manager", &["init", "trawl"]);
    let mut add = vec!["add", "trawl"];
    add.extend(warcs.iter().map(String::as_str));
    pywb(dir.path(), "wb-manager", &add);
    let addr = free_addr();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let wayback = Wayback(
        std::process::Command::new(ci_tool("wayback"))
            .args(["-b", "127.0.0.1", "-p", &port])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("wayback starts"),
    );
    let a = addr.clone();
    wait_until("pywb answers", Duration::from_secs(60), || {
        get(&a, "/").is_some_and(|r| is_ok(&r))
    })
    .await;
    ((wayback, dir), addr)
}
