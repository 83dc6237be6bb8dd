//! MVT 2.1 encoding: geometry commands written directly from cut geometry, keys and values
//! deduplicated per layer without copying them, protobuf via geozero's `vector_tile` types.
//!
//! geozero's `MvtWriter` path (build `geo` types, then stream them) and its owned-string
//! `TagsBuilder` were the allocation hot spot when measured; this writes the same commands.

use std::collections::hash_map::Entry;

use geozero::mvt::{tile, Message};
use rustc_hash::FxHashMap;

use super::cut::{GeomKind, IPt, TileGeom};
use crate::store::Value;

/// Tile extent in units; 4096 as every client expects.
pub const EXTENT: u32 = 4096;

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

#[inline]
fn command(id: u32, count: usize) -> u32 {
    (id & 0x7) | ((count as u32) << 3)
}

/// Bytes of `v` as a protobuf varint.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

/// Writes one geometry's command stream; returns its MVT geometry type.
fn encode_geometry(g: &TileGeom, out: &mut Vec<u32>) -> tile::GeomType {
    let mut cursor: IPt = (0, 0);
    let mut point = |p: IPt, out: &mut Vec<u32>| {
        out.push(zigzag(p.0.wrapping_sub(cursor.0)));
        out.push(zigzag(p.1.wrapping_sub(cursor.1)));
        cursor = p;
    };
    match g.kind {
        GeomKind::Points => {
            let pts = g.points();
            out.reserve(1 + 2 * pts.len());
            out.push(command(MOVE_TO, pts.len()));
            for &p in pts {
                point(p, out);
            }
            tile::GeomType::Point
        }
        GeomKind::Lines | GeomKind::Polygons => {
            let ring = g.kind == GeomKind::Polygons;
            out.reserve(2 * g.points().len() + 4 * g.parts().count());
            for part in g.parts() {
                out.push(command(MOVE_TO, 1));
                point(part[0], out);
                out.push(command(LINE_TO, part.len() - 1));
                for &p in &part[1..] {
                    point(p, out);
                }
                if ring {
                    out.push(command(CLOSE_PATH, 1));
                }
            }
            if ring {
                tile::GeomType::Polygon
            } else {
                tile::GeomType::Linestring
            }
        }
    }
}

/// A value as a hash key, borrowing strings from the snapshot.
#[derive(PartialEq, Eq, Hash)]
enum ValueKey<'a> {
    Str(&'a str),
    Int(i64),
    Float(u64),
    Bool(bool),
}

fn value_key(v: &Value) -> Option<ValueKey<'_>> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => ValueKey::Bool(*b),
        Value::Int(i) => ValueKey::Int(*i),
        Value::Float(f) => ValueKey::Float(f.to_bits()),
        Value::Str(s) => ValueKey::Str(s),
    })
}

fn tile_value(v: &Value) -> tile::Value {
    let mut out = tile::Value::default();
    match v {
        Value::Null => {}
        Value::Bool(b) => out.bool_value = Some(*b),
        Value::Int(i) if *i >= 0 => out.uint_value = Some(*i as u64),
        Value::Int(i) => out.sint_value = Some(*i),
        Value::Float(f) => out.double_value = Some(*f),
        Value::Str(s) => out.string_value = Some(s.to_string()),
    }
    out
}

/// Builds one MVT layer. Attribute keys are addressed by the layer's field index.
pub struct LayerBuilder<'a> {
    name: String,
    keys: Vec<String>,
    key_of_field: Vec<Option<u32>>,
    values: Vec<&'a Value>,
    value_index: FxHashMap<ValueKey<'a>, u32>,
    features: Vec<tile::Feature>,
    /// Per feature, how much it matters to the picture (see [`TileGeom::significance`]).
    significance: Vec<f64>,
}

/// What [`LayerBuilder::finish_within`] had to do to fit the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Features dropped, least significant first.
    pub dropped: usize,
}

impl<'a> LayerBuilder<'a> {
    #[must_use]
    pub fn new(name: &str, field_count: usize) -> Self {
        Self {
            name: name.to_string(),
            keys: Vec::new(),
            key_of_field: vec![None; field_count],
            values: Vec::new(),
            value_index: FxHashMap::default(),
            features: Vec::new(),
            significance: Vec::new(),
        }
    }

    /// Adds a feature with its (already view-filtered) attributes as `(field index, name,
    /// value)`; nulls are omitted.
    pub fn add(
        &mut self,
        id: u64,
        geom: &TileGeom,
        attrs: impl Iterator<Item = (usize, &'a str, &'a Value)>,
    ) {
        let mut f = tile::Feature {
            id: Some(id),
            ..tile::Feature::default()
        };
        let ty = encode_geometry(geom, &mut f.geometry);
        f.set_type(ty);
        for (field, name, v) in attrs {
            let Some(vk) = value_key(v) else { continue };
            let k = if let Some(k) = self.key_of_field.get(field).copied().flatten() {
                k
            } else {
                let k = self.keys.len() as u32;
                self.keys.push(name.to_string());
                if let Some(slot) = self.key_of_field.get_mut(field) {
                    *slot = Some(k);
                }
                k
            };
            let vi = match self.value_index.entry(vk) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let vi = self.values.len() as u32;
                    self.values.push(v);
                    *e.insert(vi)
                }
            };
            f.tags.push(k);
            f.tags.push(vi);
        }
        self.significance.push(geom.significance(id));
        self.features.push(f);
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The finished layer and, per feature, its significance (for [`trim`]).
    #[must_use]
    pub fn finish(self) -> Built {
        let layer = tile::Layer {
            version: 2,
            name: self.name,
            features: self.features,
            keys: self.keys,
            values: self.values.into_iter().map(tile_value).collect(),
            extent: Some(EXTENT),
        };
        Built {
            bytes: in_tile(layer.encoded_len()),
            layer,
            significance: self.significance,
        }
    }
}

/// Bytes a message of `len` bytes takes inside its parent (field tag, length, body).
fn in_tile(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A finished layer with the significance of each feature.
pub struct Built {
    pub layer: tile::Layer,
    significance: Vec<f64>,
    /// [`Self::tile_bytes`], measured once (encoding lengths walk every feature).
    bytes: usize,
}

impl Built {
    /// Bytes the layer takes inside a tile (its message, tag and length).
    #[must_use]
    pub fn tile_bytes(&self) -> usize {
        self.bytes
    }

    /// Holds the layer to at most `max_features` features and `max_bytes` bytes inside a
    /// tile: when over, the most significant features are kept, in their original order,
    /// and the rest dropped whole — a tile is never cut short mid-feature.
    pub fn trim(&mut self, max_bytes: usize, max_features: usize) -> Trimmed {
        let n = self.layer.features.len();
        if n <= max_features && self.tile_bytes() <= max_bytes {
            return Trimmed::default();
        }
        // Bytes every kept feature costs inside the layer message (field tag + length).
        let cost = |f: &tile::Feature| in_tile(f.encoded_len());
        // The layer without features (measured with them set aside, not on a copy of the
        // whole layer), and its own tag and length inside the tile.
        let features = std::mem::take(&mut self.layer.features);
        let header =
            self.layer.encoded_len() + 1 + varint_len(max_bytes.min(u32::MAX as usize) as u64);
        self.layer.features = features;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.significance[b].total_cmp(&self.significance[a]));
        let mut keep = vec![false; n];
        let (mut bytes, mut count) = (header, 0);
        for i in order {
            let c = cost(&self.layer.features[i]);
            if count == max_features || bytes + c > max_bytes {
                continue; // a smaller, less significant feature may still fit
            }
            bytes += c;
            count += 1;
            keep[i] = true;
        }
        let mut it = keep.iter();
        self.layer
            .features
            .retain(|_| it.next().copied().unwrap_or(false));
        let mut it = keep.iter();
        self.significance
            .retain(|_| it.next().copied().unwrap_or(false));
        self.bytes = in_tile(self.layer.encoded_len());
        Trimmed { dropped: n - count }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_spec() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(i32::MAX), u32::MAX - 1);
        assert_eq!(zigzag(i32::MIN), u32::MAX);
    }

    fn geom(kind: GeomKind, parts: &[&[IPt]]) -> TileGeom {
        // Build through the cutter's own type via a tiny shim: points then ends.
        let mut g = TileGeom::default();
        g.kind = kind;
        for p in parts {
            g.push_part_for_test(p);
        }
        g
    }

    #[test]
    fn spec_example_polygon() {
        // MVT 2.1 spec §4.3.5.4 (polygon): ring (3,6) (8,12) (20,34).
        let mut out = Vec::new();
        let g = geom(GeomKind::Polygons, &[&[(3, 6), (8, 12), (20, 34)]]);
        assert_eq!(encode_geometry(&g, &mut out), tile::GeomType::Polygon);
        assert_eq!(out, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    #[test]
    fn spec_example_multipoint_and_line() {
        let mut out = Vec::new();
        encode_geometry(&geom(GeomKind::Points, &[&[(5, 7), (3, 2)]]), &mut out);
        assert_eq!(out, vec![17, 10, 14, 3, 9]);
        out.clear();
        encode_geometry(
            &geom(GeomKind::Lines, &[&[(2, 2), (2, 10), (10, 10)]]),
            &mut out,
        );
        assert_eq!(out, vec![9, 4, 4, 18, 0, 16, 16, 0]);
    }
}
