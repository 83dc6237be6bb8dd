//! Styles made from the layer definitions, for roots without a style or layers a root's
//! style leaves out. Hazard layers get the standard colours of their kind and rank (MLIT
//! ハザードマップ作成の手引き: 浸水深 six classes, 浸水継続時間, 土砂災害警戒区域 yellow /
//! 特別警戒区域 red …); 用途地域 the customary colours by national code or name; other
//! layers hues kept apart from the hazard scales. Each chizu layer's first style layer
//! carries its legend (`metadata["chizu:legend"]`) in the colours drawn, so the viewer's
//! legend and the map cannot disagree. Knows nothing of any city: only of its layer files.

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use crate::config::{zoning, Category, GeometryKind, HazardKind, I18n, LayerDef, Palette, Site};
use crate::store::{FieldType, LayerSnapshot};

/// MLIT's six flood-depth classes (浸水深), shallow to deep; also 高潮 and 津波.
pub const DEPTH: [&str; 6] = [
    "#F7F5A9", "#FFD8C0", "#FFB7B7", "#FF9191", "#F285C9", "#DC7ADC",
];
/// 浸水継続時間, short to long.
pub const DURATION: [&str; 7] = [
    "#E3F2FD", "#BBDEFB", "#90CAF9", "#64B5F6", "#42A5F5", "#1E88E5", "#1565C0",
];
/// 内水 (sewer flooding) depth ranks, kept apart from the river scale.
pub const INLAND: [&str; 6] = [
    "#E0F7FA", "#B2EBF2", "#80DEEA", "#4DD0E1", "#26C6DA", "#00ACC1",
];
/// Fills of layers that are not hazards: greys and greens, far from every hazard scale.
const OTHER_FILLS: [&str; 5] = ["#78909C", "#66BB6A", "#26A69A", "#9E9D24", "#8D6E63"];
/// Lines that are not hazards.
const OTHER_LINES: [&str; 5] = ["#455A64", "#00695C", "#5D4037", "#283593", "#2E7D32"];
/// Shelter layers, in catalog order.
const SHELTERS: [&str; 4] = ["#2E7D32", "#1565C0", "#6A1B9A", "#00838F"];
/// Points that are not shelters.
const OTHER_POINTS: [&str; 3] = ["#37474F", "#5D4037", "#00695C"];
const BACKGROUND: &str = "#F4F1EA";
/// Fonts: none fetched; MapLibre draws labels with the device's fonts.
const FONT: &str = "sans-serif";

/// One legend row: a colour and what it means.
fn item(colour: &str, label: &I18n) -> Json {
    json!({ "colour": colour, "label": label })
}

fn i18n(ja: &str, en: &str) -> I18n {
    I18n {
        ja: ja.into(),
        en: en.into(),
    }
}

/// A style-expression literal for a value of `kind` written as text in a layer file.
fn literal(key: &str, kind: FieldType) -> Option<Json> {
    match kind {
        FieldType::Integer => key.trim().parse::<i64>().ok().map(Json::from),
        FieldType::Float => key.trim().parse::<f64>().ok().map(Json::from),
        FieldType::Boolean => match key.trim() {
            "true" => Some(Json::Bool(true)),
            "false" => Some(Json::Bool(false)),
            _ => None,
        },
        FieldType::String => Some(Json::from(key)),
    }
}

/// A colour by value: `match` on the field, or the plain colour when nothing matches.
fn colour_match(field: &str, pairs: &[(Json, String)], default: &str) -> Json {
    if pairs.is_empty() {
        return json!(default);
    }
    let mut e = vec![json!("match"), json!(["get", field])];
    let mut seen: Vec<&Json> = Vec::new();
    for (k, c) in pairs {
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        e.push(k.clone());
        e.push(json!(c));
    }
    e.push(json!(default));
    Json::Array(e)
}

/// Up to `cap` distinct values of field `i`, in the order first met.
fn distinct(layer: &LayerSnapshot, i: usize, cap: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in layer.features.iter().take(20_000) {
        if let Some(k) = f.values[i].key() {
            if !out.contains(&k) {
                out.push(k);
                if out.len() >= cap {
                    break;
                }
            }
        }
    }
    out
}

/// The layer's fill (or line, or point) colour and its legend rows.
struct Paint {
    colour: Json,
    legend: Vec<Json>,
}

/// 用途地域 colours for a field holding zone names or national codes (with labels).
fn zoning_paint(layer: &LayerSnapshot, i: usize) -> Option<Paint> {
    let f = &layer.fields[i];
    let mut zones: Vec<(&zoning::Zone, Json)> = Vec::new();
    for v in distinct(layer, i, 64) {
        let zone = f
            .values
            .get(&v)
            .and_then(|l| zoning::find_by_name(&l.ja))
            .or_else(|| zoning::find(&v));
        if let (Some(z), Some(lit)) = (zone, literal(&v, f.kind)) {
            zones.push((z, lit));
        }
    }
    if zones.is_empty() {
        return None;
    }
    zones.sort_by_key(|(z, _)| z.code);
    let pairs: Vec<(Json, String)> = zones
        .iter()
        .map(|(z, lit)| (lit.clone(), z.colour.to_string()))
        .collect();
    let mut legend: Vec<Json> = Vec::new();
    for (z, _) in &zones {
        let row = item(z.colour, &i18n(z.ja, z.en));
        if !legend.contains(&row) {
            legend.push(row);
        }
    }
    Some(Paint {
        colour: colour_match(&f.name, &pairs, "#DDDDDD"),
        legend,
    })
}

/// The field whose values are mostly 用途地域 names (or codes labelled with them).
fn zoning_field(layer: &LayerSnapshot) -> Option<usize> {
    (0..layer.fields.len()).find(|&i| {
        let f = &layer.fields[i];
        if f.internal {
            return false;
        }
        let vals = distinct(layer, i, 32);
        let hits = vals
            .iter()
            .filter(|v| {
                zoning::find_by_name(v).is_some()
                    || f.values
                        .get(*v)
                        .is_some_and(|l| zoning::find_by_name(&l.ja).is_some())
            })
            .count();
        !vals.is_empty() && hits * 2 >= vals.len()
    })
}

/// A hazard layer's colours by rank level (or kind).
fn hazard_paint(def: &LayerDef, layer: &LayerSnapshot, kind: HazardKind) -> Paint {
    let h = def.hazard.as_ref();
    let scale: &[&str] = match kind {
        HazardKind::Flood | HazardKind::StormSurge | HazardKind::Tsunami => &DEPTH,
        HazardKind::FloodDuration => &DURATION,
        HazardKind::InlandFlood => &INLAND,
        // Chosen so that every pair of fills drawn together differs by CIEDE2000 ≥ 20 at
        // the opacity drawn (tests/it/report.rs): 家屋倒壊 is not one more red among the
        // flood pinks, and 警戒区域 amber is not the pale yellow of the shallowest flood.
        HazardKind::HouseCollapse => &["#4A148C", "#12005E"],
        HazardKind::LandslideWarning => &["#FFAB00"],
        HazardKind::LandslideSpecialWarning => &["#E8001C"],
        HazardKind::LandslidePrevention => &["#5D4037"],
    };
    let base = scale[scale.len() / 2];
    let title = kind.label();
    let Some((field, ranks)) = h.and_then(|h| Some((h.rank_field.as_ref()?, &h.ranks))) else {
        return Paint {
            colour: json!(scale[0]),
            legend: vec![item(scale[0], &title)],
        };
    };
    if ranks.is_empty() || scale.len() == 1 {
        return Paint {
            colour: json!(scale[0]),
            legend: vec![item(scale[0], &title)],
        };
    }
    let ftype = layer
        .field_index(field)
        .map_or(FieldType::String, |i| layer.fields[i].kind);
    let mut rows: Vec<(u8, &String, &crate::config::RankLabel)> = ranks
        .iter()
        .map(|(code, r)| (r.level.unwrap_or(1), code, r))
        .collect();
    rows.sort_by_key(|(level, code, _)| (*level, code.parse::<i64>().unwrap_or(i64::MAX)));
    let colour_of = |level: u8, r: &crate::config::RankLabel| -> String {
        if kind == HazardKind::HouseCollapse {
            // 河岸侵食 (bank erosion) is drawn darker than 氾濫流 (flood flow) by convention.
            let erosion = r.ja.contains("侵食") || r.en.to_lowercase().contains("erosion");
            return scale[usize::from(erosion)].to_string();
        }
        scale[usize::from(level.max(1) - 1).min(scale.len() - 1)].to_string()
    };
    let pairs: Vec<(Json, String)> = rows
        .iter()
        .filter_map(|(level, code, r)| Some((literal(code, ftype)?, colour_of(*level, r))))
        .collect();
    let legend = rows
        .iter()
        .map(|(level, _, r)| item(&colour_of(*level, r), &i18n(&r.ja, &r.en)))
        .collect();
    Paint {
        colour: colour_match(field, &pairs, base),
        legend,
    }
}

/// Colours from `[style] colour_by` and `colours`, labelled from the field's `values`.
fn field_paint(layer: &LayerSnapshot, field: &str, default: &str) -> Option<Paint> {
    let i = layer.field_index(field)?;
    let f = &layer.fields[i];
    let mut colours: Vec<(&String, &String)> = layer.def.style.colours.iter().collect();
    // A sensor layer's levels in their own order, lowest first (below every level, then
    // each threshold), not in the order of their names.
    if let (Some(sensor), crate::live::sensor::LEVEL_FIELD) = (&layer.def.sensor, field) {
        let rank = |k: &str| {
            if k == crate::live::sensor::BELOW {
                return 0;
            }
            sensor
                .levels
                .iter()
                .position(|l| l.field == k)
                .map_or(usize::MAX, |p| p + 1)
        };
        colours.sort_by_key(|(k, _)| rank(k));
    }
    let mut pairs = Vec::new();
    let mut legend = Vec::new();
    for (k, c) in colours {
        let Some(lit) = literal(k, f.kind) else {
            continue;
        };
        pairs.push((lit, c.clone()));
        let label = f.values.get(k).cloned().unwrap_or_else(|| i18n(k, k));
        legend.push(item(c, &label));
    }
    if pairs.is_empty() {
        return None;
    }
    let mut colour = colour_match(&f.name, &pairs, default);
    // A station gone silent (or never heard) is grey whatever its last level: an old
    // reading drawn in a level's colour would pass for the river now.
    if layer.def.sensor.is_some() && field == crate::live::sensor::LEVEL_FIELD {
        colour = json!(["case", ["==", ["get", "stale"], true], SILENT_GREY, colour]);
        legend.push(item(
            SILENT_GREY,
            &i18n("観測が途絶えている（最新の値なし）", "No recent reading"),
        ));
    }
    Some(Paint { colour, legend })
}

/// The colour of a sensor station with no recent reading.
const SILENT_GREY: &str = "#9e9e9e";

/// Which drawing group a layer is in, bottom to top.
fn group(def: &LayerDef) -> u8 {
    match (def.geometry, def.hazard.as_ref().map(|h| h.kind)) {
        (GeometryKind::Polygon, None) if def.category == Category::Kihon => 0,
        (GeometryKind::Polygon, None) => 1,
        (GeometryKind::Polygon, Some(k)) => 2 + hazard_order(k),
        (GeometryKind::Line, _) => 20,
        (GeometryKind::Point, _) if def.shelter.is_some() => 31,
        (GeometryKind::Point, _) => 30,
    }
}

/// Hazard fills bottom to top: wide shallow areas first, the most severe zones on top.
fn hazard_order(k: HazardKind) -> u8 {
    match k {
        HazardKind::FloodDuration => 0,
        HazardKind::InlandFlood => 1,
        HazardKind::Flood => 2,
        HazardKind::StormSurge => 3,
        HazardKind::Tsunami => 4,
        HazardKind::HouseCollapse => 5,
        HazardKind::LandslidePrevention => 6,
        HazardKind::LandslideWarning => 7,
        HazardKind::LandslideSpecialWarning => 8,
    }
}

fn fill_opacity(def: &LayerDef) -> f64 {
    def.style
        .opacity
        .unwrap_or(match def.hazard.as_ref().map(|h| h.kind) {
            Some(HazardKind::Flood | HazardKind::StormSurge | HazardKind::Tsunami) => 0.75,
            Some(HazardKind::LandslideSpecialWarning) => 0.85,
            Some(HazardKind::LandslideWarning) => 0.9,
            Some(HazardKind::HouseCollapse | HazardKind::LandslidePrevention) => 0.7,
            Some(HazardKind::FloodDuration | HazardKind::InlandFlood) => 0.6,
            None if def.category == Category::Kihon => 0.15,
            None => 0.35,
        })
}

/// Whether the layer is drawn when the map opens: on the public map hazards, shelters,
/// base layers and live disaster layers (what is happening now).
fn visible_by_default(def: &LayerDef, public: bool) -> bool {
    def.style.visible.unwrap_or(
        !public
            || def.hazard.is_some()
            || def.shelter.is_some()
            || def.category == Category::Kihon
            || (def.live.is_some() && def.category == Category::Bousai),
    )
}

/// The colours a layer is drawn in: `[style]` first, then 用途地域, the hazard scales, or
/// one colour of the layer's kind (`n`-th of its kind, `shelter_n`-th shelter layer).
fn paint_of(layer: &LayerSnapshot, n: usize, shelter_n: usize) -> Paint {
    let def = &layer.def;
    let st = &def.style;
    let plain = match def.geometry {
        GeometryKind::Polygon => OTHER_FILLS[n % OTHER_FILLS.len()],
        GeometryKind::Line => OTHER_LINES[n % OTHER_LINES.len()],
        GeometryKind::Point if def.shelter.is_some() => SHELTERS[shelter_n % SHELTERS.len()],
        GeometryKind::Point => OTHER_POINTS[n % OTHER_POINTS.len()],
    };
    let plain = st.colour.as_deref().unwrap_or(plain);
    let hazard = def.hazard.as_ref().map(|h| h.kind);
    let zoning = (st.palette == Some(Palette::Zoning)
        || (st.palette.is_none() && st.colour_by.is_none()))
    .then(|| {
        let i = match &st.colour_by {
            Some(f) => layer.field_index(f),
            None => zoning_field(layer),
        }?;
        zoning_paint(layer, i)
    })
    .flatten()
    .filter(|_| def.geometry == GeometryKind::Polygon && hazard.is_none());
    if let Some(p) = st
        .colour_by
        .as_deref()
        .and_then(|f| field_paint(layer, f, plain))
    {
        p
    } else if let Some(p) = zoning {
        p
    } else if let (Some(k), None) = (hazard, &st.colour) {
        hazard_paint(def, layer, k)
    } else {
        Paint {
            colour: json!(plain),
            legend: vec![item(plain, &def.title)],
        }
    }
}

/// The legend of a layer: its title, how its swatches look, and one row per colour.
fn legend_of(def: &LayerDef, items: &[Json], opacity: f64) -> Json {
    let hazard = def.hazard.as_ref().map(|h| h.kind);
    let st = &def.style;
    let legend_kind = match def.geometry {
        GeometryKind::Polygon if def.category == Category::Kihon && hazard.is_none() => "outline",
        GeometryKind::Polygon => "fill",
        GeometryKind::Line => "line",
        GeometryKind::Point if st.label_only => "label",
        GeometryKind::Point => "circle",
    };
    json!({ "title": def.title, "kind": legend_kind, "opacity": if def.geometry == GeometryKind::Polygon { opacity } else { 1.0 }, "items": items })
}

/// The style layers of one chizu layer being made.
struct Layers<'a> {
    id: &'a str,
    visible: bool,
    live: bool,
    out: Vec<Json>,
}

impl Layers<'_> {
    fn push(&mut self, suffix: &str, ty: &str, paint: Json, layout: Json, minzoom: u8) {
        let mut l = Map::new();
        let id = self.id;
        l.insert(
            "id".into(),
            json!(format!("{}-{suffix}", id.replace('_', "-"))),
        );
        l.insert("type".into(), json!(ty));
        // Layers hidden when the map opens come from a second source, which MapLibre only
        // fetches once one of them is shown: the first tiles hold only what is drawn.
        // A live layer has a source of its own, which the map reloads on each change.
        l.insert(
            "source".into(),
            json!(if self.live {
                "chizu-live"
            } else if self.visible {
                "chizu"
            } else {
                "chizu-more"
            }),
        );
        l.insert("source-layer".into(), json!(id));
        l.insert("metadata".into(), json!({ "chizu:layer": id }));
        l.insert("paint".into(), paint);
        let mut lay = match layout {
            Json::Object(m) => m,
            _ => Map::new(),
        };
        if !self.visible {
            lay.insert("visibility".into(), json!("none"));
        }
        if !lay.is_empty() {
            l.insert("layout".into(), Json::Object(lay));
        }
        if minzoom > 0 {
            l.insert("minzoom".into(), json!(minzoom));
        }
        self.out.push(Json::Object(l));
    }
}

/// A polygon layer: its fill, and an outline where one helps.
fn polygons(ls: &mut Layers<'_>, def: &LayerDef, colour: &Json, opacity: f64) {
    let hazard = def.hazard.as_ref().map(|h| h.kind);
    let kihon = def.category == Category::Kihon;
    ls.push(
        "fill",
        "fill",
        json!({ "fill-color": colour, "fill-opacity": opacity }),
        json!({}),
        def.minzoom,
    );
    let outline = match hazard {
        Some(HazardKind::LandslideWarning) => Some(("#E6A800", 1.0)),
        Some(HazardKind::LandslideSpecialWarning) => Some(("#A00000", 1.2)),
        Some(_) => None,
        // Base areas (a city's boundary) are mostly their outline.
        None if kihon => Some(("#455A64", 1.5)),
        None => Some(("#6D6D6D", 0.6)),
    };
    if let Some((c, w)) = outline {
        let mut p = json!({ "line-color": c, "line-width": def.style.width.unwrap_or(w) });
        if def.style.dashed || kihon {
            p["line-dasharray"] = json!([3, 2]);
        }
        let from = if hazard.is_some() || kihon { 0 } else { 13 };
        ls.push("line", "line", p, json!({}), def.minzoom.max(from));
    }
}

/// A line layer, wider as the map zooms in.
fn lines(ls: &mut Layers<'_>, def: &LayerDef, colour: &Json) {
    let kihon = def.category == Category::Kihon;
    let w = def.style.width.unwrap_or(if kihon { 1.2 } else { 2.0 });
    let mut p = json!({
        "line-color": colour,
        "line-width": ["interpolate", ["linear"], ["zoom"], 8, (w * 0.5).max(0.5), 16, w * 2.0],
    });
    if def.style.dashed || kihon {
        p["line-dasharray"] = json!([3, 2]);
    }
    ls.push(
        "line",
        "line",
        p,
        json!({ "line-cap": "round", "line-join": "round" }),
        def.minzoom,
    );
}

/// A point layer's markers.
fn points(ls: &mut Layers<'_>, def: &LayerDef, colour: &Json) {
    let r = def
        .style
        .width
        .unwrap_or(if def.shelter.is_some() { 6.0 } else { 4.5 });
    let paint = json!({
        "circle-color": colour,
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, r * 0.7, 16, r * 1.4],
        "circle-stroke-color": "#FFFFFF",
        "circle-stroke-width": 2,
    });
    ls.push("point", "circle", paint, json!({}), def.minzoom);
}

/// Labels from `[style] label` or a shelter's name, at 14 px.
fn labels(ls: &mut Layers<'_>, layer: &LayerSnapshot) {
    let def = &layer.def;
    let st = &def.style;
    let field = st
        .label
        .clone()
        .or_else(|| def.shelter.as_ref().map(|s| s.name_field.clone()));
    let Some(f) = field.filter(|f| layer.field_index(f).is_some()) else {
        return;
    };
    let marker = def.geometry == GeometryKind::Point && !st.label_only;
    let mut layout = json!({ "text-field": ["get", f], "text-font": [FONT], "text-size": 14 });
    if marker {
        layout["text-offset"] = json!([0, 1.1]);
        layout["text-anchor"] = json!("top");
        layout["text-optional"] = json!(true);
    } else if def.geometry == GeometryKind::Line {
        layout["symbol-placement"] = json!("line");
    }
    let text = if def.shelter.is_some() {
        "#1B3D1C"
    } else {
        "#263238"
    };
    let paint = json!({ "text-color": text, "text-halo-color": "#FFFFFF", "text-halo-width": 1.5 });
    ls.push(
        "label",
        "symbol",
        paint,
        layout,
        def.minzoom.max(if marker { 14 } else { 12 }),
    );
}

/// The style layers of one chizu layer; the first carries its legend.
fn layers_for(layer: &LayerSnapshot, public: bool, n: usize, shelter_n: usize) -> Vec<Json> {
    let def = &layer.def;
    let paint = paint_of(layer, n, shelter_n);
    let opacity = fill_opacity(def);
    let legend = legend_of(def, &paint.legend, opacity);
    let mut ls = Layers {
        id: def.id.as_str(),
        visible: visible_by_default(def, public),
        live: def.live.is_some(),
        out: Vec::new(),
    };
    match def.geometry {
        GeometryKind::Polygon => polygons(&mut ls, def, &paint.colour, opacity),
        GeometryKind::Line => lines(&mut ls, def, &paint.colour),
        GeometryKind::Point if def.style.label_only => {}
        GeometryKind::Point => points(&mut ls, def, &paint.colour),
    }
    labels(&mut ls, layer);
    if let Some(first) = ls.out.first_mut() {
        first["metadata"]["chizu:legend"] = legend;
    }
    ls.out
}

/// Zoom at which `[w, s, e, n]` fits a phone-sized map (360 × 560 CSS px).
fn fit_zoom(b: [f64; 4]) -> f64 {
    let (x0, y0) = crate::tile::lonlat_to_mercator(b[0], b[1]);
    let (x1, y1) = crate::tile::lonlat_to_mercator(b[2], b[3]);
    let world = 40_075_016.685_578_49;
    let zw = (360.0 * world / (512.0 * (x1 - x0).max(1.0))).log2();
    let zh = (560.0 * world / (512.0 * (y1 - y0).max(1.0))).log2();
    (zw.min(zh) * 4.0).floor() / 4.0
}

/// The generated style of a view (`public`: public layers only) over `layers`.
#[must_use]
pub fn generate(layers: &[Arc<LayerSnapshot>], site: &Site, public: bool) -> Json {
    let mut chosen: Vec<&Arc<LayerSnapshot>> = layers
        .iter()
        .filter(|l| !public || l.def.is_public())
        .collect();
    chosen.sort_by_key(|l| (group(&l.def), l.def.id.clone()));
    let mut style_layers = vec![
        json!({ "id": "background", "type": "background", "paint": { "background-color": BACKGROUND } }),
    ];
    let mut labels = Vec::new();
    let (mut n, mut shelters) = (0, 0);
    for l in &chosen {
        for sl in layers_for(l, public, n, shelters) {
            if sl["type"] == "symbol" {
                labels.push(sl);
            } else {
                style_layers.push(sl);
            }
        }
        if l.def.shelter.is_some() {
            shelters += 1;
        } else if l.def.hazard.is_none() {
            n += 1;
        }
    }
    style_layers.extend(labels);
    let bounds = crate::store::lonlat_union(chosen.iter().map(AsRef::as_ref), public);
    let (center, zoom) = match (&site.view, bounds) {
        (Some(v), _) => (v.center, v.zoom),
        (None, Some(b)) => (
            [f64::midpoint(b[0], b[2]), f64::midpoint(b[1], b[3])],
            fit_zoom(b).clamp(2.0, 16.0),
        ),
        (None, None) => ([137.0, 36.0], 4.0),
    };
    let mut sources = serde_json::Map::new();
    sources.insert("chizu".into(), json!({ "type": "vector", "url": "chizu:" }));
    for extra in ["chizu-more", "chizu-live"] {
        if style_layers.iter().any(|l| l["source"] == extra) {
            sources.insert(extra.into(), json!({ "type": "vector", "url": "chizu:" }));
        }
    }
    let name = site.name.as_ref().map_or_else(
        || {
            if public {
                "公開型GIS".to_string()
            } else {
                "統合型GIS".to_string()
            }
        },
        |n| {
            format!(
                "{} {}",
                n.ja,
                if public {
                    "公開型GIS"
                } else {
                    "統合型GIS"
                }
            )
        },
    );
    json!({
        "version": 8,
        "name": name,
        "metadata": { "chizu:view": if public { "public" } else { "internal" }, "chizu:generated": true },
        "center": center,
        "zoom": zoom,
        "sources": sources,
        "layers": style_layers,
    })
}

/// A root's own style, completed with generated style layers for the layers it does not
/// draw (public layers only in a public style), put under its labels.
#[must_use]
pub fn complete(style: &Json, layers: &[Arc<LayerSnapshot>], site: &Site) -> Json {
    let public = style["metadata"]["chizu:view"] != "internal";
    let mut s = style.clone();
    let drawn: Vec<String> = s["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l["source-layer"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<Arc<LayerSnapshot>> = layers
        .iter()
        .filter(|l| !drawn.iter().any(|d| d == l.def.id.as_str()))
        .cloned()
        .collect();
    if missing.is_empty() {
        return s;
    }
    let source = s["sources"].as_object().and_then(|m| {
        m.iter()
            .find(|(_, v)| v["url"] == "chizu:")
            .map(|(k, _)| k.clone())
    });
    let Some(source) = source else {
        return s;
    };
    let extra = generate(&missing, site, public);
    let Some(list) = s["layers"].as_array_mut() else {
        return s;
    };
    let at = list
        .iter()
        .position(|l| l["type"] == "symbol")
        .unwrap_or(list.len());
    let add: Vec<Json> = extra["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["type"] != "background")
        .map(|l| {
            let mut l = l.clone();
            l["source"] = json!(source);
            l
        })
        .collect();
    for (i, l) in add.into_iter().enumerate() {
        list.insert(at + i, l);
    }
    s
}
