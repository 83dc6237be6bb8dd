//! The schema of one layer file, and the validated [`LayerDef`] the rest of chizu trusts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, Result};
use super::hazard::{HazardCfg, ShelterCfg};
use crate::store::FieldType;

/// Highest zoom a layer may declare.
const MAX_ZOOM: u8 = crate::tile::MAX_ZOOM;

/// A label in Japanese and English. Both are required: the public view offers both.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct I18n {
    pub ja: String,
    pub en: String,
}

/// A layer id: 1–64 of `a-z 0-9 _ -`, starting with a letter or digit. Safe in URLs,
/// file names and MVT layer names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LayerId(Box<str>);

impl LayerId {
    /// Accepts only safe slugs.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.into()))
        } else {
            Err(format!(
                "`{s}` is not a layer id: expected 1–64 characters of a-z, 0-9, `_`, `-`, starting with a letter or digit"
            ))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LayerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which shelf of the layer tree a layer sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// 防災 (hazards, shelters).
    Bousai,
    /// 都市計画 (zoning, planned roads).
    ToshiKeikaku,
    /// 道路 (road ledgers, transport routes).
    Douro,
    /// 施設 (public facilities).
    Shisetsu,
    /// 基本 (boundaries, base map).
    Kihon,
}

impl Category {
    #[must_use]
    pub fn label(self) -> I18n {
        let (ja, en) = match self {
            Category::Bousai => ("防災", "Disaster prevention"),
            Category::ToshiKeikaku => ("都市計画", "Urban planning"),
            Category::Douro => ("道路", "Roads"),
            Category::Shisetsu => ("施設", "Facilities"),
            Category::Kihon => ("基本", "Base"),
        };
        I18n {
            ja: ja.into(),
            en: en.into(),
        }
    }
}

/// The geometry a layer serves. Features of another kind are dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GeometryKind {
    Point,
    Line,
    Polygon,
}

/// Who may see a layer, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Everyone, on both listeners.
    Public,
    /// Only internal callers holding one of these roles (or `admin`).
    Internal { roles: Vec<String> },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AccessView {
    Public,
    Internal,
}

/// `access = { view = "public" }` or `access = { view = "internal", roles = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessCfg {
    view: AccessView,
    #[serde(default)]
    roles: Vec<String>,
}

impl AccessCfg {
    /// The validated access, or the key at fault and why.
    fn validate(self) -> std::result::Result<Access, (&'static str, String)> {
        match self.view {
            AccessView::Public if !self.roles.is_empty() => Err((
                "access.roles",
                "roles apply only to `view = \"internal\"` layers; a public layer is seen by everyone".into(),
            )),
            AccessView::Public => Ok(Access::Public),
            AccessView::Internal => {
                if let Some(r) = self.roles.iter().find(|r| LayerId::parse(r).is_err()) {
                    return Err((
                        "access.roles",
                        format!("`{r}` is not a role name: expected a-z, 0-9, `_`, `-` (e.g. \"doro-kanri\")"),
                    ));
                }
                Ok(Access::Internal { roles: self.roles })
            }
        }
    }
}

/// Source paths must be non-empty and stay under the root (no `..`, not absolute).
fn check_source_paths(sources: &[SourceCfg]) -> std::result::Result<(), (String, String)> {
    for (i, s) in sources.iter().enumerate() {
        let key = format!("source[{i}].path");
        if s.path.trim().is_empty() {
            return Err((key, "expected a file path or glob".into()));
        }
        if let Some(conn) = s.database() {
            if conn.is_empty() {
                return Err((key, "`PG:` needs a connection string after it, e.g. `PG:postgresql://gis@db.example/city` or `PG:dbname=city host=db.example user=gis`".into()));
            }
            if s.layer.as_deref().is_none_or(|l| l.trim().is_empty()) {
                return Err((format!("source[{i}].layer"), "a database source needs `layer`: the table to read, e.g. `layer = \"public.roads\"`".into()));
            }
            if let Some(p) = s.poll_seconds {
                if !(1..=86_400).contains(&p) {
                    return Err((
                        format!("source[{i}].poll_seconds"),
                        format!("{p} is not between 1 and 86400"),
                    ));
                }
            }
            continue;
        }
        if s.poll_seconds.is_some() {
            return Err((
                format!("source[{i}].poll_seconds"),
                "only a database source (`path = \"PG:…\"`) is polled; files are watched".into(),
            ));
        }
        if escapes_root(&s.path) {
            let m = format!(
                "`{}` leaves the root folder; give a path relative to the root, without `..`",
                s.path
            );
            return Err((key, m));
        }
    }
    Ok(())
}

/// Whether a configured path is absolute or climbs out with `..`.
fn escapes_root(path: &str) -> bool {
    let p = Path::new(path);
    p.is_absolute()
        || p.components().any(|c| {
            matches!(
                c,
                std::path::Component::ParentDir
                    | std::path::Component::RootDir
                    | std::path::Component::Prefix(_)
            )
        })
}

/// Served field names must be usable and unique.
fn check_field_names(fields: &[FieldCfg]) -> std::result::Result<(), (String, String)> {
    let mut names = std::collections::BTreeSet::new();
    for (i, f) in fields.iter().enumerate() {
        let name = f.output_name();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err((
                format!("field[{i}].name"),
                format!("`{name}` is not a usable field name"),
            ));
        }
        if !names.insert(name.to_string()) {
            return Err((
                format!("field[{i}].name"),
                format!("field `{name}` is defined twice"),
            ));
        }
    }
    Ok(())
}

/// An EPSG code, written `"EPSG:2450"` or `2450`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Crs(pub u32);

impl<'de> Deserialize<'de> for Crs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Str(String),
        }
        let expected = "an EPSG code such as \"EPSG:2450\" or 2450";
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?
        {
            Raw::Int(n) => Ok(Crs(n)),
            Raw::Str(s) => {
                let t = s.trim();
                let digits = t
                    .strip_prefix("EPSG:")
                    .or_else(|| t.strip_prefix("epsg:"))
                    .unwrap_or(t);
                digits
                    .parse()
                    .map(Crs)
                    .map_err(|_| serde::de::Error::custom(format!("`{s}`: expected {expected}")))
            }
        }
    }
}

/// Text encoding of a source's attributes (DBF files). `Shift_JIS` is read as CP932 on
/// purpose: CP932 is the superset cities' software writes, and a strict Shift_JIS decoder
/// turns 「Ⅰ」 into garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Encoding {
    #[serde(
        rename = "CP932",
        alias = "cp932",
        alias = "Shift_JIS",
        alias = "shift_jis",
        alias = "SJIS",
        alias = "sjis",
        alias = "Windows-31J"
    )]
    Cp932,
    #[serde(rename = "UTF-8", alias = "utf-8", alias = "UTF8", alias = "utf8")]
    Utf8,
    #[serde(rename = "EUC-JP", alias = "euc-jp")]
    EucJp,
}

impl Encoding {
    /// The name GDAL's recoder (iconv) knows.
    #[must_use]
    pub fn gdal_name(self) -> &'static str {
        match self {
            Encoding::Cp932 => "CP932",
            Encoding::Utf8 => "UTF-8",
            Encoding::EucJp => "EUC-JP",
        }
    }
}

/// A constant attribute added to every feature of one source file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ConstValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// One `[[source]]`: a file (or glob) in any format GDAL reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCfg {
    /// Relative to the root folder; may be a glob (`data/*/用途地域*.shp`). Or a
    /// PostgreSQL/PostGIS database, `PG:` and a libpq connection string or URI
    /// (`PG:postgresql://gis@db.example/city`), with `layer` naming the table.
    pub path: String,
    /// The layer inside a multi-layer dataset (GeoPackage, KML …); default: its only layer.
    pub layer: Option<String>,
    /// Overrides the CRS of the file (for a missing or wrong `.prj`).
    pub crs: Option<Crs>,
    /// Overrides the attribute encoding (for a missing or wrong `.cpg`).
    pub encoding: Option<Encoding>,
    /// CSV: the longitude column (default: `経度`, `lon`, `longitude`, `x` …).
    pub lon_field: Option<String>,
    /// CSV: the latitude column (default: `緯度`, `lat`, `latitude`, `y` …).
    pub lat_field: Option<String>,
    /// Attributes given to every feature of this file, e.g. the zone type of a per-zone file.
    #[serde(default)]
    pub constants: BTreeMap<String, ConstValue>,
    /// Only features matching this OGR SQL condition are read (`"areaType = 2"`), so one
    /// file can feed several layers or hazard kinds.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// A database source: how often (seconds) chizu asks whether the table changed and,
    /// if so, reads it again. Default [`DEFAULT_POLL_SECONDS`].
    pub poll_seconds: Option<u32>,
}

/// How often a database source is asked whether its table changed, by default.
pub const DEFAULT_POLL_SECONDS: u32 = 10;

/// The `PG:` prefix of a database source (GDAL's PostgreSQL driver).
const DATABASE_PREFIX: &str = "PG:";

impl SourceCfg {
    /// A database source's connection string (after `PG:`), or `None` for a file.
    #[must_use]
    pub fn database(&self) -> Option<&str> {
        let p = self.path.trim();
        p.get(..DATABASE_PREFIX.len())
            .filter(|h| h.eq_ignore_ascii_case(DATABASE_PREFIX))
            .map(|_| p[DATABASE_PREFIX.len()..].trim())
    }

    /// How often a database source is polled for changes.
    #[must_use]
    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.poll_seconds.unwrap_or(DEFAULT_POLL_SECONDS)))
    }

    /// The path as it may be shown (logs, `chizu check`): a database's password hidden.
    #[must_use]
    pub fn shown_path(&self) -> String {
        match self.database() {
            Some(c) => format!("{DATABASE_PREFIX}{}", redact_connection(c)),
            None => self.path.clone(),
        }
    }
}

/// A libpq connection string or URI with its password replaced by `***`.
#[must_use]
pub fn redact_connection(c: &str) -> String {
    if let Some(rest) = c
        .strip_prefix("postgresql://")
        .map(|r| ("postgresql://", r))
        .or_else(|| c.strip_prefix("postgres://").map(|r| ("postgres://", r)))
    {
        let (scheme, rest) = rest;
        // userinfo ends at the last `@` before the host part.
        let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let mut out = String::from(scheme);
        let (auth, tail) = rest.split_at(host_end);
        match auth.rfind('@') {
            Some(at) => {
                let (user, host) = auth.split_at(at);
                match user.split_once(':') {
                    Some((name, _)) => {
                        out.push_str(name);
                        out.push_str(":***");
                    }
                    None => out.push_str(user),
                }
                out.push_str(host);
            }
            None => out.push_str(auth),
        }
        // `?password=` in the query part.
        out.push_str(&redact_words(tail, '&'));
        return out;
    }
    redact_words(c, ' ')
}

/// `password=…` words (separated by `sep`) of a connection string shown as `password=***`.
fn redact_words(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hide = false;
    let mut word_start = true;
    for ch in s.chars() {
        if ch == sep || (sep == '&' && ch == '?') {
            hide = false;
            word_start = true;
            out.push(ch);
            continue;
        }
        if hide {
            continue;
        }
        out.push(ch);
        if word_start && out.ends_with("password=") {
            hide = true;
            out.push_str("***");
        }
        if !out.ends_with(|c: char| c.is_ascii_alphabetic() || c == '=') {
            word_start = false;
        }
    }
    out
}

/// One `[[field]]`: how a source attribute is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCfg {
    /// The attribute's name in the source, as decoded (e.g. `SAFIELD000`, `浸水時間ﾗﾝ`), or a constant's name.
    /// A live layer's fields have no source: they give `name` and `type`.
    #[serde(default)]
    pub source: String,
    /// The served name; default: `source`.
    pub name: Option<String>,
    /// Converts values to this type; default: the source's type.
    #[serde(rename = "type")]
    pub kind: Option<FieldType>,
    pub label: Option<I18n>,
    /// Code → label table for coded fields.
    #[serde(default)]
    pub values: BTreeMap<String, I18n>,
    /// Only internal callers with the layer's roles see this attribute.
    #[serde(default)]
    pub internal: bool,
    /// Source value (as text) → served value, applied before `type` and `scale`
    /// (e.g. zone names → national 用途地域 codes). Values not listed pass unchanged.
    #[serde(default)]
    pub map: BTreeMap<String, ConstValue>,
    /// Numbers are multiplied by this (PLATEAU ratios: 2 × 100 = 200 %).
    pub scale: Option<f64>,
    /// A PLATEAU / i-UR codelist (`gml:Dictionary` XML, path under the root) whose entries
    /// label this field's codes; `values` given here win over it.
    pub codelist: Option<String>,
    /// Live layers: a feature cannot be saved without a value.
    #[serde(default)]
    pub required: bool,
    /// Live layers: the value a new feature gets when it gives none.
    pub default: Option<ConstValue>,
    /// Live layers: longest text accepted, in characters (default 1,000).
    pub max_length: Option<usize>,
}

impl FieldCfg {
    #[must_use]
    pub fn output_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.source)
    }
}

/// A built-in colour scheme for a layer's features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Palette {
    /// 用途地域 in the customary colours, by national code (1–13) or by name
    /// (第一種 and 第1種 spellings alike).
    Zoning,
}

/// `[style]`: how the generated map style draws the layer. Every key is optional; without
/// the table chizu chooses from the geometry, category and hazard kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleCfg {
    /// Drawn when the map opens. Default: hazards, shelters and base layers on the public
    /// map; every layer on the staff map.
    pub visible: Option<bool>,
    /// One colour for the whole layer, `#RRGGBB`.
    #[serde(alias = "color")]
    pub colour: Option<String>,
    /// Colour features by this served field (with `colours`, or a palette).
    #[serde(alias = "color_by")]
    pub colour_by: Option<String>,
    /// Value of `colour_by` → `#RRGGBB`; values not listed get the layer's colour.
    #[serde(default, alias = "colors")]
    pub colours: BTreeMap<String, String>,
    /// A built-in scheme; `zoning` is also chosen by itself when a field holds 用途地域 names.
    pub palette: Option<Palette>,
    /// Label features with this served field.
    pub label: Option<String>,
    /// Points: draw the label only, no marker (place names).
    #[serde(default)]
    pub label_only: bool,
    /// Fill opacity, 0–1.
    pub opacity: Option<f64>,
    /// Line width (or point radius) in CSS pixels.
    pub width: Option<f64>,
    /// Draw lines dashed.
    #[serde(default)]
    pub dashed: bool,
}

/// `#rgb` or `#rrggbb`.
fn is_colour(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|h| (h.len() == 3 || h.len() == 6) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_style(style: &StyleCfg) -> std::result::Result<(), (String, String)> {
    let bad = |key: &str, v: &str| {
        Err((
            key.to_string(),
            format!("`{v}` is not a colour: expected \"#rrggbb\""),
        ))
    };
    if let Some(c) = style.colour.as_deref().filter(|c| !is_colour(c)) {
        return bad("style.colour", c);
    }
    if let Some((k, c)) = style.colours.iter().find(|(_, c)| !is_colour(c)) {
        return bad(&format!("style.colours.{k}"), c);
    }
    if let Some(o) = style.opacity.filter(|o| !(0.0..=1.0).contains(o)) {
        return Err(("style.opacity".into(), format!("{o} is outside 0–1")));
    }
    if let Some(w) = style.width.filter(|w| !(0.0..=64.0).contains(w)) {
        return Err(("style.width".into(), format!("{w} is outside 0–64 px")));
    }
    if !style.colours.is_empty() && style.colour_by.is_none() {
        return Err((
            "style.colours".into(),
            "`colours` are given, so name the field they colour by in `colour_by`".into(),
        ));
    }
    Ok(())
}

/// Only features whose `field` equals one of `equals` reach the public view.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicFilter {
    pub field: String,
    pub equals: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    id: Option<String>,
    title: I18n,
    description: Option<I18n>,
    category: Category,
    geometry: GeometryKind,
    #[serde(default = "default_minzoom")]
    minzoom: u8,
    #[serde(default = "default_maxzoom")]
    maxzoom: u8,
    access: AccessCfg,
    attribution: Option<String>,
    license: Option<String>,
    #[serde(default = "default_buffer")]
    buffer: u32,
    #[serde(default = "default_simplify")]
    simplify: f64,
    #[serde(default = "default_tiny_area")]
    tiny_area: f64,
    #[serde(default = "default_max_tile_bytes")]
    max_tile_bytes: u32,
    #[serde(default = "default_max_tile_features")]
    max_tile_features: u32,
    #[serde(default, rename = "source")]
    sources: Vec<SourceCfg>,
    #[serde(default, rename = "field")]
    fields: Vec<FieldCfg>,
    #[serde(default)]
    keep_unlisted_fields: bool,
    public_filter: Option<PublicFilter>,
    hazard: Option<HazardCfg>,
    shelter: Option<ShelterCfg>,
    #[serde(default)]
    search: Vec<String>,
    #[serde(default)]
    style: StyleCfg,
    #[serde(default)]
    kind: LayerKind,
    edit: Option<EditCfg>,
    reports: Option<ReportsCfg>,
    sensor: Option<SensorCfg>,
}

/// `[sensor]` of a live layer of stations (e.g. water-level gauges): keys with one of
/// `roles` post readings `{time, value}` for a station; the latest, its level among the
/// station's thresholds, its age and whether the station has gone silent are served as
/// attributes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorCfg {
    /// Roles that may post readings (`admin` always may).
    pub roles: Vec<String>,
    /// Unit of the readings, as shown (e.g. `m`).
    #[serde(default)]
    pub unit: String,
    /// How often a station reports; silent for longer, it is flagged `stale`
    /// (e.g. `"10m"`).
    #[serde(with = "humantime_serde_compat")]
    pub interval: std::time::Duration,
    /// Threshold levels, lowest first: each names a float field of the layer holding the
    /// station's own threshold (set when the station is created), and its label.
    #[serde(default)]
    pub levels: Vec<SensorLevel>,
}

/// One threshold level of a sensor layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorLevel {
    pub field: String,
    pub label: I18n,
}

mod humantime_serde_compat {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!("`{s}` is not a duration like \"10m\" ({e})"))
        })
    }
}

/// Fields chizu serves on every station of a sensor layer, after its own.
pub const SENSOR_FIELDS: [&str; 5] = [
    "reading",
    "reading_at",
    "reading_age_min",
    "reading_level",
    "stale",
];

/// `[reports]` of a live layer: residents may send a report (a point, a category and a
/// short text) from the public listener. It waits, unpublished, until staff publish it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsCfg {
    /// The field (with `values`) the resident chooses a category from.
    pub category: String,
    /// The string field the resident's text goes to.
    pub text: Option<String>,
    /// Reports one client address may send per hour (default 5).
    #[serde(default = "default_per_hour")]
    pub per_hour: u32,
}

fn default_per_hour() -> u32 {
    5
}

/// Where a layer's features come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Files under the root, re-read when they change.
    #[default]
    File,
    /// Features created and edited through the API, kept in the state database.
    Live,
}

/// `[edit]` of a live layer: which roles may create, update and delete (`admin` always may).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditCfg {
    #[serde(default)]
    pub create: Vec<String>,
    #[serde(default)]
    pub update: Vec<String>,
    #[serde(default)]
    pub delete: Vec<String>,
}

/// What an editor asks to do to a live layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditAction {
    Create,
    Update,
    Delete,
}

impl EditCfg {
    /// The roles allowed `action`.
    #[must_use]
    pub fn roles(&self, action: EditAction) -> &[String] {
        match action {
            EditAction::Create => &self.create,
            EditAction::Update => &self.update,
            EditAction::Delete => &self.delete,
        }
    }
}

/// A file layer reads its sources, and every field names its source attribute; a live layer
/// has neither, and a schema instead.
fn check_kind(raw: &RawLayer) -> std::result::Result<(), (String, String)> {
    if raw.kind == LayerKind::Live {
        return check_live_fields(raw);
    }
    if raw.edit.is_some() || raw.reports.is_some() || raw.sensor.is_some() {
        return Err((
            if raw.edit.is_some() {
                "edit"
            } else if raw.reports.is_some() {
                "reports"
            } else {
                "sensor"
            }
            .into(),
            "only a live layer (`kind = \"live\"`) can be edited, take reports or readings".into(),
        ));
    }
    if raw.sources.is_empty() {
        return Err((
            "source".into(),
            "expected at least one [[source]] with a `path`".into(),
        ));
    }
    if let Some(i) = raw.fields.iter().position(|f| f.source.trim().is_empty()) {
        return Err((
            format!("field[{i}].source"),
            "expected the attribute's name in the source file".into(),
        ));
    }
    Ok(())
}

/// Residents' reports go to a category field with values and a text field, and wait
/// behind a public filter until staff publish them.
fn check_reports(raw: &RawLayer, r: &ReportsCfg) -> std::result::Result<(), (String, String)> {
    let field = |name: &str| raw.fields.iter().find(|f| f.output_name() == name);
    let Some(pf) = &raw.public_filter else {
        return Err((
            "reports".into(),
            "residents' reports must wait for staff: give the layer a `public_filter` (e.g. on a boolean `public` field, default false)".into(),
        ));
    };
    if field(&r.category).is_none_or(|f| f.values.is_empty()) {
        return Err((
            "reports.category".into(),
            format!("`{}` must be a field of this layer with `values` (the categories a resident chooses from)", r.category),
        ));
    }
    if let Some(t) = &r.text {
        if field(t).is_none_or(|f| f.kind != Some(FieldType::String)) {
            return Err((
                "reports.text".into(),
                format!("`{t}` must be a string field of this layer"),
            ));
        }
    }
    if [Some(&r.category), r.text.as_ref()].contains(&Some(&pf.field)) {
        return Err((
            "reports".into(),
            "a resident must not set the field the public filter reads".into(),
        ));
    }
    if r.per_hour == 0 || r.per_hour > 1000 {
        return Err((
            "reports.per_hour".into(),
            format!("{} is outside 1–1000", r.per_hour),
        ));
    }
    Ok(())
}

/// A sensor layer's stations are points, reporting at a sensible interval, with a float
/// field per threshold level.
fn check_sensor(raw: &RawLayer, s: &SensorCfg) -> std::result::Result<(), (String, String)> {
    if raw.geometry != GeometryKind::Point {
        return Err((
            "sensor".into(),
            "a sensor layer's stations are points: `geometry = \"point\"`".into(),
        ));
    }
    if s.roles.is_empty() {
        return Err((
            "sensor.roles".into(),
            "name the role(s) whose keys post readings (e.g. [\"sensor\"])".into(),
        ));
    }
    if s.interval < std::time::Duration::from_secs(1)
        || s.interval > std::time::Duration::from_secs(7 * 86_400)
    {
        return Err((
            "sensor.interval".into(),
            "expected between 1 s and 7 days (how often a station reports)".into(),
        ));
    }
    for (i, l) in s.levels.iter().enumerate() {
        if !raw
            .fields
            .iter()
            .any(|f| f.output_name() == l.field && f.kind == Some(FieldType::Float))
        {
            return Err((
                format!("sensor.levels[{i}].field"),
                format!(
                    "`{}` must be a float field of this layer (the station's threshold)",
                    l.field
                ),
            ));
        }
    }
    Ok(())
}

/// A live layer's fields must each name themselves and their type, and carry usable
/// defaults.
fn check_live_fields(raw: &RawLayer) -> std::result::Result<(), (String, String)> {
    if !raw.sources.is_empty() {
        return Err((
            "source".into(),
            "a live layer keeps its features in the state database: remove its [[source]] tables"
                .into(),
        ));
    }
    if raw.fields.is_empty() {
        return Err((
            "field".into(),
            "a live layer needs its schema: at least one [[field]] with `name` and `type`".into(),
        ));
    }
    for (i, f) in raw.fields.iter().enumerate() {
        if f.name.is_none() {
            return Err((
                format!("field[{i}].name"),
                "a live layer's field needs a `name`".into(),
            ));
        }
        if f.name
            .as_deref()
            .is_some_and(|n| ["updated_at", "updated_by"].contains(&n))
        {
            return Err((
                format!("field[{i}].name"),
                "`updated_at` and `updated_by` are set by chizu on every live layer: choose another name".into(),
            ));
        }
        if raw.sensor.is_some()
            && f.name
                .as_deref()
                .is_some_and(|n| SENSOR_FIELDS.contains(&n))
        {
            return Err((
                format!("field[{i}].name"),
                format!(
                    "{} are set by chizu on a sensor layer: choose another name",
                    SENSOR_FIELDS.map(|n| format!("`{n}`")).join(", ")
                ),
            ));
        }
        if f.kind.is_none() {
            return Err((
                format!("field[{i}].type"),
                "a live layer's field needs a `type` (string, integer, float or boolean)".into(),
            ));
        }
    }
    if let Some(r) = &raw.reports {
        check_reports(raw, r)?;
    }
    if let Some(s) = &raw.sensor {
        check_sensor(raw, s)?;
    }
    let edit = raw.edit.clone().unwrap_or_default();
    let sensor_roles = raw.sensor.iter().flat_map(|s| &s.roles);
    for r in edit
        .create
        .iter()
        .chain(&edit.update)
        .chain(&edit.delete)
        .chain(sensor_roles)
    {
        if LayerId::parse(r).is_err() {
            return Err((
                "edit".into(),
                format!("`{r}` is not a role name: expected a-z, 0-9, `_`, `-`"),
            ));
        }
    }
    Ok(())
}

/// Default lowest zoom at which a layer appears: 0.
fn default_minzoom() -> u8 {
    0
}
/// Default highest zoom advertised in TileJSON: 18 (clients overzoom beyond; chizu cuts up to 22 on request).
fn default_maxzoom() -> u8 {
    18
}
/// Default tile buffer: 64 units of a 4096 extent, as Martin and tippecanoe use.
fn default_buffer() -> u32 {
    64
}
/// Default simplification tolerance: one tile unit at the zoom being cut.
fn default_simplify() -> f64 {
    1.0
}

/// Default area (tile units²) below which polygons are merged into density squares: 64,
/// one CSS pixel of a tile drawn 512 pixels wide.
fn default_tiny_area() -> f64 {
    64.0
}
/// Default byte budget of one layer in one tile: 500 KB, as tippecanoe.
fn default_max_tile_bytes() -> u32 {
    500_000
}
/// Default feature budget of one layer in one tile: 200,000, as tippecanoe.
fn default_max_tile_features() -> u32 {
    200_000
}

/// Checks the keys that shape tiles: buffer, simplification, merging, budgets.
fn check_tile_options(raw: &RawLayer) -> std::result::Result<(), (&'static str, String)> {
    if raw.buffer > 1024 {
        return Err(("buffer", format!("{} is above 1024 tile units", raw.buffer)));
    }
    if !(0.0..=64.0).contains(&raw.simplify) {
        return Err((
            "simplify",
            format!("{} is outside 0–64 tile units", raw.simplify),
        ));
    }
    if !(0.0..=1_000_000.0).contains(&raw.tiny_area) {
        return Err((
            "tiny_area",
            format!("{} is outside 0–1000000 tile units²", raw.tiny_area),
        ));
    }
    if raw.max_tile_bytes < 1024 {
        return Err((
            "max_tile_bytes",
            format!("{} is below 1024 bytes", raw.max_tile_bytes),
        ));
    }
    if raw.max_tile_features == 0 {
        return Err((
            "max_tile_features",
            "0 would leave every tile empty; give at least 1".into(),
        ));
    }
    Ok(())
}

/// A validated layer definition.
#[derive(Debug, Clone)]
pub struct LayerDef {
    pub id: LayerId,
    /// The TOML file it came from, for error messages.
    pub file: PathBuf,
    pub title: I18n,
    pub description: Option<I18n>,
    pub category: Category,
    pub geometry: GeometryKind,
    pub minzoom: u8,
    pub maxzoom: u8,
    pub access: Access,
    pub attribution: Option<String>,
    pub license: Option<String>,
    /// Tile buffer in tile units (of 4096).
    pub buffer: u32,
    /// Simplification tolerance in tile units.
    pub simplify: f64,
    /// Polygons smaller than this (tile units², by their box) are merged into squares that
    /// keep their total area; `0` keeps every polygon.
    pub tiny_area: f64,
    /// Most bytes this layer may take in one tile; least significant features go first.
    pub max_tile_bytes: u32,
    /// Most features this layer may put in one tile.
    pub max_tile_features: u32,
    pub sources: Vec<SourceCfg>,
    /// Configured fields; when empty every source attribute is served under its own name.
    pub fields: Vec<FieldCfg>,
    /// Also serve source attributes not listed in `fields`.
    pub keep_unlisted_fields: bool,
    pub public_filter: Option<PublicFilter>,
    pub hazard: Option<HazardCfg>,
    /// The layer is a list of evacuation sites.
    pub shelter: Option<ShelterCfg>,
    /// Served fields whose values `/search` finds (names, kana readings).
    pub search: Vec<String>,
    /// How the generated style draws it.
    pub style: StyleCfg,
    /// For a live layer, who may edit it; `None` for a file layer.
    pub live: Option<EditCfg>,
    /// A live layer taking residents' reports from the public listener.
    pub reports: Option<ReportsCfg>,
    /// A live layer of stations taking readings.
    pub sensor: Option<SensorCfg>,
}

impl LayerDef {
    /// Reads and validates one layer file.
    pub fn from_file(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Self::from_toml(file, &text)
    }

    /// Parses and validates layer TOML; `file` names it in errors and gives the default id.
    pub fn from_toml(file: &Path, text: &str) -> Result<Self> {
        let raw: RawLayer = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = match &raw.id {
            Some(id) => LayerId::parse(id).map_err(|m| invalid("id", m))?,
            None => LayerId::parse(&stem).map_err(|m| {
                invalid(
                    "id",
                    format!("no `id` key, and the file name cannot be the id: {m}"),
                )
            })?,
        };
        if raw.maxzoom > MAX_ZOOM {
            return Err(invalid(
                "maxzoom",
                format!("{} is above {MAX_ZOOM}", raw.maxzoom),
            ));
        }
        if raw.minzoom > raw.maxzoom {
            return Err(invalid(
                "minzoom",
                format!("{} is above maxzoom {}", raw.minzoom, raw.maxzoom),
            ));
        }
        check_tile_options(&raw).map_err(|(k, m)| invalid(k, m))?;
        check_kind(&raw).map_err(|(k, m)| invalid(&k, m))?;
        check_source_paths(&raw.sources).map_err(|(k, m)| invalid(&k, m))?;
        let access = raw.access.validate().map_err(|(k, m)| invalid(k, m))?;
        check_field_names(&raw.fields).map_err(|(k, m)| invalid(&k, m))?;
        check_style(&raw.style).map_err(|(k, m)| invalid(&k, m))?;
        for (i, f) in raw.fields.iter().enumerate() {
            if let Some(c) = &f.codelist {
                if escapes_root(c) {
                    return Err(invalid(
                        &format!("field[{i}].codelist"),
                        format!("`{c}` leaves the root folder; give a path relative to the root"),
                    ));
                }
            }
            if let Some(s) = f.scale.filter(|s| !s.is_finite() || *s == 0.0) {
                return Err(invalid(
                    &format!("field[{i}].scale"),
                    format!("{s} is not a usable factor"),
                ));
            }
        }
        if let Some(h) = &raw.hazard {
            if !h.ranks.is_empty() && h.rank_field.is_none() {
                return Err(invalid(
                    "hazard.rank_field",
                    "`ranks` are given, so name the field that holds them".into(),
                ));
            }
        }
        Ok(Self {
            id,
            file: file.to_path_buf(),
            title: raw.title,
            description: raw.description,
            category: raw.category,
            geometry: raw.geometry,
            minzoom: raw.minzoom,
            maxzoom: raw.maxzoom,
            access,
            attribution: raw.attribution,
            license: raw.license,
            buffer: raw.buffer,
            simplify: raw.simplify,
            tiny_area: raw.tiny_area,
            max_tile_bytes: raw.max_tile_bytes,
            max_tile_features: raw.max_tile_features,
            sources: raw.sources,
            fields: raw.fields,
            keep_unlisted_fields: raw.keep_unlisted_fields,
            public_filter: raw.public_filter,
            hazard: raw.hazard,
            shelter: raw.shelter,
            search: raw.search,
            style: raw.style,
            live: (raw.kind == LayerKind::Live).then(|| raw.edit.unwrap_or_default()),
            reports: raw.reports,
            sensor: raw.sensor,
        })
    }

    #[must_use]
    pub fn is_public(&self) -> bool {
        self.access == Access::Public
    }
}

/// The distinct attributions of some layers, in order, joined as maps show them.
pub fn attribution<'a>(defs: impl IntoIterator<Item = &'a LayerDef>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for a in defs.into_iter().filter_map(|d| d.attribution.as_deref()) {
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    seen.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
title = { ja = "用途地域", en = "Zoning" }
category = "toshi-keikaku"
geometry = "polygon"
access = { view = "public" }
[[source]]
path = "data/zones/*.shp"
"#;

    fn parse(text: &str) -> Result<LayerDef> {
        LayerDef::from_toml(Path::new("layers/youto_chiiki.toml"), text)
    }

    #[test]
    fn minimal_layer_takes_id_from_file_name() {
        let d = parse(MINIMAL).expect("parses");
        assert_eq!(d.id.as_str(), "youto_chiiki");
        assert_eq!((d.minzoom, d.maxzoom, d.buffer), (0, 18, 64));
        assert!(d.is_public());
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let e = parse(&format!("{MINIMAL}\ncolour = \"red\""))
            .expect_err("rejects")
            .to_string();
        assert!(e.contains("layers/youto_chiiki.toml"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_id_is_explained() {
        let e = parse(&format!("id = \"Bad Id\"\n{MINIMAL}"))
            .expect_err("rejects")
            .to_string();
        assert!(e.contains("key `id`") && e.contains("a-z"), "{e}");
    }

    #[test]
    fn crs_accepts_both_spellings() {
        let t = MINIMAL.replace("path = ", "crs = \"EPSG:2450\"\npath = ");
        assert_eq!(parse(&t).expect("parses").sources[0].crs, Some(Crs(2450)));
        let t = MINIMAL.replace("path = ", "crs = 6676\npath = ");
        assert_eq!(parse(&t).expect("parses").sources[0].crs, Some(Crs(6676)));
        let t = MINIMAL.replace("path = ", "crs = \"JGD2000\"\npath = ");
        let e = parse(&t).expect_err("rejects").to_string();
        assert!(e.contains("EPSG"), "{e}");
    }

    #[test]
    fn shift_jis_is_read_as_cp932() {
        let t = MINIMAL.replace("path = ", "encoding = \"Shift_JIS\"\npath = ");
        assert_eq!(
            parse(&t).expect("parses").sources[0].encoding,
            Some(Encoding::Cp932)
        );
    }

    #[test]
    fn public_layer_with_roles_is_an_error() {
        let t = MINIMAL.replace(
            "{ view = \"public\" }",
            "{ view = \"public\", roles = [\"a\"] }",
        );
        let e = parse(&t).expect_err("rejects").to_string();
        assert!(e.contains("access.roles"), "{e}");
    }

    #[test]
    fn tile_budgets_default_to_tippecanoes_and_are_checked() {
        let d = parse(MINIMAL).expect("minimal");
        assert_eq!((d.max_tile_bytes, d.max_tile_features), (500_000, 200_000));
        assert!((d.tiny_area - 64.0).abs() < f64::EPSILON);
        for (line, key) in [
            ("max_tile_bytes = 10", "max_tile_bytes"),
            ("max_tile_features = 0", "max_tile_features"),
            ("tiny_area = -1", "tiny_area"),
        ] {
            let e = parse(&format!("{line}\n{MINIMAL}"))
                .expect_err("rejects")
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn zoom_range_is_checked() {
        let e = parse(&format!("minzoom = 15\nmaxzoom = 10\n{MINIMAL}"))
            .expect_err("rejects")
            .to_string();
        assert!(e.contains("minzoom"), "{e}");
        let e = parse(&format!("maxzoom = 23\n{MINIMAL}"))
            .expect_err("rejects")
            .to_string();
        assert!(e.contains("maxzoom"), "{e}");
    }

    #[test]
    fn parent_dir_paths_are_refused() {
        let t = MINIMAL.replace("data/zones/*.shp", "../secret/*.shp");
        assert!(parse(&t)
            .expect_err("rejects")
            .to_string()
            .contains("source[0].path"));
    }

    #[test]
    fn a_database_password_is_never_shown() {
        for (given, shown) in [
            (
                "postgresql://gis:pw@db:5432/city",
                "postgresql://gis:***@db:5432/city",
            ),
            (
                "postgres://gis@db/city?sslmode=require",
                "postgres://gis@db/city?sslmode=require",
            ),
            (
                "postgres://db/city?user=gis&password=pw&sslmode=require",
                "postgres://db/city?user=gis&password=***&sslmode=require",
            ),
            (
                "dbname=city host=db password=pw user=gis",
                "dbname=city host=db password=*** user=gis",
            ),
            ("dbname=city user=gis", "dbname=city user=gis"),
        ] {
            assert_eq!(redact_connection(given), shown, "{given}");
        }
    }

    #[test]
    fn a_database_source_names_its_table() {
        let t = MINIMAL.replace("data/zones/*.shp", "PG:dbname=city");
        let e = parse(&t).expect_err("no table").to_string();
        assert!(e.contains("source[0].layer"), "{e}");
        let t = MINIMAL.replace("data/zones/*.shp", "PG:dbname=city\"\nlayer = \"roads");
        let def = parse(&t).expect("parses");
        assert_eq!(def.sources[0].database(), Some("dbname=city"));
        let t = MINIMAL.replace("data/zones/*.shp\"", "data/zones/*.shp\"\npoll_seconds = 5");
        assert!(parse(&t)
            .expect_err("files are watched")
            .to_string()
            .contains("poll_seconds"));
    }
}
