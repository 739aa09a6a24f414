//! Object keys encoded the way S3 notifications encode them: form-encoded UTF-8.

/// Encodes a key as an S3 notification carries it: a space is `+`, bytes
/// outside the unreserved set are `%XX` (so a literal `+` is `%2B`).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_spaces_plus_and_utf8() {
        assert_eq!(encode_key("a b+c"), "a+b%2Bc");
        assert_eq!(encode_key("ü/x.bin"), "%C3%BC/x.bin");
    }
}
