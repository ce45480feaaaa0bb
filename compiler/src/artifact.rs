//! Compiled pack files (PACKS_AND_CLI.md §9): `SNTRPACK`, container version, SHA-256 of the
//! payload, then a postcard payload: a small header (format id, compiler version, IR version)
//! followed by the body (manifest, source hashes, the verified bytecode program, modules).
//!
//! postcard is used because its encoding is compact, deterministic for the same values (no
//! maps with random order, no timestamps) and needs nothing but serde derives. Reading is
//! defensive: checksum first, then a decode that rejects anything malformed, then the
//! bytecode verifier; no input can make loading panic.

use sentrie_vm::program::IR_VERSION;
use sentrie_vm::Program;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::Manifest;

pub const MAGIC: &[u8; 8] = b"SNTRPACK";
pub const CONTAINER_VERSION: u32 = 1;
const FORMAT: &str = "sentrie-compiled-pack";
const HEADER_LEN: usize = 8 + 4 + 32;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    compiler: String,
    ir_version: u32,
}

#[derive(Serialize, Deserialize)]
struct Body {
    manifest: Manifest,
    /// `(pack-relative path, SHA-256 hex of its text)`, sorted by path.
    sources: Vec<(String, String)>,
    program: Program,
    /// `(canonical module key, transpiled JavaScript)`, sorted by key.
    modules: Vec<(String, String)>,
}

/// What a compiled pack holds, as loaded.
pub struct Artifact {
    pub compiler: String,
    pub manifest: Manifest,
    pub sources: Vec<(String, String)>,
    pub program: Program,
    /// SHA-256 (hex) of the whole file.
    pub hash: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Encodes a compiled pack. `sources` are `(path, text)` pairs; they are hashed and sorted.
pub fn encode(
    manifest: &Manifest,
    sources: &[(String, &str)],
    program: &Program,
) -> Result<Vec<u8>, String> {
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
    let mut payload =
        postcard::to_stdvec(&header).map_err(|e| format!("cannot encode the pack: {e}"))?;
    let body = BodyRef {
        manifest,
        sources: &hashed,
        program,
        modules: &[],
    };
    payload.extend(postcard::to_stdvec(&body).map_err(|e| format!("cannot encode the pack: {e}"))?);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CONTAINER_VERSION.to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Borrowing twin of `Body` for encoding without clones (same field order, same encoding).
#[derive(Serialize)]
struct BodyRef<'a> {
    manifest: &'a Manifest,
    sources: &'a [(String, String)],
    program: &'a Program,
    modules: &'a [(String, String)],
}

const CORRUPTED: &str = "corrupted compiled pack";

/// Decodes and verifies a compiled pack.
pub fn decode(bytes: &[u8]) -> Result<Artifact, String> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(format!("{CORRUPTED}: missing header"));
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&bytes[8..12]);
    let version = u32::from_le_bytes(version);
    if version != CONTAINER_VERSION {
        return Err(format!("unsupported compiled pack version {version}"));
    }
    let payload = &bytes[HEADER_LEN..];
    if Sha256::digest(payload).as_slice() != &bytes[12..44] {
        return Err(format!("{CORRUPTED}: checksum mismatch"));
    }
    let (header, rest): (Header, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|e| format!("{CORRUPTED}: {e}"))?;
    if header.format != FORMAT || header.ir_version != IR_VERSION {
        return Err(format!(
            "compiled pack is incompatible with this sentrie version; recompile (written by sentrie {}, IR version {})",
            header.compiler, header.ir_version
        ));
    }
    let body: Body = postcard::from_bytes(rest).map_err(|e| format!("{CORRUPTED}: {e}"))?;
    let mut program = body.program;
    program.prepare().map_err(|e| format!("{CORRUPTED}: {e}"))?;
    sentrie_vm::verify::verify(&program).map_err(|e| format!("{CORRUPTED}: {e}"))?;
    Ok(Artifact {
        compiler: header.compiler,
        manifest: body.manifest,
        sources: body.sources,
        program,
        hash: sha256_hex(bytes),
    })
}
