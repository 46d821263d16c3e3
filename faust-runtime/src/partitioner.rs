//! Key partitioning exactly like the Java client's default partitioner (and librdkafka's
//! `murmur2_random`): `(murmur2(key) & 0x7fffffff) % partitions`, seed `0x9747b28c`.

use std::sync::atomic::{AtomicU32, Ordering};

/// Kafka's murmur2 hash of `data` (the Java client's `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of a keyed record: `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    let n = partitions.max(1) as u32;
    ((murmur2(key) & 0x7fff_ffff) % n) as i32
}

/// A partition for a record without a key: round-robin over the partitions.
pub fn partition_for_keyless(partitions: i32) -> i32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = partitions.max(1) as u32;
    (NEXT.fetch_add(1, Ordering::Relaxed) % n) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values computed by the Java client's Utils.murmur2 / DefaultPartitioner.
    #[test]
    fn murmur2_matches_the_java_client() {
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn partitions_follow_the_positive_hash() {
        // toPositive(murmur2("foobar")) % 8 as the Java client computes it.
        let h = (-790332482i32 as u32) & 0x7fff_ffff;
        assert_eq!(partition_for_key(b"foobar", 8), (h % 8) as i32);
        for p in [1, 3, 4, 8, 12] {
            let got = partition_for_key(b"order-123", p);
            assert!((0..p).contains(&got));
        }
    }

    #[test]
    fn keyless_records_cycle_through_partitions() {
        let mut seen = [false; 4];
        for _ in 0..8 {
            seen[partition_for_keyless(4) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
