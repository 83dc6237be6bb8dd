//! Bad requests, load shedding, metrics, health — and a property test that throws random
//! requests at both routers: no panic, no 500, and `/health` still answers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use proptest::prelude::*;
use tower::ServiceExt;

use crate::common::{bearer, get, internal_router, public_router};

async fn send(app: &axum::Router, req: Request<Body>) -> crate::common::Resp {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    crate::common::Resp {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn every_refusal_has_a_json_reason() {
    let app = public_router();
    let post = send(
        &app,
        Request::post("/catalog")
            .header("host", "x")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(post.header("allow").is_some_and(|a| a.contains("GET")));
    assert!(post.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("method not allowed")));

    let big = send(
        &app,
        Request::get("/catalog")
            .header("content-length", "100000")
            .body(Body::from(vec![b'x'; 100_000]))
            .expect("req"),
    )
    .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big.json()["error"].as_str().is_some());

    let huge = "a".repeat(20_000);
    let r = get(&app, "/health", &[("x-big", huge.as_str())]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("headers")));

    let long = get(&app, &format!("/tiles/{}/1/1/1.mvt", "a".repeat(3000)), &[]).await;
    assert_eq!(long.status, StatusCode::URI_TOO_LONG);
    assert!(long.json()["error"].as_str().is_some());

    for uri in [
        "/tiles/%FF%FE/1/1/1.mvt",
        "/collections/%C0%AF/items",
        "/tiles/youto_chiiki/1/1/1.mvt%00",
        "/web/../../etc/passwd",
        "/web/%2e%2e/layers/kousaten.toml",
    ] {
        let r = get(&app, uri, &[]).await;
        assert!(r.status.is_client_error(), "{uri}: {}", r.status);
        assert!(
            r.json()["error"].as_str().is_some(),
            "{uri}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

#[tokio::test]
async fn liveness_and_readiness() {
    let app = public_router();
    assert_eq!(
        get(&app, "/health/live", &[]).await.json()["status"],
        "alive"
    );
    let ready = get(&app, "/health", &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ok");
    // With nothing to serve, readiness says so (liveness does not).
    let empty = chizu::http::AppState::new(
        chizu::store::Catalog::default(),
        chizu::http::HttpSettings::default(),
    );
    let app = chizu::http::router(empty, chizu::http::Listener::Public);
    assert_eq!(get(&app, "/health", &[]).await.status, 503);
    assert_eq!(get(&app, "/health/live", &[]).await.status, 200);
}

#[tokio::test]
async fn metrics_count_requests_tiles_and_cache() {
    let app = public_router();
    let (t, _) = crate::common::tile_of(138.3, 34.87, 13);
    let uri = format!(
        "/tiles/hinanjo,youto_chiiki/{}/{}/{}.mvt",
        t.z(),
        t.x(),
        t.y()
    );
    get(&app, &uri, &[]).await;
    get(&app, &uri, &[]).await;
    let m = String::from_utf8(get(&app, "/metrics", &[]).await.body).expect("utf-8");
    assert!(
        m.contains("chizu_requests_total{route=\"/tiles\",status=\"200\",view=\"public\"}"),
        "{m}"
    );
    assert!(m.contains("# TYPE chizu_tile_seconds histogram"));
    assert!(
        m.lines()
            .any(|l| l.starts_with("chizu_tile_cache_hits_total ") && !l.ends_with(" 0")),
        "{m}"
    );
    assert!(m.contains("chizu_layer_features{layer=\"hinanjo\"} 56"));
    assert!(m.contains("chizu_layer_version{layer=\"youto_chiiki\"}"));
    assert!(
        !m.contains("kousaten"),
        "the public view's metrics do not name internal layers"
    );
    let (internal, staff) = internal_router();
    let m = String::from_utf8(
        get(
            &internal,
            "/metrics",
            &[("authorization", &bearer(&staff.admin))],
        )
        .await
        .body,
    )
    .expect("utf-8");
    assert!(m.contains("chizu_layer_features{layer=\"kousaten\"} 159"));
}

/// With room for one request at a time, a burst gets 503 + Retry-After instead of a queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_shed_with_503() {
    let loaded = chizu::load_root(&crate::common::root(), 2);
    let settings = chizu::http::HttpSettings {
        max_concurrent: 1,
        cache_bytes: 0,
        web_root: crate::common::root().join("web"),
        ..Default::default()
    };
    let app = chizu::http::router(
        chizu::http::AppState::new(loaded.catalog, settings),
        chizu::http::Listener::Public,
    );
    let (t, _) = crate::common::tile_of(138.29, 34.85, 10);
    let uri = format!(
        "/tiles/kouzui_shinsui,kouzui_keizoku,naisui,youto_chiiki/{}/{}/{}.mvt",
        t.z(),
        t.x(),
        t.y()
    );
    let calls = (0..24)
        .map(|_| {
            let app = app.clone();
            let uri = uri.clone();
            tokio::spawn(async move { get(&app, &uri, &[]).await })
        })
        .collect::<Vec<_>>();
    let mut ok = 0;
    let mut shed = 0;
    for c in calls {
        let r = c.await.expect("join");
        match r.status.as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(r.header("retry-after"), Some("1"));
                assert!(r.json()["error"].as_str().is_some());
                shed += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(ok >= 1 && shed >= 1, "{ok} served, {shed} shed");
    assert_eq!(
        get(&app, "/health", &[]).await.status,
        200,
        "still answers after the burst"
    );
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tiles".to_string()),
        Just("collections".to_string()),
        Just("items".to_string()),
        Just("hazard".to_string()),
        Just("query".to_string()),
        Just("search".to_string()),
        Just("download".to_string()),
        Just("styles".to_string()),
        Just("web".to_string()),
        Just("youto_chiiki".to_string()),
        Just("kousaten".to_string()),
        Just("youto_chiiki,hinanjo".to_string()),
        Just("hinanjo.csv".to_string()),
        Just("public.json".to_string()),
        Just("..".to_string()),
        Just("%00".to_string()),
        Just("%FF".to_string()),
        Just("1.mvt".to_string()),
        (0u32..30).prop_map(|n| n.to_string()),
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
        "[a-z0-9_.,-]{0,12}",
        "\\PC{0,6}".prop_map(|s: String| form_urlencoded::byte_serialize(s.as_bytes()).collect()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("lon"),
        Just("lat"),
        Just("z"),
        Just("px"),
        Just("q"),
        Just("limit"),
        Just("offset"),
        Just("bbox"),
        Just("lang"),
        Just("f"),
        Just("layers"),
        Just("shelters"),
        Just("bom"),
        Just("geometry"),
        Just("zone"),
        Just("x")
    ];
    let value = prop_oneof![
        Just("138.3".to_string()),
        Just("34.86".to_string()),
        Just("-1".to_string()),
        Just("NaN".to_string()),
        Just("1e309".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("138,34,139,35".to_string()),
        Just("json".to_string()),
        Just("html".to_string()),
        Just("text".to_string()),
        Just("en".to_string()),
        "\\PC{0,8}",
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|kv| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in kv {
            s.append_pair(k, &v);
        }
        s.finish()
    })
}

fn request() -> impl Strategy<Value = (Method, String, Vec<(String, String)>)> {
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::GET),
        Just(Method::GET),
        Just(Method::HEAD),
        Just(Method::POST),
        Just(Method::DELETE),
        Just(Method::OPTIONS)
    ];
    let header = prop_oneof![
        Just(("accept".to_string(), "text/html".to_string())),
        Just(("accept".to_string(), "application/json".to_string())),
        Just(("accept-encoding".to_string(), "gzip".to_string())),
        Just(("if-none-match".to_string(), "\"x\", *".to_string())),
        Just(("authorization".to_string(), "Bearer chizu_bad".to_string())),
        Just(("origin".to_string(), "https://example.org".to_string())),
        "[ -~]{0,40}".prop_map(|v| ("x-random".to_string(), v)),
    ];
    (
        method,
        prop::collection::vec(segment(), 0..6),
        query(),
        prop::collection::vec(header, 0..3),
    )
        .prop_map(|(m, segs, q, h)| {
            let mut path = format!("/{}", segs.join("/"));
            if !q.is_empty() {
                path.push('?');
                path.push_str(&q);
            }
            (m, path, h)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_requests_never_break_the_server((method, path, headers) in request()) {
        let rt = runtime();
        let (public, internal, key) = routers();
        rt.block_on(async {
            for (app, auth) in [(&public, None), (&internal, Some(key.as_str()))] {
                let mut b = Request::builder().method(method.clone()).uri(&path).header("host", "127.0.0.1");
                for (k, v) in &headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                if let Some(k) = auth {
                    b = b.header("authorization", bearer(k));
                }
                let Ok(req) = b.body(Body::empty()) else { continue };
                let r = send(app, req).await;
                assert!(r.status != StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}: 500 {}", String::from_utf8_lossy(&r.body));
            }
            assert_eq!(get(&public, "/health", &[]).await.status, 200);
        });
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn routers() -> (axum::Router, axum::Router, String) {
    static R: std::sync::OnceLock<(
        axum::Router,
        axum::Router,
        String,
        Arc<crate::common::Staff>,
    )> = std::sync::OnceLock::new();
    let r = R.get_or_init(|| {
        let (internal, staff) = internal_router();
        (
            public_router(),
            internal,
            staff.admin.clone(),
            Arc::new(staff),
        )
    });
    (r.0.clone(), r.1.clone(), r.2.clone())
}

/// The tile cache stays within its byte bound however many tiles are asked for.
#[tokio::test]
async fn tile_cache_stays_within_its_bound() {
    let loaded = chizu::load_root(&crate::common::root(), 2);
    let bound: u64 = 32 * 1024;
    let settings = chizu::http::HttpSettings {
        cache_bytes: bound,
        web_root: crate::common::root().join("web"),
        ..Default::default()
    };
    let state = chizu::http::AppState::new(loaded.catalog, settings);
    let app = chizu::http::router(std::sync::Arc::clone(&state), chizu::http::Listener::Public);
    let (a, _) = crate::common::tile_of(138.24, 34.89, 15);
    let (b, _) = crate::common::tile_of(138.35, 34.77, 15);
    let mut served = 0;
    for x in a.x()..=b.x() {
        for y in a.y()..=b.y() {
            let r = get(
                &app,
                &format!("/tiles/youto_chiiki,kouzui_shinsui,hinanjo/15/{x}/{y}.mvt"),
                &[],
            )
            .await;
            assert!(r.status == 200 || r.status == 204);
            served += 1;
        }
    }
    assert!(served > 100, "{served} tiles asked for");
    let held = state.cache.weighted_size().await;
    assert!(held <= bound, "cache holds {held} bytes, bound {bound}");
    assert!(state.cache.entry_count().await > 0);
}
