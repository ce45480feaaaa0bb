//! Decision output: the JSON objects shared with the HTTP API, and the human table
//! (PACKS_AND_CLI.md §7.2).

use sentrie_vm::program::Program;
use sentrie_vm::{json, Outcome, Tri};
use serde::Serialize;

#[derive(Serialize)]
pub struct DecisionOut {
    pub policy: String,
    pub namespace: String,
    pub rule: String,
    pub decision: StateValue,
    pub attachments: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
pub struct StateValue {
    pub state: &'static str,
    pub value: serde_json::Value,
}

/// Converts outcomes; failures become UNKNOWN/null with no attachments and are returned
/// separately as `(ns/policy/rule, message)`.
pub fn decisions(
    p: &Program,
    outcomes: &[Outcome<'_>],
) -> (Vec<DecisionOut>, Vec<(String, String)>) {
    let mut out = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    for o in outcomes {
        let rule = &p.rules[o.rule];
        let pol = &p.policies[rule.policy];
        let (decision, attachments) = match &o.result {
            Ok(d) => {
                let atts = rule
                    .attachments
                    .iter()
                    .zip(d.attachments.iter())
                    .map(|((name, _), v)| (name.clone(), json::to_json(*v)))
                    .collect();
                (
                    StateValue {
                        state: d.state.as_str(),
                        value: json::to_json(d.value),
                    },
                    atts,
                )
            }
            Err(e) => {
                errors.push((
                    format!("{}/{}/{}", pol.namespace, pol.name, rule.name),
                    e.to_string(),
                ));
                (
                    StateValue {
                        state: Tri::Unknown.as_str(),
                        value: serde_json::Value::Null,
                    },
                    serde_json::Map::new(),
                )
            }
        };
        out.push(DecisionOut {
            policy: pol.name.clone(),
            namespace: pol.namespace.clone(),
            rule: rule.name.clone(),
            decision,
            attachments,
        });
    }
    (out, errors)
}

pub fn to_json(decisions: &[DecisionOut]) -> String {
    serde_json::to_string_pretty(decisions).unwrap_or_else(|_| "[]".to_string())
}

fn symbol(state: &str) -> &'static str {
    match state {
        "TRUE" => "✓ True",
        "FALSE" => "⨯ False",
        _ => "• Unknown",
    }
}

/// The human table. Expects decisions of one policy.
pub fn to_table(decisions: &[DecisionOut]) -> String {
    let mut out = String::new();
    if let Some(first) = decisions.first() {
        out.push_str(&format!(
            "Namespace: {}\nPolicy:    {}\n\n",
            first.namespace, first.policy
        ));
    }
    out.push_str("Rules:\n");
    for d in decisions {
        out.push_str(&format!("  ✓ {}: {}\n", d.rule, symbol(d.decision.state)));
    }
    out.push_str("\nValues:\n");
    for d in decisions {
        out.push_str(&format!("  ✓ {}: {}\n", d.rule, d.decision.value));
    }
    if decisions.iter().any(|d| !d.attachments.is_empty()) {
        out.push_str("\nAttachments:\n");
        for d in decisions.iter().filter(|d| !d.attachments.is_empty()) {
            out.push_str(&format!("  ✓ {}:\n", d.rule));
            for (k, v) in &d.attachments {
                out.push_str(&format!("     {k}: {v}\n"));
            }
        }
    }
    out
}
