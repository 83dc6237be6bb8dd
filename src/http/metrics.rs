//! `GET /metrics` (Prometheus text format) and the counters behind it: requests by route,
//! status and view; tile latency; tile cache hits, misses and bytes; requests shed under
//! load; reloads; per-layer feature counts and snapshot versions. Route labels are the
//! first path segment from a fixed list, so no client can grow the label set.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{AppState, Caller, Side};

/// Upper bounds of the tile latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The route labels, in the order of [`Metrics`]' counter table.
const ROUTES: [&str; 15] = [
    "/",
    "/tiles",
    "/catalog",
    "/health",
    "/metrics",
    "/hazard",
    "/query",
    "/search",
    "/conformance",
    "/collections",
    "/download",
    "/styles",
    "/web",
    "/admin",
    "other",
];

/// The statuses counted without a lock; any other goes to the map behind one.
const STATUSES: [u16; 8] = [200, 201, 204, 304, 400, 401, 404, 503];

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Requests per view, route and common status: atomics, so that listeners' threads
    /// count without taking turns on a lock (every request is counted).
    common: [[[AtomicU64; STATUSES.len()]; ROUTES.len()]; 2],
    /// Requests with any other status, by route, status and view.
    rare: Mutex<BTreeMap<(&'static str, u16, &'static str), u64>>,
    tile_buckets: [AtomicU64; BUCKETS.len()],
    tile_count: AtomicU64,
    tile_sum_us: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub shed: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Tiles cut into the cache ahead of requests (see `precut`).
    pub precut: AtomicU64,
}

/// The route label of a path (its first segment, if it is one chizu serves), as an index
/// into [`ROUTES`].
#[must_use]
pub fn route_label(path: &str) -> Route {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let i = if first.is_empty() {
        0
    } else {
        ROUTES[1..ROUTES.len() - 1]
            .iter()
            .position(|r| r[1..] == *first)
            .map_or(ROUTES.len() - 1, |i| i + 1)
    };
    Route(i)
}

/// A route label (see [`route_label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(usize);

impl Route {
    /// The label of `/tiles/…`.
    pub const TILES: Route = Route(1);

    #[must_use]
    pub fn as_str(self) -> &'static str {
        ROUTES[self.0]
    }
}

fn view_label(side: usize) -> &'static str {
    ["public", "internal"][side]
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: Route, status: u16, side: Side) {
        let side = usize::from(side == Side::Internal);
        if let Some(s) = STATUSES.iter().position(|&c| c == status) {
            self.common[side][route.0][s].fetch_add(1, Ordering::Relaxed);
        } else if let Ok(mut m) = self.rare.lock() {
            *m.entry((route.as_str(), status, view_label(side)))
                .or_default() += 1;
        }
    }

    /// Requests answered with a common status so far, both views (to tell a quiet moment).
    pub fn answered(&self) -> u64 {
        self.common
            .iter()
            .flatten()
            .flatten()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Every non-zero request count, by route, status and view (sorted).
    fn requests(&self) -> BTreeMap<(&'static str, u16, &'static str), u64> {
        let mut all = self.rare.lock().map(|m| m.clone()).unwrap_or_default();
        for (side, routes) in self.common.iter().enumerate() {
            for (r, statuses) in routes.iter().enumerate() {
                for (s, n) in statuses.iter().enumerate() {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        all.insert((ROUTES[r], STATUSES[s], view_label(side)), n);
                    }
                }
            }
        }
        all
    }

    /// Records one tile's cutting time.
    pub fn tile_time(&self, started: Instant) {
        let s = started.elapsed().as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.tile_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.tile_count.fetch_add(1, Ordering::Relaxed);
        self.tile_sum_us
            .fetch_add((s * 1e6) as u64, Ordering::Relaxed);
    }
}

pub async fn metrics(
    State(app): State<Arc<AppState>>,
    Extension(Caller(view)): Extension<Caller>,
) -> Response {
    let m = &app.metrics;
    let mut t = String::new();
    let _ = writeln!(t, "# HELP chizu_requests_total HTTP requests by route, status and view.\n# TYPE chizu_requests_total counter");
    // The public view counts its own requests only: staff traffic is not its business.
    for ((route, status, v), n) in m
        .requests()
        .into_iter()
        .filter(|((_, _, v), _)| !view.is_public() || *v == "public")
    {
        let _ = writeln!(
            t,
            "chizu_requests_total{{route=\"{route}\",status=\"{status}\",view=\"{v}\"}} {n}"
        );
    }
    let _ = writeln!(t, "# HELP chizu_tile_seconds Time to cut and compress a tile (cache misses).\n# TYPE chizu_tile_seconds histogram");
    for (i, b) in BUCKETS.iter().enumerate() {
        let _ = writeln!(
            t,
            "chizu_tile_seconds_bucket{{le=\"{b}\"}} {}",
            m.tile_buckets[i].load(Ordering::Relaxed)
        );
    }
    let count = m.tile_count.load(Ordering::Relaxed);
    let _ = writeln!(t, "chizu_tile_seconds_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(
        t,
        "chizu_tile_seconds_sum {}",
        m.tile_sum_us.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(t, "chizu_tile_seconds_count {count}");
    let counters = [
        (
            "chizu_tile_cache_hits_total",
            "Tiles served from the cache.",
            &m.cache_hits,
        ),
        (
            "chizu_tile_cache_misses_total",
            "Tiles cut because they were not cached.",
            &m.cache_misses,
        ),
        (
            "chizu_requests_shed_total",
            "Requests refused with 503 because the server was at its concurrency limit.",
            &m.shed,
        ),
        (
            "chizu_reloads_total",
            "Layer reloads that replaced a snapshot.",
            &m.reloads,
        ),
        (
            "chizu_reload_failures_total",
            "Layer reloads that failed (the previous snapshot kept serving).",
            &m.reload_failures,
        ),
        (
            "chizu_tiles_precut_total",
            "Tiles of the public map cut into the cache before anyone asked for them.",
            &m.precut,
        ),
    ];
    for (name, help, c) in counters {
        let _ = writeln!(
            t,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            c.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(t, "# HELP chizu_tile_cache_bytes Bytes held by the tile cache.\n# TYPE chizu_tile_cache_bytes gauge");
    let _ = writeln!(
        t,
        "chizu_tile_cache_bytes {}",
        app.cache.weighted_size().await
    );
    layer_gauges(&mut t, &app, &view);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        t,
    )
        .into_response()
}

/// Per-layer gauges the view may know about.
fn layer_gauges(t: &mut String, app: &AppState, view: &crate::access::View) {
    let catalog = app.catalog.load_full();
    let visible: Vec<_> = catalog
        .layers()
        .filter(|l| view.sees_layer(&l.def))
        .collect();
    let _ = writeln!(
        t,
        "# HELP chizu_layer_features Features per layer.\n# TYPE chizu_layer_features gauge"
    );
    for l in &visible {
        let _ = writeln!(
            t,
            "chizu_layer_features{{layer=\"{}\"}} {}",
            l.def.id,
            l.count_for(view.is_public())
        );
    }
    let _ = writeln!(t, "# HELP chizu_layer_version Snapshot version per layer (grows with each reload).\n# TYPE chizu_layer_version gauge");
    for l in &visible {
        let _ = writeln!(
            t,
            "chizu_layer_version{{layer=\"{}\"}} {}",
            l.def.id, l.version
        );
    }
    let _ = writeln!(
        t,
        "# HELP chizu_layers_failed Layers that failed to load.\n# TYPE chizu_layers_failed gauge\nchizu_layers_failed {}",
        if view.is_public() {
            visible
                .iter()
                .filter(|l| catalog.failed().contains_key(l.def.id.as_str()))
                .count()
        } else {
            catalog.failed().len()
        }
    );
}
