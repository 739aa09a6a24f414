//! `REQUEST_PAYER=requester`: every S3 request says the function's account pays, as requester-pays buckets require.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};

/// The header a requester-pays bucket requires on every request.
pub const REQUEST_PAYER_HEADER: &str = "x-amz-request-payer";

/// Adds `x-amz-request-payer: requester` to every request before it is
/// signed. Sent to a bucket that is not requester-pays it changes nothing,
/// so one client serves sources and destinations alike.
#[derive(Debug)]
struct RequesterPays;

impl Intercept for RequesterPays {
    fn name(&self) -> &'static str {
        "RequesterPays"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        context
            .request_mut()
            .headers_mut()
            .insert(REQUEST_PAYER_HEADER, "requester");
        Ok(())
    }
}

/// A handle on `client` (same connections, credentials, retries) whose
/// requests accept a requester-pays bucket's charges.
pub fn paying(client: &Client) -> Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(RequesterPays)
        .build();
    Client::from_conf(config)
}
