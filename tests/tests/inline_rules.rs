//! Small rules lowered where another rule reads them (`InlineRule` ... `StoreRule`) give
//! exactly what their own frames give: generated chains of rules over facts, lets and earlier
//! rules (`when`/`default`, blocks, `not`, loops, conditionals, operators that can fail, a
//! rule's `state`, `value` and attachments read through it and through rules yielding it),
//! every rule requested, the last first, so that inline copies run and later requests meet
//! their cached decisions, evaluated with and
//! without inlining: every decision, value, error and location, and every explanation, must
//! agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use proptest::prelude::*;
use sentrie_vm::target;

use sentrie_tests::{compile_inlined as load, decide_explained as decide};

/// A rule body; `R` is an earlier rule (or `true` for the first).
fn rule_body() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "n > 1",
        "u.role == \"admin\"",
        "R or u.active",
        "R and n > 0",
        "not R",
        "default false when R { yield n > 2 }",
        "default \"d\" when u.level > 1 { yield R }",
        "when n > 0 { yield R }",
        "R ? \"yes\" : \"no\"",
        "n / u.d > 1",
        "any [1, 2] as x (R)",
        "count([R, R])",
        "{ yield R or false }",
        "u.roles[0] == \"x\" or R",
        "R is defined",
        "R == admins",
        "R + 1",
        "R.state",
        "R.value",
        "R.level",
        "R",
    ])
}

fn facts() -> impl Strategy<Value = String> {
    let scalar = prop::sample::select(vec![
        "\"admin\"",
        "\"x\"",
        "1",
        "3",
        "0",
        "true",
        "false",
        "[\"x\"]",
        "{}",
    ]);
    (
        prop::collection::vec(
            (
                prop::sample::select(vec!["role", "roles", "active", "level", "d"]),
                scalar.clone(),
            ),
            0..5,
        ),
        prop::option::of(scalar),
    )
        .prop_map(|(fields, n)| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            let u = format!("{{{}}}", body.join(", "));
            match n {
                Some(n) => format!("{{\"u\": {u}, \"n\": {n}}}"),
                None => format!("{{\"u\": {u}}}"),
            }
        })
}

/// The generated policy: rules `r0..`, each reading an earlier one; every rule exported (the
/// last first), `r0` with attachments (so it keeps its frame wherever it is read).
fn policy(rules: &[(&str, usize)]) -> String {
    let mut src = "namespace t\npolicy p {\n  fact u: document\n  fact n?: document\n  let admins = u.role == \"admin\"\n".to_string();
    for (i, (body, pick)) in rules.iter().enumerate() {
        let earlier = if i == 0 {
            "true".to_string()
        } else {
            format!("r{}", pick % i)
        };
        src.push_str(&format!("  rule r{i} = {}\n", body.replace('R', &earlier)));
    }
    // Requested last first: a rule reads earlier ones before they are requested themselves,
    // so inline copies run, and later requests find their decisions cached.
    for i in (1..rules.len()).rev() {
        src.push_str(&format!("  export decision of r{i}\n"));
    }
    src.push_str("  export decision of r0\n    attach level as u.level\n    attach own as r0\n");
    src.push_str("}\n");
    src
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 250, .. ProptestConfig::default() })]

    #[test]
    fn inline_rules_agree_with_rule_frames(
        rules in prop::collection::vec((rule_body(), 0..8usize), 1..7),
        cases in prop::collection::vec(facts(), 1..5),
    ) {
        let src = policy(&rules);
        let inlined = load(&src, false);
        let framed = load(&src, true);
        for f in &cases {
            let (a, ta) = decide(&inlined, f);
            let (b, tb) = decide(&framed, f);
            prop_assert_eq!(a, b, "facts {}\n{}", f, src);
            prop_assert_eq!(ta, tb, "explanations differ: facts {}\n{}", f, src);
        }
    }
}

/// `disasm` shows the inline copy of a small rule; a rule with attachments, one whose body
/// builds an index, and one with block lets keep their frames.
#[test]
fn small_rules_are_inlined_and_others_keep_their_frame() {
    let grants: Vec<String> = (0..40)
        .map(|i| format!("{{\"region\": \"r{i}\"}}"))
        .collect();
    let src = format!(
        "namespace t\npolicy p {{\n  fact u: document\n  let grants = [{}]\n  rule small = u.role == \"admin\"\n  rule attached = u.level > 1\n  rule indexed = any grants as g (g.region == u.region)\n  rule blocky = {{ let x = u.level yield x > 2 }}\n  rule top = small or attached or indexed or blocky\n  export decision of top\n  export decision of attached\n    attach level as u.level\n}}\n",
        grants.join(", ")
    );
    let l = load(&src, false);
    let t = target::resolve(&l.program, "t/p/top").unwrap();
    let listing = sentrie_vm::disasm::disasm(&l.program, l.program.rules()[t.rules[0]].func);
    assert!(
        listing.contains("InlineRule") && listing.contains("; rule small"),
        "{listing}"
    );
    assert!(listing.contains("StoreRule"), "{listing}");
    let lines: Vec<&str> = listing.lines().collect();
    for framed in ["attached", "indexed", "blocky"] {
        let note = format!("; rule {framed}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("LoadRule") && l.ends_with(&note)),
            "{framed}: {listing}"
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("InlineRule") && l.ends_with(&note)),
            "{framed}: {listing}"
        );
    }
    // The index is built once, for the rule's own function.
    assert_eq!(l.program.program().indexes.len(), 1);
    let framed = load(&src, true);
    for f in [
        r#"{"u": {"role": "admin"}}"#,
        r#"{"u": {"role": "dev", "level": 3, "region": "r4"}}"#,
        r#"{"u": {"level": "high"}}"#,
    ] {
        assert_eq!(decide(&l, f), decide(&framed, f));
    }
}
