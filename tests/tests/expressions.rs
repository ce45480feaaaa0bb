//! Table-driven tests of every operator and form through the whole pipeline
//! (parse → compile → VM), including the Kleene truth tables.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use sentrie_tests::eval_rule;
use serde_json::{json, Value};

/// Evaluates `rule r = EXPR` with `facts` and compares state and value.
fn check(expr: &str, facts: &str, state: &str, value: Value) {
    let src = format!("namespace t\npolicy p {{\n  rule r = {expr}\n  export decision of r\n}}\n");
    match eval_rule(&src, facts) {
        Ok((s, v)) => {
            assert_eq!((s.as_str(), &v), (state, &value), "`{expr}` with {facts}");
        }
        Err(e) => panic!("`{expr}` failed: {e}"),
    }
}

/// Evaluates `rule r = EXPR` and expects a runtime error containing `phrase`.
fn check_err(expr: &str, facts: &str, phrase: &str) {
    let src = format!("namespace t\npolicy p {{\n  rule r = {expr}\n  export decision of r\n}}\n");
    match eval_rule(&src, facts) {
        Ok(v) => panic!("`{expr}` should fail with `{phrase}`, got {v:?}"),
        Err(e) => assert!(
            e.contains(phrase),
            "`{expr}`: `{e}` should contain `{phrase}`"
        ),
    }
}

const T: &str = "true";
const F: &str = "false";
const U: &str = "unknown";

fn tri(s: &str) -> (&'static str, Value) {
    match s {
        "T" => ("TRUE", json!(true)),
        "F" => ("FALSE", json!(false)),
        _ => ("UNKNOWN", Value::Null),
    }
}

#[test]
fn kleene_truth_tables() {
    let vals = [(T, 'T'), (F, 'F'), (U, 'U')];
    // Rows: left operand T, F, U; columns: right operand T, F, U.
    let and = ["TFU", "FFF", "UFU"];
    let or = ["TTT", "TFU", "TUU"];
    let xor = ["FTU", "TFU", "UUU"];
    for (i, (a, _)) in vals.iter().enumerate() {
        for (j, (b, _)) in vals.iter().enumerate() {
            for (op, table) in [("and", and), ("or", or), ("xor", xor)] {
                let want = &table[i][j..=j];
                let (state, value) = tri(want);
                check(&format!("{a} {op} {b}"), "{}", state, value);
            }
        }
    }
    check("not true", "{}", "FALSE", json!(false));
    check("not false", "{}", "TRUE", json!(true));
    check("not unknown", "{}", "UNKNOWN", Value::Null);
    check("!missing", "{}", "FALSE", Value::Null);
}

#[test]
fn short_circuit_skips_the_right_operand() {
    check("false and error(\"boom\")", "{}", "FALSE", json!(false));
    check("true or error(\"boom\")", "{}", "TRUE", json!(true));
    check_err("true and error(\"boom\")", "{}", "boom");
    check("missing and true", "{}", "FALSE", json!(false));
}

#[test]
fn truthiness_of_values() {
    check("{ yield 5 }", "{}", "TRUE", json!(5));
    check("{ yield 0 }", "{}", "FALSE", json!(0));
    check("{ yield \"\" }", "{}", "FALSE", json!(""));
    check("{ yield [1] }", "{}", "TRUE", json!([1]));
    check("{ yield {} }", "{}", "FALSE", json!({}));
    check("{ yield null }", "{}", "FALSE", Value::Null);
    check("{ yield u.missing }", r#"{"u":{}}"#, "FALSE", Value::Null);
    check("x", r#"{"x":null}"#, "FALSE", Value::Null);
}

#[test]
fn arithmetic_and_precedence() {
    check("2 + 3 * 4", "{}", "TRUE", json!(14));
    check("10 - 4 - 3", "{}", "TRUE", json!(3));
    check("-2 * -3", "{}", "TRUE", json!(6));
    check("7 / 2", "{}", "TRUE", json!(3.5));
    check("-7 % 3", "{}", "TRUE", json!(-1));
    check("5.5 % 2", "{}", "TRUE", json!(1.5));
    check("1e5 + 1.5e-3", "{}", "TRUE", json!(100000.0015));
    check("x + 1", "{}", "FALSE", Value::Null);
    check("-x", "{}", "FALSE", Value::Null);
    check_err("1 % 0", "{}", "divide by zero");
    check_err("true + 1", "{}", "type error");
    check_err("[1] - 1", "{}", "type error");
}

#[test]
fn comparison_and_equality() {
    check(
        "1 < 2 and 2 <= 2 and 3 > 2 and 3 >= 3",
        "{}",
        "TRUE",
        json!(true),
    );
    check("\"abc\" < \"abd\"", "{}", "TRUE", json!(true));
    check("1 == 1.0", "{}", "TRUE", json!(true));
    check("0 == null", "{}", "FALSE", json!(false));
    check("false == null", "{}", "FALSE", json!(false));
    check("unknown == unknown", "{}", "TRUE", json!(true));
    check(
        "{\"a\": [1, {\"b\": 2}]} == {\"a\": [1, {\"b\": 2}]}",
        "{}",
        "TRUE",
        json!(true),
    );
    check("[1, 2] != [2, 1]", "{}", "TRUE", json!(true));
    check("x == 1", "{}", "FALSE", Value::Null);
    check("x is 3", r#"{"x":3}"#, "TRUE", json!(true));
    check_err("1 < \"a\"", "{}", "type error");
    check_err("1 < 2 < 3", "{}", "type error");
}

#[test]
fn membership_and_matching() {
    check("2 in [1, 2]", "{}", "TRUE", json!(true));
    check("[1, 2] contains 3", "{}", "FALSE", json!(false));
    check("\"a\" in {\"a\": 1}", "{}", "TRUE", json!(true));
    check("{\"a\": 1} in {\"a\": 2}", "{}", "FALSE", json!(false));
    check("\"\" in \"abc\"", "{}", "FALSE", json!(false));
    check("1 in 5", "{}", "FALSE", json!(false));
    check("3 not in [1, 2]", "{}", "TRUE", json!(true));
    check("\"abc\" not contains \"z\"", "{}", "TRUE", json!(true));
    check("x in [1]", "{}", "FALSE", Value::Null);
    check("\"abc123\" matches \"[0-9]+\"", "{}", "TRUE", json!(true));
    check("\"abc\" not matches \"^b\"", "{}", "TRUE", json!(true));
    check("s matches p", r#"{"s":"ab","p":"^a"}"#, "TRUE", json!(true));
    check_err(
        "s matches p",
        r#"{"s":"ab","p":"("}"#,
        "invalid regular expression",
    );
    check_err("1 matches \"a\"", "{}", "type error");
}

#[test]
fn is_defined_and_empty_are_lenient() {
    check("u.a.b.c is defined", r#"{"u":{}}"#, "FALSE", json!(false));
    check(
        "u.a is not defined",
        r#"{"u":{"a":null}}"#,
        "FALSE",
        json!(false),
    );
    check("u.a.b is empty", r#"{"u":{"a":null}}"#, "TRUE", json!(true));
    check(
        "u.list[5] is defined",
        r#"{"u":{"list":[1]}}"#,
        "FALSE",
        json!(false),
    );
    check("0 is empty", "{}", "FALSE", json!(false));
    check("[] is not empty", "{}", "FALSE", json!(false));
    check_err("u.a.b", r#"{"u":{}}"#, "cannot access");
    check_err("u.a", r#"{"u":5}"#, "cannot access");
}

#[test]
fn indexing() {
    check("xs[1]", r#"{"xs":[1,2]}"#, "TRUE", json!(2));
    check("xs[1.9]", r#"{"xs":[1,2]}"#, "TRUE", json!(2));
    check("xs[-1]", r#"{"xs":[1,2]}"#, "FALSE", Value::Null);
    check("m[\"k\"]", r#"{"m":{"k":"v"}}"#, "TRUE", json!("v"));
    check("m[1]", r#"{"m":{"k":"v"}}"#, "FALSE", Value::Null);
    check_err("xs[\"a\"]", r#"{"xs":[1]}"#, "cannot access");
}

#[test]
fn conditionals() {
    check("true ? 1 : 2", "{}", "TRUE", json!(1));
    check("unknown ? 1 : 2", "{}", "TRUE", json!(2));
    check("false ? 1 : false ? 2 : 3", "{}", "TRUE", json!(3));
    check("\"\" ?: \"d\"", "{}", "TRUE", json!("d"));
    check("\"v\" ?: \"d\"", "{}", "TRUE", json!("v"));
    check("true ? 1 : error(\"not taken\")", "{}", "TRUE", json!(1));
}

#[test]
fn casts() {
    check("cast 5 as string", "{}", "TRUE", json!("5"));
    check("cast 0.5 as string", "{}", "TRUE", json!("0.5"));
    check("cast null as string", "{}", "TRUE", json!("null"));
    check("cast \"1e3\" as number", "{}", "TRUE", json!(1000));
    check("cast \"maybe\" as trinary", "{}", "UNKNOWN", Value::Null);
    check("cast 2 as boolean", "{}", "TRUE", json!(true));
    check("cast missing as number", "{}", "FALSE", Value::Null);
    check_err("cast \"maybe\" as boolean", "{}", "cannot cast");
    check_err("cast [1] as document", "{}", "cannot cast");
    check_err(
        "cast \"abc\" as string @maxlength(2)",
        "{}",
        "constraint failed: 'maxlength'",
    );
}

#[test]
fn collection_forms() {
    check("all [] as x (false)", "{}", "TRUE", json!(true));
    check("any [] as x (true)", "{}", "FALSE", json!(false));
    check("all missing as x (true)", "{}", "FALSE", json!(false));
    check("filter missing as x (true)", "{}", "FALSE", json!([]));
    check("first missing as x (true)", "{}", "FALSE", Value::Null);
    check(
        "distinct missing as a, b (a == b)",
        "{}",
        "FALSE",
        json!([]),
    );
    check(
        "map [1, 2] as x (u.missing)",
        r#"{"u":{}}"#,
        "TRUE",
        json!([null, null]),
    );
    check("reduce [] from 7 as a, x (a + x)", "{}", "TRUE", json!(7));
    check_err(
        "reduce [1, 2, 3] from [] as acc, x, i (acc + [i])",
        "{}",
        "type error",
    );
    check(
        "reduce [1, 2, 3] from 0 as acc, x, i (acc + x * i)",
        "{}",
        "TRUE",
        json!(8),
    );
    check(
        "any [1, 2] as x (any [3] as y (x + y == 5))",
        "{}",
        "TRUE",
        json!(true),
    );
    check(
        "map [[1, 2], [3]] as row (map row as c (c * 10))",
        "{}",
        "TRUE",
        json!([[10, 20], [30]]),
    );
    check(
        "distinct [\"a\", \"A\", \"b\"] as l, r (cast l as string == cast r as string)",
        "{}",
        "TRUE",
        json!(["a", "A", "b"]),
    );
    check_err(
        "filter {\"a\": 1} as x (true)",
        "{}",
        "filter expects a list",
    );
    check_err("map 3 as x (x)", "{}", "map expects a list");
    check_err("any [1, 2] as x (x + \"a\")", "{}", "type error");
}

#[test]
fn builtins_behave_as_specified() {
    check("count(\"héllo\")", "{}", "TRUE", json!(5));
    check("count(5)", "{}", "FALSE", json!(0));
    check("as_list(3)", "{}", "TRUE", json!([3]));
    check("as_list([1, u.x])", r#"{"u":{}}"#, "FALSE", Value::Null);
    check(
        "flatten([1, [2, [3]]], 0)",
        "{}",
        "TRUE",
        json!([1, [2, [3]]]),
    );
    check(
        "flatten_deep([1, [2, [3, [4]]]])",
        "{}",
        "TRUE",
        json!([1, 2, 3, 4]),
    );
    check(
        "crypto.verify(\"abc\", crypto.hash(\"abc\"))",
        "{}",
        "TRUE",
        json!(true),
    );
    check_err("flatten(1)", "{}", "flatten: first argument must be a list");
    check_err("flatten([1], -1)", "{}", "non-negative integer");
    check_err("normalise_list([[[1]]])", "{}", "deeper than one level");
    check_err("merge(1, {})", "{}", "type error");
    check_err("error(\"code %d: %v\", 4.9)", "{}", "code 4: %!v(MISSING)");
    check_err("base64.decode(\"***\")", "{}", "invalid base64");
}

#[test]
fn rules_lets_and_decisions() {
    let src = r#"
namespace t
policy p {
  let base = 10
  rule helper = default 0 when base > 5 { yield base * 2 }
  rule r = {
    let h = helper
    yield [h.state, h.value, helper + 1, helper.missing]
  }
  export decision of r
}
"#;
    let (state, value) = eval_rule(src, "{}").unwrap();
    assert_eq!(state, "TRUE");
    assert_eq!(value, json!([true, 20, 21, null]));
}

#[test]
fn attachments_are_readable_from_the_same_policy() {
    let src = r#"
namespace t
policy p {
  rule inner = 3
  rule r = inner.why + ":" + inner.state
  export decision of r
  export decision of inner attach why as "because" attach self as inner.value
}
"#;
    let loaded = sentrie_tests::compile(&[("t.sentrie", src)]).unwrap();
    let out = sentrie_tests::eval(&loaded, "t/p", "{}").unwrap();
    assert_eq!(
        out[0]["error"],
        json!("type error: cannot apply '+' to string and trinary")
    );
    assert_eq!(out[1]["attachments"], json!({"why": "because", "self": 3}));
}

#[test]
fn runaway_work_is_bounded() {
    // 5000 x 5000 iterations exceed the default fuel budget: a clear error, not a hang.
    let xs = format!("{{\"xs\": [{}]}}", vec!["0"; 5000].join(","));
    check_err(
        "count(map xs as a (count(filter xs as b (a == b))))",
        &xs,
        "evaluation budget exceeded",
    );
    check("count(map xs as a (a))", &xs, "TRUE", json!(5000));
}

/// A list holding the same list ten times, nine levels deep: 10^10 leaves in ~100 values.
const BOMB: &str =
    "reduce [1,2,3,4,5,6,7,8,9,10] from [0] as acc, x (map [1,2,3,4,5,6,7,8,9,10] as y (acc))";

#[test]
fn shared_value_bombs_fail_instead_of_exploding() {
    let phrase = "value is too large or too deeply nested";
    for expr in [
        BOMB.to_string(),
        format!("{{ let d = {BOMB} yield d == d }}"),
        format!("{{ let d = {BOMB} yield d in [1, d] }}"),
        format!("count(cast {BOMB} as string)"),
        format!("count(flatten_deep({BOMB}))"),
        format!("{{ let d = {BOMB} yield d is empty }} or [1, {BOMB}] == [1, {BOMB}]"),
    ] {
        check_err(&expr, "{}", phrase);
    }
    // The same construction at a small size works and is exact.
    check(
        "count(flatten_deep(reduce [1,2,3] from [0] as acc, x (map [1,2] as y (acc))))",
        "{}",
        "TRUE",
        json!(8),
    );
    // error() text is capped.
    check_err(&format!("error(\"%v\", {BOMB})"), "{}", "(truncated)");
}

#[test]
fn a_rule_that_exhausts_the_budget_leaves_the_others_alone() {
    let src = format!(
        "namespace t\npolicy p {{\n  let bomb = {BOMB}\n  let small = [1, 2]\n  rule a = small == [1, 2] and bomb == bomb\n  rule b = small == [1, 2]\n  rule c = count(bomb) == 10\n  export decision of a\n  export decision of b\n  export decision of c\n}}\n"
    );
    let loaded = sentrie_tests::compile(&[("t.sentrie", &src)]).unwrap();
    let out = sentrie_tests::eval(&loaded, "t/p", "{}").unwrap();
    assert!(out[0]["error"]
        .as_str()
        .unwrap()
        .contains("too deeply nested"));
    assert_eq!(
        (&out[1]["state"], &out[1]["value"]),
        (&json!("TRUE"), &json!(true))
    );
    // `c` reads the same shared value without walking it: fine.
    assert_eq!(out[2]["value"], json!(true));
}

#[test]
fn strings_cannot_grow_without_bound() {
    check_err(
        "reduce [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30] from \"abcd\" as acc, x (acc + acc)",
        "{}",
        "string too long",
    );
}

#[test]
fn values_nested_beyond_the_walk_limit_fail_instead_of_truncating() {
    let xs = format!("{{\"xs\": [{}]}}", vec!["0"; 600].join(","));
    let deep = "reduce xs from 0 as acc, x ([acc])";
    // Output, equality and text of a 600-deep list: errors, never a silently cut value.
    for expr in [
        deep.to_string(),
        format!("{{ let d = {deep} yield d == d }}"),
        format!("count(cast {deep} as string)"),
    ] {
        check_err(&expr, &xs, "too deeply nested");
    }
    // Building it and reading into it is fine.
    check(
        &format!("{{ let d = {deep} yield d[0][0][0] is defined }}"),
        &xs,
        "TRUE",
        json!(true),
    );
}

#[test]
fn many_list_constants_in_one_decision() {
    // More list constants than the per-decision cache keeps, each read twice.
    let lets: String = (0..40)
        .map(|i| format!("let l{i} = [{i}, \"x{i}\"] "))
        .collect();
    let sum: Vec<String> = (0..40).map(|i| format!("l{i}[0] + l{i}[0]")).collect();
    check(
        &format!("{{ {lets} yield {} }}", sum.join(" + ")),
        "{}",
        "TRUE",
        json!(1560),
    );
}

#[test]
fn long_walks_stop_at_the_deadline() {
    let src = format!("namespace t\npolicy p {{\n  rule r = {{ let d = {BOMB} yield d == d }}\n  export decision of r\n}}\n");
    let loaded = sentrie_tests::compile(&[("t.sentrie", &src)]).unwrap();
    let t = sentrie_vm::target::resolve(&loaded.program, "t/p/r").unwrap();
    let bump = bumpalo::Bump::new();
    let limits = sentrie_vm::Limits {
        deadline: Some(std::time::Instant::now()),
        ..sentrie_vm::Limits::default()
    };
    let out = sentrie_vm::evaluate(
        &loaded.program,
        t.policy,
        &t.rules,
        sentrie_vm::Value::Map(&[]),
        &bump,
        limits,
    );
    let err = out[0].result.as_ref().err().unwrap();
    assert!(matches!(err.kind, sentrie_vm::ErrorKind::Deadline), "{err}");
}

/// Straight code that charges no fuel (a long chain of `or`s: only forward jumps) still
/// looks at the clock, and `list_sort` spends the work budget per comparison.
#[test]
fn code_without_fuel_and_sorting_stop_at_their_limits() {
    // 20 lets (20 fuel units) of 900 `or`s each (expressions nest at most 1024 deep).
    let lets: String = (0..20)
        .map(|l| {
            let ors: Vec<String> = (0..900).map(|i| format!("x == {}", l * 900 + i)).collect();
            format!("let a{l} = {}\n", ors.join(" or "))
        })
        .collect();
    let all: Vec<String> = (0..20).map(|l| format!("a{l}")).collect();
    let src = format!(
        "namespace t\npolicy p {{\n  use {{ list_sort }} from @sentrie/collection\n  rule r = {{ {lets} yield {} }}\n  rule s = list_sort(xs)\n  export decision of r\n  export decision of s\n}}\n",
        all.join(" or ")
    );
    let loaded = sentrie_tests::compile(&[("t.sentrie", &src)]).unwrap();
    let run = |rule: &str, facts: &str, limits: sentrie_vm::Limits| {
        let t = sentrie_vm::target::resolve(&loaded.program, rule).unwrap();
        let bump = bumpalo::Bump::new();
        let facts = sentrie_vm::json::decode(facts.as_bytes(), &bump).unwrap();
        let out = sentrie_vm::evaluate(&loaded.program, t.policy, &t.rules, facts, &bump, limits);
        out[0].result.as_ref().err().map(|e| e.kind.clone())
    };
    let past = sentrie_vm::Limits {
        deadline: Some(std::time::Instant::now()),
        ..sentrie_vm::Limits::default()
    };
    let kind = run("t/p/r", r#"{"x": -1}"#, past);
    assert!(
        matches!(kind, Some(sentrie_vm::ErrorKind::Deadline)),
        "{kind:?}"
    );
    assert_eq!(
        run("t/p/r", r#"{"x": -1}"#, sentrie_vm::Limits::default()),
        None
    );
    let list: Vec<String> = (0..5_000)
        .map(|i| (i * 7_919 % 5_000).to_string())
        .collect();
    let facts = format!("{{\"xs\": [{}]}}", list.join(","));
    let small = sentrie_vm::Limits {
        work: 10_000,
        ..sentrie_vm::Limits::default()
    };
    let kind = run("t/p/s", &facts, small);
    assert!(
        kind.is_some_and(|k| k.to_string().contains("budget")),
        "sorting within a 10,000-visit budget"
    );
    assert_eq!(run("t/p/s", &facts, sentrie_vm::Limits::default()), None);
}

/// `\\w`, `\\d`, `\\s` and `\\b` in `matches` are Unicode-aware (LANGUAGE.md §14.8).
#[test]
fn regex_classes_are_unicode_aware() {
    check(r#""٣" matches "^\\d$""#, "{}", "TRUE", json!(true));
    check(r#""é" matches "^\\w$""#, "{}", "TRUE", json!(true));
    check(
        "s matches \"^\\\\s$\"",
        r#"{"s": "\u00a0"}"#,
        "TRUE",
        json!(true),
    );
    check(r#""né" matches "\\bné\\b""#, "{}", "TRUE", json!(true));
    check(r#""x" matches "^\\d$""#, "{}", "FALSE", json!(false));
}

#[test]
fn reference_edge_cases() {
    // `not r` reads the rule's state even when its value is undefined (§11.4).
    let src = "namespace t\npolicy p {\n  rule u = default true when false { yield 1 }\n  rule v = missing.x\n  rule r = [not u, u.state]\n  export decision of r\n}\n";
    let got = sentrie_tests::eval_rule(src, r#"{"missing": {}}"#);
    assert_eq!(got, Ok(("TRUE".to_string(), json!([false, true]))));
    let src = "namespace t\npolicy p {\n  rule u = when true { yield missing.x }\n  rule r = not u\n  export decision of r\n}\n";
    assert_eq!(
        sentrie_tests::eval_rule(src, r#"{"missing": {}}"#),
        Ok(("TRUE".to_string(), json!(true))),
        "an undefined value is a FALSE state, so `not` gives true"
    );
    // `error` needs a string message.
    check_err("error(5)", "{}", "the message must be a string");
    check_err(r#"error("x %v", 5)"#, "{}", "x 5");
    // `normalise_list`: undefined wins over too-deep nesting, in either order.
    check("normalise_list([[[1]], x])", "{}", "FALSE", Value::Null);
    check("normalise_list([x, [[1]]])", "{}", "FALSE", Value::Null);
    check_err("normalise_list([[[1]], 2])", "{}", "deeper than one level");
    check(
        "normalise_list([[1, 2], 3])",
        "{}",
        "TRUE",
        json!([1, 2, 3]),
    );
    // Lenient operands forgive an undefined receiver, not an undefined list index.
    check_err(
        "xs[missing] is defined",
        r#"{"xs": [1]}"#,
        "cannot access list index with undefined",
    );
    check("missing[0] is defined", "{}", "FALSE", json!(false));
}

#[test]
fn builtins_reject_arguments_of_the_wrong_type() {
    check_err(
        "base64.encode(5)",
        "{}",
        "base64.encode: expects a string, found number",
    );
    check_err(
        "base64.decode([1])",
        "{}",
        "base64.decode: expects a string, found list",
    );
    check_err(
        "crypto.hash(true)",
        "{}",
        "crypto.hash: expects a string, found trinary",
    );
    check_err(
        r#"crypto.verify("a", 1)"#,
        "{}",
        "crypto.verify: expects a string",
    );
    check(r#"base64.encode("hi")"#, "{}", "TRUE", json!("aGk="));
    check(
        r#"crypto.verify("a", crypto.hash("a"))"#,
        "{}",
        "TRUE",
        json!(true),
    );
}

#[test]
fn flatten_to_depth_zero_returns_the_list_unchanged() {
    check(
        "flatten([1, [2, [3]]], 0)",
        "{}",
        "TRUE",
        json!([1, [2, [3]]]),
    );
    check("count(flatten([1, missing], 0))", "{}", "TRUE", json!(2));
    check("count(flatten([1, missing], 1))", "{}", "FALSE", json!(0));
}

/// A fact that breaks a constraint is reported with the offending value (cut when long) and
/// the constraint with its arguments.
#[test]
fn constraint_failures_show_the_value_and_the_constraint() {
    let src = "namespace t\nshape U { role: string @one_of(\"admin\", \"dev\") }\npolicy p {\n  fact u: U\n  fact n: number @range(0, 10)\n  rule r = true\n  export decision of r\n}\n";
    let e = sentrie_tests::eval_rule(src, r#"{"u": {"role": "root"}, "n": 1}"#).unwrap_err();
    assert!(
        e.contains(
            r#"role: constraint failed: 'one_of': "root" does not satisfy @one_of("admin", "dev")"#
        ),
        "{e}"
    );
    assert!(e.contains("(shape U at t.sentrie:2:7)"), "{e}");
    let e = sentrie_tests::eval_rule(src, r#"{"u": {"role": "dev"}, "n": 11}"#).unwrap_err();
    assert!(e.contains("11 does not satisfy @range(0, 10)"), "{e}");
    let long = "x".repeat(500);
    let facts = format!(r#"{{"u": {{"role": "{long}"}}, "n": 1}}"#);
    let e = sentrie_tests::eval_rule(src, &facts).unwrap_err();
    assert!(
        e.contains("xxx...\" does not satisfy") || e.contains("xxx... does not satisfy"),
        "{e}"
    );
    assert!(e.len() < 300, "{e}");
}
