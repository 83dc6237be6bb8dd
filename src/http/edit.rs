//! Editing live layers — OGC API – Features Part 4 (Create, Replace, Update, Delete) on
//! the internal listener — their history, and `GET /events`, the stream of changes each
//! view may know of.
//!
//! Helpers here return a finished refusal as their error: each is answered as it is, and
//! one request makes at most one.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{base_url, AppError, AppState, Caller, Side};
use crate::access::{Principal, View};
use crate::live::{Applied, Edit, LiveError, LiveStore};
use crate::store::LayerSnapshot;

const GEOJSON: &str = "application/geo+json";

/// The live layer `id` as the caller sees it, and the caller as an editor.
fn editable<'a>(
    app: &AppState,
    view: &'a View,
    id: &str,
) -> Result<(Arc<LayerSnapshot>, &'a Principal), Response> {
    let catalog = app.catalog.load_full();
    let layer = catalog
        .get(id)
        .filter(|l| view.sees_layer(&l.def))
        .cloned()
        .ok_or_else(|| AppError::NotFound.into_response())?;
    let View::Internal(who) = view else {
        return Err(AppError::NotFound.into_response());
    };
    if layer.def.live.is_none() {
        return Err(refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "this layer is read from files and cannot be edited; only `kind = \"live\"` layers can",
        ));
    }
    Ok((layer, who))
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn store(app: &AppState) -> Result<Arc<LiveStore>, Response> {
    app.live().cloned().ok_or_else(|| {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "no state database is open for live layers",
        )
    })
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` names: `None` without the header (or `*`), `Some(0)` for
/// one that can be no version.
fn if_match(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(header::IF_MATCH)?.to_str().unwrap_or("").trim();
    if v == "*" {
        return None;
    }
    Some(v.trim_matches('"').parse().unwrap_or(0))
}

fn live_error(e: LiveError) -> Response {
    match e {
        LiveError::NotFound => AppError::NotFound.into_response(),
        LiveError::Invalid(m) => refusal(StatusCode::BAD_REQUEST, &m),
        LiveError::Forbidden(_) => refusal(StatusCode::FORBIDDEN, &e.to_string()),
        LiveError::Stale { current } => {
            let mut r = (
                StatusCode::PRECONDITION_FAILED,
                Json(json!({ "error": e.to_string(), "version": current })),
            )
                .into_response();
            r.headers_mut().insert(header::ETAG, etag(current));
            r
        }
        LiveError::Storage(_) | LiveError::Unknown(_) => {
            tracing::error!("live edit refused: {e}");
            let mut r = refusal(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            r
        }
    }
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.contains("json") {
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the feature as application/geo+json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        refusal(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
        )
    })
}

/// The feature as the caller sees it after an edit, with its ETag.
fn answer(
    app: &AppState,
    headers: &HeaderMap,
    view: &View,
    id: &str,
    done: &Applied,
    status: StatusCode,
) -> Response {
    let snap = &done.snapshot;
    let Some(f) = snap.features.iter().find(|f| f.id == done.fid) else {
        return (status, [(header::ETAG, etag(done.version))]).into_response();
    };
    let base = base_url(&app.settings, headers);
    let href = format!("{base}/collections/{id}/items/{}", done.fid);
    let mut v = crate::query::geojson::feature(snap, f, view);
    v["links"] = json!([{ "href": href, "rel": "self", "type": GEOJSON }]);
    let mut r = (status, [(header::CONTENT_TYPE, GEOJSON)], Json(v)).into_response();
    r.headers_mut().insert(header::ETAG, etag(done.version));
    if status == StatusCode::CREATED {
        if let Ok(h) = HeaderValue::from_str(&href) {
            r.headers_mut().insert(header::LOCATION, h);
        }
    }
    r
}

async fn blocking<T: Send + 'static>(
    app: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    super::heavy(app, Side::Internal, f)
        .await
        .map_err(IntoResponse::into_response)
}

/// `POST /collections/{id}/items`: a new feature (GeoJSON Feature).
pub async fn create(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let (_, who) = editable(&app, &view, &id)?;
        let store = store(&app)?;
        let body = parse_body(&headers, &body)?;
        let (who, job_app, job_id) = (who.clone(), Arc::clone(&app), id.clone());
        let done = blocking(&app, move || {
            store.create(&job_app.catalog, &job_id, &who, &body)
        })
        .await?
        .map_err(live_error)?;
        Ok::<_, Response>(answer(
            &app,
            &headers,
            &view,
            &id,
            &done,
            StatusCode::CREATED,
        ))
    };
    run.await.unwrap_or_else(|r| r)
}

async fn change(
    app: Arc<AppState>,
    view: Arc<View>,
    (id, fid): (String, String),
    headers: HeaderMap,
    body: Bytes,
    kind: Edit,
) -> Response {
    let run = async {
        let (_, who) = editable(&app, &view, &id)?;
        let store = store(&app)?;
        let fid: u64 = fid
            .parse()
            .map_err(|_| AppError::NotFound.into_response())?;
        let body = if kind == Edit::Delete {
            Value::Null
        } else {
            parse_body(&headers, &body)?
        };
        let expected = if_match(&headers);
        let (who, job_app, job_id) = (who.clone(), Arc::clone(&app), id.clone());
        let done = blocking(&app, move || {
            store.change(&job_app.catalog, &job_id, fid, &who, kind, expected, &body)
        })
        .await?
        .map_err(live_error)?;
        Ok::<_, Response>(if kind == Edit::Delete {
            StatusCode::NO_CONTENT.into_response()
        } else {
            answer(&app, &headers, &view, &id, &done, StatusCode::OK)
        })
    };
    run.await.unwrap_or_else(|r| r)
}

/// `PUT /collections/{id}/items/{fid}`: the whole feature replaced.
pub async fn replace(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(app, view, p, headers, body, Edit::Replace).await
}

/// `PATCH /collections/{id}/items/{fid}`: the given properties (and geometry) changed.
pub async fn patch(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(app, view, p, headers, body, Edit::Patch).await
}

/// `DELETE /collections/{id}/items/{fid}`: marked deleted (an admin can restore it).
pub async fn delete(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(p): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    change(app, view, p, headers, Bytes::new(), Edit::Delete).await
}

/// `POST /collections/{id}/items/{fid}/restore` (admin): a deleted feature back.
pub async fn restore(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (_, who) = editable(&app, &view, &id)?;
        let store = store(&app)?;
        let fid: u64 = fid
            .parse()
            .map_err(|_| AppError::NotFound.into_response())?;
        let (who, job_app, job_id) = (who.clone(), Arc::clone(&app), id.clone());
        let done = blocking(&app, move || {
            store.restore(&job_app.catalog, &job_id, fid, &who)
        })
        .await?
        .map_err(live_error)?;
        Ok::<_, Response>(answer(&app, &headers, &view, &id, &done, StatusCode::OK))
    };
    run.await.unwrap_or_else(|r| r)
}

fn allow(methods: &str) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(
            header::ALLOW,
            HeaderValue::from_str(methods).unwrap_or(HeaderValue::from_static("GET")),
        )],
    )
        .into_response()
}

/// `OPTIONS /collections/{id}/items`: what the caller's roles allow.
pub async fn options_items(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match editable(&app, &view, &id) {
        Ok((layer, who)) if LiveStore::rights(&layer.def, who)[0] => {
            allow("GET, HEAD, OPTIONS, POST")
        }
        Ok(_) => allow("GET, HEAD, OPTIONS"),
        Err(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => allow("GET, HEAD, OPTIONS"),
        Err(r) => r,
    }
}

/// `OPTIONS /collections/{id}/items/{fid}`: what the caller's roles allow.
pub async fn options_item(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path((id, _fid)): Path<(String, String)>,
) -> Response {
    match editable(&app, &view, &id) {
        Ok((layer, who)) => {
            let [_, update, delete] = LiveStore::rights(&layer.def, who);
            let mut m = String::from("GET, HEAD, OPTIONS");
            if update {
                m.push_str(", PUT, PATCH");
            }
            if delete {
                m.push_str(", DELETE");
            }
            allow(&m)
        }
        Err(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => allow("GET, HEAD, OPTIONS"),
        Err(r) => r,
    }
}

/// `GET /collections/{id}/items/{fid}/history` (internal): every change and refused edit.
pub async fn history(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path((id, fid)): Path<(String, String)>,
) -> Response {
    let run = async {
        editable(&app, &view, &id)?;
        let store = store(&app)?;
        let fid: u64 = fid
            .parse()
            .map_err(|_| AppError::NotFound.into_response())?;
        let job_id = id.clone();
        let h = blocking(&app, move || store.history(&job_id, fid))
            .await?
            .map_err(live_error)?
            .ok_or_else(|| AppError::NotFound.into_response())?;
        Ok::<_, Response>(Json(json!({ "layer": id, "id": fid, "changes": h })).into_response())
    };
    run.await.unwrap_or_else(|r| r)
}

/// Event streams open at once per listener, at most: each holds one of the listener's
/// request slots, so half the slots always stay for other requests.
fn max_streams(app: &AppState) -> usize {
    (app.settings.max_concurrent / 2).max(1)
}

/// Counts an open stream until dropped.
struct StreamSlot(Arc<AppState>, usize);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams[self.1].fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one change looks like to a view, or `None` if the view may not know of it. The
/// public view hears only of features it saw before or sees after, by their public ids;
/// a feature that leaves the public view is, to it, deleted.
fn event_for(
    view: &View,
    catalog: &crate::store::Catalog,
    c: &crate::live::Change,
) -> Option<Value> {
    let layer = catalog.get(&c.layer).filter(|l| view.sees_layer(&l.def))?;
    if !view.is_public() {
        return Some(
            json!({ "layer": c.layer, "id": c.fid, "action": c.action, "version": c.version, "bbox": c.bbox }),
        );
    }
    if !c.public_layer || !(c.public_before || c.public_after) {
        return None;
    }
    let action = match (c.public_before, c.public_after) {
        (true, false) => "delete",
        (false, true) => "create",
        _ => c.action,
    };
    Some(
        json!({ "layer": c.layer, "id": layer.served_id_of(c.fid, true), "action": action, "bbox": c.bbox }),
    )
}

/// `GET /events`: Server-Sent Events, one `change` event per edit the view may know of
/// (layer, id, action, box), so maps refresh what changed without a reload. A client that
/// falls behind gets a `resync` event and should reload the live layers.
pub async fn events(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Extension(side): Extension<Side>,
) -> Response {
    let Some(store) = app.live() else {
        return refusal(StatusCode::NOT_FOUND, "this server has no live layers");
    };
    let i = usize::from(side == Side::Internal);
    if app.streams[i].fetch_add(1, Ordering::Relaxed) >= max_streams(&app) {
        app.streams[i].fetch_sub(1, Ordering::Relaxed);
        let mut r = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams are open; try again later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return r;
    }
    let slot = StreamSlot(Arc::clone(&app), i);
    let rx = store.subscribe();
    let stream = futures_util::stream::unfold(
        (rx, slot, app, view),
        |(mut rx, slot, app, view)| async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(c) => {
                        let catalog = app.catalog.load_full();
                        match event_for(&view, &catalog, &c) {
                            Some(v) => Event::default().event("change").data(v.to_string()),
                            None => continue,
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        Event::default().event("resync").data("{}")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(ev), (rx, slot, app, view)));
            }
        },
    );
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Client addresses tracked at once for the report limit; a flood of new addresses beyond
/// it is refused rather than remembered.
const MAX_TRACKED: usize = 10_000;
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Per client address (IPv6 by its /64) and layer, the reports sent in the current hour.
#[derive(Default)]
pub(crate) struct ReportGate {
    seen: std::sync::Mutex<
        std::collections::HashMap<(std::net::IpAddr, String), (std::time::Instant, u32)>,
    >,
}

impl ReportGate {
    /// Counts one report; `Err` with the status to answer when over the limit.
    fn admit(&self, ip: std::net::IpAddr, layer: &str, per_hour: u32) -> Result<(), StatusCode> {
        let ip = match ip {
            std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            std::net::IpAddr::V6(v6) => std::net::IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            v4 @ std::net::IpAddr::V4(_) => v4,
        };
        let now = std::time::Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (ip, layer.to_string());
        if !seen.contains_key(&key) && seen.len() >= MAX_TRACKED {
            seen.retain(|_, (start, _)| now.duration_since(*start) < HOUR);
            if seen.len() >= MAX_TRACKED {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
        }
        let entry = seen.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= HOUR {
            *entry = (now, 0);
        }
        if entry.1 >= per_hour {
            return Err(StatusCode::TOO_MANY_REQUESTS);
        }
        entry.1 += 1;
        Ok(())
    }
}

/// `POST /collections/{id}/reports` (public listener): a resident's report — a GeoJSON
/// Point Feature with the layer's report category and text — kept unpublished until staff
/// publish it. Answers `202` and nothing to read it back by.
pub async fn report(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let catalog = app.catalog.load_full();
        let layer = catalog
            .get(&id)
            .filter(|l| view.sees_layer(&l.def))
            .cloned()
            .ok_or_else(|| AppError::NotFound.into_response())?;
        let cfg = layer
            .def
            .reports
            .clone()
            .ok_or_else(|| AppError::NotFound.into_response())?;
        let store = store(&app)?;
        let feature = parse_body(&headers, &body)?;
        let ip = peer.map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |p| {
            p.0 .0.ip()
        });
        app.report_gate.admit(ip, &id, cfg.per_hour).map_err(|s| {
            let msg = if s == StatusCode::TOO_MANY_REQUESTS {
                format!("at most {} reports an hour from one address; please call the city if it is urgent", cfg.per_hour)
            } else {
                "too many reports at once; try again later".to_string()
            };
            let mut r = refusal(s, &msg);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
            r
        })?;
        let job_app = Arc::clone(&app);
        blocking(&app, move || store.report(&job_app.catalog, &id, &feature))
            .await?
            .map_err(live_error)?;
        Ok::<_, Response>(
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "status": "received",
                    "message": { "ja": "通報を受け付けました。市の職員が確認してから地図に掲載します。", "en": "Report received. City staff will check it before it appears on the map." },
                })),
            )
                .into_response(),
        )
    };
    run.await.unwrap_or_else(|r| r)
}

/// Readings returned at most by one request.
const MAX_READINGS: usize = 10_000;

/// The station `fid` (as the view numbers it) of a sensor layer the view sees.
fn station(
    app: &AppState,
    view: &View,
    id: &str,
    fid: &str,
) -> Result<(Arc<LayerSnapshot>, usize), Response> {
    let catalog = app.catalog.load_full();
    let layer = catalog
        .get(id)
        .filter(|l| view.sees_layer(&l.def) && l.def.sensor.is_some())
        .cloned()
        .ok_or_else(|| AppError::NotFound.into_response())?;
    let fid: u64 = fid
        .parse()
        .map_err(|_| AppError::NotFound.into_response())?;
    let i =
        crate::query::by_id(&layer, view, fid).ok_or_else(|| AppError::NotFound.into_response())?;
    Ok((layer, i))
}

/// `GET /collections/{id}/items/{fid}/readings[?from=&to=&limit=]` (both views, for a
/// station the view sees): the time series, oldest first (the newest `limit`, default
/// 1,000), each reading with the level it reached, and the station's thresholds.
pub async fn readings(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path((id, fid)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let run = async {
        let (layer, i) = station(&app, &view, &id, &fid)?;
        let store = store(&app)?;
        let limit = match q.get("limit") {
            None => 1_000,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_READINGS).contains(n))
                .ok_or_else(|| {
                    refusal(
                        StatusCode::BAD_REQUEST,
                        &format!("`limit` must be 1–{MAX_READINGS}"),
                    )
                })?,
        };
        let f = &layer.features[i];
        let internal_fid = f.id;
        let (job_id, from, to) = (id.clone(), q.get("from").cloned(), q.get("to").cloned());
        let series = blocking(&app, move || {
            store.readings(&job_id, internal_fid, from.as_deref(), to.as_deref(), limit)
        })
        .await?
        .map_err(live_error)?;
        let cfg = layer
            .def
            .sensor
            .as_ref()
            .ok_or_else(|| AppError::NotFound.into_response())?;
        let levels: Vec<Value> = cfg
            .levels
            .iter()
            .map(|l| {
                let threshold = layer
                    .field_index(&l.field)
                    .filter(|&k| !(view.is_public() && layer.fields[k].internal))
                    .and_then(|k| match &f.values[k] {
                        crate::store::Value::Float(x) => Some(json!(x)),
                        crate::store::Value::Int(x) => Some(json!(x)),
                        _ => None,
                    });
                json!({ "level": l.field, "label": l.label, "threshold": threshold })
            })
            .collect();
        let readings: Vec<Value> = series
            .iter()
            .map(|r| {
                let level = crate::live::sensor::level(cfg, &layer.fields, &f.values, r.value);
                json!({ "time": r.at, "value": r.value, "level": level })
            })
            .collect();
        Ok::<_, Response>(
            Json(json!({
                "layer": id,
                "id": layer.served_id(f, view.is_public()),
                "unit": cfg.unit,
                "interval_s": cfg.interval.as_secs(),
                "levels": levels,
                "numberReturned": readings.len(),
                "readings": readings,
            }))
            .into_response(),
        )
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST /collections/{id}/items/{fid}/readings` (internal; a key with one of the layer's
/// sensor roles): `{"time", "value"}` or a list of up to 1,000; the station then serves
/// the latest in its tiles and queries.
pub async fn add_readings(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let View::Internal(who) = &*view else {
            return Err(AppError::NotFound.into_response());
        };
        // The station is looked up by the store, in its database, not in this server's
        // snapshot: with PostgreSQL a station just added through another server may not
        // have reached this one yet. On the internal view a served id is the feature's.
        let known = app
            .catalog
            .load()
            .get(&id)
            .is_some_and(|l| view.sees_layer(&l.def) && l.def.sensor.is_some());
        let internal_fid: u64 = fid
            .parse()
            .ok()
            .filter(|_| known)
            .ok_or_else(|| AppError::NotFound.into_response())?;
        let store = store(&app)?;
        let body = parse_body(&headers, &body)?;
        let (who, job_app, job_id) = (who.clone(), Arc::clone(&app), id.clone());
        let (n, latest) = blocking(&app, move || {
            store.add_readings(&job_app.catalog, &job_id, internal_fid, &who, &body)
        })
        .await?
        .map_err(live_error)?;
        Ok::<_, Response>(
            Json(json!({
                "stored": n,
                "latest": latest.map(|r| json!({ "time": r.at, "value": r.value })),
            }))
            .into_response(),
        )
    };
    run.await.unwrap_or_else(|r| r)
}
