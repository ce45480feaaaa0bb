//! Parses the generated 10,000-rule pack N times (`SENTRIE_PROFILE_ITERS`), as a target for
//! callgrind or `perf record`: `cargo run --profile bench -p sentrie-bench --example profile_parse`.

use sentrie_bench::{as_refs, generated_pack};

fn main() {
    let n: u32 = std::env::var("SENTRIE_PROFILE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let files = generated_pack(10_000);
    let refs = as_refs(&files);
    let mut trees = 0usize;
    for _ in 0..n {
        for (i, (_, text)) in refs.iter().enumerate() {
            let (tree, diags) =
                sentrie_grammar::parse_file(sentrie_grammar::FileId(i as u32), text);
            trees += usize::from(tree.is_some() && diags.is_empty());
        }
    }
    eprintln!("{trees} trees");
}
