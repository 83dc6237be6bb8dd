//! OGC API – Features Part 1 (Core, GeoJSON): landing page, conformance, collections,
//! items with bbox / limit / offset paging / equality filters, single items; and the
//! open-data downloads (whole layer as GeoJSON or CSV, streamed).

use std::fmt::Write as _;
use std::sync::Arc;

use futures_util::StreamExt as _;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::params::Params;
use super::{base_url, resolve_layers, AppError, AppState, Caller};
use crate::access::View;
use crate::query::geojson;
use crate::query::hazard::Lang;
use crate::store::LayerSnapshot;

const GEOJSON: &str = "application/geo+json";
pub(crate) const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
/// Items per page when the client does not say.
const DEFAULT_LIMIT: u64 = 10;
/// Most items per page.
const MAX_LIMIT: u64 = 1000;

fn geojson_response(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, GEOJSON)], Json(v)).into_response()
}

fn pick(lang: Lang, t: &crate::config::I18n) -> &str {
    match lang {
        Lang::Ja => &t.ja,
        Lang::En => &t.en,
    }
}

/// A licence URL for the common SPDX ids, so clients can follow `rel=license`.
fn license_url(id: &str) -> Option<&'static str> {
    Some(match id {
        "CC-BY-4.0" => "https://creativecommons.org/licenses/by/4.0/",
        "CC0-1.0" => "https://creativecommons.org/publicdomain/zero/1.0/",
        "CC-BY-SA-4.0" => "https://creativecommons.org/licenses/by-sa/4.0/",
        "ODbL-1.0" => "https://opendatacommons.org/licenses/odbl/1-0/",
        _ => return None,
    })
}

/// Whether the client asked for JSON rather than a page (`f=json`, or an Accept header
/// preferring JSON, as GDAL and other OGC clients send).
/// Whether a browser asked (`f=html`, or `Accept` naming HTML before JSON).
fn wants_page(p: &Params, headers: &HeaderMap) -> bool {
    if let Some(f) = p.get("f") {
        return f == "html";
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html") && !super::accept_prefers_json(headers)
}

fn wants_json(p: &Params, headers: &HeaderMap) -> bool {
    if let Some(f) = p.get("f") {
        return f == "json";
    }
    super::accept_prefers_json(headers)
}

pub async fn landing(
    State(app): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    Extension(side): Extension<super::Side>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = Params::parse(
        q.as_deref(),
        &["f", "lang", "q", "embed", "encoding"],
        |_| false,
    )?;
    // The search form without JavaScript lands here: answer with the places found.
    if let (Some(text), false) = (p.get("q"), wants_json(&p, &headers)) {
        let view = caller.as_ref().map_or_else(
            || Arc::new(View::Public),
            |Extension(Caller(v))| Arc::clone(v),
        );
        if side == super::Side::Public || caller.is_some() {
            return Ok(
                Html(super::query::search_page(&app, &view, text, p.lang()?)).into_response(),
            );
        }
    }
    let base = base_url(&app.settings, &headers);
    let Some(Extension(Caller(view))) = caller else {
        // Only the viewer page is served without a key (the internal gate saw to that).
        return super::viewer::page(&app, side, &headers);
    };
    if wants_json(&p, &headers) {
        return Ok(Json(json!({
            "title": "chizu",
            "description": if view.is_public() { "公開型GIS — public map layers, tiles and open data" } else { "統合型GIS — staff map layers" },
            "links": [
                { "href": format!("{base}/?f=json"), "rel": "self", "type": "application/json", "title": "this document" },
                { "href": format!("{base}/"), "rel": "alternate", "type": "text/html", "title": "the map" },
                { "href": format!("{base}/?f=html"), "rel": "service-doc", "type": "text/html", "title": "the layers and their routes" },
                { "href": format!("{base}/api"), "rel": "service-desc", "type": super::openapi::MEDIA_TYPE, "title": "OpenAPI document" },
                { "href": format!("{base}/conformance"), "rel": "conformance", "type": "application/json", "title": "conformance classes" },
                { "href": format!("{base}/collections"), "rel": "data", "type": "application/json", "title": "collections" },
                { "href": format!("{base}/catalog"), "rel": "describedby", "type": "application/json", "title": "layer catalog" },
            ],
        }))
        .into_response());
    }
    if p.get("f") == Some("html") {
        let lang = p.lang()?;
        return Ok(Html(landing_html(&app, &view, &base, lang)).into_response());
    }
    super::viewer::page(&app, side, &headers)
}

/// A plain page listing the layers and their links (the map viewer takes this place).
fn landing_html(app: &AppState, view: &View, base: &str, lang: Lang) -> String {
    let esc = crate::query::html_escape;
    let catalog = app.catalog.load_full();
    let ja = lang == Lang::Ja;
    let title = if view.is_public() {
        if ja {
            "公開型GIS"
        } else {
            "Public map"
        }
    } else if ja {
        "統合型GIS"
    } else {
        "Staff map"
    };
    let mut h = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>chizu — {title}</title></head><body><main><h1>{title}</h1><ul>",
        if ja { "ja" } else { "en" }
    );
    for l in catalog.layers().filter(|l| view.sees_layer(&l.def)) {
        let id = l.def.id.as_str();
        let _ = write!(
            h,
            "<li><strong>{}</strong> — <a href=\"{base}/tiles/{id}.json\">TileJSON</a> · <a href=\"{base}/collections/{id}/items?f=json\">GeoJSON</a> · <a href=\"{base}/download/{id}.csv\">CSV</a></li>",
            esc(pick(lang, &l.def.title))
        );
    }
    // An example report at the site's start view, if it has one (never a fixed place).
    let example = catalog.site().view.as_ref().map_or_else(String::new, |v| {
        format!(
            " · <a href=\"{base}/hazard?lon={}&amp;lat={}&amp;f=html\">{}</a>",
            v.center[0],
            v.center[1],
            if ja {
                "ハザード情報の例"
            } else {
                "example hazard report"
            }
        )
    });
    let _ = write!(
        h,
        "</ul><p><a href=\"{base}/catalog\">catalog</a> · <a href=\"{base}/collections\">OGC API – Features</a> · <a href=\"{base}/api\">OpenAPI</a>{example}</p></main></body></html>"
    );
    h
}

pub async fn conformance() -> Json<Value> {
    Json(json!({
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
            "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
            "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
            "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
            "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
        ]
    }))
}

fn collection_json(layer: &LayerSnapshot, base: &str, lang: Lang, public: bool) -> Value {
    let id = layer.def.id.as_str();
    let mut links = vec![
        json!({ "href": format!("{base}/collections/{id}"), "rel": "self", "type": "application/json", "title": "this collection" }),
        json!({ "href": format!("{base}/collections/{id}/items"), "rel": "items", "type": GEOJSON, "title": "features" }),
        json!({ "href": format!("{base}/collections/{id}/queryables"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json", "title": "queryables (CQL2 filters)" }),
        json!({ "href": format!("{base}/download/{id}.geojson"), "rel": "enclosure", "type": GEOJSON, "title": "whole layer as GeoJSON" }),
        json!({ "href": format!("{base}/download/{id}.csv"), "rel": "enclosure", "type": "text/csv", "title": "whole layer as CSV" }),
        json!({ "href": format!("{base}/tiles/{id}.json"), "rel": "describedby", "type": "application/json", "title": "TileJSON" }),
    ];
    if let Some(u) = layer.def.license.as_deref().and_then(license_url) {
        links.push(
            json!({ "href": u, "rel": "license", "type": "text/html", "title": layer.def.license }),
        );
    }
    let bbox = layer
        .lonlat_bounds_for(public)
        .unwrap_or([-180.0, -90.0, 180.0, 90.0]);
    json!({
        "id": id,
        "title": pick(lang, &layer.def.title),
        "description": layer.def.description.as_ref().map(|d| pick(lang, d)),
        "titles": layer.def.title,
        "descriptions": layer.def.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": { "spatial": { "bbox": [bbox], "crs": CRS84 } },
        "license": layer.def.license,
        "attribution": layer.def.attribution,
        "links": links,
    })
}

pub async fn collections(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref(), &["f", "lang"], |_| false)?;
    let lang = p.lang()?;
    let base = base_url(&app.settings, &headers);
    let catalog = app.catalog.load_full();
    let cols: Vec<Value> = catalog
        .layers()
        .filter(|l| view.sees_layer(&l.def))
        .map(|l| collection_json(l, &base, lang, view.is_public()))
        .collect();
    let doc = json!({
        "links": [{ "href": format!("{base}/collections"), "rel": "self", "type": "application/json", "title": "collections" }],
        "collections": cols,
    });
    if wants_page(&p, &headers) {
        return Ok(Html(super::ogc_html::collections(&doc, lang)).into_response());
    }
    Ok(Json(doc).into_response())
}

fn one_layer(app: &AppState, view: &View, id: &str) -> Result<Arc<LayerSnapshot>, AppError> {
    if id.contains(',') {
        return Err(AppError::NotFound);
    }
    let catalog = app.catalog.load_full();
    resolve_layers(&catalog, view, id).map(|mut v| v.remove(0))
}

pub async fn collection(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref(), &["f", "lang"], |_| false)?;
    let layer = one_layer(&app, &view, &id)?;
    let lang = p.lang()?;
    let doc = collection_json(
        &layer,
        &base_url(&app.settings, &headers),
        lang,
        view.is_public(),
    );
    if wants_page(&p, &headers) {
        let fields: Vec<(String, String, &'static str)> = layer
            .fields
            .iter()
            .filter(|f| view.sees_field(&layer.def, f))
            .map(|f| {
                let label = f
                    .label
                    .as_ref()
                    .map_or_else(String::new, |l| pick(lang, l).to_string());
                (f.name.clone(), label, f.kind.as_str())
            })
            .collect();
        return Ok(Html(super::ogc_html::collection(&doc, &fields, lang)).into_response());
    }
    Ok(Json(doc).into_response())
}

/// `GET /collections/{id}/queryables`: the fields a filter may name (those the caller
/// sees) and `geometry`, as JSON Schema.
pub async fn queryables(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref(), &["f", "lang"], |_| false)?;
    let lang = p.lang()?;
    let layer = one_layer(&app, &view, &id)?;
    let base = base_url(&app.settings, &headers);
    let mut props = serde_json::Map::new();
    let geometry = match layer.def.geometry {
        crate::config::GeometryKind::Point => "https://geojson.org/schema/MultiPoint.json",
        crate::config::GeometryKind::Line => "https://geojson.org/schema/MultiLineString.json",
        crate::config::GeometryKind::Polygon => "https://geojson.org/schema/MultiPolygon.json",
    };
    props.insert(
        "geometry".into(),
        json!({ "$ref": geometry, "x-ogc-role": "primary-geometry" }),
    );
    for f in layer
        .fields
        .iter()
        .filter(|f| view.sees_field(&layer.def, f))
    {
        let kind = f.kind.json_type();
        let mut q = serde_json::Map::new();
        q.insert("type".into(), kind.into());
        if let Some(l) = &f.label {
            q.insert("title".into(), lang.pick(l).into());
        }
        if !f.values.is_empty() {
            q.insert(
                "enum".into(),
                f.values.keys().cloned().collect::<Vec<_>>().into(),
            );
        }
        props.insert(f.name.clone(), Value::Object(q));
    }
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        Json(json!({
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": format!("{base}/collections/{id}/queryables"),
            "type": "object",
            "title": lang.pick(&layer.def.title),
            "properties": props,
            "additionalProperties": false,
        })),
    )
        .into_response())
}

/// `field=value` parameters on visible fields, as equality filters.
fn equality_filters(
    p: &Params,
    layer: &LayerSnapshot,
    visible: &[usize],
) -> Vec<crate::query::Equals> {
    p.pairs()
        .filter_map(|(k, v)| {
            let field = visible
                .iter()
                .copied()
                .find(|&i| layer.fields[i].name == k)?;
            Some(crate::query::Equals {
                field,
                value: v.to_string(),
            })
        })
        .collect()
}

/// The parameters of `/collections/{id}/items` besides the fields (equality filters).
const ITEMS_PARAMS: &[&str] = &[
    "f",
    "limit",
    "offset",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "lang",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
];

/// `sortby=name,-area`: the fields to order by (`-` descending), each one the caller sees.
fn sort_keys(
    p: &Params,
    layer: &LayerSnapshot,
    view: &View,
) -> Result<Vec<(usize, bool)>, AppError> {
    let Some(text) = p.get("sortby") else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|k| !k.trim().is_empty())
        .take(8)
        .map(|k| {
            let k = k.trim();
            let (name, desc) = match k.strip_prefix('-') {
                Some(n) => (n, true),
                None => (k.strip_prefix('+').unwrap_or(k), false),
            };
            layer
                .fields
                .iter()
                .position(|f| f.name == name && view.sees_field(&layer.def, f))
                .map(|i| (i, desc))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "`sortby`: no field `{}` in this collection (see its queryables)",
                        name.chars().take(40).collect::<String>()
                    ))
                })
        })
        .collect()
}

/// Orders `matched` by `keys` (stable: features equal on every key keep their order).
fn sort_features(layer: &LayerSnapshot, matched: &mut [usize], keys: &[(usize, bool)]) {
    if keys.is_empty() {
        return;
    }
    matched.sort_by(|&a, &b| {
        let (fa, fb) = (&layer.features[a], &layer.features[b]);
        keys.iter()
            .map(|&(i, desc)| {
                let o = fa.values[i].sort_cmp(&fb.values[i]);
                // Nulls stay last in either direction.
                let null = matches!(fa.values[i], crate::store::Value::Null)
                    || matches!(fb.values[i], crate::store::Value::Null);
                if desc && !null {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// The request's CQL2 filter (Part 3), bound to the fields this caller sees: a hidden
/// field is refused exactly as a missing one.
fn cql_filter(
    p: &Params,
    layer: &LayerSnapshot,
    view: &View,
) -> Result<Option<crate::query::cql2::Filter>, AppError> {
    let Some(text) = p.get("filter") else {
        return Ok(None);
    };
    let parsed = match p.get("filter-lang").unwrap_or("cql2-text") {
        // `cql-text`: the draft's name, as GDAL 3.6 sends it.
        "cql2-text" | "cql-text" => crate::query::cql2::parse_text(text),
        "cql2-json" => crate::query::cql2::parse_json(text),
        other => {
            return Err(AppError::BadRequest(format!(
                "`filter-lang={}`: use cql2-text or cql2-json",
                other.chars().take(20).collect::<String>()
            )))
        }
    }
    .map_err(|e| AppError::BadRequest(format!("`filter`: {e}")))?;
    crate::query::cql2::Filter::bind(&parsed, layer, view)
        .map(Some)
        .map_err(|e| AppError::BadRequest(format!("`filter`: {e}")))
}

pub async fn items(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Extension(side): Extension<super::Side>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let layer = one_layer(&app, &view, &id)?;
    let visible: Vec<usize> = (0..layer.fields.len())
        .filter(|&i| view.sees_field(&layer.def, &layer.fields[i]))
        .collect();
    let is_field = |k: &str| visible.iter().any(|&i| layer.fields[i].name == k);
    let p = Params::parse(q.as_deref(), ITEMS_PARAMS, is_field)?;
    if let Some(f) = p.get("f") {
        if f != "json" && f != "geojson" && f != "html" {
            return Err(AppError::BadRequest(
                "`f` must be json, geojson or html (see /download for CSV)".into(),
            ));
        }
    }
    let page_for = wants_page(&p, &headers).then(|| {
        (
            pick(p.lang().unwrap_or(Lang::Ja), &layer.def.title).to_string(),
            p.lang().unwrap_or(Lang::Ja),
        )
    });
    for k in ["bbox-crs", "crs", "filter-crs"] {
        if p.get(k).is_some_and(|c| c != CRS84) {
            return Err(AppError::BadRequest(format!(
                "`{k}`: only {CRS84} is offered"
            )));
        }
    }
    let limit = p.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
    let offset = p.int("offset", 0, 0, 100_000_000)? as usize;
    let bbox = p.bbox()?;
    let filters = equality_filters(&p, &layer, &visible);
    let cql = cql_filter(&p, &layer, &view)?;
    let sort = sort_keys(&p, &layer, &view)?;
    let base = base_url(&app.settings, &headers);
    let pairs: Vec<(String, String)> = p
        .pairs()
        .filter(|(k, _)| *k != "offset" && *k != "limit")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let id = id.clone();
    let (job_layer, job_view) = (Arc::clone(&layer), Arc::clone(&view));
    let html = page_for.is_some();
    // Selecting and serialising up to 1,000 features is real work: off the async workers,
    // down to the bytes sent.
    let body = super::heavy(&app, side, move || {
        // Without a `bbox`, a spatial filter's own box lets the index pick the candidates.
        let area = bbox.or_else(|| cql.as_ref().and_then(crate::query::cql2::Filter::bbox_hint));
        let mut matched = crate::query::select(&job_layer, &job_view, area.as_ref(), &filters);
        if let Some(cql) = &cql {
            matched.retain(|&i| cql.matches(&job_layer.features[i]));
        }
        sort_features(&job_layer, &mut matched, &sort);
        let page: Vec<Value> = matched
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| geojson::feature(&job_layer, &job_layer.features[i], &job_view))
            .collect();
        let self_q = |off: usize| -> String {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                s.append_pair(k, v);
            }
            s.append_pair("limit", &limit.to_string());
            s.append_pair("offset", &off.to_string());
            format!("{base}/collections/{id}/items?{}", s.finish())
        };
        let mut links = vec![
            json!({ "href": self_q(offset), "rel": "self", "type": GEOJSON, "title": "this page" }),
            json!({ "href": format!("{base}/collections/{id}"), "rel": "collection", "type": "application/json", "title": "the collection" }),
        ];
        if offset + page.len() < matched.len() {
            links.push(json!({ "href": self_q(offset + limit), "rel": "next", "type": GEOJSON, "title": "next page" }));
        }
        if offset > 0 {
            links.push(json!({ "href": self_q(offset.saturating_sub(limit)), "rel": "prev", "type": GEOJSON, "title": "previous page" }));
        }
        let returned = page.len();
        let doc = json!({
            "type": "FeatureCollection",
            "features": page,
            "numberMatched": matched.len(),
            "numberReturned": returned,
            "timeStamp": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "links": links,
        });
        match &page_for {
            Some((title, lang)) => Ok(super::ogc_html::items(&doc, title, *lang).into_bytes()),
            None => serde_json::to_vec(&doc),
        }
    })
    .await?
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let media = if html {
        "text/html; charset=utf-8"
    } else {
        GEOJSON
    };
    let mut resp = ([(header::CONTENT_TYPE, media)], body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, app.cache_control(&view));
    Ok(resp)
}

pub async fn item(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let layer = one_layer(&app, &view, &id)?;
    let fid: u64 = fid.parse().map_err(|_| AppError::NotFound)?;
    let i = crate::query::by_id(&layer, &view, fid).ok_or(AppError::NotFound)?;
    let base = base_url(&app.settings, &headers);
    let mut f = geojson::feature(&layer, &layer.features[i], &view);
    f["links"] = json!([
        { "href": format!("{base}/collections/{id}/items/{fid}"), "rel": "self", "type": GEOJSON, "title": "this feature" },
        { "href": format!("{base}/collections/{id}"), "rel": "collection", "type": "application/json", "title": "the collection" },
    ]);
    let mut r = geojson_response(&f);
    // A live feature's version is its ETag, for `If-Match` on the next edit.
    if let Some(v) = layer
        .live
        .as_ref()
        .and_then(|l| l.versions.get(&layer.features[i].id))
    {
        if let Ok(h) = HeaderValue::from_str(&format!("\"{v}\"")) {
            r.headers_mut().insert(header::ETAG, h);
        }
    }
    Ok(r)
}

/// Features per streamed chunk of a download.
const CHUNK: usize = 256;

/// `GET /download/{id}.geojson`, `/download/{id}.csv[?bom=1][&geometry=wkt|lonlat]` and
/// `/download/{id}.gpkg`; each may take the items' `filter` (CQL2) and `sortby`, so a table
/// exports exactly the rows it shows.
pub async fn download(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    Extension(side): Extension<super::Side>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AppError> {
    let (id, ext) = file.rsplit_once('.').ok_or(AppError::NotFound)?;
    let csv = match ext {
        "csv" => true,
        "geojson" | "gpkg" => false,
        _ => return Err(AppError::NotFound),
    };
    let p = Params::parse(
        q.as_deref(),
        &[
            "bom",
            "geometry",
            "filter",
            "filter-lang",
            "filter-crs",
            "sortby",
        ],
        |_| false,
    )?;
    let layer = one_layer(&app, &view, id)?;
    let indices = download_rows(&p, &layer, &view)?;
    let bom = p.int("bom", 0, 0, 1)? == 1;
    let lonlat_cols = match p.get("geometry") {
        None => matches!(layer.def.geometry, crate::config::GeometryKind::Point),
        Some("lonlat") => true,
        Some("wkt") => false,
        Some(_) => {
            return Err(AppError::BadRequest(
                "`geometry` must be wkt or lonlat".into(),
            ))
        }
    };
    let visible: Vec<usize> = (0..layer.fields.len())
        .filter(|&i| view.sees_field(&layer.def, &layer.fields[i]))
        .collect();
    if ext == "gpkg" {
        return geopackage_response(&app, side, layer, view, indices, visible, id).await;
    }
    let chunks: Vec<Vec<usize>> = indices.chunks(CHUNK).map(<[usize]>::to_vec).collect();
    let head = if csv {
        csv_header(&layer, &visible, lonlat_cols, bom)
    } else {
        geojson_head(&layer)
    };
    let tail = if csv {
        String::new()
    } else {
        "\n]}\n".to_string()
    };
    // Each chunk is serialised on the listener's heavy-work pool, one at a time as the
    // client reads: a slow reader costs a held slot, never a busy async worker.
    let visible = Arc::new(visible);
    let public = view.is_public();
    let make = move |ci: usize, chunk: Vec<usize>| {
        let (layer, view, visible) = (Arc::clone(&layer), Arc::clone(&view), Arc::clone(&visible));
        move || {
            let mut out = String::new();
            for (k, &i) in chunk.iter().enumerate() {
                let f = &layer.features[i];
                if csv {
                    out.push_str(&csv_row(&layer, f, &visible, lonlat_cols, public));
                } else {
                    if ci > 0 || k > 0 {
                        out.push_str(",\n");
                    }
                    out.push_str(&geojson::feature(&layer, f, &view).to_string());
                }
            }
            out
        }
    };
    let body = futures_util::stream::once(async move { Ok(axum::body::Bytes::from(head)) })
        .chain(
            futures_util::stream::iter(chunks.into_iter().enumerate()).then(move |(ci, chunk)| {
                let job = make(ci, chunk);
                let app = Arc::clone(&app);
                async move {
                    super::heavy(&app, side, job)
                        .await
                        .map(axum::body::Bytes::from)
                        .map_err(|e| std::io::Error::other(e.to_string()))
                }
            }),
        )
        .chain(futures_util::stream::once(async move {
            Ok(axum::body::Bytes::from(tail))
        }));
    let (ctype, name) = if csv {
        ("text/csv; charset=utf-8", format!("{id}.csv"))
    } else {
        (GEOJSON, format!("{id}.geojson"))
    };
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// The rows a download holds: what the caller sees, after the `filter`, in `sortby` order.
fn download_rows(p: &Params, layer: &LayerSnapshot, view: &View) -> Result<Vec<usize>, AppError> {
    if p.get("filter-crs").is_some_and(|c| c != CRS84) {
        return Err(AppError::BadRequest(format!(
            "`filter-crs`: only {CRS84} is offered"
        )));
    }
    let cql = cql_filter(p, layer, view)?;
    let sort = sort_keys(p, layer, view)?;
    let area = cql.as_ref().and_then(crate::query::cql2::Filter::bbox_hint);
    let mut indices = crate::query::select(layer, view, area.as_ref(), &[]);
    if let Some(cql) = &cql {
        indices.retain(|&i| cql.matches(&layer.features[i]));
    }
    sort_features(layer, &mut indices, &sort);
    Ok(indices)
}

/// A GeoPackage is one `SQLite` file: made whole on the heavy-work pool, then sent.
async fn geopackage_response(
    app: &AppState,
    side: super::Side,
    layer: Arc<LayerSnapshot>,
    view: Arc<View>,
    indices: Vec<usize>,
    visible: Vec<usize>,
    id: &str,
) -> Result<Response, AppError> {
    let bytes = super::heavy(app, side, move || {
        crate::query::geopackage::write(&layer, &indices, &visible, &view)
    })
    .await?
    .map_err(|e| AppError::Internal(format!("the GeoPackage could not be made: {e}")))?;
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geopackage+sqlite3"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.gpkg\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

fn geojson_head(layer: &LayerSnapshot) -> String {
    let meta = json!({
        "name": layer.def.id,
        "title": layer.def.title,
        "license": layer.def.license,
        "attribution": layer.def.attribution,
    });
    format!("{{\"type\":\"FeatureCollection\",\"metadata\":{meta},\"features\":[\n")
}

fn csv_header(layer: &LayerSnapshot, visible: &[usize], lonlat: bool, bom: bool) -> String {
    let mut cols: Vec<String> = vec!["id".into()];
    cols.extend(
        visible
            .iter()
            .map(|&i| geojson::csv_field(&layer.fields[i].name)),
    );
    if lonlat {
        cols.push("lon".into());
        cols.push("lat".into());
    } else {
        cols.push("wkt".into());
    }
    format!(
        "{}{}\r\n",
        if bom { "\u{FEFF}" } else { "" },
        cols.join(",")
    )
}

fn csv_row(
    layer: &LayerSnapshot,
    f: &crate::store::Feature,
    visible: &[usize],
    lonlat: bool,
    public: bool,
) -> String {
    let mut cols: Vec<String> = vec![layer.served_id(f, public).to_string()];
    cols.extend(
        visible
            .iter()
            .map(|&i| geojson::csv_field(&f.values[i].key().unwrap_or_default())),
    );
    if lonlat {
        // Points give their position; lines and polygons the centre of their box.
        let [lon, lat] = geojson::representative_lonlat(f);
        cols.push(lon.to_string());
        cols.push(lat.to_string());
    } else {
        cols.push(geojson::csv_field(&geojson::wkt(&f.shape)));
    }
    format!("{}\r\n", cols.join(","))
}
