//! Benchmark fixtures (see `benches/`).
