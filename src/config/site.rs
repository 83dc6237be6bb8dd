//! `site.toml`: the municipality a root is for — its name, contact and attribution, where
//! the map opens, and what its data covers (area and hazard kinds), so the viewer can be
//! titled and the resident's report can say where the data is silent. Optional: without
//! it chizu titles the map generically and takes the area from the data's bounds.

use std::path::Path;

use serde::Deserialize;

use super::error::{ConfigError, Result};
use super::hazard::HazardKind;
use super::layer::{I18n, LayerId};

/// Where the map opens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartView {
    /// `[lon, lat]`.
    pub center: [f64; 2],
    /// Web Mercator zoom (default 12).
    #[serde(default = "default_zoom")]
    pub zoom: f64,
}

/// Default start zoom: 12, a city's centre at phone size.
fn default_zoom() -> f64 {
    12.0
}

/// A page where residents can check what this data does not cover.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub title: I18n,
    pub url: String,
}

/// `[coverage]`: the area and hazard kinds this root's data covers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// `[west, south, east, north]` in lon/lat.
    pub bbox: Option<[f64; 4]>,
    /// A polygon layer (e.g. the city boundary) whose polygons are the area.
    pub layer: Option<String>,
    /// How far outside `layer`'s polygons (metres) a point still counts as covered:
    /// simplified boundaries are not survey-grade. Default 300.
    #[serde(default = "default_margin")]
    pub margin_m: f64,
    /// The hazard kinds the data covers. Default: the kinds of the loaded hazard layers.
    pub hazards: Option<Vec<HazardKind>>,
    /// Where to check the rest (the city's own maps, 重ねるハザードマップ).
    #[serde(default)]
    pub links: Vec<Link>,
}

/// Default margin around a coverage layer: 300 m.
fn default_margin() -> f64 {
    300.0
}

impl Default for Coverage {
    fn default() -> Self {
        Self {
            bbox: None,
            layer: None,
            margin_m: default_margin(),
            hazards: None,
            links: Vec::new(),
        }
    }
}

/// The validated `site.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The municipality, e.g. `{ ja = "○○市", en = "○○ City" }`.
    pub name: Option<I18n>,
    /// The public map's title; default: the name followed by ハザードマップ / hazard map.
    pub title: Option<I18n>,
    /// Who to ask (department, phone), shown on the pages.
    pub contact: Option<I18n>,
    /// Credit shown on the pages besides the layers' own.
    pub attribution: Option<String>,
    /// An example for the search box (a 町名), in each language.
    pub search_example: Option<I18n>,
    /// Where the map opens; default: fitted to the data's bounds.
    pub view: Option<StartView>,
    /// A line the report adds when it finds a hazard (e.g. 「警戒レベル3 高齢者等避難が出たら、
    /// 高齢の方は避難を始めてください」).
    pub evacuation_hint: Option<I18n>,
    #[serde(default)]
    pub coverage: Coverage,
    /// How the viewers' generated styles ask for tiles: `"mvt"` (default) or `"mlt"`
    /// (MapLibre Tiles; the bundled MapLibre GL JS reads both).
    #[serde(default)]
    pub tile_encoding: TileEncoding,
}

/// The tile encoding a site's viewers use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TileEncoding {
    #[default]
    Mvt,
    Mlt,
}

impl Site {
    /// Reads `ROOT/site.toml`; no file is an empty site.
    pub fn load(root: &Path) -> Result<Self> {
        let file = root.join("site.toml");
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::from_toml(&file, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io { file, source }),
        }
    }

    /// Parses and checks site TOML; `file` names it in errors.
    pub fn from_toml(file: &Path, text: &str) -> Result<Self> {
        let site: Site = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.into(),
            message,
        };
        if let Some(v) = &site.view {
            let [lon, lat] = v.center;
            if !(-180.0..=180.0).contains(&lon) || !(-85.0..=85.0).contains(&lat) {
                return Err(invalid(
                    "view.center",
                    format!("[{lon}, {lat}] is not a [lon, lat] position"),
                ));
            }
            if !(0.0..=22.0).contains(&v.zoom) {
                return Err(invalid("view.zoom", format!("{} is outside 0–22", v.zoom)));
            }
        }
        if let Some([w, s, e, n]) = site.coverage.bbox {
            let ok = (-180.0..=180.0).contains(&w)
                && (-180.0..=180.0).contains(&e)
                && (-90.0..=90.0).contains(&s)
                && (-90.0..=90.0).contains(&n)
                && w < e
                && s < n;
            if !ok {
                return Err(invalid(
                    "coverage.bbox",
                    "expected [west, south, east, north] in lon/lat, west < east, south < north"
                        .into(),
                ));
            }
        }
        if let Some(l) = &site.coverage.layer {
            LayerId::parse(l).map_err(|m| invalid("coverage.layer", m))?;
        }
        if !(0.0..=50_000.0).contains(&site.coverage.margin_m) {
            return Err(invalid(
                "coverage.margin_m",
                format!("{} is outside 0–50000 m", site.coverage.margin_m),
            ));
        }
        if let Some(i) = site
            .coverage
            .links
            .iter()
            .position(|l| !(l.url.starts_with("https://") || l.url.starts_with("http://")))
        {
            return Err(invalid(
                &format!("coverage.links[{i}].url"),
                "expected an http(s) URL".into(),
            ));
        }
        Ok(site)
    }

    /// The public map's title.
    #[must_use]
    pub fn title(&self) -> I18n {
        if let Some(t) = &self.title {
            return t.clone();
        }
        match &self.name {
            Some(n) => I18n {
                ja: format!("{} ハザードマップ", n.ja),
                en: format!("{} hazard map", n.en),
            },
            None => I18n {
                ja: "ハザードマップ".into(),
                en: "Hazard map".into(),
            },
        }
    }
}

/// A commented starting `site.toml`, for `chizu init`.
pub const STARTER: &str = r#"# site.toml — the municipality this root is for. Every key is optional.

# The name titles the maps (「○○市 ハザードマップ」).
# name = { ja = "○○市", en = "○○ City" }
# title = { ja = "○○市 ハザードマップ", en = "○○ City hazard map" }
# contact = { ja = "○○市 危機管理課 000-000-0000", en = "Crisis Management Division, +81-0-000-0000" }
# attribution = "○○市オープンデータ (CC BY 4.0)"
# search_example = { ja = "本町", en = "Honmachi" }

# Where the map opens; without it the map fits the data.
# [view]
# center = [135.0, 35.0]   # lon, lat
# zoom = 12

# What the data covers. Outside the area, the resident's report says so instead of
# "not designated"; hazard kinds not listed are named as not covered by this data.
# [coverage]
# layer = "city_boundary"  # a polygon layer; or bbox = [west, south, east, north]
# margin_m = 300
# hazards = ["flood", "landslide_warning", "landslide_special_warning"]
# links = [{ title = { ja = "重ねるハザードマップ", en = "GSI multi-hazard map" }, url = "https://disaportal.gsi.go.jp/" }]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Site> {
        Site::from_toml(Path::new("site.toml"), t)
    }

    #[test]
    fn empty_site_is_generic() {
        let s = parse("").expect("parses");
        assert_eq!(s.title().ja, "ハザードマップ");
        assert!((s.coverage.margin_m - 300.0).abs() < f64::EPSILON);
    }

    #[test]
    fn starter_parses_and_names_make_titles() {
        parse(STARTER).expect("the starter is valid TOML");
        let s = parse("name = { ja = \"○○市\", en = \"Sample City\" }").expect("parses");
        assert_eq!(s.title().ja, "○○市 ハザードマップ");
        assert_eq!(s.title().en, "Sample City hazard map");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (t, key) in [
            ("[view]\ncenter = [200, 35]", "view.center"),
            ("[coverage]\nbbox = [1, 2, 0, 3]", "coverage.bbox"),
            ("[coverage]\nhazards = [\"meteor\"]", "hazards"),
            ("[coverage]\nlinks = [{ title = { ja = \"a\", en = \"a\" }, url = \"javascript:x\" }]", "coverage.links[0].url"),
            ("colour = 1", "colour"),
        ] {
            let e = parse(t).expect_err(t).to_string();
            assert!(e.contains(key), "{t}: {e}");
        }
    }
}
