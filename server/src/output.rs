//! Decision output: the JSON objects shared with the HTTP API, and the human table
//! (PACKS_AND_CLI.md §7.2).

use sentrie_vm::VerifiedProgram;
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
    p: &VerifiedProgram,
    outcomes: &[Outcome<'_>],
) -> (Vec<DecisionOut>, Vec<(String, String)>) {
    let mut out = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    for o in outcomes {
        let rule = &p.rules()[o.rule];
        let pol = &p.policies()[rule.policy];
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

/// The HTTP response body `{"decisions":[...]}` (plus `"error"` when a rule failed), written
/// straight from the arena values: the same text `serde_json::to_string` gives for
/// [`decisions`] (attachment keys sorted), without building `serde_json::Value`s per request.
pub fn write_response(out: &mut String, p: &VerifiedProgram, outcomes: &[Outcome<'_>]) {
    let mut failures: Vec<String> = Vec::new();
    out.push_str("{\"decisions\":[");
    for (i, o) in outcomes.iter().enumerate() {
        let rule = &p.rules()[o.rule];
        let pol = &p.policies()[rule.policy];
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"policy\":");
        json::write_str(out, &pol.name);
        out.push_str(",\"namespace\":");
        json::write_str(out, &pol.namespace);
        out.push_str(",\"rule\":");
        json::write_str(out, &rule.name);
        out.push_str(",\"decision\":{\"state\":\"");
        match &o.result {
            Ok(d) => {
                out.push_str(d.state.as_str());
                out.push_str("\",\"value\":");
                json::write_compact(out, d.value);
                out.push_str("},\"attachments\":{");
                let mut atts: smallvec::SmallVec<[(&str, sentrie_vm::Value<'_>); 8]> = rule
                    .attachments
                    .iter()
                    .zip(d.attachments.iter())
                    .map(|((name, _), v)| (name.as_str(), *v))
                    .collect();
                atts.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (j, (name, v)) in atts.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    json::write_str(out, name);
                    out.push(':');
                    json::write_compact(out, *v);
                }
                out.push_str("}}");
            }
            Err(e) => {
                out.push_str(Tri::Unknown.as_str());
                out.push_str("\",\"value\":null},\"attachments\":{}}");
                failures.push(format!("{}/{}/{}: {e}", pol.namespace, pol.name, rule.name));
            }
        }
    }
    out.push(']');
    if !failures.is_empty() {
        out.push_str(",\"error\":");
        json::write_str(out, &failures.join("\n"));
    }
    out.push('}');
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The body the HTTP API documented before the direct writer: serde over `decisions`.
    fn via_serde(p: &VerifiedProgram, outcomes: &[Outcome<'_>]) -> String {
        #[derive(Serialize)]
        struct Response {
            decisions: Vec<DecisionOut>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
        }
        let (decisions, failures) = decisions(p, outcomes);
        let error = (!failures.is_empty()).then(|| {
            let text: Vec<String> = failures.iter().map(|(r, m)| format!("{r}: {m}")).collect();
            text.join("\n")
        });
        serde_json::to_string(&Response { decisions, error }).unwrap_or_default()
    }

    #[test]
    fn direct_response_writer_matches_serde() {
        let src = "namespace t/x\npolicy p {\n  rule a = {\"z\": [1, 2.5, null], \"a\": \"q\\\"\\n\"}\n  rule b = 1 / 0\n  rule c = default unknown when false 1\n  export decision of a attach zeta as [true] attach alpha as \"x\" attach mid as c\n  export decision of b\n  export decision of c attach only as 0\n}\n";
        let loaded = sentrie_compiler::compile_text(&[("t.sentrie", src)])
            .unwrap_or_else(|_| panic!("test policy must compile"));
        let t =
            sentrie_vm::target::resolve(&loaded.program, "t/x/p").unwrap_or_else(|e| panic!("{e}"));
        let bump = bumpalo::Bump::new();
        let outcomes = sentrie_vm::evaluate(
            &loaded.program,
            t.policy,
            &t.rules,
            sentrie_vm::Value::Map(&[]),
            &bump,
            sentrie_vm::Limits::default(),
        );
        let mut direct = String::new();
        write_response(&mut direct, &loaded.program, &outcomes);
        assert_eq!(direct, via_serde(&loaded.program, &outcomes));
        assert!(
            direct.contains("\"error\":\"t/x/p/b: divide by zero"),
            "{direct}"
        );
        // Without failures there is no error member.
        let ok = &outcomes[..1];
        let mut direct = String::new();
        write_response(&mut direct, &loaded.program, ok);
        assert_eq!(direct, via_serde(&loaded.program, ok));
        assert!(!direct.contains("\"error\""));
    }
}
