//! Mutated valid compiled packs (resealed so decoding gets past the checksum) through the
//! decoder and the verifier; whatever loads is evaluated.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fn valid() -> &'static Vec<u8> {
    static PACK: OnceLock<Vec<u8>> = OnceLock::new();
    PACK.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ai-gateway");
        let Ok(loaded) = sentrie_compiler::load_pack(&root) else {
            return Vec::new();
        };
        let sources: Vec<(String, &str)> = loaded
            .sources
            .files()
            .map(|(_, f)| (f.path.clone(), &*f.text))
            .collect();
        sentrie_artifact::encode(&loaded.manifest, &sources, loaded.program.program(), &loaded.hash)
            .unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    // Container: magic, version, digest, payload length (52 bytes), payload, signature count.
    let valid = valid();
    if valid.len() <= 53 {
        return;
    }
    let mut bytes = valid[52..valid.len() - 1].to_vec();
    // Each 4-byte group of the input is one edit: position, then a byte to XOR in.
    for edit in data.chunks(4) {
        if edit.len() < 4 {
            break;
        }
        if bytes.is_empty() {
            break;
        }
        let pos = u16::from_le_bytes([edit[0], edit[1]]) as usize % bytes.len();
        match edit[2] % 3 {
            0 => bytes[pos] ^= edit[3] | 1,
            1 => bytes[pos] = edit[3],
            _ => {
                bytes.truncate(pos.max(1));
            }
        }
    }
    // Resealed around the mutated payload, so decoding gets past the checksum.
    let payload = bytes;
    let mut bytes = valid[..12].to_vec();
    bytes.extend_from_slice(&sha2::Sha256::digest(&payload));
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes.push(0);
    if let Ok(art) = sentrie_artifact::decode(&bytes) {
        for (policy, p) in art.program.policies().iter() {
            let bump = bumpalo::Bump::new();
            let limits = sentrie_vm::Limits {
                fuel: 100_000,
                work: 1_000_000,
                ..sentrie_vm::Limits::default()
            };
            let _ = sentrie_vm::evaluate(
                &art.program,
                policy,
                &p.exports,
                sentrie_vm::Value::Map(&[]),
                &bump,
                limits,
            );
        }
    }
});
