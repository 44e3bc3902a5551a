//! A real `redis-server` for the shared-frontier tests: started on a free port of
//! 127.0.0.1 with its data (AOF) in a temporary directory, stopped on drop.
//!
//! The tests never skip: without redis-server they fail saying how to install it
//! (`.ci/run` installs it from Debian's packages). `REDIS_SERVER` may name the binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `--requirepass`, if the server was started with one.
    password: Option<String>,
}

fn binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

impl Redis {
    /// Starts a server with append-only persistence (fsync every second, and on a
    /// clean shutdown), as trawl's README asks of a shared crawl's Redis.
    pub fn start() -> Redis {
        Redis::start_with_password(None)
    }

    /// [`Redis::start`] with `--requirepass PASSWORD` (as the compose file runs it).
    pub fn start_with_password(password: Option<&str>) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut r = Redis {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            password: password.map(str::to_string),
        };
        r.launch();
        r
    }

    /// The server's data directory (its append-only files).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `AUTH PASSWORD\r\n` when the server has one (sent before each command).
    fn auth_line(&self) -> String {
        self.password
            .as_ref()
            .map(|p| format!("AUTH {p}\r\n"))
            .unwrap_or_default()
    }

    fn launch(&mut self) {
        let child = Command::new(binary())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--appendonly", "yes", "--save", ""])
            .args(["--loglevel", "warning", "--daemonize", "no"])
            .args(
                self.password
                    .iter()
                    .flat_map(|p| ["--requirepass".to_string(), p.clone()]),
            )
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}. The shared-frontier tests need redis-server \
                     (Debian: apt-get install redis-server; .ci/test installs it)",
                    binary().display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..1000 {
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not answer");
    }

    /// True if the server answers PING.
    pub fn ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let auth = self.auth_line();
        if s.write_all(format!("{auth}PING\r\n").as_bytes()).is_err() {
            return false;
        }
        let expect: &[u8] = if auth.is_empty() {
            b"+PONG\r\n"
        } else {
            b"+OK\r\n+PONG\r\n"
        };
        let mut buf = vec![0u8; expect.len()];
        s.read_exact(&mut buf).is_ok() && buf == expect
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server cleanly (SIGTERM: it writes its data out), waiting at most 10 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..1000 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the server again on the same port and data.
    pub fn restart(&mut self, down_for: Duration) {
        self.stop();
        std::thread::sleep(down_for);
        self.launch();
    }

    /// Runs one command (inline form) and returns the raw reply text, read up to the end
    /// of the reply (at most 5 s).
    pub fn command(&self, line: &str) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let auth = self.auth_line();
        s.write_all(format!("{auth}{line}\r\n").as_bytes())
            .expect("write");
        let mut out = Vec::new();
        if !auth.is_empty() {
            // The +OK of AUTH comes first: read past it.
            let mut ok = [0u8; 5];
            s.read_exact(&mut ok).expect("AUTH answered");
            assert_eq!(&ok, b"+OK\r\n", "AUTH refused");
        }
        let mut buf = [0u8; 65536];
        for _ in 0..1000 {
            if reply_len(&out).is_some() {
                break;
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The length of the whole RESP2 reply at the start of `bytes`, if it has all arrived.
fn reply_len(bytes: &[u8]) -> Option<usize> {
    let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let after = line_end + 2;
    let count = || -> Option<i64> { std::str::from_utf8(&bytes[1..line_end]).ok()?.parse().ok() };
    match bytes[0] {
        b'+' | b'-' | b':' => Some(after),
        b'$' => match usize::try_from(count()?) {
            Ok(len) => Some(after + len + 2).filter(|&end| bytes.len() >= end),
            Err(_) => Some(after),
        },
        b'*' => {
            let mut at = after;
            for _ in 0..count()?.max(0) {
                at += reply_len(&bytes[at..])?;
            }
            Some(at)
        }
        _ => None,
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
