//! The tile cache: finished tiles (gzip bytes ready to send, and their ETag), bounded by
//! bytes, keyed by the caller's view key + the layers with their snapshot versions + z/x/y.
//!
//! A tile cut for one view can never be returned for another (the view key is part of the
//! key), nor after a layer is reloaded (its snapshot version is part of the key).
//! Concurrent requests for the same missing tile share one computation (moka's
//! `try_get_with`).

use std::future::Future;
use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;

/// A quoted hex ETag as a header value (always valid: ASCII hex and quotes).
fn etag_value(tag: &str) -> HeaderValue {
    HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""))
}

use super::TileCoord;
use crate::access::ViewKey;

/// Identifies one cached tile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub view: ViewKey,
    /// Layer ids with their snapshot versions, in request order.
    pub layers: Box<[(Box<str>, u64)]>,
    pub coord: TileCoord,
    pub format: super::TileFormat,
}

/// A finished tile, everything a response needs made ahead: a hit only copies pointers.
#[derive(Debug)]
pub struct CachedTile {
    /// The gzip-compressed MVT, or `None` for an empty tile.
    pub gzip: Option<Bytes>,
    /// Strong ETags (quoted) for the gzip and the plain representation, from a hash of the
    /// uncompressed tile, ready as header values and as text (to compare with
    /// `If-None-Match`).
    pub etag_gzip: HeaderValue,
    pub etag_plain: HeaderValue,
    pub etag_gzip_str: Box<str>,
    pub etag_plain_str: Box<str>,
    /// Length of the uncompressed tile.
    pub raw_len: usize,
}

impl CachedTile {
    /// A tile from its uncompressed MVT bytes and their gzip.
    #[must_use]
    pub fn new(raw: &[u8], gzip: Vec<u8>) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_128(raw);
        let gz = format!("\"{hash:032x}-gz\"");
        let plain = format!("\"{hash:032x}\"");
        Self {
            gzip: Some(Bytes::from(gzip)),
            etag_gzip: etag_value(&gz),
            etag_plain: etag_value(&plain),
            etag_gzip_str: gz.into(),
            etag_plain_str: plain.into(),
            raw_len: raw.len(),
        }
    }

    /// An empty tile (answered 204).
    #[must_use]
    pub fn empty() -> Self {
        Self {
            gzip: None,
            etag_gzip: HeaderValue::from_static(""),
            etag_plain: HeaderValue::from_static(""),
            etag_gzip_str: Box::default(),
            etag_plain_str: Box::default(),
            raw_len: 0,
        }
    }

    fn weight(&self) -> usize {
        self.gzip.as_ref().map_or(0, Bytes::len)
            + 2 * (self.etag_gzip.len() + self.etag_plain.len())
    }
}

/// What one entry costs beyond its bytes: the key's and value's allocations, the `Arc`s
/// and moka's own bookkeeping (measured: 150,000 empty tiles took ~350 bytes each).
const ENTRY_OVERHEAD: usize = 384;

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
                let w = v.weight()
                    + k.layers.iter().map(|(id, _)| id.len() + 8).sum::<usize>()
                    + ENTRY_OVERHEAD;
                u32::try_from(w).unwrap_or(u32::MAX)
            })
            .build();
        Self { inner }
    }

    /// The cached tile, if there is one: the cheap path of a hit (no future to build).
    pub async fn get(&self, key: &TileKey) -> Option<Arc<CachedTile>> {
        self.inner.get(key).await
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
