//! Parses the files given on the command line and prints their diagnostics (a debugging aid).
fn main() {
    let mut map = sentrie_grammar::SourceMap::new();
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let id = map.add(path.clone(), text.clone().into());
        let (tree, diags) = sentrie_grammar::parse_file(id, &text);
        println!("{path}: tree={} diags={}", tree.is_some(), diags.len());
        print!(
            "{}",
            sentrie_grammar::render_all(&diags, &map, sentrie_grammar::ErrorFormat::Human)
        );
    }
}
