//! Every run-time error kind raised by an instruction is reported at that instruction's
//! source position, never at the point where its frame last called out (a let, a rule). Each
//! case first reads a policy-level let (a call that records a resume pc in the frame), then
//! fails on the next line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use bumpalo::Bump;
use sentrie_vm::{json, target, ErrorKind, Limits};

/// Compiles a policy whose rule `r` is `{ let pre = warm \n yield <fail> }`, evaluates it
/// and returns the error's kind and location.
fn fail_at(fail: &str, facts: &str, limits: Limits) -> (ErrorKind, Option<String>) {
    let src = format!(
        "namespace t\npolicy p {{\n  let warm = 1\n  rule r = {{\n    let pre = warm\n    yield pre + 0 == 1 and ({fail})\n  }}\n  export decision of r\n}}\n"
    );
    let loaded = sentrie_compiler::compile_text(&[("t.sentrie", &src)])
        .unwrap_or_else(|e| panic!("`{fail}` must compile: {:?}", e.diagnostics));
    let t = target::resolve(&loaded.program, "t/p/r").unwrap();
    let bump = Bump::new();
    let facts = json::decode(facts.as_bytes(), &bump).unwrap();
    let out = sentrie_vm::evaluate(&loaded.program, t.policy, &t.rules, facts, &bump, limits);
    match &out[0].result {
        Ok(d) => panic!("`{fail}` should fail, got {:?}", json::to_json(d.value)),
        Err(e) => (e.kind.clone(), e.location.clone()),
    }
}

/// The column where `fail` starts on line 6 of the generated policy.
fn col_of(fail: &str, inner: &str) -> usize {
    let line = format!("    yield pre + 0 == 1 and ({fail})");
    line.find(inner).unwrap() + 1
}

fn assert_at(fail: &str, facts: &str, inner: &str, want: fn(&ErrorKind) -> bool) {
    let (kind, loc) = fail_at(fail, facts, Limits::default());
    assert!(want(&kind), "`{fail}`: unexpected kind {kind:?}");
    let expected = format!("t.sentrie:6:{}", col_of(fail, inner));
    assert_eq!(loc.as_deref(), Some(expected.as_str()), "`{fail}`: {kind}");
}

#[test]
fn operator_errors_point_at_the_operator() {
    assert_at("1 / 0 == 1", "{}", "1 / 0", |k| {
        *k == ErrorKind::DivideByZero
    });
    assert_at("1 % 0 == 1", "{}", "1 % 0", |k| {
        *k == ErrorKind::DivideByZero
    });
    assert_at("x + 1 == 1", r#"{"x": true}"#, "x + 1", |k| {
        matches!(k, ErrorKind::Operands { op: "+", .. })
    });
    assert_at("x * 1 == 1", r#"{"x": "s"}"#, "x * 1", |k| {
        matches!(k, ErrorKind::Operands { op: "*", .. })
    });
    assert_at("x < 1", r#"{"x": "s"}"#, "x < 1", |k| {
        matches!(k, ErrorKind::Compare { op: "<", .. })
    });
    assert_at("-x == 1", r#"{"x": "s"}"#, "-x", |k| {
        matches!(k, ErrorKind::Unary { op: '-', .. })
    });
    assert_at("x.f == 1", r#"{"x": 3}"#, "x.f", |k| {
        matches!(k, ErrorKind::FieldOf { .. })
    });
    assert_at("x[true] == 1", r#"{"x": [1]}"#, "x[true]", |k| {
        matches!(k, ErrorKind::IndexWith("trinary"))
    });
    assert_at("x[0] == 1", r#"{"x": 3}"#, "x[0]", |k| {
        matches!(k, ErrorKind::IndexOf("number"))
    });
}

#[test]
fn matching_errors_point_at_the_match() {
    // A constant pattern (compiled at pack build) and a dynamic one.
    assert_at(r#"x matches "a+""#, r#"{"x": 1}"#, "x matches", |k| {
        matches!(k, ErrorKind::MatchSubject("number"))
    });
    assert_at("x matches y", r#"{"x": 1, "y": "a"}"#, "x matches", |k| {
        matches!(k, ErrorKind::MatchOperands { .. })
    });
    assert_at("x matches y", r#"{"x": "a", "y": "("}"#, "x matches", |k| {
        matches!(k, ErrorKind::BadPattern(_))
    });
}

#[test]
fn construction_errors_point_at_the_literal_or_form() {
    assert_at("{[x]: 1} == {}", r#"{"x": 2}"#, "{[x]: 1}", |k| {
        matches!(k, ErrorKind::MapKey("number"))
    });
    // Reported at the operand that is not a list.
    assert_at("any x as e (e)", r#"{"x": 2}"#, "x as", |k| {
        matches!(k, ErrorKind::NotAList { form: "any", .. })
    });
}

#[test]
fn casts_point_at_the_cast() {
    assert_at("cast x as number == 1", r#"{"x": "abc"}"#, "cast x", |k| {
        matches!(k, ErrorKind::CastText(_))
    });
    assert_at("cast x as number == 1", r#"{"x": [1]}"#, "cast x", |k| {
        matches!(k, ErrorKind::CastKind { .. })
    });
    assert_at(
        "cast x as list[number] == 1",
        r#"{"x": ["a"]}"#,
        "cast x",
        |k| matches!(k, ErrorKind::CastShape { .. }),
    );
}

#[test]
fn calls_point_at_the_call() {
    assert_at(r#"error("no %s", "way")"#, "{}", "error(", |k| {
        *k == ErrorKind::Raised("no way".into())
    });
    assert_at("merge(1, 2) == 1", "{}", "merge(", |k| {
        matches!(k, ErrorKind::Builtin(_))
    });
    assert_at(r#"base64.decode("!") == 1"#, "{}", "base64.decode(", |k| {
        matches!(k, ErrorKind::Native(_))
    });
}

#[test]
fn limits_point_at_where_they_ran_out() {
    let fuel = Limits {
        fuel: 50,
        ..Limits::default()
    };
    let (kind, loc) = fail_at(
        "count(map x as e (e)) > 0",
        r#"{"x": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60]}"#,
        fuel,
    );
    assert_eq!(kind, ErrorKind::Fuel);
    assert!(
        loc.as_deref()
            .is_some_and(|l| l.starts_with("t.sentrie:6:")),
        "{loc:?}"
    );
}

#[test]
fn a_typed_let_points_at_its_check() {
    let src = "namespace t\npolicy p {\n  let warm = 1\n  rule r = {\n    let pre = warm\n    let n: number = \"five\"\n    yield pre == 1 and n == 5\n  }\n  export decision of r\n}\n";
    let loaded = sentrie_compiler::compile_text(&[("t.sentrie", src)]).unwrap_or_else(|_| panic!());
    let t = target::resolve(&loaded.program, "t/p/r").unwrap();
    let bump = Bump::new();
    let out = sentrie_vm::evaluate(
        &loaded.program,
        t.policy,
        &t.rules,
        sentrie_vm::Value::Map(&[]),
        &bump,
        Limits::default(),
    );
    let err = out[0].result.as_ref().err().unwrap();
    assert!(matches!(err.kind, ErrorKind::InvalidLet { .. }), "{err}");
    assert!(
        err.location
            .as_deref()
            .is_some_and(|l| l.starts_with("t.sentrie:6:")),
        "{err}"
    );
}

#[test]
fn fact_errors_have_no_instruction_to_point_at() {
    let src = "namespace t\npolicy p {\n  fact user: string\n  rule r = user == \"a\"\n  export decision of r\n}\n";
    let loaded = sentrie_compiler::compile_text(&[("t.sentrie", src)]).unwrap_or_else(|_| panic!());
    let t = target::resolve(&loaded.program, "t/p/r").unwrap();
    let bump = Bump::new();
    let out = sentrie_vm::evaluate(
        &loaded.program,
        t.policy,
        &t.rules,
        sentrie_vm::Value::Map(&[]),
        &bump,
        Limits::default(),
    );
    let err = out[0].result.as_ref().err().unwrap();
    assert_eq!(err.kind, ErrorKind::MissingFact("user".into()));
    assert_eq!(err.location, None);
}
