//! `sentrie-artifact`: compiled pack files (PACKS_AND_CLI.md §9). `SNTRPACK`, container
//! version, SHA-256 of the payload, the payload's length, then a postcard payload: a small
//! header (format id, compiler version, IR version) followed by the body (manifest, source
//! hashes, the bytecode program); last, the signatures (a count byte, then per signature the
//! signer's 32-byte public key and the 64-byte ed25519 signature; see [`sign`]). Version 1
//! files (no length, no signatures) are still read.
//!
//! postcard is used because its encoding is compact, deterministic for the same values (no
//! maps with random order, no timestamps) and needs nothing but serde derives. Reading is
//! defensive: checksum first, then a decode that rejects anything malformed, then the
//! bytecode verifier; no input can make loading panic.
//!
//! This crate needs the VM and the module runtime but not the compiler: a binary that only
//! serves compiled packs links neither the parser nor the TypeScript transpiler.

mod manifest;
pub mod sign;

use std::path::Path;

use sentrie_vm::program::IR_VERSION;
use sentrie_vm::verify::VerifyError;
use sentrie_vm::{Program, VerifiedProgram};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use manifest::Manifest;
pub use sign::{KeyError, PublicKey, SigningKey, TrustError};

pub const MAGIC: &[u8; 8] = b"SNTRPACK";
pub const CONTAINER_VERSION: u32 = 2;
const FORMAT: &str = "sentrie-compiled-pack";
/// Magic, version and payload digest: all of a version 1 header.
const HEADER_V1_LEN: usize = 8 + 4 + 32;
/// A version 2 header adds the payload's length (u64, little-endian).
const HEADER_LEN: usize = HEADER_V1_LEN + 8;
const SIGNATURE_LEN: usize = 32 + 64;

/// Why a compiled pack could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode the pack: {0}")]
    Encode(String),
    #[error("corrupted compiled pack: missing header")]
    MissingHeader,
    #[error("unsupported compiled pack version {0}")]
    Version(u32),
    #[error("corrupted compiled pack: checksum mismatch")]
    Checksum,
    #[error("corrupted compiled pack: {0}")]
    Decode(String),
    #[error("compiled pack is incompatible with this sentrie version; recompile (written by sentrie {compiler}, IR version {ir_version})")]
    Incompatible { compiler: String, ir_version: u32 },
    #[error("corrupted compiled pack: {0}")]
    Verify(#[from] VerifyError),
    #[error("corrupted compiled pack: {0}")]
    Signatures(&'static str),
    #[error("refused compiled pack: {0}")]
    Trust(#[from] TrustError),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    compiler: String,
    ir_version: u32,
}

#[derive(Deserialize)]
struct Body {
    /// See [`content_hash`].
    content_hash: String,
    manifest: Manifest,
    /// `(pack-relative path, SHA-256 hex of its text)`, sorted by path.
    sources: Vec<(String, String)>,
    program: Program,
    /// Reserved: user modules travel inside `program`.
    #[allow(dead_code)]
    modules: Vec<(String, String)>,
}

/// Borrowing twin of `Body` for encoding without clones (same field order, same encoding).
#[derive(Serialize)]
struct BodyRef<'a> {
    content_hash: &'a str,
    manifest: &'a Manifest,
    sources: &'a [(String, String)],
    program: &'a Program,
    modules: &'a [(String, String)],
}

/// What a compiled pack holds, as loaded: the program verified and linked to a module
/// runtime of its own.
pub struct Artifact {
    pub compiler: String,
    pub manifest: Manifest,
    pub sources: Vec<(String, String)>,
    pub program: VerifiedProgram,
    /// The pack's content hash (see [`content_hash`]), as computed from its sources.
    pub hash: String,
    /// The fingerprint of the trusted key whose signature was checked, when keys were given.
    pub signer: Option<String>,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content hash of a pack: SHA-256 over the sorted `(path, SHA-256 hex of the file)`
/// pairs of every file that can change a decision (policies, the module files they load, the
/// manifest). Computed once from the sources; a compiled pack carries it, so both forms of
/// one pack report the same hash.
pub fn content_hash(mut digests: Vec<(String, String)>) -> String {
    for (p, _) in &mut digests {
        *p = p.replace('\\', "/");
    }
    digests.sort();
    let mut all = Vec::new();
    for (p, d) in digests {
        all.extend_from_slice(p.as_bytes());
        all.push(0);
        all.extend_from_slice(d.as_bytes());
        all.push(b'\n');
    }
    sha256_hex(&all)
}

/// Encodes a compiled pack. `sources` are `(path, text)` pairs; they are hashed and sorted.
/// `content_hash` is the pack's content hash, stored as is.
pub fn encode(
    manifest: &Manifest,
    sources: &[(String, &str)],
    program: &Program,
    content_hash: &str,
) -> Result<Vec<u8>, ArtifactError> {
    let mut hashed: Vec<(String, String)> = sources
        .iter()
        .map(|(p, t)| (p.replace('\\', "/"), sha256_hex(t.as_bytes())))
        .collect();
    hashed.sort();
    let header = Header {
        format: FORMAT.to_string(),
        compiler: env!("CARGO_PKG_VERSION").to_string(),
        ir_version: IR_VERSION,
    };
    let encode_err = |e: postcard::Error| ArtifactError::Encode(e.to_string());
    let mut payload = postcard::to_stdvec(&header).map_err(encode_err)?;
    let body = BodyRef {
        content_hash,
        manifest,
        sources: &hashed,
        program,
        modules: &[],
    };
    payload.extend(postcard::to_stdvec(&body).map_err(encode_err)?);
    Ok(assemble(&payload, &Sha256::digest(&payload), &[]))
}

/// Adds `key`'s signature to an encoded pack (replacing an earlier signature by the same key).
/// The pack's integrity is checked first: only an intact pack is signed.
pub fn sign(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>, ArtifactError> {
    let c = Container::split(bytes)?;
    let new = key.sign_digest(c.digest);
    let mut signatures: Vec<sign::Signature> = c
        .signatures
        .into_iter()
        .filter(|s| s.key != new.key)
        .collect();
    if signatures.len() >= sign::MAX_SIGNATURES {
        return Err(ArtifactError::Signatures("too many signatures"));
    }
    signatures.push(new);
    Ok(assemble(c.payload, c.digest, &signatures))
}

fn assemble(payload: &[u8], digest: &[u8], signatures: &[sign::Signature]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER_LEN + payload.len() + 1 + signatures.len() * SIGNATURE_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CONTAINER_VERSION.to_le_bytes());
    out.extend_from_slice(digest);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    // At most MAX_SIGNATURES (8): the count fits a byte.
    out.push(signatures.len() as u8);
    for s in signatures {
        out.extend_from_slice(&s.key);
        out.extend_from_slice(&s.bytes);
    }
    out
}

/// The parts of a pack file (the payload's digest is checked by [`decode_trusted`]).
struct Container<'a> {
    payload: &'a [u8],
    digest: &'a [u8],
    signatures: Vec<sign::Signature>,
}

impl<'a> Container<'a> {
    fn split(bytes: &'a [u8]) -> Result<Container<'a>, ArtifactError> {
        if bytes.len() < HEADER_V1_LEN || &bytes[..8] != MAGIC {
            return Err(ArtifactError::MissingHeader);
        }
        let version = u32::from_le_bytes(word(&bytes[8..12]));
        let digest = &bytes[12..HEADER_V1_LEN];
        let (payload, rest) = match version {
            1 => (&bytes[HEADER_V1_LEN..], &[][..]),
            2 => {
                if bytes.len() < HEADER_LEN {
                    return Err(ArtifactError::MissingHeader);
                }
                let len = u64::from_le_bytes(dword(&bytes[HEADER_V1_LEN..HEADER_LEN]));
                let rest = &bytes[HEADER_LEN..];
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n <= rest.len())
                    .ok_or(ArtifactError::Signatures(
                        "the payload length exceeds the file",
                    ))?;
                rest.split_at(len)
            }
            v => return Err(ArtifactError::Version(v)),
        };
        let signatures = if version == 1 {
            Vec::new()
        } else {
            signatures(rest)?
        };
        Ok(Container {
            payload,
            digest,
            signatures,
        })
    }
}

fn signatures(block: &[u8]) -> Result<Vec<sign::Signature>, ArtifactError> {
    let Some((&count, entries)) = block.split_first() else {
        return Err(ArtifactError::Signatures("the signature block is missing"));
    };
    let count = usize::from(count);
    if count > sign::MAX_SIGNATURES || entries.len() != count * SIGNATURE_LEN {
        return Err(ArtifactError::Signatures("malformed signature block"));
    }
    Ok(entries
        .chunks_exact(SIGNATURE_LEN)
        .map(|e| {
            let mut key = [0u8; 32];
            let mut bytes = [0u8; 64];
            key.copy_from_slice(&e[..32]);
            bytes.copy_from_slice(&e[32..]);
            sign::Signature { key, bytes }
        })
        .collect())
}

fn word(b: &[u8]) -> [u8; 4] {
    let mut w = [0u8; 4];
    w.copy_from_slice(b);
    w
}

fn dword(b: &[u8]) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    w
}

/// Decodes, verifies and links a compiled pack, without looking at its signatures.
pub fn decode(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
    decode_trusted(bytes, &[])
}

/// [`decode`], refusing the pack unless a key of `trusted` signed it (when `trusted` is not
/// empty). Signatures are checked before the payload is decoded.
pub fn decode_trusted(bytes: &[u8], trusted: &[PublicKey]) -> Result<Artifact, ArtifactError> {
    let c = Container::split(bytes)?;
    let signer = sign::check(&c.signatures, c.digest, trusted)?;
    let intact = || Sha256::digest(c.payload).as_slice() == c.digest;
    // A large payload is hashed on a second thread while this one decodes it: the decoder
    // reads hostile bytes safely (fuzzed), and what it decodes is used, linked and verified
    // only once the checksum matches. Errors keep their order: checksum, header, body.
    let (intact, decoded) = if c.payload.len() >= PARALLEL_CHECK {
        std::thread::scope(
            |s| match std::thread::Builder::new().spawn_scoped(s, intact) {
                Ok(hash) => {
                    let decoded = decode_payload(c.payload);
                    (hash.join().unwrap_or(false), decoded)
                }
                Err(_) => (intact(), decode_payload(c.payload)),
            },
        )
    } else if intact() {
        (true, decode_payload(c.payload))
    } else {
        (false, Err(ArtifactError::Checksum))
    };
    if !intact {
        return Err(ArtifactError::Checksum);
    }
    let (header, body) = decoded?;
    let program = sentrie_modules::link(body.program)?;
    Ok(Artifact {
        compiler: header.compiler,
        manifest: body.manifest,
        sources: body.sources,
        program,
        hash: body.content_hash,
        signer,
    })
}

/// Payloads at least this large are hashed on a second thread (below, a thread costs more
/// than it saves).
const PARALLEL_CHECK: usize = 256 * 1024;

/// The header (refused unless this build reads its format and IR version) and the body.
fn decode_payload(payload: &[u8]) -> Result<(Header, Body), ArtifactError> {
    let decode_err = |e: postcard::Error| ArtifactError::Decode(e.to_string());
    let (header, rest): (Header, &[u8]) = postcard::take_from_bytes(payload).map_err(decode_err)?;
    if header.format != FORMAT || header.ir_version != IR_VERSION {
        return Err(ArtifactError::Incompatible {
            compiler: header.compiler,
            ir_version: header.ir_version,
        });
    }
    let body: Body = postcard::from_bytes(rest).map_err(decode_err)?;
    Ok((header, body))
}

/// Reads and decodes a compiled pack file (see [`decode_trusted`]).
pub fn load(path: &Path, trusted: &[PublicKey]) -> Result<Artifact, ArtifactError> {
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.display().to_string(),
        source,
    })?;
    decode_trusted(&bytes, trusted)
}
