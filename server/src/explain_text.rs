//! The explanation of a decision (`--explain`) as an indented tree, for the table output.

use serde_json::Value as Json;

/// Appends `node` and its steps, two spaces per level from `level`.
pub fn tree(out: &mut String, node: &Json, level: usize) {
    let pad = "  ".repeat(level);
    out.push_str(&pad);
    out.push_str(&headline(node));
    out.push('\n');
    if let Some(when) = node.get("when") {
        let branch = node["outcome"].as_str().unwrap_or("body");
        out.push_str(&format!(
            "{pad}  when {} at {} → {branch}",
            when["value"],
            when["location"].as_str().unwrap_or("?")
        ));
        if let Some(at) = node["default_location"].as_str() {
            out.push_str(&format!(" at {at}"));
        }
        out.push('\n');
    }
    for step in node["steps"].as_array().into_iter().flatten() {
        tree(out, step, level + 1);
    }
    if let Some(n) = node.get("omitted_steps") {
        out.push_str(&format!("{pad}  … {n} more steps not shown\n"));
    }
    if let Some(e) = node.get("error").filter(|e| e.is_object()) {
        out.push_str(&format!(
            "{pad}  error: {} at {}\n",
            e["message"].as_str().unwrap_or("?"),
            e["location"].as_str().unwrap_or("?")
        ));
    }
}

/// One line for a node: what it is, where, and what it gave.
fn headline(node: &Json) -> String {
    let kind = node["kind"].as_str().unwrap_or("");
    let at = node["location"]
        .as_str()
        .map_or_else(String::new, |l| format!(" ({l})"));
    match kind {
        "module_call" => {
            let args: Vec<String> = node["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Json::to_string)
                .collect();
            let result = node
                .get("result")
                .map_or_else(|| format!("error: {}", node["error"]), Json::to_string);
            format!(
                "call {}.{}({}) = {result}",
                node["module"].as_str().unwrap_or("?"),
                node["function"].as_str().unwrap_or("?"),
                args.join(", ")
            )
        }
        "error" => format!("error: {}{at}", node["message"].as_str().unwrap_or("?")),
        "any" | "all" | "first" | "filter" | "map" | "distinct" | "reduce" => {
            if node.get("collection").is_some() {
                return format!("{kind} over an undefined collection{at}");
            }
            let decided = node
                .get("decided_by")
                .map_or_else(String::new, |i| format!(", decided by element {i}"));
            format!("{kind} over {} elements{decided}{at}", node["elements"])
        }
        "" if node.get("cached").is_some() => "(decided earlier in this decision)".to_string(),
        _ => {
            let value = node
                .get("value")
                .map_or_else(String::new, |v| format!(" = {v}"));
            format!("{kind} {}{at}{value}", node["name"].as_str().unwrap_or("?"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_steps_indented() {
        let t = serde_json::json!({
            "kind": "rule", "name": "t/p/r", "location": "p.sentrie:3:8", "value": false,
            "when": {"value": false, "location": "p.sentrie:3:30", "holds": false},
            "outcome": "default", "default_location": "p.sentrie:3:20",
            "steps": [
                {"kind": "let", "name": "t/p.xs", "value": [1, 2], "location": "p.sentrie:2:7"},
                {"kind": "any", "elements": 2, "decided_by": 1, "location": "p.sentrie:3:40"},
                {"kind": "module_call", "module": "@local/m.ts", "function": "f", "args": [1], "result": 2}
            ]
        });
        let mut out = String::new();
        tree(&mut out, &t, 1);
        assert_eq!(
            out,
            "  rule t/p/r (p.sentrie:3:8) = false\n    when false at p.sentrie:3:30 → default at p.sentrie:3:20\n    let t/p.xs (p.sentrie:2:7) = [1,2]\n    any over 2 elements, decided by element 1 (p.sentrie:3:40)\n    call @local/m.ts.f(1) = 2\n"
        );
    }
}
