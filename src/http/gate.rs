//! The gates in front of the handlers. The public gate fixes the view to `Public` and
//! never looks at credentials. The internal gate requires `Authorization: Bearer <key>`,
//! answers 401 (with `WWW-Authenticate`, no detail) without one, and writes an audit line
//! for every request, refused ones included.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::audit::{layers_of, AuditLine, AuditLog};
use crate::access::keys::KeyRing;
use crate::access::View;

/// The caller's view, put into request extensions by a gate.
#[derive(Clone)]
pub struct Caller(pub Arc<View>);

/// Which listener a request came in on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Public,
    Internal,
}

/// Requests the internal gate lets through without a key: the viewer's page and static
/// assets (no data in them; the page asks for the key).
fn is_viewer_asset(req: &Request) -> bool {
    let path = req.uri().path();
    if path.starts_with("/web/") {
        return true;
    }
    if path != "/" {
        return false;
    }
    let json_asked = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "f=json"));
    !json_asked && !super::accept_prefers_json(req.headers())
}

/// What the internal gate needs.
pub struct InternalGate {
    pub keys: KeyRing,
    pub audit: AuditLog,
}

pub async fn public_gate(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Caller(Arc::new(View::Public)));
    req.extensions_mut().insert(Side::Public);
    next.run(req).await
}

/// Longest `Authorization` value looked at; chizu keys are 70 characters.
const MAX_AUTH_LEN: usize = 512;

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    if v.len() > MAX_AUTH_LEN {
        return None;
    }
    let (scheme, key) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

fn unauthorized() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": "unauthorized" })),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"chizu\""),
    );
    r
}

pub async fn internal_gate(
    State(gate): State<Arc<InternalGate>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    // A refused path can be kilobytes long: the audit keeps its start.
    let route: String = req.uri().path().chars().take(512).collect();
    let query = req.uri().query().map(String::from);
    let principal = bearer(&req).and_then(|k| gate.keys.authenticate(k));
    req.extensions_mut().insert(Side::Internal);
    let resp = match &principal {
        None if is_viewer_asset(&req) => next.run(req).await,
        Some(p) => {
            req.extensions_mut()
                .insert(Caller(Arc::new(View::Internal(p.clone()))));
            let mut r = next.run(req).await;
            // What the internal view shows depends on the key: shared caches must not mix callers.
            r.headers_mut()
                .append(header::VARY, HeaderValue::from_static("authorization"));
            r
        }
        None => unauthorized(),
    };
    let written = gate.audit.record(&AuditLine {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        key: principal.as_ref().map(|p| p.name.as_str()),
        roles: principal
            .as_ref()
            .map(|p| p.roles.iter().map(String::as_str).collect())
            .unwrap_or_default(),
        method: &method,
        route: &route,
        layers: layers_of(&route, query.as_deref()),
        status: resp.status().as_u16(),
        ms: started.elapsed().as_secs_f64() * 1000.0,
    });
    // Fail closed: what cannot be audited is not served.
    if let Err(e) = written {
        tracing::error!("audit log write failed, refusing the request: {e}");
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "the audit log cannot be written: the internal view refuses requests until it can" })),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return private(r);
    }
    private(resp)
}

/// Internal answers are for one caller: never stored by a shared cache.
fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    let value = match h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        Some(v) if v.contains("private") || v.contains("no-store") => return r,
        Some(v) => v.replace("public", "private"),
        None => "private, no-cache".to_string(),
    };
    let value = if value.contains("private") {
        value
    } else {
        format!("private, {value}")
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(header::CACHE_CONTROL, v);
    }
    r
}
