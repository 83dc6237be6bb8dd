//! HTTP: translates requests into core calls and core results into responses. Handlers
//! stay thin. Each listener's gate decides the caller's [`View`] before any handler
//! runs — the public gate always `Public`, whatever the request carries — and every
//! handler asks that view what it may show.

mod audit;
mod catalog;
mod edit;
mod error;
mod gate;
mod limits;
mod metrics;
mod ogc;
mod ogc_html;
mod openapi;
mod params;
pub mod precut;
mod query;
pub mod server;
mod tiles;
mod viewer;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::http::{header, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

pub use audit::AuditLog;
pub use error::AppError;
pub use gate::{Caller, InternalGate, Side};
pub use viewer::has_maplibre;

use crate::access::View;
use crate::store::{Catalog, LayerSnapshot};
use crate::tile::cache::TileCache;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `Cache-Control: max-age` for tiles and TileJSON, in seconds.
    pub max_age: u32,
    /// Base URL written into TileJSON and styles (e.g. `https://gis.example.city.jp`);
    /// default: `http://` plus the request's `Host`.
    pub base_url: Option<String>,
    /// Origins allowed to call the internal listener from a browser (none by default).
    pub internal_cors: Vec<String>,
    /// Tile cache bound in bytes.
    pub cache_bytes: u64,
    /// Folder with the viewer's pages and assets (`ROOT/web`).
    pub web_root: std::path::PathBuf,
    /// A raster basemap put under every style, if configured.
    pub raster_basemap: Option<crate::style::RasterBasemap>,
    /// Requests handled at once per listener; more are refused with 503 + `Retry-After`.
    pub max_concurrent: usize,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: std::time::Duration,
    /// The root folder reloads read from; `None` disables `POST /admin/reload`.
    pub root: Option<std::path::PathBuf>,
    /// Largest share (0–1) of its features a layer may lose in one reload before the new
    /// snapshot is held back as stale (`--max-shrink`).
    pub max_shrink: f64,
    /// Cut the public map's tiles up to this zoom into the cache in the background after
    /// each load (`--precut-zoom`; `None`: only when asked for).
    pub precut_zoom: Option<u8>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_age: 300,
            base_url: None,
            internal_cors: Vec::new(),
            cache_bytes: 256 << 20,
            web_root: std::path::PathBuf::from("web"),
            raster_basemap: None,
            max_concurrent: 512,
            request_timeout: std::time::Duration::from_secs(30),
            root: None,
            max_shrink: crate::reload::DEFAULT_MAX_SHRINK,
            precut_zoom: None,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// Heavy work (cutting tiles, building item pages and downloads) of each listener runs
    /// on blocking threads, at most this many at once per listener: public load can never
    /// occupy the async workers that answer the internal listener, nor all its slots.
    heavy: [Arc<tokio::sync::Semaphore>; 2],
    /// Slots of each heavy-work pool.
    heavy_slots: usize,
    pub catalog: ArcSwap<Catalog>,
    pub settings: HttpSettings,
    pub cache: TileCache,
    /// The file layers of composite tiles that hold a live layer, cut once per layer
    /// version (a quarter of `cache_bytes`): a live edit cuts only the live layer again.
    pub parts: crate::tile::parts::PartCache,
    pub metrics: metrics::Metrics,
    /// The viewer's pages and script, made once per catalog and file version.
    derived: viewer::Derived,
    /// One reload at a time.
    reload_lock: std::sync::Mutex<()>,
    /// The live layers' database, when the root has live layers.
    live: std::sync::OnceLock<Arc<crate::live::LiveStore>>,
    /// Residents' reports per client address, for their hourly limit.
    report_gate: edit::ReportGate,
    /// Event streams open per listener (public, internal).
    streams: [std::sync::atomic::AtomicUsize; 2],
    /// `Cache-Control` of the public and the internal view, made once.
    cache_headers: [HeaderValue; 2],
}

impl AppState {
    /// Whether no heavy work (a tile being cut, a page of items built) runs for `side`.
    pub(crate) fn heavy_idle(&self, side: Side) -> bool {
        self.heavy[usize::from(side == Side::Internal)].available_permits() == self.heavy_slots
    }

    #[must_use]
    pub fn new(catalog: Catalog, settings: HttpSettings) -> Arc<Self> {
        let cache = TileCache::new(settings.cache_bytes);
        let n = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let pool = || Arc::new(tokio::sync::Semaphore::new(n));
        Arc::new(Self {
            heavy: [pool(), pool()],
            heavy_slots: n,
            catalog: ArcSwap::from_pointee(catalog),
            cache,
            parts: crate::tile::parts::PartCache::new(settings.cache_bytes / 4),
            metrics: metrics::Metrics::default(),
            derived: viewer::Derived::default(),
            reload_lock: std::sync::Mutex::new(()),
            live: std::sync::OnceLock::new(),
            streams: Default::default(),
            report_gate: edit::ReportGate::default(),
            cache_headers: cache_headers(&settings),
            settings,
        })
    }

    /// `Cache-Control` for what `view` is shown: public answers may be cached anywhere,
    /// internal ones only by the caller's browser.
    #[must_use]
    pub(crate) fn cache_control(&self, view: &View) -> HeaderValue {
        self.cache_headers[usize::from(!view.is_public())].clone()
    }

    /// Serves the live layers of `store` (once, at start): their features go into the catalog.
    pub fn attach_live(&self, store: crate::live::LiveStore) {
        let store = Arc::new(store);
        let current = self.catalog.load_full();
        let next = (*current).clone();
        store.install(&self.catalog, next);
        let _ = self.live.set(store);
    }

    /// The live layers' database, if one is attached.
    #[must_use]
    pub fn live(&self) -> Option<&Arc<crate::live::LiveStore>> {
        self.live.get()
    }

    /// Re-reads what changed under the root and swaps the catalog (blocking: GDAL).
    /// Cached tiles of replaced layers are never served again: their keys hold the old
    /// snapshot versions.
    pub fn reload(&self) -> Option<crate::reload::ReloadSummary> {
        self.reload_accepting(std::collections::BTreeSet::new())
    }

    /// Reloads, taking the new snapshots of `accept` however much they shrank.
    pub fn reload_accepting(
        &self,
        accept: std::collections::BTreeSet<String>,
    ) -> Option<crate::reload::ReloadSummary> {
        let root = self.settings.root.as_ref()?;
        let _one = self.reload_lock.lock().ok()?;
        let opts = crate::reload::ReloadOptions {
            max_shrink: self.settings.max_shrink,
            accept,
        };
        let summary = crate::reload::reload(
            root,
            &self.catalog,
            &opts,
            self.live.get().map(AsRef::as_ref),
        );
        self.metrics.reloads.fetch_add(
            summary.reloaded.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.metrics.reload_failures.fetch_add(
            summary.failed.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Some(summary)
    }
}

/// Which listener a router serves.
/// Runs `f` on a blocking thread once the listener's heavy-work pool has room.
pub(crate) async fn heavy<T: Send + 'static>(
    app: &AppState,
    side: Side,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let pool = &app.heavy[usize::from(side == Side::Internal)];
    let permit = Arc::clone(pool)
        .acquire_owned()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))
}

pub enum Listener {
    /// 公開型GIS: anonymous, public view only.
    Public,
    /// 統合型GIS: Bearer keys, per-role views, audited.
    Internal(Arc<InternalGate>),
}

/// Most layers one composite request may name.
pub const MAX_COMPOSITE: usize = 32;

/// Resolves `a,b,c` to snapshots the view may see. Unknown and forbidden ids give the
/// same `NotFound`, also inside a composite.
pub fn resolve_layers(
    catalog: &Catalog,
    view: &View,
    spec: &str,
) -> Result<Vec<Arc<LayerSnapshot>>, AppError> {
    let n = spec.bytes().filter(|&b| b == b',').count() + 1;
    if n > MAX_COMPOSITE {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_COMPOSITE} layers per request"
        )));
    }
    let mut out: Vec<Arc<LayerSnapshot>> = Vec::with_capacity(n);
    for id in spec.split(',') {
        let layer = catalog
            .get(id)
            .filter(|l| view.sees_layer(&l.def))
            .ok_or(AppError::NotFound)?;
        if out.iter().any(|l| l.def.id == layer.def.id) {
            return Err(AppError::BadRequest(format!("layer `{id}` is named twice")));
        }
        out.push(Arc::clone(layer));
    }
    Ok(out)
}

/// The router for one listener.
pub fn router(app: Arc<AppState>, listener: Listener) -> Router {
    let internal_cors = app.settings.internal_cors.clone();
    let side = match listener {
        Listener::Public => Side::Public,
        Listener::Internal(_) => Side::Internal,
    };
    // Editing (OGC API – Features Part 4) exists only on the internal listener.
    let (items_route, item_route) = match side {
        Side::Public => (get(ogc::items), get(ogc::item)),
        Side::Internal => (
            get(ogc::items)
                .post(edit::create)
                .options(edit::options_items),
            get(ogc::item)
                .put(edit::replace)
                .patch(edit::patch)
                .delete(edit::delete)
                .options(edit::options_item),
        ),
    };
    // Sensors post readings to the internal listener; both views read the series.
    let readings_route = match side {
        Side::Public => get(edit::readings),
        Side::Internal => get(edit::readings).post(edit::add_readings),
    };
    let r = Router::new()
        .route("/tiles/{spec}", get(tiles::tilejson))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::tile))
        .route("/catalog", get(catalog::catalog))
        .route("/health", get(catalog::health))
        .route("/health/live", get(catalog::live))
        .route("/metrics", get(metrics::metrics))
        .route("/hazard", get(query::hazard))
        .route("/query", get(query::identify))
        .route("/search", get(query::search_names))
        .route("/land", get(query::land_get).post(query::land_post))
        .route("/", get(ogc::landing))
        .route("/conformance", get(ogc::conformance))
        .route("/api", get(openapi::api))
        .route("/collections", get(ogc::collections))
        .route("/collections/{id}", get(ogc::collection))
        .route("/collections/{id}/items", items_route)
        .route("/collections/{id}/queryables", get(ogc::queryables))
        .route("/collections/{id}/items/{fid}", item_route)
        .route("/collections/{id}/items/{fid}/history", get(edit::history))
        .route("/collections/{id}/items/{fid}/readings", readings_route)
        .route("/events", get(edit::events))
        .route(
            "/collections/{id}/items/{fid}/restore",
            axum::routing::post(edit::restore),
        )
        .route("/download/{file}", get(ogc::download))
        .route("/styles/{file}", get(viewer::style))
        .route("/admin/reload", axum::routing::post(catalog::reload))
        .route("/web/{*path}", get(viewer::asset))
        .fallback(|| async { AppError::NotFound });
    // Residents' reports come in through the public listener only.
    let r = match side {
        Side::Public => r.route(
            "/collections/{id}/reports",
            axum::routing::post(edit::report),
        ),
        Side::Internal => r,
    };
    let r = r.with_state(Arc::clone(&app));
    let r = match listener {
        Listener::Public => Router::new().fallback_service(
            tower::ServiceBuilder::new()
                .layer(
                    CorsLayer::new()
                        .allow_origin(Any)
                        // POST for `/land` with a drawn polygon.
                        .allow_methods([Method::GET, Method::HEAD, Method::POST])
                        .allow_headers([header::CONTENT_TYPE])
                        .expose_headers([header::ETAG, header::CONTENT_ENCODING]),
                )
                .layer(axum::middleware::from_fn(gate::public_gate))
                .service(r),
        ),
        Listener::Internal(g) => {
            // The gate is outside the limits, so what they refuse (413, 414, 431, a NUL in
            // the path, 503 when shedding or timing out) is audited too.
            let r = limits::apply(r, Arc::clone(&app), side)
                .layer(axum::middleware::from_fn_with_state(g, gate::internal_gate));
            let origins: Vec<HeaderValue> = internal_cors
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            if origins.is_empty() {
                r
            } else {
                r.layer(
                    CorsLayer::new()
                        .allow_origin(AllowOrigin::list(origins))
                        .allow_methods([Method::GET, Method::HEAD])
                        .allow_headers([header::AUTHORIZATION])
                        .expose_headers([header::ETAG, header::CONTENT_ENCODING]),
                )
            }
        }
    };
    match side {
        Side::Public => limits::apply(r, app, side),
        Side::Internal => r,
    }
}

/// The headers the public listener's CORS layer puts on a `GET` answer (any origin may
/// read, ETag and Content-Encoding exposed), for answers made ahead of that layer (a
/// cached tile). A test compares both ways' headers.
fn public_cors_headers(h: &mut axum::http::HeaderMap) {
    h.append(
        header::VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("etag,content-encoding"),
    );
}

/// Base URL for links in responses.
pub(crate) fn base_url(settings: &HttpSettings, headers: &axum::http::HeaderMap) -> String {
    if let Some(b) = &settings.base_url {
        return b.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Whether an `Accept` header asks for JSON before HTML (as GDAL and other OGC clients do;
/// browsers list `text/html` first).
pub(crate) fn accept_prefers_json(headers: &axum::http::HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match (accept.find("json"), accept.find("text/html")) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

/// `Cache-Control` of the public and the internal view: public responses may be cached
/// anywhere, internal ones only by the caller's browser.
fn cache_headers(settings: &HttpSettings) -> [HeaderValue; 2] {
    ["public", "private"].map(|scope| {
        HeaderValue::from_str(&format!("{scope}, max-age={}", settings.max_age))
            .unwrap_or(HeaderValue::from_static("no-cache"))
    })
}
