//! CQL2 filters on `/collections/{id}/items` (OGC API – Features Part 3): comparison,
//! logical and spatial examples against GDAL's own filter on the same source files; the
//! queryables; hidden fields refused exactly as missing ones; malformed and hostile filters
//! refused with 400; and GDAL's OAPIF driver pushing a filter down over a real socket.

use std::process::Command;

use crate::common::{bearer, data, get, internal_router, public_router};

const DOSHA: &str = "土砂災害警戒区域/土砂災害警戒区域.shp";

/// Features GDAL selects from a source file with a `where` (`SQLite` dialect, as OGR SQL
/// would read it) and an optional lon/lat box (`ST_Intersects` by GEOS, in the file's CRS).
fn gdal_count(shp: &str, where_: &str, spat: Option<[f64; 4]>) -> u64 {
    let path = data(shp);
    let layer = path
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .to_string();
    let mut conds = Vec::new();
    if !where_.is_empty() {
        conds.push(format!("({where_})"));
    }
    if let Some([w, s, e, n]) = spat {
        conds.push(format!(
            "ST_Intersects(geometry, ST_Transform(BuildMbr({w}, {s}, {e}, {n}, 4326), ST_SRID(geometry)))"
        ));
    }
    let cond = if conds.is_empty() {
        "1".to_string()
    } else {
        conds.join(" AND ")
    };
    let sql = format!("SELECT COUNT(*) AS n FROM \"{layer}\" WHERE {cond}");
    let out = Command::new("ogrinfo")
        .args([
            "-ro",
            "-q",
            "-oo",
            "ENCODING=CP932",
            "-dialect",
            "SQLite",
            "-sql",
            &sql,
        ])
        .arg(&path)
        .output()
        .expect("ogrinfo runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("n (Integer) = "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{sql}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn matched(r: &axum::Router, id: &str, filter: &str, lang: &str) -> u64 {
    let resp = get(
        r,
        &format!(
            "/collections/{id}/items?limit=1&filter-lang={lang}&filter={}",
            enc(filter)
        ),
        &[],
    )
    .await;
    assert_eq!(
        resp.status,
        200,
        "{filter}: {}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()["numberMatched"]
        .as_u64()
        .expect("numberMatched")
}

#[tokio::test]
async fn comparison_logical_and_spatial_filters_select_what_gdal_selects() {
    let r = public_router();
    let bbox = [138.28, 34.88, 138.31, 34.90];
    let cases: [(&str, &str, Option<[f64; 4]>); 6] = [
        ("phenomenon = '土石流'", "GENSHOMEI = '土石流'", None),
        ("phenomenon <> '土石流'", "GENSHOMEI <> '土石流'", None),
        (
            "phenomenon = '土石流' AND NOT name LIKE '%川%'",
            "GENSHOMEI = '土石流' AND NOT (NAME LIKE '%川%')",
            None,
        ),
        (
            "phenomenon IN ('土石流', '地すべり') OR kasho_no LIKE '212-Ⅱ%'",
            "GENSHOMEI IN ('土石流', '地すべり') OR KASHO_NO LIKE '212-Ⅱ%'",
            None,
        ),
        (
            "S_INTERSECTS(geometry, BBOX(138.28, 34.88, 138.31, 34.90))",
            "",
            Some(bbox),
        ),
        (
            "phenomenon = '土石流' AND S_INTERSECTS(geometry, POLYGON((138.28 34.88, 138.31 34.88, 138.31 34.90, 138.28 34.90, 138.28 34.88)))",
            "GENSHOMEI = '土石流'",
            Some(bbox),
        ),
    ];
    for (cql, ogr, spat) in cases {
        let ours = matched(&r, "dosha_keikai", cql, "cql2-text").await;
        let gdal = gdal_count(DOSHA, ogr, spat);
        assert_eq!(ours, gdal, "{cql} vs GDAL {ogr} {spat:?}");
        assert!(gdal > 0, "{cql} selects something");
    }
    // The same as cql2-json.
    let json = r#"{"op":"and","args":[{"op":"=","args":[{"property":"phenomenon"},"土石流"]},{"op":"s_intersects","args":[{"property":"geometry"},{"bbox":[138.28,34.88,138.31,34.90]}]}]}"#;
    assert_eq!(
        matched(&r, "dosha_keikai", json, "cql2-json").await,
        gdal_count(DOSHA, "GENSHOMEI = '土石流'", Some(bbox))
    );
    // Numbers, BETWEEN and IS NULL over a layer of eleven files, against GDAL on each.
    let files: Vec<String> =
        std::fs::read_to_string(crate::common::root().join("layers/youto_chiiki.toml"))
            .expect("layer file")
            .lines()
            .filter_map(|l| l.strip_prefix("path = \"data/yaizu/"))
            .map(|p| p.trim_end_matches('"').to_string())
            .collect();
    for (cql, ogr) in [
        (
            "floor_area_ratio >= 200 AND coverage_ratio BETWEEN 60 AND 70",
            "SAFIELD001 >= 200 AND SAFIELD002 BETWEEN 60 AND 70",
        ),
        (
            "floor_area_ratio IS NULL OR floor_area_ratio < 100",
            "SAFIELD001 IS NULL OR SAFIELD001 < 100",
        ),
    ] {
        let gdal: u64 = files.iter().map(|f| gdal_count(f, ogr, None)).sum();
        assert_eq!(
            matched(&r, "youto_chiiki", cql, "cql2-text").await,
            gdal,
            "{cql}"
        );
    }
}

#[tokio::test]
async fn hidden_fields_are_refused_like_missing_ones_and_queryables_list_what_is_seen() {
    let r = public_router();
    let hidden = get(
        &r,
        &format!(
            "/collections/youto_chiiki/items?filter={}",
            enc("sauid = 1")
        ),
        &[],
    )
    .await;
    let missing = get(
        &r,
        &format!(
            "/collections/youto_chiiki/items?filter={}",
            enc("nosuch = 1")
        ),
        &[],
    )
    .await;
    assert_eq!(hidden.status, 400);
    assert_eq!(missing.status, 400);
    assert_eq!(
        String::from_utf8_lossy(&hidden.body).replace("sauid", "X"),
        String::from_utf8_lossy(&missing.body).replace("nosuch", "X"),
        "the answer tells nothing of the hidden field"
    );
    let q = get(&r, "/collections/youto_chiiki/queryables", &[]).await;
    assert_eq!(q.header("content-type"), Some("application/schema+json"));
    let q = q.json();
    assert!(
        q["properties"]["geometry"].is_object()
            && q["properties"]["floor_area_ratio"]["type"] == "integer",
        "{q}"
    );
    assert!(q["properties"].get("sauid").is_none(), "{q}");
    let (ri, staff) = internal_router();
    let auth = bearer(&staff.admin);
    let qi = get(
        &ri,
        "/collections/youto_chiiki/queryables",
        &[("authorization", &auth)],
    )
    .await
    .json();
    assert!(qi["properties"]["sauid"].is_object(), "{qi}");
    let ok = get(
        &ri,
        &format!(
            "/collections/youto_chiiki/items?limit=1&filter={}",
            enc("sauid IS NOT NULL")
        ),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(ok.status, 200);
    let conf = get(&r, "/conformance", &[]).await.json().to_string();
    for c in [
        "ogcapi-features-3/1.0/conf/filter",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/basic-spatial-functions",
    ] {
        assert!(conf.contains(c), "{c}");
    }
}

#[tokio::test]
async fn malformed_and_hostile_filters_are_400() {
    let r = public_router();
    let deep = format!("{}phenomenon = 'x'{}", "(".repeat(200), ")".repeat(200));
    let many = format!("kasho_no IN ({})", vec!["'a'"; 2000].join(","));
    let huge = format!("kasho_no = '{}'", "x".repeat(9_000));
    for (f, lang) in [
        ("phenomenon =", "cql2-text"),
        ("phenomenon = 'unclosed", "cql2-text"),
        ("S_INTERSECTS(geometry, POINT(500 0))", "cql2-text"),
        ("evil(1) = 1", "cql2-text"),
        (&deep, "cql2-text"),
        (&many, "cql2-text"),
        ("{\"op\":\"=\"}", "cql2-json"),
        ("not json", "cql2-json"),
        ("phenomenon = 'x'", "sql"),
    ] {
        let resp = get(
            &r,
            &format!(
                "/collections/dosha_keikai/items?filter-lang={lang}&filter={}",
                enc(f)
            ),
            &[],
        )
        .await;
        assert_eq!(
            resp.status,
            400,
            "{}…",
            f.chars().take(40).collect::<String>()
        );
    }
    // Too long for a URL the server accepts at all, or for the filter: refused either way.
    let resp = get(
        &r,
        &format!("/collections/dosha_keikai/items?filter={}", enc(&huge)),
        &[],
    )
    .await;
    assert!(resp.status.is_client_error(), "{}", resp.status);
    let crs = get(
        &r,
        &format!(
            "/collections/dosha_keikai/items?filter-crs=EPSG:3857&filter={}",
            enc("phenomenon = 'x'")
        ),
        &[],
    )
    .await;
    assert_eq!(crs.status, 400);
}

/// GDAL's OAPIF driver turns an attribute filter into a CQL2 `filter=` on the server (it
/// reads the conformance classes) and gets what GDAL selects from the file itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_oapif_pushes_a_filter_down() {
    let (addr, server) = crate::common::serve_public().await;
    let url = format!("OAPIF:http://{addr}/");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ogrinfo")
            .args([
                "-ro",
                "-so",
                "--debug",
                "ON",
                "-where",
                "phenomenon = '土石流'",
                &url,
                "dosha_keikai",
            ])
            .output()
            .expect("ogrinfo runs")
    })
    .await
    .expect("join");
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    assert_eq!(count, gdal_count(DOSHA, "GENSHOMEI = '土石流'", None));
    assert!(
        stderr.contains("filter="),
        "GDAL sent the filter to the server:\n{stderr}"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_only_what_the_view_sees() {
    let r = public_router();
    let resp = get(&r, "/api", &[]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("application/vnd.oai.openapi+json;version=3.0")
    );
    let doc = resp.json();
    assert_eq!(doc["openapi"], "3.0.3");
    for p in [
        "/",
        "/api",
        "/conformance",
        "/collections",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/queryables",
        "/tiles/{layers}/{z}/{x}/{y}",
        "/hazard",
        "/query",
        "/search",
        "/land",
        "/download/{file}",
        "/styles/{file}",
        "/catalog",
        "/health",
    ] {
        assert!(doc["paths"][p]["get"].is_object(), "{p}");
    }
    assert!(doc["paths"]["/land"]["post"].is_object());
    let items = doc["paths"]["/collections/youto_chiiki/items"]["get"]["parameters"].to_string();
    assert!(
        items.contains("\"floor_area_ratio\"") && !items.contains("sauid"),
        "{items}"
    );
    let text = doc.to_string();
    for hidden in ["kousaten", "kukakusen", "shinsui_rireki"] {
        assert!(
            !text.contains(hidden),
            "{hidden} in the public OpenAPI document"
        );
    }
    let landing = get(&r, "/?f=json", &[]).await.json().to_string();
    assert!(landing.contains("service-desc"), "{landing}");
    let (ri, staff) = internal_router();
    let auth = bearer(&staff.doro);
    let internal = get(&ri, "/api", &[("authorization", &auth)])
        .await
        .json()
        .to_string();
    assert!(internal.contains("/collections/kousaten/items"));
    assert!(
        !internal.contains("/collections/shinsui_rireki/items"),
        "doro-kanri does not see flood history"
    );
}

#[tokio::test]
async fn browsers_get_pages_for_collections_a_collection_and_items() {
    let r = public_router();
    let html = [("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let list = get(&r, "/collections", &html).await;
    assert_eq!(
        list.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let list = String::from_utf8_lossy(&list.body).to_string();
    assert!(
        list.starts_with("<!doctype html>")
            && list.contains("用途地域")
            && !list.contains("kousaten"),
        "{list}"
    );
    let one = String::from_utf8_lossy(&get(&r, "/collections/youto_chiiki?f=html", &[]).await.body)
        .to_string();
    assert!(
        one.contains("floor_area_ratio") && one.contains("容積率") && !one.contains("sauid"),
        "{one}"
    );
    let items = get(
        &r,
        &format!(
            "/collections/dosha_keikai/items?limit=5&filter={}",
            enc("phenomenon = '土石流'")
        ),
        &html,
    )
    .await;
    assert_eq!(items.status, 200);
    let items = String::from_utf8_lossy(&items.body).to_string();
    assert!(
        items.contains("<table>") && items.contains("土石流") && items.contains("(next)"),
        "{items}"
    );
    assert_eq!(
        items.matches("<tr>").count(),
        6,
        "a header row and five features"
    );
    // Clients that ask for JSON still get it.
    let json = get(&r, "/collections", &[("accept", "application/json")]).await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    let geo = get(
        &r,
        "/collections/dosha_keikai/items?limit=1",
        &[("accept", "application/geo+json, application/json")],
    )
    .await;
    assert_eq!(geo.header("content-type"), Some("application/geo+json"));
}
