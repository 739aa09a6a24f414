//! Reading a request: bucket, key and query from its path-style URI, and its ranges,
//! conditions and object headers.

use super::error::S3Error;
use super::object::ObjectHeaders;
use super::upload::WriteCondition;
use http::{HeaderMap, Uri};
use percent_encoding::percent_decode_str;

/// Prefix of user-metadata headers.
const META_PREFIX: &str = "x-amz-meta-";

/// What a path-style request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// Bucket name; empty for the service root (`/`).
    pub bucket: String,
    /// Key, percent-decoded; `None` for bucket requests.
    pub key: Option<String>,
    /// Query parameters, percent-decoded.
    pub query: Query,
}

/// Query parameters in order; a name without `=` has an empty value.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b&c=%20`.
    pub fn parse(text: &str) -> Result<Query, S3Error> {
        let mut pairs = Vec::new();
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((decode(name, "query")?, decode(value, "query")?));
        }
        Ok(Query(pairs))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Percent-decodes `text` as UTF-8.
fn decode(text: &str, what: &'static str) -> Result<String, S3Error> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|error| S3Error::InvalidArgument {
            name: what,
            detail: error.to_string(),
        })
}

/// The bucket, key and query of a path-style URI.
pub fn parse_target(uri: &Uri) -> Result<Target, S3Error> {
    let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let key = match key {
        "" => None,
        key => Some(decode(key, "key")?),
    };
    Ok(Target {
        bucket: decode(bucket, "bucket")?,
        key,
        query: Query::parse(uri.query().unwrap_or(""))?,
    })
}

/// The text of header `name`, if present and visible ASCII.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Header `name` parsed as a number, if present; malformed values are invalid arguments.
pub fn number_header(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, S3Error> {
    header(headers, name)
        .map(|text| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| S3Error::InvalidArgument {
                    name,
                    detail: format!("{text:?} is not a number"),
                })
        })
        .transpose()
}

/// Whether the `If-Match`/`If-None-Match` list `condition` names `etag` (or is `*`).
pub fn etag_matches(condition: &str, etag: &str) -> bool {
    let bare = |text: &str| {
        text.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    let etag = bare(etag);
    condition
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == etag)
}

/// The inclusive byte range `Range: bytes=…` asks of a `len`-byte object; `None` when
/// absent or not a single byte range (S3 then serves the whole object).
pub fn byte_range(value: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(value) = value else { return Ok(None) };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || S3Error::InvalidRange {
        range: value.to_owned(),
        len,
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), _) if first >= len => return Err(unsatisfiable()),
        (Ok(first), Ok(last)) if last >= first => (first, last.min(len - 1)),
        (Ok(first), Err(_)) if last.is_empty() => (first, len - 1),
        (Err(_), Ok(0)) if first.is_empty() => return Err(unsatisfiable()),
        (Err(_), Ok(suffix)) if first.is_empty() => match len {
            0 => return Err(unsatisfiable()),
            len => (len.saturating_sub(suffix), len - 1),
        },
        _ => return Ok(None),
    };
    Ok(Some(range))
}

/// The precondition of a write (`If-None-Match: *` or `If-Match: etag`).
pub fn write_condition(headers: &HeaderMap) -> Result<WriteCondition, S3Error> {
    match (
        header(headers, "if-none-match"),
        header(headers, "if-match"),
    ) {
        (None, None) => Ok(WriteCondition::Always),
        (Some(none_match), None) if none_match.trim() == "*" => Ok(WriteCondition::IfAbsent),
        (Some(none_match), None) => Err(S3Error::NotImplemented {
            operation: format!("If-None-Match: {none_match} on a write (only * is supported)"),
        }),
        (None, Some(etag)) => Ok(WriteCondition::IfMatch(etag.to_owned())),
        (Some(_), Some(_)) => Err(S3Error::InvalidRequest {
            detail: "if-match and if-none-match cannot both be given on a write".to_owned(),
        }),
    }
}

/// A tag set in `x-amz-tagging` form (`k1=v1&k2=v2`, percent-encoded).
pub fn parse_tagging(text: &str) -> Result<Vec<(String, String)>, S3Error> {
    Ok(Query::parse(&text.replace('+', "%20"))?.pairs().to_vec())
}

/// The object headers a write carries.
pub fn object_headers(headers: &HeaderMap) -> Result<ObjectHeaders, S3Error> {
    let text = |name: &str| header(headers, name).map(str::to_owned);
    let content_encoding = header(headers, "content-encoding")
        .map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|coding| !coding.eq_ignore_ascii_case("aws-chunked") && !coding.is_empty())
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|value| !value.is_empty());
    let metadata = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix(META_PREFIX)?;
            Some((name.to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    Ok(ObjectHeaders {
        content_type: text("content-type"),
        content_encoding,
        content_disposition: text("content-disposition"),
        content_language: text("content-language"),
        cache_control: text("cache-control"),
        expires: text("expires"),
        metadata,
        tags: match header(headers, "x-amz-tagging") {
            Some(tagging) => parse_tagging(tagging)?,
            None => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_as_s3_does() {
        let range = |text: &str| byte_range(Some(text), 100);
        assert_eq!(range("bytes=0-9"), Ok(Some((0, 9))));
        assert_eq!(range("bytes=90-200"), Ok(Some((90, 99))));
        assert_eq!(range("bytes=95-"), Ok(Some((95, 99))));
        assert_eq!(range("bytes=-10"), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-1000"), Ok(Some((0, 99))));
        assert!(range("bytes=100-").is_err());
        assert!(range("bytes=-0").is_err());
        assert_eq!(range("bytes=9-3"), Ok(None));
        assert_eq!(range("bytes=0-1,5-6"), Ok(None));
        assert_eq!(range("items=0-1"), Ok(None));
        assert_eq!(byte_range(None, 100), Ok(None));
    }

    #[test]
    fn decodes_path_style_targets() {
        let uri: Uri = "/b/dir/a%20b+c?uploadId=x%2By&uploads".parse().unwrap();
        let target = parse_target(&uri).unwrap();
        assert_eq!(target.bucket, "b");
        assert_eq!(target.key.as_deref(), Some("dir/a b+c"));
        assert_eq!(target.query.get("uploadId"), Some("x+y"));
        assert!(target.query.has("uploads"));
        let bucket = parse_target(&"/b/".parse().unwrap()).unwrap();
        assert_eq!(bucket.key, None);
    }

    #[test]
    fn matches_etag_lists() {
        assert!(etag_matches("\"a\"", "\"a\""));
        assert!(etag_matches("a", "\"a\""));
        assert!(etag_matches("\"b\", W/\"a\"", "\"a\""));
        assert!(etag_matches("*", "\"a\""));
        assert!(!etag_matches("\"b\"", "\"a\""));
    }
}
