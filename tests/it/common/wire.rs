//! A raw HTTP/1.0 server on `127.0.0.1:0` that keeps each request's head byte for
//! byte (hyper, under [`Site`](super::Site), parses heads and so cannot say what
//! was on the wire). Every request gets the same scripted reply, then the
//! connection closes, as an HTTP/1.0 server does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct RawServer {
    pub port: u16,
    heads: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    /// Answers every request with `reply` (a whole HTTP/1.0 response).
    pub async fn start(reply: Vec<u8>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        let task = tokio::spawn(async move {
            // Bounded: no test sends more than a few hundred requests.
            for _ in 0..1000 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let kept = kept.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    kept.lock().unwrap().push(head);
                    let _ = s.write_all(&reply).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        RawServer { port, heads, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request head received so far, in arrival order.
    pub fn heads(&self) -> Vec<Vec<u8>> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
