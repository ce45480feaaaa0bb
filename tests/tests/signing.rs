//! Signed compiled packs: the container with signatures, what `decode_trusted` accepts and
//! refuses, reading version 1 files, and that no damage to a signed pack makes loading panic
//! or pass.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on broken fixtures"
)]

use proptest::prelude::*;
use sentrie_artifact::{
    decode, decode_trusted, encode, sign, ArtifactError, SigningKey, TrustError,
};
use sha2::Digest;

fn packed() -> Vec<u8> {
    let loaded = sentrie_compiler::compile_text(&[(
        "p.sentrie",
        "namespace s\npolicy p {\n  rule allow = default false { yield user.role == \"admin\" }\n  export decision of allow\n}\n",
    )])
    .unwrap_or_else(|_| panic!("the policy compiles"));
    encode(
        &loaded.manifest,
        &[],
        loaded.program.program(),
        &loaded.hash,
    )
    .unwrap()
}

#[test]
fn a_signed_pack_loads_only_for_its_keys() {
    let (a, b) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let bytes = packed();
    let signed = sign(&bytes, &a).unwrap();
    // Without keys both load; the signature changes nothing else.
    assert_eq!(decode(&bytes).unwrap().hash, decode(&signed).unwrap().hash);
    let art = decode_trusted(&signed, &[a.public()]).unwrap();
    assert_eq!(art.signer, Some(a.public().fingerprint()));
    assert!(matches!(
        decode_trusted(&bytes, &[a.public()]),
        Err(ArtifactError::Trust(TrustError::Unsigned))
    ));
    assert!(matches!(
        decode_trusted(&signed, &[b.public()]),
        Err(ArtifactError::Trust(TrustError::Untrusted { .. }))
    ));
    // Two signatures (a rotation): either key alone passes; signing again with the same key
    // replaces its signature rather than adding one.
    let both = sign(&signed, &b).unwrap();
    assert!(decode_trusted(&both, &[b.public()]).is_ok());
    assert!(decode_trusted(&both, &[a.public()]).is_ok());
    assert_eq!(sign(&both, &b).unwrap().len(), both.len());
}

#[test]
fn a_changed_payload_with_a_fixed_digest_is_refused_as_altered() {
    let key = SigningKey::generate().unwrap();
    let mut bytes = sign(&packed(), &key).unwrap();
    let len = u64::from_le_bytes(bytes[44..52].try_into().unwrap()) as usize;
    bytes[52 + len - 1] ^= 0x40;
    let digest = sha2::Sha256::digest(&bytes[52..52 + len]);
    bytes[12..44].copy_from_slice(&digest);
    assert!(matches!(
        decode_trusted(&bytes, &[key.public()]),
        Err(ArtifactError::Trust(TrustError::Altered(_)))
    ));
}

#[test]
fn version_1_files_are_still_read_and_malformed_signature_blocks_refused() {
    let bytes = packed();
    let len = u64::from_le_bytes(bytes[44..52].try_into().unwrap()) as usize;
    // Version 1: magic, version, digest, payload; no length, no signatures.
    let mut v1 = bytes[..12].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&bytes[12..44]);
    v1.extend_from_slice(&bytes[52..52 + len]);
    assert_eq!(decode(&v1).unwrap().hash, decode(&bytes).unwrap().hash);
    let key = SigningKey::generate().unwrap();
    assert!(matches!(
        decode_trusted(&v1, &[key.public()]),
        Err(ArtifactError::Trust(TrustError::Unsigned))
    ));
    // A count that promises more signatures than there are bytes, or too many.
    let mut short = bytes.clone();
    *short.last_mut().unwrap() = 1;
    assert!(matches!(decode(&short), Err(ArtifactError::Signatures(_))));
    let mut many = bytes.clone();
    *many.last_mut().unwrap() = 9;
    many.extend(std::iter::repeat_n(0u8, 9 * 96));
    assert!(matches!(decode(&many), Err(ArtifactError::Signatures(_))));
    // A length beyond the file.
    let mut long = bytes.clone();
    long[44..52].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode(&long).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any one changed byte of a signed pack: loading with the key never panics and never
    /// passes (the byte is in the header, the payload or the signature, each covered).
    #[test]
    fn no_changed_byte_passes_the_signature_check(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = SigningKey::generate().unwrap();
        let mut bytes = sign(&packed(), &key).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(decode_trusted(&bytes, &[key.public()]).is_err());
    }
}
