//! The audit loop under `sentrie serve`: decision ids that tie responses to log lines, masked
//! facts, and a lossless log under load in `block` mode.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

mod support;

use std::collections::HashSet;

use support::*;

const MANIFEST_WITH_MASK: &str = "[schema]\nversion = 1\n\n[pack]\nname = \"srv\"\nversion = \"1.0.0\"\n\n[decision_log]\nmask = [\"/req/prompt\"]\n";

#[test]
fn decision_ids_tie_responses_to_log_lines_and_masks_apply() {
    let dir = tmp("audit-ids");
    write_pack(&dir, POLICY_V1);
    std::fs::write(dir.join("sentrie.pack.toml"), MANIFEST_WITH_MASK).unwrap();
    let log = dir.join("decisions.jsonl");
    let s = Server::start(
        &dir,
        &[
            "--decision-log",
            log.to_str().unwrap(),
            "--decision-log-mask",
            "/user/ssn",
        ],
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        let facts = format!(
            r#"{{"user": {{"role": "admin", "ssn": "123-{i}"}}, "req": {{"prompt": "secret {i}", "n": {i}}}}}"#
        );
        let r = s.decide("t/p", &facts);
        assert_eq!(r.status, 200);
        let id = r.json()["decision_id"].as_str().unwrap().to_string();
        assert_eq!(r.header("x-decision-id"), Some(id.as_str()));
        assert_eq!(&id[14..15], "7", "UUID v7: {id}");
        // The rest of the body is the decisions, as without a log.
        assert_eq!(r.json()["decisions"][1]["decision"]["value"], true);
        ids.push(id);
    }
    s.signal("-TERM");
    let (code, _) = s.wait_exit();
    assert_eq!(code, Some(0));
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 20);
    for (line, id) in lines.iter().zip(&ids) {
        // A policy target's two rules share the request's one line and id.
        assert_eq!(line["decision_id"].as_str(), Some(id.as_str()));
        assert_eq!(line["decisions"].as_array().map(Vec::len), Some(2));
        assert_eq!(line["facts"]["user"]["ssn"], "[masked]");
        assert_eq!(line["facts"]["req"]["prompt"], "[masked]");
        assert_eq!(line["facts"]["user"]["role"], "admin");
        let masked: HashSet<&str> = line["masked"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(masked, HashSet::from(["/user/ssn", "/req/prompt"]));
    }
    // Neither masked value appears anywhere (as a JSON string `"123-…`: a bare `123-` can be
    // part of a random UUID).
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("secret") && !text.contains("\"123-"));
}

#[test]
fn block_mode_loses_no_line_under_load() {
    let dir = tmp("audit-load");
    write_pack(&dir, POLICY_V1);
    let log = dir.join("decisions.jsonl");
    // A queue of a few lines only, so that requests really wait for the writer.
    let s = Server::start(
        &dir,
        &[
            "--decision-log",
            log.to_str().unwrap(),
            "--decision-log-on-full",
            "block",
            "--decision-log-queue-bytes",
            "4096",
        ],
    );
    let port = s.port;
    let per_conn = 20_000 / 64 + 1;
    let workers: Vec<_> = (0..64)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(port);
                let mut ids = Vec::new();
                for i in 0..per_conn {
                    if c * per_conn + i >= 20_000 {
                        break;
                    }
                    // Half the requests by admins, half by developers.
                    let role = if i % 2 == 0 { "admin" } else { "dev" };
                    let body = format!(r#"{{"facts": {{"user": {{"role": "{role}"}}}}}}"#);
                    let r = conn.post("/decision/t/p/ok", body.as_bytes());
                    assert_eq!(r.status, 200);
                    ids.push(r.header("x-decision-id").unwrap().to_string());
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(ids.len(), 20_000);
    s.signal("-TERM");
    let (code, _) = s.wait_exit();
    assert_eq!(code, Some(0));
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 20_000);
    let mut logged: Vec<String> = lines
        .iter()
        .map(|l| l["decision_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    logged.sort();
    assert_eq!(ids, logged);
    assert!(lines.iter().all(|l| l["type"] == "decision"));
    let admins = lines
        .iter()
        .filter(|l| l["facts"]["user"]["role"] == "admin")
        .count();

    // Replayed against the pack each line names: all equal.
    let same = replay(&[log.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(
        stdout(&same).contains("20000 equal, 0 different, 0 skipped"),
        "{}",
        stdout(&same)
    );
    // Against a copy with the rule changed: exactly the admins' decisions differ, listed.
    let changed = tmp("audit-load-changed");
    write_pack(
        &changed,
        &POLICY_V1.replace("user.role == \"admin\"", "user.role == \"root\""),
    );
    let diff = replay(&[
        log.to_str().unwrap(),
        "--pack-location",
        changed.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(diff.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&diff)).unwrap();
    assert_eq!(report["different"], admins);
    assert_eq!(report["equal"], 20_000 - admins);
    let listed = report["differences"].as_array().unwrap();
    assert_eq!(listed.len(), admins);
    assert_eq!(listed[0]["diffs"][0]["rule"], "t/p/ok");
    assert_eq!(listed[0]["diffs"][0]["logged"], "TRUE");
    assert_eq!(listed[0]["diffs"][0]["replayed"], "FALSE");
    // The pack named in the log changed since: its lines are skipped, not misjudged.
    write_pack(
        &dir,
        &POLICY_V1.replace("rule version = 1", "rule version = 2"),
    );
    let moved = replay(&[log.to_str().unwrap()]);
    assert_eq!(moved.status.code(), Some(0));
    assert!(
        stdout(&moved).contains("0 equal, 0 different, 20000 skipped (20000 another pack)"),
        "{}",
        stdout(&moved)
    );
}

fn replay(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Lines that are not JSON, lines of other kinds and lines without facts are counted as
/// skipped, never a crash; an unreadable log is a usage error.
#[test]
fn replay_counts_what_it_cannot_replay() {
    let dir = tmp("replay-bad");
    let log = dir.join("mixed.jsonl");
    std::fs::write(
        &log,
        "not json\n{\"type\":\"dropped\",\"count\":2}\n{\"type\":\"decision\",\"facts_sha256\":\"00\"}\n\u{0}\u{1}\n{\"type\":\"decision\"\n",
    )
    .unwrap();
    let o = replay(&[log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "0 equal, 0 different, 5 skipped (1 not decisions, 1 no facts, 3 invalid)\n"
    );
    let missing = replay(&[dir.join("absent.jsonl").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot open"));
}

/// A candidate that flips one rule: its disagreements are counted and logged with both
/// outcomes and the decision id; the primary's answers are unchanged; the candidate reloads
/// under `--watch` (a candidate equal to the primary then agrees).
#[test]
fn a_shadow_pack_reports_disagreements_without_changing_answers() {
    let primary = tmp("shadow-primary");
    write_pack(&primary, POLICY_V1);
    let candidate = tmp("shadow-candidate");
    write_pack(
        &candidate,
        &POLICY_V1.replace("user.role == \"admin\"", "user.role == \"root\""),
    );
    let log = primary.join("decisions.jsonl");
    let s = Server::start(
        &primary,
        &[
            "--shadow",
            candidate.to_str().unwrap(),
            "--decision-log",
            log.to_str().unwrap(),
            "--watch",
            "--watch-interval-ms",
            "50",
        ],
    );
    let mut flipped = Vec::new();
    for i in 0..10 {
        let role = if i % 2 == 0 { "admin" } else { "dev" };
        let r = s.decide("t/p/ok", &format!(r#"{{"user": {{"role": "{role}"}}}}"#));
        assert_eq!(
            r.json()["decisions"][0]["decision"]["value"],
            role == "admin"
        );
        if role == "admin" {
            flipped.push(r.json()["decision_id"].as_str().unwrap().to_string());
        }
    }
    eventually("ten comparisons", || {
        metric(&s, "sentrie_shadow_agreements_total") == Some(5)
            && metric(&s, "sentrie_shadow_disagreements_total") == Some(5)
    });
    let health = s.req("GET", "/health", &[], b"").json();
    assert_eq!(health["shadow"]["name"], "srv");
    // The candidate catches up with the primary: from then on they agree.
    write_pack(&candidate, POLICY_V1);
    eventually("the candidate reload", || {
        let h = s.req("GET", "/health", &[], b"").json();
        h["shadow"]["hash"] == h["pack"]["hash"]
    });
    assert_eq!(
        s.decide("t/p/ok", r#"{"user": {"role": "admin"}}"#).status,
        200
    );
    eventually("one more agreement", || {
        metric(&s, "sentrie_shadow_agreements_total") == Some(6)
    });
    assert_eq!(metric(&s, "sentrie_shadow_disagreements_total"), Some(5));
    s.signal("-TERM");
    let (code, _) = s.wait_exit();
    assert_eq!(code, Some(0));
    let lines = json_lines(&log);
    let shadows: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "shadow").collect();
    assert_eq!(shadows.len(), 5);
    for (line, id) in shadows.iter().zip(&flipped) {
        assert_eq!(line["decision_id"].as_str(), Some(id.as_str()));
        assert_eq!(line["primary"]["decisions"][0]["decision"]["value"], true);
        assert_eq!(line["shadow"]["decisions"][0]["decision"]["value"], false);
        assert_ne!(line["pack"]["hash"], line["shadow_pack"]["hash"]);
    }
    assert_eq!(lines.iter().filter(|l| l["type"] == "decision").count(), 11);
}

/// `?explain=true` or `"explain": true`: each decision carries its trace; a `when` that is
/// false shows the default was used and where. Without it the decisions are as before.
#[test]
fn explain_shows_why_and_changes_nothing_else() {
    let dir = tmp("explain");
    write_pack(&dir, POLICY_V1);
    let s = Server::start(&dir, &[]);
    let facts = r#"{"facts": {"user": {"name": "ann"}}}"#;
    let plain = s.req("POST", "/decision/t/p/ok", &[], facts.as_bytes());
    let by_query = s.req(
        "POST",
        "/decision/t/p/ok?explain=true",
        &[],
        facts.as_bytes(),
    );
    let in_body = s.req(
        "POST",
        "/decision/t/p/ok",
        &[],
        br#"{"explain": true, "facts": {"user": {"name": "ann"}}}"#,
    );
    for r in [&by_query, &in_body] {
        let d = &r.json()["decisions"][0];
        let trace = &d["trace"];
        assert_eq!(trace["kind"], "rule", "{d}");
        assert_eq!(trace["when"]["holds"], false);
        assert_eq!(trace["outcome"], "default");
        assert_eq!(trace["default_location"], "p.sentrie:4:21");
        assert_eq!(trace["location"], "p.sentrie:4:8");
        // Apart from the trace, the decision is the plain one.
        let mut without = d.clone();
        without.as_object_mut().unwrap().remove("trace");
        assert_eq!(without, plain.json()["decisions"][0]);
    }
    // Without explain: the decisions and nothing but the decision id besides.
    let body = plain.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["decision_id", "decisions"]);
    assert!(body["decisions"][0].get("trace").is_none());
}

/// A small HTTP collector on loopback: answers 503 to the first `fail_first` posts, then
/// 200; collects the gunzipped lines it accepted.
fn collector(fail_first: usize) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&lines);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = std::sync::Arc::clone(&sink);
            let seen = std::sync::Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut len = 0usize;
                    let mut gzip = false;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end().to_ascii_lowercase();
                        if h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        gzip |= h == "content-encoding: gzip";
                    }
                    let mut body = vec![0u8; len];
                    reader.read_exact(&mut body).unwrap();
                    let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n < fail_first {
                        let _ = out.write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                        );
                        continue;
                    }
                    assert!(gzip, "batches are gzip-compressed");
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut text)
                        .unwrap();
                    sink.lock()
                        .unwrap()
                        .extend(text.lines().map(str::to_string));
                    let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    (port, lines)
}

#[test]
fn the_log_ships_to_a_collector_with_retries_and_counts_what_it_cannot_ship() {
    let dir = tmp("ship");
    write_pack(&dir, POLICY_V1);
    let (port, received) = collector(2);
    let url = format!("http://127.0.0.1:{port}/ingest");
    let s = Server::start(&dir, &["--decision-log-url", &url]);
    for _ in 0..30 {
        assert_eq!(version(&s), 1);
    }
    eventually("30 lines shipped after two refusals", || {
        metric(&s, "sentrie_decision_log_written_total") == Some(30)
    });
    let lines = received.lock().unwrap().clone();
    assert_eq!(lines.len(), 30);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["type"], "decision");
    drop(s);
    // Nobody listening: the lines are counted as failed; the server answers as before.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}/", closed.local_addr().unwrap().port());
    drop(closed);
    let s = Server::start(
        &dir,
        &[
            "--decision-log-url",
            &dead,
            "--decision-log-on-full",
            "drop",
        ],
    );
    for _ in 0..5 {
        assert_eq!(version(&s), 1);
    }
    eventually("the failed batch counted", || {
        metric(&s, "sentrie_decision_log_write_failures_total").is_some_and(|n| n >= 1)
    });
    assert_eq!(s.req("GET", "/health", &[], b"").status, 200);
}
