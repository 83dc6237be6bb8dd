//! The tile cache: finished tiles (gzip bytes ready to send, and their ETag), bounded by
//! bytes, keyed by the caller's view key + the layers with their snapshot versions + z/x/y.
//!
//! A tile cut for one view can never be returned for another (the view key is part of the
//! key), nor after a layer is reloaded (its snapshot version is part of the key).
//! Concurrent requests for the same missing tile share one computation (moka's
//! `try_get_with`).

use std::future::Future;
use std::sync::Arc;

use super::TileCoord;
use crate::access::ViewKey;

/// Identifies one cached tile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub view: ViewKey,
    /// Layer ids with their snapshot versions, in request order.
    pub layers: Box<[(Box<str>, u64)]>,
    pub coord: TileCoord,
}

/// A finished tile.
#[derive(Debug)]
pub struct CachedTile {
    /// The gzip-compressed MVT, or `None` for an empty tile.
    pub gzip: Option<Vec<u8>>,
    /// Hash of the uncompressed tile (hex), for strong ETags.
    pub hash: String,
    /// Length of the uncompressed tile.
    pub raw_len: usize,
}

impl CachedTile {
    fn weight(&self) -> usize {
        self.gzip.as_ref().map_or(0, Vec::len) + self.hash.len() + 64
    }
}

/// A byte-bounded tile cache shared by every listener.
#[derive(Clone)]
pub struct TileCache {
    inner: moka::future::Cache<TileKey, Arc<CachedTile>>,
}

impl TileCache {
    /// A cache holding at most `max_bytes` of tiles (0 disables caching).
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        let inner = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &TileKey, v: &Arc<CachedTile>| {
                let w = v.weight() + k.layers.iter().map(|(id, _)| id.len() + 8).sum::<usize>();
                u32::try_from(w).unwrap_or(u32::MAX)
            })
            .build();
        Self { inner }
    }

    /// The cached tile, or `make`'s result, computed once for concurrent callers.
    pub async fn get_or_make<F, E>(&self, key: TileKey, make: F) -> Result<Arc<CachedTile>, Arc<E>>
    where
        F: Future<Output = Result<Arc<CachedTile>, E>>,
        E: Send + Sync + 'static,
    {
        self.inner.try_get_with(key, make).await
    }

    /// Bytes held now (after pending evictions are applied).
    pub async fn weighted_size(&self) -> u64 {
        self.inner.run_pending_tasks().await;
        self.inner.weighted_size()
    }

    /// Tiles held now.
    pub async fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks().await;
        self.inner.entry_count()
    }
}
