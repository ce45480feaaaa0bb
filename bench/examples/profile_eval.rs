//! Runs the RBAC decision in a loop (a target for `perf record`).
fn main() {
    let loaded = match sentrie_compiler::compile_text(&[("rbac.sentrie", sentrie_bench::RBAC)]) {
        Ok(l) => l,
        Err(_) => std::process::exit(1),
    };
    let Ok(t) = sentrie_vm::target::resolve(&loaded.program, "example/rbac/documents/allow") else {
        std::process::exit(1)
    };
    let facts_bump = bumpalo::Bump::new();
    let Ok(facts) = sentrie_vm::json::decode(sentrie_bench::RBAC_FACTS.as_bytes(), &facts_bump)
    else {
        std::process::exit(1)
    };
    let mut bump = bumpalo::Bump::new();
    let start = std::time::Instant::now();
    let n = 2_000_000;
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
