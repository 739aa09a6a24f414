//! Error types of the fault proxy.

use std::io;
use std::net::SocketAddr;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The upstream is not on this machine; the proxy only talks to loopback.
    #[error("upstream address {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// The upstream URL is not of the form `http://127.0.0.1:PORT`.
    #[error("invalid upstream url {0:?}, expected http://127.0.0.1:PORT")]
    InvalidUrl(String),
    /// The listening socket could not be bound.
    #[error("failed to bind the proxy listener on {addr}")]
    Bind {
        /// Address the proxy tried to bind.
        addr: SocketAddr,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The bound listener's port could not be read.
    #[error("failed to read the proxy listener's local address")]
    LocalAddr(#[source] io::Error),
}

/// Why a request was not answered normally; internal to the proxy.
#[derive(Debug, thiserror::Error)]
pub(super) enum ForwardError {
    #[error("failed to connect to upstream {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("timed out connecting to upstream {0}")]
    ConnectTimeout(SocketAddr),
    #[error("failed to handshake with upstream {addr}")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("failed to exchange the request with upstream {addr}")]
    Exchange {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("the exchange with upstream {addr} ended without an answer: {reason}")]
    Task { addr: SocketAddr, reason: String },
    #[error("response body cut after {0} bytes by an injected fault")]
    BodyCut(u64),
    #[error("client connection closed by an injected fault")]
    Disconnect,
}
