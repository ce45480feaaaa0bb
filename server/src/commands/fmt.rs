//! `sentrie fmt [PATHS...] [--check] [--diff]`: rewrites `.sentrie` files in the canonical
//! layout of `sentrie_grammar::format`. A file that does not parse is reported and left alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sentrie_grammar::format::format_source;
use sentrie_grammar::{render_all, ErrorFormat, SourceMap};

use super::{error, out, EXIT_FAIL, EXIT_OK};

pub fn run(paths: &[PathBuf], check: bool, diff: bool, format: ErrorFormat) -> u8 {
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            collect(root, &mut files);
        } else if root.is_file() {
            files.push(root.clone());
        } else {
            error(&format!("{}: no such file or directory", root.display()));
            return EXIT_FAIL;
        }
    }
    files.sort();
    files.dedup();
    let (mut changed, mut unchanged, mut failed) = (0usize, 0usize, 0usize);
    for path in &files {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                error(&format!("{shown}: {e}"));
                failed += 1;
                continue;
            }
        };
        let formatted = match format_source(&text) {
            Ok(f) => f,
            Err(diags) => {
                let mut sources = SourceMap::new();
                sources.add(shown.clone(), Arc::from(text.as_str()));
                eprintln!("{}", render_all(&diags, &sources, format));
                failed += 1;
                continue;
            }
        };
        if formatted == text {
            unchanged += 1;
            continue;
        }
        changed += 1;
        if diff {
            let d = similar::TextDiff::from_lines(&text, &formatted);
            out(&d.unified_diff().header(&shown, &shown).to_string());
        } else if check {
            out(&format!("{shown}\n"));
        } else if let Err(e) = write_atomically(path, &formatted) {
            error(&format!("{shown}: {e}"));
            failed += 1;
        }
    }
    let verb = if check || diff {
        "would be reformatted"
    } else {
        "reformatted"
    };
    eprintln!("{changed} file(s) {verb}, {unchanged} already formatted");
    if failed > 0 {
        eprintln!("{failed} file(s) could not be formatted");
    }
    if failed > 0 || ((check || diff) && changed > 0) {
        EXIT_FAIL
    } else {
        EXIT_OK
    }
}

/// `.sentrie` files under `dir`; hidden directories are skipped and directory symlinks are
/// not followed (no loops).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if kind.is_dir() && !hidden {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "sentrie") && !kind.is_dir() {
            files.push(path);
        }
    }
}

/// Writes through a temporary file in the same directory, then renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.fmt-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
