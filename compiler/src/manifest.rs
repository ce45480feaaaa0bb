//! `sentrie.pack.toml`: parsing and validation against schema version 1 (PACKS_AND_CLI.md §3).

use regex::Regex;
use toml::Value as Toml;

pub use sentrie_artifact::Manifest;

const TABLES: [&str; 6] = [
    "schema",
    "pack",
    "engine",
    "permissions",
    "decision_log",
    "metadata",
];

fn re(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

fn matches(p: &str, s: &str) -> bool {
    re(p).is_some_and(|r| r.is_match(s))
}

pub const NAME_PATTERN: &str = r"^([a-zA-Z][a-zA-Z0-9_-]*)(\.[a-zA-Z][a-zA-Z0-9_-]*)*$";
const SEMVER_PATTERN: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-((0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$";

/// True when `name` is a valid pack name (also used by `sentrie init`).
pub fn is_valid_name(name: &str) -> bool {
    matches(NAME_PATTERN, name)
}

/// Parses and validates manifest text. The error is the user-facing message.
pub fn parse(text: &str) -> Result<Manifest, String> {
    if text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    }) {
        return Err("pack file is empty".to_string());
    }
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("failed to parse pack file: {}", e.message()))?;
    let strict = match doc.get("strict") {
        None => false,
        Some(Toml::Boolean(b)) => *b,
        Some(_) => return Err("strict: must be true or false".to_string()),
    };
    for key in doc.keys().filter(|k| k.as_str() != "strict") {
        if !TABLES.contains(&key.as_str()) {
            return Err(format!(
                "unknown top-level table '[{key}]'. Allowed tables are: schema, pack, engine, permissions, decision_log, metadata"
            ));
        }
    }
    let mut problems: Vec<String> = Vec::new();
    let schema = doc.get("schema").and_then(Toml::as_table);
    let version = schema.and_then(|s| s.get("version"));
    match version {
        None => return Err("schema version is required".to_string()),
        Some(Toml::Integer(1)) => {}
        Some(other) => problems.push(format!("schema.version: must be 1, found {other:?}")),
    }
    if let Some(s) = schema {
        for k in s.keys().filter(|k| k.as_str() != "version") {
            problems.push(format!("schema.{k}: unknown key"));
        }
    }
    let (name, version) = pack_table(&doc, &mut problems)?;
    engine_table(&doc, &mut problems)?;
    let env = permissions_table(&doc, &mut problems);
    let decision_log_mask = decision_log_table(&doc, &mut problems);
    if !problems.is_empty() {
        return Err(format!(
            "schema validation failed\n  {}",
            problems.join("\n  ")
        ));
    }
    Ok(Manifest {
        name,
        version,
        env,
        decision_log_mask,
        strict,
    })
}

/// `[decision_log]` (a project extension): `mask`, JSON pointers (RFC 6901) of fact values
/// the server's decision log replaces before writing.
fn decision_log_table(doc: &toml::Table, problems: &mut Vec<String>) -> Vec<String> {
    let Some(t) = doc.get("decision_log") else {
        return Vec::new();
    };
    let Some(t) = t.as_table() else {
        problems.push("decision_log: must be a table".to_string());
        return Vec::new();
    };
    let mut mask = Vec::new();
    for (k, v) in t {
        if k != "mask" {
            problems.push(format!("decision_log.{k}: unknown key"));
            continue;
        }
        let items: Option<Vec<&str>> = v
            .as_array()
            .and_then(|a| a.iter().map(Toml::as_str).collect());
        match items {
            Some(items) => {
                for p in items {
                    if p.starts_with('/') {
                        mask.push(p.to_string());
                    } else {
                        problems.push(format!(
                            "decision_log.mask: `{p}` is not a JSON pointer (it must start with `/`)"
                        ));
                    }
                }
            }
            None => problems.push("decision_log.mask: must be an array of strings".to_string()),
        }
    }
    mask
}

/// `[pack]`: name and version (returned), other known keys checked.
fn pack_table(doc: &toml::Table, problems: &mut Vec<String>) -> Result<(String, String), String> {
    let Some(pack) = doc.get("pack").and_then(Toml::as_table) else {
        return Err("name is required".to_string());
    };
    let name = match pack.get("name") {
        Some(Toml::String(n)) => n.clone(),
        Some(_) => return Err("name must be a valid identity".to_string()),
        None => return Err("name is required".to_string()),
    };
    if !is_valid_name(&name) {
        return Err("name must be a valid identity".to_string());
    }
    let version = match pack.get("version") {
        Some(Toml::String(v)) => {
            if !matches(SEMVER_PATTERN, v) {
                problems.push(format!(
                    "pack.version: `{v}` is not a semantic version MAJOR.MINOR.PATCH"
                ));
            }
            v.clone()
        }
        Some(_) => {
            problems.push("pack.version: must be a string".to_string());
            String::new()
        }
        None => {
            problems.push("pack.version: is required".to_string());
            String::new()
        }
    };
    for (k, v) in pack {
        match k.as_str() {
            "name" | "version" => {}
            "description" | "license" => {
                if !v.is_str() {
                    problems.push(format!("pack.{k}: must be a string"));
                }
            }
            "repository" => match v.as_str() {
                Some(s) if s.is_empty() || matches(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", s) => {}
                _ => problems.push("pack.repository: must be empty or an absolute URI".to_string()),
            },
            "authors" => match v.as_table() {
                Some(t) => {
                    for (who, mail) in t {
                        let ok = !who.is_empty()
                            && mail
                                .as_str()
                                .is_some_and(|m| matches(r"^[^@\s]+@[^@\s]+$", m));
                        if !ok {
                            problems.push(format!("pack.authors.{who}: must be a non-empty name with an e-mail address"));
                        }
                    }
                }
                None => problems.push("pack.authors: must be a table".to_string()),
            },
            other => problems.push(format!("pack.{other}: unknown key")),
        }
    }
    Ok((name, version))
}

/// `[engine]`: `sentrie` is required when the table exists.
fn engine_table(doc: &toml::Table, problems: &mut Vec<String>) -> Result<(), String> {
    if let Some(engine) = doc.get("engine") {
        let ok = engine
            .as_table()
            .and_then(|t| t.get("sentrie"))
            .and_then(Toml::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if !ok {
            return Err("engine table exists but 'sentrie' field is required".to_string());
        }
        if let Some(t) = engine.as_table() {
            for k in t.keys().filter(|k| k.as_str() != "sentrie") {
                problems.push(format!("engine.{k}: unknown key"));
            }
        }
    }
    Ok(())
}

/// `[permissions]`: returns the environment variables modules may read.
fn permissions_table(doc: &toml::Table, problems: &mut Vec<String>) -> Vec<String> {
    let mut env = Vec::new();
    if let Some(perms) = doc.get("permissions") {
        match perms.as_table() {
            Some(t) => {
                for (k, v) in t {
                    let items = v
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_str()).collect::<Vec<_>>());
                    let Some(items) = items.filter(|i| i.iter().all(Option::is_some)) else {
                        problems.push(format!("permissions.{k}: must be an array of strings"));
                        continue;
                    };
                    let items: Vec<&str> = items.into_iter().flatten().collect();
                    let mut sorted = items.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    if sorted.len() != items.len() {
                        problems.push(format!("permissions.{k}: items must be unique"));
                    }
                    match k.as_str() {
                        "fs_read" => {}
                        "net" => {
                            for i in &items {
                                if !matches(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", i) {
                                    problems.push(format!("permissions.net: `{i}` is not a URI"));
                                }
                            }
                        }
                        "env" => {
                            for i in &items {
                                if matches(r"^[A-Z_][A-Z0-9_]*$", i) {
                                    env.push((*i).to_string());
                                } else {
                                    problems.push(format!(
                                        "permissions.env: `{i}` is not a valid variable name"
                                    ));
                                }
                            }
                        }
                        other => problems.push(format!("permissions.{other}: unknown key")),
                    }
                }
            }
            None => problems.push("permissions: must be a table".to_string()),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(text: &str, phrase: &str) {
        let err = parse(text).expect_err("manifest should be rejected");
        assert!(err.contains(phrase), "`{err}` should contain `{phrase}`");
    }

    #[test]
    fn accepts_minimal_and_full_manifests() {
        let m = parse(
            "[schema]\nversion = 1\n\n[pack]\nname = \"a.b-c\"\nversion = \"1.2.3-rc.1+x\"\n",
        )
        .unwrap();
        assert_eq!(m.name, "a.b-c");
        let full = r#"
[schema]
version = 1
[pack]
name = "org-policies"
version = "1.2.3"
description = "d"
license = "MIT"
repository = "https://example.com/x"
[pack.authors]
"John Doe" = "john@example.com"
[engine]
sentrie = ">=0.1.0"
[permissions]
fs_read = ["./data/**"]
net = ["https://api.example.com"]
env = ["AWS_REGION"]
[metadata]
team = "platform"
"#;
        assert_eq!(parse(full).unwrap().env, vec!["AWS_REGION".to_string()]);
        let masked = "[schema]\nversion = 1\n[pack]\nname = \"a\"\nversion = \"1.0.0\"\n[decision_log]\nmask = [\"/req/prompt\", \"/user/ssn\"]\n";
        assert_eq!(
            parse(masked).unwrap().decision_log_mask,
            vec!["/req/prompt".to_string(), "/user/ssn".to_string()]
        );
        check_err(
            &masked.replace("\"/user/ssn\"", "\"user\""),
            "`user` is not a JSON pointer",
        );
        check_err(
            &masked.replace("mask =", "other ="),
            "decision_log.other: unknown key",
        );
    }

    #[test]
    fn rejects_bad_manifests_with_the_spec_phrases() {
        check_err("", "pack file is empty");
        check_err("# only a comment\n", "pack file is empty");
        check_err("[schema", "failed to parse pack file");
        check_err(
            "[schema]\nversion=1\n[pack]\nname=\"a\"\nversion=\"1.0.0\"\n[extra]\n",
            "unknown top-level table '[extra]'",
        );
        check_err(
            "[pack]\nname=\"a\"\nversion=\"1.0.0\"\n",
            "schema version is required",
        );
        check_err(
            "[schema]\nversion=2\n[pack]\nname=\"a\"\nversion=\"1.0.0\"\n",
            "schema validation failed",
        );
        check_err(
            "[schema]\nversion=1\n[pack]\nversion=\"1.0.0\"\n",
            "name is required",
        );
        check_err(
            "[schema]\nversion=1\n[pack]\nname=\"1a\"\nversion=\"1.0.0\"\n",
            "name must be a valid identity",
        );
        check_err(
            "[schema]\nversion=1\n[pack]\nname=\"a\"\nversion=\"v1.0\"\n",
            "schema validation failed",
        );
        check_err(
            "[schema]\nversion=1\n[pack]\nname=\"a\"\nversion=\"1.0.0\"\n[engine]\n",
            "'sentrie' field is required",
        );
        check_err("schema_version = \"0.1.0\"\n", "unknown top-level table");
    }
}
