//! The test kit's key encoding (how S3 notifications carry keys) and the product's decoding are inverses.

use s3_stream_lambda::event::decode_key;
use s3_stream_testkit::notification_key::encode_key;

#[test]
fn encoded_keys_decode_to_themselves() {
    for key in ["with space.txt", "a+b=c", "ünïcødé/日本語 ✓.bin", "x%y", ""] {
        assert_eq!(decode_key(&encode_key(key)).as_deref(), Ok(key));
    }
}
