//! Object bytes generated from `(seed, offset)`: they cost no storage and any range of
//! an object reads the same bytes whichever request asks for it.

use crc_fast::{CrcAlgorithm, Digest};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Bytes per generated word: each 8-byte-aligned word is a pure function of
/// `(seed, word index)`, so a range starting anywhere needs no state before it.
const WORD_BYTES: u64 = 8;

/// Buffer size used when hashing a generated range: big enough to amortise the
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

/// The period in force: `Some(0)` is no period, like `None`.
fn effective_period(period: Option<u64>) -> Option<u64> {
    period.filter(|period| *period > 0)
}

/// Fills `out` with the bytes at `offset..offset + out.len()` of the object generated
/// from `seed` that repeats every `period` bytes (`None`: never repeats, as [`fill`]):
/// its byte at `o` is [`fill`]'s byte at `o % period`, so a range may wrap across
/// period boundaries any number of times.
pub fn fill_periodic(seed: u64, period: Option<u64>, offset: u64, out: &mut [u8]) {
    let Some(period) = effective_period(period) else {
        fill(seed, offset, out);
        return;
    };
    let mut position = offset % period;
    let mut rest = out;
    while !rest.is_empty() {
        let take = (period - position).min(rest.len() as u64) as usize;
        let (head, tail) = rest.split_at_mut(take);
        fill(seed, position, head);
        rest = tail;
        position = 0;
    }
}

/// The bytes at `offset..offset + len` of the object generated from `seed` that repeats
/// every `period` bytes (`None`: never repeats, as [`generated_bytes`]).
pub fn generated_bytes_periodic(
    seed: u64,
    period: Option<u64>,
    offset: u64,
    len: usize,
) -> Vec<u8> {
    let mut out = vec![0; len];
    fill_periodic(seed, period, offset, &mut out);
    out
}

/// The CRC64NVME of the non-periodic generator's bytes `offset..offset + len`, hashed
/// one buffer at a time: one pass over them (roughly a second per few GB).
fn hash_range(seed: u64, offset: u64, len: u64) -> u64 {
    let mut digest = Digest::new(CrcAlgorithm::Crc64Nvme);
    let mut buffer = vec![0; CRC_BUFFER_BYTES.min(len as usize)];
    let end = offset + len;
    let mut at = offset;
    while at < end {
        let take = (end - at).min(CRC_BUFFER_BYTES as u64) as usize;
        fill(seed, at, &mut buffer[..take]);
        digest.update(&buffer[..take]);
        at += take as u64;
    }
    digest.finalize()
}

/// Most whole-period CRCs kept: one per periodic object a test adds is a handful; the
/// bound only keeps a test that adds thousands from growing the cache without end.
const PERIOD_CRC_CACHE_ENTRIES: usize = 1024;

/// The CRC64NVME of one whole period, `seed`'s bytes `0..period`, cached per
/// `(seed, period)`: every UploadPartCopy of a periodic object needs it, and hashing it
/// is the one O(period) cost that need not be paid again.
fn period_crc(seed: u64, period: u64) -> u64 {
    static CACHE: OnceLock<Mutex<HashMap<(u64, u64), u64>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let cached = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(seed, period))
        .copied();
    if let Some(crc) = cached {
        return crc;
    }
    // Hashed without the lock, so concurrent copies of other objects do not wait.
    let crc = hash_range(seed, 0, period);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= PERIOD_CRC_CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert((seed, period), crc);
    crc
}

/// The CRC64NVME of `a ++ b`, `b` being `b_len` bytes long; either side may be empty.
fn concat(a: Option<(u64, u64)>, b: (u64, u64)) -> Option<(u64, u64)> {
    let (b_crc, b_len) = b;
    match a {
        _ if b_len == 0 => a,
        None => Some(b),
        Some((a_crc, a_len)) => Some((
            crc_fast::checksum_combine(CrcAlgorithm::Crc64Nvme, a_crc, b_crc, b_len),
            a_len + b_len,
        )),
    }
}

/// The CRC64NVME of `count` whole periods back to back, from the CRC of one by
/// doubling: O(log count) combines instead of hashing `count * period` bytes.
fn repeated_crc(crc: u64, period: u64, count: u64) -> Option<(u64, u64)> {
    let mut result = None;
    // The CRC and length of 2^i periods, for the i-th bit of `count`.
    let mut power = (crc, period);
    let mut left = count;
    while left > 0 {
        if left & 1 == 1 {
            result = concat(result, power);
        }
        left >>= 1;
        if left > 0 {
            power = (
                crc_fast::checksum_combine(CrcAlgorithm::Crc64Nvme, power.0, power.0, power.1),
                power.1 * 2,
            );
        }
    }
    result
}

/// The CRC64NVME of the bytes `offset..offset + len` of the object generated from
/// `seed` that repeats every `period` bytes. Without a period it hashes every byte; with
/// one it hashes at most the partial period at each end and one whole period (cached),
/// and combines whole periods by doubling, so a 2 TiB range costs O(period) hashing
/// plus O(log len) CRC combines.
pub fn generated_crc64nvme(seed: u64, period: Option<u64>, offset: u64, len: u64) -> u64 {
    let Some(period) = effective_period(period) else {
        return hash_range(seed, offset, len);
    };
    let position = offset % period;
    let head_len = match position {
        0 => 0,
        _ => (period - position).min(len),
    };
    let head = (hash_range(seed, position, head_len), head_len);
    let rest = len - head_len;
    let (whole, tail_len) = (rest / period, rest % period);
    let mut crc = concat(None, head);
    if whole > 0
        && let Some(periods) = repeated_crc(period_crc(seed, period), period, whole)
    {
        crc = concat(crc, periods);
    }
    crc = concat(crc, (hash_range(seed, 0, tail_len), tail_len));
    crc.map_or_else(|| hash_range(seed, 0, 0), |(crc, _)| crc)
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
            generated_crc64nvme(9, None, 0, size),
            crc_fast::checksum(CrcAlgorithm::Crc64Nvme, &bytes)
        );
        assert_eq!(
            generated_crc64nvme(9, None, 11, size - 20),
            crc_fast::checksum(CrcAlgorithm::Crc64Nvme, &bytes[11..size as usize - 9])
        );
    }

    #[test]
    fn no_period_is_the_plain_generator() {
        let plain = generated_bytes(5, 3, 4000);
        assert_eq!(generated_bytes_periodic(5, None, 3, 4000), plain);
        assert_eq!(generated_bytes_periodic(5, Some(0), 3, 4000), plain);
        // A period longer than the range never wraps.
        assert_eq!(generated_bytes_periodic(5, Some(1 << 40), 3, 4000), plain);
    }

    #[test]
    fn periodic_bytes_repeat_the_first_period() {
        for period in [1, 7, 8, 1000, 1003] {
            let one = generated_bytes(3, 0, period as usize);
            let expected: Vec<u8> = (0..10_000u64).map(|o| one[(o % period) as usize]).collect();
            for (start, len) in [(0, 10_000), (1, 9_000), (995, 20), (999, 2), (2_997, 4_321)] {
                let got = generated_bytes_periodic(3, Some(period), start as u64, len);
                assert_eq!(
                    got,
                    expected[start..start + len],
                    "period {period} range {start}+{len}"
                );
            }
        }
    }

    #[test]
    fn periodic_crc_matches_hashing_every_byte() {
        let seed = 11;
        for period in [1u64, 8, 13, 1000, 1003] {
            let bytes = generated_bytes_periodic(seed, Some(period), 0, 200_000);
            let ranges = [
                (0, 0),
                (0, 1),
                (0, period),
                (0, 200_000),
                (period, 3 * period),
                (500, 499),
                (500, 500),
                (500, 501),
                (999, 2),
                (1_234, 150_000),
                (3_000, 197_000),
                (77_777, 1),
            ];
            for (start, len) in ranges {
                let expected = crc_fast::checksum(
                    CrcAlgorithm::Crc64Nvme,
                    &bytes[start as usize..(start + len) as usize],
                );
                assert_eq!(
                    generated_crc64nvme(seed, Some(period), start, len),
                    expected,
                    "period {period} range {start}+{len}"
                );
            }
        }
    }

    #[test]
    fn periodic_crc_of_a_huge_range_is_cheap_and_consistent() {
        // 2 TiB of a 1 MiB period: hashing it would take an hour; this takes milliseconds.
        let (period, size) = (Some(1 << 20), 2u64 << 40);
        let split = 3 * (1 << 39) + 12_345;
        let whole = generated_crc64nvme(1, period, 0, size);
        let left = generated_crc64nvme(1, period, 0, split);
        let right = generated_crc64nvme(1, period, split, size - split);
        assert_eq!(
            whole,
            crc_fast::checksum_combine(CrcAlgorithm::Crc64Nvme, left, right, size - split)
        );
    }
}
