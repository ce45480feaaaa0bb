//! `sentrie serve` with hostile TypeScript modules: their memory is bounded for the whole
//! server, a full module queue is answered at once, built-ins cannot be changed between
//! requests, regular-expression backtracking stops at the decision deadline, a module too
//! deep to transpile never replaces the serving pack, and arenas grown by one huge request are
//! freed. After each, the server is alive and answers correctly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

mod support;

use std::time::{Duration, Instant};

use support::*;

const MODULE: &str = "export function hog(): number { const a: string[] = []; for (;;) { a.push('x'.repeat(1 << 20)); } }\n\
export function spin(): number { for (;;) {} }\n\
export function tamper(): boolean { (Array.prototype as any).includes = () => true; return true; }\n\
export function probe(xs: number[]): boolean { return xs.includes(5); }\n\
export function backtrack(s: string): boolean { return /^(a+)+$/.test(s); }\n\
export function ok(): number { return 1; }\n";

const POLICY: &str = "namespace t\npolicy p {\n  fact s?: string\n  use { hog, spin, tamper, probe, backtrack, ok } from \"./mod.ts\" as m\n  rule hog = m.hog()\n  rule spin = m.spin()\n  rule tamper = m.tamper()\n  rule probe = m.probe([1, 2])\n  rule backtrack = m.backtrack(s)\n  rule ok = m.ok()\n  rule size = count(s)\n  export decision of hog\n  export decision of spin\n  export decision of tamper\n  export decision of probe\n  export decision of backtrack\n  export decision of ok\n  export decision of size\n}\n";

fn module_pack(name: &str) -> std::path::PathBuf {
    let dir = tmp(name);
    write_pack(&dir, POLICY);
    std::fs::write(dir.join("mod.ts"), MODULE).unwrap();
    dir
}

fn value(r: &Resp) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["decisions"][0]["decision"]["value"].clone()
}

fn error(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

/// A memory figure of the server process (`VmRSS`, `VmHWM` for the peak), from `/proc`.
fn memory_bytes(s: &Server, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn module_memory_is_bounded_for_the_whole_server() {
    let dir = module_pack("module-memory");
    // Two threads sharing 32 MiB: each runtime may use 16 MiB.
    let s = Server::start(
        &dir,
        &[
            "--module-threads",
            "2",
            "--module-memory-bytes",
            "33554432",
            "--decision-timeout-ms",
            "5000",
        ],
    );
    assert_eq!(value(&s.decide("t/p/ok", "{}")), 1);
    let base = memory_bytes(&s, "VmRSS:");
    let port = s.port;
    // Many hogs at once: each fails on its own runtime's share; the process stays small.
    let hogs: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || request(port, "POST", "/decision/t/p/hog", &[], b"{}")))
        .collect();
    for h in hogs {
        let r = h.join().unwrap();
        if r.status == 200 {
            assert!(
                error(&r).contains("module"),
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        } else {
            assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        }
    }
    assert_eq!(value(&s.decide("t/p/ok", "{}")), 1);
    // The peak stays within the 32 MiB budget (plus slack for the allocator and the 1 MiB
    // strings being copied), far from the 2 × 64 MiB of default-sized runtimes.
    let peak = memory_bytes(&s, "VmHWM:");
    eprintln!("base {base}, peak {peak}");
    assert!(peak < base + 64 * 1024 * 1024, "base {base}, peak {peak}");
}

#[test]
fn a_full_module_queue_is_answered_with_503_at_once() {
    let dir = module_pack("module-queue");
    let s = Server::start(
        &dir,
        &["--module-threads", "1", "--decision-timeout-ms", "1000"],
    );
    let port = s.port;
    // One thread and four queue places: of eight concurrent spinners, five run (in turn) and
    // three are refused at once; four when the requests arrive before the thread has taken
    // the first one from the queue.
    let spinners: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = request(port, "POST", "/decision/t/p/spin", &[], b"{}");
                (r, started.elapsed())
            })
        })
        .collect();
    let mut refused = 0;
    for h in spinners {
        let (r, took) = h.join().unwrap();
        if r.status == 503 {
            refused += 1;
            assert!(took < Duration::from_secs(1), "{took:?}");
            assert!(r.json()["detail"].as_str().unwrap().contains("module"));
        } else {
            assert!(
                error(&r).contains("deadline"),
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    assert!((3..=4).contains(&refused), "{refused} refused");
    assert_eq!(value(&s.decide("t/p/ok", "{}")), 1);
}

#[test]
fn modules_cannot_change_built_ins_between_requests() {
    let dir = module_pack("module-frozen");
    let s = Server::start(&dir, &["--module-threads", "1"]);
    assert_eq!(value(&s.decide("t/p/probe", "{}")), false);
    assert!(error(&s.decide("t/p/tamper", "{}")).contains("read-only"));
    // Same thread, same runtime: the change did not happen.
    assert_eq!(value(&s.decide("t/p/probe", "{}")), false);
}

#[test]
fn regex_backtracking_stops_at_the_decision_deadline() {
    let dir = module_pack("module-regex");
    let s = Server::start(&dir, &["--decision-timeout-ms", "300"]);
    let facts = format!("{{\"s\": \"{}!\"}}", "a".repeat(40));
    let started = Instant::now();
    let err = error(&s.decide("t/p/backtrack", &facts));
    assert!(err.contains("deadline"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(value(&s.decide("t/p/backtrack", r#"{"s": "aaa"}"#)), true);
    assert_eq!(value(&s.decide("t/p/ok", "{}")), 1);
}

#[test]
fn a_module_too_deep_to_transpile_never_replaces_the_pack() {
    let dir = module_pack("module-deep-reload");
    let s = Server::start(&dir, &["--watch", "--watch-interval-ms", "50"]);
    assert_eq!(value(&s.decide("t/p/ok", "{}")), 1);
    let deep = format!(
        "{MODULE}export const x = {}1{};\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(dir.join("mod.ts"), deep).unwrap();
    eventually("the refused reload", || {
        let h = s.req("GET", "/health", &[], b"").json();
        h["status"] == "degraded"
            && h["last_reload_error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("nests more than"))
    });
    assert_eq!(value(&s.decide("t/p/ok", "{}")), 1);
    std::fs::write(dir.join("mod.ts"), MODULE).unwrap();
    eventually("the good reload", || {
        s.req("GET", "/health", &[], b"").json()["status"] == "healthy"
    });
}

fn shrinks(s: &Server) -> u64 {
    metric(s, "sentrie_arena_shrinks_total").unwrap()
}

#[test]
fn arenas_grown_by_a_huge_request_are_freed() {
    let dir = tmp("arena");
    write_pack(&dir, POLICY_V1);
    let s = Server::start(&dir, &["--arena-keep-bytes", "1048576"]);
    assert_eq!(version(&s), 1);
    assert_eq!(shrinks(&s), 0);
    let big = format!("{{\"facts\": {{\"blob\": \"{}\"}}}}", "x".repeat(4 << 20));
    let r = s.req("POST", "/decision/t/p/version", &[], big.as_bytes());
    assert_eq!(r.status, 200);
    // The arena was freed right after that decision; small ones keep theirs.
    assert_eq!(shrinks(&s), 1);
    for _ in 0..8 {
        assert_eq!(version(&s), 1);
    }
    assert_eq!(shrinks(&s), 1);
}
