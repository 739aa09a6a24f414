//! The parts S3 holds for an open upload: `ListParts`, paginated past 1,000.

use crate::copy::error::{CopyError, SdkFailure};
use crate::copy::failure_class::FailureClass;
use crate::copy::upload::multipart::UploadedPart;
use crate::copy::upload::{Destination, crc64_decode};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;

/// What `ListParts` says of an upload.
#[derive(Debug)]
pub enum Listed {
    /// Open, with these parts (in part-number order).
    Open(Vec<UploadedPart>),
    /// S3 no longer knows it: completed, or aborted (a lifecycle rule, the
    /// last attempt of a twin delivery).
    Gone,
}

/// Lists every part of `upload_id`, page by page.
pub async fn parts(
    client: &Client,
    destination: &Destination,
    upload_id: &str,
) -> Result<Listed, CopyError> {
    let mut parts = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let answer = client
            .list_parts()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.take())
            .send()
            .await;
        let page = match answer {
            Ok(page) => page,
            Err(error)
                if error.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload") =>
            {
                return Ok(Listed::Gone);
            }
            Err(error) => {
                return Err(CopyError::Destination {
                    operation: "list parts",
                    bucket: destination.bucket.clone(),
                    key: destination.key.clone(),
                    class: FailureClass::of_sdk(&error),
                    source: Box::new(error) as SdkFailure,
                });
            }
        };
        for part in page.parts() {
            let (Some(number), Some(etag), Some(size)) =
                (part.part_number(), part.e_tag(), part.size())
            else {
                continue;
            };
            parts.push(UploadedPart {
                number: number.max(0) as u64,
                etag: etag.to_owned(),
                crc: part.checksum_crc64_nvme().and_then(crc64_decode),
                len: size.max(0) as u64,
            });
        }
        match (page.is_truncated(), page.next_part_number_marker()) {
            (Some(true), Some(next)) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    parts.sort_by_key(|part| part.number);
    parts.dedup_by_key(|part| part.number);
    Ok(Listed::Open(parts))
}
