//! Object bytes generated from `(seed, offset)`: they cost no storage and any range of
//! an object reads the same bytes whichever request asks for it.

use crc_fast::{CrcAlgorithm, Digest};

/// Bytes per generated word: each 8-byte-aligned word is a pure function of
/// `(seed, word index)`, so a range starting anywhere needs no state before it.
const WORD_BYTES: u64 = 8;

/// Buffer size used when hashing a whole generated object: big enough to amortise the
/// CRC kernel's setup, small enough to stay in L2.
const CRC_BUFFER_BYTES: usize = 256 * 1024;

/// The splitmix64 increment (2^64 / golden ratio), which spreads consecutive indices.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// splitmix64's output function: a cheap bijective mix with good avalanche.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Multiplier of the word mix: an odd constant with good avalanche (from Stafford's
/// mix13); one multiply per word keeps generation at several GB/s per core.
const WORD_MULTIPLIER: u64 = 0xd6e8_feb8_6659_fd93;

/// The word at `index` of the object generated from `key` (a mixed seed): a
/// Weyl sequence through a one-multiply xorshift mix, incompressible to gzip and xz.
#[inline]
fn word(key: u64, index: u64) -> [u8; 8] {
    let mut z = key.wrapping_add(index.wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 32)).wrapping_mul(WORD_MULTIPLIER);
    (z ^ (z >> 32)).to_le_bytes()
}

/// Fills `out` with the bytes at `offset..offset + out.len()` of the object generated
/// from `seed`.
pub fn fill(seed: u64, offset: u64, out: &mut [u8]) {
    let key = mix(seed);
    let skip = (offset % WORD_BYTES) as usize;
    let mut index = offset / WORD_BYTES;
    let mut rest = out;
    if skip != 0 {
        let first = word(key, index);
        let take = rest.len().min(first.len() - skip);
        let (head, tail) = rest.split_at_mut(take);
        head.copy_from_slice(&first[skip..skip + take]);
        rest = tail;
        index += 1;
    }
    let whole_words = (rest.len() / WORD_BYTES as usize) as u64;
    let mut words = rest.chunks_exact_mut(WORD_BYTES as usize);
    for (slot, i) in (&mut words).zip(index..) {
        slot.copy_from_slice(&word(key, i));
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let last = word(key, index + whole_words);
        tail.copy_from_slice(&last[..tail.len()]);
    }
}

/// The bytes at `offset..offset + len` of the object generated from `seed`.
pub fn generated_bytes(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    fill(seed, offset, &mut out);
    out
}

/// The full-object CRC64NVME of the `size`-byte object generated from `seed`; costs one
/// pass over the object (roughly a second per few GB).
pub fn crc64nvme(seed: u64, size: u64) -> u64 {
    let mut digest = Digest::new(CrcAlgorithm::Crc64Nvme);
    let mut buffer = vec![0; CRC_BUFFER_BYTES];
    let mut offset = 0;
    while offset < size {
        let take = (size - offset).min(CRC_BUFFER_BYTES as u64) as usize;
        fill(seed, offset, &mut buffer[..take]);
        digest.update(&buffer[..take]);
        offset += take as u64;
    }
    digest.finalize()
}

/// The deterministic ETag of the `size`-byte object generated from `seed`: 32 hex digits
/// in quotes, shaped like an MD5 ETag.
pub fn etag(seed: u64, size: u64) -> String {
    let key = mix(seed);
    format!(
        "\"{:016x}{:016x}\"",
        mix(key ^ size),
        mix(key.wrapping_add(!size))
    )
}

/// 32 hex digits hashed from `values`: the body of fake ETags and opaque ids.
pub fn hash_hex(values: impl IntoIterator<Item = u64>) -> String {
    let (mut high, mut low) = (GOLDEN_GAMMA, !GOLDEN_GAMMA);
    for value in values {
        high = mix(high ^ value);
        low = mix(low.wrapping_add(value));
    }
    format!("{high:016x}{low:016x}")
}

/// A fake MD5-shaped ETag hashed from `values` (a body's length and CRC, or the part
/// ETags of a multipart upload); `parts_count` appends S3's `-N` suffix.
pub fn hash_etag(values: impl IntoIterator<Item = u64>, parts_count: Option<usize>) -> String {
    let hex = hash_hex(values);
    match parts_count {
        Some(count) => format!("\"{hex}-{count}\""),
        None => format!("\"{hex}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_range_reads_the_same_bytes() {
        let whole = generated_bytes(7, 0, 1000);
        for (start, len) in [(0, 1), (1, 7), (3, 20), (8, 8), (13, 500), (999, 1)] {
            let part = generated_bytes(7, start as u64, len);
            assert_eq!(part, whole[start..start + len], "range {start}+{len}");
        }
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(generated_bytes(1, 0, 64), generated_bytes(2, 0, 64));
    }

    #[test]
    fn crc_matches_one_shot() {
        let size = 3 * CRC_BUFFER_BYTES as u64 + 5;
        let bytes = generated_bytes(9, 0, size as usize);
        assert_eq!(
            crc64nvme(9, size),
            crc_fast::checksum(CrcAlgorithm::Crc64Nvme, &bytes)
        );
    }
}
