//! Turning a reprojected `geo` geometry into a layer [`Shape`]: keep the parts of the
//! layer's kind, drop non-finite coordinates, repeated points and rings that collapsed.
//! What could not be kept is reported, never fatal.

use geo::{Coord, Geometry};

use crate::config::GeometryKind;
use crate::store::{LinePart, PolygonPart, Shape};

/// What became of one feature's geometry.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Kept,
    /// Kept after dropping parts (other geometry types, collapsed rings, empty parts).
    Trimmed,
    /// Nothing usable: why.
    Dropped(&'static str),
}

/// Normalises `g` into a shape of `kind`.
#[must_use]
pub fn to_shape(g: Geometry<f64>, kind: GeometryKind) -> (Option<Shape>, Outcome) {
    let mut trimmed = false;
    let mut points = Vec::new();
    let mut lines: Vec<Vec<Coord<f64>>> = Vec::new();
    let mut polys: Vec<Vec<Vec<Coord<f64>>>> = Vec::new();
    collect(g, &mut points, &mut lines, &mut polys);
    if !coords_finite(&points, &lines, &polys) {
        return (
            None,
            Outcome::Dropped("non-finite coordinate (NaN or infinity)"),
        );
    }
    let other_kind = match kind {
        GeometryKind::Point => !lines.is_empty() || !polys.is_empty(),
        GeometryKind::Line => !points.is_empty() || !polys.is_empty(),
        GeometryKind::Polygon => !points.is_empty() || !lines.is_empty(),
    };
    let shape = match kind {
        GeometryKind::Point => Shape::Points(points),
        GeometryKind::Line => {
            let mut out = Vec::with_capacity(lines.len());
            for l in lines {
                let l = dedup(l);
                if l.len() < 2 {
                    trimmed = true;
                    continue;
                }
                out.extend(LinePart::new(l));
            }
            Shape::Lines(out)
        }
        GeometryKind::Polygon => {
            let mut out = Vec::with_capacity(polys.len());
            for rings in polys {
                let mut kept: Vec<Vec<Coord<f64>>> = Vec::with_capacity(rings.len());
                for (i, r) in rings.into_iter().enumerate() {
                    let r = close(dedup(r));
                    if r.len() < 4 || area2(&r) == 0.0 {
                        trimmed = true;
                        if i == 0 {
                            break;
                        }
                        continue;
                    }
                    kept.push(r);
                }
                if kept.is_empty() {
                    continue;
                }
                out.extend(PolygonPart::new(kept));
            }
            Shape::Polygons(out)
        }
    };
    if shape.is_empty() {
        let why = if other_kind {
            "geometry type does not match the layer's `geometry`"
        } else {
            "empty or degenerate geometry"
        };
        return (None, Outcome::Dropped(why));
    }
    let outcome = if trimmed || other_kind {
        Outcome::Trimmed
    } else {
        Outcome::Kept
    };
    (Some(shape), outcome)
}

fn collect(
    g: Geometry<f64>,
    points: &mut Vec<Coord<f64>>,
    lines: &mut Vec<Vec<Coord<f64>>>,
    polys: &mut Vec<Vec<Vec<Coord<f64>>>>,
) {
    match g {
        Geometry::Point(p) => points.push(p.0),
        Geometry::MultiPoint(mp) => points.extend(mp.0.into_iter().map(|p| p.0)),
        Geometry::Line(l) => lines.push(vec![l.start, l.end]),
        Geometry::LineString(l) => lines.push(l.0),
        Geometry::MultiLineString(ml) => lines.extend(ml.0.into_iter().map(|l| l.0)),
        Geometry::Polygon(p) => polys.push(poly_rings(p)),
        Geometry::MultiPolygon(mp) => polys.extend(mp.0.into_iter().map(poly_rings)),
        Geometry::GeometryCollection(gc) => {
            for g in gc.0 {
                collect(g, points, lines, polys);
            }
        }
        Geometry::Rect(r) => polys.push(poly_rings(r.to_polygon())),
        Geometry::Triangle(t) => polys.push(poly_rings(t.to_polygon())),
    }
}

fn poly_rings(p: geo::Polygon<f64>) -> Vec<Vec<Coord<f64>>> {
    let (ext, holes) = p.into_inner();
    std::iter::once(ext.0)
        .chain(holes.into_iter().map(|h| h.0))
        .collect()
}

fn coords_finite(
    points: &[Coord<f64>],
    lines: &[Vec<Coord<f64>>],
    polys: &[Vec<Vec<Coord<f64>>>],
) -> bool {
    let ok = |c: &Coord<f64>| c.x.is_finite() && c.y.is_finite();
    points.iter().all(ok)
        && lines.iter().flatten().all(ok)
        && polys.iter().flatten().flatten().all(ok)
}

fn dedup(mut v: Vec<Coord<f64>>) -> Vec<Coord<f64>> {
    v.dedup();
    v
}

fn close(mut r: Vec<Coord<f64>>) -> Vec<Coord<f64>> {
    if let (Some(&f), Some(&l)) = (r.first(), r.last()) {
        if f != l {
            r.push(f);
        }
    }
    r
}

/// Twice the signed area of a closed ring.
fn area2(r: &[Coord<f64>]) -> f64 {
    r.windows(2)
        .map(|w| w[0].x * w[1].y - w[1].x * w[0].y)
        .sum()
}

/// Rings up to this many vertices are proved simple here rather than by GEOS.
pub const SMALL_RING: usize = 64;

/// Whether a closed ring of at most [`SMALL_RING`] vertices is simple beyond doubt: at least
/// three distinct points not all on a line, no two segments meeting except neighbours at
/// their shared vertex, and no spike (a neighbour folding back along the segment before).
/// Orientation is exact (`geo`'s robust kernel). `false` means "not proved" — a larger
/// ring, or one GEOS must judge — never "invalid". A polygon of one such ring is valid, so
/// ingest asks GEOS (which converts and nodes the geometry) only about the others: on
/// building footprints that check was a fifth of the load.
#[must_use]
pub fn small_ring_is_simple(mut p: Vec<Coord<f64>>) -> bool {
    use geo::kernels::{Kernel, Orientation, RobustKernel};
    if p.len() > SMALL_RING || p.first() != p.last() {
        return false;
    }
    if !p.iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
        return false;
    }
    p.dedup();
    // p is closed: m segments p[i]–p[i+1].
    let m = p.len().saturating_sub(1);
    if m < 3 {
        return false;
    }
    let orient = |a, b, c| RobustKernel::orient2d(a, b, c);
    if (2..p.len() - 1).all(|k| orient(p[0], p[1], p[k]) == Orientation::Collinear) {
        return false;
    }
    let on = |a: Coord<f64>, b: Coord<f64>, c: Coord<f64>| {
        c.x >= a.x.min(b.x) && c.x <= a.x.max(b.x) && c.y >= a.y.min(b.y) && c.y <= a.y.max(b.y)
    };
    for i in 0..m {
        let (a, b) = (p[i], p[i + 1]);
        // The next segment b–c must not fold back along a–b.
        let c = p[(i + 2) % m];
        if orient(a, b, c) == Orientation::Collinear
            && (c.x - b.x) * (b.x - a.x) + (c.y - b.y) * (b.y - a.y) <= 0.0
        {
            return false;
        }
        for j in i + 2..m {
            if i == 0 && j == m - 1 {
                continue; // the closing segment neighbours the first
            }
            let (c, d) = (p[j], p[j + 1]);
            if a.x.max(b.x) < c.x.min(d.x)
                || c.x.max(d.x) < a.x.min(b.x)
                || a.y.max(b.y) < c.y.min(d.y)
                || c.y.max(d.y) < a.y.min(b.y)
            {
                continue;
            }
            let (o1, o2) = (orient(a, b, c), orient(a, b, d));
            let (o3, o4) = (orient(c, d, a), orient(c, d, b));
            let col = Orientation::Collinear;
            let touches = (o1 == col && on(a, b, c))
                || (o2 == col && on(a, b, d))
                || (o3 == col && on(c, d, a))
                || (o4 == col && on(c, d, b));
            if touches || (o1 != o2 && o3 != o4) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point, polygon};

    #[test]
    fn keeps_valid_polygon() {
        let p = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)];
        let (s, o) = to_shape(Geometry::Polygon(p), GeometryKind::Polygon);
        assert_eq!(o, Outcome::Kept);
        assert!(matches!(s, Some(Shape::Polygons(ref v)) if v.len() == 1));
    }

    /// Regression (found by fuzzing the cutter): the part box was the shell's, so a hole
    /// lying outside its shell escaped clipping. The box must cover every ring.
    #[test]
    fn part_box_covers_holes_outside_the_shell() {
        let p = geo::Polygon::new(
            line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)],
            vec![
                line_string![(x: 5.0, y: 5.0), (x: 9.0, y: 5.0), (x: 9.0, y: 9.0), (x: 5.0, y: 5.0)],
            ],
        );
        let (s, _) = to_shape(Geometry::Polygon(p), GeometryKind::Polygon);
        let Some(Shape::Polygons(parts)) = s else {
            panic!("polygon kept")
        };
        assert!(
            parts[0].bbox.max.x >= 9.0 && parts[0].bbox.max.y >= 9.0,
            "{:?}",
            parts[0].bbox
        );
    }

    #[test]
    fn drops_nan() {
        let (s, o) = to_shape(
            Geometry::Point(point!(x: f64::NAN, y: 0.0)),
            GeometryKind::Point,
        );
        assert!(s.is_none());
        assert!(matches!(o, Outcome::Dropped(_)));
    }

    #[test]
    fn drops_collapsed_ring_and_wrong_kind() {
        let flat = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 2.0, y: 0.0)];
        assert!(to_shape(Geometry::Polygon(flat), GeometryKind::Polygon)
            .0
            .is_none());
        let l = line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)];
        let (s, o) = to_shape(Geometry::LineString(l), GeometryKind::Polygon);
        assert!(s.is_none());
        assert_eq!(
            o,
            Outcome::Dropped("geometry type does not match the layer's `geometry`")
        );
    }

    #[test]
    fn one_point_line_is_trimmed() {
        let ml = geo::MultiLineString(vec![
            line_string![(x: 0.0, y: 0.0), (x: 0.0, y: 0.0)],
            line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)],
        ]);
        let (s, o) = to_shape(Geometry::MultiLineString(ml), GeometryKind::Line);
        assert_eq!(o, Outcome::Trimmed);
        assert!(matches!(s, Some(Shape::Lines(ref v)) if v.len() == 1));
    }

    fn ring(pts: &[(f64, f64)]) -> Vec<Coord<f64>> {
        pts.iter().map(|&(x, y)| Coord { x, y }).collect()
    }

    #[test]
    fn small_rings_are_proved_simple_only_when_they_are() {
        let square = ring(&[(0., 0.), (1., 0.), (1., 1.), (0., 1.), (0., 0.)]);
        assert!(small_ring_is_simple(square));
        let repeated = ring(&[(0., 0.), (1., 0.), (1., 0.), (1., 1.), (0., 1.), (0., 0.)]);
        assert!(small_ring_is_simple(repeated));
        let straight_vertex = ring(&[(0., 0.), (0.5, 0.), (1., 0.), (1., 1.), (0., 0.)]);
        assert!(small_ring_is_simple(straight_vertex));
        let bowtie = ring(&[(0., 0.), (1., 1.), (1., 0.), (0., 1.), (0., 0.)]);
        assert!(!small_ring_is_simple(bowtie));
        let spike = ring(&[(0., 0.), (2., 0.), (1., 0.), (1., 1.), (0., 0.)]);
        assert!(!small_ring_is_simple(spike));
        let flat = ring(&[(0., 0.), (1., 0.), (2., 0.), (0., 0.)]);
        assert!(!small_ring_is_simple(flat));
        // Touches itself at a vertex (an inverted hole): not simple.
        let touch = ring(&[(0., 0.), (4., 0.), (4., 4.), (2., 0.), (0., 4.), (0., 0.)]);
        assert!(!small_ring_is_simple(touch));
        let open = ring(&[(0., 0.), (1., 0.), (1., 1.)]);
        assert!(!small_ring_is_simple(open));
        let two_points = ring(&[(0., 0.), (1., 0.), (0., 0.)]);
        assert!(!small_ring_is_simple(two_points));
    }

    /// On thousands of random small rings (many self-crossing, some with snapped
    /// vertices that touch), every ring proved simple is valid to GEOS.
    #[test]
    fn a_ring_proved_simple_is_valid_to_geos() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        crate::route_gdal_messages(); // GEOS explains each invalid ring
        let (mut proved, mut valid) = (0, 0);
        for _ in 0..4_000 {
            let n = 3 + (next() % 6) as usize;
            // Coordinates on a coarse grid, so that touching and collinear cases occur.
            let mut r: Vec<(f64, f64)> = (0..n)
                .map(|_| ((next() % 5) as f64, (next() % 5) as f64))
                .collect();
            r.push(r[0]);
            let r = ring(&r);
            let wkt = format!(
                "POLYGON(({}))",
                r.iter()
                    .map(|c| format!("{} {}", c.x, c.y))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let geos_valid = gdal::vector::Geometry::from_wkt(&wkt).is_ok_and(|g| g.is_valid());
            valid += usize::from(geos_valid);
            if small_ring_is_simple(r) {
                proved += 1;
                assert!(geos_valid, "proved simple but GEOS says invalid: {wkt}");
            }
        }
        // Most valid rings are proved (the rest are left to GEOS).
        assert!(
            proved * 10 >= valid * 9,
            "{proved} of {valid} valid rings proved"
        );
    }
}
