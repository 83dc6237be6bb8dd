//! HTTP: translates requests into core calls and core results into responses. Handlers
//! stay thin; the [`View`] a listener serves is fixed when its router is built, so
//! nothing in a request can widen it.

mod catalog;
mod error;
mod tiles;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::http::{header, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use tower_http::cors::{Any, CorsLayer};

pub use error::AppError;

use crate::access::View;
use crate::store::{Catalog, LayerSnapshot};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `Cache-Control: max-age` for tiles and TileJSON, in seconds.
    pub max_age: u32,
    /// Base URL written into TileJSON and styles (e.g. `https://gis.example.city.jp`);
    /// default: `http://` plus the request's `Host`.
    pub base_url: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_age: 300,
            base_url: None,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub catalog: ArcSwap<Catalog>,
    pub settings: HttpSettings,
}

impl AppState {
    #[must_use]
    pub fn new(catalog: Catalog, settings: HttpSettings) -> Arc<Self> {
        Arc::new(Self {
            catalog: ArcSwap::from_pointee(catalog),
            settings,
        })
    }
}

/// Per-listener state: the shared data plus the listener's fixed view.
#[derive(Clone)]
pub struct ListenerState {
    pub app: Arc<AppState>,
    pub view: Arc<View>,
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
    let ids: Vec<&str> = spec.split(',').collect();
    if ids.len() > MAX_COMPOSITE {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_COMPOSITE} layers per request"
        )));
    }
    let mut out: Vec<Arc<LayerSnapshot>> = Vec::with_capacity(ids.len());
    for id in ids {
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
pub fn router(app: Arc<AppState>, view: View) -> Router {
    let public = view.is_public();
    let state = ListenerState {
        app,
        view: Arc::new(view),
    };
    let r = Router::new()
        .route("/tiles/{spec}", get(tiles::tilejson))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::tile))
        .route("/catalog", get(catalog::catalog))
        .route("/health", get(catalog::health))
        .fallback(|| async { AppError::NotFound })
        .with_state(state);
    if public {
        r.layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD])
                .expose_headers([header::ETAG, header::CONTENT_ENCODING]),
        )
    } else {
        r
    }
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
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(crate) fn cache_control(settings: &HttpSettings, view: &View) -> HeaderValue {
    let scope = if view.is_public() {
        "public"
    } else {
        "private"
    };
    HeaderValue::from_str(&format!("{scope}, max-age={}", settings.max_age))
        .unwrap_or(HeaderValue::from_static("no-cache"))
}
