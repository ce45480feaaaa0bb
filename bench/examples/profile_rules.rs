//! Runs one rule of the generated 10,000-rule pack in a loop (a target for `perf record`).
fn main() {
    let files = sentrie_bench::generated_pack(10_000);
    let refs = sentrie_bench::as_refs(&files);
    let Ok(loaded) = sentrie_compiler::compile_text(&refs) else {
        std::process::exit(1)
    };
    let Ok(t) = sentrie_vm::target::resolve(&loaded.program, "gen/p0/p/r7") else {
        std::process::exit(1)
    };
    let facts_bump = bumpalo::Bump::new();
    let Ok(facts) =
        sentrie_vm::json::decode(sentrie_bench::GENERATED_FACTS.as_bytes(), &facts_bump)
    else {
        std::process::exit(1)
    };
    let mut bump = bumpalo::Bump::new();
    let start = std::time::Instant::now();
    let n = 3_000_000;
    for _ in 0..n {
        bump.reset();
        let out = sentrie_vm::evaluate(
            &loaded.program,
            t.policy,
            &t.rules,
            facts,
            &bump,
            sentrie_vm::Limits::default(),
        );
        std::hint::black_box(&out);
    }
    eprintln!("{:?} per decision", start.elapsed() / n);
}
