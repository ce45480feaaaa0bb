//! The repository's own data-driven cases (`tests/cases/*/cases.json` against each case
//! directory's `pack`), run with `sentrie test --cases`, from sources and from compiled packs.
//! The shared conformance suite covers the same ground when it is present; this keeps the
//! repository's cases running from `cargo test` alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cases.json").is_file() && p.join("pack").exists())
        .collect();
    dirs.sort();
    dirs
}

fn run_cases(pack: &Path, cases: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .arg("test")
        .arg(pack)
        .arg("--cases")
        .arg(cases)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_case_directory_passes_from_sources_and_compiled() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 9, "{dirs:?}");
    let out_dir = std::env::temp_dir().join(format!("sentrie-cases-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for dir in dirs {
        let cases = dir.join("cases.json");
        let (ok, text) = run_cases(&dir.join("pack"), &cases);
        assert!(ok, "{}: {text}", dir.display());
        assert!(text.contains(" passed, 0 failed"), "{text}");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let spk = out_dir.join(format!("{name}.spk"));
        let compiled = Command::new(env!("CARGO_BIN_EXE_sentrie"))
            .arg("compile")
            .arg(dir.join("pack"))
            .arg("-o")
            .arg(&spk)
            .output()
            .unwrap();
        assert!(
            compiled.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&compiled.stderr)
        );
        let (ok, text) = run_cases(&spk, &cases);
        assert!(ok, "{name} compiled: {text}");
    }
}
