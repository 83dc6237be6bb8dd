//! Reprojection: chizu's ingest against PROJ's `cs2cs`, on the real files.

use gdal::vector::LayerAccess;

use crate::common;

/// A JGD2000 plane-rectangular zone VIII vertex lands within 1 cm of cs2cs's answer.
#[test]
fn zone_viii_vertex_matches_cs2cs() {
    let state = common::state();
    let catalog = state.catalog.load();
    let layer = catalog.get("toshi_keikaku_douro").expect("layer");
    let feature = layer.features.iter().find(|f| f.id == 0).expect("FID 0");
    let chizu::store::Shape::Lines(lines) = &feature.shape else {
        panic!("lines")
    };
    let ours = lines[0].coords[0];

    // The raw vertex as stored (easting, northing in metres), read without transformation.
    let ds = gdal::Dataset::open(common::data("都市計画道路/都市計画道路.shp")).expect("open");
    let mut l = ds.layer(0).expect("layer");
    let f = l.features().next().expect("feature");
    let g = f.geometry().expect("geometry");
    let (e, n, _) = if g.geometry_count() > 0 {
        g.get_geometry(0).get_point(0)
    } else {
        g.get_point(0)
    };

    // EPSG:2450's authority axis order is northing first.
    let out = std::process::Command::new("cs2cs")
        .args(["-f", "%.6f", "EPSG:2450", "EPSG:3857"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(format!("{n} {e}\n").as_bytes())?;
            c.wait_with_output()
        })
        .expect("cs2cs runs (apt package proj-bin)");
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<f64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let (x, y) = (nums[0], nums[1]);
    let d = ((ours.x - x).powi(2) + (ours.y - y).powi(2)).sqrt();
    assert!(d < 0.01, "chizu {ours:?} vs cs2cs ({x}, {y}): {d} m apart");
    // And it is in 焼津, not swapped: lon ≈ 138.3, lat ≈ 34.9.
    let (lon, lat) = chizu::tile::mercator_to_lonlat(ours.x, ours.y);
    assert!(
        (138.0..138.6).contains(&lon) && (34.6..35.1).contains(&lat),
        "{lon}, {lat}"
    );
}
