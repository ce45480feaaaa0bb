//! Decision output, one encoder for every surface: [`View`] reads one outcome (names from
//! the program, values straight from the arena), and the JSON objects of the HTTP API, the
//! pretty JSON of `exec --output json` and the human table (PACKS_AND_CLI.md §7.2) are all
//! written from views. A failed rule is reported as UNKNOWN/null with no attachments, and
//! its error separately.

use sentrie_vm::{json, EvalError, Outcome, Tri, Value, VerifiedProgram};
use smallvec::SmallVec;

/// One requested rule's outcome, ready to be written.
pub struct View<'p, 'a> {
    pub namespace: &'p str,
    pub policy: &'p str,
    pub rule: &'p str,
    pub state: Tri,
    pub value: Value<'a>,
    /// Sorted by name.
    pub attachments: SmallVec<[(&'p str, Value<'a>); 8]>,
    pub error: Option<&'a EvalError>,
    /// The explanation (`--explain`), written as the decision's `trace` member.
    pub trace: Option<&'a serde_json::Value>,
}

impl<'p, 'a> View<'p, 'a> {
    pub fn of(p: &'p VerifiedProgram, o: &'a Outcome<'a>) -> View<'p, 'a> {
        let rule = &p.rules()[o.rule];
        let pol = &p.policies()[rule.policy];
        let (state, value, mut attachments, error) = match &o.result {
            Ok(d) => {
                let atts: SmallVec<[(&'p str, Value<'a>); 8]> = rule
                    .attachments
                    .iter()
                    .zip(d.attachments.iter())
                    .map(|((name, _), v)| (name.as_str(), *v))
                    .collect();
                (d.state, d.value, atts, None)
            }
            Err(e) => (Tri::Unknown, Value::Null, SmallVec::new(), Some(e)),
        };
        attachments.sort_unstable_by(|a, b| a.0.cmp(b.0));
        View {
            namespace: &pol.namespace,
            policy: &pol.name,
            rule: &rule.name,
            state,
            value,
            attachments,
            error,
            trace: None,
        }
    }

    /// The same view with its explanation.
    pub fn with_trace(mut self, trace: Option<&'a serde_json::Value>) -> View<'p, 'a> {
        self.trace = trace;
        self
    }

    /// `namespace/policy/rule`.
    pub fn target(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.policy, self.rule)
    }

    /// The decision object: `{"policy","namespace","rule","decision":{"state","value"},
    /// "attachments"}`, compact.
    pub fn write(&self, out: &mut String) {
        out.push_str("{\"policy\":");
        json::write_str(out, self.policy);
        out.push_str(",\"namespace\":");
        json::write_str(out, self.namespace);
        out.push_str(",\"rule\":");
        json::write_str(out, self.rule);
        out.push_str(",\"decision\":{\"state\":\"");
        out.push_str(self.state.as_str());
        out.push_str("\",\"value\":");
        json::write_compact(out, self.value);
        out.push_str("},\"attachments\":{");
        for (j, (name, v)) in self.attachments.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            json::write_str(out, name);
            out.push(':');
            json::write_compact(out, *v);
        }
        out.push('}');
        if let Some(t) = self.trace {
            out.push_str(",\"trace\":");
            out.push_str(&t.to_string());
        }
        out.push('}');
    }
}

/// The HTTP response body `{"decisions":[...]}` (plus `"error"` when a rule failed).
pub fn write_response(out: &mut String, p: &VerifiedProgram, outcomes: &[Outcome<'_>]) {
    write_explained(out, p, outcomes, &[]);
}

/// [`write_response`] with each decision's `trace` (`traces` in the order of `outcomes`; empty
/// when not explaining).
pub fn write_explained(
    out: &mut String,
    p: &VerifiedProgram,
    outcomes: &[Outcome<'_>],
    traces: &[serde_json::Value],
) {
    let mut failures: Vec<String> = Vec::new();
    out.push_str("{\"decisions\":[");
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let view = View::of(p, o).with_trace(traces.get(i));
        view.write(out);
        if let Some(e) = view.error {
            failures.push(format!("{}: {e}", view.target()));
        }
    }
    out.push(']');
    if !failures.is_empty() {
        out.push_str(",\"error\":");
        json::write_str(out, &failures.join("\n"));
    }
    out.push('}');
}

/// The decisions as a JSON array, indented for people (`exec --output json`). A rule that
/// failed also carries its `error` (its message and location).
pub fn to_pretty_json(views: &[View<'_, '_>]) -> String {
    let mut compact = String::from("[");
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            compact.push(',');
        }
        v.write(&mut compact);
        if let Some(e) = v.error {
            compact.pop();
            compact.push_str(",\"error\":");
            json::write_str(&mut compact, &e.to_string());
            compact.push('}');
        }
    }
    compact.push(']');
    indent(&compact)
}

/// Re-indents compact JSON text with two spaces per level; empty arrays and objects stay
/// `[]` and `{}`. Strings are copied untouched.
fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut level = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", level));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '[' | '{' => {
                out.push(c);
                if matches!(chars.peek(), Some(']' | '}')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    level += 1;
                    newline(&mut out, level);
                }
            }
            ']' | '}' => {
                level = level.saturating_sub(1);
                newline(&mut out, level);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, level);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

fn symbol(state: Tri) -> &'static str {
    match state {
        Tri::True => "✓ True",
        Tri::False => "⨯ False",
        Tri::Unknown => "• Unknown",
    }
}

fn compact(v: Value<'_>) -> String {
    let mut s = String::new();
    json::write_compact(&mut s, v);
    s
}

/// The human table. Expects decisions of one policy.
pub fn to_table(views: &[View<'_, '_>]) -> String {
    let mut out = String::new();
    if let Some(first) = views.first() {
        out.push_str(&format!(
            "Namespace: {}\nPolicy:    {}\n\n",
            first.namespace, first.policy
        ));
    }
    // A rule that failed is not shown with a check mark: it is marked `✗` and says so, its
    // error following on stderr. (The reference marks every line `✓`; issue #13 asked us not to.)
    let mark = |d: &View<'_, '_>| if d.error.is_some() { "✗" } else { "✓" };
    out.push_str("Rules:\n");
    for d in views {
        let failed = if d.error.is_some() { " (failed)" } else { "" };
        out.push_str(&format!(
            "  {} {}: {}{failed}\n",
            mark(d),
            d.rule,
            symbol(d.state)
        ));
    }
    out.push_str("\nValues:\n");
    for d in views {
        out.push_str(&format!("  {} {}: {}\n", mark(d), d.rule, compact(d.value)));
    }
    if views.iter().any(|d| !d.attachments.is_empty()) {
        out.push_str("\nAttachments:\n");
        for d in views.iter().filter(|d| !d.attachments.is_empty()) {
            out.push_str(&format!("  ✓ {}:\n", d.rule));
            for (k, v) in &d.attachments {
                out.push_str(&format!("     {k}: {}\n", compact(*v)));
            }
        }
    }
    if views.iter().any(|d| d.trace.is_some()) {
        out.push_str("\nExplanation:\n");
        for t in views.iter().filter_map(|d| d.trace) {
            crate::explain_text::tree(&mut out, t, 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes_of<'a>(
        loaded: &'a sentrie_compiler::Loaded,
        bump: &'a bumpalo::Bump,
    ) -> sentrie_vm::Outcomes<'a> {
        let t =
            sentrie_vm::target::resolve(&loaded.program, "t/x/p").unwrap_or_else(|e| panic!("{e}"));
        sentrie_vm::evaluate(
            &loaded.program,
            t.policy,
            &t.rules,
            Value::Map(&[]),
            bump,
            sentrie_vm::Limits::default(),
        )
    }

    const SRC: &str = "namespace t/x\npolicy p {\n  rule a = {\"z\": [1, 2.5, null], \"a\": \"q\\\"\\n{,}\"}\n  rule b = 1 / 0\n  rule c = default unknown when false 1\n  export decision of a attach zeta as [true] attach alpha as \"x\" attach mid as c\n  export decision of b\n  export decision of c attach only as {}\n}\n";

    #[test]
    fn every_surface_writes_the_same_decisions() {
        let loaded = sentrie_compiler::compile_text(&[("t.sentrie", SRC)])
            .unwrap_or_else(|_| panic!("test policy must compile"));
        let bump = bumpalo::Bump::new();
        let outcomes = outcomes_of(&loaded, &bump);
        let mut body = String::new();
        write_response(&mut body, &loaded.program, &outcomes);
        let http: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(
            http["error"], "t/x/p/b: divide by zero (at t.sentrie:4:12)",
            "{body}"
        );
        let views: Vec<View<'_, '_>> = outcomes
            .iter()
            .map(|o| View::of(&loaded.program, o))
            .collect();
        let pretty = to_pretty_json(&views);
        let mut exec: serde_json::Value = serde_json::from_str(&pretty).unwrap_or_default();
        // `exec` also gives the failed rule its own error; otherwise the same decisions.
        assert_eq!(
            exec[1]["error"], "divide by zero (at t.sentrie:4:12)",
            "{pretty}"
        );
        if let Some(m) = exec[1].as_object_mut() {
            m.remove("error");
        }
        assert_eq!(exec, http["decisions"], "{pretty}");
        // Attachments are sorted; a failed rule is UNKNOWN/null without attachments.
        let names: Vec<&String> = exec[0]["attachments"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(names, ["alpha", "mid", "zeta"]);
        assert_eq!(exec[0]["attachments"]["zeta"], serde_json::json!([true]));
        assert_eq!(
            exec[1]["decision"],
            serde_json::json!({"state": "UNKNOWN", "value": null})
        );
        assert_eq!(exec[1]["attachments"], serde_json::json!({}));
        // Two spaces per level, `": "` after keys, empty containers kept on one line, text in
        // strings untouched.
        assert!(pretty.contains("\n    \"decision\": {\n      \"state\": \"UNKNOWN\",\n      \"value\": null\n    },\n    \"attachments\": {},\n    \"error\": \"divide by zero"), "{pretty}");
        assert!(pretty.contains("\"a\": \"q\\\"\\n{,}\","), "{pretty}");
        let table = to_table(&views);
        assert!(table.contains("  ✗ b: • Unknown (failed)\n"), "{table}");
        assert!(table.contains("  ✓ c: • Unknown\n"), "{table}");
        assert!(table.contains("     alpha: \"x\"\n"), "{table}");
    }

    #[test]
    fn without_failures_there_is_no_error_member() {
        let loaded = sentrie_compiler::compile_text(&[("t.sentrie", SRC)])
            .unwrap_or_else(|_| panic!("test policy must compile"));
        let bump = bumpalo::Bump::new();
        let outcomes = outcomes_of(&loaded, &bump);
        let mut body = String::new();
        write_response(&mut body, &loaded.program, &outcomes[..1]);
        assert!(!body.contains("\"error\""), "{body}");
    }
}
