//! `sentrie exec TARGET`: evaluate and print decisions (PACKS_AND_CLI.md §7.2).

use std::path::Path;

use bumpalo::Bump;
use sentrie_grammar::ErrorFormat;
use sentrie_vm::{json, target, Limits};

use super::{error, load, EXIT_FAIL, EXIT_OK};
use crate::cli::OutputFormat;
use crate::{facts, output};

pub fn run(
    target_text: &str,
    pack: &Path,
    facts_arg: Option<&str>,
    fact_file: Option<&Path>,
    format: OutputFormat,
    errors: ErrorFormat,
) -> u8 {
    let Some(loaded) = load(pack, errors) else {
        return EXIT_FAIL;
    };
    let program = &loaded.program;
    let target = match target::resolve(program, target_text) {
        Ok(t) => t,
        Err(e) => {
            error(&e);
            return EXIT_FAIL;
        }
    };
    let facts = match facts::gather(facts_arg, fact_file) {
        Ok(f) => f,
        Err(e) => {
            error(&e);
            return EXIT_FAIL;
        }
    };
    let bytes = facts.to_string();
    let bump = Bump::new();
    let facts_value = match json::decode(bytes.as_bytes(), &bump) {
        Ok(v) => v,
        Err(e) => {
            error(&e);
            return EXIT_FAIL;
        }
    };
    let outcomes = sentrie_vm::evaluate(
        program,
        target.policy,
        &target.rules,
        facts_value,
        &bump,
        Limits::default(),
    );
    let (decisions, failures) = output::decisions(program, &outcomes);
    match format {
        OutputFormat::Json => println!("{}", output::to_json(&decisions)),
        OutputFormat::Table => print!("{}", output::to_table(&decisions)),
    }
    for (rule, msg) in &failures {
        error(&format!("{rule}: {msg}"));
    }
    if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}
