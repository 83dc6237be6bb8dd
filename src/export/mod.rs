//! `chizu export`: a tile pyramid of chosen layers and zooms, cut on every core, written to
//! PMTiles v3 (`pmtiles` crate) or MBTiles (`SQLite`, TMS rows), with TileJSON-like metadata.
//! Uses the same cutting and the same [`View`] as the server, so an export of the public
//! view holds exactly what the public listener serves.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::access::View;
use crate::store::LayerSnapshot;
use crate::tile::{self, TileCoord, HALF_WORLD};

/// Result of an export.
pub type Result<T> = std::result::Result<T, ExportError>;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output name says neither `.pmtiles` nor `.mbtiles`.
    #[error("{0}: the output must end in .pmtiles or .mbtiles")]
    Format(String),
    /// The zoom range is empty or beyond what chizu cuts.
    #[error("zooms {0}–{1}: expected minzoom ≤ maxzoom ≤ 22")]
    Zooms(u8, u8),
    /// Nothing to export.
    #[error("no layers to export")]
    NoLayers,
    /// Writing the PMTiles archive failed.
    #[error("writing PMTiles: {0}")]
    PmTiles(#[from] pmtiles::PmtError),
    /// Writing the MBTiles database failed.
    #[error("writing MBTiles: {0}")]
    MbTiles(#[from] rusqlite::Error),
    /// The output file could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Cutting a tile failed (a bug).
    #[error("cutting a tile: {0}")]
    Tile(#[from] crate::tile::TileError),
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// Tiles in the pyramid over the layers' bounds.
    pub tiles_visited: usize,
    /// Non-empty tiles written.
    pub tiles_written: usize,
    /// Bytes of (uncompressed) tile data written.
    pub bytes: u64,
    /// The largest tile (z/x/y, bytes).
    pub largest: Option<(String, usize)>,
    pub elapsed: Duration,
}

/// Every tile from `minzoom` to `maxzoom` over the layers' bounds, in PMTiles tile-id order.
fn pyramid(layers: &[Arc<LayerSnapshot>], minzoom: u8, maxzoom: u8) -> Vec<TileCoord> {
    let Some(b) = layers
        .iter()
        .filter_map(|l| l.bounds)
        .reduce(|a, b| a.union(&b))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for z in minzoom..=maxzoom {
        let a = TileCoord::containing(z, b.min.x.max(-HALF_WORLD), b.max.y.min(HALF_WORLD));
        let c = TileCoord::containing(z, b.max.x.min(HALF_WORLD), b.min.y.max(-HALF_WORLD));
        for x in a.x()..=c.x() {
            for y in a.y()..=c.y() {
                if let Ok(t) = TileCoord::new(z, x, y) {
                    out.push(t);
                }
            }
        }
    }
    out.sort_by_key(|t| {
        pmtiles::TileCoord::new(t.z(), t.x(), t.y())
            .map_or(u64::MAX, |c| pmtiles::TileId::from(c).value())
    });
    out
}

/// How one layer fares against its per-tile budget over a pyramid (for `chizu check`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetScan {
    /// Zooms scanned (the layer's minzoom up to the scan's maxzoom).
    pub zooms: (u8, u8),
    /// Non-empty tiles cut.
    pub tiles: usize,
    /// The largest tile of this layer alone: z/x/y and bytes.
    pub largest: Option<(String, usize)>,
    /// Zooms at which some tile went over budget and was trimmed.
    pub trimmed_zooms: Vec<u8>,
    /// Tiles trimmed and features dropped from them.
    pub trimmed_tiles: u64,
    pub dropped_features: u64,
}

/// Cuts every tile of `layer` from its minzoom to `maxzoom` over its bounds, as staff with
/// every role would see it, and reports where its budget was hit. The layer must be fresh
/// (its budget log empty), as `check` loads it.
pub fn budget_scan(layer: &Arc<LayerSnapshot>, maxzoom: u8) -> Result<BudgetScan> {
    let view = View::Internal(crate::access::Principal {
        name: "check".into(),
        roles: [crate::access::ADMIN_ROLE.to_string()].into(),
    });
    let lo = layer.def.minzoom.min(maxzoom);
    let mut tiles = 0;
    let mut largest: Option<(String, usize)> = None;
    for t in pyramid(std::slice::from_ref(layer), lo, maxzoom) {
        if let Some(bytes) = tile::render(&[layer.as_ref()], &view, t)? {
            tiles += 1;
            if largest.as_ref().is_none_or(|l| bytes.len() > l.1) {
                largest = Some((t.to_string(), bytes.len()));
            }
        }
    }
    let (trimmed_tiles, dropped_features) = layer.budget.totals();
    Ok(BudgetScan {
        zooms: (lo, maxzoom),
        tiles,
        largest,
        trimmed_zooms: layer.budget.zooms(false),
        trimmed_tiles,
        dropped_features,
    })
}

/// TileJSON-like metadata (`vector_layers` with their visible fields).
#[must_use]
pub fn metadata(
    layers: &[Arc<LayerSnapshot>],
    view: &View,
    minzoom: u8,
    maxzoom: u8,
) -> serde_json::Value {
    let vector_layers: Vec<_> = layers
        .iter()
        .map(|l| {
            let fields: serde_json::Map<String, serde_json::Value> = l
                .fields
                .iter()
                .filter(|f| view.sees_field(&l.def, f))
                .map(|f| (f.name.clone(), json!(f.kind.as_str())))
                .collect();
            json!({ "id": l.def.id, "description": l.def.title.ja, "minzoom": l.def.minzoom.max(minzoom), "maxzoom": maxzoom, "fields": fields })
        })
        .collect();
    json!({
        "name": layers.iter().map(|l| l.def.title.ja.as_str()).collect::<Vec<_>>().join(" + "),
        "attribution": crate::config::attribution(layers.iter().map(|l| l.def.as_ref())),
        "vector_layers": vector_layers,
    })
}

/// Tiles cut at a time: the bytes waiting to be written stay bounded whatever the pyramid.
const CHUNK: usize = 2_048;

/// Writes the pyramid of `layers` (as `view` sees them) between the zooms to `path`.
///
/// Tiles are cut on `threads` threads a chunk at a time, in tile-id order, and written as
/// they come; once a zoom is written its overviews are let go. So the memory beyond the
/// loaded layers is one chunk of tiles and one zoom's overviews. The archive is written
/// next to `path` and renamed into place only when complete: a failed export leaves no
/// partial file, and an older export at `path` stays until the new one is whole.
pub fn export(
    path: &Path,
    layers: &[Arc<LayerSnapshot>],
    view: &View,
    minzoom: u8,
    maxzoom: u8,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ExportSummary> {
    let started = Instant::now();
    if minzoom > maxzoom || maxzoom > crate::tile::MAX_ZOOM {
        return Err(ExportError::Zooms(minzoom, maxzoom));
    }
    if layers.is_empty() {
        return Err(ExportError::NoLayers);
    }
    let name = path.to_string_lossy().into_owned();
    let pm = name.ends_with(".pmtiles");
    if !pm && !name.ends_with(".mbtiles") {
        return Err(ExportError::Format(name));
    }
    let coords = pyramid(layers, minzoom, maxzoom);
    let head = Head {
        meta: metadata(layers, view, minzoom, maxzoom),
        bounds: crate::store::lonlat_union(layers.iter().map(AsRef::as_ref), false)
            .unwrap_or([180.0, 90.0, -180.0, -90.0]),
        minzoom,
        maxzoom,
    };
    let partial = path.with_file_name(format!(
        ".{}.partial",
        path.file_name()
            .map_or_else(|| "export".into(), |n| n.to_string_lossy())
    ));
    let written = (|| {
        let mut sink = Sink::create(&partial, pm, &head)?;
        let summary = cut_and_write(layers, view, &coords, threads, progress, &mut sink)?;
        sink.finish()?;
        Ok::<_, ExportError>(summary)
    })();
    let mut summary = match written {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&partial, path) {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Cuts `coords` (in tile-id order, so zoom by zoom) a chunk at a time and hands the
/// non-empty tiles to `sink`; calls `progress(done, total)` now and then.
fn cut_and_write(
    layers: &[Arc<LayerSnapshot>],
    view: &View,
    coords: &[TileCoord],
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    sink: &mut Sink,
) -> Result<ExportSummary> {
    let refs: Vec<&LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
    let mut summary = ExportSummary {
        tiles_visited: coords.len(),
        tiles_written: 0,
        bytes: 0,
        largest: None,
        elapsed: Duration::ZERO,
    };
    let done = AtomicUsize::new(0);
    for zoom in coords.chunk_by(|a, b| a.z() == b.z()) {
        for chunk in zoom.chunks(CHUNK) {
            let tiles = crate::par_map(chunk, threads, |&t| {
                let tile = tile::render(&refs, view, t);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d % 256 == 0 {
                    progress(d, coords.len());
                }
                tile
            });
            for (c, t) in chunk.iter().zip(tiles) {
                let Some(t) = t? else { continue };
                summary.tiles_written += 1;
                summary.bytes += t.len() as u64;
                if summary.largest.as_ref().is_none_or(|(_, n)| t.len() > *n) {
                    summary.largest = Some((c.to_string(), t.len()));
                }
                sink.add(*c, &t)?;
            }
        }
        if let Some(z) = zoom.first().map(TileCoord::z) {
            for l in layers {
                l.release_overview(z);
            }
        }
    }
    progress(coords.len(), coords.len());
    Ok(summary)
}

/// What describes the archive, known before its tiles.
struct Head {
    meta: serde_json::Value,
    /// `[west, south, east, north]`.
    bounds: [f64; 4],
    minzoom: u8,
    maxzoom: u8,
}

impl Head {
    /// Centre lon, lat and zoom to open at.
    fn center(&self) -> (f64, f64, u8) {
        let b = self.bounds;
        (
            f64::midpoint(b[0], b[2]),
            f64::midpoint(b[1], b[3]),
            self.minzoom.max(12).min(self.maxzoom),
        )
    }
}

/// An archive being written, tile by tile in tile-id order.
enum Sink {
    Pm(Box<pmtiles::PmTilesStreamWriter<std::io::BufWriter<std::fs::File>>>),
    /// MBTiles in one transaction, committed by [`Sink::finish`].
    Mb(rusqlite::Connection),
}

impl Sink {
    fn create(path: &Path, pm: bool, h: &Head) -> Result<Self> {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        let (b, (lon, lat, zoom)) = (h.bounds, h.center());
        if pm {
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            let w = pmtiles::PmTilesWriter::new(pmtiles::TileType::Mvt)
                .tile_compression(pmtiles::Compression::Gzip)
                .min_zoom(h.minzoom)
                .max_zoom(h.maxzoom)
                .bounds(b[0], b[1], b[2], b[3])
                .center(lon, lat)
                .center_zoom(zoom)
                .metadata(h.meta.to_string())
                .create(file)?;
            return Ok(Sink::Pm(Box::new(w)));
        }
        let db = rusqlite::Connection::open(path)?;
        db.execute_batch(
            "CREATE TABLE metadata (name TEXT, value TEXT);
             CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
             CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
             BEGIN;",
        )?;
        {
            let mut m = db.prepare("INSERT INTO metadata (name, value) VALUES (?1, ?2)")?;
            let meta = &h.meta;
            for (k, v) in [
                ("name", meta["name"].as_str().unwrap_or("chizu").to_string()),
                ("format", "pbf".to_string()),
                ("type", "overlay".to_string()),
                ("minzoom", h.minzoom.to_string()),
                ("maxzoom", h.maxzoom.to_string()),
                ("bounds", format!("{},{},{},{}", b[0], b[1], b[2], b[3])),
                ("center", format!("{lon},{lat},{zoom}")),
                (
                    "attribution",
                    meta["attribution"].as_str().unwrap_or("").to_string(),
                ),
                (
                    "json",
                    json!({ "vector_layers": meta["vector_layers"] }).to_string(),
                ),
            ] {
                m.execute((k, v))?;
            }
        }
        Ok(Sink::Mb(db))
    }

    fn add(&mut self, c: TileCoord, t: &[u8]) -> Result<()> {
        match self {
            Sink::Pm(w) => w.add_tile(pmtiles::TileCoord::new(c.z(), c.x(), c.y())?, t)?,
            Sink::Mb(db) => {
                // MBTiles rows count from the south (TMS).
                let row = (1u32 << c.z()) - 1 - c.y();
                db.prepare_cached("INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?1, ?2, ?3, ?4)")?
                    .execute((c.z(), c.x(), row, crate::tile::gzip(t)))?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Pm(w) => w.finalize()?,
            Sink::Mb(db) => db.execute_batch("COMMIT")?,
        }
        Ok(())
    }
}
