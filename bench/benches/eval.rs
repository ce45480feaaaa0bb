//! Evaluation benchmarks.
//!
//! | group/case | measures |
//! |---|---|
//! | `eval_hot/<pack>` | one decision with facts already decoded into the arena (arena reset per iteration) |
//! | `eval_cold/<pack>` | decode the facts JSON bytes + one decision |
//! | `eval_cold/decode_<pack>` | decoding the facts bytes into arena values alone |
//! | `eval_cold/serde_json_parse_<pack>` | baseline: parsing the same bytes into `serde_json::Value` |
//!
//! Packs: `rbac` (examples/rbac, `allow`), `gateway` (examples/ai-gateway, whole policy, ~1 KB
//! of facts), `rules_10` and `rules_10k` (the same rule evaluated in a 10-rule and a
//! 10,000-rule generated pack).

use bumpalo::Bump;
use criterion::{criterion_group, criterion_main, Criterion};
use sentrie_bench::{
    as_refs, gateway_facts, generated_pack, GATEWAY_FILES, GENERATED_FACTS, RBAC, RBAC_FACTS,
};
use sentrie_vm::{json, target, Limits, Program};

struct Case {
    name: &'static str,
    program: std::sync::Arc<Program>,
    target: target::Target,
    facts: String,
}

fn case(name: &'static str, files: &[(&str, &str)], target_text: &str, facts: String) -> Case {
    let loaded =
        sentrie_compiler::compile_text(files).unwrap_or_else(|_| panic!("{name} must compile"));
    let target =
        target::resolve(&loaded.program, target_text).unwrap_or_else(|e| panic!("{name}: {e}"));
    Case {
        name,
        program: loaded.program,
        target,
        facts,
    }
}

fn cases() -> Vec<Case> {
    let small = generated_pack(10);
    let big = generated_pack(10_000);
    vec![
        case(
            "rbac",
            &[("rbac.sentrie", RBAC)],
            "example/rbac/documents/allow",
            RBAC_FACTS.to_string(),
        ),
        case(
            "gateway",
            &GATEWAY_FILES,
            "aigw/gateway/request",
            gateway_facts(),
        ),
        case(
            "rules_10",
            &as_refs(&small),
            "gen/p0/p/r7",
            GENERATED_FACTS.to_string(),
        ),
        case(
            "rules_10k",
            &as_refs(&big),
            "gen/p0/p/r7",
            GENERATED_FACTS.to_string(),
        ),
    ]
}

fn eval(c: &mut Criterion) {
    let cases = cases();
    let mut hot = c.benchmark_group("eval_hot");
    for k in &cases {
        // Facts decoded once into their own arena; the evaluation arena is reset per decision.
        let facts_bump = Bump::new();
        let facts =
            json::decode(k.facts.as_bytes(), &facts_bump).unwrap_or(sentrie_vm::Value::Undefined);
        let mut bump = Bump::new();
        hot.bench_function(k.name, |b| {
            b.iter(|| {
                bump.reset();
                let out = sentrie_vm::evaluate(
                    &k.program,
                    k.target.policy,
                    &k.target.rules,
                    facts,
                    &bump,
                    Limits::default(),
                );
                assert!(out.iter().all(|o| o.result.is_ok()));
            })
        });
    }
    hot.finish();
    let mut cold = c.benchmark_group("eval_cold");
    for k in &cases {
        let mut bump = Bump::new();
        cold.bench_function(k.name, |b| {
            b.iter(|| {
                bump.reset();
                let facts =
                    json::decode(k.facts.as_bytes(), &bump).unwrap_or(sentrie_vm::Value::Undefined);
                let out = sentrie_vm::evaluate(
                    &k.program,
                    k.target.policy,
                    &k.target.rules,
                    facts,
                    &bump,
                    Limits::default(),
                );
                assert!(out.iter().all(|o| o.result.is_ok()));
            })
        });
        cold.bench_function(format!("decode_{}", k.name), |b| {
            b.iter(|| {
                bump.reset();
                json::decode(k.facts.as_bytes(), &bump).is_ok()
            })
        });
        cold.bench_function(format!("serde_json_parse_{}", k.name), |b| {
            b.iter(|| serde_json_parse(k.facts.as_bytes()))
        });
    }
    cold.finish();
}

fn serde_json_parse(bytes: &[u8]) -> usize {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    v.as_object().map_or(0, serde_json::Map::len)
}

criterion_group!(benches, eval);
criterion_main!(benches);
