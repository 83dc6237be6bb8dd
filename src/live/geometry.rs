//! A GeoJSON geometry sent by an editor, checked and turned into a layer [`Shape`].

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};
use serde_json::Value as Json;

use crate::config::GeometryKind;
use crate::ingest::geometry::{to_shape, Outcome};
use crate::store::Shape;

/// Most vertices one edited feature may have.
pub const MAX_VERTICES: usize = 10_000;

/// Web Mercator's latitude limit.
const MAX_LAT: f64 = 85.051_128_78;

/// Reads one member of a `Multi…` geometry.
type Member<'a> = &'a dyn Fn(&mut Reader, &Json) -> Result<Geometry<f64>, String>;

struct Reader {
    vertices: usize,
}

impl Reader {
    fn coord(&mut self, v: &Json) -> Result<Coord<f64>, String> {
        let a = v
            .as_array()
            .filter(|a| a.len() == 2 || a.len() == 3)
            .ok_or("a position must be [longitude, latitude]")?;
        let (Some(lon), Some(lat)) = (a[0].as_f64(), a[1].as_f64()) else {
            return Err("a position must hold two numbers".into());
        };
        if !(-180.0..=180.0).contains(&lon) || !(-MAX_LAT..=MAX_LAT).contains(&lat) {
            return Err(format!(
                "[{lon}, {lat}] is not a WGS 84 longitude, latitude (CRS84: longitude first)"
            ));
        }
        self.vertices += 1;
        if self.vertices > MAX_VERTICES {
            return Err(format!("more than {MAX_VERTICES} vertices"));
        }
        let (x, y) = crate::tile::lonlat_to_mercator(lon, lat);
        Ok(Coord { x, y })
    }

    fn list(&mut self, v: &Json) -> Result<Vec<Coord<f64>>, String> {
        v.as_array()
            .ok_or("`coordinates` are not nested as the geometry type needs")?
            .iter()
            .map(|c| self.coord(c))
            .collect()
    }

    fn polygon(&mut self, v: &Json) -> Result<Polygon<f64>, String> {
        let rings = v.as_array().ok_or("a polygon is a list of rings")?;
        let mut rings = rings.iter().map(|r| self.list(r).map(LineString));
        let ext = rings.next().ok_or("a polygon needs an exterior ring")??;
        Ok(Polygon::new(ext, rings.collect::<Result<_, _>>()?))
    }

    fn geometry(&mut self, g: &Json) -> Result<Geometry<f64>, String> {
        let c = &g["coordinates"];
        let many = |r: &mut Self, f: Member<'_>| {
            c.as_array()
                .ok_or_else(|| "`coordinates` must be an array".to_string())?
                .iter()
                .map(|p| f(r, p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match g["type"].as_str() {
            Some("Point") => Point(self.coord(c)?).into(),
            Some("MultiPoint") => MultiPoint(self.list(c)?.into_iter().map(Point).collect()).into(),
            Some("LineString") => LineString(self.list(c)?).into(),
            Some("MultiLineString") => {
                let lines = many(self, &|r, p| Ok(LineString(r.list(p)?).into()))?;
                MultiLineString(
                    lines
                        .into_iter()
                        .filter_map(|g| g.try_into().ok())
                        .collect(),
                )
                .into()
            }
            Some("Polygon") => self.polygon(c)?.into(),
            Some("MultiPolygon") => {
                let polys = many(self, &|r, p| Ok(r.polygon(p)?.into()))?;
                MultiPolygon(
                    polys
                        .into_iter()
                        .filter_map(|g| g.try_into().ok())
                        .collect(),
                )
                .into()
            }
            Some(other) => {
                return Err(format!(
                    "`{}` is not a GeoJSON geometry type chizu takes",
                    other.chars().take(24).collect::<String>()
                ))
            }
            None => return Err("the geometry needs a `type`".into()),
        })
    }
}

/// The shape of a GeoJSON geometry (CRS84) for a layer of `kind`, or why it cannot be one.
pub fn shape(g: &Json, kind: GeometryKind) -> Result<Shape, String> {
    if !g.is_object() {
        return Err("`geometry` must be a GeoJSON geometry object".into());
    }
    let geom = Reader { vertices: 0 }.geometry(g)?;
    match to_shape(geom, kind) {
        (Some(s), Outcome::Kept) => Ok(s),
        (_, Outcome::Dropped(why)) => Err(format!("the geometry cannot be kept: {why}")),
        _ => Err(format!(
            "the geometry has parts this {} layer cannot keep (another type, or rings that collapse)",
            match kind {
                GeometryKind::Point => "point",
                GeometryKind::Line => "line",
                GeometryKind::Polygon => "polygon",
            }
        )),
    }
}
