//! Tiles cut from the real 焼津 files, decoded by independent readers (`mvt-reader`,
//! GDAL's MVT driver) and compared with what GDAL reads from the source files.

use std::collections::HashMap;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{FieldValue, LayerAccess};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::{BoundingRect, Contains, Distance, Euclidean};
use mvt_reader::feature::Value as MvtValue;

use crate::common::{self, assert_tile_invariants, decode, get, public_router, tile_of};

/// One source feature as GDAL reads it: geometry in lon/lat and attributes as text.
pub(crate) struct SourceFeature {
    pub geom: geo::Geometry<f64>,
    pub attrs: HashMap<String, String>,
}

pub(crate) fn read_source(path: &std::path::Path, options: &[&str]) -> Vec<SourceFeature> {
    let ds = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
            open_options: Some(options),
            ..DatasetOptions::default()
        },
    )
    .expect("GDAL opens the source");
    let mut layer = ds.layer(0).expect("layer");
    let mut src = layer
        .spatial_ref()
        .unwrap_or_else(|| SpatialRef::from_epsg(4326).expect("4326"));
    src.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut wgs = SpatialRef::from_epsg(4326).expect("4326");
    wgs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let ct = CoordTransform::new(&src, &wgs).expect("transform");
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    layer
        .features()
        .map(|f| {
            let mut g = f
                .geometry()
                .expect("geometry")
                .transform(&ct)
                .expect("reprojects");
            g.flatten_to_2d();
            let geom = g.to_geo().expect("to geo");
            let attrs = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let v = match f.field(i).ok()?? {
                        FieldValue::StringValue(s) => s,
                        FieldValue::IntegerValue(v) => v.to_string(),
                        FieldValue::Integer64Value(v) => v.to_string(),
                        FieldValue::RealValue(v) => v.to_string(),
                        other => format!("{other:?}"),
                    };
                    Some((n.clone(), v))
                })
                .collect();
            SourceFeature { geom, attrs }
        })
        .collect()
}

pub(crate) fn text(v: &MvtValue) -> String {
    match v {
        MvtValue::String(s) => s.clone(),
        MvtValue::Int(i) | MvtValue::SInt(i) => i.to_string(),
        MvtValue::UInt(u) => u.to_string(),
        MvtValue::Double(d) => d.to_string(),
        MvtValue::Float(f) => f.to_string(),
        MvtValue::Bool(b) => b.to_string(),
        MvtValue::Null => "null".into(),
    }
}

/// A point well inside a polygon: the grid sample farthest from its outline (a coarse
/// pole of inaccessibility), so rounding to the tile grid cannot move an edge across it.
pub(crate) fn deep_point(g: &geo::Geometry<f64>) -> Option<geo::Point<f64>> {
    let polys: Vec<&geo::Polygon<f64>> = match g {
        geo::Geometry::Polygon(p) => vec![p],
        geo::Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        _ => return None,
    };
    let mut best: Option<(f64, geo::Point<f64>)> = None;
    for p in polys {
        let b = p.bounding_rect()?;
        let outline: Vec<geo::Line<f64>> = std::iter::once(p.exterior())
            .chain(p.interiors())
            .flat_map(|r| r.lines().collect::<Vec<_>>())
            .collect();
        for i in 1..24 {
            for j in 1..24 {
                let q = geo::Point::new(
                    b.min().x + b.width() * f64::from(i) / 24.0,
                    b.min().y + b.height() * f64::from(j) / 24.0,
                );
                if !p.contains(&q) {
                    continue;
                }
                let d = outline
                    .iter()
                    .map(|l| Euclidean.distance(&q, l))
                    .fold(f64::INFINITY, f64::min);
                if best.is_none_or(|(bd, _)| d > bd) {
                    best = Some((d, q));
                }
            }
        }
    }
    // At least ~1 m from any edge (1e-5°), far more than a z15–16 tile unit.
    best.filter(|(d, _)| *d > 1e-5).map(|(_, q)| q)
}

/// Fetches the z`z` tile of `layer` holding (lon, lat) and returns the properties of every
/// decoded feature whose geometry contains that point.
async fn features_at(layer: &str, lon: f64, lat: f64, z: u8) -> Vec<HashMap<String, String>> {
    let (t, (px, py)) = tile_of(lon, lat, z);
    let r = get(
        &public_router(),
        &format!("/tiles/{layer}/{}/{}/{}.mvt", t.z(), t.x(), t.y()),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "tile {t} of {layer} should hold the point");
    let layers = decode(&r.body);
    assert_tile_invariants(&layers, 64.0, &format!("{layer} {t}"));
    let pt = geo::Point::new(px, py);
    layers
        .iter()
        .filter(|l| l.name == layer)
        .flat_map(|l| l.features.iter())
        .filter(|f| f.geometry.contains(&pt))
        .map(|f| {
            f.properties
                .as_ref()
                .map(|p| p.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn zoning_attributes_match_gdal() {
    let mut checked = 0;
    let mut saw_daiisshu = false;
    for (file, code) in [
        ("都市計画図_第一種住居地域/第一種住居地域.shp", "5"),
        ("都市計画図_商業地域/商業地域.shp", "10"),
        ("都市計画図_工業専用地域/工業専用地域.shp", "13"),
        (
            "都市計画図_第一種低層住居専用地域/第一種低層住居専用地域.shp",
            "1",
        ),
    ] {
        for sf in read_source(&common::data(file), &["ENCODING=CP932"])
            .iter()
            .take(6)
        {
            let Some(p) = deep_point(&sf.geom) else {
                continue;
            };
            let found = features_at("youto_chiiki", p.x(), p.y(), 15).await;
            // A null in the source is an absent key in the tile (商業地域 has such a row).
            let want = |k: &str| sf.attrs.get(k);
            let hit = found.iter().find(|f| {
                f.get("zone") == want("SAFIELD000")
                    && f.get("floor_area_ratio") == want("SAFIELD001")
                    && f.get("coverage_ratio") == want("SAFIELD002")
                    && f.get("zone_code").map(String::as_str) == Some(code)
            });
            assert!(
                hit.is_some(),
                "{file}: no feature at {p:?} matches {:?}; found {found:?}",
                sf.attrs
            );
            for f in &found {
                assert!(
                    !f.contains_key("sauid") && !f.contains_key("updated"),
                    "internal attributes leaked: {f:?}"
                );
            }
            if want("SAFIELD000").map(String::as_str) == Some("第一種住居地域")
                && want("SAFIELD001").map(String::as_str) == Some("200")
                && want("SAFIELD002").map(String::as_str) == Some("60")
            {
                saw_daiisshu = true;
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "checked {checked} features");
    assert!(
        saw_daiisshu,
        "expected a 第一種住居地域 200/60 zone in the sample"
    );
}

#[tokio::test]
async fn landslide_site_number_keeps_cp932_roman_numeral() {
    let sources = read_source(
        &common::data("土砂災害警戒区域/土砂災害警戒区域.shp"),
        &["ENCODING=CP932"],
    );
    let sf = sources
        .iter()
        .find(|s| s.attrs.get("KASHO_NO").map(String::as_str) == Some("212-Ⅰ-003"))
        .expect("GDAL (CP932) reads 212-Ⅰ-003 from the source");
    let p = deep_point(&sf.geom).expect("a point well inside the zone");
    let found = features_at("dosha_keikai", p.x(), p.y(), 15).await;
    let hit = found
        .iter()
        .find(|f| f.get("kasho_no").map(String::as_str) == Some("212-Ⅰ-003"))
        .unwrap_or_else(|| panic!("tile lost 212-Ⅰ-003; found {found:?}"));
    assert_eq!(hit.get("phenomenon"), sf.attrs.get("GENSHOMEI"));
    assert_eq!(hit.get("name"), sf.attrs.get("NAME"));
    assert_eq!(hit.get("notice_no"), sf.attrs.get("KOK_NUM"));

    // Every site number in both landslide layers survives exactly.
    let state = common::state();
    let catalog = state.catalog.load();
    for id in ["dosha_keikai", "dosha_tokubetsu"] {
        let layer = catalog.get(id).expect("layer loaded");
        let idx = layer.field_index("kasho_no").expect("kasho_no");
        let file = if id == "dosha_keikai" {
            "土砂災害警戒区域/土砂災害警戒区域.shp"
        } else {
            "土砂災害特別警戒区域/土砂災害特別警戒区域.shp"
        };
        let mut want: Vec<String> = read_source(&common::data(file), &["ENCODING=CP932"])
            .into_iter()
            .filter_map(|s| s.attrs.get("KASHO_NO").cloned())
            .collect();
        let mut got: Vec<String> = layer
            .features
            .iter()
            .filter_map(|f| f.values[idx].key())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "{id}: site numbers differ from GDAL's CP932 reading"
        );
        assert!(
            got.iter().any(|k| k.contains('Ⅱ')),
            "{id}: expected Ⅱ site numbers"
        );
    }
}

#[tokio::test]
async fn flood_depth_rank_matches_source() {
    let sources = read_source(
        &common::data(
            "葉梨川_洪水浸水想定区域（想定最大規模）/葉梨川_洪水浸水想定区域（想定最大規模）.shp",
        ),
        &["ENCODING=CP932"],
    );
    assert_eq!(sources.len(), 6);
    for sf in &sources {
        // The interior point of the largest square of this rank.
        let geo::Geometry::MultiPolygon(mp) = &sf.geom else {
            panic!("flood features are multipolygons")
        };
        let largest =
            mp.0.iter()
                .max_by(|a, b| {
                    use geo::Area;
                    a.unsigned_area().total_cmp(&b.unsigned_area())
                })
                .expect("parts");
        let p = deep_point(&geo::Geometry::Polygon(largest.clone()))
            .expect("a point well inside the square");
        let found = features_at("kouzui_shinsui", p.x(), p.y(), 16).await;
        let rank = sf.attrs.get("Max_Rank").cloned();
        assert!(
            found.iter().any(|f| f.get("depth_rank") == rank.as_ref()
                && f.get("river").map(String::as_str) == Some("葉梨川")),
            "rank {rank:?} at {p:?}: found {found:?}"
        );
    }
}

#[tokio::test]
async fn shelter_points_land_within_one_tile_unit() {
    let rows = read_source(
        &common::data("避難所一覧/222127_hinannjo.csv"),
        &["X_POSSIBLE_NAMES=経度", "Y_POSSIBLE_NAMES=緯度"],
    );
    assert_eq!(rows.len(), 56);
    let app = public_router();
    for row in &rows {
        let geo::Geometry::Point(p) = row.geom else {
            panic!("CSV rows are points")
        };
        let (t, (px, py)) = tile_of(p.x(), p.y(), 16);
        let r = get(
            &app,
            &format!("/tiles/hinanjo/{}/{}/{}.mvt", t.z(), t.x(), t.y()),
            &[],
        )
        .await;
        assert_eq!(r.status, 200);
        let layers = decode(&r.body);
        let name = row.attrs.get("名称").expect("名称");
        let best = layers[0]
            .features
            .iter()
            .filter(|f| {
                f.properties
                    .as_ref()
                    .and_then(|p| p.get("name"))
                    .map(text)
                    .as_ref()
                    == Some(name)
            })
            .flat_map(|f| match &f.geometry {
                geo::Geometry::Point(q) => vec![*q],
                geo::Geometry::MultiPoint(m) => m.0.clone(),
                _ => Vec::new(),
            })
            .map(|q| ((q.x() - px).powi(2) + (q.y() - py).powi(2)).sqrt())
            .fold(f64::INFINITY, f64::min);
        assert!(
            best <= 1.0,
            "{name}: decoded point is {best} tile units from the reprojected source"
        );
    }
}

#[tokio::test]
async fn polygon_vertices_stay_within_tolerance() {
    // Every source vertex inside the tile lies within the prepared generalisation (½),
    // simplification (1) and rounding (√2/2) tile units of the decoded outline.
    use geo::{Distance, Euclidean};
    let sources = read_source(
        &common::data("都市計画図_第一種住居地域/第一種住居地域.shp"),
        &["ENCODING=CP932"],
    );
    let mut vertices = 0;
    for sf in sources.iter().take(8) {
        let Some(p) = deep_point(&sf.geom) else {
            continue;
        };
        let (t, _) = tile_of(p.x(), p.y(), 16);
        let r = get(
            &public_router(),
            &format!("/tiles/youto_chiiki/{}/{}/{}.mvt", t.z(), t.x(), t.y()),
            &[],
        )
        .await;
        let layers = decode(&r.body);
        let outlines: Vec<geo::Line<f64>> = layers[0]
            .features
            .iter()
            .flat_map(|f| common::outline(&f.geometry))
            .collect();
        let tr = chizu::tile::TileTransform::new(&t, 4096);
        use geo::CoordsIter;
        for c in sf.geom.coords_iter() {
            let (x, y) = chizu::tile::lonlat_to_mercator(c.x, c.y);
            let (tx, ty) = tr.apply(x, y);
            if !(0.0..=4096.0).contains(&tx) || !(0.0..=4096.0).contains(&ty) {
                continue;
            }
            let q = geo::Point::new(tx, ty);
            let d = outlines
                .iter()
                .map(|l| Euclidean.distance(&q, l))
                .fold(f64::INFINITY, f64::min);
            assert!(
                d <= 1.5 + std::f64::consts::FRAC_1_SQRT_2 + 1e-9,
                "vertex {c:?} is {d} units from the tile's outline in {t}"
            );
            vertices += 1;
        }
    }
    assert!(vertices > 50, "only {vertices} vertices checked");
}

#[tokio::test]
async fn gdal_mvt_driver_reads_composite_tiles() {
    // 焼津駅 area at z14: zoning, flood, shelters, landslide zones together.
    let (t, _) = tile_of(138.3181, 34.8659, 14);
    let layers = "youto_chiiki,kouzui_shinsui,hinanjo,dosha_keikai,kinkyu_yusouro";
    let r = get(
        &public_router(),
        &format!("/tiles/{layers}/{}/{}/{}.mvt", t.z(), t.x(), t.y()),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let ours = decode(&r.body);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tile.mvt");
    std::fs::write(&path, &r.body).expect("write");
    let opts = [
        format!("X={}", t.x()),
        format!("Y={}", t.y()),
        format!("Z={}", t.z()),
        "CLIP=NO".to_string(),
    ];
    let opt_refs: Vec<&str> = opts.iter().map(String::as_str).collect();
    let ds = Dataset::open_ex(
        &path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
            allowed_drivers: Some(&["MVT"]),
            open_options: Some(&opt_refs),
            ..DatasetOptions::default()
        },
    )
    .expect("GDAL's MVT driver opens chizu's tile");
    let mut gdal_names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let mut our_names: Vec<String> = ours.iter().map(|l| l.name.clone()).collect();
    gdal_names.sort();
    our_names.sort();
    assert_eq!(gdal_names, our_names);
    assert!(
        our_names.contains(&"youto_chiiki".to_string())
            && our_names.contains(&"hinanjo".to_string())
    );
    for l in &ours {
        let mut gl = ds.layer_by_name(&l.name).expect("layer");
        let idx = gl.defn().field_index("zone").ok();
        let mut n = 0;
        for f in gl.features() {
            n += 1;
            if l.name == "youto_chiiki" {
                let zone = f
                    .field_as_string(idx.expect("zone field"))
                    .expect("read")
                    .expect("non-null");
                assert!(zone.ends_with("地域"), "GDAL read zone `{zone}`");
            }
        }
        assert_eq!(
            n,
            l.features.len(),
            "{}: GDAL and mvt-reader disagree on feature count",
            l.name
        );
    }
}

#[tokio::test]
async fn every_tile_over_the_city_is_valid() {
    let state = common::state();
    let catalog = state.catalog.load();
    let public: Vec<String> = catalog
        .layers()
        .filter(|l| l.def.is_public())
        .map(|l| l.def.id.to_string())
        .collect();
    let spec = public.join(",");
    let app = public_router();
    let mut tiles = 0;
    let mut features = 0;
    for z in 10..=15u8 {
        let (a, _) = tile_of(138.24, 34.89, z);
        let (b, _) = tile_of(138.35, 34.77, z);
        for x in a.x()..=b.x() {
            for y in a.y()..=b.y() {
                let r = get(&app, &format!("/tiles/{spec}/{z}/{x}/{y}.mvt"), &[]).await;
                if r.status == 204 {
                    continue;
                }
                assert_eq!(r.status, 200);
                let layers = decode(&r.body);
                assert_tile_invariants(&layers, 64.0, &format!("{z}/{x}/{y}"));
                assert!(layers.iter().all(|l| l.name != "kousaten"));
                features += layers.iter().map(|l| l.features.len()).sum::<usize>();
                tiles += 1;
            }
        }
    }
    assert!(
        tiles > 100 && features > 1000,
        "{tiles} tiles, {features} features"
    );
}

/// Regression: the 3D polygons of 内水浸水想定区域 were all dropped ("geometry type chizu
/// cannot read") until Z was flattened before conversion.
#[tokio::test]
async fn three_d_polygons_are_read_with_z_dropped() {
    let state = common::state();
    let catalog = state.catalog.load();
    let naisui = catalog.get("naisui").expect("naisui loaded");
    assert_eq!(naisui.features.len(), 6);
    assert_eq!(naisui.report.totals().dropped, 0);
    let sources = read_source(
        &common::data("内水浸水想定区域(公共下水道区域内)/内水浸水想定区域(公共下水道区域内).shp"),
        &["ENCODING=UTF-8"],
    );
    let sf = sources
        .iter()
        .find(|s| s.attrs.get("Max_Rank").map(String::as_str) == Some("3"))
        .expect("rank 3");
    let geo::Geometry::MultiPolygon(mp) = &sf.geom else {
        panic!("multipolygon")
    };
    let largest = mp.0.iter().max_by(|a, b| {
        use geo::Area;
        a.unsigned_area().total_cmp(&b.unsigned_area())
    });
    let p =
        deep_point(&geo::Geometry::Polygon(largest.expect("parts").clone())).expect("deep point");
    let found = features_at("naisui", p.x(), p.y(), 16).await;
    assert!(
        found
            .iter()
            .any(|f| f.get("depth_rank").map(String::as_str) == Some("3")),
        "{found:?}"
    );
}
