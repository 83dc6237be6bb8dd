//! Web Mercator XYZ tile addressing (not TMS): validated coordinates and their bounds.
//!
//! A `TileCoord` can only be built through [`TileCoord::new`], so every other module may
//! trust that `x` and `y` are below `2^z` and `z` is within [`MAX_ZOOM`].

use super::error::{Result, TileError};

/// Highest zoom chizu cuts. Beyond a layer's data the geometry is simply cut finer.
pub const MAX_ZOOM: u8 = 22;

/// Half the Web Mercator world width in metres (EPSG:3857 extends ±this on both axes).
pub const HALF_WORLD: f64 = 20_037_508.342_789_244;

/// An axis-aligned box in EPSG:3857 metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MercatorBox {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl MercatorBox {
    /// The box grown by `margin` metres on every side.
    #[must_use]
    pub fn expand(&self, margin: f64) -> Self {
        Self {
            min_x: self.min_x - margin,
            min_y: self.min_y - margin,
            max_x: self.max_x + margin,
            max_y: self.max_y + margin,
        }
    }

    #[must_use]
    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }
}

/// A validated tile address `z/x/y` with `y` counted from the north (XYZ, as MapLibre asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    z: u8,
    x: u32,
    y: u32,
}

impl TileCoord {
    /// Rejects `z > MAX_ZOOM` and `x` or `y` outside `0..2^z`.
    pub fn new(z: u8, x: u32, y: u32) -> Result<Self> {
        if z > MAX_ZOOM {
            return Err(TileError::ZoomOutOfRange { z, max: MAX_ZOOM });
        }
        let n = 1u64 << z;
        if u64::from(x) >= n || u64::from(y) >= n {
            return Err(TileError::OutOfRange { z, x, y });
        }
        Ok(Self { z, x, y })
    }

    #[must_use]
    pub fn z(&self) -> u8 {
        self.z
    }
    #[must_use]
    pub fn x(&self) -> u32 {
        self.x
    }
    #[must_use]
    pub fn y(&self) -> u32 {
        self.y
    }

    /// Width of this tile in metres.
    #[must_use]
    pub fn size(&self) -> f64 {
        2.0 * HALF_WORLD / f64::from(1u32 << self.z)
    }

    /// The tile's extent in EPSG:3857, without buffer.
    #[must_use]
    pub fn bounds(&self) -> MercatorBox {
        let size = self.size();
        let min_x = -HALF_WORLD + f64::from(self.x) * size;
        let max_y = HALF_WORLD - f64::from(self.y) * size;
        MercatorBox {
            min_x,
            min_y: max_y - size,
            max_x: min_x + size,
            max_y,
        }
    }

    /// The tile containing a Web Mercator point at zoom `z` (clamped to the world).
    #[must_use]
    pub fn containing(z: u8, x: f64, y: f64) -> Self {
        let z = z.min(MAX_ZOOM);
        let n = f64::from(1u32 << z);
        let size = 2.0 * HALF_WORLD / n;
        let max = (1u32 << z) - 1;
        let tx = (((x + HALF_WORLD) / size).floor().max(0.0) as u32).min(max);
        let ty = (((HALF_WORLD - y) / size).floor().max(0.0) as u32).min(max);
        Self { z, x: tx, y: ty }
    }
}

impl std::fmt::Display for TileCoord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Maps EPSG:3857 metres into one tile's integer grid (`0..extent`, y down).
#[derive(Debug, Clone, Copy)]
pub struct TileTransform {
    origin_x: f64,
    origin_y: f64,
    scale: f64,
}

impl TileTransform {
    #[must_use]
    pub fn new(tile: &TileCoord, extent: u32) -> Self {
        let b = tile.bounds();
        Self {
            origin_x: b.min_x,
            origin_y: b.max_y,
            scale: f64::from(extent) / tile.size(),
        }
    }

    /// Tile-space position of a Mercator point, not yet rounded.
    #[inline]
    #[must_use]
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (
            (x - self.origin_x) * self.scale,
            (self.origin_y - y) * self.scale,
        )
    }

    /// Metres per tile unit.
    #[must_use]
    pub fn unit(&self) -> f64 {
        1.0 / self.scale
    }
}

/// Web Mercator metres from WGS84 lon/lat degrees.
#[must_use]
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.051_128_779_806_59, 85.051_128_779_806_59);
    let x = lon.to_radians() * 6_378_137.0;
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
        .tan()
        .ln()
        * 6_378_137.0;
    (x, y)
}

/// WGS84 lon/lat degrees from Web Mercator metres.
#[must_use]
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / 6_378_137.0).to_degrees();
    let lat = (2.0 * (y / 6_378_137.0).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range() {
        assert!(TileCoord::new(0, 0, 0).is_ok());
        assert!(TileCoord::new(0, 1, 0).is_err());
        assert!(TileCoord::new(1, 1, 1).is_ok());
        assert!(TileCoord::new(1, 2, 0).is_err());
        assert!(TileCoord::new(22, (1 << 22) - 1, 0).is_ok());
        assert!(TileCoord::new(23, 0, 0).is_err());
    }

    #[test]
    fn world_tile_bounds() {
        let b = TileCoord::new(0, 0, 0).expect("valid").bounds();
        assert!((b.min_x + HALF_WORLD).abs() < 1e-6);
        assert!((b.max_y - HALF_WORLD).abs() < 1e-6);
        assert!((b.width() - 2.0 * HALF_WORLD).abs() < 1e-6);
    }

    #[test]
    fn xyz_counts_rows_from_north() {
        // z1 y0 is the northern half.
        let b = TileCoord::new(1, 0, 0).expect("valid").bounds();
        assert!(b.min_y.abs() < 1e-6 && b.max_y > 0.0);
    }

    #[test]
    fn containing_roundtrip() {
        // A point at lon 138.3181, lat 34.8659 at z14 is tile 14/14487/6497 by the slippy-map formula.
        let (x, y) = lonlat_to_mercator(138.3181, 34.8659);
        let t = TileCoord::containing(14, x, y);
        assert_eq!((t.x(), t.y()), (14487, 6497));
        let b = t.bounds();
        assert!(b.min_x <= x && x < b.max_x && b.min_y <= y && y < b.max_y);
    }

    #[test]
    fn transform_maps_corners() {
        let t = TileCoord::new(3, 2, 5).expect("valid");
        let b = t.bounds();
        let tr = TileTransform::new(&t, 4096);
        let (x0, y0) = tr.apply(b.min_x, b.max_y);
        let (x1, y1) = tr.apply(b.max_x, b.min_y);
        assert!(x0.abs() < 1e-6 && y0.abs() < 1e-6);
        assert!((x1 - 4096.0).abs() < 1e-6 && (y1 - 4096.0).abs() < 1e-6);
    }

    #[test]
    fn mercator_roundtrip() {
        let (x, y) = lonlat_to_mercator(138.25, 34.9);
        let (lon, lat) = mercator_to_lonlat(x, y);
        assert!((lon - 138.25).abs() < 1e-9 && (lat - 34.9).abs() < 1e-9);
    }
}
