//! Compiled pack files: round trip, determinism, and a property test that flipped, truncated
//! and spliced bytes either load into a verified program or fail cleanly, never panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use proptest::prelude::*;
use sentrie_artifact as artifact;

const SOURCES: [(&str, &str); 3] = [
    (
        "forms.sentrie",
        include_str!("../cases/102-language-features/pack/forms.sentrie"),
    ),
    (
        "org.sentrie",
        include_str!("../cases/103-shapes-facts/pack/org.sentrie"),
    ),
    (
        "team.sentrie",
        include_str!("../cases/103-shapes-facts/pack/team.sentrie"),
    ),
];

fn compiled() -> Vec<u8> {
    let loaded = sentrie_compiler::compile_text(&SOURCES)
        .map_err(|e| e.diagnostics)
        .unwrap();
    let sources: Vec<(String, &str)> = SOURCES
        .iter()
        .map(|(p, t)| ((*p).to_string(), *t))
        .collect();
    artifact::encode(
        &loaded.manifest,
        &sources,
        loaded.program.program(),
        &loaded.hash,
    )
    .unwrap()
}

fn eval_all(program: &sentrie_vm::VerifiedProgram) -> Vec<String> {
    let mut out = Vec::new();
    for (pid, pol) in program.policies().iter() {
        let bump = bumpalo::Bump::new();
        let facts = sentrie_vm::json::decode(
            br#"{"member":{"id":"a","level":2},"v":{"e":"x@y.io"}}"#,
            &bump,
        )
        .unwrap();
        for o in sentrie_vm::evaluate(
            program,
            pid,
            &pol.exports,
            facts,
            &bump,
            sentrie_vm::Limits::default(),
        ) {
            out.push(match o.result {
                Ok(d) => format!(
                    "{}={}",
                    program.rules()[o.rule].name,
                    sentrie_vm::json::to_json(d.value)
                ),
                Err(e) => format!("{}!{}", program.rules()[o.rule].name, e.message()),
            });
        }
    }
    out
}

#[test]
fn round_trip_is_deterministic_and_equivalent() {
    let a = compiled();
    let b = compiled();
    assert_eq!(a, b, "compiling twice must give identical bytes");
    assert_eq!(&a[..8], b"SNTRPACK");
    let art = artifact::decode(&a).unwrap();
    let source = sentrie_compiler::compile_text(&SOURCES)
        .map_err(|e| e.diagnostics)
        .unwrap();
    assert_eq!(eval_all(&art.program), eval_all(&source.program));
    assert_eq!(art.sources.len(), 3);
    assert!(art.sources.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn header_errors_are_specific() {
    let mut bytes = compiled();
    bytes[8] = 9;
    assert!(matches!(
        artifact::decode(&bytes),
        Err(artifact::ArtifactError::Version(9))
    ));
    assert_eq!(
        artifact::decode(&bytes).err().unwrap().to_string(),
        "unsupported compiled pack version 9"
    );
    let mut bytes = compiled();
    // A payload byte (the payload starts after the 52-byte header).
    bytes[60] ^= 1;
    assert!(matches!(
        artifact::decode(&bytes),
        Err(artifact::ArtifactError::Checksum)
    ));
    assert!(matches!(
        artifact::decode(b"SNTRPACK"),
        Err(artifact::ArtifactError::MissingHeader)
    ));
    assert!(artifact::decode(b"SNTRPACK")
        .err()
        .unwrap()
        .to_string()
        .contains("corrupted compiled pack"));
}

/// A payload over 256 KiB is hashed on a second thread while it decodes: an intact pack
/// loads and answers, and one changed byte anywhere in the payload is still a checksum error.
#[test]
fn a_large_pack_is_checked_while_it_decodes() {
    let items: Vec<String> = (0..30_000).map(|i| format!("\"grant-{i}\"")).collect();
    let text = format!(
        "namespace big\npolicy p {{\n  fact g: string\n  let grants = [{}]\n  rule ok = g in grants\n  export decision of ok\n}}\n",
        items.join(", ")
    );
    let loaded = sentrie_compiler::compile_text(&[("big.sentrie", &text)])
        .map_err(|e| e.diagnostics)
        .unwrap();
    let bytes = artifact::encode(
        &loaded.manifest,
        &[("big.sentrie".to_string(), text.as_str())],
        loaded.program.program(),
        &loaded.hash,
    )
    .unwrap();
    assert!(bytes.len() > 300_000, "payload too small: {}", bytes.len());
    let art = artifact::decode(&bytes).unwrap();
    let bump = bumpalo::Bump::new();
    let facts = sentrie_vm::json::decode(br#"{"g": "grant-29999"}"#, &bump).unwrap();
    let t = sentrie_vm::target::resolve(&art.program, "big/p/ok").unwrap();
    let out = sentrie_vm::evaluate(
        &art.program,
        t.policy,
        &t.rules,
        facts,
        &bump,
        Default::default(),
    );
    let decision = out[0].result.as_ref().unwrap();
    assert!(matches!(decision.value, sentrie_vm::Value::Bool(true)));
    for at in [52, bytes.len() / 2, bytes.len() - 2] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x20;
        assert!(
            matches!(
                artifact::decode(&bad),
                Err(artifact::ArtifactError::Checksum)
            ),
            "byte {at}"
        );
    }
}

/// Re-seals a tampered file: everything after the 52-byte header becomes the payload of a
/// well-formed container (valid checksum and length, no signatures), so decoding reaches
/// postcard and the verifier instead of stopping at the container.
fn reseal(bytes: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    if bytes.len() < 52 {
        return bytes;
    }
    let payload = &bytes[52..];
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&sha2::Sha256::digest(payload));
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.push(0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn tampered_files_load_or_fail_cleanly(
        edits in prop::collection::vec((0usize..3, any::<usize>(), any::<u8>(), 0usize..64), 1..8),
        seal in any::<bool>(),
    ) {
        let mut bytes = compiled();
        for (kind, pos, byte, len) in edits {
            if bytes.len() <= 52 {
                break;
            }
            let at = 52 + pos % (bytes.len() - 52);
            match kind {
                0 => bytes[at] ^= byte | 1,
                1 => bytes.truncate(at),
                _ => {
                    let end = (at + len).min(bytes.len());
                    let chunk: Vec<u8> = bytes[at..end].to_vec();
                    let to = 52 + (pos / 7) % (bytes.len() - 52);
                    bytes.splice(to..to, chunk);
                }
            }
        }
        let bytes = if seal { reseal(bytes) } else { bytes };
        if let Ok(art) = artifact::decode(&bytes) {
            // Whatever survived verification must run without panicking.
            let _ = eval_all(&art.program);
        }
    }
}
