//! MVT 2.1 encoding of cut geometry with geozero's protobuf types and command writer.
//! Keys and values are shared per layer (geozero's `TagsBuilder` deduplicates them).

use geo::{Coord, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};
use geozero::mvt::{tile, Message, TagsBuilder, TileValue};
use geozero::ToMvt;

use super::cut::{IPt, TileGeom};
use super::error::{Result, TileError};
use crate::store::Value;

/// Tile extent in units; 4096 as every client expects.
pub const EXTENT: u32 = 4096;

/// Builds one MVT layer.
pub struct LayerBuilder {
    name: String,
    tags: TagsBuilder,
    features: Vec<tile::Feature>,
}

fn c(p: IPt) -> Coord<f64> {
    Coord {
        x: f64::from(p.0),
        y: f64::from(p.1),
    }
}

fn ring(r: &[IPt]) -> LineString<f64> {
    r.iter().copied().map(c).collect()
}

fn polygon(rings: &[Vec<IPt>]) -> Polygon<f64> {
    let mut it = rings.iter();
    let ext = it
        .next()
        .map_or_else(|| LineString(Vec::new()), |r| ring(r));
    // `Polygon::new` closes rings without reorienting them: orientation was fixed when cutting.
    Polygon::new(ext, it.map(|r| ring(r)).collect())
}

fn to_geo(g: &TileGeom) -> geo::Geometry<f64> {
    match g {
        TileGeom::Points(p) if p.len() == 1 => Point(c(p[0])).into(),
        TileGeom::Points(p) => MultiPoint(p.iter().map(|&q| Point(c(q))).collect()).into(),
        TileGeom::Lines(l) if l.len() == 1 => ring(&l[0]).into(),
        TileGeom::Lines(l) => MultiLineString(l.iter().map(|x| ring(x)).collect()).into(),
        TileGeom::Polygons(p) if p.len() == 1 => polygon(&p[0]).into(),
        TileGeom::Polygons(p) => MultiPolygon(p.iter().map(|x| polygon(x)).collect()).into(),
    }
}

fn tile_value(v: &Value) -> Option<TileValue> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => TileValue::Bool(*b),
        Value::Int(i) => TileValue::Int(*i),
        Value::Float(f) => TileValue::Double(*f),
        Value::Str(s) => TileValue::Str(s.to_string()),
    })
}

impl LayerBuilder {
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            tags: TagsBuilder::new(),
            features: Vec::new(),
        }
    }

    /// Adds a feature with its (already view-filtered) attributes; nulls are omitted.
    pub fn add<'a>(
        &mut self,
        id: u64,
        geom: &TileGeom,
        attrs: impl Iterator<Item = (&'a str, &'a Value)>,
    ) -> Result<()> {
        let mut f = to_geo(geom)
            .to_mvt_unscaled()
            .map_err(|e| TileError::Encode(e.to_string()))?;
        f.id = Some(id);
        for (k, v) in attrs {
            if let Some(tv) = tile_value(v) {
                let (ki, vi) = self.tags.insert_ref(k, tv);
                f.tags.push(ki);
                f.tags.push(vi);
            }
        }
        self.features.push(f);
        Ok(())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    #[must_use]
    pub fn finish(self) -> tile::Layer {
        let (keys, values) = self.tags.into_tags();
        tile::Layer {
            version: 2,
            name: self.name,
            features: self.features,
            keys,
            values: values.into_iter().map(Into::into).collect(),
            extent: Some(EXTENT),
        }
    }
}

/// Serialises layers into a tile; `None` when no layer has a feature.
#[must_use]
pub fn encode_tile(layers: Vec<tile::Layer>) -> Option<Vec<u8>> {
    let layers: Vec<tile::Layer> = layers
        .into_iter()
        .filter(|l| !l.features.is_empty())
        .collect();
    if layers.is_empty() {
        return None;
    }
    Some(geozero::mvt::Tile { layers }.encode_to_vec())
}
