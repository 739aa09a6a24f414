//! Receiving a request body frame by frame — aws-chunked or plain — hashing it as it
//! streams, keeping only small ones, then checking its length and checksum.

use super::checksum::{BodyDigest, ChecksumAlgorithm};
use super::chunked::ChunkedDecoder;
use super::config::{KEEP_BYTES_LIMIT, MAX_UPLOAD_BYTES};
use super::error::S3Error;
use super::pacing::Pacer;
use super::request::{header, number_header};
use super::stats::Counters;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// How to read one upload body, from its headers.
#[derive(Debug, Clone)]
pub struct BodyPlan {
    /// Whether the body is aws-chunked.
    pub chunked: bool,
    /// The payload length the client declared.
    pub declared_len: u64,
    /// A checksum header's algorithm and value.
    pub header_checksum: Option<(ChecksumAlgorithm, String)>,
    /// The checksum the aws-chunked trailer (`x-amz-trailer`) will carry.
    pub trailer_checksum: Option<ChecksumAlgorithm>,
    /// Another CRC to compute besides CRC64NVME.
    pub algorithm: Option<ChecksumAlgorithm>,
}

impl BodyPlan {
    /// The plan for a body with `headers`, within `max_len` bytes; `default_algorithm`
    /// (a multipart upload's) is computed when the request names none.
    pub fn from_headers(
        headers: &HeaderMap,
        max_len: u64,
        default_algorithm: Option<ChecksumAlgorithm>,
    ) -> Result<BodyPlan, S3Error> {
        let chunked = header(headers, "content-encoding")
            .is_some_and(|coding| coding.to_ascii_lowercase().contains("aws-chunked"))
            || header(headers, "x-amz-content-sha256")
                .is_some_and(|sha| sha.starts_with("STREAMING-"));
        let declared_len = match chunked {
            true => number_header(headers, "x-amz-decoded-content-length")?,
            false => number_header(headers, "content-length")?,
        }
        .ok_or(S3Error::MissingContentLength)?;
        if declared_len > max_len {
            return Err(S3Error::EntityTooLarge {
                len: declared_len,
                max: max_len,
            });
        }
        let mut sent = ChecksumAlgorithm::ALL.into_iter().filter_map(|algorithm| {
            Some((algorithm, header(headers, algorithm.header())?.to_owned()))
        });
        let header_checksum = sent.next();
        if sent.next().is_some() {
            return Err(S3Error::InvalidRequest {
                detail: "more than one checksum header was sent".to_owned(),
            });
        }
        let trailer_checksum = match header(headers, "x-amz-trailer") {
            Some(trailer) => Some(
                ChecksumAlgorithm::ALL
                    .into_iter()
                    .find(|algorithm| algorithm.header().eq_ignore_ascii_case(trailer.trim()))
                    .ok_or_else(|| S3Error::InvalidRequest {
                        detail: format!("x-amz-trailer {trailer} names no checksum"),
                    })?,
            ),
            None => None,
        };
        let named =
            header(headers, "x-amz-sdk-checksum-algorithm").and_then(ChecksumAlgorithm::parse);
        let algorithm = header_checksum
            .as_ref()
            .map(|(algorithm, _)| *algorithm)
            .or(trailer_checksum)
            .or(named)
            .or(default_algorithm);
        Ok(BodyPlan {
            chunked,
            declared_len,
            header_checksum,
            trailer_checksum,
            algorithm,
        })
    }
}

/// A body received and verified.
#[derive(Debug, Clone)]
pub struct ReceivedBody {
    /// Payload length.
    pub len: u64,
    /// CRC64NVME of the payload.
    pub crc64nvme: u64,
    /// The checksum in the plan's algorithm (base64), verified when it is a CRC.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// The payload, when it is at most `KEEP_BYTES_LIMIT` bytes.
    pub bytes: Option<Bytes>,
}

/// Hashes payload runs and keeps them while the body is small.
struct Sink {
    len: u64,
    digest: BodyDigest,
    kept: Option<BytesMut>,
}

impl Sink {
    fn push(&mut self, data: Bytes) {
        self.len += data.len() as u64;
        self.digest.update(&data);
        if self.len > KEEP_BYTES_LIMIT {
            self.kept = None;
        } else if let Some(kept) = self.kept.as_mut() {
            kept.extend_from_slice(&data);
        }
    }
}

/// Reads `body` as `plan` says, paced by `pacer`, and verifies it.
pub async fn receive(
    mut body: Incoming,
    plan: &BodyPlan,
    pacer: &Pacer,
    counters: &Counters,
) -> Result<ReceivedBody, S3Error> {
    let keep = plan.declared_len <= KEEP_BYTES_LIMIT;
    let mut sink = Sink {
        len: 0,
        digest: BodyDigest::new(plan.algorithm),
        kept: keep.then(|| BytesMut::with_capacity(plan.declared_len as usize)),
    };
    let mut decoder = plan.chunked.then(ChunkedDecoder::new);
    let mut trailers = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| S3Error::BodyRead {
            detail: error.to_string(),
        })?;
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Ok(http_trailers) = frame.into_trailers() {
                    trailers.extend(http_trailers.iter().filter_map(|(name, value)| {
                        Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                    }));
                }
                continue;
            }
        };
        counters.received(frame.len() as u64);
        pacer.consume(frame.len() as u64).await;
        match decoder.as_mut() {
            Some(decoder) => decoder.feed(frame, &mut |data| sink.push(data))?,
            None => sink.push(frame),
        }
        if sink.len > plan.declared_len {
            return Err(S3Error::InvalidRequest {
                detail: format!(
                    "body is longer than its declared {} bytes",
                    plan.declared_len
                ),
            });
        }
    }
    if let Some(decoder) = decoder {
        trailers.extend(decoder.finish()?);
    }
    if sink.len != plan.declared_len {
        return Err(S3Error::IncompleteBody {
            received: sink.len,
            declared: plan.declared_len,
        });
    }
    let expected = match (&plan.header_checksum, plan.trailer_checksum) {
        (Some(sent), _) => Some(sent.clone()),
        (None, Some(algorithm)) => {
            let value = trailers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(algorithm.header()))
                .map(|(_, value)| value.clone())
                .ok_or_else(|| S3Error::InvalidRequest {
                    detail: format!("trailer {} was announced but not sent", algorithm.header()),
                })?;
            Some((algorithm, value))
        }
        (None, None) => None,
    };
    let checksum = verify(&sink.digest, expected, plan.algorithm)?;
    Ok(ReceivedBody {
        len: sink.len,
        crc64nvme: sink.digest.crc64nvme(),
        checksum,
        bytes: sink.kept.map(BytesMut::freeze),
    })
}

/// Checks a sent checksum against the computed one; returns the checksum to store.
fn verify(
    digest: &BodyDigest,
    expected: Option<(ChecksumAlgorithm, String)>,
    algorithm: Option<ChecksumAlgorithm>,
) -> Result<Option<(ChecksumAlgorithm, String)>, S3Error> {
    let Some((algorithm, sent)) = expected else {
        return Ok(algorithm.and_then(|algorithm| {
            let value = digest.value(algorithm)?;
            Some((algorithm, algorithm.encode(value)))
        }));
    };
    let Some(computed) = digest.value(algorithm) else {
        return Ok(Some((algorithm, sent)));
    };
    if algorithm.decode(&sent) != Some(computed) {
        return Err(S3Error::BadDigest {
            algorithm: algorithm.as_str(),
            expected: sent,
            computed: algorithm.encode(computed),
        });
    }
    Ok(Some((algorithm, algorithm.encode(computed))))
}

/// Reads a small body (XML) whole, up to `max` bytes.
pub async fn read_small(
    mut body: Incoming,
    max: u64,
    counters: &Counters,
) -> Result<Bytes, S3Error> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| S3Error::BodyRead {
            detail: error.to_string(),
        })?;
        if let Ok(data) = frame.into_data() {
            counters.received(data.len() as u64);
            if (out.len() + data.len()) as u64 > max {
                return Err(S3Error::EntityTooLarge {
                    len: (out.len() + data.len()) as u64,
                    max,
                });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// Reads and drops what is left of a body refused before it was read, up to
/// `MAX_UPLOAD_BYTES`, so the client reads the error instead of a reset connection.
/// A body declared larger is left unread (the connection then closes), as S3 does.
pub async fn discard(mut body: Incoming, counters: &Counters) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            counters.received(data.len() as u64);
            seen += data.len() as u64;
            if seen > MAX_UPLOAD_BYTES {
                return;
            }
        }
    }
}
