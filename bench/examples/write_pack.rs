//! Writes the generated pack of N rules (the one the compile benchmarks use) as a source pack
//! directory: `cargo run --release -p sentrie-bench --example write_pack -- 10000 DIR`.
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: write_pack N DIR");
        std::process::exit(2);
    };
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("N must be a number of rules");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(&dir);
    let manifest =
        format!("[schema]\nversion = 1\n\n[pack]\nname = \"generated-{n}\"\nversion = \"1.0.0\"\n");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join("sentrie.pack.toml"), manifest))
        .and_then(|()| {
            sentrie_bench::generated_pack(n)
                .into_iter()
                .try_for_each(|(name, text)| std::fs::write(dir.join(name), text))
        });
    if let Err(e) = written {
        eprintln!("cannot write {}: {e}", dir.display());
        std::process::exit(1);
    }
}
