//! A real `redis-server` for the shared-frontier tests: started on a free port of
//! 127.0.0.1 with its data (AOF) in a temporary directory, stopped on drop. Also as
//! people run it: with an ACL user, over TLS (a throwaway CA and certificate made
//! here), and as a three-node Redis Cluster ([`Cluster`]).
//!
//! The tests never skip: without redis-server they fail saying how to install it
//! (`.ci/run` installs it from Debian's packages). `REDIS_SERVER` may name the binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    opts: Options,
}

/// How a server is started.
#[derive(Default, Clone)]
pub struct Options {
    /// `--requirepass`: the default user's password.
    pub password: Option<String>,
    /// An ACL user and password, with the default user switched off.
    pub user: Option<(String, String)>,
    /// Serve TLS on `tls_port` with these PEM files (the plain port stays, on
    /// loopback, for the helper's own checks).
    pub tls: Option<Tls>,
    /// A cluster node (`--cluster-enabled yes`).
    pub cluster: bool,
}

#[derive(Clone)]
pub struct Tls {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
        Redis::start_with(Options {
            password: password.map(str::to_string),
            ..Options::default()
        })
    }

    /// A server started with `opts`. A free port can be taken by another test
    /// between our probe and redis-server's bind: then it is tried again on others.
    pub fn start_with(opts: Options) -> Redis {
        let mut r = Redis {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            opts,
        };
        for _ in 0..4 {
            if r.try_launch() {
                return r;
            }
            r.port = free_port();
            if let Some(t) = r.opts.tls.as_mut() {
                t.port = free_port();
            }
        }
        r.launch();
        r
    }

    /// The server's data directory (its append-only files).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `AUTH [USER] PASSWORD\r\n` when the server has one (sent before each command).
    fn auth_line(&self) -> String {
        match (&self.opts.user, &self.opts.password) {
            (Some((u, p)), _) => format!("AUTH {u} {p}\r\n"),
            (None, Some(p)) => format!("AUTH {p}\r\n"),
            (None, None) => String::new(),
        }
    }

    /// The server's arguments beyond port, persistence and logging.
    fn extra_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let o = &self.opts;
        if let Some(p) = &o.password {
            a.extend(["--requirepass".into(), p.clone()]);
        }
        if let Some((u, p)) = &o.user {
            // Each word its own argument: redis-server quotes an argument with blanks.
            for w in [u.as_str(), "on", &format!(">{p}"), "~*", "&*", "+@all"] {
                a.push(if w == u { "--user".into() } else { w.into() });
                if w == u {
                    a.push(w.into());
                }
            }
            a.extend(["--user".into(), "default".into(), "off".into()]);
        }
        if let Some(t) = &o.tls {
            a.extend(["--tls-port".into(), t.port.to_string()]);
            for (k, v) in [("cert", &t.cert), ("key", &t.key), ("ca-cert", &t.ca)] {
                a.extend([format!("--tls-{k}-file"), v.display().to_string()]);
            }
            a.extend(["--tls-auth-clients".into(), "no".into()]);
        }
        if o.cluster {
            a.extend(["--cluster-enabled".into(), "yes".into()]);
            a.extend(["--cluster-node-timeout".into(), "5000".into()]);
        }
        a
    }

    /// Starts the server on its ports and data; panics unless it answers.
    fn launch(&mut self) {
        assert!(self.try_launch(), "redis-server did not answer within 10 s");
    }

    /// Starts the server; false if it exited (a port taken) or did not answer
    /// within 10 s.
    fn try_launch(&mut self) -> bool {
        let child = Command::new(binary())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--appendonly", "yes", "--save", ""])
            .args(["--loglevel", "warning", "--daemonize", "no"])
            .args(self.extra_args())
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
            // Ours must still run: a PONG may come from another test's server on a
            // port ours could not bind.
            let running = |c: &mut Option<Child>| {
                c.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
            };
            let exited = !running(&mut self.child);
            if !exited && self.ping() && running(&mut self.child) {
                return true;
            }
            if exited || Instant::now() >= deadline {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
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
        match (&self.opts.user, &self.opts.password) {
            (Some((u, p)), _) => format!("redis://{u}:{p}@127.0.0.1:{}/0", self.port),
            (None, Some(p)) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            (None, None) => format!("redis://127.0.0.1:{}/0", self.port),
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

/// Three redis-server nodes made one Redis Cluster (no replicas): slots split in
/// three, joined with CLUSTER MEET, ready once every node says `cluster_state:ok`.
pub struct Cluster {
    pub nodes: Vec<Redis>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let nodes: Vec<Redis> = (0..3)
            .map(|_| {
                Redis::start_with(Options {
                    cluster: true,
                    ..Options::default()
                })
            })
            .collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (n, (a, b)) in nodes.iter().zip(ranges) {
            let r = n.command(&format!("CLUSTER ADDSLOTSRANGE {a} {b}"));
            assert!(r.starts_with("+OK"), "ADDSLOTSRANGE: {r}");
        }
        for n in &nodes[1..] {
            let r = nodes[0].command(&format!("CLUSTER MEET 127.0.0.1 {}", n.port()));
            assert!(r.starts_with("+OK"), "MEET: {r}");
        }
        let c = Cluster { nodes };
        c.wait_ok();
        c
    }

    /// Waits (at most 30 s) until every node reports the cluster whole.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..3000 {
            if self
                .nodes
                .iter()
                .all(|n| n.ping() && n.command("CLUSTER INFO").contains("cluster_state:ok"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not form within 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the cluster did not form");
    }

    /// The crawl's URL: any one node (the client learns the others).
    pub fn url(&self) -> String {
        self.nodes[1].url()
    }

    /// The node serving `key`'s slot.
    pub fn node_of(&self, key: &str) -> &Redis {
        let slot: u64 = self.nodes[0]
            .command(&format!("CLUSTER KEYSLOT {key}"))
            .trim_start_matches(':')
            .trim()
            .parse()
            .expect("a slot");
        let i = match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        &self.nodes[i]
    }

    /// Stops every node and starts them again on the same ports and data, then
    /// waits for the cluster to be whole again.
    pub fn restart(&mut self, down_for: Duration) {
        for n in &mut self.nodes {
            n.stop();
        }
        std::thread::sleep(down_for);
        for n in &mut self.nodes {
            n.launch();
        }
        self.wait_ok();
    }
}

/// A throwaway certificate authority and a server certificate it signed for
/// 127.0.0.1 and localhost, written as PEM files into `dir`; also a second CA that
/// signed nothing (to show an untrusted server is refused).
pub fn throwaway_certs(dir: &Path, port: u16) -> (Tls, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "trawl test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    let other_key = KeyPair::generate().expect("other key");
    let mut other = CertificateParams::new(Vec::<String>::new()).expect("other params");
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other_cert = other.self_signed(&other_key).expect("other CA");
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).expect("write PEM");
        p
    };
    let tls = Tls {
        port,
        cert: write("server.crt", cert.pem()),
        key: write("server.key", key.serialize_pem()),
        ca: write("ca.crt", ca_cert.pem()),
    };
    (tls, write("other-ca.crt", other_cert.pem()))
}
