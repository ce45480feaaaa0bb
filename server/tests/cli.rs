//! End-to-end tests of the `sentrie` binary: exit codes, stdout/stderr separation, init,
//! validate, exec output formats and fact handling (PACKS_AND_CLI.md §5, §7).

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
        .expect("run sentrie")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sentrie-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const AUTH: &str = r#"namespace com/example/auth
policy user {
  rule isAdmin = default false when user.role is defined { yield user.role == "admin" }
  rule isOwner = user.id == doc.owner
  rule gated = when false { yield 1 }
  export decision of isAdmin attach role as user.role
  export decision of isOwner
  export decision of gated
}
"#;

fn demo_pack(name: &str) -> PathBuf {
    let dir = tmpdir(name);
    let out = sentrie(&["init", "demo", "--directory", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    std::fs::write(dir.join("auth.sentrie"), AUTH).unwrap();
    dir
}

#[test]
fn init_writes_a_valid_manifest_and_refuses_bad_input() {
    let dir = demo_pack("init");
    let manifest = std::fs::read_to_string(dir.join("sentrie.pack.toml")).unwrap();
    assert_eq!(
        manifest,
        "[schema]\nversion = 1\n\n[pack]\nname = \"demo\"\nversion = \"0.0.1\"\n"
    );
    let again = sentrie(&["init", "demo", "--directory", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("directory is not empty"));
    let bad = sentrie(&[
        "init",
        "9lives",
        "--directory",
        tmpdir("bad").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("name needs to be a valid identity"));
}

#[test]
fn exec_json_matches_the_spec_example() {
    let dir = demo_pack("exec-json");
    let out = sentrie(&[
        "exec",
        "com/example/auth/user/isAdmin",
        "--pack-location",
        dir.to_str().unwrap(),
        "--facts",
        r#"{"user":{"role":"admin"}}"#,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = r#"[
  {
    "policy": "user",
    "namespace": "com/example/auth",
    "rule": "isAdmin",
    "decision": {
      "state": "TRUE",
      "value": true
    },
    "attachments": {
      "role": "admin"
    }
  }
]
"#;
    assert_eq!(stdout(&out), expected);
}

#[test]
fn exec_table_and_failures() {
    let dir = demo_pack("exec-table");
    let out = sentrie(&[
        "exec",
        "com/example/auth/user",
        "--pack-location",
        dir.to_str().unwrap(),
        "--facts",
        r#"{"user":{"role":"admin","id":"u1"},"doc":{"owner":"u2"}}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = "Namespace: com/example/auth\nPolicy:    user\n\nRules:\n  ✓ isAdmin: ✓ True\n  ✓ isOwner: ⨯ False\n  ✓ gated: • Unknown\n\nValues:\n  ✓ isAdmin: true\n  ✓ isOwner: false\n  ✓ gated: null\n\nAttachments:\n  ✓ isAdmin:\n     role: \"admin\"\n";
    assert_eq!(stdout(&out), expected);

    // A runtime error: decisions still printed, error on stderr, exit 1.
    let failing = sentrie(&[
        "exec",
        "com/example/auth/user/isOwner",
        "--pack-location",
        dir.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(stdout(&failing).contains("\"state\": \"UNKNOWN\""));
    assert!(stderr(&failing)
        .contains("Error: com/example/auth/user/isOwner: cannot access field 'id' of undefined"));

    let missing = sentrie(&[
        "exec",
        "com/example/auth/user/nope",
        "--pack-location",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout(&missing).is_empty());
    assert_eq!(
        stderr(&missing).trim(),
        "Error: rule not found: com/example/auth/user/nope"
    );
}

#[test]
fn facts_file_is_merged_and_bad_facts_fail() {
    let dir = demo_pack("facts");
    let file = dir.join("facts.json");
    std::fs::write(&file, r#"{"user":{"role":"user","status":"active"}}"#).unwrap();
    let out = sentrie(&[
        "exec",
        "com/example/auth/user/isAdmin",
        "--pack-location",
        dir.to_str().unwrap(),
        "--fact-file",
        file.to_str().unwrap(),
        "--facts",
        r#"{"user":{"role":"admin"}}"#,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"value\": true"));
    for bad in ["[1]", "{", "{\"n\": 1e400}"] {
        let out = sentrie(&[
            "exec",
            "com/example/auth/user",
            "--pack-location",
            dir.to_str().unwrap(),
            "--facts",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn usage_errors_exit_2_and_version_prints() {
    assert_eq!(sentrie(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(sentrie(&["exec"]).status.code(), Some(2));
    assert_eq!(
        sentrie(&["exec", "a/b", "--output", "xml"]).status.code(),
        Some(2)
    );
    assert_eq!(
        sentrie(&["validate", "--facts", "{}"]).status.code(),
        Some(2)
    );
    let v = sentrie(&["--version"]);
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(
        stdout(&v).trim(),
        format!("sentrie {}", env!("CARGO_PKG_VERSION"))
    );
}

fn write_pack(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = tmpdir(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sentrie.pack.toml"),
        "[schema]\nversion = 1\n\n[pack]\nname = \"t\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn validate(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["validate"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--pack-location", dir.to_str().unwrap()]);
    sentrie(&args)
}

#[test]
fn validate_reports_every_error_with_locations() {
    let dir = write_pack(
        "validate",
        &[
            (
                "a.sentrie",
                "namespace a\npolicy p {\n  rule r = 1 +\n  export decision of r\n}\n",
            ),
            (
                "sub/b.sentrie",
                "namespace b\npolicy q {\n  rule r = 1\n}\n",
            ),
        ],
    );
    let out = validate(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("a.sentrie:4:3"), "{err}");
    assert!(
        err.contains("sub/b.sentrie:2:8") && err.contains("does not export any rules"),
        "{err}"
    );
    let json = validate(&dir, &["--error-format", "json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stderr).expect("json diagnostics");
    assert_eq!(parsed.as_array().map(Vec::len), Some(2));
    assert_eq!(parsed[0]["line"], 4);
}

#[test]
fn validate_checks_targets_and_facts() {
    let dir = write_pack("validate-facts", &[("a.sentrie", "namespace a\npolicy p {\n  fact n: number @min(1)\n  rule r = n\n  export decision of r\n}\n")]);
    assert_eq!(validate(&dir, &[]).status.code(), Some(0));
    assert_eq!(validate(&dir, &["a/p"]).status.code(), Some(0));
    assert_eq!(validate(&dir, &["a/nope"]).status.code(), Some(1));
    assert_eq!(
        validate(&dir, &["a/p", "--facts", "{\"n\": 2}"])
            .status
            .code(),
        Some(0)
    );
    let bad = validate(&dir, &["a/p", "--facts", "{\"n\": 0}"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("invalid value for fact 'n': constraint failed: 'min'"));
}

#[test]
fn bad_packs_fail_cleanly() {
    let manifest_dir = tmpdir("bad-manifest");
    std::fs::create_dir_all(&manifest_dir).unwrap();
    std::fs::write(
        manifest_dir.join("sentrie.pack.toml"),
        "[schema]\nversion = 2\n[pack]\nname = \"x\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    let out = validate(&manifest_dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("sentrie.pack.toml")
            && stderr(&out).contains("schema validation failed")
    );

    let empty = write_pack("empty", &[]);
    assert_eq!(validate(&empty, &[]).status.code(), Some(1));

    let binary = write_pack("binary", &[("x.sentrie", "namespace x\n\u{0}\u{1}")]);
    std::fs::write(binary.join("y.sentrie"), [0xff, 0xfe, 0x00]).unwrap();
    let out = validate(&binary, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not valid UTF-8"));

    assert_eq!(
        validate(Path::new("/definitely/not/here"), &[])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn bench_reports_latency_and_throughput() {
    let dir = demo_pack("bench");
    let out = sentrie(&[
        "bench",
        "com/example/auth/user/isAdmin",
        "--pack-location",
        dir.to_str().unwrap(),
        "--facts",
        r#"{"user":{"role":"admin"}}"#,
        "--iterations",
        "200",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["iterations"], 200);
    for key in [
        "hot_ns_p50",
        "hot_ns_p99",
        "cold_ns_p50",
        "cold_ns_p99",
        "decisions_per_sec",
    ] {
        assert!(v[key].as_u64().is_some_and(|n| n > 0), "{key} in {v}");
    }
    assert!(v["hot_ns_p50"].as_u64() <= v["hot_ns_p99"].as_u64());
    // A target that fails at run time is reported instead of being timed.
    let failing = sentrie(&[
        "bench",
        "com/example/auth/user/isOwner",
        "--pack-location",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(stderr(&failing).contains("the target fails"));
}

#[test]
fn compile_writes_an_artifact_that_exec_and_validate_load() {
    let dir = demo_pack("compile");
    let out_file = dir
        .parent()
        .unwrap()
        .join(format!("sentrie-cli-{}-demo.spk", std::process::id()));
    let out = sentrie(&[
        "compile",
        dir.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let facts = r#"{"user":{"role":"admin","id":"u"},"doc":{"owner":"u"}}"#;
    let from_source = sentrie(&[
        "exec",
        "com/example/auth/user",
        "--pack-location",
        dir.to_str().unwrap(),
        "--facts",
        facts,
        "--output",
        "json",
    ]);
    let from_file = sentrie(&[
        "exec",
        "com/example/auth/user",
        "--pack-location",
        out_file.to_str().unwrap(),
        "--facts",
        facts,
        "--output",
        "json",
    ]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    assert_eq!(stdout(&from_source), stdout(&from_file));
    let v = sentrie(&["validate", "--pack-location", out_file.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0));
    assert!(stderr(&v).contains("compiled pack demo 0.0.1"));
    // Compiling a compiled pack, or a pack with errors, fails and writes nothing.
    let again = sentrie(&[
        "compile",
        out_file.to_str().unwrap(),
        "-o",
        "/tmp/never-written.spk",
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("input is already a compiled pack"));
    let broken = write_pack(
        "compile-broken",
        &[(
            "a.sentrie",
            "namespace a\npolicy p {\n  fact x: Missing\n  rule r = 1\n  export decision of r\n}\n",
        )],
    );
    let target = broken.join("out.spk");
    let failed = sentrie(&[
        "compile",
        "--pack-location",
        broken.to_str().unwrap(),
        "--out",
        target.to_str().unwrap(),
    ]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(!target.exists());
    // A damaged file is reported, never a crash.
    let mut bytes = std::fs::read(&out_file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&out_file, &bytes).unwrap();
    let damaged = sentrie(&[
        "exec",
        "com/example/auth/user",
        "--pack-location",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(damaged.status.code(), Some(1));
    assert!(stderr(&damaged).contains("corrupted compiled pack"));
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let dir = write_pack(
        "pipe",
        &[(
            "p.sentrie",
            "namespace t\npolicy p {\n  fact xs: list[number]\n  rule everything = xs\n  export decision of everything\n}\n",
        )],
    );
    let xs: Vec<String> = (0..60_000).map(|i| i.to_string()).collect();
    let facts = format!("{{\"xs\":[{}]}}", xs.join(","));
    let facts_file = dir.join("facts.json");
    std::fs::write(&facts_file, facts).unwrap();
    for format in ["json", "table"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sentrie"))
            .args(["exec", "t/p/everything", "--pack-location"])
            .arg(&dir)
            .arg("--fact-file")
            .arg(&facts_file)
            .args(["--output", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, then close the pipe while the output (far more than a pipe buffer)
        // is still being written.
        let mut first = [0u8; 16];
        let mut pipe = child.stdout.take().unwrap();
        std::io::Read::read_exact(&mut pipe, &mut first).unwrap();
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert_ne!(out.status.code(), Some(101), "{format}: {err}");
    }
}

#[test]
fn exec_explain_adds_traces_in_json_and_a_tree_in_the_table() {
    let dir = write_pack(
        "explain",
        &[(
            "p.sentrie",
            "namespace t\npolicy p {\n  fact user?: document\n  rule ok = default false when user.role == \"ops\" { yield true }\n  export decision of ok\n}\n",
        )],
    );
    let loc = dir.to_str().unwrap();
    let facts = r#"{"user": {"role": "dev"}}"#;
    let json = sentrie(&[
        "exec",
        "t/p/ok",
        "--pack-location",
        loc,
        "--facts",
        facts,
        "--output",
        "json",
        "--explain",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v[0]["trace"]["outcome"], "default");
    assert_eq!(v[0]["trace"]["when"]["value"], false);
    let table = sentrie(&[
        "exec",
        "t/p/ok",
        "--pack-location",
        loc,
        "--facts",
        facts,
        "--explain",
    ]);
    let text = stdout(&table);
    assert!(text.contains("Explanation:\n  rule t/p/ok (p.sentrie:4:8) = false\n    when false at p.sentrie:4:32 → default at p.sentrie:4:21\n"), "{text}");
    let plain = sentrie(&[
        "exec",
        "t/p/ok",
        "--pack-location",
        loc,
        "--facts",
        facts,
        "--output",
        "json",
    ]);
    assert!(!stdout(&plain).contains("trace"));
}

#[test]
fn warnings_suggest_and_strict_mode_refuses() {
    let policy = "namespace t\npolicy p {\n  fact user: document\n  let is_admin = user.role == \"admin\"\n  rule allow = is_admmin or user.role == \"owner\"\n  export decision of allow\n}\n";
    let dir = write_pack("strict", &[("p.sentrie", policy)]);
    let loc = dir.to_str().unwrap();
    // A warning with the suggestion; the exit status is unchanged.
    let v = sentrie(&[
        "validate",
        "--pack-location",
        loc,
        "--error-format",
        "plain",
    ]);
    assert_eq!(v.status.code(), Some(0));
    assert!(stderr(&v).contains("Warning: p.sentrie:5:16: `is_admmin` is not declared in this policy, so it reads an ad-hoc fact that any caller can set; did you mean `is_admin`?"), "{}", stderr(&v));
    // In JSON the severity is its own member.
    let j = sentrie(&["validate", "--pack-location", loc, "--error-format", "json"]);
    assert!(stderr(&j).contains("\"severity\": \"warning\""));
    // `--strict` (on any command) makes it a load error.
    for args in [
        vec!["validate", "--strict", "--pack-location", loc],
        vec![
            "exec",
            "t/p/allow",
            "--strict",
            "--pack-location",
            loc,
            "--facts",
            "{\"user\": {}}",
        ],
        vec!["--strict", "test", loc],
    ] {
        let o = sentrie(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).contains("did you mean `is_admin`?"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // Without it, exec evaluates (the misspelt name is an ad-hoc fact a caller can set).
    let e = sentrie(&[
        "exec",
        "t/p/allow",
        "--pack-location",
        loc,
        "--facts",
        "{\"user\": {}, \"is_admmin\": true}",
        "--output",
        "json",
    ]);
    assert_eq!(e.status.code(), Some(0));
    assert!(stdout(&e).contains("\"value\": true"));
    // `strict = true` in the manifest does the same.
    let manifest = std::fs::read_to_string(dir.join("sentrie.pack.toml")).unwrap();
    std::fs::write(
        dir.join("sentrie.pack.toml"),
        format!("strict = true\n{manifest}"),
    )
    .unwrap();
    let m = sentrie(&["validate", "--pack-location", loc]);
    assert_eq!(m.status.code(), Some(1));
}

/// A target that does not resolve names the nearest exported targets; run-time failures print
/// the spec's `Error: target: message` line with a snippet, or JSON with `--error-format json`.
#[test]
fn unresolved_targets_suggest_and_runtime_errors_have_snippets() {
    let dir = std::env::temp_dir().join(format!("sentrie-cli-rt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sentrie.pack.toml"),
        "[schema]\nversion = 1\n\n[pack]\nname = \"rt\"\nversion = \"0.0.1\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a.sentrie"),
        "namespace t\npolicy p {\n  fact n: number\n  rule allow = n > 1 and error(\"no %v\", n)\n  export decision of allow\n}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sentrie"))
            .args(args)
            .arg("--pack-location")
            .arg(&dir)
            .output()
            .unwrap()
    };
    let o = run(&["exec", "t/p/alow"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("Error: rule not found: t/p/alow"), "{err}");
    assert!(err.contains("did you mean t/p/allow"), "{err}");
    let o = run(&["exec", "t/p/allow", "--facts", r#"{"n": 4}"#]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("Error: t/p/allow: no 4 (at a.sentrie:4:"),
        "{err}"
    );
    assert!(
        err.contains(" 4 │   rule allow = n > 1 and error("),
        "{err}"
    );
    let o = run(&[
        "--error-format",
        "json",
        "exec",
        "t/p/allow",
        "--facts",
        r#"{"n": 4}"#,
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(v[0]["message"], "t/p/allow: no 4");
    assert_eq!(v[0]["line"], 4);
    assert_eq!(v[0]["severity"], "error");
    // The table does not show a failed rule with a check mark; JSON carries its error.
    let o = run(&["exec", "t/p/allow", "--facts", r#"{"n": 4}"#]);
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(table.contains("  ✗ allow: • Unknown (failed)\n"), "{table}");
    let o = run(&[
        "exec",
        "t/p/allow",
        "--facts",
        r#"{"n": 4}"#,
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("no 4 (at a.sentrie:4:"),
        "{v}"
    );
}

/// Every argument and flag of every command has a help line.
#[test]
fn every_flag_has_a_help_line() {
    let commands = [
        "init", "exec", "validate", "serve", "compile", "bench", "test", "fmt", "replay", "disasm",
    ];
    for c in commands {
        let o = Command::new(env!("CARGO_BIN_EXE_sentrie"))
            .args([c, "-h"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut in_list = false;
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().copied().enumerate() {
            if line.ends_with(':') && !line.starts_with(' ') {
                in_list = line == "Arguments:" || line == "Options:";
                continue;
            }
            let item = line.starts_with("  -")
                || line.starts_with("      --")
                || line.starts_with("  [")
                || line.starts_with("  <");
            if in_list && item {
                // On the same line, or (when clap puts help below) on the next, indented.
                let same_line = line
                    .trim()
                    .split("  ")
                    .filter(|s| !s.trim().is_empty())
                    .count()
                    >= 2;
                let next = lines.get(i + 1).copied().unwrap_or("");
                let below = next.starts_with("          ") && !next.trim().starts_with('-');
                let described = same_line || below;
                assert!(described, "`sentrie {c}`: no help for `{}`", line.trim());
            }
        }
    }
}
