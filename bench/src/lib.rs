//! Benchmark fixtures shared by the criterion benches: generated packs of any size and the
//! bundled example packs with representative facts.

use std::fmt::Write;

/// A pack of `n_rules` rules spread over policies of 100 rules each, every rule exported,
/// mixing field access, comparisons, membership and a collection form.
pub fn generated_pack(n_rules: usize) -> Vec<(String, String)> {
    let per_policy = 100.min(n_rules.max(1));
    let mut files = Vec::new();
    let mut rule = 0;
    let mut policy = 0;
    while rule < n_rules {
        let mut src = String::new();
        let _ = writeln!(src, "namespace gen/p{policy}\n\npolicy p {{\n  fact user: document\n  fact req: document\n  let roles = [\"admin\", \"editor\", \"viewer\"]");
        let first = rule;
        for _ in 0..per_policy {
            if rule >= n_rules {
                break;
            }
            let _ = writeln!(
                src,
                "  rule r{rule} = default false when user.role in roles {{\n    let limit = {rule} % 50 + 10\n    yield req.size < limit and (user.tier == \"pro\" or any user.groups as g (g == \"g{}\"))\n  }}",
                rule % 7
            );
            rule += 1;
        }
        for r in first..rule {
            let _ = writeln!(src, "  export decision of r{r} attach limit as {r}");
        }
        src.push_str("}\n");
        files.push((format!("p{policy}.sentrie"), src));
        policy += 1;
    }
    files
}

/// Facts for the generated pack (about 200 bytes).
pub const GENERATED_FACTS: &str = r#"{"user":{"role":"editor","tier":"free","groups":["g1","g2","g3"]},"req":{"size":12,"path":"/v1/items"}}"#;

pub const RBAC: &str = include_str!("../../examples/rbac/rbac.sentrie");
pub const RBAC_FACTS: &str = r#"{"user":{"id":"u1","roles":["editor","viewer"]},"resource":{"owner":"u2","kind":"doc"},"action":"write"}"#;

/// About 1 KB of facts for the RBAC pack: the same decision inputs plus the request context a
/// gateway typically forwards whole (profile, session, resource metadata), most of which the
/// policy never reads.
pub const RBAC_FACTS_1K: &str = r#"{"user":{"id":"u1","roles":["editor","viewer"],"email":"dana.whitfield@example.com","display_name":"Dana Whitfield","tenant":"acme-eu-west","department":"Finance Operations","groups":["finance","quarter-close","eu-staff","reviewers"],"mfa":true,"session":{"id":"s-7f3a9c1e2b","issued_at":1732262400,"expires_at":1732266000,"ip":"203.0.113.42","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"}},"resource":{"owner":"u2","kind":"doc","id":"doc-4821","title":"Q3 close checklist and reconciliation notes","path":"/finance/2026/q3/close-checklist","created_at":"2026-09-30T08:12:44Z","updated_at":"2026-11-20T16:03:10Z","size_bytes":48213,"tags":["finance","q3","close","confidential"],"labels":{"retention":"7y","classification":"internal","region":"eu-west-1"}},"action":"write","request":{"id":"req-0b8e5d","method":"PUT","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}}"#;

pub const GATEWAY_FILES: [(&str, &str); 4] = [
    (
        "shapes.sentrie",
        include_str!("../../examples/ai-gateway/shapes.sentrie"),
    ),
    (
        "org.sentrie",
        include_str!("../../examples/ai-gateway/org.sentrie"),
    ),
    (
        "team.sentrie",
        include_str!("../../examples/ai-gateway/team.sentrie"),
    ),
    (
        "gateway.sentrie",
        include_str!("../../examples/ai-gateway/gateway.sentrie"),
    ),
];

/// About 1 KB of facts for the gateway request policy.
pub fn gateway_facts() -> String {
    let prompt = "Summarise the attached quarterly report for the leadership team, focusing on revenue, churn and the hiring plan. ".repeat(6);
    format!(
        r#"{{"caller":{{"id":"u-1842","role":"ml-engineer","team":"search-quality"}},"req":{{"model":"gpt-4o-mini","environment":"production","prompt":"{prompt}","estimated_cost":0.42}},"usage":{{"user_spent_today":3.5,"team_spent_today":118.0}}}}"#
    )
}

/// Borrows generated files as `(&str, &str)` pairs for `compile_text`.
pub fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

/// The grant of the "middle" of a generated grant list (tenant, action, resource).
fn grant(i: usize) -> (String, String, String) {
    (
        format!("t{}", i % 100),
        format!("a{}", i % 10),
        format!("r{i}"),
    )
}

/// A pack holding `n` grants in one constant list, checked with one collection form
/// (`grants/list/p/allow`).
pub fn grants_list_pack(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            let (t, a, r) = grant(i);
            format!("{{\"tenant\": \"{t}\", \"action\": \"{a}\", \"resource\": \"{r}\"}}")
        })
        .collect();
    format!(
        "namespace grants/list\n\npolicy p {{\n  fact subject: document\n  fact action: string\n  fact resource: string\n  let grants = [\n    {}\n  ]\n  rule allow = any grants as g (g.tenant == subject.tenant and g.action == action and g.resource == resource)\n  export decision of allow\n}}\n",
        items.join(",\n    ")
    )
}

/// A pack with `n` rules, each a conjunction of equalities against facts, and one `allow`
/// over all of them (`grants/rules/p/allow`).
pub fn grants_rules_pack(n: usize) -> String {
    let mut src = "namespace grants/rules\n\npolicy p {\n  fact subject: document\n  fact action: string\n  fact resource: string\n".to_string();
    for i in 0..n {
        let (t, a, r) = grant(i);
        let _ = writeln!(
            src,
            "  rule g{i} = subject.tenant == \"{t}\" and action == \"{a}\" and resource == \"{r}\""
        );
    }
    let names: Vec<String> = (0..n).map(|i| format!("g{i}")).collect();
    let _ = writeln!(
        src,
        "  rule allow = any [{}] as r (r)\n  export decision of allow\n}}",
        names.join(", ")
    );
    src
}

/// Facts asking for the grant in the middle of `n` grants (`present`) or for none.
pub fn grant_facts(n: usize, present: bool) -> String {
    let (t, a, r) = grant(n / 2);
    let r = if present { r } else { "r-none".to_string() };
    format!(r#"{{"subject":{{"id":"u1","tenant":"{t}"}},"action":"{a}","resource":"{r}"}}"#)
}
