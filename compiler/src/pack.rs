//! Locating a pack (PACKS_AND_CLI.md §2) and reading its sources (§4 steps 1–3).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sentrie_grammar::{ast, parse_files, Diagnostic, FileId, SourceMap};

use crate::manifest::{self, Manifest};

pub const MANIFEST: &str = "sentrie.pack.toml";
/// Largest source file read (a larger one is reported, not loaded).
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// A pack read from disk: manifest, sources and parsed files (diagnostics separately).
#[derive(Debug)]
pub struct SourcePack {
    pub root: PathBuf,
    pub manifest: Manifest,
    /// The manifest file's text (`None` for an implicit manifest); part of the content hash.
    pub manifest_text: Option<String>,
    pub sources: SourceMap,
    pub files: Vec<(sentrie_grammar::FileId, ast::File)>,
}

/// Where a pack location points.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// A pack root with its manifest path (`None`: implicit manifest).
    Source {
        root: PathBuf,
        manifest: Option<PathBuf>,
    },
    /// A compiled pack file (`SNTRPACK` magic).
    Compiled(PathBuf),
}

/// Resolves `--pack-location` to a pack root or a compiled file.
pub fn locate(path: &Path) -> Result<Location, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read pack location `{}`: {e}", path.display()))?;
    if meta.is_file() {
        if is_compiled(path) {
            return Ok(Location::Compiled(path.to_path_buf()));
        }
        if path.file_name().is_some_and(|n| n == MANIFEST) {
            let root = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            return Ok(Location::Source {
                root,
                manifest: Some(path.to_path_buf()),
            });
        }
    }
    let abs = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot read pack location `{}`: {e}", path.display()))?;
    let start = if meta.is_file() {
        abs.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| abs.clone())
    } else {
        abs
    };
    if start.parent().is_none() {
        return Err("cannot search from filesystem root".to_string());
    }
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if d.parent().is_none() {
            break;
        }
        let candidate = d.join(MANIFEST);
        if candidate.is_file() {
            return Ok(Location::Source {
                root: d.to_path_buf(),
                manifest: Some(candidate),
            });
        }
        dir = d.parent();
    }
    Ok(Location::Source {
        root: start,
        manifest: None,
    })
}

fn is_compiled(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
        && &buf == b"SNTRPACK"
}

fn implicit_manifest(root: &Path) -> Manifest {
    let dir = root.file_name().and_then(|n| n.to_str()).unwrap_or("pack");
    let name = if manifest::is_valid_name(dir) {
        dir.to_string()
    } else {
        "pack".to_string()
    };
    Manifest {
        name,
        version: "0.0.0".to_string(),
        ..Manifest::default()
    }
}

/// Every `*.sentrie` file under `root`, in byte-wise lexical order of their paths.
fn discover(root: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::file(
                format!("cannot read directory: {e}"),
                root.display().to_string(),
            ));
            return;
        }
    };
    let mut names: Vec<(Vec<u8>, PathBuf, bool)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        let is_dir = ft.is_dir();
        let is_file = ft.is_file() || (ft.is_symlink() && path.is_file());
        if is_dir || (is_file && path.extension().is_some_and(|e| e == "sentrie")) {
            names.push((entry.file_name().as_encoded_bytes().to_vec(), path, is_dir));
        }
    }
    names.sort();
    for (_, path, is_dir) in names {
        if is_dir {
            discover(&path, out, diags);
        } else {
            out.push(path);
        }
    }
}

/// Reads and parses a source pack. Returns the pack (when the manifest was usable) and every
/// diagnostic found so far; the caller stops on any diagnostic.
pub fn read(root: &Path, manifest_path: Option<&Path>) -> (Option<SourcePack>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut manifest_text = None;
    let manifest = match manifest_path {
        Some(p) => match std::fs::read(p) {
            Ok(bytes) => match std::str::from_utf8(&bytes)
                .map_err(|_| "pack file is not valid UTF-8".to_string())
                .and_then(|text| {
                    manifest_text = Some(text.to_string());
                    manifest::parse(text)
                }) {
                Ok(m) => m,
                Err(msg) => {
                    diags.push(Diagnostic::file(msg, p.display().to_string()));
                    return (None, diags);
                }
            },
            Err(e) => {
                diags.push(Diagnostic::file(
                    format!("cannot read pack file: {e}"),
                    p.display().to_string(),
                ));
                return (None, diags);
            }
        },
        None => implicit_manifest(root),
    };
    let mut paths = Vec::new();
    discover(root, &mut paths, &mut diags);
    let mut sources = SourceMap::new();
    // Files read, in order: their text to parse, or why they could not be read. Parsing
    // happens after, on several threads for a large pack.
    let mut read = Vec::new();
    for path in paths {
        let display = path
            .strip_prefix(root)
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string());
        let too_big = std::fs::metadata(&path)
            .map(|m| m.len() > MAX_SOURCE_BYTES)
            .unwrap_or(false);
        if too_big {
            read.push(Err(Diagnostic::file(
                format!("file is larger than {MAX_SOURCE_BYTES} bytes"),
                display,
            )));
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                read.push(Err(Diagnostic::file(
                    format!("cannot read file: {e}"),
                    display,
                )));
                continue;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
                let id = sources.add(display, Arc::from(valid.as_str()));
                read.push(Err(Diagnostic::error(
                    "parse error: file is not valid UTF-8",
                    sentrie_grammar::Span::new(id, at, at),
                )));
                continue;
            }
        };
        let text: Arc<str> = Arc::from(text.as_str());
        let id = sources.add(display, Arc::clone(&text));
        read.push(Ok((id, text)));
    }
    let texts: Vec<(FileId, &str)> = read
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(id, t)| (*id, &**t)))
        .collect();
    let mut parsed = parse_files(&texts).into_iter();
    let mut files = Vec::new();
    for r in read {
        let id = match r {
            Ok((id, _)) => id,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let Some((tree, mut file_diags)) = parsed.next() else {
            break;
        };
        // Files with syntax errors are left out of checking; their diagnostics are kept.
        let clean = file_diags.is_empty();
        diags.append(&mut file_diags);
        if let Some(tree) = tree.filter(|t| clean && t.namespace.is_some()) {
            files.push((id, tree));
        }
    }
    (
        Some(SourcePack {
            root: root.to_path_buf(),
            manifest,
            manifest_text,
            sources,
            files,
        }),
        diags,
    )
}
