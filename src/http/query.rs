//! `GET /hazard`, `GET /query` (identify) and `GET /search`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::params::Params;
use super::{resolve_layers, AppError, AppState, Caller};
use crate::access::View;
use crate::query::{geojson, hazard, land, search};
use crate::store::{Catalog, LayerSnapshot};
use crate::tile::{lonlat_to_mercator, HALF_WORLD};

/// Most features `/query` returns.
const MAX_IDENTIFY: usize = 100;

/// The layers a request names (`layers=a,b`), or every layer the view sees.
fn layers_for(
    catalog: &Catalog,
    view: &View,
    spec: Option<&str>,
) -> Result<Vec<Arc<LayerSnapshot>>, AppError> {
    match spec {
        Some(s) => resolve_layers(catalog, view, s),
        None => Ok(catalog
            .layers()
            .filter(|l| view.sees_layer(&l.def))
            .cloned()
            .collect()),
    }
}

fn wants_html(p: &Params, headers: &HeaderMap) -> Result<Option<&'static str>, AppError> {
    match p.get("f") {
        Some("json") => Ok(None),
        Some("html") => Ok(Some("html")),
        Some("text") => Ok(Some("text")),
        Some(other) => Err(AppError::BadRequest(format!(
            "`f={}`: use json, html or text",
            other.chars().take(20).collect::<String>()
        ))),
        None => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Ok(accept.contains("text/html").then_some("html"))
        }
    }
}

pub async fn hazard(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = Params::parse(
        q.as_deref(),
        &["lon", "lat", "lang", "shelters", "f"],
        |_| false,
    )?;
    let (lon, lat) = p.lonlat()?;
    let lang = p.lang()?;
    let n = p.int("shelters", 3, 0, 10)? as usize;
    let form = wants_html(&p, &headers)?;
    let catalog = app.catalog.load_full();
    let layers: Vec<&LayerSnapshot> = catalog.layers().map(AsRef::as_ref).collect();
    let coverage = crate::query::coverage::Coverage::of(&catalog, &view);
    let report = hazard::report(&layers, &view, &coverage, lon, lat, lang, n);

    Ok(match form {
        Some("html") => Html(report.to_html()).into_response(),
        Some(_) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            report.to_text(),
        )
            .into_response(),
        None => Json(report).into_response(),
    })
}

fn labels(
    layer: &LayerSnapshot,
    f: &crate::store::Feature,
    view: &View,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut labels = Map::new();
    let mut value_labels = Map::new();
    for (fd, v) in layer.fields.iter().zip(f.values.iter()) {
        if !view.sees_field(&layer.def, fd) {
            continue;
        }
        if let Some(l) = &fd.label {
            labels.insert(fd.name.clone(), json!(l));
        }
        if let Some(l) = v.key().and_then(|k| fd.values.get(&k)) {
            value_labels.insert(fd.name.clone(), json!(l));
        }
    }
    (labels, value_labels)
}

pub async fn identify(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref(), &["lon", "lat", "layers", "z", "px"], |_| {
        false
    })?;
    let (lon, lat) = p.lonlat()?;
    let z = p.int("z", 16, 0, u64::from(crate::tile::MAX_ZOOM))?;
    let px = p.int("px", 5, 0, 50)?;
    let catalog = app.catalog.load_full();
    let layers = layers_for(&catalog, &view, p.get("layers"))?;
    // MapLibre's zoom z shows the world 512 · 2^z pixels wide.
    let metres_per_px = 2.0 * HALF_WORLD / (512.0 * 2f64.powi(z as i32));
    let tolerance = metres_per_px * px as f64;
    let (x, y) = lonlat_to_mercator(lon, lat);
    let mut features = Vec::new();
    'layers: for layer in &layers {
        for (fi, parts) in crate::query::identify(layer, &view, geo::Coord { x, y }, tolerance) {
            if features.len() >= MAX_IDENTIFY {
                break 'layers;
            }
            let f = &layer.features[fi];
            // Only the parts at the point: a flood feature is thousands of squares.
            let mut g = geojson::feature_with(
                layer,
                f,
                &view,
                geojson::geometry_of_parts(&f.shape, &parts),
            );
            let (l, vl) = labels(layer, f, &view);
            g["layer"] = json!(layer.def.id);
            g["layer_title"] = json!(layer.def.title);
            g["labels"] = Value::Object(l);
            g["value_labels"] = Value::Object(vl);
            features.push(g);
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        Json(json!({ "type": "FeatureCollection", "features": features })),
    )
        .into_response())
}

/// The search form's answer without JavaScript (`/?q=` from a page whose script has not
/// loaded, or a browser without it): the places found, each a link to its text report.
pub(crate) fn search_page(app: &AppState, view: &View, q: &str, lang: hazard::Lang) -> String {
    let esc = crate::query::html_escape;
    let ja = lang == hazard::Lang::Ja;
    let catalog = app.catalog.load_full();
    let layers: Vec<&LayerSnapshot> = catalog.layers().map(AsRef::as_ref).collect();
    let q: String = q.trim().chars().take(100).collect();
    let hits = if q.is_empty() {
        Vec::new()
    } else {
        search::search(&layers, view, &q, 50)
    };
    let title = if ja { "検索結果" } else { "Search results" };
    let mut h = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head><body><main><h1>{title}：{}</h1>",
        if ja { "ja" } else { "en" },
        esc(&q)
    );
    h.push_str("<form action=\"/\" method=\"get\"><label>");
    h.push_str(if ja {
        "町名や避難所名"
    } else {
        "Town or shelter"
    });
    let _ = write!(
        h,
        " <input name=\"q\" value=\"{}\"></label> <button>{}</button></form>",
        esc(&q),
        if ja { "検索" } else { "Search" }
    );
    if hits.is_empty() {
        h.push_str(if ja {
            "<p>見つかりませんでした。</p>"
        } else {
            "<p>Nothing found.</p>"
        });
    } else {
        h.push_str("<ol>");
        for hit in &hits {
            let layer = layers[hit.layer];
            let f = &layer.features[hit.feature];
            let [lon, lat] = geojson::representative_lonlat(f);
            // In English a name without an English form is given in rōmaji from its reading.
            let name = match (ja, search::romaji_name(layer, f, view, &hit.name)) {
                (false, Some(r)) => format!("{r} ({})", hit.name),
                _ => hit.name.clone(),
            };
            let _ = write!(h,
                "<li><a href=\"/hazard?lon={lon:.6}&amp;lat={lat:.6}&amp;lang={}&amp;f=html\">{}</a>{}</li>",
                if ja { "ja" } else { "en" },
                esc(&name),
                esc(&if ja { format!("（{}）", lang.pick(&layer.def.title)) } else { format!(" ({})", lang.pick(&layer.def.title)) })
            );
        }
        h.push_str("</ol>");
    }
    let _ = write!(
        h,
        "<p><a href=\"/\">{}</a></p></main></body></html>",
        if ja {
            "地図に戻る"
        } else {
            "Back to the map"
        }
    );
    h
}

pub async fn search_names(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref(), &["q", "limit", "layers"], |_| false)?;
    let text = p.get("q").map(str::trim).unwrap_or_default();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(AppError::BadRequest("`q` must be 1–100 characters".into()));
    }
    let limit = p.int("limit", 10, 1, 50)? as usize;
    let catalog = app.catalog.load_full();
    let layers = layers_for(&catalog, &view, p.get("layers"))?;
    let refs: Vec<&LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
    let results: Vec<Value> = search::search(&refs, &view, text, limit)
        .into_iter()
        .map(|h| {
            let layer = refs[h.layer];
            let f = &layer.features[h.feature];
            let [lon, lat] = geojson::representative_lonlat(f);
            json!({
                "name": h.name,
                "romaji": search::romaji_name(layer, f, &view, &h.name),
                "matched_text": h.matched_text,
                "match": h.matched,
                "layer": layer.def.id,
                "layer_title": layer.def.title,
                "field": layer.fields[h.field].name,
                "id": layer.served_id(f, view.is_public()),
                "lon": lon,
                "lat": lat,
                "bbox": geojson::bbox_lonlat(f),
            })
        })
        .collect();
    Ok(Json(json!({ "query": text, "results": results })).into_response())
}

/// `f=` of `/land`: JSON (default), a printable page, or CSV.
fn land_format(p: &Params, headers: &HeaderMap) -> Result<&'static str, AppError> {
    match p.get("f") {
        Some("json") => Ok("json"),
        Some("html") => Ok("html"),
        Some("csv") => Ok("csv"),
        Some(other) => Err(AppError::BadRequest(format!(
            "`f={}`: use json, html or csv",
            other.chars().take(20).collect::<String>()
        ))),
        None => Ok(if wants_html(p, headers)? == Some("html") {
            "html"
        } else {
            "json"
        }),
    }
}

fn land_response(report: &land::LandReport, form: &str) -> Response {
    match form {
        "html" => Html(report.to_html()).into_response(),
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"land.csv\"",
                ),
            ],
            report.to_csv(),
        )
            .into_response(),
        _ => Json(report).into_response(),
    }
}

/// Runs the lot report on the listener's heavy-work pool (polygon overlays are real work).
async fn land_run(
    app: Arc<AppState>,
    view: Arc<View>,
    side: super::Side,
    subject: land::Subject,
    lang: hazard::Lang,
) -> Result<land::LandReport, AppError> {
    let catalog = app.catalog.load_full();
    super::heavy(&app, side, move || {
        let layers: Vec<&LayerSnapshot> = catalog.layers().map(AsRef::as_ref).collect();
        land::report(&layers, &view, &subject, lang)
    })
    .await
}

/// `GET /land?lon=&lat=` or `GET /land?layer=&fid=`: the lot report (土地の情報).
pub async fn land_get(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Extension(side): Extension<super::Side>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = Params::parse(
        q.as_deref(),
        &["lon", "lat", "layer", "fid", "lang", "f"],
        |_| false,
    )?;
    let lang = p.lang()?;
    let form = land_format(&p, &headers)?;
    let subject = match (p.get("layer"), p.get("fid")) {
        (Some(layer), Some(fid)) => {
            let catalog = app.catalog.load_full();
            let l = catalog
                .get(layer)
                .filter(|l| view.sees_layer(&l.def))
                .ok_or(AppError::NotFound)?;
            let id: u64 = fid
                .parse()
                .map_err(|_| AppError::BadRequest("`fid` must be a feature id".into()))?;
            let fi = crate::query::by_id(l, &view, id).ok_or(AppError::NotFound)?;
            land::subject_of_feature(l, &l.features[fi], id).map_err(AppError::BadRequest)?
        }
        (None, None) => {
            let (lon, lat) = p.lonlat()?;
            let (x, y) = lonlat_to_mercator(lon, lat);
            land::Subject::Point(geo::Coord { x, y })
        }
        _ => {
            return Err(AppError::BadRequest(
                "give `lon` and `lat`, or `layer` and `fid`".into(),
            ))
        }
    };
    let report = land_run(Arc::clone(&app), view, side, subject, lang).await?;
    Ok(land_response(&report, form))
}

/// `POST /land` with a polygon (`GeoJSON`, lon/lat): the lot report for it.
pub async fn land_post(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Extension(side): Extension<super::Side>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref(), &["lang", "f"], |_| false)?;
    let lang = p.lang()?;
    let form = land_format(&p, &headers)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is not JSON: {e}")))?;
    let mp = land::polygon_from_geojson(&v).map_err(AppError::BadRequest)?;
    let report = land_run(
        Arc::clone(&app),
        view,
        side,
        land::Subject::Area(mp, None),
        lang,
    )
    .await?;
    Ok(land_response(&report, form))
}
