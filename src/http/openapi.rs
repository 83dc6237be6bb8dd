//! `GET /api`: the `OpenAPI` 3.0 document of this listener (the landing page's
//! `service-desc`), for the caller's view: every route with its parameters, and per
//! collection the fields it may filter on. Clients such as GDAL's OAPIF driver read it to
//! push attribute filters to the server.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::{base_url, AppError, AppState, Caller};
use crate::access::View;
use crate::store::FieldType;

/// The media type GDAL and other `OpenAPI` clients ask for.
pub const MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.0";

#[allow(clippy::needless_pass_by_value)] // called with `json!(…)` values
fn param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": description })
}

#[allow(clippy::needless_pass_by_value)] // called with `vec![…]`
fn get_op(summary: &str, params: Vec<Value>, media: &str) -> Value {
    json!({ "get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": { "description": "OK", "content": { media: {} } },
            "400": { "description": "a parameter is wrong; the body says which" },
            "404": { "description": "no such resource for this caller" },
        },
    }})
}

/// The parameters of a collection's items route, with `fields` as equality filters.
fn items_params(fields: &[(String, FieldType)]) -> Vec<Value> {
    let mut v = vec![
        param(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
            "features per page",
        ),
        param(
            "offset",
            json!({ "type": "integer", "minimum": 0 }),
            "features skipped (paging)",
        ),
        param(
            "bbox",
            json!({ "type": "array", "items": { "type": "number" }, "minItems": 4, "maxItems": 4 }),
            "west,south,east,north in CRS84",
        ),
        param(
            "bbox-crs",
            json!({ "type": "string", "enum": [super::ogc::CRS84] }),
            "the bbox's CRS",
        ),
        param(
            "crs",
            json!({ "type": "string", "enum": [super::ogc::CRS84] }),
            "the answer's CRS",
        ),
        param(
            "filter",
            json!({ "type": "string" }),
            "a CQL2 filter (see /conformance for the classes)",
        ),
        // `cql-text` is the draft name GDAL 3.6 and older clients send; it is read as cql2-text.
        param(
            "filter-lang",
            json!({ "type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text" }),
            "the filter's encoding",
        ),
        param(
            "filter-crs",
            json!({ "type": "string", "enum": [super::ogc::CRS84] }),
            "the CRS of geometries in the filter",
        ),
        param(
            "sortby",
            json!({ "type": "string" }),
            "fields to order by, comma-separated; `-name` descending",
        ),
        param(
            "lang",
            json!({ "type": "string", "enum": ["ja", "en"] }),
            "language of labels",
        ),
    ];
    for (name, kind) in fields {
        v.push(param(
            name,
            json!({ "type": kind.json_type() }),
            "features whose value equals this",
        ));
    }
    v
}

#[allow(clippy::too_many_lines)] // one entry per route: a table, read top to bottom
pub async fn api(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let base = base_url(&app.settings, &headers);
    let catalog = app.catalog.load_full();
    let site = catalog.site();
    let id = path_param("collectionId", "a collection (layer) id");
    let lonlat = || {
        vec![
            json!({ "name": "lon", "in": "query", "required": true, "schema": { "type": "number", "minimum": -180, "maximum": 180 } }),
            json!({ "name": "lat", "in": "query", "required": true, "schema": { "type": "number", "minimum": -85.05, "maximum": 85.05 } }),
        ]
    };
    let lang = || {
        param(
            "lang",
            json!({ "type": "string", "enum": ["ja", "en"] }),
            "language",
        )
    };
    let mut paths = Map::new();
    let mut add = |p: &str, v: Value| {
        paths.insert(p.to_string(), v);
    };
    add(
        "/",
        get_op(
            "landing page (HTML for browsers, JSON with f=json)",
            vec![param(
                "f",
                json!({ "type": "string", "enum": ["json", "html"] }),
                "format",
            )],
            "application/json",
        ),
    );
    add("/api", get_op("this document", vec![], MEDIA_TYPE));
    add(
        "/conformance",
        get_op("conformance classes", vec![], "application/json"),
    );
    add(
        "/collections",
        get_op(
            "the collections this caller may see",
            vec![lang()],
            "application/json",
        ),
    );
    add(
        "/collections/{collectionId}",
        get_op(
            "one collection",
            vec![id.clone(), lang()],
            "application/json",
        ),
    );
    add(
        "/collections/{collectionId}/items",
        get_op(
            "features, paged and filtered",
            [vec![id.clone()], items_params(&[])].concat(),
            "application/geo+json",
        ),
    );
    add(
        "/collections/{collectionId}/items/{featureId}",
        get_op(
            "one feature",
            vec![id.clone(), path_param("featureId", "a feature id")],
            "application/geo+json",
        ),
    );
    add(
        "/collections/{collectionId}/queryables",
        get_op(
            "what a filter may name",
            vec![id.clone(), lang()],
            "application/schema+json",
        ),
    );
    add(
        "/tiles/{layers}/{z}/{x}/{y}",
        get_op(
            "a vector tile (MVT) of one or more layers (comma-separated)",
            vec![
                path_param("layers", "layer ids, comma-separated"),
                path_param("z", "zoom"),
                path_param("x", "column"),
                path_param(
                    "y",
                    "row (append .mvt or .pbf for Mapbox Vector Tiles, .mlt for MapLibre Tiles)",
                ),
            ],
            "application/vnd.mapbox-vector-tile",
        ),
    );
    add(
        "/tiles/{spec}",
        get_op(
            "TileJSON 3.0 of layers (`a,b.json`)",
            vec![path_param("spec", "layer ids, comma-separated, then .json")],
            "application/json",
        ),
    );
    add(
        "/catalog",
        get_op(
            "the layer catalog: titles, fields, styles, site",
            vec![lang()],
            "application/json",
        ),
    );
    add(
        "/hazard",
        get_op(
            "the hazard report at a point",
            [
                lonlat(),
                vec![
                    lang(),
                    param(
                        "shelters",
                        json!({ "type": "integer", "minimum": 0, "maximum": 10 }),
                        "shelters listed",
                    ),
                    param(
                        "f",
                        json!({ "type": "string", "enum": ["json", "text", "html"] }),
                        "format",
                    ),
                ],
            ]
            .concat(),
            "application/json",
        ),
    );
    add(
        "/query",
        get_op(
            "identify: features at a point",
            [
                lonlat(),
                vec![
                    param(
                        "layers",
                        json!({ "type": "string" }),
                        "layer ids, comma-separated",
                    ),
                    param(
                        "z",
                        json!({ "type": "integer" }),
                        "map zoom (sets the tolerance)",
                    ),
                    param(
                        "px",
                        json!({ "type": "integer", "maximum": 50 }),
                        "tolerance in pixels",
                    ),
                ],
            ]
            .concat(),
            "application/geo+json",
        ),
    );
    add(
        "/search",
        get_op(
            "place and name search (kana and rōmaji too)",
            vec![
                json!({ "name": "q", "in": "query", "required": true, "schema": { "type": "string" } }),
                param(
                    "limit",
                    json!({ "type": "integer", "maximum": 50 }),
                    "results",
                ),
            ],
            "application/json",
        ),
    );
    let mut land = get_op(
        "the lot report (土地の情報) for a point or a feature",
        [
            lonlat(),
            vec![
                param(
                    "layer",
                    json!({ "type": "string" }),
                    "with fid: a feature as the subject",
                ),
                param("fid", json!({ "type": "integer" }), "the feature's id"),
                lang(),
                param(
                    "f",
                    json!({ "type": "string", "enum": ["json", "html", "csv"] }),
                    "format",
                ),
            ],
        ]
        .concat(),
        "application/json",
    );
    land["post"] = json!({
        "summary": "the lot report for a drawn polygon",
        "requestBody": { "required": true, "content": { "application/geo+json": { "schema": { "type": "object" } }, "application/json": { "schema": { "type": "object" } } } },
        "responses": { "200": { "description": "OK", "content": { "application/json": {} } }, "400": { "description": "not a polygon; the body says why" } },
    });
    add("/land", land);
    add(
        "/download/{file}",
        get_op(
            "a layer as GeoJSON, CSV or GeoPackage (`id.geojson`, `id.csv`, `id.gpkg`); `filter` and `sortby` as for items",
            vec![
                path_param("file", "layer id with .geojson, .csv or .gpkg"),
                param("filter", json!({ "type": "string" }), "a CQL2 filter"),
                param("filter-lang", json!({ "type": "string", "enum": ["cql2-text", "cql2-json"] }), "the filter's encoding"),
                param("sortby", json!({ "type": "string" }), "fields to order by; `-name` descending"),
            ],
            "application/geo+json",
        ),
    );
    add(
        "/styles/{file}",
        get_op(
            "a MapLibre style (`public.json`, `internal.json`)",
            vec![path_param("file", "style id with .json")],
            "application/json",
        ),
    );
    add("/health", get_op("readiness", vec![], "application/json"));
    // Per collection, its fields as equality parameters (what GDAL pushes down).
    for layer in catalog.layers().filter(|l| view.sees_layer(&l.def)) {
        let fields: Vec<(String, FieldType)> = layer
            .fields
            .iter()
            .filter(|f| view.sees_field(&layer.def, f))
            .map(|f| (f.name.clone(), f.kind))
            .collect();
        let mut items = get_op(
            "features, paged and filtered",
            items_params(&fields),
            "application/geo+json",
        );
        // A live layer's editing (Part 4), as far as this key's roles allow.
        if let (Some(_), View::Internal(who)) = (&layer.def.live, view.as_ref()) {
            let [create, update, delete] = crate::live::LiveStore::rights(&layer.def, who);
            let id = layer.def.id.as_str();
            let feature_body = json!({ "required": true, "content": { "application/geo+json": { "schema": { "type": "object" } } } });
            let fid = path_param("featureId", "a feature id");
            if create {
                items["post"] = json!({ "summary": "add a feature (GeoJSON Feature)", "requestBody": feature_body, "responses": { "201": { "description": "created; Location and ETag" }, "400": { "description": "not valid for the schema" } } });
            }
            let mut item = get_op("one feature", vec![fid.clone()], "application/geo+json");
            let if_match = json!({ "name": "If-Match", "in": "header", "schema": { "type": "string" }, "description": "the version read (its ETag)" });
            if update {
                for (m, what) in [
                    ("put", "replace the feature"),
                    ("patch", "change the given properties (and geometry)"),
                ] {
                    item[m] = json!({ "summary": what, "parameters": [fid, if_match], "requestBody": feature_body, "responses": { "200": { "description": "changed; new ETag" }, "412": { "description": "changed meanwhile" } } });
                }
            }
            if delete {
                item["delete"] = json!({ "summary": "delete the feature (an admin can restore it)", "parameters": [fid, if_match], "responses": { "204": { "description": "deleted" }, "412": { "description": "changed meanwhile" } } });
            }
            add(&format!("/collections/{id}/items/{{featureId}}"), item);
            add(
                &format!("/collections/{id}/items/{{featureId}}/history"),
                get_op(
                    "every change of the feature",
                    vec![path_param("featureId", "a feature id")],
                    "application/json",
                ),
            );
        }
        if layer.def.sensor.is_some() {
            let id = layer.def.id.as_str();
            let mut series = get_op(
                "the station's readings, oldest first, each with its level",
                vec![
                    path_param("featureId", "a station's feature id"),
                    param(
                        "from",
                        json!({ "type": "string", "format": "date-time" }),
                        "readings at or after (RFC 3339)",
                    ),
                    param(
                        "to",
                        json!({ "type": "string", "format": "date-time" }),
                        "readings at or before (RFC 3339)",
                    ),
                    param(
                        "limit",
                        json!({ "type": "integer", "minimum": 1, "maximum": 10000, "default": 1000 }),
                        "the newest this many",
                    ),
                ],
                "application/json",
            );
            if let View::Internal(who) = view.as_ref() {
                if crate::live::LiveStore::may_post_readings(&layer.def, who) {
                    series["post"] = json!({ "summary": "add readings: {time, value} or a list of up to 1,000", "parameters": [path_param("featureId", "a station's feature id")], "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [{ "type": "object" }, { "type": "array", "maxItems": 1000 }] } } } }, "responses": { "200": { "description": "stored; the latest reading" }, "400": { "description": "a reading is wrong; the body says which" } } });
                }
            }
            add(
                &format!("/collections/{id}/items/{{featureId}}/readings"),
                series,
            );
        }
        add(
            &format!("/collections/{}/items", layer.def.id.as_str()),
            items,
        );
    }
    if app.live().is_some() {
        add(
            "/events",
            get_op(
                "changes of live layers (Server-Sent Events)",
                vec![],
                "text/event-stream",
            ),
        );
    }
    let title = site.title();
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("{} — chizu", title.ja),
            "version": env!("CARGO_PKG_VERSION"),
            "description": if view.is_public() { "公開型GIS: public layers, tiles, reports and open data" } else { "統合型GIS: the layers this key may see" },
        },
        "servers": [{ "url": base }],
        "paths": paths,
    });
    let mut r = Json(doc).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(MEDIA_TYPE),
    );
    Ok(r)
}
