//! Ingest: a layer definition plus its files → an immutable [`LayerSnapshot`].
//!
//! Expands each `[[source]]` (glob or path), reads every file with GDAL (see `source`),
//! maps attributes (rename, type, labels, constants, internal-only), evaluates the public
//! filter, and builds the snapshot. Runs on plain threads, never on the async runtime.
//! A failure here names the file and the layer; it never touches a snapshot already served.

mod codelist;
mod encoding;
pub mod geometry;
pub mod inspect;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use encoding::{sniff_dbf, DetectedEncoding, EncodingOrigin};
pub use source::{
    clean_field_name, database_signature, describe_srs, iso_datetime, note_gdal_failure, CrsInfo,
    SourceStats, EXAMPLE_IDS,
};

use crate::config::{ConstValue, LayerDef};
use crate::store::{Feature, FieldDef, FieldType, LayerSnapshot, PartBox, Shape, Value};

/// Result of ingest.
pub type Result<T> = std::result::Result<T, IngestError>;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A `[[source]]` path or glob matched no file.
    #[error("{}: source `{pattern}` matches no file under the root", layer_file.display())]
    NoFiles {
        layer_file: PathBuf,
        pattern: String,
    },
    /// A glob pattern is malformed.
    #[error("{}: source `{pattern}` is not a valid glob: {message}", layer_file.display())]
    BadGlob {
        layer_file: PathBuf,
        pattern: String,
        message: String,
    },
    /// GDAL could not open or read the file.
    #[error("{}: cannot open: {message}", file.display())]
    Open { file: PathBuf, message: String },
    /// The dataset has several layers (or not the one named) and the layer file must choose.
    #[error("{}: {}", file.display(), no_layer_message(wanted, available))]
    NoLayer {
        file: PathBuf,
        wanted: String,
        available: Vec<String>,
    },
    /// The CRS is missing or unusable.
    #[error("{}: CRS: {message}", file.display())]
    Crs { file: PathBuf, message: String },
    /// Every feature read was dropped: usually `geometry` names another kind than the file holds.
    #[error("{}: {read} features read and none kept ({reasons}); check `geometry = \"{kind}\"` against the file (`chizu inspect`)", layer_file.display())]
    NothingKept {
        layer_file: PathBuf,
        read: usize,
        kind: String,
        reasons: String,
    },
    /// A key of the layer file names a field no source has.
    #[error("{}: key `{key}`: no source file has a field `{field}`; fields are: {}", layer_file.display(), available.join(", "))]
    UnknownField {
        layer_file: PathBuf,
        key: String,
        field: String,
        available: Vec<String>,
    },
}

fn no_layer_message(wanted: &str, available: &[String]) -> String {
    if wanted.is_empty() {
        format!(
            "has {} layers; choose one with `layer = \"…\"` in its [[source]]: {}",
            available.len(),
            available.join(", ")
        )
    } else {
        format!("has no layer `{wanted}`; it has: {}", available.join(", "))
    }
}

/// What ingest saw, per source file, for `chizu check` and `/health`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IngestReport {
    pub sources: Vec<SourceReport>,
    /// Things worth a look that did not stop the layer (values that did not convert …).
    pub warnings: Vec<String>,
    pub elapsed_ms: u64,
}

impl IngestReport {
    #[must_use]
    pub fn totals(&self) -> SourceStats {
        let mut t = SourceStats::default();
        for s in &self.sources {
            t.add(&s.stats);
        }
        t
    }
}

/// One source file's part of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceReport {
    /// Relative to the root.
    pub path: String,
    pub driver: String,
    pub layer: String,
    pub crs: CrsInfo,
    pub encoding: Option<DetectedEncoding>,
    pub fields: Vec<(String, FieldType)>,
    pub stats: SourceStats,
}

/// Files GDAL or editors write beside a source that are not part of its data (GML schema
/// caches, GDAL's metadata, editor swap files): they never trigger or affect a reload.
#[must_use]
pub fn is_side_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    [".gfs", ".aux.xml", ".swp", ".swx", ".tmp", "~", ".lock"]
        .iter()
        .any(|s| name.ends_with(s))
        || name.starts_with(".#")
}

/// Expands a layer's sources into files, in a stable order, paired with their config index.
pub fn source_files(root: &Path, def: &LayerDef) -> Result<Vec<(usize, PathBuf)>> {
    let mut out = Vec::new();
    for (i, s) in def.sources.iter().enumerate() {
        if s.database().is_some() {
            // Not a file: the shown name stands for it (the real string stays in `s`).
            out.push((i, PathBuf::from(s.shown_path())));
            continue;
        }
        let full = root.join(&s.path);
        let has_glob = s.path.contains(['*', '?', '[']);
        let mut files: Vec<PathBuf> = if has_glob {
            let pattern = full.to_string_lossy().into_owned();
            glob::glob(&pattern)
                .map_err(|e| IngestError::BadGlob {
                    layer_file: def.file.clone(),
                    pattern: s.path.clone(),
                    message: e.to_string(),
                })?
                .filter_map(std::result::Result::ok)
                .filter(|p| p.is_file())
                .collect()
        } else if full.is_file() {
            vec![full]
        } else {
            Vec::new()
        };
        if files.is_empty() {
            return Err(IngestError::NoFiles {
                layer_file: def.file.clone(),
                pattern: s.path.clone(),
            });
        }
        files.sort();
        out.extend(files.into_iter().map(|f| (i, f)));
    }
    Ok(out)
}

/// Where an output field's value comes from in one source file.
#[derive(Clone)]
enum Origin {
    Field(usize),
    Constant(Value),
    Missing,
}

fn const_value(c: &ConstValue) -> Value {
    match c {
        ConstValue::Bool(b) => Value::Bool(*b),
        ConstValue::Int(i) => Value::Int(*i),
        ConstValue::Float(f) => Value::Float(*f),
        ConstValue::Str(s) => Value::Str(s.as_str().into()),
    }
}

/// Loads one layer: reads all its files and builds the snapshot.
pub fn load_layer(root: &Path, def: Arc<LayerDef>, version: u64) -> Result<LayerSnapshot> {
    if def.live.is_some() {
        // Its features come from the state database (`live::LiveStore::install`).
        let fields = crate::live::fields_of(&def);
        return Ok(LayerSnapshot::build(
            def,
            fields,
            Vec::new(),
            IngestReport::default(),
            version,
        ));
    }
    let started = Instant::now();
    let files = source_files(root, &def)?;
    let mut raws = Vec::with_capacity(files.len());
    for (si, file) in &files {
        let raw = source::read(file, &def.sources[*si], def.geometry)?;
        raws.push((*si, file.clone(), raw));
    }

    let (mut fields, sources_of) = build_schema(&def, &raws)?;
    for (i, f) in def.fields.iter().enumerate() {
        let Some(path) = &f.codelist else { continue };
        let codes = codelist::read(&root.join(path))?;
        for (code, label) in codes {
            fields[i].values.entry(code).or_insert(label);
        }
    }
    check_keys(&def, &fields)?;
    let filter = def.public_filter.as_ref().and_then(|f| {
        let idx = fields.iter().position(|d| d.name == f.field)?;
        Some((idx, f.equals.clone()))
    });

    let (features, reports, unconverted) =
        assemble(root, &def, raws, &fields, &sources_of, filter.as_ref());
    let mut warnings: Vec<String> = unconverted
        .into_iter()
        .map(|(f, n)| {
            format!("field `{f}`: {n} values did not convert to its type and are served as null")
        })
        .collect();
    warnings.extend(unmatched_values(&fields, &features));
    for (i, f) in def.fields.iter().enumerate() {
        if def
            .sources
            .iter()
            .all(|s| !s.constants.contains_key(&f.source))
            && reports
                .iter()
                .any(|r| !r.fields.iter().any(|(n, _)| *n == f.source))
        {
            warnings.push(format!(
                "field[{i}] `{}`: missing from some source files (null there)",
                f.source
            ));
        }
    }
    let totals = reports.iter().fold(SourceStats::default(), |mut t, r| {
        t.add(&r.stats);
        t
    });
    if totals.read > 0 && features.is_empty() {
        return Err(IngestError::NothingKept {
            layer_file: def.file.clone(),
            read: totals.read,
            kind: serde_json::to_value(def.geometry)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            reasons: totals
                .drop_reasons
                .iter()
                .map(|(why, n)| format!("{n} dropped: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let report = IngestReport {
        sources: reports,
        warnings,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Ok(LayerSnapshot::build(def, fields, features, report, version))
}

/// The served schema: configured fields first, then (if asked, or if none are configured)
/// every other source field and constant under its own name. Returns the fields and,
/// for each, the source attribute (or constant) it reads.
fn build_schema(
    def: &LayerDef,
    raws: &[(usize, PathBuf, source::RawSource)],
) -> Result<(Vec<FieldDef>, Vec<String>)> {
    let mut available: Vec<(String, FieldType)> = Vec::new();
    for (si, _, raw) in raws {
        for (name, kind) in &raw.fields {
            if !available.iter().any(|(n, _)| n == name) {
                available.push((name.clone(), *kind));
            }
        }
        for (name, c) in &def.sources[*si].constants {
            if !available.iter().any(|(n, _)| n == name) {
                let kind = const_value(c).kind().unwrap_or(FieldType::String);
                available.push((name.clone(), kind));
            }
        }
    }
    let available_names = || available.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let mut fields: Vec<FieldDef> = Vec::new();
    let mut sources_of: Vec<String> = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        let Some((_, src_kind)) = available.iter().find(|(n, _)| *n == f.source) else {
            return Err(IngestError::UnknownField {
                layer_file: def.file.clone(),
                key: format!("field[{i}].source"),
                field: f.source.clone(),
                available: available_names(),
            });
        };
        fields.push(FieldDef {
            name: f.output_name().to_string(),
            kind: f.kind.unwrap_or(*src_kind),
            label: f.label.clone(),
            values: f.values.clone(),
            internal: f.internal,
        });
        sources_of.push(f.source.clone());
    }
    if def.fields.is_empty() || def.keep_unlisted_fields {
        for (name, kind) in &available {
            let mapped = sources_of.contains(name) || fields.iter().any(|f| f.name == *name);
            if !mapped {
                fields.push(FieldDef {
                    name: name.clone(),
                    kind: *kind,
                    label: None,
                    values: BTreeMap::new(),
                    internal: false,
                });
                sources_of.push(name.clone());
            }
        }
    }
    Ok((fields, sources_of))
}

/// A `values` table none of whose codes occurs in the data labels nothing: usually a
/// spelling difference (第一種 vs 第1種) or codes of another scheme.
fn unmatched_values(fields: &[FieldDef], features: &[Feature]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if f.values.is_empty() {
            continue;
        }
        let mut seen: Vec<String> = Vec::new();
        let mut matched = false;
        for feat in features {
            let Some(k) = feat.values[i].key() else {
                continue;
            };
            if f.values.contains_key(&k) {
                matched = true;
                break;
            }
            if seen.len() < 3 && !seen.contains(&k) {
                seen.push(k);
            }
        }
        if !matched && !seen.is_empty() {
            out.push(format!(
                "field `{}`: none of its {} `values` codes occurs in the data, so no value gets a label (the data has e.g. {})",
                f.name,
                f.values.len(),
                seen.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out
}

/// A source value through a field's `map` and `scale`, before its type.
fn map_value(v: Value, cfg: Option<&crate::config::FieldCfg>) -> Value {
    let Some(cfg) = cfg else { return v };
    let v = match v.key().and_then(|k| cfg.map.get(&k)) {
        Some(c) => const_value(c),
        None => v,
    };
    let Some(s) = cfg.scale else { return v };
    let x = match &v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(t) => match t.trim().parse::<f64>() {
            Ok(x) => x,
            Err(_) => return v,
        },
        _ => return v,
    };
    // 0.6 × 100 is 60.000000000000007 in binary: round away what scaling added.
    let y = x * s;
    let r = (y * 1e9).round() / 1e9;
    Value::Float(r)
}

/// Turns raw source features into served features: values mapped, coerced and filtered.
#[allow(clippy::type_complexity)]
fn assemble(
    root: &Path,
    def: &LayerDef,
    raws: Vec<(usize, PathBuf, source::RawSource)>,
    fields: &[FieldDef],
    sources_of: &[String],
    filter: Option<&(usize, Vec<String>)>,
) -> (Vec<Feature>, Vec<SourceReport>, BTreeMap<String, usize>) {
    let mut features = Vec::new();
    let mut reports = Vec::new();
    let mut unconverted: BTreeMap<String, usize> = BTreeMap::new();
    for (pos, (si, file, raw)) in raws.into_iter().enumerate() {
        let cfg = &def.sources[si];
        let origins: Vec<Origin> = sources_of
            .iter()
            .map(|src| {
                if let Some(c) = cfg.constants.get(src) {
                    Origin::Constant(const_value(c))
                } else if let Some(j) = raw.fields.iter().position(|(n, _)| n == src) {
                    Origin::Field(j)
                } else {
                    Origin::Missing
                }
            })
            .collect();
        let base = (pos as u64) << 32;
        for rf in raw.features {
            let values: Box<[Value]> = origins
                .iter()
                .zip(fields)
                .enumerate()
                .map(|(i, (o, fd))| {
                    let v = match o {
                        Origin::Field(j) => rf.values.get(*j).cloned().unwrap_or(Value::Null),
                        Origin::Constant(v) => v.clone(),
                        Origin::Missing => Value::Null,
                    };
                    // Configured fields come first in the schema, in their file order.
                    let v = map_value(v, def.fields.get(i));
                    v.coerce(fd.kind).unwrap_or_else(|| {
                        *unconverted.entry(fd.name.clone()).or_default() += 1;
                        Value::Null
                    })
                })
                .collect();
            let public = filter.is_none_or(|(idx, allowed)| {
                values[*idx].key().is_some_and(|k| allowed.contains(&k))
            });
            let bbox = bbox_of(&rf.shape);
            features.push(Feature {
                id: base + rf.fid,
                shape: rf.shape,
                bbox,
                values: values.into(),
                public,
            });
        }
        reports.push(SourceReport {
            path: file
                .strip_prefix(root)
                .unwrap_or(&file)
                .to_string_lossy()
                .into_owned(),
            driver: raw.driver,
            layer: raw.layer_name,
            crs: raw.crs,
            encoding: raw.encoding,
            fields: raw.fields,
            stats: raw.stats,
        });
    }
    (features, reports, unconverted)
}

/// Every key of the layer file that names a served field names one that exists.
fn check_keys(def: &LayerDef, fields: &[FieldDef]) -> Result<()> {
    check_named_field(
        def,
        fields,
        "public_filter.field",
        def.public_filter.as_ref().map(|f| &f.field),
    )?;
    if let Some(h) = &def.hazard {
        check_named_field(def, fields, "hazard.rank_field", h.rank_field.as_ref())?;
        check_named_field(def, fields, "hazard.notice_field", h.notice_field.as_ref())?;
        check_named_field(def, fields, "hazard.date_field", h.date_field.as_ref())?;
    }
    if let Some(sh) = &def.shelter {
        check_named_field(def, fields, "shelter.name_field", Some(&sh.name_field))?;
        check_named_field(
            def,
            fields,
            "shelter.address_field",
            sh.address_field.as_ref(),
        )?;
        for (kind, f) in &sh.opens_for {
            let key = format!(
                "shelter.opens_for.{}",
                serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            );
            check_named_field(def, fields, &key, Some(f))?;
        }
    }
    for (i, f) in def.search.iter().enumerate() {
        check_named_field(def, fields, &format!("search[{i}]"), Some(f))?;
    }
    Ok(())
}

fn check_named_field(
    def: &LayerDef,
    fields: &[FieldDef],
    key: &str,
    name: Option<&String>,
) -> Result<()> {
    match name {
        Some(n) if !fields.iter().any(|f| f.name == *n) => Err(IngestError::UnknownField {
            layer_file: def.file.clone(),
            key: key.to_string(),
            field: n.clone(),
            available: fields.iter().map(|f| f.name.clone()).collect(),
        }),
        _ => Ok(()),
    }
}

fn bbox_of(shape: &Shape) -> PartBox {
    shape
        .part_boxes()
        .into_iter()
        .reduce(|a, b| a.union(&b))
        .unwrap_or(PartBox {
            min: geo::Coord { x: 0.0, y: 0.0 },
            max: geo::Coord { x: 0.0, y: 0.0 },
        })
}

/// Outcome of loading many layers.
pub struct Loaded {
    pub layers: Vec<Arc<LayerSnapshot>>,
    /// Layer id → error, for layers that failed.
    pub failed: BTreeMap<String, IngestError>,
}

/// Loads layers on a few threads (GDAL handles stay on the thread that opened them).
#[must_use]
pub fn load_all(root: &Path, defs: Vec<LayerDef>, threads: usize) -> Loaded {
    let defs: Vec<Arc<LayerDef>> = defs.into_iter().map(Arc::new).collect();
    let results = crate::par_map(&defs, threads, |def| {
        (def.id.to_string(), load_layer(root, Arc::clone(def), 1))
    });
    let mut layers = Vec::new();
    let mut failed = BTreeMap::new();
    for (id, r) in results {
        match r {
            Ok(s) => layers.push(Arc::new(s)),
            Err(e) => {
                failed.insert(id, e);
            }
        }
    }
    layers.sort_by(|a, b| a.def.id.cmp(&b.def.id));
    Loaded { layers, failed }
}
