//! The connection to Redis as people run it: one server or a Redis Cluster, over
//! plain TCP (`redis://`) or TLS (`rediss://`), with a password or an ACL user
//! (`redis://user:password@host`). Which of one server or a cluster it is, is asked
//! of the server (`INFO cluster`), so the same `--frontier` URL works for both.
//!
//! TLS checks the server's certificate against the bundled public roots (as the
//! HTTP client does: no system store needed in a slim image), or against the
//! `redis_ca` file for a private certificate authority.
//!
//! This module only connects; it never logs or returns the URL unredacted.

use std::path::Path;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Client, Cmd, Pipeline, RedisFuture, TlsCertificates, Value};

use super::{message, redact, SharedError};

/// How long connecting may take before it fails with one line.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// A PEM bundle larger than this is not a CA file.
const MAX_CA_BYTES: u64 = 1024 * 1024;

/// A connection that reconnects by itself: to one server, or to every node of a
/// cluster (routing each call by its key's slot, following MOVED).
#[derive(Clone)]
pub enum Conn {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::One(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::One(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::One(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Where Redis is and how to trust it.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// `redis://` or `rediss://`, with any user and password.
    pub url: String,
    /// PEM file of the CA that signed a `rediss://` server's certificate.
    pub ca: Option<std::path::PathBuf>,
}

impl Endpoint {
    pub fn new(url: &str) -> Endpoint {
        Endpoint {
            url: url.to_string(),
            ca: None,
        }
    }
}

/// Connects within 5 s (one line when Redis is not there, refuses the password,
/// or its certificate is not trusted), to one server or to a cluster.
pub async fn connect(at: &Endpoint) -> Result<Conn, SharedError> {
    let unreachable = |message: String| SharedError::Unreachable {
        url: redact(&at.url),
        message,
    };
    let certs = match &at.ca {
        Some(path) => Some(read_ca(path)?),
        None => None,
    };
    let client = match &certs {
        Some(c) => Client::build_with_tls(at.url.as_str(), c.clone()),
        None => Client::open(at.url.as_str()),
    }
    .map_err(|e| unreachable(message(&e)))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(1);
    let connect = ConnectionManager::new_with_config(client, config);
    let mut one = tokio::time::timeout(CONNECT_WAIT, connect)
        .await
        .map_err(|_| unreachable("no answer within 5 s".into()))?
        .map_err(|e| unreachable(message(&e)))?;
    let info: String = ::redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut one)
        .await
        .map_err(|e| unreachable(message(&e)))?;
    if !info.lines().any(|l| l.trim() == "cluster_enabled:1") {
        return Ok(Conn::One(one));
    }
    // A cluster node: the client learns the other nodes from it (CLUSTER SLOTS)
    // and uses its user, password and TLS for all of them.
    let mut builder = ClusterClientBuilder::new(vec![at.url.as_str()])
        .connection_timeout(Duration::from_secs(3))
        .response_timeout(Duration::from_secs(10))
        .retries(2);
    if let Some(c) = certs {
        builder = builder.certs(c);
    }
    let cluster = builder.build().map_err(|e| unreachable(message(&e)))?;
    let mut conn = tokio::time::timeout(CONNECT_WAIT, cluster.get_async_connection())
        .await
        .map_err(|_| unreachable("no answer from the cluster within 5 s".into()))?
        .map_err(|e| unreachable(message(&e)))?;
    let _: String = ::redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| unreachable(message(&e)))?;
    Ok(Conn::Cluster(conn))
}

/// The CA file as rustls wants it: PEM, at least one certificate, bounded.
fn read_ca(path: &Path) -> Result<TlsCertificates, SharedError> {
    let bad = |message: String| SharedError::Ca {
        path: path.display().to_string(),
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| bad(e.to_string()))?
        .len();
    if size > MAX_CA_BYTES {
        return Err(bad(format!("{size} bytes is not a CA file")));
    }
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}
