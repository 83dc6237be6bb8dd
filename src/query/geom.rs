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

/// Whether segments `a–b` and `c–d` touch or cross.
#[must_use]
pub fn segments_meet(a: Coord<f64>, b: Coord<f64>, c: Coord<f64>, d: Coord<f64>) -> bool {
    let side = |p: Coord<f64>, q: Coord<f64>, r: Coord<f64>| {
        (q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x)
    };
    let within = |p: Coord<f64>, q: Coord<f64>, r: Coord<f64>| {
        r.x >= p.x.min(q.x) && r.x <= p.x.max(q.x) && r.y >= p.y.min(q.y) && r.y <= p.y.max(q.y)
    };
    let (d1, d2) = (side(c, d, a), side(c, d, b));
    let (d3, d4) = (side(a, b, c), side(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && within(c, d, a))
        || (d2 == 0.0 && within(c, d, b))
        || (d3 == 0.0 && within(a, b, c))
        || (d4 == 0.0 && within(a, b, d))
}

/// Whether segment `a–b` enters a polygon part: an end inside it, or crossing one of its rings.
#[must_use]
pub fn segment_enters(part: &PolygonPart, a: Coord<f64>, b: Coord<f64>) -> bool {
    polygon_contains(part, a)
        || polygon_contains(part, b)
        || part
            .rings
            .iter()
            .flat_map(|r| r.windows(2))
            .any(|w| segments_meet(a, b, w[0], w[1]))
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

    #[test]
    fn a_segment_enters_a_square_it_crosses_and_not_one_beside_it() {
        let sq = PolygonPart::new(vec![square(0.0, 0.0, 10.0)]).expect("part");
        assert!(segment_enters(&sq, c(-5.0, 5.0), c(15.0, 5.0)), "through");
        assert!(
            segment_enters(&sq, c(5.0, 5.0), c(50.0, 50.0)),
            "from inside"
        );
        assert!(!segment_enters(&sq, c(-5.0, -5.0), c(-5.0, 50.0)), "beside");
        assert!(
            !segment_enters(&sq, c(11.0, -1.0), c(20.0, 5.0)),
            "past a corner"
        );
    }
}
