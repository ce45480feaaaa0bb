//! `sentrie compile [PACK] -o FILE` (PACKS_AND_CLI.md §7.5): validate like `validate`, then
//! write the compiled pack atomically (temporary file in the same directory, then rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use sentrie_compiler::pack;
use sentrie_grammar::{render_all, ErrorFormat};

use super::{error, EXIT_FAIL, EXIT_OK};

pub fn run(pack_path: &Path, out: &Path, sign: &[PathBuf], format: ErrorFormat) -> u8 {
    if matches!(pack::locate(pack_path), Ok(pack::Location::Compiled(_))) {
        error("input is already a compiled pack");
        return EXIT_FAIL;
    }
    // Keys first: a wrong key path fails before any compiling.
    let mut keys = Vec::with_capacity(sign.len());
    for path in sign {
        match sentrie_artifact::SigningKey::read(path) {
            Ok(k) => keys.push(k),
            Err(e) => {
                error(&e.to_string());
                return EXIT_FAIL;
            }
        }
    }
    // Compiling reads sources, which carry no signature: `--verify-key` is for loading.
    let opts = sentrie_compiler::LoadOptions {
        trusted: Vec::new(),
        ..super::load_options()
    };
    let Some(loaded) = super::load_with(pack_path, format, opts) else {
        return EXIT_FAIL;
    };
    super::print_warnings(&loaded, format);
    if !loaded.diagnostics.is_empty() {
        eprintln!(
            "{}",
            render_all(&loaded.diagnostics, &loaded.sources, format)
        );
        return EXIT_FAIL;
    }
    let sources: Vec<(String, &str)> = loaded
        .sources
        .files()
        .map(|(_, f)| (f.path.clone(), &*f.text))
        .collect();
    let encoded = sentrie_artifact::encode(
        &loaded.manifest,
        &sources,
        loaded.program.program(),
        &loaded.hash,
    )
    .and_then(|bytes| {
        keys.iter()
            .try_fold(bytes, |bytes, key| sentrie_artifact::sign(&bytes, key))
    });
    let bytes = match encoded {
        Ok(b) => b,
        Err(e) => {
            error(&e.to_string());
            return EXIT_FAIL;
        }
    };
    match write_atomically(out, &bytes) {
        Ok(()) => {
            eprintln!(
                "compiled pack {} {} to `{}` (content sha256 {})",
                loaded.manifest.name,
                loaded.manifest.version,
                out.display(),
                loaded.hash
            );
            for key in &keys {
                eprintln!("signed with key {}", key.public().fingerprint());
            }
            EXIT_OK
        }
        Err(e) => {
            error(&format!("cannot write `{}`: {e}", out.display()));
            EXIT_FAIL
        }
    }
}

pub(super) fn write_atomically(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map_or_else(|| "pack".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}
