//! Overviews: for each low zoom, a layer snapshot generalised once for that zoom, so a z8
//! tile of a dense layer walks a few thousand prepared features instead of every building
//! of the city.
//!
//! An overview holds, for zoom `z`: lines at least a pixel across with only the vertices
//! the zoom needs; polygons with the same vertex filter; polygons smaller than the layer's
//! `tiny_area` merged in Hilbert order into squares that carry their total area (the
//! tippecanoe idea, done once for the whole layer rather than per tile, so neighbouring
//! tiles agree); and tiny parts of multipolygons merged into the zoom's pixel grid with
//! error diffusion. Built lazily, the first time a zoom is cut, and kept only where it
//! actually saves work (at most half the vertices, or half the features, of the layer).

use std::sync::Arc;

use geo::Coord;

use super::coord::HALF_WORLD;
use super::cut::{kept, CutParams, TooSmall};
use super::EXTENT;
use crate::store::{Feature, LayerSnapshot, LinePart, OverviewSlot, PolygonPart, Shape};

/// Highest zoom with an overview; above it tiles are cut from the layer itself.
pub const MAX_OVERVIEW_ZOOM: u8 = 12;

/// Mercator metres per tile unit at zoom `z`.
fn unit(z: u8) -> f64 {
    2.0 * HALF_WORLD / f64::from(1u32 << z) / f64::from(EXTENT)
}

/// What a zoom is cut from: the layer itself, or its overview for the zoom (held for as
/// long as the tile needs it, even if the overview is released meanwhile).
pub enum Source<'a> {
    Layer(&'a LayerSnapshot),
    Overview(Arc<LayerSnapshot>),
}

impl std::ops::Deref for Source<'_> {
    type Target = LayerSnapshot;
    fn deref(&self) -> &LayerSnapshot {
        match self {
            Source::Layer(l) => l,
            Source::Overview(o) => o,
        }
    }
}

/// The snapshot to cut zoom `z` from: the layer's overview for `z` (built by the first tile
/// of the zoom that needs it; others of that zoom wait for it), or the layer itself.
#[must_use]
pub fn for_zoom(layer: &LayerSnapshot, z: u8) -> Source<'_> {
    if z > MAX_OVERVIEW_ZOOM || layer.def.tiny_area <= 0.0 {
        return Source::Layer(layer);
    }
    let Some(slot) = layer.overviews.get(usize::from(z)) else {
        return Source::Layer(layer);
    };
    let mut slot = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if matches!(*slot, OverviewSlot::Unbuilt) {
        *slot =
            build(layer, z).map_or(OverviewSlot::NotWorth, |o| OverviewSlot::Built(Arc::new(o)));
    }
    match &*slot {
        OverviewSlot::Built(o) => Source::Overview(Arc::clone(o)),
        _ => Source::Layer(layer),
    }
}

/// Builds the overview of `layer` for zoom `z`; `None` when it would not save enough work
/// to be worth its memory.
fn build(layer: &LayerSnapshot, z: u8) -> Option<LayerSnapshot> {
    if layer
        .features
        .iter()
        .all(|f| matches!(f.shape, Shape::Points(_)))
    {
        return None; // points are thinned by the budget, never merged
    }
    let u = unit(z);
    let tiny = layer.def.tiny_area;
    let grid = Grid {
        small: TooSmall {
            unit: u,
            tiny_area: tiny,
        },
        cell: tiny.sqrt() * u,
        keep_above: CutParams::prefilter(u, layer.def.simplify),
    };
    let mut out: Vec<Feature> = Vec::new();
    // Area gathered since the last square, apart for features the public may and may not
    // see: a square only ever stands for features of its own visibility, so the area of a
    // feature hidden from the public never reaches a public tile.
    let mut gathered = [0.0f64; 2];
    let mut cells: Vec<(i64, i64, f64)> = Vec::new();
    for f in &layer.features {
        let shape = match &f.shape {
            Shape::Points(p) => Shape::Points(p.clone()),
            Shape::Lines(_) if grid.small.line(&f.bbox) => continue,
            Shape::Lines(lines) => Shape::Lines(
                lines
                    .iter()
                    .filter_map(|l| {
                        let (c, i) = filter(&l.coords, &l.importance, grid.keep_above);
                        (c.len() >= 2).then(|| LinePart::with_importance(c, i))
                    })
                    .collect(),
            ),
            Shape::Polygons(polys) if grid.small.polygon(&f.bbox) => {
                let g = &mut gathered[usize::from(f.public)];
                *g += grid.small.area(polys);
                if *g < tiny {
                    continue;
                }
                let c = Coord {
                    x: f64::midpoint(f.bbox.min.x, f.bbox.max.x),
                    y: f64::midpoint(f.bbox.min.y, f.bbox.max.y),
                };
                let half = g.sqrt() * u / 2.0;
                *g = 0.0;
                Shape::Polygons(vec![rect(c.x - half, c.y - half, c.x + half, c.y + half)])
            }
            Shape::Polygons(polys) => Shape::Polygons(generalise_parts(polys, &grid, &mut cells)),
        };
        if shape.is_empty() {
            continue;
        }
        let bbox = shape
            .part_boxes()
            .into_iter()
            .reduce(|a, b| a.union(&b))
            .unwrap_or(f.bbox);
        out.push(Feature {
            id: f.id,
            shape,
            bbox,
            values: f.values.clone(),
            public: f.public,
        });
    }
    let before: usize = layer.features.iter().map(|f| f.shape.vertex_count()).sum();
    let after: usize = out.iter().map(|f| f.shape.vertex_count()).sum();
    // Worth its memory only if it halves the vertices or the features to walk.
    if after * 2 > before && out.len() * 2 > layer.features.len() {
        return None;
    }
    Some(LayerSnapshot::build_ordered(
        Arc::clone(&layer.def),
        layer.fields.clone(),
        out,
        layer.version,
    ))
}

/// The scale an overview is built at.
struct Grid {
    /// What is too small to see at this zoom.
    small: TooSmall,
    /// Side of a pixel-grid cell, in metres.
    cell: f64,
    /// Vertex importance (metres) needed to stay.
    keep_above: f64,
}

/// The parts of a polygon feature that is not tiny as a whole: each visible part with the
/// vertices the zoom needs, tiny parts gathered into grid cells (see [`dither`]).
fn generalise_parts(
    polys: &[PolygonPart],
    g: &Grid,
    cells: &mut Vec<(i64, i64, f64)>,
) -> Vec<PolygonPart> {
    cells.clear();
    let mut parts = Vec::with_capacity(polys.len());
    for p in polys {
        if g.small.polygon(&p.bbox) {
            let cx = f64::midpoint(p.bbox.min.x, p.bbox.max.x) + HALF_WORLD;
            let cy = HALF_WORLD - f64::midpoint(p.bbox.min.y, p.bbox.max.y);
            cells.push((
                (cy / g.cell).floor() as i64,
                (cx / g.cell).floor() as i64,
                g.small.area(std::slice::from_ref(p)),
            ));
            continue;
        }
        let mut rings = Vec::with_capacity(p.rings.len());
        let mut imps = Vec::with_capacity(p.rings.len());
        for (ri, (r, imp)) in p.rings.iter().zip(&p.importance).enumerate() {
            let (c, i) = filter(r, imp, g.keep_above);
            if c.len() < 4 {
                if ri == 0 {
                    break; // the exterior collapsed: its holes go too
                }
                continue;
            }
            rings.push(c);
            imps.push(i);
        }
        if !rings.is_empty() {
            parts.extend(PolygonPart::with_importance(rings, imps));
        }
    }
    dither(cells, g.small.tiny_area, g.cell, &mut parts);
    parts
}

/// The vertices whose importance is above `keep_above` (all of them when it is negative).
fn filter(
    coords: &[Coord<f64>],
    importance: &[f32],
    keep_above: f64,
) -> (Vec<Coord<f64>>, Vec<f32>) {
    coords
        .iter()
        .zip(importance)
        .filter(|(_, &i)| kept(i, keep_above))
        .map(|(c, i)| (*c, *i))
        .unzip()
}

/// An axis-aligned rectangle as a closed polygon part.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> PolygonPart {
    let ring = vec![
        Coord { x: x0, y: y0 },
        Coord { x: x1, y: y0 },
        Coord { x: x1, y: y1 },
        Coord { x: x0, y: y1 },
        Coord { x: x0, y: y0 },
    ];
    PolygonPart::new(vec![ring]).unwrap_or_else(|| unreachable!("a rectangle has coordinates"))
}

/// Grid cells of gathered tiny parts (row and column counted from the world's top-left, in
/// cells of `cell` metres) drawn by the same error diffusion as in tiles
/// ([`super::cut::dither_runs`]), each run of cells one rectangle.
fn dither(cells: &mut [(i64, i64, f64)], tiny: f64, cell: f64, out: &mut Vec<PolygonPart>) {
    super::cut::dither_runs(cells, tiny, |row, c0, c1| {
        let x0 = c0 as f64 * cell - HALF_WORLD;
        let x1 = (c1 + 1) as f64 * cell - HALF_WORLD;
        let y1 = HALF_WORLD - row as f64 * cell;
        out.push(rect(x0, y1 - cell, x1, y1));
    });
}
