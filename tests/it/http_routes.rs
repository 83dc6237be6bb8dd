//! Every public route over the sample city: status codes, headers, and what the public
//! view must never show.

use std::io::Read as _;

use crate::common::{decode, fresh_public_router, get, public_router, tile_of};

fn station_tile(z: u8) -> String {
    let (t, _) = tile_of(138.3181, 34.8659, z);
    format!("{}/{}/{}", t.z(), t.x(), t.y())
}

#[tokio::test]
async fn tile_has_headers_gzip_and_etag() {
    let app = public_router();
    let uri = format!("/tiles/youto_chiiki/{}.mvt", station_tile(14));
    let plain = get(&app, &uri, &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("application/vnd.mapbox-vector-tile")
    );
    assert!(plain
        .header("cache-control")
        .is_some_and(|c| c.starts_with("public, max-age=")));
    let etag = plain.header("etag").expect("etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );

    let gz = get(&app, &uri, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, plain.body, "gzip body decodes to the same tile");
    assert_ne!(
        gz.header("etag"),
        Some(etag.as_str()),
        "each encoding has its own ETag"
    );

    let again = get(&app, &uri, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let changed = get(&app, &uri, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(changed.status, 200);

    let cors = get(&app, &uri, &[("origin", "https://example.org")]).await;
    assert_eq!(cors.header("access-control-allow-origin"), Some("*"));
}

/// A cached tile is answered ahead of the router on the public listener: whatever way it
/// takes, a tile's answer is the same — status, every header, body — for a first request
/// (cut) and the next (from the cache), in each case a client may bring.
#[tokio::test]
async fn a_cached_tile_is_answered_as_a_fresh_one() {
    let t14 = station_tile(14);
    let composite = format!("/tiles/youto_chiiki,hinanjo/{t14}.mvt");
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (composite.clone(), vec![("accept-encoding", "gzip")]),
        (composite.clone(), vec![]),
        (
            format!("/tiles/hinanjo,youto_chiiki/{t14}.mvt"),
            vec![
                ("accept-encoding", "gzip"),
                ("origin", "https://example.org"),
            ],
        ),
        (composite.clone(), vec![("accept-encoding", "gzip;q=0")]),
        (
            format!("/tiles/youto_chiiki/{t14}.mlt"),
            vec![("accept-encoding", "gzip")],
        ),
        (
            format!("/tiles/youto_chiiki/{t14}.pbf?v=2"),
            vec![("accept-encoding", "br, gzip")],
        ),
        (
            "/tiles/youto_chiiki/14/0/0.mvt".into(),
            vec![("accept-encoding", "gzip")],
        ),
        // A live layer's tile: revalidated on every use.
        (
            format!("/tiles/saigai_houkoku,youto_chiiki/{t14}.mvt"),
            vec![("accept-encoding", "gzip")],
        ),
    ];
    for (uri, headers) in &cases {
        let app = fresh_public_router();
        let first = get(&app, uri, headers).await;
        let second = get(&app, uri, headers).await;
        assert!(
            matches!(first.status.as_u16(), 200 | 204),
            "{uri}: {}",
            first.status
        );
        assert_eq!(first.status, second.status, "{uri} {headers:?}");
        assert_eq!(first.headers, second.headers, "{uri} {headers:?}");
        assert_eq!(first.body, second.body, "{uri} {headers:?}");
        if uri.contains("saigai_houkoku") {
            assert_eq!(second.header("cache-control"), Some("public, no-cache"));
        }
        if first.status == 200 {
            // Revalidation from the cache: 304 with the same headers either way.
            let etag = first.header("etag").expect("etag").to_string();
            let mut with = headers.clone();
            with.push(("if-none-match", &etag));
            let fresh = get(&fresh_public_router(), uri, &with).await;
            let cached = get(&app, uri, &with).await;
            assert_eq!(
                (fresh.status.as_u16(), cached.status.as_u16()),
                (304, 304),
                "{uri}"
            );
            assert_eq!(fresh.headers, cached.headers, "{uri} {with:?}");
        }
        let m = String::from_utf8(get(&app, "/metrics", &[]).await.body).expect("utf-8");
        let count = |status: u16, n: u32| {
            format!(
                "chizu_requests_total{{route=\"/tiles\",status=\"{status}\",view=\"public\"}} {n}"
            )
        };
        let mut want = vec![count(first.status.as_u16(), 2)];
        if first.status == 200 {
            want.push(count(304, 1));
        }
        for w in want {
            assert!(m.lines().any(|l| l == w), "{uri}: {w} in\n{m}");
        }
        assert!(
            m.lines().any(|l| l == "chizu_tile_cache_misses_total 1"),
            "{m}"
        );
    }
    // HEAD of a cached tile: headers only.
    let app = fresh_public_router();
    let uri = format!("/tiles/youto_chiiki/{t14}.mvt");
    get(&app, &uri, &[("accept-encoding", "gzip")]).await;
    let head = crate::common::send(
        &app,
        "HEAD",
        &uri,
        axum::body::Body::empty(),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn empty_tile_is_204() {
    let r = get(&public_router(), "/tiles/youto_chiiki/14/0/0.mvt", &[]).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    // Below the layer's minzoom the layer is simply absent.
    let r = get(
        &public_router(),
        &format!("/tiles/youto_chiiki/{}.mvt", station_tile(9)),
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn bad_tile_addresses_are_400_with_json_reason() {
    let app = public_router();
    for uri in [
        "/tiles/youto_chiiki/23/0/0.mvt",
        "/tiles/youto_chiiki/1/2/0.mvt",
        "/tiles/youto_chiiki/1/0/2.mvt",
        "/tiles/youto_chiiki/a/0/0.mvt",
        "/tiles/youto_chiiki/1/-1/0.mvt",
        "/tiles/youto_chiiki/1/0/0.png",
        "/tiles/youto_chiiki/1/0/0",
        "/tiles/youto_chiiki/99999999999999999999/0/0.mvt",
    ] {
        let r = get(&app, uri, &[]).await;
        assert_eq!(r.status, 400, "{uri}");
        assert!(
            r.json()["error"].as_str().is_some_and(|s| !s.is_empty()),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn z22_tiles_are_cut() {
    let r = get(
        &public_router(),
        &format!("/tiles/youto_chiiki/{}.mvt", station_tile(22)),
        &[],
    )
    .await;
    assert!(r.status == 200 || r.status == 204);
    if r.status == 200 {
        crate::common::assert_tile_invariants(&decode(&r.body), 64.0, "z22");
    }
}

#[tokio::test]
async fn internal_layer_is_indistinguishable_from_unknown_on_public() {
    let app = public_router();
    let t = station_tile(15);
    let unknown = get(&app, &format!("/tiles/no_such_layer/{t}.mvt"), &[]).await;
    assert_eq!(unknown.status, 404);
    for uri in [
        format!("/tiles/kousaten/{t}.mvt"),
        format!("/tiles/youto_chiiki,kousaten/{t}.mvt"),
        "/tiles/kousaten.json".to_string(),
        "/tiles/youto_chiiki,kousaten.json".to_string(),
    ] {
        // Whatever credentials are sent, the public listener ignores them.
        let r = get(&app, &uri, &[("authorization", "Bearer anything")]).await;
        assert_eq!(r.status, 404, "{uri}");
        assert_eq!(r.body, unknown.body, "{uri}: same body as an unknown layer");
    }
    let catalog = get(&app, "/catalog", &[]).await;
    assert!(!String::from_utf8_lossy(&catalog.body).contains("kousaten"));
    let health = get(&app, "/health", &[]).await;
    assert!(!String::from_utf8_lossy(&health.body).contains("kousaten"));
}

#[tokio::test]
async fn composite_tile_has_one_layer_per_id() {
    let r = get(
        &public_router(),
        &format!(
            "/tiles/youto_chiiki,kouzui_shinsui,hinanjo/{}.mvt",
            station_tile(14)
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let mut names: Vec<String> = decode(&r.body).into_iter().map(|l| l.name).collect();
    names.sort();
    assert_eq!(names, ["hinanjo", "kouzui_shinsui", "youto_chiiki"]);
    let dup = get(
        &public_router(),
        &format!("/tiles/hinanjo,hinanjo/{}.mvt", station_tile(14)),
        &[],
    )
    .await;
    assert_eq!(dup.status, 400);
}

#[tokio::test]
async fn tilejson_describes_layers_without_internal_fields() {
    let r = get(&public_router(), "/tiles/youto_chiiki,hinanjo.json", &[]).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["tilejson"], "3.0.0");
    assert_eq!(
        j["tiles"][0],
        "http://127.0.0.1:8080/tiles/youto_chiiki,hinanjo/{z}/{x}/{y}.mvt"
    );
    let b = j["bounds"].as_array().expect("bounds");
    let b: Vec<f64> = b.iter().filter_map(serde_json::Value::as_f64).collect();
    assert!(
        b[0] > 138.0 && b[2] < 138.5 && b[1] > 34.6 && b[3] < 35.0,
        "{b:?}"
    );
    let layers = j["vector_layers"].as_array().expect("vector_layers");
    assert_eq!(layers.len(), 2);
    let zoning = layers
        .iter()
        .find(|l| l["id"] == "youto_chiiki")
        .expect("zoning");
    let fields = zoning["fields"].as_object().expect("fields");
    assert!(fields.contains_key("zone") && fields.contains_key("floor_area_ratio"));
    assert!(
        !fields.contains_key("sauid") && !fields.contains_key("updated"),
        "internal fields hidden: {fields:?}"
    );
    assert!(j["attribution"]
        .as_str()
        .is_some_and(|a| a.contains("焼津市")));
    assert_eq!(
        get(&public_router(), "/tiles/youto_chiiki.xml", &[])
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn catalog_lists_public_layers_with_titles_and_fields() {
    let j = get(&public_router(), "/catalog", &[]).await.json();
    let layers = j["layers"].as_array().expect("layers");
    let ids: Vec<&str> = layers.iter().filter_map(|l| l["id"].as_str()).collect();
    for id in [
        "youto_chiiki",
        "toshi_keikaku_douro",
        "kouzui_shinsui",
        "dosha_keikai",
        "dosha_tokubetsu",
        "kinkyu_yusouro",
        "hinanjo",
        "gyousei_kuikikai",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let flood = layers
        .iter()
        .find(|l| l["id"] == "kouzui_shinsui")
        .expect("flood");
    assert_eq!(flood["title"]["ja"], "洪水浸水想定区域（想定最大規模）");
    assert_eq!(flood["hazard"], "flood");
    assert_eq!(flood["features"], 10);
    assert_eq!(flood["license"], "CC-BY-4.0");
    assert_eq!(
        flood["downloads"]["csv"],
        "http://127.0.0.1:8080/download/kouzui_shinsui.csv"
    );
    let zoning = layers
        .iter()
        .find(|l| l["id"] == "youto_chiiki")
        .expect("zoning");
    let names: Vec<&str> = zoning["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["zone", "zone_code", "floor_area_ratio", "coverage_ratio"]
    );
}

#[tokio::test]
async fn health_reports_ready_layers() {
    let j = get(&public_router(), "/health", &[]).await.json();
    assert_eq!(j["status"], "ok");
    assert!(j["layers"]
        .as_array()
        .is_some_and(|l| l.len() >= 9 && l.iter().all(|x| x["state"] == "ready")));
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let r = get(&public_router(), "/nope", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not found");
}

/// The same router over a real socket on port 0.
#[tokio::test]
async fn serves_over_a_real_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = public_router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET /tiles/hinanjo/{}.mvt HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        station_tile(14)
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text
        .to_ascii_lowercase()
        .contains("content-type: application/vnd.mapbox-vector-tile"));
    server.abort();
}

#[tokio::test]
async fn tilejson_says_where_a_layer_was_trimmed_to_its_budget() {
    let dir = crate::cli::root_with_edited_layer("kouzui_shinsui", "max_tile_bytes = 20000");
    chizu::route_gdal_messages();
    let loaded = chizu::load_root(dir.path(), 2);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let state = chizu::http::AppState::new(loaded.catalog, chizu::http::HttpSettings::default());
    let app = chizu::http::router(std::sync::Arc::clone(&state), chizu::http::Listener::Public);
    // The densest z12 tile of the flood layer (焼津駅 area), over budget.
    let (t, _) = tile_of(138.3181, 34.8659, 12);
    // Cut for staff first: a trim of a staff tile is not the public's to know.
    let flood = std::sync::Arc::clone(state.catalog.load().get("kouzui_shinsui").expect("layer"));
    let staff = chizu::access::View::Internal(chizu::access::Principal {
        name: "t".into(),
        roles: ["admin".to_string()].into(),
    });
    chizu::tile::render(&[flood.as_ref()], &staff, t).expect("cut");
    assert_eq!(flood.budget.zooms(false), vec![12]);
    let before = get(&app, "/tiles/kouzui_shinsui.json", &[]).await.json();
    let budget = &before["vector_layers"][0]["chizu:tile_budget"];
    assert_eq!(budget["max_bytes"], 20_000);
    assert_eq!(budget["max_features"], 200_000);
    assert_eq!(budget["trimmed_zooms"], serde_json::json!([]));
    let r = get(&app, &format!("/tiles/kouzui_shinsui/{t}.mvt"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() <= 20_000, "{} bytes", r.body.len());
    crate::common::assert_tile_invariants(&decode(&r.body), 64.0, "trimmed flood tile");
    let after = get(&app, "/tiles/kouzui_shinsui.json", &[]).await.json();
    assert_eq!(
        after["vector_layers"][0]["chizu:tile_budget"]["trimmed_zooms"],
        serde_json::json!([12])
    );
}

/// `.mlt`: the same tile as a MapLibre Tile — its own media type, ETag and cache entry,
/// gzip like MVT, the same layers and features (read back with mlt-core's decoder); the
/// TileJSON and the styles name `.mlt` tiles and `encoding: "mlt"` when asked.
#[tokio::test]
async fn mlt_tiles_tilejson_and_styles() {
    let app = public_router();
    let base = format!("/tiles/youto_chiiki,hinanjo/{}", station_tile(14));
    let mvt = get(&app, &format!("{base}.mvt"), &[]).await;
    let mlt = get(&app, &format!("{base}.mlt"), &[]).await;
    assert_eq!(mvt.status, 200);
    assert_eq!(mlt.status, 200);
    assert_eq!(
        mlt.header("content-type"),
        Some("application/vnd.maplibre-tile")
    );
    assert_ne!(
        mlt.header("etag"),
        mvt.header("etag"),
        "one cache entry per encoding"
    );
    assert_ne!(mlt.body, mvt.body);
    // (tests/browser/mlt.test.mjs compares every feature with the reference TS decoder.)
    let want = mlt_core::mvt::mvt_to_tile_layers(&mvt.body).expect("MVT");
    let mut dec = mlt_core::Decoder::default();
    let got = mlt_core::Parser::default()
        .parse_layers(&mlt.body)
        .expect("MLT parses")
        .into_iter()
        .map(|l| l.decode_all(&mut dec).map(|_| ()))
        .collect::<Result<Vec<_>, _>>()
        .expect("MLT decodes");
    assert_eq!(got.len(), want.len());
    assert_eq!(want.len(), 2, "both layers hold features here");
    let gz = get(&app, &format!("{base}.mlt"), &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .expect("gzip");
    assert_eq!(unzipped, mlt.body);

    let tj = get(&app, "/tiles/hinanjo.json?encoding=mlt", &[])
        .await
        .json();
    assert_eq!(tj["encoding"], "mlt");
    assert!(tj["tiles"][0]
        .as_str()
        .expect("tiles")
        .ends_with("/{z}/{x}/{y}.mlt"));
    let tj = get(&app, "/tiles/hinanjo.json", &[]).await.json();
    assert!(
        tj.get("encoding").is_none() && tj["tiles"][0].as_str().expect("tiles").ends_with(".mvt")
    );
    let style = get(&app, "/styles/public.json?encoding=mlt", &[])
        .await
        .json();
    let sources = style["sources"].as_object().expect("sources");
    let vector: Vec<_> = sources.values().filter(|s| s["type"] == "vector").collect();
    assert!(!vector.is_empty());
    for s in vector {
        assert_eq!(s["encoding"], "mlt", "{s}");
        assert!(
            s["tiles"][0].as_str().expect("tiles").ends_with(".mlt"),
            "{s}"
        );
    }
    for bad in [
        "/tiles/hinanjo.json?encoding=pbf",
        "/styles/public.json?encoding=x",
    ] {
        let r = get(&app, bad, &[]).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(String::from_utf8_lossy(&r.body).contains("mlt"), "{bad}");
    }
    assert_eq!(get(&app, &format!("{base}.png"), &[]).await.status, 400);
}

/// `--precut-zoom`: the public map's file-layer sources are cut into the cache up to the
/// zoom, a request for one of them is then a hit, a second pass cuts nothing, and a small
/// cache stops the pass at its budget.
#[tokio::test]
async fn the_public_maps_low_zooms_are_cut_ahead_then_served_from_the_cache() {
    use chizu::http::{precut, router, AppState, HttpSettings, Listener};
    let fresh = |cache_bytes| {
        AppState::new(
            (*crate::common::state().catalog.load_full()).clone(),
            HttpSettings {
                web_root: crate::common::root().join("web"),
                cache_bytes,
                ..HttpSettings::default()
            },
        )
    };
    let app = fresh(256 << 20);
    let first = precut::pass(&app, 12).await;
    assert!(first.cut > 0 && first.bytes > 0, "{first:?}");
    assert!(!first.stopped_at_budget, "{first:?}");
    let cached = app.cache.entry_count().await;
    assert_eq!(cached, first.cut as u64);

    // The public map's first file-layer source, as its style names it.
    let r = router(std::sync::Arc::clone(&app), Listener::Public);
    let style = get(&r, "/styles/public.json", &[]).await.json();
    let catalog = app.catalog.load_full();
    let template = style["sources"]
        .as_object()
        .expect("sources")
        .values()
        .filter_map(|s| s["tiles"][0].as_str())
        .find(|u| {
            let ids = u.split("/tiles/").nth(1).and_then(|p| p.split('/').next());
            ids.is_some_and(|ids| {
                ids.split(',')
                    .all(|id| catalog.get(id).is_some_and(|l| l.live.is_none()))
            })
        })
        .expect("a file-layer source")
        .to_string();
    let path = template
        .split_once("/tiles/")
        .map(|(_, p)| p)
        .expect("path");
    let uri_at = |z: u8| {
        let t = station_tile(z);
        let (zs, rest) = t.split_once('/').expect("z/x/y");
        format!(
            "/tiles/{}",
            path.replace("{z}", zs).replace("{x}/{y}", rest)
        )
    };
    for z in [10, 12] {
        let uri = uri_at(z);
        let resp = get(&r, &uri, &[("accept-encoding", "gzip")]).await;
        assert!(
            matches!(resp.status.as_u16(), 200 | 204),
            "{uri}: {}",
            resp.status
        );
        assert_eq!(app.cache.entry_count().await, cached, "{uri} was cut again");
    }
    // Above the zoom, the tile is cut on request as before.
    let uri = uri_at(13);
    get(&r, &uri, &[("accept-encoding", "gzip")]).await;
    assert_eq!(app.cache.entry_count().await, cached + 1);

    let second = precut::pass(&app, 12).await;
    assert_eq!((second.cut, second.cached), (0, first.cut), "{second:?}");

    // A 64 KiB cache: the pass stops at a quarter of it.
    let small = fresh(64 << 10);
    let p = precut::pass(&small, 12).await;
    assert!(p.stopped_at_budget && p.cut < first.cut, "{p:?}");
    assert!(p.bytes >= 16 << 10, "{p:?}");
}
