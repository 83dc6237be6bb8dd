//! The resident's report as issue 12 asks for it: shelters ordered by the hazards found
//! (the first one opens for all of them), tsunami-only buildings marked, direction and
//! distance in words, the evacuation hint, search in natural order with places first, and
//! the search form answered without JavaScript.

use crate::common::{get, public_router};

/// A point in the 大井川 家屋倒壊等氾濫想定区域 where the nearest shelter may not open.
const HOUSE_COLLAPSE: (f64, f64) = (138.256, 34.789);

#[tokio::test]
async fn the_first_shelter_opens_for_every_hazard_found() {
    let r = public_router();
    let (lon, lat) = HOUSE_COLLAPSE;
    let rep = get(&r, &format!("/hazard?lon={lon}&lat={lat}"), &[])
        .await
        .json();
    assert!(
        rep["hazards"]
            .as_array()
            .expect("list")
            .iter()
            .any(|h| h["kind"] == "house_collapse"),
        "{rep}"
    );
    let first = &rep["shelters"][0];
    assert_eq!(first["opens_for_found"], true, "{rep}");
    let g = first["guidance"].as_str().expect("guidance");
    assert!(g.contains("へ約") && g.ends_with("（直線距離）"), "{g}");
    assert!(
        rep["hint"].as_str().expect("hint").contains("警戒レベル"),
        "{rep}"
    );
    let en = get(&r, &format!("/hazard?lon={lon}&lat={lat}&lang=en"), &[])
        .await
        .json();
    let g = en["shelters"][0]["guidance"].as_str().expect("guidance");
    assert!(
        g.starts_with("about ") && g.ends_with("(straight line)"),
        "{g}"
    );
}

#[tokio::test]
async fn over_a_grid_no_unsuitable_shelter_comes_before_a_suitable_one() {
    let r = public_router();
    let (mut in_hazard, mut tsunami_only) = (0, 0);
    for i in 0..15 {
        for j in 0..15 {
            let lon = 138.24 + 0.1 * f64::from(i) / 14.0;
            let lat = 34.78 + 0.12 * f64::from(j) / 14.0;
            let rep = get(
                &r,
                &format!("/hazard?lon={lon:.5}&lat={lat:.5}&shelters=10"),
                &[],
            )
            .await
            .json();
            if rep["hazards"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            in_hazard += 1;
            let list = rep["shelters"].as_array().expect("shelters");
            let rank = |s: &serde_json::Value| match s["opens_for_found"].as_bool() {
                Some(true) => 0,
                None => 1,
                Some(false) => 2,
            };
            let ranks: Vec<i32> = list.iter().map(rank).collect();
            assert!(
                ranks.windows(2).all(|w| w[0] <= w[1]),
                "{lon},{lat}: {ranks:?}"
            );
            for s in list {
                if s["layer"] == "tsunami_hinan_biru" {
                    tsunami_only += 1;
                    let found: Vec<&str> = rep["hazards"]
                        .as_array()
                        .expect("h")
                        .iter()
                        .filter_map(|h| h["kind"].as_str())
                        .collect();
                    if !found.contains(&"tsunami") {
                        assert_eq!(s["opens_for_found"], false, "{s}");
                        assert!(
                            s["caution"].as_str().expect("caution").contains("津波"),
                            "{s}"
                        );
                    }
                }
            }
        }
    }
    assert!(in_hazard > 30, "{in_hazard} grid points in a hazard area");
    assert!(tsunami_only > 0, "tsunami buildings were listed somewhere");
}

#[tokio::test]
async fn search_lists_places_first_in_natural_order_and_works_without_javascript() {
    let r = public_router();
    let s = get(&r, "/search?q=本町&limit=20", &[]).await.json();
    let names: Vec<&str> = s["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    let choume: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("本町") && n.ends_with("丁目"))
        .collect();
    assert_eq!(
        &choume[..3],
        ["本町一丁目", "本町二丁目", "本町三丁目"],
        "{names:?}"
    );
    let page = get(&r, "/?q=%E6%9C%AC%E7%94%BA", &[("accept", "text/html")]).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("本町一丁目") && html.contains("/hazard?lon="),
        "{html}"
    );
    let none = get(
        &r,
        "/?q=%E5%AD%98%E5%9C%A8%E3%81%97%E3%81%AA%E3%81%84",
        &[("accept", "text/html")],
    )
    .await;
    assert!(String::from_utf8_lossy(&none.body).contains("見つかりませんでした"));
}

#[tokio::test]
async fn json_answers_are_compressed_when_the_client_accepts_it() {
    let r = public_router();
    for (enc, want) in [("br", "br"), ("gzip", "gzip"), ("gzip, br", "br")] {
        let c = get(&r, "/catalog", &[("accept-encoding", enc)]).await;
        assert_eq!(c.header("content-encoding"), Some(want), "{enc}");
    }
    let plain = get(&r, "/catalog", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.json()["layers"].is_array());
    // A tile is compressed once, ahead: passed through as gzip, not compressed again.
    let (t, _) = crate::common::tile_of(138.2806, 34.8775, 14);
    let tile = get(
        &r,
        &format!("/tiles/kouzui_shinsui/{}/{}/{}.mvt", t.z(), t.x(), t.y()),
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(tile.header("content-encoding"), Some("gzip"));
}
