//! How many features of a layer the "too small to see" rules take out of its tiles at each
//! zoom: lines shorter than a pixel are dropped, polygons smaller than `tiny_area` are
//! merged into squares of the same total area. Counted once per snapshot from the feature
//! boxes, with the same rule as the cutter (`tile::cut::TooSmall`), so `check`, TileJSON
//! and the catalog can say what a map at that zoom does not show one by one.

use super::{Feature, Shape};

/// Width of the Web Mercator world in metres.
const WORLD: f64 = 40_075_016.685_578_49;
/// Tile units across a tile.
const EXTENT: f64 = 4096.0;
/// Zooms counted: every zoom chizu cuts.
const ZOOMS: usize = 23;

/// The one rule for lines: a box `w × h` tile units across less than a pixel
/// (`√tiny_area` units) diagonally is too small to see; `tiny_area` 0 makes nothing tiny.
#[must_use]
pub fn line_is_tiny(w: f64, h: f64, tiny_area: f64) -> bool {
    tiny_area > 0.0 && w.hypot(h) < tiny_area.sqrt()
}

/// The one rule for polygons: a box covering less than `tiny_area` tile units².
#[must_use]
pub fn polygon_is_tiny(w: f64, h: f64, tiny_area: f64) -> bool {
    tiny_area > 0.0 && w * h < tiny_area
}

/// Per zoom, features taken out of tiles by the size rules.
#[derive(Debug, Clone, Default)]
pub struct SizeRules {
    /// `[zoom]` → (lines dropped, polygons merged), over every feature.
    all: Vec<(u32, u32)>,
    /// The same over features the public view sees.
    public: Vec<(u32, u32)>,
}

/// One zoom's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SizeAtZoom {
    pub zoom: u8,
    /// Lines less than a pixel long: not drawn at this zoom.
    pub lines_dropped: u32,
    /// Polygons under `tiny_area`: drawn as merged squares, not as themselves.
    pub polygons_merged: u32,
}

impl SizeRules {
    /// Counts for `features` with a layer's `tiny_area` (tile units²; 0 makes nothing tiny).
    #[must_use]
    pub fn count(features: &[Feature], tiny_area: f64) -> Self {
        let mut all = vec![(0, 0); ZOOMS];
        let mut public = vec![(0, 0); ZOOMS];
        if tiny_area <= 0.0 {
            return Self { all, public };
        }
        for f in features {
            let w = f.bbox.max.x - f.bbox.min.x;
            let h = f.bbox.max.y - f.bbox.min.y;
            let line = match f.shape {
                Shape::Lines(_) => true,
                Shape::Polygons(_) => false,
                Shape::Points(_) => continue,
            };
            for z in 0..ZOOMS {
                let unit = WORLD / (EXTENT * f64::from(1u32 << z));
                let (wu, hu) = (w / unit, h / unit);
                let small = if line {
                    line_is_tiny(wu, hu, tiny_area)
                } else {
                    polygon_is_tiny(wu, hu, tiny_area)
                };
                // Smaller at every lower zoom too, bigger at every higher one.
                if !small {
                    break;
                }
                for counts in std::iter::once(&mut all).chain(f.public.then_some(&mut public)) {
                    if line {
                        counts[z].0 += 1;
                    } else {
                        counts[z].1 += 1;
                    }
                }
            }
        }
        Self { all, public }
    }

    /// Zooms `minzoom..=maxzoom` at which something is taken out, for one view.
    #[must_use]
    pub fn zooms(&self, public: bool, minzoom: u8, maxzoom: u8) -> Vec<SizeAtZoom> {
        let counts = if public { &self.public } else { &self.all };
        counts
            .iter()
            .enumerate()
            .filter(|(z, c)| {
                (usize::from(minzoom)..=usize::from(maxzoom)).contains(z) && (c.0 > 0 || c.1 > 0)
            })
            .map(|(z, c)| SizeAtZoom {
                zoom: z as u8,
                lines_dropped: c.0,
                polygons_merged: c.1,
            })
            .collect()
    }
}
