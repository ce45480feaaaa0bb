//! Tidy checks over the workspace sources:
//! - every `.rs` file opens with a `//!` paragraph that says what the module does (STYLE.md §6);
//! - no non-test source file grows past 800 lines, and no function past 150 lines (the
//!   dispatch loop, split by instruction family, is the one exception);
//! - the crate graph follows the pipeline (which crate may depend on which), and the VM links
//!   no JavaScript engine, parser or hash library, directly or through another crate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 8] = [
    "grammar", "vm", "modules", "artifact", "compiler", "server", "bench", "tests",
];

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 150;

/// Functions allowed past [`MAX_FN_LINES`]: `(file suffix, function name)`.
const LONG_FN_ALLOWED: [(&str, &str); 1] = [("vm/src/interp/dispatch.rs", "exec")];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn all_files() -> Vec<PathBuf> {
    let root = root();
    let mut files = Vec::new();
    for krate in CRATES {
        rust_files(&root.join(krate), &mut files);
    }
    assert!(files.len() > 20);
    files
}

/// Test code: integration tests, test modules in their own file, the tests crate.
fn is_test_file(path: &Path) -> bool {
    let rel = path.strip_prefix(root()).unwrap_or(path);
    let text = rel.to_string_lossy().replace('\\', "/");
    text.starts_with("tests/") || text.contains("/tests/") || text.ends_with("/tests.rs")
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let missing: Vec<String> = all_files()
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc: {missing:?}"
    );
}

#[test]
fn source_files_and_functions_stay_small() {
    let mut long_files = Vec::new();
    let mut long_fns = Vec::new();
    for f in all_files().iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(f).unwrap();
        let shown = f.strip_prefix(root()).unwrap().display().to_string();
        if text.lines().count() > MAX_FILE_LINES {
            long_files.push(shown.clone());
        }
        // Unit-test modules sit at the end of a file, after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (name, lines) in function_lengths(code) {
            let allowed = LONG_FN_ALLOWED
                .iter()
                .any(|(file, func)| shown.ends_with(file) && name == *func);
            if lines > MAX_FN_LINES && !allowed {
                long_fns.push(format!("{shown}: fn {name} ({lines} lines)"));
            }
        }
    }
    assert!(
        long_fns.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long_fns:#?}"
    );
    assert!(
        long_files.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long_files:?}"
    );
}

/// `(name, lines from `fn` to its closing brace)` for every function with a body.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find_fn(code, i) {
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body starts at the first `{` outside the signature's parentheses; a `;` first
        // means a declaration without a body.
        let mut j = at;
        let mut parens = 0i32;
        let mut body = None;
        while j < bytes.len() {
            match bytes[j] {
                b'(' | b'<' => parens += 1,
                b')' | b'>' if bytes.get(j.wrapping_sub(1)) != Some(&b'-') => parens -= 1,
                b'{' if parens <= 0 => {
                    body = Some(j);
                    break;
                }
                b';' if parens <= 0 => break,
                _ => {}
            }
            j += 1;
        }
        let Some(open) = body else {
            i = j.max(at + 3);
            continue;
        };
        let close = matching_brace(bytes, open);
        let lines = code[at..=close.min(code.len() - 1)].lines().count();
        out.push((name, lines));
        i = at + 3;
    }
    out
}

/// The next `fn NAME` keyword at or after `from` that is a whole word.
fn find_fn(code: &str, from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = code.get(i..)?.find("fn ") {
        let at = i + off;
        let before = code[..at].chars().last();
        let next = code[at + 3..].chars().next();
        let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if word_start && next.is_some_and(|c| c.is_alphabetic() || c == '_') {
            return Some(at);
        }
        i = at + 3;
    }
    None
}

/// The index of the `}` closing the `{` at `open`, skipping strings, chars and comments.
fn matching_brace(b: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"'))
                && b.get(i.wrapping_sub(1))
                    .is_none_or(|c| !c.is_ascii_alphanumeric()) =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) == Some(&b'"') {
                    let end: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    i += 2 + hashes;
                    while i < b.len() && !b[i..].starts_with(&end) {
                        i += 1;
                    }
                    i += end.len() - 1;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a) left alone.
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 2;
                } else if let Some(len) = std::str::from_utf8(&b[i + 1..(i + 6).min(b.len())])
                    .ok()
                    .or_else(|| std::str::from_utf8(&b[i + 1..(i + 5).min(b.len())]).ok())
                    .and_then(|s| s.chars().next())
                    .map(char::len_utf8)
                    .filter(|len| b.get(i + 1 + len) == Some(&b'\''))
                {
                    i += 1 + len;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

#[test]
fn the_function_measure_sees_braces_in_strings_and_chars() {
    let code = "fn a() {\n let s = \"}}\";\n let c = '}';\n let r = r#\"}\"#;\n}\nfn b<'x>(v: &'x str) -> usize {\n 1\n}\n";
    assert_eq!(
        function_lengths(code),
        vec![("a".to_string(), 5), ("b".to_string(), 3)]
    );
}

/// Workspace crates each crate may depend on (normal dependencies), by folder.
fn allowed_internal() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let rules: [(&str, &[&str]); 8] = [
        ("grammar", &[]),
        ("vm", &[]),
        ("modules", &["vm"]),
        ("artifact", &["vm", "modules"]),
        ("compiler", &["grammar", "vm", "modules", "artifact"]),
        (
            "server",
            &["grammar", "vm", "modules", "artifact", "compiler"],
        ),
        (
            "bench",
            &["grammar", "vm", "modules", "artifact", "compiler"],
        ),
        (
            "tests",
            &["grammar", "vm", "modules", "artifact", "compiler"],
        ),
    ];
    rules
        .into_iter()
        .map(|(k, v)| (k, v.iter().copied().collect()))
        .collect()
}

fn package_folder(name: &str) -> Option<&'static str> {
    CRATES.into_iter().find(|c| name == format!("sentrie-{c}"))
}

/// The normal dependencies of workspace package `pkg` on this platform, as `cargo tree`
/// resolves them: direct ones with `depth` 1, every one with `depth` `None`.
fn cargo_tree(pkg: &str, depth: Option<u32>) -> BTreeSet<String> {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args([
        "tree",
        "--offline",
        "-e",
        "normal",
        "--prefix",
        "none",
        "-f",
        "{p}",
    ])
    .args(["-p", pkg])
    .current_dir(root());
    if let Some(d) = depth {
        cmd.args(["--depth", &d.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn crates_depend_only_along_the_pipeline() {
    let allowed = allowed_internal();
    let mut wrong = Vec::new();
    for folder in CRATES {
        let pkg = format!("sentrie-{folder}");
        for d in cargo_tree(&pkg, Some(1)) {
            if let Some(dep) = package_folder(&d) {
                if !allowed[folder].contains(dep) {
                    wrong.push(format!("{pkg} -> {d}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the pipeline: {wrong:?}"
    );

    let forbidden = |name: &str| {
        name.starts_with("rquickjs")
            || name.starts_with("oxc")
            || name.starts_with("lalrpop")
            || name.starts_with("logos")
            || ["sha1", "sha2", "md-5", "hmac", "digest", "ring"].contains(&name)
    };
    let vm_deps = cargo_tree("sentrie-vm", None);
    assert!(
        vm_deps.contains("bumpalo"),
        "cargo tree output not understood: {vm_deps:?}"
    );
    let bad: Vec<&String> = vm_deps.iter().filter(|d| forbidden(d)).collect();
    assert!(bad.is_empty(), "sentrie-vm links {bad:?}");
    // The compiled-pack loader needs neither the parser nor the transpiler.
    let artifact_deps = cargo_tree("sentrie-artifact", None);
    let bad: Vec<&String> = artifact_deps
        .iter()
        .filter(|d| d.starts_with("oxc") || d.starts_with("lalrpop") || *d == "sentrie-grammar")
        .collect();
    assert!(bad.is_empty(), "sentrie-artifact links {bad:?}");
}
