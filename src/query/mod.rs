//! Queries on layer snapshots: identify at a point, the resident's hazard report,
//! name search, and feature listing with filters and paging (OGC API – Features).
//! Every function takes the caller's [`View`] and returns only what it may see. No HTTP here.

pub mod coverage;
pub mod cql2;
pub mod geojson;
pub mod geom;
pub mod geopackage;
pub mod hazard;
pub mod land;
pub mod romaji;
pub mod search;

use geo::Coord;

use crate::access::View;

/// Text escaped for HTML (element content and double-quoted attributes).
#[must_use]
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A JSON value as it reads in a table cell: strings without quotes, null empty.
#[must_use]
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
use crate::store::{LayerSnapshot, PartBox, Shape};

/// Features of `layer` at `p` (EPSG:3857): polygons containing it, lines and points within
/// `tolerance` metres. Feature indices with the parts that matched, nearest first for
/// lines and points.
#[must_use]
pub fn identify(
    layer: &LayerSnapshot,
    view: &View,
    p: Coord<f64>,
    tolerance: f64,
) -> Vec<(usize, Vec<u32>)> {
    let area = PartBox {
        min: Coord {
            x: p.x - tolerance,
            y: p.y - tolerance,
        },
        max: Coord {
            x: p.x + tolerance,
            y: p.y + tolerance,
        },
    };
    let mut hits: Vec<(f64, usize, Vec<u32>)> = Vec::new();
    for (fi, part) in layer.parts_in(&area) {
        let fi = fi as usize;
        let Some(f) = layer.features.get(fi) else {
            continue;
        };
        if !view.sees_feature(f) {
            continue;
        }
        let d = match &f.shape {
            // Polygons count only when they contain the point.
            Shape::Polygons(parts) => {
                if parts
                    .get(part as usize)
                    .is_some_and(|pp| geom::polygon_contains(pp, p))
                {
                    0.0
                } else {
                    continue;
                }
            }
            shape => geom::part_distance(shape, part as usize, p),
        };
        if d > tolerance {
            continue;
        }
        match hits.iter_mut().find(|h| h.1 == fi) {
            Some(h) => {
                h.0 = h.0.min(d);
                h.2.push(part);
            }
            None => hits.push((d, fi, vec![part])),
        }
    }
    hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    hits.into_iter().map(|h| (h.1, h.2)).collect()
}

/// An equality filter on a served field: `field = value` as text.
pub struct Equals {
    pub field: usize,
    pub value: String,
}

/// Indices of the features `view` sees, inside `bbox` (EPSG:3857) if given, matching
/// every filter, in feature order.
#[must_use]
pub fn select(
    layer: &LayerSnapshot,
    view: &View,
    bbox: Option<&PartBox>,
    filters: &[Equals],
) -> Vec<usize> {
    let candidates: Vec<usize> = match bbox {
        Some(b) => {
            let mut v: Vec<usize> = layer
                .parts_in(b)
                .into_iter()
                .map(|(f, _)| f as usize)
                .collect();
            v.dedup();
            v
        }
        None => (0..layer.features.len()).collect(),
    };
    candidates
        .into_iter()
        .filter(|&i| {
            let f = &layer.features[i];
            view.sees_feature(f)
                && filters.iter().all(|e| {
                    f.values
                        .get(e.field)
                        .and_then(crate::store::Value::key)
                        .is_some_and(|k| k == e.value)
                })
        })
        .collect()
}

/// The index of the feature with this id that `view` sees.
#[must_use]
pub fn by_id(layer: &LayerSnapshot, view: &View, id: u64) -> Option<usize> {
    layer
        .features
        .iter()
        .position(|f| view.sees_feature(f) && layer.served_id(f, view.is_public()) == id)
}
