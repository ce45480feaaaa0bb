//! Compiles the generated 10,000-rule pack a few times (a target for `perf record`).
fn main() {
    let files = sentrie_bench::generated_pack(10_000);
    let refs = sentrie_bench::as_refs(&files);
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let start = std::time::Instant::now();
    for _ in 0..5 {
        if sentrie_compiler::compile_text(&refs).is_err() {
            std::process::exit(1);
        }
    }
    eprintln!(
        "{} bytes of source, {:?} per compile",
        bytes,
        start.elapsed() / 5
    );
}
