//! `use` statements: builtin module resolution, aliases, unqualified calls, policy errors that
//! only disable their own policy, and the runtime errors of module calls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use sentrie_tests::{compile, eval};
use serde_json::json;

const PACK: &str = r#"
namespace m

policy broken {
  use { nope } from @sentrie/hash
  rule r = 1
  export decision of r
}

policy fine {
  use { sha256 } from @sentrie/hash
  use round, PI from @sentrie/js as math
  use { now } from "@sentrie/js" as js
  rule unqualified = sha256("a")
  rule constant = math.round(math.PI * 100)
  rule clock = js.now() == js.now()
  rule shadow = { let math = {"PI": 3} yield math.PI }
  export decision of unqualified
  export decision of constant
  export decision of clock
  export decision of shadow
}
"#;

#[test]
fn a_missing_export_disables_only_its_policy() {
    let loaded = compile(&[("m.sentrie", PACK)]).unwrap();
    assert_eq!(loaded.diagnostics.len(), 1);
    assert!(loaded.diagnostics[0]
        .message
        .contains("module @sentrie/hash missing export nope"));
    let broken = eval(&loaded, "m/broken", "{}").unwrap();
    assert!(broken[0]["error"]
        .as_str()
        .unwrap()
        .contains("missing export nope"));
    let fine = eval(&loaded, "m/fine", "{}").unwrap();
    let values: Vec<_> = fine.iter().map(|d| d["value"].clone()).collect();
    assert_eq!(
        values,
        vec![
            json!("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
            json!(314),
            json!(true),
            json!(3)
        ]
    );
}

#[test]
fn module_source_errors_are_policy_errors() {
    let cases = [
        (
            "use { x } from \"@npm/left-pad\" as pad",
            "unsupported module source",
        ),
        ("use { x } from @sentrie/nope", "not found"),
        ("use { x } from \"./missing.ts\"", "not found"),
        ("use { x } from \"../../outside.ts\"", "outside the pack"),
        ("use { x } from \"./my-mod.ts\"", "needs an alias"),
    ];
    for (stmt, phrase) in cases {
        let src = format!(
            "namespace m\npolicy p {{\n  {stmt}\n  rule r = 1\n  export decision of r\n}}\n"
        );
        let loaded = compile(&[("m.sentrie", &src)]).unwrap_or_else(|e| panic!("{stmt}: {e}"));
        let msgs: Vec<&str> = loaded
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert!(msgs.iter().any(|m| m.contains(phrase)), "{stmt}: {msgs:?}");
        let out = eval(&loaded, "m/p", "{}").unwrap();
        assert!(
            out[0]["error"].as_str().is_some(),
            "{stmt}: the policy must fail"
        );
    }
}

#[test]
fn ambiguous_unqualified_functions_are_policy_errors() {
    let src = "namespace m\npolicy p {\n  use { sha256 } from @sentrie/hash\n  use { sha256 } from @sentrie/crypto\n  rule r = sha256(\"x\")\n  export decision of r\n}\n";
    let loaded = compile(&[("m.sentrie", src)]).unwrap();
    assert!(loaded
        .diagnostics
        .iter()
        .any(|d| d.message.contains("ambiguous function")));
}

#[test]
fn alias_colliding_with_a_value_name_is_a_conflict() {
    let src = "namespace m\npolicy p {\n  use { sha256 } from @sentrie/hash\n  rule hash = 1\n  export decision of hash\n}\n";
    let err = compile(&[("m.sentrie", src)]).err().unwrap();
    assert!(err.contains("conflict"), "{err}");
}
