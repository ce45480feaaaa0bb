//! Envoy external authorization (`--ext-authz-listen ADDR --ext-authz-target NS/POLICY/RULE`):
//! the v3 `envoy.service.auth.v3.Authorization/Check` gRPC service, on tonic with the
//! `envoy-types` protos, on a thread and runtime of its own.
//!
//! A `CheckRequest` becomes facts in the layout of [`super::gateway`] (Envoy's context
//! extensions as `context`); the target rule's decision becomes the `CheckResponse`: TRUE is
//! OK (the `headers` attachment goes upstream, `response_headers` to the client), anything
//! else is PERMISSION_DENIED with the `status` attachment as the HTTP status (403 by default),
//! `headers` to the client and `body`. The decision runs through the same path as HTTP
//! decisions: limits, decision log, shadow comparison, metrics (route `ext_authz`). A context
//! extension `explain: "true"` records the explanation in the decision log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use envoy_types::ext_authz::v3::pb::{
    Address, Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse,
    HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::rpc;
use tonic::{Request, Response, Status};

use super::gateway::{self, Request as GatewayRequest};
use super::handlers::{decide, resolve, One};
use super::state::App;

/// The metrics route label index of `ext_authz` (see `metrics::ROUTES`).
const ROUTE: usize = 8;

/// gRPC status codes used in responses (google.rpc.Code).
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;

struct Service {
    app: web::Data<App>,
    target: String,
}

/// Starts the Check service on `addr` on a thread of its own, answering for `target`.
pub fn start(
    app: &Arc<App>,
    addr: SocketAddr,
    target: String,
    workers: usize,
) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot bind --ext-authz-listen {addr}: {e}"),
        )
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let service = Service {
        app: web::Data::from(Arc::clone(app)),
        target,
    };
    // Messages beyond the body limit plus room for the request's attributes are refused by
    // tonic before decoding (RESOURCE_EXHAUSTED).
    let limit = app.limits.body_bytes.saturating_add(1 << 20);
    let metrics = Arc::clone(&app.metrics);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("ext-authz")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("ext-authz".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    tracing::error!("ext_authz: cannot register the listener");
                    return;
                };
                let incoming = tokio_stream_listener(listener);
                let server = AuthorizationServer::new(service)
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit);
                // Every answer that is not OK at the gRPC level (a message that does not
                // decode, one too large, a pack not loaded, an internal failure) is counted
                // with the HTTP status closest to its gRPC code.
                let metrics = Arc::clone(&metrics);
                let count_failures = tower::ServiceBuilder::new().map_response(
                    move |res: http::Response<tonic::body::Body>| {
                        let code = res
                            .headers()
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<i32>().ok());
                        if let Some(code) = code.filter(|&c| c != OK) {
                            metrics.request(ROUTE, http_status_of(code));
                        }
                        res
                    },
                );
                let served = tonic::transport::Server::builder()
                    .layer(count_failures)
                    .timeout(Duration::from_secs(30))
                    .http2_keepalive_interval(Some(Duration::from_secs(30)))
                    .http2_keepalive_timeout(Some(Duration::from_secs(10)))
                    .concurrency_limit_per_connection(1024)
                    .add_service(server)
                    .serve_with_incoming(incoming)
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "ext_authz server stopped");
                }
            });
        })?;
    eprintln!("ext_authz on grpc://{local}");
    Ok(())
}

/// The accepted connections of `listener` as the stream tonic serves (accept errors are
/// logged and skipped, so one failed accept never stops the service).
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures_util::Stream<Item = Result<tokio::net::TcpStream, std::io::Error>> {
    futures_util::stream::unfold(listener, |listener| async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((Ok(stream), listener));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ext_authz: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
}

fn peer(
    p: Option<&envoy_types::pb::envoy::service::auth::v3::attribute_context::Peer>,
) -> Option<(String, u16)> {
    use envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier;
    match p?.address.as_ref()?.address.as_ref()? {
        Address::SocketAddress(s) => {
            let port = match s.port_specifier {
                Some(PortSpecifier::PortValue(v)) => u16::try_from(v).unwrap_or(0),
                _ => 0,
            };
            Some((s.address.clone(), port))
        }
        _ => None,
    }
}

/// The HTTP status counted for a failed gRPC answer.
fn http_status_of(grpc_code: i32) -> u16 {
    match grpc_code {
        // INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION
        3 | 9 | 11 => 400,
        // NOT_FOUND, UNIMPLEMENTED
        5 | 12 => 404,
        // RESOURCE_EXHAUSTED
        8 => 413,
        // UNAVAILABLE
        14 => 503,
        // DEADLINE_EXCEEDED
        4 => 504,
        _ => 500,
    }
}

fn header_options(headers: &[(String, String)]) -> Vec<HeaderValueOption> {
    headers
        .iter()
        .map(|(k, v)| HeaderValueOption {
            header: Some(HeaderValue {
                key: k.clone(),
                value: v.clone(),
                ..HeaderValue::default()
            }),
            ..HeaderValueOption::default()
        })
        .collect()
}

fn denied_status(code: i32, message: &str) -> Option<rpc::Status> {
    Some(rpc::Status {
        code,
        message: message.to_string(),
        details: Vec::new(),
    })
}

#[tonic::async_trait]
impl Authorization for Service {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let app = &self.app;
        let check = request.into_inner();
        let attributes = check.attributes.unwrap_or_default();
        let http = attributes
            .request
            .as_ref()
            .and_then(|r| r.http.clone())
            .unwrap_or_default();
        let body: Option<Vec<u8>> = if !http.raw_body.is_empty() {
            Some(http.raw_body.clone())
        } else if !http.body.is_empty() {
            Some(http.body.clone().into_bytes())
        } else {
            None
        };
        let mut context: Vec<(String, String)> = attributes
            .context_extensions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        context.sort();
        let explain = attributes
            .context_extensions
            .get("explain")
            .is_some_and(|v| v == "true");
        let mut headers: Vec<(String, String)> = http
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        headers.sort();
        let facts = gateway::facts(&GatewayRequest {
            method: &http.method,
            uri: &http.path,
            headers,
            host: &http.host,
            scheme: &http.scheme,
            body: body.as_deref(),
            source: peer(attributes.source.as_ref()),
            destination: peer(attributes.destination.as_ref()),
            context,
        });
        let rid = if http.id.is_empty() {
            super::request_id::generate()
        } else {
            http.id.clone()
        };
        let (pack, target) = match resolve(app, &self.target) {
            Ok(r) => r,
            Err(refusal) if refusal.status.as_u16() == 503 => {
                return Err(Status::unavailable(refusal.detail))
            }
            Err(refusal) => return Err(Status::failed_precondition(refusal.detail)),
        };
        let envelope = serde_json::json!({"facts": facts, "explain": explain});
        let one = One {
            pack,
            target,
            target_text: self.target.clone(),
            bytes: web::Bytes::from(envelope.to_string()),
            explain,
        };
        let decided = match decide(app, one, &rid).await {
            Ok(d) => d,
            Err(refusal) => {
                return Err(if refusal.status.as_u16() == 503 {
                    Status::unavailable(refusal.detail)
                } else if refusal.status.is_client_error() {
                    Status::invalid_argument(refusal.detail)
                } else {
                    Status::internal(refusal.detail)
                });
            }
        };
        let answer: serde_json::Value =
            serde_json::from_str(&decided.body).unwrap_or(serde_json::Value::Null);
        let v = gateway::verdict(&answer);
        let mut response = CheckResponse::default();
        if v.allowed {
            app.metrics.request(ROUTE, 200);
            response.status = denied_status(OK, "");
            response.http_response = Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: header_options(&v.headers),
                response_headers_to_add: header_options(&v.response_headers),
                ..OkHttpResponse::default()
            }));
        } else {
            app.metrics.request(ROUTE, v.status);
            response.status = denied_status(PERMISSION_DENIED, &format!("decision {}", v.state));
            let mut headers = v.headers;
            headers.push(("x-decision-id".into(), decided.decision_id));
            response.http_response = Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: i32::from(v.status),
                }),
                headers: header_options(&headers),
                body: v.body.unwrap_or_default(),
            }));
        }
        Ok(Response::new(response))
    }
}
