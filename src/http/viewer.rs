//! The map viewer's page and assets (served from `ROOT/web`), and MapLibre styles
//! rendered for the caller's view (`GET /styles/{id}.json`).

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

use super::{base_url, cache_control, AppError, AppState, Caller, Side};

/// Static assets under `/web/` (page scripts, styles, and `vendor/` packages from npm).
pub fn assets(root: &Path) -> SetResponseHeader<ServeDir, HeaderValue> {
    SetResponseHeader::overriding(
        ServeDir::new(root).append_index_html_on_directories(false),
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=600"),
    )
}

/// The viewer page for the listener: the public hazard map or the staff map.
pub fn page(app: &AppState, side: Side) -> Result<Response, AppError> {
    let file = match side {
        Side::Public => "public.html",
        Side::Internal => "internal.html",
    };
    let path = app.settings.web_root.join(file);
    let html = std::fs::read_to_string(&path)
        .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
    let vendor = app
        .settings
        .web_root
        .join("vendor/maplibre-gl/maplibre-gl.mjs");
    if !vendor.exists() {
        return Err(AppError::Internal(format!(
            "{} is missing: run scripts/install-web.sh to fetch the viewer's packages",
            vendor.display()
        )));
    }
    Ok(Html(html).into_response())
}

pub async fn style(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = file.strip_suffix(".json").ok_or(AppError::NotFound)?;
    let catalog = app.catalog.load_full();
    let style = catalog.style(id).ok_or(AppError::NotFound)?;
    let base = base_url(&app.settings, &headers);
    let rendered = crate::style::render(
        style,
        &view,
        &catalog,
        &base,
        app.settings.raster_basemap.as_ref(),
    )
    .ok_or(AppError::NotFound)?;
    Ok((
        [(header::CACHE_CONTROL, cache_control(&app.settings, &view))],
        Json(rendered),
    )
        .into_response())
}
