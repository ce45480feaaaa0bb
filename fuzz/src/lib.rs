//! Shared fixtures of the fuzz targets: the packs they evaluate against, compiled once.

use std::sync::{Arc, OnceLock};

use sentrie_vm::VerifiedProgram;

/// `(program, targets)` of every pack the evaluation targets use.
pub type Packs = Vec<(Arc<VerifiedProgram>, Vec<sentrie_vm::target::Target>)>;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The example packs and the repository's test-case packs, with every exported target.
pub fn packs() -> &'static Packs {
    static PACKS: OnceLock<Packs> = OnceLock::new();
    PACKS.get_or_init(|| {
        let root = root();
        let mut dirs = vec![root.join("examples/rbac"), root.join("examples/ai-gateway")];
        if let Ok(entries) = std::fs::read_dir(root.join("tests/cases")) {
            let mut cases: Vec<_> = entries.flatten().map(|e| e.path().join("pack")).collect();
            cases.sort();
            dirs.extend(cases);
        }
        dirs.iter()
            .filter_map(|d| sentrie_compiler::load_pack(d).ok())
            .map(|l| {
                let targets = l
                    .program
                    .policies()
                    .iter()
                    .map(|(policy, p)| sentrie_vm::target::Target {
                        policy,
                        rules: p.exports.clone(),
                    })
                    .collect();
                (l.program, targets)
            })
            .collect()
    })
}

/// Evaluates every target of every pack with `facts`; panics only if the engine does.
pub fn eval_everywhere(facts_json: &[u8]) {
    for (program, targets) in packs() {
        for t in targets {
            let bump = bumpalo::Bump::new();
            let Ok(facts) = sentrie_vm::json::decode(facts_json, &bump) else {
                return;
            };
            let limits = sentrie_vm::Limits {
                fuel: 100_000,
                work: 1_000_000,
                deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(2)),
                ..sentrie_vm::Limits::default()
            };
            let out = sentrie_vm::evaluate(program, t.policy, &t.rules, facts, &bump, limits);
            for o in &out {
                if let Ok(d) = o.result {
                    let mut text = String::new();
                    sentrie_vm::json::write_compact(&mut text, d.value);
                }
            }
        }
    }
}
