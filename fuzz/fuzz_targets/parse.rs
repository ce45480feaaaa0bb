//! Source text → tokens, tree and diagnostics, rendered in every format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut sources = sentrie_grammar::SourceMap::new();
    let id = sources.add("f.sentrie".to_string(), std::sync::Arc::from(&*text));
    let (_tree, diags) = sentrie_grammar::parse_file(id, &text);
    for format in [
        sentrie_grammar::ErrorFormat::Human,
        sentrie_grammar::ErrorFormat::Plain,
        sentrie_grammar::ErrorFormat::Json,
    ] {
        let _ = sentrie_grammar::render_all(&diags, &sources, format);
    }
});
