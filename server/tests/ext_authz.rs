//! Envoy external authorization: a real gRPC client (tonic, with the `envoy-types` protos)
//! calls `Check` on `sentrie serve --ext-authz-listen` over loopback, for the example pack
//! `examples/envoy-authz`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{address, socket_address, Address, SocketAddress};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use support::*;

fn start(extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--ext-authz-listen",
        &listen,
        "--ext-authz-target",
        "gateway/http/allow",
    ];
    args.extend_from_slice(extra);
    let s = Server::start(&repo().join("examples/envoy-authz"), &args);
    (s, port)
}

fn check_request(path: &str, headers: &[(&str, &str)], body: &str) -> CheckRequest {
    let peer = |ip: &str, port: u32| Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.to_string(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..SocketAddress::default()
            })),
        }),
        ..Peer::default()
    };
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(peer("10.1.2.3", 40000)),
            destination: Some(peer("10.9.9.9", 8080)),
            request: Some(Request {
                http: Some(HttpRequest {
                    id: "req-1".into(),
                    method: "GET".into(),
                    path: path.into(),
                    host: "api.example.com".into(),
                    scheme: "https".into(),
                    headers,
                    body: body.into(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            context_extensions: [("tenant".to_string(), "acme".to_string())].into(),
            ..AttributeContext::default()
        }),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client(port: u16) -> AuthorizationClient<tonic::transport::Channel> {
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(c) = AuthorizationClient::connect(url.clone()).await {
            return c.max_decoding_message_size(64 << 20);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("ext_authz did not start on {url}");
}

fn headers_of(
    options: &[envoy_types::ext_authz::v3::pb::HeaderValueOption],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = options
        .iter()
        .filter_map(|o| o.header.as_ref())
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    out.sort();
    out
}

fn ok_headers(r: &CheckResponse) -> Option<Vec<(String, String)>> {
    match &r.http_response {
        Some(HttpResponse::OkResponse(ok)) => Some(headers_of(&ok.headers)),
        _ => None,
    }
}

#[test]
fn check_answers_ok_or_denied_with_the_policys_status_headers_and_body() {
    let (s, port) = start(&["--decision-log", "-"]);
    runtime().block_on(async {
        let mut c = client(port).await;
        let allowed = c
            .check(check_request(
                "/search/items?page=2",
                &[("x-api-key", "key-alice")],
                "",
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(allowed.status.as_ref().unwrap().code, 0);
        assert_eq!(
            ok_headers(&allowed).unwrap(),
            vec![
                ("x-team".into(), "search".into()),
                ("x-user".into(), "alice".into())
            ]
        );

        let denied = c
            .check(check_request(
                "/billing/x",
                &[("x-api-key", "key-alice")],
                "",
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(denied.status.as_ref().unwrap().code, 7);
        let Some(HttpResponse::DeniedResponse(d)) = &denied.http_response else {
            panic!("not denied: {denied:?}");
        };
        assert_eq!(d.status.as_ref().unwrap().code, 403);
        assert_eq!(d.body, "this key may not call /billing/x");
        assert!(headers_of(&d.headers)
            .iter()
            .any(|(k, _)| k == "x-decision-id"));

        let anonymous = c
            .check(check_request("/search", &[], ""))
            .await
            .unwrap()
            .into_inner();
        let Some(HttpResponse::DeniedResponse(d)) = &anonymous.http_response else {
            panic!("not denied");
        };
        assert_eq!(d.status.as_ref().unwrap().code, 401);
        assert!(headers_of(&d.headers).contains(&("www-authenticate".into(), "ApiKey".into())));

        // 10,000 headers and a body: still a clear answer.
        let many: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("x-h{i}"), "v".to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let big = c
            .check(check_request("/healthz", &refs, "{\"a\":1}"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(big.status.as_ref().unwrap().code, 0);
    });
    // The decision log has the checks, with the request facts in the shared layout.
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
}

#[test]
fn oversized_and_malformed_checks_get_a_clear_status_and_the_service_goes_on() {
    let (s, port) = start(&["--max-body-bytes", "1000000"]);
    runtime().block_on(async {
        let mut c = client(port).await;
        // A 50 MB body: refused by size before decoding, the connection stays usable.
        let huge = "x".repeat(50 << 20);
        let err = c
            .check(check_request(
                "/search",
                &[("x-api-key", "key-alice")],
                &huge,
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.code(),
                tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::Internal
            ),
            "{err:?}"
        );
        let mut c = client(port).await;
        let again = c
            .check(check_request("/healthz", &[], ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.status.unwrap().code, 0);
    });
    // Malformed protobuf on the wire (a gRPC frame of five 0xff bytes, sent by curl over
    // HTTP/2): a gRPC error status, not a crash.
    let frame = tmp("grpc-frame").join("frame.bin");
    std::fs::write(&frame, [0u8, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    let curl = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-D",
            "-",
        ])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("--data-binary")
        .arg(format!("@{}", frame.display()))
        .arg(format!(
            "http://127.0.0.1:{port}/envoy.service.auth.v3.Authorization/Check"
        ))
        .output();
    match curl {
        Ok(o) => {
            let head = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
            assert!(head.contains("grpc-status:"), "{head}");
            assert!(!head.contains("grpc-status: 0\r"), "{head}");
        }
        Err(e) => eprintln!("curl not available ({e}): the malformed-frame check is skipped"),
    }
    runtime().block_on(async {
        let mut c = client(port).await;
        let after = c.check(check_request("/healthz", &[], "")).await.unwrap();
        assert_eq!(after.into_inner().status.unwrap().code, 0);
    });
    let checks = metric(
        &s,
        "sentrie_http_requests_total{route=\"ext_authz\",status=\"200\"}",
    );
    assert!(checks.unwrap_or(0) >= 2);
    // The refused checks (too large, malformed) are counted too.
    let text = String::from_utf8(s.req("GET", "/metrics", &[], b"").body).unwrap();
    let failed: u64 = text
        .lines()
        .filter(|l| l.contains("route=\"ext_authz\"") && !l.contains("status=\"200\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(failed >= 1, "{text}");
}

#[test]
fn a_target_that_is_not_a_rule_is_refused_at_start() {
    let o = Command::new(env!("CARGO_BIN_EXE_sentrie"))
        .arg("serve")
        .arg(repo().join("examples/envoy-authz"))
        .args([
            "--port",
            "0",
            "--ext-authz-listen",
            "127.0.0.1:0",
            "--ext-authz-target",
            "gateway/http",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("must name one rule"));
}
