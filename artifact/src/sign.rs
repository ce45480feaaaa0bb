//! Who made a pack: ed25519 signatures over a compiled pack's payload.
//!
//! A signature signs [`DOMAIN`] followed by the SHA-256 of the payload. The payload holds the
//! content hash, the manifest and the program, so a signature vouches for all of them; the
//! integrity digest alone only proves the file was not damaged, not who wrote it. Keys are
//! PEM files (PKCS#8 for the private key, SubjectPublicKeyInfo for the public one), the
//! formats `openssl genpkey -algorithm ed25519` reads and writes.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer;

/// What is signed before the payload digest, so that a pack signature can never be mistaken
/// for a signature over anything else made with the same key.
const DOMAIN: &[u8] = b"sentrie compiled pack signature v1\n";

/// At most this many signatures travel with one pack (a few keys during a rotation).
pub const MAX_SIGNATURES: usize = 8;

/// Why a key could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the key file `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not an ed25519 {what} key in PEM form: {reason}")]
    Pem {
        path: String,
        what: &'static str,
        reason: String,
    },
    #[error("the operating system gave no random bytes for a new key: {0}")]
    Random(String),
}

/// A private key that signs packs.
pub struct SigningKey(ed25519_dalek::SigningKey);

/// A public key that packs are checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

/// One signature as stored in a pack: the signer's public key and the signature bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub key: [u8; 32],
    pub bytes: [u8; 64],
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    pub fn from_pem(text: &str, path: &str) -> Result<SigningKey, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map(SigningKey)
            .map_err(|e| KeyError::Pem {
                path: path.to_string(),
                what: "private",
                reason: e.to_string(),
            })
    }

    pub fn read(path: &Path) -> Result<SigningKey, KeyError> {
        let text = read_text(path)?;
        SigningKey::from_pem(&text, &path.display().to_string())
    }

    /// The PKCS#8 PEM text of the key.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Pem {
                path: String::new(),
                what: "private",
                reason: e.to_string(),
            })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub(crate) fn sign_digest(&self, payload_digest: &[u8]) -> Signature {
        let sig = self.0.sign(&message(payload_digest));
        Signature {
            key: self.0.verifying_key().to_bytes(),
            bytes: sig.to_bytes(),
        }
    }
}

impl PublicKey {
    pub fn from_pem(text: &str, path: &str) -> Result<PublicKey, KeyError> {
        ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map(PublicKey)
            .map_err(|e| KeyError::Pem {
                path: path.to_string(),
                what: "public",
                reason: e.to_string(),
            })
    }

    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let text = read_text(path)?;
        PublicKey::from_pem(&text, &path.display().to_string())
    }

    /// The SubjectPublicKeyInfo PEM text of the key.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| KeyError::Pem {
                path: String::new(),
                what: "public",
                reason: e.to_string(),
            })
    }

    /// A short name for the key in messages: the first 16 hex digits of the SHA-256 of its
    /// 32 bytes.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0.to_bytes())
    }

    fn bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

/// See [`PublicKey::fingerprint`].
pub fn fingerprint(key: &[u8; 32]) -> String {
    let mut hex = crate::sha256_hex(key);
    hex.truncate(16);
    hex
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn message(payload_digest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + payload_digest.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(payload_digest);
    m
}

/// Why a pack failed the signature check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("the pack is not signed, and a signature by a trusted key is required (sign it with `sentrie compile --sign KEY`)")]
    Unsigned,
    #[error("the pack is signed by key {}, which is not among the trusted keys ({})", .signers.join(", "), .trusted.join(", "))]
    Untrusted {
        signers: Vec<String>,
        trusted: Vec<String>,
    },
    #[error("the signature by key {0} does not match the pack's content: the pack was altered after it was signed")]
    Altered(String),
}

/// Checks that one of `signatures` is by a key in `trusted` and signs `payload_digest`. With
/// no trusted keys, every pack passes (`Ok(None)`); otherwise the fingerprint of the key that
/// vouched for the pack.
pub fn check(
    signatures: &[Signature],
    payload_digest: &[u8],
    trusted: &[PublicKey],
) -> Result<Option<String>, TrustError> {
    if trusted.is_empty() {
        return Ok(None);
    }
    if signatures.is_empty() {
        return Err(TrustError::Unsigned);
    }
    let msg = message(payload_digest);
    for sig in signatures {
        let Some(key) = trusted.iter().find(|k| k.bytes() == sig.key) else {
            continue;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&sig.bytes);
        // Strict verification: no malleable or small-order signatures.
        return match key.0.verify_strict(&msg, &signature) {
            Ok(()) => Ok(Some(key.fingerprint())),
            Err(_) => Err(TrustError::Altered(key.fingerprint())),
        };
    }
    Err(TrustError::Untrusted {
        signers: signatures.iter().map(|s| fingerprint(&s.key)).collect(),
        trusted: trusted.iter().map(PublicKey::fingerprint).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = SigningKey::from_pem(&pem, "k").unwrap();
        assert_eq!(again.public(), key.public());
        let public = key.public().to_pem().unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(PublicKey::from_pem(&public, "p").unwrap(), key.public());
        assert!(PublicKey::from_pem(&pem, "p").is_err());
        assert!(SigningKey::from_pem("not a key", "k").is_err());
    }

    #[test]
    fn only_a_trusted_key_over_the_same_digest_passes() {
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        let digest = [7u8; 32];
        let sig = a.sign_digest(&digest);
        assert_eq!(check(&[], &digest, &[]), Ok(None));
        assert_eq!(
            check(std::slice::from_ref(&sig), &digest, &[a.public()]),
            Ok(Some(a.public().fingerprint()))
        );
        // Rotation: any trusted key will do.
        assert!(check(
            std::slice::from_ref(&sig),
            &digest,
            &[b.public(), a.public()]
        )
        .is_ok());
        assert_eq!(
            check(&[], &digest, &[a.public()]),
            Err(TrustError::Unsigned)
        );
        assert!(matches!(
            check(std::slice::from_ref(&sig), &digest, &[b.public()]),
            Err(TrustError::Untrusted { .. })
        ));
        assert!(matches!(
            check(&[sig], &[8u8; 32], &[a.public()]),
            Err(TrustError::Altered(_))
        ));
    }
}
