//! Cut layers kept apart for the composite tiles that hold a live layer.
//!
//! A live edit makes a composite tile over it new, but the file layers beside the live one
//! did not change: their cut, encoded layers are taken from here instead of being cut
//! again (a z12 flood layer costs tens of milliseconds; the live points beside it a
//! fraction of one). Only those parts are kept, so the cache holds nothing a tile cache
//! would not need; it is bounded by bytes.
//!
//! A part is keyed by the caller's view, the layer with its snapshot version and the tile,
//! as tiles are: it can never be used for another view or after a reload.

use std::sync::Arc;

use super::encode::Built;
use super::TileCoord;
use crate::access::ViewKey;

/// Identifies one cut layer of one tile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartKey {
    pub view: ViewKey,
    pub layer: Box<str>,
    pub version: u64,
    pub coord: TileCoord,
}

/// What one entry costs beyond its bytes (key, `Arc`, moka's bookkeeping).
const ENTRY_OVERHEAD: usize = 256;

/// A byte-bounded cache of cut layers, shared by every listener.
#[derive(Clone)]
pub struct PartCache {
    inner: moka::sync::Cache<PartKey, Arc<Option<Built>>>,
}

impl PartCache {
    /// A cache holding at most `max_bytes` of cut layers (0 keeps none).
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &PartKey, v: &Arc<Option<Built>>| {
                let w = v.as_ref().as_ref().map_or(0, Built::heap_bytes)
                    + k.layer.len()
                    + ENTRY_OVERHEAD;
                u32::try_from(w).unwrap_or(u32::MAX)
            })
            .build();
        Self { inner }
    }

    /// The cut layer, or `make`'s, computed once for concurrent callers (`None`: the layer
    /// has nothing in this tile).
    pub(crate) fn get_or_make(
        &self,
        key: PartKey,
        make: impl FnOnce() -> Option<Built>,
    ) -> Arc<Option<Built>> {
        self.inner.get_with(key, || Arc::new(make()))
    }

    /// Parts held now.
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}
