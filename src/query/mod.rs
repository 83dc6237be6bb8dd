//! Queries on layer snapshots: identify at a point, the resident's hazard report,
//! name search, and feature listing with filters and paging (OGC API – Features).
//! Every function takes the caller's [`View`] and returns only what it may see. No HTTP here.

pub mod geojson;
pub mod geom;
pub mod hazard;
pub mod search;

use geo::Coord;

use crate::access::View;
use crate::store::{LayerSnapshot, PartBox, Shape};

/// Features of `layer` at `p` (EPSG:3857): polygons containing it, lines and points within
/// `tolerance` metres. Feature indices, nearest first for lines and points.
#[must_use]
pub fn identify(layer: &LayerSnapshot, view: &View, p: Coord<f64>, tolerance: f64) -> Vec<usize> {
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
    let mut hits: Vec<(f64, usize)> = Vec::new();
    for (fi, part) in layer.parts_in(&area) {
        let fi = fi as usize;
        let Some(f) = layer.features.get(fi) else {
            continue;
        };
        if !view.sees_feature(f) {
            continue;
        }
        let d = geom::part_distance(&f.shape, part as usize, p);
        let within = match f.shape {
            Shape::Polygons(_) => d == 0.0,
            _ => d <= tolerance,
        };
        if within {
            match hits.iter_mut().find(|h| h.1 == fi) {
                Some(h) => h.0 = h.0.min(d),
                None => hits.push((d, fi)),
            }
        }
    }
    hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    hits.into_iter().map(|h| h.1).collect()
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
        .position(|f| f.id == id && view.sees_feature(f))
}
