//! Runs one decision in a loop, as a target for `perf record`:
//! `cargo run --profile bench -p sentrie-bench --example profile_eval -- rbac|rules`
//! (`rules`: rule r7 of the generated 10,000-rule pack; `gateway`: the AI-gateway example;
//! `rbac_1k`: the RBAC decision with 1 KB of facts; `trivial`: one constant rule, no facts). `SENTRIE_NO_INDEX=1` compiles without
//! indexes and regex sets, for a before/after under `valgrind --tool=callgrind`.

use sentrie_bench::{
    as_refs, gateway_facts, generated_pack, GATEWAY_FILES, GENERATED_FACTS, RBAC, RBAC_FACTS,
    RBAC_FACTS_1K,
};

/// The smallest decision: one constant rule, no facts (what every decision pays).
const TRIVIAL: &str =
    "namespace bench/trivial\npolicy p {\n  rule r = true\n  export decision of r\n}\n";

const NATIVE: &str = "namespace bench/native\npolicy p {\n  fact s: string\n  use { sha256 } from @sentrie/hash\n  rule r = sha256(s)\n  export decision of r\n}\n";

fn main() {
    let which = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "rbac".to_string());
    let generated = generated_pack(10_000);
    let gateway = gateway_facts();
    // `grants_rules_N`: `any` over N rules of equalities, the grant in the middle.
    let grants_n: Option<usize> = which
        .strip_prefix("grants_rules_")
        .and_then(|n| n.parse().ok());
    let grants_src = grants_n.map(sentrie_bench::grants_rules_pack);
    let grants_facts = grants_n.map(|n| sentrie_bench::grant_facts(n, true));
    let (files, target, facts): (Vec<(&str, &str)>, &str, &str) = match which.as_str() {
        _ if grants_src.is_some() => (
            vec![("g.sentrie", grants_src.as_deref().unwrap_or_default())],
            "grants/rules/p/allow",
            grants_facts.as_deref().unwrap_or_default(),
        ),
        "rules" => (as_refs(&generated), "gen/p0/p/r7", GENERATED_FACTS),
        "rbac_1k" => (
            vec![("rbac.sentrie", RBAC)],
            "example/rbac/documents/allow",
            RBAC_FACTS_1K,
        ),
        "gateway" => (GATEWAY_FILES.to_vec(), "aigw/gateway/request", &gateway),
        "trivial" => (vec![("t.sentrie", TRIVIAL)], "bench/trivial/p/r", "{}"),
        "native" => (
            vec![("n.sentrie", NATIVE)],
            "bench/native/p/r",
            r#"{"s":"hello world"}"#,
        ),
        _ => (
            vec![("rbac.sentrie", RBAC)],
            "example/rbac/documents/allow",
            RBAC_FACTS,
        ),
    };
    // `SENTRIE_NO_INDEX=1` compiles without indexes (the scans), to compare the two.
    let opts = sentrie_compiler::LoadOptions {
        no_index: std::env::var_os("SENTRIE_NO_INDEX").is_some(),
        ..sentrie_compiler::LoadOptions::default()
    };
    let Ok(loaded) = sentrie_compiler::compile_text_with(&files, opts) else {
        std::process::exit(1)
    };
    let Ok(t) = sentrie_vm::target::resolve(&loaded.program, target) else {
        std::process::exit(1)
    };
    let facts_bump = bumpalo::Bump::new();
    let text = facts;
    let Ok(facts) = sentrie_vm::json::decode(facts.as_bytes(), &facts_bump) else {
        std::process::exit(1)
    };
    let mut bump = bumpalo::Bump::new();
    // `SENTRIE_PROFILE_ITERS` sets the loop count (fewer under callgrind).
    let n: u32 = std::env::var("SENTRIE_PROFILE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let start = std::time::Instant::now();
    // `SENTRIE_PROFILE_DECODE=1`: decode the facts bytes in the loop instead of deciding.
    if std::env::var_os("SENTRIE_PROFILE_DECODE").is_some() {
        for _ in 0..n {
            bump.reset();
            std::hint::black_box(sentrie_vm::json::decode(text.as_bytes(), &bump).is_ok());
        }
        eprintln!("{which}: {:?} per decode", start.elapsed() / n);
        return;
    }
    if std::env::var_os("SENTRIE_PROFILE_BIND").is_some() {
        for _ in 0..n {
            bump.reset();
            let out = sentrie_vm::interp::check_facts(&loaded.program, t.policy, facts, &bump);
            std::hint::black_box(out.is_ok());
        }
        eprintln!("{which}: {:?} per binding", start.elapsed() / n);
        return;
    }
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
    eprintln!("{which}: {:?} per decision", start.elapsed() / n);
}
