//! Tile errors.

/// Result of tile addressing and cutting.
pub type Result<T> = std::result::Result<T, TileError>;

#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// `z` above the highest zoom chizu cuts.
    #[error("zoom {z} is above the maximum {max}")]
    ZoomOutOfRange { z: u8, max: u8 },
    /// `x` or `y` outside `0..2^z`.
    #[error("tile {z}/{x}/{y} does not exist: x and y must be below 2^{z}")]
    OutOfRange { z: u8, x: u32, y: u32 },
    /// The MVT encoder refused a geometry (a bug, not bad input).
    #[error("MVT encoding failed: {0}")]
    Encode(String),
}
