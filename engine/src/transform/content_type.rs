//! The `Content-Type` a key's extension names, for decompressed output whose source type was the archive's.

/// Extensions and their types: the formats objects in S3 pipelines are
/// usually compressed from.
const TYPES: [(&str, &str); 16] = [
    ("json", "application/json"),
    ("ndjson", "application/x-ndjson"),
    ("jsonl", "application/x-ndjson"),
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("txt", "text/plain"),
    ("log", "text/plain"),
    ("xml", "application/xml"),
    ("html", "text/html"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("parquet", "application/vnd.apache.parquet"),
    ("avro", "application/avro"),
    ("tar", "application/x-tar"),
    ("pdf", "application/pdf"),
    ("gz", "application/gzip"),
];

/// The type `key`'s extension names, or `application/octet-stream`.
pub fn type_of_key(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    extension
        .and_then(|extension| {
            TYPES
                .iter()
                .find(|(known, _)| *known == extension)
                .map(|(_, kind)| *kind)
        })
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_types() {
        assert_eq!(type_of_key("logs/2026/a.JSON"), "application/json");
        assert_eq!(type_of_key("data.tar"), "application/x-tar");
        assert_eq!(type_of_key("no-extension"), "application/octet-stream");
        assert_eq!(type_of_key("dir.d/file"), "application/octet-stream");
    }
}
