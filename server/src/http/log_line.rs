//! The lines of the decision log, one JSON object each, told apart by `type`:
//!
//! - `decision`: one per evaluated decision request: time (RFC 3339, milliseconds), decision
//!   id, request id, target, the pack (name, version, content hash, location), duration, the
//!   facts (in full, as a SHA-256, or not at all; masked pointers replaced and listed), then
//!   the response's own members (`decisions`, `error`).
//! - `dropped`: how many lines the queue dropped since the last such report (`drop` mode).
//! - `shadow`: a request on which the shadow pack decided differently, with both outcomes.

use std::time::Duration;

use sentrie_vm::{json, Value};

use super::audit::FactsMode;
use super::state::PackState;

/// What replaces a masked fact value.
pub const MASKED: &str = "[masked]";

/// The parts of a `decision` line that do not come from the response body.
pub struct DecisionLine<'r, 'a> {
    pub decision_id: &'r str,
    pub request_id: &'r str,
    pub target: &'r str,
    pub pack: &'r PackState,
    pub duration: Duration,
    pub facts: Value<'a>,
    /// Size of the request body: bounds the facts text.
    pub request_len: usize,
}

impl DecisionLine<'_, '_> {
    /// The line: these members, then the members of `body` (a JSON object text).
    pub fn build(&self, mode: FactsMode, masks: &[String], body: &str) -> String {
        let mut line = String::with_capacity(body.len() + self.request_len + 320);
        line.push_str("{\"type\":\"decision\",\"time\":\"");
        crate::clock::push_rfc3339_now(&mut line);
        line.push_str("\",\"decision_id\":");
        json::write_str(&mut line, self.decision_id);
        line.push_str(",\"request_id\":");
        json::write_str(&mut line, self.request_id);
        line.push_str(",\"target\":");
        json::write_str(&mut line, self.target);
        line.push_str(",\"pack\":");
        push_pack(&mut line, self.pack);
        line.push_str(",\"duration_us\":");
        line.push_str(&self.duration.as_micros().to_string());
        push_facts(&mut line, mode, masks, self.facts);
        let members = body.trim_start().strip_prefix('{').unwrap_or(body);
        if !members.trim_start().starts_with('}') {
            line.push(',');
        }
        line.push_str(members);
        line
    }
}

/// `{"name":…,"version":…,"hash":…,"location":…}`.
pub fn push_pack(out: &mut String, pack: &PackState) {
    out.push_str("{\"name\":");
    json::write_str(out, &pack.name);
    out.push_str(",\"version\":");
    json::write_str(out, &pack.version);
    out.push_str(",\"hash\":");
    json::write_str(out, &pack.hash);
    out.push_str(",\"location\":");
    json::write_str(out, &pack.location);
    out.push('}');
}

fn push_facts(line: &mut String, mode: FactsMode, masks: &[String], facts: Value<'_>) {
    if mode == FactsMode::None {
        return;
    }
    let mut masked_at: Vec<&str> = Vec::new();
    let mut text = String::with_capacity(1024);
    if masks.is_empty() {
        json::write_compact(&mut text, facts);
    } else {
        // Masks are rare and per deployment: the slower generic path is fine.
        let mut doc = json::to_json(facts);
        for p in masks {
            if let Some(v) = doc.pointer_mut(p) {
                *v = serde_json::Value::String(MASKED.to_string());
                masked_at.push(p);
            }
        }
        text = doc.to_string();
    }
    match mode {
        FactsMode::Full => {
            line.push_str(",\"facts\":");
            line.push_str(&text);
        }
        FactsMode::Hash => {
            // The hash of the (masked) facts text: compact, keys sorted.
            line.push_str(",\"facts_sha256\":\"");
            line.push_str(&sentrie_artifact::sha256_hex(text.as_bytes()));
            line.push('"');
        }
        FactsMode::None => {}
    }
    if !masked_at.is_empty() {
        line.push_str(",\"masked\":[");
        for (i, p) in masked_at.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            json::write_str(line, p);
        }
        line.push(']');
    }
}

/// A `dropped` line: `count` lines were lost since the last report.
pub fn dropped(count: u64) -> String {
    let mut line = String::from("{\"type\":\"dropped\",\"time\":\"");
    crate::clock::push_rfc3339_now(&mut line);
    line.push_str("\",\"count\":");
    line.push_str(&count.to_string());
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> PackState {
        PackState {
            program: sentrie_compiler::compile_text(&[(
                "t.sentrie",
                "namespace t\npolicy p {\n  rule r = 1\n  export decision of r\n}\n",
            )])
            .map(|l| l.program)
            .unwrap_or_else(|_| panic!("the test pack compiles")),
            name: "n".into(),
            version: "1.0.0".into(),
            hash: "abc".into(),
            location: "/packs/n".into(),
            mask: Vec::new(),
            namespaces: vec!["t".into()],
            activated: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn decision_lines_carry_every_member_and_mask_facts() {
        let bump = bumpalo::Bump::new();
        let facts =
            json::decode(br#"{"req":{"prompt":"secret","n":1}}"#, &bump).unwrap_or(Value::Null);
        let pack = pack();
        let d = DecisionLine {
            decision_id: "id-1",
            request_id: "rq",
            target: "t/p",
            pack: &pack,
            duration: Duration::from_micros(42),
            facts,
            request_len: 64,
        };
        let body = r#"{"decisions":[]}"#;
        let masks = vec!["/req/prompt".to_string(), "/absent".to_string()];
        let line: serde_json::Value =
            serde_json::from_str(&d.build(FactsMode::Full, &masks, body)).unwrap_or_default();
        assert_eq!(line["type"], "decision");
        assert_eq!(line["decision_id"], "id-1");
        assert_eq!(line["request_id"], "rq");
        assert_eq!(line["pack"]["location"], "/packs/n");
        assert_eq!(line["duration_us"], 42);
        assert_eq!(line["facts"]["req"]["prompt"], MASKED);
        assert_eq!(line["facts"]["req"]["n"], 1);
        assert_eq!(line["masked"], serde_json::json!(["/req/prompt"]));
        assert_eq!(line["decisions"], serde_json::json!([]));
        assert_eq!(line["time"].as_str().map(str::len), Some(24));
        let hashed: serde_json::Value =
            serde_json::from_str(&d.build(FactsMode::Hash, &masks, body)).unwrap_or_default();
        assert!(hashed.get("facts").is_none());
        assert_eq!(hashed["facts_sha256"].as_str().map(str::len), Some(64));
        let none: serde_json::Value =
            serde_json::from_str(&d.build(FactsMode::None, &[], body)).unwrap_or_default();
        assert!(none.get("facts").is_none() && none.get("facts_sha256").is_none());
    }
}
