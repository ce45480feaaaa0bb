//! Facts for `exec`/`validate`: `--fact-file` read first, `--facts` deep-merged over it
//! (objects merge recursively, anything else replaces).

use std::path::Path;

use serde_json::{Map, Value};

pub fn gather(facts: Option<&str>, fact_file: Option<&Path>) -> Result<Value, String> {
    let mut merged = Value::Object(Map::new());
    if let Some(path) = fact_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read fact file `{}`: {e}", path.display()))?;
        let v = parse_object(&text, &format!("fact file `{}`", path.display()))?;
        merge(&mut merged, v);
    }
    if let Some(text) = facts {
        let v = parse_object(text, "--facts")?;
        merge(&mut merged, v);
    }
    Ok(merged)
}

fn parse_object(text: &str, what: &str) -> Result<Value, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON in {what}: {e}"))?;
    if !v.is_object() {
        return Err(format!("facts must be a JSON object ({what})"));
    }
    Ok(v)
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, other) => *slot = other,
    }
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
        let v = gather(Some(r#"{"user":{"role":"admin"},"n":[2]}"#), Some(&file)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"user":{"role":"admin","status":"active"},"n":[2]})
        );
        assert!(gather(Some("[1]"), None)
            .unwrap_err()
            .contains("facts must be a JSON object"));
        assert!(gather(Some("{"), None)
            .unwrap_err()
            .contains("invalid JSON"));
    }
}
