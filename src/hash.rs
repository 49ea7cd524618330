//! A stable hash for names on disk: the columnar cache and the mirror name their folders after a
//! hash of a path, and those names must not change between builds (std's hasher may).

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
