//! Data-driven parser and checker tests: every file in `tests/parse/ok` must parse and check
//! without diagnostics (`use` statements aside, see `POLICY_ERRORS_OK`), and every file in
//! `tests/parse/err` must fail with the diagnostics recorded in its insta snapshot.
//! Regenerate snapshots with `cargo insta test -p sentrie-tests --accept`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use std::path::Path;

fn files(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sentrie"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (name, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no test files in {dir}");
    out
}

#[test]
fn ok_files_parse_and_check() {
    for (name, text) in files("parse/ok") {
        let path = format!("{name}.sentrie");
        let (tree, diags) = sentrie_grammar::parse_file(sentrie_grammar::FileId(0), &text);
        assert!(diags.is_empty(), "{name}: {diags:?}");
        assert!(tree.is_some(), "{name}: no tree");
        match sentrie_compiler::compile_text(&[(&path, &text)]) {
            Ok(loaded) => {
                // Modules are a later feature: `use` makes its policy unusable, nothing else.
                for d in &loaded.diagnostics {
                    assert!(
                        d.message.starts_with("module"),
                        "{name}: unexpected diagnostic {}",
                        d.message
                    );
                }
            }
            Err(e) if text.contains("namespace") => {
                let msgs: Vec<&str> = e.diagnostics.iter().map(|d| d.message.as_str()).collect();
                panic!("{name}: {msgs:?}");
            }
            Err(e) => assert!(
                e.diagnostics
                    .iter()
                    .all(|d| d.message.contains("no policies")),
                "{name}"
            ),
        }
    }
}

#[test]
fn err_files_report_located_diagnostics() {
    for (name, text) in files("parse/err") {
        let path = format!("{name}.sentrie");
        let rendered = match sentrie_compiler::compile_text(&[(&path, &text)]) {
            Ok(loaded) => {
                // Policy errors: the pack loads but `validate` must report them.
                assert!(!loaded.diagnostics.is_empty(), "{name} should not be valid");
                sentrie_grammar::render_all(
                    &loaded.diagnostics,
                    &loaded.sources,
                    sentrie_grammar::ErrorFormat::Plain,
                )
            }
            Err(e) => sentrie_grammar::render_all(
                &e.diagnostics,
                &e.sources,
                sentrie_grammar::ErrorFormat::Plain,
            ),
        };
        for line in rendered.lines().filter(|l| l.starts_with("Error: ")) {
            assert!(
                line.starts_with(&format!("Error: {path}:")),
                "{name}: diagnostic without a location: {line}"
            );
        }
        insta::assert_snapshot!(name.clone(), rendered);
    }
}

/// `tests/parse/warn` loads, with the warnings (and suggestions) recorded in its snapshot.
#[test]
fn warn_files_report_warnings_with_suggestions() {
    for (name, text) in files("parse/warn") {
        let path = format!("{name}.sentrie");
        let loaded = sentrie_compiler::compile_text(&[(&path, &text)])
            .unwrap_or_else(|e| panic!("{name}: {:?}", e.diagnostics));
        assert!(!loaded.warnings.is_empty(), "{name} should warn");
        let rendered = sentrie_grammar::render_all(
            &loaded.warnings,
            &loaded.sources,
            sentrie_grammar::ErrorFormat::Plain,
        );
        assert!(rendered
            .lines()
            .all(|l| l.starts_with(&format!("Warning: {path}:"))));
        insta::assert_snapshot!(format!("warn_{name}"), rendered);
    }
}

#[test]
fn human_rendering_shows_the_source_line() {
    let rendered = sentrie_tests::render_human(&[(
        "broken.sentrie",
        "namespace conf/broken\n\npolicy p {\n  rule r = default false {\n    let x = 1\n    x > 0\n  }\n\n  export decision of r\n}\n",
    )]);
    insta::assert_snapshot!(rendered);
}

/// Lines too wide for a snippet (an error past column 65,535, a 100,000-deep `not` chain)
/// are reported in the plain form instead of crashing the renderer.
#[test]
fn human_rendering_survives_very_wide_lines() {
    let wide = format!(
        "namespace w\npolicy p {{\n  rule r = 1 + {} + &\n  export decision of r\n}}\n",
        vec!["1"; 20_000].join(" + ")
    );
    let rendered = sentrie_tests::render_human(&[("wide.sentrie", &wide)]);
    assert!(
        rendered.contains("wide.sentrie:3:") && rendered.contains("unexpected character `&`"),
        "{}",
        &rendered[..rendered.len().min(300)]
    );
    let deep = format!(
        "namespace w\npolicy p {{\n  rule r = {}true &\n  export decision of r\n}}\n",
        "not ".repeat(100_000)
    );
    let rendered = sentrie_tests::render_human(&[("deep.sentrie", &deep)]);
    assert!(
        rendered.contains("deep.sentrie:3:"),
        "{}",
        &rendered[..rendered.len().min(300)]
    );
}

/// A name declared twice points at both declarations, in every format; each diagnostic is
/// printed once (one header line, then the snippet), sorted by position.
#[test]
fn conflicts_point_at_both_declarations_and_print_once() {
    let src = "namespace d\npolicy p {\n  rule allow = true\n  rule allow = false\n  rule x = 1 && 2\n  export decision of allow\n}\n";
    let human = sentrie_tests::render_human(&[("d.sentrie", src)]);
    assert_eq!(human.matches("unexpected character").count(), 1, "{human}");
    let (_, diags) = sentrie_grammar::parse_file(sentrie_grammar::FileId(0), src);
    assert_eq!(diags.len(), 1);
    let fixed = src.replace("1 && 2", "1");
    let human = sentrie_tests::render_human(&[("d.sentrie", &fixed)]);
    assert_eq!(
        human.matches("declared more than once").count(),
        1,
        "{human}"
    );
    assert!(human.contains("first declared here"), "{human}");
    let err = sentrie_compiler::compile_text(&[("d.sentrie", &fixed)])
        .err()
        .unwrap();
    let json = sentrie_grammar::render_all(
        &err.diagnostics,
        &err.sources,
        sentrie_grammar::ErrorFormat::Json,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["line"], 4);
    assert_eq!(v[0]["related"][0]["line"], 3, "{json}");
    assert_eq!(v[0]["related"][0]["message"], "first declared here");
}
