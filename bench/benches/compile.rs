//! Compile-time benchmarks.
//!
//! | group/case | measures |
//! |---|---|
//! | `compile/parse_check_10k` | lex + parse + index + check + lower + verify of a 10,000-rule pack |
//! | `compile/parse_10k` | lex + parse only, same sources |
//! | `compile/gateway` | the whole pipeline on the AI-gateway example |
//! | `compile/load_compiled_10k` | decode + verify the compiled file of the 10,000-rule pack (and drop the previous one) |
//! | `compile/load_compiled_10k_kept` | the same load, the pack dropped outside the measurement |

use criterion::{criterion_group, criterion_main, Criterion};
use sentrie_bench::{as_refs, generated_pack, GATEWAY_FILES};

fn compile(c: &mut Criterion) {
    let files = generated_pack(10_000);
    let refs = as_refs(&files);
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("parse_10k", |b| {
        b.iter(|| {
            for (i, (_, text)) in refs.iter().enumerate() {
                let (tree, diags) =
                    sentrie_grammar::parse_file(sentrie_grammar::FileId(i as u32), text);
                assert!(tree.is_some() && diags.is_empty());
            }
        })
    });
    g.bench_function("parse_check_10k", |b| {
        b.iter(|| assert!(sentrie_compiler::compile_text(&refs).is_ok()))
    });
    g.bench_function("gateway", |b| {
        b.iter(|| assert!(sentrie_compiler::compile_text(&GATEWAY_FILES).is_ok()))
    });
    let loaded = sentrie_compiler::compile_text(&refs)
        .unwrap_or_else(|_| panic!("generated pack must compile"));
    let sources: Vec<(String, &str)> = refs.iter().map(|(p, t)| ((*p).to_string(), *t)).collect();
    let bytes = sentrie_artifact::encode(
        &loaded.manifest,
        &sources,
        loaded.program.program(),
        &loaded.hash,
    )
    .unwrap_or_else(|e| panic!("encode: {e}"));
    g.bench_function("load_compiled_10k", |b| {
        b.iter(|| assert!(sentrie_artifact::decode(&bytes).is_ok()))
    });
    // The same load with the pack dropped outside the measurement (a server keeps what it
    // loads; freeing the previous pack is not part of loading the next).
    g.bench_function("load_compiled_10k_kept", |b| {
        b.iter_with_large_drop(|| sentrie_artifact::decode(&bytes))
    });
    g.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
