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
}
