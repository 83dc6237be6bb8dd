//! Low-zoom generalisation and per-tile budgets: on the synthetic dense city of the
//! benchmarks and on the real 用途地域, decoded by mvt-reader (not the encoder's crate).

use std::sync::Arc;

use chizu::access::View;
use chizu::config::LayerDef;
use chizu::store::{LayerSnapshot, Shape};
use chizu::tile::{render, TileCoord, TileTransform};
use geo::{Area, Distance, Euclidean};

use crate::common::{self, decode};

#[path = "../../benches/support/synth.rs"]
#[allow(dead_code, clippy::pedantic)]
mod synth;

/// The synthetic city, built once for this module's tests.
fn city() -> &'static [Arc<LayerSnapshot>] {
    static CITY: std::sync::OnceLock<Vec<Arc<LayerSnapshot>>> = std::sync::OnceLock::new();
    CITY.get_or_init(synth::city)
}

fn layer(id: &str) -> &'static Arc<LayerSnapshot> {
    city()
        .iter()
        .find(|l| l.def.id.as_str() == id)
        .expect("synthetic layer")
}

/// The same features under a changed layer definition (a fresh snapshot, fresh budget log).
fn with_def(l: &LayerSnapshot, change: impl FnOnce(&mut LayerDef)) -> LayerSnapshot {
    let mut def = (*l.def).clone();
    change(&mut def);
    LayerSnapshot::build(
        Arc::new(def),
        l.fields.clone(),
        l.features.clone(),
        chizu::ingest::IngestReport::default(),
        l.version + 1,
    )
}

fn tiles_over(b: &chizu::store::PartBox, z: u8) -> Vec<TileCoord> {
    let a = TileCoord::containing(z, b.min.x, b.max.y);
    let c = TileCoord::containing(z, b.max.x, b.min.y);
    let mut out = Vec::new();
    for x in a.x()..=c.x() {
        for y in a.y()..=c.y() {
            out.push(TileCoord::new(z, x, y).expect("tile"));
        }
    }
    out
}

fn cut(l: &LayerSnapshot, t: TileCoord) -> Vec<u8> {
    render(&[l], &View::Public, t)
        .expect("cut")
        .unwrap_or_default()
}

/// Polygon area of a decoded layer in tile units², per feature id.
fn areas(bytes: &[u8]) -> Vec<(u64, f64)> {
    decode(bytes)
        .first()
        .map(|l| {
            l.features
                .iter()
                .map(|f| (f.id.unwrap_or(0), f.geometry.unsigned_area()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn low_zoom_tiles_of_the_dense_city_stay_within_the_default_budget() {
    let ext = synth::extent();
    let mut checked = 0;
    for z in 0..=14u8 {
        for t in tiles_over(&ext, z) {
            let layers: Vec<&LayerSnapshot> = city().iter().map(AsRef::as_ref).collect();
            let Some(bytes) = render(&layers, &View::Public, t).expect("cut") else {
                continue;
            };
            assert!(
                bytes.len() <= chizu::tile::MAX_TILE_BYTES,
                "composite {t}: {} bytes",
                bytes.len()
            );
            let decoded = decode(&bytes);
            common::assert_tile_invariants(&decoded, 64.0, &format!("synthetic {t}"));
            for l in &layers {
                let one = cut(l, t);
                assert!(
                    one.len() <= l.def.max_tile_bytes as usize,
                    "{} at {t}: {} bytes",
                    l.def.id,
                    one.len()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 80, "{checked} tiles");
}

#[test]
fn tiny_buildings_merge_into_squares_that_keep_their_area() {
    let b = layer("buildings");
    // z10: a building of 12–60 m is 1–6 tile units across, below a pixel (8 units).
    let t = TileCoord::containing(10, synth::extent().min.x + 1.0, synth::extent().min.y + 1.0);
    let tr = TileTransform::new(&t, 4096);
    let unit = tr.unit();
    // The source area of buildings centred in the tile, in tile units².
    let mut source_area = 0.0;
    let mut source_count = 0;
    for f in &b.features {
        let (cx, cy) = tr.apply(
            f64::midpoint(f.bbox.min.x, f.bbox.max.x),
            f64::midpoint(f.bbox.min.y, f.bbox.max.y),
        );
        if (0.0..4096.0).contains(&cx) && (0.0..4096.0).contains(&cy) {
            let Shape::Polygons(ps) = &f.shape else {
                panic!("polygon layer")
            };
            source_area +=
                ps.iter().map(chizu::store::PolygonPart::area).sum::<f64>() / (unit * unit);
            source_count += 1;
        }
    }
    let drawn = areas(&cut(b, t));
    let drawn_area: f64 = drawn.iter().map(|a| a.1).sum();
    assert!(source_count > 5_000, "{source_count} buildings in {t}");
    assert!(
        drawn.len() * 3 < source_count,
        "{} features drawn for {source_count} buildings",
        drawn.len()
    );
    let ratio = drawn_area / source_area;
    assert!(
        (0.8..1.25).contains(&ratio),
        "drawn area {drawn_area:.0} vs source {source_area:.0} units²"
    );
}

#[test]
fn nothing_is_merged_where_buildings_are_big_enough_to_see() {
    let b = layer("buildings");
    let all = with_def(b, |d| d.tiny_area = 0.0);
    let (cx, cy) = (
        f64::midpoint(synth::extent().min.x, synth::extent().max.x),
        f64::midpoint(synth::extent().min.y, synth::extent().max.y),
    );
    for z in [16u8, 17] {
        let t = TileCoord::containing(z, cx, cy);
        assert_eq!(
            cut(b, t),
            cut(&all, t),
            "{t}: z16+ tiles are cut as they are"
        );
    }
}

#[test]
fn over_budget_layers_keep_their_most_significant_features_whole() {
    let b = layer("buildings");
    let t = TileCoord::containing(
        14,
        f64::midpoint(synth::extent().min.x, synth::extent().max.x),
        f64::midpoint(synth::extent().min.y, synth::extent().max.y),
    );
    let full = areas(&cut(b, t));
    assert!(full.len() > 1_000, "{} features", full.len());
    let mut by_area = full.clone();
    by_area.sort_by(|a, b| b.1.total_cmp(&a.1));

    // A feature budget keeps exactly the largest ones.
    let capped = with_def(b, |d| d.max_tile_features = 100);
    let kept = areas(&cut(&capped, t));
    assert_eq!(kept.len(), 100);
    let smallest_kept = kept.iter().map(|k| k.1).fold(f64::INFINITY, f64::min);
    assert!(
        smallest_kept >= by_area[100].1,
        "kept a feature of {smallest_kept} while one of {} went",
        by_area[100].1
    );
    assert_eq!(capped.budget.zooms(true), vec![14]);

    // A byte budget: the tile fits, still decodes, and the largest features are there.
    let small = with_def(b, |d| d.max_tile_bytes = 8_000);
    let bytes = cut(&small, t);
    assert!(bytes.len() <= 8_000, "{} bytes", bytes.len());
    common::assert_tile_invariants(&decode(&bytes), 64.0, "budgeted tile");
    let kept: Vec<u64> = areas(&bytes).iter().map(|k| k.0).collect();
    assert!(
        kept.len() > 10 && kept.len() < full.len(),
        "{} kept",
        kept.len()
    );
    for big in by_area.iter().take(10) {
        assert!(
            kept.contains(&big.0),
            "feature {} ({} units²) dropped",
            big.0,
            big.1
        );
    }
    let (tiles, dropped) = small.budget.totals();
    assert_eq!(tiles, 1);
    assert_eq!(dropped as usize, full.len() - kept.len());
}

/// Adjacent zones share borders in the source; each zone's decoded outline stays within
/// ½ (prepared generalisation) + 1 (simplification) + √2/2 (rounding) tile units of every
/// one of its stored vertices, at the low zooms where generalisation does the most, so two
/// neighbours can be at most ≈ 4.4 units (about half a pixel) apart: no visible gap.
#[test]
fn zone_borders_stay_together_at_low_zoom() {
    let state = common::state();
    let catalog = state.catalog.load();
    let zones = catalog.get("youto_chiiki").expect("zoning loaded");
    let bounds = zones.bounds.expect("bounds");
    let bound = 1.5 + std::f64::consts::FRAC_1_SQRT_2 + 1e-9;
    let mut vertices = 0;
    for z in 10..=13u8 {
        for t in tiles_over(&bounds, z) {
            let bytes = cut(zones, t);
            if bytes.is_empty() {
                continue;
            }
            let decoded = decode(&bytes);
            let tr = TileTransform::new(&t, 4096);
            let unit = tr.unit();
            for f in &zones.features {
                let Shape::Polygons(parts) = &f.shape else {
                    continue;
                };
                let Some(mine) = decoded[0].features.iter().find(|d| d.id == Some(f.id)) else {
                    continue;
                };
                let edges = common::outline(&mine.geometry);
                for part in parts {
                    let (w, h) = (
                        (part.bbox.max.x - part.bbox.min.x) / unit,
                        (part.bbox.max.y - part.bbox.min.y) / unit,
                    );
                    if w * h < zones.def.tiny_area {
                        continue; // drawn as grid cells, not as an outline
                    }
                    // Rings under a pixel (small holes) may vanish: too small to see.
                    let visible = part.rings.iter().filter(|r| {
                        chizu::store::PartBox::of(r.iter()).is_some_and(|rb| {
                            (rb.max.x - rb.min.x) * (rb.max.y - rb.min.y) / (unit * unit)
                                >= zones.def.tiny_area
                        })
                    });
                    for c in visible.flatten() {
                        let (x, y) = tr.apply(c.x, c.y);
                        if !(0.0..=4096.0).contains(&x) || !(0.0..=4096.0).contains(&y) {
                            continue;
                        }
                        let q = geo::Point::new(x, y);
                        let d = edges
                            .iter()
                            .map(|e| Euclidean.distance(&q, e))
                            .fold(f64::INFINITY, f64::min);
                        assert!(
                            d <= bound,
                            "feature {} vertex {d:.2} units off in {t}",
                            f.id
                        );
                        vertices += 1;
                    }
                }
            }
        }
    }
    assert!(vertices > 10_000, "only {vertices} vertices checked");
}

#[test]
fn low_zooms_are_cut_from_overviews_built_once() {
    use chizu::tile::overview::{for_zoom, MAX_OVERVIEW_ZOOM};
    let b = layer("buildings");
    let z8 = for_zoom(b, 8);
    assert!(
        z8.features.len() * 20 < b.features.len(),
        "z8 overview holds {} of {} buildings",
        z8.features.len(),
        b.features.len()
    );
    // Built once: the same snapshot on the next call.
    assert!(std::ptr::eq(&raw const *z8, &raw const *for_zoom(b, 8)));
    // Released (as export does once a zoom is written): the next tile builds it again,
    // the same, while a tile still cutting from the old one keeps it.
    b.release_overview(8);
    let again = for_zoom(b, 8);
    assert!(!std::ptr::eq(&raw const *z8, &raw const *again));
    assert_eq!(z8.features.len(), again.features.len());
    // Above the overview zooms, and with merging off, the layer itself is cut.
    assert!(std::ptr::eq(
        &raw const *for_zoom(b, MAX_OVERVIEW_ZOOM + 1),
        b.as_ref()
    ));
    let plain = with_def(b, |d| d.tiny_area = 0.0);
    assert!(std::ptr::eq(
        &raw const *for_zoom(&plain, 8),
        std::ptr::from_ref(&plain)
    ));
    // An overview's features keep their layer's ids and attributes.
    let f = &z8.features[0];
    let orig = b.features.iter().find(|o| o.id == f.id).expect("same id");
    assert_eq!(orig.values, f.values);
}

/// Regression: overview squares gathered the area of every tiny feature, so a square
/// triggered by a public feature could carry area of features hidden from the public
/// (`public_filter`). Squares now stand only for features of their own visibility.
#[test]
fn merged_squares_never_carry_features_hidden_from_the_public() {
    use chizu::store::{Feature, PolygonPart};
    let def = LayerDef::from_toml(
        std::path::Path::new("layers/mixed.toml"),
        "title = { ja = \"m\", en = \"m\" }\ncategory = \"kihon\"\ngeometry = \"polygon\"\naccess = { view = \"public\" }\n[[source]]\npath = \"x\"\n",
    )
    .expect("layer");
    let (cx, cy) = chizu::tile::lonlat_to_mercator(138.30, 34.86);
    // At z8 a tile unit is ~38 m: a 95 m square is ~6.1 units², tiny (under 64).
    let square = |i: u64, public: bool| {
        let (x, y) = (cx + i as f64 * 200.0, cy);
        let ring = vec![
            geo::Coord { x, y },
            geo::Coord { x: x + 95.0, y },
            geo::Coord {
                x: x + 95.0,
                y: y + 95.0,
            },
            geo::Coord { x, y: y + 95.0 },
            geo::Coord { x, y },
        ];
        let part = PolygonPart::new(vec![ring]).expect("part");
        Feature {
            id: i,
            bbox: part.bbox,
            shape: Shape::Polygons(vec![part]),
            values: Vec::new().into(),
            public,
        }
    };
    // Ten hidden buildings (~61 units² together), then one public one (~6): in this order
    // the public one used to tip the sum over 64 and draw a public square of ~67.
    let mut features: Vec<Feature> = (0..10).map(|i| square(i, false)).collect();
    features.push(square(10, true));
    let layer = LayerSnapshot::build_ordered(Arc::new(def), Vec::new(), features, 1);
    let t = TileCoord::containing(8, cx, cy);
    assert_eq!(
        render(&[&layer], &View::Public, t).expect("cut"),
        None,
        "one public building of 6 units² is far below a pixel at z8: nothing to draw"
    );
}
