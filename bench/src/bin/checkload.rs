//! A closed-loop load client for Envoy external authorization (`sentrie serve
//! --ext-authz-listen`): C concurrent callers, each on its own HTTP/2 connection, send the
//! same `CheckRequest` (an allowed request of `examples/envoy-authz`) as fast as answers come
//! back, for S seconds.
//!
//! Usage: checkload --addr 127.0.0.1:9191 [--connections C] [--seconds S]
//! Prints one JSON object: requests, errors, rate, p50/p90/p99/max latency in µs.

use std::time::{Duration, Instant};

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;

fn request() -> CheckRequest {
    let headers = [
        ("x-api-key", "key-alice"),
        ("user-agent", "checkload/1"),
        ("accept", "application/json"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/search/items?page=2".into(),
                    host: "api.example.com".into(),
                    scheme: "https".into(),
                    headers,
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

fn main() {
    let mut addr = "127.0.0.1:9191".to_string();
    let (mut connections, mut seconds) = (8usize, 10f64);
    let mut args = std::env::args().skip(1);
    while let (Some(flag), Some(v)) = (args.next(), args.next()) {
        match flag.as_str() {
            "--addr" => addr = v,
            "--connections" => connections = v.parse().unwrap_or(connections),
            "--seconds" => seconds = v.parse().unwrap_or(seconds),
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2);
            }
        }
    }
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the runtime");
        std::process::exit(1);
    };
    let url = format!("http://{addr}");
    let results = rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let mut tasks = Vec::new();
        for _ in 0..connections.max(1) {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let Ok(mut client) = AuthorizationClient::connect(url).await else {
                    return (lat, 1);
                };
                let req = request();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    match client.check(req.clone()).await {
                        Ok(r) if r.get_ref().status.as_ref().is_some_and(|s| s.code == 0) => {
                            lat.push(start.elapsed().as_micros() as u64);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            if let Ok((l, e)) = t.await {
                all.extend(l);
                errors += e;
            }
        }
        (all, errors)
    });
    let (mut lat, errors) = results;
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"requests\":{},\"errors\":{},\"rate\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        lat.len(),
        errors,
        lat.len() as f64 / seconds,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        lat.last().copied().unwrap_or(0)
    );
}
