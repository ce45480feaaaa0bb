//! `sentrie test`: the example packs' suites pass; a changed rule fails exactly the cases
//! that depend on it; reports in human, JSON and JUnit form; coverage names what no case
//! reached; broken test files are reported, not fatal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sentrie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A copy of an example pack in a fresh temporary directory.
fn copy_example(name: &str, tag: &str) -> PathBuf {
    let from = repo().join("examples").join(name);
    let to = std::env::temp_dir().join(format!("sentrie-test-cmd-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

#[test]
fn the_example_suites_pass() {
    for (pack, n) in [("rbac", 5), ("ai-gateway", 9)] {
        let dir = repo().join("examples").join(pack);
        let o = sentrie(&["test", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        assert_eq!(stdout(&o), format!("{n} passed, 0 failed\n"));
    }
}

#[test]
fn a_changed_rule_fails_exactly_the_cases_that_depend_on_it() {
    let dir = copy_example("rbac", "changed");
    let src = std::fs::read_to_string(dir.join("rbac.sentrie")).unwrap();
    std::fs::write(
        dir.join("rbac.sentrie"),
        src.replace(
            "rule canDelete = isAdmin or (isOwner and not locked)",
            "rule canDelete = isAdmin and false",
        ),
    )
    .unwrap();
    let o = sentrie(&["test", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["passed"], 4);
    assert_eq!(report["failed"], 1);
    let failed: Vec<&serde_json::Value> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed[0]["name"], "admin-deletes-locked");
    assert_eq!(
        failed[0]["failures"][0],
        "rule canDelete: state expected \"TRUE\", got \"FALSE\""
    );
    // The human report shows the difference and ends with the counts.
    let human = stdout(&sentrie(&["test", dir.to_str().unwrap()]));
    assert!(
        human.starts_with(
            "FAIL admin-deletes-locked (rbac.test.json)\n  rule canDelete: state expected"
        ),
        "{human}"
    );
    assert!(human.ends_with("4 passed, 1 failed\n"));
    // JUnit for CI systems.
    let xml = stdout(&sentrie(&[
        "test",
        dir.to_str().unwrap(),
        "--format",
        "junit",
    ]));
    assert!(
        xml.contains("<testsuite name=\"rbac.test.json\" tests=\"5\" failures=\"1\">"),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"admin-deletes-locked\" classname=\"rbac.test.json\">"));
    // `--run` selects cases by name.
    let only = sentrie(&["test", dir.to_str().unwrap(), "--run", "^editor"]);
    assert_eq!(only.status.code(), Some(0));
    assert_eq!(stdout(&only), "1 passed, 0 failed\n");
}

#[test]
fn coverage_names_what_no_case_reached() {
    let dir = repo().join("examples/ai-gateway");
    let full = sentrie(&[
        "test",
        dir.to_str().unwrap(),
        "--coverage",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&full)).unwrap();
    let files = report["coverage"]["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["file"] == "gateway.sentrie"));
    // One case alone leaves branches unreached, each named with its location.
    let one = sentrie(&[
        "test",
        dir.to_str().unwrap(),
        "--coverage",
        "--run",
        "^allow$",
    ]);
    let text = stdout(&one);
    assert!(
        text.contains(
            "not reached: when false of aigw/team/overrides/model_access at team.sentrie:18:42"
        ),
        "{text}"
    );
    assert!(text.contains(
        "not reached: default of aigw/team/overrides/model_access at team.sentrie:18:31"
    ));
    assert!(text.contains(
        "not reached: condition true of aigw/gateway/request/action at gateway.sentrie:38:11"
    ));
    assert!(text.contains("coverage: "));
}

#[test]
fn broken_test_files_and_bad_flags_are_reported() {
    let dir = copy_example("rbac", "broken");
    std::fs::write(dir.join("bad.test.json"), "{ not json").unwrap();
    std::fs::write(dir.join("obj.test.json"), "{}").unwrap();
    let o = sentrie(&["test", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("FAIL <file> (bad.test.json)\n  not valid JSON"),
        "{text}"
    );
    assert!(text.contains("FAIL <file> (obj.test.json)\n  a test file holds a JSON array"));
    assert!(text.ends_with("5 passed, 2 failed\n"));
    let bad_regex = sentrie(&["test", dir.to_str().unwrap(), "--run", "("]);
    assert_eq!(bad_regex.status.code(), Some(2));
    // Test files are not part of the pack: the content hash ignores them.
    let hash = |d: &Path| {
        let v = sentrie(&["validate", "--pack-location", d.to_str().unwrap()]);
        String::from_utf8_lossy(&v.stderr).into_owned()
    };
    let with = hash(&dir);
    std::fs::remove_file(dir.join("bad.test.json")).unwrap();
    assert_eq!(hash(&dir), with);
}
