//! Benchmarks of compiling packs (`compile/*`); filled in by the benchmark harness.
fn main() {}
