//! Property tests: the front end and checker never panic on arbitrary or mutated input, and
//! the VM never panics on arbitrary facts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use proptest::prelude::*;

const SEEDS: &[&str] = &[
    include_str!("../parse/ok/grammar_tour.sentrie"),
    include_str!("../parse/ok/unicode_strings.sentrie"),
    include_str!("../cases/102-language-features/pack/forms.sentrie"),
    include_str!("../cases/103-shapes-facts/pack/team.sentrie"),
];

const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "<<<EOT\n",
    "\nEOT\n",
    "--",
    "//",
    "not",
    "in",
    "is",
    "yield",
    "let x = ",
    "rule",
    "policy",
    "namespace",
    "@min(1)",
    "?",
    ":",
    "!",
    "!=",
    "as",
    "from",
    "with",
    "import decision",
    "export decision of r",
    "1e999",
    "\\u",
    "é",
    "\u{0}",
    ";",
    ",",
    "any xs as x",
    "cast",
    "count",
    "shape S { a: string }",
];

/// Applies byte-level and token-level edits to a valid program.
fn mutate(src: &str, edits: &[(usize, usize, usize)]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for &(kind, pos, arg) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = pos % bytes.len();
        match kind % 4 {
            0 => {
                let end = (at + arg % 16).min(bytes.len());
                bytes.drain(at..end);
            }
            1 => {
                let frag = FRAGMENTS[arg % FRAGMENTS.len()].as_bytes();
                bytes.splice(at..at, frag.iter().copied());
            }
            2 => {
                let end = (at + arg % 64).min(bytes.len());
                let copy: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes[at] = (arg % 256) as u8,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check_no_panic(text: &str) {
    let (_, _) = sentrie_grammar::parse_file(sentrie_grammar::FileId(0), text);
    if let Ok(loaded) = sentrie_compiler::compile_text(&[("p.sentrie", text)]) {
        // Evaluate every exported rule once with empty facts: errors are fine, panics are not.
        for (pid, pol) in loaded.program.policies().iter() {
            let bump = bumpalo::Bump::new();
            let facts = sentrie_vm::Value::Map(&[]);
            let _ = sentrie_vm::evaluate(
                &loaded.program,
                pid,
                &pol.exports,
                facts,
                &bump,
                sentrie_vm::Limits::default(),
            );
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        "[a-z]{0,6}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check_no_panic(&text);
    }

    #[test]
    fn mutated_programs_never_panic(seed in 0..SEEDS.len(), edits in prop::collection::vec((0usize..4, any::<usize>(), any::<usize>()), 1..6)) {
        check_no_panic(&mutate(SEEDS[seed], &edits));
    }

    #[test]
    fn compact_output_round_trips(text in "\\PC{0,40}|[\\x00-\\x1f\"\\\\é😀a]{0,12}", value in json_value()) {
        // Strings escaped as JSON requires, keys sorted, numbers as JavaScript writes them:
        // decoding the text gives the same value, and writing that again the same text.
        let doc = serde_json::json!({"s": text, "v": value});
        let bump = bumpalo::Bump::new();
        let decoded = sentrie_vm::json::decode(doc.to_string().as_bytes(), &bump).map_err(TestCaseError::fail)?;
        let mut out = String::new();
        sentrie_vm::json::write_compact(&mut out, decoded);
        let again = sentrie_vm::json::decode(out.as_bytes(), &bump).map_err(TestCaseError::fail)?;
        prop_assert!(sentrie_vm::value::deep_eq(decoded, again, 0), "{}", out);
        let mut twice = String::new();
        sentrie_vm::json::write_compact(&mut twice, again);
        prop_assert_eq!(&out, &twice);
        let serde: serde_json::Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(serde["s"].as_str(), Some(text.as_str()));
    }

    #[test]
    fn number_text_is_the_shortest_round_trip(n in any::<f64>()) {
        // LANGUAGE.md §4.2: integral values without a fraction, otherwise the shortest digits
        // that read back as the same number; exponents only below 1e-6 and from 1e21.
        let mut out = String::new();
        sentrie_vm::json::write_number(&mut out, n);
        if !n.is_finite() {
            prop_assert_eq!(out, "null");
        } else {
            let back: f64 = out.parse().map_err(|_| TestCaseError::fail(out.clone()))?;
            prop_assert!(back == n, "{} -> {}", n, out);
            prop_assert!(!out.ends_with(".0"), "{}", out);
            let a = n.abs();
            let exponent = out.contains('e');
            prop_assert_eq!(exponent, a != 0.0 && !(1e-6..1e21).contains(&a), "{}", out);
            prop_assert_eq!(out.clone(), sentrie_vm::value::number_text(n));
        }
    }

    #[test]
    fn arbitrary_facts_never_panic(facts in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..6)) {
        let facts = serde_json::Value::Object(facts.into_iter().collect()).to_string();
        for (path, src) in [("forms.sentrie", SEEDS[2]), ("team.sentrie", SEEDS[3])] {
            let mut files = vec![(path, src)];
            let org = include_str!("../cases/103-shapes-facts/pack/org.sentrie");
            if path == "team.sentrie" {
                files.push(("org.sentrie", org));
            }
            let loaded = sentrie_compiler::compile_text(&files).map_err(|_| TestCaseError::fail("seed must compile"))?;
            for (pid, pol) in loaded.program.policies().iter() {
                let bump = bumpalo::Bump::new();
                let value = sentrie_vm::json::decode(facts.as_bytes(), &bump).map_err(TestCaseError::fail)?;
                let _ = sentrie_vm::evaluate(&loaded.program, pid, &pol.exports, value, &bump, sentrie_vm::Limits::default());
            }
        }
    }
}

#[test]
fn hostile_inputs_get_diagnostics() {
    let deep_parens = format!(
        "namespace a\npolicy p {{ rule r = {}1{} export decision of r }}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let deep_lists = format!(
        "namespace a\npolicy p {{ rule r = {}1{} export decision of r }}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_unary = format!(
        "namespace a\npolicy p {{ rule r = {}1 export decision of r }}",
        "- ".repeat(10_000)
    );
    let long_line = format!(
        "namespace a\npolicy p {{ rule r = \"{}\" export decision of r }}",
        "x".repeat(1_000_000)
    );
    for (name, text) in [
        ("parens", &deep_parens),
        ("lists", &deep_lists),
        ("unary", &deep_unary),
    ] {
        let err = sentrie_compiler::compile_text(&[("p.sentrie", text)])
            .err()
            .unwrap_or_else(|| panic!("{name} should fail"));
        assert!(
            err.diagnostics
                .iter()
                .any(|d| d.message.contains("too deep") || d.message.contains("too deeply")),
            "{name}"
        );
    }
    assert!(sentrie_compiler::compile_text(&[("p.sentrie", &long_line)]).is_ok());
}

#[test]
fn deeply_nested_facts_are_rejected_cleanly() {
    let bump = bumpalo::Bump::new();
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let err = sentrie_vm::json::decode(deep.as_bytes(), &bump).unwrap_err();
    assert!(err.contains("recursion limit"), "{err}");
    let huge = "{\"n\": 1e400}";
    assert!(sentrie_vm::json::decode(huge.as_bytes(), &bump).is_err());
}

/// Every export of every builtin module (checked against the registry below).
const NATIVE_EXPORTS: &[(&str, &[&str])] = &[
    (
        "js",
        &[
            "round",
            "floor",
            "ceil",
            "max",
            "min",
            "abs",
            "sqrt",
            "pow",
            "exp",
            "log",
            "log10",
            "log2",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "atan2",
            "sinh",
            "cosh",
            "tanh",
            "random",
            "length",
            "fromCharCode",
            "isNaN",
            "isFinite",
            "isInteger",
            "parseInt",
            "parseFloat",
            "now",
            "dateParse",
            "UTC",
            "parse",
            "stringify",
            "isArray",
            "from",
            "of",
            "add",
            "sub",
            "mul",
            "div",
        ],
    ),
    ("hash", &["md5", "sha1", "sha256", "sha512", "hmac"]),
    ("crypto", &["sha256"]),
    (
        "encoding",
        &[
            "base64Encode",
            "base64Decode",
            "base64UrlEncode",
            "base64UrlDecode",
            "hexEncode",
            "hexDecode",
            "urlEncode",
            "urlDecode",
        ],
    ),
    ("json", &["isValid"]),
    (
        "regex",
        &["match", "find", "findAll", "replace", "replaceAll", "split"],
    ),
    ("uuid", &["v4", "v6", "v7"]),
    (
        "collection",
        &[
            "list_includes",
            "list_indexOf",
            "list_lastIndexOf",
            "list_sort",
            "list_unique",
            "list_chunk",
            "list_flatten",
            "map_keys",
            "map_values",
            "map_entries",
            "map_has",
            "map_get",
            "map_size",
            "map_isEmpty",
            "map_merge",
        ],
    ),
    (
        "time",
        &[
            "now",
            "parse",
            "format",
            "isBefore",
            "isAfter",
            "isBetween",
            "addDuration",
            "subtractDuration",
            "unix",
        ],
    ),
    ("jwt", &["decode", "verify", "getPayload", "getHeader"]),
    (
        "net",
        &[
            "cidrContains",
            "cidrIntersects",
            "cidrIsValid",
            "cidrExpand",
            "cidrMerge",
            "parseIP",
            "isIPv4",
            "isIPv6",
            "isPrivate",
            "isPublic",
            "isLoopback",
            "isMulticast",
        ],
    ),
    (
        "url",
        &["parse", "join", "getHost", "getPath", "getQuery", "isValid"],
    ),
    (
        "semver",
        &[
            "compare",
            "isValid",
            "stripPrefix",
            "satisfies",
            "major",
            "minor",
            "patch",
            "prerelease",
            "metadata",
        ],
    ),
];

fn native_arg() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        json_value(),
        "[0-9a-f:./\\-]{0,24}".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("10.0.0.0/8"),
            Just("::1"),
            Just("2024-01-15T10:30:00Z"),
            Just("1h30m"),
            Just("a.b.c"),
            Just("https://x.io:80/p?q#f"),
            Just("%zz"),
            Just("(a+)+$"),
            Just("2006-01-02 .000 .999")
        ]
        .prop_map(|s: &str| serde_json::Value::String(s.to_string())),
    ]
}

#[test]
fn every_native_export_is_listed() {
    for (module, names) in NATIVE_EXPORTS {
        for name in *names {
            assert!(
                sentrie_modules::native::lookup(module, name).is_some(),
                "{module}.{name}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn native_functions_never_panic(which in any::<prop::sample::Index>(), args in prop::collection::vec(native_arg(), 0..4)) {
        let all: Vec<(&str, &str)> = NATIVE_EXPORTS.iter().flat_map(|(m, ns)| ns.iter().map(move |n| (*m, *n))).collect();
        let (module, name) = all[which.index(all.len())];
        let Some(f) = sentrie_modules::native::function(module, name) else { return Ok(()) };
        let bump = bumpalo::Bump::new();
        let values: Vec<sentrie_vm::Value<'_>> = args
            .iter()
            .map(|a| sentrie_vm::json::decode(a.to_string().as_bytes(), &bump).unwrap_or(sentrie_vm::Value::Undefined))
            .collect();
        let env = sentrie_modules::native::Env { bump: &bump, now_ms: 0 };
        let _ = f(&values, &env);
    }
}

/// A random trinary expression over the facts `a`, `b`, `c` (booleans) and the literals,
/// with its value under Kleene's strong three-valued logic (LANGUAGE.md §10) as an
/// independent model: `Some(bool)` or `None` for unknown.
#[derive(Clone, Debug)]
enum Tri3 {
    Fact(usize),
    Lit(Option<bool>),
    Not(Box<Tri3>),
    And(Box<Tri3>, Box<Tri3>),
    Or(Box<Tri3>, Box<Tri3>),
    Xor(Box<Tri3>, Box<Tri3>),
}

impl Tri3 {
    fn text(&self) -> String {
        match self {
            Tri3::Fact(i) => ["a", "b", "c"][*i].to_string(),
            Tri3::Lit(Some(true)) => "true".into(),
            Tri3::Lit(Some(false)) => "false".into(),
            Tri3::Lit(None) => "unknown".into(),
            Tri3::Not(x) => format!("not ({})", x.text()),
            Tri3::And(x, y) => format!("({}) and ({})", x.text(), y.text()),
            Tri3::Or(x, y) => format!("({}) or ({})", x.text(), y.text()),
            Tri3::Xor(x, y) => format!("({}) xor ({})", x.text(), y.text()),
        }
    }

    fn model(&self, facts: [bool; 3]) -> Option<bool> {
        match self {
            Tri3::Fact(i) => Some(facts[*i]),
            Tri3::Lit(v) => *v,
            Tri3::Not(x) => x.model(facts).map(|v| !v),
            Tri3::And(x, y) => match (x.model(facts), y.model(facts)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Tri3::Or(x, y) => match (x.model(facts), y.model(facts)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Tri3::Xor(x, y) => match (x.model(facts), y.model(facts)) {
                (Some(p), Some(q)) => Some(p != q),
                _ => None,
            },
        }
    }
}

fn tri3() -> impl Strategy<Value = Tri3> {
    let leaf = prop_oneof![
        (0usize..3).prop_map(Tri3::Fact),
        prop_oneof![Just(Some(true)), Just(Some(false)), Just(None)].prop_map(Tri3::Lit),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| Tri3::Not(Box::new(x))),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| Tri3::And(Box::new(x), Box::new(y))),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| Tri3::Or(Box::new(x), Box::new(y))),
            (inner.clone(), inner).prop_map(|(x, y)| Tri3::Xor(Box::new(x), Box::new(y))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Random programs agree with the three-valued model, and the algebraic laws hold:
    /// commutativity, De Morgan, double negation.
    #[test]
    fn kleene_expressions_agree_with_the_model(e in tri3(), f in tri3(), facts in any::<[bool; 3]>()) {
        let facts_json = format!(r#"{{"a": {}, "b": {}, "c": {}}}"#, facts[0], facts[1], facts[2]);
        let src = format!(
            "namespace t\npolicy p {{\n  fact a: boolean\n  fact b: boolean\n  fact c: boolean\n  rule r = [{e}, ({e}) and ({f}), ({f}) and ({e}), not (({e}) or ({f})), (not ({e})) and (not ({f})), not (not ({e}))]\n  export decision of r\n}}\n",
            e = e.text(),
            f = f.text()
        );
        let (_, value) = sentrie_tests::eval_rule(&src, &facts_json).map_err(TestCaseError::fail)?;
        let got: Vec<Option<bool>> = value
            .as_array()
            .ok_or_else(|| TestCaseError::fail(value.to_string()))?
            .iter()
            .map(serde_json::Value::as_bool)
            .collect();
        let want = |t: &Tri3| t.model(facts);
        prop_assert_eq!(got[0], want(&e), "{}", e.text());
        prop_assert_eq!(got[1], got[2], "commutativity");
        prop_assert_eq!(got[3], got[4], "De Morgan");
        prop_assert_eq!(got[5], got[0], "double negation");
        prop_assert_eq!(got[1], want(&Tri3::And(Box::new(e), Box::new(f))));
    }

    /// Number text round-trips through the language: `cast (cast n as string) as number`.
    #[test]
    fn number_text_round_trips_through_casts(n in any::<f64>().prop_filter("finite", |n| n.is_finite())) {
        let facts = format!(r#"{{"n": {}}}"#, serde_json::Value::from(n));
        let src = "namespace t\npolicy p {\n  fact n: number\n  rule r = cast (cast n as string) as number == n\n  export decision of r\n}\n";
        let got = sentrie_tests::eval_rule(src, &facts).map_err(TestCaseError::fail)?;
        prop_assert_eq!(got, ("TRUE".to_string(), serde_json::json!(true)));
    }
}
