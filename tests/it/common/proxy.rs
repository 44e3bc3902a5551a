//! Proxies on `127.0.0.1:0` that count what passes through them: an HTTP forward
//! proxy (absolute-form requests, `Proxy-Authorization` kept) and a SOCKS5 proxy
//! (RFC 1928, with RFC 1929 username/password when asked). Both forward only to
//! 127.0.0.1: anything else is refused and logged, so no packet leaves loopback even
//! when the code under test is wrong.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a proxy saw.
#[derive(Debug, Clone, Default)]
pub struct Passed {
    /// Each request or tunnel target, as `host:port` (HTTP: plus the path).
    pub targets: Vec<String>,
    /// Credentials presented: the `Proxy-Authorization` value, or `user:password`.
    pub credentials: Vec<String>,
    /// Targets refused for not being 127.0.0.1.
    pub refused: Vec<String>,
}

pub struct Proxy {
    pub port: u16,
    seen: Arc<Mutex<Passed>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn seen(&self) -> Passed {
        self.seen.lock().unwrap().clone()
    }

    /// An HTTP forward proxy.
    pub async fn http() -> Proxy {
        Proxy::start(false, None).await
    }

    /// A SOCKS5 proxy; with `login`, it asks for that username and password.
    pub async fn socks5(login: Option<(&str, &str)>) -> Proxy {
        Proxy::start(true, login.map(|(u, p)| (u.to_string(), p.to_string()))).await
    }

    async fn start(socks: bool, login: Option<(String, String)>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Passed::default()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            // Bounded: no test opens more connections than this.
            for _ in 0..10_000 {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let login = login.clone();
                tokio::spawn(async move {
                    let served = match socks {
                        true => socks5(client, &log, login).await,
                        false => forward(client, &log).await,
                    };
                    let _ = served;
                });
            }
        });
        Proxy { port, seen, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return None;
        }
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// One absolute-form request: forwarded to its origin (127.0.0.1 only) with
/// `Connection: close`, the whole answer relayed, then the connection closed.
async fn forward(mut client: TcpStream, log: &Mutex<Passed>) -> Option<()> {
    let head = String::from_utf8(read_head(&mut client).await?).ok()?;
    let mut lines = head.split("\r\n");
    let line = lines.next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let rest = target.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for h in lines.filter(|l| !l.is_empty()) {
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("proxy-authorization:") {
            log.lock()
                .unwrap()
                .credentials
                .push(h[h.len() - v.len()..].trim().to_string());
            continue;
        }
        if lower.starts_with("connection:") || lower.starts_with("proxy-connection:") {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    if !authority.starts_with("127.0.0.1:") {
        log.lock().unwrap().refused.push(authority.to_string());
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return None;
    }
    log.lock()
        .unwrap()
        .targets
        .push(format!("{authority}{path}"));
    let mut origin = TcpStream::connect(authority).await.ok()?;
    origin.write_all(out.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), origin.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    client.write_all(&answer).await.ok()?;
    client.shutdown().await.ok()
}

/// A SOCKS5 tunnel to 127.0.0.1 (a name or an address), after the login if asked.
async fn socks5(
    mut client: TcpStream,
    log: &Mutex<Passed>,
    login: Option<(String, String)>,
) -> Option<()> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await.ok()?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await.ok()?;
    let wanted = if login.is_some() { 2 } else { 0 };
    if greeting[0] != 5 || !methods.contains(&wanted) {
        let _ = client.write_all(&[5, 0xff]).await;
        return None;
    }
    client.write_all(&[5, wanted]).await.ok()?;
    if let Some((user, password)) = login {
        let mut v = [0u8; 2];
        client.read_exact(&mut v).await.ok()?;
        let mut u = vec![0u8; usize::from(v[1])];
        client.read_exact(&mut u).await.ok()?;
        let mut plen = [0u8; 1];
        client.read_exact(&mut plen).await.ok()?;
        let mut p = vec![0u8; usize::from(plen[0])];
        client.read_exact(&mut p).await.ok()?;
        let given = format!(
            "{}:{}",
            String::from_utf8_lossy(&u),
            String::from_utf8_lossy(&p)
        );
        log.lock().unwrap().credentials.push(given.clone());
        let ok = given == format!("{user}:{password}");
        client.write_all(&[1, if ok { 0 } else { 1 }]).await.ok()?;
        if !ok {
            return None;
        }
    }
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await.ok()?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a).await.ok()?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await.ok()?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await.ok()?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return None,
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await.ok()?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    if req[1] != 1 || host != "127.0.0.1" {
        log.lock().unwrap().refused.push(target);
        let _ = client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).await;
        return None;
    }
    log.lock().unwrap().targets.push(target.clone());
    let mut origin = TcpStream::connect(&target).await.ok()?;
    client
        .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .ok()?;
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::copy_bidirectional(&mut client, &mut origin),
    )
    .await;
    Some(())
}
