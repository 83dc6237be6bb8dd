//! What keeps a flood of requests from toppling the server: a concurrency limit per
//! listener with load shedding (503 + `Retry-After`, never an unbounded queue), a
//! per-request timeout, a request-body bound, and one JSON shape for every error a layer
//! or the router produces (405, 408, 413, 414, 431, 503 …), so clients always get a reason.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::{metrics, AppState, Side};

/// Largest request body the public listener accepts (its bodies are a drawn area at most).
const MAX_BODY: usize = 16 * 1024;
/// Largest body the internal listener accepts: a staff-drawn polygon or a sensor
/// gateway's back-fill of 1,000 readings is larger than the public's, but still bounded.
const MAX_BODY_INTERNAL: usize = 1024 * 1024;
/// Longest request path accepted, in bytes.
const MAX_PATH: usize = 2048;
/// Most header bytes accepted (names and values); hyper itself stops far later.
const MAX_HEADERS: usize = 16 * 1024;

fn reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not found",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed: chizu serves GET and HEAD",
        StatusCode::NOT_ACCEPTABLE => "not acceptable",
        StatusCode::REQUEST_TIMEOUT => "request timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::URI_TOO_LONG => "request path too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request headers too large",
        StatusCode::SERVICE_UNAVAILABLE => "busy or too slow: retry later",
        s if s.is_server_error() => "internal error",
        _ => "error",
    }
}

/// The outer guard of every request, one layer rather than three (each `from_fn` layer
/// clones the whole stack below it per request): counts the request for `/metrics`,
/// refuses oversized or NUL paths and headers, sheds load when no slot is free, and gives
/// every error response a JSON body.
async fn guard(
    app: Arc<AppState>,
    side: Side,
    slots: Arc<Semaphore>,
    req: Request,
    next: Next,
) -> Response {
    let route = metrics::route_label(req.uri().path());
    let resp = json_errors(&app, &slots, req, next).await;
    app.metrics.record(route, resp.status().as_u16(), side);
    resp
}

/// The public listener's front: a `GET /tiles/…` whose tile is cached is answered here,
/// ahead of every layer below and the router (a disaster's public traffic is mostly
/// cached tiles), with the same checks as [`json_errors`], the same slot and the same
/// count as any request. Every other request, and a tile not cached, goes the full way.
#[derive(Clone)]
struct Front<S> {
    app: Arc<AppState>,
    slots: Arc<Semaphore>,
    inner: S,
}

/// An answer of the layers below, with its body as axum's.
type Answer<B> = Result<axum::http::Response<B>, Infallible>;

fn boxed_body<B>(r: Answer<B>) -> Result<Response, Infallible>
where
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    r.map(|resp| resp.map(Body::new))
}

impl<S, B> tower::Service<Request> for Front<S>
where
    S: tower::Service<Request, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<
        futures_util::future::BoxFuture<'static, Result<Response, Infallible>>,
        futures_util::future::Map<S::Future, fn(Answer<B>) -> Result<Response, Infallible>>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        use futures_util::future::Either;
        if req.method() != axum::http::Method::GET
            || !req.uri().path().starts_with("/tiles/")
            || refusal(&req).is_some()
        {
            let to_body: fn(Answer<B>) -> Result<Response, Infallible> = boxed_body;
            return Either::Right(futures_util::FutureExt::map(self.inner.call(req), to_body));
        }
        // The service made ready goes with the request; this one keeps a clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (app, slots) = (Arc::clone(&self.app), Arc::clone(&self.slots));
        Either::Left(Box::pin(async move {
            let (parts, body) = req.into_parts();
            let hit = cached_tile(&app, &slots, parts.uri.path(), &parts.headers);
            if let Some(resp) = hit.await {
                return Ok(resp);
            }
            boxed_body(inner.call(Request::from_parts(parts, body)).await)
        }))
    }
}

/// A cached tile for the public listener, if there is one and a slot is free (`None`
/// sends the request the full way, which sheds it or cuts the tile).
async fn cached_tile(
    app: &AppState,
    slots: &Arc<Semaphore>,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Option<Response> {
    let permit = Arc::clone(slots).try_acquire_owned().ok()?;
    let resp = super::tiles::cached_public(app, path, headers).await?;
    app.metrics
        .record(metrics::Route::TILES, resp.status().as_u16(), Side::Public);
    Some(resp.map(|body| {
        Body::new(HeldBody {
            inner: body,
            _permit: permit,
        })
    }))
}

/// The answer to a request refused before any handler: a path too long or with a NUL
/// byte, headers too large.
fn refusal(req: &Request) -> Option<Response> {
    if req.uri().path().len() > MAX_PATH {
        return Some(
            (
                StatusCode::URI_TOO_LONG,
                Json(serde_json::json!({ "error": reason(StatusCode::URI_TOO_LONG) })),
            )
                .into_response(),
        );
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADERS {
        let s = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        return Some((s, Json(serde_json::json!({ "error": reason(s) }))).into_response());
    }
    // A NUL byte in a path is never a real name (and makes file APIs fail): refuse it here.
    let path = req.uri().path();
    if path.contains("%00") || path.contains('\0') {
        return Some(
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "the path contains a NUL byte" })),
            )
                .into_response(),
        );
    }
    None
}

/// Gives every error response a JSON body (keeping a short plain-text reason for 400s,
/// e.g. an undecodable path); admits the request through [`shed`].
async fn json_errors(
    app: &Arc<AppState>,
    slots: &Arc<Semaphore>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(refused) = refusal(&req) {
        return refused;
    }
    let resp = shed(app, slots, req, next).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let detail = if status == StatusCode::BAD_REQUEST {
        axum::body::to_bytes(body, 1024)
            .await
            .ok()
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .filter(|s| !s.trim().is_empty())
    } else {
        None
    };
    let msg = detail.unwrap_or_else(|| reason(status).to_string());
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::json!({ "error": msg }).to_string();
    Response::from_parts(parts, Body::from(body))
}

/// Admits a request if a slot is free, else answers 503 + `Retry-After` at once: no
/// queue can build up behind a slow request.
async fn shed(app: &AppState, slots: &Arc<Semaphore>, req: Request, next: Next) -> Response {
    let Ok(permit) = Arc::clone(slots).try_acquire_owned() else {
        app.metrics.shed.fetch_add(1, Ordering::Relaxed);
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": reason(StatusCode::SERVICE_UNAVAILABLE) })),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    // The slot is held until the last byte of the body is sent (or the connection drops):
    // a client that does not read keeps its response, and counts against the limit.
    next.run(req).await.map(|body| {
        Body::new(HeldBody {
            inner: body,
            _permit: permit,
        })
    })
}

/// A body that holds its request's slot until it is dropped (sent, or the client gone),
/// and otherwise is its inner body: frames, end and size hint.
struct HeldBody {
    inner: Body,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl http_body::Body for HeldBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Largest answer compressed on the fly: compressing runs on the async workers, so a big
/// body (a 10 MB item page) is sent as it is rather than hold a worker for milliseconds.
const MAX_COMPRESSED: u64 = 1 << 20;

/// gzip or brotli (as the client accepts) for JSON, HTML and text answers not yet
/// compressed: the catalog, TileJSON, reports, search, item pages. Tiles, pages and viewer
/// assets arrive compressed already and pass through.
fn compression(
) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
    tower_http::compression::CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(DefaultPredicate::new().and(Small))
}

/// Answers whose body is known to be at most [`MAX_COMPRESSED`] bytes.
#[derive(Clone, Copy)]
struct Small;

impl tower_http::compression::Predicate for Small {
    fn should_compress<B: http_body::Body>(&self, response: &axum::http::Response<B>) -> bool {
        response
            .body()
            .size_hint()
            .upper()
            .is_some_and(|n| n <= MAX_COMPRESSED)
    }
}

/// Wraps a listener's router in the limits, the JSON errors and the request counter.
pub fn apply(r: Router, app: Arc<AppState>, side: Side) -> Router {
    let settings = &app.settings;
    let slots = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
    let (front_app, front_slots) = (Arc::clone(&app), Arc::clone(&slots));
    let timeout =
        TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, settings.request_timeout);
    // One stack around the whole router, outermost first, rather than `Router::layer`
    // per guard: that wraps every route once per layer, each a boxed service cloned on
    // every request (a fifth of a cache hit's user time went to moving those futures).
    let guarded = tower::ServiceBuilder::new()
        .layer(compression())
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let (app, slots) = (Arc::clone(&app), Arc::clone(&slots));
                async move { guard(app, side, slots, req, next).await }
            },
        ))
        .layer(RequestBodyLimitLayer::new(match side {
            Side::Public => MAX_BODY,
            Side::Internal => MAX_BODY_INTERNAL,
        }))
        .layer(timeout)
        .service(r);
    match side {
        Side::Public => Router::new().fallback_service(Front {
            app: front_app,
            slots: front_slots,
            inner: guarded,
        }),
        Side::Internal => Router::new().fallback_service(guarded),
    }
}
