//! `sentrie bench TARGET`: in-process latency and throughput of one target, hot (facts decoded
//! once, arena reset per decision) and cold (facts decoded from JSON bytes every time).

use std::path::Path;
use std::time::Instant;

use bumpalo::Bump;
use sentrie_grammar::ErrorFormat;
use sentrie_vm::{json, Limits};

use super::{error, load, EXIT_FAIL, EXIT_OK};
use crate::cli::OutputFormat;
use crate::facts;

pub struct Args<'a> {
    pub target: &'a str,
    pub pack: &'a Path,
    pub facts: Option<&'a str>,
    pub fact_file: Option<&'a Path>,
    pub iterations: u64,
}

/// Latency percentiles of one mode, in nanoseconds.
struct Stats {
    p50: u64,
    p99: u64,
    total_ns: u128,
}

fn stats(mut samples: Vec<u64>) -> Stats {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        total_ns: samples.iter().map(|s| u128::from(*s)).sum(),
    }
}

pub fn run(args: &Args<'_>, output: OutputFormat, errors: ErrorFormat) -> u8 {
    let Some(loaded) = load(args.pack, errors) else {
        return EXIT_FAIL;
    };
    let p = &loaded.program;
    let Some(t) = super::resolve_target(p, args.target) else {
        return EXIT_FAIL;
    };
    let bytes = match facts::gather(args.facts, args.fact_file, &Bump::new()) {
        Ok(f) => {
            let mut text = String::new();
            json::write_compact(&mut text, f);
            text.into_bytes()
        }
        Err(e) => {
            error(&e);
            return EXIT_FAIL;
        }
    };
    let n = args.iterations as usize;
    // Check once that the decision succeeds, so we never time an error path by accident.
    {
        let bump = Bump::new();
        let facts = match json::decode(&bytes, &bump) {
            Ok(f) => f,
            Err(e) => {
                error(&e);
                return EXIT_FAIL;
            }
        };
        let out = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, Limits::default());
        if let Some(Err(e)) = out
            .iter()
            .map(|o| o.result.as_ref().map(|_| ()))
            .find(Result::is_err)
        {
            error(&format!("the target fails with these facts: {e}"));
            return EXIT_FAIL;
        }
    }
    let facts_bump = Bump::new();
    let facts = json::decode(&bytes, &facts_bump).unwrap_or(sentrie_vm::Value::Undefined);
    let mut bump = Bump::new();
    let mut hot = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        bump.reset();
        let out = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, Limits::default());
        std::hint::black_box(&out);
        drop(out);
        hot.push(start.elapsed().as_nanos() as u64);
    }
    let mut cold = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        bump.reset();
        let facts = json::decode(&bytes, &bump).unwrap_or(sentrie_vm::Value::Undefined);
        let out = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, Limits::default());
        std::hint::black_box(&out);
        drop(out);
        cold.push(start.elapsed().as_nanos() as u64);
    }
    let (hot, cold) = (stats(hot), stats(cold));
    let per_sec = (n as u128 * 1_000_000_000)
        .checked_div(hot.total_ns)
        .unwrap_or(0) as u64;
    match output {
        OutputFormat::Json => super::out(&format!(
            "{}\n",
            serde_json::json!({
                "target": args.target,
                "iterations": n,
                "hot_ns_p50": hot.p50,
                "hot_ns_p99": hot.p99,
                "cold_ns_p50": cold.p50,
                "cold_ns_p99": cold.p99,
                "decisions_per_sec": per_sec,
            })
        )),
        OutputFormat::Table => super::out(&format!(
            "Target:      {}\nIterations:  {n}\nHot:         p50 {} ns, p99 {} ns\nCold:        p50 {} ns, p99 {} ns\nThroughput:  {per_sec} decisions/s (hot, one thread)\n",
            args.target, hot.p50, hot.p99, cold.p50, cold.p99
        )),
    }
    EXIT_OK
}
