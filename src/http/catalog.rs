//! `GET /catalog` and `GET /health`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::{base_url, AppState, Caller};

pub async fn catalog(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    headers: HeaderMap,
) -> Json<Value> {
    let catalog = app.catalog.load_full();
    let base = base_url(&app.settings, &headers);
    Json(catalog_json(&catalog, &view, &base))
}

/// The catalog as `view` sees it, with URLs under `base` (also put into the public page).
pub(crate) fn catalog_json(
    catalog: &crate::store::Catalog,
    view: &crate::access::View,
    base: &str,
) -> Value {
    let layers: Vec<Value> = catalog
        .layers()
        .filter(|l| view.sees_layer(&l.def))
        .map(|l| {
            let fields: Vec<Value> = l
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| view.sees_field(&l.def, f))
                .map(|(i, f)| {
                    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
                    v["values"] = json!(l.values_for(i, view.is_public()));
                    v
                })
                .collect();
            let features = l.count_for(view.is_public());
            let id = l.def.id.as_str();
            json!({
                "id": id,
                "title": l.def.title,
                "description": l.def.description,
                "category": { "id": l.def.category, "label": l.def.category.label() },
                "geometry": l.def.geometry,
                "minzoom": l.def.minzoom,
                "maxzoom": l.def.maxzoom,
                "bounds": l.lonlat_bounds_for(view.is_public()),
                "features": features,
                "fields": fields,
                "attribution": l.def.attribution,
                "license": l.def.license,
                "hazard": l.def.hazard.as_ref().map(|h| h.kind),
                "tilejson": format!("{base}/tiles/{id}.json"),
                "tiles": format!("{base}/tiles/{id}/{{z}}/{{x}}/{{y}}.mvt"),
                "collection": format!("{base}/collections/{id}"),
                "downloads": {
                    "geojson": format!("{base}/download/{id}.geojson"),
                    "csv": format!("{base}/download/{id}.csv"),
                },
                "size_rules": l.size_rules.zooms(view.is_public(), l.def.minzoom, l.def.maxzoom),
                "search": l.def.search,
                "shelter": l.def.shelter.is_some(),
                // Edited while it happens: `GET /events` tells of changes.
                "live": l.def.live.is_some(),
                // Residents may report here (`reports` of a live layer): the form to show.
                "reports": l.def.reports.as_ref().map(|r| {
                    let field = |name: &str| l.def.fields.iter().find(|f| f.output_name() == name);
                    let category = field(&r.category);
                    let text = r.text.as_deref().and_then(field);
                    json!({
                        "url": format!("{base}/collections/{id}/reports"),
                        "category": r.category,
                        "category_label": category.and_then(|f| f.label.clone()),
                        "values": category.map(|f| {
                            // 「その他」 (other) last, the rest in the file's sorted order.
                            let mut vs: Vec<_> = f.values.iter().collect();
                            vs.sort_by_key(|(_, label)| label.ja == "その他" || label.en.eq_ignore_ascii_case("other"));
                            vs.into_iter().map(|(v, label)| json!({ "value": v, "label": label })).collect::<Vec<_>>()
                        }),
                        "text": r.text,
                        "text_label": text.and_then(|f| f.label.clone()),
                        "max_length": text.and_then(|f| f.max_length),
                        "per_hour": r.per_hour,
                    })
                }),
                "editable": match (&l.def.live, view) {
                    (Some(_), crate::access::View::Internal(p)) => {
                        let [c, u, d] = crate::live::LiveStore::rights(&l.def, p);
                        json!({ "create": c, "update": u, "delete": d })
                    }
                    _ => Value::Null,
                },
            })
        })
        .collect();
    json!({ "site": site_json(catalog, view), "layers": layers })
}

/// What the viewer needs to know of the root's `site.toml`, completed from the data: the
/// titles, where to open, the area and hazard kinds covered, and a search example.
fn site_json(catalog: &crate::store::Catalog, view: &crate::access::View) -> Value {
    let site = catalog.site();
    let visible: Vec<&crate::store::LayerSnapshot> = catalog
        .layers()
        .filter(|l| view.sees_layer(&l.def))
        .map(AsRef::as_ref)
        .collect();
    let staff = site.name.as_ref().map_or_else(
        || crate::config::I18n {
            ja: "統合型GIS（職員用）".into(),
            en: "Staff GIS".into(),
        },
        |n| crate::config::I18n {
            ja: format!("{} 統合型GIS（職員用）", n.ja),
            en: format!("{} staff GIS", n.en),
        },
    );
    let example = site.search_example.clone().or_else(|| {
        // The first searchable name of the first layer that has any (町丁目 before shelters).
        let mut layers: Vec<&&crate::store::LayerSnapshot> =
            visible.iter().filter(|l| !l.search.is_empty()).collect();
        layers.sort_by_key(|l| (l.def.shelter.is_some(), l.def.id.clone()));
        let l = layers.first()?;
        let e = l.search.first()?;
        let f = l.features.get(e.feature as usize)?;
        let v = f.values.get(e.field as usize)?.key()?;
        // In English the name as read (its rōmaji), where the data has its reading.
        let en = crate::query::search::romaji_name(l, f, view, &v).unwrap_or_else(|| v.clone());
        Some(crate::config::I18n { ja: v, en })
    });
    json!({
        "name": site.name,
        "title": site.title(),
        // The staff map's title is for the staff listener only.
        "staff_title": (!view.is_public()).then_some(staff),
        "contact": site.contact,
        "attribution": site.attribution,
        "search_example": example,
        "view": site.view.map(|v| json!({ "center": v.center, "zoom": v.zoom })),
        "bounds": crate::store::lonlat_union(visible.iter().copied(), view.is_public()),
        "coverage": crate::query::coverage::describe(catalog, view),
    })
}

/// Readiness: 200 while at least one layer serves (`ok`, or `degraded` with failures),
/// 503 when nothing does.
pub async fn health(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
) -> (axum::http::StatusCode, Json<Value>) {
    let catalog = app.catalog.load_full();
    let public = view.is_public();
    let admin = matches!(view.as_ref(), crate::access::View::Internal(p) if p.is_admin());
    let layers: Vec<Value> = catalog
        .layers()
        .filter(|l| view.sees_layer(&l.def))
        .map(|l| {
            // A layer whose reload failed still serves its previous snapshot.
            let why = catalog.failed().get(l.def.id.as_str());
            let state = if why.is_some() { "stale" } else { "ready" };
            let mut e = json!({ "id": l.def.id, "state": state, "version": l.version, "features": l.count_for(public) });
            if let (Some(w), false) = (why, public) {
                e["reason"] = json!(w);
            }
            e
        })
        .collect();
    // Each caller hears only of the layers it may see: a stale layer among them, and (for
    // admin keys only) layer files that failed with no snapshot to show for them. The
    // public view hears of public layers only, with no reasons.
    let failed: Vec<Value> = if admin {
        catalog
            .failed()
            .iter()
            .filter(|(id, _)| catalog.get(id).is_none())
            .map(|(id, why)| json!({ "id": id, "state": "failed", "reason": why }))
            .collect()
    } else {
        Vec::new()
    };
    let stale = layers.iter().filter(|l| l["state"] == "stale").count();
    let unloaded = if admin {
        failed.len()
    } else if public {
        // Public layers that failed with nothing to serve: counted, never explained.
        catalog
            .failed_public()
            .iter()
            .filter(|id| catalog.get(id).is_none())
            .count()
    } else {
        0
    };
    let failed_count = stale + unloaded;
    let serving = !layers.is_empty();
    let (code, status) = match (serving, failed_count) {
        (false, _) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, 0) => (axum::http::StatusCode::OK, "ok"),
        (true, _) => (axum::http::StatusCode::OK, "degraded"),
    };
    (
        code,
        Json(
            json!({ "status": status, "layers": layers, "failed": failed, "failed_count": failed_count }),
        ),
    )
}

/// Liveness: the process answers. (Readiness, with per-layer state, is `/health`.)
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// `POST /admin/reload` (internal, role `admin`): reload what changed now.
pub async fn reload(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Json<Value>, super::AppError> {
    let admin = matches!(view.as_ref(), crate::access::View::Internal(p) if p.is_admin());
    if !admin {
        return Err(super::AppError::NotFound);
    }
    let p = super::params::Params::parse(q.as_deref(), &["accept"], |_| false)?;
    let mut accept = std::collections::BTreeSet::new();
    for id in p
        .get("accept")
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
    {
        crate::config::LayerId::parse(id).map_err(super::AppError::BadRequest)?;
        accept.insert(id.to_string());
    }
    let summary = tokio::task::spawn_blocking(move || app.reload_accepting(accept))
        .await
        .map_err(|e| super::AppError::Internal(e.to_string()))?
        .ok_or(super::AppError::NotFound)?;
    Ok(Json(serde_json::to_value(summary).unwrap_or(Value::Null)))
}
