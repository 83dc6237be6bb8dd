//! Layer definitions (`layers/*.toml`): parsing, defaults and validation.
//!
//! Every error names the file, the key and what was expected. This module reads TOML
//! only; it never opens a GIS file (ingest does) and never sees HTTP.

mod error;
mod hazard;
mod layer;
pub mod site;
pub mod zoning;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Result};
pub use hazard::{HazardCfg, HazardKind, RankLabel, ShelterCfg};
pub use layer::{
    attribution, redact_connection, Access, Category, ConstValue, Crs, EditAction, EditCfg,
    Encoding, FieldCfg, GeometryKind, I18n, LayerDef, LayerId, LayerKind, Palette, PublicFilter,
    SensorCfg, SensorLevel, SourceCfg, StyleCfg, DEFAULT_POLL_SECONDS, SENSOR_FIELDS,
};
pub use site::Site;

/// Reads every `*.toml` in `dir` (sorted by name). Returns the layers that parsed and,
/// separately, one error per file that did not, so one bad file cannot hide the others.
#[must_use]
pub fn load_dir(dir: &Path) -> (Vec<LayerDef>, Vec<ConfigError>) {
    let mut defs = Vec::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(ConfigError::Io {
                file: dir.to_path_buf(),
                source,
            });
            return (defs, errors);
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        match LayerDef::from_file(&file) {
            Ok(def) => defs.push(def),
            Err(e) => errors.push(e),
        }
    }
    let mut seen: std::collections::BTreeMap<String, PathBuf> = std::collections::BTreeMap::new();
    let mut unique = Vec::with_capacity(defs.len());
    for def in defs {
        if let Some(first) = seen.get(def.id.as_str()) {
            errors.push(ConfigError::Invalid {
                file: def.file.clone(),
                key: "id".into(),
                message: format!(
                    "layer id `{}` is already used by {}",
                    def.id,
                    first.display()
                ),
            });
        } else {
            seen.insert(def.id.to_string(), def.file.clone());
            unique.push(def);
        }
    }
    (unique, errors)
}
