//! The requests one copy sends, counted by an SDK interceptor on its own client handle.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every request attempt (retries included) as it is sent.
#[derive(Debug)]
struct CountRequests(Arc<AtomicU64>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A handle on `client` (same connections, credentials and retries) that
/// adds the requests sent through it to `count`.
pub(crate) fn counted(client: &Client, count: &Arc<AtomicU64>) -> Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(CountRequests(Arc::clone(count)))
        .build();
    Client::from_conf(config)
}
