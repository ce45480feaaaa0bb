//! `sentrie exec TARGET`: evaluate and print decisions (PACKS_AND_CLI.md §7.2).

use std::path::Path;

use bumpalo::Bump;
use sentrie_grammar::{render_all, Diagnostic, ErrorFormat, SourceMap, Span};
use sentrie_vm::Limits;

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
    let Some(target) = super::resolve_target(program, target_text) else {
        return EXIT_FAIL;
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
    let failures: Vec<(String, Diagnostic)> = views
        .iter()
        .filter_map(|v| {
            let e = v.error?;
            let line = format!("{}: {e}", v.target());
            Some((line, runtime_diagnostic(&loaded.sources, &v.target(), e)))
        })
        .collect();
    report_failures(&failures, &loaded.sources, errors);
    if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}

/// Each failure as `Error: ns/policy/rule: message (at file:line:col)`, followed in the human
/// format by the source snippet; `--error-format json` prints them as one JSON array instead.
fn report_failures(failures: &[(String, Diagnostic)], sources: &SourceMap, format: ErrorFormat) {
    if failures.is_empty() {
        return;
    }
    if format == ErrorFormat::Json {
        let diags: Vec<Diagnostic> = failures.iter().map(|(_, d)| d.clone()).collect();
        eprintln!("{}", render_all(&diags, sources, format));
        return;
    }
    for (line, d) in failures {
        error(line);
        if format == ErrorFormat::Human && d.span.is_some() {
            let rendered = d.render_human(sources);
            let snippet: Vec<&str> = rendered.lines().skip(1).collect();
            eprintln!("{}", snippet.join("\n"));
        }
    }
}

/// A run-time failure as a diagnostic (`ns/policy/rule: message`), placed at the failing
/// expression when the error has a location in a source file of the pack, so that it prints
/// with a snippet, or as JSON with `--error-format json`, like load errors.
fn runtime_diagnostic(sources: &SourceMap, rule: &str, e: &sentrie_vm::EvalError) -> Diagnostic {
    let message = format!("{rule}: {}", e.message());
    let located = e.location.as_deref().and_then(|loc| {
        let mut parts = loc.rsplitn(3, ':');
        let col: u32 = parts.next()?.parse().ok()?;
        let line: u32 = parts.next()?.parse().ok()?;
        let file = parts.next()?;
        let (id, f) = sources.files().find(|(_, f)| f.path == file)?;
        let at = f.offset(line, col) as usize;
        Some(Span::new(id, at, at + 1))
    });
    match (located, &e.location) {
        (Some(span), _) => Diagnostic::error(message, span),
        (None, Some(loc)) => Diagnostic::file(message, loc.clone()),
        (None, None) => Diagnostic::file(message, String::new()),
    }
}
