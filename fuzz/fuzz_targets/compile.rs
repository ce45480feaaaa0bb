//! Whole-pack compiles: one or two source files (split at a NUL byte) through every pass.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(2, '\0');
    let first = parts.next().unwrap_or("");
    let files: Vec<(&str, &str)> = match parts.next() {
        Some(second) => vec![("a.sentrie", first), ("b.sentrie", second)],
        None => vec![("a.sentrie", first)],
    };
    match sentrie_compiler::compile_text(&files) {
        Ok(loaded) => {
            let _ = sentrie_grammar::render_all(
                &loaded.diagnostics,
                &loaded.sources,
                sentrie_grammar::ErrorFormat::Human,
            );
        }
        Err(e) => {
            let _ = sentrie_grammar::render_all(
                &e.diagnostics,
                &e.sources,
                sentrie_grammar::ErrorFormat::Human,
            );
        }
    }
});
