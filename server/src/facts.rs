//! Facts for `exec`/`validate`: `--fact-file` read first, `--facts` deep-merged over it
//! (objects merge recursively, anything else replaces). Each source is decoded straight into
//! the decision's arena, once.

use std::path::Path;

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use sentrie_vm::json;
use sentrie_vm::value::{map_get, Value};

pub fn gather<'a>(
    facts: Option<&str>,
    fact_file: Option<&Path>,
    bump: &'a Bump,
) -> Result<Value<'a>, String> {
    let mut merged = Value::Map(&[]);
    if let Some(path) = fact_file {
        let text = std::fs::read(path)
            .map_err(|e| format!("cannot read fact file `{}`: {e}", path.display()))?;
        let v = parse_object(&text, &format!("fact file `{}`", path.display()), bump)?;
        merged = merge(merged, v, bump);
    }
    if let Some(text) = facts {
        let v = parse_object(text.as_bytes(), "--facts", bump)?;
        merged = merge(merged, v, bump);
    }
    Ok(merged)
}

fn parse_object<'a>(text: &[u8], what: &str, bump: &'a Bump) -> Result<Value<'a>, String> {
    let v = json::decode(text, bump).map_err(|e| {
        let detail = e.strip_prefix("invalid JSON: ").unwrap_or(&e);
        format!("invalid JSON in {what}: {detail}")
    })?;
    if !matches!(v, Value::Map(_)) {
        return Err(format!("facts must be a JSON object ({what})"));
    }
    Ok(v)
}

/// `from` over `into`: maps merge key by key (recursively), anything else replaces. Depth is
/// bounded by the decoder's nesting limit.
fn merge<'a>(into: Value<'a>, from: Value<'a>, bump: &'a Bump) -> Value<'a> {
    let (Value::Map(a), Value::Map(b)) = (into, from) else {
        return from;
    };
    let mut out = BumpVec::with_capacity_in(a.len() + b.len(), bump);
    for (k, v) in a.iter().copied() {
        match map_get(b, k) {
            Some(over) => out.push((k, merge(v, over, bump))),
            None => out.push((k, v)),
        }
    }
    for (k, v) in b.iter().copied() {
        if map_get(a, k).is_none() {
            out.push((k, v));
        }
    }
    Value::Map(json::sort_entries(bump, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_merge_deeply_over_the_file() {
        let dir = std::env::temp_dir().join(format!("sentrie-facts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("facts.json");
        std::fs::write(&file, r#"{"user":{"role":"user","status":"active"},"n":1}"#).unwrap();
        let bump = Bump::new();
        let v = gather(
            Some(r#"{"user":{"role":"admin"},"n":[2]}"#),
            Some(&file),
            &bump,
        )
        .unwrap();
        assert_eq!(
            json::to_json(v),
            serde_json::json!({"user":{"role":"admin","status":"active"},"n":[2]})
        );
        assert!(gather(Some("[1]"), None, &bump)
            .unwrap_err()
            .contains("facts must be a JSON object"));
        assert!(gather(Some("{"), None, &bump)
            .unwrap_err()
            .contains("invalid JSON in --facts"));
    }
}
