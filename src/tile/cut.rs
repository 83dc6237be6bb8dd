//! Cutting one feature's Web Mercator geometry into one tile's integer grid:
//! transform → clip to the buffered tile → simplify → round → drop what collapsed →
//! orient rings per MVT 2.1.
//!
//! Orientation is fixed last, on the rounded coordinates, because clipping and rounding
//! can both reverse or flatten a ring. Exterior rings come out with positive area by the
//! surveyor's formula in tile space (y down, so they look clockwise on screen), holes
//! with negative area — what the MVT 2.1 spec requires.

use geo::{Coord, LineString, Simplify};

use super::clip::{clip_line, clip_ring, ClipBox, Pt};
use super::coord::TileTransform;
use crate::store::{PartBox, Shape};

/// An integer tile-space point.
pub type IPt = (i32, i32);

/// A feature's geometry in one tile, ready to encode. Rings are open (no closing repeat).
#[derive(Debug, Clone, PartialEq)]
pub enum TileGeom {
    Points(Vec<IPt>),
    Lines(Vec<Vec<IPt>>),
    /// Each polygon: exterior ring first, then its holes.
    Polygons(Vec<Vec<Vec<IPt>>>),
}

/// How a tile is cut.
#[derive(Debug, Clone, Copy)]
pub struct CutParams {
    pub transform: TileTransform,
    /// The buffered tile in tile units (e.g. `-64..4160` for extent 4096, buffer 64).
    pub clip: ClipBox,
    /// Douglas–Peucker tolerance in tile units; `0` disables simplification.
    pub tolerance: f64,
    /// The buffered tile in Mercator, to skip parts without touching them.
    pub mercator_clip: PartBox,
}

/// Cuts the parts `parts` (indices into the shape) of one feature; `None` if nothing is left.
#[must_use]
pub fn cut_feature(shape: &Shape, parts: &[u32], p: &CutParams) -> Option<TileGeom> {
    match shape {
        Shape::Points(points) => {
            let out: Vec<IPt> = parts
                .iter()
                .filter_map(|&i| points.get(i as usize))
                .map(|c| p.transform.apply(c.x, c.y))
                .filter(|&t| p.clip.contains(t))
                .map(round)
                .collect();
            (!out.is_empty()).then_some(TileGeom::Points(out))
        }
        Shape::Lines(lines) => {
            let mut out = Vec::new();
            for &i in parts {
                let Some(line) = lines.get(i as usize) else {
                    continue;
                };
                let pts: Vec<Pt> = line
                    .coords
                    .iter()
                    .map(|c| p.transform.apply(c.x, c.y))
                    .collect();
                let pieces = if line.bbox.within(&p.mercator_clip) {
                    vec![pts]
                } else {
                    clip_line(&pts, p.clip)
                };
                for piece in pieces {
                    let q = quantise(&simplify(&piece, p.tolerance), false);
                    if q.len() >= 2 {
                        out.push(q);
                    }
                }
            }
            (!out.is_empty()).then_some(TileGeom::Lines(out))
        }
        Shape::Polygons(polys) => {
            let mut out = Vec::new();
            for &i in parts {
                let Some(poly) = polys.get(i as usize) else {
                    continue;
                };
                let inside = poly.bbox.within(&p.mercator_clip);
                let mut rings_out: Vec<Vec<IPt>> = Vec::with_capacity(poly.rings.len());
                for (ri, ring) in poly.rings.iter().enumerate() {
                    let exterior = ri == 0;
                    let Some(r) = cut_ring(ring, inside, p) else {
                        if exterior {
                            break; // no exterior, so its holes go too
                        }
                        continue;
                    };
                    rings_out.push(orient(r, exterior));
                }
                if !rings_out.is_empty() {
                    out.push(rings_out);
                }
            }
            (!out.is_empty()).then_some(TileGeom::Polygons(out))
        }
    }
}

/// One ring through the pipeline; `None` when it collapses.
fn cut_ring(ring: &[Coord<f64>], inside: bool, p: &CutParams) -> Option<Vec<IPt>> {
    // Store rings are closed; work on the open form.
    let open = ring.len().saturating_sub(1);
    let pts: Vec<Pt> = ring[..open]
        .iter()
        .map(|c| p.transform.apply(c.x, c.y))
        .collect();
    let clipped = if inside { pts } else { clip_ring(&pts, p.clip) };
    if clipped.len() < 3 {
        return None;
    }
    let mut closed = clipped;
    closed.push(closed[0]);
    let simplified = simplify(&closed, p.tolerance);
    let q = quantise(&simplified, true);
    (q.len() >= 3 && signed_area2(&q) != 0).then_some(q)
}

fn round(p: Pt) -> IPt {
    (p.0.round() as i32, p.1.round() as i32)
}

fn simplify(pts: &[Pt], tolerance: f64) -> Vec<Pt> {
    if tolerance <= 0.0 || pts.len() <= 2 {
        return pts.to_vec();
    }
    let ls: LineString<f64> = pts.iter().map(|&(x, y)| Coord { x, y }).collect();
    ls.simplify(tolerance)
        .0
        .into_iter()
        .map(|c| (c.x, c.y))
        .collect()
}

/// Rounds to the grid and removes repeats; for a ring also the closing repeat.
fn quantise(pts: &[Pt], ring: bool) -> Vec<IPt> {
    let mut out: Vec<IPt> = Vec::with_capacity(pts.len());
    for &p in pts {
        let q = round(p);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    if ring {
        while out.len() > 1 && out.first() == out.last() {
            out.pop();
        }
    }
    out
}

/// Twice the signed area by the surveyor's formula, in tile space (y down).
#[must_use]
pub fn signed_area2(ring: &[IPt]) -> i64 {
    let n = ring.len();
    let mut s: i64 = 0;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        s += i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1);
    }
    s
}

fn orient(mut ring: Vec<IPt>, exterior: bool) -> Vec<IPt> {
    let positive = signed_area2(&ring) > 0;
    if positive != exterior {
        ring.reverse();
    }
    ring
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_follows_mvt() {
        // Counter-clockwise on screen (y down) has negative area: must be reversed for an exterior.
        let ccw = vec![(0, 0), (0, 10), (10, 10), (10, 0)];
        assert!(signed_area2(&ccw) < 0);
        assert!(signed_area2(&orient(ccw.clone(), true)) > 0);
        assert!(signed_area2(&orient(ccw, false)) < 0);
    }

    #[test]
    fn quantise_drops_repeats_and_closing_point() {
        let q = quantise(
            &[(0.2, 0.1), (0.4, 0.3), (5.0, 0.0), (5.0, 5.0), (0.0, 0.0)],
            true,
        );
        assert_eq!(q, vec![(0, 0), (5, 0), (5, 5)]);
    }

    #[test]
    fn rounding_is_to_nearest() {
        assert_eq!(round((1.5, -1.5)), (2, -2));
        assert_eq!(round((1.49, 2.51)), (1, 3));
    }
}
