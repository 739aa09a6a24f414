//! The Extensions API client: one small type per endpoint, and the no-op internal extension that makes Lambda send SIGTERM.
//!
//! Lambda delivers SIGTERM to the runtime process at shutdown only when at
//! least one extension is registered. An *internal* extension (a task of this
//! process) registered for no events is enough: it registers during init,
//! before the runtime's first `/invocation/next`, then parks in
//! `/extension/event/next`, which never answers because it subscribed to
//! nothing. Internal extensions may not subscribe to `SHUTDOWN`; the SIGTERM is
//! the signal. This mirrors `lambda_runtime::spawn_graceful_shutdown_handler`.

use super::api::{ApiRequest, request_builder, sanitize_header};
use super::client::{ClientError, RuntimeApiClient};
use super::endpoint::Endpoint;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header as http_header};
use http_body_util::Full;
use tokio::task::JoinHandle;

/// Header names of the Extensions API, as AWS documents them.
pub mod header {
    /// The extension's name, sent with `/extension/register`.
    pub const NAME: &str = "lambda-extension-name";
    /// The id `/extension/register` answers with; every later call names it.
    pub const IDENTIFIER: &str = "lambda-extension-identifier";
    /// The id of one event `/extension/event/next` delivers.
    pub const EVENT_IDENTIFIER: &str = "lambda-extension-event-identifier";
}

/// The name this function's internal extension registers under. Names must be
/// unique within a function, so it names this project rather than reusing
/// `lambda_runtime`'s helper name (a layer might bring that one).
pub const INTERNAL_EXTENSION_NAME: &str = "s3-stream-lambda-graceful-shutdown";

/// `POST /extension/register`: register an extension for `events`.
pub struct RegisterExtension<'a> {
    /// `Lambda-Extension-Name`.
    pub name: &'a str,
    /// `INVOKE` and/or `SHUTDOWN`; empty for an extension that only wants SIGTERM sent.
    pub events: &'a [&'a str],
}

impl ApiRequest for RegisterExtension<'_> {
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        let body = serde_json::json!({ "events": self.events }).to_string();
        request_builder(
            endpoint,
            Method::POST,
            endpoint.extension_path("extension/register"),
        )
        .header(header::NAME, sanitize_header(self.name))
        .header(http_header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        // The header values are sanitized and the path is our own constant,
        // so building cannot fail; never panic if it ever did.
        .unwrap_or_default()
    }
}

/// `GET /extension/event/next`: wait for the extension's next event.
pub struct NextExtensionEvent<'a> {
    /// `Lambda-Extension-Identifier`, as registration returned it.
    pub extension_id: &'a str,
}

impl ApiRequest for NextExtensionEvent<'_> {
    fn to_request(&self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        request_builder(
            endpoint,
            Method::GET,
            endpoint.extension_path("extension/event/next"),
        )
        .header(header::IDENTIFIER, sanitize_header(self.extension_id))
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
    }
}

/// Why an extension could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    /// The Extensions API could not be reached.
    #[error("failed to register extension {name}")]
    Client {
        /// The extension.
        name: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// The Extensions API answered something other than 200.
    #[error("extensions api answered {status} to the registration of extension {name}: {body}")]
    Refused {
        /// The extension.
        name: String,
        /// The status.
        status: StatusCode,
        /// The error document.
        body: String,
    },
    /// 200, but no identifier to call `/event/next` with.
    #[error(
        "extensions api registered extension {name} without a {} header",
        header::IDENTIFIER
    )]
    MissingIdentifier {
        /// The extension.
        name: String,
    },
}

/// An extension the Extensions API accepted.
pub struct RegisteredExtension {
    name: String,
    id: String,
    client: RuntimeApiClient,
}

impl RegisteredExtension {
    /// Registers `name` for `events`. Must be called during init, before the
    /// runtime's first `/invocation/next`: Lambda closes registration then.
    pub async fn register(
        endpoint: &Endpoint,
        name: &str,
        events: &[&str],
    ) -> Result<RegisteredExtension, ExtensionError> {
        // A connection of its own: `/event/next` long-polls and must not hold
        // up the runtime's requests.
        let mut client = RuntimeApiClient::new(endpoint.clone());
        let response = client
            .send(&RegisterExtension { name, events })
            .await
            .map_err(|source| ExtensionError::Client {
                name: name.to_owned(),
                source,
            })?;
        if response.status != StatusCode::OK {
            return Err(ExtensionError::Refused {
                name: name.to_owned(),
                status: response.status,
                body: String::from_utf8_lossy(&response.body).into_owned(),
            });
        }
        let id = response
            .headers
            .get(header::IDENTIFIER)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| ExtensionError::MissingIdentifier {
                name: name.to_owned(),
            })?
            .to_owned();
        tracing::debug!("registered extension {name} as {id}");
        Ok(RegisteredExtension {
            name: name.to_owned(),
            id,
            client,
        })
    }

    /// The identifier the Extensions API gave this extension.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Spawns the task that keeps calling `/event/next` (which tells Lambda
    /// the extension is ready) and ignores whatever arrives. It ends when the
    /// Extensions API refuses or goes away, or when the handle is dropped.
    pub fn spawn_idle(self) -> ExtensionTask {
        ExtensionTask(tokio::spawn(self.idle()))
    }

    async fn idle(mut self) {
        loop {
            let request = NextExtensionEvent {
                extension_id: &self.id,
            };
            match self.client.send(&request).await {
                Ok(response) if response.status == StatusCode::OK => {
                    tracing::debug!(
                        "extension {} ignores an event: {}",
                        self.name,
                        String::from_utf8_lossy(&response.body)
                    );
                }
                Ok(response) => {
                    tracing::warn!(
                        "extensions api answered {} to event/next of extension {}: {}",
                        response.status,
                        self.name,
                        String::from_utf8_lossy(&response.body)
                    );
                    return;
                }
                Err(error) => {
                    tracing::debug!(
                        "extension {} stops polling: {}",
                        self.name,
                        super::error_chain(&error)
                    );
                    return;
                }
            }
        }
    }
}

/// The running poll task of a [`RegisteredExtension`]; aborted when dropped.
pub struct ExtensionTask(JoinHandle<()>);

impl ExtensionTask {
    /// True once the poll task has ended (refused, or the API went away).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for ExtensionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Registers [`INTERNAL_EXTENSION_NAME`] for no events and spawns its poll
/// task, so that Lambda sends SIGTERM before it ends the sandbox.
///
/// # Cancellation
///
/// Dropping the future before it completes may leave a registered extension
/// that never calls `/event/next`, which holds Lambda's init until it times
/// out: drop it only when the process is about to exit.
pub async fn register_graceful_shutdown(
    endpoint: &Endpoint,
) -> Result<ExtensionTask, ExtensionError> {
    let extension = RegisteredExtension::register(endpoint, INTERNAL_EXTENSION_NAME, &[]).await?;
    Ok(extension.spawn_idle())
}
