//! The HTTP/1.1 keep-alive connection to the Runtime API, and what each status means.

use super::api::ApiRequest;
use super::endpoint::Endpoint;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A failure talking to the Runtime API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be made.
    #[error("failed to connect to the runtime api at {endpoint}")]
    Connect {
        /// Where we tried.
        endpoint: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("runtime api request failed")]
    Http(#[from] hyper::Error),
}

/// A response with its body read in full.
#[derive(Debug)]
pub struct ApiResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// One keep-alive connection, re-made when the server closes it.
pub struct RuntimeApiClient {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl RuntimeApiClient {
    /// A client for `endpoint`; connects on first use.
    pub fn new(endpoint: Endpoint) -> RuntimeApiClient {
        RuntimeApiClient {
            endpoint,
            sender: None,
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let stream = TcpStream::connect(self.endpoint.authority())
            .await
            .map_err(|source| ClientError::Connect {
                endpoint: self.endpoint.to_string(),
                source,
            })?;
        // Small requests and responses: do not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("runtime api connection closed: {error}");
            }
        });
        Ok(sender)
    }

    /// Sends `request` and reads the whole response. No timeout: `/next`
    /// legitimately blocks until Lambda has an event. A request the connection
    /// dropped before sending (the server closed it, as HTTP/1.0 servers do)
    /// is sent once more on a new connection.
    pub async fn send(&mut self, request: &impl ApiRequest) -> Result<ApiResponse, ClientError> {
        match self.send_once(request).await {
            Err(ClientError::Http(error)) if error.is_canceled() => {
                self.sender = None;
                self.send_once(request).await
            }
            result => result,
        }
    }

    async fn send_once(&mut self, request: &impl ApiRequest) -> Result<ApiResponse, ClientError> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        if sender.ready().await.is_err() {
            sender = self.connect().await?;
        }
        let response: Response<hyper::body::Incoming> = sender
            .send_request(request.to_request(&self.endpoint))
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        self.sender = Some(sender);
        Ok(ApiResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
