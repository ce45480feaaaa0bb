//! Explaining evaluations (`--explain`): the trace of each requested rule, and outcomes equal
//! to plain evaluation's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use serde_json::{json, Value as Json};

const PACK: &str = "namespace t
policy p {
  fact user?: document
  let admins = [\"ann\", \"bob\"]
  rule is_admin = default false when user is defined {
    yield any admins as a (a == user.name)
  }
  rule guarded = default \"no\" when user.role == \"ops\" { yield \"yes\" }
  rule block = { let n = count(admins) yield n + 1 }
  rule failing = user.name + 1
  rule via = import decision of is_admin from t/q with user as user
  export decision of is_admin
  export decision of guarded
  export decision of block
  export decision of failing
  export decision of via
}

policy q {
  fact user: document
  rule is_admin = user.name == \"ann\"
  export decision of is_admin
}
";

fn explain(target: &str, facts: &str) -> Vec<(Json, Json)> {
    let loaded = sentrie_tests::compile(&[("t.sentrie", PACK)]).unwrap();
    let p = &loaded.program;
    let t = sentrie_vm::target::resolve(p, target).unwrap();
    let bump = bumpalo::Bump::new();
    let facts = sentrie_vm::json::decode(facts.as_bytes(), &bump).unwrap();
    let limits = sentrie_vm::Limits::default();
    let plain = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, limits);
    let (outcomes, traces) =
        sentrie_vm::evaluate_explained(p, t.policy, &t.rules, facts, &bump, limits);
    assert_eq!(outcomes.len(), traces.len());
    outcomes
        .iter()
        .zip(plain.iter())
        .zip(traces)
        .map(|((o, q), trace)| {
            let value = |o: &sentrie_vm::Outcome<'_>| match &o.result {
                Ok(d) => sentrie_vm::json::to_json(d.value),
                Err(e) => json!({"error": e.message()}),
            };
            assert_eq!(value(o), value(q), "explaining changes nothing");
            (value(o), trace)
        })
        .collect()
}

#[test]
fn a_false_when_shows_the_default_and_where() {
    let out = explain("t/p/guarded", r#"{"user": {"name": "ann", "role": "dev"}}"#);
    let (value, trace) = &out[0];
    assert_eq!(value, &json!("no"));
    assert_eq!(trace["kind"], "rule");
    assert_eq!(trace["name"], "t/p/guarded");
    assert_eq!(trace["location"], "t.sentrie:8:8");
    assert_eq!(trace["when"]["value"], false);
    assert_eq!(trace["when"]["holds"], false);
    assert_eq!(trace["outcome"], "default");
    assert_eq!(trace["default_location"], "t.sentrie:8:26");
    let body = explain("t/p/guarded", r#"{"user": {"name": "ann", "role": "ops"}}"#);
    assert_eq!(body[0].1["outcome"], "body");
    assert_eq!(body[0].1["when"]["holds"], true);
}

#[test]
fn lets_forms_imports_and_errors_are_traced() {
    let out = explain("t/p", r#"{"user": {"name": "bob"}}"#);
    let by_name = |n: &str| {
        out.iter()
            .find(|(_, t)| t["name"] == n)
            .map(|(_, t)| t.clone())
            .unwrap()
    };
    // `any` over two admins decided by the second; the policy let it read is a step.
    let admin = by_name("t/p/is_admin");
    let steps = admin["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["kind"] == "let"
        && s["name"] == "t/p.admins"
        && s["value"] == json!(["ann", "bob"])));
    let form = steps.iter().find(|s| s["kind"] == "any").unwrap();
    assert_eq!(form["elements"], 2);
    assert_eq!(form["decided_by"], 1);
    assert_eq!(admin["value"], true);
    // A block let.
    let block = by_name("t/p/block");
    assert!(block["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["kind"] == "let" && s["name"] == "n" && s["value"] == 2));
    // An import, with the imported rule's own evaluation.
    let via = by_name("t/p/via");
    let imported = via["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "import")
        .unwrap();
    assert_eq!(imported["name"], "t/q/is_admin");
    assert_eq!(imported["value"], false);
    // An error, with its location, in the trace and on the rule.
    let failing = out.iter().find(|(v, _)| v.get("error").is_some()).unwrap();
    let err = &failing.1;
    assert!(err["error"]["location"]
        .as_str()
        .unwrap()
        .starts_with("t.sentrie:10:"));
    assert!(err["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["kind"] == "error"));
}

#[test]
fn large_values_are_truncated() {
    let big: Vec<String> = (0..500).map(|i| format!("\"name-{i}\"")).collect();
    let facts = format!(r#"{{"user": {{"name": [{}]}}}}"#, big.join(","));
    let out = explain("t/p/is_admin", &facts);
    let when = &out[0].1["when"];
    assert_eq!(when["holds"], true);
    let steps = out[0].1["steps"].as_array().unwrap();
    let _ = steps;
    let shown = sentrie_vm::trace::shown(sentrie_vm::Value::Str(&"x".repeat(5000)));
    assert_eq!(shown["truncated"], true);
    assert_eq!(shown["bytes"], 5002);
}

/// Constant fact defaults are bound without running their function in plain evaluation
/// (explained evaluation still runs it): both give the same outcomes, a default that breaks
/// its type included, whether the fact is supplied or not.
#[test]
fn constant_fact_defaults_bind_as_their_function_would() {
    const DEFAULTS: &str = "namespace t
shape Lim { daily!: number @max(100) }
policy d {
  fact limits?: document default {\"daily\": 20, \"models\": [\"a\", \"b\"]}
  fact tag?: string default \"t1\"
  fact ok?: Lim default {\"daily\": 5}
  rule r = limits.daily + count(limits.models)
  rule t = tag
  rule o = ok.daily
  export decision of r
  export decision of t
  export decision of o
}
policy e {
  fact bad?: Lim default {\"daily\": 500}
  rule b = bad.daily
  export decision of b
}
";
    let loaded = sentrie_tests::compile(&[("t.sentrie", DEFAULTS)]).unwrap();
    let p = &loaded.program;
    let limits = sentrie_vm::Limits::default();
    for (target, facts, want) in [
        ("t/d", "{}", vec![json!(22), json!("t1"), json!(5)]),
        (
            "t/d",
            r#"{"limits": {"daily": 1, "models": []}, "tag": "x", "ok": {"daily": 7}}"#,
            vec![json!(1), json!("x"), json!(7)],
        ),
        ("t/e", r#"{"bad": {"daily": 50}}"#, vec![json!(50)]),
    ] {
        let t = sentrie_vm::target::resolve(p, target).unwrap();
        let bump = bumpalo::Bump::new();
        let facts = sentrie_vm::json::decode(facts.as_bytes(), &bump).unwrap();
        let plain = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, limits);
        let (explained, _) =
            sentrie_vm::evaluate_explained(p, t.policy, &t.rules, facts, &bump, limits);
        let values: Vec<Json> = plain
            .iter()
            .map(|o| sentrie_vm::json::to_json(o.result.as_ref().unwrap().value))
            .collect();
        assert_eq!(values, want, "{target} {facts:?}");
        let explained: Vec<Json> = explained
            .iter()
            .map(|o| sentrie_vm::json::to_json(o.result.as_ref().unwrap().value))
            .collect();
        assert_eq!(explained, want);
    }
    // A default that breaks its type: the same error both ways.
    let t = sentrie_vm::target::resolve(p, "t/e").unwrap();
    let bump = bumpalo::Bump::new();
    let facts = sentrie_vm::json::decode(b"{}", &bump).unwrap();
    let plain = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, limits);
    let (explained, _) =
        sentrie_vm::evaluate_explained(p, t.policy, &t.rules, facts, &bump, limits);
    let message = |o: &sentrie_vm::Outcome<'_>| o.result.as_ref().err().map(|e| e.message());
    assert!(
        message(&plain[0]).is_some_and(|m| m.contains("bad")),
        "{:?}",
        message(&plain[0])
    );
    assert_eq!(message(&plain[0]), message(&explained[0]));
}
