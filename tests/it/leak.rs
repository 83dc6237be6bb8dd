//! The leak test: every public route × every internal layer id, internal attribute and
//! internal feature value, alone and in composites with public layers, with and without
//! staff credentials — nothing internal may appear in any public response.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;

use chizu::store::Value;

use crate::common::{bearer, get, internal_router, public_router, Resp};

/// Everything that must never reach the public view.
struct Secrets {
    layer_ids: Vec<String>,
    /// Names of internal-only attributes of public layers.
    attr_names: Vec<String>,
    /// String values that occur only in internal layers or internal-only attributes.
    values: BTreeSet<String>,
    /// Tiles (z/x/y) where internal features are.
    tiles: BTreeSet<(u8, u32, u32)>,
    /// Lon/lat of internal features (one per feature), for point queries.
    points: Vec<[f64; 2]>,
}

fn secrets() -> Secrets {
    let state = crate::common::state();
    let catalog = state.catalog.load();
    let mut public_values = BTreeSet::new();
    let mut secret_values = BTreeSet::new();
    let mut layer_ids = Vec::new();
    let mut attr_names = BTreeSet::new();
    let mut tiles = BTreeSet::new();
    let mut points = Vec::new();
    for l in catalog.layers() {
        let public = l.def.is_public();
        if !public {
            layer_ids.push(l.def.id.to_string());
            points.extend(
                l.features
                    .iter()
                    .step_by(8)
                    .map(chizu::query::geojson::representative_lonlat),
            );
        }
        for (i, f) in l.fields.iter().enumerate() {
            let hidden = !public || f.internal;
            if hidden && public {
                attr_names.insert(f.name.clone());
            }
            for feat in &l.features {
                if let Value::Str(s) = &feat.values[i] {
                    // An unpublished feature of a public layer (a resident's view filter,
                    // a live report not yet published) is as secret as an internal one.
                    if hidden || !feat.public {
                        secret_values.insert(s.to_string())
                    } else {
                        public_values.insert(s.to_string())
                    };
                }
                if !public {
                    let (cx, cy) = (
                        f64::midpoint(feat.bbox.min.x, feat.bbox.max.x),
                        f64::midpoint(feat.bbox.min.y, feat.bbox.max.y),
                    );
                    for z in [12u8, 14, 16] {
                        let t = chizu::tile::TileCoord::containing(z, cx, cy);
                        tiles.insert((z, t.x(), t.y()));
                    }
                }
            }
        }
    }
    // Text the public may see anyway — public values, layer titles, descriptions,
    // attribution — makes a value no secret (e.g. 道路課, or 焼津 inside 焼津市オープンデータ).
    for l in catalog.layers().filter(|l| l.def.is_public()) {
        public_values.insert(format!(
            "{:?} {:?} {:?}",
            l.def.title, l.def.description, l.def.attribution
        ));
        // The categories a resident chooses from on the report form are published by
        // design (an unpublished report's own text stays secret and is checked).
        if let Some(r) = &l.def.reports {
            for f in l
                .def
                .fields
                .iter()
                .filter(|f| f.output_name() == r.category)
            {
                for (code, label) in &f.values {
                    public_values.insert(format!("{code} {} {}", label.ja, label.en));
                }
            }
        }
    }
    let corpus: String = public_values
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    let values: BTreeSet<String> = secret_values
        .into_iter()
        .filter(|v| v.chars().count() >= 2 && !corpus.contains(v.as_str()))
        .collect();
    Secrets {
        layer_ids,
        attr_names: attr_names.into_iter().collect(),
        values,
        tiles,
        points,
    }
}

/// All text a client could read from a response: status line, headers, body (inflated
/// and, for tiles, every layer name, key and string value).
fn readable(r: &Resp) -> String {
    let mut out = format!("{}\n", r.status);
    for (k, v) in &r.headers {
        let _ = writeln!(out, "{k}: {}", v.to_str().unwrap_or(""));
    }
    let mut body = r.decoded();
    if r.header("content-type") == Some("application/vnd.maplibre-tile") {
        // MLT strings may be FSST-compressed: read them back as MVT, then as below.
        let mut dec = mlt_core::Decoder::default();
        let layers = mlt_core::Parser::default()
            .parse_layers(&body)
            .expect("MLT parses")
            .into_iter()
            .map(|l| match l {
                mlt_core::Layer::Tag01(l) => l.into_tile(&mut dec).expect("MLT decodes"),
                _ => panic!("an MLT layer of another kind"),
            })
            .collect();
        body = mlt_core::mvt::tile_layers_to_mvt(layers).expect("as MVT");
    }
    let content = r.header("content-type");
    if content == Some("application/vnd.mapbox-vector-tile")
        || content == Some("application/vnd.maplibre-tile")
    {
        for l in crate::common::decode(&body) {
            out.push_str(&l.name);
            out.push('\n');
            for f in l.features {
                for (k, v) in f.properties.unwrap_or_default() {
                    let _ = writeln!(out, "{k}={v:?}");
                }
            }
        }
    } else {
        out.push_str(&String::from_utf8_lossy(&body));
    }
    out
}

#[tokio::test]
async fn nothing_internal_reaches_the_public_view() {
    let s = secrets();
    assert!(s.layer_ids.len() >= 3, "{:?}", s.layer_ids);
    assert!(s.attr_names.contains(&"sauid".to_string()));
    assert!(
        s.values.iter().any(|v| v.contains("あ-")),
        "ledger numbers are secrets"
    );
    assert!(!s.tiles.is_empty());
    // The live layer's unpublished report and its staff-only memos are secrets too.
    for v in ["未公開の倒木情報乙", "庁内限定メモ甲", "庁内限定メモ丙"] {
        assert!(s.values.contains(v), "{v} is checked");
    }

    let state = crate::common::state();
    let public_ids: Vec<String> = state
        .catalog
        .load()
        .layers()
        .filter(|l| l.def.is_public())
        .map(|l| l.def.id.to_string())
        .collect();
    let all_public = public_ids.join(",");
    let (_internal, staff) = internal_router();
    let admin = bearer(&staff.admin);

    let mut uris: Vec<String> = vec![
        "/".into(),
        "/catalog".into(),
        "/health".into(),
        "/nope".into(),
    ];
    for id in &s.layer_ids {
        uris.push(format!("/tiles/{id}.json"));
        uris.push(format!("/tiles/{all_public},{id}.json"));
        uris.push(format!("/tiles/{id},{}.json", public_ids[0]));
        for &(z, x, y) in &s.tiles {
            uris.push(format!("/tiles/{id}/{z}/{x}/{y}.mvt"));
            uris.push(format!("/tiles/{},{id}/{z}/{x}/{y}.mvt", public_ids[0]));
            uris.push(format!("/tiles/{},{id}/{z}/{x}/{y}.mlt", public_ids[0]));
        }
    }
    // Whole-layer responses of the small public layers (the big flood layers would make
    // each body megabytes long; their code path is the same).
    let small: Vec<String> = state
        .catalog
        .load()
        .layers()
        .filter(|l| {
            l.def.is_public()
                && l.features
                    .iter()
                    .map(|f| f.shape.vertex_count())
                    .sum::<usize>()
                    < 20_000
        })
        .map(|l| l.def.id.to_string())
        .collect();
    for id in &public_ids {
        uris.push(format!("/tiles/{id}.json"));
    }
    for id in &small {
        uris.push(format!("/collections/{id}/items?limit=1000"));
        uris.push(format!("/download/{id}.csv"));
        uris.push(format!("/download/{id}.geojson"));
        uris.push(format!("/download/{id}.gpkg"));
    }
    for id in &s.layer_ids {
        for route in [
            "/collections/{id}",
            "/collections/{id}/items",
            "/collections/{id}/items/0",
            "/download/{id}.csv",
            "/download/{id}.geojson",
            "/download/{id}.gpkg",
        ] {
            uris.push(route.replace("{id}", id));
        }
        uris.push(format!("/query?lon=138.3&lat=34.86&layers={id}"));
        uris.push(format!("/search?q=x&layers={id}"));
    }
    uris.extend([
        "/collections".into(),
        "/conformance".into(),
        "/?f=json".into(),
        "/styles/public.json".into(),
        "/styles/internal.json".into(),
    ]);
    for [lon, lat] in &s.points {
        uris.push(format!("/hazard?lon={lon}&lat={lat}&shelters=10"));
        uris.push(format!("/hazard?lon={lon}&lat={lat}&f=text&lang=en"));
        uris.push(format!("/query?lon={lon}&lat={lat}&z=12&px=50"));
    }
    for v in s.values.iter().take(40) {
        let q: String = v.chars().take(20).collect();
        uris.push(format!(
            "/search?q={}&limit=50",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        ));
    }

    for &(z, x, y) in &s.tiles {
        uris.push(format!("/tiles/{all_public}/{z}/{x}/{y}.mvt"));
        uris.push(format!("/tiles/{all_public}/{z}/{x}/{y}.mlt"));
    }

    // Every secret as one automaton, so each response is scanned once.
    let mut patterns: Vec<String> = Vec::new();
    let mut kinds: Vec<&str> = Vec::new();
    for id in &s.layer_ids {
        patterns.push(id.clone());
        kinds.push("layer id");
    }
    for a in &s.attr_names {
        patterns.push(format!("\"{a}\""));
        kinds.push("attribute");
        patterns.push(format!("{a}="));
        kinds.push("attribute");
    }
    for v in &s.values {
        patterns.push(v.clone());
        kinds.push("value");
    }
    let needles = aho_corasick::AhoCorasick::new(&patterns).expect("automaton");

    let app = public_router();
    let mut requests = 0;
    let mut ok = 0;
    for uri in &uris {
        for headers in [
            vec![],
            vec![("authorization", admin.as_str())],
            vec![
                ("accept-encoding", "gzip"),
                ("authorization", admin.as_str()),
            ],
        ] {
            let r = get(&app, uri, &headers).await;
            requests += 1;
            if r.status == 200 {
                ok += 1;
            }
            let mut text = readable(&r);
            if uri.starts_with("/search?") && r.status == 200 {
                // The response echoes the client's own `q`: only the results could leak.
                text = r.json()["results"].to_string();
            }
            if let Some(m) = needles.find(&text) {
                panic!(
                    "{uri}: internal {} `{}` leaked",
                    kinds[m.pattern().as_usize()],
                    patterns[m.pattern().as_usize()]
                );
            }
        }
    }
    // Written to stderr directly (not `eprintln!`), so the count shows even when tests pass.
    let _ = writeln!(
        std::io::stderr(),
        "leak test: {requests} public requests ({ok} answered 200) over {} internal layers, {} internal attributes, {} internal values, {} tiles",
        s.layer_ids.len(),
        s.attr_names.len(),
        s.values.len(),
        s.tiles.len()
    );
    assert!(requests > 300 && ok > 50, "{requests} requests, {ok} ok");
}

/// A layer's `public_filter` keeps other features off the public view but not off staff's.
#[tokio::test]
async fn public_filter_keeps_unpublished_features_internal() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("layers")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::write(
        dir.path().join("data/sites.csv"),
        "名称,状態,緯度,経度\n公開の施設,公開,34.8659,138.3181\n検討中の施設,非公開,34.8660,138.3183\n",
    )
    .expect("csv");
    std::fs::write(
        dir.path().join("layers/sites.toml"),
        "title = { ja = \"施設\", en = \"Sites\" }\ncategory = \"shisetsu\"\ngeometry = \"point\"\naccess = { view = \"public\" }\npublic_filter = { field = \"status\", equals = [\"公開\"] }\n[[source]]\npath = \"data/sites.csv\"\n[[field]]\nsource = \"名称\"\nname = \"name\"\n[[field]]\nsource = \"状態\"\nname = \"status\"\n",
    )
    .expect("toml");
    let loaded = chizu::load_root(dir.path(), 1);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let app = chizu::http::AppState::new(loaded.catalog, chizu::http::HttpSettings::default());
    let public = chizu::http::router(app.clone(), chizu::http::Listener::Public);
    let (internal, staff) = crate::common::internal_router_with(app);
    let (t, _) = crate::common::tile_of(138.3181, 34.8659, 14);
    let uri = format!("/tiles/sites/{}/{}/{}.mvt", t.z(), t.x(), t.y());
    let p = readable(&get(&public, &uri, &[]).await);
    assert!(
        p.contains("公開の施設") && !p.contains("検討中の施設"),
        "{p}"
    );
    let i = readable(&get(&internal, &uri, &[("authorization", &bearer(&staff.toshi))]).await);
    assert!(
        i.contains("公開の施設") && i.contains("検討中の施設"),
        "{i}"
    );
    let c = get(&public, "/catalog", &[]).await.json();
    assert_eq!(c["layers"][0]["features"], 1);
}
