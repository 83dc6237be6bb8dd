//! Point queries on stored geometry (EPSG:3857): containment and distance, without
//! building `geo` values (no allocation on the `/hazard` path).

use geo::Coord;

use crate::store::{PolygonPart, Shape};

/// Whether `p` lies inside a closed ring (crossing number; points on an edge may go either way).
#[must_use]
pub fn ring_contains(ring: &[Coord<f64>], p: Coord<f64>) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
            if p.x < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Whether `p` lies inside a polygon part (inside its exterior, outside its holes).
#[must_use]
pub fn polygon_contains(part: &PolygonPart, p: Coord<f64>) -> bool {
    let Some((ext, holes)) = part.rings.split_first() else {
        return false;
    };
    ring_contains(ext, p) && !holes.iter().any(|h| ring_contains(h, p))
}

/// Distance from `p` to segment `a–b`.
#[must_use]
pub fn segment_distance(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    crate::store::generalise::seg_dist2(p, a, b).sqrt()
}

/// Distance from `p` to one part of a shape; 0 inside a polygon.
#[must_use]
pub fn part_distance(shape: &Shape, part: usize, p: Coord<f64>) -> f64 {
    match shape {
        Shape::Points(pts) => pts.get(part).map_or(f64::INFINITY, |c| {
            ((c.x - p.x).powi(2) + (c.y - p.y).powi(2)).sqrt()
        }),
        Shape::Lines(lines) => lines.get(part).map_or(f64::INFINITY, |l| {
            l.coords
                .windows(2)
                .map(|w| segment_distance(p, w[0], w[1]))
                .fold(f64::INFINITY, f64::min)
        }),
        Shape::Polygons(polys) => polys.get(part).map_or(f64::INFINITY, |pp| {
            if polygon_contains(pp, p) {
                0.0
            } else {
                pp.rings
                    .iter()
                    .flat_map(|r| r.windows(2))
                    .map(|w| segment_distance(p, w[0], w[1]))
                    .fold(f64::INFINITY, f64::min)
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(x: f64, y: f64) -> Coord<f64> {
        Coord { x, y }
    }

    fn square(x0: f64, y0: f64, s: f64) -> Vec<Coord<f64>> {
        vec![
            c(x0, y0),
            c(x0 + s, y0),
            c(x0 + s, y0 + s),
            c(x0, y0 + s),
            c(x0, y0),
        ]
    }

    #[test]
    fn polygon_with_hole() {
        let rings = vec![square(0.0, 0.0, 10.0), square(4.0, 4.0, 2.0)];
        let part = PolygonPart::new(rings).expect("part");
        assert!(polygon_contains(&part, c(1.0, 1.0)));
        assert!(!polygon_contains(&part, c(5.0, 5.0)), "inside the hole");
        assert!(!polygon_contains(&part, c(11.0, 5.0)));
        let shape = Shape::Polygons(vec![part]);
        assert!(part_distance(&shape, 0, c(1.0, 1.0)).abs() < f64::EPSILON);
        assert!((part_distance(&shape, 0, c(13.0, 5.0)) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn segment_distance_clamps_to_ends() {
        assert!((segment_distance(c(0.0, 5.0), c(0.0, 0.0), c(10.0, 0.0)) - 5.0).abs() < 1e-12);
        assert!((segment_distance(c(-3.0, 4.0), c(0.0, 0.0), c(10.0, 0.0)) - 5.0).abs() < 1e-12);
    }
}
