//! Attachments that only load a fact, a constant, or a rule or let computed already are
//! computed without a frame of their own; explained evaluations still give each its frame. Both must agree on every decision,
//! attachment value and error, under every fuel budget (the frameless path charges a call
//! exactly as a frame does), with facts missing, null-free or of the wrong shape.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use bumpalo::Bump;
use sentrie_compiler::LoadOptions;
use sentrie_vm::{json, target, Limits, Outcomes};

const SRC: &str = r#"
namespace t
policy p {
  fact n?: number
  fact u?: document
  let picked = filter [1, 2, 3] as x (x > n)
  rule inner = n > 1 or count(picked) > 5
  rule unread = n + 1
  rule r = inner or n == 0
  rule outer = { yield r }
  export decision of r
    attach num as n
    attach label as "fixed"
    attach items as [1, "two", [3]]
    attach role as u.role
    attach ratio as n / u.d
    attach again as n
    attach verdict as inner
    attach chosen as picked
    attach later as unread
  export decision of outer
    attach head as n
    attach tail as r
}
"#;

/// Every requested decision: state, value and attachments, or the error.
fn lines(outcomes: &Outcomes<'_>) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(d) => {
                let atts: Vec<String> = d
                    .attachments
                    .iter()
                    .map(|a| json::to_json(*a).to_string())
                    .collect();
                format!(
                    "{} {} [{}]",
                    d.state.as_str(),
                    json::to_json(d.value),
                    atts.join(", ")
                )
            }
            Err(e) => format!("error {e}"),
        })
        .collect()
}

#[test]
fn frameless_attachments_agree_with_their_frames_under_every_budget() {
    let loaded = sentrie_tests::compile_one(SRC, LoadOptions::default());
    let p = &loaded.program;
    let t = target::resolve(p, "t/p").unwrap();
    let facts_cases = [
        r#"{"n": 2, "u": {"role": "admin", "d": 4}}"#,
        r#"{"n": 0, "u": {"d": 0}}"#,
        r#"{"u": {"role": "x", "d": 1}}"#,
        r#"{"n": 3, "u": {"role": 7, "d": "zero"}}"#,
        r#"{}"#,
    ];
    let mut frameless_seen = false;
    for facts in facts_cases {
        for fuel in (0..40).chain([10_000_000]) {
            let limits = Limits {
                fuel,
                ..Limits::default()
            };
            let bump = Bump::new();
            let value = json::decode(facts.as_bytes(), &bump).unwrap();
            let plain = sentrie_vm::evaluate(p, t.policy, &t.rules, value, &bump, limits);
            let (explained, _) =
                sentrie_vm::evaluate_explained(p, t.policy, &t.rules, value, &bump, limits);
            let (plain, explained) = (lines(&plain), lines(&explained));
            assert_eq!(plain, explained, "facts {facts}, fuel {fuel}");
            frameless_seen |= plain.iter().any(|l| l.contains("\"fixed\""));
        }
    }
    // The budgets above reach the attachments: some decisions completed with them.
    assert!(frameless_seen);
}
