//! Each request's time to first byte and count, by operation, recorded by an SDK interceptor on the bench's client.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the requests of one measured case did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Time to first byte of every answered attempt: from the request
    /// leaving the SDK (a new connection's setup included) to the
    /// response's headers (for an upload, after its body went out), by
    /// operation name (`GetObject`, `UploadPart`, …).
    pub ttfb: BTreeMap<&'static str, Vec<Duration>>,
    /// Attempts sent (retries included), by operation name.
    pub requests: BTreeMap<&'static str, u64>,
}

impl Recorded {
    /// Every attempt, of any operation.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// Collects what the bench's client sends; [`Recorder::take`] hands over
/// what was recorded since the last call (one case's requests).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Recorded>>);

impl Recorder {
    /// A handle on `client` (same connections and credentials) whose
    /// requests are recorded here.
    pub fn client(&self, client: &Client) -> Client {
        let config = client
            .config()
            .to_builder()
            .interceptor(Measure(self.clone()))
            .build();
        Client::from_conf(config)
    }

    /// What was recorded since the last call.
    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// When an attempt's request went out (kept in its interceptor state).
#[derive(Debug, Clone, Copy)]
struct SentAt(Instant);

impl Storable for SentAt {
    type Storer = StoreReplace<Self>;
}

fn operation(config: &ConfigBag) -> &'static str {
    config
        .load::<Metadata>()
        .map_or("unknown", |metadata| operation_name(metadata.name()))
}

/// The operations a bench sends, as `'static` names (unknown ones pooled).
fn operation_name(name: &str) -> &'static str {
    const KNOWN: [&str; 17] = [
        "GetObject",
        "HeadObject",
        "PutObject",
        "UploadPart",
        "UploadPartCopy",
        "CopyObject",
        "CreateMultipartUpload",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "GetObjectTagging",
        "DeleteObject",
        "ListObjectsV2",
        "ListMultipartUploads",
        "ListObjectVersions",
        "DeleteObjects",
        "HeadBucket",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == name)
        .unwrap_or("other")
}

#[derive(Debug)]
struct Measure(Recorder);

impl Intercept for Measure {
    fn name(&self) -> &'static str {
        "BenchMeasure"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let name = operation(config);
        config.interceptor_state().store_put(SentAt(Instant::now()));
        let mut recorded = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        *recorded.requests.entry(name).or_default() += 1;
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(SentAt(sent)) = config.load::<SentAt>().copied() else {
            return Ok(());
        };
        let name = operation(config);
        let mut recorded = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.ttfb.entry(name).or_default().push(sent.elapsed());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_operations_are_pooled() {
        assert_eq!(operation_name("UploadPart"), "UploadPart");
        assert_eq!(operation_name("SelectObjectContent"), "other");
    }
}
