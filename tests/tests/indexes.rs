//! Compile-time indexes give exactly the scan's answers: generated packs (constant lists of
//! maps with missing, null, numeric, boolean, list and nested fields; predicates led by
//! every indexable comparison and followed by conjuncts that can fail) and generated facts
//! are evaluated with and without indexes, and every decision, value and error (with its
//! location) must agree. Also checks that the indexes are really used (`disasm`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use bumpalo::Bump;
use proptest::prelude::*;
use sentrie_compiler::{LoadOptions, Loaded};
use sentrie_vm::{json, target, Limits};

fn load(src: &str, no_index: bool) -> Loaded {
    sentrie_tests::compile_one(
        src,
        LoadOptions {
            no_index,
            ..LoadOptions::default()
        },
    )
}

/// Every exported decision of `t/p` as text: state and value, or the error and its location.
fn decide(l: &Loaded, facts: &str) -> Vec<String> {
    let p = &l.program;
    let t = target::resolve(p, "t/p").unwrap();
    let bump = Bump::new();
    let facts = json::decode(facts.as_bytes(), &bump).unwrap();
    let outcomes = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, Limits::default());
    sentrie_tests::outcome_lines(l, &outcomes)
}

fn indexes_used(l: &Loaded) -> usize {
    (0..l.program.program().indexes.len())
        .filter(|i| l.program.index(*i).is_some_and(|x| x.usable()))
        .count()
}

/// Scalar and odd field values the comparisons meet.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..6u8).prop_map(|i| format!("\"v{i}\"")),
        2 => (0..4i8).prop_map(|i| i.to_string()),
        1 => Just("1.0".to_string()),
        1 => Just("-0".to_string()),
        1 => Just("0".to_string()),
        1 => Just("true".to_string()),
        1 => Just("false".to_string()),
        1 => Just("null".to_string()),
        1 => Just("unknown".to_string()),
        1 => Just("[\"v1\", 2]".to_string()),
        1 => Just("{\"k\": \"v1\"}".to_string()),
        1 => Just("\"\"".to_string()),
    ]
}

/// A list field for `contains`: usually a list, sometimes a map or a scalar.
fn list_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(field_value(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => Just("{\"v1\": 1, \"v2\": 2}".to_string()),
        1 => Just("3".to_string()),
        1 => Just("null".to_string()),
    ]
}

/// One element: a map with optional fields `a`, `b`, `n` and `tags`; rarely something that
/// makes the index unusable (a string `tags`, a non-map element).
fn element() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.9, field_value()),
        prop::option::weighted(0.8, field_value()),
        prop::option::weighted(0.8, (0..5i8).prop_map(|n| n.to_string())),
        prop::option::weighted(0.8, list_value()),
        0..60u8,
    )
        .prop_map(|(a, b, n, tags, odd)| {
            if odd == 0 {
                return "\"not a map\"".to_string();
            }
            let mut fields = Vec::new();
            if let Some(a) = a {
                fields.push(format!("\"a\": {a}"));
            }
            if let Some(b) = b {
                fields.push(format!("\"b\": {b}"));
            }
            if let Some(n) = n {
                fields.push(format!("\"n\": {n}"));
            }
            if odd == 1 {
                fields.push("\"tags\": \"v1 v2\"".to_string());
            } else if let Some(t) = tags {
                fields.push(format!("\"tags\": {t}"));
            }
            format!("{{{}}}", fields.join(", "))
        })
}

/// A leading conjunct comparing an element field with a fact.
fn leading() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "g.a == req.x",
        "req.x == g.a",
        "g.b is req.y",
        "g.a == req.list[0]",
        "req.x in g.tags",
        "g.tags contains req.y",
        "g.a in req.list",
        "req.list contains g.b",
        "g.a in req.map",
        "g.a in req.x",
    ])
}

/// What follows the leading conjuncts: may be UNKNOWN, undefined, or fail.
fn trailing() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "true",
        "g.n > 1",
        "g.n / req.d > 0",
        "req.u",
        "g.missing.x == 1",
        "i % 2 == 0",
        "g.n + req.x > 0",
    ])
}

fn form() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["any", "first", "filter", "count filter"])
}

/// A fact value the comparisons are made against.
fn fact_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => field_value(),
        1 => Just("[\"v1\", \"v2\", 3]".to_string()),
    ]
}

fn facts() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.9, fact_value()),
        prop::option::weighted(0.9, fact_value()),
        prop::collection::vec(field_value(), 0..4),
        prop::option::weighted(0.8, prop::sample::select(vec!["0", "1", "2"])),
        prop::sample::select(vec!["true", "false", "null"]),
        prop::sample::select(vec!["{\"v1\": 1}", "{}", "\"v1v2\""]),
    )
        .prop_map(|(x, y, list, d, u, map)| {
            let mut req = vec![
                format!("\"list\": [{}]", list.join(", ")),
                format!("\"u\": {u}"),
                format!("\"map\": {map}"),
            ];
            if let Some(x) = x {
                req.push(format!("\"x\": {}", x.replace("unknown", "null")));
            }
            if let Some(y) = y {
                req.push(format!("\"y\": {}", y.replace("unknown", "null")));
            }
            if let Some(d) = d {
                req.push(format!("\"d\": {d}"));
            }
            // JSON has no `unknown`.
            format!("{{\"req\": {{{}}}}}", req.join(", ")).replace("unknown", "null")
        })
}

/// The declared type of the list's let: none, or one the generated elements often break
/// (an element that is not a map, a missing or non-string `a`, an `n` over 3).
fn let_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", ": list[document]", ": list[G]", ": list[H]"])
}

fn pack(elements: &[String], ty: &str, rules: &[(&str, Vec<&str>)]) -> String {
    let mut src = format!(
        "namespace t\nshape G {{ n?: number @max(3) }}\nshape H {{ a!: string }}\npolicy p {{\n  fact req: document\n  let grants{ty} = [\n    {}\n  ]\n",
        elements.join(",\n    ")
    );
    // Membership in the list itself, with a needle that can fail: `in` evaluates the
    // needle first, `contains` the list (and so the typed let's check) first.
    src.push_str("  rule m_in = (req.x * 2) in grants\n  export decision of m_in\n");
    src.push_str(
        "  rule m_contains = grants contains (req.x * 2)\n  export decision of m_contains\n",
    );
    for (i, (form, conj)) in rules.iter().enumerate() {
        src.push_str(&format!(
            "  rule r{i} = {form} grants as g, i ({})\n  export decision of r{i}\n",
            conj.join(" and ")
        ));
    }
    src.push_str("}\n");
    src
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, .. ProptestConfig::default() })]

    #[test]
    fn indexed_forms_agree_with_scans(
        elements in prop::collection::vec(element(), 16..40),
        rules in prop::collection::vec(
            (form(), prop::collection::vec(leading(), 1..4), prop::collection::vec(trailing(), 0..2)),
            1..4,
        ),
        ty in let_type(),
        cases in prop::collection::vec(facts(), 1..6),
    ) {
        let rules: Vec<(&str, Vec<&str>)> = rules
            .into_iter()
            .map(|(f, mut lead, trail)| {
                lead.extend(trail);
                (f, lead)
            })
            .collect();
        let src = pack(&elements, ty, &rules);
        let indexed = load(&src, false);
        let scanned = load(&src, true);
        prop_assert_eq!(scanned.program.program().indexes.len(), 0);
        prop_assert!(!indexed.program.program().indexes.is_empty());
        for f in &cases {
            prop_assert_eq!(decide(&indexed, f), decide(&scanned, f), "facts {}\n{}", f, src);
        }
    }

    /// An `or` of rules and `any` over a list of rules, led by `fact == constant`.
    #[test]
    fn indexed_rule_chains_agree_with_scans(
        keys in prop::collection::vec((field_value(), field_value(), trailing()), 8..24),
        cases in prop::collection::vec(facts(), 1..6),
    ) {
        let mut src = "namespace t\npolicy p {\n  fact req: document\n".to_string();
        let n = keys.len();
        for (i, (a, b, t)) in keys.iter().enumerate() {
            // `g` and `i` are not in scope in a rule: use facts in the trailing conjunct.
            let t = t.replace("g.", "req.").replace("i %", "req.d %");
            let a = if a.starts_with('[') || a.starts_with('{') { "\"v0\"" } else { a.as_str() };
            let b = if b.starts_with('[') || b.starts_with('{') { "1" } else { b.as_str() };
            src.push_str(&format!("  rule k{i} = req.x == {a} and {b} == req.y and {t}\n"));
        }
        let names: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        src.push_str(&format!("  rule chained = {}\n  export decision of chained\n", names.join(" or ")));
        src.push_str(&format!("  rule listed = any [{}] as r (r)\n  export decision of listed\n", names.join(", ")));
        src.push_str("  rule member = req.x in [\"v0\", \"v1\", 2, 0, null, true, unknown, \"x\", [1]]\n  export decision of member\n");
        // Short lists too: a lookup beats building the list in every decision.
        src.push_str("  rule few = req.x in [\"v0\", 2]\n  export decision of few\n");
        src.push_str("  rule odd = [null, unknown] contains req.y\n  export decision of odd\n}\n");
        let indexed = load(&src, false);
        let scanned = load(&src, true);
        prop_assert_eq!(indexes_used(&indexed), 5);
        for f in &cases {
            prop_assert_eq!(decide(&indexed, f), decide(&scanned, f), "facts {}\n{}", f, src);
        }
    }
}

/// The indexes are chosen where they apply and `disasm` names them; where the predicate
/// is not indexable the form scans.
#[test]
fn disasm_shows_where_an_index_is_used() {
    let grants: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "{{\"tenant\": \"t{}\", \"action\": \"a{}\"}}",
                i % 10,
                i % 5
            )
        })
        .collect();
    let src = format!(
        "namespace t\npolicy p {{\n  fact req: document\n  let grants = [{}]\n  rule yes = any grants as g (g.tenant == req.tenant and g.action == req.action)\n  rule no = any grants as g (g.tenant != req.tenant)\n  rule all_of = all grants as g (g.tenant == req.tenant)\n  export decision of yes\n  export decision of no\n  export decision of all_of\n}}\n",
        grants.join(", ")
    );
    let l = load(&src, false);
    let listing = |rule: &str| {
        let t = target::resolve(&l.program, &format!("t/p/{rule}")).unwrap();
        let func = l.program.rules()[t.rules[0]].func;
        sentrie_vm::disasm::disasm(&l.program, func)
    };
    let yes = listing("yes");
    assert!(
        yes.contains("IndexProbe") && yes.contains("levels .tenant == then .action =="),
        "{yes}"
    );
    assert!(!listing("no").contains("Index"));
    assert!(!listing("all_of").contains("Index"));
    // The same decision with and without the index.
    let facts = r#"{"req": {"tenant": "t3", "action": "a3"}}"#;
    assert_eq!(decide(&l, facts), decide(&load(&src, true), facts));
    assert_eq!(decide(&l, facts)[0], "yes: TRUE true");
}

/// A typed let's list is indexed too; its type check still runs where a scan would read the
/// let, so a constant that does not conform fails the decision the same way.
#[test]
fn typed_lets_are_indexed_and_still_checked() {
    let grants: Vec<String> = (0..40)
        .map(|i| format!("{{\"tenant\": \"t{}\", \"level\": {}}}", i % 10, i % 4))
        .collect();
    let src = |max: u32| {
        format!(
            "namespace t\nshape Grant {{ tenant!: string\n level!: number @max({max}) }}\npolicy p {{\n  fact req: document\n  let grants: list[Grant] = [{}]\n  rule r = any grants as g (g.tenant == req.tenant and g.level > 1)\n  export decision of r\n}}\n",
            grants.join(", ")
        )
    };
    let facts = r#"{"req": {"tenant": "t3"}}"#;
    let ok = load(&src(3), false);
    let t = target::resolve(&ok.program, "t/p/r").unwrap();
    let listing = sentrie_vm::disasm::disasm(&ok.program, ok.program.rules()[t.rules[0]].func);
    assert!(
        listing.contains("IndexGuard") && listing.contains("IndexProbe"),
        "{listing}"
    );
    assert_eq!(decide(&ok, facts), decide(&load(&src(3), true), facts));
    assert_eq!(decide(&ok, facts)[0], "r: TRUE true");
    // `@max(2)`: elements with level 3 break the type.
    let bad = decide(&load(&src(2), false), facts);
    assert_eq!(bad, decide(&load(&src(2), true), facts));
    assert!(
        bad[0].contains("error") && bad[0].contains("grants"),
        "{bad:?}"
    );
}

/// A constant list is stored once and tested through one index wherever it is used: a let
/// inlined into many rules, the same list written again, in another policy. Different lists
/// (`-0` is not `0` as a constant), typed and untyped lets, and `in` against `contains` keep
/// their own. Rules inlined before their own function is lowered (`b` reads `a` declared
/// after it) do not leave a stale shared index behind. Answers are the scan's.
#[test]
fn one_index_per_distinct_constant_list() {
    let mut src = String::from(
        "namespace t\npolicy p {\n  fact user: document\n  let roles = [\"admin\", \"editor\", \"viewer\"]\n  let typed: list[string] = [\"admin\", \"editor\", \"viewer\"]\n",
    );
    for i in 0..40 {
        src.push_str(&format!(
            "  rule r{i} = user.role in roles and user.n > {i}\n  export decision of r{i}\n"
        ));
    }
    src.push_str(
        "  rule same = user.role in [\"admin\", \"editor\", \"viewer\"]\n  export decision of same\n\
         rule typed_in = user.role in typed\n  export decision of typed_in\n\
         rule has = roles contains user.role\n  export decision of has\n\
         rule zero = user.n in [0, 1]\n  export decision of zero\n\
         rule negzero = user.n in [-0, 1]\n  export decision of negzero\n\
         rule b = a and user.tag in [\"x\", \"y\"]\n  export decision of b\n\
         rule a = user.tag in [\"q\", \"x\"]\n  export decision of a\n\
         rule c = user.tag in [\"c\", \"d\"]\n  export decision of c\n}\n\
         policy q {\n  fact user: document\n  let roles = [\"admin\", \"editor\", \"viewer\"]\n  rule r = user.role in roles\n  export decision of r\n}\n",
    );
    let indexed = load(&src, false);
    let program = indexed.program.program();
    // roles (in), typed (in), roles (contains), [0, 1], [-0, 1], ["x", "y"], ["q", "x"],
    // ["c", "d"]: every other use shares one of these.
    let whats: Vec<&str> = program.indexes.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(program.indexes.len(), 8, "{whats:?}");
    let role_lists = program
        .consts
        .iter()
        .filter(|c| matches!(c, sentrie_vm::program::Const::List(items) if items.len() == 3))
        .count();
    assert_eq!(role_lists, 1);
    let plain = load(&src, true);
    for facts in [
        r#"{"user": {"role": "editor", "n": 3, "tag": "x"}}"#,
        r#"{"user": {"role": "guest", "n": 0, "tag": "q"}}"#,
        r#"{"user": {"role": "admin", "n": -0.0, "tag": "c"}}"#,
        r#"{"user": {"n": 1}}"#,
        r#"{"user": {"role": 7, "n": "1", "tag": ["x"]}}"#,
    ] {
        assert_eq!(decide(&indexed, facts), decide(&plain, facts), "{facts}");
    }
}

/// A hostile list (30,000 elements, every key distinct, lists of keys per element) builds
/// an index linear in its size, and lookups stay exact.
#[test]
fn large_high_cardinality_lists_stay_linear() {
    let grants: Vec<String> = (0..30_000)
        .map(|i| format!("{{\"id\": \"g{i}\", \"tags\": [\"a{i}\", \"b{i}\", {i}]}}"))
        .collect();
    let src = format!(
        "namespace t\npolicy p {{\n  fact req: document\n  let grants = [{}]\n  rule r = first grants as g (g.id == req.id and req.tag in g.tags)\n  export decision of r\n}}\n",
        grants.join(", ")
    );
    let l = load(&src, false);
    assert_eq!(indexes_used(&l), 1);
    let out = decide(&l, r#"{"req": {"id": "g27777", "tag": 27777}}"#);
    assert!(out[0].contains("\"g27777\""), "{out:?}");
    let out = decide(&l, r#"{"req": {"id": "g27777", "tag": "a1"}}"#);
    assert_eq!(out[0], "r: FALSE null");
}

/// A valid pattern.
fn good_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "\"a+b\"",
        "\"^x\"",
        "\"(?i)secret\"",
        "\"\\\\d{3}-\\\\d{4}\"",
        "\"b$\"",
        "\"\"",
        "\"[xyz]{2}\"",
        "\"password\\\\s*[:=]\"",
        "\"zz+\"",
        "\"(?i)api[_-]?key\"",
        // Flags and comments stay inside their own pattern in the alternation.
        "\"(?x) s e c # note\"",
        "\"(?i)b(?-i)X\"",
        "\"\\\\+1\"",
        "\"\\\\d{2,}\\\\b\"",
    ])
    .prop_map(str::to_string)
}

/// What may replace one pattern: one that does not compile, a non-string.
fn bad_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["\"(unclosed\"", "5", "null"]).prop_map(str::to_string)
}

/// Subjects for `matches`: strings that hit some patterns, other values, or nothing.
fn subject() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "\"aab\"", "\"xylophone\"", "\"my SECRET\"", "\"555-1234 b\"", "\"password: x\"",
            "\"nothing here\"", "\"\"", "\"sec\"", "\"bX\"", "\"BX\"", "\"bx\"",
            "\"call +1 99\"", "\"12 \"",
        ])
        .prop_map(str::to_string),
        1 => Just("7".to_string()),
        1 => Just("null".to_string()),
        1 => Just("[\"aab\"]".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// `any`/`first`/`filter` led by `s matches p` (or `p.re`) over constant patterns: one
    /// alternation (and, from 24 patterns, a regex set) gives exactly the scan's answers,
    /// errors included (a pattern that does not compile, a non-string subject or pattern),
    /// with a trailing conjunct that can fail.
    #[test]
    fn regex_sets_agree_with_the_scan(
        good in prop::collection::vec(good_pattern(), 2..32),
        bad in prop::option::weighted(0.25, (any::<prop::sample::Index>(), bad_pattern())),
        field_form in any::<bool>(),
        subject in prop::option::of(subject()),
        n in prop::option::of(0..3i8),
    ) {
        let mut patterns = good;
        if let Some((at, b)) = bad {
            let i = at.index(patterns.len());
            patterns[i] = b;
        }
        let list: Vec<String> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if !field_form {
                    p.clone()
                } else if i % 5 == 4 {
                    format!("{{\"id\": {i}}}")
                } else {
                    format!("{{\"id\": {i}, \"re\": {p}}}")
                }
            })
            .collect();
        let elem = if field_form { "p.re" } else { "p" };
        let id = if field_form { "p.id" } else { "1" };
        let src = format!(
            "namespace t\npolicy p {{\n  fact d?: document\n  fact n?: number\n  let pats = [{}]\n  rule a = any pats as p (d.s matches {elem})\n  rule f = first pats as p (d.s matches {elem} and {id} > n)\n  rule g = filter pats as p (d.s matches {elem})\n  export decision of a\n  export decision of f\n  export decision of g\n}}\n",
            list.join(", ")
        );
        let mut facts = serde_json::Map::new();
        if let Some(s) = &subject {
            // The subject is a field of a document fact (a string fact cannot be any type).
            let mut d = serde_json::Map::new();
            d.insert("s".into(), serde_json::from_str(s).unwrap());
            facts.insert("d".into(), serde_json::Value::Object(d));
        }
        if let Some(n) = n {
            facts.insert("n".into(), n.into());
        }
        let facts = serde_json::Value::Object(facts).to_string();
        let (indexed, scanned) = (load(&src, false), load(&src, true));
        prop_assert_eq!(decide(&indexed, &facts), decide(&scanned, &facts), "{}", src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// `s matches M[k]` over constant keys `k` and a constant map `M` of patterns: keys the
    /// map lacks (undefined patterns), a key that is not a string, a value that is not a
    /// string or does not compile, a typed map let (its check decides, so no index) — the
    /// index answers as the scan, errors included.
    #[test]
    fn patterns_looked_up_in_a_map_agree_with_the_scan(
        patterns in prop::collection::vec(good_pattern(), 2..8),
        missing in prop::collection::vec(any::<bool>(), 8),
        bad in prop::option::weighted(0.2, (any::<prop::sample::Index>(), bad_pattern())),
        odd_key in prop::option::weighted(0.15, any::<prop::sample::Index>()),
        typed in prop::bool::weighted(0.15),
        subject in prop::option::of(subject()),
    ) {
        let mut values = patterns.clone();
        if let Some((at, b)) = bad {
            let i = at.index(values.len());
            values[i] = b;
        }
        let entries: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(i, _)| !missing[*i])
            .map(|(i, v)| format!("\"k{i}\": {v}"))
            .collect();
        let mut keys: Vec<String> = (0..patterns.len()).map(|i| format!("\"k{i}\"")).collect();
        if let Some(at) = odd_key {
            let i = at.index(keys.len());
            keys[i] = "3".to_string();
        }
        let ty = if typed { ": map[string]" } else { "" };
        let src = format!(
            "namespace t\npolicy p {{\n  fact d?: document\n  let pats{ty} = {{{}}}\n  let keys = [{}]\n  rule a = any keys as k (d.s matches pats[k])\n  rule f = first keys as k (d.s matches pats[k])\n  rule g = filter keys as k (d.s matches pats[k])\n  export decision of a\n  export decision of f\n  export decision of g\n}}\n",
            entries.join(", "),
            keys.join(", ")
        );
        let facts = match &subject {
            Some(s) => format!("{{\"d\": {{\"s\": {s}}}}}"),
            None => "{}".to_string(),
        };
        let (indexed, scanned) = (load(&src, false), load(&src, true));
        prop_assert_eq!(decide(&indexed, &facts), decide(&scanned, &facts), "{}", src);
    }
}

#[test]
fn patterns_in_a_constant_map_are_indexed() {
    let src = "namespace t\npolicy p {\n  fact s: string\n  let pats = {\"card\": \"\\\\d{4}\", \"mail\": \"@\"}\n  rule found = filter [\"card\", \"mail\", \"none\"] as k (s matches pats[k])\n  export decision of found\n}\n";
    let l = load(src, false);
    assert_eq!(indexes_used(&l), 1);
    assert_eq!(
        decide(&l, r#"{"s": "plain text"}"#),
        vec!["found: FALSE []".to_string()]
    );
    assert_eq!(
        decide(&l, r#"{"s": "mail a@b, card 1234"}"#),
        vec!["found: TRUE [\"card\",\"mail\"]".to_string()]
    );
    let t = target::resolve(&l.program, "t/p/found").unwrap();
    let text = sentrie_vm::disasm::disasm(&l.program, l.program.rules()[t.rules[0]].func);
    assert!(text.contains("map[elem] matched by"), "{text}");
}

#[test]
fn constant_patterns_run_as_one_set() {
    // 24 patterns or more run as a set (fewer scan faster: each regex has its own prefilter).
    let filler: String = (0..22).map(|i| format!(", \"filler{i}\\\\b\"")).collect();
    let src = format!("namespace t\npolicy p {{\n  fact s: string\n  let pats = [\"(?i)password\\\\s*[:=]\", \"(?i)api[_-]?key\"{filler}]\n  rule hit = first pats as p (s matches p)\n  export decision of hit\n}}\n");
    let l = load(&src, false);
    assert_eq!(indexes_used(&l), 1);
    assert_eq!(
        decide(&l, r#"{"s": "here is my API-KEY"}"#),
        vec!["hit: TRUE \"(?i)api[_-]?key\"".to_string()]
    );
    assert_eq!(
        decide(&l, r#"{"s": "harmless"}"#),
        vec!["hit: FALSE null".to_string()]
    );
    // One pattern that does not compile: the scan runs (and fails where it reaches it).
    let bad = src.replace("(?i)api[_-]?key", "(unclosed");
    assert_eq!(indexes_used(&load(&bad, false)), 0);
    // Three patterns: one alternation answers "none", the scan finds which.
    let short = "namespace t\npolicy p {\n  fact s: string\n  let pats = [\"a\", \"b\", \"c\"]\n  rule hit = first pats as p (s matches p)\n  export decision of hit\n}\n";
    let l = load(short, false);
    assert_eq!(indexes_used(&l), 1);
    assert_eq!(
        decide(&l, r#"{"s": "xbx"}"#),
        vec!["hit: TRUE \"b\"".to_string()]
    );
    assert_eq!(
        decide(&l, r#"{"s": "xyz"}"#),
        vec!["hit: FALSE null".to_string()]
    );
}
