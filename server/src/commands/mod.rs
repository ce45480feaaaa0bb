//! One module per command; each returns the process exit code.

mod bench;
mod compile;
mod disasm;
mod exec;
mod fmt;
mod init;
mod keygen;
mod replay;
mod serve;
mod test;
mod test_report;
mod validate;

use sentrie_compiler::{LoadError, Loaded};
use sentrie_grammar::{render_all, ErrorFormat};

use crate::cli::{Cli, Command, ErrorFormatArg};

/// Writes command results to stdout. A reader that went away (`sentrie exec ... | head`) is
/// not an error: the rest of the output is dropped quietly.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

pub use test::Format as TestFormat;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

pub fn run(cli: Cli) -> u8 {
    let format = match cli.error_format {
        ErrorFormatArg::Human => ErrorFormat::Human,
        ErrorFormatArg::Plain => ErrorFormat::Plain,
        ErrorFormatArg::Json => ErrorFormat::Json,
    };
    STRICT.store(cli.strict, std::sync::atomic::Ordering::Relaxed);
    NO_INDEX.store(cli.no_index, std::sync::atomic::Ordering::Relaxed);
    let mut trusted = Vec::with_capacity(cli.verify_keys.len());
    for path in &cli.verify_keys {
        match sentrie_artifact::PublicKey::read(path) {
            Ok(k) => trusted.push(k),
            Err(e) => {
                error(&e.to_string());
                return EXIT_USAGE;
            }
        }
    }
    let _ = TRUSTED.set(trusted);
    match cli.command {
        Command::Keygen { out, force } => keygen::run(&out, force),
        Command::Init { name, directory } => init::run(&name, &directory),
        Command::Serve(args) => serve::run(*args, cli.strict),
        Command::Compile {
            pack,
            pack_location,
            out,
            sign,
        } => compile::run(
            pack.as_deref().unwrap_or(&pack_location),
            &out,
            &sign,
            format,
        ),
        Command::Exec {
            target,
            pack_location,
            facts,
            fact_file,
            output,
            explain,
        } => exec::run(
            &exec::Args {
                target: &target,
                pack: &pack_location,
                facts: facts.as_deref(),
                fact_file: fact_file.as_deref(),
                explain,
            },
            output,
            format,
        ),
        Command::Validate {
            target,
            pack_location,
            facts,
        } => validate::run(target.as_deref(), &pack_location, facts.as_deref(), format),
        Command::Test {
            pack,
            pack_location,
            run,
            cases,
            format: report,
            coverage,
        } => test::run(
            &test::Args {
                pack: pack.as_deref().unwrap_or(&pack_location),
                cases: &cases,
                run: run.as_deref(),
                format: report,
                coverage,
            },
            format,
        ),
        Command::Fmt { paths, check, diff } => fmt::run(&paths, check, diff, format),
        Command::Replay {
            log,
            pack_location,
            output,
        } => replay::run(&log, pack_location.as_ref(), output),
        Command::Disasm {
            target,
            pack_location,
        } => disasm::run(&target, &pack_location, format),
        Command::Bench {
            target,
            pack_location,
            facts,
            fact_file,
            iterations,
            output,
        } => {
            let args = bench::Args {
                target: &target,
                pack: &pack_location,
                facts: facts.as_deref(),
                fact_file: fact_file.as_deref(),
                iterations,
            };
            bench::run(&args, output, format)
        }
    }
}

/// Resolves a target; on failure prints the error and the nearest exported targets.
pub fn resolve_target(
    program: &sentrie_vm::VerifiedProgram,
    text: &str,
) -> Option<sentrie_vm::target::Target> {
    match sentrie_vm::target::resolve(program, text) {
        Ok(t) => Some(t),
        Err(e) => {
            error(&e);
            let near = sentrie_vm::target::nearest(program, text);
            if !near.is_empty() {
                eprintln!("  help: did you mean {}?", near.join(", "));
            }
            None
        }
    }
}

/// Prints `Error: message` on stderr.
pub fn error(msg: &str) {
    eprintln!("Error: {msg}");
}

/// Prints a loaded pack's warnings on stderr (they never change the exit status).
pub fn print_warnings(loaded: &Loaded, format: ErrorFormat) {
    if !loaded.warnings.is_empty() {
        eprintln!("{}", render_all(&loaded.warnings, &loaded.sources, format));
    }
}

/// `--strict`, for every command that loads a pack.
static STRICT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--strict` was given.
pub fn strict() -> bool {
    STRICT.load(std::sync::atomic::Ordering::Relaxed)
}

/// `--no-index`, for every command that compiles a pack.
static NO_INDEX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--no-index` was given.
pub fn no_index() -> bool {
    NO_INDEX.load(std::sync::atomic::Ordering::Relaxed)
}

/// `--verify-key`, read once at start.
static TRUSTED: std::sync::OnceLock<Vec<sentrie_artifact::PublicKey>> = std::sync::OnceLock::new();

/// The keys given with `--verify-key` (empty: signatures are not checked).
pub fn trusted() -> &'static [sentrie_artifact::PublicKey] {
    TRUSTED.get().map_or(&[], Vec::as_slice)
}

/// How every command loads packs: `--strict`, `--no-index` and `--verify-key`.
pub fn load_options() -> sentrie_compiler::LoadOptions {
    sentrie_compiler::LoadOptions {
        strict: strict(),
        no_index: no_index(),
        trusted: trusted().to_vec(),
        ..sentrie_compiler::LoadOptions::default()
    }
}

/// Loads a pack (strict when `--strict` was given), printing its diagnostics on failure.
pub fn load(path: &std::path::Path, format: ErrorFormat) -> Option<Loaded> {
    load_with(path, format, load_options())
}

/// [`load`] with explicit options.
pub fn load_with(
    path: &std::path::Path,
    format: ErrorFormat,
    opts: sentrie_compiler::LoadOptions,
) -> Option<Loaded> {
    match sentrie_compiler::load_pack_with(path, opts) {
        Ok(l) => {
            if !l.notes.is_empty() {
                eprintln!("{}", render_all(&l.notes, &l.sources, format).trim_end());
            }
            Some(l)
        }
        Err(LoadError {
            diagnostics,
            sources,
        }) => {
            eprintln!("{}", render_all(&diagnostics, &sources, format));
            None
        }
    }
}
