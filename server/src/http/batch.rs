//! `POST /decisions`: several decisions in one request, for a gateway that needs more than one
//! answer per call. The body is a JSON array of `{"target": "ns/policy[/rule]", "facts": {...}}`
//! (and optionally `"explain": true`); the answer is an array in the same order, each element
//! either what `POST /decision/{target}` would have answered, with `target` added, or a problem
//! object (`status`, `title`, `detail`) for that item alone.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use sentrie_vm::json;

use super::handlers::{decide, explain_requested, read_body, request_id, resolve, One, Refusal};
use super::problem::{invalid_json, problem};
use super::state::App;

/// The most decisions one batch may ask for.
pub const MAX_ITEMS: usize = 1000;

pub async fn decisions(req: HttpRequest, body: web::Payload, app: web::Data<App>) -> HttpResponse {
    let rid = request_id(&req);
    let bytes = match read_body(&req, body, &app, &rid).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    // One level more than a single request: the array around the items.
    if json::check_depth(&bytes, app.limits.json_depth + 1).is_err() {
        return invalid_json(&rid);
    }
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(&bytes)
    else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid JSON",
            "the body must be a JSON array of {\"target\": ..., \"facts\": {...}} objects",
            &rid,
        );
    };
    if items.len() > MAX_ITEMS {
        return problem(
            StatusCode::BAD_REQUEST,
            "Too Many Decisions",
            &format!(
                "a batch holds at most {MAX_ITEMS} decisions, this one {}",
                items.len()
            ),
            &rid,
        );
    }
    let explain_all = explain_requested(req.query_string());
    let mut out = String::with_capacity(64 + items.len() * 256);
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let target = item
            .get("target")
            .and_then(|t| t.as_str())
            .map(str::to_string);
        out.push_str("{\"target\":");
        match &target {
            Some(t) => json::write_str(&mut out, t),
            None => out.push_str("null"),
        }
        out.push(',');
        let result = match target {
            Some(t) => one(&app, &rid, &t, &item, explain_all).await,
            None => Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                title: "Invalid Target",
                detail: format!("item {i} has no \"target\" string"),
            }),
        };
        let members = match result {
            Ok(decided) => decided.body,
            Err(refusal) => serde_json::json!({
                "status": refusal.status.as_u16(),
                "title": refusal.title,
                "detail": refusal.detail,
            })
            .to_string(),
        };
        out.push_str(members.strip_prefix('{').unwrap_or(&members));
    }
    out.push(']');
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(out)
}

/// Evaluates one item of a batch.
async fn one(
    app: &web::Data<App>,
    rid: &str,
    target: &str,
    item: &serde_json::Value,
    explain_all: bool,
) -> Result<super::handlers::Decided, Refusal> {
    let target_text = target.trim_matches('/').to_string();
    let (pack, resolved) = resolve(app, &target_text)?;
    let explain = explain_all || item.get("explain") == Some(&serde_json::Value::Bool(true));
    let facts = match item.get("facts") {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(f @ serde_json::Value::Object(_)) => f.clone(),
        Some(_) => {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                title: "Invalid JSON",
                detail: "\"facts\" must be an object".into(),
            })
        }
    };
    let body = serde_json::json!({"facts": facts, "explain": explain}).to_string();
    decide(
        app,
        One {
            pack,
            target: resolved,
            target_text,
            bytes: web::Bytes::from(body),
            explain,
        },
        rid,
    )
    .await
}
