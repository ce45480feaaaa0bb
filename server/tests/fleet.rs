//! Packs for a fleet: signed compiled packs pulled from a real S3-compatible server (moto's
//! server mode, started here on 127.0.0.1) and from a plain HTTP server (Python's
//! `http.server`), the cache directory, readiness, and several packs in one server.
//!
//! moto comes from PyPI (`pip install 'moto[server]'`); `.ci/run` installs it. Without it the
//! S3 test is skipped, except under `CI=true`, where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

fn sentrie(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .args(args)
        .output()
        .unwrap()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes a source pack whose `t/p/version` answers `version`, compiles it to `out` and
/// signs it with each of `keys`. Returns the content hash.
fn compiled(dir: &Path, version: i64, out: &Path, keys: &[&Path]) -> String {
    let src = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    write_pack(
        &src,
        &POLICY_V1.replace("rule version = 1", &format!("rule version = {version}")),
    );
    let mut args = vec![
        "compile".to_string(),
        src.display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    for k in keys {
        args.extend(["--sign".to_string(), k.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = sentrie(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let hash = stderr.split("content sha256 ").nth(1).unwrap();
    hash[..64].to_string()
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let base = dir.join(name);
    let o = sentrie(&["keygen", "--out", base.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

fn health(s: &Server) -> serde_json::Value {
    s.req("GET", "/health", &[], b"").json()
}

/// The served version, or the status when the decision did not answer 200.
fn answer(s: &Server) -> Result<i64, u16> {
    let r = s.decide("t/p/version", "{}");
    if r.status != 200 {
        return Err(r.status);
    }
    Ok(r.json()["decisions"][0]["decision"]["value"]
        .as_i64()
        .unwrap())
}

fn moto_available() -> bool {
    let found = Command::new("python3")
        .args(["-m", "moto.server", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto is missing under CI (pip install 'moto[server]')"
        );
        eprintln!("skipped: moto is not installed (pip install 'moto[server]')");
    }
    found
}

fn start_moto(port: u16) -> Process {
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Process(child);
    wait_for_port(port, "moto's S3 server");
    p
}

/// Uploads `file` to `s3://bucket/key` on the moto server (creating the bucket), with boto3,
/// which moto brings along.
fn s3_put(port: u16, bucket: &str, key: &str, file: &Path) {
    let script = "import sys, boto3\n\
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:' + sys.argv[1], aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n\
try:\n    s3.create_bucket(Bucket=sys.argv[2])\nexcept Exception:\n    pass\n\
s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=open(sys.argv[4], 'rb').read())\n";
    let o = Command::new("python3")
        .args(["-c", script, &port.to_string(), bucket, key])
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn s3_server(url: &str, moto: u16, extra: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentrie"));
    cmd.args(["serve", "--pack-url", url, "--port", "0", "--workers", "2"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{moto}"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    Server::spawn(cmd)
}

#[test]
fn signed_packs_from_s3_update_refuse_tampering_and_survive_the_origin() {
    if !moto_available() {
        return;
    }
    let dir = tmp("fleet-s3");
    let (key, public) = keygen(&dir, "release");
    let (other_key, _) = keygen(&dir, "intruder");
    let v1 = dir.join("v1.pack");
    let v2 = dir.join("v2.pack");
    let v3 = dir.join("v3.pack");
    let hash1 = compiled(&dir, 1, &v1, &[&key]);
    let hash2 = compiled(&dir, 2, &v2, &[&key]);
    compiled(&dir, 3, &v3, &[&other_key]);
    let v2b = dir.join("v4.pack");
    compiled(&dir, 4, &v2b, &[&key]);
    // v2 with its payload changed and its integrity digest recomputed: only the signature
    // tells.
    let tampered = dir.join("tampered.pack");
    let mut bytes = std::fs::read(&v2).unwrap();
    let len = u64::from_le_bytes(bytes[44..52].try_into().unwrap()) as usize;
    let at = 52 + len / 2;
    bytes[at] ^= 0x01;
    let digest = sha2_digest(&bytes[52..52 + len]);
    bytes[12..44].copy_from_slice(&digest);
    std::fs::write(&tampered, &bytes).unwrap();

    let moto_port = free_port();
    let moto = start_moto(moto_port);
    s3_put(moto_port, "packs", "edge/pack.bin", &v1);
    let cache = dir.join("cache");
    let url = "s3://packs/edge/pack.bin";
    let pub_arg = public.display().to_string();
    let cache_arg = cache.display().to_string();
    let flags = [
        "--poll-interval",
        "1s",
        "--verify-key",
        &pub_arg,
        "--cache-dir",
        &cache_arg,
    ];
    let s = s3_server(url, moto_port, &flags);
    eventually("the first pack", || answer(&s) == Ok(1));
    assert_eq!(s.req("GET", "/ready", &[], b"").status, 200);
    let h = health(&s);
    assert_eq!(h["packs"][0]["pack"]["hash"], hash1.as_str(), "{h}");
    assert_eq!(h["packs"][0]["source"], url);

    // A new version under the same key is active within two poll intervals (1 s each, give
    // or take a tenth), with half a second for the upload and the checks.
    s3_put(moto_port, "packs", "edge/pack.bin", &v2);
    let uploaded = Instant::now();
    eventually("the second pack", || answer(&s) == Ok(2));
    assert!(
        uploaded.elapsed() < Duration::from_millis(2500),
        "{:?}",
        uploaded.elapsed()
    );
    assert_eq!(health(&s)["packs"][0]["pack"]["hash"], hash2.as_str());
    assert_eq!(health(&s)["status"], "healthy");

    // Tampered, then signed by an untrusted key: refused, the previous hash keeps serving.
    s3_put(moto_port, "packs", "edge/pack.bin", &tampered);
    eventually("the tampered pack refused", || {
        health(&s)["status"] == "degraded"
    });
    let h = health(&s);
    let message = h["packs"][0]["last_reload_error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("altered"), "{message}");
    assert_eq!(h["packs"][0]["pack"]["hash"], hash2.as_str());
    assert_eq!(answer(&s), Ok(2));
    s3_put(moto_port, "packs", "edge/pack.bin", &v3);
    eventually("the foreign pack refused", || {
        health(&s)["packs"][0]["last_reload_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not among the trusted keys"))
    });
    assert_eq!(answer(&s), Ok(2));
    assert!(metric(&s, "sentrie_pack_reload_failures_total").unwrap() >= 2);

    // SIGHUP polls at once: with a long interval, the upload is seen within a moment.
    drop(s);
    let slow = [
        "--poll-interval",
        "1h",
        "--verify-key",
        &pub_arg,
        "--cache-dir",
        &cache_arg,
    ];
    let s = s3_server(url, moto_port, &slow);
    eventually("the cached pack", || answer(&s) == Ok(2));
    s3_put(moto_port, "packs", "edge/pack.bin", &v2b);
    s.signal("-HUP");
    eventually("the pack polled on SIGHUP", || answer(&s) == Ok(4));
    drop(s);
    s3_put(moto_port, "packs", "edge/pack.bin", &v2);
    let s = s3_server(url, moto_port, &flags);
    eventually("back to the second pack", || answer(&s) == Ok(2));

    // The origin goes away: still serving, the failed polls are counted.
    drop(moto);
    eventually("a failed fetch", || {
        metric(&s, "sentrie_pack_fetch_failures_total").unwrap_or(0) >= 1
    });
    assert_eq!(answer(&s), Ok(2));
    drop(s);

    // A restart with the origin still down serves the cached pack.
    let s = s3_server(url, moto_port, &flags);
    assert_eq!(s.req("GET", "/ready", &[], b"").status, 200);
    assert_eq!(answer(&s), Ok(2));
    assert_eq!(health(&s)["packs"][0]["pack"]["hash"], hash2.as_str());
    drop(s);

    // A bucket that does not exist: the server starts, is not ready, and says why.
    let moto = start_moto(moto_port);
    let empty_cache = dir.join("empty-cache").display().to_string();
    let s = s3_server(
        "s3://no-such-bucket/pack.bin",
        moto_port,
        &["--poll-interval", "500ms", "--cache-dir", &empty_cache],
    );
    eventually("the fetch error", || health(&s)["status"] == "degraded");
    assert_eq!(s.req("GET", "/ready", &[], b"").status, 503);
    assert_eq!(answer(&s), Err(503));
    drop(moto);
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Python's `http.server` serving `root` on 127.0.0.1.
fn http_origin(root: &Path) -> (Process, u16) {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Process(child);
    wait_for_port(port, "the HTTP origin");
    (p, port)
}

/// Replaces `to` atomically, as a deployment would.
fn publish(from: &Path, to: &Path) {
    let tmp = to.with_extension("uploading");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[test]
fn an_http_origin_starts_unready_then_serves_and_reloads_under_load_without_failures() {
    let dir = tmp("fleet-http");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let packs: Vec<PathBuf> = (1..=6)
        .map(|v| {
            let p = dir.join(format!("v{v}.pack"));
            compiled(&dir, v, &p, &[]);
            p
        })
        .collect();
    let (_origin, port) = http_origin(&www);
    let url = format!("http://127.0.0.1:{port}/edge/pack.bin");
    let cache = dir.join("cache").display().to_string();
    let s = Server::start_args(&[
        "serve",
        "--pack-url",
        &url,
        "--poll-interval",
        "300ms",
        "--cache-dir",
        &cache,
    ]);
    // Nothing at the origin yet: up, not ready, decisions 503.
    eventually("a failed fetch", || health(&s)["status"] == "degraded");
    assert_eq!(s.req("GET", "/ready", &[], b"").status, 503);
    let r = s.decide("t/p/version", "{}");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["title"], "Service Unavailable");
    assert_eq!(health(&s)["ready"], false);

    std::fs::create_dir_all(www.join("edge")).unwrap();
    let target = www.join("edge/pack.bin");
    publish(&packs[0], &target);
    eventually("the first pack", || answer(&s) == Ok(1));
    assert_eq!(s.req("GET", "/ready", &[], b"").status, 200);
    assert_eq!(health(&s)["status"], "healthy");

    // Clients hammer the server while new versions are published.
    let port = s.port;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut ok, mut bad) = (0u32, 0u32);
                let mut conn = Conn::open(port);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = conn.post("/decision/t/p/version", b"{}");
                    if r.status == 200 && r.json().get("error").is_none() {
                        ok += 1;
                    } else {
                        bad += 1;
                    }
                }
                (ok, bad)
            })
        })
        .collect();
    for (i, p) in packs.iter().enumerate().skip(1) {
        publish(p, &target);
        let want = i as i64 + 1;
        eventually("the next version", || answer(&s) == Ok(want));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut bad) = (0, 0);
    for c in clients {
        let (o, b) = c.join().unwrap();
        ok += o;
        bad += b;
    }
    assert_eq!(bad, 0, "{bad} failed requests of {}", ok + bad);
    assert!(ok > 100, "only {ok} requests");
    assert!(metric(&s, "sentrie_pack_reloads_total").unwrap() >= 6);

    // A pack over --max-pack-bytes is refused without being served.
    let small = Server::start_args(&[
        "serve",
        "--pack-url",
        &url,
        "--poll-interval",
        "300ms",
        "--cache-dir",
        &dir.join("cache-small").display().to_string(),
        "--max-pack-bytes",
        "100",
    ]);
    eventually("the size refusal", || {
        health(&small)["packs"][0]["last_reload_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--max-pack-bytes"))
    });
    assert_eq!(small.req("GET", "/ready", &[], b"").status, 503);
}

fn pack_in(dir: &Path, namespace: &str, version: i64) {
    std::fs::create_dir_all(dir).unwrap();
    write_pack(
        dir,
        &POLICY_V1
            .replace("namespace t", &format!("namespace {namespace}"))
            .replace("rule version = 1", &format!("rule version = {version}")),
    );
}

#[test]
fn several_packs_route_by_namespace_and_reload_on_their_own() {
    let dir = tmp("fleet-multi");
    let (billing, search) = (dir.join("billing"), dir.join("search"));
    pack_in(&billing, "acme/billing", 1);
    pack_in(&search, "acme/search", 10);
    // A third pack, compiled and fetched from an HTTP origin.
    let remote_src = dir.join("remote-src");
    pack_in(&remote_src, "acme/remote", 100);
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let o = sentrie(&[
        "compile",
        remote_src.to_str().unwrap(),
        "-o",
        www.join("remote.pack").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_origin, origin_port) = http_origin(&www);
    let s = Server::start_args(&[
        "serve",
        "--pack",
        &format!("billing={}", billing.display()),
        "--pack",
        &format!("search={}", search.display()),
        "--pack",
        &format!("remote=http://127.0.0.1:{origin_port}/remote.pack"),
        "--poll-interval",
        "300ms",
        "--cache-dir",
        &dir.join("cache").display().to_string(),
        "--watch",
        "--watch-interval-ms",
        "100",
    ]);
    let version = |target: &str| {
        let r = s.decide(target, "{}");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["decisions"][0]["decision"]["value"]
            .as_i64()
            .unwrap()
    };
    eventually("the remote pack", || {
        s.req("GET", "/ready", &[], b"").status == 200
    });
    assert_eq!(version("acme/billing/p/version"), 1);
    assert_eq!(version("acme/search/p/version"), 10);
    assert_eq!(version("acme/remote/p/version"), 100);
    assert_eq!(s.decide("acme/other/p/version", "{}").status, 404);
    let h = health(&s);
    let names: Vec<&str> = h["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["billing", "search", "remote"]);
    assert!(h["packs"][2]["source"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    let search_hash = h["packs"][1]["pack"]["hash"].clone();
    let search_activated = h["packs"][1]["pack"]["activated"].clone();

    // Reloading one pack leaves the other as it was.
    pack_in(&billing, "acme/billing", 2);
    eventually("billing reloaded", || {
        version("acme/billing/p/version") == 2
    });
    let h = health(&s);
    assert_eq!(h["packs"][1]["pack"]["hash"], search_hash);
    assert_eq!(h["packs"][1]["pack"]["activated"], search_activated);
    assert_eq!(version("acme/search/p/version"), 10);

    // A reload that would take another pack's namespace is refused.
    pack_in(&billing, "acme/search/sub", 3);
    eventually("the overlap refused", || health(&s)["status"] == "degraded");
    let h = health(&s);
    let message = h["packs"][0]["last_reload_error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("search"), "{message}");
    assert_eq!(version("acme/billing/p/version"), 2);
    drop(s);

    // Overlapping namespaces at start: exit 1, both pack names in the message.
    pack_in(&billing, "acme", 1);
    let o = sentrie(&[
        "serve",
        "--port",
        "0",
        "--pack",
        &format!("billing={}", billing.display()),
        "--pack",
        &format!("search={}", search.display()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`billing`") && err.contains("`search`"),
        "{err}"
    );
}

#[test]
fn signatures_are_checked_by_every_command_that_loads_a_pack() {
    let dir = tmp("fleet-sign");
    let (key, public) = keygen(&dir, "k");
    let (_, other) = keygen(&dir, "other");
    let signed = dir.join("signed.pack");
    let unsigned = dir.join("unsigned.pack");
    compiled(&dir, 1, &signed, &[&key]);
    compiled(&dir, 1, &unsigned, &[]);
    // The private key is for its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // keygen does not overwrite.
    assert!(
        !sentrie(&["keygen", "--out", dir.join("k").to_str().unwrap()])
            .status
            .success()
    );
    let p = |p: &Path| p.display().to_string();
    for cmd in [
        vec!["validate", "--pack-location"],
        vec!["exec", "t/p/version", "--pack-location"],
        vec!["test", "--pack-location"],
    ] {
        let run = |pack: &Path, key: &Path| {
            let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            args.extend([p(pack), "--verify-key".into(), p(key)]);
            args.extend(["--error-format".into(), "plain".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sentrie(&args)
        };
        let ok = run(&signed, &public);
        assert!(
            ok.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let wrong = run(&signed, &other);
        assert!(!wrong.status.success(), "{cmd:?}");
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("not among the trusted keys"));
        let bare = run(&unsigned, &public);
        assert!(!bare.status.success(), "{cmd:?}");
        assert!(String::from_utf8_lossy(&bare.stderr).contains("not signed"));
        let source = run(&dir.join("src-1"), &public);
        assert!(!source.status.success(), "{cmd:?}");
    }
    // Rotation: either key passes; serve refuses an unsigned pack at start.
    let both = sentrie(&[
        "validate",
        "--pack-location",
        &p(&signed),
        "--verify-key",
        &p(&other),
        "--verify-key",
        &p(&public),
    ]);
    assert!(both.status.success());
    let o = sentrie(&[
        "serve",
        &p(&unsigned),
        "--port",
        "0",
        "--verify-key",
        &p(&public),
    ]);
    assert_eq!(o.status.code(), Some(1));
    // The human renderer wraps lines inside a box: compare the words only.
    let words: Vec<String> = String::from_utf8_lossy(&o.stderr)
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    assert!(
        words.join(" ").contains("the pack is not signed"),
        "{words:?}"
    );
}

/// An origin that misbehaves on demand: 0 serves the pack (ETag `"v1"`, 304 on a match),
/// 1 answers 500, 2 redirects to itself forever, 3 never answers, 4 announces 1 GB and
/// streams zeros.
fn hostile_origin(pack: Vec<u8>) -> (u16, Arc<std::sync::atomic::AtomicU8>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mode = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let pack = Arc::new(pack);
    let shared = Arc::clone(&mode);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mode = shared.load(std::sync::atomic::Ordering::Relaxed);
            let pack = Arc::clone(&pack);
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let _ = match mode {
                    0 if head.contains("if-none-match: \"v1\"") => stream
                        .write_all(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n"),
                    0 => {
                        let h = format!("HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", pack.len());
                        stream
                            .write_all(h.as_bytes())
                            .and_then(|()| stream.write_all(&pack))
                    }
                    1 => stream.write_all(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                    2 => stream.write_all(
                        b"HTTP/1.1 302 Found\r\nLocation: /edge/pack.bin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                    3 => {
                        std::thread::sleep(Duration::from_secs(30));
                        Ok(())
                    }
                    _ => {
                        let h = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n";
                        let zeros = vec![0u8; 1 << 16];
                        stream.write_all(h.as_bytes()).and_then(|()| loop {
                            stream.write_all(&zeros)?;
                        })
                    }
                };
            });
        }
    });
    (port, mode)
}

#[test]
fn a_misbehaving_origin_never_stops_the_current_pack() {
    let dir = tmp("fleet-hostile");
    let pack = dir.join("v1.pack");
    compiled(&dir, 1, &pack, &[]);
    let (port, mode) = hostile_origin(std::fs::read(&pack).unwrap());
    // The cache directory lies under a regular file: it can never be created.
    std::fs::write(dir.join("not-a-dir"), b"").unwrap();
    let s = Server::start_args(&[
        "serve",
        "--pack-url",
        &format!("http://127.0.0.1:{port}/edge/pack.bin"),
        "--poll-interval",
        "200ms",
        "--fetch-timeout",
        "1s",
        "--cache-dir",
        &dir.join("not-a-dir/cache").display().to_string(),
    ]);
    eventually("the first pack", || answer(&s) == Ok(1));
    eventually("the failed cache write", || {
        metric(&s, "sentrie_pack_cache_write_failures_total") == Some(1)
    });
    assert_eq!(health(&s)["status"], "healthy");
    for (m, what) in [
        (1, "an error status"),
        (2, "a redirect loop"),
        (3, "an origin that never answers"),
        (4, "a 1 GB pack"),
    ] {
        let before = metric(&s, "sentrie_pack_fetch_failures_total").unwrap();
        mode.store(m, std::sync::atomic::Ordering::Relaxed);
        eventually(what, || {
            metric(&s, "sentrie_pack_fetch_failures_total").unwrap() > before
                && health(&s)["status"] == "degraded"
        });
        assert_eq!(answer(&s), Ok(1), "{what}");
        let h = health(&s);
        let message = h["last_reload_error"]["message"].as_str().unwrap();
        assert!(message.contains("cannot fetch"), "{what}: {message}");
        if m == 4 {
            assert!(message.contains("--max-pack-bytes"), "{message}");
        }
        // The origin recovers with the same version: healthy again, nothing reloaded.
        mode.store(0, std::sync::atomic::Ordering::Relaxed);
        eventually("the origin back", || health(&s)["status"] == "healthy");
    }
    assert_eq!(metric(&s, "sentrie_pack_reloads_total"), Some(1));
}
