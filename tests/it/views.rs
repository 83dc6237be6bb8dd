//! The two views: keys, roles, attribute hiding, per-view caching, audit, CORS.

use crate::common::{bearer, decode, get, internal_router, public_router, tile_of};

fn station(z: u8) -> String {
    let (t, _) = tile_of(138.3181, 34.8659, z);
    format!("{}/{}/{}", t.z(), t.x(), t.y())
}

/// A tile holding a 交差点 ledger feature and a 区画線 one (焼津駅 area).
fn road_ledger_tile() -> String {
    let state = crate::common::state();
    let catalog = state.catalog.load();
    let b = catalog.get("kousaten").expect("kousaten").features[0].bbox;
    let t = chizu::tile::TileCoord::containing(
        15,
        f64::midpoint(b.min.x, b.max.x),
        f64::midpoint(b.min.y, b.max.y),
    );
    format!("{}/{}/{}", t.z(), t.x(), t.y())
}

#[tokio::test]
async fn internal_listener_requires_a_valid_key() {
    let (app, staff) = internal_router();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic a2V5"),
        Some("Bearer "),
        Some("chizu_abc"),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        for uri in [
            "/catalog",
            "/health",
            "/tiles/youto_chiiki.json",
            "/tiles/kousaten/15/0/0.mvt",
            "/nope",
        ] {
            let r = get(&app, uri, &headers).await;
            assert_eq!(r.status, 401, "{uri} with {auth:?}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"chizu\""));
            assert_eq!(r.json()["error"], "unauthorized", "no detail about why");
        }
    }
    let ok = get(&app, "/catalog", &[("authorization", &bearer(&staff.doro))]).await;
    assert_eq!(ok.status, 200);
    let lower = get(
        &app,
        "/catalog",
        &[("authorization", &format!("bearer {}", staff.doro))],
    )
    .await;
    assert_eq!(lower.status, 200, "the scheme is case-insensitive");
}

#[tokio::test]
async fn revoked_key_is_refused_by_the_running_server() {
    let (app, staff) = internal_router();
    let auth = bearer(&staff.kiki);
    assert_eq!(
        get(&app, "/catalog", &[("authorization", &auth)])
            .await
            .status,
        200
    );
    chizu::access::keys::revoke(&staff.keys_file, "kiki-suzuki").expect("revoke");
    assert_eq!(
        get(&app, "/catalog", &[("authorization", &auth)])
            .await
            .status,
        401
    );
    // Other keys still work.
    assert_eq!(
        get(&app, "/catalog", &[("authorization", &bearer(&staff.doro))])
            .await
            .status,
        200
    );
}

async fn catalog_ids(app: &axum::Router, key: &str) -> Vec<String> {
    let j = get(app, "/catalog", &[("authorization", &bearer(key))])
        .await
        .json();
    j["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["id"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn roles_decide_which_layers_a_key_sees() {
    let (app, staff) = internal_router();
    let doro = catalog_ids(&app, &staff.doro).await;
    assert!(doro.contains(&"kousaten".into()) && doro.contains(&"kukakusen".into()));
    assert!(!doro.contains(&"shinsui_rireki".into()));
    assert!(
        doro.contains(&"youto_chiiki".into()),
        "public layers are on the internal view too"
    );
    let kiki = catalog_ids(&app, &staff.kiki).await;
    assert!(kiki.contains(&"shinsui_rireki".into()) && !kiki.contains(&"kousaten".into()));
    let admin = catalog_ids(&app, &staff.admin).await;
    for id in ["kousaten", "kukakusen", "shinsui_rireki", "youto_chiiki"] {
        assert!(admin.contains(&id.to_string()), "admin sees {id}");
    }
    let toshi = catalog_ids(&app, &staff.toshi).await;
    assert!(!toshi.contains(&"kousaten".into()) && !toshi.contains(&"shinsui_rireki".into()));

    // A forbidden layer answers exactly like an unknown one, alone and inside a composite.
    let t = road_ledger_tile();
    let auth = bearer(&staff.kiki);
    let unknown = get(
        &app,
        &format!("/tiles/no_such/{t}.mvt"),
        &[("authorization", &auth)],
    )
    .await;
    for uri in [
        format!("/tiles/kousaten/{t}.mvt"),
        format!("/tiles/shinsui_rireki,kousaten/{t}.mvt"),
        "/tiles/kousaten.json".into(),
    ] {
        let r = get(&app, &uri, &[("authorization", &auth)]).await;
        assert_eq!(
            (r.status, &r.body),
            (unknown.status, &unknown.body),
            "{uri}"
        );
    }
    let seen = get(
        &app,
        &format!("/tiles/kousaten,kukakusen/{t}.mvt"),
        &[("authorization", &bearer(&staff.doro))],
    )
    .await;
    assert_eq!(seen.status, 200);
    let names: Vec<String> = decode(&seen.body).into_iter().map(|l| l.name).collect();
    assert!(names.contains(&"kousaten".to_string()), "{names:?}");
}

#[tokio::test]
async fn internal_only_attributes_are_hidden_from_the_public() {
    let (app, staff) = internal_router();
    let uri = format!("/tiles/youto_chiiki/{}.mvt", station(15));
    let keys_of = |body: &[u8]| -> Vec<String> {
        decode(body)
            .into_iter()
            .flat_map(|l| l.features)
            .flat_map(|f| f.properties.unwrap_or_default().into_keys())
            .collect()
    };
    // Internal first, so a cache mix-up would hand the public the internal tile.
    let internal = get(&app, &uri, &[("authorization", &bearer(&staff.toshi))]).await;
    assert_eq!(internal.status, 200);
    assert_eq!(
        internal.header("cache-control"),
        Some("private, max-age=300")
    );
    assert!(
        internal
            .header("vary")
            .is_some_and(|v| v.contains("authorization"))
            || internal
                .headers
                .get_all("vary")
                .iter()
                .any(|v| v == "authorization")
    );
    let ik = keys_of(&internal.body);
    assert!(
        ik.contains(&"sauid".into()) && ik.contains(&"updated".into()),
        "{ik:?}"
    );

    let public = get(&public_router(), &uri, &[]).await;
    let pk = keys_of(&public.body);
    assert!(
        !pk.contains(&"sauid".into()) && !pk.contains(&"updated".into()),
        "{pk:?}"
    );
    assert!(pk.contains(&"zone".into()));
    assert_ne!(internal.header("etag"), public.header("etag"));

    let tj = get(
        &app,
        "/tiles/youto_chiiki.json",
        &[("authorization", &bearer(&staff.toshi))],
    )
    .await
    .json();
    assert!(tj["vector_layers"][0]["fields"]
        .as_object()
        .expect("fields")
        .contains_key("sauid"));
    let tj = get(&public_router(), "/tiles/youto_chiiki.json", &[])
        .await
        .json();
    assert!(!tj["vector_layers"][0]["fields"]
        .as_object()
        .expect("fields")
        .contains_key("sauid"));
}

#[tokio::test]
async fn cached_tiles_never_cross_views() {
    let (app, staff) = internal_router();
    let t = road_ledger_tile();
    // The same composite for two roles: each sees only its own internal layer.
    let doro = get(
        &app,
        &format!("/tiles/kousaten,youto_chiiki/{t}.mvt"),
        &[("authorization", &bearer(&staff.doro))],
    )
    .await;
    assert_eq!(doro.status, 200);
    let admin = get(
        &app,
        &format!("/tiles/kousaten,youto_chiiki/{t}.mvt"),
        &[("authorization", &bearer(&staff.admin))],
    )
    .await;
    assert_eq!(admin.status, 200);
    let again = get(
        &app,
        &format!("/tiles/kousaten,youto_chiiki/{t}.mvt"),
        &[("authorization", &bearer(&staff.doro))],
    )
    .await;
    assert_eq!(again.body, doro.body);
    // Public after internal: same z/x/y of a public layer, without internal attributes.
    let p = get(
        &public_router(),
        &format!("/tiles/youto_chiiki/{t}.mvt"),
        &[],
    )
    .await;
    for l in decode(&p.body) {
        for f in l.features {
            assert!(!f.properties.unwrap_or_default().contains_key("sauid"));
        }
    }
    let cache = &crate::common::state().cache;
    assert!(cache.entry_count().await >= 3);
}

#[tokio::test]
async fn audit_log_has_one_line_per_request() {
    let (app, staff) = internal_router();
    let t = road_ledger_tile();
    get(&app, "/catalog", &[]).await;
    get(
        &app,
        &format!("/tiles/kousaten/{t}.mvt"),
        &[("authorization", &bearer(&staff.doro))],
    )
    .await;
    get(
        &app,
        &format!("/tiles/shinsui_rireki/{t}.mvt"),
        &[("authorization", &bearer(&staff.doro))],
    )
    .await;
    let text = std::fs::read_to_string(&staff.audit_file).expect("audit file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["key"], serde_json::Value::Null);
    assert_eq!(lines[0]["status"], 401);
    assert_eq!(lines[1]["key"], "doro-tanaka");
    assert_eq!(lines[1]["roles"][0], "doro-kanri");
    assert_eq!(lines[1]["layers"][0], "kousaten");
    assert_eq!(lines[1]["status"], 200);
    assert_eq!(lines[1]["method"], "GET");
    assert!(lines[1]["route"]
        .as_str()
        .is_some_and(|r| r.starts_with("/tiles/kousaten/")));
    assert!(lines[1]["time"]
        .as_str()
        .is_some_and(|t| t.starts_with("20") && t.ends_with('Z')));
    assert_eq!(
        lines[2]["status"], 404,
        "a forbidden layer is audited as the 404 it got"
    );
    assert!(
        !text.contains(&staff.doro),
        "the key itself never reaches the audit log"
    );
}

#[tokio::test]
async fn internal_cors_is_closed_unless_configured() {
    let (app, staff) = internal_router();
    let r = get(
        &app,
        "/catalog",
        &[
            ("authorization", &bearer(&staff.admin)),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());

    let loaded = chizu::load_root(&crate::common::root(), 2);
    let settings = chizu::http::HttpSettings {
        internal_cors: vec!["https://gis.city.example".into()],
        ..Default::default()
    };
    let app2 = chizu::http::AppState::new(loaded.catalog, settings);
    let (app2, staff2) = crate::common::internal_router_with(app2);
    let ok = get(
        &app2,
        "/catalog",
        &[
            ("authorization", &bearer(&staff2.admin)),
            ("origin", "https://gis.city.example"),
        ],
    )
    .await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://gis.city.example")
    );
    let no = get(
        &app2,
        "/catalog",
        &[
            ("authorization", &bearer(&staff2.admin)),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert!(no.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn health_shows_failures_only_to_staff() {
    let (app, staff) = internal_router();
    let j = get(&app, "/health", &[("authorization", &bearer(&staff.admin))])
        .await
        .json();
    assert_eq!(j["status"], "ok");
    let ids: Vec<&str> = j["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert!(ids.contains(&"shinsui_rireki"));
}

#[tokio::test]
async fn styles_follow_the_view() {
    let p = get(&public_router(), "/styles/public.json", &[]).await;
    assert_eq!(p.status, 200);
    let j = p.json();
    assert_eq!(j["version"], 8);
    // The tiles inline (no TileJSON round trip): the URL template of exactly the layers seen.
    let url = j["sources"]["chizu"]["tiles"][0]
        .as_str()
        .expect("tiles url");
    assert!(
        url.starts_with("http://127.0.0.1:8080/tiles/") && url.ends_with("/{z}/{x}/{y}.mvt"),
        "{url}"
    );
    assert!(url.contains("kouzui_shinsui") && !url.contains("kousaten"));
    assert!(j.get("glyphs").is_none(), "labels use the device's fonts");
    assert_eq!(
        get(&public_router(), "/styles/internal.json", &[])
            .await
            .status,
        404
    );
    assert_eq!(
        get(&public_router(), "/styles/nope.json", &[]).await.status,
        404
    );

    let (app, staff) = internal_router();
    let doro = get(
        &app,
        "/styles/internal.json",
        &[("authorization", &bearer(&staff.doro))],
    )
    .await
    .json();
    let text = doro.to_string();
    assert!(
        text.contains("kousaten-fill") && !text.contains("shinsui-rireki"),
        "doro-kanri's style"
    );
    let kiki = get(
        &app,
        "/styles/internal.json",
        &[("authorization", &bearer(&staff.kiki))],
    )
    .await
    .json();
    assert!(
        kiki.to_string().contains("shinsui-rireki-fill") && !kiki.to_string().contains("kousaten")
    );
}

#[tokio::test]
async fn the_staff_page_loads_without_a_key_but_nothing_else_does() {
    let (app, _staff) = internal_router();
    let page = get(&app, "/", &[("accept", "text/html")]).await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("data-view=\"internal\""));
    assert_eq!(get(&app, "/web/app.js", &[]).await.status, 200);
    assert_eq!(get(&app, "/?f=json", &[]).await.status, 401);
    assert_eq!(
        get(&app, "/", &[("accept", "application/json")])
            .await
            .status,
        401
    );
    assert_eq!(get(&app, "/styles/internal.json", &[]).await.status, 401);
    assert_eq!(
        get(&app, "/web/../layers/kousaten.toml", &[]).await.status,
        404
    );
    let public = get(&public_router(), "/", &[("accept", "text/html")]).await;
    assert!(String::from_utf8_lossy(&public.body).contains("data-view=\"public\""));
}
