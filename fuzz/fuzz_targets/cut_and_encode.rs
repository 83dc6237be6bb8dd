//! Arbitrary polygons (with holes) and lines around a tile, cut and encoded: no panic, and
//! every ring that comes out is valid MVT (≥ 3 points, exterior positive, holes negative,
//! inside extent + buffer).
#![no_main]

use std::sync::Arc;

use chizu::store::{Feature, FieldDef, LayerSnapshot, LinePart, PolygonPart, Shape};
use chizu::tile::cut::{cut_feature, signed_area2, CutParams, GeomKind};
use chizu::tile::TileCoord;
use geo::Coord;
use libfuzzer_sys::fuzz_target;

fn tile() -> TileCoord {
    TileCoord::new(14, 14485, 6497).expect("tile")
}

/// Tile units (i16 from the input, scaled around the tile) → Web Mercator.
fn merc(x: i16, y: i16) -> Coord<f64> {
    let t = tile();
    let b = t.bounds();
    let unit = t.size() / 4096.0;
    Coord { x: b.min_x + (f64::from(x) / 4.0 + 2048.0) * unit, y: b.max_y - (f64::from(y) / 4.0 + 2048.0) * unit }
}

fn rings(data: &[u8]) -> Vec<Vec<Coord<f64>>> {
    data.chunks(24)
        .map(|c| {
            let mut r: Vec<Coord<f64>> =
                c.chunks_exact(4).map(|p| merc(i16::from_le_bytes([p[0], p[1]]), i16::from_le_bytes([p[2], p[3]]))).collect();
            if let Some(&f) = r.first() {
                r.push(f);
            }
            r
        })
        .filter(|r| r.len() >= 4)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let t = tile();
    let params = CutParams { tiny_area: 64.0, ..CutParams::for_tile(&t, 64.0, 1.0) };
    let rs = rings(data);
    // Part boxes cover every ring (the store's invariant, established by `PolygonPart::new`).
    if let Some(part) = PolygonPart::new(rs.clone()) {
        let bbox = part.bbox;
        let shape = Shape::Polygons(vec![part]);
        if let Some(g) = cut_feature(&shape, &[0], &params) {
            assert_eq!(g.kind, GeomKind::Polygons);
            for poly in g.polygons() {
                for (i, ring) in poly.iter().enumerate() {
                    assert!(ring.len() >= 3);
                    let a = signed_area2(ring);
                    assert!(if i == 0 { a > 0 } else { a < 0 });
                    assert!(ring.iter().all(|&(x, y)| (-64..=4160).contains(&x) && (-64..=4160).contains(&y)));
                }
            }
        }
        // The whole path, through the MVT encoder, as a one-feature layer.
        let line: Vec<Coord<f64>> = rs.iter().flatten().copied().collect();
        let lpart = LinePart::new(line).expect("non-empty");
        let lbox = lpart.bbox;
        let def = chizu::config::LayerDef::from_toml(
            std::path::Path::new("layers/f.toml"),
            "title = { ja = \"f\", en = \"f\" }\ncategory = \"kihon\"\ngeometry = \"polygon\"\naccess = { view = \"public\" }\n[[source]]\npath = \"x\"\n",
        )
        .expect("layer");
        let features = vec![
            Feature { id: 1, shape, bbox, values: Vec::new().into(), public: true },
            Feature { id: 2, shape: Shape::Lines(vec![lpart]), bbox: lbox, values: Vec::new().into(), public: true },
        ];
        let fields: Vec<FieldDef> = Vec::new();
        let layer = LayerSnapshot::build(Arc::new(def), fields, features, chizu::ingest::IngestReport::default(), 1);
        let _ = chizu::tile::render(&[&layer], &chizu::access::View::Public, t);
    }
});
