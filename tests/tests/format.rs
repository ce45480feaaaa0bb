//! `sentrie fmt` keeps meaning and is idempotent: over every `.sentrie` file in the repository
//! (test cases, examples, parse corpus), over generated expressions that use every operator
//! and form, and over mutated programs that still parse.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sentrie_grammar::format::format_source;
use sentrie_grammar::{parse_file, FileId, Severity};

/// The tree of `src` without positions, or `None` when it does not parse cleanly.
fn tree(src: &str) -> Option<String> {
    let (tree, diags) = parse_file(FileId(0), src);
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return None;
    }
    Some(without_spans(&format!("{:?}", tree?)))
}

/// Removes `Span { .. }` values from a debug dump.
fn without_spans(dump: &str) -> String {
    let mut out = String::with_capacity(dump.len());
    let mut rest = dump;
    while let Some(i) = rest.find("Span { file: ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find('}').map_or(tail.len(), |j| j + 1);
        out.push('_');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Formats `src` (which parses) and checks the tree is unchanged and a second pass is a no-op.
/// Runs on its own large stack: the corpus holds expressions as deep as the parser allows, and
/// dumping their trees recurses once per level (with large frames in debug builds).
/// `Ok(false)` when `src` does not parse cleanly (nothing to check).
fn check(src: &str, what: &str) -> Result<bool, String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 * 1024 * 1024)
            .spawn_scoped(s, || check_on_this_stack(src, what))
            .unwrap()
            .join()
            .unwrap()
    })
}

fn check_on_this_stack(src: &str, what: &str) -> Result<bool, String> {
    let Some(before) = tree(src) else {
        return Ok(false);
    };
    let once = format_source(src).map_err(|e| format!("{what}: formatting failed: {e:?}"))?;
    let after =
        tree(&once).ok_or_else(|| format!("{what}: formatted text does not parse:\n{once}"))?;
    if before != after {
        return Err(format!(
            "{what}: the tree changed\n--- source\n{src}\n--- formatted\n{once}"
        ));
    }
    let twice = format_source(&once).map_err(|e| format!("{what}: second pass failed: {e:?}"))?;
    if twice != once {
        return Err(format!(
            "{what}: not idempotent\n--- first\n{once}\n--- second\n{twice}"
        ));
    }
    Ok(true)
}

fn sentrie_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            sentrie_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "sentrie") {
            out.push(path);
        }
    }
}

#[test]
fn every_sentrie_file_in_the_repository_keeps_its_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["tests/cases", "tests/parse", "examples", "bench"] {
        sentrie_files(&root.join(dir), &mut files);
    }
    // The shared conformance cases, when this checkout has them next to it.
    sentrie_files(&root.join("../shared/conformance/cases"), &mut files);
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in &files {
        let Ok(src) = String::from_utf8(std::fs::read(f).unwrap()) else {
            continue;
        };
        match check(&src, &f.display().to_string()) {
            Ok(true) => checked += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked > 50, "only {checked} files parsed");
}

/// The deepest expressions the parser accepts format on the caller's ordinary stack (a test
/// thread's 2 MiB here): the formatter runs on a stack of its own.
#[test]
fn the_deepest_accepted_expressions_format_without_overflow() {
    let depth = sentrie_grammar::MAX_EXPR_DEPTH as usize - 8;
    let nots = format!(
        "namespace t\npolicy p {{\n  rule r = {}true\n}}\n",
        "not ".repeat(depth)
    );
    let ternaries = format!(
        "namespace t\npolicy p {{\n  fact a: document\n  rule r = {}false\n}}\n",
        "a ? true : ".repeat(depth)
    );
    for src in [nots, ternaries] {
        let once = format_source(&src).unwrap();
        assert_eq!(format_source(&once).unwrap(), once);
    }
}

#[test]
fn comments_stay_where_they_were_written() {
    let src = "-- header\nnamespace a/b -- ns\n\n-- the policy\npolicy p {\n  -- facts\n  fact user: document\n\n\n  let x = 1 -- one\n  rule r = default false {\n    -- first\n    let y = x\n\n    yield y > 0 -- positive\n    -- before close\n  }\n  let z = 1 + -- inside\n    2\n  -- at end\n}\n-- trailer\n";
    let out = format_source(src).unwrap();
    let expected = "-- header\nnamespace a/b -- ns\n\n-- the policy\npolicy p {\n  -- facts\n  fact user: document\n\n  let x = 1 -- one\n  rule r = default false {\n    -- first\n    let y = x\n\n    yield y > 0 -- positive\n    -- before close\n  }\n  let z = 1 + -- inside\n    2\n  -- at end\n}\n-- trailer\n";
    assert_eq!(out, expected);
    assert!(check(src, "comments").unwrap());
}

#[test]
fn canonical_layout() {
    let src = "namespace a\npolicy p { fact user : map[string] @min(1)\nuse sha256 from @sentrie/hash as h ; let xs=[1,2,3]\nrule r = default false when user.ok { yield !(user.a || user.b) && count xs > 1 }\nrule s = (a and b) or c\nrule t = a ? b : (c ? d : e)\nexport decision of r attach why as \"x\"}\nshape S { a!: string, b?: number }\nexport shape S";
    // `||`/`&&` are not Sentrie; this source does not parse, so the formatter refuses it.
    assert!(format_source(src).is_err());
    let src = src.replace("!(user.a || user.b) &&", "not (user.a or user.b) and");
    let out = format_source(&src).unwrap();
    let expected = "namespace a\n\npolicy p {\n  fact user: map[string] @min(1)\n  use { sha256 } from @sentrie/hash as h\n  let xs = [1, 2, 3]\n  rule r = default false when user.ok {\n    yield not (user.a or user.b) and count xs > 1\n  }\n  rule s = (a and b) or c\n  rule t = a ? b : c ? d : e\n  export decision of r\n    attach why as \"x\"\n}\n\nshape S {\n  a!: string\n  b?: number\n}\n\nexport shape S\n";
    assert_eq!(out, expected);
    assert!(check(&src, "layout").unwrap());
}

#[test]
fn long_expressions_are_broken_over_lines() {
    let long = (0..12)
        .map(|i| format!("user.attribute_{i} == \"value\""))
        .collect::<Vec<_>>()
        .join(" and ");
    let src = format!("namespace a\npolicy p {{\n  rule r = {long}\n  export decision of r\n}}\n");
    let out = format_source(&src).unwrap();
    assert!(out.lines().all(|l| l.len() <= 100), "{out}");
    assert!(
        out.contains("\n    and user.attribute_1 == \"value\"\n"),
        "{out}"
    );
    assert!(check(&src, "long").unwrap());
}

#[test]
fn heredocs_and_statements_with_inner_comments_are_kept_as_written() {
    let src = "namespace a\npolicy p {\n  let msg = <<<EOT\n  hello\nEOT\n  let   y  =  [ 1, -- one\n     2 ]\n}\n";
    let out = format_source(src).unwrap();
    assert!(out.contains("let msg = <<<EOT\n  hello\nEOT\n"), "{out}");
    assert!(out.contains("let   y  =  [ 1, -- one\n     2 ]\n"), "{out}");
    assert!(check(src, "verbatim").unwrap());
}

// ---- generated expressions ----

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-e]".prop_map(|s| s),
        (0u32..100).prop_map(|n| n.to_string()),
        Just("\"s\"".to_string()),
        Just("true".to_string()),
        Just("unknown".to_string()),
        Just("null".to_string()),
        Just("[]".to_string()),
    ];
    leaf.prop_recursive(5, 48, 3, |inner| {
        let binops = prop_oneof![
            Just("and"),
            Just("or"),
            Just("xor"),
            Just("=="),
            Just("!="),
            Just("is"),
            Just("is not"),
            Just("<"),
            Just(">="),
            Just("in"),
            Just("not in"),
            Just("contains"),
            Just("matches"),
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
        ];
        prop_oneof![
            (inner.clone(), binops, inner.clone())
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (inner.clone(), binops_free(), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("({a}) ? ({b}) : ({c})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) ?: ({b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            inner.clone().prop_map(|a| format!("- -({a})")),
            inner.clone().prop_map(|a| format!("({a}) is defined")),
            inner.clone().prop_map(|a| format!("({a}) is not empty")),
            inner.clone().prop_map(|a| format!("count ({a})")),
            inner.clone().prop_map(|a| format!("count [{a}]")),
            inner.clone().prop_map(|a| format!("({a}).f")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("f({a}, {b})")),
            inner.clone().prop_map(|a| format!("g({a})!")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{\"k\": {a}, [{b}]: 1}}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("any ({a}) as x ({b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(filter {a} as x, i {{ yield {b} }})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(first ({a}) as x {{ let y = {b}\n yield y }}).z")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("distinct ({a}) as l, r ({b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("reduce ({a}) from ({b}) as acc, v ({c})")),
            inner
                .clone()
                .prop_map(|a| format!("(cast ({a}) as string)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(cast ({a}) as T) / ({b})")),
            inner.clone().prop_map(|a| format!("cast ({a}) as a/T / 2")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) is (not ({b}))")),
        ]
    })
}

/// Operators combined without parentheses, so that precedence decides the tree.
fn binops_free() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("and"),
        Just("or"),
        Just("=="),
        Just("<"),
        Just("+"),
        Just("*"),
        Just("-"),
        Just("/"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// Generated expressions, in every statement position, keep their tree.
    #[test]
    fn generated_expressions_keep_their_tree(e in expr(), w in expr()) {
        let src = format!(
            "namespace t\npolicy p {{\n  fact a: document\n  let v = {e}\n  rule r = default {w} when {e} {e}\n  rule s = {{\n    let q = {w}\n    yield {e}\n  }}\n  export decision of r\n    attach x as {e}\n}}\n"
        );
        let parsed = check(&src, "generated").map_err(TestCaseError::fail)?;
        // The generator also writes some text the grammar refuses; those cases do not count.
        prop_assume!(parsed);
    }

    /// Mutated versions of the example programs that still parse keep their tree.
    #[test]
    fn mutated_programs_keep_their_tree(seed in 0..SEEDS.len(), at in any::<usize>(), len in 0usize..40) {
        let src = SEEDS[seed];
        let start = floor_char(src, at % src.len());
        let end = floor_char(src, (start + len).min(src.len()));
        let mutated = format!("{}{}", &src[..start], &src[end..]);
        check(&mutated, "mutated").map_err(TestCaseError::fail)?;
    }
}

const SEEDS: &[&str] = &[
    include_str!("../parse/ok/grammar_tour.sentrie"),
    include_str!("../cases/102-language-features/pack/forms.sentrie"),
    include_str!("../cases/103-shapes-facts/pack/team.sentrie"),
    include_str!("../../examples/ai-gateway/gateway.sentrie"),
];

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
