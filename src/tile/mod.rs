//! Tile cutting: from layer snapshots and a view to MVT bytes.
//!
//! Queries each layer's R-tree with the buffered tile, cuts the parts found (see `cut`),
//! and encodes one MVT layer per chizu layer. Knows nothing of HTTP; returns `None` for
//! an empty tile so the caller can answer 204.

pub mod cache;
pub mod clip;
mod coord;
pub mod cut;
mod encode;
mod error;
mod simplify;

pub use coord::{
    lonlat_to_mercator, mercator_to_lonlat, MercatorBox, TileCoord, TileTransform, HALF_WORLD,
    MAX_ZOOM,
};
pub use encode::EXTENT;
pub use error::{Result, TileError};

use crate::access::View;
use crate::store::{LayerSnapshot, PartBox};
use clip::ClipBox;
use cut::{cut_feature_with, CutParams, Scratch, TileGeom};
use encode::LayerBuilder;

/// Cuts `coord` from `layers` as `view` may see them. Layers the view may not see must
/// already be excluded by the caller (the HTTP layer resolves ids through the view);
/// this function still filters attributes and features through `view`.
pub fn render(layers: &[&LayerSnapshot], view: &View, coord: TileCoord) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        if coord.z() < layer.def.minzoom || !view.sees_layer(&layer.def) {
            continue;
        }
        let b = render_layer(layer, view, coord);
        if !b.is_empty() {
            out.push(b.finish());
        }
    }
    Ok(encode::encode_tile(out))
}

fn render_layer<'a>(layer: &'a LayerSnapshot, view: &View, coord: TileCoord) -> LayerBuilder<'a> {
    let transform = TileTransform::new(&coord, EXTENT);
    let buffer = f64::from(layer.def.buffer);
    let merc = coord.bounds().expand(buffer * transform.unit());
    let mercator_clip = PartBox {
        min: geo::Coord {
            x: merc.min_x,
            y: merc.min_y,
        },
        max: geo::Coord {
            x: merc.max_x,
            y: merc.max_y,
        },
    };
    let params = CutParams {
        transform,
        clip: ClipBox {
            min: -buffer,
            max: f64::from(EXTENT) + buffer,
        },
        tolerance: layer.def.simplify,
        mercator_clip,
    };
    let visible: Vec<usize> = (0..layer.fields.len())
        .filter(|&i| view.sees_field(&layer.def, &layer.fields[i]))
        .collect();
    let mut builder = LayerBuilder::new(layer.def.id.as_str(), layer.fields.len());
    let mut scratch = Scratch::default();
    let mut geom = TileGeom::default();
    let hits = layer.parts_in(&mercator_clip);
    for run in hits.chunk_by(|a, b| a.0 == b.0) {
        let Some(feature) = layer.features.get(run[0].0 as usize) else {
            continue;
        };
        if !view.sees_feature(feature) {
            continue;
        }
        let parts = run.iter().map(|h| h.1);
        if !cut_feature_with(&feature.shape, parts, &params, &mut scratch, &mut geom) {
            continue;
        }
        let attrs = visible
            .iter()
            .map(|&i| (i, layer.fields[i].name.as_str(), &feature.values[i]));
        builder.add(feature.id, &geom, attrs);
    }
    builder
}
