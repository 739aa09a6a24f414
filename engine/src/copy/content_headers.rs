//! The content headers of a transformed copy: the transform's, never a stale encoding or file name of the source's.

use super::source::ObjectMetadata;
use crate::transform::Transform;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes of a file name `filename*=UTF-8''…` keeps as they are (RFC 8187's
/// attr-char); the rest are percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The destination's metadata for `transform`'s output of an object with
/// `source` metadata, written at `destination_key`. Identity keeps it all.
/// Otherwise the output's `Content-Type` is the transform's (or the
/// source's, when the transform names none); its `Content-Encoding` is the
/// transform's only (the source's described the source's bytes: a `.gz` file
/// made from a `Content-Encoding: gzip` object is not gzip-encoded twice);
/// a `Content-Disposition` naming a file names the destination's.
pub(crate) fn for_output(
    source: ObjectMetadata,
    transform: &dyn Transform,
    destination_key: &str,
) -> ObjectMetadata {
    if transform.is_identity() {
        return source;
    }
    let file_name = destination_key
        .rsplit('/')
        .next()
        .unwrap_or(destination_key);
    ObjectMetadata {
        content_type: transform
            .content_type_for(destination_key)
            .or(source.content_type),
        content_encoding: transform.content_encoding().map(str::to_owned),
        content_disposition: source
            .content_disposition
            .map(|disposition| renamed(&disposition, file_name)),
        ..source
    }
}

/// `disposition` with its `filename` / `filename*` parameters replaced by
/// `name` (quoted when it is plain ASCII, RFC 8187-encoded otherwise); a
/// disposition naming no file is kept as it is.
fn renamed(disposition: &str, name: &str) -> String {
    let mut parameters = disposition.split(';').map(str::trim);
    let kind = parameters.next().unwrap_or_default();
    let (named, others): (Vec<&str>, Vec<&str>) = parameters
        .filter(|p| !p.is_empty())
        .partition(|p| p.to_ascii_lowercase().starts_with("filename"));
    if named.is_empty() {
        return disposition.to_owned();
    }
    let plain = name
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    let file = if plain {
        format!("filename=\"{name}\"")
    } else {
        format!("filename*=UTF-8''{}", utf8_percent_encode(name, ATTR_CHAR))
    };
    let mut out = vec![kind.to_owned(), file];
    out.extend(others.into_iter().map(str::to_owned));
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{Gzip, Identity};

    fn source() -> ObjectMetadata {
        ObjectMetadata {
            content_type: Some("text/csv".into()),
            content_encoding: Some("gzip".into()),
            content_disposition: Some("attachment; filename=\"report.csv\"; size=10".into()),
            cache_control: Some("max-age=60".into()),
            ..ObjectMetadata::default()
        }
    }

    #[test]
    fn a_gzip_output_is_a_gz_file_named_after_its_key() {
        let out = for_output(source(), &Gzip::default(), "out/report.csv.gz");
        assert_eq!(out.content_type.as_deref(), Some("application/gzip"));
        assert_eq!(out.content_encoding, None);
        assert_eq!(
            out.content_disposition.as_deref(),
            Some("attachment; filename=\"report.csv.gz\"; size=10")
        );
        assert_eq!(out.cache_control.as_deref(), Some("max-age=60"));
    }

    #[test]
    fn identity_keeps_everything_and_odd_names_are_encoded() {
        assert_eq!(for_output(source(), &Identity, "report.csv"), source());
        assert_eq!(
            renamed("inline; FILENAME*=UTF-8''a.txt", "Bericht ü \"1\".gz"),
            "inline; filename*=UTF-8''Bericht%20%C3%BC%20%221%22.gz"
        );
        assert_eq!(renamed("inline", "x.gz"), "inline");
    }
}
