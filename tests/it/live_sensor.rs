//! Sensor layers: a gauges' gateway posts readings for a station of the sample city's
//! `suii_kansoku` layer; the station serves its latest value, the level it reached among
//! its own thresholds, the reading's age and whether it went silent — in items and tiles,
//! on both views — and its time series can be read.

use axum::body::Body;
use axum::Router;
use serde_json::Value;

use crate::common::{self, get, send, Resp};
use crate::live::{edit, live_city, point};
use crate::real_tiles::text;

const STATIONS: &str = "/collections/suii_kansoku/items";
const AT: (f64, f64) = (138.305, 34.845);

/// RFC 3339 in Japan's offset, `minutes` from now (negative: ago).
fn jst(minutes_from_now: f64) -> String {
    let t =
        chrono::Utc::now() + chrono::Duration::milliseconds((minutes_from_now * 60_000.0) as i64);
    t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("offset"))
        .to_rfc3339()
}

async fn post(app: &Router, uri: &str, body: &str, key: &str) -> Resp {
    edit(app, "POST", uri, body, key, None).await
}

fn msg(r: &Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

/// The station's properties in its z14 tile, as an independent decoder reads them.
async fn tile_props(
    app: &Router,
    headers: &[(&str, &str)],
) -> std::collections::HashMap<String, String> {
    let (t, _) = common::tile_of(AT.0, AT.1, 14);
    let r = get(
        app,
        &format!("/tiles/suii_kansoku/14/{}/{}.mvt", t.x(), t.y()),
        headers,
    )
    .await;
    assert_eq!(r.status, 200, "the station's tile");
    let layers = common::decode(&r.body);
    let l = layers
        .iter()
        .find(|l| l.name == "suii_kansoku")
        .expect("the station's layer in its tile");
    assert_eq!(l.features.len(), 1);
    l.features[0]
        .properties
        .as_ref()
        .expect("properties")
        .iter()
        .map(|(k, v)| (k.clone(), text(v)))
        .collect()
}

#[tokio::test]
async fn a_station_serves_its_latest_reading_its_level_and_whether_it_went_silent() {
    let (app, public, internal, staff, _dir) = live_city();
    let key = common::bearer(&staff.kiki);
    let auth = [("authorization", key.as_str())];
    // 危機管理 adds the station with its four thresholds.
    let r = post(
        &internal,
        STATIONS,
        &point(
            AT.0,
            AT.1,
            r#"{"name":"試験観測所","river":"試験川","level_taiki":1.0,"level_chuui":2.0,"level_hinan":3.0,"level_kiken":4.0}"#,
        ),
        &staff.kiki,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_u64().expect("id");
    let item = format!("{STATIONS}/{id}");
    let readings = format!("{item}/readings");
    // The reading fields are the server's: a client cannot set them.
    let r = post(
        &internal,
        STATIONS,
        &point(AT.0, AT.1, r#"{"name":"偽","reading":9.9}"#),
        &staff.kiki,
    )
    .await;
    assert_eq!(r.status, 400, "reading is not the client's to set");

    // Never reported: silent, no value.
    let r = get(&internal, &item, &auth).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json()["properties"].clone();
    assert_eq!(p["stale"], true, "{p}");
    assert_eq!(p["reading"], Value::Null);

    // Only a sensor role (or an admin) posts readings; the public listener never does.
    let one = format!(r#"{{"time":"{}","value":2.4}}"#, jst(-1.0));
    let r = post(&internal, &readings, &one, &staff.kiki).await;
    assert_eq!(r.status, 403, "{}", msg(&r));
    let r = send(
        &public,
        "POST",
        &readings,
        Body::from(one.clone()),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(r.status, 405);
    for (body, names) in [
        (r#"{"value":1.0}"#.to_string(), "time"),
        (format!(r#"{{"time":"{}"}}"#, jst(0.0)), "value"),
        (
            r#"{"time":"2026-13-01T00:00:00+09:00","value":1}"#.into(),
            "time",
        ),
        (format!(r#"{{"time":"{}","value":1}}"#, jst(60.0)), "future"),
        (
            format!(
                r#"[{{"time":"{}","value":1}},{{"time":"{}","value":"high"}}]"#,
                jst(-2.0),
                jst(-1.0)
            ),
            "readings[1].value",
        ),
        (
            format!("[{}]", vec![one.as_str(); 1001].join(",")),
            "at most 1000",
        ),
        (
            r#"{"time":"2026-01-01T00:00:00Z","value":1,"unit":"cm"}"#.into(),
            "unit",
        ),
    ] {
        let r = post(&internal, &readings, &body, &staff.sensor).await;
        assert_eq!(r.status, 400, "{body:.80}");
        assert!(msg(&r).contains(names), "{body:.80} → {}", msg(&r));
    }
    // A file layer or a layer without sensors takes no readings.
    let r = post(
        &internal,
        "/collections/saigai_houkoku/items/1/readings",
        &one,
        &staff.sensor,
    )
    .await;
    assert_eq!(r.status, 404);

    let r = post(&internal, &readings, &one, &staff.sensor).await;
    assert_eq!(r.status, 200, "{}", msg(&r));
    assert_eq!(r.json()["stored"], 1);
    let p = get(&internal, &item, &auth).await.json()["properties"].clone();
    assert_eq!(p["reading"], 2.4);
    assert_eq!(
        p["reading_level"], "level_chuui",
        "2.4 m is past 氾濫注意水位 2.0 m"
    );
    assert_eq!(p["stale"], false);
    assert_eq!(p["reading_age_min"], 1);
    assert!(
        p["reading_at"].as_str().unwrap_or_default().ends_with('Z'),
        "{p}"
    );
    // The public view serves the same (its ids differ only for filtered layers).
    let list = get(&public, STATIONS, &[]).await.json();
    let pp = &list["features"][0]["properties"];
    assert_eq!(pp["reading_level"], "level_chuui", "{list}");
    let t = tile_props(&public, &[]).await;
    assert_eq!(
        t.get("reading_level").map(String::as_str),
        Some("level_chuui"),
        "{t:?}"
    );
    assert_eq!(t.get("reading").map(String::as_str), Some("2.4"));
    assert_eq!(t.get("stale").map(String::as_str), Some("false"));

    // A batch: the newest reading is the latest; an older one posted later does not
    // replace it, but joins the series.
    let batch = format!(
        r#"[{{"time":"{}","value":2.8}},{{"time":"{}","value":3.5}}]"#,
        jst(-0.8),
        jst(-0.5)
    );
    let r = post(&internal, &readings, &batch, &staff.sensor).await;
    assert_eq!(r.status, 200, "{}", msg(&r));
    assert_eq!(r.json()["stored"], 2);
    let old = format!(r#"{{"time":"{}","value":0.5}}"#, jst(-30.0));
    let r = post(&internal, &readings, &old, &staff.admin).await;
    assert_eq!(r.status, 200, "an admin may post too: {}", msg(&r));
    let t = tile_props(&internal, &auth).await;
    assert_eq!(
        t.get("reading_level").map(String::as_str),
        Some("level_hinan"),
        "{t:?}"
    );
    assert_eq!(t.get("reading").map(String::as_str), Some("3.5"));

    // The series, oldest first, each reading with its level; `from` bounds it.
    let s = get(&public, &readings, &[]).await.json();
    assert_eq!(s["unit"], "m");
    assert_eq!(s["numberReturned"], 4, "{s}");
    let values: Vec<f64> = s["readings"]
        .as_array()
        .expect("readings")
        .iter()
        .map(|r| r["value"].as_f64().expect("value"))
        .collect();
    assert_eq!(values, [0.5, 2.4, 2.8, 3.5]);
    assert_eq!(s["readings"][0]["level"], "normal");
    assert_eq!(s["levels"][2]["level"], "level_hinan");
    assert_eq!(s["levels"][2]["threshold"], 3.0);
    let from = jst(-0.9).replace('+', "%2B");
    let s = get(&internal, &format!("{readings}?from={from}&limit=1"), &auth)
        .await
        .json();
    assert_eq!(s["numberReturned"], 1, "{s}");
    assert_eq!(
        s["readings"][0]["value"], 3.5,
        "the newest one of the range"
    );
    let r = get(&internal, &format!("{readings}?from=yesterday"), &auth).await;
    assert_eq!(r.status, 400);
    assert!(msg(&r).contains("from"), "{}", msg(&r));
    let r = get(&internal, &format!("{readings}?limit=0"), &auth).await;
    assert_eq!(r.status, 400);

    // The OpenAPI document lists the series for everyone, the posting for sensor keys.
    let path = "/collections/suii_kansoku/items/{featureId}/readings";
    let api = get(&public, "/api", &[]).await.json();
    assert!(api["paths"][path]["get"].is_object(), "{}", api["paths"]);
    assert!(api["paths"][path].get("post").is_none());
    let sensor_key = common::bearer(&staff.sensor);
    let api = get(&internal, "/api", &[("authorization", sensor_key.as_str())])
        .await
        .json();
    assert!(api["paths"][path]["post"].is_object());
    let api = get(&internal, "/api", &auth).await.json();
    assert!(
        api["paths"][path].get("post").is_none(),
        "危機管理 edits stations, posts no readings"
    );

    // Silent for longer than `interval` (20 min): flagged stale, in the tile too, once the
    // server's clock notices.
    let r = post(
        &internal,
        STATIONS,
        &point(AT.0 + 0.1, AT.1, r#"{"name":"第二"}"#),
        &staff.kiki,
    )
    .await;
    let second = r.json()["id"].as_u64().expect("id");
    let late = format!(r#"{{"time":"{}","value":0.2}}"#, jst(-20.0 + 2.0 / 60.0));
    let r = post(
        &internal,
        &format!("{STATIONS}/{second}/readings"),
        &late,
        &staff.sensor,
    )
    .await;
    assert_eq!(r.status, 200, "{}", msg(&r));
    let p = get(&internal, &format!("{STATIONS}/{second}"), &auth)
        .await
        .json()["properties"]
        .clone();
    assert_eq!(p["stale"], false, "{p}");
    assert_eq!(
        p["reading_level"],
        Value::Null,
        "no thresholds, no level: {p}"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    app.live().expect("live").tick(&app.catalog);
    let p = get(&internal, &format!("{STATIONS}/{second}"), &auth)
        .await
        .json()["properties"]
        .clone();
    assert_eq!(p["stale"], true, "{p}");
    assert_eq!(p["reading_age_min"], 20);
    // The first station is still fresh.
    assert_eq!(
        tile_props(&public, &[])
            .await
            .get("stale")
            .map(String::as_str),
        Some("false")
    );
}
