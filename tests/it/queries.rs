//! Queries on the real sample: the hazard report, identify, search, OGC API – Features
//! (also read by GDAL's OAPIF driver over a real socket) and the downloads.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::{self, bearer, get, internal_router, public_router};
use crate::real_tiles::{deep_point, read_source};

/// A point well inside the 方ノ上谷川 土石流 warning zone (箇所番号 212-Ⅰ-003).
fn houjou_point() -> (f64, f64) {
    let src = read_source(
        &common::data("土砂災害警戒区域/土砂災害警戒区域.shp"),
        &["ENCODING=CP932"],
    );
    let f = src
        .iter()
        .find(|s| s.attrs.get("NAME").map(String::as_str) == Some("方ノ上谷川"))
        .expect("方ノ上谷川 in the source");
    let p = deep_point(&f.geom).expect("deep point");
    (p.x(), p.y())
}

async fn hazard(lon: f64, lat: f64, extra: &str) -> Value {
    let r = get(
        &public_router(),
        &format!("/hazard?lon={lon}&lat={lat}{extra}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test]
async fn hazard_report_names_the_debris_flow_zone() {
    let (lon, lat) = houjou_point();
    let j = hazard(lon, lat, "").await;
    assert_eq!(j["designated"], true);
    let h = j["hazards"].as_array().expect("hazards");
    let zone = h
        .iter()
        .find(|x| x["layer"] == "dosha_keikai")
        .expect("warning zone found");
    assert_eq!(zone["kind"], "landslide_warning");
    assert_eq!(zone["kind_label"], "土砂災害警戒区域");
    assert_eq!(zone["class"]["label"], "土石流");
    assert_eq!(zone["notice"], "県告744号");
    assert_eq!(zone["date"], "平成21年8月25日");
    let details: Vec<(String, String)> = zone["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            (
                d["label"].as_str().unwrap_or("").to_string(),
                d["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        details.contains(&("箇所番号".into(), "212-Ⅰ-003".into())),
        "{details:?}"
    );
    assert!(
        details.contains(&("箇所名".into(), "方ノ上谷川".into())),
        "{details:?}"
    );
    assert!(zone["action"].as_str().is_some_and(|a| a.contains("避難")));
    assert!(
        j["summary"]
            .as_str()
            .is_some_and(|s| s.contains("土砂災害警戒区域（土石流）")),
        "{}",
        j["summary"]
    );

    // Shelters: nearest first, flagged for landslides from the CSV's 開設 columns.
    let shelters = j["shelters"].as_array().expect("shelters");
    assert_eq!(shelters.len(), 3);
    let d: Vec<u64> = shelters
        .iter()
        .map(|s| s["distance_m"].as_u64().expect("distance"))
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    for s in shelters {
        let opens: Vec<&str> = s["opens_for"]
            .as_array()
            .expect("opens_for")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let expect = opens.contains(&"landslide_warning");
        assert_eq!(s["opens_for_found"], expect, "{s}");
    }

    let en = hazard(lon, lat, "&lang=en").await;
    assert_eq!(en["hazards"][0]["kind_label"], "Landslide warning zone");
    assert!(
        en["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("This point is in 1 designated hazard area")),
        "{}",
        en["summary"]
    );
}

#[tokio::test]
async fn hazard_report_gives_the_flood_depth_class() {
    let src = read_source(
        &common::data(
            "葉梨川_洪水浸水想定区域（想定最大規模）/葉梨川_洪水浸水想定区域（想定最大規模）.shp",
        ),
        &["ENCODING=CP932"],
    );
    let labels = [
        "",
        "0.5m未満",
        "0.5m以上3.0m未満",
        "3.0m以上5.0m未満",
        "5.0m以上10.0m未満",
        "10.0m以上20.0m未満",
        "20.0m以上",
    ];
    for f in &src {
        let rank: usize = f.attrs["Max_Rank"].parse().expect("rank");
        let geo::Geometry::MultiPolygon(mp) = &f.geom else {
            panic!("multipolygon")
        };
        let largest = mp.0.iter().max_by(|a, b| {
            use geo::Area;
            a.unsigned_area().total_cmp(&b.unsigned_area())
        });
        let p = deep_point(&geo::Geometry::Polygon(largest.expect("part").clone())).expect("deep");
        let j = hazard(p.x(), p.y(), "").await;
        let flood = j["hazards"]
            .as_array()
            .expect("hazards")
            .iter()
            .find(|h| {
                h["layer"] == "kouzui_shinsui"
                    && h["class"]["code"].as_str() == Some(rank.to_string().as_str())
            })
            .unwrap_or_else(|| panic!("rank {rank} at {p:?}: {j}"));
        assert_eq!(flood["class"]["label"], labels[rank]);
        assert_eq!(flood["class"]["level"], rank);
        assert_eq!(flood["scenario"], "想定最大規模");
        assert!(
            flood["details"]
                .as_array()
                .expect("details")
                .iter()
                .any(|d| d["value"] == "葉梨川"),
            "{flood}"
        );
        // Every shelter's flag agrees with what it says it opens for.
        let found: BTreeSet<String> = j["hazards"]
            .as_array()
            .expect("h")
            .iter()
            .filter_map(|h| h["kind"].as_str().map(String::from))
            .collect();
        for s in j["shelters"].as_array().expect("shelters") {
            let opens: BTreeSet<String> = s["opens_for"]
                .as_array()
                .expect("o")
                .iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect();
            if s["opens_for_found"] == true {
                assert!(found.is_subset(&opens), "{s} vs {found:?}");
            }
        }
    }
}

#[tokio::test]
async fn far_outside_every_layer_it_says_so_honestly() {
    // In 駿河湾, off 焼津's coast: no designated area in this data.
    let j = hazard(138.40, 34.84, "").await;
    assert_eq!(j["designated"], false);
    assert!(j["hazards"].as_array().is_some_and(Vec::is_empty));
    let summary = j["summary"].as_str().expect("summary");
    assert!(
        summary.contains("含まれていません") && summary.contains("洪水浸水想定区域"),
        "{summary}"
    );
    assert!(
        j["checked"].as_array().is_some_and(|c| c.len() >= 5),
        "the report lists what it checked"
    );
    assert!(j["note"]
        .as_str()
        .is_some_and(|n| n.contains("区域の外でも")));
    assert!(j["shelters"]
        .as_array()
        .is_some_and(|s| s.iter().all(|x| x["opens_for_found"].is_null())));
}

#[tokio::test]
async fn hazard_text_and_html_read_well() {
    let (lon, lat) = houjou_point();
    let r = get(
        &public_router(),
        &format!("/hazard?lon={lon}&lat={lat}&f=text"),
        &[],
    )
    .await;
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let t = String::from_utf8(r.body).expect("utf-8");
    assert!(
        t.contains("土砂災害警戒区域（土石流）") && t.contains("近くの避難先") && t.contains("約"),
        "{t}"
    );
    let r = get(
        &public_router(),
        &format!("/hazard?lon={lon}&lat={lat}"),
        &[("accept", "text/html")],
    )
    .await;
    let h = String::from_utf8(r.body).expect("utf-8");
    assert!(
        h.starts_with("<!doctype html><html lang=\"ja\">") && h.contains("<h1>ハザード情報</h1>"),
        "{h}"
    );
}

#[tokio::test]
async fn bad_query_input_is_400_with_a_reason() {
    let app = public_router();
    for uri in [
        "/hazard",
        "/hazard?lon=138.3",
        "/hazard?lon=abc&lat=34.8",
        "/hazard?lon=200&lat=34.8",
        "/hazard?lon=138.3&lat=91",
        "/hazard?lon=138.3&lat=34.8&lang=fr",
        "/hazard?lon=138.3&lat=34.8&shelters=1000",
        "/hazard?lon=138.3&lat=34.8&lon=1",
        "/hazard?lon=138.3&lat=34.8&evil=1",
        "/query?lon=138.3&lat=34.8&z=99",
        "/search",
        "/search?q=",
        "/collections/hinanjo/items?limit=100000",
        "/collections/hinanjo/items?limit=0",
        "/collections/hinanjo/items?offset=-1",
        "/collections/hinanjo/items?bbox=1,2,3",
        "/collections/hinanjo/items?bbox=138,35,137,34",
        "/collections/hinanjo/items?no_such_field=1",
        "/collections/hinanjo/items?crs=EPSG:3857",
        "/download/hinanjo.csv?geometry=svg",
    ] {
        let r = get(&app, uri, &[]).await;
        assert_eq!(r.status, 400, "{uri}");
        assert!(
            r.json()["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{uri}"
        );
    }
    let long = format!("/search?q={}", "あ".repeat(101));
    assert_eq!(get(&app, &long, &[]).await.status, 400);
    for uri in [
        "/collections/no_such",
        "/collections/kousaten/items",
        "/collections/hinanjo/items/999999",
        "/collections/hinanjo/items/abc",
        "/download/kousaten.csv",
        "/download/hinanjo.xlsx",
    ] {
        assert_eq!(get(&app, uri, &[]).await.status, 404, "{uri}");
    }
}

#[tokio::test]
async fn identify_finds_polygons_and_nearby_lines() {
    let src = read_source(
        &common::data("都市計画図_第一種住居地域/第一種住居地域.shp"),
        &["ENCODING=CP932"],
    );
    let p = deep_point(&src[1].geom).expect("deep");
    let j = get(
        &public_router(),
        &format!("/query?lon={}&lat={}&layers=youto_chiiki", p.x(), p.y()),
        &[],
    )
    .await
    .json();
    let f = &j["features"][0];
    assert_eq!(f["layer"], "youto_chiiki");
    assert_eq!(f["properties"]["zone"], src[1].attrs["SAFIELD000"]);
    assert_eq!(f["labels"]["floor_area_ratio"]["ja"], "容積率（％）");
    assert_eq!(
        f["value_labels"]["zone_code"]["en"],
        "Category 1 residential"
    );
    assert!(
        f["properties"].get("sauid").is_none(),
        "internal attribute hidden"
    );
    assert_eq!(f["geometry"]["type"], "Polygon");

    // A planned road: 2 px away at z16 is found, 2 km away is not.
    let roads = read_source(&common::data("都市計画道路/都市計画道路.shp"), &[]);
    let geo::Geometry::LineString(ls) = &roads[0].geom else {
        let geo::Geometry::MultiLineString(ml) = &roads[0].geom else {
            panic!("lines")
        };
        let c = ml.0[0].0[0];
        return check_road(c.x, c.y).await;
    };
    check_road(ls.0[0].x, ls.0[0].y).await;
}

async fn check_road(lon: f64, lat: f64) {
    let near = get(
        &public_router(),
        &format!(
            "/query?lon={}&lat={lat}&z=16&layers=toshi_keikaku_douro",
            lon + 0.00002
        ),
        &[],
    )
    .await
    .json();
    assert!(
        near["features"].as_array().is_some_and(|f| !f.is_empty()),
        "{near}"
    );
    let far = get(
        &public_router(),
        &format!(
            "/query?lon={}&lat={lat}&z=16&layers=toshi_keikaku_douro",
            lon + 0.02
        ),
        &[],
    )
    .await
    .json();
    assert!(far["features"].as_array().is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn search_finds_towns_and_shelters_kana_insensitively() {
    let app = public_router();
    let j = get(&app, "/search?q=方ノ上", &[]).await.json();
    assert_eq!(j["results"][0]["name"], "方ノ上");
    assert_eq!(j["results"][0]["match"], "exact");
    assert_eq!(j["results"][0]["layer"], "choume");
    let lon = j["results"][0]["lon"].as_f64().expect("lon");
    assert!((138.2..138.4).contains(&lon));
    for q in ["ニクコミ", "にくこみ", "ﾆｸｺﾐ"] {
        let j = get(&app, &format!("/search?q={q}"), &[]).await.json();
        let names: Vec<&str> = j["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"二区コミュニティ防災センター"),
            "{q}: {names:?}"
        );
    }
    // Partial match inside a name, and a limit.
    let j = get(&app, "/search?q=防災センター&limit=3", &[])
        .await
        .json();
    let r = j["results"].as_array().expect("results");
    assert_eq!(r.len(), 3);
    assert!(r.iter().all(|x| x["match"] == "partial"));
    let none = get(&app, "/search?q=存在しない地名", &[]).await.json();
    assert!(none["results"].as_array().is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn ogc_api_landing_collections_and_paging() {
    let app = public_router();
    let land = get(&app, "/", &[("accept", "application/json")])
        .await
        .json();
    let rels: Vec<&str> = land["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["rel"].as_str())
        .collect();
    for rel in ["self", "conformance", "data", "service-doc"] {
        assert!(rels.contains(&rel), "{rels:?}");
    }
    assert_eq!(get(&app, "/?f=json", &[]).await.json()["title"], "chizu");
    let html = get(&app, "/", &[("accept", "text/html,application/xhtml+xml")]).await;
    assert!(String::from_utf8_lossy(&html.body).starts_with("<!doctype html>"));
    let conf = get(&app, "/conformance", &[]).await.json();
    assert!(conf["conformsTo"].to_string().contains("conf/geojson"));

    let cols = get(&app, "/collections", &[]).await.json();
    let ids: Vec<&str> = cols["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"hinanjo") && !ids.contains(&"kousaten"),
        "{ids:?}"
    );
    let c = get(&app, "/collections/hinanjo", &[]).await.json();
    assert_eq!(c["title"], "指定避難所");
    assert_eq!(c["titles"]["en"], "Designated evacuation shelters");
    assert_eq!(
        get(&app, "/collections/hinanjo?lang=en", &[]).await.json()["title"],
        "Designated evacuation shelters"
    );
    assert!(c["extent"]["spatial"]["bbox"][0][0]
        .as_f64()
        .is_some_and(|w| w > 138.0));
    assert!(c["links"]
        .to_string()
        .contains("creativecommons.org/licenses/by/4.0"));
    assert!(c["attribution"]
        .as_str()
        .is_some_and(|a| a.contains("焼津市")));

    // Follow `next` links through all 56 shelters, 10 at a time.
    let mut uri = "/collections/hinanjo/items?limit=10".to_string();
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    loop {
        let r = get(&app, &uri, &[]).await;
        assert_eq!(r.header("content-type"), Some("application/geo+json"));
        let j = r.json();
        assert_eq!(j["numberMatched"], 56);
        let feats = j["features"].as_array().expect("features");
        assert_eq!(j["numberReturned"], feats.len());
        ids.extend(feats.iter().map(|f| f["id"].as_u64().expect("id")));
        pages += 1;
        let next = j["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["rel"] == "next");
        match next {
            Some(l) => {
                uri = l["href"]
                    .as_str()
                    .expect("href")
                    .replace("http://127.0.0.1:8080", "");
            }
            None => break,
        }
    }
    assert_eq!((ids.len(), pages), (56, 6));

    // Equality filter and bbox.
    let j = get(
        &app,
        "/collections/hinanjo/items?opens_landslide=true&limit=100",
        &[],
    )
    .await
    .json();
    let n = j["numberMatched"].as_u64().expect("n");
    assert!(n > 0 && n < 56, "{n}");
    assert!(j["features"]
        .as_array()
        .expect("f")
        .iter()
        .all(|f| f["properties"]["opens_landslide"] == true));
    let j = get(
        &app,
        "/collections/hinanjo/items?bbox=138.30,34.84,138.34,34.88&limit=100",
        &[],
    )
    .await
    .json();
    for f in j["features"].as_array().expect("features") {
        let c = &f["geometry"]["coordinates"];
        let (x, y) = (c[0].as_f64().expect("x"), c[1].as_f64().expect("y"));
        assert!((138.30..=138.34).contains(&x) && (34.84..=34.88).contains(&y));
    }
    // One item.
    let first = ids.iter().next().copied().expect("an id");
    let one = get(&app, &format!("/collections/hinanjo/items/{first}"), &[]).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["id"], first);
}

#[tokio::test]
async fn downloads_stream_the_whole_layer() {
    let app = public_router();
    let r = get(&app, "/download/hinanjo.geojson", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"hinanjo.geojson\"")
    );
    let j = r.json();
    assert_eq!(j["features"].as_array().map(Vec::len), Some(56));
    assert_eq!(j["metadata"]["license"], "CC-BY-4.0");

    let r = get(&app, "/download/hinanjo.csv?bom=1", &[]).await;
    let text = String::from_utf8(r.body).expect("utf-8");
    assert!(text.starts_with('\u{FEFF}'), "BOM for Excel");
    let mut lines = text.trim_start_matches('\u{FEFF}').lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("id,name,name_kana,address") && header.ends_with(",lon,lat"),
        "{header}"
    );
    assert_eq!(lines.count(), 56);

    let r = get(&app, "/download/youto_chiiki.csv", &[]).await;
    let text = String::from_utf8(r.body).expect("utf-8");
    assert!(!text.starts_with('\u{FEFF}'));
    assert!(text
        .lines()
        .next()
        .is_some_and(|h| h.ends_with(",wkt") && !h.contains("sauid")));
    assert!(text.contains("\"MULTIPOLYGON ((("));
    assert_eq!(text.lines().count(), 99);
}

#[tokio::test]
async fn staff_queries_see_their_internal_layers() {
    let (app, staff) = internal_router();
    let state = common::state();
    let catalog = state.catalog.load();
    let f = &catalog.get("shinsui_rireki").expect("layer").features[0];
    let [lon, lat] = chizu::query::geojson::representative_lonlat(f);
    let uri = format!("/query?lon={lon}&lat={lat}&layers=shinsui_rireki&px=50&z=12");
    let j = get(&app, &uri, &[("authorization", &bearer(&staff.kiki))])
        .await
        .json();
    assert!(
        j["features"].as_array().is_some_and(|f| !f.is_empty()),
        "{j}"
    );
    let r = get(&app, &uri, &[("authorization", &bearer(&staff.doro))]).await;
    assert_eq!(r.status, 404, "doro-kanri may not query 浸水履歴");
    let c = get(
        &app,
        "/collections/kousaten/items?limit=5",
        &[("authorization", &bearer(&staff.doro))],
    )
    .await
    .json();
    assert_eq!(c["numberMatched"], 159);
}

/// GDAL's OAPIF driver (a client no one here wrote) lists the collections and reads every
/// shelter through paging, over a real socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_oapif_reads_the_collections() {
    let (addr, server) = common::serve_public().await;
    let url = format!("OAPIF:http://{addr}/");
    let out = tokio::task::spawn_blocking(move || {
        let list = std::process::Command::new("ogrinfo")
            .args(["-ro", "-q", &url])
            .output()
            .expect("ogrinfo runs");
        let read = std::process::Command::new("ogrinfo")
            .args(["-ro", "-al", "-q", "-oo", "PAGE_SIZE=10", &url, "hinanjo"])
            .output()
            .expect("ogrinfo runs");
        (list, read)
    })
    .await
    .expect("join");
    server.abort();
    let list = String::from_utf8_lossy(&out.0.stdout);
    assert!(
        out.0.status.success(),
        "{}",
        String::from_utf8_lossy(&out.0.stderr)
    );
    for id in ["hinanjo", "youto_chiiki", "dosha_keikai", "choume"] {
        assert!(
            list.contains(id),
            "{id} missing from GDAL's listing: {list}"
        );
    }
    assert!(!list.contains("kousaten"));
    let read = String::from_utf8_lossy(&out.1.stdout);
    assert!(
        out.1.status.success(),
        "{}",
        String::from_utf8_lossy(&out.1.stderr)
    );
    assert_eq!(read.matches("OGRFeature(hinanjo)").count(), 56, "{read}");
    assert!(read.contains("二区コミュニティ防災センター"));
}

/// A table's rows as the staff map exports them: filtered by CQL2 and sorted, as CSV and as a
/// GeoPackage that GDAL itself reads back with the same rows in the same order.
#[tokio::test]
async fn filtered_sorted_exports_match_the_items() {
    let app = public_router();
    let filter = "filter=name%20LIKE%20%27%25%E5%B0%8F%E5%AD%A6%E6%A0%A1%27&sortby=-name";
    let items = get(
        &app,
        &format!("/collections/hinanjo/items?{filter}&limit=1000"),
        &[],
    )
    .await;
    assert_eq!(items.status, 200);
    let names: Vec<String> = items.json()["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["properties"]["name"].as_str().expect("name").to_string())
        .collect();
    assert!(names.len() >= 5, "the city's 小学校 shelters: {names:?}");
    assert!(names.iter().all(|n| n.ends_with("小学校")));
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted, "sortby=-name: descending");

    let csv = get(&app, &format!("/download/hinanjo.csv?{filter}"), &[]).await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.body).expect("utf-8");
    assert_eq!(text.lines().count(), names.len() + 1, "header and the rows");

    let gpkg = get(&app, &format!("/download/hinanjo.gpkg?{filter}"), &[]).await;
    assert_eq!(gpkg.status, 200);
    assert_eq!(
        gpkg.header("content-type"),
        Some("application/geopackage+sqlite3")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hinanjo.gpkg");
    std::fs::write(&path, &gpkg.body).expect("write");
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-q"])
        .arg(&path)
        .output()
        .expect("ogrinfo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    let read: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name (String) = "))
        .collect();
    assert_eq!(read, names, "GDAL reads the same rows in the same order");
    assert_eq!(
        listing.matches("POINT (138.").count(),
        names.len(),
        "with their positions"
    );

    // A field the caller cannot see cannot sort, as it cannot filter.
    let r = get(&app, "/collections/hinanjo/items?sortby=nope", &[]).await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("sortby"));
}

/// An address as people write it (丁目・番・号, full-width digits) finds the facility at it;
/// staff also find the road ledger's intersections by address and number.
#[tokio::test]
async fn search_finds_addresses_written_either_way() {
    let app = public_router();
    for q in ["本町5-9-1", "本町５丁目９番１号", "本町5丁目9-1"] {
        let r = get(
            &app,
            &format!(
                "/search?q={}",
                form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ),
            &[],
        )
        .await;
        let j = r.json();
        let first = &j["results"][0];
        assert_eq!(first["name"], "二区コミュニティ防災センター", "{q}: {j}");
        assert_eq!(first["field"], "address", "{q}");
    }
    // The internal ledger: not searchable in public, found by staff.
    let state = common::state();
    let catalog = state.catalog.load();
    let ledger = catalog.get("kousaten").expect("layer");
    let i = ledger.field_index("address").expect("address field");
    let addr = ledger
        .features
        .iter()
        .find_map(|f| match &f.values[i] {
            chizu::store::Value::Str(s) if s.chars().count() >= 4 => Some(s.to_string()),
            _ => None,
        })
        .expect("an address in the ledger");
    let uri = format!(
        "/search?q={}&limit=50",
        form_urlencoded::byte_serialize(addr.as_bytes()).collect::<String>()
    );
    let public = get(&app, &uri, &[]).await.json();
    assert!(
        public["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["layer"] != "kousaten"),
        "the public never sees the ledger"
    );
    let (internal, staff) = internal_router();
    let r = get(&internal, &uri, &[("authorization", &bearer(&staff.admin))]).await;
    let j = r.json();
    assert!(
        j["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["layer"] == "kousaten" && r["name"] == addr.as_str()),
        "staff find {addr}: {j}"
    );
}

/// The way to a shelter is a straight line on the map: when it passes through a 土砂災害
/// (特別)警戒区域 the shelter says so, in both languages and in the text report — checked
/// against `geo`'s own segment–polygon intersection over every landslide area — and a
/// line through the flat town centre says nothing.
#[tokio::test]
async fn a_straight_way_through_a_landslide_area_is_said() {
    use geo::{Intersects as _, Line};
    let state = common::state();
    let catalog = state.catalog.load();
    let landslide: Vec<geo::Polygon<f64>> = catalog
        .layers()
        .filter(|l| {
            l.def.hazard.as_ref().is_some_and(|h| {
                matches!(
                    h.kind,
                    chizu::config::HazardKind::LandslideWarning
                        | chizu::config::HazardKind::LandslideSpecialWarning
                )
            })
        })
        .flat_map(|l| l.features.iter())
        .filter_map(|f| match &f.shape {
            chizu::store::Shape::Polygons(ps) => Some(
                ps.iter()
                    .filter_map(chizu::store::PolygonPart::to_polygon)
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(landslide.len() > 100, "{}", landslide.len());
    let crosses = |lon: f64, lat: f64, s: &Value| {
        let (ax, ay) = chizu::tile::lonlat_to_mercator(lon, lat);
        let (bx, by) = chizu::tile::lonlat_to_mercator(
            s["lon"].as_f64().expect("lon"),
            s["lat"].as_f64().expect("lat"),
        );
        let line = Line::new(geo::coord! { x: ax, y: ay }, geo::coord! { x: bx, y: by });
        let start = geo::Point::new(ax, ay);
        landslide
            .iter()
            .any(|p| !p.intersects(&start) && p.intersects(&line))
    };
    // In 坂本's hills (found by a sweep of the city): the way to the first shelter crosses one.
    let (lon, lat) = (138.27, 34.905_67);
    let r = hazard(lon, lat, "").await;
    let first = &r["shelters"][0];
    assert!(
        crosses(lon, lat, first),
        "geo says the line crosses: {first}"
    );
    let said = first["crossing"].as_str().expect("crossing said");
    assert!(
        said.contains("土砂災害") && said.contains("直線上"),
        "{said}"
    );
    let en = hazard(lon, lat, "&lang=en").await;
    assert!(en["shelters"][0]["crossing"]
        .as_str()
        .expect("en")
        .contains("passes through"));
    let text = get(
        &public_router(),
        &format!("/hazard?lon={lon}&lat={lat}&f=text"),
        &[],
    )
    .await;
    assert!(String::from_utf8_lossy(&text.body).contains("直線上に"));
    // Every shelter listed anywhere on a sweep agrees with geo, both ways.
    for i in 0..8 {
        for j in 0..8 {
            let (lon, lat) = (138.25 + f64::from(i) * 0.011, 34.80 + f64::from(j) * 0.013);
            let r = hazard(lon, lat, "").await;
            for s in r["shelters"].as_array().into_iter().flatten() {
                assert_eq!(
                    s.get("crossing").is_some(),
                    crosses(lon, lat, s),
                    "{lon},{lat}: {s}"
                );
            }
        }
    }
    // The town centre: flat, nothing in the way.
    let r = hazard(138.3182, 34.8662, "").await;
    assert!(
        r["shelters"][0].get("crossing").is_none(),
        "{}",
        r["shelters"][0]
    );
}
