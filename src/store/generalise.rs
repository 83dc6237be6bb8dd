//! Generalisation prepared once per geometry: every vertex gets the Douglas–Peucker
//! tolerance (in Web Mercator metres) up to which it survives, so a tile at any zoom can
//! skip the vertices it does not need without simplifying anything at request time.
//!
//! The figure for a vertex is the smaller of its own distance to the chord that selected it
//! and the figures of the vertices selected before it on the way down. Keeping every vertex
//! whose figure is above `t` is then exactly Douglas–Peucker with tolerance `t` (a vertex
//! survives only if every split above it did), whatever `t` is: one pass serves all zooms.
//! This is the idea geojson-vt uses, made exact by the clamp.

use geo::Coord;

/// Squared distance from `p` to the segment `a–b` (also used by `/query`).
#[must_use]
pub fn seg_dist2(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0)
    };
    let (ex, ey) = (a.x + t * dx - p.x, a.y + t * dy - p.y);
    ex * ex + ey * ey
}

/// Per vertex of a line or closed ring: the largest tolerance (metres) at which
/// Douglas–Peucker keeps it. Both ends are kept at every tolerance (`f32::INFINITY`).
#[must_use]
pub fn importance(coords: &[Coord<f64>]) -> Box<[f32]> {
    let n = coords.len();
    let mut imp = vec![0.0f32; n];
    if n == 0 {
        return imp.into();
    }
    imp[0] = f32::INFINITY;
    imp[n - 1] = f32::INFINITY;
    let mut stack = vec![(0usize, n - 1, f64::INFINITY)];
    while let Some((first, last, cap)) = stack.pop() {
        if last <= first + 1 {
            continue;
        }
        let (a, b) = (coords[first], coords[last]);
        let mut worst = (-1.0f64, first + 1);
        for (i, &p) in coords.iter().enumerate().take(last).skip(first + 1) {
            let d = seg_dist2(p, a, b);
            if d > worst.0 {
                worst = (d, i);
            }
        }
        let d = worst.0.sqrt().min(cap);
        // Rounded down so that `> t` never keeps a vertex the exact figure would drop.
        imp[worst.1] = next_down(d as f32, d);
        stack.push((first, worst.1, d));
        stack.push((worst.1, last, d));
    }
    imp.into()
}

/// `v` (an `f32` rounding of `exact`), moved down one step if rounding went up.
fn next_down(v: f32, exact: f64) -> f32 {
    if f64::from(v) > exact && v > 0.0 {
        f32::from_bits(v.to_bits() - 1)
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(x: f64, y: f64) -> Coord<f64> {
        Coord { x, y }
    }

    /// Plain recursive Douglas–Peucker, to compare against.
    fn dp(coords: &[Coord<f64>], t: f64) -> Vec<usize> {
        fn go(c: &[Coord<f64>], first: usize, last: usize, t: f64, keep: &mut Vec<usize>) {
            if last <= first + 1 {
                return;
            }
            let (mut best, mut at) = (-1.0, first + 1);
            for i in first + 1..last {
                let d = seg_dist2(c[i], c[first], c[last]).sqrt();
                if d > best {
                    (best, at) = (d, i);
                }
            }
            if best > t {
                keep.push(at);
                go(c, first, at, t, keep);
                go(c, at, last, t, keep);
            }
        }
        let mut keep = vec![0, coords.len() - 1];
        go(coords, 0, coords.len() - 1, t, &mut keep);
        keep.sort_unstable();
        keep
    }

    #[test]
    fn filtering_by_importance_is_douglas_peucker_at_every_tolerance() {
        // A wiggly line where a deep vertex is farther from its chord than its parent is
        // from its own: the case an unclamped figure gets wrong.
        let mut s: u64 = 7;
        let coords: Vec<Coord<f64>> = (0..300)
            .map(|i| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let jitter = ((s >> 33) % 1000) as f64 / 10.0;
                c(
                    f64::from(i) * 3.0,
                    jitter + (f64::from(i) / 20.0).sin() * 200.0,
                )
            })
            .collect();
        let imp = importance(&coords);
        for t in [0.0, 0.5, 3.0, 10.0, 40.0, 120.0, 1e6] {
            let kept: Vec<usize> = (0..coords.len())
                .filter(|&i| f64::from(imp[i]) > t || imp[i].is_infinite())
                .collect();
            assert_eq!(kept, dp(&coords, t), "tolerance {t}");
        }
    }

    #[test]
    fn ends_always_kept() {
        let imp = importance(&[c(0.0, 0.0), c(1.0, 0.0), c(2.0, 0.0)]);
        assert!(imp[0].is_infinite() && imp[2].is_infinite());
        assert!(imp[1].abs() < f32::EPSILON);
    }
}
