//! Clipping rings and lines to an axis-aligned square in tile space.
//!
//! Rings use Sutherland–Hodgman against the four edges: the output may run along the clip
//! edge (as every tile cutter's does) but never leaves the square. Lines are cut
//! segment by segment (Liang–Barsky), so a line leaving and re-entering becomes several
//! pieces. Neither function knows about winding: orientation is fixed after clipping
//! and quantisation, because both can flip or collapse a ring.

/// A point in tile space (`0..extent`, y down), before rounding.
pub type Pt = (f64, f64);

/// Clip bounds: `[min, max]` on both axes.
#[derive(Debug, Clone, Copy)]
pub struct ClipBox {
    pub min: f64,
    pub max: f64,
}

impl ClipBox {
    #[inline]
    #[must_use]
    pub fn contains(&self, p: Pt) -> bool {
        p.0 >= self.min && p.0 <= self.max && p.1 >= self.min && p.1 <= self.max
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Left,
    Right,
    Top,
    Bottom,
}

impl Edge {
    #[inline]
    fn inside(self, p: Pt, b: ClipBox) -> bool {
        match self {
            Edge::Left => p.0 >= b.min,
            Edge::Right => p.0 <= b.max,
            Edge::Top => p.1 >= b.min,
            Edge::Bottom => p.1 <= b.max,
        }
    }

    /// Where segment `a→c` crosses this edge; only called when it does.
    #[inline]
    fn intersect(self, a: Pt, c: Pt, b: ClipBox) -> Pt {
        match self {
            Edge::Left | Edge::Right => {
                let x = if matches!(self, Edge::Left) {
                    b.min
                } else {
                    b.max
                };
                let t = (x - a.0) / (c.0 - a.0);
                (x, a.1 + t * (c.1 - a.1))
            }
            Edge::Top | Edge::Bottom => {
                let y = if matches!(self, Edge::Top) {
                    b.min
                } else {
                    b.max
                };
                let t = (y - a.1) / (c.1 - a.1);
                (a.0 + t * (c.0 - a.0), y)
            }
        }
    }
}

/// Clips a ring (given without the closing repeat) to the box; returns the clipped ring
/// without a closing repeat, possibly empty.
#[must_use]
pub fn clip_ring(ring: &[Pt], b: ClipBox) -> Vec<Pt> {
    let mut out = Vec::new();
    clip_ring_into(ring, b, &mut out, &mut Vec::new());
    out
}

/// [`clip_ring`] into caller-owned buffers: `out` receives the result, `tmp` is scratch.
pub fn clip_ring_into(ring: &[Pt], b: ClipBox, out: &mut Vec<Pt>, tmp: &mut Vec<Pt>) {
    out.clear();
    out.extend_from_slice(ring);
    for edge in [Edge::Left, Edge::Right, Edge::Top, Edge::Bottom] {
        std::mem::swap(out, tmp);
        out.clear();
        let Some(&last) = tmp.last() else {
            return;
        };
        let mut prev = last;
        for &cur in tmp.iter() {
            let cur_in = edge.inside(cur, b);
            let prev_in = edge.inside(prev, b);
            if cur_in {
                if !prev_in {
                    out.push(edge.intersect(prev, cur, b));
                }
                out.push(cur);
            } else if prev_in {
                out.push(edge.intersect(prev, cur, b));
            }
            prev = cur;
        }
    }
}

/// Clips a polyline to the box; returns the pieces that lie inside, each with ≥ 2 points.
#[must_use]
pub fn clip_line(line: &[Pt], b: ClipBox) -> Vec<Vec<Pt>> {
    let mut pieces = Vec::new();
    let mut current: Vec<Pt> = Vec::new();
    for w in line.windows(2) {
        let (a, c) = (w[0], w[1]);
        match clip_segment(a, c, b) {
            Some((p, q, clipped_end)) => {
                if current.is_empty() {
                    current.push(p);
                } else if current.last() != Some(&p) {
                    // The segment re-entered: close the previous piece.
                    finish(&mut pieces, &mut current);
                    current.push(p);
                }
                current.push(q);
                if clipped_end {
                    finish(&mut pieces, &mut current);
                }
            }
            None => finish(&mut pieces, &mut current),
        }
    }
    finish(&mut pieces, &mut current);
    pieces
}

fn finish(pieces: &mut Vec<Vec<Pt>>, current: &mut Vec<Pt>) {
    if current.len() >= 2 {
        pieces.push(std::mem::take(current));
    } else {
        current.clear();
    }
}

/// Liang–Barsky: the part of `a→c` inside the box, and whether `c` was cut off.
fn clip_segment(a: Pt, c: Pt, b: ClipBox) -> Option<(Pt, Pt, bool)> {
    let (dx, dy) = (c.0 - a.0, c.1 - a.1);
    let mut t0 = 0.0_f64;
    let mut t1 = 1.0_f64;
    for (p, q) in [
        (-dx, a.0 - b.min),
        (dx, b.max - a.0),
        (-dy, a.1 - b.min),
        (dy, b.max - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    let start = if t0 > 0.0 {
        (a.0 + t0 * dx, a.1 + t0 * dy)
    } else {
        a
    };
    let end = if t1 < 1.0 {
        (a.0 + t1 * dx, a.1 + t1 * dy)
    } else {
        c
    };
    Some((start, end, t1 < 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: ClipBox = ClipBox {
        min: 0.0,
        max: 10.0,
    };

    fn area(r: &[Pt]) -> f64 {
        let n = r.len();
        (0..n)
            .map(|i| {
                let (a, c) = (r[i], r[(i + 1) % n]);
                a.0 * c.1 - c.0 * a.1
            })
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn ring_inside_is_unchanged() {
        let r = vec![(1.0, 1.0), (5.0, 1.0), (5.0, 5.0)];
        assert_eq!(clip_ring(&r, B), r);
    }

    #[test]
    fn ring_straddling_is_cut_to_box() {
        let r = vec![(-5.0, -5.0), (15.0, -5.0), (15.0, 15.0), (-5.0, 15.0)];
        let c = clip_ring(&r, B);
        assert!((area(&c).abs() - 100.0).abs() < 1e-9);
        assert!(c.iter().all(|&p| B.contains(p)));
    }

    #[test]
    fn ring_outside_vanishes() {
        let r = vec![(20.0, 20.0), (30.0, 20.0), (30.0, 30.0)];
        assert!(clip_ring(&r, B).is_empty());
    }

    #[test]
    fn line_leaving_and_reentering_splits() {
        let l = vec![(1.0, 1.0), (1.0, 20.0), (5.0, 20.0), (5.0, 1.0)];
        let pieces = clip_line(&l, B);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0], vec![(1.0, 1.0), (1.0, 10.0)]);
        assert_eq!(pieces[1], vec![(5.0, 10.0), (5.0, 1.0)]);
    }

    #[test]
    fn line_crossing_box_is_trimmed() {
        let l = vec![(-10.0, 5.0), (20.0, 5.0)];
        assert_eq!(clip_line(&l, B), vec![vec![(0.0, 5.0), (10.0, 5.0)]]);
    }

    #[test]
    fn line_inside_stays_whole() {
        let l = vec![(1.0, 1.0), (2.0, 2.0), (3.0, 1.0)];
        assert_eq!(clip_line(&l, B), vec![l]);
    }
}
