//! Cut layers kept apart for the composite tiles that hold a live layer.
//!
//! A live edit makes a composite tile over it new, but the file layers beside the live one
//! did not change: their cut, encoded *and compressed* layers are taken from here instead
//! of being cut and compressed again (a z12 flood layer costs tens of milliseconds to cut
//! and several to gzip; the live points beside it a fraction of one). Each part is
//! deflated on its own up to a sync flush (byte-aligned, not final), so the parts of a tile
//! join into one ordinary gzip member — the technique of parallel gzip (pigz) — and only
//! the live layer is compressed per edit. Only those parts are kept, bounded by bytes.
//!
//! A part is keyed by the caller's view, the layer with its snapshot version and the tile,
//! as tiles are: it can never be used for another view or after a reload.

use std::sync::Arc;

use flate2::{Compress, Compression, FlushCompress, Status};

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

/// One layer cut for one tile.
#[derive(Clone)]
pub struct Part {
    /// The layer held to its own budget; `None` when it has nothing in the tile.
    pub(crate) built: Option<Built>,
    /// The layer as written in a tile, raw-deflated up to a sync flush; `None` when it has
    /// not been (or no longer is, after a composite trim changed `built`) made.
    pub(crate) segment: Option<Vec<u8>>,
}

impl Part {
    /// A part, deflated ready to join.
    pub(crate) fn new(built: Option<Built>) -> Self {
        let segment = built.as_ref().and_then(|b| {
            let mut raw = Vec::with_capacity(b.tile_bytes());
            b.write(&mut raw);
            deflate_segment(&raw)
        });
        Self { built, segment }
    }

    fn heap_bytes(&self) -> usize {
        self.built.as_ref().map_or(0, Built::heap_bytes)
            + self.segment.as_ref().map_or(0, Vec::capacity)
    }
}

/// What one entry costs beyond its bytes (key, `Arc`, moka's bookkeeping).
const ENTRY_OVERHEAD: usize = 256;

/// zlib level of a part: the level the tiles are gzipped at (`super::GZIP_LEVEL`).
const LEVEL: u32 = 6;

/// `raw` deflated on its own, ending with a sync flush: byte-aligned and without the final
/// block, so that another segment, or the final empty block, may follow it. `None` if the
/// compressor fails (the tile is then gzipped whole).
#[must_use]
pub fn deflate_segment(raw: &[u8]) -> Option<Vec<u8>> {
    let mut c = Compress::new(Compression::new(LEVEL), false);
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let done = usize::try_from(c.total_in())
            .unwrap_or(usize::MAX)
            .min(raw.len());
        let status = c.compress_vec(&raw[done..], &mut out, FlushCompress::Sync);
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX) >= raw.len();
        // The flush is whole once a call with every byte in leaves room in the output.
        match status {
            Ok(Status::Ok | Status::BufError | Status::StreamEnd) => {
                if consumed && out.len() < out.capacity() {
                    return Some(out);
                }
            }
            Err(_) => return None,
        }
    }
}

/// One gzip member of `raw` (the tile) from the deflated `segments` of its parts, in order.
#[must_use]
pub fn join_gzip(raw: &[u8], segments: &[&[u8]]) -> Vec<u8> {
    // ID1 ID2, deflate, no flags, no time, no extra flags, OS unknown (RFC 1952).
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    // A final, empty stored block: BFINAL = 1, BTYPE = 00, LEN = 0, NLEN = !0.
    const LAST: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];
    let len: usize = segments.iter().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(HEADER.len() + len + LAST.len() + 8);
    out.extend_from_slice(&HEADER);
    for s in segments {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&LAST);
    out.extend_from_slice(&libdeflater::crc32(raw).to_le_bytes());
    // ISIZE is the length modulo 2^32 by definition.
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out
}

/// A byte-bounded cache of cut layers, shared by every listener.
#[derive(Clone)]
pub struct PartCache {
    inner: moka::sync::Cache<PartKey, Arc<Part>>,
}

impl PartCache {
    /// A cache holding at most `max_bytes` of cut layers (0 keeps none).
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &PartKey, v: &Arc<Part>| {
                let w = v.heap_bytes() + k.layer.len() + ENTRY_OVERHEAD;
                u32::try_from(w).unwrap_or(u32::MAX)
            })
            .build();
        Self { inner }
    }

    /// The cut layer, or `make`'s, computed once for concurrent callers.
    pub(crate) fn get_or_make(&self, key: PartKey, make: impl FnOnce() -> Part) -> Arc<Part> {
        self.inner.get_with(key, || Arc::new(make()))
    }

    /// Parts held now.
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn joined_segments_are_one_gzip_member_of_the_whole() {
        let a: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let b = b"a small live layer".repeat(3);
        let empty: &[u8] = &[];
        for parts in [
            vec![&a[..], &b[..]],
            vec![&b[..]],
            vec![&a[..], empty, &b[..]],
            vec![],
        ] {
            let raw: Vec<u8> = parts.concat();
            let segments: Vec<Vec<u8>> = parts
                .iter()
                .map(|p| deflate_segment(p).expect("deflates"))
                .collect();
            let refs: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
            let gz = join_gzip(&raw, &refs);
            // flate2's decoder checks the CRC and length of the member.
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .expect("a valid gzip member");
            assert_eq!(back, raw);
            // Nothing after the one member.
            let mut d = flate2::read::GzDecoder::new(&gz[..]);
            let mut sink = Vec::new();
            d.read_to_end(&mut sink).expect("reads");
            assert!(d.into_inner().is_empty(), "one member, nothing left over");
        }
        // A part deflated alone is not bigger than the bytes it holds by more than a header.
        let s = deflate_segment(&a).expect("deflates");
        assert!(s.len() < a.len() / 2, "{} of {}", s.len(), a.len());
    }
}
