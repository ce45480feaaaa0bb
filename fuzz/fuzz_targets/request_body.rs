//! HTTP decision bodies: the depth check, decoding (the direct reader must give serde_json's
//! value or error), the `facts` member, evaluation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if sentrie_vm::json::check_depth(data, 64).is_err() {
        return;
    }
    let bump = bumpalo::Bump::new();
    let decoded = sentrie_vm::json::decode(data, &bump);
    // `Debug` prints numbers in shortest round-trip form with their sign: equal text is
    // equal bits.
    let by_serde = sentrie_vm::json::decode_with_serde(data, &bump);
    assert_eq!(format!("{decoded:?}"), format!("{by_serde:?}"));
    let Ok(body) = decoded else {
        return;
    };
    let facts = match body {
        sentrie_vm::Value::Map(m) => sentrie_vm::value::map_get(m, "facts"),
        _ => None,
    };
    if let Some(facts) = facts {
        let mut text = String::new();
        sentrie_vm::json::write_compact(&mut text, facts);
        sentrie_fuzz::eval_everywhere(text.as_bytes());
    }
});
