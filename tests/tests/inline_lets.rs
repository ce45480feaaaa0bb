//! Small lets lowered where they are read (`InlineLet`) give exactly what their own frames
//! give: generated lets over facts and constants (field reads that can fail, `?:`, `in`,
//! arithmetic, comparisons) read from rules in every context (twice, under `is defined`,
//! inside a form whose variable shadows a fact name, from another let), with generated
//! facts, evaluated with and without inlining: every decision, value, error and location,
//! and every explanation, must agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use proptest::prelude::*;
use sentrie_vm::target;

use sentrie_tests::{compile_inlined as load, decide_explained as decide};

/// A let body over facts `u` and `n` and constants.
fn let_body() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "u.role",
        "u.role == \"admin\"",
        "\"admin\" in u.roles",
        "u.profile.name",
        "u.locked ?: false",
        "n * 2 + 1",
        "n / u.d",
        "u.role == \"admin\" or u.level > 2",
        "[\"a\", \"b\", u.role]",
        "{\"k\": n, \"r\": u.role}",
        "u.roles[0]",
        "not u.active",
        "u.level > 2 ? \"high\" : \"low\"",
        "consts",
    ])
}

/// How a rule reads let `l{i}`.
fn reader() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "L",
        "L and L",
        "L is defined",
        "any [1, 2] as u (L)",
        "count([L, L])",
        "L == L",
        "{ let x = L yield x }",
    ])
}

fn facts() -> impl Strategy<Value = String> {
    let scalar = prop::sample::select(vec![
        "\"admin\"",
        "\"dev\"",
        "1",
        "3",
        "0",
        "true",
        "false",
        "null",
        "[\"admin\"]",
        "{}",
    ]);
    (
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "role", "roles", "profile", "locked", "d", "level", "active",
                ]),
                scalar.clone(),
            ),
            0..6,
        ),
        prop::option::of(scalar),
        any::<bool>(),
    )
        .prop_map(|(fields, n, user_is_map)| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            let u = if user_is_map {
                format!("{{{}}}", body.join(", "))
            } else {
                "\"not a map\"".to_string()
            };
            match n {
                Some(n) => format!("{{\"u\": {u}, \"n\": {n}}}"),
                None => format!("{{\"u\": {u}}}"),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn inline_lets_agree_with_let_frames(
        lets in prop::collection::vec(let_body(), 1..4),
        rules in prop::collection::vec((0..4usize, reader()), 1..5),
        cases in prop::collection::vec(facts(), 1..5),
    ) {
        let mut src = "namespace t\npolicy p {\n  fact u: document\n  fact n?: document\n  let consts = [1, \"two\", null]\n".to_string();
        for (i, body) in lets.iter().enumerate() {
            src.push_str(&format!("  let l{i} = {body}\n"));
        }
        // A let reading another (inlined) let.
        src.push_str("  let both = l0 and consts\n");
        for (i, (which, how)) in rules.iter().enumerate() {
            let name = format!("l{}", which % lets.len());
            src.push_str(&format!("  rule r{i} = {}\n  export decision of r{i}\n", how.replace('L', &name)));
        }
        src.push_str("  rule rb = both\n  export decision of rb\n}\n");
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

/// `disasm` shows the inline code, and a let that is not small keeps its frame.
#[test]
fn small_lets_are_inlined_and_others_keep_their_frame() {
    let src = "namespace t\npolicy p {\n  fact u: document\n  let admin = \"admin\" in u.roles\n  let many = count(u.roles) > 1\n  let typed: boolean = u.ok\n  rule r = admin or many or typed\n  export decision of r\n}\n";
    let l = load(src, false);
    let t = target::resolve(&l.program, "t/p/r").unwrap();
    let listing = sentrie_vm::disasm::disasm(&l.program, l.program.rules()[t.rules[0]].func);
    assert!(
        listing.contains("InlineLet") && listing.contains("; let admin"),
        "{listing}"
    );
    assert!(
        listing.contains("LoadLet") && listing.contains("; let typed"),
        "{listing}"
    );
    let framed = load(src, true);
    let f = r#"{"u": {"roles": ["admin"], "ok": "yes"}}"#;
    assert_eq!(decide(&l, f), decide(&framed, f));
    assert_eq!(decide(&l, f).0[0], "r: TRUE true");
}

/// A let whose membership test gets an index keeps its frame (one index, however many rules
/// read it); a constant let of any size is one shared constant wherever it is read.
#[test]
fn indexed_and_constant_lets_are_not_copied() {
    let regions: Vec<String> = (0..12).map(|i| format!("\"r{i}\"")).collect();
    let grants: Vec<String> = (0..40).map(|i| format!("{{\"id\": {i}}}")).collect();
    let src = format!(
        "namespace t\npolicy p {{\n  fact u: document\n  let regions = [{}]\n  let grants = [{}]\n  let here = u.region in regions\n  rule a = here and count(grants) > 1\n  rule b = here or count(grants) > 100\n  rule c = not here\n  export decision of a\n  export decision of b\n  export decision of c\n}}\n",
        regions.join(", "),
        grants.join(", ")
    );
    let l = load(&src, false);
    assert_eq!(l.program.program().indexes.len(), 1);
    let listing = |rule: &str| {
        let t = target::resolve(&l.program, &format!("t/p/{rule}")).unwrap();
        sentrie_vm::disasm::disasm(&l.program, l.program.rules()[t.rules[0]].func)
    };
    let a = listing("a");
    assert!(a.contains("LoadLet") && a.contains("; let here"), "{a}");
    assert!(a.contains("InlineLet") && a.contains("; let grants"), "{a}");
    // No more constants than with frames: the inline copy of `grants` (all three reads) is
    // the let's own constant.
    let consts = l.program.program().consts.len();
    assert_eq!(
        consts,
        load(&src, true).program.program().consts.len(),
        "{a}"
    );
    let f = r#"{"u": {"region": "r3"}}"#;
    assert_eq!(decide(&l, f), decide(&load(&src, true), f));
}
