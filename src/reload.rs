//! Hot reload: re-read `layers/` and `styles/`, re-ingest only the layers whose layer file
//! or source files changed (a fingerprint of names, sizes, times, permissions and content),
//! and swap in a new catalog in one atomic store. Nothing good is lost: a layer that fails
//! to reload keeps serving its previous snapshot and is reported as stale with the reason;
//! a new snapshot that holds far fewer features than the one serving is held back the same
//! way until someone accepts it; an unreadable `layers/` folder changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{self, ConfigError, LayerDef};
use crate::ingest;
use crate::store::Catalog;

/// Default largest share of its features a layer may lose in one reload before it is held
/// back: 10 %.
pub const DEFAULT_MAX_SHRINK: f64 = 0.10;

/// Files larger than this are fingerprinted by size, time and their first and last MiB.
const HASH_WHOLE_BELOW: u64 = 256 << 20;

/// How a reload treats shrinking layers.
#[derive(Debug, Clone, Default)]
pub struct ReloadOptions {
    /// Largest share (0–1) of its features a layer may lose; more is held back.
    pub max_shrink: f64,
    /// Layers whose new snapshot is taken however much it shrank (`--accept`).
    pub accept: BTreeSet<String>,
}

/// What one reload did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReloadSummary {
    /// Layers re-ingested and swapped in (new snapshot versions).
    pub reloaded: Vec<String>,
    /// Layers whose new files failed or were held back; the previous snapshot (if any)
    /// keeps serving.
    pub failed: Vec<(String, String)>,
    /// Layers whose layer file was removed.
    pub removed: Vec<String>,
    /// Layers left as they were.
    pub unchanged: usize,
    /// Why nothing was reloaded at all (the `layers/` folder could not be read).
    pub aborted: Option<String>,
}

/// Adds one file to a fingerprint: its name, size, times, permissions, whether this
/// process can read it, and its content.
fn stamp(h: &mut xxhash_rust::xxh3::Xxh3, p: &Path) {
    h.write(p.to_string_lossy().as_bytes());
    let Ok(m) = std::fs::metadata(p) else {
        h.write_u8(0);
        return;
    };
    h.write_u64(m.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        h.write_u32(m.mode());
        h.write_i64(m.mtime());
        h.write_i64(m.mtime_nsec());
        h.write_i64(m.ctime());
        h.write_i64(m.ctime_nsec());
        h.write_u64(m.ino());
    }
    #[cfg(not(unix))]
    if let Ok(t) = m.modified() {
        h.write(format!("{t:?}").as_bytes());
    }
    // The content itself: an edit that keeps size and time (or a copy with `touch -r`) is
    // still an edit, and a file this process can no longer read is a change to report.
    let Ok(mut f) = std::fs::File::open(p) else {
        h.write_u8(1);
        return;
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut left = if m.len() < HASH_WHOLE_BELOW {
        u64::MAX
    } else {
        1 << 20
    };
    while left > 0 {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                h.write(&buf[..n]);
                left = left.saturating_sub(n as u64);
            }
        }
    }
    if m.len() >= HASH_WHOLE_BELOW {
        use std::io::Seek as _;
        if f.seek(std::io::SeekFrom::End(-(1 << 20))).is_ok() {
            if let Ok(n) = f.read(&mut buf) {
                h.write(&buf[..n]);
            }
        }
    }
}

/// A fingerprint of the files in `dir` whose names end in `.{ext}` (each as [`fingerprint`]
/// stamps a file): it moves when one is added, removed or edited.
#[must_use]
pub fn dir_stamp(dir: &Path, ext: &str) -> u64 {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for f in &files {
        stamp(&mut h, f);
    }
    h.finish()
}

/// A fingerprint of a layer's file and all its source files (and their sidecars: `.dbf`,
/// `.shx`, `.prj`, `.cpg` …, but not GDAL's own side files such as `.gfs`), of the
/// codelists it names, and of what its database tables hold (`database_signature`).
#[must_use]
pub fn fingerprint(root: &Path, def: &LayerDef) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    stamp(&mut h, &def.file);
    for f in def.fields.iter().filter_map(|f| f.codelist.as_ref()) {
        stamp(&mut h, &root.join(f));
    }
    // A database table is not a file: what it holds now stands for its content.
    for s in def.sources.iter().filter(|s| s.database().is_some()) {
        match ingest::database_signature(s) {
            Ok(sig) => h.write(sig.as_bytes()),
            Err(e) => h.write(e.to_string().as_bytes()),
        }
    }
    match ingest::source_files(root, def) {
        Ok(files) => {
            for (si, f) in files {
                if def.sources[si].database().is_some() {
                    continue;
                }
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
                    stamp(&mut h, &s);
                }
            }
        }
        Err(e) => h.write(e.to_string().as_bytes()),
    }
    h.finish()
}

/// The layer a broken layer file belongs to: the serving layer loaded from that file (its
/// `id` may differ from the file name), else the file name.
fn id_of_file(e: &ConfigError, current: &Catalog) -> Option<String> {
    let (ConfigError::Io { file, .. }
    | ConfigError::Parse { file, .. }
    | ConfigError::Invalid { file, .. }) = e;
    let same = |a: &Path| {
        a == file.as_path() || std::fs::canonicalize(a).ok() == std::fs::canonicalize(file).ok()
    };
    current
        .layers()
        .find(|l| same(&l.def.file))
        .map(|l| l.def.id.to_string())
        .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
}

/// The catalog being assembled by a reload.
#[derive(Default)]
struct Next {
    layers: Vec<Arc<crate::store::LayerSnapshot>>,
    failed: BTreeMap<String, String>,
    fingerprints: BTreeMap<String, u64>,
    failed_public: BTreeSet<String>,
    summary: ReloadSummary,
}

impl Next {
    /// Layer `id` could not be (re)loaded: keep its previous snapshot if there is one.
    fn failure(&mut self, current: &Catalog, id: String, why: &str, public: bool) {
        if public || current.get(&id).is_some_and(|o| o.def.is_public()) {
            self.failed_public.insert(id.clone());
        }
        if let Some(old) = current.get(&id) {
            if !self.layers.iter().any(|l| l.def.id == old.def.id) {
                self.layers.push(Arc::clone(old));
            }
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

/// Why a new snapshot of `n` features is held back from replacing one of `old`, if it is.
fn shrink_reason(id: &str, old: usize, n: usize, opts: &ReloadOptions) -> Option<String> {
    if opts.accept.contains(id) || old == 0 || n >= old {
        return None;
    }
    let lost = (old - n) as f64 / old as f64;
    (lost > opts.max_shrink).then(|| {
        format!(
            "the new files (or tables) hold {n} features where {old} are serving ({:.0} % fewer, more than the {:.0} % allowed): held back in case they are partial; if the change is meant, accept it with `chizu reload --accept {id}` (POST /admin/reload?accept={id})",
            lost * 100.0,
            opts.max_shrink * 100.0
        )
    })
}

/// Reloads what changed under `root` into `catalog`.
pub fn reload(
    root: &Path,
    catalog: &ArcSwap<Catalog>,
    opts: &ReloadOptions,
    live: Option<&crate::live::LiveStore>,
) -> ReloadSummary {
    let current = catalog.load_full();
    let dir = root.join("layers");
    if let Err(e) = std::fs::read_dir(&dir) {
        let why = format!(
            "{}: cannot read ({e}); nothing reloaded, every layer keeps serving",
            dir.display()
        );
        tracing::error!("{why}");
        return ReloadSummary {
            aborted: Some(why),
            unchanged: current.layers().count(),
            ..ReloadSummary::default()
        };
    }
    let (defs, config_errors) = config::load_dir(&dir);
    let mut next = Next::default();
    let mut seen = BTreeSet::new();

    for e in &config_errors {
        let id = id_of_file(e, &current).unwrap_or_default();
        seen.insert(id.clone());
        next.failure(&current, id, &e.to_string(), false);
    }
    for def in defs {
        let id = def.id.to_string();
        seen.insert(id.clone());
        let fp = fingerprint(root, &def);
        let old = current.get(&id);
        let accepted = opts.accept.contains(&id);
        if let Some(old) = old.filter(|_| current.fingerprint(&id) == fp && !accepted) {
            next.layers.push(Arc::clone(old));
            next.fingerprints.insert(id.clone(), fp);
            next.summary.unchanged += 1;
            continue;
        }
        let version = old.map_or(1, |o| o.version + 1);
        let public = def.is_public();
        // A live layer's features come from its database, not its file: nothing can shrink.
        let live = def.live.is_some();
        match ingest::load_layer(root, Arc::new(def), version) {
            Ok(snap) => {
                let held = old
                    .filter(|_| !live)
                    .and_then(|o| shrink_reason(&id, o.features.len(), snap.features.len(), opts));
                if let Some(why) = held {
                    tracing::error!(layer = %id, "reload held back: {why}");
                    next.failure(&current, id, &why, public);
                    continue;
                }
                tracing::info!(layer = %id, version, features = snap.features.len(), "layer reloaded");
                next.layers.push(Arc::new(snap));
                next.fingerprints.insert(id.clone(), fp);
                next.summary.reloaded.push(id);
            }
            Err(e) => {
                tracing::error!(layer = %id, "reload failed: {e}");
                next.failure(&current, id, &e.to_string(), public);
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
    let catalog_next = catalog_next.with_failed_public(next.failed_public);
    for e in errors {
        tracing::error!("{e}");
    }
    match live {
        // Live layers keep their newest snapshot, whatever was edited meanwhile.
        Some(l) => l.install(catalog, catalog_next),
        None => catalog.store(Arc::new(catalog_next)),
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_beyond_the_share_is_held_back_unless_accepted() {
        let mut opts = ReloadOptions {
            max_shrink: 0.1,
            accept: BTreeSet::new(),
        };
        assert!(shrink_reason("a", 102, 50, &opts).is_some());
        assert!(shrink_reason("a", 100, 90, &opts).is_none());
        assert!(shrink_reason("a", 100, 89, &opts).is_some());
        assert!(shrink_reason("a", 10, 12, &opts).is_none());
        opts.accept.insert("a".into());
        assert!(shrink_reason("a", 102, 0, &opts).is_none());
    }
}
