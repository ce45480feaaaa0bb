//! Integration tests of `sentrie serve`: the real binary on 127.0.0.1 with an ephemeral port,
//! driven by a minimal HTTP/1.1 client. Every endpoint, error status and body, CORS, request
//! ids, limits, the decision log, hot reload (file change, SIGHUP, broken pack) and a swap
//! under load.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn endpoints_statuses_and_headers() {
    let s = Server::start(&repo().join("examples/rbac"), &[]);
    let facts = r#"{"user":{"id":"u1","roles":["editor"]},"resource":{"owner":"u2","kind":"doc"},"action":"write"}"#;
    let ok = s.decide("example/rbac/documents/allow", facts);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    assert_eq!(ok.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        ok.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    assert_eq!(
        ok.header("access-control-allow-headers"),
        Some("Content-Type")
    );
    let body = ok.json();
    assert_eq!(
        body["decisions"][0]["decision"],
        serde_json::json!({"state": "TRUE", "value": true})
    );
    assert!(body.get("error").is_none());

    // Percent-encoding and empty segments resolve to the same target; query strings are ignored.
    for path in [
        "/decision/example%2Frbac/documents/allow",
        "/decision//example//rbac/documents/allow/",
        "/decision/example/rbac/documents/allow?x=1",
    ] {
        let r = s.req(
            "POST",
            path,
            &[],
            format!("{{\"facts\": {facts}}}").as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}");
    }

    // Runtime errors: 200 with `error`, failed rules UNKNOWN.
    let failed = s.decide("example/rbac/documents", "{}");
    assert_eq!(failed.status, 200);
    let v = failed.json();
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("example/rbac/documents/allow: required fact not found: user"));
    assert_eq!(v["decisions"].as_array().unwrap().len(), 4);
    assert_eq!(v["decisions"][0]["decision"]["state"], "UNKNOWN");

    // Request ids: echoed when valid, replaced otherwise, and used as `instance`.
    let r = s.req(
        "POST",
        "/decision/nope/x",
        &[("X-Request-Id", "req-42.a:b")],
        b"{}",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-request-id"), Some("req-42.a:b"));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["instance"], "req-42.a:b");
    assert_eq!(p["type"], "https://sentrie.sh/problems/404");
    assert_eq!(p["title"], "Invalid Path");
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("namespace not found: nope/x"));
    assert!(p["timestamp"].as_str().unwrap().ends_with('Z'));
    let bad_id = s.req("GET", "/health", &[("X-Request-Id", "has space")], b"");
    assert_ne!(bad_id.header("x-request-id"), Some("has space"));
    assert_eq!(bad_id.header("x-request-id").unwrap().len(), 36);

    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        ("POST", "/decision", b"{}", 400, "Invalid Path"),
        ("POST", "/decision/", b"{}", 400, "Invalid Path"),
        (
            "POST",
            "/decision/example/rbac/nope",
            b"{}",
            404,
            "Invalid Path",
        ),
        (
            "POST",
            "/decision/example/rbac/documents/isAdmin",
            b"{}",
            404,
            "Invalid Path",
        ),
        (
            "POST",
            "/decision/example/rbac/documents/allow/extra",
            b"{}",
            404,
            "Invalid Path",
        ),
        (
            "POST",
            "/decision/example/rbac/../documents",
            b"{}",
            404,
            "Invalid Path",
        ),
        (
            "POST",
            "/decision/example/rbac/%2e%2e/documents",
            b"{}",
            404,
            "Invalid Path",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"",
            400,
            "Invalid JSON",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"[1]",
            400,
            "Invalid JSON",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"{\"facts\": [1]}",
            400,
            "Invalid JSON",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"{} trailing",
            400,
            "Invalid JSON",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"{\"facts\": {\"a\": \"\xff\xfe\"}}",
            400,
            "Invalid JSON",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"{\"facts\": {\"n\": 1e400}}",
            400,
            "Invalid JSON",
        ),
        (
            "POST",
            "/decision/example/rbac/documents",
            b"{\"facts\": {\"a\":",
            400,
            "Invalid JSON",
        ),
        (
            "GET",
            "/decision/example/rbac/documents",
            b"",
            405,
            "Method Not Allowed",
        ),
        ("DELETE", "/decision/x", b"", 405, "Method Not Allowed"),
        ("POST", "/health", b"", 405, "Method Not Allowed"),
        ("GET", "/nowhere", b"", 404, "Not Found"),
    ];
    for (method, path, body, status, title) in cases {
        let r = s.req(method, path, &[], body);
        assert_eq!(r.status, *status, "{method} {path}");
        assert_eq!(r.json()["title"], *title, "{method} {path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    assert_eq!(
        s.req("GET", "/decision/x", &[], b"").header("allow"),
        Some("POST, OPTIONS")
    );
    assert_eq!(
        s.req("PUT", "/health", &[], b"").header("allow"),
        Some("GET, HEAD")
    );
    let deep = format!(
        "{{\"facts\": {{\"a\": {}1{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        s.req(
            "POST",
            "/decision/example/rbac/documents",
            &[],
            deep.as_bytes()
        )
        .status,
        400
    );

    let pre = s.req("OPTIONS", "/decision/anything/at/all", &[], b"");
    assert_eq!(pre.status, 200);
    assert!(pre.body.is_empty());
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );

    let health = s.req("GET", "/health", &[], b"");
    assert_eq!(health.status, 200);
    let h = health.json();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["pack"]["name"], "rbac-quickstart");
    assert_eq!(h["pack"]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(s.req("HEAD", "/health", &[], b"").status, 200);

    let metrics = String::from_utf8(s.req("GET", "/metrics", &[], b"").body).unwrap();
    assert!(metrics.contains("sentrie_http_requests_total{route=\"decision\",status=\"200\"}"));
    assert!(metrics.contains("sentrie_http_requests_total{route=\"decision\",status=\"405\"}"));
    assert!(metrics.contains("sentrie_decision_duration_seconds_count"));
    assert!(metrics.contains("sentrie_decision_log_dropped_total 0"));
    let api = s.req("GET", "/openapi.json", &[], b"").json();
    assert_eq!(api["openapi"], "3.0.3");
    assert!(api["paths"]["/decision/{target}"]["post"].is_object());
}

#[test]
fn body_limit_and_oversized_bodies() {
    let s = Server::start(&repo().join("examples/rbac"), &["--max-body-bytes", "2000"]);
    let big = format!("{{\"facts\": {{\"pad\": \"{}\"}}}}", "x".repeat(5000));
    let r = s.req(
        "POST",
        "/decision/example/rbac/documents",
        &[],
        big.as_bytes(),
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["title"], "Payload Too Large");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("request body exceeds"));
    drop(s);
    // The default limit is 10 MiB: a 12 MB body is refused without harming the server.
    let s = Server::start(&repo().join("examples/rbac"), &[]);
    let huge = vec![b' '; 12 * 1024 * 1024];
    assert_eq!(
        s.req("POST", "/decision/example/rbac/documents", &[], &huge)
            .status,
        413
    );
    assert_eq!(s.req("GET", "/health", &[], b"").status, 200);
}

#[test]
fn http_decisions_equal_exec_output() {
    let mut roots = vec![repo().join("tests/cases")];
    let shared = repo().parent().unwrap().join("shared/conformance/cases");
    if shared.is_dir() {
        roots.push(shared);
    }
    let mut compared = 0;
    for root in roots {
        let mut groups: Vec<PathBuf> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        groups.sort();
        for group in groups {
            let name = group.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("error") || name.contains("ts-modules") {
                continue;
            }
            let cases: serde_json::Value =
                serde_json::from_slice(&std::fs::read(group.join("cases.json")).unwrap()).unwrap();
            let s = Server::start(&group.join("pack"), &[]);
            for case in cases.as_array().unwrap() {
                let target = case["target"].as_str().unwrap();
                let facts = case["facts"].to_string();
                let exec = Command::new(env!("CARGO_BIN_EXE_sentrie"))
                    .args(["exec", target, "--pack-location"])
                    .arg(group.join("pack"))
                    .args(["--facts", &facts, "--output", "json"])
                    .output()
                    .unwrap();
                let http = s.decide(target, &facts);
                if exec.stdout.is_empty() {
                    // The target does not resolve: exec fails with no output, HTTP says 404.
                    assert_eq!(exec.status.code(), Some(1), "{name}: {target}");
                    assert_eq!(http.status, 404, "{name}: {target}");
                    continue;
                }
                let mut from_exec: serde_json::Value =
                    serde_json::from_slice(&exec.stdout).unwrap();
                // `exec` gives a failed rule its own `error`; HTTP reports it once for the
                // request. Otherwise the objects are the same.
                let mut failed = 0;
                for d in from_exec.as_array_mut().unwrap() {
                    failed += usize::from(d.as_object_mut().unwrap().remove("error").is_some());
                }
                assert_eq!(http.status, 200, "{name}/{target}");
                let from_http = http.json()["decisions"].clone();
                // Same values, and the same bytes once both are printed compactly.
                assert_eq!(from_exec, from_http, "{name}: {target}");
                assert_eq!(
                    serde_json::to_string(&from_exec).unwrap(),
                    serde_json::to_string(&from_http).unwrap()
                );
                assert_eq!(
                    exec.status.code() == Some(0),
                    http.json().get("error").is_none(),
                    "{name}: {target}"
                );
                assert_eq!(
                    failed == 0,
                    exec.status.code() == Some(0),
                    "{name}: {target}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 50, "only {compared} cases compared");
}

#[test]
fn reload_on_change_keeps_serving_through_a_broken_pack() {
    let dir = tmp("watch");
    write_pack(&dir, POLICY_V1);
    let s = Server::start(&dir, &["--watch", "--watch-interval-ms", "50"]);
    assert_eq!(version(&s), 1);
    let hash1 = s.req("GET", "/health", &[], b"").json()["pack"]["hash"].clone();
    write_pack(
        &dir,
        &POLICY_V1.replace("rule version = 1", "rule version = 2"),
    );
    eventually("reload to version 2", || version(&s) == 2);
    assert_ne!(
        s.req("GET", "/health", &[], b"").json()["pack"]["hash"],
        hash1
    );
    // A broken pack is rejected: the previous one keeps answering.
    write_pack(&dir, "namespace t\npolicy p {\n  rule version = \n}\n");
    eventually("the failed reload to be counted", || {
        String::from_utf8(s.req("GET", "/metrics", &[], b"").body)
            .unwrap()
            .contains("sentrie_pack_reload_failures_total 1")
    });
    assert_eq!(version(&s), 2);
    write_pack(
        &dir,
        &POLICY_V1.replace("rule version = 1", "rule version = 3"),
    );
    eventually("reload to version 3", || version(&s) == 3);
    // Deleting the pack while serving: the reload fails, the server keeps answering.
    std::fs::remove_dir_all(&dir).unwrap();
    eventually("the second failed reload", || {
        String::from_utf8(s.req("GET", "/metrics", &[], b"").body)
            .unwrap()
            .contains("sentrie_pack_reload_failures_total 2")
    });
    assert_eq!(version(&s), 3);
    let log = s.log.lock().unwrap().clone();
    assert!(log.contains("reload rejected"), "{log}");
}

/// A pack whose policy has a policy error (a fact of an unknown shape): it loads, but the
/// policy would answer every request with an error.
fn with_policy_error(version: i64) -> String {
    POLICY_V1
        .replace("policy p {\n", "policy p {\n  fact extra?: Missing\n")
        .replace("rule version = 1", &format!("rule version = {version}"))
}

#[test]
fn a_reload_into_policy_errors_is_refused_and_reported_until_fixed() {
    let dir = tmp("policy-errors");
    write_pack(&dir, POLICY_V1);
    let s = Server::start(&dir, &["--watch", "--watch-interval-ms", "50"]);
    assert_eq!(version(&s), 1);
    let health = |s: &Server| s.req("GET", "/health", &[], b"").json();
    assert_eq!(health(&s)["status"], "healthy");
    write_pack(&dir, &with_policy_error(2));
    eventually("the refused reload", || health(&s)["status"] == "degraded");
    let h = health(&s);
    let message = h["last_reload_error"]["message"].as_str().unwrap();
    assert!(message.contains("shape not found: Missing"), "{h}");
    assert!(
        h["last_reload_error"]["time"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{h}"
    );
    // Decisions are unchanged: the previous pack keeps answering.
    assert_eq!(version(&s), 1);
    let ok = s.decide("t/p/ok", r#"{"user": {"role": "admin"}}"#);
    assert_eq!(ok.json()["decisions"][0]["decision"]["state"], "TRUE");
    // A good pack: healthy again.
    write_pack(
        &dir,
        &POLICY_V1.replace("rule version = 1", "rule version = 3"),
    );
    eventually("reload to version 3", || version(&s) == 3);
    let h = health(&s);
    assert_eq!(h["status"], "healthy", "{h}");
    assert!(h.get("last_reload_error").is_none(), "{h}");
}

#[test]
fn the_watcher_does_not_follow_symlink_loops_or_links_out_of_the_pack() {
    let dir = tmp("links");
    write_pack(&dir, POLICY_V1);
    let outside = tmp("links-outside");
    std::fs::write(outside.join("big.txt"), "x").unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("out")).unwrap();
    let s = Server::start(&dir, &["--watch", "--watch-interval-ms", "50"]);
    assert_eq!(version(&s), 1);
    // Changes outside the pack are not pack changes; changes inside still reload.
    std::fs::write(outside.join("big.txt"), "changed").unwrap();
    write_pack(
        &dir,
        &POLICY_V1.replace("rule version = 1", "rule version = 2"),
    );
    eventually("reload to version 2", || version(&s) == 2);
    assert_eq!(
        s.req("GET", "/health", &[], b"").json()["status"],
        "healthy"
    );
}

#[test]
fn policy_errors_are_refused_at_start_unless_allowed() {
    let dir = tmp("start-policy-errors");
    write_pack(&dir, &with_policy_error(5));
    let out = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .arg("serve")
        .arg(&dir)
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shape not found: Missing") && err.contains("--allow-policy-errors"),
        "{err}"
    );
    // Allowed: it serves, and the policy with the error answers with it.
    let s = Server::start(&dir, &["--allow-policy-errors"]);
    let r = s.decide("t/p/version", "{}");
    assert_eq!(r.status, 200);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("shape not found: Missing"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[test]
fn sighup_reloads_and_a_swap_under_load_loses_nothing() {
    let dir = tmp("hup");
    write_pack(&dir, POLICY_V1);
    let s = Server::start(&dir, &[]);
    assert_eq!(version(&s), 1);
    write_pack(
        &dir,
        &POLICY_V1.replace("rule version = 1", "rule version = 2"),
    );
    s.signal("-HUP");
    eventually("SIGHUP reload", || version(&s) == 2);

    // Several clients hammer the server while the pack is swapped back and forth.
    let port = s.port;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let stop = Arc::clone(&stop);
        clients.push(std::thread::spawn(move || {
            let (mut ok, mut bad) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || ok < 500 {
                let r = request(
                    port,
                    "POST",
                    "/decision/t/p",
                    &[],
                    br#"{"facts":{"user":{"role":"admin"}}}"#,
                );
                let good = r.status == 200 && {
                    let v = r.json();
                    v.get("error").is_none() && v["decisions"][1]["decision"]["value"] == true
                };
                if good {
                    ok += 1;
                } else {
                    bad += 1;
                }
                if ok + bad >= 2500 {
                    break;
                }
            }
            (ok, bad)
        }));
    }
    for i in 0..6 {
        std::thread::sleep(Duration::from_millis(60));
        write_pack(
            &dir,
            &POLICY_V1.replace("rule version = 1", &format!("rule version = {}", 10 + i)),
        );
        s.signal("-HUP");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut bad) = (0, 0);
    for c in clients {
        let (o, b) = c.join().unwrap();
        ok += o;
        bad += b;
    }
    assert_eq!(bad, 0, "{bad} failed responses out of {}", ok + bad);
    assert!(ok >= 2000, "only {ok} requests");
    eventually("last reload", || version(&s) == 15);
}

#[test]
fn decision_log_records_every_decision_and_flushes_on_shutdown() {
    let dir = tmp("log");
    write_pack(&dir, POLICY_V1);
    let log_path = dir.join("decisions.jsonl");
    let s = Server::start(
        &dir,
        &[
            "--decision-log",
            log_path.to_str().unwrap(),
            "--decision-log-facts",
            "hash",
        ],
    );
    for i in 0..200 {
        let r = s.req(
            "POST",
            "/decision/t/p",
            &[("X-Request-Id", &format!("r{i}"))],
            br#"{"facts":{"user":{"role":"dev"}}}"#,
        );
        assert_eq!(r.status, 200);
    }
    s.signal("-TERM");
    let (code, _) = s.wait_exit();
    assert_eq!(code, Some(0));
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 200);
    let first = &lines[0];
    assert_eq!(first["type"], "decision");
    assert_eq!(first["request_id"], "r0");
    assert_eq!(first["target"], "/t/p");
    assert_eq!(first["pack"]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(first["pack"]["name"], "srv");
    assert_eq!(first["pack"]["version"], "1.0.0");
    assert!(first["duration_us"].is_u64());
    // RFC 3339 with milliseconds; ids are UUID v7, one per request.
    assert_eq!(first["time"].as_str().unwrap().len(), 24);
    assert_eq!(&first["decision_id"].as_str().unwrap()[14..15], "7");
    assert_ne!(first["decision_id"], lines[1]["decision_id"]);
    assert_eq!(first["facts_sha256"].as_str().unwrap().len(), 64);
    assert!(first.get("facts").is_none());
    assert_eq!(first["decisions"][1]["attachments"]["role"], "dev");
}

#[test]
fn startup_errors_exit_1() {
    let dir = tmp("broken");
    write_pack(&dir, "namespace t\npolicy p {\n}\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .arg("serve")
        .arg(&dir)
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not export any rules"));
    let ok = tmp("listen");
    write_pack(&ok, POLICY_V1);
    let bad = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .arg("serve")
        .arg(&ok)
        .args(["--port", "0", "--listen", "local,127.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn idle_connections_do_not_starve_requests() {
    let s = Server::start(&repo().join("examples/rbac"), &[]);
    // Stay well under the per-process descriptor limit of the test runner.
    let mut idle = Vec::new();
    for _ in 0..1500 {
        match TcpStream::connect(("127.0.0.1", s.port)) {
            Ok(c) => idle.push(c),
            Err(_) => break,
        }
    }
    assert!(
        idle.len() >= 500,
        "only {} idle connections opened",
        idle.len()
    );
    // Half-sent requests on some of them: headers without the body.
    for c in idle.iter_mut().take(200) {
        let _ = c.write_all(
            b"POST /decision/example/rbac/documents HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"fa",
        );
    }
    let r = s.req("GET", "/health", &[], b"");
    assert_eq!(r.status, 200);
    let facts = r#"{"user":{"id":"u1","roles":["admin"]},"resource":{"owner":"u2","kind":"doc"},"action":"delete"}"#;
    assert_eq!(
        s.decide("example/rbac/documents/allow", facts).json()["decisions"][0]["decision"]["value"],
        true
    );
    drop(idle);
    assert_eq!(s.req("GET", "/health", &[], b"").status, 200);
}

#[test]
fn a_hostile_module_does_not_stop_the_server() {
    let dir = tmp("hostile");
    write_pack(&dir, "namespace t\npolicy p {\n  use { spin } from \"./spin.ts\" as m\n  rule loop = m.spin()\n  rule ok = 1\n  export decision of loop\n  export decision of ok\n}\n");
    std::fs::write(
        dir.join("spin.ts"),
        "export function spin(): number { for (;;) {} }\n",
    )
    .unwrap();
    let s = Server::start(&dir, &[]);
    let port = s.port;
    let spinner =
        std::thread::spawn(move || request(port, "POST", "/decision/t/p/loop", &[], b"{}"));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(s.req("GET", "/health", &[], b"").status, 200);
        let r = s.decide("t/p/ok", "{}");
        assert_eq!(r.json()["decisions"][0]["decision"]["value"], 1);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "other requests waited {:?}",
        started.elapsed()
    );
    let spun = spinner.join().unwrap();
    assert_eq!(spun.status, 200);
    // Stopped by the decision deadline (`--decision-timeout-ms`, 1 s), not the 5 s call limit.
    assert!(spun.json()["error"]
        .as_str()
        .unwrap()
        .contains("evaluation deadline exceeded"));
}

#[test]
fn serves_and_hot_reloads_a_compiled_pack() {
    let src = tmp("compiled-src");
    write_pack(&src, POLICY_V1);
    let out = tmp("compiled-out").join("pack.spk");
    let compile = |policy: &str| {
        write_pack(&src, policy);
        let tmp_out = out.with_extension("new");
        let st = Command::new(env!("CARGO_BIN_EXE_sentrie"))
            .args(["compile"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp_out)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::rename(&tmp_out, &out).unwrap();
    };
    compile(POLICY_V1);
    let s = Server::start(&out, &["--watch", "--watch-interval-ms", "50"]);
    assert_eq!(version(&s), 1);
    let hash = |s: &Server| {
        s.req("GET", "/health", &[], b"").json()["pack"]["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let h1 = hash(&s);
    // The content hash: the one `validate` reports for the sources the pack was compiled from.
    let validated = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .args(["validate", "--pack-location"])
        .arg(&src)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&validated.stderr);
    assert!(
        text.contains(&format!("content sha256 {h1}")),
        "health reports the pack's content hash: {h1} / {text}"
    );
    compile(&POLICY_V1.replace("rule version = 1", "rule version = 7"));
    eventually("reload of the compiled pack", || version(&s) == 7);
    assert_ne!(hash(&s), h1);
    // A damaged artifact is rejected; the previous program keeps serving.
    std::fs::write(&out, b"SNTRPACK\x01\x00\x00\x00garbage").unwrap();
    eventually("the failed reload", || {
        String::from_utf8(s.req("GET", "/metrics", &[], b"").body)
            .unwrap()
            .contains("sentrie_pack_reload_failures_total 1")
    });
    assert_eq!(version(&s), 7);
}

#[test]
fn the_decision_log_is_reopened_on_sigusr1_and_sighup() {
    let dir = tmp("rotate");
    write_pack(&dir, POLICY_V1);
    let log = dir.join("decisions.jsonl");
    let s = Server::start(&dir, &["--decision-log", log.to_str().unwrap()]);
    assert_eq!(version(&s), 1);
    eventually("the first line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 1)
    });
    // Rotate: move the file away, signal, and the next line goes to a new file at the path.
    for (i, sig) in ["-USR1", "-HUP"].iter().enumerate() {
        let rotated = dir.join(format!("decisions.{i}.jsonl"));
        std::fs::rename(&log, &rotated).unwrap();
        s.signal(sig);
        eventually("the signal to be handled", || {
            s.log
                .lock()
                .unwrap()
                .matches("reopening the decision log")
                .count()
                > i
        });
        assert_eq!(version(&s), 1);
        eventually("a line in the reopened file", || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 1)
        });
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap().lines().count(),
            1,
            "the rotated file keeps its line"
        );
    }
    assert_eq!(
        metric(&s, "sentrie_decision_log_write_failures_total"),
        Some(0)
    );
}

#[test]
fn failed_decision_log_writes_are_counted_as_failed() {
    let dir = tmp("full");
    write_pack(&dir, POLICY_V1);
    // Every write to /dev/full fails with "no space left on device".
    let s = Server::start(&dir, &["--decision-log", "/dev/full"]);
    assert_eq!(version(&s), 1);
    assert_eq!(version(&s), 1);
    eventually("the failed writes", || {
        metric(&s, "sentrie_decision_log_write_failures_total") == Some(2)
    });
    assert_eq!(metric(&s, "sentrie_decision_log_written_total"), Some(0));
}

#[test]
fn a_file_size_limit_does_not_kill_the_server() {
    let dir = tmp("fsize");
    write_pack(&dir, POLICY_V1);
    let log = dir.join("decisions.jsonl");
    // `ulimit -f 1`: files may grow to 1 KiB; the write past it raises SIGXFSZ.
    let s = Server::start_with_shell(
        "ulimit -f 1",
        &dir,
        &[
            "--decision-log",
            log.to_str().unwrap(),
            "--decision-log-facts",
            "full",
        ],
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(600));
    for _ in 0..4 {
        let r = s.decide("t/p/version", &big);
        assert_eq!(r.status, 200);
    }
    eventually("a failed write", || {
        metric(&s, "sentrie_decision_log_write_failures_total").is_some_and(|n| n > 0)
    });
    // Still alive and answering.
    assert_eq!(version(&s), 1);
}

/// Sends raw request bytes and returns the status line of the answer (or "" when the server
/// closed the connection without one).
fn raw_status(port: u16, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let mut buf = [0u8; 256];
    while !raw.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&raw)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn slow_and_oversized_bodies_are_refused_without_holding_the_server() {
    let dir = tmp("slow-bodies");
    write_pack(&dir, POLICY_V1);
    let s = Server::start(
        &dir,
        &["--max-body-bytes", "1000", "--body-timeout-ms", "300"],
    );
    // A declared length over the limit: 413 before any of the body is sent.
    let status = raw_status(
        s.port,
        "POST /decision/t/p/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 99999999999\r\n\r\n",
        b"",
    );
    assert!(status.contains(" 413 "), "{status}");
    // A body that stops arriving (declared length, and chunked): 408 after the body timeout.
    let status = raw_status(
        s.port,
        "POST /decision/t/p/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n",
        b"{\"facts\"",
    );
    assert!(status.contains(" 408 "), "{status}");
    let status = raw_status(
        s.port,
        "POST /decision/t/p/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5\r\n{\"fac\r\n",
    );
    assert!(status.contains(" 408 "), "{status}");
    // The server is fine.
    assert_eq!(version(&s), 1);
}

#[test]
fn the_decision_log_queue_is_bounded_by_bytes() {
    let dir = tmp("log-bytes");
    write_pack(&dir, POLICY_V1);
    let log = dir.join("decisions.jsonl");
    let s = Server::start(
        &dir,
        &[
            "--decision-log",
            log.to_str().unwrap(),
            "--decision-log-queue-bytes",
            "2000",
            "--decision-log-on-full",
            "drop",
        ],
    );
    // A line that alone exceeds the budget is dropped and counted; small ones are written,
    // and the log says how many were lost.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    assert_eq!(s.decide("t/p/version", &big).status, 200);
    assert_eq!(version(&s), 1);
    eventually("one line written, one dropped", || {
        metric(&s, "sentrie_decision_log_written_total") == Some(1)
            && metric(&s, "sentrie_decision_log_dropped_total") == Some(1)
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!text.contains("xxxxx"));
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["type"], "dropped");
    assert_eq!(lines[0]["count"], 1);
    assert_eq!(lines[1]["type"], "decision");
    drop(s);
    // In `block` mode (the default) the same requests lose nothing: the large line waits
    // for an empty queue.
    let _ = std::fs::remove_file(&log);
    let s = Server::start(
        &dir,
        &[
            "--decision-log",
            log.to_str().unwrap(),
            "--decision-log-queue-bytes",
            "2000",
        ],
    );
    assert_eq!(s.decide("t/p/version", &big).status, 200);
    assert_eq!(version(&s), 1);
    eventually("both lines written", || {
        metric(&s, "sentrie_decision_log_written_total") == Some(2)
    });
    assert_eq!(metric(&s, "sentrie_decision_log_dropped_total"), Some(0));
    assert!(std::fs::read_to_string(&log).unwrap().contains("xxxxx"));
}
