//! `sentrie init NAME [--directory DIR]` (PACKS_AND_CLI.md §7.1).

use std::path::Path;

use sentrie_compiler::manifest::is_valid_name;

use super::{error, EXIT_FAIL, EXIT_OK};

pub fn run(name: &str, dir: &Path) -> u8 {
    match init(name, dir) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            error(&e);
            EXIT_FAIL
        }
    }
}

fn init(name: &str, dir: &Path) -> Result<(), String> {
    if !is_valid_name(name) {
        return Err("name needs to be a valid identity. It must start with a letter and can only contain letters, numbers, underscores and `dot`.".to_string());
    }
    if dir.exists() {
        if !dir.is_dir() {
            return Err(format!("{}: directory is not a directory", dir.display()));
        }
        let mut entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        if entries.next().is_some() {
            return Err("directory is not empty - please choose a different directory".to_string());
        }
    } else {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    let text = format!("[schema]\nversion = 1\n\n[pack]\nname = \"{name}\"\nversion = \"0.0.1\"\n");
    std::fs::write(dir.join(sentrie_compiler::pack::MANIFEST), text)
        .map_err(|e| format!("cannot write the pack file: {e}"))
}
