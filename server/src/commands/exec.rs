//! `sentrie exec TARGET`: evaluate and print decisions (PACKS_AND_CLI.md §7.2).

use std::path::Path;

use bumpalo::Bump;
use sentrie_grammar::ErrorFormat;
use sentrie_vm::{target, Limits};

use super::{error, load, out, EXIT_FAIL, EXIT_OK};
use crate::cli::OutputFormat;
use crate::{facts, output};

/// What `exec` evaluates.
pub struct Args<'c> {
    pub target: &'c str,
    pub pack: &'c Path,
    pub facts: Option<&'c str>,
    pub fact_file: Option<&'c Path>,
    /// `--explain`: add each rule's trace.
    pub explain: bool,
}

pub fn run(args: &Args<'_>, format: OutputFormat, errors: ErrorFormat) -> u8 {
    let Args {
        target: target_text,
        pack,
        facts: facts_arg,
        fact_file,
        explain,
    } = *args;
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
    let (outcomes, traces) = if explain {
        sentrie_vm::evaluate_explained(
            program,
            target.policy,
            &target.rules,
            facts_value,
            &bump,
            Limits::default(),
        )
    } else {
        let outcomes = sentrie_vm::evaluate(
            program,
            target.policy,
            &target.rules,
            facts_value,
            &bump,
            Limits::default(),
        );
        (outcomes, Vec::new())
    };
    let views: Vec<output::View<'_, '_>> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| output::View::of(program, o).with_trace(traces.get(i)))
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
