//! chizu: a GIS tile and map-layer server for Japanese municipalities.
//!
//! Data flows one way: [`config`] → [`ingest`] (GDAL) → immutable [`store`] snapshots →
//! [`tile`] → [`http`]. Only `http` knows about HTTP; [`access`] decides what each view sees.
#![forbid(unsafe_code)]

pub mod access;
pub mod config;
pub mod export;
pub mod http;
pub mod ingest;
pub mod live;
pub mod query;
pub mod reload;
pub mod store;
pub mod style;
pub mod tile;

use std::collections::BTreeMap;
use std::path::Path;

/// Everything `serve` and `check` load from a root folder.
pub struct Loaded {
    pub catalog: store::Catalog,
    /// One line per problem (file or layer, and why), for logs and `check`.
    pub errors: Vec<String>,
}

/// Runs `f` on every item on up to `threads` threads, each taking the next item as it
/// frees up, and returns the results in the items' order. A panic in `f` is passed on.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.clamp(1, items.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Sends GDAL's own warnings and errors to the log instead of stderr.
pub fn route_gdal_messages() {
    gdal::config::set_error_handler(|class, number, message| {
        use gdal::errors::CplErrType;
        if matches!(class, CplErrType::Failure | CplErrType::Fatal) {
            ingest::note_gdal_failure(message);
        }
        if repeated(message) {
            return;
        }
        match class {
            CplErrType::Failure | CplErrType::Fatal => {
                tracing::error!(target: "gdal", number, "{message}");
            }
            // GEOS explains every invalid geometry it is asked about; ingest counts those itself.
            CplErrType::Warning if is_validity_note(message) => {
                tracing::trace!(target: "gdal", number, "{message}");
            }
            CplErrType::Warning => tracing::warn!(target: "gdal", number, "{message}"),
            _ => tracing::debug!(target: "gdal", number, "{message}"),
        }
    });
}

/// GDAL repeats one warning per feature (a value its GML driver cannot parse, say): each
/// distinct message is logged a few times, then once more to say the rest are left out.
fn repeated(message: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    const SHOWN: u32 = 3;
    static SEEN: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    let Ok(mut seen) = SEEN.get_or_init(|| Mutex::new(HashMap::new())).lock() else {
        return false;
    };
    if seen.len() > 10_000 {
        seen.clear();
    }
    let n = seen.entry(message.to_string()).or_insert(0);
    *n += 1;
    if *n == SHOWN + 1 {
        tracing::warn!(target: "gdal", "the last message repeats; further repeats are not logged");
    }
    *n > SHOWN
}

fn is_validity_note(message: &str) -> bool {
    [
        "Self-intersection",
        "Too few points",
        "Hole lies outside",
        "Interior is disconnected",
        "Nested shells",
        "Duplicate Rings",
        "Invalid Coordinate",
        "Ring Self-intersection",
        "Nested holes",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Reads `ROOT/layers/*.toml` and loads every layer on `threads` threads. A broken
/// layer file or source is reported and skipped; the others load.
#[must_use]
pub fn load_root(root: &Path, threads: usize) -> Loaded {
    let (defs, config_errors) = config::load_dir(&root.join("layers"));
    let mut errors: Vec<String> = config_errors.iter().map(ToString::to_string).collect();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    for e in &config_errors {
        let key = match e {
            config::ConfigError::Io { file, .. }
            | config::ConfigError::Parse { file, .. }
            | config::ConfigError::Invalid { file, .. } => file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        };
        failed.insert(key, e.to_string());
    }
    let public: std::collections::BTreeSet<String> = defs
        .iter()
        .filter(|d| d.is_public())
        .map(|d| d.id.to_string())
        .collect();
    let loaded = ingest::load_all(root, defs, threads);
    for (id, e) in loaded.failed {
        errors.push(format!("layer `{id}`: {e}"));
        failed.insert(id, e.to_string());
    }
    let fingerprints = loaded
        .layers
        .iter()
        .map(|l| (l.def.id.to_string(), reload::fingerprint(root, &l.def)))
        .collect();
    let failed_public = failed
        .keys()
        .filter(|id| public.contains(*id))
        .cloned()
        .collect();
    let (catalog, more) = assemble_catalog(root, loaded.layers, failed, fingerprints);
    let catalog = catalog.with_failed_public(failed_public);
    errors.extend(more);
    Loaded { catalog, errors }
}

/// A catalog of loaded layers with the root's `site.toml` and styles (completed and
/// generated from the layers), for start-up and reload alike; also the problems found in
/// the site file and styles.
#[must_use]
pub fn assemble_catalog(
    root: &Path,
    layers: Vec<std::sync::Arc<store::LayerSnapshot>>,
    failed: BTreeMap<String, String>,
    fingerprints: BTreeMap<String, u64>,
) -> (store::Catalog, Vec<String>) {
    let (root_styles, mut errors) = style::load_dir(&root.join("styles"));
    let site = config::Site::load(root).unwrap_or_else(|e| {
        errors.push(e.to_string());
        config::Site::default()
    });
    let catalog = store::Catalog::new(layers, failed)
        .with_site(site)
        .with_fingerprints(fingerprints);
    let styles = style::assemble(root_styles, &catalog);
    (catalog.with_styles(styles), errors)
}
