//! What gateways speak: forward-auth (`/authz/...`) called directly and by a real nginx
//! (`auth_request`, Debian's package, started here on 127.0.0.1 in front of a small upstream),
//! batch decisions, bearer tokens, TLS with and without client certificates, Unix sockets and
//! a metrics listener of its own.
//!
//! nginx is installed by `.ci/run`; without it the nginx test is skipped, except under
//! `CI=true`, where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

fn authz_pack() -> std::path::PathBuf {
    repo().join("examples/envoy-authz")
}

#[test]
fn forward_auth_answers_with_the_policys_status_and_headers() {
    let s = Server::start(&authz_pack(), &["--decision-log", "-"]);
    let ask = |headers: &[(&str, &str)]| s.req("GET", "/authz/gateway/http/allow", headers, b"");
    let ok = ask(&[
        ("X-Original-URI", "/search/items?page=2"),
        ("X-Original-Method", "GET"),
        ("X-Api-Key", "key-alice"),
    ]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-user"), Some("alice"));
    assert_eq!(ok.header("x-team"), Some("search"));
    assert!(ok.header("x-decision-id").is_some());

    // Another team's path: 403 with the policy's body; no key: 401 with its header.
    let other = ask(&[("X-Original-URI", "/billing/x"), ("X-Api-Key", "key-alice")]);
    assert_eq!(other.status, 403);
    assert_eq!(
        String::from_utf8_lossy(&other.body),
        "this key may not call /billing/x"
    );
    let anonymous = ask(&[("X-Forwarded-Uri", "/search")]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("ApiKey"));

    // Without X-Original-URI the request's own path is the path (Traefik sends
    // X-Forwarded-Uri; a direct call is judged on itself).
    let direct = ask(&[("X-Api-Key", "key-alice")]);
    assert_eq!(direct.status, 403);

    // Forward-auth answers for one rule; a policy target or a missing one is 404.
    assert_eq!(s.req("GET", "/authz/gateway/http", &[], b"").status, 404);
    assert_eq!(s.req("GET", "/authz/nope/x/y", &[], b"").status, 404);
    // Any method: Kong and Traefik forward the original one.
    let post = s.req(
        "POST",
        "/authz/gateway/http/allow",
        &[("X-Original-URI", "/healthz")],
        b"{\"a\":1}",
    );
    assert_eq!(post.status, 200);
    let counted = metric(
        &s,
        "sentrie_http_requests_total{route=\"authz\",status=\"200\"}",
    );
    assert_eq!(counted, Some(2));
}

/// An upstream that answers every request with the `X-User` header it received.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let user = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-user: "))
                    .unwrap_or("-")
                    .trim()
                    .to_string();
                let body = format!("upstream saw {user}");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// Debian installs nginx in /usr/sbin, which is not on every PATH.
fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

fn nginx_available() -> bool {
    let found = Command::new(nginx_bin())
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is missing under CI (apt-get install nginx)"
        );
        eprintln!("skipped: nginx is not installed");
    }
    found
}

fn start_nginx(dir: &Path, port: u16, sentrie: u16, upstream: u16) -> Process {
    let conf = format!(
        r#"
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_authz {{
      internal;
      proxy_pass http://127.0.0.1:{sentrie}/authz/gateway/http/allow;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }}
    location / {{
      auth_request /_authz;
      auth_request_set $authz_user $upstream_http_x_user;
      proxy_set_header X-User $authz_user;
      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
}}
"#,
        dir = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(nginx_bin())
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let p = Process(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

#[test]
fn nginx_auth_request_lets_allowed_requests_through_and_denies_with_the_policys_status() {
    if !nginx_available() {
        return;
    }
    let dir = tmp("nginx");
    let s = Server::start(&authz_pack(), &[]);
    let up = upstream();
    let port = free_port();
    let _nginx = start_nginx(&dir, port, s.port, up);
    let allowed = request(
        port,
        "GET",
        "/search/items?q=1",
        &[("X-Api-Key", "key-alice")],
        b"",
    );
    assert_eq!(allowed.status, 200);
    // The upstream got the header the policy attached, through auth_request_set.
    assert_eq!(String::from_utf8_lossy(&allowed.body), "upstream saw alice");
    let forbidden = request(
        port,
        "GET",
        "/billing/x",
        &[("X-Api-Key", "key-alice")],
        b"",
    );
    assert_eq!(forbidden.status, 403);
    assert!(!String::from_utf8_lossy(&forbidden.body).contains("upstream"));
    let anonymous = request(port, "GET", "/search", &[], b"");
    assert_eq!(anonymous.status, 401);
    assert_eq!(request(port, "GET", "/healthz", &[], b"").status, 200);
}

#[test]
fn a_batch_answers_every_decision_in_order() {
    let s = Server::start(&repo().join("examples/rbac"), &[]);
    let facts = r#"{"user":{"id":"u1","roles":["editor"]},"resource":{"owner":"u2","kind":"doc"},"action":"write"}"#;
    let body = format!(
        r#"[{{"target":"example/rbac/documents/allow","facts":{facts}}},
            {{"target":"example/rbac/documents/canDelete","facts":{facts}}},
            {{"target":"nope/p"}},
            {{"facts":{{}}}},
            {{"target":"example/rbac/documents/allow","facts":[]}}]"#
    );
    let r = s.req("POST", "/decisions", &[], body.as_bytes());
    assert_eq!(r.status, 200);
    let v = r.json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["target"], "example/rbac/documents/allow");
    assert_eq!(items[0]["decisions"][0]["decision"]["state"], "TRUE");
    assert_eq!(items[1]["decisions"][0]["rule"], "canDelete");
    assert_eq!(items[1]["decisions"][0]["decision"]["state"], "FALSE");
    assert_eq!(items[2]["status"], 404);
    assert_eq!(items[3]["status"], 400);
    assert!(items[3]["target"].is_null());
    assert_eq!(items[4]["status"], 400);
    // Each evaluated item has its own decision id.
    assert_ne!(items[0]["decision_id"], items[1]["decision_id"]);
    // Not an array; too many items.
    assert_eq!(s.req("POST", "/decisions", &[], b"{}").status, 400);
    let many = format!("[{}]", vec!["{}"; 1001].join(","));
    assert_eq!(
        s.req("POST", "/decisions", &[], many.as_bytes()).status,
        400
    );
    assert_eq!(s.req("GET", "/decisions", &[], b"").status, 405);
}

#[test]
fn bearer_tokens_guard_the_decision_endpoints_only() {
    let dir = tmp("tokens");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "# rotated monthly\n  first-token \nsecond-token\n").unwrap();
    let s = Server::start(
        &authz_pack(),
        &["--auth-token-file", tokens.to_str().unwrap()],
    );
    let decide = |auth: Option<&str>| {
        let mut headers = vec![("X-Original-URI", "/healthz")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        s.req("GET", "/authz/gateway/http/allow", &headers, b"")
    };
    let missing = decide(None);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("content-type"),
        Some("application/problem+json")
    );
    assert!(missing
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(decide(Some("Bearer wrong")).status, 401);
    assert_eq!(decide(Some("Basic first-token")).status, 401);
    assert_eq!(decide(Some("Bearer first-token")).status, 200);
    assert_eq!(decide(Some("Bearer second-token")).status, 200);
    let post = |auth: &str| {
        s.req(
            "POST",
            "/decision/gateway/http/allow",
            &[("Authorization", auth)],
            br#"{"facts":{"request":{"path":"/healthz","headers":{}}}}"#,
        )
    };
    assert_eq!(post("Bearer nope").status, 401);
    assert_eq!(post("Bearer first-token").status, 200);
    assert_eq!(s.req("POST", "/decisions", &[], b"[]").status, 401);
    // Health, readiness and metrics stay open; so does the CORS preflight.
    assert_eq!(s.req("GET", "/health", &[], b"").status, 200);
    assert_eq!(s.req("GET", "/ready", &[], b"").status, 200);
    assert_eq!(s.req("GET", "/metrics", &[], b"").status, 200);
    assert_eq!(
        s.req("OPTIONS", "/decision/gateway/http/allow", &[], b"")
            .status,
        200
    );
    // SIGHUP reads the file again.
    std::fs::write(&tokens, "third-token\n").unwrap();
    s.signal("-HUP");
    eventually("the new token", || {
        decide(Some("Bearer third-token")).status == 200
    });
    assert_eq!(decide(Some("Bearer first-token")).status, 401);
    // A file with no token is refused at start.
    std::fs::write(&tokens, "# nothing\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .args(["serve", "--port", "0", "--auth-token-file"])
        .arg(&tokens)
        .arg(authz_pack())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no token"));
}

#[cfg(unix)]
#[test]
fn unix_sockets_and_a_metrics_listener_of_its_own() {
    use std::os::unix::net::UnixStream;
    let dir = tmp("uds");
    let sock = dir.join("sentrie.sock");
    let metrics_port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentrie"));
    cmd.arg("serve")
        .arg(authz_pack())
        .args(["--port", "0", "--listen", "local", "--listen"])
        .arg(format!("unix:{}", sock.display()))
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")]);
    let s = Server::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut conn = UnixStream::connect(&sock).unwrap();
    let body = br#"{"facts":{"request":{"path":"/healthz","headers":{}}}}"#;
    write!(
        conn,
        "POST /decision/gateway/http/allow HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"state\":\"TRUE\""), "{answer}");
    // /metrics moved to its own listener; the main one no longer serves it.
    assert_eq!(s.req("GET", "/metrics", &[], b"").status, 404);
    let m = request(metrics_port, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    assert!(String::from_utf8_lossy(&m.body).contains("sentrie_http_requests_total"));
    assert_eq!(request(metrics_port, "GET", "/ready", &[], b"").status, 200);
    assert_eq!(
        request(
            metrics_port,
            "POST",
            "/decision/gateway/http/allow",
            &[],
            body
        )
        .status,
        404
    );
}

struct Pki {
    ca_pem: String,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sentrie test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca,
        }
    }

    /// A certificate for `names` signed by this CA: (certificate PEM, key PEM, DER).
    fn issue(&self, names: &[&str], expired: bool) -> (String, String, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// An HTTPS client trusting `ca_pem`, with an optional client certificate.
fn https_agent(ca_pem: &str, client: Option<(&str, &str)>) -> ureq::Agent {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let ca = Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[ca]));
    if let Some((cert, key)) = client {
        let cert = Certificate::from_pem(cert.as_bytes()).unwrap();
        let key = PrivateKey::from_pem(key.as_bytes()).unwrap();
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

fn https_decide(agent: &ureq::Agent, port: u16) -> Result<u16, String> {
    agent
        .post(&format!(
            "https://localhost:{port}/decision/gateway/http/allow"
        ))
        .header("Content-Type", "application/json")
        .send(r#"{"facts":{"request":{"path":"/healthz","headers":{}}}}"#)
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Starts a TLS server and returns it with its port (the `https://` listening line).
fn tls_server(extra: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentrie"));
    cmd.arg("serve")
        .arg(authz_pack())
        .args(["--port", "0", "--workers", "2"])
        .args(extra);
    Server::spawn(cmd)
}

#[test]
fn tls_with_and_without_client_certificates() {
    let dir = tmp("tls");
    let pki = Pki::new();
    let (cert, key, _) = pki.issue(&["localhost", "127.0.0.1"], false);
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert_file, key_file) = (write("server.pem", &cert), write("server.key", &key));
    let ca_file = write("ca.pem", &pki.ca_pem);
    let s = tls_server(&["--tls-cert", &cert_file, "--tls-key", &key_file]);
    eventually("the https listening line", || {
        s.log.lock().unwrap().contains("listening on https://")
    });
    // HTTPS works; plain HTTP to the TLS port gets no HTTP answer.
    assert_eq!(
        https_decide(&https_agent(&pki.ca_pem, None), s.port),
        Ok(200)
    );
    let plain = std::panic::catch_unwind(|| request(s.port, "GET", "/health", &[], b""));
    assert!(plain.map_or(true, |r| r.status != 200));
    // A client that opens a connection and never starts the handshake does not hold the
    // server: others still get answers.
    let _stalled = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    assert_eq!(
        https_decide(&https_agent(&pki.ca_pem, None), s.port),
        Ok(200)
    );
    // A client that does not trust the server's CA refuses it.
    let stranger = Pki::new();
    assert!(https_decide(&https_agent(&stranger.ca_pem, None), s.port).is_err());
    drop(s);

    // Mutual TLS: only certificates from the client CA, and only while valid.
    let s = tls_server(&[
        "--tls-cert",
        &cert_file,
        "--tls-key",
        &key_file,
        "--tls-client-ca",
        &ca_file,
    ]);
    let (client_cert, client_key, _) = pki.issue(&["client.example"], false);
    let (old_cert, old_key, _) = pki.issue(&["client.example"], true);
    let (foreign_cert, foreign_key, _) = stranger.issue(&["client.example"], false);
    let with = |c: &str, k: &str| https_decide(&https_agent(&pki.ca_pem, Some((c, k))), s.port);
    assert_eq!(with(&client_cert, &client_key), Ok(200));
    assert!(https_decide(&https_agent(&pki.ca_pem, None), s.port).is_err());
    assert!(with(&old_cert, &old_key).is_err());
    assert!(with(&foreign_cert, &foreign_key).is_err());
    assert_eq!(with(&client_cert, &client_key), Ok(200));

    // SIGHUP reads the certificate again: a broken pair keeps the current one.
    std::fs::write(dir.join("server.pem"), "not a certificate").unwrap();
    s.signal("-HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(with(&client_cert, &client_key), Ok(200));
    let (cert2, key2, der2) = pki.issue(&["localhost"], false);
    std::fs::write(dir.join("server.key"), &key2).unwrap();
    std::fs::write(dir.join("server.pem"), &cert2).unwrap();
    s.signal("-HUP");
    eventually("the new certificate", || served_certificate(s.port) == der2);
    assert_eq!(with(&client_cert, &client_key), Ok(200));
}

/// The DER of the certificate the server presents, read with rustls directly.
fn served_certificate(port: u16) -> Vec<u8> {
    #[derive(Debug)]
    struct AcceptAny;
    impl rustls::client::danger::ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            #[allow(deprecated)]
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            break;
        }
    }
    conn.peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default()
}
