//! `Content-Range` of a ranged GET, checked against the range that was asked for.

/// `bytes START-END/TOTAL` as numbers; `None` for anything else (including
/// `bytes */TOTAL` and an unknown total `*`).
pub(super) fn parse(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = end.trim().parse().ok()?;
    let total = total.trim().parse().ok()?;
    (start <= end && end < total).then_some((start, end, total))
}

/// True when `header` says exactly bytes `start..=end` of an object of `size` bytes.
pub(super) fn matches(header: Option<&str>, start: u64, end: u64, size: u64) -> bool {
    header.and_then(parse) == Some((start, end, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_content_ranges() {
        assert_eq!(parse("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(parse(" bytes 5-5/6 "), Some((5, 5, 6)));
        assert_eq!(parse("bytes */1000"), None);
        assert_eq!(parse("bytes 0-99/*"), None);
        assert_eq!(parse("bytes 9-3/10"), None);
        assert_eq!(parse("bytes 0-10/10"), None);
        assert_eq!(parse("items 0-1/2"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn matches_only_the_asked_range_of_the_resolved_size() {
        assert!(matches(Some("bytes 10-19/100"), 10, 19, 100));
        assert!(!matches(Some("bytes 0-19/100"), 10, 19, 100));
        assert!(!matches(Some("bytes 10-18/100"), 10, 19, 100));
        assert!(!matches(Some("bytes 10-19/101"), 10, 19, 100));
        assert!(!matches(None, 10, 19, 100));
    }
}
