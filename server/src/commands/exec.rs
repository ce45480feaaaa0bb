//! `sentrie exec TARGET`: evaluate and print decisions (PACKS_AND_CLI.md §7.2).

use std::path::Path;

use bumpalo::Bump;
use sentrie_grammar::ErrorFormat;
use sentrie_vm::{target, Limits};

use super::{error, load, out, EXIT_FAIL, EXIT_OK};
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
    let bump = Bump::new();
    let facts_value = match facts::gather(facts_arg, fact_file, &bump) {
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
    let views: Vec<output::View<'_, '_>> = outcomes
        .iter()
        .map(|o| output::View::of(program, o))
        .collect();
    match format {
        OutputFormat::Json => out(&format!("{}\n", output::to_pretty_json(&views))),
        OutputFormat::Table => out(&output::to_table(&views)),
    }
    let failures: Vec<(String, String)> = views
        .iter()
        .filter_map(|v| Some((v.target(), v.error.as_ref()?.to_string())))
        .collect();
    for (rule, msg) in &failures {
        error(&format!("{rule}: {msg}"));
    }
    if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}
