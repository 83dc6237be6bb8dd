//! Hot reload: re-read `layers/` and `styles/`, re-ingest only the layers whose layer file
//! or source files changed (a fingerprint of names, sizes and modification times), and
//! swap in a new catalog in one atomic store. A layer that fails to reload keeps serving
//! its previous snapshot and is reported as stale with the reason; nothing good is lost.

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{self, ConfigError, LayerDef};
use crate::ingest;
use crate::store::Catalog;

/// What one reload did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReloadSummary {
    /// Layers re-ingested and swapped in (new snapshot versions).
    pub reloaded: Vec<String>,
    /// Layers whose new files failed; the previous snapshot (if any) keeps serving.
    pub failed: Vec<(String, String)>,
    /// Layers whose layer file was removed.
    pub removed: Vec<String>,
    /// Layers left as they were.
    pub unchanged: usize,
}

/// A fingerprint of a layer's file and all its source files (and their sidecars: `.dbf`,
/// `.shx`, `.prj`, `.cpg` …): names, sizes and modification times.
#[must_use]
pub fn fingerprint(root: &Path, def: &LayerDef) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut stamp = |p: &Path| {
        h.write(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            h.write_u64(m.len());
            if let Ok(t) = m.modified().and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_err(std::io::Error::other)
            }) {
                h.write_u128(t.as_nanos());
            }
        }
    };
    stamp(&def.file);
    match ingest::source_files(root, def) {
        Ok(files) => {
            for (_, f) in files {
                let stem = f.file_stem().map(std::ffi::OsStr::to_os_string);
                let mut siblings: Vec<_> = f
                    .parent()
                    .and_then(|d| std::fs::read_dir(d).ok())
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.file_stem().map(std::ffi::OsStr::to_os_string) == stem)
                    .filter(|p| !ingest::is_side_file(p))
                    .collect();
                siblings.sort();
                for s in siblings {
                    stamp(&s);
                }
            }
        }
        Err(e) => h.write(e.to_string().as_bytes()),
    }
    h.finish()
}

/// The layer id a broken layer file would have had (its file name).
fn id_of_file(e: &ConfigError) -> Option<String> {
    let (ConfigError::Io { file, .. }
    | ConfigError::Parse { file, .. }
    | ConfigError::Invalid { file, .. }) = e;
    file.file_stem().map(|s| s.to_string_lossy().into_owned())
}

/// The catalog being assembled by a reload.
#[derive(Default)]
struct Next {
    layers: Vec<Arc<crate::store::LayerSnapshot>>,
    failed: BTreeMap<String, String>,
    fingerprints: BTreeMap<String, u64>,
    summary: ReloadSummary,
}

impl Next {
    /// Layer `id` could not be (re)loaded: keep its previous snapshot if there is one.
    fn failure(&mut self, current: &Catalog, id: String, why: &str) {
        if let Some(old) = current.get(&id) {
            self.layers.push(Arc::clone(old));
            self.fingerprints
                .insert(id.clone(), current.fingerprint(&id));
            self.failed.insert(
                id.clone(),
                format!("reload failed, serving version {}: {why}", old.version),
            );
        } else {
            self.failed.insert(id.clone(), why.to_string());
        }
        self.summary.failed.push((id, why.to_string()));
    }
}

/// Reloads what changed under `root` into `catalog`.
pub fn reload(root: &Path, catalog: &ArcSwap<Catalog>) -> ReloadSummary {
    let current = catalog.load_full();
    let (defs, config_errors) = config::load_dir(&root.join("layers"));
    let mut next = Next::default();
    let mut seen = std::collections::BTreeSet::new();

    for e in &config_errors {
        let id = id_of_file(e).unwrap_or_default();
        seen.insert(id.clone());
        next.failure(&current, id, &e.to_string());
    }
    for def in defs {
        let id = def.id.to_string();
        seen.insert(id.clone());
        let fp = fingerprint(root, &def);
        let old = current.get(&id);
        if let Some(old) = old.filter(|_| current.fingerprint(&id) == fp) {
            next.layers.push(Arc::clone(old));
            next.fingerprints.insert(id.clone(), fp);
            next.summary.unchanged += 1;
            continue;
        }
        let version = old.map_or(1, |o| o.version + 1);
        match ingest::load_layer(root, Arc::new(def), version) {
            Ok(snap) => {
                tracing::info!(layer = %id, version, features = snap.features.len(), "layer reloaded");
                next.layers.push(Arc::new(snap));
                next.fingerprints.insert(id.clone(), fp);
                next.summary.reloaded.push(id);
            }
            Err(e) => {
                tracing::error!(layer = %id, "reload failed: {e}");
                next.failure(&current, id, &e.to_string());
            }
        }
    }
    let mut summary = next.summary;
    summary.removed = current
        .layers()
        .map(|l| l.def.id.to_string())
        .filter(|id| !seen.contains(id))
        .collect();
    let (catalog_next, errors) =
        crate::assemble_catalog(root, next.layers, next.failed, next.fingerprints);
    for e in errors {
        tracing::error!("{e}");
    }
    catalog.store(Arc::new(catalog_next));
    summary
}
