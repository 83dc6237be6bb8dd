//! `chizu inspect FILE`: what chizu sees in a GIS file, and a starting layer TOML for it.

use std::fmt::Write as _;
use std::path::Path;

use gdal::vector::LayerAccess;

use super::source::{self, describe_srs};
use super::{IngestError, Result};
use crate::config::{GeometryKind, SourceCfg};

/// One layer of the inspected file.
#[derive(Debug, serde::Serialize)]
pub struct InspectedLayer {
    pub name: String,
    pub geometry: String,
    pub features: u64,
    pub crs: String,
    pub fields: Vec<(String, String)>,
    /// `[west, south, east, north]` in lon/lat, when the CRS is known.
    pub extent_lonlat: Option<[f64; 4]>,
    /// The first feature's attributes.
    pub sample: Vec<(String, String)>,
}

/// What `inspect` found.
#[derive(Debug, serde::Serialize)]
pub struct Inspection {
    pub file: String,
    pub driver: String,
    pub encoding: Option<super::DetectedEncoding>,
    pub layers: Vec<InspectedLayer>,
}

fn kind_of(geometry_name: &str) -> GeometryKind {
    let g = geometry_name.to_ascii_lowercase();
    if g.contains("point") {
        GeometryKind::Point
    } else if g.contains("line") {
        GeometryKind::Line
    } else {
        GeometryKind::Polygon
    }
}

/// Opens `path` as chizu would (same encoding and CSV rules) and describes it.
pub fn inspect(path: &Path) -> Result<Inspection> {
    let cfg = SourceCfg {
        path: path.to_string_lossy().into_owned(),
        layer: None,
        crs: None,
        encoding: None,
        lon_field: None,
        lat_field: None,
        constants: std::collections::BTreeMap::new(),
        filter: None,
        poll_seconds: None,
    };

    let (ds, encoding) = source::open(path, &cfg)?;
    let driver = ds.driver().short_name();
    let mut layers = Vec::new();
    for mut layer in ds.layers() {
        let name = layer.name();
        let defn_geom = layer.defn().geometry_type();
        let geometry = gdal::vector::geometry_type_to_name(defn_geom);
        let fields: Vec<(String, String)> = layer
            .defn()
            .fields()
            .map(|f| {
                (
                    source::clean_field_name(&f.name()),
                    gdal::vector::field_type_to_name(f.field_type()),
                )
            })
            .collect();
        let srs = layer.spatial_ref();
        let crs = match (
            &srs,
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
        ) {
            (Some(s), _) => describe_srs(s),
            (None, true) => "none stated; chizu assumes EPSG:4326 lon/lat for CSV".into(),
            (None, false) => "none (no .prj): set `crs` in the layer file".into(),
        };
        let features = layer.feature_count();
        let extent_lonlat = extent(&layer, &cfg, path);
        let sample = layer
            .features()
            .next()
            .map(|f| {
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, (n, _))| {
                        let v = match f.field(i) {
                            Ok(Some(v)) => plain(v),
                            _ => "null".into(),
                        };
                        (n.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        layers.push(InspectedLayer {
            name,
            geometry,
            features,
            crs,
            fields,
            extent_lonlat,
            sample,
        });
    }
    if layers.is_empty() {
        return Err(IngestError::Open {
            file: path.to_path_buf(),
            message: "no vector layers".into(),
        });
    }
    Ok(Inspection {
        file: path.to_string_lossy().into_owned(),
        driver,
        encoding,
        layers,
    })
}

/// A field value as a person would write it.
fn plain(v: gdal::vector::FieldValue) -> String {
    use gdal::vector::FieldValue as F;
    match v {
        F::StringValue(s) => format!("\"{s}\""),
        F::IntegerValue(i) => i.to_string(),
        F::Integer64Value(i) => i.to_string(),
        F::RealValue(r) => r.to_string(),
        F::DateValue(d) => format!("{d:?}"),
        F::DateTimeValue(d) => format!("{d:?}"),
        other => format!("{other:?}"),
    }
}

fn extent(layer: &gdal::vector::Layer<'_>, cfg: &SourceCfg, path: &Path) -> Option<[f64; 4]> {
    let env = layer.get_extent().ok()?;
    let (srs, _) = source::source_srs(path, layer.spatial_ref(), cfg).ok()?;
    let mut wgs = gdal::spatial_ref::SpatialRef::from_epsg(4326).ok()?;
    wgs.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    let ct = gdal::spatial_ref::CoordTransform::new(&srs, &wgs).ok()?;
    let mut xs = [env.MinX, env.MaxX];
    let mut ys = [env.MinY, env.MaxY];
    ct.transform_coords(&mut xs, &mut ys, &mut []).ok()?;
    Some([xs[0], ys[0], xs[1], ys[1]])
}

/// A layer id from words of a file or layer name: lowercase ASCII words joined by `_`, or
/// `None` when the name has none worth using (Japanese file names).
fn slug(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let s = words.join("_");
    let letters = s.chars().filter(char::is_ascii_alphabetic).count();
    (letters >= 2 || (s.len() >= 3 && !words.is_empty())).then(|| s.chars().take(48).collect())
}

/// A unique starting id for layer `layer` of a dataset at `root_relative_path`, not in
/// `taken` (which it joins): the file name's ASCII words, the layer's name for a file of
/// several layers, else `layer_N`; `_2`, `_3` … where two would collide.
pub fn starter_id(
    ins: &Inspection,
    layer: usize,
    root_relative_path: &str,
    taken: &mut std::collections::BTreeSet<String>,
) -> String {
    let stem = Path::new(root_relative_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let layer_name = ins.layers.get(layer).map_or("", |l| l.name.as_str());
    let file = slug(&stem);
    let part = slug(layer_name);
    let base = match (file, part, ins.layers.len() > 1) {
        (Some(f), Some(p), true) if f != p => format!("{f}_{p}"),
        (Some(f), _, _) => f,
        (None, Some(p), _) => p,
        (None, None, _) => "layer".to_string(),
    };
    let base = if base == "layer" {
        format!("layer_{}", taken.len() + 1)
    } else {
        base
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) || crate::config::LayerId::parse(&id).is_err() {
        id = format!("{base}_{n}");
        n += 1;
        if n > 10_000 {
            id = format!("layer_{}", taken.len() + 1);
            break;
        }
    }
    taken.insert(id.clone());
    id
}

/// A starting `layers/*.toml` for layer `layer` of the inspected file, with id `id`.
#[must_use]
pub fn starter_toml(ins: &Inspection, layer: usize, id: &str, root_relative_path: &str) -> String {
    let mut t = String::new();
    let Some(l) = ins.layers.get(layer) else {
        return t;
    };
    let kind = match kind_of(&l.geometry) {
        GeometryKind::Point => "point",
        GeometryKind::Line => "line",
        GeometryKind::Polygon => "polygon",
    };
    let _ = writeln!(
        t,
        "# Starting layer file from `chizu inspect`; saved as layers/{id}.toml. Edit the TODOs,\n# then `chizu check` (it warns about every TODO left)."
    );
    let _ = writeln!(t, "id = \"{id}\"");
    let _ = writeln!(
        t,
        "title = {{ ja = \"{}\", en = \"TODO English title\" }}",
        toml_text(&l.name)
    );
    let _ = writeln!(
        t,
        "category = \"kihon\"  # bousai | toshi-keikaku | douro | shisetsu | kihon"
    );
    let _ = writeln!(t, "geometry = \"{kind}\"  # detected: {}", l.geometry);
    let _ = writeln!(
        t,
        "access = {{ view = \"internal\", roles = [] }}  # TODO: the roles that may see it, or {{ view = \"public\" }}"
    );
    let _ = writeln!(
        t,
        "\n[[source]]\npath = \"{}\"",
        toml_text(&root_relative_path.replace('\\', "/"))
    );
    if ins.layers.len() > 1 {
        let _ = writeln!(t, "layer = \"{}\"", toml_text(&l.name));
    }
    if let Some(e) = &ins.encoding {
        let _ = writeln!(t, "# encoding detected: {} ({})", e.name, e.origin);
    }
    if l.crs.starts_with("none") && !l.crs.contains("CSV") {
        let _ = writeln!(t, "crs = \"EPSG:2450\"  # TODO: no .prj: state the CRS (2443–2461: plane rectangular I–XIX)");
    }
    for (name, ty) in &l.fields {
        let kind = match ty.as_str() {
            "Integer" | "Integer64" => "integer",
            "Real" => "float",
            _ => "string",
        };
        let name = toml_text(name);
        let _ = writeln!(
            t,
            "\n[[field]]\nsource = \"{name}\"\ntype = \"{kind}\"\nlabel = {{ ja = \"{name}\", en = \"{name}\" }}"
        );
    }
    t
}

/// Text safe inside a TOML basic string.
fn toml_text(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}

/// Extensions of files GDAL reads as vector datasets (sidecars such as `.dbf` excluded).
const DATASET_EXTENSIONS: [&str; 14] = [
    "shp", "geojson", "json", "gpkg", "csv", "kml", "kmz", "gml", "gpx", "dxf", "fgb", "tab",
    "sqlite", "topojson",
];

/// Every file under `dir` (recursively, sorted) that looks like a vector dataset.
#[must_use]
pub fn datasets_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(std::result::Result::ok) {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file()
                && p.extension()
                    .is_some_and(|x| DATASET_EXTENSIONS.iter().any(|d| x.eq_ignore_ascii_case(d)))
                && !super::is_side_file(&p)
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// For tests and the CLI: the value of a sample attribute, if present.
#[must_use]
pub fn sample_value<'a>(layer: &'a InspectedLayer, field: &str) -> Option<&'a str> {
    layer
        .sample
        .iter()
        .find(|(n, _)| n == field)
        .map(|(_, v)| v.as_str())
}
