//! Tile cutting: from layer snapshots and a view to MVT bytes (and MapLibre Tiles, MLT,
//! made from them).
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
pub mod overview;
pub mod parts;
mod simplify;

use std::sync::Arc;

pub use coord::{
    lonlat_to_mercator, mercator_to_lonlat, MercatorBox, TileCoord, TileTransform, HALF_WORLD,
    MAX_ZOOM,
};
pub use encode::EXTENT;
pub use error::{Result, TileError};

/// The encodings a tile is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TileFormat {
    /// Mapbox Vector Tile 2.1 (`.mvt`, `.pbf`).
    #[default]
    Mvt,
    /// MapLibre Tile (`.mlt`), columnar; read by MapLibre GL JS with `encoding: "mlt"`.
    Mlt,
}

impl TileFormat {
    /// The file suffix of tile URLs.
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Mvt => "mvt",
            Self::Mlt => "mlt",
        }
    }

    /// The media type of a tile.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Mvt => "application/vnd.mapbox-vector-tile",
            Self::Mlt => "application/vnd.maplibre-tile",
        }
    }
}

/// Level of [`gzip`]: libdeflate's 6 gives zlib-rs level 6's bytes (0.3–0.9 % fewer) in
/// 61–75 % of its time on this project's tiles (`cargo bench --bench gzip`).
const GZIP_LEVEL: i32 = 6;

thread_local! {
    /// One libdeflate compressor per thread: making one costs more than a small tile.
    static GZIP: std::cell::RefCell<Option<libdeflater::Compressor>> =
        const { std::cell::RefCell::new(None) };
}

/// A tile gzipped as it is cached and served (and exported to MBTiles).
#[must_use]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    GZIP.with(|c| {
        let mut c = c.borrow_mut();
        let c = c.get_or_insert_with(|| {
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(GZIP_LEVEL).unwrap_or_default(),
            )
        });
        let mut out = vec![0; c.gzip_compress_bound(bytes.len())];
        let n = c
            .gzip_compress(bytes, &mut out)
            .expect("libdeflate fits any input in its gzip_compress_bound");
        out.truncate(n);
        out
    })
}

/// The same tile as a MapLibre Tile: each MVT layer re-encoded by `mlt-core` (which picks
/// every column's encoding), in MVT order. Chosen by `cargo bench --bench mlt`: without
/// `FastPFor` (its bytes gzip barely compresses: on the sample the default was 15 % *larger*
/// than gzip MVT, without it 6 % smaller) and in the cut's feature order (trying four
/// orders cost 2.3× the time for 0.2 % of the bytes).
pub fn mvt_to_mlt(mvt: &[u8]) -> Result<Vec<u8>> {
    mvt_to_mlt_with(
        mvt,
        mlt_core::encoder::EncoderConfig::default()
            .with_fastpfor(false)
            .with_spatial_morton_sort(false)
            .with_spatial_hilbert_sort(false)
            .with_id_sort(false),
    )
}

/// [`mvt_to_mlt`] with `mlt-core`'s encoder choices given (for the benchmark).
pub fn mvt_to_mlt_with(mvt: &[u8], cfg: mlt_core::encoder::EncoderConfig) -> Result<Vec<u8>> {
    let layers = mlt_core::mvt::mvt_to_tile_layers(mvt)
        .map_err(|e| TileError::Encode(format!("MLT: {e}")))?;
    let mut out = Vec::with_capacity(mvt.len());
    for layer in layers {
        let bytes = layer
            .encode(cfg)
            .map_err(|e| TileError::Encode(format!("MLT: {e}")))?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

use crate::access::View;
use crate::store::{Feature, LayerSnapshot, Shape};
use cut::{cut_feature_with, CutParams, Scratch, TileGeom, TooSmall};
use encode::LayerBuilder;

/// Cuts `coord` from `layers` as `view` may see them. Layers the view may not see must
/// already be excluded by the caller (the HTTP layer resolves ids through the view);
/// this function still filters attributes and features through `view`.
///
/// Each layer is held to its budget (`max_tile_bytes`, `max_tile_features`), and the whole
/// tile to [`MAX_TILE_BYTES`]: over them, the least significant features are dropped whole
/// and the layer's [`BudgetLog`] records it.
///
/// [`BudgetLog`]: crate::store::BudgetLog
pub fn render(layers: &[&LayerSnapshot], view: &View, coord: TileCoord) -> Result<Option<Vec<u8>>> {
    let cut = cut_layers(layers, view, coord, None);
    let built: Vec<&encode::Built> = cut.iter().filter_map(|p| p.built.as_ref()).collect();
    Ok(encode::encode_tile(&built))
}

/// [`render`], and the tile gzipped, taking the file layers of a composite that holds a
/// live layer from `parts` (and leaving them there), already compressed: a live edit then
/// cuts and compresses only the live layer again. Any other tile is cut and gzipped whole.
pub fn render_gzip(
    layers: &[&LayerSnapshot],
    view: &View,
    coord: TileCoord,
    parts: &parts::PartCache,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let cut = cut_layers(layers, view, coord, Some(parts));
    let built: Vec<&encode::Built> = cut.iter().filter_map(|p| p.built.as_ref()).collect();
    let Some(raw) = encode::encode_tile(&built) else {
        return Ok(None);
    };
    let segments: Option<Vec<&[u8]>> = cut
        .iter()
        .filter(|p| p.built.as_ref().is_some_and(|b| !b.is_empty()))
        .map(|p| p.segment.as_deref())
        .collect();
    let gz = match segments {
        Some(segments) if cut.len() > 1 => parts::join_gzip(&raw, &segments),
        _ => gzip(&raw),
    };
    Ok(Some((raw, gz)))
}

/// The layers of a tile cut and held to their budgets and to the whole tile's, in order;
/// with `parts`, a composite holding a live layer takes its file layers from there.
fn cut_layers(
    layers: &[&LayerSnapshot],
    view: &View,
    coord: TileCoord,
    parts: Option<&parts::PartCache>,
) -> Vec<Arc<parts::Part>> {
    let record = |layer: &LayerSnapshot, t: encode::Trimmed| {
        if t.dropped > 0 {
            layer.budget.record(coord.z(), t.dropped, view.is_public());
        }
    };
    let drawn: Vec<&LayerSnapshot> = layers
        .iter()
        .copied()
        .filter(|l| coord.z() >= l.def.minzoom && view.sees_layer(&l.def))
        .collect();
    let parts = parts.filter(|_| drawn.len() > 1 && drawn.iter().any(|l| l.live.is_some()));
    // A layer cut for this tile, held to its own budget (`None`: nothing of it here).
    let cut = |layer: &LayerSnapshot| -> Option<encode::Built> {
        // What the layer is cut from (its overview at a low zoom), held while it is cut.
        let source = overview::for_zoom(layer, coord.z());
        let b = render_layer(layer, &source, view, coord);
        if b.is_empty() {
            return None;
        }
        let mut b = b.finish();
        record(
            layer,
            b.trim(
                layer.def.max_tile_bytes as usize,
                layer.def.max_tile_features as usize,
            ),
        );
        Some(b)
    };
    let mut built: Vec<(&LayerSnapshot, Arc<parts::Part>)> = Vec::with_capacity(drawn.len());
    for layer in drawn {
        let part = match parts {
            Some(cache) if layer.live.is_none() => {
                let key = parts::PartKey {
                    view: view.key(),
                    layer: layer.def.id.as_str().into(),
                    version: layer.tile_version(coord),
                    coord,
                };
                cache.get_or_make(key, || parts::Part::new(cut(layer)))
            }
            // The live layer of such a composite is compressed apart too, to join the rest.
            Some(_) => Arc::new(parts::Part::new(cut(layer))),
            None => Arc::new(parts::Part {
                built: cut(layer),
                segment: None,
            }),
        };
        if part.built.is_some() {
            built.push((layer, part));
        }
    }
    // A composite over the whole-tile bound: each layer gets its share of it, in
    // proportion to what it holds, and is trimmed to that like to its own budget (a kept
    // part is copied for it, never changed; its compressed form no longer fits it).
    let bytes = |p: &parts::Part| p.built.as_ref().map_or(0, encode::Built::tile_bytes);
    let total: usize = built.iter().map(|(_, p)| bytes(p)).sum();
    if total > MAX_TILE_BYTES {
        for (layer, p) in &mut built {
            let share = bytes(p) * MAX_TILE_BYTES / total;
            let p = Arc::make_mut(p);
            if let Some(b) = p.built.as_mut() {
                let t = b.trim(share, usize::MAX);
                if t.dropped > 0 {
                    p.segment = None;
                }
                record(layer, t);
            }
        }
    }
    built.into_iter().map(|(_, p)| p).collect()
}

/// Most bytes of one whole tile, however many layers it holds: 500 KB uncompressed (the
/// usual limit, as tippecanoe's and GDAL's, is on the compressed tile; this is stricter).
pub const MAX_TILE_BYTES: usize = 500_000;

/// Features too small to see at the zoom being cut. Polygons are merged: their areas add
/// up, and each time the sum reaches the layer's `tiny_area` one square of that area stands
/// in for them at the last one's place (the idea of tippecanoe's tiny-polygon reduction),
/// so a dense area keeps its look at low zoom without its thousands of features. Lines
/// whose box is less than a pixel across are dropped. Points are never tiny.
struct Tiny {
    /// What is too small to see in this tile's zoom.
    small: TooSmall,
    /// Area (tile units²) gathered since the last square.
    gathered: f64,
}

/// What [`Tiny::take`] decided for one feature.
enum Decision {
    /// Big enough: cut it as it is.
    Cut,
    /// Tiny and gathered (or dropped): nothing to draw for it.
    Skip,
    /// Tiny, and the square standing in for the gathered ones is in the geometry buffer.
    Square,
}

impl Tiny {
    fn take(&mut self, feature: &Feature, t: &TileTransform, out: &mut TileGeom) -> Decision {
        let small = self.small;
        let polys = match &feature.shape {
            Shape::Polygons(p) if small.polygon(&feature.bbox) => p,
            Shape::Lines(_) if small.line(&feature.bbox) => return Decision::Skip,
            _ => return Decision::Cut,
        };
        // Counted by the one tile holding its centre, so no area is drawn twice.
        let c = t.apply(
            f64::midpoint(feature.bbox.min.x, feature.bbox.max.x),
            f64::midpoint(feature.bbox.min.y, feature.bbox.max.y),
        );
        let e = f64::from(EXTENT);
        if !(0.0..e).contains(&c.0) || !(0.0..e).contains(&c.1) {
            return Decision::Skip;
        }
        self.gathered += small.area(polys);
        if self.gathered < small.tiny_area {
            return Decision::Skip;
        }
        out.set_square((c.0.round() as i32, c.1.round() as i32), self.gathered);
        self.gathered = 0.0;
        Decision::Square
    }
}

fn render_layer<'a>(
    layer: &'a LayerSnapshot,
    source: &'a LayerSnapshot,
    view: &View,
    coord: TileCoord,
) -> LayerBuilder<'a> {
    let params = CutParams {
        tiny_area: layer.def.tiny_area,
        ..CutParams::for_tile(&coord, f64::from(layer.def.buffer), layer.def.simplify)
    };
    let transform = params.transform;
    let visible: Vec<usize> = (0..layer.fields.len())
        .filter(|&i| view.sees_field(&layer.def, &layer.fields[i]))
        .collect();
    let mut builder = LayerBuilder::new(layer.def.id.as_str(), layer.fields.len());
    let mut scratch = Scratch::default();
    let mut geom = TileGeom::default();
    let mut tiny = Tiny {
        small: TooSmall {
            unit: transform.unit(),
            tiny_area: layer.def.tiny_area,
        },
        gathered: 0.0,
    };
    let hits = source.parts_in(&params.mercator_clip);
    for run in hits.chunk_by(|a, b| a.0 == b.0) {
        let Some(feature) = source.features.get(run[0].0 as usize) else {
            continue;
        };
        if !view.sees_feature(feature) {
            continue;
        }
        match tiny.take(feature, &transform, &mut geom) {
            Decision::Skip => continue,
            Decision::Square => {}
            Decision::Cut => {
                let parts = run.iter().map(|h| h.1);
                if !cut_feature_with(&feature.shape, parts, &params, &mut scratch, &mut geom) {
                    continue;
                }
            }
        }
        let attrs = visible
            .iter()
            .map(|&i| (i, layer.fields[i].name.as_str(), &feature.values[i]));
        builder.add(layer.served_id(feature, view.is_public()), &geom, attrs);
    }
    builder
}
