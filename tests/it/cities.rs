//! Any city, out of the box: a second sample root (三原市, national data only), the PLATEAU
//! root, the traps `check` must catch, `init`/`inspect DIR`, field mapping on real-shaped
//! files, and the report's coverage. Each trap here passed silently before.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use chizu::http::{router, AppState, HttpSettings, Listener};

use crate::common::{self, get};

fn chizu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chizu"))
}

fn run(args: &[&str], root: &Path) -> (bool, String) {
    let out: Output = chizu()
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .expect("runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The element of a JSON array whose `key` is `value`.
fn find(list: &serde_json::Value, key: &str, value: &str) -> serde_json::Value {
    list.as_array()
        .expect("an array")
        .iter()
        .find(|x| x[key] == value)
        .unwrap_or_else(|| panic!("no element with {key} = {value}"))
        .clone()
}

fn mihara() -> PathBuf {
    common::root().join("cities/mihara")
}

fn plateau() -> PathBuf {
    common::root().join("tests/data/plateau")
}

/// A root loaded as `serve` would, with the viewer from the binary (no `web/` in the root).
fn state_of(root: &Path) -> Arc<AppState> {
    chizu::route_gdal_messages();
    let loaded = chizu::load_root(root, 2);
    assert!(
        loaded.errors.is_empty(),
        "{}: {:?}",
        root.display(),
        loaded.errors
    );
    AppState::new(
        loaded.catalog,
        HttpSettings {
            web_root: root.join("web"),
            root: Some(root.to_path_buf()),
            ..HttpSettings::default()
        },
    )
}

/// A temporary root whose `data` links to the sample's, with these layer files.
fn root_with(layers: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("layers")).expect("mkdir");
    std::os::unix::fs::symlink(common::root().join("data"), dir.path().join("data")).expect("link");
    for (name, text) in layers {
        std::fs::write(dir.path().join("layers").join(name), text).expect("write");
    }
    dir
}

const HEAD: &str = "category = \"bousai\"\naccess = { view = \"public\" }\n";

#[test]
fn second_city_checks_clean_with_nothing_from_the_sample() {
    let (ok, text) = run(&["check", "--strict"], &mihara());
    assert!(ok, "{text}");
    assert!(
        text.contains("4 layers loaded, 0 failed, 0 warnings"),
        "{text}"
    );
    // Nothing in the second root names the sample city.
    for f in walk(&mihara()) {
        if f.extension().is_some_and(|e| e == "toml") {
            let t = std::fs::read_to_string(&f).expect("read");
            assert!(
                !t.contains("焼津") && !t.contains("yaizu"),
                "{}",
                f.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_municipality_is_named_in_code_or_viewer() {
    let names = [
        "焼津", "Yaizu", "yaizu", "三原", "Mihara", "尾道", "Onomichi", "出雲", "Izumo", "美祢",
        "三島", "武雄", "Takeo", "仙台", "Sendai", "甲府", "Kofu", "138.305", "34.86]", "138.2806",
        "34.8775",
    ];
    let root = common::root();
    for f in walk(&root.join("src"))
        .into_iter()
        .chain(walk(&root.join("web")))
    {
        if f.components().any(|c| c.as_os_str() == "vendor") {
            continue;
        }
        let Ok(t) = std::fs::read_to_string(&f) else {
            continue;
        };
        for n in names {
            assert!(!t.contains(n), "{} names `{n}`", f.display());
        }
    }
}

#[test]
fn where_filter_picks_one_municipality_like_ogr() {
    let app = state_of(&mihara());
    let cat = app.catalog.load_full();
    let b = cat.get("shi_kyoukai").expect("boundary");
    let ogr = Command::new("ogrinfo")
        .args(["-ro", "-so", "-where", "N03_007 = '34204'"])
        .arg(mihara().join("data/boundary/N03-21_34_210101.json"))
        .arg("N03-21_34_210101")
        .output()
        .expect("ogrinfo runs");
    let text = String::from_utf8_lossy(&ogr.stdout);
    assert!(text.contains("Feature Count: 1"), "{text}");
    assert_eq!(b.features.len(), 1);
    let name = b.field_index("name").expect("name");
    assert_eq!(b.features[0].values[name].key().as_deref(), Some("三原市"));
}

#[test]
fn value_maps_turn_flags_into_booleans() {
    let app = state_of(&mihara());
    let cat = app.catalog.load_full();
    let l = cat.get("kinkyu_hinan_basho").expect("sites");
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(mihara().join("data/shelters/emergency_342041.json"))
            .expect("read"),
    )
    .expect("json");
    let ones = raw["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter(|f| f["properties"]["洪水"] == "1")
        .count();
    let i = l.field_index("flood").expect("flood");
    let trues = l
        .features
        .iter()
        .filter(|f| f.values[i] == chizu::store::Value::Bool(true))
        .count();
    let falses = l
        .features
        .iter()
        .filter(|f| f.values[i] == chizu::store::Value::Bool(false))
        .count();
    assert_eq!(trues, ones);
    assert_eq!(trues + falses, l.features.len(), "no flag left null");
}

#[tokio::test]
async fn report_says_where_the_data_is_silent() {
    let app = state_of(&mihara());
    let r = router(app, Listener::Public);
    // A shelter of the city: inside the boundary.
    let inside = get(&r, "/hazard?lon=133.0795&lat=34.4008", &[])
        .await
        .json();
    assert_eq!(inside["covered"], true, "{inside}");
    assert!(!inside["shelters"].as_array().expect("list").is_empty());
    let nc: Vec<&str> = inside["not_covered"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["kind"].as_str())
        .collect();
    assert!(nc.contains(&"flood") && nc.contains(&"tsunami"), "{nc:?}");
    let note = inside["coverage_note"].as_str().expect("note");
    assert!(
        note.contains("洪水浸水想定区域") && note.contains("重ねるハザードマップ"),
        "{note}"
    );
    assert!(
        !inside["summary"]
            .as_str()
            .expect("s")
            .contains("含まれていません"),
        "no hazard layer: not 'not designated'"
    );
    // Tokyo station: far outside.
    let tokyo = get(&r, "/hazard?lon=139.7671&lat=35.6812", &[])
        .await
        .json();
    assert_eq!(tokyo["covered"], false);
    assert_eq!(tokyo["shelters"].as_array().map(Vec::len), Some(0));
    assert!(
        tokyo["summary"].as_str().expect("s").contains("範囲の外"),
        "{tokyo}"
    );
    let en = get(&r, "/hazard?lon=139.7671&lat=35.6812&lang=en", &[])
        .await
        .json();
    assert!(
        en["summary"]
            .as_str()
            .expect("s")
            .contains("outside the area"),
        "{en}"
    );
    // The sample city too: Tokyo is outside its data; in the city the report names the
    // hazards its data has no layer for.
    let yaizu = common::public_router();
    let t = get(&yaizu, "/hazard?lon=139.7671&lat=35.6812", &[])
        .await
        .json();
    assert_eq!(t["covered"], false);
    assert_eq!(t["shelters"].as_array().map(Vec::len), Some(0));
    let station = get(&yaizu, "/hazard?lon=138.3181&lat=34.8659", &[])
        .await
        .json();
    assert_eq!(station["covered"], true);
    let note = station["coverage_note"].as_str().expect("note");
    assert!(note.contains("津波") && note.contains("高潮"), "{note}");
    let text = get(&yaizu, "/hazard?lon=138.3181&lat=34.8659&f=text", &[]).await;
    assert!(String::from_utf8_lossy(&text.body).contains("津波"));
}

#[tokio::test]
async fn a_root_without_web_gets_the_built_in_viewer_titled_for_its_site() {
    let app = state_of(&mihara());
    assert!(!mihara().join("web").exists());
    let r = router(Arc::clone(&app), Listener::Public);
    let page = get(&r, "/", &[("accept", "text/html")]).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("<title>三原市 ハザードマップ"), "{html}");
    let js = get(&r, "/web/app.js", &[("accept-encoding", "gzip")]).await;
    assert_eq!(js.status, 200);
    assert_eq!(js.header("content-encoding"), Some("gzip"));
    let etag = js.header("etag").expect("etag").to_string();
    let again = get(
        &r,
        "/web/app.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    let ml = get(&r, "/web/vendor/maplibre-gl/maplibre-gl.mjs", &[]).await;
    assert_eq!(ml.status, 200, "MapLibre is built in");
    for bad in [
        "/web/../Cargo.toml",
        "/web/.hidden",
        "/web/%2e%2e/Cargo.toml",
        "/web/vendor/../../site.toml",
    ] {
        assert_eq!(get(&r, bad, &[]).await.status, 404, "{bad}");
    }
    // The catalog tells the viewer the site's title, bounds and coverage.
    let cat = get(&r, "/catalog", &[]).await.json();
    assert_eq!(cat["site"]["title"]["ja"], "三原市 ハザードマップ");
    assert!(cat["site"]["bounds"].is_array());
    assert_eq!(cat["site"]["coverage"]["area"]["layer"], "shi_kyoukai");
    // A generated style: every public layer drawn, each with a legend.
    let style = get(&r, "/styles/public.json", &[]).await.json();
    let layers = style["layers"].as_array().expect("layers");
    for id in ["shi_kyoukai", "choume", "hinanjo", "kinkyu_hinan_basho"] {
        let first = layers
            .iter()
            .find(|l| l["source-layer"] == id)
            .unwrap_or_else(|| panic!("{id} drawn"));
        assert!(
            first["metadata"]["chizu:legend"]["items"].is_array(),
            "{id} legend"
        );
    }
    let c = style["center"].as_array().expect("center");
    let (lon, lat) = (c[0].as_f64().expect("lon"), c[1].as_f64().expect("lat"));
    assert!(
        (132.8..133.2).contains(&lon) && (34.3..34.6).contains(&lat),
        "{c:?}"
    );
}

#[test]
fn a_root_web_link_out_of_it_is_not_followed() {
    let dir = root_with(&[]);
    std::fs::create_dir(dir.path().join("web")).expect("mkdir");
    std::fs::write(dir.path().join("keys.toml"), "secret").expect("write");
    std::os::unix::fs::symlink(
        dir.path().join("keys.toml"),
        dir.path().join("web/keys.toml"),
    )
    .expect("link");
    std::fs::write(dir.path().join("web/extra.txt"), "override").expect("write");
    let app = AppState::new(
        chizu::store::Catalog::default(),
        HttpSettings {
            web_root: dir.path().join("web"),
            ..HttpSettings::default()
        },
    );
    let r = router(app, Listener::Public);
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        assert_eq!(get(&r, "/web/keys.toml", &[]).await.status, 404);
        let ok = get(&r, "/web/extra.txt", &[]).await;
        assert_eq!(ok.status, 200);
        assert_eq!(&ok.body[..], b"override");
    });
}

#[tokio::test]
async fn plateau_codes_are_labelled_from_codelists_and_ratios_are_percent() {
    let app = state_of(&plateau());
    assert!(
        walk(&plateau())
            .iter()
            .all(|p| p.extension().is_none_or(|e| e != "gfs")),
        "no .gfs written"
    );
    let cat = app.catalog.load_full();
    let l = cat.get("takeo_youto_chiiki").expect("zoning");
    let code = &l.fields[l.field_index("zone_code").expect("code")];
    assert_eq!(code.values["1"].ja, "第1種低層住居専用地域");
    assert_eq!(code.values["1"].en, "Category 1 low-rise residential");
    let far = l.field_index("floor_area_ratio").expect("far");
    let mut ratios: Vec<String> = l
        .features
        .iter()
        .filter_map(|f| f.values[far].key())
        .collect();
    ratios.sort();
    ratios.dedup();
    assert_eq!(ratios, ["100", "200", "400", "80"], "2 → 200 %");
    // The `where` filter over the same file: what ogrinfo counts.
    let ogr = Command::new("ogrinfo")
        .args([
            "-ro",
            "-so",
            "-oo",
            "WRITE_GFS=NO",
            "-where",
            "function <= 8",
        ])
        .arg(plateau().join("data/takeo-shi/udx/urf/493060_urf_6668_op.gml"))
        .arg("UseDistrict")
        .output()
        .expect("ogrinfo runs");
    let text = String::from_utf8_lossy(&ogr.stdout);
    let n = cat
        .get("takeo_jyuukyo")
        .expect("residential")
        .features
        .len();
    assert!(
        text.contains(&format!("Feature Count: {n}")),
        "{n} vs {text}"
    );
    // Served with labels: identify at a zone's interior gives the codelist's name.
    let r = router(Arc::clone(&app), Listener::Public);
    let kofu = get(
        &r,
        "/collections/kofu_shigaichi_kaihatsu/items?limit=1",
        &[],
    )
    .await
    .json();
    let f = &kofu["features"][0]["properties"];
    let d = f["valid_from"].as_str().expect("date");
    assert!(
        d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-',
        "dates as written: {f}"
    );
    let style = get(&r, "/styles/public.json", &[]).await.json();
    let zoning = find(&style["layers"], "source-layer", "takeo_youto_chiiki");
    let legend: Vec<&str> = zoning["metadata"]["chizu:legend"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["label"]["ja"].as_str())
        .collect();
    assert!(
        legend.contains(&"第一種低層住居専用地域") && legend.contains(&"商業地域"),
        "zoning colours by national code: {legend:?}"
    );
    assert_eq!(zoning["paint"]["fill-color"][0], "match");
}

#[test]
fn list_fields_are_json_and_times_keep_their_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("layers")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::write(
        dir.path().join("data/stations.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"name":"駅前","lines":["駅","JR"],"ids":[3,5],"seen":"2024-04-01T10:00:00","stamped":"2024-04-01T10:00:00+09:00","day":"2024-04-01"},"geometry":{"type":"Point","coordinates":[133.08,34.40]}},
{"type":"Feature","properties":{"name":"港","lines":["港"],"ids":[7],"seen":"2024-04-02T08:30:00","stamped":"2024-04-02T08:30:00+09:00","day":"2024-04-02"},"geometry":{"type":"Point","coordinates":[133.09,34.39]}}]}"#,
    )
    .expect("write");
    std::fs::write(
        dir.path().join("layers/stations.toml"),
        "title = { ja = \"駅\", en = \"Stations\" }\ncategory = \"kihon\"\ngeometry = \"point\"\naccess = { view = \"public\" }\n[[source]]\npath = \"data/stations.geojson\"\n",
    )
    .expect("write");
    let loaded = chizu::load_root(dir.path(), 1);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let l = loaded.catalog.get("stations").expect("layer");
    let v = |f: &str| {
        l.features
            .iter()
            .map(|x| {
                x.values[l.field_index(f).expect(f)]
                    .key()
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
    };
    let lines = v("lines");
    assert!(lines.contains(&r#"["駅","JR"]"#.to_string()), "{lines:?}");
    assert!(v("ids").contains(&"[3,5]".to_string()), "{:?}", v("ids"));
    let seen = v("seen");
    assert!(
        seen.contains(&"2024-04-01T10:00:00".to_string()),
        "naive stays naive: {seen:?}"
    );
    assert!(
        v("stamped").contains(&"2024-04-01T10:00:00+09:00".to_string()),
        "{:?}",
        v("stamped")
    );
    assert!(
        v("day").contains(&"2024-04-01".to_string()),
        "{:?}",
        v("day")
    );
}

#[test]
fn check_fails_when_the_geometry_kind_matches_nothing() {
    let dir = root_with(&[(
        "wrong_kind.toml",
        &format!("title = {{ ja = \"警戒区域\", en = \"Zones\" }}\n{HEAD}geometry = \"line\"\n[[source]]\npath = \"data/yaizu/土砂災害警戒区域/土砂災害警戒区域.shp\"\n"),
    )]);
    let (ok, text) = run(&["check"], dir.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("none kept") && text.contains("geometry = \"line\""),
        "{text}"
    );
    assert!(text.contains("102 features read"), "{text}");
}

#[test]
fn check_warns_of_leftovers_and_strict_makes_them_fail() {
    let keys = tempfile::tempdir().expect("tempdir");
    let kf = keys.path().join("keys.toml");
    chizu::access::keys::add(&kf, "road", &["doro-kanri".to_string()]).expect("key");
    let dir = root_with(&[
        (
            "typo.toml",
            "title = { ja = \"交差点\", en = \"Crossings\" }\ncategory = \"douro\"\ngeometry = \"polygon\"\naccess = { view = \"internal\", roles = [\"doro-kanr\"] }\n[[source]]\npath = \"data/yaizu/交差点/交差点.shp\"\n",
        ),
        (
            "labels.toml",
            &format!("title = {{ ja = \"用途地域\", en = \"Zoning\" }}\n{HEAD}geometry = \"polygon\"\n[[source]]\npath = \"data/yaizu/都市計画図_第一種住居地域/第一種住居地域.shp\"\n[[field]]\nsource = \"SAFIELD000\"\nvalues = {{ \"第1種住居地域\" = {{ ja = \"第1種住居地域\", en = \"R1\" }} }}\n"),
        ),
    ]);
    let out = chizu()
        .args(["check", "--keys"])
        .arg(&kf)
        .arg("--root")
        .arg(dir.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings alone pass: {text}");
    assert!(
        text.contains("role `doro-kanr` is held by no key") && text.contains("doro-kanri"),
        "{text}"
    );
    assert!(
        text.contains("none of its 1 `values` codes occurs in the data")
            && text.contains("第一種住居地域"),
        "{text}"
    );
    let strict = chizu()
        .args(["check", "--strict", "--keys"])
        .arg(&kf)
        .arg("--root")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!strict.status.success(), "--strict fails on warnings");
}

#[test]
fn init_then_inspect_a_folder_gives_unique_starting_files_that_check_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("city");
    let out = chizu().arg("init").arg(&root).output().expect("runs");
    assert!(out.status.success());
    assert!(
        root.join("site.toml").is_file()
            && root.join("layers").is_dir()
            && root.join("data").is_dir()
    );
    chizu::config::Site::load(&root).expect("the starter site.toml parses");
    let (ok, text) = run(&["check"], &root);
    assert!(ok && text.contains("no layers"), "{text}");
    // Two GML files of several feature types each, plus a shapefile.
    let data = root.join("data");
    for f in [
        "takeo-shi/udx/urf/493060_urf_6668_op.gml",
        "kofu-shi/udx/urf/533834_urf_6668_sigaidev_op.gml",
    ] {
        let to = data.join(Path::new(f).file_name().expect("name"));
        std::fs::copy(plateau().join("data").join(f), to).expect("copy");
    }
    let shp = common::root().join("data/yaizu/土砂災害警戒区域");
    std::fs::create_dir(data.join("dosha")).expect("mkdir");
    for e in std::fs::read_dir(&shp).expect("dir").flatten() {
        std::fs::copy(e.path(), data.join("dosha").join(e.file_name())).expect("copy");
    }
    let out = chizu()
        .arg("inspect")
        .arg(&data)
        .arg("--root")
        .arg(&root)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let files: Vec<PathBuf> = walk(&root.join("layers"));
    // 7 feature types in the 武雄 file, 1 in 甲府's, 1 shapefile.
    assert_eq!(files.len(), 9, "{text}");
    let takeo = std::fs::read_to_string(root.join("layers/493060_urf_6668_op_usedistrict.toml"))
        .expect("named by file and layer");
    assert!(takeo.contains("layer = \"UseDistrict\""), "{takeo}");
    assert!(
        !walk(&data)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "gfs")),
        "no .gfs"
    );
    // The unedited files load, and check says what is left to do.
    let (ok, text) = run(&["check"], &root);
    assert!(ok, "{text}");
    assert!(
        text.contains("TODO English title") && text.contains("access.roles = []"),
        "{text}"
    );
    let (strict, _) = run(&["check", "--strict"], &root);
    assert!(!strict);
    // Running it again writes new ids, never over the first files.
    let again = chizu()
        .arg("inspect")
        .arg(&data)
        .arg("--root")
        .arg(&root)
        .output()
        .expect("runs");
    assert!(again.status.success());
    assert_eq!(walk(&root.join("layers")).len(), 18);
}

#[test]
fn check_names_the_first_feature_ids_per_reason_and_counts_trims_apart() {
    let dir = root_with(&[]);
    std::fs::create_dir(dir.path().join("own")).expect("mkdir");
    std::fs::write(
        dir.path().join("own/points.csv"),
        "名称,緯度,経度\nA,34.40,133.08\nB,,\nC,34.41,133.09\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("layers/points.toml"),
        format!("title = {{ ja = \"点\", en = \"Points\" }}\n{HEAD}geometry = \"point\"\n[[source]]\npath = \"own/points.csv\"\n"),
    )
    .expect("write");
    let (ok, text) = run(&["check"], dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("dropped 1: empty geometry (FID 2)"), "{text}");
    assert!(text.contains("0 repaired, 0 trimmed, 1 dropped"), "{text}");
}

#[tokio::test]
async fn short_lines_dropped_for_size_are_said_per_zoom() {
    let app = common::state();
    let cat = app.catalog.load_full();
    let l = cat.get("gyousei_kuikikai").expect("boundary lines");
    let zooms = l.size_rules.zooms(true, 0, 22);
    let z14 = zooms.iter().find(|z| z.zoom == 14).expect("z14 counted");
    assert!(z14.lines_dropped > 0, "{z14:?}");
    let z8 = zooms.iter().find(|z| z.zoom == 8).expect("z8 counted");
    assert!(
        z8.lines_dropped > z14.lines_dropped,
        "fewer are too small at higher zooms"
    );
    let tj = get(
        &common::public_router(),
        "/tiles/gyousei_kuikikai.json",
        &[],
    )
    .await
    .json();
    let rules = tj["vector_layers"][0]["chizu:size_rules"]
        .as_array()
        .expect("rules");
    assert!(
        rules
            .iter()
            .any(|z| z["zoom"] == 14 && z["lines_dropped"] == z14.lines_dropped),
        "{rules:?}"
    );
    let cat = get(&common::public_router(), "/catalog", &[]).await.json();
    let entry = find(&cat["layers"], "id", "gyousei_kuikikai");
    assert!(!entry["size_rules"].as_array().expect("rules").is_empty());
    let (_, text) = run(&["check"], &common::root());
    assert!(text.contains("lines not drawn"), "{text}");
}

#[test]
fn gdal_side_files_change_no_fingerprint() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("layers")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::copy(
        plateau().join("data/sendai-shi/udx/urf/574026_urf_6668_huchi_op.gml"),
        dir.path().join("data/a.gml"),
    )
    .expect("copy");
    let def = chizu::config::LayerDef::from_toml(
        &dir.path().join("layers/a.toml"),
        "title = { ja = \"a\", en = \"a\" }\ncategory = \"kihon\"\ngeometry = \"polygon\"\naccess = { view = \"public\" }\n[[source]]\npath = \"data/a.gml\"\n",
    )
    .expect("def");
    let before = chizu::reload::fingerprint(dir.path(), &def);
    std::fs::write(dir.path().join("data/a.gfs"), "<GMLFeatureClassList/>").expect("write");
    std::fs::write(dir.path().join("data/a.gml.aux.xml"), "<x/>").expect("write");
    assert_eq!(chizu::reload::fingerprint(dir.path(), &def), before);
    assert!(chizu::ingest::is_side_file(Path::new("x/a.gfs")));
    assert!(!chizu::ingest::is_side_file(Path::new("x/a.dbf")));
}

/// `scripts/add-readings.py`, given Japan Post's `KEN_ALL.CSV` as published (Shift_JIS,
/// half-width kana, notes in brackets): a name is read as its 町域 plus its 丁目, and a name
/// the postal data does not hold is left blank and named, not guessed.
#[test]
fn add_readings_reads_names_from_postal_data_and_guesses_none() {
    let dir = tempfile::tempdir().expect("tmp");
    let ken_all = dir.path().join("KEN_ALL.CSV");
    let rows = [
        [
            "ｼｽﾞｵｶｹﾝ",
            "ﾔｲﾂﾞｼ",
            "ｲｶﾆｹｲｻｲｶﾞﾅｲﾊﾞｱｲ",
            "静岡県",
            "焼津市",
            "以下に掲載がない場合",
        ],
        ["ｼｽﾞｵｶｹﾝ", "ﾔｲﾂﾞｼ", "ﾎﾝﾏﾁ", "静岡県", "焼津市", "本町"],
        [
            "ｼｽﾞｵｶｹﾝ",
            "ﾔｲﾂﾞｼ",
            "ｴｷｷﾀ(ﾁｮｳﾒ)",
            "静岡県",
            "焼津市",
            "駅北（丁目）",
        ],
        ["ｼｽﾞｵｶｹﾝ", "ﾔｲﾂﾞｼ", "ｵｵ", "静岡県", "焼津市", "大"],
        ["ｼｽﾞｵｶｹﾝ", "ﾌｼﾞｴﾀﾞｼ", "ﾎﾝﾏﾁ", "静岡県", "藤枝市", "本町"],
    ];
    let mut text = String::new();
    for r in rows {
        let quoted: Vec<String> = r.iter().map(|v| format!("\"{v}\"")).collect();
        text += "22212,\"425  \",\"4250000\",";
        text += &quoted.join(",");
        text += ",0,0,0,0,0,0\r\n";
    }
    let utf8 = dir.path().join("ken_all_utf8.csv");
    std::fs::write(&utf8, text).expect("write");
    // In Shift_JIS, as Japan Post publishes it.
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys; open(sys.argv[2], 'wb').write(open(sys.argv[1], encoding='utf-8').read().encode('cp932'))",
        ])
        .arg(&utf8)
        .arg(&ken_all)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let csv = dir.path().join("towns.csv");
    std::fs::write(
        &csv,
        "町丁目,小字,緯度,経度\n本町,,34.86,138.32\n駅北十二丁目,,34.87,138.31\n大井川,,34.8,138.3\n",
    )
    .expect("write");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/add-readings.py"))
        .arg(&csv)
        .args(["静岡県", "焼津市", "--ken-all"])
        .arg(&ken_all)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        std::fs::read_to_string(&csv).expect("read"),
        "町丁目,読み,小字,緯度,経度\n本町,ホンマチ,,34.86,138.32\n駅北十二丁目,エキキタ ジュウニチョウメ,,34.87,138.31\n大井川,,,34.8,138.3\n"
    );
    assert!(
        said.contains("2 of 3 names read") && said.contains("no reading: 大井川"),
        "{said}"
    );
}
