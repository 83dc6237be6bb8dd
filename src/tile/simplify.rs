//! Douglas–Peucker on integer tile coordinates, with squared distances and a reusable
//! stack: the hot path of tile cutting (geo's `Simplify` spent most of its time in `hypot`
//! and allocation when measured on the benchmark city).

use super::cut::IPt;

/// Reusable buffers for [`simplify_in_place`].
#[derive(Default)]
pub struct Simplifier {
    keep: Vec<bool>,
    stack: Vec<(usize, usize)>,
}

/// Squared distance from `p` to segment `a–b`, in tile units².
#[inline]
fn seg_dist2(p: IPt, a: IPt, b: IPt) -> f64 {
    let (px, py) = (f64::from(p.0), f64::from(p.1));
    let (ax, ay) = (f64::from(a.0), f64::from(a.1));
    let (dx, dy) = (f64::from(b.0) - ax, f64::from(b.1) - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    };
    let (ex, ey) = (ax + t * dx - px, ay + t * dy - py);
    ex * ex + ey * ey
}

impl Simplifier {
    /// Simplifies `pts` in place, keeping both ends, so that no removed point lies farther
    /// than `tolerance` from the kept polyline. For a ring pass it closed (first = last).
    #[cfg(test)]
    pub fn simplify_in_place(&mut self, pts: &mut Vec<IPt>, tolerance: f64) {
        self.simplify_tail(pts, 0, tolerance);
    }

    /// As [`Self::simplify_in_place`], on `pts[start..]` only (the part being built).
    pub fn simplify_tail(&mut self, pts: &mut Vec<IPt>, start: usize, tolerance: f64) {
        let n = pts.len() - start.min(pts.len());
        if tolerance <= 0.0 || n <= 2 {
            return;
        }
        let tail = &pts[start..];
        let tol2 = tolerance * tolerance;
        self.keep.clear();
        self.keep.resize(n, false);
        self.keep[0] = true;
        self.keep[n - 1] = true;
        self.stack.clear();
        self.stack.push((0, n - 1));
        while let Some((first, last)) = self.stack.pop() {
            if last <= first + 1 {
                continue;
            }
            let (a, b) = (tail[first], tail[last]);
            let mut worst = (0.0, first);
            for (i, &p) in tail.iter().enumerate().take(last).skip(first + 1) {
                let d = seg_dist2(p, a, b);
                if d > worst.0 {
                    worst = (d, i);
                }
            }
            if worst.0 > tol2 {
                self.keep[worst.1] = true;
                self.stack.push((first, worst.1));
                self.stack.push((worst.1, last));
            }
        }
        let mut w = start;
        for i in 0..n {
            if self.keep[i] {
                pts[w] = pts[start + i];
                w += 1;
            }
        }
        pts.truncate(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_collinear_and_near_points() {
        let mut s = Simplifier::default();
        let mut v = vec![(0, 0), (5, 0), (10, 1), (20, 0), (20, 20)];
        s.simplify_in_place(&mut v, 1.5);
        assert_eq!(v, vec![(0, 0), (20, 0), (20, 20)]);
    }

    #[test]
    fn keeps_real_corners() {
        let mut s = Simplifier::default();
        let mut v = vec![(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)];
        s.simplify_in_place(&mut v, 1.0);
        assert_eq!(v.len(), 5);
    }

    #[test]
    fn tail_leaves_the_head_alone() {
        let mut s = Simplifier::default();
        let mut v = vec![(9, 9), (8, 8), (0, 0), (5, 0), (10, 0)];
        s.simplify_tail(&mut v, 2, 1.0);
        assert_eq!(v, vec![(9, 9), (8, 8), (0, 0), (10, 0)]);
    }

    #[test]
    fn zero_tolerance_is_identity() {
        let mut s = Simplifier::default();
        let mut v = vec![(0, 0), (1, 0), (2, 0)];
        s.simplify_in_place(&mut v, 0.0);
        assert_eq!(v.len(), 3);
    }
}
