//! The lot report (`/land`): area shares of a 用途地域-straddling polygon against GEOS
//! (GDAL's `SQLite` dialect with `SpatiaLite` on the source files, in their own plane
//! rectangular CRS), the point and feature forms, the printable and CSV forms, what the
//! public view may not see, and bad input.

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::{bearer, data, get, internal_router, post_json, public_router, Resp};

/// A 300 m square over 第一種住居地域, 第二種住居地域 and 近隣商業地域.
const SQUARE: (f64, f64, f64) = (138.318, 34.866, 0.0015);

fn square() -> (serde_json::Value, String) {
    let (lon, lat, d) = SQUARE;
    let ring = [
        (lon - d, lat - d),
        (lon + d, lat - d),
        (lon + d, lat + d),
        (lon - d, lat + d),
        (lon - d, lat - d),
    ];
    let geojson = serde_json::json!({
        "type": "Polygon",
        "coordinates": [ring.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>()],
    });
    let wkt = format!(
        "POLYGON(({}))",
        ring.iter()
            .map(|(x, y)| format!("{x} {y}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    (geojson, wkt)
}

async fn post(app: &axum::Router, uri: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    post_json(app, uri, body, headers).await
}

/// Area (m²) of `wkt` (lon/lat) inside the features of one Shapefile, by GEOS through GDAL,
/// in the file's own CRS (JGD2000 zone VIII, scale factor 0.9999).
fn gdal_area(shp: &str, wkt: &str) -> f64 {
    let path = data(shp);
    let table = path
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .to_string();
    let sql = format!(
        "SELECT SUM(ST_Area(ST_Intersection(geometry, ST_Transform(ST_GeomFromText('{wkt}', 4326), 2450)))) AS a FROM \"{table}\""
    );
    let out = Command::new("ogrinfo")
        .args(["-ro", "-q", "-dialect", "SQLite", "-sql", &sql])
        .arg(&path)
        .output()
        .expect("ogrinfo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("a (Real) = "))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

fn zone_shares(rep: &serde_json::Value) -> BTreeMap<i64, (f64, f64)> {
    let mut by_code = BTreeMap::new();
    for l in rep["layers"].as_array().expect("layers") {
        if l["layer"] != "youto_chiiki" {
            continue;
        }
        for f in l["features"].as_array().expect("features") {
            let code = f["attributes"]
                .as_array()
                .expect("attributes")
                .iter()
                .find(|a| a["name"] == "zone_code")
                .and_then(|a| a["value"].as_i64())
                .expect("zone code");
            let e = by_code.entry(code).or_insert((0.0, 0.0));
            e.0 += f["area_m2"].as_f64().expect("area");
            e.1 += f["share_pct"].as_f64().expect("share");
        }
    }
    by_code
}

#[tokio::test]
async fn zoning_shares_of_a_polygon_sum_to_100_and_agree_with_geos() {
    let r = public_router();
    let (geojson, wkt) = square();
    let resp = post(&r, "/land", &geojson.to_string(), &[]).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let rep: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
    let shares = zone_shares(&rep);
    assert!(shares.len() >= 2, "the square straddles zones: {shares:?}");
    let total: f64 = shares.values().map(|v| v.1).sum();
    assert!(
        (total - 100.0).abs() <= 0.5,
        "shares sum to {total}: {shares:?}"
    );
    let files = [
        (5, "都市計画図_第一種住居地域/第一種住居地域.shp"),
        (6, "都市計画図_第二種住居地域/第二種住居地域.shp"),
        (9, "都市計画図_近隣商業地域/近隣商業地域.shp"),
    ];
    for (code, shp) in files {
        let ours = shares.get(&code).map_or(0.0, |v| v.0);
        let geos = gdal_area(shp, &wkt);
        assert!(geos > 0.0, "GDAL finds zone {code} in the square");
        let rel = (ours - geos).abs() / geos;
        eprintln!(
            "zone {code}: chizu {ours:.1} m², GEOS {geos:.1} m², {:.3} %",
            rel * 100.0
        );
        assert!(
            rel <= 0.01,
            "zone {code}: ours {ours:.1} m², GEOS {geos:.1} m² ({:.3} %)",
            rel * 100.0
        );
    }
    // The subject's own area, on the ground: ~333 m × 276 m at this latitude.
    let area = rep["area_m2"].as_f64().expect("area");
    assert!((area - 91_294.0).abs() < 500.0, "{area}");
}

#[tokio::test]
async fn point_and_feature_forms_report_what_applies() {
    let r = public_router();
    let (lon, lat, _) = SQUARE;
    let rep = get(&r, &format!("/land?lon={lon}&lat={lat}"), &[])
        .await
        .json();
    let zoning = rep["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["layer"] == "youto_chiiki")
        .unwrap_or_else(|| panic!("zoning at the point: {rep}"));
    let f = &zoning["features"][0];
    let labels: Vec<&str> = f["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["label"].as_str())
        .collect();
    assert!(labels.iter().any(|l| l.contains("容積率")), "{labels:?}");
    assert!(labels.iter().any(|l| l.contains("建ぺい率")), "{labels:?}");
    // The zoning feature itself as the subject: it is 100 % itself, so it is left out, and
    // what it overlaps is listed with shares of its area.
    let id = f["id"].as_u64().expect("id");
    let by_feature = get(&r, &format!("/land?layer=youto_chiiki&fid={id}"), &[])
        .await
        .json();
    assert_eq!(by_feature["subject"], "polygon", "{by_feature}");
    assert!(by_feature["area_m2"].as_f64().expect("area") > 0.0);
    assert!(by_feature["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["layer"] == "youto_chiiki")
        .flat_map(|l| l["features"].as_array().expect("features"))
        .all(|x| x["id"].as_u64() != Some(id)));
    let html = get(&r, &format!("/land?lon={lon}&lat={lat}&f=html"), &[]).await;
    assert_eq!(html.status, 200);
    let page = String::from_utf8_lossy(&html.body);
    assert!(
        page.starts_with("<!doctype html>")
            && page.contains("土地の情報")
            && page.contains("用途地域")
    );
    let csv = get(&r, &format!("/land?lon={lon}&lat={lat}&f=csv&lang=en"), &[]).await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = String::from_utf8_lossy(&csv.body);
    assert!(csv.starts_with("layer,layer_title,feature_id,area_m2,share_pct,length_m,attributes"));
    assert!(
        csv.contains("\"youto_chiiki\",\"Zoning districts\""),
        "{csv}"
    );
}

#[tokio::test]
async fn the_public_report_shows_no_internal_layer_or_field() {
    let (geojson, _) = square();
    let public = post(&public_router(), "/land", &geojson.to_string(), &[]).await;
    let text = String::from_utf8_lossy(&public.body).to_string();
    for hidden in [
        "sauid",
        "SIS内部ID",
        "kousaten",
        "kukakusen",
        "shinsui_rireki",
    ] {
        assert!(!text.contains(hidden), "{hidden} in the public lot report");
    }
    let (r, staff) = internal_router();
    let auth = bearer(&staff.admin);
    let internal = post(
        &r,
        "/land",
        &geojson.to_string(),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(internal.status, 200);
    let text = String::from_utf8_lossy(&internal.body);
    assert!(text.contains("\"sauid\""), "staff see the internal field");
    let none = post(&r, "/land", &geojson.to_string(), &[]).await;
    assert_eq!(none.status, 401);
}

#[tokio::test]
async fn bad_lots_are_refused_with_a_reason() {
    let r = public_router();
    for (body, says) in [
        ("not json", "not JSON"),
        (
            r#"{"type":"LineString","coordinates":[[0,0],[1,1]]}"#,
            "LineString",
        ),
        (
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[0,0]]]}"#,
            "at least 4",
        ),
        (
            r#"{"type":"Polygon","coordinates":[[[500,0],[1,1],[1,0],[500,0]]]}"#,
            "lon/lat",
        ),
        (
            r#"{"type":"Polygon","coordinates":[[[138,34],[138.1,34],[138.2,34],[138,34]]]}"#,
            "no area",
        ),
    ] {
        let resp = post(&r, "/land", body, &[]).await;
        assert_eq!(resp.status, 400, "{body}");
        let msg = String::from_utf8_lossy(&resp.body);
        assert!(msg.contains(says), "{body}: {msg}");
    }
    let big = serde_json::json!({
        "type": "Polygon",
        "coordinates": [(0..3000).map(|i| [138.0 + f64::from(i) * 1e-6, 34.0]).collect::<Vec<_>>()],
    });
    let resp = post(&r, "/land", &big.to_string(), &[]).await;
    assert!(resp.status == 400 || resp.status == 413, "{}", resp.status);
    assert_eq!(get(&r, "/land?layer=youto_chiiki", &[]).await.status, 400);
    assert_eq!(get(&r, "/land?layer=nope&fid=1", &[]).await.status, 404);
    assert_eq!(
        get(&r, "/land?lon=138.3&lat=34.8&f=pdf", &[]).await.status,
        400
    );
}
