//! The lot report (土地の情報): for a point, a feature or a drawn polygon, every layer the
//! caller may see that touches it, with the features, their labelled attributes and, for a
//! polygon, the area and share of it each feature covers. Geometry is the stored parts
//! (not tiles); areas and lengths are geodesic, on the WGS 84 ellipsoid, not Web Mercator.

use std::fmt::Write as _;

use geo::{
    BooleanOps, BoundingRect, Contains, Coord, Geodesic, GeodesicArea, Length, LineString,
    MultiLineString, MultiPolygon, Polygon,
};
use serde::Serialize;

use super::geom;
use super::hazard::Lang;
use crate::access::View;
use crate::store::{Feature, LayerSnapshot, PartBox, Shape, Value};
use crate::tile::{lonlat_to_mercator, mercator_to_lonlat};

/// Lines and points within this distance of a point subject are said to touch it.
pub const NEAR_POINT_M: f64 = 5.0;
/// Overlaps smaller than this (m²) are boundaries shared, not land covered.
const MIN_AREA_M2: f64 = 0.01;
/// Most vertices a drawn polygon may have.
pub const MAX_VERTICES: usize = 2_000;

/// What the report is about.
pub enum Subject {
    /// A point (EPSG:3857).
    Point(Coord<f64>),
    /// A polygon (EPSG:3857), with the feature it came from, if any (layer id, served id).
    Area(MultiPolygon<f64>, Option<(String, u64)>),
}

/// One attribute, labelled.
#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    pub name: String,
    pub label: String,
    pub value: serde_json::Value,
    /// The code's label (e.g. 用途地域 code 5 → 第一種住居地域), if the layer has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_label: Option<String>,
}

/// A feature touching the subject.
#[derive(Debug, Clone, Serialize)]
pub struct LandFeature {
    pub id: u64,
    pub attributes: Vec<Attribute>,
    /// Polygon layers under a polygon subject: the area covered, in m², and its share of
    /// the subject's area in per cent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_m2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_pct: Option<f64>,
    /// Line layers under a polygon subject: the length inside it, in metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_m: Option<f64>,
}

/// A layer touching the subject.
#[derive(Debug, Clone, Serialize)]
pub struct LandLayer {
    pub layer: String,
    pub title: String,
    pub category: String,
    pub geometry: crate::config::GeometryKind,
    pub features: Vec<LandFeature>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct LandReport {
    pub lang: Lang,
    /// "point" or "polygon".
    pub subject: &'static str,
    /// The point, or the polygon's representative point, in lon/lat.
    pub lon: f64,
    pub lat: f64,
    /// The polygon subject's geodesic area, m².
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_m2: Option<f64>,
    /// The feature the subject is (`layer`, `id`), when asked for by feature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<serde_json::Value>,
    pub layers: Vec<LandLayer>,
    pub note: String,
}

/// Geodesic area (m²) of a Web Mercator polygon set.
fn area_m2(mp: &MultiPolygon<f64>) -> f64 {
    to_lonlat_mp(mp).geodesic_area_unsigned()
}

fn to_lonlat(c: Coord<f64>) -> Coord<f64> {
    let (x, y) = mercator_to_lonlat(c.x, c.y);
    Coord { x, y }
}

fn to_lonlat_mp(mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    MultiPolygon(
        mp.0.iter()
            .map(|p| {
                let ring =
                    |r: &LineString<f64>| LineString(r.0.iter().map(|c| to_lonlat(*c)).collect());
                Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect())
            })
            .collect(),
    )
}

/// A drawn polygon from GeoJSON (`Polygon`, `MultiPolygon`, or a `Feature` holding one) in
/// lon/lat, as Web Mercator.
///
/// # Errors
/// A message fit for a 400 when it is not such a polygon, has too many vertices, or lies
/// outside lon/lat.
pub fn polygon_from_geojson(v: &serde_json::Value) -> Result<MultiPolygon<f64>, String> {
    let g = if v["type"] == "Feature" {
        &v["geometry"]
    } else {
        v
    };
    let polys: Vec<&serde_json::Value> = match g["type"].as_str() {
        Some("Polygon") => vec![&g["coordinates"]],
        Some("MultiPolygon") => g["coordinates"]
            .as_array()
            .ok_or("`coordinates` must be an array")?
            .iter()
            .collect(),
        Some(other) => {
            return Err(format!(
                "a {} cannot be a lot: send a Polygon or MultiPolygon",
                other.chars().take(20).collect::<String>()
            ))
        }
        None => return Err("send a GeoJSON Polygon or MultiPolygon (lon/lat)".into()),
    };
    let mut count = 0usize;
    let mut out = Vec::new();
    for p in polys {
        let rings = p
            .as_array()
            .ok_or("a polygon's coordinates must be rings")?;
        let mut ls = Vec::new();
        for r in rings {
            let pts = r.as_array().ok_or("a ring must be an array of positions")?;
            count += pts.len();
            if count > MAX_VERTICES {
                return Err(format!("more than {MAX_VERTICES} vertices"));
            }
            let mut ring = Vec::with_capacity(pts.len());
            for pt in pts {
                let (Some(lon), Some(lat)) = (pt[0].as_f64(), pt[1].as_f64()) else {
                    return Err("a position must be [lon, lat]".into());
                };
                if !(-180.0..=180.0).contains(&lon) || !(-85.05..=85.05).contains(&lat) {
                    return Err(format!("[{lon}, {lat}] is not a lon/lat position"));
                }
                let (x, y) = lonlat_to_mercator(lon, lat);
                ring.push(Coord { x, y });
            }
            if ring.len() < 4 {
                return Err("a ring needs at least 4 positions (closed)".into());
            }
            ls.push(LineString(ring));
        }
        let mut it = ls.into_iter();
        let ext = it.next().ok_or("a polygon needs an exterior ring")?;
        out.push(Polygon::new(ext, it.collect()));
    }
    // Made valid (self-overlaps resolved) by a union with nothing.
    let mp = MultiPolygon(out).union(&MultiPolygon::<f64>(vec![]));
    if mp.0.is_empty() || area_m2(&mp) < MIN_AREA_M2 {
        return Err("the polygon has no area".into());
    }
    Ok(mp)
}

/// The subject made from one stored feature (a polygon: its area; a point: the point).
///
/// # Errors
/// For a line feature, which has no land of its own.
pub fn subject_of_feature(layer: &LayerSnapshot, f: &Feature, id: u64) -> Result<Subject, String> {
    match &f.shape {
        Shape::Polygons(parts) => Ok(Subject::Area(
            parts_polygon(parts.iter()),
            Some((layer.def.id.to_string(), id)),
        )),
        Shape::Points(p) if !p.is_empty() => Ok(Subject::Point(p[0])),
        _ => Err("a line has no land of its own: ask about a point or a polygon".into()),
    }
}

fn parts_polygon<'a>(
    parts: impl Iterator<Item = &'a crate::store::PolygonPart>,
) -> MultiPolygon<f64> {
    MultiPolygon(
        parts
            .filter_map(crate::store::PolygonPart::to_polygon)
            .collect(),
    )
}

fn bbox_of(mp: &MultiPolygon<f64>) -> PartBox {
    // Never empty: polygons are checked for area when they are made.
    let r = mp
        .bounding_rect()
        .unwrap_or_else(|| geo::Rect::new(Coord::zero(), Coord::zero()));
    PartBox {
        min: r.min(),
        max: r.max(),
    }
}

fn attributes(layer: &LayerSnapshot, f: &Feature, view: &View, lang: Lang) -> Vec<Attribute> {
    layer
        .fields
        .iter()
        .zip(f.values.iter())
        .filter(|(fd, v)| view.sees_field(&layer.def, fd) && !matches!(v, Value::Null))
        .map(|(fd, v)| Attribute {
            name: fd.name.clone(),
            label: fd
                .label
                .as_ref()
                .map_or_else(|| fd.name.clone(), |l| lang.pick(l).to_string()),
            value: v.to_json(),
            value_label: v
                .key()
                .and_then(|k| fd.values.get(&k))
                .map(|l| lang.pick(l).to_string()),
        })
        .collect()
}

/// The lot report for `subject` over `layers`, as `view` may see them.
#[must_use]
pub fn report(layers: &[&LayerSnapshot], view: &View, subject: &Subject, lang: Lang) -> LandReport {
    let (area, bbox) = match subject {
        Subject::Point(p) => (
            None,
            PartBox {
                min: Coord {
                    x: p.x - NEAR_POINT_M * 2.0,
                    y: p.y - NEAR_POINT_M * 2.0,
                },
                max: Coord {
                    x: p.x + NEAR_POINT_M * 2.0,
                    y: p.y + NEAR_POINT_M * 2.0,
                },
            },
        ),
        Subject::Area(mp, _) => (Some(area_m2(mp)), bbox_of(mp)),
    };
    let mut out = Vec::new();
    for layer in layers {
        if !view.sees_layer(&layer.def) {
            continue;
        }
        let by_feature = parts_by_feature(layer, &bbox);
        let mut features = Vec::new();
        for (fi, parts) in by_feature {
            let f = &layer.features[fi];
            if !view.sees_feature(f) {
                continue;
            }
            let served = layer.served_id(f, view.is_public());
            if let Subject::Area(_, Some((l, id))) = subject {
                if *l == layer.def.id.to_string() && *id == served {
                    continue;
                }
            }
            let measured = measure(subject, &f.shape, &parts, area);
            let Some((area_m2, share_pct, length_m)) = measured else {
                continue;
            };
            features.push(LandFeature {
                id: served,
                attributes: attributes(layer, f, view, lang),
                area_m2,
                share_pct,
                length_m,
            });
        }
        if features.is_empty() {
            continue;
        }
        // Largest share first within a layer.
        features.sort_by(|a, b| {
            b.area_m2
                .unwrap_or(0.0)
                .total_cmp(&a.area_m2.unwrap_or(0.0))
                .then(a.id.cmp(&b.id))
        });
        out.push(LandLayer {
            layer: layer.def.id.to_string(),
            title: lang.pick(&layer.def.title).to_string(),
            category: lang.pick(&layer.def.category.label()).to_string(),
            geometry: layer.def.geometry,
            features,
        });
    }
    let (lon, lat) = match subject {
        Subject::Point(p) => mercator_to_lonlat(p.x, p.y),
        Subject::Area(mp, _) => {
            let b = bbox_of(mp);
            mercator_to_lonlat(
                f64::midpoint(b.min.x, b.max.x),
                f64::midpoint(b.min.y, b.max.y),
            )
        }
    };
    let note = match lang {
        Lang::Ja => "各レイヤーの保存された形状（タイルではない）から計算しています。面積は地表（WGS84楕円体）での値、割合は調べた区域の面積に対するものです。法的な証明ではありません。正式な内容は担当課で確認してください。",
        Lang::En => "Computed from each layer's stored geometry (not tiles). Areas are on the ground (WGS 84 ellipsoid); shares are of the area asked about. Not a legal certificate: confirm with the department in charge.",
    };
    LandReport {
        lang,
        subject: if area.is_some() { "polygon" } else { "point" },
        lon: round(lon, 7),
        lat: round(lat, 7),
        area_m2: area.map(|a| round(a, 2)),
        feature: match subject {
            Subject::Area(_, Some((l, id))) => Some(serde_json::json!({ "layer": l, "id": id })),
            _ => None,
        },
        layers: out,
        note: note.into(),
    }
}

/// The parts of `layer` in `bbox`, grouped by feature, in feature order.
fn parts_by_feature(layer: &LayerSnapshot, bbox: &PartBox) -> Vec<(usize, Vec<u32>)> {
    let mut by_feature: Vec<(usize, Vec<u32>)> = Vec::new();
    for (fi, part) in layer.parts_in(bbox) {
        match by_feature.iter_mut().find(|(f, _)| *f == fi as usize) {
            Some((_, parts)) => parts.push(part),
            None => by_feature.push((fi as usize, vec![part])),
        }
    }
    by_feature.sort_by_key(|(f, _)| *f);
    by_feature
}

/// How a feature (its parts near the subject) touches the subject: `None` when it does
/// not; else its area and share of a polygon subject, or its length inside it.
fn measure(
    subject: &Subject,
    shape: &Shape,
    parts: &[u32],
    area: Option<f64>,
) -> Option<(Option<f64>, Option<f64>, Option<f64>)> {
    match (subject, shape) {
        (Subject::Point(p), shape) => {
            let near = parts.iter().any(|&i| {
                let d = geom::part_distance(shape, i as usize, *p);
                match shape {
                    Shape::Polygons(_) => d == 0.0,
                    // Mercator metres stretch by 1/cos(lat): NEAR_POINT_M on the ground.
                    _ => d * to_lonlat(*p).y.to_radians().cos() <= NEAR_POINT_M,
                }
            });
            near.then_some((None, None, None))
        }
        (Subject::Area(mp, _), Shape::Polygons(all)) => {
            let cand = parts_polygon(parts.iter().filter_map(|&i| all.get(i as usize)));
            let a = area_m2(&mp.intersection(&cand));
            (a > MIN_AREA_M2).then(|| {
                let share = area.map(|s| if s > 0.0 { 100.0 * a / s } else { 0.0 });
                (Some(round(a, 2)), share.map(|s| round(s, 2)), None)
            })
        }
        (Subject::Area(mp, _), Shape::Lines(all)) => {
            let lines = MultiLineString(
                parts
                    .iter()
                    .filter_map(|&i| all.get(i as usize))
                    .map(|l| LineString(l.coords.clone()))
                    .collect(),
            );
            let inside = mp.clip(&lines, false);
            let ll = MultiLineString(
                inside
                    .0
                    .iter()
                    .map(|l| LineString(l.0.iter().map(|c| to_lonlat(*c)).collect()))
                    .collect(),
            );
            let len = Geodesic.length(&ll);
            (len > 0.01).then_some((None, None, Some(round(len, 2))))
        }
        (Subject::Area(mp, _), Shape::Points(pts)) => parts
            .iter()
            .filter_map(|&i| pts.get(i as usize))
            .any(|c| mp.contains(&geo::Point(*c)))
            .then_some((None, None, None)),
    }
}

fn round(v: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (v * k).round() / k
}

impl LandReport {
    /// CSV: one row per feature (layer, feature, measures, attributes as `label=value`).
    #[must_use]
    pub fn to_csv(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut t =
            String::from("layer,layer_title,feature_id,area_m2,share_pct,length_m,attributes\r\n");
        for l in &self.layers {
            for f in &l.features {
                let attrs: Vec<String> = f
                    .attributes
                    .iter()
                    .map(|a| {
                        let v = a
                            .value_label
                            .clone()
                            .unwrap_or_else(|| super::json_text(&a.value));
                        format!("{}={v}", a.label)
                    })
                    .collect();
                let n = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
                let _ = write!(
                    t,
                    "{},{},{},{},{},{},{}\r\n",
                    q(&l.layer),
                    q(&l.title),
                    f.id,
                    n(f.area_m2),
                    n(f.share_pct),
                    n(f.length_m),
                    q(&attrs.join("; "))
                );
            }
        }
        t
    }

    /// A printable HTML page.
    #[must_use]
    pub fn to_html(&self) -> String {
        let esc = super::html_escape;
        let ja = self.lang == Lang::Ja;
        let title = if ja { "土地の情報" } else { "Land report" };
        let mut h = format!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:1rem;}}table{{border-collapse:collapse;margin:.3rem 0 1rem;}}td,th{{border:1px solid #999;padding:.2rem .5rem;text-align:left;vertical-align:top;}}@media print{{a{{color:inherit;}}}}</style></head><body><main><h1>{title}</h1>",
            if ja { "ja" } else { "en" }
        );
        let _ = write!(
            h,
            "<p>{} {:.6}, {:.6}",
            if ja {
                "位置（経度・緯度）："
            } else {
                "Location (lon, lat):"
            },
            self.lon,
            self.lat
        );
        if let Some(a) = self.area_m2 {
            let _ = write!(h, "<br>{} {a:.2} m²", if ja { "面積：" } else { "Area:" });
        }
        h.push_str("</p>");
        if self.layers.is_empty() {
            let _ = write!(
                h,
                "<p>{}</p>",
                if ja {
                    "ここに重なる情報はありません。"
                } else {
                    "No layer touches this place."
                }
            );
        }
        for l in &self.layers {
            let _ = write!(h, "<h2>{}</h2><p>{}</p>", esc(&l.title), esc(&l.category));
            for f in &l.features {
                h.push_str("<table>");
                if let (Some(a), Some(s)) = (f.area_m2, f.share_pct) {
                    let _ = write!(
                        h,
                        "<tr><th>{}</th><td>{a:.2} m² ({s:.1} %)</td></tr>",
                        if ja {
                            "重なる面積"
                        } else {
                            "Area covered"
                        }
                    );
                }
                if let Some(m) = f.length_m {
                    let _ = write!(
                        h,
                        "<tr><th>{}</th><td>{m:.1} m</td></tr>",
                        if ja {
                            "区域内の延長"
                        } else {
                            "Length inside"
                        }
                    );
                }
                for a in &f.attributes {
                    let v = a
                        .value_label
                        .clone()
                        .unwrap_or_else(|| super::json_text(&a.value));
                    let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(&a.label), esc(&v));
                }
                h.push_str("</table>");
            }
        }
        let _ = write!(h, "<p>{}</p></main></body></html>", esc(&self.note));
        h
    }
}
