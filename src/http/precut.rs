//! Pre-cutting: the public map's low-zoom tiles cut into the tile cache in the background,
//! so the first residents to open the map after a start or a reload (in a disaster, many
//! at once) get its heaviest tiles — z10–z13 composites over the whole city, thousands of
//! features each — from the cache instead of waiting for them to be cut.
//!
//! What is cut is what the public map asks for: the tile sources of the public style as
//! it is served, those of file layers only (a live layer's tiles change with every edit),
//! from each source's lowest zoom up to `--precut-zoom`, over the source's bounds. The
//! work yields to requests: a tile is cut only when no request was answered since the
//! last one and no tile is being cut for a client; it takes one of the public listener's
//! heavy-work slots, never more. It stops at a quarter of the tile cache, and starts
//! again when the files behind the public map change.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tiles::{self, Resolved};
use super::{AppState, Side};
use crate::access::View;
use crate::store::Catalog;
use crate::tile::{lonlat_to_mercator, TileCoord};

/// Most tiles one pass cuts, whatever the budget says (a country-sized layer at z13 would
/// be millions).
const MAX_TILES: usize = 20_000;

/// How long to wait before looking again when requests are being answered.
const BACK_OFF: Duration = Duration::from_millis(100);

/// One tile source of the public style: its layer ids (as in its URL), zooms and bounds.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    ids: String,
    minzoom: u8,
    maxzoom: u8,
    bounds: [f64; 4],
}

/// The public map's file-layer tile sources, and what they were made from (layer ids and
/// snapshot versions) to know when to cut again.
fn plan(catalog: &Catalog) -> (Vec<Source>, Vec<(String, u64)>) {
    let view = View::Public;
    let Some(style) = catalog.style("public").and_then(|s| {
        crate::style::render(
            s,
            &view,
            catalog,
            "",
            None,
            super::viewer::site_format(catalog),
        )
    }) else {
        return (Vec::new(), Vec::new());
    };
    let mut sources = Vec::new();
    let Some(all) = style["sources"].as_object() else {
        return (sources, Vec::new());
    };
    for s in all.values() {
        let Some(ids) = s["tiles"][0]
            .as_str()
            .and_then(|u| u.strip_prefix("/tiles/"))
            .and_then(|u| u.split('/').next())
        else {
            continue;
        };
        let layers: Vec<_> = ids.split(',').filter_map(|id| catalog.get(id)).collect();
        if layers.is_empty() || layers.iter().any(|l| l.live.is_some()) {
            continue;
        }
        let zoom = |k: &str, default: u8| {
            s[k].as_u64()
                .and_then(|z| u8::try_from(z).ok())
                .unwrap_or(default)
        };
        let b: Vec<f64> = s["bounds"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default();
        let Ok(bounds) = <[f64; 4]>::try_from(b) else {
            continue;
        };
        sources.push(Source {
            ids: ids.to_string(),
            minzoom: zoom("minzoom", 0),
            maxzoom: zoom("maxzoom", 18),
            bounds,
        });
    }
    let made_of = versions(catalog, &sources);
    (sources, made_of)
}

/// The ids and snapshot versions of the layers behind `sources` in `catalog`.
fn versions(catalog: &Catalog, sources: &[Source]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = sources
        .iter()
        .flat_map(|s| s.ids.split(','))
        .filter_map(|id| catalog.get(id).map(|l| (id.to_string(), l.version)))
        .collect();
    v.sort();
    v
}

/// Every tile of `sources` from their lowest zoom up to `top`, low zooms first.
fn tiles_of(sources: &[Source], top: u8) -> Vec<(&str, TileCoord)> {
    let mut out = Vec::new();
    for z in 0..=top {
        for s in sources
            .iter()
            .filter(|s| (s.minzoom..=s.maxzoom).contains(&z))
        {
            let [w, south, e, n] = s.bounds;
            let (x0, y0) = lonlat_to_mercator(w, n.min(85.05));
            let (x1, y1) = lonlat_to_mercator(e, south.max(-85.05));
            let (a, b) = (
                TileCoord::containing(z, x0, y0),
                TileCoord::containing(z, x1, y1),
            );
            for x in a.x()..=b.x() {
                for y in a.y()..=b.y() {
                    if out.len() == MAX_TILES {
                        return out;
                    }
                    if let Ok(c) = TileCoord::new(z, x, y) {
                        out.push((s.ids.as_str(), c));
                    }
                }
            }
        }
    }
    out
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Tiles cut into the cache.
    pub cut: usize,
    /// Tiles already cached (asked for by a client first, or cut by an earlier pass).
    pub cached: usize,
    /// Gzip bytes cut.
    pub bytes: usize,
    /// Whether the pass stopped at the cache budget or the tile limit.
    pub stopped_at_budget: bool,
}

/// Waits until no request was answered for [`BACK_OFF`] and no client's tile is being cut.
async fn quiet(app: &AppState, seen: &mut u64) {
    loop {
        let now = app.metrics.answered();
        if now == *seen && app.heavy_idle(Side::Public) {
            return;
        }
        *seen = now;
        tokio::time::sleep(BACK_OFF).await;
    }
}

/// Cuts the public map's tiles up to zoom `top` that are not cached yet; stops early when
/// the public map's files change (the next pass takes over).
pub async fn pass(app: &Arc<AppState>, top: u8) -> Pass {
    let catalog = app.catalog.load_full();
    let (sources, made_of) = plan(&catalog);
    let budget = usize::try_from(app.settings.cache_bytes / 4).unwrap_or(usize::MAX);
    let all = tiles_of(&sources, top);
    let mut done = Pass {
        stopped_at_budget: all.len() == MAX_TILES,
        ..Pass::default()
    };
    let mut seen = app.metrics.answered();
    let view = View::Public;
    let suffix = super::viewer::site_format(&catalog).suffix();
    for (ids, c) in all {
        if done.bytes >= budget {
            done.stopped_at_budget = true;
            break;
        }
        quiet(app, &mut seen).await;
        if versions(&app.catalog.load(), &sources) != made_of {
            break; // the files changed: the next pass takes over
        }
        let (z, x, y) = (c.z().to_string(), c.x().to_string(), c.y());
        let y = format!("{y}.{suffix}");
        let Ok(Resolved { key, layers, .. }) = tiles::resolve(app, &view, ids, &z, &x, &y) else {
            continue;
        };
        if app.cache.get(&key).await.is_some() {
            done.cached += 1;
            continue;
        }
        let format = key.format;
        let cut = Arc::clone(app);
        let made = app
            .cache
            .get_or_make(key, async move {
                super::heavy(&cut, Side::Public, move || {
                    tiles::make_tile(&layers, &View::Public, c, format, None)
                })
                .await?
            })
            .await;
        if let Ok(t) = made {
            done.cut += 1;
            done.bytes += t.gzip.as_ref().map_or(0, bytes::Bytes::len);
            app.metrics.precut.fetch_add(1, Ordering::Relaxed);
        }
    }
    done
}

/// Runs a pass after the start and again whenever the public map's files change, for
/// the life of the server.
pub async fn keep(app: Arc<AppState>, top: u8) {
    let mut made_of = None;
    let mut last: Option<Arc<Catalog>> = None;
    loop {
        let catalog = app.catalog.load_full();
        // A live edit installs a new catalog too: the plan is made again only then, and a
        // pass runs only if the public map's file layers changed.
        let fresh = last.as_ref().is_none_or(|l| !Arc::ptr_eq(l, &catalog));
        let now = if fresh { Some(plan(&catalog).1) } else { None };
        last = Some(catalog);
        if let Some(now) = now.filter(|n| made_of.as_ref() != Some(n)) {
            let started = Instant::now();
            let p = pass(&app, top).await;
            tracing::info!(
                tiles = p.cut,
                already_cached = p.cached,
                bytes = p.bytes,
                budget_reached = p.stopped_at_budget,
                ms = started.elapsed().as_millis() as u64,
                "pre-cut the public map's tiles up to z{top}"
            );
            made_of = Some(now);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_bounds_low_zooms_first_within_each_source_zooms() {
        let s = |ids: &str, minzoom, maxzoom| Source {
            ids: ids.into(),
            minzoom,
            maxzoom,
            bounds: [138.2, 34.8, 138.4, 34.9],
        };
        let sources = [s("a,b", 0, 18), s("c", 12, 18)];
        let t = tiles_of(&sources, 12);
        assert!(t.windows(2).all(|w| w[0].1.z() <= w[1].1.z()));
        // z0 to z11: one source; z12: both, each over the same tiles.
        let per_zoom = |z: u8, ids: &str| t.iter().filter(|(i, c)| *i == ids && c.z() == z).count();
        assert_eq!(per_zoom(0, "a,b"), 1);
        assert_eq!(per_zoom(11, "c"), 0);
        assert_eq!(per_zoom(12, "c"), per_zoom(12, "a,b"));
        // 0.2° × 0.1° at z12 (≈ 0.088° a tile): 3–4 columns, 2–3 rows.
        let n12 = per_zoom(12, "c");
        assert!((6..=12).contains(&n12), "{n12}");
        for (_, c) in t.iter().filter(|(_, c)| c.z() == 12) {
            let b = c.bounds();
            let (w, s) = lonlat_to_mercator(138.2, 34.8);
            let (e, n) = lonlat_to_mercator(138.4, 34.9);
            assert!(b.max_x >= w && b.min_x <= e && b.max_y >= s && b.min_y <= n);
        }
        // A world-sized source stops at the tile limit.
        let world = Source {
            bounds: [-180.0, -85.0, 180.0, 85.0],
            ..s("w", 0, 18)
        };
        assert_eq!(tiles_of(&[world], 10).len(), MAX_TILES);
    }
}
