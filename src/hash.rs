//! A stable hash for names on disk: the columnar cache and the mirror name their folders after a
//! hash of a path, and those names must not change between builds (std's hasher may).

/// The FNV-1a hash of nothing: where [`fnv1a_update`] starts.
pub const FNV1A_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_update(FNV1A_START, bytes)
}

/// FNV-1a of what `hash` covered followed by `bytes` (hashing in pieces).
pub fn fnv1a_update(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
