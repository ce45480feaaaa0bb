//! Evaluation benchmarks.
//!
//! | group/case | measures |
//! |---|---|
//! | `eval_hot/<pack>` | one decision with facts already decoded into the arena (arena reset per iteration) |
//! | `eval_cold/<pack>` | decode the facts JSON bytes + one decision |
//! | `eval_cold/decode_<pack>` | decoding the facts bytes into arena values alone |
//! | `eval_cold/serde_json_parse_<pack>` | baseline: parsing the same bytes into `serde_json::Value` |
//!
//! Packs: `rbac` (examples/rbac, `allow`), `rbac_1k` (the same decision with ~1 KB of facts),
//! `gateway` (examples/ai-gateway, whole policy, ~1 KB
//! of facts), `rules_10` and `rules_10k` (the same rule evaluated in a 10-rule and a
//! 10,000-rule generated pack), `native_call` (a rule calling `@sentrie/hash` `sha256`) and
//! `ts_call` (a rule calling a user TypeScript function in QuickJS); `grants_<form>_<n>_<hit|
//! miss>[_scan]`: one decision over 10 or 10,000 grants held in one constant list (`list`,
//! `any grants as g (...)`) or as 10,000 rules (`rules`, `any [g0, ...] as r (r)`), the grant
//! in the middle or absent, with indexes or (`_scan`) compiled without them.

use bumpalo::Bump;
use criterion::{criterion_group, criterion_main, Criterion};
use sentrie_bench::{
    as_refs, gateway_facts, generated_pack, grant_facts, grants_list_pack, grants_rules_pack,
    GATEWAY_FILES, GENERATED_FACTS, RBAC, RBAC_FACTS, RBAC_FACTS_1K,
};
use sentrie_vm::{json, target, Limits, VerifiedProgram};

struct Case {
    name: String,
    program: std::sync::Arc<VerifiedProgram>,
    target: target::Target,
    facts: String,
}

fn case(name: &'static str, files: &[(&str, &str)], target_text: &str, facts: String) -> Case {
    let loaded =
        sentrie_compiler::compile_text(files).unwrap_or_else(|_| panic!("{name} must compile"));
    finish(name, loaded, target_text, facts)
}

fn finish(name: &str, loaded: sentrie_compiler::Loaded, target_text: &str, facts: String) -> Case {
    let target =
        target::resolve(&loaded.program, target_text).unwrap_or_else(|e| panic!("{name}: {e}"));
    Case {
        name: name.to_string(),
        program: loaded.program,
        target,
        facts,
    }
}

/// The grant packs: list form and many-rules form, 10 and 10,000 grants, the grant present
/// (in the middle) or absent, indexed and (`_scan`) compiled without indexes.
fn grant_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (form, target) in [
        ("list", "grants/list/p/allow"),
        ("rules", "grants/rules/p/allow"),
    ] {
        for n in [10, 10_000] {
            let src = if form == "list" {
                grants_list_pack(n)
            } else {
                grants_rules_pack(n)
            };
            for (present, which) in [(true, "hit"), (false, "miss")] {
                for (no_index, suffix) in [(false, ""), (true, "_scan")] {
                    if n == 10 && no_index {
                        continue;
                    }
                    let name = format!(
                        "grants_{form}_{}_{which}{suffix}",
                        if n == 10 { "10" } else { "10k" }
                    );
                    let loaded = sentrie_compiler::compile_text_with(
                        &[("g.sentrie", &src)],
                        sentrie_compiler::LoadOptions {
                            no_index,
                            ..Default::default()
                        },
                    )
                    .unwrap_or_else(|_| panic!("{name} must compile"));
                    out.push(finish(&name, loaded, target, grant_facts(n, present)));
                }
            }
        }
    }
    out
}

fn cases() -> Vec<Case> {
    let small = generated_pack(10);
    let big = generated_pack(10_000);
    let mut cases = grant_cases();
    cases.extend(vec![
        case(
            "rbac",
            &[("rbac.sentrie", RBAC)],
            "example/rbac/documents/allow",
            RBAC_FACTS.to_string(),
        ),
        case(
            "rbac_1k",
            &[("rbac.sentrie", RBAC)],
            "example/rbac/documents/allow",
            RBAC_FACTS_1K.to_string(),
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
        case(
            "native_call",
            &[("n.sentrie", NATIVE)],
            "bench/native/p/r",
            r#"{"s":"hello world"}"#.to_string(),
        ),
        finish(
            "ts_call",
            module_pack(),
            "bench/ts/p/r",
            r#"{"s":"hello world"}"#.to_string(),
        ),
    ]);
    cases
}

const NATIVE: &str = "namespace bench/native\npolicy p {\n  use { sha256 } from @sentrie/hash as h\n  rule r = h.sha256(s)\n  export decision of r\n}\n";

/// A pack on disk with one TypeScript module (user modules are loaded from files).
fn module_pack() -> sentrie_compiler::Loaded {
    let dir = std::env::temp_dir().join(format!("sentrie-bench-ts-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let write =
        |p: &str, t: &str| std::fs::write(dir.join(p), t).unwrap_or_else(|e| panic!("{p}: {e}"));
    write(
        "sentrie.pack.toml",
        "[schema]\nversion = 1\n\n[pack]\nname = \"b\"\nversion = \"1.0.0\"\n",
    );
    write(
        "text.ts",
        "export function shout(s: string): string { return s.toUpperCase() + '!'; }\n",
    );
    write("p.sentrie", "namespace bench/ts\npolicy p {\n  use { shout } from \"./text.ts\" as t\n  rule r = t.shout(s)\n  export decision of r\n}\n");
    sentrie_compiler::load_pack(&dir).unwrap_or_else(|_| panic!("ts pack must load"))
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
        hot.bench_function(&k.name, |b| {
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
        cold.bench_function(&k.name, |b| {
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
