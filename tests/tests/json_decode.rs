//! The direct JSON reader behind `json::decode` must give exactly what serde_json gives: the
//! same values (numbers bit for bit, `-0` included, duplicate keys resolved the same way) and,
//! for text it refuses, the same error. Generated documents cover nesting, whitespace, every
//! escape (surrogate pairs, lone surrogates, raw control characters), number texts of every
//! form and size (long integers, exponents, out-of-range values), and single-byte mutations
//! of valid text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use bumpalo::Bump;
use proptest::prelude::*;
use sentrie_vm::{json, Value};

/// Structural equality with numbers compared bit for bit.
fn same(a: Value<'_>, b: Value<'_>) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.to_bits() == y.to_bits(),
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(*p, *q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, p), (l, q))| k == l && same(*p, *q))
        }
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

fn check(text: &[u8]) -> Result<(), TestCaseError> {
    let bump = Bump::new();
    let fast = json::decode(text, &bump);
    let serde = json::decode_with_serde(text, &bump);
    match (fast, serde) {
        (Ok(a), Ok(b)) => prop_assert!(
            same(a, b),
            "values differ for {:?}",
            String::from_utf8_lossy(text)
        ),
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (a, b) => prop_assert!(
            false,
            "{:?}: direct {a:?}, serde {b:?}",
            String::from_utf8_lossy(text)
        ),
    }
    Ok(())
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
        "-?[0-9]{1,4}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
        Just("-0".to_string()),
        Just("1e400".to_string()),
        Just("-1e-400".to_string()),
        Just("9007199254740993".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("2.2250738585072011e-308".to_string()),
    ]
}

fn string_text() -> impl Strategy<Value = String> {
    let valid = prop_oneof![
        8 => "[a-z ]{0,12}",
        2 => "[\\u{80}-\\u{10FFFF}]{1,3}",
        1 => Just("\\\"".to_string()),
        1 => Just("\\\\".to_string()),
        1 => Just("\\/".to_string()),
        1 => Just("\\b\\f\\n\\r\\t".to_string()),
        2 => "\\\\u[0-9a-fA-F]{4}",
        1 => Just("\\ud83d\\ude00".to_string()),
    ];
    // Refused by both readers (lone surrogates, an unknown escape, raw control characters).
    let invalid = prop_oneof![
        Just("\\ud83d".to_string()),
        Just("\\ude00x".to_string()),
        Just("\\ud83d\\u0041".to_string()),
        Just("\\x".to_string()),
        Just("\u{1}".to_string()),
        Just("\t".to_string()),
    ];
    let piece = prop_oneof![60 => valid, 1 => invalid];
    prop::collection::vec(piece, 0..5).prop_map(|p| format!("\"{}\"", p.concat()))
}

fn space() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        1 => "[ \\t\\n\\r]{1,3}",
    ]
}

fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => number_text(),
        3 => string_text(),
        1 => Just("true".to_string()),
        1 => Just("false".to_string()),
        1 => Just("null".to_string()),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            (
                prop::collection::vec((space(), inner.clone()), 0..6),
                space()
            )
                .prop_map(|(items, end)| {
                    let items: Vec<String> = items.into_iter().map(|(s, v)| s + &v).collect();
                    format!("[{}{end}]", items.join(","))
                }),
            (
                prop::collection::vec(("[abc]{1,2}|\"\\\\u0061\"", space(), inner), 0..6),
                space()
            )
                .prop_map(|(entries, end)| {
                    let entries: Vec<String> = entries
                        .into_iter()
                        .map(|(k, s, v)| {
                            let k = if k.starts_with('"') {
                                k
                            } else {
                                format!("\"{k}\"")
                            };
                            format!("{s}{k}{s}:{s}{v}")
                        })
                        .collect();
                    format!("{{{}{end}}}", entries.join(","))
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_direct_reader_agrees_with_serde_json(
        pre in space(), text in json_text(), post in space()
    ) {
        check(format!("{pre}{text}{post}").as_bytes())?;
    }

    #[test]
    fn mutated_text_gets_the_same_answer_or_error(
        text in json_text(), at in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0..3u8
    ) {
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len() + 1);
        match op {
            0 => bytes.insert(i, byte),
            1 if i < bytes.len() => { bytes.remove(i); }
            _ if i < bytes.len() => bytes[i] = byte,
            _ => bytes.push(byte),
        }
        check(&bytes)?;
    }
}

/// The generator must reach the direct reader: most generated documents are valid.
#[test]
fn most_generated_documents_are_valid() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = json_text();
    let valid = (0..400)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            json::decode_with_serde(text.as_bytes(), &Bump::new()).is_ok()
        })
        .count();
    assert!(
        valid > 200,
        "only {valid} of 400 generated documents are valid"
    );
}

#[test]
fn deep_and_edge_inputs_agree() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    for n in [99, 100, 101, 127, 128, 129, 500] {
        check(deep(n).as_bytes()).unwrap();
    }
    for text in [
        "",
        " ",
        "\u{feff}{}",
        "[1,\u{b}2]",
        "{}",
        "[]",
        "{\"a\":1,\"a\":2}",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "1e+",
        "\"\\u00e9\"",
        "\"\\uDBFF\\uDFFF\"",
        "[1] x",
    ] {
        check(text.as_bytes()).unwrap();
    }
    check(b"\"\xff\"").unwrap();
}
