//! Forward-auth: `ANY /authz/{namespace...}/{policy}/{rule}`, the endpoint nginx
//! `auth_request`, Traefik ForwardAuth and Kong call before they pass a request on. The
//! request the gateway is asking about becomes facts in the layout of [`super::gateway`]; the
//! rule's decision becomes the answer: 200 when TRUE (with the `headers` attachment as
//! response headers, which the gateway can copy upstream), otherwise the `status` attachment
//! (403 by default) with its `headers` and `body`. Every answer carries `X-Decision-Id`; the
//! decision is logged, limited and counted as on `/decision`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::gateway::{self, Request};
use super::handlers::{
    decide, explain_requested, names_one_rule, path_target, read_body, request_id, resolve, One,
};
use super::problem::problem;
use super::state::App;

pub async fn authz(req: HttpRequest, body: web::Payload, app: web::Data<App>) -> HttpResponse {
    let rid = request_id(&req);
    let target_text = match path_target(&req, "/authz") {
        Ok(t) => t,
        Err(refusal) => return refusal.respond(&rid),
    };
    let (pack, target) = match resolve(&app, &target_text) {
        Ok(r) => r,
        Err(refusal) => return refusal.respond(&rid),
    };
    if !names_one_rule(&pack, &target, &target_text) {
        return problem(
            StatusCode::NOT_FOUND,
            "Invalid Path",
            "forward-auth answers for one rule: /authz/{namespace}/{policy}/{rule}",
            &rid,
        );
    }
    let bytes = match read_body(&req, body, &app, &rid).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let method = text("x-original-method")
        .or_else(|| text("x-forwarded-method"))
        .unwrap_or_else(|| req.method().as_str());
    let own_uri = req.uri().to_string();
    let uri = text("x-original-uri")
        .or_else(|| text("x-forwarded-uri"))
        .unwrap_or(&own_uri);
    let connection = req.connection_info().clone();
    let scheme = text("x-forwarded-proto").unwrap_or_else(|| connection.scheme());
    let host = text("x-forwarded-host")
        .or_else(|| text("host"))
        .unwrap_or_default();
    let forwarded_for = text("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .or_else(|| text("x-real-ip"))
        .filter(|v| !v.is_empty());
    let source = match (forwarded_for, req.peer_addr()) {
        (Some(ip), _) => Some((ip.to_string(), 0)),
        (None, Some(peer)) => Some((peer.ip().to_string(), peer.port())),
        (None, None) => None,
    };
    let local = req.app_config().local_addr();
    let request = Request {
        method,
        uri,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        host,
        scheme,
        body: (!bytes.is_empty()).then_some(&bytes[..]),
        source,
        destination: Some((local.ip().to_string(), local.port())),
        context: Vec::new(),
    };
    let explain = explain_requested(req.query_string());
    let envelope = serde_json::json!({"facts": gateway::facts(&request), "explain": explain});
    let one = One {
        pack,
        target,
        target_text,
        bytes: web::Bytes::from(envelope.to_string()),
        explain,
    };
    let decided = match decide(&app, one, &rid).await {
        Ok(d) => d,
        Err(refusal) => return refusal.respond(&rid),
    };
    let response: serde_json::Value =
        serde_json::from_str(&decided.body).unwrap_or(serde_json::Value::Null);
    let v = gateway::verdict(&response);
    let status = if v.allowed {
        StatusCode::OK
    } else {
        StatusCode::from_u16(v.status).unwrap_or(StatusCode::FORBIDDEN)
    };
    let mut out = HttpResponse::build(status);
    out.insert_header(("x-decision-id", decided.decision_id.clone()));
    for (k, value) in &v.headers {
        out.append_header((k.as_str(), value.as_str()));
    }
    if v.allowed {
        return out.finish();
    }
    match v.body {
        Some(text) => out
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(text),
        None => out
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .body(
                serde_json::json!({
                    "decision_id": decided.decision_id,
                    "state": v.state,
                    "error": response.get("error"),
                })
                .to_string(),
            ),
    }
}
