//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt|.mlt` and `GET /tiles/{layers}.json[?encoding=mlt]`.

use std::io::Read as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use flate2::read::GzDecoder;
use serde_json::json;

use super::{base_url, resolve_layers, AppError, AppState, Caller};
use crate::access::View;
use crate::store::LayerSnapshot;
use crate::tile::cache::{CachedTile, TileKey};
use crate::tile::{self, TileCoord, TileFormat};
use std::sync::atomic::{AtomicBool, Ordering};

fn parse_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, AppError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::BadRequest(format!(
            "{what} must be a non-negative integer"
        )));
    }
    s.parse()
        .map_err(|_| AppError::BadRequest(format!("{what} is out of range")))
}

/// Whether the client accepts gzip (an explicit `q=0` refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// The row and encoding of a tile URL's last part (`123.mvt`, `123.pbf`, `123.mlt`).
fn tile_format(y: &str) -> Result<(&str, TileFormat), AppError> {
    if let Some(y) = y.strip_suffix(".mvt").or_else(|| y.strip_suffix(".pbf")) {
        Ok((y, TileFormat::Mvt))
    } else if let Some(y) = y.strip_suffix(".mlt") {
        Ok((y, TileFormat::Mlt))
    } else {
        Err(AppError::BadRequest(
            "unknown tile format: use .mvt (Mapbox Vector Tile) or .mlt (MapLibre Tile)".into(),
        ))
    }
}

/// A tile request resolved against the catalog for one view: the cache key and what a
/// miss needs to cut the tile.
pub(super) struct Resolved {
    pub key: TileKey,
    pub layers: Vec<Arc<LayerSnapshot>>,
    /// Whether a live layer is in the tile (its tile may change any second).
    pub live: bool,
}

pub(super) fn resolve(
    app: &AppState,
    view: &View,
    spec: &str,
    z: &str,
    x: &str,
    y: &str,
) -> Result<Resolved, AppError> {
    let (y, format) = tile_format(y)?;
    let z: u8 = parse_num(z, "z")?;
    let x: u32 = parse_num(x, "x")?;
    let y: u32 = parse_num(y, "y")?;
    let coord = TileCoord::new(z, x, y)?;
    let catalog = app.catalog.load();
    let mut layers = resolve_layers(&catalog, view, spec)?;
    // One composite, one cache entry: `a,b` and `b,a` are the same tile (MVT layers are
    // named, so their order in the tile does not matter to clients).
    layers.sort_by(|a, b| a.def.id.cmp(&b.def.id));
    let live = layers.iter().any(|l| l.live.is_some());
    let key = TileKey {
        view: view.key(),
        layers: layers
            .iter()
            .map(|l| (Box::from(l.def.id.as_str()), l.tile_version(coord)))
            .collect(),
        coord,
        format,
    };
    Ok(Resolved { key, layers, live })
}

pub async fn tile(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Extension(side): Extension<super::Side>,
    Path((spec, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Resolved { key, layers, live } = resolve(&app, &view, &spec, &z, &x, &y)?;
    let format = key.format;
    let cached = if let Some(hit) = app.cache.get(&key).await {
        app.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
        hit
    } else {
        // A miss: concurrent requests for this tile share one computation, and only the
        // request that ran it counts as the miss.
        let coord = key.coord;
        let make_view = Arc::clone(&view);
        let made = Arc::new(AtomicBool::new(false));
        let made_flag = Arc::clone(&made);
        let timed = Arc::clone(&app);
        let parts = app.parts.clone();
        let t = app
            .cache
            .get_or_make(key, async move {
                made_flag.store(true, Ordering::Relaxed);
                let started = std::time::Instant::now();
                let t = super::heavy(&timed, side, move || {
                    make_tile(&layers, &make_view, coord, format, Some(&parts))
                })
                .await?;
                timed.metrics.tile_time(started);
                t
            })
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let counter = if made.load(Ordering::Relaxed) {
            &app.metrics.cache_misses
        } else {
            &app.metrics.cache_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        t
    };
    answer(&app, &view, live, format, &cached, &headers)
}

/// The public listener's way to a cached tile, ahead of the router and its layers (for a
/// `GET`, which the caller checks): a `/tiles/{layers}/{z}/{x}/{y}.mvt|.mlt` whose tile is in the cache is answered here
/// with the headers the full path gives it (the listener's CORS headers included). Any
/// other request — a miss, an error, a path with escapes — is `None`, for the full path.
pub(super) async fn cached_public(
    app: &AppState,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let rest = path.strip_prefix("/tiles/")?;
    if rest.contains('%') {
        return None;
    }
    let mut parts = rest.split('/');
    let (spec, z, x, y) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let view = View::Public;
    let Resolved { key, live, .. } = resolve(app, &view, spec, z, x, y).ok()?;
    let cached = app.cache.get(&key).await?;
    app.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
    let mut resp = answer(app, &view, live, key.format, &cached, headers).ok()?;
    super::public_cors_headers(resp.headers_mut());
    // As the router gives every answer whose length it knows.
    if let Some(n) = http_body::Body::size_hint(resp.body()).exact() {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Some(resp)
}

/// The response for a finished tile: 204 when empty, 304 when the client has it, else the
/// gzip bytes as they are cached (inflated for the rare client that refuses gzip).
fn answer(
    app: &AppState,
    view: &View,
    live: bool,
    format: TileFormat,
    cached: &CachedTile,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    // A live layer's tile may change any second: clients revalidate it (a 304 by ETag).
    let cache = if live {
        HeaderValue::from_static(if view.is_public() {
            "public, no-cache"
        } else {
            "private, no-cache"
        })
    } else {
        app.cache_control(view)
    };
    let Some(gz) = &cached.gzip else {
        return Ok((StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, cache)]).into_response());
    };
    let gzip = accepts_gzip(headers);
    let (etag_value, etag) = if gzip {
        (&cached.etag_gzip, &cached.etag_gzip_str)
    } else {
        (&cached.etag_plain, &cached.etag_plain_str)
    };
    let mut resp_headers = HeaderMap::with_capacity(8);
    resp_headers.insert(header::ETAG, etag_value.clone());
    resp_headers.insert(header::CACHE_CONTROL, cache);
    resp_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if etag_matches(headers, etag) {
        return Ok((StatusCode::NOT_MODIFIED, resp_headers).into_response());
    }
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    let body = if gzip {
        resp_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        axum::body::Body::from(gz.clone())
    } else {
        // Rare: a client that refuses gzip gets the tile inflated from the cached bytes.
        let mut raw = Vec::with_capacity(cached.raw_len);
        GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        axum::body::Body::from(raw)
    };
    Ok((StatusCode::OK, resp_headers, body).into_response())
}

/// Cuts, hashes and compresses one tile (blocking; run off the async runtime).
pub(super) fn make_tile(
    layers: &[Arc<LayerSnapshot>],
    view: &View,
    coord: TileCoord,
    format: TileFormat,
    parts: Option<&tile::parts::PartCache>,
) -> Result<Arc<CachedTile>, AppError> {
    let refs: Vec<&LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
    if let (TileFormat::Mvt, Some(parts)) = (format, parts) {
        return Ok(Arc::new(
            match tile::render_gzip(&refs, view, coord, parts)? {
                Some((raw, gz)) => CachedTile::new(&raw, gz),
                None => CachedTile::empty(),
            },
        ));
    }
    let Some(mut bytes) = tile::render(&refs, view, coord)? else {
        return Ok(Arc::new(CachedTile::empty()));
    };
    if format == TileFormat::Mlt {
        bytes = tile::mvt_to_mlt(&bytes)?;
    }
    let gzip = tile::gzip(&bytes);
    Ok(Arc::new(CachedTile::new(&bytes, gzip)))
}

/// TileJSON 3.0.0 for one layer or a composite.
pub async fn tilejson(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(spec): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(ids) = spec.strip_suffix(".json") else {
        return Err(AppError::NotFound);
    };
    let format = super::viewer::requested_format(&query, TileFormat::Mvt)?;
    let catalog = app.catalog.load_full();
    let layers = resolve_layers(&catalog, &view, ids)?;
    let base = base_url(&app.settings, &headers);
    let mut vector_layers = Vec::new();
    for l in &layers {
        let fields: serde_json::Map<String, serde_json::Value> = l
            .fields
            .iter()
            .filter(|f| view.sees_field(&l.def, f))
            .map(|f| {
                let desc = f.label.as_ref().map_or_else(
                    || f.kind.as_str().to_string(),
                    |lb| format!("{} / {}", lb.ja, lb.en),
                );
                (f.name.clone(), serde_json::Value::String(desc))
            })
            .collect();
        vector_layers.push(json!({
            "id": l.def.id,
            "description": l.def.title.ja,
            "minzoom": l.def.minzoom,
            "maxzoom": l.def.maxzoom,
            "fields": fields,
            "chizu:tile_budget": {
                "max_bytes": l.def.max_tile_bytes,
                "max_features": l.def.max_tile_features,
                "trimmed_zooms": l.budget.zooms(view.is_public()),
            },
            "chizu:size_rules": l.size_rules.zooms(view.is_public(), l.def.minzoom, l.def.maxzoom),
        }));
    }
    let minzoom = layers.iter().map(|l| l.def.minzoom).min().unwrap_or(0);
    let maxzoom = layers
        .iter()
        .map(|l| l.def.maxzoom)
        .max()
        .unwrap_or(crate::tile::MAX_ZOOM);
    let b = crate::store::tile_bounds(layers.iter().map(AsRef::as_ref), view.is_public());
    let center_zoom = minzoom.max(12).min(maxzoom);
    let name = layers
        .iter()
        .map(|l| l.def.title.ja.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let description = layers
        .iter()
        .map(|l| l.def.title.en.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let mut body = json!({
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{ids}/{{z}}/{{x}}/{{y}}.{}", format.suffix())],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": b,
        "center": [f64::midpoint(b[0], b[2]), f64::midpoint(b[1], b[3]), center_zoom],
        "attribution": crate::config::attribution(layers.iter().map(|l| l.def.as_ref())),
        "vector_layers": vector_layers,
    });
    if format == TileFormat::Mlt {
        // MapLibre GL JS takes a source's `encoding` from its TileJSON.
        body["encoding"] = json!("mlt");
    }
    Ok((
        [(header::CACHE_CONTROL, app.cache_control(&view))],
        Json(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: header::HeaderName, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(k, HeaderValue::from_str(v).expect("header"));
        m
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&h(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br"
        )));
        assert!(accepts_gzip(&h(
            header::ACCEPT_ENCODING,
            "br;q=1.0, gzip;q=0.8"
        )));
        assert!(!accepts_gzip(&h(header::ACCEPT_ENCODING, "gzip;q=0")));
        assert!(!accepts_gzip(&h(header::ACCEPT_ENCODING, "identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etag_lists_and_weak_tags() {
        assert!(etag_matches(
            &h(header::IF_NONE_MATCH, "\"a\", W/\"b\""),
            "\"b\""
        ));
        assert!(!etag_matches(&h(header::IF_NONE_MATCH, "\"a\""), "\"b\""));
    }

    #[test]
    fn numbers_are_strict() {
        assert!(parse_num::<u8>("12", "z").is_ok());
        assert!(parse_num::<u8>("-1", "z").is_err());
        assert!(parse_num::<u8>("300", "z").is_err());
        assert!(parse_num::<u32>("1e3", "x").is_err());
        assert!(parse_num::<u32>("99999999999", "x").is_err());
    }
}
