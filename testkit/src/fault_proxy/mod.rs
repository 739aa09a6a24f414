//! HTTP/1.1 reverse proxy in front of a local S3-compatible server that injects faults for tests.
//!
//! The S3 client talks path-style to [`FaultProxy::endpoint`]; every request is forwarded to
//! the upstream with its method, path, query, headers (including `host`, which SigV4 signs)
//! and streaming body, unless a [`Rule`] says otherwise. Every request is recorded in
//! [`FaultProxy::log`]. The proxy stops when it is dropped.

mod body;
mod error;
mod fault;
mod forward;
mod log;
mod matcher;
mod pace;
mod rule;
mod s3op;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{debug, warn};

pub use self::error::StartError;
pub use self::fault::Fault;
pub use self::log::{Exchange, Outcome};
pub use self::matcher::Matcher;
pub use self::rule::{Rule, RuleId, Times};
pub use self::s3op::S3Op;

use self::forward::Shared;
use self::rule::RuleSet;

/// Address the proxy listens on: loopback only, any free port.
const LISTEN_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Pause after a failed `accept` before trying again.
///
/// Accept fails transiently (e.g. out of file descriptors); a short pause avoids spinning
/// a core while still recovering well within any test timeout.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(10);

/// A running fault-injecting proxy; dropping it stops the listener and every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: DropGuard,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream`, which must be loopback.
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy, StartError> {
        if !upstream.ip().is_loopback() {
            return Err(StartError::NotLoopback(upstream));
        }
        let listener = TcpListener::bind(LISTEN_ADDR)
            .await
            .map_err(|source| StartError::Bind {
                addr: LISTEN_ADDR,
                source,
            })?;
        let addr = listener.local_addr().map_err(StartError::LocalAddr)?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(RuleSet::default()),
            log: Arc::default(),
            shutdown: shutdown.clone(),
        });
        tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(FaultProxy {
            addr,
            shared,
            _shutdown: shutdown.drop_guard(),
        })
    }

    /// Starts a proxy forwarding to an upstream given as `http://127.0.0.1:PORT`.
    pub async fn start_url(upstream: &str) -> Result<FaultProxy, StartError> {
        Self::start(parse_upstream_url(upstream)?).await
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for the S3 client, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Installs a rule after the existing ones; the first rule that fires wins.
    pub fn add_rule(&self, rule: Rule) -> RuleId {
        self.shared.rules().add(rule)
    }

    /// Removes a rule; false when it was not installed.
    pub fn remove_rule(&self, id: RuleId) -> bool {
        self.shared.rules().remove(id)
    }

    /// Removes every rule; their hit counts are forgotten.
    pub fn clear_rules(&self) {
        self.shared.rules().clear();
    }

    /// How many requests the rule has fired on; 0 for a rule not installed.
    pub fn hits(&self, id: RuleId) -> usize {
        self.shared.rules().hits(id)
    }

    /// Every request seen since start (or the last [`FaultProxy::clear_log`]), in arrival order.
    pub fn log(&self) -> Vec<Exchange> {
        self.shared.log.snapshot()
    }

    /// Forgets the log; requests still in flight are not recorded any more.
    pub fn clear_log(&self) {
        self.shared.log.clear();
    }
}

/// Parses `http://HOST:PORT[/]` where HOST is a loopback IP literal or `localhost`.
fn parse_upstream_url(url: &str) -> Result<SocketAddr, StartError> {
    let invalid = || StartError::InvalidUrl(url.to_owned());
    let authority = url
        .strip_prefix("http://")
        .ok_or_else(invalid)?
        .trim_end_matches('/');
    let authority = match authority.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => authority.to_owned(),
    };
    authority.parse().map_err(|_| invalid())
}

/// Accepts client connections until the proxy is dropped.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            Err(error) => {
                warn!(error = %error, "fault proxy failed to accept a connection");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
            }
        }
    }
}

/// Serves one keep-alive client connection until it closes or the proxy is dropped.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(error = %error, "fault proxy could not disable nagle");
    }
    let shutdown = shared.shutdown.clone();
    let service = service_fn(move |request| forward::handle(Arc::clone(&shared), request));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                debug!(error = %error, "fault proxy client connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_urls() {
        let addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(parse_upstream_url("http://127.0.0.1:9000").unwrap(), addr);
        assert_eq!(parse_upstream_url("http://localhost:9000/").unwrap(), addr);
        assert!(parse_upstream_url("https://127.0.0.1:9000").is_err());
        assert!(parse_upstream_url("http://127.0.0.1").is_err());
    }

    #[tokio::test]
    async fn refuses_non_loopback_upstream() {
        let remote: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let result = FaultProxy::start(remote).await;
        assert!(matches!(result, Err(StartError::NotLoopback(_))));
    }
}
