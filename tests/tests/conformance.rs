//! The yes/no conformance walk (`conform::conforms`, used on every decision) and the walk that
//! explains a failure (`conform::explain`) must always agree: generated values close to the
//! declared shapes (missing, null, mistyped and constraint-breaking fields, nested shapes,
//! lists, maps, records, aliases) are checked against every fact type of one pack.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use bumpalo::Bump;
use proptest::prelude::*;
use sentrie_vm::{conform, json};

const PACK: &str = r#"namespace t
shape Score number @min(0) @max(100)
shape Name string @length(1, 8)
shape Inner {
  k!: string @one_of("a", "b")
  n?: number @range(0, 5)
  z?!: boolean
}
shape Outer with Inner {
  tags: list[string] @maxlength(2)
  sub?: Inner
  m?: map[number]
  rec?: record[string, number]
  score?: Score
  name?: Name
  any?: document
  t?: trinary
}
policy p {
  fact o: Outer
  fact l: list[Inner]
  fact s: Score
  fact r: record[Name, Score]
  fact m: map[list[number]]
  rule r0 = true
  export decision of r0
}
"#;

/// Scalars, with the values the constraints above sit on either side of.
fn scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!("a")),
        Just(json!("b")),
        Just(json!("c")),
        Just(json!("")),
        Just(json!("toolongname")),
        Just(json!(0)),
        Just(json!(5)),
        Just(json!(6)),
        Just(json!(-1)),
        Just(json!(100)),
        Just(json!(101)),
    ]
}

/// Values built from the shapes' field names, so that most of them nearly conform.
fn value() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop::sample::select(vec![
        "k", "n", "z", "tags", "sub", "m", "rec", "score", "name", "any", "t", "x",
    ]);
    scalar().prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..8).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_fast_walk_agrees_with_the_explaining_walk(v in value()) {
        let loaded = sentrie_compiler::compile_text(&[("t.sentrie", PACK)])
            .unwrap_or_else(|e| panic!("does not compile: {:?}", e.diagnostics));
        let vp = &loaded.program;
        let bump = Bump::new();
        let value = json::decode(v.to_string().as_bytes(), &bump).unwrap();
        for policy in vp.program().policies.values() {
            for fact in &policy.facts {
                let fast = conform::conforms(vp, fact.ty, value, 0);
                let slow = conform::explain(vp, fact.ty, value, 0);
                prop_assert_eq!(fast, slow.is_ok(), "fact {} value {} ({:?})", fact.exposed, v, slow);
            }
        }
    }
}

#[test]
fn conforming_and_failing_values_are_both_generated() {
    // The fixture's shapes accept some values and refuse others (so the property above
    // compares both outcomes).
    let loaded = sentrie_compiler::compile_text(&[("t.sentrie", PACK)])
        .unwrap_or_else(|e| panic!("does not compile: {:?}", e.diagnostics));
    let vp = &loaded.program;
    let policy = vp.program().policies.values().next().unwrap();
    let ty = |name: &str| policy.facts.iter().find(|f| f.exposed == name).unwrap().ty;
    let bump = Bump::new();
    let decode = |s: &str| json::decode(s.as_bytes(), &bump).unwrap();
    let good = decode(r#"{"k":"a","tags":["x"],"sub":{"k":"b","n":null},"score":100}"#);
    assert!(conform::conforms(vp, ty("o"), good, 0));
    let bad = decode(r#"{"k":"a","tags":["x","y","z"]}"#);
    assert!(!conform::conforms(vp, ty("o"), bad, 0));
    let reason = conform::explain(vp, ty("o"), bad, 0).unwrap_err();
    assert!(reason.contains("tags"), "{reason}");
    assert!(conform::conforms(vp, ty("r"), decode(r#"["ab", 3]"#), 0));
    assert!(!conform::conforms(vp, ty("r"), decode(r#"["", 3]"#), 0));
    assert!(conform::check(vp, ty("s"), decode("101"), 0).is_err());
}
