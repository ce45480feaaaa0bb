//! `sentrie-artifact`: compiled pack files (PACKS_AND_CLI.md §9). `SNTRPACK`, container
//! version, SHA-256 of the payload, then a postcard payload: a small header (format id,
//! compiler version, IR version) followed by the body (manifest, source hashes, the bytecode
//! program).
//!
//! postcard is used because its encoding is compact, deterministic for the same values (no
//! maps with random order, no timestamps) and needs nothing but serde derives. Reading is
//! defensive: checksum first, then a decode that rejects anything malformed, then the
//! bytecode verifier; no input can make loading panic.
//!
//! This crate needs the VM and the module runtime but not the compiler: a binary that only
//! serves compiled packs links neither the parser nor the TypeScript transpiler.

mod manifest;

use std::path::Path;

use sentrie_vm::program::IR_VERSION;
use sentrie_vm::verify::VerifyError;
use sentrie_vm::{Program, VerifiedProgram};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use manifest::Manifest;

pub const MAGIC: &[u8; 8] = b"SNTRPACK";
pub const CONTAINER_VERSION: u32 = 1;
const FORMAT: &str = "sentrie-compiled-pack";
const HEADER_LEN: usize = 8 + 4 + 32;

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
    /// SHA-256 (hex) of the whole file.
    pub file_hash: String,
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
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CONTAINER_VERSION.to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes, verifies and links a compiled pack.
pub fn decode(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(ArtifactError::MissingHeader);
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&bytes[8..12]);
    let version = u32::from_le_bytes(version);
    if version != CONTAINER_VERSION {
        return Err(ArtifactError::Version(version));
    }
    let payload = &bytes[HEADER_LEN..];
    if Sha256::digest(payload).as_slice() != &bytes[12..44] {
        return Err(ArtifactError::Checksum);
    }
    let decode_err = |e: postcard::Error| ArtifactError::Decode(e.to_string());
    let (header, rest): (Header, &[u8]) = postcard::take_from_bytes(payload).map_err(decode_err)?;
    if header.format != FORMAT || header.ir_version != IR_VERSION {
        return Err(ArtifactError::Incompatible {
            compiler: header.compiler,
            ir_version: header.ir_version,
        });
    }
    let body: Body = postcard::from_bytes(rest).map_err(decode_err)?;
    let program = sentrie_modules::link(body.program)?;
    Ok(Artifact {
        compiler: header.compiler,
        manifest: body.manifest,
        sources: body.sources,
        program,
        hash: body.content_hash,
        file_hash: sha256_hex(bytes),
    })
}

/// Reads and decodes a compiled pack file.
pub fn load(path: &Path) -> Result<Artifact, ArtifactError> {
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.display().to_string(),
        source,
    })?;
    decode(&bytes)
}
