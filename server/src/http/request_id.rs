//! Request ids for requests that arrive without an acceptable `X-Request-Id`: version-4
//! UUIDs that are unique (process-random hasher keys, a counter and the clock) but not
//! secret, so no system call is spent per request.

use sentrie_modules::native::core::{unique_u64, uuid_v4_from};

/// A new request id: lowercase UUID text.
pub fn generate() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&unique_u64().to_le_bytes());
    b[8..].copy_from_slice(&unique_u64().to_le_bytes());
    uuid_v4_from(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_v4_shaped_and_distinct() {
        let a = super::generate();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, super::generate());
    }
}
