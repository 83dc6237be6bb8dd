//! Reading one source file with GDAL: open with the right encoding and CSV options,
//! find its CRS, reproject every feature to EPSG:3857 in lon/lat–east/north axis order,
//! repair invalid geometries, and read attributes.
//!
//! GDAL handles (datasets, transforms) are not `Sync`: everything here runs on the
//! calling thread and nothing GDAL-owned leaves this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gdal::cpl::CslStringList;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{FieldValue, LayerAccess, OGRFieldType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use super::encoding::{self, DetectedEncoding};
use super::geometry::{to_shape, Outcome};
use super::{IngestError, Result};
use crate::config::{GeometryKind, SourceCfg};
use crate::store::{FieldType, Shape, Value};

/// Longitude column names tried for CSV, in order (GDAL matches case-insensitively).
const LON_NAMES: &str = "経度,lon,lng,long,longitude,x";
/// Latitude column names tried for CSV.
const LAT_NAMES: &str = "緯度,lat,latitude,y";
/// CRS assumed for CSV coordinates when the file states none.
const CSV_DEFAULT_EPSG: u32 = 4326;

/// How the CRS was found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CrsInfo {
    /// e.g. `EPSG:2450 JGD2000 / Japan Plane Rectangular CS VIII`.
    pub description: String,
    /// `file`, `table` (a database's geometry column), `override` or `assumed`.
    pub origin: &'static str,
}

/// What one source file gave.
#[derive(Debug)]
pub struct RawSource {
    pub driver: String,
    pub layer_name: String,
    pub crs: CrsInfo,
    pub encoding: Option<DetectedEncoding>,
    /// Decoded field names and types, in file order.
    pub fields: Vec<(String, FieldType)>,
    pub features: Vec<RawFeature>,
    pub stats: SourceStats,
}

/// One feature as read: FID, geometry in EPSG:3857, values aligned with `RawSource::fields`.
#[derive(Debug)]
pub struct RawFeature {
    pub fid: u64,
    pub shape: Shape,
    pub values: Vec<Value>,
}

/// Counts for the report.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SourceStats {
    pub read: usize,
    pub kept: usize,
    /// Invalid geometries made valid by GEOS.
    pub repaired: usize,
    /// Features kept without some unusable parts (parts of another kind, collapsed rings).
    pub trimmed: usize,
    pub dropped: usize,
    /// Why features were dropped, with counts.
    pub drop_reasons: BTreeMap<String, usize>,
    /// The first few feature ids (FIDs in the file) per drop reason, and under `repaired`
    /// and `trimmed`, so a person can find them in GIS software.
    pub examples: BTreeMap<String, Vec<u64>>,
}

/// How many feature ids [`SourceStats::examples`] keeps per reason.
pub const EXAMPLE_IDS: usize = 5;

impl SourceStats {
    fn drop(&mut self, why: &str, fid: u64) {
        self.dropped += 1;
        *self.drop_reasons.entry(why.to_string()).or_default() += 1;
        self.example(why, fid);
    }

    fn example(&mut self, why: &str, fid: u64) {
        let ids = self.examples.entry(why.to_string()).or_default();
        if ids.len() < EXAMPLE_IDS {
            ids.push(fid);
        }
    }

    /// Adds another file's counts (for a layer's totals).
    pub fn add(&mut self, o: &SourceStats) {
        self.read += o.read;
        self.kept += o.kept;
        self.repaired += o.repaired;
        self.trimmed += o.trimmed;
        self.dropped += o.dropped;
        for (k, v) in &o.drop_reasons {
            *self.drop_reasons.entry(k.clone()).or_default() += v;
        }
        for (k, ids) in &o.examples {
            let mine = self.examples.entry(k.clone()).or_default();
            mine.extend(ids.iter().take(EXAMPLE_IDS.saturating_sub(mine.len())));
        }
    }
}

fn is_gml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gml") || e.eq_ignore_ascii_case("xml"))
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// GDAL's dataset name for a database source. GDAL adds ` application_name='GDAL …'` to a
/// connection string that has none, which turns a URI into a wrong database name: a URI gets
/// chizu's own `application_name` (also what `pg_stat_activity` shows).
fn gdal_database_name(conn: &str) -> String {
    let is_uri = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    if !is_uri || conn.contains("application_name") {
        return format!("PG:{conn}");
    }
    let sep = if conn.contains('?') { '&' } else { '?' };
    format!("PG:{conn}{sep}application_name=chizu")
}

/// Opens a database source; `shown` (its password hidden) names it in errors.
fn open_database(conn: &str, shown: &Path) -> Result<Dataset> {
    Dataset::open_ex(
        gdal_database_name(conn),
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            allowed_drivers: Some(&["PostgreSQL"]),
            ..DatasetOptions::default()
        },
    )
    .map_err(|e| IngestError::Open {
        file: shown.to_path_buf(),
        message: format!(
            "cannot connect: {} (a password goes in PGPASSWORD or ~/.pgpass)",
            crate::config::redact_connection(&e.to_string())
        ),
    })
}

/// A quoted SQL name for a table given as `table` or `schema.table`.
fn quoted_table(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// What a database source's table holds now, cheaply: its row count and newest row
/// version (`xmin`; every insert, update and delete changes one of them), or for a view,
/// a digest of its rows. Equal signatures mean nothing to read again.
pub fn database_signature(cfg: &SourceCfg) -> Result<String> {
    let (Some(conn), Some(table)) = (cfg.database(), cfg.layer.as_deref()) else {
        return Ok(String::new());
    };
    let shown = PathBuf::from(cfg.shown_path());
    let ds = open_database(conn, &shown)?;
    let t = quoted_table(table);
    let queries = [
        format!("SELECT count(*)::text || ':' || coalesce(max(xmin::text::bigint), 0)::text AS s FROM {t}"),
        format!("SELECT count(*)::text || ':' || coalesce(md5(string_agg(md5(r::text), '' ORDER BY md5(r::text))), '') AS s FROM {t} r"),
    ];
    let mut last = String::new();
    for q in &queries {
        let _ = take_gdal_failures();
        match ds.execute_sql(q, None, gdal::vector::sql::Dialect::DEFAULT) {
            Ok(Some(mut rs)) => {
                if let Some(f) = rs.features().next() {
                    if let Ok(Some(v)) = f.field_as_string(0) {
                        return Ok(v);
                    }
                }
                last = "no answer".into();
            }
            Ok(None) => last = "no answer".into(),
            Err(e) => last = e.to_string(),
        }
        if let (1.., Some(first)) = take_gdal_failures() {
            last = first;
        }
    }
    Err(IngestError::Open {
        file: shown,
        message: format!("cannot ask table `{table}` whether it changed: {last}"),
    })
}

/// Opens `path` as GDAL would for chizu: vector only, with the encoding and CSV options decided here.
pub fn open(path: &Path, cfg: &SourceCfg) -> Result<(Dataset, Option<DetectedEncoding>)> {
    if let Some(conn) = cfg.database() {
        return Ok((open_database(conn, path)?, None));
    }
    if !path.exists() {
        return Err(IngestError::Open {
            file: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    check_dbf(path)?;
    check_shapefile(path)?;
    if is_csv(path) {
        check_csv(path)?;
    }
    let enc = encoding::detect(path, cfg.encoding).map_err(|e| IngestError::Open {
        file: path.to_path_buf(),
        message: format!("cannot read the DBF to decide its encoding: {e}"),
    })?;
    let mut opts: Vec<String> = Vec::new();
    if let Some(e) = &enc {
        opts.push(format!("ENCODING={}", e.name));
    }
    if is_csv(path) {
        let lon = cfg
            .lon_field
            .clone()
            .unwrap_or_else(|| LON_NAMES.to_string());
        let lat = cfg
            .lat_field
            .clone()
            .unwrap_or_else(|| LAT_NAMES.to_string());
        opts.push(format!("X_POSSIBLE_NAMES={lon}"));
        opts.push(format!("Y_POSSIBLE_NAMES={lat}"));
        opts.push("AUTODETECT_TYPE=YES".into());
        opts.push("EMPTY_STRING_AS_NULL=YES".into());
    }
    // GDAL's GML driver otherwise writes a `.gfs` schema beside the file: into the city's
    // `data/` (or fails on a read-only share), and the write would look like a change.
    if is_gml(path) {
        opts.push("WRITE_GFS=NO".into());
    }
    let opt_refs: Vec<&str> = opts.iter().map(String::as_str).collect();
    let ds = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: (!opt_refs.is_empty()).then_some(opt_refs.as_slice()),
            ..DatasetOptions::default()
        },
    )
    .map_err(|e| IngestError::Open {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok((ds, enc))
}

/// A Shapefile's DBF must be as long as its header says: GDAL opens a truncated one
/// without complaint and reads no fields or fewer records, which would silently lose data.
fn check_dbf(path: &Path) -> Result<()> {
    let is_shp = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("shp") || e.eq_ignore_ascii_case("dbf"));
    if !is_shp {
        return Ok(());
    }
    let Some(dbf) = ["dbf", "DBF"]
        .iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.exists())
    else {
        return Ok(());
    };
    let bad = |message: String| {
        Err(IngestError::Open {
            file: dbf.clone(),
            message,
        })
    };
    // The header's first 12 bytes and the file's size are all this needs: no reason to
    // read megabytes of records that GDAL reads again right after.
    let io = |e: std::io::Error| IngestError::Open {
        file: dbf.clone(),
        message: e.to_string(),
    };
    let mut f = std::fs::File::open(&dbf).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if size < 32 {
        return bad(format!(
            "truncated .dbf: {size} bytes, shorter than its 32-byte header"
        ));
    }
    let mut bytes = [0u8; 12];
    std::io::Read::read_exact(&mut f, &mut bytes).map_err(io)?;
    let records = u64::from(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
    let header = u64::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let record = u64::from(u16::from_le_bytes([bytes[10], bytes[11]]));
    let expected = header + records * record;
    if size < expected {
        return bad(format!(
            "truncated .dbf: its header promises {records} records ({expected} bytes) but the file has {size} bytes"
        ));
    }
    Ok(())
}

/// A big-endian `u32` at `at` of a header.
fn be32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

/// A Shapefile's three parts must agree: the `.shp` and `.shx` as long as their headers
/// say, the `.shx` index pointing inside the `.shp`, and the `.dbf` holding as many records
/// as the `.shx` indexes. GDAL reads a truncated `.shp` (or a `.dbf` whose record count
/// was edited to match its cut) without complaint, serving part of the layer as if whole.
fn check_shapefile(path: &Path) -> Result<()> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("shp"))
    {
        return Ok(());
    }
    let find = |ext: &str| {
        [ext.to_string(), ext.to_ascii_uppercase()]
            .iter()
            .map(|e| path.with_extension(e))
            .find(|p| p.exists())
    };
    let bad = |file: &Path, message: String| {
        Err(IngestError::Open {
            file: file.to_path_buf(),
            message,
        })
    };
    let io = |file: &Path, e: std::io::Error| IngestError::Open {
        file: file.to_path_buf(),
        message: e.to_string(),
    };
    let header = |file: &Path| -> Result<(Vec<u8>, u64)> {
        use std::io::Read as _;
        let mut f = std::fs::File::open(file).map_err(|e| io(file, e))?;
        let size = f.metadata().map_err(|e| io(file, e))?.len();
        let mut h = vec![0u8; 100];
        if size < 100 {
            return Ok((Vec::new(), size));
        }
        f.read_exact(&mut h).map_err(|e| io(file, e))?;
        Ok((h, size))
    };
    let (shp_head, shp_size) = header(path)?;
    if shp_head.is_empty() {
        return bad(
            path,
            format!("truncated .shp: {shp_size} bytes, shorter than its 100-byte header"),
        );
    }
    let shp_len = be32(&shp_head, 24) * 2;
    if shp_size < shp_len {
        return bad(
            path,
            format!("truncated .shp: its header says {shp_len} bytes but the file has {shp_size}"),
        );
    }
    let Some(shx) = find("shx") else {
        return Ok(());
    };
    let (shx_head, shx_size) = header(&shx)?;
    if shx_head.is_empty() {
        return bad(
            &shx,
            format!("truncated .shx: {shx_size} bytes, shorter than its 100-byte header"),
        );
    }
    let shx_len = be32(&shx_head, 24) * 2;
    if shx_size < shx_len || (shx_len - 100) % 8 != 0 {
        return bad(
            &shx,
            format!("truncated .shx: its header says {shx_len} bytes but the file has {shx_size}"),
        );
    }
    let records = (shx_len - 100) / 8;
    if records > 0 {
        use std::io::{Read as _, Seek as _};
        let mut f = std::fs::File::open(&shx).map_err(|e| io(&shx, e))?;
        f.seek(std::io::SeekFrom::Start(100 + (records - 1) * 8))
            .map_err(|e| io(&shx, e))?;
        let mut last = [0u8; 8];
        f.read_exact(&mut last).map_err(|e| io(&shx, e))?;
        let end = be32(&last, 0) * 2 + 8 + be32(&last, 4) * 2;
        if end > shp_size {
            return bad(path, format!("truncated .shp: record {records} ends at byte {end} but the file has {shp_size}"));
        }
    }
    if let Some(dbf) = find("dbf") {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&dbf).map_err(|e| io(&dbf, e))?;
        let mut h = [0u8; 8];
        if f.read_exact(&mut h).is_ok() {
            let in_dbf = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
            if in_dbf != records {
                return bad(&dbf, format!("the .dbf holds {in_dbf} records but the .shx indexes {records} shapes: one of the files is partial or from another version"));
            }
        }
    }
    Ok(())
}

/// Fields in one CSV line, and whether it ends inside a quoted field.
fn csv_fields(line: &str, mut quoted: bool) -> (usize, bool) {
    let mut n = 1;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => n += 1,
            _ => {}
        }
    }
    (n, quoted)
}

/// A CSV must end at the end of a record: a file cut in the middle (a copy still being
/// written, a disk that filled up) leaves a last line with fewer fields, or a quote open.
fn check_csv(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::Open {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let Some(header) = lines.next() else {
        return Ok(());
    };
    let (want, _) = csv_fields(header, false);
    let (mut number, mut last) = (1usize, None);
    let mut quoted = false;
    let mut got = 0;
    for line in lines {
        number += 1;
        if line.is_empty() && !quoted {
            continue;
        }
        let (n, q) = csv_fields(line, quoted);
        got = if quoted { got + n - 1 } else { n };
        quoted = q;
        if !quoted {
            last = Some((number, got));
        }
    }
    let bad = |message: String| {
        Err(IngestError::Open {
            file: path.to_path_buf(),
            message,
        })
    };
    if quoted {
        return bad(format!(
            "the CSV ends inside a quoted field (line {number}): the file is cut short"
        ));
    }
    match last {
        Some((line, n)) if n < want => bad(format!(
            "the CSV ends mid-record: line {line} has {n} of the header's {want} fields; the file is cut short"
        )),
        _ => Ok(()),
    }
}

thread_local! {
    /// GDAL failures reported on this thread since the last [`take_gdal_failures`].
    static GDAL_FAILURES: std::cell::RefCell<(usize, Option<String>)> = const { std::cell::RefCell::new((0, None)) };
}

/// Notes a GDAL failure (`CE_Failure`) on the calling thread: reads in progress on it
/// fail instead of serving what was read before the error.
pub fn note_gdal_failure(message: &str) {
    GDAL_FAILURES.with(|f| {
        let mut f = f.borrow_mut();
        f.0 += 1;
        if f.1.is_none() {
            f.1 = Some(message.to_string());
        }
    });
}

/// How many GDAL failures this thread has seen since the last take.
fn gdal_failure_mark() -> usize {
    GDAL_FAILURES.with(|f| f.borrow().0)
}

/// Forgets failures after `mark`: those raised by chizu's own calls on one feature
/// (a repair or reprojection GDAL refused, already counted as a dropped feature).
fn forget_gdal_failures_since(mark: usize) {
    GDAL_FAILURES.with(|f| {
        let mut f = f.borrow_mut();
        if f.0 > mark {
            f.0 = mark;
            if mark == 0 {
                f.1 = None;
            }
        }
    });
}

/// GDAL failures on this thread since the last call: how many, and the first message.
fn take_gdal_failures() -> (usize, Option<String>) {
    GDAL_FAILURES.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

/// A field name as decoded, minus the tail of a multi-byte character cut at DBF's
/// 10-byte limit (GDAL hands those over as invalid bytes, seen as U+FFFD).
#[must_use]
pub fn clean_field_name(name: &str) -> String {
    name.trim_end_matches('\u{FFFD}').trim().to_string()
}

fn field_type(t: OGRFieldType::Type) -> FieldType {
    match t {
        OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 => FieldType::Integer,
        OGRFieldType::OFTReal => FieldType::Float,
        _ => FieldType::String,
    }
}

/// The layer's CRS, with traditional GIS axis order, and how it was found.
pub fn source_srs(
    path: &Path,
    layer_srs: Option<SpatialRef>,
    cfg: &SourceCfg,
) -> Result<(SpatialRef, CrsInfo)> {
    let crs_err = |message: String| IngestError::Crs {
        file: path.to_path_buf(),
        message,
    };
    let (mut srs, origin) = if let Some(code) = cfg.crs {
        let s = SpatialRef::from_epsg(code.0).map_err(|e| {
            crs_err(format!(
                "EPSG:{} from the layer file is not known to PROJ: {e}",
                code.0
            ))
        })?;
        (s, "override")
    } else if let Some(s) = layer_srs {
        (
            s,
            if cfg.database().is_some() {
                "table"
            } else {
                "file"
            },
        )
    } else if is_csv(path) {
        let s = SpatialRef::from_epsg(CSV_DEFAULT_EPSG).map_err(|e| crs_err(e.to_string()))?;
        (s, "assumed")
    } else {
        return Err(crs_err(
            "the file states no CRS (no .prj?); add `crs = \"EPSG:nnnn\"` to its [[source]] (e.g. 2450 for JGD2000 plane rectangular zone VIII, 6668 for JGD2011 lon/lat)".into(),
        ));
    };
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let description = describe_srs(&srs);
    Ok((
        srs,
        CrsInfo {
            description,
            origin,
        },
    ))
}

/// `EPSG:2450 JGD2000 / Japan Plane Rectangular CS VIII`, or just the name when no code is found.
#[must_use]
pub fn describe_srs(srs: &SpatialRef) -> String {
    let name = srs.name().unwrap_or_else(|| "unnamed CRS".into());
    let code = srs.auth_code().ok().or_else(|| {
        let mut c = srs.clone();
        c.auto_identify_epsg().ok()?;
        c.auth_code().ok()
    });
    match code {
        Some(c) => format!("EPSG:{c} {name}"),
        None => name,
    }
}

/// EPSG:3857 with traditional axis order.
pub fn web_mercator() -> Result<SpatialRef> {
    let mut s = SpatialRef::from_epsg(3857).map_err(|e| IngestError::Crs {
        file: "EPSG:3857".into(),
        message: e.to_string(),
    })?;
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(s)
}

/// Reads one source file completely (a large one with helper threads; see [`helpers_for`]).
pub fn read(path: &Path, cfg: &SourceCfg, kind: GeometryKind) -> Result<RawSource> {
    read_with(path, cfg, kind, true)
}

/// [`read`], on this thread alone unless `parallel`.
fn read_with(
    path: &Path,
    cfg: &SourceCfg,
    kind: GeometryKind,
    parallel: bool,
) -> Result<RawSource> {
    let (ds, enc) = open(path, cfg)?;
    let driver = ds.driver().short_name();
    let mut layer = if let Some(name) = &cfg.layer {
        ds.layer_by_name(name).map_err(|_| IngestError::NoLayer {
            file: path.to_path_buf(),
            wanted: name.clone(),
            available: ds.layers().map(|l| l.name()).collect(),
        })?
    } else {
        if ds.layer_count() != 1 {
            return Err(IngestError::NoLayer {
                file: path.to_path_buf(),
                wanted: String::new(),
                available: ds.layers().map(|l| l.name()).collect(),
            });
        }
        ds.layer(0).map_err(|e| IngestError::Open {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?
    };
    let layer_name = layer.name();
    if let Some(w) = &cfg.filter {
        layer
            .set_attribute_filter(w)
            .map_err(|e| IngestError::Open {
                file: path.to_path_buf(),
                message: format!("`where = \"{w}\"` is not a condition GDAL can apply to layer `{layer_name}`: {e}"),
            })?;
    }
    let (srs, crs) = source_srs(path, layer.spatial_ref(), cfg)?;
    let target = web_mercator()?;
    let transform = CoordTransform::new(&srs, &target).map_err(|e| IngestError::Crs {
        file: path.to_path_buf(),
        message: format!(
            "no transformation from {} to EPSG:3857: {e}",
            crs.description
        ),
    })?;
    let fields: Vec<(String, FieldType)> = layer
        .defn()
        .fields()
        .map(|f| (clean_field_name(&f.name()), field_type(f.field_type())))
        .collect();
    let mut stats = SourceStats::default();
    let repair_opts = repair_options();
    let _ = take_gdal_failures();
    let helpers = parallel.then(|| helpers_for(path, &layer, &srs)).flatten();
    let features = if let Some((helpers, wkt)) = helpers {
        read_in_parallel(
            path,
            &mut layer,
            fields.len(),
            kind,
            (helpers, &wkt),
            &mut stats,
        )?
    } else {
        let mut features = Vec::new();
        for (n, feature) in layer.features().enumerate() {
            stats.read += 1;
            // Failures from here to the end of this feature are chizu's own calls on it.
            let mark = gdal_failure_mark();
            let fid = feature.fid().unwrap_or(n as u64);
            let shape = if let Some(g) = feature.geometry() {
                shape_of(g, fid, &repair_opts, &transform, kind, &mut stats)
            } else {
                stats.drop("no geometry", fid);
                None
            };
            forget_gdal_failures_since(mark);
            let Some(shape) = shape else {
                continue;
            };
            stats.kept += 1;
            let values = (0..fields.len()).map(|i| read_value(&feature, i)).collect();
            features.push(RawFeature { fid, shape, values });
        }
        features
    };
    // A read error part-way (`Error in fread()` on a cut file) ends GDAL's feature loop
    // early as if the layer were done: what was read must not pass for the whole file.
    if let (n @ 1.., first) = take_gdal_failures() {
        return Err(IngestError::Open {
            file: path.to_path_buf(),
            message: format!(
                "GDAL reported {n} read error(s) after {} features: {}",
                stats.read,
                first.unwrap_or_default()
            ),
        });
    }
    Ok(RawSource {
        driver,
        layer_name,
        crs,
        encoding: enc,
        fields,
        features,
        stats,
    })
}

/// GEOS's "structure" `MakeValid` (GEOS ≥ 3.10) rebuilds polygons from their rings; on
/// raster-derived flood squares (thousands per layer) it is ~10× faster than the default
/// "linework" method, which nodes every segment against every other.
fn repair_options() -> CslStringList {
    let mut opts = CslStringList::new();
    let _ = opts.set_name_value("METHOD", "STRUCTURE");
    opts
}

/// Features per batch handed to a helper thread.
const BATCH: usize = 256;

/// Files with fewer features are read on one thread (helpers would not pay for themselves;
/// a few thousand can be worth it: flood areas of hundreds of vertices each that GEOS must
/// repair).
const PARALLEL_FROM: u64 = 2_000;

/// … or files smaller than this, when the driver cannot count cheaply.
const PARALLEL_FROM_BYTES: u64 = 2_000_000;

/// How many helper threads share the geometry work of reading `layer` (repair,
/// reprojection, conversion — most of a load after parsing), and the source CRS as WKT for
/// them to build their own transformation (GDAL's objects stay on the thread that made
/// them). `None` — read on this thread alone — for a small file, a file whose count is not
/// known cheaply and under 2 MB, one core, or a CRS that does not survive the round trip through WKT.
fn helpers_for(
    path: &Path,
    layer: &gdal::vector::Layer<'_>,
    srs: &SpatialRef,
) -> Option<(usize, String)> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    // GeoJSON does not know its count cheaply: its size says as much.
    let big = layer
        .try_feature_count()
        .is_some_and(|n| n >= PARALLEL_FROM)
        || std::fs::metadata(path).is_ok_and(|m| m.len() >= PARALLEL_FROM_BYTES);
    if cores < 2 || !big {
        return None;
    }
    let wkt = srs.to_wkt().ok()?;
    let again = srs_from_wkt(&wkt)?;
    // As many helpers as cores: the reading thread waits while they work on a file whose
    // geometry costs more than its parsing.
    (again == *srs).then(|| (cores.min(8), wkt))
}

/// One feature as the reading thread hands it on: its geometry as WKB.
struct Job {
    fid: u64,
    /// `None` without a geometry; why it cannot be passed on (empty …).
    wkb: Option<std::result::Result<Vec<u8>, &'static str>>,
    values: Vec<Value>,
}

/// Reads `layer` on this thread (parsing, attributes) while `helpers` threads turn the
/// geometries into shapes, batch by batch; the features come out in file order, and the
/// counts and example ids are those a single thread would give.
fn read_in_parallel(
    path: &Path,
    layer: &mut gdal::vector::Layer<'_>,
    n_fields: usize,
    kind: GeometryKind,
    (helpers, wkt): (usize, &str),
    stats: &mut SourceStats,
) -> Result<Vec<RawFeature>> {
    type Done = (usize, Vec<RawFeature>, SourceStats);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<Job>)>(helpers * 2);
    let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
    let mut done: Vec<Done> = std::thread::scope(|s| {
        for _ in 0..helpers {
            let (job_rx, done_tx) = (Arc::clone(&job_rx), done_tx.clone());
            s.spawn(move || {
                // If the CRS cannot be built here (it was rebuilt from the same WKT on the
                // reading thread first), this helper leaves; when all have, the reader's
                // next send fails and the file is refused with a CRS error.
                let Some(transform) = transform_from_wkt(wkt) else {
                    return;
                };
                let opts = repair_options();
                loop {
                    let next = job_rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((i, jobs)) = next else { break };
                    let mut stats = SourceStats::default();
                    let mut out = Vec::with_capacity(jobs.len());
                    for job in jobs {
                        let mark = gdal_failure_mark();
                        let geom = match job.wkb {
                            None => Err("no geometry"),
                            Some(Err(why)) => Err(why),
                            Some(Ok(w)) => gdal::vector::Geometry::from_wkb(&w)
                                .map_err(|_| "geometry type chizu cannot read (curve or TIN?)"),
                        };
                        let shape = match geom {
                            Ok(g) => shape_of(&g, job.fid, &opts, &transform, kind, &mut stats),
                            Err(why) => {
                                stats.drop(why, job.fid);
                                None
                            }
                        };
                        forget_gdal_failures_since(mark);
                        if let Some(shape) = shape {
                            stats.kept += 1;
                            out.push(RawFeature {
                                fid: job.fid,
                                shape,
                                values: job.values,
                            });
                        }
                    }
                    if done_tx.send((i, out, stats)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, done_tx));
        let mut batch = Vec::with_capacity(BATCH);
        let mut sent = 0;
        for (n, feature) in layer.features().enumerate() {
            stats.read += 1;
            let fid = feature.fid().unwrap_or(n as u64);
            // Failures here are chizu's own calls, not read errors of the file.
            let mark = gdal_failure_mark();
            let wkb = feature.geometry().map(|g| {
                if g.is_empty() {
                    Err("empty geometry")
                } else {
                    g.wkb()
                        .map_err(|_| "geometry type chizu cannot read (curve or TIN?)")
                }
            });
            forget_gdal_failures_since(mark);
            let values = (0..n_fields).map(|i| read_value(&feature, i)).collect();
            batch.push(Job { fid, wkb, values });
            if batch.len() == BATCH {
                if job_tx.send((sent, std::mem::take(&mut batch))).is_err() {
                    return None;
                }
                sent += 1;
            }
        }
        if !batch.is_empty() {
            if job_tx.send((sent, batch)).is_err() {
                return None;
            }
            sent += 1;
        }
        drop(job_tx);
        let done: Vec<Done> = done_rx.iter().collect();
        (done.len() == sent).then_some(done)
    })
    .ok_or_else(|| IngestError::Crs {
        file: path.to_path_buf(),
        message: "the source CRS could not be rebuilt on a reading thread".into(),
    })?;
    done.sort_unstable_by_key(|d| d.0);
    let mut features = Vec::with_capacity(done.iter().map(|d| d.1.len()).sum());
    for (_, part, s) in done {
        features.extend(part);
        let read = stats.read;
        stats.add(&s);
        stats.read = read;
    }
    Ok(features)
}

/// A CRS given as WKT, with the axis order [`source_srs`] gives every source.
fn srs_from_wkt(wkt: &str) -> Option<SpatialRef> {
    let mut srs = SpatialRef::from_wkt(wkt).ok()?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Some(srs)
}

/// The transformation from a CRS given as WKT to EPSG:3857, as [`read`] builds it.
fn transform_from_wkt(wkt: &str) -> Option<CoordTransform> {
    CoordTransform::new(&srs_from_wkt(wkt)?, &web_mercator().ok()?).ok()
}

/// One feature's geometry, repaired, in EPSG:3857 and of the layer's kind; `None` (and
/// counted in `stats`) when it has to be dropped.
fn shape_of(
    geom: &gdal::vector::Geometry,
    fid: u64,
    repair_opts: &CslStringList,
    transform: &CoordTransform,
    kind: GeometryKind,
    stats: &mut SourceStats,
) -> Option<Shape> {
    if geom.is_empty() {
        stats.drop("empty geometry", fid);
        return None;
    }
    let (geom, repaired) = match repair(geom, repair_opts) {
        Ok(Some(fixed)) => (std::borrow::Cow::Owned(fixed), true),
        Ok(None) => (std::borrow::Cow::Borrowed(geom), false),
        Err(()) => {
            stats.drop("invalid geometry that GEOS could not repair", fid);
            return None;
        }
    };
    let Ok(mut projected) = geom.transform(transform) else {
        stats.drop(
            "reprojection to EPSG:3857 failed (coordinates outside the CRS's area?)",
            fid,
        );
        return None;
    };
    // Drop Z (3D polygons of 内水浸水想定区域): the `geo` conversion reads 2D types only.
    projected.flatten_to_2d();
    let Ok(g) = projected.to_geo() else {
        stats.drop("geometry type chizu cannot read (curve or TIN?)", fid);
        return None;
    };
    let (shape, outcome) = to_shape(g, kind);
    let Some(shape) = shape else {
        if let Outcome::Dropped(why) = outcome {
            stats.drop(why, fid);
        }
        return None;
    };
    if repaired {
        stats.repaired += 1;
        stats.example("repaired", fid);
    }
    if outcome == Outcome::Trimmed {
        stats.trimmed += 1;
        stats.example("trimmed", fid);
    }
    Some(shape)
}

/// Makes a geometry valid where GEOS says it is not; `Ok(None)` when it already was.
///
/// A multipolygon is checked part by part: flood layers made from rasters are thousands of
/// raster-derived squares that touch along edges, which makes the multipolygon invalid as
/// a whole but every square valid — and each polygon is filled on its own in a tile, so
/// only broken parts need GEOS's (expensive) repair.
fn repair(
    geom: &gdal::vector::Geometry,
    opts: &CslStringList,
) -> std::result::Result<Option<gdal::vector::Geometry>, ()> {
    use gdal::vector::{geometry_type_flatten, Geometry, OGRwkbGeometryType};
    let ty = geometry_type_flatten(geom.geometry_type());
    let multi = ty == OGRwkbGeometryType::wkbMultiPolygon
        || ty == OGRwkbGeometryType::wkbGeometryCollection;
    if !multi {
        return if valid(geom) {
            Ok(None)
        } else {
            geom.make_valid(opts).map(Some).map_err(|_| ())
        };
    }
    let n = geom.geometry_count();
    if (0..n).all(|i| valid(&geom.get_geometry(i))) {
        return Ok(None);
    }
    let mut out = Geometry::empty(OGRwkbGeometryType::wkbGeometryCollection).map_err(|_| ())?;
    for i in 0..n {
        let part = geom.get_geometry(i);
        let fixed = if valid(&part) {
            (*part).clone()
        } else {
            part.make_valid(opts).map_err(|_| ())?
        };
        out.add_geometry(fixed).map_err(|_| ())?;
    }
    Ok(Some(out))
}

/// GEOS's validity, except that a polygon of one small ring proved simple here is valid
/// without the round trip through GEOS (see [`super::geometry::small_ring_is_simple`]).
fn valid(geom: &gdal::vector::Geometry) -> bool {
    use gdal::vector::{geometry_type_flatten, OGRwkbGeometryType};
    if geometry_type_flatten(geom.geometry_type()) == OGRwkbGeometryType::wkbPolygon
        && geom.geometry_count() == 1
    {
        let ring = geom.get_geometry(0);
        if ring.point_count() <= super::geometry::SMALL_RING {
            let mut coords = Vec::with_capacity(ring.point_count());
            ring.get_points(&mut coords);
            let coords: Vec<geo::Coord<f64>> = coords
                .into_iter()
                .map(|(x, y, _)| geo::Coord { x, y })
                .collect();
            if super::geometry::small_ring_is_simple(coords) {
                return true;
            }
        }
    }
    geom.is_valid()
}

fn read_value(feature: &gdal::vector::Feature<'_>, i: usize) -> Value {
    let json = |v: serde_json::Value| Value::Str(v.to_string().into());
    match feature.field(i) {
        Ok(Some(FieldValue::IntegerValue(v))) => Value::Int(i64::from(v)),
        Ok(Some(FieldValue::Integer64Value(v))) => Value::Int(v),
        Ok(Some(FieldValue::RealValue(v))) => Value::Float(v),
        Ok(Some(FieldValue::StringValue(s))) => Value::Str(s.into()),
        // MVT has no list type: lists are served as JSON array text, as tippecanoe does.
        Ok(Some(FieldValue::StringListValue(l))) => json(serde_json::json!(l)),
        Ok(Some(FieldValue::IntegerListValue(l))) => json(serde_json::json!(l)),
        Ok(Some(FieldValue::Integer64ListValue(l))) => json(serde_json::json!(l)),
        Ok(Some(FieldValue::RealListValue(l))) => json(serde_json::json!(l)),
        Ok(Some(FieldValue::DateValue(d))) => Value::Str(d.to_string().into()),
        // As written: GDAL's own text keeps a time without a zone naive (a JST 10:00 must
        // not become 10:00+00:00) and a stated zone as stated.
        Ok(Some(FieldValue::DateTimeValue(_))) => feature
            .field_as_string(i)
            .ok()
            .flatten()
            .map_or(Value::Null, |s| Value::Str(iso_datetime(&s).into())),
        Ok(None) | Err(_) => Value::Null,
    }
}

/// GDAL's `2024/04/01 10:00:00[.sss][+09]` as ISO 8601 (`2024-04-01T10:00:00[+09:00]`),
/// without inventing a time zone the data did not state.
#[must_use]
pub fn iso_datetime(gdal_text: &str) -> String {
    let t = gdal_text.trim();
    let Some((date, rest)) = t.split_once(' ') else {
        return t.replace('/', "-");
    };
    let date = date.replace('/', "-");
    let split = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-' || *c == 'Z')
        .map_or(rest.len(), |(i, _)| i);
    let (time, zone) = rest.split_at(split);
    let zone = match zone {
        "" => String::new(),
        "Z" | "+00" | "+0000" => "Z".into(),
        z if z.len() == 3 => format!("{z}:00"),
        z if z.len() == 5 && !z.contains(':') => format!("{}:{}", &z[..3], &z[3..]),
        z => z.to_string(),
    };
    format!("{date}T{time}{zone}")
}

#[cfg(test)]
mod tests {
    use super::iso_datetime;

    /// A file read with helper threads gives what one thread gives: the same features in
    /// the same order, the same shapes and values, the same counts and example ids —
    /// through repairs (bow-ties), drops (no geometry, empty, another kind) and a
    /// projected CRS (JGD2000 / 平面直角座標系 VIII).
    #[test]
    fn a_file_read_in_parallel_reads_as_on_one_thread() {
        use std::fmt::Write as _;
        crate::route_gdal_messages();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("many.geojson");
        let mut text = String::from(
            r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::2450"}},"features":["#,
        );
        let n = 24_000;
        for i in 0..n {
            let (x, y) = (
                f64::from(i % 200) * 30.0 - 3_000.0,
                f64::from(i / 200) * 30.0 - 110_000.0,
            );
            let geometry = match i % 50 {
                7 => "null".to_string(),
                13 => r#"{"type":"Polygon","coordinates":[]}"#.to_string(),
                21 => format!(
                    r#"{{"type":"LineString","coordinates":[[{x},{y}],[{},{}]]}}"#,
                    x + 5.0,
                    y + 5.0
                ),
                33 => format!(
                    r#"{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{}],[{},{y}],[{x},{}],[{x},{y}]]]}}"#,
                    x + 20.0,
                    y + 20.0,
                    x + 20.0,
                    y + 20.0
                ),
                _ => format!(
                    r#"{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}}"#,
                    x + 20.0,
                    x + 20.0,
                    y + 20.0,
                    y + 20.0
                ),
            };
            let sep = if i + 1 < n { "," } else { "" };
            let _ = writeln!(
                text,
                r#"{{"type":"Feature","properties":{{"no":{i},"name":"区画{i}"}},"geometry":{geometry}}}{sep}"#
            );
        }
        text.push_str("]}");
        std::fs::write(&path, &text).expect("write");
        assert!(
            text.len() as u64 >= super::PARALLEL_FROM_BYTES,
            "large enough for helpers"
        );
        let def = crate::config::LayerDef::from_toml(
            std::path::Path::new("layers/many.toml"),
            "title = { ja = \"t\", en = \"t\" }\ncategory = \"kihon\"\ngeometry = \"polygon\"\naccess = { view = \"public\" }\n[[source]]\npath = \"many.geojson\"\n",
        )
        .expect("layer");
        let one =
            super::read_with(&path, &def.sources[0], def.geometry, false).expect("one thread");
        let many = super::read_with(&path, &def.sources[0], def.geometry, true).expect("helpers");
        assert_eq!(format!("{:?}", one.stats), format!("{:?}", many.stats));
        assert!(
            one.stats.repaired > 0 && one.stats.dropped > 0,
            "{:?}",
            one.stats
        );
        assert_eq!(one.features.len(), many.features.len());
        for (a, b) in one.features.iter().zip(&many.features) {
            assert_eq!(a.fid, b.fid);
            assert_eq!(format!("{:?}", a.shape), format!("{:?}", b.shape));
            assert_eq!(a.values, b.values);
        }
    }

    #[test]
    fn datetimes_keep_their_zone_or_lack_of_one() {
        assert_eq!(iso_datetime("2024/04/01 10:00:00"), "2024-04-01T10:00:00");
        assert_eq!(
            iso_datetime("2024/04/01 10:00:00+09"),
            "2024-04-01T10:00:00+09:00"
        );
        assert_eq!(
            iso_datetime("2024/04/01 10:00:00.250+0930"),
            "2024-04-01T10:00:00.250+09:30"
        );
        assert_eq!(
            iso_datetime("2024/04/01 01:00:00+00"),
            "2024-04-01T01:00:00Z"
        );
        assert_eq!(iso_datetime("2024/04/01"), "2024-04-01");
    }
}
