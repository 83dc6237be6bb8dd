//! Features as GeoJSON (RFC 7946: WGS84 lon/lat, right-hand rule), and as CSV rows.

use std::fmt::Write as _;

use geo::Coord;
use serde_json::{json, Map, Value as Json};

use crate::access::View;
use crate::store::{Feature, LayerSnapshot, Shape};
use crate::tile::mercator_to_lonlat;

/// Degrees rounded to 7 decimals (about 1 cm), which keeps responses small.
fn lonlat(c: Coord<f64>) -> [f64; 2] {
    let (lon, lat) = mercator_to_lonlat(c.x, c.y);
    [(lon * 1e7).round() / 1e7, (lat * 1e7).round() / 1e7]
}

fn ring(r: &[Coord<f64>], exterior: bool) -> Vec<[f64; 2]> {
    let mut v: Vec<[f64; 2]> = r.iter().map(|&c| lonlat(c)).collect();
    // RFC 7946: exteriors counter-clockwise, holes clockwise (in lon/lat).
    let area2: f64 = v
        .windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum();
    if (area2 > 0.0) != exterior {
        v.reverse();
    }
    v
}

/// A shape as a GeoJSON geometry in lon/lat.
#[must_use]
pub fn geometry(shape: &Shape) -> Json {
    match shape {
        Shape::Points(p) if p.len() == 1 => json!({ "type": "Point", "coordinates": lonlat(p[0]) }),
        Shape::Points(p) => {
            json!({ "type": "MultiPoint", "coordinates": p.iter().map(|&c| lonlat(c)).collect::<Vec<_>>() })
        }
        Shape::Lines(l) if l.len() == 1 => {
            json!({ "type": "LineString", "coordinates": l[0].coords.iter().map(|&c| lonlat(c)).collect::<Vec<_>>() })
        }
        Shape::Lines(l) => json!({
            "type": "MultiLineString",
            "coordinates": l.iter().map(|p| p.coords.iter().map(|&c| lonlat(c)).collect::<Vec<_>>()).collect::<Vec<_>>()
        }),
        Shape::Polygons(p) => {
            let polys: Vec<Vec<Vec<[f64; 2]>>> = p
                .iter()
                .map(|part| {
                    part.rings
                        .iter()
                        .enumerate()
                        .map(|(i, r)| ring(r, i == 0))
                        .collect()
                })
                .collect();
            if polys.len() == 1 {
                json!({ "type": "Polygon", "coordinates": polys[0] })
            } else {
                json!({ "type": "MultiPolygon", "coordinates": polys })
            }
        }
    }
}

/// Only some parts of a shape (e.g. the square of a flood layer that was clicked), as GeoJSON.
#[must_use]
pub fn geometry_of_parts(shape: &Shape, parts: &[u32]) -> Json {
    let pick = |n: usize| parts.iter().map(|&i| i as usize).filter(move |&i| i < n);
    let sub = match shape {
        Shape::Points(p) => Shape::Points(pick(p.len()).map(|i| p[i]).collect()),
        Shape::Lines(l) => Shape::Lines(pick(l.len()).map(|i| l[i].clone()).collect()),
        Shape::Polygons(p) => Shape::Polygons(pick(p.len()).map(|i| p[i].clone()).collect()),
    };
    geometry(&sub)
}

/// The attributes `view` may see, as a JSON object.
#[must_use]
pub fn properties(layer: &LayerSnapshot, f: &Feature, view: &View) -> Map<String, Json> {
    layer
        .fields
        .iter()
        .zip(f.values.iter())
        .filter(|(fd, _)| view.sees_field(&layer.def, fd))
        .map(|(fd, v)| (fd.name.clone(), v.to_json()))
        .collect()
}

/// One feature as GeoJSON.
#[must_use]
pub fn feature(layer: &LayerSnapshot, f: &Feature, view: &View) -> Json {
    feature_with(layer, f, view, geometry(&f.shape))
}

/// One feature as GeoJSON with the given geometry (e.g. only some of its parts).
#[must_use]
pub fn feature_with(layer: &LayerSnapshot, f: &Feature, view: &View, geometry: Json) -> Json {
    let mut m = Map::new();
    m.insert("type".into(), "Feature".into());
    m.insert("id".into(), layer.served_id(f, view.is_public()).into());
    m.insert("geometry".into(), geometry);
    m.insert(
        "properties".into(),
        Json::Object(properties(layer, f, view)),
    );
    Json::Object(m)
}

/// A point for a feature: the point itself, or its box centre for lines and polygons.
#[must_use]
pub fn representative_lonlat(f: &Feature) -> [f64; 2] {
    match &f.shape {
        Shape::Points(p) if !p.is_empty() => lonlat(p[0]),
        _ => lonlat(Coord {
            x: f64::midpoint(f.bbox.min.x, f.bbox.max.x),
            y: f64::midpoint(f.bbox.min.y, f.bbox.max.y),
        }),
    }
}

/// The feature's box as `[west, south, east, north]`.
#[must_use]
pub fn bbox_lonlat(f: &Feature) -> [f64; 4] {
    let a = lonlat(f.bbox.min);
    let b = lonlat(f.bbox.max);
    [a[0], a[1], b[0], b[1]]
}

/// The shape as WKT in lon/lat.
#[must_use]
pub fn wkt(shape: &Shape) -> String {
    let mut s = String::new();
    let coords = |s: &mut String, cs: &mut dyn Iterator<Item = [f64; 2]>| {
        let parts: Vec<String> = cs.map(|[x, y]| format!("{x} {y}")).collect();
        s.push('(');
        s.push_str(&parts.join(", "));
        s.push(')');
    };
    match shape {
        Shape::Points(p) if p.len() == 1 => {
            let [x, y] = lonlat(p[0]);
            let _ = write!(s, "POINT ({x} {y})");
        }
        Shape::Points(p) => {
            s.push_str("MULTIPOINT ");
            coords(&mut s, &mut p.iter().map(|&c| lonlat(c)));
        }
        Shape::Lines(l) => {
            s.push_str("MULTILINESTRING (");
            for (i, part) in l.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                coords(&mut s, &mut part.coords.iter().map(|&c| lonlat(c)));
            }
            s.push(')');
        }
        Shape::Polygons(p) => {
            s.push_str("MULTIPOLYGON (");
            for (i, part) in p.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push('(');
                for (j, r) in part.rings.iter().enumerate() {
                    if j > 0 {
                        s.push_str(", ");
                    }
                    coords(&mut s, &mut ring(r, j == 0).into_iter());
                }
                s.push(')');
            }
            s.push(')');
        }
    }
    s
}

/// A CSV field, quoted when it needs to be.
#[must_use]
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PolygonPart;

    #[test]
    fn polygon_is_counter_clockwise_and_closed() {
        let (x, y) = crate::tile::lonlat_to_mercator(138.0, 35.0);
        let r = vec![
            Coord { x, y },
            Coord { x, y: y + 100.0 },
            Coord {
                x: x + 100.0,
                y: y + 100.0,
            },
            Coord { x: x + 100.0, y },
            Coord { x, y },
        ];
        let shape = Shape::Polygons(vec![PolygonPart::new(vec![r]).expect("part")]);
        let g = geometry(&shape);
        assert_eq!(g["type"], "Polygon");
        let ring = g["coordinates"][0].as_array().expect("ring");
        assert_eq!(ring.first(), ring.last());
        let pts: Vec<(f64, f64)> = ring
            .iter()
            .map(|c| (c[0].as_f64().expect("x"), c[1].as_f64().expect("y")))
            .collect();
        let area2: f64 = pts
            .windows(2)
            .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
            .sum();
        assert!(area2 > 0.0, "exterior counter-clockwise");
        assert!((pts[0].0 - 138.0).abs() < 1e-7 && (pts[0].1 - 35.0).abs() < 1e-7);
        assert!(wkt(&shape).starts_with("MULTIPOLYGON (((138 35, "));
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("a"), "a");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
