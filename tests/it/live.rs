//! Live layers: editing through OGC API – Features Part 4 on the internal listener, the
//! state database (`SQLite`), history, views, tile invalidation and the event stream — on
//! the sample city's `saigai_houkoku` layer.

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use chizu::http::{router, AppState, HttpSettings, Listener};

use crate::common::{self, bearer, get, send, Resp, Staff};

pub(crate) const LAYER: &str = "/collections/saigai_houkoku/items";

/// The sample city with a fresh state database, its public router, and staff keys.
pub(crate) fn live_city() -> (Arc<AppState>, Router, Router, Staff, tempfile::TempDir) {
    chizu::route_gdal_messages();
    let loaded = chizu::load_root(&common::root(), 2);
    let live = loaded.catalog.live_defs();
    assert!(!live.is_empty(), "the sample has a live layer");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = chizu::live::LiveStore::open(
        &chizu::live::Storage::Sqlite(dir.path().to_path_buf()),
        &live,
    )
    .expect("state opens");
    let app = AppState::new(
        loaded.catalog,
        HttpSettings {
            web_root: common::root().join("web"),
            ..HttpSettings::default()
        },
    );
    app.attach_live(store);
    let public = router(Arc::clone(&app), Listener::Public);
    let (internal, staff) = common::internal_router_with(Arc::clone(&app));
    (app, public, internal, staff, dir)
}

pub(crate) async fn edit(
    app: &Router,
    method: &str,
    uri: &str,
    body: &str,
    key: &str,
    if_match: Option<&str>,
) -> Resp {
    let auth = bearer(key);
    let mut h = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/geo+json"),
    ];
    if let Some(m) = if_match {
        h.push(("if-match", m));
    }
    send(app, method, uri, Body::from(body.to_string()), &h).await
}

pub(crate) fn point(lon: f64, lat: f64, props: &str) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},"properties":{props}}}"#
    )
}

#[tokio::test]
async fn edits_are_checked_against_the_schema_and_the_roles() {
    let (_app, public, internal, staff, _dir) = live_city();
    let ok = point(
        138.31,
        34.86,
        r#"{"kind":"冠水","note":"駅前 30cm","staff_memo":"内線 1234"}"#,
    );
    // The public listener has no editing at all; a role without `edit` rights is refused.
    let r = send(
        &public,
        "POST",
        LAYER,
        Body::from(ok.clone()),
        &[("content-type", "application/geo+json")],
    )
    .await;
    assert_eq!(r.status, 405);
    let r = edit(&internal, "POST", LAYER, &ok, &staff.doro, None).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // A file layer cannot be edited.
    let r = edit(
        &internal,
        "POST",
        "/collections/hinanjo/items",
        &ok,
        &staff.admin,
        None,
    )
    .await;
    assert_eq!(r.status, 405);

    for (body, names) in [
        (point(138.31, 34.86, r#"{"kind":"火事"}"#), "`kind`"),
        (point(138.31, 34.86, r#"{"note":"no kind"}"#), "`kind` is required"),
        (point(138.31, 34.86, r#"{"kind":"倒木","colour":"red"}"#), "unknown field `colour`"),
        (point(138.31, 34.86, r#"{"kind":"倒木","public":"yes"}"#), "`public`"),
        (point(238.31, 34.86, r#"{"kind":"倒木"}"#), "longitude"),
        (
            r#"{"type":"Feature","geometry":{"type":"LineString","coordinates":[[138.3,34.8],[138.31,34.81]]},"properties":{"kind":"倒木"}}"#.to_string(),
            "does not match the layer",
        ),
        ("[1,2".to_string(), "not JSON"),
    ] {
        let r = edit(&internal, "POST", LAYER, &body, &staff.kiki, None).await;
        assert_eq!(r.status, 400, "{body}");
        let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(names), "{body} → {msg}");
    }

    let r = edit(&internal, "POST", LAYER, &ok, &staff.kiki, None).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("etag"), Some("\"1\""));
    let location = r.header("location").expect("Location").to_string();
    let id = r.json()["id"].as_u64().expect("id");
    assert!(location.ends_with(&format!("{LAYER}/{id}")), "{location}");
    // The default applies: not public until staff publish it.
    assert_eq!(r.json()["properties"]["public"], false);

    // OPTIONS says what the key may do.
    let allow = |r: &Resp| r.header("allow").unwrap_or_default().to_string();
    let item = format!("{LAYER}/{id}");
    let r = send(
        &internal,
        "OPTIONS",
        &item,
        Body::empty(),
        &[("authorization", &bearer(&staff.kiki))],
    )
    .await;
    assert!(
        allow(&r).contains("PATCH") && allow(&r).contains("DELETE"),
        "{}",
        allow(&r)
    );
    let r = send(
        &internal,
        "OPTIONS",
        LAYER,
        Body::empty(),
        &[("authorization", &bearer(&staff.doro))],
    )
    .await;
    assert!(!allow(&r).contains("POST"), "{}", allow(&r));

    // The OpenAPI document offers editing to whom it is allowed, and never publicly.
    let api = get(
        &internal,
        "/api",
        &[("authorization", &bearer(&staff.kiki))],
    )
    .await
    .json();
    assert!(api["paths"]["/collections/saigai_houkoku/items"]["post"].is_object());
    assert!(api["paths"]["/collections/saigai_houkoku/items/{featureId}"]["patch"].is_object());
    let api = get(
        &internal,
        "/api",
        &[("authorization", &bearer(&staff.doro))],
    )
    .await
    .json();
    assert!(api["paths"]["/collections/saigai_houkoku/items"]["post"].is_null());
    let api = get(&public, "/api", &[]).await.json();
    assert!(api["paths"]["/collections/saigai_houkoku/items"]["post"].is_null());
    assert!(!api["paths"].to_string().contains("/history"));

    // Unpublished: the public view neither lists nor counts it, nor knows its note.
    let p = get(&public, LAYER, &[]).await;
    assert_eq!(p.json()["numberMatched"], 0);
    let r = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"public":true}}"#,
        &staff.kiki,
        Some("\"1\""),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"2\""));
    let p = get(&public, LAYER, &[]).await.json();
    assert_eq!(p["numberMatched"], 1);
    let props = &p["features"][0]["properties"];
    assert_eq!(props["note"], "駅前 30cm");
    assert!(
        props.get("staff_memo").is_none(),
        "internal field leaked: {props}"
    );
    assert_ne!(
        p["features"][0]["id"].as_u64(),
        Some(id),
        "the public id is its own"
    );
    // Staff see the internal field, and the item's ETag.
    let s = get(&internal, &item, &[("authorization", &bearer(&staff.kiki))]).await;
    assert_eq!(s.json()["properties"]["staff_memo"], "内線 1234");
    // Who changed it last, and when, for staff only.
    assert_eq!(s.json()["properties"]["updated_by"], "kiki-suzuki");
    assert!(s.json()["properties"]["updated_at"]
        .as_str()
        .is_some_and(|t| t.starts_with("20")));
    assert!(props.get("updated_by").is_none() && props.get("updated_at").is_none());
    let r = edit(
        &internal,
        "POST",
        LAYER,
        &point(138.3, 34.8, r#"{"kind":"倒木","updated_by":"someone"}"#),
        &staff.kiki,
        None,
    )
    .await;
    assert_eq!(r.status, 400, "chizu sets who changed it");
    assert_eq!(s.header("etag"), Some("\"2\""));
}

#[tokio::test]
async fn a_stale_edit_gets_412_and_the_history_keeps_both_attempts() {
    let (_app, _public, internal, staff, _dir) = live_city();
    let r = edit(
        &internal,
        "POST",
        LAYER,
        &point(138.3, 34.85, r#"{"kind":"倒木"}"#),
        &staff.kiki,
        None,
    )
    .await;
    let item = format!("{LAYER}/{}", r.json()["id"]);
    // Two editors read version 1; the first to save wins, the second is told.
    let a = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"note":"A: 撤去済み"}}"#,
        &staff.kiki,
        Some("\"1\""),
    )
    .await;
    assert_eq!(a.status, 200);
    let b = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"note":"B: 通行可"}}"#,
        &staff.admin,
        Some("\"1\""),
    )
    .await;
    assert_eq!(b.status, 412);
    assert_eq!(b.header("etag"), Some("\"2\""));
    assert_eq!(b.json()["version"], 2);
    let now = get(&internal, &item, &[("authorization", &bearer(&staff.kiki))])
        .await
        .json();
    assert_eq!(now["properties"]["note"], "A: 撤去済み");

    let h = get(
        &internal,
        &format!("{item}/history"),
        &[("authorization", &bearer(&staff.kiki))],
    )
    .await;
    assert_eq!(h.status, 200);
    let changes = h.json()["changes"].as_array().expect("changes").clone();
    let summary: Vec<(String, String, String)> = changes
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().into(),
                c["who"].as_str().unwrap_or_default().into(),
                c["outcome"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(14)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("create".into(), "kiki-suzuki".into(), "applied".into()),
            ("update".into(), "kiki-suzuki".into(), "applied".into()),
            ("update".into(), "kanrisha".into(), "refused: stale".into()),
        ]
    );
    assert_eq!(
        changes[1]["before"]["properties"]["note"],
        serde_json::Value::Null
    );
    assert_eq!(changes[1]["after"]["properties"]["note"], "A: 撤去済み");
    assert_eq!(
        changes[2]["after"]["properties"]["note"], "B: 通行可",
        "the refused attempt is kept"
    );

    // Delete, then only an admin brings it back.
    let d = edit(&internal, "DELETE", &item, "", &staff.kiki, Some("\"2\"")).await;
    assert_eq!(d.status, 204);
    let g = get(&internal, &item, &[("authorization", &bearer(&staff.kiki))]).await;
    assert_eq!(g.status, 404);
    let restore = format!("{item}/restore");
    assert_eq!(
        edit(&internal, "POST", &restore, "", &staff.kiki, None)
            .await
            .status,
        403
    );
    let r = edit(&internal, "POST", &restore, "", &staff.admin, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["properties"]["note"], "A: 撤去済み");
    // The public listener has no history.
    let (_, public, _, _, _d) = live_city();
    assert_eq!(
        get(&public, &format!("{item}/history"), &[]).await.status,
        404
    );
}

#[tokio::test]
async fn an_edit_makes_new_only_the_tiles_it_touches_and_never_serves_a_stale_one() {
    let (app, public, internal, staff, _dir) = live_city();
    let (near, far) = ((138.31, 34.86), (138.25, 34.80));
    let mut ids = Vec::new();
    for (lon, lat) in [near, far] {
        let r = edit(
            &internal,
            "POST",
            LAYER,
            &point(lon, lat, r#"{"kind":"冠水","public":true,"note":"最初"}"#),
            &staff.kiki,
            None,
        )
        .await;
        ids.push(r.json()["id"].as_u64().expect("id"));
    }
    let layer = || {
        app.catalog
            .load_full()
            .get("saigai_houkoku")
            .cloned()
            .expect("layer")
    };
    let before = layer();
    let tiles = |lon, lat| {
        (0..=22u8)
            .map(move |z| common::tile_of(lon, lat, z).0)
            .collect::<Vec<_>>()
    };
    let v_near: Vec<u64> = tiles(near.0, near.1)
        .into_iter()
        .map(|t| before.tile_version(t))
        .collect();
    let v_far: Vec<u64> = tiles(far.0, far.1)
        .into_iter()
        .map(|t| before.tile_version(t))
        .collect();

    let (t, _) = common::tile_of(near.0, near.1, 15);
    let url = format!("/tiles/saigai_houkoku/15/{}/{}.mvt", t.x(), t.y());
    let first = get(&public, &url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("cache-control"),
        Some("public, no-cache"),
        "clients revalidate live tiles"
    );
    assert!(String::from_utf8_lossy(&first.decoded()).contains("最初"));

    let item = format!("{LAYER}/{}", ids[0]);
    let r = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"note":"水位上昇"}}"#,
        &staff.kiki,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    // Acknowledged, so the next tile is the new one.
    let second = get(&public, &url, &[("accept-encoding", "gzip")]).await;
    let text = String::from_utf8_lossy(&second.decoded()).to_string();
    assert!(
        text.contains("水位上昇") && !text.contains("最初"),
        "stale tile after the edit"
    );
    assert_ne!(first.header("etag"), second.header("etag"));

    // Clients are told the live layer may have tiles anywhere, not only where it has
    // features now (MapLibre requests nothing outside `bounds`): found by the browser test.
    let tj = get(&public, "/tiles/saigai_houkoku.json", &[]).await.json();
    assert_eq!(tj["bounds"], serde_json::json!(chizu::store::WORLD));
    let style = get(&public, "/styles/public.json", &[]).await.json();
    assert_eq!(
        style["sources"]["chizu-live"]["bounds"],
        serde_json::json!(chizu::store::WORLD)
    );

    let after = layer();
    for (z, (t, old)) in tiles(near.0, near.1).into_iter().zip(&v_near).enumerate() {
        assert_ne!(
            after.tile_version(t),
            *old,
            "z{z} over the edit must be new"
        );
    }
    for (z, (t, old)) in tiles(far.0, far.1).into_iter().zip(&v_far).enumerate() {
        // Tiles that also cover the edited point (low zooms) are new; the others keep theirs.
        let covers = t == common::tile_of(near.0, near.1, z as u8).0;
        if covers {
            assert_ne!(after.tile_version(t), *old, "z{z} covers the edit");
        } else if z >= 13 {
            assert_eq!(
                after.tile_version(t),
                *old,
                "z{z} is far from the edit: its cached tile stays"
            );
        }
    }

    // Unpublishing takes it out of the public tile at once.
    let r = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"public":false}}"#,
        &staff.kiki,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let third = get(&public, &url, &[("accept-encoding", "gzip")]).await;
    assert!(third.status == 204 || !String::from_utf8_lossy(&third.decoded()).contains("水位上昇"));
    // Staff still see it, with the internal view's own tile.
    let staff_tile = get(
        &internal,
        &url,
        &[
            ("authorization", &bearer(&staff.kiki)),
            ("accept-encoding", "gzip"),
        ],
    )
    .await;
    assert!(String::from_utf8_lossy(&staff_tile.decoded()).contains("水位上昇"));
}

/// A composite holding the live layer: a live edit is in the next tile, the hazard layer
/// beside it is not cut or compressed again (its part is kept, deflated), and the tile is
/// byte for byte what a cut of every layer makes — for each view apart.
#[tokio::test]
async fn a_composite_with_a_live_layer_cuts_only_the_live_layer_again_after_an_edit() {
    let (app, public, internal, staff, _dir) = live_city();
    // A point in the 洪水浸水想定区域, so the composite's z12 tile has both layers.
    let (lon, lat) = (138.31, 34.86);
    let r = edit(
        &internal,
        "POST",
        LAYER,
        &point(lon, lat, r#"{"kind":"冠水","public":true,"note":"最初"}"#),
        &staff.kiki,
        None,
    )
    .await;
    let id = r.json()["id"].as_u64().expect("id");
    let spec = "kouzui_shinsui,saigai_houkoku";
    let (t, _) = common::tile_of(lon, lat, 12);
    let url = format!("/tiles/{spec}/12/{}/{}.mvt", t.x(), t.y());
    // What a cut of every layer, with nothing kept, makes for `view`.
    let direct = |view: &chizu::access::View| {
        let catalog = app.catalog.load_full();
        let layers: Vec<_> = ["kouzui_shinsui", "saigai_houkoku"]
            .iter()
            .map(|id| catalog.get(id).cloned().expect("layer"))
            .collect();
        let refs: Vec<&chizu::store::LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
        chizu::tile::render(&refs, view, t)
            .expect("renders")
            .expect("not empty")
    };
    let staff_get = |url: String| {
        let key = bearer(&staff.admin);
        let internal = internal.clone();
        async move {
            get(
                &internal,
                &url,
                &[("authorization", key.as_str()), ("accept-encoding", "gzip")],
            )
            .await
        }
    };
    let first = get(&public, &url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(first.decoded(), direct(&chizu::access::View::Public));
    let kept = app.parts.entry_count();
    assert_eq!(
        kept, 1,
        "the flood layer's part is kept, the live one is not"
    );
    let staff_first = staff_get(url.clone()).await;
    assert_eq!(app.parts.entry_count(), 2, "each view has its own part");
    assert!(String::from_utf8_lossy(&staff_first.decoded()).contains("最初"));

    let r = edit(
        &internal,
        "PATCH",
        &format!("{LAYER}/{id}"),
        r#"{"type":"Feature","properties":{"note":"水位上昇"}}"#,
        &staff.kiki,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let second = get(&public, &url, &[("accept-encoding", "gzip")]).await;
    let text = String::from_utf8_lossy(&second.decoded()).to_string();
    assert!(
        text.contains("水位上昇") && !text.contains("最初"),
        "stale composite"
    );
    assert!(
        text.contains("kouzui_shinsui"),
        "both layers are in the tile"
    );
    // The parts joined into one gzip member: GNU gzip reads it too, whole and checked.
    let dir = tempfile::tempdir().expect("tmp");
    let gz = dir.path().join("tile.mvt.gz");
    std::fs::write(&gz, &second.body).expect("write");
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .expect("gzip runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, second.decoded());
    assert_eq!(second.decoded(), direct(&chizu::access::View::Public));
    assert_eq!(
        app.parts.entry_count(),
        2,
        "the flood layer was not cut again"
    );
    // Unpublished: gone from the public composite, still in the staff one.
    edit(
        &internal,
        "PATCH",
        &format!("{LAYER}/{id}"),
        r#"{"type":"Feature","properties":{"public":false}}"#,
        &staff.kiki,
        None,
    )
    .await;
    let third = get(&public, &url, &[("accept-encoding", "gzip")]).await;
    assert!(!String::from_utf8_lossy(&third.decoded()).contains("水位上昇"));
    assert_eq!(third.decoded(), direct(&chizu::access::View::Public));
    let staff_third = staff_get(url.clone()).await;
    assert!(String::from_utf8_lossy(&staff_third.decoded()).contains("水位上昇"));
}

/// Reads SSE frames from a response body until `want` events arrived or time is up.
async fn read_events(body: Body, want: usize) -> Vec<serde_json::Value> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
    while out.len() < want {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await else {
            break;
        };
        if let Ok(d) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&d));
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                out.push(serde_json::from_str(data).expect("event JSON"));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_event_streams_tell_each_view_only_what_it_may_know() {
    use tower::ServiceExt as _;
    let (_app, public, internal, staff, _dir) = live_city();
    let open = |r: &Router, key: Option<&str>| {
        let mut req = axum::http::Request::builder()
            .uri("/events")
            .header("host", "127.0.0.1");
        if let Some(k) = key {
            req = req.header("authorization", bearer(k));
        }
        r.clone().oneshot(req.body(Body::empty()).expect("req"))
    };
    let pub_stream = open(&public, None).await.expect("public stream");
    assert_eq!(pub_stream.status(), 200);
    assert_eq!(pub_stream.headers()["content-type"], "text/event-stream");
    let staff_stream = open(&internal, Some(&staff.kiki))
        .await
        .expect("staff stream");

    let r = edit(
        &internal,
        "POST",
        LAYER,
        &point(
            138.3,
            34.84,
            r#"{"kind":"通行止め","note":"非公開の内容","staff_memo":"内線 99"}"#,
        ),
        &staff.kiki,
        None,
    )
    .await;
    let id = r.json()["id"].as_u64().expect("id");
    let item = format!("{LAYER}/{id}");
    edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"public":true}}"#,
        &staff.kiki,
        None,
    )
    .await;

    let staff_events = read_events(staff_stream.into_body(), 2).await;
    assert_eq!(staff_events.len(), 2, "{staff_events:?}");
    assert_eq!(staff_events[0]["action"], "create");
    assert_eq!(staff_events[0]["id"], id);
    let pub_events = read_events(pub_stream.into_body(), 2).await;
    // The public stream heard nothing of the unpublished create, only the publication.
    assert_eq!(pub_events.len(), 1, "{pub_events:?}");
    assert_eq!(pub_events[0]["action"], "create");
    assert_ne!(pub_events[0]["id"], id);
    let all = serde_json::to_string(&pub_events).unwrap_or_default();
    assert!(!all.contains("内線") && !all.contains("非公開"), "{all}");
}

/// One request over a real socket (`Connection: close`): status and body (lossy text).
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/geo+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let resp = String::from_utf8_lossy(&raw);
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {resp:?}")))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// `chizu serve` on a root with only the live layer; `limit_blocks` runs it with a file
/// size limit (512-byte blocks), as a full disk would stop it writing.
pub(crate) struct Server {
    child: std::process::Child,
    pub internal: String,
}

impl Server {
    pub(crate) fn start(
        root: &std::path::Path,
        keys: &std::path::Path,
        limit_blocks: Option<u64>,
    ) -> Self {
        let state = format!("--state '{}'", root.join("state").display());
        Self::spawn(root, keys, limit_blocks, &state)
    }

    /// The same, keeping the live layers in PostgreSQL (`database`).
    pub(crate) fn start_on(root: &std::path::Path, keys: &std::path::Path, database: &str) -> Self {
        Self::spawn(root, keys, None, &format!("--database '{database}'"))
    }

    fn spawn(
        root: &std::path::Path,
        keys: &std::path::Path,
        limit_blocks: Option<u64>,
        storage: &str,
    ) -> Self {
        let bin = env!("CARGO_BIN_EXE_chizu");
        let args = format!(
            "exec '{bin}' serve --public 127.0.0.1:0 --internal 127.0.0.1:0 --audit-log - --root '{}' --keys '{}' {storage}",
            root.display(),
            keys.display(),
        );
        // SIGXFSZ ignored, so a write past the limit fails with EFBIG as on a full disk.
        let script = match limit_blocks {
            Some(n) => format!("trap '' XFSZ; ulimit -f {n}; {args}"),
            None => args,
        };
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let internal = crate::common::listener_address(&mut child, "internal view");
        Self { child, internal }
    }

    pub(crate) fn kill9(&mut self) {
        assert!(std::process::Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success());
        let _ = self.child.wait();
    }

    /// Every feature id of the live layer, as staff see them.
    pub(crate) fn ids(&self, key: &str) -> Vec<u64> {
        let (status, body) = http(
            &self.internal,
            "GET",
            &format!("{LAYER}?limit=1000"),
            key,
            "",
        )
        .expect("items");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let mut ids: Vec<u64> = v["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter_map(|f| f["id"].as_u64())
            .collect();
        ids.sort_unstable();
        ids
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn post_point(addr: &str, key: &str, n: usize) -> std::io::Result<(u16, String)> {
    let lon = 138.25 + (n % 100) as f64 * 0.001;
    http(
        addr,
        "POST",
        LAYER,
        key,
        &point(
            lon,
            34.85,
            &format!(r#"{{"kind":"冠水","note":"報告 {n}"}}"#),
        ),
    )
}

/// Acknowledged writes survive SIGKILL; a write the disk cannot take is refused with 503,
/// and leaves nothing half-written.
#[test]
fn acknowledged_writes_survive_sigkill_and_a_full_disk_refuses_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    std::fs::copy(
        common::root().join("layers/saigai_houkoku.toml"),
        root.join("layers/saigai_houkoku.toml"),
    )
    .expect("copy");
    let keys = root.join("keys.toml");
    let key = chizu::access::keys::add(&keys, "kiki", &["kiki-kanri".to_string()]).expect("key");

    // Writes stream in; SIGKILL lands between them, whatever was in flight.
    let mut server = Server::start(root, &keys, None);
    let addr = server.internal.clone();
    let writer_key = key.clone();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let writer = std::thread::spawn(move || {
        for n in 0.. {
            match post_point(&addr, &writer_key, n) {
                Ok((201, body)) => {
                    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
                    let _ = tx.send(v["id"].as_u64().expect("id"));
                }
                Ok((s, body)) => panic!("write {n} answered {s}: {body}"),
                Err(_) => break,
            }
        }
    });
    let mut acked: Vec<u64> = (0..60)
        .map(|_| {
            rx.recv_timeout(std::time::Duration::from_secs(30))
                .expect("ack")
        })
        .collect();
    server.kill9();
    writer.join().expect("writer");
    acked.extend(rx.try_iter());
    acked.sort_unstable();

    let server = Server::start(root, &keys, None);
    let found = server.ids(&key);
    for id in &acked {
        assert!(
            found.contains(id),
            "acknowledged feature {id} lost after SIGKILL ({} acked, {} found)",
            acked.len(),
            found.len()
        );
    }
    let before_full = found.len();
    drop(server);

    // A file size limit just above the database: soon a write cannot be stored.
    let size = |f: &str| std::fs::metadata(root.join("state").join(f)).map_or(0, |m| m.len());
    let limit = (size("live.sqlite").max(size("live.sqlite-wal")) + 8192) / 512;
    let mut server = Server::start(root, &keys, Some(limit));
    let (mut ok, mut refused) = (0, None);
    for n in 0..2_000 {
        let (status, body) = post_point(&server.internal, &key, n).expect("answer");
        match status {
            201 => ok += 1,
            503 => {
                refused = Some(body);
                break;
            }
            s => panic!("unexpected {s}: {body}"),
        }
    }
    let refused = refused.expect("the full disk is noticed");
    assert!(
        refused.contains("cannot be written") && refused.contains("nothing was changed"),
        "{refused}"
    );
    // The refused write is not served, and later writes are refused the same way.
    assert_eq!(server.ids(&key).len(), before_full + ok);
    assert_eq!(
        post_point(&server.internal, &key, 9_999).expect("answer").0,
        503
    );
    server.kill9();

    // With room again: everything acknowledged is there, nothing more, and writes work.
    let server = Server::start(root, &keys, None);
    assert_eq!(server.ids(&key).len(), before_full + ok);
    assert_eq!(
        post_point(&server.internal, &key, 10_000)
            .expect("answer")
            .0,
        201
    );
}

#[tokio::test]
async fn a_residents_report_waits_unseen_until_staff_publish_it() {
    let (_app, public, internal, staff, _dir) = live_city();
    // The public catalog describes the form: where to send, the categories (「その他」
    // last), the text field and its length.
    let cat = get(&public, "/catalog", &[]).await.json();
    let form = cat["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["id"] == "saigai_houkoku")
        .expect("live layer")["reports"]
        .clone();
    assert!(
        form["url"]
            .as_str()
            .expect("url")
            .ends_with("/collections/saigai_houkoku/reports"),
        "{form}"
    );
    assert_eq!(form["category"], "kind");
    let values: Vec<&str> = form["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["value"].as_str().expect("value"))
        .collect();
    assert_eq!(values.len(), 5, "{form}");
    assert_eq!(values.last(), Some(&"その他"), "{form}");
    assert_eq!(
        (form["text"].as_str(), form["max_length"].as_u64()),
        (Some("note"), Some(500))
    );
    let report = |props: &str| {
        let body = point(138.32, 34.87, props);
        let public = public.clone();
        async move {
            send(
                &public,
                "POST",
                "/collections/saigai_houkoku/reports",
                Body::from(body),
                &[("content-type", "application/geo+json")],
            )
            .await
        }
    };
    let r = report(r#"{"kind":"倒木","note":"公園の前で木が倒れています"}"#).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json().get("id").is_none(), "nothing to read it back by");
    // Unseen publicly: not listed, not counted, not in a tile, not searchable.
    assert_eq!(get(&public, LAYER, &[]).await.json()["numberMatched"], 0);
    let s = get(
        &public,
        "/search?q=%E5%85%AC%E5%9C%92%E3%81%AE%E5%89%8D",
        &[],
    )
    .await;
    assert!(!String::from_utf8_lossy(&s.decoded()).contains("倒れて"));
    // Staff see it, unpublished, from a resident.
    let k = bearer(&staff.kiki);
    let items = get(&internal, LAYER, &[("authorization", &k)]).await.json();
    assert_eq!(items["numberMatched"], 1);
    let f = &items["features"][0];
    assert_eq!(f["properties"]["public"], false);
    let item = format!("{LAYER}/{}", f["id"]);
    let h = get(
        &internal,
        &format!("{item}/history"),
        &[("authorization", &k)],
    )
    .await
    .json();
    assert_eq!(h["changes"][0]["action"], "report");
    assert_eq!(h["changes"][0]["who"], chizu::live::RESIDENT);
    // Publishing it shows it.
    let r = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"public":true}}"#,
        &staff.kiki,
        Some("\"1\""),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(get(&public, LAYER, &[]).await.json()["numberMatched"], 1);
    // … and searchable; an edit of its text is searched by the new text only (each row's
    // search entries are kept between edits, and made again when its values change).
    let found = |q: &'static str| {
        let public = public.clone();
        async move {
            let uri = format!("/search?q={}", percent(q));
            String::from_utf8_lossy(&get(&public, &uri, &[]).await.decoded()).into_owned()
        }
    };
    assert!(found("公園の前").await.contains("倒れて"));
    let r = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"note":"橋の下で木が倒れています"}}"#,
        &staff.kiki,
        Some("\"2\""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(!found("公園の前").await.contains("倒れて"));
    assert!(found("橋の下").await.contains("橋の下で木が倒れています"));

    // A resident can set nothing but the category and the text, on no other layer.
    for (body, want) in [
        (r#"{"kind":"倒木","public":true}"#, 400),
        (r#"{"kind":"倒木","staff_memo":"x"}"#, 400),
        (r#"{"note":"種類なし"}"#, 400),
        (r#"{"kind":"火事"}"#, 400),
    ] {
        assert_eq!(report(body).await.status, want, "{body}");
    }
    let other = send(
        &public,
        "POST",
        "/collections/hinanjo/reports",
        Body::from(point(138.3, 34.8, r#"{"kind":"倒木"}"#)),
        &[("content-type", "application/geo+json")],
    )
    .await;
    assert_eq!(other.status, 404);
    let internal_report = send(
        &internal,
        "POST",
        "/collections/saigai_houkoku/reports",
        Body::from(point(138.3, 34.8, r#"{"kind":"倒木"}"#)),
        &[
            ("content-type", "application/geo+json"),
            ("authorization", &k),
        ],
    )
    .await;
    assert_eq!(internal_report.status, 404, "staff use the editing API");
    // Five an hour from one address (the refused ones above counted too).
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(report(r#"{"kind":"冠水"}"#).await.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let items = get(&internal, LAYER, &[("authorization", &k)]).await.json();
    assert!(items["numberMatched"].as_u64().unwrap_or(99) <= 5);
}

/// Editing the live layer's file (its title, a new field) reloads it without losing a
/// feature, and the new schema applies to the stored ones.
#[tokio::test]
async fn a_reload_of_the_layer_file_keeps_every_live_feature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    let file = root.join("layers/saigai_houkoku.toml");
    std::fs::copy(common::root().join("layers/saigai_houkoku.toml"), &file).expect("copy");
    let loaded = chizu::load_root(root, 1);
    let defs: Vec<_> = loaded
        .catalog
        .layers()
        .map(|l| Arc::clone(&l.def))
        .collect();
    let app = AppState::new(
        loaded.catalog,
        HttpSettings {
            root: Some(root.to_path_buf()),
            web_root: common::root().join("web"),
            ..HttpSettings::default()
        },
    );
    app.attach_live(
        chizu::live::LiveStore::open(&chizu::live::Storage::Sqlite(root.join("state")), &defs)
            .expect("state"),
    );
    let (internal, staff) = common::internal_router_with(Arc::clone(&app));
    for n in 0..3 {
        let r = edit(
            &internal,
            "POST",
            LAYER,
            &point(138.3 + f64::from(n) * 0.01, 34.85, r#"{"kind":"冠水"}"#),
            &staff.kiki,
            None,
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let text = std::fs::read_to_string(&file).expect("read");
    let text = text.replace("ja = \"災害情報\"", "ja = \"災害情報（本部）\"")
        + "\n[[field]]\nname = \"road\"\ntype = \"string\"\nlabel = { ja = \"路線\", en = \"Road\" }\n";
    std::fs::write(&file, text).expect("write");
    let summary = tokio::task::spawn_blocking({
        let app = Arc::clone(&app);
        move || app.reload()
    })
    .await
    .expect("join")
    .expect("reload");
    assert_eq!(
        summary.reloaded,
        vec!["saigai_houkoku".to_string()],
        "{:?}",
        summary.failed
    );
    let layer = app
        .catalog
        .load_full()
        .get("saigai_houkoku")
        .cloned()
        .expect("layer");
    assert_eq!(layer.def.title.ja, "災害情報（本部）");
    assert_eq!(
        layer.features.len(),
        3,
        "no live feature lost by the reload"
    );
    assert!(layer.field_index("road").is_some());
    // The new field is editable at once.
    let items = get(&internal, LAYER, &[("authorization", &bearer(&staff.kiki))])
        .await
        .json();
    let item = format!("{LAYER}/{}", items["features"][0]["id"]);
    let r = edit(
        &internal,
        "PATCH",
        &item,
        r#"{"type":"Feature","properties":{"road":"国道150号"}}"#,
        &staff.kiki,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["properties"]["road"], "国道150号");
}

/// Opens `GET /events` on `addr` and reads the status line; the stream stays open while
/// the returned socket lives.
fn open_stream(addr: &str, key: Option<&str>) -> (u16, std::net::TcpStream) {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(s, "GET /events HTTP/1.1\r\nHost: x\r\n{auth}\r\n").expect("write");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(s.try_clone().expect("clone"))
        .read_line(&mut line)
        .expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, s)
}

/// A crowd of event streams on the public listener: at most half of `--max-concurrent`
/// are open at once, the rest get `503` with `Retry-After`; ordinary requests and the
/// staff listener's streams still work; a stream whose client went away frees its place.
#[test]
fn event_streams_are_capped_per_listener_and_a_crowd_starves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    std::fs::copy(
        crate::common::root().join("layers/saigai_houkoku.toml"),
        root.join("layers/saigai_houkoku.toml"),
    )
    .expect("copy");
    let keys = root.join("keys.toml");
    let key = chizu::access::keys::add(&keys, "kiki", &["kiki-kanri".to_string()]).expect("key");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .args([
            "serve",
            "--public",
            "127.0.0.1:0",
            "--internal",
            "127.0.0.1:0",
            "--max-concurrent",
            "8",
            "--root",
        ])
        .arg(root)
        .arg("--keys")
        .arg(&keys)
        .arg("--state")
        .arg(root.join("state"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let (public, internal) = crate::common::listener_addresses(&mut child);

    let mut open = Vec::new();
    for _ in 0..4 {
        let (status, s) = open_stream(&public, None);
        assert_eq!(status, 200);
        open.push(s);
    }
    for _ in 0..20 {
        let (status, _) = open_stream(&public, None);
        assert_eq!(status, 503, "half of --max-concurrent 8 streams at most");
    }
    let (status, body) = http(&public, "GET", "/health", "", "").expect("health");
    assert_eq!(status, 200, "{body}");
    let (status, _staff) = open_stream(&internal, Some(&key));
    assert_eq!(status, 200, "the staff listener counts its own streams");

    // One resident closes the page: within the keep-alive interval another gets in.
    drop(open.pop());
    let start = std::time::Instant::now();
    let again = loop {
        let (status, s) = open_stream(&public, None);
        if status == 200 {
            break s;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(40),
            "the closed stream's place was never freed"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    drop((again, open));
    let _ = child.kill();
    let _ = child.wait();
}

/// `s` percent-encoded for a query string.
fn percent(s: &str) -> String {
    use std::fmt::Write as _;
    s.bytes().fold(String::new(), |mut out, b| {
        let _ = write!(out, "%{b:02X}");
        out
    })
}
