//! Object keys as S3 notifications encode them: form-encoded UTF-8.

/// Why a key could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// A `%` not followed by two hex digits.
    #[error("key {0:?} has a malformed percent escape")]
    BadEscape(String),
    /// The decoded bytes are not UTF-8.
    #[error("key {0:?} does not decode to utf-8")]
    NotUtf8(String),
}

/// Decodes a key from an S3 notification: `+` is a space and `%XX` are the
/// bytes of UTF-8 (so a literal `+` arrives as `%2B`).
pub fn decode_key(encoded: &str) -> Result<String, KeyError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| KeyError::BadEscape(encoded.to_owned()))?;
                out.push(hex);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| KeyError::NotUtf8(encoded.to_owned()))
}

/// Encodes a key as an S3 notification carries it (what [`decode_key`]
/// reverses): a space is `+`, bytes outside the unreserved set are `%XX`,
/// so a literal `+` is `%2B`. The work queue's messages are notifications.
/// (The test kit keeps an encoder of its own, S3's side of the contract, so
/// the tests never check this one against itself.)
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(char::from(byte))
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
    fn encoding_round_trips() {
        for key in ["a b+c", "ü/x.bin", "%2B literal", "tab\tand~tilde", ""] {
            assert_eq!(decode_key(&encode_key(key)).unwrap(), key);
        }
        assert_eq!(encode_key("a b+c"), "a+b%2Bc");
    }

    #[test]
    fn decodes_form_encoding() {
        assert_eq!(
            decode_key("requests/2026/11/26/rest+api+%28copy%29+%C3%BC.json").unwrap(),
            "requests/2026/11/26/rest api (copy) ü.json"
        );
        assert_eq!(
            decode_key("big/part%2Bplus.bin").unwrap(),
            "big/part+plus.bin"
        );
    }

    #[test]
    fn rejects_bad_escapes_and_bad_utf8() {
        assert!(matches!(decode_key("a%2"), Err(KeyError::BadEscape(_))));
        assert!(matches!(decode_key("a%zz"), Err(KeyError::BadEscape(_))));
        assert!(matches!(decode_key("%FF"), Err(KeyError::NotUtf8(_))));
    }
}
