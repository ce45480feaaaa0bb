//! Route handlers. They stay thin: extract, call the VM, map to a response.

use std::cell::RefCell;
use std::time::Instant;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bumpalo::Bump;
use futures_util::StreamExt;
use sentrie_vm::{json, target, Value};

use super::log_line::DecisionLine;
use super::problem::{invalid_json, method_not_allowed, problem};
use super::state::App;
use crate::output;

/// The request id chosen by the middleware.
#[derive(Clone)]
pub struct RequestId(pub String);

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map_or_else(String::new, |r| r.0.clone())
}

thread_local! {
    /// One arena per worker thread, reset for every decision; never held across an await.
    static ARENA: RefCell<Bump> = RefCell::new(Bump::with_capacity(ARENA_START_BYTES));
}

/// A new arena's first chunk.
const ARENA_START_BYTES: usize = 64 * 1024;

/// The target named by the request path after `prefix`, percent-decoded.
pub(super) fn path_target(req: &HttpRequest, prefix: &str) -> Result<String, Refusal> {
    let raw = req.uri().path().strip_prefix(prefix).unwrap_or("");
    decode_path(raw).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "Invalid Path",
            "the path is not valid percent-encoded UTF-8",
        )
    })
}

/// Whether `target_text` resolved to exactly the one rule its last segment names (not a
/// policy with one export).
pub(super) fn names_one_rule(
    pack: &super::state::PackState,
    target: &target::Target,
    target_text: &str,
) -> bool {
    let last = target_text
        .trim_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    matches!(target.rules.as_slice(), [r] if pack.program.program().rules[*r].name == last)
}

pub async fn decision(req: HttpRequest, body: web::Payload, app: web::Data<App>) -> HttpResponse {
    let rid = request_id(&req);
    let target_text = match path_target(&req, "/decision") {
        Ok(t) => t,
        Err(refusal) => return refusal.respond(&rid),
    };
    if target_text.split('/').all(str::is_empty) {
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid Path",
            "The path parameter is required but was not provided",
            &rid,
        );
    }
    // The target is resolved before the body is read: a wrong path is answered at once.
    let (pack, target) = match resolve(&app, &target_text) {
        Ok(r) => r,
        Err(refusal) => return refusal.respond(&rid),
    };
    let bytes = match read_body(&req, body, &app, &rid).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let one = One {
        pack,
        target,
        target_text,
        bytes: bytes.freeze(),
        explain: explain_requested(req.query_string()),
    };
    match decide(&app, one, &rid).await {
        Ok(d) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header(("x-decision-id", d.decision_id))
            .body(d.body),
        Err(refusal) => refusal.respond(&rid),
    }
}

/// Why a decision was not evaluated: a problem's status, title and detail.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl Refusal {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            status,
            title,
            detail: detail.into(),
        }
    }

    /// The RFC 9457 response.
    pub fn respond(&self, rid: &str) -> HttpResponse {
        problem(self.status, self.title, &self.detail, rid)
    }
}

/// The pack that owns `target_text` and the target resolved in it.
pub(super) fn resolve(
    app: &App,
    target_text: &str,
) -> Result<(std::sync::Arc<super::state::PackState>, target::Target), Refusal> {
    let pack = match app.route(target_text) {
        super::state::Route::Pack(p) => p,
        super::state::Route::NotReady(name) => {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                format!("pack `{name}` is not loaded yet; retry later"),
            ))
        }
        super::state::Route::NoOwner => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "Invalid Path",
                format!(
                    "namespace not found: no served pack owns {}",
                    target_text.trim_matches('/')
                ),
            ))
        }
    };
    match target::resolve(&pack.program, target_text) {
        Ok(t) => Ok((pack, t)),
        Err(e) => Err(Refusal::new(StatusCode::NOT_FOUND, "Invalid Path", e)),
    }
}

/// Reads a request body within the size limit (a declared length over it is refused before
/// anything is read) and the body timeout, and checks its JSON nesting depth.
pub(super) async fn read_body(
    req: &HttpRequest,
    mut body: web::Payload,
    app: &App,
    rid: &str,
) -> Result<web::BytesMut, HttpResponse> {
    let limit = app.limits.body_bytes;
    let too_large = || {
        problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            &format!("request body exceeds {limit} bytes"),
            rid,
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut bytes = web::BytesMut::new();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                return Err(invalid_json(rid));
            };
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    // A body that never (fully) arrives is given up after the body timeout.
    match actix_web::rt::time::timeout(app.limits.body_timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(response)) => Err(response),
        Err(_) => Err(problem(
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout",
            &format!(
                "the request body did not arrive within {} ms",
                app.limits.body_timeout.as_millis()
            ),
            rid,
        )),
    }
}

/// One decision to evaluate: a resolved target and a request body (`{"facts": ...}`).
pub(super) struct One {
    pub pack: std::sync::Arc<super::state::PackState>,
    pub target: target::Target,
    pub target_text: String,
    pub bytes: web::Bytes,
    pub explain: bool,
}

/// What a decision answered: the response body (`{"decision_id", "decisions", ...}`).
pub(super) struct Decided {
    pub decision_id: String,
    pub body: String,
}

/// Evaluates one decision (on the module threads when the pack calls user modules), with the
/// limits, decision log, shadow comparison and metrics of every decision surface.
pub(super) async fn decide(app: &web::Data<App>, one: One, rid: &str) -> Result<Decided, Refusal> {
    let invalid = || {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "Invalid JSON",
            "The request body could not be parsed as valid JSON",
        )
    };
    if json::check_depth(&one.bytes, app.limits.json_depth).is_err() {
        return Err(invalid());
    }
    let started = Instant::now();
    let inline = !one.pack.program.calls_user_modules();
    let decision_id = sentrie_modules::native::core::uuid_v7_id();
    let job = Job {
        app: app.clone(),
        pack: one.pack,
        target: one.target,
        bytes: one.bytes,
        rid: rid.to_string(),
        target_text: one.target_text,
        decision_id: decision_id.clone(),
        explain: one.explain,
    };
    let evaluated = if inline {
        guarded(&job)
    } else {
        // User modules may run for seconds: evaluate on the module threads so this worker's
        // other connections are not held up behind the call.
        match app.modules.run(move || guarded(&job)).await {
            Ok(r) => r,
            Err(super::module_pool::PoolError::Busy) => {
                return Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "every module thread is busy and the queue is full; retry later",
                ))
            }
            Err(super::module_pool::PoolError::Lost) => Err(()),
        }
    };
    app.metrics
        .decision_latency(started.elapsed().as_nanos() as u64);
    match evaluated {
        Ok(Ok(body)) => Ok(Decided { decision_id, body }),
        Ok(Err(())) => Err(invalid()),
        Err(()) => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "the decision could not be evaluated",
        )),
    }
}

/// Everything one decision needs, owned so it can move to the blocking pool.
struct Job {
    app: web::Data<App>,
    pack: std::sync::Arc<super::state::PackState>,
    target: target::Target,
    bytes: web::Bytes,
    rid: String,
    target_text: String,
    /// Time-ordered (UUID v7): in the response body, its header and the log line.
    decision_id: String,
    /// `?explain=true` (the body's `"explain": true` is read with the facts).
    explain: bool,
}

/// `explain=true` (or `explain=1`, or a bare `explain`) in a query string.
pub(super) fn explain_requested(query: &str) -> bool {
    query.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        k == "explain" && matches!(v, "true" | "1")
    })
}

/// `evaluate` behind a panic guard: `Err(())` for a caught panic (a bug), after which the
/// thread's arena, possibly mid-use, is replaced.
fn guarded(job: &Job) -> Result<Result<String, ()>, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| evaluate(job)))
        .map_err(|_| ARENA.with(|a| *a.borrow_mut() = Bump::new()))
}

/// Decodes the body straight into the thread's arena, evaluates and serialises the response.
fn evaluate(job: &Job) -> Result<String, ()> {
    let Job {
        app,
        pack,
        target,
        bytes,
        rid,
        target_text,
        decision_id,
        explain,
    } = job;
    let started = Instant::now();
    let result = ARENA.with(|cell| {
        let mut arena = cell.borrow_mut();
        arena.reset();
        let bump: &Bump = &arena;
        let Ok(Value::Map(top)) = json::decode(bytes, bump) else {
            return Err(());
        };
        let facts = match sentrie_vm::value::map_get(top, "facts") {
            None | Some(Value::Null) => Value::Map(&[]),
            Some(v @ Value::Map(_)) => v,
            Some(_) => return Err(()),
        };
        let limits = sentrie_vm::Limits {
            fuel: app.limits.fuel,
            deadline: Some(Instant::now() + app.limits.deadline),
            ..sentrie_vm::Limits::default()
        };
        let explain = *explain
            || matches!(
                sentrie_vm::value::map_get(top, "explain"),
                Some(Value::Bool(true))
            );
        let (outcomes, traces) = if explain {
            sentrie_vm::evaluate_explained(
                &pack.program,
                target.policy,
                &target.rules,
                facts,
                bump,
                limits,
            )
        } else {
            let outcomes = sentrie_vm::evaluate(
                &pack.program,
                target.policy,
                &target.rules,
                facts,
                bump,
                limits,
            );
            (outcomes, Vec::new())
        };
        let mut inner = String::with_capacity(512);
        output::write_explained(&mut inner, &pack.program, &outcomes, &traces);
        if let Some(log) = &app.audit {
            let masks: std::borrow::Cow<'_, [String]> = if pack.mask.is_empty() {
                std::borrow::Cow::Borrowed(&log.mask)
            } else {
                std::borrow::Cow::Owned([log.mask.as_slice(), &pack.mask].concat())
            };
            let line = DecisionLine {
                decision_id,
                request_id: rid,
                target: target_text,
                pack,
                duration: started.elapsed(),
                facts,
                request_len: bytes.len(),
            };
            log.record(line.build(log.facts, &masks, &inner));
        }
        if let Some(shadow) = &app.shadow {
            shadow.submit(
                app,
                super::shadow::Job {
                    bytes: bytes.clone(),
                    target_text: target_text.clone(),
                    primary: std::sync::Arc::clone(pack),
                    primary_body: inner.clone(),
                    decision_id: decision_id.clone(),
                    request_id: rid.clone(),
                },
            );
        }
        // The response: the decision id first, then the members `write_response` wrote.
        let mut body = String::with_capacity(inner.len() + 64);
        body.push_str("{\"decision_id\":");
        json::write_str(&mut body, decision_id);
        body.push(',');
        body.push_str(inner.strip_prefix('{').unwrap_or(&inner));
        Ok(body)
    });
    // An arena one large decision grew is freed now, not kept for the thread's next decision.
    ARENA.with(|cell| {
        let mut arena = cell.borrow_mut();
        if arena.allocated_bytes() > app.limits.arena_keep_bytes {
            *arena = Bump::with_capacity(ARENA_START_BYTES);
            app.metrics.arena_shrunk();
        }
    });
    result
}

/// Percent-decodes each path segment; `None` for malformed escapes or invalid UTF-8.
fn decode_path(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Everything that is not a fixed route: `/decision[/...]` by method, otherwise 404.
pub async fn dispatch(req: HttpRequest, body: web::Payload, app: web::Data<App>) -> HttpResponse {
    let path = req.uri().path();
    if path == "/decisions" {
        return match *req.method() {
            actix_web::http::Method::POST => super::batch::decisions(req, body, app).await,
            actix_web::http::Method::OPTIONS => decision_options().await,
            _ => decision_other_method(req).await,
        };
    }
    if path.starts_with("/authz/") {
        return super::authz::authz(req, body, app).await;
    }
    if path != "/decision" && !path.starts_with("/decision/") {
        return not_found(req).await;
    }
    match *req.method() {
        actix_web::http::Method::POST => decision(req, body, app).await,
        actix_web::http::Method::OPTIONS => decision_options().await,
        _ => decision_other_method(req).await,
    }
}

pub async fn decision_options() -> HttpResponse {
    HttpResponse::Ok().finish()
}

pub async fn decision_other_method(req: HttpRequest) -> HttpResponse {
    method_not_allowed(
        "Only POST requests are supported for this endpoint",
        "POST, OPTIONS",
        &request_id(&req),
    )
}

pub async fn health(req: HttpRequest, app: web::Data<App>) -> HttpResponse {
    if let Some(refused) = get_or_head(&req) {
        return refused;
    }
    let packs: Vec<serde_json::Value> = app.packs.iter().map(slot_health).collect();
    let degraded = app.packs.iter().any(|s| s.last_error().is_some())
        || app
            .shadow
            .as_ref()
            .is_some_and(|s| s.slot.last_error().is_some());
    let status = if degraded {
        "degraded"
    } else if !app.ready() {
        "starting"
    } else {
        "healthy"
    };
    let mut body = serde_json::json!({
        "status": status,
        "time": crate::clock::rfc3339_now(),
        "ready": app.ready(),
    });
    if let Some(map) = body.as_object_mut() {
        // The first pack's version and error at the top level, as a single-pack server
        // always reported them.
        if let Some(first) = packs.first() {
            for key in ["pack", "last_reload_error"] {
                if let Some(v) = first.get(key) {
                    map.insert(key.into(), v.clone());
                }
            }
        }
        if let Some(shadow) = &app.shadow {
            // The candidate's version, with where it comes from and its last refused reload.
            let about = slot_health(&shadow.slot);
            let mut candidate = about.get("pack").cloned().unwrap_or_default();
            if let Some(m) = candidate.as_object_mut() {
                for key in ["source", "last_reload_error"] {
                    if let Some(v) = about.get(key) {
                        m.insert(key.into(), v.clone());
                    }
                }
            }
            map.insert("shadow".into(), candidate);
        }
        map.insert("packs".into(), serde_json::Value::Array(packs));
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// 405 unless the method is GET or HEAD.
fn get_or_head(req: &HttpRequest) -> Option<HttpResponse> {
    let m = req.method();
    (m != actix_web::http::Method::GET && m != actix_web::http::Method::HEAD).then(|| {
        method_not_allowed(
            "Only GET and HEAD are supported for this endpoint",
            "GET, HEAD",
            &request_id(req),
        )
    })
}

/// One pack in `/health`: where it comes from, the version served (if any) and the last
/// refused reload or failed fetch.
fn slot_health(slot: &super::state::Slot) -> serde_json::Value {
    let mut about = serde_json::json!({
        "name": slot.name,
        "source": slot.source.to_string(),
    });
    if let Some(map) = about.as_object_mut() {
        let pack = slot.pack.load();
        map.insert(
            "pack".into(),
            match pack.as_deref() {
                Some(p) => serde_json::json!({
                    "name": p.name, "version": p.version, "hash": p.hash,
                    "activated": p.activated, "namespaces": p.namespaces,
                }),
                None => serde_json::Value::Null,
            },
        );
        if let Some(e) = slot.last_error() {
            map.insert(
                "last_reload_error".into(),
                serde_json::json!({"message": e.message, "time": e.time}),
            );
        }
    }
    about
}

/// `GET /ready`: 200 once every pack has a served version, 503 before (for readiness probes
/// and load balancers; liveness is `/health`).
pub async fn ready(req: HttpRequest, app: web::Data<App>) -> HttpResponse {
    if let Some(refused) = get_or_head(&req) {
        return refused;
    }
    let waiting: Vec<&str> = app
        .packs
        .iter()
        .filter(|s| s.pack.load().is_none())
        .map(|s| s.name.as_str())
        .collect();
    let (status, body) = if waiting.is_empty() {
        (StatusCode::OK, serde_json::json!({"ready": true}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"ready": false, "waiting_for": waiting}),
        )
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

pub async fn metrics(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, super::metrics::CONTENT_TYPE))
        .body(app.metrics.render())
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(include_str!("../../openapi.json"))
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    problem(
        StatusCode::NOT_FOUND,
        "Not Found",
        req.uri().path(),
        &request_id(&req),
    )
}

#[cfg(test)]
mod tests {
    use super::decode_path;

    #[test]
    fn percent_decoding_of_paths() {
        assert_eq!(decode_path("/a%2Fb/c").as_deref(), Some("/a/b/c"));
        assert_eq!(decode_path("/caf%C3%A9").as_deref(), Some("/café"));
        assert_eq!(decode_path("/bad%zz"), None);
        assert_eq!(decode_path("/bad%ff"), None);
        assert_eq!(decode_path("/trunc%4"), None);
    }
}
