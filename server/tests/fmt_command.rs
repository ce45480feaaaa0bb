//! `sentrie fmt`: rewrites in place, `--check` lists what would change and exits 1, `--diff`
//! prints a unified diff; files that do not parse are reported and left alone; every pack of
//! the repository, once formatted, still passes its cases and is already formatted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sentrie(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tmp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sentrie-fmt-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a directory tree (symlinked files are copied as files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

const MESSY: &str = "namespace demo\npolicy p {\n  fact user:document\n  rule allow=default false {yield user.role==\"admin\"}\n  export decision of allow\n}\n";
const TIDY: &str = "namespace demo\n\npolicy p {\n  fact user: document\n  rule allow = default false {\n    yield user.role == \"admin\"\n  }\n  export decision of allow\n}\n";

#[test]
fn check_diff_and_in_place() {
    let dir = tmp("modes");
    let file = dir.join("a.sentrie");
    std::fs::write(&file, MESSY).unwrap();
    std::fs::write(dir.join("b.sentrie"), TIDY.replace("demo", "other")).unwrap();

    let check = sentrie(&[Path::new("fmt"), &dir, Path::new("--check")]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        format!("{}\n", file.display())
    );
    assert!(text(&check).contains("1 file(s) would be reformatted, 1 already formatted"));

    let diff = sentrie(&[Path::new("fmt"), &file, Path::new("--diff")]);
    assert_eq!(diff.status.code(), Some(1));
    let d = String::from_utf8_lossy(&diff.stdout).into_owned();
    assert!(d.contains("\n-  fact user:document\n"), "{d}");
    assert!(d.contains("\n+  fact user: document\n"), "{d}");
    assert!(d.starts_with("--- "), "{d}");
    // Neither mode changes the file.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), MESSY);

    let write = sentrie(&[Path::new("fmt"), &dir]);
    assert_eq!(write.status.code(), Some(0), "{}", text(&write));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), TIDY);
    let again = sentrie(&[Path::new("fmt"), &dir, Path::new("--check")]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(again.stdout.is_empty());
}

#[test]
fn a_file_that_does_not_parse_is_reported_and_left_alone() {
    let dir = tmp("broken");
    let file = dir.join("bad.sentrie");
    let src = "namespace demo\npolicy p {\n  rule r = a && b\n}\n";
    std::fs::write(&file, src).unwrap();
    let o = sentrie(&[Path::new("fmt"), &file]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad.sentrie:3:14"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), src);
    let missing = sentrie(&[Path::new("fmt"), &dir.join("nope.sentrie")]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn formatted_packs_pass_their_cases_and_stay_formatted() {
    let out = tmp("packs");
    let mut suites: Vec<(PathBuf, PathBuf)> = Vec::new();
    for name in ["rbac", "ai-gateway"] {
        let to = out.join(name);
        copy_tree(&repo().join("examples").join(name), &to);
        suites.push((to.clone(), to));
    }
    for e in std::fs::read_dir(repo().join("tests/cases"))
        .unwrap()
        .flatten()
    {
        let dir = e.path();
        if dir.join("cases.json").is_file() && dir.join("pack").is_dir() {
            let to = out.join(e.file_name());
            copy_tree(&dir, &to);
            suites.push((to.join("pack"), to.join("cases.json")));
        }
    }
    assert!(suites.len() > 10);
    for (pack, cases) in &suites {
        let f = sentrie(&[Path::new("fmt"), pack]);
        // Packs that hold deliberately broken files report them; the rest must format.
        let formatted = f.status.success() || text(&f).contains("could not be formatted");
        assert!(formatted, "{}: {}", pack.display(), text(&f));
        let run = if pack == cases {
            sentrie(&[Path::new("test"), pack])
        } else {
            sentrie(&[Path::new("test"), pack, Path::new("--cases"), cases])
        };
        assert!(run.status.success(), "{}: {}", pack.display(), text(&run));
        let check = sentrie(&[Path::new("fmt"), pack, Path::new("--check")]);
        assert!(
            check.stdout.is_empty(),
            "{}: {}",
            pack.display(),
            text(&check)
        );
    }
}

#[test]
fn the_example_packs_are_formatted() {
    let o = sentrie(&[
        Path::new("fmt"),
        &repo().join("examples"),
        Path::new("--check"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
