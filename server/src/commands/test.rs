//! `sentrie test [PACK] [--run REGEX] [--format human|json|junit] [--coverage]`: runs the test
//! cases a pack carries. Any `*.test.json` file under the pack root holds an array of cases:
//! `name`, `target`, `facts`, and either `expect` (one object, or one per rule: `rule`,
//! `state`, and optionally `value` and `attachments`) or `expect_error: true` (optionally with
//! `error_contains`). Test files are never compiled, hashed or put in compiled packs.

use std::path::{Path, PathBuf};

use bumpalo::Bump;
use sentrie_vm::coverage::Coverage;
use sentrie_vm::{json, target, Limits, VerifiedProgram};
use serde_json::Value as Json;

use super::{error, load, out, EXIT_FAIL, EXIT_OK, EXIT_USAGE};
use crate::output::View;

/// Test report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
}

pub struct Args<'c> {
    pub pack: &'c Path,
    /// `--cases FILE`: run these case files instead of the pack's own `*.test.json`.
    pub cases: &'c [PathBuf],
    pub run: Option<&'c str>,
    pub format: Format,
    pub coverage: bool,
}

/// One case's outcome: what did not match (nothing when it passed).
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub failures: Vec<String>,
}

pub fn run(args: &Args<'_>, errors: sentrie_grammar::ErrorFormat) -> u8 {
    let filter = match args.run.map(regex::Regex::new).transpose() {
        Ok(f) => f,
        Err(e) => {
            error(&format!("--run: {e}"));
            return EXIT_USAGE;
        }
    };
    let Some(loaded) = load(args.pack, errors) else {
        return EXIT_FAIL;
    };
    super::print_warnings(&loaded, errors);
    let root = match sentrie_compiler::pack::locate(args.pack) {
        Ok(sentrie_compiler::pack::Location::Source { root, .. }) => root,
        Ok(sentrie_compiler::pack::Location::Compiled(p)) => p
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        Err(e) => {
            error(&e);
            return EXIT_FAIL;
        }
    };
    let mut results = Vec::new();
    let mut coverage = Coverage::new();
    let files = if args.cases.is_empty() {
        test_files(&root)
    } else {
        args.cases.to_vec()
    };
    for file in files {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let cases = match read_cases(&file) {
            Ok(c) => c,
            Err(e) => {
                results.push(CaseResult {
                    file: rel,
                    name: "<file>".into(),
                    failures: vec![e],
                });
                continue;
            }
        };
        for case in cases {
            let name = case["name"].as_str().unwrap_or("<unnamed>").to_string();
            if filter.as_ref().is_some_and(|f| !f.is_match(&name)) {
                continue;
            }
            let failures;
            (failures, coverage) = run_case(&loaded.program, &case, coverage, args.coverage);
            results.push(CaseResult {
                file: rel.clone(),
                name,
                failures,
            });
        }
    }
    let cov = args
        .coverage
        .then(|| super::test_report::coverage(&loaded.program, &coverage));
    out(&super::test_report::render(
        args.format,
        &results,
        cov.as_ref(),
    ));
    if results.iter().all(|r| r.failures.is_empty()) {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}

/// Every `*.test.json` under `root`, sorted; directories reached through symbolic links and
/// hidden directories are not entered.
fn test_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            match e.file_type() {
                Ok(t) if t.is_dir() && !name.starts_with('.') && name != "target" => {
                    stack.push(path);
                }
                Ok(t) if !t.is_dir() && name.ends_with(".test.json") => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

fn read_cases(file: &Path) -> Result<Vec<Json>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    match serde_json::from_str::<Json>(&text) {
        Ok(Json::Array(cases)) => Ok(cases),
        Ok(_) => Err("a test file holds a JSON array of cases".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Runs one case, adding to `coverage` when asked; returns what did not match.
fn run_case(
    p: &VerifiedProgram,
    case: &Json,
    coverage: Coverage,
    measure: bool,
) -> (Vec<String>, Coverage) {
    let wants_error = case["expect_error"] == Json::Bool(true);
    let contains = case["error_contains"].as_str();
    let error_matches =
        |msg: &str| contains.is_none_or(|c| msg.to_lowercase().contains(&c.to_lowercase()));
    let Some(target_text) = case["target"].as_str() else {
        return (vec!["the case has no `target`".into()], coverage);
    };
    let t = match target::resolve(p, target_text) {
        Ok(t) => t,
        Err(e) if wants_error && error_matches(&e) => return (Vec::new(), coverage),
        Err(e) => return (vec![format!("target: {e}")], coverage),
    };
    let bump = Bump::new();
    let facts_text = match case.get("facts") {
        None | Some(Json::Null) => "{}".to_string(),
        Some(f) => f.to_string(),
    };
    let facts = match json::decode(facts_text.as_bytes(), &bump) {
        Ok(v) => v,
        Err(e) => return (vec![format!("facts: {e}")], coverage),
    };
    let limits = Limits::default();
    let (outcomes, coverage) = if measure {
        sentrie_vm::evaluate_with(p, t.policy, &t.rules, facts, &bump, limits, coverage)
    } else {
        let o = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, limits);
        (o, coverage)
    };
    let views: Vec<View<'_, '_>> = outcomes.iter().map(|o| View::of(p, o)).collect();
    let errors: Vec<String> = views
        .iter()
        .filter_map(|v| v.error.map(|e| format!("{}: {e}", v.target())))
        .collect();
    if wants_error {
        let failures = if errors.iter().any(|e| error_matches(e)) {
            Vec::new()
        } else if errors.is_empty() {
            vec!["expected an error, but every rule decided".into()]
        } else {
            vec![format!(
                "expected an error containing {:?}, got: {}",
                contains.unwrap_or(""),
                errors.join("; ")
            )]
        };
        return (failures, coverage);
    }
    (compare(&views, &case["expect"]), coverage)
}

/// Differences between the expected decisions and the views (a failed rule is UNKNOWN with a
/// null value, as in every output).
fn compare(views: &[View<'_, '_>], expect: &Json) -> Vec<String> {
    let expected: Vec<&Json> = match expect {
        Json::Array(items) => items.iter().collect(),
        Json::Object(_) => vec![expect],
        _ => return vec!["the case has neither `expect` nor `expect_error: true`".into()],
    };
    let mut failures: Vec<String> = Vec::new();
    for e in expected {
        let view = match e["rule"].as_str() {
            Some(rule) => views.iter().find(|v| v.rule == rule),
            None if views.len() == 1 => views.first(),
            None => None,
        };
        let rule = e["rule"].as_str().unwrap_or("<the rule>");
        let Some(v) = view else {
            failures.push(format!("rule {rule}: not among the decisions"));
            continue;
        };
        let state = Json::from(v.state.as_str());
        let mut value = String::new();
        json::write_compact(&mut value, v.value);
        let value: Json = serde_json::from_str(&value).unwrap_or(Json::Null);
        let attachments: serde_json::Map<String, Json> = v
            .attachments
            .iter()
            .map(|(k, a)| (k.to_string(), json::to_json(*a)))
            .collect();
        let mut check = |field: &str, want: Option<&Json>, got: &Json| {
            if let Some(w) = want {
                if w != got {
                    failures.push(format!("rule {}: {field} expected {w}, got {got}", v.rule));
                }
            }
        };
        check("state", e.get("state"), &state);
        check("value", e.get("value"), &value);
        check(
            "attachments",
            e.get("attachments"),
            &Json::Object(attachments),
        );
    }
    failures
}
