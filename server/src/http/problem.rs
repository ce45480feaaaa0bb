//! RFC 9457 problem details (HTTP_API.md §6): the one place error responses are built.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

/// Builds an `application/problem+json` response; `instance` is the request id.
pub fn problem(status: StatusCode, title: &str, detail: &str, request_id: &str) -> HttpResponse {
    let body = serde_json::json!({
        "type": format!("https://sentrie.sh/problems/{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "instance": request_id,
        "timestamp": crate::clock::rfc3339_now(),
    });
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
    // The rest of an unread body (too large, or never arriving) is not waited for: the
    // connection closes after this answer.
    if matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        res.force_close();
    }
    res.body(body.to_string())
}

pub fn invalid_json(request_id: &str) -> HttpResponse {
    problem(
        StatusCode::BAD_REQUEST,
        "Invalid JSON",
        "The request body could not be parsed as valid JSON",
        request_id,
    )
}

pub fn method_not_allowed(detail: &str, allow: &str, request_id: &str) -> HttpResponse {
    let mut res = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        detail,
        request_id,
    );
    if let Ok(v) = header::HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}
