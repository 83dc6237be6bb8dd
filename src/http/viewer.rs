//! The map viewer's pages and assets, and MapLibre styles rendered for the caller's view
//! (`GET /styles/{id}.json`).
//!
//! The viewer is built into the binary (`build.rs` embeds `web/`), so a city's root needs
//! only `layers/` and `data/`; a root's own `web/` may override any file. An override is
//! served only if it resolves inside that `web/` folder: a link out of it is never followed.
//! Text is sent gzip-compressed when the client accepts it, with a strong ETag.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;

use super::{base_url, AppError, AppState, Caller, Side};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// The module MapLibre is loaded from; without it the page cannot draw a map.
const MAPLIBRE: &str = "vendor/maplibre-gl/maplibre-gl.mjs";

/// One file ready to send: its bytes, their gzip, and an ETag.
pub struct Asset {
    pub body: Bytes,
    pub gzip: Option<Bytes>,
    pub etag: String,
    pub content_type: &'static str,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a body of this type is worth compressing.
fn compressible(ct: &str) -> bool {
    ct.starts_with("text/") || ct.contains("json") || ct.contains("svg")
}

/// gzip at level 9: these bytes are compressed once and sent many times.
#[must_use]
pub fn gzip(bytes: &[u8]) -> Option<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(9),
    );
    enc.write_all(bytes).ok()?;
    enc.finish().ok().map(Bytes::from)
}

impl Asset {
    #[must_use]
    pub fn new(body: Bytes, content_type: &'static str) -> Self {
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
        let gzip = (compressible(content_type) && body.len() > 256)
            .then(|| gzip(&body))
            .flatten();
        Self {
            body,
            gzip,
            etag,
            content_type,
        }
    }

    /// The response for a request with `headers`: 304 when the client holds this version,
    /// gzip when it accepts it.
    #[must_use]
    pub fn respond(&self, headers: &HeaderMap, cache: HeaderValue) -> Response {
        let gz = self.gzip.as_ref().filter(|_| accepts_gzip(headers));
        let etag = match gz {
            Some(_) => format!("{}-gz\"", self.etag.trim_end_matches('"')),
            None => self.etag.clone(),
        };
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        let mut r = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            match gz {
                Some(g) => (
                    [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
                    g.clone(),
                )
                    .into_response(),
                None => self.body.clone().into_response(),
            }
        };
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(header::CACHE_CONTROL, cache);
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        r
    }
}

/// Whether `Accept-Encoding` allows gzip (and does not refuse it with `q=0`).
#[must_use]
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let mut parts = t.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The built-in files, compressed once on first use.
fn builtin() -> &'static BTreeMap<&'static str, Arc<Asset>> {
    static ASSETS: OnceLock<BTreeMap<&'static str, Arc<Asset>>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        embedded::ASSETS
            .iter()
            .map(|(p, b)| {
                let a = Asset::new(Bytes::from_static(b), content_type(p));
                (*p, Arc::new(a))
            })
            .collect()
    })
}

/// A path under `web/` that is safe to look up: relative, no `..`, no hidden parts.
fn clean(path: &str) -> Option<&str> {
    let ok = !path.is_empty()
        && path.len() <= 512
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|s| !s.is_empty() && !s.starts_with('.'));
    ok.then_some(path)
}

/// The most pages and scripts kept: a page per listener and base URL, and a script, for the
/// catalog being served and the one before it.
const DERIVED_MAX: usize = 16;

/// A file's modification time and length, and the asset made from it.
type Stamped = (SystemTime, u64, Arc<Asset>);

/// What the viewer derives from its files and the catalog (pages with the style and the
/// catalog inside, the script pointing at versioned files), and the root's overrides: made
/// once per version, not per request, and compressed once.
#[derive(Default)]
pub struct Derived {
    made: Mutex<VecDeque<(String, Arc<Asset>)>>,
    /// A root's override files by path, with the modification time and length they had.
    overrides: Mutex<HashMap<String, Stamped>>,
}

impl Derived {
    /// The asset under `key`, made by `make` if it is not kept. `make` runs outside the lock
    /// (it may ask for other derived assets); two requests racing may both make it, and
    /// one copy is kept.
    fn get_or_make(
        &self,
        key: String,
        make: impl FnOnce() -> Option<Arc<Asset>>,
    ) -> Option<Arc<Asset>> {
        let lock = || {
            self.made
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, a)) = lock().iter().find(|(k, _)| *k == key) {
            return Some(a.clone());
        }
        let made = make()?;
        let mut kept = lock();
        if !kept.iter().any(|(k, _)| *k == key) {
            if kept.len() >= DERIVED_MAX {
                kept.pop_front();
            }
            kept.push_back((key, made.clone()));
        }
        Some(made)
    }

    /// A root's override of `path`, if it has one that stays inside its `web/` folder; read
    /// and compressed again only when the file's time or length changes.
    fn override_file(&self, web_root: &Path, path: &str) -> Option<Arc<Asset>> {
        let base = std::fs::canonicalize(web_root).ok()?;
        let full = std::fs::canonicalize(base.join(path)).ok()?;
        if !full.starts_with(&base) {
            return None;
        }
        let meta = std::fs::metadata(&full)
            .ok()
            .filter(std::fs::Metadata::is_file)?;
        let stamp = (meta.modified().ok()?, meta.len());
        let lock = || {
            self.overrides
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((t, n, a)) = lock().get(path) {
            if (*t, *n) == stamp {
                return Some(a.clone());
            }
        }
        let bytes = std::fs::read(full).ok()?;
        let asset = Arc::new(Asset::new(Bytes::from(bytes), content_type(path)));
        let mut kept = lock();
        if kept.len() >= 256 {
            kept.clear();
        }
        kept.insert(path.to_string(), (stamp.0, stamp.1, asset.clone()));
        Some(asset)
    }
}

/// The file at `path` under `web/`: the root's override, else the built-in one.
fn lookup(app: &AppState, path: &str) -> Option<Arc<Asset>> {
    let path = clean(path)?;
    if let Some(a) = app.derived.override_file(&app.settings.web_root, path) {
        return Some(a);
    }
    builtin().get(path).cloned()
}

/// Whether this build holds MapLibre (it is embedded from `web/vendor/`, which
/// `scripts/install-web.sh` fills before the build).
#[must_use]
pub fn has_maplibre() -> bool {
    builtin().contains_key(MAPLIBRE)
}

/// The version tag of an asset: the start of its ETag.
fn version(a: &Asset) -> String {
    a.etag.trim_matches('"').chars().take(12).collect()
}

/// `/web/{path}?v=…`: a URL that changes whenever the file does, so it can be cached for a
/// year (`immutable`) and a new release is still fetched at once.
fn versioned(app: &AppState, path: &str) -> String {
    let asset = if path == "app.js" {
        script(app)
    } else {
        lookup(app, path)
    };
    asset.map_or_else(
        || format!("/web/{path}"),
        |a| format!("/web/{path}?v={}", version(&a)),
    )
}

/// The viewer script, with its import of MapLibre pointing at the versioned file.
fn script(app: &AppState) -> Option<Arc<Asset>> {
    let js = lookup(app, "app.js")?;
    let maplibre = versioned(app, MAPLIBRE);
    app.derived
        .get_or_make(format!("script {} {maplibre}", js.etag), || {
            let text = String::from_utf8_lossy(&js.body)
                .replace(&format!("'/web/{MAPLIBRE}'"), &format!("'{maplibre}'"));
            Some(Arc::new(Asset::new(Bytes::from(text), js.content_type)))
        })
}

/// `GET /web/{*path}`: a viewer asset; cached for a year when asked for by its version.
pub async fn asset(
    State(app): State<Arc<AppState>>,
    UrlPath(path): UrlPath<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let a = if path == "app.js" {
        script(&app)
    } else {
        lookup(&app, &path)
    }
    .ok_or(AppError::NotFound)?;
    let asked = q.as_deref().and_then(|q| q.strip_prefix("v="));
    let cache = if asked == Some(version(&a).as_str()) {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    } else {
        HeaderValue::from_static("public, max-age=600")
    };
    Ok(a.respond(&headers, cache))
}

use crate::query::html_escape as esc;

/// The viewer page for the listener, titled for the root's site: the public hazard map or
/// the staff map.
pub fn page(app: &AppState, side: Side, headers: &HeaderMap) -> Result<Response, AppError> {
    let file = match side {
        Side::Public => "public.html",
        Side::Internal => "internal.html",
    };
    let html = lookup(app, file).ok_or_else(|| {
        AppError::Internal(format!(
            "the viewer page web/{file} is missing from this build"
        ))
    })?;
    if lookup(app, MAPLIBRE).is_none() {
        return Err(AppError::Unavailable(
            "the map viewer's packages are missing from this build: run scripts/install-web.sh, then rebuild".into(),
        ));
    }
    let catalog = app.catalog.load_full();
    let links: Vec<(&str, String)> = [
        "vendor/maplibre-gl/maplibre-gl.css",
        "app.css",
        "app.js",
        "staff.js",
    ]
    .into_iter()
    .map(|p| (p, versioned(app, p)))
    .collect();
    let maplibre = versioned(app, MAPLIBRE);
    // The public page carries the catalog and style, whose URLs are made from the base.
    let base = match side {
        Side::Public => base_url(&app.settings, headers),
        Side::Internal => String::new(),
    };
    let key = format!(
        "page {file} {} {} {maplibre} {base} {}",
        html.etag,
        catalog.serial(),
        links
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let page = app
        .derived
        .get_or_make(key, || {
            Some(Arc::new(render_page(
                app, side, &html, &catalog, &links, &maplibre, &base,
            )))
        })
        .ok_or_else(|| AppError::Internal("the viewer page could not be made".into()))?;
    Ok(page.respond(headers, HeaderValue::from_static("no-cache")))
}

/// The page for `side` from its HTML file: titled, linking the versioned files, and (the
/// public one) carrying the catalog, the style and the first tile's address.
fn render_page(
    app: &AppState,
    side: Side,
    html: &Asset,
    catalog: &crate::store::Catalog,
    links: &[(&str, String)],
    maplibre: &str,
    base: &str,
) -> Asset {
    let site = catalog.site();
    let title = site.title();
    let staff = match &site.name {
        Some(n) => format!("{} 統合型GIS（職員用）", n.ja),
        None => "統合型GIS（職員用）".into(),
    };
    let mut text = String::from_utf8_lossy(&html.body)
        .replace("{{title}}", &esc(&title.ja))
        .replace("{{staff_title}}", &esc(&staff));
    for (path, url) in links {
        text = text.replace(&format!("\"/web/{path}\""), &format!("\"{url}\""));
    }
    // The public page carries what the map needs first (the catalog and the style), and
    // asks for MapLibre at once: three round trips less before a phone shows a map.
    if side == Side::Public {
        let view = crate::access::View::Public;
        let style = catalog.style("public").and_then(|s| {
            crate::style::render(
                s,
                &view,
                catalog,
                base,
                app.settings.raster_basemap.as_ref(),
                site_format(catalog),
            )
        });
        let boot = serde_json::json!({
            "catalog": super::catalog::catalog_json(catalog, &view, base),
            "style": style,
        })
        .to_string()
        .replace("</", "<\\/");
        // The tile under the start view's centre, asked for with the page: on a slow phone
        // the map's worker finds it in the HTTP cache instead of starting a round trip
        // after MapLibre has loaded.
        let tile = site
            .view
            .as_ref()
            .zip(style.as_ref())
            .and_then(|(v, s)| first_tile(s, v.center, v.zoom))
            .map(|url| {
                format!(
                    "<link rel=\"preload\" href=\"{}\" as=\"fetch\" crossorigin=\"anonymous\">\n",
                    esc(&url)
                )
            })
            .unwrap_or_default();
        let head = format!(
            "<link rel=\"modulepreload\" href=\"{maplibre}\">\n{tile}<script id=\"chizu-boot\" type=\"application/json\">{boot}</script>\n</head>"
        );
        text = text.replacen("</head>", &head, 1);
    }
    Asset::new(Bytes::from(text), "text/html; charset=utf-8")
}

/// The URL of the `chizu` source's tile holding `center` at `zoom` (512-pixel tiles, as
/// MapLibre asks for them), if the style draws one.
fn first_tile(style: &serde_json::Value, center: [f64; 2], zoom: f64) -> Option<String> {
    let template = style["sources"]["chizu"]["tiles"][0].as_str()?;
    let max = style["sources"]["chizu"]["maxzoom"]
        .as_f64()
        .unwrap_or(22.0);
    let min = style["sources"]["chizu"]["minzoom"].as_f64().unwrap_or(0.0);
    if zoom.floor() < min {
        return None;
    }
    let z = zoom.floor().clamp(0.0, max) as u8;
    let (x, y) = crate::tile::lonlat_to_mercator(center[0], center[1]);
    let t = crate::tile::TileCoord::containing(z, x, y);
    Some(
        template
            .replace("{z}", &t.z().to_string())
            .replace("{x}", &t.x().to_string())
            .replace("{y}", &t.y().to_string()),
    )
}

/// The tile encoding the site's `tile_encoding` asks the viewers to use.
pub(super) fn site_format(catalog: &crate::store::Catalog) -> crate::tile::TileFormat {
    match catalog.site().tile_encoding {
        crate::config::site::TileEncoding::Mvt => crate::tile::TileFormat::Mvt,
        crate::config::site::TileEncoding::Mlt => crate::tile::TileFormat::Mlt,
    }
}

/// `?encoding=mvt|mlt` of a style or TileJSON request, else `default`.
pub(crate) fn requested_format(
    query: &std::collections::HashMap<String, String>,
    default: crate::tile::TileFormat,
) -> Result<crate::tile::TileFormat, AppError> {
    match query.get("encoding").map(String::as_str) {
        None => Ok(default),
        Some("mvt") => Ok(crate::tile::TileFormat::Mvt),
        Some("mlt") => Ok(crate::tile::TileFormat::Mlt),
        Some(other) => Err(AppError::BadRequest(format!(
            "encoding `{other}`: use mvt (Mapbox Vector Tile) or mlt (MapLibre Tile)"
        ))),
    }
}

pub async fn style(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    UrlPath(file): UrlPath<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = file.strip_suffix(".json").ok_or(AppError::NotFound)?;
    let catalog = app.catalog.load_full();
    let style = catalog.style(id).ok_or(AppError::NotFound)?;
    let base = base_url(&app.settings, &headers);
    let format = requested_format(&query, site_format(&catalog))?;
    let rendered = crate::style::render(
        style,
        &view,
        &catalog,
        &base,
        app.settings.raster_basemap.as_ref(),
        format,
    )
    .ok_or(AppError::NotFound)?;
    let body = serde_json::to_vec(&rendered).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Asset::new(Bytes::from(body), "application/json")
        .respond(&headers, app.cache_control(&view)))
}
