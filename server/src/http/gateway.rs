//! What a gateway asks about, as facts: one layout for forward-auth (`/authz/...`, used by
//! nginx `auth_request`, Traefik ForwardAuth and Kong) and Envoy's external authorization.
//!
//! ```text
//! request     {method, path (no query), query {name: value}, headers {name: value},
//!              host, scheme, body (only when one was sent)}
//! source      {address, port}      the client, as the gateway saw it
//! destination {address, port}      where the request was going
//! context     {name: value}        Envoy's context extensions ({} otherwise)
//! ```
//!
//! Header names are lower-cased; repeated headers and repeated query parameters are joined
//! with ",". Query values are percent-decoded (`+` is a space).
//!
//! What a decision says back is read from the rule's attachments: `status` (the denied
//! status, 403 by default), `headers` (a map: on an allowed request, headers for the
//! upstream; on a denied one, headers for the client), `response_headers` (headers for the
//! client on an allowed request) and `body` (the denied body).

use serde_json::{Map, Value};

/// The parts of a request a gateway forwards.
#[derive(Default)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path and query as sent (`/a/b?x=1`).
    pub uri: &'a str,
    pub headers: Vec<(String, String)>,
    pub host: &'a str,
    pub scheme: &'a str,
    pub body: Option<&'a [u8]>,
    pub source: Option<(String, u16)>,
    pub destination: Option<(String, u16)>,
    pub context: Vec<(String, String)>,
}

/// The facts of a request (the object under `"facts"`).
pub fn facts(r: &Request<'_>) -> Value {
    let (path, query) = r.uri.split_once('?').unwrap_or((r.uri, ""));
    let mut headers = Map::new();
    for (name, value) in &r.headers {
        join(&mut headers, name.to_ascii_lowercase(), value);
    }
    let mut params = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        join(&mut params, k.into_owned(), &v);
    }
    let mut request = serde_json::json!({
        "method": r.method,
        "path": path,
        "query": params,
        "headers": headers,
        "host": r.host,
        "scheme": r.scheme,
    });
    if let (Some(body), Some(map)) = (r.body, request.as_object_mut()) {
        map.insert(
            "body".into(),
            Value::String(String::from_utf8_lossy(body).into_owned()),
        );
    }
    let peer = |p: &Option<(String, u16)>| match p {
        Some((address, port)) => serde_json::json!({"address": address, "port": port}),
        None => serde_json::json!({"address": "", "port": 0}),
    };
    let context: Map<String, Value> = r
        .context
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "request": request,
        "source": peer(&r.source),
        "destination": peer(&r.destination),
        "context": context,
    })
}

/// Adds `value` under `name`, joining with "," when the name was seen before.
fn join(map: &mut Map<String, Value>, name: String, value: &str) {
    match map.get_mut(&name) {
        Some(Value::String(s)) => {
            s.push(',');
            s.push_str(value);
        }
        _ => {
            map.insert(name, Value::String(value.to_string()));
        }
    }
}

/// How a gateway should answer, read from a decision.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    /// The denied status (403 unless the `status` attachment says otherwise).
    pub status: u16,
    /// Upstream headers when allowed, client headers when denied (`headers`).
    pub headers: Vec<(String, String)>,
    /// Client headers when allowed (`response_headers`).
    pub response_headers: Vec<(String, String)>,
    /// The denied body (`body`), if the policy gave one.
    pub body: Option<String>,
    /// The decision's state: `TRUE`, `FALSE` or `UNKNOWN`.
    pub state: String,
}

/// The denied status when the policy names none.
pub const DENIED: u16 = 403;

/// Reads the verdict from one decision of a response body (`{"decisions": [{"decision":
/// {"state", ...}, "attachments": {...}}]}`). Only TRUE allows; a status outside 200–599 is
/// ignored (403), as are headers whose names or values HTTP cannot carry.
pub fn verdict(response: &Value) -> Verdict {
    let decision = &response["decisions"][0];
    let state = decision["decision"]["state"]
        .as_str()
        .unwrap_or("UNKNOWN")
        .to_string();
    let attachments = &decision["attachments"];
    let status = attachments["status"]
        .as_u64()
        .filter(|s| (200..=599).contains(s))
        .map_or(DENIED, |s| s as u16);
    // Sorted by name, whatever order the map kept.
    let headers_of = |v: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let value = match v {
                            Value::String(s) => s.clone(),
                            Value::Number(_) | Value::Bool(_) => v.to_string(),
                            _ => return None,
                        };
                        let ok = actix_web::http::header::HeaderName::try_from(k.as_str()).is_ok()
                            && actix_web::http::header::HeaderValue::from_str(&value).is_ok();
                        ok.then(|| (k.to_ascii_lowercase(), value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    };
    let body = match &attachments["body"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    Verdict {
        allowed: state == "TRUE",
        status,
        headers: headers_of(&attachments["headers"]),
        response_headers: headers_of(&attachments["response_headers"]),
        body,
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_joins_repeats_and_splits_the_query() {
        let r = Request {
            method: "POST",
            uri: "/v1/chat?model=gpt&tag=a&tag=b%20c&q=x+y",
            headers: vec![
                ("Authorization".into(), "Bearer t".into()),
                ("X-Tag".into(), "1".into()),
                ("x-tag".into(), "2".into()),
            ],
            host: "api.example.com",
            scheme: "https",
            body: Some(b"{}"),
            source: Some(("10.0.0.1".into(), 51000)),
            destination: None,
            context: vec![("tenant".into(), "acme".into())],
        };
        let f = facts(&r);
        assert_eq!(f["request"]["path"], "/v1/chat");
        assert_eq!(f["request"]["query"]["tag"], "a,b c");
        assert_eq!(f["request"]["query"]["q"], "x y");
        assert_eq!(f["request"]["headers"]["x-tag"], "1,2");
        assert_eq!(f["request"]["headers"]["authorization"], "Bearer t");
        assert_eq!(f["request"]["body"], "{}");
        assert_eq!(
            f["source"],
            serde_json::json!({"address": "10.0.0.1", "port": 51000})
        );
        assert_eq!(f["destination"]["port"], 0);
        assert_eq!(f["context"]["tenant"], "acme");
        let no_body = facts(&Request {
            uri: "/",
            ..Request::default()
        });
        assert!(no_body["request"].get("body").is_none());
    }

    #[test]
    fn only_true_allows_and_attachments_shape_the_answer() {
        let v = verdict(
            &serde_json::json!({"decisions": [{"decision": {"state": "TRUE"},
            "attachments": {"headers": {"X-User": "u1", "bad header": "x", "x-n": 3}}}]}),
        );
        assert!(v.allowed);
        assert_eq!(
            v.headers,
            vec![("x-n".into(), "3".into()), ("x-user".into(), "u1".into())]
        );
        let v = verdict(
            &serde_json::json!({"decisions": [{"decision": {"state": "FALSE"},
            "attachments": {"status": 401, "body": "log in"}}]}),
        );
        assert_eq!(
            (v.allowed, v.status, v.body.as_deref()),
            (false, 401, Some("log in"))
        );
        let v = verdict(
            &serde_json::json!({"decisions": [{"decision": {"state": "UNKNOWN"},
            "attachments": {"status": 42}}]}),
        );
        assert_eq!((v.allowed, v.status), (false, DENIED));
        assert!(!verdict(&serde_json::json!({})).allowed);
    }
}
