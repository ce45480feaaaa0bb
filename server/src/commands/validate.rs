//! `sentrie validate [TARGET] [--facts JSON]` (PACKS_AND_CLI.md §7.3).

use std::path::Path;

use bumpalo::Bump;
use sentrie_grammar::{render_all, ErrorFormat};

use super::{error, load, EXIT_FAIL, EXIT_OK, EXIT_USAGE};
use crate::facts;

pub fn run(
    target_text: Option<&str>,
    pack: &Path,
    facts_arg: Option<&str>,
    format: ErrorFormat,
) -> u8 {
    if facts_arg.is_some() && target_text.is_none() {
        error("--facts needs a TARGET");
        return EXIT_USAGE;
    }
    let Some(loaded) = load(pack, format) else {
        return EXIT_FAIL;
    };
    let p = &loaded.program;
    super::print_warnings(&loaded, format);
    if !loaded.diagnostics.is_empty() {
        eprintln!(
            "{}",
            render_all(&loaded.diagnostics, &loaded.sources, format)
        );
        error(&format!(
            "pack {} is not valid: {} problem(s)",
            loaded.manifest.name,
            loaded.diagnostics.len()
        ));
        return EXIT_FAIL;
    }
    eprintln!(
        "{}pack {} {} is valid (content sha256 {}): {} policies, {} rules, {} functions{}",
        if loaded.compiled { "compiled " } else { "" },
        loaded.manifest.name,
        loaded.manifest.version,
        loaded.hash,
        p.policies().len(),
        p.rules().len(),
        p.funcs().len(),
        match loaded.warnings.len() {
            0 => String::new(),
            n => format!(", {n} warning(s)"),
        }
    );
    let Some(t) = target_text else { return EXIT_OK };
    let Some(target) = super::resolve_target(&loaded.program, t) else {
        return EXIT_FAIL;
    };
    let Some(f) = facts_arg else { return EXIT_OK };
    let bump = Bump::new();
    let value = match facts::gather(Some(f), None, &bump) {
        Ok(v) => v,
        Err(e) => {
            error(&e);
            return EXIT_FAIL;
        }
    };
    match sentrie_vm::interp::check_facts(&loaded.program, target.policy, value, &bump) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            error(&e.to_string());
            EXIT_FAIL
        }
    }
}
