//! S3 clients per region: the source's from its event, the destination's from `DST_REGION` or found once.
//!
//! S3 serves a bucket only from its own region (elsewhere it answers a 301
//! with `x-amz-bucket-region`). A source's region comes with its event
//! (`awsRegion`); a destination's from `DST_REGION`, or, unset, from one
//! `HeadBucket` on first use (never at start-up, so a cold start pays no
//! round trip), remembered for the life of the sandbox. Clients of other
//! regions are the function's client with another region: same
//! connections, credentials, retries and endpoint (so local endpoints keep
//! working).

use crate::copy::Clients;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use std::collections::HashMap;
use std::sync::Mutex;

/// The header with which S3 names a bucket's region (on `HeadBucket`, and
/// on a wrong-region redirect).
pub const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// The function's S3 clients, by region.
#[derive(Debug)]
pub struct RegionalClients {
    home: Client,
    destination_region: Option<String>,
    clients: Mutex<HashMap<String, Client>>,
    bucket_regions: Mutex<HashMap<String, Option<String>>>,
}

impl RegionalClients {
    /// Clients derived from `home` (the function's own region);
    /// `destination_region` is `DST_REGION`, when set.
    pub fn new(home: Client, destination_region: Option<String>) -> RegionalClients {
        RegionalClients {
            home,
            destination_region,
            clients: Mutex::new(HashMap::new()),
            bucket_regions: Mutex::new(HashMap::new()),
        }
    }

    /// The function's own client.
    pub fn home(&self) -> &Client {
        &self.home
    }

    /// The client for `region` (the home client when it is the home region).
    pub fn in_region(&self, region: &str) -> Client {
        if self.home.config().region().map(Region::as_ref) == Some(region) {
            return self.home.clone();
        }
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = self
                    .home
                    .config()
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// The clients of one copy: the source's region as its event names it
    /// (`source_region`), else as found; the destination's from
    /// `DST_REGION`, else as found.
    ///
    /// # Cancellation
    ///
    /// Dropping the future drops a `HeadBucket` in flight; nothing is cached.
    pub async fn for_copy(
        &self,
        source_bucket: &str,
        source_region: Option<&str>,
        destination_bucket: &str,
    ) -> Clients {
        let source = match source_region {
            Some(region) => Some(region.to_owned()),
            None => self.region_of(source_bucket).await,
        };
        let destination = match &self.destination_region {
            Some(region) => Some(region.clone()),
            None => self.region_of(destination_bucket).await,
        };
        let client = |region: Option<String>| match region {
            Some(region) => self.in_region(&region),
            None => self.home.clone(),
        };
        Clients {
            source: client(source),
            destination: client(destination),
        }
    }

    /// The bucket's region: remembered, or asked of S3 once with
    /// `HeadBucket` (read from its `x-amz-bucket-region`, which S3 sends
    /// on success and on a wrong-region redirect alike). `None` when S3
    /// does not say (a local server, a missing bucket): the home region.
    async fn region_of(&self, bucket: &str) -> Option<String> {
        if let Some(known) = self
            .bucket_regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(bucket)
        {
            return known.clone();
        }
        let answer = self.home.head_bucket().bucket(bucket).send().await;
        let region = match &answer {
            Ok(output) => output.bucket_region().map(str::to_owned),
            Err(error) => error
                .raw_response()
                .and_then(|raw| raw.headers().get(BUCKET_REGION_HEADER))
                .map(str::to_owned),
        };
        match &region {
            Some(found) => tracing::info!("bucket {bucket} is in {found}"),
            None => tracing::debug!("bucket {bucket} names no region: using the function's"),
        }
        self.bucket_regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(bucket.to_owned(), region.clone());
        region
    }
}
